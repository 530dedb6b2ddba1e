/*
 * smtpauthd: a small, secure SMTP server.  main() only reads the command
 * line, loads and checks the configuration, and hands over to the parent.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldap.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/version.h"
#include "server/dkimkeygen.h"
#include "server/parent.h"
#include "server/queue/dkim.h"
#include "server/queuectl.h"
#include "server/spoolmove.h"
#include "server/shared/config.h"
#include "server/shared/users.h"

static void	usage(void) __attribute__((noreturn));
static void	daemonize(void);
static void	warn_line(const char *);
static int	check_backend(const struct config *, const char *);

static void
usage(void)
{
	fprintf(stderr, "usage: smtpauthd [-dn] -f file [queue | flush]\n"
	    "       smtpauthd -f file export | import directory\n"
	    "       smtpauthd -f file drain\n"
	    "       smtpauthd dkim-keygen [--ed25519] [-o file] domain "
	    "selector\n"
	    "       smtpauthd --version\n"
	    "  -d       stay in the foreground, log to stderr\n"
	    "  -n       check the configuration and exit\n"
	    "  -f file  the configuration file (smtpauthd.conf(5))\n"
	    "  queue    list the queued messages and exit\n"
	    "  flush    make the running server retry every message now\n"
	    "  export   move a stopped node's queue into directory\n"
	    "  import   move an exported queue into this node's queue\n"
	    "  drain    the running server takes no new session, finishes\n"
	    "           the open ones and delivers what it holds\n"
	    "  dkim-keygen  make a DKIM key, print its DNS TXT record\n"
	    "  --version  print the version and exit\n"
	    "Bans, held messages, status: smtpauthctl(8).\n");
	exit(1);
}

static void
daemonize(void)
{
	int	fd;

	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") == -1)
		fatal("chdir /");
}

/*
 * -n: what the password backend needs that the parser cannot see.  A
 * Dovecot socket not there yet is not an error (the server starts and
 * waits for it), only said.  0, or -1 (reported).
 */
static int
check_backend(const struct config *conf, const char *arg)
{
	LDAPURLDesc	*lud;
	struct stat	 st;
	char		 err[512], *s, *buf, *path, *host, *port;
	int		 rv = 0, fd;

	switch (conf->auth_backend) {
	case AUTH_BACKEND_DOVECOT:
		if (config_dovecot_auth(conf->dovecot_auth, &buf, &path, &host,
		    &port) == -1) {
			fprintf(stderr, "%s: dovecot-auth: malformed\n", arg);
			return -1;
		}
		if (path != NULL && (stat(path, &st) == -1 ||
		    !S_ISSOCK(st.st_mode)))
			fprintf(stderr, "%s: dovecot-auth: %s is not a socket "
			    "yet: logins get 454 until Dovecot listens there\n",
			    arg, path);
		free(buf);
		if (conf->dovecot_userdb == NULL)
			break;
		if (config_dovecot_auth(conf->dovecot_userdb, &buf, &path,
		    &host, &port) == -1) {
			fprintf(stderr, "%s: dovecot-userdb: malformed\n", arg);
			return -1;
		}
		if (path != NULL && (stat(path, &st) == -1 ||
		    !S_ISSOCK(st.st_mode)))
			fprintf(stderr, "%s: dovecot-userdb: %s is not a socket "
			    "yet: recipients of local-domains get 451 until "
			    "Dovecot listens there\n", arg, path);
		free(buf);
		break;
	case AUTH_BACKEND_LDAP:
		if (ldap_url_parse(conf->ldap_uri, &lud) != LDAP_URL_SUCCESS) {
			fprintf(stderr, "%s: ldap-uri: not an LDAP URL: %s\n",
			    arg, conf->ldap_uri);
			rv = -1;
		} else
			ldap_free_urldesc(lud);
		if (conf->ldap_bind_password_file != NULL) {
			if ((s = parent_read_secret(
			    conf->ldap_bind_password_file, err,
			    sizeof(err))) == NULL) {
				fprintf(stderr, "%s: ldap-bind-password-file: "
				    "%s\n", arg, err);
				rv = -1;
			} else {
				explicit_bzero(s, strlen(s));
				free(s);
			}
		}
		if (conf->ldap_ca_file != NULL) {
			if ((fd = open(conf->ldap_ca_file, O_RDONLY |
			    O_CLOEXEC)) == -1) {
				fprintf(stderr, "%s: ldap-ca-file: %s: %s\n",
				    arg, conf->ldap_ca_file, strerror(errno));
				rv = -1;
			} else
				close(fd);
		}
		break;
	case AUTH_BACKEND_FILE:
		break;
	}
	return rv;
}

static void
warn_line(const char *msg)
{
	log_warnx("%s", msg);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	struct userset	 users;
	const char	*arg = NULL, *cmd = NULL, *movecmd = NULL, *dir = NULL;
	char		 err[1024];
	char		*text = NULL, *file;
	size_t		 textlen = 0;
	int		 ch, foreground = 0, check = 0, bad, status, wants_dir;

	/* Before anything can make OpenSSL allocate (tls.h). */
	if (tls_wipe_freed_memory() == -1) {
		fprintf(stderr, "smtpauthd: cannot set OpenSSL's allocator\n");
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("smtpauthd %s\n", SMTPAUTH_VERSION);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "dkim-keygen") == 0)
		return dkim_keygen_main(argc - 1, argv + 1);
	while ((ch = getopt(argc, argv, "dnf:")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'f':
			arg = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind == argc - 1 && queuectl_known(argv[optind]) && !check &&
	    !foreground)
		cmd = argv[optind++];
	else if (optind < argc && spoolmove_known(argv[optind], &wants_dir) &&
	    !check && !foreground && optind + 1 + wants_dir == argc) {
		movecmd = argv[optind++];
		if (wants_dir)
			dir = argv[optind++];
	}
	if (arg == NULL || optind != argc)
		usage();
	log_init("smtpauthd", foreground || check);

	/*
	 * The file by its absolute name: a reload reads it again after the
	 * daemon's chdir("/"), and its directory is where the relative
	 * paths in it start from, at start and at every reload.
	 */
	if ((file = config_absolute(arg)) == NULL) {
		fprintf(stderr, "%s: %s\n", arg, strerror(errno));
		return 1;
	}
	if ((conf = config_load(file, err, sizeof(err))) == NULL ||
	    config_resolve_paths(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		config_free(conf);
		free(file);
		return 1;
	}
	log_set_json(conf->log_json);
	if (cmd != NULL || movecmd != NULL) {
		bad = cmd != NULL ? queuectl_run(conf, cmd) :
		    spoolmove_run(conf, movecmd, dir);
		config_free(conf);
		free(file);
		return bad;
	}
	/* -n: what only a start would find, reported before it fails. */
	status = 0;
	if (check && config_check_user(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		status = 1;
	}
	/* The queue reads the keys; a key it could not read stops us now. */
	if (dkim_keys_check(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		if (!check) {
			config_free(conf);
			free(file);
			return 1;
		}
		status = 1;
	}
	if (parent_load_users(conf, &users, &text, &textlen, check) == -1) {
		if (check)
			fprintf(stderr, "%s: users file has errors\n", arg);
		config_free(conf);
		free(file);
		return 1;
	}
	if (check) {
		struct tls_ctx	*tls;

		if (text != NULL && users_check_hashes(conf->users, text,
		    textlen, warn_line) != 0) {
			fprintf(stderr, "%s: users file has errors\n", arg);
			status = 1;
		}
		/* A missing or mismatched key is a configuration error. */
		if (parent_load_tls(conf, NULL, &tls, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: %s\n", arg, err);
			status = 1;
		} else
			tls_ctx_free(tls);
		if (check_backend(conf, arg) == -1)
			status = 1;
		if (status == 0)
			fprintf(stderr, "%s: configuration OK\n", arg);
		if (text != NULL) {
			explicit_bzero(text, textlen);
			free(text);
		}
		users_free(&users);
		config_free(conf);
		free(file);
		return status;
	}
	if (!foreground)
		daemonize();
	return parent_main(file, conf, &users, text, textlen);
}
