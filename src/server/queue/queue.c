/*
 * The queue process.
 *
 * Messages arrive as ids on the notify socket, from scans of spool/queue
 * at start and every minute, and as bounces made here.  A message is
 * "active" while the loop holds its envelope: a pool thread reads it,
 * delivers the local recipients that are due (Maildir writes fsync) and
 * records those deliveries before it does anything else; the loop then
 * hands the remote ones, grouped by destination, to relay connections;
 * each result changes the envelope in memory, and a pool thread writes it
 * back (bounces first, then the envelope, with durable_write), ahead of
 * any delivery waiting for a thread.  When nothing is in flight the envelope is dropped
 * and a timer waits for the earliest retry.  INTERNALS.md has the states.
 *
 * This file holds the loop, the table of messages and the loading with
 * local delivery; queue_priv.h says where the other parts live.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/workq.h"
#include "server/queue/dns.h"
#include "server/queue/dkim.h"
#include "server/queue/maildir.h"
#include "server/queue/queue.h"
#include "server/queue/queue_priv.h"
#include "server/shared/envelope.h"
#include "server/shared/metrics.h"
#include "server/shared/queuelist.h"
#include "server/shared/spool.h"

/* Mostly waiting in fsync: the deliveries of one moment into a Maildir
 * share the fsync of its new/ (bench/RESULTS.md, issue 19). */
#define QUEUE_THREADS		16
#define RECYCLE_MS		50	/* a removed file waits at most */
#define MAX_ACTIVE		2000	/* envelopes held in memory */
#define STOP_GRACE		10	/* seconds for deliveries under way */

/*
 * Per recipient, what load_work() did with it: maildir_deliver()'s three
 * outcomes (the same values), or nothing.
 */
enum local_mark {
	LOCAL_DEFERRED = -1,	/* a temporary failure: retry */
	LOCAL_BAD_MAILBOX = 0,	/* a bad mailbox name: it bounces */
	LOCAL_DELIVERED = 1,
	LOCAL_NOT_TRIED = 2,	/* remote, or not yet due */
};

/* A pool job: read the envelope and deliver locally. */
struct loadjob {
	struct queue	*q;
	struct qentry	*e;
	struct envelope	*env;
	uint64_t	 size;
	off_t		 body_off;
	struct timespec	 accepted;
	time_t		 now;
	int		 flush;
	int		 result;	/* 1 loaded, 0 gone, -1 error */
	int		 recorded;	/* 1 deliveries written, 0 none, -1 failed */
	int		 removed;	/* ... by removing the message */
	signed char	*local;		/* per rcpt: an enum local_mark */
	int		*errnos;
	char		*dkim;		/* DKIM-Signature for the relay */
	size_t		 dkimlen;
};

static struct queue	the_queue;

static unsigned		 id_hash(const char *);
static struct qentry	*entry_get(struct queue *, const char *, int);
static void		 entry_free(struct qentry *);
static void		 entry_start(struct qentry *);
static void		 entry_idle(struct qentry *);
static void		 entry_timer(int, short, void *);
static void		 on_recycle(int, short, void *);
static void		 recycle_work(void *);
static void		 recycle_done(void *);
static void		 load_work(void *);
static void		 load_record(struct loadjob *);
static void		 load_done(void *);
static void		 on_notify(int, short, void *);
static void		 on_ctl(int, short, void *);
static void		 on_scan(int, short, void *);
static void		 on_sigterm(int, short, void *);
static void		 on_grace(int, short, void *);

static unsigned
id_hash(const char *id)
{
	unsigned	h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % HASH_SIZE;
}

/*
 * The table of messages.
 */

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
	if ((e->timer = evtimer_new(q->base, entry_timer, e)) == NULL) {
		free(e);
		return NULL;
	}
	e->q = q;
	memcpy(e->id, id, sizeof(e->id));
	e->next = q->table[h];
	q->table[h] = e;
	METRICS_ADD(queue_depth, 1);
	return e;
}

static void
entry_free(struct qentry *e)
{
	struct qentry	**pp;

	for (pp = &e->q->table[id_hash(e->id)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	if (e->env != NULL) {
		envelope_free(e->env);
		free(e->env);
	}
	free(e->dkim);
	event_free(e->timer);
	free(e);
	METRICS_ADD(queue_depth, -1);
}

struct qentry *
queue_entry(struct queue *q, const char *id, int create)
{
	return entry_get(q, id, create);
}

/* Its files are gone (smtpauthctl delete): forget it unless in flight. */
void
queue_forget(struct qentry *e)
{
	e->removed = 1;
	if (!e->active && !e->waiting)
		entry_free(e);
}

size_t
queue_count(const struct queue *q)
{
	const struct qentry	*e;
	size_t			 h, n = 0;

	for (h = 0; h < HASH_SIZE; h++)
		for (e = q->table[h]; e != NULL; e = e->next)
			n++;
	return n;
}

/* Begin an attempt: read the envelope on the pool. */
static void
entry_start(struct qentry *e)
{
	struct queue	*q = e->q;
	struct loadjob	*j;

	if (q->stopping || e->active || e->waiting || e->held)
		return;
	if (q->nactive >= MAX_ACTIVE) {
		/* Memory is bounded: wait for a turn. */
		e->waiting = 1;
		e->wnext = NULL;
		if (q->waittail != NULL)
			q->waittail->wnext = e;
		else
			q->waithead = e;
		q->waittail = e;
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto later;
	j->q = q;
	j->e = e;
	j->now = time(NULL);
	j->flush = e->flush;
	e->flush = 0;
	evtimer_del(e->timer);
	e->active = 1;
	e->loading = 1;
	q->nactive++;
	if (workq_submit(q->wq, load_work, load_done, j) == -1) {
		e->active = e->loading = 0;
		q->nactive--;
		free(j);
		goto later;
	}
	return;
later:
	log_warnx("id=%s out of memory: retry in a minute", e->id);
	{
		struct timeval	tv = { SCAN_SECONDS, 0 };

		evtimer_add(e->timer, &tv);
	}
}

static void
entry_timer(int fd, short what, void *arg)
{
	entry_start(arg);
}

/* Anything owed (a write)?  Nothing in flight: drop to idle. */
void
entry_check(struct qentry *e)
{
	if (!e->active || e->loading)
		return;
	if (e->dirty && !e->writing) {
		write_start(e);
		return;
	}
	if (e->writing || e->njobs > 0)
		return;
	entry_idle(e);
}

/* Nothing in flight: forget the envelope until the next attempt. */
static void
entry_idle(struct qentry *e)
{
	struct queue	*q = e->q;
	struct qentry	*w;
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL), next = 0;
	size_t		 i;
	int		 pending = 0;

	e->active = 0;
	q->nactive--;
	if (e->env != NULL) {
		for (i = 0; i < e->env->nrcpts; i++) {
			struct env_rcpt *r = &e->env->rcpts[i];

			if (r->done != RCPT_PENDING)
				continue;
			if (!pending || r->next_try < next)
				next = r->next_try;
			pending = 1;
		}
		envelope_free(e->env);
		free(e->env);
		e->env = NULL;
	}
	free(e->dkim);
	e->dkim = NULL;
	e->dkimlen = 0;
	if (e->write_failed) {
		e->write_failed = 0;
		if (next < now + (time_t)q->conf->retry_min)
			next = now + (time_t)q->conf->retry_min;
	}
	if (e->removed) {
		entry_free(e);
		e = NULL;
	} else if (!q->stopping && !e->held) {
		if (!pending && next == 0)
			next = now + SCAN_SECONDS;
		/* Whatever happened, no busy loop. */
		if (next <= now)
			next = now + 1;
		if (e->flush)
			next = now;
		tv.tv_sec = next > now ? next - now : 0;
		evtimer_add(e->timer, &tv);
	}
	/* Another message may take the place. */
	while (q->nactive < MAX_ACTIVE && (w = q->waithead) != NULL) {
		q->waithead = w->wnext;
		if (q->waithead == NULL)
			q->waittail = NULL;
		w->waiting = 0;
		entry_start(w);
	}
	queue_check_stop(q);
}

/* A message we may not know: start it unless it has its own timer. */
void
queue_schedule(struct queue *q, const char *id, int flush)
{
	struct qentry	*e;
	int		 isnew;

	if (q->stopping)
		return;
	isnew = entry_get(q, id, 0) == NULL;
	if ((e = entry_get(q, id, 1)) == NULL) {
		log_warnx("out of memory: %s waits for the next scan", id);
		return;
	}
	if (flush)
		e->flush = 1;
	if (isnew || flush)
		entry_start(e);
}

void
queue_flush_all(struct queue *q)
{
	struct qentry	*e;
	size_t		 h;

	log_info("flush: every message is due now");
	for (h = 0; h < HASH_SIZE; h++)
		for (e = q->table[h]; e != NULL; e = e->next)
			e->flush = 1;
	for (h = 0; h < HASH_SIZE; h++)
		for (e = q->table[h]; e != NULL; e = e->next)
			if (!e->active)
				entry_start(e);
	queue_scan(q, 0, 1);
}

/*
 * The process.
 */

void
queue_main(const struct config *conf, int notify_fd, int ctl_listen)
{
	struct queue		*q = &the_queue;
	struct timeval		 tv = { SCAN_SECONDS, 0 };
	struct sockaddr_un	 sun;
	struct stat		 st;
	ino_t			 ctl_ino = 0;
	char			 err[512];
	int			 n;

	log_setproc("queue");
	signal(SIGPIPE, SIG_IGN);
	q->conf = conf;
	q->cred = queue_cred();
	q->notify_fd = notify_fd;
	q->ctl_fd = -1;
	q->ctl_listen = -1;
	if ((q->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (spool_open(&q->spool, conf->spool) == -1)
		fatal("spool %s", conf->spool);
	q->spool.sync_fs = conf->spool_sync_fs;
	if ((q->wq = workq_new(q->base, QUEUE_THREADS)) == NULL)
		fatalx("workq_new");
	if ((q->dns = dns_new(q->base, conf->resolver, err, sizeof(err))) ==
	    NULL)
		log_warnx("dns: %s: mail for other hosts waits", err);

	/* "smtpauthd flush" talks to us here (smtpauthd(8)). */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    conf->spool, QUEUE_SOCK);
	if (n > 0 && (size_t)n < sizeof(sun.sun_path) &&
	    (q->ctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) != -1) {
		unlink(sun.sun_path);
		if (bind(q->ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) ==
		    -1) {
			log_warn("bind %s", sun.sun_path);
			close(q->ctl_fd);
			q->ctl_fd = -1;
		} else if (stat(sun.sun_path, &st) == 0)
			ctl_ino = st.st_ino;
	}

	q->ev_notify = event_new(q->base, notify_fd, EV_READ | EV_PERSIST,
	    on_notify, q);
	q->ev_scan = event_new(q->base, -1, EV_PERSIST, on_scan, q);
	q->ev_sigterm = evsignal_new(q->base, SIGTERM, on_sigterm, q);
	q->ev_grace = evtimer_new(q->base, on_grace, q);
	q->ev_recycle = evtimer_new(q->base, on_recycle, q);
	if (q->ev_notify == NULL || q->ev_scan == NULL ||
	    q->ev_sigterm == NULL || q->ev_grace == NULL ||
	    q->ev_recycle == NULL ||
	    event_add(q->ev_notify, NULL) == -1 ||
	    event_add(q->ev_scan, &tv) == -1 ||
	    evsignal_add(q->ev_sigterm, NULL) == -1)
		fatalx("queue events");
	if (q->ctl_fd != -1) {
		q->ev_ctl = event_new(q->base, q->ctl_fd, EV_READ | EV_PERSIST,
		    on_ctl, q);
		if (q->ev_ctl == NULL || event_add(q->ev_ctl, NULL) == -1)
			fatalx("queue events");
	}

	if (ctl_listen != -1)
		queue_ctl_start(q, ctl_listen);
	/* For "smtpauthd drain": who our parent is (spool.h). */
	if (spool_pidfile_write(q->spool.dirfd) == -1)
		log_warn("%s/%s", conf->spool, SPOOL_PIDFILE);

	/* Crash leftovers first (INTERNALS.md), then everything queued. */
	queue_scan(q, 1, 0);
	event_base_dispatch(q->base);
	workq_free(q->wq);
	dns_free(q->dns);
	/* A queue started after us (the parent died) may have its own. */
	if (q->ctl_fd != -1 && stat(sun.sun_path, &st) == 0 &&
	    st.st_ino == ctl_ino)
		unlink(sun.sun_path);
	queue_cred_wipe();
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
		if (!spool_valid_id(buf, (size_t)n))
			continue;
		buf[n] = '\0';
		queue_schedule(q, buf, 0);
	}
}

static void
on_ctl(int fd, short events, void *arg)
{
	struct queue	*q = arg;
	char		 buf[64];
	ssize_t		 n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		if ((size_t)n == strlen(QUEUE_FLUSH_MSG) &&
		    memcmp(buf, QUEUE_FLUSH_MSG, (size_t)n) == 0 &&
		    !q->stopping)
			queue_flush_all(q);
	}
}

static void
on_scan(int fd, short events, void *arg)
{
	queue_scan(arg, 0, 0);
}

/*
 * SIGTERM: start nothing new; let transactions under way finish (for at
 * most STOP_GRACE seconds), write what they changed, then exit.
 */
static void
on_sigterm(int sig, short events, void *arg)
{
	struct queue	*q = arg;
	struct timeval	 tv = { STOP_GRACE, 0 };

	if (q->stopping)
		return;
	q->stopping = 1;
	queue_recycle(q);
	log_info("stopping: %u relay connection%s", q->nconns,
	    q->nconns == 1 ? "" : "s");
	event_del(q->ev_notify);
	event_del(q->ev_scan);
	if (q->ev_ctl != NULL)
		event_del(q->ev_ctl);
	if (q->ev_ctl_listen != NULL)
		event_del(q->ev_ctl_listen);
	evtimer_add(q->ev_grace, &tv);
	route_stop_all(q);
	queue_check_stop(q);
}

static void
on_grace(int fd, short events, void *arg)
{
	struct queue	*q = arg;

	log_info("stopping: abandoning %u relay connection%s", q->nconns,
	    q->nconns == 1 ? "" : "s");
	route_abort_all(q);
}

/*
 * Removed messages' files are recycled in batches: one fsync of queue/ for
 * all of them (INTERNALS.md, "Recycled files"), at once when a batch is
 * full, else within RECYCLE_MS; before the deliveries waiting for a
 * thread, which would hold it until the removed files overflow.
 */
void
queue_recycle(struct queue *q)
{
	struct timeval	tv = { 0, RECYCLE_MS * 1000 };
	size_t		n;

	if (q->recycling || (n = spool_dead(&q->spool)) == 0)
		return;
	if (n < SPOOL_RECYCLE_BATCH && !q->stopping) {
		if (!evtimer_pending(q->ev_recycle, NULL))
			evtimer_add(q->ev_recycle, &tv);
		return;
	}
	evtimer_del(q->ev_recycle);
	q->recycling = 1;
	if (workq_submit_first(q->wq, recycle_work, recycle_done, q) == -1) {
		q->recycling = 0;
		evtimer_add(q->ev_recycle, &tv);
	}
}

static void
on_recycle(int fd, short events, void *arg)
{
	struct queue	*q = arg;
	struct timeval	 tv = { 0, RECYCLE_MS * 1000 };

	if (q->recycling || spool_dead(&q->spool) == 0)
		return;
	q->recycling = 1;
	if (workq_submit_first(q->wq, recycle_work, recycle_done, q) == -1) {
		q->recycling = 0;
		evtimer_add(q->ev_recycle, &tv);
	}
}

static void
recycle_work(void *arg)
{
	struct queue	*q = arg;

	spool_recycle(&q->spool);
}

static void
recycle_done(void *arg)
{
	struct queue	*q = arg;

	q->recycling = 0;
	queue_recycle(q);
	queue_check_stop(q);
}

/* Stopping, and nothing left to finish or write: leave the loop. */
void
queue_check_stop(struct queue *q)
{
	size_t		 h;
	struct qentry	*e;

	if (!q->stopping || q->nconns > 0 || workq_pending(q->wq) > 0)
		return;
	for (h = 0; h < HASH_SIZE; h++)
		for (e = q->table[h]; e != NULL; e = e->next)
			if (e->loading || e->writing || e->njobs > 0 ||
			    (e->active && e->dirty))
				return;
	event_base_loopexit(q->base, NULL);
}


/*
 * Loading: the envelope, and local delivery of the recipients due.
 */

/* On a pool thread. */
static void
load_work(void *arg)
{
	struct loadjob		*j = arg;
	const struct config	*conf = j->q->conf;
	struct spool		*sp = &j->q->spool;
	struct env_rcpt		*r;
	struct maildir_msg	 m;
	char			 err[128];
	char			 prefix[2 * ADDR_PATH_MAX + 64], path[1024];
	size_t			 i, plen;
	int			 msgfd, again;

	j->result = -1;
	/* Held by smtpauthctl, maybe before a restart. */
	if (queuelist_held(sp->queue_fd, j->e->id)) {
		j->result = 2;
		return;
	}
	if ((j->env = calloc(1, sizeof(*j->env))) == NULL)
		return;
	if ((msgfd = spool_open_queued(sp->queue_fd, j->e->id, j->env,
	    &j->body_off, &j->size, err, sizeof(err))) == -1) {
		free(j->env);
		j->env = NULL;
		if (errno == ENOENT)
			j->result = 0;	/* delivered meanwhile */
		else if (errno == EBADMSG) {
			/* Never committed (INTERNALS.md): set aside. */
			if (spool_set_torn(sp->queue_fd, j->e->id) == -1)
				log_warn("id=%s %s: set aside", j->e->id, err);
			else {
				log_warnx("id=%s %s: never acknowledged, set "
				    "aside as queue/%s" SPOOL_TORN_SUFFIX,
				    j->e->id, err, j->e->id);
				j->result = 0;
			}
		} else
			log_warnx("id=%s cannot read it: %s", j->e->id, err);
		return;
	}
	{
		struct stat	st;

		/* The message's last write, just before its commit. */
		if (fstat(msgfd, &st) == 0)
			j->accepted = st.st_mtim;
		else
			j->accepted.tv_sec = j->env->time;
	}
	if ((j->local = calloc(j->env->nrcpts + 1, 1)) == NULL ||
	    (j->errnos = calloc(j->env->nrcpts + 1, sizeof(int))) == NULL) {
		close(msgfd);
		return;
	}
	for (i = 0; i < j->env->nrcpts; i++) {
		r = &j->env->rcpts[i];
		j->local[i] = LOCAL_NOT_TRIED;
		if (r->remote || (!j->flush && r->next_try > j->now))
			continue;
		plen = (size_t)snprintf(prefix, sizeof(prefix),
		    "Return-Path: <%s>\nDelivered-To: %s\n", j->env->from,
		    r->addr);
		if (plen >= sizeof(prefix)) {
			plen = 0;
			prefix[0] = '\0';
		}
		m.id = j->env->id;
		m.when = j->env->time;
		m.rcpt = r->addr;
		m.hostname = conf->hostname;
		m.msgfd = msgfd;
		m.msgoff = j->body_off;
		m.msgend = j->body_off + (off_t)j->size;
		m.prefix = prefix;
		m.prefixlen = plen;
		m.sync_fs = conf->spool_sync_fs;
		j->local[i] = (signed char)maildir_deliver(conf->mailbox_root,
		    &m, path, sizeof(path), &again);
		j->errnos[i] = errno;
		if (j->local[i] == LOCAL_DELIVERED) {
			char	to[ADDR_PATH_MAX * 4 + 1];
			char	where[sizeof(path) * 4];

			log_info("delivery id=%s to=<%s> result=delivered%s "
			    "path=%s", j->e->id,
			    log_escape_str(r->addr, to, sizeof(to)),
			    again ? " already=yes" : "",
			    log_escape_str(path, where, sizeof(where)));
		}
	}
	j->dkim = dkim_sign_spooled(queue_cred()->dkim, conf, j->env, msgfd,
	    j->body_off, j->body_off + (off_t)j->size, j->flush, j->now,
	    &j->dkimlen);
	close(msgfd);
	j->result = 1;
	load_record(j);
}

/*
 * On the same pool thread, right after the deliveries: write them down
 * (the envelope without them, or the message's removal when nothing is
 * left), so that a crash repeats at most the delivery under way.  Failed
 * and deferred recipients keep their old state here; the loop writes
 * theirs.
 */
static void
load_record(struct loadjob *j)
{
	struct envelope	*env = j->env;
	char		*text = NULL;
	size_t		 i, len = 0, n = 0;

	for (i = 0; i < env->nrcpts; i++)
		if (j->local[i] == LOCAL_DELIVERED) {
			env->rcpts[i].done = RCPT_DELIVERED;
			n++;
		}
	if (n == 0)
		return;
	j->removed = envelope_pending(env) == 0;
	if (!j->removed && envelope_format(env, &text, &len) == -1) {
		log_warn("id=%s cannot write its state", j->e->id);
		j->recorded = -1;
		return;
	}
	j->recorded = write_state(j->q, j->e->id, text, len, j->removed) ==
	    0 ? 1 : -1;
	free(text);
}

static void
load_done(void *arg)
{
	struct loadjob	*j = arg;
	struct qentry	*e = j->e;
	struct queue	*q = j->q;
	struct env_rcpt	*r;
	char		 text[128], to[ADDR_PATH_MAX * 4 + 1];
	size_t		 i;
	time_t		 now = time(NULL);

	e->loading = 0;
	if (j->result != 1) {
		if (j->env != NULL) {
			envelope_free(j->env);
			free(j->env);
		}
		if (j->result == 0)
			e->removed = 1;
		else if (j->result == 2)
			e->held = 1;
		else
			e->write_failed = 1;	/* wait retry-min */
		free(j->local);
		free(j->errnos);
		free(j);
		entry_check(e);
		return;
	}
	e->env = j->env;
	e->accepted = j->accepted;
	e->size = j->size;
	e->body_off = j->body_off;
	if (j->recorded == 1 && j->removed) {
		e->removed = 1;
		queue_recycle(q);
	}
	free(e->dkim);
	e->dkim = j->dkim;
	e->dkimlen = j->dkimlen;
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		switch (j->local[i]) {
		case LOCAL_DELIVERED:
			/* Written by load_record(), unless that failed. */
			metrics_delivered(&e->accepted);
			r->done = RCPT_DELIVERED;
			if (j->recorded != 1)
				e->dirty = 1;
			break;
		case LOCAL_BAD_MAILBOX:
			envelope_set_error(r, NULL, "5.1.3 bad mailbox name",
			    strlen("5.1.3 bad mailbox name"));
			r->done = RCPT_FAILED;
			METRICS_ADD(bounced, 1);
			log_warnx("delivery id=%s to=<%s> result=bounced "
			    "reason=\"bad mailbox name\"", e->id,
			    log_escape_str(r->addr, to, sizeof(to)));
			e->dirty = 1;
			break;
		case LOCAL_DEFERRED:
			snprintf(text, sizeof(text), "4.2.0 maildir: %s",
			    strerror(j->errnos[i]));
			rcpt_defer(e, r, NULL, text);
			if (r->done == RCPT_FAILED)
				METRICS_ADD(bounced, 1);
			else
				METRICS_ADD(deferred, 1);
			log_warnx("delivery id=%s to=<%s> result=%s "
			    "reason=\"%s\"", e->id,
			    log_escape_str(r->addr, to, sizeof(to)),
			    r->done == RCPT_FAILED ? "bounced" : "deferred",
			    text);
			e->dirty = 1;
			break;
		default:
			break;
		}
	}
	if (!q->stopping)
		dispatch_remote(e, j->flush ? 0 : now);
	free(j->local);
	free(j->errnos);
	free(j);
	entry_check(e);
}

/*
 * A temporary failure: count it, and retry after retry-min doubled for
 * each attempt, at most retry-max; once the message is older than
 * queue-lifetime, it has failed for good.
 */
void
rcpt_defer(struct qentry *e, struct env_rcpt *r, const char *host,
    const char *text)
{
	const struct config	*conf = e->q->conf;
	time_t			 now = time(NULL), delay, deadline;
	unsigned		 shift;

	r->attempts++;
	envelope_set_error(r, host, text, strlen(text));
	deadline = e->env->time + (time_t)conf->queue_lifetime;
	if (now >= deadline) {
		r->done = RCPT_FAILED;
		return;
	}
	shift = r->attempts - 1 < 20 ? r->attempts - 1 : 20;
	delay = (time_t)conf->retry_min << shift;
	if (delay > (time_t)conf->retry_max)
		delay = (time_t)conf->retry_max;
	r->next_try = now + delay;
	/* The last try comes when the lifetime ends. */
	if (r->next_try > deadline)
		r->next_try = deadline;
}
