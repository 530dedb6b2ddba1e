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
static int		 log_json = 0;

static void	vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static int	log_plain(unsigned char);
static int	stderr_is_journal(void);
static void	json_line(char *, size_t, const char *, int, const char *);
static const char *pri_name(int);

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
log_set_json(int on)
{
	log_json = on;
}

static const char *
pri_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:
		return "crit";
	case LOG_WARNING:
		return "warning";
	case LOG_DEBUG:
		return "debug";
	default:
		return "info";
	}
}

/* Append s to out as JSON string content (no quotes), within len. */
static size_t
json_put(char *out, size_t o, size_t len, const char *s, size_t n)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		c;
	size_t			i;

	for (i = 0; i < n && o + 7 < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 0xf];
			o += 6;
		} else
			out[o++] = (char)c;
	}
	return o;
}

/*
 * The key=value line as one JSON object: {"time":..,"level":..,
 * "process":..,"process_pid":..,"event":"the words that are not
 * key=value", then each key=value as a member}.  A value "in quotes"
 * loses its quotes (a log value holds no '"' unescaped: log_escape()).
 */
static void
json_line(char *out, size_t len, const char *stamp, int pri,
    const char *line)
{
	static char	 kv[4096 * 6 + 64];
	const char	*p = line, *w, *eq, *end, *v, *vend;
	size_t		 o, k = 0;
	int		 words = 0;

	o = (size_t)snprintf(out, len, "{\"time\":\"%s\",\"level\":\"%s\","
	    "\"process\":\"%s\",\"process_pid\":%ld,\"event\":\"", stamp,
	    pri_name(pri), log_proc ? log_proc : "", (long)getpid());
	if (o >= len)
		o = len - 1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		w = p;
		eq = NULL;
		/* The word: to a space, or through a "quoted" value. */
		while (*p != '\0' && *p != ' ') {
			if (*p == '=' && eq == NULL) {
				eq = p;
				if (p[1] == '"') {
					end = strchr(p + 2, '"');
					p = end != NULL ? end + 1 : p + strlen(p);
					continue;
				}
			}
			p++;
		}
		if (eq != NULL && eq > w && strspn(w, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == (size_t)(eq - w) &&
		    k + 16 < sizeof(kv)) {
			v = eq + 1;
			vend = p;
			if (*v == '"' && vend > v + 1 && vend[-1] == '"') {
				v++;
				vend--;
			}
			kv[k++] = ',';
			kv[k++] = '"';
			k = json_put(kv, k, sizeof(kv), w, (size_t)(eq - w));
			memcpy(kv + k, "\":\"", 3);
			k += 3;
			k = json_put(kv, k, sizeof(kv), v, (size_t)(vend - v));
			kv[k++] = '"';
			continue;
		}
		if (words++ > 0 && o + 8 < len)
			out[o++] = ' ';
		o = json_put(out, o, len, w, (size_t)(p - w));
	}
	if (o + k + 3 > len)
		k = 0;		/* cannot happen: out is large enough */
	out[o++] = '"';
	memcpy(out + o, kv, k);
	o += k;
	out[o++] = '}';
	out[o] = '\0';
}

void
log_setproc(const char *procname)
{
	log_proc = procname;
}

/*
 * One line on stderr with one write(2), so that processes do not
 * interleave (dprintf(3) costs an fstat and an lseek a line); a line too
 * long for buf is cut, its newline kept.
 */
static void
put_line(const char *fmt, ...)
{
	char		 buf[4096 * 6 + 512];
	va_list		 ap;
	size_t		 len, off = 0;
	ssize_t		 w;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		len = sizeof(buf) - 1;
		buf[len - 1] = '\n';
	} else
		len = (size_t)n;
	while (off < len) {
		if ((w = write(STDERR_FILENO, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)w;
	}
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
	if (log_json) {
		struct timespec	ts;
		struct tm	tm;
		char		stamp[40], out[sizeof(line) * 6 + 256];
		size_t		sl;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		sl = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + sl, sizeof(stamp) - sl, ".%03ldZ",
		    ts.tv_nsec / 1000000);
		json_line(out, sizeof(out), stamp, pri, line);
		if (log_journal)
			put_line("<%d>%s\n", pri, out);
		else if (log_foreground)
			put_line("%s\n", out);
		else
			syslog(pri, "%s", out);
		return;
	}
	if (log_journal)
		put_line("<%d>%s%s%s\n", pri,
		    log_proc ? log_proc : "", log_proc ? ": " : "", line);
	else if (log_foreground) {
		struct timespec	ts;
		struct tm	tm;
		char		stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		put_line("%s.%03ld %s[%ld]: %s%s%s\n", stamp,
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
