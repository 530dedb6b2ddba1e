/*
 * SMTP AUTH (RFC 4954) from the client side, over a connection of
 * smtpclient.h: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256 and
 * XOAUTH2, with the SASL pieces of common/sasl.h.  Every line that carries
 * a credential is sent as a secret, so transcripts show <redacted>.
 */
#ifndef SMTPAUTH_AUTH_H
#define SMTPAUTH_AUTH_H

#include <stddef.h>

#include "client/smtpclient.h"
#include "common/reply.h"

enum auth_mech {
	AUTH_MECH_NONE = 0,
	AUTH_MECH_PLAIN,
	AUTH_MECH_LOGIN,
	AUTH_MECH_CRAM_MD5,
	AUTH_MECH_SCRAM_SHA1,
	AUTH_MECH_SCRAM_SHA256,
	AUTH_MECH_XOAUTH2,
};

struct auth_cred {
	const char	*authzid;	/* PLAIN only; NULL for none */
	size_t		 authzidlen;
	const char	*user;
	size_t		 userlen;
	const char	*pass;		/* all but XOAUTH2 */
	size_t		 passlen;
	const char	*token;		/* XOAUTH2 */
	size_t		 tokenlen;
	/*
	 * A probe's wrong password, not a secret worth keeping: it may go
	 * where smtpc_credential_refused() keeps a real one from going.
	 */
	int		 probe;
};

struct auth_result {
	/* 1: 235; 0: refused (5xx or a failed proof); -1: 4xx or error. */
	int	outcome;
	int	code;			/* the final reply; 0 when none */
	char	enhanced[REPLY_ENHANCED_SIZE];
	char	text[256];		/* "NNN text" of it, escaped */
	int	challenged;		/* the server sent a 334 */
	int	scram_verified;		/* SCRAM: the server proved itself */
	char	detail[160];		/* what went wrong besides the code */
};

/* "plain", "PLAIN", "scram-sha-256" ... -> the mechanism; NONE if unknown. */
enum auth_mech	 auth_mech_from_name(const char *);
/* "PLAIN", "SCRAM-SHA-256" ... */
const char	*auth_mech_name(enum auth_mech);
/*
 * The best mechanism in the list the server advertised (the parameters of
 * its AUTH keyword) that the credentials can use: SCRAM-SHA-256,
 * SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.  XOAUTH2 is never chosen here.
 */
enum auth_mech	 auth_mech_best(const char *advertised, size_t len,
		    const struct auth_cred *);
/* Can these credentials go through this mechanism?  NULL or why not. */
const char	*auth_mech_unusable(enum auth_mech, const struct auth_cred *);

/*
 * Run the exchange.  Returns res->outcome; res->text and res->detail say
 * what happened.  smtpc_alive() tells whether the connection survived.
 * Unless cr->probe, nothing is sent (-1, the reason in res->detail) when
 * smtpc_credential_refused() objects to this connection.
 */
int		 auth_run(struct smtpc *, enum auth_mech,
		    const struct auth_cred *, struct auth_result *res);

#endif
