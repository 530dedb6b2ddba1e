/*
 * libFuzzer harness for the milter codec (milter.h): what a milter sends
 * and what the header scanner makes of a message.
 *
 * Input: byte 0 picks the size of the pieces the rest is cut into.  The
 * rest is read as a milter's byte stream: every packet is taken (a prefix
 * of one must ask for more) and given to every parser, each on a heap copy
 * of the packet's exact size so that ASan sees any read past it, and what
 * a parser accepts must keep its promises.  Then the same bytes are a
 * message for the header scanner, fed whole and in pieces: both runs give
 * the same fields and body, each field is the message's octets at its
 * offset and the body is the message from body_off on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/smtp/milter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct scan {
	const uint8_t	*msg;
	size_t		 size;
	uint64_t	 last_end;	/* where the last field ended */
	size_t		 nfields;
	uint32_t	 hash;
	uint8_t		*body;
	size_t		 bodylen;
};

static void	check_pkt(const struct milter_pkt *);
static void	check_reply(const struct milter_pkt *);
static void	check_hdr(const struct milter_pkt *, int);
static void	scan(struct scan *, const uint8_t *, size_t, unsigned);

static void
check_reply(const struct milter_pkt *pkt)
{
	char	out[MILTER_REPLY_MAX + 1];
	size_t	n, i;
	int	r;

	r = milter_reply_parse(pkt->data, pkt->len, out, sizeof(out));
	if (r == -1)
		return;
	n = strlen(out);
	if ((r != 4 && r != 5) || out[0] - '0' != r || n < 3 ||
	    n >= sizeof(out) || n >= pkt->len)
		abort();
	/* Lines of printable text joined by CRLF, all with one code. */
	for (i = 0; i < n; i++) {
		if (out[i] == '\r') {
			if (out[i + 1] != '\n' || i + 5 > n ||
			    memcmp(out + i + 2, out, 3) != 0)
				abort();
			i++;
		} else if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] > 0x7e)
			abort();
	}
}

static void
check_hdr(const struct milter_pkt *pkt, int indexed)
{
	struct milter_hdr	 h;
	const char		*d = (const char *)pkt->data;
	char			*out;
	size_t			 i, cap;
	int			 n;

	if (milter_hdr_parse(pkt, indexed, &h) == -1)
		return;
	if (h.namelen == 0 || h.name < d || h.value < h.name + h.namelen ||
	    h.value + h.valuelen > d + pkt->len ||
	    memchr(h.name, ':', h.namelen) != NULL ||
	    memchr(h.value, '\0', h.valuelen) != NULL)
		abort();
	/* The copy into the message: CRLF breaks only, each then a fold. */
	cap = h.valuelen * 2 + 1;
	if ((out = malloc(cap)) == NULL)
		abort();
	n = milter_value_to_crlf(h.value, h.valuelen, out, cap);
	if (n < 0 || (size_t)n > cap)
		abort();
	for (i = 0; i < (size_t)n; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r' ||
		    i + 1 >= (size_t)n || (out[i + 1] != ' ' &&
		    out[i + 1] != '\t')))
			abort();
		else if (out[i] == '\r' && (i + 1 >= (size_t)n ||
		    out[i + 1] != '\n'))
			abort();
	/* Too little room is refused, never overrun. */
	if (n > 0 && milter_value_to_crlf(h.value, h.valuelen, out,
	    (size_t)n - 1) != -1)
		abort();
	free(out);
}

static void
check_pkt(const struct milter_pkt *pkt)
{
	uint32_t	a, p;
	int		n;
	char		*out;
	size_t		 nl, vl;

	if (milter_optneg_parse(pkt, &a, &p) == 0 &&
	    ((a & ~(uint32_t)MILTER_ACTIONS) != 0 ||
	    (p & ~(uint32_t)MILTER_PROTOCOL) != 0))
		abort();
	check_reply(pkt);
	check_hdr(pkt, 0);
	check_hdr(pkt, 1);
	n = milter_text_parse(pkt, 400);
	if (n != -1 && (n > 400 || (size_t)n + 1 != pkt->len ||
	    memchr(pkt->data, '\0', (size_t)n) != NULL))
		abort();
	/* The packet as a header field, split as the scanner's are. */
	if ((out = malloc(pkt->len + 1)) == NULL)
		abort();
	if (milter_field_split((const char *)pkt->data, pkt->len,
	    pkt->len & 1, out, &nl, &vl) == 0 &&
	    (nl == 0 || nl + vl + 2 > pkt->len + 1 || out[nl] != '\0' ||
	    out[nl + 1 + vl] != '\0'))
		abort();
	free(out);
}

static int
on_field(void *arg, const char *f, size_t n, uint64_t off)
{
	struct scan	*s = arg;

	/* In order, not overlapping, the message's own octets. */
	if (off < s->last_end || off + n > s->size ||
	    memcmp(f, s->msg + off, n) != 0)
		abort();
	s->last_end = off + n;
	s->nfields++;
	s->hash = (s->hash ^ (uint32_t)off) * 16777619u;
	s->hash = (s->hash ^ (uint32_t)n) * 16777619u;
	return 0;
}

static int
on_body(void *arg, const char *b, size_t n)
{
	struct scan	*s = arg;

	if (s->bodylen + n > s->size)
		abort();
	memcpy(s->body + s->bodylen, b, n);
	s->bodylen += n;
	return 0;
}

static void
scan(struct scan *s, const uint8_t *msg, size_t size, unsigned maxpiece)
{
	struct milter_hdrscan	 sc;
	size_t			 off = 0, piece;
	uint8_t			*copy;

	memset(s, 0, sizeof(*s));
	s->msg = msg;
	s->size = size;
	s->hash = 2166136261u;
	if ((s->body = malloc(size + 1)) == NULL)
		abort();
	milter_hdrscan_init(&sc);
	/* Pieces of maxpiece octets, then one, in turn (0: all at once). */
	for (size_t i = 0; off < size; i++) {
		piece = maxpiece == 0 ? size - off :
		    i % 2 == 0 ? maxpiece : 1;
		if (piece > size - off)
			piece = size - off;
		if ((copy = malloc(piece)) == NULL)
			abort();
		memcpy(copy, msg + off, piece);
		if (milter_hdrscan_feed(&sc, (char *)copy, piece, on_field,
		    on_body, s) == -1)
			abort();
		free(copy);
		off += piece;
	}
	if (milter_hdrscan_end(&sc, on_field, on_body, s) == -1)
		abort();
	/* The body is the message from body_off on, after every field. */
	if (!sc.done || sc.off != size || sc.body_off > size ||
	    sc.body_off < s->last_end || s->bodylen != size - sc.body_off ||
	    memcmp(s->body, msg + sc.body_off, s->bodylen) != 0)
		abort();
	milter_hdrscan_free(&sc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_pkt	 pkt;
	struct scan		 a, b;
	size_t			 off = 0, used, k;
	uint8_t			*copy;
	unsigned		 piece;

	if (size == 0)
		return 0;
	piece = 1 + data[0] % 64;
	data++;
	size--;

	while (off < size) {
		int r = milter_pkt_take(data + off, size - off, &pkt, &used);

		if (r != 1)
			break;
		if (used < 5 || used > size - off ||
		    pkt.data + pkt.len != data + off + used)
			abort();
		/* A prefix of a packet is not one yet. */
		k = (piece * 7919u) % used;
		if (milter_pkt_take(data + off, k, &pkt, &used) == 1)
			abort();
		(void)milter_pkt_take(data + off, size - off, &pkt, &used);
		/* Exactly the packet's size (one octet for an empty one). */
		if ((copy = malloc(pkt.len > 0 ? pkt.len : 1)) == NULL)
			abort();
		memcpy(copy, pkt.data, pkt.len);
		pkt.data = copy;
		check_pkt(&pkt);
		free(copy);
		off += used;
	}

	scan(&a, data, size, 0);
	scan(&b, data, size, piece);
	if (a.nfields != b.nfields || a.hash != b.hash ||
	    a.bodylen != b.bodylen)
		abort();
	free(a.body);
	free(b.body);
	return 0;
}
