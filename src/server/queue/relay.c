/*
 * The relay's SMTP client: one connection as an explicit state machine.
 *
 * Every event handler ends in conn_settle(): a connection that failed is
 * only marked dead where the failure happens, and is reported (DONE for a
 * transaction under way, then CLOSED) and freed there, at the top of the
 * stack.  Calls from the queue (relay_send, relay_quit, relay_abort)
 * never report anything themselves; a failure inside them is picked up
 * by a zero timer.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/base64.h"
#include "common/durable.h"
#include "common/log.h"
#include "common/sasl.h"
#include "common/tls.h"
#include "server/queue/relay.h"

#define READ_CHUNK	16384
#define BODY_CHUNK	16384
#define OUT_LOW		65536	/* refill the message below this */
#define IN_MAX		(REPLY_LINES_MAX * (REPLY_LINE_MAX + 2))
#define QUIT_TIMEOUT	5

enum cstate {
	C_CONNECT,
	C_TLS_IMPLICIT,		/* handshake before the greeting */
	C_GREETING,
	C_EHLO,
	C_HELO,
	C_STARTTLS,
	C_TLS,			/* handshake after STARTTLS */
	C_EHLO_TLS,
	C_AUTH_PLAIN,
	C_AUTH_LOGIN,		/* waiting for 334 Username */
	C_AUTH_USER,		/* sent the user, waiting for 334 Password */
	C_AUTH_PASS,		/* sent the password, waiting for 235 */
	C_READY,
	C_MAIL,
	C_RCPT,
	C_DATA,
	C_BODY,
	C_DOT,
	C_RSET,
	C_QUIT,
	C_NSTATES		/* not a state: how many there are */
};

/*
 * For the trace and the errors.  Each name sits at its state, and the
 * assertion stops a state added at the end without one.
 */
static const char *const state_names[] = {
	[C_CONNECT] = "CONNECT",
	[C_TLS_IMPLICIT] = "TLS-IMPLICIT",
	[C_GREETING] = "GREETING",
	[C_EHLO] = "EHLO",
	[C_HELO] = "HELO",
	[C_STARTTLS] = "STARTTLS",
	[C_TLS] = "TLS",
	[C_EHLO_TLS] = "EHLO-TLS",
	[C_AUTH_PLAIN] = "AUTH-PLAIN",
	[C_AUTH_LOGIN] = "AUTH-LOGIN",
	[C_AUTH_USER] = "AUTH-USER",
	[C_AUTH_PASS] = "AUTH-PASS",
	[C_READY] = "READY",
	[C_MAIL] = "MAIL",
	[C_RCPT] = "RCPT",
	[C_DATA] = "DATA",
	[C_BODY] = "BODY",
	[C_DOT] = "DOT",
	[C_RSET] = "RSET",
	[C_QUIT] = "QUIT",
};
static_assert(sizeof(state_names) / sizeof(state_names[0]) == C_NSTATES,
    "state_names: one name per enum cstate");

struct relay_conn {
	struct event_base	*base;
	struct relay_params	 p;
	relay_cb		 cb;
	void			*arg;
	struct dns_target	*targets;
	size_t			 ntargets;
	size_t			 cur;		/* the target in use */
	char			 host[RELAY_HOST_MAX];
	char			 error[RELAY_TEXT_MAX + 1];

	int			 fd;
	struct tls		*tls;
	enum cstate		 state;
	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*timer;
	struct event		*kick;
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct reply_parser	 rp;
	struct relay_caps	 caps;

	int			 dead;
	int			 ready_once;
	int			 quit_wanted;
	int			 read_wants_write;	/* TLS */
	int			 write_wants_read;	/* TLS */
	int			 emit_ready;	/* READY is owed (kick) */

	/* The transaction under way. */
	struct relay_txn	*txn;
	size_t			 nrcpt_sent;	/* RCPT commands written */
	size_t			 nrcpt_replies;
	size_t			 naccepted;
	int			 mail_failed;
	int			 txn_over;	/* DONE is owed */
	off_t			 body_off;
	int			 body_eof;
	struct relay_stuffer	 stuff;
};

static void	conn_set_state(struct relay_conn *, enum cstate);
static void	conn_arm_timer(struct relay_conn *, unsigned);
static void	conn_connect(struct relay_conn *);
static void	conn_close_socket(struct relay_conn *);
static void	conn_next_target(struct relay_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	target_failed(struct relay_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_kill(struct relay_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_settle(struct relay_conn *);
static void	conn_kick(struct relay_conn *);
static void	conn_tls_start(struct relay_conn *);
static void	conn_handshake(struct relay_conn *);
static int	conn_io_read(struct relay_conn *);
static void	conn_flush(struct relay_conn *);
static void	conn_process(struct relay_conn *);
static void	conn_reply(struct relay_conn *, const struct reply *);
static void	conn_cmd(struct relay_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_after_ehlo(struct relay_conn *);
static void	conn_start_auth(struct relay_conn *);
static void	conn_ready(struct relay_conn *);
static void	conn_send_rcpts(struct relay_conn *);
static void	conn_rcpts_done(struct relay_conn *);
static void	conn_body_fill(struct relay_conn *);
static void	txn_set_all(struct relay_conn *, int accepted_only,
		    enum relay_result, const char *);
static void	txn_end(struct relay_conn *);
static enum relay_result class_result(int);
static void	on_read(int, short, void *);
static void	on_write(int, short, void *);
static void	on_timer(int, short, void *);
static void	on_kick(int, short, void *);
static int	needs_smtputf8(const struct relay_txn *);

struct relay_conn *
relay_conn_new(struct event_base *base, const struct relay_params *p,
    const struct dns_target *targets, size_t ntargets, relay_cb cb,
    void *arg)
{
	struct relay_conn	*c;

	if (ntargets == 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	c->p = *p;
	c->cb = cb;
	c->arg = arg;
	c->fd = -1;
	reply_parser_init(&c->rp);
	if ((c->targets = calloc(ntargets, sizeof(*targets))) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    (c->timer = evtimer_new(base, on_timer, c)) == NULL ||
	    (c->kick = evtimer_new(base, on_kick, c)) == NULL) {
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->out != NULL)
			evbuffer_free(c->out);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c->targets);
		free(c);
		return NULL;
	}
	memcpy(c->targets, targets, ntargets * sizeof(*targets));
	c->ntargets = ntargets;
	/* Connecting may fail at once: report it from the loop. */
	conn_connect(c);
	if (c->dead)
		conn_kick(c);
	return c;
}

const char *
relay_host(const struct relay_conn *c)
{
	return c->host;
}

uint16_t
relay_port(const struct relay_conn *c)
{
	return c->p.port;
}

int
relay_tls_active(const struct relay_conn *c)
{
	return c->tls != NULL;
}

const char *
relay_error(const struct relay_conn *c)
{
	return c->error;
}

int
relay_was_ready(const struct relay_conn *c)
{
	return c->ready_once;
}

static void
conn_set_state(struct relay_conn *c, enum cstate s)
{
	log_debug("relay host=%s state %s -> %s", c->host,
	    state_names[c->state], state_names[s]);
	c->state = s;
}

static void
conn_arm_timer(struct relay_conn *c, unsigned seconds)
{
	struct timeval	tv = { (time_t)seconds, 0 };

	evtimer_add(c->timer, &tv);
}

static void
conn_kick(struct relay_conn *c)
{
	struct timeval	tv = { 0, 0 };

	evtimer_add(c->kick, &tv);
}

/* Connect to targets[cur], or the first after it that takes a connect. */
static void
conn_connect(struct relay_conn *c)
{
	struct dns_target	*t;
	struct sockaddr_storage	 ss;
	char			 ip[INET6_ADDRSTRLEN];
	const void		*a;

	for (; c->cur < c->ntargets; c->cur++) {
		t = &c->targets[c->cur];
		memcpy(&ss, &t->addr, sizeof(ss));
		if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons(c->p.port);
			a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		} else {
			((struct sockaddr_in *)&ss)->sin_port =
			    htons(c->p.port);
			a = &((struct sockaddr_in *)&ss)->sin_addr;
		}
		if (inet_ntop(ss.ss_family, a, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		if (strcmp(ip, t->host) == 0)
			snprintf(c->host, sizeof(c->host), "[%s]", ip);
		else
			snprintf(c->host, sizeof(c->host), "%s[%s]", t->host,
			    ip);
		reply_parser_reset(&c->rp);
		memset(&c->caps, 0, sizeof(c->caps));
		c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (c->fd == -1) {
			target_failed(c, "4.4.1 socket: %s", strerror(errno));
			continue;
		}
		if (connect(c->fd, (struct sockaddr *)&ss, t->addrlen) ==
		    -1 && errno != EINPROGRESS) {
			target_failed(c, "4.4.1 connect: %s", strerror(errno));
			close(c->fd);
			c->fd = -1;
			continue;
		}
		c->ev_read = event_new(c->base, c->fd, EV_READ | EV_PERSIST,
		    on_read, c);
		c->ev_write = event_new(c->base, c->fd, EV_WRITE, on_write, c);
		if (c->ev_read == NULL || c->ev_write == NULL) {
			conn_kill(c, "4.3.0 out of memory");
			return;
		}
		conn_set_state(c, C_CONNECT);
		event_add(c->ev_write, NULL);
		conn_arm_timer(c, c->p.connect_timeout);
		return;
	}
	c->dead = 1;		/* no address left */
}

/*
 * The end of a connection or of one address, in the log: c->error quotes
 * the remote server's replies, and the host name comes from the DNS, so
 * both are escaped like client text.
 */
static void
log_conn_end(const struct relay_conn *c, const char *result)
{
	char	host[RELAY_HOST_MAX * 4], why[RELAY_TEXT_MAX * 4 + 1];

	log_info("relay-conn host=%s port=%u result=%s reason=\"%s\"",
	    log_escape(c->host, strlen(c->host), host, sizeof(host)),
	    (unsigned)c->p.port, result,
	    log_escape(c->error, strlen(c->error), why, sizeof(why)));
}

/* Why this address did not work out, for the log and relay_error(). */
static void
vtarget_failed(struct relay_conn *c, const char *fmt, va_list ap)
{
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	log_conn_end(c, "failed");
}

static void
target_failed(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vtarget_failed(c, fmt, ap);
	va_end(ap);
}

static void
conn_close_socket(struct relay_conn *c)
{
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	if (c->tls != NULL) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->read_wants_write = c->write_wants_read = 0;
	evtimer_del(c->timer);
}

/*
 * This host did not work out before READY: log why and try the next
 * address.  Once READY, a failure ends the connection instead.
 */
static void
conn_next_target(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vtarget_failed(c, fmt, ap);
	va_end(ap);
	conn_close_socket(c);
	if (c->ready_once || c->quit_wanted) {
		c->dead = 1;
		return;
	}
	c->cur++;
	conn_connect(c);
}

/* The connection is over; reported by conn_settle(). */
static void
conn_kill(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	if (c->state != C_QUIT)
		log_conn_end(c, "closed");
	conn_close_socket(c);
	c->dead = 1;
	conn_kick(c);
}

/*
 * The end of every handler: write what is queued, make the owed reports
 * (DONE, READY) until nothing changes, then free a dead connection.
 */
static void
conn_settle(struct relay_conn *c)
{
	for (;;) {
		if (!c->dead && c->fd != -1 && c->state != C_CONNECT &&
		    c->state != C_TLS && c->state != C_TLS_IMPLICIT)
			conn_flush(c);
		if (c->dead && c->txn != NULL) {
			txn_set_all(c, 0, RELAY_DEFER, c->error);
			txn_end(c);
		}
		if (c->txn_over) {
			c->txn_over = 0;
			c->cb(c, RELAY_EV_DONE, c->arg);
			continue;
		}
		if (!c->dead && c->emit_ready && c->state == C_READY &&
		    c->txn == NULL) {
			c->emit_ready = 0;
			if (c->quit_wanted) {
				conn_cmd(c, "QUIT");
				conn_set_state(c, C_QUIT);
				conn_arm_timer(c, QUIT_TIMEOUT);
			} else {
				conn_arm_timer(c, c->p.idle_timeout);
				c->cb(c, RELAY_EV_READY, c->arg);
			}
			continue;
		}
		break;
	}
	if (!c->dead)
		return;
	conn_close_socket(c);
	c->cb(c, RELAY_EV_CLOSED, c->arg);
	event_free(c->timer);
	event_free(c->kick);
	evbuffer_free(c->out);
	evbuffer_free(c->in);
	reply_parser_free(&c->rp);
	free(c->targets);
	free(c);
}

static void
on_kick(int fd, short what, void *arg)
{
	conn_settle(arg);
}

static void
on_timer(int fd, short what, void *arg)
{
	struct relay_conn	*c = arg;

	switch (c->state) {
	case C_READY:
		/* Idle long enough. */
		relay_quit(c);
		break;
	case C_QUIT:
		conn_kill(c, "closed");
		break;
	case C_CONNECT:
		conn_next_target(c, "4.4.1 connect: timed out");
		break;
	default:
		if (c->ready_once)
			conn_kill(c, "4.4.2 timeout in %s",
			    state_names[c->state]);
		else
			conn_next_target(c, "4.4.2 timeout in %s",
			    state_names[c->state]);
		break;
	}
	conn_settle(c);
}

/* Before READY a failure moves on to the next host; after, it ends. */
#define FAIL(c, ...) do {						\
	if ((c)->ready_once)						\
		conn_kill((c), __VA_ARGS__);				\
	else								\
		conn_next_target((c), __VA_ARGS__);			\
} while (0)

static void
on_write(int fd, short what, void *arg)
{
	struct relay_conn	*c = arg;
	socklen_t		 len;
	int			 err = 0;

	if (c->state == C_CONNECT) {
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			conn_next_target(c, "4.4.1 connect: %s",
			    strerror(err));
		else {
			event_add(c->ev_read, NULL);
			conn_arm_timer(c, c->p.command_timeout);
			if (c->p.tls == RELAY_TLS_IMPLICIT)
				conn_tls_start(c);
			else
				conn_set_state(c, C_GREETING);
		}
		conn_settle(c);
		return;
	}
	if (c->state == C_TLS_IMPLICIT || c->state == C_TLS) {
		conn_handshake(c);
		conn_settle(c);
		return;
	}
	if (c->read_wants_write) {
		on_read(fd, EV_READ, c);
		return;
	}
	conn_flush(c);
	conn_settle(c);
}

static void
on_read(int fd, short what, void *arg)
{
	struct relay_conn	*c = arg;
	int			 n;

	if (c->state == C_TLS_IMPLICIT || c->state == C_TLS) {
		conn_handshake(c);
		conn_settle(c);
		return;
	}
	if (c->write_wants_read) {
		c->write_wants_read = 0;
		conn_flush(c);
		if (c->dead) {
			conn_settle(c);
			return;
		}
	}
	n = conn_io_read(c);
	if (n == -1)
		FAIL(c, "4.4.2 read: %s", c->tls != NULL ?
		    tls_error(c->tls) : strerror(errno));
	else if (n == 0) {
		if (c->state == C_QUIT)
			conn_kill(c, "closed");
		else
			FAIL(c, "4.4.2 connection closed by the server in "
			    "%s", state_names[c->state]);
	} else if (n > 0)
		conn_process(c);
	conn_settle(c);
}

static void
conn_tls_start(struct relay_conn *c)
{
	struct tls_ctx	*ctx;
	const char	*name;

	ctx = c->p.tls == RELAY_TLS_OPPORTUNISTIC ? c->p.tls_any :
	    c->p.tls_verify;
	name = c->p.servername != NULL ? c->p.servername :
	    c->targets[c->cur].host;
	if (ctx == NULL) {
		FAIL(c, "4.7.5 TLS is not available here");
		return;
	}
	/* Nothing sent before the handshake may be taken after it. */
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	if ((c->tls = tls_connect_fd(ctx, c->fd, name)) == NULL) {
		FAIL(c, "4.3.0 out of memory");
		return;
	}
	conn_set_state(c, c->state == C_CONNECT ? C_TLS_IMPLICIT : C_TLS);
	conn_arm_timer(c, c->p.command_timeout);
	conn_handshake(c);
}

static void
conn_handshake(struct relay_conn *c)
{
	int	r;

	r = tls_handshake(c->tls);
	if (r == TLS_WANT_POLLIN)
		return;
	if (r == TLS_WANT_POLLOUT) {
		event_add(c->ev_write, NULL);
		return;
	}
	if (r == -1) {
		char	why[256];

		log_escape(tls_error(c->tls), strlen(tls_error(c->tls)), why,
		    sizeof(why));
		FAIL(c, "4.7.5 TLS handshake failed: %s", why);
		return;
	}
	log_info("relay-tls host=%s version=%s cipher=%s verified=%s",
	    c->host, tls_conn_version(c->tls), tls_conn_cipher(c->tls),
	    tls_peer_verified(c->tls) ? "yes" : "no");
	conn_arm_timer(c, c->p.command_timeout);
	/* Records may already wait inside the library. */
	event_active(c->ev_read, EV_READ, 0);
	if (c->state == C_TLS_IMPLICIT)
		conn_set_state(c, C_GREETING);
	else {
		/* A clean slate: ask again what the server offers. */
		memset(&c->caps, 0, sizeof(c->caps));
		conn_cmd(c, "EHLO %s", c->p.helo);
		conn_set_state(c, C_EHLO_TLS);
	}
}

/*
 * Read what is there into c->in.  Returns octets read, 0 at the end of
 * the stream, -1 on an error, -2 when nothing is there yet.
 */
static int
conn_io_read(struct relay_conn *c)
{
	struct evbuffer_iovec	v;
	ssize_t			n;
	int			total = 0;

	if (c->tls == NULL) {
		n = evbuffer_read(c->in, c->fd, READ_CHUNK);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? -2 : -1;
		return (int)n;
	}
	c->read_wants_write = 0;
	while (evbuffer_get_length(c->in) < IN_MAX) {
		if (evbuffer_reserve_space(c->in, READ_CHUNK, &v, 1) < 1)
			return -1;
		n = tls_read(c->tls, v.iov_base, v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			total += (int)n;
			continue;
		}
		v.iov_len = 0;
		evbuffer_commit_space(c->in, &v, 1);
		if (n == TLS_WANT_POLLIN)
			break;
		if (n == TLS_WANT_POLLOUT) {
			c->read_wants_write = 1;
			event_add(c->ev_write, NULL);
			break;
		}
		if (total > 0)
			break;
		return n == 0 ? 0 : -1;
	}
	return total > 0 ? total : -2;
}

/* Write what can be written; the message is read as the socket drains. */
static void
conn_flush(struct relay_conn *c)
{
	struct evbuffer_iovec	v;
	ssize_t			n;

	if (c->fd == -1)
		return;
	for (;;) {
		if (c->state == C_BODY && !c->body_eof &&
		    evbuffer_get_length(c->out) < OUT_LOW)
			conn_body_fill(c);
		if (c->dead || evbuffer_get_length(c->out) == 0)
			break;
		if (c->tls != NULL) {
			if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
				break;
			n = tls_write(c->tls, v.iov_base, v.iov_len);
			if (n > 0) {
				evbuffer_drain(c->out, (size_t)n);
				continue;
			}
			if (n == TLS_WANT_POLLOUT) {
				event_add(c->ev_write, NULL);
				return;
			}
			if (n == TLS_WANT_POLLIN) {
				c->write_wants_read = 1;
				return;
			}
			FAIL(c, "4.4.2 write: %s", tls_error(c->tls));
			return;
		}
		n = evbuffer_write(c->out, c->fd);
		if (n >= 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			event_add(c->ev_write, NULL);
			return;
		}
		FAIL(c, "4.4.2 write: %s", strerror(errno));
		return;
	}
	if (c->state == C_BODY && c->body_eof && !c->dead) {
		/* All of it is out: the reply to the dot decides. */
		conn_set_state(c, C_DOT);
		conn_arm_timer(c, c->p.data_timeout);
	}
}

/* Queue a command; conn_settle() writes it. */
static void
conn_cmd(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(c->out, fmt, ap);
	va_end(ap);
	evbuffer_add(c->out, "\r\n", 2);
}

/* Take complete replies from the input, one at a time. */
static void
conn_process(struct relay_conn *c)
{
	struct evbuffer_iovec	v;
	enum reply_status	st;
	size_t			used;

	conn_arm_timer(c, c->state == C_DOT ? c->p.data_timeout :
	    c->p.command_timeout);
	while (!c->dead && c->fd != -1 && evbuffer_get_length(c->in) > 0) {
		if (evbuffer_peek(c->in, -1, NULL, &v, 1) < 1)
			break;
		st = reply_parse(&c->rp, v.iov_base, v.iov_len, &used);
		evbuffer_drain(c->in, used);
		if (st == REPLY_ERROR) {
			FAIL(c, "4.5.0 not an SMTP reply: %s",
			    reply_parser_error(&c->rp));
			return;
		}
		if (st == REPLY_DONE) {
			if (c->state == C_READY || c->state == C_CONNECT ||
			    c->state == C_BODY) {
				FAIL(c, "4.5.0 unexpected reply in %s",
				    state_names[c->state]);
				return;
			}
			conn_reply(c, &c->rp.reply);
		}
	}
}

static enum relay_result
class_result(int code)
{
	if (code >= 200 && code < 300)
		return RELAY_SENT;
	return code >= 500 ? RELAY_BOUNCE : RELAY_DEFER;
}

void
relay_reply_text(const struct reply *r, char *out, size_t outlen)
{
	const char	*line;
	size_t		 i, len, o;
	int		 n;

	n = snprintf(out, outlen, "%03d", r->code);
	if (n < 0 || (size_t)n >= outlen)
		return;
	o = (size_t)n;
	for (i = 0; i < r->nlines; i++) {
		line = reply_line(r, i, &len);
		if (len == 0)
			continue;
		if (o + 1 >= outlen)
			break;
		out[o++] = ' ';
		for (; len > 0 && o + 1 < outlen; len--, line++)
			out[o++] = *line >= 0x20 && *line < 0x7f ? *line :
			    '?';
	}
	out[o] = '\0';
}

/* One reply, in the state that waited for it. */
static void
conn_reply(struct relay_conn *c, const struct reply *r)
{
	char			text[RELAY_TEXT_MAX + 1];
	struct relay_rcpt	*rc;
	int			cls = r->code / 100;

	relay_reply_text(r, text, sizeof(text));
	/* 421: the server is going away, whatever we asked. */
	if (r->code == 421 && c->state != C_QUIT) {
		txn_set_all(c, 0, RELAY_DEFER, text);
		FAIL(c, "%s", text);
		return;
	}
	switch (c->state) {
	case C_GREETING:
		if (cls != 2) {
			conn_next_target(c, "%s", text);
			return;
		}
		conn_cmd(c, "EHLO %s", c->p.helo);
		conn_set_state(c, C_EHLO);
		break;
	case C_EHLO:
	case C_EHLO_TLS:
		if (cls == 2) {
			relay_caps_parse(r, &c->caps);
			conn_after_ehlo(c);
		} else if (cls == 5 && c->state == C_EHLO) {
			conn_cmd(c, "HELO %s", c->p.helo);
			conn_set_state(c, C_HELO);
		} else
			conn_next_target(c, "%s", text);
		break;
	case C_HELO:
		if (cls != 2) {
			conn_next_target(c, "%s", text);
			return;
		}
		memset(&c->caps, 0, sizeof(c->caps));
		conn_after_ehlo(c);
		break;
	case C_STARTTLS:
		if (r->code == 220) {
			if (evbuffer_get_length(c->in) > 0) {
				conn_next_target(c, "4.7.5 data after the "
				    "reply to STARTTLS");
				return;
			}
			conn_tls_start(c);
		} else if (c->p.tls == RELAY_TLS_OPPORTUNISTIC)
			conn_start_auth(c);	/* in clear, as offered */
		else
			conn_next_target(c, "4.7.5 STARTTLS refused: %s",
			    text);
		break;
	case C_AUTH_PLAIN:
	case C_AUTH_PASS:
		if (r->code != 235) {
			conn_next_target(c, "4.7.0 authentication failed: %s",
			    text);
			return;
		}
		log_info("relay-auth host=%s user=%s result=ok", c->host,
		    c->p.auth_user);
		conn_ready(c);
		break;
	case C_AUTH_LOGIN:
	case C_AUTH_USER: {
		char		 b64[BASE64_ENCODED_SIZE(SASL_FIELD_MAX)];
		const char	*s = c->state == C_AUTH_LOGIN ? c->p.auth_user :
				    c->p.auth_pass;

		if (r->code != 334 || base64_encode(s, strlen(s), b64,
		    sizeof(b64), NULL) == -1) {
			conn_next_target(c, "4.7.0 authentication failed: %s",
			    text);
			return;
		}
		evbuffer_add_printf(c->out, "%s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		conn_set_state(c, c->state == C_AUTH_LOGIN ? C_AUTH_USER :
		    C_AUTH_PASS);
		break;
	}
	case C_MAIL:
		if (cls != 2) {
			txn_set_all(c, 0, class_result(r->code), text);
			c->mail_failed = 1;
		}
		if (c->caps.pipelining) {
			conn_set_state(c, C_RCPT);	/* replies follow */
			break;
		}
		if (c->mail_failed) {
			txn_end(c);
			break;
		}
		conn_set_state(c, C_RCPT);
		conn_send_rcpts(c);
		break;
	case C_RCPT:
		rc = &c->txn->rcpts[c->nrcpt_replies++];
		if (!c->mail_failed) {
			if (cls == 2)
				c->naccepted++;
			else {
				rc->result = class_result(r->code);
				snprintf(rc->text, sizeof(rc->text), "%s",
				    text);
			}
		}
		if (c->nrcpt_replies < c->txn->nrcpts) {
			if (!c->caps.pipelining)
				conn_send_rcpts(c);
			break;
		}
		conn_rcpts_done(c);
		break;
	case C_DATA:
		if (r->code != 354) {
			txn_set_all(c, 1, class_result(r->code), text);
			txn_end(c);
			break;
		}
		memset(&c->stuff, 0, sizeof(c->stuff));
		if (c->txn->prefixlen > 0)
			evbuffer_add(c->out, c->txn->prefix,
			    c->txn->prefixlen);
		c->body_off = c->txn->msgoff;
		c->body_eof = 0;
		conn_set_state(c, C_BODY);
		conn_arm_timer(c, c->p.data_timeout);
		break;
	case C_DOT:
		txn_set_all(c, 1, class_result(r->code), text);
		txn_end(c);
		break;
	case C_RSET:
		if (cls != 2) {
			conn_kill(c, "%s", text);
			return;
		}
		conn_ready(c);
		break;
	case C_QUIT:
		conn_kill(c, "closed");
		break;
	default:
		FAIL(c, "4.5.0 unexpected reply in %s", state_names[c->state]);
		break;
	}
}

/* After EHLO (or HELO): STARTTLS, AUTH or ready. */
static void
conn_after_ehlo(struct relay_conn *c)
{
	if (c->tls == NULL && c->p.tls != RELAY_TLS_NONE) {
		if (c->caps.starttls) {
			conn_cmd(c, "STARTTLS");
			conn_set_state(c, C_STARTTLS);
			return;
		}
		if (c->p.tls != RELAY_TLS_OPPORTUNISTIC) {
			conn_next_target(c, "4.7.4 STARTTLS not offered "
			    "(relay-tls %s)", relay_tls_name(c->p.tls));
			return;
		}
	}
	conn_start_auth(c);
}

static void
conn_start_auth(struct relay_conn *c)
{
	char	b64[SASL_PLAIN_ENCODED_SIZE(0, SASL_FIELD_MAX,
		    SASL_FIELD_MAX)];
	size_t	ulen, plen;

	/* Credentials never go out in clear. */
	if (c->p.auth_user == NULL || c->tls == NULL) {
		conn_ready(c);
		return;
	}
	ulen = strlen(c->p.auth_user);
	plen = strlen(c->p.auth_pass);
	if (c->caps.auth_plain) {
		if (ulen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX ||
		    sasl_plain_encode(NULL, 0, c->p.auth_user, ulen,
		    c->p.auth_pass, plen, b64, sizeof(b64)) != SASL_OK) {
			conn_next_target(c, "4.7.0 relay-auth credentials too "
			    "long");
			return;
		}
		evbuffer_add_printf(c->out, "AUTH PLAIN %s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		conn_set_state(c, C_AUTH_PLAIN);
	} else if (c->caps.auth_login) {
		if (ulen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX) {
			conn_next_target(c, "4.7.0 relay-auth credentials too "
			    "long");
			return;
		}
		conn_cmd(c, "AUTH LOGIN");
		conn_set_state(c, C_AUTH_LOGIN);
	} else {
		/* Not offered: try without (the server may not need it). */
		log_info("relay-auth host=%s result=skipped "
		    "reason=\"no PLAIN or LOGIN offered\"", c->host);
		conn_ready(c);
	}
}

/* Set up (or RSET): READY is reported by conn_settle(). */
static void
conn_ready(struct relay_conn *c)
{
	if (!c->ready_once)
		log_info("relay-conn host=%s port=%u result=ready tls=%s "
		    "esmtp=%s pipelining=%s", c->host, (unsigned)c->p.port,
		    c->tls != NULL ? "yes" : "no",
		    c->caps.esmtp ? "yes" : "no",
		    c->caps.pipelining ? "yes" : "no");
	c->ready_once = 1;
	c->error[0] = '\0';
	conn_set_state(c, C_READY);
	c->emit_ready = 1;
}

static int
needs_smtputf8(const struct relay_txn *t)
{
	const unsigned char	*s;
	size_t			 i;

	for (s = (const unsigned char *)t->from; *s; s++)
		if (*s >= 0x80)
			return 1;
	for (i = 0; i < t->nrcpts; i++)
		for (s = (const unsigned char *)t->rcpts[i].addr; *s; s++)
			if (*s >= 0x80)
				return 1;
	return 0;
}

int
relay_send(struct relay_conn *c, struct relay_txn *t)
{
	size_t	i;
	char	why[RELAY_TEXT_MAX + 1];

	if (c->dead || c->state != C_READY || c->txn != NULL ||
	    t->nrcpts == 0)
		return -1;
	c->emit_ready = 0;
	c->txn = t;
	c->nrcpt_sent = c->nrcpt_replies = c->naccepted = 0;
	c->mail_failed = 0;
	for (i = 0; i < t->nrcpts; i++) {
		t->rcpts[i].result = RELAY_NONE;
		t->rcpts[i].text[0] = '\0';
	}
	evtimer_del(c->timer);
	/* What the server said it cannot take is not offered to it. */
	why[0] = '\0';
	if (c->caps.size && c->caps.size_max > 0 && t->size >
	    c->caps.size_max)
		snprintf(why, sizeof(why), "5.3.4 message size %llu exceeds "
		    "the limit %llu of the host", (unsigned long long)t->size,
		    (unsigned long long)c->caps.size_max);
	else if (t->smtputf8 && !c->caps.smtputf8 && needs_smtputf8(t))
		snprintf(why, sizeof(why), "5.6.7 the host does not support "
		    "SMTPUTF8, which the addresses need");
	if (why[0] != '\0') {
		txn_set_all(c, 0, RELAY_BOUNCE, why);
		txn_end(c);
		c->emit_ready = 1;
		conn_kick(c);
		return 0;
	}
	evbuffer_add_printf(c->out, "MAIL FROM:<%s>", t->from);
	if (c->caps.size)
		evbuffer_add_printf(c->out, " SIZE=%llu",
		    (unsigned long long)t->size);
	if (t->body8bit && c->caps.eightbitmime)
		evbuffer_add_printf(c->out, " BODY=8BITMIME");
	if (t->smtputf8 && c->caps.smtputf8)
		evbuffer_add_printf(c->out, " SMTPUTF8");
	evbuffer_add(c->out, "\r\n", 2);
	conn_set_state(c, C_MAIL);
	conn_arm_timer(c, c->p.command_timeout);
	/* With PIPELINING, MAIL and every RCPT go out in one write. */
	if (c->caps.pipelining)
		conn_send_rcpts(c);
	conn_kick(c);
	return 0;
}

/* The next RCPT, or all of them when pipelining. */
static void
conn_send_rcpts(struct relay_conn *c)
{
	do {
		evbuffer_add_printf(c->out, "RCPT TO:<%s>\r\n",
		    c->txn->rcpts[c->nrcpt_sent].addr);
		c->nrcpt_sent++;
	} while (c->caps.pipelining && c->nrcpt_sent < c->txn->nrcpts);
}

static void
conn_rcpts_done(struct relay_conn *c)
{
	if (c->mail_failed || c->naccepted == 0) {
		txn_end(c);
		return;
	}
	conn_cmd(c, "DATA");
	conn_set_state(c, C_DATA);
}

/* Read the next piece of the message, stuffed, into the output. */
static void
conn_body_fill(struct relay_conn *c)
{
	char	in[BODY_CHUNK], out[2 * BODY_CHUNK + 8];
	ssize_t	n;
	size_t	len;

	while (!c->body_eof && evbuffer_get_length(c->out) < OUT_LOW) {
		n = pread_upto(c->txn->msgfd, in, sizeof(in), c->body_off,
		    c->txn->msgend);
		if (n == -1) {
			/* Our trouble, not the server's: abandon it. */
			conn_kill(c, "4.3.0 cannot read the queued message: "
			    "%s", strerror(errno));
			return;
		}
		if (n == 0) {
			len = relay_dotstuff_end(&c->stuff, out);
			evbuffer_add(c->out, out, len);
			c->body_eof = 1;
			break;
		}
		c->body_off += n;
		len = relay_dotstuff(&c->stuff, in, (size_t)n, out);
		evbuffer_add(c->out, out, len);
	}
}

/*
 * Give every recipient without a result (accepted_only: every one the
 * server accepted) this result and text.
 */
static void
txn_set_all(struct relay_conn *c, int accepted_only, enum relay_result res,
    const char *text)
{
	struct relay_rcpt	*rc;
	size_t			 i;

	if (c->txn == NULL)
		return;
	for (i = 0; i < c->txn->nrcpts; i++) {
		rc = &c->txn->rcpts[i];
		if (rc->result != RELAY_NONE)
			continue;
		/* Recipients the server never answered count as accepted
		 * only once their RCPT was answered. */
		if (accepted_only && i >= c->nrcpt_replies)
			continue;
		rc->result = res;
		snprintf(rc->text, sizeof(rc->text), "%s", text);
	}
}

/* The transaction is over: DONE is owed, RSET follows. */
static void
txn_end(struct relay_conn *c)
{
	size_t	i;

	if (c->txn == NULL)
		return;
	for (i = 0; i < c->txn->nrcpts; i++)
		if (c->txn->rcpts[i].result == RELAY_NONE) {
			c->txn->rcpts[i].result = RELAY_DEFER;
			snprintf(c->txn->rcpts[i].text,
			    sizeof(c->txn->rcpts[i].text), "%s",
			    c->error[0] ? c->error : "4.4.2 no reply");
		}
	c->txn = NULL;
	c->txn_over = 1;
	if (c->dead || c->fd == -1 || c->state == C_READY)
		return;
	conn_cmd(c, "RSET");
	conn_set_state(c, C_RSET);
	conn_arm_timer(c, c->p.command_timeout);
}

void
relay_quit(struct relay_conn *c)
{
	if (c->dead)
		return;
	c->quit_wanted = 1;
	if (c->state == C_READY && c->txn == NULL) {
		c->emit_ready = 0;
		conn_cmd(c, "QUIT");
		conn_set_state(c, C_QUIT);
		conn_arm_timer(c, QUIT_TIMEOUT);
		conn_kick(c);
	} else if (!c->ready_once && c->state == C_CONNECT) {
		/* Not even connected: nothing to say. */
		conn_kill(c, "4.3.2 shutting down");
	}
}

void
relay_abort(struct relay_conn *c)
{
	if (c->dead)
		return;
	c->quit_wanted = 1;
	conn_kill(c, "4.3.2 delivery abandoned: shutting down");
}

void
relay_caps_parse(const struct reply *r, struct relay_caps *caps)
{
	const char		*params;
	size_t			 len, i;
	unsigned long long	 v = 0;

	memset(caps, 0, sizeof(*caps));
	caps->esmtp = 1;
	caps->starttls = reply_ehlo_keyword(r, "STARTTLS", NULL, NULL);
	caps->pipelining = reply_ehlo_keyword(r, "PIPELINING", NULL, NULL);
	caps->eightbitmime = reply_ehlo_keyword(r, "8BITMIME", NULL, NULL);
	caps->smtputf8 = reply_ehlo_keyword(r, "SMTPUTF8", NULL, NULL);
	if (reply_ehlo_keyword(r, "AUTH", &params, &len)) {
		caps->auth_plain = reply_word_in(params, len, "PLAIN");
		caps->auth_login = reply_word_in(params, len, "LOGIN");
	}
	if (reply_ehlo_keyword(r, "SIZE", &params, &len)) {
		caps->size = 1;
		/* Digits only; anything else (or too big) means no limit. */
		for (i = 0; i < len && params[i] >= '0' && params[i] <= '9' &&
		    v < (1ULL << 50); i++)
			v = v * 10 + (unsigned long long)(params[i] - '0');
		caps->size_max = i == len ? v : 0;
	}
}

/*
 * A CR is held back until the next octet says whether it is bare; a bare
 * CR, like a bare LF, is sent as CRLF, and a '.' after either is stuffed,
 * so the next hop reads exactly the lines we do, whatever is in the spool
 * (mail accepted before BDAT refused bare CR and LF, or a bounce).
 */
size_t
relay_dotstuff(struct relay_stuffer *s, const char *in, size_t len,
    char *out)
{
	size_t	i, o = 0;

	if (!s->started) {
		s->started = 1;
		s->bol = 1;
	}
	for (i = 0; i < len; i++) {
		if (s->cr) {
			/* CRLF as it was, or a bare CR made a line end. */
			out[o++] = '\r';
			out[o++] = '\n';
			s->cr = 0;
			s->bol = 1;
			if (in[i] == '\n')
				continue;
		}
		if (in[i] == '\r') {
			s->cr = 1;
			continue;
		}
		if (in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			s->bol = 1;
			continue;
		}
		if (s->bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		s->bol = 0;
	}
	return o;
}

size_t
relay_dotstuff_end(struct relay_stuffer *s, char *out)
{
	size_t	o = 0;

	if (s->cr || (s->started && !s->bol)) {
		memcpy(out, "\r\n", 2);
		o = 2;
	}
	s->cr = 0;
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
