/*
 * The auth process.
 *
 * It holds the password hashes (or the way to the account store) and
 * nothing that talks to a client.  The workers connect to its unix socket
 * and send verification requests; a backend (backend.h: the users file on
 * a thread pool, Dovecot or LDAP) says whether the password is right, and
 * the answer goes back to the worker.  Whatever the backend, everything
 * below (delay, guard, cache, log line) is done here, the same way.
 *
 * Failure delay: a failed verification (and a refusal of a banned address)
 * is answered no sooner than its delay after the request arrived: this
 * process holds the answer on a timer, so even a compromised worker gets
 * no faster verdict than a client does.  The delay runs from the request,
 * not from the end of the hash: how long the hash took does not show.  A
 * worker connection with MAX_PENDING requests unanswered (hashing or held)
 * is not read until one is answered: held answers are bounded, and no
 * answer is ever sent early to make room.
 *
 * Guessing (guard.c): every failure is counted per client address and
 * per account; too many from one address ban it in the shared ban list,
 * and an account's recent failures slow its next failed answer.  A banned
 * address gets no verdict at all (refuse_banned).
 *
 * Cache (logincache.c, auth-cache-ttl): a client that logs in every few
 * minutes should not pay yescrypt each time.  After a successful
 * verification the auth process remembers HMAC-SHA256(key, account NUL
 * password) for the TTL under a random key that never leaves this
 * process's memory and dies with it (on reload the auth process is
 * restarted, so a changed password takes effect then; with a remote
 * backend, within the TTL).  A wrong password
 * never matches, so it costs the full hash and goes through the guard and
 * the failure delay as before.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <crypt.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/workq.h"
#include "server/auth/authd.h"
#include "server/auth/backend.h"
#include "server/auth/guard.h"
#include "server/auth/logincache.h"
#include "server/auth/sendlimit.h"
#include "server/shared/authproto.h"
#include "server/shared/config.h"
#include "server/shared/users.h"

#define MAX_JOBS		256	/* hashes queued or running */
#define MAX_CONNS		1024	/* worker connections */
#define MAX_OUTQ		1024	/* answers waiting for one worker */
#define MAX_PENDING		MAX_OUTQ /* unanswered requests of one worker */
#define MAX_THREADS		8
#define READ_BATCH		64
#define STOP_FLUSH_MS		1000	/* to send the last answers */

struct outmsg {
	TAILQ_ENTRY(outmsg)	 entry;
	uint32_t		 type;		/* AUTH_MSG_ANSWER, ... */
	uint32_t		 id;
	size_t			 len;
	uint8_t			 buf[16];
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	unsigned		 jobs;		/* unanswered, refer to us */
	int			 closed;
	int			 throttled;	/* rev off: MAX_PENDING */
	size_t			 noutq;
	TAILQ_HEAD(, outmsg)	 outq;
};

/* A failed verdict waiting for its delay. */
struct held {
	struct conn		*conn;
	uint32_t		 id;
	struct auth_answer	 a;
	struct event		*ev;
};

struct job {
	struct conn		*conn;
	uint32_t		 id;
	uint64_t		 start;		/* monotonic ms, on arrival */
	struct auth_request	 req;
	char			 account[AUTH_FIELD_MAX + 1];
	enum auth_result	 result;
	const char		*reason;
	int			 have_mac;
	int			 cached;	/* answered from the cache */
	uint8_t			 mac[LOGINCACHE_MAC_LEN];
};

static struct {
	const struct config	*conf;
	const char		*sockpath;
	struct event_base	*base;
	struct workq		*wq;
	const struct backend_ops *be;
	int			 lfd;
	dev_t			 sockdev;	/* the path we bound, to */
	ino_t			 sockino;	/* unlink only our own */
	struct event		*lev;
	struct event		*tick;
	struct event		*sigterm;
	TAILQ_HEAD(, conn)	 conns;
	size_t			 nconns;
	unsigned		 jobs;
	int			 stopping;
} A;

static int	 open_socket(const char *);
static void	 accept_cb(int, short, void *);
static void	 conn_read(int, short, void *);
static void	 conn_write(int, short, void *);
static void	 conn_close(struct conn *);
static void	 conn_unref(struct conn *);
static void	 conn_ref(struct conn *);
static void	 conn_answer(struct conn *, uint32_t, const struct auth_answer *);
static void	 conn_send(struct conn *, uint32_t, uint32_t, const uint8_t *,
		    size_t);
static void	 handle_limit(struct conn *, uint32_t, const void *, size_t);
static void	 limit_done(void *, const struct limit_answer *);
static void	 limit_answer_send(struct conn *, uint32_t,
		    const struct limit_answer *);
static void	 answer_after_delay(struct conn *, uint32_t,
		    const struct auth_answer *, uint64_t);
static void	 held_cb(int, short, void *);
static void	 handle_request(struct conn *, uint32_t, const void *, size_t);
static int	 refuse_banned(struct job *, struct auth_answer *);
static void	 job_done(void *, enum auth_result, const char *);
static void	 job_answer(struct job *, struct auth_answer *);
static void	 log_attempt(const struct job *);
static void	 tick_cb(int, short, void *);
static void	 sigterm_cb(int, short, void *);
static void	 flush_and_exit(void) __attribute__((noreturn));
static const char *fmt_addr(const struct sockaddr *, char *, size_t,
		    unsigned *);

static int
open_socket(const char *path)
{
	struct sockaddr_un	sun;
	struct stat		st;
	mode_t			old;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("%s: socket path too long", path);
	strcpy(sun.sun_path, path);	/* length checked */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("%s: exists and is not a socket", path);
		if (unlink(path) == -1)
			fatal("unlink %s", path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		fatal("socket");
	/* Created 0600: no window in which others could connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (chmod(path, 0600) == -1)
		fatal("chmod %s", path);
	if (listen(fd, 128) == -1)
		fatal("listen %s", path);
	if (lstat(path, &st) == -1)
		fatal("%s", path);
	A.sockdev = st.st_dev;
	A.sockino = st.st_ino;
	return fd;
}

static void
accept_cb(int lfd, short events, void *arg)
{
	struct ucred	 cred;
	socklen_t	 clen = sizeof(cred);
	struct conn	*c;
	int		 fd;

	while ((fd = accept4(lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		memset(&cred, 0, sizeof(cred));
		clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
		    &clen) == -1 || cred.uid != geteuid()) {
			log_warnx("refused a connection from uid %ld pid %ld",
			    (long)cred.uid, (long)cred.pid);
			close(fd);
			continue;
		}
		if (A.nconns >= MAX_CONNS || A.stopping ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			log_warnx("refused a worker connection: too many");
			close(fd);
			continue;
		}
		c->fd = fd;
		TAILQ_INIT(&c->outq);
		c->rev = event_new(A.base, fd, EV_READ | EV_PERSIST,
		    conn_read, c);
		c->wev = event_new(A.base, fd, EV_WRITE | EV_PERSIST,
		    conn_write, c);
		if (c->rev == NULL || c->wev == NULL ||
		    event_add(c->rev, NULL) == -1) {
			log_warnx("out of memory");
			if (c->rev)
				event_free(c->rev);
			if (c->wev)
				event_free(c->wev);
			close(fd);
			free(c);
			continue;
		}
		TAILQ_INSERT_TAIL(&A.conns, c, entry);
		A.nconns++;
		log_debug("worker connected pid=%ld", (long)cred.pid);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    errno != ECONNABORTED)
		log_warn("accept");
}

static void
conn_close(struct conn *c)
{
	struct outmsg	*m;

	if (c->closed)
		return;
	c->closed = 1;
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	c->fd = -1;
	while ((m = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, m, entry);
		free(m);
	}
	TAILQ_REMOVE(&A.conns, c, entry);
	A.nconns--;
	if (c->jobs == 0)
		free(c);
}

/* A request of c's is in flight: stop reading c when it has too many. */
static void
conn_ref(struct conn *c)
{
	if (++c->jobs >= MAX_PENDING && !c->closed && !c->throttled) {
		event_del(c->rev);
		c->throttled = 1;
	}
}

/* A request of c's is answered. */
static void
conn_unref(struct conn *c)
{
	if (--c->jobs == 0 && c->closed) {
		free(c);
		return;
	}
	if (c->throttled && !c->closed && c->jobs < MAX_PENDING &&
	    !A.stopping) {
		c->throttled = 0;
		if (event_add(c->rev, NULL) == -1) {
			log_warnx("cannot watch a worker connection");
			conn_close(c);
		}
	}
}

/*
 * Answer request id of c no sooner than a->delay_ms after start (monotonic
 * ms, when the request arrived).  Without a timer the answer is dropped,
 * never sent early: the worker's own timeout answers its client 454.
 */
static void
answer_after_delay(struct conn *c, uint32_t id, const struct auth_answer *a,
    uint64_t start)
{
	struct held	*h;
	struct timeval	 tv;
	uint64_t	 now = mono_msec(), due = start + a->delay_ms;

	if (a->delay_ms == 0 || due <= now) {
		conn_answer(c, id, a);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->ev = evtimer_new(A.base, held_cb, h)) == NULL) {
		log_warnx("out of memory: an answer is dropped");
		free(h);
		return;
	}
	h->conn = c;
	h->id = id;
	h->a = *a;
	tv.tv_sec = (time_t)((due - now) / 1000);
	tv.tv_usec = (suseconds_t)((due - now) % 1000) * 1000;
	if (evtimer_add(h->ev, &tv) == -1) {
		log_warnx("cannot hold an answer: it is dropped");
		event_free(h->ev);
		free(h);
		return;
	}
	conn_ref(c);
}

static void
held_cb(int fd, short events, void *arg)
{
	struct held	*h = arg;

	conn_answer(h->conn, h->id, &h->a);
	conn_unref(h->conn);
	event_free(h->ev);
	free(h);
}

static void
conn_answer(struct conn *c, uint32_t id, const struct auth_answer *a)
{
	uint8_t		 buf[16];
	int		 n;

	if (c->closed)
		return;
	if ((n = authproto_encode_answer(a, buf, sizeof(buf))) == -1) {
		log_warnx("cannot encode an answer");
		return;
	}
	conn_send(c, AUTH_MSG_ANSWER, id, buf, (size_t)n);
}

/* Send a message of type (n octets, at most 16) or queue it. */
static void
conn_send(struct conn *c, uint32_t type, uint32_t id, const uint8_t *buf,
    size_t n)
{
	struct outmsg	*m;

	if (c->closed || n > sizeof(m->buf))
		return;
	if (TAILQ_EMPTY(&c->outq)) {
		if (ipc_send(c->fd, type, id, buf, n) == 0)
			return;
		if (errno != EAGAIN && errno != ENOBUFS) {
			log_debug("worker connection: %s", strerror(errno));
			conn_close(c);
			return;
		}
	}
	if (c->noutq >= MAX_OUTQ || (m = calloc(1, sizeof(*m))) == NULL) {
		log_warnx("a worker does not read its answers");
		conn_close(c);
		return;
	}
	m->type = type;
	m->id = id;
	m->len = n;
	memcpy(m->buf, buf, n);
	TAILQ_INSERT_TAIL(&c->outq, m, entry);
	c->noutq++;
	event_add(c->wev, NULL);
}

static void
conn_write(int fd, short events, void *arg)
{
	struct conn	*c = arg;
	struct outmsg	*m;

	while ((m = TAILQ_FIRST(&c->outq)) != NULL) {
		if (ipc_send(fd, m->type, m->id, m->buf,
		    m->len) == -1) {
			if (errno == EAGAIN || errno == ENOBUFS)
				return;
			conn_close(c);
			return;
		}
		TAILQ_REMOVE(&c->outq, m, entry);
		c->noutq--;
		free(m);
	}
	event_del(c->wev);
}

static void
conn_read(int fd, short events, void *arg)
{
	struct conn	*c = arg;
	struct ipc_hdr	 h;
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 i, n;

	for (i = 0; i < READ_BATCH && !c->closed; i++) {
		n = ipc_recv(fd, &h, buf);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1 || n == 0) {
			if (n == -1)
				log_warn("worker connection");
			conn_close(c);
			break;
		}
		if (n == -2 || (h.type != AUTH_MSG_VERIFY &&
		    h.type != AUTH_MSG_LIMIT)) {
			log_warnx("malformed message from a worker");
			conn_close(c);
			break;
		}
		if (h.type == AUTH_MSG_LIMIT)
			handle_limit(c, h.id, buf, h.len);
		else
			handle_request(c, h.id, buf, h.len);
		explicit_bzero(buf, h.len);
	}
}

static void
handle_request(struct conn *c, uint32_t id, const void *buf, size_t len)
{
	struct auth_answer	 a;
	struct backend_query	 q;
	struct job		*j;
	const char		*reason;

	memset(&a, 0, sizeof(a));
	a.result = AUTH_TEMPFAIL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warnx("auth result=tempfail reason=out-of-memory");
		conn_answer(c, id, &a);
		return;
	}
	if (authproto_decode_request(buf, len, &j->req) == -1) {
		log_warnx("auth result=tempfail reason=bad-request");
		free(j);
		conn_answer(c, id, &a);
		return;
	}
	j->conn = c;
	j->id = id;
	j->start = mono_msec();
	if (refuse_banned(j, &a)) {
		log_attempt(j);
		answer_after_delay(c, id, &a, j->start);
		explicit_bzero(j, sizeof(*j));
		free(j);
		return;
	}
	/* Addresses are kept lower-cased; look the user up the same way. */
	if (addr_lower(j->req.user, j->account, sizeof(j->account)) == -1)
		j->account[0] = '\0';
	/*
	 * Every request pays the keyed hash: known or not, same cost.  The
	 * key is the name the backend verifies: a store that tells case
	 * apart gets the name as sent.
	 */
	if (logincache_enabled() && logincache_mac(A.be->folds_case ?
	    j->account : j->req.user, j->req.pass, j->req.passlen,
	    j->mac) == 0)
		j->have_mac = 1;
	if (j->have_mac && logincache_lookup(j->mac)) {
		j->result = AUTH_OK;
		j->reason = NULL;
		j->cached = 1;
		explicit_bzero(j->req.pass, sizeof(j->req.pass));
		j->req.passlen = 0;
		job_answer(j, &a);
		log_attempt(j);
		explicit_bzero(j, sizeof(*j));
		free(j);
		conn_answer(c, id, &a);
		return;
	}
	q.account = j->account;
	q.user = j->req.user;
	q.userlen = j->req.userlen;
	q.pass = j->req.pass;
	q.passlen = j->req.passlen;
	q.client = (const struct sockaddr *)&j->req.client;
	q.local = NULL;		/* the worker does not send it yet */
	q.tls = j->req.tls;
	if (A.jobs >= MAX_JOBS)
		reason = "busy";
	else if (A.be->verify(&q, job_done, j, &reason) == 0)
		reason = NULL;
	explicit_bzero(j->req.pass, sizeof(j->req.pass));
	j->req.passlen = 0;
	if (reason != NULL) {
		j->result = AUTH_TEMPFAIL;
		j->reason = reason;
		log_attempt(j);
		explicit_bzero(j, sizeof(*j));
		free(j);
		conn_answer(c, id, &a);
		return;
	}
	conn_ref(c);
	A.jobs++;
}

/*
 * A banned address gets no verdict on a password, not even from the cache:
 * a session opened before its ban (or a race between the ban and an AUTH)
 * must not log in with a password it guessed.  Nothing is hashed; the
 * answer is temporary, so the worker closes with the ban's 421, and comes
 * after the failure delay like any failure.  Returns 1 when refused (the
 * answer in *a), else 0.
 */
static int
refuse_banned(struct job *j, struct auth_answer *a)
{
	if (!guard_refuses((const struct sockaddr *)&j->req.client))
		return 0;
	explicit_bzero(j->req.pass, sizeof(j->req.pass));
	j->req.passlen = 0;
	j->result = AUTH_FAIL;		/* for the log: no login */
	j->reason = "banned";
	memset(a, 0, sizeof(*a));
	a->result = AUTH_TEMPFAIL;
	a->banned = 1;
	a->delay_ms = A.conf->auth_failure_delay;
	return 1;
}

/* The answer to a verified job; the guard counts a failure. */
static void
job_answer(struct job *j, struct auth_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->result = j->result;
	if (j->result == AUTH_FAIL)
		a->delay_ms = guard_record_failure(j->account,
		    (const struct sockaddr *)&j->req.client, &a->banned);
}

/* The backend's verdict, on the loop. */
static void
job_done(void *arg, enum auth_result result, const char *reason)
{
	struct job		*j = arg;
	struct auth_answer	 a;

	j->result = result;
	j->reason = result == AUTH_OK ? NULL : reason;
	job_answer(j, &a);
	if (j->result == AUTH_OK && j->have_mac)
		logincache_insert(j->mac);
	log_attempt(j);
	if (!j->conn->closed)
		answer_after_delay(j->conn, j->id, &a, j->start);
	conn_unref(j->conn);
	A.jobs--;
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void
log_attempt(const struct job *j)
{
	char		ip[INET6_ADDRSTRLEN], user[AUTH_FIELD_MAX * 4 + 8];
	const char	*result;
	unsigned	port;

	switch (j->result) {
	case AUTH_OK:
		result = "ok";
		break;
	case AUTH_FAIL:
		result = "fail";
		break;
	default:
		result = "tempfail";
		break;
	}
	fmt_addr((const struct sockaddr *)&j->req.client, ip, sizeof(ip),
	    &port);
	log_escape(j->req.user, j->req.userlen, user, sizeof(user));
	log_info("auth result=%s ip=%s port=%u tls=%s mech=%s "
	    "user=\"%s\"%s%s%s", result, ip, port, j->req.tls ? "yes" : "no",
	    j->req.mech == AUTH_MECH_LOGIN ? "LOGIN" : "PLAIN", user,
	    j->reason ? " reason=" : "", j->reason ? j->reason : "",
	    j->cached ? " cache=hit" : "");
}

static const char *
fmt_addr(const struct sockaddr *sa, char *buf, size_t len, unsigned *port)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	*port = 0;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		*port = ntohs(sin.sin_port);
		if (inet_ntop(AF_INET, &sin.sin_addr, buf, len) != NULL)
			return buf;
		break;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		*port = ntohs(sin6.sin6_port);
		if (inet_ntop(AF_INET6, &sin6.sin6_addr, buf, len) != NULL)
			return buf;
		break;
	}
	snprintf(buf, len, "unknown");
	return buf;
}

/*
 * Sending limits (sendlimit.c): may an account send more now?  The answer
 * may wait for the guard store: the connection is referenced meanwhile.
 */
struct limit_job {
	struct conn	*conn;
	uint32_t	 id;
};

static void
handle_limit(struct conn *c, uint32_t id, const void *buf, size_t len)
{
	struct limit_request	 req;
	struct limit_answer	 a;
	struct limit_job	*lj;

	if (authproto_decode_limit(buf, len, &req) == -1 ||
	    (lj = malloc(sizeof(*lj))) == NULL) {
		log_warnx("send-limit result=tempfail reason=bad-request");
		memset(&a, 0, sizeof(a));
		a.result = AUTH_TEMPFAIL;
		limit_answer_send(c, id, &a);
		return;
	}
	lj->conn = c;
	lj->id = id;
	conn_ref(c);
	sendlimit_check(&req, limit_done, lj);
}

static void
limit_done(void *arg, const struct limit_answer *a)
{
	struct limit_job	*lj = arg;

	limit_answer_send(lj->conn, lj->id, a);
	conn_unref(lj->conn);
	free(lj);
}

static void
limit_answer_send(struct conn *c, uint32_t id, const struct limit_answer *a)
{
	uint8_t	buf[16];
	int	n;

	if ((n = authproto_encode_limit_answer(a, buf, sizeof(buf))) == -1) {
		log_warnx("cannot encode a send-limit answer");
		return;
	}
	conn_send(c, AUTH_MSG_LIMIT_ANSWER, id, buf, (size_t)n);
}

static void
tick_cb(int fd, short events, void *arg)
{
	guard_tick();
	sendlimit_tick();
}

static void
sigterm_cb(int sig, short events, void *arg)
{
	struct conn	*c;
	struct stat	 st;

	log_info("stopping: %u verification(s) in flight", A.jobs);
	A.stopping = 1;
	/* Take no new work; what was accepted is finished and answered. */
	event_del(A.lev);
	close(A.lfd);
	A.lfd = -1;
	/* A new auth process may have bound the path already: not ours. */
	if (lstat(A.sockpath, &st) == 0 && st.st_dev == A.sockdev &&
	    st.st_ino == A.sockino)
		unlink(A.sockpath);
	TAILQ_FOREACH(c, &A.conns, entry)
		event_del(c->rev);
	event_base_loopbreak(A.base);
}

static void
flush_and_exit(void)
{
	struct conn	*c, *next;
	struct outmsg	*m;
	struct pollfd	 pfd;
	struct timespec	 start, now;
	long		 left;

	/* Runs every job's done(): their answers are queued or sent. */
	workq_free(A.wq);
	A.be->stop();
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (c = TAILQ_FIRST(&A.conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		while ((m = TAILQ_FIRST(&c->outq)) != NULL) {
			if (ipc_send(c->fd, m->type, m->id, m->buf,
			    m->len) == 0) {
				TAILQ_REMOVE(&c->outq, m, entry);
				free(m);
				continue;
			}
			if (errno != EAGAIN && errno != ENOBUFS)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = STOP_FLUSH_MS -
			    ((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0)
				break;
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			(void)poll(&pfd, 1, (int)left);
		}
		conn_close(c);
	}
	logincache_wipe();
	guard_stop();
	log_info("stopped");
	exit(0);
}

void
authd_main(const struct config *conf, char *users_text, size_t len,
    char *bindpw, const char *sockpath)
{
	static const struct timeval	 second = { 1, 0 };
	struct event_config		*ecfg;
	struct backend_env		 env;
	long				 ncpu;

	log_setproc("auth");
	/* Same-uid workers must not read our memory (ptrace, /proc). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_DUMPABLE)");
	signal(SIGPIPE, SIG_IGN);

	memset(&A, 0, sizeof(A));
	A.conf = conf;
	A.sockpath = sockpath;
	A.lfd = -1;
	TAILQ_INIT(&A.conns);

	logincache_init(conf->auth_cache_ttl);
	guard_init(conf);
	sendlimit_init(conf);
	/*
	 * Precise timers: libevent's default clock is coarse (a few ms) and
	 * would answer a held failure a little before its delay.
	 */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (A.base = event_base_new_with_config(ecfg)) == NULL)
		fatalx("event_base_new");
	event_config_free(ecfg);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > MAX_THREADS)
		ncpu = MAX_THREADS;
	if ((A.wq = workq_new(A.base, (unsigned)ncpu)) == NULL)
		fatalx("workq_new");
	guard_start(A.base);

	switch (conf->auth_backend) {
	case AUTH_BACKEND_DOVECOT:
		A.be = &backend_dovecot;
		break;
	case AUTH_BACKEND_LDAP:
		A.be = &backend_ldap;
		break;
	default:
		A.be = &backend_file;
		break;
	}
	memset(&env, 0, sizeof(env));
	env.conf = conf;
	env.base = A.base;
	env.wq = A.wq;
	env.bindpw = bindpw;
	/* The users file holds hashes only the file backend needs. */
	if (A.be == &backend_file) {
		env.users_text = users_text;
		env.users_len = len;
	} else if (users_text != NULL) {
		explicit_bzero(users_text, len);
		free(users_text);
	}
	A.be->init(&env);

	A.lfd = open_socket(sockpath);
	A.lev = event_new(A.base, A.lfd, EV_READ | EV_PERSIST, accept_cb,
	    NULL);
	A.tick = event_new(A.base, -1, EV_PERSIST, tick_cb, NULL);
	A.sigterm = evsignal_new(A.base, SIGTERM, sigterm_cb, NULL);
	if (A.lev == NULL || A.tick == NULL || A.sigterm == NULL ||
	    event_add(A.lev, NULL) == -1 || event_add(A.tick, &second) == -1 ||
	    event_add(A.sigterm, NULL) == -1)
		fatalx("cannot set up the event loop");
	log_info("ready socket=%s backend=%s threads=%ld cache-ttl=%u",
	    sockpath, A.be->name, ncpu, conf->auth_cache_ttl);

	event_base_dispatch(A.base);
	flush_and_exit();
}
