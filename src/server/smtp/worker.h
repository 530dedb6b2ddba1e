/*
 * An smtp worker process: accepts connections on its listeners and runs
 * the sessions on one libevent loop.
 */
#ifndef SMTPAUTHD_WORKER_H
#define SMTPAUTHD_WORKER_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include "server/shared/config.h"
#include "server/shared/spool.h"
#include "server/shared/users.h"

struct session;
struct event;
struct tls_ctx;
struct authclient;

struct worker_listener {
	int			 fd;
	const struct listen_conf *lc;
	struct event		*ev;
};

/*
 * Event priorities of a worker's loop (libevent: 0 runs first): sessions
 * in the SMTP dialogue, then everything else (timers, the auth process,
 * finished commits), then new connections and TLS handshakes, at most
 * WORKER_BULK_BURST of those before the loop looks for other events.
 */
#define WORKER_PRI_SESSION	0
#define WORKER_PRI_DEFAULT	1
#define WORKER_PRI_HANDSHAKE	2
#define WORKER_NPRI		3
#define WORKER_BULK_BURST	8

struct worker {
	struct event_base	*base;
	const struct config	*conf;
	const struct userset	*users;
	struct spool		 spool;
	struct workq		*wq;
	struct tls_ctx		*tls;		/* NULL: no certificate */
	struct authclient	*auth;		/* NULL: no users, no AUTH */
	int			 notify_fd;	/* datagrams to the queue */
	struct worker_listener	*listeners;
	size_t			 nlisteners;
	unsigned		 nsessions;
	unsigned		 max_sessions;	/* max-sessions, or what fds allow */
	int			 fd_capped;	/* max_sessions is the fd limit's */
	int			 spare_fd;	/* given up to answer at EMFILE */
	uint64_t		 spool_free;	/* bytes, as of spool_free_at */
	time_t			 spool_free_at;	/* CLOCK_MONOTONIC s; 0: stale */
	int			 draining;
	struct event		*ev_sigterm;
	struct event		*ev_deadline;
	struct event		*ev_resume;	/* accept again after EMFILE */
	TAILQ_HEAD(, session)	 sessions;
};

/* Start the worker in this (child) process; never returns. */
void	worker_main(const struct config *, const struct userset *,
	    struct tls_ctx *, const char *authsock,
	    struct worker_listener *, size_t nlisteners, int notify_fd,
	    unsigned slot) __attribute__((noreturn));

/* Tell the queue process that a message was committed. */
void	worker_notify_queue(struct worker *, const char *id);

/*
 * The bytes free for us in the spool's file system (UINT64_MAX when that
 * cannot be told), read at most once a second; worker_spool_stale() makes
 * the next call read it again.
 */
uint64_t worker_spool_free(struct worker *);
void	worker_spool_stale(struct worker *);

/* A session is gone (called by the session code). */
void	worker_session_gone(struct worker *, struct session *);

#endif
