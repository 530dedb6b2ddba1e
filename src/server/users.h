/*
 * The addresses of the users file (DESIGN.md "users FILE").  Only the
 * address column is kept here: the password hashes stay in the auth
 * process, so no process that talks to clients ever holds one.
 */
#ifndef SMTPAUTHD_USERS_H
#define SMTPAUTHD_USERS_H

#include <stddef.h>

struct userset {
	char	**addrs;	/* "local@domain", lower-cased, sorted */
	size_t	  n;
};

/*
 * Read path.  A malformed line is reported through warn ("FILE:LINE:
 * reason") and skipped, so one bad line does not take the others down;
 * *nbad counts them.  Returns 0, or -1 when the file cannot be read (err
 * holds "FILE: reason").
 */
int	users_load(const char *path, struct userset *, size_t *nbad,
	    void (*warn)(const char *), char *err, size_t errlen);
int	users_contains(const struct userset *, const char *addr);
void	users_free(struct userset *);

#endif
