/*
 * The control socket, served by the queue process (smtpauthctl(8),
 * shared/ctlproto.h).  The queue owns the spool and the table of
 * messages, so queue commands are its own; "bans" reads the shared ban
 * table; "unban" is asked of the auth process over its socket (only it
 * may write the table).  The parent binds the socket (mode 0600, or 0660
 * with control-group) before it forks; here each connection's
 * SO_PEERCRED is checked again: root, the server's own user, or a member
 * of control-group.  Every request is logged with who asked.
 *
 * Blocking work (reading or changing the spool) runs on the queue's
 * thread pool; the loop only moves bytes and changes the table.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/durable.h"
#include "common/ipc.h"
#include "common/json.h"
#include "common/log.h"
#include "common/version.h"
#include "common/workq.h"
#include "server/queue/queue_priv.h"
#include "server/shared/authproto.h"
#include "server/shared/banlist.h"
#include "server/shared/ctlproto.h"
#include "server/shared/metrics.h"
#include "server/shared/queuelist.h"

#define MAX_CTL_CONNS	16
#define UNBAN_SECONDS	5

enum ctl_cmd {
	C_STATUS, C_BANS, C_UNBAN, C_QUEUE, C_FLUSH, C_SHOW, C_HOLD,
	C_RELEASE, C_DELETE, C_REQUEUE
};

static const struct {
	const char	*name;
	enum ctl_cmd	 cmd;
	int		 needs_arg;
} commands[] = {
	{ "status", C_STATUS, 0 }, { "bans", C_BANS, 0 },
	{ "unban", C_UNBAN, 1 }, { "queue", C_QUEUE, 0 },
	{ "flush", C_FLUSH, 0 }, { "show", C_SHOW, 1 },
	{ "hold", C_HOLD, 1 }, { "release", C_RELEASE, 1 },
	{ "delete", C_DELETE, 1 }, { "requeue", C_REQUEUE, 1 },
};

struct ctlconn {
	struct queue	*q;
	int		 fd;
	struct event	*ev;
	char		 line[CTL_LINE_MAX + 1];
	size_t		 len;
	long		 uid, pid;
	int		 json;
	enum ctl_cmd	 cmd;
	const char	*name;
	char		 arg[CTL_LINE_MAX + 1];
	/* The answer. */
	int		 ok;
	char		*out;
	size_t		 outlen, off;
	/* A pool job. */
	int		 result;	/* 0 done, else an errno */
	int		 was_held;
	char		 err[256];
	/* unban: the auth process. */
	int		 authfd;
	struct event	*authev;
};

static gid_t	ctl_gid;
static int	ctl_has_gid;

static void	on_accept(int, short, void *);
static int	allowed(int, long *, long *);
static void	on_read(int, short, void *);
static void	on_write(int, short, void *);
static void	dispatch(struct ctlconn *);
static void	reply(struct ctlconn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	reply_buf(struct ctlconn *, int, char *, size_t);
static void	conn_free(struct ctlconn *);
static void	do_status(struct ctlconn *);
static void	job_work(void *);
static void	job_done(void *);
static void	ban_line(void *, const struct banlist_key *, time_t);
static void	unban_start(struct ctlconn *);
static void	unban_answer(int, short, void *);

void
queue_ctl_start(struct queue *q, int fd)
{
	struct group	*gr;

	if (q->conf->control_group != NULL) {
		if ((gr = getgrnam(q->conf->control_group)) == NULL)
			log_warnx("control-group %s: no such group: root "
			    "only", q->conf->control_group);
		else {
			ctl_gid = gr->gr_gid;
			ctl_has_gid = 1;
		}
	}
	q->ctl_listen = fd;
	q->ev_ctl_listen = event_new(q->base, fd, EV_READ | EV_PERSIST,
	    on_accept, q);
	if (q->ev_ctl_listen == NULL || event_add(q->ev_ctl_listen, NULL) ==
	    -1)
		fatalx("control socket events");
}

/* Root, our own user, or control-group (primary or supplementary). */
static int
allowed(int fd, long *uid, long *pid)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	gid_t		groups[256];
	size_t		i, n;

	memset(&cred, 0, sizeof(cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	*uid = (long)cred.uid;
	*pid = (long)cred.pid;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 1;
	if (!ctl_has_gid)
		return 0;
	if (cred.gid == ctl_gid)
		return 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	n = len / sizeof(gid_t);
	for (i = 0; i < n; i++)
		if (groups[i] == ctl_gid)
			return 1;
	return 0;
}

static void
on_accept(int lfd, short events, void *arg)
{
	struct queue	*q = arg;
	struct ctlconn	*c;
	struct timeval	 tv = { CTL_TIMEOUT_SECONDS, 0 };
	long		 uid = -1, pid = -1;
	int		 fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		if (!allowed(fd, &uid, &pid)) {
			log_warnx("ctl refused uid=%ld pid=%ld", uid, pid);
			close(fd);
			continue;
		}
		if (q->nctl >= MAX_CTL_CONNS || q->stopping ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			log_warnx("ctl refused uid=%ld pid=%ld reason=busy",
			    uid, pid);
			close(fd);
			continue;
		}
		c->q = q;
		c->fd = fd;
		c->uid = uid;
		c->pid = pid;
		c->authfd = -1;
		if ((c->ev = event_new(q->base, fd, EV_READ | EV_PERSIST,
		    on_read, c)) == NULL || event_add(c->ev, &tv) == -1) {
			if (c->ev != NULL)
				event_free(c->ev);
			close(fd);
			free(c);
			continue;
		}
		q->nctl++;
	}
}

static void
conn_free(struct ctlconn *c)
{
	c->q->nctl--;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->authev != NULL)
		event_free(c->authev);
	if (c->authfd != -1)
		close(c->authfd);
	close(c->fd);
	free(c->out);
	free(c);
}

static void
on_read(int fd, short events, void *arg)
{
	struct ctlconn	*c = arg;
	ssize_t		 n;
	char		*nl;

	if (events & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	n = recv(fd, c->line + c->len, CTL_LINE_MAX - c->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = '\0';
	if ((nl = memchr(c->line, '\n', c->len)) == NULL) {
		if (c->len == CTL_LINE_MAX) {
			event_del(c->ev);
			reply(c, 0, "request too long\n");
		}
		return;
	}
	*nl = '\0';
	event_del(c->ev);
	dispatch(c);
}

static void
dispatch(struct ctlconn *c)
{
	char		*word, *rest;
	size_t		 i;

	rest = c->line;
	if (strncmp(rest, "json ", 5) == 0) {
		c->json = 1;
		rest += 5;
	}
	word = rest;
	if ((rest = strchr(word, ' ')) != NULL)
		*rest++ = '\0';
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(word, commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		log_warnx("ctl uid=%ld pid=%ld cmd=unknown", c->uid, c->pid);
		reply(c, 0, "unknown command\n");
		return;
	}
	c->cmd = commands[i].cmd;
	c->name = commands[i].name;
	if ((rest != NULL) != commands[i].needs_arg || (rest != NULL &&
	    strchr(rest, ' ') != NULL)) {
		reply(c, 0, "%s: %s\n", c->name, commands[i].needs_arg ?
		    "one argument expected" : "no argument expected");
		return;
	}
	if (rest != NULL)
		snprintf(c->arg, sizeof(c->arg), "%s", rest);
	/* A queue id is checked here: it becomes a file name. */
	if (c->cmd >= C_SHOW && !spool_valid_id(c->arg, strlen(c->arg))) {
		reply(c, 0, "%s: not a queue id (16 upper-case hex digits)\n",
		    c->name);
		return;
	}
	{
		char	a[CTL_LINE_MAX * 4 + 1];

		log_info("ctl uid=%ld pid=%ld cmd=%s%s%s", c->uid, c->pid,
		    c->name, c->arg[0] ? " arg=" : "", c->arg[0] ?
		    log_escape_str(c->arg, a, sizeof(a)) : "");
	}
	switch (c->cmd) {
	case C_STATUS:
		do_status(c);
		return;
	case C_FLUSH:
		if (c->q->stopping) {
			reply(c, 0, "the queue is stopping\n");
			return;
		}
		queue_flush_all(c->q);
		reply(c, 1, c->json ? "{\"ok\":true,\"action\":\"flush\"}\n" :
		    "flush: the queue tries every message now\n");
		return;
	case C_UNBAN:
		unban_start(c);
		return;
	case C_DELETE: {
		struct qentry	*e = queue_entry(c->q, c->arg, 0);

		if (e != NULL && (e->active || e->waiting)) {
			reply(c, 0, "%s: a delivery is under way: try again\n",
			    c->arg);
			return;
		}
		/* No attempt starts while its files go. */
		if (e != NULL) {
			c->was_held = e->held;
			e->held = 1;
			evtimer_del(e->timer);
		}
		break;
	}
	default:
		break;
	}
	if (workq_submit(c->q->wq, job_work, job_done, c) == -1)
		reply(c, 0, "out of memory\n");
}

/* ok: the first line; then the text. */
static void
reply(struct ctlconn *c, int ok, const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		s = NULL;
		n = 0;
	}
	if (!ok && c->json && s != NULL) {
		/* An error as JSON too. */
		char	*j = NULL;
		size_t	 jlen = 0;
		FILE	*fp;

		if (n > 0 && s[n - 1] == '\n')
			s[--n] = '\0';
		if ((fp = open_memstream(&j, &jlen)) != NULL) {
			fprintf(fp, "{\"ok\":false,\"error\":");
			json_string(fp, s);
			fprintf(fp, "}\n");
			if (fclose(fp) == 0) {
				free(s);
				s = j;
				n = (int)jlen;
			} else
				free(j);
		}
	}
	reply_buf(c, ok, s, s != NULL ? (size_t)n : 0);
}

/* Takes buf (malloc'd, may be NULL). */
static void
reply_buf(struct ctlconn *c, int ok, char *buf, size_t len)
{
	const char	*head = ok ? "ok\n" : "error\n";
	struct timeval	 tv = { CTL_TIMEOUT_SECONDS, 0 };
	size_t		 hlen = strlen(head);

	if (!ok && c->name != NULL)
		log_info("ctl uid=%ld pid=%ld cmd=%s result=error", c->uid,
		    c->pid, c->name);
	if (len > CTL_REPLY_MAX)
		len = CTL_REPLY_MAX;
	if ((c->out = malloc(hlen + len)) == NULL) {
		free(buf);
		conn_free(c);
		return;
	}
	memcpy(c->out, head, hlen);
	if (len > 0)
		memcpy(c->out + hlen, buf, len);
	free(buf);
	c->outlen = hlen + len;
	c->off = 0;
	event_free(c->ev);
	c->ev = event_new(c->q->base, c->fd, EV_WRITE | EV_PERSIST, on_write,
	    c);
	/* A reader that stops reading is dropped. */
	if (c->ev == NULL || event_add(c->ev, &tv) == -1)
		conn_free(c);
}

static void
on_write(int fd, short events, void *arg)
{
	struct ctlconn	*c = arg;
	ssize_t		 n;

	if (events & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	n = send(fd, c->out + c->off, c->outlen - c->off, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->off += (size_t)n;
	if (c->off == c->outlen)
		conn_free(c);
}

static void
do_status(struct ctlconn *c)
{
	const struct config	*conf = c->q->conf;
	struct metrics		*m = metrics_get();
	char			*buf = NULL;
	size_t			 len = 0, i, held = 0, h;
	struct qentry		*e;
	long long		 open = 0, lo;
	unsigned		 kind;
	FILE			*fp;
	int			 first = 1, pid;

	for (h = 0; h < HASH_SIZE; h++)
		for (e = c->q->table[h]; e != NULL; e = e->next)
			held += e->held != 0;
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		reply(c, 0, "out of memory\n");
		return;
	}
	if (c->json)
		fprintf(fp, "{\"version\":\"%s\",\"processes\":[",
		    SMTPAUTH_VERSION);
	else
		fprintf(fp, "smtpauthd %s\nprocesses:\n", SMTPAUTH_VERSION);
	if (c->json)
		fprintf(fp, "{\"process\":\"parent\",\"pid\":%ld}",
		    (long)getppid());
	else
		fprintf(fp, "  parent   pid %ld\n", (long)getppid());
	for (i = 0; m != NULL && i < METRICS_PROCS; i++) {
		if ((pid = atomic_load(&m->procs[i].pid)) == 0)
			continue;
		kind = atomic_load(&m->procs[i].kind);
		if (c->json) {
			fprintf(fp, ",{\"process\":\"%s\",\"pid\":%d",
			    metrics_proc_name(kind), pid);
			if (kind == METRICS_PROC_WORKER)
				fprintf(fp, ",\"worker\":%u",
				    atomic_load(&m->procs[i].index));
			fprintf(fp, ",\"started\":%lld}",
			    (long long)atomic_load(&m->procs[i].started));
		} else if (kind == METRICS_PROC_WORKER)
			fprintf(fp, "  worker %-2u pid %d\n",
			    atomic_load(&m->procs[i].index), pid);
		else
			fprintf(fp, "  %-8s pid %d\n", metrics_proc_name(kind),
			    pid);
	}
	fprintf(fp, c->json ? "],\"listeners\":[" : "listeners:\n");
	for (i = 0; i < conf->nlistens; i++) {
		lo = i < METRICS_LISTENERS ?
		    (long long)metrics_sessions_open((unsigned)i) : 0;
		open += lo;
		if (c->json) {
			fprintf(fp, "%s{\"listen\":", first ? "" : ",");
			json_string(fp, conf->listens[i].text);
			fprintf(fp, ",\"mode\":\"%s\",\"proxy\":%s,"
			    "\"sessions\":%lld}",
			    listen_mode_name(conf->listens[i].mode),
			    conf->listens[i].proxy ? "true" : "false", lo);
		} else
			fprintf(fp, "  %-24s %-10s%s sessions %lld\n",
			    conf->listens[i].text,
			    listen_mode_name(conf->listens[i].mode),
			    conf->listens[i].proxy ? " proxy" : "", lo);
		first = 0;
	}
	if (c->json)
		fprintf(fp, "],\"sessions\":%lld,\"queue\":%zu,\"held\":%zu,"
		    "\"bans\":%zu,\"metrics\":%s}\n", open,
		    queue_count(c->q), held, banlist_active(),
		    conf->metrics_addrlen ? "true" : "false");
	else
		fprintf(fp, "sessions %lld\nqueue %zu message%s (%zu held)\n"
		    "bans %zu\nmetrics %s\n", open, queue_count(c->q),
		    queue_count(c->q) == 1 ? "" : "s", held, banlist_active(),
		    conf->metrics_addrlen ? conf->metrics_text : "off");
	if (fclose(fp) != 0) {
		free(buf);
		reply(c, 0, "out of memory\n");
		return;
	}
	reply_buf(c, 1, buf, len);
}

struct banout {
	FILE	*fp;
	int	 json;
	int	 n;
};

static void
ban_line(void *arg, const struct banlist_key *k, time_t until)
{
	struct banout	*b = arg;
	char		 who[INET6_ADDRSTRLEN + 8], when[32];
	struct tm	 tm;

	banlist_key_fmt(k, who, sizeof(who));
	if (gmtime_r(&until, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)until);
	if (b->json)
		fprintf(b->fp, "%s{\"ban\":\"%s\",\"until\":%lld,"
		    "\"until_text\":\"%s\",\"reason\":\"auth-failures\"}",
		    b->n ? "," : "", who, (long long)until, when);
	else
		fprintf(b->fp, "%-40s until %s  reason auth-failures\n", who,
		    when);
	b->n++;
}

/* On a pool thread: the spool and the ban table only. */
static void
job_work(void *arg)
{
	struct ctlconn	*c = arg;
	struct spool	*sp = &c->q->spool;
	struct banout	 b;
	struct stat	 st;
	char		 msg[SPOOL_ID_LEN + 8], hold[SPOOL_ID_LEN + 8];
	FILE		*fp;
	int		 fd;

	c->result = 0;
	snprintf(msg, sizeof(msg), "%.16s%s", c->arg, SPOOL_MSG_SUFFIX);
	snprintf(hold, sizeof(hold), "%.16s%s", c->arg, QUEUELIST_HOLD_SUFFIX);
	if (c->cmd == C_QUEUE || c->cmd == C_SHOW || c->cmd == C_BANS) {
		if ((fp = open_memstream(&c->out, &c->outlen)) == NULL) {
			c->result = ENOMEM;
			return;
		}
		if (c->cmd == C_QUEUE) {
			if (queuelist_list(fp, sp->queue_fd, time(NULL),
			    c->json) == -1)
				c->result = errno;
		} else if (c->cmd == C_SHOW) {
			if (queuelist_show(fp, sp->queue_fd, c->arg,
			    time(NULL), c->json, CTL_SHOW_MAX, c->err,
			    sizeof(c->err)) == -1)
				c->result = errno ? errno : EINVAL;
		} else {
			b.fp = fp;
			b.json = c->json;
			b.n = 0;
			if (b.json)
				fprintf(fp, "{\"bans\":[");
			banlist_each(ban_line, &b);
			if (b.json)
				fprintf(fp, "],\"count\":%d}\n", b.n);
			else if (b.n == 0)
				fprintf(fp, "no address is banned\n");
		}
		if (fclose(fp) != 0 && c->result == 0)
			c->result = ENOMEM;
		return;
	}
	if (fstatat(sp->queue_fd, msg, &st, 0) == -1) {
		c->result = errno;
		return;
	}
	switch (c->cmd) {
	case C_HOLD:
		if ((fd = openat(sp->queue_fd, hold, O_WRONLY | O_CREAT |
		    O_CLOEXEC, 0600)) == -1 || fsync_close(fd) == -1 ||
		    fsync_dirfd(sp->queue_fd) == -1)
			c->result = errno;
		break;
	case C_RELEASE:
		if (unlinkat(sp->queue_fd, hold, 0) == -1)
			c->result = errno == ENOENT ? EALREADY : errno;
		else if (fsync_dirfd(sp->queue_fd) == -1)
			c->result = errno;
		break;
	case C_REQUEUE:
		if (queuelist_held(sp->queue_fd, c->arg))
			c->result = EALREADY;
		break;
	case C_DELETE:
		if (spool_remove(sp, c->arg) == -1)
			c->result = errno;
		else if (unlinkat(sp->queue_fd, hold, 0) == 0)
			(void)fsync_dirfd(sp->queue_fd);
		break;
	default:
		break;
	}
}

static void
job_done(void *arg)
{
	struct ctlconn	*c = arg;
	struct queue	*q = c->q;
	struct qentry	*e = queue_entry(q, c->arg, 0);
	char		*out = c->out;
	const char	*what = NULL;

	c->out = NULL;
	if (c->cmd == C_DELETE && e != NULL) {
		if (c->result == 0 || c->result == ENOENT)
			queue_forget(e);
		else
			e->held = c->was_held;
	}
	if (c->result == ENOENT) {
		free(out);
		reply(c, 0, "%s: no such message\n", c->arg);
		return;
	}
	if (c->result != 0) {
		free(out);
		if (c->cmd == C_RELEASE && c->result == EALREADY)
			reply(c, 0, "%s: not held\n", c->arg);
		else if (c->cmd == C_REQUEUE && c->result == EALREADY)
			reply(c, 0, "%s: held: release it first\n", c->arg);
		else
			reply(c, 0, "%s: %s\n", c->name, c->err[0] ? c->err :
			    strerror(c->result));
		return;
	}
	switch (c->cmd) {
	case C_QUEUE:
	case C_SHOW:
	case C_BANS:
		reply_buf(c, 1, out, c->outlen);
		return;
	case C_HOLD:
		if ((e = queue_entry(q, c->arg, 1)) != NULL) {
			e->held = 1;
			evtimer_del(e->timer);
		}
		what = e != NULL && e->active ? "held (the attempt under way "
		    "finishes)" : "held";
		break;
	case C_RELEASE:
		if (e != NULL)
			e->held = 0;
		queue_schedule(q, c->arg, 1);
		what = "released";
		break;
	case C_REQUEUE:
		queue_schedule(q, c->arg, 1);
		what = "requeued: tried now";
		break;
	case C_DELETE:
		queue_recycle(q);
		what = "deleted";
		break;
	default:
		break;
	}
	free(out);
	log_info("ctl uid=%ld pid=%ld cmd=%s id=%s result=%s", c->uid, c->pid,
	    c->name, c->arg, c->name);
	if (c->json)
		reply(c, 1, "{\"ok\":true,\"id\":\"%s\",\"action\":\"%s\"}\n",
		    c->arg, c->name);
	else
		reply(c, 1, "%s: %s\n", c->arg, what);
}

/*
 * unban: the address (and an optional /PREFIX for IPv6) to the auth
 * process, which lifts every ban covering it.
 */
static void
unban_start(struct ctlconn *c)
{
	struct sockaddr_un	sun;
	struct in_addr		in4;
	struct in6_addr		in6;
	struct timeval		tv = { UNBAN_SECONDS, 0 };
	uint8_t			msg[AUTH_UNBAN_LEN];
	char			addr[CTL_LINE_MAX + 1], *slash, *end;
	unsigned long		plen = 0;
	int			n;

	snprintf(addr, sizeof(addr), "%s", c->arg);
	if ((slash = strchr(addr, '/')) != NULL) {
		*slash++ = '\0';
		errno = 0;
		plen = strtoul(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || errno != 0 ||
		    plen < BANLIST_PREFIX6_MIN || plen > BANLIST_PREFIX6_MAX) {
			reply(c, 0, "unban: bad prefix length \"%s\"\n", slash);
			return;
		}
	}
	memset(msg, 0, sizeof(msg));
	if (inet_pton(AF_INET, addr, &in4) == 1 && slash == NULL) {
		msg[10] = msg[11] = 0xff;
		memcpy(msg + 12, &in4, 4);
	} else if (inet_pton(AF_INET6, addr, &in6) == 1)
		memcpy(msg, &in6, 16);
	else {
		reply(c, 0, "unban: not an IPv4 or IPv6 address: \"%s\"\n",
		    c->arg);
		return;
	}
	msg[16] = (uint8_t)plen;
	if (c->q->conf->users == NULL) {
		reply(c, 0, "unban: no users file, so no auth process and no "
		    "bans\n");
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/run/auth.sock",
	    c->q->conf->spool);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) ||
	    (c->authfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 || connect(c->authfd,
	    (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    ipc_send(c->authfd, AUTH_MSG_UNBAN, 1, msg, sizeof(msg)) == -1) {
		reply(c, 0, "unban: the auth process: %s\n", strerror(errno));
		return;
	}
	if ((c->authev = event_new(c->q->base, c->authfd, EV_READ,
	    unban_answer, c)) == NULL || event_add(c->authev, &tv) == -1) {
		reply(c, 0, "unban: out of memory\n");
		return;
	}
}

static void
unban_answer(int fd, short events, void *arg)
{
	struct ctlconn	*c = arg;
	struct ipc_hdr	 h;
	struct timeval	 tv = { UNBAN_SECONDS, 0 };
	uint8_t		 buf[IPC_MAX_PAYLOAD];
	int		 n = -1;

	/* The auth process tells every connection what to offer: skip it. */
	while (!(events & EV_TIMEOUT) && (n = ipc_recv(fd, &h, buf)) == 1 &&
	    h.type == AUTH_MSG_MECHS)
		;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
	    event_add(c->authev, &tv) == 0)
		return;
	if (n != 1 || h.type != AUTH_MSG_UNBANNED || h.len != 1) {
		reply(c, 0, "unban: no answer from the auth process\n");
		return;
	}
	log_info("ctl uid=%ld pid=%ld cmd=unban arg=%s lifted=%u", c->uid,
	    c->pid, c->arg, buf[0]);
	if (buf[0] == 0) {
		reply(c, 0, "unban: no ban covers %s\n", c->arg);
		return;
	}
	if (c->json)
		reply(c, 1, "{\"ok\":true,\"action\":\"unban\",\"lifted\":%u}\n",
		    buf[0]);
	else
		reply(c, 1, "unban: %u ban%s lifted for %s\n", buf[0],
		    buf[0] == 1 ? "" : "s", c->arg);
}
