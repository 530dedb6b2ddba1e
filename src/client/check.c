/*
 * The checklist.  The checks run in the seed's order on one connection
 * (a new one where a check needs a clean slate: after a dangerous success,
 * or when the server hung up), and each records pass, warn, fail or skip
 * with a one-line summary; they are reported in the order of the pinned
 * ids, whatever order they ran in.
 *
 * Safety rules, whatever the server does:
 * - the real password never travels without TLS (unless --tls none with
 *   --insecure-plaintext-auth), and never over TLS whose certificate did
 *   not verify (unless --insecure); the probes in clear use made-up names;
 * - at most one wrong password per run, so that a guard against guessing
 *   is not tripped;
 * - relay probes end with RSET, never DATA; only --send sends a message.
 *
 * TLS contexts here never fail a handshake on a bad certificate: the
 * result of the verification is recorded and judged by tls-cert.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <assert.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "client/auth.h"
#include "client/check.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "client/report.h"
#include "client/send.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/sasl.h"
#include "common/tls.h"

/*
 * An outside address for the relay probes: example.com (RFC 2606) is
 * reserved and never a local domain of a real server, and nothing is ever
 * sent to it (probes end with RSET).
 */
#define DEFAULT_RELAY_TO	"smtpauth-relay-test@example.com"
#define PROBE_USER		"smtpauth-probe@example.invalid"
#define PROBE_PASS		"not-a-real-password"
#define EXPIRY_WARN_DAYS	14
#define INJECTION_WAIT_MS	1000	/* for a reply to the injected NOOP */
#define EXTRA_WAIT_MS		500	/* for a second reply to one command */
#define PLAIN_WAIT_MS		300	/* for plaintext after the 220 */
#define SEND_BODY							\
	"This is a test message sent by smtpauth check --send.\r\n"

enum {
	C_CONNECT, C_SOURCE, C_BANNER, C_EHLO, C_AUTH_HIDDEN, C_AUTH_REFUSED,
	C_STARTTLS, C_INJECTION, C_TLS_VERSION, C_TLS_CERT, C_EHLO_TLS,
	C_AUTH_ADV, C_AUTH_BAD, C_AUTH_GOOD, C_RELAY_DENIED,
	C_LOCAL_ACCEPTED, C_RELAY_ALLOWED, C_SEND, C_QUIT, C_COUNT
};

/*
 * Pinned in DESIGN.md; new ones may be added, none renamed.  Each name
 * sits at its check, and the assertion stops a check added without one.
 */
static const char *const check_ids[] = {
	[C_CONNECT] = "connect",
	[C_SOURCE] = "source-address",
	[C_BANNER] = "banner",
	[C_EHLO] = "ehlo",
	[C_AUTH_HIDDEN] = "auth-hidden-plaintext",
	[C_AUTH_REFUSED] = "auth-refused-plaintext",
	[C_STARTTLS] = "starttls",
	[C_INJECTION] = "starttls-injection",
	[C_TLS_VERSION] = "tls-version",
	[C_TLS_CERT] = "tls-cert",
	[C_EHLO_TLS] = "ehlo-tls",
	[C_AUTH_ADV] = "auth-advertised",
	[C_AUTH_BAD] = "auth-bad-password",
	[C_AUTH_GOOD] = "auth-good",
	[C_RELAY_DENIED] = "relay-denied-unauth",
	[C_LOCAL_ACCEPTED] = "local-accepted-unauth",
	[C_RELAY_ALLOWED] = "relay-allowed-auth",
	[C_SEND] = "send",
	[C_QUIT] = "quit",
};
static_assert(sizeof(check_ids) / sizeof(check_ids[0]) == C_COUNT,
    "check_ids: one name per check");

enum {
	OPT_TO = OPT_LOCAL,
	OPT_RELAY_TO,
	OPT_FROM,
	OPT_SEND,
	OPT_NO_BAD_AUTH,
	OPT_JSON,
};

static const char check_usage[] =
"usage: smtpauth check [OPTIONS] HOST[:PORT]\n"
"Run the go-live checklist against a server (default port 25).\n"
"  --to ADDR              a local recipient, accepted without AUTH\n"
"  --relay-to ADDR        an outside address for the relay probes\n"
"                         (default " DEFAULT_RELAY_TO ")\n"
"  --from ADDR            sender for the probes (default: --user when it is\n"
"                         an address, else postmaster@HOST)\n"
"  --send                 really deliver one test message (to --to, else\n"
"                         to --user)\n"
"  --no-bad-auth          skip the wrong-password probe\n"
"  --json                 the result as JSON\n"
"Exit status: 0 no check failed, 1 a check failed, 2 usage error or\n"
"nothing could be tested.\n"
"Shared options:\n";

struct checker {
	struct cliopts		 o;
	const char		*to;
	const char		*relay_to;
	const char		*from_opt;
	char			 from[512];
	int			 send;
	int			 no_bad_auth;
	int			 json;
	struct check_result	 res[C_COUNT];
	struct trace_out	 tout;
	struct tls_ctx		*tctx;
	struct smtpc		*c;
	int			 c_authed;	/* c is past a 235 */
	char			 helo[300];
	struct reply		 caps_plain;	/* EHLO in clear */
	struct reply		 caps_tls;	/* EHLO under TLS */
	int			 have_plain, have_tls;
	int			 esc;		/* ENHANCEDSTATUSCODES */
	int			 tls_ok;	/* TLS worked on c */
	int			 submission;	/* MAIL needs AUTH */
	int			 authed;	/* auth-good passed on c */
	struct password		 pw;
	struct password		 token;
	int			 have_secret;
	char			 connerr[256];
};

static int	bad_usage(const char *);
static void	set(struct checker *, int, enum check_status, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
static void	skip_unset(struct checker *, const char *);
static int	is_set(const struct checker *, int);
static char	*brief(const struct reply *, char *, size_t);
static enum check_status judge(const struct checker *, const char *,
		    const char *, char *, size_t);
static void	smtpc_opts_for(struct checker *, struct smtpc_opts *);
static struct smtpc *open_session(struct checker *, struct tls_ctx *, int,
		    char *, size_t);
static int	need_conn(struct checker *, int);
static void	cert_again(struct checker *);
static void	drop_conn(struct checker *);
static const struct reply *auth_caps(const struct checker *);
static const char *cannot_auth(const struct checker *);
static enum auth_mech pick_mech(const struct checker *,
		    const struct auth_cred *, char *, size_t);
static void	check_source(struct checker *);
static void	check_auth_hidden(struct checker *);
static void	check_auth_refused(struct checker *);
static void	check_starttls(struct checker *);
static void	legacy_probe(struct checker *);
static void	tls_established(struct checker *);
static void	check_ehlo_tls(struct checker *);
static void	caps_diff(const struct reply *, const struct reply *, char *,
		    size_t);
static void	check_auth_advertised(struct checker *);
static void	check_relay_denied(struct checker *);
static void	check_local_accepted(struct checker *);
static void	check_auth_bad(struct checker *);
static void	check_auth_good(struct checker *);
static void	check_relay_allowed(struct checker *);
static void	check_send(struct checker *);
static void	check_quit(struct checker *);
static void	check_injection(struct checker *);
static void	injection_probe(struct checker *);
static int	check_connect(struct checker *);
static int	check_tls_implicit(struct checker *);
static int	check_banner(struct checker *);
static size_t	ehlo_keywords(const struct reply *, char *, size_t);
static int	check_ehlo(struct checker *);
static void	check_auth_in_clear(struct checker *);
static void	check_tls(struct checker *);
static int	run(struct checker *);

static const struct cliopt_cmd	check_cmd = { "check", check_usage, NULL, NULL };

static int
bad_usage(const char *msg)
{
	return cliopt_bad_usage(&check_cmd, msg);
}

static void
set(struct checker *ck, int id, enum check_status st, const char *fmt, ...)
{
	va_list	ap;

	ck->res[id].status = st;
	va_start(ap, fmt);
	(void)vsnprintf(ck->res[id].summary, sizeof(ck->res[id].summary), fmt,
	    ap);
	va_end(ap);
}

static int
is_set(const struct checker *ck, int id)
{
	return ck->res[id].status != CHECK_UNSET;
}

/* Every check not decided yet is skipped, for this reason. */
static void
skip_unset(struct checker *ck, const char *reason)
{
	size_t	i;

	for (i = 0; i < C_COUNT; i++)
		if (!is_set(ck, (int)i))
			set(ck, (int)i, CHECK_SKIP, "%s", reason);
}

/* "NNN text" of a reply's first line, escaped and cut, for a summary. */
static char *
brief(const struct reply *r, char *buf, size_t size)
{
	const char	*t;
	char		 esc[160];
	size_t		 n;

	t = reply_line(r, 0, &n);
	(void)snprintf(buf, size, "%03d%s%s", r->code, n > 0 ? " " : "",
	    report_escape(t, n, esc, sizeof(esc)));
	return buf;
}

/*
 * The code was right; is the enhanced code?  Where the RFC fixes one and
 * the server sends another, or none while it offers ENHANCEDSTATUSCODES,
 * warn; a server without enhanced codes is judged on the code alone.
 */
static enum check_status
judge(const struct checker *ck, const char *enhanced, const char *want,
    char *note, size_t size)
{
	note[0] = '\0';
	if (enhanced[0] != '\0') {
		if (strcmp(enhanced, want) == 0)
			return CHECK_PASS;
		(void)snprintf(note, size, " (enhanced code %s, expected %s)",
		    enhanced, want);
		return CHECK_WARN;
	}
	if (ck->esc) {
		(void)snprintf(note, size, " (no enhanced code, expected %s)",
		    want);
		return CHECK_WARN;
	}
	return CHECK_PASS;
}

static void
smtpc_opts_for(struct checker *ck, struct smtpc_opts *so)
{
	cliopt_smtpc(&ck->o, ck->o.verbose ? report_trace : NULL, &ck->tout,
	    so);
}

/*
 * A new connection up to EHLO (under TLS when want_tls, in the mode the
 * run uses), for checks that need a clean slate.  NULL with err set.
 */
static struct smtpc *
open_session(struct checker *ck, struct tls_ctx *ctx, int want_tls,
    char *err, size_t errlen)
{
	struct smtpc_opts	 so;
	struct smtpc		*c;
	const struct reply	*r;
	char			 b[200];

	smtpc_opts_for(ck, &so);
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, err,
	    errlen)) == NULL)
		return NULL;
	if (ck->o.tls == TLSMODE_IMPLICIT && smtpc_tls(c, ctx,
	    ck->o.host) == -1)
		goto fail;
	if (smtpc_read_reply(c, &r) == -1)
		goto fail;
	if (r->code != 220) {
		(void)snprintf(err, errlen, "greeting %s", brief(r, b,
		    sizeof(b)));
		goto out;
	}
	if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1)
		goto fail;
	if (r->code != 250) {
		(void)snprintf(err, errlen, "EHLO: %s", brief(r, b,
		    sizeof(b)));
		goto out;
	}
	if (ck->o.tls == TLSMODE_STARTTLS && want_tls) {
		switch (smtpc_starttls(c, ctx, ck->o.host, &r)) {
		case 1:
			break;
		case 0:
			(void)snprintf(err, errlen, "STARTTLS: %s", brief(r,
			    b, sizeof(b)));
			goto out;
		default:
			goto fail;
		}
		if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1)
			goto fail;
		if (r->code != 250) {
			(void)snprintf(err, errlen, "EHLO: %s", brief(r, b,
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
static void
drop_conn(struct checker *ck)
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
static int
need_conn(struct checker *ck, int authed_ok)
{
	struct smtpc	*c;

	if (smtpc_alive(ck->c) && (authed_ok || !ck->c_authed))
		return 0;
	drop_conn(ck);
	if (ck->o.verbose)
		fprintf(stderr, "*  a new connection for the next checks\n");
	c = open_session(ck, ck->tctx, ck->tls_ok, ck->connerr,
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
	set(ck, C_TLS_CERT, ck->o.insecure ? CHECK_WARN : CHECK_FAIL,
	    "NOT verified on a later connection: %s (%s)%s",
	    tls_peer_verify_error(t), subj, ck->o.insecure ? "; --insecure" :
	    "");
}

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

/*
 * Relay policies often trust local networks: results from such an address
 * may not be what the Internet sees.
 */
static void
check_source(struct checker *ck)
{
	const struct sockaddr_storage	*ss = smtpc_local_sockaddr(ck->c);
	const unsigned char		*a;
	const char			*kind = NULL;
	unsigned char			 v4[4];

	if (ss->ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)ss)->sin6_addr)) {
			memcpy(v4, a + 12, 4);
			a = v4;
			goto v4;
		}
		if (IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)ss)->sin6_addr))
			kind = "loopback";
		else if ((a[0] & 0xfe) == 0xfc)
			kind = "unique local";
		else if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
			kind = "link-local";
	} else if (ss->ss_family == AF_INET) {
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)ss)->sin_addr.s_addr;
 v4:
		if (a[0] == 127)
			kind = "loopback";
		else if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168))
			kind = "private";
		else if (a[0] == 100 && (a[1] & 0xc0) == 64)
			kind = "shared (CGNAT)";
		else if (a[0] == 169 && a[1] == 254)
			kind = "link-local";
	}
	if (kind != NULL)
		set(ck, C_SOURCE, CHECK_WARN, "checking from %s (%s): relay "
		    "results may be those the server gives a trusted network",
		    smtpc_local_addr(ck->c), kind);
	else
		set(ck, C_SOURCE, CHECK_PASS, "checking from %s",
		    smtpc_local_addr(ck->c));
}

static void
check_auth_hidden(struct checker *ck)
{
	const char	*adv;
	char		 esc[200];
	size_t		 n;

	if (reply_ehlo_keyword(&ck->caps_plain, "AUTH", &adv, &n))
		set(ck, C_AUTH_HIDDEN, CHECK_FAIL, "AUTH %s offered without "
		    "TLS: clients will send passwords in clear",
		    report_escape(adv, n, esc, sizeof(esc)));
	else
		set(ck, C_AUTH_HIDDEN, CHECK_PASS, "AUTH not offered without "
		    "TLS");
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
		set(ck, C_AUTH_REFUSED, CHECK_SKIP, "connection lost");
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
	brief(r, b, sizeof(b));
	switch (r->code) {
	case 235:
		set(ck, C_AUTH_REFUSED, CHECK_FAIL, "CRITICAL: a made-up "
		    "credential was accepted without TLS (%s)", b);
		ck->c_authed = 1;
		return;
	case 334:
		set(ck, C_AUTH_REFUSED, CHECK_FAIL, "the server asks for "
		    "credentials without TLS (%s); cancelled", b);
		if (smtpc_send_line(ck->c, 0, "*", 1) == 0)
			(void)smtpc_read_reply(ck->c, &r);
		return;
	case 535:
		set(ck, C_AUTH_REFUSED, CHECK_FAIL, "the server checked a "
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
		set(ck, C_AUTH_REFUSED, CHECK_PASS, "refused without TLS: %s",
		    b);
		return;
	default:
		if (reply_class(r) == 5)
			set(ck, C_AUTH_REFUSED, CHECK_WARN, "refused with %s "
			    "(expected 538 5.7.11)", b);
		else if (reply_class(r) == 4)
			set(ck, C_AUTH_REFUSED, CHECK_WARN, "temporary "
			    "refusal %s (expected 538 5.7.11)", b);
		else
			set(ck, C_AUTH_REFUSED, CHECK_FAIL, "unexpected reply "
			    "%s", b);
		return;
	}
	st = judge(ck, r->enhanced, want, note, sizeof(note));
	set(ck, C_AUTH_REFUSED, st, "refused without TLS: %s%s", b, note);
	return;
 lost:
	set(ck, C_AUTH_REFUSED, CHECK_WARN, "no reply to AUTH without TLS: "
	    "%s", smtpc_error(ck->c));
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
	if ((c = open_session(ck, old, 1, err, sizeof(err))) != NULL) {
		set(ck, C_TLS_VERSION, CHECK_FAIL, "the server only speaks %s "
		    "(TLS 1.2 or later needed)",
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
		set(ck, C_TLS_VERSION, CHECK_PASS, "%s, %s (%d bits)", v,
		    tls_conn_cipher(t), tls_conn_cipher_bits(t));
	else
		set(ck, C_TLS_VERSION, CHECK_FAIL, "%s: TLS 1.2 or later "
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
			set(ck, C_TLS_CERT, CHECK_WARN, "verified (%s, issuer "
			    "%s) but %s", subj, iss, when);
		else
			set(ck, C_TLS_CERT, CHECK_PASS, "verified: %s, issuer "
			    "%s, %s", subj, iss, when);
	} else
		set(ck, C_TLS_CERT, ck->o.insecure ? CHECK_WARN : CHECK_FAIL,
		    "NOT verified: %s (%s, issuer %s, %s)%s",
		    tls_peer_verify_error(t), subj, iss, when,
		    ck->o.insecure ? "; --insecure" : "");
}

static void
check_starttls(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 rv;

	if (!reply_ehlo_keyword(&ck->caps_plain, "STARTTLS", NULL, NULL)) {
		set(ck, C_STARTTLS, CHECK_FAIL, "STARTTLS not offered: mail "
		    "and passwords travel in clear");
		set(ck, C_INJECTION, CHECK_SKIP, "no STARTTLS");
		return;
	}
	/* After a 235 in clear a server may refuse STARTTLS: start over. */
	if (need_conn(ck, 0) == -1) {
		set(ck, C_STARTTLS, CHECK_FAIL, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	rv = smtpc_starttls(ck->c, ck->tctx, ck->o.host, &r);
	if (rv == 0) {
		set(ck, C_STARTTLS, CHECK_FAIL, "STARTTLS refused: %s",
		    brief(r, b, sizeof(b)));
		return;
	}
	if (rv == -1) {
		if (r == NULL)
			set(ck, C_STARTTLS, CHECK_FAIL, "no reply to STARTTLS: "
			    "%s", smtpc_error(ck->c));
		else
			set(ck, C_STARTTLS, CHECK_FAIL, "%s",
			    smtpc_error(ck->c));
		legacy_probe(ck);
		return;
	}
	if (smtpc_discarded(ck->c) > 0)
		set(ck, C_STARTTLS, CHECK_WARN, "TLS is up, but %zu octets "
		    "came in clear after the 220 and were dropped",
		    smtpc_discarded(ck->c));
	else
		set(ck, C_STARTTLS, CHECK_PASS, "offered, and the handshake "
		    "completed");
	tls_established(ck);
	check_ehlo_tls(ck);
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
		set(ck, C_EHLO_TLS, CHECK_FAIL, "no reply to EHLO after TLS: "
		    "%s", smtpc_error(ck->c));
		return;
	}
	if (r->code != 250) {
		set(ck, C_EHLO_TLS, CHECK_FAIL, "EHLO after TLS: %s",
		    brief(r, b, sizeof(b)));
		return;
	}
	if (reply_dup(&ck->caps_tls, r) == -1) {
		set(ck, C_EHLO_TLS, CHECK_FAIL, "out of memory");
		return;
	}
	ck->have_tls = 1;
	if (reply_ehlo_keyword(r, "ENHANCEDSTATUSCODES", NULL, NULL))
		ck->esc = 1;
	caps_diff(&ck->caps_plain, &ck->caps_tls, diff, sizeof(diff));
	if (reply_ehlo_keyword(r, "STARTTLS", NULL, NULL))
		set(ck, C_EHLO_TLS, CHECK_WARN, "STARTTLS still offered "
		    "under TLS (RFC 3207 4.2); changes: %s", diff[0] ?
		    diff : "none");
	else
		set(ck, C_EHLO_TLS, CHECK_PASS, "changes after TLS: %s",
		    diff[0] ? diff : "none");
}

static void
check_auth_advertised(struct checker *ck)
{
	const struct reply	*caps = auth_caps(ck);
	const char		*adv;
	char			 esc[200];
	size_t			 n;

	if (ck->o.tls == TLSMODE_NONE && !ck->o.insecure_plaintext_auth) {
		set(ck, C_AUTH_ADV, CHECK_SKIP, "--tls none: AUTH is only "
		    "looked at under TLS (--insecure-plaintext-auth overrides)");
		return;
	}
	if (caps == NULL) {
		set(ck, C_AUTH_ADV, CHECK_SKIP, "no TLS session");
		return;
	}
	if (!reply_ehlo_keyword(caps, "AUTH", &adv, &n))
		set(ck, C_AUTH_ADV, CHECK_FAIL, "AUTH not offered%s",
		    ck->have_tls ? " under TLS" : "");
	else if (!reply_word_in(adv, n, "PLAIN"))
		set(ck, C_AUTH_ADV, CHECK_WARN, "AUTH %s: PLAIN not among "
		    "them", report_escape(adv, n, esc, sizeof(esc)));
	else
		set(ck, C_AUTH_ADV, CHECK_PASS, "AUTH %s",
		    report_escape(adv, n, esc, sizeof(esc)));
}

/*
 * A probe transaction: MAIL FROM:<--from> and, when that is accepted,
 * RCPT TO:<rcpt>.  Returns PROBE_RCPT with the RCPT reply in *r,
 * PROBE_MAIL with a refused MAIL's reply, or PROBE_LOST (check id then
 * says so); b gets the reply in brief.  The caller judges the reply, then
 * calls probe_end().
 */
enum { PROBE_LOST = -1, PROBE_MAIL = 1, PROBE_RCPT = 2 };

static int
probe_txn(struct checker *ck, int id, const char *rcpt,
    const struct reply **r, char *b, size_t blen)
{
	if (smtpc_cmd(ck->c, r, "MAIL FROM:<%s>", ck->from) == -1)
		goto lost;
	brief(*r, b, blen);
	if (reply_class(*r) != 2)
		return PROBE_MAIL;
	if (smtpc_cmd(ck->c, r, "RCPT TO:<%s>", rcpt) == -1)
		goto lost;
	brief(*r, b, blen);
	return PROBE_RCPT;
 lost:
	set(ck, id, CHECK_WARN, "connection lost: %s", smtpc_error(ck->c));
	return PROBE_LOST;
}

static void
probe_end(struct checker *ck)
{
	const struct reply	*r;

	(void)smtpc_cmd(ck->c, &r, "RSET");
}

/* Without AUTH an outside recipient must be refused at RCPT. */
static void
check_relay_denied(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200], note[100];
	enum check_status	 st;
	int			 got;

	if (need_conn(ck, 0) == -1) {
		set(ck, C_RELAY_DENIED, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	got = probe_txn(ck, C_RELAY_DENIED, ck->relay_to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (got == PROBE_MAIL && r->code == 530) {
		ck->submission = 1;
		st = judge(ck, r->enhanced, "5.7.0", note, sizeof(note));
		set(ck, C_RELAY_DENIED, st, "refused at MAIL FROM without "
		    "AUTH: %s%s", b, note);
	} else if (got == PROBE_MAIL)
		set(ck, C_RELAY_DENIED, CHECK_WARN, "MAIL FROM:<%s> refused "
		    "(%s): relaying not probed (try --from)", ck->from, b);
	else if (reply_class(r) == 2)
		set(ck, C_RELAY_DENIED, CHECK_FAIL, "OPEN RELAY: RCPT TO:<%s> "
		    "accepted without AUTH (%s)", ck->relay_to, b);
	else if (r->code == 550) {
		st = judge(ck, r->enhanced, "5.7.1", note, sizeof(note));
		set(ck, C_RELAY_DENIED, st, "refused: %s%s", b, note);
	} else if (r->code == 530) {
		st = judge(ck, r->enhanced, "5.7.0", note, sizeof(note));
		set(ck, C_RELAY_DENIED, st, "refused, AUTH required: %s%s", b,
		    note);
		ck->submission = 1;
	} else if (reply_class(r) == 5)
		set(ck, C_RELAY_DENIED, CHECK_WARN, "refused with %s "
		    "(expected 550 5.7.1)", b);
	else
		set(ck, C_RELAY_DENIED, CHECK_WARN, "temporarily refused (%s): "
		    "cannot tell", b);
	probe_end(ck);
}

/* Port-25 style: a local recipient is accepted without AUTH. */
static void
check_local_accepted(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 got;

	if (ck->to == NULL) {
		set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "no local recipient "
		    "(--to)");
		return;
	}
	if (ck->submission) {
		set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "the server wants AUTH "
		    "before mail (a submission port)");
		return;
	}
	if (need_conn(ck, 0) == -1) {
		set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "cannot connect again: "
		    "%s", ck->connerr);
		return;
	}
	got = probe_txn(ck, C_LOCAL_ACCEPTED, ck->to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (r->code == 530)
		set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "the server wants AUTH "
		    "before mail (%s)", b);
	else if (got == PROBE_MAIL)
		set(ck, C_LOCAL_ACCEPTED, reply_class(r) == 4 ? CHECK_WARN :
		    CHECK_FAIL, "MAIL FROM:<%s> refused without AUTH: %s",
		    ck->from, b);
	else if (reply_class(r) == 2)
		set(ck, C_LOCAL_ACCEPTED, CHECK_PASS, "RCPT TO:<%s> accepted "
		    "without AUTH: %s", ck->to, b);
	else if (reply_class(r) == 4)
		set(ck, C_LOCAL_ACCEPTED, CHECK_WARN, "temporarily refused: "
		    "%s", b);
	else
		set(ck, C_LOCAL_ACCEPTED, CHECK_FAIL, "RCPT TO:<%s> refused "
		    "without AUTH: %s", ck->to, b);
	probe_end(ck);
}

/* One wrong password, the only one this run tries: 535. */
static void
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
		set(ck, C_AUTH_BAD, CHECK_SKIP, "--no-bad-auth");
		return;
	}
	if ((why_not = cannot_auth(ck)) != NULL) {
		set(ck, C_AUTH_BAD, CHECK_SKIP, "%s", why_not);
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
		set(ck, C_AUTH_BAD, CHECK_SKIP, "%s", why);
		return;
	}
	if (need_conn(ck, 0) == -1) {
		set(ck, C_AUTH_BAD, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	(void)auth_run(ck->c, m, &cr, &ar);
	(void)snprintf(who, sizeof(who), "AUTH %s%s", auth_mech_name(m),
	    ck->o.user == NULL ? " as an unknown user (no --user)" : "");
	if (ar.code == 0) {
		set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: no "
		    "answer (%s)", who, ar.detail);
		return;
	}
	switch (ar.code) {
	case 235:
		set(ck, C_AUTH_BAD, CHECK_FAIL, "CRITICAL: a wrong password "
		    "was accepted (%s, %s)", who, ar.text);
		ck->c_authed = 1;
		return;
	case 535:
		st = judge(ck, ar.enhanced, "5.7.8", note, sizeof(note));
		set(ck, C_AUTH_BAD, st, "wrong password refused (%s): %s%s%s",
		    who, ar.text, note, smtpc_alive(ck->c) ? "" :
		    "; the server then closed the connection");
		return;
	case 503:
	case 454:
		set(ck, C_AUTH_BAD, CHECK_FAIL, "%s with a wrong password: %s "
		    "(expected 535)", who, ar.text);
		return;
	}
	set(ck, C_AUTH_BAD, CHECK_WARN, "%s with a wrong password: %s "
	    "(expected 535 5.7.8)%s%s", who, ar.text, ar.detail[0] ? ": " :
	    "", ar.detail);
}

/* The real credentials: 235. */
static void
check_auth_good(struct checker *ck)
{
	struct auth_cred	 cr;
	struct auth_result	 ar;
	char			 why[160], note[200];
	const char		*why_not;
	enum auth_mech		 m;
	enum check_status	 st;

	if (ck->o.user == NULL) {
		set(ck, C_AUTH_GOOD, CHECK_SKIP, "no --user given");
		return;
	}
	if ((why_not = cannot_auth(ck)) != NULL) {
		set(ck, C_AUTH_GOOD, CHECK_SKIP, "%s", why_not);
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
		set(ck, C_AUTH_GOOD, ck->o.mech != AUTH_MECH_NONE ? CHECK_FAIL :
		    CHECK_SKIP, "%s", why);
		return;
	}
	if (need_conn(ck, 0) == -1) {
		set(ck, C_AUTH_GOOD, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	/* auth_run() would refuse too; this says so in the report. */
	if ((why_not = smtpc_credential_refused(ck->c)) != NULL) {
		set(ck, C_AUTH_GOOD, CHECK_SKIP, "the password is not sent: "
		    "%s", why_not);
		return;
	}
	if (auth_run(ck->c, m, &cr, &ar) != 1) {
		set(ck, C_AUTH_GOOD, CHECK_FAIL, "AUTH %s as %s: %s%s%s",
		    auth_mech_name(m), ck->o.user, ar.code ? ar.text :
		    "no answer", ar.detail[0] ? ": " : "", ar.detail);
		return;
	}
	ck->c_authed = ck->authed = 1;
	st = judge(ck, ar.enhanced, "2.7.0", note, sizeof(note));
	if ((m == AUTH_MECH_SCRAM_SHA1 || m == AUTH_MECH_SCRAM_SHA256) &&
	    !ar.scram_verified) {
		st = CHECK_WARN;
		(void)snprintf(note, sizeof(note), "; %s", ar.detail);
	}
	set(ck, C_AUTH_GOOD, st, "authenticated as %s with %s: %s%s",
	    ck->o.user, auth_mech_name(m), ar.text, note);
}

/* After AUTH the outside recipient is accepted. */
static void
check_relay_allowed(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 got;

	if (!ck->authed || !smtpc_alive(ck->c)) {
		set(ck, C_RELAY_ALLOWED, CHECK_SKIP, "not authenticated");
		return;
	}
	got = probe_txn(ck, C_RELAY_ALLOWED, ck->relay_to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (got == PROBE_MAIL)
		set(ck, C_RELAY_ALLOWED, CHECK_FAIL, "MAIL FROM:<%s> refused "
		    "after AUTH: %s (try --from)", ck->from, b);
	else if (reply_class(r) == 2)
		set(ck, C_RELAY_ALLOWED, CHECK_PASS, "RCPT TO:<%s> accepted "
		    "after AUTH: %s", ck->relay_to, b);
	else if (reply_class(r) == 4)
		set(ck, C_RELAY_ALLOWED, CHECK_WARN, "temporarily refused: %s",
		    b);
	else if (strncmp(r->enhanced, "5.1.", 4) == 0)
		set(ck, C_RELAY_ALLOWED, CHECK_WARN, "the address was refused, "
		    "not the relaying (%s): try a deliverable --relay-to", b);
	else
		set(ck, C_RELAY_ALLOWED, CHECK_FAIL, "relaying refused after "
		    "AUTH: %s", b);
	probe_end(ck);
}

/* --send: one real message. */
static void
check_send(struct checker *ck)
{
	const struct reply	*r;
	const char		*rcpt, *rcpts[1];
	char			*msg = NULL, b[200], qid[QUEUE_ID_MAX];
	size_t			 msglen;
	int			 rv;

	if (!ck->send) {
		set(ck, C_SEND, CHECK_SKIP, "no message sent (--send sends "
		    "one)");
		return;
	}
	rcpt = ck->to;
	if (rcpt == NULL && ck->authed && cliopt_is_address(ck->o.user))
		rcpt = ck->o.user;
	if (rcpt == NULL) {
		set(ck, C_SEND, CHECK_SKIP, "no recipient: give --to");
		return;
	}
	if (!ck->authed && need_conn(ck, 0) == -1) {
		set(ck, C_SEND, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	if (!smtpc_alive(ck->c)) {
		set(ck, C_SEND, CHECK_SKIP, "connection lost");
		return;
	}
	if (smtpc_cmd(ck->c, &r, "MAIL FROM:<%s>", ck->from) == -1)
		goto lost;
	if (reply_class(r) != 2) {
		set(ck, C_SEND, CHECK_FAIL, "MAIL FROM:<%s>: %s", ck->from,
		    brief(r, b, sizeof(b)));
		goto rset;
	}
	if (smtpc_cmd(ck->c, &r, "RCPT TO:<%s>", rcpt) == -1)
		goto lost;
	if (reply_class(r) != 2) {
		set(ck, C_SEND, CHECK_FAIL, "RCPT TO:<%s>: %s", rcpt,
		    brief(r, b, sizeof(b)));
		goto rset;
	}
	if (smtpc_cmd(ck->c, &r, "DATA") == -1)
		goto lost;
	if (r->code != 354) {
		set(ck, C_SEND, CHECK_FAIL, "DATA: %s", brief(r, b,
		    sizeof(b)));
		goto rset;
	}
	rcpts[0] = rcpt;
	if (message_build(ck->from, rcpts, 1, "smtpauth check", SEND_BODY,
	    sizeof(SEND_BODY) - 1, &msg, &msglen) == -1) {
		set(ck, C_SEND, CHECK_FAIL, "cannot build the message");
		return;
	}
	rv = smtpc_data(ck->c, msg, msglen);
	free(msg);
	if (rv == -1 || smtpc_read_reply(ck->c, &r) == -1)
		goto lost;
	brief(r, b, sizeof(b));
	if (reply_class(r) != 2) {
		set(ck, C_SEND, CHECK_FAIL, "message refused: %s", b);
		return;
	}
	queue_id(r, qid, sizeof(qid));
	set(ck, C_SEND, CHECK_PASS, "sent to <%s>, queue id %s (%s)", rcpt,
	    qid[0] ? qid : "none", b);
	return;
 rset:
	(void)smtpc_cmd(ck->c, &r, "RSET");
	return;
 lost:
	set(ck, C_SEND, CHECK_FAIL, "connection lost: %s",
	    smtpc_error(ck->c));
}

static void
check_quit(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];

	if (need_conn(ck, 1) == -1) {
		set(ck, C_QUIT, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	if (smtpc_cmd(ck->c, &r, "QUIT") == -1)
		set(ck, C_QUIT, CHECK_WARN, "no reply to QUIT: %s",
		    smtpc_error(ck->c));
	else if (r->code == 221)
		set(ck, C_QUIT, CHECK_PASS, "%s", brief(r, b, sizeof(b)));
	else
		set(ck, C_QUIT, CHECK_WARN, "QUIT: %s (expected 221)",
		    brief(r, b, sizeof(b)));
	smtpc_close(ck->c);
	ck->c = NULL;
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

	if ((c = open_session(ck, ck->tctx, 0, err, sizeof(err))) == NULL) {
		set(ck, C_INJECTION, CHECK_SKIP, "cannot connect again: %s",
		    err);
		return;
	}
	smtpc_trace(c, SMTPC_SENT, "STARTTLS");
	smtpc_trace(c, SMTPC_SENT, "NOOP");
	smtpc_trace(c, SMTPC_INFO, "(both lines in one write)");
	if (smtpc_write(c, probe, sizeof(probe) - 1) == -1 ||
	    smtpc_read_reply(c, &r) == -1) {
		set(ck, C_INJECTION, CHECK_PASS, "the server hung up on a "
		    "STARTTLS with a command after it");
		goto out;
	}
	if (r->code != 220) {
		set(ck, C_INJECTION, reply_class(r) >= 4 ? CHECK_PASS :
		    CHECK_WARN, "STARTTLS with a command after it refused: %s",
		    brief(r, b, sizeof(b)));
		goto out;
	}
	/* Before the handshake: the 220 must be all. */
	w = smtpc_pending(c) > 0 ? 1 : smtpc_wait(c, PLAIN_WAIT_MS);
	if (w == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			set(ck, C_INJECTION, CHECK_FAIL, "the NOOP sent after "
			    "STARTTLS was answered in clear (%s)",
			    brief(r, b, sizeof(b)));
		else
			set(ck, C_INJECTION, CHECK_FAIL, "more than the 220 "
			    "came before the TLS handshake");
		goto out;
	}
	if (smtpc_tls(c, ck->tctx, ck->o.host) == -1) {
		set(ck, C_INJECTION, CHECK_WARN, "the handshake after a "
		    "STARTTLS with a command after it failed: %s",
		    smtpc_error(c));
		goto out;
	}
	w = smtpc_wait(c, INJECTION_WAIT_MS);
	if (w == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			set(ck, C_INJECTION, CHECK_FAIL, "the NOOP sent in "
			    "clear was answered inside TLS (%s): commands "
			    "injected before the handshake are executed",
			    brief(r, b, sizeof(b)));
		else
			set(ck, C_INJECTION, CHECK_FAIL, "unsolicited data "
			    "inside TLS: %s", smtpc_error(c));
		goto out;
	}
	if (w == -1) {
		set(ck, C_INJECTION, CHECK_WARN, "the connection closed after "
		    "the handshake: %s", smtpc_error(c));
		goto out;
	}
	/* A server may answer the NOOP only with the next reply. */
	if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1) {
		set(ck, C_INJECTION, CHECK_WARN, "no reply to EHLO after the "
		    "handshake: %s", smtpc_error(c));
		goto out;
	}
	if (smtpc_wait(c, EXTRA_WAIT_MS) == 1) {
		if (smtpc_read_reply(c, &r) == 0)
			set(ck, C_INJECTION, CHECK_FAIL, "two replies to one "
			    "EHLO inside TLS: the NOOP sent in clear was "
			    "answered (%s)", brief(r, b, sizeof(b)));
		else
			set(ck, C_INJECTION, CHECK_FAIL, "junk after the EHLO "
			    "reply inside TLS: %s", smtpc_error(c));
		goto out;
	}
	set(ck, C_INJECTION, CHECK_PASS, "the command sent in clear after "
	    "STARTTLS was discarded");
	(void)smtpc_cmd(c, &r, "QUIT");
 out:
	smtpc_close(c);
}

/* --tls starttls only: another connection, after the other checks. */
static void
check_injection(struct checker *ck)
{
	if (ck->o.tls != TLSMODE_STARTTLS || is_set(ck, C_INJECTION))
		return;
	if (ck->tls_ok)
		injection_probe(ck);
	else
		set(ck, C_INJECTION, CHECK_SKIP, "no TLS session");
}

/*
 * The steps that can end the run return 0 to go on, or the exit status
 * to stop with once every check left is skipped.
 */
static int
check_connect(struct checker *ck)
{
	struct smtpc_opts	 so;
	char			 err[256];

	smtpc_opts_for(ck, &so);
	if ((ck->c = smtpc_connect(ck->o.host, ck->o.port, &so, err,
	    sizeof(err))) == NULL) {
		set(ck, C_CONNECT, CHECK_FAIL, "%s", err);
		skip_unset(ck, "cannot connect");
		return 2;
	}
	set(ck, C_CONNECT, CHECK_PASS, "connected to %s port %s (%s)",
	    smtpc_peer_addr(ck->c), smtpc_peer_port(ck->c),
	    cliopt_tls_name(ck->o.tls));
	cliopt_helo(&ck->o, ck->c, ck->helo, sizeof(ck->helo));
	return 0;
}

/* --tls implicit: the handshake comes before the greeting. */
static int
check_tls_implicit(struct checker *ck)
{
	if (ck->o.tls != TLSMODE_IMPLICIT)
		return 0;
	if (smtpc_tls(ck->c, ck->tctx, ck->o.host) == -1) {
		set(ck, C_STARTTLS, CHECK_FAIL, "implicit TLS: %s",
		    smtpc_error(ck->c));
		legacy_probe(ck);
		skip_unset(ck, "no TLS session");
		return 1;
	}
	set(ck, C_STARTTLS, CHECK_PASS, "implicit TLS: the handshake "
	    "completed");
	tls_established(ck);
	return 0;
}

static int
check_banner(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];

	if (smtpc_read_reply(ck->c, &r) == -1) {
		set(ck, C_BANNER, CHECK_FAIL, "no greeting: %s",
		    smtpc_error(ck->c));
		skip_unset(ck, "no greeting");
		return 1;
	}
	if (r->code != 220) {
		set(ck, C_BANNER, CHECK_FAIL, "greeting %s", brief(r, b,
		    sizeof(b)));
		skip_unset(ck, "the server refused the session");
		return 1;
	}
	set(ck, C_BANNER, CHECK_PASS, "%s", brief(r, b, sizeof(b)));
	return 0;
}

/* The keywords of an EHLO reply's extensions, for the summary; its length. */
static size_t
ehlo_keywords(const struct reply *r, char *kw, size_t size)
{
	const char	*t;
	char		 esc[64];
	size_t		 i, n, k, o;

	for (i = 1, o = 0, kw[0] = '\0'; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		for (k = 0; k < n && t[k] != ' ' && t[k] != '='; k++)
			;
		if (o + k + 2 >= size)
			break;
		o += (size_t)snprintf(kw + o, size - o, "%s%s",
		    o > 0 ? " " : "", report_escape(t, k, esc, sizeof(esc)));
	}
	return o;
}

/* The first EHLO; its reply is what the server offers in clear (or TLS). */
static int
check_ehlo(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200], kw[400];

	if (smtpc_cmd(ck->c, &r, "EHLO %s", ck->helo) == -1) {
		set(ck, C_EHLO, CHECK_FAIL, "no reply to EHLO: %s",
		    smtpc_error(ck->c));
		skip_unset(ck, "no EHLO");
		return 1;
	}
	if (r->code != 250) {
		set(ck, C_EHLO, CHECK_FAIL, "EHLO refused: %s", brief(r, b,
		    sizeof(b)));
		skip_unset(ck, "no EHLO");
		return 1;
	}
	set(ck, C_EHLO, CHECK_PASS, "%s", ehlo_keywords(r, kw, sizeof(kw)) >
	    0 ? kw : "no extensions");
	if (reply_ehlo_keyword(r, "ENHANCEDSTATUSCODES", NULL, NULL))
		ck->esc = 1;
	if (ck->o.tls == TLSMODE_IMPLICIT) {
		if (reply_dup(&ck->caps_tls, r) == -1)
			return 2;
		ck->have_tls = 1;
	} else {
		if (reply_dup(&ck->caps_plain, r) == -1)
			return 2;
		ck->have_plain = 1;
	}
	return 0;
}

/* Before any TLS: AUTH neither offered nor accepted in clear. */
static void
check_auth_in_clear(struct checker *ck)
{
	if (ck->o.tls == TLSMODE_IMPLICIT) {
		set(ck, C_AUTH_HIDDEN, CHECK_SKIP, "implicit TLS: nothing is "
		    "sent in clear");
		set(ck, C_AUTH_REFUSED, CHECK_SKIP, "implicit TLS: nothing is "
		    "sent in clear");
		return;
	}
	check_auth_hidden(ck);
	check_auth_refused(ck);
}

/* STARTTLS, and under it the version, the certificate and EHLO again. */
static void
check_tls(struct checker *ck)
{
	switch (ck->o.tls) {
	case TLSMODE_IMPLICIT:
		set(ck, C_INJECTION, CHECK_SKIP, "implicit TLS: no STARTTLS");
		set(ck, C_EHLO_TLS, CHECK_SKIP, "implicit TLS: no EHLO in "
		    "clear to compare");
		break;
	case TLSMODE_NONE:
		set(ck, C_STARTTLS, CHECK_SKIP, "--tls none");
		set(ck, C_INJECTION, CHECK_SKIP, "--tls none");
		set(ck, C_TLS_VERSION, CHECK_SKIP, "--tls none");
		set(ck, C_TLS_CERT, CHECK_SKIP, "--tls none");
		set(ck, C_EHLO_TLS, CHECK_SKIP, "--tls none");
		break;
	default:
		check_starttls(ck);
		/* No TLS: what follows runs in clear, if at all. */
		if (!is_set(ck, C_TLS_VERSION))
			set(ck, C_TLS_VERSION, CHECK_SKIP, "no TLS session");
		if (!is_set(ck, C_TLS_CERT))
			set(ck, C_TLS_CERT, CHECK_SKIP, "no TLS session");
		if (!is_set(ck, C_EHLO_TLS))
			set(ck, C_EHLO_TLS, CHECK_SKIP, "no TLS session");
		break;
	}
}

/*
 * The seed's checklist: connect (with TLS), the banner, EHLO, AUTH
 * offered, AUTH PLAIN answered 535 then 235, and the message; around it
 * what a go-live needs besides (no AUTH in clear, no relaying without it,
 * no command injected before STARTTLS).
 */
static int
run(struct checker *ck)
{
	int	stop;

	if ((stop = check_connect(ck)) != 0)
		return stop;
	check_source(ck);
	if ((stop = check_tls_implicit(ck)) != 0 ||
	    (stop = check_banner(ck)) != 0 ||
	    (stop = check_ehlo(ck)) != 0)
		return stop;
	check_auth_in_clear(ck);
	check_tls(ck);
	check_auth_advertised(ck);
	check_relay_denied(ck);
	check_local_accepted(ck);
	check_auth_bad(ck);
	check_auth_good(ck);
	check_relay_allowed(ck);
	check_send(ck);
	check_quit(ck);
	check_injection(ck);
	skip_unset(ck, "not run");
	return 0;
}

/* check's own options (cliopt_args()). */
static int
check_option(void *ctx, int ch, const char *arg, char *err, size_t errlen)
{
	struct checker	*ck = ctx;

	switch (ch) {
	case OPT_TO:
		ck->to = arg;
		return 0;
	case OPT_RELAY_TO:
		ck->relay_to = arg;
		return 0;
	case OPT_FROM:
		ck->from_opt = arg;
		return 0;
	case OPT_SEND:
		ck->send = 1;
		return 0;
	case OPT_NO_BAD_AUTH:
		ck->no_bad_auth = 1;
		return 0;
	case OPT_JSON:
		ck->json = 1;
		return 0;
	}
	return -1;
}

int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLIOPT_LONGOPTS,
		{ "to", required_argument, NULL, OPT_TO },
		{ "relay-to", required_argument, NULL, OPT_RELAY_TO },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "send", no_argument, NULL, OPT_SEND },
		{ "no-bad-auth", no_argument, NULL, OPT_NO_BAD_AUTH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct checker		*ck;
	struct cliopt_cmd	 cmd;
	char			 err[256], prompt[400];
	size_t			 i;
	int			 rv = 2, need_secret;

	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return 2;
	cliopt_init(&ck->o);
	ck->relay_to = DEFAULT_RELAY_TO;
	ck->tout.fp = stderr;
	ck->tout.style = TRACE_TRANSCRIPT;
	for (i = 0; i < C_COUNT; i++)
		ck->res[i].id = check_ids[i];
	cmd = check_cmd;
	cmd.option = check_option;
	cmd.ctx = ck;
	if ((rv = cliopt_args(&ck->o, &cmd, argc, argv, longopts)) !=
	    CLIOPT_GO)
		goto done;
	rv = 2;
	if ((ck->to != NULL && !cliopt_is_address(ck->to)) ||
	    !cliopt_is_address(ck->relay_to) || (ck->from_opt != NULL &&
	    ck->from_opt[0] != '\0' && !cliopt_is_address(ck->from_opt))) {
		rv = bad_usage("--to, --relay-to and --from take addresses");
		goto done;
	}
	if (ck->from_opt != NULL)
		(void)snprintf(ck->from, sizeof(ck->from), "%s",
		    ck->from_opt);
	else if (ck->o.user != NULL && cliopt_is_address(ck->o.user))
		(void)snprintf(ck->from, sizeof(ck->from), "%s", ck->o.user);
	else if (strchr(ck->o.host, ':') == NULL &&
	    strspn(ck->o.host, "0123456789.") != strlen(ck->o.host))
		(void)snprintf(ck->from, sizeof(ck->from), "postmaster@%s",
		    ck->o.host);

	/* The secret first, so that a prompt does not hold a connection. */
	need_secret = ck->o.user != NULL && !(ck->o.tls == TLSMODE_NONE &&
	    !ck->o.insecure_plaintext_auth);
	if (ck->o.user != NULL && !need_secret)
		fprintf(stderr, "smtpauth: check: --tls none: the password "
		    "is not used (--insecure-plaintext-auth overrides)\n");
	if (need_secret && ck->o.mech == AUTH_MECH_XOAUTH2) {
		if (ck->o.oauth_token_file == NULL) {
			rv = bad_usage("XOAUTH2 needs --oauth-token-file");
			goto done;
		}
		if (password_read_file(ck->o.oauth_token_file, &ck->token,
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: check: %s\n", err);
			goto done;
		}
		ck->have_secret = 1;
	} else if (need_secret) {
		(void)snprintf(prompt, sizeof(prompt), "Password for %s: ",
		    ck->o.user);
		if (password_read(ck->o.password_file, prompt,
		    PASSWORD_STDIN_OK, &ck->pw, NULL, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "smtpauth: check: %s\n", err);
			goto done;
		}
		ck->have_secret = 1;
	}
	if (ck->o.tls != TLSMODE_NONE && (ck->tctx = tls_client_new(
	    ck->o.ca_file, 1, 0, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: check: %s\n", err);
		goto done;
	}

	rv = run(ck);
	if (ck->c != NULL)
		drop_conn(ck);
	if (ck->json)
		report_json(stdout, ck->o.target, ck->res, C_COUNT);
	else
		report_text(stdout, ck->o.target, ck->res, C_COUNT,
		    report_use_color(stdout));
	fflush(stdout);
	if (rv != 2)
		rv = report_failed(ck->res, C_COUNT) ? 1 : 0;
 done:
	smtpc_close(ck->c);
	tls_ctx_free(ck->tctx);
	reply_free(&ck->caps_plain);
	reply_free(&ck->caps_tls);
	password_wipe(&ck->pw);
	password_wipe(&ck->token);
	explicit_bzero(ck, sizeof(*ck));
	free(ck);
	return rv;
}
