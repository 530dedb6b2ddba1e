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
#include "server/shared/envelope.h"
#include "server/shared/spool.h"


struct listed {
	char		id[SPOOL_ID_LEN + 1];
	time_t		time;
};

static void	span(char *, size_t, long long);
static int	by_time(const void *, const void *);
static int	list_one(FILE *, int, const char *, time_t, size_t *);

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

/* "3d4h", "2h5m", "4m10s", "9s" */
static void
span(char *buf, size_t len, long long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%lldm%llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
}

static int
by_time(const void *a, const void *b)
{
	const struct listed	*x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* One message; returns 0, or -1 if it is gone or unreadable. */
static int
list_one(FILE *fp, int qfd, const char *id, time_t now, size_t *nrcpts)
{
	struct envelope	 env;
	char		 err[128], age[32], next[32];
	off_t		 off;
	uint64_t	 size;
	size_t		 i;
	int		 fd;

	if ((fd = spool_open_queued(qfd, id, &env, &off, &size, err,
	    sizeof(err))) == -1) {
		if (errno == ENOENT)
			return -1;
		fprintf(fp, "%s  (unreadable: %s)\n", id, err);
		return 0;
	}
	close(fd);
	span(age, sizeof(age), (long long)(now - env.time));
	fprintf(fp, "%-16s  %7s  %9llu  <%s>\n", id, age,
	    (unsigned long long)size, env.from);
	for (i = 0; i < env.nrcpts; i++) {
		const struct env_rcpt *r = &env.rcpts[i];

		fprintf(fp, "    %-6s <%s>", r->remote ? "remote" : "local",
		    r->addr);
		if (r->attempts == 0 && r->error[0] == '\0') {
			fprintf(fp, "  not tried yet\n");
			continue;
		}
		if (r->next_try > now) {
			span(next, sizeof(next), (long long)(r->next_try -
			    now));
			fprintf(fp, "  attempts %u, next in %s\n", r->attempts,
			    next);
		} else
			fprintf(fp, "  attempts %u, next now\n", r->attempts);
		if (r->error[0] != '\0')
			fprintf(fp, "        last error: %s%s%s\n",
			    r->host[0] ? r->host : "", r->host[0] ? ": " : "",
			    r->error);
	}
	*nrcpts += env.nrcpts;
	envelope_free(&env);
	return 0;
}

int
queuectl_list(FILE *fp, const char *spool, time_t now)
{
	struct listed	*ids = NULL, *nids;
	struct dirent	*de;
	DIR		*dir;
	char		 path[4096];
	size_t		 n = 0, shown = 0, nrcpts = 0, i, len;
	int		 qfd;

	if ((size_t)snprintf(path, sizeof(path), "%s/queue", spool) >=
	    sizeof(path) || (qfd = open(path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (dir = fdopendir(dup(qfd))) == NULL) {
		fprintf(stderr, "smtpauthd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat	st;
		char		name[SPOOL_ID_LEN + 8];

		len = strlen(de->d_name);
		if (len != SPOOL_ID_LEN + 4 ||
		    strcmp(de->d_name + SPOOL_ID_LEN, SPOOL_MSG_SUFFIX) != 0)
			continue;
		if ((nids = reallocarray(ids, n + 1, sizeof(*ids))) == NULL)
			break;
		ids = nids;
		memcpy(ids[n].id, de->d_name, SPOOL_ID_LEN);
		ids[n].id[SPOOL_ID_LEN] = '\0';
		/* Oldest first, by when the message was committed. */
		memcpy(name, de->d_name, len + 1);	/* len checked above */
		ids[n].time = fstatat(qfd, name, &st, 0) == 0 ?
		    st.st_mtime : 0;
		n++;
	}
	closedir(dir);
	if (n == 0) {
		fprintf(fp, "the queue is empty\n");
		close(qfd);
		free(ids);
		return 0;
	}
	qsort(ids, n, sizeof(*ids), by_time);
	fprintf(fp, "%-16s  %7s  %9s  %s\n", "ID", "AGE", "SIZE",
	    "SENDER / RECIPIENTS");
	for (i = 0; i < n; i++)
		if (list_one(fp, qfd, ids[i].id, now, &nrcpts) == 0)
			shown++;
	fprintf(fp, "-- %zu message%s, %zu recipient%s\n", shown,
	    shown == 1 ? "" : "s", nrcpts, nrcpts == 1 ? "" : "s");
	close(qfd);
	free(ids);
	return 0;
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
