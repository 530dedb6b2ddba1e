/*
 * Unit tests for SMTP command line parsing: verbs, MAIL, RCPT and BDAT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/smtp/cmdparse.h"

#define S(x)	x, sizeof(x) - 1

#define MAIL_SYNTAX	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define RCPT_SYNTAX	"501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_SENDER	"501 5.1.7 Bad sender address syntax"
#define BAD_RCPT	"501 5.1.3 Bad recipient address syntax"
#define NEED_UTF8	"553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define P_SYNTAX	"501 5.5.4 Syntax error in parameters"
#define P_UNKNOWN	"555 5.5.4 Unsupported parameter"
#define P_DUP		"501 5.5.4 Duplicate parameter"
#define BAD_SIZE	"501 5.5.4 Bad SIZE parameter"
#define BAD_BODY	"501 5.5.4 Bad BODY parameter"
#define BAD_UTF8P	"501 5.5.4 Bad SMTPUTF8 parameter"
#define BAD_AUTH	"501 5.5.4 Bad AUTH parameter"

struct linevec {
	const char	*in;
	size_t		 len;
	int		 ret;
	enum smtp_verb	 verb;
	const char	*args;
};

static const struct linevec lines[] = {
	{ S(""), -1, VERB_UNKNOWN, "" },
	{ S("EHLO example.com"), 0, VERB_EHLO, "example.com" },
	{ S("ehlo example.com   "), 0, VERB_EHLO, "example.com" },
	{ S("HeLo x"), 0, VERB_HELO, "x" },
	{ S("MAIL FROM:<a@b>"), 0, VERB_MAIL, "FROM:<a@b>" },
	{ S("mail from:<a@b> SIZE=1"), 0, VERB_MAIL, "from:<a@b> SIZE=1" },
	{ S("RCPT  TO:<a@b>"), 0, VERB_RCPT, " TO:<a@b>" },
	{ S("DATA"), 0, VERB_DATA, "" },
	{ S("DATA "), 0, VERB_DATA, "" },
	{ S("data   "), 0, VERB_DATA, "" },
	{ S("BDAT 100 LAST"), 0, VERB_BDAT, "100 LAST" },
	{ S("RSET"), 0, VERB_RSET, "" },
	{ S("NOOP hello"), 0, VERB_NOOP, "hello" },
	{ S("QUIT"), 0, VERB_QUIT, "" },
	{ S("VRFY user"), 0, VERB_VRFY, "user" },
	{ S("EXPN list"), 0, VERB_EXPN, "list" },
	{ S("HELP"), 0, VERB_HELP, "" },
	{ S("STARTTLS"), 0, VERB_STARTTLS, "" },
	{ S("starttls x"), 0, VERB_STARTTLS, "x" },
	{ S("AUTH PLAIN dGVzdA=="), 0, VERB_AUTH, "PLAIN dGVzdA==" },

	/* Not verbs. */
	{ S("MAILFROM:<a@b>"), 0, VERB_UNKNOWN, "" },
	{ S("MAIL\tFROM:<a@b>"), 0, VERB_UNKNOWN, "" },
	{ S(" MAIL FROM:<a@b>"), 0, VERB_UNKNOWN, "MAIL FROM:<a@b>" },
	{ S("STARTTLSX"), 0, VERB_UNKNOWN, "" },
	{ S("XYZZY arg"), 0, VERB_UNKNOWN, "arg" },
	{ S("QUI"), 0, VERB_UNKNOWN, "" },
	{ S("QUIT\0"), 0, VERB_UNKNOWN, "" },
	{ S("NO\0OP"), 0, VERB_UNKNOWN, "" },
	{ S("\0"), 0, VERB_UNKNOWN, "" },
	{ S("MAIL FROM:<a@b>\0"), 0, VERB_UNKNOWN, "" },

	/* HTTP on the SMTP port (ALPACA). */
	{ S("GET / HTTP/1.1"), 0, VERB_HTTP, "/ HTTP/1.1" },
	{ S("get /"), 0, VERB_HTTP, "/" },
	{ S("POST /x HTTP/1.1"), 0, VERB_HTTP, "/x HTTP/1.1" },
	{ S("HEAD"), 0, VERB_HTTP, "" },
	{ S("PUT /"), 0, VERB_HTTP, "/" },
	{ S("DELETE /"), 0, VERB_HTTP, "/" },
	{ S("OPTIONS * HTTP/1.1"), 0, VERB_HTTP, "* HTTP/1.1" },
	{ S("CONNECT a:25 HTTP/1.1"), 0, VERB_HTTP, "a:25 HTTP/1.1" },
	{ S("PATCH /"), 0, VERB_HTTP, "/" },
	{ S("TRACE /"), 0, VERB_HTTP, "/" },
	{ S("Host: example.com"), 0, VERB_HTTP, "" },
	{ S("host:example.com"), 0, VERB_HTTP, "" },
	{ S("User-Agent: curl/8"), 0, VERB_HTTP, "" },
	{ S("USER-AGENT:x"), 0, VERB_HTTP, "" },
	{ S("GETX /"), 0, VERB_UNKNOWN, "/" },
	{ S("Hos: x"), 0, VERB_UNKNOWN, "x" },
};

static void
test_line(void **state)
{
	struct smtp_command	cmd;
	size_t			i;
	int			ret;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct linevec	*v = &lines[i];

		memset(&cmd, 0x55, sizeof(cmd));
		ret = cmdparse_line(v->in, v->len, &cmd);
		if (ret != v->ret || cmd.verb != v->verb ||
		    cmd.argslen != strlen(v->args) ||
		    memcmp(cmd.args, v->args, cmd.argslen) != 0)
			fail_msg("#%zu \"%s\": ret %d verb %s args \"%.*s\"",
			    i, v->in, ret, cmdparse_verb_name(cmd.verb),
			    (int)cmd.argslen, cmd.args);
		/* The arguments always lie inside the line. */
		assert_true(cmd.args >= v->in &&
		    cmd.args + cmd.argslen <= v->in + v->len);
	}
}

static void
test_verb_name(void **state)
{
	assert_string_equal(cmdparse_verb_name(VERB_UNKNOWN), "UNKNOWN");
	assert_string_equal(cmdparse_verb_name(VERB_MAIL), "MAIL");
	assert_string_equal(cmdparse_verb_name(VERB_STARTTLS), "STARTTLS");
	assert_string_equal(cmdparse_verb_name(VERB_AUTH), "AUTH");
	assert_string_equal(cmdparse_verb_name(VERB_HTTP), "HTTP");
	assert_string_equal(cmdparse_verb_name(VERB_COUNT), "UNKNOWN");
	assert_string_equal(cmdparse_verb_name((enum smtp_verb)-1),
	    "UNKNOWN");
}

struct mailvec {
	const char	*in;
	size_t		 len;
	const char	*reply;		/* NULL: accepted */
	const char	*local;
	const char	*domain;
	int		 has_size;
	uint64_t	 size;
	enum body_type	 body;
	int		 smtputf8;
	int		 has_auth;
	const char	*auth;
};

#define OK	NULL

/* A refused command: the reply, and nothing else to compare. */
#define MREF(r)	r, NULL, NULL, 0, 0, BODY_7BIT, 0, 0, NULL
#define RREF(r)	r, NULL, NULL
#define BFAIL	-1, 0, 0

static const struct mailvec mails[] = {
	{ S("FROM:<a@b>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("from:<a@b>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("From: <a@b>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:a@b"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:user@testserver SIZE=5"), OK, "user", "testserver", 1, 5,
	    BODY_7BIT, 0, 0, "" },
	{ S(" FROM:<a@b>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:<>"), OK, "", "", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:<@r,@s:a@b>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:<a@b>  SIZE=10  "), OK, "a", "b", 1, 10, BODY_7BIT, 0, 0,
	    "" },

	{ S("FROM <a@b>"), MREF(MAIL_SYNTAX) },
	{ S("TO:<a@b>"), MREF(MAIL_SYNTAX) },
	{ S(""), MREF(MAIL_SYNTAX) },
	{ S("FRO"), MREF(MAIL_SYNTAX) },
	{ S("FROM:"), MREF(BAD_SENDER) },
	{ S("FROM: "), MREF(BAD_SENDER) },
	{ S("FROM:<a@b"), MREF(BAD_SENDER) },
	{ S("FROM:<a b@c>"), MREF(BAD_SENDER) },
	{ S("FROM:<a@b>x"), MREF(BAD_SENDER) },
	{ S("FROM:<a@b>SIZE=1"), MREF(BAD_SENDER) },
	{ S("FROM:<a@-b>"), MREF(BAD_SENDER) },
	{ S("FROM:<a\xff@x> SMTPUTF8"), MREF(BAD_SENDER) },
	{ S("FROM:<a\xff@x>"), MREF(BAD_SENDER) },

	/* SIZE */
	{ S("FROM:<a@b> SIZE=1000"), OK, "a", "b", 1, 1000, BODY_7BIT, 0, 0,
	    "" },
	{ S("FROM:<a@b> size=0"), OK, "a", "b", 1, 0, BODY_7BIT, 0, 0, "" },
	{ S("FROM:<a@b> SIZE=18446744073709551615"), OK, "a", "b", 1,
	    UINT64_MAX, BODY_7BIT, 0, 0, "" },
	{ S("FROM:<a@b> SIZE=18446744073709551616"), MREF(BAD_SIZE) },
	{ S("FROM:<a@b> SIZE=99999999999999999999999"), MREF(BAD_SIZE) },
	{ S("FROM:<a@b> SIZE=-1"), MREF(BAD_SIZE) },
	{ S("FROM:<a@b> SIZE=+1"), MREF(BAD_SIZE) },
	{ S("FROM:<a@b> SIZE=1x"), MREF(BAD_SIZE) },
	{ S("FROM:<a@b> SIZE"), MREF(BAD_SIZE) },

	/* BODY */
	{ S("FROM:<a@b> BODY=8BITMIME"), OK, "a", "b", 0, 0, BODY_8BITMIME,
	    0, 0, "" },
	{ S("FROM:<a@b> body=7bit"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 0,
	    "" },
	{ S("FROM:<a@b> BODY=BINARYMIME"), MREF(BAD_BODY) },
	{ S("FROM:<a@b> BODY=8BIT"), MREF(BAD_BODY) },
	{ S("FROM:<a@b> BODY"), MREF(BAD_BODY) },

	/* SMTPUTF8, which comes after the path it allows. */
	{ S("FROM:<a@b> SMTPUTF8"), OK, "a", "b", 0, 0, BODY_7BIT, 1, 0,
	    "" },
	{ S("FROM:<a@b> SMTPUTF8=yes"), MREF(BAD_UTF8P) },
	{ S("FROM:<j\xc3\xb6rg@x>"), MREF(NEED_UTF8) },
	{ S("FROM:<a@b\xc3\xbc.de> BODY=8BITMIME"), MREF(NEED_UTF8) },
	{ S("FROM:<j\xc3\xb6rg@x> SMTPUTF8"), OK, "j\xc3\xb6rg", "x", 0, 0,
	    BODY_7BIT, 1, 0, "" },
	{ S("FROM:<j\xc3\xb6rg@x> SMTPUTF8 SIZE=10 BODY=8BITMIME AUTH=<>"),
	    OK, "j\xc3\xb6rg", "x", 1, 10, BODY_8BITMIME, 1, 1, "<>" },

	/* AUTH (RFC 4954 5) with xtext (RFC 3461 4). */
	{ S("FROM:<a@b> AUTH=<>"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 1,
	    "<>" },
	{ S("FROM:<a@b> AUTH=user+40example.com"), OK, "a", "b", 0, 0,
	    BODY_7BIT, 0, 1, "user@example.com" },
	{ S("FROM:<a@b> AUTH=a+2Bb@x"), OK, "a", "b", 0, 0, BODY_7BIT, 0, 1,
	    "a+b@x" },
	{ S("FROM:<a@b> AUTH=a+c3+a9@x"), OK, "a", "b", 0, 0, BODY_7BIT, 0,
	    1, "a\xc3\xa9@x" },
	{ S("FROM:<a@b> AUTH=a+2"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH=a+"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH=a+ZZ"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH=a+00b"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH=a+0D+0Ab"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH=a+7F"), MREF(BAD_AUTH) },
	{ S("FROM:<a@b> AUTH"), MREF(BAD_AUTH) },

	/* Each parameter once; unknown ones refused. */
	{ S("FROM:<a@b> SIZE=1 SIZE=2"), MREF(P_DUP) },
	{ S("FROM:<a@b> size=1 SIZE=x"), MREF(P_DUP) },
	{ S("FROM:<a@b> BODY=7BIT BODY=7BIT"), MREF(P_DUP) },
	{ S("FROM:<a@b> SMTPUTF8 smtputf8"), MREF(P_DUP) },
	{ S("FROM:<a@b> AUTH=<> AUTH=<>"), MREF(P_DUP) },
	{ S("FROM:<a@b> FOO=bar"), MREF(P_UNKNOWN) },
	{ S("FROM:<a@b> RET=FULL"), MREF(P_UNKNOWN) },
	{ S("FROM:<a@b> SIZE=1 X-Y"), MREF(P_UNKNOWN) },
	{ S("FROM:<a@b> SIZE="), MREF(P_SYNTAX) },
	{ S("FROM:<a@b> =x"), MREF(P_SYNTAX) },
	{ S("FROM:<a@b> SIZE=1 FOO="), MREF(P_SYNTAX) },
	{ S("FROM:<a@b> SIZE=1\t"), MREF(P_SYNTAX) },
	/* The path is judged before the parameters. */
	{ S("FROM:<a b> FOO="), MREF(BAD_SENDER) },
	{ S("FROM:<j\xc3\xb6rg@x> FOO=bar"), MREF(P_UNKNOWN) },
};

static void
test_mail(void **state)
{
	struct mail_args	m;
	struct cmd_error	err;
	size_t			i;
	int			ret;

	for (i = 0; i < sizeof(mails) / sizeof(mails[0]); i++) {
		const struct mailvec	*v = &mails[i];

		memset(&m, 0x55, sizeof(m));
		err.reply = "garbage";
		ret = cmdparse_mail(v->in, v->len, &m, &err);
		if (v->reply != NULL) {
			if (ret != -1 || err.reply == NULL ||
			    strcmp(err.reply, v->reply) != 0)
				fail_msg("#%zu \"%s\": ret %d reply \"%s\"", i,
				    v->in, ret, err.reply ? err.reply : "-");
			continue;
		}
		if (ret != 0 || err.reply != NULL)
			fail_msg("#%zu \"%s\": refused: %s", i, v->in,
			    err.reply ? err.reply : "-");
		if (strcmp(m.from.local, v->local) != 0 ||
		    strcmp(m.from.domain, v->domain) != 0 ||
		    m.has_size != v->has_size || m.size != v->size ||
		    m.body != v->body || m.smtputf8 != v->smtputf8 ||
		    m.has_auth != v->has_auth || strcmp(m.auth, v->auth) != 0)
			fail_msg("#%zu \"%s\": got \"%s\"@\"%s\" size %d/%llu "
			    "body %d utf8 %d auth %d \"%s\"", i, v->in,
			    m.from.local, m.from.domain, m.has_size,
			    (unsigned long long)m.size, m.body, m.smtputf8,
			    m.has_auth, m.auth);
	}
}

/* The AUTH value fills mail_args.auth at most, NUL included. */
static void
test_mail_auth_length(void **state)
{
	struct mail_args	m;
	struct cmd_error	err;
	char			buf[600];
	size_t			n, max = sizeof(m.auth) - 1;

	n = (size_t)snprintf(buf, sizeof(buf), "FROM:<a@b> AUTH=");
	memset(buf + n, 'x', max);
	assert_int_equal(cmdparse_mail(buf, n + max, &m, &err), 0);
	assert_int_equal(strlen(m.auth), max);

	memset(buf + n, 'x', max + 1);
	assert_int_equal(cmdparse_mail(buf, n + max + 1, &m, &err), -1);
	assert_string_equal(err.reply, BAD_AUTH);

	/* "+40" is three octets on the wire and one decoded. */
	memset(buf + n, 'x', max - 1);
	memcpy(buf + n + max - 1, "+40", 3);
	assert_int_equal(cmdparse_mail(buf, n + max + 2, &m, &err), 0);
	assert_int_equal(strlen(m.auth), max);
	assert_int_equal(m.auth[max - 1], '@');
}

struct rcptvec {
	const char	*in;
	size_t		 len;
	int		 smtputf8;
	const char	*reply;
	const char	*local;
	const char	*domain;
};

static const struct rcptvec rcpts[] = {
	{ S("TO:<a@b>"), 0, OK, "a", "b" },
	{ S("to:<a@b>"), 0, OK, "a", "b" },
	{ S("To: <a@b>"), 0, OK, "a", "b" },
	{ S("TO:a@b"), 0, OK, "a", "b" },
	{ S(" TO:<a@b>"), 0, OK, "a", "b" },
	{ S("TO:<a@b>   "), 0, OK, "a", "b" },
	{ S("TO:<@r:a@b>"), 0, OK, "a", "b" },
	{ S("TO:<postmaster>"), 0, OK, "postmaster", "" },
	{ S("TO:<POSTMASTER>"), 0, OK, "POSTMASTER", "" },
	{ S("TO:<Postmaster@b>"), 0, OK, "Postmaster", "b" },
	{ S("TO:<j\xc3\xb6rg@x>"), 1, OK, "j\xc3\xb6rg", "x" },

	{ S("TO <a@b>"), 0, RREF(RCPT_SYNTAX) },
	{ S("FROM:<a@b>"), 0, RREF(RCPT_SYNTAX) },
	{ S(""), 0, RREF(RCPT_SYNTAX) },
	{ S("TO:"), 0, RREF(BAD_RCPT) },
	{ S("TO:<>"), 0, RREF(BAD_RCPT) },
	{ S("TO:<a@b"), 0, RREF(BAD_RCPT) },
	{ S("TO:<a@b>x"), 0, RREF(BAD_RCPT) },
	{ S("TO:<user>"), 0, RREF(BAD_RCPT) },
	{ S("TO:<a..b@c>"), 0, RREF(BAD_RCPT) },
	{ S("TO:<j\xc3\xb6rg@x>"), 0, RREF(NEED_UTF8) },
	{ S("TO:<a\xc3@x>"), 1, RREF(BAD_RCPT) },
	{ S("TO:<a@b> NOTIFY=NEVER"), 0, RREF(P_UNKNOWN) },
	{ S("TO:<a@b> X"), 0, RREF(P_UNKNOWN) },
	{ S("TO:<a@b> ="), 0, RREF(P_SYNTAX) },
	{ S("TO:<a@b> X="), 0, RREF(P_SYNTAX) },
};

static void
test_rcpt(void **state)
{
	struct rcpt_args	r;
	struct cmd_error	err;
	size_t			i;
	int			ret;

	for (i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		const struct rcptvec	*v = &rcpts[i];

		memset(&r, 0x55, sizeof(r));
		err.reply = "garbage";
		ret = cmdparse_rcpt(v->in, v->len, v->smtputf8, &r, &err);
		if (v->reply != NULL) {
			if (ret != -1 || err.reply == NULL ||
			    strcmp(err.reply, v->reply) != 0)
				fail_msg("#%zu \"%s\": ret %d reply \"%s\"", i,
				    v->in, ret, err.reply ? err.reply : "-");
			continue;
		}
		if (ret != 0 || err.reply != NULL ||
		    strcmp(r.to.local, v->local) != 0 ||
		    strcmp(r.to.domain, v->domain) != 0)
			fail_msg("#%zu \"%s\": ret %d reply %s "
			    "got \"%s\"@\"%s\"", i, v->in, ret,
			    err.reply ? err.reply : "-", r.to.local,
			    r.to.domain);
	}
}

struct bdatvec {
	const char	*in;
	size_t		 len;
	int		 ret;
	uint64_t	 size;
	int		 last;
};

static const struct bdatvec bdats[] = {
	{ S("100"), 0, 100, 0 },
	{ S("100 LAST"), 0, 100, 1 },
	{ S("100 last"), 0, 100, 1 },
	{ S("0 LAST"), 0, 0, 1 },
	{ S("0"), 0, 0, 0 },
	{ S("100  LAST"), 0, 100, 1 },
	{ S("100 LAST  "), 0, 100, 1 },
	{ S(" 100"), 0, 100, 0 },
	{ S("18446744073709551615"), 0, UINT64_MAX, 0 },
	{ S("00000000000000000001"), 0, 1, 0 },
	{ S("18446744073709551616"), BFAIL },
	{ S("000000000000000000001"), BFAIL },
	{ S("99999999999999999999999 LAST"), BFAIL },
	{ S(""), BFAIL },
	{ S("LAST"), BFAIL },
	{ S("+1"), BFAIL },
	{ S("-1"), BFAIL },
	{ S("1x"), BFAIL },
	{ S("100 LASTX"), BFAIL },
	{ S("100 LAST X"), BFAIL },
	{ S("100 LAS"), BFAIL },
	{ S("100LAST"), BFAIL },
	{ S("1 2"), BFAIL },
	{ S("100\tLAST"), BFAIL },
	{ S("100 \0LAST"), BFAIL },
	{ S("0x10"), BFAIL },
};

static void
test_bdat(void **state)
{
	uint64_t	size;
	size_t		i;
	int		ret, last;

	for (i = 0; i < sizeof(bdats) / sizeof(bdats[0]); i++) {
		const struct bdatvec	*v = &bdats[i];

		size = 12345;
		last = 7;
		ret = cmdparse_bdat(v->in, v->len, &size, &last);
		if (ret != v->ret || (ret == 0 && (size != v->size ||
		    last != v->last)))
			fail_msg("#%zu \"%s\": ret %d size %llu last %d", i,
			    v->in, ret, (unsigned long long)size, last);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_verb_name),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_mail_auth_length),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_bdat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
