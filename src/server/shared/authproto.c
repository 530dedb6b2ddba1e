/*
 * Encoding of the worker <-> auth messages.
 *
 * Request (all integers in network order):
 *
 *	u8	family		0 (no address), 4 or 6
 *	16	address		IPv4 in the first 4 octets, the rest zero
 *	u16	port
 *	19	local		the listener's end, the same way; family 0:
 *				not known
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
 * SASL step (AUTH_MSG_SASL):
 *
 *	u8	step		1 start, 2 continue
 *	u32	exchange	0 on start, nonzero on continue
 *   start only:
 *	19	client		family, address and port as above
 *	19	local		the same; family 0: not known
 *	u8	tls		0 or 1
 *	u8	mech length	1 to AUTH_MECH_NAME_MAX, then the name
 *	u8	has data	0 or 1: an initial response
 *	u8	cbind length	at most AUTH_CBIND_MAX, then the octets
 *   both:
 *	u16	data length	at most AUTH_DATA_MAX (0 if no initial
 *				response), then the octets
 *
 * SASL answer (AUTH_MSG_SASL_ANSWER):
 *
 *	u8	result		as above, or 3 continue
 *	u32	delay_ms	as above; 0 for ok and continue
 *	u8	banned		as above; 0 for ok and continue
 *	u32	exchange	nonzero for continue, else 0
 *	u16	challenge len	continue only, else 0; then the octets
 *	u8	user length	ok: 1 or more, else 0; then the name
 *
 * Mechanisms (AUTH_MSG_MECHS):
 *
 *	u8	count		at most AUTH_MECHS_MAX, then for each:
 *	u8	plaintext	0 or 1
 *	u8	name length	1 to AUTH_MECH_NAME_MAX, then the name
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

#define REQ_FIXED	(2 * (1 + 16 + 2) + 1 + 1)
#define ANSWER_LEN	(1 + 4 + 1)

#define RES_FAIL	0
#define RES_OK		1
#define RES_TEMPFAIL	2
#define RES_CONTINUE	3
#define RES_MALFORMED	4
#define ADDR_LEN	(1 + 16 + 2)

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
static uint8_t	*wr_addr(uint8_t *, const struct sockaddr_storage *);
static int	addr_encodable(const struct sockaddr_storage *);
static int	rd_addr(struct rd *, struct sockaddr_storage *);
static uint8_t	*wr_u16(uint8_t *, size_t);
static uint8_t	*wr_u32(uint8_t *, uint32_t);
static int	result_code(enum auth_result, uint8_t *);
static int	result_of(uint8_t, enum auth_result *);
static int	rd_verdict(struct rd *, struct auth_answer *);
static int	rcpt_ok(const char *, size_t);

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

static int
addr_encodable(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_UNSPEC || ss->ss_family == AF_INET ||
	    ss->ss_family == AF_INET6;
}

/* family, address, port; ss is one addr_encodable() accepts. */
static uint8_t *
wr_addr(uint8_t *p, const struct sockaddr_storage *ss)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	uint8_t			 fam = FAM_NONE, addr[16];
	uint16_t		 port = 0;

	memset(addr, 0, sizeof(addr));
	if (ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		fam = FAM_INET;
		memcpy(addr, &sin.sin_addr, 4);
		port = ntohs(sin.sin_port);
	} else if (ss->ss_family == AF_INET6) {
		memcpy(&sin6, ss, sizeof(sin6));
		fam = FAM_INET6;
		memcpy(addr, &sin6.sin6_addr, 16);
		port = ntohs(sin6.sin6_port);
	}
	*p++ = fam;
	memcpy(p, addr, sizeof(addr));
	p += sizeof(addr);
	return wr_u16(p, port);
}

static int
rd_addr(struct rd *r, struct sockaddr_storage *ss)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	static const uint8_t	 zero[16];
	uint8_t			 fam, addr[16];
	uint16_t		 port;

	if (rd_u8(r, &fam) == -1 || rd_bytes(r, addr, sizeof(addr)) == -1 ||
	    rd_u16(r, &port) == -1)
		return -1;
	memset(ss, 0, sizeof(*ss));
	switch (fam) {
	case FAM_NONE:
		if (memcmp(addr, zero, sizeof(addr)) != 0 || port != 0)
			return -1;
		ss->ss_family = AF_UNSPEC;
		return 0;
	case FAM_INET:
		if (memcmp(addr + 4, zero, 12) != 0)
			return -1;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, addr, 4);
		sin.sin_port = htons(port);
		memcpy(ss, &sin, sizeof(sin));
		return 0;
	case FAM_INET6:
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, addr, 16);
		sin6.sin6_port = htons(port);
		memcpy(ss, &sin6, sizeof(sin6));
		return 0;
	}
	return -1;
}

static uint8_t *
wr_u16(uint8_t *p, size_t v)
{
	*p++ = (uint8_t)(v >> 8);
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *
wr_u32(uint8_t *p, uint32_t v)
{
	*p++ = (uint8_t)(v >> 24);
	*p++ = (uint8_t)(v >> 16);
	*p++ = (uint8_t)(v >> 8);
	*p++ = (uint8_t)v;
	return p;
}

int
authproto_mech_name_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > AUTH_MECH_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_'))
			return 0;
	return 1;
}

int
authproto_encode_request(const struct auth_request *req, void *buf,
    size_t buflen)
{
	uint8_t			*p = buf;
	size_t			 need;

	if (!addr_encodable(&req->client) || !addr_encodable(&req->local) ||
	    (req->tls != 0 && req->tls != 1) ||
	    (req->mech != AUTH_MECH_PLAIN && req->mech != AUTH_MECH_LOGIN) ||
	    !valid_field(req->user, req->userlen) ||
	    !valid_field(req->pass, req->passlen))
		return -1;
	need = REQ_FIXED + 2 + req->userlen + 2 + req->passlen;
	if (buf == NULL || buflen < need)
		return -1;

	p = wr_addr(p, &req->client);
	p = wr_addr(p, &req->local);
	*p++ = (uint8_t)req->tls;
	*p++ = (uint8_t)req->mech;
	p = wr_u16(p, req->userlen);
	memcpy(p, req->user, req->userlen);
	p += req->userlen;
	p = wr_u16(p, req->passlen);
	memcpy(p, req->pass, req->passlen);
	p += req->passlen;
	return (int)(p - (uint8_t *)buf);
}

int
authproto_decode_request(const void *buf, size_t len,
    struct auth_request *req)
{
	struct rd		 r = { buf, len };
	uint8_t			 tls, mech;

	memset(req, 0, sizeof(*req));
	if (buf == NULL)
		goto bad;
	if (rd_addr(&r, &req->client) == -1 ||
	    rd_addr(&r, &req->local) == -1 || rd_u8(&r, &tls) == -1 ||
	    rd_u8(&r, &mech) == -1)
		goto bad;
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

static int
result_code(enum auth_result res, uint8_t *code)
{
	switch (res) {
	case AUTH_FAIL:
		*code = RES_FAIL;
		return 0;
	case AUTH_OK:
		*code = RES_OK;
		return 0;
	case AUTH_TEMPFAIL:
		*code = RES_TEMPFAIL;
		return 0;
	case AUTH_CONTINUE:
		*code = RES_CONTINUE;
		return 0;
	case AUTH_MALFORMED:
		*code = RES_MALFORMED;
		return 0;
	}
	return -1;
}

static int
result_of(uint8_t code, enum auth_result *res)
{
	switch (code) {
	case RES_FAIL:
		*res = AUTH_FAIL;
		return 0;
	case RES_OK:
		*res = AUTH_OK;
		return 0;
	case RES_TEMPFAIL:
		*res = AUTH_TEMPFAIL;
		return 0;
	case RES_CONTINUE:
		*res = AUTH_CONTINUE;
		return 0;
	case RES_MALFORMED:
		*res = AUTH_MALFORMED;
		return 0;
	}
	return -1;
}

int
authproto_encode_answer(const struct auth_answer *a, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf, res;

	if (a->result == AUTH_CONTINUE || a->result == AUTH_MALFORMED ||
	    result_code(a->result, &res) == -1)
		return -1;
	if ((a->banned != 0 && a->banned != 1) ||
	    a->delay_ms > AUTHPROTO_DELAY_MAX ||
	    (a->result == AUTH_OK && (a->delay_ms != 0 || a->banned)))
		return -1;
	if (buf == NULL || buflen < ANSWER_LEN)
		return -1;
	*p++ = res;
	p = wr_u32(p, a->delay_ms);
	*p = (uint8_t)a->banned;
	return ANSWER_LEN;
}

/* The verdict part of an answer, checked; the rest stays in r. */
static int
rd_verdict(struct rd *r, struct auth_answer *a)
{
	uint8_t		res, banned;
	uint32_t	delay;

	memset(a, 0, sizeof(*a));
	a->result = AUTH_TEMPFAIL;
	if (rd_u8(r, &res) == -1 || rd_u32(r, &delay) == -1 ||
	    rd_u8(r, &banned) == -1)
		return -1;
	if (banned > 1 || delay > AUTHPROTO_DELAY_MAX ||
	    result_of(res, &a->result) == -1) {
		a->result = AUTH_TEMPFAIL;
		return -1;
	}
	if ((a->result == AUTH_OK || a->result == AUTH_CONTINUE ||
	    a->result == AUTH_MALFORMED) && (delay != 0 || banned)) {
		a->result = AUTH_TEMPFAIL;
		return -1;
	}
	a->delay_ms = delay;
	a->banned = banned;
	return 0;
}

int
authproto_decode_answer(const void *buf, size_t len, struct auth_answer *a)
{
	struct rd	r = { buf, len };

	if (buf == NULL) {
		memset(a, 0, sizeof(*a));
		a->result = AUTH_TEMPFAIL;
		return -1;
	}
	if (rd_verdict(&r, a) == -1 || r.left != 0 ||
	    a->result == AUTH_CONTINUE || a->result == AUTH_MALFORMED) {
		memset(a, 0, sizeof(*a));
		a->result = AUTH_TEMPFAIL;
		return -1;
	}
	return 0;
}

int
authproto_encode_sasl_request(const struct auth_sasl_request *q, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf;
	size_t	 need, mlen = strlen(q->mech);

	if (q->datalen > AUTH_DATA_MAX || q->cblen > AUTH_CBIND_MAX)
		return -1;
	if (q->step == AUTH_STEP_START) {
		if (q->exchange != 0 || !addr_encodable(&q->client) ||
		    !addr_encodable(&q->local) ||
		    (q->tls != 0 && q->tls != 1) ||
		    (q->has_data != 0 && q->has_data != 1) ||
		    (!q->has_data && q->datalen != 0) ||
		    !authproto_mech_name_ok(q->mech, mlen))
			return -1;
		need = 1 + 4 + 2 * ADDR_LEN + 1 + 1 + mlen + 1 + 1 +
		    q->cblen + 2 + q->datalen;
	} else if (q->step == AUTH_STEP_CONTINUE) {
		if (q->exchange == 0)
			return -1;
		need = 1 + 4 + 2 + q->datalen;
	} else
		return -1;
	if (buf == NULL || buflen < need)
		return -1;
	*p++ = (uint8_t)q->step;
	p = wr_u32(p, q->exchange);
	if (q->step == AUTH_STEP_START) {
		p = wr_addr(p, &q->client);
		p = wr_addr(p, &q->local);
		*p++ = (uint8_t)q->tls;
		*p++ = (uint8_t)mlen;
		memcpy(p, q->mech, mlen);
		p += mlen;
		*p++ = (uint8_t)q->has_data;
		*p++ = (uint8_t)q->cblen;
		memcpy(p, q->cb, q->cblen);
		p += q->cblen;
	}
	p = wr_u16(p, q->datalen);
	memcpy(p, q->data, q->datalen);
	p += q->datalen;
	return (int)(p - (uint8_t *)buf);
}

int
authproto_decode_sasl_request(const void *buf, size_t len,
    struct auth_sasl_request *q)
{
	struct rd	r = { buf, len };
	uint8_t		step, tls, mlen, has, cblen;
	uint16_t	dlen;

	memset(q, 0, sizeof(*q));
	if (buf == NULL || rd_u8(&r, &step) == -1 ||
	    rd_u32(&r, &q->exchange) == -1)
		goto bad;
	if (step == AUTH_STEP_START) {
		if (q->exchange != 0 || rd_addr(&r, &q->client) == -1 ||
		    rd_addr(&r, &q->local) == -1 || rd_u8(&r, &tls) == -1 ||
		    tls > 1 || rd_u8(&r, &mlen) == -1 ||
		    mlen > AUTH_MECH_NAME_MAX ||
		    rd_bytes(&r, q->mech, mlen) == -1 ||
		    !authproto_mech_name_ok(q->mech, mlen) ||
		    rd_u8(&r, &has) == -1 || has > 1 ||
		    rd_u8(&r, &cblen) == -1 || cblen > AUTH_CBIND_MAX ||
		    rd_bytes(&r, q->cb, cblen) == -1)
			goto bad;
		q->mech[mlen] = '\0';
		q->tls = tls;
		q->has_data = has;
		q->cblen = cblen;
	} else if (step == AUTH_STEP_CONTINUE) {
		if (q->exchange == 0)
			goto bad;
	} else
		goto bad;
	q->step = (enum auth_step)step;
	if (rd_u16(&r, &dlen) == -1 || dlen > AUTH_DATA_MAX ||
	    rd_bytes(&r, q->data, dlen) == -1 || r.left != 0 ||
	    (step == AUTH_STEP_START && !q->has_data && dlen != 0))
		goto bad;
	q->datalen = dlen;
	return 0;
bad:
	explicit_bzero(q, sizeof(*q));
	return -1;
}

int
authproto_encode_sasl_answer(const struct auth_sasl_answer *s, void *buf,
    size_t buflen)
{
	const struct auth_answer	*a = &s->a;
	uint8_t				*p = buf, res;
	int				 cont = a->result == AUTH_CONTINUE;

	if (result_code(a->result, &res) == -1 ||
	    (a->banned != 0 && a->banned != 1) ||
	    a->delay_ms > AUTHPROTO_DELAY_MAX ||
	    ((a->result == AUTH_OK || cont ||
	    a->result == AUTH_MALFORMED) && (a->delay_ms != 0 ||
	    a->banned)) ||
	    (cont != (s->exchange != 0)) ||
	    s->chlen > AUTH_DATA_MAX || (!cont && s->chlen != 0) ||
	    (a->result == AUTH_OK) != (s->userlen != 0) ||
	    !valid_field(s->user, s->userlen))
		return -1;
	if (buf == NULL || buflen < ANSWER_LEN + 4 + 2 + s->chlen + 1 +
	    s->userlen)
		return -1;
	*p++ = res;
	p = wr_u32(p, a->delay_ms);
	*p++ = (uint8_t)a->banned;
	p = wr_u32(p, s->exchange);
	p = wr_u16(p, s->chlen);
	memcpy(p, s->challenge, s->chlen);
	p += s->chlen;
	*p++ = (uint8_t)s->userlen;
	memcpy(p, s->user, s->userlen);
	p += s->userlen;
	return (int)(p - (uint8_t *)buf);
}

int
authproto_decode_sasl_answer(const void *buf, size_t len,
    struct auth_sasl_answer *s)
{
	struct rd	r = { buf, len };
	uint16_t	chlen;
	uint8_t		ulen;
	int		cont;

	memset(s, 0, sizeof(*s));
	s->a.result = AUTH_TEMPFAIL;
	if (buf == NULL || rd_verdict(&r, &s->a) == -1)
		goto bad;
	cont = s->a.result == AUTH_CONTINUE;
	if (rd_u32(&r, &s->exchange) == -1 || cont != (s->exchange != 0) ||
	    rd_u16(&r, &chlen) == -1 || chlen > AUTH_DATA_MAX ||
	    (!cont && chlen != 0) ||
	    rd_bytes(&r, s->challenge, chlen) == -1 ||
	    rd_u8(&r, &ulen) == -1 ||
	    (s->a.result == AUTH_OK) != (ulen != 0) ||
	    rd_bytes(&r, s->user, ulen) == -1 || r.left != 0 ||
	    !valid_field(s->user, ulen))
		goto bad;
	s->chlen = chlen;
	s->userlen = ulen;
	s->user[ulen] = '\0';
	return 0;
bad:
	memset(s, 0, sizeof(*s));
	s->a.result = AUTH_TEMPFAIL;
	return -1;
}

int
authproto_encode_mechs(const struct auth_mechs *m, void *buf, size_t buflen)
{
	uint8_t	*p = buf;
	size_t	 i, need = 1, l;

	if (m->n > AUTH_MECHS_MAX)
		return -1;
	for (i = 0; i < m->n; i++) {
		l = strlen(m->m[i].name);
		if (!authproto_mech_name_ok(m->m[i].name, l) ||
		    (m->m[i].plaintext != 0 && m->m[i].plaintext != 1))
			return -1;
		need += 2 + l;
	}
	if (buf == NULL || buflen < need)
		return -1;
	*p++ = (uint8_t)m->n;
	for (i = 0; i < m->n; i++) {
		l = strlen(m->m[i].name);
		*p++ = (uint8_t)m->m[i].plaintext;
		*p++ = (uint8_t)l;
		memcpy(p, m->m[i].name, l);
		p += l;
	}
	return (int)(p - (uint8_t *)buf);
}

int
authproto_decode_mechs(const void *buf, size_t len, struct auth_mechs *m)
{
	struct rd	r = { buf, len };
	uint8_t		n, pt, l;
	size_t		i;

	memset(m, 0, sizeof(*m));
	if (buf == NULL || rd_u8(&r, &n) == -1 || n > AUTH_MECHS_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (rd_u8(&r, &pt) == -1 || pt > 1 || rd_u8(&r, &l) == -1 ||
		    l > AUTH_MECH_NAME_MAX ||
		    rd_bytes(&r, m->m[i].name, l) == -1 ||
		    !authproto_mech_name_ok(m->m[i].name, l))
			goto bad;
		m->m[i].name[l] = '\0';
		m->m[i].plaintext = pt;
	}
	if (r.left != 0)
		goto bad;
	m->n = n;
	return 0;
bad:
	memset(m, 0, sizeof(*m));
	return -1;
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

/* An address to look up: printable ASCII and UTF-8, no space, no DEL. */
static int
rcpt_ok(const char *addr, size_t len)
{
	size_t	i;

	if (len == 0 || len > AUTH_RCPT_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((uint8_t)addr[i] <= 0x20 || (uint8_t)addr[i] == 0x7f)
			return 0;
	return 1;
}

int
authproto_encode_rcpt(const struct rcpt_request *req, void *buf,
    size_t buflen)
{
	uint8_t	*p = buf;

	if (!rcpt_ok(req->addr, req->len) || buf == NULL ||
	    buflen < 2 + req->len)
		return -1;
	p = wr_u16(p, req->len);
	memcpy(p, req->addr, req->len);
	return (int)(2 + req->len);
}

int
authproto_decode_rcpt(const void *buf, size_t len, struct rcpt_request *req)
{
	struct rd	r = { buf, len };
	uint16_t	n;

	memset(req, 0, sizeof(*req));
	if (buf == NULL || rd_u16(&r, &n) == -1 || n > AUTH_RCPT_MAX ||
	    rd_bytes(&r, req->addr, n) == -1 || r.left != 0 ||
	    !rcpt_ok(req->addr, n)) {
		memset(req, 0, sizeof(*req));
		return -1;
	}
	req->len = n;
	return 0;
}
