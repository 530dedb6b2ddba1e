/*
 * The connections smtpauth check runs on: the first one is opened by
 * check_connect(); a check that needs a clean slate (after a dangerous
 * success, or when the server hung up) asks for a new one here, and a
 * new connection's certificate is judged again.
 */
#include <stdio.h>
#include <string.h>

#include "client/auth.h"
#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/tls.h"

static void	cert_again(struct checker *);

void
ck_smtpc_opts(struct checker *ck, struct smtpc_opts *so)
{
	cliopt_smtpc(&ck->o, ck->o.verbose ? report_trace : NULL, &ck->tout,
	    so);
}

/*
 * A new connection up to EHLO (under TLS when want_tls, in the mode the
 * run uses), for checks that need a clean slate.  NULL with err set.
 */
struct smtpc *
ck_open_session(struct checker *ck, struct tls_ctx *ctx, int want_tls,
    char *err, size_t errlen)
{
	struct smtpc_opts	 so;
	struct smtpc		*c;
	const struct reply	*r;
	char			 b[200];

	ck_smtpc_opts(ck, &so);
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, err,
	    errlen)) == NULL)
		return NULL;
	if (ck->o.tls == TLSMODE_IMPLICIT && smtpc_tls(c, ctx,
	    ck->o.host) == -1)
		goto fail;
	if (smtpc_read_reply(c, &r) == -1)
		goto fail;
	if (r->code != 220) {
		(void)snprintf(err, errlen, "greeting %s", ck_brief(r, b,
		    sizeof(b)));
		goto out;
	}
	if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1)
		goto fail;
	if (r->code != 250) {
		(void)snprintf(err, errlen, "EHLO: %s", ck_brief(r, b,
		    sizeof(b)));
		goto out;
	}
	if (ck->o.tls == TLSMODE_STARTTLS && want_tls) {
		switch (smtpc_starttls(c, ctx, ck->o.host, &r)) {
		case 1:
			break;
		case 0:
			(void)snprintf(err, errlen, "STARTTLS: %s", ck_brief(r,
			    b, sizeof(b)));
			goto out;
		default:
			goto fail;
		}
		if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1)
			goto fail;
		if (r->code != 250) {
			(void)snprintf(err, errlen, "EHLO: %s", ck_brief(r, b,
			    sizeof(b)));
			goto out;
		}
	}
	return c;
 fail:
	(void)snprintf(err, errlen, "%s", smtpc_error(c));
 out:
	smtpc_close(c);
	return NULL;
}

/* Say goodbye on the current connection, if any, and close it. */
void
ck_drop_conn(struct checker *ck)
{
	const struct reply	*r;

	if (ck->c != NULL && smtpc_alive(ck->c))
		(void)smtpc_cmd(ck->c, &r, "QUIT");
	smtpc_close(ck->c);
	ck->c = NULL;
	ck->c_authed = 0;
	ck->authed = 0;
}

/*
 * Make sure ck->c is usable for the next check: alive, and not
 * authenticated unless that is allowed; else a new session (under TLS when
 * TLS worked before).  0, or -1 with the reason in ck->connerr.
 */
int
ck_need_conn(struct checker *ck, int authed_ok)
{
	struct smtpc	*c;

	if (smtpc_alive(ck->c) && (authed_ok || !ck->c_authed))
		return 0;
	ck_drop_conn(ck);
	if (ck->o.verbose)
		fprintf(stderr, "*  a new connection for the next checks\n");
	c = ck_open_session(ck, ck->tctx, ck->tls_ok, ck->connerr,
	    sizeof(ck->connerr));
	if (c == NULL)
		return -1;
	ck->c = c;
	if (smtpc_tls_conn(c) != NULL)
		cert_again(ck);
	return 0;
}

/*
 * A new connection's certificate is judged on its own: one that does not
 * verify fails tls-cert even when the first connection's did (a server, or
 * someone in between, that changes certificates between connections).
 */
static void
cert_again(struct checker *ck)
{
	struct tls	*t = smtpc_tls_conn(ck->c);
	char		 subj[256];

	if (tls_peer_verified(t) || ck->res[C_TLS_CERT].status == CHECK_FAIL)
		return;
	if (tls_peer_cert_subject(t, subj, sizeof(subj)) == -1 &&
	    subj[0] == '\0')
		(void)snprintf(subj, sizeof(subj), "?");
	ck_set(ck, C_TLS_CERT, ck->o.insecure ? CHECK_WARN : CHECK_FAIL,
	    "NOT verified on a later connection: %s (%s)%s",
	    tls_peer_verify_error(t), subj, ck->o.insecure ? "; --insecure" :
	    "");
}

/* The EHLO reply that says what AUTH offers where the password goes. */
const struct reply *
ck_auth_caps(const struct checker *ck)
{
	if (ck->have_tls)
		return &ck->caps_tls;
	if (ck->o.tls == TLSMODE_NONE && ck->have_plain)
		return &ck->caps_plain;
	return NULL;
}

/* Why AUTH cannot be tried now, or NULL. */
const char *
ck_cannot_auth(const struct checker *ck)
{
	const struct reply	*caps;

	if (ck->o.tls == TLSMODE_NONE && !ck->o.insecure_plaintext_auth)
		return "--tls none: no password is sent without TLS "
		    "(--insecure-plaintext-auth overrides)";
	if (ck->o.tls != TLSMODE_NONE && !ck->tls_ok)
		return "no TLS session";
	/*
	 * --insecure lets the handshake through any certificate, so that the
	 * other checks can run; a password goes only where tls-cert did not
	 * fail (an expired one, another name's).
	 */
	if (ck->o.tls != TLSMODE_NONE &&
	    ck->res[C_TLS_CERT].status == CHECK_FAIL)
		return "the certificate failed tls-cert: no password is sent "
		    "over it";
	if ((caps = ck_auth_caps(ck)) == NULL ||
	    !reply_ehlo_keyword(caps, "AUTH", NULL, NULL))
		return "AUTH is not offered";
	return NULL;
}

enum auth_mech
ck_pick_mech(const struct checker *ck, const struct auth_cred *cr, char *why,
    size_t size)
{
	const struct reply	*caps = ck_auth_caps(ck);
	const char		*adv = "";
	size_t			 advlen = 0;
	enum auth_mech		 m;

	why[0] = '\0';
	if (caps != NULL)
		(void)reply_ehlo_keyword(caps, "AUTH", &adv, &advlen);
	if (ck->o.mech != AUTH_MECH_NONE) {
		if (!reply_word_in(adv, advlen, auth_mech_name(ck->o.mech))) {
			(void)snprintf(why, size, "AUTH %s is not offered",
			    auth_mech_name(ck->o.mech));
			return AUTH_MECH_NONE;
		}
		return ck->o.mech;
	}
	if ((m = auth_mech_best(adv, advlen, cr)) == AUTH_MECH_NONE)
		(void)snprintf(why, size, "no mechanism offered that smtpauth "
		    "can use with these credentials");
	return m;
}

/* The real credentials (--user and its password or token). */
void
ck_real_cred(const struct checker *ck, struct auth_cred *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->user = ck->o.user;
	cr->userlen = strlen(ck->o.user);
	cr->pass = ck->pw.buf;
	cr->passlen = ck->pw.len;
	cr->token = ck->token.buf;
	cr->tokenlen = ck->token.len;
}
