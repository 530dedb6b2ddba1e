/*
 * libFuzzer harness for the server side of SCRAM-SHA-256(-PLUS)
 * (scram_server.c): what a hostile client sends.  The first octet picks
 * the mechanism (bit 0: -PLUS) and whether the session has channel
 * binding data (bit 1); up to the first newline is the client-first
 * message, the rest the client-final.  Never a crash; a verdict is one of
 * the four; a start that parses gives a prepared, non-empty user name; a
 * final that passes gives "v=" and a signature.  The keys are the RFC
 * 7677 vector's, so a seed can carry its proof.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/scram.h"
#include "server/auth/scram_server.h"

#define RFC_KEYS	SCRAM_PREFIX "4096,W22ZaJ0SNY7soEsUEjb6gQ==," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define SNONCE		"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
verdict_ok(enum scram_sv_result r)
{
	return r == SCRAM_SV_OK || r == SCRAM_SV_MALFORMED ||
	    r == SCRAM_SV_REFUSED || r == SCRAM_SV_ERROR;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t	 cb[32] = { 7 };
	struct scram_server	 s;
	struct scram_stored	 st;
	const uint8_t		*nl;
	const char		*why;
	char			 out[SCRAM_SV_MSG_MAX];
	size_t			 firstlen, n;
	enum scram_sv_result	 r;
	int			 flags;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	nl = memchr(data, '\n', size);
	firstlen = nl != NULL ? (size_t)(nl - data) : size;
	r = scram_server_start(&s, flags & 1, (flags & 2) ? cb : NULL,
	    (flags & 2) ? sizeof(cb) : 0, data, firstlen, &why);
	assert(verdict_ok(r));
	assert((r == SCRAM_SV_OK) == (why == NULL));
	if (r != SCRAM_SV_OK)
		goto out;
	assert(s.userlen > 0 && s.userlen < sizeof(s.user) &&
	    s.user[s.userlen] == '\0' && strlen(s.user) == s.userlen);
	if (scram_parse(RFC_KEYS, &st) != 0)
		assert(0);
	r = scram_server_first(&s, &st, SNONCE, strlen(SNONCE), out,
	    sizeof(out), &n);
	if (r != SCRAM_SV_OK) {
		/* A client nonce too long for the answer, nothing else. */
		assert(r == SCRAM_SV_MALFORMED);
		goto out;
	}
	assert(n == strlen(out) && memcmp(out, "r=", 2) == 0);
	if (nl == NULL)
		goto out;
	r = scram_server_final(&s, nl + 1, size - firstlen - 1, out,
	    sizeof(out), &n, &why);
	assert(verdict_ok(r));
	if (r == SCRAM_SV_OK)
		assert(why == NULL && n == 46 && memcmp(out, "v=", 2) == 0 &&
		    strlen(out) == n);
	else
		assert(why != NULL && n == 0);
out:
	scram_server_wipe(&s);
	return 0;
}
