/*
 * smtpauth load: the report, as text for a reader or as JSON with the
 * shape DESIGN.md pins (`load` options).
 */
#include <stdint.h>
#include <stdio.h>

#include "client/cliopt.h"
#include "client/load_priv.h"
#include "common/clock.h"
#include "common/json.h"

static const char *const lat_names[LAT_COUNT] = {
	"greeting", "handshake", "auth", "data", "noop", "session",
};

static double	 elapsed_s(const struct load *);
static void	 report_load_text(const struct load *);
static void	 report_load_json(const struct load *);

static double
elapsed_s(const struct load *L)
{
	int64_t	end = L->t_last > L->t0 ? L->t_last : mono_usec();

	if (L->idle && L->t_hold > 0)
		end = L->t_hold;	/* rates: of the opening */
	return (double)(end - L->t0) / 1e6;
}

static void
report_load_json(const struct load *L)
{
	const char	*tls;
	double		 el = elapsed_s(L);
	size_t		 i;
	unsigned	 k;
	int		 first;

	tls = L->o.tls == TLSMODE_IMPLICIT ? "implicit" :
	    L->o.tls == TLSMODE_NONE ? "none" : "starttls";
	printf("{\"target\":");
	json_string(stdout, L->o.target);
	printf(",\"tls\":\"%s\",\"concurrency\":%u,\"sessions\":%lu,"
	    "\"failed\":%lu,\"messages\":%lu,\"elapsed_s\":%.3f,"
	    "\"sessions_per_s\":%.1f,\"messages_per_s\":%.1f,"
	    "\"tls_handshakes\":%lu,\"tls_resumed\":%lu", tls,
	    L->concurrency, L->ok, L->failed, L->msgs_ok, el,
	    el > 0 ? (double)L->ok / el : 0.0,
	    el > 0 ? (double)L->msgs_ok / el : 0.0, L->handshakes,
	    L->resumed);
	if (L->idle)
		printf(",\"idle_held\":%u", L->idle_held);
	printf(",\"errors\":{");
	for (i = 0, first = 1; i < L->st.nerrs; i++, first = 0) {
		printf("%s", first ? "" : ",");
		json_string(stdout, L->st.errs[i].key);
		printf(":%lu", L->st.errs[i].n);
	}
	if (L->st.errs_other > 0)
		printf("%s\"other\":%lu", first ? "" : ",", L->st.errs_other);
	printf("},\"latency_ms\":{");
	for (k = 0; k < LAT_COUNT; k++) {
		const struct lat	*l = &L->st.lat[k];

		printf("%s\"%s\":", k ? "," : "", lat_names[k]);
		if (l->n == 0)
			printf("{\"p50\":null,\"p90\":null,\"p99\":null,"
			    "\"n\":0}");
		else
			printf("{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
			    "\"n\":%zu}", stats_pct(l, 50), stats_pct(l, 90),
			    stats_pct(l, 99), l->n);
	}
	printf("}}\n");
}

static void
report_load_text(const struct load *L)
{
	double		el = elapsed_s(L);
	size_t		i;
	unsigned	k;

	printf("target %s, %s, concurrency %u\n", L->o.target,
	    cliopt_tls_name(L->o.tls), L->concurrency);
	if (L->idle)
		printf("idle: %u of %u sessions held; opened in %.3f s\n",
		    L->idle_held, L->concurrency, el);
	printf("sessions: %lu ok, %lu failed in %.3f s: %.1f sessions/s\n",
	    L->ok, L->failed, el, el > 0 ? (double)L->ok / el : 0.0);
	printf("messages: %lu: %.1f messages/s\n", L->msgs_ok,
	    el > 0 ? (double)L->msgs_ok / el : 0.0);
	if (L->handshakes > 0)
		printf("TLS: %lu handshakes, %lu resumed\n", L->handshakes,
		    L->resumed);
	printf("errors:");
	if (L->st.nerrs == 0 && L->st.errs_other == 0)
		printf(" none");
	for (i = 0; i < L->st.nerrs; i++)
		printf(" %s=%lu", L->st.errs[i].key, L->st.errs[i].n);
	if (L->st.errs_other > 0)
		printf(" other=%lu", L->st.errs_other);
	printf("\nlatency ms          p50       p90       p99         n\n");
	for (k = 0; k < LAT_COUNT; k++) {
		const struct lat	*l = &L->st.lat[k];

		if (l->n == 0)
			continue;
		printf("  %-10s %9.3f %9.3f %9.3f %9zu\n", lat_names[k],
		    stats_pct(l, 50), stats_pct(l, 90), stats_pct(l, 99), l->n);
	}
}

void
load_report(const struct load *L)
{
	if (L->json)
		report_load_json(L);
	else
		report_load_text(L);
}
