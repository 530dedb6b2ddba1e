/*
 * A blocking SMTP client connection with a timeout on every step.  The
 * socket is non-blocking underneath and every wait is a poll() against a
 * CLOCK_MONOTONIC deadline, so a silent server costs at most the timeout.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/report.h"
#include "client/smtpclient.h"
#include "common/clock.h"
#include "common/reply.h"
#include "common/tls.h"

#define RBUF_SIZE		16384
#define LINE_MAX_SEND		4096	/* a command line we build */
#define DEFAULT_TIMEOUT_MS	30000
#define MALFORMED_SHOWN		80	/* octets of a bad line in errors */

#define FILL_EOF	0
#define FILL_ERROR	-1
#define FILL_TIMEOUT	-2

struct smtpc {
	int			 fd;
	struct tls		*tls;
	int			 verified;	/* by tls's own handshake */
	int			 allow;		/* SMTPC_ALLOW_* */
	int			 alive;
	int			 timeout_ms;
	int			 secret;	/* 334s are secret */
	int			 malformed;	/* the last read: not a reply */
	int			 timedout;	/* the last read: the timeout */
	struct reply_parser	 parser;
	char			 rbuf[RBUF_SIZE];
	size_t			 rstart, rend;
	size_t			 discarded;
	smtpc_trace_fn		*trace;
	void			*trace_arg;
	struct sockaddr_storage	 local_ss;
	char			 peer[NI_MAXHOST];
	char			 peerport[NI_MAXSERV];
	char			 local[NI_MAXHOST];
	char			 err[256];
};

static int	wait_fd(struct smtpc *, short, int64_t);
static void	set_error(struct smtpc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	connect_one(const struct addrinfo *, const struct addrinfo *,
		    int, char *, size_t);
static int	fill(struct smtpc *, int64_t);
static void	trace_reply(struct smtpc *, const struct reply *);
static int	write_all(struct smtpc *, const void *, size_t);
static void	malformed(struct smtpc *);

static void
set_error(struct smtpc *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (vsnprintf(c->err, sizeof(c->err), fmt, ap) < 0)
		(void)snprintf(c->err, sizeof(c->err), "error");
	va_end(ap);
}

/* Poll the socket for events until the deadline: 1 ready, 0 timeout, -1. */
static int
wait_fd(struct smtpc *c, short events, int64_t deadline)
{
	struct pollfd	pfd;
	int64_t		left;
	int		n;

	for (;;) {
		left = deadline - mono_msec();
		if (left < 0)
			left = 0;
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Connect one address with a deadline, from the local address src when
 * not NULL; a connected non-blocking socket or -1 with the reason in err.
 */
static int
connect_one(const struct addrinfo *ai, const struct addrinfo *src,
    int timeout_ms, char *err, size_t errlen)
{
	struct pollfd	pfd;
	socklen_t	sl;
	int64_t		deadline, left;
	int		fd, n, soerr = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		(void)snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (src != NULL && bind(fd, src->ai_addr, src->ai_addrlen) == -1) {
		(void)snprintf(err, errlen, "bind to the source address: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		soerr = errno;
		(void)snprintf(err, errlen, "%s", strerror(soerr));
		close(fd);
		errno = soerr;
		return -1;
	}
	deadline = mono_msec() + timeout_ms;
	for (;;) {
		left = deadline - mono_msec();
		if (left <= 0) {
			(void)snprintf(err, errlen, "connection timed out");
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			break;
		if (n == -1 && errno != EINTR) {
			(void)snprintf(err, errlen, "poll: %s",
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		soerr = errno;
	if (soerr != 0) {
		(void)snprintf(err, errlen, "%s", strerror(soerr));
		close(fd);
		errno = soerr;
		return -1;
	}
	return fd;
}

struct smtpc *
smtpc_connect(const char *host, const char *port,
    const struct smtpc_opts *o, char *err, size_t errlen)
{
	struct addrinfo		 hints, *res = NULL, *ai, *src = NULL;
	struct smtpc		*c;
	socklen_t		 sl;
	char			 name[NI_MAXHOST], why[160], addr[NI_MAXHOST];
	size_t			 n;
	int			 fd = -1, gai, timeout, cerr = 0;

	timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	/* "[::1]" as well as "::1". */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(name)) {
			(void)snprintf(err, errlen, "host name too long");
			errno = 0;
			return NULL;
		}
		memcpy(name, host + 1, n - 2);
		name[n - 2] = '\0';
	} else if ((size_t)snprintf(name, sizeof(name), "%s", host) >=
	    sizeof(name)) {
		(void)snprintf(err, errlen, "host name too long");
		errno = 0;
		return NULL;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = o->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* --source: its family is the only one that can be reached from it. */
	if (o->source != NULL) {
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		if ((gai = getaddrinfo(o->source, NULL, &hints, &src)) != 0) {
			(void)snprintf(err, errlen, "source address %s: %s",
			    o->source, gai == EAI_SYSTEM ? strerror(errno) :
			    gai_strerror(gai));
			errno = 0;
			return NULL;
		}
		hints.ai_flags = 0;
		hints.ai_family = src->ai_family;
	}
	if ((gai = getaddrinfo(name, port, &hints, &res)) != 0) {
		(void)snprintf(err, errlen, "%s: %s%s", name,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai),
		    src != NULL ? " (from the source address's family)" : "");
		freeaddrinfo(src);
		errno = 0;
		return NULL;
	}
	why[0] = '\0';
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			(void)snprintf(addr, sizeof(addr), "?");
		if (o->trace != NULL) {
			char	line[NI_MAXHOST + 64];
			int	l;

			l = snprintf(line, sizeof(line), "connecting to %s "
			    "port %s", addr, port);
			if (l > 0 && (size_t)l < sizeof(line))
				o->trace(o->trace_arg, SMTPC_INFO, line,
				    (size_t)l);
		}
		if ((fd = connect_one(ai, src, timeout, why,
		    sizeof(why))) != -1)
			break;
		cerr = errno;
		(void)snprintf(err, errlen, "%s port %s: %s", addr, port, why);
	}
	freeaddrinfo(src);
	if (fd == -1) {
		if (res == NULL)
			(void)snprintf(err, errlen, "%s: no address", name);
		freeaddrinfo(res);
		errno = cerr;
		return NULL;
	}

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	c->fd = fd;
	c->alive = 1;
	c->timeout_ms = timeout;
	c->allow = o->allow;
	c->trace = o->trace;
	c->trace_arg = o->trace_arg;
	reply_parser_init(&c->parser);
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, c->peer, sizeof(c->peer),
	    c->peerport, sizeof(c->peerport),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		(void)snprintf(c->peer, sizeof(c->peer), "?");
		(void)snprintf(c->peerport, sizeof(c->peerport), "%s", port);
	}
	freeaddrinfo(res);
	sl = sizeof(c->local_ss);
	if (getsockname(fd, (struct sockaddr *)&c->local_ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&c->local_ss, sl, c->local,
	    sizeof(c->local), NULL, 0, NI_NUMERICHOST) != 0)
		(void)snprintf(c->local, sizeof(c->local), "?");
	smtpc_trace(c, SMTPC_INFO, "connected to %s port %s from %s",
	    c->peer, c->peerport, c->local);
	return c;
}

void
smtpc_close(struct smtpc *c)
{
	if (c == NULL)
		return;
	if (c->tls != NULL) {
		if (c->alive)
			tls_close(c->tls);
		tls_free(c->tls);
	}
	if (c->fd != -1)
		close(c->fd);
	reply_parser_free(&c->parser);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/*
 * Read what is there into rbuf, waiting until the deadline: the number of
 * octets, FILL_EOF, FILL_ERROR or FILL_TIMEOUT.
 */
static int
fill(struct smtpc *c, int64_t deadline)
{
	ssize_t	n;
	short	ev = POLLIN;
	int	w;

	if (!c->alive) {
		if (c->err[0] == '\0')
			set_error(c, "connection closed");
		return FILL_ERROR;
	}
	if (c->rstart == c->rend)
		c->rstart = c->rend = 0;
	else if (c->rend == sizeof(c->rbuf) && c->rstart > 0) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	if (c->rend == sizeof(c->rbuf)) {
		set_error(c, "receive buffer full");
		return FILL_ERROR;
	}
	for (;;) {
		if (c->tls != NULL) {
			n = tls_read(c->tls, c->rbuf + c->rend,
			    sizeof(c->rbuf) - c->rend);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				ev = n == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
				n = -2;
			} else if (n == -1) {
				set_error(c, "%s", tls_error(c->tls));
				c->alive = 0;
				return FILL_ERROR;
			}
		} else {
			n = recv(c->fd, c->rbuf + c->rend,
			    sizeof(c->rbuf) - c->rend, 0);
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == EINTR)) {
				ev = POLLIN;
				n = -2;
			} else if (n == -1) {
				set_error(c, "read: %s", strerror(errno));
				c->alive = 0;
				return FILL_ERROR;
			}
		}
		if (n == 0) {
			set_error(c, "connection closed by the server");
			c->alive = 0;
			return FILL_EOF;
		}
		if (n > 0) {
			c->rend += (size_t)n;
			return (int)n;
		}
		w = wait_fd(c, ev, deadline);
		if (w == 0)
			return FILL_TIMEOUT;
		if (w == -1) {
			set_error(c, "poll: %s", strerror(errno));
			c->alive = 0;
			return FILL_ERROR;
		}
	}
}

static void
trace_reply(struct smtpc *c, const struct reply *r)
{
	const char	*t;
	char		 line[REPLY_LINE_MAX + 8];
	size_t		 i, n;
	int		 kind, l;

	if (c->trace == NULL)
		return;
	kind = SMTPC_RECEIVED;
	if (c->secret && r->code == 334)
		kind |= SMTPC_SECRET;
	for (i = 0; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		l = snprintf(line, sizeof(line), "%03d%c%.*s", r->code,
		    i + 1 < r->nlines ? '-' : ' ', (int)n, t);
		if (l < 0)
			continue;
		if ((size_t)l >= sizeof(line))
			l = (int)sizeof(line) - 1;
		/* A final "250" alone has no separator. */
		if (n == 0 && i + 1 == r->nlines)
			l = 3;
		c->trace(c->trace_arg, kind, line, (size_t)l);
	}
}

int
smtpc_read_reply(struct smtpc *c, const struct reply **r)
{
	enum reply_status	st;
	int64_t			deadline;
	size_t			used;
	int			n;

	*r = NULL;
	c->malformed = 0;
	c->timedout = 0;
	deadline = mono_msec() + c->timeout_ms;
	for (;;) {
		if (c->rstart < c->rend) {
			st = reply_parse(&c->parser, c->rbuf + c->rstart,
			    c->rend - c->rstart, &used);
			c->rstart += used;
			if (st == REPLY_DONE) {
				*r = &c->parser.reply;
				trace_reply(c, *r);
				return 0;
			}
			if (st == REPLY_ERROR) {
				malformed(c);
				c->alive = 0;
				return -1;
			}
		}
		n = fill(c, deadline);
		if (n == FILL_TIMEOUT) {
			set_error(c, "timed out waiting for a reply");
			c->alive = 0;
			c->timedout = 1;
			return -1;
		}
		if (n == FILL_EOF || n == FILL_ERROR) {
			if (n == FILL_EOF && reply_parser_partial(&c->parser))
				set_error(c, "connection closed in the middle "
				    "of a reply");
			return -1;
		}
	}
}

/*
 * The parser refused what came: say so with the line itself (escaped, cut
 * short), what was parsed of it and what is still buffered up to its end,
 * so that "hello" or "25O ok" are not taken for a silent server.  TLS
 * records where a reply should be mean the port speaks implicit TLS.
 */
static void
malformed(struct smtpc *c)
{
	const struct reply_parser	*p = &c->parser;
	const unsigned char		*rest;
	char				 line[MALFORMED_SHOWN];
	char				 esc[MALFORMED_SHOWN * 4 + 8];
	size_t				 n = 0, k, avail;

	c->malformed = 1;
	/* The octets of the current line the parser took: prefix, text. */
	k = p->linelen < 4 ? p->linelen : 4;
	memcpy(line, p->prefix, k);
	n = k;
	if (p->linelen > 4 && p->reply.text != NULL) {
		k = p->linelen - 4;
		if (k > sizeof(line) - n)
			k = sizeof(line) - n;
		memcpy(line + n, p->reply.text + p->linestart, k);
		n += k;
	}
	rest = (const unsigned char *)c->rbuf + c->rstart;
	avail = c->rend - c->rstart;
	for (k = 0; k < avail && n < sizeof(line) && rest[k] != '\n' &&
	    rest[k] != '\r'; k++)
		line[n++] = (char)rest[k];
	c->rstart += k;
	if (n >= 3 && (line[0] == 0x15 || line[0] == 0x16) &&
	    line[1] == 0x03 && (unsigned char)line[2] <= 0x04) {
		set_error(c, "malformed reply: a TLS record where an SMTP "
		    "reply was expected: this port speaks implicit TLS "
		    "(--tls implicit)");
		return;
	}
	set_error(c, "malformed reply (%s): \"%s\"", reply_parser_error(p),
	    report_escape(line, n, esc, sizeof(esc)));
}

int
smtpc_malformed(const struct smtpc *c)
{
	return c != NULL && c->malformed;
}

static int
write_all(struct smtpc *c, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;
	int64_t		 deadline;
	short		 ev;
	int		 w;

	if (!c->alive) {
		if (c->err[0] == '\0')
			set_error(c, "connection closed");
		return -1;
	}
	deadline = mono_msec() + c->timeout_ms;
	while (len > 0) {
		ev = POLLOUT;
		if (c->tls != NULL) {
			n = tls_write(c->tls, p, len);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				ev = n == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
				n = 0;
			} else if (n == -1) {
				set_error(c, "%s", tls_error(c->tls));
				c->alive = 0;
				return -1;
			}
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == EINTR))
				n = 0;
			else if (n == -1) {
				set_error(c, "write: %s", strerror(errno));
				c->alive = 0;
				return -1;
			}
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		w = wait_fd(c, ev, deadline);
		if (w == 0) {
			set_error(c, "timed out sending");
			c->alive = 0;
			return -1;
		}
		if (w == -1) {
			set_error(c, "poll: %s", strerror(errno));
			c->alive = 0;
			return -1;
		}
	}
	return 0;
}

int
smtpc_write(struct smtpc *c, const void *buf, size_t len)
{
	return write_all(c, buf, len);
}

int
smtpc_send_line(struct smtpc *c, int secret, const char *line, size_t len)
{
	char	*buf;
	int	 rv;

	if (memchr(line, '\r', len) != NULL ||
	    memchr(line, '\n', len) != NULL) {
		set_error(c, "refusing to send a line with CR or LF inside");
		return -1;
	}
	if ((buf = malloc(len + 2)) == NULL) {
		set_error(c, "out of memory");
		return -1;
	}
	memcpy(buf, line, len);
	buf[len] = '\r';
	buf[len + 1] = '\n';
	if (c->trace != NULL)
		c->trace(c->trace_arg, SMTPC_SENT |
		    (secret ? SMTPC_SECRET : 0), line, len);
	rv = write_all(c, buf, len + 2);
	explicit_bzero(buf, len + 2);
	free(buf);
	return rv;
}

int
smtpc_cmd(struct smtpc *c, const struct reply **r, const char *fmt, ...)
{
	char	line[LINE_MAX_SEND];
	va_list	ap;
	int	n;

	*r = NULL;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		set_error(c, "command line too long");
		return -1;
	}
	if (smtpc_send_line(c, 0, line, (size_t)n) == -1)
		return -1;
	return smtpc_read_reply(c, r);
}

int
smtpc_data(struct smtpc *c, const char *msg, size_t len)
{
	char	*out;
	size_t	 i, o = 0, lines = 0, size;
	int	 bol = 1, rv;

	/* Worst case: every octet a line of its own, stuffed, with CRLF. */
	if (len > (SIZE_MAX - 8) / 3) {
		set_error(c, "message too large");
		return -1;
	}
	size = len * 3 + 8;
	if ((out = malloc(size)) == NULL) {
		set_error(c, "out of memory");
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (bol && msg[i] == '.')
			out[o++] = '.';
		bol = 0;
		if (msg[i] == '\r' || msg[i] == '\n') {
			if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			bol = 1;
			lines++;
			continue;
		}
		out[o++] = msg[i];
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
		lines++;
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	smtpc_trace(c, SMTPC_SENT, "<message: %zu lines, %zu octets>", lines,
	    o - 3);
	smtpc_trace(c, SMTPC_SENT, ".");
	rv = write_all(c, out, o);
	free(out);
	return rv;
}

int
smtpc_tls(struct smtpc *c, struct tls_ctx *ctx, const char *servername)
{
	int64_t	deadline;
	short	ev;
	int	r, w;

	if (!c->alive) {
		set_error(c, "connection closed");
		return -1;
	}
	if (c->tls != NULL) {
		set_error(c, "TLS is already on");
		return -1;
	}
	/* RFC 3207 4.2: nothing received in clear counts after this. */
	c->discarded = c->rend - c->rstart;
	c->rstart = c->rend = 0;
	reply_parser_reset(&c->parser);

	if ((c->tls = tls_connect_fd(ctx, c->fd, servername)) == NULL) {
		set_error(c, "TLS: %s", strerror(errno));
		c->alive = 0;
		return -1;
	}
	deadline = mono_msec() + c->timeout_ms;
	for (;;) {
		r = tls_handshake(c->tls);
		if (r == 0)
			break;
		if (r == -1) {
			set_error(c, "TLS %s", tls_error(c->tls));
			c->alive = 0;
			return -1;
		}
		ev = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
		w = wait_fd(c, ev, deadline);
		if (w == 0) {
			set_error(c, "TLS handshake timed out");
			c->alive = 0;
			return -1;
		}
		if (w == -1) {
			set_error(c, "poll: %s", strerror(errno));
			c->alive = 0;
			return -1;
		}
	}
	/*
	 * Recorded here, from this handshake, and only here: a credential
	 * goes out on the strength of this connection's certificate alone.
	 */
	c->verified = tls_peer_verified(c->tls);
	smtpc_trace(c, SMTPC_INFO, "TLS: %s, %s (%d bits), certificate %s%s",
	    tls_conn_version(c->tls), tls_conn_cipher(c->tls),
	    tls_conn_cipher_bits(c->tls),
	    c->verified ? "verified" : "NOT verified: ",
	    c->verified ? "" : tls_peer_verify_error(c->tls));
	return 0;
}

int
smtpc_starttls(struct smtpc *c, struct tls_ctx *ctx, const char *servername,
    const struct reply **r)
{
	if (smtpc_cmd(c, r, "STARTTLS") == -1)
		return -1;
	if ((*r)->code != 220)
		return 0;
	if (smtpc_tls(c, ctx, servername) == -1)
		return -1;
	return 1;
}

int
smtpc_wait(struct smtpc *c, int ms)
{
	int	n;

	if (c->rstart < c->rend)
		return 1;
	if (!c->alive)
		return -1;
	n = fill(c, mono_msec() + ms);
	if (n > 0)
		return 1;
	if (n == FILL_TIMEOUT)
		return 0;
	return -1;
}

size_t
smtpc_pending(const struct smtpc *c)
{
	return c->rend - c->rstart +
	    (reply_parser_partial(&c->parser) ? 1 : 0);
}

size_t
smtpc_discarded(const struct smtpc *c)
{
	return c->discarded;
}

void
smtpc_set_secret(struct smtpc *c, int on)
{
	c->secret = on;
}

void
smtpc_trace(struct smtpc *c, int kind, const char *fmt, ...)
{
	char	line[1024];
	va_list	ap;
	int	n;

	if (c->trace == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	c->trace(c->trace_arg, kind, line, (size_t)n);
}

const char *
smtpc_credential_rule(int tls_up, int verified, int allow)
{
	if (!tls_up)
		return (allow & SMTPC_ALLOW_PLAINTEXT) ? NULL : "no TLS on "
		    "this connection (--insecure-plaintext-auth overrides)";
	if (!verified)
		return (allow & SMTPC_ALLOW_UNVERIFIED) ? NULL : "the "
		    "certificate of this connection did not verify "
		    "(--insecure overrides)";
	return NULL;
}

const char *
smtpc_credential_refused(const struct smtpc *c)
{
	/* A handshake that failed leaves tls set: alive says it is gone. */
	return smtpc_credential_rule(c->tls != NULL && c->alive, c->verified,
	    c->allow);
}

const char *
smtpc_error(const struct smtpc *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}

int
smtpc_timed_out(const struct smtpc *c)
{
	return c != NULL && c->timedout;
}

int
smtpc_alive(const struct smtpc *c)
{
	return c != NULL && c->alive;
}

int
smtpc_fd(const struct smtpc *c)
{
	return c->fd;
}

struct tls *
smtpc_tls_conn(const struct smtpc *c)
{
	return c->tls;
}

const char *
smtpc_peer_addr(const struct smtpc *c)
{
	return c->peer;
}

const char *
smtpc_peer_port(const struct smtpc *c)
{
	return c->peerport;
}

const char *
smtpc_local_addr(const struct smtpc *c)
{
	return c->local;
}

const struct sockaddr_storage *
smtpc_local_sockaddr(const struct smtpc *c)
{
	return &c->local_ss;
}

void
smtpc_set_timeout(struct smtpc *c, int ms)
{
	c->timeout_ms = ms > 0 ? ms : DEFAULT_TIMEOUT_MS;
}
