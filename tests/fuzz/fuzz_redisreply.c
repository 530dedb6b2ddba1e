/*
 * libFuzzer harness for the guard store's reply reader (redisconn.c: what
 * a hostile or broken Redis may send): the input after its first byte is
 * fed in chunks of 1 to 256 bytes (that byte says how many), as the
 * socket's reads would come, and every reply taken.  Never a crash; every
 * reply keeps the bounds: at most REDISCONN_OBJECTS_MAX values, none a
 * string over REDISCONN_STRING_MAX bytes, at most 9 levels deep
 * (hiredis's stack: 8 of arrays, then a value); an
 * error ends the reader, as it ends the connection.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "server/auth/redisconn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Values in r (itself included), checking each on the way. */
static size_t
walk(const redisReply *r, int depth)
{
	size_t	i, n = 1;

	assert(depth <= 9);
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		assert(r->len <= REDISCONN_STRING_MAX && r->str[r->len] == '\0');
		break;
	case REDIS_REPLY_ARRAY:
		assert(r->elements <= REDISCONN_OBJECTS_MAX);
		for (i = 0; i < r->elements; i++) {
			assert(r->element[i] != NULL);
			n += walk(r->element[i], depth + 1);
		}
		break;
	case REDIS_REPLY_INTEGER:
	case REDIS_REPLY_NIL:
		break;
	default:
		assert(0);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redisconn_reader	*rd;
	redisReply		*reply;
	const char		*why;
	char			 err[160];
	size_t			 chunk, off, n;
	int			 r = 0;

	if (size < 1 || (rd = redisconn_reader_new()) == NULL)
		return 0;
	chunk = (size_t)data[0] + 1;
	for (off = 1; off < size && r != -1; off += n) {
		n = size - off < chunk ? size - off : chunk;
		if (redisconn_reader_feed(rd, (const char *)data + off, n,
		    &why) == -1) {
			assert(why != NULL);
			break;
		}
		while ((r = redisconn_reader_next(rd, &reply, err,
		    sizeof(err))) == 1) {
			assert(walk(reply, 1) <= REDISCONN_OBJECTS_MAX);
			freeReplyObject(reply);
		}
		assert(r == 0 || (r == -1 && strncmp(err, "bad reply: ",
		    11) == 0));
	}
	redisconn_reader_free(rd);
	return 0;
}
