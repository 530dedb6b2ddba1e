/*
 * The counters of every process, in one block of shared memory that the
 * parent maps before it forks (like the ban table): each process adds to
 * its own counters with atomic increments, which never block, and the
 * metrics process reads them all for a scrape (smtpauthd(8), METRICS).
 * The parent also keeps the table of its children here, for
 * "smtpauthctl status".
 *
 * Nothing in the block is secret: a process that scribbles on it can only
 * make the numbers wrong.
 */
#ifndef SMTPAUTHD_METRICS_H
#define SMTPAUTHD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Listeners counted one by one; the others share the last slot. */
#define METRICS_LISTENERS	16
#define METRICS_PROCS		(2 * 256 + 4)
/* Delivery latency, seconds from the message's arrival: bucket bounds. */
#define METRICS_LAT_BUCKETS	10
/* Open sessions are counted per worker slot (iplimit.h's), so that the
 * parent can forget those of a worker that died. */
#define METRICS_SLOTS		512

enum metrics_mech {
	METRICS_PLAIN, METRICS_LOGIN, METRICS_CRAM_MD5, METRICS_SCRAM_SHA_256,
	METRICS_OTHER, METRICS_MECHS
};
/* The label of each, in enum order. */
extern const char *const metrics_mech_names[METRICS_MECHS];
enum metrics_result {
	METRICS_OK, METRICS_FAIL, METRICS_TEMPFAIL, METRICS_RESULTS
};
enum metrics_proc_kind {
	METRICS_PROC_NONE, METRICS_PROC_PARENT, METRICS_PROC_WORKER,
	METRICS_PROC_QUEUE, METRICS_PROC_AUTH, METRICS_PROC_METRICS
};

struct metrics_proc {
	_Atomic int32_t		pid;		/* 0: a free slot */
	_Atomic uint32_t	kind;		/* enum metrics_proc_kind */
	_Atomic uint32_t	index;		/* the worker's number */
	_Atomic int64_t		started;	/* CLOCK_REALTIME seconds */
};

struct metrics_listener {
	_Atomic uint64_t	connections;	/* accepted */
	_Atomic uint64_t	sessions[2];	/* ended: [tls] */
	_Atomic int64_t		open[METRICS_SLOTS];	/* now, per worker */
};

struct metrics {
	struct metrics_listener	listeners[METRICS_LISTENERS];
	_Atomic uint64_t	auth[METRICS_MECHS][METRICS_RESULTS];
	_Atomic uint64_t	bans_added;
	_Atomic uint64_t	messages;	/* accepted (queued) */
	_Atomic uint64_t	bytes;		/* of the accepted messages */
	_Atomic int64_t		queue_depth;	/* messages the queue knows */
	_Atomic uint64_t	delivered;	/* recipients */
	_Atomic uint64_t	deferred;	/* recipients, each time */
	_Atomic uint64_t	bounced;	/* recipients failed for good */
	_Atomic uint64_t	lat_bucket[METRICS_LAT_BUCKETS + 1];
	_Atomic uint64_t	lat_sum_ms;
	/* Health, set by the auth process: 1 up, 0 down (-1: none). */
	_Atomic int32_t		backend_up;	/* the password backend */
	_Atomic int32_t		store_up;	/* guard-store */
	struct metrics_proc	procs[METRICS_PROCS];
};

/* The upper bounds (seconds) of the latency buckets, then +Inf. */
extern const double	metrics_lat_bounds[METRICS_LAT_BUCKETS];

/* Parent, before the first fork.  0, or -1 with errno set. */
int		 metrics_init(void);
/* The block; NULL before metrics_init() (the counters are then off). */
struct metrics	*metrics_get(void);

#define METRICS_ADD(field, n)	do {					\
	struct metrics *m_ = metrics_get();				\
	if (m_ != NULL)							\
		atomic_fetch_add_explicit(&m_->field, (n),		\
		    memory_order_relaxed);				\
} while (0)

#define METRICS_SET(field, v)	do {					\
	struct metrics *m_ = metrics_get();				\
	if (m_ != NULL)							\
		atomic_store_explicit(&m_->field, (v),			\
		    memory_order_relaxed);				\
} while (0)

/* Worker: this process's slot; a session opened (+1) or gone (-1). */
void		 metrics_set_slot(unsigned);
void		 metrics_session_open(unsigned listener, int delta);
/* Sessions open on a listener slot, all workers. */
int64_t		 metrics_sessions_open(unsigned listener);
/* Parent: a worker is gone, and its sessions with it. */
void		 metrics_clear_slot(unsigned);

/* The listener slot of index i. */
unsigned	 metrics_listener(size_t i);
void		 metrics_auth(const char *mech, int result);	/* 1/0/-1 */
/* A recipient delivered, of a message accepted at that time
 * (CLOCK_REALTIME: its spool file's mtime). */
void		 metrics_delivered(const struct timespec *accepted);

/* Parent: a child started, or ended. */
void		 metrics_proc_add(pid_t, enum metrics_proc_kind, unsigned);
void		 metrics_proc_del(pid_t);
const char	*metrics_proc_name(unsigned kind);

#endif
