/*
 * The guard: failure ledgers and bans (guard.h).
 *
 * Per client address: auth-max-failures failures within auth-window ban
 * it for auth-ban seconds in the shared ban list (a full table evicts the
 * ban that ends soonest, and says so), unless it is in auth-exempt.  Per
 * account, from any address: each failure within the window adds
 * FAIL_SLOWDOWN_MS to the next failed answer's delay, at most
 * FAIL_SLOWDOWN_MAX_MS; an account is never locked, and a correct
 * password is never made to fail.
 *
 * With guard-store (guardstore.c) the ledgers here still decide each
 * answer at once, from this node's own counts: the store is told after,
 * counts for every node, and its bans arrive over pub/sub like ours.  A
 * ban made here is pushed to the store too.  So a guesser spread over N
 * nodes is banned after auth-max-failures in total, and a node that
 * lost the store still bans on its own count.
 *
 * The ledgers outlive this process (authstate.h): the next auth process,
 * after a reload or a crash, goes on counting where this one stopped.
 *
 * Bans survive a restart of the whole daemon: the bans in force are kept
 * in STATE_FILE in the spool's run directory (read at start; rewritten,
 * at most once a second when they changed, by a thread of ours through
 * durable_write(), so the loop never waits for the disk).  Format: one
 * "ADDRESS UNTIL" line per ban, ADDRESS as banlist_key_fmt() writes it,
 * UNTIL in Unix seconds.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/durable.h"
#include "common/log.h"
#include "common/workq.h"
#include "server/auth/authstate.h"
#include "server/auth/guard.h"
#include "server/auth/guardstore.h"
#include "server/auth/ledger.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/metrics.h"

#define FAIL_SLOWDOWN_MS	250	/* per recent failure of the account */
#define FAIL_SLOWDOWN_MAX_MS	5000
#define LEDGER_ENTRIES		16384	/* addresses, and accounts, tracked */
#define STATE_DIR		"run"	/* in the spool */
#define STATE_FILE		"bans"
#define STATE_TMP		"bans.tmp"
#define STATE_LINE_MAX		96	/* "ADDRESS/PLEN UNTIL\n" */

/* A snapshot of the bans, written by a pool thread. */
struct snapshot {
	char	*buf;
	size_t	 len, size;
	int	 error;		/* errno of the write, or 0 */
};

static struct {
	const struct config	*conf;
	struct ledger		*addrs;
	struct ledger		*accounts;
	int			 dirfd;		/* spool/run, or -1 */
	struct workq		*wq;		/* the state file's writer */
	int			 dirty;		/* bans changed since written */
	int			 writing;
	int			 write_failed;	/* logged */
} G;

static int	 ban(const struct banlist_key *, unsigned);
static void	 unban_cb(const struct banlist_key *);
static void	 lifted_cb(const struct banlist_key *);
static void	 fmt_time(time_t, char *, size_t);
static void	 state_load(void);
static struct snapshot *state_snapshot(void);
static void	 snapshot_add(const struct banlist_key *, time_t, void *);
static void	 state_write(void *);
static void	 state_written(void *);
static void	 store_ban(const struct banlist_key *, time_t);
static void	 store_resync(void);
static void	 push_one(const struct banlist_key *, time_t, void *);
static void	 store_account(const char *, unsigned);
static void	 store_unban(const struct banlist_key *);
static struct ledger *ledger_kept(enum authstate_root, unsigned);

static const struct guardstore_ops store_ops = {
	store_ban, store_resync, store_account, store_unban
};

void
guard_init(const struct config *conf)
{
	G.conf = conf;
	G.addrs = ledger_kept(AUTHSTATE_LEDGER_ADDRS, conf->auth_window);
	G.accounts = ledger_kept(AUTHSTATE_LEDGER_ACCOUNTS,
	    conf->auth_window);
	if (G.addrs == NULL || G.accounts == NULL)
		fatalx("out of memory");
	G.dirfd = -1;
	state_load();
	/*
	 * Written once at start too: the previous auth process (a reload)
	 * may have lost its last write to ours, and the table is the same.
	 */
	G.dirty = 1;
}

/*
 * A ledger that outlives this process (authstate.h): the previous auth
 * process's, when there was one (a reload keeps every failure counted),
 * else a new one in the region; without the region, our own.
 */
static struct ledger *
ledger_kept(enum authstate_root root, unsigned window)
{
	struct ledger	*l;
	void		**slot;

	if (!authstate_shared())
		return ledger_new(window, LEDGER_ENTRIES);
	authstate_lock();
	slot = authstate_root(root);
	if ((l = *slot) != NULL)
		ledger_set_window(l, window);
	else if ((l = ledger_new_in(window, LEDGER_ENTRIES,
	    authstate_alloc)) != NULL)
		*slot = l;
	authstate_unlock();
	return l;
}

void
guard_start(struct event_base *base)
{
	if ((G.wq = workq_new(base, 1)) == NULL)
		fatalx("workq_new");
	if (G.conf->guard_store.set)
		guardstore_start(base, G.conf, &store_ops);
}

void
guard_stop(void)
{
	struct snapshot	*snap;

	if (G.conf->guard_store.set)
		guardstore_stop();
	if (G.wq != NULL) {
		workq_free(G.wq);	/* a write under way finishes */
		G.wq = NULL;
	}
	/* The last bans, on the way out: the loop is no longer served. */
	if (G.dirty && G.dirfd != -1 && (snap = state_snapshot()) != NULL) {
		state_write(snap);
		state_written(snap);
	}
}

int
guard_refuses(const struct sockaddr *sa)
{
	return !cidr_match(G.conf->auth_exempt, G.conf->nauth_exempt, sa) &&
	    banlist_check(sa, NULL);
}

uint32_t
guard_record_failure(const char *account, const struct sockaddr *sa,
    int *banned)
{
	const struct config	*conf = G.conf;
	struct banlist_key	 key;
	unsigned		 recent, n;
	uint64_t		 mono = (uint64_t)mono_sec(), slow;

	*banned = 0;
	/* The account, from anywhere: slower failures, never a refusal. */
	authstate_lock();
	recent = ledger_count(G.accounts, account, strlen(account), mono);
	(void)ledger_fail(G.accounts, account, strlen(account), mono);
	authstate_unlock();
	slow = (uint64_t)recent * FAIL_SLOWDOWN_MS;
	if (slow > FAIL_SLOWDOWN_MAX_MS)
		slow = FAIL_SLOWDOWN_MAX_MS;

	/* The address: a ban after too many. */
	if (banlist_key(sa, conf->ban_ipv6_prefix, &key) == 0 &&
	    !cidr_match(conf->auth_exempt, conf->nauth_exempt, sa)) {
		authstate_lock();
		n = ledger_fail(G.addrs, &key, sizeof(key), mono);
		authstate_unlock();
		if (conf->guard_store.set)
			guardstore_fail(account, &key,
			    real_sec() + (time_t)conf->auth_ban);
		if (conf->auth_max_failures > 0 &&
		    n >= conf->auth_max_failures && ban(&key, n) == 0) {
			authstate_lock();
			ledger_clear(G.addrs, &key, sizeof(key));
			authstate_unlock();
		}
		*banned = banlist_check(sa, NULL);
	} else if (conf->guard_store.set)
		guardstore_fail(account, NULL, 0);
	return conf->auth_failure_delay + (uint32_t)slow;
}

/*
 * Ban key for auth-ban seconds after n failures; a full table evicts.
 * 0, or -1 when the ban list refused (logged).
 */
static int
ban(const struct banlist_key *key, unsigned n)
{
	struct banlist_key	old;
	time_t			until, old_until;
	char			who[INET6_ADDRSTRLEN + 8];
	char			ow[INET6_ADDRSTRLEN + 8], when[32];
	int			r;

	until = real_sec() + (time_t)G.conf->auth_ban;
	banlist_key_fmt(key, who, sizeof(who));
	if ((r = banlist_add(key, until, &old, &old_until)) == -1) {
		log_warn("cannot ban ip=%s", who);
		return -1;
	}
	if (r == 1) {
		fmt_time(old_until, when, sizeof(when));
		log_info("ban table full: evicted ip=%s until=%s",
		    banlist_key_fmt(&old, ow, sizeof(ow)), when);
	}
	fmt_time(until, when, sizeof(when));
	log_info("ban ip=%s failures=%u until=%s", who, n, when);
	G.dirty = 1;
	if (G.conf->guard_store.set)
		guardstore_push_ban(key, until);
	METRICS_ADD(bans_added, 1);
	return 0;
}

/* A ban from the store: ours, or another node's. */
static void
store_ban(const struct banlist_key *key, time_t until)
{
	struct banlist_key	old;
	time_t			cur, old_until;
	char			who[INET6_ADDRSTRLEN + 8], when[32];
	char			ow[INET6_ADDRSTRLEN + 8];
	struct sockaddr_in6	sin6;
	int			r;

	/* Already banned as long (our own ban, echoed): nothing to do. */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	memcpy(&sin6.sin6_addr, key->addr, sizeof(key->addr));
	if (banlist_check((struct sockaddr *)&sin6, &cur) && cur >= until)
		return;
	banlist_key_fmt(key, who, sizeof(who));
	if ((r = banlist_add(key, until, &old, &old_until)) == -1) {
		log_warn("cannot ban ip=%s", who);
		return;
	}
	if (r == 1) {
		fmt_time(old_until, when, sizeof(when));
		log_info("ban table full: evicted ip=%s until=%s",
		    banlist_key_fmt(&old, ow, sizeof(ow)), when);
	}
	fmt_time(until, when, sizeof(when));
	log_info("ban ip=%s source=guard-store until=%s", who, when);
	G.dirty = 1;
}

/*
 * The store counted failures of account on every node: raise the local
 * count to match (at most FAIL_SLOWDOWN_MAX_MS / FAIL_SLOWDOWN_MS steps,
 * all that the slowdown can use), so its next failed answer here is as
 * slow as if every failure had been ours.
 */
static void
store_account(const char *account, unsigned failures)
{
	uint64_t	mono = (uint64_t)mono_sec();
	unsigned	local, steps = 0;

	authstate_lock();
	local = ledger_count(G.accounts, account, strlen(account), mono);
	while (local < failures &&
	    steps++ <= FAIL_SLOWDOWN_MAX_MS / FAIL_SLOWDOWN_MS)
		if ((local = ledger_fail(G.accounts, account, strlen(account),
		    mono)) == 0)
			break;
	authstate_unlock();
}

/* The store is back (or new): it learns every ban we hold. */
static void
store_resync(void)
{
	banlist_foreach(push_one, NULL);
}

static void
push_one(const struct banlist_key *key, time_t until, void *arg)
{
	guardstore_push_ban(key, until);
}

void
guard_tick(void)
{
	uint64_t	mono = (uint64_t)mono_sec();

	struct snapshot	*snap;

	banlist_expire(unban_cb);
	authstate_lock();
	ledger_expire(G.addrs, mono);
	ledger_expire(G.accounts, mono);
	authstate_unlock();
	if (G.dirty && !G.writing && G.dirfd != -1 && G.wq != NULL &&
	    (snap = state_snapshot()) != NULL) {
		if (workq_submit(G.wq, state_write, state_written,
		    snap) == -1) {
			free(snap->buf);
			free(snap);
			return;
		}
		G.dirty = 0;
		G.writing = 1;
	}
}

static void
unban_cb(const struct banlist_key *k)
{
	char	who[INET6_ADDRSTRLEN + 8];

	log_info("unban ip=%s", banlist_key_fmt(k, who, sizeof(who)));
	G.dirty = 1;
}

/*
 * The state file: open spool/run and restore the bans it lists that
 * have not ended.  Start-up may wait for the disk; a missing file is no
 * error, an unreadable one is logged and ignored.
 */
static void
state_load(void)
{
	char		 path[4096], line[STATE_LINE_MAX + 2], *sp, *end;
	struct banlist_key k, old;
	time_t		 now = real_sec(), old_until;
	long long	 until;
	unsigned long	 restored = 0, bad = 0;
	FILE		*fp;
	int		 fd, n;

	n = snprintf(path, sizeof(path), "%s/" STATE_DIR, G.conf->spool);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    (G.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("bans cannot be kept across restarts: %s", path);
		G.dirfd = -1;
		return;
	}
	if ((fd = openat(G.dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_warn("%s/%s", path, STATE_FILE);
		return;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		log_warn("%s/%s", path, STATE_FILE);
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((end = strchr(line, '\n')) == NULL) {
			bad++;
			break;		/* over-long or cut short */
		}
		*end = '\0';
		if ((sp = strchr(line, ' ')) == NULL) {
			bad++;
			continue;
		}
		*sp = '\0';
		errno = 0;
		until = strtoll(sp + 1, &end, 10);
		if (errno != 0 || *end != '\0' || until <= 0 ||
		    banlist_key_parse(line, &k) == -1) {
			bad++;
			continue;
		}
		if ((time_t)until <= now)
			continue;
		if (banlist_add(&k, (time_t)until, &old, &old_until) >= 0)
			restored++;
	}
	fclose(fp);
	log_info("bans restored=%lu bad=%lu from %s/%s", restored, bad, path,
	    STATE_FILE);
}

static struct snapshot *
state_snapshot(void)
{
	struct snapshot	*snap;

	if ((snap = calloc(1, sizeof(*snap))) == NULL)
		return NULL;
	banlist_foreach(snapshot_add, snap);
	if (snap->error != 0) {
		free(snap->buf);
		free(snap);
		return NULL;
	}
	return snap;
}

static void
snapshot_add(const struct banlist_key *k, time_t until, void *arg)
{
	struct snapshot	*snap = arg;
	char		 who[INET6_ADDRSTRLEN + 8], *nb;
	size_t		 ns;
	int		 n;

	if (snap->error != 0)
		return;
	if (snap->size - snap->len < STATE_LINE_MAX) {
		ns = snap->size == 0 ? 4096 : snap->size * 2;
		if (ns < snap->size || (nb = realloc(snap->buf, ns)) == NULL) {
			snap->error = ENOMEM;
			return;
		}
		snap->buf = nb;
		snap->size = ns;
	}
	n = snprintf(snap->buf + snap->len, snap->size - snap->len,
	    "%s %lld\n", banlist_key_fmt(k, who, sizeof(who)),
	    (long long)until);
	if (n < 0 || (size_t)n >= snap->size - snap->len) {
		snap->error = EOVERFLOW;
		return;
	}
	snap->len += (size_t)n;
}

/* On the pool thread: only the snapshot and the directory. */
static void
state_write(void *arg)
{
	struct snapshot	*snap = arg;
	struct iovec	 iov;

	iov.iov_base = snap->buf != NULL ? snap->buf : (void *)"";
	iov.iov_len = snap->len;
	snap->error = durable_write(G.dirfd, STATE_TMP, STATE_FILE, &iov,
	    1) == -1 ? errno : 0;
}

static void
state_written(void *arg)
{
	struct snapshot	*snap = arg;

	G.writing = 0;
	if (snap->error != 0) {
		G.dirty = 1;	/* try again next second */
		if (!G.write_failed)
			log_warnx("cannot keep the bans in %s/%s/%s: %s",
			    G.conf->spool, STATE_DIR, STATE_FILE,
			    strerror(snap->error));
		G.write_failed = 1;
	} else
		G.write_failed = 0;
	free(snap->buf);
	free(snap);
}

static void
lifted_cb(const struct banlist_key *k)
{
	char	who[INET6_ADDRSTRLEN + 8];

	authstate_lock();
	ledger_clear(G.addrs, k, sizeof(*k));
	authstate_unlock();
	log_info("unban ip=%s by=smtpauthctl",
	    banlist_key_fmt(k, who, sizeof(who)));
	G.dirty = 1;		/* the state file must not bring it back */
	if (G.conf->guard_store.set)
		guardstore_unban(k);
}

/* Another node lifted a ban (its smtpauthctl unban): lift it here. */
static void
store_unban(const struct banlist_key *k)
{
	char	who[INET6_ADDRSTRLEN + 8];

	if (!banlist_remove(k))
		return;		/* ours, lifted already, or never here */
	authstate_lock();
	ledger_clear(G.addrs, k, sizeof(*k));
	authstate_unlock();
	G.dirty = 1;
	log_info("unban ip=%s by=guard-store",
	    banlist_key_fmt(k, who, sizeof(who)));
}

int
guard_unban(const struct sockaddr *sa, unsigned plen)
{
	int	n = banlist_unban(sa, plen, lifted_cb);

	return n > 255 ? 255 : n;
}

/* A ban's end as 2025-01-31T12:00:00Z. */
static void
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}
