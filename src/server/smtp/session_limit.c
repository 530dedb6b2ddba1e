/*
 * Sending limits of an authenticated account (send-limit,
 * send-limit-recipients): before MAIL is accepted the session asks the
 * auth process whether the account may send one more message, before a
 * RCPT is accepted whether it may send to one more recipient.  The worker
 * never talks to the guard store: the auth process counts (in the store,
 * shared by every node, or alone) and answers.  While the question is out
 * the session reads no further command (SF_AUTHWAIT, s->auth_req), as for
 * AUTH.
 *
 * Over the limit: 451 4.7.1 and a log line; the command is not counted,
 * so a client that retries after the window gets through.  The auth
 * process cannot be asked (down, restarting): 451 4.3.0, never an
 * unchecked message.  Sessions that did not authenticate, and every
 * session when no limit is set, ask nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "server/shared/authproto.h"
#include "server/shared/config.h"
#include "server/smtp/authclient.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

static void	limit_answered(void *, const struct limit_answer *);

int
session_limit_ask(struct session *s, enum limit_kind kind,
    session_limit_done done)
{
	const struct config	*conf = s->w->conf;
	struct limit_request	 req;
	size_t			 len;

	if (s->auth_user == NULL)
		return 0;
	if ((kind == LIMIT_MESSAGES ? conf->send_limit.count :
	    conf->send_limit_rcpts.count) == 0)
		return 0;
	len = strlen(s->auth_user);
	if (len == 0 || len > AUTH_FIELD_MAX)
		return 0;	/* cannot be: AUTH bounds it */
	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.count = 1;
	req.acctlen = len;
	memcpy(req.account, s->auth_user, len);
	s->limit_kind = kind;
	s->limit_done = done;
	s->flags |= SF_AUTHWAIT;
	evtimer_del(s->ev_timer);
	s->auth_req = authclient_limit(s->w->auth, &req, limit_answered, s);
	return 1;
}

static void
limit_answered(void *arg, const struct limit_answer *a)
{
	struct session		*s = arg;
	session_limit_done	 done = s->limit_done;
	const char		*what;
	char			 esc[AUTH_FIELD_MAX * 4 + 1];

	s->auth_req = 0;
	s->flags &= ~SF_AUTHWAIT;
	s->limit_done = NULL;
	what = s->limit_kind == LIMIT_MESSAGES ? "messages" : "recipients";
	switch (a->result) {
	case AUTH_OK:
		break;
	case AUTH_FAIL:
		session_reply(s, R_SEND_LIMIT, a->retry_secs);
		log_info("session=%s refuse reason=send-limit limit=%s "
		    "user=\"%s\" retry=%u", s->id, what,
		    log_escape(s->auth_user, strlen(s->auth_user), esc,
		    sizeof(esc)), a->retry_secs);
		break;
	default:
		session_reply(s, R_SEND_LIMIT_UNKNOWN);
		log_info("session=%s refuse reason=send-limit-unknown "
		    "limit=%s", s->id, what);
		break;
	}
	session_arm_timer(s);
	done(s, a->result == AUTH_OK);
	if (!(s->flags & SF_DEAD))
		session_process(s);
	session_settle(s);
}
