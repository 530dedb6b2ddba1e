/*
 * Recipient lookups and their cache (rcptlookup.h).
 *
 * The cache: RCACHE_SETS sets of RCACHE_WAYS entries, an entry being
 * SHA-256(salt, address) (the salt random per process, so that clients
 * cannot aim many addresses at one set), the answer, and when it ends.
 * Bounded: a full set forgets the entry that ends first.  A hit does not
 * extend an entry: the store is asked again once a TTL at least.
 *
 * Cached answers are served while the store is down, until they end: the
 * TTL is the staleness the administrator chose (0: ask every time, as
 * Postfix's proxymap does); an address the store never answered for gets
 * 451 4.3.0 while it is down.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/auth/rcptlookup.h"
#include "server/shared/authproto.h"

#define RCACHE_SETS	1024
#define RCACHE_WAYS	4
#define RCACHE_ID_LEN	32
#define MAX_LOOKUPS	1024	/* waiting for the store at once */

struct rentry {
	uint8_t		id[RCACHE_ID_LEN];
	uint64_t	expires;	/* monotonic ms; 0: empty */
	int		found;
};

/* A lookup waiting for the store. */
struct rjob {
	rcptlookup_done	 done;
	void		*arg;
	uint8_t		 id[RCACHE_ID_LEN];
	int		 have_id;
};

static struct {
	const struct config	*conf;
	const struct backend_ops *be;
	struct rentry		*entries;	/* NULL: no cache */
	uint64_t		 ttl_ms;
	uint8_t			 salt[32];
	unsigned		 pending;
} R;

static int	rc_id(const char *, size_t, uint8_t *);
static struct rentry *rc_set(const uint8_t *);
static int	rc_lookup(const uint8_t *, int *);
static void	rc_insert(const uint8_t *, int);
static void	rj_done(void *, enum auth_result, const char *);

void
rcptlookup_init(const struct config *conf, const struct backend_ops *be)
{
	memset(&R, 0, sizeof(R));
	R.conf = conf;
	R.be = be;
	if (conf->recipient_cache_ttl == 0 || be->lookup == NULL)
		return;
	R.ttl_ms = (uint64_t)conf->recipient_cache_ttl * 1000;
	if (getrandom(R.salt, sizeof(R.salt), 0) != (ssize_t)sizeof(R.salt))
		fatal("getrandom");
	if ((R.entries = calloc((size_t)RCACHE_SETS * RCACHE_WAYS,
	    sizeof(*R.entries))) == NULL)
		fatalx("out of memory");
}

unsigned
rcptlookup_pending(void)
{
	return R.pending;
}

static int
rc_id(const char *addr, size_t len, uint8_t *id)
{
	EVP_MD_CTX	*ctx;
	unsigned int	 n = 0;
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, R.salt, sizeof(R.salt)) == 1 &&
	    EVP_DigestUpdate(ctx, addr, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, id, &n) == 1 && n == RCACHE_ID_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static struct rentry *
rc_set(const uint8_t *id)
{
	uint32_t	h;

	memcpy(&h, id, sizeof(h));
	return &R.entries[(size_t)(h % RCACHE_SETS) * RCACHE_WAYS];
}

/* 1 with *found when id has an answer in force, else 0. */
static int
rc_lookup(const uint8_t *id, int *found)
{
	struct rentry	*e = rc_set(id);
	uint64_t	 now = (uint64_t)mono_msec();
	int		 i;

	for (i = 0; i < RCACHE_WAYS; i++)
		if (e[i].expires > now &&
		    memcmp(e[i].id, id, RCACHE_ID_LEN) == 0) {
			*found = e[i].found;
			return 1;
		}
	return 0;
}

static void
rc_insert(const uint8_t *id, int found)
{
	struct rentry	*e = rc_set(id), *victim = NULL;
	int		 i;

	for (i = 0; i < RCACHE_WAYS; i++) {
		if (memcmp(e[i].id, id, RCACHE_ID_LEN) == 0) {
			victim = &e[i];
			break;
		}
		if (victim == NULL || e[i].expires < victim->expires)
			victim = &e[i];
	}
	memcpy(victim->id, id, RCACHE_ID_LEN);
	victim->found = found;
	victim->expires = (uint64_t)mono_msec() + R.ttl_ms;
}

void
rcptlookup_ask(const char *addr, size_t len, rcptlookup_done done, void *arg)
{
	struct rjob	*j;
	const char	*reason;
	uint8_t		 id[RCACHE_ID_LEN] = { 0 };
	int		 have_id = 0, found;

	if (R.be == NULL || R.be->lookup == NULL) {
		/* Cannot be: the worker asks only with a store. */
		done(arg, AUTH_FAIL, 0);
		return;
	}
	if (R.entries != NULL && rc_id(addr, len, id) == 0) {
		have_id = 1;
		if (rc_lookup(id, &found)) {
			done(arg, found ? AUTH_OK : AUTH_FAIL, 1);
			return;
		}
	}
	if (R.pending >= MAX_LOOKUPS || (j = calloc(1, sizeof(*j))) == NULL) {
		log_warnx("rcpt-lookup result=tempfail reason=busy");
		done(arg, AUTH_TEMPFAIL, 0);
		return;
	}
	j->done = done;
	j->arg = arg;
	j->have_id = have_id;
	memcpy(j->id, id, sizeof(id));
	if (R.be->lookup(addr, len, rj_done, j, &reason) == -1) {
		log_info("rcpt-lookup result=tempfail reason=%s", reason);
		free(j);
		done(arg, AUTH_TEMPFAIL, 0);
		return;
	}
	R.pending++;
}

/* The store's answer, on the loop. */
static void
rj_done(void *arg, enum auth_result result, const char *reason)
{
	struct rjob	*j = arg;

	R.pending--;
	if (result == AUTH_TEMPFAIL)
		log_info("rcpt-lookup result=tempfail reason=%s",
		    reason != NULL ? reason : "backend-down");
	else if (j->have_id)
		rc_insert(j->id, result == AUTH_OK);
	j->done(j->arg, result, 0);
	free(j);
}
