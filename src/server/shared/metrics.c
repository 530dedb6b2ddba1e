/*
 * The shared counter block (metrics.h): anonymous shared memory, mapped
 * once by the parent, inherited by every child.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "server/shared/metrics.h"

static struct metrics	*block;
static unsigned		 my_slot;

const double	metrics_lat_bounds[METRICS_LAT_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600, 86400
};

int
metrics_init(void)
{
	void	*p;

	if (block != NULL)
		return 0;
	p = mmap(NULL, sizeof(*block), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	memset(p, 0, sizeof(*block));
	atomic_store(&((struct metrics *)p)->backend_up, -1);
	atomic_store(&((struct metrics *)p)->store_up, -1);
	block = p;
	return 0;
}

struct metrics *
metrics_get(void)
{
	return block;
}

void
metrics_set_slot(unsigned slot)
{
	my_slot = slot < METRICS_SLOTS ? slot : METRICS_SLOTS - 1;
}

void
metrics_session_open(unsigned listener, int delta)
{
	if (block != NULL && listener < METRICS_LISTENERS)
		atomic_fetch_add_explicit(
		    &block->listeners[listener].open[my_slot], delta,
		    memory_order_relaxed);
}

int64_t
metrics_sessions_open(unsigned listener)
{
	int64_t		n = 0;
	unsigned	i;

	if (block == NULL || listener >= METRICS_LISTENERS)
		return 0;
	for (i = 0; i < METRICS_SLOTS; i++)
		n += atomic_load_explicit(&block->listeners[listener].open[i],
		    memory_order_relaxed);
	return n;
}

void
metrics_clear_slot(unsigned slot)
{
	unsigned	l;

	if (block == NULL || slot >= METRICS_SLOTS)
		return;
	for (l = 0; l < METRICS_LISTENERS; l++)
		atomic_store(&block->listeners[l].open[slot], 0);
}

unsigned
metrics_listener(size_t i)
{
	return i < METRICS_LISTENERS ? (unsigned)i : METRICS_LISTENERS - 1;
}

const char *const metrics_mech_names[METRICS_MECHS] = {
	[METRICS_PLAIN] = "PLAIN",
	[METRICS_LOGIN] = "LOGIN",
	[METRICS_CRAM_MD5] = "CRAM-MD5",
	[METRICS_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[METRICS_OTHER] = "other",
};

void
metrics_auth(const char *mech, int result)
{
	unsigned	r, i;

	r = result > 0 ? METRICS_OK : result == 0 ? METRICS_FAIL :
	    METRICS_TEMPFAIL;
	for (i = 0; i < METRICS_OTHER; i++)
		if (strcmp(mech, metrics_mech_names[i]) == 0)
			break;
	METRICS_ADD(auth[i][r], 1);
}

void
metrics_delivered(const struct timespec *accepted)
{
	struct timespec	now;
	int64_t		ms;
	unsigned	i;

	if (block == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	ms = ((int64_t)now.tv_sec - (int64_t)accepted->tv_sec) * 1000 +
	    (now.tv_nsec - accepted->tv_nsec) / 1000000;
	if (ms < 0)
		ms = 0;
	for (i = 0; i < METRICS_LAT_BUCKETS; i++)
		if ((double)ms / 1000.0 <= metrics_lat_bounds[i])
			break;
	METRICS_ADD(lat_bucket[i], 1);
	METRICS_ADD(lat_sum_ms, (uint64_t)ms);
	METRICS_ADD(delivered, 1);
}

void
metrics_proc_add(pid_t pid, enum metrics_proc_kind kind, unsigned index)
{
	size_t	i;

	if (block == NULL)
		return;
	for (i = 0; i < METRICS_PROCS; i++)
		if (atomic_load(&block->procs[i].pid) == 0) {
			atomic_store(&block->procs[i].kind, (uint32_t)kind);
			atomic_store(&block->procs[i].index, index);
			atomic_store(&block->procs[i].started,
			    (int64_t)time(NULL));
			atomic_store(&block->procs[i].pid, (int32_t)pid);
			return;
		}
}

void
metrics_proc_del(pid_t pid)
{
	size_t	i;

	if (block == NULL)
		return;
	for (i = 0; i < METRICS_PROCS; i++)
		if (atomic_load(&block->procs[i].pid) == (int32_t)pid)
			atomic_store(&block->procs[i].pid, 0);
}

const char *
metrics_proc_name(unsigned kind)
{
	static const char *const names[] = {
		"none", "parent", "worker", "queue", "auth", "metrics"
	};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}
