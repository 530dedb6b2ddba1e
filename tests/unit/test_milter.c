/*
 * Unit tests for the milter codec (milter.h): packet framing, the OPTNEG
 * reply, the checks of reply texts, header changes and text fields, and
 * the header scanner, which is fed whole, one octet at a time and split at
 * every offset, and must give the same fields and body each time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/smtp/milter.h"

#define S(x)	(const uint8_t *)(x), sizeof(x) - 1

static struct milter_pkt
pkt(char cmd, const void *data, size_t len)
{
	struct milter_pkt p = { cmd, data, len };

	return p;
}

static void
test_pkt_take(void **state)
{
	uint8_t			 buf[64], head[5];
	struct milter_pkt	 p;
	size_t			 used = 0;

	/* Fewer than 4 octets: more needed, whatever they are. */
	assert_int_equal(milter_pkt_take(S(""), &p, &used), 0);
	assert_int_equal(milter_pkt_take(S("\0\0\0"), &p, &used), 0);
	/* A length of zero, or over the maximum: an error. */
	assert_int_equal(milter_pkt_take(S("\0\0\0\0"), &p, &used), -1);
	assert_int_equal(milter_pkt_take(S("\xff\xff\xff\xff"), &p, &used),
	    -1);
	milter_pkt_head(head, 'x', MILTER_PKT_MAX);	/* one too many */
	assert_int_equal(milter_pkt_take(head, 4, &p, &used), -1);
	milter_pkt_head(head, 'x', MILTER_PKT_MAX - 1);	/* the largest */
	assert_int_equal(milter_pkt_take(head, 5, &p, &used), 0);

	/* Two packets back to back, the second one cut short. */
	milter_pkt_head(buf, SMFIR_CONTINUE, 0);
	milter_pkt_head(buf + 5, SMFIR_REPLYCODE, 4);
	memcpy(buf + 10, "550", 4);
	assert_int_equal(milter_pkt_take(buf, 14, &p, &used), 1);
	assert_int_equal(used, 5);
	assert_int_equal(p.cmd, SMFIR_CONTINUE);
	assert_int_equal(p.len, 0);
	for (size_t n = 0; n < 9; n++)
		assert_int_equal(milter_pkt_take(buf + 5, n, &p, &used), 0);
	assert_int_equal(milter_pkt_take(buf + 5, 9, &p, &used), 1);
	assert_int_equal(used, 9);
	assert_int_equal(p.cmd, SMFIR_REPLYCODE);
	assert_int_equal(p.len, 4);
	assert_ptr_equal(p.data, buf + 10);
	assert_memory_equal(buf + 5, "\0\0\0\x05y", 5);
}

static void
test_optneg(void **state)
{
	uint8_t			 d[32];
	struct milter_pkt	 p;
	uint32_t		 a, pr;

	/* What rspamd answers: every action; we grant what we offered. */
	milter_optneg_make(d, 6, 0x3f, 0x0ff080);
	p = pkt(SMFIC_OPTNEG, d, 12);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), 0);
	assert_int_equal(a, MILTER_ACTIONS);
	assert_int_equal(pr, 0x0ff080);
	milter_optneg_make(d, 2, SMFIF_ADDHDRS, 0);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), 0);
	assert_int_equal(a, SMFIF_ADDHDRS);
	milter_optneg_make(d, 6, SMFIF_V6_ALL, MILTER_PROTOCOL);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), 0);
	assert_int_equal(a, MILTER_ACTIONS);
	/* Symbol lists after the three words are ignored. */
	memcpy(d + 12, "\0\0\0\x01{x}\0", 8);
	p.len = 20;
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), 0);

	p.len = 12;
	milter_optneg_make(d, 1, 0, 0);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
	milter_optneg_make(d, 7, 0, 0);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
	milter_optneg_make(d, 6, SMFIF_V6_ALL + 1, 0);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
	milter_optneg_make(d, 6, 0, MILTER_PROTOCOL + 1);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
	milter_optneg_make(d, 6, 0, 0);
	p.len = 11;
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
	p = pkt(SMFIR_CONTINUE, d, 12);
	assert_int_equal(milter_optneg_parse(&p, &a, &pr), -1);
}

struct rvec {
	const char	*in;
	size_t		 len;		/* with the NUL */
	int		 want;
	const char	*out;
};

#define R(x)	x, sizeof(x)

static const struct rvec rvecs[] = {
	{ R("550 5.7.1 no thanks"), 5, "550 5.7.1 no thanks" },
	{ R("451 4.7.1 later"), 4, "451 4.7.1 later" },
	{ R("550"), 5, "550" },
	{ R("550-first\r\n550-second\r\n550 last"), 5,
	    "550-first\r\n550-second\r\n550 last" },
	{ R("554 5.7.1 Gtube pattern"), 5, "554 5.7.1 Gtube pattern" },
	/* Not a refusal, or not a reply. */
	{ R("250 ok"), -1, NULL },
	{ R("350 ok"), -1, NULL },
	{ R("55"), -1, NULL },
	{ R("5x0 a"), -1, NULL },
	{ R("55x a"), -1, NULL },
	{ R("550_a"), -1, NULL },
	{ R(""), -1, NULL },
	/* Lines that disagree, or do not continue or end properly. */
	{ R("550-a\r\n551 b"), -1, NULL },
	{ R("550-a\r\n450 b"), -1, NULL },
	{ R("550-a"), -1, NULL },
	{ R("550 a\r\n550 b"), -1, NULL },
	{ R("550-a\r\n550"), 5, "550-a\r\n550" },
	{ R("550 a\r\n"), -1, NULL },
	{ R("550 a\r"), -1, NULL },
	{ R("550 a\rb"), -1, NULL },
	{ R("550 a\nb"), -1, NULL },
	{ R("550 a\tb"), -1, NULL },
	{ R("550 caf\xc3\xa9"), -1, NULL },
	{ R("550 a\x7f"), -1, NULL },
	{ R("550-\r\n550 b"), 5, "550-\r\n550 b" },
	{ R("550-a\r\n\r\n550 b"), -1, NULL },
};

static void
test_reply_vectors(void **state)
{
	char	out[MILTER_REPLY_MAX + 1];

	for (size_t i = 0; i < sizeof(rvecs) / sizeof(rvecs[0]); i++) {
		const struct rvec *v = &rvecs[i];
		int r = milter_reply_parse((const uint8_t *)v->in, v->len,
		    out, sizeof(out));

		if (r != v->want)
			fail_msg("reply %zu \"%s\": %d, want %d", i, v->in, r,
			    v->want);
		if (v->out != NULL && strcmp(out, v->out) != 0)
			fail_msg("reply %zu: \"%s\"", i, out);
	}
	/* No NUL at the end, or one before it. */
	assert_int_equal(milter_reply_parse(S("550 a"), out, sizeof(out)),
	    -1);
	assert_int_equal(milter_reply_parse(S("550 a\0b\0"), out,
	    sizeof(out)), -1);
}

static void
test_reply_limits(void **state)
{
	char	in[16 * 600], out[MILTER_REPLY_MAX + 1];
	size_t	n;

	/* A line of 512 octets passes, 513 does not. */
	memcpy(in, "550 ", 4);
	memset(in + 4, 'x', 508);
	in[512] = '\0';
	assert_int_equal(milter_reply_parse((uint8_t *)in, 513, out,
	    sizeof(out)), 5);
	assert_int_equal(strlen(out), 512);
	in[512] = 'x';
	in[513] = '\0';
	assert_int_equal(milter_reply_parse((uint8_t *)in, 514, out,
	    sizeof(out)), -1);

	/* 8 lines of the largest pass (and fit), 9 do not. */
	for (int lines = 8; lines <= 9; lines++) {
		n = 0;
		for (int l = 0; l < lines; l++) {
			memcpy(in + n, l == lines - 1 ? "550 " : "550-", 4);
			memset(in + n + 4, 'y', 508);
			n += 512;
			if (l < lines - 1) {
				memcpy(in + n, "\r\n", 2);
				n += 2;
			}
		}
		in[n++] = '\0';
		assert_int_equal(milter_reply_parse((uint8_t *)in, n, out,
		    sizeof(out)), lines == 8 ? 5 : -1);
		if (lines == 8)
			assert_int_equal(strlen(out), n - 1);
	}
	/* The output is bounded by outlen, not by the input. */
	assert_int_equal(milter_reply_parse(S("550 abc\0"), out, 9), -1);
	assert_int_equal(milter_reply_parse(S("550 abc\0"), out, 10), 5);
}

static void
test_hdr(void **state)
{
	struct milter_pkt	p;
	struct milter_hdr	h;
	char			big[1100];

	p = pkt(SMFIR_ADDHEADER, "X-A\0value\0", 10);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), 0);
	assert_int_equal(h.namelen, 3);
	assert_memory_equal(h.name, "X-A", 3);
	assert_int_equal(h.valuelen, 5);
	assert_memory_equal(h.value, "value", 5);

	/* Indexed ('i', 'm'): the index first; an empty value deletes. */
	p = pkt(SMFIR_CHGHEADER, "\0\0\0\x02Subject\0\0", 13);
	assert_int_equal(milter_hdr_parse(&p, 1, &h), 0);
	assert_int_equal(h.index, 2);
	assert_int_equal(h.valuelen, 0);
	p.len = 3;
	assert_int_equal(milter_hdr_parse(&p, 1, &h), -1);

	/* Folds (LF or CRLF then a space or tab) are the only breaks. */
	p = pkt('h', "X\0a\n\tb\r\n c\0", 11);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), 0);
	p = pkt('h', "X\0a\nb\0", 6);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0a\rb\0", 6);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0a\r\nb\0", 7);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0a\n\0", 5);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0a\x01\0", 5);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0a\x7f\0", 5);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0tab\there\0", 11);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), 0);

	/* Names: not empty, no colon, space or control. */
	p = pkt('h', "\0v\0", 3);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X:Y\0v\0", 6);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X Y\0v\0", 6);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\x80\0v\0", 5);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);

	/* Both NULs, the second one last. */
	p = pkt('h', "X\0v", 3);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X", 1);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0", 2);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	p = pkt('h', "X\0v\0junk", 8);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);

	/* A line is at most 998 octets with "Name: " counted. */
	memcpy(big, "X\0", 2);
	memset(big + 2, 'v', 995);
	big[997] = '\0';
	p = pkt('h', big, 998);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), 0);
	big[997] = 'v';
	big[998] = '\0';
	p = pkt('h', big, 999);
	assert_int_equal(milter_hdr_parse(&p, 0, &h), -1);
	/* ... and a fold starts a new line. */
	big[500] = '\n';
	big[501] = ' ';
	assert_int_equal(milter_hdr_parse(&p, 0, &h), 0);
}

static void
test_text(void **state)
{
	struct milter_pkt	p;

	p = pkt(SMFIR_QUARANTINE, "looks odd\0", 10);
	assert_int_equal(milter_text_parse(&p, 400), 9);
	assert_int_equal(milter_text_parse(&p, 9), 9);
	assert_int_equal(milter_text_parse(&p, 8), -1);
	p.len = 9;
	assert_int_equal(milter_text_parse(&p, 400), -1);
	p = pkt('q', "", 0);
	assert_int_equal(milter_text_parse(&p, 400), -1);
	p = pkt('q', "a\nb\0", 4);
	assert_int_equal(milter_text_parse(&p, 400), -1);
	p = pkt('q', "a\0b\0", 4);
	assert_int_equal(milter_text_parse(&p, 400), -1);
}

static void
test_field_split(void **state)
{
	char	out[64];
	size_t	nl, vl;
	const char f[] = "Subject : hi\r\n\tthere\r\n";

	assert_int_equal(milter_field_split(f, sizeof(f) - 1, 0, out, &nl,
	    &vl), 0);
	assert_string_equal(out, "Subject");
	assert_int_equal(nl, 7);
	assert_string_equal(out + nl + 1, "hi\n\tthere");
	assert_int_equal(vl, 9);
	assert_int_equal(milter_field_split(f, sizeof(f) - 1, 1, out, &nl,
	    &vl), 0);
	assert_string_equal(out + nl + 1, " hi\n\tthere");
	assert_int_equal(milter_field_split("X:", 2, 0, out, &nl, &vl), 0);
	assert_int_equal(vl, 0);
	assert_int_equal(milter_field_split("no colon\r\n", 10, 0, out, &nl,
	    &vl), -1);
	assert_int_equal(milter_field_split(": v\r\n", 5, 0, out, &nl, &vl),
	    -1);
}

static void
test_value_to_crlf(void **state)
{
	char	out[16];

	assert_int_equal(milter_value_to_crlf("a\n\tb", 4, out, 16), 5);
	assert_memory_equal(out, "a\r\n\tb", 5);
	assert_int_equal(milter_value_to_crlf("a\r\n b", 5, out, 16), 5);
	assert_memory_equal(out, "a\r\n b", 5);
	assert_int_equal(milter_value_to_crlf("", 0, out, 16), 0);
	/* Bounded by outlen. */
	assert_int_equal(milter_value_to_crlf("abc", 3, out, 3), 3);
	assert_int_equal(milter_value_to_crlf("abc", 3, out, 2), -1);
	assert_int_equal(milter_value_to_crlf("a\nb", 3, out, 3), -1);
	assert_int_equal(milter_value_to_crlf("a\nb", 3, out, 4), 4);
}

/* What the scanner gave: the fields (with offsets) and the body. */
struct scanned {
	char		*text;		/* "offset:field" | ... */
	size_t		 len, cap;
	char		*body;
	size_t		 bodylen, bodycap;
	size_t		 nfields;
};

static void
grow(char **p, size_t *len, size_t *cap, const char *d, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*p = realloc(*p, *cap);
		assert_non_null(*p);
	}
	memcpy(*p + *len, d, n);
	*len += n;
	(*p)[*len] = '\0';
}

static int
on_field(void *arg, const char *f, size_t n, uint64_t off)
{
	struct scanned	*sc = arg;
	char		 num[32];
	int		 k = snprintf(num, sizeof(num), "%llu:",
			    (unsigned long long)off);

	sc->nfields++;
	grow(&sc->text, &sc->len, &sc->cap, num, (size_t)k);
	grow(&sc->text, &sc->len, &sc->cap, f, n);
	grow(&sc->text, &sc->len, &sc->cap, "|", 1);
	return 0;
}

static int
on_body(void *arg, const char *b, size_t n)
{
	struct scanned	*sc = arg;

	grow(&sc->body, &sc->bodylen, &sc->bodycap, b, n);
	return 0;
}

static void
scanned_free(struct scanned *sc)
{
	free(sc->text);
	free(sc->body);
	memset(sc, 0, sizeof(*sc));
}

/* Scan msg in pieces of step octets (0: whole; else split at cut). */
static uint64_t
scan(const char *msg, size_t len, size_t step, size_t cut,
    struct scanned *out)
{
	struct milter_hdrscan	 sc;
	size_t			 off = 0, n;
	uint64_t		 body_off;

	memset(out, 0, sizeof(*out));
	grow(&out->text, &out->len, &out->cap, "", 0);
	grow(&out->body, &out->bodylen, &out->bodycap, "", 0);
	milter_hdrscan_init(&sc);
	while (off < len) {
		n = step == 0 ? (cut > off ? cut - off : len - off) : step;
		if (n > len - off)
			n = len - off;
		assert_int_equal(milter_hdrscan_feed(&sc, msg + off, n,
		    on_field, on_body, out), 0);
		off += n;
	}
	assert_int_equal(milter_hdrscan_end(&sc, on_field, on_body, out), 0);
	body_off = sc.body_off;
	assert_int_equal(sc.off, len);
	milter_hdrscan_free(&sc);
	return body_off;
}

/* Every way of cutting msg gives fields, body and body offset. */
static void
scan_all_ways(const char *msg, size_t len, const char *fields,
    const char *body, size_t bodylen, uint64_t body_off)
{
	struct scanned	sc;

	for (size_t w = 0; w <= len + 2; w++) {
		/* w 0: whole; 1: an octet a time; else cut at w - 2. */
		size_t step = w == 1 ? 1 : 0, cut = w >= 2 ? w - 2 : len;

		uint64_t bo = scan(msg, len, step, cut, &sc);

		if (bo != body_off)
			fail_msg("way %zu: body offset %llu", w,
			    (unsigned long long)bo);
		if (fields != NULL && strcmp(sc.text, fields) != 0)
			fail_msg("way %zu: fields \"%s\"", w, sc.text);
		if (sc.bodylen != bodylen ||
		    memcmp(sc.body, body, bodylen) != 0)
			fail_msg("way %zu: body \"%s\"", w, sc.body);
		scanned_free(&sc);
	}
}

#define M(x)	x, sizeof(x) - 1

static void
test_hdrscan(void **state)
{
	scan_all_ways(M("A: 1\r\nB: 2\r\n 3\r\n\r\nbody\r\n"),
	    "0:A: 1\r\n|6:B: 2\r\n 3\r\n|", M("body\r\n"), 18);
	/* No empty line: the body starts at the first line of no field. */
	scan_all_ways(M("A: 1\r\nnot a field\r\nx: y\r\n"),
	    "0:A: 1\r\n|", M("not a field\r\nx: y\r\n"), 6);
	scan_all_ways(M("A: 1\r\n\tfold\r\n"), "0:A: 1\r\n\tfold\r\n|",
	    M(""), 13);
	/* The last field without its CRLF is given at the end. */
	scan_all_ways(M("A: 1\r\nB : 2"), "0:A: 1\r\n|6:B : 2|", M(""), 11);
	scan_all_ways(M("\r\nbody"), "", M("body"), 2);
	scan_all_ways(M(""), "", M(""), 0);
	/* A fold before any field is body; so is a bare-LF "field". */
	scan_all_ways(M(" x\r\n\r\n"), "", M(" x\r\n\r\n"), 0);
	scan_all_ways(M("A: 1\nB: 2\r\n\r\nb"), "0:A: 1\nB: 2\r\n|", M("b"),
	    13);
	/* An 8-bit value is passed as is. */
	scan_all_ways(M("S: caf\xc3\xa9\r\n\r\n"), "0:S: caf\xc3\xa9\r\n|",
	    M(""), 12);
}

static void
test_hdrscan_long_lines(void **state)
{
	size_t		 n = 5000, len;
	char		*msg = malloc(n + 64), *want = malloc(n + 64);
	struct scanned	 sc;

	assert_non_null(msg);
	assert_non_null(want);
	/* A field line longer than the line buffer is kept whole. */
	memcpy(msg, "Long: ", 6);
	memset(msg + 6, 'v', n);
	memcpy(msg + 6 + n, "\r\nB: 2\r\n\r\nbody", 14);
	len = 6 + n + 14;
	snprintf(want, n + 64, "0:%.*s|%zu:B: 2\r\n|", (int)(n + 8), msg,
	    n + 8);
	for (size_t step = 0; step <= 997; step += 997) {
		assert_int_equal(scan(msg, len, step, len, &sc), len - 4);
		assert_string_equal(sc.text, want);
		assert_string_equal(sc.body, "body");
		scanned_free(&sc);
	}
	/* A long line that is no field starts the body, whole. */
	memset(msg, 'w', n);
	memcpy(msg + n, "\r\n", 2);
	assert_int_equal(scan(msg, n + 2, 0, n + 2, &sc), 0);
	assert_int_equal(sc.nfields, 0);
	assert_int_equal(sc.bodylen, n + 2);
	assert_memory_equal(sc.body, msg, n + 2);
	scanned_free(&sc);
	free(msg);
	free(want);
}

static void
test_hdrscan_caps(void **state)
{
	size_t		 n = MILTER_FIELD_MAX + 10, len, i;
	char		*msg = malloc(n + 256), want[64];
	struct scanned	 sc;

	assert_non_null(msg);
	/* A field over MILTER_FIELD_MAX is not given; the rest goes on. */
	memcpy(msg, "Huge: ", 6);
	for (i = 6; i + 3 < n; i += 100) {
		memset(msg + i, 'h', 97);
		memcpy(msg + i + 97, "\r\n\t", 3);
	}
	memcpy(msg + i, "\r\nB: 2\r\n\r\nz", 11);
	len = i + 11;
	assert_int_equal(scan(msg, len, 0, len, &sc), len - 1);
	assert_int_equal(sc.nfields, 1);
	snprintf(want, sizeof(want), "%zu:B: 2\r\n|", i + 2);
	assert_string_equal(sc.text, want);
	assert_string_equal(sc.body, "z");
	free(msg);
	scanned_free(&sc);

	/* After MILTER_FIELDS_MAX fields, no more are given. */
	len = (MILTER_FIELDS_MAX + 5) * 6 + 2;
	msg = malloc(len);
	assert_non_null(msg);
	for (i = 0; i < MILTER_FIELDS_MAX + 5; i++)
		memcpy(msg + i * 6, "X: 1\r\n", 6);
	memcpy(msg + i * 6, "\r\n", 2);
	assert_int_equal(scan(msg, len, 0, len, &sc), len);
	assert_int_equal(sc.nfields, MILTER_FIELDS_MAX);
	assert_int_equal(sc.bodylen, 0);
	free(msg);
	scanned_free(&sc);
}

static int
fail_field(void *arg, const char *f, size_t n, uint64_t off)
{
	return -1;
}

static void
test_hdrscan_callback_failure(void **state)
{
	struct milter_hdrscan	sc;
	struct scanned		out;

	memset(&out, 0, sizeof(out));
	milter_hdrscan_init(&sc);
	assert_int_equal(milter_hdrscan_feed(&sc, M("A: 1\r\n\r\n"),
	    fail_field, on_body, &out), -1);
	milter_hdrscan_free(&sc);
	milter_hdrscan_init(&sc);
	assert_int_equal(milter_hdrscan_feed(&sc, M("A: 1"), fail_field,
	    on_body, &out), 0);
	assert_int_equal(milter_hdrscan_end(&sc, fail_field, on_body, &out),
	    -1);
	milter_hdrscan_free(&sc);
	scanned_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkt_take),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_reply_vectors),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_hdr),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_field_split),
		cmocka_unit_test(test_value_to_crlf),
		cmocka_unit_test(test_hdrscan),
		cmocka_unit_test(test_hdrscan_long_lines),
		cmocka_unit_test(test_hdrscan_caps),
		cmocka_unit_test(test_hdrscan_callback_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
