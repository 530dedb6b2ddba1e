/*
 * libFuzzer harness for MX answers as the relay reads them off the wire
 * (dns_parse_mx: c-ares's parser, our null-MX rule, de-duplication and
 * sorting).  Whatever the input, the result is one of the documented
 * values and the hosts come out sorted, terminated and unique.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/queue/dns.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_mx	mx[DNS_MX_MAX];
	size_t		n = 99, i, j;
	int		r;

	if (size > 65535)
		return 0;
	r = dns_parse_mx(data, (int)size, mx, DNS_MX_MAX, &n);
	if (r != 1 && r != 0 && r != -1 && r != -2)
		abort();
	if (r != 1) {
		if (n != 0)
			abort();
		return 0;
	}
	if (n == 0 || n > DNS_MX_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (memchr(mx[i].host, '\0', sizeof(mx[i].host)) == NULL ||
		    mx[i].host[0] == '\0')
			abort();
		if (i > 0 && mx[i].pref < mx[i - 1].pref)
			abort();
		for (j = 0; j < i; j++)
			if (strcasecmp(mx[i].host, mx[j].host) == 0)
				abort();
	}
	return 0;
}
