/*
 * Durable writes: the one way files that must survive a crash are written
 * (INTERNALS.md).  All functions return 0, or -1 with errno set; they never
 * leave a partial file under the final name.
 */
#ifndef SMTPAUTH_DURABLE_H
#define SMTPAUTH_DURABLE_H

#include <sys/types.h>
#include <sys/uio.h>

#include <pthread.h>
#include <stddef.h>

/* write(2) until everything is written or an error other than EINTR. */
int	write_all(int fd, const void *, size_t);

/*
 * pread(2) of at most len octets at off, never past end (a file may go on
 * after what its reader must read: a spool file's seal gives its end).
 * Returns the octets read, 0 at or past end, -1 with errno (EIO: the file
 * ends before end); EINTR is retried.
 */
ssize_t	pread_upto(int fd, void *, size_t len, off_t off, off_t end);

/* fsync(fd) and close(fd), both checked; fd is closed in every case. */
int	fsync_close(int fd);

/* fsync a directory, by descriptor or by path (relative to dirfd). */
int	fsync_dirfd(int dirfd);
int	fsync_dir(const char *path);

/*
 * The one commit sequence of every file that must survive a crash
 * (INTERNALS.md, "Every write goes through one helper"), in two steps so
 * that a file may be written while its data arrives:
 *
 * durable_open(): create dirfd/name with O_CREAT|O_EXCL, mode 0600; returns
 * the descriptor or -1.
 *
 * durable_commit(): fdatasync and close fd (open as dirfd/name: its data,
 * size and blocks; not its times), rename it to
 * todirfd/toname, and make the rename durable: sync(arg) when sync is not
 * NULL (a group sync of the directories involved), else fsync(todirfd).
 * fd is closed in every case.  A failure before the rename leaves
 * nothing under either name; if only the sync fails, the file is under
 * toname and the caller decides (a new name is removed, a replaced one
 * stays: the old one is gone).
 */
int	durable_open(int dirfd, const char *name);
int	durable_commit(int fd, int dirfd, const char *name, int todirfd,
	    const char *toname, int (*sync)(void *), void *arg);

/*
 * durable_commit() that never replaces: when todirfd/toname exists, the
 * file is removed from dirfd/name, nothing is synced, and it fails with
 * EEXIST (a Maildir file named after what it holds is there already).
 */
int	durable_commit_new(int fd, int dirfd, const char *name, int todirfd,
	    const char *toname, int (*sync)(void *), void *arg);

/*
 * Open the directory dirfd/name (never through a symbolic link), creating
 * it with mode when it is missing.  A directory this call creates, or
 * finds made by someone else at that moment, is durable before it
 * returns: fsync of the directory, then of its parent dirfd, so that a
 * power cut cannot lose it and what is written into it (INTERNALS.md,
 * "Maildir delivery").  Returns its descriptor, or -1.
 */
int	durable_mkdir(int dirfd, const char *name, mode_t mode);
/*
 * rename(2) that never replaces: EEXIST when todirfd/toname exists
 * (renameat2(RENAME_NOREPLACE), or link(2) and unlink(2) where the file
 * system lacks it).  Nothing is synced.  0 or -1 (errno).
 */
int	durable_rename_new(int dirfd, const char *name, int todirfd,
	    const char *toname);

/*
 * Both steps in one directory for a small file: create dirfd/tmpname (a
 * temporary left by a crash is removed first), write the iovecs, commit it
 * as dirfd/name.
 */
int	durable_write(int dirfd, const char *tmpname, const char *name,
	    const struct iovec *, int iovcnt);

/*
 * Group commit: threads that each need the same sync (say, fsync of a
 * directory after their rename) share one.  A call returns once a run of
 * fn that started after the call began has finished, and with its result;
 * calls that arrive while one runs wait for the next, which one of them
 * leads for all.  Counters are generations: `done` covers every request up
 * to it.
 *
 * A thread that will ask for the sync soon (it is syncing its file) says
 * so first with group_sync_expect(), then asks with group_sync_expected(),
 * or calls group_sync_cancel() if it gives up before.  A leader about to
 * start a run waits for the threads expected when it got there, at most
 * GROUP_SYNC_LINGER_US, so that one run covers them too (PostgreSQL's
 * commit_delay with commit_siblings): a thread alone waits for nobody.
 */
#define GROUP_SYNC_LINGER_US	2000

struct group_sync {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	unsigned long	requested, done;
	unsigned long	failed;		/* the last failed run covered up to */
	int		running, error;	/* error: its errno */
	unsigned long	expected, arrived;	/* generations too */
};
#define GROUP_SYNC_INITIALIZER \
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, \
	  0, 0 }

/* fn returns 0, or -1 with errno set; so does group_sync(). */
int	group_sync(struct group_sync *, int (*fn)(void *), void *arg);
void	group_sync_expect(struct group_sync *);
int	group_sync_expected(struct group_sync *, int (*fn)(void *), void *arg);
void	group_sync_cancel(struct group_sync *);

/*
 * fsync_dirfd(), shared (group_sync()) with the other threads of the
 * process that sync the same directory at the same moment.  The thread
 * that leads a run first waits delay_us for others to join (0: none), for
 * a caller that can wait (a delivery, which no client waits for).
 */
int	fsync_dir_shared(int dirfd, long delay_us);
/*
 * syncfs(2) of fd's file system, shared the same way with the threads of
 * the process that sync that file system at the same moment: one run
 * makes the data and names of every file written before it started
 * durable.  A write-back error anywhere on the file system since fd was
 * opened fails it.  Its leader first waits as syncfs_wait(fd, delay_us)
 * does, for another process's run rather than for more threads, and the
 * threads that ask during that wait are covered by the run that follows
 * it.
 */
int	syncfs_shared(int fd, long delay_us);

/*
 * A syncfs(2) of fd's file system that started after the call: another
 * one's, of any thread or (after durable_share()) any process of the
 * server, if one starts and succeeds within wait_us, else its own (at once
 * when wait_us is 0).  Every run is entered in a ledger per file system
 * (tickets: the last run started, the last that succeeded), so that a
 * caller that can wait (a delivery) takes a commit's run instead of
 * flushing the disk once more.  A failed run covers nobody; a waiter that
 * saw none succeed runs its own and gets its result.  It waits only while
 * runs with wait_us 0 come (at least one in the last 50 ms), else runs its
 * own at once: with no commits coming, nobody else will run one.  While
 * commits come and a run takes longer than the time between two, its own
 * run (wait_us > 0) is paced: it starts twice the runs' cost after the
 * last one ended, and then right after a commit.
 */
int	syncfs_wait(int fd, long wait_us);
/*
 * fdatasync(2) of fd for a commit a client waits for, noted in the ledger
 * of its file system: a run that may wait and would not fit between two
 * commits is paced and starts right after one (syncfs_wait(),
 * syncfs_shared()).  As fdatasync(2).
 */
int	fdatasync_commit(int fd);
/*
 * The ledger for a change that need not be durable at once, only before a
 * later step relies on it (a recycled spool file renamed to its new name
 * ahead of its message): syncfs_ticket() right after the change gives a
 * ticket; syncfs_covered() says 1 once a syncfs(2) of that file system
 * that started after the ticket was taken has succeeded, run by anyone
 * through syncfs_wait(), else 0.  syncfs_ticket() is 0 or -1 (errno; a
 * ledger with no room: such a change is never covered).
 */
int	syncfs_ticket(int fd, unsigned long long *ticket);
int	syncfs_covered(int fd, unsigned long long ticket);
/*
 * Start the write-back of fd's data and wait for it (sync_file_range(2)),
 * before a syncfs that must cover it: on a journaled file system with
 * delayed allocation the syncfs then commits the journal once, not twice
 * (bench/RESULTS.md).  It makes nothing durable.  0, or -1 with errno (a
 * write error).
 */
int	durable_writeback(int fd);
/*
 * Put the ledger in memory shared with the processes forked after this
 * call (the parent, before it starts its children).  0 or -1.
 */
int	durable_share(void);

#endif
