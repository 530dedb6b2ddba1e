/*
 * smtpauthd configuration: reading and checking smtpauthd.conf(5).
 *
 * The parser is table driven: one row per directive says how many
 * arguments it takes, whether it may repeat and which handler stores it.
 * Everything that can be checked without touching the file system is
 * checked here, so that "smtpauthd -n" catches mistakes before a restart.
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

#define CONF_MAX_LINE		4096		/* bytes, without the newline */
#define CONF_MAX_FILE		(1024 * 1024)	/* bytes */
#define CONF_MAX_ARGS		(CONF_MAX_LINE / 2 + 1)
#define CONF_MAX_WORKERS	256
#define CONF_MAX_SIZE		(1ULL << 40)	/* max-message-size, 1T */

struct parser;

struct directive {
	const char	*name;
	int		(*fn)(struct parser *, const struct directive *,
			    int, char **);
	int		 minargs;
	int		 maxargs;	/* -1: no limit */
	int		 repeat;	/* may be given more than once */
	size_t		 off;		/* field for the generic handlers */
	unsigned long long lo, hi;	/* range for conf_number */
};

struct parser {
	struct config	*conf;
	const char	*name;
	unsigned	 lineno;	/* 0: no line (whole-file checks) */
	char		*err;
	size_t		 errlen;
	unsigned	*seen;		/* first line of each directive */
	char		 line[CONF_MAX_LINE + 1];
	char		*argv[CONF_MAX_ARGS + 1];
};

static void	 perr(struct parser *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
static struct config *parse(const char *, const char *, size_t, char *,
		    size_t);
static int	 parse_line(struct parser *, const char *, size_t);
static int	 check_conf(struct parser *);
static int	 set_defaults(struct config *);
static const struct directive *find_directive(const char *);
static int	 parse_uint(const char *, unsigned long long,
		    unsigned long long, unsigned long long *);
static int	 parse_size(const char *, unsigned long long *);
static int	 parse_port(const char *, uint16_t *);
static int	 parse_cidr(const char *, struct cidr *);
static int	 valid_domain(const char *);
static void	 lower(char *);
static int	 ascii_casecmp(const char *, const char *);
static int	 prefix_equal(const uint8_t *, const uint8_t *, unsigned);
static char	*xstrndup(const char *, size_t);
static int	 resolve_one(char **, const char *);

static int	 conf_string(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_number(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_yesno(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_hostname(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_listen(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_local_domains(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_relay_host(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_max_message_size(struct parser *,
		    const struct directive *, int, char **);
static int	 conf_cidrs(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_tls_file(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_relay_tls(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_mx_port(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_resolver(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_metrics_listen(struct parser *,
		    const struct directive *, int, char **);
static int	 conf_log_format(struct parser *, const struct directive *,
		    int, char **);

#define F(field)	offsetof(struct config, field)

static const struct directive directives[] = {
	{ "hostname", conf_hostname, 1, 1, 0, 0, 0, 0 },
	{ "listen", conf_listen, 2, 3, 1, 0, 0, 0 },
	{ "tls-cert", conf_tls_file, 1, 1, 1, 0, 0, 0 },
	{ "tls-key", conf_tls_file, 1, 1, 1, 0, 0, 0 },
	{ "users", conf_string, 1, 1, 0, F(users), 0, 0 },
	{ "local-domains", conf_local_domains, 1, -1, 1, 0, 0, 0 },
	{ "mailbox-root", conf_string, 1, 1, 0, F(mailbox_root), 0, 0 },
	{ "spool", conf_string, 1, 1, 0, F(spool), 0, 0 },
	{ "relay-host", conf_relay_host, 1, 1, 0, 0, 0, 0 },
	{ "auth-over-plaintext", conf_yesno, 1, 1, 0,
	    F(auth_over_plaintext), 0, 0 },
	{ "max-message-size", conf_max_message_size, 1, 1, 0, 0, 0, 0 },
	{ "auth-max-failures", conf_number, 1, 1, 0,
	    F(auth_max_failures), 1, 1000000 },
	{ "auth-window", conf_number, 1, 1, 0, F(auth_window), 1, 31536000 },
	{ "auth-ban", conf_number, 1, 1, 0, F(auth_ban), 1, 31536000 },
	{ "auth-failure-delay", conf_number, 1, 1, 0,
	    F(auth_failure_delay), 0, 60000 },
	{ "auth-cache-ttl", conf_number, 1, 1, 0, F(auth_cache_ttl), 0,
	    86400 },
	{ "auth-exempt", conf_cidrs, 1, -1, 1, 0, 0, 0 },
	{ "proxy-from", conf_cidrs, 1, -1, 1, 0, 0, 0 },
	{ "proxy-timeout", conf_number, 1, 1, 0, F(proxy_timeout), 1, 3600 },
	{ "ban-ipv6-prefix", conf_number, 1, 1, 0, F(ban_ipv6_prefix),
	    BANLIST_PREFIX6_MIN, BANLIST_PREFIX6_MAX },
	{ "ban-table-size", conf_number, 1, 1, 0, F(ban_table_size),
	    BANLIST_SIZE_MIN, BANLIST_SIZE_MAX },
	{ "sender-login-match", conf_yesno, 1, 1, 0,
	    F(sender_login_match), 0, 0 },
	{ "workers", conf_number, 1, 1, 0, F(workers), 1, CONF_MAX_WORKERS },
	{ "user", conf_string, 1, 1, 0, F(user), 0, 0 },
	{ "max-recipients", conf_number, 1, 1, 0,
	    F(max_recipients), 1, 1000000 },
	{ "max-errors", conf_number, 1, 1, 0, F(max_errors), 1, 1000000 },
	{ "max-sessions", conf_number, 1, 1, 0, F(max_sessions), 1, 1000000 },
	{ "max-sessions-per-ip", conf_number, 1, 1, 0,
	    F(max_sessions_per_ip), 1, 1000000 },
	{ "command-timeout", conf_number, 1, 1, 0,
	    F(command_timeout), 1, 86400 },
	{ "data-timeout", conf_number, 1, 1, 0, F(data_timeout), 1, 86400 },
	{ "relay-tls", conf_relay_tls, 1, 1, 0, 0, 0, 0 },
	{ "relay-ca-file", conf_string, 1, 1, 0, F(relay_ca_file), 0, 0 },
	{ "relay-auth", conf_string, 1, 1, 0, F(relay_auth), 0, 0 },
	{ "relay-port", conf_mx_port, 1, 1, 0, 0, 0, 0 },
	{ "resolver", conf_resolver, 1, 1, 0, 0, 0, 0 },
	{ "relay-max-connections", conf_number, 1, 1, 0,
	    F(relay_max_connections), 1, 10000 },
	{ "relay-max-per-domain", conf_number, 1, 1, 0,
	    F(relay_max_per_domain), 1, 10000 },
	{ "retry-min", conf_number, 1, 1, 0, F(retry_min), 1, 31536000 },
	{ "retry-max", conf_number, 1, 1, 0, F(retry_max), 1, 31536000 },
	{ "queue-lifetime", conf_number, 1, 1, 0, F(queue_lifetime), 1,
	    31536000 },
	/* Operating it (smtpauthd.conf(5), "Control, metrics and logs"). */
	{ "control-socket", conf_string, 1, 1, 0, F(control_socket), 0, 0 },
	{ "control-group", conf_string, 1, 1, 0, F(control_group), 0, 0 },
	{ "metrics-listen", conf_metrics_listen, 1, 1, 0, 0, 0, 0 },
	{ "log-format", conf_log_format, 1, 1, 0, 0, 0, 0 },
};

#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

#undef F

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*conf;
	FILE		*fp;
	char		*text;
	size_t		 len, n;
	int		 saved;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: cannot open: %s",
			    path, strerror(errno));
		return NULL;
	}

	/*
	 * Read the whole file (it is small) so that the same parser serves
	 * files and strings, and a NUL byte in the file is seen as such.
	 */
	if ((text = malloc(CONF_MAX_FILE + 1)) == NULL) {
		(void)fclose(fp);
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	len = 0;
	while ((n = fread(text + len, 1, CONF_MAX_FILE + 1 - len, fp)) > 0) {
		len += n;
		if (len > CONF_MAX_FILE)
			break;
	}
	if (ferror(fp)) {
		saved = errno;
		(void)fclose(fp);
		free(text);
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: cannot read: %s",
			    path, strerror(saved));
		return NULL;
	}
	(void)fclose(fp);
	if (len > CONF_MAX_FILE) {
		free(text);
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen,
			    "%s: file too large (more than %d bytes)", path,
			    CONF_MAX_FILE);
		return NULL;
	}
	text[len] = '\0';

	conf = parse(path, text, len, err, errlen);
	free(text);
	return conf;
}

struct config *
config_parse(const char *name, const char *text, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (name == NULL)
		name = "(config)";
	if (text == NULL)
		text = "";
	return parse(name, text, strlen(text), err, errlen);
}

char *
config_absolute(const char *path)
{
	char	 cwd[PATH_MAX], *abs;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (asprintf(&abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    path) == -1)
		return NULL;
	return abs;
}

/* A relative *path becomes dir/path; dir is absolute. */
static int
resolve_one(char **path, const char *dir)
{
	char	*abs;

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (asprintf(&abs, "%s/%s", dir, *path) == -1)
		return -1;
	if (strlen(abs) >= PATH_MAX) {
		free(abs);
		errno = ENAMETOOLONG;
		return -1;
	}
	free(*path);
	*path = abs;
	return 0;
}

int
config_resolve_paths(struct config *conf, char *err, size_t errlen)
{
	char	*dir, *slash;
	size_t	 i;
	int	 bad;

	if ((dir = config_absolute(conf->path)) == NULL) {
		(void)snprintf(err, errlen, "%s: %s", conf->path,
		    strerror(errno));
		return -1;
	}
	/* The file's directory; "/x.conf" is in "" + "/". */
	slash = strrchr(dir, '/');
	*slash = '\0';
	bad = resolve_one(&conf->spool, dir) == -1 ||
	    resolve_one(&conf->mailbox_root, dir) == -1 ||
	    resolve_one(&conf->users, dir) == -1 ||
	    resolve_one(&conf->relay_auth, dir) == -1 ||
	    resolve_one(&conf->relay_ca_file, dir) == -1 ||
	    resolve_one(&conf->control_socket, dir) == -1;
	for (i = 0; i < conf->ntls_cert && !bad; i++)
		bad = resolve_one(&conf->tls_cert[i], dir) == -1;
	for (i = 0; i < conf->ntls_key && !bad; i++)
		bad = resolve_one(&conf->tls_key[i], dir) == -1;
	if (bad)
		(void)snprintf(err, errlen, "%s: %s", conf->path,
		    errno == ENAMETOOLONG ? "path too long" :
		    strerror(errno));
	free(dir);
	return bad ? -1 : 0;
}

int
config_check_user(const struct config *conf, char *err, size_t errlen)
{
	if (conf->user == NULL)
		return 0;
	/* errno is not reliable here: "not found" may come as 0 or ENOENT. */
	if (getpwnam(conf->user) != NULL)
		return 0;
	(void)snprintf(err, errlen, "%s:%u: no such user %s", conf->path,
	    conf->user_line, conf->user);
	return -1;
}

void
config_free(struct config *conf)
{
	size_t	i;

	if (conf == NULL)
		return;
	free(conf->path);
	free(conf->hostname);
	free(conf->listens);
	for (i = 0; i < conf->ntls_cert; i++)
		free(conf->tls_cert[i]);
	for (i = 0; i < conf->ntls_key; i++)
		free(conf->tls_key[i]);
	free(conf->users);
	for (i = 0; i < conf->nlocal_domains; i++)
		free(conf->local_domains[i]);
	free(conf->local_domains);
	free(conf->mailbox_root);
	free(conf->spool);
	free(conf->relay_host);
	free(conf->relay_name);
	free(conf->relay_ca_file);
	free(conf->relay_auth);
	free(conf->resolver);
	free(conf->auth_exempt);
	free(conf->proxy_from);
	free(conf->user);
	free(conf->control_socket);
	free(conf->control_group);
	free(conf);
}

int
config_is_local_domain(const struct config *conf, const char *domain)
{
	size_t	i;

	if (conf == NULL || domain == NULL)
		return 0;
	for (i = 0; i < conf->nlocal_domains; i++)
		if (ascii_casecmp(conf->local_domains[i], domain) == 0)
			return 1;
	return 0;
}

const char *
relay_tls_name(enum relay_tls t)
{
	switch (t) {
	case RELAY_TLS_OPPORTUNISTIC:
		return "opportunistic";
	case RELAY_TLS_REQUIRED:
		return "required";
	case RELAY_TLS_IMPLICIT:
		return "implicit";
	case RELAY_TLS_NONE:
		return "none";
	}
	return "unknown";
}

const char *
listen_mode_name(enum listen_mode mode)
{
	switch (mode) {
	case LISTEN_SMTP:
		return "smtp";
	case LISTEN_SUBMISSION:
		return "submission";
	case LISTEN_SMTPS:
		return "smtps";
	}
	return "unknown";
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

static void
perr(struct parser *p, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (p->err == NULL || p->errlen == 0)
		return;
	if (p->lineno > 0)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->lineno);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	/* A truncated prefix is still the best message we can give. */
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static struct config *
parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct parser	*p;
	struct config	*conf;
	unsigned	 seen[NDIRECTIVES];
	const char	*s, *end, *nl;
	size_t		 linelen;

	/* The parser holds a line buffer and its words: not on the stack. */
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (conf = calloc(1, sizeof(*conf))) == NULL) {
		free(p);
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	memset(seen, 0, sizeof(seen));
	p->conf = conf;
	p->name = name;
	p->err = err;
	p->errlen = errlen;
	p->seen = seen;

	if ((conf->path = strdup(name)) == NULL || set_defaults(conf) == -1) {
		perr(p, "out of memory");
		goto fail;
	}

	s = text;
	end = text + len;
	while (s < end) {
		p->lineno++;
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		linelen = (size_t)(nl - s);
		if (parse_line(p, s, linelen) == -1)
			goto fail;
		s = nl + 1;
	}

	p->lineno = 0;
	if (check_conf(p) == -1)
		goto fail;
	conf->user_line = seen[find_directive("user") - directives];
	free(p);
	return conf;

fail:
	config_free(conf);
	free(p);
	return NULL;
}

static int
parse_line(struct parser *p, const char *s, size_t len)
{
	const struct directive	*d;
	const char		*hash;
	unsigned char		 c;
	char			*w;
	size_t			 i;
	int			 argc, nargs;

	if (len > CONF_MAX_LINE) {
		perr(p, "line too long (more than %d bytes)", CONF_MAX_LINE);
		return -1;
	}
	if ((hash = memchr(s, '#', len)) != NULL)
		len = (size_t)(hash - s);
	memcpy(p->line, s, len);
	p->line[len] = '\0';

	/*
	 * Control characters have no business in a directive; a NUL would
	 * silently cut the line short, and CR is only tolerated as part of
	 * a CRLF line ending written by another editor.
	 */
	for (i = 0; i < len; i++) {
		c = (unsigned char)p->line[i];
		if (c == '\r' || c == '\t')
			continue;
		if (c < 0x20 || c == 0x7f) {
			perr(p, "unexpected control character 0x%02x", c);
			return -1;
		}
	}

	argc = 0;
	w = p->line;
	for (;;) {
		while (*w == ' ' || *w == '\t' || *w == '\r')
			w++;
		if (*w == '\0')
			break;
		/* A line of CONF_MAX_LINE bytes has at most this many words. */
		p->argv[argc++] = w;
		while (*w != '\0' && *w != ' ' && *w != '\t' && *w != '\r')
			w++;
		if (*w == '\0')
			break;
		*w++ = '\0';
	}
	p->argv[argc] = NULL;
	if (argc == 0)
		return 0;

	if ((d = find_directive(p->argv[0])) == NULL) {
		perr(p, "unknown directive \"%s\"", p->argv[0]);
		return -1;
	}
	if (!d->repeat && p->seen[d - directives] != 0) {
		perr(p, "%s: already given on line %u", d->name,
		    p->seen[d - directives]);
		return -1;
	}
	if (p->seen[d - directives] == 0)
		p->seen[d - directives] = p->lineno;

	nargs = argc - 1;
	if (nargs < d->minargs) {
		perr(p, "%s: missing argument", d->name);
		return -1;
	}
	if (d->maxargs >= 0 && nargs > d->maxargs) {
		perr(p, "%s: too many arguments", d->name);
		return -1;
	}
	return d->fn(p, d, nargs, p->argv + 1);
}

static int
check_conf(struct parser *p)
{
	struct config	*conf = p->conf;
	size_t		 i;

	if (conf->nlistens == 0) {
		perr(p, "no listen directive");
		return -1;
	}
	if (conf->spool == NULL) {
		perr(p, "spool is required");
		return -1;
	}
	if (conf->nlocal_domains > 0 && conf->mailbox_root == NULL) {
		perr(p, "local-domains requires mailbox-root");
		return -1;
	}
	if (conf->nlocal_domains > 0 && conf->users == NULL) {
		perr(p, "local-domains requires users");
		return -1;
	}
	if (conf->ntls_cert > conf->ntls_key) {
		perr(p, "tls-cert requires tls-key");
		return -1;
	}
	if (conf->ntls_key > conf->ntls_cert) {
		perr(p, "tls-key requires tls-cert");
		return -1;
	}
	if (conf->retry_min > conf->retry_max) {
		perr(p, "retry-min %u is above retry-max %u", conf->retry_min,
		    conf->retry_max);
		return -1;
	}
	if (conf->relay_tls == RELAY_TLS_IMPLICIT && conf->relay_host ==
	    NULL) {
		perr(p, "relay-tls implicit requires relay-host");
		return -1;
	}
	/* Credentials never travel in clear, nor to an unverified peer. */
	if (conf->relay_auth != NULL && conf->relay_host == NULL) {
		perr(p, "relay-auth requires relay-host");
		return -1;
	}
	if (conf->relay_auth != NULL &&
	    conf->relay_tls != RELAY_TLS_REQUIRED &&
	    conf->relay_tls != RELAY_TLS_IMPLICIT) {
		perr(p, "relay-auth requires relay-tls required or implicit");
		return -1;
	}
	if (conf->relay_host != NULL && p->seen[find_directive("relay-port") -
	    directives] != 0) {
		perr(p, "relay-port is for MX hosts: with relay-host, give "
		    "the port there");
		return -1;
	}
	if (conf->relay_tls == RELAY_TLS_IMPLICIT && !conf->relay_port_given)
		conf->relay_port = 465;
	for (i = 0; i < conf->nlistens; i++) {
		/*
		 * Whoever may send a PROXY header chooses the client address
		 * every check is keyed on, auth-exempt included: a proxy
		 * listener names the balancers it believes.
		 */
		if (conf->listens[i].proxy && conf->nproxy_from == 0) {
			p->lineno = conf->listens[i].line;
			perr(p, "listen %s %s proxy needs proxy-from",
			    conf->listens[i].text,
			    listen_mode_name(conf->listens[i].mode));
			return -1;
		}
		if (conf->listens[i].mode == LISTEN_SMTPS &&
		    conf->ntls_cert == 0) {
			perr(p, "listen %s smtps requires tls-cert",
			    conf->listens[i].text);
			return -1;
		}
	}
	return 0;
}

static int
set_defaults(struct config *conf)
{
	char	host[HOST_NAME_MAX + 1];
	long	ncpu;

	conf->auth_over_plaintext = 0;
	conf->max_message_size = CONF_DEFAULT_MAX_MESSAGE_SIZE;
	conf->auth_max_failures = CONF_DEFAULT_AUTH_MAX_FAILURES;
	conf->auth_window = CONF_DEFAULT_AUTH_WINDOW;
	conf->auth_ban = CONF_DEFAULT_AUTH_BAN;
	conf->auth_failure_delay = CONF_DEFAULT_AUTH_FAILURE_DELAY;
	conf->auth_cache_ttl = CONF_DEFAULT_AUTH_CACHE_TTL;
	conf->ban_ipv6_prefix = CONF_DEFAULT_BAN_IPV6_PREFIX;
	conf->ban_table_size = CONF_DEFAULT_BAN_TABLE_SIZE;
	conf->sender_login_match = 1;
	conf->max_recipients = CONF_DEFAULT_MAX_RECIPIENTS;
	conf->max_errors = CONF_DEFAULT_MAX_ERRORS;
	conf->max_sessions = CONF_DEFAULT_MAX_SESSIONS;
	conf->max_sessions_per_ip = CONF_DEFAULT_MAX_SESSIONS_PER_IP;
	conf->command_timeout = CONF_DEFAULT_COMMAND_TIMEOUT;
	conf->data_timeout = CONF_DEFAULT_DATA_TIMEOUT;
	conf->proxy_timeout = CONF_DEFAULT_PROXY_TIMEOUT;
	conf->relay_port = 0;
	conf->relay_tls = RELAY_TLS_OPPORTUNISTIC;
	conf->mx_port = CONF_DEFAULT_MX_PORT;
	conf->relay_max_connections = CONF_DEFAULT_RELAY_MAX_CONNECTIONS;
	conf->relay_max_per_domain = CONF_DEFAULT_RELAY_MAX_PER_DOMAIN;
	conf->retry_min = CONF_DEFAULT_RETRY_MIN;
	conf->retry_max = CONF_DEFAULT_RETRY_MAX;
	conf->queue_lifetime = CONF_DEFAULT_QUEUE_LIFETIME;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > CONF_MAX_WORKERS)
		ncpu = CONF_MAX_WORKERS;
	conf->workers = (unsigned)ncpu;

	/*
	 * gethostname() need not terminate a truncated name; a name that
	 * fails or is empty falls back to something a client will accept.
	 * A hostname directive later replaces this.
	 */
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if ((conf->hostname = strdup(host[0] != '\0' ? host :
	    "localhost")) == NULL)
		return -1;
	return 0;
}

static const struct directive *
find_directive(const char *name)
{
	size_t	i;

	for (i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].name, name) == 0)
			return &directives[i];
	return NULL;
}

/*
 * A decimal number, digits only: strtoull alone would take a sign, leading
 * spaces and trailing junk.
 */
static int
parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
    unsigned long long *out)
{
	unsigned long long	 v;
	char			*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
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
	if (parse_uint(num, 1, CONF_MAX_SIZE, &v) == -1 ||
	    v > CONF_MAX_SIZE / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long long	v;

	if (parse_uint(s, 1, 65535, &v) == -1)
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
	else if (parse_uint(slash + 1, 0, max, &prefix) == -1)
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

/* LDH labels of 1 to 63 characters separated by dots, 253 at most. */
static int
valid_domain(const char *s)
{
	size_t	i, len, label = 0;
	char	c;

	len = strlen(s);
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/* ASCII only: the C library's idea of case depends on the locale. */
static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
ascii_casecmp(const char *a, const char *b)
{
	unsigned char	ca, cb;

	for (;; a++, b++) {
		ca = (unsigned char)*a;
		cb = (unsigned char)*b;
		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char)(cb - 'A' + 'a');
		if (ca != cb || ca == '\0')
			return (int)ca - (int)cb;
	}
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

static char *
xstrndup(const char *s, size_t len)
{
	char	*d;

	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static int
conf_string(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	**field = (char **)(void *)((char *)p->conf + d->off);

	if ((*field = strdup(argv[0])) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	return 0;
}

/* tls-cert and tls-key: the n-th of each make a pair. */
static int
conf_tls_file(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	int	 cert = strcmp(d->name, "tls-cert") == 0;
	char	**arr = cert ? p->conf->tls_cert : p->conf->tls_key;
	size_t	*n = cert ? &p->conf->ntls_cert : &p->conf->ntls_key;

	if (*n == CONF_TLS_MAX) {
		perr(p, "%s: at most %d may be given", d->name, CONF_TLS_MAX);
		return -1;
	}
	if ((arr[*n] = strdup(argv[0])) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	(*n)++;
	return 0;
}

static int
conf_number(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	unsigned	*field = (unsigned *)(void *)((char *)p->conf + d->off);
	unsigned long long v;

	if (parse_uint(argv[0], d->lo, d->hi, &v) == -1) {
		perr(p, "%s: expected a number from %llu to %llu", d->name,
		    d->lo, d->hi);
		return -1;
	}
	*field = (unsigned)v;
	return 0;
}

static int
conf_yesno(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	int	*field = (int *)(void *)((char *)p->conf + d->off);

	if (strcmp(argv[0], "yes") == 0)
		*field = 1;
	else if (strcmp(argv[0], "no") == 0)
		*field = 0;
	else {
		perr(p, "%s: expected yes or no, got \"%s\"", d->name,
		    argv[0]);
		return -1;
	}
	return 0;
}

static int
conf_hostname(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	*h;

	/* The name goes into replies and headers: keep it a plain name. */
	if (!valid_domain(argv[0])) {
		perr(p, "hostname: bad host name \"%s\"", argv[0]);
		return -1;
	}
	if ((h = strdup(argv[0])) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	free(p->conf->hostname);
	p->conf->hostname = h;
	return 0;
}

static int
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
			perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		if (rb[1] != ':') {
			perr(p, "listen: missing port in \"%s\"", arg);
			return -1;
		}
		hlen = (size_t)(rb - arg - 1);
		if (hlen >= sizeof(host)) {
			perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		memcpy(host, arg + 1, hlen);
		host[hlen] = '\0';
		portstr = rb + 2;
		v6 = 1;
	} else {
		if ((portstr = strchr(arg, ':')) == NULL) {
			perr(p, "listen: missing port in \"%s\"", arg);
			return -1;
		}
		if (strchr(portstr + 1, ':') != NULL) {
			perr(p, "listen: an IPv6 address must be in brackets, "
			    "as in [::1]:25: \"%s\"", arg);
			return -1;
		}
		hlen = (size_t)(portstr - arg);
		if (hlen >= sizeof(host)) {
			perr(p, "listen: bad address \"%s\"", arg);
			return -1;
		}
		memcpy(host, arg, hlen);
		host[hlen] = '\0';
		portstr++;
		v6 = 0;
	}
	if (parse_port(portstr, &port) == -1) {
		perr(p, "listen: bad port \"%s\"", portstr);
		return -1;
	}

	/* Literal addresses only: no DNS lookup at configuration time. */
	if (v6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
			perr(p, "listen: bad IPv6 address \"%s\"", host);
			return -1;
		}
		memcpy(&l.addr, &sin6, sizeof(sin6));
		l.addrlen = sizeof(sin6);
		if (inet_ntop(AF_INET6, &sin6.sin6_addr, abuf,
		    sizeof(abuf)) == NULL) {
			perr(p, "listen: bad IPv6 address \"%s\"", host);
			return -1;
		}
		n = snprintf(l.text, sizeof(l.text), "[%s]:%u", abuf,
		    (unsigned)port);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
			perr(p, "listen: bad address \"%s\"", host);
			return -1;
		}
		memcpy(&l.addr, &sin, sizeof(sin));
		l.addrlen = sizeof(sin);
		if (inet_ntop(AF_INET, &sin.sin_addr, abuf,
		    sizeof(abuf)) == NULL) {
			perr(p, "listen: bad address \"%s\"", host);
			return -1;
		}
		n = snprintf(l.text, sizeof(l.text), "%s:%u", abuf,
		    (unsigned)port);
	}
	if (n < 0 || (size_t)n >= sizeof(l.text)) {
		perr(p, "listen: address too long \"%s\"", arg);
		return -1;
	}

	if (strcmp(argv[1], "smtp") == 0)
		l.mode = LISTEN_SMTP;
	else if (strcmp(argv[1], "submission") == 0)
		l.mode = LISTEN_SUBMISSION;
	else if (strcmp(argv[1], "smtps") == 0)
		l.mode = LISTEN_SMTPS;
	else {
		perr(p, "listen: unknown mode \"%s\" (expected smtp, "
		    "submission or smtps)", argv[1]);
		return -1;
	}
	if (argc == 3) {
		if (strcmp(argv[2], "proxy") != 0) {
			perr(p, "listen: unknown option \"%s\" (expected "
			    "proxy)", argv[2]);
			return -1;
		}
		l.proxy = 1;
	}
	l.line = p->lineno;

	for (i = 0; i < conf->nlistens; i++) {
		if (strcmp(conf->listens[i].text, l.text) == 0) {
			perr(p, "listen: %s given twice", l.text);
			return -1;
		}
	}
	if ((nl = reallocarray(conf->listens, conf->nlistens + 1,
	    sizeof(*nl))) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	conf->listens = nl;
	conf->listens[conf->nlistens++] = l;
	return 0;
}

static int
conf_local_domains(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config	*conf = p->conf;
	char		**nd, *dom;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (!valid_domain(argv[i])) {
			perr(p, "local-domains: bad domain \"%s\"", argv[i]);
			return -1;
		}
	}
	for (i = 0; i < argc; i++) {
		/* The same domain twice is harmless: keep one. */
		if (config_is_local_domain(conf, argv[i]))
			continue;
		if ((dom = strdup(argv[i])) == NULL) {
			perr(p, "out of memory");
			return -1;
		}
		lower(dom);
		if ((nd = reallocarray(conf->local_domains,
		    conf->nlocal_domains + 1, sizeof(*nd))) == NULL) {
			free(dom);
			perr(p, "out of memory");
			return -1;
		}
		conf->local_domains = nd;
		conf->local_domains[conf->nlocal_domains++] = dom;
	}
	return 0;
}

static int
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
			perr(p, "relay-host: bad host \"%s\"", arg);
			return -1;
		}
		host = arg + 1;
		hlen = (size_t)(rb - host);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(arg, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			perr(p, "relay-host: an IPv6 address must be in "
			    "brackets, as in [2001:db8::1]:25: \"%s\"", arg);
			return -1;
		}
		host = arg;
		hlen = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
	}
	if (colon != NULL && parse_port(colon + 1, &port) == -1) {
		perr(p, "relay-host: bad port \"%s\"", colon + 1);
		return -1;
	}
	if ((name = xstrndup(host, hlen)) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	if (arg[0] == '[' ? inet_pton(AF_INET6, name, &in6) != 1 :
	    (inet_pton(AF_INET, name, &in4) != 1 && !valid_domain(name))) {
		perr(p, "relay-host: bad host \"%s\"", name);
		free(name);
		return -1;
	}
	if ((conf->relay_host = strdup(arg)) == NULL) {
		free(name);
		perr(p, "out of memory");
		return -1;
	}
	lower(name);
	conf->relay_name = name;
	conf->relay_port = port;
	conf->relay_port_given = colon != NULL;
	return 0;
}

static int
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
	perr(p, "relay-tls: expected opportunistic, required, implicit or "
	    "none, got \"%s\"", argv[0]);
	return -1;
}

static int
conf_mx_port(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	if (parse_port(argv[0], &p->conf->mx_port) == -1) {
		perr(p, "relay-port: bad port \"%s\"", argv[0]);
		return -1;
	}
	return 0;
}

/* A literal address and a port: "192.0.2.53:53" or "[2001:db8::53]:53". */
static int
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
		perr(p, "resolver: expected ADDRESS:PORT (an IPv6 address in "
		    "brackets), got \"%s\"", arg);
		return -1;
	}
	host[hlen] = '\0';
	ok = arg[0] == '[' ? inet_pton(AF_INET6, host, &in6) == 1 :
	    inet_pton(AF_INET, host, &in4) == 1;
	if (!ok || parse_port(colon + 1, &port) == -1) {
		perr(p, "resolver: bad address or port \"%s\"", arg);
		return -1;
	}
	if ((p->conf->resolver = strdup(arg)) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	return 0;
}

static int
conf_max_message_size(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	unsigned long long	v;

	if (parse_size(argv[0], &v) == -1) {
		perr(p, "max-message-size: expected a number of bytes from 1 "
		    "to %llu, optionally with a K, M or G suffix",
		    CONF_MAX_SIZE);
		return -1;
	}
	p->conf->max_message_size = v;
	return 0;
}

/* auth-exempt and proxy-from: CIDR blocks, added up over their lines. */
static int
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
			perr(p, "%s: bad address or CIDR block \"%s\"",
			    d->name, argv[i]);
			return -1;
		}
		if ((nc = reallocarray(*list, *n + 1, sizeof(*nc))) == NULL) {
			perr(p, "out of memory");
			return -1;
		}
		*list = nc;
		(*list)[(*n)++] = c;
	}
	return 0;
}

/*
 * Operating it: the metrics listener and the log format.
 */

int
config_control_socket(const struct config *conf, char *buf, size_t len)
{
	int	n;

	if (len > 108)		/* sizeof(sun_path) */
		len = 108;
	if (conf->control_socket != NULL)
		n = snprintf(buf, len, "%s", conf->control_socket);
	else
		n = snprintf(buf, len, "%s/run/ctl.sock", conf->spool);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* "PORT" (on 127.0.0.1), "ADDR:PORT" or "[ADDR6]:PORT". */
static int
conf_metrics_listen(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config		*conf = p->conf;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			 host[INET6_ADDRSTRLEN + 1];
	const char		*arg = argv[0], *portstr, *rb;
	size_t			 hlen;
	uint16_t		 port;
	int			 v6 = 0;

	if (strspn(arg, "0123456789") == strlen(arg)) {
		(void)snprintf(host, sizeof(host), "127.0.0.1");
		portstr = arg;
	} else if (arg[0] == '[') {
		if ((rb = strchr(arg, ']')) == NULL || rb[1] != ':' ||
		    (hlen = (size_t)(rb - arg - 1)) >= sizeof(host))
			goto bad;
		memcpy(host, arg + 1, hlen);
		host[hlen] = '\0';
		portstr = rb + 2;
		v6 = 1;
	} else {
		if ((portstr = strchr(arg, ':')) == NULL ||
		    strchr(portstr + 1, ':') != NULL ||
		    (hlen = (size_t)(portstr - arg)) >= sizeof(host))
			goto bad;
		memcpy(host, arg, hlen);
		host[hlen] = '\0';
		portstr++;
	}
	if (parse_port(portstr, &port) == -1)
		goto bad;
	memset(&conf->metrics_addr, 0, sizeof(conf->metrics_addr));
	if (v6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1)
			goto bad;
		memcpy(&conf->metrics_addr, &sin6, sizeof(sin6));
		conf->metrics_addrlen = sizeof(sin6);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			goto bad;
		memcpy(&conf->metrics_addr, &sin, sizeof(sin));
		conf->metrics_addrlen = sizeof(sin);
	}
	(void)snprintf(conf->metrics_text, sizeof(conf->metrics_text),
	    v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
	return 0;
bad:
	perr(p, "%s: expected PORT, ADDRESS:PORT or [IPV6]:PORT, not \"%s\"",
	    d->name, arg);
	return -1;
}

static int
conf_log_format(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	if (strcmp(argv[0], "text") == 0)
		p->conf->log_json = 0;
	else if (strcmp(argv[0], "json") == 0)
		p->conf->log_json = 1;
	else {
		perr(p, "%s: expected text or json, not \"%s\"", d->name,
		    argv[0]);
		return -1;
	}
	return 0;
}
