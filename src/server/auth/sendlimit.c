/*
 * Sending limits (sendlimit.h).
 *
 * One question per MAIL (a message) or RCPT (a recipient) of an
 * authenticated session.  A refused one is not counted.
 *
 * Local counters: two failure ledgers (ledger.h, a sliding window of the
 * limit's SECONDS, LEDGER_ENTRIES accounts at most), one event per message
 * or recipient.  They count every message this node let through, also
 * those the store counted, so that a node that loses the store still
 * knows its own share.
 *
 * The store (guardstore_limit()): a counter per account and kind whose
 * window starts at its first message and lasts SECONDS (the key's
 * expiry), checked and raised in one script.  The answer waits for the
 * store (the worker waits for us, never blocking); when the store is
 * down, does not answer within its timeout or refuses the script, the
 * local counters answer.
 *
 * Log: one line per refusal, "send-limit account=... limit=... count=...
 * window=... counter=store|local".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/auth/guardstore.h"
#include "server/auth/ledger.h"
#include "server/auth/sendlimit.h"

#define LEDGER_ENTRIES	16384

struct pending {
	struct limit_request	 req;
	sendlimit_cb		 cb;
	void			*arg;
};

static struct {
	const struct config	*conf;
	struct ledger		*msgs;
	struct ledger		*rcpts;
} L;

static const struct send_limit *limit_of(enum limit_kind);
static struct ledger *ledger_of(enum limit_kind);
static void	 local_count(const struct limit_request *);
static void	 local_check(const struct limit_request *,
		    struct limit_answer *);
static void	 store_done(void *, int, unsigned);
static void	 log_refusal(const struct limit_request *,
		    const struct limit_answer *, const char *);

void
sendlimit_init(const struct config *conf)
{
	L.conf = conf;
	if (conf->send_limit.count > 0 &&
	    (L.msgs = ledger_new(conf->send_limit.secs,
	    LEDGER_ENTRIES)) == NULL)
		fatalx("out of memory");
	if (conf->send_limit_rcpts.count > 0 &&
	    (L.rcpts = ledger_new(conf->send_limit_rcpts.secs,
	    LEDGER_ENTRIES)) == NULL)
		fatalx("out of memory");
}

static const struct send_limit *
limit_of(enum limit_kind kind)
{
	return kind == LIMIT_MESSAGES ? &L.conf->send_limit :
	    &L.conf->send_limit_rcpts;
}

static struct ledger *
ledger_of(enum limit_kind kind)
{
	return kind == LIMIT_MESSAGES ? L.msgs : L.rcpts;
}

static void
local_count(const struct limit_request *req)
{
	struct ledger	*l = ledger_of(req->kind);
	uint64_t	 now = mono_sec();
	uint32_t	 i;

	for (i = 0; l != NULL && i < req->count; i++)
		(void)ledger_fail(l, req->account, req->acctlen, now);
}

static void
local_check(const struct limit_request *req, struct limit_answer *a)
{
	const struct send_limit	*sl = limit_of(req->kind);
	struct ledger		*l = ledger_of(req->kind);
	unsigned		 n;

	memset(a, 0, sizeof(*a));
	if (l == NULL) {
		a->result = AUTH_OK;	/* no such limit configured */
		return;
	}
	n = ledger_count(l, req->account, req->acctlen, mono_sec());
	if (n + req->count > sl->count) {
		a->result = AUTH_FAIL;
		/* The ledger slides: at most a whole window. */
		a->retry_secs = sl->secs;
		return;
	}
	a->result = AUTH_OK;
	local_count(req);
}

void
sendlimit_check(const struct limit_request *req, sendlimit_cb cb, void *arg)
{
	const struct send_limit	*sl = limit_of(req->kind);
	struct limit_answer	 a;
	struct pending		*p;

	if (sl->count > 0 && L.conf->guard_store.set && guardstore_up() &&
	    (p = malloc(sizeof(*p))) != NULL) {
		p->req = *req;
		p->cb = cb;
		p->arg = arg;
		if (guardstore_limit(req->kind == LIMIT_MESSAGES ? "msg" :
		    "rcpt", req->account, req->count, sl->count, sl->secs,
		    store_done, p) == 0)
			return;
		free(p);
	}
	local_check(req, &a);
	if (a.result == AUTH_FAIL)
		log_refusal(req, &a, "local");
	cb(arg, &a);
}

/*
 * The store's verdict: 1 counted, 0 over the limit (retry: seconds left in
 * its window), -1 no verdict (the local counters decide).
 */
static void
store_done(void *arg, int verdict, unsigned retry)
{
	struct pending		*p = arg;
	struct limit_answer	 a;

	memset(&a, 0, sizeof(a));
	switch (verdict) {
	case 1:
		a.result = AUTH_OK;
		local_count(&p->req);
		break;
	case 0:
		a.result = AUTH_FAIL;
		a.retry_secs = retry > 0 ? retry : 1;
		log_refusal(&p->req, &a, "store");
		break;
	default:
		local_check(&p->req, &a);
		if (a.result == AUTH_FAIL)
			log_refusal(&p->req, &a, "local");
		break;
	}
	p->cb(p->arg, &a);
	free(p);
}

static void
log_refusal(const struct limit_request *req, const struct limit_answer *a,
    const char *counter)
{
	const struct send_limit	*sl = limit_of(req->kind);
	char			 esc[AUTH_FIELD_MAX * 4 + 1];

	log_info("send-limit account=\"%s\" limit=%s max=%u window=%u "
	    "counter=%s retry=%u", log_escape(req->account, req->acctlen,
	    esc, sizeof(esc)), req->kind == LIMIT_MESSAGES ? "messages" :
	    "recipients", sl->count, sl->secs, counter, a->retry_secs);
}

void
sendlimit_tick(void)
{
	uint64_t	now = mono_sec();

	if (L.msgs != NULL)
		ledger_expire(L.msgs, now);
	if (L.rcpts != NULL)
		ledger_expire(L.rcpts, now);
}
