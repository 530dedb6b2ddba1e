/*
 * Shared command-line options of check, session and send.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/smtpclient.h"
#include "common/addr.h"

static void	set_port(struct cliopts *, int);

const char cliopt_usage[] =
"  --tls starttls|implicit|none  TLS mode (default: implicit for port 465,\n"
"                         else starttls)\n"
"  --user USER            user name for AUTH\n"
"  --password-file FILE   the password is the first line of FILE (else\n"
"                         $SMTPAUTH_PASSWORD, else stdin when it is not a\n"
"                         terminal, else a prompt without echo)\n"
"  --mech MECH            plain, login, cram-md5, scram-sha-1, scram-sha-256\n"
"                         or xoauth2 (default: the best one offered)\n"
"  --oauth-token-file FILE  bearer token for XOAUTH2\n"
"  --ca-file FILE         trust anchors (default: the system store)\n"
"  --insecure             go on when the certificate does not verify\n"
"  --insecure-plaintext-auth  allow the password over a connection\n"
"                         without TLS (--tls none)\n"
"  --helo NAME            EHLO name (default: host name or address literal)\n"
"  --timeout SEC          for each step (default 30)\n"
"  --source ADDR          connect from this local address (as seen by\n"
"                         the server: its trust in local networks)\n"
"  -4, -6                 IPv4 or IPv6 only\n"
"  -v, --verbose          print the transcript (credentials <redacted>)\n"
"  -h, --help             this help\n";

void
cliopt_init(struct cliopts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = DEFAULT_TIMEOUT;
	o->family = AF_UNSPEC;
}

int
cliopt_parse(struct cliopts *o, int ch, const char *arg, char *err,
    size_t errlen)
{
	unsigned char	 v6[sizeof(struct in6_addr)];
	char		*end;
	long		 v;

	switch (ch) {
	case '4':
		o->family = AF_INET;
		return 1;
	case '6':
		o->family = AF_INET6;
		return 1;
	case 'v':
		o->verbose = 1;
		return 1;
	case OPT_TLS:
		if ((o->tls = cliopt_tls_mode(arg)) == TLSMODE_DEFAULT) {
			(void)snprintf(err, errlen, "--tls: starttls, implicit "
			    "or none");
			return -1;
		}
		o->tls_opt = o->tls;
		return 1;
	case OPT_USER:
		if (arg[0] == '\0' || cliopt_safe(arg) == -1) {
			(void)snprintf(err, errlen, "--user: empty, or CR or "
			    "LF inside");
			return -1;
		}
		o->user = arg;
		return 1;
	case OPT_PASSWORD_FILE:
		o->password_file = arg;
		return 1;
	case OPT_MECH:
		if ((o->mech = auth_mech_from_name(arg)) == AUTH_MECH_NONE) {
			(void)snprintf(err, errlen, "--mech: plain, login, "
			    "cram-md5, scram-sha-1, scram-sha-256 or xoauth2");
			return -1;
		}
		return 1;
	case OPT_CA_FILE:
		o->ca_file = arg;
		return 1;
	case OPT_INSECURE:
		o->insecure = 1;
		return 1;
	case OPT_HELO:
		if (!addr_valid_domain(arg, strlen(arg), 0)) {
			(void)snprintf(err, errlen, "--helo: not a domain or "
			    "address literal");
			return -1;
		}
		o->helo = arg;
		return 1;
	case OPT_TIMEOUT:
		v = strtol(arg, &end, 10);
		if (end == arg || *end != '\0' || v < 1 || v > 3600) {
			(void)snprintf(err, errlen, "--timeout: 1 to 3600 "
			    "seconds");
			return -1;
		}
		o->timeout = (int)v;
		return 1;
	case OPT_OAUTH_TOKEN_FILE:
		o->oauth_token_file = arg;
		/* Asking for a token is asking for XOAUTH2. */
		if (o->mech == AUTH_MECH_NONE)
			o->mech = AUTH_MECH_XOAUTH2;
		return 1;
	case OPT_INSECURE_PLAINTEXT_AUTH:
		o->insecure_plaintext_auth = 1;
		return 1;
	case OPT_SOURCE:
		if (inet_pton(AF_INET, arg, v6) != 1 &&
		    inet_pton(AF_INET6, arg, v6) != 1) {
			(void)snprintf(err, errlen, "--source: an IPv4 or IPv6 "
			    "address");
			return -1;
		}
		o->source = arg;
		return 1;
	}
	return 0;
}

int
cliopt_bad_usage(const struct cliopt_cmd *cmd, const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "smtpauth: %s: %s\n", cmd->name, msg);
	fputs(cmd->usage, stderr);
	fputs(cliopt_usage, stderr);
	return 2;
}

int
cliopt_args(struct cliopts *o, const struct cliopt_cmd *cmd, int argc,
    char **argv, const struct option *longopts)
{
	char	err[256];
	int	ch, r;

	while ((ch = getopt_long(argc, argv, CLIOPT_SHORT, longopts,
	    NULL)) != -1) {
		err[0] = '\0';
		if ((r = cliopt_parse(o, ch, optarg, err, sizeof(err))) == 1)
			continue;
		if (r == 0 && ch == 'h') {
			fputs(cmd->usage, stdout);
			fputs(cliopt_usage, stdout);
			return 0;
		}
		if (r == -1 || ch == '?' || cmd->option == NULL ||
		    cmd->option(cmd->ctx, ch, optarg, err, sizeof(err)) == -1)
			return cliopt_bad_usage(cmd, err[0] != '\0' ? err :
			    NULL);
	}
	if (optind == argc && cmd->target_optional)
		return CLIOPT_GO;
	if (optind + 1 != argc)
		return cliopt_bad_usage(cmd, "give one HOST[:PORT]");
	if (cliopt_target(o, argv[optind], err, sizeof(err)) == -1)
		return cliopt_bad_usage(cmd, err);
	return CLIOPT_GO;
}

int
cliopt_target(struct cliopts *o, const char *arg, char *err, size_t errlen)
{
	const char	*colon, *close, *port = DEFAULT_PORT;
	size_t		 hlen;
	char		*end;
	long		 v;

	o->port_given = 0;
	if (arg[0] == '[') {
		if ((close = strchr(arg, ']')) == NULL) {
			(void)snprintf(err, errlen, "%s: no ']'", arg);
			return -1;
		}
		hlen = (size_t)(close - arg) + 1;
		if (close[1] == ':') {
			port = close + 2;
			o->port_given = 1;
		}
		else if (close[1] != '\0') {
			(void)snprintf(err, errlen, "%s: junk after ']'", arg);
			return -1;
		}
	} else if ((colon = strchr(arg, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - arg);
		port = colon + 1;
		o->port_given = 1;
	} else
		hlen = strlen(arg);	/* a name, or a bare IPv6 address */
	if (hlen == 0 || hlen >= sizeof(o->host)) {
		(void)snprintf(err, errlen, "%s: bad host", arg);
		return -1;
	}
	memcpy(o->host, arg, hlen);
	o->host[hlen] = '\0';
	v = strtol(port, &end, 10);
	if (end == port || *end != '\0' || v < 1 || v > 65535) {
		(void)snprintf(err, errlen, "%s: bad port", arg);
		return -1;
	}
	set_port(o, (int)v);
	return 0;
}

/* The port, the "host:port" target, and the TLS mode if not set yet. */
static void
set_port(struct cliopts *o, int port)
{
	(void)snprintf(o->port, sizeof(o->port), "%d", port);
	if (strchr(o->host, ':') != NULL && o->host[0] != '[')
		(void)snprintf(o->target, sizeof(o->target), "[%s]:%s",
		    o->host, o->port);
	else
		(void)snprintf(o->target, sizeof(o->target), "%s:%s",
		    o->host, o->port);
	if (o->tls == TLSMODE_DEFAULT)
		o->tls = port == 465 ? TLSMODE_IMPLICIT : TLSMODE_STARTTLS;
}

void
cliopt_set_port(struct cliopts *o, int port)
{
	/* Another port of the same run: --tls as given, not the last one's. */
	o->tls = o->tls_opt;
	set_port(o, port);
}

void
cliopt_smtpc(const struct cliopts *o, smtpc_trace_fn *trace, void *arg,
    struct smtpc_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->family = o->family;
	so->timeout_ms = o->timeout * 1000;
	so->trace = trace;
	so->trace_arg = arg;
	so->allow = cliopt_allow(o);
	so->source = o->source;
}

int
cliopt_allow(const struct cliopts *o)
{
	return (o->insecure ? SMTPC_ALLOW_UNVERIFIED : 0) |
	    (o->insecure_plaintext_auth ? SMTPC_ALLOW_PLAINTEXT : 0);
}

void
cliopt_helo(const struct cliopts *o, const struct smtpc *c, char *buf,
    size_t size)
{
	const struct sockaddr_storage	*ss;
	char				 name[256], a[INET6_ADDRSTRLEN];

	if (o->helo != NULL) {
		(void)snprintf(buf, size, "%s", o->helo);
		return;
	}
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (strchr(name, '.') != NULL &&
		    addr_valid_domain(name, strlen(name), 0)) {
			(void)snprintf(buf, size, "%s", name);
			return;
		}
	}
	/* RFC 5321 4.1.3: an address literal when there is no good name. */
	ss = smtpc_local_sockaddr(c);
	if (ss->ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
	    a, sizeof(a)) != NULL)
		(void)snprintf(buf, size, "[IPv6:%s]", a);
	else if (ss->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
	    a, sizeof(a)) != NULL)
		(void)snprintf(buf, size, "[%s]", a);
	else
		(void)snprintf(buf, size, "localhost");
}

int
cliopt_safe(const char *s)
{
	return strpbrk(s, "\r\n") == NULL ? 0 : -1;
}

int
cliopt_is_address(const char *s)
{
	const char	*at = strrchr(s, '@');

	return at != NULL && at != s && at[1] != '\0' &&
	    cliopt_safe(s) == 0 && strpbrk(s, " <>") == NULL;
}

enum tls_mode
cliopt_tls_mode(const char *s)
{
	if (strcmp(s, "starttls") == 0)
		return TLSMODE_STARTTLS;
	if (strcmp(s, "implicit") == 0)
		return TLSMODE_IMPLICIT;
	if (strcmp(s, "none") == 0)
		return TLSMODE_NONE;
	return TLSMODE_DEFAULT;
}

const char *
cliopt_tls_name(enum tls_mode m)
{
	switch (m) {
	case TLSMODE_IMPLICIT:
		return "implicit TLS";
	case TLSMODE_NONE:
		return "no TLS";
	default:
		return "STARTTLS";
	}
}
