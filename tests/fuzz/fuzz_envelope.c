/*
 * libFuzzer harness for the envelope parser.  Envelopes are ours, but
 * they carry text that came from the network (addresses, remote replies
 * in "error" lines): whatever parses must format and parse back to the
 * same thing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/shared/envelope.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 a, b;
	char		 err[128], *out, *out2;
	size_t		 len, len2, i;

	if (envelope_parse((const char *)data, size, &a, err,
	    sizeof(err)) == -1)
		return 0;
	if (envelope_format(&a, &out, &len) == -1) {
		/* Only a field the format cannot hold may fail. */
		envelope_free(&a);
		return 0;
	}
	if (envelope_parse(out, len, &b, err, sizeof(err)) == -1)
		abort();
	if (a.nrcpts != b.nrcpts)
		abort();
	for (i = 0; i < a.nrcpts; i++)
		if (strcmp(a.rcpts[i].addr, b.rcpts[i].addr) != 0 ||
		    a.rcpts[i].remote != b.rcpts[i].remote ||
		    a.rcpts[i].attempts != b.rcpts[i].attempts ||
		    a.rcpts[i].next_try != b.rcpts[i].next_try ||
		    strcmp(a.rcpts[i].error, b.rcpts[i].error) != 0 ||
		    strcmp(a.rcpts[i].host, b.rcpts[i].host) != 0)
			abort();
	if (envelope_format(&b, &out2, &len2) == -1 || len2 != len ||
	    memcmp(out, out2, len) != 0)
		abort();
	free(out);
	free(out2);
	envelope_free(&a);
	envelope_free(&b);
	return 0;
}
