/*
 * Text and JSON output of the tester, colour, and the redaction of
 * credentials from transcripts.  Everything printed that came from a
 * server goes through report_escape() first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/report.h"
#include "client/smtpclient.h"
#include "common/json.h"
#include "common/base64.h"

#define COLOR_PASS	"\033[32m"
#define COLOR_WARN	"\033[33m"
#define COLOR_FAIL	"\033[1;31m"
#define COLOR_SKIP	"\033[2m"
#define COLOR_RESET	"\033[0m"

#define REDACTED	"<redacted>"

static const char	*status_color(enum check_status);
static int		 ascii_prefix(const char *, size_t, const char *);
static void		 decode_challenge(const char *, size_t, char *,
			    size_t);

const char *
report_status_name(enum check_status st)
{
	switch (st) {
	case CHECK_PASS:
		return "pass";
	case CHECK_WARN:
		return "warn";
	case CHECK_FAIL:
		return "fail";
	case CHECK_UNSET:
	case CHECK_SKIP:
		break;
	}
	return "skip";
}

static const char *
status_color(enum check_status st)
{
	switch (st) {
	case CHECK_PASS:
		return COLOR_PASS;
	case CHECK_WARN:
		return COLOR_WARN;
	case CHECK_FAIL:
		return COLOR_FAIL;
	case CHECK_UNSET:
	case CHECK_SKIP:
		break;
	}
	return COLOR_SKIP;
}

int
report_use_color(FILE *fp)
{
	const char	*nc = getenv("NO_COLOR");

	/* https://no-color.org: set and not empty means no colour. */
	if (nc != NULL && nc[0] != '\0')
		return 0;
	return isatty(fileno(fp));
}

char *
report_escape(const char *s, size_t len, char *buf, size_t size)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		c;
	size_t			i, o = 0;

	if (size == 0)
		return buf;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		/* Room for an escape, "..." and the NUL. */
		if (o + 4 + 3 + 1 > size) {
			if (size >= 4) {
				if (o > size - 4)
					o = size - 4;
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (c == '\\') {
			/* Doubled, so that "\\x41" is not taken for 'A'. */
			buf[o++] = '\\';
			buf[o++] = '\\';
		} else if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	buf[o] = '\0';
	return buf;
}

int
report_failed(const struct check_result *res, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (res[i].status == CHECK_FAIL)
			return 1;
	return 0;
}

void
report_text(FILE *fp, const char *target, const struct check_result *res,
    size_t n, int color)
{
	size_t	i, count[CHECK_SKIP + 1];
	int	failed = report_failed(res, n);
	enum check_status st;

	memset(count, 0, sizeof(count));
	fprintf(fp, "smtpauth check %s\n", target);
	for (i = 0; i < n; i++) {
		st = res[i].status == CHECK_UNSET ? CHECK_SKIP : res[i].status;
		count[st]++;
		fprintf(fp, "  %s%-4s%s  %-22s %s\n", color ? status_color(st) :
		    "", report_status_name(st), color ? COLOR_RESET : "",
		    res[i].id, res[i].summary);
	}
	fprintf(fp, "result: %s%s%s (%zu pass, %zu warn, %zu fail, %zu skip)"
	    "\n", color ? status_color(failed ? CHECK_FAIL : CHECK_PASS) : "",
	    failed ? "FAIL" : "PASS", color ? COLOR_RESET : "",
	    count[CHECK_PASS], count[CHECK_WARN], count[CHECK_FAIL],
	    count[CHECK_SKIP]);
}

void
report_json(FILE *fp, const char *target, const struct check_result *res,
    size_t n)
{
	size_t	i;

	fputs("{\"target\":", fp);
	json_string(fp, target);
	fputs(",\"checks\":[", fp);
	for (i = 0; i < n; i++) {
		fputs(i == 0 ? "\n  {\"id\":" : ",\n  {\"id\":", fp);
		json_string(fp, res[i].id);
		fputs(",\"status\":", fp);
		json_string(fp, report_status_name(res[i].status));
		fputs(",\"summary\":", fp);
		json_string(fp, res[i].summary);
		fputc('}', fp);
	}
	fprintf(fp, "\n],\"result\":\"%s\"}\n",
	    report_failed(res, n) ? "fail" : "pass");
}

/* Does text start with the ASCII word w (any case)? */
static int
ascii_prefix(const char *text, size_t len, const char *w)
{
	size_t	i, n = strlen(w);
	char	a, b;

	if (len < n)
		return 0;
	for (i = 0; i < n; i++) {
		a = text[i];
		b = w[i];
		if (a >= 'a' && a <= 'z')
			a = (char)(a - 'a' + 'A');
		if (b >= 'a' && b <= 'z')
			b = (char)(b - 'a' + 'A');
		if (a != b)
			return 0;
	}
	return 1;
}

void
report_redact(int kind, const char *text, size_t len, char *buf,
    size_t size)
{
	const char	*sp;
	char		 mech[64];
	size_t		 mlen;
	int		 dir = kind & ~SMTPC_SECRET;

	if (size == 0)
		return;
	/* "AUTH MECH payload": the mechanism stays, the payload goes. */
	if (dir == SMTPC_SENT && ascii_prefix(text, len, "AUTH ") &&
	    (sp = memchr(text + 5, ' ', len - 5)) != NULL) {
		mlen = (size_t)(sp - (text + 5));
		report_escape(text + 5, mlen, mech, sizeof(mech));
		(void)snprintf(buf, size, "AUTH %s " REDACTED, mech);
		return;
	}
	if ((kind & SMTPC_SECRET) == 0) {
		report_escape(text, len, buf, size);
		return;
	}
	if (dir == SMTPC_SENT) {
		if (ascii_prefix(text, len, "AUTH "))
			report_escape(text, len, buf, size);
		else
			(void)snprintf(buf, size, REDACTED);
		return;
	}
	/* A challenge: keep its code. */
	if (len >= 3)
		(void)snprintf(buf, size, "%.3s " REDACTED, text);
	else
		(void)snprintf(buf, size, REDACTED);
}

/*
 * The text of a 334 challenge, when it is base64 of something worth
 * showing: "  [Username:]".  Empty otherwise.
 */
static void
decode_challenge(const char *text, size_t len, char *buf, size_t size)
{
	char	raw[1024], esc[512];
	size_t	n;

	buf[0] = '\0';
	if (len <= 4 || len - 4 > BASE64_ENCODED_LEN(sizeof(raw)) ||
	    memcmp(text, "334 ", 4) != 0)
		return;
	if (base64_decode(text + 4, len - 4, raw, sizeof(raw), &n) == -1 ||
	    n == 0)
		return;
	report_escape(raw, n, esc, sizeof(esc));
	(void)snprintf(buf, size, "  [%s]", esc);
}

void
report_trace(void *arg, int kind, const char *text, size_t len)
{
	struct trace_out	*t = arg;
	char			 shown[REPLY_LINE_MAX * 4 + 16];
	char			 extra[600];
	int			 dir = kind & ~SMTPC_SECRET;

	report_redact(kind, text, len, shown, sizeof(shown));
	if (t->style == TRACE_TRANSCRIPT) {
		fprintf(t->fp, "%s%s\n", dir == SMTPC_SENT ? "C: " :
		    dir == SMTPC_RECEIVED ? "S: " : "*  ", shown);
		fflush(t->fp);
		return;
	}
	switch (dir) {
	case SMTPC_SENT:
		if (t->echo_sent)
			fprintf(t->fp, "> %s\n", shown);
		break;
	case SMTPC_RECEIVED:
		extra[0] = '\0';
		if ((kind & SMTPC_SECRET) == 0)
			decode_challenge(text, len, extra, sizeof(extra));
		fprintf(t->fp, "%s%s\n", shown, extra);
		break;
	default:
		fprintf(t->fp, "*** %s\n", shown);
		break;
	}
	fflush(t->fp);
}
