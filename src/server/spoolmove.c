/*
 * export, import and drain (spoolmove.h).  The protocol, its crash
 * states and why ids do not collide are in INTERNALS.md, "Moving a
 * spool"; in short:
 *
 * export (the node stopped): mark the spool (run/exporting: the node
 * will not start), then per message write DIR/ID.msg durably (its current
 * envelope, the queue's ID.env if any, at its head, then the message),
 * and only then unlink queue/ID.msg and queue/ID.env; at the end sync
 * queue/, write DIR/COMPLETE and remove the mark.
 *
 * import: per DIR/ID.msg, (1) stage import/NEWID.msg in the spool,
 * durably (NEWID is ID unless queue/ID.msg exists); (2) rename
 * DIR/ID.msg to DIR/ID.NEWID.importing (the staged copy is complete);
 * (3) rename import/NEWID.msg to queue/NEWID.msg, never replacing (the
 * commit), sync queue/ and import/; (4) unlink the .importing name.  A
 * rerun finishes each .importing name first: its staged file still there
 * means (3) did not happen, gone means it did.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/durable.h"
#include "server/queuectl.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"
#include "server/spoolmove.h"

#define IMPORT_DIR	"import"
#define IMPORTING	".importing"
#define COPY_BUF	(64 * 1024)
#define MAX_IDS		(1u << 24)	/* messages in one run */

struct ids {
	char	(*id)[SPOOL_ID_LEN + 1];
	size_t	 n, size;
};

static int	list_ids(int, const char *, struct ids *);
static int	ids_add(struct ids *, const char *);
static int	write_copy(int, const char *, const struct envelope *, int,
		    off_t, uint64_t, long, long);
static int	node_running(const char *);
static int	open_dir_durably(const char *);
static void	export_unreadable(const char *, int, void *);
static int	do_export(const struct config *, const char *);
static int	export_one(int, int, const char *);
static int	do_import(const struct config *, const char *);
static int	import_one(int, int, int, const char *, long, long);
static int	import_finish(int, int, int, const char *);
static void	derive_id(const char *, unsigned, char *);
static int	is_marker(const char *);
static int	do_drain(const struct config *);

int
spoolmove_known(const char *cmd, int *wants_dir)
{
	*wants_dir = strcmp(cmd, "export") == 0 || strcmp(cmd, "import") == 0;
	return *wants_dir || strcmp(cmd, "drain") == 0;
}

int
spoolmove_run(const struct config *conf, const char *cmd, const char *dir)
{
	if (strcmp(cmd, "export") == 0)
		return do_export(conf, dir);
	if (strcmp(cmd, "import") == 0)
		return do_import(conf, dir);
	return do_drain(conf);
}

static int
ids_add(struct ids *ids, const char *id)
{
	void	*p;
	size_t	 nsize;

	if (ids->n == ids->size) {
		if (ids->size >= MAX_IDS) {
			errno = E2BIG;
			return -1;
		}
		nsize = ids->size ? ids->size * 2 : 256;
		if ((p = reallocarray(ids->id, nsize, sizeof(*ids->id))) ==
		    NULL)
			return -1;
		ids->id = p;
		ids->size = nsize;
	}
	memcpy(ids->id[ids->n], id, SPOOL_ID_LEN);
	ids->id[ids->n][SPOOL_ID_LEN] = '\0';
	ids->n++;
	return 0;
}

/* The ids of dirfd's files named ID followed by suffix.  0 or -1. */
static int
list_ids(int dirfd, const char *suffix, struct ids *ids)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 len, slen = strlen(suffix);
	int		 fd, rv = 0;

	if ((fd = dup(dirfd)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != SPOOL_ID_LEN + slen ||
		    strcmp(de->d_name + SPOOL_ID_LEN, suffix) != 0 ||
		    !spool_valid_id(de->d_name, SPOOL_ID_LEN))
			continue;
		if (ids_add(ids, de->d_name) == -1) {
			rv = -1;
			break;
		}
	}
	closedir(d);
	return rv;
}

/*
 * Write todir/NAME durably (through NAME's .tmp, replacing NAME): env,
 * the empty line, then size octets of srcfd from off; owned by uid/gid
 * unless they are -1.  0, or -1 with errno set and nothing under NAME
 * that was not there before.
 */
static int
write_copy(int todir, const char *name, const struct envelope *env,
    int srcfd, off_t off, uint64_t size, long uid, long gid)
{
	char		 tmp[SPOOL_ID_LEN + 32], *text = NULL, *buf = NULL;
	size_t		 len, n;
	ssize_t		 r;
	int		 fd = -1, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s" SPOOL_TMP_SUFFIX,
	    SPOOL_ID_LEN, name) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (envelope_format(env, &text, &len) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((buf = malloc(COPY_BUF)) == NULL)
		goto fail;
	/* A temporary left by a crash is garbage: take its name. */
	if ((unlinkat(todir, tmp, 0) == -1 && errno != ENOENT) ||
	    (fd = durable_open(todir, tmp)) == -1)
		goto fail;
	if (uid != -1 && fchown(fd, (uid_t)uid, (gid_t)gid) == -1)
		goto fail_unlink;
	if (write_all(fd, text, len) == -1 || write_all(fd, "\n", 1) == -1)
		goto fail_unlink;
	while (size > 0) {
		n = size > COPY_BUF ? COPY_BUF : (size_t)size;
		if ((r = pread(srcfd, buf, n, off)) <= 0) {
			if (r == 0)
				errno = EIO;	/* shorter than it was */
			else if (errno == EINTR)
				continue;
			goto fail_unlink;
		}
		if (write_all(fd, buf, (size_t)r) == -1)
			goto fail_unlink;
		off += r;
		size -= (uint64_t)r;
	}
	free(buf);
	free(text);
	return durable_commit(fd, todir, tmp, todir, name, NULL, NULL);
fail_unlink:
	saved = errno;
	unlinkat(todir, tmp, 0);
	errno = saved;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	free(buf);
	free(text);
	errno = saved;
	return -1;
}

/*
 * Does a node run on this spool?  Its queue process has bound
 * run/queue.sock (connect(2) to a datagram socket nobody bound is
 * refused), or its auth process listens on run/auth.sock.
 */
static int
node_running(const char *spool)
{
	static const struct {
		const char	*name;
		int		 type;
	} socks[] = {
		{ QUEUE_SOCK, SOCK_DGRAM },
		{ "run/auth.sock", SOCK_SEQPACKET },
	};
	struct sockaddr_un	sun;
	size_t			i;
	int			fd, up = 0;

	for (i = 0; i < sizeof(socks) / sizeof(socks[0]) && !up; i++) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
		    "%s/%s", spool, socks[i].name) >= sizeof(sun.sun_path))
			continue;
		if ((fd = socket(AF_UNIX, socks[i].type | SOCK_CLOEXEC,
		    0)) == -1)
			continue;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			up = 1;
		close(fd);
	}
	return up;
}

/* Open (making it, durably, when missing) the directory path. */
static int
open_dir_durably(const char *path)
{
	char	*a, *b;
	int	 pfd, fd, saved;

	if ((a = strdup(path)) == NULL || (b = strdup(path)) == NULL) {
		free(a);
		return -1;
	}
	if ((pfd = open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		saved = errno;
		free(a);
		free(b);
		errno = saved;
		return -1;
	}
	fd = durable_mkdir(pfd, basename(b), 0700);
	saved = errno;
	close(pfd);
	free(a);
	free(b);
	errno = saved;
	return fd;
}

static void
export_unreadable(const char *id, int r, void *arg)
{
	if (r == -1)
		fprintf(stderr, "smtpauthd: export: %s" SPOOL_PART_SUFFIX
		    ": %s\n", id, strerror(errno));
}

static int
do_export(const struct config *conf, const char *dir)
{
	struct iovec	 iov;
	struct ids	 ids = { NULL, 0, 0 };
	const char	*what = "";
	char		 mark[4096 + 2];
	size_t		 i, moved = 0, left = 0;
	int		 sfd = -1, qfd = -1, rfd = -1, dfd = -1, lfd = -1, n;
	int		 rv = 1;

	if (node_running(conf->spool)) {
		fprintf(stderr, "smtpauthd: export: a node runs on %s: stop "
		    "it first (drain, then stop)\n", conf->spool);
		return 1;
	}
	what = conf->spool;
	if ((sfd = open(conf->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (qfd = openat(sfd, "queue", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (rfd = openat(sfd, "run", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	what = dir;
	if ((dfd = open_dir_durably(dir)) == -1)
		goto fail;
	/* One export at a time, and the mark before anything moves. */
	what = SPOOLMOVE_EXPORTING;
	if ((lfd = openat(sfd, SPOOLMOVE_EXPORTING ".lock", O_RDWR | O_CREAT |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	if (flock(lfd, LOCK_EX | LOCK_NB) == -1) {
		fprintf(stderr, "smtpauthd: export: another export of %s is "
		    "running\n", conf->spool);
		goto out;
	}
	n = snprintf(mark, sizeof(mark), "%s\n", dir);
	if (n < 0 || (size_t)n >= sizeof(mark)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	iov.iov_base = mark;
	iov.iov_len = (size_t)n;
	if (durable_write(rfd, "exporting.tmp", "exporting", &iov, 1) == -1)
		goto fail;
	/* DIR is not complete until this run says so. */
	what = dir;
	if ((unlinkat(dfd, SPOOLMOVE_COMPLETE, 0) == -1 && errno != ENOENT) ||
	    fsync_dirfd(dfd) == -1)
		goto fail;
	what = "queue";
	/*
	 * What a crash left committed in place (a sealed ID.part of its own
	 * id) is a message, as the queue's start would take it
	 * (INTERNALS.md, "The in-place commit").
	 */
	if (spool_recover_all(qfd, export_unreadable, NULL) == -1)
		goto fail;
	if (list_ids(qfd, SPOOL_MSG_SUFFIX, &ids) == -1)
		goto fail;
	for (i = 0; i < ids.n; i++) {
		switch (export_one(qfd, dfd, ids.id[i])) {
		case 1:
			moved++;
			break;
		case -1:
			left++;
			break;
		}
	}
	/* The removals are durable before the node may start again. */
	what = "queue";
	if (fsync_dirfd(qfd) == -1)
		goto fail;
	iov.iov_base = (void *)"smtpauthd export\n";
	iov.iov_len = strlen(iov.iov_base);
	what = dir;
	if (durable_write(dfd, SPOOLMOVE_COMPLETE ".tmp", SPOOLMOVE_COMPLETE,
	    &iov, 1) == -1)
		goto fail;
	what = SPOOLMOVE_EXPORTING;
	if (unlinkat(rfd, "exporting", 0) == -1 || fsync_dirfd(rfd) == -1)
		goto fail;
	printf("export: %zu message%s to %s%s\n", moved, moved == 1 ? "" : "s",
	    dir, left ? "" : "; the spool's queue is empty");
	if (left)
		fprintf(stderr, "smtpauthd: export: %zu message%s could not "
		    "be read and stay in the spool\n", left,
		    left == 1 ? "" : "s");
	rv = left ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "smtpauthd: export: %s: %s%s\n", what,
	    strerror(errno), rfd != -1 && lfd != -1 ? " (run export again: "
	    "the node will not start before it is finished)" : "");
out:
	free(ids.id);
	if (lfd != -1)
		close(lfd);
	if (dfd != -1)
		close(dfd);
	if (rfd != -1)
		close(rfd);
	if (qfd != -1)
		close(qfd);
	if (sfd != -1)
		close(sfd);
	return rv;
}

/*
 * One message of the queue into dfd, then out of the queue.  1 moved, 0
 * gone meanwhile, -1 not moved (said).
 */
static int
export_one(int qfd, int dfd, const char *id)
{
	struct envelope	 env;
	char		 name[SPOOL_ID_LEN + 8], err[256];
	uint64_t	 size;
	off_t		 off;
	int		 fd, r;

	memset(&env, 0, sizeof(env));
	if ((fd = spool_open_queued(qfd, id, &env, &off, &size, err,
	    sizeof(err))) == -1) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "smtpauthd: export: %s: %s\n", id, err);
		return -1;
	}
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, id);
	r = write_copy(dfd, name, &env, fd, off, size, -1, -1);
	envelope_free(&env);
	close(fd);
	if (r == -1) {
		fprintf(stderr, "smtpauthd: export: %s: %s\n", id,
		    strerror(errno));
		return -1;
	}
	/* The copy is durable: the source goes (its .env after its .msg). */
	if (unlinkat(qfd, name, 0) == -1 && errno != ENOENT) {
		fprintf(stderr, "smtpauthd: export: %s: %s\n", name,
		    strerror(errno));
		return -1;
	}
	snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, id);
	(void)unlinkat(qfd, name, 0);
	return 1;
}

/* "ID.NEWID.importing" */
static int
is_marker(const char *name)
{
	return strlen(name) == SPOOL_ID_LEN * 2 + 1 + strlen(IMPORTING) &&
	    spool_valid_id(name, SPOOL_ID_LEN) && name[SPOOL_ID_LEN] == '.' &&
	    spool_valid_id(name + SPOOL_ID_LEN + 1, SPOOL_ID_LEN) &&
	    strcmp(name + SPOOL_ID_LEN * 2 + 1, IMPORTING) == 0;
}

/*
 * The k-th other id for id (k from 1): a fixed sequence, so that a rerun
 * picks the same one again and overwrites what a crash left staged.
 */
static void
derive_id(const char *id, unsigned k, char *out)
{
	static const char	hex[] = "0123456789ABCDEF";
	uint64_t		z = 0;
	int			i;

	for (i = 0; i < SPOOL_ID_LEN; i++)
		z = z << 4 | (uint64_t)(strchr(hex, id[i]) - hex);
	/* splitmix64 of id + k */
	z += (uint64_t)k * 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	for (i = SPOOL_ID_LEN - 1; i >= 0; i--, z >>= 4)
		out[i] = hex[z & 0xf];
	out[SPOOL_ID_LEN] = '\0';
}

static int
do_import(const struct config *conf, const char *dir)
{
	struct stat	 st;
	struct ids	 ids = { NULL, 0, 0 };
	struct dirent	*de;
	DIR		*d;
	const char	*what;
	char		 err[512];
	size_t		 i, done = 0, left = 0;
	long		 uid = -1, gid = -1;
	int		 sfd = -1, qfd = -1, ifd = -1, dfd = -1, fd;
	int		 rv = 1, r;

	what = dir;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if (faccessat(dfd, SPOOLMOVE_COMPLETE, F_OK, 0) == -1) {
		fprintf(stderr, "smtpauthd: import: %s: not a finished export "
		    "(no %s): run export again first\n", dir,
		    SPOOLMOVE_COMPLETE);
		goto out;
	}
	what = conf->spool;
	if ((sfd = open(conf->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (qfd = openat(sfd, "queue", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || fstat(qfd, &st) == -1)
		goto fail;
	/* Staged files belong to the node's user, like its queue. */
	if (geteuid() == 0) {
		uid = (long)st.st_uid;
		gid = (long)st.st_gid;
	}
	what = IMPORT_DIR;
	if ((ifd = durable_mkdir(sfd, IMPORT_DIR, 0700)) == -1)
		goto fail;
	if (uid != -1 && fchown(ifd, (uid_t)uid, (gid_t)gid) == -1)
		goto fail;
	if (flock(ifd, LOCK_EX | LOCK_NB) == -1) {
		fprintf(stderr, "smtpauthd: import: another import into %s is "
		    "running\n", conf->spool);
		goto out;
	}
	/* First what a crash left between steps 2 and 4. */
	what = dir;
	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		goto fail;
	}
	while ((de = readdir(d)) != NULL)
		if (is_marker(de->d_name) && ids_add(&ids, de->d_name) == -1)
			break;
	closedir(d);
	/* ids_add() kept the first id: import_finish() finds the rest. */
	for (i = 0; i < ids.n; i++)
		if (import_finish(dfd, qfd, ifd, ids.id[i]) == -1)
			left++;
		else
			done++;
	ids.n = 0;
	if (list_ids(dfd, SPOOL_MSG_SUFFIX, &ids) == -1)
		goto fail;
	for (i = 0; i < ids.n; i++) {
		r = import_one(dfd, qfd, ifd, ids.id[i], uid, gid);
		if (r == 1)
			done++;
		else if (r == -1)
			left++;
	}
	what = dir;
	if (fsync_dirfd(dfd) == -1)
		goto fail;
	printf("import: %zu message%s from %s\n", done, done == 1 ? "" : "s",
	    dir);
	if (left)
		fprintf(stderr, "smtpauthd: import: %zu message%s not imported: "
		    "run import again\n", left, left == 1 ? "" : "s");
	/* The running node's queue takes them now, not at its next scan. */
	if (done > 0 && queuectl_flush(conf->spool, err, sizeof(err)) == -1)
		fprintf(stderr, "smtpauthd: import: %s; the node delivers them "
		    "once it runs\n", err);
	rv = left ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "smtpauthd: import: %s: %s\n", what, strerror(errno));
out:
	free(ids.id);
	if (ifd != -1)
		close(ifd);	/* and the lock */
	if (dfd != -1)
		close(dfd);
	if (qfd != -1)
		close(qfd);
	if (sfd != -1)
		close(sfd);
	return rv;
}

/*
 * Steps 3 and 4 for DIR/ID.NEWID.importing, ID given (the name is
 * rebuilt from the directory: we list it again for the second id).
 */
static int
import_finish(int dfd, int qfd, int ifd, const char *id)
{
	struct dirent	*de;
	DIR		*d;
	char		 marker[SPOOL_ID_LEN * 2 + 16];
	char		 staged[SPOOL_ID_LEN + 8], newid[SPOOL_ID_LEN + 1];
	int		 fd, found = 0;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while (!found && (de = readdir(d)) != NULL)
		if (is_marker(de->d_name) &&
		    strncmp(de->d_name, id, SPOOL_ID_LEN) == 0) {
			/* is_marker(): shorter than marker */
			memcpy(marker, de->d_name, strlen(de->d_name) + 1);
			memcpy(newid, de->d_name + SPOOL_ID_LEN + 1,
			    SPOOL_ID_LEN);
			newid[SPOOL_ID_LEN] = '\0';
			found = 1;
		}
	closedir(d);
	if (!found)
		return 0;
	snprintf(staged, sizeof(staged), "%s" SPOOL_MSG_SUFFIX, newid);
	if (faccessat(ifd, staged, F_OK, 0) == 0) {
		/* Step 3 had not happened: the commit, never replacing. */
		if (renameat2(ifd, staged, qfd, staged, RENAME_NOREPLACE) ==
		    -1) {
			fprintf(stderr, "smtpauthd: import: %s: %s%s\n", staged,
			    strerror(errno), errno == EEXIST ? " (the node "
			    "made a message of that id meanwhile: run import "
			    "again once it is delivered)" : "");
			return -1;
		}
		if (fsync_dirfd(qfd) == -1 || fsync_dirfd(ifd) == -1) {
			fprintf(stderr, "smtpauthd: import: sync: %s\n",
			    strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT)
		return -1;
	/* Step 4: committed (now or before the crash). */
	if (unlinkat(dfd, marker, 0) == -1 && errno != ENOENT)
		return -1;
	return 1;
}

/* Steps 1 to 4 for DIR/ID.msg.  1 imported, 0 gone, -1 not (said). */
static int
import_one(int dfd, int qfd, int ifd, const char *id, long uid, long gid)
{
	struct envelope	 env;
	char		 err[256], newid[SPOOL_ID_LEN + 1];
	char		 src[SPOOL_ID_LEN + 8], staged[SPOOL_ID_LEN + 8];
	char		 marker[SPOOL_ID_LEN * 2 + 16];
	uint64_t	 size;
	off_t		 off;
	unsigned	 k;
	int		 fd, r;

	memset(&env, 0, sizeof(env));
	if ((fd = spool_open_queued(dfd, id, &env, &off, &size, err,
	    sizeof(err))) == -1) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "smtpauthd: import: %s: %s\n", id, err);
		return -1;
	}
	/* Its own id, unless this node holds a message of that id. */
	memcpy(newid, id, sizeof(newid));
	for (k = 1; k < 64; k++) {
		snprintf(staged, sizeof(staged), "%s" SPOOL_MSG_SUFFIX, newid);
		if (faccessat(qfd, staged, F_OK, 0) == -1 && errno == ENOENT)
			break;
		derive_id(id, k, newid);
	}
	memcpy(env.id, newid, sizeof(env.id));
	/* Step 1: staged, durably; a crash before step 2 just redoes it. */
	r = write_copy(ifd, staged, &env, fd, off, size, uid, gid);
	envelope_free(&env);
	close(fd);
	if (r == -1) {
		fprintf(stderr, "smtpauthd: import: %s: %s\n", id,
		    strerror(errno));
		return -1;
	}
	/* Step 2: the staged copy is complete; DIR no longer offers it. */
	snprintf(src, sizeof(src), "%s" SPOOL_MSG_SUFFIX, id);
	snprintf(marker, sizeof(marker), "%s.%s" IMPORTING, id, newid);
	if (renameat(dfd, src, dfd, marker) == -1 || fsync_dirfd(dfd) == -1) {
		fprintf(stderr, "smtpauthd: import: %s: %s\n", src,
		    strerror(errno));
		return -1;
	}
	if (strcmp(newid, id) != 0)
		printf("import: %s is %s here\n", id, newid);
	/* Steps 3 and 4. */
	return import_finish(dfd, qfd, ifd, id) == 1 ? 1 : -1;
}

/*
 * drain: SIGUSR1 to the running node's parent, found through the pid file
 * its queue process writes (spool.h), which a stale file cannot fool.
 */
static int
do_drain(const struct config *conf)
{
	char	err[512];
	long	pid;

	if ((pid = spool_pidfile_read(conf->spool, err, sizeof(err))) == -1) {
		fprintf(stderr, "smtpauthd: drain: %s\n", err);
		return 1;
	}
	if (kill((pid_t)pid, SIGUSR1) == -1) {
		fprintf(stderr, "smtpauthd: drain: pid %ld: %s\n", pid,
		    strerror(errno));
		return 1;
	}
	printf("drain: smtpauthd pid %ld stops taking sessions, finishes the "
	    "open ones and delivers its queue\n", pid);
	return 0;
}
