/*
 * The interactive session.  A typed line goes to the server as it is,
 * with CRLF (nothing is trapped: a line starting with R or Q is just a
 * command, unlike openssl s_client), and the reply is printed; a 334
 * challenge is shown with its decoded text.  Lines starting with '/' are
 * local commands.  From a pipe the lines are taken in order and each
 * waits for its reply, so a session can be scripted.
 *
 * Only the local commands handle secrets: /auth reads the password with
 * the password reader and every line carrying it is shown as <redacted>;
 * lines typed after a 334 are redacted when echoed too.
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "client/report.h"
#include "client/session.h"
#include "client/smtpclient.h"
#include "common/reply.h"
#include "common/tls.h"

#define INPUT_MAX	8192	/* a typed line; longer ones are cut */

static const char session_usage[] =
"usage: smtpauth session [OPTIONS] HOST[:PORT]\n"
"An SMTP session: typed lines go to the server as they are, replies are\n"
"printed (334 challenges with their decoded text).  With --tls starttls\n"
"(the default but on port 465) EHLO and STARTTLS are done first; use\n"
"--tls none to begin in clear.  Local commands:\n"
"  /starttls              STARTTLS and the handshake, then EHLO again\n"
"  /auth MECH [USER]      AUTH with plain, login, cram-md5, scram-sha-1,\n"
"                         scram-sha-256 or xoauth2; the password is read\n"
"                         without echo (or --password-file,\n"
"                         $SMTPAUTH_PASSWORD) and never shown\n"
"  /quit                  QUIT and end\n"
"  /help                  this list\n"
"  //TEXT                 send /TEXT\n"
"From a pipe, lines are sent in order, each after the previous reply.\n"
"Shared options:\n";

static const char session_help[] =
"*** local commands: /starttls, /auth MECH [USER], /quit, /help;\n"
"*** //TEXT sends /TEXT; anything else goes to the server as typed\n";

struct session {
	struct cliopts		 o;
	struct trace_out	 tout;
	struct tls_ctx		*tctx;
	struct smtpc		*c;
	int			 interactive;
	int			 in_data;	/* between 354 and "." */
	int			 after334;	/* the next line answers it */
	int			 quit;
	char			 ehlo_name[300];	/* "" before EHLO */
	char			 in[INPUT_MAX];
	size_t			 inlen;
	int			 ineof;
};

static int	next_line(struct session *, char *, size_t, size_t *);
static int	server_spoke(struct session *);
static int	cmd_line(struct session *, const char *, size_t);
static int	local(struct session *, char *);
static int	do_starttls(struct session *);
static int	do_auth(struct session *, char *);
static int	do_ehlo(struct session *, const char *);
static int	start(struct session *);
static int	verb_is(const char *, size_t, const char *);

static const struct cliopt_cmd	session_cmd = {
	"session", session_usage, NULL, NULL, 0
};

/* Is the line's first word verb (any case), alone or before a space? */
static int
verb_is(const char *line, size_t len, const char *verb)
{
	size_t	n = strlen(verb);

	return len >= n && strncasecmp(line, verb, n) == 0 &&
	    (len == n || line[n] == ' ');
}

/*
 * The server sent something nobody asked for (a 421 before it hangs up):
 * print it.  0 to go on, -1 when the connection is gone.
 */
static int
server_spoke(struct session *s)
{
	const struct reply	*r;

	switch (smtpc_wait(s->c, 0)) {
	case 0:
		return 0;
	case 1:
		if (smtpc_read_reply(s->c, &r) == 0)
			return 0;
		break;
	}
	/* The caller says why the session ended. */
	return -1;
}

/*
 * The next input line, without its LF (or CRLF), into line.  1, or 0 at
 * the end of the input or when the server hung up while we waited.
 */
static int
next_line(struct session *s, char *line, size_t size, size_t *len)
{
	struct pollfd	 pfd[2];
	char		*nl;
	size_t		 n;
	ssize_t		 r;

	for (;;) {
		nl = memchr(s->in, '\n', s->inlen);
		if (nl == NULL && (s->ineof || s->inlen == sizeof(s->in))) {
			if (s->inlen == 0)
				return 0;
			nl = s->in + s->inlen;	/* the last, or a cut line */
		}
		if (nl != NULL) {
			n = (size_t)(nl - s->in);
			if (n >= size)
				n = size - 1;
			memcpy(line, s->in, n);
			*len = n;
			if (n > 0 && line[n - 1] == '\r')
				(*len)--;
			line[*len] = '\0';
			n = (size_t)(nl - s->in);
			if (n < s->inlen)
				n++;		/* the LF */
			memmove(s->in, s->in + n, s->inlen - n);
			s->inlen -= n;
			return 1;
		}
		if (s->interactive && smtpc_alive(s->c)) {
			pfd[0].fd = STDIN_FILENO;
			pfd[0].events = POLLIN;
			pfd[1].fd = smtpc_fd(s->c);
			pfd[1].events = POLLIN;
			if (poll(pfd, 2, -1) == -1) {
				if (errno == EINTR)
					continue;
				return 0;
			}
			if (pfd[1].revents != 0 && server_spoke(s) == -1)
				return 0;
			if (pfd[0].revents == 0)
				continue;
		}
		r = read(STDIN_FILENO, s->in + s->inlen,
		    sizeof(s->in) - s->inlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			s->ineof = 1;
		else
			s->inlen += (size_t)r;
	}
}

static int
do_ehlo(struct session *s, const char *name)
{
	const struct reply	*r;

	char			 copy[sizeof(s->ehlo_name)];

	(void)snprintf(copy, sizeof(copy), "%s", name);
	if (smtpc_cmd(s->c, &r, "EHLO %s", copy) == -1)
		return -1;
	memcpy(s->ehlo_name, copy, sizeof(copy));
	return 0;
}

static int
do_starttls(struct session *s)
{
	const struct reply	*r;
	int			 rv;

	if (smtpc_tls_conn(s->c) != NULL) {
		printf("*** TLS is already on\n");
		return 0;
	}
	rv = smtpc_starttls(s->c, s->tctx, s->o.host, &r);
	if (rv == 0)
		return 0;
	if (rv == -1) {
		printf("*** %s\n", smtpc_error(s->c));
		return -1;
	}
	/* RFC 3207 4.2: what EHLO said before TLS no longer counts. */
	if (s->ehlo_name[0] != '\0')
		return do_ehlo(s, s->ehlo_name);
	return 0;
}

static int
do_auth(struct session *s, char *args)
{
	struct auth_cred	 cr;
	struct auth_result	 ar;
	struct password		 pw, token;
	char			*mechname, *user, err[256], prompt[400];
	const char		*why;
	enum auth_mech		 m;

	mechname = strtok(args, " ");
	user = strtok(NULL, " ");
	if (mechname == NULL ||
	    (m = auth_mech_from_name(mechname)) == AUTH_MECH_NONE) {
		printf("*** /auth plain|login|cram-md5|scram-sha-1|"
		    "scram-sha-256|xoauth2 [USER]\n");
		return 0;
	}
	if (user == NULL)
		user = (char *)s->o.user;
	if (user == NULL) {
		printf("*** /auth needs a user name: /auth %s USER, or "
		    "--user\n", mechname);
		return 0;
	}
	/* Asked before the prompt; auth_run() asks again before sending. */
	if ((why = smtpc_credential_refused(s->c)) != NULL) {
		if (smtpc_tls_conn(s->c) == NULL)
			printf("*** not sending a password without TLS: "
			    "/starttls first (--insecure-plaintext-auth "
			    "overrides)\n");
		else
			printf("*** not sending a password: %s\n", why);
		return 0;
	}
	memset(&pw, 0, sizeof(pw));
	memset(&token, 0, sizeof(token));
	if (m == AUTH_MECH_XOAUTH2) {
		if (s->o.oauth_token_file == NULL) {
			printf("*** XOAUTH2 needs --oauth-token-file\n");
			return 0;
		}
		if (password_read_file(s->o.oauth_token_file, &token, err,
		    sizeof(err)) == -1) {
			printf("*** %s\n", err);
			return 0;
		}
	} else {
		(void)snprintf(prompt, sizeof(prompt), "Password for %s: ",
		    user);
		fflush(stdout);
		/* Never stdin: it holds the session's own lines. */
		if (password_read(s->o.password_file, prompt, 0, &pw, NULL,
		    err, sizeof(err)) == -1) {
			printf("*** %s\n", err);
			return 0;
		}
	}
	memset(&cr, 0, sizeof(cr));
	cr.user = user;
	cr.userlen = strlen(user);
	cr.pass = pw.buf;
	cr.passlen = pw.len;
	cr.token = token.buf;
	cr.tokenlen = token.len;
	(void)auth_run(s->c, m, &cr, &ar);
	password_wipe(&pw);
	password_wipe(&token);
	if (ar.outcome == 1)
		printf("*** authenticated as %s with %s%s\n", user,
		    auth_mech_name(m), (m == AUTH_MECH_SCRAM_SHA1 ||
		    m == AUTH_MECH_SCRAM_SHA256) && !ar.scram_verified ?
		    " (the server did not prove it knows the password)" : "");
	else
		printf("*** authentication failed%s%s\n", ar.detail[0] ?
		    ": " : "", ar.detail);
	return smtpc_alive(s->c) ? 0 : -1;
}

/* A local command (the line without its '/').  -1 ends the session. */
static int
local(struct session *s, char *cmd)
{
	const struct reply	*r;
	int			 rv = 0;

	/* What local commands send is always shown. */
	s->tout.echo_sent = 1;
	if (strcasecmp(cmd, "help") == 0)
		fputs(session_help, stdout);
	else if (strcasecmp(cmd, "quit") == 0) {
		(void)smtpc_cmd(s->c, &r, "QUIT");
		s->quit = 1;
	} else if (strcasecmp(cmd, "starttls") == 0)
		rv = do_starttls(s);
	else if (strncasecmp(cmd, "auth", 4) == 0 &&
	    (cmd[4] == '\0' || cmd[4] == ' '))
		rv = do_auth(s, cmd + 4);
	else
		printf("*** unknown local command /%s (/help lists them)\n",
		    cmd);
	s->tout.echo_sent = !s->interactive;
	return rv;
}

/* A line for the server, and its reply.  -1 ends the session. */
static int
cmd_line(struct session *s, const char *line, size_t len)
{
	const struct reply	*r;
	const char		*name;

	/* Only CRLF may end a line on the wire; never smuggle another. */
	if (memchr(line, '\r', len) != NULL) {
		printf("*** not sent: a CR inside the line\n");
		return 0;
	}
	if (s->in_data) {
		if (smtpc_send_line(s->c, 0, line, len) == -1)
			return -1;
		if (len == 1 && line[0] == '.') {
			s->in_data = 0;
			if (smtpc_read_reply(s->c, &r) == -1)
				return -1;
		}
		return 0;
	}
	if (smtpc_send_line(s->c, s->after334, line, len) == -1 ||
	    smtpc_read_reply(s->c, &r) == -1)
		return -1;
	s->after334 = r->code == 334;
	if (verb_is(line, len, "DATA") && r->code == 354)
		s->in_data = 1;
	else if ((verb_is(line, len, "EHLO") || verb_is(line, len, "HELO")) &&
	    r->code == 250) {
		name = len > 5 ? line + 5 : "";
		(void)snprintf(s->ehlo_name, sizeof(s->ehlo_name), "%s",
		    name);
	} else if (verb_is(line, len, "STARTTLS") && r->code == 220) {
		/* The server now waits for a handshake: give it one. */
		if (smtpc_tls(s->c, s->tctx, s->o.host) == -1) {
			printf("*** %s\n", smtpc_error(s->c));
			return -1;
		}
	} else if (verb_is(line, len, "QUIT"))
		s->quit = 1;
	return 0;
}

/* Connect, greeting, and with --tls starttls EHLO, STARTTLS, EHLO. */
static int
start(struct session *s)
{
	struct smtpc_opts	 so;
	const struct reply	*r;
	char			 err[256], helo[300];
	int			 rv;

	cliopt_smtpc(&s->o, report_trace, &s->tout, &so);
	s->tout.echo_sent = 1;
	if ((s->c = smtpc_connect(s->o.host, s->o.port, &so, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: session: %s\n", err);
		return 2;
	}
	if (s->o.tls == TLSMODE_IMPLICIT &&
	    smtpc_tls(s->c, s->tctx, s->o.host) == -1) {
		printf("*** %s\n", smtpc_error(s->c));
		return 1;
	}
	if (smtpc_read_reply(s->c, &r) == -1) {
		printf("*** %s\n", smtpc_error(s->c));
		return 1;
	}
	if (s->o.tls == TLSMODE_STARTTLS && r->code == 220) {
		cliopt_helo(&s->o, s->c, helo, sizeof(helo));
		if (smtpc_cmd(s->c, &r, "EHLO %s", helo) == -1) {
			printf("*** %s\n", smtpc_error(s->c));
			return 1;
		}
		(void)snprintf(s->ehlo_name, sizeof(s->ehlo_name), "%s",
		    helo);
		if (!reply_ehlo_keyword(r, "STARTTLS", NULL, NULL))
			printf("*** the server does not offer STARTTLS: the "
			    "session stays in clear\n");
		else if ((rv = do_starttls(s)) == -1)
			return 1;
	}
	if (s->interactive)
		fputs(session_help, stdout);
	s->tout.echo_sent = !s->interactive;
	fflush(stdout);
	return 0;
}

int
cmd_session(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLIOPT_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct session	*s;
	const struct reply *r;
	char		 err[256], line[INPUT_MAX + 1];
	size_t		 len;
	int		 rv = 2;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return 2;
	cliopt_init(&s->o);
	s->tout.fp = stdout;
	s->tout.style = TRACE_SESSION;
	if ((rv = cliopt_args(&s->o, &session_cmd, argc, argv, longopts)) !=
	    CLIOPT_GO)
		goto done;
	rv = 2;
	s->interactive = isatty(STDIN_FILENO);
	if ((s->tctx = tls_client_new(s->o.ca_file, s->o.insecure, 0, 0, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: session: %s\n", err);
		goto done;
	}
	if ((rv = start(s)) != 0)
		goto done;

	while (!s->quit && smtpc_alive(s->c) &&
	    next_line(s, line, sizeof(line), &len)) {
		if (!s->in_data && line[0] == '/' && line[1] != '/') {
			if (local(s, line + 1) == -1)
				break;
		} else if (cmd_line(s, line[0] == '/' && !s->in_data ?
		    line + 1 : line, line[0] == '/' && !s->in_data ?
		    len - 1 : len) == -1)
			break;
		fflush(stdout);
	}
	explicit_bzero(line, sizeof(line));
	if (s->quit)
		rv = 0;
	else if (smtpc_alive(s->c)) {
		/* End of input: leave politely. */
		s->tout.echo_sent = 1;
		(void)smtpc_cmd(s->c, &r, "QUIT");
		rv = 0;
	} else {
		printf("*** %s\n", smtpc_error(s->c));
		rv = 1;
	}
 done:
	fflush(stdout);
	smtpc_close(s->c);
	tls_ctx_free(s->tctx);
	explicit_bzero(s, sizeof(*s));
	free(s);
	return rv;
}
