/*
 * Unit tests for src/server/shared/spool.c: a message written the way the workers
 * write it (envelope, empty line, message; commit = one rename) reads back
 * with spool_open_queued(), the queue's own envelope supersedes the file's,
 * an envelope larger than the first read still ends where it should, a
 * file without the end of its envelope is refused, delivered or aborted
 * messages' files are recycled, and what a commit syncs: its file's data
 * and queue/, once, shared by the commits of the same moment.
 *
 * With spool-sync filesystem (sync_fs): the commit is one syncfs shared by
 * the commits of the same moment, and a file whose seal does not match
 * (torn, truncated, a recycled file's old content) is refused with
 * EBADMSG and can be set aside.
 *
 * Linked with -Wl,--wrap=fsync, --wrap=fdatasync and --wrap=syncfs
 * (Makefile): the wrappers count every sync of the code under test.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "common/durable.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"

int	__real_fsync(int);
int	__wrap_fsync(int);
int	__real_fdatasync(int);
int	__wrap_fdatasync(int);
int	__real_syncfs(int);
int	__wrap_syncfs(int);

/* Syncs since the last reset: fsyncs of queue/, fdatasyncs, the rest. */
static pthread_mutex_t	count_lock = PTHREAD_MUTEX_INITIALIZER;
static ino_t		queue_ino;
static unsigned		n_queue_fsync, n_fdatasync, n_other, n_syncfs;

int
__wrap_fsync(int fd)
{
	struct stat	st;

	pthread_mutex_lock(&count_lock);
	if (fstat(fd, &st) == 0 && st.st_ino == queue_ino)
		n_queue_fsync++;
	else
		n_other++;
	pthread_mutex_unlock(&count_lock);
	return __real_fsync(fd);
}

int
__wrap_fdatasync(int fd)
{
	pthread_mutex_lock(&count_lock);
	n_fdatasync++;
	pthread_mutex_unlock(&count_lock);
	return __real_fdatasync(fd);
}

int
__wrap_syncfs(int fd)
{
	pthread_mutex_lock(&count_lock);
	n_syncfs++;
	pthread_mutex_unlock(&count_lock);
	return __real_syncfs(fd);
}

static void
reset_counts(int queue_fd)
{
	struct stat	st;

	assert_int_equal(fstat(queue_fd, &st), 0);
	pthread_mutex_lock(&count_lock);
	queue_ino = st.st_ino;
	n_queue_fsync = n_fdatasync = n_other = n_syncfs = 0;
	pthread_mutex_unlock(&count_lock);
}

struct fixture {
	char		dir[64];
	struct spool	sp;
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));
	char		 err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_spool.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(spool_setup(f->dir, -1, -1, err, sizeof(err)), 0);
	assert_int_equal(spool_open(&f->sp, f->dir), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	spool_close(&f->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Spool a message to nrcpts recipients; returns its id in id. */
static void
spool_one(struct fixture *f, size_t nrcpts, const char *body,
    char id[SPOOL_ID_LEN + 1])
{
	struct spool_msg	 m;
	struct envelope		 env;
	char			*text, addr[300];
	size_t			 len, i;

	assert_int_equal(spool_msg_create(&f->sp, &m), 0);
	memset(&env, 0, sizeof(env));
	memcpy(env.id, m.id, sizeof(env.id));
	env.time = 1700000000;
	snprintf(env.ip, sizeof(env.ip), "192.0.2.1");
	snprintf(env.helo, sizeof(env.helo), "client.example");
	snprintf(env.from, sizeof(env.from), "a@example.org");
	for (i = 0; i < nrcpts; i++) {
		/* Long addresses: the envelope outgrows the first read. */
		snprintf(addr, sizeof(addr), "%0200zu@example.net", i);
		assert_int_equal(envelope_add_rcpt(&env, addr, 1), 0);
	}
	assert_int_equal(envelope_format(&env, &text, &len), 0);
	envelope_free(&env);
	spool_msg_envelope(&m, text, len);
	free(text);
	spool_msg_write(&m, body, strlen(body));
	assert_int_equal(m.size, strlen(body));
	assert_int_equal(spool_msg_commit(&m), 0);
	memcpy(id, m.id, SPOOL_ID_LEN + 1);
}

static void
read_body(int fd, off_t off, uint64_t size, const char *want)
{
	char	buf[256];

	assert_int_equal(size, strlen(want));
	/* A recycled file may go on after its seal's end: read to there. */
	assert_int_equal(pread_upto(fd, buf, sizeof(buf), off, off +
	    (off_t)size), (ssize_t)size);
	assert_memory_equal(buf, want, size);
}

static void
test_round_trip(void **state)
{
	struct fixture	*f = *state;
	struct envelope	 env;
	struct stat	 st;
	char		 id[SPOOL_ID_LEN + 1], name[128], err[128];
	const char	*body = "Subject: x\r\n\r\nhello\r\n";
	off_t		 off;
	uint64_t	 size;
	int		 fd;

	spool_one(f, 1, body, id);
	/* Committed: queue/ID.msg only, no ID.part left. */
	snprintf(name, sizeof(name), "%s/queue/%s.part", f->dir, id);
	assert_int_equal(stat(name, &st), -1);
	snprintf(name, sizeof(name), "%s/queue/%s.env", f->dir, id);
	assert_int_equal(stat(name, &st), -1);
	fd = spool_open_queued(f->sp.queue_fd, id, &env, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	assert_string_equal(env.id, id);
	assert_string_equal(env.from, "a@example.org");
	assert_int_equal(env.nrcpts, 1);
	read_body(fd, off, size, body);
	envelope_free(&env);
	close(fd);
	/* Without an envelope wanted, the offset alone. */
	fd = spool_open_queued(f->sp.queue_fd, id, NULL, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	read_body(fd, off, size, body);
	close(fd);
}

static void
test_queue_envelope_supersedes(void **state)
{
	struct fixture	*f = *state;
	struct envelope	 env;
	char		 id[SPOOL_ID_LEN + 1], name[128], err[128], text[256];
	off_t		 off;
	uint64_t	 size;
	FILE		*fp;
	int		 fd;

	spool_one(f, 2, "x\r\n", id);
	snprintf(name, sizeof(name), "%s/queue/%s.env", f->dir, id);
	snprintf(text, sizeof(text), "v 1\nid %s\ntime 1700000000\n"
	    "ip 192.0.2.1\nhelo c.example\nfrom b@example.org\nbody 7BIT\n"
	    "smtputf8 0\nremote z@example.net\nretry 2 1700000600\n", id);
	assert_non_null(fp = fopen(name, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	fd = spool_open_queued(f->sp.queue_fd, id, &env, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	assert_string_equal(env.from, "b@example.org");
	assert_int_equal(env.nrcpts, 1);
	assert_int_equal(env.rcpts[0].attempts, 2);
	read_body(fd, off, size, "x\r\n");
	envelope_free(&env);
	close(fd);
}

/* 200 recipients of 200 octets: about 45 KB of envelope. */
static void
test_large_envelope(void **state)
{
	struct fixture	*f = *state;
	struct envelope	 env;
	char		 id[SPOOL_ID_LEN + 1], err[128];
	off_t		 off;
	uint64_t	 size;
	int		 fd;

	spool_one(f, 200, "big\r\n", id);
	fd = spool_open_queued(f->sp.queue_fd, id, &env, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	assert_true(off > 40000);
	assert_int_equal(env.nrcpts, 200);
	read_body(fd, off, size, "big\r\n");
	envelope_free(&env);
	close(fd);
}

static void
test_bad_files(void **state)
{
	struct fixture	*f = *state;
	struct envelope	 env;
	char		 name[128], err[128];
	off_t		 off;
	uint64_t	 size;
	FILE		*fp;

	/* Gone. */
	assert_int_equal(spool_open_queued(f->sp.queue_fd,
	    "0123456789ABCDEF", NULL, &off, &size, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	/* No empty line: the envelope never ends. */
	snprintf(name, sizeof(name), "%s/queue/0123456789ABCDEF.msg", f->dir);
	assert_non_null(fp = fopen(name, "w"));
	fputs("v 1\nid 0123456789ABCDEF\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(spool_open_queued(f->sp.queue_fd,
	    "0123456789ABCDEF", NULL, &off, &size, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	/* An envelope of another message. */
	assert_non_null(fp = fopen(name, "w"));
	fputs("v 1\nid FEDCBA9876543210\ntime 1\nip 192.0.2.1\nhelo h\n"
	    "from \nbody 7BIT\nsmtputf8 0\nlocal a@b.example\n\nbody\r\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(spool_open_queued(f->sp.queue_fd,
	    "0123456789ABCDEF", &env, &off, &size, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "FEDCBA9876543210"));
}

static int
count_free(struct fixture *f)
{
	char		 name[128];
	struct stat	 st;
	int		 k, n = 0;

	for (k = 0; k < SPOOL_FREE_MAX; k++) {
		snprintf(name, sizeof(name), "%s/queue/free.%d", f->dir, k);
		if (stat(name, &st) == 0)
			n++;
	}
	return n;
}

/*
 * A delivered message's file is recycled: spool_remove() and then
 * spool_recycle() leave it as queue/free.K, the next message takes it
 * (same inode), and a shorter message is read to its seal's end, the
 * file not cut.
 */
static void
test_recycle(void **state)
{
	struct fixture	*f = *state;
	struct stat	 st;
	char		 id[SPOOL_ID_LEN + 1], id2[SPOOL_ID_LEN + 1];
	char		 name[128], err[128], big[200];
	ino_t		 ino;
	off_t		 off;
	uint64_t	 size;
	int		 fd;

	spool_set_share(&f->sp, 0, 1);
	memset(big, 'b', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	spool_one(f, 3, big, id);
	snprintf(name, sizeof(name), "%s/queue/%s.msg", f->dir, id);
	assert_int_equal(stat(name, &st), 0);
	ino = st.st_ino;
	assert_int_equal(spool_remove(&f->sp, id), 0);
	assert_int_equal(stat(name, &st), -1);
	/* It waits as ID.dead until a recycle makes the removal durable. */
	assert_int_equal(spool_dead(&f->sp), 1);
	assert_int_equal(count_free(f), 0);
	snprintf(name, sizeof(name), "%s/queue/%s.dead", f->dir, id);
	assert_int_equal(stat(name, &st), 0);
	spool_recycle(&f->sp);
	assert_int_equal(spool_dead(&f->sp), 0);
	assert_int_equal(stat(name, &st), -1);
	assert_int_equal(count_free(f), 1);
	/* Removing it again is no error: it is gone. */
	assert_int_equal(spool_remove(&f->sp, id), 0);
	assert_int_equal(spool_dead(&f->sp), 0);

	/* The first create found none: the next ones would not look for a
	 * while (SPOOL_FREE_SKIP).  Start again. */
	spool_set_share(&f->sp, 0, 1);
	spool_one(f, 1, "short\r\n", id2);
	assert_int_equal(count_free(f), 0);
	snprintf(name, sizeof(name), "%s/queue/%s.msg", f->dir, id2);
	assert_int_equal(stat(name, &st), 0);
	assert_int_equal(st.st_ino, ino);
	fd = spool_open_queued(f->sp.queue_fd, id2, NULL, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	read_body(fd, off, size, "short\r\n");
	/* Not cut (a size change costs a journal commit): the old message's
	 * last octets follow the seal's end, and no reader goes there. */
	assert_true(st.st_size > off + (off_t)size);
	close(fd);
}

/* Files in queue/ whose names end with suffix. */
static int
count_suffix(struct fixture *f, const char *suffix)
{
	char		 name[128];
	struct dirent	*de;
	DIR		*d;
	size_t		 len;
	int		 n = 0;

	snprintf(name, sizeof(name), "%s/queue", f->dir);
	assert_non_null(d = opendir(name));
	while ((de = readdir(d)) != NULL)
		if ((len = strlen(de->d_name)) > strlen(suffix) &&
		    strcmp(de->d_name + len - strlen(suffix), suffix) == 0)
			n++;
	closedir(d);
	return n;
}

/*
 * The in-place commit (spool-sync filesystem, a stock): recycled files are
 * renamed to new ids' ID.part ahead of their messages; once a syncfs since
 * that rename has succeeded, a message in one of them is committed by its
 * seal and one fdatasync, no syncfs and no fsync of queue/.  Given back,
 * the stock is free files again.
 */
static void
test_in_place_commit(void **state)
{
	struct fixture	*f = *state;
	char		 id[SPOOL_ID_LEN + 1], ids[4][SPOOL_ID_LEN + 1];
	char		 name[128], err[128];
	struct stat	 st;
	off_t		 off;
	uint64_t	 size;
	int		 fd, i;

	f->sp.sync_fs = 1;
	spool_set_share(&f->sp, 0, 1);
	for (i = 0; i < 4; i++)
		spool_one(f, 1, "an older and longer message\r\n", ids[i]);
	for (i = 0; i < 4; i++)
		assert_int_equal(spool_remove(&f->sp, ids[i]), 0);
	spool_recycle(&f->sp);
	assert_int_equal(count_free(f), 4);
	spool_set_share(&f->sp, 0, 1);
	spool_set_stock(&f->sp, 60);
	/* The stock was empty: this one fills it, and its commit's syncfs
	 * makes the stock's names durable. */
	reset_counts(f->sp.queue_fd);
	spool_one(f, 1, "first\r\n", id);
	assert_int_equal(n_syncfs, 1);
	assert_int_equal(n_fdatasync, 0);
	assert_int_equal(f->sp.nstock, 4);
	assert_int_equal(count_free(f), 0);
	assert_int_equal(count_suffix(f, ".part"), 4);
	/* In place: one fdatasync, nothing else. */
	reset_counts(f->sp.queue_fd);
	spool_one(f, 1, "second\r\n", id);
	assert_int_equal(n_fdatasync, 1);
	assert_int_equal(n_syncfs + n_queue_fsync + n_other, 0);
	assert_int_equal(count_suffix(f, ".part"), 3);
	snprintf(name, sizeof(name), "%s/queue/%s.msg", f->dir, id);
	assert_int_equal(stat(name, &st), 0);
	fd = spool_open_queued(f->sp.queue_fd, id, NULL, &off, &size, err,
	    sizeof(err));
	assert_true(fd >= 0);
	read_body(fd, off, size, "second\r\n");
	close(fd);
	/* A stock older than its limit goes back: the next commit is the
	 * shared one, with a new file. */
	f->sp.stock[0].since -= 61;
	f->sp.stock[1].since -= 61;
	f->sp.stock[2].since -= 61;
	reset_counts(f->sp.queue_fd);
	spool_one(f, 1, "third\r\n", id);
	assert_int_equal(n_syncfs, 1);
	assert_int_equal(n_fdatasync, 0);
	/* Given back (a worker that stops): free files, no ID.part. */
	spool_set_stock(&f->sp, 0);
	assert_int_equal(count_suffix(f, ".part"), 0);
	assert_true(count_free(f) >= 3);
}

/*
 * At the queue's start: a sealed ID.part of its own id (an in-place commit
 * whose rename to ID.msg a crash kept off the disk) is taken as ID.msg;
 * a stocked file (the old message under a new id), a torn one, and one
 * being written (the seal's placeholder) are not messages.
 */
static void
test_recover_part(void **state)
{
	struct fixture		*f = *state;
	struct spool_msg	 m;
	char			 id[SPOOL_ID_LEN + 1], id2[SPOOL_ID_LEN + 1];
	char			 a[128], b[128], err[128];
	struct stat		 st;
	off_t			 off;
	uint64_t		 size;
	int			 fd, qfd = f->sp.queue_fd;

	spool_one(f, 1, "recover me\r\n", id);
	snprintf(a, sizeof(a), "%s/queue/%s.msg", f->dir, id);
	snprintf(b, sizeof(b), "%s/queue/%s.part", f->dir, id);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(spool_recover_part(qfd, id), 1);
	assert_int_equal(stat(b, &st), -1);
	fd = spool_open_queued(qfd, id, NULL, &off, &size, err, sizeof(err));
	assert_true(fd >= 0);
	read_body(fd, off, size, "recover me\r\n");
	close(fd);
	assert_int_equal(spool_recover_part(qfd, id), 0);	/* none */

	/* A stocked file: another id's content. */
	spool_new_id(id2);
	snprintf(b, sizeof(b), "%s/queue/%s.part", f->dir, id2);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(spool_recover_part(qfd, id2), 0);
	assert_int_equal(stat(b, &st), 0);

	/* Torn: its own id, one octet of the message changed. */
	snprintf(a, sizeof(a), "%s/queue/%s.part", f->dir, id);
	assert_int_equal(rename(b, a), 0);
	assert_true((fd = open(a, O_WRONLY)) >= 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(pwrite(fd, "X", 1, st.st_size - 3), 1);
	close(fd);
	assert_int_equal(spool_recover_part(qfd, id), 0);
	assert_int_equal(stat(a, &st), 0);

	/* Being written: the placeholder is no seal that matches. */
	assert_int_equal(spool_msg_create(&f->sp, &m), 0);
	spool_msg_envelope(&m, "v 1", 3);
	spool_msg_write(&m, "x\r\n", 3);
	assert_int_equal(spool_recover_part(qfd, m.id), 0);
	spool_msg_abort(&m);
}

/* A large message's file is deleted, not kept (the pool stays small). */
static void
test_large_not_kept(void **state)
{
	struct fixture	*f = *state;
	struct stat	 st;
	char		 id[SPOOL_ID_LEN + 1], name[128], *big;

	assert_non_null(big = malloc(SPOOL_FREE_KEEP + 2));
	memset(big, 'x', SPOOL_FREE_KEEP);
	memcpy(big + SPOOL_FREE_KEEP - 2, "\r\n", 3);
	spool_set_share(&f->sp, 0, 1);
	spool_one(f, 1, big, id);
	free(big);
	assert_int_equal(spool_remove(&f->sp, id), 0);
	spool_recycle(&f->sp);
	assert_int_equal(count_free(f), 0);
	snprintf(name, sizeof(name), "%s/queue/%s.dead", f->dir, id);
	assert_int_equal(stat(name, &st), -1);
}

/* An aborted message's file is free at once; a process without a share
 * (the queue) never takes one. */
static void
test_abort_recycles(void **state)
{
	struct fixture		*f = *state;
	struct spool_msg	 m;
	char			 id[SPOOL_ID_LEN + 1];

	assert_int_equal(spool_msg_create(&f->sp, &m), 0);
	spool_msg_write(&m, "x", 1);
	spool_msg_abort(&m);
	assert_int_equal(count_free(f), 1);
	spool_one(f, 1, "new\r\n", id);	/* no share: a new file */
	assert_int_equal(count_free(f), 1);
	spool_set_share(&f->sp, 0, 1);
	spool_one(f, 1, "new\r\n", id);
	assert_int_equal(count_free(f), 0);
}

/* A failed write or a too large envelope is reported by commit, and the
 * file is gone. */
static void
test_commit_reports_errors(void **state)
{
	struct fixture		*f = *state;
	struct spool_msg	 m;
	struct stat		 st;
	char			 name[128], *big;

	assert_int_equal(spool_msg_create(&f->sp, &m), 0);
	assert_non_null(big = malloc(SPOOL_ENV_MAX));
	memset(big, 'x', SPOOL_ENV_MAX);
	spool_msg_envelope(&m, big, SPOOL_ENV_MAX);
	free(big);
	snprintf(name, sizeof(name), "%s/queue/%s.part", f->dir, m.id);
	assert_int_equal(stat(name, &st), 0);
	assert_int_equal(spool_msg_commit(&m), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(stat(name, &st), -1);
}

/*
 * A commit syncs the file's data and queue/ once each, nothing else (no
 * second folder: the message is received in queue/ as ID.part); a
 * recycled file the same.  Removals cost no sync until spool_recycle(),
 * which makes any number of them durable with one fsync of queue/.
 */
static void
test_commit_syncs(void **state)
{
	struct fixture	*f = *state;
	char		 id[SPOOL_ID_LEN + 1], ids[8][SPOOL_ID_LEN + 1];
	int		 i;

	spool_set_share(&f->sp, 0, 1);
	reset_counts(f->sp.queue_fd);
	spool_one(f, 1, "one\r\n", id);
	assert_int_equal(n_fdatasync, 1);
	assert_int_equal(n_queue_fsync, 1);
	assert_int_equal(n_other, 0);
	for (i = 0; i < 8; i++)
		spool_one(f, 1, "more\r\n", ids[i]);
	reset_counts(f->sp.queue_fd);
	assert_int_equal(spool_remove(&f->sp, id), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(spool_remove(&f->sp, ids[i]), 0);
	assert_int_equal(n_fdatasync + n_queue_fsync + n_other, 0);
	spool_recycle(&f->sp);
	assert_int_equal(n_queue_fsync, 1);
	assert_int_equal(n_fdatasync + n_other, 0);
	assert_int_equal(count_free(f), 9);
	/* A recycled file: the same two syncs. */
	spool_set_share(&f->sp, 0, 1);
	reset_counts(f->sp.queue_fd);
	spool_one(f, 1, "again\r\n", id);
	assert_int_equal(count_free(f), 8);
	assert_int_equal(n_fdatasync, 1);
	assert_int_equal(n_queue_fsync, 1);
	assert_int_equal(n_other, 0);
}

#define COMMITTERS	8
#define COMMITS		50

struct committer {
	struct fixture	*f;
	pthread_barrier_t *start;
};

static void *
committer_main(void *arg)
{
	struct committer	*c = arg;
	char			 id[SPOOL_ID_LEN + 1];
	int			 i;

	for (i = 0; i < COMMITS; i++) {
		pthread_barrier_wait(c->start);
		spool_one(c->f, 1, "concurrent\r\n", id);
	}
	return NULL;
}

/*
 * Group commit: threads that commit at the same moment share the fsync
 * of queue/.  Each commit still syncs its own file; the folder's fsyncs
 * are fewer than the commits (each round starts all threads together, so
 * in every round at least the last ones to rename wait for one run).
 */
static void
test_group_commit(void **state)
{
	struct fixture		*f = *state;
	struct committer	 c[COMMITTERS];
	pthread_t		 th[COMMITTERS];
	pthread_barrier_t	 start;
	int			 i;

	assert_int_equal(pthread_barrier_init(&start, NULL, COMMITTERS), 0);
	reset_counts(f->sp.queue_fd);
	for (i = 0; i < COMMITTERS; i++) {
		c[i].f = f;
		c[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, committer_main,
		    &c[i]), 0);
	}
	for (i = 0; i < COMMITTERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start);
	print_message("%d commits: %u fdatasync, %u fsync of queue/\n",
	    COMMITTERS * COMMITS, n_fdatasync, n_queue_fsync);
	assert_int_equal(n_fdatasync, COMMITTERS * COMMITS);
	assert_int_equal(n_other, 0);
	assert_true(n_queue_fsync < COMMITTERS * COMMITS);
}

/* The commit never replaces a committed message of the same id. */
static void
test_commit_never_replaces(void **state)
{
	struct fixture		*f = *state;
	struct spool_msg	 m;
	struct stat		 st;
	char			 name[128], part[128];
	FILE			*fp;

	assert_int_equal(spool_msg_create(&f->sp, &m), 0);
	spool_msg_envelope(&m, "v 1\n", 4);
	spool_msg_write(&m, "second\r\n", 8);
	snprintf(name, sizeof(name), "%s/queue/%s.msg", f->dir, m.id);
	snprintf(part, sizeof(part), "%s/queue/%s.part", f->dir, m.id);
	assert_non_null(fp = fopen(name, "w"));
	fputs("first", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(spool_msg_commit(&m), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat(name, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(stat(part, &st), -1);
}

/* spool-sync filesystem: no fdatasync, no fsync; one syncfs a commit. */
static void
test_commit_syncfs(void **state)
{
	struct fixture	*f = *state;
	struct envelope	 env;
	char		 id[SPOOL_ID_LEN + 1], err[256], body[64];
	off_t		 off;
	uint64_t	 size;
	int		 fd;

	f->sp.sync_fs = 1;
	reset_counts(f->sp.queue_fd);
	spool_one(f, 2, "sealed\r\n", id);
	assert_int_equal(n_syncfs, 1);
	assert_int_equal(n_fdatasync, 0);
	assert_int_equal(n_queue_fsync, 0);
	assert_int_equal(n_other, 0);
	fd = spool_open_queued(f->sp.queue_fd, id, &env, &off, &size, err,
	    sizeof(err));
	assert_true(fd != -1);
	assert_string_equal(env.id, id);
	assert_int_equal(env.nrcpts, 2);
	assert_int_equal(size, 8);
	assert_int_equal(pread(fd, body, sizeof(body), off), 8);
	assert_memory_equal(body, "sealed\r\n", 8);
	envelope_free(&env);
	close(fd);
}

/* Group commit with syncfs: fewer syncs than commits, and nothing else. */
static void
test_group_commit_syncfs(void **state)
{
	struct fixture		*f = *state;
	struct committer	 c[COMMITTERS];
	pthread_t		 th[COMMITTERS];
	pthread_barrier_t	 start;
	int			 i;

	f->sp.sync_fs = 1;
	assert_int_equal(pthread_barrier_init(&start, NULL, COMMITTERS), 0);
	reset_counts(f->sp.queue_fd);
	for (i = 0; i < COMMITTERS; i++) {
		c[i].f = f;
		c[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, committer_main,
		    &c[i]), 0);
	}
	for (i = 0; i < COMMITTERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start);
	print_message("%d commits: %u syncfs\n", COMMITTERS * COMMITS,
	    n_syncfs);
	assert_int_equal(n_fdatasync + n_queue_fsync + n_other, 0);
	assert_true(n_syncfs >= 1 && n_syncfs < COMMITTERS * COMMITS);
}

/* Open id: -1 with EBADMSG and "torn" in the reason. */
static void
assert_torn(struct fixture *f, const char *id)
{
	struct envelope	 env;
	char		 err[256];
	off_t		 off;
	uint64_t	 size;

	errno = 0;
	assert_int_equal(spool_open_queued(f->sp.queue_fd, id, &env, &off,
	    &size, err, sizeof(err)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(err, "torn"));
}

/*
 * What a crash before the commit's syncfs may leave under ID.msg, each
 * refused: an octet changed, the file cut short, a seal
 * that is not one, and a recycled file's old message (a valid seal, of
 * another id).  spool_set_torn() sets one aside as ID.torn.
 */
static void
test_torn_files(void **state)
{
	struct fixture	*f = *state;
	struct stat	 st;
	char		 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	char		 pa[128], pb[128], pt[128], buf[4096];
	ssize_t		 n;
	int		 fd;

	f->sp.sync_fs = 1;
	spool_one(f, 1, "first message\r\n", a);
	spool_one(f, 1, "second message\r\n", b);
	snprintf(pa, sizeof(pa), "%s/queue/%s.msg", f->dir, a);
	snprintf(pb, sizeof(pb), "%s/queue/%s.msg", f->dir, b);
	/* One octet of the body. */
	assert_true((fd = open(pa, O_RDWR)) != -1);
	assert_true(fstat(fd, &st) == 0);
	assert_int_equal(pwrite(fd, "F", 1, st.st_size - 5), 1);
	assert_torn(f, a);
	assert_int_equal(pwrite(fd, "a", 1, st.st_size - 5), 1);
	/* Cut short. */
	assert_int_equal(ftruncate(fd, st.st_size - 3), 0);
	assert_torn(f, a);
	/* Longer (a recycled file not cut): whole, and it ends where its
	 * seal says, the size the readers stop at. */
	assert_int_equal(ftruncate(fd, st.st_size), 0);
	assert_int_equal(pwrite(fd, "e\r\n", 3, st.st_size - 3), 3);
	assert_int_equal(pwrite(fd, "an old message's tail\r\n", 23,
	    st.st_size), 23);
	{
		struct envelope	env;
		char		err[256], body[64];
		off_t		off;
		uint64_t	size;
		int		mfd;

		assert_true((mfd = spool_open_queued(f->sp.queue_fd, a, &env,
		    &off, &size, err, sizeof(err))) != -1);
		assert_int_equal(off + (off_t)size, st.st_size);
		assert_true(size < sizeof(body));
		assert_int_equal(pread_upto(mfd, body, sizeof(body), off,
		    off + (off_t)size), (ssize_t)size);
		assert_int_equal(size, 15);
		assert_memory_equal(body, "first message\r\n", 15);
		assert_int_equal(pread_upto(mfd, body, sizeof(body), off +
		    (off_t)size, off + (off_t)size), 0);
		/* An end the file does not reach. */
		assert_int_equal(pread_upto(mfd, body, sizeof(body),
		    st.st_size + 23, st.st_size + 40), -1);
		assert_int_equal(errno, EIO);
		envelope_free(&env);
		close(mfd);
	}
	assert_int_equal(ftruncate(fd, st.st_size), 0);
	assert_int_equal(pwrite(fd, "e\r\n", 3, st.st_size - 3), 3);
	/* A seal that is not one. */
	assert_int_equal(pwrite(fd, "x", 1, 10), 1);
	assert_torn(f, a);
	close(fd);
	/* b's whole file under a's name. */
	assert_true((fd = open(pb, O_RDONLY)) != -1);
	assert_true((n = read(fd, buf, sizeof(buf))) > 0);
	close(fd);
	assert_true((fd = open(pa, O_WRONLY | O_TRUNC)) != -1);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
	assert_torn(f, a);
	/* Set aside: gone as a message, kept as ID.torn. */
	assert_int_equal(spool_set_torn(f->sp.queue_fd, a), 0);
	snprintf(pt, sizeof(pt), "%s/queue/%s.torn", f->dir, a);
	assert_int_equal(stat(pa, &st), -1);
	assert_int_equal(stat(pt, &st), 0);
	/* b is untouched. */
	{
		struct envelope	env;
		char		err[256];
		off_t		off;
		uint64_t	size;

		assert_true((fd = spool_open_queued(f->sp.queue_fd, b, &env,
		    &off, &size, err, sizeof(err))) != -1);
		envelope_free(&env);
		close(fd);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_syncs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_syncfs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_syncfs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_torn_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_never_replaces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_envelope_supersedes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_envelope, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_reports_errors,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_recycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort_recycles, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_in_place_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover_part, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_not_kept, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
