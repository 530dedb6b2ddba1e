/*
 * The queue process.
 *
 * Messages arrive as ids on the notify socket, from scans of spool/queue
 * at start and every minute, and as bounces made here.  A message is
 * "active" while the loop holds its envelope: a pool thread reads it and
 * delivers the local recipients that are due (Maildir writes fsync); the
 * loop then hands the remote ones, grouped by destination, to relay
 * connections; each result changes the envelope in memory, and a pool
 * thread writes it back (bounces first, then the envelope, with
 * durable_write).  When nothing is in flight the envelope is dropped
 * and a timer waits for the earliest retry.  INTERNALS.md has the states.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <openssl/tls1.h>

#include "common/durable.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/workq.h"
#include "server/queue/dns.h"
#include "server/queue/dsn.h"
#include "server/queue/maildir.h"
#include "server/queue/queue.h"
#include "server/queue/relay.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"

#define QUEUE_THREADS		4
#define RECYCLE_MS		50	/* a removed file waits at most */
#define SCAN_SECONDS		60
#define HASH_SIZE		4096
#define MAX_ACTIVE		2000	/* envelopes held in memory */
#define STOP_GRACE		10	/* seconds for deliveries under way */
#define DNS_REUSE		300	/* seconds a route keeps its answer */
#define RELAY_CONNECT_TIMEOUT	30
#define RELAY_COMMAND_TIMEOUT	300
#define RELAY_DATA_TIMEOUT	600
#define RELAY_IDLE_TIMEOUT	5
#define CRED_MAX		1024

struct queue;
struct route;

/* What the loop knows about one queued message. */
struct qentry {
	struct qentry	*next;		/* hash chain */
	struct qentry	*wnext;		/* waiting to become active */
	struct queue	*q;
	char		 id[SPOOL_ID_LEN + 1];
	struct event	*timer;		/* the next attempt */
	struct envelope	*env;		/* while active */
	uint64_t	 size;
	off_t		 body_off;	/* where the message starts */
	int		 active;
	int		 waiting;
	int		 loading;	/* a pool thread reads and delivers */
	int		 writing;	/* a pool thread writes the state */
	int		 dirty;		/* state changed since the last write */
	int		 write_failed;
	int		 removed;	/* its files are gone */
	int		 flush;		/* everything is due at once */
	unsigned	 njobs;		/* relay jobs under way */
};

/* Some recipients of one message for one destination. */
struct rjob {
	struct rjob		*next;
	struct qentry		*e;
	size_t			 n;
	size_t			*idx;		/* into e->env->rcpts */
	struct relay_rcpt	*rr;
	struct relay_txn	 txn;
};

/* One connection of a route. */
struct qconn {
	struct qconn		*next;
	struct route		*r;
	struct relay_conn	*rc;
	struct rjob		*job;		/* in flight */
	int			 ready;		/* was READY at least once */
	int			 idle;
};

/* A destination: a domain's mail hosts, or the smarthost. */
struct route {
	struct route		*next;
	struct queue		*q;
	char			 key[DNS_NAME_MAX + 3];
	int			 smarthost;
	enum { RS_NONE, RS_RESOLVING, RS_OK } dns_state;
	struct dns_query	*dnsq;
	time_t			 resolved;	/* monotonic */
	struct dns_target	*targets;
	size_t			 ntargets;
	struct rjob		*head, *tail;	/* waiting for a connection */
	size_t			 nwaiting;
	struct qconn		*conns;
	unsigned		 nconns;
	unsigned		 nopening;	/* not yet READY */
	int			 down;		/* a connection failed to set up */
	char			 downhost[RELAY_HOST_MAX];
	char			 downerr[RELAY_TEXT_MAX + 1];
};

/* A pool job: read the envelope and deliver locally. */
struct loadjob {
	struct queue	*q;
	struct qentry	*e;
	struct envelope	*env;
	uint64_t	 size;
	off_t		 body_off;
	time_t		 now;
	int		 flush;
	int		 result;	/* 1 loaded, 0 gone, -1 error */
	signed char	*local;		/* per rcpt: 1, 0, -1, or 2 not tried */
	int		*errnos;
};

/* A pool job: write bounces and the envelope. */
struct writejob {
	struct queue	*q;
	struct qentry	*e;
	char		*envtext;
	size_t		 envlen;
	int		 empty;		/* nothing left: remove the message */
	struct envelope	 orig;		/* id, time, from; no rcpts */
	struct dsn_rcpt	*bounces;
	size_t		*bidx;
	size_t		 nbounces;
	char		 bounce_id[SPOOL_ID_LEN + 1];
	int		 result;
};

struct queue {
	const struct config	*conf;
	struct event_base	*base;
	struct spool		 spool;
	struct workq		*wq;
	struct dns		*dns;
	struct qentry		*table[HASH_SIZE];
	struct qentry		*waithead, *waittail;
	unsigned		 nactive;
	struct route		*routes;
	unsigned		 nconns;
	int			 notify_fd;
	int			 ctl_fd;
	int			 stopping;
	struct event		*ev_notify;
	struct event		*ev_ctl;
	struct event		*ev_scan;
	struct event		*ev_sigterm;
	struct event		*ev_grace;
	struct event		*ev_recycle;
	int			 recycling;	/* a spool_recycle() job runs */

	/* Made by queue_prepare() as root. */
	struct tls_ctx		*tls_verify;
	struct tls_ctx		*tls_any;
	char			*auth_user;
	char			*auth_pass;
	int			 auth_ok;
};

static struct queue	the_queue;

static unsigned		 id_hash(const char *);
static int		 valid_id(const char *, size_t);
static time_t		 now_mono(void);
static struct qentry	*entry_get(struct queue *, const char *, int);
static void		 entry_free(struct qentry *);
static void		 entry_start(struct qentry *);
static void		 entry_check(struct qentry *);
static void		 entry_idle(struct qentry *);
static void		 entry_timer(int, short, void *);
static void		 queue_schedule(struct queue *, const char *, int);
static void		 queue_scan(struct queue *, int, int);
static void		 queue_flush(struct queue *);
static void		 queue_cleanup_dir(struct queue *, int, int);
static void		 queue_check_stop(struct queue *);
static void		 queue_recycle(struct queue *);
static void		 on_recycle(int, short, void *);
static void		 recycle_work(void *);
static void		 recycle_done(void *);
static void		 load_work(void *);
static void		 load_done(void *);
static void		 write_start(struct qentry *);
static void		 write_work(void *);
static void		 write_done(void *);
static int		 write_bounce(struct queue *, struct writejob *);
static void		 rcpt_defer(struct qentry *, struct env_rcpt *,
			    const char *, const char *);
static void		 log_attempt(const struct qentry *,
			    const struct env_rcpt *, const char *, int,
			    const char *, const char *);
static void		 dispatch_remote(struct qentry *, time_t);
static struct route	*route_get(struct queue *, const char *, int);
static void		 route_add(struct route *, struct rjob *);
static void		 route_pump(struct route *);
static void		 route_pump_all(struct queue *);
static void		 route_resolved(const struct dns_result *, void *);
static void		 route_fail_waiting(struct route *, int, const char *,
			    const char *);
static void		 route_maybe_free(struct route *);
static int		 route_open(struct route *);
static int		 conn_give(struct qconn *, struct rjob *);
static struct rjob	*route_pop(struct route *);
static void		 route_unpop(struct route *, struct rjob *);
static void		 conn_event(struct relay_conn *, enum relay_event,
			    void *);
static void		 job_finish(struct rjob *, const char *, int);
static void		 job_fail(struct rjob *, enum relay_result,
			    const char *, const char *);
static void		 job_drop(struct rjob *);
static void		 job_free(struct rjob *);
static int		 literal_target(const char *, struct dns_target *);
static void		 on_notify(int, short, void *);
static void		 on_ctl(int, short, void *);
static void		 on_scan(int, short, void *);
static void		 on_sigterm(int, short, void *);
static void		 on_grace(int, short, void *);
static int		 read_credentials(const char *);

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

/*
 * Setup as root.
 */

/* "user:password" on the first line that is not empty or a comment. */
static int
read_credentials(const char *path)
{
	struct queue	*q = &the_queue;
	char		 buf[CRED_MAX + 1], *line, *nl, *colon, *end;
	ssize_t		 n;
	size_t		 i;
	int		 fd, ok = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("relay-auth %s", path);
		return -1;
	}
	n = read(fd, buf, CRED_MAX);
	close(fd);
	if (n < 0) {
		log_warn("relay-auth %s", path);
		return -1;
	}
	buf[n] = '\0';
	for (line = buf; line < buf + n; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = buf + n;
		*nl = '\0';
		end = nl;
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    colon[1] == '\0')
			break;
		*colon = '\0';
		for (i = 0; line[i] != '\0'; i++)
			if ((unsigned char)line[i] < 0x20)
				break;
		if (line[i] != '\0')
			break;
		q->auth_user = strdup(line);
		q->auth_pass = strdup(colon + 1);
		ok = q->auth_user != NULL && q->auth_pass != NULL;
		break;
	}
	explicit_bzero(buf, sizeof(buf));
	if (!ok) {
		log_warnx("relay-auth %s: expected a line \"user:password\"",
		    path);
		return -1;
	}
	return 0;
}

void
queue_prepare(const struct config *conf)
{
	struct queue	*q = &the_queue;
	char		 err[512];

	if (conf->relay_auth != NULL)
		q->auth_ok = read_credentials(conf->relay_auth) == 0;
	if (conf->relay_tls == RELAY_TLS_REQUIRED ||
	    conf->relay_tls == RELAY_TLS_IMPLICIT) {
		q->tls_verify = tls_client_new(conf->relay_ca_file, 0, 0, 0,
		    err, sizeof(err));
		if (q->tls_verify == NULL)
			log_warnx("relay-tls: %s: mail waits", err);
	}
	/* Unverified anyway: any TLS beats none, so old versions too. */
	if (conf->relay_tls == RELAY_TLS_OPPORTUNISTIC) {
		q->tls_any = tls_client_new(NULL, 1, TLS1_VERSION, 0, err,
		    sizeof(err));
		if (q->tls_any == NULL)
			log_warnx("relay-tls: %s: relaying without TLS", err);
	}
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
	event_free(e->timer);
	free(e);
}

/* Begin an attempt: read the envelope on the pool. */
static void
entry_start(struct qentry *e)
{
	struct queue	*q = e->q;
	struct loadjob	*j;

	if (q->stopping || e->active || e->waiting)
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
static void
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
	if (e->write_failed) {
		e->write_failed = 0;
		if (next < now + (time_t)q->conf->retry_min)
			next = now + (time_t)q->conf->retry_min;
	}
	if (e->removed) {
		entry_free(e);
		e = NULL;
	} else if (!q->stopping) {
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
static void
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

static void
queue_flush(struct queue *q)
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
queue_main(const struct config *conf, int notify_fd)
{
	struct queue		*q = &the_queue;
	struct timeval		 tv = { SCAN_SECONDS, 0 };
	struct sockaddr_un	 sun;
	char			 err[512];
	int			 n;

	log_setproc("queue");
	signal(SIGPIPE, SIG_IGN);
	q->conf = conf;
	q->notify_fd = notify_fd;
	q->ctl_fd = -1;
	if ((q->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (spool_open(&q->spool, conf->spool) == -1)
		fatal("spool %s", conf->spool);
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
		}
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

	/* Crash leftovers first (INTERNALS.md), then everything queued. */
	queue_scan(q, 1, 0);
	event_base_dispatch(q->base);
	workq_free(q->wq);
	dns_free(q->dns);
	if (q->ctl_fd != -1)
		unlink(sun.sun_path);
	if (q->auth_pass != NULL)
		explicit_bzero(q->auth_pass, strlen(q->auth_pass));
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
			queue_flush(q);
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
	struct route	*r, *rnext;
	struct qconn	*c, *cnext;
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
	evtimer_add(q->ev_grace, &tv);
	for (r = q->routes; r != NULL; r = rnext) {
		rnext = r->next;
		if (r->dnsq != NULL) {
			dns_cancel(r->dnsq);
			r->dnsq = NULL;
			r->dns_state = RS_NONE;
		}
		while (r->head != NULL) {
			struct rjob *j = r->head;

			r->head = j->next;
			r->nwaiting--;
			job_drop(j);
		}
		r->tail = NULL;
		for (c = r->conns; c != NULL; c = cnext) {
			cnext = c->next;
			if (c->job == NULL)
				relay_quit(c->rc);
		}
		route_maybe_free(r);
	}
	queue_check_stop(q);
}

static void
on_grace(int fd, short events, void *arg)
{
	struct queue	*q = arg;
	struct route	*r;
	struct qconn	*c;

	log_info("stopping: abandoning %u relay connection%s", q->nconns,
	    q->nconns == 1 ? "" : "s");
	for (r = q->routes; r != NULL; r = r->next)
		for (c = r->conns; c != NULL; c = c->next)
			relay_abort(c->rc);
}

/*
 * Removed messages' files are recycled in batches: one fsync of queue/ for
 * all of them (INTERNALS.md, "Recycled files"), at once when a batch is
 * full, else within RECYCLE_MS.
 */
static void
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
	if (workq_submit(q->wq, recycle_work, recycle_done, q) == -1) {
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
	if (workq_submit(q->wq, recycle_work, recycle_done, q) == -1) {
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
static void
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
 * Remove what a crash left behind in dirfd: uncommitted files older than
 * two DATA timeouts (a live session may still be writing younger ones).
 */
static void
queue_cleanup_dir(struct queue *q, int dirfd, int is_queue)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dir;
	char		 msg[SPOOL_ID_LEN + 8];
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
		/* A removed message's file that was never recycled. */
		if (!is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_DEAD_SUFFIX) == 0) {
			unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		/* In queue/, a message is committed. */
		if (is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_MSG_SUFFIX) == 0)
			continue;
		/* The queue's envelope of a message that is gone: a crash
		 * between the two unlinks.  Any other file once it is old. */
		if (is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_ENV_SUFFIX) == 0) {
			snprintf(msg, sizeof(msg), "%.*s" SPOOL_MSG_SUFFIX,
			    SPOOL_ID_LEN, de->d_name);
			if (fstatat(dirfd, msg, &st, 0) == 0 || errno != ENOENT)
				continue;
		} else if (fstatat(dirfd, de->d_name, &st, 0) == -1 ||
		    st.st_mtime > limit)
			continue;
		log_info("cleanup remove=%s/%s", is_queue ? "queue" :
		    "incoming", de->d_name);
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

static void
queue_scan(struct queue *q, int cleanup, int flush)
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
		    strcmp(de->d_name + SPOOL_ID_LEN, SPOOL_MSG_SUFFIX) != 0 ||
		    !valid_id(de->d_name, SPOOL_ID_LEN))
			continue;
		memcpy(id, de->d_name, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		queue_schedule(q, id, flush);
	}
	closedir(dir);
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
	char			 err[128];
	char			 prefix[2 * ADDR_PATH_MAX + 64], path[1024];
	size_t			 i, plen;
	int			 msgfd;

	j->result = -1;
	if ((j->env = calloc(1, sizeof(*j->env))) == NULL)
		return;
	if ((msgfd = spool_open_queued(sp->queue_fd, j->e->id, j->env,
	    &j->body_off, &j->size, err, sizeof(err))) == -1) {
		free(j->env);
		j->env = NULL;
		if (errno == ENOENT)
			j->result = 0;	/* delivered meanwhile */
		else
			log_warnx("id=%s cannot read it: %s", j->e->id, err);
		return;
	}
	if ((j->local = calloc(j->env->nrcpts + 1, 1)) == NULL ||
	    (j->errnos = calloc(j->env->nrcpts + 1, sizeof(int))) == NULL) {
		close(msgfd);
		return;
	}
	for (i = 0; i < j->env->nrcpts; i++) {
		r = &j->env->rcpts[i];
		j->local[i] = 2;
		if (r->remote || (!j->flush && r->next_try > j->now))
			continue;
		plen = (size_t)snprintf(prefix, sizeof(prefix),
		    "Return-Path: <%s>\nDelivered-To: %s\n", j->env->from,
		    r->addr);
		if (plen >= sizeof(prefix)) {
			plen = 0;
			prefix[0] = '\0';
		}
		j->local[i] = (signed char)maildir_deliver(conf->mailbox_root,
		    r->addr, conf->hostname, msgfd, j->body_off, prefix, plen,
		    path, sizeof(path));
		j->errnos[i] = errno;
		if (j->local[i] == 1) {
			char	to[ADDR_PATH_MAX * 4 + 1];
			char	where[sizeof(path) * 4];

			log_info("delivery id=%s to=<%s> result=delivered "
			    "path=%s", j->e->id,
			    log_escape_str(r->addr, to, sizeof(to)),
			    log_escape_str(path, where, sizeof(where)));
		}
	}
	close(msgfd);
	j->result = 1;
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
		else
			e->write_failed = 1;	/* wait retry-min */
		free(j->local);
		free(j->errnos);
		free(j);
		entry_check(e);
		return;
	}
	e->env = j->env;
	e->size = j->size;
	e->body_off = j->body_off;
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		switch (j->local[i]) {
		case 1:
			r->done = RCPT_DELIVERED;
			e->dirty = 1;
			break;
		case 0:
			envelope_set_error(r, NULL, "5.1.3 bad mailbox name",
			    strlen("5.1.3 bad mailbox name"));
			r->done = RCPT_FAILED;
			log_warnx("delivery id=%s to=<%s> result=bounced "
			    "reason=\"bad mailbox name\"", e->id,
			    log_escape_str(r->addr, to, sizeof(to)));
			e->dirty = 1;
			break;
		case -1:
			snprintf(text, sizeof(text), "4.2.0 maildir: %s",
			    strerror(j->errnos[i]));
			rcpt_defer(e, r, NULL, text);
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
static void
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

static void
log_attempt(const struct qentry *e, const struct env_rcpt *r,
    const char *host, int tls, const char *result, const char *text)
{
	char	to[ADDR_PATH_MAX * 4 + 1], reply[RELAY_TEXT_MAX * 4 + 1];

	log_info("relay id=%s to=<%s> host=%s tls=%s result=%s reply=\"%s\"",
	    e->id, log_escape(r->addr, strlen(r->addr), to, sizeof(to)),
	    host != NULL && host[0] != '\0' ? host : "-", tls ? "yes" : "no",
	    result, log_escape(text, strlen(text), reply, sizeof(reply)));
}

/*
 * Hand the remote recipients that are due (next_try <= now; all of them
 * when now is 0) to their routes: one job per destination.
 */
static void
dispatch_remote(struct qentry *e, time_t now)
{
	struct queue		*q = e->q;
	const struct config	*conf = q->conf;
	struct env_rcpt		*r;
	struct route		*rt;
	struct rjob		*j;
	const char		*at;
	char			 key[DNS_NAME_MAX + 3];
	size_t			 i, k, n;
	int			 smart = conf->relay_host != NULL;

	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (!r->remote || r->done != RCPT_PENDING || r->busy ||
		    (now != 0 && r->next_try > now))
			continue;
		/* The destination of this one, then every other for it. */
		at = strrchr(r->addr, '@');
		if (smart)
			snprintf(key, sizeof(key), "%s", conf->relay_name);
		else if (at == NULL || addr_lower(at + 1, key,
		    sizeof(key)) == -1) {
			envelope_set_error(r, NULL, "5.1.2 bad destination "
			    "address", strlen("5.1.2 bad destination address"));
			r->done = RCPT_FAILED;
			log_attempt(e, r, NULL, 0, "bounced", r->error);
			e->dirty = 1;
			continue;
		}
		for (k = i, n = 0; k < e->env->nrcpts; k++) {
			struct env_rcpt *o = &e->env->rcpts[k];

			if (!o->remote || o->done != RCPT_PENDING ||
			    o->busy || (now != 0 && o->next_try > now))
				continue;
			at = strrchr(o->addr, '@');
			if (!smart && (at == NULL ||
			    strcasecmp(at + 1, key) != 0))
				continue;
			o->busy = 2;	/* marked for this job */
			n++;
		}
		if ((j = calloc(1, sizeof(*j))) == NULL ||
		    (j->idx = calloc(n, sizeof(*j->idx))) == NULL ||
		    (j->rr = calloc(n, sizeof(*j->rr))) == NULL ||
		    (rt = route_get(q, key, smart)) == NULL) {
			if (j != NULL) {
				free(j->idx);
				free(j->rr);
				free(j);
			}
			for (k = i; k < e->env->nrcpts; k++)
				if (e->env->rcpts[k].busy == 2)
					e->env->rcpts[k].busy = 0;
			log_warnx("id=%s out of memory: relay later", e->id);
			e->write_failed = 1;
			return;
		}
		j->e = e;
		for (k = i; k < e->env->nrcpts; k++) {
			struct env_rcpt *o = &e->env->rcpts[k];

			if (o->busy != 2)
				continue;
			o->busy = 1;
			j->idx[j->n] = k;
			j->rr[j->n].addr = o->addr;
			j->n++;
		}
		j->txn.from = e->env->from;
		j->txn.rcpts = j->rr;
		j->txn.nrcpts = j->n;
		j->txn.msgfd = -1;
		j->txn.msgoff = e->body_off;
		j->txn.size = e->size;
		j->txn.body8bit = e->env->body8bit;
		j->txn.smtputf8 = e->env->smtputf8;
		e->njobs++;
		route_add(rt, j);
	}
}

/*
 * Routes and their connections.
 */

static struct route *
route_get(struct queue *q, const char *key, int smarthost)
{
	struct route	*r;

	for (r = q->routes; r != NULL; r = r->next)
		if (strcmp(r->key, key) == 0)
			return r;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->q = q;
	r->smarthost = smarthost;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->next = q->routes;
	q->routes = r;
	return r;
}

static void
route_add(struct route *r, struct rjob *j)
{
	j->next = NULL;
	if (r->tail != NULL)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	r->nwaiting++;
	route_pump(r);
}

static struct rjob *
route_pop(struct route *r)
{
	struct rjob	*j = r->head;

	if (j != NULL) {
		r->head = j->next;
		if (r->head == NULL)
			r->tail = NULL;
		r->nwaiting--;
	}
	return j;
}

/* A job a connection could not take goes back to the front. */
static void
route_unpop(struct route *r, struct rjob *j)
{
	j->next = r->head;
	r->head = j;
	if (r->tail == NULL)
		r->tail = j;
	r->nwaiting++;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]": no DNS. */
static int
literal_target(const char *key, struct dns_target *t)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&t->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&t->addr;
	char			 a[INET6_ADDRSTRLEN + 8];
	size_t			 len = strlen(key);

	memset(t, 0, sizeof(*t));
	if (len < 3 || key[0] != '[' || key[len - 1] != ']' ||
	    len - 2 >= sizeof(a))
		return -1;
	memcpy(a, key + 1, len - 2);
	a[len - 2] = '\0';
	memcpy(t->host, key, len + 1);		/* short: checked above */
	if (strncasecmp(a, "ipv6:", 5) == 0 &&
	    inet_pton(AF_INET6, a + 5, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		t->addrlen = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		t->addrlen = sizeof(*sin);
		return 0;
	}
	return -1;
}

/* Give waiting jobs to idle connections; open more as allowed. */
static void
route_pump(struct route *r)
{
	struct queue		*q = r->q;
	const struct config	*conf = q->conf;
	struct dns_target	 lit;
	struct qconn		*c;
	unsigned		 per;

	if (q->stopping)
		return;
	for (c = r->conns; c != NULL && r->head != NULL; c = c->next)
		if (c->idle) {
			struct rjob *j = route_pop(r);

			if (conn_give(c, j) == -1)
				route_unpop(r, j);
		}
	if (r->head == NULL)
		return;
	if (r->smarthost && conf->relay_auth != NULL && !q->auth_ok) {
		route_fail_waiting(r, RELAY_DEFER, NULL, "4.7.0 relay-auth: "
		    "no usable credentials (see the log at start)");
		return;
	}
	if (r->dns_state == RS_OK && r->nopening == 0 &&
	    now_mono() - r->resolved > DNS_REUSE) {
		free(r->targets);
		r->targets = NULL;
		r->ntargets = 0;
		r->dns_state = RS_NONE;
	}
	if (r->dns_state == RS_NONE) {
		if (!r->smarthost && r->key[0] == '[') {
			if (literal_target(r->key, &lit) == -1) {
				route_fail_waiting(r, RELAY_BOUNCE, NULL,
				    "5.1.2 bad address literal");
				return;
			}
			if ((r->targets = malloc(sizeof(lit))) == NULL)
				return;
			*r->targets = lit;
			r->ntargets = 1;
			r->dns_state = RS_OK;
			r->resolved = now_mono();
		} else if (q->dns == NULL) {
			route_fail_waiting(r, RELAY_DEFER, NULL,
			    "4.4.3 no resolver");
			return;
		} else {
			r->dns_state = RS_RESOLVING;
			r->dnsq = r->smarthost ? dns_lookup_host(q->dns,
			    r->key, route_resolved, r) : dns_lookup_mx(q->dns,
			    r->key, route_resolved, r);
			if (r->dnsq == NULL) {
				r->dns_state = RS_NONE;
				route_fail_waiting(r, RELAY_DEFER, NULL,
				    "4.3.0 out of memory");
			}
			return;
		}
	}
	if (r->dns_state != RS_OK || r->down)
		return;
	per = conf->relay_max_per_domain;
	while (r->nwaiting > r->nopening && r->nconns < per &&
	    q->nconns < conf->relay_max_connections)
		if (route_open(r) == -1) {
			log_warnx("relay: out of memory: the mail waits");
			if (r->nconns == 0)
				route_fail_waiting(r, RELAY_DEFER, NULL,
				    "4.3.0 out of memory");
			break;
		}
}

static void
route_pump_all(struct queue *q)
{
	struct route	*r, *next;

	for (r = q->routes; r != NULL; r = next) {
		next = r->next;
		if (r->head != NULL)
			route_pump(r);
	}
}

static void
route_resolved(const struct dns_result *res, void *arg)
{
	struct route	*r = arg;

	r->dnsq = NULL;
	if (res->status != 1) {
		r->dns_state = RS_NONE;
		route_fail_waiting(r, res->status == 0 ? RELAY_BOUNCE :
		    RELAY_DEFER, NULL, res->error);
		return;
	}
	free(r->targets);
	if ((r->targets = calloc(res->ntargets, sizeof(*r->targets))) ==
	    NULL) {
		r->dns_state = RS_NONE;
		route_fail_waiting(r, RELAY_DEFER, NULL, "4.3.0 out of memory");
		return;
	}
	memcpy(r->targets, res->targets, res->ntargets * sizeof(*r->targets));
	r->ntargets = res->ntargets;
	r->dns_state = RS_OK;
	r->resolved = now_mono();
	route_pump(r);
}

/* Every waiting job gets this result; the route may go. */
static void
route_fail_waiting(struct route *r, int result, const char *host,
    const char *text)
{
	struct rjob	*j;

	while ((j = route_pop(r)) != NULL)
		job_fail(j, (enum relay_result)result, host, text);
	route_maybe_free(r);
}

static void
route_maybe_free(struct route *r)
{
	struct route	**pp;

	if (r->head != NULL || r->conns != NULL || r->dnsq != NULL)
		return;
	for (pp = &r->q->routes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r->targets);
	free(r);
}

static int
route_open(struct route *r)
{
	struct queue		*q = r->q;
	const struct config	*conf = q->conf;
	struct relay_params	 p;
	struct qconn		*c;

	memset(&p, 0, sizeof(p));
	p.helo = conf->hostname;
	p.tls = conf->relay_tls;
	p.tls_verify = q->tls_verify;
	p.tls_any = q->tls_any;
	p.servername = r->smarthost ? conf->relay_name : NULL;
	if (r->smarthost && conf->relay_auth != NULL) {
		p.auth_user = q->auth_user;
		p.auth_pass = q->auth_pass;
	}
	p.port = r->smarthost ? conf->relay_port : conf->mx_port;
	p.connect_timeout = RELAY_CONNECT_TIMEOUT;
	p.command_timeout = RELAY_COMMAND_TIMEOUT;
	p.data_timeout = RELAY_DATA_TIMEOUT;
	p.idle_timeout = RELAY_IDLE_TIMEOUT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->r = r;
	if ((c->rc = relay_conn_new(q->base, &p, r->targets, r->ntargets,
	    conn_event, c)) == NULL) {
		free(c);
		return -1;
	}
	c->next = r->conns;
	r->conns = c;
	r->nconns++;
	r->nopening++;
	q->nconns++;
	return 0;
}

/*
 * Open the message and start the transaction.  -1: the connection is no
 * longer ready (its idle QUIT went out); the job is the caller's again.
 */
static int
conn_give(struct qconn *c, struct rjob *j)
{
	struct queue	*q = c->r->q;
	char		 name[SPOOL_ID_LEN + 8];

	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, j->e->id);
	if ((j->txn.msgfd = openat(q->spool.queue_fd, name, O_RDONLY |
	    O_CLOEXEC)) == -1) {
		job_fail(j, RELAY_DEFER, NULL, "4.3.0 cannot open the queued "
		    "message");
		return 0;
	}
	if (relay_send(c->rc, &j->txn) == -1) {
		close(j->txn.msgfd);
		j->txn.msgfd = -1;
		c->idle = 0;
		return -1;
	}
	c->job = j;
	c->idle = 0;
	return 0;
}

static void
conn_event(struct relay_conn *rc, enum relay_event ev, void *arg)
{
	struct qconn	*c = arg;
	struct route	*r = c->r;
	struct queue	*q = r->q;
	struct qconn	**pp;
	struct rjob	*j;

	switch (ev) {
	case RELAY_EV_READY:
		if (!c->ready) {
			c->ready = 1;
			r->nopening--;
		}
		r->down = 0;
		c->idle = 1;
		if (q->stopping)
			relay_quit(rc);
		else if ((j = route_pop(r)) != NULL &&
		    conn_give(c, j) == -1)
			route_unpop(r, j);
		break;
	case RELAY_EV_DONE:
		j = c->job;
		c->job = NULL;
		if (j != NULL)
			job_finish(j, relay_host(rc), relay_tls_active(rc));
		break;
	case RELAY_EV_CLOSED:
		if (c->job != NULL) {
			/* Cannot happen: DONE comes first. */
			job_fail(c->job, RELAY_DEFER, relay_host(rc),
			    relay_error(rc));
			c->job = NULL;
		}
		for (pp = &r->conns; *pp != NULL; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		r->nconns--;
		q->nconns--;
		if (!c->ready) {
			r->nopening--;
			/* No host took us: the jobs wait for another try. */
			r->down = 1;
			snprintf(r->downhost, sizeof(r->downhost), "%s",
			    relay_host(rc));
			snprintf(r->downerr, sizeof(r->downerr), "%s",
			    relay_error(rc)[0] ? relay_error(rc) :
			    "4.4.1 connection failed");
		}
		free(c);
		if (r->down && r->nconns == 0) {
			r->down = 0;
			route_fail_waiting(r, RELAY_DEFER, r->downhost,
			    r->downerr);
		} else
			route_maybe_free(r);
		route_pump_all(q);
		queue_check_stop(q);
		break;
	}
}

/* The results of a transaction, recipient by recipient. */
static void
job_finish(struct rjob *j, const char *host, int tls)
{
	struct qentry	*e = j->e;
	struct env_rcpt	*r;
	size_t		 i;

	if (j->txn.msgfd != -1) {
		close(j->txn.msgfd);
		j->txn.msgfd = -1;
	}
	for (i = 0; i < j->n; i++) {
		r = &e->env->rcpts[j->idx[i]];
		r->busy = 0;
		switch (j->rr[i].result) {
		case RELAY_SENT:
			r->done = RCPT_DELIVERED;
			log_attempt(e, r, host, tls, "sent", j->rr[i].text);
			break;
		case RELAY_BOUNCE:
			r->attempts++;
			envelope_set_error(r, host, j->rr[i].text,
			    strlen(j->rr[i].text));
			r->done = RCPT_FAILED;
			log_attempt(e, r, host, tls, "bounced", j->rr[i].text);
			break;
		default:
			rcpt_defer(e, r, host, j->rr[i].text[0] ?
			    j->rr[i].text : "4.4.2 no result");
			log_attempt(e, r, host, tls, r->done == RCPT_FAILED ?
			    "bounced" : "deferred", r->error);
			break;
		}
	}
	e->dirty = 1;
	e->njobs--;
	job_free(j);
	entry_check(e);
}

/* Every recipient of the job gets the same result without a connection. */
static void
job_fail(struct rjob *j, enum relay_result res, const char *host,
    const char *text)
{
	size_t	i;

	for (i = 0; i < j->n; i++) {
		j->rr[i].result = res;
		snprintf(j->rr[i].text, sizeof(j->rr[i].text), "%s", text);
	}
	job_finish(j, host, 0);
}

/* Shutting down: the job is not tried; nothing changes. */
static void
job_drop(struct rjob *j)
{
	struct qentry	*e = j->e;
	size_t		 i;

	for (i = 0; i < j->n; i++)
		e->env->rcpts[j->idx[i]].busy = 0;
	e->njobs--;
	job_free(j);
	entry_check(e);
}

static void
job_free(struct rjob *j)
{
	if (j->txn.msgfd != -1)
		close(j->txn.msgfd);
	free(j->idx);
	free(j->rr);
	free(j);
}

/*
 * Writing the state back: bounces first, then the envelope.
 */

static void
write_start(struct qentry *e)
{
	struct queue	*q = e->q;
	struct writejob	*w;
	struct env_rcpt	*r;
	size_t		 i, n = 0;
	int		 bad;
	char		 to[ADDR_PATH_MAX * 4 + 1];

	e->dirty = 0;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto fail;
	w->q = q;
	w->e = e;
	w->orig = *e->env;
	w->orig.rcpts = NULL;
	w->orig.nrcpts = 0;
	/*
	 * One bounce per message where possible: while other recipients
	 * are still under way, the failed ones stay in the envelope as if
	 * pending (a crash retries them, and they fail again).
	 */
	for (i = 0; i < e->env->nrcpts && e->njobs > 0; i++) {
		r = &e->env->rcpts[i];
		if (r->done == RCPT_FAILED && !r->reported)
			r->done = RCPT_PENDING;
		else
			continue;
		r->busy |= 4;		/* flipped back below */
	}
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (r->done != RCPT_FAILED || r->reported)
			continue;
		/* A bounce never bounces (RFC 5321 6.1, 3464). */
		if (e->env->from[0] == '\0') {
			log_info("bounce id=%s to=<%s> result=discarded "
			    "reason=\"the sender is <>\"", e->id,
			    log_escape_str(r->addr, to, sizeof(to)));
			r->reported = 1;
			continue;
		}
		n++;
	}
	if (n > 0 && ((w->bounces = calloc(n, sizeof(*w->bounces))) ==
	    NULL || (w->bidx = calloc(n, sizeof(*w->bidx))) == NULL))
		goto fail;
	for (i = 0; i < e->env->nrcpts && n > 0; i++) {
		r = &e->env->rcpts[i];
		if (r->done != RCPT_FAILED || r->reported)
			continue;
		w->bounces[w->nbounces].addr = r->addr;
		w->bounces[w->nbounces].error = r->error;
		w->bounces[w->nbounces].host = r->host;
		w->bidx[w->nbounces++] = i;
	}
	w->empty = envelope_pending(e->env) == 0;
	bad = !w->empty && envelope_format(e->env, &w->envtext,
	    &w->envlen) == -1;
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (r->busy & 4) {
			r->busy &= ~4;
			r->done = RCPT_FAILED;
		}
	}
	if (bad)
		goto fail;
	e->writing = 1;
	if (workq_submit(q->wq, write_work, write_done, w) == -1) {
		e->writing = 0;
		goto fail;
	}
	return;
fail:
	log_warn("id=%s cannot write its state", e->id);
	if (w != NULL) {
		free(w->bounces);
		free(w->bidx);
		free(w->envtext);
		free(w);
	}
	e->write_failed = 1;
	entry_check(e);
}

/* On a pool thread: the bounce goes into the spool like any message. */
static int
write_bounce(struct queue *q, struct writejob *w)
{
	const struct config	*conf = q->conf;
	struct spool_msg	 m;
	struct envelope		 benv;
	struct dsn		 d;
	char			*hdr = NULL, *text = NULL, *envtext = NULL;
	char			 name[SPOOL_ID_LEN + 8];
	const char		*at;
	size_t			 textlen, envlen, i;
	ssize_t			 n = 0;
	int			 fd, r = -1;

	/* The headers of the failed message, to quote them. */
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, w->e->id);
	if ((hdr = malloc(DSN_HEADERS_MAX)) == NULL)
		return -1;
	if ((fd = openat(q->spool.queue_fd, name, O_RDONLY | O_CLOEXEC)) !=
	    -1) {
		n = pread(fd, hdr, DSN_HEADERS_MAX, w->e->body_off);
		close(fd);
	}
	if (n < 0)
		n = 0;
	if (spool_msg_create(&q->spool, &m) == -1) {
		free(hdr);
		return -1;
	}
	memset(&d, 0, sizeof(d));
	d.hostname = conf->hostname;
	d.id = m.id;
	d.orig_id = w->e->id;
	d.sender = w->orig.from;
	d.arrival = w->orig.time;
	d.now = time(NULL);
	d.rcpts = w->bounces;
	d.nrcpts = w->nbounces;
	d.headers = hdr;
	d.headerslen = dsn_header_length(hdr, (size_t)n, DSN_HEADERS_MAX);
	memset(&benv, 0, sizeof(benv));
	if (dsn_build(&d, &text, &textlen) == -1)
		goto done;
	memcpy(benv.id, m.id, sizeof(benv.id));
	benv.time = d.now;
	snprintf(benv.ip, sizeof(benv.ip), "127.0.0.1");
	snprintf(benv.helo, sizeof(benv.helo), "%s", conf->hostname);
	for (i = 0; i < textlen; i++)
		if ((unsigned char)text[i] >= 0x80)
			benv.body8bit = 1;
	at = strrchr(w->orig.from, '@');
	if (envelope_add_rcpt(&benv, w->orig.from, at == NULL ||
	    !config_is_local_domain(conf, at + 1)) == -1 ||
	    envelope_format(&benv, &envtext, &envlen) == -1)
		goto done;
	spool_msg_envelope(&m, envtext, envlen);
	spool_msg_write(&m, text, textlen);
	if (spool_msg_commit(&m) == -1) {
		m.id[0] = '\0';		/* commit removed its file */
		goto done;
	}
	memcpy(w->bounce_id, m.id, sizeof(w->bounce_id));
	m.id[0] = '\0';
	r = 0;
done:
	if (m.id[0] != '\0')
		spool_msg_abort(&m);
	envelope_free(&benv);
	free(envtext);
	free(text);
	free(hdr);
	return r;
}

static void
write_work(void *arg)
{
	struct writejob	*w = arg;
	struct spool	*sp = &w->q->spool;
	struct iovec	 iov;
	char		 name[SPOOL_ID_LEN + 8], tmp[SPOOL_ID_LEN + 8];

	w->result = -1;
	if (w->nbounces > 0 && write_bounce(w->q, w) == -1) {
		log_warn("id=%s cannot write a bounce", w->e->id);
		return;
	}
	if (w->empty) {
		/* The message (and the envelope in it) first, then the
		 * queue's copy of the envelope (INTERNALS.md). */
		if (spool_remove(sp, w->e->id) == -1) {
			log_warn("id=%s remove", w->e->id);
			return;
		}
		log_info("id=%s removed", w->e->id);
		w->result = 0;
		return;
	}
	snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, w->e->id);
	snprintf(tmp, sizeof(tmp), "%s" SPOOL_TMP_SUFFIX, w->e->id);
	iov.iov_base = w->envtext;
	iov.iov_len = w->envlen;
	if (durable_write(sp->queue_fd, tmp, name, &iov, 1) == -1) {
		log_warn("id=%s rewrite envelope", w->e->id);
		return;
	}
	w->result = 0;
}

static void
write_done(void *arg)
{
	struct writejob	*w = arg;
	struct qentry	*e = w->e;
	struct queue	*q = w->q;
	size_t		 i;
	char		 to[ADDR_PATH_MAX * 4 + 1];

	e->writing = 0;
	if (w->result == 0) {
		for (i = 0; i < w->nbounces; i++)
			e->env->rcpts[w->bidx[i]].reported = 1;
		if (w->bounce_id[0] != '\0') {
			log_info("bounce id=%s for=%s to=<%s> nrcpt=%zu",
			    w->bounce_id, e->id,
			    log_escape_str(w->orig.from, to, sizeof(to)),
			    w->nbounces);
			queue_schedule(e->q, w->bounce_id, 0);
		}
		if (w->empty) {
			e->removed = 1;
			queue_recycle(q);
		}
	} else {
		/* The disk keeps the old state: try again later. */
		e->write_failed = 1;
	}
	free(w->bounces);
	free(w->bidx);
	free(w->envtext);
	free(w);
	entry_check(e);		/* may free e */
	queue_check_stop(q);
}
