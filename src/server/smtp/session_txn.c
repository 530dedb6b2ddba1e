/*
 * The mail transaction of the SMTP session: MAIL, RCPT, DATA and BDAT,
 * the message octets through the content rule, and the spool file from
 * its envelope to the commit on the worker's thread pool.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/workq.h"
#include "server/shared/metrics.h"
#include "server/shared/config.h"
#include "server/shared/envelope.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

#define BODY_FLUSH	(64 * 1024)	/* write the body out from here */

static const char *session_protocol(const struct session *);
static int	txn_open_message(struct session *);
static void	txn_body_flush(struct session *);
static int	session_body_input(struct session *, uint64_t *);
static void	txn_finish(struct session *, unsigned);
static void	commit_work(void *);
static void	commit_done(void *);
static void	mail_limit_done(struct session *, int);
static void	rcpt_limit_done(struct session *, int);
static void	rcpt_local(struct session *, const char *);
static void	rcpt_add(struct session *, const char *, int);
static void	policy_client_of(const struct session *,
		    struct policy_client *);
static int	txn_spool_has_room(const struct session *, uint64_t);
static const char *txn_write_error(struct session *, int);

/* The transaction: forget it, and any message being received. */
void
txn_reset(struct session *s)
{
	milter_abort(s);
	if (s->msg_open) {
		spool_msg_abort(&s->msg);
		s->msg_open = 0;
	}
	evbuffer_drain(s->body, evbuffer_get_length(s->body));
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	memset(&s->mail, 0, sizeof(s->mail));
	s->bdat_size = s->bdat_left = 0;
	s->bdat_last = 0;
}

/* "with" of the Received: header (RFC 3848, RFC 6531). */
static const char *
session_protocol(const struct session *s)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][auth] */
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!(s->flags & SF_EHLO))
		return "SMTP";
	return names[s->mail.smtputf8 != 0][s->tls != NULL][s->auth_user != NULL];
}

/*
 * The envelope, at the head of the spool file: every recipient is known
 * when the message starts.
 */
static int
txn_write_envelope(struct session *s, time_t now)
{
	struct envelope	 env;
	char		*text = NULL;
	size_t		 i, len;
	int		 r = 0;

	memset(&env, 0, sizeof(env));
	memcpy(env.id, s->msg.id, sizeof(env.id));
	env.time = now;
	snprintf(env.ip, sizeof(env.ip), "%s", s->peerip);
	snprintf(env.helo, sizeof(env.helo), "%s", s->helo);
	if (s->auth_user != NULL &&
	    (size_t)snprintf(env.auth, sizeof(env.auth), "%s", s->auth_user) >=
	    sizeof(env.auth))
		r = -1;
	if (addr_format(&s->mail.from, env.from, sizeof(env.from)) == -1)
		r = -1;
	env.body8bit = s->mail.body == BODY_8BITMIME;
	env.smtputf8 = s->mail.smtputf8;
	for (i = 0; r == 0 && i < s->nrcpts; i++)
		r = envelope_add_rcpt(&env, s->rcpts[i].addr,
		    s->rcpts[i].remote);
	if (r == 0)
		r = envelope_format(&env, &text, &len);
	envelope_free(&env);
	if (r == 0)
		spool_msg_envelope(&s->msg, text, len);
	free(text);
	return r;
}

/*
 * Create the spool file: the envelope, then our Received: header (RFC 5321
 * 4.4) to start the message.
 */
static int
txn_open_message(struct session *s)
{
	char		 date[64], ip[80];
	struct tm	 tm;
	time_t		 now;

	if (spool_msg_create(&s->w->spool, &s->msg) == -1) {
		int	saved = errno;	/* for txn_write_error() */

		log_warn("session=%s spool create", s->id);
		errno = saved;
		return -1;
	}
	s->msg_open = 1;
	now = time(NULL);
	if (txn_write_envelope(s, now) == -1) {
		log_warn("session=%s envelope", s->id);
		spool_msg_abort(&s->msg);
		s->msg_open = 0;
		return -1;
	}
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (strchr(s->peerip, ':') != NULL)
		snprintf(ip, sizeof(ip), "IPv6:%s", s->peerip);
	else
		snprintf(ip, sizeof(ip), "%s", s->peerip);
	evbuffer_add_printf(s->body, "Received: from %s ([%s])\r\n"
	    "\tby %s with %s", s->helo, ip, s->w->conf->hostname,
	    session_protocol(s));
	if (s->tls != NULL)
		evbuffer_add_printf(s->body, " (%s)", s->tls_info);
	evbuffer_add_printf(s->body, " id %s", s->msg.id);
	/* Name the recipient only when there is one (no list leaks). */
	if (s->nrcpts == 1)
		evbuffer_add_printf(s->body, "\r\n\tfor <%s>", s->rcpts[0].addr);
	evbuffer_add_printf(s->body, "; %s\r\n", date);
	milter_octets(s, (const char *)evbuffer_pullup(s->body, -1),
	    evbuffer_get_length(s->body));
	return 0;
}

/* Move buffered body bytes to the spool file (page cache, no fsync). */
static void
txn_body_flush(struct session *s)
{
	struct evbuffer_iovec	v[8];
	int			n, i;

	while (evbuffer_get_length(s->body) > 0) {
		n = evbuffer_peek(s->body, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			spool_msg_write(&s->msg, v[i].iov_base, v[i].iov_len);
			evbuffer_drain(s->body, v[i].iov_len);
		}
	}
}

/*
 * Message bytes of DATA or of a BDAT chunk (at most *left octets of it,
 * counted down; NULL for DATA) through the content rule into the body.
 * Returns -1 when the session had to be closed.
 */
static int
session_body_input(struct session *s, uint64_t *left)
{
	const struct config	*conf = s->w->conf;
	struct evbuffer_iovec	 in, out;
	size_t			 n, used, outlen;
	/*
	 * The queue takes a queue/ID.part untouched for 2 x data-timeout
	 * for a crash's leftover: when BODY_FLUSH octets may take longer than
	 * data-timeout to arrive at data-min-rate, every input is written.
	 */
	int			 slow = conf->data_min_rate == 0 ||
	    (uint64_t)conf->data_min_rate * conf->data_timeout < BODY_FLUSH;

	while (!s->dp.done && (left == NULL || *left > 0) &&
	    evbuffer_peek(s->in, -1, NULL, &in, 1) > 0) {
		n = in.iov_len;
		if (left != NULL && n > *left)
			n = (size_t)*left;
		if (evbuffer_reserve_space(s->body, n, &out, 1) < 1) {
			session_close(s, "out-of-memory");
			return -1;
		}
		used = dataparse_feed(&s->dp, in.iov_base, n, out.iov_base,
		    &outlen);
		out.iov_len = outlen;
		milter_octets(s, out.iov_base, outlen);
		evbuffer_commit_space(s->body, &out, 1);
		evbuffer_drain(s->in, used);
		if (left != NULL)
			*left -= used;
		if (evbuffer_get_length(s->body) >= BODY_FLUSH || slow)
			txn_body_flush(s);
	}
	return 0;
}

void
session_data_input(struct session *s)
{
	if (session_body_input(s, NULL) == 0 && s->dp.done)
		txn_finish(s, s->dp.errors);
}

void
session_bdat_input(struct session *s)
{
	if (session_body_input(s, &s->bdat_left) == -1 || s->bdat_left > 0)
		return;
	if (!s->bdat_last) {
		session_reply(s, R_BDAT_OK,
		    s->bdat_size);
		session_set_state(s, STATE_BDAT_WAIT);
		session_arm_timer(s);
		return;
	}
	txn_finish(s, dataparse_end(&s->dp));
}

/* The chunk of a refused BDAT: read and thrown away (RFC 3030 2). */
void
session_skip_input(struct session *s)
{
	size_t	n = evbuffer_get_length(s->in);

	if (n > s->skip)
		n = (size_t)s->skip;
	evbuffer_drain(s->in, n);
	s->skip -= n;
	/* Skipped: the next command gets command-timeout, not the rest of
	 * the chunk's deadline. */
	if (s->skip == 0)
		session_arm_timer(s);
}

/*
 * The end of the message: refuse it, or commit it on the thread pool and
 * answer when that is done.
 */
static void
txn_finish(struct session *s, unsigned errors)
{
	if (errors) {
		const char *why;

		if (errors & DATA_ESIZE)
			why = R_TOO_BIG;
		else if (errors & DATA_EBARELF)
			why = R_BARE_LF;
		else if (errors & DATA_EBARECR)
			why = R_BARE_CR;
		else
			why = R_LINE_TOO_LONG;
		session_reply(s, "%s", why);
		log_info("session=%s reject cmd=%s reply=\"%s\"", s->id,
		    s->state == STATE_BDAT ? "BDAT" : "DATA", why);
		txn_end(s);
		return;
	}
	if (milter_eom(s))
		return;		/* txn_commit() or txn_end() follows */
	txn_commit(s);
}

/* The transaction is over, its reply given. */
void
txn_end(struct session *s)
{
	txn_reset(s);
	session_set_state(s, STATE_HELO);
	session_arm_timer(s);
}

/* Commit the message on the thread pool; answer when that is done. */
void
txn_commit(struct session *s)
{
	if (workq_submit(s->w->wq, commit_work, commit_done, s) == -1) {
		log_warn("session=%s commit", s->id);
		session_reply(s, R_QUEUE_ERROR);
		txn_reset(s);
		session_set_state(s, STATE_HELO);
		return;
	}
	s->flags |= SF_BUSY;
	session_set_state(s, STATE_SPOOLING);
	evtimer_del(s->ev_timer);
}

/* On a pool thread: nothing else touches s->msg and s->body meanwhile. */
static void
commit_work(void *arg)
{
	struct session	*s = arg;

	txn_body_flush(s);
	if (milter_changes(s) && milter_rewrite(s) == -1) {
		s->commit_result = -1;
		s->commit_errno = errno;
		return;
	}
	s->commit_result = spool_msg_commit(&s->msg);
	s->commit_errno = errno;
}

static void
commit_done(void *arg)
{
	struct session	*s = arg;
	char		 from[ADDR_PATH_MAX + 1], esc[ADDR_PATH_MAX * 4 + 1];

	s->flags &= ~SF_BUSY;
	s->msg_open = 0;
	if (s->commit_result == 0) {
		if (addr_format(&s->mail.from, from, sizeof(from)) == -1)
			from[0] = '\0';
		log_info("session=%s queued id=%s from=<%s> nrcpt=%zu "
		    "size=%" PRIu64, s->id, s->msg.id,
		    log_escape(from, strlen(from), esc, sizeof(esc)),
		    s->nrcpts, s->msg.size);
		worker_notify_queue(s->w, s->msg.id);
		METRICS_ADD(messages, 1);
		METRICS_ADD(bytes, s->msg.size);
		s->nmessages++;
		if (!(s->flags & SF_DEAD))
			session_reply(s, R_QUEUED, s->msg.id);
	} else {
		errno = s->commit_errno;
		log_warn("session=%s spool commit id=%s", s->id, s->msg.id);
		if (!(s->flags & SF_DEAD))
			session_reply(s, "%s", txn_write_error(s,
			    s->commit_errno));
	}
	txn_reset(s);
	if (!(s->flags & SF_DEAD)) {
		session_set_state(s, STATE_HELO);
		session_arm_timer(s);
		session_process(s);
	}
	session_settle(s);
}

/*
 * Queue_minfree: a new message is taken only while the spool keeps
 * spool-min-free bytes free after it (its SIZE=, when given), so that the
 * messages already arriving and the queue's own files still fit.
 */
static int
txn_spool_has_room(const struct session *s, uint64_t size)
{
	uint64_t	avail = worker_spool_free(s->w);
	uint64_t	need = s->w->conf->spool_min_free;

	return avail >= need && avail - need >= size;
}

/*
 * The reply to a spool file that could not be made or written: a full
 * file system (or quota) is 452 4.3.1 (RFC 3463), anything else 451.
 */
static const char *
txn_write_error(struct session *s, int err)
{
	if (err == ENOSPC || err == EDQUOT) {
		worker_spool_stale(s->w);
		return R_NO_STORAGE;
	}
	return R_QUEUE_ERROR;
}

/* The policy's view of the session. */
static void
policy_client_of(const struct session *s, struct policy_client *pc)
{
	pc->mode = s->lc->mode;
	pc->auth_user = s->auth_user;
}

const char *
txn_check_mail(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	struct policy_client	 pc;
	struct cmd_error	 err;
	const char		*why;

	switch (s->state) {
	case STATE_CONNECTED:
		return R_NEED_HELO;
	case STATE_MAIL:
	case STATE_RCPT:
	case STATE_BDAT_WAIT:
		return R_NESTED_MAIL;
	default:
		break;
	}
	if (cmdparse_mail(cmd->args, cmd->argslen, &ck->mail, &err) == -1)
		return err.reply;
	if (ck->mail.has_size && ck->mail.size > s->w->conf->max_message_size)
		return R_TOO_BIG;
	if (!txn_spool_has_room(s, ck->mail.has_size ? ck->mail.size : 0))
		return R_NO_STORAGE;
	policy_client_of(s, &pc);
	if (!policy_mail(s->w->conf, &pc, &ck->mail.from, &why))
		return why;
	return NULL;
}

void
txn_proceed_mail(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	s->mail = ck->mail;
	if (!session_limit_ask(s, LIMIT_MESSAGES, mail_limit_done))
		mail_limit_done(s, 1);
}

/* MAIL, once the account's message limit let it through (or not). */
static void
mail_limit_done(struct session *s, int allowed)
{
	if (!allowed) {
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	session_set_state(s, STATE_MAIL);
	session_reply(s, R_MAIL_OK);
}

const char *
txn_check_rcpt(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	struct policy_client	 pc;
	struct rcpt_args	 ra;
	struct cmd_error	 err;
	const char		*why;

	if (s->state == STATE_BDAT_WAIT)
		return R_RCPT_AFTER_BDAT;
	if (s->state != STATE_MAIL && s->state != STATE_RCPT)
		return R_NEED_MAIL;
	if (s->nrcpts >= s->w->conf->max_recipients)
		return R_TOO_MANY_RCPTS;
	if (cmdparse_rcpt(cmd->args, cmd->argslen, s->mail.smtputf8, &ra,
	    &err) == -1)
		return err.reply;
	policy_client_of(s, &pc);
	ck->verdict = policy_rcpt(s->w->conf, s->w->users, &pc, &ra.to,
	    ck->canon, sizeof(ck->canon), &why);
	if (ck->verdict == POLICY_REJECT)
		return why;
	return NULL;
}

void
txn_proceed_rcpt(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	if (ck->verdict == POLICY_LOOKUP)
		session_rcpt_ask(s, ck->canon, rcpt_local);
	else
		rcpt_add(s, ck->canon, ck->verdict == POLICY_RELAY);
}

/* A recipient of local-domains the account store knows. */
static void
rcpt_local(struct session *s, const char *addr)
{
	rcpt_add(s, addr, 0);
}

static void
rcpt_add(struct session *s, const char *addr, int remote)
{
	struct txn_rcpt	*r;

	r = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*r));
	if (r == NULL) {
		session_reply(s, R_NO_MEMORY);
		log_info("session=%s reject cmd=RCPT reply=\"%s\"", s->id,
		    R_NO_MEMORY);
		return;
	}
	s->rcpts = r;
	snprintf(r[s->nrcpts].addr, sizeof(r[s->nrcpts].addr), "%s", addr);
	r[s->nrcpts].remote = remote;
	s->nrcpts++;
	if (!session_limit_ask(s, LIMIT_RECIPIENTS, rcpt_limit_done))
		rcpt_limit_done(s, 1);
}

/* RCPT (the last one added), once the recipient limit said. */
static void
rcpt_limit_done(struct session *s, int allowed)
{
	if (!allowed) {
		s->nrcpts--;
		return;
	}
	session_set_state(s, STATE_RCPT);
	session_reply(s, R_RCPT_OK);
}

const char *
txn_check_data(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (s->state == STATE_BDAT_WAIT)
		return R_DATA_AFTER_BDAT;
	if (s->state == STATE_MAIL)
		return R_NO_RCPTS;
	if (s->state != STATE_RCPT)
		return R_NEED_RCPT;
	if (cmd->argslen > 0)
		return R_DATA_SYNTAX;
	return NULL;
}

void
txn_proceed_data(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	if (txn_open_message(s) == -1) {
		session_reply(s, "%s", txn_write_error(s, errno));
		return;
	}
	dataparse_init(&s->dp, s->w->conf->max_message_size);
	session_set_state(s, STATE_DATA);
	session_arm_timer(s);
	session_reply(s, R_DATA_GO);
}

/*
 * A refused BDAT is still followed by its chunk (RFC 3030 2), which
 * session_line() has skipped: that is why a BDAT check parses the size
 * first.
 */
const char *
txn_check_bdat(const struct session *s, const struct smtp_command *cmd,
    struct checked *ck)
{
	if (cmdparse_bdat(cmd->args, cmd->argslen, &ck->bdat_size,
	    &ck->bdat_last) == -1)
		return R_BDAT_SYNTAX;
	ck->bdat_ok = 1;
	if (s->state == STATE_MAIL)
		return R_NO_RCPTS;
	if (s->state != STATE_RCPT && s->state != STATE_BDAT_WAIT)
		return R_NEED_RCPT;
	return NULL;
}

void
txn_proceed_bdat(struct session *s, const struct smtp_command *cmd,
    const struct checked *ck)
{
	uint64_t	max = s->w->conf->max_message_size;

	if (s->state == STATE_RCPT) {
		if (txn_open_message(s) == -1) {
			session_reply(s, "%s", txn_write_error(s, errno));
			s->skip = ck->bdat_size;
			return;
		}
		dataparse_init_raw(&s->dp, max);
		s->bdat_size = 0;
	}
	/* Refused at the end, like DATA; the chunk is still read. */
	if (ck->bdat_size > max || s->bdat_size > max - ck->bdat_size)
		s->dp.errors |= DATA_ESIZE;
	s->bdat_size += ck->bdat_size;
	s->bdat_left = ck->bdat_size;
	s->bdat_last = ck->bdat_last;
	session_set_state(s, STATE_BDAT);
	session_arm_timer(s);
}
