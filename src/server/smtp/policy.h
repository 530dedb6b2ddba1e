/*
 * Who may send what to whom: the one place that decides (DESIGN.md).
 */
#ifndef SMTPAUTHD_POLICY_H
#define SMTPAUTHD_POLICY_H

#include "common/addr.h"
#include "server/shared/config.h"
#include "server/shared/users.h"

/* What the policy knows about the session asking. */
struct policy_client {
	enum listen_mode	 mode;
	const char		*auth_user;	/* NULL: not authenticated */
};

enum policy_verdict {
	POLICY_REJECT = 0,	/* *reply says why */
	POLICY_LOCAL,		/* deliver to a Maildir here */
	POLICY_RELAY,		/* queue for the relay */
	POLICY_LOOKUP,		/* local if the account store knows it */
};

/*
 * MAIL FROM.  Returns 1 (accept) or 0 with *reply set (530 on listeners
 * that require AUTH, 553 when an authenticated user sends as someone else
 * or as <>, with sender-login-match).
 */
int	policy_mail(const struct config *, const struct policy_client *,
	    const struct mailaddr *from, const char **reply);

/*
 * RCPT TO.  A recipient in local-domains must be a user (550 5.1.1), or,
 * with an account store (config_recipient_store()), is POLICY_LOOKUP
 * when the users file does not list it: the store decides; any
 * other domain is relayed only for an authenticated client (550 5.7.1).
 * canon receives the address to store ("local@domain", lower-cased for
 * local recipients); <postmaster> without a domain means postmaster at the
 * first local domain.
 */
enum policy_verdict
	policy_rcpt(const struct config *, const struct userset *,
	    const struct policy_client *, const struct mailaddr *to,
	    char *canon, size_t canonlen, const char **reply);

#endif
