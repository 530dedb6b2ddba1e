/*
 * One connection to Redis (redisconn.h): hiredis encodes and parses,
 * a libevent bufferevent (socket or OpenSSL) carries the bytes.
 *
 * Commands wait in a FIFO, each with its callback: Redis answers in
 * order, so the n-th reply is the n-th command's.  A reply with nothing
 * waiting is a push (a subscribed connection's message) or, without a
 * push callback, a protocol error.
 *
 * Bounds.  hiredis 0.14's reader grows its buffer until a reply is whole
 * and allocates whatever element count a reply announces; its maxbuf only
 * says when an idle buffer is given back.  So the bytes of an incomplete
 * reply are checked before each feed (REDISCONN_REPLY_MAX), and the
 * reader builds its values through wrappers of its own functions that
 * count them (REDISCONN_OBJECTS_MAX a reply) and refuse long strings
 * (REDISCONN_STRING_MAX): the reader then fails, and so does the
 * connection.  Nesting is bounded by hiredis (7 levels).
 *
 * Callbacks may free the connection (the owner does on a failure): a
 * freed connection is only marked while one of its callbacks runs, and
 * goes when the outermost returns.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "server/auth/redisconn.h"
#include "server/shared/config.h"

#define READ_CHUNK	16384

struct pending {
	redisconn_reply_fn	*fn;
	void			*priv;
	struct pending		*next;
};

struct redisconn_tls {
	SSL_CTX		*ctx;
};

/* hiredis's reader, the values of the reply it is reading counted. */
struct redisconn_reader {
	redisReader		*r;
	unsigned		 objects;
};

struct redisconn {
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev; NULL: plain */
	struct redisconn_reader	*reader;
	struct pending		*head;
	struct pending		**tail;
	redisconn_reply_fn	*push;
	void			*push_priv;
	redisconn_fail_fn	*fail;
	void			*arg;
	int			 busy;		/* callbacks running */
	int			 freed;		/* free when not busy */
	int			 failed;
	int			 answered;	/* a reply came */
};

static redisReplyObjectFunctions	 bounded;
static redisReplyObjectFunctions	*hiredis_fn;	/* hiredis's own */

static void	 init_functions(void);
static int	 count_object(const redisReadTask *);
static void	*bounded_string(const redisReadTask *, char *, size_t);
static void	*bounded_array(const redisReadTask *, int);
static void	*bounded_integer(const redisReadTask *, long long);
static void	*bounded_nil(const redisReadTask *);
static int	 make_address(const struct guard_store *,
		    struct sockaddr_storage *, socklen_t *);
static int	 set_peer_name(SSL *, const char *);
static void	 read_cb(struct bufferevent *, void *);
static void	 event_cb(struct bufferevent *, short, void *);
static void	 drain(struct redisconn *);
static void	 deliver(struct redisconn *, redisReply *);
static void	 conn_fail(struct redisconn *, const char *);
static void	 error_text(struct redisconn *, short, int, char *, size_t);
static void	 release(struct redisconn *);
static void	 destroy(struct redisconn *);
static void	 wipe_command(const void *, size_t, void *);

struct redisconn_tls *
redisconn_tls_new(const char *ca_file, const char *cert, const char *key,
    char *err, size_t errlen)
{
	struct redisconn_tls	*t;
	const char		*what = "cannot set up TLS";
	unsigned long		 e;

	ERR_clear_error();
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	what = ca_file != NULL ? ca_file : "the system CA store";
	if (ca_file != NULL ? SSL_CTX_load_verify_locations(t->ctx, ca_file,
	    NULL) != 1 : SSL_CTX_set_default_verify_paths(t->ctx) != 1)
		goto fail;
	if (cert != NULL) {
		what = cert;
		if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
			goto fail;
		what = key;
		if (SSL_CTX_use_PrivateKey_file(t->ctx, key,
		    SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(t->ctx) != 1)
			goto fail;
	}
	return t;
 fail:
	/* The oldest error is the cause: a missing file, a bad key... */
	e = ERR_peek_error();
	(void)snprintf(err, errlen, "%s: %s", what, e == 0 ? "out of memory" :
	    ERR_SYSTEM_ERROR(e) ? strerror((int)ERR_GET_REASON(e)) :
	    ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) :
	    "unknown error");
	ERR_clear_error();
	redisconn_tls_free(t);
	return NULL;
}

void
redisconn_tls_free(struct redisconn_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* hiredis's functions, each wrapped to count and bound what it builds. */
static void
init_functions(void)
{
	redisReader	*r;

	if (hiredis_fn != NULL)
		return;
	if ((r = redisReaderCreate()) == NULL)
		return;
	/* hiredis's static table: it outlives the reader. */
	hiredis_fn = r->fn;
	redisReaderFree(r);
	bounded = *hiredis_fn;
	bounded.createString = bounded_string;
	bounded.createArray = bounded_array;
	bounded.createInteger = bounded_integer;
	bounded.createNil = bounded_nil;
}

static int
count_object(const redisReadTask *task)
{
	struct redisconn_reader	*rd = task->privdata;

	if (rd == NULL || rd->objects >= REDISCONN_OBJECTS_MAX)
		return -1;
	rd->objects++;
	return 0;
}

static void *
bounded_string(const redisReadTask *task, char *s, size_t len)
{
	if (len > REDISCONN_STRING_MAX || count_object(task) == -1)
		return NULL;
	return hiredis_fn->createString(task, s, len);
}

static void *
bounded_array(const redisReadTask *task, int n)
{
	if (n < 0 || n > REDISCONN_OBJECTS_MAX || count_object(task) == -1)
		return NULL;
	return hiredis_fn->createArray(task, n);
}

static void *
bounded_integer(const redisReadTask *task, long long v)
{
	if (count_object(task) == -1)
		return NULL;
	return hiredis_fn->createInteger(task, v);
}

static void *
bounded_nil(const redisReadTask *task)
{
	if (count_object(task) == -1)
		return NULL;
	return hiredis_fn->createNil(task);
}

struct redisconn_reader *
redisconn_reader_new(void)
{
	struct redisconn_reader	*rd;

	init_functions();
	if (hiredis_fn == NULL || (rd = calloc(1, sizeof(*rd))) == NULL)
		return NULL;
	if ((rd->r = redisReaderCreate()) == NULL) {
		free(rd);
		return NULL;
	}
	rd->r->fn = &bounded;
	rd->r->privdata = rd;
	return rd;
}

void
redisconn_reader_free(struct redisconn_reader *rd)
{
	if (rd == NULL)
		return;
	redisReaderFree(rd->r);
	free(rd);
}

int
redisconn_reader_feed(struct redisconn_reader *rd, const char *buf,
    size_t len, const char **why)
{
	/* What hiredis holds is the incomplete reply: replies are taken. */
	if (len > REDISCONN_REPLY_MAX ||
	    rd->r->len - rd->r->pos > REDISCONN_REPLY_MAX - len) {
		*why = "a reply over the size limit";
		return -1;
	}
	if (redisReaderFeed(rd->r, buf, len) != REDIS_OK) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

int
redisconn_reader_next(struct redisconn_reader *rd, redisReply **reply,
    char *why, size_t whylen)
{
	void	*r = NULL;

	if (redisReaderGetReply(rd->r, &r) != REDIS_OK) {
		/* Our functions' refusals are hiredis's "out of memory". */
		(void)snprintf(why, whylen, "bad reply: %s",
		    rd->r->err == REDIS_ERR_OOM ? "over a limit" :
		    rd->r->errstr);
		return -1;
	}
	if (r == NULL)
		return 0;
	rd->objects = 0;
	*reply = r;
	return 1;
}

static int
make_address(const struct guard_store *gs, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (gs->is_unix) {
		if (strlen(gs->path) >= sizeof(sun->sun_path))
			return -1;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, gs->path, strlen(gs->path) + 1);
		*len = sizeof(*sun);
	} else if (inet_pton(AF_INET, gs->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(gs->port);
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, gs->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(gs->port);
		*len = sizeof(*sin6);
	} else
		return -1;
	return 0;
}

/*
 * The name the server's certificate must hold: an address is checked
 * against its IP addresses and never sent as SNI (RFC 6066); a DNS name
 * is both the SNI and the host name checked.
 */
static int
set_peer_name(SSL *ssl, const char *name)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	if (inet_pton(AF_INET, name, &a4) == 1 ||
	    inet_pton(AF_INET6, name, &a6) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    name) == 1 ? 0 : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set_tlsext_host_name(ssl, name) == 1 &&
	    SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

struct redisconn *
redisconn_new(struct event_base *base, const struct guard_store *gs,
    struct redisconn_tls *tls, const char *tls_name, redisconn_fail_fn *fail,
    void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct redisconn	*c;
	int			 fd = -1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->tail = &c->head;
	c->fail = fail;
	c->arg = arg;
	if ((c->reader = redisconn_reader_new()) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (make_address(gs, &ss, &sslen) == -1) {
		(void)snprintf(err, errlen, "bad address");
		goto fail;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		(void)snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/*
	 * Connected here, not by libevent: a refusal it sees at once it
	 * reports later, with errno gone.  In progress is fine: the first
	 * write waits for it (EAGAIN), and a refusal fails that write.
	 */
	if (connect(fd, (struct sockaddr *)&ss, sslen) == -1 &&
	    errno != EINPROGRESS) {
		(void)snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	ERR_clear_error();
	if (tls != NULL) {
		if ((c->ssl = SSL_new(tls->ctx)) == NULL ||
		    set_peer_name(c->ssl, tls_name != NULL ? tls_name :
		    gs->host) == -1) {
			(void)snprintf(err, errlen, "cannot set up TLS");
			goto fail;
		}
		c->bev = bufferevent_openssl_socket_new(base, fd, c->ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		c->bev = bufferevent_socket_new(base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fd = -1;	/* the bufferevent's (and the SSL's) now */
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1) {
		(void)snprintf(err, errlen, "cannot watch the connection");
		goto fail;
	}
	return c;
 fail:
	if (c->bev == NULL && c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (fd != -1)
		(void)close(fd);
	destroy(c);
	return NULL;
}

/* The bytes of a command are wiped when sent: AUTH's hold a password. */
static void
wipe_command(const void *data, size_t len, void *arg)
{
	explicit_bzero((void *)(uintptr_t)data, len);
	free((void *)(uintptr_t)data);
}

int
redisconn_command(struct redisconn *c, redisconn_reply_fn *fn, void *priv,
    int argc, const char **argv, const size_t *argl)
{
	struct pending	*p;
	char		*cmd;
	long long	 len;

	if (c == NULL || c->failed || c->freed ||
	    (p = malloc(sizeof(*p))) == NULL)
		return -1;
	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argl)) <= 0) {
		free(p);
		return -1;
	}
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), cmd,
	    (size_t)len, wipe_command, NULL) == -1) {
		wipe_command(cmd, (size_t)len, NULL);
		free(p);
		return -1;
	}
	p->fn = fn;
	p->priv = priv;
	p->next = NULL;
	*c->tail = p;
	c->tail = &p->next;
	return 0;
}

void
redisconn_set_push(struct redisconn *c, redisconn_reply_fn *fn, void *priv)
{
	c->push = fn;
	c->push_priv = priv;
}

void
redisconn_free(struct redisconn *c)
{
	if (c == NULL)
		return;
	if (c->busy > 0) {
		c->freed = 1;
		(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	destroy(c);
}

/* The end of a callback: a connection freed meanwhile goes now. */
static void
release(struct redisconn *c)
{
	if (--c->busy == 0 && c->freed)
		destroy(c);
}

static void
destroy(struct redisconn *c)
{
	struct pending	*p;

	/* Whatever the callbacks do now, this connection takes nothing. */
	c->busy = 1;
	c->freed = 1;
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* and the SSL, the socket */
	c->bev = NULL;
	while ((p = c->head) != NULL) {
		c->head = p->next;
		p->fn(c, NULL, p->priv);
		free(p);
	}
	redisconn_reader_free(c->reader);
	free(c);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct redisconn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			 buf[READ_CHUNK];
	const char		*why;
	int			 n;

	c->busy++;
	while (!c->freed && !c->failed &&
	    (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		if (redisconn_reader_feed(c->reader, buf, (size_t)n,
		    &why) == -1) {
			conn_fail(c, why);
			break;
		}
		drain(c);
	}
	release(c);
}

/* Every whole reply the reader holds, to its command or the push. */
static void
drain(struct redisconn *c)
{
	redisReply	*reply;
	char		 why[160];
	int		 r;

	while (!c->freed && !c->failed) {
		if ((r = redisconn_reader_next(c->reader, &reply, why,
		    sizeof(why))) == -1) {
			conn_fail(c, why);
			return;
		}
		if (r == 0)
			return;
		c->answered = 1;
		deliver(c, reply);
		freeReplyObject(reply);
	}
}

static void
deliver(struct redisconn *c, redisReply *reply)
{
	struct pending	*p;

	if ((p = c->head) != NULL) {
		if ((c->head = p->next) == NULL)
			c->tail = &c->head;
		p->fn(c, reply, p->priv);
		free(p);
	} else if (c->push != NULL)
		c->push(c, reply, c->push_priv);
	else
		conn_fail(c, "a reply to no command");
}

/* Stop reading and tell the owner, once. */
static void
conn_fail(struct redisconn *c, const char *why)
{
	if (c->failed || c->freed)
		return;
	c->failed = 1;
	(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->busy++;
	c->fail(c, why, c->arg);
	release(c);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct redisconn	*c = arg;
	char			 why[256];
	int			 saved = errno;

	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0)
		return;
	error_text(c, what, saved, why, sizeof(why));
	conn_fail(c, why);
}

/*
 * Why it failed, most precise first: a certificate not accepted, an
 * OpenSSL error (a TLS alert from the server: a client certificate
 * refused...), the socket's error (err: errno as libevent left it), or a
 * close.
 */
static void
error_text(struct redisconn *c, short what, int err, char *why, size_t len)
{
	unsigned long	 e, first = 0;
	long		 v;
	int		 soerr = 0;
	socklen_t	 sl = sizeof(soerr);
	const char	*r;

	if (c->ssl != NULL) {
		/*
		 * libevent keeps SSL_get_error()'s code (SSL_ERROR_SSL,
		 * SSL_ERROR_SYSCALL: no library) first, then the queue.
		 */
		while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
			if (first == 0 && (ERR_GET_LIB(e) != 0 ||
			    ERR_SYSTEM_ERROR(e)))
				first = e;
		ERR_clear_error();
		if ((v = SSL_get_verify_result(c->ssl)) != X509_V_OK) {
			(void)snprintf(why, len, "TLS: server certificate not "
			    "accepted: %s", X509_verify_cert_error_string(v));
			return;
		}
		/* Redis closes without close_notify when it stops. */
		if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
		    ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			first = 0;
		if (first != 0 && !ERR_SYSTEM_ERROR(first)) {
			r = ERR_reason_error_string(first);
			(void)snprintf(why, len, "TLS: %s", r != NULL ? r :
			    "handshake failed");
			return;
		}
		if (first != 0)
			err = ERR_GET_REASON(first);
	}
	if (getsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_ERROR,
	    &soerr, &sl) == 0 && soerr != 0)
		err = soerr;
	r = (what & BEV_EVENT_EOF) || err == 0 || err == EAGAIN ?
	    "connection closed" : strerror(err);
	/*
	 * With TLS 1.3 the client's handshake ends before the server
	 * checks the client's certificate: one it refuses (or none, with
	 * tls-auth-clients yes) shows as a close or a reset right after.
	 */
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl) && !c->answered)
		(void)snprintf(why, len, "TLS: server closed the connection "
		    "after the handshake, before any reply (%s)", r);
	else
		(void)snprintf(why, len, "%s", r);
}
