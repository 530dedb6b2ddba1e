/*
 * Unit tests for src/server/shared/envelope.c: the format round trip, envelopes
 * written before delivery state existed, the per-recipient state lines
 * ("retry", "error") and a table of envelopes the parser must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/shared/envelope.h"

#define HEAD	"v 1\nid 0123456789ABCDEF\ntime 1700000000\nip 192.0.2.1\n" \
		"helo client.example\nfrom a@example.org\nbody 7BIT\n"       \
		"smtputf8 0\n"

static int
parse(const char *text, struct envelope *env)
{
	char	err[128];

	return envelope_parse(text, strlen(text), env, err, sizeof(err));
}

/* An envelope as the first version wrote it still reads. */
static void
test_old_format(void **state)
{
	struct envelope	env;

	assert_int_equal(parse(HEAD "auth a@example.org\n"
	    "local b@example.org\nremote c@example.net\n", &env), 0);
	assert_string_equal(env.id, "0123456789ABCDEF");
	assert_int_equal(env.time, 1700000000);
	assert_string_equal(env.auth, "a@example.org");
	assert_int_equal(env.nrcpts, 2);
	assert_false(env.rcpts[0].remote);
	assert_true(env.rcpts[1].remote);
	assert_int_equal(env.rcpts[1].attempts, 0);
	assert_int_equal(env.rcpts[1].next_try, 0);
	assert_string_equal(env.rcpts[1].error, "");
	assert_int_equal(envelope_pending(&env), 2);
	envelope_free(&env);
}

static void
test_state_lines(void **state)
{
	struct envelope	 env, again;
	char		*out, err[128];
	size_t		 len;
	const char	*text = HEAD
	    "remote c@example.net\n"
	    "retry 3 1700003600\n"
	    "error mx.example.net[192.0.2.25] 451 4.7.1 Greylisted, try "
	    "later\n"
	    "remote d@example.net\n"
	    "error - 4.4.3 example.net: MX lookup failed: Timeout\n"
	    "retry 1 1700000300\n"
	    "local e@example.org\n";

	assert_int_equal(parse(text, &env), 0);
	assert_int_equal(env.nrcpts, 3);
	assert_int_equal(env.rcpts[0].attempts, 3);
	assert_int_equal(env.rcpts[0].next_try, 1700003600);
	assert_string_equal(env.rcpts[0].host,
	    "mx.example.net[192.0.2.25]");
	assert_string_equal(env.rcpts[0].error,
	    "451 4.7.1 Greylisted, try later");
	assert_string_equal(env.rcpts[1].host, "");
	assert_string_equal(env.rcpts[1].error,
	    "4.4.3 example.net: MX lookup failed: Timeout");
	assert_int_equal(env.rcpts[1].attempts, 1);
	assert_int_equal(env.rcpts[2].attempts, 0);

	/* Written and read again: the same state. */
	assert_int_equal(envelope_format(&env, &out, &len), 0);
	assert_int_equal(envelope_parse(out, len, &again, err, sizeof(err)),
	    0);
	assert_int_equal(again.nrcpts, 3);
	assert_memory_equal(again.rcpts[0].error, env.rcpts[0].error,
	    strlen(env.rcpts[0].error) + 1);
	assert_string_equal(again.rcpts[0].host, env.rcpts[0].host);
	assert_int_equal(again.rcpts[1].next_try, 1700000300);
	/* A recipient without state gets no state lines. */
	assert_non_null(strstr(out, "local e@example.org\n"));
	assert_null(strstr(out, "local e@example.org\nretry"));
	free(out);
	envelope_free(&again);
	envelope_free(&env);
}

/* Delivered and failed recipients are left out when written. */
static void
test_format_skips_done(void **state)
{
	struct envelope	 env;
	char		*out;
	size_t		 len;

	assert_int_equal(parse(HEAD "remote a@x.example\nremote b@x.example\n"
	    "local c@example.org\n", &env), 0);
	env.rcpts[0].done = RCPT_DELIVERED;
	env.rcpts[2].done = RCPT_FAILED;
	assert_int_equal(envelope_pending(&env), 1);
	assert_int_equal(envelope_format(&env, &out, &len), 0);
	assert_null(strstr(out, "a@x.example"));
	assert_non_null(strstr(out, "remote b@x.example\n"));
	assert_null(strstr(out, "c@example.org"));
	free(out);
	envelope_free(&env);
}

/* Text from the network is made storable. */
static void
test_set_error(void **state)
{
	struct env_rcpt	r;
	char		long_text[2 * ENV_ERROR_MAX];

	memset(&r, 0, sizeof(r));
	envelope_set_error(&r, "mx[192.0.2.1]", "550 5.1.1 no\r\nsuch\tuser"
	    "\x01\xff   ", 28);
	assert_string_equal(r.host, "mx[192.0.2.1]");
	assert_string_equal(r.error, "550 5.1.1 no  such user??");
	envelope_set_error(&r, "a b", "x", 1);
	assert_string_equal(r.host, "a?b");
	envelope_set_error(&r, NULL, "\n", 1);
	assert_string_equal(r.host, "");
	assert_string_equal(r.error, "?");
	memset(long_text, 'x', sizeof(long_text));
	envelope_set_error(&r, "", long_text, sizeof(long_text));
	assert_int_equal(strlen(r.error), ENV_ERROR_MAX);
}

/* What the parser refuses, whole envelopes at a time. */
static void
test_bad_table(void **state)
{
	static const char *const bad[] = {
		HEAD "retry 1 2\n",				/* no rcpt */
		HEAD "error - text\n",				/* no rcpt */
		HEAD "remote a@b\nretry 1 2\nretry 1 2\n",	/* twice */
		HEAD "remote a@b\nerror - x\nerror - y\n",	/* twice */
		HEAD "remote a@b\nretry 1\n",
		HEAD "remote a@b\nretry -1 2\n",
		HEAD "remote a@b\nretry 1 2 3\n",
		HEAD "remote a@b\nretry 1 0x10\n",
		HEAD "remote a@b\nretry 1 \n",
		HEAD "remote a@b\nretry 99999999999 2\n",
		HEAD "remote a@b\nretry 1 99999999999999999999999\n",
		HEAD "remote a@b\nerror -\n",
		HEAD "remote a@b\nerror - \n",
		HEAD "remote a@b\nerror  text\n",
		HEAD "remote a@b\nerror - tab\there\n",
		HEAD "remote a@b\nerror - \x80\n",
		HEAD "remote a@b\nstate x\n",
		HEAD "remote a@b\nretry 1 2",			/* no LF */
		"v 2\nid 0123456789ABCDEF\n",
		"v 1\nid 0123456789abcdef\n",			/* not ours */
		"v 1\nid 0123456789ABCDEF\ntime 1x\n",
		"v 1\nid 0123456789ABCDEF\ntime -1\n",
		"id 0123456789ABCDEF\n",
	};
	struct envelope	env;
	char		err[128];
	size_t		i;

	/* A NUL anywhere, even where a field may hold anything. */
	assert_int_equal(envelope_parse(HEAD "helo a\0b\n",
	    sizeof(HEAD "helo a\0b\n") - 1, &env, err, sizeof(err)), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (envelope_parse(bad[i], strlen(bad[i]), &env, err,
		    sizeof(err)) != -1)
			fail_msg("accepted bad envelope %zu: %s", i, bad[i]);
		assert_true(err[0] != '\0');
		assert_null(env.rcpts);
	}
}

/* State lines follow the recipient they describe. */
static void
test_state_follows_rcpt(void **state)
{
	struct envelope	env;

	assert_int_equal(parse(HEAD "remote a@b\nretry 2 10\n"
	    "remote c@d\nretry 5 20\n", &env), 0);
	assert_int_equal(env.rcpts[0].attempts, 2);
	assert_int_equal(env.rcpts[1].attempts, 5);
	assert_int_equal(env.rcpts[1].next_try, 20);
	envelope_free(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_format),
		cmocka_unit_test(test_state_lines),
		cmocka_unit_test(test_format_skips_done),
		cmocka_unit_test(test_set_error),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_state_follows_rcpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
