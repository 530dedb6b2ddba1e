/*
 * Unit tests for Maildir delivery (src/server/queue/maildir.c) and
 * durable_mkdir() (src/common/durable.c): every directory a delivery
 * creates is fsynced, and so is its parent, before the delivery returns;
 * a directory already there costs no fsync; a second delivery of the same
 * message to the same recipient finds its file and makes no copy; a
 * Maildir kept open is not delivered into once moved or replaced.
 *
 * The binary is linked with -Wl,--wrap=fsync and --wrap=fdatasync
 * (Makefile): every fsync(2) and fdatasync(2) of the code under test goes
 * through a wrapper, which notes the inode it syncs.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/durable.h"
#include "server/queue/maildir.h"

#define MAX_SYNCS	64

int	__real_fsync(int);
int	__wrap_fsync(int);
int	__real_fdatasync(int);
int	__wrap_fdatasync(int);

static ino_t	synced[MAX_SYNCS];
static size_t	nsynced;

int
__wrap_fsync(int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == 0 && nsynced < MAX_SYNCS)
		synced[nsynced++] = st.st_ino;
	return __real_fsync(fd);
}

/* A file's data (durable_commit()): counted as a sync of it too. */
int
__wrap_fdatasync(int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == 0 && nsynced < MAX_SYNCS)
		synced[nsynced++] = st.st_ino;
	return __real_fdatasync(fd);
}

/* Was path (relative to dirfd) fsynced since the counts were reset? */
static int
was_synced(int dirfd, const char *path)
{
	struct stat	st;
	size_t		i;

	assert_int_equal(fstatat(dirfd, path, &st, 0), 0);
	for (i = 0; i < nsynced; i++)
		if (synced[i] == st.st_ino)
			return 1;
	return 0;
}

static size_t
count_entries(int dirfd, const char *path)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0;
	int		 fd;

	assert_int_not_equal(fd = openat(dirfd, path, O_RDONLY |
	    O_DIRECTORY), -1);
	assert_non_null(d = fdopendir(fd));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
make_root(char *root, size_t len, int *rootfd)
{
	snprintf(root, len, "/tmp/test_maildir.c.%d", (int)getpid());
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_not_equal(*rootfd = open(root, O_RDONLY | O_DIRECTORY), -1);
}

static void
remove_tree(const char *root)
{
	char	cmd[256];

	/* Our own directory under /tmp, made by make_root(). */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void
test_durable_mkdir_syncs_new_and_parent(void **state)
{
	char	root[64];
	int	rootfd, fd;

	make_root(root, sizeof(root), &rootfd);
	nsynced = 0;
	assert_int_not_equal(fd = durable_mkdir(rootfd, "d", 0700), -1);
	close(fd);
	assert_true(was_synced(rootfd, "d"));
	assert_true(was_synced(rootfd, "."));
	assert_int_equal(nsynced, 2);

	/* There already: opened, nothing synced. */
	nsynced = 0;
	assert_int_not_equal(fd = durable_mkdir(rootfd, "d", 0700), -1);
	close(fd);
	assert_int_equal(nsynced, 0);

	/* Never through a symbolic link; a missing parent is an error. */
	assert_int_equal(symlinkat("d", rootfd, "l"), 0);
	assert_int_equal(durable_mkdir(rootfd, "l", 0700), -1);
	assert_int_equal(durable_mkdir(rootfd, "no/such", 0700), -1);
	assert_int_equal(errno, ENOENT);
	close(rootfd);
	remove_tree(root);
}

/* The message, and the octets its file goes on with (msgend is before
 * them: a recycled spool file's old content). */
#define MESSAGE		"Subject: s\r\n\r\nbody\r\n"
#define MESSAGE_END	((off_t)sizeof(MESSAGE) - 1)

static int
message_file(char *path, size_t len)
{
	static const char	msg[] = MESSAGE "an old message's tail\r\n";
	int			fd;

	snprintf(path, len, "/tmp/test_maildir.c.msg.%d", (int)getpid());
	assert_int_not_equal(fd = open(path, O_RDWR | O_CREAT | O_TRUNC,
	    0600), -1);
	assert_int_equal(write_all(fd, msg, sizeof(msg) - 1), 0);
	return fd;
}

static void
test_deliver_syncs_every_created_folder(void **state)
{
	struct maildir_msg	m = { "0123456789ABCDEF", 1700000000,
	    "ann@example.org", "mx.test", -1, 0, MESSAGE_END,
	    "Delivered-To: x\n", 16, 0 };
	char			root[64], msgpath[64], path[1024], buf[128];
	int			rootfd, again, fd;
	ssize_t			n;

	make_root(root, sizeof(root), &rootfd);
	m.msgfd = message_file(msgpath, sizeof(msgpath));
	nsynced = 0;
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(again, 0);
	/* Each folder made, and the parent of each. */
	assert_true(was_synced(rootfd, "."));
	assert_true(was_synced(rootfd, "example.org"));
	assert_true(was_synced(rootfd, "example.org/ann"));
	assert_true(was_synced(rootfd, "example.org/ann/tmp"));
	assert_true(was_synced(rootfd, "example.org/ann/new"));
	assert_true(was_synced(rootfd, "example.org/ann/cur"));
	assert_true(was_synced(rootfd, path));
	assert_string_equal(path, "example.org/ann/new/1700000000."
	    "I0123456789ABCDEFHf027bb0955c51646.mx.test");
	assert_int_not_equal(fd = openat(rootfd, path, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "Delivered-To: x\nSubject: s\n\nbody\n");

	/* The same message again, as after a crash: no second copy. */
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(again, 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann/new"), 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann/tmp"), 0);

	/* Another message, or another recipient: a file of its own. */
	m.id = "0123456789ABCDEE";
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(again, 0);
	assert_int_equal(count_entries(rootfd, "example.org/ann/new"), 2);
	m.rcpt = "bob@example.org";
	nsynced = 0;
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(count_entries(rootfd, "example.org/bob/new"), 1);
	/* The domain was there: only the new mailbox's path is synced. */
	assert_false(was_synced(rootfd, "."));
	assert_true(was_synced(rootfd, "example.org"));
	assert_true(was_synced(rootfd, "example.org/bob"));

	close(m.msgfd);
	unlink(msgpath);
	close(rootfd);
	remove_tree(root);
}

/*
 * The Maildirs kept open between deliveries: a Maildir moved away, or
 * replaced, or replaced by a symbolic link, is not delivered into by its
 * old descriptor: the next delivery goes to the path, as an uncached one.
 */
static void
test_deliver_cached_maildir_moved_or_replaced(void **state)
{
	struct maildir_msg	m = { "0123456789ABCDE0", 1700000000,
	    "ann@example.org", "mx.test", -1, 0, MESSAGE_END,
	    "Delivered-To: x\n", 16, 0 };
	char			root[64], msgpath[64], path[1024], p1[512];
	char			p2[512];
	int			rootfd, again;

	make_root(root, sizeof(root), &rootfd);
	m.msgfd = message_file(msgpath, sizeof(msgpath));
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	m.id = "0123456789ABCDE1";
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann/new"), 2);

	/* Moved away: a new Maildir at the path gets the next message. */
	snprintf(p1, sizeof(p1), "%s/example.org/ann", root);
	snprintf(p2, sizeof(p2), "%s/example.org/ann.old", root);
	assert_int_equal(rename(p1, p2), 0);
	m.id = "0123456789ABCDE2";
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann/new"), 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann.old/new"), 2);

	/* Replaced by another (made by hand): that one gets it. */
	snprintf(path, sizeof(path), "rm -rf '%s'", p1);
	assert_int_equal(system(path), 0);
	assert_int_equal(mkdir(p1, 0700), 0);
	assert_int_equal(mkdirat(rootfd, "example.org/ann/tmp", 0700), 0);
	assert_int_equal(mkdirat(rootfd, "example.org/ann/new", 0700), 0);
	assert_int_equal(mkdirat(rootfd, "example.org/ann/cur", 0700), 0);
	m.id = "0123456789ABCDE3";
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), 1);
	assert_int_equal(count_entries(rootfd, "example.org/ann/new"), 1);

	/* Replaced by a symbolic link: refused, as it always was (no
	 * delivery through a link), and nothing lands behind it. */
	snprintf(path, sizeof(path), "rm -rf '%s'", p1);
	assert_int_equal(system(path), 0);
	assert_int_equal(symlink("ann.old", p1), 0);
	m.id = "0123456789ABCDE4";
	assert_int_equal(maildir_deliver(root, &m, path, sizeof(path),
	    &again), -1);
	assert_int_equal(count_entries(rootfd, "example.org/ann.old/new"), 2);

	close(m.msgfd);
	unlink(msgpath);
	close(rootfd);
	remove_tree(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durable_mkdir_syncs_new_and_parent),
		cmocka_unit_test(test_deliver_syncs_every_created_folder),
		cmocka_unit_test(test_deliver_cached_maildir_moved_or_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
