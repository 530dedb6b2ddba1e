/*
 * smtpauth: the tester.  main() only dispatches to the subcommands.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "client/check.h"
#include "client/encode.h"
#include "client/load.h"
#include "client/send.h"
#include "client/session.h"
#include "common/version.h"

static const struct {
	const char	*name;
	int		(*run)(int, char **);
} commands[] = {
	{ "encode", cmd_encode },
	{ "decode", cmd_decode },
	{ "hash", cmd_hash },
	{ "check", cmd_check },
	{ "session", cmd_session },
	{ "send", cmd_send },
	{ "load", cmd_load },
};

static const char usage[] =
"usage: smtpauth COMMAND [OPTIONS] [ARGS]\n"
"  encode [--mech plain|login] [--authzid ID] USER [PASSWORD]\n"
"                       base64 of SASL credentials (no PASSWORD: read it\n"
"                       without echo)\n"
"  decode [--mech plain|login] [BASE64]\n"
"                       show the parts of a SASL PLAIN string\n"
"  hash [--method yescrypt|sha512crypt|bcrypt|scram-sha-256]\n"
"                       a crypt(3) hash for smtpauthd's users file\n"
"  check [OPTIONS] HOST[:PORT] | --targets FILE\n"
"                       the go-live checklist (no PORT: 25, 465 and 587)\n"
"  session [OPTIONS] HOST[:PORT]\n"
"                       an interactive, SMTP-aware session\n"
"  send [OPTIONS] --from ADDR --to ADDR HOST[:PORT]\n"
"                       send one test message\n"
"  load [OPTIONS] HOST[:PORT]\n"
"                       a load generator: sessions/s with TLS and AUTH\n"
"  --version            print the version\n"
"smtpauth COMMAND --help describes each; see smtpauth(1).\n";

int
main(int argc, char **argv)
{
	size_t	i;

	/* A server that hangs up must not kill us in the middle of a write. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("smtpauth %s\n", SMTPAUTH_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smtpauth: unknown command %s\n", argv[1]);
	fputs(usage, stderr);
	return 2;
}
