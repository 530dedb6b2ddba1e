/*
 * Writing messages into the spool.  The order of the steps is the one
 * INTERNALS.md documents; keep them in step.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/durable.h"
#include "server/spool.h"

static int	make_dir(const char *, long, long, char *, size_t);
static int	group_fsync(const struct spool *);

/*
 * Group commit of the spool directories: a commit whose renames happened
 * before the fsyncs of queue/ and incoming/ started is covered by them, so
 * concurrent commits on the pool threads share one pair.  The counters are
 * generations: `done` covers every rename up to it.
 */
static pthread_mutex_t	gc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	gc_cond = PTHREAD_COND_INITIALIZER;
static unsigned long	gc_requested, gc_done;
static int		gc_running, gc_error;

static int
group_fsync(const struct spool *sp)
{
	unsigned long	mine, target;
	int		r = 0;

	pthread_mutex_lock(&gc_lock);
	mine = ++gc_requested;
	while (gc_done < mine) {
		if (gc_running) {
			pthread_cond_wait(&gc_cond, &gc_lock);
			continue;
		}
		/* Lead an fsync for everything renamed so far. */
		gc_running = 1;
		target = gc_requested;
		pthread_mutex_unlock(&gc_lock);
		/* The new entries, then the old ones' removal (a file
		 * system without a journal needs both). */
		r = fsync_dirfd(sp->queue_fd);
		if (r == 0)
			r = fsync_dirfd(sp->incoming_fd);
		pthread_mutex_lock(&gc_lock);
		gc_running = 0;
		gc_error = r == -1 ? errno : 0;
		gc_done = target;
		pthread_cond_broadcast(&gc_cond);
	}
	/* The fsync that covered us failed: so did our commit. */
	if (gc_error != 0 && r == 0) {
		errno = gc_error;
		r = -1;
	}
	pthread_mutex_unlock(&gc_lock);
	return r;
}

static int
make_dir(const char *path, long uid, long gid, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (uid != -1 && (st.st_uid != (uid_t)uid || st.st_gid != (gid_t)gid) &&
	    chown(path, (uid_t)uid, (gid_t)gid) == -1) {
		snprintf(err, errlen, "%s: chown: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_setup(const char *path, long uid, long gid, char *err, size_t errlen)
{
	char	sub[4096];

	if (make_dir(path, uid, gid, err, errlen) == -1)
		return -1;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/incoming", path) >=
	    sizeof(sub) || make_dir(sub, uid, gid, err, errlen) == -1)
		return -1;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/queue", path) >=
	    sizeof(sub) || make_dir(sub, uid, gid, err, errlen) == -1)
		return -1;
	/* The auth process's socket: only the server's user gets in. */
	if ((size_t)snprintf(sub, sizeof(sub), "%s/run", path) >=
	    sizeof(sub) || make_dir(sub, uid, gid, err, errlen) == -1)
		return -1;
	return 0;
}

int
spool_open(struct spool *sp, const char *path)
{
	sp->incoming_fd = sp->queue_fd = -1;
	sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd == -1)
		return -1;
	sp->incoming_fd = openat(sp->dirfd, "incoming",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp->queue_fd = openat(sp->dirfd, "queue",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->incoming_fd == -1 || sp->queue_fd == -1) {
		spool_close(sp);
		return -1;
	}
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp->dirfd != -1)
		close(sp->dirfd);
	if (sp->incoming_fd != -1)
		close(sp->incoming_fd);
	if (sp->queue_fd != -1)
		close(sp->queue_fd);
	sp->dirfd = sp->incoming_fd = sp->queue_fd = -1;
}

void
spool_new_id(char id[SPOOL_ID_LEN + 1])
{
	static const char	hex[] = "0123456789ABCDEF";
	unsigned char		rnd[SPOOL_ID_LEN / 2];
	size_t			i;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	id[SPOOL_ID_LEN] = '\0';
}

int
spool_msg_create(struct spool *sp, struct spool_msg *m)
{
	char	name[SPOOL_ID_LEN + 8];
	int	tries;

	memset(m, 0, sizeof(*m));
	m->spool = sp;
	m->fd = -1;
	for (tries = 0; tries < 8; tries++) {
		spool_new_id(m->id);
		snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, m->id);
		m->fd = openat(sp->incoming_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd != -1)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

void
spool_msg_write(struct spool_msg *m, const void *data, size_t len)
{
	if (m->error != 0 || m->fd == -1)
		return;
	if (write_all(m->fd, data, len) == -1)
		m->error = errno;
	else
		m->size += len;
}

int
spool_msg_commit(struct spool_msg *m, const char *env, size_t envlen)
{
	struct spool	*sp = m->spool;
	struct iovec	 iov;
	char		 msgname[SPOOL_ID_LEN + 8], envname[SPOOL_ID_LEN + 8];
	int		 saved;

	snprintf(msgname, sizeof(msgname), "%s" SPOOL_MSG_SUFFIX, m->id);
	snprintf(envname, sizeof(envname), "%s" SPOOL_ENV_SUFFIX, m->id);
	if (m->error != 0) {
		errno = m->error;
		goto fail;
	}
	/* Steps 2 and 3: the message, then its envelope, on disk. */
	if (fsync_close(m->fd) == -1) {
		m->fd = -1;
		goto fail;
	}
	m->fd = -1;
	iov.iov_base = (void *)(uintptr_t)env;
	iov.iov_len = envlen;
	if (durable_create(sp->incoming_fd, envname, &iov, 1) == -1)
		goto fail;
	/* Step 4: the message first, so that an envelope never points at
	 * nothing. */
	if (renameat(sp->incoming_fd, msgname, sp->queue_fd, msgname) == -1)
		goto fail;
	/* Step 5: the commit point. */
	if (renameat(sp->incoming_fd, envname, sp->queue_fd, envname) == -1) {
		saved = errno;
		unlinkat(sp->queue_fd, msgname, 0);
		unlinkat(sp->incoming_fd, envname, 0);
		errno = saved;
		return -1;
	}
	/*
	 * Step 6: both directories' entries durable; concurrent commits
	 * share the fsyncs (group commit).
	 */
	if (group_fsync(sp) == -1) {
		saved = errno;
		unlinkat(sp->queue_fd, envname, 0);
		unlinkat(sp->queue_fd, msgname, 0);
		errno = saved;
		return -1;
	}
	return 0;
fail:
	saved = errno;
	spool_msg_abort(m);
	unlinkat(sp->incoming_fd, envname, 0);
	errno = saved;
	return -1;
}

void
spool_msg_abort(struct spool_msg *m)
{
	char	name[SPOOL_ID_LEN + 8];

	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->spool != NULL && m->id[0] != '\0') {
		snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, m->id);
		unlinkat(m->spool->incoming_fd, name, 0);
	}
	m->id[0] = '\0';
}
