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
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "server/auth/guard.h"
#include "server/auth/ledger.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/shared/metrics.h"

#define FAIL_SLOWDOWN_MS	250	/* per recent failure of the account */
#define FAIL_SLOWDOWN_MAX_MS	5000
#define LEDGER_ENTRIES		16384	/* addresses, and accounts, tracked */

static struct {
	const struct config	*conf;
	struct ledger		*addrs;
	struct ledger		*accounts;
} G;

static int	 ban(const struct banlist_key *, unsigned);
static void	 unban_cb(const struct banlist_key *);
static void	 lifted_cb(const struct banlist_key *);
static void	 fmt_time(time_t, char *, size_t);

void
guard_init(const struct config *conf)
{
	G.conf = conf;
	G.addrs = ledger_new(conf->auth_window, LEDGER_ENTRIES);
	G.accounts = ledger_new(conf->auth_window, LEDGER_ENTRIES);
	if (G.addrs == NULL || G.accounts == NULL)
		fatalx("out of memory");
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
	recent = ledger_count(G.accounts, account, strlen(account), mono);
	(void)ledger_fail(G.accounts, account, strlen(account), mono);
	slow = (uint64_t)recent * FAIL_SLOWDOWN_MS;
	if (slow > FAIL_SLOWDOWN_MAX_MS)
		slow = FAIL_SLOWDOWN_MAX_MS;

	/* The address: a ban after too many. */
	if (banlist_key(sa, conf->ban_ipv6_prefix, &key) == 0 &&
	    !cidr_match(conf->auth_exempt, conf->nauth_exempt, sa)) {
		n = ledger_fail(G.addrs, &key, sizeof(key), mono);
		if (conf->auth_max_failures > 0 &&
		    n >= conf->auth_max_failures && ban(&key, n) == 0)
			ledger_clear(G.addrs, &key, sizeof(key));
		*banned = banlist_check(sa, NULL);
	}
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
	METRICS_ADD(bans_added, 1);
	return 0;
}

void
guard_tick(void)
{
	uint64_t	mono = (uint64_t)mono_sec();

	banlist_expire(unban_cb);
	ledger_expire(G.addrs, mono);
	ledger_expire(G.accounts, mono);
}

static void
unban_cb(const struct banlist_key *k)
{
	char	who[INET6_ADDRSTRLEN + 8];

	log_info("unban ip=%s", banlist_key_fmt(k, who, sizeof(who)));
}

static void
lifted_cb(const struct banlist_key *k)
{
	char	who[INET6_ADDRSTRLEN + 8];

	ledger_clear(G.addrs, k, sizeof(*k));
	log_info("unban ip=%s by=smtpauthctl",
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
