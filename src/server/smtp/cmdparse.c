/*
 * SMTP command lines: the verb, and the arguments of MAIL, RCPT and BDAT.
 *
 * Every reply this file can produce is a string literal below, so the
 * session never formats client text into a reply.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "server/smtp/cmdparse.h"
#include "server/smtp/replies.h"

/* MAIL parameters seen so far, to refuse a repeated one. */
#define SEEN_SIZE	0x01
#define SEEN_BODY	0x02
#define SEEN_SMTPUTF8	0x04
#define SEEN_AUTH	0x08

struct mail_ctx {
	struct mail_args	*m;
	unsigned		 seen;
	const char		*reply;
};

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO",	VERB_HELO },
	{ "EHLO",	VERB_EHLO },
	{ "MAIL",	VERB_MAIL },
	{ "RCPT",	VERB_RCPT },
	{ "DATA",	VERB_DATA },
	{ "BDAT",	VERB_BDAT },
	{ "RSET",	VERB_RSET },
	{ "NOOP",	VERB_NOOP },
	{ "QUIT",	VERB_QUIT },
	{ "VRFY",	VERB_VRFY },
	{ "EXPN",	VERB_EXPN },
	{ "HELP",	VERB_HELP },
	{ "STARTTLS",	VERB_STARTTLS },
	{ "AUTH",	VERB_AUTH },
	/*
	 * HTTP methods: a browser talked into POSTing to an SMTP port
	 * (cross-protocol attacks, ALPACA) is cut off at the first line.
	 */
	{ "GET",	VERB_HTTP },
	{ "POST",	VERB_HTTP },
	{ "HEAD",	VERB_HTTP },
	{ "PUT",	VERB_HTTP },
	{ "DELETE",	VERB_HTTP },
	{ "OPTIONS",	VERB_HTTP },
	{ "CONNECT",	VERB_HTTP },
	{ "PATCH",	VERB_HTTP },
	{ "TRACE",	VERB_HTTP },
};

static const char *const verb_names[VERB_COUNT] = {
	[VERB_UNKNOWN] = "UNKNOWN",
	[VERB_HELO] = "HELO",
	[VERB_EHLO] = "EHLO",
	[VERB_MAIL] = "MAIL",
	[VERB_RCPT] = "RCPT",
	[VERB_DATA] = "DATA",
	[VERB_BDAT] = "BDAT",
	[VERB_RSET] = "RSET",
	[VERB_NOOP] = "NOOP",
	[VERB_QUIT] = "QUIT",
	[VERB_VRFY] = "VRFY",
	[VERB_EXPN] = "EXPN",
	[VERB_HELP] = "HELP",
	[VERB_STARTTLS] = "STARTTLS",
	[VERB_AUTH] = "AUTH",
	[VERB_HTTP] = "HTTP",
};

static int	has_prefix(const char *, size_t, const char *);
static int	hexval(char);
static int	key_is(const char *, size_t, const char *);
static int	parse_u64(const char *, size_t, uint64_t *);
static int	xtext_decode(const char *, size_t, char *, size_t);
static int	mail_param(void *, const char *, size_t, const char *, size_t);
static int	rcpt_param(void *, const char *, size_t, const char *, size_t);

/* Does s (len bytes) start with p, compared without case? */
static int
has_prefix(const char *s, size_t len, const char *p)
{
	size_t	n = strlen(p);

	return (len >= n && strncasecmp(s, p, n) == 0);
}

static int
key_is(const char *key, size_t keylen, const char *name)
{
	return (keylen == strlen(name) &&
	    strncasecmp(key, name, keylen) == 0);
}

/* Decimal digits only, at most 20 of them, overflow refused. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	*out = v;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	/* RFC 3461 wants upper case; lower case is accepted as harmless. */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * RFC 3461 4 xtext: "+XX" is the octet XX.  The decoded text becomes a
 * mailbox in our logs and headers, so control characters are refused even
 * when written as "+XX".
 */
static int
xtext_decode(const char *s, size_t len, char *buf, size_t size)
{
	size_t	i, o = 0;
	int	hi, lo;
	unsigned char	c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '+') {
			if (len - i < 3)
				return -1;
			if ((hi = hexval(s[i + 1])) == -1 ||
			    (lo = hexval(s[i + 2])) == -1)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c < 0x20 || c == 0x7f)
				return -1;
		} else if (c < 33 || c > 126 || c == '=')
			return -1;
		if (o + 1 >= size)
			return -1;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return 0;
}

static int
mail_param(void *arg, const char *key, size_t keylen, const char *val,
    size_t vallen)
{
	struct mail_ctx		*ctx = arg;
	struct mail_args	*m = ctx->m;
	unsigned		 bit;

	if (key_is(key, keylen, "SIZE"))
		bit = SEEN_SIZE;
	else if (key_is(key, keylen, "BODY"))
		bit = SEEN_BODY;
	else if (key_is(key, keylen, "SMTPUTF8"))
		bit = SEEN_SMTPUTF8;
	else if (key_is(key, keylen, "AUTH"))
		bit = SEEN_AUTH;
	else {
		ctx->reply = R_PARAM_UNKNOWN;
		return 1;
	}
	if (ctx->seen & bit) {
		ctx->reply = R_PARAM_DUP;
		return 1;
	}
	ctx->seen |= bit;

	switch (bit) {
	case SEEN_SIZE:
		if (parse_u64(val, vallen, &m->size) == -1) {
			ctx->reply = R_BAD_SIZE;
			return 1;
		}
		m->has_size = 1;
		break;
	case SEEN_BODY:
		if (key_is(val, vallen, "7BIT"))
			m->body = BODY_7BIT;
		else if (key_is(val, vallen, "8BITMIME"))
			m->body = BODY_8BITMIME;
		else {
			ctx->reply = R_BAD_BODY;
			return 1;
		}
		break;
	case SEEN_SMTPUTF8:
		if (vallen != 0) {
			ctx->reply = R_BAD_SMTPUTF8;
			return 1;
		}
		m->smtputf8 = 1;
		break;
	case SEEN_AUTH:
		if (vallen == 0 ||
		    xtext_decode(val, vallen, m->auth, sizeof(m->auth)) == -1) {
			m->auth[0] = '\0';
			ctx->reply = R_BAD_AUTH_PARAM;
			return 1;
		}
		m->has_auth = 1;
		break;
	}
	return 0;
}

/* RCPT takes no parameters at all. */
static int
rcpt_param(void *arg, const char *key, size_t keylen, const char *val,
    size_t vallen)
{
	return 1;
}

int
cmdparse_line(const char *line, size_t len, struct smtp_command *cmd)
{
	size_t	i, w;

	cmd->verb = VERB_UNKNOWN;
	cmd->args = line + len;
	cmd->argslen = 0;
	if (len == 0)
		return -1;
	/* A NUL has no business in a command; nothing after it is trusted. */
	if (memchr(line, '\0', len) != NULL)
		return 0;
	if (has_prefix(line, len, "Host:") ||
	    has_prefix(line, len, "User-Agent:")) {
		cmd->verb = VERB_HTTP;
		return 0;
	}

	for (w = 0; w < len && line[w] != ' '; w++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (key_is(line, w, verbs[i].name)) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}
	if (w < len) {
		cmd->args = line + w + 1;
		cmd->argslen = len - w - 1;
		while (cmd->argslen > 0 && cmd->args[cmd->argslen - 1] == ' ')
			cmd->argslen--;
	}
	return 0;
}

const char *
cmdparse_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= VERB_COUNT)
		return "UNKNOWN";
	return verb_names[v];
}

int
cmdparse_mail(const char *args, size_t len, struct mail_args *m,
    struct cmd_error *err)
{
	struct mail_ctx	ctx;
	struct mailaddr	a;
	enum addr_error	e;
	size_t		i = 0, end;
	unsigned	flags = ADDR_ALLOW_NULL | ADDR_SMTPUTF8;
	int		r;

	memset(m, 0, sizeof(*m));
	err->reply = NULL;

	/* Some clients send "MAIL  FROM:"; one space too many is harmless. */
	while (i < len && args[i] == ' ')
		i++;
	if (!has_prefix(args + i, len - i, "FROM:")) {
		err->reply = R_MAIL_SYNTAX;
		return -1;
	}
	args += i + 5;
	len -= i + 5;

	/*
	 * SMTPUTF8 comes after the path, so the path is first read with UTF-8
	 * allowed, only to find where it ends; it is checked again once the
	 * parameters are known.
	 */
	if ((e = addr_parse_path(args, len, flags, &a, &end)) != ADDR_OK ||
	    (end < len && args[end] != ' ')) {
		err->reply = R_BAD_SENDER;
		return -1;
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.m = m;
	if ((r = addr_parse_params(args + end, len - end, mail_param,
	    &ctx)) != 0) {
		err->reply = r == -1 ? R_PARAM_SYNTAX : ctx.reply;
		return -1;
	}

	if (!m->smtputf8)
		flags &= ~ADDR_SMTPUTF8;
	if ((e = addr_parse_path(args, len, flags, &m->from, &end)) !=
	    ADDR_OK) {
		err->reply = e == ADDR_EUTF8 ? R_NEED_SMTPUTF8 :
		    R_BAD_SENDER;
		return -1;
	}
	return 0;
}

int
cmdparse_rcpt(const char *args, size_t len, int smtputf8,
    struct rcpt_args *r, struct cmd_error *err)
{
	enum addr_error	e;
	size_t		i = 0, end;
	unsigned	flags = ADDR_ALLOW_NODOMAIN;

	memset(r, 0, sizeof(*r));
	err->reply = NULL;

	while (i < len && args[i] == ' ')
		i++;
	if (!has_prefix(args + i, len - i, "TO:")) {
		err->reply = R_RCPT_SYNTAX;
		return -1;
	}
	args += i + 3;
	len -= i + 3;

	if (smtputf8)
		flags |= ADDR_SMTPUTF8;
	e = addr_parse_path(args, len, flags, &r->to, &end);
	if (e == ADDR_OK && end < len && args[end] != ' ')
		e = ADDR_ESYNTAX;
	if (e != ADDR_OK) {
		memset(r, 0, sizeof(*r));
		err->reply = e == ADDR_EUTF8 ? R_NEED_SMTPUTF8 : R_BAD_RCPT;
		return -1;
	}

	switch (addr_parse_params(args + end, len - end, rcpt_param, NULL)) {
	case 0:
		return 0;
	case -1:
		err->reply = R_PARAM_SYNTAX;
		break;
	default:
		err->reply = R_PARAM_UNKNOWN;
		break;
	}
	memset(r, 0, sizeof(*r));
	return -1;
}

int
cmdparse_bdat(const char *args, size_t len, uint64_t *size, int *last)
{
	size_t	i = 0, n;

	while (i < len && args[i] == ' ')
		i++;
	for (n = i; n < len && args[n] >= '0' && args[n] <= '9'; n++)
		;
	if (parse_u64(args + i, n - i, size) == -1)
		return -1;
	*last = 0;
	if (n == len)
		return 0;
	if (args[n] != ' ')
		return -1;
	while (n < len && args[n] == ' ')
		n++;
	if (len - n < 4 || strncasecmp(args + n, "LAST", 4) != 0)
		return -1;
	for (n += 4; n < len; n++)
		if (args[n] != ' ')
			return -1;
	*last = 1;
	return 0;
}
