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

#include "server/config.h"

/*
 * The users file as read by the parent (as root): text of len octets,
 * "address:hash" lines.  authd_main takes ownership and wipes it once
 * parsed.  Never returns.
 */
void	authd_main(const struct config *, char *users_text, size_t len,
	    const char *sockpath) __attribute__((noreturn));

#endif
