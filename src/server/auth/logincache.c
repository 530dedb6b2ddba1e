/*
 * The login cache (logincache.h): a client that logs in every few minutes
 * should not pay yescrypt each time.  CACHE_SETS sets of CACHE_WAYS
 * entries, a set chosen by the first octets of the keyed hash (uniform,
 * and unknown to clients).  Only successes are kept, and only as that
 * hash: no password and nothing that can be tested offline without the
 * key.  A hit does not extend the entry: the hash is computed again at
 * least once a TTL.
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
#include "server/auth/logincache.h"
#include "server/shared/authproto.h"

#define CACHE_SETS	1024	/* of CACHE_WAYS logins each */
#define CACHE_WAYS	4

struct cache_entry {
	uint8_t		mac[LOGINCACHE_MAC_LEN];
	uint64_t	expires;	/* monotonic ms; 0: empty */
};

static struct {
	struct cache_entry	*entries;	/* NULL: no cache */
	uint64_t		 ttl_ms;
	uint8_t			 key[32];
} C;

static struct cache_entry *cache_set(const uint8_t *);

void
logincache_init(unsigned ttl)
{
	if (ttl == 0)
		return;
	C.ttl_ms = (uint64_t)ttl * 1000;
	if (getrandom(C.key, sizeof(C.key), 0) != (ssize_t)sizeof(C.key))
		fatal("getrandom");
	if ((C.entries = calloc((size_t)CACHE_SETS * CACHE_WAYS,
	    sizeof(*C.entries))) == NULL)
		fatalx("out of memory");
}

int
logincache_enabled(void)
{
	return C.entries != NULL;
}

int
logincache_mac(const char *account, const char *pass, size_t passlen,
    uint8_t mac[LOGINCACHE_MAC_LEN])
{
	uint8_t		buf[2 * (AUTH_FIELD_MAX + 1)];
	size_t		alen = strlen(account);
	unsigned int	mlen = LOGINCACHE_MAC_LEN;
	int		rv = 0;

	if (C.entries == NULL || alen + 1 + passlen > sizeof(buf))
		return -1;
	memcpy(buf, account, alen);
	buf[alen] = '\0';
	memcpy(buf + alen + 1, pass, passlen);
	if (HMAC(EVP_sha256(), C.key, (int)sizeof(C.key), buf,
	    alen + 1 + passlen, mac, &mlen) == NULL ||
	    mlen != LOGINCACHE_MAC_LEN)
		rv = -1;
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
	/* Look at every way, so a hit costs what a miss costs. */
	for (i = 0; i < CACHE_WAYS; i++)
		if (e[i].expires > now &&
		    CRYPTO_memcmp(e[i].mac, mac, LOGINCACHE_MAC_LEN) == 0)
			hit = 1;
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
}

void
logincache_wipe(void)
{
	if (C.entries != NULL)
		explicit_bzero(C.entries, (size_t)CACHE_SETS * CACHE_WAYS *
		    sizeof(*C.entries));
	explicit_bzero(C.key, sizeof(C.key));
}
