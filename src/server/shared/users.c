/*
 * The users file: one parser for the parent (addresses only) and the auth
 * process (addresses and hashes).
 */
#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/scram.h"
#include "server/shared/users.h"

static int	users_cmp(const void *, const void *);
static int	valid_local(const char *, size_t);
static int	users_add(void *, const char *, const char *, size_t);
static const char *hash_unusable(const char *);
static void	unusable(const char *, size_t, const char *, const char *,
		    size_t *, void (*)(const char *));
static int	hash_try(void *, const char *, const char *, size_t);

static int
users_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A local part that can name a directory safely: a dot-atom (no quotes, no
 * '/', no leading, trailing or double dot).  Bytes over 0x7f are allowed
 * for internationalised addresses.
 */
static int
valid_local(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > ADDR_LOCAL_MAX || s[0] == '.' ||
	    s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' && s[i + 1] == '.')
			return 0;
		if (isalnum(c) || c >= 0x80 || c == '.' ||
		    strchr("!#$%&'*+-=?^_`{|}~", c) != NULL)
			continue;
		return 0;
	}
	return 1;
}

/*
 * The cheap check of a hash, for every load: empty, or a method or salt
 * crypt(3) does not know ("*" and "!" locks included).  NULL when it may
 * be usable.
 */
static const char *
hash_unusable(const char *hash)
{
	int	check;

	struct scram_stored	st;

	if (hash[0] == '\0')
		return "empty hash";
	if (scram_is_stored(hash))
		return scram_parse(hash, &st) == 0 ? NULL :
		    "malformed SCRAM-SHA-256 keys";
	check = crypt_checksalt(hash);
	if (check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY)
		return NULL;
#ifdef CRYPT_SALT_TOO_CHEAP
	if (check == CRYPT_SALT_TOO_CHEAP)
		return NULL;
#endif
	return "hash not usable by crypt(3)";
}

/*
 * A line whose hash cannot be used is reported and counted, but the user
 * stays: the address still receives local mail, and the auth process
 * refuses its logins (reason=unusable-hash), as for a locked account.
 */
static void
unusable(const char *name, size_t lineno, const char *addr,
    const char *hash, size_t *nbad, void (*warn)(const char *))
{
	const char	*why;
	char		 msg[512];

	if ((why = hash_unusable(hash)) == NULL)
		return;
	(void)snprintf(msg, sizeof(msg), "%s:%zu: %s: %s, this user cannot "
	    "log in", name, lineno, addr, why);
	if (warn != NULL)
		warn(msg);
	(*nbad)++;
}

/* A users line: an address (at most 256), ':', a crypt hash (~60-130). */
#define USERS_LINE_MAX	1024

int
users_parse(const char *name, const char *text, size_t len,
    int (*cb)(void *, const char *, const char *, size_t), void *arg,
    size_t *nbad, void (*warn)(const char *))
{
	char		 line[USERS_LINE_MAX + 1], addr[ADDR_PATH_MAX + 1];
	char		 msg[512], *colon, *at;
	const char	*p = text, *end = text != NULL ? text + len : NULL;
	const char	*nl, *why;
	size_t		 lineno = 0, n;
	int		 rc = 0;

	*nbad = 0;
	if (text == NULL)
		return 0;
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		why = NULL;
		if (n > USERS_LINE_MAX)
			why = "line too long";
		else {
			memcpy(line, p, n);
			line[n] = '\0';
		}
		p = nl < end ? nl + 1 : end;
		if (why == NULL) {
			while (n > 0 && line[n - 1] == '\r')
				line[--n] = '\0';
			if (n == 0 || line[0] == '#')
				continue;
			if (memchr(line, '\0', n) != NULL)
				why = "NUL byte in line";
			else if ((colon = memchr(line, ':', n)) == NULL)
				why = "expected address:hash";
			else if (colon - line > ADDR_PATH_MAX)
				why = "address too long";
			else {
				*colon = '\0';
				at = strrchr(line, '@');
				if (at == NULL || !valid_local(line,
				    (size_t)(at - line)))
					why = "bad local part";
				else if (!addr_valid_domain(at + 1,
				    strlen(at + 1), 1))
					why = "bad domain";
				else if (addr_lower(line, addr,
				    sizeof(addr)) == -1)
					why = "address too long";
				else {
					unusable(name, lineno, addr, colon +
					    1, nbad, warn);
					if (cb(arg, addr, colon + 1,
					    lineno) == -1) {
						rc = -1;
						break;
					}
				}
			}
		}
		if (why != NULL) {
			snprintf(msg, sizeof(msg), "%s:%zu: %s", name, lineno,
			    why);
			if (warn)
				warn(msg);
			(*nbad)++;
		}
	}
	/* The line held a password hash. */
	explicit_bzero(line, sizeof(line));
	return rc;
}

int
users_read(const char *path, char **text, size_t *len, char *err,
    size_t errlen)
{
	char	*buf = NULL, *grown;
	size_t	 cap = 0, used = 0;
	ssize_t	 n;
	int	 fd;

	*text = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - used < 4096 + 1) {
			/* Grow by copying, so no unwiped copy is left. */
			if (cap > SIZE_MAX / 2 - 8192 ||
			    (grown = malloc(cap * 2 + 8192)) == NULL) {
				snprintf(err, errlen, "%s: out of memory",
				    path);
				goto fail;
			}
			if (buf != NULL) {
				memcpy(grown, buf, used);
				explicit_bzero(buf, cap);
				free(buf);
			}
			buf = grown;
			cap = cap * 2 + 8192;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: read error: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	*text = buf;
	*len = used;
	return 0;
fail:
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	close(fd);
	return -1;
}

struct try_ctx {
	const char	*name;
	void		(*warn)(const char *);
	size_t		 nbad;
	int		 oom;
};

/*
 * Hash a made-up password with the line's hash as the setting: crypt(3)
 * fails ("*"), or gives a result of another length, for a hash that no
 * password can ever match (a truncated or mangled one).
 */
static int
hash_try(void *arg, const char *addr, const char *hash, size_t lineno)
{
	struct try_ctx		*ctx = arg;
	struct crypt_data	*cd;
	const char		*out;
	char			 msg[512];
	int			 bad;

	/* users_parse() reported these; SCRAM keys are checked whole. */
	if (hash_unusable(hash) != NULL || scram_is_stored(hash))
		return 0;
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		ctx->oom = 1;
		return -1;
	}
	out = crypt_r("smtpauthd -n probe", hash, cd);
	bad = out == NULL || out[0] == '*' || strlen(out) != strlen(hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (bad) {
		(void)snprintf(msg, sizeof(msg), "%s:%zu: %s: hash not usable "
		    "by crypt(3) (no password can match it), this user cannot "
		    "log in", ctx->name, lineno, addr);
		if (ctx->warn != NULL)
			ctx->warn(msg);
		ctx->nbad++;
	}
	return 0;
}

int
users_check_hashes(const char *name, const char *text, size_t len,
    void (*warn)(const char *))
{
	struct try_ctx	ctx;
	size_t		nbad;

	ctx.name = name;
	ctx.warn = warn;
	ctx.nbad = 0;
	ctx.oom = 0;
	/* Malformed lines were reported by the load before: not again. */
	if (users_parse(name, text, len, hash_try, &ctx, &nbad, NULL) == -1 &&
	    ctx.oom)
		return -1;
	return ctx.nbad > INT32_MAX ? INT32_MAX : (int)ctx.nbad;
}

struct load_ctx {
	struct userset	*us;
	size_t		 alloc;
};

static int
users_add(void *arg, const char *addr, const char *hash, size_t lineno)
{
	struct load_ctx	 *ctx = arg;
	struct userset	 *us = ctx->us;
	char		**grown;

	if (us->n == ctx->alloc) {
		ctx->alloc = ctx->alloc ? ctx->alloc * 2 : 16;
		grown = reallocarray(us->addrs, ctx->alloc, sizeof(char *));
		if (grown == NULL)
			return -1;
		us->addrs = grown;
	}
	if ((us->addrs[us->n] = strdup(addr)) == NULL)
		return -1;
	us->n++;
	return 0;
}

int
users_load_text(const char *name, const char *text, size_t len,
    struct userset *us, size_t *nbad, void (*warn)(const char *),
    char *err, size_t errlen)
{
	struct load_ctx	ctx;
	size_t		i, j;

	us->addrs = NULL;
	us->n = 0;
	ctx.us = us;
	ctx.alloc = 0;
	if (users_parse(name, text, len, users_add, &ctx, nbad,
	    warn) == -1) {
		users_free(us);
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	if (us->n > 0)
		qsort(us->addrs, us->n, sizeof(char *), users_cmp);
	/* Drop duplicates: the first line of an address wins for auth. */
	for (i = j = 0; i < us->n; i++) {
		if (j > 0 && strcmp(us->addrs[j - 1], us->addrs[i]) == 0) {
			free(us->addrs[i]);
			continue;
		}
		us->addrs[j++] = us->addrs[i];
	}
	us->n = j;
	return 0;
}

int
users_load(const char *path, struct userset *us, size_t *nbad,
    void (*warn)(const char *), char *err, size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 rc;

	us->addrs = NULL;
	us->n = 0;
	*nbad = 0;
	if (users_read(path, &text, &len, err, errlen) == -1)
		return -1;
	rc = users_load_text(path, text, len, us, nbad, warn, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

int
users_contains(const struct userset *us, const char *addr)
{
	char	lower[ADDR_PATH_MAX + 1];
	char	*key = lower;

	if (addr_lower(addr, lower, sizeof(lower)) == -1)
		return 0;
	return us->n > 0 && bsearch(&key, us->addrs, us->n, sizeof(char *),
	    users_cmp) != NULL;
}

void
users_free(struct userset *us)
{
	size_t	i;

	for (i = 0; i < us->n; i++)
		free(us->addrs[i]);
	free(us->addrs);
	us->addrs = NULL;
	us->n = 0;
}
