/*
 * smtpauth send: one message through a server, and the two pieces the
 * checklist's --send uses as well.
 */
#ifndef SMTPAUTH_SEND_H
#define SMTPAUTH_SEND_H

#include <stddef.h>

#include "common/reply.h"

#define QUEUE_ID_MAX	128

int	cmd_send(int, char **);

/*
 * A message: Date, Message-ID, From, To and Subject (RFC 2047-encoded when
 * it is not ASCII; MIME headers for a body that is not), a blank line and
 * the body.  Into a buffer from malloc at *out, *outlen octets.  0 or -1.
 */
int	message_build(const char *from, const char *const *to, size_t nto,
	    const char *subject, const char *body, size_t bodylen,
	    char **out, size_t *outlen);

/*
 * The queue id in the reply to the end of DATA: the word after "queued
 * as", else the rest of a word "id=ID" (Exim), else the last word of the
 * reply.  Escaped; "" when there is none.
 */
void	queue_id(const struct reply *, char *buf, size_t size);

#endif
