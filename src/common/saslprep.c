/*
 * SASLprep (saslprep.h) on libidn.
 */
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "common/sasl.h"
#include "common/saslprep.h"

int
saslprep(const char *in, size_t inlen, enum saslprep_kind kind, char *out,
    size_t outsize, size_t *outlen)
{
	size_t	i;
	int	rc;

	*outlen = 0;
	if (outsize == 0)
		return -1;
	out[0] = '\0';
	/* libidn reads a C string: a NUL would cut it short, unseen. */
	if (inlen >= outsize || memchr(in, '\0', inlen) != NULL ||
	    !sasl_utf8_valid(in, inlen))
		return -1;
	/* Printable ASCII is its own SASLprep: no library call. */
	for (i = 0; i < inlen; i++)
		if ((unsigned char)in[i] < 0x20 ||
		    (unsigned char)in[i] > 0x7e)
			break;
	memcpy(out, in, inlen);
	out[inlen] = '\0';
	if (i == inlen) {
		*outlen = inlen;
		return 0;
	}
	rc = stringprep(out, outsize, kind == SASLPREP_STORED ?
	    STRINGPREP_NO_UNASSIGNED : 0, stringprep_saslprep);
	if (rc != STRINGPREP_OK) {
		explicit_bzero(out, outsize);
		return -1;
	}
	*outlen = strlen(out);
	return 0;
}
