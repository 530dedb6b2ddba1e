/*
 * Delivery status notifications: the bounce a sender gets when mail
 * cannot be delivered (RFC 3464 multipart/report, RFC 3462 report type,
 * RFC 3463 status codes, RFC 3834 Auto-Submitted).
 */
#ifndef SMTPAUTHD_DSN_H
#define SMTPAUTHD_DSN_H

#include <stddef.h>
#include <time.h>

/* One recipient that failed. */
struct dsn_rcpt {
	const char	*addr;
	/*
	 * The last error as the queue stores it: an SMTP reply
	 * ("550 5.1.1 <x>: unknown") or our own text starting with a status
	 * code ("4.4.1 connect: Connection refused").
	 */
	const char	*error;
	const char	*host;		/* "name[address]" or NULL/"" */
};

struct dsn {
	const char		*hostname;	/* the reporting MTA */
	const char		*id;		/* the bounce's queue id */
	const char		*orig_id;	/* the failed message's id */
	const char		*sender;	/* gets the bounce; not "" */
	time_t			 arrival;	/* when we accepted the message */
	time_t			 now;
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpts;
	/* The failed message's header section (CRLF lines), without the
	 * blank line; it is cut to DSN_HEADERS_MAX. */
	const char		*headers;
	size_t			 headerslen;
};

#define DSN_HEADERS_MAX	(64 * 1024)

/*
 * Build the bounce as it goes into the spool: our Received: field, then
 * the message, CRLF line ends, lines under 1000 octets.  *out is malloc'd.
 * Returns 0, or -1 (ENOMEM).
 */
int	dsn_build(const struct dsn *, char **out, size_t *outlen);

/*
 * The RFC 3463 status of a stored error: the enhanced code of an SMTP
 * reply or the one our own text starts with; else derived from the reply
 * code (5.0.0, 4.0.0).  out holds at least 12 octets.
 */
void	dsn_status(const char *error, char *out, size_t outlen);

/*
 * Does error hold an SMTP reply (a "smtp" Diagnostic-Code) rather than
 * our own text?  1 or 0.
 */
int	dsn_is_smtp_reply(const char *error);

/*
 * The header section of a message: the octets before the first empty
 * line (CRLF CRLF, or LF LF), at most max; the length.
 */
size_t	dsn_header_length(const char *msg, size_t len, size_t max);

#endif
