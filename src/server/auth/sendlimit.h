/*
 * Sending limits of the auth process (send-limit, send-limit-recipients):
 * the counters behind AUTH_MSG_LIMIT.  With guard-store they are the
 * store's, shared by every node (a Lua script counts atomically); without
 * it, or while the store is down, this node's own.
 */
#ifndef SMTPAUTHD_SENDLIMIT_H
#define SMTPAUTHD_SENDLIMIT_H

#include "server/shared/authproto.h"
#include "server/shared/config.h"

typedef void (*sendlimit_cb)(void *arg, const struct limit_answer *);

/* Make the local counters; exits on no memory.  conf must outlive us. */
void	sendlimit_init(const struct config *);
/*
 * May req->account send req->count more now?  If so, it is counted.  cb
 * is called exactly once: at once (local counters) or later, on the loop
 * (the store's answer; the local counters if the store fails meanwhile).
 */
void	sendlimit_check(const struct limit_request *, sendlimit_cb, void *);
/* Once a second: forget counters whose window ended. */
void	sendlimit_tick(void);

#endif
