/*
 * The spool, as the workers write it (INTERNALS.md, "Accepting a message").
 */
#ifndef SMTPAUTHD_SPOOL_H
#define SMTPAUTHD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "server/envelope.h"

struct spool {
	int	dirfd;		/* spool/ */
	int	incoming_fd;	/* spool/incoming/ */
	int	queue_fd;	/* spool/queue/ */
};

/* Create spool/, incoming/, queue/ and run/ (0700) when missing; owner uid/gid
 * when they are not -1.  Returns 0 or -1 with err set. */
int	spool_setup(const char *path, long uid, long gid, char *err,
	    size_t errlen);
/* Open the directories.  Returns 0 or -1 (errno). */
int	spool_open(struct spool *, const char *path);
void	spool_close(struct spool *);

/* A new random queue id (SPOOL_ID_LEN hex digits). */
void	spool_new_id(char id[SPOOL_ID_LEN + 1]);

struct spool_msg {
	struct spool	*spool;
	char		 id[SPOOL_ID_LEN + 1];
	int		 fd;		/* incoming/ID.msg, -1 when closed */
	int		 error;		/* errno of the first failure */
	uint64_t	 size;		/* octets written */
};

/* Create incoming/ID.msg with a fresh id.  Returns 0 or -1 (errno). */
int	spool_msg_create(struct spool *, struct spool_msg *);
/* Append; a failure is remembered and reported by commit. */
void	spool_msg_write(struct spool_msg *, const void *, size_t);
/*
 * Blocking (run it off the event loop): make the message and its envelope
 * durable and commit them to queue/.  Returns 0, or -1 with errno set and
 * every file removed.
 */
int	spool_msg_commit(struct spool_msg *, const char *env, size_t envlen);
/* Forget an uncommitted message. */
void	spool_msg_abort(struct spool_msg *);

/* Names inside the spool directories. */
#define SPOOL_MSG_SUFFIX	".msg"
#define SPOOL_ENV_SUFFIX	".env"
#define SPOOL_TMP_SUFFIX	".tmp"

#endif
