/*
 * The durable-write helper (INTERNALS.md, "Every write goes through one
 * helper").
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/durable.h"

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
pread_upto(int fd, void *buf, size_t len, off_t off, off_t end)
{
	ssize_t	n;

	if (off >= end)
		return 0;
	if ((uint64_t)(end - off) < len)
		len = (size_t)(end - off);
	do
		n = pread(fd, buf, len, off);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		errno = EIO;	/* shorter than it says */
		return -1;
	}
	return n;
}

int
fsync_close(int fd)
{
	int	saved;

	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

int
fsync_dirfd(int dirfd)
{
	return fsync(dirfd);
}

int
fsync_dir(const char *path)
{
	int	fd, saved, r;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

static int
writev_all(int fd, const struct iovec *iov, int iovcnt)
{
	int	i;

	/* Small envelopes: one write per piece is fine and simple. */
	for (i = 0; i < iovcnt; i++)
		if (write_all(fd, iov[i].iov_base, iov[i].iov_len) == -1)
			return -1;
	return 0;
}

int
durable_open(int dirfd, const char *name)
{
	return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
}

/* rename(2) that fails with EEXIST rather than replace toname. */
int
durable_rename_new(int dirfd, const char *name, int todirfd,
    const char *toname)
{
	if (renameat2(dirfd, name, todirfd, toname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without it: link(2) never replaces either. */
	if (linkat(dirfd, name, todirfd, toname, 0) == -1)
		return -1;
	unlinkat(dirfd, name, 0);
	return 0;
}

static int
commit(int fd, int dirfd, const char *name, int todirfd,
    const char *toname, int (*sync)(void *), void *arg, int noreplace)
{
	int	saved, r;

	/*
	 * fdatasync: the data and what reading it back needs (size,
	 * blocks), not the times.  A recycled spool file written over to
	 * the same length then costs a data write and a cache flush, not a
	 * journal commit.
	 */
	if (fdatasync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail;
	}
	if (close(fd) == -1)
		goto fail;
	r = noreplace ? durable_rename_new(dirfd, name, todirfd, toname) :
	    renameat(dirfd, name, todirfd, toname);
	if (r == -1)
		goto fail;
	return sync != NULL ? sync(arg) : fsync_dirfd(todirfd);
fail:
	saved = errno;
	unlinkat(dirfd, name, 0);
	errno = saved;
	return -1;
}

int
durable_commit(int fd, int dirfd, const char *name, int todirfd,
    const char *toname, int (*sync)(void *), void *arg)
{
	return commit(fd, dirfd, name, todirfd, toname, sync, arg, 0);
}

int
durable_commit_new(int fd, int dirfd, const char *name, int todirfd,
    const char *toname, int (*sync)(void *), void *arg)
{
	return commit(fd, dirfd, name, todirfd, toname, sync, arg, 1);
}

int
durable_mkdir(int dirfd, const char *name, mode_t mode)
{
	int	fd, saved;

	/* Mostly it is there already: open first, create only if not. */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd != -1 || errno != ENOENT)
		return fd;
	/* EEXIST: made at this moment by another thread, maybe not yet
	 * synced: sync it here too. */
	if (mkdirat(dirfd, name, mode) == -1 && errno != EEXIST)
		return -1;
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return -1;
	if (fsync(fd) == -1 || fsync_dirfd(dirfd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
durable_write(int dirfd, const char *tmpname, const char *name,
    const struct iovec *iov, int iovcnt)
{
	int	fd, saved;

	/* A temporary left by a crash is garbage: take its name. */
	if (unlinkat(dirfd, tmpname, 0) == -1 && errno != ENOENT)
		return -1;
	if ((fd = durable_open(dirfd, tmpname)) == -1)
		return -1;
	if (writev_all(fd, iov, iovcnt) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmpname, 0);
		errno = saved;
		return -1;
	}
	return durable_commit(fd, dirfd, tmpname, dirfd, name, NULL, NULL);
}

void
group_sync_expect(struct group_sync *g)
{
	pthread_mutex_lock(&g->lock);
	g->expected++;
	pthread_mutex_unlock(&g->lock);
}

void
group_sync_cancel(struct group_sync *g)
{
	pthread_mutex_lock(&g->lock);
	g->arrived++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void
deadline_in(struct timespec *until, long us)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += us / 1000000;
	until->tv_nsec += (us % 1000000) * 1000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

/*
 * With g->lock held: wait delay_us whatever comes (more requests join),
 * then for the threads expected now (but not those expected later), at
 * most GROUP_SYNC_LINGER_US.
 */
static void
linger(struct group_sync *g, long delay_us)
{
	struct timespec	until;
	unsigned long	want;

	if (delay_us > 0) {
		deadline_in(&until, delay_us);
		while (pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
			;
	}
	want = g->expected;
	if (g->arrived >= want)
		return;
	deadline_in(&until, GROUP_SYNC_LINGER_US);
	while (g->arrived < want)
		if (pthread_cond_timedwait(&g->cond, &g->lock, &until) != 0)
			break;
}

/*
 * wait, if not NULL, is what a leader does before its run: 1 if it saw
 * another's run cover the requests made so far (no run then), else 0, and
 * the run covers the requests made during the wait too.
 */
static int
sync_shared(struct group_sync *g, int (*wait)(void *), int (*fn)(void *),
    void *arg, int expected, long delay_us)
{
	unsigned long	mine, target;
	int		r = 0, led = 0, covered;

	pthread_mutex_lock(&g->lock);
	mine = ++g->requested;
	if (expected) {
		/* Arrived and asking at once: a lingering leader that sees
		 * the one sees the other. */
		g->arrived++;
		pthread_cond_broadcast(&g->cond);
	}
	while (g->done < mine) {
		if (g->running) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		/* Lead a run for every request made so far, and for those
		 * about to be made. */
		g->running = 1;
		linger(g, delay_us);
		target = g->requested;
		covered = 0;
		if (wait != NULL) {
			pthread_mutex_unlock(&g->lock);
			covered = wait(arg) == 1;
			pthread_mutex_lock(&g->lock);
			/* Not covered: asked before the run starts, so their
			 * writes come before it. */
			if (!covered)
				target = g->requested;
		}
		if (!covered) {
			pthread_mutex_unlock(&g->lock);
			r = fn(arg);
			led = 1;
			pthread_mutex_lock(&g->lock);
			if (r == -1) {
				g->error = errno;
				g->failed = target;
			}
		}
		g->running = 0;
		g->done = target;
		pthread_cond_broadcast(&g->cond);
	}
	/*
	 * The run that covered us failed, or a later one did (we cannot
	 * tell them apart once it has run: failing is the safe answer).
	 */
	if (!led && g->failed >= mine) {
		errno = g->error;
		r = -1;
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

int
group_sync(struct group_sync *g, int (*fn)(void *), void *arg)
{
	return sync_shared(g, NULL, fn, arg, 0, 0);
}

int
group_sync_expected(struct group_sync *g, int (*fn)(void *), void *arg)
{
	return sync_shared(g, NULL, fn, arg, 1, 0);
}

/*
 * fsync_dir_shared() and syncfs_shared(): a small table of what is being
 * synced (a directory, or a whole file system: inode 0), each with its
 * group_sync.  A slot is taken while any thread uses it; when all are
 * taken the sync is not shared.
 */
#define DIRSYNC_SLOTS	16

struct dirsync {
	dev_t			dev;
	ino_t			ino;	/* 0: syncfs of the file system */
	unsigned		users;
	struct group_sync	g;
};

static struct dirsync	dirsync[DIRSYNC_SLOTS];
static pthread_mutex_t	dirsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t	dirsync_once = PTHREAD_ONCE_INIT;

static void
dirsync_init(void)
{
	static const struct group_sync	init = GROUP_SYNC_INITIALIZER;
	size_t				i;

	for (i = 0; i < DIRSYNC_SLOTS; i++)
		dirsync[i].g = init;
}

static int
dirsync_run(void *arg)
{
	/* Any descriptor of the directory will do: it is one inode. */
	return fsync_dirfd(*(const int *)arg);
}

/*
 * The syncfs ledger (durable.h, syncfs_wait()): per file system, the
 * tickets of the syncfs runs started and the highest one that succeeded,
 * in memory every process of the server shares once durable_share() ran
 * (before the fork), else in this process's.  A futex word is bumped
 * when a run ends, for the callers that wait for one.
 */
#define LEDGER_SLOTS	8

struct ledger_slot {
	atomic_ulong		dev;		/* st_dev + 1; 0: free */
	atomic_ullong		started;	/* the last ticket taken */
	atomic_ullong		done;		/* the last that succeeded */
	atomic_uint		ended;		/* futex word */
	atomic_uint		waiters;
	atomic_llong		prompt_ns;	/* the last run nobody held */
	atomic_llong		end_ns;		/* when the last run ended */
	atomic_llong		cost_ns;	/* how long runs take (average) */
	atomic_llong		commit_ns;	/* the last commit noted */
	atomic_llong		cadence_ns;	/* the time between (average) */
	atomic_uint		commits;	/* a count of them; futex word */
	atomic_uint		commit_waiters;
};

/*
 * A caller waits for another's run only while runs that wait for nobody
 * (commits: a client waits for them) come, at least one in the last
 * LEDGER_QUIET_NS; without them it would wait for nothing (deliveries at
 * one client, whose commits are made in place, or a queue delivering its
 * backlog), and runs its own at once.
 */
#define LEDGER_QUIET_NS		50000000LL

/*
 * Pacing (ledger_pace()): a run that may wait and would take longer than
 * the time between two commits starts LEDGER_PACE times the runs' cost
 * after the last one ended, then right after a commit, waiting at most
 * LEDGER_ALIGN_MAX_NS for one.
 */
#define LEDGER_PACE		2
#define LEDGER_ALIGN_MAX_NS	5000000LL

struct ledger {
	struct ledger_slot	slot[LEDGER_SLOTS];
};

static struct ledger	 ledger_local;
static struct ledger	*ledger = &ledger_local;

int
durable_share(void)
{
	void	*p;

	p = mmap(NULL, sizeof(struct ledger), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Zeroed: every slot free. */
	ledger = p;
	return 0;
}

static struct ledger_slot *
ledger_slot(dev_t dev)
{
	unsigned long	key = (unsigned long)dev + 1, cur;
	size_t		i;

	for (i = 0; i < LEDGER_SLOTS; i++)
		if (atomic_load(&ledger->slot[i].dev) == key)
			return &ledger->slot[i];
	for (i = 0; i < LEDGER_SLOTS; i++) {
		cur = 0;
		if (atomic_compare_exchange_strong(&ledger->slot[i].dev, &cur,
		    key) || cur == key)
			return &ledger->slot[i];
	}
	return NULL;
}

static long long
mono_ns(void)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/*
 * Sleep until a futex word of the slot (ended: a run ended; commits: a
 * commit) is not `seen`, at most us; waiters counts the sleepers on it.
 */
static void
ledger_sleep(atomic_uint *word, atomic_uint *waiters, unsigned seen,
    long us)
{
	struct timespec	ts = { us / 1000000L, (us % 1000000L) * 1000L };

	atomic_fetch_add(waiters, 1);
	/* Not FUTEX_PRIVATE: the word may be in memory other processes
	 * share. */
	syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
	atomic_fetch_sub(waiters, 1);
}

/*
 * An average of the last few values (races between processes lose an
 * update now and then: harmless); 0 until the first.
 */
static void
average_add(atomic_llong *avg, long long v)
{
	long long	a = atomic_load(avg);

	atomic_store(avg, a == 0 ? v : (7 * a + v) / 8);
}

/*
 * Sleep on one of the slot's futex words (ended or commits, with its
 * count of waiters) while it is `seen`, until `until` (monotonic ns): 1
 * once a run that started after `mine` was taken has succeeded, -1 once
 * `until` passed, 0 when woken otherwise.  The caller loads `seen` before
 * the call, so that a change after the check below is not slept through.
 */
static int
ledger_nap(struct ledger_slot *s, atomic_uint *word, atomic_uint *waiters,
    unsigned seen, unsigned long long mine, long long until)
{
	long long	left;

	if (atomic_load(&s->done) > mine)
		return 1;
	if ((left = (until - mono_ns()) / 1000) <= 0)
		return -1;
	ledger_sleep(word, waiters, seen, (long)left);
	return atomic_load(&s->done) > mine;
}

/*
 * Wait at most wait_us for a run of anyone's that starts after this call
 * and succeeds: 1 if one did, else 0.  Not while the ledger is quiet.
 */
static int
ledger_wait(struct ledger_slot *s, long wait_us)
{
	unsigned long long	 mine;
	long long		 end;
	int			 r;

	if (mono_ns() - atomic_load(&s->prompt_ns) > LEDGER_QUIET_NS)
		return 0;
	/*
	 * What was written before this load is covered by any run with a
	 * later ticket: its ticket was taken after the load, and its
	 * syncfs called after that.
	 */
	mine = atomic_load(&s->started);
	end = mono_ns() + (long long)wait_us * 1000;
	while ((r = ledger_nap(s, &s->ended, &s->waiters,
	    atomic_load(&s->ended), mine, end)) == 0)
		;
	return r == 1;
}

/*
 * A commit (a client waits for it) ended now: its cadence, for
 * ledger_pace(), and a wake-up for the runs that wait to follow it, only
 * those: the others wait for a run's end, which a commit in place is not,
 * and the committer would wake them all on its way to its reply.
 */
static void
ledger_commit(struct ledger_slot *s)
{
	long long	now = mono_ns(), last;

	/* The cadence is 0 until there are two commits. */
	if ((last = atomic_exchange(&s->commit_ns, now)) != 0)
		average_add(&s->cadence_ns, now - last > LEDGER_QUIET_NS ?
		    LEDGER_QUIET_NS : now - last);
	atomic_fetch_add(&s->commits, 1);
	if (atomic_load(&s->commit_waiters) > 0)
		syscall(SYS_futex, &s->commits, FUTEX_WAKE, INT_MAX, NULL,
		    NULL, 0);
}

/*
 * Before a run that may wait (a delivery's), while commits come: a run
 * that takes longer than the time between two of them cannot keep out of
 * their way, and each commit it meets waits for it (on a journaled file
 * system a syncfs is a journal commit, and on a loop device every flush
 * writes what is dirty in the image).  Such runs are spaced: the next
 * starts LEDGER_PACE times their cost after the last ended, so that
 * they take at most a third of the device's time, and then right after a
 * commit, when the client has its reply and the device is free the
 * longest.  A run that fits between two commits starts at once.  1 if
 * another's run covered the caller meanwhile, else 0.
 */
static int
ledger_pace(struct ledger_slot *s)
{
	unsigned long long	mine = atomic_load(&s->started);
	long long		cost = atomic_load(&s->cost_ns), until;
	long long		cadence = atomic_load(&s->cadence_ns);
	unsigned		n;
	int			r;

	if (mono_ns() - atomic_load(&s->commit_ns) > LEDGER_QUIET_NS ||
	    cadence == 0 || cost <= cadence)
		return 0;
	until = atomic_load(&s->end_ns) + LEDGER_PACE * cost;
	while ((r = ledger_nap(s, &s->ended, &s->waiters,
	    atomic_load(&s->ended), mine, until)) == 0)
		;
	if (r == 1)
		return 1;
	/* Then the next commit. */
	n = atomic_load(&s->commits);
	until = mono_ns() + LEDGER_ALIGN_MAX_NS;
	while (atomic_load(&s->commits) == n && ledger_nap(s, &s->commits,
	    &s->commit_waiters, n, mine, until) == 0)
		;
	return atomic_load(&s->done) > mine;
}

/* A run of syncfs(2), in the ledger; prompt: it waited for nobody. */
static int
ledger_run(int fd, struct ledger_slot *s, int prompt)
{
	unsigned long long	ticket, done;
	long long		start, end;
	int			r, saved;

	ticket = atomic_fetch_add(&s->started, 1) + 1;
	start = mono_ns();
	if (prompt)
		atomic_store(&s->prompt_ns, start);
	r = syncfs(fd);
	saved = errno;
	end = mono_ns();
	atomic_store(&s->end_ns, end);
	average_add(&s->cost_ns, end - start);
	if (prompt)
		ledger_commit(s);
	if (r == 0) {
		done = atomic_load(&s->done);
		while (done < ticket &&
		    !atomic_compare_exchange_weak(&s->done, &done, ticket))
			;
	}
	atomic_fetch_add(&s->ended, 1);
	if (atomic_load(&s->waiters) > 0)
		syscall(SYS_futex, &s->ended, FUTEX_WAKE, INT_MAX, NULL,
		    NULL, 0);
	errno = saved;
	return r;
}

int
syncfs_wait(int fd, long wait_us)
{
	struct ledger_slot	*s;
	struct stat		 st;

	if (fstat(fd, &st) == -1 || (s = ledger_slot(st.st_dev)) == NULL)
		return syncfs(fd);
	if (wait_us > 0 && (ledger_wait(s, wait_us) || ledger_pace(s)))
		return 0;
	return ledger_run(fd, s, wait_us == 0);
}

int
fdatasync_commit(int fd)
{
	struct ledger_slot	*s;
	struct stat		 st;
	int			 r, saved;

	r = fdatasync(fd);
	saved = errno;
	if (fstat(fd, &st) == 0 && (s = ledger_slot(st.st_dev)) != NULL)
		ledger_commit(s);
	errno = saved;
	return r;
}

int
syncfs_ticket(int fd, unsigned long long *ticket)
{
	struct ledger_slot	*s;
	struct stat		 st;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((s = ledger_slot(st.st_dev)) == NULL) {
		errno = ENOSPC;
		return -1;
	}
	/* As in syncfs_wait(): a run with a later ticket took it after
	 * this load, and called syncfs after the caller's change. */
	*ticket = atomic_load(&s->started);
	return 0;
}

int
syncfs_covered(int fd, unsigned long long ticket)
{
	struct ledger_slot	*s;
	struct stat		 st;

	if (fstat(fd, &st) == -1 || (s = ledger_slot(st.st_dev)) == NULL)
		return 0;
	return atomic_load(&s->done) > ticket;
}

int
durable_writeback(int fd)
{
	/*
	 * Write the data now and wait for it: with delayed allocation
	 * (ext4, XFS) the blocks are allocated during this write-back, so
	 * the syncfs that follows finds them allocated and commits the
	 * journal once, not once for what was dirty and again for the
	 * allocations its own write-back made.  Makes nothing durable.
	 */
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		return 0;
	/* A file system without it: the syncfs writes it back anyway. */
	if (errno == EINVAL || errno == ENOSYS || errno == ESPIPE)
		return 0;
	return -1;
}

struct fssync_arg {
	int			 fd;
	long			 wait_us;
	struct ledger_slot	*slot;		/* NULL: not in the ledger */
};

static int
fssync_wait(void *arg)
{
	const struct fssync_arg	*a = arg;

	return a->slot != NULL && a->wait_us > 0 &&
	    (ledger_wait(a->slot, a->wait_us) || ledger_pace(a->slot));
}

static int
fssync_run(void *arg)
{
	const struct fssync_arg	*a = arg;

	/* Any descriptor on the file system will do. */
	if (a->slot == NULL)
		return syncfs(a->fd);
	return ledger_run(a->fd, a->slot, a->wait_us == 0);
}

static int
shared(int fd, int whole_fs, long delay_us)
{
	struct dirsync	*d = NULL;
	struct stat	 st;
	size_t		 i;
	ino_t		 ino;
	struct fssync_arg fa = { fd, delay_us, NULL };
	int		 (*wait)(void *) = whole_fs ? fssync_wait : NULL;
	int		 (*run)(void *) = whole_fs ? fssync_run : dirsync_run;
	void		*arg = whole_fs ? (void *)&fa : (void *)&fd;
	int		 r;

	if (fstat(fd, &st) == -1)
		return run(arg);
	/* A syncfs waits in the ledger (for a run of another process
	 * too), not in the group's linger. */
	if (whole_fs) {
		fa.slot = ledger_slot(st.st_dev);
		delay_us = 0;
	}
	ino = whole_fs ? 0 : st.st_ino;
	pthread_once(&dirsync_once, dirsync_init);
	pthread_mutex_lock(&dirsync_lock);
	for (i = 0; i < DIRSYNC_SLOTS && d == NULL; i++)
		if (dirsync[i].users > 0 && dirsync[i].dev == st.st_dev &&
		    dirsync[i].ino == ino)
			d = &dirsync[i];
	for (i = 0; i < DIRSYNC_SLOTS && d == NULL; i++)
		if (dirsync[i].users == 0) {
			d = &dirsync[i];
			d->dev = st.st_dev;
			d->ino = ino;
		}
	if (d != NULL)
		d->users++;
	pthread_mutex_unlock(&dirsync_lock);
	if (d == NULL)
		return wait != NULL && wait(arg) == 1 ? 0 : run(arg);
	r = sync_shared(&d->g, wait, run, arg, 0, delay_us);
	pthread_mutex_lock(&dirsync_lock);
	d->users--;
	pthread_mutex_unlock(&dirsync_lock);
	return r;
}

int
fsync_dir_shared(int dirfd, long delay_us)
{
	return shared(dirfd, 0, delay_us);
}

int
syncfs_shared(int fd, long delay_us)
{
	return shared(fd, 1, delay_us);
}
