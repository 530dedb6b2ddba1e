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
/*
 * The queue process, for "smtpauthctl unban": lift the bans that cover an
 * address.  The payload is AUTH_UNBAN_LEN octets: the address as IPv6
 * (IPv4-mapped for IPv4) and a prefix length (0: any).  The answer
 * AUTH_MSG_UNBANNED carries one octet: how many bans were lifted (at most
 * 255).  Only the auth process may write the ban table.
 */
#define AUTH_MSG_UNBAN		3
#define AUTH_MSG_UNBANNED	4
#define AUTH_UNBAN_LEN		17
#define AUTH_MSG_SASL		5	/* worker -> auth: a SASL step */
#define AUTH_MSG_SASL_ANSWER	6	/* auth -> worker */
#define AUTH_MSG_MECHS		7	/* auth -> worker, id 0: what to offer */

#define AUTH_FIELD_MAX		255	/* RFC 4616 */
#define AUTH_MECH_NAME_MAX	20	/* RFC 4422 3.1: a mechanism name */
#define AUTH_DATA_MAX		1024	/* one SASL message, decoded */
#define AUTH_CBIND_MAX		64	/* channel binding data */
#define AUTH_MECHS_MAX		16

/*
 * PLAIN and LOGIN: the worker decodes them and sends the user and the
 * password (AUTH_MSG_VERIFY).  Any other mechanism is a SASL exchange the
 * auth process runs (AUTH_MSG_SASL): the worker passes the client's
 * messages and the challenges through, decoded from and to base64.
 */
enum auth_mech { AUTH_MECH_PLAIN = 1, AUTH_MECH_LOGIN = 2,
	AUTH_MECH_SASL = 3 };

struct auth_request {
	struct sockaddr_storage	client;		/* address and port */
	struct sockaddr_storage	local;		/* AF_UNSPEC: not known */
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
	AUTH_CONTINUE = 2,	/* SASL only: a challenge for the client */
	/*
	 * SASL only: the client's message breaks the mechanism's grammar
	 * (501 5.5.2, as a PLAIN message that does not decode); no password
	 * was tried, so neither the guard nor the failure delay sees it.
	 */
	AUTH_MALFORMED = 3,
};

struct auth_answer {
	enum auth_result	result;
	uint32_t		delay_ms;	/* answer the client after this */
	int			banned;		/* the address is now banned */
};

enum auth_step { AUTH_STEP_START = 1, AUTH_STEP_CONTINUE = 2 };

/*
 * One step of a SASL exchange.  A start names the mechanism and carries
 * the session's facts, the initial response if the client gave one, and
 * the channel binding data of the TLS session (tls-exporter, RFC 9266;
 * empty without TLS 1.3); a continuation names the exchange the auth
 * process gave in its challenge and carries the client's answer.
 */
struct auth_sasl_request {
	enum auth_step		step;
	uint32_t		exchange;	/* continue: nonzero */
	struct sockaddr_storage	client;		/* start only */
	struct sockaddr_storage	local;		/* start; AF_UNSPEC: none */
	int			tls;
	char			mech[AUTH_MECH_NAME_MAX + 1];
	int			has_data;	/* start: an initial response */
	size_t			cblen;
	uint8_t			cb[AUTH_CBIND_MAX];
	size_t			datalen;
	uint8_t			data[AUTH_DATA_MAX];	/* wipe it */
};

/*
 * The answer to a step: a verdict (as struct auth_answer, and the name
 * that logged in on AUTH_OK), or AUTH_CONTINUE with a challenge for the
 * client and the exchange to name in the next step.
 */
struct auth_sasl_answer {
	struct auth_answer	a;		/* result may be AUTH_CONTINUE */
	uint32_t		exchange;	/* continue: nonzero */
	size_t			chlen;
	uint8_t			challenge[AUTH_DATA_MAX];
	size_t			userlen;	/* ok: at least 1 */
	char			user[AUTH_FIELD_MAX + 1];
};

/* A mechanism to offer; plaintext ones only over TLS. */
struct auth_mech_info {
	char	name[AUTH_MECH_NAME_MAX + 1];
	int	plaintext;
};

struct auth_mechs {
	size_t			n;
	struct auth_mech_info	m[AUTH_MECHS_MAX];
};

/* A valid mechanism name: 1-20 of A-Z, 0-9, '-', '_'. */
int	authproto_mech_name_ok(const char *, size_t);

/* Encode into buf (IPC_MAX_PAYLOAD octets); returns the length or -1. */
int	authproto_encode_request(const struct auth_request *, void *buf,
	    size_t buflen);
int	authproto_decode_request(const void *buf, size_t len,
	    struct auth_request *);
int	authproto_encode_answer(const struct auth_answer *, void *buf,
	    size_t buflen);
int	authproto_decode_answer(const void *buf, size_t len,
	    struct auth_answer *);
int	authproto_encode_sasl_request(const struct auth_sasl_request *,
	    void *buf, size_t buflen);
int	authproto_decode_sasl_request(const void *buf, size_t len,
	    struct auth_sasl_request *);
int	authproto_encode_sasl_answer(const struct auth_sasl_answer *,
	    void *buf, size_t buflen);
int	authproto_decode_sasl_answer(const void *buf, size_t len,
	    struct auth_sasl_answer *);
int	authproto_encode_mechs(const struct auth_mechs *, void *buf,
	    size_t buflen);
int	authproto_decode_mechs(const void *buf, size_t len,
	    struct auth_mechs *);

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

/*
 * Recipients of local-domains that the users file does not list, with an
 * account store (config_recipient_store()): "is this address an
 * account?"  The auth process, the only one that talks to the store,
 * looks it up (Dovecot's userdb, the directory; no password, no bind as
 * the user), remembers the answer for recipient-cache-ttl, and answers
 * with an auth_answer (delay 0, never banned): AUTH_OK an account,
 * AUTH_FAIL none (550 5.1.1), AUTH_TEMPFAIL the store cannot say (451
 * 4.3.0).  A lookup is not a login: the guard never counts it.
 *
 * Payload: u16 length (1 .. AUTH_RCPT_MAX), then the address, lower case
 * as the policy stores it, no octet below 0x21 nor 0x7f.
 */
#define AUTH_MSG_RCPT		18	/* worker -> auth */
#define AUTH_MSG_RCPT_ANSWER	19	/* auth -> worker: an auth_answer */
#define AUTH_RCPT_MAX		256	/* ADDR_PATH_MAX */

struct rcpt_request {
	size_t	len;
	char	addr[AUTH_RCPT_MAX + 1];
};

int	authproto_encode_rcpt(const struct rcpt_request *, void *buf,
	    size_t buflen);
int	authproto_decode_rcpt(const void *buf, size_t len,
	    struct rcpt_request *);

#endif
