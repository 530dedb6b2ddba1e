/*
 * Unit tests for log_escape(): no client text can make a log value hold a
 * space, '=', '"' or a control octet, whatever its bytes, and the value
 * decodes back to the text it came from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* \xHH back to the octet; the inverse that smtpauthd.8 documents. */
static size_t
unescape(const char *s, char *out)
{
	size_t		o = 0;
	unsigned	v;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] == 'x' &&
		    sscanf(s + 2, "%2x", &v) == 1) {
			out[o++] = (char)v;
			s += 4;
		} else
			out[o++] = *s++;
	}
	return o;
}

static void
test_escape_table(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} table[] = {
		{ "alice@example.org", "alice@example.org" },
		{ "x result=fail ip=10.6.6.6 y",
		    "x\\x20result\\x3dfail\\x20ip\\x3d10.6.6.6\\x20y" },
		{ "q\"uote", "q\\x22uote" },
		{ "back\\slash", "back\\x5cslash" },
		{ "tab\there", "tab\\x09here" },
		{ "nl\r\nx", "nl\\x0d\\x0ax" },
		{ "caf\xc3\xa9", "caf\\xc3\\xa9" },
		{ "\x7f\x1b[31m", "\\x7f\\x1b[31m" },
	};
	char	buf[256];
	size_t	i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_string_equal(log_escape_str(table[i].in, buf,
		    sizeof(buf)), table[i].out);
	/* A NUL inside the text is an octet like any other. */
	assert_string_equal(log_escape("a\0b", 3, buf, sizeof(buf)),
	    "a\\x00b");
}

/*
 * Every octet value, alone and in a run: what comes out is printable
 * ASCII without space, '=' or '"', and unescapes to the input.
 */
static void
test_escape_every_octet(void **state)
{
	char	in[256], buf[256 * 4 + 1], back[256];
	size_t	i, n;

	for (i = 0; i < 256; i++)
		in[i] = (char)i;
	log_escape(in, sizeof(in), buf, sizeof(buf));
	for (i = 0; buf[i] != '\0'; i++) {
		assert_true(buf[i] > 0x20 && buf[i] < 0x7f);
		assert_true(buf[i] != '=' && buf[i] != '"');
	}
	assert_null(strstr(buf, "..."));
	n = unescape(buf, back);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(back, in, sizeof(in));
}

/* Text that does not fit is cut before an escape, never inside one. */
static void
test_escape_cut(void **state)
{
	char	buf[12];
	size_t	len;

	/* Fits exactly: no "...". */
	assert_string_equal(log_escape_str("abcdefghijk", buf, sizeof(buf)),
	    "abcdefghijk");
	assert_string_equal(log_escape_str("a b", buf, sizeof(buf)),
	    "a\\x20b");
	/* One too many: cut, with room for the marker. */
	log_escape_str("abcdefghijkl", buf, sizeof(buf));
	assert_string_equal(buf, "abcdefgh...");
	log_escape_str("abcdefg hij", buf, sizeof(buf));
	assert_string_equal(buf, "abcdefg...");
	len = strlen(log_escape_str("\x01\x02\x03", buf, sizeof(buf)));
	assert_true(len < sizeof(buf));
	assert_string_equal(buf, "\\x01\\x02...");
	assert_string_equal(log_escape_str("abc", buf, 1), "");
}

/* What log-format json writes for one log_info() line. */
static void
json_of(const char *line, char *out, size_t len)
{
	FILE	*fp = tmpfile();
	int	 saved = dup(STDERR_FILENO);
	size_t	 n;

	assert_non_null(fp);
	assert_true(saved >= 0);
	log_init("test", 1);
	log_setproc("queue");
	log_set_json(1);
	fflush(stderr);
	assert_true(dup2(fileno(fp), STDERR_FILENO) >= 0);
	log_info("%s", line);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	log_set_json(0);
	rewind(fp);
	n = fread(out, 1, len - 1, fp);
	out[n] = '\0';
	fclose(fp);
}

static void
test_json_lines(void **state)
{
	char	out[8192], *p;

	json_of("session=0123456789ABCDEF connect ip=192.0.2.1 "
	    "reply=\"550 5.1.1 <a@b>: no=such\" user=\"a\\x20b\"", out,
	    sizeof(out));
	/* The stamp varies; the rest does not. */
	assert_non_null(p = strstr(out, "\"level\":\"info\","));
	assert_int_equal(strncmp(p, "\"level\":\"info\",\"process\":"
	    "\"queue\",\"process_pid\":", 42), 0);
	assert_int_equal(strncmp(out, "{\"time\":\"", 9), 0);
	assert_non_null(strstr(out, ",\"event\":\"connect\","
	    "\"session\":\"0123456789ABCDEF\",\"ip\":\"192.0.2.1\","
	    "\"reply\":\"550 5.1.1 <a@b>: no=such\","
	    "\"user\":\"a\\\\x20b\"}\n"));
	/* Words only: all of it is the event. */
	json_of("stopping", out, sizeof(out));
	assert_non_null(strstr(out, "\"event\":\"stopping\"}\n"));
	/* An octet no log value holds is still JSON. */
	json_of("x=\x01\x7f", out, sizeof(out));
	assert_non_null(strstr(out, "\"x\":\"\\u0001\\u007f\"}\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_every_octet),
		cmocka_unit_test(test_escape_cut),
		cmocka_unit_test(test_json_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
