/*
 * The reader of Dovecot's auth-client protocol: framing and lines, table
 * driven, as a real Dovecot 2.3 and 2.4 send them and as a broken one
 * might.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/auth/dovecot_proto.h"

struct pcase {
	const char	*in;
	enum dvc_kind	 kind;
	uint32_t	 id;
	int		 temp;
	const char	*mech;
};

static const struct pcase pcases[] = {
	{ "VERSION\t1\t2", DVC_VERSION, 0, 0, NULL },
	{ "VERSION\t1\t3\textra", DVC_VERSION, 0, 0, NULL },
	{ "VERSION\t1", DVC_BAD, 0, 0, NULL },
	{ "VERSION\tone\t2", DVC_BAD, 0, 0, NULL },
	{ "MECH\tPLAIN\tplaintext", DVC_MECH, 0, 0, "PLAIN" },
	{ "MECH\tSCRAM-SHA-256", DVC_MECH, 0, 0, "SCRAM-SHA-256" },
	{ "MECH", DVC_BAD, 0, 0, NULL },
	{ "MECH\t", DVC_BAD, 0, 0, NULL },
	{ "SPID\t1272", DVC_IGNORE, 0, 0, NULL },
	{ "CUID\t1", DVC_IGNORE, 0, 0, NULL },
	{ "COOKIE\t079d5b808aa9d117f4b2e0a32165caa9", DVC_IGNORE, 0, 0, NULL },
	{ "DONE", DVC_DONE, 0, 0, NULL },
	{ "OK\t1\tuser=alice@example.org", DVC_OK, 1, 0, NULL },
	{ "OK\t4294967295", DVC_OK, 4294967295u, 0, NULL },
	{ "OK\t4294967296", DVC_BAD, 0, 0, NULL },
	{ "OK\t0", DVC_BAD, 0, 0, NULL },
	{ "OK\t01", DVC_BAD, 0, 0, NULL },
	{ "OK\t+1", DVC_BAD, 0, 0, NULL },
	{ "OK", DVC_BAD, 0, 0, NULL },
	{ "FAIL\t2\tuser=alice@example.org", DVC_FAIL, 2, 0, NULL },
	{ "FAIL\t3\ttemp", DVC_FAIL, 3, 1, NULL },
	{ "FAIL\t4\tcode=temp_fail\treason=x", DVC_FAIL, 4, 1, NULL },
	{ "FAIL\t5\tcode=authz_fail", DVC_FAIL, 5, 0, NULL },
	{ "FAIL\t6\ttemporary", DVC_FAIL, 6, 0, NULL },
	{ "CONT\t7\tdGVzdA==", DVC_CONT, 7, 0, NULL },
	{ "NOTICE\tsomething new", DVC_IGNORE, 0, 0, NULL },
	{ "", DVC_IGNORE, 0, 0, NULL },
	{ "OK\t1\r", DVC_BAD, 0, 0, NULL },
};

static void
test_parse(void **state)
{
	struct dvc_line	l;
	size_t		i;

	for (i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];

		assert_int_equal(dvc_parse(c->in, strlen(c->in), &l), c->kind);
		assert_int_equal(l.kind, c->kind);
		if (c->kind == DVC_OK || c->kind == DVC_FAIL ||
		    c->kind == DVC_CONT)
			assert_int_equal(l.id, c->id);
		assert_int_equal(l.temp, c->temp);
		if (c->mech != NULL)
			assert_string_equal(l.mech, c->mech);
	}
}

static void
test_parse_version_numbers(void **state)
{
	struct dvc_line	l;

	assert_int_equal(dvc_parse("VERSION\t1\t2", 11, &l), DVC_VERSION);
	assert_int_equal(l.major, 1);
	assert_int_equal(l.minor, 2);
}

static void
test_parse_nul_and_length(void **state)
{
	struct dvc_line	 l;
	char		*big;

	/* A NUL inside the line: the line is not a C string here. */
	assert_int_equal(dvc_parse("OK\t1\0x", 6, &l), DVC_BAD);
	/* The length given is what counts, not a NUL after it. */
	assert_int_equal(dvc_parse("DONEXYZ", 4, &l), DVC_DONE);
	big = malloc(DVC_LINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'A', DVC_LINE_MAX + 1);
	assert_int_equal(dvc_parse(big, DVC_LINE_MAX + 1, &l), DVC_BAD);
	free(big);
}

/* The fields of the SASL pass-through: MECH flags, CONT data, user=, resp=. */
static void
test_parse_sasl_fields(void **state)
{
	struct dvc_line	l;
	const char	*line;

	line = "MECH\tCRAM-MD5\tdictionary\tactive";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_MECH);
	assert_int_equal(l.plaintext, 0);
	assert_int_equal(l.private_, 0);
	line = "MECH\tLOGIN\tplaintext";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_MECH);
	assert_int_equal(l.plaintext, 1);
	line = "MECH\tANONYMOUS\tanonymous";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_MECH);
	assert_int_equal(l.private_, 1);
	line = "MECH\tEXTERNAL\tprivate";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_MECH);
	assert_int_equal(l.private_, 1);

	line = "CONT\t7\tdGVzdA==";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_CONT);
	assert_int_equal(l.have_data, 1);
	assert_int_equal(l.datalen, 8);
	assert_memory_equal(l.data, "dGVzdA==", 8);
	line = "CONT\t8";		/* an empty challenge */
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_CONT);
	assert_int_equal(l.have_data, 1);
	assert_int_equal(l.datalen, 0);
	line = "CONT\t9\t";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_CONT);
	assert_int_equal(l.datalen, 0);

	line = "OK\t1\tuser=alice@example.org\tresp=dj1zaWc=";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_OK);
	assert_int_equal(l.userlen, 17);
	assert_memory_equal(l.user, "alice@example.org", 17);
	assert_int_equal(l.have_data, 1);
	assert_int_equal(l.datalen, 8);
	line = "OK\t1\tuser=bob";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_OK);
	assert_int_equal(l.have_data, 0);
	/* FAIL has no final data, whatever it says. */
	line = "FAIL\t2\tuser=bob\tresp=eA==";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_FAIL);
	assert_int_equal(l.have_data, 0);
	assert_int_equal(l.userlen, 3);
	line = "FAIL\t2";
	assert_int_equal(dvc_parse(line, strlen(line), &l), DVC_FAIL);
	assert_null(l.user);
}

static void
test_frame(void **state)
{
	char	*big;
	size_t	 len = 99;

	assert_int_equal(dvc_frame("DONE\nOK", 7, &len), 1);
	assert_int_equal(len, 4);
	assert_int_equal(dvc_frame("\n", 1, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(dvc_frame("DON", 3, &len), 0);
	assert_int_equal(dvc_frame("", 0, &len), 0);
	big = malloc(DVC_LINE_MAX + 2);
	assert_non_null(big);
	memset(big, 'x', DVC_LINE_MAX + 2);
	/* The longest line there may be, then one octet too long. */
	assert_int_equal(dvc_frame(big, DVC_LINE_MAX, &len), 0);
	big[DVC_LINE_MAX] = '\n';
	assert_int_equal(dvc_frame(big, DVC_LINE_MAX + 1, &len), 1);
	assert_int_equal(len, DVC_LINE_MAX);
	big[DVC_LINE_MAX] = 'x';
	assert_int_equal(dvc_frame(big, DVC_LINE_MAX + 1, &len), -1);
	big[DVC_LINE_MAX + 1] = '\n';
	assert_int_equal(dvc_frame(big, DVC_LINE_MAX + 2, &len), -1);
	free(big);
}

/* The auth-master side (dovecot-userdb): USER, NOTFOUND, FAIL by id. */
static void
test_parse_master(void **state)
{
	static const struct {
		const char	*in;
		enum dvc_kind	 kind;
		uint32_t	 id;
	} cases[] = {
		{ "VERSION\t1\t1", DVC_VERSION, 0 },
		{ "SPID\t10068", DVC_IGNORE, 0 },
		{ "USER\t1\talice@example.org\tuid=65534\thome=/h", DVC_USER, 1 },
		{ "USER\t4294967295\tbob", DVC_USER, 4294967295u },
		{ "NOTFOUND\t2", DVC_NOTFOUND, 2 },
		{ "FAIL\t3\treason=backend down", DVC_FAIL, 3 },
		{ "FAIL\t3", DVC_FAIL, 3 },
		{ "USER\t1", DVC_BAD, 0 },		/* no name */
		{ "USER\t1\t", DVC_BAD, 0 },		/* an empty one */
		{ "USER\t0\tx", DVC_BAD, 0 },		/* id 0 */
		{ "NOTFOUND", DVC_BAD, 0 },
		{ "NOTFOUND\t01", DVC_BAD, 0 },	/* leading zero */
		{ "NOTFOUND\t4294967296", DVC_BAD, 0 },
		{ "FAIL\tx", DVC_BAD, 0 },
		{ "USER\t1\tx\r", DVC_BAD, 0 },
		{ "MECH\tPLAIN", DVC_IGNORE, 0 },	/* not this protocol's */
		{ "OK\t1", DVC_IGNORE, 0 },
	};
	struct dvc_line	l;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dvc_parse_master(cases[i].in,
		    strlen(cases[i].in), &l), cases[i].kind);
		if (cases[i].id != 0)
			assert_int_equal(l.id, cases[i].id);
		assert_int_equal(l.temp, cases[i].kind == DVC_FAIL);
	}
	assert_int_equal(dvc_parse_master("USER\t9\tcarol\tuid=1", 18, &l),
	    DVC_USER);
	assert_int_equal(l.userlen, 5);
	assert_memory_equal(l.user, "carol", 5);
	assert_int_equal(dvc_parse_master("NOTFOUND\t1\0", 12, &l), DVC_BAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_version_numbers),
		cmocka_unit_test(test_parse_nul_and_length),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_parse_sasl_fields),
		cmocka_unit_test(test_parse_master),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
