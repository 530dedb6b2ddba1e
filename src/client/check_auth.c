/*
 * The AUTH checks of smtpauth check: not offered and not accepted in
 * clear (probed with a made-up credential), offered under TLS, one wrong
 * password refused (the only one a run tries, so that a guard against
 * guessing is not tripped), and the real credentials accepted.
 */
#include <sys/random.h>

#include <stdio.h>
#include <string.h>

#include "client/auth.h"
#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/sasl.h"

static const struct reply *auth_caps(const struct checker *);
static const char *cannot_auth(const struct checker *);
static enum auth_mech pick_mech(const struct checker *,
		    const struct auth_cred *, char *, size_t);
static void	check_auth_hidden(struct checker *);
static void	check_auth_refused(struct checker *);

/* The EHLO reply that says what AUTH offers where the password goes. */
static const struct reply *
auth_caps(const struct checker *ck)
{
	if (ck->have_tls)
		return &ck->caps_tls;
	if (ck->o.tls == TLSMODE_NONE && ck->have_plain)
		return &ck->caps_plain;
	return NULL;
}

/* Why AUTH cannot be tried now, or NULL. */
static const char *
cannot_auth(const struct checker *ck)
{
	const struct reply	*caps;

	if (ck->o.tls == TLSMODE_NONE && !ck->o.insecure_plaintext_auth)
		return "--tls none: no password is sent without TLS "
		    "(--insecure-plaintext-auth overrides)";
	if (ck->o.tls != TLSMODE_NONE && !ck->tls_ok)
		return "no TLS session";
	if ((caps = auth_caps(ck)) == NULL ||
	    !reply_ehlo_keyword(caps, "AUTH", NULL, NULL))
		return "AUTH is not offered";
	return NULL;
}

static enum auth_mech
pick_mech(const struct checker *ck, const struct auth_cred *cr, char *why,
    size_t size)
{
	const struct reply	*caps = auth_caps(ck);
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

/* Before any TLS: AUTH neither offered nor accepted in clear. */
void
check_auth_in_clear(struct checker *ck)
{
	if (ck->o.tls == TLSMODE_IMPLICIT) {
		ck_set(ck, C_AUTH_HIDDEN, CHECK_SKIP, "implicit TLS: nothing "
		    "is sent in clear");
		ck_set(ck, C_AUTH_REFUSED, CHECK_SKIP, "implicit TLS: nothing "
		    "is sent in clear");
		return;
	}
	check_auth_hidden(ck);
	check_auth_refused(ck);
}

static void
check_auth_hidden(struct checker *ck)
{
	const char	*adv;
	char		 esc[200];
	size_t		 n;

	if (reply_ehlo_keyword(&ck->caps_plain, "AUTH", &adv, &n))
		ck_set(ck, C_AUTH_HIDDEN, CHECK_FAIL, "AUTH %s offered without "
		    "TLS: clients will send passwords in clear",
		    report_escape(adv, n, esc, sizeof(esc)));
	else
		ck_set(ck, C_AUTH_HIDDEN, CHECK_PASS, "AUTH not offered "
		    "without TLS");
}

/*
 * AUTH in clear with a made-up credential (never the real one): the
 * server must refuse before looking at it.
 */
static void
check_auth_refused(struct checker *ck)
{
	const struct reply	*r;
	const char		*adv = "", *want = NULL, *line;
	char			 b64[SASL_PLAIN_ENCODED_SIZE(0,
				    sizeof(PROBE_USER), sizeof(PROBE_PASS))];
	char			 cmd[sizeof(b64) + 16], b[200], note[100];
	size_t			 advlen = 0;
	int			 login;
	enum check_status	 st;

	if (!smtpc_alive(ck->c)) {
		ck_set(ck, C_AUTH_REFUSED, CHECK_SKIP, "connection lost");
		return;
	}
	(void)reply_ehlo_keyword(&ck->caps_plain, "AUTH", &adv, &advlen);
	login = advlen > 0 && !reply_word_in(adv, advlen, "PLAIN") &&
	    reply_word_in(adv, advlen, "LOGIN");
	if (login) {
		line = "AUTH LOGIN";
		if (smtpc_send_line(ck->c, 0, line, strlen(line)) == -1)
			goto lost;
	} else {
		(void)sasl_plain_encode(NULL, 0, PROBE_USER,
		    sizeof(PROBE_USER) - 1, PROBE_PASS,
		    sizeof(PROBE_PASS) - 1, b64, sizeof(b64));
		(void)snprintf(cmd, sizeof(cmd), "AUTH PLAIN %s", b64);
		if (smtpc_send_line(ck->c, 1, cmd, strlen(cmd)) == -1)
			goto lost;
	}
	if (smtpc_read_reply(ck->c, &r) == -1)
		goto lost;
	ck_brief(r, b, sizeof(b));
	switch (r->code) {
	case 235:
		ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "CRITICAL: a made-up "
		    "credential was accepted without TLS (%s)", b);
		ck->c_authed = 1;
		return;
	case 334:
		ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "the server asks for "
		    "credentials without TLS (%s); cancelled", b);
		if (smtpc_send_line(ck->c, 0, "*", 1) == 0)
			(void)smtpc_read_reply(ck->c, &r);
		return;
	case 535:
		ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "the server checked a "
		    "credential sent without TLS (%s): a real password would "
		    "have travelled in clear", b);
		return;
	case 538:
		want = "5.7.11";
		break;
	case 530:
		want = "5.7.0";
		break;
	case 503:
		want = "5.5.1";
		break;
	case 504:
		want = "5.5.4";
		break;
	case 500:
	case 502:
		ck_set(ck, C_AUTH_REFUSED, CHECK_PASS, "refused without TLS: "
		    "%s", b);
		return;
	default:
		if (reply_class(r) == 5)
			ck_set(ck, C_AUTH_REFUSED, CHECK_WARN, "refused with "
			    "%s (expected 538 5.7.11)", b);
		else if (reply_class(r) == 4)
			ck_set(ck, C_AUTH_REFUSED, CHECK_WARN, "temporary "
			    "refusal %s (expected 538 5.7.11)", b);
		else
			ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "unexpected "
			    "reply %s", b);
		return;
	}
	st = ck_judge(ck, r->enhanced, want, note, sizeof(note));
	ck_set(ck, C_AUTH_REFUSED, st, "refused without TLS: %s%s", b, note);
	return;
 lost:
	ck_set(ck, C_AUTH_REFUSED, CHECK_WARN, "no reply to AUTH without TLS: "
	    "%s", smtpc_error(ck->c));
}

void
check_auth_advertised(struct checker *ck)
{
	const struct reply	*caps = auth_caps(ck);
	const char		*adv;
	char			 esc[200];
	size_t			 n;

	if (ck->o.tls == TLSMODE_NONE && !ck->o.insecure_plaintext_auth) {
		ck_set(ck, C_AUTH_ADV, CHECK_SKIP, "--tls none: AUTH is only "
		    "looked at under TLS (--insecure-plaintext-auth overrides)");
		return;
	}
	if (caps == NULL) {
		ck_set(ck, C_AUTH_ADV, CHECK_SKIP, "no TLS session");
		return;
	}
	if (!reply_ehlo_keyword(caps, "AUTH", &adv, &n))
		ck_set(ck, C_AUTH_ADV, CHECK_FAIL, "AUTH not offered%s",
		    ck->have_tls ? " under TLS" : "");
	else if (!reply_word_in(adv, n, "PLAIN"))
		ck_set(ck, C_AUTH_ADV, CHECK_WARN, "AUTH %s: PLAIN not among "
		    "them", report_escape(adv, n, esc, sizeof(esc)));
	else
		ck_set(ck, C_AUTH_ADV, CHECK_PASS, "AUTH %s",
		    report_escape(adv, n, esc, sizeof(esc)));
}

/* One wrong password, the only one this run tries: 535. */
void
check_auth_bad(struct checker *ck)
{
	struct auth_cred	 cr;
	struct auth_result	 ar;
	unsigned char		 rnd[8];
	char			 wrong[64], why[160], note[100], who[300];
	const char		*user;
	enum auth_mech		 m;
	enum check_status	 st;
	const char		*why_not;
	size_t			 i;

	if (ck->no_bad_auth) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "--no-bad-auth");
		return;
	}
	if ((why_not = cannot_auth(ck)) != NULL) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "%s", why_not);
		return;
	}
	user = ck->o.user != NULL ? ck->o.user : PROBE_USER;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	(void)snprintf(wrong, sizeof(wrong), "smtpauth-wrong-");
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(wrong + 15 + 2 * i, sizeof(wrong) - 15 - 2 * i,
		    "%02x", rnd[i]);
	memset(&cr, 0, sizeof(cr));
	cr.user = user;
	cr.userlen = strlen(user);
	cr.pass = wrong;
	cr.passlen = strlen(wrong);
	cr.token = wrong;
	cr.tokenlen = strlen(wrong);
	cr.probe = 1;
	if ((m = pick_mech(ck, &cr, why, sizeof(why))) == AUTH_MECH_NONE) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "%s", why);
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	(void)auth_run(ck->c, m, &cr, &ar);
	(void)snprintf(who, sizeof(who), "AUTH %s%s", auth_mech_name(m),
	    ck->o.user == NULL ? " as an unknown user (no --user)" : "");
	if (ar.code == 0) {
		ck_set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: "
		    "no answer (%s)", who, ar.detail);
		return;
	}
	switch (ar.code) {
	case 235:
		ck_set(ck, C_AUTH_BAD, CHECK_FAIL, "CRITICAL: a wrong password "
		    "was accepted (%s, %s)", who, ar.text);
		ck->c_authed = 1;
		return;
	case 535:
		st = ck_judge(ck, ar.enhanced, "5.7.8", note, sizeof(note));
		ck_set(ck, C_AUTH_BAD, st, "wrong password refused (%s): "
		    "%s%s%s", who, ar.text, note, smtpc_alive(ck->c) ? "" :
		    "; the server then closed the connection");
		return;
	case 503:
	case 454:
		ck_set(ck, C_AUTH_BAD, CHECK_FAIL, "%s with a wrong password: "
		    "%s (expected 535)", who, ar.text);
		return;
	}
	ck_set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: %s "
	    "(expected 535 5.7.8)%s%s", who, ar.text, ar.detail[0] ? ": " :
	    "", ar.detail);
}

/* The real credentials: 235. */
void
check_auth_good(struct checker *ck)
{
	struct auth_cred	 cr;
	struct auth_result	 ar;
	char			 why[160], note[200];
	const char		*why_not;
	enum auth_mech		 m;
	enum check_status	 st;

	if (ck->o.user == NULL) {
		ck_set(ck, C_AUTH_GOOD, CHECK_SKIP, "no --user given");
		return;
	}
	if ((why_not = cannot_auth(ck)) != NULL) {
		ck_set(ck, C_AUTH_GOOD, CHECK_SKIP, "%s", why_not);
		return;
	}
	memset(&cr, 0, sizeof(cr));
	cr.user = ck->o.user;
	cr.userlen = strlen(ck->o.user);
	cr.pass = ck->pw.buf;
	cr.passlen = ck->pw.len;
	cr.token = ck->token.buf;
	cr.tokenlen = ck->token.len;
	if ((m = pick_mech(ck, &cr, why, sizeof(why))) == AUTH_MECH_NONE) {
		ck_set(ck, C_AUTH_GOOD, ck->o.mech != AUTH_MECH_NONE ?
		    CHECK_FAIL : CHECK_SKIP, "%s", why);
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_AUTH_GOOD, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	/* auth_run() would refuse too; this says so in the report. */
	if ((why_not = smtpc_credential_refused(ck->c)) != NULL) {
		ck_set(ck, C_AUTH_GOOD, CHECK_SKIP, "the password is not sent: "
		    "%s", why_not);
		return;
	}
	if (auth_run(ck->c, m, &cr, &ar) != 1) {
		ck_set(ck, C_AUTH_GOOD, CHECK_FAIL, "AUTH %s as %s: %s%s%s",
		    auth_mech_name(m), ck->o.user, ar.code ? ar.text :
		    "no answer", ar.detail[0] ? ": " : "", ar.detail);
		return;
	}
	ck->c_authed = ck->authed = 1;
	st = ck_judge(ck, ar.enhanced, "2.7.0", note, sizeof(note));
	if ((m == AUTH_MECH_SCRAM_SHA1 || m == AUTH_MECH_SCRAM_SHA256) &&
	    !ar.scram_verified) {
		st = CHECK_WARN;
		(void)snprintf(note, sizeof(note), "; %s", ar.detail);
	}
	ck_set(ck, C_AUTH_GOOD, st, "authenticated as %s with %s: %s%s",
	    ck->o.user, auth_mech_name(m), ar.text, note);
}
