/*
 * The shared guard store (guardstore.h).
 *
 * Two connections (redisconn.c: hiredis's protocol over a libevent
 * bufferevent, plain or TLS) on the auth process's loop: one for
 * commands, one subscribed to the ban channel (a subscribed connection
 * can do nothing else).  Keys, all under
 * "smtpauthd:":
 *
 *   fail:ip:ADDRESS	failures of an address key (banlist_key_fmt())
 *   fail:acct:ACCOUNT	failures of an account, from any address
 *   ban:ADDRESS	a ban: its end (Unix seconds), expiring with it
 *
 * A counter's window starts at its first failure and lasts auth-window
 * (the key's expiry); the FAIL script counts both and, at
 * auth-max-failures for the address, sets the ban and publishes
 * "ADDRESS UNTIL" on smtpauthd:bans, all in one atomic step.  Scripts go
 * as EVAL (Redis keeps the compiled script by its SHA1; only failures
 * pay the few hundred bytes), so a restarted or flushed server needs no
 * SCRIPT LOAD dance.
 *
 * Never waiting: the guard answers from its local ledgers and tells the
 * store afterwards (the store's count of the account comes back and
 * raises the local one, so the next failed answer of that account is
 * slowed for the failures on every node); at most MAX_INFLIGHT commands
 * are unanswered, more are not sent (the local guard still counts them).
 * A command unanswered for CMD_TIMEOUT_MS, a connection not ready within
 * it (TLS handshake included), an error reply to AUTH or SELECT, a
 * closed connection, a TLS failure (a certificate that does not verify)
 * or a reply over redisconn's bounds: the store is down.  That is logged once, the local guard goes on alone, and the
 * store is retried after 1, 2, 4 ... RETRY_MAX_SECS seconds.  When it is
 * back, the node pushes its bans (BAN script: no shorter ban replaces a
 * longer one) and loads the store's (LOAD script, SCAN by batches).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/auth/guardstore.h"
#include "server/auth/redisconn.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/metrics.h"

#define KEY_PREFIX		"smtpauthd:"
#define BAN_CHANNEL		KEY_PREFIX "bans"
#define MAX_INFLIGHT		4096
#define CMD_TIMEOUT_MS		2000
#define RETRY_MAX_SECS		30
#define KEY_MAX			(sizeof(KEY_PREFIX) + 16 + 255 + 1)
#define ADDR_TEXT_MAX		64	/* banlist_key_fmt() */
#define EVAL_ARGS_MAX		10	/* keys and arguments of a script */

/* KEYS: account counter, address counter, ban.  See the top. */
static const char fail_lua[] =
    "local w = tonumber(ARGV[1])\n"
    "local a = redis.call('INCR', KEYS[1])\n"
    "if a == 1 then redis.call('EXPIRE', KEYS[1], w) end\n"
    "if ARGV[2] ~= '1' then return {0, a, 0} end\n"
    "local n = redis.call('INCR', KEYS[2])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[2], w) end\n"
    "local max = tonumber(ARGV[3])\n"
    "if max == 0 or n < max then return {n, a, 0} end\n"
    "redis.call('DEL', KEYS[2])\n"
    "local cur = tonumber(redis.call('GET', KEYS[3]) or '0') or 0\n"
    "if cur < tonumber(ARGV[5]) then\n"
    "  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4])\n"
    "  redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. ARGV[5])\n"
    "end\n"
    "return {n, a, 1}\n";

/* KEYS: the ban.  ARGV: until, seconds left, channel, address. */
static const char ban_lua[] =
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "if cur >= tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[1])\n"
    "return 1\n";

/* KEYS[1] the ban; ARGV: channel, address.  Lifts it on every node. */
static const char unban_lua[] =
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' 0')\n"
    "return 1\n";

/* ARGV: cursor, pattern.  Returns the next cursor, then key, value... */
static const char load_lua[] =
    "local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], "
    "'COUNT', 1000)\n"
    "local out = {r[1]}\n"
    "for _, k in ipairs(r[2]) do\n"
    "  local v = redis.call('GET', k)\n"
    "  if v then out[#out + 1] = k; out[#out + 1] = v end\n"
    "end\n"
    "return out\n";

enum {
	READY_CMD = 1,		/* AUTH and SELECT answered OK */
	READY_SUB = 2,		/* subscribed */
};

static struct {
	const struct config		*conf;
	const struct guard_store	*gs;
	struct event_base		*base;
	const struct guardstore_ops	*ops;
	struct redisconn		*cmd;
	struct redisconn		*sub;
	struct redisconn_tls		*tls;		/* rediss:// */
	int				 ready;		/* READY_* */
	int				 up;
	int				 down_logged;
	int				 error_logged;	/* a script's */
	unsigned			 backoff;	/* seconds */
	unsigned			 inflight;	/* on cmd */
	uint64_t			 progress;	/* ms: last reply */
	uint64_t			 started;	/* ms: connect */
	unsigned long			 loaded;	/* bans, this sync */
	struct event			*retry;
	struct event			*watch;
} S;

static void	 connect_all(void);
static struct redisconn *connect_one(void);
static void	 conn_failed(struct redisconn *, const char *, void *);
static void	 down(const char *);
static void	 teardown(void);
static void	 retry_cb(int, short, void *);
static void	 watch_cb(int, short, void *);
static int	 send_cmd(redisconn_reply_fn *, void *, int, const char **,
		    const size_t *);
static redisconn_reply_fn setup_cb, sub_cb, fail_cb, ban_cb, load_cb;
static void	 set_ready(int);
static void	 load_from(const char *);
static int	 eval(redisconn_reply_fn *, void *, const char *, int,
		    const char **, int);
static void	 got_ban(const char *, size_t, const char *, size_t);
static int	 reply_done(const struct redisconn *);
static void	 script_error(const char *, const char *);

void
guardstore_start(struct event_base *base, const struct config *conf,
    const struct guardstore_ops *ops)
{
	static const struct timeval	second = { 1, 0 };

	memset(&S, 0, sizeof(S));
	S.conf = conf;
	S.gs = &conf->guard_store;
	S.base = base;
	S.ops = ops;
	S.backoff = 1;
	S.retry = evtimer_new(base, retry_cb, NULL);
	S.watch = event_new(base, -1, EV_PERSIST, watch_cb, NULL);
	if (S.retry == NULL || S.watch == NULL ||
	    event_add(S.watch, &second) == -1)
		fatalx("guard-store: cannot set up timers");
	connect_all();
}

int
guardstore_up(void)
{
	return S.up;
}

void
guardstore_stop(void)
{
	teardown();
	redisconn_tls_free(S.tls);
	S.tls = NULL;
}

/*
 * One connection, plain or TLS.  The TLS configuration (its files read
 * as the auth process's user) is made at the first connection and kept;
 * until it can be made, each retry tries again.
 */
static struct redisconn *
connect_one(void)
{
	struct redisconn	*c;
	char			 err[256];

	if (S.gs->tls && S.tls == NULL &&
	    (S.tls = redisconn_tls_new(S.conf->guard_store_ca_file,
	    S.conf->guard_store_cert, S.conf->guard_store_key, err,
	    sizeof(err))) == NULL) {
		down(err);
		return NULL;
	}
	if ((c = redisconn_new(S.base, S.gs, S.tls,
	    S.conf->guard_store_tls_name, conn_failed, NULL, err,
	    sizeof(err))) == NULL)
		down(err);
	return c;
}

/* Both connections; their first commands wait in their buffers. */
static void
connect_all(void)
{
	const char	*argv[3];
	size_t		 argl[3];
	char		 db[16];
	int		 n;

	S.ready = 0;
	S.inflight = 0;
	S.started = S.progress = mono_msec();
	if ((S.cmd = connect_one()) == NULL ||
	    (S.sub = connect_one()) == NULL) {
		down("cannot connect");
		return;
	}
	if (S.gs->pass[0] != '\0') {
		n = 0;
		argv[n] = "AUTH";
		argl[n++] = 4;
		if (S.gs->user[0] != '\0') {
			argv[n] = S.gs->user;
			argl[n++] = strlen(S.gs->user);
		}
		argv[n] = S.gs->pass;
		argl[n++] = strlen(S.gs->pass);
		if (redisconn_command(S.sub, setup_cb, NULL, n, argv,
		    argl) == -1 || send_cmd(setup_cb, NULL, n, argv,
		    argl) == -1) {
			down("cannot send AUTH");
			return;
		}
	}
	(void)snprintf(db, sizeof(db), "%u", S.gs->db);
	argv[0] = "SELECT";
	argl[0] = 6;
	argv[1] = db;
	argl[1] = strlen(db);
	/* READY_CMD once SELECT answers: after AUTH, in order. */
	if (send_cmd(setup_cb, (void *)1, 2, argv, argl) == -1) {
		down("cannot send SELECT");
		return;
	}
	argv[0] = "SUBSCRIBE";
	argl[0] = 9;
	argv[1] = BAN_CHANNEL;
	argl[1] = strlen(BAN_CHANNEL);
	/* Its reply, then every message on the channel, go to sub_cb. */
	redisconn_set_push(S.sub, sub_cb, NULL);
	if (redisconn_command(S.sub, sub_cb, NULL, 2, argv, argl) == -1)
		down("cannot send SUBSCRIBE");
}

/* Refused, closed, a TLS or protocol error: the store is down. */
static void
conn_failed(struct redisconn *c, const char *why, void *arg)
{
	if (c != S.cmd && c != S.sub)
		return;		/* one we gave up */
	down(why);
}

/* Close what is left and retry later; the first time, say so. */
static void
down(const char *why)
{
	struct timeval	tv;

	METRICS_SET(store_up, 0);
	if (!S.down_logged) {
		log_warnx("guard-store down: %s; guarding locally, retrying",
		    why != NULL && why[0] != '\0' ? why : "unknown error");
		S.down_logged = 1;
	} else
		log_debug("guard-store: %s", why ? why : "error");
	if (S.up)
		S.backoff = 1;
	S.up = 0;
	teardown();
	if (!evtimer_pending(S.retry, NULL)) {
		tv.tv_sec = S.backoff;
		tv.tv_usec = 0;
		(void)evtimer_add(S.retry, &tv);
		if (S.backoff < RETRY_MAX_SECS)
			S.backoff = S.backoff * 2 > RETRY_MAX_SECS ?
			    RETRY_MAX_SECS : S.backoff * 2;
	}
}

static void
teardown(void)
{
	struct redisconn	*c = S.cmd, *s = S.sub;

	/* Forget them first: their callbacks see a connection not ours. */
	S.cmd = S.sub = NULL;
	S.ready = 0;
	S.up = 0;
	S.inflight = 0;
	redisconn_free(c);
	redisconn_free(s);
}

static void
retry_cb(int fd, short events, void *arg)
{
	if (S.cmd == NULL && S.sub == NULL)
		connect_all();
}

/* Once a second: a store that does not answer is down. */
static void
watch_cb(int fd, short events, void *arg)
{
	uint64_t	now = mono_msec();

	if (S.cmd == NULL && S.sub == NULL)
		return;
	if (!S.up && S.ready != (READY_CMD | READY_SUB) &&
	    now - S.started > CMD_TIMEOUT_MS)
		down("not ready in time");
	else if (S.inflight > 0 && now - S.progress > CMD_TIMEOUT_MS)
		down("no answer in time");
}

static int
send_cmd(redisconn_reply_fn *fn, void *priv, int argc, const char **argv,
    const size_t *argl)
{
	if (S.cmd == NULL || redisconn_command(S.cmd, fn, priv, argc,
	    argv, argl) == -1)
		return -1;
	if (S.inflight++ == 0)
		S.progress = mono_msec();
	return 0;
}

/* A reply (or NULL: freed) on cmd: counts when cmd is still ours. */
static int
reply_done(const struct redisconn *ac)
{
	if (ac != S.cmd || S.cmd == NULL)
		return 0;
	if (S.inflight > 0)
		S.inflight--;
	S.progress = mono_msec();
	return 1;
}

static void
setup_cb(struct redisconn *ac, redisReply *reply, void *priv)
{
	char		 why[128];

	if (ac != S.cmd && ac != S.sub)
		return;
	if (ac == S.cmd)
		(void)reply_done(ac);
	if (reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Never the command: it may hold the password. */
		(void)snprintf(why, sizeof(why), "%s: %.80s",
		    priv != NULL ? "SELECT" : "AUTH", reply->str);
		down(why);
		return;
	}
	if (ac == S.cmd && priv != NULL)
		set_ready(READY_CMD);
}

static void
sub_cb(struct redisconn *ac, redisReply *reply, void *priv)
{
	redisReply	**e;

	if (ac != S.sub || reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		down("SUBSCRIBE refused");
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
		return;
	e = reply->element;
	if (e[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(e[0]->str, "subscribe") == 0)
		set_ready(READY_SUB);
	else if (strcmp(e[0]->str, "message") == 0 &&
	    e[2]->type == REDIS_REPLY_STRING) {
		const char *sp = memchr(e[2]->str, ' ', e[2]->len);

		if (sp != NULL)
			got_ban(e[2]->str, (size_t)(sp - e[2]->str), sp + 1,
			    e[2]->len - (size_t)(sp - e[2]->str) - 1);
	}
}

/* A ban named by its address text and its end, both as sent. */
static void
got_ban(const char *addr, size_t alen, const char *until, size_t ulen)
{
	struct banlist_key	 k;
	char			 a[ADDR_TEXT_MAX], u[24], *end;
	long long		 t;

	if (alen == 0 || alen >= sizeof(a) || ulen == 0 || ulen >= sizeof(u))
		return;
	memcpy(a, addr, alen);
	a[alen] = '\0';
	memcpy(u, until, ulen);
	u[ulen] = '\0';
	errno = 0;
	t = strtoll(u, &end, 10);
	if (errno != 0 || *end != '\0' || t < 0 ||
	    banlist_key_parse(a, &k) == -1) {
		log_warnx("guard-store: ignored a malformed ban");
		return;
	}
	if (t == 0)			/* lifted (smtpauthctl unban) */
		S.ops->unban(&k);
	else if ((time_t)t > real_sec())
		S.ops->ban(&k, (time_t)t);
}

static void
set_ready(int bit)
{
	S.ready |= bit;
	if (S.ready != (READY_CMD | READY_SUB) || S.up)
		return;
	S.up = 1;
	S.backoff = 1;
	METRICS_SET(store_up, 1);
	if (S.down_logged)
		log_info("guard-store up again: resynchronising");
	else
		log_info("guard-store up");
	S.down_logged = 0;
	S.loaded = 0;
	S.ops->resync();
	load_from("0");
}

static void
load_from(const char *cursor)
{
	const char	*args[2] = { cursor, KEY_PREFIX "ban:*" };

	if (eval(load_cb, NULL, load_lua, 0, args, 2) == -1)
		down("cannot send LOAD");
}

/*
 * EVAL script with nkeys keys: the first nkeys of args (NUL-terminated,
 * nargs of them at most EVAL_ARGS_MAX), then its other arguments.
 */
static int
eval(redisconn_reply_fn *fn, void *priv, const char *script, int nkeys,
    const char **args, int nargs)
{
	const char	*argv[EVAL_ARGS_MAX + 3];
	size_t		 argl[EVAL_ARGS_MAX + 3];
	char		 nk[8];
	int		 i;

	if (nargs > EVAL_ARGS_MAX)
		return -1;
	(void)snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = nk;
	for (i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	for (i = 0; i < nargs + 3; i++)
		argl[i] = strlen(argv[i]);
	return send_cmd(fn, priv, nargs + 3, argv, argl);
}

static void
load_cb(struct redisconn *ac, redisReply *reply, void *priv)
{
	redisReply	*k, *v;
	size_t		 i, plen = sizeof(KEY_PREFIX "ban:") - 1;

	if (!reply_done(ac) || reply == NULL)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		log_warnx("guard-store: cannot load bans: %.80s",
		    reply->type == REDIS_REPLY_ERROR ? reply->str :
		    "unexpected reply");
		return;
	}
	for (i = 1; i + 1 < reply->elements; i += 2) {
		k = reply->element[i];
		v = reply->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || k->len <= plen ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		got_ban(k->str + plen, k->len - plen, v->str, v->len);
		S.loaded++;
	}
	if (strcmp(reply->element[0]->str, "0") != 0)
		load_from(reply->element[0]->str);
	else
		log_info("guard-store bans loaded=%lu", S.loaded);
}

void
guardstore_fail(const char *account, const struct banlist_key *key,
    time_t until)
{
	char		 ka[KEY_MAX], ki[KEY_MAX], kb[KEY_MAX];
	char		 addr[ADDR_TEXT_MAX], win[16], max[16], ban[16];
	char		 ut[24], *acct;
	const char	*args[10];
	int		 n;

	if (!S.up || S.inflight >= MAX_INFLIGHT)
		return;		/* counted locally all the same */
	if ((acct = strdup(account)) == NULL)
		return;
	n = snprintf(ka, sizeof(ka), KEY_PREFIX "fail:acct:%s", account);
	if (n < 0 || (size_t)n >= sizeof(ka)) {
		free(acct);
		return;
	}
	if (key != NULL)
		banlist_key_fmt(key, addr, sizeof(addr));
	else
		addr[0] = '\0';
	(void)snprintf(ki, sizeof(ki), KEY_PREFIX "fail:ip:%s", addr);
	(void)snprintf(kb, sizeof(kb), KEY_PREFIX "ban:%s", addr);
	(void)snprintf(win, sizeof(win), "%u", S.conf->auth_window);
	(void)snprintf(max, sizeof(max), "%u", S.conf->auth_max_failures);
	(void)snprintf(ban, sizeof(ban), "%u", S.conf->auth_ban);
	(void)snprintf(ut, sizeof(ut), "%lld", (long long)until);
	args[0] = ka;
	args[1] = ki;
	args[2] = kb;
	args[3] = win;
	args[4] = key != NULL ? "1" : "0";
	args[5] = max;
	args[6] = ban;
	args[7] = ut;
	args[8] = BAN_CHANNEL;
	args[9] = addr;
	/* fail_cb is called once in every case: it frees acct. */
	if (eval(fail_cb, acct, fail_lua, 3, args, 10) == -1)
		free(acct);
}

/* {address count, account count, banned}: the account's is reconciled. */
static void
fail_cb(struct redisconn *ac, redisReply *reply, void *priv)
{
	char		*acct = priv;

	if (reply_done(ac) && reply != NULL) {
		if (reply->type == REDIS_REPLY_ERROR)
			script_error("a failure was not counted", reply->str);
		else if (reply->type == REDIS_REPLY_ARRAY &&
		    reply->elements == 3 &&
		    reply->element[1]->type == REDIS_REPLY_INTEGER &&
		    reply->element[1]->integer > 0)
			S.ops->account(acct, reply->element[1]->integer >
			    UINT32_MAX ? UINT32_MAX :
			    (unsigned)reply->element[1]->integer);
		if (reply->type != REDIS_REPLY_ERROR)
			S.error_logged = 0;
	}
	free(acct);
}

/* A ban lifted here: lift it in the store and on every node. */
void
guardstore_unban(const struct banlist_key *key)
{
	char		 kb[KEY_MAX], addr[ADDR_TEXT_MAX];
	const char	*args[3];

	if (!S.up)
		return;
	banlist_key_fmt(key, addr, sizeof(addr));
	(void)snprintf(kb, sizeof(kb), KEY_PREFIX "ban:%s", addr);
	args[0] = kb;
	args[1] = BAN_CHANNEL;
	args[2] = addr;
	(void)eval(ban_cb, NULL, unban_lua, 1, args, 3);
}

void
guardstore_push_ban(const struct banlist_key *key, time_t until)
{
	char		 kb[KEY_MAX], addr[ADDR_TEXT_MAX], ut[24], left[24];
	const char	*args[5];
	time_t		 now = real_sec();

	if (!S.up || until <= now)
		return;
	banlist_key_fmt(key, addr, sizeof(addr));
	(void)snprintf(kb, sizeof(kb), KEY_PREFIX "ban:%s", addr);
	(void)snprintf(ut, sizeof(ut), "%lld", (long long)until);
	(void)snprintf(left, sizeof(left), "%lld", (long long)(until - now));
	args[0] = kb;
	args[1] = ut;
	args[2] = left;
	args[3] = BAN_CHANNEL;
	args[4] = addr;
	(void)eval(ban_cb, NULL, ban_lua, 1, args, 5);
}

static void
ban_cb(struct redisconn *ac, redisReply *reply, void *priv)
{

	if (!reply_done(ac) || reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR)
		script_error("a ban was not shared", reply->str);
	else
		S.error_logged = 0;
}

/*
 * A script refused (scripting disabled by an ACL, a full memory): said
 * once until a script works again, not once a failure of an attack.
 */
static void
script_error(const char *what, const char *err)
{
	if (!S.error_logged)
		log_warnx("guard-store: %s: %.80s (said once until the store "
		    "works again)", what, err);
	S.error_logged = 1;
}

/*
 * Sending limits (sendlimit.c): a counter per account and kind,
 *
 *   limit:KIND:ACCOUNT	messages or recipients in the window
 *
 * whose window starts at its first count and lasts the limit's SECONDS
 * (the key's expiry).  The script checks and counts in one step: a count
 * that would pass the limit is not added, and the answer says how long
 * the window still runs.
 */

/* KEYS: the counter.  ARGV: count, max, window.  {1, 0} or {0, ttl}. */
static const char limit_lua[] =
    "local n = tonumber(ARGV[1])\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "if cur + n > tonumber(ARGV[2]) then\n"
    "  local ttl = redis.call('TTL', KEYS[1])\n"
    "  if ttl < 0 then\n"
    "    redis.call('EXPIRE', KEYS[1], ARGV[3]); ttl = tonumber(ARGV[3])\n"
    "  end\n"
    "  return {0, ttl}\n"
    "end\n"
    "redis.call('INCRBY', KEYS[1], n)\n"
    "if redis.call('TTL', KEYS[1]) < 0 then\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "end\n"
    "return {1, 0}\n";

struct limit_ctx {
	guardstore_limit_cb	 cb;
	void			*arg;
};

static redisconn_reply_fn limit_cb;

int
guardstore_limit(const char *kind, const char *account, unsigned count,
    unsigned max, unsigned secs, guardstore_limit_cb cb, void *arg)
{
	struct limit_ctx	*ctx;
	char			 key[KEY_MAX], n[16], m[16], w[16];
	const char		*args[4];
	int			 len;

	if (!S.up || S.inflight >= MAX_INFLIGHT)
		return -1;
	len = snprintf(key, sizeof(key), KEY_PREFIX "limit:%s:%s", kind,
	    account);
	if (len < 0 || (size_t)len >= sizeof(key) ||
	    (ctx = malloc(sizeof(*ctx))) == NULL)
		return -1;
	ctx->cb = cb;
	ctx->arg = arg;
	(void)snprintf(n, sizeof(n), "%u", count);
	(void)snprintf(m, sizeof(m), "%u", max);
	(void)snprintf(w, sizeof(w), "%u", secs);
	args[0] = key;
	args[1] = n;
	args[2] = m;
	args[3] = w;
	/* limit_cb is called once in every case (NULL when freed). */
	if (eval(limit_cb, ctx, limit_lua, 1, args, 4) == -1) {
		free(ctx);
		return -1;
	}
	return 0;
}

static void
limit_cb(struct redisconn *ac, redisReply *reply, void *priv)
{
	struct limit_ctx	*ctx = priv;
	int			 verdict = -1;
	unsigned		 retry = 0;

	(void)reply_done(ac);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		script_error("a sending limit was not checked", reply->str);
	else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER &&
	    reply->element[1]->type == REDIS_REPLY_INTEGER) {
		verdict = reply->element[0]->integer == 1 ? 1 : 0;
		if (reply->element[1]->integer > 0)
			retry = reply->element[1]->integer > 31536000 ?
			    31536000 : (unsigned)reply->element[1]->integer;
		S.error_logged = 0;
	}
	ctx->cb(ctx->arg, verdict, retry);
	free(ctx);
}
