/*
 * The milter protocol's codec (milter.h): packets, the OPTNEG reply, the
 * checks of replies and header changes a milter sends, and the header
 * scanner that turns the message into the fields a milter is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "server/smtp/milter.h"

#define LINE_MAX_RFC	998	/* RFC 5322 2.1.1, without CRLF */

static void	put32(uint8_t *, uint32_t);
static int	name_char(unsigned char);
static int	field_emit(struct milter_hdrscan *, milter_field_fn, void *);
static int	field_add(struct milter_hdrscan *, const char *, size_t);
static int	line_is_field(const char *, size_t);
static int	line_judge(struct milter_hdrscan *, milter_field_fn,
		    milter_body_fn, void *);

int
milter_pkt_take(const uint8_t *buf, size_t len, struct milter_pkt *pkt,
    size_t *used)
{
	uint32_t	n;

	if (len < 4)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > MILTER_PKT_MAX)
		return -1;
	if (len - 4 < n)
		return 0;
	pkt->cmd = (char)buf[4];
	pkt->data = buf + 5;
	pkt->len = n - 1;
	*used = 4 + (size_t)n;
	return 1;
}

void
milter_pkt_head(uint8_t head[5], char cmd, size_t len)
{
	put32(head, (uint32_t)len + 1);
	head[4] = (uint8_t)cmd;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
milter_optneg_make(uint8_t out[12], uint32_t version, uint32_t actions,
    uint32_t protocol)
{
	put32(out, version);
	put32(out + 4, actions);
	put32(out + 8, protocol);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
milter_optneg_parse(const struct milter_pkt *pkt, uint32_t *actions,
    uint32_t *protocol)
{
	uint32_t	version;

	if (pkt->cmd != SMFIC_OPTNEG || pkt->len < 12)
		return -1;
	version = get32(pkt->data);
	*actions = get32(pkt->data + 4);
	*protocol = get32(pkt->data + 8);
	if (version < 2 || version > MILTER_VERSION)
		return -1;
	/*
	 * Milters such as rspamd ask for every action they know (recipient
	 * changes too) whatever was offered: an action of version 6 is
	 * granted if we offered it, a later one is an error (as Sendmail).
	 */
	if ((*actions & ~(uint32_t)SMFIF_V6_ALL) != 0)
		return -1;
	*actions &= MILTER_ACTIONS;
	if ((*protocol & ~(uint32_t)MILTER_PROTOCOL) != 0)
		return -1;
	return 0;
}

int
milter_reply_parse(const uint8_t *data, size_t len, char *out,
    size_t outlen)
{
	const uint8_t	*p, *end, *eol;
	size_t		 n, o = 0, lines = 0;
	int		 last = 0;

	/* The text ends with its NUL, the packet's last octet. */
	if (len < 4 || data[len - 1] != '\0' ||
	    memchr(data, '\0', len - 1) != NULL)
		return -1;
	end = data + len - 1;
	if (data[0] != '4' && data[0] != '5')
		return -1;
	for (p = data; p < end; p = eol + 2) {
		if (last || ++lines > 8)
			return -1;
		if ((eol = memchr(p, '\r', (size_t)(end - p))) == NULL)
			eol = end;
		else if (eol + 1 >= end || eol[1] != '\n' || eol + 2 == end)
			return -1;
		n = (size_t)(eol - p);
		if (n < 3 || n > 512 || memcmp(p, data, 3) != 0 ||
		    p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
			return -1;
		if (n > 3 && p[3] != ' ' && p[3] != '-')
			return -1;
		/* The last line has a space (or nothing) after its code. */
		last = eol == end;
		if (last && n > 3 && p[3] == '-')
			return -1;
		if (!last && (n == 3 || p[3] != '-'))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (p[i] < 0x20 || p[i] > 0x7e)
				return -1;
		if (o + n + 2 >= outlen)
			return -1;
		if (o > 0) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
		memcpy(out + o, p, n);
		o += n;
		if (eol == end)
			break;
	}
	out[o] = '\0';
	return data[0] - '0';
}

static int
name_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != ':';
}

int
milter_hdr_parse(const struct milter_pkt *pkt, int indexed,
    struct milter_hdr *h)
{
	const uint8_t	*p = pkt->data, *end = pkt->data + pkt->len, *z;
	size_t		 i, col;

	memset(h, 0, sizeof(*h));
	if (indexed) {
		if (pkt->len < 4)
			return -1;
		h->index = get32(p);
		p += 4;
	}
	if ((z = memchr(p, '\0', (size_t)(end - p))) == NULL)
		return -1;
	h->name = (const char *)p;
	h->namelen = (size_t)(z - p);
	if (h->namelen == 0 || h->namelen > LINE_MAX_RFC - 2)
		return -1;
	for (i = 0; i < h->namelen; i++)
		if (!name_char(p[i]))
			return -1;
	p = z + 1;
	if (p >= end || (z = memchr(p, '\0', (size_t)(end - p))) == NULL ||
	    z + 1 != end)
		return -1;
	h->value = (const char *)p;
	h->valuelen = (size_t)(z - p);
	/* Line breaks only as folds; the first line holds "Name: " too. */
	col = h->namelen + 2;
	for (i = 0; i < h->valuelen; i++) {
		unsigned char c = p[i];

		if (c == '\r') {
			if (i + 1 >= h->valuelen || p[i + 1] != '\n')
				return -1;
			continue;
		}
		if (c == '\n') {
			if (i + 1 >= h->valuelen ||
			    (p[i + 1] != ' ' && p[i + 1] != '\t'))
				return -1;
			col = 0;
			continue;
		}
		if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
		if (++col > LINE_MAX_RFC)
			return -1;
	}
	return 0;
}

int
milter_text_parse(const struct milter_pkt *pkt, size_t max)
{
	size_t	i;

	if (pkt->len == 0 || pkt->len - 1 > max ||
	    pkt->data[pkt->len - 1] != '\0')
		return -1;
	for (i = 0; i + 1 < pkt->len; i++)
		if (pkt->data[i] < 0x20 || pkt->data[i] > 0x7e)
			return -1;
	return (int)(pkt->len - 1);
}

int
milter_field_split(const char *f, size_t len, int leadspc, char *out,
    size_t *namelen, size_t *valuelen)
{
	const char	*colon, *v, *end = f + len;
	size_t		 n, o;

	if ((colon = memchr(f, ':', len)) == NULL)
		return -1;
	n = (size_t)(colon - f);
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
		n--;
	if (n == 0)
		return -1;
	memcpy(out, f, n);
	out[n] = '\0';
	*namelen = n;
	if (end - f >= 2 && end[-2] == '\r' && end[-1] == '\n')
		end -= 2;
	v = colon + 1;
	if (!leadspc)
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
	o = n + 1;
	for (; v < end; v++) {
		if (*v == '\r' && v + 1 < end && v[1] == '\n')
			continue;	/* CRLF: the LF stays */
		out[o++] = *v;
	}
	out[o] = '\0';
	*valuelen = o - n - 1;
	return 0;
}

int
milter_value_to_crlf(const char *v, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++) {
		if (v[i] == '\r')
			continue;	/* checked: always before LF */
		if (v[i] == '\n') {
			if (o + 2 > outlen)
				return -1;
			out[o++] = '\r';
			out[o++] = '\n';
			continue;
		}
		if (o + 1 > outlen)
			return -1;
		out[o++] = v[i];
	}
	return (int)o;
}

void
milter_hdrscan_init(struct milter_hdrscan *sc)
{
	memset(sc, 0, sizeof(*sc));
}

void
milter_hdrscan_free(struct milter_hdrscan *sc)
{
	free(sc->field);
	sc->field = NULL;
	sc->len = 0;
}

static int
field_add(struct milter_hdrscan *sc, const char *p, size_t n)
{
	size_t	room;

	sc->flen += n;
	if (sc->field == NULL && (sc->field = malloc(MILTER_FIELD_MAX)) == NULL)
		return -1;
	room = MILTER_FIELD_MAX - sc->len;
	if (n > room)
		n = room;	/* too long: counted, not kept */
	memcpy(sc->field + sc->len, p, n);
	sc->len += n;
	return 0;
}

static int
field_emit(struct milter_hdrscan *sc, milter_field_fn fn, void *arg)
{
	int	r = 0;

	if (sc->flen == 0)
		return 0;
	if (sc->flen <= MILTER_FIELD_MAX && sc->nfields < MILTER_FIELDS_MAX) {
		sc->nfields++;
		r = fn(arg, sc->field, sc->len, sc->foff);
	}
	sc->len = 0;
	sc->flen = 0;
	return r;
}

/* Does the line start a field: "name" of field octets, spaces, ':'? */
static int
line_is_field(const char *l, size_t n)
{
	size_t	i = 0;

	while (i < n && name_char((unsigned char)l[i]))
		i++;
	if (i == 0)
		return 0;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i < n && l[i] == ':';
}

/* The line buffered (whole, or its first MILTER_LINE_BUF octets). */
static int
line_judge(struct milter_hdrscan *sc, milter_field_fn ffn,
    milter_body_fn bfn, void *arg)
{
	const char	*l = sc->line;
	size_t		 n = sc->linelen;
	int		 whole = n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n';

	sc->linelen = 0;
	if (whole && n == 2) {
		/* The empty line ends the header section. */
		if (field_emit(sc, ffn, arg) == -1)
			return -1;
		sc->done = 1;
		sc->body_off = sc->lineoff + 2;
		return 0;
	}
	if ((l[0] == ' ' || l[0] == '\t') && sc->flen > 0) {
		sc->longline = !whole;
		return field_add(sc, l, n);
	}
	if (field_emit(sc, ffn, arg) == -1)
		return -1;
	if (line_is_field(l, n)) {
		sc->foff = sc->lineoff;
		sc->longline = !whole;
		return field_add(sc, l, n);
	}
	/* No field: the body starts with this line. */
	sc->done = 1;
	sc->body_off = sc->lineoff;
	return bfn(arg, l, n);
}

int
milter_hdrscan_feed(struct milter_hdrscan *sc, const char *data, size_t len,
    milter_field_fn ffn, milter_body_fn bfn, void *arg)
{
	size_t	i = 0, j;

	while (i < len && !sc->done) {
		if (sc->longline) {
			/* The rest of a long field line, to its LF. */
			const char *lf = memchr(data + i, '\n', len - i);

			j = lf == NULL ? len : (size_t)(lf - data) + 1;
			if (field_add(sc, data + i, j - i) == -1)
				return -1;
			sc->off += j - i;
			i = j;
			if (lf != NULL)
				sc->longline = 0;
			continue;
		}
		if (sc->linelen == 0)
			sc->lineoff = sc->off;
		sc->line[sc->linelen++] = data[i++];
		sc->off++;
		if ((sc->linelen >= 2 && sc->line[sc->linelen - 1] == '\n' &&
		    sc->line[sc->linelen - 2] == '\r') ||
		    sc->linelen == sizeof(sc->line))
			if (line_judge(sc, ffn, bfn, arg) == -1)
				return -1;
	}
	if (i < len) {
		sc->off += len - i;
		return bfn(arg, data + i, len - i);
	}
	return 0;
}

int
milter_hdrscan_end(struct milter_hdrscan *sc, milter_field_fn ffn,
    milter_body_fn bfn, void *arg)
{
	if (sc->done)
		return 0;
	if (sc->linelen > 0 && line_judge(sc, ffn, bfn, arg) == -1)
		return -1;
	if (sc->done)
		return 0;
	if (field_emit(sc, ffn, arg) == -1)
		return -1;
	sc->done = 1;
	sc->body_off = sc->off;
	return 0;
}
