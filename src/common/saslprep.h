/*
 * SASLprep (RFC 4013), the stringprep profile (RFC 3454) for user names
 * and passwords of SCRAM (RFC 5802 section 2.2), through libidn's
 * stringprep(): non-ASCII spaces map to SPACE, "commonly mapped to
 * nothing" characters go, the string is NFKC-normalised, and control
 * characters, private use, non-characters and the rest of RFC 4013
 * section 2.3 are prohibited, with the bidi rules of RFC 3454 section 6.
 *
 * A stored string (the password an entry is made of) refuses unassigned
 * code points (RFC 3454 section 7); a query (what a client sent) allows
 * them, so that a newer Unicode on one side does not lock a user out.
 */
#ifndef SMTPAUTH_SASLPREP_H
#define SMTPAUTH_SASLPREP_H

#include <stddef.h>

enum saslprep_kind {
	SASLPREP_QUERY = 0,
	SASLPREP_STORED = 1,
};

/*
 * Prepare in (inlen octets, which must be well-formed UTF-8 without NUL)
 * into out, NUL-terminated, its length in *outlen (which may be 0: RFC
 * 4013 lets a string map to nothing; the caller decides).  Returns 0, or
 * -1 when the string is refused or out (outsize octets) is too small.
 */
int	saslprep(const char *in, size_t inlen, enum saslprep_kind, char *out,
	    size_t outsize, size_t *outlen);

#endif
