/*
 * The pieces of smtpauth check, private to src/client/check*.c: the
 * checker's state, the verdict bookkeeping (check.c), the connections the
 * checks run on (check_conn.c) and the checklist's steps, by what they
 * probe (check_tls.c, check_tlsaudit.c, check_auth.c, check_relay.c,
 * check_probe.c).  run() in check.c
 * calls the steps in the seed's order; a step calls back only into the
 * bookkeeping and the connections, never into another step's file.
 */
#ifndef SMTPAUTH_CHECK_PRIV_H
#define SMTPAUTH_CHECK_PRIV_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "client/report.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/tls.h"

/* The checks, in the order they are reported; check_ids names each. */
enum {
	C_CONNECT, C_SOURCE, C_BANNER, C_EHLO, C_AUTH_HIDDEN, C_AUTH_REFUSED,
	C_STARTTLS, C_INJECTION, C_TLS_VERSION, C_TLS_CERT,
	C_TLS_PROTOCOLS, C_TLS_CIPHERS, C_TLS_DH, C_TLS_KEY, C_TLS_CHAIN,
	C_TLS_OCSP,
	C_EHLO_TLS,
	C_AUTH_ADV, C_AUTH_BAD, C_AUTH_GOOD, C_RELAY_DENIED,
	C_LOCAL_ACCEPTED, C_RELAY_ALLOWED, C_SEND, C_QUIT,
	C_BANNER_DISCLOSURE, C_VRFY, C_EXPN, C_RCPT_ENUM, C_PROXY_SPOOF,
	C_AUTH_TIMING, C_AUTH_GUARD,
	C_COUNT
};

/* What a port is for: 25 takes mail from anyone, 587 and 465 want AUTH. */
enum { ROLE_UNKNOWN = 0, ROLE_MX, ROLE_SUBMISSION };

#define CK_PORTS_MAX		16	/* in --ports and ports= */
#define CK_PARALLEL_DEFAULT	4
#define CK_PARALLEL_MAX		64
#define CK_TARGETS_MAX		1000	/* targets of --targets */

/*
 * A port of --ports or ports=, "PORT[/KIND]": the kind says what it is for
 * when the number does not (25 mx, 587 submission, 465 smtps).
 */
struct ck_port {
	int	port;
	int	role;		/* ROLE_*; 0: as the number says */
	int	tls;		/* enum tls_mode; 0: as the number says */
};
/*
 * The audit probes' options (check_probe.c parses them): codes far above
 * check.c's own, their long options and their usage lines.
 */
enum {
	OPT_PROBE_TIMING = OPT_LOCAL + 0x40,
	OPT_PROBE_GUARD,
	OPT_PROBE_GUARD_SOURCE,
	OPT_PROBE_GUARD_WAIT,
	OPT_FAILURE_BUDGET,
};
#define PROBE_LONGOPTS							\
	{ "probe-timing", required_argument, NULL, OPT_PROBE_TIMING },	\
	{ "probe-guard", no_argument, NULL, OPT_PROBE_GUARD },		\
	{ "probe-guard-source", required_argument, NULL,		\
	    OPT_PROBE_GUARD_SOURCE },					\
	{ "probe-guard-wait", required_argument, NULL,			\
	    OPT_PROBE_GUARD_WAIT },					\
	{ "failure-budget", required_argument, NULL, OPT_FAILURE_BUDGET }
#define PROBE_USAGE							\
"  --failure-budget N     the most wrong passwords the run may send\n"	\
"                         (refused when the probes asked for need more)\n" \
"  --probe-timing N       AUTH timing probe: N wrong passwords for an\n" \
"                         unknown user and N for --user (8..100)\n"	\
"  --probe-guard          send wrong passwords (at most 50) until the\n"	\
"                         server refuses: THIS ADDRESS WILL BE BANNED\n"	\
"  --probe-guard-source ADDR  a second local address that must still\n"	\
"                         be served once the first is banned\n"		\
"  --probe-guard-wait SEC how long to wait for the ban to lift\n"	\
"                         (polled; 1..7200)\n"

/* A made-up credential for the probes: never the real one. */
#define PROBE_USER		"smtpauth-probe@example.invalid"
#define PROBE_PASS		"not-a-real-password"

struct checker {
	struct cliopts		 o;
	const char		*to;
	const char		*relay_to;
	const char		*from_opt;
	char			 from[512];
	int			 send;
	int			 no_bad_auth;
	int			 no_tls_audit;	/* --no-tls-audit */
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
	int			 submission;	/* a 530: AUTH needed */
	int			 refuses_unauth; /* mail refused without AUTH */
	int			 role;		/* --role: ROLE_*, or 0 */
	const char		*src_kind;	/* "loopback"...: trusted? */
	char			 src_addr[64];	/* our end, numeric */
	unsigned int		 src_changed;	/* 1 << id: verdicts it can
						   change */
	int			 authed;	/* auth-good passed on c */
	struct password		 pw;
	struct password		 token;
	int			 have_secret;
	char			 connerr[256];
	struct reply		 greeting;	/* the first 220 */
	int			 have_greeting;
	int			 probe_timing;	/* --probe-timing N, or 0 */
	int			 probe_guard;	/* --probe-guard */
	const char		*guard_source;	/* --probe-guard-source */
	int			 guard_wait;	/* --probe-guard-wait SEC */
	int			 budget;	/* --failure-budget, or -1 */
	int			 spent;		/* wrong passwords sent */
	int			 closed;	/* a port of the host's list,
						   closed: not tested */
	int64_t			 ms[C_COUNT];	/* each check's time */
	int64_t			 last_verdict;	/* when ck_set() last ran */
	/* The run, not one target: */
	struct ck_port		 ports[CK_PORTS_MAX];	/* --ports */
	size_t			 nports;
	const char		*targets_file;
	int			 parallel;
	const char		*junit_file;
};

/*
 * One target of a run: a host and port and how to judge it (from the
 * command line or a line of --targets), then its outcome.  A child
 * process checks it and hands the whole structure back (check_targets.c).
 */
struct ck_target {
	char			 host[256];
	int			 port;
	int			 port_given;	/* named: a closed port fails */
	int			 role;		/* ROLE_*; 0: --role, or the
						   port's */
	enum tls_mode		 tls;		/* DEFAULT: --tls, or the
						   port's */
	char			 user[256];	/* "": --user */
	char			 password_file[1024];
	char			 to[512];	/* "": --to */
	int			 line;		/* in --targets; 0 */
	/* The outcome. */
	int			 rv;		/* 0, 1, 2 as the exit status */
	int			 closed;
	int			 role_used;
	int64_t			 ms;
	char			 target[300];
	struct check_result	 res[C_COUNT];
	int64_t			 check_ms[C_COUNT];
};

/* check.c: the verdicts. */
void		 ck_set(struct checker *, int, enum check_status, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
int		 ck_is_set(const struct checker *, int);
void		 ck_skip_unset(struct checker *, const char *);
char		*ck_brief(const struct reply *, char *, size_t);
char		*ck_lost(const struct smtpc *, const char *, char *, size_t);
int		 ck_role(const struct checker *);
int		 ck_role_from_name(const char *);
const char	*ck_role_name(int);
/* One target on a checker of its own made from the run's options. */
void		 ck_run_target(const struct checker *, struct ck_target *);
void		 ck_result_error(struct ck_target *, const char *);

/* check_targets.c: the targets of a run, checked in parallel, reported. */
int		 ck_ports_parse(const char *, struct ck_port *, size_t *,
		    char *, size_t);
int		 ck_targets_read(const char *, const struct ck_port *, size_t,
		    struct ck_target **, size_t *, char *, size_t);
/* The same from fp, named file in messages (tests/fuzz/fuzz_targets.c). */
int		 ck_targets_parse(FILE *, const char *, const struct ck_port *,
		    size_t, struct ck_target **, size_t *, char *, size_t);
void		 ck_run_all(const struct checker *, struct ck_target *,
		    size_t, int);
int		 ck_report(const struct checker *, const struct ck_target *,
		    size_t, int, FILE *, time_t);

/* check_conn.c: the connections. */
void		 ck_smtpc_opts(struct checker *, struct smtpc_opts *);
struct smtpc	*ck_open_session(struct checker *, struct tls_ctx *, int,
		    char *, size_t);
int		 ck_need_conn(struct checker *, int);
void		 ck_drop_conn(struct checker *);
/* Where AUTH can go (check_auth.c and check_probe.c alike). */
const struct reply *ck_auth_caps(const struct checker *);
const char	*ck_cannot_auth(const struct checker *);
enum auth_mech	 ck_pick_mech(const struct checker *,
		    const struct auth_cred *, char *, size_t);
void		 ck_real_cred(const struct checker *, struct auth_cred *);

/* check_tls.c: TLS, the certificate, STARTTLS. */
int		 check_tls_implicit(struct checker *);
int		 check_greeting_mode(struct checker *);
int		 check_silent_tls(struct checker *);
void		 check_tls(struct checker *);
void		 check_injection(struct checker *);

/* check_tlsaudit.c: what TLS the server accepts, on probing connections. */
void		 check_tls_audit(struct checker *);

/* check_auth.c: AUTH in clear and under TLS. */
void		 check_auth_in_clear(struct checker *);
void		 check_auth_advertised(struct checker *);
void		 check_auth_bad(struct checker *);
void		 check_auth_good(struct checker *);

/* check_relay.c: the mail transactions. */
void		 check_relay_denied(struct checker *);
void		 check_local_accepted(struct checker *);
void		 check_relay_allowed(struct checker *);
void		 check_send(struct checker *);

/*
 * check_probe.c: the audit probes.  probe_option() takes their options
 * (1 taken, 0 not one of them, -1 bad); probe_validate() checks them
 * against each other and the failure budget after parsing (0, or -1 with
 * the reason); probe_notice() warns on stderr before a run that will ban
 * the tester's address.
 */
int		 probe_option(struct checker *, int, const char *, char *,
		    size_t);
int		 probe_validate(struct checker *, char *, size_t);
void		 probe_notice(const struct checker *);
void		 check_banner_disclosure(struct checker *);
void		 check_enumeration(struct checker *);
void		 check_proxy_spoofing(struct checker *);
void		 check_auth_timing(struct checker *);
void		 check_auth_guard(struct checker *);

#endif
