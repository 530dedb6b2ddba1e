/*
 * The auth process's shared state (authstate.h): a MAP_SHARED anonymous
 * region, a header (the mutex, the roots, a bump allocator) and the
 * memory handed out behind it.  Its pages are touched only as they are
 * used, so the size reserved costs nothing until failures fill the
 * ledgers.
 */
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "server/auth/authstate.h"

/* Two ledgers of 16384 entries of ~560 octets, the cache, and room. */
#define REGION_SIZE	((size_t)24 << 20)
#define ALIGN		64

struct header {
	pthread_mutex_t	 mtx;
	void		*roots[AUTHSTATE_ROOTS];
	size_t		 used;		/* from the start of the region */
};

static struct header	*H;

int
authstate_init(void)
{
	pthread_mutexattr_t	attr;
	void			*p;

	if (H != NULL)
		return 0;
	p = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Never in a core dump of the parent. */
	(void)madvise(p, REGION_SIZE, MADV_DONTDUMP);
	H = p;
	if (pthread_mutexattr_init(&attr) != 0 ||
	    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&H->mtx, &attr) != 0) {
		munmap(p, REGION_SIZE);
		H = NULL;
		errno = EINVAL;
		return -1;
	}
	pthread_mutexattr_destroy(&attr);
	H->used = (sizeof(*H) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	return 0;
}

void
authstate_detach(void)
{
	if (H != NULL)
		munmap(H, REGION_SIZE);
	H = NULL;
}

void
authstate_wipe(void)
{
	if (H != NULL)
		explicit_bzero((char *)H + sizeof(*H), H->used - sizeof(*H));
}

int
authstate_shared(void)
{
	return H != NULL;
}

void *
authstate_alloc(size_t n)
{
	size_t	start;

	if (H == NULL)
		return NULL;
	start = H->used;
	if (n > REGION_SIZE - start)
		return NULL;
	H->used = (start + n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (H->used > REGION_SIZE)
		H->used = REGION_SIZE;
	return (char *)H + start;
}

void **
authstate_root(enum authstate_root r)
{
	static void	*local[AUTHSTATE_ROOTS];

	return H != NULL ? &H->roots[r] : &local[r];
}

void
authstate_lock(void)
{
	int	rc;

	if (H == NULL)
		return;
	rc = pthread_mutex_lock(&H->mtx);
	/*
	 * The other auth process died inside: what it was writing is one
	 * ledger entry or cache way, at worst miscounted; go on.
	 */
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(&H->mtx);
	if (rc != 0)
		fatalx("authstate: lock: %s", strerror(rc));
}

void
authstate_unlock(void)
{
	if (H != NULL)
		pthread_mutex_unlock(&H->mtx);
}
