/*
 * The operator's view of the spool's queue: the listing of
 * "smtpauthd queue" and "smtpauthctl queue", and "smtpauthctl show ID".
 * Blocking (they read the spool): the queue process runs them on its
 * thread pool.
 */
#ifndef SMTPAUTHD_QUEUELIST_H
#define SMTPAUTHD_QUEUELIST_H

#include <stdio.h>
#include <time.h>

/* A held message has this file next to its ID.msg (smtpauthctl hold). */
#define QUEUELIST_HOLD_SUFFIX	".hold"

/* Every message in queue_fd (spool/queue), oldest first.  0, or -1. */
int	queuelist_list(FILE *, int queue_fd, time_t now, int json);
/*
 * One message: its envelope, its state and the first max octets of the
 * message.  0; -1 with errno ENOENT when there is no such message, else
 * with err set.
 */
int	queuelist_show(FILE *, int queue_fd, const char *id, time_t now,
	    int json, size_t max, char *err, size_t errlen);
/* Is id (SPOOL_ID_LEN upper-case hex digits) held?  1 or 0. */
int	queuelist_held(int queue_fd, const char *id);

#endif
