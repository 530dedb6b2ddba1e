/*
 * The command table of the SMTP session: one row per verb, a check (is it
 * legal now?) and a proceed (do it), and the verbs of the dialogue itself
 * (HELO, EHLO, RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS).  The verbs
 * of the transaction are in session_txn.c, AUTH in session_auth.c.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "server/shared/config.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

/*
 * A row of the command table.  check may not change the session (it gets
 * it const): NULL lets the command proceed, anything else is the reply
 * that refuses it.  proceed is NULL for a verb its check always refuses.
 */
struct command {
	enum smtp_verb	 verb;
	const char	*(*check)(const struct session *,
			    const struct smtp_command *, struct checked *);
	void		(*proceed)(struct session *,
			    const struct smtp_command *,
			    const struct checked *);
	int		 junk;		/* moves no mail: junk-command-limit */
};

static int	session_may_starttls(const struct session *);
static void	refuse(struct session *, const struct smtp_command *,
		    const struct checked *, const char *);
static const char *check_any(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_noargs(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_helo(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_vrfy(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_expn(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_starttls(const struct session *,
		    const struct smtp_command *, struct checked *);
static const char *check_unknown(const struct session *,
		    const struct smtp_command *, struct checked *);
static void	proceed_helo(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_ehlo(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_rset(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_noop(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_quit(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_vrfy(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_help(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_starttls(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	proceed_http(struct session *,
		    const struct smtp_command *, const struct checked *);
static void	helo_common(struct session *, const struct smtp_command *);
static int	helo_is_peer_literal(const struct session *);

/* Every verb: is it legal now (else the refusal), then do it. */
static const struct command commands[] = {
	{ VERB_HELO,		check_helo,	proceed_helo, 0 },
	{ VERB_EHLO,		check_helo,	proceed_ehlo, 0 },
	{ VERB_MAIL,		txn_check_mail,	txn_proceed_mail, 0 },
	{ VERB_RCPT,		txn_check_rcpt,	txn_proceed_rcpt, 0 },
	{ VERB_DATA,		txn_check_data,	txn_proceed_data, 0 },
	{ VERB_BDAT,		txn_check_bdat,	txn_proceed_bdat, 0 },
	{ VERB_RSET,		check_noargs,	proceed_rset, 1 },
	{ VERB_NOOP,		check_any,	proceed_noop, 1 },
	{ VERB_QUIT,		check_any,	proceed_quit, 0 },
	{ VERB_VRFY,		check_vrfy,	proceed_vrfy, 1 },
	{ VERB_EXPN,		check_expn,	NULL, 1 },
	{ VERB_HELP,		check_any,	proceed_help, 1 },
	{ VERB_STARTTLS,	check_starttls,	proceed_starttls, 0 },
	{ VERB_AUTH,		auth_check,	auth_proceed, 0 },
	{ VERB_HTTP,		check_any,	proceed_http, 0 },
	{ VERB_UNKNOWN,		check_unknown,	NULL, 0 },
};

/*
 * STARTTLS is offered on smtp and submission listeners when a certificate
 * is configured, and only before TLS.  The same predicate decides what
 * EHLO says and what STARTTLS accepts.
 */
static int
session_may_starttls(const struct session *s)
{
	return s->w->tls != NULL && s->tls == NULL &&
	    s->lc->mode != LISTEN_SMTPS;
}

void
session_line(struct session *s, char *line, size_t len)
{
	struct smtp_command	 cmd;
	struct checked		 ck;
	const struct command	*c;
	const char		*why;
	size_t			 i;

	if (cmdparse_line(line, len, &cmd) == -1) {
		session_reply(s, R_EMPTY_COMMAND);
		return;
	}
	c = &commands[sizeof(commands) / sizeof(commands[0]) - 1];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb) {
			c = &commands[i];
			break;
		}
	/*
	 * Past junk-command-limit, each command that moves no mail counts as
	 * an error: a client cannot hold a session with NOOPs forever (the
	 * command deadline restarts with every line).
	 */
	if (c->junk && ++s->junk > s->w->conf->junk_command_limit)
		s->errors++;
	memset(&ck, 0, sizeof(ck));
	if ((why = c->check(s, &cmd, &ck)) == NULL &&
	    milter_command(s, (int)(c - commands), &cmd, &ck, &why))
		return;		/* session_cmd_resume() follows */
	session_cmd_resume(s, (int)(c - commands), &cmd, &ck, why);
}

void
session_cmd_resume(struct session *s, int row, const struct smtp_command *cmd,
    const struct checked *ck, const char *why)
{
	if (why != NULL)
		refuse(s, cmd, ck, why);
	else
		commands[row].proceed(s, cmd, ck);
}

/*
 * A command its check refused: the reply and the log line, nothing else.
 * Only a refused BDAT leaves something to do, since its chunk follows
 * whatever the reply: it is skipped (or, when its size cannot be read and
 * so the chunk cannot be found, the session ends).
 */
static void
refuse(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck, const char *why)
{
	session_reject(s, cmd, why);
	if (cmd->verb != VERB_BDAT)
		return;
	if (!ck->bdat_ok)
		session_quit_now(s, R_BAD_BDAT_CLOSE, "bad-bdat");
	else
		s->skip = ck->bdat_size;
}

/*
 * The commands.  A check looks at the session (const: it cannot change
 * it) and returns NULL or the reply that refuses the command; what it
 * parsed goes to the proceed through struct checked, so nothing is parsed
 * twice.  Only a proceed changes the session, so a refused command leaves
 * the state, the transaction and the authentication as they were.
 */

static const char *
check_any(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return NULL;
}

static const char *
check_noargs(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmd->argslen > 0)
		return R_NO_PARAMETERS;
	return NULL;
}

static const char *
check_helo(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	size_t	i, n;

	/* The first word: "ehlo testing NO UCE" says "testing". */
	for (n = 0; n < cmd->argslen && cmd->args[n] != ' '; n++)
		;
	if (n == 0)
		return cmd->verb == VERB_EHLO ?
		    R_EHLO_SYNTAX :
		    R_HELO_SYNTAX;
	if (n >= sizeof(s->helo))
		return R_BAD_HOSTNAME;
	for (i = 0; i < n; i++)
		if ((unsigned char)cmd->args[i] <= 0x20 ||
		    (unsigned char)cmd->args[i] >= 0x7f)
			return R_BAD_HOSTNAME;
	return NULL;
}

static void
helo_common(struct session *s, const struct smtp_command *cmd)
{
	size_t	n;

	for (n = 0; n < cmd->argslen && cmd->args[n] != ' '; n++)
		;
	memcpy(s->helo, cmd->args, n);
	s->helo[n] = '\0';
	/* RFC 5321 4.1.4: HELO/EHLO resets any transaction. */
	txn_reset(s);
	session_set_state(s, STATE_HELO);
}

static void
proceed_helo(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	helo_common(s, cmd);
	s->flags &= ~SF_EHLO;
	session_reply(s, "250 %s", s->w->conf->hostname);
}

/*
 * Does the HELO name, an address literal (RFC 5321 4.1.3), name the
 * client's own address?  Then the EHLO reply shows it once.
 */
static int
helo_is_peer_literal(const struct session *s)
{
	char		 text[sizeof(s->helo)];
	unsigned char	 a[16], b[16];
	const char	*p = s->helo + 1;
	size_t		 n = strlen(s->helo);
	int		 af = AF_INET;

	if (n < 3 || s->helo[0] != '[' || s->helo[n - 1] != ']')
		return 0;
	if (strncasecmp(p, "IPv6:", 5) == 0) {
		af = AF_INET6;
		p += 5;
	}
	snprintf(text, sizeof(text), "%.*s", (int)(s->helo + n - 1 - p), p);
	if (inet_pton(af, text, a) != 1 ||
	    inet_pton(strchr(s->peerip, ':') != NULL ? AF_INET6 : AF_INET,
	    s->peerip, b) != 1)
		return 0;
	return (strchr(s->peerip, ':') != NULL) == (af == AF_INET6) &&
	    memcmp(a, b, af == AF_INET6 ? 16 : 4) == 0;
}

static void
proceed_ehlo(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	const struct config	*conf = s->w->conf;

	helo_common(s, cmd);
	s->flags |= SF_EHLO;
	if (helo_is_peer_literal(s))
		session_reply(s, R_HELLO_LITERAL, conf->hostname, s->peerip);
	else
		session_reply(s, R_HELLO, conf->hostname, s->helo,
		    s->peerip);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %" PRIu64, conf->max_message_size);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	session_reply(s, "250-SMTPUTF8");
	if (session_may_starttls(s))
		session_reply(s, "250-STARTTLS");
	if (session_may_auth(s))
		session_reply(s, "250-AUTH %s", auth_ehlo_mechs(s));
	session_reply(s, "250 CHUNKING");
}

static void
proceed_rset(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	txn_reset(s);
	if (s->state != STATE_CONNECTED)
		session_set_state(s, STATE_HELO);
	session_reply(s, R_DONE);
}

static void
proceed_noop(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	session_reply(s, R_DONE);
}

static void
proceed_quit(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	session_reply(s, R_QUIT, s->w->conf->hostname);
	s->flags |= SF_CLOSING;
	session_set_state(s, STATE_QUIT);
	session_close(s, "quit");
}

static const char *
check_vrfy(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmd->argslen == 0)
		return R_VRFY_SYNTAX;
	return NULL;
}

static void
proceed_vrfy(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	/* No user enumeration (RFC 5321 3.5.3). */
	session_reply(s, R_VRFY);
}

static const char *
check_expn(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return R_EXPN;
}

static void
proceed_help(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	session_reply(s, R_HELP);
}

static const char *
check_starttls(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (s->tls != NULL)
		return R_TLS_ACTIVE;
	if (!session_may_starttls(s))
		return R_NO_STARTTLS;
	if (cmd->argslen > 0)
		return R_STARTTLS_SYNTAX;
	return NULL;
}

static void
proceed_starttls(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	session_reply(s, R_STARTTLS_GO);
	/*
	 * Whatever the client pipelined after STARTTLS is not read, and
	 * nothing more is read until the handshake: the next bytes on the
	 * socket must be the client's hello.
	 */
	evbuffer_drain(s->in, evbuffer_get_length(s->in));
	event_del(s->ev_read);
	s->flags |= SF_STARTTLS;
	session_set_state(s, STATE_TLS);
}

static void
proceed_http(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	/* ALPACA and friends: an HTTP client on the SMTP port. */
	log_info("session=%s reject reason=http-request", s->id);
	session_quit_now(s, R_HTTP_REQUEST,
	    "http-request");
}

static const char *
check_unknown(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	return R_UNKNOWN_COMMAND;
}
