/*
 * The login cache of the auth process (auth-cache-ttl): recent successful
 * logins, kept only as HMAC-SHA256(key, account NUL tag password) under a
 * random key made by the first auth process, kept in the auth state
 * region (authstate.h) so that a reload keeps the cache; it never leaves
 * the auth processes' memory.
 */
#ifndef SMTPAUTHD_LOGINCACHE_H
#define SMTPAUTHD_LOGINCACHE_H

#include <stddef.h>
#include <stdint.h>

#define LOGINCACHE_MAC_LEN	32	/* HMAC-SHA256 */

/* ttl seconds; 0: no cache (every call below then does nothing). */
void	logincache_init(unsigned ttl);
int	logincache_enabled(void);

/*
 * What the backend holds for the account (backend.h, cache_tag): a
 * digest, part of the keyed hash, so that a changed password line or
 * backend never meets an entry made before.
 */
#define LOGINCACHE_TAG_LEN	32

/*
 * The keyed hash of (account, tag, password); 0, or -1 (too long, no
 * cache).
 */
int	logincache_mac(const char *account, const uint8_t tag[LOGINCACHE_TAG_LEN],
	    const char *pass, size_t passlen, uint8_t mac[LOGINCACHE_MAC_LEN]);

/* Was mac a success within the TTL?  1 or 0; costs the same either way. */
int	logincache_lookup(const uint8_t mac[LOGINCACHE_MAC_LEN]);

/* Remember a success for the TTL from now. */
void	logincache_insert(const uint8_t mac[LOGINCACHE_MAC_LEN]);

/* At exit: wipe what is ours alone (the region's is the next one's). */
void	logincache_wipe(void);

#endif
