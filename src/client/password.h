/*
 * Reading a password: from a file, the environment, stdin or the
 * terminal without echo; never from where a shell or perl would mangle
 * it.  The buffer is wiped with password_wipe() when done.
 */
#ifndef SMTPAUTH_PASSWORD_H
#define SMTPAUTH_PASSWORD_H

#include <stddef.h>

#define PASSWORD_MAX		1024
#define PASSWORD_ENV		"SMTPAUTH_PASSWORD"

#define PASSWORD_STDIN_OK	0x01	/* stdin (not a terminal) may be read */
#define PASSWORD_CONFIRM	0x02	/* at a terminal, ask twice */
#define PASSWORD_NO_ENV		0x04	/* not from $SMTPAUTH_PASSWORD */

struct password {
	size_t	len;
	char	buf[PASSWORD_MAX + 1];	/* NUL-terminated; may hold NULs */
};

/*
 * In this order: the first line of file (when not NULL), $SMTPAUTH_PASSWORD
 * (unless PASSWORD_NO_ENV), one line of stdin when it is not a terminal
 * and PASSWORD_STDIN_OK is set, or a prompt on /dev/tty with echo off.  A trailing LF or CRLF is
 * removed.  0, or -1 with a message in err (no source, empty, too long,
 * interrupted).  from, if not NULL, names the source used.
 */
int	password_read(const char *file, const char *prompt, int flags,
	    struct password *, const char **from, char *err, size_t errlen);
void	password_wipe(struct password *);

/*
 * A token or other secret from the first line of a file (XOAUTH2's
 * --oauth-token-file), the same way.
 */
int	password_read_file(const char *file, struct password *, char *err,
	    size_t errlen);

#endif
