/*
 * What the pieces of the configuration parser share (config.c: the table,
 * the parser and the checks; config_values.c: the directives whose values
 * have a syntax of their own).  Not for other files.
 */
#ifndef SMTPAUTHD_CONFIG_PRIV_H
#define SMTPAUTHD_CONFIG_PRIV_H

#include <stddef.h>
#include <stdint.h>

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

/* config.c */
void	conf_perr(struct parser *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	conf_parse_uint(const char *, unsigned long long, unsigned long long,
	    unsigned long long *);
int	conf_valid_domain(const char *);
void	conf_lower(char *);
int	conf_casecmp(const char *, const char *);
char	*conf_strndup(const char *, size_t);
int	conf_string(struct parser *, const struct directive *, int, char **);

/* config_values.c: directive handlers and value parsers */
int	conf_parse_port(const char *, uint16_t *);
int	conf_listen(struct parser *, const struct directive *, int,
	    char **);
int	conf_local_domains(struct parser *, const struct directive *, int,
	    char **);
int	conf_dkim_sign(struct parser *, const struct directive *, int,
	    char **);
int	conf_relay_host(struct parser *, const struct directive *, int,
	    char **);
int	conf_relay_tls(struct parser *, const struct directive *, int,
	    char **);
int	conf_mx_port(struct parser *, const struct directive *, int,
	    char **);
int	conf_resolver(struct parser *, const struct directive *, int,
	    char **);
int	conf_max_message_size(struct parser *, const struct directive *, int,
	    char **);
int	conf_guard_store(struct parser *, const struct directive *, int,
	    char **);
int	conf_send_limit(struct parser *, const struct directive *, int,
	    char **);
int	conf_cidrs(struct parser *, const struct directive *, int,
	    char **);
int	conf_auth_backend(struct parser *, const struct directive *, int,
	    char **);
int	conf_dovecot(struct parser *, const struct directive *, int,
	    char **);

#endif
