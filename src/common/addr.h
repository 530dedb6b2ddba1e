/*
 * Mail addresses and SMTP command arguments (RFC 5321 4.1.2, RFC 6531).
 *
 * Everything here works on bounded input and never allocates: results are
 * copied into fixed-size fields and over-long input is an error.
 */
#ifndef SMTPAUTH_ADDR_H
#define SMTPAUTH_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, without the brackets */

struct mailaddr {
	char	local[ADDR_LOCAL_MAX + 1];	/* as sent (quotes kept) */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* as sent; "" for <> */
};

enum addr_error {
	ADDR_OK = 0,
	ADDR_ESYNTAX,		/* not a path: 501 5.1.7 / 5.1.3 */
	ADDR_ETOOLONG,		/* a part over its limit: 501 5.1.7/5.1.3 */
	ADDR_EUTF8,		/* non-ASCII without SMTPUTF8: 553 5.6.7 */
	ADDR_ENULL,		/* <> where not allowed */
};

#define ADDR_ALLOW_NULL		0x01	/* <> is valid (MAIL FROM) */
#define ADDR_SMTPUTF8		0x02	/* UTF-8 allowed (RFC 6531) */
#define ADDR_ALLOW_NODOMAIN	0x04	/* <postmaster> without a domain */

/*
 * Parse a reverse-path or forward-path at the start of s (len bytes, not
 * NUL-terminated): optional spaces, "<" path ">" or (leniently, as Postfix
 * and chasquid do) a bare address up to the next space.  A source route
 * ("@a,@b:") is accepted and dropped.  On success fill *out, set *end to the
 * offset just after the path, and return ADDR_OK.
 */
enum addr_error	addr_parse_path(const char *s, size_t len, unsigned flags,
		    struct mailaddr *out, size_t *end);

/* "local@domain" (or "" for the null path) into buf; -1 if it does not fit. */
int		addr_format(const struct mailaddr *, char *buf, size_t len);

/* Is the string a valid domain (dot-atom of LDH labels, or address literal)? */
int		addr_valid_domain(const char *s, size_t len, int utf8);

/*
 * ESMTP parameters after a path: " KEY[=VALUE]" repeated.  Calls cb for
 * each; stops at the first callback that returns non-zero and returns that
 * value.  Returns -1 on a syntax error (501 5.5.4).  Keys are passed as
 * sent; compare them without case.
 */
int		addr_parse_params(const char *s, size_t len,
		    int (*cb)(void *arg, const char *key, size_t keylen,
		    const char *val, size_t vallen), void *arg);

/* Copy s lower-cased (ASCII only) into buf of size len; -1 if too long. */
int		addr_lower(const char *s, char *buf, size_t len);

#endif
