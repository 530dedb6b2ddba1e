/*
 * encode, decode and hash.  Arguments are taken as octets, never
 * interpreted: no escapes, no interpolation, so "@", a digit after the
 * separator or quotes are just themselves (the seed's perl pitfalls).
 */
#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/encode.h"
#include "client/password.h"
#include "client/report.h"
#include "common/base64.h"
#include "common/sasl.h"
#include "common/saslprep.h"
#include "common/scram.h"

enum { OPT_MECH = 0x100, OPT_AUTHZID, OPT_PASSWORD_FILE, OPT_METHOD };

/*
 * libxcrypt's default bcrypt cost is 5, kept for compatibility and far too
 * cheap today; 12 is the usual choice.  yescrypt and sha512crypt keep the
 * library's defaults.
 */
#define BCRYPT_COST	12

static const char encode_usage[] =
"usage: smtpauth encode [--mech plain|login] [--authzid ID]\n"
"                       [--password-file FILE] USER [PASSWORD]\n"
"Print the base64 of a SASL PLAIN message (authzid NUL user NUL password),\n"
"or with --mech login the user and the password each on a line of its own.\n"
"Without PASSWORD it is read from --password-file, $SMTPAUTH_PASSWORD,\n"
"stdin when it is not a terminal, or a prompt without echo.\n";

static const char decode_usage[] =
"usage: smtpauth decode [--mech plain|login] [BASE64]\n"
"Show the authzid, user and password of a SASL PLAIN string and what is\n"
"wrong with it (RFC 4616); with --mech login, the text of one LOGIN answer.\n"
"Without BASE64 it is read from stdin or a prompt without echo.\n"
"Exit status: 0 well-formed, 1 not base64 or not well-formed, 2 usage.\n";

static const char hash_usage[] =
"usage: smtpauth hash [--method yescrypt|sha512crypt|bcrypt|scram-sha-256]\n"
"                     [--password-file FILE]\n"
"Read a password (--password-file, $SMTPAUTH_PASSWORD, stdin when it is\n"
"not a terminal, else a prompt asked twice) and print its crypt(3) hash\n"
"for smtpauthd's users file (default yescrypt; bcrypt with cost 12), or\n"
"its SCRAM-SHA-256 keys as Dovecot writes them (4096 iterations, of the\n"
"password after SASLprep, RFC 4013).\n";

static int	bad_usage(const char *, const char *);
static void	show_field(const char *, const struct sasl_field *);
static void	warn_plain(const char *, size_t, const char *, size_t,
		    const char *, size_t);

static int
bad_usage(const char *usage, const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "smtpauth: %s\n", msg);
	fputs(usage, stderr);
	return 2;
}

/*
 * Say on stderr what a server would refuse in this PLAIN message; the
 * encoding is printed anyway, so that a server can be probed with it.
 */
static void
warn_plain(const char *z, size_t zlen, const char *u, size_t ulen,
    const char *p, size_t plen)
{
	struct sasl_plain	 out;
	char			*raw;
	size_t			 n = zlen + ulen + plen + 2;
	enum sasl_error		 e;

	if ((raw = malloc(n)) == NULL)
		return;
	memcpy(raw, z, zlen);
	raw[zlen] = '\0';
	memcpy(raw + zlen + 1, u, ulen);
	raw[zlen + 1 + ulen] = '\0';
	memcpy(raw + zlen + ulen + 2, p, plen);
	e = sasl_plain_decode(raw, n, &out);
	sasl_plain_wipe(&out);
	explicit_bzero(raw, n);
	free(raw);
	if (e != SASL_OK)
		fprintf(stderr, "smtpauth: warning: %s (RFC 4616): a server "
		    "should refuse this\n", sasl_strerror(e));
}

/* --mech of encode and decode: 0 plain, 1 login, -1 neither. */
static int
mech_is_login(const char *arg)
{
	if (strcasecmp(arg, "plain") == 0)
		return 0;
	if (strcasecmp(arg, "login") == 0)
		return 1;
	return -1;
}

int
cmd_encode(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mech", required_argument, NULL, OPT_MECH },
		{ "authzid", required_argument, NULL, OPT_AUTHZID },
		{ "password-file", required_argument, NULL,
		    OPT_PASSWORD_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct password	 pw;
	const char	*authzid = "", *pwfile = NULL, *user, *pass;
	char		*out = NULL, *out2 = NULL, err[256];
	size_t		 ulen, plen, size = 0, size2 = 0;
	int		 ch, login = 0, rv = 0;
	enum sasl_error	 e;

	/* "+": a password that starts with '-' after USER is an operand. */
	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_MECH:
			if ((login = mech_is_login(optarg)) == -1)
				return bad_usage(encode_usage,
				    "--mech: plain or login");
			break;
		case OPT_AUTHZID:
			authzid = optarg;
			break;
		case OPT_PASSWORD_FILE:
			pwfile = optarg;
			break;
		case 'h':
			fputs(encode_usage, stdout);
			return 0;
		default:
			return bad_usage(encode_usage, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		return bad_usage(encode_usage, "give USER and maybe PASSWORD");
	if (login && authzid[0] != '\0')
		return bad_usage(encode_usage, "--authzid is for PLAIN only");
	user = argv[0];
	ulen = strlen(user);
	memset(&pw, 0, sizeof(pw));
	if (argc == 2) {
		pass = argv[1];
		plen = strlen(pass);
	} else {
		if (password_read(pwfile, "Password: ", PASSWORD_STDIN_OK,
		    &pw, NULL, err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: %s\n", err);
			return 2;
		}
		pass = pw.buf;
		plen = pw.len;
	}

	if (!login) {
		warn_plain(authzid, strlen(authzid), user, ulen, pass, plen);
		size = SASL_PLAIN_ENCODED_SIZE(strlen(authzid), ulen, plen);
		if ((out = malloc(size)) == NULL) {
			rv = 2;
			goto done;
		}
		e = sasl_plain_encode(authzid, strlen(authzid), user, ulen,
		    pass, plen, out, size);
		if (e != SASL_OK) {
			fprintf(stderr, "smtpauth: %s\n", sasl_strerror(e));
			rv = 2;
			goto done;
		}
		printf("%s\n", out);
	} else {
		if ((e = sasl_login_check_field(user, ulen)) != SASL_OK)
			fprintf(stderr, "smtpauth: warning: user: %s\n",
			    sasl_strerror(e));
		if ((e = sasl_login_check_field(pass, plen)) != SASL_OK)
			fprintf(stderr, "smtpauth: warning: password: %s\n",
			    sasl_strerror(e));
		size = BASE64_ENCODED_SIZE(ulen);
		size2 = BASE64_ENCODED_SIZE(plen);
		if ((out = malloc(size)) == NULL ||
		    (out2 = malloc(size2)) == NULL) {
			rv = 2;
			goto done;
		}
		if (sasl_login_encode(user, ulen, pass, plen, out, size, out2,
		    size2) != SASL_OK) {
			rv = 2;
			goto done;
		}
		printf("%s\n%s\n", out, out2);
	}
	if (fflush(stdout) == EOF)
		rv = 2;
 done:
	if (out != NULL) {
		explicit_bzero(out, size);
		free(out);
	}
	if (out2 != NULL) {
		explicit_bzero(out2, size2);
		free(out2);
	}
	password_wipe(&pw);
	return rv;
}

static void
show_field(const char *label, const struct sasl_field *f)
{
	char	esc[SASL_INSPECT_MAX * 4 + 4];

	if (!f->present) {
		printf("%-10s(none)\n", label);
		return;
	}
	if (f->len == 0)
		printf("%-10s(empty)\n", label);
	else
		printf("%-10s%s\n", label, report_escape(f->p, f->len, esc,
		    sizeof(esc)));
	if (f->err != SASL_OK)
		printf("problem:  %s: %s\n", label, sasl_strerror(f->err));
	explicit_bzero(esc, sizeof(esc));
}

int
cmd_decode(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mech", required_argument, NULL, OPT_MECH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sasl_plain_info	*info = NULL;
	struct password		 in;
	const char		*b64;
	char			 err[256], raw[SASL_FIELD_MAX + 64];
	char			 esc[sizeof(raw) * 4];
	size_t			 b64len, n;
	int			 ch, login = 0, rv = 0;
	enum sasl_error		 e;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_MECH:
			if ((login = mech_is_login(optarg)) == -1)
				return bad_usage(decode_usage,
				    "--mech: plain or login");
			break;
		case 'h':
			fputs(decode_usage, stdout);
			return 0;
		default:
			return bad_usage(decode_usage, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		return bad_usage(decode_usage, "one BASE64 string at most");
	memset(&in, 0, sizeof(in));
	if (argc == 1) {
		b64 = argv[0];
		b64len = strlen(b64);
	} else {
		if (password_read(NULL, "Base64: ", PASSWORD_STDIN_OK |
		    PASSWORD_NO_ENV, &in, NULL, err, sizeof(err)) == -1) {
			fprintf(stderr, "smtpauth: %s\n", err);
			return 2;
		}
		b64 = in.buf;
		b64len = in.len;
	}

	if (login) {
		e = sasl_login_decode_b64(b64, b64len, raw, sizeof(raw), &n);
		if (e == SASL_EBASE64 || e == SASL_ETOOLONG) {
			printf("problem:  %s\n", sasl_strerror(e));
			rv = 1;
		} else {
			/* Show the text even when it breaks the rules. */
			if (e != SASL_OK && base64_decode(b64, b64len, raw,
			    sizeof(raw), &n) == -1)
				n = 0;
			printf("%-10s%s\n", "text:", report_escape(raw, n, esc,
			    sizeof(esc)));
			if (e != SASL_OK) {
				printf("problem:  %s\n", sasl_strerror(e));
				rv = 1;
			}
		}
		explicit_bzero(raw, sizeof(raw));
		explicit_bzero(esc, sizeof(esc));
		password_wipe(&in);
		return rv;
	}

	if ((info = malloc(sizeof(*info))) == NULL) {
		password_wipe(&in);
		return 2;
	}
	e = sasl_plain_inspect(b64, b64len, info);
	if (e != SASL_OK) {
		printf("problem:  %s%s\n", sasl_strerror(e), e ==
		    SASL_EBASE64 ? " (strict RFC 4648: no spaces or line "
		    "breaks, padding included)" : "");
		rv = 1;
		goto done;
	}
	if (info->nuls == 0) {
		printf("%-10s%s\n", "text:", report_escape(info->raw,
		    info->rawlen, esc, sizeof(esc)));
		printf("problem:  no NUL separator: not a PLAIN message "
		    "(authzid NUL user NUL password)\n");
		rv = 1;
		goto done;
	}
	show_field("authzid:", &info->authzid);
	show_field("user:", &info->authcid);
	show_field("password:", &info->passwd);
	if (info->nuls == 1)
		printf("problem:  only one NUL: the message must start with a "
		    "NUL (an empty authzid)\n");
	if (info->verdict == SASL_OK)
		printf("RFC 4616: ok\n");
	else {
		printf("RFC 4616: %s\n", sasl_strerror(info->verdict));
		rv = 1;
	}
 done:
	explicit_bzero(esc, sizeof(esc));
	sasl_plain_info_wipe(info);
	free(info);
	password_wipe(&in);
	return rv;
}

int
cmd_hash(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "password-file", required_argument, NULL,
		    OPT_PASSWORD_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct crypt_data	*cd = NULL;
	struct password		 pw;
	const char		*prefix = "$y$", *pwfile = NULL, *h;
	unsigned long		 cost = 0;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE], err[256];
	int			 ch, rv = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_METHOD:
			cost = 0;
			if (strcmp(optarg, "yescrypt") == 0)
				prefix = "$y$";
			else if (strcmp(optarg, "sha512crypt") == 0)
				prefix = "$6$";
			else if (strcmp(optarg, "bcrypt") == 0) {
				prefix = "$2b$";
				cost = BCRYPT_COST;
			} else if (strcmp(optarg, "scram-sha-256") == 0)
				prefix = SCRAM_PREFIX;
			else
				return bad_usage(hash_usage, "--method: "
				    "yescrypt, sha512crypt, bcrypt or "
				    "scram-sha-256");
			break;
		case OPT_PASSWORD_FILE:
			pwfile = optarg;
			break;
		case 'h':
			fputs(hash_usage, stdout);
			return 0;
		default:
			return bad_usage(hash_usage, NULL);
		}
	}
	if (optind != argc)
		return bad_usage(hash_usage, "no operands");
	if (password_read(pwfile, "Password: ", PASSWORD_STDIN_OK |
	    PASSWORD_CONFIRM, &pw, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "smtpauth: %s\n", err);
		return 2;
	}
	if (memchr(pw.buf, '\0', pw.len) != NULL) {
		fprintf(stderr, "smtpauth: a password with a NUL cannot be "
		    "hashed by crypt(3)\n");
		rv = 2;
		goto done;
	}
	if (strcmp(prefix, SCRAM_PREFIX) == 0) {
		char	keys[SCRAM_STORED_MAX];
		char	prep[SCRAM_PASS_MAX + 1];
		size_t	n;

		/* scram_make() prepares it too; this says why it fails. */
		if (saslprep(pw.buf, pw.len, SASLPREP_STORED, prep,
		    sizeof(prep), &n) == -1 || n == 0) {
			explicit_bzero(prep, sizeof(prep));
			fprintf(stderr, "smtpauth: SASLprep (RFC 4013) refuses "
			    "the password (a control or private-use character, "
			    "unassigned code points, or nothing left)\n");
			rv = 2;
			goto done;
		}
		explicit_bzero(prep, sizeof(prep));
		if (scram_make(pw.buf, pw.len, 0, keys, sizeof(keys)) == -1) {
			fprintf(stderr, "smtpauth: cannot make SCRAM keys\n");
			rv = 2;
			goto done;
		}
		printf("%s\n", keys);
		if (fflush(stdout) == EOF)
			rv = 2;
		goto done;
	}
	/* Count 0: the method's default cost; salt from the system. */
	if (crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof(salt)) ==
	    NULL) {
		fprintf(stderr, "smtpauth: crypt_gensalt: %s\n",
		    strerror(errno));
		rv = 2;
		goto done;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		rv = 2;
		goto done;
	}
	h = crypt_r(pw.buf, salt, cd);
	if (h == NULL || h[0] == '*') {
		fprintf(stderr, "smtpauth: crypt: %s\n", strerror(errno));
		rv = 2;
		goto done;
	}
	printf("%s\n", h);
	if (fflush(stdout) == EOF)
		rv = 2;
 done:
	if (cd != NULL) {
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	password_wipe(&pw);
	return rv;
}
