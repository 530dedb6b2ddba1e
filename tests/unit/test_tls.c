/*
 * Unit tests for the TLS seam: handshakes over non-blocking socketpairs
 * between our server and client contexts (and a raw OpenSSL client for the
 * server's policy), certificate verification, data transfer, close, and
 * session resumption with ticket keys shared between processes.
 *
 * Throwaway certificates are made with the openssl command at start:
 *
 *	root (EC, CA) -> intermediate (EC, CA) -> ec.crt  (mx.test, 127.0.0.1)
 *	root          -> rsa.crt (RSA 2048, same names)
 *	root          -> expired.crt (EC, notAfter in the past)
 *	other.key: an EC key that matches no certificate
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/tls.h"

#define POLL_MS		5000

static char	tmpdir[64];

/* A file in the temporary directory (a few may be in use at once). */
static const char *
P(const char *name)
{
	static char	buf[8][256];
	static int	i;
	char		*b = buf[i++ % 8];

	assert_true(snprintf(b, sizeof(buf[0]), "%s/%s", tmpdir, name) <
	    (int)sizeof(buf[0]));
	return b;
}

static int
run(const char *fmt, ...)
{
	char	cmd[2048];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static const char cnf[] =
	"[req]\n"
	"distinguished_name = dn\n"
	"[dn]\n"
	"[ca]\n"
	"basicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"[srv]\n"
	"basicConstraints = critical,CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectAltName = DNS:mx.test,IP:127.0.0.1\n";

static int
make_certs(void **state)
{
	FILE	*f;
	char	 tmpl[] = "/tmp/test_tls.XXXXXX";

	(void)signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpl) == NULL)
		return -1;
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	if ((f = fopen(P("x.cnf"), "w")) == NULL)
		return -1;
	fputs(cnf, f);
	if (fclose(f) != 0)
		return -1;

#define Q	" 2>/dev/null >/dev/null"
#define EC	"genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
	if (run("cd %s && openssl req -x509 -config x.cnf -extensions ca "
	    "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout root.key -out root.crt -days 3650 "
	    "-subj '/CN=smtpauth test root'" Q, tmpdir) == -1 ||
	    run("cd %s && openssl " EC " -out inter.key" Q, tmpdir) == -1 ||
	    run("cd %s && openssl req -new -config x.cnf -key inter.key "
	    "-subj '/CN=smtpauth test intermediate' -out inter.csr" Q,
	    tmpdir) == -1 ||
	    run("cd %s && openssl x509 -req -in inter.csr -CA root.crt "
	    "-CAkey root.key -CAcreateserial -days 3650 -extfile x.cnf "
	    "-extensions ca -out inter.crt" Q, tmpdir) == -1 ||
	    run("cd %s && openssl " EC " -out ec.key" Q, tmpdir) == -1 ||
	    run("cd %s && openssl req -new -config x.cnf -key ec.key "
	    "-subj /CN=mx.test -out ec.csr" Q, tmpdir) == -1 ||
	    run("cd %s && openssl x509 -req -in ec.csr -CA inter.crt "
	    "-CAkey inter.key -CAcreateserial -days 30 -extfile x.cnf "
	    "-extensions srv -out ec.crt" Q, tmpdir) == -1 ||
	    run("cd %s && cat ec.crt inter.crt > ec-chain.crt", tmpdir) ==
	    -1 ||
	    run("cd %s && openssl x509 -req -in ec.csr -CA root.crt "
	    "-CAkey root.key -CAcreateserial -days -1 -extfile x.cnf "
	    "-extensions srv -out expired.crt" Q, tmpdir) == -1 ||
	    run("cd %s && openssl genpkey -algorithm RSA "
	    "-pkeyopt rsa_keygen_bits:2048 -out rsa.key" Q, tmpdir) == -1 ||
	    run("cd %s && openssl req -new -config x.cnf -key rsa.key "
	    "-subj /CN=mx.test -out rsa.csr" Q, tmpdir) == -1 ||
	    run("cd %s && openssl x509 -req -in rsa.csr -CA root.crt "
	    "-CAkey root.key -CAcreateserial -days 30 -extfile x.cnf "
	    "-extensions srv -out rsa.crt" Q, tmpdir) == -1 ||
	    run("cd %s && openssl " EC " -out other.key" Q, tmpdir) == -1)
		return -1;
#undef EC
#undef Q
	return 0;
}

static int
remove_certs(void **state)
{
	if (tmpdir[0] != '\0')
		(void)run("rm -rf '%s'", tmpdir);
	return 0;
}

/*
 * Plumbing: socketpairs, contexts, and a poll() loop that drives both ends
 * of a handshake.  An end is one of ours or a raw OpenSSL client.
 */

struct end {
	struct tls	*t;
	SSL		*raw;
	int		 fd;
	int		 st;	/* 1 new, 0 done, -1 failed, WANT */
};

static void
mkpair(int fds[2], int small)
{
	int	i, sz = 32 * 1024;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (i = 0; i < 2; i++) {
		assert_int_not_equal(fcntl(fds[i], F_SETFL,
		    fcntl(fds[i], F_GETFL) | O_NONBLOCK), -1);
		if (small) {
			assert_int_equal(setsockopt(fds[i], SOL_SOCKET,
			    SO_SNDBUF, &sz, sizeof(sz)), 0);
			assert_int_equal(setsockopt(fds[i], SOL_SOCKET,
			    SO_RCVBUF, &sz, sizeof(sz)), 0);
		}
	}
}

static struct tls_ctx *
server_ctx2(const char *c1, const char *k1, const char *c2, const char *k2,
    struct tls_ticket_keys *tk)
{
	const char	*certs[2] = { P(c1), c2 ? P(c2) : NULL };
	const char	*keys[2] = { P(k1), k2 ? P(k2) : NULL };
	struct tls_ctx	*ctx;
	char		 err[512];

	ctx = tls_server_new(certs, keys, c2 ? 2 : 1, tk, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("tls_server_new: %s", err);
	return ctx;
}

static struct tls_ctx *
server_ctx(struct tls_ticket_keys *tk)
{
	return server_ctx2("ec-chain.crt", "ec.key", NULL, NULL, tk);
}

static struct tls_ctx *
client_ctx(const char *ca, int insecure, int min, int max)
{
	struct tls_ctx	*ctx;
	char		 err[512];

	ctx = tls_client_new(ca ? P(ca) : NULL, insecure, min, max, err,
	    sizeof(err));
	if (ctx == NULL)
		fail_msg("tls_client_new: %s", err);
	return ctx;
}

static int
end_step(struct end *e)
{
	int	r;

	if (e->t != NULL)
		return tls_handshake(e->t);
	if ((r = SSL_do_handshake(e->raw)) == 1)
		return 0;
	switch (SSL_get_error(e->raw, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_POLLOUT;
	default:
		ERR_clear_error();
		return -1;
	}
}

static int
end_busy(const struct end *e)
{
	return e->st != 0 && e->st != -1;
}

/* Drive both handshakes to an end; a side left waiting ends as -1. */
static void
handshake(struct end *c, struct end *s)
{
	struct pollfd	 pfd[2];
	struct end	*e[2] = { c, s };
	int		 i, n, progress;

	c->st = s->st = 1;
	for (;;) {
		progress = 0;
		for (i = 0; i < 2; i++) {
			if (end_busy(e[i])) {
				e[i]->st = end_step(e[i]);
				progress = 1;
			}
		}
		if (!end_busy(c) && !end_busy(s))
			return;
		for (i = n = 0; i < 2; i++) {
			if (!end_busy(e[i]))
				continue;
			pfd[n].fd = e[i]->fd;
			pfd[n].events = e[i]->st == TLS_WANT_POLLOUT ?
			    POLLOUT : POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		assert_true(progress);
		if (poll(pfd, n, c->st == -1 || s->st == -1 ? 500 : POLL_MS)
		    <= 0) {
			/* Nothing more will come: the waiting side failed. */
			for (i = 0; i < 2; i++)
				if (end_busy(e[i]))
					e[i]->st = -1;
			return;
		}
	}
}

/* One connection between our client and server contexts. */
struct conn {
	int		 fds[2];
	struct end	 c, s;
};

static void
conn_open(struct conn *k, struct tls_ctx *cctx, struct tls_ctx *sctx,
    const char *servername, int small)
{
	memset(k, 0, sizeof(*k));
	mkpair(k->fds, small);
	k->c.fd = k->fds[0];
	k->s.fd = k->fds[1];
	assert_non_null(k->c.t = tls_connect_fd(cctx, k->fds[0], servername));
	assert_non_null(k->s.t = tls_accept_fd(sctx, k->fds[1]));
}

static void
conn_close(struct conn *k)
{
	if (k->c.t != NULL) {
		tls_close(k->c.t);
		tls_free(k->c.t);
	}
	if (k->s.t != NULL) {
		tls_close(k->s.t);
		tls_free(k->s.t);
	}
	if (k->c.raw != NULL) {
		SSL_shutdown(k->c.raw);
		SSL_free(k->c.raw);
	}
	close(k->fds[0]);
	close(k->fds[1]);
	memset(k, 0, sizeof(*k));
}

static void
conn_ok(struct conn *k)
{
	handshake(&k->c, &k->s);
	if (k->c.st != 0 || k->s.st != 0)
		fail_msg("handshake failed: client %d (%s), server %d (%s)",
		    k->c.st, k->c.t ? tls_error(k->c.t) : "raw", k->s.st,
		    tls_error(k->s.t));
}

/*
 * Move len bytes from w to r, both non-blocking, polling when neither
 * makes progress.  Counts short writes and TLS_WANT_* from the writer.
 * (OpenSSL returns a short count when a record went out whole; a record
 * left pending makes the retries go on with the following ones.)
 */
static void
transfer(struct tls *w, int wfd, struct tls *r, int rfd,
    const unsigned char *data, size_t len, int *shortw, int *wants)
{
	struct pollfd	 pfd[2];
	unsigned char	*got;
	size_t		 off = 0, roff = 0;
	ssize_t		 n;
	int		 progress, wst, rst, np;

	assert_non_null(got = malloc(len));
	while (roff < len) {
		progress = 0;
		wst = rst = 0;
		/* Write until the socket is full, then read it all. */
		while (off < len) {
			n = tls_write(w, data + off, len - off);
			if (n > 0) {
				if ((size_t)n < len - off)
					(*shortw)++;
				off += (size_t)n;
				progress = 1;
			} else if (n == TLS_WANT_POLLIN ||
			    n == TLS_WANT_POLLOUT) {
				(*wants)++;
				wst = (int)n;
				break;
			} else
				fail_msg("tls_write: %s", tls_error(w));
		}
		for (;;) {
			n = tls_read(r, got + roff, len - roff);
			if (n > 0) {
				roff += (size_t)n;
				progress = 1;
				if (roff == len)
					break;
				continue;
			}
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				rst = (int)n;
				break;
			}
			fail_msg("tls_read: %zd %s", n, tls_error(r));
		}
		if (progress || roff == len)
			continue;
		np = 0;
		if (wst != 0) {
			pfd[np].fd = wfd;
			pfd[np].events = wst == TLS_WANT_POLLOUT ?
			    POLLOUT : POLLIN;
			np++;
		}
		pfd[np].fd = rfd;
		pfd[np].events = rst == TLS_WANT_POLLOUT ? POLLOUT : POLLIN;
		np++;
		assert_true(poll(pfd, np, POLL_MS) > 0);
	}
	assert_memory_equal(got, data, len);
	free(got);
}

static void
send_text(struct conn *k, int from_server, const char *text)
{
	int	shortw = 0, wants = 0;

	if (from_server)
		transfer(k->s.t, k->s.fd, k->c.t, k->c.fd,
		    (const unsigned char *)text, strlen(text), &shortw, &wants);
	else
		transfer(k->c.t, k->c.fd, k->s.t, k->s.fd,
		    (const unsigned char *)text, strlen(text), &shortw, &wants);
}

/*
 * Handshakes and accessors.
 */

static void
test_handshake_tls13(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx = client_ctx("root.crt", 0, 0, 0);
	struct conn	 k;
	char		 buf[256];
	time_t		 na, now = time(NULL);

	conn_open(&k, cctx, sctx, "mx.test", 0);
	assert_string_equal(tls_error(k.c.t), "no error");
	conn_ok(&k);
	assert_string_equal(tls_conn_version(k.c.t), "TLSv1.3");
	assert_string_equal(tls_conn_version(k.s.t), "TLSv1.3");
	assert_true(strncmp(tls_conn_cipher(k.c.t), "TLS_", 4) == 0);
	assert_string_equal(tls_conn_cipher(k.c.t), tls_conn_cipher(k.s.t));
	assert_true(tls_conn_cipher_bits(k.c.t) >= 128);
	assert_int_equal(tls_conn_resumed(k.c.t), 0);
	assert_int_equal(tls_conn_resumed(k.s.t), 0);
	assert_int_equal(tls_peer_verified(k.c.t), 1);
	assert_string_equal(tls_peer_verify_error(k.c.t), "ok");
	/* The server asked for no client certificate. */
	assert_int_equal(tls_peer_verified(k.s.t), 0);
	assert_int_equal(tls_peer_cert_subject(k.s.t, buf, sizeof(buf)), -1);

	assert_int_equal(tls_peer_cert_subject(k.c.t, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "CN=mx.test");
	assert_int_equal(tls_peer_cert_issuer(k.c.t, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "CN=smtpauth test intermediate");
	/* Too small a buffer: -1, and as much as fits. */
	assert_int_equal(tls_peer_cert_issuer(k.c.t, buf, 6), -1);
	assert_string_equal(buf, "CN=sm");
	assert_int_equal(tls_peer_cert_notafter(k.c.t, &na), 0);
	assert_true(na > now + 29 * 86400 && na < now + 31 * 86400);

	send_text(&k, 1, "220 mx.test ESMTP\r\n");
	send_text(&k, 0, "EHLO client\r\n");
	conn_close(&k);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

static void
test_handshake_tls12(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx;
	struct conn	 k;

	cctx = client_ctx("root.crt", 0, 0, TLS1_2_VERSION);
	conn_open(&k, cctx, sctx, "mx.test", 0);
	conn_ok(&k);
	assert_string_equal(tls_conn_version(k.c.t), "TLSv1.2");
	assert_string_equal(tls_conn_version(k.s.t), "TLSv1.2");
	/* Server preference: the first of its list the client has. */
	assert_string_equal(tls_conn_cipher(k.s.t),
	    "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_int_equal(tls_conn_cipher_bits(k.s.t), 128);
	assert_int_equal(tls_peer_verified(k.c.t), 1);
	send_text(&k, 1, "220 hello\r\n");
	conn_close(&k);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

/* A TLS 1.1-only client (at security level 0) is refused. */
static void
test_tls11_refused(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx = client_ctx("root.crt", 0, TLS1_1_VERSION,
	    TLS1_1_VERSION);
	struct conn	 k;

	conn_open(&k, cctx, sctx, "mx.test", 0);
	handshake(&k.c, &k.s);
	assert_int_equal(k.s.st, -1);
	assert_int_equal(k.c.st, -1);
	assert_non_null(strstr(tls_error(k.s.t), "unsupported protocol"));
	assert_non_null(strstr(tls_error(k.c.t), "protocol version"));
	/* After a failure: no close_notify, errors stay. */
	assert_int_equal(tls_handshake(k.c.t), -1);
	assert_int_equal(tls_write(k.c.t, "x", 1), -1);
	conn_close(&k);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

/*
 * Verification by the client, table-driven.
 */

struct verifyvec {
	const char	*cert, *key;	/* the server's pair */
	const char	*ca;		/* NULL: the system store */
	const char	*name;
	int		 insecure;
	int		 ok;		/* handshake succeeds */
	int		 verified;	/* tls_peer_verified() */
	const char	*why;		/* in error or verify error */
};

static const struct verifyvec verifies[] = {
	{ "ec-chain.crt", "ec.key", "root.crt", "mx.test", 0, 1, 1, "ok" },
	{ "ec-chain.crt", "ec.key", "root.crt", "MX.Test", 0, 1, 1, "ok" },
	{ "ec-chain.crt", "ec.key", "root.crt", "127.0.0.1", 0, 1, 1, "ok" },
	{ "rsa.crt", "rsa.key", "root.crt", "mx.test", 0, 1, 1, "ok" },
	{ "ec-chain.crt", "ec.key", "root.crt", NULL, 0, 1, 1, "ok" },
	{ "ec-chain.crt", "ec.key", "root.crt", "wrong.test", 0, 0, 0,
	    "certificate verify failed: hostname mismatch" },
	{ "ec-chain.crt", "ec.key", "root.crt", "127.0.0.2", 0, 0, 0,
	    "certificate verify failed: IP address mismatch" },
	{ "ec-chain.crt", "ec.key", "root.crt", "[::1]", 0, 0, 0,
	    "IP address mismatch" },
	{ "expired.crt", "ec.key", "root.crt", "mx.test", 0, 0, 0,
	    "certificate verify failed: certificate has expired" },
	/* A server that does not send its intermediate. */
	{ "ec.crt", "ec.key", "root.crt", "mx.test", 0, 0, 0,
	    "unable to get local issuer certificate" },
	/* Our throwaway root is not in the system store. */
	{ "rsa.crt", "rsa.key", NULL, "mx.test", 0, 0, 0,
	    "certificate verify failed: " },
	/* Insecure: connects, and says why it is not verified. */
	{ "ec-chain.crt", "ec.key", "root.crt", "wrong.test", 1, 1, 0,
	    "hostname mismatch" },
	{ "expired.crt", "ec.key", "root.crt", "mx.test", 1, 1, 0,
	    "certificate has expired" },
	{ "ec-chain.crt", "ec.key", "root.crt", "mx.test", 1, 1, 1, "ok" },
	{ "rsa.crt", "rsa.key", NULL, "mx.test", 1, 1, 0, "" },
};

static void
test_verify(void **state)
{
	const struct verifyvec	*v;
	struct tls_ctx		*sctx, *cctx;
	struct conn		 k;
	size_t			 i;

	for (i = 0; i < sizeof(verifies) / sizeof(verifies[0]); i++) {
		v = &verifies[i];
		sctx = server_ctx2(v->cert, v->key, NULL, NULL, NULL);
		cctx = client_ctx(v->ca, v->insecure, 0, 0);
		conn_open(&k, cctx, sctx, v->name, 0);
		handshake(&k.c, &k.s);
		if (v->ok) {
			if (k.c.st != 0 || k.s.st != 0)
				fail_msg("row %zu: %s", i, tls_error(k.c.t));
			if (tls_peer_verified(k.c.t) != v->verified)
				fail_msg("row %zu: verified %d", i,
				    tls_peer_verified(k.c.t));
			if (strstr(tls_peer_verify_error(k.c.t), v->why) ==
			    NULL)
				fail_msg("row %zu: %s", i,
				    tls_peer_verify_error(k.c.t));
			send_text(&k, 1, "220 ok\r\n");
		} else {
			if (k.c.st != -1 || k.s.st != -1)
				fail_msg("row %zu: client %d server %d", i,
				    k.c.st, k.s.st);
			if (strstr(tls_error(k.c.t), v->why) == NULL)
				fail_msg("row %zu: %s", i, tls_error(k.c.t));
			assert_int_equal(tls_peer_verified(k.c.t), 0);
		}
		conn_close(&k);
		tls_ctx_free(cctx);
		tls_ctx_free(sctx);
	}
}

/*
 * Server configuration errors, table-driven.
 */

struct confvec {
	const char	*c1, *k1, *c2, *k2;
	const char	*want[3];	/* all in the error */
};

static const struct confvec confs[] = {
	{ "ec-chain.crt", "other.key", NULL, NULL,
	    { "ec-chain.crt and ", "other.key: ", "does not match" } },
	{ "ec-chain.crt", "rsa.key", NULL, NULL,
	    { "ec-chain.crt and ", "rsa.key: ", "does not match" } },
	/* A second pair whose key is the first pair's. */
	{ "ec-chain.crt", "ec.key", "rsa.crt", "ec.key",
	    { "rsa.crt and ", "ec.key: ", "does not match" } },
	{ "rsa.crt", "rsa.key", "ec-chain.crt", "other.key",
	    { "ec-chain.crt and ", "other.key", "does not match" } },
	{ "missing.crt", "ec.key", NULL, NULL,
	    { "missing.crt: cannot load certificate chain",
	    "No such file or directory", NULL } },
	{ "ec-chain.crt", "missing.key", NULL, NULL,
	    { "missing.key: ", NULL, NULL } },
	{ "x.cnf", "ec.key", NULL, NULL,
	    { "x.cnf: cannot load certificate chain", NULL, NULL } },
	{ "ec-chain.crt", "x.cnf", NULL, NULL,
	    { "x.cnf: cannot load private key", NULL, NULL } },
	{ "ec-chain.crt", "ec.key", "expired.crt", "ec.key",
	    { "expired.crt: ", "type (EC) was already loaded", NULL } },
};

static void
test_server_config_errors(void **state)
{
	const struct confvec	*v;
	const char		*certs[2], *keys[2];
	struct tls_ctx		*ctx;
	char			 err[512];
	size_t			 i, j;

	for (i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
		v = &confs[i];
		certs[0] = P(v->c1);
		keys[0] = P(v->k1);
		certs[1] = v->c2 ? P(v->c2) : NULL;
		keys[1] = v->k2 ? P(v->k2) : NULL;
		err[0] = '\0';
		ctx = tls_server_new(certs, keys, v->c2 ? 2 : 1, NULL, err,
		    sizeof(err));
		if (ctx != NULL)
			fail_msg("row %zu: accepted", i);
		for (j = 0; j < 3 && v->want[j] != NULL; j++)
			if (strstr(err, v->want[j]) == NULL)
				fail_msg("row %zu: \"%s\" lacks \"%s\"", i,
				    err, v->want[j]);
	}

	assert_null(tls_server_new(certs, keys, 0, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "pairs"));
	/* Errors never overflow a small buffer. */
	certs[0] = P("ec-chain.crt");
	keys[0] = P("other.key");
	assert_null(tls_server_new(certs, keys, 1, NULL, err, 8));
	assert_int_equal(strlen(err), 7);
	assert_null(tls_server_new(certs, keys, 1, NULL, NULL, 0));

	assert_null(tls_client_new(P("missing.crt"), 0, 0, 0, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "missing.crt: cannot load CA"));
	assert_null(tls_client_new(NULL, 0, TLS1_3_VERSION, TLS1_2_VERSION,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "minimum"));
}

/*
 * The server's policy against a raw OpenSSL client, with both an ECDSA
 * and an RSA pair configured.
 */

struct policyvec {
	int		 version;	/* min = max */
	const char	*ciphers;	/* TLS 1.2 list or TLS 1.3 suites */
	const char	*groups;
	const char	*sigalgs;
	int		 ok;
	const char	*cipher;	/* negotiated, if ok */
	int		 pkey;		/* server key type */
};

static const struct policyvec policies[] = {
	/* No forward secrecy, or no AEAD: refused. */
	{ TLS1_2_VERSION, "AES128-GCM-SHA256", NULL, NULL, 0, NULL, 0 },
	{ TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA", NULL, NULL, 0, NULL, 0 },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA384", NULL, NULL, 0, NULL,
	    0 },
	{ TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", NULL, NULL, 0, NULL,
	    0 },
	/* The server's preference wins. */
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, NULL, 1,
	    "ECDHE-ECDSA-AES128-GCM-SHA256", EVP_PKEY_EC },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", NULL, NULL, 1,
	    "ECDHE-ECDSA-CHACHA20-POLY1305", EVP_PKEY_EC },
	/* An RSA-only client gets the RSA certificate. */
	{ TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", NULL, NULL, 1,
	    "ECDHE-RSA-AES256-GCM-SHA384", EVP_PKEY_RSA },
	{ TLS1_3_VERSION, NULL, NULL, "rsa_pss_rsae_sha256", 1, NULL,
	    EVP_PKEY_RSA },
	{ TLS1_3_VERSION, NULL, NULL, "ecdsa_secp256r1_sha256", 1, NULL,
	    EVP_PKEY_EC },
	{ TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", NULL, NULL, 1,
	    "TLS_CHACHA20_POLY1305_SHA256", EVP_PKEY_EC },
	/* Groups. */
	{ TLS1_3_VERSION, NULL, "P-384", NULL, 1, NULL, EVP_PKEY_EC },
	{ TLS1_3_VERSION, NULL, "X25519", NULL, 1, NULL, EVP_PKEY_EC },
	{ TLS1_3_VERSION, NULL, "ffdhe2048", NULL, 0, NULL, 0 },
	{ TLS1_3_VERSION, NULL, "X448:P-521", NULL, 0, NULL, 0 },
	{ TLS1_2_VERSION, NULL, "P-521", NULL, 0, NULL, 0 },
};

static void
test_server_policy(void **state)
{
	const struct policyvec	*v;
	struct tls_ctx		*sctx;
	struct conn		 k;
	SSL_CTX			*rc;
	X509			*x;
	size_t			 i;

	sctx = server_ctx2("ec-chain.crt", "ec.key", "rsa.crt", "rsa.key",
	    NULL);
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		v = &policies[i];
		assert_non_null(rc = SSL_CTX_new(TLS_client_method()));
		SSL_CTX_set_security_level(rc, 0);
		assert_int_equal(SSL_CTX_set_min_proto_version(rc, v->version),
		    1);
		assert_int_equal(SSL_CTX_set_max_proto_version(rc, v->version),
		    1);
		if (v->ciphers != NULL && v->version == TLS1_3_VERSION)
			assert_int_equal(SSL_CTX_set_ciphersuites(rc,
			    v->ciphers), 1);
		else if (v->ciphers != NULL)
			assert_int_equal(SSL_CTX_set_cipher_list(rc,
			    v->ciphers), 1);
		if (v->groups != NULL)
			assert_int_equal(SSL_CTX_set1_groups_list(rc,
			    v->groups), 1);
		if (v->sigalgs != NULL)
			assert_int_equal(SSL_CTX_set1_sigalgs_list(rc,
			    v->sigalgs), 1);

		memset(&k, 0, sizeof(k));
		mkpair(k.fds, 0);
		k.c.fd = k.fds[0];
		k.s.fd = k.fds[1];
		assert_non_null(k.c.raw = SSL_new(rc));
		assert_int_equal(SSL_set_fd(k.c.raw, k.fds[0]), 1);
		SSL_set_connect_state(k.c.raw);
		assert_non_null(k.s.t = tls_accept_fd(sctx, k.fds[1]));
		handshake(&k.c, &k.s);
		if (!v->ok) {
			if (k.s.st != -1)
				fail_msg("row %zu: accepted", i);
		} else {
			if (k.c.st != 0 || k.s.st != 0)
				fail_msg("row %zu: %s", i, tls_error(k.s.t));
			if (v->cipher != NULL)
				assert_string_equal(tls_conn_cipher(k.s.t),
				    v->cipher);
			assert_non_null(x = SSL_get0_peer_certificate(
			    k.c.raw));
			if (EVP_PKEY_get_base_id(X509_get0_pubkey(x)) !=
			    v->pkey)
				fail_msg("row %zu: wrong certificate", i);
		}
		if (k.c.st != 0)
			SSL_set_quiet_shutdown(k.c.raw, 1);
		conn_close(&k);
		SSL_CTX_free(rc);
		ERR_clear_error();
	}
	tls_ctx_free(sctx);
}

/* A TLS 1.2 client asking to renegotiate is refused. */
static void
test_no_renegotiation(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct conn	 k;
	SSL_CTX		*rc;
	unsigned char	 b[16];
	struct pollfd	 pfd;
	int		 i, r = 0;

	assert_non_null(rc = SSL_CTX_new(TLS_client_method()));
	assert_int_equal(SSL_CTX_set_max_proto_version(rc, TLS1_2_VERSION),
	    1);
	memset(&k, 0, sizeof(k));
	mkpair(k.fds, 0);
	k.c.fd = k.fds[0];
	k.s.fd = k.fds[1];
	assert_non_null(k.c.raw = SSL_new(rc));
	assert_int_equal(SSL_set_fd(k.c.raw, k.fds[0]), 1);
	SSL_set_connect_state(k.c.raw);
	assert_non_null(k.s.t = tls_accept_fd(sctx, k.fds[1]));
	handshake(&k.c, &k.s);
	assert_int_equal(k.c.st, 0);
	assert_int_equal(k.s.st, 0);

	assert_int_equal(SSL_renegotiate(k.c.raw), 1);
	for (i = 0; i < 20; i++) {
		r = SSL_do_handshake(k.c.raw);
		if (r == 1 || SSL_get_error(k.c.raw, r) != SSL_ERROR_WANT_READ)
			break;
		/* The server sees the ClientHello while reading. */
		assert_true(tls_read(k.s.t, b, sizeof(b)) == TLS_WANT_POLLIN);
		pfd.fd = k.c.fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 500);
	}
	assert_int_not_equal(r, 1);
	assert_int_equal(SSL_get_error(k.c.raw, r), SSL_ERROR_SSL);
	ERR_clear_error();
	SSL_set_quiet_shutdown(k.c.raw, 1);
	conn_close(&k);
	SSL_CTX_free(rc);
	tls_ctx_free(sctx);
}

/* Both key types at once, seen through our own client. */
static void
test_dual_certs(void **state)
{
	struct tls_ctx	*sctx, *c13, *c12;
	struct conn	 k;
	char		 buf[128];

	sctx = server_ctx2("rsa.crt", "rsa.key", "ec-chain.crt", "ec.key",
	    NULL);
	c13 = client_ctx("root.crt", 0, 0, 0);
	c12 = client_ctx("root.crt", 0, TLS1_2_VERSION, TLS1_2_VERSION);

	conn_open(&k, c13, sctx, "mx.test", 0);
	conn_ok(&k);
	assert_int_equal(tls_peer_verified(k.c.t), 1);
	conn_close(&k);

	conn_open(&k, c12, sctx, "mx.test", 0);
	conn_ok(&k);
	assert_int_equal(tls_peer_verified(k.c.t), 1);
	assert_string_equal(tls_conn_cipher(k.c.t),
	    "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_int_equal(tls_peer_cert_issuer(k.c.t, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "CN=smtpauth test intermediate");
	conn_close(&k);

	tls_ctx_free(c12);
	tls_ctx_free(c13);
	tls_ctx_free(sctx);
}

/*
 * Data.
 */

static void
test_roundtrip(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx = client_ctx("root.crt", 0, 0, 0);
	struct conn	 k;
	unsigned char	*big, b[64];
	size_t		 i, len = 100 * 1024;
	int		 shortw, wants, round;
	ssize_t		 n;

	assert_non_null(big = malloc(len));
	for (i = 0; i < len; i++)
		big[i] = (unsigned char)(i * 7 + i / 251);

	for (round = 0; round < 2; round++) {
		/* Round 1 at TLS 1.2. */
		if (round == 1) {
			tls_ctx_free(cctx);
			cctx = client_ctx("root.crt", 0, 0, TLS1_2_VERSION);
		}
		conn_open(&k, cctx, sctx, "mx.test", 1);
		conn_ok(&k);
		send_text(&k, 1, "220 mx.test ESMTP\r\n");
		send_text(&k, 0, "EHLO c\r\n");

		shortw = wants = 0;
		transfer(k.c.t, k.c.fd, k.s.t, k.s.fd, big, len, &shortw,
		    &wants);
		assert_true(shortw > 0);
		assert_true(wants > 0);
		tls_release_buffers(k.s.t);
		tls_release_buffers(k.c.t);
		shortw = wants = 0;
		transfer(k.s.t, k.s.fd, k.c.t, k.c.fd, big, len, &shortw,
		    &wants);
		assert_true(shortw > 0);
		assert_true(wants > 0);
		send_text(&k, 0, "QUIT\r\n");

		/* Nothing to read yet. */
		assert_int_equal(tls_read(k.s.t, b, sizeof(b)),
		    TLS_WANT_POLLIN);
		/* close_notify: a clean end of stream, once. */
		tls_close(k.c.t);
		tls_close(k.c.t);
		assert_int_equal(tls_read(k.s.t, b, sizeof(b)), 0);
		assert_int_equal(tls_read(k.s.t, b, sizeof(b)), 0);
		assert_int_equal(tls_read(k.s.t, b, 0), -1);
		conn_close(&k);
	}

	/* A peer that goes away without close_notify: truncation. */
	conn_open(&k, cctx, sctx, "mx.test", 0);
	conn_ok(&k);
	send_text(&k, 1, "220 x\r\n");
	shutdown(k.c.fd, SHUT_RDWR);
	n = tls_read(k.s.t, b, sizeof(b));
	assert_int_equal(n, -1);
	assert_non_null(strstr(tls_error(k.s.t), "unexpected EOF"));
	/* Writing to it fails (SIGPIPE is ignored, as programs must). */
	n = tls_write(k.c.t, "x", 1);
	assert_int_equal(n, -1);
	conn_close(&k);

	free(big);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

/* Connections that never shook hands close and free cleanly. */
static void
test_unused(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx = client_ctx("root.crt", 0, 0, 0);
	struct conn	 k;
	size_t		 len;

	conn_open(&k, cctx, sctx, "mx.test", 0);
	assert_null(tls_get_session(k.c.t, &len));
	assert_int_equal(len, 0);
	assert_int_equal(tls_handshake(k.s.t), TLS_WANT_POLLIN);
	/* The context lives on while its connections do. */
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
	assert_int_equal(tls_handshake(k.c.t), TLS_WANT_POLLIN);
	conn_close(&k);
	tls_ticket_keys_free(NULL);
	tls_ticket_keys_rotate(NULL);
	tls_session_free(NULL, 0);
}

/*
 * Resumption.
 */

/* A full connection; returns the client's session blob. */
static unsigned char *
first_session(struct tls_ctx *cctx, struct tls_ctx *sctx, size_t *len,
    int *resumed)
{
	struct conn	 k;
	unsigned char	*blob;

	conn_open(&k, cctx, sctx, "mx.test", 0);
	conn_ok(&k);
	/* The greeting brings the TLS 1.3 ticket along. */
	send_text(&k, 1, "220 mx.test ESMTP\r\n");
	blob = tls_get_session(k.c.t, len);
	assert_non_null(blob);
	assert_true(*len > 0);
	if (resumed != NULL)
		*resumed = tls_conn_resumed(k.c.t);
	conn_close(&k);
	return blob;
}

/*
 * Offer a session; returns whether it was resumed (and checks that both
 * sides agree), and the new session blob in *next if asked.
 */
static int
resume(struct tls_ctx *cctx, struct tls_ctx *sctx, const unsigned char *blob,
    size_t len, unsigned char **next, size_t *nextlen)
{
	struct conn	 k;
	int		 r;

	conn_open(&k, cctx, sctx, "mx.test", 0);
	assert_int_equal(tls_set_session(k.c.t, blob, len), 0);
	conn_ok(&k);
	r = tls_conn_resumed(k.c.t);
	assert_int_equal(tls_conn_resumed(k.s.t), r);
	/* The session keeps the verification result. */
	assert_int_equal(tls_peer_verified(k.c.t), 1);
	send_text(&k, 1, "220 mx.test ESMTP\r\n");
	send_text(&k, 0, "EHLO c\r\n");
	if (next != NULL)
		assert_non_null(*next = tls_get_session(k.c.t, nextlen));
	conn_close(&k);
	return r;
}

static void
resumption(int max_version)
{
	struct tls_ticket_keys	*tk, *tk2;
	struct tls_ctx		*s1, *s2, *s3, *snull, *cctx;
	unsigned char		*blob, *blob2;
	size_t			 len, len2;
	int			 resumed, status;
	pid_t			 pid;

	assert_non_null(tk = tls_ticket_keys_new());
	assert_non_null(tk2 = tls_ticket_keys_new());
	s1 = server_ctx(tk);
	s2 = server_ctx2("rsa.crt", "rsa.key", "ec-chain.crt", "ec.key", tk);
	s3 = server_ctx(tk2);
	snull = server_ctx(NULL);
	cctx = client_ctx("root.crt", 0, 0, max_version);

	blob = first_session(cctx, s1, &len, &resumed);
	assert_int_equal(resumed, 0);
	assert_int_equal(resume(cctx, s1, blob, len, NULL, NULL), 1);
	/* Another worker's context with the same keys. */
	assert_int_equal(resume(cctx, s2, blob, len, NULL, NULL), 1);
	/* Other keys, or none shared: a full handshake, no harm done. */
	assert_int_equal(resume(cctx, s3, blob, len, NULL, NULL), 0);
	assert_int_equal(resume(cctx, snull, blob, len, NULL, NULL), 0);

	/* The previous key still opens tickets, and a fresh one is issued. */
	tls_ticket_keys_rotate(tk);
	assert_int_equal(resume(cctx, s2, blob, len, &blob2, &len2), 1);
	tls_ticket_keys_rotate(tk);
	assert_int_equal(resume(cctx, s1, blob, len, NULL, NULL), 1);

	/*
	 * The third rotation, made in another process as the parent would,
	 * overwrites the first key: its tickets are dead, the renewed one
	 * lives on.
	 */
	if ((pid = fork()) == 0) {
		tls_ticket_keys_rotate(tk);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(resume(cctx, s1, blob, len, NULL, NULL), 0);
	assert_int_equal(resume(cctx, s2, blob2, len2, NULL, NULL), 1);
	tls_session_free(blob, len);
	tls_session_free(blob2, len2);

	/* Without shared keys a context still resumes its own sessions. */
	blob = first_session(cctx, snull, &len, NULL);
	assert_int_equal(resume(cctx, snull, blob, len, NULL, NULL), 1);
	assert_int_equal(resume(cctx, s1, blob, len, NULL, NULL), 0);
	tls_session_free(blob, len);

	tls_ctx_free(cctx);
	tls_ctx_free(snull);
	tls_ctx_free(s3);
	tls_ctx_free(s2);
	tls_ctx_free(s1);
	tls_ticket_keys_free(tk2);
	tls_ticket_keys_free(tk);
}

static void
test_resume_tls13(void **state)
{
	resumption(0);
}

static void
test_resume_tls12(void **state)
{
	resumption(TLS1_2_VERSION);
}

/* Write len bytes of keys to path. */
static void
write_keys(const char *path, const unsigned char *keys, size_t len)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(keys, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
file_keys(int max_version)
{
	struct tls_ticket_keys	*a, *b;
	struct tls_ctx		*sa, *sb, *cctx;
	unsigned char		 k[4 * 80 + 1], *blob;
	char			 path[] = "/tmp/test_tls_keysXXXXXX", err[256];
	size_t			 len, bad[] = { 0, 1, 47, 79, 81, 200, 321 };
	size_t			 i;
	int			 fd;

	assert_true((fd = mkstemp(path)) != -1);
	close(fd);
	for (i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(i * 7 + 3);
	assert_non_null(a = tls_ticket_keys_new());
	assert_non_null(b = tls_ticket_keys_new());
	sa = server_ctx(a);
	sb = server_ctx(b);
	cctx = client_ctx("root.crt", 0, 0, max_version);

	/* Two "nodes" with the same file resume each other's tickets. */
	write_keys(path, k, 80);
	assert_int_equal(tls_ticket_keys_load(a, path, err, sizeof(err)), 0);
	assert_int_equal(tls_ticket_keys_load(b, path, err, sizeof(err)), 0);
	blob = first_session(cctx, sa, &len, NULL);
	assert_int_equal(resume(cctx, sb, blob, len, NULL, NULL), 1);
	/* A file's keys are never rotated. */
	tls_ticket_keys_rotate(b);
	assert_int_equal(resume(cctx, sb, blob, len, NULL, NULL), 1);

	/* Rotated by hand: a new key first, the old one still decrypts. */
	memmove(k + 80, k, 80);
	k[0] ^= 0xff;
	write_keys(path, k, 160);
	assert_int_equal(tls_ticket_keys_load(b, path, err, sizeof(err)), 0);
	assert_int_equal(resume(cctx, sb, blob, len, NULL, NULL), 1);
	tls_session_free(blob, len);
	/* Keys of 48 bytes (AES-128), two of them. */
	write_keys(path, k, 96);
	assert_int_equal(tls_ticket_keys_load(a, path, err, sizeof(err)), 0);
	assert_int_equal(tls_ticket_keys_load(b, path, err, sizeof(err)), 0);
	blob = first_session(cctx, sa, &len, NULL);
	assert_int_equal(resume(cctx, sb, blob, len, NULL, NULL), 1);
	/* Back to keys of its own: the file's ticket is not opened. */
	assert_int_equal(tls_ticket_keys_load(b, NULL, err, sizeof(err)), 0);
	assert_int_equal(resume(cctx, sb, blob, len, NULL, NULL), 0);
	tls_session_free(blob, len);

	/* Sizes that are no whole number of keys, or too many keys. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_keys(path, k, bad[i]);
		assert_int_equal(tls_ticket_keys_load(a, path, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "expected 1 to 4 keys"));
	}
	/* A failed load leaves the keys in use alone. */
	blob = first_session(cctx, sa, &len, NULL);
	assert_int_equal(resume(cctx, sa, blob, len, NULL, NULL), 1);
	tls_session_free(blob, len);
	assert_int_equal(tls_ticket_keys_load(NULL, path, err, sizeof(err)),
	    -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tls_ticket_keys_load(a, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));

	tls_ctx_free(cctx);
	tls_ctx_free(sb);
	tls_ctx_free(sa);
	tls_ticket_keys_free(b);
	tls_ticket_keys_free(a);
}

static void
test_file_keys_tls13(void **state)
{
	file_keys(0);
}

static void
test_file_keys_tls12(void **state)
{
	file_keys(TLS1_2_VERSION);
}

static void
test_session_blobs(void **state)
{
	struct tls_ctx	*sctx = server_ctx(NULL);
	struct tls_ctx	*cctx = client_ctx("root.crt", 0, 0, 0);
	struct conn	 k;
	unsigned char	 junk[64], *blob;
	size_t		 len;

	conn_open(&k, cctx, sctx, "mx.test", 0);
	memset(junk, 0x30, sizeof(junk));
	assert_int_equal(tls_set_session(k.c.t, junk, sizeof(junk)), -1);
	assert_non_null(strstr(tls_error(k.c.t), "invalid session"));
	assert_int_equal(tls_set_session(k.c.t, junk, 0), -1);
	assert_int_equal(tls_set_session(k.s.t, junk, sizeof(junk)), -1);
	conn_ok(&k);
	/* TLS 1.3: no ticket before the client reads. */
	assert_null(tls_get_session(k.c.t, &len));
	assert_null(tls_get_session(k.s.t, &len));
	send_text(&k, 1, "220 x\r\n");
	assert_non_null(blob = tls_get_session(k.c.t, &len));
	tls_session_free(blob, len);
	conn_close(&k);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_tls13),
		cmocka_unit_test(test_handshake_tls12),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_server_config_errors),
		cmocka_unit_test(test_server_policy),
		cmocka_unit_test(test_no_renegotiation),
		cmocka_unit_test(test_dual_certs),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_unused),
		cmocka_unit_test(test_resume_tls13),
		cmocka_unit_test(test_resume_tls12),
		cmocka_unit_test(test_session_blobs),
		cmocka_unit_test(test_file_keys_tls13),
		cmocka_unit_test(test_file_keys_tls12),
	};

	return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
