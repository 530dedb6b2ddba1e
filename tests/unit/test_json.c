/*
 * json_string: any bytes a server sends come out as valid, ASCII JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/json.h"

static void
expect(const char *in, const char *out)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	assert_non_null(fp = open_memstream(&buf, &len));
	json_string(fp, in);
	assert_int_equal(fclose(fp), 0);
	assert_string_equal(buf, out);
	free(buf);
}

static void
test_plain(void **state)
{
	expect("", "\"\"");
	expect("250 2.0.0 Ok", "\"250 2.0.0 Ok\"");
}

static void
test_escapes(void **state)
{
	expect("a\"b\\c", "\"a\\\"b\\\\c\"");
	expect("l1\nl2\tx", "\"l1\\nl2\\tx\"");
	expect("\r\x01\x1f", "\"\\u000d\\u0001\\u001f\"");
	/* DEL and every octet above: escaped one by one, never raw. */
	expect("\x7f\xc3\xa9\xff", "\"\\u007f\\u00c3\\u00a9\\u00ff\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
