/*
 * The Dovecot backend (auth-backend dovecot): Dovecot's auth-client
 * protocol over its auth socket (dovecot-auth unix:PATH or inet:HOST:PORT),
 * asynchronous on the auth process's event loop.
 *
 * Handshake: at connect we send "VERSION 1 2" and "CPID" at once and never
 * wait for the server first (Dovecot 2.4 waits for the client; 2.3 sends
 * its own lines first: both work).  The server's VERSION, MECH lines and
 * DONE follow; requests are sent once DONE came and PLAIN is offered.  A
 * LOGIN from the client goes to Dovecot as PLAIN: both carry the user and
 * the password in one step.  Several requests are in flight at once, told
 * apart by their ids.
 *
 * Other mechanisms pass through (SCRAM-SHA-256, CRAM-MD5, ...): those
 * Dovecot offers in its MECH lines, less the anonymous and private ones
 * and the -PLUS ones (their channel binding is our TLS, not Dovecot's).
 * The request id stays the same for the whole exchange: each CONT from
 * Dovecot is a challenge for the client, each answer goes back as CONT.
 * The list offered is the last one Dovecot sent: an outage does not
 * change what EHLO says.
 *
 * While the socket is not there or Dovecot does not answer, every login is
 * a temporary failure (reason=backend-down: 454, never 535); the outage is
 * logged once, and a new connection is tried with a doubling backoff.
 * Every line from Dovecot is bounded (DVC_LINE_MAX): one longer, or
 * malformed, drops the connection like an outage.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/base64.h"
#include "common/log.h"
#include "server/auth/backend.h"
#include "server/auth/dovecot_io.h"
#include "server/auth/dovecot_proto.h"
#include "server/auth/dovecot_userdb.h"
#include "server/shared/metrics.h"

#define MAX_OUTBUF	(1024 * 1024)	/* unsent requests */
#define AUTH_LINE_MAX	2048		/* one AUTH request */

enum dstate { DS_DOWN, DS_HANDSHAKE, DS_READY };

struct dreq {
	TAILQ_ENTRY(dreq)	 entry;
	uint32_t		 id;
	backend_done		 done;		/* PLAIN, LOGIN */
	backend_step_done	 sdone;		/* other mechanisms */
	void			*arg;
	struct event		*timer;
	int			 waiting;	/* for the client, not us */
};

static struct {
	const struct config	*conf;
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct bufferevent	*bev;
	enum dstate		 state;
	int			 have_plain;
	int			 version_ok;
	unsigned		 backoff_ms;
	int			 down_logged;
	struct event		*retry;
	struct event		*hs_timer;	/* the handshake's deadline */
	TAILQ_HEAD(, dreq)	 reqs;
	uint32_t		 next_id;
	char			 line[DVC_LINE_MAX + 1];
	void			(*mechs_changed)(void);
	struct auth_mechs	 mechs;		/* offered, the last list */
	struct auth_mechs	 hs_mechs;	/* in this handshake */
} D;

static void	dv_init(struct backend_env *);
static int	dv_verify(const struct backend_query *, backend_done, void *,
		    const char **);
static void	dv_stop(void);
static void	dv_connect(void);
static void	dv_down(const char *);
static void	dv_retry_cb(int, short, void *);
static void	dv_hs_timeout(int, short, void *);
static void	dv_event_cb(struct bufferevent *, short, void *);
static void	dv_read_cb(struct bufferevent *, void *);
static int	dv_line(const char *, size_t);
static void	dv_finish(struct dreq *, enum auth_result, const char *);
static void	dv_req_timeout(int, short, void *);
static int	dv_send(const char *, size_t);
static int	fmt_ip(const struct sockaddr *, char *, size_t, unsigned *);
static void	dv_mechs(struct auth_mechs *);
static void	dv_mech_line(const struct dvc_line *);
static int	dv_sasl_start(const struct backend_sasl_query *,
		    backend_step_done, void *, void **, const char **);
static int	dv_sasl_step(void *, const uint8_t *, size_t, const char **);
static void	dv_sasl_abort(void *);
static void	dv_step_reply(struct dreq *, const struct dvc_line *);
static int	dv_session_fields(const struct sockaddr *,
		    const struct sockaddr *, int, char *, size_t);
static struct dreq *dv_req_new(const char **);
static void	dv_req_free(struct dreq *);

const struct backend_ops backend_dovecot = {
	.name = "dovecot",
	.init = dv_init,
	.verify = dv_verify,
	.mechs = dv_mechs,
	.sasl_start = dv_sasl_start,
	.sasl_step = dv_sasl_step,
	.sasl_abort = dv_sasl_abort,
	.lookup = dvu_lookup,
	.folds_case = 0,
	.stop = dv_stop,
};

static void
dv_init(struct backend_env *env)
{
	char	err[512];

	memset(&D, 0, sizeof(D));
	D.conf = env->conf;
	D.base = env->base;
	D.mechs_changed = env->mechs_changed;
	TAILQ_INIT(&D.reqs);
	D.next_id = 1;
	D.backoff_ms = DOVECOT_BACKOFF_MIN_MS;
	if (dovecot_sockaddr(D.conf->dovecot_auth, &D.ss, &D.sslen, err,
	    sizeof(err)) == -1)
		fatalx("dovecot-auth %s", err);
	if ((D.retry = evtimer_new(D.base, dv_retry_cb, NULL)) == NULL ||
	    (D.hs_timer = evtimer_new(D.base, dv_hs_timeout, NULL)) == NULL)
		fatalx("out of memory");
	if (D.conf->dovecot_userdb != NULL)
		dvu_init(D.conf, D.base);
	dv_connect();
}

static void
dv_connect(void)
{
	const char	*why;
	char		 hello[64];
	int		 n, r;

	D.state = DS_HANDSHAKE;
	D.have_plain = 0;
	D.version_ok = 0;
	memset(&D.hs_mechs, 0, sizeof(D.hs_mechs));
	n = snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%ld\n",
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(hello)) {
		dv_down("cannot make the handshake");
		return;
	}
	r = dovecot_connect(D.base, &D.bev, &D.ss, D.sslen, dv_read_cb,
	    dv_event_cb, hello, (size_t)n, &why);
	if (r == -1)
		dv_down(why);
	if (r != 0)
		return;
	{
		struct timeval	tv = { (time_t)D.conf->backend_timeout, 0 };

		evtimer_add(D.hs_timer, &tv);
	}
}

/* The connection is lost or refused: fail what waits, try again later. */
static void
dv_down(const char *why)
{
	struct dreq	*r;
	int		 was_ready = D.state == DS_READY;

	if (D.bev != NULL) {
		bufferevent_free(D.bev);
		D.bev = NULL;
	}
	evtimer_del(D.hs_timer);
	D.state = DS_DOWN;
	METRICS_SET(backend_up, 0);
	while ((r = TAILQ_FIRST(&D.reqs)) != NULL)
		dv_finish(r, AUTH_TEMPFAIL, "backend-down");
	if (!D.down_logged) {
		log_warnx("dovecot-auth %s: %s%s: logins get 454 until it "
		    "answers", D.conf->dovecot_auth, was_ready ? "lost: " : "",
		    why);
		D.down_logged = 1;
	}
	dovecot_backoff(D.retry, &D.backoff_ms);
}

static void
dv_retry_cb(int fd, short ev, void *arg)
{
	if (D.state == DS_DOWN)
		dv_connect();
}

static void
dv_hs_timeout(int fd, short ev, void *arg)
{
	if (D.state == DS_HANDSHAKE)
		dv_down("no handshake in time");
}

static void
dv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	const char	*why;

	if ((why = dovecot_event_reason(bev, what)) != NULL)
		dv_down(why);
}

static void
dv_read_cb(struct bufferevent *bev, void *arg)
{
	dovecot_read_lines(&D.bev, D.line, dv_line, dv_down);
}

/* One line from Dovecot; -1 when it dropped the connection. */
static int
dv_line(const char *line, size_t len)
{
	struct dvc_line	 l;
	struct dreq	*r;

	switch (dvc_parse(line, len, &l)) {
	case DVC_BAD:
		dv_down("a malformed line");
		return -1;
	case DVC_VERSION:
		if (l.major != 1) {
			dv_down("protocol version not 1");
			return -1;
		}
		D.version_ok = 1;
		return 0;
	case DVC_MECH:
		if (strcmp(l.mech, "PLAIN") == 0)
			D.have_plain = 1;
		if (D.state == DS_HANDSHAKE)
			dv_mech_line(&l);
		return 0;
	case DVC_DONE:
		if (D.state != DS_HANDSHAKE)
			return 0;
		if (!D.version_ok || !D.have_plain) {
			dv_down(D.version_ok ? "PLAIN is not offered" :
			    "no VERSION");
			return -1;
		}
		evtimer_del(D.hs_timer);
		D.state = DS_READY;
		D.backoff_ms = DOVECOT_BACKOFF_MIN_MS;
		METRICS_SET(backend_up, 1);
		log_info("dovecot-auth %s: connected%s",
		    D.conf->dovecot_auth, D.down_logged ? " again" : "");
		D.down_logged = 0;
		if (memcmp(&D.mechs, &D.hs_mechs, sizeof(D.mechs)) != 0) {
			D.mechs = D.hs_mechs;
			if (D.mechs_changed != NULL)
				D.mechs_changed();
		}
		return 0;
	case DVC_OK:
	case DVC_FAIL:
	case DVC_CONT:
		TAILQ_FOREACH(r, &D.reqs, entry)
			if (r->id == l.id)
				break;
		if (r == NULL || r->waiting)
			return 0;	/* timed out, or not its turn */
		if (r->sdone != NULL) {
			dv_step_reply(r, &l);
			return 0;
		}
		if (l.kind == DVC_OK)
			dv_finish(r, AUTH_OK, NULL);
		else if (l.kind == DVC_CONT)
			/* PLAIN is one step: a second one is not ours. */
			dv_finish(r, AUTH_TEMPFAIL, "backend-protocol");
		else if (l.temp)
			dv_finish(r, AUTH_TEMPFAIL, "backend-tempfail");
		else
			dv_finish(r, AUTH_FAIL, "rejected");
		return 0;
	default:
		return 0;
	}
}

static void
dv_finish(struct dreq *r, enum auth_result result, const char *reason)
{
	struct backend_step	st;

	TAILQ_REMOVE(&D.reqs, r, entry);
	event_free(r->timer);
	if (r->sdone != NULL) {
		memset(&st, 0, sizeof(st));
		st.result = result;
		st.reason = reason;
		r->sdone(r->arg, &st);
	} else
		r->done(r->arg, result, reason);
	free(r);
}

/* A MECH line of the handshake: is it one to pass through? */
static void
dv_mech_line(const struct dvc_line *l)
{
	struct auth_mechs	*m = &D.hs_mechs;
	size_t			 len = strlen(l->mech), i;

	if (l->private_ || !authproto_mech_name_ok(l->mech, len) ||
	    strcmp(l->mech, "PLAIN") == 0 || strcmp(l->mech, "LOGIN") == 0 ||
	    strcmp(l->mech, "EXTERNAL") == 0 || (len > 5 &&
	    strcmp(l->mech + len - 5, "-PLUS") == 0))
		return;
	/* Two are PLAIN and LOGIN, always there. */
	if (m->n >= AUTH_MECHS_MAX - 2)
		return;
	for (i = 0; i < m->n; i++)
		if (strcmp(m->m[i].name, l->mech) == 0)
			return;
	memcpy(m->m[m->n].name, l->mech, len + 1);
	m->m[m->n].plaintext = l->plaintext;
	m->n++;
}

static void
dv_mechs(struct auth_mechs *out)
{
	*out = D.mechs;
}

/* A reply of Dovecot to a step of an exchange. */
static void
dv_step_reply(struct dreq *r, const struct dvc_line *l)
{
	struct backend_step	 st;
	uint8_t			 data[AUTH_DATA_MAX];
	size_t			 dlen = 0;

	memset(&st, 0, sizeof(st));
	if (l->have_data && base64_decode(l->data, l->datalen, data,
	    sizeof(data), &dlen) == -1) {
		dv_finish(r, AUTH_TEMPFAIL, "backend-protocol");
		return;
	}
	if (l->user != NULL && l->userlen <= AUTH_FIELD_MAX &&
	    memchr(l->user, '\0', l->userlen) == NULL) {
		st.user = l->user;
		st.userlen = l->userlen;
	}
	st.data = data;
	st.datalen = dlen;
	if (l->kind == DVC_CONT) {
		/* Now the client's turn: no deadline of ours. */
		evtimer_del(r->timer);
		r->waiting = 1;
		st.result = AUTH_CONTINUE;
		r->sdone(r->arg, &st);
		explicit_bzero(data, sizeof(data));
		return;
	}
	TAILQ_REMOVE(&D.reqs, r, entry);
	if (l->kind == DVC_OK) {
		st.result = AUTH_OK;
		if (!l->have_data)
			st.data = NULL;
	} else {
		st.data = NULL;
		st.datalen = 0;
		st.result = l->temp ? AUTH_TEMPFAIL : AUTH_FAIL;
		st.reason = l->temp ? "backend-tempfail" : "rejected";
	}
	r->sdone(r->arg, &st);
	explicit_bzero(data, sizeof(data));
	dv_req_free(r);
}

static void
dv_req_timeout(int fd, short ev, void *arg)
{
	dv_finish(arg, AUTH_TEMPFAIL, "backend-timeout");
}

/*
 * Send a request line holding a password: straight to the socket when
 * nothing waits before it, so that no copy stays in libevent's buffers
 * (they are not wiped); the rest, if the socket is full, through them.
 */
static int
dv_send(const char *buf, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(D.bev);
	ssize_t		 n = 0;

	if (evbuffer_get_length(out) > MAX_OUTBUF)
		return -1;
	if (evbuffer_get_length(out) == 0) {
		n = send(bufferevent_getfd(D.bev), buf, len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (n == -1)
			n = 0;
	}
	if ((size_t)n < len && bufferevent_write(D.bev, buf + n,
	    len - (size_t)n) == -1)
		return -1;
	return 0;
}

/* "\trip=...\trport=...[\tlip=...\tlport=...][\tsecured]" */
static int
dv_session_fields(const struct sockaddr *client, const struct sockaddr *local,
    int tls, char *buf, size_t len)
{
	char		rip[INET6_ADDRSTRLEN], lip[INET6_ADDRSTRLEN + 32];
	char		ip[INET6_ADDRSTRLEN];
	unsigned	rport, lport;
	int		n;

	if (fmt_ip(client, rip, sizeof(rip), &rport) == -1)
		snprintf(rip, sizeof(rip), "unknown");
	lip[0] = '\0';
	if (local != NULL && fmt_ip(local, ip, sizeof(ip), &lport) == 0)
		snprintf(lip, sizeof(lip), "\tlip=%s\tlport=%u", ip, lport);
	n = snprintf(buf, len, "\trip=%s\trport=%u%s%s", rip, rport, lip,
	    tls ? "\tsecured" : "");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct dreq *
dv_req_new(const char **reason)
{
	struct dreq	*r;

	*reason = "out-of-memory";
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->timer = evtimer_new(D.base, dv_req_timeout, r)) == NULL) {
		free(r);
		return NULL;
	}
	r->id = D.next_id++;
	if (D.next_id == 0)
		D.next_id = 1;
	return r;
}

/* Not (or no longer) on D.reqs. */
static void
dv_req_free(struct dreq *r)
{
	event_free(r->timer);
	free(r);
}

static int
dv_verify(const struct backend_query *q, backend_done done, void *arg,
    const char **reason)
{
	struct timeval	 tv = { (time_t)D.conf->backend_timeout, 0 };
	struct dreq	*r;
	char		 resp[2 * AUTH_FIELD_MAX + 3];
	char		 b64[BASE64_ENCODED_SIZE(sizeof(resp))];
	char		 line[AUTH_LINE_MAX], fields[256];
	size_t		 rlen;
	int		 n, rv = -1;

	*reason = "backend-down";
	if (D.state != DS_READY)
		return -1;
	*reason = "bad-request";
	if (q->userlen > AUTH_FIELD_MAX || q->passlen > AUTH_FIELD_MAX)
		return -1;
	/* PLAIN: empty authzid, NUL, user, NUL, password. */
	resp[0] = '\0';
	memcpy(resp + 1, q->user, q->userlen);
	resp[1 + q->userlen] = '\0';
	memcpy(resp + 2 + q->userlen, q->pass, q->passlen);
	rlen = 2 + q->userlen + q->passlen;
	if (base64_encode(resp, rlen, b64, sizeof(b64), NULL) == -1 ||
	    dv_session_fields(q->client, q->local, q->tls, fields,
	    sizeof(fields)) == -1)
		goto out;
	if ((r = dv_req_new(reason)) == NULL)
		goto out;
	n = snprintf(line, sizeof(line), "AUTH\t%u\tPLAIN\tservice=smtp\t"
	    "nologin%s\tresp=%s\n", r->id, fields, b64);
	*reason = "busy";
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    dv_send(line, (size_t)n) == -1 || evtimer_add(r->timer,
	    &tv) == -1) {
		dv_req_free(r);
		goto out;
	}
	r->done = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&D.reqs, r, entry);
	*reason = NULL;
	rv = 0;
out:
	explicit_bzero(resp, sizeof(resp));
	explicit_bzero(b64, sizeof(b64));
	explicit_bzero(line, sizeof(line));
	return rv;
}

static int
dv_sasl_start(const struct backend_sasl_query *q, backend_step_done done,
    void *arg, void **handle, const char **reason)
{
	struct timeval	 tv = { (time_t)D.conf->backend_timeout, 0 };
	struct dreq	*r;
	char		 b64[BASE64_ENCODED_SIZE(AUTH_DATA_MAX)];
	char		 line[AUTH_LINE_MAX], fields[256];
	int		 n, rv = -1;

	*reason = "backend-down";
	if (D.state != DS_READY)
		return -1;
	*reason = "bad-request";
	if (q->datalen > AUTH_DATA_MAX || (q->has_data &&
	    base64_encode(q->data, q->datalen, b64, sizeof(b64),
	    NULL) == -1) || dv_session_fields(q->client, q->local, q->tls,
	    fields, sizeof(fields)) == -1)
		goto out;
	if ((r = dv_req_new(reason)) == NULL)
		goto out;
	/* No resp= at all: no initial response (an empty one is "resp="). */
	n = snprintf(line, sizeof(line), "AUTH\t%u\t%s\tservice=smtp\t"
	    "nologin%s%s%s\n", r->id, q->mech, fields,
	    q->has_data ? "\tresp=" : "", q->has_data ? b64 : "");
	*reason = "busy";
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    dv_send(line, (size_t)n) == -1 || evtimer_add(r->timer,
	    &tv) == -1) {
		dv_req_free(r);
		goto out;
	}
	r->sdone = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&D.reqs, r, entry);
	*handle = r;
	*reason = NULL;
	rv = 0;
out:
	explicit_bzero(b64, sizeof(b64));
	explicit_bzero(line, sizeof(line));
	return rv;
}

static int
dv_sasl_step(void *handle, const uint8_t *data, size_t len,
    const char **reason)
{
	struct timeval	 tv = { (time_t)D.conf->backend_timeout, 0 };
	struct dreq	*r = handle;
	char		 b64[BASE64_ENCODED_SIZE(AUTH_DATA_MAX)];
	char		 line[AUTH_LINE_MAX];
	int		 n, rv = -1;

	/* Lost meanwhile: dv_down() answered it, it is gone. */
	*reason = "bad-request";
	if (len > AUTH_DATA_MAX || base64_encode(data, len, b64,
	    sizeof(b64), NULL) == -1)
		goto fail;
	n = snprintf(line, sizeof(line), "CONT\t%u\t%s\n", r->id, b64);
	*reason = "busy";
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    dv_send(line, (size_t)n) == -1 || evtimer_add(r->timer,
	    &tv) == -1)
		goto fail;
	r->waiting = 0;
	rv = 0;
	goto out;
fail:
	TAILQ_REMOVE(&D.reqs, r, entry);
	dv_req_free(r);
out:
	explicit_bzero(b64, sizeof(b64));
	explicit_bzero(line, sizeof(line));
	return rv;
}

/* Dovecot forgets the request at its own timeout: no line for it. */
static void
dv_sasl_abort(void *handle)
{
	struct dreq	*r = handle;

	TAILQ_REMOVE(&D.reqs, r, entry);
	dv_req_free(r);
}

static void
dv_stop(void)
{
	struct dreq	*r;

	while ((r = TAILQ_FIRST(&D.reqs)) != NULL)
		dv_finish(r, AUTH_TEMPFAIL, "stopping");
	dvu_stop();
	if (D.bev != NULL)
		bufferevent_free(D.bev);
	D.bev = NULL;
}

static int
fmt_ip(const struct sockaddr *sa, char *buf, size_t len, unsigned *port)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	*port = 0;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		*port = ntohs(sin->sin_port);
		return inet_ntop(AF_INET, &sin->sin_addr, buf,
		    (socklen_t)len) ? 0 : -1;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		*port = ntohs(sin6->sin6_port);
		return inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
		    (socklen_t)len) ? 0 : -1;
	}
	return -1;
}
