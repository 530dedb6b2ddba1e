/*
 * The client side of SMTP AUTH.  One function per mechanism, each a
 * straight line through its exchange; any reply other than the 334 the
 * step expects ends the exchange and is the result.  Encoded credentials
 * live in heap or stack buffers that are wiped before they are released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/auth.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/base64.h"
#include "common/reply.h"
#include "common/sasl.h"

static const struct {
	enum auth_mech	 mech;
	const char	*name;
} mechs[] = {
	{ AUTH_MECH_PLAIN, "PLAIN" },
	{ AUTH_MECH_LOGIN, "LOGIN" },
	{ AUTH_MECH_CRAM_MD5, "CRAM-MD5" },
	{ AUTH_MECH_SCRAM_SHA1, "SCRAM-SHA-1" },
	{ AUTH_MECH_SCRAM_SHA256, "SCRAM-SHA-256" },
	{ AUTH_MECH_XOAUTH2, "XOAUTH2" },
};
#define NMECHS	(sizeof(mechs) / sizeof(mechs[0]))

/* Best first, for auth_mech_best(). */
static const enum auth_mech preference[] = {
	AUTH_MECH_SCRAM_SHA256, AUTH_MECH_SCRAM_SHA1, AUTH_MECH_CRAM_MD5,
	AUTH_MECH_PLAIN, AUTH_MECH_LOGIN,
};

static int	finish(struct auth_result *, const struct reply *);
static int	lost(struct auth_result *, struct smtpc *);
static int	send_secret(struct smtpc *, const char *, const char *);
static int	cancel(struct smtpc *, struct auth_result *, const char *);
static int	run_plain(struct smtpc *, const struct auth_cred *,
		    struct auth_result *);
static int	run_login(struct smtpc *, const struct auth_cred *,
		    struct auth_result *);
static int	run_cram(struct smtpc *, const struct auth_cred *,
		    struct auth_result *);
static int	run_scram(struct smtpc *, enum sasl_scram_hash,
		    const struct auth_cred *, struct auth_result *);
static int	run_xoauth2(struct smtpc *, const struct auth_cred *,
		    struct auth_result *);

enum auth_mech
auth_mech_from_name(const char *name)
{
	size_t	i;

	for (i = 0; i < NMECHS; i++)
		if (strcasecmp(name, mechs[i].name) == 0)
			return mechs[i].mech;
	return AUTH_MECH_NONE;
}

const char *
auth_mech_name(enum auth_mech m)
{
	size_t	i;

	for (i = 0; i < NMECHS; i++)
		if (mechs[i].mech == m)
			return mechs[i].name;
	return "NONE";
}

const char *
auth_mech_unusable(enum auth_mech m, const struct auth_cred *cr)
{
	switch (m) {
	case AUTH_MECH_NONE:
		return "no mechanism";
	case AUTH_MECH_XOAUTH2:
		if (cr->token == NULL || cr->tokenlen == 0)
			return "XOAUTH2 needs a token (--oauth-token-file)";
		if (cr->user == NULL || cr->userlen == 0)
			return "no user name";
		return NULL;
	case AUTH_MECH_SCRAM_SHA1:
	case AUTH_MECH_SCRAM_SHA256:
		if (cr->pass != NULL && (sasl_saslprep_ok(cr->user,
		    cr->userlen) != SASL_OK || sasl_saslprep_ok(cr->pass,
		    cr->passlen) != SASL_OK))
			return "SASLprep (RFC 4013) refuses the user name or "
			    "the password, which SCRAM needs";
		break;
	default:
		break;
	}
	if (cr->user == NULL || cr->userlen == 0)
		return "no user name";
	if (cr->pass == NULL || cr->passlen == 0)
		return "no password";
	return NULL;
}

enum auth_mech
auth_mech_best(const char *adv, size_t len, const struct auth_cred *cr)
{
	size_t	i;

	for (i = 0; i < sizeof(preference) / sizeof(preference[0]); i++)
		if (reply_word_in(adv, len, auth_mech_name(preference[i])) &&
		    auth_mech_unusable(preference[i], cr) == NULL)
			return preference[i];
	return AUTH_MECH_NONE;
}

/* The exchange ended with reply r. */
static int
finish(struct auth_result *res, const struct reply *r)
{
	const char	*t;
	char		 esc[200];
	size_t		 n;

	t = reply_line(r, 0, &n);
	res->code = r->code;
	memcpy(res->enhanced, r->enhanced, sizeof(res->enhanced));
	(void)snprintf(res->text, sizeof(res->text), "%03d %s", r->code,
	    report_escape(t, n, esc, sizeof(esc)));
	switch (reply_class(r)) {
	case 2:
		res->outcome = r->code == 235 ? 1 : 0;
		if (r->code != 235)
			(void)snprintf(res->detail, sizeof(res->detail),
			    "unexpected reply %03d to AUTH", r->code);
		break;
	case 4:
		res->outcome = -1;
		break;
	default:
		res->outcome = 0;
		break;
	}
	return res->outcome;
}

static int
lost(struct auth_result *res, struct smtpc *c)
{
	res->outcome = -1;
	(void)snprintf(res->detail, sizeof(res->detail), "%s",
	    smtpc_error(c));
	return -1;
}

/* "prefix" + secret as one line marked secret. */
static int
send_secret(struct smtpc *c, const char *prefix, const char *secret)
{
	size_t	plen = strlen(prefix), slen = strlen(secret);
	char	*line;
	int	 rv;

	if ((line = malloc(plen + slen + 1)) == NULL)
		return -1;
	memcpy(line, prefix, plen);
	memcpy(line + plen, secret, slen + 1);
	rv = smtpc_send_line(c, 1, line, plen + slen);
	explicit_bzero(line, plen + slen + 1);
	free(line);
	return rv;
}

/*
 * Send prefix + b64 (a secret: wiped and freed here, whatever happens),
 * then read the reply.  Returns 0, or -1 when the connection is lost.
 */
static int
exchange_secret(struct smtpc *c, struct auth_result *res, const char *prefix,
    char *b64, size_t size, const struct reply **r)
{
	int	rv;

	rv = send_secret(c, prefix, b64);
	explicit_bzero(b64, size);
	free(b64);
	if (rv == -1 || smtpc_read_reply(c, r) == -1)
		return lost(res, c);
	return 0;
}

/* An initial response that could not be encoded: nothing was sent. */
static int
encode_failed(struct auth_result *res, char *b64, size_t size,
    enum sasl_error e)
{
	explicit_bzero(b64, size);
	free(b64);
	(void)snprintf(res->detail, sizeof(res->detail), "%s",
	    sasl_strerror(e));
	return res->outcome = -1;
}

/* Stop the exchange with "*" (RFC 4954 section 4); why goes to detail. */
static int
cancel(struct smtpc *c, struct auth_result *res, const char *why)
{
	const struct reply	*r;

	if (smtpc_send_line(c, 0, "*", 1) == -1 ||
	    smtpc_read_reply(c, &r) == -1)
		lost(res, c);
	else
		finish(res, r);
	/* Cancelled is never a success, whatever the server said. */
	if (res->outcome != -1)
		res->outcome = 0;
	(void)snprintf(res->detail, sizeof(res->detail), "%s", why);
	return res->outcome;
}

static int
run_plain(struct smtpc *c, const struct auth_cred *cr,
    struct auth_result *res)
{
	const struct reply	*r;
	char			*b64;
	size_t			 size;
	enum sasl_error		 e;

	size = SASL_PLAIN_ENCODED_SIZE(cr->authzidlen, cr->userlen,
	    cr->passlen);
	if ((b64 = malloc(size)) == NULL) {
		(void)snprintf(res->detail, sizeof(res->detail),
		    "out of memory");
		return res->outcome = -1;
	}
	e = sasl_plain_encode(cr->authzid, cr->authzidlen, cr->user,
	    cr->userlen, cr->pass, cr->passlen, b64, size);
	if (e != SASL_OK)
		return encode_failed(res, b64, size, e);
	/* The initial response (RFC 4954 section 4) saves a round trip. */
	if (exchange_secret(c, res, "AUTH PLAIN ", b64, size, &r) == -1)
		return -1;
	if (r->code == 334) {
		res->challenged = 1;
		return cancel(c, res, "the server asked again after the "
		    "initial response");
	}
	return finish(res, r);
}

static int
run_login(struct smtpc *c, const struct auth_cred *cr,
    struct auth_result *res)
{
	const struct reply	*r;
	char			*b64;
	size_t			 size, i;
	const char		*field[2];
	size_t			 flen[2];

	if (smtpc_send_line(c, 0, "AUTH LOGIN", 10) == -1 ||
	    smtpc_read_reply(c, &r) == -1)
		return lost(res, c);
	field[0] = cr->user;
	flen[0] = cr->userlen;
	field[1] = cr->pass;
	flen[1] = cr->passlen;
	/* "Username:" then "Password:"; the prompts' texts vary. */
	for (i = 0; i < 2; i++) {
		if (r->code != 334)
			return finish(res, r);
		res->challenged = 1;
		size = BASE64_ENCODED_SIZE(flen[i]);
		if ((b64 = malloc(size)) == NULL)
			return cancel(c, res, "out of memory");
		(void)base64_encode(field[i], flen[i], b64, size, NULL);
		if (exchange_secret(c, res, "", b64, size, &r) == -1)
			return -1;
	}
	if (r->code == 334)
		return cancel(c, res, "the server asked for more than a user "
		    "name and a password");
	return finish(res, r);
}

static int
run_cram(struct smtpc *c, const struct auth_cred *cr,
    struct auth_result *res)
{
	const struct reply	*r;
	const char		*chal;
	char			*b64;
	size_t			 size, n;
	enum sasl_error		 e;

	if (smtpc_send_line(c, 0, "AUTH CRAM-MD5", 13) == -1 ||
	    smtpc_read_reply(c, &r) == -1)
		return lost(res, c);
	if (r->code != 334)
		return finish(res, r);
	res->challenged = 1;
	chal = reply_line(r, 0, &n);
	size = SASL_CRAM_MD5_SIZE(cr->userlen);
	if ((b64 = malloc(size)) == NULL)
		return cancel(c, res, "out of memory");
	e = sasl_cram_md5_response(chal, n, cr->user, cr->userlen, cr->pass,
	    cr->passlen, b64, size);
	if (e != SASL_OK) {
		explicit_bzero(b64, size);
		free(b64);
		return cancel(c, res, sasl_strerror(e));
	}
	if (exchange_secret(c, res, "", b64, size, &r) == -1)
		return -1;
	if (r->code == 334)
		return cancel(c, res, "unexpected second CRAM-MD5 challenge");
	return finish(res, r);
}

static int
run_scram(struct smtpc *c, enum sasl_scram_hash hash,
    const struct auth_cred *cr, struct auth_result *res)
{
	struct sasl_scram	 s;
	const struct reply	*r;
	const char		*t;
	char			 out[SASL_SCRAM_B64_SIZE];
	char			 prefix[64];
	size_t			 n;
	enum sasl_error		 e;
	int			 rv;

	e = sasl_scram_start(&s, hash, cr->user, cr->userlen, NULL, 0, out,
	    sizeof(out));
	if (e != SASL_OK) {
		sasl_scram_wipe(&s);
		(void)snprintf(res->detail, sizeof(res->detail), "%s",
		    sasl_strerror(e));
		return res->outcome = -1;
	}
	(void)snprintf(prefix, sizeof(prefix), "AUTH %s ",
	    sasl_scram_mech(hash));
	if (send_secret(c, prefix, out) == -1 ||
	    smtpc_read_reply(c, &r) == -1) {
		rv = lost(res, c);
		goto done;
	}
	if (r->code != 334) {
		rv = finish(res, r);
		goto done;
	}
	res->challenged = 1;
	t = reply_line(r, 0, &n);
	e = sasl_scram_final(&s, t, n, cr->pass, cr->passlen, out,
	    sizeof(out));
	if (e != SASL_OK) {
		rv = cancel(c, res, sasl_strerror(e));
		goto done;
	}
	if (send_secret(c, "", out) == -1 || smtpc_read_reply(c, &r) == -1) {
		rv = lost(res, c);
		goto done;
	}
	if (r->code != 334) {
		/* A 235 here leaves the server unproven (RFC 5802 5). */
		rv = finish(res, r);
		if (rv == 1)
			(void)snprintf(res->detail, sizeof(res->detail),
			    "the server did not send its signature");
		goto done;
	}
	t = reply_line(r, 0, &n);
	e = sasl_scram_verify(&s, t, n);
	if (e == SASL_OK) {
		res->scram_verified = 1;
		if (smtpc_send_line(c, 0, "", 0) == -1 ||
		    smtpc_read_reply(c, &r) == -1)
			rv = lost(res, c);
		else
			rv = finish(res, r);
	} else if (e == SASL_EREJECTED) {
		/* The server's "e=": let it finish with its refusal. */
		if (smtpc_send_line(c, 0, "", 0) == -1 ||
		    smtpc_read_reply(c, &r) == -1)
			rv = lost(res, c);
		else
			rv = finish(res, r);
		if (rv == 1)
			rv = res->outcome = 0;
		(void)snprintf(res->detail, sizeof(res->detail),
		    "server error: %s", s.server_error);
	} else
		rv = cancel(c, res, sasl_strerror(e));
 done:
	explicit_bzero(out, sizeof(out));
	sasl_scram_wipe(&s);
	return rv;
}

static int
run_xoauth2(struct smtpc *c, const struct auth_cred *cr,
    struct auth_result *res)
{
	const struct reply	*r;
	char			*b64;
	size_t			 size;
	enum sasl_error		 e;

	size = SASL_XOAUTH2_SIZE(cr->userlen, cr->tokenlen);
	if ((b64 = malloc(size)) == NULL) {
		(void)snprintf(res->detail, sizeof(res->detail),
		    "out of memory");
		return res->outcome = -1;
	}
	e = sasl_xoauth2_encode(cr->user, cr->userlen, cr->token,
	    cr->tokenlen, b64, size);
	if (e != SASL_OK)
		return encode_failed(res, b64, size, e);
	if (exchange_secret(c, res, "AUTH XOAUTH2 ", b64, size, &r) == -1)
		return -1;
	if (r->code == 334) {
		/* An error in JSON; an empty line gets the final reply. */
		res->challenged = 1;
		if (smtpc_send_line(c, 0, "", 0) == -1 ||
		    smtpc_read_reply(c, &r) == -1)
			return lost(res, c);
	}
	return finish(res, r);
}

int
auth_run(struct smtpc *c, enum auth_mech m, const struct auth_cred *cr,
    struct auth_result *res)
{
	const char	*why;
	int		 rv;

	memset(res, 0, sizeof(*res));
	if ((why = auth_mech_unusable(m, cr)) != NULL) {
		(void)snprintf(res->detail, sizeof(res->detail), "%s", why);
		return res->outcome = -1;
	}
	/*
	 * The one gate every real credential passes, whatever command and
	 * whichever connection of it: a reconnect gets no credit from the
	 * connection before it.
	 */
	if (!cr->probe && (why = smtpc_credential_refused(c)) != NULL) {
		(void)snprintf(res->detail, sizeof(res->detail), "the "
		    "password is not sent: %s", why);
		return res->outcome = -1;
	}
	/* LOGIN's prompts are harmless; other challenges are shown hidden. */
	smtpc_set_secret(c, m != AUTH_MECH_LOGIN);
	switch (m) {
	case AUTH_MECH_PLAIN:
		rv = run_plain(c, cr, res);
		break;
	case AUTH_MECH_LOGIN:
		rv = run_login(c, cr, res);
		break;
	case AUTH_MECH_CRAM_MD5:
		rv = run_cram(c, cr, res);
		break;
	case AUTH_MECH_SCRAM_SHA1:
		rv = run_scram(c, SASL_SCRAM_SHA1, cr, res);
		break;
	case AUTH_MECH_SCRAM_SHA256:
		rv = run_scram(c, SASL_SCRAM_SHA256, cr, res);
		break;
	case AUTH_MECH_XOAUTH2:
		rv = run_xoauth2(c, cr, res);
		break;
	default:
		(void)snprintf(res->detail, sizeof(res->detail),
		    "unknown mechanism");
		rv = res->outcome = -1;
		break;
	}
	smtpc_set_secret(c, 0);
	return rv;
}
