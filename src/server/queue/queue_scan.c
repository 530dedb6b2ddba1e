/*
 * The queue's scans of the spool: every committed message in queue/ is
 * scheduled (at start, every minute, and on a flush), and what a crash
 * left behind is removed at start and hourly (INTERNALS.md).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/queue/queue_priv.h"
#include "server/shared/queuelist.h"
#include "server/shared/spool.h"

static void		 queue_cleanup_dir(struct queue *, int, int);
static void		 recovered(const char *, int, void *);

/*
 * Remove what a crash left behind in queue/: uncommitted files (ID.part
 * that is not sealed as its own: spool_recover_part()) older than two
 * DATA timeouts (a live session may still be writing younger ones),
 * removed messages' files never recycled (ID.dead), the queue's envelopes
 * of messages that are gone, and set-aside files whose seal did not match
 * (ID.torn) after SPOOL_TORN_KEEP.
 */
static void
queue_cleanup_dir(struct queue *q, int dirfd, int is_queue)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dir;
	char		 msg[SPOOL_ID_LEN + 8];
	time_t		 limit = time(NULL) - 2 * (time_t)q->conf->data_timeout;
	size_t		 len;
	int		 fd;

	/*
	 * A sealed ID.part of its own id is committed: an in-place commit
	 * whose rename to ID.msg a crash kept from the disk, or one a worker
	 * is renaming now (it takes ours).  The scan after this schedules it.
	 */
	if (is_queue && spool_recover_all(dirfd, recovered, NULL) == -1)
		log_warn("cleanup: recover");
	if ((fd = dup(dirfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cleanup: opendir");
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		/*
		 * incoming/ is an older version's: its recycled files go
		 * too (nothing takes them there), and everything else of
		 * it like an uncommitted file here.
		 */
		if (!is_queue && strncmp(de->d_name, SPOOL_FREE_PREFIX,
		    strlen(SPOOL_FREE_PREFIX)) == 0) {
			unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		if (len < SPOOL_ID_LEN + 4 || !spool_valid_id(de->d_name,
		    SPOOL_ID_LEN))
			continue;
		/* A removed message's file that was never recycled. */
		if (strcmp(de->d_name + SPOOL_ID_LEN, SPOOL_DEAD_SUFFIX) == 0) {
			unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		/* In queue/, a message is committed. */
		if (is_queue && strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_MSG_SUFFIX) == 0)
			continue;
		/* The queue's envelope of a message that is gone: a crash
		 * between the two unlinks.  Any other file once it is old. */
		if (is_queue && (strcmp(de->d_name + SPOOL_ID_LEN,
		    SPOOL_ENV_SUFFIX) == 0 || strcmp(de->d_name +
		    SPOOL_ID_LEN, QUEUELIST_HOLD_SUFFIX) == 0)) {
			snprintf(msg, sizeof(msg), "%.*s" SPOOL_MSG_SUFFIX,
			    SPOOL_ID_LEN, de->d_name);
			if (fstatat(dirfd, msg, &st, 0) == 0 || errno != ENOENT)
				continue;
		} else if (fstatat(dirfd, de->d_name, &st, 0) == -1 ||
		    st.st_mtime > (is_queue && strcmp(de->d_name +
		    SPOOL_ID_LEN, SPOOL_TORN_SUFFIX) == 0 ? time(NULL) -
		    SPOOL_TORN_KEEP : limit))
			continue;
		log_info("cleanup remove=%s/%s", is_queue ? "queue" :
		    "incoming", de->d_name);
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

static void
recovered(const char *id, int r, void *arg)
{
	if (r == 1)
		log_info("cleanup recover=queue/%s" SPOOL_PART_SUFFIX
		    ": committed in place, now %s" SPOOL_MSG_SUFFIX, id, id);
	else
		log_warn("cleanup: %s" SPOOL_PART_SUFFIX, id);
}

/* Schedule every message in queue/; cleanup: remove crash leftovers too. */
void
queue_scan(struct queue *q, int cleanup, int flush)
{
	struct dirent	*de;
	DIR		*dir;
	char		 id[SPOOL_ID_LEN + 1];
	size_t		 len;
	int		 fd;

	if (cleanup || (mono_sec() % 3600) < SCAN_SECONDS) {
		if (q->spool.incoming_fd != -1)
			queue_cleanup_dir(q, q->spool.incoming_fd, 0);
		queue_cleanup_dir(q, q->spool.queue_fd, 1);
	}
	if ((fd = dup(q->spool.queue_fd)) == -1 ||
	    (dir = fdopendir(fd)) == NULL) {
		log_warn("scan: opendir");
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len != SPOOL_ID_LEN + 4 ||
		    strcmp(de->d_name + SPOOL_ID_LEN, SPOOL_MSG_SUFFIX) != 0 ||
		    !spool_valid_id(de->d_name, SPOOL_ID_LEN))
			continue;
		memcpy(id, de->d_name, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		queue_schedule(q, id, flush);
	}
	closedir(dir);
}
