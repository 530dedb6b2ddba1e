/*
 * Maildir delivery (https://cr.yp.to/proto/maildir.html).
 */
#ifndef SMTPAUTHD_MAILDIR_H
#define SMTPAUTHD_MAILDIR_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Deliver the message in msgfd (from offset msgoff to its end) to the
 * Maildir root/DOMAIN/LOCAL for the lower-case address rcpt, the header
 * lines in prefix (LF-terminated) first.  The message is stored with LF
 * line ends.  Creates the directories when missing.
 * Blocking: run it off the event loop.  Returns 1 delivered, -1 temporary
 * failure (errno set; retry later), 0 permanent failure (bad address).
 * On success the new file's path relative to root is written to path.
 */
int	maildir_deliver(const char *root, const char *rcpt,
	    const char *hostname, int msgfd, off_t msgoff,
	    const char *prefix, size_t prefixlen, char *path,
	    size_t pathlen);

#endif
