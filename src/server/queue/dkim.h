/*
 * DKIM signing (RFC 6376) of relayed mail, in the queue process: the
 * keys of the dkim-sign lines, read while the queue is still root
 * (queue_prepare()), and the signature of a spooled message, made on a
 * pool thread when its envelope is loaded (INTERNALS.md, "DKIM").
 *
 * RSA-SHA256 (keys of 2048 bits or more) and Ed25519-SHA256 (RFC 8463),
 * relaxed/relaxed canonicalization, the usual header fields with From
 * signed once more than it appears, so that none can be added.
 */
#ifndef SMTPAUTHD_DKIM_H
#define SMTPAUTHD_DKIM_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "server/shared/config.h"
#include "server/shared/envelope.h"

#define DKIM_RSA_MIN_BITS	2048
/* A header section longer than this is not signed. */
#define DKIM_HEADER_MAX		(256 * 1024)

struct dkim_keys;

/*
 * Read every dkim-sign key of conf.  NULL with err set ("FILE: reason")
 * if one cannot be read or is not an RSA key of 2048 bits or more or an
 * Ed25519 key.  A configuration without dkim-sign lines gives an empty
 * set.
 */
struct dkim_keys	*dkim_keys_load(const struct config *, char *err,
			    size_t errlen);
void			 dkim_keys_free(struct dkim_keys *);
/* Load and free them: before a start or a reload, and for -n. */
int			 dkim_keys_check(const struct config *, char *err,
			    size_t errlen);
size_t			 dkim_keys_count(const struct dkim_keys *);

/*
 * The DKIM-Signature field (folded, ending in CRLF, malloc'd) for the
 * message from off to end in fd (the file may go on after it), signed by
 * the key of its From domain at time now; NULL with *why set to a static
 * reason when it is not signed ("no key for the From domain", ...; "cannot
 * read the message" when the file ends before end), or NULL with *why NULL
 * when out of memory.  Reads the whole message: call it off the event loop.
 */
char	*dkim_sign_fd(const struct dkim_keys *, int fd, off_t off, off_t end,
	    time_t now, size_t *len, const char **why);

/*
 * The queue's policy: NULL unless the message has a remote recipient due
 * (flush: all are) and it came from an authenticated user, or
 * dkim-sign-all is set; then dkim_sign_fd().  Logs why a message that
 * should have been signed was not.
 */
char	*dkim_sign_spooled(const struct dkim_keys *, const struct config *,
	    const struct envelope *, int fd, off_t off, off_t end, int flush,
	    time_t now, size_t *len);

/*
 * Relaxed canonicalization (RFC 6376 3.4.2) of one header field, given
 * as it is in the message (line ends CRLF, CR or LF, without the last
 * one): the name in lower case, the value unfolded, runs of white space
 * made one space, none around the colon or at the end.  out has room
 * for len + 1 octets; returns the octets written (no CRLF is added).
 */
size_t	dkim_canon_header(const char *field, size_t len, char *out);

/*
 * Relaxed canonicalization of the body (RFC 6376 3.4.4), in pieces: a
 * CRLF, a bare CR or a bare LF ends a line (as the relay sends them),
 * white space at the end of a line goes, other runs of it become one
 * space, empty lines at the end go, and a body that is not empty ends
 * with CRLF.  What comes out goes to emit.
 */
typedef void	(*dkim_emit)(void *arg, const void *, size_t);

struct dkim_body {
	dkim_emit	 emit;
	void		*arg;
	size_t		 blank;		/* line ends held back */
	int		 cr;		/* a CR held back */
	int		 wsp;		/* white space held back */
	int		 any;		/* something was emitted */
};

void	dkim_body_init(struct dkim_body *, dkim_emit, void *);
void	dkim_body_update(struct dkim_body *, const char *, size_t);
void	dkim_body_final(struct dkim_body *);

/*
 * The domain of the single address in a From field's value (after the
 * colon), lower-cased into out; -1 if there is not exactly one address
 * or it has no domain.
 */
int	dkim_from_domain(const char *value, size_t len, char *out,
	    size_t outlen);

#endif
