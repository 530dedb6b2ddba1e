/*
 * The spool, as the workers write it (INTERNALS.md, "Accepting a message").
 */
#ifndef SMTPAUTHD_SPOOL_H
#define SMTPAUTHD_SPOOL_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "server/shared/envelope.h"

/*
 * A delivered message's file is not unlinked but kept in queue/ as
 * free.K (K < SPOOL_FREE_MAX) for a new message to take: creating and
 * deleting files is what costs most on ext4 (INTERNALS.md, "Recycled
 * files").
 */
/*
 * The queue's control socket, relative to the spool: the command line
 * (`smtpauthd flush`) sends it "FLUSH" datagrams.
 */
#define QUEUE_SOCK	"run/queue.sock"
#define QUEUE_FLUSH_MSG	"FLUSH"

#define SPOOL_FREE_MAX		256
#define SPOOL_FREE_PREFIX	"free."
#define SPOOL_FREE_CACHE	64
#define SPOOL_FREE_SKIP		16
/* A larger file is deleted, not kept: the pool holds at most 16 MiB. */
#define SPOOL_FREE_KEEP		(64 * 1024)

/*
 * A worker keeps up to SPOOL_STOCK recycled files already renamed to
 * ID.part for its next messages (INTERNALS.md, "The in-place commit"):
 * once a syncfs that started after that rename has succeeded (the
 * ledger's ticket), the name is on disk and a message written into it is
 * committed by its seal and one fdatasync.
 */
#define SPOOL_STOCK		16

struct spool_stock {
	char			id[SPOOL_ID_LEN + 1];
	unsigned long long	ticket;		/* syncfs_ticket() after it */
	long long		since;		/* mono_sec() of the rename */
};

struct spool {
	int		 dirfd;		/* spool/ */
	/*
	 * spool/incoming/, where an older version received messages, or -1:
	 * the queue's clean-up empties it (INTERNALS.md, "Spool layout").
	 */
	int		 incoming_fd;
	int		 queue_fd;	/* spool/queue/ */
	/*
	 * How a commit is made durable (spool-sync): 1, one syncfs(2) of
	 * the spool's file system shared by the commits of that moment;
	 * 0, the file's fdatasync and a shared fsync of queue/.
	 */
	int		 sync_fs;
	/*
	 * Taking recycled files: only when nshares > 0 (one thread per
	 * struct), and only free.K with K % nshares == share.
	 */
	unsigned	 share, nshares;
	unsigned	 cache[SPOOL_FREE_CACHE];	/* K of free.K seen */
	size_t		 ncache;
	unsigned	 skip;		/* creates left before the next scan */
	/*
	 * Stocked files (spool_set_stock()), the oldest first, and how long
	 * one may wait: the queue's clean-up removes an ID.part untouched for
	 * two DATA timeouts.  max_age 0: no stock.
	 */
	struct spool_stock stock[SPOOL_STOCK];
	size_t		 nstock;
	unsigned	 stock_max_age;
	/* Removed messages (queue/ID.dead) waiting for spool_recycle(). */
	pthread_mutex_t	 dead_lock;
	char		 dead[SPOOL_FREE_MAX][SPOOL_ID_LEN + 1];
	size_t		 ndead;
};

/* Create spool/, queue/ and run/ (0700) when missing; owner uid/gid when
 * they are not -1.  Returns 0 or -1 with err set. */
int	spool_setup(const char *path, long uid, long gid, char *err,
	    size_t errlen);
/* Open the directories.  Returns 0 or -1 (errno). */
int	spool_open(struct spool *, const char *path);
void	spool_close(struct spool *);
/*
 * Let spool_msg_create() take recycled files: this process is share of
 * nshares (the workers).  The caller creates messages from one thread.
 */
void	spool_set_share(struct spool *, unsigned share, unsigned nshares);

/*
 * With spool-sync filesystem, keep stocked files (above) that wait at most
 * max_age seconds (the DATA timeout); 0 stops.  After spool_set_share().
 */
void	spool_set_stock(struct spool *, unsigned max_age);

/* A new random queue id (SPOOL_ID_LEN hex digits). */
void	spool_new_id(char id[SPOOL_ID_LEN + 1]);
/* Is s (len octets) an id spool_new_id() could make?  1 or 0. */
int	spool_valid_id(const char *s, size_t len);

/*
 * A spool file is the seal, the envelope (envelope_format()), an empty
 * line, then the message.  The envelope part is at most SPOOL_ENV_MAX
 * octets.  The seal is one line of SPOOL_SEAL_LEN octets, "seal", the
 * length of the rest of the file (16 hex digits) and its SHA-256 (64 hex
 * digits), written at the commit: a file whose rest does not match it was
 * never committed (INTERNALS.md, "Accepting a message").  Files written
 * before the seal existed start with the envelope.
 */
#define SPOOL_ENV_MAX	(1024 * 1024)
#define SPOOL_SEAL_LEN	87
#define SPOOL_SEAL_KEY	"seal "

struct spool_msg {
	struct spool	*spool;
	char		 id[SPOOL_ID_LEN + 1];
	int		 fd;		/* queue/ID.part, -1 when closed */
	int		 error;		/* errno of the first failure */
	int		 recycled;	/* a free.K taken: may be longer */
	int		 in_place;	/* a stocked file whose name is durable */
	uint64_t	 allocated;	/* ... and the octets its blocks hold */
	uint64_t	 size;		/* octets of the message written */
	uint64_t	 written;	/* octets in the file, envelope too */
};

/*
 * Create queue/ID.part with a fresh id, or take a recycled file for it.
 * Returns 0 or -1 (errno).
 */
int	spool_msg_create(struct spool *, struct spool_msg *);
/* Another descriptor of the uncommitted file, to read it; or -1. */
int	spool_msg_open_read(const struct spool_msg *);
/*
 * Write the envelope (with m->id in it) first, before any of the message.
 * A failure is remembered and reported by commit.
 */
void	spool_msg_envelope(struct spool_msg *, const char *env, size_t len);
/* Append to the message; a failure is remembered and reported by commit. */
void	spool_msg_write(struct spool_msg *, const void *, size_t);
/*
 * Blocking (run it off the event loop): make the file durable and commit
 * it: seal it, then its fdatasync when its name ID.part is durable (a
 * stocked file), else a shared sync after the rename to queue/ID.msg; the
 * rename is made in both cases.  Returns 0, or -1 with errno set and the
 * file removed.
 */
int	spool_msg_commit(struct spool_msg *);
/* Forget an uncommitted message. */
void	spool_msg_abort(struct spool_msg *);

/*
 * Blocking, any thread: the message is delivered; remove queue/ID.msg and
 * then queue/ID.env.  Its file waits as queue/ID.dead for
 * spool_recycle().  Returns 0 or -1 (errno).
 */
int	spool_remove(struct spool *, const char *id);
/* Removed files waiting; at SPOOL_RECYCLE_BATCH, recycle them at once. */
size_t	spool_dead(struct spool *);
#define SPOOL_RECYCLE_BATCH	64
/*
 * Blocking, one call at a time: make the removals so far durable (one
 * fsync of queue/) and turn their files into free.K.
 */
void	spool_recycle(struct spool *);

/*
 * Blocking: open the committed message queue/ID.msg.  Returns its
 * descriptor, with *body_off where the message starts and *size its
 * length (to the end its seal gives: the file may go on, and every reader
 * stops there, pread_upto()); or -1 with errno set (ENOENT: no such
 * message; EINVAL: a bad file, err says why; EBADMSG: its seal does not
 * match, it was never committed: spool_set_torn()).  When env is not NULL
 * it gets the envelope: the queue's own copy queue/ID.env if there is
 * one, else the file's.  The message is read once to check the seal.
 */
int	spool_open_queued(int queue_fd, const char *id, struct envelope *env,
	    off_t *body_off, uint64_t *size, char *err, size_t errlen);
/*
 * Blocking, the queue's clean-up: is queue/ID.part a committed message (a
 * crash after an in-place commit, before its rename to ID.msg reached the
 * disk)?  It is when it has a seal that matches and its envelope's id is
 * ID (a stocked file's old content has another id).  Then it is renamed
 * to ID.msg (never over one) and 1 returned; the caller makes that
 * durable.  0: it is not one (nothing changed); -1: it could not be read
 * or renamed (errno).
 */
int	spool_recover_part(int queue_fd, const char *id);
/*
 * spool_recover_part() of every ID.part in queue/, then one fsync of
 * queue/ when any was recovered.  said(id, r, arg), when not NULL, hears
 * of each one recovered (r 1) or that could not be read (r -1, errno).
 * Returns how many were recovered, or -1 (errno: queue/ could not be
 * read, or its fsync failed).
 */
int	spool_recover_all(int queue_fd, void (*said)(const char *, int,
	    void *), void *arg);
/*
 * A queue/ID.msg whose seal does not match (a crash before its commit was
 * durable: never acknowledged) is set aside as queue/ID.torn, never read
 * again; the clean-up removes it after SPOOL_TORN_KEEP seconds.  0 or -1.
 */
int	spool_set_torn(int queue_fd, const char *id);
#define SPOOL_TORN_KEEP		(7 * 24 * 3600)

/*
 * run/smtpauthd.pid: the parent's pid and its start time (field 22 of
 * /proc/PID/stat), written by the queue process (it may write run/, the
 * parent in a sandbox may not) at each start, for "smtpauthd drain".
 * The start time tells a stale file from a live parent: a pid used again
 * by another process does not match it.
 */
#define SPOOL_PIDFILE	"run/smtpauthd.pid"
/* Write it for getppid(), under dirfd (spool/).  0 or -1 (errno). */
int	spool_pidfile_write(int dirfd);
/* The live parent of the spool at path: its pid, or -1 (err says). */
long	spool_pidfile_read(const char *path, char *err, size_t errlen);

/* Names inside the spool directories. */
#define SPOOL_MSG_SUFFIX	".msg"
#define SPOOL_ENV_SUFFIX	".env"
#define SPOOL_TMP_SUFFIX	".tmp"
#define SPOOL_DEAD_SUFFIX	".dead"	/* removed, to recycle */
#define SPOOL_PART_SUFFIX	".part"	/* being received: no message yet */
#define SPOOL_TORN_SUFFIX	".torn"	/* its seal did not match */

#endif
