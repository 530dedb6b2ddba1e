/*
 * Loading the addresses of the users file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "server/users.h"

static int	users_cmp(const void *, const void *);
static int	valid_local(const char *, size_t);

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

int
users_load(const char *path, struct userset *us, size_t *nbad,
    void (*warn)(const char *), char *err, size_t errlen)
{
	FILE		*fp;
	char		*line = NULL, *colon, *at, **grown;
	char		 msg[512], addr[ADDR_PATH_MAX + 1];
	size_t		 cap = 0, lineno = 0, alloc = 0, len, i, j;
	ssize_t		 n;
	const char	*why;

	us->addrs = NULL;
	us->n = 0;
	*nbad = 0;
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		len = (size_t)n;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		why = NULL;
		if ((colon = memchr(line, ':', len)) == NULL)
			why = "expected address:hash";
		else if (colon - line > ADDR_PATH_MAX)
			why = "address too long";
		else {
			*colon = '\0';
			at = strrchr(line, '@');
			if (at == NULL || !valid_local(line,
			    (size_t)(at - line)))
				why = "bad local part";
			else if (!addr_valid_domain(at + 1, strlen(at + 1), 1))
				why = "bad domain";
			else if (addr_lower(line, addr, sizeof(addr)) == -1)
				why = "address too long";
		}
		if (why != NULL) {
			snprintf(msg, sizeof(msg), "%s:%zu: %s", path, lineno,
			    why);
			if (warn)
				warn(msg);
			(*nbad)++;
			continue;
		}
		if (us->n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			grown = reallocarray(us->addrs, alloc, sizeof(char *));
			if (grown == NULL)
				goto nomem;
			us->addrs = grown;
		}
		if ((us->addrs[us->n] = strdup(addr)) == NULL)
			goto nomem;
		us->n++;
	}
	/* The lines held password hashes. */
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(fp);
		users_free(us);
		return -1;
	}
	fclose(fp);
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
nomem:
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	users_free(us);
	snprintf(err, errlen, "%s: out of memory", path);
	return -1;
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
