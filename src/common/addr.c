/*
 * Mail addresses and SMTP command arguments (RFC 5321 4.1.2, RFC 6531).
 *
 * The grammar is RFC 5321's, with the leniencies real clients need: spaces
 * between "FROM:" and the path, a bare address without angle brackets, and
 * source routes, which are accepted and dropped (RFC 5321 4.1.1.3 says
 * servers should ignore them).  Every scan is bounded by an explicit length;
 * nothing relies on a terminating NUL in the input.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"

/* The longest address literal we ever hand to inet_pton: "IPv6:" + text. */
#define LITERAL_MAX	64

static int		is_alnum(unsigned char);
static int		is_atext(unsigned char);
static int		lower(int);
static size_t		utf8_len(const unsigned char *, size_t);
static size_t		path_span(const char *, size_t, int, size_t *);
static enum addr_error	check_literal(const char *, size_t);
static enum addr_error	check_domain(const char *, size_t, int *);
static enum addr_error	check_local(const char *, size_t, int *);
static enum addr_error	skip_route(const char *, size_t, size_t *, int *);
static enum addr_error	parse_mailbox(const char *, size_t, unsigned,
			    struct mailaddr *);
static int		scan_params(const char *, size_t,
			    int (*)(void *, const char *, size_t, const char *,
			    size_t), void *);

static int
is_alnum(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'));
}

/* RFC 5322 atext, the characters of an unquoted local-part. */
static int
is_atext(unsigned char c)
{
	if (is_alnum(c))
		return 1;
	return (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* ASCII only: the locale must never change how an address compares. */
static int
lower(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		n, i;

	if (len == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n)
		return 0;
	/* Only the second byte has a narrowed range. */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Find where a path's text ends: at the '>' that closes it when bracketed,
 * else at the first space.  Quoted strings are skipped whole, so that a
 * '>' or a space inside quotes does not end the path.  Returns the length of
 * the text and sets *next to the offset after it (after the '>' when
 * bracketed), or returns SIZE_MAX when a bracket or quote is left open.
 */
static size_t
path_span(const char *s, size_t len, int bracketed, size_t *next)
{
	size_t	i;
	int	quoted = 0;

	for (i = 0; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				quoted = 0;
			continue;
		}
		if (s[i] == '"')
			quoted = 1;
		else if (bracketed && s[i] == '>') {
			*next = i + 1;
			return i;
		} else if (!bracketed && s[i] == ' ')
			break;
	}
	if (quoted || bracketed)
		return SIZE_MAX;
	*next = i;
	return i;
}

/* "[1.2.3.4]" or "[IPv6:...]"; general address literals are refused. */
static enum addr_error
check_literal(const char *s, size_t len)
{
	char	buf[LITERAL_MAX];
	struct in6_addr	a6;
	struct in_addr	a4;
	size_t	i;
	int	af = AF_INET;

	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return ADDR_ESYNTAX;
	s++;
	len -= 2;
	if (len >= 5 && lower(s[0]) == 'i' && lower(s[1]) == 'p' &&
	    lower(s[2]) == 'v' && s[3] == '6' && s[4] == ':') {
		af = AF_INET6;
		s += 5;
		len -= 5;
	}
	if (len == 0)
		return ADDR_ESYNTAX;
	if (len >= sizeof(buf))
		return ADDR_ETOOLONG;
	/* inet_pton stops at a NUL; let nothing but address text reach it. */
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != ':')
			return ADDR_ESYNTAX;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (af == AF_INET6)
		return inet_pton(AF_INET6, buf, &a6) == 1 ? ADDR_OK :
		    ADDR_ESYNTAX;
	return inet_pton(AF_INET, buf, &a4) == 1 ? ADDR_OK : ADDR_ESYNTAX;
}

/*
 * A domain: LDH labels joined by single dots, or an address literal.  Any
 * well-formed UTF-8 counts as a letter (U-labels, RFC 6531); *nonascii
 * records that some was seen so the caller can require SMTPUTF8.
 */
static enum addr_error
check_domain(const char *s, size_t len, int *nonascii)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, n, label = 0;
	unsigned char		 prev = '.';

	if (len == 0)
		return ADDR_ESYNTAX;
	if (len > ADDR_DOMAIN_MAX)
		return ADDR_ETOOLONG;
	if (s[0] == '[')
		return check_literal(s, len);
	for (i = 0; i < len; i++) {
		if (u[i] == '.') {
			/* No empty label, and none may end in a hyphen. */
			if (prev == '.' || prev == '-')
				return ADDR_ESYNTAX;
			label = 0;
			prev = '.';
			continue;
		}
		if (u[i] >= 0x80) {
			if ((n = utf8_len(u + i, len - i)) == 0)
				return ADDR_ESYNTAX;
			*nonascii = 1;
			i += n - 1;
			label += n;
			prev = 'a';
		} else if (is_alnum(u[i])) {
			label++;
			prev = u[i];
		} else if (u[i] == '-') {
			if (prev == '.')
				return ADDR_ESYNTAX;
			label++;
			prev = '-';
		} else
			return ADDR_ESYNTAX;
		if (label > 63)
			return ADDR_ETOOLONG;
	}
	if (prev == '.' || prev == '-')
		return ADDR_ESYNTAX;
	return ADDR_OK;
}

/* A dot-atom or a quoted string, exactly len bytes, kept as sent. */
static enum addr_error
check_local(const char *s, size_t len, int *nonascii)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, n;
	int			 dot = 1;

	if (len == 0)
		return ADDR_ESYNTAX;
	if (len > ADDR_LOCAL_MAX)
		return ADDR_ETOOLONG;
	if (u[0] == '"') {
		if (len < 2 || u[len - 1] != '"')
			return ADDR_ESYNTAX;
		for (i = 1; i < len - 1; i++) {
			if (u[i] >= 0x80) {
				if ((n = utf8_len(u + i, len - 1 - i)) == 0)
					return ADDR_ESYNTAX;
				*nonascii = 1;
				i += n - 1;
			} else if (u[i] == '\\') {
				/* quoted-pairSMTP: a backslash and 32..126. */
				if (i + 1 >= len - 1 || u[i + 1] < 32 ||
				    u[i + 1] > 126)
					return ADDR_ESYNTAX;
				i++;
			} else if (u[i] < 32 || u[i] > 126 || u[i] == '"')
				return ADDR_ESYNTAX;
		}
		return ADDR_OK;
	}
	for (i = 0; i < len; i++) {
		if (u[i] == '.') {
			if (dot)
				return ADDR_ESYNTAX;
			dot = 1;
			continue;
		}
		if (u[i] >= 0x80) {
			if ((n = utf8_len(u + i, len - i)) == 0)
				return ADDR_ESYNTAX;
			*nonascii = 1;
			i += n - 1;
		} else if (!is_atext(u[i]))
			return ADDR_ESYNTAX;
		dot = 0;
	}
	return dot ? ADDR_ESYNTAX : ADDR_OK;
}

/*
 * A source route, "@one,@two:", is checked for form and skipped: *off is
 * moved past its colon.
 */
static enum addr_error
skip_route(const char *s, size_t len, size_t *off, int *nonascii)
{
	enum addr_error	e;
	size_t		i = *off, start;

	for (;;) {
		if (i >= len || s[i] != '@')
			return ADDR_ESYNTAX;
		start = ++i;
		if (i < len && s[i] == '[') {
			while (i < len && s[i] != ']')
				i++;
			if (i < len)
				i++;
		} else
			while (i < len && s[i] != ',' && s[i] != ':')
				i++;
		if ((e = check_domain(s + start, i - start, nonascii)) !=
		    ADDR_OK)
			return e;
		if (i >= len)
			return ADDR_ESYNTAX;
		if (s[i] == ':')
			break;
		if (s[i] != ',')
			return ADDR_ESYNTAX;
		i++;
	}
	*off = i + 1;
	return ADDR_OK;
}

/* The text of a path, brackets removed: [route] local@domain, or "". */
static enum addr_error
parse_mailbox(const char *s, size_t len, unsigned flags,
    struct mailaddr *out)
{
	enum addr_error	e;
	size_t		i = 0, llen, dlen;
	int		nonascii = 0;

	if (len == 0)
		return (flags & ADDR_ALLOW_NULL) ? ADDR_OK : ADDR_ENULL;
	if (len > ADDR_PATH_MAX)
		return ADDR_ETOOLONG;
	if (s[0] == '@' && (e = skip_route(s, len, &i, &nonascii)) != ADDR_OK)
		return e;
	s += i;
	len -= i;

	/* The local-part ends at its closing quote or at the first '@'. */
	if (len > 0 && s[0] == '"') {
		for (i = 1; i < len; i++) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				break;
		}
		if (i >= len)
			return ADDR_ESYNTAX;
		llen = i + 1;
	} else {
		for (i = 0; i < len && s[i] != '@'; i++)
			;
		llen = i;
	}
	if ((e = check_local(s, llen, &nonascii)) != ADDR_OK)
		return e;

	if (llen == len) {
		/* RFC 5321 4.1.1.3: "<Postmaster>" alone, in any case. */
		if (!(flags & ADDR_ALLOW_NODOMAIN) || llen != 10 ||
		    strncasecmp(s, "postmaster", 10) != 0)
			return ADDR_ESYNTAX;
		dlen = 0;
	} else {
		if (s[llen] != '@')
			return ADDR_ESYNTAX;
		dlen = len - llen - 1;
		if ((e = check_domain(s + llen + 1, dlen, &nonascii)) !=
		    ADDR_OK)
			return e;
	}
	if (nonascii && !(flags & ADDR_SMTPUTF8))
		return ADDR_EUTF8;

	memcpy(out->local, s, llen);
	out->local[llen] = '\0';
	memcpy(out->domain, s + llen + 1, dlen);
	out->domain[dlen] = '\0';
	return ADDR_OK;
}

enum addr_error
addr_parse_path(const char *s, size_t len, unsigned flags,
    struct mailaddr *out, size_t *end)
{
	struct mailaddr	a;
	enum addr_error	e;
	size_t		i = 0, n, next;
	int		bracketed;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len)
		return ADDR_ESYNTAX;
	bracketed = s[i] == '<';
	if (bracketed)
		i++;
	if ((n = path_span(s + i, len - i, bracketed, &next)) == SIZE_MAX)
		return ADDR_ESYNTAX;
	/* A bare path cannot be empty: "<>" is the only null path. */
	if (!bracketed && n == 0)
		return ADDR_ESYNTAX;

	memset(&a, 0, sizeof(a));
	if ((e = parse_mailbox(s + i, n, flags, &a)) != ADDR_OK)
		return e;
	*out = a;
	*end = i + next;
	return ADDR_OK;
}

int
addr_format(const struct mailaddr *a, char *buf, size_t len)
{
	int	n;

	if (len == 0)
		return -1;
	if (a->domain[0] == '\0')
		n = snprintf(buf, len, "%s", a->local);
	else
		n = snprintf(buf, len, "%s@%s", a->local, a->domain);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

int
addr_valid_domain(const char *s, size_t len, int utf8)
{
	int	nonascii = 0;

	if (check_domain(s, len, &nonascii) != ADDR_OK)
		return 0;
	return (!nonascii || utf8);
}

/*
 * One pass over " KEY[=VALUE]" pairs.  With cb NULL it only checks the
 * syntax, which addr_parse_params does first so that no callback ever acts
 * on a line that turns out to be malformed further on.
 */
static int
scan_params(const char *s, size_t len,
    int (*cb)(void *, const char *, size_t, const char *, size_t), void *arg)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, key, keylen, val, vallen;
	int			 r;

	for (;;) {
		while (i < len && u[i] == ' ')
			i++;
		if (i == len)
			return 0;

		/* esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		key = i;
		if (!is_alnum(u[i]))
			return -1;
		while (i < len && (is_alnum(u[i]) || u[i] == '-'))
			i++;
		keylen = i - key;

		/* esmtp-value: 1*(%d33-60 / %d62-126) */
		val = i;
		vallen = 0;
		if (i < len && u[i] == '=') {
			val = ++i;
			while (i < len && u[i] >= 33 && u[i] <= 126 &&
			    u[i] != '=')
				i++;
			if ((vallen = i - val) == 0)
				return -1;
		}
		if (i < len && u[i] != ' ')
			return -1;

		if (cb != NULL && (r = cb(arg, s + key, keylen,
		    vallen ? s + val : NULL, vallen)) != 0)
			return r;
	}
}

int
addr_parse_params(const char *s, size_t len,
    int (*cb)(void *arg, const char *key, size_t keylen,
    const char *val, size_t vallen), void *arg)
{
	if (scan_params(s, len, NULL, NULL) == -1)
		return -1;
	return scan_params(s, len, cb, arg);
}

int
addr_lower(const char *s, char *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		buf[i] = (char)lower((unsigned char)s[i]);
		if (s[i] == '\0')
			return 0;
	}
	if (len > 0)
		buf[0] = '\0';
	return -1;
}
