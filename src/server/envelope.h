/*
 * The envelope file of a spooled message (INTERNALS.md, "Spool layout").
 */
#ifndef SMTPAUTHD_ENVELOPE_H
#define SMTPAUTHD_ENVELOPE_H

#include <stddef.h>
#include <time.h>

#include "common/addr.h"

#define SPOOL_ID_LEN	16

struct env_rcpt {
	char	addr[ADDR_PATH_MAX + 1];
	int	remote;
};

struct envelope {
	char		 id[SPOOL_ID_LEN + 1];
	time_t		 time;
	char		 ip[64];
	char		 helo[256];
	char		 auth[ADDR_PATH_MAX + 1];	/* "" if none */
	char		 from[ADDR_PATH_MAX + 1];	/* "" for <> */
	int		 body8bit;
	int		 smtputf8;
	struct env_rcpt	*rcpts;
	size_t		 nrcpts;
};

/* Serialise; *out is malloc'd.  Returns 0 or -1 (ENOMEM, or a field with
 * a character that cannot be stored). */
int	envelope_format(const struct envelope *, char **out, size_t *outlen);
/* Parse; returns 0, or -1 with err set. */
int	envelope_parse(const char *buf, size_t len, struct envelope *,
	    char *err, size_t errlen);
/* Append a recipient; returns 0 or -1 (ENOMEM). */
int	envelope_add_rcpt(struct envelope *, const char *addr, int remote);
void	envelope_free(struct envelope *);

#endif
