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

#endif
