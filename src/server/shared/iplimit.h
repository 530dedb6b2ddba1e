/*
 * Sessions per client address, counted across all worker processes.
 *
 * A shared anonymous mapping, made by the parent before it forks, holds one
 * table of counters per worker slot; a worker only writes its own slot and
 * reads the others, and the parent clears the slot of a worker that died,
 * so a crash never leaks counts.  Addresses are hashed with a random key
 * into buckets; a collision can only make the limit stricter.
 */
#ifndef SMTPAUTHD_IPLIMIT_H
#define SMTPAUTHD_IPLIMIT_H

#include <sys/socket.h>

#define IPLIMIT_SLOTS	512

int	iplimit_init(void);			/* parent, before fork */
void	iplimit_set_slot(unsigned);		/* worker, after fork */
void	iplimit_clear_slot(unsigned);		/* parent, worker gone */
/* Count a session; 0 if under max (0: no limit), -1 when over. */
int	iplimit_acquire(const struct sockaddr *, unsigned max);
void	iplimit_release(const struct sockaddr *);

#endif
