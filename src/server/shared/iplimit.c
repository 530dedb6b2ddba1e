/*
 * Cross-process session counters per client address.
 */
#include <sys/mman.h>

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/shared/iplimit.h"

#define BUCKETS		16384

struct iplimit_shm {
	uint64_t		key[2];
	atomic_uint		high;		/* slots ever used + 1 */
	atomic_ushort		count[IPLIMIT_SLOTS][BUCKETS];
};

static struct iplimit_shm	*shm;
static unsigned			 myslot;

static unsigned	bucket(const struct sockaddr *);

int
iplimit_init(void)
{
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		shm = NULL;
		return -1;
	}
	arc4random_buf(shm->key, sizeof(shm->key));
	return 0;
}

void
iplimit_set_slot(unsigned slot)
{
	myslot = slot % IPLIMIT_SLOTS;
	if (shm != NULL && atomic_load(&shm->high) <= myslot)
		atomic_store(&shm->high, myslot + 1);
}

void
iplimit_clear_slot(unsigned slot)
{
	unsigned	i;

	if (shm == NULL)
		return;
	for (i = 0; i < BUCKETS; i++)
		atomic_store(&shm->count[slot % IPLIMIT_SLOTS][i], 0);
}

/* A keyed mix of the address bytes (IPv4-mapped IPv6 as IPv4). */
static unsigned
bucket(const struct sockaddr *sa)
{
	const uint8_t	*p;
	size_t		 len, i;
	uint64_t	 h = shm->key[0];

	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		p = a6->s6_addr;
		len = 16;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			p += 12;
			len = 4;
		} else
			len = 8;	/* one client: its /64 */
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		len = 4;
	}
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	h ^= shm->key[1];
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (unsigned)(h % BUCKETS);
}

int
iplimit_acquire(const struct sockaddr *sa, unsigned max)
{
	unsigned	b, s, high, total = 0;

	if (shm == NULL)
		return 0;
	b = bucket(sa);
	if (max > 0) {
		high = atomic_load(&shm->high);
		for (s = 0; s < high && s < IPLIMIT_SLOTS; s++)
			total += atomic_load_explicit(&shm->count[s][b],
			    memory_order_relaxed);
		if (total >= max)
			return -1;
	}
	atomic_fetch_add(&shm->count[myslot][b], 1);
	return 0;
}

void
iplimit_release(const struct sockaddr *sa)
{
	unsigned	b;

	if (shm == NULL)
		return;
	b = bucket(sa);
	if (atomic_load(&shm->count[myslot][b]) > 0)
		atomic_fetch_sub(&shm->count[myslot][b], 1);
}
