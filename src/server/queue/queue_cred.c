/*
 * The queue's credentials for relaying: the relay-auth user and password
 * and the TLS client contexts (relay-ca-file), read and made by
 * queue_prepare() while the process is still root, kept for the relay
 * connections, and wiped when the process ends.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/tls1.h>

#include "common/log.h"
#include "common/tls.h"
#include "server/queue/dkim.h"
#include "server/queue/queue.h"
#include "server/queue/queue_priv.h"

#define CRED_MAX		1024

static struct queue_cred	the_cred;

static int		 read_credentials(const char *);

/* "user:password" on the first line that is not empty or a comment. */
static int
read_credentials(const char *path)
{
	struct queue_cred	*q = &the_cred;
	char			 buf[CRED_MAX + 1], *line, *nl, *colon, *end;
	ssize_t			 n;
	size_t			 i;
	int			 fd, ok = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("relay-auth %s", path);
		return -1;
	}
	n = read(fd, buf, CRED_MAX);
	close(fd);
	if (n < 0) {
		log_warn("relay-auth %s", path);
		return -1;
	}
	buf[n] = '\0';
	for (line = buf; line < buf + n; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = buf + n;
		*nl = '\0';
		end = nl;
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    colon[1] == '\0')
			break;
		*colon = '\0';
		for (i = 0; line[i] != '\0'; i++)
			if ((unsigned char)line[i] < 0x20)
				break;
		if (line[i] != '\0')
			break;
		q->auth_user = strdup(line);
		q->auth_pass = strdup(colon + 1);
		ok = q->auth_user != NULL && q->auth_pass != NULL;
		break;
	}
	explicit_bzero(buf, sizeof(buf));
	if (!ok) {
		log_warnx("relay-auth %s: expected a line \"user:password\"",
		    path);
		return -1;
	}
	return 0;
}

void
queue_prepare(const struct config *conf)
{
	struct queue_cred	*q = &the_cred;
	char			 err[512];

	if (conf->relay_auth != NULL)
		q->auth_ok = read_credentials(conf->relay_auth) == 0;
	/* The keys may be 0600 root too; no other process holds them. */
	if (conf->ndkim > 0 &&
	    (q->dkim = dkim_keys_load(conf, err, sizeof(err))) == NULL)
		log_warnx("%s: mail is relayed unsigned", err);
	if (conf->relay_tls == RELAY_TLS_REQUIRED ||
	    conf->relay_tls == RELAY_TLS_IMPLICIT) {
		q->tls_verify = tls_client_new(conf->relay_ca_file, 0, 0, 0,
		    err, sizeof(err));
		if (q->tls_verify == NULL)
			log_warnx("relay-tls: %s: mail waits", err);
	}
	/* Unverified anyway: any TLS beats none, so old versions too. */
	if (conf->relay_tls == RELAY_TLS_OPPORTUNISTIC) {
		q->tls_any = tls_client_new(NULL, 1, TLS1_VERSION, 0, err,
		    sizeof(err));
		if (q->tls_any == NULL)
			log_warnx("relay-tls: %s: relaying without TLS", err);
	}
}

const struct queue_cred *
queue_cred(void)
{
	return &the_cred;
}

/* The password is no one's business once the process ends. */
void
queue_cred_wipe(void)
{
	if (the_cred.auth_pass != NULL)
		explicit_bzero(the_cred.auth_pass, strlen(the_cred.auth_pass));
}
