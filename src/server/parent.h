/*
 * The parent process: binds, forks, restarts, reloads, stops.
 */
#ifndef SMTPAUTHD_PARENT_H
#define SMTPAUTHD_PARENT_H

#include "server/config.h"
#include "server/users.h"

/* Runs until SIGTERM/SIGINT; returns the exit status. */
int	parent_main(const char *conffile, struct config *, struct userset *);

struct tls_ctx;
struct tls_ticket_keys;

/*
 * The server TLS context of a config (NULL and 0 when it has no
 * certificate); -1 with err set when a certificate or key is bad.
 */
int	parent_load_tls(const struct config *, struct tls_ticket_keys *,
	    struct tls_ctx **, char *err, size_t errlen);

/* Load the users file named by the config (empty set when none). */
int	parent_load_users(const struct config *, struct userset *, int strict);

#endif
