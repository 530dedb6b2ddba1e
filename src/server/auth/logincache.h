/*
 * The login cache of the auth process (auth-cache-ttl): recent successful
 * logins, kept only as HMAC-SHA256(key, account NUL password) under a
 * random key made at start that never leaves this process's memory.
 */
#ifndef SMTPAUTHD_LOGINCACHE_H
#define SMTPAUTHD_LOGINCACHE_H

#include <stddef.h>
#include <stdint.h>

#define LOGINCACHE_MAC_LEN	32	/* HMAC-SHA256 */

/* ttl seconds; 0: no cache (every call below then does nothing). */
void	logincache_init(unsigned ttl);
int	logincache_enabled(void);

/* The keyed hash of (account, password); 0, or -1 (too long, no cache). */
int	logincache_mac(const char *account, const char *pass, size_t passlen,
	    uint8_t mac[LOGINCACHE_MAC_LEN]);

/* Was mac a success within the TTL?  1 or 0; costs the same either way. */
int	logincache_lookup(const uint8_t mac[LOGINCACHE_MAC_LEN]);

/* Remember a success for the TTL from now. */
void	logincache_insert(const uint8_t mac[LOGINCACHE_MAC_LEN]);

/* Wipe the entries and the key (at exit). */
void	logincache_wipe(void);

#endif
