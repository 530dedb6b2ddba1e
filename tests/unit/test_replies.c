/*
 * The smtp workers' one table of replies (src/server/smtp/replies.h):
 * every reply of DESIGN.md's reply table is in it, word for word ("HOST"
 * and "ID" stand for a %s); and no reply with a status code is typed in
 * place anywhere else in src/server/smtp/.  Run from the top of the tree
 * (make check-unit does); DESIGN.md is the project's ../shared/DESIGN.md.
 */
#include <sys/types.h>

#include <dirent.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/smtp/replies.h"

#define TABLE	"src/server/smtp/replies.h"
#define SMTPDIR	"src/server/smtp"
#define DESIGN	"../shared/DESIGN.md"
#define MAXREP	256

/* Replies DESIGN.md pins for features still to come, with their issue. */
static const char *const not_yet[] = {
	"451 4.3.0 Temporary lookup failure",		/* auth backends */
	"451 4.7.1 Sending limit exceeded, try later",	/* shared guard */
};

static char	*texts[MAXREP];
static size_t	 ntexts;

static char *
slurp(const char *path)
{
	FILE	*fp;
	char	*buf;
	long	 n;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/*
 * The table's texts, read from the header itself so that a new reply is
 * seen without a second list: each "#define R_NAME" and its string
 * literals, joined (the PRIu64 between two of them becomes %lu).
 */
static int
load_table(void **state)
{
	char	*src, *p, *q, *t;
	size_t	 len;

	src = slurp(TABLE);
	assert_non_null(src);
	for (p = src; (p = strstr(p, "#define R_")) != NULL; p++) {
		t = calloc(1, 512);
		assert_non_null(t);
		len = 0;
		q = p;
		while (*q != '"' && *q != '\n')
			q++;
		while (*q == '"') {
			for (q++; *q != '"'; q++) {
				assert_true(len < 500);
				t[len++] = *q;
			}
			q++;
			while (*q == ' ' || *q == '\t' || *q == '\\' ||
			    *q == '\n')
				q++;
			if (strncmp(q, "PRIu64", 6) == 0) {
				memcpy(t + len, "lu", 2);
				len += 2;
				for (q += 6; *q == ' '; q++)
					;
			}
		}
		assert_true(ntexts < MAXREP);
		texts[ntexts++] = t;
	}
	free(src);
	assert_true(ntexts > 50);
	return 0;
}

static int
free_table(void **state)
{
	while (ntexts > 0)
		free(texts[--ntexts]);
	return 0;
}

static int
in_table(const char *want)
{
	size_t	i;

	for (i = 0; i < ntexts; i++)
		if (strncmp(texts[i], want, strlen(want)) == 0)
			return 1;
	return 0;
}

/* Each reply in DESIGN.md's "## Replies" table, `CODE ...` in backquotes. */
static void
test_design_replies_are_in_the_table(void **state)
{
	char	*doc, *p, *end, *q, want[512];
	size_t	 i, n, checked = 0;
	int	 later;

	if ((doc = slurp(DESIGN)) == NULL)
		skip();		/* a checkout without the project's shared/ */
	p = strstr(doc, "\n## Replies");
	assert_non_null(p);
	end = strstr(p + 1, "\n## ");
	assert_non_null(end);
	*end = '\0';
	for (; (p = strchr(p, '`')) != NULL; p = q + 1) {
		q = strchr(p + 1, '`');
		assert_non_null(q);
		if (q - p < 5 || p[1] < '2' || p[1] > '5' || p[4] != ' ')
			continue;
		/* HOST and ID are what the server fills in. */
		for (n = 0, p++; p < q && n < sizeof(want) - 3; p++) {
			if (strncmp(p, "HOST", 4) == 0 ||
			    strncmp(p, "ID", 2) == 0) {
				want[n++] = '%';
				want[n++] = 's';
				p += p[0] == 'H' ? 3 : 1;
			} else
				want[n++] = *p;
		}
		want[n] = '\0';
		for (later = 0, i = 0; i < sizeof(not_yet) / sizeof(*not_yet);
		    i++)
			later |= strcmp(want, not_yet[i]) == 0;
		if (later)
			continue;
		if (!in_table(want))
			fail_msg("DESIGN.md's reply \"%s\" is not in " TABLE,
			    want);
		checked++;
	}
	print_message("%zu replies of DESIGN.md checked\n", checked);
	assert_true(checked >= 25);
	free(doc);
}

/* A status code and an enhanced code: "550 5.7.1", "250-2.0.0". */
static void
test_no_reply_typed_in_place(void **state)
{
	regex_t		 re;
	DIR		*d;
	struct dirent	*de;
	char		 path[512], *src, *line, *nl;
	size_t		 n, bad = 0;

	assert_int_equal(regcomp(&re, "\"[2-5][0-9][0-9][ -][2-5]\\.[0-9]",
	    REG_EXTENDED | REG_NOSUB), 0);
	d = opendir(SMTPDIR);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 3 || strcmp(de->d_name, "replies.h") == 0 ||
		    (strcmp(de->d_name + n - 2, ".c") != 0 &&
		    strcmp(de->d_name + n - 2, ".h") != 0))
			continue;
		snprintf(path, sizeof(path), SMTPDIR "/%s", de->d_name);
		src = slurp(path);
		assert_non_null(src);
		for (line = src, n = 1; line != NULL; line = nl, n++) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl++ = '\0';
			/* Comments may quote a reply. */
			if (strstr(line, "*") == line + strspn(line, " \t"))
				continue;
			if (regexec(&re, line, 0, NULL, 0) == 0) {
				print_error("%s:%zu: a reply outside "
				    TABLE ": %s\n", path, n, line);
				bad++;
			}
		}
		free(src);
	}
	closedir(d);
	regfree(&re);
	assert_int_equal(bad, 0);
}

/* The table is format strings the compiler checks: a use compiles. */
static void
test_texts_are_literals(void **state)
{
	char	buf[128];

	snprintf(buf, sizeof(buf), R_GREETING, "mx.example.org");
	assert_string_equal(buf, "220 mx.example.org ESMTP");
	snprintf(buf, sizeof(buf), R_BDAT_OK, (uint64_t)42);
	assert_string_equal(buf, "250 2.0.0 Ok: 42 octets received");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_replies_are_in_the_table),
		cmocka_unit_test(test_no_reply_typed_in_place),
		cmocka_unit_test(test_texts_are_literals),
	};

	return cmocka_run_group_tests(tests, load_table, free_table);
}
