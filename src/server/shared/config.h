/*
 * smtpauthd configuration: the parsed form of smtpauthd.conf(5).
 *
 * The parser knows every directive pinned in DESIGN.md, so later features
 * only add behaviour.  Errors are reported as "FILE:LINE: reason".
 */
#ifndef SMTPAUTHD_CONFIG_H
#define SMTPAUTHD_CONFIG_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

enum listen_mode {
	LISTEN_SMTP,		/* port-25 style: local mail from anyone */
	LISTEN_SUBMISSION,	/* STARTTLS, AUTH required before MAIL */
	LISTEN_SMTPS,		/* implicit TLS, AUTH required before MAIL */
};

struct listen_conf {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 text[80];	/* "127.0.0.1:25", "[::1]:587" */
	enum listen_mode	 mode;
	int			 proxy;		/* expects a PROXY v1/v2 header */
	unsigned		 line;		/* of its directive, for errors */
};

/*
 * A milter (smtpauthd.conf(5), "Milters"): for every listener, or for the
 * one named by listen=; "none" turns the global one off for a listener.
 */
struct milter_conf {
	char			 text[128];	/* "inet:127.0.0.1:11332" */
	struct sockaddr_storage	 addr;		/* AF_INET, AF_INET6, AF_UNIX */
	socklen_t		 addrlen;
	int			 none;
	char			 listen[80];	/* a listen_conf text; "": all */
	unsigned		 connect_timeout;	/* seconds */
	unsigned		 command_timeout;	/* seconds */
	unsigned		 eom_timeout;		/* seconds */
	int			 default_accept;	/* -1: milter-default-action */
	unsigned		 line;
};

#define CONF_DEFAULT_MILTER_CONNECT_TIMEOUT	30
#define CONF_DEFAULT_MILTER_COMMAND_TIMEOUT	30
#define CONF_DEFAULT_MILTER_EOM_TIMEOUT		300

/* relay-tls: how outbound connections use TLS. */
enum relay_tls {
	RELAY_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, unverified */
	RELAY_TLS_REQUIRED,		/* STARTTLS, verified, or no delivery */
	RELAY_TLS_IMPLICIT,		/* TLS from the first byte, verified */
	RELAY_TLS_NONE,			/* never */
};

/* auth-backend: where passwords are verified. */
enum auth_backend {
	AUTH_BACKEND_FILE,		/* the users file */
	AUTH_BACKEND_DOVECOT,		/* Dovecot's auth-client socket */
	AUTH_BACKEND_LDAP,		/* search, then bind as the entry */
};

/* One CIDR block, for auth-exempt and proxy-from. */
struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];
	unsigned	prefix;
};

#define CONF_TLS_MAX	4	/* certificate/key pairs */

/*
 * guard-store: the Redis (or Valkey) server that nodes share their guard
 * through.  TCP to an address (never a name: no DNS on the auth loop),
 * plain or TLS (rediss://), or a unix socket; an optional AUTH and SELECT.
 */
struct guard_store {
	int		 set;
	int		 is_unix;
	int		 tls;		/* rediss:// */
	char		 host[46];	/* INET6_ADDRSTRLEN */
	uint16_t	 port;
	char		 path[108];	/* sun_path */
	char		 user[64];	/* "": AUTH with the password only */
	char		 pass[256];	/* "": no AUTH */
	unsigned	 db;
};

/* send-limit, send-limit-recipients: count per window; count 0: none. */
struct send_limit {
	unsigned	 count;
	unsigned	 secs;
};

/* A dkim-sign line: the key that signs mail from one domain. */
struct dkim_conf {
	char		*domain;	/* lower-cased */
	char		*selector;
	char		*keyfile;
	unsigned	 line;
};

struct config {
	char			*path;		/* the file read */

	char			*hostname;
	struct listen_conf	*listens;
	size_t			 nlistens;

	/* Pairs in order: the n-th tls-cert goes with the n-th tls-key
	 * (an ECDSA and an RSA certificate may both be configured). */
	char			*tls_cert[CONF_TLS_MAX];
	char			*tls_key[CONF_TLS_MAX];
	size_t			 ntls_cert;
	size_t			 ntls_key;
	char			*users;
	char			**local_domains;	/* lower-cased */
	size_t			 nlocal_domains;
	char			*mailbox_root;
	char			*spool;
	char			*relay_host;	/* "host" or "host:port"; NULL: MX */
	char			*relay_name;	/* host part: no brackets, lower case */
	uint16_t		 relay_port;	/* 25 unless given; 0: no relay */
	int			 relay_port_given;

	/* Outbound delivery (smtpauthd.conf(5), "Relay"). */
	enum relay_tls		 relay_tls;
	char			*relay_ca_file;	/* NULL: the system store */
	char			*relay_auth;	/* "user:password" file */
	uint16_t		 mx_port;	/* relay-port: MX hosts' port */
	char			*resolver;	/* "ADDR:PORT"; NULL: resolv.conf */
	unsigned		 relay_max_connections;
	unsigned		 relay_max_per_domain;
	unsigned		 retry_min;		/* seconds */
	unsigned		 retry_max;		/* seconds */
	unsigned		 queue_lifetime;	/* seconds */

	/* Password backends (smtpauthd.conf(5), "Authentication"). */
	enum auth_backend	 auth_backend;
	char			*dovecot_auth;	/* "unix:PATH", "inet:HOST:PORT" */
	char			*dovecot_userdb; /* the same; NULL: none */
	char			*ldap_recipient_filter;	/* NULL: ldap-filter */
	unsigned		 recipient_cache_ttl;	/* seconds; 0: none */
	char			*ldap_uri;
	char			*ldap_base;
	char			*ldap_filter;	/* %u: the escaped user name */
	char			*ldap_bind_dn;
	char			*ldap_bind_password_file;
	char			*ldap_ca_file;
	int			 ldap_starttls;
	unsigned		 backend_timeout;	/* seconds (10) */

	int			 auth_over_plaintext;
	uint64_t		 max_message_size;
	unsigned		 auth_max_failures;
	unsigned		 auth_window;		/* seconds */
	unsigned		 auth_ban;		/* seconds */
	unsigned		 auth_failure_delay;	/* milliseconds */
	unsigned		 auth_cache_ttl;	/* seconds; 0: no cache */
	struct cidr		*auth_exempt;
	size_t			 nauth_exempt;
	struct cidr		*proxy_from;	/* may send PROXY headers */
	size_t			 nproxy_from;
	unsigned		 proxy_timeout;		/* seconds (5) */
	unsigned		 ban_ipv6_prefix;	/* bits an IPv6 key keeps */
	unsigned		 ban_table_size;	/* bans at once; at start */
	struct guard_store	 guard_store;		/* shared guard, if set */
	/* rediss:// only: NULL: the system store, no client certificate. */
	char			*guard_store_ca_file;
	char			*guard_store_cert;
	char			*guard_store_key;
	char			*guard_store_tls_name;	/* NULL: the address */
	char			*tls_ticket_keys;	/* file; NULL: our own */
	struct send_limit	 send_limit;		/* messages per account */
	struct send_limit	 send_limit_rcpts;	/* recipients */
	int			 sender_login_match;
	unsigned		 workers;
	char			*user;
	unsigned		 user_line;	/* its line, for config_check_user() */

	/* Limits of our own (smtpauthd.conf(5)). */
	unsigned		 max_recipients;	/* per message (100) */
	unsigned		 max_errors;		/* protocol errors (10) */
	unsigned		 junk_command_limit;	/* NOOP, RSET... (100) */
	unsigned		 max_sessions;		/* per worker (1000) */
	unsigned		 max_sessions_per_ip;	/* all workers (20) */
	unsigned		 command_timeout;	/* seconds (300) */
	unsigned		 data_timeout;		/* seconds (600) */
	unsigned		 data_min_rate;		/* bytes/s (500); 0: off */
	unsigned		 spool_min_free;	/* bytes kept free */
	/* spool-sync: 1 filesystem (one shared syncfs a commit), 0 file */
	int			 spool_sync_fs;

	/* DKIM signing (smtpauthd.conf(5), "DKIM"). */
	struct dkim_conf	*dkim;		/* dkim-sign lines */
	size_t			 ndkim;
	int			 dkim_sign_all;	/* not only authenticated mail */

	/* Milters: at most one a listener. */
	struct milter_conf	*milters;
	size_t			 nmilters;
	int			 milter_default_accept;	/* 0: tempfail */

	/* Operating it: smtpauthctl(8), metrics, the log's format. */
	char			*control_socket;	/* NULL: spool/run/ctl.sock */
	char			*control_group;		/* may use it too */
	struct sockaddr_storage	 metrics_addr;
	socklen_t		 metrics_addrlen;	/* 0: no metrics */
	char			 metrics_text[64];
	int			 log_json;		/* log-format json */
};

/* Default values, as in smtpauthd.conf(5). */
#define CONF_DEFAULT_MAX_MESSAGE_SIZE	35882577ULL
#define CONF_DEFAULT_AUTH_MAX_FAILURES	5
#define CONF_DEFAULT_AUTH_WINDOW	600
#define CONF_DEFAULT_AUTH_BAN		900
#define CONF_DEFAULT_AUTH_FAILURE_DELAY	1000
#define CONF_DEFAULT_AUTH_CACHE_TTL	300
#define CONF_DEFAULT_RECIPIENT_CACHE_TTL 60
#define CONF_DEFAULT_BACKEND_TIMEOUT	10
#define CONF_DEFAULT_BAN_IPV6_PREFIX	64
#define CONF_DEFAULT_BAN_TABLE_SIZE	16384
#define CONF_DEFAULT_MAX_RECIPIENTS	100
#define CONF_DEFAULT_MAX_ERRORS		10
#define CONF_DEFAULT_JUNK_COMMAND_LIMIT	100
#define CONF_DEFAULT_MAX_SESSIONS	1000
#define CONF_DEFAULT_MAX_SESSIONS_PER_IP 50
#define CONF_DEFAULT_COMMAND_TIMEOUT	300
#define CONF_DEFAULT_DATA_TIMEOUT	600
#define CONF_DEFAULT_DATA_MIN_RATE	500
#define CONF_DEFAULT_SPOOL_MIN_FREE	67108864
#define CONF_DEFAULT_PROXY_TIMEOUT	5
#define CONF_DEFAULT_MX_PORT		25
#define CONF_DEFAULT_RELAY_MAX_CONNECTIONS 20
#define CONF_DEFAULT_RELAY_MAX_PER_DOMAIN 4
#define CONF_DEFAULT_RETRY_MIN		300
#define CONF_DEFAULT_RETRY_MAX		14400
#define CONF_DEFAULT_QUEUE_LIFETIME	432000

/*
 * Parse the file at path.  On success return a new config and 0.  On error
 * return NULL and write "FILE:LINE: reason" (or "FILE: reason") into err.
 * Semantic checks that need no file system access (required directives,
 * at least one listener, ranges) are done here too.
 */
struct config	*config_load(const char *path, char *err, size_t errlen);

/* Same, from a string (for tests); name is used in error messages. */
struct config	*config_parse(const char *name, const char *text, char *err,
		    size_t errlen);

void		 config_free(struct config *);

/*
 * A guard-store URL: redis://[[USER]:PASSWORD@]ADDRESS[:PORT][/DB] (an
 * IPv6 address in brackets, port 6379, db 0), the same with rediss://
 * (TLS), or unix:PATH.  0, or -1
 * with the reason in err.
 */
int		 config_parse_store(const char *, struct guard_store *,
		    char *err, size_t errlen);

/*
 * An absolute form of path (made with the current directory if it is
 * relative, without following links), from malloc; NULL with errno set.
 * smtpauthd keeps its configuration file's name so: a reload after the
 * daemon's chdir("/") must read the same file.
 */
char		*config_absolute(const char *path);

/*
 * Make every relative path of the configuration (users, tls-cert,
 * tls-key, mailbox-root, spool, relay-auth, relay-ca-file,
 * ldap-bind-password-file, ldap-ca-file, dovecot-auth unix:) relative to the
 * directory of the file it was read from, at start and at every reload
 * alike.  0, or -1 with "FILE: reason" in err.
 */
int		 config_resolve_paths(struct config *, char *err,
		    size_t errlen);

/*
 * For smtpauthd -n: does the "user" directive name an account of this
 * system?  0 (also without the directive), or -1 with "FILE:LINE: no such
 * user NAME" in err.  Not part of config_load(): the account matters only
 * to a server started as root.
 */
int		 config_check_user(const struct config *, char *err,
		    size_t errlen);

/*
 * Are recipients of local-domains looked up in the account store (the
 * Dovecot userdb, the directory) when the users file does not list them?
 */
int		 config_recipient_store(const struct config *);

/* Is domain (any case) one of local-domains? */
int		 config_is_local_domain(const struct config *, const char *);

/* The control socket's path: control-socket, else spool/run/ctl.sock.
 * 0, or -1 when it does not fit in len (or in a unix socket address). */
int		 config_control_socket(const struct config *, char *buf,
		    size_t len);

const char	*listen_mode_name(enum listen_mode);
const char	*relay_tls_name(enum relay_tls);
const char	*auth_backend_name(enum auth_backend);

/*
 * dovecot-auth's value: a unix socket path (*path, *host NULL) or a host
 * and port (*host, *port); pointers into a copy the caller frees (*buf).
 * 0, or -1 if malformed.
 */
int		 config_dovecot_auth(const char *value, char **buf,
		    char **path, char **host, char **port);

/*
 * The milter of a listener: its own milter line, else the global one;
 * NULL when none (or "none").
 */
const struct milter_conf *config_milter(const struct config *,
		    const struct listen_conf *);

/* Does the address match one of the CIDR blocks? */
int		 cidr_match(const struct cidr *, size_t,
		    const struct sockaddr *);

#endif
