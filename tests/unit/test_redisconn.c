/*
 * redisconn: commands encoded, replies matched to them in order whatever
 * the bytes' split, pushes, every bound, and freeing from callbacks.  The
 * "server" is this process, on the other end of a unix socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <event2/event.h>
#include <cmocka.h>

#include "server/auth/redisconn.h"
#include "server/shared/config.h"

#define MAX_REPLIES	8

struct state {
	int		 failed;
	char		 why[256];
	int		 nreplies;
	int		 nnull;
	int		 npush;
	char		 got[MAX_REPLIES][64];	/* "type:value" */
	struct redisconn *c;
	int		 free_in_reply;	/* the first reply frees c */
};

static char			 dir[] = "/tmp/test_redisconn.XXXXXX";
static char			 path[128];
static int			 lfd = -1;
static struct event_base	*base;
static struct guard_store	 gs;

static int
setup(void **unused)
{
	struct sockaddr_un	sun;

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/redis.sock", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 8) == -1 || (base = event_base_new()) == NULL)
		return -1;
	memset(&gs, 0, sizeof(gs));
	gs.set = gs.is_unix = 1;
	strcpy(gs.path, path);
	return 0;
}

static int
teardown(void **unused)
{
	close(lfd);
	unlink(path);
	rmdir(dir);
	event_base_free(base);
	return 0;
}

static void
on_fail(struct redisconn *c, const char *why, void *arg)
{
	struct state	*st = arg;

	st->failed++;
	snprintf(st->why, sizeof(st->why), "%s", why);
}

static void
describe(redisReply *r, char *buf, size_t len)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		snprintf(buf, len, "%d:%s", r->type, r->str);
		break;
	case REDIS_REPLY_INTEGER:
		snprintf(buf, len, "int:%lld", r->integer);
		break;
	case REDIS_REPLY_ARRAY:
		snprintf(buf, len, "array:%zu", r->elements);
		break;
	default:
		snprintf(buf, len, "nil");
	}
}

static void
on_reply(struct redisconn *c, redisReply *r, void *priv)
{
	struct state	*st = priv;

	if (r == NULL) {
		st->nnull++;
		return;
	}
	if (st->nreplies < MAX_REPLIES)
		describe(r, st->got[st->nreplies], sizeof(st->got[0]));
	st->nreplies++;
	if (st->free_in_reply && st->nreplies == 1) {
		redisconn_free(st->c);
		st->c = NULL;
	}
}

static void
on_push(struct redisconn *c, redisReply *r, void *priv)
{
	struct state	*st = priv;

	st->npush++;
	on_reply(c, r, priv);
}

/* Connect c and accept its other end. */
static int
open_pair(struct state *st)
{
	char	err[256];
	int	fd;

	memset(st, 0, sizeof(*st));
	st->c = redisconn_new(base, &gs, NULL, NULL, on_fail, st, err,
	    sizeof(err));
	if (st->c == NULL)
		fail_msg("redisconn_new: %s", err);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		fail_msg("accept: %s", strerror(errno));
	return fd;
}

/* Run the loop for about ms milliseconds. */
static void
spin(int ms)
{
	struct timeval	tv = { 0, ms * 1000 };

	(void)event_base_loopexit(base, &tv);
	(void)event_base_dispatch(base);
}

static void
spin_until(int *counter, int want)
{
	int	i;

	for (i = 0; i < 500 && *counter < want; i++)
		spin(10);
}

static void
send_cmd(struct state *st, const char *a, const char *b)
{
	const char	*argv[2] = { a, b };
	size_t		 argl[2] = { strlen(a), b != NULL ? strlen(b) : 0 };

	assert_int_equal(redisconn_command(st->c, on_reply, st,
	    b != NULL ? 2 : 1, argv, argl), 0);
}

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EAGAIN) {
			spin(10);
			continue;
		}
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* What the server reads is RESP, the commands in order. */
static void
test_encodes_commands(void **unused)
{
	static const char	 want[] = "*1\r\n$4\r\nPING\r\n"
	    "*2\r\n$3\r\nGET\r\n$5\r\na b c\r\n";
	struct state		 st;
	char			 buf[256];
	size_t			 got = 0;
	ssize_t			 n;
	int			 fd = open_pair(&st);

	send_cmd(&st, "PING", NULL);
	send_cmd(&st, "GET", "a b c");
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	while (got < sizeof(want) - 1) {
		spin(10);
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n > 0)
			got += (size_t)n;
		else
			assert_true(n == -1 && errno == EAGAIN);
	}
	assert_memory_equal(buf, want, sizeof(want) - 1);
	redisconn_free(st.c);
	assert_int_equal(st.nnull, 2);
	assert_int_equal(st.failed, 0);
	close(fd);
}

/* Three replies, split at every byte: each to its command, in order. */
static void
test_replies_split_anywhere(void **unused)
{
	static const char	 replies[] = "+PONG\r\n$5\r\nhello\r\n"
	    "*2\r\n:1\r\n$-1\r\n";
	size_t			 i, len = sizeof(replies) - 1;
	struct state		 st;
	int			 fd;

	for (i = 1; i < len; i++) {
		fd = open_pair(&st);
		send_cmd(&st, "PING", NULL);
		send_cmd(&st, "GET", "k");
		send_cmd(&st, "EVAL", "s");
		write_all(fd, replies, i);
		spin(10);
		write_all(fd, replies + i, len - i);
		spin_until(&st.nreplies, 3);
		assert_int_equal(st.nreplies, 3);
		assert_string_equal(st.got[0], "5:PONG");
		assert_string_equal(st.got[1], "1:hello");
		assert_string_equal(st.got[2], "array:2");
		assert_int_equal(st.failed, 0);
		redisconn_free(st.c);
		assert_int_equal(st.nnull, 0);
		close(fd);
	}
}

/* A subscribed connection's messages go to the push callback. */
static void
test_push(void **unused)
{
	static const char	 msgs[] =
	    "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
	    "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$3\r\nx 1\r\n"
	    "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$3\r\ny 2\r\n";
	struct state		 st;
	int			 fd = open_pair(&st);

	redisconn_set_push(st.c, on_push, &st);
	send_cmd(&st, "SUBSCRIBE", "c");
	write_all(fd, msgs, sizeof(msgs) - 1);
	spin_until(&st.nreplies, 3);
	assert_int_equal(st.nreplies, 3);
	assert_int_equal(st.npush, 2);
	assert_int_equal(st.failed, 0);
	redisconn_free(st.c);
	close(fd);
}

/*
 * Hostile or broken replies: the connection fails with the reason, and
 * the command waiting gets NULL when it is freed.
 */
static void
test_bounds(void **unused)
{
	static const struct {
		const char	*head;
		char		 fill;
		size_t		 nfill;
		const char	*why;
		const char	*tail;
	} cases[] = {
		{ "$2000000\r\n", 'x', 1100 * 1024,
		    "a reply over the size limit", NULL },
		{ "*16385\r\n", 0, 0, "bad reply: over a limit", NULL },
		{ "*2147483647\r\n", 0, 0, "bad reply: over a limit", NULL },
		/* Ended: hiredis makes no string before it has it all. */
		{ "$65537\r\n", 'x', 65537, "bad reply: over a limit",
		    "\r\n" },
		{ "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n", 0,
		    0, "bad reply: No support for nested multi bulk", NULL },
		{ "!what\r\n", 0, 0, "bad reply: Protocol error", NULL },
		{ "$-5\r\n", 0, 0, "bad reply: Bulk string length", NULL },
		{ "+OK\r\n+OK\r\n", 0, 0, "a reply to no command", NULL },
		{ "", 0, 0, "connection closed", NULL },
	};
	struct state	 st;
	size_t		 i, off;
	ssize_t		 w;
	char		*fill;
	int		 fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = open_pair(&st);
		send_cmd(&st, "GET", "k");
		(void)fcntl(fd, F_SETFL, O_NONBLOCK);
		write_all(fd, cases[i].head, strlen(cases[i].head));
		if (cases[i].nfill > 0) {
			assert_non_null(fill = malloc(cases[i].nfill));
			memset(fill, cases[i].fill, cases[i].nfill);
			/* Until all is sent or the reader gives up. */
			for (off = 0; off < cases[i].nfill && !st.failed;) {
				w = write(fd, fill + off, cases[i].nfill - off);
				if (w > 0)
					off += (size_t)w;
				else if (w == -1 && errno == EAGAIN)
					spin(10);
				else
					break;
			}
			free(fill);
		}
		if (cases[i].tail != NULL)
			write_all(fd, cases[i].tail, strlen(cases[i].tail));
		if (cases[i].head[0] == '\0')
			(void)shutdown(fd, SHUT_WR);
		spin_until(&st.failed, 1);
		if (strstr(st.why, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, st.why,
			    cases[i].why);
		assert_int_equal(st.failed, 1);
		/* Failed: no more commands, and the waiting one gets NULL. */
		assert_int_equal(redisconn_command(st.c, on_reply, &st, 1,
		    (const char *[]){ "PING" }, (size_t[]){ 4 }), -1);
		redisconn_free(st.c);
		assert_int_equal(st.nnull, cases[i].head[0] == '+' ? 0 : 1);
		close(fd);
	}
}

/* A callback that frees its connection: the rest get NULL, once. */
static void
test_free_from_callback(void **unused)
{
	static const char	 replies[] = "+a\r\n+b\r\n+c\r\n";
	struct state		 st;
	int			 fd = open_pair(&st);

	st.free_in_reply = 1;
	send_cmd(&st, "A", NULL);
	send_cmd(&st, "B", NULL);
	send_cmd(&st, "C", NULL);
	write_all(fd, replies, sizeof(replies) - 1);
	spin_until(&st.nnull, 2);
	assert_int_equal(st.nreplies, 1);
	assert_int_equal(st.nnull, 2);
	assert_null(st.c);
	assert_int_equal(st.failed, 0);
	close(fd);
}

static void
test_refused(void **unused)
{
	struct guard_store	 none = gs;
	struct state		 st;
	char			 err[256];

	memset(&st, 0, sizeof(st));
	snprintf(none.path, sizeof(none.path), "%s/none.sock", dir);
	assert_null(redisconn_new(base, &none, NULL, NULL, on_fail, &st, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encodes_commands),
		cmocka_unit_test(test_replies_split_anywhere),
		cmocka_unit_test(test_push),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_free_from_callback),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
