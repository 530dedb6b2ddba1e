/*
 * CPU a SCRAM-SHA-256 exchange costs the auth process (issue 14), which
 * runs it on its event loop: scram_server_start() of the client-first,
 * scram_server_first() and scram_server_final() with the proof check,
 * on the RFC 7677 test vector, as backend_file.c calls them (the lookup
 * and the random nonce aside); and, for comparison, what PLAIN against
 * the same keys costs on the pool (scram_check(): SASLprep and PBKDF2 of
 * 4096 iterations).  Run by hand: make bench-scram (bench/RESULTS.md).
 *
 *	build/bench/scram_step [N]	N exchanges (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/scram.h"
#include "server/auth/scram_server.h"

#define KEYS	SCRAM_PREFIX "4096,W22ZaJ0SNY7soEsUEjb6gQ==," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define CFIRST	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define CFINAL	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF" \
	"$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static double
cpu_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct scram_server	 s;
	struct scram_stored	 st;
	char			 out[SCRAM_SV_MSG_MAX];
	const char		*why;
	size_t			 n;
	long			 i, count = argc > 1 ? atol(argv[1]) : 200000;
	double			 t0, t1, t2, t3;
	long			 nplain = count / 1000 > 0 ? count / 1000 : 1;

	if (count <= 0 || scram_parse(KEYS, &st) != 0)
		return 2;
	t0 = cpu_seconds();
	for (i = 0; i < count; i++) {
		if (scram_server_start(&s, 0, NULL, 0, (const uint8_t *)CFIRST,
		    strlen(CFIRST), &why) != SCRAM_SV_OK ||
		    scram_server_first(&s, &st, SNONCE, strlen(SNONCE), out,
		    sizeof(out), &n) != SCRAM_SV_OK)
			return 1;
	}
	t1 = cpu_seconds();
	for (i = 0; i < count; i++) {
		if (scram_server_start(&s, 0, NULL, 0, (const uint8_t *)CFIRST,
		    strlen(CFIRST), &why) != SCRAM_SV_OK ||
		    scram_server_first(&s, &st, SNONCE, strlen(SNONCE), out,
		    sizeof(out), &n) != SCRAM_SV_OK ||
		    scram_server_final(&s, (const uint8_t *)CFINAL,
		    strlen(CFINAL), out, sizeof(out), &n, &why) != SCRAM_SV_OK)
			return 1;
	}
	t2 = cpu_seconds();
	for (i = 0; i < nplain; i++)
		if (scram_check(&st, "pencil", 6) != 1)
			return 1;
	t3 = cpu_seconds();
	scram_server_wipe(&s);
	printf("exchanges=%ld first_us=%.2f exchange_us=%.2f "
	    "final_us=%.2f plain_check_us=%.0f\n", count,
	    (t1 - t0) / (double)count * 1e6, (t2 - t1) / (double)count * 1e6,
	    ((t2 - t1) - (t1 - t0)) / (double)count * 1e6,
	    (t3 - t2) / (double)nplain * 1e6);
	return 0;
}
