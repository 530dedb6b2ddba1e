/*
 * Unit tests for the pieces of smtpauth send that the checklist shares:
 * the test message and the queue id in the reply to DATA.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/send.h"
#include "common/reply.h"

static void
parse(struct reply_parser *p, const char *s)
{
	size_t	used;

	reply_parser_reset(p);
	assert_int_equal(reply_parse(p, s, strlen(s), &used), REPLY_DONE);
}

static void
test_queue_id(void **state)
{
	static const struct {
		const char	*reply;
		const char	*id;
	} cases[] = {
		{ "250 2.0.0 Ok: queued as 4F2A9C01DEADBEEF\r\n",
		    "4F2A9C01DEADBEEF" },
		{ "250 ok 1113954693 qp 29052\r\n", "29052" },	/* qmail */
		/* Exim: the id as its log and exim -M know it. */
		{ "250 OK id=1rXyZ-000abc-7Q\r\n", "1rXyZ-000abc-7Q" },
		{ "250 2.0.0 OK id=1rXyZ-000abc-7Q\r\n", "1rXyZ-000abc-7Q" },
		{ "250 OK id=\r\n", "id=" },
		{ "250 OK pid=12 done\r\n", "done" },
		{ "250 2.0.0 Ok (queued as ABC123)\r\n", "ABC123" },
		{ "250-first line\r\n250 Queued As X1; thanks\r\n", "X1" },
		{ "250 trailing spaces   \r\n", "spaces" },
		{ "250\r\n", "" },
		{ "250 id\x1b[2J\r\n", "id\\x1b[2J" },
	};
	struct reply_parser	p;
	char			buf[QUEUE_ID_MAX];
	size_t			i;

	reply_parser_init(&p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(&p, cases[i].reply);
		queue_id(&p.reply, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].id);
	}
	reply_parser_free(&p);
}

static void
test_message(void **state)
{
	const char	*to[] = { "a@example.org", "b@example.net" };
	char		*msg, *body;
	size_t		 len;

	assert_int_equal(message_build("me@example.org", to, 2, "hello",
	    "body\r\n", 6, &msg, &len), 0);
	assert_true(len > 0);
	msg = realloc(msg, len + 1);
	msg[len] = '\0';
	assert_memory_equal(msg, "Date: ", 6);
	assert_non_null(strstr(msg, "\r\nMessage-ID: <smtpauth."));
	assert_non_null(strstr(msg, "@example.org>\r\n"));
	assert_non_null(strstr(msg, "\r\nFrom: me@example.org\r\n"));
	assert_non_null(strstr(msg, "\r\nTo: a@example.org,\r\n "
	    "b@example.net\r\n"));
	assert_non_null(strstr(msg, "\r\nSubject: hello\r\n"));
	assert_null(strstr(msg, "MIME-Version"));
	body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body, "\r\n\r\nbody\r\n");
	free(msg);

	/* Not ASCII: an encoded subject in words cut between characters,
	 * and MIME headers for the body. */
	assert_int_equal(message_build("", to, 1,
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x",
	    "gr\xc3\xbc\xc3\x9f", 6, &msg, &len), 0);
	msg = realloc(msg, len + 1);
	msg[len] = '\0';
	assert_non_null(strstr(msg, "@smtpauth.invalid>"));
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
	assert_non_null(strstr(msg, "?=\r\n =?UTF-8?B?"));
	assert_non_null(strstr(msg, "Content-Type: text/plain; "
	    "charset=UTF-8\r\n"));
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_id),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
