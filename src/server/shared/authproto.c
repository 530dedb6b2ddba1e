/*
 * Encoding of the worker <-> auth messages.
 *
 * Request (all integers in network order):
 *
 *	u8	family		0 (no address), 4 or 6
 *	16	address		IPv4 in the first 4 octets, the rest zero
 *	u16	port
 *	u8	tls		0 or 1
 *	u8	mech		AUTH_MECH_PLAIN or AUTH_MECH_LOGIN
 *	u16	user length	at most AUTH_FIELD_MAX
 *	...	user
 *	u16	password length	at most AUTH_FIELD_MAX
 *	...	password
 *
 * Answer:
 *
 *	u8	result		0 fail, 1 ok, 2 temporary failure
 *	u32	delay_ms	0 for ok; at most AUTHPROTO_DELAY_MAX
 *	u8	banned		0 or 1; 0 for ok
 *
 * There is exactly one encoding of every message: decoding refuses
 * anything else (a stray octet, a nonzero pad, a NUL inside a field), so
 * a decoded message encodes back to the same octets.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "server/shared/authproto.h"

#define FAM_NONE	0
#define FAM_INET	4
#define FAM_INET6	6

#define REQ_FIXED	(1 + 16 + 2 + 1 + 1)
#define ANSWER_LEN	(1 + 4 + 1)

#define RES_FAIL	0
#define RES_OK		1
#define RES_TEMPFAIL	2

/* Ten minutes: more than any configurable delay, less than a timeout. */
#define AUTHPROTO_DELAY_MAX	600000

struct rd {
	const uint8_t	*p;
	size_t		 left;
};

static int	rd_bytes(struct rd *, void *, size_t);
static int	rd_u8(struct rd *, uint8_t *);
static int	rd_u16(struct rd *, uint16_t *);
static int	rd_u32(struct rd *, uint32_t *);
static int	rd_field(struct rd *, char *, size_t *);
static int	valid_field(const char *, size_t);

static int
rd_bytes(struct rd *r, void *out, size_t n)
{
	if (r->left < n)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int
rd_u8(struct rd *r, uint8_t *v)
{
	return rd_bytes(r, v, 1);
}

static int
rd_u16(struct rd *r, uint16_t *v)
{
	uint8_t	b[2];

	if (rd_bytes(r, b, sizeof(b)) == -1)
		return -1;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
	uint8_t	b[4];

	if (rd_bytes(r, b, sizeof(b)) == -1)
		return -1;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

/* A field: u16 length, then the octets; out has AUTH_FIELD_MAX + 1. */
static int
rd_field(struct rd *r, char *out, size_t *outlen)
{
	uint16_t	len;

	if (rd_u16(r, &len) == -1 || len > AUTH_FIELD_MAX ||
	    rd_bytes(r, out, len) == -1)
		return -1;
	out[len] = '\0';
	*outlen = len;
	return valid_field(out, len) ? 0 : -1;
}

/* RFC 4616: no NUL inside a field (and we keep fields as C strings). */
static int
valid_field(const char *s, size_t len)
{
	return len <= AUTH_FIELD_MAX && memchr(s, '\0', len) == NULL;
}

int
authproto_encode_request(const struct auth_request *req, void *buf,
    size_t buflen)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	uint8_t			*p = buf, fam, addr[16];
	uint16_t		 port;
	size_t			 need;

	memset(addr, 0, sizeof(addr));
	switch (req->client.ss_family) {
	case AF_UNSPEC:
		fam = FAM_NONE;
		port = 0;
		break;
	case AF_INET:
		memcpy(&sin, &req->client, sizeof(sin));
		fam = FAM_INET;
		memcpy(addr, &sin.sin_addr, 4);
		port = ntohs(sin.sin_port);
		break;
	case AF_INET6:
		memcpy(&sin6, &req->client, sizeof(sin6));
		fam = FAM_INET6;
		memcpy(addr, &sin6.sin6_addr, 16);
		port = ntohs(sin6.sin6_port);
		break;
	default:
		return -1;
	}
	if ((req->tls != 0 && req->tls != 1) ||
	    (req->mech != AUTH_MECH_PLAIN && req->mech != AUTH_MECH_LOGIN) ||
	    !valid_field(req->user, req->userlen) ||
	    !valid_field(req->pass, req->passlen))
		return -1;
	need = REQ_FIXED + 2 + req->userlen + 2 + req->passlen;
	if (buf == NULL || buflen < need)
		return -1;

	*p++ = fam;
	memcpy(p, addr, sizeof(addr));
	p += sizeof(addr);
	*p++ = (uint8_t)(port >> 8);
	*p++ = (uint8_t)port;
	*p++ = (uint8_t)req->tls;
	*p++ = (uint8_t)req->mech;
	*p++ = (uint8_t)(req->userlen >> 8);
	*p++ = (uint8_t)req->userlen;
	memcpy(p, req->user, req->userlen);
	p += req->userlen;
	*p++ = (uint8_t)(req->passlen >> 8);
	*p++ = (uint8_t)req->passlen;
	memcpy(p, req->pass, req->passlen);
	p += req->passlen;
	return (int)(p - (uint8_t *)buf);
}

int
authproto_decode_request(const void *buf, size_t len,
    struct auth_request *req)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct rd		 r = { buf, len };
	static const uint8_t	 zero[16];
	uint8_t			 fam, addr[16], tls, mech;
	uint16_t		 port;

	memset(req, 0, sizeof(*req));
	if (buf == NULL)
		goto bad;
	if (rd_u8(&r, &fam) == -1 || rd_bytes(&r, addr, sizeof(addr)) == -1 ||
	    rd_u16(&r, &port) == -1 || rd_u8(&r, &tls) == -1 ||
	    rd_u8(&r, &mech) == -1)
		goto bad;
	switch (fam) {
	case FAM_NONE:
		if (memcmp(addr, zero, sizeof(addr)) != 0 || port != 0)
			goto bad;
		req->client.ss_family = AF_UNSPEC;
		break;
	case FAM_INET:
		if (memcmp(addr + 4, zero, 12) != 0)
			goto bad;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, addr, 4);
		sin.sin_port = htons(port);
		memcpy(&req->client, &sin, sizeof(sin));
		break;
	case FAM_INET6:
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, addr, 16);
		sin6.sin6_port = htons(port);
		memcpy(&req->client, &sin6, sizeof(sin6));
		break;
	default:
		goto bad;
	}
	if (tls > 1 || (mech != AUTH_MECH_PLAIN && mech != AUTH_MECH_LOGIN))
		goto bad;
	req->tls = tls;
	req->mech = (enum auth_mech)mech;
	if (rd_field(&r, req->user, &req->userlen) == -1 ||
	    rd_field(&r, req->pass, &req->passlen) == -1 ||
	    r.left != 0)
		goto bad;
	return 0;
bad:
	explicit_bzero(req, sizeof(*req));
	return -1;
}

int
authproto_encode_answer(const struct auth_answer *a, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf, res;

	switch (a->result) {
	case AUTH_FAIL:
		res = RES_FAIL;
		break;
	case AUTH_OK:
		res = RES_OK;
		break;
	case AUTH_TEMPFAIL:
		res = RES_TEMPFAIL;
		break;
	default:
		return -1;
	}
	if ((a->banned != 0 && a->banned != 1) ||
	    a->delay_ms > AUTHPROTO_DELAY_MAX ||
	    (a->result == AUTH_OK && (a->delay_ms != 0 || a->banned)))
		return -1;
	if (buf == NULL || buflen < ANSWER_LEN)
		return -1;
	p[0] = res;
	p[1] = (uint8_t)(a->delay_ms >> 24);
	p[2] = (uint8_t)(a->delay_ms >> 16);
	p[3] = (uint8_t)(a->delay_ms >> 8);
	p[4] = (uint8_t)a->delay_ms;
	p[5] = (uint8_t)a->banned;
	return ANSWER_LEN;
}

int
authproto_decode_answer(const void *buf, size_t len, struct auth_answer *a)
{
	struct rd	r = { buf, len };
	uint8_t		res, banned;
	uint32_t	delay;

	memset(a, 0, sizeof(*a));
	a->result = AUTH_TEMPFAIL;
	if (buf == NULL || rd_u8(&r, &res) == -1 || rd_u32(&r, &delay) == -1 ||
	    rd_u8(&r, &banned) == -1 || r.left != 0)
		return -1;
	if (banned > 1 || delay > AUTHPROTO_DELAY_MAX)
		return -1;
	switch (res) {
	case RES_FAIL:
		a->result = AUTH_FAIL;
		break;
	case RES_OK:
		if (delay != 0 || banned)
			return -1;
		a->result = AUTH_OK;
		break;
	case RES_TEMPFAIL:
		a->result = AUTH_TEMPFAIL;
		break;
	default:
		return -1;
	}
	a->delay_ms = delay;
	a->banned = banned;
	return 0;
}

/*
 * The sending-limit messages (AUTH_MSG_LIMIT, AUTH_MSG_LIMIT_ANSWER).
 *
 * Request:
 *
 *	u8	kind		LIMIT_MESSAGES or LIMIT_RECIPIENTS
 *	u32	count		1 .. LIMIT_COUNT_MAX
 *	u16	account length	1 .. AUTH_FIELD_MAX
 *	...	account
 *
 * Answer:
 *
 *	u8	result		0 over the limit, 1 ok, 2 unknown
 *	u32	retry_secs	0 unless over; at most a year
 */
#define LIMIT_FIXED		(1 + 4)
#define LIMIT_ANSWER_LEN	(1 + 4)
#define LIMIT_RETRY_MAX		31536000

static void	wr_u32(uint8_t *, uint32_t);

static void
wr_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
authproto_encode_limit(const struct limit_request *req, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf;
	size_t	 need;

	if ((req->kind != LIMIT_MESSAGES && req->kind != LIMIT_RECIPIENTS) ||
	    req->count == 0 || req->count > LIMIT_COUNT_MAX ||
	    req->acctlen == 0 || !valid_field(req->account, req->acctlen))
		return -1;
	need = LIMIT_FIXED + 2 + req->acctlen;
	if (buf == NULL || buflen < need)
		return -1;
	*p++ = (uint8_t)req->kind;
	wr_u32(p, req->count);
	p += 4;
	*p++ = (uint8_t)(req->acctlen >> 8);
	*p++ = (uint8_t)req->acctlen;
	memcpy(p, req->account, req->acctlen);
	return (int)need;
}

int
authproto_decode_limit(const void *buf, size_t len, struct limit_request *req)
{
	struct rd	r = { buf, len };
	uint8_t		kind;
	uint32_t	count;

	memset(req, 0, sizeof(*req));
	if (buf == NULL || rd_u8(&r, &kind) == -1 ||
	    rd_u32(&r, &count) == -1 ||
	    (kind != LIMIT_MESSAGES && kind != LIMIT_RECIPIENTS) ||
	    count == 0 || count > LIMIT_COUNT_MAX ||
	    rd_field(&r, req->account, &req->acctlen) == -1 ||
	    req->acctlen == 0 || r.left != 0) {
		memset(req, 0, sizeof(*req));
		return -1;
	}
	req->kind = (enum limit_kind)kind;
	req->count = count;
	return 0;
}

int
authproto_encode_limit_answer(const struct limit_answer *a, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf, res;

	switch (a->result) {
	case AUTH_FAIL:
		res = RES_FAIL;
		break;
	case AUTH_OK:
		res = RES_OK;
		break;
	case AUTH_TEMPFAIL:
		res = RES_TEMPFAIL;
		break;
	default:
		return -1;
	}
	if (a->retry_secs > LIMIT_RETRY_MAX ||
	    (a->result != AUTH_FAIL && a->retry_secs != 0))
		return -1;
	if (buf == NULL || buflen < LIMIT_ANSWER_LEN)
		return -1;
	p[0] = res;
	wr_u32(p + 1, a->retry_secs);
	return LIMIT_ANSWER_LEN;
}

int
authproto_decode_limit_answer(const void *buf, size_t len,
    struct limit_answer *a)
{
	struct rd	r = { buf, len };
	uint8_t		res;
	uint32_t	retry;

	memset(a, 0, sizeof(*a));
	a->result = AUTH_TEMPFAIL;
	if (buf == NULL || rd_u8(&r, &res) == -1 || rd_u32(&r, &retry) == -1 ||
	    r.left != 0 || retry > LIMIT_RETRY_MAX)
		return -1;
	switch (res) {
	case RES_FAIL:
		a->result = AUTH_FAIL;
		break;
	case RES_OK:
	case RES_TEMPFAIL:
		if (retry != 0)
			return -1;
		a->result = res == RES_OK ? AUTH_OK : AUTH_TEMPFAIL;
		break;
	default:
		return -1;
	}
	a->retry_secs = retry;
	return 0;
}
