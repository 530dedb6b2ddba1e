/*
 * Asynchronous name lookups for the relay, with c-ares on a libevent loop:
 * where does mail for a domain go (MX by preference, else the domain's
 * own addresses, RFC 5321 section 5.1), and where is a smarthost.
 * Nothing here blocks: c-ares's sockets and timeouts are driven by the
 * loop.
 */
#ifndef SMTPAUTHD_DNS_H
#define SMTPAUTHD_DNS_H

#include <sys/socket.h>
#include <stddef.h>

#define DNS_NAME_MAX		255
#define DNS_MX_MAX		10	/* mail hosts tried per domain */
#define DNS_ADDRS_PER_HOST	4	/* addresses tried per host */
#define DNS_ERROR_MAX		256

struct event_base;
struct dns;
struct dns_query;

/* One address to try, and the host name it belongs to. */
struct dns_target {
	char			 host[DNS_NAME_MAX + 1];
	struct sockaddr_storage	 addr;		/* port 0: the caller's */
	socklen_t		 addrlen;
};

struct dns_result {
	int			 status;	/* 1 found, 0 permanent failure,
						   -1 temporary failure */
	/* When status != 1: an RFC 3463 status code and why, for the
	 * queue and the bounce ("5.1.2 example.invalid: domain not
	 * found"). */
	char			 error[DNS_ERROR_MAX];
	struct dns_target	*targets;	/* in the order to try */
	size_t			 ntargets;
};

/* Called once per lookup, on the loop; the result is valid only during
 * the call. */
typedef void	(*dns_cb)(const struct dns_result *, void *arg);

/*
 * A resolver on base.  resolver is "ADDRESS:PORT" ("[v6]:PORT") to ask
 * that server only, or NULL for /etc/resolv.conf.  NULL on failure with
 * err set.
 */
struct dns	*dns_new(struct event_base *, const char *resolver, char *err,
		    size_t errlen);
/* Cancel every lookup (no callback) and free. */
void		 dns_free(struct dns *);

/*
 * Where mail for domain goes: its MX hosts by preference (equal ones in
 * random order), each host's addresses; no MX: the domain itself.  A null
 * MX (RFC 7505) and a domain that does not exist fail permanently; DNS
 * trouble (SERVFAIL, timeouts) temporarily.  NULL when out of memory.
 */
struct dns_query *dns_lookup_mx(struct dns *, const char *domain, dns_cb,
		    void *arg);
/* The addresses of one host (a smarthost); failures are temporary. */
struct dns_query *dns_lookup_host(struct dns *, const char *host, dns_cb,
		    void *arg);
/* The callback will not be called. */
void		 dns_cancel(struct dns_query *);

/* One MX record. */
struct dns_mx {
	unsigned	pref;
	char		host[DNS_NAME_MAX + 1];
};

/*
 * Parse an MX answer (alen octets at abuf) into at most max records,
 * sorted with dns_sort_mx().  Returns 1 with *n records, 0 for a null MX
 * (a single "0 ." record: the domain takes no mail), -1 for an answer that
 * does not parse, -2 when it holds no MX record.
 */
int		 dns_parse_mx(const unsigned char *abuf, int alen,
		    struct dns_mx *out, size_t max, size_t *n);
/* By preference, lowest first; records of equal preference shuffled. */
void		 dns_sort_mx(struct dns_mx *, size_t n);

#endif
