/*
 * The queue's relaying: the due remote recipients of a message, grouped
 * by destination into jobs; a route per destination that resolves it and
 * opens relay connections (relay.c), each taking one waiting job after
 * the other; and the results, recipient by recipient, back into the
 * message's envelope (INTERNALS.md, "Relay").
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "server/queue/dns.h"
#include "server/queue/queue_priv.h"
#include "server/queue/relay.h"
#include "server/shared/metrics.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"

#define DNS_REUSE		300	/* seconds a route keeps its answer */
#define RELAY_CONNECT_TIMEOUT	30
#define RELAY_COMMAND_TIMEOUT	300
#define RELAY_DATA_TIMEOUT	600
#define RELAY_IDLE_TIMEOUT	5

/* Some recipients of one message for one destination. */
struct rjob {
	struct rjob		*next;
	struct qentry		*e;
	size_t			 n;
	size_t			*idx;		/* into e->env->rcpts */
	struct relay_rcpt	*rr;
	struct relay_txn	 txn;
};

/* One connection of a route. */
struct qconn {
	struct qconn		*next;
	struct route		*r;
	struct relay_conn	*rc;
	struct rjob		*job;		/* in flight */
	int			 ready;		/* was READY at least once */
	int			 idle;
};

/* A destination: a domain's mail hosts, or the smarthost. */
struct route {
	struct route		*next;
	struct queue		*q;
	char			 key[DNS_NAME_MAX + 3];
	int			 smarthost;
	enum { RS_NONE, RS_RESOLVING, RS_OK } dns_state;
	struct dns_query	*dnsq;
	time_t			 resolved;	/* monotonic */
	struct dns_target	*targets;
	size_t			 ntargets;
	struct rjob		*head, *tail;	/* waiting for a connection */
	size_t			 nwaiting;
	struct qconn		*conns;
	unsigned		 nconns;
	unsigned		 nopening;	/* not yet READY */
	int			 down;		/* a connection failed to set up */
	char			 downhost[RELAY_HOST_MAX];
	char			 downerr[RELAY_TEXT_MAX + 1];
};

static void		 log_attempt(const struct qentry *,
			    const struct env_rcpt *, const char *, int,
			    const char *, const char *);
static struct route	*route_get(struct queue *, const char *, int);
static void		 route_add(struct route *, struct rjob *);
static void		 route_pump(struct route *);
static void		 route_pump_all(struct queue *);
static void		 route_resolved(const struct dns_result *, void *);
static void		 route_fail_waiting(struct route *, int, const char *,
			    const char *);
static void		 route_maybe_free(struct route *);
static int		 route_open(struct route *);
static int		 conn_give(struct qconn *, struct rjob *);
static struct rjob	*route_pop(struct route *);
static void		 route_unpop(struct route *, struct rjob *);
static void		 conn_event(struct relay_conn *, enum relay_event,
			    void *);
static void		 job_finish(struct rjob *, const char *, int);
static void		 job_fail(struct rjob *, enum relay_result,
			    const char *, const char *);
static void		 job_drop(struct rjob *);
static void		 job_free(struct rjob *);
static int		 literal_target(const char *, struct dns_target *);

static void
log_attempt(const struct qentry *e, const struct env_rcpt *r,
    const char *host, int tls, const char *result, const char *text)
{
	char	to[ADDR_PATH_MAX * 4 + 1], reply[RELAY_TEXT_MAX * 4 + 1];

	if (strcmp(result, "sent") == 0)
		metrics_delivered(&e->accepted);
	else if (strcmp(result, "bounced") == 0)
		METRICS_ADD(bounced, 1);
	else if (strcmp(result, "deferred") == 0)
		METRICS_ADD(deferred, 1);
	log_info("relay id=%s to=<%s> host=%s tls=%s result=%s reply=\"%s\"",
	    e->id, log_escape(r->addr, strlen(r->addr), to, sizeof(to)),
	    host != NULL && host[0] != '\0' ? host : "-", tls ? "yes" : "no",
	    result, log_escape(text, strlen(text), reply, sizeof(reply)));
}

/*
 * Hand the remote recipients that are due (next_try <= now; all of them
 * when now is 0) to their routes: one job per destination.
 */
void
dispatch_remote(struct qentry *e, time_t now)
{
	struct queue		*q = e->q;
	const struct config	*conf = q->conf;
	struct env_rcpt		*r;
	struct route		*rt;
	struct rjob		*j;
	const char		*at;
	char			 key[DNS_NAME_MAX + 3];
	size_t			 i, k, n;
	int			 smart = conf->relay_host != NULL;

	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (!r->remote || r->done != RCPT_PENDING ||
		    r->busy != BUSY_NO ||
		    (now != 0 && r->next_try > now))
			continue;
		/* The destination of this one, then every other for it. */
		at = strrchr(r->addr, '@');
		if (smart)
			snprintf(key, sizeof(key), "%s", conf->relay_name);
		else if (at == NULL || addr_lower(at + 1, key,
		    sizeof(key)) == -1) {
			envelope_set_error(r, NULL, "5.1.2 bad destination "
			    "address", strlen("5.1.2 bad destination address"));
			r->done = RCPT_FAILED;
			log_attempt(e, r, NULL, 0, "bounced", r->error);
			e->dirty = 1;
			continue;
		}
		for (k = i, n = 0; k < e->env->nrcpts; k++) {
			struct env_rcpt *o = &e->env->rcpts[k];

			if (!o->remote || o->done != RCPT_PENDING ||
			    o->busy != BUSY_NO ||
			    (now != 0 && o->next_try > now))
				continue;
			at = strrchr(o->addr, '@');
			if (!smart && (at == NULL ||
			    strcasecmp(at + 1, key) != 0))
				continue;
			o->busy = BUSY_PICKED;
			n++;
		}
		if ((j = calloc(1, sizeof(*j))) == NULL ||
		    (j->idx = calloc(n, sizeof(*j->idx))) == NULL ||
		    (j->rr = calloc(n, sizeof(*j->rr))) == NULL ||
		    (rt = route_get(q, key, smart)) == NULL) {
			if (j != NULL) {
				free(j->idx);
				free(j->rr);
				free(j);
			}
			for (k = i; k < e->env->nrcpts; k++)
				if (e->env->rcpts[k].busy == BUSY_PICKED)
					e->env->rcpts[k].busy = BUSY_NO;
			log_warnx("id=%s out of memory: relay later", e->id);
			e->write_failed = 1;
			return;
		}
		j->e = e;
		for (k = i; k < e->env->nrcpts; k++) {
			struct env_rcpt *o = &e->env->rcpts[k];

			if (o->busy != BUSY_PICKED)
				continue;
			o->busy = BUSY_RELAY;
			j->idx[j->n] = k;
			j->rr[j->n].addr = o->addr;
			j->n++;
		}
		j->txn.from = e->env->from;
		j->txn.rcpts = j->rr;
		j->txn.nrcpts = j->n;
		j->txn.msgfd = -1;
		j->txn.msgoff = e->body_off;
		j->txn.msgend = e->body_off + (off_t)e->size;
		j->txn.prefix = e->dkim;
		j->txn.prefixlen = e->dkimlen;
		j->txn.size = e->size + e->dkimlen;
		j->txn.body8bit = e->env->body8bit;
		j->txn.smtputf8 = e->env->smtputf8;
		e->njobs++;
		route_add(rt, j);
	}
}

/*
 * Routes and their connections.
 */

static struct route *
route_get(struct queue *q, const char *key, int smarthost)
{
	struct route	*r;

	for (r = q->routes; r != NULL; r = r->next)
		if (strcmp(r->key, key) == 0)
			return r;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->q = q;
	r->smarthost = smarthost;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->next = q->routes;
	q->routes = r;
	return r;
}

static void
route_add(struct route *r, struct rjob *j)
{
	j->next = NULL;
	if (r->tail != NULL)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	r->nwaiting++;
	route_pump(r);
}

static struct rjob *
route_pop(struct route *r)
{
	struct rjob	*j = r->head;

	if (j != NULL) {
		r->head = j->next;
		if (r->head == NULL)
			r->tail = NULL;
		r->nwaiting--;
	}
	return j;
}

/* A job a connection could not take goes back to the front. */
static void
route_unpop(struct route *r, struct rjob *j)
{
	j->next = r->head;
	r->head = j;
	if (r->tail == NULL)
		r->tail = j;
	r->nwaiting++;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]": no DNS. */
static int
literal_target(const char *key, struct dns_target *t)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&t->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&t->addr;
	char			 a[INET6_ADDRSTRLEN + 8];
	size_t			 len = strlen(key);

	memset(t, 0, sizeof(*t));
	if (len < 3 || key[0] != '[' || key[len - 1] != ']' ||
	    len - 2 >= sizeof(a))
		return -1;
	memcpy(a, key + 1, len - 2);
	a[len - 2] = '\0';
	memcpy(t->host, key, len + 1);		/* short: checked above */
	if (strncasecmp(a, "ipv6:", 5) == 0 &&
	    inet_pton(AF_INET6, a + 5, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		t->addrlen = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		t->addrlen = sizeof(*sin);
		return 0;
	}
	return -1;
}

/* Give waiting jobs to idle connections; open more as allowed. */
static void
route_pump(struct route *r)
{
	struct queue		*q = r->q;
	const struct config	*conf = q->conf;
	struct dns_target	 lit;
	struct qconn		*c;
	unsigned		 per;

	if (q->stopping)
		return;
	for (c = r->conns; c != NULL && r->head != NULL; c = c->next)
		if (c->idle) {
			struct rjob *j = route_pop(r);

			if (conn_give(c, j) == -1)
				route_unpop(r, j);
		}
	if (r->head == NULL)
		return;
	if (r->smarthost && conf->relay_auth != NULL && !q->cred->auth_ok) {
		route_fail_waiting(r, RELAY_DEFER, NULL, "4.7.0 relay-auth: "
		    "no usable credentials (see the log at start)");
		return;
	}
	if (r->dns_state == RS_OK && r->nopening == 0 &&
	    mono_sec() - r->resolved > DNS_REUSE) {
		free(r->targets);
		r->targets = NULL;
		r->ntargets = 0;
		r->dns_state = RS_NONE;
	}
	if (r->dns_state == RS_NONE) {
		if (!r->smarthost && r->key[0] == '[') {
			if (literal_target(r->key, &lit) == -1) {
				route_fail_waiting(r, RELAY_BOUNCE, NULL,
				    "5.1.2 bad address literal");
				return;
			}
			if ((r->targets = malloc(sizeof(lit))) == NULL)
				return;
			*r->targets = lit;
			r->ntargets = 1;
			r->dns_state = RS_OK;
			r->resolved = mono_sec();
		} else if (q->dns == NULL) {
			route_fail_waiting(r, RELAY_DEFER, NULL,
			    "4.4.3 no resolver");
			return;
		} else {
			r->dns_state = RS_RESOLVING;
			r->dnsq = r->smarthost ? dns_lookup_host(q->dns,
			    r->key, route_resolved, r) : dns_lookup_mx(q->dns,
			    r->key, route_resolved, r);
			if (r->dnsq == NULL) {
				r->dns_state = RS_NONE;
				route_fail_waiting(r, RELAY_DEFER, NULL,
				    "4.3.0 out of memory");
			}
			return;
		}
	}
	if (r->dns_state != RS_OK || r->down)
		return;
	per = conf->relay_max_per_domain;
	while (r->nwaiting > r->nopening && r->nconns < per &&
	    q->nconns < conf->relay_max_connections)
		if (route_open(r) == -1) {
			log_warnx("relay: out of memory: the mail waits");
			if (r->nconns == 0)
				route_fail_waiting(r, RELAY_DEFER, NULL,
				    "4.3.0 out of memory");
			break;
		}
}

static void
route_pump_all(struct queue *q)
{
	struct route	*r, *next;

	for (r = q->routes; r != NULL; r = next) {
		next = r->next;
		if (r->head != NULL)
			route_pump(r);
	}
}

static void
route_resolved(const struct dns_result *res, void *arg)
{
	struct route	*r = arg;

	r->dnsq = NULL;
	if (res->status != 1) {
		r->dns_state = RS_NONE;
		route_fail_waiting(r, res->status == 0 ? RELAY_BOUNCE :
		    RELAY_DEFER, NULL, res->error);
		return;
	}
	free(r->targets);
	if ((r->targets = calloc(res->ntargets, sizeof(*r->targets))) ==
	    NULL) {
		r->dns_state = RS_NONE;
		route_fail_waiting(r, RELAY_DEFER, NULL, "4.3.0 out of memory");
		return;
	}
	memcpy(r->targets, res->targets, res->ntargets * sizeof(*r->targets));
	r->ntargets = res->ntargets;
	r->dns_state = RS_OK;
	r->resolved = mono_sec();
	route_pump(r);
}

/* Every waiting job gets this result; the route may go. */
static void
route_fail_waiting(struct route *r, int result, const char *host,
    const char *text)
{
	struct rjob	*j;

	while ((j = route_pop(r)) != NULL)
		job_fail(j, (enum relay_result)result, host, text);
	route_maybe_free(r);
}

static void
route_maybe_free(struct route *r)
{
	struct route	**pp;

	if (r->head != NULL || r->conns != NULL || r->dnsq != NULL)
		return;
	for (pp = &r->q->routes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r->targets);
	free(r);
}

static int
route_open(struct route *r)
{
	struct queue		*q = r->q;
	const struct config	*conf = q->conf;
	struct relay_params	 p;
	struct qconn		*c;

	memset(&p, 0, sizeof(p));
	p.helo = conf->hostname;
	p.tls = conf->relay_tls;
	p.tls_verify = q->cred->tls_verify;
	p.tls_any = q->cred->tls_any;
	p.servername = r->smarthost ? conf->relay_name : NULL;
	if (r->smarthost && conf->relay_auth != NULL) {
		p.auth_user = q->cred->auth_user;
		p.auth_pass = q->cred->auth_pass;
	}
	p.port = r->smarthost ? conf->relay_port : conf->mx_port;
	p.connect_timeout = RELAY_CONNECT_TIMEOUT;
	p.command_timeout = RELAY_COMMAND_TIMEOUT;
	p.data_timeout = RELAY_DATA_TIMEOUT;
	p.idle_timeout = RELAY_IDLE_TIMEOUT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->r = r;
	if ((c->rc = relay_conn_new(q->base, &p, r->targets, r->ntargets,
	    conn_event, c)) == NULL) {
		free(c);
		return -1;
	}
	c->next = r->conns;
	r->conns = c;
	r->nconns++;
	r->nopening++;
	q->nconns++;
	return 0;
}

/*
 * Open the message and start the transaction.  -1: the connection is no
 * longer ready (its idle QUIT went out); the job is the caller's again.
 */
static int
conn_give(struct qconn *c, struct rjob *j)
{
	struct queue	*q = c->r->q;
	char		 name[SPOOL_ID_LEN + 8];

	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, j->e->id);
	if ((j->txn.msgfd = openat(q->spool.queue_fd, name, O_RDONLY |
	    O_CLOEXEC)) == -1) {
		job_fail(j, RELAY_DEFER, NULL, "4.3.0 cannot open the queued "
		    "message");
		return 0;
	}
	if (relay_send(c->rc, &j->txn) == -1) {
		close(j->txn.msgfd);
		j->txn.msgfd = -1;
		c->idle = 0;
		return -1;
	}
	c->job = j;
	c->idle = 0;
	return 0;
}

static void
conn_event(struct relay_conn *rc, enum relay_event ev, void *arg)
{
	struct qconn	*c = arg;
	struct route	*r = c->r;
	struct queue	*q = r->q;
	struct qconn	**pp;
	struct rjob	*j;

	switch (ev) {
	case RELAY_EV_READY:
		if (!c->ready) {
			c->ready = 1;
			r->nopening--;
		}
		r->down = 0;
		c->idle = 1;
		if (q->stopping)
			relay_quit(rc);
		else if ((j = route_pop(r)) != NULL &&
		    conn_give(c, j) == -1)
			route_unpop(r, j);
		break;
	case RELAY_EV_DONE:
		j = c->job;
		c->job = NULL;
		if (j != NULL)
			job_finish(j, relay_host(rc), relay_tls_active(rc));
		break;
	case RELAY_EV_CLOSED:
		if (c->job != NULL) {
			/* Cannot happen: DONE comes first. */
			job_fail(c->job, RELAY_DEFER, relay_host(rc),
			    relay_error(rc));
			c->job = NULL;
		}
		for (pp = &r->conns; *pp != NULL; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		r->nconns--;
		q->nconns--;
		if (!c->ready) {
			r->nopening--;
			/* No host took us: the jobs wait for another try. */
			r->down = 1;
			snprintf(r->downhost, sizeof(r->downhost), "%s",
			    relay_host(rc));
			snprintf(r->downerr, sizeof(r->downerr), "%s",
			    relay_error(rc)[0] ? relay_error(rc) :
			    "4.4.1 connection failed");
		}
		free(c);
		if (r->down && r->nconns == 0) {
			r->down = 0;
			route_fail_waiting(r, RELAY_DEFER, r->downhost,
			    r->downerr);
		} else
			route_maybe_free(r);
		route_pump_all(q);
		queue_check_stop(q);
		break;
	}
}

/* The results of a transaction, recipient by recipient. */
static void
job_finish(struct rjob *j, const char *host, int tls)
{
	struct qentry	*e = j->e;
	struct env_rcpt	*r;
	size_t		 i;

	if (j->txn.msgfd != -1) {
		close(j->txn.msgfd);
		j->txn.msgfd = -1;
	}
	for (i = 0; i < j->n; i++) {
		r = &e->env->rcpts[j->idx[i]];
		r->busy = BUSY_NO;
		switch (j->rr[i].result) {
		case RELAY_SENT:
			r->done = RCPT_DELIVERED;
			log_attempt(e, r, host, tls, "sent", j->rr[i].text);
			break;
		case RELAY_BOUNCE:
			r->attempts++;
			envelope_set_error(r, host, j->rr[i].text,
			    strlen(j->rr[i].text));
			r->done = RCPT_FAILED;
			log_attempt(e, r, host, tls, "bounced", j->rr[i].text);
			break;
		default:
			rcpt_defer(e, r, host, j->rr[i].text[0] ?
			    j->rr[i].text : "4.4.2 no result");
			log_attempt(e, r, host, tls, r->done == RCPT_FAILED ?
			    "bounced" : "deferred", r->error);
			break;
		}
	}
	e->dirty = 1;
	e->njobs--;
	job_free(j);
	entry_check(e);
}

/* Every recipient of the job gets the same result without a connection. */
static void
job_fail(struct rjob *j, enum relay_result res, const char *host,
    const char *text)
{
	size_t	i;

	for (i = 0; i < j->n; i++) {
		j->rr[i].result = res;
		snprintf(j->rr[i].text, sizeof(j->rr[i].text), "%s", text);
	}
	job_finish(j, host, 0);
}

/* Shutting down: the job is not tried; nothing changes. */
static void
job_drop(struct rjob *j)
{
	struct qentry	*e = j->e;
	size_t		 i;

	for (i = 0; i < j->n; i++)
		e->env->rcpts[j->idx[i]].busy = BUSY_NO;
	e->njobs--;
	job_free(j);
	entry_check(e);
}

static void
job_free(struct rjob *j)
{
	if (j->txn.msgfd != -1)
		close(j->txn.msgfd);
	free(j->idx);
	free(j->rr);
	free(j);
}

/*
 * Stopping: jobs waiting for a connection are dropped unchanged, idle
 * connections say QUIT, and transactions under way run to their end.
 */
void
route_stop_all(struct queue *q)
{
	struct route	*r, *rnext;
	struct qconn	*c, *cnext;

	for (r = q->routes; r != NULL; r = rnext) {
		rnext = r->next;
		if (r->dnsq != NULL) {
			dns_cancel(r->dnsq);
			r->dnsq = NULL;
			r->dns_state = RS_NONE;
		}
		while (r->head != NULL) {
			struct rjob *j = r->head;

			r->head = j->next;
			r->nwaiting--;
			job_drop(j);
		}
		r->tail = NULL;
		for (c = r->conns; c != NULL; c = cnext) {
			cnext = c->next;
			if (c->job == NULL)
				relay_quit(c->rc);
		}
		route_maybe_free(r);
	}
}

/* The grace is over: every connection still open is abandoned. */
void
route_abort_all(struct queue *q)
{
	struct route	*r;
	struct qconn	*c;

	for (r = q->routes; r != NULL; r = r->next)
		for (c = r->conns; c != NULL; c = c->next)
			relay_abort(c->rc);
}
