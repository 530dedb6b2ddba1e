/*
 * Dovecot's userdb for recipients (dovecot_userdb.h).
 *
 * One connection, opened when the first lookup comes and kept while
 * Dovecot keeps it; several lookups in flight on it, told apart by their
 * ids.  We send "VERSION 1 0" at once and never wait for the server's
 * lines first (Dovecot 2.4 waits for the client).  Every lookup has a
 * deadline (backend-timeout): past it, or when the connection breaks with
 * lookups in flight, they are temporary failures (451 4.3.0), the outage
 * is logged once and a new connection is tried only after a doubling
 * backoff; meanwhile lookups fail at once rather than pile up.  A
 * connection Dovecot closes while nothing waits is no outage: the next
 * lookup opens a new one.  Lines are bounded by DVC_LINE_MAX; a longer
 * or malformed one drops the connection.
 *
 * Addresses reach us lower case with no octet below 0x21 (authproto.c),
 * so none holds a TAB or LF that Dovecot's tab-escaping would need.
 */
#include <sys/socket.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "server/auth/dovecot_io.h"
#include "server/auth/dovecot_proto.h"
#include "server/auth/dovecot_userdb.h"
#include "server/shared/authproto.h"

#define MAX_INFLIGHT	1024
#define USER_LINE_MAX	(AUTH_RCPT_MAX + 64)

enum ustate { US_IDLE, US_OPEN, US_DOWN };

struct ureq {
	TAILQ_ENTRY(ureq)	 entry;
	uint32_t		 id;
	backend_done		 done;
	void			*arg;
	struct event		*timer;
};

static struct {
	const struct config	*conf;
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct bufferevent	*bev;
	enum ustate		 state;
	unsigned		 backoff_ms;
	int			 down_logged;
	struct event		*retry;
	TAILQ_HEAD(, ureq)	 reqs;
	size_t			 nreqs;
	uint32_t		 next_id;
	char			 line[DVC_LINE_MAX + 1];
} U;

static int	du_open(void);
static void	du_close(void);
static void	du_down(const char *);
static void	du_retry_cb(int, short, void *);
static void	du_event_cb(struct bufferevent *, short, void *);
static void	du_read_cb(struct bufferevent *, void *);
static int	du_line(const char *, size_t);
static void	du_finish(struct ureq *, enum auth_result, const char *);
static void	du_timeout(int, short, void *);

void
dvu_init(const struct config *conf, struct event_base *base)
{
	char	err[512];

	memset(&U, 0, sizeof(U));
	U.conf = conf;
	U.base = base;
	TAILQ_INIT(&U.reqs);
	U.next_id = 1;
	U.backoff_ms = DOVECOT_BACKOFF_MIN_MS;
	U.state = US_IDLE;
	if (dovecot_sockaddr(conf->dovecot_userdb, &U.ss, &U.sslen, err,
	    sizeof(err)) == -1)
		fatalx("dovecot-userdb %s", err);
	if ((U.retry = evtimer_new(base, du_retry_cb, NULL)) == NULL)
		fatalx("out of memory");
	log_info("dovecot-userdb %s: recipients of local-domains are "
	    "looked up there", conf->dovecot_userdb);
}

/* Connect and say our version; 0, or -1 (down, logged). */
static int
du_open(void)
{
	static const char	hello[] = "VERSION\t1\t0\n";
	const char		*why;
	int			 r;

	U.state = US_OPEN;
	r = dovecot_connect(U.base, &U.bev, &U.ss, U.sslen, du_read_cb,
	    du_event_cb, hello, sizeof(hello) - 1, &why);
	if (r == -1)
		du_down(why);
	return r == 0 ? 0 : -1;
}

static void
du_close(void)
{
	if (U.bev != NULL)
		bufferevent_free(U.bev);
	U.bev = NULL;
}

/* Broken with lookups in flight, or no answer in time: an outage. */
static void
du_down(const char *why)
{
	struct ureq	*r;

	du_close();
	U.state = US_DOWN;
	while ((r = TAILQ_FIRST(&U.reqs)) != NULL)
		du_finish(r, AUTH_TEMPFAIL, "backend-down");
	if (!U.down_logged) {
		log_warnx("dovecot-userdb %s: %s: recipients of local-domains "
		    "get 451 until it answers", U.conf->dovecot_userdb, why);
		U.down_logged = 1;
	}
	dovecot_backoff(U.retry, &U.backoff_ms);
}

/* The backoff is over: the next lookup may try again. */
static void
du_retry_cb(int fd, short ev, void *arg)
{
	if (U.state == US_DOWN)
		U.state = US_IDLE;
}

static void
du_event_cb(struct bufferevent *bev, short what, void *arg)
{
	const char	*why;

	if ((what & BEV_EVENT_EOF) && TAILQ_EMPTY(&U.reqs)) {
		/* Closed while idle (a restart, a limit): no outage. */
		du_close();
		U.state = US_IDLE;
		return;
	}
	if ((why = dovecot_event_reason(bev, what)) != NULL)
		du_down(why);
}

static void
du_read_cb(struct bufferevent *bev, void *arg)
{
	dovecot_read_lines(&U.bev, U.line, du_line, du_down);
}

/* One line from Dovecot; -1 when it dropped the connection. */
static int
du_line(const char *line, size_t len)
{
	struct dvc_line	 l;
	struct ureq	*r;

	switch (dvc_parse_master(line, len, &l)) {
	case DVC_BAD:
		du_down("a malformed line");
		return -1;
	case DVC_VERSION:
		if (l.major != 1) {
			du_down("protocol version not 1");
			return -1;
		}
		if (U.down_logged) {
			log_info("dovecot-userdb %s: answering again",
			    U.conf->dovecot_userdb);
			U.down_logged = 0;
		}
		U.backoff_ms = DOVECOT_BACKOFF_MIN_MS;
		return 0;
	case DVC_USER:
	case DVC_NOTFOUND:
	case DVC_FAIL:
		TAILQ_FOREACH(r, &U.reqs, entry)
			if (r->id == l.id)
				break;
		if (r == NULL)
			return 0;	/* timed out meanwhile */
		if (l.kind == DVC_USER)
			du_finish(r, AUTH_OK, NULL);
		else if (l.kind == DVC_NOTFOUND)
			du_finish(r, AUTH_FAIL, "unknown-user");
		else
			du_finish(r, AUTH_TEMPFAIL, "backend-tempfail");
		return 0;
	default:
		return 0;
	}
}

static void
du_finish(struct ureq *r, enum auth_result result, const char *reason)
{
	TAILQ_REMOVE(&U.reqs, r, entry);
	U.nreqs--;
	event_free(r->timer);
	r->done(r->arg, result, reason);
	free(r);
}

/* No answer in time: Dovecot is stuck; what else waits would be too. */
static void
du_timeout(int fd, short ev, void *arg)
{
	du_down("no answer in time");
}

int
dvu_lookup(const char *addr, size_t len, backend_done done, void *arg,
    const char **reason)
{
	struct timeval	 tv = { (time_t)U.conf->backend_timeout, 0 };
	struct ureq	*r;
	char		 line[USER_LINE_MAX];
	int		 n;

	*reason = "backend-down";
	if (U.conf == NULL || U.state == US_DOWN)
		return -1;
	*reason = "bad-request";
	if (len == 0 || len > AUTH_RCPT_MAX || memchr(addr, '\t', len) ||
	    memchr(addr, '\n', len) || memchr(addr, '\001', len))
		return -1;
	*reason = "busy";
	if (U.nreqs >= MAX_INFLIGHT)
		return -1;
	*reason = "backend-down";
	if (U.state == US_IDLE && du_open() == -1)
		return -1;
	*reason = "out-of-memory";
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	if ((r->timer = evtimer_new(U.base, du_timeout, r)) == NULL) {
		free(r);
		return -1;
	}
	r->id = U.next_id++;
	if (U.next_id == 0)
		U.next_id = 1;
	n = snprintf(line, sizeof(line), "USER\t%u\t%.*s\tservice=smtp\n",
	    r->id, (int)len, addr);
	*reason = "busy";
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    bufferevent_write(U.bev, line, (size_t)n) == -1 ||
	    evtimer_add(r->timer, &tv) == -1) {
		event_free(r->timer);
		free(r);
		return -1;
	}
	r->done = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&U.reqs, r, entry);
	U.nreqs++;
	return 0;
}

void
dvu_stop(void)
{
	struct ureq	*r;

	if (U.conf == NULL)
		return;
	while ((r = TAILQ_FIRST(&U.reqs)) != NULL)
		du_finish(r, AUTH_TEMPFAIL, "stopping");
	du_close();
	if (U.retry != NULL)
		event_free(U.retry);
	U.retry = NULL;
}
