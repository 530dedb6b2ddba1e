/*
 * The content rule for a message, and the DATA state machine: RFC 5321
 * 4.5.2 dot-unstuffing over a byte stream that arrives in arbitrary pieces.
 *
 * Only <CRLF>.<CRLF> ends a message.  A bare LF or bare CR anywhere in the
 * message is recorded (the SMTP smuggling defence rejects the message with
 * 554 5.6.0 once its real end has been read), as is a line over 1000 octets
 * (500 5.5.6) and a body over the size limit (552 5.3.4).  After the first
 * error no more output is produced, but the input is still consumed up to
 * the real end so that the session stays in step with the client.
 *
 * BDAT chunks (RFC 3030) go through the same machine in raw mode: no dot is
 * special and the chunk sizes, not the content, say where the message ends,
 * but every content rule above is the same, so what smtpauthd accepts (and
 * later relays) never holds a bare CR or LF whichever command carried it.
 */
#ifndef SMTPAUTHD_DATAPARSE_H
#define SMTPAUTHD_DATAPARSE_H

#include <stddef.h>
#include <stdint.h>

#define DATA_LINE_MAX	1000	/* octets, CRLF included (RFC 5321) */

#define DATA_EBARELF	0x01
#define DATA_EBARECR	0x02
#define DATA_ELINE	0x04
#define DATA_ESIZE	0x08

struct dataparse {
	int		state;		/* private */
	size_t		linelen;	/* private: octets of this line so far */
	uint64_t	size;		/* octets of unstuffed output so far */
	uint64_t	maxsize;	/* 0: no limit */
	unsigned	errors;		/* DATA_E* seen so far */
	int		done;		/* the final CRLF.CRLF was consumed */
	int		raw;		/* BDAT: no dot-stuffing, no end mark */
};

/* The parser starts as if a CRLF had just been read (after "DATA\r\n"). */
void	dataparse_init(struct dataparse *, uint64_t maxsize);
/* The same for BDAT chunks: the output is the input, p->done is never set. */
void	dataparse_init_raw(struct dataparse *, uint64_t maxsize);
/*
 * The sender says the message is complete (BDAT LAST): a CR it ends with
 * is a bare CR.  Returns p->errors.
 */
unsigned	dataparse_end(struct dataparse *);

/*
 * Consume up to len bytes of in.  Unstuffed message bytes go to out (which
 * has room for at least len bytes); *outlen is set to their number.  Returns
 * the number of input bytes consumed: all of them unless the end of the
 * message was reached, in which case the bytes after the final CRLF.CRLF are
 * left for the caller (pipelined commands) and p->done is set.  The final
 * ".\r\n" is not part of the output; the CRLF before it is.
 */
size_t	dataparse_feed(struct dataparse *, const char *in, size_t len,
	    char *out, size_t *outlen);

#endif
