/*
 * c-ares on libevent.  c-ares tells us which sockets it wants watched
 * (ARES_OPT_SOCK_STATE_CB); each gets an event, and a timer follows
 * ares_timeout() so that retransmissions and time-outs happen without
 * anyone polling.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <ares_nameser.h>
#include <event2/event.h>

#include "common/log.h"
#include "server/queue/dns.h"

#define DNS_SOCKS	16
#define DNS_TIMEOUT_MS	2000
#define DNS_TRIES	2

struct dns_sock {
	int		 fd;		/* -1: free */
	struct event	*ev;
};

struct dns {
	ares_channel		 ch;
	struct event_base	*base;
	struct event		*timer;
	struct dns_sock		 socks[DNS_SOCKS];
	struct dns_query	*queries;	/* all not yet freed */
};

/* The addresses found for one mail host. */
struct dns_hostres {
	struct dns_query	*q;
	size_t			 index;
	int			 status;	/* 1, 0, -1 as dns_result */
	size_t			 naddrs;
	struct sockaddr_storage	 addrs[DNS_ADDRS_PER_HOST];
	socklen_t		 lens[DNS_ADDRS_PER_HOST];
};

struct dns_query {
	struct dns		*dns;
	struct dns_query	*next;
	struct dns_query	**prevp;
	dns_cb			 cb;		/* NULL: cancelled */
	void			*arg;
	char			 name[DNS_NAME_MAX + 1];
	int			 smarthost;	/* dns_lookup_host() */
	int			 implicit;	/* no MX: the domain itself */
	unsigned		 refs;		/* start event, c-ares requests */
	unsigned		 pending_hosts;	/* address lookups not answered */
	int			 done;		/* the callback ran */
	int			 started;	/* on_start ran */
	struct event		*start;
	struct dns_mx		 mx[DNS_MX_MAX];
	size_t			 nmx;
	struct dns_hostres	 hosts[DNS_MX_MAX];
};

static void	sock_state(void *, ares_socket_t, int, int);
static void	on_sock(int, short, void *);
static void	on_timer(int, short, void *);
static void	on_start(int, short, void *);
static void	arm_timer(struct dns *);
static struct dns_query *query_new(struct dns *, const char *, dns_cb,
		    void *);
static void	query_unref(struct dns_query *);
static void	query_finish(struct dns_query *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	mx_answer(void *, int, int, unsigned char *, int);
static void	start_hosts(struct dns_query *);
static void	host_answer(void *, int, int, struct ares_addrinfo *);
static void	hosts_done(struct dns_query *);
static int	mx_cmp(const void *, const void *);

struct dns *
dns_new(struct event_base *base, const char *resolver, char *err,
    size_t errlen)
{
	struct ares_options	 opts;
	struct dns		*dns;
	int			 r, i;

	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		return NULL;
	}
	if ((dns = calloc(1, sizeof(*dns))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dns->base = base;
	for (i = 0; i < DNS_SOCKS; i++)
		dns->socks[i].fd = -1;
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = dns;
	opts.timeout = DNS_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	/* Names are absolute: no search list behind the caller's back. */
	opts.domains = NULL;
	opts.ndomains = 0;
	r = ares_init_options(&dns->ch, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		free(dns);
		return NULL;
	}
	if (resolver != NULL &&
	    (r = ares_set_servers_ports_csv(dns->ch, resolver)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "resolver %s: %s", resolver,
		    ares_strerror(r));
		ares_destroy(dns->ch);
		free(dns);
		return NULL;
	}
	if ((dns->timer = evtimer_new(base, on_timer, dns)) == NULL) {
		snprintf(err, errlen, "out of memory");
		ares_destroy(dns->ch);
		free(dns);
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns *dns)
{
	struct dns_query	*q, *next;
	int			 i;

	if (dns == NULL)
		return;
	for (q = dns->queries; q != NULL; q = q->next)
		q->cb = NULL;
	/* Every pending request's callback runs now, with
	 * ARES_EDESTRUCTION, and drops its reference. */
	ares_destroy(dns->ch);
	/* What is left waits for its start event: drop that too. */
	for (q = dns->queries; q != NULL; q = next) {
		next = q->next;
		if (!q->started) {
			event_del(q->start);
			query_unref(q);
		}
	}
	for (i = 0; i < DNS_SOCKS; i++)
		if (dns->socks[i].ev != NULL)
			event_free(dns->socks[i].ev);
	event_free(dns->timer);
	free(dns);
}

/* c-ares opens, closes or changes its interest in a socket. */
static void
sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns	*dns = arg;
	struct dns_sock	*s = NULL, *free_slot = NULL;
	short		 what;
	int		 i;

	for (i = 0; i < DNS_SOCKS; i++) {
		if (dns->socks[i].fd == fd)
			s = &dns->socks[i];
		else if (dns->socks[i].fd == -1 && free_slot == NULL)
			free_slot = &dns->socks[i];
	}
	if (s != NULL && s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL)
			s->fd = -1;
		return;
	}
	if (s == NULL && (s = free_slot) == NULL) {
		log_warnx("dns: too many resolver sockets");
		return;
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0);
	s->fd = fd;
	if ((s->ev = event_new(dns->base, fd, what, on_sock, dns)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		log_warnx("dns: cannot watch a resolver socket");
}

static void
on_sock(int fd, short what, void *arg)
{
	struct dns	*dns = arg;

	ares_process_fd(dns->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	arm_timer(dns);
}

static void
on_timer(int fd, short what, void *arg)
{
	struct dns	*dns = arg;

	ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timer(dns);
}

static void
arm_timer(struct dns *dns)
{
	struct timeval	tv, *tvp;

	if ((tvp = ares_timeout(dns->ch, NULL, &tv)) != NULL)
		evtimer_add(dns->timer, tvp);
	else
		evtimer_del(dns->timer);
}

static struct dns_query *
query_new(struct dns *dns, const char *name, dns_cb cb, void *arg)
{
	struct dns_query	*q;

	struct timeval		 now = { 0, 0 };

	if (strlen(name) > DNS_NAME_MAX || (q = calloc(1, sizeof(*q))) ==
	    NULL)
		return NULL;
	/*
	 * The lookup starts from the loop, never inside dns_lookup_*(): so
	 * the callback never runs before the caller has the handle.
	 */
	if ((q->start = evtimer_new(dns->base, on_start, q)) == NULL ||
	    evtimer_add(q->start, &now) == -1) {
		if (q->start != NULL)
			event_free(q->start);
		free(q);
		return NULL;
	}
	q->dns = dns;
	q->cb = cb;
	q->arg = arg;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->refs = 1;		/* the start event's */
	q->next = dns->queries;
	if (q->next != NULL)
		q->next->prevp = &q->next;
	q->prevp = &dns->queries;
	dns->queries = q;
	return q;
}

static void
query_unref(struct dns_query *q)
{
	if (--q->refs > 0)
		return;
	*q->prevp = q->next;
	if (q->next != NULL)
		q->next->prevp = q->prevp;
	event_free(q->start);
	free(q);
}

static void
on_start(int fd, short what, void *arg)
{
	struct dns_query	*q = arg;

	q->started = 1;
	if (q->cb != NULL) {
		if (q->smarthost)
			start_hosts(q);
		else {
			q->refs++;
			ares_query(q->dns->ch, q->name, C_IN, T_MX,
			    mx_answer, q);
		}
		arm_timer(q->dns);
	}
	query_unref(q);
}

void
dns_cancel(struct dns_query *q)
{
	if (q != NULL)
		q->cb = NULL;
}

/* Report a failure (status 0 or -1). */
static void
query_finish(struct dns_query *q, int status, const char *fmt, ...)
{
	struct dns_result	res;
	va_list			ap;

	if (q->done)
		return;
	q->done = 1;
	memset(&res, 0, sizeof(res));
	res.status = status;
	va_start(ap, fmt);
	vsnprintf(res.error, sizeof(res.error), fmt, ap);
	va_end(ap);
	if (q->cb != NULL)
		q->cb(&res, q->arg);
}

struct dns_query *
dns_lookup_mx(struct dns *dns, const char *domain, dns_cb cb, void *arg)
{
	return query_new(dns, domain, cb, arg);
}

struct dns_query *
dns_lookup_host(struct dns *dns, const char *host, dns_cb cb, void *arg)
{
	struct dns_query	*q;

	if ((q = query_new(dns, host, cb, arg)) == NULL)
		return NULL;
	q->smarthost = 1;
	q->implicit = 1;
	q->nmx = 1;
	snprintf(q->mx[0].host, sizeof(q->mx[0].host), "%s", host);
	return q;
}

static void
mx_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_query	*q = arg;
	int			 r;

	if (status == ARES_EDESTRUCTION || q->cb == NULL) {
		query_unref(q);
		return;
	}
	if (status == ARES_SUCCESS) {
		r = dns_parse_mx(abuf, alen, q->mx, DNS_MX_MAX, &q->nmx);
		if (r == 0)
			query_finish(q, 0, "5.1.10 %s: domain accepts no mail "
			    "(null MX)", q->name);
		else if (r == -1)
			query_finish(q, -1, "4.4.3 %s: malformed MX answer",
			    q->name);
		else {
			q->implicit = r == -2;
			start_hosts(q);
		}
	} else if (status == ARES_ENODATA) {
		/* No MX: the domain is its own mail host (RFC 5321 5.1). */
		q->implicit = 1;
		start_hosts(q);
	} else if (status == ARES_ENOTFOUND)
		query_finish(q, 0, "5.1.2 %s: domain not found", q->name);
	else
		query_finish(q, -1, "4.4.3 %s: MX lookup failed: %s", q->name,
		    ares_strerror(status));
	query_unref(q);
}

/* Look up the addresses of every mail host at once. */
static void
start_hosts(struct dns_query *q)
{
	struct ares_addrinfo_hints	hints;
	size_t				i, n;

	if (q->implicit && !q->smarthost) {
		q->nmx = 1;
		q->mx[0].pref = 0;
		snprintf(q->mx[0].host, sizeof(q->mx[0].host), "%s", q->name);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	n = q->nmx;
	/* Each request holds a reference; the answers may come at once. */
	q->refs += (unsigned)n;
	q->pending_hosts = (unsigned)n;
	for (i = 0; i < n; i++) {
		q->hosts[i].q = q;
		q->hosts[i].index = i;
		q->hosts[i].status = -1;
	}
	for (i = 0; i < n; i++)
		ares_getaddrinfo(q->dns->ch, q->mx[i].host, NULL, &hints,
		    host_answer, &q->hosts[i]);
}

static void
host_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_hostres		*h = arg;
	struct dns_query		*q = h->q;
	struct ares_addrinfo_node	*node;

	if (status == ARES_SUCCESS && ai != NULL) {
		for (node = ai->nodes; node != NULL &&
		    h->naddrs < DNS_ADDRS_PER_HOST; node = node->ai_next) {
			if ((node->ai_family != AF_INET &&
			    node->ai_family != AF_INET6) ||
			    node->ai_addrlen > sizeof(h->addrs[0]))
				continue;
			memcpy(&h->addrs[h->naddrs], node->ai_addr,
			    node->ai_addrlen);
			h->lens[h->naddrs++] = node->ai_addrlen;
		}
		h->status = 1;
	} else if (status == ARES_ENOTFOUND || status == ARES_ENODATA ||
	    status == ARES_ENONAME)
		h->status = 0;
	else
		h->status = -1;
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (--q->pending_hosts == 0 && status != ARES_EDESTRUCTION &&
	    q->cb != NULL)
		hosts_done(q);
	query_unref(q);
}

/* All hosts answered: the targets in MX order. */
static void
hosts_done(struct dns_query *q)
{
	struct dns_target	 targets[DNS_MX_MAX * DNS_ADDRS_PER_HOST];
	struct dns_result	 res;
	size_t			 i, j, n = 0;
	int			 temp = 0;

	for (i = 0; i < q->nmx; i++) {
		temp |= q->hosts[i].status == -1;
		for (j = 0; j < q->hosts[i].naddrs; j++) {
			memset(&targets[n], 0, sizeof(targets[n]));
			snprintf(targets[n].host, sizeof(targets[n].host),
			    "%s", q->mx[i].host);
			memcpy(&targets[n].addr, &q->hosts[i].addrs[j],
			    q->hosts[i].lens[j]);
			targets[n].addrlen = q->hosts[i].lens[j];
			n++;
		}
	}
	if (n == 0) {
		if (temp || q->smarthost)
			query_finish(q, -1, "4.4.3 %s: no address for its mail "
			    "host%s (DNS trouble)", q->name,
			    q->nmx > 1 ? "s" : "");
		else if (q->implicit)
			query_finish(q, 0, "5.4.4 %s: no MX and no address",
			    q->name);
		else
			query_finish(q, 0, "5.4.4 %s: its mail host%s ha%s no "
			    "address", q->name, q->nmx > 1 ? "s" : "",
			    q->nmx > 1 ? "ve" : "s");
		return;
	}
	q->done = 1;
	memset(&res, 0, sizeof(res));
	res.status = 1;
	res.targets = targets;
	res.ntargets = n;
	if (q->cb != NULL)
		q->cb(&res, q->arg);
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct dns_mx	*x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void
dns_sort_mx(struct dns_mx *mx, size_t n)
{
	struct dns_mx	tmp;
	size_t		start, end, i, j;

	qsort(mx, n, sizeof(*mx), mx_cmp);
	/* Spread the load over hosts of equal preference (RFC 5321 5.1). */
	for (start = 0; start < n; start = end) {
		for (end = start + 1; end < n && mx[end].pref ==
		    mx[start].pref; end++)
			;
		for (i = end - 1; i > start; i--) {
			j = start + arc4random_uniform((uint32_t)(i - start +
			    1));
			tmp = mx[i];
			mx[i] = mx[j];
			mx[j] = tmp;
		}
	}
}

int
dns_parse_mx(const unsigned char *abuf, int alen, struct dns_mx *out,
    size_t max, size_t *n)
{
	struct ares_mx_reply	*list = NULL, *m;
	size_t			 count = 0, total = 0, i;
	int			 r, nullmx = 0;

	*n = 0;
	r = ares_parse_mx_reply(abuf, alen, &list);
	if (r == ARES_ENODATA)
		return -2;
	if (r != ARES_SUCCESS)
		return -1;
	for (m = list; m != NULL; m = m->next) {
		total++;
		if (m->host == NULL || m->host[0] == '\0' ||
		    strcmp(m->host, ".") == 0) {
			nullmx = 1;
			continue;
		}
		if (count == max || strlen(m->host) > DNS_NAME_MAX)
			continue;
		/* The same host twice is tried once. */
		for (i = 0; i < count; i++)
			if (strcasecmp(out[i].host, m->host) == 0)
				break;
		if (i < count)
			continue;
		out[count].pref = m->priority;
		snprintf(out[count].host, sizeof(out[count].host), "%s",
		    m->host);
		count++;
	}
	ares_free_data(list);
	/* RFC 7505: a null MX stands alone; beside others it is ignored. */
	if (nullmx && total == 1)
		return 0;
	if (count == 0)
		return nullmx ? 0 : -2;
	dns_sort_mx(out, count);
	*n = count;
	return 1;
}
