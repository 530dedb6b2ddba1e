/*
 * Unit tests for the Mann-Whitney U test of the AUTH timing probe: the
 * values are those of the normal approximation with the tie and
 * continuity corrections (scipy.stats.mannwhitneyu, method="asymptotic",
 * gives the same), and the bounds.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/ranktest.h"

static const struct {
	const char	*name;
	double		 a[8], b[8];
	double		 u, z, p;
} cases[] = {
	{ "apart", { 1, 2, 3, 4, 5, 6, 7, 8 },
	    { 9, 10, 11, 12, 13, 14, 15, 16 }, 0, 3.308161698516173,
	    0.0009391056991171905 },
	{ "interleaved", { 1, 3, 5, 7, 9, 11, 13, 15 },
	    { 2, 4, 6, 8, 10, 12, 14, 16 }, 28, 0.36757352205735255,
	    0.713191261016072 },
	{ "ties", { 1, 1, 2, 2, 3, 3, 4, 4 }, { 2, 2, 3, 3, 4, 4, 5, 5 },
	    18, 1.4523687548277813, 0.14639909928296396 },
};

static void
test_table(void **state)
{
	struct ranktest	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ranktest_mwu(cases[i].a, 8, cases[i].b, 8, &r),
		    0);
		assert_true(fabs(r.u - cases[i].u) < 1e-9);
		assert_true(fabs(r.z - cases[i].z) < 1e-9);
		assert_true(fabs(r.p - cases[i].p) < 1e-12);
		/* Swapping the samples changes U, not the verdict. */
		assert_int_equal(ranktest_mwu(cases[i].b, 8, cases[i].a, 8, &r),
		    0);
		assert_true(fabs(r.u - (64 - cases[i].u)) < 1e-9);
		assert_true(fabs(r.p - cases[i].p) < 1e-12);
	}
}

static void
test_all_equal_and_bounds(void **state)
{
	static double	big[RANKTEST_MAX + 1];
	double		same[3] = { 5, 5, 5 }, nan_[1] = { NAN };
	struct ranktest	r;

	(void)state;
	assert_int_equal(ranktest_mwu(same, 3, same, 3, &r), 0);
	assert_true(r.p == 1);
	assert_int_equal(ranktest_mwu(same, 0, same, 3, &r), -1);
	assert_int_equal(ranktest_mwu(big, RANKTEST_MAX + 1, same, 3, &r), -1);
	assert_int_equal(ranktest_mwu(big, RANKTEST_MAX, big, RANKTEST_MAX,
	    &r), 0);
	assert_int_equal(ranktest_mwu(nan_, 1, same, 3, &r), -1);
}

static void
test_median(void **state)
{
	double	odd[] = { 9, 1, 5 }, even[] = { 4, 1, 3, 2 };

	(void)state;
	assert_true(ranktest_median(odd, 3) == 5);
	assert_true(ranktest_median(even, 4) == 2.5);
	assert_true(ranktest_median(odd, 0) == 0);
	/* The input is left as it was. */
	assert_true(odd[0] == 9 && even[0] == 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_all_equal_and_bounds),
		cmocka_unit_test(test_median),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
