/*
 * Text, JSON and JUnit XML output of the tester, colour, and the
 * redaction of credentials from transcripts.  Everything printed that
 * came from a server goes through report_escape() first (and, in XML,
 * xml_escape()).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
static void		 text_block(FILE *, const char *,
			    const struct check_result *, size_t, int,
			    const char *);
static void		 json_checks(FILE *, const struct check_result *,
			    size_t, const char *);
static void		 count_states(const struct report_target *, size_t,
			    size_t *);
static const char	*run_result(const struct report_target *, size_t);
static size_t		 xml_utf8(const unsigned char *, size_t);
static void		 xml_escape(FILE *, const char *, int);
static void		 junit_suite(FILE *, const struct report_target *,
			    size_t, const char *, const char *);

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
	text_block(fp, target, res, n, color, NULL);
}

/*
 * One target's lines; word, if not NULL, says its result instead of PASS
 * or FAIL.
 */
static void
text_block(FILE *fp, const char *target, const struct check_result *res,
    size_t n, int color, const char *word)
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
	    word != NULL ? word : failed ? "FAIL" : "PASS",
	    color ? COLOR_RESET : "",
	    count[CHECK_PASS], count[CHECK_WARN], count[CHECK_FAIL],
	    count[CHECK_SKIP]);
}

/* The "checks" array, each line indented by ind. */
static void
json_checks(FILE *fp, const struct check_result *res, size_t n,
    const char *ind)
{
	size_t	i;

	fputs("\"checks\":[", fp);
	for (i = 0; i < n; i++) {
		fprintf(fp, "%s\n%s  {\"id\":", i == 0 ? "" : ",", ind);
		json_string(fp, res[i].id);
		fputs(",\"status\":", fp);
		json_string(fp, report_status_name(res[i].status));
		fputs(",\"summary\":", fp);
		json_string(fp, res[i].summary);
		fputc('}', fp);
	}
	fprintf(fp, "\n%s]", ind);
}

void
report_json(FILE *fp, const char *target, const struct check_result *res,
    size_t n)
{
	fputs("{\"target\":", fp);
	json_string(fp, target);
	fputc(',', fp);
	json_checks(fp, res, n, "");
	fprintf(fp, ",\"result\":\"%s\"}\n",
	    report_failed(res, n) ? "fail" : "pass");
}

const char *
report_state_name(enum report_state st)
{
	switch (st) {
	case REPORT_PASS:
		return "pass";
	case REPORT_FAIL:
		return "fail";
	case REPORT_UNTESTED:
		break;
	case REPORT_CLOSED:
		return "closed";
	}
	return "untested";
}

/* How many targets are in each state. */
static void
count_states(const struct report_target *t, size_t n,
    size_t *count)
{
	size_t	i;

	memset(count, 0, sizeof(count[0]) * (REPORT_CLOSED + 1));
	for (i = 0; i < n; i++)
		count[t[i].state]++;
}

int
report_exit(const struct report_target *t, size_t n)
{
	size_t	count[REPORT_CLOSED + 1];

	count_states(t, n, count);
	if (count[REPORT_PASS] + count[REPORT_FAIL] == 0)
		return 2;
	return count[REPORT_FAIL] + count[REPORT_UNTESTED] > 0 ? 1 : 0;
}

/* The run's result word: "pass", "fail" or "untested" (exit 0, 1, 2). */
static const char *
run_result(const struct report_target *t, size_t n)
{
	switch (report_exit(t, n)) {
	case 0:
		return "pass";
	case 1:
		return "fail";
	}
	return "untested";
}

void
report_text_all(FILE *fp, const struct report_target *t, size_t n,
    int color)
{
	size_t	i, count[REPORT_CLOSED + 1];
	int	rv = report_exit(t, n);

	for (i = 0; i < n; i++) {
		if (i > 0)
			fputc('\n', fp);
		if (t[i].state != REPORT_CLOSED) {
			text_block(fp, t[i].target, t[i].res, t[i].n, color,
			    t[i].state == REPORT_UNTESTED ? "NOT TESTED" :
			    NULL);
			continue;
		}
		/* The connect line says it all; the rest were not run. */
		fprintf(fp, "smtpauth check %s\n", t[i].target);
		fprintf(fp, "  %s%-4s%s  %-22s %s\n", color ?
		    status_color(CHECK_SKIP) : "", "skip", color ? COLOR_RESET :
		    "", t[i].n > 0 ? t[i].res[0].id : "connect",
		    t[i].n > 0 ? t[i].res[0].summary : "");
		fputs("result: CLOSED (not tested)\n", fp);
	}
	count_states(t, n, count);
	fprintf(fp, "\nsummary: %zu target%s: %zu pass, %zu fail, %zu not "
	    "tested, %zu closed\n", n, n == 1 ? "" : "s", count[REPORT_PASS],
	    count[REPORT_FAIL], count[REPORT_UNTESTED], count[REPORT_CLOSED]);
	fprintf(fp, "result: %s%s%s\n", color ? status_color(rv == 0 ?
	    CHECK_PASS : CHECK_FAIL) : "", rv == 0 ? "PASS" : rv == 1 ?
	    "FAIL" : "NOTHING TESTED", color ? COLOR_RESET : "");
}

void
report_json_all(FILE *fp, const struct report_target *t, size_t n)
{
	size_t	i, count[REPORT_CLOSED + 1];

	fputs("{\"targets\":[", fp);
	for (i = 0; i < n; i++) {
		fputs(i == 0 ? "\n {\"target\":" : ",\n {\"target\":", fp);
		json_string(fp, t[i].target);
		fputs(",\"role\":", fp);
		json_string(fp, t[i].role);
		fputs(",\"state\":", fp);
		json_string(fp, report_state_name(t[i].state));
		fprintf(fp, ",\"ms\":%lld,", (long long)t[i].ms);
		json_checks(fp, t[i].res, t[i].n, " ");
		fprintf(fp, ",\"result\":\"%s\"}",
		    report_failed(t[i].res, t[i].n) ? "fail" : "pass");
	}
	count_states(t, n, count);
	fprintf(fp, "\n],\"summary\":{\"targets\":%zu,\"pass\":%zu,"
	    "\"fail\":%zu,\"untested\":%zu,\"closed\":%zu},"
	    "\"result\":\"%s\"}\n", n, count[REPORT_PASS], count[REPORT_FAIL],
	    count[REPORT_UNTESTED], count[REPORT_CLOSED], run_result(t, n));
}

/*
 * The length of the valid UTF-8 sequence at s (up to len octets) that
 * XML 1.0 allows (no surrogates, no U+FFFE/U+FFFF, nothing past
 * U+10FFFF, no overlong forms), or 0.
 */
static size_t
xml_utf8(const unsigned char *s, size_t len)
{
	uint32_t	cp;
	size_t		n, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len < n)
		return 0;
	cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

/*
 * s as XML character data or an attribute value: the five markup
 * characters as entities; tab, LF and CR as character references in
 * attributes (so that they survive attribute-value normalisation) and as
 * they are in text; other control octets, and octets that are not
 * valid UTF-8, as the text \xHH (XML 1.0 cannot carry them at all).
 */
static void
xml_escape(FILE *fp, const char *str, int attr)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i, len = strlen(str), k;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			fputs("&amp;", fp);
			continue;
		case '<':
			fputs("&lt;", fp);
			continue;
		case '>':
			fputs("&gt;", fp);
			continue;
		case '"':
			fputs("&quot;", fp);
			continue;
		case '\'':
			fputs("&apos;", fp);
			continue;
		case '\t':
		case '\n':
		case '\r':
			if (attr)
				fprintf(fp, "&#%d;", s[i]);
			else
				fputc(s[i], fp);
			continue;
		}
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			fputc(s[i], fp);
			continue;
		}
		if (s[i] >= 0x80 && (k = xml_utf8(s + i, len - i)) > 0) {
			fwrite(s + i, 1, k, fp);
			i += k - 1;
			continue;
		}
		fprintf(fp, "\\x%c%c", hex[s[i] >> 4], hex[s[i] & 0xf]);
	}
}

/* One target's checks as a <testsuite>. */
static void
junit_suite(FILE *fp, const struct report_target *t, size_t id,
    const char *stamp, const char *hostname)
{
	const struct check_result	*r;
	size_t				 i, fail = 0, skip = 0;
	enum check_status		 st;
	int64_t				 ms;

	for (i = 0; i < t->n; i++) {
		st = t->res[i].status;
		if (st == CHECK_FAIL)
			fail++;
		else if (st == CHECK_SKIP || st == CHECK_UNSET)
			skip++;
	}
	fputs("  <testsuite name=\"", fp);
	xml_escape(fp, t->target, 1);
	fprintf(fp, "\" id=\"%zu\" package=\"smtpauth.check\" tests=\"%zu\" "
	    "failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
	    "time=\"%lld.%03lld\" timestamp=\"%s\" hostname=\"", id, t->n,
	    fail, skip, (long long)(t->ms / 1000), (long long)(t->ms % 1000),
	    stamp);
	xml_escape(fp, hostname, 1);
	fputs("\">\n    <properties>\n"
	    "      <property name=\"role\" value=\"", fp);
	xml_escape(fp, t->role, 1);
	fprintf(fp, "\"/>\n      <property name=\"state\" value=\"%s\"/>\n"
	    "    </properties>\n", report_state_name(t->state));
	for (i = 0; i < t->n; i++) {
		r = &t->res[i];
		st = r->status == CHECK_UNSET ? CHECK_SKIP : r->status;
		fputs("    <testcase classname=\"", fp);
		xml_escape(fp, t->target, 1);
		fputs("\" name=\"", fp);
		xml_escape(fp, r->id, 1);
		ms = t->ms_each != NULL ? t->ms_each[i] : 0;
		fprintf(fp, "\" time=\"%lld.%03lld\">\n", (long long)(ms / 1000),
		    (long long)(ms % 1000));
		if (st == CHECK_FAIL) {
			fputs("      <failure type=\"fail\" message=\"", fp);
			xml_escape(fp, r->summary, 1);
			fputs("\">", fp);
			xml_escape(fp, r->summary, 0);
			fputs("</failure>\n", fp);
		} else if (st == CHECK_SKIP) {
			fputs("      <skipped message=\"", fp);
			xml_escape(fp, r->summary, 1);
			fputs("\"/>\n", fp);
		}
		fprintf(fp, "      <system-out>%s: ", report_status_name(st));
		xml_escape(fp, r->summary, 0);
		fputs("</system-out>\n    </testcase>\n", fp);
	}
	fputs("  </testsuite>\n", fp);
}

int
report_junit(FILE *fp, const struct report_target *t, size_t n,
    time_t started)
{
	struct tm	tm;
	char		stamp[32], host[256];
	size_t		i, tests = 0, fail = 0, skip = 0, k;
	int64_t		ms = 0;

	if (gmtime_r(&started, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		(void)snprintf(stamp, sizeof(stamp), "1970-01-01T00:00:00");
	if (gethostname(host, sizeof(host)) == -1)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; i < n; i++) {
		for (k = 0; k < t[i].n; k++) {
			tests++;
			if (t[i].res[k].status == CHECK_FAIL)
				fail++;
			else if (t[i].res[k].status == CHECK_SKIP ||
			    t[i].res[k].status == CHECK_UNSET)
				skip++;
		}
		ms += t[i].ms;
	}
	fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuites name=\"smtpauth check\" tests=\"%zu\" "
	    "failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
	    "time=\"%lld.%03lld\">\n", tests, fail, skip,
	    (long long)(ms / 1000), (long long)(ms % 1000));
	for (i = 0; i < n; i++)
		junit_suite(fp, &t[i], i, stamp, host);
	fputs("</testsuites>\n", fp);
	return fflush(fp) == 0 && !ferror(fp) ? 0 : -1;
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
