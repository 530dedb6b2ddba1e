/*
 * Unit tests for the server side of SCRAM-SHA-256 (scram_server.c): the
 * RFC 7677 section 3 exchange byte for byte (its nonces given), then a
 * table of client messages each refused as malformed (501) or refused
 * (535), channel binding (tls-exporter) with 'p', 'y' and 'n', and
 * SASLprep (saslprep.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "common/saslprep.h"
#include "common/scram.h"
#include "server/auth/scram_server.h"

/* RFC 7677 3: user "user", password "pencil". */
#define RFC_KEYS	SCRAM_PREFIX "4096,W22ZaJ0SNY7soEsUEjb6gQ==," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define RFC_CFIRST	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SFIRST	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_WITHOUT	"c=biws,r=rOprNGfwEbeRWgbNEkqO" RFC_SNONCE
#define RFC_CFINAL	RFC_WITHOUT \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SFINAL	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const uint8_t	CB[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
	30, 31, 32 };

static enum scram_sv_result
start(struct scram_server *s, int plus, const uint8_t *cb, const char *m,
    const char **reason)
{
	return scram_server_start(s, plus, cb, cb != NULL ? sizeof(CB) : 0,
	    (const uint8_t *)m, strlen(m), reason);
}

static void
first(struct scram_server *s)
{
	struct scram_stored	st;
	char			out[SCRAM_SV_MSG_MAX];
	size_t			n;

	assert_int_equal(scram_parse(RFC_KEYS, &st), 0);
	assert_int_equal(scram_server_first(s, &st, RFC_SNONCE,
	    strlen(RFC_SNONCE), out, sizeof(out), &n), SCRAM_SV_OK);
}

static enum scram_sv_result
final(struct scram_server *s, const char *m, char *out, size_t outsize,
    const char **reason)
{
	size_t	n;

	return scram_server_final(s, (const uint8_t *)m, strlen(m), out,
	    outsize, &n, reason);
}

static void
test_rfc7677_exchange(void **state)
{
	struct scram_server	s;
	struct scram_stored	st;
	const char		*why;
	char			out[SCRAM_SV_MSG_MAX];
	size_t			n;

	assert_int_equal(start(&s, 0, NULL, RFC_CFIRST, &why), SCRAM_SV_OK);
	assert_null(why);
	assert_string_equal(s.user, "user");
	assert_int_equal(scram_parse(RFC_KEYS, &st), 0);
	assert_int_equal(scram_server_first(&s, &st, RFC_SNONCE,
	    strlen(RFC_SNONCE), out, sizeof(out), &n), SCRAM_SV_OK);
	assert_string_equal(out, RFC_SFIRST);
	assert_int_equal(n, strlen(RFC_SFIRST));
	assert_int_equal(scram_server_final(&s, (const uint8_t *)RFC_CFINAL,
	    strlen(RFC_CFINAL), out, sizeof(out), &n, &why), SCRAM_SV_OK);
	assert_string_equal(out, RFC_SFINAL);
	assert_int_equal(n, strlen(RFC_SFINAL));
	/* One try: the exchange is over. */
	assert_int_equal(final(&s, RFC_CFINAL, out, sizeof(out), &why),
	    SCRAM_SV_MALFORMED);
	scram_server_wipe(&s);
}

/* The RFC's client-final with one change, against the RFC's exchange. */
static enum scram_sv_result
rfc_final(const char *m, const char **why)
{
	struct scram_server	s;
	char			out[SCRAM_SV_MSG_MAX];
	enum scram_sv_result	r;

	assert_int_equal(start(&s, 0, NULL, RFC_CFIRST, why), SCRAM_SV_OK);
	first(&s);
	r = final(&s, m, out, sizeof(out), why);
	scram_server_wipe(&s);
	return r;
}

static void
test_final_refused(void **state)
{
	const char	*why;

	/* One bit of the proof. */
	assert_int_equal(rfc_final(RFC_WITHOUT
	    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=", &why),
	    SCRAM_SV_REFUSED);
	assert_string_equal(why, "bad-proof");
	/* Another nonce (the client's part only). */
	assert_int_equal(rfc_final("c=biws,r=rOprNGfwEbeRWgbNEkqO,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &why),
	    SCRAM_SV_REFUSED);
	assert_string_equal(why, "nonce");
	/* c= says "y,," where the client sent "n,,". */
	assert_int_equal(rfc_final("c=eSws,r=rOprNGfwEbeRWgbNEkqO" RFC_SNONCE
	    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &why),
	    SCRAM_SV_REFUSED);
	assert_string_equal(why, "channel-binding");
}

static void
test_final_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"c=biws",
		RFC_WITHOUT,				/* no proof */
		RFC_WITHOUT ",p=",
		RFC_WITHOUT ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7A=",
		RFC_WITHOUT ",p=!!!!",
		RFC_CFINAL ",x=1",			/* after the proof */
		"r=rOprNGfwEbeRWgbNEkqO" RFC_SNONCE ",c=biws"
		    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=bi*s,r=rOprNGfwEbeRWgbNEkqO" RFC_SNONCE
		    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		RFC_WITHOUT ",=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		RFC_WITHOUT ",,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	};
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad[%zu]\n", i);
		assert_int_equal(rfc_final(bad[i], &why), SCRAM_SV_MALFORMED);
	}
	/* An extension before the proof is allowed, and in AuthMessage. */
	assert_int_equal(rfc_final(RFC_WITHOUT ",x=1,p=dHzbZapWIk4jUhN+Ute9yta"
	    "g9zjfMHgsqmmiz7AndVQ=", &why), SCRAM_SV_REFUSED);
	assert_string_equal(why, "bad-proof");
}

static void
test_first_table(void **state)
{
	static const struct {
		const char		*msg;
		int			 plus;
		int			 cb;
		enum scram_sv_result	 want;
		const char		*why;
		const char		*user;
	} t[] = {
		{ "n,,n=user,r=abc", 0, 0, SCRAM_SV_OK, NULL, "user" },
		{ "n,,n=user,r=abc,x=ext", 0, 0, SCRAM_SV_OK, NULL, "user" },
		{ "n,a=user,n=user,r=abc", 0, 0, SCRAM_SV_OK, NULL, "user" },
		{ "n,,n=a=2Cb=3Dc,r=abc", 0, 0, SCRAM_SV_OK, NULL, "a,b=c" },
		/* U+00A0 maps to a space, U+00AD to nothing. */
		{ "n,,n=a\xc2\xa0" "b\xc2\xad,r=abc", 0, 0, SCRAM_SV_OK, NULL,
		    "a b" },
		{ "y,,n=user,r=abc", 0, 0, SCRAM_SV_OK, NULL, "user" },
		/* 'y' where -PLUS was offered: a downgrade. */
		{ "y,,n=user,r=abc", 0, 1, SCRAM_SV_REFUSED, "downgrade", NULL },
		{ "n,,n=user,r=abc", 0, 1, SCRAM_SV_OK, NULL, "user" },
		{ "p=tls-exporter,,n=user,r=abc", 1, 1, SCRAM_SV_OK, NULL,
		    "user" },
		{ "p=tls-exporter,,n=user,r=abc", 0, 1, SCRAM_SV_REFUSED,
		    "channel-binding-not-plus", NULL },
		{ "p=tls-exporter,,n=user,r=abc", 1, 0, SCRAM_SV_REFUSED,
		    "no-channel-binding", NULL },
		{ "n,,n=user,r=abc", 1, 1, SCRAM_SV_REFUSED,
		    "channel-binding-required", NULL },
		{ "y,,n=user,r=abc", 1, 1, SCRAM_SV_REFUSED,
		    "channel-binding-required", NULL },
		{ "p=tls-unique,,n=user,r=abc", 1, 1, SCRAM_SV_REFUSED,
		    "channel-binding-type", NULL },
		{ "n,a=admin,n=user,r=abc", 0, 0, SCRAM_SV_REFUSED, "authzid", NULL },
		{ "n,,m=x,n=user,r=abc", 0, 0, SCRAM_SV_REFUSED,
		    "mandatory-extension", NULL },
		{ "", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "x,,n=user,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,n=user,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "p,,n=user,r=abc", 1, 1, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "p=,,n=user,r=abc", 1, 1, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "p=tls exporter,,n=user,r=abc", 1, 1, SCRAM_SV_MALFORMED,
		    "malformed", NULL },
		{ "n,b=x,n=user,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=us=er,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=us=2Der,r=abc", 0, 0, SCRAM_SV_MALFORMED,
		    "malformed", NULL },
		{ "n,,n=user,r=", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=user,r=a b", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=user", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,r=abc,n=user", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=user,r=abc,", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		{ "n,,n=user,r=abc,xx", 0, 0, SCRAM_SV_MALFORMED,
		    "malformed", NULL },
		{ "n,,n=user,r=abc,1=x", 0, 0, SCRAM_SV_MALFORMED,
		    "malformed", NULL },
		{ "n,,n=\xff,r=abc", 0, 0, SCRAM_SV_MALFORMED, "malformed", NULL },
		/* A control character is prohibited by SASLprep. */
		{ "n,,n=us\ter,r=abc", 0, 0, SCRAM_SV_MALFORMED, "saslprep", NULL },
	};
	struct scram_server	s;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("t[%zu]\n", i);
		assert_int_equal(start(&s, t[i].plus, t[i].cb ? CB : NULL,
		    t[i].msg, &why), t[i].want);
		if (t[i].why == NULL)
			assert_null(why);
		else
			assert_string_equal(why, t[i].why);
		if (t[i].user != NULL)
			assert_string_equal(s.user, t[i].user);
	}
	/* A NUL inside: malformed, whatever follows. */
	assert_int_equal(scram_server_start(&s, 0, NULL, 0,
	    (const uint8_t *)"n,,n=us\0er,r=abc", 16, &why),
	    SCRAM_SV_MALFORMED);
}

/*
 * SCRAM-SHA-256-PLUS end to end, the client computed here: c= must be
 * base64("p=tls-exporter,," + the binding data), any other data fails.
 */
static void
plus_client_final(const char *cbind_b64, char *out, size_t outsize)
{
	struct scram_stored	st;
	char			am[1024], without[256], p64[64];
	uint8_t			sig[32], proof[32], ckey[32], salted[32];
	unsigned int		l = 32;
	size_t			i;

	/* ClientKey from "pencil" directly, as a client does. */
	assert_int_equal(scram_parse(RFC_KEYS, &st), 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC("pencil", 6, st.salt,
	    (int)st.saltlen, 4096, EVP_sha256(), 32, salted), 1);
	assert_non_null(HMAC(EVP_sha256(), salted, 32,
	    (const unsigned char *)"Client Key", 10, ckey, &l));
	snprintf(without, sizeof(without), "c=%s,r=abc%s", cbind_b64,
	    RFC_SNONCE);
	snprintf(am, sizeof(am), "n=user,r=abc,r=abc%s"
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,%s", RFC_SNONCE, without);
	assert_non_null(HMAC(EVP_sha256(), st.stored_key, 32,
	    (const unsigned char *)am, strlen(am), sig, &l));
	for (i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ sig[i];
	assert_int_equal(base64_encode(proof, 32, p64, sizeof(p64), NULL), 0);
	snprintf(out, outsize, "%s,p=%s", without, p64);
}

static enum scram_sv_result
plus_exchange(const uint8_t *client_cb, const char **why)
{
	struct scram_server	s;
	uint8_t			in[64];
	char			b64[128], msg[512], out[SCRAM_SV_MSG_MAX];
	enum scram_sv_result	r;

	memcpy(in, "p=tls-exporter,,", 16);
	memcpy(in + 16, client_cb, sizeof(CB));
	assert_int_equal(base64_encode(in, 16 + sizeof(CB), b64, sizeof(b64),
	    NULL), 0);
	assert_int_equal(start(&s, 1, CB, "p=tls-exporter,,n=user,r=abc",
	    why), SCRAM_SV_OK);
	first(&s);
	plus_client_final(b64, msg, sizeof(msg));
	r = final(&s, msg, out, sizeof(out), why);
	if (r == SCRAM_SV_OK)
		assert_memory_equal(out, "v=", 2);
	scram_server_wipe(&s);
	return r;
}

static void
test_plus(void **state)
{
	uint8_t		other[sizeof(CB)];
	const char	*why;

	assert_int_equal(plus_exchange(CB, &why), SCRAM_SV_OK);
	memcpy(other, CB, sizeof(CB));
	other[31] ^= 0x80;
	assert_int_equal(plus_exchange(other, &why), SCRAM_SV_REFUSED);
	assert_string_equal(why, "channel-binding");
}

static void
test_saslprep(void **state)
{
	char	out[64];
	size_t	n;

	/* RFC 4013 3 examples. */
	assert_int_equal(saslprep("I\xc2\xad" "X", 4, SASLPREP_QUERY, out,
	    sizeof(out), &n), 0);
	assert_string_equal(out, "IX");
	assert_int_equal(saslprep("user", 4, SASLPREP_STORED, out,
	    sizeof(out), &n), 0);
	assert_string_equal(out, "user");
	assert_int_equal(saslprep("USER", 4, SASLPREP_QUERY, out,
	    sizeof(out), &n), 0);
	assert_string_equal(out, "USER");
	assert_int_equal(saslprep("\xc2\xaa", 2, SASLPREP_QUERY, out,
	    sizeof(out), &n), 0);
	assert_string_equal(out, "a");
	assert_int_equal(saslprep("\xe2\x85\xa8", 3, SASLPREP_QUERY, out,
	    sizeof(out), &n), 0);
	assert_string_equal(out, "IX");
	assert_int_equal(saslprep("\x07", 1, SASLPREP_QUERY, out,
	    sizeof(out), &n), -1);
	/* Bidi: RandALCat with LCat. */
	assert_int_equal(saslprep("\xd8\xa7" "1", 3, SASLPREP_QUERY, out,
	    sizeof(out), &n), -1);
	/* The non-ASCII space of the e2e test. */
	assert_int_equal(saslprep("pass\xc2\xa0word", 10, SASLPREP_STORED,
	    out, sizeof(out), &n), 0);
	assert_string_equal(out, "pass word");
	assert_int_equal(n, 9);
	/* Unassigned (U+0221 in Unicode 3.2): a query only. */
	assert_int_equal(saslprep("\xc8\xa1", 2, SASLPREP_QUERY, out,
	    sizeof(out), &n), 0);
	assert_int_equal(saslprep("\xc8\xa1", 2, SASLPREP_STORED, out,
	    sizeof(out), &n), -1);
	/* Not UTF-8, a NUL, too long for out. */
	assert_int_equal(saslprep("\xc3", 1, SASLPREP_QUERY, out,
	    sizeof(out), &n), -1);
	assert_int_equal(saslprep("a\0b", 3, SASLPREP_QUERY, out,
	    sizeof(out), &n), -1);
	assert_int_equal(saslprep("abcd", 4, SASLPREP_QUERY, out, 4, &n), -1);
}

/* The stored keys are made of, and checked with, the prepared password. */
static void
test_keys_saslprep(void **state)
{
	struct scram_stored	st;
	char			keys[SCRAM_STORED_MAX];

	assert_int_equal(scram_make("pass\xc2\xa0word", 10, 4096, keys,
	    sizeof(keys)), 0);
	assert_int_equal(scram_parse(keys, &st), 0);
	assert_int_equal(scram_check(&st, "pass word", 9), 1);
	assert_int_equal(scram_check(&st, "pass\xe2\x80\x80word", 11), 1);
	assert_int_equal(scram_check(&st, "password", 8), 0);
	/* Prohibited: never made, never matching. */
	assert_int_equal(scram_make("pass\x07", 5, 4096, keys, sizeof(keys)),
	    -1);
	assert_int_equal(scram_check(&st, "pass word\x07", 10), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_exchange),
		cmocka_unit_test(test_final_refused),
		cmocka_unit_test(test_final_malformed),
		cmocka_unit_test(test_first_table),
		cmocka_unit_test(test_plus),
		cmocka_unit_test(test_saslprep),
		cmocka_unit_test(test_keys_saslprep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
