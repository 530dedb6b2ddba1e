/*
 * The smtp worker process.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/workq.h"
#include "server/shared/metrics.h"
#include "server/shared/config.h"
#include "server/shared/iplimit.h"
#include "server/smtp/authclient.h"
#include "server/smtp/replies.h"
#include "server/smtp/session.h"
#include "server/smtp/worker.h"

#define ACCEPT_BATCH	64
#define DRAIN_SECONDS	30
/*
 * Commit threads: each waits in fdatasync and fsync, and as many commits
 * as run at once share one fsync of queue/ (group commit), so more
 * threads than cores: 4 gave 0.51 fsyncs of queue/ a message at 20
 * clients on a journaled disk, 16 gave 0.21 (bench/RESULTS.md, issue 19).
 */
#define SPOOL_THREADS	16
#define AUTH_TIMEOUT_MS	30000	/* slow hashes wait in the auth queue */
/*
 * Descriptors: a session holds its socket and, during a message, its spool
 * file; the rest of the worker (listeners, the loop, the auth socket, the
 * spool folders, the spare) is open at start, and FD_RESERVE covers what
 * opens later for a moment (a milter's second descriptor of the spool file
 * on each of the SPOOL_THREADS, a log socket, an accept with the spare).
 */
#define FD_PER_SESSION	2
#define FD_RESERVE	32

static void	worker_accept(int, short, void *);
static void	worker_sigterm(int, short, void *);
static void	worker_deadline(int, short, void *);
static void	worker_resume(int, short, void *);
static void	worker_listen(struct worker *, int);
static void	worker_fd_limit(struct worker *);
static int	worker_fds_open(void);
static int	worker_out_of_fds(struct worker *, int);
static void	refuse(int, const char *, const char *)
		    __attribute__((format(printf, 2, 0)));
static const char *sockaddr_ip(const struct sockaddr *, char *, size_t);

static struct worker	the_worker;

void
worker_main(const struct config *conf, const struct userset *users,
    struct tls_ctx *tls, const char *authsock, struct worker_listener *ls,
    size_t nls, int notify_fd, unsigned slot)
{
	struct worker		*w = &the_worker;
	struct event_config	*cfg;
	char			 name[32];
	size_t			 i;

	snprintf(name, sizeof(name), "worker %u", slot);
	log_setproc(strdup(name));
	signal(SIGPIPE, SIG_IGN);
	iplimit_set_slot(slot);
	metrics_set_slot(slot);

	w->conf = conf;
	w->users = users;
	w->tls = tls;
	w->listeners = ls;
	w->nlisteners = nls;
	w->notify_fd = notify_fd;
	TAILQ_INIT(&w->sessions);
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_max_dispatch_interval(cfg, NULL,
	    WORKER_BULK_BURST, WORKER_PRI_DEFAULT) == -1 ||
	    (w->base = event_base_new_with_config(cfg)) == NULL ||
	    event_base_priority_init(w->base, WORKER_NPRI) == -1)
		fatalx("event_base_new");
	event_config_free(cfg);
	if (spool_open(&w->spool, conf->spool) == -1)
		fatal("spool %s", conf->spool);
	w->spool.sync_fs = conf->spool_sync_fs;
	/* Messages are created on this loop only: take recycled files. */
	spool_set_share(&w->spool, slot, conf->workers > 0 ? conf->workers :
	    1);
	/* The in-place commit (INTERNALS.md): files kept renamed ahead. */
	if (conf->spool_sync_fs)
		spool_set_stock(&w->spool, conf->data_timeout);
	if ((w->wq = workq_new(w->base, SPOOL_THREADS)) == NULL)
		fatalx("workq_new");
	if (authsock != NULL &&
	    (w->auth = authclient_new(w->base, authsock, AUTH_TIMEOUT_MS)) ==
	    NULL)
		fatalx("authclient_new");
	for (i = 0; i < nls; i++) {
		ls[i].ev = event_new(w->base, ls[i].fd, EV_READ | EV_PERSIST,
		    worker_accept, w);
		if (ls[i].ev == NULL ||
		    event_priority_set(ls[i].ev, WORKER_PRI_HANDSHAKE) == -1)
			fatalx("event_new");
	}
	worker_fd_limit(w);
	worker_listen(w, 1);
	w->ev_sigterm = evsignal_new(w->base, SIGTERM, worker_sigterm, w);
	w->ev_deadline = evtimer_new(w->base, worker_deadline, w);
	w->ev_resume = evtimer_new(w->base, worker_resume, w);
	if (w->ev_sigterm == NULL || w->ev_deadline == NULL ||
	    w->ev_resume == NULL || evsignal_add(w->ev_sigterm, NULL) == -1)
		fatalx("worker events");

	event_base_dispatch(w->base);

	/* Let commits in flight finish: their clients wait for a reply. */
	workq_free(w->wq);
	/* The stocked files are free ones again, for the next worker. */
	spool_set_stock(&w->spool, 0);
	if (w->auth != NULL)
		authclient_free(w->auth);
	log_info("stopped sessions=%u", w->nsessions);
	exit(0);
}

/* Descriptors open now (the worker's own, before any session). */
static int
worker_fds_open(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the one opendir() holds */
}

/*
 * Fit max-sessions into the descriptor limit: raise the soft limit to the
 * hard one, then allow only the sessions whose descriptors fit next to the
 * worker's own and a reserve.  Past that cap a client is told 421 4.3.2
 * at once instead of waiting in the listen queue (worker_accept()).
 */
static void
worker_fd_limit(struct worker *w)
{
	struct rlimit	rl;
	rlim_t		avail;
	int		open_now;
	unsigned	cap;

	w->max_sessions = w->conf->max_sessions;
	w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	if ((open_now = worker_fds_open()) == -1)
		open_now = 64;		/* no /proc: a guess on the safe side */
	avail = rl.rlim_cur > (rlim_t)open_now + FD_RESERVE ?
	    rl.rlim_cur - (rlim_t)open_now - FD_RESERVE : 0;
	cap = avail / FD_PER_SESSION > w->max_sessions ? w->max_sessions :
	    (unsigned)(avail / FD_PER_SESSION);
	if (cap < 1)
		cap = 1;
	if (cap < w->max_sessions) {
		log_warnx("max-sessions %u lowered to %u: open files limit "
		    "%llu (%d open, %d reserved, %d a session)",
		    w->max_sessions, cap, (unsigned long long)rl.rlim_cur,
		    open_now, FD_RESERVE, FD_PER_SESSION);
		w->max_sessions = cap;
		w->fd_capped = 1;
	}
}

/*
 * accept() failed for want of descriptors: give up the spare, take the
 * waiting client with it, tell it 421 4.3.2 and close, then take the
 * spare back; a client never waits in the listen queue for nothing.
 * Without a spare (or when a pool thread took the freed one first) the
 * listeners pause for a second.  Returns 1 when a client was answered
 * (try the next), else 0.
 */
static int
worker_out_of_fds(struct worker *w, int lfd)
{
	struct timeval	tv = { 1, 0 };
	int		fd = -1, saved = EMFILE;

	if (w->spare_fd != -1) {
		close(w->spare_fd);
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		saved = errno;
		if (fd != -1) {
			log_info("refuse reason=out-of-descriptors");
			refuse(fd, R_NO_FDS, w->conf->hostname);
		}
		w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd != -1)
			return w->spare_fd != -1;
		if (saved == EAGAIN || saved == EINTR || saved == ECONNABORTED)
			return 0;
	}
	errno = saved;
	log_warn("accept");
	worker_listen(w, 0);
	evtimer_add(w->ev_resume, &tv);
	return 0;
}

static void
worker_listen(struct worker *w, int on)
{
	size_t	i;

	for (i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].ev == NULL)
			continue;
		if (on)
			event_add(w->listeners[i].ev, NULL);
		else
			event_del(w->listeners[i].ev);
	}
}

/*
 * A short refusal to a connection we will not serve (a reply of
 * replies.h with the host name in it); best effort.
 */
static void
refuse(int fd, const char *fmt, const char *host)
{
	char	buf[512];
	int	n;

	n = snprintf(buf, sizeof(buf) - 2, fmt, host);
	if (n > 0 && (size_t)n < sizeof(buf) - 2) {
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static const char *
sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*a;

	if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

static void
worker_accept(int lfd, short events, void *arg)
{
	struct worker		*w = arg;
	struct worker_listener	*l = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	size_t			 i;
	int			 fd, n, one = 1;

	for (i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].fd == lfd)
			l = &w->listeners[i];
	if (l == NULL || w->draining)
		return;
	for (n = 0; n < ACCEPT_BATCH; n++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				if (worker_out_of_fds(w, lfd))
					continue;
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		METRICS_ADD(listeners[metrics_listener((size_t)(l->lc -
		    w->conf->listens))].connections, 1);
		/* Replies are batched by us: no Nagle delays. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/*
		 * Only the balancers of proxy-from may say who the client
		 * is: anyone else could claim any address, an exempt one
		 * too.  Nothing is read from such a connection.
		 */
		if (l->lc->proxy && !cidr_match(w->conf->proxy_from,
		    w->conf->nproxy_from, (struct sockaddr *)&ss)) {
			char	ip[64];

			log_info("refuse reason=proxy-not-allowed ip=%s "
			    "listen=%s", sockaddr_ip((struct sockaddr *)&ss,
			    ip, sizeof(ip)), l->lc->text);
			close(fd);
			continue;
		}
		/* Out of descriptors soon: the reply for that (DESIGN.md). */
		if (w->nsessions >= w->max_sessions) {
			log_info("refuse reason=%s", w->fd_capped ?
			    "max-sessions-fd-limit" : "max-sessions");
			refuse(fd, w->fd_capped ? R_NO_FDS :
			    R_TOO_MANY_SESSIONS, w->conf->hostname);
			continue;
		}
		/*
		 * What is keyed on the client's address (the ban, sessions
		 * per address, auth-exempt) is the session's: at once here,
		 * after the PROXY header behind a balancer.
		 */
		if (session_new(w, l->lc, fd, (struct sockaddr *)&ss,
		    len) == -1) {
			log_warnx("session_new: out of memory");
			close(fd);
		}
	}
}

static void
worker_resume(int fd, short events, void *arg)
{
	struct worker	*w = arg;

	if (!w->draining)
		worker_listen(w, 1);
}

void
worker_notify_queue(struct worker *w, const char *id)
{
	/* A hint only: the queue also scans the spool. */
	if (send(w->notify_fd, id, SPOOL_ID_LEN, MSG_DONTWAIT) == -1 &&
	    errno != EAGAIN)
		log_warn("notify queue");
}

/*
 * fstatvfs() reads counters the kernel keeps in memory (no I/O on a local
 * file system), so it may run on the loop; cached for a second all the
 * same, since every MAIL asks.
 */
uint64_t
worker_spool_free(struct worker *w)
{
	struct timespec	now;
	struct statvfs	sv;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (w->spool_free_at != 0 && now.tv_sec == w->spool_free_at)
		return w->spool_free;
	if (fstatvfs(w->spool.dirfd, &sv) == -1)
		w->spool_free = UINT64_MAX;
	else
		w->spool_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	w->spool_free_at = now.tv_sec;
	return w->spool_free;
}

void
worker_spool_stale(struct worker *w)
{
	w->spool_free_at = 0;
}

void
worker_session_gone(struct worker *w, struct session *s)
{
	if (w->draining && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_sigterm(int sig, short events, void *arg)
{
	struct worker	*w = arg;
	struct session	*s, *next;
	struct timeval	 tv = { DRAIN_SECONDS, 0 };
	size_t		 i;

	if (w->draining)
		return;
	w->draining = 1;
	log_info("stopping sessions=%u", w->nsessions);
	/* New connections go to the other workers or the next generation. */
	for (i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].ev != NULL) {
			event_free(w->listeners[i].ev);
			w->listeners[i].ev = NULL;
		}
		close(w->listeners[i].fd);
		w->listeners[i].fd = -1;
	}
	evtimer_del(w->ev_resume);
	evtimer_add(w->ev_deadline, &tv);
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_drain(s);
	}
	if (w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_deadline(int fd, short events, void *arg)
{
	struct worker	*w = arg;

	log_info("drain deadline reached sessions=%u", w->nsessions);
	event_base_loopexit(w->base, NULL);
}
