/*
 * The auth process: the only process that holds password hashes.
 *
 * It verifies credentials on a thread pool (crypt_r; yescrypt and bcrypt
 * are slow on purpose), keeps the failure ledger of every client address
 * for all workers, bans addresses in the shared banlist, and answers the
 * workers over a unix socket at sockpath.
 */
#ifndef SMTPAUTHD_AUTHD_H
#define SMTPAUTHD_AUTHD_H

#include <stddef.h>

#include "server/shared/config.h"

/*
 * The users file as read by the parent (as root): text of len octets,
 * "address:hash" lines.  authd_main takes ownership and wipes it once
 * parsed.  Never returns.
 *
 * users_text comes from malloc (users_read() makes one), or is NULL with
 * len 0 when there is no users file: then every attempt fails.  Call it
 * in a new child that already runs as the workers' user (only peers with
 * our uid may connect) after banlist_init() was called in the parent.
 * The directory of sockpath must exist and be writable by that user; a
 * stale socket there is replaced, the new one is mode 0600.  SIGTERM:
 * the verifications in flight are finished and answered, the socket is
 * removed (unless another auth process bound the path meanwhile), exit 0.
 * Fatal errors at start exit 1.
 *
 * bindpw: the text of ldap-bind-password-file (read as root by the
 * caller, from malloc, NUL-terminated) or NULL; taken and wiped likewise.
 */
void	authd_main(const struct config *, char *users_text, size_t len,
	    char *bindpw, const char *sockpath) __attribute__((noreturn));

#endif
