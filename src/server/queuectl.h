/*
 * The operator's view of the queue: "smtpauthd -f FILE queue" lists the
 * spool, "smtpauthd -f FILE flush" asks the running queue process to try
 * everything now (smtpauthd(8)).
 */
#ifndef SMTPAUTHD_QUEUECTL_H
#define SMTPAUTHD_QUEUECTL_H

#include <stdio.h>
#include <time.h>

#include "server/shared/config.h"

/* Is cmd one of ours? */
int	queuectl_known(const char *cmd);
/* Run it; returns the exit status (0 done, 1 failed). */
int	queuectl_run(const struct config *, const char *cmd);

/* The listing of the spool at path, as of now (for tests). */
int	queuectl_list(FILE *, const char *spool, time_t now);
/* Send FLUSH to the queue process of the spool at path. */
int	queuectl_flush(const char *spool, char *err, size_t errlen);

#endif
