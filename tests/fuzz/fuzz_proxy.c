/*
 * libFuzzer harness for the PROXY protocol parser: any input, and every
 * prefix of it, is either complete, incomplete or invalid, never a crash,
 * and a complete header never claims more bytes than it was given.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "common/proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result	r;
	int			n, m;

	n = proxy_parse(data, size, &r);
	assert(n >= -1 && (size_t)(n > 0 ? n : 0) <= size);
	if (n > 0) {
		/* The same header with nothing after it. */
		m = proxy_parse(data, (size_t)n, &r);
		assert(m == n);
	}
	return 0;
}
