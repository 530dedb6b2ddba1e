/*
 * Unit tests for the shared ban list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "server/shared/banlist.h"

static struct sockaddr_storage
sa(const char *ip)
{
	struct sockaddr_storage	ss;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') == NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(1234);
		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(&ss, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(4321);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(&ss, &sin6, sizeof(sin6));
	}
	return ss;
}

/* An address from text, in one of a few rotating buffers. */
static const struct sockaddr *
SA(const char *ip)
{
	static struct sockaddr_storage	ring[4];
	static unsigned			n;

	n = (n + 1) % 4;
	ring[n] = sa(ip);
	return (const struct sockaddr *)&ring[n];
}

static int
setup(void **state)
{
	return banlist_init();
}

static void
test_add_check_remove(void **state)
{
	time_t	now = time(NULL), until = 0;

	assert_int_equal(banlist_check(SA("192.0.2.1"), NULL), 0);
	assert_int_equal(banlist_add(SA("192.0.2.1"), now + 100), 0);
	assert_int_equal(banlist_check(SA("192.0.2.1"), &until), 1);
	assert_int_equal(until, now + 100);
	assert_int_equal(banlist_check(SA("192.0.2.2"), NULL), 0);
	/* Again: the end moves. */
	assert_int_equal(banlist_add(SA("192.0.2.1"), now + 200), 0);
	assert_int_equal(banlist_check(SA("192.0.2.1"), &until), 1);
	assert_int_equal(until, now + 200);
	banlist_remove(SA("192.0.2.1"));
	assert_int_equal(banlist_check(SA("192.0.2.1"), NULL), 0);
	banlist_remove(SA("192.0.2.1"));	/* absent: harmless */
}

static int	nexpired;
static char	expired[8][64];

static void
expire_cb(const struct sockaddr *s)
{
	char	buf[INET6_ADDRSTRLEN];

	if (s->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)s)->sin_addr, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)s)->sin6_addr, buf, sizeof(buf));
	if (nexpired < 8)
		snprintf(expired[nexpired], sizeof(expired[0]), "%s", buf);
	nexpired++;
}

static void
test_expire(void **state)
{
	time_t	now = time(NULL);

	nexpired = 0;
	assert_int_equal(banlist_add(SA("198.51.100.1"), now - 1), 0);
	assert_int_equal(banlist_add(SA("2001:db8:5:6::99"), now), 0);
	assert_int_equal(banlist_add(SA("198.51.100.2"), now + 3600), 0);
	/* An ended ban is not a ban, even before it is expired. */
	assert_int_equal(banlist_check(SA("198.51.100.1"), NULL), 0);
	assert_int_equal(banlist_check(SA("2001:db8:5:6::99"), NULL), 0);
	assert_int_equal(banlist_check(SA("198.51.100.2"), NULL), 1);
	banlist_expire(expire_cb);
	assert_int_equal(nexpired, 2);
	assert_true((strcmp(expired[0], "198.51.100.1") == 0 &&
	    strcmp(expired[1], "2001:db8:5:6::") == 0) ||
	    (strcmp(expired[1], "198.51.100.1") == 0 &&
	    strcmp(expired[0], "2001:db8:5:6::") == 0));
	banlist_expire(expire_cb);
	assert_int_equal(nexpired, 2);
	assert_int_equal(banlist_check(SA("198.51.100.2"), NULL), 1);
	banlist_expire(NULL);
}

static void
test_v4mapped(void **state)
{
	time_t	now = time(NULL);

	assert_int_equal(banlist_add(SA("203.0.113.9"), now + 60), 0);
	assert_int_equal(banlist_check(SA("::ffff:203.0.113.9"), NULL), 1);
	assert_int_equal(banlist_check(SA("::ffff:203.0.113.10"), NULL), 0);
	assert_int_equal(banlist_add(SA("::ffff:203.0.113.77"), now + 60), 0);
	assert_int_equal(banlist_check(SA("203.0.113.77"), NULL), 1);
	/* Not the same as an IPv6 /64 that happens to be all zero. */
	assert_int_equal(banlist_check(SA("::1"), NULL), 0);
	assert_int_equal(banlist_check(SA("::"), NULL), 0);
	banlist_remove(SA("::ffff:203.0.113.9"));
	assert_int_equal(banlist_check(SA("203.0.113.9"), NULL), 0);
}

static void
test_prefix64(void **state)
{
	time_t	now = time(NULL);
	uint8_t	k[16], want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2 };

	assert_int_equal(banlist_key(SA("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
	    k), 0);
	assert_memory_equal(k, want, 16);
	assert_int_equal(banlist_add(SA("2001:db8:1:2::1"), now + 60), 0);
	assert_int_equal(banlist_check(SA("2001:db8:1:2::1"), NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:1:2:ffff:ffff:ffff:ffff"),
	    NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:1:3::1"), NULL), 0);
	assert_int_equal(banlist_check(SA("2001:db8:1::1"), NULL), 0);
	banlist_remove(SA("2001:db8:1:2:dead::beef"));
	assert_int_equal(banlist_check(SA("2001:db8:1:2::1"), NULL), 0);
}

static void
test_key(void **state)
{
	struct sockaddr_storage	ss;
	uint8_t			k[16];
	uint8_t			v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff, 192, 0, 2, 1 };

	assert_int_equal(banlist_key(SA("192.0.2.1"), k), 0);
	assert_memory_equal(k, v4, 16);
	assert_int_equal(banlist_key(SA("::ffff:192.0.2.1"), k), 0);
	assert_memory_equal(k, v4, 16);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(banlist_key((struct sockaddr *)&ss, k), -1);
	assert_int_equal(banlist_add((struct sockaddr *)&ss, 1), -1);
	assert_int_equal(banlist_check((struct sockaddr *)&ss, NULL), 0);
	assert_int_equal(banlist_key(NULL, k), -1);
}

static struct sockaddr_storage
nth(unsigned i)
{
	char	ip[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 0xff,
	    (i >> 8) & 0xff, i & 0xff);
	return sa(ip);
}

static void
test_full(void **state)
{
	struct sockaddr_storage	s;
	time_t			now = time(NULL);
	unsigned		i;

	for (i = 0; i < BANLIST_SIZE; i++) {
		s = nth(i);
		assert_int_equal(banlist_add((struct sockaddr *)&s,
		    now + 60), 0);
	}
	s = nth(BANLIST_SIZE);
	assert_int_equal(banlist_add((struct sockaddr *)&s, now + 60), -1);
	/* Present ones can still be moved. */
	s = nth(7);
	assert_int_equal(banlist_add((struct sockaddr *)&s, now + 90), 0);
	for (i = 0; i < BANLIST_SIZE; i++) {
		s = nth(i);
		assert_int_equal(banlist_check((struct sockaddr *)&s, NULL),
		    1);
	}
	/* Room again after a removal. */
	banlist_remove((struct sockaddr *)&s);
	s = nth(BANLIST_SIZE);
	assert_int_equal(banlist_add((struct sockaddr *)&s, now + 60), 0);
	assert_int_equal(banlist_check((struct sockaddr *)&s, NULL), 1);

	/* Remove every other one; the rest are all still found. */
	for (i = 0; i < BANLIST_SIZE; i += 2) {
		s = nth(i);
		banlist_remove((struct sockaddr *)&s);
	}
	for (i = 0; i < BANLIST_SIZE; i++) {
		s = nth(i);
		assert_int_equal(banlist_check((struct sockaddr *)&s, NULL),
		    i % 2 == 1 && i != BANLIST_SIZE - 1);
	}
	/* Churn through tombstones many times over. */
	for (i = 0; i < 8 * BANLIST_SIZE; i++) {
		s = nth(100000 + i);
		assert_int_equal(banlist_add((struct sockaddr *)&s,
		    now + 60), 0);
		banlist_remove((struct sockaddr *)&s);
	}
	for (i = 1; i < BANLIST_SIZE - 1; i += 2) {
		s = nth(i);
		assert_int_equal(banlist_check((struct sockaddr *)&s, NULL),
		    1);
	}
}

/* Another process sees what this one writes: the mapping is shared. */
static void
test_shared(void **state)
{
	time_t	now = time(NULL);
	pid_t	pid;
	int	status;

	assert_int_equal(banlist_add(SA("198.51.100.50"), now + 60), 0);
	if ((pid = fork()) == 0) {
		if (banlist_check(SA("198.51.100.50"), NULL) != 1)
			_exit(1);
		/* The child writes, the parent reads after. */
		if (banlist_add(SA("198.51.100.51"), now + 60) != 0)
			_exit(2);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(banlist_check(SA("198.51.100.51"), NULL), 1);
}

/*
 * A reader in another process never misses an entry that stays banned
 * while the writer adds and removes others around it.
 */
static void
test_concurrent(void **state)
{
	struct sockaddr_storage	s;
	time_t			now = time(NULL);
	unsigned		i, j, k;
	pid_t			pid;
	int			status;

	/* Entries that stay, spread over the table. */
	for (i = 0; i < 256; i++) {
		s = nth(500000 + i);
		assert_int_equal(banlist_add((struct sockaddr *)&s,
		    now + 600), 0);
	}
	if ((pid = fork()) == 0) {
		struct timespec	start, t;

		clock_gettime(CLOCK_MONOTONIC, &start);
		for (k = 0;; k++) {
			for (j = 0; j < 256; j++) {
				s = nth(500000 + j);
				if (banlist_check((struct sockaddr *)&s,
				    NULL) != 1)
					_exit(1);
			}
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - start.tv_sec) * 1000 +
			    (t.tv_nsec - start.tv_nsec) / 1000000 >= 700)
				break;
		}
		_exit(0);
	}
	assert_true(pid > 0);
	for (k = 0; waitpid(pid, &status, WNOHANG) == 0; k++) {
		for (i = 0; i < 512; i++) {
			s = nth(600000 + (k % 7) * 1000 + i);
			(void)banlist_add((struct sockaddr *)&s, now + 60);
		}
		for (i = 0; i < 512; i++) {
			s = nth(600000 + (k % 7) * 1000 + i);
			banlist_remove((struct sockaddr *)&s);
		}
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_add_check_remove, setup),
		cmocka_unit_test_setup(test_expire, setup),
		cmocka_unit_test_setup(test_v4mapped, setup),
		cmocka_unit_test_setup(test_prefix64, setup),
		cmocka_unit_test_setup(test_key, setup),
		cmocka_unit_test_setup(test_full, setup),
		cmocka_unit_test_setup(test_shared, setup),
		cmocka_unit_test_setup(test_concurrent, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
