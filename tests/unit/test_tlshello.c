/*
 * Unit tests for the raw ClientHello and the ServerHello parser
 * (client/tlshello.c): the record built field by field, a ServerHello
 * read whole and in every split, alerts, and hostile answers (cut, too
 * long, a suite or version not offered, garbage), table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "client/tlshello.h"

static const uint16_t weak[] = { 0x000a, 0x0005, 0x0003 };

static void
offer_init(struct tlshello_offer *o, uint16_t v, int ext)
{
	memset(o, 0, sizeof(*o));
	o->version = v;
	o->suites = weak;
	o->nsuites = sizeof(weak) / sizeof(weak[0]);
	o->extensions = ext;
	o->servername = ext ? "mx.example.org" : NULL;
	memset(o->random, 0xab, sizeof(o->random));
}

static size_t
get16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

static void
test_build_tls(void **state)
{
	struct tlshello_offer	o;
	uint8_t			b[TLSHELLO_MAX];
	size_t			len, off, el, i, n;
	int			sni = 0, groups = 0, reneg = 0;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), 0);
	assert_int_equal(b[0], 22);
	assert_int_equal(get16(b + 1), 0x0301);
	assert_int_equal(get16(b + 3), len - 5);
	assert_int_equal(b[5], 1);
	assert_int_equal((size_t)b[6] << 16 | get16(b + 7), len - 9);
	assert_int_equal(get16(b + 9), 0x0303);
	assert_memory_equal(b + 11, o.random, 32);
	assert_int_equal(b[43], 0);
	/* The suites offered, no SCSV (renegotiation_info instead). */
	n = get16(b + 44);
	assert_int_equal(n, 6);
	for (i = 0; i < 3; i++)
		assert_int_equal(get16(b + 46 + 2 * i), weak[i]);
	off = 46 + n;
	assert_int_equal(b[off], 1);
	assert_int_equal(b[off + 1], 0);
	off += 2;
	el = get16(b + off);
	off += 2;
	assert_int_equal(off + el, len);
	while (off < len) {
		size_t t = get16(b + off), l = get16(b + off + 2);

		assert_true(off + 4 + l <= len);
		if (t == 0) {
			sni = 1;
			assert_int_equal(l, 5 + strlen("mx.example.org"));
			assert_memory_equal(b + off + 9, "mx.example.org", 14);
		} else if (t == 10)
			groups = 1;
		else if (t == 0xff01)
			reneg = 1;
		off += 4 + l;
	}
	assert_true(sni && groups && reneg);
}

static void
test_build_ssl3(void **state)
{
	struct tlshello_offer	o;
	uint8_t			b[TLSHELLO_MAX];
	size_t			len;

	(void)state;
	offer_init(&o, TLSHELLO_SSL3, 0);
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), 0);
	assert_int_equal(get16(b + 1), 0x0300);
	assert_int_equal(get16(b + 9), 0x0300);
	/* Three suites and the renegotiation SCSV; nothing after. */
	assert_int_equal(get16(b + 44), 8);
	assert_int_equal(get16(b + 52), 0x00ff);
	assert_int_equal(len, 54 + 2);
}

static void
test_build_refuses(void **state)
{
	struct tlshello_offer	o;
	uint16_t		many[TLSHELLO_SUITES_MAX + 1];
	uint8_t			b[TLSHELLO_MAX];
	char			name[300];
	size_t			len;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	assert_int_equal(tlshello_build(&o, b, 40, &len), -1);
	assert_int_equal(len, 0);
	o.version = 0x0304;
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), -1);
	o.version = 0x0200;
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), -1);
	offer_init(&o, TLSHELLO_TLS12, 1);
	o.nsuites = 0;
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), -1);
	memset(many, 0, sizeof(many));
	o.suites = many;
	o.nsuites = TLSHELLO_SUITES_MAX + 1;
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), -1);
	offer_init(&o, TLSHELLO_TLS12, 1);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	o.servername = name;
	assert_int_equal(tlshello_build(&o, b, sizeof(b), &len), -1);
}

/* A ServerHello record: version, suite, compression, extensions. */
static size_t
server_hello(uint8_t *b, unsigned int v, unsigned int suite,
    unsigned int comp, const uint8_t *ext, size_t extlen)
{
	size_t	body = 2 + 32 + 1 + 32 + 2 + 1 + extlen, n = 0;

	b[n++] = 22;
	b[n++] = 3;
	b[n++] = 1;
	b[n++] = (4 + body) >> 8;
	b[n++] = (4 + body) & 0xff;
	b[n++] = 2;
	b[n++] = 0;
	b[n++] = body >> 8;
	b[n++] = body & 0xff;
	b[n++] = v >> 8;
	b[n++] = v & 0xff;
	memset(b + n, 0x11, 32);
	n += 32;
	b[n++] = 32;
	memset(b + n, 0x22, 32);
	n += 32;
	b[n++] = suite >> 8;
	b[n++] = suite & 0xff;
	b[n++] = comp;
	if (extlen > 0)
		memcpy(b + n, ext, extlen);
	return n + extlen;
}

static void
test_parse_hello_every_split(void **state)
{
	static const uint8_t	ext[] = { 0, 5, 0xff, 0x01, 0, 1, 0 };
	struct tlshello_offer	o;
	struct tlshello_answer	a;
	uint8_t			b[200];
	size_t			n, cut;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	n = server_hello(b, 0x0303, 0x000a, 0, ext, sizeof(ext));
	for (cut = 0; cut < n; cut++)
		assert_int_equal(tlshello_parse(&o, b, cut, &a),
		    TLSHELLO_MORE);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_HELLO);
	assert_int_equal(a.version, 0x0303);
	assert_int_equal(a.suite, 0x000a);
	assert_string_equal(tlshello_suite(a.suite)->name, "DES-CBC3-SHA");
	/* A lower version is the server's right; what follows is ignored. */
	n = server_hello(b, 0x0301, 0x0005, 0, NULL, 0);
	b[n++] = 22;
	b[n++] = 0xff;
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_HELLO);
	assert_int_equal(a.version, 0x0301);
	assert_int_equal(a.suite, 0x0005);
}

static void
test_parse_fragmented(void **state)
{
	struct tlshello_offer	o;
	struct tlshello_answer	a;
	uint8_t			one[200], b[1400];
	size_t			n, i, m = 0;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	n = server_hello(one, 0x0303, 0x0003, 0, NULL, 0);
	/* The handshake message in records of one octet each. */
	for (i = 5; i < n; i++) {
		b[m++] = 22;
		b[m++] = 3;
		b[m++] = 3;
		b[m++] = 0;
		b[m++] = 1;
		b[m++] = one[i];
	}
	for (i = 0; i < m; i++)
		assert_int_equal(tlshello_parse(&o, b, i, &a), TLSHELLO_MORE);
	assert_int_equal(tlshello_parse(&o, b, m, &a), TLSHELLO_HELLO);
	assert_int_equal(a.suite, 0x0003);
}

static void
test_parse_alert(void **state)
{
	static const uint8_t	al[] = { 21, 3, 1, 0, 2, 2, 40 };
	static const uint8_t	warn[] = { 21, 3, 1, 0, 2, 1, 112 };
	static const uint8_t	closing[] = { 21, 3, 1, 0, 2, 1, 0 };
	struct tlshello_offer	o;
	struct tlshello_answer	a;
	uint8_t			b[200];
	size_t			n, i;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	assert_int_equal(tlshello_parse(&o, al, 6, &a), TLSHELLO_MORE);
	assert_int_equal(tlshello_parse(&o, al, sizeof(al), &a),
	    TLSHELLO_ALERT);
	assert_int_equal(a.level, 2);
	assert_int_equal(a.desc, 40);
	assert_string_equal(tlshello_alert_name(a.desc), "handshake_failure");
	/* A warning before the ServerHello is not an answer yet. */
	memcpy(b, warn, sizeof(warn));
	n = server_hello(b + sizeof(warn), 0x0303, 0x000a, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, sizeof(warn), &a),
	    TLSHELLO_MORE);
	assert_int_equal(tlshello_parse(&o, b, sizeof(warn) + n, &a),
	    TLSHELLO_HELLO);
	for (i = 0; i < 5; i++)
		memcpy(b + i * sizeof(warn), warn, sizeof(warn));
	assert_int_equal(tlshello_parse(&o, b, 5 * sizeof(warn), &a),
	    TLSHELLO_BAD);
	/* A warning close_notify is the end. */
	assert_int_equal(tlshello_parse(&o, closing, sizeof(closing), &a),
	    TLSHELLO_ALERT);
	assert_null(tlshello_alert_name(255));
}

static const struct {
	const char	*name;
	uint8_t		 b[24];
	size_t		 len;
	const char	*why;		/* a part of the reason */
} hostile[] = {
	{ "garbage", "HTTP/1.1 400 Bad", 16, "not a TLS record" },
	{ "smtp reply", "554 5.7.0 no\r\n", 14, "first octet 0x35" },
	{ "one octet", { 0x80 }, 1, "first octet 0x80" },
	{ "change cipher spec", { 20, 3, 3, 0, 1, 1 }, 6, "record type 0x14" },
	{ "application data", { 23, 3, 3, 0, 1, 0 }, 6, "record type 0x17" },
	{ "oversized record", { 22, 3, 3, 0xff, 0xff }, 5, "65535 octets" },
	{ "empty record", { 22, 3, 3, 0, 0 }, 5, "empty handshake" },
	{ "record version", { 22, 2, 0, 0, 4 }, 5, "record version 2.0" },
	{ "long alert", { 21, 3, 3, 0, 3, 2, 40, 0 }, 8, "alert record of 3" },
	{ "alert level", { 21, 3, 3, 0, 2, 7, 40 }, 7, "alert level 7" },
	{ "not a ServerHello", { 22, 3, 3, 0, 4, 11, 0, 0, 0 }, 9,
	    "message type 11" },
	{ "huge ServerHello", { 22, 3, 3, 0, 4, 2, 0xff, 0xff, 0xff }, 9,
	    "16777215 octets" },
	{ "short ServerHello", { 22, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3 }, 11,
	    "too short" },
};

static void
test_parse_hostile(void **state)
{
	struct tlshello_offer	o;
	struct tlshello_answer	a;
	size_t			i;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		assert_int_equal(tlshello_parse(&o, hostile[i].b,
		    hostile[i].len, &a), TLSHELLO_BAD);
		if (strstr(a.why, hostile[i].why) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", hostile[i].name,
			    a.why, hostile[i].why);
	}
}

static void
test_parse_not_offered(void **state)
{
	static const uint8_t	tls13[] = { 0, 6, 0, 43, 0, 2, 3, 4 };
	static const uint8_t	twice[] = { 0, 10, 0xff, 1, 0, 1, 0,
	    0xff, 1, 0, 1, 0 };
	static const uint8_t	cut[] = { 0, 4, 0, 11, 0, 9 };
	static const uint8_t	biglen[] = { 0, 9 };
	struct tlshello_offer	o;
	struct tlshello_answer	a;
	uint8_t			b[200];
	size_t			n;

	(void)state;
	offer_init(&o, TLSHELLO_TLS12, 1);
	n = server_hello(b, 0x0303, 0xc02f, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_string_equal(a.why, "suite 0xc02f, not offered");
	/* The SCSV is never a suite to choose. */
	n = server_hello(b, 0x0303, 0x00ff, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	n = server_hello(b, 0x0304, 0x000a, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_non_null(strstr(a.why, "version 0x0304"));
	n = server_hello(b, 0x0303, 0x000a, 1, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_non_null(strstr(a.why, "compression method 1"));
	n = server_hello(b, 0x0303, 0x000a, 0, tls13, sizeof(tls13));
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_non_null(strstr(a.why, "supported_versions"));
	n = server_hello(b, 0x0303, 0x000a, 0, twice, sizeof(twice));
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_non_null(strstr(a.why, "twice"));
	n = server_hello(b, 0x0303, 0x000a, 0, cut, sizeof(cut));
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	n = server_hello(b, 0x0303, 0x000a, 0, biglen, sizeof(biglen));
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	assert_non_null(strstr(a.why, "extensions of 9 octets"));
	/* An SSLv3 offer answered with TLS 1.0. */
	offer_init(&o, TLSHELLO_SSL3, 0);
	n = server_hello(b, 0x0301, 0x000a, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_BAD);
	n = server_hello(b, 0x0300, 0x000a, 0, NULL, 0);
	assert_int_equal(tlshello_parse(&o, b, n, &a), TLSHELLO_HELLO);
	assert_string_equal(tlshello_version_name(a.version), "SSLv3");
}

static void
test_table(void **state)
{
	size_t	i, j;

	(void)state;
	for (i = 0; i < tlshello_nsuites; i++) {
		assert_true(tlshello_suites[i].cls >= 0 &&
		    tlshello_suites[i].cls < TLSHELLO_NCLASS);
		assert_ptr_equal(tlshello_suite(tlshello_suites[i].code),
		    &tlshello_suites[i]);
		for (j = i + 1; j < tlshello_nsuites; j++)
			assert_int_not_equal(tlshello_suites[i].code,
			    tlshello_suites[j].code);
	}
	assert_true(tlshello_nsuites <= TLSHELLO_SUITES_MAX);
	assert_null(tlshello_suite(0x1301));
	assert_string_equal(tlshello_class_name(TLSHELLO_3DES), "3DES");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_tls),
		cmocka_unit_test(test_build_ssl3),
		cmocka_unit_test(test_build_refuses),
		cmocka_unit_test(test_parse_hello_every_split),
		cmocka_unit_test(test_parse_fragmented),
		cmocka_unit_test(test_parse_alert),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_not_offered),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
