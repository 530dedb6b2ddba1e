/*
 * The parent process: binds, forks, restarts, reloads, stops.
 */
#ifndef SMTPAUTHD_PARENT_H
#define SMTPAUTHD_PARENT_H

#include "server/shared/config.h"
#include "server/shared/users.h"

/*
 * Runs until SIGTERM/SIGINT; returns the exit status.  users_text is the
 * users file as parent_load_users() read it (taken over and wiped).
 */
int	parent_main(const char *conffile, struct config *, struct userset *,
	    char *users_text, size_t users_len);

struct tls_ctx;
struct tls_ticket_keys;

/*
 * The server TLS context of a config (NULL and 0 when it has no
 * certificate); -1 with err set when a certificate or key is bad.
 */
int	parent_load_tls(const struct config *, struct tls_ticket_keys *,
	    struct tls_ctx **, char *err, size_t errlen);

/*
 * Read the users file named by the config (empty when none): its addresses
 * into the set, its whole text (for the auth process) into *text.  strict:
 * a bad line is an error (for -n).
 */
int	parent_load_users(const struct config *, struct userset *,
	    char **text, size_t *len, int strict);

/*
 * The first line of a small secret file (ldap-bind-password-file), read
 * as the caller is (root, before a child drops privileges): a new NUL-
 * terminated string to wipe before free, or NULL with "FILE: reason" in
 * err.  An empty secret is an error.
 */
char	*parent_read_secret(const char *path, char *err, size_t errlen);

#endif
