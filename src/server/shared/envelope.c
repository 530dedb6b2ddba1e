/*
 * Envelope files: a line-oriented "key value" text format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/shared/envelope.h"
#include "server/shared/spool.h"

static int	field_ok(const char *);
static int	copy_field(char *, size_t, const char *, size_t);
static int	parse_decimal(const char *, size_t, unsigned long long,
		    unsigned long long *);
static int	printable(const char *, size_t);
static int	parse_retry(struct env_rcpt *, const char *, size_t);
static int	parse_error(struct env_rcpt *, const char *, size_t);

/* Stored values may not break the line format. */
static int
field_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			return 0;
	return 1;
}

static int
copy_field(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (len >= dstlen)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* Digits only, at most max. */
static int
parse_decimal(const char *s, size_t len, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long	v = 0;
	size_t			i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (unsigned long long)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
printable(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* "retry ATTEMPTS NEXT-TRY" */
static int
parse_retry(struct env_rcpt *r, const char *val, size_t len)
{
	const char		*sp;
	unsigned long long	 attempts, next;

	if ((sp = memchr(val, ' ', len)) == NULL)
		return -1;
	if (parse_decimal(val, (size_t)(sp - val), 1000000, &attempts) ==
	    -1 || parse_decimal(sp + 1, len - (size_t)(sp - val) - 1,
	    (unsigned long long)INT64_MAX, &next) == -1)
		return -1;
	r->attempts = (unsigned)attempts;
	r->next_try = (time_t)next;
	return 0;
}

/* "error HOST TEXT": HOST has no space ("-" for none). */
static int
parse_error(struct env_rcpt *r, const char *val, size_t len)
{
	const char	*sp;
	size_t		 hlen;

	if (!printable(val, len) || (sp = memchr(val, ' ', len)) == NULL)
		return -1;
	hlen = (size_t)(sp - val);
	if (hlen == 0 || hlen > ENV_HOST_MAX || len - hlen - 1 == 0 ||
	    len - hlen - 1 > ENV_ERROR_MAX)
		return -1;
	if (hlen == 1 && val[0] == '-')
		r->host[0] = '\0';
	else
		copy_field(r->host, sizeof(r->host), val, hlen);
	copy_field(r->error, sizeof(r->error), sp + 1, len - hlen - 1);
	return 0;
}

void
envelope_set_error(struct env_rcpt *r, const char *host, const char *text,
    size_t len)
{
	size_t	i, o = 0;
	char	c;

	for (i = 0; host != NULL && host[i] != '\0' && o < ENV_HOST_MAX;
	    i++) {
		c = host[i];
		r->host[o++] = c > 0x20 && c < 0x7f ? c : '?';
	}
	r->host[o] = '\0';
	for (i = 0, o = 0; i < len && o < ENV_ERROR_MAX; i++) {
		c = text[i];
		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		r->error[o++] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	/* Trailing blanks would not survive the line format's reading. */
	while (o > 0 && r->error[o - 1] == ' ')
		o--;
	if (o == 0 && len > 0)
		r->error[o++] = '?';
	r->error[o] = '\0';
}

size_t
envelope_pending(const struct envelope *env)
{
	size_t	i, n = 0;

	for (i = 0; i < env->nrcpts; i++)
		n += env->rcpts[i].done == RCPT_PENDING;
	return n;
}

int
envelope_add_rcpt(struct envelope *env, const char *addr, int remote)
{
	struct env_rcpt	*r;

	r = reallocarray(env->rcpts, env->nrcpts + 1, sizeof(*r));
	if (r == NULL)
		return -1;
	env->rcpts = r;
	r = &env->rcpts[env->nrcpts];
	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(r->addr, sizeof(r->addr), "%s", addr) >=
	    sizeof(r->addr)) {
		errno = EINVAL;
		return -1;
	}
	r->remote = remote;
	env->nrcpts++;
	return 0;
}

int
envelope_format(const struct envelope *env, char **out, size_t *outlen)
{
	char	*buf = NULL;
	size_t	 len = 0, i;
	FILE	*fp;

	if (!field_ok(env->ip) || !field_ok(env->helo) ||
	    !field_ok(env->auth) || !field_ok(env->from)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++)
		if (!field_ok(env->rcpts[i].addr) ||
		    !printable(env->rcpts[i].host,
		    strlen(env->rcpts[i].host)) ||
		    strchr(env->rcpts[i].host, ' ') != NULL ||
		    !printable(env->rcpts[i].error,
		    strlen(env->rcpts[i].error))) {
			errno = EINVAL;
			return -1;
		}
	if ((fp = open_memstream(&buf, &len)) == NULL)
		return -1;
	fprintf(fp, "v 1\nid %s\ntime %" PRId64 "\nip %s\nhelo %s\n",
	    env->id, (int64_t)env->time, env->ip, env->helo);
	if (env->auth[0] != '\0')
		fprintf(fp, "auth %s\n", env->auth);
	fprintf(fp, "from %s\nbody %s\nsmtputf8 %d\n", env->from,
	    env->body8bit ? "8BITMIME" : "7BIT", env->smtputf8 ? 1 : 0);
	for (i = 0; i < env->nrcpts; i++) {
		const struct env_rcpt	*r = &env->rcpts[i];

		if (r->done != RCPT_PENDING)
			continue;
		fprintf(fp, "%s %s\n", r->remote ? "remote" : "local",
		    r->addr);
		if (r->attempts > 0 || r->next_try > 0)
			fprintf(fp, "retry %u %" PRId64 "\n", r->attempts,
			    (int64_t)(r->next_try > 0 ? r->next_try : 0));
		if (r->error[0] != '\0')
			fprintf(fp, "error %s %s\n", r->host[0] != '\0' ?
			    r->host : "-", r->error);
	}
	if (fclose(fp) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int
envelope_parse(const char *buf, size_t len, struct envelope *env,
    char *err, size_t errlen)
{
	const char	*p = buf, *end = buf + len, *nl, *sp, *val;
	size_t		 keylen, vallen, lineno = 0;
	unsigned long long num;
	int		 version = 0, r = 0, seen_retry = 0, seen_error = 0;

	memset(env, 0, sizeof(*env));
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(err, errlen, "line %zu: no newline", lineno);
			goto fail;
		}
		/* A NUL would cut a field short when it is written back. */
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			snprintf(err, errlen, "line %zu: NUL", lineno);
			goto fail;
		}
		sp = memchr(p, ' ', (size_t)(nl - p));
		keylen = sp ? (size_t)(sp - p) : (size_t)(nl - p);
		val = sp ? sp + 1 : nl;
		vallen = (size_t)(nl - val);
#define KEY(k)	(keylen == sizeof(k) - 1 && memcmp(p, k, keylen) == 0)
		if (KEY("v")) {
			version = vallen == 1 && *val == '1';
			r = version ? 0 : -1;
		} else if (KEY("id")) {
			r = spool_valid_id(val, vallen) ?
			    copy_field(env->id, sizeof(env->id), val, vallen) :
			    -1;
		} else if (KEY("time")) {
			r = parse_decimal(val, vallen,
			    (unsigned long long)INT64_MAX, &num);
			if (r == 0)
				env->time = (time_t)num;
		} else if (KEY("ip"))
			r = copy_field(env->ip, sizeof(env->ip), val, vallen);
		else if (KEY("helo"))
			r = copy_field(env->helo, sizeof(env->helo), val,
			    vallen);
		else if (KEY("auth"))
			r = copy_field(env->auth, sizeof(env->auth), val,
			    vallen);
		else if (KEY("from"))
			r = copy_field(env->from, sizeof(env->from), val,
			    vallen);
		else if (KEY("body"))
			env->body8bit = vallen == 8 &&
			    memcmp(val, "8BITMIME", 8) == 0;
		else if (KEY("smtputf8"))
			env->smtputf8 = vallen == 1 && *val == '1';
		else if (KEY("local") || KEY("remote")) {
			char	addr[ADDR_PATH_MAX + 1];

			r = copy_field(addr, sizeof(addr), val, vallen);
			if (r == 0)
				r = envelope_add_rcpt(env, addr, KEY("remote"));
			seen_retry = seen_error = 0;
		} else if (KEY("retry")) {
			/* State lines belong to the recipient above them. */
			r = env->nrcpts == 0 || seen_retry ? -1 :
			    parse_retry(&env->rcpts[env->nrcpts - 1], val,
			    vallen);
			seen_retry = 1;
		} else if (KEY("error")) {
			r = env->nrcpts == 0 || seen_error ? -1 :
			    parse_error(&env->rcpts[env->nrcpts - 1], val,
			    vallen);
			seen_error = 1;
		} else
			r = -1;
#undef KEY
		if (r == -1) {
			snprintf(err, errlen, "line %zu: bad field", lineno);
			goto fail;
		}
		p = nl + 1;
	}
	if (!version || env->id[0] == '\0') {
		snprintf(err, errlen, "missing version or id");
		goto fail;
	}
	return 0;
fail:
	envelope_free(env);
	return -1;
}

void
envelope_free(struct envelope *env)
{
	free(env->rcpts);
	env->rcpts = NULL;
	env->nrcpts = 0;
}
