/*
 * The guard of the auth process: what it does about failed logins.  Two
 * failure ledgers over auth-window, one per client address (keyed like
 * the ban list: IPv4, or the ban-ipv6-prefix of IPv6), one per account
 * (from any address), and the bans it writes into the shared ban list.
 * It decides nothing about a password: it is told of each failure.
 */
#ifndef SMTPAUTHD_GUARD_H
#define SMTPAUTHD_GUARD_H

#include <sys/socket.h>
#include <stdint.h>

#include "server/shared/config.h"

struct event_base;

/*
 * Make the ledgers and restore the bans kept in the spool; exits on no
 * memory.  conf must outlive the guard.
 */
void		guard_init(const struct config *);
/* On the loop: the state file's writer and the guard-store, if any. */
void		guard_start(struct event_base *);
/* At exit: close the store, write the bans if they changed. */
void		guard_stop(void);

/* Is sa banned now (and not in auth-exempt)?  1 or 0. */
int		guard_refuses(const struct sockaddr *sa);

/*
 * Count a failed login of account from sa: the account's recent failures
 * slow its answer, and too many from one address (not in auth-exempt) ban
 * that address.  Returns the delay of this failure's answer in ms (the
 * auth-failure-delay and the account's slowdown); *banned is set when sa
 * is banned once counted.
 */
uint32_t	guard_record_failure(const char *account,
		    const struct sockaddr *sa, int *banned);

/* smtpauthctl unban: lift the bans covering sa (and forget its failures).
 * Returns how many were lifted, at most 255. */
int		guard_unban(const struct sockaddr *sa, unsigned plen);

/* Once a second: forget old failures, lift bans that ended (logged). */
void		guard_tick(void);

#endif
