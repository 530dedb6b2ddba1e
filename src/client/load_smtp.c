/*
 * smtpauth load: the dialogue of one session, reply by reply: the
 * greeting, EHLO, STARTTLS and EHLO again, AUTH (each SASL step), the
 * messages (MAIL, RCPT and DATA pipelined when the server offers
 * PIPELINING), NOOPs while held or probing, and QUIT.  A refusal is
 * counted under its reply code and the session QUITs politely;
 * load_conn.c does the reading and writing.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client/auth.h"
#include "client/cliopt.h"
#include "client/load_priv.h"
#include "common/clock.h"
#include "common/reply.h"
#include "common/sasl.h"
#include "common/tls.h"

static void	 reply_fail(struct lconn *, int);
static void	 quit_fail(struct lconn *, const char *);
static void	 on_ehlo(struct lconn *, const struct reply *);
static void	 after_ehlo(struct lconn *);
static void	 after_auth(struct lconn *);
static void	 start_auth(struct lconn *);
static void	 auth_reply(struct lconn *, const struct reply *);
static void	 auth_cancel(struct lconn *, const char *);
static void	 next_message(struct lconn *);
static void	 go_idle(struct lconn *);

/* A refusal: count the code, then QUIT politely (not after a 421). */
static void
reply_fail(struct lconn *lc, int code)
{
	char	key[16];

	(void)snprintf(key, sizeof(key), "%d", code);
	if (!lc->failed)
		stats_error(&lc->L->st, key);
	lc->failed = 1;
	if (code == 421 || code == 221) {
		lc->fin = FIN_FAIL;
		return;
	}
	lsmtp_quit(lc);
}

/* Something we need is missing ("nostarttls", "noauth", "unverified"):
 * QUIT. */
static void
quit_fail(struct lconn *lc, const char *key)
{
	if (!lc->failed)
		stats_error(&lc->L->st, key);
	lc->failed = 1;
	lsmtp_quit(lc);
}

/* A whole reply has come: what it leads to in the session's state. */
void
lsmtp_reply(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	unsigned char	*blob;
	size_t		 len;
	char		 key[16];

	/* A TLS 1.3 ticket comes after the handshake, with the data. */
	if (L->resume && lc->tls_up && !lc->got_session &&
	    (blob = tls_get_session(lc->tls, &len)) != NULL) {
		tls_session_free(L->sess, L->sesslen);
		L->sess = blob;
		L->sesslen = len;
		lc->got_session = 1;
	}
	switch (lc->state) {
	case S_GREETING:
		if (r->code != 220) {
			reply_fail(lc, r->code);
			return;
		}
		stats_latency(&L->st, LAT_GREETING, mono_usec() - lc->t_step);
		if (lconn_out(lc, "EHLO %s", L->helo) == 0)
			lconn_set_state(lc, S_EHLO, 1);
		return;
	case S_EHLO:
		if (r->code != 250) {
			reply_fail(lc, r->code);
			return;
		}
		on_ehlo(lc, r);
		return;
	case S_STARTTLS:
		if (r->code != 220) {
			reply_fail(lc, r->code);
			return;
		}
		lconn_start_tls(lc);
		return;
	case S_AUTH:
		auth_reply(lc, r);
		return;
	case S_MAIL:
	case S_RCPT:
		if (reply_class(r) != 2 && lc->batch_fail == 0)
			lc->batch_fail = r->code;
		if (!lc->pipelining && lc->batch_fail != 0) {
			reply_fail(lc, lc->batch_fail);
			return;
		}
		if (lc->state == S_MAIL) {
			if (!lc->pipelining && lconn_out(lc, "RCPT TO:<%s>",
			    L->to) == -1)
				return;
			lconn_set_state(lc, S_RCPT, 0);
		} else {
			if (!lc->pipelining && lconn_out(lc, "DATA") == -1)
				return;
			lconn_set_state(lc, S_DATA, 0);
		}
		return;
	case S_DATA:
		if (lc->batch_fail != 0) {
			if (r->code == 354)
				lconn_fail(lc, "protocol");
			else
				reply_fail(lc, lc->batch_fail);
			return;
		}
		if (r->code != 354) {
			reply_fail(lc, r->code);
			return;
		}
		lc->xbuf = L->msg;
		lc->xoff = 0;
		lc->xlen = L->msglen;
		lc->mark_flush = 1;
		lconn_set_state(lc, S_BODY, 1);
		return;
	case S_BODY:
		if (reply_class(r) != 2) {
			reply_fail(lc, r->code);
			return;
		}
		stats_latency(&L->st, LAT_DATA, mono_usec() - lc->t_step);
		L->msgs_ok++;
		lc->msgs++;
		next_message(lc);
		return;
	case S_NOOP:
		if (reply_class(r) != 2) {
			reply_fail(lc, r->code);
			return;
		}
		stats_latency(&L->st, LAT_NOOP, mono_usec() - lc->t_step);
		go_idle(lc);
		return;
	case S_QUIT:
		lc->fin = lc->failed ? FIN_FAIL : FIN_OK;
		return;
	case S_IDLE:
		/* Unasked: a 421 before the server closes, say. */
		(void)snprintf(key, sizeof(key), "%d", r->code);
		lconn_fail(lc, key);
		return;
	default:
		lconn_fail(lc, "protocol");
		return;
	}
}

static void
on_ehlo(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	const char	*p;
	size_t		 n;

	lc->pipelining = reply_ehlo_keyword(r, "PIPELINING", NULL, NULL);
	lc->has_starttls = reply_ehlo_keyword(r, "STARTTLS", NULL, NULL);
	lc->has_auth = reply_ehlo_keyword(r, "AUTH", &p, &n);
	lc->authadvlen = 0;
	if (lc->has_auth) {
		if (n >= sizeof(lc->authadv))
			n = sizeof(lc->authadv) - 1;
		memcpy(lc->authadv, p, n);
		lc->authadv[n] = '\0';
		lc->authadvlen = n;
	}
	if (!lc->tls_up && L->o.tls == TLSMODE_STARTTLS) {
		if (!lc->has_starttls) {
			quit_fail(lc, "nostarttls");
			return;
		}
		if (lconn_out(lc, "STARTTLS") == 0)
			lconn_set_state(lc, S_STARTTLS, 1);
		return;
	}
	after_ehlo(lc);
}

static void
after_ehlo(struct lconn *lc)
{
	struct load	*L = lc->L;

	if (lc->probe)
		go_idle(lc);
	else if (L->cred.user != NULL)
		start_auth(lc);
	else
		after_auth(lc);
}

static void
after_auth(struct lconn *lc)
{
	if (lc->L->idle)
		go_idle(lc);
	else
		next_message(lc);
}

static void
start_auth(struct lconn *lc)
{
	struct load	*L = lc->L;
	enum auth_mech	 m = L->o.mech;
	char		 out[SASL_SCRAM_B64_SIZE];
	enum sasl_scram_hash h;
	int		 r;

	if (!lc->has_auth) {
		quit_fail(lc, "noauth");
		return;
	}
	/* Each connection on its own handshake, as smtpc_credential_refused. */
	if (smtpc_credential_rule(lc->tls_up, lc->verified,
	    cliopt_allow(&L->o)) != NULL) {
		quit_fail(lc, "unverified");
		return;
	}
	if (m == AUTH_MECH_NONE)
		m = auth_mech_best(lc->authadv, lc->authadvlen, &L->cred);
	else if (!reply_word_in(lc->authadv, lc->authadvlen,
	    auth_mech_name(m)))
		m = AUTH_MECH_NONE;
	if (m == AUTH_MECH_NONE) {
		quit_fail(lc, "noauth");
		return;
	}
	lc->mech = m;
	lc->auth_step = 0;
	switch (m) {
	case AUTH_MECH_PLAIN:
		r = lconn_out(lc, "AUTH PLAIN %s", L->plain);
		break;
	case AUTH_MECH_LOGIN:
		r = lconn_out(lc, "AUTH LOGIN");
		break;
	case AUTH_MECH_CRAM_MD5:
		r = lconn_out(lc, "AUTH CRAM-MD5");
		break;
	case AUTH_MECH_SCRAM_SHA1:
	case AUTH_MECH_SCRAM_SHA256:
		h = m == AUTH_MECH_SCRAM_SHA1 ? SASL_SCRAM_SHA1 :
		    SASL_SCRAM_SHA256;
		if ((lc->scram = calloc(1, sizeof(*lc->scram))) == NULL ||
		    sasl_scram_start(lc->scram, h, L->cred.user,
		    L->cred.userlen, NULL, 0, out, sizeof(out)) != SASL_OK) {
			lconn_fail(lc, "sasl");
			return;
		}
		r = lconn_out(lc, "AUTH %s %s", sasl_scram_mech(h), out);
		explicit_bzero(out, sizeof(out));
		break;
	case AUTH_MECH_XOAUTH2:
		r = lconn_out(lc, "AUTH XOAUTH2 %s", L->xoauth);
		break;
	default:
		r = -1;
		break;
	}
	if (r == 0)
		lconn_set_state(lc, S_AUTH, 1);
}

/* One step of the SASL exchange; the clock runs from AUTH to 235. */
static void
auth_reply(struct lconn *lc, const struct reply *r)
{
	struct load	*L = lc->L;
	const char	*t;
	char		 out[SASL_SCRAM_B64_SIZE];
	size_t		 n;
	enum sasl_error	 e;
	int		 step = (int)lc->auth_step++;

	if (r->code == 235) {
		if (lc->failed) {	/* after a cancel */
			lsmtp_quit(lc);
			return;
		}
		stats_latency(&L->st, LAT_AUTH, mono_usec() - lc->t_step);
		if (lc->scram != NULL) {
			sasl_scram_wipe(lc->scram);
			free(lc->scram);
			lc->scram = NULL;
		}
		after_auth(lc);
		return;
	}
	if (r->code != 334) {
		reply_fail(lc, r->code);
		return;
	}
	if (lc->failed) {
		auth_cancel(lc, NULL);
		return;
	}
	t = reply_line(r, 0, &n);
	lconn_arm_tmo(lc);
	switch (lc->mech) {
	case AUTH_MECH_LOGIN:
		if (step == 0)
			(void)lconn_out(lc, "%s", L->login_user);
		else if (step == 1)
			(void)lconn_out(lc, "%s", L->login_pass);
		else
			auth_cancel(lc, "sasl");
		return;
	case AUTH_MECH_CRAM_MD5:
		if (step != 0 || sasl_cram_md5_response(t, n, L->cred.user,
		    L->cred.userlen, L->cred.pass, L->cred.passlen, out,
		    sizeof(out)) != SASL_OK) {
			auth_cancel(lc, "sasl");
			return;
		}
		(void)lconn_out(lc, "%s", out);
		explicit_bzero(out, sizeof(out));
		return;
	case AUTH_MECH_SCRAM_SHA1:
	case AUTH_MECH_SCRAM_SHA256:
		if (step == 0) {
			e = sasl_scram_final(lc->scram, t, n, L->cred.pass,
			    L->cred.passlen, out, sizeof(out));
			if (e != SASL_OK) {
				auth_cancel(lc, "sasl");
				return;
			}
			(void)lconn_out(lc, "%s", out);
			explicit_bzero(out, sizeof(out));
		} else if (step == 1) {
			e = sasl_scram_verify(lc->scram, t, n);
			if (e != SASL_OK && e != SASL_EREJECTED) {
				auth_cancel(lc, "sasl");
				return;
			}
			(void)lconn_out(lc, "%s", "");
		} else
			auth_cancel(lc, "sasl");
		return;
	case AUTH_MECH_XOAUTH2:
		/* An error report in JSON: an empty line for the 535. */
		(void)lconn_out(lc, "%s", "");
		return;
	default:
		auth_cancel(lc, "sasl");
		return;
	}
}

/* Give up the exchange with "*"; the server's 501 ends it. */
static void
auth_cancel(struct lconn *lc, const char *key)
{
	if (key != NULL && !lc->failed)
		stats_error(&lc->L->st, key);
	lc->failed = 1;
	(void)lconn_out(lc, "*");
}

static void
next_message(struct lconn *lc)
{
	struct load	*L = lc->L;

	if (lc->msgs >= L->messages) {
		lsmtp_quit(lc);
		return;
	}
	lc->batch_fail = 0;
	if (lconn_out(lc, "MAIL FROM:<%s>", L->from) == -1)
		return;
	if (lc->pipelining && (lconn_out(lc, "RCPT TO:<%s>", L->to) == -1 ||
	    lconn_out(lc, "DATA") == -1))
		return;
	lconn_set_state(lc, S_MAIL, 1);
}

static void
go_idle(struct lconn *lc)
{
	struct load	*L = lc->L;
	struct timeval	 tv;

	if ((lc->probe && L->main_done) || (!lc->probe && L->stopping)) {
		lsmtp_quit(lc);
		return;
	}
	lconn_set_state(lc, S_IDLE, 0);
	if (lc->tls != NULL)
		tls_release_buffers(lc->tls);
	if (lc->probe)
		tv_ms(&tv, L->probe_ms);
	else
		tv_ms(&tv, (int64_t)L->noop_every * 1000);
	evtimer_add(lc->timer, &tv);
	if (lc->opening) {
		lc->opening = 0;
		lc->held = 1;
		L->opening--;
		L->idle_open++;
		load_next(L);
	}
}

/* QUIT; the session ends at the reply or when the server closes. */
void
lsmtp_quit(struct lconn *lc)
{
	evtimer_del(lc->timer);
	if (lconn_out(lc, "QUIT") == 0)
		lconn_set_state(lc, S_QUIT, 1);
}

/* The NOOP timer of a held session or of the probe. */
void
lsmtp_noop_cb(int fd, short events, void *arg)
{
	struct lconn	*lc = arg;

	if (lc->state != S_IDLE)
		return;
	if (lconn_out(lc, "NOOP") == 0)
		lconn_set_state(lc, S_NOOP, 1);
	lconn_pump(lc);
}
