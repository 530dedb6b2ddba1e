/*
 * Unit tests for base64: the RFC 4648 section 10 vectors both ways, and
 * every way the strict decoder must refuse its input.
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

#define S(x)	x, sizeof(x) - 1

struct vec {
	const char	*raw;
	size_t		 rawlen;
	const char	*enc;
};

/* RFC 4648 section 10, and a few with every bit pattern at the edges. */
static const struct vec vecs[] = {
	{ S(""), "" },
	{ S("f"), "Zg==" },
	{ S("fo"), "Zm8=" },
	{ S("foo"), "Zm9v" },
	{ S("foob"), "Zm9vYg==" },
	{ S("fooba"), "Zm9vYmE=" },
	{ S("foobar"), "Zm9vYmFy" },
	{ S("\0"), "AA==" },
	{ S("\0\0"), "AAA=" },
	{ S("\0\0\0"), "AAAA" },
	{ S("\377"), "/w==" },
	{ S("\377\377"), "//8=" },
	{ S("\377\377\377"), "////" },
	{ S("\373\357\276"), "++++" },
	{ S("\0jms1@jms1.net\0not.my.real.password"),
	    "AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=" },
	{ S("Username:"), "VXNlcm5hbWU6" },
};

/* Inputs the strict decoder refuses. */
struct bad {
	const char	*in;
	size_t		 len;
	const char	*why;
};

static const struct bad bads[] = {
	/* Length not a multiple of four (missing padding). */
	{ S("Z"), "one character" },
	{ S("Zg"), "padding left out" },
	{ S("Zg="), "half the padding" },
	{ S("Zm8"), "padding left out" },
	{ S("Zm9vY"), "five characters" },
	{ S("Zg==="), "too much padding" },
	/* Whitespace and line breaks. */
	{ S(" Zm9v"), "leading space" },
	{ S("Zm9v "), "trailing space" },
	{ S("Zm9v\n"), "trailing LF" },
	{ S("Zm9v\r\n"), "trailing CRLF" },
	{ S("Zm9 v"), "inner space" },
	{ S("Zm\t9v"), "inner tab" },
	{ S("Zm9v\nZm9v"), "line break (MIME style)" },
	{ S("Zg==\r\n"), "CRLF after padding" },
	{ S("    "), "only spaces" },
	/* Characters outside the alphabet. */
	{ S("Zm9-"), "URL-safe '-'" },
	{ S("Zm9_"), "URL-safe '_'" },
	{ S("Zm9*"), "'*'" },
	{ S("Zm9."), "'.'" },
	{ S("Zm9:"), "':'" },
	{ S("Zm9@"), "'@'" },
	{ S("Zm9["), "'['" },
	{ S("Zm9`"), "'`'" },
	{ S("Zm9{"), "'{'" },
	{ S("Zm9\0"), "NUL" },
	{ S("\0\0\0\0"), "only NULs" },
	{ S("Zm9\x7f"), "DEL" },
	{ S("Zm9\x80"), "high octet" },
	{ S("Zm9\xff"), "0xff" },
	{ S("Zm\xc3\xa9"), "UTF-8" },
	/* Padding in the wrong place, or too much of it. */
	{ S("===="), "only padding" },
	{ S("Z==="), "three pads" },
	{ S("Zg=a"), "data after a pad" },
	{ S("Z=g="), "pad inside the quantum" },
	{ S("=Zg="), "leading pad" },
	{ S("Zm=v"), "pad in third place only" },
	{ S("Zg==Zg=="), "padding in the middle" },
	{ S("Zm8=Zm8="), "padding in the middle" },
	{ S("Zm9v===="), "a whole quantum of padding" },
	{ S("Zm9vZg=\0"), "NUL after a pad" },
	/* Non-zero bits after the last octet (RFC 4648 3.5). */
	{ S("Zh=="), "low bits of 2nd char" },
	{ S("Zv=="), "low bits of 2nd char" },
	{ S("Z/=="), "low bits of 2nd char" },
	{ S("Zm9="), "low bits of 3rd char" },
	{ S("Zm/="), "low bits of 3rd char" },
	{ S("AB=="), "low bits of 2nd char" },
	{ S("AAB="), "low bits of 3rd char" },
};

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
test_encode_vectors(void **state)
{
	char	out[128];
	size_t	i, n;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(base64_encode(vecs[i].raw, vecs[i].rawlen,
		    out, sizeof(out), &n), 0);
		assert_string_equal(out, vecs[i].enc);
		assert_int_equal(n, strlen(vecs[i].enc));
		assert_int_equal(n, BASE64_ENCODED_LEN(vecs[i].rawlen));
		/* Exactly enough room works, one less does not. */
		assert_int_equal(base64_encode(vecs[i].raw, vecs[i].rawlen,
		    out, BASE64_ENCODED_SIZE(vecs[i].rawlen), NULL), 0);
		assert_string_equal(out, vecs[i].enc);
		assert_int_equal(base64_encode(vecs[i].raw, vecs[i].rawlen,
		    out, BASE64_ENCODED_SIZE(vecs[i].rawlen) - 1, NULL), -1);
		assert_string_equal(out, "");
	}
}

static void
test_decode_vectors(void **state)
{
	unsigned char	out[128];
	size_t		i, n, len;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		len = strlen(vecs[i].enc);
		n = 999;
		assert_int_equal(base64_decode(vecs[i].enc, len, out,
		    sizeof(out), &n), 0);
		assert_int_equal(n, vecs[i].rawlen);
		assert_memory_equal(out, vecs[i].raw, n);
		assert_true(n <= BASE64_DECODED_MAX(len));
		/* Exactly enough room works, one less does not. */
		assert_int_equal(base64_decode(vecs[i].enc, len, out,
		    vecs[i].rawlen, &n), 0);
		if (vecs[i].rawlen > 0)
			assert_int_equal(base64_decode(vecs[i].enc, len, out,
			    vecs[i].rawlen - 1, &n), -1);
	}
}

static void
test_decode_invalid(void **state)
{
	unsigned char	out[64];
	size_t		i, n;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		n = 12345;
		if (base64_decode(bads[i].in, bads[i].len, out, sizeof(out),
		    &n) != -1)
			fail_msg("accepted #%zu (%s)", i, bads[i].why);
		assert_int_equal(n, 12345);
	}
}

/* Every octet value in every position of a quantum, against the alphabet. */
static void
test_decode_every_char(void **state)
{
	unsigned char	out[3];
	char		in[4];
	int		c, pos, ok;
	size_t		n;

	for (pos = 0; pos < 4; pos++) {
		for (c = 0; c < 256; c++) {
			memcpy(in, "AAAA", 4);
			in[pos] = (char)c;
			ok = c != 0 && strchr(alphabet, c) != NULL;
			/* "AAA=" is the one valid padded form. */
			assert_int_equal(base64_decode(in, 4, out, sizeof(out),
			    &n), ok || (pos == 3 && c == '=') ? 0 : -1);
			if (ok) {
				/* The value lands in the right six bits. */
				unsigned int v = (unsigned int)(strchr(alphabet,
				    c) - alphabet);
				unsigned int w = (unsigned int)out[0] << 16 |
				    (unsigned int)out[1] << 8 | out[2];
				assert_int_equal((w >> (18 - 6 * pos)) & 0x3f,
				    v);
			}
		}
	}
}

/* Every octet alone and in pairs round-trips. */
static void
test_roundtrip_octets(void **state)
{
	unsigned char	raw[2], back[3];
	char		enc[BASE64_ENCODED_SIZE(2)];
	size_t		n, len;
	int		a, b;

	for (a = 0; a < 256; a++) {
		raw[0] = (unsigned char)a;
		assert_int_equal(base64_encode(raw, 1, enc, sizeof(enc), &len),
		    0);
		assert_int_equal(base64_decode(enc, len, back, sizeof(back),
		    &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(back[0], a);
		for (b = 0; b < 256; b++) {
			raw[1] = (unsigned char)b;
			assert_int_equal(base64_encode(raw, 2, enc,
			    sizeof(enc), &len), 0);
			assert_int_equal(base64_decode(enc, len, back,
			    sizeof(back), &n), 0);
			assert_int_equal(n, 2);
			assert_memory_equal(back, raw, 2);
		}
	}
}

/* Longer pseudo-random buffers of every length up to 300 round-trip. */
static void
test_roundtrip_lengths(void **state)
{
	unsigned char	raw[300], back[300];
	char		enc[BASE64_ENCODED_SIZE(300)];
	size_t		len, i, elen, n;
	uint32_t	x = 2463534242u;

	for (len = 0; len <= sizeof(raw); len++) {
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			raw[i] = (unsigned char)x;
		}
		assert_int_equal(base64_encode(raw, len, enc, sizeof(enc),
		    &elen), 0);
		assert_int_equal(elen, BASE64_ENCODED_LEN(len));
		assert_int_equal(base64_decode(enc, elen, back, sizeof(back),
		    &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, raw, len);
	}
}

/* A failed decode leaves nothing of the input behind in the output. */
static void
test_decode_failure_wipes(void **state)
{
	unsigned char	out[16];
	size_t		i, n;

	memset(out, 0xaa, sizeof(out));
	/* "secret" then a bad last quantum. */
	assert_int_equal(base64_decode(S("c2VjcmV0Zh=="), out, sizeof(out),
	    &n), -1);
	for (i = 0; i < sizeof(out); i++)
		assert_true(out[i] == 0 || out[i] == 0xaa);
	assert_null(memchr(out, 's', sizeof(out)));
}

static void
test_sizes(void **state)
{
	char	out[8];

	assert_int_equal(BASE64_ENCODED_LEN(0), 0);
	assert_int_equal(BASE64_ENCODED_LEN(1), 4);
	assert_int_equal(BASE64_ENCODED_LEN(3), 4);
	assert_int_equal(BASE64_ENCODED_LEN(4), 8);
	assert_int_equal(BASE64_ENCODED_SIZE(0), 1);
	assert_int_equal(BASE64_DECODED_MAX(0), 0);
	assert_int_equal(BASE64_DECODED_MAX(4), 3);
	assert_int_equal(BASE64_DECODED_MAX(8), 6);
	/* No room even for the NUL. */
	assert_int_equal(base64_encode("", 0, out, 0, NULL), -1);
	assert_int_equal(base64_encode("", 0, out, 1, NULL), 0);
	assert_string_equal(out, "");
	/* Lengths whose encoding would not fit in a size_t. */
	assert_int_equal(base64_encode("", SIZE_MAX, out, sizeof(out), NULL),
	    -1);
	assert_int_equal(base64_encode("", SIZE_MAX / 4 * 3, out, sizeof(out),
	    NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_decode_invalid),
		cmocka_unit_test(test_decode_every_char),
		cmocka_unit_test(test_roundtrip_octets),
		cmocka_unit_test(test_roundtrip_lengths),
		cmocka_unit_test(test_decode_failure_wipes),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
