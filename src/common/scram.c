/*
 * SCRAM-SHA-256 stored keys (scram.h).
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "common/saslprep.h"
#include "common/scram.h"

static int	keys_of(const char *, size_t, const uint8_t *, size_t, uint32_t,
		    uint8_t *, uint8_t *);
static int	field(const char **, char, char *, size_t);

int
scram_is_stored(const char *s)
{
	return strncmp(s, SCRAM_PREFIX, sizeof(SCRAM_PREFIX) - 1) == 0;
}

/*
 * StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
 * HMAC(SaltedPassword, "Server Key"); server may be NULL.
 */
static int
keys_of(const char *pass, size_t passlen, const uint8_t *salt,
    size_t saltlen, uint32_t iter, uint8_t *stored, uint8_t *server)
{
	uint8_t		salted[SCRAM_KEY_LEN], ckey[SCRAM_KEY_LEN];
	unsigned int	len;
	int		rv = -1;

	if (passlen > INT32_MAX || saltlen > INT32_MAX || iter > INT32_MAX)
		return -1;
	if (PKCS5_PBKDF2_HMAC(passlen > 0 ? pass : "", (int)passlen, salt,
	    (int)saltlen, (int)iter, EVP_sha256(), sizeof(salted),
	    salted) != 1)
		goto out;
	len = sizeof(ckey);
	if (HMAC(EVP_sha256(), salted, sizeof(salted),
	    (const unsigned char *)"Client Key", 10, ckey, &len) == NULL ||
	    len != sizeof(ckey))
		goto out;
	if (SHA256(ckey, sizeof(ckey), stored) == NULL)
		goto out;
	len = SCRAM_KEY_LEN;
	if (server != NULL && (HMAC(EVP_sha256(), salted, sizeof(salted),
	    (const unsigned char *)"Server Key", 10, server, &len) == NULL ||
	    len != SCRAM_KEY_LEN))
		goto out;
	rv = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return rv;
}

/* The text up to sep (or the end when sep is 0) into buf. */
static int
field(const char **sp, char sep, char *buf, size_t len)
{
	const char	*s = *sp, *end;
	size_t		 n;

	end = sep != '\0' ? strchr(s, sep) : s + strlen(s);
	if (end == NULL || (n = (size_t)(end - s)) == 0 || n >= len)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*sp = sep != '\0' ? end + 1 : end;
	return 0;
}

int
scram_parse(const char *s, struct scram_stored *st)
{
	char		buf[SCRAM_STORED_MAX];
	size_t		n, i;
	uint64_t	v = 0;

	memset(st, 0, sizeof(*st));
	if (!scram_is_stored(s) || strlen(s) >= SCRAM_STORED_MAX)
		return -1;
	s += sizeof(SCRAM_PREFIX) - 1;
	if (field(&s, ',', buf, sizeof(buf)) == -1 || strlen(buf) > 8 ||
	    buf[0] == '0')
		return -1;
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	if (v < SCRAM_ITER_MIN || v > SCRAM_ITER_MAX)
		return -1;
	st->iterations = (uint32_t)v;
	if (field(&s, ',', buf, sizeof(buf)) == -1 ||
	    base64_decode(buf, strlen(buf), st->salt, sizeof(st->salt),
	    &st->saltlen) == -1 || st->saltlen == 0)
		goto bad;
	if (field(&s, ',', buf, sizeof(buf)) == -1 ||
	    base64_decode(buf, strlen(buf), st->stored_key,
	    sizeof(st->stored_key), &n) == -1 || n != SCRAM_KEY_LEN)
		goto bad;
	if (field(&s, '\0', buf, sizeof(buf)) == -1 ||
	    base64_decode(buf, strlen(buf), st->server_key,
	    sizeof(st->server_key), &n) == -1 || n != SCRAM_KEY_LEN ||
	    *s != '\0')
		goto bad;
	return 0;
bad:
	memset(st, 0, sizeof(*st));
	return -1;
}

int
scram_make(const char *pass, size_t passlen, uint32_t iter, char *out,
    size_t outlen)
{
	uint8_t	salt[16], stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	char	bs[BASE64_ENCODED_SIZE(sizeof(salt))];
	char	bk[BASE64_ENCODED_SIZE(SCRAM_KEY_LEN)];
	char	bv[BASE64_ENCODED_SIZE(SCRAM_KEY_LEN)];
	char	prep[SCRAM_PASS_MAX + 1];
	size_t	preplen;
	int	n, rv = -1;

	if (iter == 0)
		iter = SCRAM_ITER_DEFAULT;
	if (iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX)
		return -1;
	/* A stored string: unassigned code points are refused too. */
	if (saslprep(pass, passlen, SASLPREP_STORED, prep, sizeof(prep),
	    &preplen) == -1)
		return -1;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		goto out;
	if (keys_of(prep, preplen, salt, sizeof(salt), iter, stored,
	    server) == -1 ||
	    base64_encode(salt, sizeof(salt), bs, sizeof(bs), NULL) == -1 ||
	    base64_encode(stored, sizeof(stored), bk, sizeof(bk), NULL) == -1 ||
	    base64_encode(server, sizeof(server), bv, sizeof(bv), NULL) == -1)
		goto out;
	n = snprintf(out, outlen, "%s%u,%s,%s,%s", SCRAM_PREFIX, iter, bs, bk,
	    bv);
	if (n > 0 && (size_t)n < outlen)
		rv = 0;
out:
	OPENSSL_cleanse(prep, sizeof(prep));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	return rv;
}

int
scram_check(const struct scram_stored *st, const char *pass, size_t passlen)
{
	uint8_t	stored[SCRAM_KEY_LEN];
	char	prep[SCRAM_PASS_MAX + 1];
	size_t	preplen;
	int	rv, usable;

	/*
	 * A password SASLprep refuses matches no keys; it costs the PBKDF2
	 * all the same (of the password as given), so that it does not show.
	 */
	usable = saslprep(pass, passlen, SASLPREP_QUERY, prep, sizeof(prep),
	    &preplen) == 0;
	rv = keys_of(usable ? prep : pass, usable ? preplen : passlen,
	    st->salt, st->saltlen, st->iterations, stored, NULL);
	OPENSSL_cleanse(prep, sizeof(prep));
	if (rv == -1)
		return -1;
	rv = usable && CRYPTO_memcmp(stored, st->stored_key,
	    sizeof(stored)) == 0;
	OPENSSL_cleanse(stored, sizeof(stored));
	return rv;
}
