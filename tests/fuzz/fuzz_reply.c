/*
 * libFuzzer harness for the SMTP reply parser.  The input is a byte stream
 * from a server; the first octet seeds how it is cut into pieces.  It is
 * parsed twice, whole and in pieces (each piece a heap block of its exact
 * size, so ASan sees any read past it), and the two runs must agree reply
 * for reply; every reply must respect the parser's promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_REPLIES	64

struct summary {
	int	code;
	char	enhanced[REPLY_ENHANCED_SIZE];
	size_t	nlines;
	size_t	textlen;
	uint32_t hash;
};

static void	check(const struct reply *);
static void	summarize(const struct reply *, struct summary *);
static size_t	run(const uint8_t *, size_t, unsigned, struct summary *,
		    int *);

/* What a reply must look like, whatever the input was. */
static void
check(const struct reply *r)
{
	const char	*t;
	size_t		 i, n;
	char		 enh[REPLY_ENHANCED_SIZE];

	if (r->code < 200 || r->code > 559 || r->nlines == 0 ||
	    r->nlines > REPLY_LINES_MAX)
		abort();
	for (i = 0; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		if (n + 4 > REPLY_LINE_MAX || t[n] != '\0' ||
		    memchr(t, '\0', n) != NULL || memchr(t, '\r', n) != NULL ||
		    memchr(t, '\n', n) != NULL)
			abort();
	}
	if (r->enhanced[0] != '\0') {
		if (r->enhanced[0] - '0' != r->code / 100)
			abort();
		t = reply_line(r, 0, &n);
		if (reply_enhanced_parse(t, n, enh) == 0 ||
		    strcmp(enh, r->enhanced) != 0)
			abort();
	}
	(void)reply_ehlo_keyword(r, "AUTH", &t, &n);
	(void)reply_ehlo_keyword(r, "STARTTLS", NULL, NULL);
}

static void
summarize(const struct reply *r, struct summary *s)
{
	const char	*t;
	size_t		 i, j, n;
	uint32_t	 h = 2166136261u;

	s->code = r->code;
	memcpy(s->enhanced, r->enhanced, sizeof(s->enhanced));
	s->nlines = r->nlines;
	s->textlen = 0;
	for (i = 0; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		s->textlen += n;
		for (j = 0; j < n; j++)
			h = (h ^ (unsigned char)t[j]) * 16777619u;
		h = (h ^ 0xff) * 16777619u;
	}
	s->hash = h;
}

/*
 * Feed data in pieces of 1..maxpiece octets (0: all at once); the replies
 * into out, the final status into *last.  Returns the number of replies.
 */
static size_t
run(const uint8_t *data, size_t size, unsigned maxpiece,
    struct summary *out, int *last)
{
	struct reply_parser	 p;
	enum reply_status	 st = REPLY_MORE;
	size_t			 off = 0, piece, used, n = 0, k;
	uint8_t			*copy;
	unsigned		 seed = maxpiece;

	reply_parser_init(&p);
	while (off < size) {
		if (maxpiece == 0)
			piece = size - off;
		else {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + (seed >> 16) % maxpiece;
			if (piece > size - off)
				piece = size - off;
		}
		if ((copy = malloc(piece)) == NULL)
			abort();
		memcpy(copy, data + off, piece);
		k = 0;
		while (k < piece) {
			st = reply_parse(&p, copy + k, piece - k, &used);
			if (used > piece - k)
				abort();
			k += used;
			if (st == REPLY_DONE) {
				check(&p.reply);
				if (n < MAX_REPLIES)
					summarize(&p.reply, &out[n]);
				n++;
			} else
				break;
		}
		free(copy);
		if (st == REPLY_ERROR) {
			if (reply_parser_error(&p) == NULL)
				abort();
			break;
		}
		if (st == REPLY_MORE && k != piece)
			abort();
		off += piece;
	}
	*last = st;
	reply_parser_free(&p);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct summary	a[MAX_REPLIES], b[MAX_REPLIES];
	size_t		na, nb, i;
	int		la, lb;

	if (size == 0)
		return 0;
	na = run(data + 1, size - 1, 0, a, &la);
	nb = run(data + 1, size - 1, 1 + data[0] % 16, b, &lb);
	if (na != nb || la != lb)
		abort();
	for (i = 0; i < na && i < MAX_REPLIES; i++)
		if (a[i].code != b[i].code || a[i].nlines != b[i].nlines ||
		    a[i].textlen != b[i].textlen || a[i].hash != b[i].hash ||
		    strcmp(a[i].enhanced, b[i].enhanced) != 0)
			abort();
	return 0;
}
