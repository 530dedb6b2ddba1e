/*
 * The queue process: delivers what the workers committed to the spool
 * (INTERNALS.md, "Delivering a message"), locally into Maildirs and to
 * other hosts through the relay, with retries and bounces.
 */
#ifndef SMTPAUTHD_QUEUE_H
#define SMTPAUTHD_QUEUE_H

#include "server/shared/config.h"

/*
 * In the new queue child, before it drops privileges: read what only
 * root may read (the relay-auth credentials, relay-ca-file) and make the
 * TLS client contexts.  Problems are logged; mail that needs what is
 * missing is deferred.
 */
void	queue_prepare(const struct config *);

/* Run the queue in this (child) process; never returns. */
/* ctl_listen: smtpauthctl's listening socket, or -1. */
void	queue_main(const struct config *, int notify_fd, int ctl_listen)
	    __attribute__((noreturn));

#endif
