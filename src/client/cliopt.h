/*
 * The options check, session and send share (DESIGN.md "smtpauth"), the
 * HOST[:PORT] target, and what follows from them: the TLS mode, the
 * connection options, the EHLO name, the credentials.
 */
#ifndef SMTPAUTH_CLIOPT_H
#define SMTPAUTH_CLIOPT_H

#include <getopt.h>
#include <stddef.h>

#include "client/auth.h"
#include "client/password.h"
#include "client/smtpclient.h"

#define DEFAULT_PORT		"25"
#define DEFAULT_TIMEOUT		30	/* seconds */

enum tls_mode {
	TLSMODE_DEFAULT = 0,	/* implicit for port 465, else STARTTLS */
	TLSMODE_STARTTLS,
	TLSMODE_IMPLICIT,
	TLSMODE_NONE,
};

struct cliopts {
	char		 host[256];
	char		 port[16];
	char		 target[300];	/* "host:port", for reports */
	int		 port_given;	/* the operand named a port */
	enum tls_mode	 tls;
	enum tls_mode	 tls_opt;	/* --tls as given, before the default */
	const char	*user;
	const char	*password_file;
	enum auth_mech	 mech;		/* NONE: the best one offered */
	const char	*ca_file;
	int		 insecure;
	const char	*helo;
	int		 timeout;	/* seconds */
	int		 family;
	int		 verbose;
	const char	*oauth_token_file;
	int		 insecure_plaintext_auth;
	const char	*source;	/* --source: the local address */
};

/* getopt_long codes of the shared options; others start at OPT_LOCAL. */
enum {
	OPT_TLS = 0x100,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_MECH,
	OPT_CA_FILE,
	OPT_INSECURE,
	OPT_HELO,
	OPT_TIMEOUT,
	OPT_OAUTH_TOKEN_FILE,
	OPT_INSECURE_PLAINTEXT_AUTH,
	OPT_SOURCE,
	OPT_LOCAL = 0x200,
};

#define CLIOPT_SHORT	"46hv"
#define CLIOPT_LONGOPTS							\
	{ "tls", required_argument, NULL, OPT_TLS },			\
	{ "user", required_argument, NULL, OPT_USER },			\
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE }, \
	{ "mech", required_argument, NULL, OPT_MECH },			\
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },		\
	{ "insecure", no_argument, NULL, OPT_INSECURE },		\
	{ "helo", required_argument, NULL, OPT_HELO },			\
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },		\
	{ "oauth-token-file", required_argument, NULL,			\
	    OPT_OAUTH_TOKEN_FILE },					\
	{ "insecure-plaintext-auth", no_argument, NULL,			\
	    OPT_INSECURE_PLAINTEXT_AUTH },				\
	{ "source", required_argument, NULL, OPT_SOURCE },		\
	{ "verbose", no_argument, NULL, 'v' },				\
	{ "help", no_argument, NULL, 'h' }

/* The usage lines of the shared options, for each command's --help. */
extern const char cliopt_usage[];

void	cliopt_init(struct cliopts *);
/* A shared option: 1 taken, 0 not one of ours, -1 bad (message in err). */
int	cliopt_parse(struct cliopts *, int ch, const char *arg, char *err,
	    size_t errlen);
/*
 * HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (a bare IPv6 address has no
 * port); then the TLS mode's default.  0 or -1.
 */
/* A command, for its messages and its --help. */
struct cliopt_cmd {
	const char	*name;		/* "check" */
	const char	*usage;		/* its own lines; cliopt_usage follows */
	/* One of its own options: 0 taken, -1 bad (err says why, or is
	 * left empty for an unknown option). */
	int		(*option)(void *ctx, int ch, const char *arg, char *err,
			    size_t errlen);
	void		*ctx;
	int		 target_optional;	/* no operand is fine
						   (check --targets) */
};

/* "smtpauth: NAME: msg" (when msg is not NULL) and the usage on stderr;
 * returns 2, the exit status of a usage error. */
int	cliopt_bad_usage(const struct cliopt_cmd *, const char *msg);
/*
 * The whole command line: the shared options, the command's own
 * (cmd->option), -h, and the one HOST[:PORT] operand (cliopt_target()),
 * or none when cmd->target_optional (o->host is then empty).  Returns
 * CLIOPT_GO to go on, else the exit status: 0 after --help, 2 after a
 * usage error (already printed).
 */
#define CLIOPT_GO	(-1)
int	cliopt_args(struct cliopts *, const struct cliopt_cmd *, int argc,
	    char **argv, const struct option *longopts);
int	cliopt_target(struct cliopts *, const char *, char *err,
	    size_t errlen);
/*
 * The port of o->host (1..65535): the port, the "host:port" target, and
 * the TLS mode, --tls's or the port's default (implicit for 465).
 */
void	cliopt_set_port(struct cliopts *, int port);
/*
 * Connection options with the timeout and family, a trace, and where a
 * credential may go (--insecure, --insecure-plaintext-auth): every
 * connection a command opens gets them from here.
 */
void	cliopt_smtpc(const struct cliopts *, smtpc_trace_fn *, void *,
	    struct smtpc_opts *);
/* The SMTPC_ALLOW_* flags the options give. */
int	cliopt_allow(const struct cliopts *);
/*
 * The EHLO name: --helo, else the host name when it has a dot, else the
 * address literal of our end of the connection.
 */
void	cliopt_helo(const struct cliopts *, const struct smtpc *, char *buf,
	    size_t size);
/* A CR, LF or NUL-free value for a command line; 0 or -1. */
int	cliopt_safe(const char *);
/* Does the value look like a mail address (something@domain)? */
int	cliopt_is_address(const char *);
/* "starttls", "implicit" or "none" as a mode; TLSMODE_DEFAULT: none of
 * them. */
enum tls_mode cliopt_tls_mode(const char *);
/* The TLS mode as a word: "STARTTLS", "implicit TLS", "no TLS". */
const char *cliopt_tls_name(enum tls_mode);

#endif
