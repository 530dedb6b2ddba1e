/*
 * smtpauth load: many SMTP sessions at once from one process.
 *
 * Every connection is a small state machine driven by one libevent loop:
 * connect, greeting, EHLO, STARTTLS (or implicit TLS) and EHLO again, AUTH,
 * a number of messages (MAIL, RCPT and DATA pipelined when the server offers
 * PIPELINING), QUIT.  At most --concurrency sessions are open at a time;
 * when one ends the next starts, until --sessions were started or
 * --duration is over.  A session that fails is counted under the reply code
 * or the reason that ended it and is never retried; a refused connection
 * also makes new connections wait (a back-off up to a second), so a server
 * that is down is not hammered.
 *
 * --idle holds the sessions open after EHLO (and TLS, and AUTH when a user
 * is given) instead, with a NOOP now and then, for memory measurements;
 * --probe-noop adds one session that only sends NOOPs, to see how quickly
 * the server answers while the others keep it busy.
 *
 * Latencies are measured per step: greeting (connect() to the 220; with
 * implicit TLS from the end of the handshake), handshake (the TLS
 * handshake alone), auth (AUTH command to 235), data (the last octet of
 * the message written to the 250), noop and whole sessio *
 * This file reads the options, makes what every session shares and runs
 * the loop; load_priv.h says where the other parts live.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/load.h"
#include "client/load_priv.h"
#include "client/password.h"
#include "common/clock.h"
#include "common/sasl.h"
#include "common/tls.h"

#define DEFAULT_CONCURRENCY	10
#define DEFAULT_SESSIONS	100
#define DEFAULT_SIZE		1024
#define DEFAULT_NOOP_EVERY	60	/* seconds, idle sessions */
#define DEFAULT_RAMP		100	/* idle sessions opening at once */
#define MAX_CONCURRENCY		1000000
#define MAX_MESSAGES		1000000
#define MAX_SIZE		(64UL * 1024 * 1024)
#define BODY_LINE		76	/* octets of a body line, CRLF apart */

enum {
	OPT_CONCURRENCY = OPT_LOCAL,
	OPT_SESSIONS,
	OPT_DURATION,
	OPT_MESSAGES,
	OPT_SIZE,
	OPT_FROM,
	OPT_TO,
	OPT_JSON,
	OPT_RESUME,
	OPT_IDLE,
	OPT_NOOP_EVERY,
	OPT_PROBE_NOOP,
	OPT_RAMP,
};

static const char load_usage[] =
"usage: smtpauth load [OPTIONS] HOST[:PORT]\n"
"Open many SMTP sessions at once and report sessions/s, messages/s,\n"
"errors by reply code and latencies (p50, p90, p99).\n"
"  --concurrency C        sessions open at a time (default 10)\n"
"  --sessions N           sessions to run (default 100)\n"
"  --duration SEC         start sessions for SEC seconds instead; with\n"
"                         --idle: how long to hold the sessions\n"
"  --messages M           messages per session (default 1; 0: none)\n"
"  --size BYTES           size of each message (default 1024)\n"
"  --from ADDR            MAIL FROM (default: --user)\n"
"  --to ADDR              RCPT TO\n"
"  --resume               resume TLS sessions (offer the last session's\n"
"                         ticket on each new connection)\n"
"  --idle                 hold C sessions open after EHLO (TLS, AUTH)\n"
"                         for --duration seconds, then QUIT\n"
"  --noop-every SEC       NOOP interval of idle sessions (default 60)\n"
"  --ramp N               idle sessions being opened at once (default 100)\n"
"  --probe-noop MS        one more session sends a NOOP every MS\n"
"                         milliseconds while the others run\n"
"  --json                 print the report as JSON\n"
"Shared options:\n";

static int	 bad_usage(const char *);
static int	 parse_uint(const char *, unsigned long, unsigned long,
		    unsigned long *);
static int	 build_message(struct load *);
static int	 prepare_auth(struct load *);
static int	 resolve(struct load *);
static int	 more_to_start(struct load *);
static void	 start_more(struct load *);
static void	 check_done(struct load *);
static void	 check_all_open(struct load *);
static void	 end_hold(struct load *);
static void	 kick_cb(int, short, void *);
static void	 deadline_cb(int, short, void *);
static void	 signal_cb(int, short, void *);
static void	 load_free(struct load *);

static const struct cliopt_cmd	load_cmd = {
	"load", load_usage, NULL, NULL, 0
};

static int
bad_usage(const char *msg)
{
	return cliopt_bad_usage(&load_cmd, msg);
}

static int
parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * One message for every transaction: a few header fields and lines of
 * 'x' up to --size octets, then the end-of-data mark.  Nothing starts
 * with a dot, so it is already dot-stuffed.
 */
static int
build_message(struct load *L)
{
	struct tm	 tm;
	time_t		 now = time(NULL);
	char		 hdr[1024], date[64];
	size_t		 hlen, len, left, n;
	char		*p;
	int		 r;

	if (gmtime_r(&now, &tm) == NULL || strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		return -1;
	r = snprintf(hdr, sizeof(hdr), "From: <%s>\r\nTo: <%s>\r\n"
	    "Date: %s\r\nSubject: smtpauth load\r\n"
	    "Message-ID: <load.%ld.%lld@smtpauth.invalid>\r\n\r\n",
	    L->from != NULL ? L->from : "", L->to != NULL ? L->to : "", date,
	    (long)getpid(), (long long)now);
	if (r < 0 || (size_t)r >= sizeof(hdr))
		return -1;
	hlen = (size_t)r;
	len = L->size > hlen + 2 ? L->size : hlen + 2;
	if ((L->msg = malloc(len + 3)) == NULL)
		return -1;
	memcpy(L->msg, hdr, hlen);
	p = L->msg + hlen;
	left = len - hlen;
	while (left > 0) {
		/* A line and its CRLF; never leave a single octet over. */
		n = left - 2 > BODY_LINE ? BODY_LINE : left - 2;
		if (left - n - 2 == 1)
			n--;
		memset(p, 'x', n);
		p[n] = '\r';
		p[n + 1] = '\n';
		p += n + 2;
		left -= n + 2;
	}
	memcpy(p, ".\r\n", 3);
	L->msglen = len + 3;
	return 0;
}

/* The responses that do not depend on a challenge, made once. */
static int
prepare_auth(struct load *L)
{
	const struct auth_cred	*c = &L->cred;
	size_t			 n;

	if (c->pass != NULL) {
		n = SASL_PLAIN_ENCODED_SIZE(0, c->userlen, c->passlen);
		if ((L->plain = malloc(n)) == NULL ||
		    sasl_plain_encode(NULL, 0, c->user, c->userlen, c->pass,
		    c->passlen, L->plain, n) != SASL_OK)
			return -1;
		if ((L->login_user = malloc(BASE64_ENCODED_SIZE(c->userlen)))
		    == NULL || (L->login_pass = malloc(BASE64_ENCODED_SIZE(
		    c->passlen))) == NULL ||
		    sasl_login_encode(c->user, c->userlen, c->pass, c->passlen,
		    L->login_user, BASE64_ENCODED_SIZE(c->userlen),
		    L->login_pass, BASE64_ENCODED_SIZE(c->passlen)) != SASL_OK)
			return -1;
	}
	if (c->token != NULL) {
		n = SASL_XOAUTH2_SIZE(c->userlen, c->tokenlen);
		if ((L->xoauth = malloc(n)) == NULL ||
		    sasl_xoauth2_encode(c->user, c->userlen, c->token,
		    c->tokenlen, L->xoauth, n) != SASL_OK)
			return -1;
	}
	return 0;
}

/* The target's first address; every session goes there. */
static int
resolve(struct load *L)
{
	struct addrinfo	 hints, *res = NULL;
	char		 name[256];
	size_t		 n = strlen(L->o.host);
	int		 gai;

	if (n >= 2 && L->o.host[0] == '[' && L->o.host[n - 1] == ']') {
		memcpy(name, L->o.host + 1, n - 2);
		name[n - 2] = '\0';
	} else
		(void)snprintf(name, sizeof(name), "%s", L->o.host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = L->o.family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	if ((gai = getaddrinfo(name, L->o.port, &hints, &res)) != 0) {
		fprintf(stderr, "smtpauth: load: %s: %s\n", name,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return -1;
	}
	memcpy(&L->ss, res->ai_addr, res->ai_addrlen);
	L->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
more_to_start(struct load *L)
{
	if (L->stopping)
		return 0;
	if (L->idle)
		return L->started < L->concurrency;
	if (L->sessions > 0 && L->started >= L->sessions)
		return 0;
	if (L->duration > 0 && mono_usec() >= L->t_end)
		return 0;
	return 1;
}

static void
start_more(struct load *L)
{
	struct timeval	tv;
	int64_t		now;

	if (L->in_start)
		return;
	L->in_start = 1;
	while (L->active < L->concurrency && more_to_start(L)) {
		if (L->idle && L->opening >= L->ramp)
			break;
		now = mono_usec();
		if (now < L->backoff_until) {
			tv_ms(&tv, (L->backoff_until - now + 999) / 1000);
			evtimer_add(L->kick, &tv);
			break;
		}
		lconn_start(L, 0);
	}
	L->in_start = 0;
	check_done(L);
}

/* All sessions over: the probe goes, then the loop. */
static void
check_done(struct load *L)
{
	if (L->active > 0 || more_to_start(L))
		return;
	if (!L->main_done) {
		L->main_done = 1;
		if (L->t_last == 0)
			L->t_last = mono_usec();
	}
	if (L->probe != NULL) {
		lconn_quit_idle(L->probe);
		return;
	}
	event_base_loopexit(L->base, NULL);
}

/* Idle mode: once every session is held (or failed), the hold begins. */
static void
check_all_open(struct load *L)
{
	struct timeval	tv;

	if (!L->idle || L->all_open || L->started < L->concurrency ||
	    L->opening > 0)
		return;
	L->all_open = 1;
	L->idle_held = L->idle_open;
	L->t_hold = mono_usec();
	fprintf(stderr, "smtpauth: load: %u idle sessions open\n",
	    L->idle_open);
	fflush(stderr);
	if (L->idle_open == 0 || L->stopping) {
		end_hold(L);
		return;
	}
	tv.tv_sec = L->duration;
	tv.tv_usec = 0;
	evtimer_add(L->deadline, &tv);
}

void
load_next(struct load *L)
{
	check_all_open(L);
	start_more(L);
}

/* Idle mode: the hold is over (or we were told to stop). */
static void
end_hold(struct load *L)
{
	L->stopping = 1;
	lconn_quit_held(L);
	start_more(L);
}

static void
kick_cb(int fd, short events, void *arg)
{
	start_more(arg);
}

static void
deadline_cb(int fd, short events, void *arg)
{
	struct load	*L = arg;

	if (L->idle)
		end_hold(L);
	else
		start_more(L);
}

/* SIGINT, SIGTERM: start nothing new, end the hold; twice: stop now. */
static void
signal_cb(int sig, short events, void *arg)
{
	struct load	*L = arg;

	if (L->interrupted++ > 0) {
		event_base_loopbreak(L->base);
		return;
	}
	L->stopping = 1;
	if (L->idle && L->all_open)
		end_hold(L);
	else
		start_more(L);
}

static void
load_free(struct load *L)
{
	lconn_free_all(L);
	if (L->kick != NULL)
		event_free(L->kick);
	if (L->deadline != NULL)
		event_free(L->deadline);
	if (L->sigint != NULL)
		event_free(L->sigint);
	if (L->sigterm != NULL)
		event_free(L->sigterm);
	if (L->base != NULL)
		event_base_free(L->base);
	tls_ctx_free(L->tctx);
	tls_session_free(L->sess, L->sesslen);
	if (L->plain != NULL) {
		explicit_bzero(L->plain, strlen(L->plain));
		free(L->plain);
	}
	if (L->login_user != NULL)
		free(L->login_user);
	if (L->login_pass != NULL) {
		explicit_bzero(L->login_pass, strlen(L->login_pass));
		free(L->login_pass);
	}
	if (L->xoauth != NULL) {
		explicit_bzero(L->xoauth, strlen(L->xoauth));
		free(L->xoauth);
	}
	free(L->msg);
	stats_free(&L->st);
	password_wipe(&L->pw);
	password_wipe(&L->token);
	explicit_bzero(L, sizeof(*L));
	free(L);
}

/* A number option: arg within [min, max] into *v, else err = what. */
static int
number(const char *arg, unsigned long min, unsigned long max,
    unsigned long *v, const char *what, char *err, size_t errlen)
{
	if (parse_uint(arg, min, max, v) == 0)
		return 0;
	(void)snprintf(err, errlen, "%s", what);
	return -1;
}

/* load's own options (cliopt_args()). */
static int
load_option(void *ctx, int ch, const char *arg, char *err, size_t errlen)
{
	struct load	*L = ctx;
	unsigned long	 v;

	switch (ch) {
	case OPT_CONCURRENCY:
		if (number(arg, 1, MAX_CONCURRENCY, &v,
		    "--concurrency: 1 to 1000000", err, errlen) == -1)
			return -1;
		L->concurrency = (unsigned)v;
		return 0;
	case OPT_SESSIONS:
		if (number(arg, 1, ULONG_MAX / 2, &v,
		    "--sessions: a positive number", err, errlen) == -1)
			return -1;
		L->sessions = v;
		return 0;
	case OPT_DURATION:
		if (number(arg, 1, 31536000, &v,
		    "--duration: 1 to 31536000 seconds", err, errlen) == -1)
			return -1;
		L->duration = (unsigned)v;
		return 0;
	case OPT_MESSAGES:
		if (number(arg, 0, MAX_MESSAGES, &v,
		    "--messages: 0 to 1000000", err, errlen) == -1)
			return -1;
		L->messages = (unsigned)v;
		return 0;
	case OPT_SIZE:
		if (number(arg, 1, MAX_SIZE, &v,
		    "--size: 1 to 67108864 bytes", err, errlen) == -1)
			return -1;
		L->size = v;
		return 0;
	case OPT_FROM:
		L->from = arg;
		return 0;
	case OPT_TO:
		L->to = arg;
		return 0;
	case OPT_JSON:
		L->json = 1;
		return 0;
	case OPT_RESUME:
		L->resume = 1;
		return 0;
	case OPT_IDLE:
		L->idle = 1;
		return 0;
	case OPT_NOOP_EVERY:
		if (number(arg, 1, 86400, &v,
		    "--noop-every: 1 to 86400 seconds", err, errlen) == -1)
			return -1;
		L->noop_every = (unsigned)v;
		return 0;
	case OPT_PROBE_NOOP:
		if (number(arg, 1, 60000, &v, "--probe-noop: 1 to 60000 ms",
		    err, errlen) == -1)
			return -1;
		L->probe_ms = (unsigned)v;
		return 0;
	case OPT_RAMP:
		if (number(arg, 1, MAX_CONCURRENCY, &v,
		    "--ramp: 1 to 1000000", err, errlen) == -1)
			return -1;
		L->ramp = (unsigned)v;
		return 0;
	}
	return -1;
}

int
cmd_load(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLIOPT_LONGOPTS,
		{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
		{ "sessions", required_argument, NULL, OPT_SESSIONS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "messages", required_argument, NULL, OPT_MESSAGES },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "noop-every", required_argument, NULL, OPT_NOOP_EVERY },
		{ "probe-noop", required_argument, NULL, OPT_PROBE_NOOP },
		{ "ramp", required_argument, NULL, OPT_RAMP },
		{ NULL, 0, NULL, 0 },
	};
	struct load		*L;
	struct cliopt_cmd	 cmd;
	struct event_config	*cfg = NULL;
	struct rlimit		 rl;
	struct timeval		 tv;
	const char		*why;
	char			 err[256], prompt[300];
	int			 rv = 2;

	if ((L = calloc(1, sizeof(*L))) == NULL)
		return 2;
	cliopt_init(&L->o);
	TAILQ_INIT(&L->conns);
	L->concurrency = DEFAULT_CONCURRENCY;
	L->messages = 1;
	L->size = DEFAULT_SIZE;
	L->noop_every = DEFAULT_NOOP_EVERY;
	L->ramp = DEFAULT_RAMP;
	cmd = load_cmd;
	cmd.option = load_option;
	cmd.ctx = L;
	if ((rv = cliopt_args(&L->o, &cmd, argc, argv, longopts)) !=
	    CLIOPT_GO)
		goto done;
	rv = 2;
	if (L->idle) {
		if (L->duration == 0) {
			rv = bad_usage("--idle needs --duration");
			goto done;
		}
		if (L->sessions > 0) {
			rv = bad_usage("--idle holds --concurrency sessions; "
			    "no --sessions");
			goto done;
		}
	} else if (L->sessions == 0 && L->duration == 0)
		L->sessions = DEFAULT_SESSIONS;
	if (L->from == NULL && L->o.user != NULL &&
	    cliopt_is_address(L->o.user))
		L->from = L->o.user;
	if (!L->idle && L->messages > 0) {
		if (L->to == NULL || L->from == NULL) {
			rv = bad_usage("--to and --from (or a --user that is "
			    "an address) are needed to send messages");
			goto done;
		}
		if ((L->from[0] != '\0' && !cliopt_is_address(L->from)) ||
		    !cliopt_is_address(L->to)) {
			rv = bad_usage("bad --from or --to");
			goto done;
		}
	}
	if (L->o.user != NULL && L->o.tls == TLSMODE_NONE &&
	    !L->o.insecure_plaintext_auth) {
		fprintf(stderr, "smtpauth: load: refusing to send a password "
		    "without TLS (--insecure-plaintext-auth overrides)\n");
		goto done;
	}

	if (L->o.user != NULL) {
		L->cred.user = L->o.user;
		L->cred.userlen = strlen(L->o.user);
		if (L->o.mech == AUTH_MECH_XOAUTH2) {
			if (L->o.oauth_token_file == NULL) {
				rv = bad_usage("XOAUTH2 needs "
				    "--oauth-token-file");
				goto done;
			}
			if (password_read_file(L->o.oauth_token_file,
			    &L->token, err, sizeof(err)) == -1) {
				fprintf(stderr, "smtpauth: load: %s\n", err);
				goto done;
			}
			L->cred.token = L->token.buf;
			L->cred.tokenlen = L->token.len;
		} else {
			(void)snprintf(prompt, sizeof(prompt),
			    "Password for %s: ", L->o.user);
			if (password_read(L->o.password_file, prompt,
			    PASSWORD_STDIN_OK, &L->pw, NULL, err,
			    sizeof(err)) == -1) {
				fprintf(stderr, "smtpauth: load: %s\n", err);
				goto done;
			}
			L->cred.pass = L->pw.buf;
			L->cred.passlen = L->pw.len;
		}
		if (L->o.mech != AUTH_MECH_NONE &&
		    (why = auth_mech_unusable(L->o.mech, &L->cred)) != NULL) {
			fprintf(stderr, "smtpauth: load: %s: %s\n",
			    auth_mech_name(L->o.mech), why);
			goto done;
		}
		if (prepare_auth(L) == -1) {
			fprintf(stderr, "smtpauth: load: cannot encode the "
			    "credentials\n");
			goto done;
		}
	}
	if (!L->idle && L->messages > 0 && build_message(L) == -1) {
		fprintf(stderr, "smtpauth: load: out of memory\n");
		goto done;
	}
	if (resolve(L) == -1)
		goto done;
	if (L->o.tls != TLSMODE_NONE && (L->tctx = tls_client_new(
	    L->o.ca_file, L->o.insecure, 0, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: load: %s\n", err);
		goto done;
	}

	/* A descriptor a session, and some to spare. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)L->concurrency + 16 > rl.rlim_cur)
		fprintf(stderr, "smtpauth: load: warning: %u sessions but "
		    "only %llu file descriptors (ulimit -n)\n",
		    L->concurrency, (unsigned long long)rl.rlim_cur);

	/*
	 * The probe's events run first, and the loop looks for them after
	 * every LOAD_BURST callbacks of the load's sessions (TLS handshakes
	 * cost this process too): its NOOP times are the server's.
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_max_dispatch_interval(cfg, NULL, LOAD_BURST,
	    PRI_LOAD) == -1 ||
	    (L->base = event_base_new_with_config(cfg)) == NULL ||
	    event_base_priority_init(L->base, 2) == -1 ||
	    (L->kick = evtimer_new(L->base, kick_cb, L)) == NULL ||
	    (L->deadline = evtimer_new(L->base, deadline_cb, L)) == NULL ||
	    (L->sigint = evsignal_new(L->base, SIGINT, signal_cb, L)) ==
	    NULL || (L->sigterm = evsignal_new(L->base, SIGTERM, signal_cb,
	    L)) == NULL || event_add(L->sigint, NULL) == -1 ||
	    event_add(L->sigterm, NULL) == -1) {
		fprintf(stderr, "smtpauth: load: cannot set up the event "
		    "loop\n");
		goto done;
	}

	L->t0 = mono_usec();
	if (!L->idle && L->duration > 0) {
		L->t_end = L->t0 + (int64_t)L->duration * 1000000;
		tv.tv_sec = L->duration;
		tv.tv_usec = 0;
		evtimer_add(L->deadline, &tv);
	}
	if (L->probe_ms > 0)
		lconn_start(L, 1);
	start_more(L);
	if (!L->main_done || L->probe != NULL)
		event_base_dispatch(L->base);

	stats_sort(&L->st);
	load_report(L);
	fflush(stdout);
	rv = L->failed > 0 || L->st.nerrs > 0 || L->st.errs_other > 0 ||
	    (L->idle && L->idle_held < L->concurrency) ? 1 : 0;
 done:
	if (cfg != NULL)
		event_config_free(cfg);
	load_free(L);
	return rv;
}
