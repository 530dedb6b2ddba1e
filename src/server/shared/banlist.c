/*
 * The shared ban list: an open-addressing hash table in an anonymous
 * shared mapping.
 *
 * Keys: an IPv4 address as itself (an IPv4-mapped IPv6 address is the
 * same key), an IPv6 address by its /64 prefix, because one host usually
 * owns a whole /64 and could otherwise walk through it.  Keys are stored
 * as 16 octets: ::ffff:a.b.c.d for IPv4, the prefix and 8 zero octets
 * for IPv6; the two forms cannot collide.
 *
 * One writer (the auth process), many readers in other processes.  Each
 * slot carries a sequence number (a seqlock): the writer makes it odd,
 * changes the slot and makes it even again; a reader copies the slot and
 * trusts the copy only when the number was the same even value before and
 * after.  Every field is a C11 atomic, so there is no data race in the
 * language's sense either.
 *
 * Removal leaves a tombstone so that readers probing past the slot still
 * find what lies behind it; runs of tombstones that end at an empty slot
 * are turned back into empty slots (nothing live can lie behind them).
 * The table has twice as many slots as it accepts entries, so probes stay
 * short.
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "server/shared/banlist.h"

#define BANLIST_SLOTS	(2 * BANLIST_SIZE)	/* a power of two */
#define SLOT_MASK	(BANLIST_SLOTS - 1)

/* A reader gives up on a slot whose writer died half-way after this. */
#define READ_SPINS	100000

enum {
	SLOT_EMPTY = 0,
	SLOT_LIVE = 1,
	SLOT_TOMB = 2,
};

struct ban_slot {
	_Atomic uint32_t	seq;
	_Atomic uint32_t	state;
	_Atomic uint64_t	key[2];
	_Atomic int64_t		until;
};

struct ban_table {
	uint64_t		hkey[2];	/* set before the fork */
	_Atomic uint32_t	nlive;
	struct ban_slot		slot[BANLIST_SLOTS];
};

/* A consistent copy of a slot. */
struct slot_copy {
	uint32_t	state;
	uint64_t	key[2];
	int64_t		until;
};

static struct ban_table	*bt;

static int	make_key(const struct sockaddr *, uint64_t[2]);
static void	key_to_sockaddr(const uint64_t[2], struct sockaddr_storage *);
static uint32_t	key_hash(const uint64_t[2]);
static int	slot_read(struct ban_slot *, struct slot_copy *);
static void	slot_write(struct ban_slot *, uint32_t, const uint64_t[2],
		    int64_t);
static long	find(const uint64_t[2], long *);
static void	remove_slot(uint32_t);
static time_t	now_real(void);

int
banlist_key(const struct sockaddr *sa, uint8_t k[16])
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(k, 0, 16);
	if (sa == NULL)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		k[10] = k[11] = 0xff;
		memcpy(k + 12, &sin.sin_addr, 4);
		return 0;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
			memcpy(k, &sin6.sin6_addr, 16);
		else
			memcpy(k, &sin6.sin6_addr, 8);
		return 0;
	default:
		return -1;
	}
}

static int
make_key(const struct sockaddr *sa, uint64_t key[2])
{
	uint8_t	k[16];

	if (banlist_key(sa, k) == -1)
		return -1;
	memcpy(key, k, sizeof(k));
	return 0;
}

static void
key_to_sockaddr(const uint64_t key[2], struct sockaddr_storage *ss)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
	static const uint8_t	v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
				    0, 0, 0xff, 0xff };
	uint8_t			k[16];

	memcpy(k, key, sizeof(k));
	memset(ss, 0, sizeof(*ss));
	if (memcmp(k, v4mapped, sizeof(v4mapped)) == 0) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, k + 12, 4);
		memcpy(ss, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, k, 16);
		memcpy(ss, &sin6, sizeof(sin6));
	}
}

/*
 * A keyed mix (the key is random per start), so that nobody can choose
 * addresses that all land in one probe run.
 */
static uint32_t
key_hash(const uint64_t key[2])
{
	uint64_t	h;

	h = (key[0] ^ bt->hkey[0]) * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	h += key[1] ^ bt->hkey[1];
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

static int
slot_read(struct ban_slot *s, struct slot_copy *c)
{
	uint32_t	s1, s2;
	long		spins;

	for (spins = 0; spins < READ_SPINS; spins++) {
		s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		c->state = atomic_load_explicit(&s->state,
		    memory_order_relaxed);
		c->key[0] = atomic_load_explicit(&s->key[0],
		    memory_order_relaxed);
		c->key[1] = atomic_load_explicit(&s->key[1],
		    memory_order_relaxed);
		c->until = atomic_load_explicit(&s->until,
		    memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (s1 == s2)
			return 0;
	}
	return -1;
}

/* Only the single writer calls this. */
static void
slot_write(struct ban_slot *s, uint32_t state, const uint64_t key[2],
    int64_t until)
{
	uint32_t	seq;

	seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	/* Odd: a writer died half-way; it stays odd until we are done. */
	seq &= ~1U;
	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->state, state, memory_order_relaxed);
	atomic_store_explicit(&s->key[0], key[0], memory_order_relaxed);
	atomic_store_explicit(&s->key[1], key[1], memory_order_relaxed);
	atomic_store_explicit(&s->until, until, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

/*
 * The slot holding key, or -1.  *freeslot (when not NULL) gets the first
 * slot where the key could be inserted, or -1.
 */
static long
find(const uint64_t key[2], long *freeslot)
{
	struct slot_copy	c;
	uint32_t		h, i, idx;

	if (freeslot)
		*freeslot = -1;
	h = key_hash(key);
	for (i = 0; i < BANLIST_SLOTS; i++) {
		idx = (h + i) & SLOT_MASK;
		if (slot_read(&bt->slot[idx], &c) == -1)
			continue;	/* torn by a dead writer: skip it */
		if (c.state == SLOT_EMPTY) {
			if (freeslot && *freeslot == -1)
				*freeslot = idx;
			return -1;
		}
		if (c.state == SLOT_TOMB) {
			if (freeslot && *freeslot == -1)
				*freeslot = idx;
			continue;
		}
		if (c.key[0] == key[0] && c.key[1] == key[1])
			return idx;
	}
	return -1;
}

static void
remove_slot(uint32_t idx)
{
	static const uint64_t	zero[2];
	struct slot_copy	c;
	uint32_t		i;

	slot_write(&bt->slot[idx], SLOT_TOMB, zero, 0);
	atomic_fetch_sub_explicit(&bt->nlive, 1, memory_order_relaxed);

	/*
	 * A tombstone just before an empty slot guards nothing: turn it,
	 * and the tombstones before it, back into empty slots.
	 */
	if (slot_read(&bt->slot[(idx + 1) & SLOT_MASK], &c) == -1 ||
	    c.state != SLOT_EMPTY)
		return;
	for (i = 0; i < BANLIST_SLOTS; i++) {
		uint32_t j = (idx - i) & SLOT_MASK;

		if (slot_read(&bt->slot[j], &c) == -1 ||
		    c.state != SLOT_TOMB)
			break;
		slot_write(&bt->slot[j], SLOT_EMPTY, zero, 0);
	}
}

static time_t
now_real(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int
banlist_init(void)
{
	void	*p;

	if (bt == NULL) {
		p = mmap(NULL, sizeof(*bt), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		bt = p;
	} else
		memset(bt, 0, sizeof(*bt));	/* again: start empty */
	if (getrandom(bt->hkey, sizeof(bt->hkey), 0) !=
	    (ssize_t)sizeof(bt->hkey)) {
		munmap(bt, sizeof(*bt));
		bt = NULL;
		return -1;
	}
	return 0;
}

int
banlist_add(const struct sockaddr *sa, time_t until)
{
	struct slot_copy	c;
	uint64_t		key[2];
	long			idx, freeslot;

	if (bt == NULL || make_key(sa, key) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((idx = find(key, &freeslot)) != -1) {
		if (slot_read(&bt->slot[idx], &c) == 0 && c.until != until)
			slot_write(&bt->slot[idx], SLOT_LIVE, key, until);
		return 0;
	}
	if (freeslot == -1 || atomic_load_explicit(&bt->nlive,
	    memory_order_relaxed) >= BANLIST_SIZE) {
		errno = ENOSPC;
		return -1;
	}
	slot_write(&bt->slot[freeslot], SLOT_LIVE, key, until);
	atomic_fetch_add_explicit(&bt->nlive, 1, memory_order_relaxed);
	return 0;
}

void
banlist_remove(const struct sockaddr *sa)
{
	uint64_t	key[2];
	long		idx;

	if (bt == NULL || make_key(sa, key) == -1)
		return;
	if ((idx = find(key, NULL)) != -1)
		remove_slot((uint32_t)idx);
}

int
banlist_check(const struct sockaddr *sa, time_t *until)
{
	struct slot_copy	c;
	uint64_t		key[2];
	long			idx;

	if (bt == NULL || make_key(sa, key) == -1)
		return 0;
	if ((idx = find(key, NULL)) == -1 ||
	    slot_read(&bt->slot[idx], &c) == -1 || c.state != SLOT_LIVE ||
	    c.key[0] != key[0] || c.key[1] != key[1] ||
	    c.until <= (int64_t)now_real())
		return 0;
	if (until)
		*until = (time_t)c.until;
	return 1;
}

void
banlist_expire(void (*cb)(const struct sockaddr *))
{
	static const uint64_t	 zero[2];
	struct sockaddr_storage	 ss;
	struct slot_copy	 c;
	time_t			 now;
	uint32_t		 i, seq, live = 0;

	if (bt == NULL)
		return;
	now = now_real();
	for (i = 0; i < BANLIST_SLOTS; i++) {
		seq = atomic_load_explicit(&bt->slot[i].seq,
		    memory_order_relaxed);
		if (seq & 1) {
			/*
			 * The previous auth process died while writing
			 * this slot: its content cannot be trusted.
			 */
			slot_write(&bt->slot[i], SLOT_TOMB, zero, 0);
			continue;
		}
		if (slot_read(&bt->slot[i], &c) == -1 ||
		    c.state != SLOT_LIVE)
			continue;
		if (c.until > (int64_t)now) {
			live++;
			continue;
		}
		remove_slot(i);
		if (cb) {
			key_to_sockaddr(c.key, &ss);
			cb((const struct sockaddr *)&ss);
		}
	}
	/* Recount: a repaired slot may have been counted. */
	atomic_store_explicit(&bt->nlive, live, memory_order_relaxed);
}
