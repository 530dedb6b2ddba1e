/*
 * smtpauthctl: the operator's command for a running smtpauthd
 * (smtpauthctl(8)).  It reads the configuration for the control socket's
 * path, sends one request line and prints the answer: the server does
 * the work and checks who asks (shared/ctlproto.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/version.h"
#include "server/shared/config.h"
#include "server/shared/ctlproto.h"

#ifndef SMTPAUTHCTL_CONF
#define SMTPAUTHCTL_CONF	"/etc/smtpauthd/smtpauthd.conf"
#endif

static void	usage(void) __attribute__((noreturn));
static int	known(const char *, int *);

static const struct {
	const char	*name;
	int		 args;
	const char	*help;
} cmds[] = {
	{ "status", 0, "processes, listeners, sessions, queue, version" },
	{ "bans", 0, "the banned addresses, with expiry and reason" },
	{ "unban", 1, "ADDR[/PREFIX]: lift the bans covering an address" },
	{ "queue", 0, "list the queued messages" },
	{ "flush", 0, "try every queued message now" },
	{ "show", 1, "ID: a message's envelope, state and text" },
	{ "hold", 1, "ID: deliver nothing of it until released" },
	{ "release", 1, "ID: let a held message go" },
	{ "delete", 1, "ID: remove a message for good, no bounce" },
	{ "requeue", 1, "ID: try a message now" },
};

static void
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: smtpauthctl [-f file] [--json] command "
	    "[argument]\n"
	    "       smtpauthctl --version\n"
	    "  -f file  the server's configuration (default %s)\n"
	    "  --json   answer in JSON\n", SMTPAUTHCTL_CONF);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	exit(2);
}

static int
known(const char *cmd, int *args)
{
	size_t	i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0) {
			*args = cmds[i].args;
			return 1;
		}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct config		*conf;
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	const char		*file = SMTPAUTHCTL_CONF, *cmd, *arg = NULL;
	char			 err[1024], line[CTL_LINE_MAX + 2];
	char			 buf[65536], head[8];
	size_t			 hlen = 0, total = 0;
	ssize_t			 n;
	int			 i, json = 0, args, fd, ok = -1, len;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("smtpauthctl %s\n", SMTPAUTH_VERSION);
		return 0;
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			usage();
	}
	/* --json after the command too: "smtpauthctl queue --json". */
	if (argc > i + 1 && strcmp(argv[argc - 1], "--json") == 0) {
		json = 1;
		argc--;
	}
	if (i >= argc || !known(argv[i], &args) || argc - i - 1 != args)
		usage();
	cmd = argv[i];
	if (args)
		arg = argv[i + 1];
	if ((conf = config_load(file, err, sizeof(err))) == NULL ||
	    config_resolve_paths(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "smtpauthctl: %s\n", err);
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (config_control_socket(conf, sun.sun_path,
	    sizeof(sun.sun_path)) == -1) {
		fprintf(stderr, "smtpauthctl: control-socket: path too long\n");
		return 1;
	}
	config_free(conf);
	len = snprintf(line, sizeof(line), "%s%s%s%s\n", json ? "json " : "",
	    cmd, arg ? " " : "", arg ? arg : "");
	if (len < 0 || (size_t)len > CTL_LINE_MAX || (arg != NULL &&
	    strpbrk(arg, " \n\r") != NULL)) {
		fprintf(stderr, "smtpauthctl: bad argument\n");
		return 1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "smtpauthctl: %s: %s%s\n", sun.sun_path,
		    strerror(errno), errno == ENOENT || errno ==
		    ECONNREFUSED ? " (is smtpauthd running?)" : errno ==
		    EACCES ? " (root or control-group only)" : "");
		return 1;
	}
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
		fprintf(stderr, "smtpauthctl: send: %s\n", strerror(errno));
		return 1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, CTL_TIMEOUT_SECONDS * 1000) != 1) {
			fprintf(stderr, "smtpauthctl: no answer\n");
			return 1;
		}
		if ((n = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "smtpauthctl: recv: %s\n",
			    strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > CTL_REPLY_MAX + sizeof(head)) {
			fprintf(stderr, "smtpauthctl: answer too long\n");
			return 1;
		}
		/* The first line says ok or error; the rest is shown. */
		for (i = 0; ok == -1 && i < n; i++) {
			if (buf[i] == '\n') {
				head[hlen] = '\0';
				ok = strcmp(head, "ok") == 0;
				if (!ok && strcmp(head, "error") != 0) {
					fprintf(stderr, "smtpauthctl: bad "
					    "answer\n");
					return 1;
				}
			} else if (hlen + 1 < sizeof(head))
				head[hlen++] = buf[i];
			else {
				fprintf(stderr, "smtpauthctl: bad answer\n");
				return 1;
			}
		}
		if (ok != -1 && i < n)
			fwrite(buf + i, 1, (size_t)(n - i), ok || json ?
			    stdout : stderr);
	}
	close(fd);
	if (ok == -1) {
		fprintf(stderr, "smtpauthctl: the server closed without an "
		    "answer (refused?)\n");
		return 1;
	}
	if (fflush(stdout) != 0)
		return 1;
	return ok ? 0 : 1;
}
