/*
 * The server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC
 * 7677), with the tls-exporter channel binding (RFC 9266): the messages,
 * parsed strictly, and the proof, checked against the stored keys
 * (scram.h).  No I/O, no lookup, no random: the caller gives the keys of
 * the user (or fake ones) and the server nonce, so the RFC 7677 test
 * vector runs as it is.
 *
 *	scram_server_start()	<- client-first; the user name is known
 *	scram_server_first()	-> server-first, with the user's salt and
 *				   iteration count
 *	scram_server_final()	<- client-final: the proof is checked;
 *				-> server-final ("v=" ServerSignature)
 *
 * Each returns SCRAM_SV_OK, SCRAM_SV_MALFORMED (the message breaks the
 * grammar of RFC 5802 section 7: 501) or SCRAM_SV_REFUSED (well-formed,
 * but refused: a wrong proof, a channel binding that does not match, a
 * downgrade, an authorisation identity: 535), or SCRAM_SV_ERROR (OpenSSL
 * failed: 454), with a reason for the log.
 * The proof check is two HMAC-SHA-256 and one SHA-256 over at most a few
 * KiB: no PBKDF2 runs here, the stored keys replace it.
 */
#ifndef SMTPAUTHD_SCRAM_SERVER_H
#define SMTPAUTHD_SCRAM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/scram.h"

#define SCRAM_SV_MSG_MAX	1024	/* one message, either way */
#define SCRAM_SV_NONCE_MAX	256	/* the client's part */
#define SCRAM_SV_SNONCE_MAX	64	/* the server's part */
#define SCRAM_SV_USER_MAX	255	/* octets, decoded and prepared */
#define SCRAM_SV_CB_MAX		64	/* channel binding data */
#define SCRAM_SV_GS2_MAX	(2 + 32 + 3 + 3 * SCRAM_SV_USER_MAX)

enum scram_sv_result {
	SCRAM_SV_OK = 0,
	SCRAM_SV_MALFORMED,
	SCRAM_SV_REFUSED,
	SCRAM_SV_ERROR,		/* OpenSSL failed: temporary */
};

struct scram_server {
	/* Private to scram_server.c. */
	int		state;
	int		plus;		/* the mechanism is -PLUS */
	size_t		gs2len;		/* the gs2 header as sent */
	char		gs2[SCRAM_SV_GS2_MAX];
	size_t		cblen;		/* the session's, when 'p' */
	uint8_t		cb[SCRAM_SV_CB_MAX];
	size_t		cfblen;		/* client-first-message-bare */
	char		cfb[SCRAM_SV_MSG_MAX];
	size_t		cnoncelen;
	size_t		sflen;		/* server-first-message */
	char		sf[SCRAM_SV_MSG_MAX];
	size_t		noncelen;	/* client's and server's */
	char		nonce[SCRAM_SV_NONCE_MAX + SCRAM_SV_SNONCE_MAX];
	uint8_t		stored_key[SCRAM_KEY_LEN];
	uint8_t		server_key[SCRAM_KEY_LEN];
	/* For the caller, after a start that parsed: the prepared name. */
	size_t		userlen;
	char		user[SCRAM_SV_USER_MAX + 1];
};

/*
 * The client-first message (len octets).  plus: the mechanism chosen is
 * SCRAM-SHA-256-PLUS; cb (cblen octets, or NULL): the tls-exporter data
 * of the session, given only when the server offered -PLUS on it, so that
 * a client saying "y" (it could bind, thinks the server cannot) is a
 * downgrade (RFC 5802 section 6).
 */
enum scram_sv_result scram_server_start(struct scram_server *, int plus,
		    const uint8_t *cb, size_t cblen, const uint8_t *msg,
		    size_t len, const char **reason);

/*
 * The server-first message into out (outsize octets, NUL-terminated, its
 * length in *outlen), with the salt, iterations and keys of st and the
 * server nonce (1..SCRAM_SV_SNONCE_MAX printable characters but ',').
 * SCRAM_SV_OK, or SCRAM_SV_MALFORMED when it does not fit.
 */
enum scram_sv_result scram_server_first(struct scram_server *,
		    const struct scram_stored *st, const char *snonce,
		    size_t snoncelen, char *out, size_t outsize,
		    size_t *outlen);

/* The client-final message; on SCRAM_SV_OK the server-final in out. */
enum scram_sv_result scram_server_final(struct scram_server *,
		    const uint8_t *msg, size_t len, char *out, size_t outsize,
		    size_t *outlen, const char **reason);

void	scram_server_wipe(struct scram_server *);

#endif
