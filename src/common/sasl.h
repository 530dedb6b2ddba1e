/*
 * SASL mechanisms for SMTP AUTH (RFC 4954): the server's decoding of PLAIN
 * (RFC 4616) and LOGIN, and the tester's side of PLAIN, LOGIN, CRAM-MD5
 * (RFC 2195), SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) and
 * XOAUTH2.
 *
 * All input is pointer + length and is never assumed to be NUL-terminated;
 * nothing is ever interpreted (no printf escapes, no shell), so any octets
 * can be sent or received.  Structures that hold credentials must be wiped
 * with their *_wipe() function when done.  Text given to the client
 * functions and produced by them is what travels after "AUTH MECH " or
 * "334 " on the wire: base64, NUL-terminated in the caller's buffer.
 */
#ifndef SMTPAUTH_SASL_H
#define SMTPAUTH_SASL_H

#include <stddef.h>

#include "common/base64.h"

#define SASL_FIELD_MAX		255	/* RFC 4616 section 2, every field */
/* The longest PLAIN message the rules allow: three fields, two NULs. */
#define SASL_PLAIN_MAX		(3 * SASL_FIELD_MAX + 2)

/* The server's two LOGIN challenges: "Username:" and "Password:". */
#define SASL_LOGIN_CHALLENGE_USER	"VXNlcm5hbWU6"
#define SASL_LOGIN_CHALLENGE_PASS	"UGFzc3dvcmQ6"

enum sasl_error {
	SASL_OK = 0,
	/* Malformed responses (server side; 501 5.5.2 fits them all). */
	SASL_EFORMAT,	/* PLAIN: fewer than two NULs */
	SASL_ENUL,	/* a NUL inside a field (PLAIN: a third NUL) */
	SASL_ECRLF,	/* a CR or LF inside a field */
	SASL_EEMPTY,	/* authcid or passwd (LOGIN: the field) is empty */
	SASL_ETOOLONG,	/* a field over SASL_FIELD_MAX octets, or too much */
	SASL_EUTF8,	/* a field is not well-formed UTF-8 (RFC 3629) */
	SASL_EBASE64,	/* not strict base64 */
	/* Well-formed, but asks for something refused: 535 5.7.8. */
	SASL_EAUTHZID,	/* PLAIN authzid neither empty nor the authcid */
	/* Client side. */
	SASL_ENOSPACE,	/* the output buffer is too small */
	SASL_ECHAR,	/* a character the mechanism cannot carry */
	SASL_ESASLPREP,	/* SCRAM: SASLprep (RFC 4013) refuses it */
	SASL_ESERVER,	/* SCRAM: the server's message is malformed or
			   unacceptable (nonce, salt, iteration count) */
	SASL_EREJECTED,	/* SCRAM: the server-final message is "e=..." */
	SASL_ESIGNATURE, /* SCRAM: wrong ServerSignature: the server does not
			   know the password, or someone is in the middle */
	SASL_ESTATE,	/* SCRAM: steps called out of order */
	SASL_ECRYPTO,	/* OpenSSL or the random number generator failed */
};

/* A short English description of an error, for logs and reports. */
const char	*sasl_strerror(enum sasl_error);

/* Is the whole buffer well-formed UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF)?  An empty buffer is.  Returns 1 or 0. */
int		 sasl_utf8_valid(const void *buf, size_t len);

/*
 * Server side.
 */

/* A decoded PLAIN message.  Every field is NUL-terminated. */
struct sasl_plain {
	size_t	authzidlen;
	char	authzid[SASL_FIELD_MAX + 1];	/* empty when none was sent */
	size_t	authcidlen;
	char	authcid[SASL_FIELD_MAX + 1];
	size_t	passwdlen;
	char	passwd[SASL_FIELD_MAX + 1];
};

/*
 * Decode the PLAIN message buf (len octets, already base64-decoded):
 * [authzid] NUL authcid NUL passwd, exactly two NULs, each field at most
 * SASL_FIELD_MAX octets of UTF-8 without CR or LF, authcid and passwd not
 * empty, and an authzid either empty or equal to the authcid (we offer no
 * proxy authorisation).  Fields are checked in order and the first problem
 * is returned.  On any error *out is wiped.
 */
enum sasl_error	 sasl_plain_decode(const char *buf, size_t len,
		    struct sasl_plain *out);

/* The same from the base64 text of an AUTH PLAIN line (or a 334 answer). */
enum sasl_error	 sasl_plain_decode_b64(const char *b64, size_t b64len,
		    struct sasl_plain *out);

void		 sasl_plain_wipe(struct sasl_plain *);

/* Check a LOGIN user name or password: the rules of a PLAIN authcid. */
enum sasl_error	 sasl_login_check_field(const char *buf, size_t len);

/*
 * Decode one LOGIN answer from base64 into out (outsize octets; a field
 * and its NUL need at most SASL_FIELD_MAX + 1), NUL-terminated, and check
 * it with sasl_login_check_field().  The length goes to *outlen.  On any
 * error out is wiped.
 */
enum sasl_error	 sasl_login_decode_b64(const char *b64, size_t b64len,
		    char *out, size_t outsize, size_t *outlen);

/*
 * Client side (the tester).
 */

/* Buffer size for sasl_plain_encode() with fields of these lengths. */
#define SASL_PLAIN_ENCODED_SIZE(zlen, clen, plen) \
	BASE64_ENCODED_SIZE((zlen) + (clen) + (plen) + 2)

/*
 * base64(authzid NUL authcid NUL passwd) into out.  authzid may be NULL
 * when authzidlen is 0.  Any octets are encoded as they are, even ones the
 * server must refuse, so the tester can probe a server with them; check
 * first with sasl_plain_decode() on the raw message if that is not wanted.
 * Returns SASL_OK, SASL_ETOOLONG (lengths overflow) or SASL_ENOSPACE.
 */
enum sasl_error	 sasl_plain_encode(const char *authzid, size_t authzidlen,
		    const char *authcid, size_t authcidlen, const char *passwd,
		    size_t passwdlen, char *out, size_t outsize);

/*
 * LOGIN: base64(user) into userout and base64(pass) into passout (sizes
 * BASE64_ENCODED_SIZE of each length).  SASL_OK or SASL_ENOSPACE.
 */
enum sasl_error	 sasl_login_encode(const char *user, size_t userlen,
		    const char *pass, size_t passlen, char *userout,
		    size_t useroutsize, char *passout, size_t passoutsize);

/* Buffer size for a CRAM-MD5 response for a user name of n octets. */
#define SASL_CRAM_MD5_SIZE(n)	BASE64_ENCODED_SIZE((n) + 1 + 32)
/* The longest challenge sasl_cram_md5_response() accepts: its base64 text
 * may be BASE64_ENCODED_LEN(SASL_CHALLENGE_MAX) characters. */
#define SASL_CHALLENGE_MAX	1024

/*
 * CRAM-MD5 (RFC 2195): from the base64 challenge of the 334 line, the
 * response base64(user SP lowercase-hex(HMAC-MD5(pass, challenge))).
 * SASL_OK, SASL_EBASE64, SASL_ETOOLONG (challenge), SASL_ENOSPACE or
 * SASL_ECRYPTO (no MD5, e.g. in FIPS mode).
 */
enum sasl_error	 sasl_cram_md5_response(const char *challenge_b64,
		    size_t challenge_b64len, const char *user, size_t userlen,
		    const char *pass, size_t passlen, char *out,
		    size_t outsize);

/*
 * SCRAM-SHA-1 and SCRAM-SHA-256 without channel binding (gs2 header
 * "n,,"), client side.
 *
 * The user name and the password go through SASLprep (RFC 4013,
 * saslprep.h) as queries: a non-ASCII space becomes a space, NFKC
 * applies; one it refuses (a control character, private use, broken
 * bidi, or nothing left) gives SASL_ESASLPREP.  In the user name '=' and
 * ',' are then escaped as "=3D" and "=2C" (RFC 5802 section 5.1).
 *
 * The exchange:
 *	sasl_scram_start()  -> client-first, sent with "AUTH SCRAM-SHA-256 "
 *	sasl_scram_final()  <- server-first (334), -> client-final
 *	sasl_scram_verify() <- server-final (334 or 235): SASL_OK only if the
 *			       server proved it knows the password
 * then sasl_scram_wipe().  Each step may be tried once: after an error,
 * or out of order, a step returns SASL_ESTATE.
 */
enum sasl_scram_hash {
	SASL_SCRAM_SHA1 = 1,
	SASL_SCRAM_SHA256,
};

#define SASL_SCRAM_NONCE_MAX	64	/* a client nonce we accept to use */
#define SASL_SCRAM_MSG_MAX	1024	/* longest decoded message either way */
#define SASL_SCRAM_ITER_MAX	10000000 /* more from a server: SASL_ESERVER */
/* Buffer size for any base64 message sasl_scram_*() writes. */
#define SASL_SCRAM_B64_SIZE	BASE64_ENCODED_SIZE(SASL_SCRAM_MSG_MAX)

struct sasl_scram {
	/* Private to sasl.c: on the stack of the caller, never copied. */
	enum sasl_scram_hash	hash;
	int			state;
	size_t			noncelen;
	char			nonce[SASL_SCRAM_NONCE_MAX + 1];
	size_t			cfblen;		/* client-first-bare */
	char			cfb[SASL_SCRAM_MSG_MAX];
	size_t			siglen;		/* expected ServerSignature */
	unsigned char		sig[64];
	/* For the caller to report, once known. */
	unsigned int		iterations;	/* from server-first */
	char			server_error[64]; /* "e=" value, cut, raw */
};

/* "SCRAM-SHA-1" or "SCRAM-SHA-256", or NULL. */
const char	*sasl_scram_mech(enum sasl_scram_hash);

/* The longest user name or password after SASLprep (NFKC may grow it). */
#define SASL_PREP_MAX	1023

/* Does SASLprep take s (and leave something)?  SASL_OK or SASL_ESASLPREP;
 * lets the tester refuse a password before connecting. */
enum sasl_error	 sasl_saslprep_ok(const char *s, size_t len);

/*
 * Start: user is 1..SASL_FIELD_MAX octets; nonce is NULL for a random one
 * (24 characters from 18 octets of RAND_bytes) or, for tests, 1 to
 * SASL_SCRAM_NONCE_MAX printable ASCII characters other than ','.
 * Writes base64(client-first) to out.
 */
enum sasl_error	 sasl_scram_start(struct sasl_scram *, enum sasl_scram_hash,
		    const char *user, size_t userlen, const char *nonce,
		    size_t noncelen, char *out, size_t outsize);

/*
 * From base64(server-first) and the password, base64(client-final) into
 * out.  The server nonce must extend ours, the salt must be non-empty
 * base64, the iteration count 1..SASL_SCRAM_ITER_MAX; a mandatory
 * extension ("m=") is refused.
 */
enum sasl_error	 sasl_scram_final(struct sasl_scram *,
		    const char *server_first_b64, size_t len, const char *pass,
		    size_t passlen, char *out, size_t outsize);

/* Check base64(server-final).  "e=..." gives SASL_EREJECTED and its value
 * in server_error; a wrong or missing "v=" gives SASL_ESIGNATURE. */
enum sasl_error	 sasl_scram_verify(struct sasl_scram *,
		    const char *server_final_b64, size_t len);

void		 sasl_scram_wipe(struct sasl_scram *);

/*
 * XOAUTH2 initial response: base64("user=" user ^A "auth=Bearer " token
 * ^A ^A).  User and token must not contain control characters (they would
 * break the framing): SASL_ECHAR.  Also SASL_ENOSPACE.
 */
#define SASL_XOAUTH2_SIZE(ulen, tlen) \
	BASE64_ENCODED_SIZE(5 + (ulen) + 1 + 12 + (tlen) + 2)
enum sasl_error	 sasl_xoauth2_encode(const char *user, size_t userlen,
		    const char *token, size_t tokenlen, char *out,
		    size_t outsize);

/*
 * The tester's "decode": take a PLAIN string apart even when a server
 * would refuse it, and say what is wrong with each part.
 */
#define SASL_INSPECT_MAX	9216	/* 12288 base64 characters decoded */

struct sasl_field {
	int		 present;
	const char	*p;		/* into raw; not NUL-terminated */
	size_t		 len;
	enum sasl_error	 err;		/* this field against the rules */
};

struct sasl_plain_info {
	size_t			rawlen;
	char			raw[SASL_INSPECT_MAX];	/* decoded octets */
	size_t			nuls;		/* NULs in raw */
	/*
	 * Split at the first two NULs; with one NUL there is no authzid
	 * (the usual mistake is to leave out the leading NUL), with none
	 * no field at all.
	 */
	struct sasl_field	authzid, authcid, passwd;
	enum sasl_error		verdict;	/* sasl_plain_decode() on raw */
};

/*
 * SASL_OK with *info filled (look at verdict and each field's err), or
 * SASL_EBASE64 or SASL_ETOOLONG (more than SASL_INSPECT_MAX octets) with
 * nothing in it.  The fields point into info->raw: do not copy the struct.
 */
enum sasl_error	 sasl_plain_inspect(const char *b64, size_t b64len,
		    struct sasl_plain_info *info);

void		 sasl_plain_info_wipe(struct sasl_plain_info *);

#endif
