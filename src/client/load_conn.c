/*
 * smtpauth load: the life of one session on the run's libevent loop:
 * the socket and connect(), the TLS handshake, the command buffer and
 * the message written from the shared copy, reading and parsing replies
 * (each goes to load_smtp.c), the timeout of every step, and the end,
 * counted as ok or failed under the reason that ended it.  A refused
 * connection makes the run wait before it starts the next (a back-off
 * up to a second).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/load_priv.h"
#include "common/addr.h"
#include "common/clock.h"
#include "common/reply.h"
#include "common/sasl.h"
#include "common/tls.h"

#define RBUF_SIZE		16384
#define BACKOFF_MIN_MS		10
#define BACKOFF_MAX_MS		1000

/* What conn_flush() and conn_input() need next. */
#define IO_DONE		0
#define IO_WANT_READ	1
#define IO_WANT_WRITE	2
#define IO_ERROR	-1

static void	 default_helo(struct load *, int);
static void	 back_off(struct load *);
static void	 conn_free(struct lconn *);
static void	 conn_end(struct lconn *);
static void	 conn_want(struct lconn *, short);
static void	 conn_kick(struct lconn *);
static int	 connect_done(struct lconn *);
static int	 conn_flush(struct lconn *);
static int	 conn_input(struct lconn *);
static void	 handshake_done(struct lconn *);
static void	 io_cb(int, short, void *);
static void	 tmo_cb(int, short, void *);

/*
 * The EHLO name when --helo is not given: the host name when it has a
 * dot, else the address literal of our end (RFC 5321 4.1.3).
 */
static void
default_helo(struct load *L, int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		sl = sizeof(ss);
	char			name[256], a[INET6_ADDRSTRLEN];

	if (L->helo[0] != '\0')
		return;
	if (L->o.helo != NULL) {
		(void)snprintf(L->helo, sizeof(L->helo), "%s", L->o.helo);
		return;
	}
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (strchr(name, '.') != NULL &&
		    addr_valid_domain(name, strlen(name), 0)) {
			(void)snprintf(L->helo, sizeof(L->helo), "%s", name);
			return;
		}
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a)))
			(void)snprintf(L->helo, sizeof(L->helo), "[IPv6:%s]",
			    a);
		else if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a)))
			(void)snprintf(L->helo, sizeof(L->helo), "[%s]", a);
	}
	if (L->helo[0] == '\0')
		(void)snprintf(L->helo, sizeof(L->helo), "localhost");
}

/* A connection was refused or failed: new ones wait, twice as long each
 * time up to a second. */
static void
back_off(struct load *L)
{
	L->backoff_ms = L->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    L->backoff_ms * 2;
	L->backoff_until = mono_usec() + (int64_t)L->backoff_ms * 1000;
}

void
lconn_start(struct load *L, int probe)
{
	struct lconn	*lc;
	int		 one = 1, saved;

	if ((lc = calloc(1, sizeof(*lc))) == NULL) {
		stats_error(&L->st, "memory");
		if (!probe) {
			L->started++;
			L->failed++;
		}
		return;
	}
	lc->L = L;
	lc->fd = -1;
	lc->probe = probe;
	reply_parser_init(&lc->rp);
	TAILQ_INSERT_TAIL(&L->conns, lc, entry);
	if (probe)
		L->probe = lc;
	else {
		L->active++;
		L->started++;
		if (L->idle) {
			lc->opening = 1;
			L->opening++;
		}
	}
	lc->t_start = lc->t_step = mono_usec();
	lc->tmo = evtimer_new(L->base, tmo_cb, lc);
	lc->timer = evtimer_new(L->base, lsmtp_noop_cb, lc);
	if (lc->tmo == NULL || lc->timer == NULL) {
		lconn_fail(lc, "memory");
		conn_end(lc);
		return;
	}
	lc->fd = socket(L->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (lc->fd == -1) {
		saved = errno;
		lconn_fail(lc, saved == EMFILE || saved == ENFILE ? "nofile" :
		    "connect");
		goto backoff;
	}
	(void)setsockopt(lc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	lc->rev = event_new(L->base, lc->fd, EV_READ | EV_PERSIST, io_cb, lc);
	lc->wev = event_new(L->base, lc->fd, EV_WRITE | EV_PERSIST, io_cb,
	    lc);
	if (lc->rev == NULL || lc->wev == NULL) {
		lconn_fail(lc, "memory");
		conn_end(lc);
		return;
	}
	if (probe) {
		/* Measure the server, not our own busy loop (see main). */
		event_priority_set(lc->tmo, PRI_PROBE);
		event_priority_set(lc->timer, PRI_PROBE);
		event_priority_set(lc->rev, PRI_PROBE);
		event_priority_set(lc->wev, PRI_PROBE);
	}
	lconn_set_state(lc, S_CONNECT, 0);
	if (connect(lc->fd, (struct sockaddr *)&L->ss, L->sslen) == -1 &&
	    errno != EINPROGRESS) {
		saved = errno;
		lconn_fail(lc, saved == ECONNREFUSED ? "refused" : "connect");
		goto backoff;
	}
	lconn_pump(lc);
	return;
 backoff:
	back_off(L);
	conn_end(lc);
}

/* Release a session: TLS, events, socket, secrets (AUTH lines, SCRAM). */
static void
conn_free(struct lconn *lc)
{
	if (lc->tls != NULL)
		tls_free(lc->tls);
	if (lc->rev != NULL)
		event_free(lc->rev);
	if (lc->wev != NULL)
		event_free(lc->wev);
	if (lc->tmo != NULL)
		event_free(lc->tmo);
	if (lc->timer != NULL)
		event_free(lc->timer);
	if (lc->fd != -1)
		close(lc->fd);
	if (lc->scram != NULL) {
		sasl_scram_wipe(lc->scram);
		free(lc->scram);
	}
	reply_parser_free(&lc->rp);
	TAILQ_REMOVE(&lc->L->conns, lc, entry);
	explicit_bzero(lc, sizeof(*lc));
	free(lc);
}

/* The session is over: count it, free it, start the next. */
static void
conn_end(struct lconn *lc)
{
	struct load	*L = lc->L;
	int64_t		 now = mono_usec();

	if (lc->probe)
		L->probe = NULL;
	else {
		L->active--;
		if (lc->opening)
			L->opening--;
		if (lc->held)
			L->idle_open--;
		if (lc->fin == FIN_OK && !lc->failed) {
			L->ok++;
			stats_latency(&L->st, LAT_SESSION, now - lc->t_start);
		} else
			L->failed++;
		L->t_last = now;
	}
	if (lc->tls != NULL && lc->fin == FIN_OK)
		tls_close(lc->tls);
	conn_free(lc);
	load_next(L);
}

/* The connection is unusable: count why and close it. */
void
lconn_fail(struct lconn *lc, const char *key)
{
	if (!lc->failed)
		stats_error(&lc->L->st, key);
	lc->failed = 1;
	lc->fin = FIN_FAIL;
}

void
lconn_set_state(struct lconn *lc, enum lstate st, int reset_clock)
{
	lc->state = st;
	if (reset_clock)
		lc->t_step = mono_usec();
	if (st == S_IDLE)
		evtimer_del(lc->tmo);
	else
		lconn_arm_tmo(lc);
}

void
lconn_arm_tmo(struct lconn *lc)
{
	struct timeval	tv;

	tv.tv_sec = lc->L->o.timeout;
	tv.tv_usec = 0;
	evtimer_add(lc->tmo, &tv);
}

/* A command line into the output buffer; CRLF is added. */
int
lconn_out(struct lconn *lc, const char *fmt, ...)
{
	va_list	ap;
	size_t	room = sizeof(lc->wbuf) - lc->wlen;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(lc->wbuf + lc->wlen, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= room) {
		lconn_fail(lc, "internal");
		return -1;
	}
	memcpy(lc->wbuf + lc->wlen + n, "\r\n", 2);
	lc->wlen += (size_t)n + 2;
	return 0;
}

static void
conn_want(struct lconn *lc, short want)
{
	if ((want & EV_READ) && !(lc->want & EV_READ))
		event_add(lc->rev, NULL);
	else if (!(want & EV_READ) && (lc->want & EV_READ))
		event_del(lc->rev);
	if ((want & EV_WRITE) && !(lc->want & EV_WRITE))
		event_add(lc->wev, NULL);
	else if (!(want & EV_WRITE) && (lc->want & EV_WRITE))
		event_del(lc->wev);
	lc->want = want;
}

/*
 * Drive a connection as far as it goes without waiting: finish connect
 * or the handshake, write what is queued, read and act on replies.  Then
 * wait for what it needs, or end it.
 */
void
lconn_pump(struct lconn *lc)
{
	short	want = 0;
	int	r, again;

	do {
		again = 0;
		want = 0;
		if (lc->state == S_CONNECT) {
			if ((r = connect_done(lc)) == 0) {
				want = EV_WRITE;
				break;
			}
			if (r == -1)
				break;
		}
		if (lc->state == S_HANDSHAKE) {
			r = tls_handshake(lc->tls);
			if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
				want = r == TLS_WANT_POLLIN ? EV_READ :
				    EV_WRITE;
				break;
			}
			if (r == -1) {
				lconn_fail(lc, "tls");
				break;
			}
			handshake_done(lc);
			if (lc->fin)
				break;
		}
		if (lc->woff < lc->wlen || lc->xbuf != NULL) {
			r = conn_flush(lc);
			if (r == IO_ERROR) {
				lconn_fail(lc, "closed");
				break;
			}
			if (r == IO_WANT_READ)
				want |= EV_READ;
			else if (r == IO_WANT_WRITE)
				want |= EV_WRITE;
		}
		r = conn_input(lc);
		if (lc->fin)
			break;
		if (r == IO_DONE)
			again = 1;
		else if (r == IO_WANT_WRITE)
			want |= EV_WRITE;
		else
			want |= EV_READ;
	} while (again);
	if (lc->fin) {
		conn_end(lc);
		return;
	}
	conn_want(lc, want);
}

/*
 * Pump a connection from the loop rather than from here: whoever calls
 * this may be walking the list of connections, which a pump may change.
 */
static void
conn_kick(struct lconn *lc)
{
	event_active(lc->wev, EV_WRITE, 1);
}

/* 1 connected, 0 not yet, -1 failed (fin set). */
static int
connect_done(struct lconn *lc)
{
	struct load	*L = lc->L;
	socklen_t	 sl = sizeof(int);
	int		 err = 0;

	if (getsockopt(lc->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return 0;
	if (err == 0) {
		/* Not connected yet when the peer's name is unknown. */
		struct sockaddr_storage	ss;

		sl = sizeof(ss);
		if (getpeername(lc->fd, (struct sockaddr *)&ss, &sl) == -1) {
			if (errno == ENOTCONN)
				return 0;
			err = errno;
		}
	}
	if (err != 0) {
		lconn_fail(lc, err == ECONNREFUSED ? "refused" : "connect");
		back_off(L);
		return -1;
	}
	L->backoff_ms = 0;
	default_helo(L, lc->fd);
	if (L->o.tls == TLSMODE_IMPLICIT)
		lconn_start_tls(lc);
	else
		lconn_set_state(lc, S_GREETING, 0);	/* since connect() */
	return 1;
}

static int
conn_flush(struct lconn *lc)
{
	const char	*p;
	size_t		 len;
	ssize_t		 n;
	int		 own;

	for (;;) {
		if (lc->woff < lc->wlen) {
			p = lc->wbuf + lc->woff;
			len = lc->wlen - lc->woff;
			own = 1;
		} else if (lc->xbuf != NULL) {
			p = lc->xbuf + lc->xoff;
			len = lc->xlen - lc->xoff;
			own = 0;
		} else
			break;
		if (lc->tls_up) {
			n = tls_write(lc->tls, p, len);
			if (n == TLS_WANT_POLLIN)
				return IO_WANT_READ;
			if (n == TLS_WANT_POLLOUT)
				return IO_WANT_WRITE;
			if (n < 0)
				return IO_ERROR;
		} else {
			n = send(lc->fd, p, len, MSG_NOSIGNAL);
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == EINTR))
				return IO_WANT_WRITE;
			if (n == -1)
				return IO_ERROR;
		}
		if (own) {
			lc->woff += (size_t)n;
			if (lc->woff == lc->wlen) {
				explicit_bzero(lc->wbuf, lc->wlen);
				lc->woff = lc->wlen = 0;
			}
		} else if ((lc->xoff += (size_t)n) == lc->xlen) {
			lc->xbuf = NULL;
			lc->xoff = lc->xlen = 0;
		}
	}
	if (lc->mark_flush) {
		lc->mark_flush = 0;
		lc->t_step = mono_usec();
	}
	return IO_DONE;
}

/*
 * Read once and act on every complete reply.  IO_DONE when something was
 * read (call again), IO_WANT_* when nothing is there; the connection may
 * have ended (fin set).
 */
static int
conn_input(struct lconn *lc)
{
	static char		buf[RBUF_SIZE];
	enum reply_status	st;
	ssize_t			n;
	size_t			off = 0, used;

	if (lc->tls_up) {
		n = tls_read(lc->tls, buf, sizeof(buf));
		if (n == TLS_WANT_POLLIN)
			return IO_WANT_READ;
		if (n == TLS_WANT_POLLOUT)
			return IO_WANT_WRITE;
	} else {
		n = recv(lc->fd, buf, sizeof(buf), 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return IO_WANT_READ;
	}
	if (n <= 0) {
		if (lc->state == S_QUIT)
			lc->fin = lc->failed ? FIN_FAIL : FIN_OK;
		else
			lconn_fail(lc, n < 0 && lc->tls_up ? "tls" : "closed");
		return IO_DONE;
	}
	while (off < (size_t)n && !lc->fin) {
		st = reply_parse(&lc->rp, buf + off, (size_t)n - off, &used);
		off += used;
		if (st == REPLY_ERROR) {
			lconn_fail(lc, "protocol");
			break;
		}
		if (st == REPLY_MORE)
			break;
		lsmtp_reply(lc, &lc->rp.reply);
		/* RFC 3207: what came after the 220 is not trusted. */
		if (lc->state == S_HANDSHAKE)
			break;
	}
	return IO_DONE;
}

void
lconn_start_tls(struct lconn *lc)
{
	struct load	*L = lc->L;

	if ((lc->tls = tls_connect_fd(L->tctx, lc->fd, L->o.host)) == NULL) {
		lconn_fail(lc, "tls");
		return;
	}
	if (L->resume && L->sess != NULL)
		(void)tls_set_session(lc->tls, L->sess, L->sesslen);
	lc->t_hs = mono_usec();
	lconn_set_state(lc, S_HANDSHAKE, 0);
}

static void
handshake_done(struct lconn *lc)
{
	struct load	*L = lc->L;

	lc->tls_up = 1;
	lc->verified = tls_peer_verified(lc->tls);
	L->handshakes++;
	if (tls_conn_resumed(lc->tls))
		L->resumed++;
	stats_latency(&L->st, LAT_HANDSHAKE, mono_usec() - lc->t_hs);
	reply_parser_reset(&lc->rp);
	if (L->o.tls == TLSMODE_IMPLICIT) {
		lconn_set_state(lc, S_GREETING, 1);
		return;
	}
	if (lconn_out(lc, "EHLO %s", L->helo) == 0)
		lconn_set_state(lc, S_EHLO, 1);
}

static void
io_cb(int fd, short events, void *arg)
{
	lconn_pump(arg);
}

static void
tmo_cb(int fd, short events, void *arg)
{
	struct lconn	*lc = arg;

	lconn_fail(lc, "timeout");
	conn_end(lc);
}

/* An idle session (or the probe) is asked to QUIT. */
void
lconn_quit_idle(struct lconn *lc)
{
	if (lc->state == S_IDLE) {
		lsmtp_quit(lc);
		conn_kick(lc);
	}
}

/* Idle mode: the hold is over; every held session QUITs (the probe
 * after them, when the run is done). */
void
lconn_quit_held(struct load *L)
{
	struct lconn	*lc, *next;

	for (lc = TAILQ_FIRST(&L->conns); lc != NULL; lc = next) {
		next = TAILQ_NEXT(lc, entry);
		if (!lc->probe)
			lconn_quit_idle(lc);
	}
}

/* The run is over: release what is still open, uncounted. */
void
lconn_free_all(struct load *L)
{
	struct lconn	*lc;

	while ((lc = TAILQ_FIRST(&L->conns)) != NULL)
		conn_free(lc);
}
