/*
 * Moving a spool between nodes (smtpauthd(8), "Moving a spool";
 * INTERNALS.md, "Moving a spool"):
 *
 *   smtpauthd -f FILE export DIR	a stopped node's queue into DIR
 *   smtpauthd -f FILE import DIR	DIR into this node's queue
 *   smtpauthd -f FILE drain		the running node stops taking
 *					sessions and delivers what it holds
 *
 * Each message leaves its source only once its copy is durable at the
 * destination, and a crash of either side at any moment, followed by the
 * same command again, loses nothing and delivers nothing twice.
 */
#ifndef SMTPAUTHD_SPOOLMOVE_H
#define SMTPAUTHD_SPOOLMOVE_H

#include "server/shared/config.h"

/* The export marker in the spool's run/: the node refuses to start. */
#define SPOOLMOVE_EXPORTING	"run/exporting"
/* What an export writes last into DIR: import wants it. */
#define SPOOLMOVE_COMPLETE	"COMPLETE"

/* Is cmd one of ours?  *wants_dir: it takes a DIR argument. */
int	spoolmove_known(const char *cmd, int *wants_dir);
/* Run it; returns the exit status (0 done, 1 failed). */
int	spoolmove_run(const struct config *, const char *cmd, const char *dir);

#endif
