/*
 * What the tester prints: check results as text (coloured on a terminal
 * unless NO_COLOR is set), JSON or JUnit XML, and transcripts of the wire
 * with every credential shown as <redacted>.
 */
#ifndef SMTPAUTH_REPORT_H
#define SMTPAUTH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum check_status {
	CHECK_UNSET = 0,	/* not decided yet (printed as skip) */
	CHECK_PASS,
	CHECK_WARN,
	CHECK_FAIL,
	CHECK_SKIP,
};

#define REPORT_SUMMARY_MAX	512

struct check_result {
	const char		*id;
	enum check_status	 status;
	char			 summary[REPORT_SUMMARY_MAX];
};

/* "pass", "warn", "fail", "skip". */
const char	*report_status_name(enum check_status);
/* Colour on fp: a terminal, and NO_COLOR unset or empty. */
int		 report_use_color(FILE *fp);

/*
 * Untrusted octets for a terminal or a summary: printable ASCII is kept
 * (quotes too: decode shows passwords as they are), a backslash is
 * doubled, anything else becomes \xHH, and text too long for buf is cut
 * with "...".  Unlike log_escape(), whose output is framed for log lines,
 * this one is unambiguous for a reader.  Returns buf (always
 * NUL-terminated when size > 0).
 */
char		*report_escape(const char *s, size_t len, char *buf,
		    size_t size);

/* One line per check, then the result line. */
void		 report_text(FILE *, const char *target,
		    const struct check_result *, size_t n, int color);
/* {"target":..., "checks":[{"id","status","summary"}...], "result":...} */
void		 report_json(FILE *, const char *target,
		    const struct check_result *, size_t n);
/* Any check failed? */
int		 report_failed(const struct check_result *, size_t n);

/*
 * Many targets in one run (smtpauth check HOST, --targets): each with its
 * state, the summary of its checks as the exit status of one would be.
 */
enum report_state {
	REPORT_PASS = 0,	/* tested, no check failed */
	REPORT_FAIL,		/* tested, a check failed */
	REPORT_UNTESTED,	/* nothing could be tested (no greeting...) */
	REPORT_CLOSED,		/* a port of a host's list, closed: news */
};

struct report_target {
	const char			*target;	/* "host:port" */
	const char			*role;		/* "mx", ... */
	enum report_state		 state;
	int64_t				 ms;		/* how long it took */
	const struct check_result	*res;
	const int64_t			*ms_each;	/* res[i]'s time, or
							   NULL */
	size_t				 n;
};

/* "pass", "fail", "untested", "closed". */
const char	*report_state_name(enum report_state);
/*
 * The run's exit status: 2 when no target could be tested (all untested
 * or closed), else 1 when one failed or could not be tested, else 0.
 */
int		 report_exit(const struct report_target *, size_t n);
/* Each target as report_text() does (a closed one in two lines), then
 * the summary of the run. */
void		 report_text_all(FILE *, const struct report_target *,
		    size_t n, int color);
/*
 * {"targets":[{"target","role","state","checks":[...],"result"}...],
 *  "summary":{"targets","pass","fail","untested","closed"},"result"}
 */
void		 report_json_all(FILE *, const struct report_target *,
		    size_t n);
/*
 * JUnit XML: <testsuites> with one <testsuite> per target (name and
 * every testcase's classname "host:port") and one <testcase> per check
 * (name: its id): <failure> for fail, <skipped> for skip, the summary in
 * <system-out> ("warn: ..." for a warning).  Text is escaped for XML and
 * anything that is not valid UTF-8 or not allowed in XML 1.0 becomes
 * \xHH.  started: when the run began.  0, or -1 on a write error.
 */
int		 report_junit(FILE *, const struct report_target *, size_t n,
		    time_t started);

/*
 * Transcripts: a trace callback for smtpclient.h.  The transcript style
 * prefixes "C: ", "S: " and "* "; the session style prints replies as they
 * came (a 334 challenge followed by its decoded text), sent lines after
 * "> " (only those not typed at a terminal) and notes after "*** ".
 */
#define TRACE_TRANSCRIPT	0
#define TRACE_SESSION		1

struct trace_out {
	FILE	*fp;
	int	 style;
	int	 echo_sent;	/* session: show the lines we send */
};

void		 report_trace(void *arg, int kind, const char *text,
		    size_t len);
/*
 * What a trace line looks like once credentials are taken out: secret
 * lines become "AUTH MECH <redacted>", "NNN <redacted>" or "<redacted>",
 * and any "AUTH MECH payload" line is redacted even when not marked.
 */
void		 report_redact(int kind, const char *text, size_t len,
		    char *buf, size_t size);

#endif
