/*
 * Unit tests for mail address and ESMTP parameter parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/addr.h"

#define S(x)	x, sizeof(x) - 1

#define NUL	ADDR_ALLOW_NULL
#define UTF8	ADDR_SMTPUTF8
#define NODOM	ADDR_ALLOW_NODOMAIN

struct pathvec {
	const char	*in;
	size_t		 len;
	unsigned	 flags;
	enum addr_error	 err;
	const char	*local;
	const char	*domain;
	size_t		 end;
};

static const struct pathvec paths[] = {
	/* Plain and lenient forms. */
	{ S("<a@b>"), 0, ADDR_OK, "a", "b", 5 },
	{ S("<user@example.com>"), 0, ADDR_OK, "user", "example.com", 18 },
	{ S(" <a@b>"), 0, ADDR_OK, "a", "b", 6 },
	{ S("   <a@b> SIZE=1"), 0, ADDR_OK, "a", "b", 8 },
	{ S("<a@b>junk"), 0, ADDR_OK, "a", "b", 5 },
	{ S("user@testserver"), 0, ADDR_OK, "user", "testserver", 15 },
	{ S("user@testserver SIZE=10"), 0, ADDR_OK, "user", "testserver",
	    15 },
	{ S("\"a b\"@x rest"), 0, ADDR_OK, "\"a b\"", "x", 7 },
	{ S("a@b>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S(""), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("   "), NUL, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@b"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<<a@b>>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("< a@b>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },

	/* The null path. */
	{ S("<>"), 0, ADDR_ENULL, NULL, NULL, 0 },
	{ S("<>"), NUL, ADDR_OK, "", "", 2 },
	{ S(" <> BODY=8BITMIME"), NUL, ADDR_OK, "", "", 3 },

	/* Source routes are dropped. */
	{ S("<@a,@b:user@c>"), 0, ADDR_OK, "user", "c", 14 },
	{ S("<@a.example:u@c>"), 0, ADDR_OK, "u", "c", 16 },
	{ S("<@[1.2.3.4]:u@c>"), 0, ADDR_OK, "u", "c", 16 },
	{ S("<@[IPv6:::1],@x:u@c>"), 0, ADDR_OK, "u", "c", 20 },
	{ S("<@a:>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<@a,b:u@c>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<@:u@c>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<@a;u@c>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },

	/* Local-parts. */
	{ S("<a.b.c@x>"), 0, ADDR_OK, "a.b.c", "x", 9 },
	{ S("<!#$%&'*+-/=?^_`{|}~@x>"), 0, ADDR_OK, "!#$%&'*+-/=?^_`{|}~",
	    "x", 23 },
	{ S("<\"john doe\"@x.org>"), 0, ADDR_OK, "\"john doe\"", "x.org",
	    18 },
	{ S("<\"a\\\"b\"@x>"), 0, ADDR_OK, "\"a\\\"b\"", "x", 10 },
	{ S("<\"a>b\"@x>"), 0, ADDR_OK, "\"a>b\"", "x", 9 },
	{ S("<\"a@b\"@x>"), 0, ADDR_OK, "\"a@b\"", "x", 9 },
	{ S("<\"\"@x>"), 0, ADDR_OK, "\"\"", "x", 6 },
	{ S("<\"unterminated@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<\"a\"b@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<\"a\tb\"@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<\"a\\\x01\"@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<.a@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a.@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a..b@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a b@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a(b)@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a,b@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\x01@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\0@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<@x>"), NUL, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@b@c>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },

	/* Domains. */
	{ S("<a@>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@b c>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x\x7f>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@.x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x.>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x..y>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@-x.com>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x-.com>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x_y.com>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x-y.c0m>"), 0, ADDR_OK, "a", "x-y.c0m", 11 },
	{ S("<A@EXAMPLE.Com>"), 0, ADDR_OK, "A", "EXAMPLE.Com", 15 },
	{ S("<a@[1.2.3.4]>"), 0, ADDR_OK, "a", "[1.2.3.4]", 13 },
	{ S("<a@[IPv6:::1]>"), 0, ADDR_OK, "a", "[IPv6:::1]", 14 },
	{ S("<a@[ipv6:2001:db8::1]>"), 0, ADDR_OK, "a",
	    "[ipv6:2001:db8::1]", 22 },
	{ S("<a@[IPv6:::ffff:1.2.3.4]>"), 0, ADDR_OK, "a",
	    "[IPv6:::ffff:1.2.3.4]", 25 },
	{ S("<a@[1.2.3]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[999.1.1.1]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[IPv6:1.2.3.4]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[::1]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[1.2.3.4]x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[tag:x]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@[1.2.3.4\0]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x.[1.2.3.4]>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },

	/* Postmaster without a domain. */
	{ S("<postmaster>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<postmaster>"), NODOM, ADDR_OK, "postmaster", "", 12 },
	{ S("<PostMaster>"), NODOM, ADDR_OK, "PostMaster", "", 12 },
	{ S("postmaster"), NODOM, ADDR_OK, "postmaster", "", 10 },
	{ S("<postmistress>"), NODOM, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<\"postmaster\">"), NODOM, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<>"), NODOM, ADDR_ENULL, NULL, NULL, 0 },

	/* UTF-8 (RFC 6531). */
	{ S("<j\xc3\xb6rg@example.com>"), 0, ADDR_EUTF8, NULL, NULL, 0 },
	{ S("<j\xc3\xb6rg@example.com>"), UTF8, ADDR_OK, "j\xc3\xb6rg",
	    "example.com", 19 },
	{ S("<a@b\xc3\xbc.de>"), 0, ADDR_EUTF8, NULL, NULL, 0 },
	{ S("<a@b\xc3\xbc.de>"), UTF8, ADDR_OK, "a", "b\xc3\xbc.de", 10 },
	{ S("<\xf0\x9f\x98\x80@x>"), UTF8, ADDR_OK, "\xf0\x9f\x98\x80", "x",
	    8 },
	{ S("<\"\xc3\xa9 x\"@y>"), UTF8, ADDR_OK, "\"\xc3\xa9 x\"", "y", 10 },
	{ S("<\"\xc3\xa9 x\"@y>"), 0, ADDR_EUTF8, NULL, NULL, 0 },
	{ S("<a\xff@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xff@x>"), 0, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xc0\xaf@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xe0\x80\xaf@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xed\xa0\x80@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xf4\x90\x80\x80@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\xc3@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a\x80@x>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
	{ S("<a@x\xc3>"), UTF8, ADDR_ESYNTAX, NULL, NULL, 0 },
};

static void
test_paths(void **state)
{
	struct mailaddr	a;
	enum addr_error	e;
	size_t		i, end;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct pathvec	*v = &paths[i];

		memset(&a, 0x55, sizeof(a));
		end = 12345;
		e = addr_parse_path(v->in, v->len, v->flags, &a, &end);
		if (e != v->err)
			fail_msg("#%zu \"%s\": error %d, want %d", i, v->in, e,
			    v->err);
		if (e != ADDR_OK)
			continue;
		if (strcmp(a.local, v->local) != 0 ||
		    strcmp(a.domain, v->domain) != 0 || end != v->end)
			fail_msg("#%zu \"%s\": got \"%s\" \"%s\" end %zu", i,
			    v->in, a.local, a.domain, end);
	}
}

/* Fill buf with "<" + n1 chars + "@" + domain of dlen + ">". */
static size_t
build(char *buf, size_t llen, size_t dlen, size_t labelmax)
{
	size_t	i, o = 0, label = 0;

	buf[o++] = '<';
	for (i = 0; i < llen; i++)
		buf[o++] = 'l';
	buf[o++] = '@';
	for (i = 0; i < dlen; i++) {
		/* A dot every labelmax octets, never first or last. */
		if (label == labelmax && i + 1 < dlen) {
			buf[o++] = '.';
			label = 0;
		} else {
			buf[o++] = 'd';
			label++;
		}
	}
	buf[o++] = '>';
	return o;
}

static void
test_limits(void **state)
{
	struct mailaddr	a;
	char		buf[1024];
	size_t		n, end;

	/* Local-part: 64 octets. */
	n = build(buf, 64, 1, 63);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end), ADDR_OK);
	assert_int_equal(strlen(a.local), 64);
	n = build(buf, 65, 1, 63);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end),
	    ADDR_ETOOLONG);

	/* A label: 63 octets. */
	n = build(buf, 1, 63, 63);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end), ADDR_OK);
	n = build(buf, 1, 64, 64);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end),
	    ADDR_ETOOLONG);

	/* The path between the brackets: 256 octets. */
	n = build(buf, 64, 191, 63);
	assert_int_equal(n - 2, 256);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end), ADDR_OK);
	assert_int_equal(end, n);
	assert_int_equal(strlen(a.domain), 191);
	n = build(buf, 64, 192, 63);
	assert_int_equal(addr_parse_path(buf, n, 0, &a, &end),
	    ADDR_ETOOLONG);

	/* A domain of 255 octets, checked on its own. */
	n = build(buf, 0, 255, 63);
	assert_true(addr_valid_domain(buf + 2, 255, 0));
	n = build(buf, 0, 256, 63);
	assert_false(addr_valid_domain(buf + 2, 256, 0));

	/* Nothing is read past len, NUL or not. */
	assert_int_equal(addr_parse_path("<a@b>", 4, 0, &a, &end),
	    ADDR_ESYNTAX);
	assert_int_equal(addr_parse_path("a@bcd", 3, 0, &a, &end), ADDR_OK);
	assert_string_equal(a.domain, "b");
}

struct domvec {
	const char	*in;
	int		 utf8;
	int		 valid;
};

static const struct domvec domains[] = {
	{ "example.com", 0, 1 },
	{ "a", 0, 1 },
	{ "123", 0, 1 },
	{ "xn--bcher-kva.ch", 0, 1 },
	{ "b\xc3\xbc" "cher.ch", 0, 0 },
	{ "b\xc3\xbc" "cher.ch", 1, 1 },
	{ "b\xc3" "cher.ch", 1, 0 },
	{ "[1.2.3.4]", 0, 1 },
	{ "[IPv6:2001:db8::42]", 0, 1 },
	{ "[IPv6:2001:db8::g]", 0, 0 },
	{ "", 0, 0 },
	{ ".", 0, 0 },
	{ "-a", 0, 0 },
	{ "a-", 0, 0 },
	{ "a.-b", 0, 0 },
	{ "ex_ample.com", 0, 0 },
	{ "example.com.", 0, 0 },
	{ "exa mple.com", 0, 0 },
	{ "[1.2.3.4", 0, 0 },
};

static void
test_valid_domain(void **state)
{
	size_t	i;

	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		if (addr_valid_domain(domains[i].in, strlen(domains[i].in),
		    domains[i].utf8) != domains[i].valid)
			fail_msg("\"%s\" utf8=%d: want %d", domains[i].in,
			    domains[i].utf8, domains[i].valid);
}

struct record {
	char	buf[256];
	size_t	len;
};

/* Writes "KEY=VAL;" or "KEY;" for each; "STOP" stops with 7. */
static int
record_param(void *arg, const char *key, size_t keylen, const char *val,
    size_t vallen)
{
	struct record	*r = arg;

	if (keylen == 4 && memcmp(key, "STOP", 4) == 0)
		return 7;
	assert_true(r->len + keylen + vallen + 2 < sizeof(r->buf));
	memcpy(r->buf + r->len, key, keylen);
	r->len += keylen;
	if (val != NULL) {
		assert_true(vallen > 0);
		r->buf[r->len++] = '=';
		memcpy(r->buf + r->len, val, vallen);
		r->len += vallen;
	} else
		assert_int_equal(vallen, 0);
	r->buf[r->len++] = ';';
	r->buf[r->len] = '\0';
	return 0;
}

struct paramvec {
	const char	*in;
	size_t		 len;
	int		 ret;
	const char	*seen;
};

static const struct paramvec params[] = {
	{ S(""), 0, "" },
	{ S("   "), 0, "" },
	{ S(" SIZE=100"), 0, "SIZE=100;" },
	{ S("SIZE=100"), 0, "SIZE=100;" },
	{ S(" SIZE=100  BODY=8BITMIME"), 0, "SIZE=100;BODY=8BITMIME;" },
	{ S(" SMTPUTF8"), 0, "SMTPUTF8;" },
	{ S(" A-B=c  X  "), 0, "A-B=c;X;" },
	{ S(" AUTH=<>"), 0, "AUTH=<>;" },
	{ S(" AUTH=a+2Bb@x"), 0, "AUTH=a+2Bb@x;" },
	{ S(" 8BITMIME"), 0, "8BITMIME;" },
	{ S(" A STOP B"), 7, "A;" },
	{ S(" KEY="), -1, "" },
	{ S(" =x"), -1, "" },
	{ S(" -K"), -1, "" },
	{ S(" K=a=b"), -1, "" },
	{ S(" K\t"), -1, "" },
	{ S(" K\tL"), -1, "" },
	{ S(" K=\x7f"), -1, "" },
	{ S(" K=\x80"), -1, "" },
	{ S(" K=a\0"), -1, "" },
	{ S(" K_x"), -1, "" },
	{ S(" K=a\r\n"), -1, "" },
	/* A syntax error anywhere means no callback at all. */
	{ S(" A B="), -1, "" },
	{ S(" STOP B="), -1, "" },
};

static void
test_params(void **state)
{
	struct record	r;
	size_t		i;
	int		ret;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		memset(&r, 0, sizeof(r));
		ret = addr_parse_params(params[i].in, params[i].len,
		    record_param, &r);
		if (ret != params[i].ret || strcmp(r.buf, params[i].seen) != 0)
			fail_msg("#%zu \"%s\": ret %d seen \"%s\"", i,
			    params[i].in, ret, r.buf);
	}
}

static void
test_format(void **state)
{
	struct mailaddr	a;
	char		buf[300];

	memset(&a, 0, sizeof(a));
	strcpy(a.local, "a");
	strcpy(a.domain, "b");
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a@b");
	assert_int_equal(addr_format(&a, buf, 4), 0);
	assert_string_equal(buf, "a@b");
	assert_int_equal(addr_format(&a, buf, 3), -1);
	assert_int_equal(addr_format(&a, buf, 0), -1);

	a.domain[0] = '\0';
	strcpy(a.local, "postmaster");
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "postmaster");

	memset(&a, 0, sizeof(a));
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void
test_lower(void **state)
{
	char	buf[32];

	assert_int_equal(addr_lower("Hello@EXAMPLE.com", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "hello@example.com");
	assert_int_equal(addr_lower("AB", buf, 3), 0);
	assert_string_equal(buf, "ab");
	assert_int_equal(addr_lower("ABC", buf, 3), -1);
	assert_int_equal(addr_lower("\xc3\x89Z", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "\xc3\x89z");
	assert_int_equal(addr_lower("", buf, 1), 0);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_valid_domain),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_lower),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
