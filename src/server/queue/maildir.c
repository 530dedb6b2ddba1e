/*
 * Maildir delivery: tmp/UNIQUE, fsync, rename to new/NAME (never over an
 * existing file), fsync new/; or, with spool-sync filesystem, a syncfs
 * before the rename and one after it, each the first of any process that
 * starts after the step (syncfs_wait(): usually a commit's), so that
 * deliveries add no flush of their own while mail comes in.  NAME comes
 * from the message and the recipient, so a delivery repeated after a
 * crash finds its file.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/durable.h"
#include "server/queue/maildir.h"

static int	crlf_to_lf(int, char *, size_t, int *);
static int	open_maildir(const char *, const char *, const char *);
static void	escape_host(const char *, char *, size_t);
static void	unique_name(const char *, char *, size_t);
static void	message_name(const char *, time_t, const char *,
		    const char *, char *, size_t);
static int	sync_new(void *);

static atomic_uint	delivery_count;

/*
 * Write buf with each CRLF as LF, the Maildir convention (the spool keeps
 * the wire form).  A CR at the end of buf is held back in *held_cr until
 * the next byte is known.  Returns 0 or -1.
 */
static int
crlf_to_lf(int fd, char *buf, size_t len, int *held_cr)
{
	size_t	i, o = 0;

	if (*held_cr) {
		*held_cr = 0;
		if (len > 0 && buf[0] != '\n' && write_all(fd, "\r", 1) == -1)
			return -1;
	}
	for (i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len) {
				*held_cr = 1;
				break;
			}
			if (buf[i + 1] == '\n')
				continue;
		}
		buf[o++] = buf[i];
	}
	return write_all(fd, buf, o);
}

/*
 * Open (creating as needed) root/domain/local; returns its fd or -1.  Each
 * directory made is synced with its parent before the delivery goes on
 * (durable_mkdir()): the spool copy is removed only once the whole path
 * to the file is on disk.
 */
static int
open_maildir(const char *root, const char *domain, const char *local)
{
	int	rootfd, dfd, mfd, fd, saved;

	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	dfd = durable_mkdir(rootfd, domain, 0700);
	saved = errno;
	close(rootfd);
	if (dfd == -1) {
		errno = saved;
		return -1;
	}
	mfd = durable_mkdir(dfd, local, 0700);
	saved = errno;
	close(dfd);
	if (mfd == -1) {
		errno = saved;
		return -1;
	}
	/* A complete Maildir has cur/, made last: then nothing is missing. */
	if ((fd = openat(mfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) != -1) {
		close(fd);
		return mfd;
	}
	if ((fd = durable_mkdir(mfd, "tmp", 0700)) == -1 ||
	    close(fd) == -1 || (fd = durable_mkdir(mfd, "new", 0700)) == -1 ||
	    close(fd) == -1 || (fd = durable_mkdir(mfd, "cur", 0700)) == -1 ||
	    close(fd) == -1) {
		saved = errno;
		close(mfd);
		errno = saved;
		return -1;
	}
	return mfd;
}

/*
 * The Maildirs a pool thread delivered into last, open: a delivery into
 * one of them costs one stat of its path (the same directory still
 * there under that name: its device and inode) instead of opening the
 * root, the domain, the Maildir, cur/ and new/.  Per thread, so nothing is
 * shared or locked; MAILDIR_CACHE of them, the least recently used
 * closed.  A Maildir removed or replaced is opened again (and made again,
 * as before).
 */
#define MAILDIR_CACHE	4

struct maildir_open {
	char		 path[PATH_MAX];	/* root/domain/local */
	int		 mfd, newfd;		/* -1: free */
	dev_t		 dev;
	ino_t		 ino;
	unsigned long	 used;
};

static _Thread_local struct maildir_open	mcache[MAILDIR_CACHE] = {
	[0 ... MAILDIR_CACHE - 1] = { .mfd = -1, .newfd = -1 }
};
static _Thread_local unsigned long		mcache_clock;

/* The cached descriptors of path, still that directory; or NULL. */
static struct maildir_open *
cache_find(const char *path)
{
	struct maildir_open	*o;
	struct stat		 st;
	size_t			 i;

	for (i = 0; i < MAILDIR_CACHE; i++) {
		o = &mcache[i];
		if (o->mfd == -1 || strcmp(o->path, path) != 0)
			continue;
		if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode) && st.st_dev == o->dev &&
		    st.st_ino == o->ino) {
			o->used = ++mcache_clock;
			return o;
		}
		/* Gone or replaced: forget it. */
		close(o->mfd);
		close(o->newfd);
		o->mfd = o->newfd = -1;
		return NULL;
	}
	return NULL;
}

/* Keep mfd and newfd for path: 0 (the cache closes them), or -1. */
static int
cache_keep(const char *path, int mfd, int newfd)
{
	struct maildir_open	*o = &mcache[0];
	struct stat		 st;
	size_t			 i;

	if (strlen(path) >= sizeof(o->path) || fstat(mfd, &st) == -1)
		return -1;
	for (i = 1; i < MAILDIR_CACHE && o->mfd != -1; i++)
		if (mcache[i].mfd == -1 || mcache[i].used < o->used)
			o = &mcache[i];
	if (o->mfd != -1) {
		close(o->mfd);
		close(o->newfd);
		o->mfd = o->newfd = -1;
	}
	o->mfd = mfd;
	o->newfd = newfd;
	snprintf(o->path, sizeof(o->path), "%s", path);
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->used = ++mcache_clock;
	return 0;
}

/*
 * The fsync of new/ waits MAILDIR_SYNC_DELAY_US for the deliveries that
 * follow, so one covers them: no client waits for a delivery, and even at
 * one client at a time messages come a millisecond or two apart.
 */
#define MAILDIR_SYNC_DELAY_US	4000
/* A syncfs waits longer for a commit's: commits come as often as the
 * slowest client's messages, and none waits for the delivery. */
#define MAILDIR_SYNCFS_WAIT_US	10000

static int
sync_new(void *newfd)
{
	return fsync_dir_shared(*(int *)newfd, MAILDIR_SYNC_DELAY_US);
}

/* The host part of a name: '/' and ':' escaped (the Maildir spec). */
static void
escape_host(const char *hostname, char *host, size_t len)
{
	size_t		o = 0;
	const char	*h;

	for (h = hostname; *h && o + 5 < len; h++) {
		if (*h == '/') {
			memcpy(host + o, "\\057", 4);
			o += 4;
		} else if (*h == ':') {
			memcpy(host + o, "\\072", 4);
			o += 4;
		} else
			host[o++] = *h;
	}
	host[o] = '\0';
}

/* For tmp/: time.M<usec>P<pid>Q<n>R<random>.host */
static void
unique_name(const char *hostname, char *buf, size_t len)
{
	struct timeval	tv;
	char		host[256];

	escape_host(hostname, host, sizeof(host));
	gettimeofday(&tv, NULL);
	snprintf(buf, len, "%lld.M%ldP%ldQ%uR%08x.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(),
	    atomic_fetch_add(&delivery_count, 1) + 1, arc4random(), host);
}

/*
 * For new/: time.I<id>H<hash>.host, the time the message arrived, its
 * spool id and a hash (64-bit FNV-1a) of the recipient: the same for
 * every attempt, unique for as long as spool ids are.
 */
static void
message_name(const char *id, time_t when, const char *rcpt,
    const char *hostname, char *buf, size_t len)
{
	char		host[256];
	uint64_t	h = 14695981039346656037ULL;
	const char	*p;

	for (p = rcpt; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	escape_host(hostname, host, sizeof(host));
	snprintf(buf, len, "%lld.I%sH%016llx.%s", (long long)when, id,
	    (unsigned long long)h, host);
}

int
maildir_deliver(const char *root, const struct maildir_msg *m, char *path,
    size_t pathlen, int *again)
{
	char		 local[128], domain[256], name[512], tmpname[600];
	char		 newname[600], buf[65536], full[PATH_MAX];
	struct maildir_open *o;
	int		 cached = 0;	/* mfd and newfd are the cache's */
	const char	*at, *rcpt = m->rcpt;
	int		 mfd, fd = -1, newfd = -1, saved, r;
	ssize_t		 n;
	off_t		 off = m->msgoff;
	int		 held_cr = 0;

	*again = 0;
	if ((at = strrchr(rcpt, '@')) == NULL ||
	    (size_t)(at - rcpt) >= sizeof(local) ||
	    strlen(at + 1) >= sizeof(domain) || at == rcpt ||
	    at[1] == '\0' || strchr(rcpt, '/') != NULL || rcpt[0] == '.' ||
	    at[1] == '.')
		return 0;
	memcpy(local, rcpt, (size_t)(at - rcpt));
	local[at - rcpt] = '\0';
	snprintf(domain, sizeof(domain), "%s", at + 1);

	n = snprintf(full, sizeof(full), "%s/%s/%s", root, domain, local);
	if (n < 0 || (size_t)n >= sizeof(full))
		full[0] = '\0';	/* too long: not cached */
	if (full[0] != '\0' && (o = cache_find(full)) != NULL) {
		/* The cache's: not closed here. */
		mfd = o->mfd;
		newfd = o->newfd;
		cached = 1;
	} else {
		if ((mfd = open_maildir(root, domain, local)) == -1)
			return -1;
		if ((newfd = openat(mfd, "new", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1) {
			saved = errno;
			close(mfd);
			errno = saved;
			return -1;
		}
		cached = full[0] != '\0' && cache_keep(full, mfd, newfd) == 0;
	}
	message_name(m->id, m->when, rcpt, m->hostname, name, sizeof(name));
	snprintf(newname, sizeof(newname), "new/%s", name);
	snprintf(path, pathlen, "%s/%s/%s", domain, local, newname);
	unique_name(m->hostname, name, sizeof(name));
	snprintf(tmpname, sizeof(tmpname), "tmp/%s", name);
	/* Delivered before a crash, not yet recorded: done, once synced. */
	if (faccessat(mfd, newname, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		goto found;
	if ((fd = durable_open(mfd, tmpname)) == -1)
		goto fail;
	if (write_all(fd, m->prefix, m->prefixlen) == -1)
		goto fail;
	for (;;) {
		n = pread_upto(m->msgfd, buf, sizeof(buf), off, m->msgend);
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		off += n;
		if (crlf_to_lf(fd, buf, (size_t)n, &held_cr) == -1)
			goto fail;
	}
	if (held_cr && write_all(fd, "\r", 1) == -1)
		goto fail;
	/* Deliveries to this Maildir at the same moment share the fsync
	 * of new/.  With spool-sync filesystem, the syncfs before the
	 * rename makes the data durable and the one after it the name:
	 * each waits MAILDIR_SYNCFS_WAIT_US for another process's (a
	 * commit's, which syncs the same file system when the spool and
	 * the Maildirs share one) before it runs its own.  The data is
	 * not written back first: it goes to the disk with that syncfs,
	 * the deliveries' data together, not a file at a time between
	 * two commits, each of which would then flush it (bench/RESULTS.md,
	 * issue 19). */
	if (m->sync_fs) {
		if (syncfs_shared(fd, MAILDIR_SYNCFS_WAIT_US) == -1)
			goto fail;
		r = close(fd);
		fd = -1;
		if (r == -1)
			goto fail;
		if ((r = durable_rename_new(mfd, tmpname, mfd, newname)) ==
		    -1 && errno == EEXIST) {
			unlinkat(mfd, tmpname, 0);
			errno = EEXIST;
		} else if (r == 0)
			r = syncfs_shared(newfd, MAILDIR_SYNCFS_WAIT_US);
	} else
		r = durable_commit_new(fd, mfd, tmpname, mfd, newname,
		    sync_new, &newfd);
	fd = -1;
	if (r == -1 && errno == EEXIST)
		goto found;
	if (r == -1)
		goto fail;
	if (!cached) {
		close(newfd);
		close(mfd);
	}
	return 1;
found:
	/* Its rename may not have been synced when the crash came. */
	*again = 1;
	r = sync_new(&newfd);
	saved = errno;
	if (!cached) {
		close(newfd);
		close(mfd);
	}
	errno = saved;
	return r == 0 ? 1 : -1;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(mfd, tmpname, 0);
	if (!cached) {
		close(newfd);
		close(mfd);
	}
	errno = saved;
	return -1;
}
