/*
 * The parent process: binds, forks, restarts, reloads, stops.
 */
#ifndef SMTPAUTHD_PARENT_H
#define SMTPAUTHD_PARENT_H

#include "server/config.h"
#include "server/users.h"

/* Runs until SIGTERM/SIGINT; returns the exit status. */
int	parent_main(const char *conffile, struct config *, struct userset *);

/* Load the users file named by the config (empty set when none). */
int	parent_load_users(const struct config *, struct userset *, int strict);

#endif
