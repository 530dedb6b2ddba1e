/*
 * The protocol between smtp workers and the auth process (DESIGN.md,
 * "Processes of smtpauthd").  Workers send a verification request; the
 * auth process answers with a verdict and how long the worker must wait
 * before it tells the client.  Encoding is explicit (no struct copies):
 * every field is checked against the payload length on decode.
 */
#ifndef SMTPAUTHD_AUTHPROTO_H
#define SMTPAUTHD_AUTHPROTO_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MSG_VERIFY		1	/* worker -> auth */
#define AUTH_MSG_ANSWER		2	/* auth -> worker */

#define AUTH_FIELD_MAX		255	/* RFC 4616 */

enum auth_mech { AUTH_MECH_PLAIN = 1, AUTH_MECH_LOGIN = 2 };

struct auth_request {
	struct sockaddr_storage	client;		/* address and port */
	int			tls;		/* the session is encrypted */
	enum auth_mech		mech;
	size_t			userlen;
	char			user[AUTH_FIELD_MAX + 1];
	size_t			passlen;
	char			pass[AUTH_FIELD_MAX + 1];	/* wipe it */
};

/* Three outcomes (STYLE.md 7): 235 / 535 / 454. */
enum auth_result {
	AUTH_TEMPFAIL = -1,
	AUTH_FAIL = 0,
	AUTH_OK = 1,
};

struct auth_answer {
	enum auth_result	result;
	uint32_t		delay_ms;	/* answer the client after this */
	int			banned;		/* the address is now banned */
};

/* Encode into buf (IPC_MAX_PAYLOAD octets); returns the length or -1. */
int	authproto_encode_request(const struct auth_request *, void *buf,
	    size_t buflen);
int	authproto_decode_request(const void *buf, size_t len,
	    struct auth_request *);
int	authproto_encode_answer(const struct auth_answer *, void *buf,
	    size_t buflen);
int	authproto_decode_answer(const void *buf, size_t len,
	    struct auth_answer *);

/*
 * Sending limits (send-limit, send-limit-recipients): "may this account
 * send count more messages (or recipients) now?"  The auth process
 * answers from its counters (the guard store's, shared by every node, or
 * its own).  A block of its own, apart from the verification messages.
 */
#define AUTH_MSG_LIMIT		16	/* worker -> auth */
#define AUTH_MSG_LIMIT_ANSWER	17	/* auth -> worker */

enum limit_kind { LIMIT_MESSAGES = 1, LIMIT_RECIPIENTS = 2 };

struct limit_request {
	enum limit_kind		kind;
	uint32_t		count;		/* 1 .. LIMIT_COUNT_MAX */
	size_t			acctlen;
	char			account[AUTH_FIELD_MAX + 1];
};

#define LIMIT_COUNT_MAX		1000000

/* AUTH_OK: counted, go on; AUTH_FAIL: over the limit; else unknown. */
struct limit_answer {
	enum auth_result	result;
	uint32_t		retry_secs;	/* over: the window ends in */
};

int	authproto_encode_limit(const struct limit_request *, void *buf,
	    size_t buflen);
int	authproto_decode_limit(const void *buf, size_t len,
	    struct limit_request *);
int	authproto_encode_limit_answer(const struct limit_answer *, void *buf,
	    size_t buflen);
int	authproto_decode_limit_answer(const void *buf, size_t len,
	    struct limit_answer *);

#endif
