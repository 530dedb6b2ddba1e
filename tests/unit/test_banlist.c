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
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

#define TABLE	4096	/* the size before ban-table-size: 4096 */
#define P6	64	/* ban-ipv6-prefix's default */

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

/* The key of an address from text, IPv6 by its /64. */
static const struct banlist_key *
K(const char *ip)
{
	static struct banlist_key	ring[4];
	static unsigned			n;

	n = (n + 1) % 4;
	assert_int_equal(banlist_key(SA(ip), P6, &ring[n]), 0);
	return &ring[n];
}

/* Ban, expecting no eviction. */
static int
add(const struct banlist_key *k, time_t until)
{
	struct banlist_key	ev;
	time_t			evu;

	return banlist_add(k, until, &ev, &evu);
}

static int
setup(void **state)
{
	return banlist_init(TABLE);
}

static void
test_add_check_remove(void **state)
{
	time_t	now = time(NULL), until = 0;

	assert_int_equal(banlist_check(SA("192.0.2.1"), NULL), 0);
	assert_int_equal(add(K("192.0.2.1"), now + 100), 0);
	assert_int_equal(banlist_check(SA("192.0.2.1"), &until), 1);
	assert_int_equal(until, now + 100);
	assert_int_equal(banlist_check(SA("192.0.2.2"), NULL), 0);
	/* Again: the end moves. */
	assert_int_equal(add(K("192.0.2.1"), now + 200), 0);
	assert_int_equal(banlist_check(SA("192.0.2.1"), &until), 1);
	assert_int_equal(until, now + 200);
	banlist_remove(K("192.0.2.1"));
	assert_int_equal(banlist_check(SA("192.0.2.1"), NULL), 0);
	banlist_remove(K("192.0.2.1"));	/* absent: harmless */
}

static int	nexpired;
static char	expired[8][64];

static void
expire_cb(const struct banlist_key *k)
{
	char	buf[64];

	banlist_key_fmt(k, buf, sizeof(buf));
	if (nexpired < 8)
		snprintf(expired[nexpired], sizeof(expired[0]), "%s", buf);
	nexpired++;
}

static void
test_expire(void **state)
{
	time_t	now = time(NULL);

	nexpired = 0;
	assert_int_equal(add(K("198.51.100.1"), now - 1), 0);
	assert_int_equal(add(K("2001:db8:5:6::99"), now), 0);
	assert_int_equal(add(K("198.51.100.2"), now + 3600), 0);
	/* An ended ban is not a ban, even before it is expired. */
	assert_int_equal(banlist_check(SA("198.51.100.1"), NULL), 0);
	assert_int_equal(banlist_check(SA("2001:db8:5:6::99"), NULL), 0);
	assert_int_equal(banlist_check(SA("198.51.100.2"), NULL), 1);
	banlist_expire(expire_cb);
	assert_int_equal(nexpired, 2);
	assert_true((strcmp(expired[0], "198.51.100.1") == 0 &&
	    strcmp(expired[1], "2001:db8:5:6::/64") == 0) ||
	    (strcmp(expired[1], "198.51.100.1") == 0 &&
	    strcmp(expired[0], "2001:db8:5:6::/64") == 0));
	banlist_expire(expire_cb);
	assert_int_equal(nexpired, 2);
	assert_int_equal(banlist_check(SA("198.51.100.2"), NULL), 1);
	banlist_expire(NULL);
}

static void
test_v4mapped(void **state)
{
	time_t	now = time(NULL);

	assert_int_equal(add(K("203.0.113.9"), now + 60), 0);
	assert_int_equal(banlist_check(SA("::ffff:203.0.113.9"), NULL), 1);
	assert_int_equal(banlist_check(SA("::ffff:203.0.113.10"), NULL), 0);
	assert_int_equal(add(K("::ffff:203.0.113.77"), now + 60), 0);
	assert_int_equal(banlist_check(SA("203.0.113.77"), NULL), 1);
	/* Not the same as an IPv6 /64 that happens to be all zero. */
	assert_int_equal(banlist_check(SA("::1"), NULL), 0);
	assert_int_equal(banlist_check(SA("::"), NULL), 0);
	banlist_remove(K("::ffff:203.0.113.9"));
	assert_int_equal(banlist_check(SA("203.0.113.9"), NULL), 0);
}

static void
test_prefix64(void **state)
{
	struct banlist_key	k;
	time_t			now = time(NULL);
	uint8_t			want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2 };

	assert_int_equal(banlist_key(SA("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
	    P6, &k), 0);
	assert_memory_equal(k.addr, want, 16);
	assert_int_equal(k.plen, 64);
	assert_int_equal(add(K("2001:db8:1:2::1"), now + 60), 0);
	assert_int_equal(banlist_check(SA("2001:db8:1:2::1"), NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:1:2:ffff:ffff:ffff:ffff"),
	    NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:1:3::1"), NULL), 0);
	assert_int_equal(banlist_check(SA("2001:db8:1::1"), NULL), 0);
	banlist_remove(K("2001:db8:1:2:dead::beef"));
	assert_int_equal(banlist_check(SA("2001:db8:1:2::1"), NULL), 0);
}

/*
 * ban-ipv6-prefix: any length from /32 to /128.  A reader finds a ban
 * under every length in use (a reload may have changed it meanwhile).
 */
static void
test_prefix_configurable(void **state)
{
	struct banlist_key	k;
	time_t			now = time(NULL);
	char			buf[64];

	assert_int_equal(banlist_key(SA("2001:db8:1:2::1"), 48, &k), 0);
	assert_string_equal(banlist_key_fmt(&k, buf, sizeof(buf)),
	    "2001:db8:1::/48");
	assert_int_equal(add(&k, now + 60), 0);
	assert_int_equal(banlist_check(SA("2001:db8:1:ffff::7"), NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:2::1"), NULL), 0);

	/* Not on a byte boundary: /33 keeps one bit of the third group. */
	assert_int_equal(banlist_key(SA("2001:db8:ffff::1"), 33, &k), 0);
	assert_string_equal(banlist_key_fmt(&k, buf, sizeof(buf)),
	    "2001:db8:8000::/33");
	assert_int_equal(add(&k, now + 60), 0);
	assert_int_equal(banlist_check(SA("2001:db8:8123::1"), NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:7fff::1"), NULL), 0);

	/* /128: one address; a /64 ban next to it is found too. */
	assert_int_equal(banlist_key(SA("2001:db8:9::1"), 128, &k), 0);
	assert_int_equal(add(&k, now + 60), 0);
	assert_int_equal(add(K("2001:db8:a::1"), now + 60), 0);
	assert_int_equal(banlist_check(SA("2001:db8:9::1"), NULL), 1);
	assert_int_equal(banlist_check(SA("2001:db8:9::2"), NULL), 0);
	assert_int_equal(banlist_check(SA("2001:db8:a::2"), NULL), 1);

	/* Out of range for IPv6; IPv4 has no prefix to choose. */
	assert_int_equal(banlist_key(SA("2001:db8::1"), 31, &k), -1);
	assert_int_equal(banlist_key(SA("2001:db8::1"), 129, &k), -1);
	assert_int_equal(banlist_key(SA("192.0.2.1"), 0, &k), 0);
	assert_string_equal(banlist_key_fmt(&k, buf, sizeof(buf)),
	    "192.0.2.1");
}

static void
test_key(void **state)
{
	struct sockaddr_storage	ss;
	struct banlist_key	k;
	uint8_t			v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff, 192, 0, 2, 1 };

	assert_int_equal(banlist_key(SA("192.0.2.1"), P6, &k), 0);
	assert_memory_equal(k.addr, v4, 16);
	assert_int_equal(k.plen, 128);
	assert_int_equal(banlist_key(SA("::ffff:192.0.2.1"), P6, &k), 0);
	assert_memory_equal(k.addr, v4, 16);
	assert_int_equal(k.plen, 128);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(banlist_key((struct sockaddr *)&ss, P6, &k), -1);
	assert_int_equal(banlist_check((struct sockaddr *)&ss, NULL), 0);
	assert_int_equal(banlist_key(NULL, P6, &k), -1);
	k.plen = 0;
	assert_int_equal(add(&k, 1), -1);
}

/* The n-th of many distinct /64s, and another host in it. */
static const struct banlist_key *
nth6(unsigned i, unsigned host)
{
	char	ip[64];

	snprintf(ip, sizeof(ip), "2001:db8:%x:%x::%x", (i >> 16) & 0xffff,
	    i & 0xffff, host);
	return K(ip);
}

static const struct sockaddr *
nth6_sa(unsigned i, unsigned host)
{
	char	ip[64];

	snprintf(ip, sizeof(ip), "2001:db8:%x:%x::%x", (i >> 16) & 0xffff,
	    i & 0xffff, host);
	return SA(ip);
}

/* Two hosts of one /64 are one entry: the second evicts nothing. */
static void
test_same_prefix_one_entry(void **state)
{
	struct banlist_key	ev;
	time_t			now = time(NULL), until, evu;
	char			buf[64];

	assert_int_equal(banlist_init(1), 0);
	assert_int_equal(banlist_add(nth6(1, 1), now + 60, &ev, &evu), 0);
	assert_int_equal(banlist_add(nth6(1, 0xbeef), now + 90, &ev, &evu),
	    0);
	assert_int_equal(banlist_check(nth6_sa(1, 1), &until), 1);
	assert_int_equal(until, now + 90);
	/* Another /64 does not fit next to it: the old one goes. */
	assert_int_equal(banlist_add(nth6(2, 1), now + 60, &ev, &evu), 1);
	assert_string_equal(banlist_key_fmt(&ev, buf, sizeof(buf)),
	    "2001:db8:0:1::/64");
	assert_int_equal(evu, now + 90);
	assert_int_equal(banlist_check(nth6_sa(2, 7), NULL), 1);
	assert_int_equal(banlist_check(nth6_sa(1, 1), NULL), 0);
	assert_int_equal(banlist_init(0), -1);
	assert_int_equal(banlist_init(BANLIST_SIZE_MAX + 1), -1);
}

/*
 * More distinct /64s than the table holds: every ban is made, the ones
 * that end soonest make room, and every recent one holds.
 */
static void
test_full_evicts_soonest(void **state)
{
	struct banlist_key	ev, want;
	time_t			now = time(NULL), evu;
	unsigned		i;

	for (i = 0; i < TABLE + 100; i++) {
		assert_int_equal(banlist_add(nth6(i, 1), now + 1000 + i, &ev,
		    &evu), i < TABLE ? 0 : 1);
		if (i >= TABLE) {
			want = *nth6(i - TABLE, 0);
			assert_memory_equal(&ev, &want, sizeof(ev));
			assert_int_equal(evu, now + 1000 + (i - TABLE));
		}
	}
	for (i = 0; i < TABLE + 100; i++)
		assert_int_equal(banlist_check(nth6_sa(i, 0x77), NULL),
		    i >= 100);
}

/* An ended ban makes room before any that still holds. */
static void
test_full_evicts_expired_first(void **state)
{
	struct banlist_key	ev, want;
	time_t			now = time(NULL), evu;
	unsigned		i;

	assert_int_equal(banlist_init(8), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(banlist_add(nth6(i, 1), i == 5 ? now - 10 :
		    now + 100 + i, &ev, &evu), 0);
	assert_int_equal(banlist_add(nth6(100, 1), now + 50, &ev, &evu), 1);
	want = *nth6(5, 0);
	assert_memory_equal(&ev, &want, sizeof(ev));
	for (i = 0; i < 8; i++)
		assert_int_equal(banlist_check(nth6_sa(i, 1), NULL), i != 5);
	/* Then the one ending soonest, although newer than the others. */
	assert_int_equal(banlist_add(nth6(101, 1), now + 500, &ev, &evu), 1);
	want = *nth6(100, 0);
	assert_memory_equal(&ev, &want, sizeof(ev));
	assert_int_equal(banlist_check(nth6_sa(101, 1), NULL), 1);
}

/*
 * Bans that end in the same second (a burst of guessers): the oldest makes
 * room, so the newest bans all hold.
 */
static void
test_full_ties_evict_oldest(void **state)
{
	struct banlist_key	ev, want;
	time_t			now = time(NULL), evu;
	unsigned		i;

	assert_int_equal(banlist_init(4), 0);
	for (i = 0; i < 12; i++) {
		assert_int_equal(banlist_add(nth6(i, 1), now + 600, &ev, &evu),
		    i < 4 ? 0 : 1);
		if (i >= 4) {
			want = *nth6(i - 4, 0);
			assert_memory_equal(&ev, &want, sizeof(ev));
		}
	}
	for (i = 0; i < 12; i++)
		assert_int_equal(banlist_check(nth6_sa(i, 1), NULL), i >= 8);
}

static const struct banlist_key *
nth(unsigned i)
{
	char	ip[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 0xff,
	    (i >> 8) & 0xff, i & 0xff);
	return K(ip);
}

static const struct sockaddr *
nth_sa(unsigned i)
{
	char	ip[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 0xff,
	    (i >> 8) & 0xff, i & 0xff);
	return SA(ip);
}

/* Removals leave tombstones; whatever lies behind them is still found. */
static void
test_tombstones(void **state)
{
	time_t		now = time(NULL);
	unsigned	i;

	for (i = 0; i < TABLE; i++)
		assert_int_equal(add(nth(i), now + 60), 0);
	/* Remove every other one; the rest are all still found. */
	for (i = 0; i < TABLE; i += 2)
		banlist_remove(nth(i));
	for (i = 0; i < TABLE; i++)
		assert_int_equal(banlist_check(nth_sa(i), NULL), i % 2 == 1);
	/* Churn through tombstones many times over. */
	for (i = 0; i < 8 * TABLE; i++) {
		assert_int_equal(add(nth(100000 + i), now + 60), 0);
		banlist_remove(nth(100000 + i));
	}
	for (i = 1; i < TABLE; i += 2)
		assert_int_equal(banlist_check(nth_sa(i), NULL), 1);
}

/* Another process sees what this one writes: the mapping is shared. */
static void
test_shared(void **state)
{
	time_t	now = time(NULL);
	pid_t	pid;
	int	status;

	assert_int_equal(add(K("198.51.100.50"), now + 60), 0);
	if ((pid = fork()) == 0) {
		if (banlist_check(SA("198.51.100.50"), NULL) != 1)
			_exit(1);
		/* The child writes (as the auth process), the parent reads. */
		if (add(K("198.51.100.51"), now + 60) != 0)
			_exit(2);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(banlist_check(SA("198.51.100.51"), NULL), 1);
}

/* The ban table's mapping in /proc/self/maps: its bounds and mode. */
static int
find_mapping(void **start, size_t *len, char perms[5])
{
	FILE		*f;
	char		 line[512];
	unsigned long	 a, b;
	int		 n = 0;

	assert_non_null(f = fopen("/proc/self/maps", "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "memfd:smtpauthd-bans") == NULL)
			continue;
		assert_int_equal(sscanf(line, "%lx-%lx %4s", &a, &b, perms),
		    3);
		*start = (void *)a;
		*len = b - a;
		n++;
	}
	fclose(f);
	return n;
}

/* Does any descriptor of this process lead to the ban table? */
static int
holds_table_fd(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300], target[300];
	ssize_t		 n;
	int		 found = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		if (strstr(target, "smtpauthd-bans") != NULL)
			found = 1;
	}
	closedir(d);
	return found;
}

/*
 * What a worker holds after banlist_readonly(): one read-only shared
 * view, no descriptor, and no way to write, even with a descriptor got
 * again through /proc (as root can).  Each step exits with its own
 * status so that a failure says which.
 */
static int
readonly_child(time_t now)
{
	struct banlist_key	ev;
	time_t			evu;
	void			*start, *p;
	size_t			 len;
	char			 perms[5], path[128];
	pid_t			 pid;
	int			 fd, status;

	banlist_readonly();
	if (find_mapping(&start, &len, perms) != 1)
		return 10;
	if (strcmp(perms, "r--s") != 0)
		return 11;
	if (holds_table_fd())
		return 12;
	/* It still reads, and sees the bans made after it was cut off. */
	if (banlist_check(SA("198.51.100.60"), NULL) != 1)
		return 13;
	if (banlist_add(K("198.51.100.61"), now + 60, &ev, &evu) != -1 ||
	    errno != EPERM)
		return 14;
	if (mprotect(start, len, PROT_READ | PROT_WRITE) != -1 ||
	    errno != EACCES)
		return 15;
	/* A store through the view is a fault, not a ban. */
	if ((pid = fork()) == 0) {
		struct rlimit	none = { 0, 0 };

		/* Die of the fault, quietly: not cmocka's handler. */
		setrlimit(RLIMIT_CORE, &none);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		*(volatile uint32_t *)((char *)start + 64) = 0xffffffff;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
	    (WTERMSIG(status) != SIGSEGV && WTERMSIG(status) != SIGBUS))
		return 16;
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
	    (unsigned long)start, (unsigned long)start + len);
	if ((fd = open(path, O_RDWR)) != -1) {
		/* Root can open the memory object again: the seal holds. */
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED || errno != EPERM)
			return 17;
		if (write(fd, "x", 1) != -1 || errno != EPERM)
			return 18;
		if (ftruncate(fd, 0) != -1)
			return 19;
		close(fd);
	}
	return 0;
}

static void
test_readonly_in_workers(void **state)
{
	time_t	now = time(NULL);
	void	*start;
	size_t	 len;
	char	 perms[5];
	pid_t	 pid;
	int	 status;

	/* The parent (and the auth process) hold a writable view. */
	assert_int_equal(find_mapping(&start, &len, perms), 2);
	assert_false(holds_table_fd());
	assert_int_equal(add(K("198.51.100.60"), now + 60), 0);
	if ((pid = fork()) == 0)
		_exit(readonly_child(now));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Nothing the child tried reached the table. */
	assert_int_equal(banlist_check(SA("198.51.100.61"), NULL), 0);
	assert_int_equal(banlist_check(SA("198.51.100.60"), NULL), 1);
}

/*
 * A reader in another process never misses an entry that stays banned
 * while the writer adds and removes others around it.
 */
static void
test_concurrent(void **state)
{
	time_t			now = time(NULL);
	unsigned		i, j, k;
	pid_t			pid;
	int			status;

	/* Entries that stay, spread over the table. */
	for (i = 0; i < 256; i++)
		assert_int_equal(add(nth(500000 + i), now + 600), 0);
	if ((pid = fork()) == 0) {
		struct timespec	start, t;

		banlist_readonly();
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (k = 0;; k++) {
			for (j = 0; j < 256; j++)
				if (banlist_check(nth_sa(500000 + j),
				    NULL) != 1)
					_exit(1);
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - start.tv_sec) * 1000 +
			    (t.tv_nsec - start.tv_nsec) / 1000000 >= 700)
				break;
		}
		_exit(0);
	}
	assert_true(pid > 0);
	for (k = 0; waitpid(pid, &status, WNOHANG) == 0; k++) {
		for (i = 0; i < 512; i++)
			(void)add(nth(600000 + (k % 7) * 1000 + i), now + 60);
		for (i = 0; i < 512; i++)
			banlist_remove(nth(600000 + (k % 7) * 1000 + i));
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Text and back, as the state file and the guard store carry keys. */
static void
test_key_parse(void **state)
{
	static const char	*good[] = { "192.0.2.1", "2001:db8:1:2::/64",
				    "2001:db8::1/128", "2001:db8::/32" };
	static const char	*bad[] = { "", "192.0.2", "192.0.2.1/32",
				    "2001:db8::/31", "2001:db8::/129",
				    "2001:db8::/", "2001:db8::/6x", "x/64",
				    "2001:db8::", "192.0.2.1 " };
	struct banlist_key	 k, k2;
	char			 buf[64];
	size_t			 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(banlist_key_parse(good[i], &k), 0);
		assert_string_equal(banlist_key_fmt(&k, buf, sizeof(buf)),
		    good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (banlist_key_parse(bad[i], &k) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* Bits past the prefix are cleared: the key of any such address. */
	assert_int_equal(banlist_key_parse("2001:db8:1:2:3::/64", &k), 0);
	assert_memory_equal(&k, K("2001:db8:1:2::77"), sizeof(k));
	assert_int_equal(banlist_key_parse("192.0.2.9", &k2), 0);
	assert_memory_equal(&k2, K("192.0.2.9"), sizeof(k2));
}

static int	nseen;

static void
foreach_cb(const struct banlist_key *k, time_t until, void *arg)
{
	char	buf[64];

	assert_ptr_equal(arg, &nseen);
	banlist_key_fmt(k, buf, sizeof(buf));
	assert_true(strcmp(buf, "192.0.2.1") == 0 ||
	    strcmp(buf, "2001:db8::/64") == 0);
	assert_true(until > time(NULL));
	nseen++;
}

static void
test_foreach(void **state)
{
	time_t	now = time(NULL);

	assert_int_equal(add(K("192.0.2.1"), now + 100), 0);
	assert_int_equal(add(K("2001:db8::5"), now + 100), 0);
	assert_int_equal(add(K("192.0.2.2"), now - 1), 0);	/* ended */
	add(K("192.0.2.3"), now + 100);
	banlist_remove(K("192.0.2.3"));
	nseen = 0;
	banlist_foreach(foreach_cb, &nseen);
	assert_int_equal(nseen, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_add_check_remove, setup),
		cmocka_unit_test_setup(test_expire, setup),
		cmocka_unit_test_setup(test_v4mapped, setup),
		cmocka_unit_test_setup(test_prefix64, setup),
		cmocka_unit_test_setup(test_prefix_configurable, setup),
		cmocka_unit_test_setup(test_key, setup),
		cmocka_unit_test_setup(test_same_prefix_one_entry, setup),
		cmocka_unit_test_setup(test_full_evicts_soonest, setup),
		cmocka_unit_test_setup(test_full_evicts_expired_first, setup),
		cmocka_unit_test_setup(test_full_ties_evict_oldest, setup),
		cmocka_unit_test_setup(test_tombstones, setup),
		cmocka_unit_test_setup(test_shared, setup),
		cmocka_unit_test_setup(test_readonly_in_workers, setup),
		cmocka_unit_test_setup(test_concurrent, setup),
		cmocka_unit_test_setup(test_key_parse, setup),
		cmocka_unit_test_setup(test_foreach, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
