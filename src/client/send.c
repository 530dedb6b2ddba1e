/*
 * smtpauth send: connect, TLS as asked, AUTH when a user is given, one
 * transaction, print the queue id.  Certificates are verified unless
 * --insecure; the password never goes over a connection without TLS
 * unless --insecure-plaintext-auth.
 */
#include <sys/types.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/password.h"
#include "client/report.h"
#include "client/send.h"
#include "client/smtpclient.h"
#include "common/addr.h"
#include "common/base64.h"
#include "common/reply.h"
#include "common/tls.h"

#define MAX_RCPTS	100
#define BODY_MAX	(64 * 1024 * 1024)
#define DEFAULT_SUBJECT	"smtpauth test message"

enum {
	OPT_FROM = OPT_LOCAL,
	OPT_TO,
	OPT_SUBJECT,
	OPT_BODY_FILE,
};

static const char send_usage[] =
"usage: smtpauth send [OPTIONS] --from ADDR --to ADDR [--to ADDR ...]\n"
"                     [--subject TEXT] [--body-file FILE] HOST[:PORT]\n"
"Send one message (headers Date, Message-ID, From, To, Subject; the body\n"
"from --body-file or stdin) and print the queue id the server gives.\n"
"  --from ADDR            envelope and header sender\n"
"  --to ADDR              a recipient (repeatable)\n"
"  --subject TEXT         (default \"" DEFAULT_SUBJECT "\")\n"
"  --body-file FILE       the body (default: stdin)\n"
"Shared options:\n";

struct sender {
	struct cliopts		 o;
	const char		*from;
	const char		*to[MAX_RCPTS];
	size_t			 nto;
	const char		*subject;
	const char		*body_file;
	char			*body;
	size_t			 bodylen;
	struct password		 pw;
	struct password		 token;
	struct trace_out	 tout;
	struct tls_ctx		*tctx;
	struct smtpc		*c;
	struct reply		 ehlo;
	char			 helo[300];
};

static int	bad_usage(const char *);
static int	read_all(int, char **, size_t *);
static int	is_ascii(const char *, size_t);
static int	add(char **, size_t *, size_t *, const void *, size_t);
static int	add_subject(char **, size_t *, size_t *, const char *);
static int	refused(struct sender *, const char *, const struct reply *);
static int	ehlo(struct sender *);
static int	run(struct sender *);

static const struct cliopt_cmd	send_cmd = {
	"send", send_usage, NULL, NULL, 0
};

static int
bad_usage(const char *msg)
{
	return cliopt_bad_usage(&send_cmd, msg);
}

static int
read_all(int fd, char **out, size_t *outlen)
{
	char	*buf = NULL, *n;
	size_t	 len = 0, size = 0;
	ssize_t	 r;

	for (;;) {
		if (len == size) {
			if (size >= BODY_MAX) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			size = size == 0 ? 8192 : size * 2;
			if ((n = realloc(buf, size)) == NULL) {
				free(buf);
				return -1;
			}
			buf = n;
		}
		r = read(fd, buf + len, size - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int
is_ascii(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* Append to a growing buffer. */
static int
add(char **buf, size_t *len, size_t *size, const void *p, size_t n)
{
	char	*nb;
	size_t	 ns;

	if (n > SIZE_MAX / 2 - *len)
		return -1;
	if (*len + n > *size) {
		ns = (*len + n) * 2 + 256;
		if ((nb = realloc(*buf, ns)) == NULL)
			return -1;
		*buf = nb;
		*size = ns;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/*
 * "Subject: " and the text; not ASCII: RFC 2047 "B" encoded words of at
 * most 45 octets each (60 characters of base64), cut between UTF-8
 * characters, on folded lines.
 */
static int
add_subject(char **buf, size_t *len, size_t *size, const char *subj)
{
	char	b64[BASE64_ENCODED_SIZE(48)];
	size_t	n = strlen(subj), i = 0, k;

	if (add(buf, len, size, "Subject: ", 9) == -1)
		return -1;
	if (is_ascii(subj, n))
		return add(buf, len, size, subj, n) == -1 ||
		    add(buf, len, size, "\r\n", 2) == -1 ? -1 : 0;
	while (i < n) {
		k = n - i > 45 ? 45 : n - i;
		/* Do not split a character: back up over continuations. */
		while (k > 1 && i + k < n &&
		    ((unsigned char)subj[i + k] & 0xc0) == 0x80)
			k--;
		(void)base64_encode(subj + i, k, b64, sizeof(b64), NULL);
		if ((i > 0 && add(buf, len, size, "\r\n ", 3) == -1) ||
		    add(buf, len, size, "=?UTF-8?B?", 10) == -1 ||
		    add(buf, len, size, b64, strlen(b64)) == -1 ||
		    add(buf, len, size, "?=", 2) == -1)
			return -1;
		i += k;
	}
	return add(buf, len, size, "\r\n", 2);
}

int
message_build(const char *from, const char *const *to, size_t nto,
    const char *subject, const char *body, size_t bodylen, char **out,
    size_t *outlen)
{
	struct tm	 tm;
	unsigned char	 rnd[12];
	const char	*dom;
	char		*buf = NULL, line[512];
	size_t		 len = 0, size = 0, i;
	time_t		 now;
	int		 n;

	*out = NULL;
	*outlen = 0;
	now = time(NULL);
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(line, sizeof(line), "Date: %a, %d %b %Y %H:%M:%S %z\r\n",
	    &tm) == 0 || add(&buf, &len, &size, line, strlen(line)) == -1)
		goto fail;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		goto fail;
	dom = strrchr(from, '@');
	dom = dom != NULL && dom[1] != '\0' ? dom + 1 : "smtpauth.invalid";
	n = snprintf(line, sizeof(line), "Message-ID: <smtpauth.%02x%02x%02x"
	    "%02x%02x%02x%02x%02x%02x%02x%02x%02x@%s>\r\n", rnd[0], rnd[1],
	    rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9],
	    rnd[10], rnd[11], dom);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    add(&buf, &len, &size, line, (size_t)n) == -1)
		goto fail;
	if (add(&buf, &len, &size, "From: ", 6) == -1 ||
	    add(&buf, &len, &size, from, strlen(from)) == -1 ||
	    add(&buf, &len, &size, "\r\nTo: ", 6) == -1)
		goto fail;
	for (i = 0; i < nto; i++)
		if ((i > 0 && add(&buf, &len, &size, ",\r\n ", 4) == -1) ||
		    add(&buf, &len, &size, to[i], strlen(to[i])) == -1)
			goto fail;
	if (add(&buf, &len, &size, "\r\n", 2) == -1 ||
	    add_subject(&buf, &len, &size, subject) == -1)
		goto fail;
	if (!is_ascii(body, bodylen)) {
		static const char mime[] = "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=UTF-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n";

		if (add(&buf, &len, &size, mime, sizeof(mime) - 1) == -1)
			goto fail;
	}
	if (add(&buf, &len, &size, "\r\n", 2) == -1 ||
	    add(&buf, &len, &size, body, bodylen) == -1)
		goto fail;
	*out = buf;
	*outlen = len;
	return 0;
 fail:
	free(buf);
	return -1;
}

void
queue_id(const struct reply *r, char *buf, size_t size)
{
	const char	*t, *p, *w, *end;
	size_t		 n, i;

	buf[0] = '\0';
	t = reply_line(r, r->nlines > 0 ? r->nlines - 1 : 0, &n);
	end = t + n;
	/* "queued as ID" (Postfix, smtpauthd, ...) wherever it is. */
	for (p = t; p + 10 <= end; p++) {
		if (strncasecmp(p, "queued as ", 10) == 0) {
			w = p + 10;
			for (i = 0; w + i < end && w[i] != ' ' &&
			    w[i] != ')' && w[i] != ';'; i++)
				;
			if (i > 0) {
				report_escape(w, i, buf, size);
				return;
			}
		}
	}
	/*
	 * Exim's "250 OK id=1rXyZ-000abc-7Q": the id without its "id=", as
	 * Exim's log and exim -M take it.
	 */
	for (p = t; p + 3 < end; p++) {
		if ((p == t || p[-1] == ' ') && strncasecmp(p, "id=", 3) == 0) {
			w = p + 3;
			for (i = 0; w + i < end && w[i] != ' ' &&
			    w[i] != ')' && w[i] != ';'; i++)
				;
			if (i > 0) {
				report_escape(w, i, buf, size);
				return;
			}
		}
	}
	/* Else the last word (qmail: "ok 1113954693 qp 29052"). */
	while (end > t && end[-1] == ' ')
		end--;
	for (w = end; w > t && w[-1] != ' '; w--)
		;
	if (end > w)
		report_escape(w, (size_t)(end - w), buf, size);
}

/* A refusal: print it, and 1 for the exit status. */
static int
refused(struct sender *s, const char *what, const struct reply *r)
{
	const char	*t;
	char		 esc[600];
	size_t		 n;

	if (r == NULL) {
		fprintf(stderr, "smtpauth: send: %s: %s\n", what,
		    smtpc_error(s->c));
		return 1;
	}
	t = reply_line(r, 0, &n);
	fprintf(stderr, "smtpauth: send: %s: %03d %s\n", what, r->code,
	    report_escape(t, n, esc, sizeof(esc)));
	return 1;
}

/* EHLO, or HELO if the server will not have it; the reply kept. */
static int
ehlo(struct sender *s)
{
	const struct reply	*r;

	reply_free(&s->ehlo);
	if (smtpc_cmd(s->c, &r, "EHLO %s", s->helo) == -1)
		return refused(s, "EHLO", NULL);
	if (r->code != 250) {
		if (smtpc_cmd(s->c, &r, "HELO %s", s->helo) == -1)
			return refused(s, "HELO", NULL);
		if (r->code != 250)
			return refused(s, "HELO", r);
		/* HELO: no extensions, an empty list. */
		return 0;
	}
	if (reply_dup(&s->ehlo, r) == -1) {
		fprintf(stderr, "smtpauth: out of memory\n");
		return 1;
	}
	return 0;
}

static int
run(struct sender *s)
{
	struct smtpc_opts	 so;
	struct auth_cred	 cr;
	struct auth_result	 ar;
	const struct reply	*r;
	const char		*adv;
	char			*msg = NULL, err[256], qid[QUEUE_ID_MAX];
	size_t			 advlen, msglen, i;
	enum auth_mech		 mech;
	int			 rv;

	cliopt_smtpc(&s->o, s->o.verbose ? report_trace : NULL, &s->tout,
	    &so);
	if ((s->c = smtpc_connect(s->o.host, s->o.port, &so, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: send: %s\n", err);
		return 2;
	}
	cliopt_helo(&s->o, s->c, s->helo, sizeof(s->helo));
	if (s->o.tls == TLSMODE_IMPLICIT &&
	    smtpc_tls(s->c, s->tctx, s->o.host) == -1)
		return refused(s, "TLS", NULL);
	if (smtpc_read_reply(s->c, &r) == -1)
		return refused(s, "greeting", NULL);
	if (r->code != 220)
		return refused(s, "greeting", r);
	if ((rv = ehlo(s)) != 0)
		return rv;
	if (s->o.tls == TLSMODE_STARTTLS) {
		if (!reply_ehlo_keyword(&s->ehlo, "STARTTLS", NULL, NULL)) {
			fprintf(stderr, "smtpauth: send: the server does not "
			    "offer STARTTLS (--tls none to send without "
			    "TLS)\n");
			return 1;
		}
		rv = smtpc_starttls(s->c, s->tctx, s->o.host, &r);
		if (rv == 0)
			return refused(s, "STARTTLS", r);
		if (rv == -1)
			return refused(s, "STARTTLS", NULL);
		if ((rv = ehlo(s)) != 0)
			return rv;
	}

	if (s->o.user != NULL) {
		if (!reply_ehlo_keyword(&s->ehlo, "AUTH", &adv, &advlen)) {
			fprintf(stderr, "smtpauth: send: the server does not "
			    "offer AUTH here\n");
			return 1;
		}
		memset(&cr, 0, sizeof(cr));
		cr.user = s->o.user;
		cr.userlen = strlen(s->o.user);
		cr.pass = s->pw.buf;
		cr.passlen = s->pw.len;
		cr.token = s->token.buf;
		cr.tokenlen = s->token.len;
		mech = s->o.mech != AUTH_MECH_NONE ? s->o.mech :
		    auth_mech_best(adv, advlen, &cr);
		if (mech == AUTH_MECH_NONE) {
			fprintf(stderr, "smtpauth: send: no usable AUTH "
			    "mechanism offered\n");
			return 1;
		}
		if (auth_run(s->c, mech, &cr, &ar) != 1) {
			fprintf(stderr, "smtpauth: send: AUTH %s failed: "
			    "%s%s%s\n", auth_mech_name(mech), ar.code ?
			    ar.text : "", ar.code && ar.detail[0] ? ": " : "",
			    ar.detail);
			return 1;
		}
	}

	if (smtpc_cmd(s->c, &r, "MAIL FROM:<%s>%s", s->from,
	    !is_ascii(s->body, s->bodylen) &&
	    reply_ehlo_keyword(&s->ehlo, "8BITMIME", NULL, NULL) ?
	    " BODY=8BITMIME" : "") == -1)
		return refused(s, "MAIL FROM", NULL);
	if (reply_class(r) != 2)
		return refused(s, "MAIL FROM", r);
	for (i = 0; i < s->nto; i++) {
		if (smtpc_cmd(s->c, &r, "RCPT TO:<%s>", s->to[i]) == -1)
			return refused(s, "RCPT TO", NULL);
		if (reply_class(r) != 2) {
			rv = refused(s, s->to[i], r);
			(void)smtpc_cmd(s->c, &r, "RSET");
			(void)smtpc_cmd(s->c, &r, "QUIT");
			return rv;
		}
	}
	if (smtpc_cmd(s->c, &r, "DATA") == -1)
		return refused(s, "DATA", NULL);
	if (r->code != 354)
		return refused(s, "DATA", r);
	if (message_build(s->from, s->to, s->nto, s->subject, s->body,
	    s->bodylen, &msg, &msglen) == -1) {
		fprintf(stderr, "smtpauth: send: cannot build the message\n");
		return 1;
	}
	rv = smtpc_data(s->c, msg, msglen);
	free(msg);
	if (rv == -1 || smtpc_read_reply(s->c, &r) == -1)
		return refused(s, "end of DATA", NULL);
	if (reply_class(r) != 2)
		return refused(s, "message", r);
	queue_id(r, qid, sizeof(qid));
	printf("%s\n", qid[0] != '\0' ? qid : "(no queue id)");
	fflush(stdout);
	(void)smtpc_cmd(s->c, &r, "QUIT");
	return 0;
}

/* send's own options (cliopt_args()). */
static int
send_option(void *ctx, int ch, const char *arg, char *err, size_t errlen)
{
	struct sender	*s = ctx;

	switch (ch) {
	case OPT_FROM:
		s->from = arg;
		return 0;
	case OPT_TO:
		if (s->nto == MAX_RCPTS) {
			(void)snprintf(err, errlen, "too many --to");
			return -1;
		}
		s->to[s->nto++] = arg;
		return 0;
	case OPT_SUBJECT:
		s->subject = arg;
		return 0;
	case OPT_BODY_FILE:
		s->body_file = arg;
		return 0;
	}
	return -1;
}

int
cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLIOPT_LONGOPTS,
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "body-file", required_argument, NULL, OPT_BODY_FILE },
		{ NULL, 0, NULL, 0 },
	};
	struct sender		*s;
	struct cliopt_cmd	 cmd;
	const char		*pwfrom;
	char			 err[256];
	size_t			 i;
	int			 fd, rv;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return 2;
	cliopt_init(&s->o);
	s->subject = DEFAULT_SUBJECT;
	s->tout.fp = stderr;
	s->tout.style = TRACE_TRANSCRIPT;
	rv = 2;
	cmd = send_cmd;
	cmd.option = send_option;
	cmd.ctx = s;
	if ((rv = cliopt_args(&s->o, &cmd, argc, argv, longopts)) !=
	    CLIOPT_GO)
		goto done;
	rv = 2;
	if (s->from == NULL || s->nto == 0) {
		rv = bad_usage("--from and --to are required");
		goto done;
	}
	if ((s->from[0] != '\0' && !cliopt_is_address(s->from)) ||
	    cliopt_safe(s->subject) == -1) {
		rv = bad_usage("bad --from or --subject");
		goto done;
	}
	for (i = 0; i < s->nto; i++) {
		if (!cliopt_is_address(s->to[i])) {
			rv = bad_usage("bad --to");
			goto done;
		}
	}
	if (s->o.user != NULL && s->o.tls == TLSMODE_NONE &&
	    !s->o.insecure_plaintext_auth) {
		fprintf(stderr, "smtpauth: send: refusing to send a password "
		    "without TLS (--insecure-plaintext-auth overrides)\n");
		goto done;
	}

	if (s->body_file != NULL) {
		if ((fd = open(s->body_file, O_RDONLY | O_CLOEXEC)) == -1 ||
		    read_all(fd, &s->body, &s->bodylen) == -1) {
			fprintf(stderr, "smtpauth: send: %s: %s\n",
			    s->body_file, strerror(errno));
			if (fd != -1)
				close(fd);
			goto done;
		}
		close(fd);
	} else if (read_all(STDIN_FILENO, &s->body, &s->bodylen) == -1) {
		fprintf(stderr, "smtpauth: send: stdin: %s\n",
		    strerror(errno));
		goto done;
	}
	if (s->body == NULL && (s->body = strdup("")) == NULL)
		goto done;

	if (s->o.user != NULL) {
		if (s->o.mech == AUTH_MECH_XOAUTH2) {
			if (s->o.oauth_token_file == NULL) {
				rv = bad_usage("XOAUTH2 needs "
				    "--oauth-token-file");
				goto done;
			}
			if (password_read_file(s->o.oauth_token_file,
			    &s->token, err, sizeof(err)) == -1) {
				fprintf(stderr, "smtpauth: send: %s\n", err);
				goto done;
			}
		} else if (password_read(s->o.password_file, "Password: ",
		    s->body_file != NULL ? PASSWORD_STDIN_OK : 0, &s->pw,
		    &pwfrom, err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: send: %s\n", err);
			goto done;
		}
	}
	if (s->o.tls != TLSMODE_NONE && (s->tctx = tls_client_new(
	    s->o.ca_file, s->o.insecure, 0, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpauth: send: %s\n", err);
		goto done;
	}
	rv = run(s);
 done:
	smtpc_close(s->c);
	tls_ctx_free(s->tctx);
	reply_free(&s->ehlo);
	password_wipe(&s->pw);
	password_wipe(&s->token);
	free(s->body);
	explicit_bzero(s, sizeof(*s));
	free(s);
	return rv;
}
