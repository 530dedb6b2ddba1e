/*
 * Maildir delivery (https://cr.yp.to/proto/maildir.html).
 */
#ifndef SMTPAUTHD_MAILDIR_H
#define SMTPAUTHD_MAILDIR_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

/* One delivery: the message in msgfd from msgoff to msgend, for rcpt. */
struct maildir_msg {
	const char	*id;		/* the spool id */
	time_t		 when;		/* when it arrived (the envelope) */
	const char	*rcpt;		/* lower-case address */
	const char	*hostname;
	int		 msgfd;
	off_t		 msgoff;
	off_t		 msgend;	/* the file may go on after it */
	const char	*prefix;	/* header lines, LF-terminated */
	size_t		 prefixlen;
	/*
	 * spool-sync filesystem: the file's data made durable by a syncfs
	 * shared with the deliveries of the same moment, not its own
	 * fdatasync (the rename still follows it).
	 */
	int		 sync_fs;
};

/*
 * Deliver m to the Maildir root/DOMAIN/LOCAL of its recipient, the header
 * lines in prefix first, with LF line ends.  Creates the directories when
 * missing, each synced with its parent.  The file's name in new/ comes
 * from the id, the arrival time and the recipient: when it is there
 * already (a delivery made before a crash and not recorded), nothing is
 * written, *again is set, and it counts as delivered.
 * Blocking: run it off the event loop.  Returns 1 delivered, -1 temporary
 * failure (errno set; retry later), 0 permanent failure (bad address).
 * path gets the file's path relative to root.
 */
int	maildir_deliver(const char *root, const struct maildir_msg *,
	    char *path, size_t pathlen, int *again);

#endif
