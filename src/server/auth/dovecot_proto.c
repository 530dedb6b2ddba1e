/*
 * The line parser of Dovecot's auth-client protocol (dovecot_proto.h).
 * Every field is taken with its length: the line is not NUL-terminated
 * and a NUL inside it makes it malformed.
 */
#include <stdint.h>
#include <string.h>

#include "server/auth/dovecot_proto.h"

#define MAX_FIELDS	64	/* more are ignored */

struct field {
	const char	*p;
	size_t		 len;
};

static size_t	split(const char *, size_t, struct field *, size_t);
static size_t	start(const char *, size_t, struct dvc_line *,
		    struct field *);
static int	is(const struct field *, const char *);
static int	number(const struct field *, uint32_t, uint32_t *);
static int	prefixed(const struct field *, const char *, const char **,
		    size_t *);

/* Fields at TABs; at most max of them, the last holding the rest. */
static size_t
split(const char *s, size_t len, struct field *f, size_t max)
{
	const char	*tab, *end = s + len;
	size_t		 n = 0;

	while (n < max - 1 && (tab = memchr(s, '\t', (size_t)(end - s))) !=
	    NULL) {
		f[n].p = s;
		f[n].len = (size_t)(tab - s);
		n++;
		s = tab + 1;
	}
	f[n].p = s;
	f[n].len = (size_t)(end - s);
	return n + 1;
}

static int
is(const struct field *f, const char *word)
{
	size_t	l = strlen(word);

	return f->len == l && memcmp(f->p, word, l) == 0;
}

/* A decimal number in [0, max] without sign or leading zeros. */
static int
number(const struct field *f, uint32_t max, uint32_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (f->len == 0 || f->len > 10 || (f->len > 1 && f->p[0] == '0'))
		return -1;
	for (i = 0; i < f->len; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(f->p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* A field "key=value": the value, into the line. */
static int
prefixed(const struct field *f, const char *key, const char **v, size_t *vlen)
{
	size_t	l = strlen(key);

	if (f->len < l || memcmp(f->p, key, l) != 0)
		return 0;
	*v = f->p + l;
	*vlen = f->len - l;
	return 1;
}

/*
 * Both parsers begin here: out cleared and DVC_BAD, then the line's
 * fields into f (MAX_FIELDS).  Their number, or 0 when the line is
 * malformed as a whole (too long, a NUL or a CR in it).
 */
static size_t
start(const char *line, size_t len, struct dvc_line *out, struct field *f)
{
	memset(out, 0, sizeof(*out));
	out->kind = DVC_BAD;
	if (len > DVC_LINE_MAX || memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL)
		return 0;
	return split(line, len, f, MAX_FIELDS);
}

int
dvc_frame(const char *buf, size_t len, size_t *linelen)
{
	const char	*lf;
	size_t		 n = len < DVC_LINE_MAX + 1 ? len : DVC_LINE_MAX + 1;

	if ((lf = memchr(buf, '\n', n)) != NULL) {
		*linelen = (size_t)(lf - buf);
		return 1;
	}
	return len > DVC_LINE_MAX ? -1 : 0;
}

enum dvc_kind
dvc_parse(const char *line, size_t len, struct dvc_line *out)
{
	struct field	f[MAX_FIELDS];
	size_t		n, i;
	uint32_t	v;

	if ((n = start(line, len, out, f)) == 0)
		return out->kind;

	if (is(&f[0], "VERSION")) {
		if (n < 3 || number(&f[1], UINT32_MAX, &v) == -1)
			return out->kind;
		out->major = v;
		if (number(&f[2], UINT32_MAX, &v) == -1)
			return out->kind;
		out->minor = v;
		return out->kind = DVC_VERSION;
	}
	if (is(&f[0], "MECH")) {
		if (n < 2 || f[1].len == 0 || f[1].len >= sizeof(out->mech))
			return out->kind;
		memcpy(out->mech, f[1].p, f[1].len);
		for (i = 2; i < n; i++) {
			if (is(&f[i], "plaintext"))
				out->plaintext = 1;
			else if (is(&f[i], "anonymous") ||
			    is(&f[i], "private"))
				out->private_ = 1;
		}
		return out->kind = DVC_MECH;
	}
	if (is(&f[0], "DONE"))
		return out->kind = DVC_DONE;
	if (is(&f[0], "OK") || is(&f[0], "FAIL") || is(&f[0], "CONT")) {
		if (n < 2 || number(&f[1], UINT32_MAX, &v) == -1 || v == 0)
			return out->kind;
		out->id = v;
		if (f[0].p[0] == 'C') {
			/* "CONT id data": the data may be empty. */
			if (n >= 3) {
				out->data = f[2].p;
				out->datalen = f[2].len;
			} else
				out->data = f[1].p + f[1].len;
			out->have_data = 1;
			return out->kind = DVC_CONT;
		}
		for (i = 2; i < n; i++) {
			if (prefixed(&f[i], "user=", &out->user,
			    &out->userlen))
				continue;
			if (f[0].p[0] == 'O' && prefixed(&f[i], "resp=",
			    &out->data, &out->datalen))
				out->have_data = 1;
		}
		if (f[0].p[0] == 'O')
			return out->kind = DVC_OK;
		/* 2.2/2.3 say "temp"; 2.3 also "code=temp_fail". */
		for (i = 2; i < n; i++)
			if (is(&f[i], "temp") || is(&f[i], "code=temp_fail"))
				out->temp = 1;
		return out->kind = DVC_FAIL;
	}
	return out->kind = DVC_IGNORE;
}

enum dvc_kind
dvc_parse_master(const char *line, size_t len, struct dvc_line *out)
{
	struct field	f[MAX_FIELDS];
	size_t		n;
	uint32_t	v;

	if ((n = start(line, len, out, f)) == 0)
		return out->kind;
	if (is(&f[0], "VERSION"))
		return dvc_parse(line, len, out);
	if (!is(&f[0], "USER") && !is(&f[0], "NOTFOUND") &&
	    !is(&f[0], "FAIL"))
		return out->kind = DVC_IGNORE;
	if (n < 2 || number(&f[1], UINT32_MAX, &v) == -1 || v == 0)
		return out->kind;
	out->id = v;
	switch (f[0].p[0]) {
	case 'U':
		/* "USER id name [fields]": the name is the userdb's. */
		if (n < 3 || f[2].len == 0)
			return out->kind;
		out->user = f[2].p;
		out->userlen = f[2].len;
		return out->kind = DVC_USER;
	case 'N':
		return out->kind = DVC_NOTFOUND;
	default:
		out->temp = 1;
		return out->kind = DVC_FAIL;
	}
}
