/*
 * The SMTP session state machine.
 *
 * Input is read into s->in and processed line by line through the command
 * table (check, then proceed), or byte-wise while a DATA body or BDAT chunk
 * arrives.  Replies are appended to s->out and written when no complete
 * line is left to process, so a pipelined group of commands is answered
 * with one write (RFC 2920).  Work that blocks (the spool commit with its
 * fsyncs) runs on the worker's thread pool; the session waits in
 * STATE_SPOOLING without reading further commands.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <inttypes.h>
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
#include "common/sasl.h"
#include "common/tls.h"
#include "common/workq.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/envelope.h"
#include "server/shared/iplimit.h"
#include "server/smtp/authclient.h"
#include "server/smtp/policy.h"
#include "server/smtp/replies.h"
#include "server/smtp/session.h"
#include "server/smtp/worker.h"

#define READ_CHUNK	16384
#define IN_MAX		(128 * 1024)	/* stop reading above this */
#define OUT_MAX		(64 * 1024)	/* stop processing above this */
#define BODY_FLUSH	(64 * 1024)	/* write the body out from here */
#define SASL_LINE_MAX	12288	/* RFC 4954 4: an AUTH line, CRLF included */
#define AUTH_MAX_FAILS	3	/* RFC 4954 9: close after the third */

/* What a command's check parsed, for its proceed. */
struct checked {
	struct mail_args	 mail;		/* MAIL */
	char			 canon[ADDR_PATH_MAX + 1];	/* RCPT */
	enum policy_verdict	 verdict;
	uint64_t		 bdat_size;	/* BDAT */
	int			 bdat_last;
	int			 bdat_ok;	/* the size could be read */
	int			 mech;		/* AUTH: enum auth_mech */
	const char		*ir;		/* initial response, or NULL */
	size_t			 irlen;
};

/*
 * A row of the command table.  check may not change the session (it gets
 * it const): NULL lets the command proceed, anything else is the reply
 * that refuses it.  proceed is NULL for a verb its check always refuses.
 */
struct command {
	enum smtp_verb	 verb;
	const char	*(*check)(const struct session *,
			    const struct smtp_command *, struct checked *);
	void		(*proceed)(struct session *,
			    const struct smtp_command *,
			    const struct checked *);
};

static void	session_set_state(struct session *, enum session_state);
static void	session_set_peer(struct session *, const struct sockaddr *,
		    socklen_t);
static int	session_set_client(struct session *, const struct sockaddr *,
		    socklen_t, const char *);
static void	session_greet(struct session *);
static void	session_tls_start(struct session *);
static void	session_tls_handshake(struct session *);
static int	session_io_read(struct session *);
static int	session_may_starttls(const struct session *);
static int	session_may_auth(const struct session *);
static int	session_in_sasl(const struct session *);
static void	session_sasl_line(struct session *, char *, size_t);
static void	auth_ask(struct session *, const char *, size_t, const char *,
		    size_t);
static void	auth_answered(void *, const struct auth_answer *);
static void	auth_reply(struct session *);
static void	auth_finish(struct session *, const char *);
static void	session_proxy_input(struct session *);
static void	reply(struct session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	reject(struct session *, const struct smtp_command *,
		    const char *);
static void	session_read(int, short, void *);
static void	session_write(int, short, void *);
static void	session_timeout(int, short, void *);
static void	session_process(struct session *);
static void	session_flush(struct session *);
static void	session_settle(struct session *);
static void	session_arm_timer(struct session *);
static void	session_close(struct session *, const char *);
static void	session_free(struct session *);
static int	session_getline(struct session *, char *, size_t, size_t *);
static void	session_line(struct session *, char *, size_t);
static void	session_data_input(struct session *);
static void	session_bdat_input(struct session *);
static void	txn_reset(struct session *);
static int	txn_open_message(struct session *);
static void	txn_body_flush(struct session *);
static void	txn_finish(struct session *, unsigned);
static void	commit_work(void *);
static void	commit_done(void *);
static const char *session_protocol(const struct session *);
static void	session_quit_now(struct session *, const char *,
		    const char *);

static const char *check_any(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_noargs(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_helo(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_mail(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_rcpt(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_data(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_bdat(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_vrfy(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_expn(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_starttls(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_auth(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_unknown(const struct session *,
		    const struct smtp_command *, struct checked *);
static void	proceed_helo(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_ehlo(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_mail(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_rcpt(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_data(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_bdat(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_rset(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_noop(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_quit(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_vrfy(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_help(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_starttls(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_auth(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_http(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	helo_common(struct session *, const struct smtp_command *);
static int	helo_is_peer_literal(const struct session *);
static void	policy_client_of(const struct session *,
		    struct policy_client *);
static void	refuse(struct session *, const struct smtp_command *,
		    const struct checked *, const char *);
static int	session_mid_message(const struct session *);
static int	session_body_input(struct session *, uint64_t *);
static void	session_skip_input(struct session *);

/* Every verb: is it legal now (else the refusal), then do it. */
static const struct command commands[] = {
	{ VERB_HELO,		check_helo,	proceed_helo },
	{ VERB_EHLO,		check_helo,	proceed_ehlo },
	{ VERB_MAIL,		check_mail,	proceed_mail },
	{ VERB_RCPT,		check_rcpt,	proceed_rcpt },
	{ VERB_DATA,		check_data,	proceed_data },
	{ VERB_BDAT,		check_bdat,	proceed_bdat },
	{ VERB_RSET,		check_noargs,	proceed_rset },
	{ VERB_NOOP,		check_any,	proceed_noop },
	{ VERB_QUIT,		check_any,	proceed_quit },
	{ VERB_VRFY,		check_vrfy,	proceed_vrfy },
	{ VERB_EXPN,		check_expn,	NULL },
	{ VERB_HELP,		check_any,	proceed_help },
	{ VERB_STARTTLS,	check_starttls,	proceed_starttls },
	{ VERB_AUTH,		check_auth,	proceed_auth },
	{ VERB_HTTP,		check_any,	proceed_http },
	{ VERB_UNKNOWN,		check_unknown,	NULL },
};

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
	[STATE_SPOOLING] = "SPOOLING",
	[STATE_QUIT] = "QUIT",
};

const char *
session_state_name(enum session_state st)
{
	return st < STATE_COUNT ? state_names[st] : "?";
}

static void
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
	reply(s, R_GREETING, s->w->conf->hostname);
	session_set_state(s, STATE_CONNECTED);
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
 * STARTTLS is offered on smtp and submission listeners when a certificate
 * is configured, and only before TLS.  The same predicate decides what
 * EHLO says and what STARTTLS accepts.
 */
static int
session_may_starttls(const struct session *s)
{
	return s->w->tls != NULL && s->tls == NULL &&
	    s->lc->mode != LISTEN_SMTPS;
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
	if (s->lc->mode == LISTEN_SMTPS)
		session_greet(s);
	else
		session_set_state(s, STATE_CONNECTED);
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
static void
reply(struct session *s, const char *fmt, ...)
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
static void
reject(struct session *s, const struct smtp_command *cmd, const char *line)
{
	char	 arg[128];
	size_t	 len = cmd->argslen;

	/* An AUTH line carries credentials: only its mechanism is logged. */
	if (cmd->verb == VERB_AUTH)
		for (len = 0; len < cmd->argslen && cmd->args[len] != ' ';
		    len++)
			;
	reply(s, "%s", line);
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

static void
session_arm_timer(struct session *s)
{
	struct timeval	tv = { 0, 0 };

	if (s->flags & SF_BUSY) {
		evtimer_del(s->ev_timer);
		return;
	}
	if (s->state == STATE_PROXY)
		tv.tv_sec = s->w->conf->proxy_timeout;
	else if (session_mid_message(s))
		tv.tv_sec = s->w->conf->data_timeout;
	else
		tv.tv_sec = s->w->conf->command_timeout;
	evtimer_add(s->ev_timer, &tv);
}

static void
session_timeout(int fd, short events, void *arg)
{
	struct session	*s = arg;

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
static void
session_quit_now(struct session *s, const char *fmt, const char *why)
{
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
		session_arm_timer(s);
		session_process(s);
	}
	session_settle(s);
}

/*
 * Process buffered input until it is used up, the session waits for a
 * job, or the client is not reading our replies; then write.
 */
static void
session_process(struct session *s)
{
	char	line[SASL_LINE_MAX + 1];
	size_t	len;

	while (!(s->flags & (SF_BUSY | SF_CLOSING | SF_DEAD | SF_AUTHWAIT)) &&
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
	    !(s->flags & (SF_BUSY | SF_AUTHWAIT | SF_CLOSING))) {
		s->flags |= SF_CLOSING;
		session_close(s, "disconnect");
		return;
	}
	if ((s->flags & SF_DRAIN) && !(s->flags & (SF_BUSY | SF_CLOSING)) &&
	    !session_mid_message(s)) {
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
static void
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
static void
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
	s->flags |= SF_DEAD;
	event_del(s->ev_read);
	evtimer_del(s->ev_timer);
	if (s->flags & SF_CLOSING)
		session_flush(s);
}

static void
session_free(struct session *s)
{
	struct worker	*w = s->w;

	txn_reset(s);
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
	free(s);
	worker_session_gone(w, NULL);
}

void
session_drain(struct session *s)
{
	s->flags |= SF_DRAIN;
	if (!(s->flags & (SF_BUSY | SF_CLOSING | SF_DEAD)) &&
	    !session_mid_message(s))
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
				reply(s, R_AUTH_LINE_TOO_LONG);
				if (session_in_sasl(s))
					auth_finish(s, NULL);
			} else
				reply(s, R_LINE_TOO_LONG);
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

static void
session_line(struct session *s, char *line, size_t len)
{
	struct smtp_command	 cmd;
	struct checked		 ck;
	const struct command	*c;
	const char		*why;
	size_t			 i;

	if (cmdparse_line(line, len, &cmd) == -1) {
		reply(s, R_EMPTY_COMMAND);
		return;
	}
	c = &commands[sizeof(commands) / sizeof(commands[0]) - 1];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb) {
			c = &commands[i];
			break;
		}
	memset(&ck, 0, sizeof(ck));
	if ((why = c->check(s, &cmd, &ck)) != NULL)
		refuse(s, &cmd, &ck, why);
	else
		c->proceed(s, &cmd, &ck);
}

/*
 * A command its check refused: the reply and the log line, nothing else.
 * Only a refused BDAT leaves something to do, since its chunk follows
 * whatever the reply: it is skipped (or, when its size cannot be read and
 * so the chunk cannot be found, the session ends).
 */
static void
refuse(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck, const char *why)
{
	reject(s, cmd, why);
	if (cmd->verb != VERB_BDAT)
		return;
	if (!ck->bdat_ok)
		session_quit_now(s, R_BAD_BDAT_CLOSE, "bad-bdat");
	else
		s->skip = ck->bdat_size;
}

/* The transaction: forget it, and any message being received. */
static void
txn_reset(struct session *s)
{
	if (s->msg_open) {
		spool_msg_abort(&s->msg);
		s->msg_open = 0;
	}
	evbuffer_drain(s->body, evbuffer_get_length(s->body));
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	memset(&s->mail, 0, sizeof(s->mail));
	s->bdat_size = s->bdat_left = 0;
	s->bdat_last = 0;
}

/* "with" of the Received: header (RFC 3848, RFC 6531). */
static const char *
session_protocol(const struct session *s)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][auth] */
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!(s->flags & SF_EHLO))
		return "SMTP";
	return names[s->mail.smtputf8 != 0][s->tls != NULL][s->auth_user != NULL];
}

/*
 * The envelope, at the head of the spool file: every recipient is known
 * when the message starts.
 */
static int
txn_write_envelope(struct session *s, time_t now)
{
	struct envelope	 env;
	char		*text = NULL;
	size_t		 i, len;
	int		 r = 0;

	memset(&env, 0, sizeof(env));
	memcpy(env.id, s->msg.id, sizeof(env.id));
	env.time = now;
	snprintf(env.ip, sizeof(env.ip), "%s", s->peerip);
	snprintf(env.helo, sizeof(env.helo), "%s", s->helo);
	if (s->auth_user != NULL &&
	    (size_t)snprintf(env.auth, sizeof(env.auth), "%s", s->auth_user) >=
	    sizeof(env.auth))
		r = -1;
	if (addr_format(&s->mail.from, env.from, sizeof(env.from)) == -1)
		r = -1;
	env.body8bit = s->mail.body == BODY_8BITMIME;
	env.smtputf8 = s->mail.smtputf8;
	for (i = 0; r == 0 && i < s->nrcpts; i++)
		r = envelope_add_rcpt(&env, s->rcpts[i].addr,
		    s->rcpts[i].remote);
	if (r == 0)
		r = envelope_format(&env, &text, &len);
	envelope_free(&env);
	if (r == 0)
		spool_msg_envelope(&s->msg, text, len);
	free(text);
	return r;
}

/*
 * Create the spool file: the envelope, then our Received: header (RFC 5321
 * 4.4) to start the message.
 */
static int
txn_open_message(struct session *s)
{
	char		 date[64], ip[80];
	struct tm	 tm;
	time_t		 now;

	if (spool_msg_create(&s->w->spool, &s->msg) == -1) {
		log_warn("session=%s spool create", s->id);
		return -1;
	}
	s->msg_open = 1;
	now = time(NULL);
	if (txn_write_envelope(s, now) == -1) {
		log_warn("session=%s envelope", s->id);
		spool_msg_abort(&s->msg);
		s->msg_open = 0;
		return -1;
	}
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (strchr(s->peerip, ':') != NULL)
		snprintf(ip, sizeof(ip), "IPv6:%s", s->peerip);
	else
		snprintf(ip, sizeof(ip), "%s", s->peerip);
	evbuffer_add_printf(s->body, "Received: from %s ([%s])\r\n"
	    "\tby %s with %s", s->helo, ip, s->w->conf->hostname,
	    session_protocol(s));
	if (s->tls != NULL)
		evbuffer_add_printf(s->body, " (%s)", s->tls_info);
	evbuffer_add_printf(s->body, " id %s", s->msg.id);
	/* Name the recipient only when there is one (no list leaks). */
	if (s->nrcpts == 1)
		evbuffer_add_printf(s->body, "\r\n\tfor <%s>", s->rcpts[0].addr);
	evbuffer_add_printf(s->body, "; %s\r\n", date);
	return 0;
}

/* Move buffered body bytes to the spool file (page cache, no fsync). */
static void
txn_body_flush(struct session *s)
{
	struct evbuffer_iovec	v[8];
	int			n, i;

	while (evbuffer_get_length(s->body) > 0) {
		n = evbuffer_peek(s->body, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			spool_msg_write(&s->msg, v[i].iov_base, v[i].iov_len);
			evbuffer_drain(s->body, v[i].iov_len);
		}
	}
}

/*
 * Message bytes of DATA or of a BDAT chunk (at most *left octets of it,
 * counted down; NULL for DATA) through the content rule into the body.
 * Returns -1 when the session had to be closed.
 */
static int
session_body_input(struct session *s, uint64_t *left)
{
	struct evbuffer_iovec	in, out;
	size_t			n, used, outlen;

	while (!s->dp.done && (left == NULL || *left > 0) &&
	    evbuffer_peek(s->in, -1, NULL, &in, 1) > 0) {
		n = in.iov_len;
		if (left != NULL && n > *left)
			n = (size_t)*left;
		if (evbuffer_reserve_space(s->body, n, &out, 1) < 1) {
			session_close(s, "out-of-memory");
			return -1;
		}
		used = dataparse_feed(&s->dp, in.iov_base, n, out.iov_base,
		    &outlen);
		out.iov_len = outlen;
		evbuffer_commit_space(s->body, &out, 1);
		evbuffer_drain(s->in, used);
		if (left != NULL)
			*left -= used;
		if (evbuffer_get_length(s->body) >= BODY_FLUSH)
			txn_body_flush(s);
	}
	return 0;
}

static void
session_data_input(struct session *s)
{
	if (session_body_input(s, NULL) == 0 && s->dp.done)
		txn_finish(s, s->dp.errors);
}

static void
session_bdat_input(struct session *s)
{
	if (session_body_input(s, &s->bdat_left) == -1 || s->bdat_left > 0)
		return;
	if (!s->bdat_last) {
		reply(s, R_BDAT_OK,
		    s->bdat_size);
		session_set_state(s, STATE_BDAT_WAIT);
		session_arm_timer(s);
		return;
	}
	txn_finish(s, dataparse_end(&s->dp));
}

/* The chunk of a refused BDAT: read and thrown away (RFC 3030 2). */
static void
session_skip_input(struct session *s)
{
	size_t	n = evbuffer_get_length(s->in);

	if (n > s->skip)
		n = (size_t)s->skip;
	evbuffer_drain(s->in, n);
	s->skip -= n;
}

/*
 * The end of the message: refuse it, or commit it on the thread pool and
 * answer when that is done.
 */
static void
txn_finish(struct session *s, unsigned errors)
{
	if (errors) {
		const char *why;

		if (errors & DATA_ESIZE)
			why = R_TOO_BIG;
		else if (errors & DATA_EBARELF)
			why = R_BARE_LF;
		else if (errors & DATA_EBARECR)
			why = R_BARE_CR;
		else
			why = R_LINE_TOO_LONG;
		reply(s, "%s", why);
		log_info("session=%s reject cmd=%s reply=\"%s\"", s->id,
		    s->state == STATE_BDAT ? "BDAT" : "DATA", why);
		txn_reset(s);
		session_set_state(s, STATE_HELO);
		session_arm_timer(s);
		return;
	}

	if (workq_submit(s->w->wq, commit_work, commit_done, s) == -1) {
		log_warn("session=%s commit", s->id);
		reply(s, R_QUEUE_ERROR);
		txn_reset(s);
		session_set_state(s, STATE_HELO);
		return;
	}
	s->flags |= SF_BUSY;
	session_set_state(s, STATE_SPOOLING);
	evtimer_del(s->ev_timer);
}

/* On a pool thread: nothing else touches s->msg and s->body meanwhile. */
static void
commit_work(void *arg)
{
	struct session	*s = arg;

	txn_body_flush(s);
	s->commit_result = spool_msg_commit(&s->msg);
	s->commit_errno = errno;
}

static void
commit_done(void *arg)
{
	struct session	*s = arg;
	char		 from[ADDR_PATH_MAX + 1], esc[ADDR_PATH_MAX * 4 + 1];

	s->flags &= ~SF_BUSY;
	s->msg_open = 0;
	if (s->commit_result == 0) {
		if (addr_format(&s->mail.from, from, sizeof(from)) == -1)
			from[0] = '\0';
		log_info("session=%s queued id=%s from=<%s> nrcpt=%zu "
		    "size=%" PRIu64, s->id, s->msg.id,
		    log_escape(from, strlen(from), esc, sizeof(esc)),
		    s->nrcpts, s->msg.size);
		worker_notify_queue(s->w, s->msg.id);
		s->nmessages++;
		if (!(s->flags & SF_DEAD))
			reply(s, R_QUEUED, s->msg.id);
	} else {
		errno = s->commit_errno;
		log_warn("session=%s spool commit id=%s", s->id, s->msg.id);
		if (!(s->flags & SF_DEAD))
			reply(s, R_QUEUE_ERROR);
	}
	txn_reset(s);
	if (!(s->flags & SF_DEAD)) {
		session_set_state(s, STATE_HELO);
		session_arm_timer(s);
		session_process(s);
	}
	session_settle(s);
}

/*
 * The commands.  A check looks at the session (const: it cannot change
 * it) and returns NULL or the reply that refuses the command; what it
 * parsed goes to the proceed through struct checked, so nothing is parsed
 * twice.  Only a proceed changes the session, so a refused command leaves
 * the state, the transaction and the authentication as they were.
 */

static const char *
check_any(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return NULL;
}

static const char *
check_noargs(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmd->argslen > 0)
		return R_NO_PARAMETERS;
	return NULL;
}

static const char *
check_helo(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	size_t	i, n;

	/* The first word: "ehlo testing NO UCE" says "testing". */
	for (n = 0; n < cmd->argslen && cmd->args[n] != ' '; n++)
		;
	if (n == 0)
		return cmd->verb == VERB_EHLO ?
		    R_EHLO_SYNTAX :
		    R_HELO_SYNTAX;
	if (n >= sizeof(s->helo))
		return R_BAD_HOSTNAME;
	for (i = 0; i < n; i++)
		if ((unsigned char)cmd->args[i] <= 0x20 ||
		    (unsigned char)cmd->args[i] >= 0x7f)
			return R_BAD_HOSTNAME;
	return NULL;
}

static void
helo_common(struct session *s, const struct smtp_command *cmd)
{
	size_t	n;

	for (n = 0; n < cmd->argslen && cmd->args[n] != ' '; n++)
		;
	memcpy(s->helo, cmd->args, n);
	s->helo[n] = '\0';
	/* RFC 5321 4.1.4: HELO/EHLO resets any transaction. */
	txn_reset(s);
	session_set_state(s, STATE_HELO);
}

static void
proceed_helo(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	helo_common(s, cmd);
	s->flags &= ~SF_EHLO;
	reply(s, "250 %s", s->w->conf->hostname);
}

/*
 * Does the HELO name, an address literal (RFC 5321 4.1.3), name the
 * client's own address?  Then the EHLO reply shows it once.
 */
static int
helo_is_peer_literal(const struct session *s)
{
	char		 text[sizeof(s->helo)];
	unsigned char	 a[16], b[16];
	const char	*p = s->helo + 1;
	size_t		 n = strlen(s->helo);
	int		 af = AF_INET;

	if (n < 3 || s->helo[0] != '[' || s->helo[n - 1] != ']')
		return 0;
	if (strncasecmp(p, "IPv6:", 5) == 0) {
		af = AF_INET6;
		p += 5;
	}
	snprintf(text, sizeof(text), "%.*s", (int)(s->helo + n - 1 - p), p);
	if (inet_pton(af, text, a) != 1 ||
	    inet_pton(strchr(s->peerip, ':') != NULL ? AF_INET6 : AF_INET,
	    s->peerip, b) != 1)
		return 0;
	return (strchr(s->peerip, ':') != NULL) == (af == AF_INET6) &&
	    memcmp(a, b, af == AF_INET6 ? 16 : 4) == 0;
}

static void
proceed_ehlo(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	const struct config	*conf = s->w->conf;

	helo_common(s, cmd);
	s->flags |= SF_EHLO;
	if (helo_is_peer_literal(s))
		reply(s, R_HELLO_LITERAL, conf->hostname, s->peerip);
	else
		reply(s, R_HELLO, conf->hostname, s->helo,
		    s->peerip);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %" PRIu64, conf->max_message_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-SMTPUTF8");
	if (session_may_starttls(s))
		reply(s, "250-STARTTLS");
	if (session_may_auth(s))
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 CHUNKING");
}

/* The policy's view of the session. */
static void
policy_client_of(const struct session *s, struct policy_client *pc)
{
	pc->mode = s->lc->mode;
	pc->auth_user = s->auth_user;
}

static const char *
check_mail(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	struct policy_client	 pc;
	struct cmd_error	 err;
	const char		*why;

	switch (s->state) {
	case STATE_CONNECTED:
		return R_NEED_HELO;
	case STATE_MAIL:
	case STATE_RCPT:
	case STATE_BDAT_WAIT:
		return R_NESTED_MAIL;
	default:
		break;
	}
	if (cmdparse_mail(cmd->args, cmd->argslen, &ck->mail, &err) == -1)
		return err.reply;
	if (ck->mail.has_size && ck->mail.size > s->w->conf->max_message_size)
		return R_TOO_BIG;
	policy_client_of(s, &pc);
	if (!policy_mail(s->w->conf, &pc, &ck->mail.from, &why))
		return why;
	return NULL;
}

static void
proceed_mail(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	s->mail = ck->mail;
	session_set_state(s, STATE_MAIL);
	reply(s, R_MAIL_OK);
}

static const char *
check_rcpt(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	struct policy_client	 pc;
	struct rcpt_args	 ra;
	struct cmd_error	 err;
	const char		*why;

	if (s->state == STATE_BDAT_WAIT)
		return R_RCPT_AFTER_BDAT;
	if (s->state != STATE_MAIL && s->state != STATE_RCPT)
		return R_NEED_MAIL;
	if (s->nrcpts >= s->w->conf->max_recipients)
		return R_TOO_MANY_RCPTS;
	if (cmdparse_rcpt(cmd->args, cmd->argslen, s->mail.smtputf8, &ra,
	    &err) == -1)
		return err.reply;
	policy_client_of(s, &pc);
	ck->verdict = policy_rcpt(s->w->conf, s->w->users, &pc, &ra.to,
	    ck->canon, sizeof(ck->canon), &why);
	if (ck->verdict == POLICY_REJECT)
		return why;
	return NULL;
}

static void
proceed_rcpt(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	struct txn_rcpt	*r;

	r = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*r));
	if (r == NULL) {
		reject(s, cmd, R_NO_MEMORY);
		return;
	}
	s->rcpts = r;
	snprintf(r[s->nrcpts].addr, sizeof(r[s->nrcpts].addr), "%s",
	    ck->canon);
	r[s->nrcpts].remote = ck->verdict == POLICY_RELAY;
	s->nrcpts++;
	session_set_state(s, STATE_RCPT);
	reply(s, R_RCPT_OK);
}

static const char *
check_data(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (s->state == STATE_BDAT_WAIT)
		return R_DATA_AFTER_BDAT;
	if (s->state == STATE_MAIL)
		return R_NO_RCPTS;
	if (s->state != STATE_RCPT)
		return R_NEED_RCPT;
	if (cmd->argslen > 0)
		return R_DATA_SYNTAX;
	return NULL;
}

static void
proceed_data(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	if (txn_open_message(s) == -1) {
		reply(s, R_QUEUE_ERROR);
		return;
	}
	dataparse_init(&s->dp, s->w->conf->max_message_size);
	session_set_state(s, STATE_DATA);
	session_arm_timer(s);
	reply(s, R_DATA_GO);
}

/*
 * A refused BDAT is still followed by its chunk (RFC 3030 2), which
 * session_line() has skipped: that is why a BDAT check parses the size
 * first.
 */
static const char *
check_bdat(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmdparse_bdat(cmd->args, cmd->argslen, &ck->bdat_size,
	    &ck->bdat_last) == -1)
		return R_BDAT_SYNTAX;
	ck->bdat_ok = 1;
	if (s->state == STATE_MAIL)
		return R_NO_RCPTS;
	if (s->state != STATE_RCPT && s->state != STATE_BDAT_WAIT)
		return R_NEED_RCPT;
	return NULL;
}

static void
proceed_bdat(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	uint64_t	max = s->w->conf->max_message_size;

	if (s->state == STATE_RCPT) {
		if (txn_open_message(s) == -1) {
			reply(s, R_QUEUE_ERROR);
			s->skip = ck->bdat_size;
			return;
		}
		dataparse_init_raw(&s->dp, max);
		s->bdat_size = 0;
	}
	/* Refused at the end, like DATA; the chunk is still read. */
	if (ck->bdat_size > max || s->bdat_size > max - ck->bdat_size)
		s->dp.errors |= DATA_ESIZE;
	s->bdat_size += ck->bdat_size;
	s->bdat_left = ck->bdat_size;
	s->bdat_last = ck->bdat_last;
	session_set_state(s, STATE_BDAT);
	session_arm_timer(s);
}

static void
proceed_rset(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	txn_reset(s);
	if (s->state != STATE_CONNECTED)
		session_set_state(s, STATE_HELO);
	reply(s, R_DONE);
}

static void
proceed_noop(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	reply(s, R_DONE);
}

static void
proceed_quit(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	reply(s, R_QUIT, s->w->conf->hostname);
	s->flags |= SF_CLOSING;
	session_set_state(s, STATE_QUIT);
	session_close(s, "quit");
}

static const char *
check_vrfy(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmd->argslen == 0)
		return R_VRFY_SYNTAX;
	return NULL;
}

static void
proceed_vrfy(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	/* No user enumeration (RFC 5321 3.5.3). */
	reply(s, R_VRFY);
}

static const char *
check_expn(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return R_EXPN;
}

static void
proceed_help(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	reply(s, R_HELP);
}

static const char *
check_starttls(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (s->tls != NULL)
		return R_TLS_ACTIVE;
	if (!session_may_starttls(s))
		return R_NO_STARTTLS;
	if (cmd->argslen > 0)
		return R_STARTTLS_SYNTAX;
	return NULL;
}

static void
proceed_starttls(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	reply(s, R_STARTTLS_GO);
	/*
	 * Whatever the client pipelined after STARTTLS is not read, and
	 * nothing more is read until the handshake: the next bytes on the
	 * socket must be the client's hello.
	 */
	evbuffer_drain(s->in, evbuffer_get_length(s->in));
	event_del(s->ev_read);
	s->flags |= SF_STARTTLS;
	session_set_state(s, STATE_TLS);
}

/*
 * AUTH is offered on a TLS session, or in clear text only when the
 * configuration says so, and only when there are users.  The same
 * predicate decides what EHLO says and what AUTH accepts.
 */
static int
session_may_auth(const struct session *s)
{
	return s->w->auth != NULL &&
	    (s->tls != NULL || s->w->conf->auth_over_plaintext);
}

static int
session_in_sasl(const struct session *s)
{
	return s->state == STATE_AUTH_PLAIN ||
	    s->state == STATE_AUTH_LOGIN_USER ||
	    s->state == STATE_AUTH_LOGIN_PASS;
}

static const char *
check_auth(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	const char	*mech = cmd->args;
	size_t		 mechlen;

	if (s->w->auth == NULL)
		return R_NO_AUTH;
	if (!session_may_auth(s))
		/* Refused before any password is looked at (RFC 4954 4). */
		return R_AUTH_NEEDS_TLS;
	if (s->state == STATE_CONNECTED)
		return R_NEED_EHLO;
	if (s->auth_user != NULL)
		return R_AUTH_TWICE;
	if (s->state != STATE_HELO)
		return R_AUTH_IN_MAIL;
	for (mechlen = 0; mechlen < cmd->argslen && mech[mechlen] != ' ';
	    mechlen++)
		;
	if (mechlen == 5 && strncasecmp(mech, "PLAIN", 5) == 0)
		ck->mech = AUTH_MECH_PLAIN;
	else if (mechlen == 5 && strncasecmp(mech, "LOGIN", 5) == 0)
		ck->mech = AUTH_MECH_LOGIN;
	else
		return R_AUTH_MECH_UNKNOWN;
	if (mechlen < cmd->argslen) {
		ck->ir = mech + mechlen + 1;
		ck->irlen = cmd->argslen - mechlen - 1;
	}
	return NULL;
}

static void
proceed_auth(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	s->auth_return = s->state;
	s->auth_mech = ck->mech;
	if (ck->mech == AUTH_MECH_PLAIN) {
		session_set_state(s, STATE_AUTH_PLAIN);
		if (ck->ir == NULL) {
			reply(s, "334 ");
			return;
		}
	} else {
		session_set_state(s, STATE_AUTH_LOGIN_USER);
		if (ck->ir == NULL) {
			reply(s, "334 %s", SASL_LOGIN_CHALLENGE_USER);
			return;
		}
	}
	/* The initial response is in the line session_process() wipes. */
	session_sasl_line(s, (char *)ck->ir, ck->irlen);
}

/* One SASL answer of the client (after a 334, or an initial response). */
static void
session_sasl_line(struct session *s, char *line, size_t len)
{
	struct sasl_plain	plain;
	char			pass[SASL_FIELD_MAX + 1];
	size_t			passlen;
	enum sasl_error		e;

	if (len == 1 && line[0] == '*') {
		reply(s, R_AUTH_CANCELLED);
		auth_finish(s, NULL);
		return;
	}
	/* RFC 4954 4: "=" is an empty initial response. */
	if (len == 1 && line[0] == '=')
		len = 0;
	switch (s->state) {
	case STATE_AUTH_PLAIN:
		e = sasl_plain_decode_b64(line, len, &plain);
		if (e == SASL_EAUTHZID) {
			/* No proxy authorisation: a credential failure. */
			reply(s, R_AUTH_FAILED);
			auth_finish(s, NULL);
			return;
		}
		if (e != SASL_OK)
			break;
		auth_ask(s, plain.authcid, plain.authcidlen, plain.passwd,
		    plain.passwdlen);
		sasl_plain_wipe(&plain);
		return;
	case STATE_AUTH_LOGIN_USER:
		e = sasl_login_decode_b64(line, len, s->auth_login,
		    sizeof(s->auth_login), &s->auth_loginlen);
		if (e != SASL_OK)
			break;
		reply(s, "334 %s", SASL_LOGIN_CHALLENGE_PASS);
		session_set_state(s, STATE_AUTH_LOGIN_PASS);
		return;
	case STATE_AUTH_LOGIN_PASS:
		e = sasl_login_decode_b64(line, len, pass, sizeof(pass),
		    &passlen);
		if (e != SASL_OK)
			break;
		{
			char	user[sizeof(s->auth_login)];
			size_t	userlen = s->auth_loginlen;

			memcpy(user, s->auth_login, userlen);
			auth_ask(s, user, userlen, pass, passlen);
			explicit_bzero(user, sizeof(user));
		}
		explicit_bzero(pass, sizeof(pass));
		return;
	default:
		return;
	}
	reply(s, R_AUTH_BAD_BASE64);
	auth_finish(s, NULL);
}

/* Hand the credentials to the auth process and wait for its verdict. */
static void
auth_ask(struct session *s, const char *user, size_t userlen,
    const char *pass, size_t passlen)
{
	struct auth_request	req;

	memset(&req, 0, sizeof(req));
	memcpy(&req.client, &s->peer, sizeof(req.client));
	req.tls = s->tls != NULL;
	req.mech = s->auth_mech;
	req.userlen = userlen;
	memcpy(req.user, user, userlen);
	req.passlen = passlen;
	memcpy(req.pass, pass, passlen);
	s->flags |= SF_AUTHWAIT;
	session_set_state(s, STATE_AUTH_WAIT);
	evtimer_del(s->ev_timer);
	/* The request keeps the user name for the 235 bookkeeping. */
	snprintf(s->auth_login, sizeof(s->auth_login), "%.*s", (int)userlen,
	    user);
	s->auth_req = authclient_verify(s->w->auth, &req, auth_answered, s);
	explicit_bzero(&req, sizeof(req));
}

static void
auth_answered(void *arg, const struct auth_answer *a)
{
	struct session	*s = arg;

	/*
	 * The auth process held a failure for its delay (it runs from the
	 * request: how long the hash took does not show): tell it now.
	 */
	s->auth_req = 0;
	s->auth_result = a->result;
	s->auth_banned = a->banned;
	auth_reply(s);
	session_settle(s);
}

/* The verdict, told to the client. */
static void
auth_reply(struct session *s)
{
	char	esc[ADDR_PATH_MAX * 4 + 1];

	s->flags &= ~SF_AUTHWAIT;
	switch (s->auth_result) {
	case AUTH_OK:
		s->auth_user = strdup(s->auth_login);
		if (s->auth_user == NULL) {
			reply(s, R_AUTH_TEMPFAIL);
			auth_finish(s, NULL);
			break;
		}
		log_info("session=%s authenticated user=\"%s\"", s->id,
		    log_escape(s->auth_login, strlen(s->auth_login), esc,
		    sizeof(esc)));
		reply(s, R_AUTH_OK);
		auth_finish(s, NULL);
		break;
	case AUTH_FAIL:
		s->auth_failures++;
		reply(s, R_AUTH_FAILED);
		if (s->auth_banned)
			auth_finish(s, R_BANNED);
		else if (s->auth_failures >= AUTH_MAX_FAILS)
			auth_finish(s, R_TOO_MANY_AUTH_FAILS);
		else
			auth_finish(s, NULL);
		break;
	default:
		/*
		 * Banned since the session began: the password was not
		 * looked at, so neither 235 nor 535, but the ban's 421.
		 */
		if (s->auth_banned) {
			log_info("session=%s refuse reason=banned ip=%s",
			    s->id, s->peerip);
			auth_finish(s, R_BANNED);
			break;
		}
		reply(s, R_AUTH_TEMPFAIL);
		auth_finish(s, NULL);
		break;
	}
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	if (!(s->flags & SF_DEAD))
		session_process(s);
}

/* Leave the SASL exchange; quit (a 421 format with %s) closes. */
static void
auth_finish(struct session *s, const char *quit)
{
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	s->auth_loginlen = 0;
	session_set_state(s, s->auth_return == STATE_CONNECTED ?
	    STATE_CONNECTED : STATE_HELO);
	session_arm_timer(s);
	if (quit != NULL)
		session_quit_now(s, quit, "auth-failures");
}

static void
proceed_http(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	/* ALPACA and friends: an HTTP client on the SMTP port. */
	log_info("session=%s reject reason=http-request", s->id);
	session_quit_now(s, R_HTTP_REQUEST,
	    "http-request");
}

static const char *
check_unknown(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return R_UNKNOWN_COMMAND;
}
