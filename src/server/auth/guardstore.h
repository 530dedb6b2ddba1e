/*
 * The shared guard store (guard-store): Redis or Valkey, plain or over
 * TLS (redisconn.h), on the auth process's event loop.  It never blocks and never
 * makes an answer wait: the guard counts locally and answers; the store
 * is told afterwards, counts for all nodes atomically (a Lua script) and
 * announces a ban over pub/sub, which every node's auth process (this one
 * too) writes into its own ban table.  While the store is unreachable the
 * local guard works alone and the store is retried with a backoff.
 */
#ifndef SMTPAUTHD_GUARDSTORE_H
#define SMTPAUTHD_GUARDSTORE_H

#include <time.h>

#include "server/shared/banlist.h"
#include "server/shared/config.h"

struct event_base;

struct guardstore_ops {
	/* A ban from the store (any node's, ours too): apply it. */
	void	(*ban)(const struct banlist_key *, time_t until);
	/* Just connected: push our bans (guardstore_push_ban()). */
	void	(*resync)(void);
	/* The store's count of an account's failures, all nodes'. */
	void	(*account)(const char *account, unsigned failures);
	/* A ban lifted on some node (smtpauthctl unban): lift it here. */
	void	(*unban)(const struct banlist_key *);
};

/* Connect to conf->guard_store (set) on base; retries on its own. */
void	guardstore_start(struct event_base *, const struct config *,
	    const struct guardstore_ops *);
/* Is the store connected and ready? */
int	guardstore_up(void);
/*
 * A failed login of account (NUL-terminated) from key (NULL: not counted
 * per address, auth-exempt); a ban, when the store's count reaches
 * auth-max-failures, ends at until.
 */
void	guardstore_fail(const char *account, const struct banlist_key *,
	    time_t until);
/* Make a ban known to every node (unless the store has a longer one). */
void	guardstore_push_ban(const struct banlist_key *, time_t until);
/* Lift a ban in the store, and through it on every node. */
void	guardstore_unban(const struct banlist_key *);
/*
 * Sending limits: may account send count more of kind ("msg", "rcpt")
 * within a window of secs that allows max?  Counted if so.  Returns -1
 * when the store is not up (nothing sent, cb not called); else cb is
 * called exactly once, later: verdict 1 (counted), 0 (over the limit,
 * retry: seconds left in the window) or -1 (no answer from the store).
 */
typedef void (*guardstore_limit_cb)(void *arg, int verdict, unsigned retry);
int	guardstore_limit(const char *kind, const char *account,
	    unsigned count, unsigned max, unsigned secs, guardstore_limit_cb,
	    void *arg);
/* Close the connections (at exit). */
void	guardstore_stop(void);

#endif
