/*
 * Two samples told apart or not: the Mann-Whitney U test (Wilcoxon rank
 * sum), two-sided, with the normal approximation corrected for ties and
 * for continuity, and the median.  For the AUTH timing probe of smtpauth
 * check; small bounded samples (RANKTEST_MAX each).
 */
#ifndef SMTPAUTH_RANKTEST_H
#define SMTPAUTH_RANKTEST_H

#include <stddef.h>

#define RANKTEST_MAX	256	/* values in one sample */

struct ranktest {
	double	u;		/* U of the first sample */
	double	z;		/* |U - mean| in standard deviations */
	double	p;		/* two-sided p-value; 1 when all are equal */
};

/*
 * Compare a[na] with b[nb] (1..RANKTEST_MAX each).  0, or -1 when a size
 * is out of range or a value is not finite.
 */
int	ranktest_mwu(const double *a, size_t na, const double *b, size_t nb,
	    struct ranktest *out);
/* The median of v[n] (n >= 1; v is not changed); 0 for n == 0. */
double	ranktest_median(const double *v, size_t n);

#endif
