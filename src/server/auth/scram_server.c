/*
 * SCRAM-SHA-256(-PLUS), the server's side (scram_server.h).
 *
 * Grammar (RFC 5802 section 7), what this file accepts:
 *
 *	client-first = gs2-header client-first-bare
 *	gs2-header   = ("n" / "y" / "p=" cb-name) "," ["a=" saslname] ","
 *	client-first-bare = ["m=" ...] "n=" saslname "," "r=" c-nonce
 *			    ["," extensions]
 *	client-final = "c=" base64 "," "r=" nonce ["," extensions] ","
 *		       "p=" base64
 *
 * A saslname is UTF-8 without NUL, ',' or '=' but in "=2C" and "=3D"; a
 * nonce printable ASCII but ','; an extension one letter, '=' and a value
 * of at least one octet.  Anything else is malformed.  "m=" (a mandatory
 * extension, reserved) is refused (RFC 5802 5.1: the server MUST fail),
 * and so is an authorisation identity other than the user name: there is
 * no proxy authorisation here, as with PLAIN.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "common/sasl.h"
#include "common/saslprep.h"
#include "server/auth/scram_server.h"

#define SV_STARTED	1
#define SV_FIRST	2
#define SV_DONE		3

#define AUTHMSG_MAX	(3 * SCRAM_SV_MSG_MAX + 2)

static int	saslname(const char *, size_t, char *, size_t, size_t *);
static int	nonce_ok(const char *, size_t);
static int	extensions_ok(const char *, size_t);
static size_t	until_comma(const char *, size_t);
static int	cbname_ok(const char *, size_t);

/* RFC 5802 "printable" but ','. */
static int
nonce_ok(const char *p, size_t len)
{
	size_t	i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e ||
		    p[i] == ',')
			return 0;
	return 1;
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-"); the message is no C string. */
static int
cbname_ok(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
			return 0;
	return 1;
}

static size_t
until_comma(const char *p, size_t len)
{
	const char	*c = memchr(p, ',', len);

	return c != NULL ? (size_t)(c - p) : len;
}

/* Decode a saslname (=2C and =3D) into out; 0, or -1 when malformed. */
static int
saslname(const char *p, size_t len, char *out, size_t outsize,
    size_t *outlen)
{
	size_t	i, n = 0;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (n + 1 >= outsize)
			return -1;
		if (p[i] == '\0' || p[i] == ',')
			return -1;
		if (p[i] == '=') {
			if (len - i < 3)
				return -1;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				out[n++] = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				out[n++] = '=';
			else
				return -1;
			i += 2;
		} else
			out[n++] = p[i];
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

/* *("," attr-val), what follows; attr-val = ALPHA "=" 1*value-char. */
static int
extensions_ok(const char *p, size_t len)
{
	size_t	n;

	while (len > 0) {
		if (p[0] != ',')
			return 0;
		p++;
		len--;
		n = until_comma(p, len);
		if (n < 3 || !((p[0] >= 'a' && p[0] <= 'z') ||
		    (p[0] >= 'A' && p[0] <= 'Z')) || p[1] != '=' ||
		    memchr(p, '\0', n) != NULL)
			return 0;
		p += n;
		len -= n;
	}
	return 1;
}

enum scram_sv_result
scram_server_start(struct scram_server *s, int plus, const uint8_t *cb,
    size_t cblen, const uint8_t *msg, size_t len, const char **reason)
{
	const char	*m = (const char *)msg, *p, *end, *az = NULL;
	char		 raw[SCRAM_SV_USER_MAX + 1];
	char		 authz[SCRAM_SV_USER_MAX + 1];
	size_t		 n, azlen = 0, rawlen, authzlen;
	char		 flag;

	explicit_bzero(s, sizeof(*s));
	*reason = "malformed";
	if (len == 0 || len > SCRAM_SV_MSG_MAX || cblen > SCRAM_SV_CB_MAX ||
	    !sasl_utf8_valid(m, len) || memchr(m, '\0', len) != NULL)
		return SCRAM_SV_MALFORMED;
	end = m + len;

	/* gs2-header */
	flag = m[0];
	p = m + 1;
	if (flag == 'p') {
		if (p >= end || *p != '=')
			return SCRAM_SV_MALFORMED;
		p++;
		n = until_comma(p, (size_t)(end - p));
		if (n == 0 || n > 32 || !cbname_ok(p, n))
			return SCRAM_SV_MALFORMED;
		if (n != 12 || memcmp(p, "tls-exporter", 12) != 0) {
			*reason = "channel-binding-type";
			return SCRAM_SV_REFUSED;
		}
		p += n;
	} else if (flag != 'n' && flag != 'y')
		return SCRAM_SV_MALFORMED;
	if (p >= end || *p++ != ',')
		return SCRAM_SV_MALFORMED;
	if (p < end && *p == 'a') {
		if (end - p < 2 || p[1] != '=')
			return SCRAM_SV_MALFORMED;
		az = p + 2;
		azlen = until_comma(az, (size_t)(end - az));
		p = az + azlen;
	}
	if (p >= end || *p++ != ',')
		return SCRAM_SV_MALFORMED;
	s->gs2len = (size_t)(p - m);
	if (s->gs2len > sizeof(s->gs2))
		return SCRAM_SV_MALFORMED;
	memcpy(s->gs2, m, s->gs2len);

	/* client-first-message-bare */
	s->cfblen = (size_t)(end - p);
	memcpy(s->cfb, p, s->cfblen);
	if (end - p >= 2 && p[0] == 'm' && p[1] == '=') {
		*reason = "mandatory-extension";
		return SCRAM_SV_REFUSED;
	}
	if (end - p < 2 || p[0] != 'n' || p[1] != '=')
		return SCRAM_SV_MALFORMED;
	p += 2;
	n = until_comma(p, (size_t)(end - p));
	if (saslname(p, n, raw, sizeof(raw), &rawlen) == -1)
		return SCRAM_SV_MALFORMED;
	p += n;
	if (end - p < 3 || p[0] != ',' || p[1] != 'r' || p[2] != '=')
		return SCRAM_SV_MALFORMED;
	p += 3;
	n = until_comma(p, (size_t)(end - p));
	if (!nonce_ok(p, n) || n > SCRAM_SV_NONCE_MAX)
		return SCRAM_SV_MALFORMED;
	memcpy(s->nonce, p, n);
	s->cnoncelen = n;
	p += n;
	if (!extensions_ok(p, (size_t)(end - p)))
		return SCRAM_SV_MALFORMED;

	/* RFC 5802 5.1: the server prepares the name it received. */
	if (saslprep(raw, rawlen, SASLPREP_QUERY, s->user, sizeof(s->user),
	    &s->userlen) == -1 || s->userlen == 0) {
		explicit_bzero(raw, sizeof(raw));
		*reason = "saslprep";
		return SCRAM_SV_MALFORMED;
	}
	explicit_bzero(raw, sizeof(raw));
	if (az != NULL) {
		if (saslname(az, azlen, authz, sizeof(authz), &rawlen) == -1)
			return SCRAM_SV_MALFORMED;
		if (saslprep(authz, rawlen, SASLPREP_QUERY, raw, sizeof(raw),
		    &authzlen) == -1 || authzlen != s->userlen ||
		    memcmp(raw, s->user, authzlen) != 0) {
			*reason = "authzid";
			return SCRAM_SV_REFUSED;
		}
	}

	/* Channel binding (RFC 5802 section 6). */
	if (plus && flag != 'p') {
		*reason = "channel-binding-required";
		return SCRAM_SV_REFUSED;
	}
	if (!plus && flag == 'p') {
		*reason = "channel-binding-not-plus";
		return SCRAM_SV_REFUSED;
	}
	if (flag == 'y' && cb != NULL) {
		/* The client can bind and thinks we cannot: we offered it. */
		*reason = "downgrade";
		return SCRAM_SV_REFUSED;
	}
	if (flag == 'p') {
		if (cb == NULL || cblen == 0) {
			*reason = "no-channel-binding";
			return SCRAM_SV_REFUSED;
		}
		memcpy(s->cb, cb, cblen);
		s->cblen = cblen;
	}
	s->plus = plus;
	s->state = SV_STARTED;
	*reason = NULL;
	return SCRAM_SV_OK;
}

enum scram_sv_result
scram_server_first(struct scram_server *s, const struct scram_stored *st,
    const char *snonce, size_t snoncelen, char *out, size_t outsize,
    size_t *outlen)
{
	char	salt[BASE64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	int	n;

	*outlen = 0;
	if (s->state != SV_STARTED || !nonce_ok(snonce, snoncelen) ||
	    snoncelen > SCRAM_SV_SNONCE_MAX || st->saltlen == 0 ||
	    base64_encode(st->salt, st->saltlen, salt, sizeof(salt),
	    NULL) == -1)
		return SCRAM_SV_MALFORMED;
	s->state = SV_DONE;
	memcpy(s->nonce + s->cnoncelen, snonce, snoncelen);
	s->noncelen = s->cnoncelen + snoncelen;
	n = snprintf(s->sf, sizeof(s->sf), "r=%.*s,s=%s,i=%u",
	    (int)s->noncelen, s->nonce, salt, st->iterations);
	if (n < 0 || (size_t)n >= sizeof(s->sf) || (size_t)n >= outsize)
		return SCRAM_SV_MALFORMED;
	s->sflen = (size_t)n;
	memcpy(out, s->sf, s->sflen + 1);
	*outlen = s->sflen;
	memcpy(s->stored_key, st->stored_key, SCRAM_KEY_LEN);
	memcpy(s->server_key, st->server_key, SCRAM_KEY_LEN);
	s->state = SV_FIRST;
	return SCRAM_SV_OK;
}

enum scram_sv_result
scram_server_final(struct scram_server *s, const uint8_t *msg, size_t len,
    char *out, size_t outsize, size_t *outlen, const char **reason)
{
	const char	*m = (const char *)msg, *end = m + len, *p, *proof;
	uint8_t		 cbin[SCRAM_SV_GS2_MAX + SCRAM_SV_CB_MAX];
	uint8_t		 want[SCRAM_SV_GS2_MAX + SCRAM_SV_CB_MAX];
	uint8_t		 got[SCRAM_KEY_LEN + 3], sig[SCRAM_KEY_LEN];
	uint8_t		 key[SCRAM_KEY_LEN], hkey[SCRAM_KEY_LEN];
	char		 authmsg[AUTHMSG_MAX];
	char		 v[BASE64_ENCODED_SIZE(SCRAM_KEY_LEN)];
	size_t		 n, cbinlen, wantlen, gotlen, wlen, amlen, i;
	unsigned int	 hl;
	enum scram_sv_result rv = SCRAM_SV_MALFORMED;
	int		 nonce_bad, cb_bad, match;

	*outlen = 0;
	*reason = "malformed";
	if (s->state != SV_FIRST)
		return SCRAM_SV_MALFORMED;
	s->state = SV_DONE;
	if (len == 0 || len > SCRAM_SV_MSG_MAX || memchr(m, '\0', len) != NULL ||
	    !sasl_utf8_valid(m, len))
		return SCRAM_SV_MALFORMED;

	/* The proof is the last attribute: ",p=" base64 to the end. */
	for (proof = end; proof > m && proof[-1] != ','; proof--)
		;
	if (proof == m || end - proof < 3 || proof[0] != 'p' ||
	    proof[1] != '=')
		return SCRAM_SV_MALFORMED;
	wlen = (size_t)(proof - 1 - m);	/* client-final-without-proof */
	if (base64_decode(proof + 2, (size_t)(end - proof - 2), got,
	    sizeof(got), &gotlen) == -1 || gotlen != SCRAM_KEY_LEN)
		return SCRAM_SV_MALFORMED;

	p = m;
	if (wlen < 2 || p[0] != 'c' || p[1] != '=')
		return SCRAM_SV_MALFORMED;
	n = until_comma(p + 2, wlen - 2);
	if (base64_decode(p + 2, n, cbin, sizeof(cbin), &cbinlen) == -1)
		return SCRAM_SV_MALFORMED;
	p += 2 + n;
	if (m + wlen - p < 3 || p[0] != ',' || p[1] != 'r' || p[2] != '=')
		return SCRAM_SV_MALFORMED;
	p += 3;
	n = until_comma(p, (size_t)(m + wlen - p));
	if (!nonce_ok(p, n))
		return SCRAM_SV_MALFORMED;
	nonce_bad = n != s->noncelen || memcmp(p, s->nonce, n) != 0;
	p += n;
	if (!extensions_ok(p, (size_t)(m + wlen - p)))
		return SCRAM_SV_MALFORMED;

	/* c= is the gs2 header, and with 'p' the binding data after it. */
	memcpy(want, s->gs2, s->gs2len);
	memcpy(want + s->gs2len, s->cb, s->cblen);
	wantlen = s->gs2len + s->cblen;
	cb_bad = cbinlen != wantlen || CRYPTO_memcmp(cbin, want,
	    wantlen) != 0;

	/* AuthMessage = client-first-bare "," server-first "," without */
	amlen = s->cfblen + 1 + s->sflen + 1 + wlen;
	if (amlen > sizeof(authmsg))
		return SCRAM_SV_MALFORMED;
	memcpy(authmsg, s->cfb, s->cfblen);
	authmsg[s->cfblen] = ',';
	memcpy(authmsg + s->cfblen + 1, s->sf, s->sflen);
	authmsg[s->cfblen + 1 + s->sflen] = ',';
	memcpy(authmsg + s->cfblen + 2 + s->sflen, m, wlen);

	/*
	 * ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the
	 * proof is right when H(ClientKey) is StoredKey.  Computed whatever
	 * went wrong before, so that every refusal costs the same.
	 */
	hl = sizeof(sig);
	if (HMAC(EVP_sha256(), s->stored_key, SCRAM_KEY_LEN,
	    (const unsigned char *)authmsg, amlen, sig, &hl) == NULL ||
	    hl != sizeof(sig)) {
		*reason = "crypto";
		rv = SCRAM_SV_ERROR;
		goto out;
	}
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		key[i] = got[i] ^ sig[i];
	if (SHA256(key, sizeof(key), hkey) == NULL) {
		*reason = "crypto";
		rv = SCRAM_SV_ERROR;
		goto out;
	}
	match = CRYPTO_memcmp(hkey, s->stored_key, SCRAM_KEY_LEN) == 0;
	rv = SCRAM_SV_REFUSED;
	if (cb_bad)
		*reason = "channel-binding";
	else if (nonce_bad)
		*reason = "nonce";
	else if (!match)
		*reason = "bad-proof";
	else {
		hl = sizeof(sig);
		if (HMAC(EVP_sha256(), s->server_key, SCRAM_KEY_LEN,
		    (const unsigned char *)authmsg, amlen, sig, &hl) == NULL ||
		    hl != sizeof(sig) || base64_encode(sig, sizeof(sig), v,
		    sizeof(v), NULL) == -1 || strlen(v) + 3 > outsize) {
			*reason = "crypto";
			rv = SCRAM_SV_ERROR;
			goto out;
		}
		n = strlen(v);
		memcpy(out, "v=", 2);
		memcpy(out + 2, v, n + 1);
		*outlen = n + 2;
		*reason = NULL;
		rv = SCRAM_SV_OK;
	}
out:
	explicit_bzero(got, sizeof(got));
	explicit_bzero(sig, sizeof(sig));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(hkey, sizeof(hkey));
	explicit_bzero(authmsg, sizeof(authmsg));
	return rv;
}

void
scram_server_wipe(struct scram_server *s)
{
	explicit_bzero(s, sizeof(*s));
}
