/*
 * Unit tests for the tester's output: escaping, the redaction of
 * credentials from transcripts, and the JSON report.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
