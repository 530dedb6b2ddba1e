/*
 * Unit tests for src/server/queue/dsn.c: the bounce's structure (RFC 3464
 * multipart/report with the three parts and the fields each needs), the
 * status codes taken from stored errors, and the header section cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/queue/dsn.h"

static const char headers[] =
    "Received: from c.test ([127.0.0.1])\r\n"
    "\tby mx.test with ESMTPSA id 0123456789ABCDEF; "
    "Thu, 1 Jan 2026 00:00:00 +0000\r\n"
    "From: A <a@example.org>\r\n"
    "Subject: hello\r\n";

static char *
build(const struct dsn_rcpt *rcpts, size_t n, size_t *lenp)
{
	struct dsn	 d;
	char		*out;
	size_t		 len;

	memset(&d, 0, sizeof(d));
	d.hostname = "mx.test";
	d.id = "FEDCBA9876543210";
	d.orig_id = "0123456789ABCDEF";
	d.sender = "a@example.org";
	d.arrival = 1700000000;
	d.now = 1700000100;
	d.rcpts = rcpts;
	d.nrcpts = n;
	d.headers = headers;
	d.headerslen = strlen(headers);
	assert_int_equal(dsn_build(&d, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	if (lenp != NULL)
		*lenp = len;
	return out;
}

static void
test_structure(void **state)
{
	const struct dsn_rcpt rcpts[] = {
		{ "x@remote.example", "550 5.1.1 <x@remote.example>: no such "
		    "user", "mx.remote.example[192.0.2.25]" },
		{ "y@remote.example", "4.4.1 connect: Connection refused",
		    "mx.remote.example[192.0.2.25]" },
		{ "z@gone.example", "5.1.10 gone.example: domain accepts no "
		    "mail (null MX)", "" },
	};
	const char	*p, *line;
	char		*m;
	size_t		 len, i;

	m = build(rcpts, 3, &len);
	/* Our Received: first: the spool's convention. */
	assert_true(strncmp(m, "Received: by mx.test (smtpauthd)\r\n\tid "
	    "FEDCBA9876543210; ", 52) == 0);
	assert_non_null(strstr(m, "\r\nFrom: Mail Delivery System "
	    "<MAILER-DAEMON@mx.test>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: <a@example.org>\r\n"));
	assert_non_null(strstr(m, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(m, "\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\""
	    "FEDCBA9876543210/mx.test\"\r\n"));
	/* Three parts and the closing boundary. */
	for (i = 0, p = m; (p = strstr(p, "\r\n--FEDCBA9876543210/mx.test"))
	    != NULL; p++)
		i++;
	assert_int_equal(i, 4);
	assert_non_null(strstr(m, "--FEDCBA9876543210/mx.test--\r\n"));
	assert_non_null(strstr(m, "Content-Type: text/plain; "
	    "charset=us-ascii\r\n"));
	assert_non_null(strstr(m, "Content-Type: message/delivery-status"
	    "\r\n\r\nReporting-MTA: dns; mx.test\r\n"));
	assert_non_null(strstr(m, "\r\nArrival-Date: "));
	assert_non_null(strstr(m, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: from c.test ([127.0.0.1])\r\n"));
	assert_non_null(strstr(m, "Subject: hello\r\n\r\n--FEDCBA"));
	/* The per-recipient fields. */
	assert_non_null(strstr(m, "\r\n\r\nFinal-Recipient: rfc822; "
	    "x@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.example\r\nDiagnostic-Code: smtp; "
	    "550 5.1.1 <x@remote.example>: no such user\r\n"));
	assert_non_null(strstr(m, "Final-Recipient: rfc822; y@remote.example"
	    "\r\nAction: failed\r\nStatus: 4.4.1\r\nRemote-MTA: dns; "
	    "mx.remote.example\r\nDiagnostic-Code: X-smtpauthd; 4.4.1 "
	    "connect: Connection refused\r\n"));
	assert_non_null(strstr(m, "Final-Recipient: rfc822; z@gone.example"
	    "\r\nAction: failed\r\nStatus: 5.1.10\r\nDiagnostic-Code: "));
	/* The remote reply quoted for people too. */
	assert_non_null(strstr(m, "<x@remote.example>: host "
	    "mx.remote.example[192.0.2.25] said:\r\n    550 5.1.1 "));
	/* CRLF only, lines under 1000 octets. */
	for (line = m; line < m + len; line = p + 1) {
		p = memchr(line, '\n', (size_t)(m + len - line));
		assert_non_null(p);
		assert_true(p > line && p[-1] == '\r');
		assert_true(p - line < 1000);
		assert_null(memchr(line, '\r', (size_t)(p - line - 1)));
	}
	free(m);
}

/* Client text in a field cannot break out of it. */
static void
test_hostile_text(void **state)
{
	const struct dsn_rcpt rcpts[] = {
		{ "x@r.example", "550 bad\r\nX-Injected: yes", "h\r\n[1]" },
	};
	char	*m;

	m = build(rcpts, 1, NULL);
	assert_null(strstr(m, "\r\nX-Injected"));
	assert_non_null(strstr(m, "550 bad??X-Injected: yes"));
	free(m);
}

static void
test_status(void **state)
{
	static const struct {
		const char	*error;
		const char	*status;
	} table[] = {
		{ "550 5.1.1 unknown", "5.1.1" },
		{ "550 unknown", "5.0.0" },
		{ "451 4.7.1 greylisted", "4.7.1" },
		{ "451 greylisted", "4.0.0" },
		{ "550 4.7.1 class mismatch", "5.0.0" },
		{ "554", "5.0.0" },
		{ "552 5.3.4 too big", "5.3.4" },
		{ "4.4.1 connect: refused", "4.4.1" },
		{ "5.1.10 null MX", "5.1.10" },
		{ "4.4.7 expired", "4.4.7" },
		{ "whatever", "5.0.0" },
		{ "250 2.0.0 ok", "5.0.0" },
		{ "2.0.0 ok", "5.0.0" },
		{ "", "5.0.0" },
	};
	char	out[16];
	size_t	i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		dsn_status(table[i].error, out, sizeof(out));
		if (strcmp(out, table[i].status) != 0)
			fail_msg("%s: got %s, want %s", table[i].error, out,
			    table[i].status);
	}
	assert_true(dsn_is_smtp_reply("550 x"));
	assert_true(dsn_is_smtp_reply("550"));
	assert_false(dsn_is_smtp_reply("5.1.1 x"));
	assert_false(dsn_is_smtp_reply("55"));
}

static void
test_header_length(void **state)
{
	const char	*m1 = "A: 1\r\nB: 2\r\n\r\nbody\r\n";
	const char	*m2 = "A: 1\nB: 2\n\nbody\n";
	const char	*m3 = "A: 1\r\nB: 2\r\n";
	const char	*m4 = "A: 1\r\nB: 22222";

	assert_int_equal(dsn_header_length(m1, strlen(m1), 1000), 12);
	assert_int_equal(dsn_header_length(m2, strlen(m2), 1000), 10);
	assert_int_equal(dsn_header_length(m3, strlen(m3), 1000), 12);
	/* No body, no end: all of it. */
	assert_int_equal(dsn_header_length(m4, strlen(m4), 1000),
	    strlen(m4));
	/* Cut at the limit: whole lines only. */
	assert_int_equal(dsn_header_length(m1, strlen(m1), 8), 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_header_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
