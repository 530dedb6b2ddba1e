/*
 * Between the files of smtpauth load only.  load.c reads the options,
 * makes what every session shares (the message, the AUTH responses, the
 * address) and runs the loop: it decides when a session starts and when
 * the run is over.  load_conn.c drives one session (struct lconn, private
 * to it) from connect() to QUIT; load_stats.c counts the errors and keeps
 * the latency samples; load_report.c prints the report.
 *
 * The run reaches the sessions only through the lconn_*() functions; a
 * session calls back into the run at one place, load_next(), when it
 * ends or is held.
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

/* load_stats.c */
void	 stats_latency(struct load_stats *, enum lat_kind, int64_t usec);
void	 stats_error(struct load_stats *, const char *key);
void	 stats_sort(struct load_stats *);
double	 stats_pct(const struct lat *, unsigned pct);
void	 stats_free(struct load_stats *);

/* load_report.c: text, or JSON with --json, on stdout. */
void	 load_report(const struct load *);

#endif
