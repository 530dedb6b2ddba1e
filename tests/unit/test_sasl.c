/*
 * Unit tests for the SASL mechanisms: RFC 4616 PLAIN decoding and its
 * limits, LOGIN, and the client side checked against the published
 * exchanges of RFC 2195 (CRAM-MD5), RFC 5802 (SCRAM-SHA-1) and RFC 7677
 * (SCRAM-SHA-256).
 *
 * C string literals have the seed's trap too: "\0" followed by a digit is
 * an octal escape, so such literals are split ("\0" "1").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/base64.h"
#include "common/sasl.h"

#define S(x)	x, sizeof(x) - 1
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The seed's credentials and the PLAIN string it expects. */
#define SEED_USER	"jms1@jms1.net"
#define SEED_PASS	"not.my.real.password"
#define SEED_PLAIN	"AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ="

/*
 * PLAIN messages (already base64-decoded) and what sasl_plain_decode()
 * makes of them.
 */
struct plainvec {
	const char	*in;
	size_t		 len;
	enum sasl_error	 err;
	const char	*authzid;
	const char	*authcid;
	const char	*passwd;
};

static const struct plainvec plains[] = {
	/* RFC 4616 section 4. */
	{ S("\0tim\0tanstaaftanstaaf"), SASL_OK, "", "tim",
	    "tanstaaftanstaaf" },
	/* Proxy authorisation is not offered: a different authzid is 535. */
	{ S("Ursel\0Kurt\0xipj3plmq"), SASL_EAUTHZID, NULL, NULL, NULL },
	{ S("tim\0tim\0pw"), SASL_OK, "tim", "tim", "pw" },
	{ S("Tim\0tim\0pw"), SASL_EAUTHZID, NULL, NULL, NULL },
	{ S("tim \0tim\0pw"), SASL_EAUTHZID, NULL, NULL, NULL },
	{ S("ti\0tim\0pw"), SASL_EAUTHZID, NULL, NULL, NULL },
	/* The seed. */
	{ S("\0" SEED_USER "\0" SEED_PASS), SASL_OK, "", SEED_USER, SEED_PASS },
	/* A password starting with a digit (the printf "\0" + digit trap). */
	{ S("\0u\0" "0123"), SASL_OK, "", "u", "0123" },
	{ S("\0u@example.com\0" "1@2"), SASL_OK, "", "u@example.com", "1@2" },
	/* Spaces and other printable oddities are fine inside fields. */
	{ S("\0 u \0 p w "), SASL_OK, "", " u ", " p w " },
	{ S("\0u\0\t\x01\x7f"), SASL_OK, "", "u", "\t\x01\x7f" },
	/* UTF-8 in every field. */
	{ S("\xc3\xb1" "aca\0\xc3\xb1" "aca\0clavar\xc3\xa9"), SASL_OK,
	    "\xc3\xb1" "aca", "\xc3\xb1" "aca", "clavar\xc3\xa9" },
	{ S("\0\xe2\x82\xac\0\xf0\x9f\x98\x80"), SASL_OK, "", "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80" },
	/* Structure: exactly two NULs. */
	{ S(""), SASL_EFORMAT, NULL, NULL, NULL },
	{ S("userpass"), SASL_EFORMAT, NULL, NULL, NULL },
	{ S("user\0pass"), SASL_EFORMAT, NULL, NULL, NULL },
	{ S("\0userpass"), SASL_EFORMAT, NULL, NULL, NULL },
	{ S("\0"), SASL_EFORMAT, NULL, NULL, NULL },
	{ S("\0\0\0"), SASL_EEMPTY, NULL, NULL, NULL },
	{ S("\0u\0p\0"), SASL_ENUL, NULL, NULL, NULL },
	{ S("\0u\0p\0q"), SASL_ENUL, NULL, NULL, NULL },
	{ S("\0u\0\0p"), SASL_ENUL, NULL, NULL, NULL },
	/* Empty fields. */
	{ S("\0\0"), SASL_EEMPTY, NULL, NULL, NULL },
	{ S("\0\0pass"), SASL_EEMPTY, NULL, NULL, NULL },
	{ S("\0user\0"), SASL_EEMPTY, NULL, NULL, NULL },
	{ S("u\0\0p"), SASL_EEMPTY, NULL, NULL, NULL },
	/* CR and LF inside fields. */
	{ S("\0us\rer\0pass"), SASL_ECRLF, NULL, NULL, NULL },
	{ S("\0user\0pa\nss"), SASL_ECRLF, NULL, NULL, NULL },
	{ S("\0user\0pass\r\n"), SASL_ECRLF, NULL, NULL, NULL },
	{ S("a\rb\0a\rb\0pass"), SASL_ECRLF, NULL, NULL, NULL },
	{ S("\0\nuser\0pass"), SASL_ECRLF, NULL, NULL, NULL },
	/* Malformed UTF-8. */
	{ S("\0\xc0\xaf\0pass"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xe0\x80\xaf"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xf0\x80\x80\xaf"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xed\xa0\x80"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xed\xbf\xbf"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0pass\xc3"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xe2\x82"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\xe2\x82\0pass"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xf4\x90\x80\x80"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0\xff"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\xa9\0user\0pass"), SASL_EUTF8, NULL, NULL, NULL },
	{ S("\0user\0latin1 clavar\xe9"), SASL_EUTF8, NULL, NULL, NULL },
};

struct utf8vec {
	const char	*in;
	size_t		 len;
	int		 valid;
};

static const struct utf8vec utf8s[] = {
	{ S(""), 1 },
	{ S("ascii"), 1 },
	{ S("\x7f"), 1 },
	{ S("\xc2\x80"), 1 },			/* U+0080 */
	{ S("\xdf\xbf"), 1 },			/* U+07FF */
	{ S("\xe0\xa0\x80"), 1 },		/* U+0800 */
	{ S("\xed\x9f\xbf"), 1 },		/* U+D7FF */
	{ S("\xee\x80\x80"), 1 },		/* U+E000 */
	{ S("\xef\xbf\xbf"), 1 },		/* U+FFFF */
	{ S("\xf0\x90\x80\x80"), 1 },		/* U+10000 */
	{ S("\xf4\x8f\xbf\xbf"), 1 },		/* U+10FFFF */
	{ S("a\xc3\xa9z"), 1 },
	/* Overlong forms. */
	{ S("\xc0\x80"), 0 },
	{ S("\xc1\xbf"), 0 },
	{ S("\xe0\x80\x80"), 0 },
	{ S("\xe0\x9f\xbf"), 0 },
	{ S("\xf0\x80\x80\x80"), 0 },
	{ S("\xf0\x8f\xbf\xbf"), 0 },
	/* Surrogates. */
	{ S("\xed\xa0\x80"), 0 },		/* U+D800 */
	{ S("\xed\xbf\xbf"), 0 },		/* U+DFFF */
	{ S("\xed\xa0\xbd\xed\xb8\x80"), 0 },	/* CESU-8 pair */
	/* Above U+10FFFF, and octets that never appear. */
	{ S("\xf4\x90\x80\x80"), 0 },
	{ S("\xf5\x80\x80\x80"), 0 },
	{ S("\xf8\x88\x80\x80\x80"), 0 },
	{ S("\xfe"), 0 },
	{ S("\xff"), 0 },
	/* Truncated and stray continuation octets. */
	{ S("\xc3"), 0 },
	{ S("\xe2\x82"), 0 },
	{ S("\xf0\x9f\x98"), 0 },
	{ S("\x80"), 0 },
	{ S("a\xbf"), 0 },
	{ S("\xc3\xc3\xa9"), 0 },
	{ S("\xe2\x28\xa1"), 0 },
	{ S("\xf0\x9f\x28\x80"), 0 },
	{ S("\xf0\x9f\x98\x28"), 0 },
};

struct loginvec {
	const char	*in;
	size_t		 len;
	enum sasl_error	 err;
};

static const struct loginvec logins[] = {
	{ S("user"), SASL_OK },
	{ S(SEED_USER), SASL_OK },
	{ S("p@ss w0rd"), SASL_OK },
	{ S("\xc3\xb1"), SASL_OK },
	{ S(""), SASL_EEMPTY },
	{ S("us\0er"), SASL_ENUL },
	{ S("\0"), SASL_ENUL },
	{ S("user\r"), SASL_ECRLF },
	{ S("\nuser"), SASL_ECRLF },
	{ S("us\xc0\xafr"), SASL_EUTF8 },
	{ S("\xed\xa0\x80"), SASL_EUTF8 },
	{ S("\xe2\x82"), SASL_EUTF8 },
};

/* Length-checked comparison of a decoded field with a C string. */
static void
assert_field(const char *got, size_t gotlen, const char *want)
{
	assert_int_equal(gotlen, strlen(want));
	assert_memory_equal(got, want, gotlen);
	assert_int_equal(got[gotlen], '\0');
}

static void
test_plain_decode_table(void **state)
{
	struct sasl_plain	p;
	enum sasl_error		e;
	size_t			i;

	for (i = 0; i < NELEM(plains); i++) {
		memset(&p, 0x55, sizeof(p));
		e = sasl_plain_decode(plains[i].in, plains[i].len, &p);
		if (e != plains[i].err)
			fail_msg("#%zu: got %d (%s), want %d", i, e,
			    sasl_strerror(e), plains[i].err);
		if (e != SASL_OK) {
			/* Nothing of the message is left behind. */
			assert_int_equal(p.authcidlen, 0);
			assert_int_equal(p.passwdlen, 0);
			assert_int_equal(p.passwd[0], '\0');
			continue;
		}
		assert_field(p.authzid, p.authzidlen, plains[i].authzid);
		assert_field(p.authcid, p.authcidlen, plains[i].authcid);
		assert_field(p.passwd, p.passwdlen, plains[i].passwd);
		sasl_plain_wipe(&p);
		assert_int_equal(p.passwdlen, 0);
		assert_int_equal(p.passwd[0], '\0');
	}
}

/* Build zlen 'z', NUL, clen 'c', NUL, plen 'p' into buf. */
static size_t
build_plain(char *buf, size_t zlen, size_t clen, size_t plen)
{
	size_t	n = 0;

	memset(buf + n, 'c', zlen);	/* authzid must equal authcid */
	n += zlen;
	buf[n++] = '\0';
	memset(buf + n, 'c', clen);
	n += clen;
	buf[n++] = '\0';
	memset(buf + n, 'p', plen);
	n += plen;
	return n;
}

static void
test_plain_field_limits(void **state)
{
	struct sasl_plain	p;
	char			buf[3 * 300];
	size_t			n;

	/* 255 octets in every field is the most there can be. */
	n = build_plain(buf, 255, 255, 255);
	assert_int_equal(n, SASL_PLAIN_MAX);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_OK);
	assert_int_equal(p.authzidlen, 255);
	assert_int_equal(p.authcidlen, 255);
	assert_int_equal(p.passwdlen, 255);
	assert_int_equal(p.authcid[255], '\0');
	assert_int_equal(p.passwd[255], '\0');
	assert_int_equal(p.passwd[254], 'p');

	n = build_plain(buf, 0, 255, 255);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_OK);
	n = build_plain(buf, 0, 1, 1);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_OK);

	/* 256 in any one field is too long. */
	n = build_plain(buf, 256, 256, 1);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_ETOOLONG);
	n = build_plain(buf, 0, 256, 1);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_ETOOLONG);
	n = build_plain(buf, 0, 1, 256);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_ETOOLONG);
	n = build_plain(buf, 0, 1, 299);
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_ETOOLONG);
	assert_int_equal(p.passwdlen, 0);
	sasl_plain_wipe(&p);
}

/* A 255-octet field made of multi-octet characters, and one cut short. */
static void
test_plain_utf8_at_limit(void **state)
{
	struct sasl_plain	p;
	char			buf[300];
	size_t			n = 0, i;

	buf[n++] = '\0';
	buf[n++] = 'u';
	buf[n++] = '\0';
	for (i = 0; i < 85; i++) {		/* 85 x 3 = 255 */
		memcpy(buf + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	assert_int_equal(sasl_plain_decode(buf, n, &p), SASL_OK);
	assert_int_equal(p.passwdlen, 255);
	/* Drop the last octet: 254 octets ending in a cut character. */
	assert_int_equal(sasl_plain_decode(buf, n - 1, &p), SASL_EUTF8);
	sasl_plain_wipe(&p);
}

static void
test_plain_decode_b64(void **state)
{
	struct sasl_plain	p;
	char			big[BASE64_ENCODED_SIZE(SASL_PLAIN_MAX + 3)];
	char			raw[SASL_PLAIN_MAX + 3];
	size_t			n;

	assert_int_equal(sasl_plain_decode_b64(S(SEED_PLAIN), &p), SASL_OK);
	assert_field(p.authzid, p.authzidlen, "");
	assert_field(p.authcid, p.authcidlen, SEED_USER);
	assert_field(p.passwd, p.passwdlen, SEED_PASS);
	sasl_plain_wipe(&p);

	/* RFC 4616's example, encoded. */
	assert_int_equal(sasl_plain_decode_b64(
	    S("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), &p), SASL_OK);
	assert_field(p.authcid, p.authcidlen, "tim");

	/* Not strict base64: whitespace, missing padding, bad alphabet. */
	assert_int_equal(sasl_plain_decode_b64(S(SEED_PLAIN "\r\n"), &p),
	    SASL_EBASE64);
	assert_int_equal(sasl_plain_decode_b64(
	    S("AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ"), &p),
	    SASL_EBASE64);
	assert_int_equal(sasl_plain_decode_b64(S("AGpt czFA"), &p),
	    SASL_EBASE64);
	assert_int_equal(sasl_plain_decode_b64(S("*"), &p), SASL_EBASE64);
	assert_int_equal(sasl_plain_decode_b64(S("="), &p), SASL_EBASE64);
	/* Empty (the "=" of RFC 4954 is the caller's business). */
	assert_int_equal(sasl_plain_decode_b64(S(""), &p), SASL_EFORMAT);
	/* Decodes, but no NUL. */
	assert_int_equal(sasl_plain_decode_b64(S("dXNlcg=="), &p),
	    SASL_EFORMAT);

	/* The longest valid message encodes to a length still accepted. */
	n = build_plain(raw, 255, 255, 255);
	assert_int_equal(base64_encode(raw, n, big, sizeof(big), &n), 0);
	assert_int_equal(sasl_plain_decode_b64(big, n, &p), SASL_OK);
	/* Three octets more: too long before even decoding. */
	n = build_plain(raw, 255, 255, 258);
	assert_int_equal(base64_encode(raw, n, big, sizeof(big), &n), 0);
	assert_int_equal(sasl_plain_decode_b64(big, n, &p), SASL_ETOOLONG);
	/* One more: decodes to 768 octets, one field too long. */
	n = build_plain(raw, 255, 255, 256);
	assert_int_equal(base64_encode(raw, n, big, sizeof(big), &n), 0);
	assert_int_equal(sasl_plain_decode_b64(big, n, &p), SASL_ETOOLONG);
	sasl_plain_wipe(&p);
}

static void
test_utf8_table(void **state)
{
	size_t	i;

	for (i = 0; i < NELEM(utf8s); i++)
		if (sasl_utf8_valid(utf8s[i].in, utf8s[i].len) !=
		    utf8s[i].valid)
			fail_msg("utf8 #%zu: want %d", i, utf8s[i].valid);
}

/* Every code point encodes to something valid; every surrogate does not. */
static void
test_utf8_all_code_points(void **state)
{
	unsigned char	b[4];
	unsigned long	cp;
	size_t		n;

	for (cp = 0; cp <= 0x10ffff; cp++) {
		if (cp < 0x80) {
			b[0] = (unsigned char)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (unsigned char)(0xc0 | cp >> 6);
			b[1] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (unsigned char)(0xe0 | cp >> 12);
			b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			b[2] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (unsigned char)(0xf0 | cp >> 18);
			b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			b[3] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		if (sasl_utf8_valid(b, n) != !(cp >= 0xd800 && cp <= 0xdfff))
			fail_msg("U+%04lX", cp);
		/* Any proper prefix of a multi-octet form is truncated. */
		if (n > 1 && sasl_utf8_valid(b, n - 1))
			fail_msg("prefix of U+%04lX", cp);
	}
}

static void
test_login_table(void **state)
{
	char	buf[300];
	size_t	i;

	for (i = 0; i < NELEM(logins); i++)
		if (sasl_login_check_field(logins[i].in, logins[i].len) !=
		    logins[i].err)
			fail_msg("login #%zu", i);
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(sasl_login_check_field(buf, 255), SASL_OK);
	assert_int_equal(sasl_login_check_field(buf, 256), SASL_ETOOLONG);
}

static void
test_login_challenges(void **state)
{
	char	out[32];
	size_t	n;

	assert_int_equal(base64_decode(S(SASL_LOGIN_CHALLENGE_USER), out,
	    sizeof(out), &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "Username:", 9);
	assert_int_equal(base64_decode(S(SASL_LOGIN_CHALLENGE_PASS), out,
	    sizeof(out), &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "Password:", 9);
}

static void
test_login_decode_b64(void **state)
{
	char	out[SASL_FIELD_MAX + 1], raw[300];
	char	enc[BASE64_ENCODED_SIZE(300)];
	size_t	n, elen;

	assert_int_equal(sasl_login_decode_b64(S("am1zMUBqbXMxLm5ldA=="), out,
	    sizeof(out), &n), SASL_OK);
	assert_field(out, n, SEED_USER);
	assert_int_equal(sasl_login_decode_b64(
	    S("bm90Lm15LnJlYWwucGFzc3dvcmQ="), out, sizeof(out), &n),
	    SASL_OK);
	assert_field(out, n, SEED_PASS);

	assert_int_equal(sasl_login_decode_b64(S(""), out, sizeof(out), &n),
	    SASL_EEMPTY);
	assert_int_equal(sasl_login_decode_b64(S("dXNlcg"), out, sizeof(out),
	    &n), SASL_EBASE64);
	assert_int_equal(sasl_login_decode_b64(S("dXNlcg==\r\n"), out,
	    sizeof(out), &n), SASL_EBASE64);
	assert_int_equal(sasl_login_decode_b64(S("dXMAZXI="), out,
	    sizeof(out), &n), SASL_ENUL);
	assert_int_equal(sasl_login_decode_b64(S("dXNlcg0K"), out,
	    sizeof(out), &n), SASL_ECRLF);
	assert_int_equal(n, 0);
	/* Room for "user" but not its NUL. */
	assert_int_equal(sasl_login_decode_b64(S("dXNlcg=="), out, 4, &n),
	    SASL_ENOSPACE);

	memset(raw, 'x', sizeof(raw));
	assert_int_equal(base64_encode(raw, 255, enc, sizeof(enc), &elen), 0);
	assert_int_equal(sasl_login_decode_b64(enc, elen, out, sizeof(out),
	    &n), SASL_OK);
	assert_int_equal(n, 255);
	assert_int_equal(base64_encode(raw, 256, enc, sizeof(enc), &elen), 0);
	assert_int_equal(sasl_login_decode_b64(enc, elen, out, sizeof(out),
	    &n), SASL_ETOOLONG);
	assert_int_equal(base64_encode(raw, 258, enc, sizeof(enc), &elen), 0);
	assert_int_equal(sasl_login_decode_b64(enc, elen, out, sizeof(out),
	    &n), SASL_ETOOLONG);
}

static void
test_plain_encode(void **state)
{
	char			out[SASL_PLAIN_ENCODED_SIZE(255, 255, 255)];
	struct sasl_plain	p;
	size_t			need;

	assert_int_equal(sasl_plain_encode(NULL, 0, S(SEED_USER),
	    S(SEED_PASS), out, sizeof(out)), SASL_OK);
	assert_string_equal(out, SEED_PLAIN);

	assert_int_equal(sasl_plain_encode(S("tim"), S("tim"), S("pw"),
	    out, sizeof(out)), SASL_OK);
	assert_int_equal(sasl_plain_decode_b64(out, strlen(out), &p), SASL_OK);
	assert_field(p.authzid, p.authzidlen, "tim");

	/* Exactly enough room, then one octet less. */
	need = SASL_PLAIN_ENCODED_SIZE(0, strlen(SEED_USER), strlen(SEED_PASS));
	assert_int_equal(need, strlen(SEED_PLAIN) + 1);
	assert_int_equal(sasl_plain_encode("", 0, S(SEED_USER), S(SEED_PASS),
	    out, need), SASL_OK);
	assert_string_equal(out, SEED_PLAIN);
	assert_int_equal(sasl_plain_encode("", 0, S(SEED_USER), S(SEED_PASS),
	    out, need - 1), SASL_ENOSPACE);
	assert_string_equal(out, "");

	/* Every length mod 3 round-trips. */
	assert_int_equal(sasl_plain_encode(NULL, 0, S("a"), S("b"), out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out, "AGEAYg==");
	assert_int_equal(sasl_plain_encode(NULL, 0, S("a"), S("bc"), out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out, "AGEAYmM=");
	assert_int_equal(sasl_plain_encode(NULL, 0, S("a"), S("bcd"), out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out, "AGEAYmNk");
	sasl_plain_wipe(&p);
}

/*
 * The seed's shell traps: '@' interpolated by Perl, "\0" + digit read as
 * an octal escape by printf.  With explicit lengths the octets go through
 * exactly as given.
 */
static void
test_plain_encode_any_octets(void **state)
{
	static const char	pass[] = "\0" "123";	/* NUL, '1', '2', '3' */
	char			out[128];
	struct sasl_plain_info	info;

	assert_int_equal(sasl_plain_encode(NULL, 0, S("user@example.com"),
	    S("0@1"), out, sizeof(out)), SASL_OK);
	assert_string_equal(out, "AHVzZXJAZXhhbXBsZS5jb20AMEAx");

	/* A NUL in the password is sent as asked; the server must refuse it. */
	assert_int_equal(sasl_plain_encode(NULL, 0, S("u"), pass,
	    sizeof(pass) - 1, out, sizeof(out)), SASL_OK);
	assert_string_equal(out, "AHUAADEyMw==");
	assert_int_equal(sasl_plain_inspect(out, strlen(out), &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_ENUL);
	assert_int_equal(info.passwd.len, 4);
	assert_int_equal(info.passwd.err, SASL_ENUL);
	sasl_plain_info_wipe(&info);
}

static void
test_login_encode(void **state)
{
	char	u[64], p[64];

	assert_int_equal(sasl_login_encode(S(SEED_USER), S(SEED_PASS), u,
	    sizeof(u), p, sizeof(p)), SASL_OK);
	assert_string_equal(u, "am1zMUBqbXMxLm5ldA==");
	assert_string_equal(p, "bm90Lm15LnJlYWwucGFzc3dvcmQ=");
	assert_int_equal(sasl_login_encode(S(SEED_USER), S(SEED_PASS), u,
	    sizeof(u), p, 8), SASL_ENOSPACE);
	assert_string_equal(p, "");
}

/* RFC 2195 section 2. */
#define CRAM_CHALLENGE	"<1896.697170952@postoffice.reston.mci.net>"
#define CRAM_CHALLENGE64 \
	"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"

static void
test_cram_md5(void **state)
{
	char	out[SASL_CRAM_MD5_SIZE(3)], ch64[128];
	char	big[BASE64_ENCODED_SIZE(SASL_CHALLENGE_MAX + 3)];
	char	raw[SASL_CHALLENGE_MAX + 3];
	size_t	n;

	assert_int_equal(base64_encode(S(CRAM_CHALLENGE), ch64, sizeof(ch64),
	    &n), 0);
	assert_string_equal(ch64, CRAM_CHALLENGE64);
	assert_int_equal(sasl_cram_md5_response(ch64, n, S("tim"),
	    S("tanstaaftanstaaf"), out, sizeof(out)), SASL_OK);
	assert_string_equal(out,
	    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");

	/* An empty password is a valid (empty) HMAC key. */
	assert_int_equal(sasl_cram_md5_response(ch64, n, S("tim"), "", 0, out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out,
	    "dGltIGEwMGI1NGI4MjRhZmExOWVjMmRlMGY3M2NiMmEwNGMy");

	assert_int_equal(sasl_cram_md5_response(ch64, n, S("tim"),
	    S("tanstaaftanstaaf"), out, sizeof(out) - 1), SASL_ENOSPACE);
	assert_int_equal(sasl_cram_md5_response(S("PDE4OTYu\r\n"), S("tim"),
	    S("x"), out, sizeof(out)), SASL_EBASE64);
	assert_int_equal(sasl_cram_md5_response(S("not base64!"), S("tim"),
	    S("x"), out, sizeof(out)), SASL_EBASE64);

	memset(raw, '<', sizeof(raw));
	assert_int_equal(base64_encode(raw, SASL_CHALLENGE_MAX, big,
	    sizeof(big), &n), 0);
	assert_int_equal(sasl_cram_md5_response(big, n, S("tim"), S("x"), out,
	    sizeof(out)), SASL_OK);
	/* The cap is on the base64 text: 1025 octets encode as 1024 do. */
	assert_int_equal(base64_encode(raw, SASL_CHALLENGE_MAX + 1, big,
	    sizeof(big), &n), 0);
	assert_int_equal(n, BASE64_ENCODED_LEN(SASL_CHALLENGE_MAX));
	assert_int_equal(sasl_cram_md5_response(big, n, S("tim"), S("x"), out,
	    sizeof(out)), SASL_OK);
	assert_int_equal(base64_encode(raw, SASL_CHALLENGE_MAX + 3, big,
	    sizeof(big), &n), 0);
	assert_int_equal(sasl_cram_md5_response(big, n, S("tim"), S("x"), out,
	    sizeof(out)), SASL_ETOOLONG);
}

/* Base64-encode a raw SCRAM message (server side of the examples). */
static void
b64(const char *raw, char *out, size_t outsize, size_t *outlen)
{
	assert_int_equal(base64_encode(raw, strlen(raw), out, outsize, outlen),
	    0);
}

/* Decode base64 and compare it with the raw message expected. */
static void
assert_b64_is(const char *enc, const char *want)
{
	char	raw[SASL_SCRAM_MSG_MAX + 2];
	size_t	n;

	assert_int_equal(base64_decode(enc, strlen(enc), raw, sizeof(raw), &n),
	    0);
	raw[n] = '\0';
	assert_string_equal(raw, want);
}

struct scramvec {
	enum sasl_scram_hash	 hash;
	const char		*nonce;
	const char		*client_first;
	const char		*server_first;
	const char		*client_final;
	const char		*server_final;
};

static const struct scramvec scrams[] = {
	/* RFC 5802 section 5. */
	{ SASL_SCRAM_SHA1, "fyko+d2lbbFgONRv9qkxdawL",
	    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096",
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
	/* RFC 7677 section 3. */
	{ SASL_SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO",
	    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
};

static void
test_scram_rfc_exchanges(void **state)
{
	struct sasl_scram	s;
	char			out[SASL_SCRAM_B64_SIZE];
	char			in[SASL_SCRAM_B64_SIZE];
	size_t			i, n;

	for (i = 0; i < NELEM(scrams); i++) {
		assert_int_equal(sasl_scram_start(&s, scrams[i].hash, S("user"),
		    scrams[i].nonce, strlen(scrams[i].nonce), out,
		    sizeof(out)), SASL_OK);
		assert_b64_is(out, scrams[i].client_first);

		b64(scrams[i].server_first, in, sizeof(in), &n);
		assert_int_equal(sasl_scram_final(&s, in, n, S("pencil"), out,
		    sizeof(out)), SASL_OK);
		assert_b64_is(out, scrams[i].client_final);
		assert_int_equal(s.iterations, 4096);

		b64(scrams[i].server_final, in, sizeof(in), &n);
		assert_int_equal(sasl_scram_verify(&s, in, n), SASL_OK);
		sasl_scram_wipe(&s);
		assert_int_equal(s.state, 0);
	}
	assert_string_equal(sasl_scram_mech(SASL_SCRAM_SHA1), "SCRAM-SHA-1");
	assert_string_equal(sasl_scram_mech(SASL_SCRAM_SHA256),
	    "SCRAM-SHA-256");
}

/* Run the RFC 5802 exchange up to server-final with other server text. */
static enum sasl_error
scram_with_server_final(const char *server_final, struct sasl_scram *s)
{
	char	out[SASL_SCRAM_B64_SIZE], in[SASL_SCRAM_B64_SIZE];
	size_t	n;

	assert_int_equal(sasl_scram_start(s, SASL_SCRAM_SHA1, S("user"),
	    S("fyko+d2lbbFgONRv9qkxdawL"), out, sizeof(out)), SASL_OK);
	b64(scrams[0].server_first, in, sizeof(in), &n);
	assert_int_equal(sasl_scram_final(s, in, n, S("pencil"), out,
	    sizeof(out)), SASL_OK);
	b64(server_final, in, sizeof(in), &n);
	return sasl_scram_verify(s, in, n);
}

static void
test_scram_server_final(void **state)
{
	struct sasl_scram	s;

	/* A server that does not know the password cannot sign. */
	assert_int_equal(scram_with_server_final(
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKA=", &s), SASL_ESIGNATURE);
	assert_int_equal(scram_with_server_final(
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &s),
	    SASL_ESIGNATURE);
	assert_int_equal(scram_with_server_final("v=", &s), SASL_ESIGNATURE);
	assert_int_equal(scram_with_server_final("v=!!!!", &s),
	    SASL_ESIGNATURE);
	assert_int_equal(scram_with_server_final("", &s), SASL_ESIGNATURE);
	assert_int_equal(scram_with_server_final("x=1", &s), SASL_ESIGNATURE);
	/* Extensions after the signature are ignored. */
	assert_int_equal(scram_with_server_final(
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=ext", &s), SASL_OK);
	/* The server says no. */
	assert_int_equal(scram_with_server_final("e=invalid-proof", &s),
	    SASL_EREJECTED);
	assert_string_equal(s.server_error, "invalid-proof");
	assert_int_equal(scram_with_server_final(
	    "e=0123456789012345678901234567890123456789012345678901234567890123"
	    "456789,x", &s), SASL_EREJECTED);
	assert_int_equal(strlen(s.server_error), sizeof(s.server_error) - 1);
	/* Once checked, the exchange is over. */
	assert_int_equal(sasl_scram_verify(&s, S("dj0=")), SASL_ESTATE);
	sasl_scram_wipe(&s);
}

struct badfirst {
	const char	*msg;
	enum sasl_error	 err;
};

static const struct badfirst badfirsts[] = {
	/* Nonce does not extend ours, or does not extend it at all. */
	{ "r=fyko+d2lbbFgONRv9qkxdawX3rfc,s=QSXCR+Q6sek8bf92,i=4096",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096",
	    SASL_ESERVER },
	{ "r=,s=QSXCR+Q6sek8bf92,i=4096", SASL_ESERVER },
	/* A mandatory extension we cannot know. */
	{ "m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
	    SASL_ESERVER },
	/* Order, missing and malformed attributes. */
	{ "s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096", SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92", SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,", SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096", SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf9,i=4096",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=04096",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096x",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=10000001",
	    SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,"
	    "i=99999999999999999999999", SASL_ESERVER },
	{ "r=fyko+d2lbbFgONRv9qkxdawL3r\x7f" "c,s=QSXCR+Q6sek8bf92,i=1",
	    SASL_ESERVER },
	{ "", SASL_ESERVER },
	/* Well-formed, with an extension at the end. */
	{ "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1,x=y",
	    SASL_OK },
};

static void
test_scram_bad_server_first(void **state)
{
	struct sasl_scram	s;
	char			out[SASL_SCRAM_B64_SIZE];
	char			in[SASL_SCRAM_B64_SIZE];
	size_t			i, n;
	enum sasl_error		e;

	for (i = 0; i < NELEM(badfirsts); i++) {
		assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1,
		    S("user"), S("fyko+d2lbbFgONRv9qkxdawL"), out,
		    sizeof(out)), SASL_OK);
		b64(badfirsts[i].msg, in, sizeof(in), &n);
		e = sasl_scram_final(&s, in, n, S("pencil"), out, sizeof(out));
		if (e != badfirsts[i].err)
			fail_msg("server-first #%zu: got %s", i,
			    sasl_strerror(e));
		sasl_scram_wipe(&s);
	}

	/* Not base64 at all, and a NUL inside. */
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("user"),
	    S("abc"), out, sizeof(out)), SASL_OK);
	assert_int_equal(sasl_scram_final(&s, S("r=abc"), S("pencil"), out,
	    sizeof(out)), SASL_EBASE64);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("user"),
	    S("abc"), out, sizeof(out)), SASL_OK);
	/* "r=abcd\0,s=QQ==,i=1" */
	assert_int_equal(sasl_scram_final(&s, S("cj1hYmNkACxzPVFRPT0saT0x"),
	    S("pencil"), out, sizeof(out)), SASL_ESERVER);
	sasl_scram_wipe(&s);
}

static void
test_scram_client_rules(void **state)
{
	struct sasl_scram	s;
	char			out[SASL_SCRAM_B64_SIZE];
	char			in[SASL_SCRAM_B64_SIZE];
	char			big[SASL_FIELD_MAX + 1];
	size_t			n;

	/* '=' and ',' in the user name are escaped. */
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA256,
	    S("a=b,c@d"), S("N"), out, sizeof(out)), SASL_OK);
	assert_b64_is(out, "n,,n=a=3Db=2Cc@d,r=N");
	sasl_scram_wipe(&s);

	/* SASLprep (RFC 4013): NFKC and mapping, then the prohibitions. */
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA256,
	    S("\xc3\xb1" "a\xc2\xa0" "ca"), S("N"), out, sizeof(out)),
	    SASL_OK);
	assert_b64_is(out, "n,,n=\xc3\xb1" "a ca,r=N");
	sasl_scram_wipe(&s);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA256, S("us\ter"),
	    S("N"), out, sizeof(out)), SASL_ESASLPREP);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA256,
	    S("\xc2\xad"), S("N"), out, sizeof(out)), SASL_ESASLPREP);
	assert_int_equal(sasl_saslprep_ok(S("pencil sharpener~")), SASL_OK);
	assert_int_equal(sasl_saslprep_ok(S("clavar\xc3\xa9")), SASL_OK);
	assert_int_equal(sasl_saslprep_ok(S("a\0b")), SASL_ESASLPREP);
	assert_int_equal(sasl_saslprep_ok(S("\x7f")), SASL_ESASLPREP);
	assert_int_equal(sasl_saslprep_ok(S("\xee\x80\x80")), SASL_ESASLPREP);

	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("user"),
	    S("fyko+d2lbbFgONRv9qkxdawL"), out, sizeof(out)), SASL_OK);
	b64(scrams[0].server_first, in, sizeof(in), &n);
	assert_int_equal(sasl_scram_final(&s, in, n, S("p\x07ncil"), out,
	    sizeof(out)), SASL_ESASLPREP);
	assert_string_equal(out, "");
	/* After a failure the exchange cannot go on. */
	assert_int_equal(sasl_scram_final(&s, in, n, S("pencil"), out,
	    sizeof(out)), SASL_ESTATE);
	sasl_scram_wipe(&s);

	/* User name and nonce bounds. */
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, "", 0, S("N"),
	    out, sizeof(out)), SASL_EEMPTY);
	memset(big, ',', sizeof(big));
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, big, 255,
	    S("N"), out, sizeof(out)), SASL_OK);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, big, 256,
	    S("N"), out, sizeof(out)), SASL_ETOOLONG);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"), "", 0,
	    out, sizeof(out)), SASL_EEMPTY);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"),
	    S("a,b"), out, sizeof(out)), SASL_ECHAR);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"),
	    S("a b"), out, sizeof(out)), SASL_ECHAR);
	memset(big, 'n', sizeof(big));
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"), big,
	    SASL_SCRAM_NONCE_MAX, out, sizeof(out)), SASL_OK);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"), big,
	    SASL_SCRAM_NONCE_MAX + 1, out, sizeof(out)), SASL_ETOOLONG);
	assert_int_equal(sasl_scram_start(&s, SASL_SCRAM_SHA1, S("u"), S("N"),
	    out, 8), SASL_ENOSPACE);
	assert_int_equal(sasl_scram_start(&s, (enum sasl_scram_hash)99,
	    S("u"), S("N"), out, sizeof(out)), SASL_ECRYPTO);

	/* Steps out of order. */
	sasl_scram_wipe(&s);
	assert_int_equal(sasl_scram_final(&s, S("cj1h"), S("p"), out,
	    sizeof(out)), SASL_ESTATE);
	assert_int_equal(sasl_scram_verify(&s, S("dj0=")), SASL_ESTATE);
}

static void
test_scram_random_nonce(void **state)
{
	struct sasl_scram	a, b;
	char			out[SASL_SCRAM_B64_SIZE];
	char			raw[SASL_SCRAM_MSG_MAX];
	size_t			n;

	assert_int_equal(sasl_scram_start(&a, SASL_SCRAM_SHA256, S("user"),
	    NULL, 0, out, sizeof(out)), SASL_OK);
	assert_int_equal(base64_decode(out, strlen(out), raw, sizeof(raw), &n),
	    0);
	/* "n,,n=user,r=" and 24 characters. */
	assert_int_equal(n, 12 + 24);
	assert_memory_equal(raw, "n,,n=user,r=", 12);
	assert_null(memchr(raw + 12, ',', 24));
	assert_int_equal(a.noncelen, 24);
	assert_int_equal(sasl_scram_start(&b, SASL_SCRAM_SHA256, S("user"),
	    NULL, 0, out, sizeof(out)), SASL_OK);
	assert_memory_not_equal(a.nonce, b.nonce, 24);
	sasl_scram_wipe(&a);
	sasl_scram_wipe(&b);
}

static void
test_xoauth2(void **state)
{
	char	out[SASL_XOAUTH2_SIZE(20, 45)], raw[128];
	size_t	n;

	/* Google's documented example. */
	assert_int_equal(sasl_xoauth2_encode(S("someuser@example.com"),
	    S("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"), out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out,
	    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOW"
	    "RmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	assert_int_equal(base64_decode(out, strlen(out), raw, sizeof(raw), &n),
	    0);
	assert_int_equal(n, 5 + 20 + 1 + 12 + 45 + 2);

	assert_int_equal(sasl_xoauth2_encode(S("u"), S("t"), out,
	    sizeof(out)), SASL_OK);
	assert_b64_is(out, "user=u\001auth=Bearer t\001\001");

	assert_int_equal(sasl_xoauth2_encode(S("u"), S("t\001x"), out,
	    sizeof(out)), SASL_ECHAR);
	assert_int_equal(sasl_xoauth2_encode(S("u\r\n"), S("t"), out,
	    sizeof(out)), SASL_ECHAR);
	assert_int_equal(sasl_xoauth2_encode(S("u\0"), S("t"), out,
	    sizeof(out)), SASL_ECHAR);
	assert_int_equal(sasl_xoauth2_encode(S("someuser@example.com"),
	    S("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"), out,
	    sizeof(out) - 1), SASL_ENOSPACE);
}

static void
test_inspect(void **state)
{
	struct sasl_plain_info	info;

	/* The seed's string. */
	assert_int_equal(sasl_plain_inspect(S(SEED_PLAIN), &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_OK);
	assert_int_equal(info.nuls, 2);
	assert_true(info.authzid.present);
	assert_int_equal(info.authzid.len, 0);
	assert_int_equal(info.authcid.len, strlen(SEED_USER));
	assert_memory_equal(info.authcid.p, SEED_USER, info.authcid.len);
	assert_int_equal(info.passwd.len, strlen(SEED_PASS));
	assert_memory_equal(info.passwd.p, SEED_PASS, info.passwd.len);
	assert_int_equal(info.passwd.err, SASL_OK);

	/* "user\0pass": the leading NUL forgotten. */
	assert_int_equal(sasl_plain_inspect(S("dXNlcgBwYXNz"), &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_EFORMAT);
	assert_false(info.authzid.present);
	assert_true(info.authcid.present);
	assert_memory_equal(info.authcid.p, "user", 4);
	assert_memory_equal(info.passwd.p, "pass", 4);
	assert_int_equal(info.authcid.err, SASL_OK);

	/* "userpass": no NUL, no fields. */
	assert_int_equal(sasl_plain_inspect(S("dXNlcnBhc3M="), &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_EFORMAT);
	assert_int_equal(info.nuls, 0);
	assert_false(info.authcid.present);
	assert_int_equal(info.rawlen, 8);

	/* "Ursel\0Kurt\0xipj3plmq": the authzid is flagged. */
	assert_int_equal(sasl_plain_inspect(S("VXJzZWwAS3VydAB4aXBqM3BsbXE="),
	    &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_EAUTHZID);
	assert_int_equal(info.authzid.err, SASL_EAUTHZID);
	assert_int_equal(info.authcid.err, SASL_OK);

	/* "\0us\rer\0\0" : CR in the user, NUL as the password. */
	assert_int_equal(sasl_plain_inspect(S("AHVzDWVyAAA="), &info), SASL_OK);
	assert_int_equal(info.verdict, SASL_ECRLF);
	assert_int_equal(info.nuls, 3);
	assert_int_equal(info.authcid.err, SASL_ECRLF);
	assert_int_equal(info.passwd.err, SASL_ENUL);

	assert_int_equal(sasl_plain_inspect(S(SEED_PLAIN "\n"), &info),
	    SASL_EBASE64);
	assert_int_equal(sasl_plain_inspect(S("AGptczFAam1zMS5uZXQAbm90"
	    "Lm15LnJlYWwucGFzc3dvcmQ"), &info), SASL_EBASE64);
	sasl_plain_info_wipe(&info);
	assert_int_equal(info.rawlen, 0);
}

static void
test_strerror(void **state)
{
	int	e;

	for (e = SASL_OK; e <= SASL_ECRYPTO; e++) {
		assert_non_null(sasl_strerror((enum sasl_error)e));
		assert_string_not_equal(sasl_strerror((enum sasl_error)e),
		    "unknown error");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_decode_table),
		cmocka_unit_test(test_plain_field_limits),
		cmocka_unit_test(test_plain_utf8_at_limit),
		cmocka_unit_test(test_plain_decode_b64),
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_utf8_all_code_points),
		cmocka_unit_test(test_login_table),
		cmocka_unit_test(test_login_challenges),
		cmocka_unit_test(test_login_decode_b64),
		cmocka_unit_test(test_plain_encode),
		cmocka_unit_test(test_plain_encode_any_octets),
		cmocka_unit_test(test_login_encode),
		cmocka_unit_test(test_cram_md5),
		cmocka_unit_test(test_scram_rfc_exchanges),
		cmocka_unit_test(test_scram_server_final),
		cmocka_unit_test(test_scram_bad_server_first),
		cmocka_unit_test(test_scram_client_rules),
		cmocka_unit_test(test_scram_random_nonce),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_inspect),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
