/*
 * Unit tests for the tester's output: escaping, the redaction of
 * credentials from transcripts, the JSON and JUnit reports, and the exit
 * status of a run of many targets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/report.h"
#include "client/smtpclient.h"

#define S(x)	x, sizeof(x) - 1

static void
test_escape(void **state)
{
	char	buf[32];

	assert_string_equal(report_escape(S("plain text"), buf, sizeof(buf)),
	    "plain text");
	assert_string_equal(report_escape(S("a\0b\r\n\x7f\xc3\xa9"), buf,
	    sizeof(buf)), "a\\x00b\\x0d\\x0a\\x7f\\xc3\\xa9");
	/* Quotes are kept; a backslash is doubled, so escapes are clear. */
	assert_string_equal(report_escape(S("\"q\" \\x41"), buf, sizeof(buf)),
	    "\"q\" \\\\x41");
	/* Cut with "..." and always terminated. */
	assert_string_equal(report_escape(S("0123456789012345678901234567890"
	    "123456789"), buf, 16), "012345678...");
	assert_int_equal(strlen(report_escape(S("\x01\x02\x03\x04\x05\x06"),
	    buf, 16)), 15);
	buf[0] = 'x';
	report_escape(S("abc"), buf, 0);
	assert_int_equal(buf[0], 'x');
}

struct redact {
	int		 kind;
	const char	*in;
	const char	*out;
};

static const struct redact redacts[] = {
	{ SMTPC_SENT | SMTPC_SECRET, "AUTH PLAIN AGZvbwBiYXI=",
	    "AUTH PLAIN <redacted>" },
	/* Unmarked AUTH payloads are redacted all the same. */
	{ SMTPC_SENT, "AUTH PLAIN AGZvbwBiYXI=", "AUTH PLAIN <redacted>" },
	{ SMTPC_SENT, "auth login dXNlcg==", "AUTH login <redacted>" },
	{ SMTPC_SENT, "AUTH LOGIN", "AUTH LOGIN" },
	{ SMTPC_SENT | SMTPC_SECRET, "dXNlcg==", "<redacted>" },
	{ SMTPC_SENT | SMTPC_SECRET, "", "<redacted>" },
	{ SMTPC_RECEIVED | SMTPC_SECRET, "334 cj1mb28sczE=",
	    "334 <redacted>" },
	{ SMTPC_RECEIVED, "334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6" },
	{ SMTPC_SENT, "MAIL FROM:<a@b>", "MAIL FROM:<a@b>" },
	{ SMTPC_RECEIVED, "250 ok\x1b[31m", "250 ok\\x1b[31m" },
	{ SMTPC_INFO, "connected", "connected" },
};

static void
test_redact(void **state)
{
	char	buf[128];
	size_t	i;

	for (i = 0; i < sizeof(redacts) / sizeof(redacts[0]); i++) {
		report_redact(redacts[i].kind, redacts[i].in,
		    strlen(redacts[i].in), buf, sizeof(buf));
		assert_string_equal(buf, redacts[i].out);
	}
}

/* The trace printers: transcript and session styles. */
static void
test_trace(void **state)
{
	struct trace_out	 t;
	char			*out = NULL;
	size_t			 len = 0;
	FILE			*fp;

	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	t.fp = fp;
	t.style = TRACE_TRANSCRIPT;
	t.echo_sent = 0;
	report_trace(&t, SMTPC_SENT | SMTPC_SECRET, S("AUTH PLAIN c2VjcmV0"));
	report_trace(&t, SMTPC_RECEIVED, S("235 2.7.0 ok"));
	report_trace(&t, SMTPC_INFO, S("TLS"));
	t.style = TRACE_SESSION;
	report_trace(&t, SMTPC_SENT, S("EHLO x"));	/* not echoed */
	t.echo_sent = 1;
	report_trace(&t, SMTPC_SENT, S("EHLO x"));
	report_trace(&t, SMTPC_RECEIVED, S("334 VXNlcm5hbWU6"));
	report_trace(&t, SMTPC_RECEIVED | SMTPC_SECRET, S("334 c2VjcmV0"));
	report_trace(&t, SMTPC_RECEIVED, S("334 "));
	report_trace(&t, SMTPC_RECEIVED, S("334 not base64!"));
	report_trace(&t, SMTPC_INFO, S("note"));
	fclose(fp);
	assert_string_equal(out,
	    "C: AUTH PLAIN <redacted>\n"
	    "S: 235 2.7.0 ok\n"
	    "*  TLS\n"
	    "> EHLO x\n"
	    "334 VXNlcm5hbWU6  [Username:]\n"
	    "334 <redacted>\n"
	    "334 \n"
	    "334 not base64!\n"
	    "*** note\n");
	free(out);
}

static void
test_json(void **state)
{
	struct check_result	 res[3];
	char			*out = NULL;
	size_t			 len = 0;
	FILE			*fp;

	memset(res, 0, sizeof(res));
	res[0].id = "connect";
	res[0].status = CHECK_PASS;
	snprintf(res[0].summary, sizeof(res[0].summary), "say \"hi\" \\ ok");
	res[1].id = "banner";
	res[1].status = CHECK_UNSET;
	res[2].id = "quit";
	res[2].status = CHECK_WARN;
	snprintf(res[2].summary, sizeof(res[2].summary), "tab\there\x01");
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	report_json(fp, "mx.test:25", res, 3);
	fclose(fp);
	assert_string_equal(out, "{\"target\":\"mx.test:25\",\"checks\":[\n"
	    "  {\"id\":\"connect\",\"status\":\"pass\",\"summary\":"
	    "\"say \\\"hi\\\" \\\\ ok\"},\n"
	    "  {\"id\":\"banner\",\"status\":\"skip\",\"summary\":\"\"},\n"
	    "  {\"id\":\"quit\",\"status\":\"warn\",\"summary\":"
	    "\"tab\\there\\u0001\"}\n"
	    "],\"result\":\"pass\"}\n");
	free(out);
	assert_false(report_failed(res, 3));
	res[1].status = CHECK_FAIL;
	assert_true(report_failed(res, 3));
	assert_string_equal(report_status_name(CHECK_UNSET), "skip");
	assert_string_equal(report_status_name(CHECK_FAIL), "fail");
}

static void
test_text(void **state)
{
	struct check_result	 res[2];
	char			*out = NULL;
	size_t			 len = 0;
	FILE			*fp;

	memset(res, 0, sizeof(res));
	res[0].id = "connect";
	res[0].status = CHECK_PASS;
	snprintf(res[0].summary, sizeof(res[0].summary), "ok");
	res[1].id = "auth-good";
	res[1].status = CHECK_FAIL;
	snprintf(res[1].summary, sizeof(res[1].summary), "535");
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	report_text(fp, "h:25", res, 2, 1);
	fclose(fp);
	assert_non_null(strstr(out, "\033[1;31mfail\033[0m  auth-good"));
	assert_non_null(strstr(out, "result: \033[1;31mFAIL\033[0m (1 pass, "
	    "0 warn, 1 fail, 0 skip)"));
	free(out);
}

/* Hostile summaries as JUnit XML: what each becomes, in text. */
static const struct {
	const char	*in;
	const char	*text;
	const char	*attr;
} xml_cases[] = {
	{ "a <b> & \"c\" 'd'", "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;",
	    "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;" },
	{ "tab\tlf\ncr\r", "tab\tlf\ncr\r", "tab&#9;lf&#10;cr&#13;" },
	{ "esc\x1b[31m nul-free \x7f", "esc\\x1b[31m nul-free \\x7f",
	    "esc\\x1b[31m nul-free \\x7f" },
	/* UTF-8 stays; what is not UTF-8 (or not XML) is escaped. */
	{ "\xe2\x82\xac \xc3\xa9", "\xe2\x82\xac \xc3\xa9",
	    "\xe2\x82\xac \xc3\xa9" },
	{ "\xc3\x28 \xff \xc0\xaf \xed\xa0\x80 \xef\xbf\xbe \xe2\x82",
	    "\\xc3( \\xff \\xc0\\xaf \\xed\\xa0\\x80 \\xef\\xbf\\xbe "
	    "\\xe2\\x82",
	    "\\xc3( \\xff \\xc0\\xaf \\xed\\xa0\\x80 \\xef\\xbf\\xbe "
	    "\\xe2\\x82" },
	{ "\xf4\x90\x80\x80 \xf0\x9f\x93\xa7", "\\xf4\\x90\\x80\\x80 "
	    "\xf0\x9f\x93\xa7", "\\xf4\\x90\\x80\\x80 \xf0\x9f\x93\xa7" },
};

static void
test_junit(void **state)
{
	static const int64_t	 each[3] = { 5, 1234, 0 };
	struct check_result	 res[3];
	struct report_target	 t[2];
	char			*out = NULL, want[512];
	size_t			 len = 0, i;
	FILE			*fp;

	for (i = 0; i < sizeof(xml_cases) / sizeof(xml_cases[0]); i++) {
		memset(res, 0, sizeof(res));
		memset(t, 0, sizeof(t));
		res[0].id = "banner";
		res[0].status = CHECK_FAIL;
		snprintf(res[0].summary, sizeof(res[0].summary), "%s",
		    xml_cases[i].in);
		res[1].id = "ehlo";
		res[1].status = CHECK_WARN;
		snprintf(res[1].summary, sizeof(res[1].summary), "w");
		res[2].id = "quit";
		res[2].status = CHECK_UNSET;
		t[0].target = "h&<:25";
		t[0].role = "mx";
		t[0].state = REPORT_FAIL;
		t[0].ms = 1234;
		t[0].res = res;
		t[0].ms_each = each;
		t[0].n = 3;
		fp = open_memstream(&out, &len);
		assert_non_null(fp);
		assert_int_equal(report_junit(fp, t, 1, 0), 0);
		fclose(fp);
		snprintf(want, sizeof(want), "<failure type=\"fail\" "
		    "message=\"%s\">%s</failure>", xml_cases[i].attr,
		    xml_cases[i].text);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, "<testsuites name=\"smtpauth "
		    "check\" tests=\"3\" failures=\"1\" errors=\"0\" "
		    "skipped=\"1\" time=\"1.234\">"));
		assert_non_null(strstr(out, "<testsuite name=\"h&amp;&lt;:25\" "
		    "id=\"0\" package=\"smtpauth.check\" tests=\"3\" "
		    "failures=\"1\" errors=\"0\" skipped=\"1\" "
		    "time=\"1.234\" timestamp=\"1970-01-01T00:00:00\""));
		assert_non_null(strstr(out, "<testcase classname=\"h&amp;&lt;"
		    ":25\" name=\"ehlo\" time=\"1.234\">\n      "
		    "<system-out>warn: w</system-out>"));
		assert_non_null(strstr(out, "name=\"banner\" time=\"0.005\">"));
		assert_non_null(strstr(out, "name=\"quit\" time=\"0.000\">\n"
		    "      <skipped message=\"\"/>"));
		free(out);
		out = NULL;
	}
}

/* The run's exit status from its targets' states. */
static void
test_exit(void **state)
{
	static const struct {
		enum report_state	st[3];
		size_t			n;
		int			rv;
	} cases[] = {
		{ { REPORT_PASS }, 1, 0 },
		{ { REPORT_PASS, REPORT_CLOSED, REPORT_PASS }, 3, 0 },
		{ { REPORT_PASS, REPORT_FAIL }, 2, 1 },
		{ { REPORT_PASS, REPORT_UNTESTED }, 2, 1 },
		{ { REPORT_CLOSED, REPORT_CLOSED, REPORT_CLOSED }, 3, 2 },
		{ { REPORT_UNTESTED, REPORT_CLOSED }, 2, 2 },
		{ { REPORT_FAIL, REPORT_CLOSED }, 2, 1 },
	};
	struct report_target	t[3];
	size_t			i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(t, 0, sizeof(t));
		for (k = 0; k < cases[i].n; k++)
			t[k].state = cases[i].st[k];
		assert_int_equal(report_exit(t, cases[i].n), cases[i].rv);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
