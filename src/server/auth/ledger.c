/*
 * Failure ledgers: a chained hash table (SipHash-2-4 with a random key,
 * because clients choose the keys) and a list of entries in the order of
 * their last failure, which is the eviction and expiry order.
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth/ledger.h"

struct mark {
	uint64_t	t;
	uint32_t	count;
};

struct lentry {
	struct lentry		*hnext;
	TAILQ_ENTRY(lentry)	 lru;
	uint64_t		 last;		/* newest failure */
	unsigned		 n;		/* marks used, oldest first */
	struct mark		 ring[LEDGER_RING];
	size_t			 keylen;
	uint8_t			 key[];
};

TAILQ_HEAD(lentry_list, lentry);

struct ledger {
	uint64_t		 hkey[2];
	unsigned		 window;
	size_t			 max;
	size_t			 n;
	size_t			 mask;
	struct lentry		**bucket;
	struct lentry_list	 lru;		/* oldest last failure first */
	/*
	 * ledger_new_in(): max slots of SLOT_SIZE made at once, never
	 * freed; a dropped entry goes on the free list (through hnext).
	 */
	uint8_t			*slab;
	size_t			 slabused;
	struct lentry		*freelist;
};

#define SLOT_SIZE	((sizeof(struct lentry) + LEDGER_KEY_MAX + 15) & \
			    ~(size_t)15)

static uint64_t		 siphash24(const uint64_t[2], const uint8_t *,
			    size_t);
static struct lentry	**lookup(struct ledger *, const void *, size_t);
static void		 prune(struct ledger *, struct lentry *, uint64_t);
static unsigned		 total(const struct lentry *);
static void		 drop(struct ledger *, struct lentry *);
static struct lentry	*entry_new(struct ledger *, size_t);
static size_t		 buckets_for(size_t *);
static struct ledger	*setup(struct ledger *, unsigned, size_t, size_t);

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
siphash24(const uint64_t k[2], const uint8_t *in, size_t len)
{
	uint64_t	v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t	v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t	v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t	v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t	m, b = (uint64_t)len << 56;
	size_t		i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = (uint64_t)in[i] | (uint64_t)in[i + 1] << 8 |
		    (uint64_t)in[i + 2] << 16 | (uint64_t)in[i + 3] << 24 |
		    (uint64_t)in[i + 4] << 32 | (uint64_t)in[i + 5] << 40 |
		    (uint64_t)in[i + 6] << 48 | (uint64_t)in[i + 7] << 56;
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (; left > 0; left--)
		b |= (uint64_t)in[i + left - 1] << (8 * (left - 1));
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Buckets for *maxentries (at least 1): a power of two, at least 16. */
static size_t
buckets_for(size_t *maxentries)
{
	size_t	nb = 16;

	if (*maxentries == 0)
		*maxentries = 1;
	while (nb < *maxentries && nb < ((size_t)1 << 30))
		nb <<= 1;
	return nb;
}

struct ledger *
ledger_new(unsigned window, size_t maxentries)
{
	struct ledger	*l;
	size_t		 nb = buckets_for(&maxentries);

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->bucket = calloc(nb, sizeof(*l->bucket))) == NULL ||
	    getrandom(l->hkey, sizeof(l->hkey), 0) !=
	    (ssize_t)sizeof(l->hkey)) {
		free(l->bucket);
		free(l);
		return NULL;
	}
	return setup(l, window, maxentries, nb);
}

/* The fields of a new ledger whose memory is there. */
static struct ledger *
setup(struct ledger *l, unsigned window, size_t maxentries, size_t nb)
{
	l->window = window;
	l->max = maxentries;
	l->mask = nb - 1;
	TAILQ_INIT(&l->lru);
	return l;
}

struct ledger *
ledger_new_in(unsigned window, size_t maxentries, void *(*alloc)(size_t))
{
	struct ledger	*l;
	size_t		 nb = buckets_for(&maxentries);

	if (maxentries > SIZE_MAX / SLOT_SIZE ||
	    (l = alloc(sizeof(*l))) == NULL ||
	    (l->bucket = alloc(nb * sizeof(*l->bucket))) == NULL ||
	    (l->slab = alloc(maxentries * SLOT_SIZE)) == NULL ||
	    getrandom(l->hkey, sizeof(l->hkey), 0) !=
	    (ssize_t)sizeof(l->hkey))
		return NULL;
	return setup(l, window, maxentries, nb);
}

void
ledger_set_window(struct ledger *l, unsigned window)
{
	l->window = window;
}

void
ledger_free(struct ledger *l)
{
	struct lentry	*e;

	if (l == NULL || l->slab != NULL)
		return;
	while ((e = TAILQ_FIRST(&l->lru)) != NULL)
		drop(l, e);
	free(l->bucket);
	free(l);
}

/* The link that points at key's entry (or the NULL at the chain's end). */
static struct lentry **
lookup(struct ledger *l, const void *key, size_t keylen)
{
	struct lentry	**pp;

	pp = &l->bucket[siphash24(l->hkey, key, keylen) & l->mask];
	for (; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->keylen == keylen &&
		    memcmp((*pp)->key, key, keylen) == 0)
			break;
	return pp;
}

/* Forget the marks that have left the window. */
static void
prune(struct ledger *l, struct lentry *e, uint64_t now)
{
	unsigned	i = 0;

	while (i < e->n && e->ring[i].t + l->window <= now)
		i++;
	if (i > 0) {
		memmove(e->ring, e->ring + i, (e->n - i) * sizeof(e->ring[0]));
		e->n -= i;
	}
}

static unsigned
total(const struct lentry *e)
{
	uint64_t	sum = 0;
	unsigned	i;

	for (i = 0; i < e->n; i++)
		sum += e->ring[i].count;
	return sum > UINT32_MAX ? UINT32_MAX : (unsigned)sum;
}

static void
drop(struct ledger *l, struct lentry *e)
{
	struct lentry	**pp;

	pp = lookup(l, e->key, e->keylen);
	if (*pp == e)
		*pp = e->hnext;
	TAILQ_REMOVE(&l->lru, e, lru);
	l->n--;
	if (l->slab != NULL) {
		memset(e, 0, SLOT_SIZE);
		e->hnext = l->freelist;
		l->freelist = e;
	} else
		free(e);
}

/* A zeroed entry for a key of keylen octets, or NULL. */
static struct lentry *
entry_new(struct ledger *l, size_t keylen)
{
	struct lentry	*e;

	if (l->slab == NULL)
		return calloc(1, sizeof(*e) + keylen);
	if ((e = l->freelist) != NULL) {
		l->freelist = e->hnext;
		e->hnext = NULL;
		return e;
	}
	if (l->slabused >= l->max)
		return NULL;	/* cannot be: drop() made room */
	return (struct lentry *)(void *)(l->slab + SLOT_SIZE * l->slabused++);
}

unsigned
ledger_count(struct ledger *l, const void *key, size_t keylen, uint64_t now)
{
	struct lentry	*e;
	uint64_t	 sum = 0;
	unsigned	 i;

	if (keylen > LEDGER_KEY_MAX || (e = *lookup(l, key, keylen)) == NULL)
		return 0;
	for (i = 0; i < e->n; i++)
		if (e->ring[i].t + l->window > now)
			sum += e->ring[i].count;
	return sum > UINT32_MAX ? UINT32_MAX : (unsigned)sum;
}

unsigned
ledger_fail(struct ledger *l, const void *key, size_t keylen, uint64_t now)
{
	struct lentry	**pp, *e;

	if (keylen > LEDGER_KEY_MAX)
		return 0;
	pp = lookup(l, key, keylen);
	if ((e = *pp) == NULL) {
		if (l->n >= l->max) {
			drop(l, TAILQ_FIRST(&l->lru));
			pp = lookup(l, key, keylen);
		}
		if ((e = entry_new(l, keylen)) == NULL)
			return 0;
		memcpy(e->key, key, keylen);
		e->keylen = keylen;
		*pp = e;
		l->n++;
	} else
		TAILQ_REMOVE(&l->lru, e, lru);
	/* Callers' clocks are monotonic; do not trust them blindly. */
	if (now < e->last)
		now = e->last;
	e->last = now;
	TAILQ_INSERT_TAIL(&l->lru, e, lru);

	prune(l, e, now);
	if (e->n > 0 && e->ring[e->n - 1].t == now) {
		if (e->ring[e->n - 1].count < UINT32_MAX)
			e->ring[e->n - 1].count++;
	} else {
		if (e->n == LEDGER_RING) {
			/* Merge the oldest into the next: counts never drop. */
			uint64_t c = (uint64_t)e->ring[0].count +
			    e->ring[1].count;

			e->ring[1].count = c > UINT32_MAX ? UINT32_MAX :
			    (uint32_t)c;
			memmove(e->ring, e->ring + 1,
			    (e->n - 1) * sizeof(e->ring[0]));
			e->n--;
		}
		e->ring[e->n].t = now;
		e->ring[e->n].count = 1;
		e->n++;
	}
	return total(e);
}

void
ledger_clear(struct ledger *l, const void *key, size_t keylen)
{
	struct lentry	*e;

	if (keylen <= LEDGER_KEY_MAX && (e = *lookup(l, key, keylen)) != NULL)
		drop(l, e);
}

void
ledger_expire(struct ledger *l, uint64_t now)
{
	struct lentry	*e;

	while ((e = TAILQ_FIRST(&l->lru)) != NULL &&
	    e->last + l->window <= now)
		drop(l, e);
}

size_t
ledger_size(const struct ledger *l)
{
	return l->n;
}
