/*
 * SMTP replies as a client reads them (RFC 5321 section 4.2): an
 * incremental, bounded parser, and helpers for the parts a client looks
 * at (the code, the enhanced status code of RFC 3463 / RFC 2034, EHLO
 * keywords).
 *
 * The parser takes bytes as they come off the wire, in pieces of any size,
 * and stops at the end of each complete reply, so that pipelined replies
 * are taken one at a time and the bytes after a reply are left to the
 * caller (after a 220 to STARTTLS, for one).  It never reads more than it
 * was given and never holds more than REPLY_LINES_MAX lines of
 * REPLY_LINE_MAX octets; anything that is not a reply is an error, after
 * which the parser must be reset (in practice: the connection dropped).
 */
#ifndef SMTPAUTH_REPLY_H
#define SMTPAUTH_REPLY_H

#include <stddef.h>

/*
 * Octets in one line, without its CRLF.  RFC 5321 allows 512 with it; real
 * servers send longer ones (EHLO keyword lists, banners), so be generous
 * but bounded.
 */
#define REPLY_LINE_MAX		2048
#define REPLY_LINES_MAX		100	/* lines in one reply */
#define REPLY_ENHANCED_SIZE	12	/* "5.123.123" and its NUL */

enum reply_status {
	REPLY_ERROR = -1,	/* not an SMTP reply: see reply_parser_error() */
	REPLY_MORE = 0,		/* all input used; no complete reply yet */
	REPLY_DONE = 1,		/* a complete reply is in parser->reply */
};

struct reply {
	int	 code;			/* 200..559 */
	/* From the first line, when its class matches the code's: "5.7.1". */
	char	 enhanced[REPLY_ENHANCED_SIZE];
	int	 bare_lf;		/* some line ended in LF without CR */
	size_t	 nlines;
	/*
	 * Each line's text (after "NNN-" or "NNN "), NUL-terminated, at
	 * text + off[i], len[i] octets; no CR, LF or NUL inside.
	 */
	size_t	 off[REPLY_LINES_MAX];
	size_t	 len[REPLY_LINES_MAX];
	char	*text;
	size_t	 textlen;
	size_t	 textsize;
};

struct reply_parser {
	struct reply	 reply;		/* valid after REPLY_DONE until the
					   next reply_parse() */
	int		 state;
	size_t		 linestart;	/* offset of the current line */
	size_t		 linelen;	/* its octets so far, prefix included */
	char		 prefix[4];	/* "NNN" and the separator */
	int		 lastline;	/* the current line ends the reply */
	const char	*error;
};

void	 reply_parser_init(struct reply_parser *);
/* Forget everything, including an error; keeps the memory. */
void	 reply_parser_reset(struct reply_parser *);
void	 reply_parser_free(struct reply_parser *);

/*
 * Parse len octets at buf.  *used is set to the octets consumed: all of
 * them for REPLY_MORE; up to and including the LF that ended the reply for
 * REPLY_DONE (the rest belongs to later replies); up to the offending octet
 * for REPLY_ERROR.  After REPLY_DONE the next call starts a new reply.
 */
enum reply_status reply_parse(struct reply_parser *, const void *buf,
		    size_t len, size_t *used);
/* Why the last REPLY_ERROR; NULL if there was none. */
const char	*reply_parser_error(const struct reply_parser *);
/* Is a reply under way (some octets of it received but not its end)? */
int		 reply_parser_partial(const struct reply_parser *);

/*
 * A copy of a reply that outlives the parser (an EHLO reply kept for
 * later); 0 or -1 (no memory).  Free it with reply_free().
 */
int		 reply_dup(struct reply *dst, const struct reply *src);
void		 reply_free(struct reply *);

/* Line i's text (i < nlines), NUL-terminated, and its length. */
const char	*reply_line(const struct reply *, size_t i, size_t *len);
/* The class: 2, 3, 4 or 5. */
int		 reply_class(const struct reply *);

/*
 * An enhanced status code at the start of text (class "." subject "."
 * detail, 1-3 digits each, class 2, 4 or 5), followed by a space or the
 * end.  Copies it to out (REPLY_ENHANCED_SIZE) and returns its length, or
 * returns 0.
 */
size_t		 reply_enhanced_parse(const char *text, size_t len,
		    char out[REPLY_ENHANCED_SIZE]);

/*
 * EHLO replies: is keyword (ASCII, any case) one of the extensions listed
 * on the lines after the first?  If so, and params is not NULL, *params
 * points at what follows the keyword and its space ("PLAIN LOGIN" for
 * AUTH) and *paramslen is its length.  1 or 0.
 */
int		 reply_ehlo_keyword(const struct reply *, const char *keyword,
		    const char **params, size_t *paramslen);

/*
 * Is word (any case) one of the space-separated words of list?  For the
 * mechanisms after AUTH.  1 or 0.
 */
int		 reply_word_in(const char *list, size_t listlen,
		    const char *word);

#endif
