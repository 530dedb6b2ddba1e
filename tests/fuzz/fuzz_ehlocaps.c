/*
 * libFuzzer harness for what the relay reads from a server besides the
 * reply syntax itself (fuzz_reply.c): the EHLO capability parser, the
 * stored form of a reply, and the status a bounce takes from it.  The
 * input is a server's byte stream; every complete reply goes through all
 * three, which must keep their promises (bounded, printable output).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/reply.h"
#include "server/queue/dsn.h"
#include "server/queue/relay.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct reply *r)
{
	struct relay_caps	caps;
	char			text[RELAY_TEXT_MAX + 1], status[16];
	size_t			i, len;

	relay_caps_parse(r, &caps);
	if (!caps.esmtp || (caps.size_max > 0 && !caps.size))
		abort();
	relay_reply_text(r, text, sizeof(text));
	len = strlen(text);
	if (len < 3 || len > RELAY_TEXT_MAX)
		abort();
	for (i = 0; i < len; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			abort();
	dsn_status(text, status, sizeof(status));
	if ((status[0] != '4' && status[0] != '5') || status[1] != '.' ||
	    strlen(status) > 9)
		abort();
	if (dsn_is_smtp_reply(text) != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply_parser	p;
	enum reply_status	st;
	size_t			off = 0, used;

	reply_parser_init(&p);
	while (off < size) {
		st = reply_parse(&p, data + off, size - off, &used);
		off += used;
		if (st == REPLY_DONE)
			check(&p.reply);
		else
			break;
	}
	reply_parser_free(&p);
	return 0;
}
