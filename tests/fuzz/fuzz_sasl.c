/*
 * libFuzzer harness for the server's SASL decoding.  The input is tried
 * as a decoded PLAIN message, as the base64 text of one, as a LOGIN
 * answer and through the tester's inspector.  Invariants: an accepted
 * message has fields within bounds, NUL-terminated, without NUL, CR or
 * LF, in UTF-8, with an authzid empty or equal to the authcid; a refused
 * one leaves nothing behind; the raw and base64 paths agree.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_field(const char *, size_t, size_t);
static void	check_plain(enum sasl_error, const struct sasl_plain *);
static void	check_info(const struct sasl_plain_info *);

static void
check_field(const char *f, size_t len, size_t min)
{
	assert(len >= min && len <= SASL_FIELD_MAX);
	assert(f[len] == '\0');
	assert(memchr(f, '\0', len) == NULL);
	assert(memchr(f, '\r', len) == NULL);
	assert(memchr(f, '\n', len) == NULL);
	assert(sasl_utf8_valid(f, len));
}

static void
check_plain(enum sasl_error e, const struct sasl_plain *p)
{
	static const struct sasl_plain	zero;

	if (e != SASL_OK) {
		assert(memcmp(p, &zero, sizeof(zero)) == 0);
		return;
	}
	check_field(p->authzid, p->authzidlen, 0);
	check_field(p->authcid, p->authcidlen, 1);
	check_field(p->passwd, p->passwdlen, 1);
	assert(p->authzidlen == 0 || (p->authzidlen == p->authcidlen &&
	    memcmp(p->authzid, p->authcid, p->authcidlen) == 0));
}

static void
check_info(const struct sasl_plain_info *info)
{
	const struct sasl_field	*f[3] = { &info->authzid, &info->authcid,
				    &info->passwd };
	const char		*end = info->raw + info->rawlen;
	int			 i;

	assert(info->rawlen <= sizeof(info->raw));
	for (i = 0; i < 3; i++) {
		if (!f[i]->present)
			continue;
		assert(f[i]->p >= info->raw && f[i]->p <= end);
		assert(f[i]->len <= (size_t)(end - f[i]->p));
	}
	if (info->nuls == 0)
		assert(!info->authcid.present && !info->passwd.present);
	if (info->verdict == SASL_OK)
		assert(info->authzid.err == SASL_OK &&
		    info->authcid.err == SASL_OK &&
		    info->passwd.err == SASL_OK && info->nuls == 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_plain	 a, b;
	struct sasl_plain_info	*info;
	char			*enc, login[SASL_FIELD_MAX + 1];
	enum sasl_error		 ea, eb, el;
	size_t			 enclen, loginlen;

	info = malloc(sizeof(*info));
	enc = malloc(BASE64_ENCODED_SIZE(size));
	assert(info != NULL && enc != NULL);

	/* The input as a decoded PLAIN message ... */
	ea = sasl_plain_decode((const char *)data, size, &a);
	check_plain(ea, &a);
	/* ... and the same message as the client sent it. */
	assert(base64_encode(data, size, enc, BASE64_ENCODED_SIZE(size),
	    &enclen) == 0);
	eb = sasl_plain_decode_b64(enc, enclen, &b);
	check_plain(eb, &b);
	if (enclen <= BASE64_ENCODED_LEN(SASL_PLAIN_MAX)) {
		assert(ea == eb);
		assert(ea != SASL_OK || memcmp(&a, &b, sizeof(a)) == 0);
	} else
		assert(eb == SASL_ETOOLONG);
	if (size > SASL_PLAIN_MAX)
		assert(ea != SASL_OK);
	if (sasl_plain_inspect(enc, enclen, info) == SASL_OK) {
		check_info(info);
		assert(info->verdict == ea);
		assert(info->rawlen == size);
	}

	/* The input as base64 text, the way it arrives on the wire. */
	eb = sasl_plain_decode_b64((const char *)data, size, &b);
	check_plain(eb, &b);
	if (sasl_plain_inspect((const char *)data, size, info) == SASL_OK) {
		check_info(info);
		assert(info->verdict == eb || eb == SASL_ETOOLONG);
	}
	el = sasl_login_decode_b64((const char *)data, size, login,
	    sizeof(login), &loginlen);
	if (el == SASL_OK)
		check_field(login, loginlen, 1);
	else
		assert(loginlen == 0 && login[0] == '\0');

	/* A LOGIN field straight from the input. */
	if (sasl_login_check_field((const char *)data, size) == SASL_OK) {
		assert(size >= 1 && size <= SASL_FIELD_MAX);
		assert(memchr(data, '\0', size) == NULL);
	}

	sasl_plain_wipe(&a);
	sasl_plain_wipe(&b);
	sasl_plain_info_wipe(info);
	free(info);
	free(enc);
	return 0;
}
