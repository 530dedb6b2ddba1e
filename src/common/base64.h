/*
 * Base64 (RFC 4648 section 4, the standard alphabet with padding).
 *
 * The decoder is strict, as SASL (RFC 4954 section 4) wants: the input
 * length must be a multiple of four, padding must be present and only at
 * the end, the unused bits of the last character must be zero, and there
 * is no whitespace, no line breaks and no other alphabet.  So every byte
 * string has exactly one accepted encoding.  Characters are mapped without
 * table lookups or branches on their value, since the data is often a
 * password.
 */
#ifndef SMTPAUTH_BASE64_H
#define SMTPAUTH_BASE64_H

#include <stddef.h>

/* Characters in the encoding of n octets, without the terminating NUL. */
#define BASE64_ENCODED_LEN(n)	((((n) + 2) / 3) * 4)
/* Buffer size for the encoding of n octets, NUL included. */
#define BASE64_ENCODED_SIZE(n)	(BASE64_ENCODED_LEN(n) + 1)
/* Largest number of octets n characters can decode to. */
#define BASE64_DECODED_MAX(n)	(((n) / 4) * 3)

/*
 * Encode srclen octets at src into dst (dstsize octets, at least
 * BASE64_ENCODED_SIZE(srclen)) and NUL-terminate it.  Returns 0 and stores
 * the number of characters (without the NUL) in *dstlen if dstlen is not
 * NULL, or -1 if dst is too small; dst is then left empty if it has room
 * for the NUL.
 */
int	base64_encode(const void *src, size_t srclen, char *dst,
	    size_t dstsize, size_t *dstlen);

/*
 * Decode srclen characters at src (not NUL-terminated; a NUL is just an
 * invalid character) into dst, which has room for dstsize octets
 * (BASE64_DECODED_MAX(srclen) is always enough).  Returns 0 and stores the
 * number of octets in *dstlen (if dstlen is not NULL), or -1 if the input
 * is not strict base64 or dst is too small.  On failure whatever was
 * written to dst is wiped: it may have been part of a secret.  An empty
 * input decodes to zero octets.
 */
int	base64_decode(const char *src, size_t srclen, void *dst,
	    size_t dstsize, size_t *dstlen);

#endif
