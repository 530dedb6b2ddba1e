/*
 * Unit tests for the SMTP reply parser: tables of good and bad replies,
 * every reply fed split at every octet, pipelined replies one at a time,
 * the limits, and the helpers for enhanced codes and EHLO keywords.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/reply.h"

#define S(x)	x, sizeof(x) - 1

struct good {
	const char	*in;
	size_t		 len;
	int		 code;
	const char	*enhanced;
	size_t		 nlines;
	const char	*first;		/* text of the first line */
	const char	*last;		/* text of the last line */
	int		 bare_lf;
};

static const struct good goods[] = {
	{ S("220 mx.test ESMTP\r\n"), 220, "", 1, "mx.test ESMTP",
	    "mx.test ESMTP", 0 },
	{ S("250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"),
	    250, "", 3, "mx.test", "AUTH PLAIN LOGIN", 0 },
	{ S("250\r\n"), 250, "", 1, "", "", 0 },
	{ S("250 \r\n"), 250, "", 1, "", "", 0 },
	{ S("250-\r\n250 ok\r\n"), 250, "", 2, "", "ok", 0 },
	{ S("550 5.7.1 Relay access denied\r\n"), 550, "5.7.1", 1,
	    "5.7.1 Relay access denied", "5.7.1 Relay access denied", 0 },
	{ S("235 2.7.0 Authentication successful\r\n"), 235, "2.7.0", 1,
	    "2.7.0 Authentication successful",
	    "2.7.0 Authentication successful", 0 },
	{ S("538 5.7.11 Encryption required\r\n"), 538, "5.7.11", 1,
	    "5.7.11 Encryption required", "5.7.11 Encryption required", 0 },
	{ S("250 2.0.0\r\n"), 250, "2.0.0", 1, "2.0.0", "2.0.0", 0 },
	{ S("452 4.123.456 x\r\n"), 452, "4.123.456", 1, "4.123.456 x",
	    "4.123.456 x", 0 },
	/* Enhanced codes that are not: class mismatch, too many digits. */
	{ S("550 4.7.1 wrong class\r\n"), 550, "", 1, "4.7.1 wrong class",
	    "4.7.1 wrong class", 0 },
	{ S("550 5.7.1234 x\r\n"), 550, "", 1, "5.7.1234 x", "5.7.1234 x",
	    0 },
	{ S("550 5.7.1x\r\n"), 550, "", 1, "5.7.1x", "5.7.1x", 0 },
	{ S("550 5..1 x\r\n"), 550, "", 1, "5..1 x", "5..1 x", 0 },
	{ S("334 VXNlcm5hbWU6\r\n"), 334, "", 1, "VXNlcm5hbWU6",
	    "VXNlcm5hbWU6", 0 },
	{ S("354 2.0.0 go\r\n"), 354, "", 1, "2.0.0 go", "2.0.0 go", 0 },
	/* Bare LF is taken and noted. */
	{ S("250 ok\n"), 250, "", 1, "ok", "ok", 1 },
	{ S("250-a\r\n250 b\n"), 250, "", 2, "a", "b", 1 },
	/* Octets servers do send: UTF-8, tabs, DEL. */
	{ S("220 h\xc3\xa9llo\tthere\x7f\r\n"), 220, "", 1,
	    "h\xc3\xa9llo\tthere\x7f", "h\xc3\xa9llo\tthere\x7f", 0 },
};

struct bad {
	const char	*in;
	size_t		 len;
	const char	*why;
};

static const struct bad bads[] = {
	{ S("hello\r\n"), "not a reply" },
	{ S("HTTP/1.1 400 Bad Request\r\n"), "HTTP" },
	{ S("25\r\n"), "two digits" },
	{ S("2500 x\r\n"), "four digits" },
	{ S("250x\r\n"), "bad separator" },
	{ S("150 x\r\n"), "first digit 1" },
	{ S("650 x\r\n"), "first digit 6" },
	{ S("260 x\r\n"), "second digit 6" },
	{ S("25a x\r\n"), "letter" },
	{ S("250-a\r\n251 b\r\n"), "code changes" },
	{ S("250-a\r\n550 b\r\n"), "class changes" },
	{ S("250 a\rb\r\n"), "CR inside" },
	{ S("250 a\0b\r\n"), "NUL inside" },
	{ S("\r\n"), "empty line" },
	{ S("\n"), "empty line, LF" },
	{ S(" 250 x\r\n"), "leading space" },
	{ S("\x16\x03\x01\x02\x00"), "a TLS record" },
};

/* Parse all of in; 0 with *out filled on one complete reply using all. */
static int
parse_all(struct reply_parser *p, const char *in, size_t len)
{
	size_t	used;

	return reply_parse(p, in, len, &used) == REPLY_DONE && used == len ?
	    0 : -1;
}

static void
check_good(const struct good *g, const struct reply *r)
{
	const char	*t;
	size_t		 n;

	assert_int_equal(r->code, g->code);
	assert_string_equal(r->enhanced, g->enhanced);
	assert_int_equal(r->nlines, g->nlines);
	t = reply_line(r, 0, &n);
	assert_int_equal(n, strlen(g->first));
	assert_memory_equal(t, g->first, n);
	assert_int_equal(t[n], '\0');
	t = reply_line(r, r->nlines - 1, &n);
	assert_int_equal(n, strlen(g->last));
	assert_memory_equal(t, g->last, n);
	assert_int_equal(r->bare_lf, g->bare_lf);
}

static void
test_good_whole(void **state)
{
	struct reply_parser	p;
	size_t			i;

	reply_parser_init(&p);
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		assert_int_equal(parse_all(&p, goods[i].in, goods[i].len), 0);
		check_good(&goods[i], &p.reply);
		assert_int_equal(reply_parser_partial(&p), 0);
	}
	reply_parser_free(&p);
}

/* Every good reply split in two at every octet, and octet by octet. */
static void
test_good_split(void **state)
{
	struct reply_parser	p;
	const struct good	*g;
	size_t			i, cut, used, j;
	enum reply_status	st;

	reply_parser_init(&p);
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		g = &goods[i];
		for (cut = 0; cut <= g->len; cut++) {
			st = reply_parse(&p, g->in, cut, &used);
			if (cut < g->len) {
				assert_int_equal(st, REPLY_MORE);
				assert_int_equal(used, cut);
				assert_int_equal(reply_parser_partial(&p),
				    cut > 0);
				st = reply_parse(&p, g->in + cut,
				    g->len - cut, &used);
				assert_int_equal(used, g->len - cut);
			}
			assert_int_equal(st, REPLY_DONE);
			check_good(g, &p.reply);
		}
		for (j = 0; j < g->len; j++) {
			st = reply_parse(&p, g->in + j, 1, &used);
			assert_int_equal(used, 1);
			assert_int_equal(st, j + 1 == g->len ? REPLY_DONE :
			    REPLY_MORE);
		}
		check_good(g, &p.reply);
	}
	reply_parser_free(&p);
}

static void
test_bad(void **state)
{
	struct reply_parser	p;
	size_t			i, used, j;
	enum reply_status	st;

	reply_parser_init(&p);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		reply_parser_reset(&p);
		st = reply_parse(&p, bads[i].in, bads[i].len, &used);
		if (st != REPLY_ERROR)
			fail_msg("accepted: %s", bads[i].why);
		assert_true(used < bads[i].len);
		assert_non_null(reply_parser_error(&p));
		/* An error sticks until reset. */
		assert_int_equal(reply_parse(&p, "250 ok\r\n", 8, &used),
		    REPLY_ERROR);
		assert_int_equal(used, 0);
		/* The same octet by octet. */
		reply_parser_reset(&p);
		assert_null(reply_parser_error(&p));
		for (j = 0, st = REPLY_MORE; j < bads[i].len &&
		    st == REPLY_MORE; j++)
			st = reply_parse(&p, bads[i].in + j, 1, &used);
		assert_int_equal(st, REPLY_ERROR);
	}
	reply_parser_free(&p);
}

/* Pipelined replies come out one at a time; the rest is left. */
static void
test_pipelined(void **state)
{
	static const char	in[] = "250 2.1.0 Ok\r\n250-a\r\n250 b\r\n"
				    "354 go\r\n220 x";
	struct reply_parser	p;
	size_t			used, off = 0;

	reply_parser_init(&p);
	assert_int_equal(reply_parse(&p, in, sizeof(in) - 1, &used),
	    REPLY_DONE);
	assert_int_equal(used, 14);
	assert_string_equal(p.reply.enhanced, "2.1.0");
	off += used;
	assert_int_equal(reply_parse(&p, in + off, sizeof(in) - 1 - off,
	    &used), REPLY_DONE);
	assert_int_equal(p.reply.nlines, 2);
	off += used;
	assert_int_equal(reply_parse(&p, in + off, sizeof(in) - 1 - off,
	    &used), REPLY_DONE);
	assert_int_equal(p.reply.code, 354);
	off += used;
	assert_int_equal(reply_parse(&p, in + off, sizeof(in) - 1 - off,
	    &used), REPLY_MORE);
	assert_true(reply_parser_partial(&p));
	assert_int_equal(reply_parse(&p, "\r\n", 2, &used), REPLY_DONE);
	assert_int_equal(p.reply.code, 220);
	reply_parser_free(&p);
}

/* A line of exactly REPLY_LINE_MAX octets is fine; one more is not. */
static void
test_line_limit(void **state)
{
	struct reply_parser	 p;
	char			*buf;
	size_t			 used, n;

	buf = malloc(REPLY_LINE_MAX + 3);
	assert_non_null(buf);
	memset(buf, 'x', REPLY_LINE_MAX + 3);
	memcpy(buf, "250 ", 4);
	memcpy(buf + REPLY_LINE_MAX, "\r\n", 2);
	reply_parser_init(&p);
	assert_int_equal(reply_parse(&p, buf, REPLY_LINE_MAX + 2, &used),
	    REPLY_DONE);
	(void)reply_line(&p.reply, 0, &n);
	assert_int_equal(n, REPLY_LINE_MAX - 4);
	buf[REPLY_LINE_MAX] = 'x';
	memcpy(buf + REPLY_LINE_MAX + 1, "\r\n", 2);
	assert_int_equal(reply_parse(&p, buf, REPLY_LINE_MAX + 3, &used),
	    REPLY_ERROR);
	assert_int_equal(used, REPLY_LINE_MAX);
	reply_parser_free(&p);
	free(buf);
}

/* REPLY_LINES_MAX lines are fine; one more is not. */
static void
test_lines_limit(void **state)
{
	struct reply_parser	p;
	size_t			i, used;
	enum reply_status	st;

	reply_parser_init(&p);
	for (i = 0; i + 1 < REPLY_LINES_MAX; i++)
		assert_int_equal(reply_parse(&p, "250-line\r\n", 10, &used),
		    REPLY_MORE);
	assert_int_equal(reply_parse(&p, "250 last\r\n", 10, &used),
	    REPLY_DONE);
	assert_int_equal(p.reply.nlines, REPLY_LINES_MAX);

	for (i = 0, st = REPLY_MORE; i < REPLY_LINES_MAX &&
	    st == REPLY_MORE; i++)
		st = reply_parse(&p, "250-line\r\n", 10, &used);
	assert_int_equal(st, REPLY_MORE);
	assert_int_equal(reply_parse(&p, "250 last\r\n", 10, &used),
	    REPLY_ERROR);
	reply_parser_free(&p);
}

static void
test_enhanced_parse(void **state)
{
	char	out[REPLY_ENHANCED_SIZE];

	assert_int_equal(reply_enhanced_parse(S("5.7.1 x"), out), 5);
	assert_string_equal(out, "5.7.1");
	assert_int_equal(reply_enhanced_parse(S("2.0.0"), out), 5);
	assert_int_equal(reply_enhanced_parse(S("5.123.456"), out), 9);
	assert_string_equal(out, "5.123.456");
	assert_int_equal(reply_enhanced_parse(S("3.0.0 x"), out), 0);
	assert_string_equal(out, "");
	assert_int_equal(reply_enhanced_parse(S("5.7"), out), 0);
	assert_int_equal(reply_enhanced_parse(S("5.7."), out), 0);
	assert_int_equal(reply_enhanced_parse(S("5.7.1."), out), 0);
	assert_int_equal(reply_enhanced_parse(S("5.1234.1"), out), 0);
	assert_int_equal(reply_enhanced_parse(S(".7.1 x"), out), 0);
	assert_int_equal(reply_enhanced_parse(S(""), out), 0);
}

static void
test_ehlo(void **state)
{
	static const char	in[] = "250-mx.test AUTH is not here\r\n"
				    "250-PIPELINING\r\n250-auth PLAIN login\r\n"
				    "250-AUTH=LOGIN\r\n250-AUTHX\r\n"
				    "250 STARTTLS\r\n";
	struct reply_parser	p;
	struct reply		copy;
	const char		*params;
	size_t			len;

	reply_parser_init(&p);
	assert_int_equal(parse_all(&p, in, sizeof(in) - 1), 0);
	assert_true(reply_ehlo_keyword(&p.reply, "AUTH", &params, &len));
	assert_int_equal(len, 11);
	assert_memory_equal(params, "PLAIN login", 11);
	assert_true(reply_word_in(params, len, "LOGIN"));
	assert_true(reply_word_in(params, len, "plain"));
	assert_false(reply_word_in(params, len, "PLAI"));
	assert_false(reply_word_in(params, len, "CRAM-MD5"));
	assert_true(reply_ehlo_keyword(&p.reply, "starttls", &params, &len));
	assert_int_equal(len, 0);
	assert_true(reply_ehlo_keyword(&p.reply, "PIPELINING", NULL, NULL));
	assert_false(reply_ehlo_keyword(&p.reply, "mx.test", NULL, NULL));
	assert_false(reply_ehlo_keyword(&p.reply, "SIZE", NULL, NULL));
	assert_false(reply_ehlo_keyword(&p.reply, "PIPE", NULL, NULL));

	/* A copy outlives the parser's next reply. */
	assert_int_equal(reply_dup(&copy, &p.reply), 0);
	assert_int_equal(parse_all(&p, S("221 bye\r\n")), 0);
	assert_int_equal(copy.nlines, 6);
	assert_true(reply_ehlo_keyword(&copy, "AUTH", &params, &len));
	assert_memory_equal(params, "PLAIN login", 11);
	reply_free(&copy);
	reply_free(&copy);		/* harmless twice */
	reply_parser_free(&p);

	assert_false(reply_word_in(S("  "), "X"));
	assert_true(reply_word_in(S(" A  B "), "b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_whole),
		cmocka_unit_test(test_good_split),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_lines_limit),
		cmocka_unit_test(test_enhanced_parse),
		cmocka_unit_test(test_ehlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
