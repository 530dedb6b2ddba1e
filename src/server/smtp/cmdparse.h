/*
 * SMTP command lines: the verb, and the arguments of MAIL and RCPT with
 * their ESMTP parameters.  Pure functions over bounded input, so that they
 * can be unit-tested and fuzzed apart from the session.
 */
#ifndef SMTPAUTHD_CMDPARSE_H
#define SMTPAUTHD_CMDPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

#define SMTP_LINE_MAX	512	/* command line octets, CRLF included */

enum smtp_verb {
	VERB_UNKNOWN = 0,
	VERB_HELO, VERB_EHLO, VERB_MAIL, VERB_RCPT, VERB_DATA, VERB_BDAT,
	VERB_RSET, VERB_NOOP, VERB_QUIT, VERB_VRFY, VERB_EXPN, VERB_HELP,
	VERB_STARTTLS, VERB_AUTH,
	VERB_HTTP,	/* GET, POST, HEAD, PUT, CONNECT, ... (ALPACA) */
	VERB_COUNT
};

struct smtp_command {
	enum smtp_verb	 verb;
	const char	*args;		/* after the verb and one space; */
	size_t		 argslen;	/* trailing spaces removed */
};

/*
 * Split a command line (without its CRLF; len octets, may contain NUL which
 * makes it VERB_UNKNOWN) into verb and arguments.  Verbs are matched without
 * case and must be followed by a space or the end of the line.  Returns 0,
 * or -1 for an empty line.
 */
int		cmdparse_line(const char *line, size_t len,
		    struct smtp_command *);

const char	*cmdparse_verb_name(enum smtp_verb);

enum body_type { BODY_7BIT = 0, BODY_8BITMIME };

/* What MAIL FROM carried. */
struct mail_args {
	struct mailaddr	from;
	int		has_size;
	uint64_t	size;
	enum body_type	body;
	int		smtputf8;
	int		has_auth;			/* AUTH= given (RFC 4954 5) */
	char		auth[ADDR_PATH_MAX + 3];	/* xtext-decoded, or "<>" */
};

struct rcpt_args {
	struct mailaddr	to;
};

/*
 * Result of parsing MAIL/RCPT arguments: 0 and the reply is not needed, or
 * the reply that refuses the command (a full line without CRLF, e.g.
 * "501 5.5.4 Syntax: MAIL FROM:<address>").
 */
struct cmd_error {
	const char	*reply;
};

/*
 * "FROM:<path> [params]".  Accepted parameters: SIZE=n, BODY=7BIT|8BITMIME,
 * SMTPUTF8, AUTH=xtext.  An unknown parameter is refused with
 * "555 5.5.4 Unsupported parameter".  Returns 0 on success, -1 and err set
 * otherwise.
 */
int	cmdparse_mail(const char *args, size_t len, struct mail_args *,
	    struct cmd_error *err);

/*
 * "TO:<path>".  smtputf8 says whether the transaction's MAIL had SMTPUTF8.
 * No RCPT parameters are supported (555 5.5.4).  <postmaster> without a
 * domain is accepted with an empty domain.  Returns 0 or -1 with err set.
 */
int	cmdparse_rcpt(const char *args, size_t len, int smtputf8,
	    struct rcpt_args *, struct cmd_error *err);

/*
 * "size [LAST]" of BDAT (RFC 3030).  Returns 0 and fills size/last, or -1
 * (501 5.5.4).
 */
int	cmdparse_bdat(const char *args, size_t len, uint64_t *size, int *last);

#endif
