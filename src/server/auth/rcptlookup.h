/*
 * Recipient lookups of the auth process (AUTH_MSG_RCPT): is an address of
 * local-domains an account of the store?  The backend's lookup() answers;
 * the answers, positive and negative, are kept for recipient-cache-ttl in
 * a bounded table.  Temporary failures are never kept.  A lookup is not a
 * login: nothing here touches the guard.
 */
#ifndef SMTPAUTHD_RCPTLOOKUP_H
#define SMTPAUTHD_RCPTLOOKUP_H

#include <stddef.h>

#include "server/auth/backend.h"
#include "server/shared/config.h"

/* done: result, and whether the answer came from the cache. */
typedef void	(*rcptlookup_done)(void *arg, enum auth_result, int cached);

/* be: the running backend (its lookup may be NULL: every answer is no). */
void	rcptlookup_init(const struct config *, const struct backend_ops *);

/*
 * Look addr (lower case, len octets) up; done is called exactly once,
 * at once for a cached answer or a refusal (busy, no store), else later
 * from the loop.
 */
void	rcptlookup_ask(const char *addr, size_t len, rcptlookup_done,
	    void *arg);

/* Lookups waiting for the store. */
unsigned rcptlookup_pending(void);

#endif
