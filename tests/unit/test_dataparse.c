/*
 * Unit tests for the DATA state machine.  Every vector is fed whole, split
 * in two at every byte boundary, and one byte at a time; all three must
 * give the same output, flags and consumed count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/smtp/dataparse.h"

#include "crlfstrings.h"

#define S(x)	x, sizeof(x) - 1

struct vec {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	uint64_t	 maxsize;
	const char	*out;
	size_t		 outlen;
	unsigned	 errors;
	int		 done;
	size_t		 left;		/* input left after the end */
};

static const struct vec vecs[] = {
	{ "empty message", S(".\r\n"), 0, S(""), 0, 1, 0 },
	{ "one line", S("hello\r\n.\r\n"), 0, S("hello\r\n"), 0, 1, 0 },
	{ "empty lines", S("\r\n\r\n.\r\n"), 0, S("\r\n\r\n"), 0, 1, 0 },
	{ "no end yet", S("hello\r\nworld"), 0, S("hello\r\nworld"), 0, 0,
	    0 },
	{ "stuffed dot", S("..\r\n.\r\n"), 0, S(".\r\n"), 0, 1, 0 },
	{ "stuffed dots", S("...x\r\n.\r\n"), 0, S("..x\r\n"), 0, 1, 0 },
	{ "dot then text", S(".abc\r\n.\r\n"), 0, S("abc\r\n"), 0, 1, 0 },
	{ "dot inside line", S("a.b\r\n.\r\n"), 0, S("a.b\r\n"), 0, 1, 0 },
	{ "dot at end of line", S("abc.\r\n.\r\n"), 0, S("abc.\r\n"), 0, 1,
	    0 },
	{ "dot space", S(". \r\n.\r\n"), 0, S(" \r\n"), 0, 1, 0 },
	{ "pipelined after end", S("x\r\n.\r\nQUIT\r\n"), 0, S("x\r\n"), 0,
	    1, 6 },
	{ "end then end", S(".\r\n.\r\n"), 0, S(""), 0, 1, 3 },
	{ "8-bit text", S("caf\xc3\xa9\r\n.\r\n"), 0, S("caf\xc3\xa9\r\n"),
	    0, 1, 0 },
	{ "NUL octet passes", S("a\0b\r\n.\r\n"), 0, S("a\0b\r\n"), 0, 1,
	    0 },

	/* SMTP smuggling: none of these end the message. */
	{ "LF.LF", S("a\n.\nb\r\n.\r\n"), 0, S("a"), DATA_EBARELF, 1, 0 },
	{ "CR.CR", S("a\r.\rb\r\n.\r\n"), 0, S("a\r"), DATA_EBARECR, 1, 0 },
	{ "LF.CRLF", S("a\n.\r\nb\r\n.\r\n"), 0, S("a"), DATA_EBARELF, 1,
	    0 },
	{ "CRLF.LF", S("a\r\n.\nb\r\n.\r\n"), 0, S("a\r\n"), DATA_EBARELF, 1,
	    0 },
	{ "CR.CRLF", S("a\r.\r\nb\r\n.\r\n"), 0, S("a\r"), DATA_EBARECR, 1,
	    0 },
	{ "LF.LF at start", S("\n.\n"), 0, S(""), DATA_EBARELF, 0, 0 },
	{ "dot LF at start", S(".\n"), 0, S(""), DATA_EBARELF, 0, 0 },
	{ "CR.CR at start", S("\r.\r"), 0, S("\r"), DATA_EBARECR, 0, 0 },
	{ "CRLF.LF then LF.CRLF", S("\r\n.\n\n.\r\n"), 0, S("\r\n"),
	    DATA_EBARELF, 0, 0 },
	{ "bare LF only", S("a\nb\n"), 0, S("a"), DATA_EBARELF, 0, 0 },
	{ "bare CR only", S("a\rb\r\n.\r\n"), 0, S("a\r"), DATA_EBARECR, 1,
	    0 },
	{ "CR CR LF", S("a\r\r\n.\r\n"), 0, S("a\r"), DATA_EBARECR, 1, 0 },
	{ "dot CR CR LF", S(".\r\r\n.\r\n"), 0, S(""), DATA_EBARECR, 1, 0 },
	{ "dot CR x", S(".\rx\r\n.\r\n"), 0, S(""), DATA_EBARECR, 1, 0 },
	{ "both bare", S("a\nb\rc\r\n.\r\n"), 0, S("a"),
	    DATA_EBARELF | DATA_EBARECR, 1, 0 },
	{ "error then pipelined", S("a\nb\r\n.\r\nRSET\r\n"), 0, S("a"),
	    DATA_EBARELF, 1, 6 },

	/* The size limit counts unstuffed octets, final CRLF included. */
	{ "size exactly at", S("abc\r\n.\r\n"), 5, S("abc\r\n"), 0, 1, 0 },
	{ "size one over", S("abcd\r\n.\r\n"), 5, S("abcd\r"), DATA_ESIZE, 1,
	    0 },
	{ "size over by far", S("abcdefgh\r\n.\r\n"), 3, S("abc"),
	    DATA_ESIZE, 1, 0 },
	{ "stuffing dot not counted", S("..\r\n.\r\n"), 3, S(".\r\n"), 0, 1,
	    0 },
	{ "size one, empty", S(".\r\n"), 1, S(""), 0, 1, 0 },
};

/* Line length vectors are built at run time. */
static char	*line_in;
static size_t	 line_inlen;

static size_t
feed_split(const char *in, size_t len, uint64_t maxsize, size_t *cuts,
    size_t ncuts, char *out, size_t *outlen, struct dataparse *p)
{
	size_t	pos = 0, c, n, o, total = 0, piece;
	char	*buf;

	dataparse_init(p, maxsize);
	*outlen = 0;
	for (c = 0; c <= ncuts && !p->done; c++) {
		piece = (c < ncuts ? cuts[c] : len) - pos;
		/* A piece of its own, so that ASan sees any over-read. */
		buf = malloc(piece + 1);
		assert_non_null(buf);
		memcpy(buf, in + pos, piece);
		n = dataparse_feed(p, buf, piece, out + *outlen, &o);
		free(buf);
		assert_true(n <= piece);
		assert_true(o <= n);
		*outlen += o;
		total += n;
		if (n < piece) {
			assert_true(p->done);
			break;
		}
		pos += piece;
	}
	return total;
}

static void
check_one(const char *name, const char *in, size_t len, uint64_t maxsize,
    const char *xout, size_t xoutlen, unsigned xerr, int xdone, size_t xleft,
    int check_out)
{
	struct dataparse	 p;
	size_t			*cuts, cut[1], i, outlen, used;
	char			*out;

	out = malloc(len + 1);
	cuts = malloc((len + 1) * sizeof(*cuts));
	assert_non_null(out);
	assert_non_null(cuts);

	/* Whole. */
	used = feed_split(in, len, maxsize, NULL, 0, out, &outlen, &p);
	if (p.errors != xerr || p.done != xdone || used != len - xleft ||
	    (check_out && (outlen != xoutlen ||
	    memcmp(out, xout, outlen) != 0)))
		fail_msg("%s: whole: errors %#x done %d used %zu outlen %zu",
		    name, p.errors, p.done, used, outlen);

	/* Split in two at every boundary. */
	for (i = 0; i <= len; i++) {
		cut[0] = i;
		used = feed_split(in, len, maxsize, cut, 1, out, &outlen, &p);
		if (p.errors != xerr || p.done != xdone ||
		    used != len - xleft || (check_out && (outlen != xoutlen ||
		    memcmp(out, xout, outlen) != 0)))
			fail_msg("%s: split at %zu: errors %#x done %d "
			    "used %zu", name, i, p.errors, p.done, used);
	}

	/* Byte by byte. */
	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	used = feed_split(in, len, maxsize, cuts, len ? len - 1 : 0, out,
	    &outlen, &p);
	if (p.errors != xerr || p.done != xdone || used != len - xleft ||
	    (check_out && (outlen != xoutlen ||
	    memcmp(out, xout, outlen) != 0)))
		fail_msg("%s: bytewise: errors %#x done %d used %zu", name,
		    p.errors, p.done, used);

	free(cuts);
	free(out);
}

static void
test_vectors(void **state)
{
	size_t	i;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		check_one(vecs[i].name, vecs[i].in, vecs[i].inlen,
		    vecs[i].maxsize, vecs[i].out, vecs[i].outlen,
		    vecs[i].errors, vecs[i].done, vecs[i].left, 1);
}

/* "x" * n + CRLF + ".\r\n" */
static void
make_line(size_t n, int stuffed)
{
	size_t	i = 0;

	free(line_in);
	line_inlen = n + 2 + 3;
	line_in = malloc(line_inlen);
	assert_non_null(line_in);
	if (stuffed)
		line_in[i++] = '.';
	while (i < n)
		line_in[i++] = 'x';
	memcpy(line_in + n, "\r\n.\r\n", 5);
}

static void
test_line_length(void **state)
{
	char	*xout;

	/* 998 octets + CRLF = 1000: legal. */
	make_line(998, 0);
	check_one("998+CRLF", line_in, line_inlen, 0, line_in, 1000, 0, 1, 0,
	    1);
	/* 999 octets + CRLF = 1001: too long; the CRLF is not written. */
	make_line(999, 0);
	check_one("999+CRLF", line_in, line_inlen, 0, line_in, 1000,
	    DATA_ELINE, 1, 0, 1);
	/* The limit is on the wire, stuffing dot included. */
	make_line(998, 1);
	check_one("stuffed 998+CRLF", line_in, line_inlen, 0, line_in + 1,
	    999, 0, 1, 0, 1);
	make_line(999, 1);
	check_one("stuffed 999+CRLF", line_in, line_inlen, 0, line_in + 1,
	    999, DATA_ELINE, 1, 0, 1);
	/* A long line still ends at the real end mark. */
	make_line(5000, 0);
	check_one("5000+CRLF", line_in, line_inlen, 0, line_in, 1000,
	    DATA_ELINE, 1, 0, 1);

	/* Two legal lines back to back: the count restarts at each CRLF. */
	xout = malloc(2000);
	assert_non_null(xout);
	memset(xout, 'y', 2000);
	memcpy(xout + 998, "\r\n", 2);
	memcpy(xout + 1998, "\r\n", 2);
	free(line_in);
	line_inlen = 2003;
	line_in = malloc(line_inlen);
	assert_non_null(line_in);
	memcpy(line_in, xout, 2000);
	memcpy(line_in + 2000, ".\r\n", 3);
	check_one("2x998+CRLF", line_in, line_inlen, 0, xout, 2000, 0, 1, 0,
	    1);
	free(xout);
	free(line_in);
	line_in = NULL;
}

/* After an error, nothing more is written, however much follows. */
static void
test_no_output_after_error(void **state)
{
	struct dataparse	p;
	char			out[64];
	size_t			outlen, n;

	dataparse_init(&p, 0);
	n = dataparse_feed(&p, "a\nbcdef", 7, out, &outlen);
	assert_int_equal(n, 7);
	assert_int_equal(outlen, 1);
	assert_int_equal(p.errors, DATA_EBARELF);
	n = dataparse_feed(&p, "\r\nmore\r\n.\r\n", 11, out, &outlen);
	assert_int_equal(n, 11);
	assert_int_equal(outlen, 0);
	assert_true(p.done);

	/* Once done, nothing more is consumed. */
	n = dataparse_feed(&p, "QUIT\r\n", 6, out, &outlen);
	assert_int_equal(n, 0);
	assert_int_equal(outlen, 0);
}

/* The size keeps counting after the limit, for the log line. */
static void
test_size_counts(void **state)
{
	struct dataparse	p;
	char			out[64];
	size_t			outlen;

	dataparse_init(&p, 4);
	(void)dataparse_feed(&p, "..abcdef\r\n.\r\n", 13, out, &outlen);
	assert_true(p.done);
	assert_int_equal(p.errors, DATA_ESIZE);
	assert_int_equal(p.size, 9);
	assert_int_equal(outlen, 4);
	assert_memory_equal(out, ".abc", 4);
}

/*
 * A pending CR from the previous call is written when it arrives, so the
 * LF alone never produces two octets into a one-octet buffer.
 */
static void
test_output_bounded(void **state)
{
	struct dataparse	p;
	char			out[8];
	size_t			outlen, n;

	dataparse_init(&p, 0);
	n = dataparse_feed(&p, "ab\r", 3, out, &outlen);
	assert_int_equal(n, 3);
	assert_int_equal(outlen, 3);
	n = dataparse_feed(&p, "\n", 1, out, &outlen);
	assert_int_equal(n, 1);
	assert_int_equal(outlen, 1);
	n = dataparse_feed(&p, ".", 1, out, &outlen);
	assert_int_equal(outlen, 0);
	n = dataparse_feed(&p, "\r", 1, out, &outlen);
	assert_int_equal(outlen, 0);
	n = dataparse_feed(&p, "\nX", 2, out, &outlen);
	assert_int_equal(n, 1);
	assert_true(p.done);
	assert_int_equal(p.errors, 0);
}

/*
 * The peer suite's dot-stuffing case (chasquid), read at run time from the
 * shared directory next to the repository; skipped when it is not there.
 */
static void
test_peer_dot_stuffing(void **state)
{
	const char	*path;
	FILE		*f;
	char		 line[1024], *in, *xout, *dst;
	size_t		 inlen = 0, xlen = 0, n;
	int		 section = 0;

	if ((path = getenv("SMTPAUTH_PEER_SUITES")) != NULL) {
		snprintf(line, sizeof(line), "%s/dot-stuffing.txt", path);
		f = fopen(line, "r");
	} else
		f = fopen("../shared/peer-suites/dot-stuffing.txt", "r");
	if (f == NULL) {
		skip();
		return;
	}
	in = malloc(8192);
	xout = malloc(8192);
	assert_non_null(in);
	assert_non_null(xout);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "== sent", 7) == 0) {
			section = 1;
			continue;
		}
		if (strncmp(line, "== expected", 11) == 0) {
			section = 2;
			continue;
		}
		if (strncmp(line, "==", 2) == 0 || line[0] == '(') {
			section = 0;
			continue;
		}
		if (section == 0)
			continue;
		if (strcmp(line, "<empty>") == 0)
			line[0] = '\0';
		n = strlen(line);
		if (section == 1) {
			dst = in + inlen;
			inlen += n + 2;
		} else {
			dst = xout + xlen;
			xlen += n + 2;
		}
		assert_true(inlen < 8192 && xlen < 8192);
		memcpy(dst, line, n);
		memcpy(dst + n, "\r\n", 2);
	}
	fclose(f);
	assert_true(inlen > 0 && xlen > 0);
	check_one("peer dot-stuffing", in, inlen, 0, xout, xlen, 0, 1, 0, 1);
	free(in);
	free(xout);
}

/* Raw mode (BDAT): content fed in two pieces cut at `cut`, then the end. */
static unsigned
feed_raw(const char *in, size_t len, size_t cut, uint64_t maxsize,
    char *out, size_t *outlen)
{
	struct dataparse	p;
	size_t			o;

	dataparse_init_raw(&p, maxsize);
	assert_int_equal(dataparse_feed(&p, in, cut, out, &o), cut);
	*outlen = o;
	assert_int_equal(dataparse_feed(&p, in + cut, len - cut, out + o, &o),
	    len - cut);
	*outlen += o;
	assert_false(p.done);
	return dataparse_end(&p);
}

/* BDAT content: no dot is special, and the rules are those of DATA. */
static void
test_raw_vectors(void **state)
{
	static const struct {
		const char	*in;
		unsigned	 errors;
	} table[] = {
		{ "", 0 },
		{ "a\r\n.\r\n..x\r\n.", 0 },	/* dots are text */
		{ "no final CRLF", 0 },
		{ "a\nb\r\n", DATA_EBARELF },
		{ "a\rb\r\n", DATA_EBARECR },
		{ "a\r\n.\n", DATA_EBARELF },
		{ "a\r.\r", DATA_EBARECR },
		{ "ends with CR\r", DATA_EBARECR },	/* no LF can follow */
		{ "a\r\r\n", DATA_EBARECR },
	};
	char	out[64], *big;
	size_t	i, cut, len, outlen;
	unsigned e;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		len = strlen(table[i].in);
		for (cut = 0; cut <= len; cut++) {
			e = feed_raw(table[i].in, len, cut, 0, out, &outlen);
			if (e != table[i].errors)
				fail_msg("%zu cut %zu: errors %#x", i, cut, e);
			if (e == 0 && (outlen != len ||
			    memcmp(out, table[i].in, len) != 0))
				fail_msg("%zu cut %zu: output differs", i,
				    cut);
		}
	}
	/* The line limit holds too: 1000 octets, CRLF included. */
	big = malloc(1100);
	assert_non_null(big);
	make_line(998, 0);
	assert_int_equal(feed_raw(line_in, 1000, 500, 0, big, &outlen) &
	    DATA_ELINE, 0);
	make_line(999, 0);
	assert_int_equal(feed_raw(line_in, 1001, 500, 0, big, &outlen) &
	    DATA_ELINE, DATA_ELINE);
	free(big);
	free(line_in);
	line_in = NULL;
}

/*
 * One rule for DATA and BDAT: for every content of up to 7 octets over
 * CR, LF, '.' and 'a', raw mode flags a bare CR or LF exactly when the
 * content has one, and DATA with the content dot-stuffed and ended says
 * the same.
 */
static void
test_raw_same_rule_as_data(void **state)
{
	struct dataparse	p;
	char			in[CRLF_STRINGS_MAX + 1], wire[32], out[64];
	size_t			len = 0, code = 0, i, o, w, outlen;
	unsigned		want, e;

	while (crlf_string_next(in, &len, &code)) {
		want = (crlf_bare(in, len) & 1 ? DATA_EBARECR : 0) |
		    (crlf_bare(in, len) & 2 ? DATA_EBARELF : 0);
		e = feed_raw(in, len, len / 2, 0, out, &outlen);
		if ((e & (DATA_EBARECR | DATA_EBARELF)) != want)
			fail_msg("raw %zu/%zu: %#x, want %#x", len, code, e,
			    want);
		/*
		 * The same content through DATA, stuffed and ended (a final
		 * CR would stop being bare: not compared).
		 */
		if (len > 0 && in[len - 1] == '\r')
			continue;
		for (i = w = 0; i < len; i++) {
			if (in[i] == '.' && (i == 0 || (i >= 2 &&
			    in[i - 1] == '\n' && in[i - 2] == '\r')))
				wire[w++] = '.';
			wire[w++] = in[i];
		}
		memcpy(wire + w, "\r\n.\r\n", 5);
		w += 5;
		dataparse_init(&p, 0);
		o = dataparse_feed(&p, wire, w, out, &outlen);
		if ((p.errors & (DATA_EBARECR | DATA_EBARELF)) != want)
			fail_msg("data %zu/%zu: %#x, want %#x", len, code,
			    p.errors, want);
		if (want == 0 && (!p.done || o != w || outlen != len + 2 ||
		    memcmp(out, in, len) != 0))
			fail_msg("data %zu/%zu: content differs", len, code);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_no_output_after_error),
		cmocka_unit_test(test_size_counts),
		cmocka_unit_test(test_output_bounded),
		cmocka_unit_test(test_peer_dot_stuffing),
		cmocka_unit_test(test_raw_vectors),
		cmocka_unit_test(test_raw_same_rule_as_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
