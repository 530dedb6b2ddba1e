/*
 * The queue process.
 *
 * Messages arrive as ids on the notify socket, and from scans of
 * spool/queue at start and every minute.  Each delivery runs on the thread
 * pool (Maildir writes fsync); the loop only keeps the table of messages it
 * knows and their retry times.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/durable.h"
#include "common/log.h"
#include "common/workq.h"
#include "server/envelope.h"
#include "server/maildir.h"
#include "server/queue.h"
#include "server/spool.h"

#define QUEUE_THREADS	4
#define SCAN_SECONDS	60
#define RETRY_MIN	60
#define RETRY_MAX	3600
#define HASH_SIZE	4096
#define ENV_MAX		(1024 * 1024)

enum qstate { Q_IDLE, Q_RUNNING };

/* What the loop knows about one queued message. */
struct qentry {
	struct qentry	*next;
	char		 id[SPOOL_ID_LEN + 1];
	enum qstate	 state;
	time_t		 next_try;	/* monotonic seconds */
	unsigned	 attempts;
};

/* One delivery run, handed to a pool thread. */
struct delivery {
	struct queue	*q;
	struct qentry	*e;
	int		 result;	/* 1 done, 0 waits (remote), -1 retry */
};

struct queue {
	const struct config	*conf;
	struct event_base	*base;
	struct spool		 spool;
	struct workq		*wq;
	struct qentry		*table[HASH_SIZE];
	int			 notify_fd;
	int			 stopping;
	struct event		*ev_notify;
	struct event		*ev_scan;
	struct event		*ev_sigterm;
};

static struct queue	the_queue;

static unsigned		 id_hash(const char *);
static int		 valid_id(const char *, size_t);
static struct qentry	*entry_get(struct queue *, const char *, int);
static void		 entry_remove(struct queue *, struct qentry *);
static void		 queue_schedule(struct queue *, const char *);
static void		 queue_scan(struct queue *, int);
static void		 queue_cleanup_dir(struct queue *, int, int);
static void		 deliver_work(void *);
static void		 deliver_done(void *);
static int		 deliver_message(const struct config *,
			    struct spool *, const char *);
static void		 on_notify(int, short, void *);
static void		 on_scan(int, short, void *);
static void		 on_sigterm(int, short, void *);
static time_t		 now_mono(void);

static time_t
now_mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned
id_hash(const char *id)
{
	unsigned	h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % HASH_SIZE;
}

static int
valid_id(const char *s, size_t len)
{
	size_t	i;

	if (len != SPOOL_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static struct qentry *
entry_get(struct queue *q, const char *id, int create)
{
	struct qentry	*e;
	unsigned	 h = id_hash(id);

	for (e = q->table[h]; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	if (!create || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	memcpy(e->id, id, sizeof(e->id));
	e->next = q->table[h];
	q->table[h] = e;
	return e;
}

static void
entry_remove(struct queue *q, struct qentry *e)
{
	struct qentry	**pp;

	for (pp = &q->table[id_hash(e->id)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			free(e);
			return;
		}
}

void
queue_main(const struct config *conf, int notify_fd)
{
	struct queue	*q = &the_queue;
	struct timeval	 tv = { SCAN_SECONDS, 0 };

	log_setproc("queue");
	signal(SIGPIPE, SIG_IGN);
	q->conf = conf;
	q->notify_fd = notify_fd;
	if ((q->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (spool_open(&q->spool, conf->spool) == -1)
		fatal("spool %s", conf->spool);
	if ((q->wq = workq_new(q->base, QUEUE_THREADS)) == NULL)
		fatalx("workq_new");
	q->ev_notify = event_new(q->base, notify_fd, EV_READ | EV_PERSIST,
	    on_notify, q);
	q->ev_scan = event_new(q->base, -1, EV_PERSIST, on_scan, q);
	q->ev_sigterm = evsignal_new(q->base, SIGTERM, on_sigterm, q);
	if (q->ev_notify == NULL || q->ev_scan == NULL ||
	    q->ev_sigterm == NULL || event_add(q->ev_notify, NULL) == -1 ||
	    event_add(q->ev_scan, &tv) == -1 ||
	    evsignal_add(q->ev_sigterm, NULL) == -1)
		fatalx("queue events");

	/* Crash leftovers first (INTERNALS.md), then everything queued. */
	queue_scan(q, 1);
	event_base_dispatch(q->base);
	workq_free(q->wq);
	log_info("stopped");
	exit(0);
}

static void
on_notify(int fd, short events, void *arg)
{
	struct queue	*q = arg;
	char		 buf[64];
	ssize_t		 n;
	int		 i;

	for (i = 0; i < 256; i++) {
		n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("notify recv");
			return;
		}
		if (!valid_id(buf, (size_t)n))
			continue;
		buf[n] = '\0';
		queue_schedule(q, buf);
	}
}

static void
on_scan(int fd, short events, void *arg)
{
	queue_scan(arg, 0);
}

static void
on_sigterm(int sig, short events, void *arg)
{
	struct queue	*q = arg;

	q->stopping = 1;
	event_base_loopexit(q->base, NULL);
}

/* Start a delivery of id unless one runs or its retry time is ahead. */
static void
queue_schedule(struct queue *q, const char *id)
{
	struct qentry	*e;
	struct delivery	*d;

	if (q->stopping)
		return;
	if ((e = entry_get(q, id, 1)) == NULL) {
		log_warnx("out of memory: %s waits for the next scan", id);
		return;
	}
	if (e->state == Q_RUNNING || e->next_try > now_mono())
		return;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return;
	d->q = q;
	d->e = e;
	e->state = Q_RUNNING;
	if (workq_submit(q->wq, deliver_work, deliver_done, d) == -1) {
		e->state = Q_IDLE;
		free(d);
	}
}

/*
 * Remove what a crash left behind in dirfd: uncommitted files older than
 * two DATA timeouts (a live session may still be writing younger ones).
 */
static void
queue_cleanup_dir(struct queue *q, int dirfd, int is_queue)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dir;
	char		 env[SPOOL_ID_LEN + 8];
	time_t		 limit = time(NULL) - 2 * (time_t)q->conf->data_timeout;
	size_t		 len;
	int		 fd;

	if ((fd = dup(dirfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cleanup: opendir");
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len < SPOOL_ID_LEN + 4 || !valid_id(de->d_name,
		    SPOOL_ID_LEN))
			continue;
		if (is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_ENV_SUFFIX) == 0)
			continue;
		if (is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_MSG_SUFFIX) == 0) {
			snprintf(env, sizeof(env), "%.*s" SPOOL_ENV_SUFFIX,
			    SPOOL_ID_LEN, de->d_name);
			if (fstatat(dirfd, env, &st, 0) == 0)
				continue;
		}
		if (fstatat(dirfd, de->d_name, &st, 0) == -1 ||
		    st.st_mtime > limit)
			continue;
		log_info("cleanup remove=%s/%s", is_queue ? "queue" :
		    "incoming", de->d_name);
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

static void
queue_scan(struct queue *q, int cleanup)
{
	struct dirent	*de;
	DIR		*dir;
	char		 id[SPOOL_ID_LEN + 1];
	size_t		 len;
	int		 fd;

	if (cleanup || (now_mono() % 3600) < SCAN_SECONDS) {
		queue_cleanup_dir(q, q->spool.incoming_fd, 0);
		queue_cleanup_dir(q, q->spool.queue_fd, 1);
	}
	if ((fd = dup(q->spool.queue_fd)) == -1 ||
	    (dir = fdopendir(fd)) == NULL) {
		log_warn("scan: opendir");
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len != SPOOL_ID_LEN + 4 ||
		    strcmp(de->d_name + SPOOL_ID_LEN, SPOOL_ENV_SUFFIX) != 0 ||
		    !valid_id(de->d_name, SPOOL_ID_LEN))
			continue;
		memcpy(id, de->d_name, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		queue_schedule(q, id);
	}
	closedir(dir);
}

static void
deliver_work(void *arg)
{
	struct delivery	*d = arg;

	d->result = deliver_message(d->q->conf, &d->q->spool, d->e->id);
}

static void
deliver_done(void *arg)
{
	struct delivery	*d = arg;
	struct qentry	*e = d->e;
	time_t		 delay;

	e->state = Q_IDLE;
	if (d->result == 1)
		entry_remove(d->q, e);
	else if (d->result == -1) {
		delay = (time_t)RETRY_MIN << (e->attempts < 6 ? e->attempts : 6);
		if (delay > RETRY_MAX)
			delay = RETRY_MAX;
		e->attempts++;
		e->next_try = now_mono() + delay;
	} else
		e->next_try = now_mono() + RETRY_MAX;	/* for the relay */
	free(d);
}

/* Read a whole small file; returns its length or -1. */
static ssize_t
read_small(int dirfd, const char *name, char *buf, size_t len)
{
	ssize_t	n, total = 0;
	int	fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)total < len) {
		n = read(fd, buf + total, len - (size_t)total);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == -1)
				total = -1;
			break;
		}
		total += n;
	}
	close(fd);
	if ((size_t)total == len) {
		errno = EFBIG;
		return -1;
	}
	return total;
}

/*
 * Deliver one message to its local recipients (on a pool thread).
 * Returns 1 when nothing is left, 0 when only remote recipients wait for
 * the relay, -1 when a delivery must be retried.
 */
static int
deliver_message(const struct config *conf, struct spool *sp, const char *id)
{
	struct envelope	 env, left;
	struct iovec	 iov;
	char		*buf, *out = NULL, prefix[2 * ADDR_PATH_MAX + 64];
	char		 name[SPOOL_ID_LEN + 8], tmp[SPOOL_ID_LEN + 8];
	char		 path[1024], err[128];
	ssize_t		 n;
	size_t		 i, outlen, plen;
	int		 msgfd, r, retry = 0, changed = 0, result;

	if ((buf = malloc(ENV_MAX)) == NULL)
		return -1;
	snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, id);
	if ((n = read_small(sp->queue_fd, name, buf, ENV_MAX)) == -1) {
		free(buf);
		if (errno == ENOENT)
			return 1;	/* delivered meanwhile */
		log_warn("id=%s read envelope", id);
		return -1;
	}
	if (envelope_parse(buf, (size_t)n, &env, err, sizeof(err)) == -1) {
		free(buf);
		log_warnx("id=%s bad envelope: %s", id, err);
		return -1;
	}
	free(buf);
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, id);
	if ((msgfd = openat(sp->queue_fd, name, O_RDONLY | O_CLOEXEC)) ==
	    -1) {
		log_warn("id=%s open message", id);
		envelope_free(&env);
		return -1;
	}

	left = env;
	left.rcpts = NULL;
	left.nrcpts = 0;
	for (i = 0; i < env.nrcpts; i++) {
		const char *to = env.rcpts[i].addr;

		if (env.rcpts[i].remote) {
			if (envelope_add_rcpt(&left, to, 1) == -1)
				retry = 1;
			continue;
		}
		plen = (size_t)snprintf(prefix, sizeof(prefix),
		    "Return-Path: <%s>\nDelivered-To: %s\n", env.from, to);
		if (plen >= sizeof(prefix)) {
			plen = 0;
			prefix[0] = '\0';
		}
		r = maildir_deliver(conf->mailbox_root, to, conf->hostname,
		    msgfd, prefix, plen, path, sizeof(path));
		if (r == 1) {
			log_info("delivery id=%s to=<%s> result=delivered "
			    "path=%s", id, to, path);
			changed = 1;
		} else if (r == 0) {
			log_warnx("delivery id=%s to=<%s> result=failed "
			    "reason=\"bad mailbox name\"", id, to);
			changed = 1;
		} else {
			log_warn("delivery id=%s to=<%s> result=deferred",
			    id, to);
			if (envelope_add_rcpt(&left, to, 0) == -1)
				retry = 1;
			retry = 1;
		}
	}
	close(msgfd);

	if (left.nrcpts == 0) {
		/* Step 4: the envelope first, then the message. */
		snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, id);
		if (unlinkat(sp->queue_fd, name, 0) == -1 && errno != ENOENT)
			log_warn("id=%s unlink envelope", id);
		snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, id);
		if (unlinkat(sp->queue_fd, name, 0) == -1 && errno != ENOENT)
			log_warn("id=%s unlink message", id);
		log_info("id=%s removed", id);
		result = 1;
	} else {
		result = retry ? -1 : 0;
		if (changed) {
			/* Step 3: only the recipients still to do. */
			snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX,
			    id);
			snprintf(tmp, sizeof(tmp), "%s" SPOOL_TMP_SUFFIX, id);
			if (envelope_format(&left, &out, &outlen) == -1) {
				log_warn("id=%s envelope", id);
				result = -1;
			} else {
				iov.iov_base = out;
				iov.iov_len = outlen;
				if (durable_replace(sp->queue_fd, tmp, name,
				    &iov, 1) == -1) {
					log_warn("id=%s rewrite envelope", id);
					result = -1;
				}
				free(out);
			}
		}
	}
	envelope_free(&left);
	envelope_free(&env);
	return result;
}
