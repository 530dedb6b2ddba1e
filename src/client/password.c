/*
 * Reading passwords.  At a terminal the echo is turned off for the one
 * line and restored whatever happens: a signal that arrives meanwhile is
 * held until the terminal is back, then delivered (as readpassphrase(3)
 * does).  Every buffer that held the password is wiped.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client/password.h"

static volatile sig_atomic_t	got_signal[NSIG];

static const int	tty_signals[] = {
	SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP,
	SIGTTIN, SIGTTOU,
};
#define NTTY_SIGNALS	(sizeof(tty_signals) / sizeof(tty_signals[0]))

static void	on_signal(int);
static int	read_line_fd(int, int, struct password *, char *, size_t);
static int	read_tty(const char *, struct password *, char *, size_t);
static void	strip_eol(struct password *);

static void
on_signal(int sig)
{
	got_signal[sig] = 1;
}

static void
strip_eol(struct password *pw)
{
	if (pw->len > 0 && pw->buf[pw->len - 1] == '\n')
		pw->len--;
	if (pw->len > 0 && pw->buf[pw->len - 1] == '\r')
		pw->len--;
	pw->buf[pw->len] = '\0';
}

/*
 * One line from fd, a byte at a time so that nothing after the line is
 * taken from a pipe that others read later.  0 or -1; -2 when intr is set
 * and a signal interrupted the read (the terminal: the caller restores it
 * and delivers the signal), else reads go on after a signal.
 */
static int
read_line_fd(int fd, int intr, struct password *pw, char *err, size_t errlen)
{
	ssize_t	n;
	char	c;

	pw->len = 0;
	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR) {
			if (intr) {
				explicit_bzero(pw, sizeof(*pw));
				return -2;
			}
			continue;
		}
		if (n == -1) {
			(void)snprintf(err, errlen, "read: %s",
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		if (pw->len >= PASSWORD_MAX) {
			explicit_bzero(pw, sizeof(*pw));
			(void)snprintf(err, errlen, "password longer than %d "
			    "octets", PASSWORD_MAX);
			return -1;
		}
		pw->buf[pw->len++] = c;
		if (c == '\n')
			break;
	}
	explicit_bzero(&c, sizeof(c));
	strip_eol(pw);
	return 0;
}

static int
read_tty(const char *prompt, struct password *pw, char *err, size_t errlen)
{
	struct sigaction	sa, saved[NTTY_SIGNALS];
	struct termios		old, noecho;
	size_t			i;
	int			fd, rv, restore = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1) {
		(void)snprintf(err, errlen, "no password given and no "
		    "terminal to ask on (use --password-file or $%s)",
		    PASSWORD_ENV);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;	/* no SA_RESTART: read gets EINTR */
	for (i = 0; i < NTTY_SIGNALS; i++) {
		got_signal[tty_signals[i]] = 0;
		(void)sigaction(tty_signals[i], &sa, &saved[i]);
	}
	if (tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		noecho.c_lflag |= ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
			restore = 1;
	}
	if (write(fd, prompt, strlen(prompt)) == -1) {
		/* Nothing to do: the read below still works. */
	}
	rv = read_line_fd(fd, 1, pw, err, errlen);
	if (restore)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) == -1) {
		/* The newline the user typed was not echoed. */
	}
	close(fd);
	for (i = 0; i < NTTY_SIGNALS; i++)
		(void)sigaction(tty_signals[i], &saved[i], NULL);
	/* Now that the terminal is sane again, deliver what was held. */
	for (i = 0; i < NTTY_SIGNALS; i++) {
		if (got_signal[tty_signals[i]]) {
			got_signal[tty_signals[i]] = 0;
			explicit_bzero(pw, sizeof(*pw));
			(void)kill(getpid(), tty_signals[i]);
			if (rv != -1) {
				(void)snprintf(err, errlen, "interrupted");
				rv = -1;
			}
		}
	}
	if (rv == -2) {
		(void)snprintf(err, errlen, "interrupted");
		rv = -1;
	}
	return rv;
}

int
password_read(const char *file, const char *prompt, int flags,
    struct password *pw, const char **from, char *err, size_t errlen)
{
	struct password	 again;
	const char	*env, *src;
	size_t		 n;
	int		 rv;

	explicit_bzero(pw, sizeof(*pw));
	if (file != NULL) {
		rv = password_read_file(file, pw, err, errlen);
		src = "--password-file";
	} else if ((flags & PASSWORD_NO_ENV) == 0 &&
	    (env = getenv(PASSWORD_ENV)) != NULL) {
		src = "$" PASSWORD_ENV;
		n = strlen(env);
		if (n > PASSWORD_MAX) {
			(void)snprintf(err, errlen, "$%s is longer than %d "
			    "octets", PASSWORD_ENV, PASSWORD_MAX);
			return -1;
		}
		memcpy(pw->buf, env, n);
		pw->buf[n] = '\0';
		pw->len = n;
		rv = 0;
	} else if ((flags & PASSWORD_STDIN_OK) && !isatty(STDIN_FILENO)) {
		src = "stdin";
		rv = read_line_fd(STDIN_FILENO, 0, pw, err, errlen);
	} else {
		src = "terminal";
		rv = read_tty(prompt, pw, err, errlen);
		if (rv == 0 && (flags & PASSWORD_CONFIRM) && pw->len > 0) {
			rv = read_tty("Again: ", &again, err, errlen);
			if (rv == 0 && (again.len != pw->len ||
			    memcmp(again.buf, pw->buf, pw->len) != 0)) {
				(void)snprintf(err, errlen, "the passwords "
				    "do not match");
				rv = -1;
			}
			explicit_bzero(&again, sizeof(again));
		}
	}
	if (rv == 0 && pw->len == 0) {
		(void)snprintf(err, errlen, "empty password (from %s)", src);
		rv = -1;
	}
	if (rv == -1)
		explicit_bzero(pw, sizeof(*pw));
	else if (from != NULL)
		*from = src;
	return rv;
}

int
password_read_file(const char *file, struct password *pw, char *err,
    size_t errlen)
{
	int	fd, rv;

	explicit_bzero(pw, sizeof(*pw));
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		(void)snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	rv = read_line_fd(fd, 0, pw, err, errlen);
	close(fd);
	if (rv == 0 && pw->len == 0) {
		(void)snprintf(err, errlen, "%s: empty", file);
		rv = -1;
	}
	return rv;
}

void
password_wipe(struct password *pw)
{
	explicit_bzero(pw, sizeof(*pw));
}
