/*
 * libFuzzer harness for the worker <-> auth messages: any octets decode
 * as a request, an answer, both or neither, never a crash; whatever
 * decodes encodes back to exactly the same octets (one encoding per
 * message), and decodes again to the same message.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/ipc.h"
#include "server/shared/authproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
static void	fuzz_sasl(const uint8_t *, size_t);
static void	fuzz_rcpt(const uint8_t *, size_t);

static void
same_request(const struct auth_request *a, const struct auth_request *b)
{
	assert(a->client.ss_family == b->client.ss_family);
	assert(memcmp(&a->client, &b->client, sizeof(a->client)) == 0);
	assert(memcmp(&a->local, &b->local, sizeof(a->local)) == 0);
	assert(a->tls == b->tls && a->mech == b->mech);
	assert(a->userlen == b->userlen && a->userlen <= AUTH_FIELD_MAX);
	assert(memcmp(a->user, b->user, a->userlen + 1) == 0);
	assert(a->passlen == b->passlen && a->passlen <= AUTH_FIELD_MAX);
	assert(memcmp(a->pass, b->pass, a->passlen + 1) == 0);
	assert(memchr(a->user, '\0', a->userlen) == NULL);
	assert(memchr(a->pass, '\0', a->passlen) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_request	req, req2;
	struct auth_answer	ans, ans2;
	uint8_t			buf[IPC_MAX_PAYLOAD];
	int			n;

	if (authproto_decode_request(data, size, &req) == 0) {
		n = authproto_encode_request(&req, buf, sizeof(buf));
		assert(n >= 0 && (size_t)n == size);
		assert(memcmp(buf, data, size) == 0);
		/* One octet less room than needed: refused, no overflow. */
		assert(authproto_encode_request(&req, buf, size - 1) == -1);
		assert(authproto_decode_request(buf, (size_t)n, &req2) == 0);
		same_request(&req, &req2);
	}
	if (authproto_decode_answer(data, size, &ans) == 0) {
		n = authproto_encode_answer(&ans, buf, sizeof(buf));
		assert(n >= 0 && (size_t)n == size);
		assert(memcmp(buf, data, size) == 0);
		assert(authproto_decode_answer(buf, (size_t)n, &ans2) == 0);
		assert(ans.result == ans2.result &&
		    ans.delay_ms == ans2.delay_ms && ans.banned == ans2.banned);
		assert(ans.result == AUTH_OK || ans.result == AUTH_FAIL ||
		    ans.result == AUTH_TEMPFAIL);
	}
	fuzz_sasl(data, size);
	fuzz_rcpt(data, size);
	return 0;
}

/* The recipient lookup: canonical, bounded, no space nor control octet. */
static void
fuzz_rcpt(const uint8_t *data, size_t size)
{
	static struct rcpt_request	r;
	static uint8_t			buf[IPC_MAX_PAYLOAD];
	size_t				i;
	int				n;

	if (authproto_decode_rcpt(data, size, &r) != 0)
		return;
	assert(r.len > 0 && r.len <= AUTH_RCPT_MAX && r.addr[r.len] == '\0');
	for (i = 0; i < r.len; i++)
		assert((uint8_t)r.addr[i] > 0x20 && (uint8_t)r.addr[i] != 0x7f);
	n = authproto_encode_rcpt(&r, buf, sizeof(buf));
	assert(n >= 0 && (size_t)n == size && memcmp(buf, data, size) == 0);
	assert(authproto_encode_rcpt(&r, buf, size - 1) == -1);
}

/* The SASL step, its answer and the mechanism list: canonical too. */
static void
fuzz_sasl(const uint8_t *data, size_t size)
{
	static struct auth_sasl_request	q;
	static struct auth_sasl_answer	a;
	static struct auth_mechs	m;
	static uint8_t			buf[IPC_MAX_PAYLOAD];
	int				n;

	if (authproto_decode_sasl_request(data, size, &q) == 0) {
		n = authproto_encode_sasl_request(&q, buf, sizeof(buf));
		assert(n >= 0 && (size_t)n == size);
		assert(memcmp(buf, data, size) == 0);
		assert(q.datalen <= AUTH_DATA_MAX && q.cblen <= AUTH_CBIND_MAX);
	}
	if (authproto_decode_sasl_answer(data, size, &a) == 0) {
		n = authproto_encode_sasl_answer(&a, buf, sizeof(buf));
		assert(n >= 0 && (size_t)n == size);
		assert(memcmp(buf, data, size) == 0);
		assert(a.chlen <= AUTH_DATA_MAX);
	}
	if (authproto_decode_mechs(data, size, &m) == 0) {
		n = authproto_encode_mechs(&m, buf, sizeof(buf));
		assert(n >= 0 && (size_t)n == size);
		assert(memcmp(buf, data, size) == 0);
	}
}
