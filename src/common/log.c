/*
 * Logging to syslog or stderr.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static int		 log_foreground = 1;
static const char	*log_ident = "smtpauth";
static const char	*log_proc = NULL;
static int		 log_verbose = 0;
static int		 log_quiet = 0;
static int		 log_journal = 0;

static void	vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static int	log_plain(unsigned char);
static int	stderr_is_journal(void);

/*
 * Is stderr the journal's stream (systemd sets JOURNAL_STREAM to its
 * device:inode)?  The journal then stamps each line itself, and reads a
 * "<N>" prefix as the line's priority.
 */
static int
stderr_is_journal(void)
{
	const char		*v = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;
	char			 end;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, int foreground)
{
	log_ident = ident;
	log_foreground = foreground;
	log_verbose = getenv("SMTPAUTH_DEBUG") != NULL;
	log_journal = foreground && stderr_is_journal();
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

void
log_set_quiet(int quiet)
{
	log_quiet = quiet;
}

void
log_setproc(const char *procname)
{
	log_proc = procname;
}

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 line[4096];
	int	 n;

	if (log_quiet && pri > LOG_CRIT)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (log_journal)
		dprintf(STDERR_FILENO, "<%d>%s%s%s\n", pri,
		    log_proc ? log_proc : "", log_proc ? ": " : "", line);
	else if (log_foreground) {
		struct timespec	ts;
		struct tm	tm;
		char		stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		/* One write per line so that processes do not interleave. */
		dprintf(STDERR_FILENO, "%s.%03ld %s[%ld]: %s%s%s\n", stamp,
		    ts.tv_nsec / 1000000, log_ident, (long)getpid(),
		    log_proc ? log_proc : "", log_proc ? ": " : "", line);
	} else
		syslog(pri, "%s%s%s", log_proc ? log_proc : "",
		    log_proc ? ": " : "", line);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	log_warnx("%s: %s", buf, strerror(saved));
	errno = saved;
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	fatalx("%s: %s", buf, strerror(saved));
}

/* Is c kept as it is in a log value (see log_escape() in log.h)? */
static int
log_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

char *
log_escape(const char *s, size_t len, char *buf, size_t bufsz)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i, o = 0, need = 0, room;
	unsigned char		c;

	if (bufsz == 0)
		return buf;
	for (i = 0; i < len && need < bufsz; i++)
		need += log_plain((unsigned char)s[i]) ? 1 : 4;
	/* Text that does not fit leaves room for "..." after the cut. */
	room = need < bufsz ? bufsz - 1 : bufsz >= 4 ? bufsz - 4 : 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (o + (log_plain(c) ? 1 : 4) > room)
			break;
		if (log_plain(c))
			buf[o++] = (char)c;
		else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	if (i < len && bufsz >= 4) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

char *
log_escape_str(const char *s, char *buf, size_t bufsz)
{
	return log_escape(s, strlen(s), buf, bufsz);
}
