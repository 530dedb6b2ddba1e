/*
 * The envelope file of a spooled message (INTERNALS.md, "Spool layout").
 */
#ifndef SMTPAUTHD_ENVELOPE_H
#define SMTPAUTHD_ENVELOPE_H

#include <stddef.h>
#include <time.h>

#include "common/addr.h"

#define SPOOL_ID_LEN	16
/* The last error of a recipient, as stored: printable ASCII only. */
#define ENV_ERROR_MAX	400
/* The host that gave it: "name[address]", or "-" for none. */
#define ENV_HOST_MAX	(ADDR_DOMAIN_MAX + 64)

/* The queue's bookkeeping of a recipient in memory, never stored. */
enum rcpt_done {
	RCPT_PENDING = 0,	/* still to deliver (stored) */
	RCPT_DELIVERED,		/* delivered: dropped at the next write */
	RCPT_FAILED,		/* failed for good: bounce, then drop */
};

struct env_rcpt {
	char		 addr[ADDR_PATH_MAX + 1];
	int		 remote;
	/* Delivery state ("retry" and "error" lines, INTERNALS.md). */
	unsigned	 attempts;	/* failed attempts so far */
	time_t		 next_try;	/* wall clock; 0: at once */
	char		 host[ENV_HOST_MAX + 1];	/* "" when no error */
	char		 error[ENV_ERROR_MAX + 1];	/* "" when none */
	/* In memory only. */
	enum rcpt_done	 done;
	int		 busy;		/* a delivery of it is under way */
	int		 reported;	/* RCPT_FAILED: its bounce is written */
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

/*
 * Serialise; *out is malloc'd.  Recipients that are not RCPT_PENDING are
 * left out.  Returns 0 or -1 (ENOMEM, or a field with a character that
 * cannot be stored).
 */
int	envelope_format(const struct envelope *, char **out, size_t *outlen);
/* Parse; returns 0, or -1 with err set. */
int	envelope_parse(const char *buf, size_t len, struct envelope *,
	    char *err, size_t errlen);
/* Append a recipient (no state yet); returns 0 or -1 (ENOMEM). */
int	envelope_add_rcpt(struct envelope *, const char *addr, int remote);
/*
 * Record a recipient's last error: host ("name[address]", NULL or "" for
 * none) and text (len octets from the network or our own).  Anything but
 * printable ASCII becomes '?', a line break a space; both are cut to fit.
 */
void	envelope_set_error(struct env_rcpt *, const char *host,
	    const char *text, size_t len);
/* Recipients still RCPT_PENDING. */
size_t	envelope_pending(const struct envelope *);
void	envelope_free(struct envelope *);

#endif
