/*
 * AUTH in the SMTP session (RFC 4954): when it is offered, the SASL
 * exchange of PLAIN and LOGIN, and the question to the auth process with
 * its answer told to the client.  No password is kept beyond the request.
 * Any other mechanism the auth process runs (it says which) is passed
 * through: each client message goes to it decoded, each challenge comes
 * back as a 334.  A -PLUS mechanism (channel binding) is offered only on a
 * TLS 1.3 session, and every SASL exchange started on one carries the
 * session's tls-exporter data (RFC 9266), computed here where the TLS
 * connection is, so the auth process can check the binding and tell a
 * downgrade.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/sasl.h"
#include "common/tls.h"
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
static void	auth_sasl_answered(void *, const struct auth_sasl_answer *);
static void	auth_sasl_send(struct session *, struct auth_sasl_request *);
static const struct auth_mech_info *mech_find(const struct session *,
		    const char *, size_t);
static int	mech_allowed(const struct session *,
		    const struct auth_mech_info *);
static int	mech_is_plus(const struct auth_mech_info *);
static int	session_can_bind(const struct session *);

static void	local_addr(const struct session *, struct sockaddr_storage *);

static const struct auth_mechs	default_mechs = { 2, {
	{ "PLAIN", 1 }, { "LOGIN", 1 } } };

/* The mechanisms the auth process runs (PLAIN and LOGIN until it said). */
static const struct auth_mechs *
mechs_of(const struct session *s)
{
	const struct auth_mechs	*m = authclient_mechs(s->w->auth);

	return m != NULL ? m : &default_mechs;
}

/* Plaintext mechanisms only over TLS, unless auth-over-plaintext. */
static int
mech_allowed(const struct session *s, const struct auth_mech_info *m)
{
	if (mech_is_plus(m) && !session_can_bind(s))
		return 0;
	return s->tls != NULL || s->w->conf->auth_over_plaintext ||
	    !m->plaintext;
}

/* A mechanism with channel binding (RFC 5802 section 6: "-PLUS"). */
static int
mech_is_plus(const struct auth_mech_info *m)
{
	size_t	len = strlen(m->name);

	return len > 5 && strcmp(m->name + len - 5, "-PLUS") == 0;
}

/* tls-exporter is defined for TLS 1.3 only (RFC 9266 3). */
static int
session_can_bind(const struct session *s)
{
	return s->tls != NULL &&
	    strcmp(tls_conn_version(s->tls), "TLSv1.3") == 0;
}

static const struct auth_mech_info *
mech_find(const struct session *s, const char *name, size_t len)
{
	const struct auth_mechs	*m = mechs_of(s);
	size_t			 i;

	for (i = 0; i < m->n; i++)
		if (strlen(m->m[i].name) == len &&
		    strncasecmp(m->m[i].name, name, len) == 0)
			return &m->m[i];
	return NULL;
}

/* "PLAIN LOGIN ..." for EHLO: those mech_allowed() lets through. */
const char *
auth_ehlo_mechs(const struct session *s)
{
	static char		 buf[AUTH_MECHS_MAX * (AUTH_MECH_NAME_MAX + 1)];
	const struct auth_mechs	*m = mechs_of(s);
	size_t			 i, off = 0;
	int			 n;

	buf[0] = '\0';
	for (i = 0; i < m->n; i++) {
		if (!mech_allowed(s, &m->m[i]))
			continue;
		n = snprintf(buf + off, sizeof(buf) - off, "%s%s",
		    off ? " " : "", m->m[i].name);
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

/*
 * AUTH is offered when there are users and a mechanism may be used: on a
 * TLS session any, in clear text those that are not plaintext (or all
 * when the configuration says so).  The same predicate decides what EHLO
 * says and what AUTH accepts.
 */
int
session_may_auth(const struct session *s)
{
	const struct auth_mechs	*m;
	size_t			 i;

	if (s->w->auth == NULL)
		return 0;
	m = mechs_of(s);
	for (i = 0; i < m->n; i++)
		if (mech_allowed(s, &m->m[i]))
			return 1;
	return 0;
}

int
session_in_sasl(const struct session *s)
{
	return s->state == STATE_AUTH_PLAIN ||
	    s->state == STATE_AUTH_LOGIN_USER ||
	    s->state == STATE_AUTH_LOGIN_PASS ||
	    s->state == STATE_AUTH_SASL;
}

const char *
auth_check(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	const struct auth_mech_info	*mi;
	const char			*mech = cmd->args;
	size_t				 mechlen;

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
	if ((mi = mech_find(s, mech, mechlen)) == NULL ||
	    (mech_is_plus(mi) && !session_can_bind(s)))
		return R_AUTH_MECH_UNKNOWN;
	if (!mech_allowed(s, mi))
		return R_AUTH_NEEDS_TLS;
	if (strcmp(mi->name, "PLAIN") == 0)
		ck->mech = AUTH_MECH_PLAIN;
	else if (strcmp(mi->name, "LOGIN") == 0)
		ck->mech = AUTH_MECH_LOGIN;
	else {
		ck->mech = AUTH_MECH_SASL;
		ck->mechname = mi->name;
	}
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
	if (ck->mech == AUTH_MECH_SASL) {
		struct auth_sasl_request	*req;

		snprintf(s->auth_mech_name, sizeof(s->auth_mech_name), "%s",
		    ck->mechname);
		if ((req = calloc(1, sizeof(*req))) == NULL) {
			session_reply(s, R_AUTH_TEMPFAIL);
			return;
		}
		req->step = AUTH_STEP_START;
		memcpy(&req->client, &s->peer, sizeof(req->client));
		local_addr(s, &req->local);
		req->tls = s->tls != NULL;
		snprintf(req->mech, sizeof(req->mech), "%s", ck->mechname);
		if (session_can_bind(s) && TLS_CBIND_LEN <= sizeof(req->cb) &&
		    tls_conn_cbind(s->tls, req->cb, TLS_CBIND_LEN) == 0)
			req->cblen = TLS_CBIND_LEN;
		if (ck->ir != NULL) {
			req->has_data = 1;
			/* RFC 4954 4: "=" is an empty initial response. */
			if (!(ck->irlen == 1 && ck->ir[0] == '=') &&
			    base64_decode(ck->ir, ck->irlen, req->data,
			    sizeof(req->data), &req->datalen) == -1) {
				free(req);
				session_reply(s, R_AUTH_BAD_BASE64);
				return;
			}
		}
		auth_sasl_send(s, req);
		return;
	}
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
	case STATE_AUTH_SASL: {
		struct auth_sasl_request	*req;

		if ((req = calloc(1, sizeof(*req))) == NULL) {
			session_reply(s, R_AUTH_TEMPFAIL);
			auth_finish(s, NULL);
			return;
		}
		req->step = AUTH_STEP_CONTINUE;
		req->exchange = s->auth_xid;
		if (base64_decode(line, len, req->data, sizeof(req->data),
		    &req->datalen) == -1) {
			free(req);
			break;
		}
		auth_sasl_send(s, req);
		return;
	}
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

/* One step to the auth process; req is wiped and freed. */
static void
auth_sasl_send(struct session *s, struct auth_sasl_request *req)
{
	s->flags |= SF_AUTHWAIT;
	session_set_state(s, STATE_AUTH_WAIT);
	evtimer_del(s->ev_timer);
	s->auth_req = authclient_sasl(s->w->auth, req, auth_sasl_answered, s);
	explicit_bzero(req, sizeof(*req));
	free(req);
}

static void
auth_sasl_answered(void *arg, const struct auth_sasl_answer *sa)
{
	struct session	*s = arg;
	char		*b64;
	size_t		 b64size = BASE64_ENCODED_SIZE(AUTH_DATA_MAX);

	s->auth_req = 0;
	if (sa->a.result == AUTH_CONTINUE) {
		s->flags &= ~SF_AUTHWAIT;
		if ((b64 = malloc(b64size)) == NULL ||
		    base64_encode(sa->challenge, sa->chlen, b64, b64size,
		    NULL) == -1) {
			free(b64);
			session_reply(s, R_AUTH_TEMPFAIL);
			auth_finish(s, NULL);
		} else {
			s->auth_xid = sa->exchange;
			session_set_state(s, STATE_AUTH_SASL);
			session_arm_timer(s);
			session_reply(s, "334 %s", b64);
			free(b64);
		}
		if (!(s->flags & SF_DEAD))
			session_process(s);
		session_settle(s);
		return;
	}
	/* The name the mechanism logged in, for the 235 bookkeeping. */
	snprintf(s->auth_login, sizeof(s->auth_login), "%.*s",
	    (int)sa->userlen, sa->user);
	s->auth_result = sa->a.result;
	s->auth_banned = sa->a.banned;
	auth_reply(s);
	session_settle(s);
}

/*
 * The listener's end of the connection, for the backend (Dovecot's lip=,
 * lport=); AF_UNSPEC when the socket cannot say.
 */
static void
local_addr(const struct session *s, struct sockaddr_storage *ss)
{
	socklen_t	sl = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (getsockname(s->fd, (struct sockaddr *)ss, &sl) == -1 ||
	    (ss->ss_family != AF_INET && ss->ss_family != AF_INET6))
		memset(ss, 0, sizeof(*ss));
}

/* Hand the credentials to the auth process and wait for its verdict. */
static void
auth_ask(struct session *s, const char *user, size_t userlen,
    const char *pass, size_t passlen)
{
	struct auth_request	req;

	memset(&req, 0, sizeof(req));
	memcpy(&req.client, &s->peer, sizeof(req.client));
	local_addr(s, &req.local);
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
	case AUTH_MALFORMED:
		/* The mechanism's message did not parse: as bad base64. */
		session_reply(s, R_AUTH_BAD_BASE64);
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
	s->auth_xid = 0;
	session_set_state(s, s->auth_return == STATE_CONNECTED ?
	    STATE_CONNECTED : STATE_HELO);
	session_arm_timer(s);
	if (quit != NULL)
		session_quit_now(s, quit, "auth-failures");
}
