/*
 * Unit tests for the failure ledgers of the auth process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "server/auth/ledger.h"

#define K(s)	(s), strlen(s)

static void
test_window(void **state)
{
	struct ledger	*l;

	assert_non_null(l = ledger_new(60, 100));
	assert_int_equal(ledger_count(l, K("a"), 1000), 0);
	assert_int_equal(ledger_fail(l, K("a"), 1000), 1);
	assert_int_equal(ledger_fail(l, K("a"), 1010), 2);
	assert_int_equal(ledger_fail(l, K("a"), 1059), 3);
	assert_int_equal(ledger_count(l, K("a"), 1059), 3);
	assert_int_equal(ledger_count(l, K("b"), 1059), 0);
	/* 1000 leaves the window at 1060, 1010 at 1070. */
	assert_int_equal(ledger_count(l, K("a"), 1060), 2);
	assert_int_equal(ledger_count(l, K("a"), 1069), 2);
	assert_int_equal(ledger_count(l, K("a"), 1070), 1);
	assert_int_equal(ledger_fail(l, K("a"), 1070), 2);
	assert_int_equal(ledger_count(l, K("a"), 2000), 0);
	assert_int_equal(ledger_fail(l, K("a"), 2000), 1);
	ledger_free(l);
}

static void
test_same_second(void **state)
{
	struct ledger	*l;
	unsigned	 i;

	assert_non_null(l = ledger_new(10, 100));
	for (i = 1; i <= 1000; i++)
		assert_int_equal(ledger_fail(l, K("x"), 5), i);
	assert_int_equal(ledger_count(l, K("x"), 14), 1000);
	assert_int_equal(ledger_count(l, K("x"), 15), 0);
	ledger_free(l);
}

/* Past LEDGER_RING distinct seconds counts never drop below the truth. */
static void
test_merge(void **state)
{
	struct ledger	*l;
	unsigned	 i, n;

	assert_non_null(l = ledger_new(1000, 10));
	for (i = 0; i < 200; i++) {
		n = ledger_fail(l, K("k"), 100 + i);
		assert_true(n >= i + 1);
		assert_true(n <= i + 1);	/* nothing left the window */
	}
	/* Exact while at most LEDGER_RING distinct seconds are involved. */
	ledger_clear(l, K("k"));
	for (i = 0; i < LEDGER_RING; i++)
		assert_int_equal(ledger_fail(l, K("k"), 5000 + 10 * i),
		    i + 1);
	/* The first failures leave the window one by one. */
	assert_int_equal(ledger_count(l, K("k"), 6000), LEDGER_RING - 1);
	assert_int_equal(ledger_count(l, K("k"), 6010), LEDGER_RING - 2);
	/* Merged failures may count longer than they should, never less. */
	for (i = 0; i < 3 * LEDGER_RING; i++)
		(void)ledger_fail(l, K("m"), 10000 + i);
	for (i = 0; i < 3 * LEDGER_RING; i++)
		assert_true(ledger_count(l, K("m"), 10999 + i) >=
		    3 * LEDGER_RING - i);
	ledger_free(l);
}

static void
test_clear_expire(void **state)
{
	struct ledger	*l;

	assert_non_null(l = ledger_new(30, 100));
	(void)ledger_fail(l, K("a"), 100);
	(void)ledger_fail(l, K("b"), 110);
	(void)ledger_fail(l, K("c"), 120);
	(void)ledger_fail(l, K("a"), 125);
	assert_int_equal(ledger_size(l), 3);
	ledger_clear(l, K("c"));
	assert_int_equal(ledger_size(l), 2);
	assert_int_equal(ledger_count(l, K("c"), 120), 0);
	ledger_expire(l, 139);
	assert_int_equal(ledger_size(l), 2);
	ledger_expire(l, 140);		/* b: last at 110 */
	assert_int_equal(ledger_size(l), 1);
	assert_int_equal(ledger_count(l, K("a"), 140), 1);
	ledger_expire(l, 155);
	assert_int_equal(ledger_size(l), 0);
	ledger_clear(l, K("nothing"));
	ledger_free(l);
}

static void
test_evict(void **state)
{
	struct ledger	*l;
	char		 key[16];
	unsigned	 i;

	assert_non_null(l = ledger_new(600, 50));
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		(void)ledger_fail(l, K(key), 1000 + i);
	}
	/* k0 failed again: now k1 has the oldest last failure. */
	assert_int_equal(ledger_fail(l, K("k0"), 1050), 2);
	assert_int_equal(ledger_size(l), 50);
	assert_int_equal(ledger_fail(l, K("new"), 1051), 1);
	assert_int_equal(ledger_size(l), 50);
	assert_int_equal(ledger_count(l, K("k1"), 1051), 0);
	assert_int_equal(ledger_count(l, K("k0"), 1051), 2);
	assert_int_equal(ledger_count(l, K("k2"), 1051), 1);
	ledger_free(l);
}

static void
test_keys(void **state)
{
	struct ledger	*l;
	uint8_t		 bin1[16] = { 1, 2, 0, 4 }, bin2[16] = { 1, 2, 0, 5 };
	char		 big[LEDGER_KEY_MAX + 1];

	assert_non_null(l = ledger_new(60, 100));
	assert_int_equal(ledger_fail(l, bin1, sizeof(bin1), 1), 1);
	assert_int_equal(ledger_fail(l, bin2, sizeof(bin2), 1), 1);
	assert_int_equal(ledger_fail(l, bin1, 3, 1), 1);	/* a prefix */
	assert_int_equal(ledger_fail(l, "", 0, 1), 1);
	assert_int_equal(ledger_fail(l, "", 0, 1), 2);
	memset(big, 'b', sizeof(big));
	assert_int_equal(ledger_fail(l, big, LEDGER_KEY_MAX, 1), 1);
	assert_int_equal(ledger_fail(l, big, sizeof(big), 1), 0);
	assert_int_equal(ledger_count(l, big, sizeof(big), 1), 0);
	/* A clock that went back is treated as standing still. */
	assert_int_equal(ledger_fail(l, bin1, sizeof(bin1), 0), 2);
	ledger_free(l);
	ledger_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_same_second),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_clear_expire),
		cmocka_unit_test(test_evict),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
