/*
 * smtpauthd configuration: the directives whose values have a syntax of
 * their own (listen, domains, relay hosts, address blocks, backends, the
 * guard store, DKIM keys), each checked in full so that "smtpauthd -n"
 * catches mistakes.  The table and the parser are in config.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/config_priv.h"

static int	 parse_size(const char *, unsigned long long *);
static int	 parse_cidr(const char *, struct cidr *);
static int	 prefix_equal(const uint8_t *, const uint8_t *, unsigned);
static int	 copy_part(char *, size_t, const char *, size_t);

int
config_dovecot_auth(const char *value, char **buf, char **path,
    char **host, char **port)
{
	char	*b, *c;

	*buf = *path = *host = *port = NULL;
	if ((b = strdup(value)) == NULL)
		return -1;
	if (strncmp(b, "unix:", 5) == 0 && b[5] != '\0') {
		*buf = b;
		*path = b + 5;
		return 0;
	}
	if (strncmp(b, "inet:", 5) != 0)
		goto bad;
	c = b + 5;
	if (*c == '[') {
		*host = ++c;
		if ((c = strchr(c, ']')) == NULL || c[1] != ':')
			goto bad;
		*c = '\0';
		c += 2;
	} else {
		*host = c;
		if ((c = strrchr(c, ':')) == NULL)
			goto bad;
		*c++ = '\0';
	}
	*port = c;
	if (**host == '\0' || **port == '\0' ||
	    strspn(*port, "0123456789") != strlen(*port) ||
	    strlen(*port) > 5 || atoi(*port) < 1 || atoi(*port) > 65535)
		goto bad;
	*buf = b;
	return 0;
bad:
	free(b);
	*buf = *path = *host = *port = NULL;
	return -1;
}

int
cidr_match(const struct cidr *blocks, size_t n, const struct sockaddr *sa)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	uint8_t			 v4[4], v6[16];
	int			 has4 = 0;
	size_t			 i;

	if (blocks == NULL || sa == NULL)
		return 0;

	/*
	 * Keep the address in both forms, so that an IPv4 client seen on a
	 * dual-stack socket as ::ffff:a.b.c.d still matches an IPv4 block,
	 * and a block written as ::ffff:a.b.c.d/N matches a plain IPv4 one.
	 * The copies also avoid alignment assumptions about sa.
	 */
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		memcpy(v4, &sin.sin_addr, sizeof(v4));
		memset(v6, 0, 10);
		v6[10] = v6[11] = 0xff;
		memcpy(v6 + 12, v4, sizeof(v4));
		has4 = 1;
		break;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(v6, &sin6.sin6_addr, sizeof(v6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			memcpy(v4, v6 + 12, sizeof(v4));
			has4 = 1;
		}
		break;
	default:
		return 0;
	}

	for (i = 0; i < n; i++) {
		if (blocks[i].family == AF_INET && has4 &&
		    prefix_equal(blocks[i].addr, v4, blocks[i].prefix))
			return 1;
		if (blocks[i].family == AF_INET6 &&
		    prefix_equal(blocks[i].addr, v6, blocks[i].prefix))
			return 1;
	}
	return 0;
}

/* Bytes, with an optional K, M or G suffix (powers of 1024). */
static int
parse_size(const char *s, unsigned long long *out)
{
	char			 num[32];
	size_t			 len;
	unsigned long long	 v, mult = 1;

	len = strlen(s);
	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 'K':
	case 'k':
		mult = 1ULL << 10;
		break;
	case 'M':
	case 'm':
		mult = 1ULL << 20;
		break;
	case 'G':
	case 'g':
		mult = 1ULL << 30;
		break;
	}
	if (mult != 1)
		num[--len] = '\0';
	if (conf_parse_uint(num, 1, CONF_MAX_SIZE, &v) == -1 ||
	    v > CONF_MAX_SIZE / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int
conf_parse_port(const char *s, uint16_t *port)
{
	unsigned long long	v;

	if (conf_parse_uint(s, 1, 65535, &v) == -1)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "ADDR" or "ADDR/PREFIX", IPv4 or IPv6; host bits are masked off. */
static int
parse_cidr(const char *s, struct cidr *c)
{
	char			 buf[INET6_ADDRSTRLEN + 1];
	const char		*slash;
	size_t			 len, i;
	unsigned long long	 prefix;
	unsigned		 max;

	memset(c, 0, sizeof(*c));
	if ((slash = strchr(s, '/')) != NULL)
		len = (size_t)(slash - s);
	else
		len = strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';

	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;

	if (slash == NULL)
		prefix = max;
	else if (conf_parse_uint(slash + 1, 0, max, &prefix) == -1)
		return -1;
	c->prefix = (unsigned)prefix;

	for (i = 0; i < max / 8; i++) {
		if (i * 8 >= c->prefix)
			c->addr[i] = 0;
		else if (i * 8 + 8 > c->prefix)
			c->addr[i] &= (uint8_t)(0xff <<
			    (8 - (c->prefix - i * 8)));
	}
	return 0;
}

static int
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned	bytes = bits / 8, rest = bits % 8;
	uint8_t		mask;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

int
conf_listen(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config		*conf = p->conf;
	struct listen_conf	 l, *nl;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			 host[INET6_ADDRSTRLEN + 1];
	char			 abuf[INET6_ADDRSTRLEN];
	const char		*arg = argv[0], *portstr, *rb;
	size_t			 hlen, i;
	uint16_t		 port;
	int			 v6, n;

	memset(&l, 0, sizeof(l));
	if (arg[0] == '[') {
		if ((rb = strchr(arg, ']')) == NULL) {
			conf_perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		if (rb[1] != ':') {
			conf_perr(p, "listen: missing port in \"%s\"", arg);
			return -1;
		}
		hlen = (size_t)(rb - arg - 1);
		if (hlen >= sizeof(host)) {
			conf_perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		memcpy(host, arg + 1, hlen);
		host[hlen] = '\0';
		portstr = rb + 2;
		v6 = 1;
	} else {
		if ((portstr = strchr(arg, ':')) == NULL) {
			conf_perr(p, "listen: missing port in \"%s\"", arg);
			return -1;
		}
		if (strchr(portstr + 1, ':') != NULL) {
			conf_perr(p, "listen: an IPv6 address must be in brackets, "
			    "as in [::1]:25: \"%s\"", arg);
			return -1;
		}
		hlen = (size_t)(portstr - arg);
		if (hlen >= sizeof(host)) {
			conf_perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		memcpy(host, arg, hlen);
		host[hlen] = '\0';
		portstr++;
		v6 = 0;
	}
	if (conf_parse_port(portstr, &port) == -1) {
		conf_perr(p, "listen: bad port \"%s\"", portstr);
		return -1;
	}

	/* Literal addresses only: no DNS lookup at configuration time. */
	if (v6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
			conf_perr(p, "listen: bad IPv6 address \"%s\"", host);
			return -1;
		}
		memcpy(&l.addr, &sin6, sizeof(sin6));
		l.addrlen = sizeof(sin6);
		if (inet_ntop(AF_INET6, &sin6.sin6_addr, abuf,
		    sizeof(abuf)) == NULL) {
			conf_perr(p, "listen: bad IPv6 address \"%s\"", host);
			return -1;
		}
		n = snprintf(l.text, sizeof(l.text), "[%s]:%u", abuf,
		    (unsigned)port);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
			conf_perr(p, "listen: bad address \"%s\"", host);
			return -1;
		}
		memcpy(&l.addr, &sin, sizeof(sin));
		l.addrlen = sizeof(sin);
		if (inet_ntop(AF_INET, &sin.sin_addr, abuf,
		    sizeof(abuf)) == NULL) {
			conf_perr(p, "listen: bad address \"%s\"", host);
			return -1;
		}
		n = snprintf(l.text, sizeof(l.text), "%s:%u", abuf,
		    (unsigned)port);
	}
	if (n < 0 || (size_t)n >= sizeof(l.text)) {
		conf_perr(p, "listen: address too long \"%s\"", arg);
		return -1;
	}

	if (strcmp(argv[1], "smtp") == 0)
		l.mode = LISTEN_SMTP;
	else if (strcmp(argv[1], "submission") == 0)
		l.mode = LISTEN_SUBMISSION;
	else if (strcmp(argv[1], "smtps") == 0)
		l.mode = LISTEN_SMTPS;
	else {
		conf_perr(p, "listen: unknown mode \"%s\" (expected smtp, "
		    "submission or smtps)", argv[1]);
		return -1;
	}
	if (argc == 3) {
		if (strcmp(argv[2], "proxy") != 0) {
			conf_perr(p, "listen: unknown option \"%s\" (expected "
			    "proxy)", argv[2]);
			return -1;
		}
		l.proxy = 1;
	}
	l.line = p->lineno;

	for (i = 0; i < conf->nlistens; i++) {
		if (strcmp(conf->listens[i].text, l.text) == 0) {
			conf_perr(p, "listen: %s given twice", l.text);
			return -1;
		}
	}
	if ((nl = reallocarray(conf->listens, conf->nlistens + 1,
	    sizeof(*nl))) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	conf->listens = nl;
	conf->listens[conf->nlistens++] = l;
	return 0;
}

int
conf_local_domains(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config	*conf = p->conf;
	char		**nd, *dom;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (!conf_valid_domain(argv[i])) {
			conf_perr(p, "local-domains: bad domain \"%s\"", argv[i]);
			return -1;
		}
	}
	for (i = 0; i < argc; i++) {
		/* The same domain twice is harmless: keep one. */
		if (config_is_local_domain(conf, argv[i]))
			continue;
		if ((dom = strdup(argv[i])) == NULL) {
			conf_perr(p, "out of memory");
			return -1;
		}
		conf_lower(dom);
		if ((nd = reallocarray(conf->local_domains,
		    conf->nlocal_domains + 1, sizeof(*nd))) == NULL) {
			free(dom);
			conf_perr(p, "out of memory");
			return -1;
		}
		conf->local_domains = nd;
		conf->local_domains[conf->nlocal_domains++] = dom;
	}
	return 0;
}

/*
 * dkim-sign DOMAIN SELECTOR KEYFILE: one line a domain.  The key itself
 * is read by the queue process (server/queue/dkim.c), and by -n.
 */
int
conf_dkim_sign(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config		*conf = p->conf;
	struct dkim_conf	*nd, *k;
	size_t			 i;

	if (!conf_valid_domain(argv[0])) {
		conf_perr(p, "dkim-sign: bad domain \"%s\"", argv[0]);
		return -1;
	}
	/* A selector is a dot-separated list of labels, like a domain. */
	if (!conf_valid_domain(argv[1])) {
		conf_perr(p, "dkim-sign: bad selector \"%s\"", argv[1]);
		return -1;
	}
	for (i = 0; i < conf->ndkim; i++)
		if (conf_casecmp(conf->dkim[i].domain, argv[0]) == 0) {
			conf_perr(p, "dkim-sign: %s already has a key on line %u",
			    argv[0], conf->dkim[i].line);
			return -1;
		}
	if ((nd = reallocarray(conf->dkim, conf->ndkim + 1,
	    sizeof(*nd))) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	conf->dkim = nd;
	k = &conf->dkim[conf->ndkim];
	k->domain = strdup(argv[0]);
	k->selector = strdup(argv[1]);
	k->keyfile = strdup(argv[2]);
	k->line = p->lineno;
	if (k->domain == NULL || k->selector == NULL || k->keyfile == NULL) {
		free(k->domain);
		free(k->selector);
		free(k->keyfile);
		conf_perr(p, "out of memory");
		return -1;
	}
	conf_lower(k->domain);
	conf->ndkim++;
	return 0;
}

int
conf_relay_host(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config	*conf = p->conf;
	struct in6_addr	 in6;
	struct in_addr	 in4;
	const char	*arg = argv[0], *host, *colon, *rb;
	char		*name;
	size_t		 hlen;
	uint16_t	 port = 25;

	if (arg[0] == '[') {
		if ((rb = strchr(arg, ']')) == NULL ||
		    (rb[1] != '\0' && rb[1] != ':')) {
			conf_perr(p, "relay-host: bad host \"%s\"", arg);
			return -1;
		}
		host = arg + 1;
		hlen = (size_t)(rb - host);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(arg, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			conf_perr(p, "relay-host: an IPv6 address must be in "
			    "brackets, as in [2001:db8::1]:25: \"%s\"", arg);
			return -1;
		}
		host = arg;
		hlen = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
	}
	if (colon != NULL && conf_parse_port(colon + 1, &port) == -1) {
		conf_perr(p, "relay-host: bad port \"%s\"", colon + 1);
		return -1;
	}
	if ((name = conf_strndup(host, hlen)) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	if (arg[0] == '[' ? inet_pton(AF_INET6, name, &in6) != 1 :
	    (inet_pton(AF_INET, name, &in4) != 1 && !conf_valid_domain(name))) {
		conf_perr(p, "relay-host: bad host \"%s\"", name);
		free(name);
		return -1;
	}
	if ((conf->relay_host = strdup(arg)) == NULL) {
		free(name);
		conf_perr(p, "out of memory");
		return -1;
	}
	conf_lower(name);
	conf->relay_name = name;
	conf->relay_port = port;
	conf->relay_port_given = colon != NULL;
	return 0;
}

int
conf_relay_tls(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	static const struct {
		const char	*name;
		enum relay_tls	 v;
	} modes[] = {
		{ "opportunistic", RELAY_TLS_OPPORTUNISTIC },
		{ "required", RELAY_TLS_REQUIRED },
		{ "implicit", RELAY_TLS_IMPLICIT },
		{ "none", RELAY_TLS_NONE },
	};
	size_t	i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[0], modes[i].name) == 0) {
			p->conf->relay_tls = modes[i].v;
			return 0;
		}
	conf_perr(p, "relay-tls: expected opportunistic, required, implicit or "
	    "none, got \"%s\"", argv[0]);
	return -1;
}

int
conf_mx_port(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	if (conf_parse_port(argv[0], &p->conf->mx_port) == -1) {
		conf_perr(p, "relay-port: bad port \"%s\"", argv[0]);
		return -1;
	}
	return 0;
}

/* A literal address and a port: "192.0.2.53:53" or "[2001:db8::53]:53". */
int
conf_resolver(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;
	const char	*arg = argv[0], *colon, *rb;
	char		 host[INET6_ADDRSTRLEN + 1];
	uint16_t	 port;
	size_t		 hlen;
	int		 ok;

	if (arg[0] == '[') {
		rb = strchr(arg, ']');
		colon = rb != NULL && rb[1] == ':' ? rb + 1 : NULL;
		hlen = rb != NULL ? (size_t)(rb - arg - 1) : 0;
		if (hlen < sizeof(host))
			memcpy(host, arg + 1, hlen);
	} else {
		colon = strchr(arg, ':');
		hlen = colon != NULL ? (size_t)(colon - arg) : 0;
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL;
		if (hlen < sizeof(host))
			memcpy(host, arg, hlen);
	}
	if (colon == NULL || hlen == 0 || hlen >= sizeof(host)) {
		conf_perr(p, "resolver: expected ADDRESS:PORT (an IPv6 address in "
		    "brackets), got \"%s\"", arg);
		return -1;
	}
	host[hlen] = '\0';
	ok = arg[0] == '[' ? inet_pton(AF_INET6, host, &in6) == 1 :
	    inet_pton(AF_INET, host, &in4) == 1;
	if (!ok || conf_parse_port(colon + 1, &port) == -1) {
		conf_perr(p, "resolver: bad address or port \"%s\"", arg);
		return -1;
	}
	if ((p->conf->resolver = strdup(arg)) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	return 0;
}

int
conf_max_message_size(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	unsigned long long	v;

	if (parse_size(argv[0], &v) == -1) {
		conf_perr(p, "max-message-size: expected a number of bytes from 1 "
		    "to %llu, optionally with a K, M or G suffix",
		    CONF_MAX_SIZE);
		return -1;
	}
	p->conf->max_message_size = v;
	return 0;
}

/* auth-exempt and proxy-from: CIDR blocks, added up over their lines. */
int
conf_guard_store(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	msg[256];

	if (config_parse_store(argv[0], &p->conf->guard_store, msg,
	    sizeof(msg)) == -1) {
		conf_perr(p, "guard-store: %s", msg);
		return -1;
	}
	return 0;
}

/*
 * send-limit and send-limit-recipients: COUNT/SECONDS, COUNT from 1 to
 * LIMIT_COUNT_MAX (authproto.h), SECONDS from 1 to a year.
 */
int
conf_send_limit(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct send_limit	*sl = (struct send_limit *)(void *)
				    ((char *)p->conf + d->off);
	unsigned long long	 n, secs;
	const char		*slash;
	char			 num[24];

	slash = strchr(argv[0], '/');
	if (slash == NULL || copy_part(num, sizeof(num), argv[0],
	    (size_t)(slash - argv[0])) == -1 ||
	    conf_parse_uint(num, 1, 1000000, &n) == -1 ||
	    conf_parse_uint(slash + 1, 1, 31536000, &secs) == -1) {
		conf_perr(p, "%s: expected COUNT/SECONDS, COUNT from 1 to "
		    "1000000, SECONDS from 1 to 31536000", d->name);
		return -1;
	}
	sl->count = (unsigned)n;
	sl->secs = (unsigned)secs;
	return 0;
}

/* Copy [s, s + n) into dst (size dstlen) as a string; -1 if too long. */
static int
copy_part(char *dst, size_t dstlen, const char *s, size_t n)
{
	int	r;

	if (n > INT_MAX)
		return -1;
	r = snprintf(dst, dstlen, "%.*s", (int)n, s);
	return r < 0 || (size_t)r >= dstlen ? -1 : 0;
}

int
config_parse_store(const char *url, struct guard_store *gs, char *err,
    size_t errlen)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;
	const char	*p, *at, *colon, *rb, *hend;
	char		 num[16];
	unsigned long	 v;
	char		*end;

	memset(gs, 0, sizeof(*gs));
	gs->port = 6379;
	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/' || copy_part(gs->path, sizeof(gs->path),
		    url + 5, strlen(url + 5)) == -1) {
			(void)snprintf(err, errlen, "unix:PATH needs an "
			    "absolute path of at most %zu bytes",
			    sizeof(gs->path) - 1);
			return -1;
		}
		gs->is_unix = 1;
		gs->set = 1;
		return 0;
	}
	if (strncmp(url, "redis://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "rediss://", 9) == 0) {
		p = url + 9;
		gs->tls = 1;
	} else {
		(void)snprintf(err, errlen, "expected redis://ADDRESS[:PORT]"
		    "[/DB], rediss://ADDRESS[:PORT][/DB] or unix:PATH");
		return -1;
	}
	/* The password may hold '@': the last one ends the credentials. */
	at = strrchr(p, '@');
	if (at != NULL) {
		if ((colon = memchr(p, ':', (size_t)(at - p))) == NULL ||
		    copy_part(gs->user, sizeof(gs->user), p,
		    (size_t)(colon - p)) == -1 ||
		    copy_part(gs->pass, sizeof(gs->pass), colon + 1,
		    (size_t)(at - colon - 1)) == -1 || gs->pass[0] == '\0') {
			(void)snprintf(err, errlen, "credentials: expected "
			    "[USER]:PASSWORD@ (user < %zu, password < %zu "
			    "bytes)", sizeof(gs->user), sizeof(gs->pass));
			explicit_bzero(gs, sizeof(*gs));
			return -1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		if ((rb = strchr(p, ']')) == NULL)
			goto bad_host;
		if (copy_part(gs->host, sizeof(gs->host), p + 1,
		    (size_t)(rb - p - 1)) == -1 ||
		    inet_pton(AF_INET6, gs->host, &in6) != 1)
			goto bad_host;
		hend = rb + 1;
	} else {
		hend = p + strcspn(p, ":/");
		if (copy_part(gs->host, sizeof(gs->host), p,
		    (size_t)(hend - p)) == -1 ||
		    inet_pton(AF_INET, gs->host, &in4) != 1)
			goto bad_host;
	}
	if (*hend == ':') {
		p = hend + 1;
		if (copy_part(num, sizeof(num), p, strcspn(p, "/")) == -1 ||
		    num[0] < '0' || num[0] > '9')
			goto bad_port;
		errno = 0;
		v = strtoul(num, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
			goto bad_port;
		gs->port = (uint16_t)v;
		hend = p + strlen(num);
	}
	if (*hend == '/' && hend[1] != '\0') {
		errno = 0;
		v = strtoul(hend + 1, &end, 10);
		if (hend[1] < '0' || hend[1] > '9' || errno != 0 ||
		    *end != '\0' || v > 1000000) {
			(void)snprintf(err, errlen, "bad database number");
			explicit_bzero(gs, sizeof(*gs));
			return -1;
		}
		gs->db = (unsigned)v;
	} else if (*hend != '\0' && strcmp(hend, "/") != 0) {
		(void)snprintf(err, errlen, "unexpected text after the "
		    "address");
		explicit_bzero(gs, sizeof(*gs));
		return -1;
	}
	gs->set = 1;
	return 0;
 bad_host:
	(void)snprintf(err, errlen, "expected an IP address (no host names: "
	    "the auth process does not wait for DNS)");
	explicit_bzero(gs, sizeof(*gs));
	return -1;
 bad_port:
	(void)snprintf(err, errlen, "bad port");
	explicit_bzero(gs, sizeof(*gs));
	return -1;
}

int
conf_cidrs(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config	*conf = p->conf;
	struct cidr	**list, *nc, c;
	size_t		*n;
	int		 i;

	if (strcmp(d->name, "proxy-from") == 0) {
		list = &conf->proxy_from;
		n = &conf->nproxy_from;
	} else {
		list = &conf->auth_exempt;
		n = &conf->nauth_exempt;
	}
	for (i = 0; i < argc; i++) {
		if (parse_cidr(argv[i], &c) == -1) {
			conf_perr(p, "%s: bad address or CIDR block \"%s\"",
			    d->name, argv[i]);
			return -1;
		}
		if ((nc = reallocarray(*list, *n + 1, sizeof(*nc))) == NULL) {
			conf_perr(p, "out of memory");
			return -1;
		}
		*list = nc;
		(*list)[(*n)++] = c;
	}
	return 0;
}

int
conf_auth_backend(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	static const enum auth_backend	all[] = { AUTH_BACKEND_FILE,
	    AUTH_BACKEND_DOVECOT, AUTH_BACKEND_LDAP };
	size_t				i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(argv[0], auth_backend_name(all[i])) == 0) {
			p->conf->auth_backend = all[i];
			return 0;
		}
	conf_perr(p, "auth-backend: expected file, dovecot or ldap, got \"%s\"",
	    argv[0]);
	return -1;
}

int
conf_dovecot(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	*buf, *path, *host, *port;

	if (config_dovecot_auth(argv[0], &buf, &path, &host, &port) == -1) {
		conf_perr(p, "%s: expected unix:PATH or inet:HOST:PORT, "
		    "got \"%s\"", d->name, argv[0]);
		return -1;
	}
	free(buf);
	return conf_string(p, d, argc, argv);
}
