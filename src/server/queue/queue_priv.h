/*
 * Between the files of the queue process only: the message table that
 * queue.c keeps, and what each part offers the others.  queue.c owns the
 * loop and the messages; queue_scan.c finds them in the spool,
 * queue_route.c relays their remote recipients, queue_write.c writes
 * their state back, and queue_cred.c holds what queue_prepare() read as
 * root.  Routes, relay jobs and write jobs stay private to their files.
 */
#ifndef SMTPAUTHD_QUEUE_PRIV_H
#define SMTPAUTHD_QUEUE_PRIV_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "common/workq.h"
#include "server/queue/dns.h"
#include "server/shared/config.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"

#define SCAN_SECONDS		60
#define HASH_SIZE		4096

struct dkim_keys;
struct route;
struct tls_ctx;

/*
 * The marks the queue keeps in a recipient's busy field, which no one
 * else reads.  BUSY_HELD is a flag that write_start() sets and clears
 * before it returns: the others are never seen together.
 */
enum rcpt_busy {
	BUSY_NO = 0,
	BUSY_RELAY = 1,		/* in a relay job under way */
	BUSY_PICKED = 2,	/* chosen for the relay job being made */
	BUSY_HELD = 4,		/* a failure written as pending, for now */
};

/* What queue_prepare() made as root, for the relay connections. */
struct queue_cred {
	struct tls_ctx	*tls_verify;
	struct tls_ctx	*tls_any;
	char		*auth_user;
	char		*auth_pass;
	int		 auth_ok;
	struct dkim_keys *dkim;		/* the dkim-sign keys (dkim.h) */
};

/* What the loop knows about one queued message. */
struct qentry {
	struct qentry	*next;		/* hash chain */
	struct qentry	*wnext;		/* waiting to become active */
	struct queue	*q;
	char		 id[SPOOL_ID_LEN + 1];
	struct event	*timer;		/* the next attempt */
	struct envelope	*env;		/* while active */
	uint64_t	 size;
	off_t		 body_off;	/* where the message starts */
	int		 active;
	int		 waiting;
	int		 loading;	/* a pool thread reads and delivers */
	int		 writing;	/* a pool thread writes the state */
	int		 dirty;		/* state changed since the last write */
	int		 write_failed;
	int		 removed;	/* its files are gone */
	int		 flush;		/* everything is due at once */
	int		 held;		/* smtpauthctl hold: no attempt */
	struct timespec	 accepted;	/* its file's mtime: the commit */
	unsigned	 njobs;		/* relay jobs under way */
	char		*dkim;		/* DKIM-Signature field, while active */
	size_t		 dkimlen;
};

struct queue {
	const struct config	*conf;
	struct event_base	*base;
	struct spool		 spool;
	struct workq		*wq;
	struct dns		*dns;
	struct qentry		*table[HASH_SIZE];
	struct qentry		*waithead, *waittail;
	unsigned		 nactive;
	struct route		*routes;
	unsigned		 nconns;
	int			 notify_fd;
	int			 ctl_fd;
	int			 ctl_listen;	/* smtpauthctl's socket */
	struct event		*ev_ctl_listen;
	unsigned		 nctl;		/* its connections */
	int			 stopping;
	struct event		*ev_notify;
	struct event		*ev_ctl;
	struct event		*ev_scan;
	struct event		*ev_sigterm;
	struct event		*ev_grace;
	struct event		*ev_recycle;
	int			 recycling;	/* a spool_recycle() job runs */
	const struct queue_cred	*cred;
};

/* queue.c: a message's state changed, or something in flight ended. */
void	entry_check(struct qentry *);
void	queue_schedule(struct queue *, const char *, int);
void	queue_recycle(struct queue *);
void	queue_check_stop(struct queue *);
void	rcpt_defer(struct qentry *, struct env_rcpt *, const char *,
	    const char *);

/* queue.c: a known message, or NULL; a deleted one's entry goes. */
struct qentry	*queue_entry(struct queue *, const char *, int create);
void		 queue_forget(struct qentry *);
size_t		 queue_count(const struct queue *);
void		 queue_flush_all(struct queue *);

/* queue_ctl.c: smtpauthctl's requests (smtpauthctl(8)). */
void	queue_ctl_start(struct queue *, int listen_fd);

/* queue_scan.c */
void	queue_scan(struct queue *, int, int);

/* queue_route.c */
void	dispatch_remote(struct qentry *, time_t);
void	route_stop_all(struct queue *);
void	route_abort_all(struct queue *);

/* queue_write.c */
void	write_start(struct qentry *);
int	write_state(struct queue *, const char *, const char *, size_t, int);

/* queue_cred.c */
const struct queue_cred	*queue_cred(void);
void			 queue_cred_wipe(void);

#endif
