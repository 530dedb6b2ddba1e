/*
 * libFuzzer harness for smtpauth check's targets file (--targets) and
 * port lists (--ports, ports=).  Whatever the input, the parser either
 * refuses it with "targets:LINE: ..." or returns targets that keep its
 * promises: a host, a port 1..65535, NUL-terminated strings, a known
 * role and TLS mode, and at most CK_TARGETS_MAX of them.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/check_priv.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_target(const struct ck_target *);

static void
check_target(const struct ck_target *t)
{
	assert(memchr(t->host, '\0', sizeof(t->host)) != NULL);
	assert(t->host[0] != '\0');
	assert(t->port >= 1 && t->port <= 65535);
	assert(memchr(t->user, '\0', sizeof(t->user)) != NULL);
	assert(memchr(t->password_file, '\0',
	    sizeof(t->password_file)) != NULL);
	assert(memchr(t->to, '\0', sizeof(t->to)) != NULL);
	assert(strpbrk(t->user, "\r\n") == NULL);
	assert(t->role == ROLE_UNKNOWN || t->role == ROLE_MX ||
	    t->role == ROLE_SUBMISSION);
	assert(t->tls >= TLSMODE_DEFAULT && t->tls <= TLSMODE_NONE);
	assert(t->password_file[0] == '\0' || t->user[0] != '\0');
	assert(t->line >= 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ck_port		 ports[CK_PORTS_MAX];
	struct ck_target	*t = NULL;
	char			 err[512], *list;
	size_t			 n = 0, i, np = 0;
	FILE			*fp;

	/* The whole input as a --ports list: refused, or sane ports. */
	if ((list = malloc(size + 1)) == NULL)
		return 0;
	memcpy(list, data, size);
	list[size] = '\0';
	if (ck_ports_parse(list, ports, &np, err, sizeof(err)) == 0) {
		assert(np >= 1 && np <= CK_PORTS_MAX);
		for (i = 0; i < np; i++)
			assert(ports[i].port >= 1 && ports[i].port <= 65535);
	} else
		assert(strncmp(err, "ports: ", 7) == 0);
	free(list);

	/* The input as a targets file. */
	if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (ck_targets_parse(fp, "targets", NULL, 0, &t, &n, err,
	    sizeof(err)) == 0) {
		assert(n >= 1 && n <= CK_TARGETS_MAX);
		for (i = 0; i < n; i++)
			check_target(&t[i]);
		free(t);
	} else
		assert(strncmp(err, "targets", 7) == 0 ||
		    strcmp(err, "out of memory") == 0);
	(void)fclose(fp);
	return 0;
}
