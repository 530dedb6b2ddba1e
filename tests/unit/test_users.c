/*
 * Unit tests for the users file parser (one parser for the parent's
 * address list and the auth process's hashes).
 */
#include <crypt.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/shared/users.h"

#define S(x)	x, sizeof(x) - 1

static char	got[16][600];
static size_t	ngot;
static char	warned[16][256];
static size_t	nwarned;

static int
collect(void *arg, const char *addr, const char *hash, size_t lineno)
{
	if (ngot < 16)
		snprintf(got[ngot], sizeof(got[0]), "%zu %s %s", lineno, addr,
		    hash);
	ngot++;
	return arg != NULL && ngot == *(size_t *)arg ? -1 : 0;
}

static void
warn(const char *msg)
{
	if (nwarned < 16)
		snprintf(warned[nwarned], sizeof(warned[0]), "%s", msg);
	nwarned++;
}

static void
reset(void)
{
	ngot = nwarned = 0;
}

static void
test_parse(void **state)
{
	static const char text[] =
	    "# users\n"
	    "Alice@Example.ORG:$y$j9T$salt$hash\n"
	    "\n"
	    "bob@example.org:$6$rounds=5000$s$h:with:colons\r\n"
	    "no-colon-here\n"
	    "@example.org:$6$x\n"
	    "a..b@example.org:$6$x\n"
	    "c@-bad-.example:$6$x\n"
	    "nul@example.org:$6$\0x\n"
	    "carol@example.org:\n"
	    "dave@example.org:$2b$10$last";
	size_t	nbad;

	reset();
	assert_int_equal(users_parse("users", text, sizeof(text) - 1, collect,
	    NULL, &nbad, warn), 0);
	assert_int_equal(ngot, 4);
	assert_string_equal(got[0], "2 alice@example.org $y$j9T$salt$hash");
	assert_string_equal(got[1],
	    "4 bob@example.org $6$rounds=5000$s$h:with:colons");
	assert_string_equal(got[2], "10 carol@example.org ");
	assert_string_equal(got[3], "11 dave@example.org $2b$10$last");
	assert_int_equal(nbad, 7);
	assert_int_equal(nwarned, 7);
	/*
	 * Bob's and Carol's hashes are no use to crypt(3) (a ':' is no hash
	 * character; empty): reported and counted, but still users.
	 */
	assert_string_equal(warned[0], "users:4: bob@example.org: hash not "
	    "usable by crypt(3), this user cannot log in");
	assert_string_equal(warned[1], "users:5: expected address:hash");
	assert_string_equal(warned[2], "users:6: bad local part");
	assert_string_equal(warned[3], "users:7: bad local part");
	assert_string_equal(warned[4], "users:8: bad domain");
	assert_string_equal(warned[5], "users:9: NUL byte in line");
	assert_string_equal(warned[6], "users:10: carol@example.org: empty "
	    "hash, this user cannot log in");
}

static void
test_parse_limits(void **state)
{
	char	*text, *p;
	size_t	 nbad, stop = 2;

	/* A line over the limit is reported, the next one still read. */
	text = malloc(4000);
	assert_non_null(text);
	p = text;
	p += sprintf(p, "long@example.org:");
	memset(p, 'h', 1500);
	p += 1500;
	p += sprintf(p, "\nshort@example.org:$6$s$h\n");
	reset();
	assert_int_equal(users_parse("f", text, (size_t)(p - text), collect,
	    NULL, &nbad, warn), 0);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0], "2 short@example.org $6$s$h");
	assert_int_equal(nbad, 1);
	assert_string_equal(warned[0], "f:1: line too long");

	/* The callback stops the parse. */
	reset();
	assert_int_equal(users_parse("f", S("a@b.example:1\nc@d.example:2\n"
	    "e@f.example:3\n"), collect, &stop, &nbad, NULL), -1);
	assert_int_equal(ngot, 2);

	/* Nothing at all. */
	reset();
	assert_int_equal(users_parse("f", "", 0, collect, NULL, &nbad, warn),
	    0);
	assert_int_equal(ngot, 0);
	assert_int_equal(nbad, 0);
	free(text);
}

static void
test_load(void **state)
{
	char		 path[] = "/tmp/test_users.XXXXXX", err[256];
	char		*text;
	size_t		 nbad, len;
	struct userset	 us;
	int		 fd;
	static const char content[] =
	    "zed@example.org:$y$1\n"
	    "Amy@Example.org:$y$2\n"
	    "bad\n"
	    "amy@example.org:$y$3\n";

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, content, sizeof(content) - 1),
	    (ssize_t)sizeof(content) - 1);
	close(fd);

	assert_int_equal(users_read(path, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(len, sizeof(content) - 1);
	assert_memory_equal(text, content, len);
	assert_int_equal(text[len], '\0');
	free(text);

	reset();
	assert_int_equal(users_load(path, &us, &nbad, warn, err, sizeof(err)),
	    0);
	assert_int_equal(us.n, 2);
	assert_string_equal(us.addrs[0], "amy@example.org");
	assert_string_equal(us.addrs[1], "zed@example.org");
	assert_int_equal(nbad, 1);
	assert_true(users_contains(&us, "AMY@example.ORG"));
	assert_false(users_contains(&us, "bob@example.org"));
	users_free(&us);

	unlink(path);
	assert_int_equal(users_load(path, &us, &nbad, warn, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(users_read(path, &text, &len, err, sizeof(err)), -1);

	assert_int_equal(users_load_text("t", S("x@y.example:h\n"), &us,
	    &nbad, NULL, err, sizeof(err)), 0);
	assert_int_equal(us.n, 1);
	users_free(&us);
}

/*
 * Hashes crypt(3) cannot use: the cheap check of every load finds the
 * empty ones and unknown methods (locks like "*" and "!"); the thorough
 * one of smtpauthd -n also finds hashes no password can match.
 */
static void
test_unusable_hashes(void **state)
{
	struct crypt_data	*cd;
	char			 text[1024], good[256];
	const char		*h;
	size_t			 nbad;
	int			 n;

	assert_non_null(cd = calloc(1, sizeof(*cd)));
	h = crypt_r("secret", "$6$saltsaltsalt$", cd);
	assert_true(h != NULL && h[0] == '$');
	snprintf(good, sizeof(good), "%s", h);
	free(cd);

	n = snprintf(text, sizeof(text),
	    "ok@example.org:%s\n"
	    "empty@example.org:\n"
	    "star@example.org:*\n"
	    "bang@example.org:!%s\n"
	    "short@example.org:%.*s\n"
	    "mangled@example.org:$y$j9T$abc$def\n"
	    "unknown@example.org:$9$whatever\n",
	    good, good, (int)strlen(good) - 5, good);
	assert_true(n > 0 && (size_t)n < sizeof(text));

	reset();
	assert_int_equal(users_parse("u", text, (size_t)n, collect, NULL,
	    &nbad, warn), 0);
	assert_int_equal(ngot, 7);		/* every one still a user */
	assert_int_equal(nbad, 4);
	assert_string_equal(warned[0], "u:2: empty@example.org: empty hash, "
	    "this user cannot log in");
	assert_string_equal(warned[1], "u:3: star@example.org: hash not "
	    "usable by crypt(3), this user cannot log in");
	assert_non_null(strstr(warned[2], "u:4: bang@example.org: hash not "
	    "usable"));
	assert_non_null(strstr(warned[3], "u:7: unknown@example.org: hash "
	    "not usable"));

	/* The thorough check adds the two that pass the cheap one. */
	reset();
	assert_int_equal(users_check_hashes("u", text, (size_t)n, warn), 2);
	assert_int_equal(nwarned, 2);
	assert_non_null(strstr(warned[0], "u:5: short@example.org: hash not "
	    "usable by crypt(3)"));
	assert_non_null(strstr(warned[1], "u:6: mangled@example.org: hash "
	    "not usable by crypt(3)"));

	/* A good file passes both. */
	n = snprintf(text, sizeof(text), "ok@example.org:%s\n", good);
	reset();
	assert_int_equal(users_parse("u", text, (size_t)n, collect, NULL,
	    &nbad, warn), 0);
	assert_int_equal(nbad, 0);
	assert_int_equal(users_check_hashes("u", text, (size_t)n, warn), 0);
	assert_int_equal(nwarned, 0);
}

/* A file larger than the first read buffer. */
static void
test_read_large(void **state)
{
	char		 path[] = "/tmp/test_users.XXXXXX", err[256];
	char		*text;
	size_t		 nbad, len, i;
	struct userset	 us;
	FILE		*fp;
	int		 fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	for (i = 0; i < 5000; i++)
		fprintf(fp, "user%zu@example.org:$y$j9T$%zu\n", i, i);
	fclose(fp);
	assert_int_equal(users_read(path, &text, &len, err, sizeof(err)), 0);
	assert_true(len > 100000);
	free(text);
	assert_int_equal(users_load(path, &us, &nbad, NULL, err, sizeof(err)),
	    0);
	assert_int_equal(us.n, 5000);
	assert_int_equal(nbad, 0);
	assert_true(users_contains(&us, "user4999@example.org"));
	users_free(&us);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_unusable_hashes),
		cmocka_unit_test(test_read_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
