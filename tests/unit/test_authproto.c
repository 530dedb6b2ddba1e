/*
 * Unit tests for the worker <-> auth message encoding: round trips, and
 * every truncation, extension and corruption of a valid message is either
 * refused or decodes to a message that encodes back to the same octets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "common/ipc.h"
#include "server/shared/authproto.h"

static void
mkreq(struct auth_request *r, int family, const char *ip, unsigned port,
    int tls, enum auth_mech mech, const char *user, size_t ulen,
    const char *pass, size_t plen)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(r, 0, sizeof(*r));
	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(&r->client, &sin, sizeof(sin));
	} else if (family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(&r->client, &sin6, sizeof(sin6));
	} else
		r->client.ss_family = (sa_family_t)family;
	r->tls = tls;
	r->mech = mech;
	memcpy(r->user, user, ulen);
	r->userlen = ulen;
	memcpy(r->pass, pass, plen);
	r->passlen = plen;
}

static void
assert_req_equal(const struct auth_request *a, const struct auth_request *b)
{
	assert_int_equal(a->client.ss_family, b->client.ss_family);
	if (a->client.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->client;
		const struct sockaddr_in *y = (const void *)&b->client;

		assert_memory_equal(&x->sin_addr, &y->sin_addr, 4);
		assert_int_equal(x->sin_port, y->sin_port);
	} else if (a->client.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->client;
		const struct sockaddr_in6 *y = (const void *)&b->client;

		assert_memory_equal(&x->sin6_addr, &y->sin6_addr, 16);
		assert_int_equal(x->sin6_port, y->sin6_port);
	}
	assert_int_equal(a->tls, b->tls);
	assert_int_equal(a->mech, b->mech);
	assert_int_equal(a->userlen, b->userlen);
	assert_memory_equal(a->user, b->user, a->userlen);
	assert_int_equal(a->user[a->userlen], '\0');
	assert_int_equal(a->passlen, b->passlen);
	assert_memory_equal(a->pass, b->pass, a->passlen);
	assert_int_equal(a->pass[a->passlen], '\0');
}

/*
 * Decoding buf must fail, or succeed and encode back to the same octets
 * (the encoding is canonical).
 */
static int
check_canonical(const uint8_t *buf, size_t len)
{
	struct auth_request	r;
	uint8_t			again[IPC_MAX_PAYLOAD];
	int			n;

	if (authproto_decode_request(buf, len, &r) == -1)
		return 0;
	n = authproto_encode_request(&r, again, sizeof(again));
	assert_int_equal(n, (int)len);
	assert_memory_equal(again, buf, len);
	return 1;
}

static void
test_request_roundtrip(void **state)
{
	struct auth_request	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	char			max[AUTH_FIELD_MAX];
	int			n;

	memset(max, 'm', sizeof(max));
	max[100] = (char)0xc3;	/* any octet but NUL */
	max[101] = '\n';

	mkreq(&in, AF_INET, "192.0.2.1", 25, 1, AUTH_MECH_PLAIN,
	    "alice@example.org", 17, "secret", 6);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_int_equal(n, 40 + 2 + 17 + 2 + 6);
	assert_int_equal(authproto_decode_request(buf, (size_t)n, &out), 0);
	assert_req_equal(&in, &out);

	mkreq(&in, AF_INET6, "2001:db8::1", 65535, 0, AUTH_MECH_LOGIN,
	    "bob", 3, "p", 1);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(authproto_decode_request(buf, (size_t)n, &out), 0);
	assert_req_equal(&in, &out);

	/* The listener's end travels too (Dovecot's lip= and lport=). */
	{
		struct sockaddr_in	sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(587);
		assert_int_equal(inet_pton(AF_INET, "198.51.100.7",
		    &sin.sin_addr), 1);
		memcpy(&in.local, &sin, sizeof(sin));
		n = authproto_encode_request(&in, buf, sizeof(buf));
		assert_int_equal(n, 40 + 2 + 3 + 2 + 1);
		assert_int_equal(authproto_decode_request(buf, (size_t)n,
		    &out), 0);
		assert_int_equal(out.local.ss_family, AF_INET);
		assert_memory_equal(&out.local, &sin, sizeof(sin));
	}

	mkreq(&in, AF_INET6, "::ffff:198.51.100.4", 0, 1, AUTH_MECH_PLAIN,
	    "", 0, "", 0);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_int_equal(n, 40 + 4);
	assert_int_equal(authproto_decode_request(buf, (size_t)n, &out), 0);
	assert_req_equal(&in, &out);

	mkreq(&in, AF_UNSPEC, NULL, 0, 0, AUTH_MECH_PLAIN, max, sizeof(max),
	    max, sizeof(max));
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_int_equal(n, 40 + 4 + 2 * AUTH_FIELD_MAX);
	assert_true(n <= IPC_MAX_PAYLOAD);
	assert_int_equal(authproto_decode_request(buf, (size_t)n, &out), 0);
	assert_req_equal(&in, &out);
}

static void
test_request_encode_refuses(void **state)
{
	struct auth_request	r;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	int			n;
	size_t			i;

	mkreq(&r, AF_INET, "192.0.2.1", 25, 1, AUTH_MECH_PLAIN, "u", 1,
	    "p", 1);
	n = authproto_encode_request(&r, buf, sizeof(buf));
	assert_true(n > 0);
	/* Every buffer too small. */
	for (i = 0; i < (size_t)n; i++)
		assert_int_equal(authproto_encode_request(&r, buf, i), -1);

	r.userlen = AUTH_FIELD_MAX + 1;
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	r.userlen = 1;
	r.passlen = AUTH_FIELD_MAX + 1;
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	r.passlen = 1;
	r.tls = 2;
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	r.tls = 0;
	r.mech = (enum auth_mech)3;
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	r.mech = AUTH_MECH_LOGIN;
	mkreq(&r, AF_INET, "192.0.2.1", 25, 1, AUTH_MECH_PLAIN, "a\0b", 3,
	    "p", 1);
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	mkreq(&r, AF_INET, "192.0.2.1", 25, 1, AUTH_MECH_PLAIN, "a", 1,
	    "p\0q", 3);
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
	mkreq(&r, AF_UNIX, NULL, 0, 0, AUTH_MECH_PLAIN, "a", 1, "p", 1);
	assert_int_equal(authproto_encode_request(&r, buf, sizeof(buf)), -1);
}

static void
test_request_truncated(void **state)
{
	struct auth_request	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	int			n;
	size_t			i;

	mkreq(&in, AF_INET6, "2001:db8::7", 587, 1, AUTH_MECH_LOGIN,
	    "someone@example.org", 19, "hunter2", 7);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_true(n > 0);
	for (i = 0; i < (size_t)n; i++)
		assert_int_equal(authproto_decode_request(buf, i, &out), -1);
	/* And one octet too many. */
	buf[n] = 0;
	assert_int_equal(authproto_decode_request(buf, (size_t)n + 1, &out),
	    -1);
	assert_int_equal(authproto_decode_request(NULL, 0, &out), -1);
}

static void
test_request_corrupt(void **state)
{
	struct auth_request	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD], bad[IPC_MAX_PAYLOAD];
	int			n, v;
	size_t			i;

	mkreq(&in, AF_INET, "192.0.2.1", 2525, 0, AUTH_MECH_PLAIN,
	    "u@example.org", 13, "pw", 2);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_true(n > 0);

	/* Family: only 0, 4 and 6. */
	for (v = 0; v < 256; v++) {
		memcpy(bad, buf, (size_t)n);
		bad[0] = (uint8_t)v;
		if (v == 6)
			assert_int_equal(authproto_decode_request(bad,
			    (size_t)n, &out), 0);
		else if (v != 4)
			assert_int_equal(authproto_decode_request(bad,
			    (size_t)n, &out), -1);
	}
	/* IPv4: the 12 octets after the address are zero. */
	for (i = 5; i < 17; i++) {
		memcpy(bad, buf, (size_t)n);
		bad[i] = 1;
		assert_int_equal(authproto_decode_request(bad, (size_t)n, &out),
		    -1);
	}
	/* No address: no address octet, no port. */
	memcpy(bad, buf, (size_t)n);
	bad[0] = 0;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	memset(bad + 1, 0, 16);
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	bad[17] = bad[18] = 0;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), 0);
	assert_int_equal(out.client.ss_family, AF_UNSPEC);
	/* tls 0/1, mech 1/2. */
	memcpy(bad, buf, (size_t)n);
	bad[38] = 2;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	memcpy(bad, buf, (size_t)n);
	bad[39] = 0;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	bad[39] = 3;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	/* Lengths: too long for the field, or for the message. */
	memcpy(bad, buf, (size_t)n);
	bad[40] = 0x01;		/* userlen 256 + 13 */
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	memcpy(bad, buf, (size_t)n);
	bad[41] = 14;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	bad[41] = 12;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	memcpy(bad, buf, (size_t)n);
	bad[42 + 13 + 1] = 3;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	bad[42 + 13 + 1] = 1;
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	/* NUL inside a field. */
	memcpy(bad, buf, (size_t)n);
	bad[42 + 1] = '\0';
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);
	memcpy(bad, buf, (size_t)n);
	bad[n - 1] = '\0';
	assert_int_equal(authproto_decode_request(bad, (size_t)n, &out), -1);

	/* 255 is allowed, 256 is not, even with the octets there. */
	{
		uint8_t	big[600];
		size_t	len;

		memset(big, 'a', sizeof(big));
		memcpy(big, buf, 40);
		big[40] = 0;
		big[41] = 255;
		big[42 + 255] = 0;
		big[43 + 255] = 1;
		len = 42 + 255 + 2 + 1;
		assert_int_equal(authproto_decode_request(big, len, &out), 0);
		assert_int_equal(out.userlen, 255);
		big[40] = 1;
		big[41] = 0;
		big[42 + 256] = 0;
		big[43 + 256] = 1;
		len = 42 + 256 + 2 + 1;
		assert_int_equal(authproto_decode_request(big, len, &out), -1);
	}
}

/* Every single-octet change: refused, or canonical. */
static void
test_request_every_octet(void **state)
{
	struct auth_request	in;
	uint8_t			buf[IPC_MAX_PAYLOAD], bad[IPC_MAX_PAYLOAD];
	int			n, v, accepted = 0;
	size_t			i;

	mkreq(&in, AF_INET6, "2001:db8:aa::1", 465, 1, AUTH_MECH_PLAIN,
	    "x@y.example", 11, "letmein", 7);
	n = authproto_encode_request(&in, buf, sizeof(buf));
	assert_true(n > 0);
	for (i = 0; i < (size_t)n; i++)
		for (v = 0; v < 256; v++) {
			memcpy(bad, buf, (size_t)n);
			bad[i] = (uint8_t)v;
			accepted += check_canonical(bad, (size_t)n);
		}
	assert_true(accepted > 0);
}

static void
test_answer_roundtrip(void **state)
{
	static const struct auth_answer	ok[] = {
		{ AUTH_OK, 0, 0 },
		{ AUTH_FAIL, 0, 0 },
		{ AUTH_FAIL, 1000, 0 },
		{ AUTH_FAIL, 6000, 1 },
		{ AUTH_FAIL, 600000, 1 },
		{ AUTH_TEMPFAIL, 0, 0 },
		{ AUTH_TEMPFAIL, 5, 1 },
	};
	struct auth_answer	out;
	uint8_t			buf[16];
	size_t			i;
	int			n;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = authproto_encode_answer(&ok[i], buf, sizeof(buf));
		assert_int_equal(n, 6);
		assert_int_equal(authproto_decode_answer(buf, 6, &out), 0);
		assert_int_equal(out.result, ok[i].result);
		assert_int_equal(out.delay_ms, ok[i].delay_ms);
		assert_int_equal(out.banned, ok[i].banned);
		assert_int_equal(authproto_encode_answer(&ok[i], buf, 5), -1);
	}
}

static void
test_answer_refused(void **state)
{
	static const struct auth_answer	bad[] = {
		{ AUTH_OK, 1, 0 },
		{ AUTH_OK, 0, 1 },
		{ AUTH_FAIL, 600001, 0 },
		{ AUTH_FAIL, 0, 2 },
		{ (enum auth_result)2, 0, 0 },
		{ (enum auth_result)-2, 0, 0 },
	};
	static const uint8_t	raw[][7] = {
		{ 3, 0, 0, 0, 0, 0 },		/* result */
		{ 0xff, 0, 0, 0, 0, 0 },
		{ 0, 0, 0, 0, 0, 2 },		/* banned */
		{ 1, 0, 0, 0, 1, 0 },		/* ok with a delay */
		{ 1, 0, 0, 0, 0, 1 },		/* ok and banned */
		{ 0, 0, 9, 0x27, 0xc1, 0 },	/* 600001 ms */
		{ 0, 0xff, 0xff, 0xff, 0xff, 0 },
	};
	struct auth_answer	out;
	uint8_t			buf[16];
	size_t			i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(authproto_encode_answer(&bad[i], buf,
		    sizeof(buf)), -1);
	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		assert_int_equal(authproto_decode_answer(raw[i], 6, &out),
		    -1);
		assert_int_equal(out.result, AUTH_TEMPFAIL);
	}
	/* Truncated and extended. */
	assert_int_equal(authproto_encode_answer(&(struct auth_answer){
	    AUTH_FAIL, 1000, 1 }, buf, sizeof(buf)), 6);
	for (len = 0; len < 6; len++)
		assert_int_equal(authproto_decode_answer(buf, len, &out), -1);
	buf[6] = 0;
	assert_int_equal(authproto_decode_answer(buf, 7, &out), -1);
	assert_int_equal(authproto_decode_answer(NULL, 0, &out), -1);
}

static void
test_answer_every_octet(void **state)
{
	struct auth_answer	a;
	uint8_t			buf[16], again[16];
	int			v;
	size_t			i;

	assert_int_equal(authproto_encode_answer(&(struct auth_answer){
	    AUTH_FAIL, 1250, 0 }, buf, sizeof(buf)), 6);
	for (i = 0; i < 6; i++)
		for (v = 0; v < 256; v++) {
			uint8_t bad[6];

			memcpy(bad, buf, 6);
			bad[i] = (uint8_t)v;
			if (authproto_decode_answer(bad, 6, &a) == -1)
				continue;
			assert_int_equal(authproto_encode_answer(&a, again,
			    sizeof(again)), 6);
			assert_memory_equal(again, bad, 6);
		}
}

static void
mksasl(struct auth_sasl_request *q, enum auth_step step)
{
	struct sockaddr_in	sin;

	memset(q, 0, sizeof(*q));
	q->step = step;
	if (step == AUTH_STEP_CONTINUE) {
		q->exchange = 77;
		memcpy(q->data, "c=biws,r=abc,p=xyz", 18);
		q->datalen = 18;
		return;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr), 1);
	memcpy(&q->client, &sin, sizeof(sin));
	sin.sin_port = htons(587);
	memcpy(&q->local, &sin, sizeof(sin));
	q->tls = 1;
	snprintf(q->mech, sizeof(q->mech), "SCRAM-SHA-256-PLUS");
	q->has_data = 1;
	memcpy(q->data, "p=tls-exporter,,n=u,r=n", 23);
	q->datalen = 23;
	memset(q->cb, 0xab, 32);
	q->cblen = 32;
}

/* Decode must fail, or succeed and encode back to the same octets. */
static int
sasl_canonical(const uint8_t *buf, size_t len)
{
	struct auth_sasl_request	q;
	uint8_t				again[IPC_MAX_PAYLOAD];
	int				n;

	if (authproto_decode_sasl_request(buf, len, &q) == -1)
		return 0;
	n = authproto_encode_sasl_request(&q, again, sizeof(again));
	assert_int_equal(n, (int)len);
	assert_memory_equal(again, buf, len);
	return 1;
}

static void
test_sasl_request(void **state)
{
	struct auth_sasl_request	in, out;
	uint8_t				buf[IPC_MAX_PAYLOAD];
	uint8_t				bad[IPC_MAX_PAYLOAD];
	int				n, v, accepted = 0;
	size_t				i;
	enum auth_step			steps[] = { AUTH_STEP_START,
					    AUTH_STEP_CONTINUE };
	size_t				k;

	for (k = 0; k < 2; k++) {
		mksasl(&in, steps[k]);
		n = authproto_encode_sasl_request(&in, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(authproto_decode_sasl_request(buf, (size_t)n,
		    &out), 0);
		assert_int_equal(out.step, in.step);
		assert_int_equal(out.exchange, in.exchange);
		assert_int_equal(out.datalen, in.datalen);
		assert_memory_equal(out.data, in.data, in.datalen);
		assert_string_equal(out.mech, in.mech);
		assert_int_equal(out.cblen, in.cblen);
		assert_int_equal(out.tls, in.tls);
		assert_memory_equal(&out.client, &in.client,
		    sizeof(struct sockaddr_in));
		assert_memory_equal(&out.local, &in.local,
		    sizeof(struct sockaddr_in));
		for (i = 0; i < (size_t)n; i++) {
			assert_int_equal(authproto_encode_sasl_request(&in,
			    buf, i), -1);
			assert_int_equal(authproto_decode_sasl_request(buf, i,
			    &out), -1);
		}
		buf[n] = 0;
		assert_int_equal(authproto_decode_sasl_request(buf,
		    (size_t)n + 1, &out), -1);
		for (i = 0; i < (size_t)n; i++)
			for (v = 0; v < 256; v++) {
				memcpy(bad, buf, (size_t)n);
				bad[i] = (uint8_t)v;
				accepted += sasl_canonical(bad, (size_t)n);
			}
	}
	assert_true(accepted > 0);

	/* What the encoder refuses. */
	mksasl(&in, AUTH_STEP_START);
	snprintf(in.mech, sizeof(in.mech), "scram");	/* lower case */
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_START);
	in.mech[0] = '\0';
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_START);
	in.has_data = 0;	/* but data */
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_START);
	in.exchange = 1;
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_START);
	in.cblen = AUTH_CBIND_MAX + 1;
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_CONTINUE);
	in.exchange = 0;
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	mksasl(&in, AUTH_STEP_CONTINUE);
	in.datalen = AUTH_DATA_MAX + 1;
	assert_int_equal(authproto_encode_sasl_request(&in, buf,
	    sizeof(buf)), -1);
	/* The largest message fits one IPC payload. */
	mksasl(&in, AUTH_STEP_START);
	snprintf(in.mech, sizeof(in.mech), "ABCDEFGHIJKLMNOPQRST");
	in.datalen = AUTH_DATA_MAX;
	in.cblen = AUTH_CBIND_MAX;
	n = authproto_encode_sasl_request(&in, buf, sizeof(buf));
	assert_true(n > 0 && n <= IPC_MAX_PAYLOAD);
}

static void
test_sasl_answer(void **state)
{
	struct auth_sasl_answer	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD], bad[IPC_MAX_PAYLOAD];
	uint8_t			again[IPC_MAX_PAYLOAD];
	int			n, v, m;
	size_t			i, k;

	for (k = 0; k < 4; k++) {
		memset(&in, 0, sizeof(in));
		if (k == 3)
			in.a.result = AUTH_MALFORMED;
		else if (k == 0) {
			in.a.result = AUTH_CONTINUE;
			in.exchange = 9;
			memcpy(in.challenge, "r=abc,s=c2FsdA==,i=4096", 23);
			in.chlen = 23;
		} else if (k == 1) {
			in.a.result = AUTH_OK;
			memcpy(in.user, "alice", 5);
			in.userlen = 5;
		} else {
			in.a.result = AUTH_FAIL;
			in.a.delay_ms = 1500;
			in.a.banned = 1;
		}
		n = authproto_encode_sasl_answer(&in, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(authproto_decode_sasl_answer(buf, (size_t)n,
		    &out), 0);
		assert_int_equal(out.a.result, in.a.result);
		assert_int_equal(out.a.delay_ms, in.a.delay_ms);
		assert_int_equal(out.a.banned, in.a.banned);
		assert_int_equal(out.exchange, in.exchange);
		assert_int_equal(out.chlen, in.chlen);
		assert_memory_equal(out.challenge, in.challenge, in.chlen);
		assert_int_equal(out.userlen, in.userlen);
		assert_memory_equal(out.user, in.user, in.userlen + 1);
		for (i = 0; i < (size_t)n; i++)
			assert_int_equal(authproto_decode_sasl_answer(buf, i,
			    &out), -1);
		/* A SASL answer is not a plain one, nor the reverse. */
		assert_int_equal(authproto_decode_answer(buf, (size_t)n,
		    &out.a), -1);
		for (i = 0; i < (size_t)n; i++)
			for (v = 0; v < 256; v++) {
				memcpy(bad, buf, (size_t)n);
				bad[i] = (uint8_t)v;
				if (authproto_decode_sasl_answer(bad, (size_t)n,
				    &out) == -1)
					continue;
				m = authproto_encode_sasl_answer(&out, again,
				    sizeof(again));
				assert_int_equal(m, n);
				assert_memory_equal(again, bad, (size_t)n);
			}
	}
	/* Refused: ok without a name, continue without an exchange, a
	 * challenge with a verdict, a delay on ok. */
	memset(&in, 0, sizeof(in));
	in.a.result = AUTH_OK;
	assert_int_equal(authproto_encode_sasl_answer(&in, buf, sizeof(buf)),
	    -1);
	in.a.result = AUTH_CONTINUE;
	assert_int_equal(authproto_encode_sasl_answer(&in, buf, sizeof(buf)),
	    -1);
	in.a.result = AUTH_FAIL;
	in.chlen = 1;
	assert_int_equal(authproto_encode_sasl_answer(&in, buf, sizeof(buf)),
	    -1);
	in.chlen = 0;
	in.a.result = AUTH_OK;
	in.userlen = 1;
	in.user[0] = 'u';
	in.a.delay_ms = 1;
	assert_int_equal(authproto_encode_sasl_answer(&in, buf, sizeof(buf)),
	    -1);
	/* Malformed is answered at once: no delay, no ban. */
	memset(&in, 0, sizeof(in));
	in.a.result = AUTH_MALFORMED;
	in.a.delay_ms = 1;
	assert_int_equal(authproto_encode_sasl_answer(&in, buf, sizeof(buf)),
	    -1);
	/* The plain answer never carries AUTH_CONTINUE or AUTH_MALFORMED. */
	assert_int_equal(authproto_encode_answer(&(struct auth_answer){
	    AUTH_CONTINUE, 0, 0 }, buf, sizeof(buf)), -1);
	assert_int_equal(authproto_encode_answer(&(struct auth_answer){
	    AUTH_MALFORMED, 0, 0 }, buf, sizeof(buf)), -1);
}

static void
test_mechs(void **state)
{
	struct auth_mechs	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD], bad[IPC_MAX_PAYLOAD];
	uint8_t			again[IPC_MAX_PAYLOAD];
	int			n, v;
	size_t			i;

	memset(&in, 0, sizeof(in));
	snprintf(in.m[0].name, sizeof(in.m[0].name), "PLAIN");
	in.m[0].plaintext = 1;
	snprintf(in.m[1].name, sizeof(in.m[1].name), "SCRAM-SHA-256");
	in.n = 2;
	n = authproto_encode_mechs(&in, buf, sizeof(buf));
	assert_int_equal(n, 1 + 2 + 5 + 2 + 13);
	assert_int_equal(authproto_decode_mechs(buf, (size_t)n, &out), 0);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.m[1].name, "SCRAM-SHA-256");
	assert_int_equal(out.m[0].plaintext, 1);
	assert_int_equal(out.m[1].plaintext, 0);
	for (i = 0; i < (size_t)n; i++)
		assert_int_equal(authproto_decode_mechs(buf, i, &out), -1);
	for (i = 0; i < (size_t)n; i++)
		for (v = 0; v < 256; v++) {
			memcpy(bad, buf, (size_t)n);
			bad[i] = (uint8_t)v;
			if (authproto_decode_mechs(bad, (size_t)n, &out) == -1)
				continue;
			assert_int_equal(authproto_encode_mechs(&out, again,
			    sizeof(again)), n);
			assert_memory_equal(again, bad, (size_t)n);
		}
	in.n = AUTH_MECHS_MAX + 1;
	assert_int_equal(authproto_encode_mechs(&in, buf, sizeof(buf)), -1);
	in.n = 1;
	snprintf(in.m[0].name, sizeof(in.m[0].name), "a b");
	assert_int_equal(authproto_encode_mechs(&in, buf, sizeof(buf)), -1);
}

/* The recipient lookup (AUTH_MSG_RCPT): one encoding, bounded. */
static void
test_rcpt(void **state)
{
	struct rcpt_request	in, out;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	int			n;

	memset(&in, 0, sizeof(in));
	in.len = strlen("alice@example.org");
	memcpy(in.addr, "alice@example.org", in.len);
	n = authproto_encode_rcpt(&in, buf, sizeof(buf));
	assert_int_equal(n, 2 + 17);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 17);
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), 0);
	assert_int_equal(out.len, 17);
	assert_string_equal(out.addr, "alice@example.org");
	/* Too short a buffer, a stray octet, a short one. */
	assert_int_equal(authproto_encode_rcpt(&in, buf, 18), -1);
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n + 1, &out), -1);
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n - 1, &out), -1);
	/* No control octet, space, DEL or NUL: Dovecot's line stays one. */
	buf[2 + 5] = '\t';
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), -1);
	buf[2 + 5] = ' ';
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), -1);
	buf[2 + 5] = 0x7f;
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), -1);
	buf[2 + 5] = '\0';
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), -1);
	buf[2 + 5] = (char)0xc3;	/* UTF-8 is an address's right */
	assert_int_equal(authproto_decode_rcpt(buf, (size_t)n, &out), 0);
	/* Empty, and AUTH_RCPT_MAX + 1. */
	in.len = 0;
	assert_int_equal(authproto_encode_rcpt(&in, buf, sizeof(buf)), -1);
	buf[0] = 0;
	buf[1] = 0;
	assert_int_equal(authproto_decode_rcpt(buf, 2, &out), -1);
	memset(in.addr, 'a', sizeof(in.addr));
	in.len = AUTH_RCPT_MAX;
	assert_int_equal(authproto_encode_rcpt(&in, buf, sizeof(buf)),
	    2 + AUTH_RCPT_MAX);
	buf[0] = (AUTH_RCPT_MAX + 1) >> 8;
	buf[1] = (AUTH_RCPT_MAX + 1) & 0xff;
	buf[2 + AUTH_RCPT_MAX] = 'a';
	assert_int_equal(authproto_decode_rcpt(buf, 3 + AUTH_RCPT_MAX, &out),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_encode_refuses),
		cmocka_unit_test(test_request_truncated),
		cmocka_unit_test(test_request_corrupt),
		cmocka_unit_test(test_request_every_octet),
		cmocka_unit_test(test_answer_roundtrip),
		cmocka_unit_test(test_answer_refused),
		cmocka_unit_test(test_answer_every_octet),
		cmocka_unit_test(test_sasl_request),
		cmocka_unit_test(test_sasl_answer),
		cmocka_unit_test(test_mechs),
		cmocka_unit_test(test_rcpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
