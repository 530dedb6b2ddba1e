/*
 * "smtpauthd queue" and "smtpauthd flush".  The listing reads the spool
 * directly (no server needs to run; root or the server's user may read
 * it); flushing is a datagram to the queue process's control socket.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/queuectl.h"
#include "server/shared/queuelist.h"
#include "server/shared/spool.h"



int
queuectl_known(const char *cmd)
{
	return strcmp(cmd, "queue") == 0 || strcmp(cmd, "flush") == 0;
}

int
queuectl_run(const struct config *conf, const char *cmd)
{
	char	err[512];

	if (strcmp(cmd, "queue") == 0)
		return queuectl_list(stdout, conf->spool, time(NULL)) == 0 ?
		    0 : 1;
	if (queuectl_flush(conf->spool, err, sizeof(err)) == -1) {
		fprintf(stderr, "smtpauthd: flush: %s\n", err);
		return 1;
	}
	printf("flush: the queue tries every message now\n");
	return 0;
}

int
queuectl_list(FILE *fp, const char *spool, time_t now)
{
	char	path[4096];
	int	qfd, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/queue", spool) >=
	    sizeof(path) || (qfd = open(path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		fprintf(stderr, "smtpauthd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((r = queuelist_list(fp, qfd, now, 0)) == -1)
		fprintf(stderr, "smtpauthd: %s: %s\n", path, strerror(errno));
	close(qfd);
	return r;
}

int
queuectl_flush(const char *spool, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	int			fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", spool,
	    QUEUE_SOCK);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "spool path too long");
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (sendto(fd, QUEUE_FLUSH_MSG, strlen(QUEUE_FLUSH_MSG), 0,
	    (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "%s: %s%s", sun.sun_path,
		    strerror(errno), errno == ENOENT || errno ==
		    ECONNREFUSED ? " (is smtpauthd running?)" : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
