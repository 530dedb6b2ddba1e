/*
 * SCRAM-SHA-256 stored keys (RFC 5802 section 3, RFC 7677), in Dovecot's
 * passwd-file format, so that a Dovecot passwd-file serves as a users file
 * unchanged:
 *
 *	{SCRAM-SHA-256}ITERATIONS,SALT,STOREDKEY,SERVERKEY
 *
 * SALT, STOREDKEY and SERVERKEY in base64 (doveadm pw -s SCRAM-SHA-256).
 * A password is checked against it by computing SaltedPassword (PBKDF2),
 * ClientKey and its hash, and comparing that to StoredKey in constant
 * time.  The password goes through SASLprep (RFC 4013, saslprep.h) first:
 * as a stored string when the keys are made, as a query when checked.
 * Tools that skip it (Dovecot's doveadm pw, for one) make the same keys
 * for every password SASLprep leaves alone (printable ASCII among them).
 */
#ifndef SMTPAUTH_SCRAM_H
#define SMTPAUTH_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define SCRAM_PREFIX		"{SCRAM-SHA-256}"
#define SCRAM_KEY_LEN		32
#define SCRAM_SALT_MAX		64
#define SCRAM_ITER_MIN		4096	/* RFC 7677 4: at least */
#define SCRAM_ITER_MAX		10000000
#define SCRAM_ITER_DEFAULT	4096	/* Dovecot's default */
#define SCRAM_STORED_MAX	256	/* the text, NUL included */
/* The longest password, prepared (NFKC may lengthen what was sent). */
#define SCRAM_PASS_MAX		1023

struct scram_stored {
	uint32_t	iterations;
	uint8_t		salt[SCRAM_SALT_MAX];
	size_t		saltlen;
	uint8_t		stored_key[SCRAM_KEY_LEN];
	uint8_t		server_key[SCRAM_KEY_LEN];
};

/* Does s start with SCRAM_PREFIX? */
int	scram_is_stored(const char *s);
/* Parse the text; 0, or -1 when it is not exactly the format above. */
int	scram_parse(const char *s, struct scram_stored *);
/*
 * Make the stored keys of a password with a fresh random salt of 16
 * octets (iterations 0: SCRAM_ITER_DEFAULT) and write the text to out;
 * 0, or -1 (also when SASLprep refuses the password).
 */
int	scram_make(const char *pass, size_t passlen, uint32_t iterations,
	    char *out, size_t outlen);
/*
 * Is the password the one the keys were made of?  1 yes, 0 no (also when
 * SASLprep refuses it), -1 error.
 */
int	scram_check(const struct scram_stored *, const char *pass,
	    size_t passlen);

#endif
