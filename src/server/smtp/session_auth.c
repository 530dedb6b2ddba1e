/*
 * AUTH in the SMTP session (RFC 4954): when it is offered, the SASL
 * exchange of PLAIN and LOGIN, and the question to the auth process with
 * its answer told to the client.  No password is kept beyond the request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/sasl.h"
#include "server/shared/config.h"
#include "server/smtp/authclient.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

#define AUTH_MAX_FAILS	3	/* RFC 4954 9: close after the third */

static void	auth_ask(struct session *, const char *, size_t, const char *,
		    size_t);
static void	auth_answered(void *, const struct auth_answer *);
static void	auth_reply(struct session *);

/*
 * AUTH is offered on a TLS session, or in clear text only when the
 * configuration says so, and only when there are users.  The same
 * predicate decides what EHLO says and what AUTH accepts.
 */
int
session_may_auth(const struct session *s)
{
	return s->w->auth != NULL &&
	    (s->tls != NULL || s->w->conf->auth_over_plaintext);
}

int
session_in_sasl(const struct session *s)
{
	return s->state == STATE_AUTH_PLAIN ||
	    s->state == STATE_AUTH_LOGIN_USER ||
	    s->state == STATE_AUTH_LOGIN_PASS;
}

const char *
auth_check(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	const char	*mech = cmd->args;
	size_t		 mechlen;

	if (s->w->auth == NULL)
		return R_NO_AUTH;
	if (!session_may_auth(s))
		/* Refused before any password is looked at (RFC 4954 4). */
		return R_AUTH_NEEDS_TLS;
	if (s->state == STATE_CONNECTED)
		return R_NEED_EHLO;
	if (s->auth_user != NULL)
		return R_AUTH_TWICE;
	if (s->state != STATE_HELO)
		return R_AUTH_IN_MAIL;
	for (mechlen = 0; mechlen < cmd->argslen && mech[mechlen] != ' ';
	    mechlen++)
		;
	if (mechlen == 5 && strncasecmp(mech, "PLAIN", 5) == 0)
		ck->mech = AUTH_MECH_PLAIN;
	else if (mechlen == 5 && strncasecmp(mech, "LOGIN", 5) == 0)
		ck->mech = AUTH_MECH_LOGIN;
	else
		return R_AUTH_MECH_UNKNOWN;
	if (mechlen < cmd->argslen) {
		ck->ir = mech + mechlen + 1;
		ck->irlen = cmd->argslen - mechlen - 1;
	}
	return NULL;
}

void
auth_proceed(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	s->auth_return = s->state;
	s->auth_mech = ck->mech;
	if (ck->mech == AUTH_MECH_PLAIN) {
		session_set_state(s, STATE_AUTH_PLAIN);
		if (ck->ir == NULL) {
			session_reply(s, "334 ");
			return;
		}
	} else {
		session_set_state(s, STATE_AUTH_LOGIN_USER);
		if (ck->ir == NULL) {
			session_reply(s, "334 %s", SASL_LOGIN_CHALLENGE_USER);
			return;
		}
	}
	/* The initial response is in the line session_process() wipes. */
	session_sasl_line(s, (char *)ck->ir, ck->irlen);
}

/* One SASL answer of the client (after a 334, or an initial response). */
void
session_sasl_line(struct session *s, char *line, size_t len)
{
	struct sasl_plain	plain;
	char			pass[SASL_FIELD_MAX + 1];
	size_t			passlen;
	enum sasl_error		e;

	if (len == 1 && line[0] == '*') {
		session_reply(s, R_AUTH_CANCELLED);
		auth_finish(s, NULL);
		return;
	}
	/* RFC 4954 4: "=" is an empty initial response. */
	if (len == 1 && line[0] == '=')
		len = 0;
	switch (s->state) {
	case STATE_AUTH_PLAIN:
		e = sasl_plain_decode_b64(line, len, &plain);
		if (e == SASL_EAUTHZID) {
			/* No proxy authorisation: a credential failure. */
			session_reply(s, R_AUTH_FAILED);
			auth_finish(s, NULL);
			return;
		}
		if (e != SASL_OK)
			break;
		auth_ask(s, plain.authcid, plain.authcidlen, plain.passwd,
		    plain.passwdlen);
		sasl_plain_wipe(&plain);
		return;
	case STATE_AUTH_LOGIN_USER:
		e = sasl_login_decode_b64(line, len, s->auth_login,
		    sizeof(s->auth_login), &s->auth_loginlen);
		if (e != SASL_OK)
			break;
		session_reply(s, "334 %s", SASL_LOGIN_CHALLENGE_PASS);
		session_set_state(s, STATE_AUTH_LOGIN_PASS);
		return;
	case STATE_AUTH_LOGIN_PASS:
		e = sasl_login_decode_b64(line, len, pass, sizeof(pass),
		    &passlen);
		if (e != SASL_OK)
			break;
		{
			char	user[sizeof(s->auth_login)];
			size_t	userlen = s->auth_loginlen;

			memcpy(user, s->auth_login, userlen);
			auth_ask(s, user, userlen, pass, passlen);
			explicit_bzero(user, sizeof(user));
		}
		explicit_bzero(pass, sizeof(pass));
		return;
	default:
		return;
	}
	session_reply(s, R_AUTH_BAD_BASE64);
	auth_finish(s, NULL);
}

/* Hand the credentials to the auth process and wait for its verdict. */
static void
auth_ask(struct session *s, const char *user, size_t userlen,
    const char *pass, size_t passlen)
{
	struct auth_request	req;

	memset(&req, 0, sizeof(req));
	memcpy(&req.client, &s->peer, sizeof(req.client));
	req.tls = s->tls != NULL;
	req.mech = s->auth_mech;
	req.userlen = userlen;
	memcpy(req.user, user, userlen);
	req.passlen = passlen;
	memcpy(req.pass, pass, passlen);
	s->flags |= SF_AUTHWAIT;
	session_set_state(s, STATE_AUTH_WAIT);
	evtimer_del(s->ev_timer);
	/* The request keeps the user name for the 235 bookkeeping. */
	snprintf(s->auth_login, sizeof(s->auth_login), "%.*s", (int)userlen,
	    user);
	s->auth_req = authclient_verify(s->w->auth, &req, auth_answered, s);
	explicit_bzero(&req, sizeof(req));
}

static void
auth_answered(void *arg, const struct auth_answer *a)
{
	struct session	*s = arg;

	/*
	 * The auth process held a failure for its delay (it runs from the
	 * request: how long the hash took does not show): tell it now.
	 */
	s->auth_req = 0;
	s->auth_result = a->result;
	s->auth_banned = a->banned;
	auth_reply(s);
	session_settle(s);
}

/* The verdict, told to the client. */
static void
auth_reply(struct session *s)
{
	char	esc[ADDR_PATH_MAX * 4 + 1];

	s->flags &= ~SF_AUTHWAIT;
	switch (s->auth_result) {
	case AUTH_OK:
		s->auth_user = strdup(s->auth_login);
		if (s->auth_user == NULL) {
			session_reply(s, R_AUTH_TEMPFAIL);
			auth_finish(s, NULL);
			break;
		}
		log_info("session=%s authenticated user=\"%s\"", s->id,
		    log_escape(s->auth_login, strlen(s->auth_login), esc,
		    sizeof(esc)));
		session_reply(s, R_AUTH_OK);
		auth_finish(s, NULL);
		break;
	case AUTH_FAIL:
		s->auth_failures++;
		session_reply(s, R_AUTH_FAILED);
		if (s->auth_banned)
			auth_finish(s, R_BANNED);
		else if (s->auth_failures >= AUTH_MAX_FAILS)
			auth_finish(s, R_TOO_MANY_AUTH_FAILS);
		else
			auth_finish(s, NULL);
		break;
	default:
		/*
		 * Banned since the session began: the password was not
		 * looked at, so neither 235 nor 535, but the ban's 421.
		 */
		if (s->auth_banned) {
			log_info("session=%s refuse reason=banned ip=%s",
			    s->id, s->peerip);
			auth_finish(s, R_BANNED);
			break;
		}
		session_reply(s, R_AUTH_TEMPFAIL);
		auth_finish(s, NULL);
		break;
	}
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	if (!(s->flags & SF_DEAD))
		session_process(s);
}

/* Leave the SASL exchange; quit (a 421 format with %s) closes. */
void
auth_finish(struct session *s, const char *quit)
{
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	s->auth_loginlen = 0;
	session_set_state(s, s->auth_return == STATE_CONNECTED ?
	    STATE_CONNECTED : STATE_HELO);
	session_arm_timer(s);
	if (quit != NULL)
		session_quit_now(s, quit, "auth-failures");
}
