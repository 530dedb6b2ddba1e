/*
 * Banned client addresses, shared by every process of smtpauthd.
 *
 * The parent maps the table (shared, anonymous) before it forks, so it
 * outlives a restarted auth process.  Only the auth process writes; the
 * workers read it when they accept a connection.  Entries carry a
 * sequence number so that a reader never trusts a half-written entry.
 */
#ifndef SMTPAUTHD_BANLIST_H
#define SMTPAUTHD_BANLIST_H

#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

#define BANLIST_SIZE	4096	/* addresses banned at once, at most */

int	banlist_init(void);				/* parent */
/* Ban until (CLOCK_REALTIME seconds); 0 or -1 when the table is full. */
int	banlist_add(const struct sockaddr *, time_t until);	/* auth */
void	banlist_remove(const struct sockaddr *);		/* auth */
/* Is the address banned now?  Its end in *until when not NULL. */
int	banlist_check(const struct sockaddr *, time_t *until);	/* worker */
/* Call cb for each entry whose ban has ended, and remove it. */
void	banlist_expire(void (*cb)(const struct sockaddr *));	/* auth */

/*
 * The key an address is banned under, in 16 octets: an IPv4 address (also
 * when IPv4-mapped) as ::ffff:a.b.c.d, an IPv6 address by its /64 prefix
 * (the rest zero).  0, or -1 for another family.  The auth process keys
 * its failure ledger the same way.
 */
int	banlist_key(const struct sockaddr *, uint8_t key[16]);

#endif
