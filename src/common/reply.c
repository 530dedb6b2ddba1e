/*
 * SMTP replies, client side: a byte-at-a-time state machine, so that a
 * reply may arrive in pieces of any size and pipelined replies are taken
 * one at a time.
 *
 *	Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *	             Reply-code [ SP textstring ] CRLF		(RFC 5321 4.2)
 *
 * Leniency, on purpose and only here: a line may end in a bare LF (some
 * servers and test tools send it; the reply records that it did), and the
 * text may hold any octet but NUL, CR and LF, since servers do send UTF-8
 * and worse.  What is printed from it is escaped by the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "common/reply.h"

enum {
	ST_START = 0,	/* before the first octet of a reply */
	ST_LINE,	/* inside a line */
	ST_CR,		/* after a CR: only LF may follow */
	ST_ERROR,
};

#define TEXT_INITIAL	512
/* Never more than this: every line's text and its NUL. */
#define TEXT_LIMIT	(REPLY_LINES_MAX * (REPLY_LINE_MAX + 1))

static int	fail(struct reply_parser *, const char *);
static int	text_add(struct reply *, char);
static int	prefix_ok(size_t, unsigned char);
static int	end_line(struct reply_parser *);
static int	lower(int);

void
reply_parser_init(struct reply_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_START;
}

void
reply_parser_reset(struct reply_parser *p)
{
	char	*text = p->reply.text;
	size_t	 size = p->reply.textsize;

	memset(p, 0, sizeof(*p));
	p->reply.text = text;
	p->reply.textsize = size;
	if (text != NULL)
		text[0] = '\0';
	p->state = ST_START;
}

void
reply_parser_free(struct reply_parser *p)
{
	free(p->reply.text);
	memset(p, 0, sizeof(*p));
}

const char *
reply_parser_error(const struct reply_parser *p)
{
	return p->state == ST_ERROR ? p->error : NULL;
}

int
reply_parser_partial(const struct reply_parser *p)
{
	return p->state == ST_LINE || p->state == ST_CR;
}

static int
fail(struct reply_parser *p, const char *why)
{
	p->state = ST_ERROR;
	p->error = why;
	return -1;
}

/* Append one octet to the text, growing it up to TEXT_LIMIT. */
static int
text_add(struct reply *r, char c)
{
	char	*n;
	size_t	 size;

	if (r->textlen >= r->textsize) {
		size = r->textsize == 0 ? TEXT_INITIAL : r->textsize * 2;
		if (size > TEXT_LIMIT)
			size = TEXT_LIMIT;
		if (size <= r->textlen)
			return -1;
		if ((n = realloc(r->text, size)) == NULL)
			return -1;
		r->text = n;
		r->textsize = size;
	}
	r->text[r->textlen++] = c;
	return 0;
}

/* Is c acceptable at position i (0..3) of a line: "NNN" and SP or '-'? */
static int
prefix_ok(size_t i, unsigned char c)
{
	switch (i) {
	case 0:
		return c >= '2' && c <= '5';
	case 1:
		return c >= '0' && c <= '5';
	case 2:
		return c >= '0' && c <= '9';
	default:
		return c == ' ' || c == '-';
	}
}

/* A line ended: check it and file it.  1 at the end of the reply. */
static int
end_line(struct reply_parser *p)
{
	struct reply	*r = &p->reply;
	size_t		 textlen;
	int		 code;

	if (p->linelen < 3)
		return fail(p, "reply line shorter than its code");
	code = (p->prefix[0] - '0') * 100 + (p->prefix[1] - '0') * 10 +
	    (p->prefix[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return fail(p, "reply code changes between lines");
	if (r->nlines >= REPLY_LINES_MAX)
		return fail(p, "reply has too many lines");
	r->code = code;
	textlen = p->linelen > 4 ? p->linelen - 4 : 0;
	if (text_add(r, '\0') == -1)
		return fail(p, "out of memory");
	r->off[r->nlines] = p->linestart;
	r->len[r->nlines] = textlen;
	if (r->nlines == 0 && reply_enhanced_parse(r->text + p->linestart,
	    textlen, r->enhanced) > 0 && r->enhanced[0] - '0' != code / 100)
		r->enhanced[0] = '\0';
	r->nlines++;

	/* "NNN" alone or "NNN " ends the reply; "NNN-" goes on. */
	if (p->linelen == 3 || p->prefix[3] == ' ') {
		p->state = ST_START;
		return 1;
	}
	p->state = ST_LINE;
	p->linelen = 0;
	p->linestart = r->textlen;
	return 0;
}

enum reply_status
reply_parse(struct reply_parser *p, const void *buf, size_t len, size_t *used)
{
	const unsigned char	*s = buf;
	struct reply		*r = &p->reply;
	size_t			 i;
	int			 e;

	*used = 0;
	if (p->state == ST_ERROR)
		return REPLY_ERROR;
	for (i = 0; i < len; i++) {
		if (p->state == ST_START) {
			r->code = 0;
			r->enhanced[0] = '\0';
			r->bare_lf = 0;
			r->nlines = 0;
			r->textlen = 0;
			if (r->text != NULL)
				r->text[0] = '\0';
			p->linestart = 0;
			p->linelen = 0;
			p->state = ST_LINE;
		}
		if (p->state == ST_CR) {
			if (s[i] != '\n') {
				*used = i;
				fail(p, "CR not followed by LF in a reply");
				return REPLY_ERROR;
			}
			e = end_line(p);
		} else if (s[i] == '\r') {
			p->state = ST_CR;
			continue;
		} else if (s[i] == '\n') {
			r->bare_lf = 1;
			e = end_line(p);
		} else {
			e = 0;
			if (s[i] == '\0')
				e = fail(p, "NUL in a reply");
			else if (p->linelen < 4) {
				if (!prefix_ok(p->linelen, s[i]))
					e = fail(p, "not an SMTP reply line");
				else
					p->prefix[p->linelen] = (char)s[i];
			} else if (p->linelen >= REPLY_LINE_MAX)
				e = fail(p, "reply line too long");
			else if (text_add(r, (char)s[i]) == -1)
				e = fail(p, "out of memory");
			if (e == 0)
				p->linelen++;
		}
		if (e == -1) {
			*used = i;
			return REPLY_ERROR;
		}
		if (e == 1) {
			*used = i + 1;
			return REPLY_DONE;
		}
	}
	*used = len;
	return REPLY_MORE;
}

int
reply_dup(struct reply *dst, const struct reply *src)
{
	char	*text = NULL;

	if (src->textlen > 0) {
		if ((text = malloc(src->textlen)) == NULL)
			return -1;
		memcpy(text, src->text, src->textlen);
	}
	memcpy(dst, src, sizeof(*dst));
	dst->text = text;
	dst->textsize = src->textlen;
	return 0;
}

void
reply_free(struct reply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

const char *
reply_line(const struct reply *r, size_t i, size_t *len)
{
	if (i >= r->nlines) {
		if (len != NULL)
			*len = 0;
		return "";
	}
	if (len != NULL)
		*len = r->len[i];
	return r->text + r->off[i];
}

int
reply_class(const struct reply *r)
{
	return r->code / 100;
}

size_t
reply_enhanced_parse(const char *text, size_t len,
    char out[REPLY_ENHANCED_SIZE])
{
	size_t	i = 0, part, digits;

	out[0] = '\0';
	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') ||
	    text[1] != '.')
		return 0;
	i = 2;
	/* subject "." detail, 1 to 3 digits each. */
	for (part = 0; part < 2; part++) {
		for (digits = 0; i < len && digits < 4 &&
		    text[i] >= '0' && text[i] <= '9'; i++)
			digits++;
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (i >= len || text[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && text[i] != ' ')
		return 0;
	/* At most "5.123.123": nine octets. */
	memcpy(out, text, i);
	out[i] = '\0';
	return i;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
reply_ehlo_keyword(const struct reply *r, const char *keyword,
    const char **params, size_t *paramslen)
{
	const char	*t;
	size_t		 i, j, n, klen = strlen(keyword);

	for (i = 1; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		if (n < klen)
			continue;
		for (j = 0; j < klen; j++)
			if (lower((unsigned char)t[j]) !=
			    lower((unsigned char)keyword[j]))
				break;
		if (j < klen)
			continue;
		/* "AUTH=PLAIN" is an old form some servers still send. */
		if (n > klen && t[klen] != ' ' && t[klen] != '=')
			continue;
		if (params != NULL) {
			*params = n > klen ? t + klen + 1 : t + n;
			*paramslen = n > klen ? n - klen - 1 : 0;
		}
		return 1;
	}
	return 0;
}

int
reply_word_in(const char *list, size_t listlen, const char *word)
{
	size_t	i = 0, start, j, wlen = strlen(word);

	while (i < listlen) {
		while (i < listlen && list[i] == ' ')
			i++;
		start = i;
		while (i < listlen && list[i] != ' ')
			i++;
		if (i - start != wlen || wlen == 0)
			continue;
		for (j = 0; j < wlen; j++)
			if (lower((unsigned char)list[start + j]) !=
			    lower((unsigned char)word[j]))
				break;
		if (j == wlen)
			return 1;
	}
	return 0;
}
