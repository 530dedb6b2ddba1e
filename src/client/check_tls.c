/*
 * The TLS checks of smtpauth check: implicit TLS or STARTTLS, the
 * protocol version (and whether an older one is all the server speaks),
 * the certificate and its expiry, EHLO again under TLS, and STARTTLS
 * command injection.  The contexts never fail a handshake on a bad
 * certificate: the verification's result is judged by tls-cert.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/tls.h"

#define EXPIRY_WARN_DAYS	14
#define INJECTION_WAIT_MS	1000	/* for a reply to the injected NOOP */
#define EXTRA_WAIT_MS		500	/* for a second reply to one command */
#define PLAIN_WAIT_MS		300	/* for plaintext after the 220 */
#define GREETING_WAIT_MS	3000	/* silence before trying implicit TLS */
#define OTHER_MODE_WAIT_MS	5000	/* each step of that probe */

static void	check_starttls(struct checker *);
static int	speaks_other_mode(struct checker *);
static void	legacy_probe(struct checker *);
static void	tls_established(struct checker *);
static void	caps_diff(const struct reply *, const struct reply *, char *,
		    size_t);
static void	check_ehlo_tls(struct checker *);
static void	injection_probe(struct checker *);

/* --tls implicit: the handshake comes before the greeting. */
int
check_tls_implicit(struct checker *ck)
{
	if (ck->o.tls != TLSMODE_IMPLICIT)
		return 0;
	if (smtpc_tls(ck->c, ck->tctx, ck->o.host) == -1) {
		if (speaks_other_mode(ck)) {
			ck_set(ck, C_STARTTLS, CHECK_FAIL, "implicit TLS: %s; "
			    "the server greets in clear on this port: use "
			    "--tls starttls", smtpc_error(ck->c));
			ck_skip_unset(ck, "wrong TLS mode");
			return 2;
		}
		ck_set(ck, C_STARTTLS, CHECK_FAIL, "implicit TLS: %s",
		    smtpc_error(ck->c));
		legacy_probe(ck);
		ck_skip_unset(ck, "no TLS session");
		return 1;
	}
	ck_set(ck, C_STARTTLS, CHECK_PASS, "implicit TLS: the handshake "
	    "completed");
	tls_established(ck);
	return 0;
}

/*
 * Does the port speak the other TLS mode?  With --tls implicit: does a
 * new connection get a greeting in clear?  Else: does a TLS handshake
 * right after connecting complete?  A short wait for each; 1 or 0.
 */
static int
speaks_other_mode(struct checker *ck)
{
	struct smtpc_opts	 so;
	struct smtpc		*c;
	const struct reply	*r;
	char			 err[256];
	int			 yes;

	ck_smtpc_opts(ck, &so);
	so.timeout_ms = OTHER_MODE_WAIT_MS;
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, err,
	    sizeof(err))) == NULL)
		return 0;
	if (ck->o.tls == TLSMODE_IMPLICIT)
		yes = smtpc_read_reply(c, &r) == 0 && reply_class(r) == 2;
	else
		yes = smtpc_tls(c, ck->tctx, ck->o.host) == 0;
	smtpc_close(c);
	return yes;
}

/*
 * Before the greeting (not --tls implicit): a port that says nothing for
 * a while may be waiting for a TLS handshake.  0 to read the greeting,
 * or the exit status (2: nothing could be tested, with the mode to use).
 * An MX may hold its greeting on purpose (a greet pause against clients
 * that talk first) and never speaks implicit TLS: it is asked only once
 * the greeting timed out (check_silent_tls()).
 */
int
check_greeting_mode(struct checker *ck)
{
	if (ck->o.tls == TLSMODE_IMPLICIT || ck->o.tls == TLSMODE_NONE ||
	    ck_role(ck) == ROLE_MX ||
	    smtpc_wait(ck->c, GREETING_WAIT_MS) != 0 ||
	    !speaks_other_mode(ck))
		return 0;
	ck_set(ck, C_BANNER, CHECK_FAIL, "no greeting in %d s, and a TLS "
	    "handshake right after connecting completes: this port speaks "
	    "implicit TLS; use --tls implicit", GREETING_WAIT_MS / 1000);
	ck_skip_unset(ck, "wrong TLS mode");
	return 2;
}

/*
 * No greeting came in the whole timeout on a port not probed before
 * (check_greeting_mode()): does it speak implicit TLS after all?
 */
int
check_silent_tls(struct checker *ck)
{
	return ck->o.tls == TLSMODE_STARTTLS && ck_role(ck) == ROLE_MX &&
	    speaks_other_mode(ck);
}

/* STARTTLS, and under it the version, the certificate and EHLO again. */
void
check_tls(struct checker *ck)
{
	switch (ck->o.tls) {
	case TLSMODE_IMPLICIT:
		ck_set(ck, C_INJECTION, CHECK_SKIP, "implicit TLS: no "
		    "STARTTLS");
		ck_set(ck, C_EHLO_TLS, CHECK_SKIP, "implicit TLS: no EHLO in "
		    "clear to compare");
		break;
	case TLSMODE_NONE:
		ck_set(ck, C_STARTTLS, CHECK_SKIP, "--tls none");
		ck_set(ck, C_INJECTION, CHECK_SKIP, "--tls none");
		ck_set(ck, C_TLS_VERSION, CHECK_SKIP, "--tls none");
		ck_set(ck, C_TLS_CERT, CHECK_SKIP, "--tls none");
		ck_set(ck, C_EHLO_TLS, CHECK_SKIP, "--tls none");
		break;
	default:
		check_starttls(ck);
		/* No TLS: what follows runs in clear, if at all. */
		if (!ck_is_set(ck, C_TLS_VERSION))
			ck_set(ck, C_TLS_VERSION, CHECK_SKIP, "no TLS session");
		if (!ck_is_set(ck, C_TLS_CERT))
			ck_set(ck, C_TLS_CERT, CHECK_SKIP, "no TLS session");
		if (!ck_is_set(ck, C_EHLO_TLS))
			ck_set(ck, C_EHLO_TLS, CHECK_SKIP, "no TLS session");
		break;
	}
}

static void
check_starttls(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 rv;

	if (!reply_ehlo_keyword(&ck->caps_plain, "STARTTLS", NULL, NULL)) {
		ck_set(ck, C_STARTTLS, CHECK_FAIL, "STARTTLS not offered: mail "
		    "and passwords travel in clear");
		ck_set(ck, C_INJECTION, CHECK_SKIP, "no STARTTLS");
		return;
	}
	/* After a 235 in clear a server may refuse STARTTLS: start over. */
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_STARTTLS, CHECK_FAIL, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	rv = smtpc_starttls(ck->c, ck->tctx, ck->o.host, &r);
	if (rv == 0) {
		ck_set(ck, C_STARTTLS, CHECK_FAIL, "STARTTLS refused: %s",
		    ck_brief(r, b, sizeof(b)));
		return;
	}
	if (rv == -1) {
		if (r == NULL)
			ck_set(ck, C_STARTTLS, CHECK_FAIL, "%s",
			    ck_lost(ck->c, "STARTTLS", b, sizeof(b)));
		else
			ck_set(ck, C_STARTTLS, CHECK_FAIL, "%s",
			    smtpc_error(ck->c));
		legacy_probe(ck);
		return;
	}
	if (smtpc_discarded(ck->c) > 0)
		ck_set(ck, C_STARTTLS, CHECK_WARN, "TLS is up, but %zu octets "
		    "came in clear after the 220 and were dropped",
		    smtpc_discarded(ck->c));
	else
		ck_set(ck, C_STARTTLS, CHECK_PASS, "offered, and the handshake "
		    "completed");
	tls_established(ck);
	check_ehlo_tls(ck);
}

/*
 * A handshake at TLS 1.2 or later failed: would the server talk TLS 1.0
 * or 1.1?  Then tls-version has its answer.
 */
static void
legacy_probe(struct checker *ck)
{
	struct tls_ctx	*old;
	struct smtpc	*c;
	char		 err[256];

	if ((old = tls_client_new(ck->o.ca_file, 1, TLS1_VERSION,
	    TLS1_1_VERSION, err, sizeof(err))) == NULL)
		return;
	if (ck->o.verbose)
		fprintf(stderr, "*  trying TLS 1.0 and 1.1\n");
	if ((c = ck_open_session(ck, old, 1, err, sizeof(err))) != NULL) {
		ck_set(ck, C_TLS_VERSION, CHECK_FAIL, "the server only speaks "
		    "%s (TLS 1.2 or later needed)",
		    tls_conn_version(smtpc_tls_conn(c)));
		smtpc_close(c);
	}
	tls_ctx_free(old);
}

/* TLS is up on ck->c: its version and certificate. */
static void
tls_established(struct checker *ck)
{
	struct tls	*t = smtpc_tls_conn(ck->c);
	const char	*v = tls_conn_version(t);
	char		 subj[256], iss[256], when[64];
	time_t		 na;
	long long	 days = 0;
	int		 have_na;

	ck->tls_ok = 1;
	if (strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0)
		ck_set(ck, C_TLS_VERSION, CHECK_PASS, "%s, %s (%d bits)", v,
		    tls_conn_cipher(t), tls_conn_cipher_bits(t));
	else
		ck_set(ck, C_TLS_VERSION, CHECK_FAIL, "%s: TLS 1.2 or later "
		    "needed", v);

	if (tls_peer_cert_subject(t, subj, sizeof(subj)) == -1 &&
	    subj[0] == '\0')
		(void)snprintf(subj, sizeof(subj), "?");
	if (tls_peer_cert_issuer(t, iss, sizeof(iss)) == -1 &&
	    iss[0] == '\0')
		(void)snprintf(iss, sizeof(iss), "?");
	have_na = tls_peer_cert_notafter(t, &na) == 0;
	if (have_na) {
		/* Certificate validity is wall-clock time by definition. */
		days = ((long long)na - (long long)time(NULL));
		days = days >= 0 ? days / 86400 : -((-days + 86399) / 86400);
		if (days >= 0)
			(void)snprintf(when, sizeof(when), "expires in %lld "
			    "days", days);
		else
			(void)snprintf(when, sizeof(when), "expired %lld days "
			    "ago", -days);
	} else
		(void)snprintf(when, sizeof(when), "no expiry date");

	if (tls_peer_verified(t)) {
		if (days < EXPIRY_WARN_DAYS)
			ck_set(ck, C_TLS_CERT, CHECK_WARN, "verified (%s, "
			    "issuer %s) but %s", subj, iss, when);
		else
			ck_set(ck, C_TLS_CERT, CHECK_PASS, "verified: %s, "
			    "issuer %s, %s", subj, iss, when);
	} else if (ck->o.insecure && have_na && days < 0)
		ck_set(ck, C_TLS_CERT, CHECK_FAIL, "NOT verified: the "
		    "certificate %s (%s, issuer %s); --insecure trusts any "
		    "issuer, not an expired certificate", when, subj, iss);
	else if (ck->o.insecure && tls_peer_cert_names(t, ck->o.host) != 1)
		ck_set(ck, C_TLS_CERT, CHECK_FAIL, "NOT verified: the "
		    "certificate (%s, issuer %s) is not for %s; --insecure "
		    "trusts any issuer, not another name", subj, iss,
		    ck->o.host);
	else
		ck_set(ck, C_TLS_CERT, ck->o.insecure ? CHECK_WARN : CHECK_FAIL,
		    "NOT verified: %s (%s, issuer %s, %s)%s",
		    tls_peer_verify_error(t), subj, iss, when,
		    ck->o.insecure ? "; --insecure: the issuer is not trusted" :
		    "");
}

/* What changed between two EHLO replies, as "-LINE +LINE ...". */
static void
caps_diff(const struct reply *a, const struct reply *b, char *buf,
    size_t size)
{
	const struct reply	*x, *y;
	const char		*t, *u;
	char			 esc[200];
	size_t			 i, j, n, m, o = 0;
	int			 pass, found, k;

	buf[0] = '\0';
	for (pass = 0; pass < 2; pass++) {
		x = pass == 0 ? a : b;
		y = pass == 0 ? b : a;
		for (i = 1; i < x->nlines; i++) {
			t = reply_line(x, i, &n);
			found = 0;
			for (j = 1; j < y->nlines && !found; j++) {
				u = reply_line(y, j, &m);
				found = n == m && strncasecmp(t, u, n) == 0;
			}
			if (found)
				continue;
			k = snprintf(buf + o, size - o, "%s%c%s",
			    o > 0 ? " " : "", pass == 0 ? '-' : '+',
			    report_escape(t, n, esc, sizeof(esc)));
			if (k < 0 || (size_t)k >= size - o) {
				buf[o] = '\0';
				return;
			}
			o += (size_t)k;
		}
	}
}

/* EHLO again under STARTTLS; what changed since the EHLO in clear. */
static void
check_ehlo_tls(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200], diff[300];

	if (smtpc_cmd(ck->c, &r, "EHLO %s", ck->helo) == -1) {
		ck_set(ck, C_EHLO_TLS, CHECK_FAIL, "%s", ck_lost(ck->c,
		    "EHLO after TLS", b, sizeof(b)));
		return;
	}
	if (r->code != 250) {
		ck_set(ck, C_EHLO_TLS, CHECK_FAIL, "EHLO after TLS: %s",
		    ck_brief(r, b, sizeof(b)));
		return;
	}
	if (reply_dup(&ck->caps_tls, r) == -1) {
		ck_set(ck, C_EHLO_TLS, CHECK_FAIL, "out of memory");
		return;
	}
	ck->have_tls = 1;
	if (reply_ehlo_keyword(r, "ENHANCEDSTATUSCODES", NULL, NULL))
		ck->esc = 1;
	caps_diff(&ck->caps_plain, &ck->caps_tls, diff, sizeof(diff));
	if (reply_ehlo_keyword(r, "STARTTLS", NULL, NULL))
		ck_set(ck, C_EHLO_TLS, CHECK_WARN, "STARTTLS still offered "
		    "under TLS (RFC 3207 4.2); changes: %s", diff[0] ?
		    diff : "none");
	else
		ck_set(ck, C_EHLO_TLS, CHECK_PASS, "changes after TLS: %s",
		    diff[0] ? diff : "none");
}

/* --tls starttls only: another connection, after the other checks. */
void
check_injection(struct checker *ck)
{
	if (ck->o.tls != TLSMODE_STARTTLS || ck_is_set(ck, C_INJECTION))
		return;
	if (ck->tls_ok)
		injection_probe(ck);
	else
		ck_set(ck, C_INJECTION, CHECK_SKIP, "no TLS session");
}

/*
 * STARTTLS command injection (CVE-2011-0411 and kin): "STARTTLS\r\nNOOP\r\n"
 * in one write.  A server must answer the STARTTLS alone, start TLS and
 * forget the NOOP that came in clear; answering it inside TLS means an
 * attacker's commands in clear would run in the secure session.
 */
static void
injection_probe(struct checker *ck)
{
	static const char	 probe[] = "STARTTLS\r\nNOOP\r\n";
	struct smtpc		*c;
	const struct reply	*r;
	char			 err[256], b[200];
	int			 w;

	if ((c = ck_open_session(ck, ck->tctx, 0, err, sizeof(err))) == NULL) {
		ck_set(ck, C_INJECTION, CHECK_SKIP, "cannot connect again: %s",
		    err);
		return;
	}
	smtpc_trace(c, SMTPC_SENT, "STARTTLS");
	smtpc_trace(c, SMTPC_SENT, "NOOP");
	smtpc_trace(c, SMTPC_INFO, "(both lines in one write)");
	if (smtpc_write(c, probe, sizeof(probe) - 1) == -1 ||
	    smtpc_read_reply(c, &r) == -1) {
		ck_set(ck, C_INJECTION, CHECK_PASS, "the server hung up on a "
		    "STARTTLS with a command after it");
		goto out;
	}
	if (r->code != 220) {
		ck_set(ck, C_INJECTION, reply_class(r) >= 4 ? CHECK_PASS :
		    CHECK_WARN, "STARTTLS with a command after it refused: %s",
		    ck_brief(r, b, sizeof(b)));
		goto out;
	}
	/* Before the handshake: the 220 must be all. */
	w = smtpc_pending(c) > 0 ? 1 : smtpc_wait(c, PLAIN_WAIT_MS);
	if (w == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			ck_set(ck, C_INJECTION, CHECK_FAIL, "the NOOP sent "
			    "after STARTTLS was answered in clear (%s)",
			    ck_brief(r, b, sizeof(b)));
		else
			ck_set(ck, C_INJECTION, CHECK_FAIL, "more than the 220 "
			    "came before the TLS handshake");
		goto out;
	}
	/*
	 * TLS worked on another connection: a handshake that fails here is
	 * the server refusing a session with commands pending (Dovecot
	 * hangs up), which is safe.
	 */
	if (smtpc_tls(c, ck->tctx, ck->o.host) == -1) {
		ck_set(ck, C_INJECTION, CHECK_PASS, "the server hung up on a "
		    "STARTTLS with a command after it (%s)", smtpc_error(c));
		goto out;
	}
	w = smtpc_wait(c, INJECTION_WAIT_MS);
	if (w == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			ck_set(ck, C_INJECTION, CHECK_FAIL, "the NOOP sent in "
			    "clear was answered inside TLS (%s): commands "
			    "injected before the handshake are executed",
			    ck_brief(r, b, sizeof(b)));
		else
			ck_set(ck, C_INJECTION, CHECK_FAIL, "unsolicited data "
			    "inside TLS: %s", smtpc_error(c));
		goto out;
	}
	if (w == -1) {
		ck_set(ck, C_INJECTION, CHECK_PASS, "the server hung up after "
		    "the handshake, the command sent in clear unanswered (%s)",
		    smtpc_error(c));
		goto out;
	}
	/* A server may answer the NOOP only with the next reply. */
	if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1) {
		ck_set(ck, C_INJECTION, CHECK_WARN, "%s", ck_lost(c,
		    "EHLO after the handshake", b, sizeof(b)));
		goto out;
	}
	if (smtpc_wait(c, EXTRA_WAIT_MS) == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			ck_set(ck, C_INJECTION, CHECK_FAIL, "two replies to "
			    "one EHLO inside TLS: the NOOP sent in clear was "
			    "answered (%s)", ck_brief(r, b, sizeof(b)));
		else
			ck_set(ck, C_INJECTION, CHECK_FAIL, "junk after the "
			    "EHLO reply inside TLS: %s", smtpc_error(c));
		goto out;
	}
	ck_set(ck, C_INJECTION, CHECK_PASS, "the command sent in clear after "
	    "STARTTLS was discarded");
	(void)smtpc_cmd(c, &r, "QUIT");
 out:
	smtpc_close(c);
}
