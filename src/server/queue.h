/*
 * The queue process: delivers what the workers committed to the spool
 * (INTERNALS.md, "Delivering a message").
 */
#ifndef SMTPAUTHD_QUEUE_H
#define SMTPAUTHD_QUEUE_H

#include "server/config.h"

/* Run the queue in this (child) process; never returns. */
void	queue_main(const struct config *, int notify_fd)
	    __attribute__((noreturn));

#endif
