/*
 * Delivery status notifications (RFC 3464).
 *
 * The bounce is plain US-ASCII apart from the original headers, which are
 * returned as they came (text/rfc822-headers): the sender sees what went
 * out, and nothing of the body leaves again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/reply.h"
#include "server/queue/dsn.h"

static void	put_clean(FILE *, const char *);
static void	put_mta(FILE *, const char *);
static void	rfc5322_date(time_t, char *, size_t);

/* Client text goes out printable, whatever the caller checked. */
static void
put_clean(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(*s >= 0x20 && *s < 0x7f ? *s : '?', fp);
}

/* "mx.example[192.0.2.1]" -> "mx.example"; a literal stays as it is. */
static void
put_mta(FILE *fp, const char *host)
{
	const char	*lb;
	char		 name[512];
	size_t		 len;

	lb = host[0] != '[' ? strchr(host, '[') : NULL;
	len = lb != NULL ? (size_t)(lb - host) : strlen(host);
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, host, len);
	name[len] = '\0';
	put_clean(fp, name);
}

static void
rfc5322_date(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	localtime_r(&t, &tm);
	if (strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
}

int
dsn_is_smtp_reply(const char *e)
{
	return e[0] >= '2' && e[0] <= '5' && e[1] >= '0' && e[1] <= '9' &&
	    e[2] >= '0' && e[2] <= '9' && (e[3] == ' ' || e[3] == '\0');
}

void
dsn_status(const char *e, char *out, size_t outlen)
{
	char		 code[REPLY_ENHANCED_SIZE];
	const char	*p = e;

	if (dsn_is_smtp_reply(e)) {
		p = e[3] == ' ' ? e + 4 : e + 3;
		/* The enhanced code must agree with the reply's class. */
		if ((e[0] == '4' || e[0] == '5') &&
		    reply_enhanced_parse(p, strlen(p), code) > 0 &&
		    code[0] == e[0])
			snprintf(out, outlen, "%s", code);
		else
			snprintf(out, outlen, "%c.0.0", e[0] == '4' ? '4' :
			    '5');
		return;
	}
	if (reply_enhanced_parse(e, strlen(e), code) > 0 && code[0] != '2')
		snprintf(out, outlen, "%s", code);
	else
		snprintf(out, outlen, "5.0.0");
}

size_t
dsn_header_length(const char *msg, size_t len, size_t max)
{
	size_t	i, last = 0;

	if (len > max)
		len = max;
	for (i = 0; i < len; i++) {
		if (msg[i] != '\n')
			continue;
		/* An empty line ends the header section. */
		if (i + 1 < len && msg[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 1;
		last = i + 1;
	}
	/* Cut (or no body at all): whole lines only. */
	return len < max ? len : last;
}

int
dsn_build(const struct dsn *d, char **out, size_t *outlen)
{
	char	*buf = NULL, now[64], arrival[64], status[16];
	size_t	 len = 0, i, hlen;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return -1;
	rfc5322_date(d->now, now, sizeof(now));
	rfc5322_date(d->arrival, arrival, sizeof(arrival));

	fprintf(fp, "Received: by %s (smtpauthd)\r\n\tid %s; %s\r\n",
	    d->hostname, d->id, now);
	fprintf(fp, "Date: %s\r\n", now);
	fprintf(fp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    d->hostname);
	fprintf(fp, "To: <");
	put_clean(fp, d->sender);
	fprintf(fp, ">\r\n");
	fprintf(fp, "Subject: Undelivered Mail Returned to Sender\r\n");
	fprintf(fp, "Message-ID: <%s.dsn@%s>\r\n", d->id, d->hostname);
	fprintf(fp, "Auto-Submitted: auto-replied\r\n");
	fprintf(fp, "MIME-Version: 1.0\r\n");
	fprintf(fp, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s/%s\"\r\n",
	    d->id, d->hostname);
	fprintf(fp, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* The part for people. */
	fprintf(fp, "--%s/%s\r\n", d->id, d->hostname);
	fprintf(fp, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	fprintf(fp, "This is the mail system at host %s.\r\n\r\n",
	    d->hostname);
	fprintf(fp, "Your message (queue id %s, received %s) could not\r\n"
	    "be delivered to one or more recipients.  The reasons are\r\n"
	    "below; the headers of your message are attached.\r\n\r\n",
	    d->orig_id, arrival);
	for (i = 0; i < d->nrcpts; i++) {
		const struct dsn_rcpt *r = &d->rcpts[i];

		fprintf(fp, "<");
		put_clean(fp, r->addr);
		fprintf(fp, ">:");
		if (r->host != NULL && r->host[0] != '\0' &&
		    dsn_is_smtp_reply(r->error)) {
			fprintf(fp, " host ");
			put_clean(fp, r->host);
			fprintf(fp, " said:");
		}
		fprintf(fp, "\r\n    ");
		put_clean(fp, r->error);
		fprintf(fp, "\r\n\r\n");
	}

	/* The part for programs. */
	fprintf(fp, "--%s/%s\r\n", d->id, d->hostname);
	fprintf(fp, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	fprintf(fp, "Reporting-MTA: dns; %s\r\n", d->hostname);
	fprintf(fp, "X-Queue-ID: %s\r\n", d->orig_id);
	fprintf(fp, "Arrival-Date: %s\r\n", arrival);
	for (i = 0; i < d->nrcpts; i++) {
		const struct dsn_rcpt *r = &d->rcpts[i];

		dsn_status(r->error, status, sizeof(status));
		fprintf(fp, "\r\nFinal-Recipient: rfc822; ");
		put_clean(fp, r->addr);
		fprintf(fp, "\r\nAction: failed\r\nStatus: %s\r\n", status);
		if (r->host != NULL && r->host[0] != '\0') {
			fprintf(fp, "Remote-MTA: dns; ");
			put_mta(fp, r->host);
			fprintf(fp, "\r\n");
		}
		fprintf(fp, "Diagnostic-Code: %s; ",
		    dsn_is_smtp_reply(r->error) ? "smtp" : "X-smtpauthd");
		put_clean(fp, r->error);
		fprintf(fp, "\r\nLast-Attempt-Date: %s\r\n", now);
	}

	/* What was sent: its headers only. */
	fprintf(fp, "\r\n--%s/%s\r\n", d->id, d->hostname);
	fprintf(fp, "Content-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n\r\n");
	hlen = d->headerslen;
	if (hlen > DSN_HEADERS_MAX)
		hlen = dsn_header_length(d->headers, hlen, DSN_HEADERS_MAX);
	if (hlen > 0) {
		fwrite(d->headers, 1, hlen, fp);
		if (hlen < 2 || d->headers[hlen - 2] != '\r' ||
		    d->headers[hlen - 1] != '\n')
			fprintf(fp, "\r\n");
	}
	fprintf(fp, "\r\n--%s/%s--\r\n", d->id, d->hostname);
	if (fclose(fp) != 0) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}
