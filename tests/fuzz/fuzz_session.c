/*
 * libFuzzer harness for a whole SMTP session: the input is what a client
 * sends, in pieces whose sizes come from the input itself.  A session runs
 * on a real event loop over a socketpair, with a real spool in a
 * temporary directory, so the command table, the line reader, pipelining,
 * DATA and BDAT, the error budget and the spool commit are all exercised.
 * The invariants are ASan/UBSan's and the loop's: every session ends, and
 * every byte of its replies is well-formed "NNN[ -]text\r\n".
 *
 * The spool is a directory under $TMPDIR (else /tmp).  No queue runs, so
 * the messages accepted are removed from spool/queue/ every CLEAN_EVERY
 * inputs, and the whole directory when the process exits (a crash report
 * leaves it for a look).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/workq.h"
#include "server/shared/config.h"
#include "server/shared/users.h"
#include "server/smtp/session.h"
#include "server/smtp/worker.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct worker	 W;
static struct config	*conf;
static struct userset	 users;
static char		 dir[1024];
static unsigned		 runs;

#define CLEAN_EVERY	256

/* Empty spool/queue/: the accepted messages would fill the disk. */
static void
clean_queue(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	if ((fd = openat(W.spool.queue_fd, ".", O_RDONLY | O_DIRECTORY)) ==
	    -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(W.spool.queue_fd, de->d_name, 0);
	closedir(d);
}

static int
remove_one(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	/* Best effort: what cannot go stays, and the walk goes on. */
	remove(path);
	return 0;
}

static void
remove_dir(void)
{
	if (dir[0] != '\0')
		nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char	text[1024], err[256];
	size_t	nbad;
	int	nfd[2];

	const char	*tmp = getenv("TMPDIR");

	log_set_quiet(1);
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/fuzz_session.XXXXXX",
	    tmp) >= sizeof(dir) || mkdtemp(dir) == NULL)
		abort();
	atexit(remove_dir);
	snprintf(text, sizeof(text),
	    "hostname mx.test\nlisten 127.0.0.1:2525 smtp\n"
	    "local-domains example.org\nusers %s/users\n"
	    "mailbox-root %s/mail\nspool %s/spool\nmax-message-size 4096\n"
	    "max-recipients 5\nmax-errors 20\n", dir, dir, dir);
	if ((conf = config_parse("fuzz.conf", text, err, sizeof(err))) == NULL)
		abort();
	if (users_load_text("users", "user@example.org:x\n", 19, &users,
	    &nbad, NULL, err, sizeof(err)) == -1)
		abort();
	snprintf(text, sizeof(text), "%s/spool", dir);
	if (spool_setup(text, -1, -1, err, sizeof(err)) == -1 ||
	    spool_open(&W.spool, text) == -1)
		abort();
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, nfd) == -1)
		abort();
	W.notify_fd = nfd[1];
	W.conf = conf;
	W.users = &users;
	W.base = event_base_new();
	W.wq = workq_new(W.base, 1);
	TAILQ_INIT(&W.sessions);
}

/* Replies must be lines of a three-digit code, '-' or ' ', text. */
static void
check_replies(const char *buf, size_t len)
{
	size_t	i = 0, eol;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);

		if (nl == NULL)
			break;	/* cut off by the close: fine */
		eol = (size_t)(nl - buf);
		assert(eol - i >= 4);
		assert(buf[i] >= '2' && buf[i] <= '5');
		assert(buf[i + 3] == ' ' || buf[i + 3] == '-' ||
		    buf[i + 3] == '\r');
		assert(buf[eol - 1] == '\r');
		i = eol + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 sin;
	static char		 out[1 << 16];
	size_t			 off = 0, outlen = 0, piece;
	ssize_t			 n;
	int			 sv[2], rounds = 0;

	if (conf == NULL)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	sin.sin_port = htons(40000);
	if (session_new(&W, &conf->listens[0], sv[0],
	    (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	/* The first byte picks the piece size: splits at every boundary. */
	piece = size > 0 ? (size_t)(data[0] % 64) + 1 : 1;
	while (W.nsessions > 0 && rounds++ < 20000) {
		if (off < size) {
			size_t len = size - off < piece ? size - off : piece;

			n = write(sv[1], data + off, len);
			if (n > 0)
				off += (size_t)n;
		} else if (off == size) {
			shutdown(sv[1], SHUT_WR);
			off++;
		}
		if (off > size) {
			/*
			 * All sent: wait (briefly) for the loop, e.g. for a
			 * spool commit on the pool thread, instead of spinning.
			 */
			struct timeval tv = { 0, 1000 };

			event_base_loopexit(W.base, &tv);
			event_base_loop(W.base, EVLOOP_ONCE);
		} else
			event_base_loop(W.base, EVLOOP_NONBLOCK);
		while ((n = read(sv[1], out + outlen,
		    sizeof(out) - outlen)) > 0) {
			outlen += (size_t)n;
			if (outlen == sizeof(out)) {
				check_replies(out, outlen);
				outlen = 0;
			}
		}
	}
	/* Every session ends once the client has said all and hung up. */
	assert(W.nsessions == 0);
	check_replies(out, outlen);
	close(sv[1]);
	if (++runs % CLEAN_EVERY == 0)
		clean_queue();
	return 0;
}
