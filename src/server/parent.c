/*
 * The parent: the only root process.  It never reads a client byte.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/durable.h"
#include "common/log.h"
#include "common/tls.h"
#include "server/auth/authd.h"
#include "server/auth/authstate.h"
#include "server/notify.h"
#include "server/parent.h"
#include "server/queue/dkim.h"
#include "server/metrics/metricsd.h"
#include "server/queue/queue.h"
#include "server/shared/banlist.h"
#include "server/shared/iplimit.h"
#include "server/shared/metrics.h"
#include "server/shared/spool.h"
#include "server/smtp/worker.h"
#include "server/spoolmove.h"
#include "server/queuectl.h"

#define MAX_CHILDREN	(2 * 256 + 2)
#define STOP_SECONDS	40
#define RESTART_DELAY	2
/* A child that exits with an error this many times in a row, each time
 * within RESTART_DELAY of its start, cannot start: give up. */
#define START_FAILURES	5

enum child_kind {
	CHILD_WORKER, CHILD_QUEUE, CHILD_AUTH, CHILD_METRICS, CHILD_KINDS
};

static const char *const kind_names[CHILD_KINDS] = {
	"worker", "queue", "auth", "metrics"
};

struct child {
	pid_t		 pid;
	enum child_kind	 kind;
	unsigned	 index;		/* worker number in its generation */
	unsigned	 slot;		/* iplimit slot */
	unsigned	 gen;
	time_t		 started;
	int		 stopped;	/* we sent it SIGTERM */
};

/* The sockets of one generation: [listen][worker]. */
struct sockets {
	int	*fd;
	size_t	 nlistens;
	unsigned workers;
};

struct parent {
	pid_t			 pid;		/* for the children's check */
	const char		*conffile;
	struct config		*conf;
	struct userset		 users;
	struct tls_ctx		*tls;
	struct tls_ticket_keys	*tickets;
	time_t			 rotated;
	struct sockets		 socks;
	int			 notify[2];	/* [0] queue, [1] workers */
	struct child		 children[MAX_CHILDREN];
	unsigned		 gen;
	int			 stopping;
	int			 wanted[CHILD_KINDS];	/* queue, auth */
	time_t			 single_restart[CHILD_KINDS];
	unsigned char		 slots[IPLIMIT_SLOTS];
	time_t			 restart_at[256];	/* per worker index */
	unsigned		 start_fails[256];	/* per worker index */
	unsigned		 single_fails[CHILD_KINDS];
	int			 failed;	/* gave up: exit 1 */
	char			*users_text;	/* for the auth process */
	size_t			 users_len;
	char			 authsock[108];	/* "" without users */
	uid_t			 uid;
	gid_t			 gid;
	int			 drop;
	char			*username;
	int			 ctl_fd;	/* smtpauthctl's socket */
	int			 metrics_fd;	/* metrics-listen, or -1 */
	char			 ctl_path[108];
	int			 draining;	/* smtpauthd drain */
	int			 drained;	/* its end logged */
};

static struct parent	P;

static int	probe_free(const struct listen_conf *);
static int	bind_all(const struct config *, struct sockets *, int, char *,
		    size_t);
static void	close_sockets(struct sockets *);
static int	same_sockets(const struct config *, const struct config *);
static void	start_worker(unsigned);
static void	start_queue(void);
static void	child_setup(void);
static void	reap(void);
static void	reload(void);
static void	stop_all(void);
static struct child *child_slot(void);
static int	worker_running(unsigned, unsigned);
static int	single_running(enum child_kind, unsigned);
static void	start_auth(void);
static void	free_users_text(void);
static void	drop_server_tls(void);
static void	log_users_warning(const char *);
static int	authsock_path(const struct config *, char *, size_t, char *,
		    size_t);
static int	setup_dirs(const struct config *, char *, size_t);
static void	count_start_failure(const struct child *, int, unsigned *);
static int	ctl_bind(const struct config *, char *, size_t);
static int	ctl_bind_as(int, const struct sockaddr_un *, int);
static void	ctl_unlink(void);
static int	metrics_bind(const struct config *, char *, size_t);
static void	start_metrics(void);
static int	spool_move_check(const struct config *, char *, size_t);
static void	drain_start(void);
static void	drain_check(void);

int
parent_load_tls(const struct config *conf, struct tls_ticket_keys *tickets,
    struct tls_ctx **ctx, char *err, size_t errlen)
{
	*ctx = NULL;
	if (conf->ntls_cert == 0)
		return 0;
	*ctx = tls_server_new((const char *const *)conf->tls_cert,
	    (const char *const *)conf->tls_key, conf->ntls_cert, tickets,
	    err, errlen);
	if (*ctx == NULL)
		return -1;
	/* Without tickets (smtpauthd -n) the file is only checked. */
	if ((conf->tls_ticket_keys != NULL || tickets != NULL) &&
	    tls_ticket_keys_load(tickets, conf->tls_ticket_keys, err,
	    errlen) == -1) {
		tls_ctx_free(*ctx);
		*ctx = NULL;
		return -1;
	}
	return 0;
}

static void
log_users_warning(const char *msg)
{
	log_warnx("%s", msg);
}

int
parent_load_users(const struct config *conf, struct userset *us,
    char **text, size_t *len, int strict)
{
	char	err[512];
	size_t	nbad;

	us->addrs = NULL;
	us->n = 0;
	*text = NULL;
	*len = 0;
	if (conf->users == NULL)
		return 0;
	/* Read once: the workers' addresses and the auth process's
	 * hashes come from the same text. */
	if (users_read(conf->users, text, len, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	if (users_load_text(conf->users, *text, *len, us, &nbad,
	    log_users_warning, err, sizeof(err)) == -1 ||
	    (strict && nbad > 0)) {
		if (nbad == 0)
			log_warnx("%s", err);
		explicit_bzero(*text, *len);
		free(*text);
		*text = NULL;
		*len = 0;
		users_free(us);
		return -1;
	}
	return 0;
}

/*
 * The auth socket lives in the spool's private run directory ("" when
 * there is no users file).  0, or -1 with err set.
 */
static int
authsock_path(const struct config *conf, char *out, size_t outlen,
    char *err, size_t errlen)
{
	int	n;

	out[0] = '\0';
	/* A remote account store needs the auth process, users file or not. */
	if (conf->users == NULL && conf->auth_backend == AUTH_BACKEND_FILE)
		return 0;
	n = snprintf(out, outlen, "%s/run/auth.sock", conf->spool);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		snprintf(err, errlen, "spool path too long for the auth "
		    "socket: %s", conf->spool);
		return -1;
	}
	return 0;
}

/*
 * The spool and the Maildir root, made and given to the server's user:
 * at start and for a reload that names new ones, before any child needs
 * them.  0, or -1 with err set.
 */
static int
setup_dirs(const struct config *conf, char *err, size_t errlen)
{
	if (spool_setup(conf->spool, P.drop ? (long)P.uid : -1,
	    P.drop ? (long)P.gid : -1, err, errlen) == -1)
		return -1;
	if (conf->mailbox_root != NULL && mkdir(conf->mailbox_root, 0700) ==
	    0 && P.drop && chown(conf->mailbox_root, P.uid, P.gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", conf->mailbox_root,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Is the address free?  SO_REUSEPORT would let us share it with anyone
 * else's listener bound the same way (another smtpauthd started by
 * mistake), who would then get part of the connections.  A socket
 * without it cannot be bound next to such a listener.  Returns 0, or -1
 * with errno set (EADDRINUSE).
 */
static int
probe_free(const struct listen_conf *lc)
{
	int	fd, one = 1, r, saved;

	fd = socket(lc->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lc->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	r = bind(fd, (const struct sockaddr *)&lc->addr, lc->addrlen);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* probe: at start, refuse an address someone already listens on. */
static int
bind_all(const struct config *conf, struct sockets *sk, int probe,
    char *err, size_t errlen)
{
	const struct listen_conf	*lc;
	size_t				 i;
	unsigned			 w;
	int				 fd, one = 1;

	sk->nlistens = conf->nlistens;
	sk->workers = conf->workers;
	sk->fd = calloc(sk->nlistens * sk->workers, sizeof(int));
	if (sk->fd == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < sk->nlistens * sk->workers; i++)
		sk->fd[i] = -1;
	for (i = 0; i < conf->nlistens; i++) {
		lc = &conf->listens[i];
		if (probe && probe_free(lc) == -1) {
			snprintf(err, errlen, "listen %s: %s%s", lc->text,
			    strerror(errno), errno == EADDRINUSE ?
			    " (is another smtpauthd running?)" : "");
			close_sockets(sk);
			return -1;
		}
		/* One socket per worker: the kernel spreads connections. */
		for (w = 0; w < conf->workers; w++) {
			fd = socket(lc->addr.ss_family, SOCK_STREAM |
			    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd == -1)
				goto fail;
			sk->fd[i * sk->workers + w] = fd;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			    sizeof(one)) == -1)
				goto fail;
			if (lc->addr.ss_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				    sizeof(one));
			if (bind(fd, (const struct sockaddr *)&lc->addr,
			    lc->addrlen) == -1 || listen(fd, SOMAXCONN) == -1)
				goto fail;
		}
	}
	return 0;
fail:
	snprintf(err, errlen, "listen %s: %s", lc->text, strerror(errno));
	close_sockets(sk);
	return -1;
}

static void
close_sockets(struct sockets *sk)
{
	size_t	i;

	if (sk->fd == NULL)
		return;
	for (i = 0; i < sk->nlistens * sk->workers; i++)
		if (sk->fd[i] != -1)
			close(sk->fd[i]);
	free(sk->fd);
	sk->fd = NULL;
}

/* Can the new config keep the sockets of the old one? */
static int
same_sockets(const struct config *a, const struct config *b)
{
	size_t	i;

	if (a->nlistens != b->nlistens || a->workers != b->workers)
		return 0;
	for (i = 0; i < a->nlistens; i++)
		if (a->listens[i].addrlen != b->listens[i].addrlen ||
		    memcmp(&a->listens[i].addr, &b->listens[i].addr,
		    a->listens[i].addrlen) != 0)
			return 0;
	return 1;
}

static struct child *
child_slot(void)
{
	size_t	i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid == 0)
			return &P.children[i];
	return NULL;
}

static int
worker_running(unsigned gen, unsigned index)
{
	size_t	i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0 &&
		    P.children[i].kind == CHILD_WORKER &&
		    P.children[i].gen == gen && P.children[i].index == index)
			return 1;
	return 0;
}

static int
single_running(enum child_kind kind, unsigned gen)
{
	size_t	i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0 && P.children[i].kind == kind &&
		    P.children[i].gen == gen)
			return 1;
	return 0;
}

/* In a new child: default signals, fewer privileges. */
static void
child_setup(void)
{
	sigset_t	none;

	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (P.drop) {
		if (setgroups(1, &P.gid) == -1 ||
		    setresgid(P.gid, P.gid, P.gid) == -1 ||
		    setresuid(P.uid, P.uid, P.uid) == -1)
			fatal("cannot drop privileges to %s", P.username);
		if (setuid(0) != -1)
			fatalx("privileges were not dropped");
	}
	/*
	 * No orphans: when the parent dies, SIGTERM, so that a child
	 * finishes what it has under way (a commit, a delivery, its
	 * record) and lets go of the listeners at once.  Set after the
	 * credentials change, which clears it; a parent that died before
	 * is seen by getppid().
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != P.pid)
		fatalx("the parent is gone");
}

static void
start_worker(unsigned index)
{
	struct worker_listener	*ls;
	struct child		*c;
	unsigned		 slot;
	size_t			 i, j;
	pid_t			 pid;

	for (slot = 0; slot < IPLIMIT_SLOTS && P.slots[slot]; slot++)
		;
	if (slot == IPLIMIT_SLOTS || (c = child_slot()) == NULL) {
		log_warnx("too many processes");
		return;
	}
	iplimit_clear_slot(slot);
	metrics_clear_slot(slot);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return;
	}
	if (pid == 0) {
		child_setup();
		/* The auth processes' ledgers and login cache: theirs. */
		authstate_detach();
		/* A worker reads bans; only the auth process makes them. */
		banlist_readonly();
		ls = calloc(P.socks.nlistens, sizeof(*ls));
		if (ls == NULL)
			fatalx("out of memory");
		for (i = 0; i < P.socks.nlistens; i++) {
			ls[i].fd = P.socks.fd[i * P.socks.workers + index];
			ls[i].lc = &P.conf->listens[i];
			/* The other workers' sockets are theirs. */
			for (j = 0; j < P.socks.workers; j++)
				if (j != index)
					close(P.socks.fd[i * P.socks.workers +
					    j]);
		}
		close(P.notify[0]);
		close(P.ctl_fd);
		if (P.metrics_fd != -1)
			close(P.metrics_fd);
		free_users_text();
		worker_main(P.conf, &P.users, P.tls,
		    P.authsock[0] ? P.authsock : NULL, ls, P.socks.nlistens,
		    P.notify[1], slot);
	}
	P.slots[slot] = 1;
	c->pid = pid;
	c->stopped = 0;
	c->kind = CHILD_WORKER;
	c->index = index;
	c->slot = slot;
	c->gen = P.gen;
	c->started = time(NULL);
	metrics_proc_add(pid, METRICS_PROC_WORKER, index);
	log_info("started worker=%u pid=%ld", index, (long)pid);
}

static void
start_queue(void)
{
	struct child	*c;
	pid_t		 pid;
	size_t		 i;

	if ((c = child_slot()) == NULL)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return;
	}
	if (pid == 0) {
		drop_server_tls();
		/* Still root: relay-auth and relay-ca-file may be 0600. */
		banlist_readonly();
		authstate_detach();
		queue_prepare(P.conf);
		child_setup();
		for (i = 0; i < P.socks.nlistens * P.socks.workers; i++)
			close(P.socks.fd[i]);
		close(P.notify[1]);
		if (P.metrics_fd != -1)
			close(P.metrics_fd);
		free_users_text();
		queue_main(P.conf, P.notify[0], P.ctl_fd);
	}
	P.wanted[CHILD_QUEUE] = 0;
	c->pid = pid;
	c->stopped = 0;
	c->kind = CHILD_QUEUE;
	c->gen = P.gen;
	c->started = time(NULL);
	metrics_proc_add(pid, METRICS_PROC_QUEUE, 0);
	log_info("started queue pid=%ld", (long)pid);
}

/*
 * In a new auth or queue process: only the workers do handshakes, so the
 * others let go of the server's private keys (freeing the context wipes
 * them: OpenSSL clears a key's numbers when it frees them) and of the
 * session-ticket keys, before anything else runs.  No text of a key
 * file is left elsewhere: tls.c reads it through a buffer it wipes.
 */
static void
drop_server_tls(void)
{
	tls_ctx_free(P.tls);
	P.tls = NULL;
	tls_ticket_keys_unmap(P.tickets);
	P.tickets = NULL;
}

static void
free_users_text(void)
{
	if (P.users_text != NULL) {
		explicit_bzero(P.users_text, P.users_len);
		free(P.users_text);
	}
	P.users_text = NULL;
	P.users_len = 0;
}

/*
 * The auth process gets a copy of the users file as read by the parent
 * (as root): the file may be readable by root only.
 */
static void
start_auth(void)
{
	struct child	*c;
	char		*text = NULL, *bindpw = NULL, err[512];
	pid_t		 pid;
	size_t		 i;

	P.wanted[CHILD_AUTH] = 0;
	if (P.authsock[0] == '\0' || (c = child_slot()) == NULL)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		P.wanted[CHILD_AUTH] = 1;
		return;
	}
	if (pid == 0) {
		drop_server_tls();
		/* Still root: the bind password file may be 0600 root. */
		if (P.conf->auth_backend == AUTH_BACKEND_LDAP &&
		    P.conf->ldap_bind_password_file != NULL &&
		    (bindpw = parent_read_secret(
		    P.conf->ldap_bind_password_file, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		child_setup();
		for (i = 0; i < P.socks.nlistens * P.socks.workers; i++)
			close(P.socks.fd[i]);
		close(P.notify[0]);
		close(P.notify[1]);
		close(P.ctl_fd);
		if (P.metrics_fd != -1)
			close(P.metrics_fd);
		if (P.users_len > 0 && (text = malloc(P.users_len)) == NULL)
			fatalx("out of memory");
		if (text != NULL)
			memcpy(text, P.users_text, P.users_len);
		i = P.users_len;
		free_users_text();
		authd_main(P.conf, text, text ? i : 0, bindpw, P.authsock);
	}
	c->pid = pid;
	c->stopped = 0;
	c->kind = CHILD_AUTH;
	c->gen = P.gen;
	c->started = time(NULL);
	metrics_proc_add(pid, METRICS_PROC_AUTH, 0);
	log_info("started auth pid=%ld", (long)pid);
}

#define SECRET_MAX	1024

char *
parent_read_secret(const char *path, char *err, size_t errlen)
{
	char	 buf[SECRET_MAX + 2], *s;
	size_t	 n;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = 0;
	while (n < sizeof(buf) - 1 &&
	    (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	s = NULL;
	if (n > SECRET_MAX)
		(void)snprintf(err, errlen, "%s: longer than %d octets", path,
		    SECRET_MAX);
	else if (buf[0] == '\0')
		(void)snprintf(err, errlen, "%s: empty", path);
	else if ((s = strdup(buf)) == NULL)
		(void)snprintf(err, errlen, "%s: out of memory", path);
	explicit_bzero(buf, sizeof(buf));
	return s;
}

static void
reap(void)
{
	struct child	*c;
	pid_t		 pid;
	size_t		 i;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0, c = NULL; i < MAX_CHILDREN; i++)
			if (P.children[i].pid == pid)
				c = &P.children[i];
		if (c == NULL)
			continue;
		metrics_proc_del(pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM &&
		    c->stopped)
			/* Asked to stop before it had set its handler up. */
			log_info("%s pid=%ld stopped", kind_names[c->kind],
			    (long)pid);
		else if (WIFSIGNALED(status))
			log_warnx("%s pid=%ld killed by signal %d",
			    kind_names[c->kind], (long)pid, WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0 || (!P.stopping &&
		    c->gen == P.gen))
			log_warnx("%s pid=%ld exited with status %d",
			    kind_names[c->kind], (long)pid,
			    WEXITSTATUS(status));
		c->pid = 0;
		if (c->kind == CHILD_WORKER) {
			iplimit_clear_slot(c->slot);
			metrics_clear_slot(c->slot);
			P.slots[c->slot] = 0;
			/* A crash loop is slowed down, not stopped. */
			if (c->gen == P.gen && c->index < 256) {
				P.restart_at[c->index] = time(NULL) -
				    c->started < RESTART_DELAY ?
				    time(NULL) + RESTART_DELAY : 0;
				count_start_failure(c, status,
				    &P.start_fails[c->index]);
			}
		} else if (c->kind == CHILD_QUEUE ||
		    ((c->kind == CHILD_AUTH || c->kind == CHILD_METRICS) &&
		    c->gen == P.gen)) {
			/* One queue at a time; the auth of this generation. */
			P.single_restart[c->kind] = c->gen == P.gen &&
			    time(NULL) - c->started < RESTART_DELAY ?
			    time(NULL) + RESTART_DELAY : 0;
			P.wanted[c->kind] = 1;
			if (c->gen == P.gen)
				count_start_failure(c, status,
				    &P.single_fails[c->kind]);
		}
	}
}

/*
 * A child that exits with an error status soon after its start, again
 * and again, cannot start at all (a spool it may not enter, a socket it
 * cannot bind): restarting it forever would hide that behind a server
 * that looks alive.  Like Postfix's master, give up and exit non-zero.
 * A crash by a signal is only slowed down: a client that can crash a
 * worker must not be able to stop the whole server that way.
 */
static void
count_start_failure(const struct child *c, int status, unsigned *fails)
{
	if (c->stopped || P.stopping || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 0 ||
	    time(NULL) - c->started >= RESTART_DELAY) {
		*fails = 0;
		return;
	}
	if (++*fails < START_FAILURES)
		return;
	if (c->kind == CHILD_WORKER)
		log_warnx("worker=%u failed to start %d times in a row "
		    "(exit status %d; its error is logged above): giving up",
		    c->index, START_FAILURES, WEXITSTATUS(status));
	else
		log_warnx("%s failed to start %d times in a row "
		    "(exit status %d; its error is logged above): giving up",
		    kind_names[c->kind], START_FAILURES, WEXITSTATUS(status));
	P.failed = 1;
	P.stopping = 1;
}

static void
reload(void)
{
	struct config	*conf;
	struct userset	 users;
	struct tls_ctx	*tls;
	struct sockets	 socks = { NULL, 0, 0 };
	char		 err[512], *text, authsock[sizeof(P.authsock)];
	size_t		 i, textlen;

	/*
	 * Everything the new generation needs is checked here, while the
	 * running one still serves: an error keeps it, and nothing of the
	 * new configuration is used.  Relative paths start from the file's
	 * directory, as they did at start.
	 */
	log_info("reloading %s", P.conffile);
	if ((conf = config_load(P.conffile, err, sizeof(err))) == NULL ||
	    config_resolve_paths(conf, err, sizeof(err)) == -1 ||
	    authsock_path(conf, authsock, sizeof(authsock), err,
	    sizeof(err)) == -1 || setup_dirs(conf, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		config_free(conf);
		return;
	}
	if (dkim_keys_check(conf, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		config_free(conf);
		return;
	}
	if (parent_load_users(conf, &users, &text, &textlen, 0) == -1) {
		log_warnx("reload failed, keeping the running configuration: "
		    "users file");
		config_free(conf);
		return;
	}
	/* Certificates are re-read too: a renewed one takes effect. */
	if (parent_load_tls(conf, P.tickets, &tls, err, sizeof(err)) == -1)
		goto fail;
	if (!same_sockets(P.conf, conf) &&
	    bind_all(conf, &socks, 0, err, sizeof(err)) == -1) {
		tls_ctx_free(tls);
		goto fail;
	}
	{
		char	path[sizeof(P.ctl_path)];

		if (config_control_socket(conf, path, sizeof(path)) == -1 ||
		    strcmp(path, P.ctl_path) != 0 ||
		    (conf->control_group == NULL) !=
		    (P.conf->control_group == NULL) ||
		    (conf->control_group != NULL && strcmp(conf->control_group,
		    P.conf->control_group) != 0))
			log_warnx("control-socket, control-group: %s is kept "
			    "until a restart", P.ctl_path);
		if (conf->metrics_addrlen != P.conf->metrics_addrlen ||
		    memcmp(&conf->metrics_addr, &P.conf->metrics_addr,
		    conf->metrics_addrlen) != 0)
			log_warnx("metrics-listen: %s is kept until a restart",
			    P.metrics_fd != -1 ? P.conf->metrics_text : "off");
	}
	if (conf->ban_table_size != P.conf->ban_table_size)
		log_warnx("ban-table-size: the table keeps %u entries until "
		    "a restart", P.conf->ban_table_size);
	/* The old generation drains; the new one starts now. */
	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0) {
			kill(P.children[i].pid, SIGTERM);
			P.children[i].stopped = 1;
		}
	config_free(P.conf);
	users_free(&P.users);
	tls_ctx_free(P.tls);
	P.conf = conf;
	log_set_json(conf->log_json);
	P.users = users;
	P.tls = tls;
	free_users_text();
	P.users_text = text;
	P.users_len = textlen;
	memcpy(P.authsock, authsock, sizeof(P.authsock));
	if (socks.fd != NULL) {
		close_sockets(&P.socks);
		P.socks = socks;
	}
	P.gen++;
	memset(P.restart_at, 0, sizeof(P.restart_at));
	/* The new auth process takes over the socket at once. */
	start_auth();
	start_metrics();
	for (i = 0; i < conf->workers; i++)
		start_worker((unsigned)i);
	/* One queue at a time: the new one starts when the old one ends. */
	P.wanted[CHILD_QUEUE] = 1;
	log_info("reloaded users=%zu workers=%u", P.users.n, conf->workers);
	return;
fail:
	log_warnx("reload failed, keeping the running configuration: %s", err);
	if (text != NULL) {
		explicit_bzero(text, textlen);
		free(text);
	}
	users_free(&users);
	config_free(conf);
}

static void
stop_all(void)
{
	sigset_t	 set;
	siginfo_t	 info;
	struct timespec	 ts = { 1, 0 };
	time_t		 deadline = time(NULL) + STOP_SECONDS;
	size_t		 i;
	int		 alive;

	log_info("stopping");
	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0) {
			kill(P.children[i].pid, SIGTERM);
			P.children[i].stopped = 1;
		}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		reap();
		for (i = 0, alive = 0; i < MAX_CHILDREN; i++)
			alive += P.children[i].pid != 0;
		if (alive == 0)
			break;
		if (time(NULL) >= deadline) {
			for (i = 0; i < MAX_CHILDREN; i++)
				if (P.children[i].pid != 0)
					kill(P.children[i].pid, SIGKILL);
			deadline = time(NULL) + 5;
		}
		sigtimedwait(&set, &info, &ts);
	}
	log_info("stopped");
}

int
parent_main(const char *conffile, struct config *conf, struct userset *users,
    char *users_text, size_t users_len)
{
	struct passwd	*pw;
	sigset_t	 set;
	siginfo_t	 info;
	struct timespec	 ts = { 1, 0 };
	char		 err[512];
	unsigned	 i;
	int		 sig;

	log_setproc("parent");
	P.pid = getpid();
	P.conffile = conffile;
	P.conf = conf;
	P.users = *users;
	P.users_text = users_text;
	P.users_len = users_len;
	if (authsock_path(conf, P.authsock, sizeof(P.authsock), err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	if (geteuid() == 0) {
		if (conf->user == NULL)
			fatalx("%s: refusing to run as root without a "
			    "\"user\" directive", conffile);
		if ((pw = getpwnam(conf->user)) == NULL)
			fatalx("%s: user: unknown user \"%s\"", conffile,
			    conf->user);
		if (pw->pw_uid == 0)
			fatalx("%s: user: \"%s\" is root", conffile,
			    conf->user);
		P.uid = pw->pw_uid;
		P.gid = pw->pw_gid;
		P.drop = 1;
		P.username = strdup(conf->user);
	}
	if (setup_dirs(conf, err, sizeof(err)) == -1 ||
	    spool_move_check(conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (iplimit_init() == -1 || banlist_init(conf->ban_table_size) == -1 ||
	    metrics_init() == -1 || authstate_init() == -1 ||
	    durable_share() == -1)
		fatal("shared tables");
	if ((P.ctl_fd = ctl_bind(conf, err, sizeof(err))) == -1 ||
	    ((P.metrics_fd = metrics_bind(conf, err, sizeof(err))) == -1 &&
	    conf->metrics_addrlen != 0))
		fatalx("%s", err);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, P.notify) == -1)
		fatal("socketpair");
	if (fcntl(P.notify[1], F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	if (bind_all(conf, &P.socks, 1, err, sizeof(err)) == -1)
		fatalx("%s", err);
	/* Keys are read as root, before any child drops privileges. */
	if ((P.tickets = tls_ticket_keys_new()) == NULL)
		fatalx("tls: cannot make session ticket keys");
	P.rotated = mono_sec();
	if (parent_load_tls(conf, P.tickets, &P.tls, err, sizeof(err)) == -1)
		fatalx("%s", err);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	start_auth();
	for (i = 0; i < conf->workers; i++)
		start_worker(i);
	start_queue();
	start_metrics();
	log_info("ready hostname=%s listeners=%zu workers=%u users=%zu",
	    conf->hostname, conf->nlistens, conf->workers, P.users.n);
	notify_ready();

	while (!P.stopping) {
		sig = sigtimedwait(&set, &info, &ts);
		switch (sig) {
		case SIGHUP:
			if (P.draining) {
				log_warnx("draining: reload ignored");
				break;
			}
			notify_reloading();
			reload();
			notify_ready();
			break;
		case SIGUSR1:
			drain_start();
			break;
		case SIGTERM:
		case SIGINT:
			P.stopping = 1;
			continue;
		case SIGCHLD:
		default:
			break;
		}
		reap();
		if (P.stopping)
			continue;
		if (mono_sec() - P.rotated >= TLS_TICKET_ROTATE_SECS) {
			tls_ticket_keys_rotate(P.tickets);
			P.rotated = mono_sec();
		}
		drain_check();
		for (i = 0; i < P.conf->workers && !P.draining; i++)
			if (!worker_running(P.gen, i) &&
			    time(NULL) >= P.restart_at[i])
				start_worker(i);
		if (P.wanted[CHILD_QUEUE] && !single_running(CHILD_QUEUE,
		    P.gen) && !single_running(CHILD_QUEUE, P.gen - 1) &&
		    time(NULL) >= P.single_restart[CHILD_QUEUE])
			start_queue();
		if (P.wanted[CHILD_AUTH] && !single_running(CHILD_AUTH,
		    P.gen) && time(NULL) >= P.single_restart[CHILD_AUTH])
			start_auth();
		if (P.wanted[CHILD_METRICS] && !single_running(CHILD_METRICS,
		    P.gen) && time(NULL) >= P.single_restart[CHILD_METRICS])
			start_metrics();
	}
	notify_stopping();
	stop_all();
	/* No auth process is left: the login cache and its key go. */
	authstate_wipe();
	free_users_text();
	tls_ctx_free(P.tls);
	close_sockets(&P.socks);
	close(P.ctl_fd);
	ctl_unlink();
	if (P.metrics_fd != -1)
		close(P.metrics_fd);
	users_free(&P.users);
	config_free(P.conf);
	free(P.username);
	return P.failed ? 1 : 0;
}

/*
 * smtpauthctl's socket, bound here as root (like the listeners) and
 * served by the queue process: 0600, or 0660 and group control-group,
 * owned by root when we are root.  Returns the descriptor, or -1 with err
 * set.
 */
static int
ctl_bind(const struct config *conf, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct group		*gr = NULL;
	char			*slash;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (config_control_socket(conf, P.ctl_path, sizeof(P.ctl_path)) == -1) {
		snprintf(err, errlen, "control-socket: path too long");
		return -1;
	}
	memcpy(sun.sun_path, P.ctl_path, sizeof(P.ctl_path));
	if (conf->control_group != NULL &&
	    (gr = getgrnam(conf->control_group)) == NULL) {
		snprintf(err, errlen, "control-group: no such group %s",
		    conf->control_group);
		return -1;
	}
	/* Its directory, one level, when it is missing (/run/smtpauthd). */
	if ((slash = strrchr(sun.sun_path, '/')) != NULL && slash !=
	    sun.sun_path) {
		*slash = '\0';
		if (mkdir(sun.sun_path, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "control-socket: mkdir %s: %s",
			    sun.sun_path, strerror(errno));
			return -1;
		}
		*slash = '/';
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "control-socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * As root; in the server's user's own directory (the default, in
	 * the spool's 0700 run/) a root without CAP_DAC_OVERRIDE (the
	 * unit's) may not write: then as that user, who owns the socket.
	 */
	old = umask(0177);
	if (ctl_bind_as(fd, &sun, 0) == -1 && (errno != EACCES || !P.drop ||
	    ctl_bind_as(fd, &sun, 1) == -1)) {
		umask(old);
		snprintf(err, errlen, "control-socket %s: %s", sun.sun_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if ((gr != NULL && chown(sun.sun_path, (uid_t)-1, gr->gr_gid) ==
	    -1) || listen(fd, 16) == -1) {
		snprintf(err, errlen, "control-socket %s: %s", sun.sun_path,
		    strerror(errno));
		close(fd);
		unlink(sun.sun_path);
		return -1;
	}
	return fd;
}

/*
 * Bind fd to sun (removing a socket left by a server that is gone:
 * bind_all() refused a running one already), as root or as the server's
 * user (as_user, through the file system ids), and give it mode 0660
 * with control-group.  0, or -1 with errno set.
 */
static int
ctl_bind_as(int fd, const struct sockaddr_un *sun, int as_user)
{
	struct stat	st;
	int		r, saved;

	if (as_user) {
		(void)setfsgid(P.gid);
		(void)setfsuid(P.uid);
	}
	if (lstat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sun->sun_path);
	r = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (r == 0 && P.conf->control_group != NULL)
		r = chmod(sun->sun_path, 0660);
	saved = errno;
	if (as_user) {
		(void)setfsuid(0);
		(void)setfsgid(0);
	}
	errno = saved;
	return r;
}

/* At the stop: as root, else as the server's user (see ctl_bind). */
static void
ctl_unlink(void)
{
	if (unlink(P.ctl_path) == 0 || errno != EACCES || !P.drop)
		return;
	(void)setfsgid(P.gid);
	(void)setfsuid(P.uid);
	(void)unlink(P.ctl_path);
	(void)setfsuid(0);
	(void)setfsgid(0);
}

/* metrics-listen, bound as root like the listeners; -1 when off. */
static int
metrics_bind(const struct config *conf, char *err, size_t errlen)
{
	int	fd, one = 1;

	if (conf->metrics_addrlen == 0)
		return -1;
	if ((fd = socket(conf->metrics_addr.ss_family, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "metrics-listen: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&conf->metrics_addr,
	    conf->metrics_addrlen) == -1 || listen(fd, 64) == -1) {
		snprintf(err, errlen, "metrics-listen %s: %s",
		    conf->metrics_text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The metrics process: no TLS key, no users text, no relay credential
 * (those are read by the queue after its own fork), the ban table
 * read-only.  Its socket is bound at start; a reload keeps it.
 */
static void
start_metrics(void)
{
	struct child	*c;
	pid_t		 pid;
	size_t		 i;

	P.wanted[CHILD_METRICS] = 0;
	if (P.metrics_fd == -1 || (c = child_slot()) == NULL)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		P.wanted[CHILD_METRICS] = 1;
		return;
	}
	if (pid == 0) {
		drop_server_tls();
		banlist_readonly();
		authstate_detach();
		child_setup();
		for (i = 0; i < P.socks.nlistens * P.socks.workers; i++)
			close(P.socks.fd[i]);
		close(P.notify[0]);
		close(P.notify[1]);
		close(P.ctl_fd);
		free_users_text();
		metricsd_main(P.conf, P.metrics_fd);
	}
	c->pid = pid;
	c->stopped = 0;
	c->kind = CHILD_METRICS;
	c->gen = P.gen;
	c->started = time(NULL);
	metrics_proc_add(pid, METRICS_PROC_METRICS, 0);
	log_info("started metrics pid=%ld", (long)pid);
}

/*
 * Moving a spool (spoolmove.h): a spool whose export was interrupted must
 * not be served: its messages may be in the export directory too.
 */
static int
spool_move_check(const struct config *conf, char *err, size_t errlen)
{
	char	path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", conf->spool,
	    SPOOLMOVE_EXPORTING) >= sizeof(path))
		return 0;
	if (access(path, F_OK) == 0) {
		if ((size_t)snprintf(err, errlen, "%s: an export of this "
		    "spool was interrupted: run it again to finish it "
		    "(smtpauthd(8), Moving a spool)", path) >= errlen)
			err[errlen - 1] = '\0';
		return -1;
	}
	return 0;
}

/*
 * drain (SIGUSR1): close the listeners, so that new connections are
 * refused; stop the workers, which finish the sessions they hold (an idle
 * one gets 421 at once, one in a transaction after it); start no new
 * ones; and make the queue try every message now.  The queue and the auth
 * process go on until the node is stopped.
 */
static void
drain_start(void)
{
	char	err[512];
	size_t	i;

	if (P.draining)
		return;
	P.draining = 1;
	close_sockets(&P.socks);
	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0 &&
		    P.children[i].kind == CHILD_WORKER) {
			kill(P.children[i].pid, SIGTERM);
			P.children[i].stopped = 1;
		}
	if (queuectl_flush(P.conf->spool, err, sizeof(err)) == -1)
		log_warnx("draining: %s", err);
	log_info("draining: listeners closed; open sessions finish; the "
	    "queue tries every message now");
}

/* Once the last worker is gone: said once. */
static void
drain_check(void)
{
	size_t	i;

	if (!P.draining || P.drained)
		return;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (P.children[i].pid != 0 &&
		    P.children[i].kind == CHILD_WORKER)
			return;
	P.drained = 1;
	log_info("drained: no session open; the queue delivers what it "
	    "holds; stop the node, then export what is left");
}
