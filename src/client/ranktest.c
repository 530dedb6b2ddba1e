/*
 * The Mann-Whitney U test for the AUTH timing probe.  Ranks are taken on
 * the pooled sample (ties get their average rank); with n1 and n2 values,
 *
 *	U1 = R1 - n1 (n1 + 1) / 2
 *	sigma^2 = n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))
 *	z = (|U1 - n1 n2 / 2| - 1/2) / sigma,  p = erfc(z / sqrt 2)
 *
 * where t runs over the sizes of the groups of tied values.  The normal
 * approximation is good from about eight values a side, which is the
 * probe's minimum.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/ranktest.h"

struct item {
	double	v;
	int	first;		/* from a */
};

static int	cmp_item(const void *, const void *);
static int	cmp_double(const void *, const void *);

static int
cmp_item(const void *x, const void *y)
{
	const struct item	*a = x, *b = y;

	return (a->v > b->v) - (a->v < b->v);
}

static int
cmp_double(const void *x, const void *y)
{
	const double	*a = x, *b = y;

	return (*a > *b) - (*a < *b);
}

int
ranktest_mwu(const double *a, size_t na, const double *b, size_t nb,
    struct ranktest *out)
{
	struct item	it[2 * RANKTEST_MAX];
	double		r1 = 0, ties = 0, n, mean, var, t;
	size_t		i, j, k, total;

	memset(out, 0, sizeof(*out));
	out->p = 1;
	if (na == 0 || nb == 0 || na > RANKTEST_MAX || nb > RANKTEST_MAX)
		return -1;
	total = na + nb;
	for (i = 0; i < na; i++) {
		if (!isfinite(a[i]))
			return -1;
		it[i].v = a[i];
		it[i].first = 1;
	}
	for (i = 0; i < nb; i++) {
		if (!isfinite(b[i]))
			return -1;
		it[na + i].v = b[i];
		it[na + i].first = 0;
	}
	qsort(it, total, sizeof(it[0]), cmp_item);
	for (i = 0; i < total; i = j) {
		for (j = i + 1; j < total && it[j].v == it[i].v; j++)
			;
		/* Ranks i+1 .. j, each tied value gets their average. */
		for (k = i; k < j; k++)
			if (it[k].first)
				r1 += ((double)i + 1 + (double)j) / 2;
		t = (double)(j - i);
		ties += t * t * t - t;
	}
	n = (double)total;
	out->u = r1 - (double)na * ((double)na + 1) / 2;
	mean = (double)na * (double)nb / 2;
	var = (double)na * (double)nb / 12 * ((n + 1) - ties / (n * (n - 1)));
	if (var <= 0)
		return 0;	/* every value the same: nothing told apart */
	out->z = (fabs(out->u - mean) - 0.5) / sqrt(var);
	if (out->z < 0)
		out->z = 0;
	out->p = erfc(out->z / sqrt(2.0));
	return 0;
}

double
ranktest_median(const double *v, size_t n)
{
	double	s[RANKTEST_MAX];

	if (n == 0)
		return 0;
	if (n > RANKTEST_MAX)
		n = RANKTEST_MAX;
	memcpy(s, v, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
