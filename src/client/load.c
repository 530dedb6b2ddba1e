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
 * the message written to the 250), noop and whole sessions.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
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
#include "client/password.h"
#include "common/addr.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/reply.h"
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
#define WBUF_SIZE		2048	/* commands we send */
#define RBUF_SIZE		16384
/* Event priorities: the NOOP probe first; LOAD_BURST load callbacks at
 * most before the loop looks for the probe's events again. */
#define PRI_PROBE		0
#define PRI_LOAD		1
#define LOAD_BURST		8
#define MAX_ERRKEYS		64
#define BACKOFF_MIN_MS		10
#define BACKOFF_MAX_MS		1000
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

enum lat_kind {
	LAT_GREETING,
	LAT_HANDSHAKE,
	LAT_AUTH,
	LAT_DATA,
	LAT_NOOP,
	LAT_SESSION,
	LAT_COUNT,
};

static const char *const lat_names[LAT_COUNT] = {
	"greeting", "handshake", "auth", "data", "noop", "session",
};

enum lstate {
	S_CONNECT,
	S_HANDSHAKE,
	S_GREETING,
	S_EHLO,
	S_STARTTLS,
	S_AUTH,
	S_MAIL,
	S_RCPT,
	S_DATA,
	S_BODY,
	S_IDLE,
	S_NOOP,
	S_QUIT,
};

enum fin {
	FIN_NONE = 0,
	FIN_OK,
	FIN_FAIL,
};

/* What conn_flush() and conn_input() need next. */
#define IO_DONE		0
#define IO_WANT_READ	1
#define IO_WANT_WRITE	2
#define IO_ERROR	-1

struct load;

struct lconn {
	TAILQ_ENTRY(lconn)	 entry;
	struct load		*L;
	int			 fd;
	struct tls		*tls;
	enum lstate		 state;
	enum fin		 fin;
	int			 probe;		/* the NOOP probe */
	int			 failed;	/* an error was counted */
	int			 tls_up;
	int			 verified;	/* by this handshake */
	int			 opening;	/* idle mode: not held yet */
	int			 held;		/* idle mode: held */
	int			 got_session;
	int			 pipelining;
	int			 has_starttls;
	int			 has_auth;
	int			 batch_fail;	/* first bad code of a batch */
	unsigned		 msgs;
	unsigned		 auth_step;
	enum auth_mech		 mech;
	struct sasl_scram	*scram;
	char			 authadv[256];
	size_t			 authadvlen;
	struct event		*rev;
	struct event		*wev;
	struct event		*tmo;		/* the step's timeout */
	struct event		*timer;		/* the next NOOP */
	short			 want;		/* rev, wev added */
	struct reply_parser	 rp;
	char			 wbuf[WBUF_SIZE];
	size_t			 woff, wlen;
	const char		*xbuf;		/* the message, shared */
	size_t			 xoff, xlen;
	int			 mark_flush;	/* take the time when sent */
	int64_t			 t_start, t_step, t_hs;
};

struct lat {
	double	*v;
	size_t	 n, size;
};

struct errcount {
	char		key[16];
	unsigned long	n;
};

struct load {
	struct cliopts		 o;
	unsigned		 concurrency;
	unsigned long		 sessions;	/* 0: until --duration */
	unsigned		 duration;	/* seconds; 0: none */
	unsigned		 messages;
	size_t			 size;
	const char		*from;
	const char		*to;
	int			 json;
	int			 resume;
	int			 idle;
	unsigned		 noop_every;	/* seconds */
	unsigned		 probe_ms;	/* 0: no probe */
	unsigned		 ramp;
	struct password		 pw;
	struct password		 token;
	struct auth_cred	 cred;
	char			*plain;		/* AUTH PLAIN response */
	char			*login_user;
	char			*login_pass;
	char			*xoauth;
	struct tls_ctx		*tctx;
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 helo[300];
	char			*msg;		/* dot-stuffed, ".\r\n" ended */
	size_t			 msglen;
	unsigned char		*sess;		/* --resume: the last session */
	size_t			 sesslen;
	TAILQ_HEAD(, lconn)	 conns;
	struct lconn		*probe;
	unsigned		 active;	/* sessions open, probe apart */
	unsigned		 opening;	/* idle mode */
	unsigned		 idle_open;	/* idle mode: held now */
	unsigned		 idle_held;	/* held when all were open */
	int			 all_open;
	int			 in_start;
	int			 stopping;
	int			 main_done;
	int			 interrupted;
	unsigned long		 started, ok, failed, msgs_ok;
	unsigned long		 handshakes, resumed;
	int64_t			 t0, t_end, t_last, t_hold;
	int64_t			 backoff_until;
	unsigned		 backoff_ms;
	struct event		*kick;
	struct event		*deadline;
	struct event		*sigint;
	struct event		*sigterm;
	struct errcount		 errs[MAX_ERRKEYS];
	size_t			 nerrs;
	unsigned long		 errs_other;
	struct lat		 lat[LAT_COUNT];
};

static int	 bad_usage(const char *);
static int	 parse_uint(const char *, unsigned long, unsigned long,
		    unsigned long *);
static void	 tv_ms(struct timeval *, int64_t);
static void	 lat_add(struct load *, enum lat_kind, int64_t);
static int	 cmp_double(const void *, const void *);
static double	 lat_pct(const struct lat *, unsigned);
static void	 count_error(struct load *, const char *);
static int	 build_message(struct load *);
static int	 prepare_auth(struct load *);
static int	 resolve(struct load *);
static void	 default_helo(struct load *, int);
static int	 more_to_start(struct load *);
static void	 start_more(struct load *);
static void	 check_done(struct load *);
static void	 check_all_open(struct load *);
static void	 conn_start(struct load *, int);
static void	 conn_free(struct lconn *);
static void	 conn_end(struct lconn *);
static void	 conn_fail(struct lconn *, const char *);
static void	 reply_fail(struct lconn *, int);
static void	 quit_fail(struct lconn *, const char *);
static void	 set_state(struct lconn *, enum lstate, int);
static void	 arm_tmo(struct lconn *);
static int	 out_line(struct lconn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 conn_want(struct lconn *, short);
static void	 conn_pump(struct lconn *);
static void	 conn_kick(struct lconn *);
static int	 connect_done(struct lconn *);
static int	 conn_flush(struct lconn *);
static int	 conn_input(struct lconn *);
static void	 start_tls(struct lconn *);
static void	 handshake_done(struct lconn *);
static void	 on_reply(struct lconn *, const struct reply *);
static void	 on_ehlo(struct lconn *, const struct reply *);
static void	 after_ehlo(struct lconn *);
static void	 after_auth(struct lconn *);
static void	 start_auth(struct lconn *);
static void	 auth_reply(struct lconn *, const struct reply *);
static void	 auth_cancel(struct lconn *, const char *);
static void	 next_message(struct lconn *);
static void	 go_idle(struct lconn *);
static void	 send_quit(struct lconn *);
static void	 end_hold(struct load *);
static void	 io_cb(int, short, void *);
static void	 tmo_cb(int, short, void *);
static void	 timer_cb(int, short, void *);
static void	 kick_cb(int, short, void *);
static void	 deadline_cb(int, short, void *);
static void	 signal_cb(int, short, void *);
static void	 report_load_text(struct load *);
static void	 report_load_json(struct load *);
static void	 load_free(struct load *);

static const struct cliopt_cmd	load_cmd = { "load", load_usage, NULL, NULL };

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

static void
tv_ms(struct timeval *tv, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
lat_add(struct load *L, enum lat_kind k, int64_t us)
{
	struct lat	*l = &L->lat[k];
	double		*nv;
	size_t		 ns;

	if (l->n == l->size) {
		ns = l->size == 0 ? 1024 : l->size * 2;
		if ((nv = reallocarray(l->v, ns, sizeof(*nv))) == NULL)
			return;		/* a sample less */
		l->v = nv;
		l->size = ns;
	}
	l->v[l->n++] = (double)us / 1000.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with pct percent at or below it. */
static double
lat_pct(const struct lat *l, unsigned pct)
{
	size_t	rank;

	rank = (l->n * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return l->v[rank - 1];
}

/* Errors by reply code ("535") or reason ("timeout", "refused"...). */
static void
count_error(struct load *L, const char *key)
{
	size_t	i;

	for (i = 0; i < L->nerrs; i++)
		if (strcmp(L->errs[i].key, key) == 0) {
			L->errs[i].n++;
			return;
		}
	if (L->nerrs == MAX_ERRKEYS) {
		L->errs_other++;
		return;
	}
	(void)snprintf(L->errs[L->nerrs].key, sizeof(L->errs[0].key), "%s",
	    key);
	L->errs[L->nerrs++].n = 1;
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

/*
 * The EHLO name when --helo is not given: the host name when it has a
 * dot, else the address literal of our end (RFC 5321 4.1.3).
 */
static void
default_helo(struct load *L, int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		sl = sizeof(ss);
	char			name[256], a[INET6_ADDRSTRLEN];

	if (L->helo[0] != '\0')
		return;
	if (L->o.helo != NULL) {
		(void)snprintf(L->helo, sizeof(L->helo), "%s", L->o.helo);
		return;
	}
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (strchr(name, '.') != NULL &&
		    addr_valid_domain(name, strlen(name), 0)) {
			(void)snprintf(L->helo, sizeof(L->helo), "%s", name);
			return;
		}
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a)))
			(void)snprintf(L->helo, sizeof(L->helo), "[IPv6:%s]",
			    a);
		else if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a)))
			(void)snprintf(L->helo, sizeof(L->helo), "[%s]", a);
	}
	if (L->helo[0] == '\0')
		(void)snprintf(L->helo, sizeof(L->helo), "localhost");
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
		conn_start(L, 0);
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
		if (L->probe->state == S_IDLE) {
			send_quit(L->probe);
			conn_kick(L->probe);
		}
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

static void
conn_start(struct load *L, int probe)
{
	struct lconn	*lc;
	int		 one = 1, saved;

	if ((lc = calloc(1, sizeof(*lc))) == NULL) {
		count_error(L, "memory");
		if (!probe) {
			L->started++;
			L->failed++;
		}
		return;
	}
	lc->L = L;
	lc->fd = -1;
	lc->probe = probe;
	reply_parser_init(&lc->rp);
	TAILQ_INSERT_TAIL(&L->conns, lc, entry);
	if (probe)
		L->probe = lc;
	else {
		L->active++;
		L->started++;
		if (L->idle) {
			lc->opening = 1;
			L->opening++;
		}
	}
	lc->t_start = lc->t_step = mono_usec();
	lc->tmo = evtimer_new(L->base, tmo_cb, lc);
	lc->timer = evtimer_new(L->base, timer_cb, lc);
	if (lc->tmo == NULL || lc->timer == NULL) {
		conn_fail(lc, "memory");
		conn_end(lc);
		return;
	}
	lc->fd = socket(L->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (lc->fd == -1) {
		saved = errno;
		conn_fail(lc, saved == EMFILE || saved == ENFILE ? "nofile" :
		    "connect");
		goto backoff;
	}
	(void)setsockopt(lc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	lc->rev = event_new(L->base, lc->fd, EV_READ | EV_PERSIST, io_cb, lc);
	lc->wev = event_new(L->base, lc->fd, EV_WRITE | EV_PERSIST, io_cb,
	    lc);
	if (lc->rev == NULL || lc->wev == NULL) {
		conn_fail(lc, "memory");
		conn_end(lc);
		return;
	}
	if (probe) {
		/* Measure the server, not our own busy loop (see main). */
		event_priority_set(lc->tmo, PRI_PROBE);
		event_priority_set(lc->timer, PRI_PROBE);
		event_priority_set(lc->rev, PRI_PROBE);
		event_priority_set(lc->wev, PRI_PROBE);
	}
	set_state(lc, S_CONNECT, 0);
	if (connect(lc->fd, (struct sockaddr *)&L->ss, L->sslen) == -1 &&
	    errno != EINPROGRESS) {
		saved = errno;
		conn_fail(lc, saved == ECONNREFUSED ? "refused" : "connect");
		goto backoff;
	}
	conn_pump(lc);
	return;
 backoff:
	L->backoff_ms = L->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    L->backoff_ms * 2;
	L->backoff_until = mono_usec() + (int64_t)L->backoff_ms * 1000;
	conn_end(lc);
}

/* Release a session: TLS, events, socket, secrets (AUTH lines, SCRAM). */
static void
conn_free(struct lconn *lc)
{
	if (lc->tls != NULL)
		tls_free(lc->tls);
	if (lc->rev != NULL)
		event_free(lc->rev);
	if (lc->wev != NULL)
		event_free(lc->wev);
	if (lc->tmo != NULL)
		event_free(lc->tmo);
	if (lc->timer != NULL)
		event_free(lc->timer);
	if (lc->fd != -1)
		close(lc->fd);
	if (lc->scram != NULL) {
		sasl_scram_wipe(lc->scram);
		free(lc->scram);
	}
	reply_parser_free(&lc->rp);
	TAILQ_REMOVE(&lc->L->conns, lc, entry);
	explicit_bzero(lc, sizeof(*lc));
	free(lc);
}

/* The session is over: count it, free it, start the next. */
static void
conn_end(struct lconn *lc)
{
	struct load	*L = lc->L;
	int64_t		 now = mono_usec();

	if (lc->probe)
		L->probe = NULL;
	else {
		L->active--;
		if (lc->opening)
			L->opening--;
		if (lc->held)
			L->idle_open--;
		if (lc->fin == FIN_OK && !lc->failed) {
			L->ok++;
			lat_add(L, LAT_SESSION, now - lc->t_start);
		} else
			L->failed++;
		L->t_last = now;
	}
	if (lc->tls != NULL && lc->fin == FIN_OK)
		tls_close(lc->tls);
	conn_free(lc);
	check_all_open(L);
	start_more(L);
}

/* The connection is unusable: count why and close it. */
static void
conn_fail(struct lconn *lc, const char *key)
{
	if (!lc->failed)
		count_error(lc->L, key);
	lc->failed = 1;
	lc->fin = FIN_FAIL;
}

/* A refusal: count the code, then QUIT politely (not after a 421). */
static void
reply_fail(struct lconn *lc, int code)
{
	char	key[16];

	(void)snprintf(key, sizeof(key), "%d", code);
	if (!lc->failed)
		count_error(lc->L, key);
	lc->failed = 1;
	if (code == 421 || code == 221) {
		lc->fin = FIN_FAIL;
		return;
	}
	send_quit(lc);
}

/* Something we need is missing ("nostarttls", "noauth", "unverified"):
 * QUIT. */
static void
quit_fail(struct lconn *lc, const char *key)
{
	if (!lc->failed)
		count_error(lc->L, key);
	lc->failed = 1;
	send_quit(lc);
}

static void
set_state(struct lconn *lc, enum lstate st, int reset_clock)
{
	lc->state = st;
	if (reset_clock)
		lc->t_step = mono_usec();
	if (st == S_IDLE)
		evtimer_del(lc->tmo);
	else
		arm_tmo(lc);
}

static void
arm_tmo(struct lconn *lc)
{
	struct timeval	tv;

	tv.tv_sec = lc->L->o.timeout;
	tv.tv_usec = 0;
	evtimer_add(lc->tmo, &tv);
}

/* A command line into the output buffer; CRLF is added. */
static int
out_line(struct lconn *lc, const char *fmt, ...)
{
	va_list	ap;
	size_t	room = sizeof(lc->wbuf) - lc->wlen;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(lc->wbuf + lc->wlen, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= room) {
		conn_fail(lc, "internal");
		return -1;
	}
	memcpy(lc->wbuf + lc->wlen + n, "\r\n", 2);
	lc->wlen += (size_t)n + 2;
	return 0;
}

static void
conn_want(struct lconn *lc, short want)
{
	if ((want & EV_READ) && !(lc->want & EV_READ))
		event_add(lc->rev, NULL);
	else if (!(want & EV_READ) && (lc->want & EV_READ))
		event_del(lc->rev);
	if ((want & EV_WRITE) && !(lc->want & EV_WRITE))
		event_add(lc->wev, NULL);
	else if (!(want & EV_WRITE) && (lc->want & EV_WRITE))
		event_del(lc->wev);
	lc->want = want;
}

/*
 * Drive a connection as far as it goes without waiting: finish connect
 * or the handshake, write what is queued, read and act on replies.  Then
 * wait for what it needs, or end it.
 */
static void
conn_pump(struct lconn *lc)
{
	short	want = 0;
	int	r, again;

	do {
		again = 0;
		want = 0;
		if (lc->state == S_CONNECT) {
			if ((r = connect_done(lc)) == 0) {
				want = EV_WRITE;
				break;
			}
			if (r == -1)
				break;
		}
		if (lc->state == S_HANDSHAKE) {
			r = tls_handshake(lc->tls);
			if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
				want = r == TLS_WANT_POLLIN ? EV_READ :
				    EV_WRITE;
				break;
			}
			if (r == -1) {
				conn_fail(lc, "tls");
				break;
			}
			handshake_done(lc);
			if (lc->fin)
				break;
		}
		if (lc->woff < lc->wlen || lc->xbuf != NULL) {
			r = conn_flush(lc);
			if (r == IO_ERROR) {
				conn_fail(lc, "closed");
				break;
			}
			if (r == IO_WANT_READ)
				want |= EV_READ;
			else if (r == IO_WANT_WRITE)
				want |= EV_WRITE;
		}
		r = conn_input(lc);
		if (lc->fin)
			break;
		if (r == IO_DONE)
			again = 1;
		else if (r == IO_WANT_WRITE)
			want |= EV_WRITE;
		else
			want |= EV_READ;
	} while (again);
	if (lc->fin) {
		conn_end(lc);
		return;
	}
	conn_want(lc, want);
}

/*
 * Pump a connection from the loop rather than from here: whoever calls
 * this may be walking the list of connections, which a pump may change.
 */
static void
conn_kick(struct lconn *lc)
{
	event_active(lc->wev, EV_WRITE, 1);
}

/* 1 connected, 0 not yet, -1 failed (fin set). */
static int
connect_done(struct lconn *lc)
{
	struct load	*L = lc->L;
	socklen_t	 sl = sizeof(int);
	int		 err = 0;

	if (getsockopt(lc->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return 0;
	if (err == 0) {
		/* Not connected yet when the peer's name is unknown. */
		struct sockaddr_storage	ss;

		sl = sizeof(ss);
		if (getpeername(lc->fd, (struct sockaddr *)&ss, &sl) == -1) {
			if (errno == ENOTCONN)
				return 0;
			err = errno;
		}
	}
	if (err != 0) {
		conn_fail(lc, err == ECONNREFUSED ? "refused" : "connect");
		L->backoff_ms = L->backoff_ms == 0 ? BACKOFF_MIN_MS :
		    L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    L->backoff_ms * 2;
		L->backoff_until = mono_usec() + (int64_t)L->backoff_ms * 1000;
		return -1;
	}
	L->backoff_ms = 0;
	default_helo(L, lc->fd);
	if (L->o.tls == TLSMODE_IMPLICIT)
		start_tls(lc);
	else
		set_state(lc, S_GREETING, 0);	/* since connect() */
	return 1;
}

static int
conn_flush(struct lconn *lc)
{
	const char	*p;
	size_t		 len;
	ssize_t		 n;
	int		 own;

	for (;;) {
		if (lc->woff < lc->wlen) {
			p = lc->wbuf + lc->woff;
			len = lc->wlen - lc->woff;
			own = 1;
		} else if (lc->xbuf != NULL) {
			p = lc->xbuf + lc->xoff;
			len = lc->xlen - lc->xoff;
			own = 0;
		} else
			break;
		if (lc->tls_up) {
			n = tls_write(lc->tls, p, len);
			if (n == TLS_WANT_POLLIN)
				return IO_WANT_READ;
			if (n == TLS_WANT_POLLOUT)
				return IO_WANT_WRITE;
			if (n < 0)
				return IO_ERROR;
		} else {
			n = send(lc->fd, p, len, MSG_NOSIGNAL);
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == EINTR))
				return IO_WANT_WRITE;
			if (n == -1)
				return IO_ERROR;
		}
		if (own) {
			lc->woff += (size_t)n;
			if (lc->woff == lc->wlen) {
				explicit_bzero(lc->wbuf, lc->wlen);
				lc->woff = lc->wlen = 0;
			}
		} else if ((lc->xoff += (size_t)n) == lc->xlen) {
			lc->xbuf = NULL;
			lc->xoff = lc->xlen = 0;
		}
	}
	if (lc->mark_flush) {
		lc->mark_flush = 0;
		lc->t_step = mono_usec();
	}
	return IO_DONE;
}

/*
 * Read once and act on every complete reply.  IO_DONE when something was
 * read (call again), IO_WANT_* when nothing is there; the connection may
 * have ended (fin set).
 */
static int
conn_input(struct lconn *lc)
{
	static char		buf[RBUF_SIZE];
	enum reply_status	st;
	ssize_t			n;
	size_t			off = 0, used;

	if (lc->tls_up) {
		n = tls_read(lc->tls, buf, sizeof(buf));
		if (n == TLS_WANT_POLLIN)
			return IO_WANT_READ;
		if (n == TLS_WANT_POLLOUT)
			return IO_WANT_WRITE;
	} else {
		n = recv(lc->fd, buf, sizeof(buf), 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return IO_WANT_READ;
	}
	if (n <= 0) {
		if (lc->state == S_QUIT)
			lc->fin = lc->failed ? FIN_FAIL : FIN_OK;
		else
			conn_fail(lc, n < 0 && lc->tls_up ? "tls" : "closed");
		return IO_DONE;
	}
	while (off < (size_t)n && !lc->fin) {
		st = reply_parse(&lc->rp, buf + off, (size_t)n - off, &used);
		off += used;
		if (st == REPLY_ERROR) {
			conn_fail(lc, "protocol");
			break;
		}
		if (st == REPLY_MORE)
			break;
		on_reply(lc, &lc->rp.reply);
		/* RFC 3207: what came after the 220 is not trusted. */
		if (lc->state == S_HANDSHAKE)
			break;
	}
	return IO_DONE;
}

static void
start_tls(struct lconn *lc)
{
	struct load	*L = lc->L;

	if ((lc->tls = tls_connect_fd(L->tctx, lc->fd, L->o.host)) == NULL) {
		conn_fail(lc, "tls");
		return;
	}
	if (L->resume && L->sess != NULL)
		(void)tls_set_session(lc->tls, L->sess, L->sesslen);
	lc->t_hs = mono_usec();
	set_state(lc, S_HANDSHAKE, 0);
}

static void
handshake_done(struct lconn *lc)
{
	struct load	*L = lc->L;

	lc->tls_up = 1;
	lc->verified = tls_peer_verified(lc->tls);
	L->handshakes++;
	if (tls_conn_resumed(lc->tls))
		L->resumed++;
	lat_add(L, LAT_HANDSHAKE, mono_usec() - lc->t_hs);
	reply_parser_reset(&lc->rp);
	if (L->o.tls == TLSMODE_IMPLICIT) {
		set_state(lc, S_GREETING, 1);
		return;
	}
	if (out_line(lc, "EHLO %s", L->helo) == 0)
		set_state(lc, S_EHLO, 1);
}

static void
on_reply(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	unsigned char	*blob;
	size_t		 len;
	char		 key[16];

	/* A TLS 1.3 ticket comes after the handshake, with the data. */
	if (L->resume && lc->tls_up && !lc->got_session &&
	    (blob = tls_get_session(lc->tls, &len)) != NULL) {
		tls_session_free(L->sess, L->sesslen);
		L->sess = blob;
		L->sesslen = len;
		lc->got_session = 1;
	}
	switch (lc->state) {
	case S_GREETING:
		if (r->code != 220) {
			reply_fail(lc, r->code);
			return;
		}
		lat_add(L, LAT_GREETING, mono_usec() - lc->t_step);
		if (out_line(lc, "EHLO %s", L->helo) == 0)
			set_state(lc, S_EHLO, 1);
		return;
	case S_EHLO:
		if (r->code != 250) {
			reply_fail(lc, r->code);
			return;
		}
		on_ehlo(lc, r);
		return;
	case S_STARTTLS:
		if (r->code != 220) {
			reply_fail(lc, r->code);
			return;
		}
		start_tls(lc);
		return;
	case S_AUTH:
		auth_reply(lc, r);
		return;
	case S_MAIL:
	case S_RCPT:
		if (reply_class(r) != 2 && lc->batch_fail == 0)
			lc->batch_fail = r->code;
		if (!lc->pipelining && lc->batch_fail != 0) {
			reply_fail(lc, lc->batch_fail);
			return;
		}
		if (lc->state == S_MAIL) {
			if (!lc->pipelining && out_line(lc, "RCPT TO:<%s>",
			    L->to) == -1)
				return;
			set_state(lc, S_RCPT, 0);
		} else {
			if (!lc->pipelining && out_line(lc, "DATA") == -1)
				return;
			set_state(lc, S_DATA, 0);
		}
		return;
	case S_DATA:
		if (lc->batch_fail != 0) {
			if (r->code == 354)
				conn_fail(lc, "protocol");
			else
				reply_fail(lc, lc->batch_fail);
			return;
		}
		if (r->code != 354) {
			reply_fail(lc, r->code);
			return;
		}
		lc->xbuf = L->msg;
		lc->xoff = 0;
		lc->xlen = L->msglen;
		lc->mark_flush = 1;
		set_state(lc, S_BODY, 1);
		return;
	case S_BODY:
		if (reply_class(r) != 2) {
			reply_fail(lc, r->code);
			return;
		}
		lat_add(L, LAT_DATA, mono_usec() - lc->t_step);
		L->msgs_ok++;
		lc->msgs++;
		next_message(lc);
		return;
	case S_NOOP:
		if (reply_class(r) != 2) {
			reply_fail(lc, r->code);
			return;
		}
		lat_add(L, LAT_NOOP, mono_usec() - lc->t_step);
		go_idle(lc);
		return;
	case S_QUIT:
		lc->fin = lc->failed ? FIN_FAIL : FIN_OK;
		return;
	case S_IDLE:
		/* Unasked: a 421 before the server closes, say. */
		(void)snprintf(key, sizeof(key), "%d", r->code);
		conn_fail(lc, key);
		return;
	default:
		conn_fail(lc, "protocol");
		return;
	}
}

static void
on_ehlo(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	const char	*p;
	size_t		 n;

	lc->pipelining = reply_ehlo_keyword(r, "PIPELINING", NULL, NULL);
	lc->has_starttls = reply_ehlo_keyword(r, "STARTTLS", NULL, NULL);
	lc->has_auth = reply_ehlo_keyword(r, "AUTH", &p, &n);
	lc->authadvlen = 0;
	if (lc->has_auth) {
		if (n >= sizeof(lc->authadv))
			n = sizeof(lc->authadv) - 1;
		memcpy(lc->authadv, p, n);
		lc->authadv[n] = '\0';
		lc->authadvlen = n;
	}
	if (!lc->tls_up && L->o.tls == TLSMODE_STARTTLS) {
		if (!lc->has_starttls) {
			quit_fail(lc, "nostarttls");
			return;
		}
		if (out_line(lc, "STARTTLS") == 0)
			set_state(lc, S_STARTTLS, 1);
		return;
	}
	after_ehlo(lc);
}

static void
after_ehlo(struct lconn *lc)
{
	struct load	*L = lc->L;

	if (lc->probe)
		go_idle(lc);
	else if (L->cred.user != NULL)
		start_auth(lc);
	else
		after_auth(lc);
}

static void
after_auth(struct lconn *lc)
{
	if (lc->L->idle)
		go_idle(lc);
	else
		next_message(lc);
}

static void
start_auth(struct lconn *lc)
{
	struct load	*L = lc->L;
	enum auth_mech	 m = L->o.mech;
	char		 out[SASL_SCRAM_B64_SIZE];
	enum sasl_scram_hash h;
	int		 r;

	if (!lc->has_auth) {
		quit_fail(lc, "noauth");
		return;
	}
	/* Each connection on its own handshake, as smtpc_credential_refused. */
	if (smtpc_credential_rule(lc->tls_up, lc->verified,
	    cliopt_allow(&L->o)) != NULL) {
		quit_fail(lc, "unverified");
		return;
	}
	if (m == AUTH_MECH_NONE)
		m = auth_mech_best(lc->authadv, lc->authadvlen, &L->cred);
	else if (!reply_word_in(lc->authadv, lc->authadvlen,
	    auth_mech_name(m)))
		m = AUTH_MECH_NONE;
	if (m == AUTH_MECH_NONE) {
		quit_fail(lc, "noauth");
		return;
	}
	lc->mech = m;
	lc->auth_step = 0;
	switch (m) {
	case AUTH_MECH_PLAIN:
		r = out_line(lc, "AUTH PLAIN %s", L->plain);
		break;
	case AUTH_MECH_LOGIN:
		r = out_line(lc, "AUTH LOGIN");
		break;
	case AUTH_MECH_CRAM_MD5:
		r = out_line(lc, "AUTH CRAM-MD5");
		break;
	case AUTH_MECH_SCRAM_SHA1:
	case AUTH_MECH_SCRAM_SHA256:
		h = m == AUTH_MECH_SCRAM_SHA1 ? SASL_SCRAM_SHA1 :
		    SASL_SCRAM_SHA256;
		if ((lc->scram = calloc(1, sizeof(*lc->scram))) == NULL ||
		    sasl_scram_start(lc->scram, h, L->cred.user,
		    L->cred.userlen, NULL, 0, out, sizeof(out)) != SASL_OK) {
			conn_fail(lc, "sasl");
			return;
		}
		r = out_line(lc, "AUTH %s %s", sasl_scram_mech(h), out);
		explicit_bzero(out, sizeof(out));
		break;
	case AUTH_MECH_XOAUTH2:
		r = out_line(lc, "AUTH XOAUTH2 %s", L->xoauth);
		break;
	default:
		r = -1;
		break;
	}
	if (r == 0)
		set_state(lc, S_AUTH, 1);
}

/* One step of the SASL exchange; the clock runs from AUTH to 235. */
static void
auth_reply(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	const char	*t;
	char		 out[SASL_SCRAM_B64_SIZE];
	size_t		 n;
	enum sasl_error	 e;
	int		 step = (int)lc->auth_step++;

	if (r->code == 235) {
		if (lc->failed) {	/* after a cancel */
			send_quit(lc);
			return;
		}
		lat_add(L, LAT_AUTH, mono_usec() - lc->t_step);
		if (lc->scram != NULL) {
			sasl_scram_wipe(lc->scram);
			free(lc->scram);
			lc->scram = NULL;
		}
		after_auth(lc);
		return;
	}
	if (r->code != 334) {
		reply_fail(lc, r->code);
		return;
	}
	if (lc->failed) {
		auth_cancel(lc, NULL);
		return;
	}
	t = reply_line(r, 0, &n);
	arm_tmo(lc);
	switch (lc->mech) {
	case AUTH_MECH_LOGIN:
		if (step == 0)
			(void)out_line(lc, "%s", L->login_user);
		else if (step == 1)
			(void)out_line(lc, "%s", L->login_pass);
		else
			auth_cancel(lc, "sasl");
		return;
	case AUTH_MECH_CRAM_MD5:
		if (step != 0 || sasl_cram_md5_response(t, n, L->cred.user,
		    L->cred.userlen, L->cred.pass, L->cred.passlen, out,
		    sizeof(out)) != SASL_OK) {
			auth_cancel(lc, "sasl");
			return;
		}
		(void)out_line(lc, "%s", out);
		explicit_bzero(out, sizeof(out));
		return;
	case AUTH_MECH_SCRAM_SHA1:
	case AUTH_MECH_SCRAM_SHA256:
		if (step == 0) {
			e = sasl_scram_final(lc->scram, t, n, L->cred.pass,
			    L->cred.passlen, out, sizeof(out));
			if (e != SASL_OK) {
				auth_cancel(lc, "sasl");
				return;
			}
			(void)out_line(lc, "%s", out);
			explicit_bzero(out, sizeof(out));
		} else if (step == 1) {
			e = sasl_scram_verify(lc->scram, t, n);
			if (e != SASL_OK && e != SASL_EREJECTED) {
				auth_cancel(lc, "sasl");
				return;
			}
			(void)out_line(lc, "%s", "");
		} else
			auth_cancel(lc, "sasl");
		return;
	case AUTH_MECH_XOAUTH2:
		/* An error report in JSON: an empty line for the 535. */
		(void)out_line(lc, "%s", "");
		return;
	default:
		auth_cancel(lc, "sasl");
		return;
	}
}

/* Give up the exchange with "*"; the server's 501 ends it. */
static void
auth_cancel(struct lconn *lc, const char *key)
{
	if (key != NULL && !lc->failed)
		count_error(lc->L, key);
	lc->failed = 1;
	(void)out_line(lc, "*");
}

static void
next_message(struct lconn *lc)
{
	struct load	*L = lc->L;

	if (lc->msgs >= L->messages) {
		send_quit(lc);
		return;
	}
	lc->batch_fail = 0;
	if (out_line(lc, "MAIL FROM:<%s>", L->from) == -1)
		return;
	if (lc->pipelining && (out_line(lc, "RCPT TO:<%s>", L->to) == -1 ||
	    out_line(lc, "DATA") == -1))
		return;
	set_state(lc, S_MAIL, 1);
}

static void
go_idle(struct lconn *lc)
{
	struct load	*L = lc->L;
	struct timeval	 tv;

	if ((lc->probe && L->main_done) || (!lc->probe && L->stopping)) {
		send_quit(lc);
		return;
	}
	set_state(lc, S_IDLE, 0);
	if (lc->tls != NULL)
		tls_release_buffers(lc->tls);
	if (lc->probe)
		tv_ms(&tv, L->probe_ms);
	else
		tv_ms(&tv, (int64_t)L->noop_every * 1000);
	evtimer_add(lc->timer, &tv);
	if (lc->opening) {
		lc->opening = 0;
		lc->held = 1;
		L->opening--;
		L->idle_open++;
		check_all_open(L);
		start_more(L);
	}
}

static void
send_quit(struct lconn *lc)
{
	evtimer_del(lc->timer);
	if (out_line(lc, "QUIT") == 0)
		set_state(lc, S_QUIT, 1);
}

/* Idle mode: the hold is over (or we were told to stop). */
static void
end_hold(struct load *L)
{
	struct lconn	*lc, *next;

	L->stopping = 1;
	for (lc = TAILQ_FIRST(&L->conns); lc != NULL; lc = next) {
		next = TAILQ_NEXT(lc, entry);
		if (lc->state == S_IDLE && !lc->probe) {
			send_quit(lc);
			conn_kick(lc);
		}
	}
	start_more(L);
}

static void
io_cb(int fd, short events, void *arg)
{
	conn_pump(arg);
}

static void
tmo_cb(int fd, short events, void *arg)
{
	struct lconn	*lc = arg;

	conn_fail(lc, "timeout");
	conn_end(lc);
}

static void
timer_cb(int fd, short events, void *arg)
{
	struct lconn	*lc = arg;

	if (lc->state != S_IDLE)
		return;
	if (out_line(lc, "NOOP") == 0)
		set_state(lc, S_NOOP, 1);
	conn_pump(lc);
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

static double
elapsed_s(const struct load *L)
{
	int64_t	end = L->t_last > L->t0 ? L->t_last : mono_usec();

	if (L->idle && L->t_hold > 0)
		end = L->t_hold;	/* rates: of the opening */
	return (double)(end - L->t0) / 1e6;
}

static void
report_load_json(struct load *L)
{
	const char	*tls;
	double		 el = elapsed_s(L);
	size_t		 i;
	unsigned	 k;
	int		 first;

	tls = L->o.tls == TLSMODE_IMPLICIT ? "implicit" :
	    L->o.tls == TLSMODE_NONE ? "none" : "starttls";
	printf("{\"target\":");
	json_string(stdout, L->o.target);
	printf(",\"tls\":\"%s\",\"concurrency\":%u,\"sessions\":%lu,"
	    "\"failed\":%lu,\"messages\":%lu,\"elapsed_s\":%.3f,"
	    "\"sessions_per_s\":%.1f,\"messages_per_s\":%.1f,"
	    "\"tls_handshakes\":%lu,\"tls_resumed\":%lu", tls,
	    L->concurrency, L->ok, L->failed, L->msgs_ok, el,
	    el > 0 ? (double)L->ok / el : 0.0,
	    el > 0 ? (double)L->msgs_ok / el : 0.0, L->handshakes,
	    L->resumed);
	if (L->idle)
		printf(",\"idle_held\":%u", L->idle_held);
	printf(",\"errors\":{");
	for (i = 0, first = 1; i < L->nerrs; i++, first = 0) {
		printf("%s", first ? "" : ",");
		json_string(stdout, L->errs[i].key);
		printf(":%lu", L->errs[i].n);
	}
	if (L->errs_other > 0)
		printf("%s\"other\":%lu", first ? "" : ",", L->errs_other);
	printf("},\"latency_ms\":{");
	for (k = 0; k < LAT_COUNT; k++) {
		const struct lat	*l = &L->lat[k];

		printf("%s\"%s\":", k ? "," : "", lat_names[k]);
		if (l->n == 0)
			printf("{\"p50\":null,\"p90\":null,\"p99\":null,"
			    "\"n\":0}");
		else
			printf("{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
			    "\"n\":%zu}", lat_pct(l, 50), lat_pct(l, 90),
			    lat_pct(l, 99), l->n);
	}
	printf("}}\n");
}

static void
report_load_text(struct load *L)
{
	double		el = elapsed_s(L);
	size_t		i;
	unsigned	k;

	printf("target %s, %s, concurrency %u\n", L->o.target,
	    cliopt_tls_name(L->o.tls), L->concurrency);
	if (L->idle)
		printf("idle: %u of %u sessions held; opened in %.3f s\n",
		    L->idle_held, L->concurrency, el);
	printf("sessions: %lu ok, %lu failed in %.3f s: %.1f sessions/s\n",
	    L->ok, L->failed, el, el > 0 ? (double)L->ok / el : 0.0);
	printf("messages: %lu: %.1f messages/s\n", L->msgs_ok,
	    el > 0 ? (double)L->msgs_ok / el : 0.0);
	if (L->handshakes > 0)
		printf("TLS: %lu handshakes, %lu resumed\n", L->handshakes,
		    L->resumed);
	printf("errors:");
	if (L->nerrs == 0 && L->errs_other == 0)
		printf(" none");
	for (i = 0; i < L->nerrs; i++)
		printf(" %s=%lu", L->errs[i].key, L->errs[i].n);
	if (L->errs_other > 0)
		printf(" other=%lu", L->errs_other);
	printf("\nlatency ms          p50       p90       p99         n\n");
	for (k = 0; k < LAT_COUNT; k++) {
		const struct lat	*l = &L->lat[k];

		if (l->n == 0)
			continue;
		printf("  %-10s %9.3f %9.3f %9.3f %9zu\n", lat_names[k],
		    lat_pct(l, 50), lat_pct(l, 90), lat_pct(l, 99), l->n);
	}
}

static void
load_free(struct load *L)
{
	struct lconn	*lc;
	unsigned	 k;

	while ((lc = TAILQ_FIRST(&L->conns)) != NULL)
		conn_free(lc);
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
	for (k = 0; k < LAT_COUNT; k++)
		free(L->lat[k].v);
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
	unsigned		 k;
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
		conn_start(L, 1);
	start_more(L);
	if (!L->main_done || L->probe != NULL)
		event_base_dispatch(L->base);

	for (k = 0; k < LAT_COUNT; k++)
		if (L->lat[k].n > 0)
			qsort(L->lat[k].v, L->lat[k].n, sizeof(double),
			    cmp_double);
	if (L->json)
		report_load_json(L);
	else
		report_load_text(L);
	fflush(stdout);
	rv = L->failed > 0 || L->nerrs > 0 || L->errs_other > 0 ||
	    (L->idle && L->idle_held < L->concurrency) ? 1 : 0;
 done:
	if (cfg != NULL)
		event_config_free(cfg);
	load_free(L);
	return rv;
}
