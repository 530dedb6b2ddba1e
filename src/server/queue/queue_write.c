/*
 * The queue's write-back: after every change to a message's recipients
 * (but local deliveries, which their own job records with write_state()),
 * a pool thread writes the bounce for those that failed, if any, as a new
 * message, then the envelope without the delivered and failed ones, or
 * removes the message when nothing is left (INTERNALS.md, "Delivering a
 * message", steps 3 to 5).
 */
#include <sys/uio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/durable.h"
#include "common/log.h"
#include "server/queue/dsn.h"
#include "server/queue/queue_priv.h"
#include "server/shared/config.h"
#include "server/shared/envelope.h"
#include "server/shared/spool.h"

/* A pool job: write bounces and the envelope. */
struct writejob {
	struct queue	*q;
	struct qentry	*e;
	char		*envtext;
	size_t		 envlen;
	int		 empty;		/* nothing left: remove the message */
	struct envelope	 orig;		/* id, time, from; no rcpts */
	struct dsn_rcpt	*bounces;
	size_t		*bidx;
	size_t		 nbounces;
	char		 bounce_id[SPOOL_ID_LEN + 1];
	int		 result;
};

static void		 write_work(void *);
static void		 write_done(void *);
static int		 write_bounce(struct queue *, struct writejob *);

void
write_start(struct qentry *e)
{
	struct queue	*q = e->q;
	struct writejob	*w;
	struct env_rcpt	*r;
	size_t		 i, n = 0;
	int		 bad;
	char		 to[ADDR_PATH_MAX * 4 + 1];

	e->dirty = 0;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto fail;
	w->q = q;
	w->e = e;
	w->orig = *e->env;
	w->orig.rcpts = NULL;
	w->orig.nrcpts = 0;
	/*
	 * One bounce per message where possible: while other recipients
	 * are still under way, the failed ones stay in the envelope as if
	 * pending (a crash retries them, and they fail again).
	 */
	for (i = 0; i < e->env->nrcpts && e->njobs > 0; i++) {
		r = &e->env->rcpts[i];
		if (r->done == RCPT_FAILED && !r->reported)
			r->done = RCPT_PENDING;
		else
			continue;
		r->busy |= BUSY_HELD;	/* flipped back below */
	}
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (r->done != RCPT_FAILED || r->reported)
			continue;
		/* A bounce never bounces (RFC 5321 6.1, 3464). */
		if (e->env->from[0] == '\0') {
			log_info("bounce id=%s to=<%s> result=discarded "
			    "reason=\"the sender is <>\"", e->id,
			    log_escape_str(r->addr, to, sizeof(to)));
			r->reported = 1;
			continue;
		}
		n++;
	}
	if (n > 0 && ((w->bounces = calloc(n, sizeof(*w->bounces))) ==
	    NULL || (w->bidx = calloc(n, sizeof(*w->bidx))) == NULL))
		goto fail;
	for (i = 0; i < e->env->nrcpts && n > 0; i++) {
		r = &e->env->rcpts[i];
		if (r->done != RCPT_FAILED || r->reported)
			continue;
		w->bounces[w->nbounces].addr = r->addr;
		w->bounces[w->nbounces].error = r->error;
		w->bounces[w->nbounces].host = r->host;
		w->bidx[w->nbounces++] = i;
	}
	w->empty = envelope_pending(e->env) == 0;
	bad = !w->empty && envelope_format(e->env, &w->envtext,
	    &w->envlen) == -1;
	for (i = 0; i < e->env->nrcpts; i++) {
		r = &e->env->rcpts[i];
		if (r->busy & BUSY_HELD) {
			r->busy &= ~BUSY_HELD;
			r->done = RCPT_FAILED;
		}
	}
	if (bad)
		goto fail;
	e->writing = 1;
	/* Before any delivery waiting for a thread: what was delivered
	 * is recorded first (INTERNALS.md, "Delivering a message"). */
	if (workq_submit_first(q->wq, write_work, write_done, w) == -1) {
		e->writing = 0;
		goto fail;
	}
	return;
fail:
	log_warn("id=%s cannot write its state", e->id);
	if (w != NULL) {
		free(w->bounces);
		free(w->bidx);
		free(w->envtext);
		free(w);
	}
	e->write_failed = 1;
	entry_check(e);
}

/* On a pool thread: the bounce goes into the spool like any message. */
static int
write_bounce(struct queue *q, struct writejob *w)
{
	const struct config	*conf = q->conf;
	struct spool_msg	 m;
	struct envelope		 benv;
	struct dsn		 d;
	char			*hdr = NULL, *text = NULL, *envtext = NULL;
	char			 name[SPOOL_ID_LEN + 8];
	const char		*at;
	size_t			 textlen, envlen, i;
	ssize_t			 n = 0;
	int			 fd, r = -1;

	/* The headers of the failed message, to quote them. */
	snprintf(name, sizeof(name), "%s" SPOOL_MSG_SUFFIX, w->e->id);
	if ((hdr = malloc(DSN_HEADERS_MAX)) == NULL)
		return -1;
	if ((fd = openat(q->spool.queue_fd, name, O_RDONLY | O_CLOEXEC)) !=
	    -1) {
		n = pread_upto(fd, hdr, DSN_HEADERS_MAX, w->e->body_off,
		    w->e->body_off + (off_t)w->e->size);
		close(fd);
	}
	if (n < 0)
		n = 0;
	if (spool_msg_create(&q->spool, &m) == -1) {
		free(hdr);
		return -1;
	}
	memset(&d, 0, sizeof(d));
	d.hostname = conf->hostname;
	d.id = m.id;
	d.orig_id = w->e->id;
	d.sender = w->orig.from;
	d.arrival = w->orig.time;
	d.now = time(NULL);
	d.rcpts = w->bounces;
	d.nrcpts = w->nbounces;
	d.headers = hdr;
	d.headerslen = dsn_header_length(hdr, (size_t)n, DSN_HEADERS_MAX);
	memset(&benv, 0, sizeof(benv));
	if (dsn_build(&d, &text, &textlen) == -1)
		goto done;
	memcpy(benv.id, m.id, sizeof(benv.id));
	benv.time = d.now;
	snprintf(benv.ip, sizeof(benv.ip), "127.0.0.1");
	snprintf(benv.helo, sizeof(benv.helo), "%s", conf->hostname);
	for (i = 0; i < textlen; i++)
		if ((unsigned char)text[i] >= 0x80)
			benv.body8bit = 1;
	at = strrchr(w->orig.from, '@');
	if (envelope_add_rcpt(&benv, w->orig.from, at == NULL ||
	    !config_is_local_domain(conf, at + 1)) == -1 ||
	    envelope_format(&benv, &envtext, &envlen) == -1)
		goto done;
	spool_msg_envelope(&m, envtext, envlen);
	spool_msg_write(&m, text, textlen);
	if (spool_msg_commit(&m) == -1) {
		m.id[0] = '\0';		/* commit removed its file */
		goto done;
	}
	memcpy(w->bounce_id, m.id, sizeof(w->bounce_id));
	m.id[0] = '\0';
	r = 0;
done:
	if (m.id[0] != '\0')
		spool_msg_abort(&m);
	envelope_free(&benv);
	free(envtext);
	free(text);
	free(hdr);
	return r;
}

/*
 * On a pool thread: the state of message id goes to disk, its envelope
 * (envtext) or, when nothing is left, its removal.  Returns 0 or -1.
 */
int
write_state(struct queue *q, const char *id, const char *envtext,
    size_t envlen, int empty)
{
	struct spool	*sp = &q->spool;
	struct iovec	 iov;
	char		 name[SPOOL_ID_LEN + 8], tmp[SPOOL_ID_LEN + 8];

	if (empty) {
		/* The message (and the envelope in it) first, then the
		 * queue's copy of the envelope (INTERNALS.md). */
		if (spool_remove(sp, id) == -1) {
			log_warn("id=%s remove", id);
			return -1;
		}
		log_info("id=%s removed", id);
		return 0;
	}
	snprintf(name, sizeof(name), "%s" SPOOL_ENV_SUFFIX, id);
	snprintf(tmp, sizeof(tmp), "%s" SPOOL_TMP_SUFFIX, id);
	iov.iov_base = (void *)envtext;
	iov.iov_len = envlen;
	if (durable_write(sp->queue_fd, tmp, name, &iov, 1) == -1) {
		log_warn("id=%s rewrite envelope", id);
		return -1;
	}
	return 0;
}

static void
write_work(void *arg)
{
	struct writejob	*w = arg;

	w->result = -1;
	if (w->nbounces > 0 && write_bounce(w->q, w) == -1) {
		log_warn("id=%s cannot write a bounce", w->e->id);
		return;
	}
	w->result = write_state(w->q, w->e->id, w->envtext, w->envlen,
	    w->empty);
}

static void
write_done(void *arg)
{
	struct writejob	*w = arg;
	struct qentry	*e = w->e;
	struct queue	*q = w->q;
	size_t		 i;
	char		 to[ADDR_PATH_MAX * 4 + 1];

	e->writing = 0;
	if (w->result == 0) {
		for (i = 0; i < w->nbounces; i++)
			e->env->rcpts[w->bidx[i]].reported = 1;
		if (w->bounce_id[0] != '\0') {
			log_info("bounce id=%s for=%s to=<%s> nrcpt=%zu",
			    w->bounce_id, e->id,
			    log_escape_str(w->orig.from, to, sizeof(to)),
			    w->nbounces);
			queue_schedule(e->q, w->bounce_id, 0);
		}
		if (w->empty) {
			e->removed = 1;
			queue_recycle(q);
		}
	} else {
		/* The disk keeps the old state: try again later. */
		e->write_failed = 1;
	}
	free(w->bounces);
	free(w->bidx);
	free(w->envtext);
	free(w);
	entry_check(e);		/* may free e */
	queue_check_stop(q);
}
