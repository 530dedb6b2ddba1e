/*
 * Durable writes: the one way files that must survive a crash are written
 * (INTERNALS.md).  All functions return 0, or -1 with errno set; they never
 * leave a partial file under the final name.
 */
#ifndef SMTPAUTH_DURABLE_H
#define SMTPAUTH_DURABLE_H

#include <sys/uio.h>
#include <stddef.h>

/* write(2) until everything is written or an error other than EINTR. */
int	write_all(int fd, const void *, size_t);

/* fsync(fd) and close(fd), both checked; fd is closed in every case. */
int	fsync_close(int fd);

/* fsync a directory, by descriptor or by path (relative to dirfd). */
int	fsync_dirfd(int dirfd);
int	fsync_dir(const char *path);

/*
 * Create dirfd/name with O_CREAT|O_EXCL, mode 0600, write the iovecs,
 * fsync and close.  On failure the file is removed.
 */
int	durable_create(int dirfd, const char *name, const struct iovec *,
	    int iovcnt);

/*
 * durable_create(dirfd, tmpname), then rename it over dirfd/name and fsync
 * the directory.
 */
int	durable_replace(int dirfd, const char *tmpname, const char *name,
	    const struct iovec *, int iovcnt);

#endif
