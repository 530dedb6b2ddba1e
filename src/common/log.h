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
/*
 * log-format json: each line becomes one JSON object, the key=value
 * fields as members (smtpauthd.conf(5)).
 */
void	log_set_json(int);
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
 * always NUL-terminated).  The octets 0x21 to 0x7e are kept except '"',
 * '\\' and '=', which, with every other octet (space, controls, 0x7f and
 * above), become \xHH (lower-case hex).  So no client text can end a value,
 * start another key=value field or break the line, however it is quoted,
 * and the original is the value with each \xHH decoded.  Over-long text is
 * cut with "..." (never inside an escape).  Returns buf.
 */
char	*log_escape(const char *s, size_t len, char *buf, size_t bufsz);
/* The same for a NUL-terminated string. */
char	*log_escape_str(const char *s, char *buf, size_t bufsz);

#endif
