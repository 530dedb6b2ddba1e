/*
 * The auth process and its client, together: authd_main runs in a child
 * on a temporary socket with hashes made at test time, and authclient asks
 * it from this process's own event loop.
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <crypt.h>
#include <event2/event.h>
#include <cmocka.h>

#include "common/log.h"
#include "server/auth/authd.h"
#include "server/shared/banlist.h"
#include "server/shared/config.h"
#include "server/smtp/authclient.h"

#define YPASS		"correct horse battery staple"
#define SPASS		"Tr0ub4dor&3"
#define SLOWPASS	"slow and steady"
#define WRONG		"wrong-password-123"
#define DELAY		100
#define MAXFAIL		3
#define TIMEOUT_MS	10000	/* more than the longest failure delay */
#define SHORT_MS	400

static struct config	  conf;
static struct cidr	  exempt;
static char		  dir[] = "/tmp/test_authd.XXXXXX";
static char		  sockpath[128], logpath[128];
static char		  yhash[CRYPT_OUTPUT_SIZE], shash[CRYPT_OUTPUT_SIZE];
static char		  slowhash[CRYPT_OUTPUT_SIZE];
static pid_t		  authpid = -1;
static struct event_base *base;
static struct authclient *ac, *ac_short;
static int		  in_verify;

struct result {
	int			done;
	struct auth_answer	a;
};

static long
ms_since(const struct timespec *start)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void
make_hash(const char *prefix, unsigned long count, const char *pw,
    char *out)
{
	struct crypt_data	*cd;
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char			*h;

	assert_non_null(crypt_gensalt_rn(prefix, count, NULL, 0, setting,
	    sizeof(setting)));
	assert_non_null(cd = calloc(1, sizeof(*cd)));
	h = crypt_r(pw, setting, cd);
	assert_non_null(h);
	assert_true(h[0] != '*');
	assert_true(strlen(h) < CRYPT_OUTPUT_SIZE);
	strcpy(out, h);
	free(cd);
}

/* With the test users, or without any (no users file at all). */
static void
start_authd(int nousers)
{
	struct sockaddr_un	 sun;
	struct timespec		 start;
	char			*text;
	int			 len, fd;

	len = asprintf(&text,
	    "# test users\n"
	    "alice@example.org:%s\n"
	    "Bob@Example.org:%s\n"
	    "not a user line\n"
	    "slowpoke@example.org:%s\n"
	    "locked@example.org:!\n"
	    "t1@example.org:%s\n"
	    "t2@example.org:%s\n"
	    "t3@example.org:%s\n"
	    "t4@example.org:%s\n"
	    "t5@example.org:%s\n", yhash, shash, slowhash, yhash, yhash,
	    yhash, yhash, yhash);
	assert_true(len > 0);
	authpid = fork();
	assert_true(authpid != -1);
	if (authpid == 0) {
		fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
		if (fd == -1 || dup2(fd, STDERR_FILENO) == -1)
			_exit(99);
		if (nousers) {
			free(text);
			authd_main(&conf, NULL, 0, NULL, sockpath);
		}
		authd_main(&conf, text, (size_t)len, NULL, sockpath);
	}
	free(text);

	/* Ready when it accepts a connection. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		assert_true(fd != -1);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			break;
		}
		close(fd);
		assert_true(ms_since(&start) < 20000);
		usleep(10000);
	}
}

static void
stop_authd(int sig)
{
	int	status;

	if (authpid <= 0)
		return;
	kill(authpid, sig);
	assert_int_equal(waitpid(authpid, &status, 0), authpid);
	authpid = -1;
}

static int
group_setup(void **state)
{
	struct stat	st;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_authd", 1);
	if (banlist_init(CONF_DEFAULT_BAN_TABLE_SIZE) == -1 ||
	    mkdtemp(dir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/auth.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);

	make_hash("$y$", 0, YPASS, yhash);
	make_hash("$6$", 0, SPASS, shash);
	/* About half a second: verifications that are surely in flight. */
	make_hash("$6$", 1000000, SLOWPASS, slowhash);

	conf.users = "users-test";
	conf.auth_max_failures = MAXFAIL;
	conf.auth_window = 60;
	conf.auth_ban = 120;
	conf.auth_failure_delay = DELAY;
	conf.ban_ipv6_prefix = CONF_DEFAULT_BAN_IPV6_PREFIX;
	exempt.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.0", exempt.addr);
	exempt.prefix = 24;
	conf.auth_exempt = &exempt;
	conf.nauth_exempt = 1;

	start_authd(0);
	/* The socket is private. */
	if (stat(sockpath, &st) == -1 || (st.st_mode & 0777) != 0600)
		return -1;
	base = event_base_new();
	ac = authclient_new(base, sockpath, TIMEOUT_MS);
	ac_short = authclient_new(base, sockpath, SHORT_MS);
	return base != NULL && ac != NULL && ac_short != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	stop_authd(SIGKILL);
	authclient_free(ac);
	authclient_free(ac_short);
	event_base_free(base);
	unlink(sockpath);
	/* TEST_AUTHD_KEEP=1 keeps the auth process's log to read. */
	if (getenv("TEST_AUTHD_KEEP") != NULL) {
		fprintf(stderr, "log kept in %s\n", logpath);
		return 0;
	}
	unlink(logpath);
	rmdir(dir);
	return 0;
}

static void
answered(void *arg, const struct auth_answer *a)
{
	struct result	*r = arg;

	/* Never from inside authclient_verify. */
	assert_false(in_verify);
	assert_false(r->done);
	r->done = 1;
	r->a = *a;
}

static void
mkreq(struct auth_request *req, const char *ip, const char *user,
    const char *pass)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(req, 0, sizeof(*req));
	if (strchr(ip, ':') == NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(40000);
		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(&req->client, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(40000);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(&req->client, &sin6, sizeof(sin6));
	}
	req->tls = 1;
	req->mech = AUTH_MECH_PLAIN;
	req->userlen = strlen(user);
	memcpy(req->user, user, req->userlen);
	req->passlen = strlen(pass);
	memcpy(req->pass, pass, req->passlen);
}

static uint32_t
send_req(struct authclient *c, const char *ip, const char *user,
    const char *pass, struct result *r)
{
	static const char	zero[AUTH_FIELD_MAX + 1];
	struct auth_request	req;
	uint32_t		h;

	mkreq(&req, ip, user, pass);
	memset(r, 0, sizeof(*r));
	in_verify = 1;
	h = authclient_verify(c, &req, answered, r);
	in_verify = 0;
	assert_true(h != 0);
	/* The password is wiped by the call. */
	assert_int_equal(req.passlen, 0);
	assert_memory_equal(req.pass, zero, sizeof(zero));
	return h;
}

static void
wait_for(struct result *r)
{
	struct timespec	start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!r->done) {
		assert_true(ms_since(&start) < 30000);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static struct auth_answer
ask_with(struct authclient *c, const char *ip, const char *user,
    const char *pass, long *ms)
{
	struct timespec	start;
	struct result	r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	send_req(c, ip, user, pass, &r);
	wait_for(&r);
	if (ms)
		*ms = ms_since(&start);
	return r.a;
}

static struct auth_answer
ask(const char *ip, const char *user, const char *pass)
{
	return ask_with(ac, ip, user, pass, NULL);
}

static char *
read_log(void)
{
	static char	buf[1 << 20];
	ssize_t		n;
	int		fd;

	fd = open(logpath, O_RDONLY);
	assert_true(fd != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void
test_ok(void **state)
{
	struct auth_answer	a;

	a = ask("203.0.113.1", "alice@example.org", YPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(a.delay_ms, 0);
	assert_int_equal(a.banned, 0);
	/* Addresses are compared without case. */
	a = ask("203.0.113.1", "ALICE@Example.Org", YPASS);
	assert_int_equal(a.result, AUTH_OK);
	a = ask("203.0.113.1", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	a = ask("2001:db8:ff::1", "BOB@EXAMPLE.ORG", SPASS);
	assert_int_equal(a.result, AUTH_OK);
}

static void
test_wrong_password(void **state)
{
	struct auth_answer	a;

	a = ask("203.0.113.2", "alice@example.org", WRONG);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	assert_int_equal(a.banned, 0);
	/* Another user's password is not this one's. */
	a = ask("203.0.113.2", "bob@example.org", YPASS);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	assert_int_equal(a.banned, 0);
}

static void
test_unknown_user(void **state)
{
	struct auth_answer	a;

	a = ask("203.0.113.3", "nobody@example.org", YPASS);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	assert_int_equal(a.banned, 0);
	/* A user whose hash cannot be used: the same answer. */
	a = ask("192.0.2.3", "locked@example.org", "!");
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	/* Client text in the user name, for the log test. */
	a = ask("192.0.2.3", "ev\"il\n", "x");
	assert_int_equal(a.result, AUTH_FAIL);
}

/* Failures of one account, from anywhere, slow its next failures. */
static void
test_slowdown(void **state)
{
	struct auth_answer	a;
	struct result		many[25];
	uint32_t		max = 0;
	unsigned		i;

	for (i = 0; i < 3; i++) {
		a = ask(i % 2 ? "192.0.2.20" : "2001:db8:99::1",
		    "slow@example.org", WRONG);
		assert_int_equal(a.result, AUTH_FAIL);
		assert_int_equal(a.delay_ms, DELAY + 250 * i);
	}
	/* Capped (asked all at once: each answer is held for its delay). */
	for (i = 0; i < 25; i++)
		send_req(ac, "192.0.2.21", "capped@example.org", WRONG,
		    &many[i]);
	for (i = 0; i < 25; i++) {
		wait_for(&many[i]);
		if (many[i].a.delay_ms > max)
			max = many[i].a.delay_ms;
	}
	assert_int_equal(max, DELAY + 5000);
	/* Alice failed once already; the right password still works. */
	a = ask("192.0.2.22", "alice@example.org", WRONG);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_int_equal(a.delay_ms, DELAY + 250);
	a = ask("192.0.2.22", "alice@example.org", YPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(a.delay_ms, 0);
}

static void
test_ban(void **state)
{
	struct sockaddr_in	sin;
	struct auth_answer	a;
	time_t			until = 0, now;
	unsigned		i;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);

	for (i = 1; i < MAXFAIL; i++) {
		a = ask("198.51.100.7", "alice@example.org", WRONG);
		assert_int_equal(a.result, AUTH_FAIL);
		assert_int_equal(a.banned, 0);
		assert_int_equal(banlist_check((struct sockaddr *)&sin, NULL),
		    0);
	}
	/* Unknown users count as much as wrong passwords. */
	a = ask("198.51.100.7", "mallory@example.org", WRONG);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_int_equal(a.banned, 1);
	now = time(NULL);
	/* The worker side sees it through the shared mapping. */
	assert_int_equal(banlist_check((struct sockaddr *)&sin, &until), 1);
	assert_true(until >= now + (time_t)conf.auth_ban - 5);
	assert_true(until <= now + (time_t)conf.auth_ban + 1);

	/*
	 * While banned no password gets a verdict, a right one (even one
	 * in the login cache) included: a temporary refusal after the
	 * failure delay, and no hash is computed.
	 */
	a = ask("198.51.100.7", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_int_equal(a.banned, 1);
	assert_int_equal(a.delay_ms, DELAY);
	a = ask("198.51.100.7", "bob@example.org", WRONG);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_int_equal(a.banned, 1);
	assert_non_null(strstr(read_log(), "auth result=fail ip=198.51.100.7 "
	    "port=40000 tls=yes mech=PLAIN user=\"bob@example.org\" "
	    "reason=banned"));
	/* Through an IPv4-mapped address too. */
	a = ask("::ffff:198.51.100.7", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_int_equal(a.banned, 1);
	/* Another address still logs in. */
	a = ask("198.51.100.8", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	/* Neighbours are not banned. */
	sin.sin_addr.s_addr = htonl(ntohl(sin.sin_addr.s_addr) + 1);
	assert_int_equal(banlist_check((struct sockaddr *)&sin, NULL), 0);
}

static void
test_ban_ipv6_prefix(void **state)
{
	struct sockaddr_in6	sin6;
	struct auth_answer	a;

	a = ask("2001:db8:1:2::1", "alice@example.org", WRONG);
	assert_int_equal(a.banned, 0);
	a = ask("2001:db8:1:2::2", "bob@example.org", WRONG);
	assert_int_equal(a.banned, 0);
	a = ask("2001:db8:1:2:abcd::3", "carol@example.org", WRONG);
	assert_int_equal(a.banned, 1);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &sin6.sin6_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin6, NULL), 1);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &sin6.sin6_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin6, NULL), 0);
}

static void
test_exempt(void **state)
{
	struct sockaddr_in	sin;
	struct auth_answer	a;
	unsigned		i;

	for (i = 0; i < 2 * MAXFAIL; i++) {
		a = ask("192.0.2.77", "alice@example.org", WRONG);
		assert_int_equal(a.result, AUTH_FAIL);
		assert_int_equal(a.banned, 0);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.77", &sin.sin_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin, NULL), 0);
}

/*
 * Unknown users cost about what wrong passwords cost, seen without the
 * failure delay that hides it (each account fails once: no slowdown).
 */
static void
test_timing(void **state)
{
	long	ms, known = 1000000, unknown = 1000000;
	char	user[64];
	int	i;

	stop_authd(SIGTERM);
	conf.auth_failure_delay = 0;
	start_authd(0);
	for (i = 1; i <= 5; i++) {
		snprintf(user, sizeof(user), "t%d@example.org", i);
		ask_with(ac, "192.0.2.90", user, WRONG, &ms);
		if (ms < known)
			known = ms;
		snprintf(user, sizeof(user), "ghost%d@example.org", i);
		ask_with(ac, "192.0.2.90", user, WRONG, &ms);
		if (ms < unknown)
			unknown = ms;
	}
	print_message("wrong password %ld ms, unknown user %ld ms\n", known,
	    unknown);
	assert_true(2 * unknown >= known);
	assert_true(unknown <= 2 * known + 20);
	stop_authd(SIGTERM);
	conf.auth_failure_delay = DELAY;
	start_authd(0);
}

/*
 * The auth process itself holds a failed answer for its delay, counted
 * from the request: a worker (this test is one) gets no verdict sooner
 * than a client would.  A correct password is not held.
 */
static void
test_delay_held(void **state)
{
	struct auth_answer	a;
	long			ms;
	unsigned		i;

	for (i = 0; i < 4; i++) {
		a = ask_with(ac, "192.0.2.30", "held@example.org", WRONG, &ms);
		assert_int_equal(a.result, AUTH_FAIL);
		assert_int_equal(a.delay_ms, DELAY + 250 * i);
		/* Both clocks count whole milliseconds. */
		print_message("delay %u ms, answered after %ld ms\n",
		    a.delay_ms, ms);
		assert_true(ms + 2 >= (long)a.delay_ms);
	}
	a = ask_with(ac, "192.0.2.30", "t1@example.org", WRONG, &ms);
	/* Whole milliseconds on both sides, as above. */
	assert_true(ms + 2 >= DELAY);
	/* A banned address's refusal is held too. */
	a = ask_with(ac, "198.51.100.7", "bob@example.org", SPASS, &ms);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_int_equal(a.banned, 1);
	assert_true(ms + 2 >= DELAY);
	a = ask_with(ac, "192.0.2.30", "t2@example.org", YPASS, &ms);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(a.delay_ms, 0);
}

static void
test_log(void **state)
{
	const char	*log = read_log();

	assert_non_null(strstr(log, "auth result=ok ip=203.0.113.1 "
	    "port=40000 tls=yes mech=PLAIN user=\"alice@example.org\"\n"));
	assert_non_null(strstr(log, "auth result=fail ip=203.0.113.2 "
	    "port=40000 tls=yes mech=PLAIN user=\"alice@example.org\" "
	    "reason=bad-password"));
	assert_non_null(strstr(log, "user=\"nobody@example.org\" "
	    "reason=unknown-user"));
	assert_non_null(strstr(log, "user=\"locked@example.org\" "
	    "reason=unusable-hash"));
	assert_non_null(strstr(log, "user=\"ev\\x22il\\x0a\""));
	assert_non_null(strstr(log, "ban ip=198.51.100.7 failures=3 until="));
	assert_non_null(strstr(log, "ban ip=2001:db8:1:2::/64 failures=3 "));
	assert_null(strstr(log, "ban ip=192.0.2."));
	assert_non_null(strstr(log, "users-test:4: expected address:hash"));
	assert_non_null(strstr(log, "locked@example.org: hash not usable"));
	/* Never a password. */
	assert_null(strstr(log, YPASS));
	assert_null(strstr(log, SPASS));
	assert_null(strstr(log, WRONG));
	assert_null(strstr(log, yhash));
}

/* No answer in time: AUTH_TEMPFAIL, and a late answer is dropped. */
static void
test_timeout(void **state)
{
	struct auth_answer	a;
	long			ms;

	kill(authpid, SIGSTOP);
	a = ask_with(ac_short, "203.0.113.9", "alice@example.org", YPASS,
	    &ms);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_true(ms >= SHORT_MS - 50);
	assert_true(ms < SHORT_MS + 3000);
	kill(authpid, SIGCONT);
	a = ask_with(ac_short, "203.0.113.9", "alice@example.org", YPASS,
	    &ms);
	assert_int_equal(a.result, AUTH_OK);
	a = ask("203.0.113.9", "alice@example.org", YPASS);
	assert_int_equal(a.result, AUTH_OK);
}

/* A cancelled request is never called back. */
static void
test_cancel(void **state)
{
	struct result	r1, r2;
	uint32_t	h;

	h = send_req(ac, "203.0.113.10", "alice@example.org", YPASS, &r1);
	authclient_cancel(ac, h);
	authclient_cancel(ac, h);	/* twice: harmless */
	authclient_cancel(ac, 0);
	send_req(ac, "203.0.113.10", "bob@example.org", SPASS, &r2);
	wait_for(&r2);
	assert_int_equal(r2.a.result, AUTH_OK);
	assert_false(r1.done);
}

/*
 * The auth process dies: what was in flight fails at once (not after the
 * timeout); what comes after waits the reconnect grace (3 s) for a new
 * auth process, then fails.
 */
static void
test_killed(void **state)
{
	struct timespec	start;
	struct result	r;
	long		ms;
	struct auth_answer a;

	clock_gettime(CLOCK_MONOTONIC, &start);
	send_req(ac, "203.0.113.11", "slowpoke@example.org", SLOWPASS, &r);
	usleep(50000);
	stop_authd(SIGKILL);
	wait_for(&r);
	assert_int_equal(r.a.result, AUTH_TEMPFAIL);
	assert_true(ms_since(&start) < TIMEOUT_MS - 1000);

	unlink(sockpath);
	a = ask_with(ac, "203.0.113.11", "alice@example.org", YPASS, &ms);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_true(ms >= 2500 && ms < TIMEOUT_MS - 1000);
}

/*
 * A new auth process: the workers connect again, bans survive, and a
 * short ban ends and is logged.
 */
static void
test_restart_unban(void **state)
{
	struct sockaddr_in	sin;
	struct auth_answer	a;
	struct timespec		start;
	unsigned		i;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin, NULL), 1);

	conf.auth_ban = 1;
	start_authd(0);
	a = ask("203.0.113.12", "alice@example.org", YPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(banlist_check((struct sockaddr *)&sin, NULL), 1);

	for (i = 0; i < MAXFAIL; i++)
		a = ask("198.51.100.99", "unban@example.org", WRONG);
	assert_int_equal(a.banned, 1);
	inet_pton(AF_INET, "198.51.100.99", &sin.sin_addr);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (banlist_check((struct sockaddr *)&sin, NULL) ||
	    strstr(read_log(), "unban ip=198.51.100.99\n") == NULL) {
		assert_true(ms_since(&start) < 5000);
		usleep(50000);
	}
}

/* SIGTERM: what is in flight is answered, then exit 0. */
static void
test_sigterm(void **state)
{
	struct result	r;
	int		status;

	send_req(ac, "203.0.113.13", "slowpoke@example.org", SLOWPASS, &r);
	/* Let the request reach the auth process's pool. */
	usleep(100000);
	kill(authpid, SIGTERM);
	wait_for(&r);
	assert_int_equal(r.a.result, AUTH_OK);
	assert_int_equal(waitpid(authpid, &status, 0), authpid);
	authpid = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(sockpath, F_OK), -1);
	assert_non_null(strstr(read_log(), "auth: stopped"));
}

/* Without users every attempt fails, at the cost of a yescrypt hash. */
static void
test_no_users(void **state)
{
	struct auth_answer	a;
	long			ms;

	start_authd(1);
	a = ask_with(ac, "192.0.2.100", "alice@example.org", YPASS, &ms);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	print_message("unknown user without users: %ld ms\n", ms);
	stop_authd(SIGTERM);
	assert_non_null(strstr(read_log(), "users loaded=0 bad=0"));
}

static unsigned
count_in_log(const char *needle)
{
	const char	*p = read_log();
	unsigned	 n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/*
 * The login cache: a second good login is answered without computing the
 * hash again (the slow hash takes about half a second), from any address
 * and in any case of the account; a wrong password still costs the hash
 * and fails with the delay; another account's password is not taken.
 */
static void
test_cache(void **state)
{
	struct sockaddr_in	sin;
	struct banlist_key	bkey, bold;
	time_t			bold_until;
	struct auth_answer	a;
	long			first, second, wrong;
	unsigned		hits;

	conf.auth_cache_ttl = 300;
	start_authd(0);
	hits = count_in_log(" cache=hit");
	a = ask_with(ac, "203.0.113.20", "slowpoke@example.org", SLOWPASS,
	    &first);
	assert_int_equal(a.result, AUTH_OK);
	a = ask_with(ac, "203.0.113.21", "SlowPoke@Example.org", SLOWPASS,
	    &second);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(a.delay_ms, 0);
	assert_int_equal(count_in_log(" cache=hit"), hits + 1);
	assert_non_null(strstr(read_log(), "auth result=ok ip=203.0.113.21 "
	    "port=40000 tls=yes mech=PLAIN user=\"SlowPoke@Example.org\" "
	    "cache=hit\n"));
	a = ask_with(ac, "203.0.113.22", "slowpoke@example.org", WRONG,
	    &wrong);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_true(a.delay_ms >= DELAY);
	print_message("slow hash %ld ms, cached %ld ms, wrong %ld ms\n",
	    first, second, wrong);
	assert_true(second * 5 < first);
	assert_true(wrong * 2 > first);
	/* One account's password is not another's. */
	a = ask("203.0.113.22", "alice@example.org", SLOWPASS);
	assert_int_equal(a.result, AUTH_FAIL);
	assert_int_equal(count_in_log(" cache=hit"), hits + 1);
	/* A banned address gets nothing from the cache either. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.26", &sin.sin_addr);
	assert_int_equal(banlist_key((struct sockaddr *)&sin, 64, &bkey), 0);
	assert_int_equal(banlist_add(&bkey, time(NULL) + 60, &bold,
	    &bold_until), 0);
	a = ask("203.0.113.26", "slowpoke@example.org", SLOWPASS);
	assert_int_equal(a.result, AUTH_TEMPFAIL);
	assert_int_equal(a.banned, 1);
	assert_int_equal(count_in_log(" cache=hit"), hits + 1);
	banlist_remove(&bkey);
	stop_authd(SIGTERM);

	/* A new auth process (a reload) starts with nothing cached. */
	start_authd(0);
	a = ask("203.0.113.23", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(count_in_log(" cache=hit"), hits + 1);
	stop_authd(SIGTERM);

	/* An entry lasts its TTL, counted from the verification. */
	conf.auth_cache_ttl = 1;
	start_authd(0);
	a = ask("203.0.113.24", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	a = ask("203.0.113.24", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(count_in_log(" cache=hit"), hits + 2);
	usleep(1100000);
	a = ask("203.0.113.24", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(count_in_log(" cache=hit"), hits + 2);
	stop_authd(SIGTERM);

	/* auth-cache-ttl 0: no cache at all. */
	conf.auth_cache_ttl = 0;
	start_authd(0);
	a = ask("203.0.113.25", "bob@example.org", SPASS);
	a = ask("203.0.113.25", "bob@example.org", SPASS);
	assert_int_equal(a.result, AUTH_OK);
	assert_int_equal(count_in_log(" cache=hit"), hits + 2);
	assert_null(strstr(read_log(), SLOWPASS));
	stop_authd(SIGTERM);
}

/*
 * ban-ipv6-prefix: the ledger counts a whole /48 as one client and the
 * ban covers it.  A full table still bans, and says what it evicted.
 */
static void
test_ban_prefix_and_full_table(void **state)
{
	struct sockaddr_in6	sin6;
	struct auth_answer	a;
	char			ip[64];
	unsigned		i;

	conf.ban_ipv6_prefix = 48;
	conf.auth_ban = 120;	/* outlasts the held answers */
	start_authd(0);
	for (i = 0; i < MAXFAIL; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:7:%x::1", i + 1);
		a = ask(ip, "p1@example.org", WRONG);
		assert_int_equal(a.banned, i == MAXFAIL - 1);
	}
	assert_non_null(strstr(read_log(), "ban ip=2001:db8:7::/48 "));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:7:ffff::9", &sin6.sin6_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin6, NULL), 1);
	stop_authd(SIGTERM);
	conf.ban_ipv6_prefix = CONF_DEFAULT_BAN_IPV6_PREFIX;

	/*
	 * A table of two: the third ban evicts one that ends soonest (the
	 * first two may end in the same second).
	 */
	assert_int_equal(banlist_init(2), 0);
	start_authd(0);
	for (i = 0; i < 3 * MAXFAIL; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:8:%x::1", i / MAXFAIL);
		a = ask(ip, "p2@example.org", WRONG);
		assert_int_equal(a.banned, i % MAXFAIL == MAXFAIL - 1);
	}
	assert_int_equal(count_in_log("ban table full: evicted "
	    "ip=2001:db8:8:"), 1);
	assert_int_equal(count_in_log("ban table full: evicted "
	    "ip=2001:db8:8::/64 until=") + count_in_log("ban table full: "
	    "evicted ip=2001:db8:8:1::/64 until="), 1);
	inet_pton(AF_INET6, "2001:db8:8:2::5", &sin6.sin6_addr);
	assert_int_equal(banlist_check((struct sockaddr *)&sin6, NULL), 1);
	stop_authd(SIGTERM);
	assert_int_equal(banlist_init(CONF_DEFAULT_BAN_TABLE_SIZE), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_slowdown),
		cmocka_unit_test(test_ban),
		cmocka_unit_test(test_ban_ipv6_prefix),
		cmocka_unit_test(test_exempt),
		cmocka_unit_test(test_timing),
		cmocka_unit_test(test_delay_held),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_restart_unban),
		cmocka_unit_test(test_sigterm),
		cmocka_unit_test(test_no_users),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_ban_prefix_and_full_table),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
