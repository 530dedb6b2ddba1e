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
 * SASL exchanges (other mechanisms than PLAIN and LOGIN, backend.h): the
 * worker passes each client message through (AUTH_MSG_SASL) and gets a
 * challenge or the verdict back.  An exchange belongs to the worker
 * connection that started it, has an id of that connection's, and lasts
 * at most EXCH_IDLE_MS between steps and EXCH_MAX_STEPS steps; a worker
 * does not say when its client went away, so when MAX_EXCH are open the
 * one that waited longest for its client makes room for a new one.  Its end
 * is a verification like any other: a refusal of a banned address at the
 * start, the guard and the failure delay (from the last step) on a
 * failure, one log line.  A message the mechanism cannot parse ends it as
 * malformed (AUTH_MALFORMED: 501, as a PLAIN message that does not
 * decode): no password was tried, so the guard does not count it.
 * Final data of a successful mechanism (SCRAM's server signature) goes to
 * the client as a challenge; the verdict comes after its empty answer
 * (RFC 4954 4).
 *
 * Cache (logincache.c, auth-cache-ttl): a client that logs in every few
 * minutes should not pay yescrypt each time.  After a successful
 * verification the auth process remembers HMAC-SHA256(key, account NUL
 * tag password) for the TTL under a random key that never leaves the
 * auth processes' memory (the region of authstate.h, which a reload
 * keeps, as it keeps the guard's ledgers).  The tag is what the backend
 * holds for the account (cache_tag): a changed password line takes
 * effect at the reload, a remote store's change within the TTL.  A
 * wrong password
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
#include <openssl/evp.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/workq.h"
#include "server/auth/authd.h"
#include "server/auth/backend.h"
#include "server/auth/guard.h"
#include "server/auth/logincache.h"
#include "server/auth/rcptlookup.h"
#include "server/shared/metrics.h"
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
#define MAX_EXCH		1024	/* SASL exchanges of one worker */
#define EXCH_IDLE_MS		300000	/* between two steps */
#define EXCH_MAX_STEPS		8

struct outmsg {
	TAILQ_ENTRY(outmsg)	 entry;
	uint32_t		 type;
	uint32_t		 id;
	size_t			 len;
	uint8_t			 buf[];
};

struct exch;

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
	TAILQ_HEAD(, exch)	 exchs;
	size_t			 nexch;
	uint32_t		 next_xid;
};

/* A SASL exchange (handle_sasl). */
struct exch {
	TAILQ_ENTRY(exch)	 entry;
	struct conn		*conn;
	uint32_t		 xid;		/* the worker names it so */
	uint32_t		 ipcid;		/* the step to answer */
	uint64_t		 start;		/* the step's arrival */
	struct sockaddr_storage	 client;
	int			 tls;
	char			 mech[AUTH_MECH_NAME_MAX + 1];
	char			 user[AUTH_FIELD_MAX + 1];
	size_t			 userlen;
	void			*bh;		/* backend's; NULL: gone */
	int			 busy;		/* a step is with the backend */
	int			 final_ok;	/* waiting for the last "" */
	unsigned		 steps;
	struct event		*idle;
};

/* A failed verdict waiting for its delay, encoded. */
struct held {
	struct conn		*conn;
	uint32_t		 type;
	uint32_t		 id;
	struct event		*ev;
	size_t			 len;
	uint8_t			 buf[];
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
	uint8_t			 be_tag[LOGINCACHE_TAG_LEN];
} A;

static int	 open_socket(const char *);
static void	 accept_cb(int, short, void *);
static void	 conn_read(int, short, void *);
static void	 conn_write(int, short, void *);
static void	 conn_close(struct conn *);
static void	 conn_unref(struct conn *);
static void	 conn_ref(struct conn *);
static void	 conn_answer(struct conn *, uint32_t, const struct auth_answer *);
static void	 conn_send(struct conn *, uint32_t, uint32_t, const void *,
		    size_t);
static void	 send_after_delay(struct conn *, uint32_t, uint32_t,
		    const void *, size_t, uint32_t, uint64_t);
static void	 handle_limit(struct conn *, uint32_t, const void *, size_t);
static void	 limit_done(void *, const struct limit_answer *);
static void	 limit_answer_send(struct conn *, uint32_t,
		    const struct limit_answer *);
static void	 answer_after_delay(struct conn *, uint32_t,
		    const struct auth_answer *, uint64_t);
static void	 send_mechs(struct conn *);
static void	 mechs_changed(void);
static void	 handle_sasl(struct conn *, uint32_t, const void *, size_t);
static void	 sasl_start(struct conn *, uint32_t,
		    struct auth_sasl_request *);
static void	 sasl_continue(struct conn *, uint32_t,
		    struct auth_sasl_request *);
static void	 sasl_answer(struct conn *, uint32_t, enum auth_result,
		    const uint8_t *, size_t, uint32_t, const char *, size_t,
		    uint32_t, int, uint64_t);
static void	 exch_done(void *, const struct backend_step *);
static void	 exch_finish(struct exch *, enum auth_result, const char *);
static void	 exch_free(struct exch *);
static void	 exch_idle_cb(int, short, void *);
static void	 exch_evict(struct conn *);
static void	 exch_challenge(struct exch *, const uint8_t *, size_t);
static int	 backend_offers(const char *);
static struct exch *exch_find(struct conn *, uint32_t);
static void	 log_line(enum auth_result, const struct sockaddr *, int,
		    const char *, const char *, size_t, const char *, int);
static void	 held_cb(int, short, void *);
static void	 handle_request(struct conn *, uint32_t, const void *, size_t);
static void	 handle_unban(struct conn *, uint32_t, const void *, size_t);
static void	 handle_rcpt(struct conn *, uint32_t, const void *, size_t);
static void	 cache_tag(const char *, uint8_t *);
static void	 backend_tag(const struct config *);
static void	 rcpt_done(void *, enum auth_result, int);
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
		TAILQ_INIT(&c->exchs);
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
		send_mechs(c);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    errno != ECONNABORTED)
		log_warn("accept");
}

static void
conn_close(struct conn *c)
{
	struct outmsg	*m;

	struct exch	*x;

	if (c->closed)
		return;
	c->closed = 1;
	/* Exchanges die with their worker: no callback comes after this. */
	while ((x = TAILQ_FIRST(&c->exchs)) != NULL) {
		if (x->bh != NULL)
			A.be->sasl_abort(x->bh);
		x->bh = NULL;
		if (x->busy) {
			c->jobs--;
			A.jobs--;
		}
		exch_free(x);
	}
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
 * Send message (type, id) to c no sooner than delay_ms after start
 * (monotonic ms, when the request arrived).  Without a timer the answer
 * is dropped, never sent early: the worker's own timeout answers its
 * client 454.
 */
static void
send_after_delay(struct conn *c, uint32_t type, uint32_t id, const void *buf,
    size_t len, uint32_t delay_ms, uint64_t start)
{
	struct held	*h;
	struct timeval	 tv;
	uint64_t	 now = mono_msec(), due = start + delay_ms;

	if (delay_ms == 0 || due <= now) {
		conn_send(c, type, id, buf, len);
		return;
	}
	if ((h = calloc(1, sizeof(*h) + len)) == NULL ||
	    (h->ev = evtimer_new(A.base, held_cb, h)) == NULL) {
		log_warnx("out of memory: an answer is dropped");
		free(h);
		return;
	}
	h->conn = c;
	h->type = type;
	h->id = id;
	h->len = len;
	memcpy(h->buf, buf, len);
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
answer_after_delay(struct conn *c, uint32_t id, const struct auth_answer *a,
    uint64_t start)
{
	uint8_t	buf[16];
	int	n;

	if ((n = authproto_encode_answer(a, buf, sizeof(buf))) == -1) {
		log_warnx("cannot encode an answer");
		return;
	}
	send_after_delay(c, AUTH_MSG_ANSWER, id, buf, (size_t)n, a->delay_ms,
	    start);
}

static void
held_cb(int fd, short events, void *arg)
{
	struct held	*h = arg;

	conn_send(h->conn, h->type, h->id, h->buf, h->len);
	conn_unref(h->conn);
	event_free(h->ev);
	explicit_bzero(h->buf, h->len);
	free(h);
}

/* At once, whatever a->delay_ms says. */
static void
conn_answer(struct conn *c, uint32_t id, const struct auth_answer *a)
{
	uint8_t	buf[16];
	int	n;

	if ((n = authproto_encode_answer(a, buf, sizeof(buf))) == -1) {
		log_warnx("cannot encode an answer");
		return;
	}
	conn_send(c, AUTH_MSG_ANSWER, id, buf, (size_t)n);
}

static void
conn_send(struct conn *c, uint32_t type, uint32_t id, const void *buf,
    size_t n)
{
	struct outmsg	*m;

	if (c->closed)
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
	if (c->noutq >= MAX_OUTQ || (m = calloc(1, sizeof(*m) + n)) == NULL) {
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
		if (ipc_send(fd, m->type, m->id, m->buf, m->len) == -1) {
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
		if (n == 1 && h.type == AUTH_MSG_UNBAN) {
			handle_unban(c, h.id, buf, h.len);
			continue;
		}
		if (n == -2 || (h.type != AUTH_MSG_VERIFY &&
		    h.type != AUTH_MSG_SASL && h.type != AUTH_MSG_LIMIT &&
		    h.type != AUTH_MSG_RCPT)) {
			log_warnx("malformed message from a worker");
			conn_close(c);
			break;
		}
		if (h.type == AUTH_MSG_SASL)
			handle_sasl(c, h.id, buf, h.len);
		else if (h.type == AUTH_MSG_LIMIT)
			handle_limit(c, h.id, buf, h.len);
		else if (h.type == AUTH_MSG_RCPT)
			handle_rcpt(c, h.id, buf, h.len);
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
	if (logincache_enabled()) {
		uint8_t	tag[LOGINCACHE_TAG_LEN];

		cache_tag(j->account, tag);
		if (logincache_mac(A.be->folds_case ? j->account :
		    j->req.user, tag, j->req.pass, j->req.passlen,
		    j->mac) == 0)
			j->have_mac = 1;
	}
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
	q.local = j->req.local.ss_family == AF_UNSPEC ? NULL :
	    (const struct sockaddr *)&j->req.local;
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
 * The login cache's tag of an account (logincache.h): the backend's
 * (the users file's hash of the user), else the digest of the backend's
 * configuration.  An account the backend does not have gets zeros: it is
 * hashed all the same (the same cost), and no success is ever kept
 * under them.
 */
static void
cache_tag(const char *account, uint8_t *tag)
{
	if (A.be->cache_tag == NULL) {
		memcpy(tag, A.be_tag, LOGINCACHE_TAG_LEN);
		return;
	}
	if (A.be->cache_tag(account, tag) == -1)
		memset(tag, 0, LOGINCACHE_TAG_LEN);
}

/* Where a remote backend is and how it is asked: its cache tag. */
static void
backend_tag(const struct config *conf)
{
	const char	*parts[7];
	EVP_MD_CTX	*ctx;
	unsigned int	 n = 0;
	size_t		 i;

	parts[0] = A.be->name;
	parts[1] = conf->dovecot_auth;
	parts[2] = conf->ldap_uri;
	parts[3] = conf->ldap_base;
	parts[4] = conf->ldap_filter;
	parts[5] = conf->ldap_bind_dn;
	parts[6] = conf->ldap_bind_password_file;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatalx("cannot hash the backend's configuration");
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		/* Each with its NUL: the parts cannot run into each other. */
		if (EVP_DigestUpdate(ctx, parts[i] ? parts[i] : "",
		    parts[i] ? strlen(parts[i]) + 1 : 1) != 1)
			fatalx("cannot hash the backend's configuration");
	if (EVP_DigestFinal_ex(ctx, A.be_tag, &n) != 1 ||
	    n != LOGINCACHE_TAG_LEN)
		fatalx("cannot hash the backend's configuration");
	EVP_MD_CTX_free(ctx);
}

/* "smtpauthctl unban" through the queue process (authproto.h). */
static void
handle_unban(struct conn *c, uint32_t id, const void *buf, size_t len)
{
	const uint8_t		*p = buf;
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	 sin6;
	uint8_t			 n;

	if (len != AUTH_UNBAN_LEN) {
		log_warnx("malformed unban request");
		conn_close(c);
		return;
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	memcpy(&sin6.sin6_addr, p, 16);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin6, sizeof(sin6));
	n = (uint8_t)guard_unban((const struct sockaddr *)&ss, p[16]);
	if (ipc_send(c->fd, AUTH_MSG_UNBANNED, id, &n, 1) == -1)
		log_warn("unban answer");
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
	log_line(j->result, (const struct sockaddr *)&j->req.client,
	    j->req.tls, j->req.mech == AUTH_MECH_LOGIN ? "LOGIN" : "PLAIN",
	    j->req.user, j->req.userlen, j->reason, j->cached);
}

/* The one line of every verification, whatever the mechanism. */
static void
log_line(enum auth_result res, const struct sockaddr *client, int tls,
    const char *mech, const char *username, size_t userlen,
    const char *reason, int cached)
{
	char		ip[INET6_ADDRSTRLEN], user[AUTH_FIELD_MAX * 4 + 8];
	const char	*result;
	unsigned	port;

	switch (res) {
	case AUTH_OK:
		result = "ok";
		break;
	case AUTH_FAIL:
		result = "fail";
		break;
	case AUTH_MALFORMED:
		result = "malformed";
		break;
	default:
		result = "tempfail";
		break;
	}
	/* A malformed exchange failed, for the counters. */
	metrics_auth(mech, res == AUTH_MALFORMED ? AUTH_FAIL : res);
	fmt_addr(client, ip, sizeof(ip), &port);
	log_escape(username, userlen, user, sizeof(user));
	log_info("auth result=%s ip=%s port=%u tls=%s mech=%s "
	    "user=\"%s\"%s%s%s", result, ip, port, tls ? "yes" : "no", mech,
	    user, reason ? " reason=" : "", reason ? reason : "",
	    cached ? " cache=hit" : "");
}

/* What workers may offer: PLAIN, LOGIN, and the backend's. */
static void
send_mechs(struct conn *c)
{
	struct auth_mechs	m, be;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	size_t			i;
	int			n;

	memset(&m, 0, sizeof(m));
	snprintf(m.m[0].name, sizeof(m.m[0].name), "PLAIN");
	snprintf(m.m[1].name, sizeof(m.m[1].name), "LOGIN");
	m.m[0].plaintext = m.m[1].plaintext = 1;
	m.n = 2;
	memset(&be, 0, sizeof(be));
	if (A.be->mechs != NULL)
		A.be->mechs(&be);
	for (i = 0; i < be.n && m.n < AUTH_MECHS_MAX; i++)
		m.m[m.n++] = be.m[i];
	if ((n = authproto_encode_mechs(&m, buf, sizeof(buf))) == -1) {
		log_warnx("cannot encode the mechanisms");
		return;
	}
	conn_send(c, AUTH_MSG_MECHS, 0, buf, (size_t)n);
}

static void
mechs_changed(void)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&A.conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		send_mechs(c);
	}
}

/* Encode and send (after delay_ms from start) one SASL answer. */
static void
sasl_answer(struct conn *c, uint32_t id, enum auth_result result,
    const uint8_t *data, size_t len, uint32_t xid, const char *user,
    size_t userlen, uint32_t delay_ms, int banned, uint64_t start)
{
	struct auth_sasl_answer	*sa;
	uint8_t			 buf[IPC_MAX_PAYLOAD];
	int			 n;

	if ((sa = calloc(1, sizeof(*sa))) == NULL) {
		log_warnx("out of memory: an answer is dropped");
		return;
	}
	sa->a.result = result;
	sa->a.delay_ms = delay_ms;
	sa->a.banned = banned;
	sa->exchange = xid;
	if (len > sizeof(sa->challenge))
		len = 0;	/* the encoder refuses nothing else */
	if (len > 0)
		memcpy(sa->challenge, data, len);
	sa->chlen = len;
	if (result == AUTH_OK && userlen > 0) {
		memcpy(sa->user, user, userlen);
		sa->userlen = userlen;
	}
	n = authproto_encode_sasl_answer(sa, buf, sizeof(buf));
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	if (n == -1) {
		log_warnx("cannot encode a SASL answer");
		return;
	}
	send_after_delay(c, AUTH_MSG_SASL_ANSWER, id, buf, (size_t)n,
	    delay_ms, start);
	explicit_bzero(buf, (size_t)n);
}

static void
handle_sasl(struct conn *c, uint32_t id, const void *buf, size_t len)
{
	struct auth_sasl_request	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_warnx("auth result=tempfail reason=out-of-memory");
		sasl_answer(c, id, AUTH_TEMPFAIL, NULL, 0, 0, NULL, 0, 0, 0, 0);
		return;
	}
	if (authproto_decode_sasl_request(buf, len, q) == -1) {
		log_warnx("auth result=tempfail reason=bad-request");
		sasl_answer(c, id, AUTH_TEMPFAIL, NULL, 0, 0, NULL, 0, 0, 0, 0);
	} else if (q->step == AUTH_STEP_START)
		sasl_start(c, id, q);
	else
		sasl_continue(c, id, q);
	explicit_bzero(q, sizeof(*q));
	free(q);
}

static struct exch *
exch_find(struct conn *c, uint32_t xid)
{
	struct exch	*x;

	TAILQ_FOREACH(x, &c->exchs, entry)
		if (x->xid == xid)
			return x;
	return NULL;
}

/* Is mech one the backend runs now? */
static int
backend_offers(const char *mech)
{
	struct auth_mechs	m;
	size_t			i;

	if (A.be->mechs == NULL || A.be->sasl_start == NULL)
		return 0;
	A.be->mechs(&m);
	for (i = 0; i < m.n; i++)
		if (strcmp(m.m[i].name, mech) == 0)
			return 1;
	return 0;
}

static void
sasl_start(struct conn *c, uint32_t id, struct auth_sasl_request *q)
{
	struct backend_sasl_query	 bq;
	struct exch			*x;
	const char			*reason = NULL;
	uint64_t			 start = mono_msec();

	if (guard_refuses((const struct sockaddr *)&q->client)) {
		/* As refuse_banned(): no verdict, after the delay. */
		log_line(AUTH_FAIL, (const struct sockaddr *)&q->client,
		    q->tls, q->mech, "", 0, "banned", 0);
		sasl_answer(c, id, AUTH_TEMPFAIL, NULL, 0, 0, NULL, 0,
		    A.conf->auth_failure_delay, 1, start);
		return;
	}
	if (c->nexch >= MAX_EXCH)
		exch_evict(c);
	if (!backend_offers(q->mech))
		reason = "mech-unavailable";
	else if (c->nexch >= MAX_EXCH || A.jobs >= MAX_JOBS)
		reason = "busy";
	else if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->idle = evtimer_new(A.base, exch_idle_cb, x)) == NULL) {
		free(x);
		reason = "out-of-memory";
	}
	if (reason != NULL) {
		log_line(AUTH_TEMPFAIL, (const struct sockaddr *)&q->client,
		    q->tls, q->mech, "", 0, reason, 0);
		sasl_answer(c, id, AUTH_TEMPFAIL, NULL, 0, 0, NULL, 0, 0, 0, 0);
		return;
	}
	x->conn = c;
	/* Unique among c's: at most MAX_EXCH of 2^32 - 1 are alive. */
	do {
		if (++c->next_xid == 0)
			c->next_xid = 1;
	} while (exch_find(c, c->next_xid) != NULL);
	x->xid = c->next_xid;
	x->ipcid = id;
	x->start = start;
	x->client = q->client;
	x->tls = q->tls;
	memcpy(x->mech, q->mech, sizeof(x->mech));
	memset(&bq, 0, sizeof(bq));
	bq.mech = x->mech;
	bq.client = (const struct sockaddr *)&q->client;
	bq.local = q->local.ss_family == AF_UNSPEC ? NULL :
	    (const struct sockaddr *)&q->local;
	bq.tls = q->tls;
	bq.has_data = q->has_data;
	bq.data = q->data;
	bq.datalen = q->datalen;
	bq.cb = q->cblen > 0 ? q->cb : NULL;
	bq.cblen = q->cblen;
	TAILQ_INSERT_TAIL(&c->exchs, x, entry);
	c->nexch++;
	x->busy = 1;
	conn_ref(c);
	A.jobs++;
	if (A.be->sasl_start(&bq, exch_done, x, &x->bh, &reason) == -1) {
		x->bh = NULL;
		exch_finish(x, AUTH_TEMPFAIL, reason);
	}
}

static void
sasl_continue(struct conn *c, uint32_t id, struct auth_sasl_request *q)
{
	struct exch	*x;
	const char	*reason;

	x = exch_find(c, q->exchange);
	if (x == NULL || x->busy) {
		/* Expired, or a worker that does not wait for its answer. */
		log_warnx("auth result=tempfail reason=%s",
		    x == NULL ? "no-exchange" : "bad-request");
		sasl_answer(c, id, AUTH_TEMPFAIL, NULL, 0, 0, NULL, 0, 0, 0, 0);
		return;
	}
	evtimer_del(x->idle);
	x->ipcid = id;
	x->start = mono_msec();
	x->busy = 1;
	conn_ref(c);
	A.jobs++;
	if (x->final_ok) {
		/* RFC 4954 4: the answer to final data is empty. */
		exch_finish(x, q->datalen == 0 ? AUTH_OK : AUTH_FAIL,
		    q->datalen == 0 ? NULL : "bad-response");
		return;
	}
	if (x->bh == NULL)
		exch_finish(x, AUTH_TEMPFAIL, "backend-down");
	else if (++x->steps > EXCH_MAX_STEPS)
		exch_finish(x, AUTH_FAIL, "too-many-steps");
	else if (A.be->sasl_step(x->bh, q->data, q->datalen,
	    &reason) == -1) {
		x->bh = NULL;
		exch_finish(x, AUTH_TEMPFAIL, reason);
	}
}

/* The backend's reply to a step, on the loop. */
static void
exch_done(void *arg, const struct backend_step *st)
{
	struct exch	*x = arg;

	if (st->user != NULL && st->userlen <= AUTH_FIELD_MAX) {
		memcpy(x->user, st->user, st->userlen);
		x->user[st->userlen] = '\0';
		x->userlen = st->userlen;
	}
	if (st->result != AUTH_CONTINUE)
		x->bh = NULL;	/* the backend is done with it */
	if (!x->busy)
		return;		/* lost while the client thinks */
	if (st->result == AUTH_CONTINUE)
		exch_challenge(x, st->data, st->datalen);
	else if (st->result == AUTH_OK && st->data != NULL) {
		x->final_ok = 1;
		exch_challenge(x, st->data, st->datalen);
	} else
		exch_finish(x, st->result, st->reason);
}

/* A challenge for the client; the exchange waits for its answer. */
static void
exch_challenge(struct exch *x, const uint8_t *data, size_t len)
{
	struct conn		*c = x->conn;
	struct timeval		 tv = { EXCH_IDLE_MS / 1000, 0 };
	uint32_t		 id = x->ipcid;

	if (len > AUTH_DATA_MAX) {
		exch_finish(x, AUTH_TEMPFAIL, "backend-protocol");
		return;
	}
	x->busy = 0;
	A.jobs--;
	evtimer_add(x->idle, &tv);
	conn_unref(c);
	/* Last: a broken worker connection frees x (and c). */
	sasl_answer(c, id, AUTH_CONTINUE, data, len, x->xid, NULL, 0, 0, 0,
	    0);
}

/* The end of a busy exchange: the verdict, the guard, the log line. */
static void
exch_finish(struct exch *x, enum auth_result result, const char *reason)
{
	struct conn	*c = x->conn;
	char		 account[AUTH_FIELD_MAX + 1], user[AUTH_FIELD_MAX + 1];
	size_t		 userlen;
	uint32_t	 delay = 0, id = x->ipcid;
	uint64_t	 start = x->start;
	int		 banned = 0;

	if (result == AUTH_OK && x->userlen == 0) {
		result = AUTH_TEMPFAIL;
		reason = "no-user";
	}
	if (result == AUTH_FAIL) {
		if (addr_lower(x->user, account, sizeof(account)) == -1)
			account[0] = '\0';
		delay = guard_record_failure(account,
		    (const struct sockaddr *)&x->client, &banned);
	}
	log_line(result, (const struct sockaddr *)&x->client, x->tls,
	    x->mech, x->user, x->userlen, result == AUTH_OK ? NULL : reason,
	    0);
	if (x->bh != NULL)
		A.be->sasl_abort(x->bh);
	x->bh = NULL;
	A.jobs--;
	userlen = x->userlen;
	memcpy(user, x->user, sizeof(user));
	/* Gone before the answer: a broken connection would free it. */
	exch_free(x);
	sasl_answer(c, id, result, NULL, 0, 0, user, userlen, delay, banned,
	    start);
	explicit_bzero(user, sizeof(user));
	conn_unref(c);
}

static void
exch_free(struct exch *x)
{
	TAILQ_REMOVE(&x->conn->exchs, x, entry);
	x->conn->nexch--;
	event_free(x->idle);
	explicit_bzero(x, sizeof(*x));
	free(x);
}

/* The exchange of c that waited longest for its client is dropped. */
static void
exch_evict(struct conn *c)
{
	struct exch	*x, *old = NULL;

	TAILQ_FOREACH(x, &c->exchs, entry)
		if (!x->busy && (old == NULL || x->start < old->start))
			old = x;
	if (old == NULL)
		return;
	if (old->bh != NULL)
		A.be->sasl_abort(old->bh);
	old->bh = NULL;
	exch_free(old);
}

/* The client went quiet or cancelled ("*"): the worker forgot it. */
static void
exch_idle_cb(int fd, short events, void *arg)
{
	struct exch	*x = arg;

	if (x->bh != NULL)
		A.be->sasl_abort(x->bh);
	x->bh = NULL;
	exch_free(x);
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

/*
 * Recipient lookups (rcptlookup.c): no guard, no delay, no log line of
 * a login; the connection is referenced while the store is asked.
 */
struct rcpt_job {
	struct conn	*conn;
	uint32_t	 id;
};

static void
handle_rcpt(struct conn *c, uint32_t id, const void *buf, size_t len)
{
	struct rcpt_request	 req;
	struct rcpt_job		*rj;
	struct auth_answer	 a;
	uint8_t			 out[16];
	int			 n;

	if (authproto_decode_rcpt(buf, len, &req) == -1 ||
	    (rj = malloc(sizeof(*rj))) == NULL) {
		log_warnx("rcpt-lookup result=tempfail reason=bad-request");
		memset(&a, 0, sizeof(a));
		a.result = AUTH_TEMPFAIL;
		if ((n = authproto_encode_answer(&a, out, sizeof(out))) != -1)
			conn_send(c, AUTH_MSG_RCPT_ANSWER, id, out, (size_t)n);
		return;
	}
	rj->conn = c;
	rj->id = id;
	conn_ref(c);
	rcptlookup_ask(req.addr, req.len, rcpt_done, rj);
}

static void
rcpt_done(void *arg, enum auth_result result, int cached)
{
	struct rcpt_job		*rj = arg;
	struct auth_answer	 a;
	uint8_t			 buf[16];
	int			 n;

	memset(&a, 0, sizeof(a));
	a.result = result;
	if ((n = authproto_encode_answer(&a, buf, sizeof(buf))) == -1)
		log_warnx("cannot encode a recipient answer");
	else
		conn_send(rj->conn, AUTH_MSG_RCPT_ANSWER, rj->id, buf,
		    (size_t)n);
	log_debug("rcpt-lookup result=%s%s", result == AUTH_OK ? "ok" :
	    result == AUTH_FAIL ? "unknown" : "tempfail",
	    cached ? " cache=hit" : "");
	conn_unref(rj->conn);
	free(rj);
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
	/* Health for the metrics: the users file is always there. */
	METRICS_SET(backend_up, conf->auth_backend == AUTH_BACKEND_FILE);
	METRICS_SET(store_up, conf->guard_store.set ? 0 : -1);
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
	env.mechs_changed = mechs_changed;
	/* The users file holds hashes only the file backend needs. */
	if (A.be == &backend_file) {
		env.users_text = users_text;
		env.users_len = len;
	} else if (users_text != NULL) {
		explicit_bzero(users_text, len);
		free(users_text);
	}
	A.be->init(&env);
	backend_tag(conf);
	rcptlookup_init(conf, A.be);

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
