/*
 * libFuzzer harness for the parser of a server's answer to a raw
 * ClientHello (client/tlshello.c): the input is what the server sent,
 * read against a TLS 1.2 offer and an SSLv3 one.  The parser must keep its
 * promises: a ServerHello only with a suite and version offered, a
 * printable reason for every violation, the same answer for the same
 * octets whatever follows a decided one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/tlshello.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint16_t	suites[] = { 0x000a, 0x0005, 0x0003, 0xc012 };

static void
one(const struct tlshello_offer *o, const uint8_t *data, size_t size)
{
	struct tlshello_answer	a;
	enum tlshello_kind	k;
	size_t			i, n;

	k = tlshello_parse(o, data, size, &a);
	switch (k) {
	case TLSHELLO_MORE:
		break;
	case TLSHELLO_HELLO:
		if (a.version < TLSHELLO_SSL3 || a.version > o->version)
			abort();
		for (i = 0; i < o->nsuites; i++)
			if (o->suites[i] == a.suite)
				break;
		if (i == o->nsuites)
			abort();
		break;
	case TLSHELLO_ALERT:
		if (a.level != 1 && a.level != 2)
			abort();
		break;
	case TLSHELLO_BAD:
		n = strnlen(a.why, sizeof(a.why));
		if (n == 0 || n == sizeof(a.why))
			abort();
		for (i = 0; i < n; i++)
			if (a.why[i] < 0x20 || a.why[i] > 0x7e)
				abort();
		break;
	default:
		abort();
	}
	/* A prefix is never decided otherwise than the whole. */
	if (size > 0 && k == TLSHELLO_MORE &&
	    tlshello_parse(o, data, size - 1, &a) != TLSHELLO_MORE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlshello_offer	o;

	if (size > TLSHELLO_ANSWER_MAX)
		return 0;
	memset(&o, 0, sizeof(o));
	o.suites = suites;
	o.nsuites = sizeof(suites) / sizeof(suites[0]);
	o.version = TLSHELLO_TLS12;
	o.extensions = 1;
	one(&o, data, size);
	o.version = TLSHELLO_SSL3;
	o.extensions = 0;
	one(&o, data, size);
	return 0;
}
