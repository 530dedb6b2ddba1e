/*
 * The SMTP session: its life from accept to free, the socket and TLS
 * I/O, the PROXY header and the line framing.
 *
 * Input is read into s->in and processed line by line through the command
 * table (session_cmd.c: check, then proceed), or byte-wise while a DATA
 * body or BDAT chunk arrives (session_txn.c).  Replies are appended to
 * s->out and written when no complete line is left to process, so a
 * pipelined group of commands is answered with one write (RFC 2920).
 * Work that blocks (the spool commit with its fsyncs) runs on the
 * worker's thread pool; the session waits in STATE_SPOOLING without
 * reading further commands.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/proxy.h"
#include "common/tls.h"
#include "server/shared/metrics.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/iplimit.h"
#include "server/smtp/authclient.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

#define READ_CHUNK	16384
#define IN_MAX		(128 * 1024)	/* stop reading above this */
#define OUT_MAX		(64 * 1024)	/* stop processing above this */
#define SASL_LINE_MAX	12288	/* RFC 4954 4: an AUTH line, CRLF included */
#define CLOSE_LINGER_SECONDS 10	/* for the last replies of a closed session */

static void	session_set_peer(struct session *, const struct sockaddr *,
		    socklen_t);
static int	session_set_client(struct session *, const struct sockaddr *,
		    socklen_t, const char *);
static void	session_greet(struct session *);
static void	session_proxy_input(struct session *);
static void	session_tls_start(struct session *);
static void	session_tls_handshake(struct session *);
static int	session_io_read(struct session *);
static void	session_read(int, short, void *);
static void	session_write(int, short, void *);
static void	session_timeout(int, short, void *);
static void	session_flush(struct session *);
static void	session_free(struct session *);
static int	session_getline(struct session *, char *, size_t, size_t *);
static int	session_mid_message(const struct session *);
static int	session_in_message(const struct session *);
static int	session_in_transaction(const struct session *);
static void	session_credit(struct session *, int);

static const char *state_names[STATE_COUNT] = {
	[STATE_INIT] = "INIT",
	[STATE_PROXY] = "PROXY",
	[STATE_TLS] = "TLS",
	[STATE_CONNECTED] = "CONNECTED",
	[STATE_HELO] = "HELO",
	[STATE_MAIL] = "MAIL",
	[STATE_RCPT] = "RCPT",
	[STATE_DATA] = "DATA",
	[STATE_BDAT] = "BDAT",
	[STATE_BDAT_WAIT] = "BDAT_WAIT",
	[STATE_AUTH_PLAIN] = "AUTH_PLAIN",
	[STATE_AUTH_LOGIN_USER] = "AUTH_LOGIN_USER",
	[STATE_AUTH_LOGIN_PASS] = "AUTH_LOGIN_PASS",
	[STATE_AUTH_WAIT] = "AUTH_WAIT",
	[STATE_AUTH_SASL] = "AUTH_SASL",
	[STATE_SPOOLING] = "SPOOLING",
	[STATE_QUIT] = "QUIT",
};

const char *
session_state_name(enum session_state st)
{
	return st < STATE_COUNT ? state_names[st] : "?";
}

void
session_set_state(struct session *s, enum session_state st)
{
	if (s->state != st)
		log_debug("session=%s state %s -> %s", s->id,
		    session_state_name(s->state), session_state_name(st));
	/*
	 * A TLS handshake is the costliest step of a session: its events
	 * run after those of sessions in the SMTP dialogue, a few at a time
	 * (worker.c), so a burst of new clients does not hold up a NOOP.
	 * (Fails only for an event active right now: it keeps its place.)
	 */
	if ((st == STATE_TLS) != (s->state == STATE_TLS)) {
		event_priority_set(s->ev_read, st == STATE_TLS ?
		    WORKER_PRI_HANDSHAKE : WORKER_PRI_SESSION);
		event_priority_set(s->ev_write, st == STATE_TLS ?
		    WORKER_PRI_HANDSHAKE : WORKER_PRI_SESSION);
	}
	s->state = st;
}

/* The client's address, for logs, Received: and the policy. */
static void
session_set_peer(struct session *s, const struct sockaddr *sa,
    socklen_t salen)
{
	memset(&s->peer, 0, sizeof(s->peer));
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen :
	    sizeof(s->peer));
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12],
			    s->peerip, sizeof(s->peerip));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, s->peerip,
			    sizeof(s->peerip));
		s->peerport = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, s->peerip,
		    sizeof(s->peerip));
		s->peerport = ntohs(s4->sin_port);
	}
}

/*
 * The one place that makes an address the session's client and applies
 * what is keyed on it: auth-exempt, the ban (421 and close) and the
 * sessions per address (the slot moves from the old address to the new).
 * Called at accept, and on a proxy listener right after the PROXY header
 * with the address it names (via: the balancer's, for the log).  Returns
 * 0, or -1 when the session was refused and is closing.
 */
static int
session_set_client(struct session *s, const struct sockaddr *sa,
    socklen_t salen, const char *via)
{
	const struct config	*conf = s->w->conf;
	struct sockaddr_storage	 ss;

	/* sa may be s->peer itself. */
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, salen < sizeof(ss) ? salen : sizeof(ss));
	if (s->flags & SF_IPCOUNTED) {
		iplimit_release((struct sockaddr *)&s->peer);
		s->flags &= ~SF_IPCOUNTED;
	}
	session_set_peer(s, (struct sockaddr *)&ss, sizeof(ss));
	/* Behind PROXY, the connect line waits for the real client. */
	if (s->lc->proxy)
		log_info("session=%s connect ip=%s port=%u listen=%s "
		    "mode=%s%s%s", s->id, s->peerip, s->peerport, s->lc->text,
		    listen_mode_name(s->lc->mode), via ? " via=" : "",
		    via ? via : "");
	s->exempt = cidr_match(conf->auth_exempt, conf->nauth_exempt,
	    (struct sockaddr *)&s->peer);
	if (!s->exempt && banlist_check((struct sockaddr *)&s->peer, NULL)) {
		log_info("session=%s refuse reason=banned ip=%s", s->id,
		    s->peerip);
		session_quit_now(s, R_BANNED, "banned");
		return -1;
	}
	if (iplimit_acquire((struct sockaddr *)&s->peer,
	    conf->max_sessions_per_ip) == -1) {
		log_info("session=%s refuse reason=max-sessions-per-ip ip=%s",
		    s->id, s->peerip);
		session_quit_now(s, R_TOO_MANY_PER_IP, "max-sessions-per-ip");
		return -1;
	}
	s->flags |= SF_IPCOUNTED;
	return 0;
}

/* The session's listener slot in the counters (metrics.h). */
static unsigned
session_listener(const struct session *s)
{
	return metrics_listener((size_t)(s->lc - s->w->conf->listens));
}

int
session_new(struct worker *w, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->w = w;
	s->lc = lc;
	s->fd = fd;
	s->msg.fd = -1;
	session_set_peer(s, sa, salen);
	spool_new_id(s->id);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->body = evbuffer_new();
	s->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST,
	    session_read, s);
	s->ev_write = event_new(w->base, fd, EV_WRITE, session_write, s);
	s->ev_timer = evtimer_new(w->base, session_timeout, s);
	if (s->ev_read != NULL && s->ev_write != NULL) {
		event_priority_set(s->ev_read, WORKER_PRI_SESSION);
		event_priority_set(s->ev_write, WORKER_PRI_SESSION);
	}
	if (s->in == NULL || s->out == NULL || s->body == NULL ||
	    s->ev_read == NULL || s->ev_write == NULL || s->ev_timer == NULL) {
		if (s->in)
			evbuffer_free(s->in);
		if (s->out)
			evbuffer_free(s->out);
		if (s->body)
			evbuffer_free(s->body);
		if (s->ev_read)
			event_free(s->ev_read);
		if (s->ev_write)
			event_free(s->ev_write);
		if (s->ev_timer)
			event_free(s->ev_timer);
		free(s);
		return -1;
	}
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->nsessions++;
	metrics_session_open(session_listener(s), 1);
	if (!lc->proxy)
		log_info("session=%s connect ip=%s port=%u listen=%s mode=%s",
		    s->id, s->peerip, s->peerport, lc->text,
		    listen_mode_name(lc->mode));

	/* Behind a balancer the client is known after the header. */
	if (lc->proxy)
		session_set_state(s, STATE_PROXY);
	else if (session_set_client(s, sa, salen, NULL) == -1) {
		session_flush(s);
		session_settle(s);
		return 0;
	} else if (lc->mode == LISTEN_SMTPS)
		session_tls_start(s);
	else
		session_greet(s);
	event_add(s->ev_read, NULL);
	session_arm_timer(s);
	session_flush(s);
	session_settle(s);
	return 0;
}

static void
session_greet(struct session *s)
{
	/* The worker began to stop while the client was not yet greeted. */
	if (s->flags & SF_DRAIN) {
		session_quit_now(s, R_SHUTDOWN, "shutdown");
		return;
	}
	session_reply(s, R_GREETING, s->w->conf->hostname);
	session_set_state(s, STATE_CONNECTED);
	milter_start(s);
}

/*
 * The PROXY header of a proxy listener: the real client address replaces
 * the balancer's before anything else happens.  It is read from the socket
 * with MSG_PEEK first so that not one byte after it is consumed: on an
 * smtps listener those bytes are the client's TLS handshake.  Until the
 * header is complete every byte seen belongs to it and is kept in s->in.
 */
static void
session_proxy_input(struct session *s)
{
	struct proxy_result	 pr;
	unsigned char		 buf[PROXY_V2_MAX];
	size_t			 have = evbuffer_get_length(s->in);
	ssize_t			 n;
	int			 r;

	if (have >= sizeof(buf)) {
		session_close(s, "bad-proxy-header");
		return;
	}
	evbuffer_copyout(s->in, buf, have);
	n = recv(s->fd, buf + have, sizeof(buf) - have, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		session_close(s, n == 0 ? "disconnect" : "read-error");
		return;
	}
	r = proxy_parse(buf, have + (size_t)n, &pr);
	if (r == 0 && have + (size_t)n < sizeof(buf)) {
		if (recv(s->fd, buf + have, (size_t)n, 0) != n) {
			session_close(s, "read-error");
			return;
		}
		evbuffer_add(s->in, buf + have, (size_t)n);
		return;
	}
	if (r <= 0) {
		log_info("session=%s reject reason=bad-proxy-header ip=%s",
		    s->id, s->peerip);
		session_close(s, "bad-proxy-header");
		return;
	}
	n = (ssize_t)((size_t)r - have);
	if (recv(s->fd, buf + have, (size_t)n, 0) != n) {
		session_close(s, "read-error");
		return;
	}
	evbuffer_drain(s->in, have);
	/* A LOCAL header (a health check): the balancer is the client. */
	if (pr.local)
		r = session_set_client(s, (struct sockaddr *)&s->peer,
		    sizeof(s->peer), NULL);
	else {
		char	via[sizeof(s->peerip)];

		snprintf(via, sizeof(via), "%s", s->peerip);
		r = session_set_client(s, (struct sockaddr *)&pr.src,
		    pr.srclen, via);
	}
	if (r == -1)
		return;
	/* From now on the command timeout, not proxy-timeout. */
	session_arm_timer(s);
	if (s->lc->mode == LISTEN_SMTPS)
		session_tls_start(s);
	else {
		session_greet(s);
		session_process(s);
	}
}

/*
 * Begin the handshake.  Nothing read before it counts: for STARTTLS the
 * client's bytes after the command are dropped (RFC 3207, CVE-2011-0411),
 * for smtps there are none yet except after a PROXY header.
 */
static void
session_tls_start(struct session *s)
{
	s->flags &= ~SF_STARTTLS;
	evbuffer_drain(s->in, evbuffer_get_length(s->in));
	event_add(s->ev_read, NULL);
	if ((s->tls = tls_accept_fd(s->w->tls, s->fd)) == NULL) {
		log_warnx("session=%s tls: out of memory", s->id);
		session_close(s, "tls-error");
		return;
	}
	session_set_state(s, STATE_TLS);
	session_arm_timer(s);
	session_tls_handshake(s);
}

static void
session_tls_handshake(struct session *s)
{
	int	r;

	r = tls_handshake(s->tls);
	if (r == TLS_WANT_POLLIN)
		return;		/* ev_read is always armed */
	if (r == TLS_WANT_POLLOUT) {
		event_add(s->ev_write, NULL);
		return;
	}
	if (r == -1) {
		char	why[256];

		log_info("session=%s tls-failed reason=\"%s\"", s->id,
		    log_escape(tls_error(s->tls), strlen(tls_error(s->tls)),
		    why, sizeof(why)));
		session_close(s, "tls-failed");
		return;
	}
	snprintf(s->tls_info, sizeof(s->tls_info), "%s:%s:%d",
	    tls_conn_version(s->tls), tls_conn_cipher(s->tls),
	    tls_conn_cipher_bits(s->tls));
	log_info("session=%s tls version=%s cipher=%s bits=%d resumed=%s",
	    s->id, tls_conn_version(s->tls), tls_conn_cipher(s->tls),
	    tls_conn_cipher_bits(s->tls),
	    tls_conn_resumed(s->tls) ? "yes" : "no");
	/* A clean slate: the client must say EHLO again. */
	txn_reset(s);
	free(s->auth_user);
	s->auth_user = NULL;
	s->helo[0] = '\0';
	s->flags &= ~SF_EHLO;
	session_set_state(s, STATE_CONNECTED);
	if (s->lc->mode == LISTEN_SMTPS)
		session_greet(s);
	session_arm_timer(s);
	session_process(s);
}

/*
 * Read what the connection has into s->in.  Returns the bytes read, 0 at
 * the end of the stream, -1 on an error, -2 when nothing is there yet.
 * TLS may hold decrypted data that no socket event announces, so it is
 * read until the library wants the socket.
 */
static int
session_io_read(struct session *s)
{
	struct evbuffer_iovec	v;
	ssize_t			n;
	int			total = 0;

	if (s->tls == NULL) {
		n = evbuffer_read(s->in, s->fd, READ_CHUNK);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? -2 : -1;
		return (int)n;
	}
	s->flags &= ~SF_TLS_RW;
	while (evbuffer_get_length(s->in) < IN_MAX) {
		if (evbuffer_reserve_space(s->in, READ_CHUNK, &v, 1) < 1)
			return -1;
		n = tls_read(s->tls, v.iov_base, v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(s->in, &v, 1);
			total += (int)n;
			continue;
		}
		v.iov_len = 0;
		evbuffer_commit_space(s->in, &v, 1);
		if (n == TLS_WANT_POLLIN)
			break;
		if (n == TLS_WANT_POLLOUT) {
			s->flags |= SF_TLS_RW;
			event_add(s->ev_write, NULL);
			break;
		}
		if (total > 0)
			break;	/* report the end on the next call */
		return n == 0 ? 0 : -1;
	}
	return total > 0 ? total : -2;
}

/*
 * Queue a reply line.  Every 5xx counts against the session's error
 * budget (checked after each command).
 */
void
session_reply(struct session *s, const char *fmt, ...)
{
	char	line[SMTP_LINE_MAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;	/* replies are ours: never */
	memcpy(line + n, "\r\n", 2);
	evbuffer_add(s->out, line, (size_t)n + 2);
	if (line[0] == '5')
		s->errors++;
}

/* A refusal: the reply, and a log line with the command's verb. */
void
session_reject(struct session *s, const struct smtp_command *cmd,
    const char *line)
{
	char	 arg[128];
	size_t	 len = cmd->argslen;

	/* An AUTH line carries credentials: only its mechanism is logged. */
	if (cmd->verb == VERB_AUTH)
		for (len = 0; len < cmd->argslen && cmd->args[len] != ' ';
		    len++)
			;
	session_reply(s, "%s", line);
	log_info("session=%s reject cmd=%s arg=\"%s\" reply=\"%s\"", s->id,
	    cmdparse_verb_name(cmd->verb),
	    log_escape(cmd->args, len, arg, sizeof(arg)), line);
}

/* Is the client sending message octets (or a refused chunk) now? */
static int
session_mid_message(const struct session *s)
{
	return s->state == STATE_DATA || s->state == STATE_BDAT ||
	    s->skip > 0;
}

/* Is a message (DATA, BDAT chunks and the waits between them) arriving? */
static int
session_in_message(const struct session *s)
{
	return session_mid_message(s) || s->state == STATE_BDAT_WAIT;
}

/*
 * From MAIL to the message's reply: a stopping or draining worker lets a
 * transaction finish (within its deadlines) and says 421 after it.
 */
static int
session_in_transaction(const struct session *s)
{
	return session_in_message(s) || s->state == STATE_MAIL ||
	    s->state == STATE_RCPT;
}

static long long
ts_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/*
 * The session's one timer.  Outside a message it is command-timeout from
 * now, and it is armed only when the session starts waiting for a command
 * line: the bytes of a line do not push it back, so a line must be
 * complete within command-timeout (a client sending one byte now and then
 * gets its 421 all the same).  In a message it runs to s->deadline (set
 * here at its first octet, moved by session_credit()), and between BDAT
 * chunks to whichever comes first, the deadline or command-timeout.
 */
void
session_arm_timer(struct session *s)
{
	const struct config	*conf = s->w->conf;
	struct timespec		 now;
	struct timeval		 tv = { 0, 0 };
	long long		 left, cmd;

	if (s->flags & SF_DEAD)
		return;		/* the linger of session_close() */
	if (s->flags & SF_BUSY) {
		evtimer_del(s->ev_timer);
		return;
	}
	if (s->state == STATE_PROXY)
		tv.tv_sec = conf->proxy_timeout;
	else if (session_in_message(s)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!(s->flags & SF_DEADLINE)) {
			s->deadline = now;
			s->deadline.tv_sec += conf->data_timeout;
			s->flags |= SF_DEADLINE;
		}
		left = ts_ns(&s->deadline) - ts_ns(&now);
		cmd = (long long)conf->command_timeout * 1000000000LL;
		if (s->state == STATE_BDAT_WAIT && left > cmd)
			left = cmd;
		if (left < 0)
			left = 0;
		tv.tv_sec = (time_t)(left / 1000000000LL);
		tv.tv_usec = (suseconds_t)(left % 1000000000LL / 1000);
	} else {
		s->flags &= ~SF_DEADLINE;
		tv.tv_sec = conf->command_timeout;
	}
	evtimer_add(s->ev_timer, &tv);
}

/*
 * n octets of a message were read: the deadline moves n / data-min-rate
 * seconds later, up to data-timeout from now (Postfix's
 * smtpd_min_data_rate).  A client keeping up the rate is never cut off,
 * one sending less runs out of time however often it sends a byte.
 */
static void
session_credit(struct session *s, int n)
{
	const struct config	*conf = s->w->conf;
	struct timespec		 now;
	long long		 d, cap;

	if (!(s->flags & SF_DEADLINE))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	cap = ts_ns(&now) + (long long)conf->data_timeout * 1000000000LL;
	if (conf->data_min_rate == 0)
		d = cap;
	else
		d = ts_ns(&s->deadline) + (long long)n * 1000000000LL /
		    conf->data_min_rate;
	if (d > cap)
		d = cap;
	s->deadline.tv_sec = (time_t)(d / 1000000000LL);
	s->deadline.tv_nsec = (long)(d % 1000000000LL);
}

static void
session_timeout(int fd, short events, void *arg)
{
	struct session	*s = arg;

	/* Closed, and its last replies not read in CLOSE_LINGER_SECONDS. */
	if (s->flags & SF_DEAD) {
		s->flags |= SF_WERR;
		session_settle(s);
		return;
	}
	/* A balancer that sends no header gets no SMTP reply either. */
	if (s->state == STATE_PROXY) {
		log_info("session=%s reject reason=proxy-timeout ip=%s",
		    s->id, s->peerip);
		session_close(s, "proxy-timeout");
	} else
		session_quit_now(s, R_TIMEOUT,
		    "timeout");
	session_settle(s);
}

/*
 * Say 421 (fmt has one %s for the host name) and close: for timeouts,
 * too many errors and shutdown.
 */
void
session_quit_now(struct session *s, const char *fmt, const char *why)
{
	/*
	 * In the middle of a TLS handshake no reply can be understood,
	 * and writing one would wait for the handshake to go on: the
	 * connection is just closed.
	 */
	if (s->state == STATE_TLS) {
		session_close(s, why);
		return;
	}
	evbuffer_add_printf(s->out, fmt, s->w->conf->hostname);
	evbuffer_add(s->out, "\r\n", 2);
	s->flags |= SF_CLOSING;
	if (s->state == STATE_DATA || s->state == STATE_BDAT)
		log_info("session=%s abort-data reason=%s", s->id, why);
	session_set_state(s, STATE_QUIT);
	session_close(s, why);
}

static void
session_read(int fd, short events, void *arg)
{
	struct session	*s = arg;
	int		 n;

	if (s->state == STATE_PROXY) {
		session_proxy_input(s);
		session_settle(s);
		return;
	}
	if (s->state == STATE_TLS) {
		if (s->tls != NULL)
			session_tls_handshake(s);
		session_settle(s);
		return;
	}
	if (s->flags & SF_TLS_WR) {
		/* A TLS write was waiting for input. */
		s->flags &= ~SF_TLS_WR;
		session_flush(s);
	}
	n = session_io_read(s);
	if (n == -1)
		session_close(s, "read-error");
	else if (n == 0) {
		/*
		 * The client may have written a whole session and shut down
		 * its side (printf ... | nc -N): what is buffered is still
		 * processed and answered before the session closes.
		 */
		s->flags |= SF_EOF;
		event_del(s->ev_read);
		session_process(s);
	} else if (n > 0) {
		/* Only message octets move a timer; see session_arm_timer(). */
		if (session_in_message(s)) {
			session_credit(s, n);
			session_arm_timer(s);
		}
		session_process(s);
	}
	session_settle(s);
}

/*
 * Process buffered input until it is used up, the session waits for a
 * job, or the client is not reading our replies; then write.
 */
void
session_process(struct session *s)
{
	char	line[SASL_LINE_MAX + 1];
	size_t	len;

	while (!(s->flags & (SF_BUSY | SF_CLOSING | SF_DEAD | SF_AUTHWAIT |
	    SF_MILTER)) &&
	    evbuffer_get_length(s->out) < OUT_MAX) {
		if (s->state == STATE_PROXY || s->state == STATE_TLS)
			break;
		if (s->skip > 0) {
			if (evbuffer_get_length(s->in) == 0)
				break;
			session_skip_input(s);
		} else if (s->state == STATE_DATA) {
			if (evbuffer_get_length(s->in) == 0)
				break;
			session_data_input(s);
		} else if (s->state == STATE_BDAT) {
			if (evbuffer_get_length(s->in) == 0 &&
			    s->bdat_left > 0)
				break;
			session_bdat_input(s);
		} else if (session_getline(s, line, sizeof(line), &len)) {
			if (session_in_sasl(s))
				session_sasl_line(s, line, len);
			else
				session_line(s, line, len);
			explicit_bzero(line, len);
			/* A whole line: the next one gets its own time. */
			if (!(s->flags & (SF_DEAD | SF_AUTHWAIT)))
				session_arm_timer(s);
		} else
			break;
		if (s->errors >= s->w->conf->max_errors &&
		    !(s->flags & SF_CLOSING)) {
			session_quit_now(s, R_TOO_MANY_ERRORS, "too-many-errors");
			return;
		}
	}
	if (s->flags & SF_DEAD)
		return;
	if ((s->flags & SF_EOF) &&
	    !(s->flags & (SF_BUSY | SF_AUTHWAIT | SF_CLOSING | SF_MILTER))) {
		s->flags |= SF_CLOSING;
		session_close(s, "disconnect");
		return;
	}
	if ((s->flags & SF_DRAIN) && !(s->flags & (SF_BUSY | SF_CLOSING)) &&
	    !session_in_transaction(s)) {
		session_quit_now(s, R_SHUTDOWN,
		    "shutdown");
		return;
	}
	/* Back-pressure on a client that sends without reading. */
	if (evbuffer_get_length(s->in) >= IN_MAX) {
		if (!(s->flags & SF_READ_OFF)) {
			event_del(s->ev_read);
			s->flags |= SF_READ_OFF;
		}
	} else if ((s->flags & SF_READ_OFF) &&
	    !(s->flags & (SF_STARTTLS | SF_EOF))) {
		event_add(s->ev_read, NULL);
		s->flags &= ~SF_READ_OFF;
		/* TLS may hold records no socket event will announce. */
		if (s->tls != NULL)
			event_active(s->ev_read, EV_READ, 0);
	}
	session_flush(s);
}

/* Write what can be written now; the rest when the socket allows. */
static void
session_flush(struct session *s)
{
	struct evbuffer_iovec	v;
	ssize_t			n;

	while (evbuffer_get_length(s->out) > 0 && !(s->flags & SF_WERR)) {
		if (s->tls != NULL) {
			if (evbuffer_peek(s->out, -1, NULL, &v, 1) < 1)
				break;
			n = tls_write(s->tls, v.iov_base, v.iov_len);
			if (n > 0) {
				evbuffer_drain(s->out, (size_t)n);
				continue;
			}
			if (n == TLS_WANT_POLLOUT) {
				event_add(s->ev_write, NULL);
				return;
			}
			if (n == TLS_WANT_POLLIN) {
				s->flags |= SF_TLS_WR;
				return;
			}
		} else {
			n = evbuffer_write(s->out, s->fd);
			if (n >= 0)
				continue;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				event_add(s->ev_write, NULL);
				return;
			}
		}
		s->flags |= SF_WERR;
		session_close(s, "write-error");
	}
	/* The 220 to STARTTLS is out: now the handshake (RFC 3207). */
	if ((s->flags & SF_STARTTLS) && evbuffer_get_length(s->out) == 0 &&
	    !(s->flags & SF_DEAD))
		session_tls_start(s);
}

/*
 * The end of every callback: a closed session is freed here, and only
 * here, once its job is done and its last replies are written.
 */
void
session_settle(struct session *s)
{
	if (!(s->flags & SF_DEAD) || (s->flags & SF_BUSY))
		return;
	if ((s->flags & SF_CLOSING) && !(s->flags & SF_WERR) &&
	    evbuffer_get_length(s->out) > 0)
		return;		/* session_write comes back */
	session_free(s);
}

static void
session_write(int fd, short events, void *arg)
{
	struct session	*s = arg;

	if (s->state == STATE_TLS) {
		session_tls_handshake(s);
		session_settle(s);
		return;
	}
	if (s->flags & SF_TLS_RW) {
		/* A TLS read was waiting for the socket to be writable. */
		session_read(fd, EV_READ, s);
		return;
	}
	session_flush(s);
	/* Replies drained: resume input held back by OUT_MAX. */
	if (evbuffer_get_length(s->out) == 0 &&
	    !(s->flags & (SF_CLOSING | SF_DEAD)) &&
	    evbuffer_get_length(s->in) > 0)
		session_process(s);
	session_settle(s);
}

/*
 * Close the session: log it and stop reading.  With SF_CLOSING the pending
 * replies are still written; session_settle() frees it.
 */
void
session_close(struct session *s, const char *reason)
{
	struct timespec	now;
	long		ms;

	if (s->flags & SF_DEAD)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - s->start.tv_sec) * 1000 +
	    (now.tv_nsec - s->start.tv_nsec) / 1000000;
	if (s->state == STATE_DATA || s->state == STATE_BDAT ||
	    s->state == STATE_BDAT_WAIT)
		log_info("session=%s abort-data reason=%s", s->id, reason);
	log_info("session=%s disconnect reason=%s messages=%u "
	    "duration_ms=%ld", s->id, reason, s->nmessages, ms);
	METRICS_ADD(listeners[session_listener(s)].sessions[s->tls != NULL],
	    1);
	s->flags |= SF_DEAD;
	event_del(s->ev_read);
	evtimer_del(s->ev_timer);
	if (!(s->flags & SF_CLOSING))
		return;
	session_flush(s);
	/*
	 * A client that does not read its last replies (or a TLS write that
	 * waits for input no longer read) does not keep the session: it is
	 * freed after CLOSE_LINGER_SECONDS whatever is left unwritten.
	 */
	if (!(s->flags & SF_WERR) && evbuffer_get_length(s->out) > 0) {
		struct timeval	tv = { CLOSE_LINGER_SECONDS, 0 };

		evtimer_add(s->ev_timer, &tv);
	}
}

static void
session_free(struct session *s)
{
	struct worker	*w = s->w;

	txn_reset(s);
	milter_free(s);
	if (s->auth_req != 0)
		authclient_cancel(s->w->auth, s->auth_req);
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	free(s->auth_user);
	event_free(s->ev_read);
	event_free(s->ev_write);
	event_free(s->ev_timer);
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	evbuffer_free(s->body);
	if (s->tls != NULL) {
		if (!(s->flags & SF_WERR))
			tls_close(s->tls);
		tls_free(s->tls);
	}
	close(s->fd);
	if (s->flags & SF_IPCOUNTED)
		iplimit_release((struct sockaddr *)&s->peer);
	TAILQ_REMOVE(&w->sessions, s, entry);
	w->nsessions--;
	metrics_session_open(session_listener(s), -1);
	free(s);
	worker_session_gone(w, NULL);
}

void
session_drain(struct session *s)
{
	s->flags |= SF_DRAIN;
	/*
	 * A PROXY header or a TLS handshake still on its way ends in the
	 * greeting (or STARTTLS's fresh start), which says 421 instead;
	 * their own timers bound them.
	 */
	if (s->state == STATE_PROXY || s->state == STATE_TLS)
		return;
	if (!(s->flags & (SF_BUSY | SF_CLOSING | SF_DEAD)) &&
	    !session_in_transaction(s))
		session_quit_now(s, R_SHUTDOWN,
		    "shutdown");
	session_settle(s);
}

/*
 * Take one command line out of the input.  Returns 1 with the line (CR and
 * LF removed) in buf, or 0 when no complete line is buffered.  A line
 * longer than SMTP_LINE_MAX is answered here and skipped up to its end.
 */
static int
session_getline(struct session *s, char *buf, size_t bufsz, size_t *len)
{
	struct evbuffer_ptr	end, found;
	size_t			avail, scan, n, limit;
	char			verb[5];

	while ((avail = evbuffer_get_length(s->in)) > 0) {
		/*
		 * RFC 4954 4: an AUTH command with its initial response and
		 * every SASL answer may be 12288 octets long.
		 */
		limit = SMTP_LINE_MAX;
		if (session_in_sasl(s))
			limit = SASL_LINE_MAX;
		else if (evbuffer_copyout(s->in, verb, sizeof(verb)) ==
		    sizeof(verb) && strncasecmp(verb, "AUTH ", 5) == 0)
			limit = SASL_LINE_MAX;
		if (s->flags & SF_DISCARD) {
			found = evbuffer_search(s->in, "\n", 1, NULL);
			if (found.pos == -1) {
				evbuffer_drain(s->in, avail);
				return 0;
			}
			evbuffer_drain(s->in, (size_t)found.pos + 1);
			s->flags &= ~SF_DISCARD;
			continue;
		}
		scan = avail < limit ? avail : limit;
		evbuffer_ptr_set(s->in, &end, scan, EVBUFFER_PTR_SET);
		found = evbuffer_search_range(s->in, "\n", 1, NULL, &end);
		if (found.pos == -1) {
			if (avail < limit)
				return 0;
			log_info("session=%s reject reason=line-too-long",
			    s->id);
			s->flags |= SF_DISCARD;
			if (limit == SASL_LINE_MAX) {
				session_reply(s, R_AUTH_LINE_TOO_LONG);
				if (session_in_sasl(s))
					auth_finish(s, NULL);
			} else
				session_reply(s, R_LINE_TOO_LONG);
			continue;
		}
		n = (size_t)found.pos;
		if (n + 1 > bufsz)
			return 0;	/* cannot happen: n < SMTP_LINE_MAX */
		evbuffer_remove(s->in, buf, n + 1);
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		buf[n] = '\0';
		*len = n;
		return 1;
	}
	return 0;
}
