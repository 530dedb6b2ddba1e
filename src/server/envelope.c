/*
 * Envelope files: a line-oriented "key value" text format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/envelope.h"

static int	field_ok(const char *);
static int	copy_field(char *, size_t, const char *, size_t);

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

int
envelope_add_rcpt(struct envelope *env, const char *addr, int remote)
{
	struct env_rcpt	*r;

	r = reallocarray(env->rcpts, env->nrcpts + 1, sizeof(*r));
	if (r == NULL)
		return -1;
	env->rcpts = r;
	r = &env->rcpts[env->nrcpts];
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
		if (!field_ok(env->rcpts[i].addr)) {
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
	for (i = 0; i < env->nrcpts; i++)
		fprintf(fp, "%s %s\n", env->rcpts[i].remote ? "remote" :
		    "local", env->rcpts[i].addr);
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
	char		 tmp[32];
	int		 version = 0, r = 0;

	memset(env, 0, sizeof(*env));
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			snprintf(err, errlen, "line %zu: no newline", lineno);
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
			r = vallen == SPOOL_ID_LEN ? copy_field(env->id,
			    sizeof(env->id), val, vallen) : -1;
		} else if (KEY("time")) {
			r = copy_field(tmp, sizeof(tmp), val, vallen);
			if (r == 0)
				env->time = (time_t)strtoll(tmp, NULL, 10);
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
