/*
 * Listing the queue (queuelist.h).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "server/shared/envelope.h"
#include "server/shared/queuelist.h"
#include "server/shared/spool.h"

struct listed {
	char		id[SPOOL_ID_LEN + 1];
	time_t		time;
};

static void	span(char *, size_t, long long);
static int	by_time(const void *, const void *);
static void	text_one(FILE *, const struct envelope *, uint64_t, int,
		    time_t);
static void	json_one(FILE *, const struct envelope *, uint64_t, int);
static int	list_one(FILE *, int, const char *, time_t, size_t *, int,
		    int);

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

int
queuelist_held(int qfd, const char *id)
{
	char		name[SPOOL_ID_LEN + 8];
	struct stat	st;

	if ((size_t)snprintf(name, sizeof(name), "%s%s", id,
	    QUEUELIST_HOLD_SUFFIX) >= sizeof(name))
		return 0;
	return fstatat(qfd, name, &st, 0) == 0;
}

static void
text_one(FILE *fp, const struct envelope *env, uint64_t size, int held,
    time_t now)
{
	char	age[32], next[32];
	size_t	i;

	span(age, sizeof(age), (long long)(now - env->time));
	fprintf(fp, "%-16s  %7s  %9llu  <%s>%s\n", env->id, age,
	    (unsigned long long)size, env->from, held ? "  (held)" : "");
	for (i = 0; i < env->nrcpts; i++) {
		const struct env_rcpt *r = &env->rcpts[i];

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
}

static void
json_one(FILE *fp, const struct envelope *env, uint64_t size, int held)
{
	size_t	i;

	fprintf(fp, "{\"id\":");
	json_string(fp, env->id);
	fprintf(fp, ",\"time\":%lld,\"size\":%llu,\"held\":%s,\"ip\":",
	    (long long)env->time, (unsigned long long)size,
	    held ? "true" : "false");
	json_string(fp, env->ip);
	fprintf(fp, ",\"helo\":");
	json_string(fp, env->helo);
	fprintf(fp, ",\"auth\":");
	json_string(fp, env->auth);
	fprintf(fp, ",\"from\":");
	json_string(fp, env->from);
	fprintf(fp, ",\"recipients\":[");
	for (i = 0; i < env->nrcpts; i++) {
		const struct env_rcpt *r = &env->rcpts[i];

		fprintf(fp, "%s{\"to\":", i ? "," : "");
		json_string(fp, r->addr);
		fprintf(fp, ",\"route\":\"%s\",\"attempts\":%u,"
		    "\"next_try\":%lld,\"host\":", r->remote ? "remote" :
		    "local", r->attempts, (long long)r->next_try);
		json_string(fp, r->host);
		fprintf(fp, ",\"error\":");
		json_string(fp, r->error);
		fprintf(fp, "}");
	}
	fprintf(fp, "]");	/* the caller closes the object */
}

/* One message; returns 0, or -1 if it is gone. */
static int
list_one(FILE *fp, int qfd, const char *id, time_t now, size_t *nrcpts,
    int json, int first)
{
	struct envelope	 env;
	char		 err[128];
	off_t		 off;
	uint64_t	 size;
	int		 fd;

	if ((fd = spool_open_queued(qfd, id, &env, &off, &size, err,
	    sizeof(err))) == -1) {
		if (errno == ENOENT)
			return -1;
		if (json) {
			fprintf(fp, "%s{\"id\":", first ? "" : ",");
			json_string(fp, id);
			fprintf(fp, ",\"unreadable\":");
			json_string(fp, err);
			fprintf(fp, "}");
		} else
			fprintf(fp, "%s  (unreadable: %s)\n", id, err);
		return 0;
	}
	close(fd);
	if (json) {
		if (!first)
			fputc(',', fp);
		json_one(fp, &env, size, queuelist_held(qfd, id));
		fputc('}', fp);
	} else
		text_one(fp, &env, size, queuelist_held(qfd, id), now);
	*nrcpts += env.nrcpts;
	envelope_free(&env);
	return 0;
}

int
queuelist_list(FILE *fp, int qfd, time_t now, int json)
{
	struct listed	*ids = NULL, *nids;
	struct dirent	*de;
	DIR		*dir;
	size_t		 n = 0, shown = 0, nrcpts = 0, i, len;
	int		 fd;

	if ((fd = dup(qfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(dir);
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
	if (n > 1)
		qsort(ids, n, sizeof(*ids), by_time);
	if (json)
		fprintf(fp, "{\"messages\":[");
	else if (n == 0)
		fprintf(fp, "the queue is empty\n");
	else
		fprintf(fp, "%-16s  %7s  %9s  %s\n", "ID", "AGE", "SIZE",
		    "SENDER / RECIPIENTS");
	for (i = 0; i < n; i++)
		if (list_one(fp, qfd, ids[i].id, now, &nrcpts, json,
		    shown == 0) == 0)
			shown++;
	if (json)
		fprintf(fp, "],\"count\":%zu,\"recipients\":%zu}\n", shown,
		    nrcpts);
	else if (n > 0)
		fprintf(fp, "-- %zu message%s, %zu recipient%s\n", shown,
		    shown == 1 ? "" : "s", nrcpts, nrcpts == 1 ? "" : "s");
	free(ids);
	return 0;
}

int
queuelist_show(FILE *fp, int qfd, const char *id, time_t now, int json,
    size_t max, char *err, size_t errlen)
{
	struct envelope	 env;
	off_t		 off;
	uint64_t	 size;
	char		*body;
	ssize_t		 got;
	size_t		 want;
	int		 fd, held;

	if ((fd = spool_open_queued(qfd, id, &env, &off, &size, err,
	    errlen)) == -1)
		return -1;
	held = queuelist_held(qfd, id);
	want = size < max ? (size_t)size : max;
	if ((body = malloc(want + 1)) == NULL) {
		close(fd);
		envelope_free(&env);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	got = pread(fd, body, want, off);
	close(fd);
	if (got < 0)
		got = 0;
	body[got] = '\0';
	if (json) {
		json_one(fp, &env, size, held);
		fprintf(fp, ",\"message\":");
		json_string(fp, body);
		fprintf(fp, ",\"truncated\":%s}\n",
		    (uint64_t)got < size ? "true" : "false");
	} else {
		text_one(fp, &env, size, held, now);
		fprintf(fp, "client %s helo %s%s%s\n\n", env.ip, env.helo,
		    env.auth[0] ? " auth " : "", env.auth);
		fwrite(body, 1, (size_t)got, fp);
		if ((uint64_t)got < size)
			fprintf(fp, "\n[... %llu more octets]\n",
			    (unsigned long long)(size - (uint64_t)got));
	}
	free(body);
	envelope_free(&env);
	return 0;
}
