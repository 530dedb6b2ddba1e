/*
 * Dovecot's userdb over the auth-master protocol (dovecot-userdb: the
 * auth-userdb socket), for the recipients of local-domains: "USER id
 * address service=smtp", answered USER (an account), NOTFOUND or FAIL.
 * Part of the Dovecot backend; on the auth process's event loop.
 */
#ifndef SMTPAUTHD_DOVECOT_USERDB_H
#define SMTPAUTHD_DOVECOT_USERDB_H

#include <stddef.h>

#include "server/auth/backend.h"

struct event_base;

/* At start, with conf->dovecot_userdb set; fatal on a broken one. */
void	dvu_init(const struct config *, struct event_base *);
/* backend_ops.lookup for the Dovecot backend. */
int	dvu_lookup(const char *addr, size_t len, backend_done, void *arg,
	    const char **reason);
/* At exit: what waits is answered AUTH_TEMPFAIL. */
void	dvu_stop(void);

#endif
