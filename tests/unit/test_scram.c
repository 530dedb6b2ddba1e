/*
 * Unit tests for SCRAM-SHA-256 stored keys: the RFC 7677 section 3 test
 * vector (the keys of "pencil" with its salt give its ServerSignature and
 * accept its ClientProof), Dovecot's format, and what is refused.
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
#include "common/scram.h"

/* RFC 7677 3: user "user", password "pencil". */
#define RFC_SALT	"W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_AUTHMSG	"n=user,r=rOprNGfwEbeRWgbNEkqO," \
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," \
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_PROOF	"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVERSIG	"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* The keys of "pencil" with RFC_SALT, 4096 iterations, as Dovecot
 * writes them. */
#define RFC_KEYS	SCRAM_PREFIX "4096," RFC_SALT "," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static void
test_rfc7677_vector(void **state)
{
	struct scram_stored	st;
	uint8_t			sig[32], want[32], proof[32], ckey[32];
	uint8_t			h[32];
	unsigned int		len = sizeof(sig);
	size_t			n, i;

	assert_int_equal(scram_parse(RFC_KEYS, &st), 0);
	assert_int_equal(st.iterations, 4096);
	assert_int_equal(st.saltlen, 16);
	assert_int_equal(scram_check(&st, "pencil", 6), 1);
	assert_int_equal(scram_check(&st, "pencil ", 7), 0);
	assert_int_equal(scram_check(&st, "Pencil", 6), 0);
	assert_int_equal(scram_check(&st, "", 0), 0);

	/* ServerSignature = HMAC(ServerKey, AuthMessage). */
	assert_non_null(HMAC(EVP_sha256(), st.server_key, 32,
	    (const unsigned char *)RFC_AUTHMSG, strlen(RFC_AUTHMSG), sig,
	    &len));
	assert_int_equal(base64_decode(RFC_SERVERSIG, strlen(RFC_SERVERSIG),
	    want, sizeof(want), &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(sig, want, 32);
	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and
	 * H(ClientKey) = StoredKey. */
	assert_int_equal(base64_decode(RFC_PROOF, strlen(RFC_PROOF), proof,
	    sizeof(proof), &n), 0);
	len = sizeof(sig);
	assert_non_null(HMAC(EVP_sha256(), st.stored_key, 32,
	    (const unsigned char *)RFC_AUTHMSG, strlen(RFC_AUTHMSG), sig,
	    &len));
	for (i = 0; i < 32; i++)
		ckey[i] = proof[i] ^ sig[i];
	assert_non_null(SHA256(ckey, sizeof(ckey), h));
	assert_memory_equal(h, st.stored_key, 32);
	/* A wrong proof does not. */
	ckey[0] ^= 1;
	assert_non_null(SHA256(ckey, sizeof(ckey), h));
	assert_memory_not_equal(h, st.stored_key, 32);
}

static void
test_make(void **state)
{
	struct scram_stored	a, b;
	char			out[SCRAM_STORED_MAX], out2[SCRAM_STORED_MAX];

	assert_int_equal(scram_make("hunter2", 7, 0, out, sizeof(out)), 0);
	assert_true(scram_is_stored(out));
	assert_int_equal(scram_parse(out, &a), 0);
	assert_int_equal(a.iterations, SCRAM_ITER_DEFAULT);
	assert_int_equal(scram_check(&a, "hunter2", 7), 1);
	assert_int_equal(scram_check(&a, "hunter3", 7), 0);
	/* A fresh salt every time. */
	assert_int_equal(scram_make("hunter2", 7, 5000, out2, sizeof(out2)),
	    0);
	assert_int_equal(scram_parse(out2, &b), 0);
	assert_int_equal(b.iterations, 5000);
	assert_memory_not_equal(a.salt, b.salt, 16);
	assert_int_equal(scram_make("x", 1, 0, out, 20), -1);
	assert_int_equal(scram_make("x", 1, 4095, out, sizeof(out)), -1);
}

static void
test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"{SCRAM-SHA-256}",
		"{SCRAM-SHA-1}4096," RFC_SALT ",AAAA,AAAA",
		SCRAM_PREFIX "4095," RFC_SALT ","
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		SCRAM_PREFIX "04096," RFC_SALT ","
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		SCRAM_PREFIX "4096,,"
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* A key one octet short, a key not base64, one field more. */
		SCRAM_PREFIX "4096," RFC_SALT ","
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g==,"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		SCRAM_PREFIX "4096," RFC_SALT ","
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
		    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU",
		RFC_KEYS ",x",
		SCRAM_PREFIX "4096," RFC_SALT ","
		    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
	};
	struct scram_stored	st;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(scram_parse(bad[i], &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_vector),
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_parse_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
