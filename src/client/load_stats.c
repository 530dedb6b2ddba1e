/*
 * smtpauth load: what the sessions measured.  Errors are counted by reply
 * code ("535") or reason ("timeout", "refused"...), up to MAX_ERRKEYS
 * keys and the rest as "other"; latencies are kept as samples in
 * milliseconds, sorted once at the end for the percentiles.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/load_priv.h"

static int	 cmp_double(const void *, const void *);

void
stats_latency(struct load_stats *st, enum lat_kind k, int64_t us)
{
	struct lat	*l = &st->lat[k];
	double		*nv;
	size_t		 ns;

	if (l->n == l->size) {
		ns = l->size == 0 ? 1024 : l->size * 2;
		if ((nv = reallocarray(l->v, ns, sizeof(*nv))) == NULL)
			return;		/* a sample less */
		l->v = nv;
		l->size = ns;
	}
	l->v[l->n++] = (double)us / 1000.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with pct percent at or below it. */
double
stats_pct(const struct lat *l, unsigned pct)
{
	size_t	rank;

	rank = (l->n * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return l->v[rank - 1];
}

/* Errors by reply code ("535") or reason ("timeout", "refused"...). */
void
stats_error(struct load_stats *st, const char *key)
{
	size_t	i;

	for (i = 0; i < st->nerrs; i++)
		if (strcmp(st->errs[i].key, key) == 0) {
			st->errs[i].n++;
			return;
		}
	if (st->nerrs == MAX_ERRKEYS) {
		st->errs_other++;
		return;
	}
	(void)snprintf(st->errs[st->nerrs].key, sizeof(st->errs[0].key), "%s",
	    key);
	st->errs[st->nerrs++].n = 1;
}

void
stats_sort(struct load_stats *st)
{
	unsigned	k;

	for (k = 0; k < LAT_COUNT; k++)
		if (st->lat[k].n > 0)
			qsort(st->lat[k].v, st->lat[k].n, sizeof(double),
			    cmp_double);
}

void
stats_free(struct load_stats *st)
{
	unsigned	k;

	for (k = 0; k < LAT_COUNT; k++)
		free(st->lat[k].v);
}
