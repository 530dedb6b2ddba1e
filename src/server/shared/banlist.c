/*
 * The shared ban list: an open-addressing hash table in a sealed memfd.
 *
 * Keys: an IPv4 address as itself (an IPv4-mapped IPv6 address is the
 * same key), an IPv6 address by a prefix (ban-ipv6-prefix, /64 by
 * default), because one host usually owns a whole /64 and could otherwise
 * walk through it.  A key is the masked address in 16 octets and the
 * prefix length: ::ffff:a.b.c.d/128 for IPv4.  The header keeps which
 * IPv6 prefix lengths are in use, so a reader finds a ban made under
 * another length (before a reload changed ban-ipv6-prefix) too.
 *
 * Write access: the parent creates the memfd, maps it writable, then
 * seals it against future writes (F_SEAL_FUTURE_WRITE) and against a
 * change of size, maps it again read-only and closes it.  Children
 * inherit both views; the auth process keeps the writable one, a worker
 * and the queue unmap it (banlist_readonly()).  What they keep cannot be
 * made writable: the seal makes the kernel refuse mprotect(PROT_WRITE)
 * on it, a writable mapping or write(2) through any descriptor, even one
 * reopened through /proc, and they hold no descriptor at all.  The sizes
 * and the hash key are each process's own copies, so a table scribbled
 * on by a broken auth process still cannot make a reader go astray.
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
 * The table has at least twice as many slots as it accepts entries, so
 * probes stay short.  A full table evicts: an ended ban first, else the
 * one that ends soonest; a guard that stopped banning would invite
 * whoever filled it.
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "server/shared/banlist.h"

/* A reader gives up on a slot whose writer died half-way after this. */
#define READ_SPINS	100000
#define HEAD_SIZE	64
#define PLEN_WORDS	((BANLIST_PREFIX6_MAX + 32) / 32)

enum {
	SLOT_EMPTY = 0,
	SLOT_LIVE = 1,
	SLOT_TOMB = 2,
};

struct ban_head {
	_Atomic uint32_t	nlive;
	_Atomic uint32_t	plens[PLEN_WORDS];	/* bit n: /n in use */
};

struct ban_slot {
	_Atomic uint32_t	seq;
	_Atomic uint32_t	state;		/* SLOT_*, plen << 8 */
	_Atomic uint64_t	key[2];
	_Atomic int64_t		until;
};

/* A consistent copy of a slot. */
struct slot_copy {
	uint32_t	state;
	uint32_t	plen;
	uint64_t	key[2];
	int64_t		until;
};

_Static_assert(sizeof(struct ban_head) <= HEAD_SIZE, "ban table header");

static const uint8_t	v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			    0xff, 0xff };

/* This process's views; NULL before banlist_init(). */
static struct ban_head	*head;		/* the writable view, else read-only */
static struct ban_slot	*slots;
static void		*map_w, *map_r;
static size_t		 maplen;
static uint32_t		 nslots;	/* a power of two */
static size_t		 capacity;
static uint64_t		 hkey[2];
/*
 * The writer's own order of insertion of each slot (not shared: only the
 * writer evicts), so that of bans ending in the same second the oldest
 * goes first.  A new writer starts from zeros: ties then go by slot.
 */
static uint64_t		*born;
static uint64_t		 nborn;

static int	is_v4(const struct banlist_key *);
static void	make_key(const struct banlist_key *, uint64_t[2]);
static uint32_t	key_hash(const uint64_t[2], unsigned);
static int	slot_read(struct ban_slot *, struct slot_copy *);
static void	slot_write(struct ban_slot *, uint32_t, unsigned,
		    const uint64_t[2], int64_t);
static long	find(const uint64_t[2], unsigned, long *);
static int	lookup(const struct banlist_key *, time_t, time_t *);
static void	remove_slot(uint32_t);
static long	victim(time_t);
static void	copy_to_key(const struct slot_copy *, struct banlist_key *);
static void	unmap(void);

int
banlist_key(const struct sockaddr *sa, unsigned prefix6,
    struct banlist_key *k)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
	unsigned		i;

	memset(k, 0, sizeof(*k));
	if (sa == NULL)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, &sin.sin_addr, 4);
		k->plen = 128;
		return 0;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(k->addr, &sin6.sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			k->plen = 128;
			return 0;
		}
		if (prefix6 < BANLIST_PREFIX6_MIN ||
		    prefix6 > BANLIST_PREFIX6_MAX)
			return -1;
		for (i = prefix6; i < 128; i++)
			k->addr[i / 8] &= (uint8_t)~(0x80U >> (i % 8));
		k->plen = (uint8_t)prefix6;
		return 0;
	default:
		return -1;
	}
}

const char *
banlist_key_fmt(const struct banlist_key *k, char *buf, size_t len)
{
	char	tmp[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (is_v4(k)) {
		if (inet_ntop(AF_INET, k->addr + 12, buf, len) == NULL)
			snprintf(buf, len, "unknown");
	} else if (inet_ntop(AF_INET6, k->addr, tmp, sizeof(tmp)) == NULL)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%s/%u", tmp, k->plen);
	return buf;
}

int
banlist_key_parse(const char *text, struct banlist_key *k)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long	 plen;
	unsigned	 i;

	memset(k, 0, sizeof(*k));
	if (strlen(text) >= sizeof(buf))
		return -1;
	memcpy(buf, text, strlen(text) + 1);
	if ((slash = strchr(buf, '/')) == NULL) {
		if (inet_pton(AF_INET, buf, k->addr + 12) != 1)
			return -1;
		k->addr[10] = k->addr[11] = 0xff;
		k->plen = 128;
		return 0;
	}
	*slash = '\0';
	errno = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 ||
	    plen < BANLIST_PREFIX6_MIN || plen > BANLIST_PREFIX6_MAX ||
	    inet_pton(AF_INET6, buf, k->addr) != 1)
		return -1;
	for (i = (unsigned)plen; i < 128; i++)
		k->addr[i / 8] &= (uint8_t)~(0x80U >> (i % 8));
	k->plen = (uint8_t)plen;
	return 0;
}

/* An IPv4 address, or IPv4-mapped (the same key)? */
static int
is_v4(const struct banlist_key *k)
{
	return k->plen == 128 &&
	    memcmp(k->addr, v4mapped, sizeof(v4mapped)) == 0;
}

static void
make_key(const struct banlist_key *k, uint64_t key[2])
{
	memcpy(key, k->addr, sizeof(k->addr));
}

/*
 * A keyed mix (the key is random per start), so that nobody can choose
 * addresses that all land in one probe run.
 */
static uint32_t
key_hash(const uint64_t key[2], unsigned plen)
{
	uint64_t	h;

	h = (key[0] ^ hkey[0]) * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	h += key[1] ^ hkey[1] ^ ((uint64_t)plen << 56);
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

static int
slot_read(struct ban_slot *s, struct slot_copy *c)
{
	uint32_t	s1, s2, state;
	long		spins;

	for (spins = 0; spins < READ_SPINS; spins++) {
		s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		state = atomic_load_explicit(&s->state, memory_order_relaxed);
		c->key[0] = atomic_load_explicit(&s->key[0],
		    memory_order_relaxed);
		c->key[1] = atomic_load_explicit(&s->key[1],
		    memory_order_relaxed);
		c->until = atomic_load_explicit(&s->until,
		    memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (s1 == s2) {
			c->state = state & 0xff;
			c->plen = state >> 8;
			return 0;
		}
	}
	return -1;
}

/* Only the single writer calls this. */
static void
slot_write(struct ban_slot *s, uint32_t state, unsigned plen,
    const uint64_t key[2], int64_t until)
{
	uint32_t	seq;

	seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	/* Odd: a writer died half-way; it stays odd until we are done. */
	seq &= ~1U;
	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->state, state | (uint32_t)plen << 8,
	    memory_order_relaxed);
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
find(const uint64_t key[2], unsigned plen, long *freeslot)
{
	struct slot_copy	c;
	uint32_t		h, i, idx;

	if (freeslot)
		*freeslot = -1;
	h = key_hash(key, plen);
	for (i = 0; i < nslots; i++) {
		idx = (h + i) & (nslots - 1);
		if (slot_read(&slots[idx], &c) == -1)
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
		if (c.key[0] == key[0] && c.key[1] == key[1] &&
		    c.plen == plen)
			return idx;
	}
	return -1;
}

/* Is k banned at now?  Its end in *until. */
static int
lookup(const struct banlist_key *k, time_t now, time_t *until)
{
	struct slot_copy	c;
	uint64_t		key[2];
	long			idx;

	make_key(k, key);
	if ((idx = find(key, k->plen, NULL)) == -1 ||
	    slot_read(&slots[idx], &c) == -1 || c.state != SLOT_LIVE ||
	    c.key[0] != key[0] || c.key[1] != key[1] || c.plen != k->plen ||
	    c.until <= (int64_t)now)
		return 0;
	if (until)
		*until = (time_t)c.until;
	return 1;
}

static void
remove_slot(uint32_t idx)
{
	static const uint64_t	zero[2];
	struct slot_copy	c;
	uint32_t		i, mask = nslots - 1;

	slot_write(&slots[idx], SLOT_TOMB, 0, zero, 0);
	if (atomic_load_explicit(&head->nlive, memory_order_relaxed) > 0)
		atomic_fetch_sub_explicit(&head->nlive, 1,
		    memory_order_relaxed);

	/*
	 * A tombstone just before an empty slot guards nothing: turn it,
	 * and the tombstones before it, back into empty slots.
	 */
	if (slot_read(&slots[(idx + 1) & mask], &c) == -1 ||
	    c.state != SLOT_EMPTY)
		return;
	for (i = 0; i < nslots; i++) {
		uint32_t j = (idx - i) & mask;

		if (slot_read(&slots[j], &c) == -1 || c.state != SLOT_TOMB)
			break;
		slot_write(&slots[j], SLOT_EMPTY, 0, zero, 0);
	}
}

/*
 * The entry to evict from a full table: ended, else ending soonest, and
 * of those the oldest.
 */
static long
victim(time_t now)
{
	struct slot_copy	c;
	int64_t			soonest = INT64_MAX;
	long			best = -1;
	uint32_t		i;

	for (i = 0; i < nslots; i++) {
		if (slot_read(&slots[i], &c) == -1 || c.state != SLOT_LIVE)
			continue;
		if (c.until <= (int64_t)now)
			return i;
		if (best == -1 || c.until < soonest || (c.until == soonest &&
		    born[i] < born[best])) {
			soonest = c.until;
			best = i;
		}
	}
	return best;
}

static void
copy_to_key(const struct slot_copy *c, struct banlist_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, c->key, sizeof(k->addr));
	k->plen = (uint8_t)c->plen;
}

static void
unmap(void)
{
	if (map_w != NULL)
		munmap(map_w, maplen);
	if (map_r != NULL)
		munmap(map_r, maplen);
	map_w = map_r = NULL;
	head = NULL;
	slots = NULL;
	free(born);
	born = NULL;
}

int
banlist_init(size_t entries)
{
	size_t	n = 2;
	void	*w, *r;
	int	fd, saved;

	if (entries < BANLIST_SIZE_MIN || entries > BANLIST_SIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	while (n < 2 * entries)
		n <<= 1;
	unmap();
	maplen = HEAD_SIZE + n * sizeof(struct ban_slot);
	if (getrandom(hkey, sizeof(hkey), 0) != (ssize_t)sizeof(hkey))
		return -1;
	fd = memfd_create("smtpauthd-bans", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -1;
	w = r = MAP_FAILED;
	if (ftruncate(fd, (off_t)maplen) == -1 ||
	    (w = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0)) == MAP_FAILED ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1 ||
	    (r = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		saved = errno;
		if (w != MAP_FAILED)
			munmap(w, maplen);
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	if ((born = calloc(n, sizeof(*born))) == NULL) {
		munmap(w, maplen);
		munmap(r, maplen);
		errno = ENOMEM;
		return -1;
	}
	nborn = 0;
	map_w = w;
	map_r = r;
	nslots = (uint32_t)n;
	capacity = entries;
	head = map_w;
	slots = (struct ban_slot *)((char *)map_w + HEAD_SIZE);
	return 0;
}

void
banlist_readonly(void)
{
	if (map_w == NULL)
		return;
	munmap(map_w, maplen);
	map_w = NULL;
	free(born);
	born = NULL;
	head = map_r;
	slots = (struct ban_slot *)((char *)map_r + HEAD_SIZE);
}

int
banlist_add(const struct banlist_key *k, time_t until,
    struct banlist_key *evicted, time_t *evicted_until)
{
	struct slot_copy	c;
	uint64_t		key[2];
	long			idx, freeslot;
	int			r = 0;

	if (map_w == NULL || k->plen < BANLIST_PREFIX6_MIN ||
	    k->plen > BANLIST_PREFIX6_MAX) {
		errno = map_w == NULL ? EPERM : EINVAL;
		return -1;
	}
	make_key(k, key);
	if ((idx = find(key, k->plen, &freeslot)) != -1) {
		if (slot_read(&slots[idx], &c) == 0 && c.until != until)
			slot_write(&slots[idx], SLOT_LIVE, k->plen, key, until);
		born[idx] = ++nborn;
		return 0;
	}
	if (atomic_load_explicit(&head->nlive, memory_order_relaxed) >=
	    capacity && (idx = victim(real_sec())) != -1) {
		if (slot_read(&slots[idx], &c) == 0) {
			copy_to_key(&c, evicted);
			*evicted_until = (time_t)c.until;
			r = 1;
		}
		remove_slot((uint32_t)idx);
		(void)find(key, k->plen, &freeslot);
	}
	if (freeslot == -1) {
		/* Only slots torn by a dead writer are left. */
		errno = ENOSPC;
		return -1;
	}
	/* Readers learn of the length before they could miss the entry. */
	if (!is_v4(k))
		atomic_fetch_or_explicit(&head->plens[k->plen / 32],
		    1U << (k->plen % 32), memory_order_release);
	slot_write(&slots[freeslot], SLOT_LIVE, k->plen, key, until);
	born[freeslot] = ++nborn;
	atomic_fetch_add_explicit(&head->nlive, 1, memory_order_relaxed);
	return r;
}

int
banlist_remove(const struct banlist_key *k)
{
	uint64_t	key[2];
	long		idx;

	if (map_w == NULL)
		return 0;
	make_key(k, key);
	if ((idx = find(key, k->plen, NULL)) == -1)
		return 0;
	remove_slot((uint32_t)idx);
	return 1;
}

int
banlist_check(const struct sockaddr *sa, time_t *until)
{
	struct banlist_key	k;
	time_t			now;
	uint32_t		bits;
	unsigned		plen;

	if (slots == NULL || banlist_key(sa, 128, &k) == -1)
		return 0;
	now = real_sec();
	if (is_v4(&k))
		return lookup(&k, now, until);
	/* Longest prefix first; each length in use is one probe. */
	for (plen = BANLIST_PREFIX6_MAX; plen >= BANLIST_PREFIX6_MIN;
	    plen--) {
		bits = atomic_load_explicit(&head->plens[plen / 32],
		    memory_order_acquire);
		if ((bits & (1U << (plen % 32))) == 0)
			continue;
		if (banlist_key(sa, plen, &k) == 0 && lookup(&k, now, until))
			return 1;
	}
	return 0;
}

void
banlist_foreach(void (*cb)(const struct banlist_key *, time_t, void *),
    void *arg)
{
	struct banlist_key	k;
	struct slot_copy	c;
	time_t			now;
	uint32_t		i;

	if (slots == NULL)
		return;
	now = real_sec();
	for (i = 0; i < nslots; i++) {
		if (slot_read(&slots[i], &c) == -1 || c.state != SLOT_LIVE ||
		    c.until <= (int64_t)now)
			continue;
		copy_to_key(&c, &k);
		cb(&k, (time_t)c.until, arg);
	}
}

void
banlist_expire(void (*cb)(const struct banlist_key *))
{
	static const uint64_t	 zero[2];
	struct banlist_key	 k;
	struct slot_copy	 c;
	uint32_t		 plens[PLEN_WORDS] = { 0 };
	time_t			 now;
	uint32_t		 i, seq, live = 0;

	if (map_w == NULL)
		return;
	now = real_sec();
	for (i = 0; i < nslots; i++) {
		seq = atomic_load_explicit(&slots[i].seq,
		    memory_order_relaxed);
		if (seq & 1) {
			/*
			 * The previous auth process died while writing
			 * this slot: its content cannot be trusted.
			 */
			slot_write(&slots[i], SLOT_TOMB, 0, zero, 0);
			continue;
		}
		if (slot_read(&slots[i], &c) == -1 || c.state != SLOT_LIVE)
			continue;
		copy_to_key(&c, &k);
		if (c.until > (int64_t)now) {
			live++;
			if (!is_v4(&k) && c.plen >= BANLIST_PREFIX6_MIN &&
			    c.plen <= BANLIST_PREFIX6_MAX)
				plens[c.plen / 32] |= 1U << (c.plen % 32);
			continue;
		}
		remove_slot(i);
		if (cb)
			cb(&k);
	}
	/* Recount: a repaired slot may have been counted. */
	atomic_store_explicit(&head->nlive, live, memory_order_relaxed);
	/* Lengths without a live ban cost readers nothing any more. */
	for (i = 0; i < PLEN_WORDS; i++)
		atomic_store_explicit(&head->plens[i], plens[i],
		    memory_order_relaxed);
}

int
banlist_each(void (*cb)(void *, const struct banlist_key *, time_t),
    void *arg)
{
	struct banlist_key	k;
	struct slot_copy	c;
	time_t			now;
	uint32_t		i;
	int			n = 0;

	if (slots == NULL)
		return 0;
	now = real_sec();
	for (i = 0; i < nslots; i++) {
		if (slot_read(&slots[i], &c) == -1 || c.state != SLOT_LIVE ||
		    c.until <= (int64_t)now)
			continue;
		copy_to_key(&c, &k);
		cb(arg, &k, (time_t)c.until);
		n++;
	}
	return n;
}

size_t
banlist_active(void)
{
	if (head == NULL)
		return 0;
	return atomic_load_explicit(&head->nlive, memory_order_relaxed);
}

int
banlist_unban(const struct sockaddr *sa, unsigned plen,
    void (*cb)(const struct banlist_key *))
{
	struct banlist_key	k;
	unsigned		p;
	int			n = 0;

	if (map_w == NULL || banlist_key(sa, 128, &k) == -1)
		return 0;
	if (is_v4(&k)) {
		if (lookup(&k, real_sec(), NULL)) {
			banlist_remove(&k);
			cb(&k);
			n++;
		}
		return n;
	}
	for (p = BANLIST_PREFIX6_MIN; p <= BANLIST_PREFIX6_MAX; p++) {
		if ((plen != 0 && p != plen) || banlist_key(sa, p, &k) == -1 ||
		    !lookup(&k, real_sec(), NULL))
			continue;
		banlist_remove(&k);
		cb(&k);
		n++;
	}
	return n;
}
