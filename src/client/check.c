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
#include <sys/socket.h>

#include <netinet/in.h>

#include <assert.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/check.h"
#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/tls.h"

/*
 * An outside address for the relay probes: example.com (RFC 2606) is
 * reserved and never a local domain of a real server, and nothing is ever
 * sent to it (probes end with RSET).
 */
#define DEFAULT_RELAY_TO	"smtpauth-relay-test@example.com"

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
	[C_TLS_PROTOCOLS] = "tls-protocols",
	[C_TLS_CIPHERS] = "tls-ciphers",
	[C_TLS_DH] = "tls-dh",
	[C_TLS_KEY] = "tls-key",
	[C_TLS_CHAIN] = "tls-chain",
	[C_TLS_OCSP] = "tls-ocsp",
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
	OPT_ROLE,
	OPT_NO_TLS_AUDIT,
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
"  --no-tls-audit         skip the TLS audit (tls-protocols ... tls-ocsp:\n"
"                         up to 40 more connections, no credential sent)\n"
"  --role mx|submission   what the port is for (default: mx for 25,\n"
"                         submission for 587 and 465, else as the server\n"
"                         behaves)\n"
"  --json                 the result as JSON\n"
"Exit status: 0 no check failed, 1 a check failed, 2 usage error or\n"
"nothing could be tested.\n"
"Shared options:\n";

static int	bad_usage(const char *);
static int	check_connect(struct checker *);
static void	check_source(struct checker *);
static void	source_verdict(struct checker *);
static int	check_banner(struct checker *);
static size_t	ehlo_keywords(const struct reply *, char *, size_t);
static int	check_ehlo(struct checker *);
static void	check_quit(struct checker *);
static int	run(struct checker *);

static const struct cliopt_cmd	check_cmd = { "check", check_usage, NULL, NULL };

static int
bad_usage(const char *msg)
{
	return cliopt_bad_usage(&check_cmd, msg);
}

/*
 * The seed's checklist: connect (with TLS), the banner, EHLO, AUTH
 * offered, AUTH PLAIN answered 535 then 235, and the message; around it
 * what a go-live needs besides (no AUTH in clear, no relaying without it,
 * no command injected before STARTTLS).  The steps that can end the run
 * return 0 to go on, or the exit status to stop with.
 */
static int
run(struct checker *ck)
{
	int	stop;

	if ((stop = check_connect(ck)) != 0)
		return stop;
	check_source(ck);
	if ((stop = check_tls_implicit(ck)) != 0) {
		/* No TLS 1.2 or later: what does it speak instead? */
		if (stop == 1)
			check_tls_audit(ck);
		return stop;
	}
	if ((stop = check_greeting_mode(ck)) != 0 ||
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
	check_tls_audit(ck);
	source_verdict(ck);
	ck_skip_unset(ck, "not run");
	return 0;
}

static int
check_connect(struct checker *ck)
{
	struct smtpc_opts	 so;
	char			 err[256];

	ck_smtpc_opts(ck, &so);
	if ((ck->c = smtpc_connect(ck->o.host, ck->o.port, &so, err,
	    sizeof(err))) == NULL) {
		ck_set(ck, C_CONNECT, CHECK_FAIL, "%s", err);
		ck_skip_unset(ck, "cannot connect");
		return 2;
	}
	ck_set(ck, C_CONNECT, CHECK_PASS, "connected to %s port %s (%s)",
	    smtpc_peer_addr(ck->c), smtpc_peer_port(ck->c),
	    cliopt_tls_name(ck->o.tls));
	cliopt_helo(&ck->o, ck->c, ck->helo, sizeof(ck->helo));
	return 0;
}

/*
 * Relay policies often trust local networks, and Dovecot takes a
 * connection between two equal addresses for a secure one: from such an
 * address, what the server allows may not be what the Internet gets.  The
 * kind is noted here; the checks it can change say so in their verdicts,
 * and source_verdict() names them.
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
	(void)snprintf(ck->src_addr, sizeof(ck->src_addr), "%s",
	    smtpc_local_addr(ck->c));
	/* --source names the address to judge from: it is the outside. */
	if (ck->o.source == NULL)
		ck->src_kind = kind;
	else if (kind != NULL)
		ck_set(ck, C_SOURCE, CHECK_PASS, "checking from %s (%s, "
		    "--source: judged as an outside address)", ck->src_addr,
		    kind);
}

/* The source address's verdict: a warning when it changed another one. */
static void
source_verdict(struct checker *ck)
{
	char	ids[200];
	size_t	i, o = 0;

	if (ck->src_kind == NULL) {
		if (!ck_is_set(ck, C_SOURCE))
			ck_set(ck, C_SOURCE, CHECK_PASS, "checking from %s",
			    ck->src_addr);
		return;
	}
	ids[0] = '\0';
	for (i = 0; i < C_COUNT && o < sizeof(ids); i++)
		if (ck->src_changed & (1u << i))
			o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s",
			    o > 0 ? ", " : "", check_ids[i]);
	if (ids[0] == '\0')
		ck_set(ck, C_SOURCE, CHECK_PASS, "checking from %s (%s): no "
		    "verdict depended on it", ck->src_addr, ck->src_kind);
	else
		ck_set(ck, C_SOURCE, CHECK_WARN, "checking from %s (%s): %s "
		    "cannot be judged from here (the server may trust this "
		    "address); check from an outside address, or another one "
		    "with --source", ck->src_addr, ck->src_kind, ids);
}

static int
check_banner(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];

	if (smtpc_read_reply(ck->c, &r) == -1) {
		ck_set(ck, C_BANNER, CHECK_FAIL, "no greeting: %s",
		    smtpc_error(ck->c));
		ck_skip_unset(ck, "no greeting");
		return 2;	/* nothing could be tested */
	}
	if (r->code != 220) {
		ck_set(ck, C_BANNER, CHECK_FAIL, "greeting %s", ck_brief(r, b,
		    sizeof(b)));
		ck_skip_unset(ck, "the server refused the session");
		return 1;
	}
	ck_set(ck, C_BANNER, CHECK_PASS, "%s", ck_brief(r, b, sizeof(b)));
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
		ck_set(ck, C_EHLO, CHECK_FAIL, "no reply to EHLO: %s",
		    smtpc_error(ck->c));
		ck_skip_unset(ck, "no EHLO");
		return 1;
	}
	if (r->code != 250) {
		ck_set(ck, C_EHLO, CHECK_FAIL, "EHLO refused: %s",
		    ck_brief(r, b, sizeof(b)));
		ck_skip_unset(ck, "no EHLO");
		return 1;
	}
	ck_set(ck, C_EHLO, CHECK_PASS, "%s", ehlo_keywords(r, kw, sizeof(kw)) >
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

static void
check_quit(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];

	if (ck_need_conn(ck, 1) == -1) {
		ck_set(ck, C_QUIT, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	if (smtpc_cmd(ck->c, &r, "QUIT") == -1)
		ck_set(ck, C_QUIT, CHECK_WARN, "no reply to QUIT: %s",
		    smtpc_error(ck->c));
	else if (r->code == 221)
		ck_set(ck, C_QUIT, CHECK_PASS, "%s", ck_brief(r, b, sizeof(b)));
	else
		ck_set(ck, C_QUIT, CHECK_WARN, "QUIT: %s (expected 221)",
		    ck_brief(r, b, sizeof(b)));
	smtpc_close(ck->c);
	ck->c = NULL;
}

/* A check's verdict and its one-line summary; the last one set stands. */
void
ck_set(struct checker *ck, int id, enum check_status st, const char *fmt, ...)
{
	va_list	ap;

	ck->res[id].status = st;
	va_start(ap, fmt);
	(void)vsnprintf(ck->res[id].summary, sizeof(ck->res[id].summary), fmt,
	    ap);
	va_end(ap);
}

int
ck_is_set(const struct checker *ck, int id)
{
	return ck->res[id].status != CHECK_UNSET;
}

/* Every check not decided yet is skipped, for this reason. */
void
ck_skip_unset(struct checker *ck, const char *reason)
{
	size_t	i;

	for (i = 0; i < C_COUNT; i++)
		if (!ck_is_set(ck, (int)i))
			ck_set(ck, (int)i, CHECK_SKIP, "%s", reason);
}

/* "NNN text" of a reply's first line, escaped and cut, for a summary. */
char *
ck_brief(const struct reply *r, char *buf, size_t size)
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
 * The port's role: --role, else by the port (25; 587 and 465), else by
 * what the server said (a 530: AUTH first), else unknown.
 */
int
ck_role(const struct checker *ck)
{
	if (ck->role != ROLE_UNKNOWN)
		return ck->role;
	if (strcmp(ck->o.port, "25") == 0)
		return ROLE_MX;
	if (strcmp(ck->o.port, "587") == 0 || strcmp(ck->o.port, "465") == 0 ||
	    ck->o.tls == TLSMODE_IMPLICIT || ck->submission)
		return ROLE_SUBMISSION;
	return ROLE_UNKNOWN;
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
	case OPT_NO_TLS_AUDIT:
		ck->no_tls_audit = 1;
		return 0;
	case OPT_JSON:
		ck->json = 1;
		return 0;
	case OPT_ROLE:
		if (strcmp(arg, "mx") == 0)
			ck->role = ROLE_MX;
		else if (strcmp(arg, "submission") == 0)
			ck->role = ROLE_SUBMISSION;
		else {
			(void)snprintf(err, errlen, "--role: mx or submission");
			return -1;
		}
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
		{ "no-tls-audit", no_argument, NULL, OPT_NO_TLS_AUDIT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "role", required_argument, NULL, OPT_ROLE },
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
		ck_drop_conn(ck);
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
