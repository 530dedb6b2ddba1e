/*
 * The mail transactions of smtpauth check: an outside recipient refused
 * without AUTH, a local one accepted, the outside one accepted after
 * AUTH, and with --send one real message.  Relay probes end with RSET,
 * never DATA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/check_priv.h"
#include "client/cliopt.h"
#include "client/send.h"
#include "client/smtpclient.h"
#include "common/reply.h"

#define SEND_BODY							\
	"This is a test message sent by smtpauth check --send.\r\n"

static int	probe_txn(struct checker *, int, const char *,
		    const struct reply **, char *, size_t);
static void	probe_end(struct checker *);

/*
 * A probe transaction: MAIL FROM:<--from> and, when that is accepted,
 * RCPT TO:<rcpt>.  Returns PROBE_RCPT with the RCPT reply in *r,
 * PROBE_MAIL with a refused MAIL's reply, or PROBE_LOST (check id then
 * says so); b gets the reply in brief.  The caller judges the reply, then
 * calls probe_end().
 */
enum { PROBE_LOST = -1, PROBE_MAIL = 1, PROBE_RCPT = 2 };

static int
probe_txn(struct checker *ck, int id, const char *rcpt,
    const struct reply **r, char *b, size_t blen)
{
	if (smtpc_cmd(ck->c, r, "MAIL FROM:<%s>", ck->from) == -1)
		goto lost;
	ck_brief(*r, b, blen);
	if (reply_class(*r) != 2)
		return PROBE_MAIL;
	if (smtpc_cmd(ck->c, r, "RCPT TO:<%s>", rcpt) == -1)
		goto lost;
	ck_brief(*r, b, blen);
	return PROBE_RCPT;
 lost:
	ck_set(ck, id, CHECK_WARN, "connection lost: %s", smtpc_error(ck->c));
	return PROBE_LOST;
}

static void
probe_end(struct checker *ck)
{
	const struct reply	*r;

	(void)smtpc_cmd(ck->c, &r, "RSET");
}

/*
 * Without AUTH an outside recipient must be refused: any 5xx, at MAIL or
 * at RCPT, is a refusal a client cannot get past (Postfix's 554 5.7.1 at
 * RCPT as well as a 530 at MAIL); the code is shown, not judged.  A 5.1.x
 * at MAIL is about the sender, not the relaying.
 */
void
check_relay_denied(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 got;

	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_RELAY_DENIED, CHECK_SKIP, "cannot connect again: "
		    "%s", ck->connerr);
		return;
	}
	got = probe_txn(ck, C_RELAY_DENIED, ck->relay_to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (reply_class(r) == 5 && r->code == 530)
		ck->submission = 1;
	if (got == PROBE_MAIL && reply_class(r) == 5 &&
	    strncmp(r->enhanced, "5.1.", 4) == 0)
		ck_set(ck, C_RELAY_DENIED, CHECK_WARN, "MAIL FROM:<%s> refused "
		    "(%s): relaying not probed (try --from)", ck->from, b);
	else if (got == PROBE_MAIL && reply_class(r) == 5) {
		ck->refuses_unauth = 1;
		ck_set(ck, C_RELAY_DENIED, CHECK_PASS, "refused at MAIL FROM "
		    "without AUTH: %s", b);
	} else if (got == PROBE_MAIL)
		ck_set(ck, C_RELAY_DENIED, CHECK_WARN, "MAIL FROM:<%s> "
		    "temporarily refused (%s): relaying not probed", ck->from,
		    b);
	else if (reply_class(r) == 2 && ck->src_kind != NULL) {
		ck->src_changed |= 1 << C_RELAY_DENIED;
		ck_set(ck, C_RELAY_DENIED, CHECK_WARN, "RCPT TO:<%s> accepted "
		    "without AUTH from %s (%s) (%s): an OPEN RELAY, or a "
		    "network the server trusts; cannot tell from here",
		    ck->relay_to, ck->src_addr, ck->src_kind, b);
	} else if (reply_class(r) == 2)
		ck_set(ck, C_RELAY_DENIED, CHECK_FAIL, "OPEN RELAY: RCPT "
		    "TO:<%s> accepted without AUTH from %s (%s)", ck->relay_to,
		    ck->src_addr, b);
	else if (reply_class(r) == 5) {
		ck->refuses_unauth = ck->refuses_unauth || r->code == 530;
		ck_set(ck, C_RELAY_DENIED, CHECK_PASS, "refused: %s", b);
	} else if (strncmp(r->enhanced, "4.7.", 4) == 0)
		/* Postfix's defer_unauth_destination, as Debian ships it. */
		ck_set(ck, C_RELAY_DENIED, CHECK_PASS, "refused (for now, by "
		    "policy): %s", b);
	else
		ck_set(ck, C_RELAY_DENIED, CHECK_WARN, "temporarily refused "
		    "(%s): cannot tell", b);
	probe_end(ck);
}

/*
 * A local recipient without AUTH, judged by the port's role: a port 25
 * must take it; a submission port may refuse unauthenticated mail at any
 * step, with any 5xx (and should: a submission port that takes mail
 * without AUTH is warned about).
 */
void
check_local_accepted(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 got, role = ck_role(ck);

	if (ck->to == NULL) {
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "no local recipient "
		    "(--to)");
		return;
	}
	if (ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_SKIP, "cannot connect "
		    "again: %s", ck->connerr);
		return;
	}
	got = probe_txn(ck, C_LOCAL_ACCEPTED, ck->to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (reply_class(r) == 2 && got == PROBE_RCPT) {
		if (role == ROLE_SUBMISSION)
			ck_set(ck, C_LOCAL_ACCEPTED, CHECK_WARN, "RCPT TO:<%s> "
			    "accepted without AUTH on a submission port: %s",
			    ck->to, b);
		else
			ck_set(ck, C_LOCAL_ACCEPTED, CHECK_PASS, "RCPT TO:<%s> "
			    "accepted without AUTH: %s", ck->to, b);
	} else if (reply_class(r) == 4)
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_WARN, "temporarily refused "
		    "at %s: %s", got == PROBE_MAIL ? "MAIL" : "RCPT", b);
	else if (got == PROBE_MAIL && strncmp(r->enhanced, "5.1.", 4) == 0)
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_WARN, "MAIL FROM:<%s> "
		    "refused (%s): not probed (try --from)", ck->from, b);
	else if (role == ROLE_MX)
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_FAIL, "%s refused without "
		    "AUTH on a port that must take mail from anyone: %s",
		    got == PROBE_MAIL ? "MAIL FROM" : "RCPT TO", b);
	else
		ck_set(ck, C_LOCAL_ACCEPTED, CHECK_PASS, "unauthenticated mail "
		    "refused at %s (%s): right for a submission port%s",
		    got == PROBE_MAIL ? "MAIL" : "RCPT", b,
		    role == ROLE_SUBMISSION ? "" : " (--role mx if this port "
		    "must take mail from anyone)");
	probe_end(ck);
}

/* After AUTH the outside recipient is accepted. */
void
check_relay_allowed(struct checker *ck)
{
	const struct reply	*r;
	char			 b[200];
	int			 got;

	if (!ck->authed || !smtpc_alive(ck->c)) {
		ck_set(ck, C_RELAY_ALLOWED, CHECK_SKIP, "not authenticated");
		return;
	}
	got = probe_txn(ck, C_RELAY_ALLOWED, ck->relay_to, &r, b, sizeof(b));
	if (got == PROBE_LOST)
		return;
	if (got == PROBE_MAIL)
		ck_set(ck, C_RELAY_ALLOWED, CHECK_FAIL, "MAIL FROM:<%s> "
		    "refused after AUTH: %s (try --from)", ck->from, b);
	else if (reply_class(r) == 2)
		ck_set(ck, C_RELAY_ALLOWED, CHECK_PASS, "RCPT TO:<%s> accepted "
		    "after AUTH: %s", ck->relay_to, b);
	else if (reply_class(r) == 4)
		ck_set(ck, C_RELAY_ALLOWED, CHECK_WARN, "temporarily refused: "
		    "%s", b);
	else if (strncmp(r->enhanced, "5.1.", 4) == 0)
		ck_set(ck, C_RELAY_ALLOWED, CHECK_WARN, "the address was "
		    "refused, not the relaying (%s): try a deliverable "
		    "--relay-to", b);
	else
		ck_set(ck, C_RELAY_ALLOWED, CHECK_FAIL, "relaying refused "
		    "after AUTH: %s", b);
	probe_end(ck);
}

/* --send: one real message. */
void
check_send(struct checker *ck)
{
	const struct reply	*r;
	const char		*rcpt, *rcpts[1];
	char			*msg = NULL, b[200], qid[QUEUE_ID_MAX];
	size_t			 msglen;
	int			 rv;

	if (!ck->send) {
		ck_set(ck, C_SEND, CHECK_SKIP, "no message sent (--send sends "
		    "one)");
		return;
	}
	rcpt = ck->to;
	if (rcpt == NULL && ck->authed && cliopt_is_address(ck->o.user))
		rcpt = ck->o.user;
	if (rcpt == NULL) {
		ck_set(ck, C_SEND, CHECK_SKIP, "no recipient: give --to");
		return;
	}
	if (!ck->authed && ck_need_conn(ck, 0) == -1) {
		ck_set(ck, C_SEND, CHECK_SKIP, "cannot connect again: %s",
		    ck->connerr);
		return;
	}
	if (!smtpc_alive(ck->c)) {
		ck_set(ck, C_SEND, CHECK_SKIP, "connection lost");
		return;
	}
	if (smtpc_cmd(ck->c, &r, "MAIL FROM:<%s>", ck->from) == -1)
		goto lost;
	if (reply_class(r) != 2) {
		ck_set(ck, C_SEND, CHECK_FAIL, "MAIL FROM:<%s>: %s", ck->from,
		    ck_brief(r, b, sizeof(b)));
		goto rset;
	}
	if (smtpc_cmd(ck->c, &r, "RCPT TO:<%s>", rcpt) == -1)
		goto lost;
	if (reply_class(r) != 2) {
		ck_set(ck, C_SEND, CHECK_FAIL, "RCPT TO:<%s>: %s", rcpt,
		    ck_brief(r, b, sizeof(b)));
		goto rset;
	}
	if (smtpc_cmd(ck->c, &r, "DATA") == -1)
		goto lost;
	if (r->code != 354) {
		ck_set(ck, C_SEND, CHECK_FAIL, "DATA: %s", ck_brief(r, b,
		    sizeof(b)));
		goto rset;
	}
	rcpts[0] = rcpt;
	if (message_build(ck->from, rcpts, 1, "smtpauth check", SEND_BODY,
	    sizeof(SEND_BODY) - 1, &msg, &msglen) == -1) {
		ck_set(ck, C_SEND, CHECK_FAIL, "cannot build the message");
		return;
	}
	rv = smtpc_data(ck->c, msg, msglen);
	free(msg);
	if (rv == -1 || smtpc_read_reply(ck->c, &r) == -1)
		goto lost;
	ck_brief(r, b, sizeof(b));
	if (reply_class(r) != 2) {
		ck_set(ck, C_SEND, CHECK_FAIL, "message refused: %s", b);
		return;
	}
	queue_id(r, qid, sizeof(qid));
	ck_set(ck, C_SEND, CHECK_PASS, "sent to <%s>, queue id %s (%s)", rcpt,
	    qid[0] ? qid : "none", b);
	return;
 rset:
	(void)smtpc_cmd(ck->c, &r, "RSET");
	return;
 lost:
	ck_set(ck, C_SEND, CHECK_FAIL, "connection lost: %s",
	    smtpc_error(ck->c));
}
