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

/* What a 4xx to AUTH usually means, for the summaries. */
#define AUTH_4XX_HINT	"the server may be penalising this address " \
	"after failed attempts (a ban, Dovecot's auth penalty); wait and run " \
	"again, or check from another address (--source)"

static void	check_auth_hidden(struct checker *);
static void	check_auth_refused(struct checker *);

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

/*
 * What a client could do with the EHLO in clear: AUTH with a mechanism
 * is something it would use; a bare AUTH (Dovecot's submission before
 * TLS) names nothing to use.  From an address the server may trust (its
 * own, loopback), AUTH in clear may be for that address alone.
 */
static void
check_auth_hidden(struct checker *ck)
{
	const char	*adv;
	char		 esc[200];
	size_t		 n;

	if (!reply_ehlo_keyword(&ck->caps_plain, "AUTH", &adv, &n))
		ck_set(ck, C_AUTH_HIDDEN, CHECK_PASS, "AUTH not offered "
		    "without TLS");
	else if (strspn(adv, " ") >= n)
		ck_set(ck, C_AUTH_HIDDEN, CHECK_PASS, "AUTH advertised without "
		    "TLS with no mechanism: nothing a client can use");
	else if (ck->src_kind != NULL) {
		ck->src_changed |= 1u << C_AUTH_HIDDEN;
		ck_set(ck, C_AUTH_HIDDEN, CHECK_WARN, "AUTH %s offered without "
		    "TLS to %s (%s): to everyone, or only to an address the "
		    "server trusts; cannot tell from here",
		    report_escape(adv, n, esc, sizeof(esc)), ck->src_addr,
		    ck->src_kind);
	} else
		ck_set(ck, C_AUTH_HIDDEN, CHECK_FAIL, "AUTH %s offered without "
		    "TLS: clients will send passwords in clear",
		    report_escape(adv, n, esc, sizeof(esc)));
}

/*
 * AUTH in clear with a made-up credential (never the real one): the
 * server must refuse before looking at it.  Any 5xx but 535 is such a
 * refusal (538 5.7.11, Dovecot's 523 5.7.10, 530, 503, 502 ...): the code
 * is shown, not judged.
 */
static void
check_auth_refused(struct checker *ck)
{
	const struct reply	*r;
	const char		*adv = "", *line;
	char			 b64[SASL_PLAIN_ENCODED_SIZE(0,
				    sizeof(PROBE_USER), sizeof(PROBE_PASS))];
	char			 cmd[sizeof(b64) + 16], b[200], from[200];
	size_t			 advlen = 0;
	int			 login;

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
	from[0] = '\0';
	if (ck->src_kind != NULL && (r->code == 235 || r->code == 334 ||
	    r->code == 535)) {
		/* Dovecot, for one, takes its own address for a secure one. */
		ck->src_changed |= 1u << C_AUTH_REFUSED;
		(void)snprintf(from, sizeof(from), " (from %s, %s: perhaps "
		    "only for an address the server trusts)", ck->src_addr,
		    ck->src_kind);
	}
	switch (r->code) {
	case 235:
		ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "CRITICAL: a made-up "
		    "credential was accepted without TLS (%s)%s", b, from);
		ck->c_authed = 1;
		return;
	case 334:
		ck_set(ck, C_AUTH_REFUSED, from[0] ? CHECK_WARN : CHECK_FAIL,
		    "the server asks for credentials without TLS (%s); "
		    "cancelled%s", b, from);
		if (smtpc_send_line(ck->c, 0, "*", 1) == 0)
			(void)smtpc_read_reply(ck->c, &r);
		return;
	case 535:
		ck_set(ck, C_AUTH_REFUSED, from[0] ? CHECK_WARN : CHECK_FAIL,
		    "the server checked a credential sent without TLS (%s): a "
		    "real password would have travelled in clear%s", b, from);
		return;
	}
	if (reply_class(r) == 5)
		ck_set(ck, C_AUTH_REFUSED, CHECK_PASS, "refused without TLS: "
		    "%s", b);
	else if (reply_class(r) == 4)
		ck_set(ck, C_AUTH_REFUSED, CHECK_WARN, "temporarily refused "
		    "(%s)%s%s", b, r->code == 421 || r->code == 454 ? ": " : "",
		    r->code == 421 || r->code == 454 ? AUTH_4XX_HINT : "");
	else
		ck_set(ck, C_AUTH_REFUSED, CHECK_FAIL, "unexpected reply %s",
		    b);
	return;
 lost:
	ck_set(ck, C_AUTH_REFUSED, CHECK_WARN, "%s", ck_lost(ck->c,
	    "AUTH without TLS", b, sizeof(b)));
}

void
check_auth_advertised(struct checker *ck)
{
	const struct reply	*caps = ck_auth_caps(ck);
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
	if (!reply_ehlo_keyword(caps, "AUTH", &adv, &n) &&
	    ck_role(ck) == ROLE_MX && ck->o.user == NULL)
		ck_set(ck, C_AUTH_ADV, CHECK_PASS, "AUTH not offered: a port "
		    "for incoming mail (submission belongs on 587 or 465)");
	else if (!reply_ehlo_keyword(caps, "AUTH", &adv, &n))
		ck_set(ck, C_AUTH_ADV, ck_role(ck) == ROLE_MX ? CHECK_WARN :
		    CHECK_FAIL, "AUTH not offered%s", ck->have_tls ?
		    " under TLS" : "");
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
	char			 wrong[64], why[160], who[300];
	const char		*user;
	enum auth_mech		 m;
	const char		*why_not;
	size_t			 i;

	if (ck->no_bad_auth) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "--no-bad-auth");
		return;
	}
	if ((why_not = ck_cannot_auth(ck)) != NULL) {
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
	if ((m = ck_pick_mech(ck, &cr, why, sizeof(why))) == AUTH_MECH_NONE) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "%s", why);
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_AUTH_BAD, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	(void)auth_run(ck->c, m, &cr, &ar);
	ck->spent++;
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
		ck_set(ck, C_AUTH_BAD, CHECK_PASS, "wrong password refused "
		    "(%s): %s%s", who, ar.text, smtpc_alive(ck->c) ? "" :
		    "; the server then closed the connection");
		return;
	case 503:
		ck_set(ck, C_AUTH_BAD, CHECK_FAIL, "%s with a wrong password: "
		    "%s (expected 535)", who, ar.text);
		return;
	}
	if (ar.code == 421 || ar.code == 454)
		ck_set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: "
		    "%s (expected 535): %s", who, ar.text, AUTH_4XX_HINT);
	else
		ck_set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: "
		    "%s (expected 535)%s%s", who, ar.text, ar.detail[0] ?
		    ": " : "", ar.detail);
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
	if ((why_not = ck_cannot_auth(ck)) != NULL) {
		ck_set(ck, C_AUTH_GOOD, CHECK_SKIP, "%s", why_not);
		return;
	}
	ck_real_cred(ck, &cr);
	if ((m = ck_pick_mech(ck, &cr, why, sizeof(why))) == AUTH_MECH_NONE) {
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
		ck_set(ck, C_AUTH_GOOD, CHECK_FAIL, "AUTH %s as %s: %s%s%s%s%s",
		    auth_mech_name(m), ck->o.user, ar.code ? ar.text :
		    "no answer", ar.detail[0] ? ": " : "", ar.detail,
		    ar.code == 421 || ar.code == 454 ? ": " : "",
		    ar.code == 421 || ar.code == 454 ? AUTH_4XX_HINT : "");
		return;
	}
	ck->c_authed = ck->authed = 1;
	st = CHECK_PASS;
	note[0] = '\0';
	if ((m == AUTH_MECH_SCRAM_SHA1 || m == AUTH_MECH_SCRAM_SHA256) &&
	    !ar.scram_verified) {
		st = CHECK_WARN;
		(void)snprintf(note, sizeof(note), "; %s", ar.detail);
	}
	ck_set(ck, C_AUTH_GOOD, st, "authenticated as %s with %s: %s%s",
	    ck->o.user, auth_mech_name(m), ar.text, note);
}
