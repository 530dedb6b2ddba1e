/*
 * smtpauthd configuration: reading and checking smtpauthd.conf(5).
 *
 * The parser is table driven: one row per directive says how many
 * arguments it takes, whether it may repeat and which handler stores it.
 * Everything that can be checked without touching the file system is
 * checked here, so that "smtpauthd -n" catches mistakes before a restart.
 * The handlers of values with a syntax of their own are in config_values.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
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

static struct config *parse(const char *, const char *, size_t, char *,
		    size_t);
static int	 parse_line(struct parser *, const char *, size_t);
static int	 check_conf(struct parser *);
static int	 set_defaults(struct config *);
static const struct directive *find_directive(const char *);
static int	 resolve_one(char **, const char *);

static int	 conf_number(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_yesno(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_hostname(struct parser *, const struct directive *, int,
		    char **);
static int	 conf_tls_file(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_words(struct parser *, const struct directive *,
		    int, char **);
static int	 resolve_dovecot(char **, const char *);
static int	 conf_milter(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_milter_action(struct parser *,
		    const struct directive *, int, char **);
static int	 check_milters(struct parser *);
static int	 check_guard_store(struct parser *);
static int	 conf_metrics_listen(struct parser *,
		    const struct directive *, int, char **);
static int	 conf_log_format(struct parser *, const struct directive *,
		    int, char **);
static int	 conf_spool_sync(struct parser *, const struct directive *,
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
	{ "auth-backend", conf_auth_backend, 1, 1, 0, 0, 0, 0 },
	{ "dovecot-auth", conf_dovecot, 1, 1, 0, F(dovecot_auth), 0, 0 },
	{ "dovecot-userdb", conf_dovecot, 1, 1, 0, F(dovecot_userdb), 0, 0 },
	{ "ldap-recipient-filter", conf_words, 1, -1, 0,
	    F(ldap_recipient_filter), 0, 0 },
	{ "recipient-cache-ttl", conf_number, 1, 1, 0,
	    F(recipient_cache_ttl), 0, 86400 },
	{ "ldap-uri", conf_string, 1, 1, 0, F(ldap_uri), 0, 0 },
	{ "ldap-base", conf_words, 1, -1, 0, F(ldap_base), 0, 0 },
	{ "ldap-filter", conf_words, 1, -1, 0, F(ldap_filter), 0, 0 },
	{ "ldap-bind-dn", conf_words, 1, -1, 0, F(ldap_bind_dn), 0, 0 },
	{ "ldap-bind-password-file", conf_string, 1, 1, 0,
	    F(ldap_bind_password_file), 0, 0 },
	{ "ldap-ca-file", conf_string, 1, 1, 0, F(ldap_ca_file), 0, 0 },
	{ "ldap-starttls", conf_yesno, 1, 1, 0, F(ldap_starttls), 0, 0 },
	{ "backend-timeout", conf_number, 1, 1, 0, F(backend_timeout), 1,
	    25 },
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
	{ "junk-command-limit", conf_number, 1, 1, 0, F(junk_command_limit), 1,
	    1000000 },
	{ "max-sessions", conf_number, 1, 1, 0, F(max_sessions), 1, 1000000 },
	{ "max-sessions-per-ip", conf_number, 1, 1, 0,
	    F(max_sessions_per_ip), 1, 1000000 },
	{ "command-timeout", conf_number, 1, 1, 0,
	    F(command_timeout), 1, 86400 },
	{ "data-timeout", conf_number, 1, 1, 0, F(data_timeout), 1, 86400 },
	{ "data-min-rate", conf_number, 1, 1, 0, F(data_min_rate), 0,
	    1000000000 },
	{ "spool-min-free", conf_number, 1, 1, 0, F(spool_min_free), 0,
	    4294967295U },
	{ "relay-tls", conf_relay_tls, 1, 1, 0, 0, 0, 0 },
	{ "guard-store", conf_guard_store, 1, 1, 0, 0, 0, 0 },
	{ "guard-store-ca-file", conf_string, 1, 1, 0, F(guard_store_ca_file),
	    0, 0 },
	{ "guard-store-cert", conf_string, 1, 1, 0, F(guard_store_cert), 0, 0 },
	{ "guard-store-key", conf_string, 1, 1, 0, F(guard_store_key), 0, 0 },
	{ "guard-store-tls-name", conf_string, 1, 1, 0,
	    F(guard_store_tls_name), 0, 0 },
	{ "tls-ticket-keys", conf_string, 1, 1, 0, F(tls_ticket_keys), 0, 0 },
	{ "send-limit", conf_send_limit, 1, 1, 0, F(send_limit), 0, 0 },
	{ "send-limit-recipients", conf_send_limit, 1, 1, 0,
	    F(send_limit_rcpts), 0, 0 },
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
	{ "dkim-sign", conf_dkim_sign, 3, 3, 1, 0, 0, 0 },
	{ "dkim-sign-all", conf_yesno, 1, 1, 0, F(dkim_sign_all), 0, 0 },
	{ "milter", conf_milter, 1, 6, 1, 0, 0, 0 },
	{ "milter-default-action", conf_milter_action, 1, 1, 0, 0, 0, 0 },
	/* Operating it (smtpauthd.conf(5), "Control, metrics and logs"). */
	{ "control-socket", conf_string, 1, 1, 0, F(control_socket), 0, 0 },
	{ "control-group", conf_string, 1, 1, 0, F(control_group), 0, 0 },
	{ "metrics-listen", conf_metrics_listen, 1, 1, 0, 0, 0, 0 },
	{ "log-format", conf_log_format, 1, 1, 0, 0, 0, 0 },
	{ "spool-sync", conf_spool_sync, 1, 1, 0, 0, 0, 0 },
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
	    resolve_one(&conf->ldap_bind_password_file, dir) == -1 ||
	    resolve_one(&conf->ldap_ca_file, dir) == -1 ||
	    resolve_dovecot(&conf->dovecot_auth, dir) == -1 ||
	    resolve_dovecot(&conf->dovecot_userdb, dir) == -1 ||
	    resolve_one(&conf->tls_ticket_keys, dir) == -1 ||
	    resolve_one(&conf->guard_store_ca_file, dir) == -1 ||
	    resolve_one(&conf->guard_store_cert, dir) == -1 ||
	    resolve_one(&conf->guard_store_key, dir) == -1 ||
	    resolve_one(&conf->control_socket, dir) == -1;
	for (i = 0; i < conf->ntls_cert && !bad; i++)
		bad = resolve_one(&conf->tls_cert[i], dir) == -1;
	for (i = 0; i < conf->ntls_key && !bad; i++)
		bad = resolve_one(&conf->tls_key[i], dir) == -1;
	for (i = 0; i < conf->ndkim && !bad; i++)
		bad = resolve_one(&conf->dkim[i].keyfile, dir) == -1;
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
	free(conf->dovecot_auth);
	free(conf->dovecot_userdb);
	free(conf->ldap_recipient_filter);
	free(conf->ldap_uri);
	free(conf->ldap_base);
	free(conf->ldap_filter);
	free(conf->ldap_bind_dn);
	free(conf->ldap_bind_password_file);
	free(conf->ldap_ca_file);
	free(conf->tls_ticket_keys);
	explicit_bzero(&conf->guard_store, sizeof(conf->guard_store));
	free(conf->guard_store_ca_file);
	free(conf->guard_store_cert);
	free(conf->guard_store_key);
	free(conf->guard_store_tls_name);
	free(conf->relay_auth);
	for (i = 0; i < conf->ndkim; i++) {
		free(conf->dkim[i].domain);
		free(conf->dkim[i].selector);
		free(conf->dkim[i].keyfile);
	}
	free(conf->dkim);
	free(conf->resolver);
	free(conf->auth_exempt);
	free(conf->proxy_from);
	free(conf->user);
	free(conf->milters);
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
		if (conf_casecmp(conf->local_domains[i], domain) == 0)
			return 1;
	return 0;
}

int
config_recipient_store(const struct config *conf)
{
	return (conf->auth_backend == AUTH_BACKEND_DOVECOT &&
	    conf->dovecot_userdb != NULL) ||
	    conf->auth_backend == AUTH_BACKEND_LDAP;
}

const char *
auth_backend_name(enum auth_backend b)
{
	switch (b) {
	case AUTH_BACKEND_FILE:
		return "file";
	case AUTH_BACKEND_DOVECOT:
		return "dovecot";
	case AUTH_BACKEND_LDAP:
		return "ldap";
	}
	return "unknown";
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

void
conf_perr(struct parser *p, const char *fmt, ...)
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
		conf_perr(p, "out of memory");
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
		conf_perr(p, "line too long (more than %d bytes)", CONF_MAX_LINE);
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
			conf_perr(p, "unexpected control character 0x%02x", c);
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
		conf_perr(p, "unknown directive \"%s\"", p->argv[0]);
		return -1;
	}
	if (!d->repeat && p->seen[d - directives] != 0) {
		conf_perr(p, "%s: already given on line %u", d->name,
		    p->seen[d - directives]);
		return -1;
	}
	if (p->seen[d - directives] == 0)
		p->seen[d - directives] = p->lineno;

	nargs = argc - 1;
	if (nargs < d->minargs) {
		conf_perr(p, "%s: missing argument", d->name);
		return -1;
	}
	if (d->maxargs >= 0 && nargs > d->maxargs) {
		conf_perr(p, "%s: too many arguments", d->name);
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
		conf_perr(p, "no listen directive");
		return -1;
	}
	if (conf->spool == NULL) {
		conf_perr(p, "spool is required");
		return -1;
	}
	if (conf->nlocal_domains > 0 && conf->mailbox_root == NULL) {
		conf_perr(p, "local-domains requires mailbox-root");
		return -1;
	}
	if (conf->nlocal_domains > 0 && conf->users == NULL &&
	    !config_recipient_store(conf)) {
		conf_perr(p, "local-domains requires users (or an account "
		    "store: dovecot-userdb, auth-backend ldap)");
		return -1;
	}
	if (conf->dovecot_userdb != NULL &&
	    conf->auth_backend != AUTH_BACKEND_DOVECOT) {
		conf_perr(p, "dovecot-userdb requires auth-backend dovecot");
		return -1;
	}
	if (conf->ldap_recipient_filter != NULL &&
	    strstr(conf->ldap_recipient_filter, "%u") == NULL &&
	    strstr(conf->ldap_recipient_filter, "%n") == NULL) {
		conf_perr(p, "ldap-recipient-filter must contain %%u or %%n");
		return -1;
	}
	if (conf->auth_backend == AUTH_BACKEND_DOVECOT &&
	    conf->dovecot_auth == NULL) {
		conf_perr(p, "auth-backend dovecot requires dovecot-auth");
		return -1;
	}
	if (conf->auth_backend == AUTH_BACKEND_LDAP && (conf->ldap_uri ==
	    NULL || conf->ldap_base == NULL || conf->ldap_filter == NULL)) {
		conf_perr(p, "auth-backend ldap requires ldap-uri, ldap-base and "
		    "ldap-filter");
		return -1;
	}
	if (conf->ldap_filter != NULL && strstr(conf->ldap_filter, "%u") ==
	    NULL) {
		conf_perr(p, "ldap-filter must contain %%u");
		return -1;
	}
	if ((conf->ldap_bind_dn == NULL) !=
	    (conf->ldap_bind_password_file == NULL)) {
		conf_perr(p, "ldap-bind-dn and ldap-bind-password-file go together");
		return -1;
	}
	if (conf->ldap_uri != NULL && strncmp(conf->ldap_uri, "ldap://", 7)
	    != 0 && strncmp(conf->ldap_uri, "ldaps://", 8) != 0 &&
	    strncmp(conf->ldap_uri, "ldapi://", 8) != 0) {
		conf_perr(p, "ldap-uri: expected ldap://, ldaps:// or ldapi://");
		return -1;
	}
	if (conf->ldap_starttls && conf->ldap_uri != NULL &&
	    strncmp(conf->ldap_uri, "ldap://", 7) != 0) {
		conf_perr(p, "ldap-starttls needs an ldap:// ldap-uri");
		return -1;
	}
	if (conf->ntls_cert > conf->ntls_key) {
		conf_perr(p, "tls-cert requires tls-key");
		return -1;
	}
	if (conf->ntls_key > conf->ntls_cert) {
		conf_perr(p, "tls-key requires tls-cert");
		return -1;
	}
	if (conf->tls_ticket_keys != NULL && conf->ntls_cert == 0) {
		conf_perr(p, "tls-ticket-keys requires tls-cert");
		return -1;
	}
	if (conf->retry_min > conf->retry_max) {
		conf_perr(p, "retry-min %u is above retry-max %u", conf->retry_min,
		    conf->retry_max);
		return -1;
	}
	if (conf->relay_tls == RELAY_TLS_IMPLICIT && conf->relay_host ==
	    NULL) {
		conf_perr(p, "relay-tls implicit requires relay-host");
		return -1;
	}
	/* Credentials never travel in clear, nor to an unverified peer. */
	if (conf->relay_auth != NULL && conf->relay_host == NULL) {
		conf_perr(p, "relay-auth requires relay-host");
		return -1;
	}
	if (conf->relay_auth != NULL &&
	    conf->relay_tls != RELAY_TLS_REQUIRED &&
	    conf->relay_tls != RELAY_TLS_IMPLICIT) {
		conf_perr(p, "relay-auth requires relay-tls required or implicit");
		return -1;
	}
	if (conf->relay_host != NULL && p->seen[find_directive("relay-port") -
	    directives] != 0) {
		conf_perr(p, "relay-port is for MX hosts: with relay-host, give "
		    "the port there");
		return -1;
	}
	if (conf->relay_tls == RELAY_TLS_IMPLICIT && !conf->relay_port_given)
		conf->relay_port = 465;
	if (check_guard_store(p) == -1)
		return -1;
	if (check_milters(p) == -1)
		return -1;
	for (i = 0; i < conf->nlistens; i++) {
		/*
		 * Whoever may send a PROXY header chooses the client address
		 * every check is keyed on, auth-exempt included: a proxy
		 * listener names the balancers it believes.
		 */
		if (conf->listens[i].proxy && conf->nproxy_from == 0) {
			p->lineno = conf->listens[i].line;
			conf_perr(p, "listen %s %s proxy needs proxy-from",
			    conf->listens[i].text,
			    listen_mode_name(conf->listens[i].mode));
			return -1;
		}
		if (conf->listens[i].mode == LISTEN_SMTPS &&
		    conf->ntls_cert == 0) {
			conf_perr(p, "listen %s smtps requires tls-cert",
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
	conf->recipient_cache_ttl = CONF_DEFAULT_RECIPIENT_CACHE_TTL;
	conf->auth_backend = AUTH_BACKEND_FILE;
	conf->backend_timeout = CONF_DEFAULT_BACKEND_TIMEOUT;
	conf->ban_ipv6_prefix = CONF_DEFAULT_BAN_IPV6_PREFIX;
	conf->ban_table_size = CONF_DEFAULT_BAN_TABLE_SIZE;
	conf->sender_login_match = 1;
	conf->max_recipients = CONF_DEFAULT_MAX_RECIPIENTS;
	conf->max_errors = CONF_DEFAULT_MAX_ERRORS;
	conf->junk_command_limit = CONF_DEFAULT_JUNK_COMMAND_LIMIT;
	conf->max_sessions = CONF_DEFAULT_MAX_SESSIONS;
	conf->max_sessions_per_ip = CONF_DEFAULT_MAX_SESSIONS_PER_IP;
	conf->command_timeout = CONF_DEFAULT_COMMAND_TIMEOUT;
	conf->data_timeout = CONF_DEFAULT_DATA_TIMEOUT;
	conf->data_min_rate = CONF_DEFAULT_DATA_MIN_RATE;
	conf->spool_min_free = CONF_DEFAULT_SPOOL_MIN_FREE;
	conf->spool_sync_fs = 1;
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
int
conf_parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
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

/* LDH labels of 1 to 63 characters separated by dots, 253 at most. */
int
conf_valid_domain(const char *s)
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
void
conf_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int
conf_casecmp(const char *a, const char *b)
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

char *
conf_strndup(const char *s, size_t len)
{
	char	*d;

	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

int
conf_string(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	**field = (char **)(void *)((char *)p->conf + d->off);

	if ((*field = strdup(argv[0])) == NULL) {
		conf_perr(p, "out of memory");
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
		conf_perr(p, "%s: at most %d may be given", d->name, CONF_TLS_MAX);
		return -1;
	}
	if ((arr[*n] = strdup(argv[0])) == NULL) {
		conf_perr(p, "out of memory");
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

	if (conf_parse_uint(argv[0], d->lo, d->hi, &v) == -1) {
		conf_perr(p, "%s: expected a number from %llu to %llu", d->name,
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
		conf_perr(p, "%s: expected yes or no, got \"%s\"", d->name,
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
	if (!conf_valid_domain(argv[0])) {
		conf_perr(p, "hostname: bad host name \"%s\"", argv[0]);
		return -1;
	}
	if ((h = strdup(argv[0])) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	free(p->conf->hostname);
	p->conf->hostname = h;
	return 0;
}

/* dovecot-auth unix:PATH: PATH as resolve_one() makes it. */
static int
resolve_dovecot(char **value, const char *dir)
{
	char	*path, *v;
	size_t	 n;

	if (*value == NULL || strncmp(*value, "unix:", 5) != 0)
		return 0;
	if ((path = strdup(*value + 5)) == NULL)
		return -1;
	if (resolve_one(&path, dir) == -1) {
		free(path);
		return -1;
	}
	n = strlen(path) + 6;
	if ((v = malloc(n)) == NULL) {
		free(path);
		return -1;
	}
	(void)snprintf(v, n, "unix:%s", path);
	free(path);
	free(*value);
	*value = v;
	return 0;
}

/* A value that may hold spaces (a DN): the words joined by one space. */
static int
conf_words(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	**field = (char **)(void *)((char *)p->conf + d->off);
	size_t	 n = 0, off = 0, l;
	int	 i;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	if ((*field = malloc(n)) == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	for (i = 0; i < argc; i++) {
		l = strlen(argv[i]);
		memcpy(*field + off, argv[i], l);
		off += l;
		(*field)[off++] = i + 1 < argc ? ' ' : '\0';
	}
	return 0;
}

/*
 * Milters (smtpauthd.conf(5), "Milters"): "milter SPEC [OPTION=VALUE...]"
 * with SPEC unix:/PATH, inet:ADDRESS:PORT ([ADDRESS] for IPv6) or none.
 */
static int
milter_spec(struct parser *p, struct milter_conf *m, const char *spec)
{
	struct sockaddr_un	 sun;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			 host[INET6_ADDRSTRLEN + 1];
	const char		*a, *port;
	size_t			 n;
	uint16_t		 pn;

	if ((size_t)snprintf(m->text, sizeof(m->text), "%s", spec) >=
	    sizeof(m->text)) {
		conf_perr(p, "milter: \"%s\" is too long", spec);
		return -1;
	}
	if (strcmp(spec, "none") == 0) {
		m->none = 1;
		return 0;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (spec[5] != '/' || strlen(spec + 5) >= sizeof(sun.sun_path)) {
			conf_perr(p, "milter: unix: needs an absolute path of at "
			    "most %zu bytes", sizeof(sun.sun_path) - 1);
			return -1;
		}
		memcpy(sun.sun_path, spec + 5, strlen(spec + 5));
		memcpy(&m->addr, &sun, sizeof(sun));
		m->addrlen = sizeof(sun);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) != 0) {
		conf_perr(p, "milter: expected unix:PATH, inet:ADDRESS:PORT or "
		    "none, got \"%s\"", spec);
		return -1;
	}
	a = spec + 5;
	if (*a == '[') {
		if ((port = strchr(a, ']')) == NULL || port[1] != ':')
			goto bad;
		a++;
		n = (size_t)(port - a);
		port += 2;
	} else {
		if ((port = strrchr(a, ':')) == NULL)
			goto bad;
		n = (size_t)(port - a);
		port++;
	}
	if (n == 0 || n >= sizeof(host) || conf_parse_port(port, &pn) == -1)
		goto bad;
	memcpy(host, a, n);
	host[n] = '\0';
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(pn);
		memcpy(&m->addr, &sin, sizeof(sin));
		m->addrlen = sizeof(sin);
	} else if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(pn);
		memcpy(&m->addr, &sin6, sizeof(sin6));
		m->addrlen = sizeof(sin6);
	} else
		goto bad;
	return 0;
bad:
	conf_perr(p, "milter: expected inet:ADDRESS:PORT (a literal address, "
	    "IPv6 in brackets), got \"%s\"", spec);
	return -1;
}

static int
conf_milter(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct config		*conf = p->conf;
	struct milter_conf	 m, *nm;
	unsigned long long	 v;
	const char		*eq;
	unsigned		*field;
	int			 i;

	memset(&m, 0, sizeof(m));
	m.line = p->lineno;
	m.connect_timeout = CONF_DEFAULT_MILTER_CONNECT_TIMEOUT;
	m.command_timeout = CONF_DEFAULT_MILTER_COMMAND_TIMEOUT;
	m.eom_timeout = CONF_DEFAULT_MILTER_EOM_TIMEOUT;
	m.default_accept = -1;
	if (milter_spec(p, &m, argv[0]) == -1)
		return -1;
	for (i = 1; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL)
			goto bad;
		field = NULL;
		if (strncmp(argv[i], "connect-timeout=", 16) == 0)
			field = &m.connect_timeout;
		else if (strncmp(argv[i], "command-timeout=", 16) == 0)
			field = &m.command_timeout;
		else if (strncmp(argv[i], "eom-timeout=", 12) == 0)
			field = &m.eom_timeout;
		if (field != NULL) {
			if (conf_parse_uint(eq + 1, 1, 3600, &v) == -1) {
				conf_perr(p, "milter: %s: expected seconds from 1 "
				    "to 3600", argv[i]);
				return -1;
			}
			*field = (unsigned)v;
		} else if (strcmp(argv[i], "default-action=tempfail") == 0)
			m.default_accept = 0;
		else if (strcmp(argv[i], "default-action=accept") == 0)
			m.default_accept = 1;
		else if (strncmp(argv[i], "listen=", 7) == 0) {
			if ((size_t)snprintf(m.listen, sizeof(m.listen), "%s",
			    eq + 1) >= sizeof(m.listen) || m.listen[0] == '\0')
				goto bad;
		} else
			goto bad;
	}
	for (size_t j = 0; j < conf->nmilters; j++)
		if (strcmp(conf->milters[j].listen, m.listen) == 0) {
			conf_perr(p, "milter: %s%s already has one, on line %u",
			    m.listen[0] != '\0' ? "listener " : "every listener",
			    m.listen, conf->milters[j].line);
			return -1;
		}
	nm = reallocarray(conf->milters, conf->nmilters + 1, sizeof(*nm));
	if (nm == NULL) {
		conf_perr(p, "out of memory");
		return -1;
	}
	conf->milters = nm;
	nm[conf->nmilters++] = m;
	return 0;
bad:
	conf_perr(p, "milter: bad option \"%s\" (listen=ADDRESS:PORT, "
	    "connect-timeout=, command-timeout=, eom-timeout=, "
	    "default-action=tempfail|accept)", argv[i]);
	return -1;
}

static int
conf_milter_action(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	if (strcmp(argv[0], "tempfail") == 0)
		p->conf->milter_default_accept = 0;
	else if (strcmp(argv[0], "accept") == 0)
		p->conf->milter_default_accept = 1;
	else {
		conf_perr(p, "milter-default-action: expected tempfail or accept, "
		    "got \"%s\"", argv[0]);
		return -1;
	}
	return 0;
}

/*
 * The guard-store TLS directives go with rediss:// (a plain store would
 * silently ignore them), the client certificate with its key.  The name
 * checked against Redis's certificate (and sent as SNI) is a DNS name or
 * an address, as in a URL.
 */
static int
check_guard_store(struct parser *p)
{
	struct config	*conf = p->conf;
	const char	*n = conf->guard_store_tls_name;
	size_t		 len;

	if ((conf->guard_store_ca_file != NULL ||
	    conf->guard_store_cert != NULL || conf->guard_store_key != NULL ||
	    n != NULL) && !conf->guard_store.tls) {
		conf_perr(p, "guard-store-ca-file, guard-store-cert, "
		    "guard-store-key and guard-store-tls-name need a "
		    "rediss:// guard-store");
		return -1;
	}
	if ((conf->guard_store_cert == NULL) !=
	    (conf->guard_store_key == NULL)) {
		conf_perr(p, "guard-store-cert and guard-store-key go together");
		return -1;
	}
	if (n == NULL)
		return 0;
	len = strlen(n);
	if (len == 0 || len > 253 || n[0] == '.' || n[0] == '-' ||
	    n[len - 1] == '.' || strstr(n, "..") != NULL ||
	    strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.:") != len) {
		conf_perr(p, "guard-store-tls-name: expected a host name or "
		    "an address, got \"%s\"", n);
		return -1;
	}
	return 0;
}

/* A listen= names a listener as its listen line does (its text). */
static int
check_milters(struct parser *p)
{
	struct config	*conf = p->conf;
	size_t		 i, j;

	for (i = 0; i < conf->nmilters; i++) {
		if (conf->milters[i].listen[0] == '\0')
			continue;
		for (j = 0; j < conf->nlistens; j++)
			if (strcmp(conf->listens[j].text,
			    conf->milters[i].listen) == 0)
				break;
		if (j == conf->nlistens) {
			p->lineno = conf->milters[i].line;
			conf_perr(p, "milter: listen=%s names no listen line",
			    conf->milters[i].listen);
			return -1;
		}
	}
	return 0;
}

const struct milter_conf *
config_milter(const struct config *conf, const struct listen_conf *lc)
{
	const struct milter_conf	*all = NULL;
	size_t				 i;

	for (i = 0; i < conf->nmilters; i++) {
		if (strcmp(conf->milters[i].listen, lc->text) == 0)
			return conf->milters[i].none ? NULL : &conf->milters[i];
		if (conf->milters[i].listen[0] == '\0')
			all = &conf->milters[i];
	}
	return all != NULL && !all->none ? all : NULL;
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
	if (conf_parse_port(portstr, &port) == -1)
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
	conf_perr(p, "%s: expected PORT, ADDRESS:PORT or [IPV6]:PORT, not \"%s\"",
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
		conf_perr(p, "%s: expected text or json, not \"%s\"", d->name,
		    argv[0]);
		return -1;
	}
	return 0;
}

static int
conf_spool_sync(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	if (strcmp(argv[0], "filesystem") == 0)
		p->conf->spool_sync_fs = 1;
	else if (strcmp(argv[0], "file") == 0)
		p->conf->spool_sync_fs = 0;
	else {
		conf_perr(p, "%s: expected filesystem or file, not \"%s\"",
		    d->name, argv[0]);
		return -1;
	}
	return 0;
}
