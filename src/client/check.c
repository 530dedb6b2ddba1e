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
 *   is not tripped (the opt-in probes of check_probe.c send more, counted
 *   against --failure-budget);
 * - relay probes end with RSET, never DATA; only --send sends a message.
 *
 * TLS contexts here never fail a handshake on a bad certificate: the
 * result of the verification is recorded and judged by tls-cert.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <assert.h>
#include <errno.h>
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
#include "common/clock.h"
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
	[C_BANNER_DISCLOSURE] = "banner-disclosure",
	[C_VRFY] = "vrfy",
	[C_EXPN] = "expn",
	[C_RCPT_ENUM] = "rcpt-enumeration",
	[C_PROXY_SPOOF] = "proxy-spoofing",
	[C_AUTH_TIMING] = "auth-timing",
	[C_AUTH_GUARD] = "auth-guard",
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
	OPT_PORTS,
	OPT_TARGETS,
	OPT_PARALLEL,
	OPT_JUNIT,
	OPT_NO_TLS_AUDIT,
};

static const char check_usage[] =
"usage: smtpauth check [OPTIONS] HOST[:PORT]\n"
"       smtpauth check [OPTIONS] --targets FILE\n"
"Run the go-live checklist against a server: HOST:PORT, or every port of\n"
"HOST (25, 465 and 587, each judged by its role; a closed one is noted).\n"
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
"  --ports LIST           the ports of HOST to check, PORT[/KIND],... with\n"
"                         KIND mx, submission or smtps, e.g. 25,2525/mx\n"
"                         (a closed one then fails)\n"
"  --targets FILE         the targets, one a line: HOST[:PORT] [ports=LIST]\n"
"                         [user=U] [password-file=F] [to=ADDR]\n"
"                         [role=mx|submission] [tls=MODE]; # comments\n"
"  --parallel N           targets checked at once (default 4, 1 to 64)\n"
"  --json                 the result as JSON\n"
"  --junit FILE           the result as JUnit XML too: one testcase per\n"
"                         check and port\n"
PROBE_USAGE
"Exit status: 0 no check failed, 1 a check failed, 2 usage error or\n"
"nothing could be tested (no port answered with a greeting).\n"
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
static int	check_run(struct checker *);
static void	target_from(struct checker *);
static int	needs_secret(const struct cliopts *, const char *,
		    enum tls_mode);
static int	target_secret(const struct checker *, const struct ck_target *,
		    struct checker *, char *, size_t);
static int	read_secret(struct checker *, const char *);
static int	operand_targets(struct checker *, struct ck_target **,
		    size_t *);

static const struct cliopt_cmd	check_cmd = {
	"check", check_usage, NULL, NULL, 1
};

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

	probe_notice(ck);
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
	check_enumeration(ck);
	check_auth_bad(ck);
	check_auth_good(ck);
	check_relay_allowed(ck);
	check_send(ck);
	check_quit(ck);
	check_injection(ck);
	check_tls_audit(ck);
	check_banner_disclosure(ck);
	check_proxy_spoofing(ck);
	check_auth_timing(ck);
	check_auth_guard(ck);
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
		/* A port of the host's list that is not there is news only. */
		if (!ck->o.port_given && (errno == ECONNREFUSED ||
		    errno == ETIMEDOUT || errno == EHOSTUNREACH)) {
			ck->closed = 1;
			ck_set(ck, C_CONNECT, CHECK_SKIP, "port closed (%s): "
			    "not checked (name it with --ports to require it)",
			    err);
			ck_skip_unset(ck, "port closed");
			return 2;
		}
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
	for (i = 0; i < C_COUNT && i < 8 * sizeof(ck->src_changed) &&
	    o < sizeof(ids); i++)
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
		if (!smtpc_malformed(ck->c) && check_silent_tls(ck))
			ck_set(ck, C_BANNER, CHECK_FAIL, "no greeting: %s, and "
			    "a TLS handshake right after connecting completes: "
			    "this port speaks implicit TLS; use --tls implicit",
			    smtpc_error(ck->c));
		else
			ck_set(ck, C_BANNER, CHECK_FAIL, "%s: %s",
			    smtpc_malformed(ck->c) ? "a greeting that is not "
			    "SMTP" : "no greeting", smtpc_error(ck->c));
		/* A port that waits for a PROXY header greets nobody else. */
		check_proxy_spoofing(ck);
		ck_skip_unset(ck, "no greeting");
		/* Nothing could be tested, unless PROXY was. */
		return ck->res[C_PROXY_SPOOF].status == CHECK_FAIL ? 1 : 2;
	}
	if (r->code != 220) {
		ck_set(ck, C_BANNER, CHECK_FAIL, "greeting %s", ck_brief(r, b,
		    sizeof(b)));
		check_proxy_spoofing(ck);
		ck_skip_unset(ck, "the server refused the session");
		return 1;
	}
	ck_set(ck, C_BANNER, CHECK_PASS, "%s", ck_brief(r, b, sizeof(b)));
	if (reply_dup(&ck->greeting, r) == 0)
		ck->have_greeting = 1;
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
		ck_set(ck, C_EHLO, CHECK_FAIL, "%s", ck_lost(ck->c, "EHLO",
		    b, sizeof(b)));
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
		ck_set(ck, C_QUIT, CHECK_WARN, "%s", ck_lost(ck->c, "QUIT", b,
		    sizeof(b)));
	else if (r->code == 221)
		ck_set(ck, C_QUIT, CHECK_PASS, "%s", ck_brief(r, b, sizeof(b)));
	else
		ck_set(ck, C_QUIT, CHECK_WARN, "QUIT: %s (expected 221)",
		    ck_brief(r, b, sizeof(b)));
	smtpc_close(ck->c);
	ck->c = NULL;
}

/*
 * A check's verdict and its one-line summary; the last one set stands.
 * Its time (JUnit's) is counted here too.
 */
void
ck_set(struct checker *ck, int id, enum check_status st, const char *fmt, ...)
{
	va_list	ap;
	int64_t	now = mono_msec();

	/* Checks run one after another: the time since the last verdict is
	 * this one's work (a verdict set again adds to it). */
	if (ck->last_verdict != 0)
		ck->ms[id] += now - ck->last_verdict;
	ck->last_verdict = now;
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

/*
 * A command that got no usable reply, for a summary: "no reply to WHAT:
 * timed out...", or "WHAT: malformed reply: ..." when something came that
 * is not a reply.
 */
char *
ck_lost(const struct smtpc *c, const char *what, char *buf, size_t size)
{
	if (smtpc_malformed(c))
		(void)snprintf(buf, size, "%s: %s", what, smtpc_error(c));
	else
		(void)snprintf(buf, size, "no reply to %s: %s", what,
		    smtpc_error(c));
	return buf;
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
	char		*end;
	long		 v;

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
		if ((ck->role = ck_role_from_name(arg)) == -1) {
			(void)snprintf(err, errlen, "--role: mx or submission");
			return -1;
		}
		return 0;
	case OPT_PORTS:
		if (ck_ports_parse(arg, ck->ports, &ck->nports, err,
		    errlen) == -1)
			return -1;
		return 0;
	case OPT_TARGETS:
		ck->targets_file = arg;
		return 0;
	case OPT_PARALLEL:
		v = strtol(arg, &end, 10);
		if (end == arg || *end != '\0' || v < 1 ||
		    v > CK_PARALLEL_MAX) {
			(void)snprintf(err, errlen, "--parallel: 1 to %d",
			    CK_PARALLEL_MAX);
			return -1;
		}
		ck->parallel = (int)v;
		return 0;
	case OPT_JUNIT:
		ck->junit_file = arg;
		return 0;
	}
	return probe_option(ck, ch, arg, err, errlen) == 1 ? 0 : -1;
}

/* "mx" or "submission": ROLE_*, else -1. */
int
ck_role_from_name(const char *s)
{
	if (strcmp(s, "mx") == 0)
		return ROLE_MX;
	if (strcmp(s, "submission") == 0)
		return ROLE_SUBMISSION;
	return -1;
}

const char *
ck_role_name(int role)
{
	switch (role) {
	case ROLE_MX:
		return "mx";
	case ROLE_SUBMISSION:
		return "submission";
	}
	return "unknown";
}

/*
 * One target, on a checker of its own made from the run's options (tmpl):
 * its host, port, TLS mode, role, user, secret and recipient; the results
 * and the exit status of this target alone go into t.
 */
void
ck_run_target(const struct checker *tmpl, struct ck_target *t)
{
	struct checker	*ck;
	char		 err[REPORT_SUMMARY_MAX];
	int64_t		 start = mono_msec();
	size_t		 i;

	t->rv = 2;
	if ((ck = calloc(1, sizeof(*ck))) == NULL) {
		ck_result_error(t, "out of memory");
		return;
	}
	/*
	 * Every option of the run, whoever added it, as check_option() left
	 * it; the state of a run starts empty, as the run's checker never
	 * runs a check itself.
	 */
	memcpy(ck, tmpl, sizeof(*ck));
	if (t->to[0] != '\0')
		ck->to = t->to;
	if (t->role != ROLE_UNKNOWN)
		ck->role = t->role;
	for (i = 0; i < C_COUNT; i++)
		ck->res[i].id = check_ids[i];
	(void)snprintf(ck->o.host, sizeof(ck->o.host), "%s", t->host);
	ck->o.port_given = t->port_given;
	if (t->tls != TLSMODE_DEFAULT)
		ck->o.tls_opt = t->tls;
	cliopt_set_port(&ck->o, t->port);
	if (t->user[0] != '\0')
		ck->o.user = t->user;
	if (target_secret(tmpl, t, ck, err, sizeof(err)) == -1) {
		ck_result_error(t, err);
		goto out;
	}
	target_from(ck);
	if (ck->o.verbose)
		fprintf(stderr, "*  smtpauth check %s\n", ck->o.target);
	ck->last_verdict = mono_msec();
	t->rv = check_run(ck);
	t->closed = ck->closed;
	t->role_used = ck_role(ck);
	memcpy(t->res, ck->res, sizeof(t->res));
	memcpy(t->check_ms, ck->ms, sizeof(t->check_ms));
 out:
	(void)snprintf(t->target, sizeof(t->target), "%s", ck->o.target);
	t->ms = mono_msec() - start;
	ck->tctx = NULL;	/* the run's, freed by cmd_check() */
	smtpc_close(ck->c);
	reply_free(&ck->caps_plain);
	reply_free(&ck->caps_tls);
	reply_free(&ck->greeting);
	password_wipe(&ck->pw);
	password_wipe(&ck->token);
	explicit_bzero(ck, sizeof(*ck));
	free(ck);
}

/* A target that could not be run at all: why, on connect. */
void
ck_result_error(struct ck_target *t, const char *why)
{
	size_t	i;

	for (i = 0; i < C_COUNT; i++) {
		t->res[i].id = check_ids[i];
		t->res[i].status = CHECK_SKIP;
		(void)snprintf(t->res[i].summary, sizeof(t->res[i].summary),
		    "not run");
	}
	t->res[C_CONNECT].status = CHECK_FAIL;
	(void)snprintf(t->res[C_CONNECT].summary,
	    sizeof(t->res[C_CONNECT].summary), "%s", why);
	t->rv = 2;
	if (t->target[0] == '\0')
		(void)snprintf(t->target, sizeof(t->target), strchr(t->host,
		    ':') != NULL && t->host[0] != '[' ? "[%s]:%d" : "%s:%d",
		    t->host, t->port);
}

/* The checklist on ck, its connection dropped after: 0, 1 or 2. */
static int
check_run(struct checker *ck)
{
	int	rv;

	rv = run(ck);
	if (ck->c != NULL)
		ck_drop_conn(ck);
	if (rv != 2)
		rv = report_failed(ck->res, C_COUNT) ? 1 : 0;
	return rv;
}

/*
 * The probes' sender: --from, else --user when an address, else
 * postmaster@HOST for a host name.
 */
static void
target_from(struct checker *ck)
{
	ck->from[0] = '\0';
	if (ck->from_opt != NULL)
		(void)snprintf(ck->from, sizeof(ck->from), "%s",
		    ck->from_opt);
	else if (ck->o.user != NULL && cliopt_is_address(ck->o.user))
		(void)snprintf(ck->from, sizeof(ck->from), "%s", ck->o.user);
	else if (strchr(ck->o.host, ':') == NULL &&
	    strspn(ck->o.host, "0123456789.") != strlen(ck->o.host))
		(void)snprintf(ck->from, sizeof(ck->from), "postmaster@%s",
		    ck->o.host);
}

/* Does a run with these options need a secret for user (NULL: none)? */
static int
needs_secret(const struct cliopts *o, const char *user,
    enum tls_mode tls)
{
	return user != NULL && !(tls == TLSMODE_NONE &&
	    !o->insecure_plaintext_auth);
}

/*
 * The secret of one target: from its password-file, else the run's (read
 * once by cmd_check(), before any connection).  0 or -1 with err.
 */
static int
target_secret(const struct checker *tmpl, const struct ck_target *t,
    struct checker *ck, char *err, size_t errlen)
{
	if (!needs_secret(&ck->o, ck->o.user, ck->o.tls)) {
		password_wipe(&ck->pw);
		password_wipe(&ck->token);
		ck->have_secret = 0;
		return 0;
	}
	if (t->password_file[0] != '\0' && ck->o.mech != AUTH_MECH_XOAUTH2) {
		if (password_read_file(t->password_file, &ck->pw, err,
		    errlen) == -1)
			return -1;
		if (ck->pw.len == 0) {
			(void)snprintf(err, errlen, "%.200s: empty password",
			    t->password_file);
			return -1;
		}
		ck->have_secret = 1;
		return 0;
	}
	if (!tmpl->have_secret) {
		(void)snprintf(err, errlen, "no password for %.200s (give "
		    "password-file= or --password-file)", ck->o.user);
		return -1;
	}
	return 0;	/* the run's, copied with the options */
}

/* The run's own secret, for the targets without a password-file. */
static int
read_secret(struct checker *ck, const char *user)
{
	char	err[256], prompt[400];

	if (ck->o.mech == AUTH_MECH_XOAUTH2) {
		if (ck->o.oauth_token_file == NULL)
			return bad_usage("XOAUTH2 needs --oauth-token-file");
		if (password_read_file(ck->o.oauth_token_file, &ck->token,
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: check: %s\n", err);
			return 2;
		}
	} else {
		(void)snprintf(prompt, sizeof(prompt), "Password for %s: ",
		    user);
		if (password_read(ck->o.password_file, prompt,
		    PASSWORD_STDIN_OK, &ck->pw, NULL, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "smtpauth: check: %s\n", err);
			return 2;
		}
	}
	ck->have_secret = 1;
	return 0;
}

/* The targets of the command line: HOST:PORT, or HOST's ports. */
static int
operand_targets(struct checker *ck, struct ck_target **tp, size_t *np)
{
	static const struct ck_port host_ports[] = {
		{ 25, 0, 0 }, { 465, 0, 0 }, { 587, 0, 0 },
	};
	const struct ck_port	*ports = host_ports;
	struct ck_target	*t;
	size_t			 i, n = 3;

	if (ck->o.port_given) {
		if (ck->nports > 0)
			return bad_usage("--ports with HOST:PORT");
		ports = NULL;
		n = 1;
	} else if (ck->nports > 0) {
		ports = ck->ports;
		n = ck->nports;
	}
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		(void)snprintf(t[i].host, sizeof(t[i].host), "%s", ck->o.host);
		t[i].port_given = ports != host_ports;
		if (ports == NULL) {
			t[i].port = atoi(ck->o.port);
			continue;
		}
		t[i].port = ports[i].port;
		t[i].role = ports[i].role;
		t[i].tls = ports[i].tls;
	}
	*tp = t;
	*np = n;
	return 0;
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
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "targets", required_argument, NULL, OPT_TARGETS },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		PROBE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct checker		*ck;
	struct ck_target	*t = NULL;
	struct cliopt_cmd	 cmd;
	FILE			*junit = NULL;
	const char		*user;
	char			 err[512];
	size_t			 i, n = 0;
	int			 rv = 2, single, secret_user = -1, any_tls = 0;
	time_t			 started = time(NULL);

	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return 2;
	cliopt_init(&ck->o);
	ck->relay_to = DEFAULT_RELAY_TO;
	ck->budget = -1;
	ck->tout.fp = stderr;
	ck->tout.style = TRACE_TRANSCRIPT;
	ck->parallel = CK_PARALLEL_DEFAULT;
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
	if (probe_validate(ck, err, sizeof(err)) == -1) {
		rv = bad_usage(err);
		goto done;
	}
	if (ck->targets_file != NULL) {
		if (ck->o.host[0] != '\0') {
			rv = bad_usage("--targets or HOST[:PORT], not both");
			goto done;
		}
		if (ck_targets_read(ck->targets_file, ck->ports, ck->nports,
		    &t, &n, err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: check: %s\n", err);
			goto done;
		}
	} else if (ck->o.host[0] == '\0') {
		rv = bad_usage("give one HOST[:PORT], or --targets FILE");
		goto done;
	} else if ((rv = operand_targets(ck, &t, &n)) != 0)
		goto done;
	rv = 2;
	/* HOST:PORT alone: the report of one server, as it always was. */
	single = ck->targets_file == NULL && ck->o.port_given;

	/* The secrets first, so that a prompt does not hold a connection. */
	for (i = 0; i < n; i++) {
		user = t[i].user[0] != '\0' ? t[i].user : ck->o.user;
		if (t[i].tls != TLSMODE_NONE && (t[i].tls != TLSMODE_DEFAULT ||
		    ck->o.tls_opt != TLSMODE_NONE))
			any_tls = 1;
		if (needs_secret(&ck->o, user, t[i].tls != TLSMODE_DEFAULT ?
		    t[i].tls : ck->o.tls_opt) && (t[i].password_file[0] ==
		    '\0' || ck->o.mech == AUTH_MECH_XOAUTH2) &&
		    secret_user == -1)
			secret_user = (int)i;
	}
	if (ck->o.user != NULL && !needs_secret(&ck->o, ck->o.user,
	    ck->o.tls_opt))
		fprintf(stderr, "smtpauth: check: --tls none: the password "
		    "is not used (--insecure-plaintext-auth overrides)\n");
	if (secret_user != -1 && (rv = read_secret(ck,
	    t[secret_user].user[0] != '\0' ? t[secret_user].user :
	    ck->o.user)) != 0)
		goto done;
	rv = 2;
	if (any_tls && (ck->tctx = tls_client_new(ck->o.ca_file, 1, 0, 0,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: check: %s\n", err);
		goto done;
	}
	if (ck->junit_file != NULL && (junit = fopen(ck->junit_file, "w")) ==
	    NULL) {
		fprintf(stderr, "smtpauth: check: %s: %s\n", ck->junit_file,
		    strerror(errno));
		goto done;
	}

	if (single)
		ck_run_target(ck, &t[0]);
	else
		ck_run_all(ck, t, n, ck->o.verbose ? 1 : ck->parallel);
	rv = ck_report(ck, t, n, single, junit, started);
	if (junit != NULL) {
		if (fclose(junit) != 0) {
			fprintf(stderr, "smtpauth: check: %s: %s\n",
			    ck->junit_file, strerror(errno));
			rv = 2;
		}
		junit = NULL;
	}
 done:
	if (junit != NULL)
		(void)fclose(junit);
	if (t != NULL) {
		explicit_bzero(t, n * sizeof(*t));
		free(t);
	}
	tls_ctx_free(ck->tctx);
	reply_free(&ck->caps_plain);
	reply_free(&ck->caps_tls);
	reply_free(&ck->greeting);
	password_wipe(&ck->pw);
	password_wipe(&ck->token);
	explicit_bzero(ck, sizeof(*ck));
	free(ck);
	return rv;
}
