/*
 * What the auth process keeps across its own restarts (a reload, a crash):
 * the failure ledgers of the guard and the login cache, in one shared
 * memory region that the parent maps before it forks anything, so that
 * every auth process it starts inherits it at the same address (the
 * ledgers' pointers stay valid).  No other process keeps it: workers,
 * queue and metrics unmap it first thing, and the parent never reads it.
 * The bans live in the ban list (banlist.h), the parent's too.
 *
 * During a reload the old auth process finishes its last verifications
 * while the new one serves: both write the region, under one
 * process-shared mutex (robust: a process that dies holding it does not
 * wedge the next one).  Without the region (unit tests, tools) every call
 * falls back to the process's own memory.
 */
#ifndef SMTPAUTHD_AUTHSTATE_H
#define SMTPAUTHD_AUTHSTATE_H

#include <stddef.h>

enum authstate_root {
	AUTHSTATE_LEDGER_ADDRS,
	AUTHSTATE_LEDGER_ACCOUNTS,
	AUTHSTATE_LOGINCACHE,
	AUTHSTATE_ROOTS
};

/* Parent, once, before the first fork.  0, or -1 with errno set. */
int	authstate_init(void);
/* Any child but the auth process, right after the fork. */
void	authstate_detach(void);
/* Parent, at exit: wipe the region (the cache's key and entries). */
void	authstate_wipe(void);

/* Is there a region (we run under the parent)? */
int	authstate_shared(void);
/*
 * Memory from the region, zeroed, never given back (the ledgers and the
 * cache are made once, by the first auth process, and reused by the
 * next); NULL when there is no region or it is full.  Under the lock.
 */
void	*authstate_alloc(size_t);
/* The root slot of a structure kept in the region (NULL: not made yet). */
void	**authstate_root(enum authstate_root);

/* Around every read or write of the region's structures. */
void	authstate_lock(void);
void	authstate_unlock(void);

#endif
