/*
 * The DATA state machine: RFC 5321 4.5.2 dot-unstuffing over a byte stream
 * that arrives in arbitrary pieces.
 *
 * Only <CRLF>.<CRLF> ends a message.  A bare LF or bare CR anywhere in the
 * message is recorded (the SMTP smuggling defence rejects the message with
 * 554 5.6.0 once its real end has been read), as is a line over 1000 octets
 * (500 5.5.6) and a body over the size limit (552 5.3.4).  After the first
 * error no more output is produced, but the input is still consumed up to
 * the real end so that the session stays in step with the client.
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
};

/* The parser starts as if a CRLF had just been read (after "DATA\r\n"). */
void	dataparse_init(struct dataparse *, uint64_t maxsize);

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
