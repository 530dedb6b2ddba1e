/*
 * Base64 (RFC 4648 section 4), with a strict decoder.
 *
 * The alphabet is mapped with arithmetic on masks rather than a lookup
 * table or a switch, so that neither memory access patterns nor branches
 * depend on the (possibly secret) characters.  Only the length and the
 * position of the padding, which are public, steer control flow.
 */
#include <stdint.h>
#include <string.h>

#include "common/base64.h"

static unsigned int	range_mask(unsigned int, unsigned int, unsigned int);
static char		encode_char(unsigned int);
static unsigned int	decode_char(unsigned char);

/* All ones if lo <= c <= hi, else zero (c, lo, hi below 256). */
static unsigned int
range_mask(unsigned int c, unsigned int lo, unsigned int hi)
{
	unsigned int	out;

	/* Either difference wraps, setting bits above 8, when c is out. */
	out = ((c - lo) | (hi - c)) >> 8;
	return (out & 1) - 1;
}

/* The character for a six-bit value. */
static char
encode_char(unsigned int v)
{
	unsigned int	c;

	/*
	 * Start from 'A' + v and correct for each range v has passed:
	 * 'a' follows 'Z' by 6, '0' is 75 below 'a' - 26 + 52, and so on.
	 */
	c = 'A' + v;
	c += ((25u - v) >> 8) & 6;
	c -= ((51u - v) >> 8) & 75;
	c -= ((61u - v) >> 8) & 15;
	c += ((62u - v) >> 8) & 3;
	return (char)c;
}

/* The six-bit value of a character, or 0x100 if it is not in the alphabet. */
static unsigned int
decode_char(unsigned char ch)
{
	unsigned int	c = ch, upper, lower, digit, plus, slash, v;

	upper = range_mask(c, 'A', 'Z');
	lower = range_mask(c, 'a', 'z');
	digit = range_mask(c, '0', '9');
	plus = range_mask(c, '+', '+');
	slash = range_mask(c, '/', '/');
	v = (upper & (c - 'A')) | (lower & (c - 'a' + 26)) |
	    (digit & (c - '0' + 52)) | (plus & 62) | (slash & 63);
	return (v & 0x3f) | (~(upper | lower | digit | plus | slash) & 0x100);
}

int
base64_encode(const void *src, size_t srclen, char *dst, size_t dstsize,
    size_t *dstlen)
{
	const unsigned char	*s = src;
	size_t			 i, o = 0, rest;
	unsigned int		 w;

	if (dstsize > 0)
		dst[0] = '\0';
	/* BASE64_ENCODED_SIZE(srclen) must not overflow. */
	if (srclen / 3 >= SIZE_MAX / 4 - 1)
		return -1;
	if (dstsize < BASE64_ENCODED_SIZE(srclen))
		return -1;

	for (i = 0; srclen - i >= 3; i += 3) {
		w = (unsigned int)s[i] << 16 | (unsigned int)s[i + 1] << 8 |
		    s[i + 2];
		dst[o++] = encode_char(w >> 18);
		dst[o++] = encode_char((w >> 12) & 0x3f);
		dst[o++] = encode_char((w >> 6) & 0x3f);
		dst[o++] = encode_char(w & 0x3f);
	}
	rest = srclen - i;
	if (rest > 0) {
		w = (unsigned int)s[i] << 16;
		if (rest == 2)
			w |= (unsigned int)s[i + 1] << 8;
		dst[o++] = encode_char(w >> 18);
		dst[o++] = encode_char((w >> 12) & 0x3f);
		dst[o++] = rest == 2 ? encode_char((w >> 6) & 0x3f) : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	if (dstlen != NULL)
		*dstlen = o;
	return 0;
}

int
base64_decode(const char *src, size_t srclen, void *dst, size_t dstsize,
    size_t *dstlen)
{
	const unsigned char	*s = (const unsigned char *)src;
	unsigned char		*d = dst;
	size_t			 i, o = 0, pad = 0, outlen;
	unsigned int		 v0, v1, v2, v3, w, bad = 0;
	int			 last;

	if (srclen % 4 != 0)
		return -1;
	if (srclen > 0 && s[srclen - 1] == '=') {
		pad = 1;
		if (s[srclen - 2] == '=')
			pad = 2;
	}
	outlen = srclen / 4 * 3 - pad;
	if (outlen > dstsize)
		return -1;

	for (i = 0; i < srclen; i += 4) {
		last = i + 4 == srclen;
		v0 = decode_char(s[i]);
		v1 = decode_char(s[i + 1]);
		/* '=' anywhere but the padding decodes as invalid. */
		v2 = last && pad == 2 ? 0 : decode_char(s[i + 2]);
		v3 = last && pad >= 1 ? 0 : decode_char(s[i + 3]);
		bad |= (v0 | v1 | v2 | v3) & 0x100;
		w = (v0 & 0x3f) << 18 | (v1 & 0x3f) << 12 | (v2 & 0x3f) << 6 |
		    (v3 & 0x3f);
		d[o++] = (unsigned char)(w >> 16);
		if (last && pad == 2) {
			/* The four low bits of v1 must be zero. */
			bad |= w & 0xffff;
			break;
		}
		d[o++] = (unsigned char)(w >> 8);
		if (last && pad == 1) {
			/* The two low bits of v2 must be zero. */
			bad |= w & 0xff;
			break;
		}
		d[o++] = (unsigned char)w;
	}
	if (bad != 0) {
		explicit_bzero(d, o);
		return -1;
	}
	if (dstlen != NULL)
		*dstlen = outlen;
	return 0;
}
