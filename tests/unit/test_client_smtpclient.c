/*
 * Unit tests for the tester's SMTP connection and AUTH exchanges, against
 * a scripted server on a loopback socket (a thread of this process):
 * replies in pieces and pipelined, timeouts, garbage, hang-ups,
 * dot-stuffing, and every mechanism's exchange including the failures a
 * client must catch (a SCRAM server that cannot prove itself).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/smtpclient.h"
#include "common/base64.h"
#include "common/reply.h"

#define S(x)	x, sizeof(x) - 1

struct pair {
	struct smtpc	*c;
	int		 sfd;		/* the server's end */
	int		 lfd;
	char		 port[16];
};

/* A connection that may carry credentials in clear (SMTPC_ALLOW_*). */
static void
pair_open_allow(struct pair *p, int timeout_ms, int allow)
{
	struct sockaddr_in	 sin;
	struct smtpc_opts	 o;
	socklen_t		 sl = sizeof(sin);
	char			 err[256];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(p->lfd, 1), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &sl),
	    0);
	snprintf(p->port, sizeof(p->port), "%d", ntohs(sin.sin_port));
	memset(&o, 0, sizeof(o));
	o.family = AF_INET;
	o.timeout_ms = timeout_ms;
	o.allow = allow;
	p->c = smtpc_connect("127.0.0.1", p->port, &o, err, sizeof(err));
	assert_non_null(p->c);
	p->sfd = accept(p->lfd, NULL, NULL);
	assert_true(p->sfd >= 0);
	assert_string_equal(smtpc_peer_addr(p->c), "127.0.0.1");
	assert_string_equal(smtpc_local_addr(p->c), "127.0.0.1");
}

/* The AUTH tests run in clear on loopback, as --insecure-plaintext-auth. */
static void
pair_open(struct pair *p, int timeout_ms)
{
	pair_open_allow(p, timeout_ms, SMTPC_ALLOW_PLAINTEXT);
}

static void
pair_close(struct pair *p)
{
	smtpc_close(p->c);
	if (p->sfd != -1)
		close(p->sfd);
	close(p->lfd);
}

static void
put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* One line from the server's end, without CRLF; NULL at EOF. */
static char *
get_line(int fd, char *buf, size_t size)
{
	size_t	n = 0;
	char	c;

	while (n + 1 < size) {
		if (read(fd, &c, 1) != 1)
			return NULL;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return buf;
}

static void
test_replies(void **state)
{
	struct pair		 p;
	const struct reply	*r;

	pair_open(&p, 2000);
	put(p.sfd, "220-mx.test\r\n220 ESMTP\r\n250 2.0.0 ok\r\n35");
	assert_int_equal(smtpc_read_reply(p.c, &r), 0);
	assert_int_equal(r->code, 220);
	assert_int_equal(r->nlines, 2);
	assert_int_equal(smtpc_wait(p.c, 0), 1);	/* buffered */
	assert_int_equal(smtpc_read_reply(p.c, &r), 0);
	assert_string_equal(r->enhanced, "2.0.0");
	assert_true(smtpc_pending(p.c) > 0);
	put(p.sfd, "4 go\r\n");
	assert_int_equal(smtpc_read_reply(p.c, &r), 0);
	assert_int_equal(r->code, 354);
	assert_int_equal(smtpc_pending(p.c), 0);
	assert_int_equal(smtpc_wait(p.c, 50), 0);
	assert_true(smtpc_alive(p.c));
	pair_close(&p);
}

static void
test_timeout_and_close(void **state)
{
	struct pair		 p;
	const struct reply	*r;

	pair_open(&p, 200);
	put(p.sfd, "220 partial");
	assert_int_equal(smtpc_read_reply(p.c, &r), -1);
	assert_non_null(strstr(smtpc_error(p.c), "timed out"));
	assert_false(smtpc_alive(p.c));
	pair_close(&p);

	pair_open(&p, 2000);
	put(p.sfd, "220 partial");
	close(p.sfd);
	p.sfd = -1;
	assert_int_equal(smtpc_read_reply(p.c, &r), -1);
	assert_non_null(strstr(smtpc_error(p.c), "closed"));
	assert_int_equal(smtpc_wait(p.c, 10), -1);
	pair_close(&p);
}

static void
test_garbage(void **state)
{
	struct pair		 p;
	const struct reply	*r;

	pair_open(&p, 2000);
	put(p.sfd, "HTTP/1.0 400 Bad Request\r\n");
	assert_int_equal(smtpc_read_reply(p.c, &r), -1);
	assert_non_null(strstr(smtpc_error(p.c), "not an SMTP reply"));
	assert_false(smtpc_alive(p.c));
	assert_int_equal(smtpc_send_line(p.c, 0, S("QUIT")), -1);
	pair_close(&p);
}

/* Not a reply: "malformed", with the line as it came, escaped. */
static const struct {
	const char	*in;
	const char	*err;
} malformed[] = {
	{ "hello\r\n", "malformed reply (not an SMTP reply line): "
	    "\"hello\"" },
	{ "25O ok\r\n", "malformed reply (not an SMTP reply line): "
	    "\"25O ok\"" },
	{ "220-a\r\n250 b\r\n", "malformed reply (reply code changes "
	    "between lines): \"250 b\"" },
	{ "22\r\n", "malformed reply (reply line shorter than its code): "
	    "\"22\"" },
	{ "220 a\rb\r\n", "malformed reply (CR not followed by LF in a "
	    "reply): \"220 ab\"" },
	{ "\x1b[2J\xff\r\n", "malformed reply (not an SMTP reply line): "
	    "\"\\x1b[2J\\xff\"" },
	/* A TLS alert where a greeting should be. */
	{ "\x15\x03\x03\x00\x02\x02\x46", "malformed reply: a TLS record "
	    "where an SMTP reply was expected: this port speaks implicit "
	    "TLS (--tls implicit)" },
};

static void
test_malformed(void **state)
{
	struct pair		 p;
	const struct reply	*r;
	size_t			 i;

	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		pair_open(&p, 2000);
		put(p.sfd, malformed[i].in);
		assert_int_equal(smtpc_read_reply(p.c, &r), -1);
		assert_true(smtpc_malformed(p.c));
		assert_string_equal(smtpc_error(p.c), malformed[i].err);
		pair_close(&p);
	}
	/* Silence is not malformed. */
	pair_open(&p, 100);
	assert_int_equal(smtpc_read_reply(p.c, &r), -1);
	assert_false(smtpc_malformed(p.c));
	assert_non_null(strstr(smtpc_error(p.c), "timed out"));
	pair_close(&p);
}

static void
test_send(void **state)
{
	static const char	 msg[] = ".first\nsecond\r\n.\r\rthird\n..";
	static const char	 want[] = "EHLO x\r\n..first\r\nsecond\r\n"
				    "..\r\n\r\nthird\r\n...\r\n.\r\n";
	struct pair		 p;
	char			 buf[256];
	size_t			 n = 0;
	ssize_t			 k;

	pair_open(&p, 2000);
	assert_int_equal(smtpc_send_line(p.c, 0, S("MAIL FROM:<a@b>\r\n"
	    "RCPT TO:<evil@x>")), -1);
	assert_true(smtpc_alive(p.c));
	assert_int_equal(smtpc_send_line(p.c, 0, S("EHLO x")), 0);
	assert_int_equal(smtpc_data(p.c, msg, sizeof(msg) - 1), 0);
	while (n < sizeof(want) - 1 &&
	    (k = read(p.sfd, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)k;
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, n);
	pair_close(&p);
}

static void
test_connect_refused(void **state)
{
	struct smtpc_opts	o;
	struct pair		p;
	char			err[256], port[16], name[1100];

	pair_open(&p, 1000);
	snprintf(port, sizeof(port), "%s", p.port);
	pair_close(&p);		/* nobody listens there now */
	memset(&o, 0, sizeof(o));
	o.timeout_ms = 1000;
	assert_null(smtpc_connect("127.0.0.1", port, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "refused"));
	/* errno tells a closed port from a name that does not resolve. */
	assert_int_equal(errno, ECONNREFUSED);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	errno = EINTR;
	assert_null(smtpc_connect(name, port, &o, err, sizeof(err)));
	assert_int_equal(errno, 0);
}

/*
 * AUTH exchanges.  The server thread plays a script: for each line the
 * client sends, the reply to give (a function may make it).
 */
struct script {
	int		 fd;
	const char	*replies[8];	/* "" (no reply): end */
	char		 got[8][1024];	/* what the client sent */
	int		 ngot;
	/* Make the reply to line i from what came, or NULL: use replies. */
	const char	*(*make)(struct script *, int, const char *);
	char		 made[1024];
};

static void *
serve(void *arg)
{
	struct script	*s = arg;
	const char	*reply;
	char		 line[1024];
	int		 i;

	for (i = 0; i < 8 && s->replies[i] != NULL; i++) {
		if (get_line(s->fd, line, sizeof(line)) == NULL)
			break;
		snprintf(s->got[i], sizeof(s->got[i]), "%s", line);
		s->ngot = i + 1;
		reply = s->make != NULL ? s->make(s, i, line) : NULL;
		if (reply == NULL)
			reply = s->replies[i];
		if (reply[0] == '\0')
			break;
		put(s->fd, reply);
	}
	return NULL;
}

static void
run_auth(struct script *s, enum auth_mech m, const struct auth_cred *cr,
    struct auth_result *res)
{
	struct pair	p;
	pthread_t	t;

	pair_open(&p, 3000);
	s->fd = p.sfd;
	assert_int_equal(pthread_create(&t, NULL, serve, s), 0);
	(void)auth_run(p.c, m, cr, res);
	pthread_join(t, NULL);
	pair_close(&p);
}

static const struct auth_cred cred = {
	.user = "user@example.org", .userlen = 16,
	.pass = "p@ss 1", .passlen = 6,
	.token = "tok", .tokenlen = 3,
};

static void
test_auth_plain(void **state)
{
	struct script		s = { .replies = {
	    "235 2.7.0 Authentication successful\r\n" } };
	struct auth_result	res;
	char			want[128];

	run_auth(&s, AUTH_MECH_PLAIN, &cred, &res);
	assert_int_equal(res.outcome, 1);
	assert_int_equal(res.code, 235);
	assert_string_equal(res.enhanced, "2.7.0");
	assert_false(res.challenged);
	base64_encode("\0user@example.org\0p@ss 1", 24, want, sizeof(want),
	    NULL);
	assert_string_equal(s.got[0] + 11, want);
	assert_memory_equal(s.got[0], "AUTH PLAIN ", 11);

	/* A 334 after the initial response: cancelled, never a success. */
	memset(&s, 0, sizeof(s));
	s.replies[0] = "334 \r\n";
	s.replies[1] = "235 ok\r\n";
	run_auth(&s, AUTH_MECH_PLAIN, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_string_equal(s.got[1], "*");
}

static void
test_auth_login(void **state)
{
	struct script		s = { .replies = { "334 VXNlcm5hbWU6\r\n",
	    "334 UGFzc3dvcmQ6\r\n", "535 5.7.8 no\r\n" } };
	struct auth_result	res;

	run_auth(&s, AUTH_MECH_LOGIN, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_int_equal(res.code, 535);
	assert_true(res.challenged);
	assert_string_equal(s.got[0], "AUTH LOGIN");
	assert_string_equal(s.got[1], "dXNlckBleGFtcGxlLm9yZw==");
	assert_string_equal(s.got[2], "cEBzcyAx");

	/* 454 before any challenge: temporary. */
	memset(&s, 0, sizeof(s));
	s.replies[0] = "454 4.7.0 try later\r\n";
	run_auth(&s, AUTH_MECH_LOGIN, &cred, &res);
	assert_int_equal(res.outcome, -1);
	assert_int_equal(res.code, 454);
}

static void
test_auth_cram(void **state)
{
	static const char	 chal[] = "<1896.697170952@postoffice.example>";
	struct script		 s = { .replies = { NULL, "235 ok\r\n" } };
	struct auth_result	 res;
	unsigned char		 mac[EVP_MAX_MD_SIZE];
	unsigned int		 maclen, i;
	char			 line[256], b[128], want[128];
	size_t			 n;

	base64_encode(chal, sizeof(chal) - 1, b, sizeof(b), NULL);
	snprintf(line, sizeof(line), "334 %s\r\n", b);
	s.replies[0] = line;
	run_auth(&s, AUTH_MECH_CRAM_MD5, &cred, &res);
	assert_int_equal(res.outcome, 1);
	assert_string_equal(s.got[0], "AUTH CRAM-MD5");
	assert_non_null(HMAC(EVP_md5(), "p@ss 1", 6,
	    (const unsigned char *)chal, sizeof(chal) - 1, mac, &maclen));
	n = (size_t)snprintf(want, sizeof(want), "user@example.org ");
	for (i = 0; i < maclen; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%02x",
		    mac[i]);
	base64_encode(want, n, b, sizeof(b), NULL);
	assert_string_equal(s.got[1], b);
}

/* SCRAM servers that fail in the ways a client must notice. */
static const char *
scram_first(struct script *s, int i, const char *line)
{
	char	dec[512], msg[600];
	size_t	n;
	char	*r;

	if (i != 0)
		return NULL;
	/* "AUTH SCRAM-SHA-256 " base64("n,,n=user,r=NONCE") */
	assert_int_equal(base64_decode(line + 19, strlen(line + 19), dec,
	    sizeof(dec) - 1, &n), 0);
	dec[n] = '\0';
	assert_memory_equal(dec, "n,,n=user@example.org,r=", 24);
	r = dec + 24;
	snprintf(msg, sizeof(msg), "r=%sSERVER,s=c2FsdHNhbHQ=,i=4096", r);
	base64_encode(msg, strlen(msg), dec, sizeof(dec), NULL);
	snprintf(s->made, sizeof(s->made), "334 %s\r\n", dec);
	return s->made;
}

static void
test_auth_scram_failures(void **state)
{
	struct script		s;
	struct auth_result	res;
	char			bad[128], b[64];

	/* A signature that does not verify: "*", and a failure. */
	memset(&s, 0, sizeof(s));
	base64_encode("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 46, b,
	    sizeof(b), NULL);
	snprintf(bad, sizeof(bad), "334 %s\r\n", b);
	s.make = scram_first;
	s.replies[0] = "";
	s.replies[1] = bad;
	s.replies[2] = "235 2.7.0 welcome anyway\r\n";
	run_auth(&s, AUTH_MECH_SCRAM_SHA256, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_string_equal(s.got[2], "*");
	assert_false(res.scram_verified);
	assert_non_null(strstr(res.detail, "signature"));

	/* 235 without a server signature: success, unproven. */
	memset(&s, 0, sizeof(s));
	s.make = scram_first;
	s.replies[0] = "";
	s.replies[1] = "235 2.7.0 ok\r\n";
	run_auth(&s, AUTH_MECH_SCRAM_SHA256, &cred, &res);
	assert_int_equal(res.outcome, 1);
	assert_false(res.scram_verified);
	assert_non_null(strstr(res.detail, "signature"));

	/* "e=": the server's error, then its final 535. */
	memset(&s, 0, sizeof(s));
	base64_encode("e=invalid-proof", 15, b, sizeof(b), NULL);
	snprintf(bad, sizeof(bad), "334 %s\r\n", b);
	s.make = scram_first;
	s.replies[0] = "";
	s.replies[1] = bad;
	s.replies[2] = "535 5.7.8 no\r\n";
	run_auth(&s, AUTH_MECH_SCRAM_SHA256, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_int_equal(res.code, 535);
	assert_string_equal(s.got[2], "");
	assert_non_null(strstr(res.detail, "invalid-proof"));

	/* A server nonce that does not extend ours. */
	memset(&s, 0, sizeof(s));
	base64_encode("r=other,s=c2FsdA==,i=4096", 25, b, sizeof(b), NULL);
	snprintf(bad, sizeof(bad), "334 %s\r\n", b);
	s.replies[0] = bad;
	s.replies[1] = "501 cancelled\r\n";
	run_auth(&s, AUTH_MECH_SCRAM_SHA256, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_string_equal(s.got[1], "*");
}

static void
test_auth_xoauth2(void **state)
{
	struct script		s = { .replies = {
	    "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n", "535 5.7.8 no\r\n" } };
	struct auth_result	res;

	run_auth(&s, AUTH_MECH_XOAUTH2, &cred, &res);
	assert_int_equal(res.outcome, 0);
	assert_memory_equal(s.got[0], "AUTH XOAUTH2 ", 13);
	assert_string_equal(s.got[1], "");
}

static void
test_mechs(void **state)
{
	struct auth_cred	c = cred;

	assert_int_equal(auth_mech_from_name("scram-sha-256"),
	    AUTH_MECH_SCRAM_SHA256);
	assert_int_equal(auth_mech_from_name("Plain"), AUTH_MECH_PLAIN);
	assert_int_equal(auth_mech_from_name("GSSAPI"), AUTH_MECH_NONE);
	assert_string_equal(auth_mech_name(AUTH_MECH_CRAM_MD5), "CRAM-MD5");
	assert_int_equal(auth_mech_best(S("PLAIN LOGIN CRAM-MD5 "
	    "SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2"), &c),
	    AUTH_MECH_SCRAM_SHA256);
	assert_int_equal(auth_mech_best(S("LOGIN SCRAM-SHA-1 PLAIN"), &c),
	    AUTH_MECH_SCRAM_SHA1);
	assert_int_equal(auth_mech_best(S("LOGIN CRAM-MD5 PLAIN"), &c),
	    AUTH_MECH_CRAM_MD5);
	assert_int_equal(auth_mech_best(S("login plain"), &c),
	    AUTH_MECH_PLAIN);
	assert_int_equal(auth_mech_best(S("LOGIN"), &c), AUTH_MECH_LOGIN);
	assert_int_equal(auth_mech_best(S("XOAUTH2 GSSAPI"), &c),
	    AUTH_MECH_NONE);
	/* SASLprep takes this password; SCRAM it is. */
	c.pass = "p\xc3\xa4ss";
	c.passlen = 5;
	assert_int_equal(auth_mech_best(S("SCRAM-SHA-256 PLAIN"), &c),
	    AUTH_MECH_SCRAM_SHA256);
	assert_null(auth_mech_unusable(AUTH_MECH_SCRAM_SHA256, &c));
	/* It refuses this one (a private-use character): skip SCRAM. */
	c.pass = "p\xee\x80\x80ss";
	c.passlen = 6;
	assert_int_equal(auth_mech_best(S("SCRAM-SHA-256 PLAIN"), &c),
	    AUTH_MECH_PLAIN);
	assert_non_null(auth_mech_unusable(AUTH_MECH_SCRAM_SHA256, &c));
	c.token = NULL;
	c.tokenlen = 0;
	assert_non_null(auth_mech_unusable(AUTH_MECH_XOAUTH2, &c));
	c.pass = NULL;
	c.passlen = 0;
	assert_non_null(auth_mech_unusable(AUTH_MECH_PLAIN, &c));
}

/*
 * The gate in auth_run(): a real credential goes only where this
 * connection's own state allows, and nothing at all is sent otherwise.
 */
static void
test_credential_gate(void **state)
{
	struct auth_cred	c = cred;
	struct auth_result	res;
	struct pair		p;
	char			buf[16];

	assert_null(smtpc_credential_rule(1, 1, 0));
	assert_non_null(smtpc_credential_rule(1, 0, 0));
	assert_non_null(smtpc_credential_rule(1, 0, SMTPC_ALLOW_PLAINTEXT));
	assert_null(smtpc_credential_rule(1, 0, SMTPC_ALLOW_UNVERIFIED));
	assert_non_null(smtpc_credential_rule(0, 0, 0));
	assert_non_null(smtpc_credential_rule(0, 0, SMTPC_ALLOW_UNVERIFIED));
	assert_null(smtpc_credential_rule(0, 0, SMTPC_ALLOW_PLAINTEXT));

	pair_open_allow(&p, 1000, 0);
	assert_non_null(smtpc_credential_refused(p.c));
	assert_int_equal(auth_run(p.c, AUTH_MECH_PLAIN, &c, &res), -1);
	assert_non_null(strstr(res.detail, "no TLS"));
	assert_int_equal(auth_run(p.c, AUTH_MECH_LOGIN, &c, &res), -1);
	/* Nothing reached the server: its end reads EOF at once. */
	smtpc_close(p.c);
	p.c = NULL;
	assert_int_equal(read(p.sfd, buf, sizeof(buf)), 0);
	pair_close(&p);

	/* A probe's made-up password is not held back. */
	pair_open_allow(&p, 1000, 0);
	c.probe = 1;
	put(p.sfd, "535 5.7.8 no\r\n");
	assert_int_equal(auth_run(p.c, AUTH_MECH_PLAIN, &c, &res), 0);
	assert_int_equal(res.code, 535);
	pair_close(&p);
}

static void
test_target(void **state)
{
	struct cliopts	o;
	char		err[128];

	cliopt_init(&o);
	assert_int_equal(cliopt_target(&o, "mx.example.org", err,
	    sizeof(err)), 0);
	assert_string_equal(o.host, "mx.example.org");
	assert_string_equal(o.port, "25");
	assert_int_equal(o.tls, TLSMODE_STARTTLS);
	cliopt_init(&o);
	assert_int_equal(cliopt_target(&o, "mx:465", err, sizeof(err)), 0);
	assert_int_equal(o.tls, TLSMODE_IMPLICIT);
	assert_string_equal(o.target, "mx:465");
	cliopt_init(&o);
	o.tls = TLSMODE_NONE;
	assert_int_equal(cliopt_target(&o, "[::1]:587", err, sizeof(err)), 0);
	assert_string_equal(o.host, "[::1]");
	assert_string_equal(o.port, "587");
	assert_int_equal(o.tls, TLSMODE_NONE);
	cliopt_init(&o);
	assert_int_equal(cliopt_target(&o, "2001:db8::1", err, sizeof(err)),
	    0);
	assert_string_equal(o.target, "[2001:db8::1]:25");
	assert_false(o.port_given);
	/* The ports of one host, each with its own default TLS mode. */
	cliopt_set_port(&o, 465);
	assert_string_equal(o.target, "[2001:db8::1]:465");
	assert_int_equal(o.tls, TLSMODE_IMPLICIT);
	cliopt_set_port(&o, 587);
	assert_int_equal(o.tls, TLSMODE_STARTTLS);
	err[0] = '\0';
	assert_int_equal(cliopt_parse(&o, OPT_TLS, "none", err, sizeof(err)),
	    1);
	cliopt_set_port(&o, 465);
	assert_int_equal(o.tls, TLSMODE_NONE);
	assert_int_equal(cliopt_target(&o, "mx:2525", err, sizeof(err)), 0);
	assert_true(o.port_given);
	assert_int_equal(cliopt_target(&o, "mx:0", err, sizeof(err)), -1);
	assert_int_equal(cliopt_target(&o, "mx:70000", err, sizeof(err)), -1);
	assert_int_equal(cliopt_target(&o, "mx:2x", err, sizeof(err)), -1);
	assert_int_equal(cliopt_target(&o, ":25", err, sizeof(err)), -1);
	assert_int_equal(cliopt_target(&o, "[::1", err, sizeof(err)), -1);
	assert_int_equal(cliopt_target(&o, "[::1]x", err, sizeof(err)), -1);
	assert_true(cliopt_is_address("a@b.c"));
	assert_false(cliopt_is_address("a@"));
	assert_false(cliopt_is_address("@b"));
	assert_false(cliopt_is_address("a b@c"));
	assert_false(cliopt_is_address("a@b\r\nRCPT TO:<x@y>"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_timeout_and_close),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_cram),
		cmocka_unit_test(test_auth_scram_failures),
		cmocka_unit_test(test_auth_xoauth2),
		cmocka_unit_test(test_mechs),
		cmocka_unit_test(test_credential_gate),
		cmocka_unit_test(test_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
