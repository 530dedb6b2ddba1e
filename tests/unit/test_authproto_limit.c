/*
 * Unit tests for the sending-limit messages of the worker <-> auth
 * protocol (AUTH_MSG_LIMIT, AUTH_MSG_LIMIT_ANSWER): round trips, refusals
 * of what cannot be sent, and every corruption of a valid message either
 * refused or decoding to a message that encodes back to the same octets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/ipc.h"
#include "server/shared/authproto.h"

static void
mkreq(struct limit_request *r, enum limit_kind kind, uint32_t count,
    const char *acct)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->count = count;
	r->acctlen = strlen(acct);
	memcpy(r->account, acct, r->acctlen);
}

static void
test_limit_roundtrip(void **state)
{
	static const struct {
		enum limit_kind	 kind;
		uint32_t	 count;
		const char	*acct;
	} t[] = {
		{ LIMIT_MESSAGES, 1, "user@example.org" },
		{ LIMIT_RECIPIENTS, 1, "u" },
		{ LIMIT_RECIPIENTS, LIMIT_COUNT_MAX, "jms1@jms1.net" },
	};
	struct limit_request	r, back;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	size_t			i;
	int			n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mkreq(&r, t[i].kind, t[i].count, t[i].acct);
		n = authproto_encode_limit(&r, buf, sizeof(buf));
		assert_int_equal(n, 1 + 4 + 2 + (int)strlen(t[i].acct));
		assert_int_equal(authproto_decode_limit(buf, (size_t)n, &back),
		    0);
		assert_int_equal(back.kind, t[i].kind);
		assert_int_equal(back.count, t[i].count);
		assert_int_equal(back.acctlen, strlen(t[i].acct));
		assert_string_equal(back.account, t[i].acct);
		/* Every truncation and one octet more are refused. */
		while (--n >= 0)
			assert_int_equal(authproto_decode_limit(buf, (size_t)n,
			    &back), -1);
		n = authproto_encode_limit(&r, buf, sizeof(buf));
		buf[n] = 'x';
		assert_int_equal(authproto_decode_limit(buf, (size_t)n + 1,
		    &back), -1);
	}
}

static void
test_limit_encode_refuses(void **state)
{
	struct limit_request	r;
	uint8_t			buf[IPC_MAX_PAYLOAD];

	mkreq(&r, LIMIT_MESSAGES, 0, "user@example.org");
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, LIMIT_MESSAGES, LIMIT_COUNT_MAX + 1, "user@example.org");
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, (enum limit_kind)3, 1, "user@example.org");
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, LIMIT_MESSAGES, 1, "");
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, LIMIT_MESSAGES, 1, "a\0b");
	r.acctlen = 3;
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, LIMIT_MESSAGES, 1, "user@example.org");
	r.acctlen = AUTH_FIELD_MAX + 1;
	assert_int_equal(authproto_encode_limit(&r, buf, sizeof(buf)), -1);
	mkreq(&r, LIMIT_MESSAGES, 1, "user@example.org");
	assert_int_equal(authproto_encode_limit(&r, buf, 10), -1);
}

static void
test_limit_every_octet(void **state)
{
	struct limit_request	r;
	uint8_t			buf[IPC_MAX_PAYLOAD], bad[64];
	uint8_t			again[IPC_MAX_PAYLOAD];
	int			n, v, i;

	mkreq(&r, LIMIT_RECIPIENTS, 7, "a@b.c");
	n = authproto_encode_limit(&r, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n <= sizeof(bad));
	for (i = 0; i < n; i++)
		for (v = 0; v < 256; v++) {
			memcpy(bad, buf, (size_t)n);
			bad[i] = (uint8_t)v;
			if (authproto_decode_limit(bad, (size_t)n, &r) == -1)
				continue;
			assert_int_equal(authproto_encode_limit(&r, again,
			    sizeof(again)), n);
			assert_memory_equal(again, bad, (size_t)n);
		}
}

static void
test_limit_answer(void **state)
{
	static const struct limit_answer ok[] = {
		{ AUTH_OK, 0 }, { AUTH_FAIL, 0 }, { AUTH_FAIL, 600 },
		{ AUTH_FAIL, 31536000 }, { AUTH_TEMPFAIL, 0 },
	};
	static const struct limit_answer refused[] = {
		{ AUTH_OK, 1 }, { AUTH_TEMPFAIL, 5 }, { AUTH_FAIL, 31536001 },
		{ (enum auth_result)7, 0 },
	};
	struct limit_answer	a;
	uint8_t			buf[16], bad[5], again[16];
	size_t			i;
	int			v, j;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(authproto_encode_limit_answer(&ok[i], buf,
		    sizeof(buf)), 5);
		assert_int_equal(authproto_decode_limit_answer(buf, 5, &a), 0);
		assert_int_equal(a.result, ok[i].result);
		assert_int_equal(a.retry_secs, ok[i].retry_secs);
		assert_int_equal(authproto_decode_limit_answer(buf, 4, &a), -1);
		assert_int_equal(authproto_decode_limit_answer(buf, 6, &a), -1);
		/* A refused decode leaves a temporary failure behind. */
		assert_int_equal(a.result, AUTH_TEMPFAIL);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_equal(authproto_encode_limit_answer(&refused[i],
		    buf, sizeof(buf)), -1);
	assert_int_equal(authproto_encode_limit_answer(&ok[2], buf, 4), -1);
	assert_int_equal(authproto_encode_limit_answer(&ok[2], buf,
	    sizeof(buf)), 5);
	for (j = 0; j < 5; j++)
		for (v = 0; v < 256; v++) {
			memcpy(bad, buf, 5);
			bad[j] = (uint8_t)v;
			if (authproto_decode_limit_answer(bad, 5, &a) == -1)
				continue;
			assert_int_equal(authproto_encode_limit_answer(&a,
			    again, sizeof(again)), 5);
			assert_memory_equal(again, bad, 5);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_roundtrip),
		cmocka_unit_test(test_limit_encode_refuses),
		cmocka_unit_test(test_limit_every_octet),
		cmocka_unit_test(test_limit_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
