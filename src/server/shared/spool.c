/*
 * Writing messages into the spool.  The order of the steps is the one
 * INTERNALS.md documents; keep them in step.
 */
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/clock.h"
#include "common/durable.h"
#include "server/shared/spool.h"

static int	make_dir(const char *, long, long, char *, size_t);
static int	sync_queue(void *);
static int	sync_fs(void *);
static int	digest_range(int, off_t, uint64_t, unsigned char *);
static void	seal_format(char *, uint64_t, const unsigned char *);
static int	seal_parse(const char *, size_t, uint64_t *,
		    unsigned char *);
static int	seal(struct spool_msg *, const char *);
static int	seal_check(int, const struct stat *, const char *, size_t,
		    char *, size_t);
static void	to_free(struct spool *, const char *);
static int	take_free(struct spool *, const char *);
static void	stock_fill(struct spool *);
static int	stock_take(struct spool *, struct spool_msg *);
static int	commit_rename(struct spool *, const char *, const char *,
		    ino_t);
static int	commit_in_place(struct spool_msg *, const char *,
		    const char *, ino_t);
static int	close_rename(struct spool_msg *, int, int, const char *,
		    const char *, ino_t);
static int	commit_shared(struct spool_msg *, const char *,
		    const char *, ino_t);
static int	open_spooled(int, const char *, const char *,
		    struct envelope *, off_t *, uint64_t *, int *, char *,
		    size_t);

/*
 * Group commit of the spool (durable.h): the commits of one moment share
 * one fsync of queue/.
 */
static struct group_sync	commit_sync = GROUP_SYNC_INITIALIZER;
/* Picks the next free.K name (any thread). */
static atomic_uint		free_next;
/* Commits under way in this process: one alone commits in place. */
static atomic_uint		committing;

static int
sync_queue(void *arg)
{
	const struct spool	*sp = arg;

	/*
	 * Every entry a commit changes is in queue/ (ID.part gone, ID.msg
	 * made, free.K taken before): one fsync makes them all durable.
	 */
	return fsync_dirfd(sp->queue_fd);
}

static int
sync_fs(void *arg)
{
	const struct spool	*sp = arg;

	/*
	 * Every file and folder of the spool's file system: the data of the
	 * sealed files and their renames, of every commit that asked before
	 * this run started.  Linux reports a write-back error that happened
	 * since queue_fd was opened (5.8 and later).  Run at once (a
	 * client waits), and in the ledger, so that the deliveries waiting
	 * for a syncfs of this file system take this one (durable.h).
	 */
	return syncfs_wait(sp->queue_fd, 0);
}


/* SHA-256 of fd's octets [from, from + len).  0; -1 with errno (ENODATA:
 * the file is shorter). */
static int
digest_range(int fd, off_t from, uint64_t len, unsigned char *md)
{
	EVP_MD_CTX	*ctx;
	char		 buf[16384];
	ssize_t		 n;
	int		 r = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		errno = EIO;
		goto out;
	}
	while (len > 0) {
		n = pread(fd, buf, len < sizeof(buf) ? (size_t)len :
		    sizeof(buf), from);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto out;
		if (n == 0) {
			errno = ENODATA;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			errno = EIO;
			goto out;
		}
		from += n;
		len -= (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
		errno = EIO;
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* The seal line (SPOOL_SEAL_LEN octets and a NUL) for len octets, md. */
static void
seal_format(char *line, uint64_t len, const unsigned char *md)
{
	static const char	hex[] = "0123456789abcdef";
	char			*p;
	size_t			 i;

	(void)snprintf(line, SPOOL_SEAL_LEN + 1, SPOOL_SEAL_KEY "%016llx ",
	    (unsigned long long)len);
	p = line + sizeof(SPOOL_SEAL_KEY) - 1 + 17;
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p++ = '\n';
	*p = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A seal line at the head of buf: 1 with *len and md; 0 none; -1 bad. */
static int
seal_parse(const char *buf, size_t buflen, uint64_t *len, unsigned char *md)
{
	const char	*p = buf + sizeof(SPOOL_SEAL_KEY) - 1;
	size_t		 i;
	int		 hi, lo;

	if (buflen < sizeof(SPOOL_SEAL_KEY) - 1 || memcmp(buf,
	    SPOOL_SEAL_KEY, sizeof(SPOOL_SEAL_KEY) - 1) != 0)
		return 0;
	if (buflen < SPOOL_SEAL_LEN || buf[SPOOL_SEAL_LEN - 1] != '\n' ||
	    p[16] != ' ')
		return -1;
	for (*len = 0, i = 0; i < 16; i++) {
		if ((hi = hexval(p[i])) == -1)
			return -1;
		*len = *len << 4 | (uint64_t)hi;
	}
	for (p += 17, i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		if ((hi = hexval(p[2 * i])) == -1 ||
		    (lo = hexval(p[2 * i + 1])) == -1)
			return -1;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

/*
 * Seal queue/part (open as m->fd): the digest of everything after the
 * seal, read back (a milter may have rewritten it in place), written
 * over the placeholder.  0 or -1 (errno).
 */
static int
seal(struct spool_msg *m, const char *part)
{
	unsigned char	md[SHA256_DIGEST_LENGTH];
	char		line[SPOOL_SEAL_LEN + 1];
	int		rfd, r, saved;

	if (m->written < SPOOL_SEAL_LEN) {
		errno = EINVAL;
		return -1;
	}
	if ((rfd = openat(m->spool->queue_fd, part, O_RDONLY | O_CLOEXEC)) ==
	    -1)
		return -1;
	r = digest_range(rfd, SPOOL_SEAL_LEN, m->written - SPOOL_SEAL_LEN, md);
	saved = errno;
	close(rfd);
	if (r == -1) {
		errno = saved == ENODATA ? EIO : saved;
		return -1;
	}
	seal_format(line, m->written - SPOOL_SEAL_LEN, md);
	if (pwrite(m->fd, line, SPOOL_SEAL_LEN, 0) != SPOOL_SEAL_LEN) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * The file's seal (its first SPOOL_SEAL_LEN octets in hdr) against the
 * octets after it, as many as it says (the file may go on: what follows
 * is no one's, and every reader stops at the seal's length): 0 it
 * matches, or the file has none (written before seals); -1 with errno
 * EBADMSG and err set when it does not match, another errno when it could
 * not be read.
 */
static int
seal_check(int fd, const struct stat *st, const char *hdr, size_t hdrlen,
    char *err, size_t errlen)
{
	unsigned char	want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	uint64_t	len;
	int		r;

	if ((r = seal_parse(hdr, hdrlen, &len, want)) == 0)
		return 0;
	if (r == -1) {
		snprintf(err, errlen, "torn: a seal that is not one");
		errno = EBADMSG;
		return -1;
	}
	if (st->st_size < SPOOL_SEAL_LEN || (uint64_t)(st->st_size -
	    SPOOL_SEAL_LEN) < len) {
		snprintf(err, errlen, "torn: %lld octets, the seal says %llu",
		    (long long)st->st_size - SPOOL_SEAL_LEN,
		    (unsigned long long)len);
		errno = EBADMSG;
		return -1;
	}
	if (digest_range(fd, SPOOL_SEAL_LEN, len, got) == -1) {
		if (errno == ENODATA) {
			snprintf(err, errlen, "torn: shorter than its seal");
			errno = EBADMSG;
		}
		return -1;
	}
	if (memcmp(want, got, sizeof(got)) != 0) {
		snprintf(err, errlen, "torn: its digest does not match the "
		    "seal");
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

static int
make_dir(const char *path, long uid, long gid, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (uid != -1 && (st.st_uid != (uid_t)uid || st.st_gid != (gid_t)gid) &&
	    chown(path, (uid_t)uid, (gid_t)gid) == -1) {
		snprintf(err, errlen, "%s: chown: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_setup(const char *path, long uid, long gid, char *err, size_t errlen)
{
	char	sub[4096];

	if (make_dir(path, uid, gid, err, errlen) == -1)
		return -1;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/queue", path) >=
	    sizeof(sub) || make_dir(sub, uid, gid, err, errlen) == -1)
		return -1;
	/* The auth process's socket: only the server's user gets in. */
	if ((size_t)snprintf(sub, sizeof(sub), "%s/run", path) >=
	    sizeof(sub) || make_dir(sub, uid, gid, err, errlen) == -1)
		return -1;
	return 0;
}

int
spool_open(struct spool *sp, const char *path)
{
	memset(sp, 0, sizeof(*sp));
	pthread_mutex_init(&sp->dead_lock, NULL);
	sp->incoming_fd = sp->queue_fd = -1;
	sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd == -1)
		return -1;
	/* Only an older version's spool has it (spool.h). */
	sp->incoming_fd = openat(sp->dirfd, "incoming",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sp->incoming_fd == -1 && errno != ENOENT) {
		spool_close(sp);
		return -1;
	}
	sp->queue_fd = openat(sp->dirfd, "queue",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->queue_fd == -1) {
		spool_close(sp);
		return -1;
	}
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp->dirfd != -1)
		close(sp->dirfd);
	if (sp->incoming_fd != -1)
		close(sp->incoming_fd);
	if (sp->queue_fd != -1)
		close(sp->queue_fd);
	sp->dirfd = sp->incoming_fd = sp->queue_fd = -1;
}

int
spool_valid_id(const char *s, size_t len)
{
	size_t	i;

	if (len != SPOOL_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

void
spool_new_id(char id[SPOOL_ID_LEN + 1])
{
	static const char	hex[] = "0123456789ABCDEF";
	unsigned char		rnd[SPOOL_ID_LEN / 2];
	size_t			i;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	id[SPOOL_ID_LEN] = '\0';
}

void
spool_set_share(struct spool *sp, unsigned share, unsigned nshares)
{
	sp->share = share;
	sp->nshares = nshares;
	sp->ncache = 0;
	sp->skip = 0;
}

/*
 * Refill the cache: the names free.K of this worker's share that exist,
 * looked up one by one (SPOOL_FREE_MAX / nshares lookups, answered by the
 * dentry cache: the names are used over and over), not by reading
 * queue/, which under load holds every message waiting for its delivery
 * (thousands when the deliveries lag behind, all read for a few free
 * files: bench/RESULTS.md, issue 19).  After a scan that found nothing
 * the next SPOOL_FREE_SKIP messages get new files without one.
 */
static void
scan_free(struct spool *sp)
{
	struct stat	st;
	char		name[32];
	unsigned	k;

	if (sp->skip > 0) {
		sp->skip--;
		return;
	}
	for (k = sp->share; k < SPOOL_FREE_MAX &&
	    sp->ncache < SPOOL_FREE_CACHE; k += sp->nshares) {
		snprintf(name, sizeof(name), SPOOL_FREE_PREFIX "%u", k);
		if (fstatat(sp->queue_fd, name, &st, AT_SYMLINK_NOFOLLOW) ==
		    0 && S_ISREG(st.st_mode))
			sp->cache[sp->ncache++] = k;
	}
	if (sp->ncache == 0)
		sp->skip = SPOOL_FREE_SKIP;
}

/* Take a recycled file as queue/name.  Returns 0 or -1. */
static int
take_free(struct spool *sp, const char *name)
{
	char	from[32];

	if (sp->nshares == 0)
		return -1;
	for (;;) {
		if (sp->ncache == 0)
			scan_free(sp);
		if (sp->ncache == 0)
			return -1;
		snprintf(from, sizeof(from), SPOOL_FREE_PREFIX "%u",
		    sp->cache[--sp->ncache]);
		if (renameat2(sp->queue_fd, from, sp->queue_fd, name,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != ENOENT)	/* EEXIST: the id is taken */
			return -1;
		/* ENOENT: another process took it first. */
	}
}

/*
 * Make queue/name free.K, for some K not in use; unlink it if every one
 * tried is.
 */
static void
to_free(struct spool *sp, const char *name)
{
	char		to[32];
	unsigned	k;
	int		tries;

	for (tries = 0; tries < 4; tries++) {
		k = atomic_fetch_add(&free_next, 1) % SPOOL_FREE_MAX;
		snprintf(to, sizeof(to), SPOOL_FREE_PREFIX "%u", k);
		if (renameat2(sp->queue_fd, name, sp->queue_fd, to,
		    RENAME_NOREPLACE) == 0)
			return;
		if (errno != EEXIST)
			break;
	}
	unlinkat(sp->queue_fd, name, 0);
}

/* Open the recycled file queue/name for m, to be written over from its
 * start (what follows its seal's end is no one's).  0 or -1. */
static int
recycled_open(struct spool_msg *m, const char *name)
{
	struct stat	st;

	if ((m->fd = openat(m->spool->queue_fd, name, O_WRONLY |
	    O_CLOEXEC)) == -1)
		return -1;
	m->recycled = 1;
	/* Whole blocks: a message a few octets longer than the last still
	 * fits. */
	if (fstat(m->fd, &st) == 0 && st.st_blocks > 0)
		m->allocated = (uint64_t)st.st_blocks * 512;
	return 0;
}

void
spool_set_stock(struct spool *sp, unsigned max_age)
{
	char	name[SPOOL_ID_LEN + 8];
	size_t	i;

	if (max_age == 0) {
		for (i = 0; i < sp->nstock; i++) {
			snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX,
			    sp->stock[i].id);
			to_free(sp, name);
		}
		sp->nstock = 0;
	}
	sp->stock_max_age = max_age;
}

/*
 * Rename free files to new ids' ID.part until the stock is full, each
 * with its ticket taken after the rename.  Its mtime is now: the queue's
 * clean-up goes by it (an ID.part untouched for two DATA timeouts).
 */
static void
stock_fill(struct spool *sp)
{
	struct spool_stock	*e;
	char			 name[SPOOL_ID_LEN + 8];

	while (sp->nstock < SPOOL_STOCK) {
		e = &sp->stock[sp->nstock];
		spool_new_id(e->id);
		snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX, e->id);
		if (take_free(sp, name) == -1)
			return;
		if (utimensat(sp->queue_fd, name, NULL, 0) == -1 ||
		    syncfs_ticket(sp->queue_fd, &e->ticket) == -1) {
			to_free(sp, name);
			return;
		}
		e->since = mono_sec();
		sp->nstock++;
	}
}

/*
 * The oldest stocked file for m: in place when a syncfs since its rename
 * made its name durable.  Files too old for the clean-up's limit go back
 * to free.K.  0, or -1 when none is left.
 */
static int
stock_take(struct spool *sp, struct spool_msg *m)
{
	struct spool_stock	 e;
	char			 name[SPOOL_ID_LEN + 8];
	long long		 now = mono_sec();

	while (sp->nstock > 0) {
		e = sp->stock[0];
		memmove(&sp->stock[0], &sp->stock[1], --sp->nstock *
		    sizeof(sp->stock[0]));
		snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX, e.id);
		if (now - e.since >= (long long)sp->stock_max_age) {
			to_free(sp, name);
			continue;
		}
		memcpy(m->id, e.id, sizeof(m->id));
		/* ENOENT: the clean-up took it after all (a clock step). */
		if (recycled_open(m, name) == -1) {
			m->id[0] = '\0';
			continue;
		}
		m->in_place = sp->sync_fs &&
		    syncfs_covered(sp->queue_fd, e.ticket);
		return 0;
	}
	return -1;
}

int
spool_msg_create(struct spool *sp, struct spool_msg *m)
{
	char	name[SPOOL_ID_LEN + 8];
	int	tries, r;

	memset(m, 0, sizeof(*m));
	m->spool = sp;
	m->fd = -1;
	if (sp->stock_max_age > 0) {
		r = stock_take(sp, m);
		/* The stock's next files are renamed now, for a sync that
		 * comes after (this message's, or a delivery's) to cover. */
		stock_fill(sp);
		if (r == 0)
			return 0;
	}
	for (tries = 0; tries < 8; tries++) {
		spool_new_id(m->id);
		snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX, m->id);
		if (take_free(sp, name) == 0) {
			if (recycled_open(m, name) == 0)
				return 0;
			unlinkat(sp->queue_fd, name, 0);
		}
		m->fd = durable_open(sp->queue_fd, name);
		if (m->fd != -1)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

int
spool_msg_open_read(const struct spool_msg *m)
{
	char	name[SPOOL_ID_LEN + 8];

	snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX, m->id);
	return openat(m->spool->queue_fd, name, O_RDONLY | O_CLOEXEC);
}

void
spool_msg_envelope(struct spool_msg *m, const char *env, size_t len)
{
	/* The seal's place: written over at the commit. */
	static const char	placeholder[SPOOL_SEAL_LEN + 1] =
	    SPOOL_SEAL_KEY "0000000000000000 "
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "\n";
	struct iovec		iov[3];
	ssize_t			n;
	size_t			want = SPOOL_SEAL_LEN + len + 1;

	if (m->error != 0 || m->fd == -1)
		return;
	if (len + 1 > SPOOL_ENV_MAX || m->size != 0 || m->written != 0) {
		m->error = EFBIG;
		return;
	}
	iov[0].iov_base = (void *)placeholder;
	iov[0].iov_len = SPOOL_SEAL_LEN;
	iov[1].iov_base = (void *)env;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)"\n";
	iov[2].iov_len = 1;
	do
		n = writev(m->fd, iov, 3);
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)want) {
		m->written = want;
		return;
	}
	/* Short (a full disk, a signal): the rest the slow way. */
	if (n == -1) {
		m->error = errno;
		return;
	}
	if (lseek(m->fd, 0, SEEK_SET) == -1 ||
	    write_all(m->fd, placeholder, SPOOL_SEAL_LEN) == -1 ||
	    write_all(m->fd, env, len) == -1 || write_all(m->fd, "\n", 1) ==
	    -1)
		m->error = errno;
	else
		m->written = want;
}

void
spool_msg_write(struct spool_msg *m, const void *data, size_t len)
{
	if (m->error != 0 || m->fd == -1)
		return;
	if (write_all(m->fd, data, len) == -1)
		m->error = errno;
	else {
		m->size += len;
		m->written += len;
	}
}

/*
 * Rename queue/part to queue/name, never over a file (durable_rename_new();
 * nothing synced).  ENOENT with name the file (inode ino) is success: the
 * queue's clean-up found the sealed part first and committed it
 * (spool_recover_part()).  0 or -1 (errno).
 */
static int
commit_rename(struct spool *sp, const char *part, const char *name,
    ino_t ino)
{
	struct stat	st;

	if (durable_rename_new(sp->queue_fd, part, sp->queue_fd, name) == 0)
		return 0;
	if (errno == ENOENT && fstatat(sp->queue_fd, name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == ino)
		return 0;
	if (errno == ENOENT || errno == 0)
		errno = EIO;
	return -1;
}

int
spool_msg_commit(struct spool_msg *m)
{
	struct stat	st;
	char		part[SPOOL_ID_LEN + 8], name[SPOOL_ID_LEN + 8];
	int		saved, r;

	snprintf(part, sizeof(part), "%s" SPOOL_PART_SUFFIX, m->id);
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, m->id);
	if (m->error != 0) {
		errno = m->error;
		goto fail;
	}
	/*
	 * Step 2: the file complete and sealed: its length and digest at its
	 * head.  A recycled file is not cut: what follows the seal's end is
	 * no one's (a size change would cost a journal commit).
	 */
	if (seal(m, part) == -1 || fstat(m->fd, &st) == -1)
		goto fail;		/* abort closes m->fd */
	/*
	 * In place only alone: commits of the same moment share one syncfs
	 * (a journal commit for all) where each would flush the disk once.
	 */
	r = atomic_fetch_add(&committing, 1) == 0 && m->in_place;
	r = r ? commit_in_place(m, part, name, st.st_ino) :
	    commit_shared(m, part, name, st.st_ino);
	atomic_fetch_sub(&committing, 1);
	return r;
fail:
	saved = errno;
	spool_msg_abort(m);
	errno = saved;
	return -1;
}

/*
 * The in-place commit: the name ID.part is on disk already (a syncfs since
 * the stocked file's rename), so its data with the seal is the commit, one
 * fdatasync (written over blocks it has: no journal commit).  A crash from
 * here on leaves a sealed ID.part of its own id, which the queue takes as
 * committed at its start (spool_recover_part()).  The rename to ID.msg,
 * for the queue, needs no sync: the next one makes it durable, and until
 * then ID.part stands for it.
 */
static int
commit_in_place(struct spool_msg *m, const char *part, const char *name,
    ino_t ino)
{
	int	fd = m->fd;

	m->fd = -1;
	return close_rename(m, fd, fdatasync_commit(fd), part, name, ino);
}

/*
 * After the file's own step (r, and its errno): close it (checked), then
 * rename queue/part to queue/name.  On a failure nothing is left under
 * either name (EEXIST: ID.msg is another message's, this file is not
 * one).  0 or -1 (errno).
 */
static int
close_rename(struct spool_msg *m, int fd, int r, const char *part,
    const char *name, ino_t ino)
{
	int	saved = errno;

	if (close(fd) == -1 && r == 0) {
		r = -1;
		saved = errno;
	}
	if (r == 0 && commit_rename(m->spool, part, name, ino) == -1) {
		r = -1;
		saved = errno;
	}
	if (r == -1) {
		unlinkat(m->spool->queue_fd, part, 0);
		m->id[0] = '\0';
		errno = saved;
		return -1;
	}
	return 0;
}

static int
commit_shared(struct spool_msg *m, const char *part, const char *name,
    ino_t ino)
{
	struct spool	*sp = m->spool;
	int		 fd, saved, r;

	/*
	 * Steps 3 and 4: the rename of queue/ID.part to queue/ID.msg (never
	 * over a message of the same id), made durable by one sync that the
	 * commits of that moment share (group commit): a syncfs(2) of the
	 * spool's file system, which makes the files' data durable with their
	 * renames (a crash before it may leave an ID.msg whose seal does not
	 * match: never acknowledged, set aside by the queue); or, with
	 * spool-sync file, the file's fdatasync before the rename and then a
	 * fsync of queue/.
	 */
	fd = m->fd;
	m->fd = -1;
	/* The run of the sync that starts while this one gets ready
	 * waits for it (a little: durable.h). */
	group_sync_expect(&commit_sync);
	/*
	 * syncfs: its blocks allocated before, one journal commit, not two
	 * (durable.h); a recycled file written within its old blocks has
	 * them.
	 */
	if (sp->sync_fs)
		r = m->written > m->allocated ? durable_writeback(fd) : 0;
	else
		r = fdatasync(fd);
	if (close_rename(m, fd, r, part, name, ino) == -1) {
		saved = errno;
		group_sync_cancel(&commit_sync);
		errno = saved;
		return -1;
	}
	/* Expected there since group_sync_expect() above. */
	if (group_sync_expected(&commit_sync, sp->sync_fs ? sync_fs :
	    sync_queue, sp) == -1) {
		/* The message is not known to be on disk and was never
		 * acknowledged. */
		saved = errno;
		unlinkat(sp->queue_fd, name, 0);
		m->id[0] = '\0';
		errno = saved;
		return -1;
	}
	return 0;
}

void
spool_msg_abort(struct spool_msg *m)
{
	char	name[SPOOL_ID_LEN + 8];

	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->spool != NULL && m->id[0] != '\0') {
		snprintf(name, sizeof(name), "%s" SPOOL_PART_SUFFIX, m->id);
		/* Never committed: nothing refers to it, reuse it at once
		 * (unless it is large). */
		if (m->written <= SPOOL_FREE_KEEP)
			to_free(m->spool, name);
		else
			unlinkat(m->spool->queue_fd, name, 0);
	}
	m->id[0] = '\0';
}

int
spool_remove(struct spool *sp, const char *id)
{
	char	msg[SPOOL_ID_LEN + 8], dead[SPOOL_ID_LEN + 8];
	char	env[SPOOL_ID_LEN + 8];
	int	listed = 0;

	snprintf(msg, sizeof(msg), "%s" SPOOL_MSG_SUFFIX, id);
	snprintf(dead, sizeof(dead), "%s" SPOOL_DEAD_SUFFIX, id);
	snprintf(env, sizeof(env), "%s" SPOOL_ENV_SUFFIX, id);
	if (renameat(sp->queue_fd, msg, sp->queue_fd, dead) == -1) {
		if (errno != ENOENT)
			return -1;
	} else {
		pthread_mutex_lock(&sp->dead_lock);
		if (sp->ndead < SPOOL_FREE_MAX) {
			memcpy(sp->dead[sp->ndead++], id, SPOOL_ID_LEN + 1);
			listed = 1;
		}
		pthread_mutex_unlock(&sp->dead_lock);
		/* No room to wait: not recycled, gone. */
		if (!listed)
			unlinkat(sp->queue_fd, dead, 0);
	}
	if (unlinkat(sp->queue_fd, env, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

size_t
spool_dead(struct spool *sp)
{
	size_t	n;

	pthread_mutex_lock(&sp->dead_lock);
	n = sp->ndead;
	pthread_mutex_unlock(&sp->dead_lock);
	return n;
}

void
spool_recycle(struct spool *sp)
{
	char		(*ids)[SPOOL_ID_LEN + 1];
	char		 dead[SPOOL_ID_LEN + 8];
	struct stat	 st;
	size_t		 n, i;
	int		 ok;

	if ((ids = malloc(sizeof(sp->dead))) == NULL)
		return;
	pthread_mutex_lock(&sp->dead_lock);
	n = sp->ndead;
	memcpy(ids, sp->dead, n * sizeof(*ids));
	sp->ndead = 0;
	pthread_mutex_unlock(&sp->dead_lock);
	/*
	 * A file holds a new message only once its old name in queue/ is
	 * gone on disk: else a crash could bring ID.msg back with a
	 * stranger's bytes in it.  Without that, it is only deleted.
	 */
	ok = n == 0 || fsync_dirfd(sp->queue_fd) == 0;
	for (i = 0; i < n; i++) {
		snprintf(dead, sizeof(dead), "%s" SPOOL_DEAD_SUFFIX, ids[i]);
		if (ok && fstatat(sp->queue_fd, dead, &st, 0) == 0 &&
		    st.st_size <= SPOOL_FREE_KEEP)
			to_free(sp, dead);
		else
			unlinkat(sp->queue_fd, dead, 0);
	}
	free(ids);
}

/* Read all of dirfd/name (a queue envelope) into a new buffer. */
static char *
read_envelope_file(int dirfd, const char *name, size_t *lenp)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, saved;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(SPOOL_ENV_MAX)) == NULL) {
		close(fd);
		return NULL;
	}
	while (len < SPOOL_ENV_MAX) {
		n = read(fd, buf + len, SPOOL_ENV_MAX - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				break;
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len == SPOOL_ENV_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	*lenp = len;
	return buf;
}

/*
 * The envelope part of a spool file: read until the empty line that ends
 * it.  Returns the buffer (the envelope is its first *envlen octets) or
 * NULL with errno set.
 */
static char *
read_envelope_part(int fd, size_t *envlen)
{
	char	*buf = NULL, *nb, *end;
	size_t	 cap = 16384, len = 0, from;
	ssize_t	 n;

	for (;;) {
		if (cap > SPOOL_ENV_MAX + 1)
			cap = SPOOL_ENV_MAX + 1;
		if ((nb = realloc(buf, cap)) == NULL)
			break;
		buf = nb;
		n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		/* The "\n\n" may straddle the previous read. */
		from = len > 0 ? len - 1 : 0;
		len += (size_t)n;
		if (len > 0 && (end = memmem(buf + from, len - from, "\n\n",
		    2)) != NULL) {
			*envlen = (size_t)(end - buf) + 1;
			return buf;
		}
		if (n == 0 || len > SPOOL_ENV_MAX) {
			errno = EINVAL;
			break;
		}
		if (len == cap)
			cap *= 2;
	}
	free(buf);
	return NULL;
}

int
spool_open_queued(int queue_fd, const char *id, struct envelope *env,
    off_t *body_off, uint64_t *size, char *err, size_t errlen)
{
	int	sealed;

	return open_spooled(queue_fd, id, SPOOL_MSG_SUFFIX, env, body_off,
	    size, &sealed, err, errlen);
}

int
spool_recover_part(int queue_fd, const char *id)
{
	char		part[SPOOL_ID_LEN + 8], name[SPOOL_ID_LEN + 8];
	char		err[256];
	off_t		off;
	uint64_t	size;
	int		fd, sealed;

	if ((fd = open_spooled(queue_fd, id, SPOOL_PART_SUFFIX, NULL, &off,
	    &size, &sealed, err, sizeof(err))) == -1)
		/* Torn, another id's (a stocked file), the placeholder:
		 * not a message.  Anything else: unknown. */
		return errno == EBADMSG || errno == EINVAL || errno == ENOENT ?
		    0 : -1;
	close(fd);
	/* Without a seal it was never committed (an older version's
	 * partial file, or one being written). */
	if (!sealed)
		return 0;
	snprintf(part, sizeof(part), "%s" SPOOL_PART_SUFFIX, id);
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, id);
	if (durable_rename_new(queue_fd, part, queue_fd, name) == -1)
		return errno == ENOENT ? 0 : -1;
	return 1;
}

int
spool_recover_all(int queue_fd, void (*said)(const char *, int, void *),
    void *arg)
{
	struct dirent	*de;
	DIR		*dir;
	char		 id[SPOOL_ID_LEN + 1];
	int		 fd, r, n = 0;

	if ((fd = dup(queue_fd)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strlen(de->d_name) != SPOOL_ID_LEN +
		    strlen(SPOOL_PART_SUFFIX) || strcmp(de->d_name +
		    SPOOL_ID_LEN, SPOOL_PART_SUFFIX) != 0 ||
		    !spool_valid_id(de->d_name, SPOOL_ID_LEN))
			continue;
		memcpy(id, de->d_name, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		if ((r = spool_recover_part(queue_fd, id)) == 1)
			n++;
		if (r != 0 && said != NULL)
			said(id, r, arg);
	}
	closedir(dir);
	return n > 0 && fsync_dirfd(queue_fd) == -1 ? -1 : n;
}

/*
 * spool_open_queued() of queue/ID followed by suffix; *sealed: the file
 * has a seal (it matched), else it is an older version's.
 */
static int
open_spooled(int queue_fd, const char *id, const char *suffix,
    struct envelope *env, off_t *body_off, uint64_t *size, int *sealedp,
    char *err, size_t errlen)
{
	struct stat	 st;
	struct envelope	 mine;
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 name[SPOOL_ID_LEN + 8], *hdr = NULL, *own = NULL;
	size_t		 hdrlen = 0, ownlen = 0, skip;
	uint64_t	 sealed_len, end;
	int		 fd, saved, sealed;

	snprintf(err, errlen, "%s", strerror(EINVAL));
	snprintf(name, sizeof(name), "%s%s", id, suffix);
	if ((fd = openat(queue_fd, name, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1 || (hdr = read_envelope_part(fd,
	    &hdrlen)) == NULL) {
		if (errno == EINVAL)
			snprintf(err, errlen, "no end of the envelope");
		goto fail;
	}
	*body_off = (off_t)hdrlen + 1;
	if (seal_check(fd, &st, hdr, hdrlen, err, errlen) == -1)
		goto fail;
	sealed = seal_parse(hdr, hdrlen, &sealed_len, md) == 1;
	skip = sealed ? SPOOL_SEAL_LEN : 0;
	/* The message ends where its seal says, the file maybe later. */
	end = sealed ? (uint64_t)SPOOL_SEAL_LEN + sealed_len :
	    (uint64_t)st.st_size;
	if (end < (uint64_t)*body_off) {
		snprintf(err, errlen, "%sno end of the envelope", sealed ?
		    "torn: " : "");
		errno = sealed ? EBADMSG : EINVAL;
		goto fail;
	}
	*size = end - (uint64_t)*body_off;
	/*
	 * Always parse the file's own envelope: its id must be this one's.
	 * A sealed file of another id is a recycled file whose new content
	 * never reached the disk (a crash before the commit's sync).
	 */
	if (envelope_parse(hdr + skip, hdrlen - skip, &mine, err, errlen) ==
	    -1) {
		errno = EINVAL;
		goto fail;
	}
	if (strcmp(mine.id, id) != 0) {
		snprintf(err, errlen, "%sthe envelope is of %s", sealed ?
		    "torn: " : "", mine.id);
		envelope_free(&mine);
		errno = sealed ? EBADMSG : EINVAL;
		goto fail;
	}
	if (env != NULL) {
		/* The queue's later copy, if it wrote one, supersedes. */
		snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, id);
		if ((own = read_envelope_file(queue_fd, name, &ownlen)) ==
		    NULL && errno != ENOENT) {
			envelope_free(&mine);
			goto fail;
		}
		if (own == NULL) {
			*env = mine;
			memset(&mine, 0, sizeof(mine));
		} else if (envelope_parse(own, ownlen, env, err, errlen) ==
		    -1) {
			envelope_free(&mine);
			errno = EINVAL;
			goto fail;
		} else if (strcmp(env->id, id) != 0) {
			snprintf(err, errlen, "the envelope is of %s", env->id);
			envelope_free(env);
			envelope_free(&mine);
			errno = EINVAL;
			goto fail;
		}
	}
	envelope_free(&mine);
	free(own);
	free(hdr);
	*sealedp = sealed;
	return fd;
fail:
	saved = errno;
	if (errno != EINVAL && errno != EBADMSG)
		snprintf(err, errlen, "%s", strerror(errno));
	if (fd != -1)
		close(fd);
	free(own);
	free(hdr);
	errno = saved;
	return -1;
}

int
spool_set_torn(int queue_fd, const char *id)
{
	char	msg[SPOOL_ID_LEN + 8], torn[SPOOL_ID_LEN + 8];

	snprintf(msg, sizeof(msg), "%s" SPOOL_MSG_SUFFIX, id);
	snprintf(torn, sizeof(torn), "%s" SPOOL_TORN_SUFFIX, id);
	if (renameat(queue_fd, msg, queue_fd, torn) == -1)
		return -1;
	/* The queue's envelope of it, if any, is gone with it. */
	snprintf(msg, sizeof(msg), "%s" SPOOL_ENV_SUFFIX, id);
	if (unlinkat(queue_fd, msg, 0) == -1 && errno != ENOENT)
		return -1;
	return fsync_dirfd(queue_fd);
}

/* Field 22 of /proc/PID/stat (after the parenthesised name).  0 or -1. */
static int
proc_starttime(long pid, unsigned long long *out)
{
	char	 path[64], buf[1024], *p, *end;
	ssize_t	 n;
	int	 fd, field;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* ") S ppid ...": field 3 is the state, after the name (2). */
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -1;
	errno = 0;
	*out = strtoull(p + 1, &end, 10);
	return errno != 0 || end == p + 1 ? -1 : 0;
}

int
spool_pidfile_write(int dirfd)
{
	struct iovec		iov;
	unsigned long long	st;
	char			buf[64];
	long			pid = (long)getppid();
	int			n;

	if (proc_starttime(pid, &st) == -1)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld %llu\n", pid, st);
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	return durable_write(dirfd, SPOOL_PIDFILE ".tmp", SPOOL_PIDFILE, &iov,
	    1);
}

long
spool_pidfile_read(const char *path, char *err, size_t errlen)
{
	unsigned long long	st, now;
	char			file[4096], buf[64], *end;
	long			pid;
	ssize_t			n;
	int			fd;

	if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
	    SPOOL_PIDFILE) >= sizeof(file)) {
		(void)snprintf(err, errlen, "spool path too long");
		return -1;
	}
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		(void)snprintf(err, errlen, "%.200s: %s (is smtpauthd "
		    "running?)", file, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		buf[n] = '\0';
	errno = 0;
	pid = n > 0 ? strtol(buf, &end, 10) : 0;
	if (n <= 0 || errno != 0 || pid <= 1 || *end != ' ' ||
	    (st = strtoull(end + 1, &end, 10), *end != '\n')) {
		(void)snprintf(err, errlen, "%.200s: malformed", file);
		return -1;
	}
	if (proc_starttime(pid, &now) == -1 || now != st) {
		(void)snprintf(err, errlen, "%.200s: pid %ld is gone (is "
		    "smtpauthd running?)", file, pid);
		return -1;
	}
	return pid;
}
