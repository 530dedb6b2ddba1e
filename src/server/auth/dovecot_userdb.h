/*
 * Dovecot's userdb over the auth-master protocol (dovecot-userdb: the
 * auth-userdb socket), for the recipients of local-domains: "USER id
 * address service=smtp", answered USER (an account), NOTFOUND or FAIL.
 * Part of the Dovecot backend; on the auth process's event loop.
 */
#ifndef SMTPAUTHD_DOVECOT_USERDB_H
#define SMTPAUTHD_DOVECOT_USERDB_H

#include <sys/socket.h>
#include <stddef.h>

#include "server/auth/backend.h"

struct event_base;

/*
 * spec: "unix:PATH" or "inet:HOST:PORT" (a name resolved now, once) into
 * *ss.  0, or -1 (the reason in err).
 */
int	dovecot_sockaddr(const char *spec, struct sockaddr_storage *ss,
	    socklen_t *sslen, char *err, size_t errlen);

/* At start, with conf->dovecot_userdb set; fatal on a broken one. */
void	dvu_init(const struct config *, struct event_base *);
/* backend_ops.lookup for the Dovecot backend. */
int	dvu_lookup(const char *addr, size_t len, backend_done, void *arg,
	    const char **reason);
/* At exit: what waits is answered AUTH_TEMPFAIL. */
void	dvu_stop(void);

#endif
