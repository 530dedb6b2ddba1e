/*
 * The worker's side of the auth protocol: asks the auth process over its
 * unix socket and calls back on the worker's event loop.
 */
#ifndef SMTPAUTHD_AUTHCLIENT_H
#define SMTPAUTHD_AUTHCLIENT_H

#include <stdint.h>

#include "server/shared/authproto.h"

struct event_base;
struct authclient;

typedef void (*authclient_cb)(void *arg, const struct auth_answer *);
typedef void (*authclient_limit_cb)(void *arg, const struct limit_answer *);
typedef void (*authclient_sasl_cb)(void *arg,
		    const struct auth_sasl_answer *);

/*
 * sockpath: the auth process's socket.  Connects lazily and again after a
 * failure.  While the auth process cannot be reached (it is starting or
 * being restarted), a request waits up to 3 seconds while the client
 * connects again every 100 ms, then gets AUTH_TEMPFAIL.  A request not
 * answered within timeout_ms gets AUTH_TEMPFAIL too.
 */
struct authclient *authclient_new(struct event_base *, const char *sockpath,
		    unsigned timeout_ms);
void		   authclient_free(struct authclient *);

/*
 * Ask.  The password in req is wiped by this call.  cb is called exactly
 * once, later, on the loop (never from inside authclient_verify), unless
 * the request is cancelled first.  Returns a handle (never 0).
 */
uint32_t	   authclient_verify(struct authclient *, struct auth_request *,
		    authclient_cb cb, void *arg);
/*
 * One step of a SASL exchange (AUTH_MSG_SASL), the same way: req's data
 * is wiped; a temporary failure of ours is an AUTH_TEMPFAIL answer.
 */
uint32_t	   authclient_sasl(struct authclient *,
		    struct auth_sasl_request *, authclient_sasl_cb cb,
		    void *arg);
/*
 * The mechanisms the auth process runs, as it last said (it says so when
 * we connect, and when they change); NULL before it ever did.  The
 * client connects at once and, until it has heard them, again every
 * second.
 */
const struct auth_mechs *authclient_mechs(const struct authclient *);
/* The session went away: cb will not be called. */
void		   authclient_cancel(struct authclient *, uint32_t handle);

/*
 * May the account send req->count more messages or recipients now (and
 * count them)?  The same rules as authclient_verify(): cb exactly once,
 * later, AUTH_TEMPFAIL when the auth process cannot say.
 */
uint32_t	   authclient_limit(struct authclient *,
		    const struct limit_request *, authclient_limit_cb cb,
		    void *arg);

/*
 * Is this recipient of local-domains an account of the store
 * (AUTH_MSG_RCPT)?  The same rules again: cb exactly once, later;
 * AUTH_OK yes, AUTH_FAIL no, AUTH_TEMPFAIL the store or the auth process
 * cannot say.
 */
uint32_t	   authclient_rcpt(struct authclient *,
		    const struct rcpt_request *, authclient_cb cb, void *arg);

#endif
