/*
 * The login cache (logincache.h): a client that logs in every few minutes
 * should not pay yescrypt each time.  CACHE_SETS sets of CACHE_WAYS
 * entries, a set chosen by the first octets of the keyed hash (uniform,
 * and unknown to clients).  Only successes are kept, and only as that
 * hash: no password and nothing that can be tested offline without the
 * key.  A hit does not extend the entry: the hash is computed again at
 * least once a TTL.
 *
 * The entries and the key live in the auth state region (authstate.h),
 * made by the first auth process and used by the next ones: a reload
 * keeps the cache.  What the backend holds for the account is in the
 * hash (the tag: the users file's hash of that user, or the backend's
 * configuration), so an entry made before a password change, a removal or
 * another backend can never match again.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/auth/authstate.h"
#include "server/auth/logincache.h"
#include "server/shared/authproto.h"

#define CACHE_SETS	1024	/* of CACHE_WAYS logins each */
#define CACHE_WAYS	4

struct cache_entry {
	uint8_t		mac[LOGINCACHE_MAC_LEN];
	uint64_t	expires;	/* monotonic ms; 0: empty */
};

/* What outlives the process, in the region. */
struct cache_kept {
	uint8_t			 key[32];
	struct cache_entry	 entries[CACHE_SETS * CACHE_WAYS];
};

static struct {
	struct cache_entry	*entries;	/* NULL: no cache */
	uint64_t		 ttl_ms;
	uint8_t			*key;
	struct cache_kept	*kept;
	int			 own;		/* not in the region */
} C;

static struct cache_entry *cache_set(const uint8_t *);

void
logincache_init(unsigned ttl)
{
	struct cache_kept	 *k;
	void			**slot;

	if (ttl == 0)
		return;
	C.ttl_ms = (uint64_t)ttl * 1000;
	authstate_lock();
	slot = authstate_root(AUTHSTATE_LOGINCACHE);
	if ((k = *slot) == NULL && (k = authstate_alloc(sizeof(*k))) != NULL) {
		if (getrandom(k->key, sizeof(k->key), 0) !=
		    (ssize_t)sizeof(k->key))
			fatal("getrandom");
		*slot = k;
	}
	authstate_unlock();
	if (k == NULL) {
		/* No region: ours alone, as before. */
		if ((k = calloc(1, sizeof(*k))) == NULL)
			fatalx("out of memory");
		if (getrandom(k->key, sizeof(k->key), 0) !=
		    (ssize_t)sizeof(k->key))
			fatal("getrandom");
		C.own = 1;
	}
	C.kept = k;
	C.key = k->key;
	C.entries = k->entries;
}

int
logincache_enabled(void)
{
	return C.entries != NULL;
}

int
logincache_mac(const char *account, const uint8_t tag[LOGINCACHE_TAG_LEN],
    const char *pass, size_t passlen, uint8_t mac[LOGINCACHE_MAC_LEN])
{
	uint8_t		buf[2 * (AUTH_FIELD_MAX + 1) + LOGINCACHE_TAG_LEN];
	size_t		alen = strlen(account), n;
	unsigned int	mlen = LOGINCACHE_MAC_LEN;
	int		rv = 0;

	if (C.entries == NULL ||
	    alen + 1 + LOGINCACHE_TAG_LEN + passlen > sizeof(buf))
		return -1;
	/* account NUL tag password: the tag has a fixed length. */
	memcpy(buf, account, alen);
	buf[alen] = '\0';
	memcpy(buf + alen + 1, tag, LOGINCACHE_TAG_LEN);
	n = alen + 1 + LOGINCACHE_TAG_LEN;
	memcpy(buf + n, pass, passlen);
	authstate_lock();
	if (HMAC(EVP_sha256(), C.key, 32, buf, n + passlen, mac,
	    &mlen) == NULL || mlen != LOGINCACHE_MAC_LEN)
		rv = -1;
	authstate_unlock();
	explicit_bzero(buf, sizeof(buf));
	return rv;
}

static struct cache_entry *
cache_set(const uint8_t *mac)
{
	uint32_t	h;

	memcpy(&h, mac, sizeof(h));
	return &C.entries[(size_t)(h % CACHE_SETS) * CACHE_WAYS];
}

int
logincache_lookup(const uint8_t mac[LOGINCACHE_MAC_LEN])
{
	struct cache_entry	*e;
	uint64_t		 now = (uint64_t)mono_msec();
	int			 i, hit = 0;

	if (C.entries == NULL)
		return 0;
	e = cache_set(mac);
	authstate_lock();
	/* Look at every way, so a hit costs what a miss costs. */
	for (i = 0; i < CACHE_WAYS; i++)
		if (e[i].expires > now &&
		    CRYPTO_memcmp(e[i].mac, mac, LOGINCACHE_MAC_LEN) == 0)
			hit = 1;
	authstate_unlock();
	return hit;
}

void
logincache_insert(const uint8_t mac[LOGINCACHE_MAC_LEN])
{
	struct cache_entry	*e, *victim = NULL;
	uint64_t		 now = (uint64_t)mono_msec();
	int			 i;

	if (C.entries == NULL)
		return;
	e = cache_set(mac);
	authstate_lock();
	for (i = 0; i < CACHE_WAYS; i++) {
		/* The same login again: a new TTL from now. */
		if (CRYPTO_memcmp(e[i].mac, mac, LOGINCACHE_MAC_LEN) == 0) {
			victim = &e[i];
			break;
		}
		/* Else an empty or expired way, else the oldest. */
		if (victim == NULL || e[i].expires < victim->expires)
			victim = &e[i];
	}
	memcpy(victim->mac, mac, LOGINCACHE_MAC_LEN);
	victim->expires = now + C.ttl_ms;
	authstate_unlock();
}

void
logincache_wipe(void)
{
	/* The region's belong to the next auth process; the parent wipes. */
	if (C.own && C.kept != NULL) {
		explicit_bzero(C.kept, sizeof(*C.kept));
		free(C.kept);
	}
	memset(&C, 0, sizeof(C));
}
