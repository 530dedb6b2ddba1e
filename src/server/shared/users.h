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
/* The same from text already read (name for messages); -1 out of memory. */
int	users_load_text(const char *name, const char *text, size_t len,
	    struct userset *, size_t *nbad, void (*warn)(const char *),
	    char *err, size_t errlen);

/*
 * Read the whole file at path into a new buffer (*text, *len octets, plus
 * a NUL that *len does not count).  It holds password hashes: wipe it
 * (explicit_bzero) before free.  Returns 0, or -1 with "FILE: reason" in
 * err.
 */
int	users_read(const char *path, char **text, size_t *len, char *err,
	    size_t errlen);

/*
 * The one parser of the users file format.  For each valid line, call
 * cb with the address (lower-cased), the hash (the rest of the line, as
 * written) and the line number; a callback returning -1 stops the parse,
 * which then returns -1.  Comments ('#') and empty lines are skipped; a
 * malformed line is reported through warn as "NAME:LINE: reason", counted
 * in *nbad and skipped.  A line whose hash is empty or of a method or salt
 * crypt(3) does not know (a cheap check, no hashing: "*" and "!" locks
 * too) is reported and counted the same way, but still handed to cb: that
 * user receives local mail and cannot log in.  Returns 0.  The line
 * buffer passed to cb (and with it the hash) is wiped after each call.
 */
int	users_parse(const char *name, const char *text, size_t len,
	    int (*cb)(void *arg, const char *addr, const char *hash,
	    size_t lineno), void *arg, size_t *nbad,
	    void (*warn)(const char *));
/*
 * The thorough check of smtpauthd -n: each hash that users_parse() lets
 * through is tried with crypt(3) on a made-up password, which also finds
 * hashes no password can match (truncated or mangled); this costs one
 * slow hash per user.  Each is reported through warn as "NAME:LINE: ADDR:
 * reason".  Returns their number, or -1 out of memory.
 */
int	users_check_hashes(const char *name, const char *text, size_t len,
	    void (*warn)(const char *));
int	users_contains(const struct userset *, const char *addr);
void	users_free(struct userset *);

#endif
