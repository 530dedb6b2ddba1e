/*
 * The worker's side of the auth protocol.
 *
 * One SOCK_SEQPACKET connection to the auth process, made when it is
 * first needed and made again after it broke.  Every request has an id
 * and a timer event; the timer is the request's timeout while it waits for
 * the auth process, and fires at once when the request must be answered
 * by us (auth process down, connection broken), so that a callback is
 * never called from inside authclient_verify().  Answers from the socket
 * call back from the read event.
 *
 * A request's password is in exactly two places, each wiped when done
 * with: the caller's struct (wiped by authclient_verify) and the encoded
 * message (wiped once sent; a copy waits in the request only while the
 * socket is full).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/ipc.h"
#include "common/log.h"
#include "server/shared/authproto.h"
#include "server/smtp/authclient.h"

#define NBUCKETS	64	/* requests in flight hash by id */
#define READ_BATCH	64	/* messages read per wake-up */
#define RETRY_MS	100	/* connect again after this */
#define GRACE_MS	3000	/* ... for so long before AUTH_TEMPFAIL */
#define MECHS_RETRY_MS	1000	/* connect again to hear the mechanisms */

struct acreq {
	struct authclient	*ac;
	uint32_t		 id;
	uint32_t		 type;		/* AUTH_MSG_VERIFY, _SASL, ... */
	authclient_sasl_cb	 scb;		/* for AUTH_MSG_SASL */
	authclient_limit_cb	 lcb;		/* for AUTH_MSG_LIMIT */
	authclient_cb		 cb;
	void			*arg;
	struct event		*ev;		/* timeout or answer-now */
	int			 local;		/* answered by us: answer */
	struct auth_answer	 answer;
	uint8_t			*out;		/* encoded, not yet sent */
	size_t			 outlen;
	struct acreq		*hnext;
	TAILQ_ENTRY(acreq)	 sendq;
};

TAILQ_HEAD(acreq_list, acreq);

struct authclient {
	struct event_base	*base;
	struct sockaddr_un	 sun;
	unsigned		 timeout_ms;
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	struct event		*ev_retry;	/* connect again */
	uint32_t		 nextid;
	size_t			 nreq;
	struct acreq		*bucket[NBUCKETS];
	struct acreq_list	 sendq;		/* waiting for the socket */
	int			 down;		/* logged as unreachable */
	int			 dispatching;	/* in the read callback */
	int			 freed;		/* freed meanwhile */
	int			 have_mechs;
	struct auth_mechs	 mechs;
};

static struct acreq	**req_link(struct authclient *, uint32_t);
static struct acreq	 *req_find(struct authclient *, uint32_t);
static void		  req_unlink(struct authclient *, struct acreq *);
static void		  req_free(struct acreq *);
static void		  req_answer_later(struct acreq *, enum auth_result);
static void		  req_timer(int, short, void *);
static int		  ac_connect(struct authclient *);
static void		  ac_broken(struct authclient *, const char *);
static void		  ac_read(int, short, void *);
static void		  ac_write(int, short, void *);
static void		  ac_destroy(struct authclient *);
static void		  ac_retry(int, short, void *);
static void		  ms_to_tv(unsigned, struct timeval *);
static void		  req_call(struct acreq *, const struct auth_answer *,
			    const struct auth_sasl_answer *,
			    const struct limit_answer *);
static uint32_t		  ac_ask(struct authclient *, uint32_t, const uint8_t *,
			    int, void *, authclient_cb, authclient_sasl_cb,
			    authclient_limit_cb);

static struct acreq **
req_link(struct authclient *ac, uint32_t id)
{
	struct acreq	**pp;

	pp = &ac->bucket[id % NBUCKETS];
	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static struct acreq *
req_find(struct authclient *ac, uint32_t id)
{
	return *req_link(ac, id);
}

static void
req_unlink(struct authclient *ac, struct acreq *r)
{
	struct acreq	**pp;

	pp = req_link(ac, r->id);
	if (*pp == r) {
		*pp = r->hnext;
		ac->nreq--;
	}
	if (r->out != NULL)
		TAILQ_REMOVE(&ac->sendq, r, sendq);
}

/* r is no longer in the table. */
static void
req_free(struct acreq *r)
{
	if (r->out != NULL) {
		explicit_bzero(r->out, r->outlen);
		free(r->out);
	}
	if (r->ev != NULL)
		event_free(r->ev);
	free(r);
}

/* Keep r's encoded request (it holds the password: req_free() wipes it)
 * on the send queue.  Returns 0 or -1. */
static int
req_keep(struct authclient *ac, struct acreq *r, const uint8_t *buf,
    size_t len)
{
	if ((r->out = malloc(len)) == NULL) {
		log_warnx("auth: out of memory");
		return -1;
	}
	memcpy(r->out, buf, len);
	r->outlen = len;
	TAILQ_INSERT_TAIL(&ac->sendq, r, sendq);
	return 0;
}

/* Answer r ourselves, from the loop, as soon as it runs. */
static void
req_answer_later(struct acreq *r, enum auth_result result)
{
	static const struct timeval	now = { 0, 0 };

	if (r->out != NULL) {
		TAILQ_REMOVE(&r->ac->sendq, r, sendq);
		explicit_bzero(r->out, r->outlen);
		free(r->out);
		r->out = NULL;
	}
	if (r->local)
		return;
	r->local = 1;
	memset(&r->answer, 0, sizeof(r->answer));
	r->answer.result = result;
	event_del(r->ev);
	event_add(r->ev, &now);
}

static void
req_timer(int fd, short events, void *arg)
{
	struct acreq		*r = arg;
	struct authclient	*ac = r->ac;
	struct auth_answer	 a;

	if (r->local)
		a = r->answer;
	else {
		if (r->out != NULL)
			log_warnx("auth: the auth process cannot be reached");
		else
			log_warnx("auth: no answer from the auth process "
			    "within %u ms", ac->timeout_ms);
		memset(&a, 0, sizeof(a));
		a.result = AUTH_TEMPFAIL;
	}
	req_unlink(ac, r);
	req_call(r, &a, NULL, NULL);
}

/*
 * r is unlinked: free it and call back with the answer, a (a verdict of
 * ours or for AUTH_MSG_VERIFY), sa (AUTH_MSG_SASL's, from the socket) or
 * la (AUTH_MSG_LIMIT's, from the socket).
 */
static void
req_call(struct acreq *r, const struct auth_answer *a,
    const struct auth_sasl_answer *sa, const struct limit_answer *la)
{
	struct auth_sasl_answer	 mine;
	struct limit_answer	 lmine;
	authclient_cb		 cb = r->cb;
	authclient_sasl_cb	 scb = r->scb;
	authclient_limit_cb	 lcb = r->lcb;
	void			*cbarg = r->arg;
	uint32_t		 type = r->type;

	req_free(r);
	if (type == AUTH_MSG_VERIFY || type == AUTH_MSG_RCPT) {
		cb(cbarg, a);
		return;
	}
	if (type == AUTH_MSG_LIMIT) {
		if (la == NULL) {
			memset(&lmine, 0, sizeof(lmine));
			lmine.result = a->result;
			la = &lmine;
		}
		lcb(cbarg, la);
		return;
	}
	if (sa == NULL) {
		memset(&mine, 0, sizeof(mine));
		mine.a = *a;
		sa = &mine;
	}
	scb(cbarg, sa);
}

struct authclient *
authclient_new(struct event_base *base, const char *sockpath,
    unsigned timeout_ms)
{
	struct authclient	*ac;

	if ((ac = calloc(1, sizeof(*ac))) == NULL)
		return NULL;
	ac->sun.sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof(ac->sun.sun_path)) {
		free(ac);
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(ac->sun.sun_path, sockpath);	/* length checked */
	ac->base = base;
	ac->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	ac->fd = -1;
	TAILQ_INIT(&ac->sendq);
	if ((ac->ev_retry = evtimer_new(base, ac_retry, ac)) == NULL) {
		free(ac);
		return NULL;
	}
	/* At once: EHLO needs the mechanisms before any AUTH. */
	ac->down = 1;		/* quiet while the auth process starts */
	ac_retry(-1, 0, ac);
	return ac;
}

static void
ms_to_tv(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/*
 * The auth process is starting or being restarted: requests wait (up to
 * GRACE_MS) while we connect again every RETRY_MS.
 */
static void
ac_retry(int fd, short events, void *arg)
{
	struct authclient	*ac = arg;
	struct timeval		 tv;

	if (ac->fd != -1 || (TAILQ_EMPTY(&ac->sendq) && ac->have_mechs))
		return;
	if (ac_connect(ac) == 0) {
		if (!TAILQ_EMPTY(&ac->sendq))
			event_add(ac->wev, NULL);
		return;
	}
	ms_to_tv(TAILQ_EMPTY(&ac->sendq) ? MECHS_RETRY_MS : RETRY_MS, &tv);
	evtimer_add(ac->ev_retry, &tv);
}

static void
ac_destroy(struct authclient *ac)
{
	struct acreq	*r;
	size_t		 i;

	for (i = 0; i < NBUCKETS; i++)
		while ((r = ac->bucket[i]) != NULL) {
			req_unlink(ac, r);
			req_free(r);
		}
	if (ac->rev != NULL)
		event_free(ac->rev);
	if (ac->wev != NULL)
		event_free(ac->wev);
	event_free(ac->ev_retry);
	if (ac->fd != -1)
		close(ac->fd);
	free(ac);
}

void
authclient_free(struct authclient *ac)
{
	if (ac == NULL)
		return;
	if (ac->dispatching) {
		ac->freed = 1;	/* ac_read finishes the job */
		return;
	}
	ac_destroy(ac);
}

static int
ac_connect(struct authclient *ac)
{
	int	fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("auth: socket");
		return -1;
	}
	/*
	 * A unix socket connects at once or not at all (EAGAIN: the auth
	 * process's backlog is full, it is overloaded).
	 */
	if (connect(fd, (struct sockaddr *)&ac->sun, sizeof(ac->sun)) == -1) {
		if (!ac->down)
			log_warn("auth: cannot connect to %s",
			    ac->sun.sun_path);
		ac->down = 1;
		close(fd);
		return -1;
	}
	ac->rev = event_new(ac->base, fd, EV_READ | EV_PERSIST, ac_read, ac);
	ac->wev = event_new(ac->base, fd, EV_WRITE | EV_PERSIST, ac_write,
	    ac);
	if (ac->rev == NULL || ac->wev == NULL ||
	    event_add(ac->rev, NULL) == -1) {
		log_warnx("auth: out of memory");
		if (ac->rev != NULL)
			event_free(ac->rev);
		if (ac->wev != NULL)
			event_free(ac->wev);
		ac->rev = ac->wev = NULL;
		close(fd);
		return -1;
	}
	if (ac->down)
		log_info("auth: connected to %s", ac->sun.sun_path);
	ac->down = 0;
	ac->fd = fd;
	return 0;
}

/*
 * The connection is gone: every request still waiting for the auth
 * process gets AUTH_TEMPFAIL (from the loop); the next request connects
 * again.
 */
static void
ac_broken(struct authclient *ac, const char *why)
{
	struct acreq	*r;
	size_t		 i;

	if (ac->fd == -1)
		return;
	log_warnx("auth: connection to the auth process %s", why);
	event_free(ac->rev);
	event_free(ac->wev);
	ac->rev = ac->wev = NULL;
	close(ac->fd);
	ac->fd = -1;
	for (i = 0; i < NBUCKETS; i++)
		for (r = ac->bucket[i]; r != NULL; r = r->hnext)
			req_answer_later(r, AUTH_TEMPFAIL);
}

uint32_t
authclient_verify(struct authclient *ac, struct auth_request *req,
    authclient_cb cb, void *arg)
{
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 n;

	n = authproto_encode_request(req, buf, sizeof(buf));
	explicit_bzero(req->pass, sizeof(req->pass));
	req->passlen = 0;
	return ac_ask(ac, AUTH_MSG_VERIFY, buf, n, arg, cb, NULL, NULL);
}

uint32_t
authclient_limit(struct authclient *ac, const struct limit_request *req,
    authclient_limit_cb cb, void *arg)
{
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 n;

	n = authproto_encode_limit(req, buf, sizeof(buf));
	return ac_ask(ac, AUTH_MSG_LIMIT, buf, n, arg, NULL, NULL, cb);
}

uint32_t
authclient_rcpt(struct authclient *ac, const struct rcpt_request *req,
    authclient_cb cb, void *arg)
{
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 n;

	n = authproto_encode_rcpt(req, buf, sizeof(buf));
	return ac_ask(ac, AUTH_MSG_RCPT, buf, n, arg, cb, NULL, NULL);
}

uint32_t
authclient_sasl(struct authclient *ac, struct auth_sasl_request *req,
    authclient_sasl_cb cb, void *arg)
{
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 n;

	n = authproto_encode_sasl_request(req, buf, sizeof(buf));
	explicit_bzero(req->data, sizeof(req->data));
	req->datalen = 0;
	return ac_ask(ac, AUTH_MSG_SASL, buf, n, arg, NULL, cb, NULL);
}

const struct auth_mechs *
authclient_mechs(const struct authclient *ac)
{
	return ac->have_mechs ? &ac->mechs : NULL;
}

/* Send the n octets of buf (n -1: they could not be encoded); wipes buf. */
static uint32_t
ac_ask(struct authclient *ac, uint32_t type, const uint8_t *buf, int n,
    void *arg, authclient_cb cb, authclient_sasl_cb scb,
    authclient_limit_cb lcb)
{
	struct timeval	 tv;
	struct acreq	*r;
	int		 attempt;

	/* Without a request and its event the callback cannot be kept. */
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->ev = event_new(ac->base, -1, 0, req_timer, r)) == NULL)
		fatalx("auth: out of memory");
	r->ac = ac;
	r->type = type;
	r->cb = cb;
	r->scb = scb;
	r->lcb = lcb;
	r->arg = arg;
	do {
		if (++ac->nextid == 0)
			ac->nextid = 1;
	} while (req_find(ac, ac->nextid) != NULL);
	r->id = ac->nextid;

	if (n == -1) {
		log_warnx("auth: request cannot be encoded");
		goto tempfail;
	}
	/*
	 * A second attempt on a new connection when the first one turns
	 * out to be broken: the auth process was restarted and the loop
	 * has not seen the end of the old connection yet.
	 */
	for (attempt = 0; attempt < 2; attempt++) {
		if (ac->fd == -1 && ac_connect(ac) == -1)
			goto wait;
		if (!TAILQ_EMPTY(&ac->sendq))
			goto queue;	/* keep the order */
		if (ipc_send(ac->fd, type, r->id, buf, (size_t)n) == 0)
			goto sent;
		if (errno == EAGAIN || errno == ENOBUFS)
			goto queue;
		/* r is not in the table yet: only the others fail. */
		ac_broken(ac, strerror(errno));
	}
	goto tempfail;

wait:
	/* Not connected: keep the request while we try again. */
	if (req_keep(ac, r, buf, (size_t)n) == -1)
		goto tempfail;
	if (!evtimer_pending(ac->ev_retry, NULL)) {
		ms_to_tv(RETRY_MS, &tv);
		evtimer_add(ac->ev_retry, &tv);
	}
	ms_to_tv(GRACE_MS < ac->timeout_ms ? GRACE_MS : ac->timeout_ms, &tv);
	event_add(r->ev, &tv);
	goto insert;
queue:
	if (req_keep(ac, r, buf, (size_t)n) == -1)
		goto tempfail;
	event_add(ac->wev, NULL);
	/* FALLTHROUGH */
sent:
	ms_to_tv(ac->timeout_ms, &tv);
	event_add(r->ev, &tv);
	goto insert;
tempfail:
	req_answer_later(r, AUTH_TEMPFAIL);
insert:
	r->hnext = ac->bucket[r->id % NBUCKETS];
	ac->bucket[r->id % NBUCKETS] = r;
	ac->nreq++;
	return r->id;
}

void
authclient_cancel(struct authclient *ac, uint32_t handle)
{
	struct acreq	*r;

	if (handle == 0 || (r = req_find(ac, handle)) == NULL)
		return;
	/* An answer that arrives later is for no one and is dropped. */
	req_unlink(ac, r);
	req_free(r);
}

static void
ac_write(int fd, short events, void *arg)
{
	struct authclient	*ac = arg;
	struct acreq		*r;

	while ((r = TAILQ_FIRST(&ac->sendq)) != NULL) {
		if (ipc_send(fd, r->type, r->id, r->out, r->outlen) == -1) {
			if (errno == EAGAIN || errno == ENOBUFS)
				return;
			ac_broken(ac, strerror(errno));
			return;
		}
		TAILQ_REMOVE(&ac->sendq, r, sendq);
		explicit_bzero(r->out, r->outlen);
		free(r->out);
		r->out = NULL;
		/* Sent: it now has the whole answer timeout. */
		if (!r->local) {
			struct timeval	tv;

			ms_to_tv(ac->timeout_ms, &tv);
			event_del(r->ev);
			event_add(r->ev, &tv);
		}
	}
	event_del(ac->wev);
}

static void
ac_read(int fd, short events, void *arg)
{
	struct authclient	*ac = arg;
	struct ipc_hdr		 h;
	struct auth_answer	 a;
	struct auth_sasl_answer	*sa = NULL;
	struct limit_answer	 la;
	struct acreq		*r;
	uint8_t			 buf[IPC_MAX_PAYLOAD];
	uint32_t		 want;
	int			 i, n;

	ac->dispatching = 1;
	for (i = 0; i < READ_BATCH && ac->fd == fd && !ac->freed; i++) {
		n = ipc_recv(fd, &h, buf);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			ac_broken(ac, strerror(errno));
			break;
		}
		if (n == 0) {
			ac_broken(ac, "closed");
			break;
		}
		if (n != -2 && h.type == AUTH_MSG_MECHS && h.id == 0) {
			if (authproto_decode_mechs(buf, h.len,
			    &ac->mechs) == -1) {
				ac_broken(ac, "sent a malformed message");
				break;
			}
			ac->have_mechs = 1;
			continue;
		}
		if (sa == NULL && (sa = malloc(sizeof(*sa))) == NULL) {
			ac_broken(ac, "cannot be read: out of memory");
			break;
		}
		/* Unknown: cancelled or timed out meanwhile. */
		r = n == -2 ? NULL : req_find(ac, h.id);
		if (n == -2 || r == NULL || r->local || r->out != NULL) {
			if (n == -2 || (h.type != AUTH_MSG_ANSWER &&
			    h.type != AUTH_MSG_SASL_ANSWER &&
			    h.type != AUTH_MSG_LIMIT_ANSWER &&
			    h.type != AUTH_MSG_RCPT_ANSWER)) {
				ac_broken(ac, "sent a malformed message");
				break;
			}
			continue;
		}
		want = r->type == AUTH_MSG_VERIFY ? AUTH_MSG_ANSWER :
		    r->type == AUTH_MSG_SASL ? AUTH_MSG_SASL_ANSWER :
		    r->type == AUTH_MSG_RCPT ? AUTH_MSG_RCPT_ANSWER :
		    AUTH_MSG_LIMIT_ANSWER;
		if (h.type != want ||
		    ((h.type == AUTH_MSG_ANSWER ||
		    h.type == AUTH_MSG_RCPT_ANSWER) &&
		    authproto_decode_answer(buf, h.len, &a) == -1) ||
		    (h.type == AUTH_MSG_SASL_ANSWER &&
		    authproto_decode_sasl_answer(buf, h.len, sa) == -1) ||
		    (h.type == AUTH_MSG_LIMIT_ANSWER &&
		    authproto_decode_limit_answer(buf, h.len, &la) == -1)) {
			ac_broken(ac, "sent a malformed message");
			break;
		}
		req_unlink(ac, r);
		req_call(r, &a, h.type == AUTH_MSG_SASL_ANSWER ? sa : NULL,
		    h.type == AUTH_MSG_LIMIT_ANSWER ? &la : NULL);
	}
	if (sa != NULL) {
		explicit_bzero(sa, sizeof(*sa));
		free(sa);
	}
	explicit_bzero(buf, sizeof(buf));
	ac->dispatching = 0;
	if (ac->freed)
		ac_destroy(ac);
}
