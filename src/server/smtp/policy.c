/*
 * The relay and recipient policy.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/smtp/policy.h"
#include "server/smtp/replies.h"

int
policy_mail(const struct config *conf, const struct policy_client *cl,
    const struct mailaddr *from, const char **reply)
{
	char	addr[ADDR_PATH_MAX + 1];

	if (cl->auth_user == NULL && cl->mode != LISTEN_SMTP) {
		*reply = R_AUTH_REQUIRED;
		return 0;
	}
	/*
	 * The null sender formats as "", which is no one's login: an
	 * authenticated user who gave it would send anonymously, and its
	 * failures would never bounce (RFC 5321 4.5.5).  Bounces come from
	 * servers, which do not authenticate, so nothing legitimate is lost.
	 */
	if (cl->auth_user != NULL && conf->sender_login_match &&
	    (addr_format(from, addr, sizeof(addr)) == -1 ||
	    strcasecmp(addr, cl->auth_user) != 0)) {
		*reply = R_SENDER_NOT_OWNED;
		return 0;
	}
	return 1;
}

enum policy_verdict
policy_rcpt(const struct config *conf, const struct userset *users,
    const struct policy_client *cl, const struct mailaddr *to,
    char *canon, size_t canonlen, const char **reply)
{
	struct mailaddr	 a = *to;
	char		 addr[ADDR_PATH_MAX + 1];

	if (a.domain[0] == '\0') {
		/* RFC 5321 4.5.1: <postmaster> must be accepted. */
		if (conf->nlocal_domains == 0) {
			*reply = R_RCPT_UNKNOWN;
			return POLICY_REJECT;
		}
		snprintf(a.domain, sizeof(a.domain), "%s",
		    conf->local_domains[0]);
	}
	if (addr_format(&a, addr, sizeof(addr)) == -1) {
		*reply = R_BAD_RCPT;
		return POLICY_REJECT;
	}
	if (config_is_local_domain(conf, a.domain)) {
		if (addr_lower(addr, canon, canonlen) == -1) {
			*reply = R_BAD_RCPT;
			return POLICY_REJECT;
		}
		if (users_contains(users, addr))
			return POLICY_LOCAL;
		/* Not in the file: the account store says, if there is one. */
		if (config_recipient_store(conf))
			return POLICY_LOOKUP;
		*reply = R_RCPT_UNKNOWN;
		return POLICY_REJECT;
	}
	if (cl->auth_user == NULL) {
		*reply = R_RELAY_DENIED;
		return POLICY_REJECT;
	}
	if ((size_t)snprintf(canon, canonlen, "%s", addr) >= canonlen) {
		*reply = R_BAD_RCPT;
		return POLICY_REJECT;
	}
	return POLICY_RELAY;
}
