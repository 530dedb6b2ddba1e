/*
 * The audit probes of smtpauth check (issue 15): what the server tells a
 * stranger about itself (banner-disclosure) and about its users (vrfy,
 * expn, rcpt-enumeration), whether it takes a PROXY header from the
 * tester (proxy-spoofing), and the two opt-in probes that spend wrong
 * passwords: the AUTH timing probe (auth-timing, --probe-timing) and the
 * guard probe (auth-guard, --probe-guard), which bans the tester's address
 * on a server that defends itself, and says so before it starts.
 *
 * Wrong passwords are counted in ck->spent against --failure-budget: a
 * probe that would need more than the budget is refused before the run.
 * Probes use made-up users (an unknown local part in a real domain) and
 * random wrong passwords; the real password goes only where auth_run()
 * lets it (verified TLS), and only to see whether a ban blocks it.
 */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/auth.h"
#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/ranktest.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/clock.h"
#include "common/reply.h"

#define TIMING_MIN		8	/* tries of each kind: the test's floor */
#define TIMING_MAX		100
#define TIMING_P		0.01	/* distinguishable below this */
#define GUARD_MAX		50	/* wrong passwords at most */
#define GUARD_WAIT_MAX		7200	/* seconds */
#define BUDGET_MAX		10000
#define PROXY_WAIT_MS		10000	/* each step of the PROXY probe */
#define PROXY_REPLIES_MAX	8	/* replies to the header's lines */
#define SLOW_MS			1000	/* a throttle: this much slower ... */

static const char *real_addr(const struct checker *);
static void	made_up(const char *, const char *, char *, size_t);
static void	rand_hex(char *, size_t);
static int	parse_int(const char *, int, int, int *);
static int	vrfy_like(struct checker *, const char *, const char *,
		    const struct reply **, char *, size_t);
static void	quit_close(struct smtpc *);
static void	judge_confirm(struct checker *, int, const char *,
		    const char *, int, const char *, const char *, int,
		    const char *);
static void	check_vrfy_expn(struct checker *, int, const char *);
static void	check_rcpt_enum(struct checker *);
static int	scan_text(const char *, size_t, char *, size_t);
static int	scan_reply(const struct reply *, int, char *, size_t);
static int	proxy_probe(struct checker *, const void *, size_t,
		    const char *, char *, size_t);
static struct smtpc *probe_session(struct checker *, const char *, char *,
		    size_t, int *);
static enum auth_mech probe_ready(struct checker *, int, int, const char *);
static enum auth_mech probe_mech(const struct checker *);
static int	wrong_try(struct checker *, struct smtpc **, int *,
		    enum auth_mech, const char *, struct auth_result *,
		    double *, char *, size_t);
static int	right_try(struct checker *, enum auth_mech, char *, size_t);
static int	banned_now(struct checker *, enum auth_mech, int, char *,
		    size_t);
static void	pause_ms(int);

/* Software a greeting or an EHLO line should not name (warn). */
static const char *const software[] = {
	"Postfix", "Exim", "Sendmail", "Microsoft", "Exchange", "qmail",
	"netqmail", "OpenSMTPD", "Haraka", "Dovecot", "MDaemon", "Zimbra",
	"Courier", "CommuniGate", "Kerio", "IceWarp", "hMailServer",
	"MailEnable", "Axigen", "Halon", "smtpauthd", "aiosmtpd", "Python",
	"chasquid", "maddy", "Stalwart", "ZMailer", "IronPort", "Barracuda",
	"Lotus", "Domino", "GroupWise", "Mercury", "XMail", "Debian",
	"Ubuntu", "GNU", "FreeBSD", "OpenBSD", "CentOS", "Sophos",
	"Proofpoint", "Mimecast", "Symantec", "Smail", "Kerio",
};

/* PROXY v1 and v2 headers for a made-up client 192.0.2.1 (RFC 5737). */
static const char proxy_v1[] = "PROXY TCP4 192.0.2.1 192.0.2.2 12345 25\r\n";
static const unsigned char proxy_v2[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
	0x0a,			/* the signature */
	0x21,			/* version 2, PROXY */
	0x11,			/* TCP over IPv4 */
	0x00, 0x0c,		/* 12 octets of addresses */
	192, 0, 2, 1, 192, 0, 2, 2, 0x30, 0x39, 0x00, 0x19,
};

/* --probe-*, --failure-budget: 1 taken, 0 not one of them, -1 bad. */
int
probe_option(struct checker *ck, int ch, const char *arg, char *err,
    size_t errlen)
{
	switch (ch) {
	case OPT_PROBE_TIMING:
		if (parse_int(arg, TIMING_MIN, TIMING_MAX,
		    &ck->probe_timing) == -1) {
			(void)snprintf(err, errlen, "--probe-timing: %d to %d "
			    "tries of each kind", TIMING_MIN, TIMING_MAX);
			return -1;
		}
		return 1;
	case OPT_PROBE_GUARD:
		ck->probe_guard = 1;
		return 1;
	case OPT_PROBE_GUARD_SOURCE:
		if (cliopt_safe(arg) == -1 || strspn(arg, "0123456789abcdefABCDEF"
		    ".:") != strlen(arg) || arg[0] == '\0') {
			(void)snprintf(err, errlen, "--probe-guard-source: an "
			    "IPv4 or IPv6 address");
			return -1;
		}
		ck->guard_source = arg;
		return 1;
	case OPT_PROBE_GUARD_WAIT:
		if (parse_int(arg, 1, GUARD_WAIT_MAX, &ck->guard_wait) == -1) {
			(void)snprintf(err, errlen, "--probe-guard-wait: 1 to "
			    "%d seconds", GUARD_WAIT_MAX);
			return -1;
		}
		return 1;
	case OPT_FAILURE_BUDGET:
		if (parse_int(arg, 0, BUDGET_MAX, &ck->budget) == -1) {
			(void)snprintf(err, errlen, "--failure-budget: 0 to %d "
			    "wrong passwords", BUDGET_MAX);
			return -1;
		}
		return 1;
	}
	return 0;
}

/*
 * The probes against each other and the budget: auth-bad-password's one
 * wrong password, the timing probe's 2N and at least one for the guard
 * must fit, else nothing is sent.
 */
int
probe_validate(struct checker *ck, char *err, size_t errlen)
{
	int	need;

	if ((ck->guard_source != NULL || ck->guard_wait > 0) &&
	    !ck->probe_guard) {
		(void)snprintf(err, errlen, "--probe-guard-source and "
		    "--probe-guard-wait go with --probe-guard");
		return -1;
	}
	if (ck->probe_timing > 0 && ck->o.user == NULL) {
		(void)snprintf(err, errlen, "--probe-timing needs --user (a "
		    "known user, whose wrong passwords are timed)");
		return -1;
	}
	if (ck->budget < 0)
		return 0;
	need = (ck->no_bad_auth ? 0 : 1) + 2 * ck->probe_timing +
	    (ck->probe_guard ? 1 : 0);
	if (need > ck->budget) {
		(void)snprintf(err, errlen, "--failure-budget %d: the checks "
		    "asked for need %d wrong passwords (auth-bad-password %d, "
		    "--probe-timing %d, --probe-guard at least %d)", ck->budget,
		    need, ck->no_bad_auth ? 0 : 1, 2 * ck->probe_timing,
		    ck->probe_guard ? 1 : 0);
		return -1;
	}
	return 0;
}

/* As the seed warns: a guard will ban the address the tests come from. */
void
probe_notice(const struct checker *ck)
{
	if (ck->probe_timing > 0)
		fprintf(stderr, "smtpauth: check: --probe-timing %d sends %d "
		    "wrong passwords (failure budget: %s); a guard against "
		    "guessing may ban this address\n", ck->probe_timing,
		    2 * ck->probe_timing, ck->budget < 0 ? "none set" :
		    "--failure-budget");
	if (ck->probe_guard)
		fprintf(stderr, "smtpauth: check: WARNING: --probe-guard sends "
		    "up to %d wrong passwords from %s: a server with a guard "
		    "WILL BAN THIS ADDRESS (smtpauthd: for auth-ban seconds; "
		    "smtpauthctl unban ADDR lifts it), and everything else "
		    "from it (mail, IMAP) may be refused until then\n",
		    GUARD_MAX, ck->o.source != NULL ? ck->o.source :
		    "this host's address");
}

static int
parse_int(const char *s, int lo, int hi, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* A local user that exists: --to, else --user when it is an address. */
static const char *
real_addr(const struct checker *ck)
{
	if (ck->to != NULL)
		return ck->to;
	if (ck->o.user != NULL && cliopt_is_address(ck->o.user))
		return ck->o.user;
	return NULL;
}

static void
rand_hex(char *buf, size_t size)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		rnd[8];
	size_t			i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	for (i = 0; i < sizeof(rnd) && 2 * i + 2 < size; i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	buf[2 * i] = '\0';
}

/*
 * A made-up address in like's domain (so that it is routed as the real
 * one is), a bare name when like is one (a user name without a domain),
 * or in example.invalid when there is no like.
 */
static void
made_up(const char *prefix, const char *like, char *buf, size_t size)
{
	const char	*at = like != NULL ? strrchr(like, '@') : NULL;
	char		 hex[20];

	rand_hex(hex, sizeof(hex));
	(void)snprintf(buf, size, "%s%s%s", prefix, hex, at != NULL ? at :
	    like != NULL ? "" : "@example.invalid");
}

/*
 * The greeting and EHLO lines: software names and versions are what an
 * attacker matches against a list of vulnerabilities, and RFC 5321 asks
 * for neither.  A warning, showing the words found and the line.
 */
void
check_banner_disclosure(struct checker *ck)
{
	char	found[160], where[REPORT_SUMMARY_MAX - 200];
	int	n = 0;

	found[0] = where[0] = '\0';
	if (!ck->have_greeting && !ck->have_plain && !ck->have_tls) {
		ck_set(ck, C_BANNER_DISCLOSURE, CHECK_SKIP, "no greeting");
		return;
	}
	if (ck->have_greeting && scan_reply(&ck->greeting, 0, found,
	    sizeof(found))) {
		(void)snprintf(where, sizeof(where), "the greeting");
		n++;
	}
	if (ck->have_plain && scan_reply(&ck->caps_plain, 1, found,
	    sizeof(found)))
		(void)snprintf(where + strlen(where), sizeof(where) -
		    strlen(where), "%sthe EHLO reply", n++ ? " and " : "");
	else if (ck->have_tls && scan_reply(&ck->caps_tls, 1, found,
	    sizeof(found)))
		(void)snprintf(where + strlen(where), sizeof(where) -
		    strlen(where), "%sthe EHLO reply under TLS", n++ ? " and " :
		    "");
	if (n == 0)
		ck_set(ck, C_BANNER_DISCLOSURE, CHECK_PASS, "no software name "
		    "or version in the greeting or the EHLO reply");
	else
		ck_set(ck, C_BANNER_DISCLOSURE, CHECK_WARN, "%s %s the "
		    "software: %s (attackers match names and versions against "
		    "known vulnerabilities; Postfix: smtpd_banner, Exim: "
		    "smtp_banner, Dovecot: login_greeting)", where, n > 1 ?
		    "name" : "names", found);
}

/*
 * Each line of r, the first one past the server's name (a host name
 * such as 1.mx.example is no version), and of an EHLO reply only the
 * first line and the X- extensions, appending "WORDS in 'line'" to found.
 * 1 when something was found.
 */
static int
scan_reply(const struct reply *r, int ehlo, char *found, size_t size)
{
	const char	*t;
	char		 word[120], esc[120];
	size_t		 i, n, skip, o = strlen(found);
	int		 hit = 0;

	for (i = 0; i < r->nlines; i++) {
		t = reply_line(r, i, &n);
		if (ehlo && i > 0) {
			/* Keywords: only X- extensions name products. */
			if (n < 2 || strncasecmp(t, "X", 1) != 0)
				continue;
		}
		skip = 0;
		if (i == 0)	/* the server's own name */
			for (; skip < n && t[skip] != ' '; skip++)
				;
		word[0] = '\0';
		if (scan_text(t + skip, n - skip, word, sizeof(word)) == 0)
			continue;
		hit = 1;
		if (o + 8 < size)
			o += (size_t)snprintf(found + o, size - o, "%s%s in '%s'",
			    o > 0 ? "; " : "", word, report_escape(t, n, esc,
			    sizeof(esc)));
		if (o >= size)
			o = size - 1;
	}
	return hit;
}

/*
 * The software names and versions in a line's text, appended to words
 * (", " between them): tokens between spaces, their punctuation trimmed,
 * split at '/' ("Debian/GNU", "8.15.2/8.15.2"); address literals in
 * brackets and an enhanced status code at the start are not versions.
 * Returns how many were found.
 */
static int
scan_text(const char *t, size_t n, char *words, size_t size)
{
	char		 esc[64];
	size_t		 i = 0, s, e, a, b, k, dots, parts, o;
	unsigned long	 part;
	int		 ipv4, hits = 0;

	while (i < n) {
		for (; i < n && t[i] == ' '; i++)
			;
		for (s = i; i < n && t[i] != ' '; i++)
			;
		e = i;
		if (s == e)
			break;
		if (t[s] == '[')	/* [192.0.2.1], [IPv6:...] */
			continue;
		if (s == 0 && reply_enhanced_parse(t, n, esc) > 0)
			continue;
		while (s < e && strchr("(\"'<,;:", t[s]) != NULL)
			s++;
		while (e > s && strchr(")\"'>,;:.!", t[e - 1]) != NULL)
			e--;
		for (a = s; a < e; a = b + 1) {
			for (b = a; b < e && t[b] != '/'; b++)
				;
			for (k = 0; k < sizeof(software) / sizeof(software[0]);
			    k++)
				if (strlen(software[k]) == b - a &&
				    strncasecmp(t + a, software[k], b - a) == 0)
					break;
			if (k < sizeof(software) / sizeof(software[0]))
				goto hit;
			/* A version: [v]D+.D+[...], not a dotted IPv4 address. */
			k = a + (b > a + 1 && (t[a] == 'v' || t[a] == 'V'));
			if (k >= b || !isdigit((unsigned char)t[k]))
				continue;
			for (; k < b && isdigit((unsigned char)t[k]); k++)
				;
			if (k + 1 >= b || t[k] != '.' ||
			    !isdigit((unsigned char)t[k + 1]))
				continue;
			ipv4 = 1;
			for (k = a, dots = 0, parts = 0; k < b; k++) {
				part = 0;
				if (!isdigit((unsigned char)t[k]))
					ipv4 = 0;
				for (; k < b && isdigit((unsigned char)t[k]);
				    k++)
					part = part * 10 + (unsigned long)(t[k] -
					    '0') % 1000;
				parts++;
				if (part > 255)
					ipv4 = 0;
				if (k < b && t[k] == '.')
					dots++;
				else if (k < b)
					ipv4 = 0;
			}
			if (ipv4 && dots == 3 && parts == 4)
				continue;
 hit:
			hits++;
			o = strlen(words);
			if (o + 8 < size)
				(void)snprintf(words + o, size - o, "%s%s",
				    o > 0 ? ", " : "", report_escape(t + a, b -
				    a, esc, sizeof(esc)));
		}
	}
	return hits;
}

/*
 * VRFY and EXPN of the real local user and of a made-up one in the same
 * domain: different answers confirm which users exist (a warning: the
 * addresses are then a list for password guessing and spam).  The same
 * answer for both (252 "cannot VRFY", 502 for a command the server does
 * not offer, 550 for both) tells nothing and passes.
 */
void
check_enumeration(struct checker *ck)
{
	check_vrfy_expn(ck, C_VRFY, "VRFY");
	check_vrfy_expn(ck, C_EXPN, "EXPN");
	check_rcpt_enum(ck);
}

/* One VRFY or EXPN: 0 with *r and its brief in b, -1 lost (id set). */
static int
vrfy_like(struct checker *ck, const char *verb, const char *arg,
    const struct reply **r, char *b, size_t blen)
{
	if (smtpc_cmd(ck->c, r, "%s %s", verb, arg) == -1)
		return -1;
	ck_brief(*r, b, blen);
	return 0;
}

static void
check_vrfy_expn(struct checker *ck, int id, const char *verb)
{
	const struct reply	*r;
	const char		*real = real_addr(ck);
	char			 fake[300], br[200], bf[200];
	int			 cr, cf;

	if (real == NULL) {
		ck_set(ck, id, CHECK_SKIP, "no local user to ask about (--to, "
		    "or --user as an address)");
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, id, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	made_up("smtpauth-nouser-", real, fake, sizeof(fake));
	if (vrfy_like(ck, verb, real, &r, br, sizeof(br)) == -1)
		goto lost;
	cr = r->code;
	if (vrfy_like(ck, verb, fake, &r, bf, sizeof(bf)) == -1)
		goto lost;
	cf = r->code;
	judge_confirm(ck, id, verb, real, cr, br, fake, cf, bf);
	return;
 lost:
	ck_set(ck, id, CHECK_WARN, "no reply to %s: %s", verb,
	    smtpc_error(ck->c));
}

/*
 * Two answers, for a real user and a made-up one: told apart by their
 * codes (Postfix answers 252 with the address for a user, 550 for no
 * user), or not.
 */
static void
judge_confirm(struct checker *ck, int id, const char *what,
    const char *real, int cr, const char *br, const char *fake, int cf,
    const char *bf)
{
	if (cr / 100 == 4 || cf / 100 == 4)
		ck_set(ck, id, CHECK_WARN, "%s temporarily refused (<%s>: %s; "
		    "<%s>: %s): cannot tell", what, real, br, fake, bf);
	else if (cr == cf)
		ck_set(ck, id, CHECK_PASS, "the same answer for a user and a "
		    "made-up one: %s", br);
	else
		ck_set(ck, id, CHECK_WARN, "%s tells users apart: <%s> %s; "
		    "made-up <%s> %s (user enumeration)", what, real, br, fake,
		    bf);
}

/*
 * RCPT before AUTH on a submission port: the real user and a made-up one
 * in one transaction (ended with RSET).  A port that takes mail from
 * anyone must tell them apart (or bounce), so it is not judged.
 */
static void
check_rcpt_enum(struct checker *ck)
{
	const struct reply	*r;
	const char		*real = real_addr(ck);
	char			 fake[300], br[200], bf[200];
	int			 cr, role = ck_role(ck);

	if (role == ROLE_MX) {
		ck_set(ck, C_RCPT_ENUM, CHECK_SKIP, "a port for incoming mail "
		    "must refuse unknown recipients at RCPT");
		return;
	}
	if (real == NULL) {
		ck_set(ck, C_RCPT_ENUM, CHECK_SKIP, "no local user to ask "
		    "about (--to, or --user as an address)");
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_RCPT_ENUM, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	made_up("smtpauth-nouser-", real, fake, sizeof(fake));
	if (smtpc_cmd(ck->c, &r, "MAIL FROM:<%s>", ck->from) == -1)
		goto lost;
	if (reply_class(r) != 2) {
		ck_set(ck, C_RCPT_ENUM, CHECK_PASS, "MAIL refused without AUTH "
		    "(%s): no recipient is looked at", ck_brief(r, br,
		    sizeof(br)));
		goto rset;
	}
	if (smtpc_cmd(ck->c, &r, "RCPT TO:<%s>", real) == -1)
		goto lost;
	cr = r->code;
	ck_brief(r, br, sizeof(br));
	if (smtpc_cmd(ck->c, &r, "RCPT TO:<%s>", fake) == -1)
		goto lost;
	ck_brief(r, bf, sizeof(bf));
	if (cr != r->code && role == ROLE_UNKNOWN && cr / 100 != 4 &&
	    r->code / 100 != 4)
		ck_set(ck, C_RCPT_ENUM, CHECK_PASS, "RCPT tells users apart "
		    "without AUTH (<%s> %s; made-up <%s> %s): right for a port "
		    "for incoming mail; --role submission judges it as a "
		    "submission port", real, br, fake, bf);
	else
		judge_confirm(ck, C_RCPT_ENUM, "RCPT before AUTH", real, cr,
		    br, fake, r->code, bf);
 rset:
	(void)smtpc_cmd(ck->c, &r, "RSET");
	return;
 lost:
	ck_set(ck, C_RCPT_ENUM, CHECK_WARN, "connection lost: %s",
	    smtpc_error(ck->c));
}

/*
 * PROXY spoofing: a PROXY v1 header, and on another connection a v2 one,
 * sent before the greeting is read.  A server that takes it (greets and
 * answers EHLO as the first thing after the greeting) lets whoever
 * connects from here choose the client address that bans, relay rules
 * and logs see.  Answering the header's lines as commands (500, the v2
 * signature's QUIT), hanging up, or no greeting: the header was refused.
 */
void
check_proxy_spoofing(struct checker *ck)
{
	char	v1[200], v2[200];
	int	t1, t2;

	t1 = proxy_probe(ck, proxy_v1, sizeof(proxy_v1) - 1, "v1", v1,
	    sizeof(v1));
	t2 = proxy_probe(ck, proxy_v2, sizeof(proxy_v2), "v2", v2,
	    sizeof(v2));
	if (t1 == -1 && t2 == -1) {
		ck_set(ck, C_PROXY_SPOOF, CHECK_SKIP, "cannot connect again: "
		    "%s", v1);
		return;
	}
	/*
	 * A server that greets nobody and stays silent after a header too
	 * told nothing about PROXY: neither a pass nor a fail.
	 */
	if (!ck->have_greeting && t1 != 1 && t2 != 1 && (t1 == 2 ||
	    t1 == -1) && (t2 == 2 || t2 == -1)) {
		ck_set(ck, C_PROXY_SPOOF, CHECK_SKIP, "the server greets "
		    "neither without a PROXY header nor after one: v1 %s; "
		    "v2 %s", t1 == -1 ? "not probed" : v1, t2 == -1 ?
		    "not probed" : v2);
		return;
	}
	if (t1 == 1 || t2 == 1)
		ck_set(ck, C_PROXY_SPOOF, CHECK_FAIL, "a PROXY %s header from "
		    "%s claiming to be 192.0.2.1 was taken (%s): whoever can "
		    "connect from here chooses the client address bans, relay "
		    "rules and logs see; take PROXY headers only from the "
		    "balancer's own address (smtpauthd: proxy-from; Postfix: "
		    "smtpd_upstream_proxy_protocol only on a port the balancer "
		    "alone reaches)%s", t1 == 1 && t2 == 1 ? "v1 and v2" :
		    t1 == 1 ? "v1" : "v2", ck->src_addr, t1 == 1 ? v1 : v2,
		    ck->src_kind != NULL ? "; if this address is the "
		    "balancer, check from another one (--source)" : "");
	else
		ck_set(ck, C_PROXY_SPOOF, CHECK_PASS, "PROXY headers refused: "
		    "v1 %s; v2 %s", t1 == -1 ? "not probed" : v1, t2 == -1 ?
		    "not probed" : v2);
}

/*
 * One header: 1 taken, 0 refused (how in out), 2 silence (no greeting
 * within the wait), -1 no connection.
 */
static int
proxy_probe(struct checker *ck, const void *hdr, size_t len,
    const char *name, char *out, size_t outlen)
{
	struct smtpc_opts	 so;
	struct smtpc		*c;
	const struct reply	*r;
	char			 b[200], first[120];
	int			 n, code, taken = 0;

	ck_smtpc_opts(ck, &so);
	if (so.timeout_ms <= 0 || so.timeout_ms > PROXY_WAIT_MS)
		so.timeout_ms = PROXY_WAIT_MS;
	if ((c = smtpc_connect(ck->o.host, ck->o.port, &so, out,
	    outlen)) == NULL)
		return -1;
	smtpc_trace(c, SMTPC_SENT, "(a PROXY %s header, before the greeting)",
	    name);
	if (smtpc_write(c, hdr, len) == -1) {
		(void)snprintf(out, outlen, "the server hung up");
		goto out;
	}
	if (ck->o.tls == TLSMODE_IMPLICIT && smtpc_tls(c, ck->tctx,
	    ck->o.host) == -1) {
		(void)snprintf(out, outlen, "no TLS after the header (%s)",
		    smtpc_error(c));
		goto out;
	}
	if (smtpc_read_reply(c, &r) == -1) {
		(void)snprintf(out, outlen, "no greeting (%s)", smtpc_error(c));
		/* Nothing at all within the wait: silence, not a refusal. */
		if (smtpc_timed_out(c))
			taken = 2;
		goto out;
	}
	if (r->code != 220) {
		(void)snprintf(out, outlen, "greeting %s", ck_brief(r, b,
		    sizeof(b)));
		goto out;
	}
	if (smtpc_cmd(c, &r, "EHLO %s", ck->helo) == -1) {
		(void)snprintf(out, outlen, "no answer after the greeting (%s)",
		    smtpc_error(c));
		goto out;
	}
	if (r->code == 250) {
		taken = 1;
		(void)snprintf(out, outlen, "greeted, then EHLO answered %s",
		    ck_brief(r, b, sizeof(b)));
		goto out;
	}
	/* The header's lines answered as commands; then, maybe, EHLO. */
	(void)ck_brief(r, first, sizeof(first));
	for (n = 1, code = r->code; n < PROXY_REPLIES_MAX && code != 250 &&
	    code != 221; n++) {
		if (smtpc_read_reply(c, &r) == -1)
			break;
		code = r->code;
	}
	(void)snprintf(out, outlen, "taken as a command (%s)%s", first,
	    code == 221 ? ", then the signature's QUIT ended the session" :
	    "");
 out:
	smtpc_close(c);
	return taken;
}

/*
 * A session for the AUTH probes from source (NULL: the run's own): up to
 * EHLO under TLS.  NULL with why in err and *refused set when the server
 * turned the connection away (a greeting other than 220, or closed or
 * failed before one): that is how many guards ban.
 */
static struct smtpc *
probe_session(struct checker *ck, const char *source, char *err,
    size_t errlen, int *refused)
{
	struct cliopts	 saved = ck->o;
	struct smtpc	*c;

	*refused = 0;
	if (source != NULL)
		ck->o.source = source;
	c = ck_open_session(ck, ck->tctx, ck->o.tls != TLSMODE_NONE, err,
	    errlen);
	ck->o = saved;
	if (c == NULL && strncmp(err, "bind", 4) != 0 &&
	    strncmp(err, "source address", 14) != 0)
		*refused = 1;
	return c;
}

/*
 * Can an AUTH probe run?  Its mechanism, or NONE with the check skipped
 * (not asked for, AUTH not possible, no PLAIN or LOGIN).
 */
static enum auth_mech
probe_ready(struct checker *ck, int id, int asked, const char *how)
{
	const char	*why;
	enum auth_mech	 m = AUTH_MECH_NONE;

	if (!asked)
		ck_set(ck, id, CHECK_SKIP, "not asked for %s", how);
	else if ((why = ck_cannot_auth(ck)) != NULL)
		ck_set(ck, id, CHECK_SKIP, "%s", why);
	else if ((m = probe_mech(ck)) == AUTH_MECH_NONE)
		ck_set(ck, id, CHECK_SKIP, "neither PLAIN nor LOGIN offered");
	return m;
}

/* PLAIN, else LOGIN, as the server offers them under TLS; else NONE. */
static enum auth_mech
probe_mech(const struct checker *ck)
{
	const struct reply	*caps = ck_auth_caps(ck);
	const char		*adv = "";
	size_t			 n = 0;

	if (caps == NULL || !reply_ehlo_keyword(caps, "AUTH", &adv, &n))
		return AUTH_MECH_NONE;
	if (reply_word_in(adv, n, "PLAIN"))
		return AUTH_MECH_PLAIN;
	if (reply_word_in(adv, n, "LOGIN"))
		return AUTH_MECH_LOGIN;
	return AUTH_MECH_NONE;
}

/*
 * One wrong password for user on *cp (a new session when it is gone;
 * *n counts the tries on it), timed from the AUTH line to the final
 * reply.  1 when refused with 5xx, 0 when accepted (235), -1 when the
 * server turned it away (4xx, no answer, or the session refused: why in
 * err).  A 4xx or a hang-up after earlier tries on the same session may
 * be the session's own limit (RFC 4954: dropped after a few failures;
 * smtpauthd answers the third with 421): the try is made again once on a
 * new session, and only a refusal there is the server turning us away.
 */
static int
wrong_try(struct checker *ck, struct smtpc **cp, int *n, enum auth_mech m,
    const char *user, struct auth_result *ar, double *ms, char *err,
    size_t errlen)
{
	struct auth_cred	 cr;
	char			 wrong[40];
	int64_t			 t0;
	int			 refused, again;

	for (again = 0;; again++) {
		if (!smtpc_alive(*cp)) {
			smtpc_close(*cp);
			*n = 0;
			if ((*cp = probe_session(ck, NULL, err, errlen,
			    &refused)) == NULL)
				return -1;
		}
		(void)snprintf(wrong, sizeof(wrong), "smtpauth-wrong-");
		rand_hex(wrong + 15, sizeof(wrong) - 15);
		memset(&cr, 0, sizeof(cr));
		cr.user = user;
		cr.userlen = strlen(user);
		cr.pass = cr.token = wrong;
		cr.passlen = cr.tokenlen = strlen(wrong);
		cr.probe = 1;
		t0 = mono_usec();
		(void)auth_run(*cp, m, &cr, ar);
		*ms = (double)(mono_usec() - t0) / 1000;
		ck->spent++;
		if (ar->code == 235)
			return 0;
		if (ar->code / 100 == 5) {
			(*n)++;
			return 1;
		}
		(void)snprintf(err, errlen, "%s", ar->code ? ar->text :
		    ar->detail[0] ? ar->detail : "no answer");
		if (again || *n == 0)
			return -1;
		/* Perhaps the session's limit: a new one decides. */
		smtpc_close(*cp);
		*cp = NULL;
	}
}

/*
 * The AUTH timing probe: wrong passwords for a made-up user and for the
 * known --user, alternating, N each; the two sets of reply times must not
 * be told apart (Mann-Whitney U, p >= 0.01), or an attacker learns which
 * users exist from how long a refusal takes.
 */
void
check_auth_timing(struct checker *ck)
{
	static double		 tu[TIMING_MAX], tk[TIMING_MAX];
	struct auth_result	 ar;
	struct ranktest		 rt;
	struct smtpc		*c = NULL;
	char			 fake[300], err[256];
	double			 ms;
	enum auth_mech		 m;
	int			 i, nu = 0, nk = 0, got, on_c = 0;

	if ((m = probe_ready(ck, C_AUTH_TIMING, ck->probe_timing > 0,
	    "(--probe-timing N)")) == AUTH_MECH_NONE)
		return;
	made_up("smtpauth-nouser-", ck->o.user, fake, sizeof(fake));
	for (i = 0; i < 2 * ck->probe_timing; i++) {
		got = wrong_try(ck, &c, &on_c, m, i % 2 == 0 ? fake :
		    ck->o.user, &ar, &ms, err, sizeof(err));
		if (got == 0) {
			ck_set(ck, C_AUTH_TIMING, CHECK_FAIL, "CRITICAL: a wrong "
			    "password was accepted for %s (%s)", i % 2 == 0 ?
			    fake : ck->o.user, ar.text);
			goto out;
		}
		if (got == -1) {
			ck_set(ck, C_AUTH_TIMING, CHECK_WARN, "stopped after %d "
			    "of %d wrong passwords: %s (the server's guard? "
			    "exempt this address, or give fewer tries); %d of "
			    "the failure budget spent", i, 2 * ck->probe_timing,
			    err, i);
			goto out;
		}
		if (i % 2 == 0)
			tu[nu++] = ms;
		else
			tk[nk++] = ms;
	}
	if (ranktest_mwu(tu, (size_t)nu, tk, (size_t)nk, &rt) == -1) {
		ck_set(ck, C_AUTH_TIMING, CHECK_SKIP, "no usable timings");
		goto out;
	}
	ck_set(ck, C_AUTH_TIMING, rt.p < TIMING_P ? CHECK_FAIL : CHECK_PASS,
	    "%s: median %.1f ms for an unknown user, %.1f ms for %s with a "
	    "wrong password (Mann-Whitney U = %.0f, p = %.2g, %d tries each, "
	    "AUTH %s); %d wrong passwords of the failure budget spent",
	    rt.p < TIMING_P ? "AUTH refusals tell unknown users from known "
	    "ones by their timing" : "not told apart by timing",
	    ranktest_median(tu, (size_t)nu), ranktest_median(tk, (size_t)nk),
	    ck->o.user, rt.u, rt.p, ck->probe_timing, auth_mech_name(m),
	    2 * ck->probe_timing);
 out:
	quit_close(c);
}

/*
 * The right password once banned: 1 refused (or not even a session), 0
 * accepted, -1 not tried (how in out either way).
 */
static int
right_try(struct checker *ck, enum auth_mech m, char *out, size_t outlen)
{
	struct auth_cred	 cr;
	struct auth_result	 ar;
	struct smtpc		*c;
	const char		*why;
	char			 err[256];
	int			 refused, rv;

	if (ck->o.user == NULL || !ck->have_secret) {
		(void)snprintf(out, outlen, "the right password not tried (no "
		    "--user)");
		return -1;
	}
	if ((c = probe_session(ck, NULL, err, sizeof(err), &refused)) ==
	    NULL) {
		(void)snprintf(out, outlen, refused ? "the right password "
		    "cannot even be tried (%s)" : "the right password not "
		    "tried (%s)", err);
		return refused ? 1 : -1;
	}
	if ((why = smtpc_credential_refused(c)) != NULL) {
		(void)snprintf(out, outlen, "the right password not sent: %s",
		    why);
		smtpc_close(c);
		return -1;
	}
	ck_real_cred(ck, &cr);
	if (auth_run(c, m == AUTH_MECH_NONE ? AUTH_MECH_PLAIN : m, &cr,
	    &ar) == 1) {
		(void)snprintf(out, outlen, "the RIGHT PASSWORD IS STILL "
		    "ACCEPTED once banned (%s): a guesser who finds it gets in",
		    ar.text);
		rv = 0;
	} else {
		(void)snprintf(out, outlen, "the right password refused too "
		    "(%s)", ar.code ? ar.text : ar.detail);
		rv = 1;
	}
	if (smtpc_alive(c))
		(void)smtpc_cmd(c, &(const struct reply *){ NULL }, "QUIT");
	smtpc_close(c);
	return rv;
}

/*
 * Is the ban still on?  A new session from the run's address: refused at
 * connect means yes; when the ban showed at AUTH, the right password must
 * still be refused.  Without it, only more wrong passwords could tell, and
 * they might make the ban last: not tried.  1 yes, 0 lifted, -1 cannot
 * tell.
 */
static int
banned_now(struct checker *ck, enum auth_mech m, int at_connect, char *err,
    size_t errlen)
{
	struct smtpc		*c;
	int			 refused, got;

	if ((c = probe_session(ck, NULL, err, errlen, &refused)) == NULL)
		return refused ? 1 : -1;
	if (at_connect) {
		smtpc_close(c);
		return 0;
	}
	smtpc_close(c);
	if (ck->o.user != NULL && ck->have_secret) {
		got = right_try(ck, m, err, errlen);
		return got == -1 ? -1 : got;
	}
	(void)snprintf(err, errlen, "the ban shows at AUTH only, and without "
	    "--user only more wrong passwords could tell");
	return -1;
}

/* QUIT when the session is still there, and close. */
static void
quit_close(struct smtpc *c)
{
	const struct reply	*r;

	if (c != NULL && smtpc_alive(c))
		(void)smtpc_cmd(c, &r, "QUIT");
	smtpc_close(c);
}

static void
pause_ms(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * The guard (the seed's IDS): wrong passwords for a made-up user, at most
 * GUARD_MAX (or what the failure budget leaves), until the server refuses;
 * then whether the ban also keeps the right password out, whether a
 * second address is still served, and how long the ban lasts.
 */
void
check_auth_guard(struct checker *ck)
{
	struct auth_result	 ar;
	struct smtpc		*c = NULL;
	char			 fake[300], err[256], how[300], right[400];
	char			 other[400], wait[320], b[200];
	double			 ms, first = 0, last = 0;
	enum auth_mech		 m;
	enum check_status	 st;
	int64_t			 banned_at = 0, t;
	int			 max, tries = 0, got, at_connect = 0, refused;
	int			 rgot = -1, interval, on, before = ck->spent;
	int			 on_c = 0;

	if ((m = probe_ready(ck, C_AUTH_GUARD, ck->probe_guard,
	    "(--probe-guard: bans this address)")) == AUTH_MECH_NONE)
		return;
	max = GUARD_MAX;
	if (ck->budget >= 0 && ck->budget - ck->spent < max)
		max = ck->budget - ck->spent;
	fprintf(stderr, "smtpauth: check: --probe-guard: now sending up to %d "
	    "wrong passwords from %s; this address will be banned\n", max,
	    ck->src_addr);
	made_up("smtpauth-guard-", real_addr(ck), fake, sizeof(fake));
	how[0] = '\0';
	for (tries = 0; tries < max; tries++) {
		got = wrong_try(ck, &c, &on_c, m, fake, &ar, &ms, err,
		    sizeof(err));
		if (got == 0) {
			ck_set(ck, C_AUTH_GUARD, CHECK_FAIL, "CRITICAL: a made-up "
			    "user was let in with a wrong password (%s)",
			    ar.text);
			goto out;
		}
		if (got == -1 && c != NULL && tries > 0 &&
		    ms > first + SLOW_MS && ms > 2 * first) {
			/* A refusal that took this long is a timeout. */
			ck_set(ck, C_AUTH_GUARD, CHECK_WARN, "%d wrong passwords "
			    "from %s, never banned: the answers slowed down "
			    "from %.0f to %.0f ms, the last one %s: a throttle "
			    "(Dovecot's auth penalty; behind Postfix it ends in "
			    "454 when Postfix stops waiting), not a ban",
			    before + tries, ck->src_addr, first, ms, err);
			goto out;
		}
		if (got == -1) {
			at_connect = c == NULL;
			(void)snprintf(how, sizeof(how), "%s%s", c == NULL ?
			    "new connections refused: " : "AUTH answered ", err);
			banned_at = mono_msec();
			break;
		}
		if (tries < 3)
			first = tries == 0 ? ms : first < ms ? first : ms;
		last = ms;
	}
	if (how[0] == '\0') {
		/* The session may close on the last one: look again. */
		if (banned_now(ck, m, 1, err, sizeof(err)) == 1) {
			at_connect = 1;
			banned_at = mono_msec();
			(void)snprintf(how, sizeof(how), "new connections "
			    "refused: %s", err);
		}
	}
	if (how[0] == '\0') {
		if (last > first + SLOW_MS && last > 2 * first)
			ck_set(ck, C_AUTH_GUARD, CHECK_WARN, "%d wrong passwords "
			    "from %s, never banned: the answers slowed down "
			    "from %.0f to %.0f ms, all 535: a throttle (Dovecot's "
			    "auth penalty), not a ban", before + tries,
			    ck->src_addr, first, last);
		else
			ck_set(ck, C_AUTH_GUARD, CHECK_FAIL, "no guard: %d wrong "
			    "passwords from %s, every one answered 535 (no ban, "
			    "no slowdown: %.0f ms the last one)%s", before + tries,
			    ck->src_addr, last, max < GUARD_MAX ? " (as many as "
			    "--failure-budget left)" : "");
		goto out;
	}
	smtpc_close(c);
	c = NULL;
	/* A ban shown at AUTH may be at connect for later sessions. */
	if (!at_connect && (c = probe_session(ck, NULL, err, sizeof(err),
	    &refused)) == NULL && refused)
		at_connect = 1;
	smtpc_close(c);
	c = NULL;
	rgot = right_try(ck, m, right, sizeof(right));
	other[0] = '\0';
	st = rgot == 0 ? CHECK_FAIL : CHECK_PASS;
	if (ck->guard_source != NULL) {
		c = probe_session(ck, ck->guard_source, err, sizeof(err),
		    &refused);
		if (c != NULL)
			(void)snprintf(other, sizeof(other), "; %s still "
			    "served", ck->guard_source);
		else {
			(void)snprintf(other, sizeof(other), "; %s %s too (%s)%s",
			    ck->guard_source, refused ? "refused" : "not usable",
			    err, refused ? ": the ban reaches beyond one "
			    "address" : "");
			if (refused && st == CHECK_PASS)
				st = CHECK_WARN;
		}
		smtpc_close(c);
		c = NULL;
	}
	wait[0] = '\0';
	if (ck->guard_wait > 0) {
		interval = ck->guard_wait / 20;
		interval = interval < 1 ? 1 : interval > 30 ? 30 : interval;
		for (on = 1;;) {
			t = mono_msec() - banned_at;
			if (t >= (int64_t)ck->guard_wait * 1000)
				break;
			pause_ms(interval * 1000);
			if ((on = banned_now(ck, m, at_connect, err,
			    sizeof(err))) != 1)
				break;
		}
		t = (mono_msec() - banned_at) / 1000;
		if (on == 0)
			(void)snprintf(wait, sizeof(wait), "; lifted after "
			    "about %lld s (polled every %d s)", (long long)t,
			    interval);
		else if (on == 1)
			(void)snprintf(wait, sizeof(wait), "; still in force "
			    "after %lld s", (long long)t);
		else
			(void)snprintf(wait, sizeof(wait), "; its end not "
			    "seen (%s)", err);
	} else
		on = 1;
	if (on == 1)
		(void)snprintf(b, sizeof(b), "; %s is banned now",
		    ck->src_addr);
	else
		b[0] = '\0';
	ck_set(ck, C_AUTH_GUARD, st, "banned after %d wrong passwords from "
	    "%s (%d of them this probe's; %s; %s); %s%s%s%s", before + tries,
	    ck->src_addr, tries, how, at_connect ? "then at connect" :
	    "at AUTH", right, other, wait, b);
 out:
	quit_close(c);
}
