/*
 * Between the files of smtpauth load only.  load.c reads the options,
 * makes what every session shares (the message, the AUTH responses, the
 * address) and runs the loop: it decides when a session starts and when
 * the run is over.  A session (struct lconn) is two files: load_conn.c
 * owns its socket, TLS, buffers, timeout and life from connect() to the
 * end, load_smtp.c the dialogue.  load_stats.c counts the errors and
 * keeps the latency samples; load_report.c prints the report.
 *
 * The run never reads a struct lconn: it reaches the sessions through
 * four lconn_*() functions, and a session calls back into the run at one
 * place, load_next(), when it ends or is held.
 */
#ifndef SMTPAUTH_LOAD_PRIV_H
#define SMTPAUTH_LOAD_PRIV_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "common/reply.h"

/* Event priorities: the NOOP probe first; LOAD_BURST load callbacks at
 * most before the loop looks for the probe's events again. */
#define PRI_PROBE		0
#define PRI_LOAD		1
#define LOAD_BURST		8
#define MAX_ERRKEYS		64

enum lat_kind {
	LAT_GREETING,
	LAT_HANDSHAKE,
	LAT_AUTH,
	LAT_DATA,
	LAT_NOOP,
	LAT_SESSION,
	LAT_COUNT,
};

struct lat {
	double	*v;
	size_t	 n, size;
};

struct errcount {
	char		key[16];
	unsigned long	n;
};

/* Errors by reply code or reason, and the latency samples of each step. */
struct load_stats {
	struct errcount		 errs[MAX_ERRKEYS];
	size_t			 nerrs;
	unsigned long		 errs_other;
	struct lat		 lat[LAT_COUNT];
};

struct event;
struct event_base;
struct lconn;
struct sasl_scram;
struct tls;
struct tls_ctx;

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
	struct load_stats	 st;
};

static inline void
tv_ms(struct timeval *tv, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* load.c: a session ended or is held; start more, or end the run. */
void	 load_next(struct load *);

/* load_conn.c: the sessions. */
void	 lconn_start(struct load *, int probe);
void	 lconn_quit_idle(struct lconn *);
void	 lconn_quit_held(struct load *);
void	 lconn_free_all(struct load *);

/*
 * Between load_conn.c and load_smtp.c only: one session.  load_conn.c
 * reads, writes and ends it and hands each reply to lsmtp_reply();
 * load_smtp.c says what the reply leads to (EHLO, STARTTLS, AUTH, the
 * messages, NOOP and QUIT) through the lconn_*() calls below.
 */
#define WBUF_SIZE		2048	/* commands we send */

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

/* load_conn.c, for load_smtp.c */
int	 lconn_out(struct lconn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 lconn_set_state(struct lconn *, enum lstate, int reset_clock);
void	 lconn_arm_tmo(struct lconn *);
void	 lconn_fail(struct lconn *, const char *key);
void	 lconn_start_tls(struct lconn *);
void	 lconn_pump(struct lconn *);

/* load_smtp.c, for load_conn.c */
void	 lsmtp_reply(struct lconn *, const struct reply *);
void	 lsmtp_quit(struct lconn *);
void	 lsmtp_noop_cb(int, short, void *);

/* load_stats.c */
void	 stats_latency(struct load_stats *, enum lat_kind, int64_t usec);
void	 stats_error(struct load_stats *, const char *key);
void	 stats_sort(struct load_stats *);
double	 stats_pct(const struct lat *, unsigned pct);
void	 stats_free(struct load_stats *);

/* load_report.c: text, or JSON with --json, on stdout. */
void	 load_report(const struct load *);

#endif
