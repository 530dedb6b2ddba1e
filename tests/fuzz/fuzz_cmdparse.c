/*
 * libFuzzer harness for command lines: the input is split into lines at
 * LF (a CR before it dropped), and every line goes through cmdparse_line and
 * its arguments through the MAIL, RCPT and BDAT parsers, whatever the verb,
 * so each parser sees every shape of input.
 *
 * Each line is copied to a heap block of its exact length, so that a read
 * past the length the parsers were given is caught by ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "server/smtp/cmdparse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check_reply(const struct cmd_error *);
static void	check_addr(const struct mailaddr *);
static void	one_line(const char *, size_t);

/* Every refusal is a complete reply line: "DDD D.D.D text", no CR/LF. */
static void
check_reply(const struct cmd_error *err)
{
	const char	*r = err->reply;

	if (r == NULL || strlen(r) < 10 || r[3] != ' ' ||
	    (r[0] != '5' && r[0] != '4') || strpbrk(r, "\r\n") != NULL)
		abort();
}

static void
check_addr(const struct mailaddr *a)
{
	char	buf[ADDR_PATH_MAX + 1];
	size_t	l, d;

	l = strnlen(a->local, sizeof(a->local));
	d = strnlen(a->domain, sizeof(a->domain));
	if (l > ADDR_LOCAL_MAX || d > ADDR_DOMAIN_MAX)
		abort();
	/* The whole path was at most 256 octets, so its parts fit. */
	if (addr_format(a, buf, sizeof(buf)) != 0)
		abort();
	if (memchr(a->local, ' ', l) != NULL && a->local[0] != '"')
		abort();
	if (d > 0 && !addr_valid_domain(a->domain, d, 1))
		abort();
	if (strpbrk(buf, "\r\n\t<>") != NULL && a->local[0] != '"')
		abort();
}

static void
one_line(const char *line, size_t len)
{
	struct smtp_command	 cmd;
	struct mail_args	 m;
	struct rcpt_args	 r;
	struct cmd_error	 err;
	uint64_t		 size;
	int			 last, utf8;

	if (cmdparse_line(line, len, &cmd) == -1) {
		if (len != 0)
			abort();
		return;
	}
	if (cmd.args < line || cmd.args + cmd.argslen > line + len ||
	    (unsigned)cmd.verb >= VERB_COUNT ||
	    cmdparse_verb_name(cmd.verb) == NULL)
		abort();

	if (cmdparse_mail(cmd.args, cmd.argslen, &m, &err) == 0) {
		if (err.reply != NULL)
			abort();
		check_addr(&m.from);
		if (strnlen(m.auth, sizeof(m.auth)) >= sizeof(m.auth))
			abort();
		if (m.body != BODY_7BIT && m.body != BODY_8BITMIME)
			abort();
	} else
		check_reply(&err);

	for (utf8 = 0; utf8 < 2; utf8++) {
		if (cmdparse_rcpt(cmd.args, cmd.argslen, utf8, &r, &err) == 0) {
			if (err.reply != NULL)
				abort();
			/* <> is never a recipient. */
			if (r.to.local[0] == '\0')
				abort();
			check_addr(&r.to);
		} else
			check_reply(&err);
	}

	if (cmdparse_bdat(cmd.args, cmd.argslen, &size, &last) == 0 &&
	    last != 0 && last != 1)
		abort();

	/* The whole line as a domain, too (EHLO arguments are checked so). */
	(void)addr_valid_domain(line, len, 0);
	(void)addr_valid_domain(cmd.args, cmd.argslen, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *nl;
	size_t		 len;
	char		*copy;

	while (size > 0) {
		if ((nl = memchr(s, '\n', size)) == NULL)
			len = size;
		else
			len = (size_t)(nl - s);
		copy = malloc(len ? len : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, s, len);
		one_line(copy, len > 0 && copy[len - 1] == '\r' ? len - 1 :
		    len);
		free(copy);
		if (nl == NULL)
			break;
		size -= len + 1;
		s += len + 1;
	}
	return 0;
}
