/*
 * Logging: one line per event, to syslog (facility mail) or to stderr in
 * the foreground.  Client text must go through log_escape() first.
 */
#ifndef SMTPAUTH_LOG_H
#define SMTPAUTH_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(const char *ident, int foreground);
void	log_setproc(const char *procname);	/* "parent", "worker", ... */
/* Drop everything but fatal messages (fuzzing harnesses). */
void	log_set_quiet(int);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* With ": strerror(errno)" appended. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Escape len bytes of untrusted text for a log line into buf (size bufsz,
 * always NUL-terminated): printable ASCII except '"' and '\\' is kept,
 * everything else becomes \xHH; over-long text is cut with "...".
 * Returns buf.
 */
char	*log_escape(const char *s, size_t len, char *buf, size_t bufsz);

#endif
