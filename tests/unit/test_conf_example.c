/*
 * The defaults that the documentation states are the code's: every
 * "#directive value" line of etc/smtpauthd.conf, and every "The default
 * is N." of a directive in doc/smtpauthd.conf.5, set nothing when added to
 * a minimal configuration: the parsed result is the same as without it.
 * Run from the top of the tree (make check-unit does).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/shared/config.h"

#define MINIMAL	"listen 127.0.0.1:2525 smtp\nspool /var/spool/smtpauthd\n"
#define EXAMPLE	"etc/smtpauthd.conf"
#define MANPAGE	"doc/smtpauthd.conf.5"

static int
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
same_strings(char *const *a, char *const *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!same_string(a[i], b[i]))
			return 0;
	return 1;
}

/*
 * Every setting of a and b alike?  The pointed-to values are compared,
 * then the pointers are cleared in copies and the rest compared as bytes
 * (both came from calloc, so padding is zero): a scalar field added later
 * is covered without a change here.
 */
static int
same_config(const struct config *a, const struct config *b)
{
	struct config	x = *a, y = *b;
	size_t		i;

	if (x.nlistens != y.nlistens || x.ntls_cert != y.ntls_cert ||
	    x.ntls_key != y.ntls_key || x.nlocal_domains != y.nlocal_domains ||
	    x.nauth_exempt != y.nauth_exempt ||
	    x.nproxy_from != y.nproxy_from)
		return 0;
	for (i = 0; i < x.nlistens; i++)
		if (memcmp(&x.listens[i], &y.listens[i],
		    sizeof(x.listens[i])) != 0)
			return 0;
	if (x.nauth_exempt > 0 && memcmp(x.auth_exempt, y.auth_exempt,
	    x.nauth_exempt * sizeof(*x.auth_exempt)) != 0)
		return 0;
	if (x.nproxy_from > 0 && memcmp(x.proxy_from, y.proxy_from,
	    x.nproxy_from * sizeof(*x.proxy_from)) != 0)
		return 0;
	if (!same_strings(x.tls_cert, y.tls_cert, x.ntls_cert) ||
	    !same_strings(x.tls_key, y.tls_key, x.ntls_key) ||
	    !same_strings(x.local_domains, y.local_domains,
	    x.nlocal_domains) ||
	    !same_string(x.path, y.path) ||
	    !same_string(x.hostname, y.hostname) ||
	    !same_string(x.users, y.users) ||
	    !same_string(x.mailbox_root, y.mailbox_root) ||
	    !same_string(x.spool, y.spool) ||
	    !same_string(x.relay_host, y.relay_host) ||
	    !same_string(x.relay_name, y.relay_name) ||
	    !same_string(x.relay_ca_file, y.relay_ca_file) ||
	    !same_string(x.relay_auth, y.relay_auth) ||
	    !same_string(x.resolver, y.resolver) ||
	    !same_string(x.user, y.user))
		return 0;
	x.path = y.path = NULL;
	x.hostname = y.hostname = NULL;
	x.listens = y.listens = NULL;
	memset(x.tls_cert, 0, sizeof(x.tls_cert));
	memset(y.tls_cert, 0, sizeof(y.tls_cert));
	memset(x.tls_key, 0, sizeof(x.tls_key));
	memset(y.tls_key, 0, sizeof(y.tls_key));
	x.users = y.users = NULL;
	x.local_domains = y.local_domains = NULL;
	x.mailbox_root = y.mailbox_root = NULL;
	x.spool = y.spool = NULL;
	x.relay_host = y.relay_host = NULL;
	x.relay_name = y.relay_name = NULL;
	x.relay_ca_file = y.relay_ca_file = NULL;
	x.relay_auth = y.relay_auth = NULL;
	x.resolver = y.resolver = NULL;
	x.auth_exempt = y.auth_exempt = NULL;
	x.proxy_from = y.proxy_from = NULL;
	x.user = y.user = NULL;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/* Does "directive value" only state the default? */
static void
check_default(const char *where, const char *line)
{
	struct config	*base, *with;
	char		 text[1024], err[256];
	int		 n;

	n = snprintf(text, sizeof(text), "%s%s\n", MINIMAL, line);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	if ((base = config_parse("t.conf", MINIMAL, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	if ((with = config_parse("t.conf", text, err, sizeof(err))) == NULL)
		fail_msg("%s: \"%s\" is not valid: %s", where, line, err);
	if (!same_config(base, with))
		fail_msg("%s: \"%s\" is not the default", where, line);
	config_free(base);
	config_free(with);
}

static FILE *
open_doc(const char *path)
{
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		fail_msg("%s: cannot open (run from the top of the tree)", path);
	return f;
}

static void
test_example_defaults(void **state)
{
	FILE	*f = open_doc(EXAMPLE);
	char	 line[512], where[64];
	size_t	 len;
	int	 lineno = 0, seen = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		len = strcspn(line, "\n");
		line[len] = '\0';
		/* "#directive value": a default; "# text": a comment. */
		if (line[0] != '#' || !islower((unsigned char)line[1]))
			continue;
		snprintf(where, sizeof(where), "%s:%d", EXAMPLE, lineno);
		check_default(where, line + 1);
		seen++;
	}
	fclose(f);
	/* The file shows the guard's and the limits' defaults at least. */
	assert_true(seen >= 10);
}

static void
test_manpage_defaults(void **state)
{
	FILE		*f = open_doc(MANPAGE);
	char		 line[512], name[64] = "", where[64], setting[128];
	unsigned long	 v;
	int		 lineno = 0, seen = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		/* A directive's entry, then its "The default is N." */
		if (sscanf(line, ".It Ic %63[a-z0-9-]", name) == 1)
			continue;
		if (strncmp(line, ".It ", 4) == 0 || strncmp(line, ".El", 3) ==
		    0 || strncmp(line, ".Sh ", 4) == 0) {
			name[0] = '\0';
			continue;
		}
		if (name[0] == '\0' ||
		    sscanf(line, "The default is %lu", &v) != 1)
			continue;
		snprintf(where, sizeof(where), "%s:%d", MANPAGE, lineno);
		snprintf(setting, sizeof(setting), "%s %lu", name, v);
		check_default(where, setting);
		seen++;
	}
	fclose(f);
	assert_true(seen >= 10);
}

/* The comparison itself sees a change. */
static void
test_a_change_is_seen(void **state)
{
	struct config	*base, *with;
	char		 err[256];

	base = config_parse("t.conf", MINIMAL, err, sizeof(err));
	with = config_parse("t.conf", MINIMAL "max-sessions-per-ip 20\n", err,
	    sizeof(err));
	assert_non_null(base);
	assert_non_null(with);
	assert_false(same_config(base, with));
	config_free(with);
	with = config_parse("t.conf", MINIMAL "relay-host mx.example:25\n",
	    err, sizeof(err));
	assert_non_null(with);
	assert_false(same_config(base, with));
	config_free(with);
	config_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_change_is_seen),
		cmocka_unit_test(test_example_defaults),
		cmocka_unit_test(test_manpage_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
