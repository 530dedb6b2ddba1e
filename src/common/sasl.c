/*
 * SASL mechanisms for SMTP AUTH: PLAIN and LOGIN for both sides, and the
 * client's CRAM-MD5, SCRAM-SHA-1/-256 and XOAUTH2.
 *
 * Every scan is bounded by an explicit length (memchr within len, never
 * strlen on what came from the network), every copy is into a fixed
 * buffer after its size is checked, and intermediate secrets (decoded
 * responses, keys, proofs) are wiped before returning, on every path.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/base64.h"
#include "common/sasl.h"
#include "common/saslprep.h"

/* SCRAM steps, in order. */
#define SCRAM_NONE	0
#define SCRAM_STARTED	1	/* client-first sent */
#define SCRAM_PROVED	2	/* client-final sent */
#define SCRAM_DONE	3	/* server-final checked, whatever the result */

#define SCRAM_RAND_OCTETS	18	/* 24 base64 characters, no padding */

/* The largest decoded size of the base64 text we accept for n octets. */
#define DECODE_ROOM(n)	BASE64_DECODED_MAX(BASE64_ENCODED_LEN(n))

/* A bounded string under construction; overflow is sticky. */
struct strbuf {
	char	*buf;
	size_t	 size;
	size_t	 len;
	int	 overflow;
};

/* One piece of a message that is base64-encoded as a whole. */
struct segment {
	const void	*p;
	size_t		 len;
};

static enum sasl_error	check_field(const char *, size_t, size_t);
static int		ct_equal(const void *, const void *, size_t);
static void		sb_init(struct strbuf *, char *, size_t);
static void		sb_add(struct strbuf *, const void *, size_t);
static void		sb_str(struct strbuf *, const char *);
static enum sasl_error	encode_segments(const struct segment *, size_t,
			    char *, size_t);
static int		has_ctrl(const char *, size_t);
static int		hmac(const char *, const void *, size_t, const void *,
			    size_t, unsigned char *, size_t, size_t *);
static const EVP_MD	*scram_md(enum sasl_scram_hash);
static const char	*scram_digest_name(enum sasl_scram_hash);
static int		nonce_char_ok(unsigned char);
static enum sasl_error	scram_parse_first(const struct sasl_scram *,
			    const char *, size_t, size_t *, unsigned char *,
			    size_t, size_t *, unsigned int *);
static enum sasl_error	scram_keys(struct sasl_scram *, const char *,
			    size_t, const unsigned char *, size_t, unsigned int,
			    const char *, size_t, unsigned char *, size_t *);

const char *
sasl_strerror(enum sasl_error e)
{
	switch (e) {
	case SASL_OK:
		return "ok";
	case SASL_EFORMAT:
		return "not authzid NUL authcid NUL passwd (too few NULs)";
	case SASL_ENUL:
		return "NUL inside a field";
	case SASL_ECRLF:
		return "CR or LF inside a field";
	case SASL_EEMPTY:
		return "empty user name or password";
	case SASL_ETOOLONG:
		return "field longer than 255 octets, or message too long";
	case SASL_EUTF8:
		return "field is not valid UTF-8";
	case SASL_EBASE64:
		return "not valid base64";
	case SASL_EAUTHZID:
		return "authorization identity differs from the user name";
	case SASL_ENOSPACE:
		return "output buffer too small";
	case SASL_ECHAR:
		return "character not allowed by the mechanism";
	case SASL_ESASLPREP:
		return "SASLprep (RFC 4013) refuses the user name or password";
	case SASL_ESERVER:
		return "malformed or unacceptable SCRAM server message";
	case SASL_EREJECTED:
		return "server rejected the SCRAM exchange";
	case SASL_ESIGNATURE:
		return "server signature does not verify";
	case SASL_ESTATE:
		return "SCRAM steps out of order";
	case SASL_ECRYPTO:
		return "cryptographic library failure";
	}
	return "unknown error";
}

int
sasl_utf8_valid(const void *buf, size_t len)
{
	const unsigned char	*s = buf;
	unsigned char		 lo, hi;
	size_t			 i = 0, n, k;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		/*
		 * RFC 3629 section 4: the second octet's range is narrowed
		 * after E0 (overlong), ED (surrogates), F0 (overlong) and F4
		 * (above U+10FFFF); C0, C1 and F5..FF never start a sequence.
		 */
		lo = 0x80;
		hi = 0xbf;
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2;
		else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 3;
			if (s[i] == 0xe0)
				lo = 0xa0;
			else if (s[i] == 0xed)
				hi = 0x9f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 4;
			if (s[i] == 0xf0)
				lo = 0x90;
			else if (s[i] == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (len - i < n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (k = 2; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n;
	}
	return 1;
}

/* One PLAIN or LOGIN field against RFC 4616's rules, min octets or more. */
static enum sasl_error
check_field(const char *buf, size_t len, size_t min)
{
	if (len > SASL_FIELD_MAX)
		return SASL_ETOOLONG;
	if (len < min)
		return SASL_EEMPTY;
	if (len == 0)
		return SASL_OK;
	if (memchr(buf, '\0', len) != NULL)
		return SASL_ENUL;
	if (memchr(buf, '\r', len) != NULL || memchr(buf, '\n', len) != NULL)
		return SASL_ECRLF;
	if (!sasl_utf8_valid(buf, len))
		return SASL_EUTF8;
	return SASL_OK;
}

static int
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

enum sasl_error
sasl_plain_decode(const char *buf, size_t len, struct sasl_plain *out)
{
	const char	*nul1, *nul2, *authcid, *passwd;
	size_t		 zlen, clen, plen;
	enum sasl_error	 e;

	explicit_bzero(out, sizeof(*out));
	if (len == 0 || (nul1 = memchr(buf, '\0', len)) == NULL)
		return SASL_EFORMAT;
	zlen = (size_t)(nul1 - buf);
	authcid = nul1 + 1;
	if ((nul2 = memchr(authcid, '\0', len - zlen - 1)) == NULL)
		return SASL_EFORMAT;
	clen = (size_t)(nul2 - authcid);
	passwd = nul2 + 1;
	plen = len - zlen - clen - 2;

	/* A third NUL is inside passwd and found there. */
	if ((e = check_field(buf, zlen, 0)) != SASL_OK ||
	    (e = check_field(authcid, clen, 1)) != SASL_OK ||
	    (e = check_field(passwd, plen, 1)) != SASL_OK)
		return e;
	if (zlen != 0 && (zlen != clen || !ct_equal(buf, authcid, clen)))
		return SASL_EAUTHZID;

	/* The fields fit: each was checked against SASL_FIELD_MAX. */
	memcpy(out->authzid, buf, zlen);
	out->authzidlen = zlen;
	memcpy(out->authcid, authcid, clen);
	out->authcidlen = clen;
	memcpy(out->passwd, passwd, plen);
	out->passwdlen = plen;
	return SASL_OK;
}

enum sasl_error
sasl_plain_decode_b64(const char *b64, size_t b64len, struct sasl_plain *out)
{
	char		tmp[DECODE_ROOM(SASL_PLAIN_MAX)];
	size_t		n;
	enum sasl_error	e;

	explicit_bzero(out, sizeof(*out));
	if (b64len > BASE64_ENCODED_LEN(SASL_PLAIN_MAX))
		return SASL_ETOOLONG;
	if (base64_decode(b64, b64len, tmp, sizeof(tmp), &n) == -1)
		return SASL_EBASE64;
	e = sasl_plain_decode(tmp, n, out);
	explicit_bzero(tmp, sizeof(tmp));
	return e;
}

void
sasl_plain_wipe(struct sasl_plain *p)
{
	explicit_bzero(p, sizeof(*p));
}

enum sasl_error
sasl_login_check_field(const char *buf, size_t len)
{
	return check_field(buf, len, 1);
}

enum sasl_error
sasl_login_decode_b64(const char *b64, size_t b64len, char *out,
    size_t outsize, size_t *outlen)
{
	char		tmp[DECODE_ROOM(SASL_FIELD_MAX)];
	size_t		n;
	enum sasl_error	e;

	*outlen = 0;
	if (outsize > 0)
		explicit_bzero(out, outsize);
	if (b64len > BASE64_ENCODED_LEN(SASL_FIELD_MAX))
		return SASL_ETOOLONG;
	if (base64_decode(b64, b64len, tmp, sizeof(tmp), &n) == -1)
		return SASL_EBASE64;
	if ((e = sasl_login_check_field(tmp, n)) == SASL_OK) {
		if (n >= outsize)
			e = SASL_ENOSPACE;
		else {
			memcpy(out, tmp, n);
			out[n] = '\0';
			*outlen = n;
		}
	}
	explicit_bzero(tmp, sizeof(tmp));
	return e;
}

static void
sb_init(struct strbuf *sb, char *buf, size_t size)
{
	sb->buf = buf;
	sb->size = size;
	sb->len = 0;
	sb->overflow = 0;
}

static void
sb_add(struct strbuf *sb, const void *p, size_t len)
{
	if (sb->overflow || len > sb->size - sb->len) {
		sb->overflow = 1;
		return;
	}
	memcpy(sb->buf + sb->len, p, len);
	sb->len += len;
}

static void
sb_str(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/*
 * Base64 of the concatenation of the segments, without building the
 * concatenation: groups of three octets encode independently, so the
 * encodings of consecutive groups can simply be laid end to end.
 */
static enum sasl_error
encode_segments(const struct segment *seg, size_t nseg, char *out,
    size_t outsize)
{
	const unsigned char	*p;
	unsigned char		 grp[3];
	size_t			 total = 0, i, j, g = 0, o = 0;

	if (outsize > 0)
		out[0] = '\0';
	for (i = 0; i < nseg; i++)
		if (__builtin_add_overflow(total, seg[i].len, &total))
			return SASL_ETOOLONG;
	if (total / 3 >= SIZE_MAX / 4 - 1)
		return SASL_ETOOLONG;
	if (outsize < BASE64_ENCODED_SIZE(total))
		return SASL_ENOSPACE;

	for (i = 0; i < nseg; i++) {
		p = seg[i].p;
		for (j = 0; j < seg[i].len; j++) {
			grp[g++] = p[j];
			if (g == 3) {
				(void)base64_encode(grp, 3, out + o,
				    outsize - o, NULL);
				o += 4;
				g = 0;
			}
		}
	}
	if (g > 0) {
		(void)base64_encode(grp, g, out + o, outsize - o, NULL);
		o += 4;
	}
	out[o] = '\0';
	explicit_bzero(grp, sizeof(grp));
	return SASL_OK;
}

enum sasl_error
sasl_plain_encode(const char *authzid, size_t authzidlen, const char *authcid,
    size_t authcidlen, const char *passwd, size_t passwdlen, char *out,
    size_t outsize)
{
	struct segment	seg[5];

	seg[0].p = authzid;
	seg[0].len = authzidlen;
	seg[1].p = "";		/* its NUL */
	seg[1].len = 1;
	seg[2].p = authcid;
	seg[2].len = authcidlen;
	seg[3].p = "";
	seg[3].len = 1;
	seg[4].p = passwd;
	seg[4].len = passwdlen;
	return encode_segments(seg, 5, out, outsize);
}

enum sasl_error
sasl_login_encode(const char *user, size_t userlen, const char *pass,
    size_t passlen, char *userout, size_t useroutsize, char *passout,
    size_t passoutsize)
{
	if (passoutsize > 0)
		passout[0] = '\0';
	if (base64_encode(user, userlen, userout, useroutsize, NULL) == -1 ||
	    base64_encode(pass, passlen, passout, passoutsize, NULL) == -1)
		return SASL_ENOSPACE;
	return SASL_OK;
}

/*
 * HMAC with the named digest through OpenSSL 3's EVP_MAC.  An empty key is
 * allowed (an empty password): it is passed as a valid pointer, since a
 * NULL key would mean "keep the previous key".
 */
static int
hmac(const char *digest, const void *key, size_t keylen, const void *data,
    size_t datalen, unsigned char *out, size_t outsize, size_t *outlen)
{
	static const unsigned char	 nokey[1];
	EVP_MAC				*mac = NULL;
	EVP_MAC_CTX			*ctx = NULL;
	OSSL_PARAM			 params[2];
	int				 rv = -1;

	if (keylen == 0)
		key = nokey;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL)
		goto done;
	if (EVP_MAC_init(ctx, key, keylen, params) != 1 ||
	    EVP_MAC_update(ctx, data, datalen) != 1 ||
	    EVP_MAC_final(ctx, out, outlen, outsize) != 1)
		goto done;
	rv = 0;
 done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rv;
}

enum sasl_error
sasl_cram_md5_response(const char *challenge_b64, size_t challenge_b64len,
    const char *user, size_t userlen, const char *pass, size_t passlen,
    char *out, size_t outsize)
{
	static const char	 xdigits[] = "0123456789abcdef";
	unsigned char		 chal[DECODE_ROOM(SASL_CHALLENGE_MAX)];
	unsigned char		 mac[EVP_MAX_MD_SIZE];
	char			 hex[2 * 16];
	struct segment		 seg[3];
	size_t			 chlen, maclen, i;
	enum sasl_error		 e;

	if (outsize > 0)
		out[0] = '\0';
	if (challenge_b64len > BASE64_ENCODED_LEN(SASL_CHALLENGE_MAX))
		return SASL_ETOOLONG;
	if (base64_decode(challenge_b64, challenge_b64len, chal, sizeof(chal),
	    &chlen) == -1)
		return SASL_EBASE64;
	if (hmac("MD5", pass, passlen, chal, chlen, mac, sizeof(mac),
	    &maclen) == -1 || maclen != 16) {
		explicit_bzero(mac, sizeof(mac));
		return SASL_ECRYPTO;
	}
	for (i = 0; i < 16; i++) {
		hex[2 * i] = xdigits[mac[i] >> 4];
		hex[2 * i + 1] = xdigits[mac[i] & 0x0f];
	}
	seg[0].p = user;
	seg[0].len = userlen;
	seg[1].p = " ";
	seg[1].len = 1;
	seg[2].p = hex;
	seg[2].len = sizeof(hex);
	e = encode_segments(seg, 3, out, outsize);
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(hex, sizeof(hex));
	return e;
}

/* Any control character, DEL included? */
static int
has_ctrl(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

enum sasl_error
sasl_xoauth2_encode(const char *user, size_t userlen, const char *token,
    size_t tokenlen, char *out, size_t outsize)
{
	struct segment	seg[5];

	if (outsize > 0)
		out[0] = '\0';
	if (has_ctrl(user, userlen) || has_ctrl(token, tokenlen))
		return SASL_ECHAR;
	seg[0].p = "user=";
	seg[0].len = 5;
	seg[1].p = user;
	seg[1].len = userlen;
	seg[2].p = "\001auth=Bearer ";
	seg[2].len = 13;
	seg[3].p = token;
	seg[3].len = tokenlen;
	seg[4].p = "\001\001";
	seg[4].len = 2;
	return encode_segments(seg, 5, out, outsize);
}

/*
 * SCRAM.
 */

const char *
sasl_scram_mech(enum sasl_scram_hash hash)
{
	switch (hash) {
	case SASL_SCRAM_SHA1:
		return "SCRAM-SHA-1";
	case SASL_SCRAM_SHA256:
		return "SCRAM-SHA-256";
	}
	return NULL;
}

static const EVP_MD *
scram_md(enum sasl_scram_hash hash)
{
	switch (hash) {
	case SASL_SCRAM_SHA1:
		return EVP_sha1();
	case SASL_SCRAM_SHA256:
		return EVP_sha256();
	}
	return NULL;
}

static const char *
scram_digest_name(enum sasl_scram_hash hash)
{
	switch (hash) {
	case SASL_SCRAM_SHA1:
		return "SHA1";
	case SASL_SCRAM_SHA256:
		return "SHA256";
	}
	return NULL;
}

enum sasl_error
sasl_saslprep_ok(const char *s, size_t len)
{
	char	buf[SASL_PREP_MAX + 1];
	size_t	n;
	int	rv;

	rv = saslprep(s, len, SASLPREP_QUERY, buf, sizeof(buf), &n);
	explicit_bzero(buf, sizeof(buf));
	return rv == 0 && n > 0 ? SASL_OK : SASL_ESASLPREP;
}

/* RFC 5802 "printable": any printable ASCII except ','. */
static int
nonce_char_ok(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ',';
}

enum sasl_error
sasl_scram_start(struct sasl_scram *s, enum sasl_scram_hash hash,
    const char *user, size_t userlen, const char *nonce, size_t noncelen,
    char *out, size_t outsize)
{
	unsigned char	rnd[SCRAM_RAND_OCTETS];
	char		msg[SASL_SCRAM_MSG_MAX];
	char		prep[SASL_PREP_MAX + 1];
	struct strbuf	sb;
	size_t		i;

	explicit_bzero(s, sizeof(*s));
	if (outsize > 0)
		out[0] = '\0';
	if (scram_md(hash) == NULL)
		return SASL_ECRYPTO;
	if (userlen == 0)
		return SASL_EEMPTY;
	if (userlen > SASL_FIELD_MAX)
		return SASL_ETOOLONG;
	/* RFC 5802 5.1: the name is prepared, then escaped. */
	if (saslprep(user, userlen, SASLPREP_QUERY, prep, sizeof(prep),
	    &userlen) == -1 || userlen == 0)
		return SASL_ESASLPREP;
	if (userlen > SASL_FIELD_MAX)
		return SASL_ETOOLONG;
	user = prep;

	if (nonce == NULL) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return SASL_ECRYPTO;
		if (base64_encode(rnd, sizeof(rnd), s->nonce, sizeof(s->nonce),
		    &s->noncelen) == -1)
			return SASL_ECRYPTO;
		explicit_bzero(rnd, sizeof(rnd));
	} else {
		if (noncelen == 0)
			return SASL_EEMPTY;
		if (noncelen > SASL_SCRAM_NONCE_MAX)
			return SASL_ETOOLONG;
		for (i = 0; i < noncelen; i++)
			if (!nonce_char_ok((unsigned char)nonce[i]))
				return SASL_ECHAR;
		memcpy(s->nonce, nonce, noncelen);
		s->noncelen = noncelen;
	}

	/* client-first-bare = "n=" saslname ",r=" c-nonce */
	sb_init(&sb, s->cfb, sizeof(s->cfb));
	sb_str(&sb, "n=");
	for (i = 0; i < userlen; i++) {
		if (user[i] == '=')
			sb_str(&sb, "=3D");
		else if (user[i] == ',')
			sb_str(&sb, "=2C");
		else
			sb_add(&sb, &user[i], 1);
	}
	sb_str(&sb, ",r=");
	sb_add(&sb, s->nonce, s->noncelen);
	if (sb.overflow)
		return SASL_ETOOLONG;
	s->cfblen = sb.len;

	sb_init(&sb, msg, sizeof(msg));
	sb_str(&sb, "n,,");
	sb_add(&sb, s->cfb, s->cfblen);
	if (sb.overflow)
		return SASL_ETOOLONG;
	if (base64_encode(msg, sb.len, out, outsize, NULL) == -1)
		return SASL_ENOSPACE;
	s->hash = hash;
	s->state = SCRAM_STARTED;
	return SASL_OK;
}

/*
 * server-first-message = [reserved-mext ","] nonce "," salt ","
 *     iteration-count ["," extensions]
 * A mandatory extension (m=) is one we cannot know, so it fails the "r="
 * test.  On success *snoncelen is the length of the nonce at m + 2.
 */
static enum sasl_error
scram_parse_first(const struct sasl_scram *s, const char *m, size_t len,
    size_t *snoncelen, unsigned char *salt, size_t saltsize, size_t *saltlen,
    unsigned int *iter)
{
	unsigned long	v = 0;
	size_t		i, start;

	if (memchr(m, '\0', len) != NULL)
		return SASL_ESERVER;
	if (len < 2 || m[0] != 'r' || m[1] != '=')
		return SASL_ESERVER;
	for (i = 2; i < len && m[i] != ','; i++)
		if (!nonce_char_ok((unsigned char)m[i]))
			return SASL_ESERVER;
	/* The server must add its own part to our nonce. */
	*snoncelen = i - 2;
	if (*snoncelen <= s->noncelen ||
	    memcmp(m + 2, s->nonce, s->noncelen) != 0)
		return SASL_ESERVER;

	if (len - i < 3 || m[i + 1] != 's' || m[i + 2] != '=')
		return SASL_ESERVER;
	start = i + 3;
	for (i = start; i < len && m[i] != ','; i++)
		;
	if (base64_decode(m + start, i - start, salt, saltsize,
	    saltlen) == -1 || *saltlen == 0)
		return SASL_ESERVER;

	if (len - i < 3 || m[i + 1] != 'i' || m[i + 2] != '=')
		return SASL_ESERVER;
	start = i + 3;
	for (i = start; i < len && m[i] != ','; i++) {
		if (m[i] < '0' || m[i] > '9' || (i == start && m[i] == '0'))
			return SASL_ESERVER;
		v = v * 10 + (unsigned long)(m[i] - '0');
		if (v > SASL_SCRAM_ITER_MAX)
			return SASL_ESERVER;
	}
	if (i == start)
		return SASL_ESERVER;
	/* Extensions after the count are ignored (RFC 5802 section 7). */
	*iter = (unsigned int)v;
	return SASL_OK;
}

/*
 * RFC 5802 section 3: from the password, salt and count, and the
 * AuthMessage, the ClientProof into proof (*prooflen octets), and the
 * ServerSignature we expect into s->sig.
 */
static enum sasl_error
scram_keys(struct sasl_scram *s, const char *pass, size_t passlen,
    const unsigned char *salt, size_t saltlen, unsigned int iter,
    const char *authmsg, size_t authmsglen, unsigned char *proof,
    size_t *prooflen)
{
	const EVP_MD	*md = scram_md(s->hash);
	const char	*name = scram_digest_name(s->hash);
	unsigned char	 salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char	 stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
	unsigned char	 skey[EVP_MAX_MD_SIZE];
	unsigned int	 dlen;
	size_t		 n, i, mdlen;
	int		 ok;

	if (md == NULL || name == NULL || EVP_MD_get_size(md) <= 0)
		return SASL_ECRYPTO;
	mdlen = (size_t)EVP_MD_get_size(md);
	if (mdlen > sizeof(s->sig) || passlen > INT_MAX || saltlen > INT_MAX ||
	    iter > INT_MAX)
		return SASL_ECRYPTO;

	ok = PKCS5_PBKDF2_HMAC(passlen > 0 ? pass : "", (int)passlen, salt,
	    (int)saltlen, (int)iter, md, (int)mdlen, salted) == 1 &&
	    hmac(name, salted, mdlen, "Client Key", 10, ckey, sizeof(ckey),
	    &n) == 0 && n == mdlen &&
	    EVP_Digest(ckey, mdlen, stored, &dlen, md, NULL) == 1 &&
	    dlen == mdlen &&
	    hmac(name, stored, mdlen, authmsg, authmsglen, csig, sizeof(csig),
	    &n) == 0 && n == mdlen &&
	    hmac(name, salted, mdlen, "Server Key", 10, skey, sizeof(skey),
	    &n) == 0 && n == mdlen &&
	    hmac(name, skey, mdlen, authmsg, authmsglen, s->sig,
	    sizeof(s->sig), &n) == 0 && n == mdlen;
	if (ok) {
		for (i = 0; i < mdlen; i++)
			proof[i] = ckey[i] ^ csig[i];
		*prooflen = mdlen;
		s->siglen = mdlen;
	}
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(csig, sizeof(csig));
	explicit_bzero(skey, sizeof(skey));
	return ok ? SASL_OK : SASL_ECRYPTO;
}

enum sasl_error
sasl_scram_final(struct sasl_scram *s, const char *server_first_b64,
    size_t len, const char *pass, size_t passlen, char *out, size_t outsize)
{
	char		sf[DECODE_ROOM(SASL_SCRAM_MSG_MAX)];
	unsigned char	salt[DECODE_ROOM(SASL_SCRAM_MSG_MAX)];
	char		authmsg[3 * SASL_SCRAM_MSG_MAX + 16];
	char		cf[SASL_SCRAM_MSG_MAX];
	char		prep[SASL_PREP_MAX + 1];
	unsigned char	proof[EVP_MAX_MD_SIZE];
	char		proof64[BASE64_ENCODED_SIZE(EVP_MAX_MD_SIZE)];
	struct strbuf	sb, am;
	size_t		sflen, snoncelen, saltlen, prooflen = 0;
	unsigned int	iter;
	enum sasl_error	e;

	if (outsize > 0)
		out[0] = '\0';
	if (s->state != SCRAM_STARTED)
		return SASL_ESTATE;
	/* One try: after any failure the exchange is over. */
	s->state = SCRAM_DONE;
	if (saslprep(pass, passlen, SASLPREP_QUERY, prep, sizeof(prep),
	    &passlen) == -1 || passlen == 0)
		return SASL_ESASLPREP;
	pass = prep;
	if (len > BASE64_ENCODED_LEN(SASL_SCRAM_MSG_MAX)) {
		e = SASL_ESERVER;
		goto wipe;
	}
	if (base64_decode(server_first_b64, len, sf, sizeof(sf),
	    &sflen) == -1) {
		e = SASL_EBASE64;
		goto wipe;
	}
	if ((e = scram_parse_first(s, sf, sflen, &snoncelen, salt,
	    sizeof(salt), &saltlen, &iter)) != SASL_OK)
		goto wipe;
	s->iterations = iter;

	/* client-final-message-without-proof, with base64("n,,"). */
	sb_init(&sb, cf, sizeof(cf));
	sb_str(&sb, "c=biws,r=");
	sb_add(&sb, sf + 2, snoncelen);

	sb_init(&am, authmsg, sizeof(authmsg));
	sb_add(&am, s->cfb, s->cfblen);
	sb_str(&am, ",");
	sb_add(&am, sf, sflen);
	sb_str(&am, ",");
	sb_add(&am, sb.buf, sb.len);
	if (sb.overflow || am.overflow) {
		e = SASL_ESERVER;
		goto wipe;
	}

	e = scram_keys(s, pass, passlen, salt, saltlen, iter, am.buf, am.len,
	    proof, &prooflen);
	if (e == SASL_OK) {
		if (base64_encode(proof, prooflen, proof64, sizeof(proof64),
		    NULL) == -1)
			e = SASL_ECRYPTO;
		sb_str(&sb, ",p=");
		sb_str(&sb, proof64);
		if (e == SASL_OK && sb.overflow)
			e = SASL_ESERVER;
	}
	if (e == SASL_OK &&
	    base64_encode(sb.buf, sb.len, out, outsize, NULL) == -1)
		e = SASL_ENOSPACE;
	if (e == SASL_OK)
		s->state = SCRAM_PROVED;
	explicit_bzero(proof, sizeof(proof));
	explicit_bzero(proof64, sizeof(proof64));
	explicit_bzero(cf, sizeof(cf));
	explicit_bzero(authmsg, sizeof(authmsg));
wipe:
	explicit_bzero(prep, sizeof(prep));
	return e;
}

enum sasl_error
sasl_scram_verify(struct sasl_scram *s, const char *server_final_b64,
    size_t len)
{
	char		m[DECODE_ROOM(SASL_SCRAM_MSG_MAX)];
	unsigned char	got[DECODE_ROOM(EVP_MAX_MD_SIZE)];
	size_t		mlen, i, end, gotlen;

	if (s->state != SCRAM_PROVED)
		return SASL_ESTATE;
	s->state = SCRAM_DONE;
	if (len > BASE64_ENCODED_LEN(SASL_SCRAM_MSG_MAX))
		return SASL_ESERVER;
	if (base64_decode(server_final_b64, len, m, sizeof(m), &mlen) == -1)
		return SASL_EBASE64;
	for (end = 0; end < mlen && m[end] != ','; end++)
		;
	if (end >= 2 && m[0] == 'e' && m[1] == '=') {
		for (i = 2; i < end && m[i] != '\0' &&
		    i - 2 < sizeof(s->server_error) - 1; i++)
			s->server_error[i - 2] = m[i];
		s->server_error[i - 2] = '\0';
		return SASL_EREJECTED;
	}
	if (end < 2 || m[0] != 'v' || m[1] != '=')
		return SASL_ESIGNATURE;
	if (base64_decode(m + 2, end - 2, got, sizeof(got), &gotlen) == -1 ||
	    gotlen != s->siglen || !ct_equal(got, s->sig, s->siglen))
		return SASL_ESIGNATURE;
	return SASL_OK;
}

void
sasl_scram_wipe(struct sasl_scram *s)
{
	explicit_bzero(s, sizeof(*s));
}

/*
 * The tester's decoder.
 */

enum sasl_error
sasl_plain_inspect(const char *b64, size_t b64len,
    struct sasl_plain_info *info)
{
	struct sasl_plain	 tmp;
	const char		*nul1, *nul2, *end;
	size_t			 i;
	struct sasl_field	*z = &info->authzid, *c = &info->authcid;
	struct sasl_field	*p = &info->passwd;

	explicit_bzero(info, sizeof(*info));
	if (b64len > BASE64_ENCODED_LEN(SASL_INSPECT_MAX))
		return SASL_ETOOLONG;
	if (base64_decode(b64, b64len, info->raw, sizeof(info->raw),
	    &info->rawlen) == -1)
		return SASL_EBASE64;
	for (i = 0; i < info->rawlen; i++)
		if (info->raw[i] == '\0')
			info->nuls++;
	info->verdict = sasl_plain_decode(info->raw, info->rawlen, &tmp);
	sasl_plain_wipe(&tmp);
	if (info->nuls == 0)
		return SASL_OK;

	end = info->raw + info->rawlen;
	nul1 = memchr(info->raw, '\0', info->rawlen);
	if (info->nuls == 1) {
		c->p = info->raw;
		c->len = (size_t)(nul1 - info->raw);
		p->p = nul1 + 1;
		p->len = (size_t)(end - p->p);
	} else {
		nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1));
		z->present = 1;
		z->p = info->raw;
		z->len = (size_t)(nul1 - info->raw);
		z->err = check_field(z->p, z->len, 0);
		c->p = nul1 + 1;
		c->len = (size_t)(nul2 - c->p);
		p->p = nul2 + 1;
		p->len = (size_t)(end - p->p);
	}
	c->present = p->present = 1;
	c->err = check_field(c->p, c->len, 1);
	p->err = check_field(p->p, p->len, 1);
	if (z->present && z->err == SASL_OK && z->len != 0 &&
	    (z->len != c->len || memcmp(z->p, c->p, c->len) != 0))
		z->err = SASL_EAUTHZID;
	return SASL_OK;
}

void
sasl_plain_info_wipe(struct sasl_plain_info *info)
{
	explicit_bzero(info, sizeof(*info));
}
