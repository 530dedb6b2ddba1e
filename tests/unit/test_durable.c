/*
 * Unit tests for the group commit in src/common/durable.c: group_sync()
 * runs fn for many callers at once, never returns before a run that began
 * after the call, and passes a failure to every caller it covered;
 * fsync_dir_shared() syncs directories from many threads; syncfs_wait()
 * takes a run another process started after the call, and no other, and
 * spaces runs that take longer than the time between two commits; and
 * the one commit sequence (durable_open(), durable_commit(),
 * durable_write()).
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/durable.h"

/*
 * syncfs(2) through the linker's --wrap: counted, and in a child of the
 * ledger tests slowed down or failed, with a byte written to a pipe when
 * a run starts.
 */
int	__real_syncfs(int);
static double	now_ms(void);

static unsigned long	syncfs_calls;
static double		syncfs_started;		/* the last call, ms */
static long		syncfs_delay_us;
static int		syncfs_fail;
static int		syncfs_note_fd = -1;

int
__wrap_syncfs(int fd)
{
	struct timespec	ts;

	syncfs_calls++;
	syncfs_started = now_ms();
	if (syncfs_note_fd != -1 && write(syncfs_note_fd, "s", 1) != 1)
		return -1;
	if (syncfs_delay_us > 0) {
		ts.tv_sec = syncfs_delay_us / 1000000;
		ts.tv_nsec = (syncfs_delay_us % 1000000) * 1000;
		nanosleep(&ts, NULL);
	}
	if (syncfs_fail) {
		errno = EIO;
		return -1;
	}
	return __real_syncfs(fd);
}

#define NTHREADS	8
#define NCALLS		50

static struct group_sync	gs = GROUP_SYNC_INITIALIZER;
static pthread_mutex_t		count_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long		runs;		/* fn runs so far */
static unsigned long		started;	/* runs begun */
static int			fail_runs;	/* fn fails while set */

static int
slow_fn(void *arg)
{
	struct timespec	ts = { 0, 200000 };	/* 0.2 ms, like an fsync */

	pthread_mutex_lock(&count_lock);
	started++;
	pthread_mutex_unlock(&count_lock);
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&count_lock);
	runs++;
	pthread_mutex_unlock(&count_lock);
	if (fail_runs) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void *
caller(void *arg)
{
	int	i, *bad = arg;
	unsigned long	before, after;

	for (i = 0; i < NCALLS; i++) {
		pthread_mutex_lock(&count_lock);
		before = started;
		pthread_mutex_unlock(&count_lock);
		if (group_sync(&gs, slow_fn, NULL) != 0)
			(*bad)++;
		/* A run that began after our call has finished. */
		pthread_mutex_lock(&count_lock);
		after = runs;
		pthread_mutex_unlock(&count_lock);
		if (after <= before)
			(*bad)++;
	}
	return NULL;
}

static void
test_group_sync_shares(void **state)
{
	pthread_t	t[NTHREADS];
	int		bad[NTHREADS] = { 0 };
	int		i;

	runs = started = 0;
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, &bad[i]),
		    0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(bad[i], 0);
	}
	/* Shared: fewer runs than calls (each run covers the waiters). */
	assert_true(runs < NTHREADS * NCALLS);
	assert_true(runs >= NCALLS);
}

static void *
failing_caller(void *arg)
{
	int	*got = arg;

	*got = group_sync(&gs, slow_fn, NULL) == -1 && errno == EIO;
	return NULL;
}

static void
test_group_sync_failure_reaches_everyone(void **state)
{
	pthread_t	t[NTHREADS];
	int		got[NTHREADS];
	int		i;

	fail_runs = 1;
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, failing_caller,
		    &got[i]), 0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(got[i]);
	}
	fail_runs = 0;
	/* Later calls succeed again. */
	assert_int_equal(group_sync(&gs, slow_fn, NULL), 0);
}

/* A sibling that said it would come: it arrives while the leader lingers. */
static void *
late_sibling(void *arg)
{
	struct timespec	ts = { 0, 300000 };	/* 0.3 ms, in the linger */
	int		*got = arg;

	nanosleep(&ts, NULL);
	*got = group_sync_expected(&gs, slow_fn, NULL);
	return NULL;
}

/*
 * The leader of a run waits (a little) for the threads expected: one run
 * covers a sibling that arrives 0.3 ms after it.  One that never comes
 * costs at most GROUP_SYNC_LINGER_US, once: after its cancel no leader
 * waits for it.
 */
static void
test_group_sync_lingers_for_the_expected(void **state)
{
	struct timespec	t0, t1;
	pthread_t	t;
	int		got = -1, i, shared;
	long		us;

	/*
	 * On a loaded machine the sibling may not get a CPU within the
	 * linger: then it has a run of its own.  Some try of 20 shares.
	 */
	for (i = 0, shared = 0; i < 20 && !shared; i++) {
		runs = started = 0;
		group_sync_expect(&gs);
		assert_int_equal(pthread_create(&t, NULL, late_sibling, &got),
		    0);
		assert_int_equal(group_sync(&gs, slow_fn, NULL), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(got, 0);
		assert_true(runs == 1 || runs == 2);
		shared = runs == 1;
	}
	assert_true(shared);
	runs = 0;

	/* Expected, never comes: the leader goes on after the linger. */
	group_sync_expect(&gs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(group_sync(&gs, slow_fn, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (t1.tv_sec - t0.tv_sec) * 1000000L +
	    (t1.tv_nsec - t0.tv_nsec) / 1000;
	assert_true(us >= GROUP_SYNC_LINGER_US / 2);
	group_sync_cancel(&gs);
	assert_int_equal(runs, 1);
	/* Nobody expected: a run at once, and a sync each. */
	assert_int_equal(group_sync(&gs, slow_fn, NULL), 0);
	assert_int_equal(runs, 2);
}

struct dirjob {
	int	fd;
	int	bad;
};

static void *
dir_caller(void *arg)
{
	struct dirjob	*j = arg;
	int		 i;

	for (i = 0; i < NCALLS; i++)
		if (fsync_dir_shared(j->fd, 0) != 0)
			j->bad++;
	return NULL;
}

static void
test_fsync_dir_shared(void **state)
{
	char		 dir[2][32];
	struct dirjob	 j[NTHREADS];
	pthread_t	 t[NTHREADS];
	int		 fd[2], i;

	for (i = 0; i < 2; i++) {
		snprintf(dir[i], sizeof(dir[i]), "/tmp/test_durable.XXXXXX");
		assert_non_null(mkdtemp(dir[i]));
		fd[i] = open(dir[i], O_RDONLY | O_DIRECTORY);
		assert_true(fd[i] >= 0);
	}
	/* Two directories, each from several threads and descriptors. */
	for (i = 0; i < NTHREADS; i++) {
		j[i].fd = open(dir[i % 2], O_RDONLY | O_DIRECTORY);
		j[i].bad = 0;
		assert_true(j[i].fd >= 0);
		assert_int_equal(pthread_create(&t[i], NULL, dir_caller, &j[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(j[i].bad, 0);
		close(j[i].fd);
	}
	/* Not a directory descriptor: the error comes back. */
	assert_int_equal(fsync_dir_shared(-1, 0), -1);
	assert_int_equal(errno, EBADF);
	for (i = 0; i < 2; i++) {
		close(fd[i]);
		assert_int_equal(rmdir(dir[i]), 0);
	}
}

static int	syncs;

static int
count_sync(void *arg)
{
	syncs++;
	return fsync_dirfd(*(int *)arg);
}

static void
slurp(int dirfd, const char *name, char *buf, size_t len)
{
	struct stat	st;
	ssize_t		n;
	int		fd;

	assert_int_not_equal(fd = openat(dirfd, name, O_RDONLY), -1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

/* Two folders (the spool commits within one: Maildir tmp/ and new/). */
static void
test_durable_commit(void **state)
{
	char	dir[2][64], buf[64];
	int	fd[2], f, i;

	for (i = 0; i < 2; i++) {
		snprintf(dir[i], sizeof(dir[i]), "/tmp/test_durable.c.%d.%d",
		    (int)getpid(), i);
		assert_int_equal(mkdir(dir[i], 0700), 0);
		fd[i] = open(dir[i], O_RDONLY | O_DIRECTORY);
		assert_int_not_equal(fd[i], -1);
	}
	assert_int_not_equal(f = durable_open(fd[0], "m"), -1);
	/* Exclusive: a second writer of the same name is refused. */
	assert_int_equal(durable_open(fd[0], "m"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(write_all(f, "hail eris", 9), 0);
	syncs = 0;
	assert_int_equal(durable_commit(f, fd[0], "m", fd[1], "m",
	    count_sync, &fd[1]), 0);
	assert_int_equal(syncs, 1);
	assert_int_equal(faccessat(fd[0], "m", F_OK, 0), -1);
	slurp(fd[1], "m", buf, sizeof(buf));
	assert_string_equal(buf, "hail eris");

	/* A failure before the rename leaves nothing under either name. */
	assert_int_not_equal(f = durable_open(fd[0], "n"), -1);
	assert_int_equal(durable_commit(f, fd[0], "n", fd[1], "no/such",
	    NULL, NULL), -1);
	assert_int_equal(faccessat(fd[0], "n", F_OK, 0), -1);
	assert_int_equal(faccessat(fd[1], "no/such", F_OK, 0), -1);

	unlinkat(fd[1], "m", 0);
	for (i = 0; i < 2; i++) {
		close(fd[i]);
		assert_int_equal(rmdir(dir[i]), 0);
	}
}

/* Never over an existing file: EEXIST, the temporary gone, the old kept. */
static void
test_durable_commit_new(void **state)
{
	char	dir[64], buf[64];
	int	fd, f;

	snprintf(dir, sizeof(dir), "/tmp/test_durable.c.%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_not_equal(fd = open(dir, O_RDONLY | O_DIRECTORY), -1);
	assert_int_not_equal(f = durable_open(fd, "t1"), -1);
	assert_int_equal(write_all(f, "first", 5), 0);
	assert_int_equal(durable_commit_new(f, fd, "t1", fd, "m", NULL,
	    NULL), 0);
	assert_int_not_equal(f = durable_open(fd, "t2"), -1);
	assert_int_equal(write_all(f, "second", 6), 0);
	syncs = 0;
	assert_int_equal(durable_commit_new(f, fd, "t2", fd, "m", count_sync,
	    &fd), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(syncs, 0);
	assert_int_equal(faccessat(fd, "t2", F_OK, 0), -1);
	slurp(fd, "m", buf, sizeof(buf));
	assert_string_equal(buf, "first");
	assert_int_equal(unlinkat(fd, "m", 0), 0);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

/* The small-file form: a stale temporary is taken over, the file replaced. */
static void
test_durable_write(void **state)
{
	struct iovec	iov[2];
	char		dir[64], buf[64];
	int		fd, f;

	snprintf(dir, sizeof(dir), "/tmp/test_durable.c.%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_not_equal(fd = open(dir, O_RDONLY | O_DIRECTORY), -1);
	assert_int_not_equal(f = openat(fd, "e.tmp", O_CREAT | O_WRONLY,
	    0644), -1);
	assert_int_equal(write_all(f, "crash leftover", 14), 0);
	close(f);
	iov[0].iov_base = "v 1\n";
	iov[0].iov_len = 4;
	iov[1].iov_base = "id X\n";
	iov[1].iov_len = 5;
	assert_int_equal(durable_write(fd, "e.tmp", "e", iov, 2), 0);
	slurp(fd, "e", buf, sizeof(buf));
	assert_string_equal(buf, "v 1\nid X\n");
	iov[1].iov_base = "id Y\n";
	assert_int_equal(durable_write(fd, "e.tmp", "e", iov, 2), 0);
	slurp(fd, "e", buf, sizeof(buf));
	assert_string_equal(buf, "v 1\nid Y\n");
	assert_int_equal(faccessat(fd, "e.tmp", F_OK, 0), -1);
	assert_int_equal(unlinkat(fd, "e", 0), 0);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A child that, once told (ledger_go()), sleeps before_us and runs
 * syncfs_wait(fd, 0) with its syncfs slowed by delay_us (or failing),
 * writing a byte on its note pipe when its run starts.
 */
struct child {
	pid_t	pid;
	int	go, note;	/* our ends of its pipes */
};

static struct child
ledger_child(int fd, long before_us, long delay_us, int fail)
{
	struct timespec	ts = { before_us / 1000000,
			    (before_us % 1000000) * 1000 };
	struct child	ch;
	int		go[2], note[2];
	char		c;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(note), 0);
	assert_int_not_equal(ch.pid = fork(), -1);
	if (ch.pid == 0) {
		close(go[1]);
		close(note[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		nanosleep(&ts, NULL);
		syncfs_note_fd = note[1];
		syncfs_delay_us = delay_us;
		syncfs_fail = fail;
		_exit(syncfs_wait(fd, 0) == 0 ? 0 : 1);
	}
	close(go[0]);
	close(note[1]);
	ch.go = go[1];
	ch.note = note[0];
	return ch;
}

static void
ledger_go(const struct child *ch)
{
	assert_int_equal(write(ch->go, "g", 1), 1);
}

static void
ledger_reap(struct child *ch, int want)
{
	int	status;

	assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want);
	close(ch->go);
	close(ch->note);
}

/* No run taken: the whole wait (100 ms), then one of our own. */
static void
ledger_own_run_after_wait(int fd)
{
	double	t0;

	syncfs_calls = 0;
	t0 = now_ms();
	assert_int_equal(syncfs_wait(fd, 100000), 0);
	assert_true(now_ms() - t0 >= 99);
	assert_int_equal(syncfs_calls, 1);
}

/* A run another process starts within the wait is taken: none of our own. */
static void
test_syncfs_wait_takes_another_process_run(void **state)
{
	struct child	ch;
	double		t0, dt;
	int		fd;

	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);
	ch = ledger_child(fd, 30000, 0, 0);
	/* A commit's run just now: mail is coming, a delivery waits. */
	assert_int_equal(syncfs_wait(fd, 0), 0);
	syncfs_calls = 0;
	ledger_go(&ch);
	t0 = now_ms();
	assert_int_equal(syncfs_wait(fd, 5000000), 0);
	dt = now_ms() - t0;
	assert_int_equal(syncfs_calls, 0);
	/* Not before the child's run, well before the wait's end. */
	assert_true(dt >= 25 && dt < 4000);
	ledger_reap(&ch, 0);
	close(fd);
}

/*
 * Alone: its own run.  While runs that wait for nobody came in the last
 * 50 ms, after the whole wait; with none, at once (nobody is coming).
 */
static void
test_syncfs_wait_alone_runs_its_own(void **state)
{
	struct timespec	quiet = { 0, 60000000 };
	double		t0;
	int		fd;

	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);
	syncfs_calls = 0;
	/* 0: at once, its own; and mail is coming. */
	assert_int_equal(syncfs_wait(fd, 0), 0);
	assert_int_equal(syncfs_calls, 1);
	ledger_own_run_after_wait(fd);

	nanosleep(&quiet, NULL);
	syncfs_calls = 0;
	t0 = now_ms();
	assert_int_equal(syncfs_wait(fd, 40000), 0);
	assert_true(now_ms() - t0 < 30);
	assert_int_equal(syncfs_calls, 1);
	close(fd);
}

/*
 * syncfs_shared(): a thread that asks while the leader waits in the
 * ledger (for a commit's run that does not come) is covered by the run
 * that ends the wait, not by one of its own after a wait of its own.
 */
struct shared_arg {
	int	fd;
	int	r;
};

static void *
shared_thread(void *p)
{
	struct shared_arg	*a = p;

	a->r = syncfs_shared(a->fd, 200000);
	return NULL;
}

static void
test_syncfs_shared_covers_who_asked_during_the_wait(void **state)
{
	struct timespec		later = { 0, 30000000 };
	struct shared_arg	a, b;
	pthread_t		ta, tb;
	double			t0, dt;
	int			fd;

	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);
	/* A commit's run just now: mail is coming, deliveries wait. */
	assert_int_equal(syncfs_wait(fd, 0), 0);
	syncfs_calls = 0;
	a.fd = b.fd = fd;
	a.r = b.r = -2;
	t0 = now_ms();
	assert_int_equal(pthread_create(&ta, NULL, shared_thread, &a), 0);
	nanosleep(&later, NULL);
	assert_int_equal(pthread_create(&tb, NULL, shared_thread, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	dt = now_ms() - t0;
	assert_int_equal(a.r, 0);
	assert_int_equal(b.r, 0);
	/* One wait, one run, for both (b waiting a second time would be a
	 * second run: the count is what tells, not the time). */
	assert_int_equal(syncfs_calls, 1);
	assert_true(dt >= 195);
	close(fd);
}

/*
 * A run that started before the call (it may have missed what the caller
 * wrote) does not count, though it ends within the wait; nor does one
 * that fails.
 */
static void
test_syncfs_wait_not_an_earlier_or_failed_run(void **state)
{
	struct child	ch;
	char		c;
	int		fd;

	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);
	/* Its run starts (and marks the ledger busy) before our call and
	 * ends 20 ms later, within our wait. */
	ch = ledger_child(fd, 0, 20000, 0);
	ledger_go(&ch);
	assert_int_equal(read(ch.note, &c, 1), 1);
	ledger_own_run_after_wait(fd);
	ledger_reap(&ch, 0);

	/* Its run starts 10 ms into our wait and fails. */
	ch = ledger_child(fd, 10000, 0, 1);
	assert_int_equal(syncfs_wait(fd, 0), 0);	/* mail is coming */
	ledger_go(&ch);
	ledger_own_run_after_wait(fd);
	ledger_reap(&ch, 1);
	close(fd);
}

/*
 * Pacing: commits (fdatasync_commit()) from a thread; a run that may wait
 * starts at once while runs take less than the time between two, and
 * while they take longer (a syncfs slowed to 20 ms, commits 2 ms apart)
 * twice their cost after the last one ended (then after a commit: with
 * one every 2 ms, not told apart here by the time).
 */
struct committer {
	int		fd;
	int		n;		/* commits, gap_ms apart */
	long		gap_ms;
	int		r;
	double		last;		/* when the last one ended */
	pthread_mutex_t	lock;
};

static void *
committer_thread(void *p)
{
	struct committer	*c = p;
	struct timespec		 gap = { 0, c->gap_ms * 1000000L };
	int			 i;

	for (i = 0; i < c->n; i++) {
		if (fdatasync_commit(c->fd) == -1)
			c->r = -1;
		pthread_mutex_lock(&c->lock);
		c->last = now_ms();
		pthread_mutex_unlock(&c->lock);
		nanosleep(&gap, NULL);
	}
	return NULL;
}

static void
committer_start(struct committer *c, pthread_t *t, const char *path, int n,
    long gap_ms)
{
	c->n = n;
	c->gap_ms = gap_ms;
	c->r = 0;
	c->last = 0;
	pthread_mutex_init(&c->lock, NULL);
	assert_int_not_equal(c->fd = open(path, O_RDWR | O_CREAT | O_TRUNC,
	    0600), -1);
	assert_int_equal(pthread_create(t, NULL, committer_thread, c), 0);
}

static void
committer_join(struct committer *c, pthread_t t, const char *path)
{
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c->r, 0);
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	unlink(path);
}

static void
test_syncfs_wait_paced_between_commits(void **state)
{
	struct timespec		 warm = { 0, 20000000 };
	struct committer	 c;
	pthread_t		 t;
	char			 path[64];
	double			 t0, t1, e, dt, since;
	int			 fd;

	snprintf(path, sizeof(path), "/tmp/test_durable.c.pace.%d",
	    (int)getpid());
	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);

	/* Runs quicker than the commits (40 ms apart here, so that a real
	 * syncfs of a busy machine's /tmp still fits): at once, after the
	 * ledger's wait (1 ms) only. */
	assert_int_equal(syncfs_wait(fd, 0), 0);
	committer_start(&c, &t, path, 4, 40);
	nanosleep(&warm, NULL);
	nanosleep(&warm, NULL);
	nanosleep(&warm, NULL);
	syncfs_calls = 0;
	t0 = now_ms();
	assert_int_equal(syncfs_wait(fd, 1000), 0);
	assert_true(now_ms() - t0 < 30);
	assert_int_equal(syncfs_calls, 1);
	/* Started after the 1 ms wait, not held for a commit (up to 5 ms;
	 * the next is 20 ms away). */
	assert_true(syncfs_started - t0 < 4.5);
	committer_join(&c, t, path);

	/* Slow runs (a commit's run of 20 ms, then a delivery's): paced. */
	assert_int_equal(durable_share(), 0);
	syncfs_delay_us = 20000;
	assert_int_equal(syncfs_wait(fd, 0), 0);
	e = now_ms();
	committer_start(&c, &t, path, 60, 2);
	nanosleep(&warm, NULL);
	syncfs_calls = 0;
	t0 = now_ms();
	assert_int_equal(syncfs_wait(fd, 1000), 0);
	t1 = now_ms();
	pthread_mutex_lock(&c.lock);
	since = c.last;
	pthread_mutex_unlock(&c.lock);
	syncfs_delay_us = 0;
	committer_join(&c, t, path);
	dt = t1 - e;
	assert_int_equal(syncfs_calls, 1);
	/* Its run (20 ms) not before twice the cost after the last run
	 * (40 ms); unpaced it would end 41 ms after it.  A commit came
	 * meanwhile, which it followed. */
	assert_true(dt >= 59 && dt < 1000);
	assert_true(since > t0);
	close(fd);
}

/*
 * A commit wakes only the runs that wait to follow one (pacing's second
 * step), not those waiting for a run's end: a thread waiting 150 ms for a
 * run nobody starts, while a commit comes every 2 ms, is woken by none of
 * them (it would switch about 75 times; it sleeps once, then paces or
 * runs its own).  Counted as the waiting thread's voluntary switches.
 */
struct runwaiter {
	int	fd;
	int	r;
	long	switches;
};

static void *
runwaiter_thread(void *p)
{
	struct runwaiter	*w = p;
	struct rusage		 a, b;

	getrusage(RUSAGE_THREAD, &a);
	w->r = syncfs_wait(w->fd, 150000);
	getrusage(RUSAGE_THREAD, &b);
	w->switches = b.ru_nvcsw - a.ru_nvcsw;
	return NULL;
}

static void
test_commit_does_not_wake_run_waiters(void **state)
{
	struct timespec		 warm = { 0, 10000000 };
	struct committer	 c;
	struct runwaiter	 w;
	pthread_t		 t, tw;
	char			 path[64];
	int			 fd;

	snprintf(path, sizeof(path), "/tmp/test_durable.c.wake.%d",
	    (int)getpid());
	assert_int_equal(durable_share(), 0);
	assert_int_not_equal(fd = open("/tmp", O_RDONLY | O_DIRECTORY), -1);
	/* A commit's run just now: mail is coming, a delivery waits. */
	assert_int_equal(syncfs_wait(fd, 0), 0);
	committer_start(&c, &t, path, 100, 2);
	nanosleep(&warm, NULL);
	w.fd = fd;
	w.r = -2;
	syncfs_calls = 0;
	assert_int_equal(pthread_create(&tw, NULL, runwaiter_thread, &w), 0);
	assert_int_equal(pthread_join(tw, NULL), 0);
	committer_join(&c, t, path);
	assert_int_equal(w.r, 0);
	/* Nobody else ran: its own run after the wait. */
	assert_int_equal(syncfs_calls, 1);
	/* Its one sleep, pacing's (a few), its syncfs's own. */
	assert_true(w.switches < 25);
	close(fd);
}

/* The write-back before a syncfs: done on a file, nothing to do on a pipe
 * (no file system), an error on a bad descriptor. */
static void
test_durable_writeback(void **state)
{
	char	path[64];
	int	fd, p[2];

	snprintf(path, sizeof(path), "/tmp/test_durable.c.wb.%d",
	    (int)getpid());
	assert_int_not_equal(fd = open(path, O_RDWR | O_CREAT | O_EXCL,
	    0600), -1);
	assert_int_equal(write_all(fd, "hail eris\n", 10), 0);
	assert_int_equal(durable_writeback(fd), 0);
	close(fd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(durable_writeback(p[1]), 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(durable_writeback(p[1]), -1);
	assert_int_equal(errno, EBADF);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_sync_shares),
		cmocka_unit_test(test_group_sync_failure_reaches_everyone),
		cmocka_unit_test(test_group_sync_lingers_for_the_expected),
		cmocka_unit_test(test_fsync_dir_shared),
		cmocka_unit_test(test_durable_commit),
		cmocka_unit_test(test_durable_commit_new),
		cmocka_unit_test(test_durable_write),
		cmocka_unit_test(test_syncfs_wait_takes_another_process_run),
		cmocka_unit_test(test_syncfs_wait_alone_runs_its_own),
		cmocka_unit_test(test_syncfs_shared_covers_who_asked_during_the_wait),
		cmocka_unit_test(test_syncfs_wait_not_an_earlier_or_failed_run),
		cmocka_unit_test(test_syncfs_wait_paced_between_commits),
		cmocka_unit_test(test_commit_does_not_wake_run_waiters),
		cmocka_unit_test(test_durable_writeback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
