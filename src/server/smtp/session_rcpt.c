/*
 * Recipients of local-domains checked against the account store
 * (dovecot-userdb, auth-backend ldap): when the users file does not list
 * an address, the session asks the auth process, the only process that
 * talks to the store, and reads no further command until it answers
 * (SF_AUTHWAIT, s->auth_req), as for AUTH.  The worker's loop never waits:
 * the question is a message, the answer a callback, and many sessions
 * ask at once.
 *
 * An account: the recipient is added (and its sending limit asked).  No
 * account: 550 5.1.1.  The store down or too slow, or the auth process
 * unreachable: 451 4.3.0, never 250 for an address nobody vouched for and
 * never a 5xx for one the store could not look up.
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "server/shared/authproto.h"
#include "server/smtp/authclient.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

static void	rcpt_answered(void *, const struct auth_answer *);

void
session_rcpt_ask(struct session *s, const char *addr, session_rcpt_done done)
{
	struct rcpt_request	req;
	size_t			len = strlen(addr);

	memset(&req, 0, sizeof(req));
	if (len == 0 || len > AUTH_RCPT_MAX || len >= sizeof(s->rcpt_addr) ||
	    s->w->auth == NULL) {
		session_reply(s, R_RCPT_TEMPFAIL);
		log_info("session=%s refuse reason=recipient-lookup "
		    "result=tempfail", s->id);
		return;
	}
	memcpy(req.addr, addr, len);
	req.len = len;
	memcpy(s->rcpt_addr, addr, len + 1);
	s->rcpt_done = done;
	s->flags |= SF_AUTHWAIT;
	evtimer_del(s->ev_timer);
	s->auth_req = authclient_rcpt(s->w->auth, &req, rcpt_answered, s);
}

static void
rcpt_answered(void *arg, const struct auth_answer *a)
{
	struct session		*s = arg;
	session_rcpt_done	 done = s->rcpt_done;
	char			 esc[ADDR_PATH_MAX * 4 + 1];

	s->auth_req = 0;
	s->flags &= ~SF_AUTHWAIT;
	s->rcpt_done = NULL;
	session_arm_timer(s);
	switch (a->result) {
	case AUTH_OK:
		done(s, s->rcpt_addr);
		break;
	case AUTH_FAIL:
		session_reply(s, R_RCPT_UNKNOWN);
		log_info("session=%s reject cmd=RCPT to=\"%s\" reply=\"%s\"",
		    s->id, log_escape(s->rcpt_addr, strlen(s->rcpt_addr), esc,
		    sizeof(esc)), R_RCPT_UNKNOWN);
		break;
	default:
		session_reply(s, R_RCPT_TEMPFAIL);
		log_info("session=%s refuse reason=recipient-lookup "
		    "result=tempfail to=\"%s\"", s->id,
		    log_escape(s->rcpt_addr, strlen(s->rcpt_addr), esc,
		    sizeof(esc)));
		break;
	}
	if (!(s->flags & SF_DEAD))
		session_process(s);
	session_settle(s);
}
