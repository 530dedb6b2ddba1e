/*
 * The DATA state machine (RFC 5321 4.5.2).
 *
 * The states say what the previous octets leave undecided:
 *
 *	BOL	a CRLF was just read (or DATA was accepted): a '.' here is
 *		either dot-stuffing or the start of the end mark
 *	TEXT	inside a line
 *	CR	a CR inside a line; an LF must follow, else it is a bare CR
 *	DOT	'.' at the start of a line
 *	DOTCR	'.' CR at the start of a line; an LF here ends the message
 *
 * Every state change depends on one octet and the state alone, so the
 * result is the same however the input is split.  A bare LF never leads to
 * BOL: only CRLF starts a line, which is what keeps "\n.\n", "\n.\r\n" and
 * "\r.\r" from ending a message (SMTP smuggling).
 *
 * Each output octet is written when the input octet that carries it is
 * consumed; the stuffing dot and the end mark are never written.  So one
 * call never writes more than it consumes, whatever was left pending by the
 * call before.
 *
 * In raw mode (BDAT) a '.' at BOL is text like any other octet, so DOT and
 * DOTCR are never reached and every octet is written: the rest is the same
 * code, hence the same content rule for DATA and BDAT.
 */
#include <stdint.h>
#include <string.h>

#include "server/smtp/dataparse.h"

enum {
	S_BOL = 0,
	S_TEXT,
	S_CR,
	S_DOT,
	S_DOTCR,
};

struct sink {
	char	*out;
	size_t	 len;
};

static void	wire(struct dataparse *, size_t);
static void	emit(struct dataparse *, struct sink *, const char *, size_t);
static int	step(struct dataparse *, struct sink *, unsigned char);
static size_t	span(const char *, size_t, size_t, size_t *, size_t *);

/*
 * Count n octets of the line as sent, stuffing dot and CRLF included; the
 * limit of RFC 5321 4.5.3.1.6 is on the wire form.
 */
static void
wire(struct dataparse *p, size_t n)
{
	if (p->linelen > SIZE_MAX - n)
		p->linelen = SIZE_MAX;
	else
		p->linelen += n;
	if (p->linelen > DATA_LINE_MAX)
		p->errors |= DATA_ELINE;
}

/*
 * Account for n octets of unstuffed message and write those that come
 * before the first error.  The size keeps counting after an error so that
 * the log can say how big the refused message was.
 */
static void
emit(struct dataparse *p, struct sink *k, const char *s, size_t n)
{
	uint64_t	room = UINT64_MAX;
	size_t		w = n;

	if (p->maxsize != 0)
		room = p->size >= p->maxsize ? 0 : p->maxsize - p->size;
	if (w > room)
		w = (size_t)room;
	if (p->errors == 0) {
		memcpy(k->out + k->len, s, w);
		k->len += w;
	}
	if (n > room)
		p->errors |= DATA_ESIZE;
	if (p->size > UINT64_MAX - n)
		p->size = UINT64_MAX;
	else
		p->size += n;
}

/* One octet through the state machine; returns 1 when it ended the message. */
static int
step(struct dataparse *p, struct sink *k, unsigned char c)
{
	char	ch = (char)c;

	switch (p->state) {
	case S_BOL:
		if (c == '.' && !p->raw) {
			wire(p, 1);
			p->state = S_DOT;
			return 0;
		}
		break;
	case S_CR:
		if (c == '\n') {
			wire(p, 1);
			emit(p, k, &ch, 1);
			p->linelen = 0;
			p->state = S_BOL;
			return 0;
		}
		/* The CR was written already; c is text after a bare CR. */
		p->errors |= DATA_EBARECR;
		break;
	case S_DOT:
		if (c == '\r') {
			wire(p, 1);
			p->state = S_DOTCR;
			return 0;
		}
		/* The stuffing dot is dropped; c is the line's first octet. */
		break;
	case S_DOTCR:
		if (c == '\n') {
			p->done = 1;
			return 1;
		}
		p->errors |= DATA_EBARECR;
		break;
	}

	/* Inside a line. */
	if (c == '\n') {
		/*
		 * A bare LF ends no line, so the state stays TEXT; the line
		 * count restarts so the message is refused for the bare LF
		 * rather than for a long line it never meant to send.
		 */
		p->errors |= DATA_EBARELF;
		p->linelen = 0;
		p->state = S_TEXT;
		return 0;
	}
	wire(p, 1);
	emit(p, k, &ch, 1);
	p->state = c == '\r' ? S_CR : S_TEXT;
	return 0;
}

/*
 * How many octets from in[i] on are plain text (neither CR nor LF).  The
 * positions of the next CR and LF are remembered between calls within one
 * feed, so each memchr covers any octet once and the scan stays linear
 * however the lines are laid out.
 */
static size_t
span(const char *in, size_t len, size_t i, size_t *cr, size_t *lf)
{
	const char	*q;
	size_t		 stop;

	if (*cr == SIZE_MAX || *cr < i) {
		q = memchr(in + i, '\r', len - i);
		*cr = q == NULL ? len : (size_t)(q - in);
	}
	stop = *cr;
	if (*lf == SIZE_MAX || *lf < i) {
		/* An LF after the CR does not matter yet. */
		q = memchr(in + i, '\n', stop - i);
		*lf = q == NULL ? stop : (size_t)(q - in);
	}
	if (*lf < stop)
		stop = *lf;
	return stop - i;
}

void
dataparse_init(struct dataparse *p, uint64_t maxsize)
{
	memset(p, 0, sizeof(*p));
	p->state = S_BOL;
	p->maxsize = maxsize;
}

void
dataparse_init_raw(struct dataparse *p, uint64_t maxsize)
{
	dataparse_init(p, maxsize);
	p->raw = 1;
}

unsigned
dataparse_end(struct dataparse *p)
{
	/* The CR was written, and no LF will follow. */
	if (p->state == S_CR)
		p->errors |= DATA_EBARECR;
	return p->errors;
}

size_t
dataparse_feed(struct dataparse *p, const char *in, size_t len, char *out,
    size_t *outlen)
{
	struct sink	k;
	size_t		i = 0, n, ok, cr = SIZE_MAX, lf = SIZE_MAX;

	k.out = out;
	k.len = 0;
	while (!p->done && i < len) {
		if (p->state == S_TEXT &&
		    (n = span(in, len, i, &cr, &lf)) > 0) {
			/*
			 * The middle of a line is copied in bulk, with the
			 * same result as octet by octet: what precedes the
			 * octet that makes the line too long is written.
			 */
			ok = p->linelen >= DATA_LINE_MAX ? 0 :
			    DATA_LINE_MAX - p->linelen;
			if (ok > n)
				ok = n;
			emit(p, &k, in + i, ok);
			wire(p, n);
			emit(p, &k, in + i + ok, n - ok);
			i += n;
			continue;
		}
		if (step(p, &k, (unsigned char)in[i++]))
			break;
	}
	*outlen = k.len;
	return i;
}
