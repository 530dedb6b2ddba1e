/*
 * libFuzzer harness for the DATA state machine.
 *
 * Input layout: byte 0 picks the size limit, bytes 1..4 the sizes of the
 * pieces the rest is fed in (cycled).  The same bytes are also fed in one
 * piece and one byte at a time; all three runs must agree exactly.  A simple
 * line-by-line reference decides where the message ends and, for a clean
 * message, what the unstuffed body is.  Then the same bytes as BDAT content
 * (raw mode), in the same three ways: consumed whole, never "done", with a
 * bare CR or LF flagged exactly when there is one, and a clean content
 * passed on unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/smtp/dataparse.h"

#define HDR	5

struct run {
	char		*out;
	size_t		 outlen;
	size_t		 used;
	struct dataparse p;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	feed(const char *, size_t, uint64_t, int, const uint8_t *,
		    size_t, struct run *);
static void	check_raw(const char *, size_t, uint64_t, const uint8_t *);
static size_t	end_of_message(const char *, size_t);
static void	check_clean(const char *, size_t, const struct run *);

/*
 * Feed in pieces; every piece is copied to a heap block of its exact size
 * and output goes to a block of exactly the piece's size, so that any read
 * or write beyond the bounds the API promises is caught by ASan.
 */
static void
feed(const char *in, size_t len, uint64_t maxsize, int raw,
    const uint8_t *sizes, size_t nsizes, struct run *r)
{
	size_t	 pos = 0, k = 0, piece, n, o;
	char	*buf, *out;

	r->out = malloc(len + 1);
	if (r->out == NULL)
		abort();
	r->outlen = 0;
	r->used = 0;
	if (raw)
		dataparse_init_raw(&r->p, maxsize);
	else
		dataparse_init(&r->p, maxsize);
	while (pos < len && !r->p.done) {
		piece = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : len;
		if (piece > len - pos)
			piece = len - pos;
		buf = malloc(piece);
		out = malloc(piece);
		if (buf == NULL || out == NULL)
			abort();
		memcpy(buf, in + pos, piece);
		n = dataparse_feed(&r->p, buf, piece, out, &o);
		if (n > piece || o > n)
			abort();
		if (n < piece && !r->p.done)
			abort();
		memcpy(r->out + r->outlen, out, o);
		r->outlen += o;
		r->used += n;
		pos += n;
		free(buf);
		free(out);
		if (n < piece)
			break;
	}
	/* Nothing is consumed once the message is over. */
	if (r->p.done) {
		char	c = 'x', d;

		if (dataparse_feed(&r->p, &c, 1, &d, &o) != 0 || o != 0)
			abort();
	}
}

/*
 * Where the message ends: just after the first CRLF "." CRLF, counting the
 * CRLF that preceded the data; 0 if it does not end within len.
 */
static size_t
end_of_message(const char *in, size_t len)
{
	size_t	i;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* A message without errors: lines end in CRLF; one leading dot goes. */
static void
check_clean(const char *in, size_t used, const struct run *r)
{
	size_t	i = 0, j, o = 0, n;

	if (used < 3)
		abort();
	used -= 3;	/* the final ".\r\n" */
	while (i < used) {
		for (j = i; j < used && in[j] != '\n'; j++)
			if (in[j] == '\r' && (j + 1 >= used ||
			    in[j + 1] != '\n'))
				abort();
		if (j >= used || j == i || in[j - 1] != '\r')
			abort();
		if (j + 1 - i > DATA_LINE_MAX)
			abort();
		if (in[i] == '.')
			i++;
		n = j + 1 - i;
		if (o + n > r->outlen || memcmp(r->out + o, in + i, n) != 0)
			abort();
		o += n;
		i = j + 1;
	}
	if (o != r->outlen || r->p.size != o)
		abort();
	if (r->p.maxsize != 0 && r->p.size > r->p.maxsize)
		abort();
}

/* BDAT: the content rule of DATA without its dots. */
static void
check_raw(const char *in, size_t len, uint64_t maxsize, const uint8_t *sizes)
{
	struct run	 a, b, c;
	uint8_t		 ones[1] = { 0 };
	unsigned	 want = 0;
	size_t		 i;

	feed(in, len, maxsize, 1, sizes, 4, &a);
	feed(in, len, maxsize, 1, NULL, 0, &b);
	feed(in, len, maxsize, 1, ones, 1, &c);
	dataparse_end(&a.p);
	dataparse_end(&b.p);
	dataparse_end(&c.p);
	if (a.p.errors != b.p.errors || c.p.errors != b.p.errors ||
	    a.used != len || b.used != len || c.used != len || b.p.done ||
	    a.outlen != b.outlen || c.outlen != b.outlen ||
	    memcmp(a.out, b.out, b.outlen) != 0 ||
	    memcmp(c.out, b.out, b.outlen) != 0)
		abort();
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && (i + 1 == len || in[i + 1] != '\n'))
			want |= DATA_EBARECR;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			want |= DATA_EBARELF;
	}
	if ((b.p.errors & (DATA_EBARECR | DATA_EBARELF)) != want)
		abort();
	if (b.p.errors == 0 && (b.outlen != len ||
	    memcmp(b.out, in, len) != 0))
		abort();
	free(a.out);
	free(b.out);
	free(c.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 a, b, c;
	const char	*in;
	uint64_t	 maxsize = 0;
	size_t		 len, end, i;
	uint8_t		 ones[1] = { 0 };

	if (size < HDR)
		return 0;
	if (data[0] & 0x80)
		maxsize = (uint64_t)(data[0] & 0x7f) * 3 + 1;
	in = (const char *)data + HDR;
	len = size - HDR;

	feed(in, len, maxsize, 0, data + 1, 4, &a);
	feed(in, len, maxsize, 0, NULL, 0, &b);
	feed(in, len, maxsize, 0, ones, 1, &c);

	for (i = 0; i < 2; i++) {
		const struct run	*x = i == 0 ? &a : &c;

		if (x->used != b.used || x->outlen != b.outlen ||
		    x->p.errors != b.p.errors || x->p.done != b.p.done ||
		    x->p.size != b.p.size ||
		    memcmp(x->out, b.out, b.outlen) != 0)
			abort();
	}
	if (b.outlen > b.used)
		abort();

	/* Only CRLF.CRLF ends the message, and always does. */
	if ((end = end_of_message(in, len)) != 0) {
		if (!b.p.done || b.used != end)
			abort();
	} else if (b.p.done || b.used != len)
		abort();
	if (b.p.done && b.p.errors == 0)
		check_clean(in, b.used, &b);

	free(a.out);
	free(b.out);
	free(c.out);
	check_raw(in, len, maxsize, data + 1);
	return 0;
}
