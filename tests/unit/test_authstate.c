/*
 * Unit tests for the auth state region (authstate.h) and the ledger's
 * slab mode: what one process counts there, the next one reads, at the
 * same address; the slab reuses dropped entries; a process that dies
 * holding the lock does not wedge the next.
 */
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/auth/authstate.h"
#include "server/auth/ledger.h"

#define K(s)	(s), strlen(s)

/* Memory that is never given back, as the region's: a static arena. */
static void *
zalloc(size_t n)
{
	static _Alignas(64) uint8_t	arena[65536];
	static size_t			used;
	void				*p;

	n = (n + 63) & ~(size_t)63;
	if (n > sizeof(arena) - used)
		return NULL;
	p = arena + used;
	used += n;
	return p;
}

/* A ledger in memory of its own: full, evicting, reusing its slots. */
static void
test_slab(void **state)
{
	struct ledger	*l;
	char		 key[16];
	int		 i;

	assert_non_null(l = ledger_new_in(60, 4, zalloc));
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ledger_fail(l, K(key), 1000 + i), 1);
		assert_true(ledger_size(l) <= 4);
	}
	/* The four latest are kept, the others forgotten. */
	assert_int_equal(ledger_count(l, K("k99"), 1100), 1);
	assert_int_equal(ledger_count(l, K("k96"), 1100), 1);
	assert_int_equal(ledger_count(l, K("k95"), 1100), 0);
	ledger_clear(l, K("k99"));
	assert_int_equal(ledger_size(l), 3);
	assert_int_equal(ledger_fail(l, K("k99"), 1101), 1);
	ledger_set_window(l, 5);
	assert_int_equal(ledger_count(l, K("k96"), 1101), 0);
	ledger_expire(l, 2000);
	assert_int_equal(ledger_size(l), 0);
	ledger_free(l);		/* leaves it: the memory is not ours */
}

static void
test_kept_across_processes(void **state)
{
	struct ledger	**root, *l;
	pid_t		  pid;
	int		  status;

	assert_int_equal(authstate_init(), 0);
	assert_true(authstate_shared());
	root = (struct ledger **)authstate_root(AUTHSTATE_LEDGER_ADDRS);
	assert_null(*root);
	/* The first "auth process" makes it and counts two failures. */
	if ((pid = fork()) == 0) {
		authstate_lock();
		l = ledger_new_in(600, 100, authstate_alloc);
		*root = l;
		(void)ledger_fail(l, K("192.0.2.1"), 5000);
		(void)ledger_fail(l, K("192.0.2.1"), 5001);
		authstate_unlock();
		_exit(l != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The next one finds the same ledger and the third failure. */
	if ((pid = fork()) == 0) {
		authstate_lock();
		l = *root;
		_exit(l != NULL && ledger_fail(l, K("192.0.2.1"), 5002) == 3 ?
		    0 : 1);
	}
	/* It died holding the lock: the next one gets it all the same. */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	authstate_lock();
	assert_int_equal(ledger_count(*root, K("192.0.2.1"), 5003), 3);
	authstate_unlock();
	/* Another child than auth lets go of it. */
	if ((pid = fork()) == 0) {
		authstate_detach();
		_exit(authstate_shared() || authstate_alloc(16) != NULL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* At the parent's exit: nothing of it is left to read. */
	{
		static const uint8_t	zero[64];

		authstate_wipe();
		assert_memory_equal(*root, zero, sizeof(zero));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab),
		cmocka_unit_test(test_kept_across_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
