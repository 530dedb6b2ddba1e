/*
 * A small thread pool whose jobs report back on a libevent loop.
 *
 * work() runs on a pool thread and may block (fsync, hashing); done() runs
 * later on the loop's thread.  Jobs start in submission order, those
 * submitted with workq_submit_first() before all the others.
 */
#ifndef SMTPAUTH_WORKQ_H
#define SMTPAUTH_WORKQ_H

struct event_base;
struct workq;

struct workq	*workq_new(struct event_base *, unsigned nthreads);
/* Returns 0, or -1 (ENOMEM) and nothing was queued. */
int		 workq_submit(struct workq *, void (*work)(void *),
		    void (*done)(void *), void *arg);
/* The same, for a job that goes before every workq_submit() one waiting
 * (after the workq_submit_first() ones already waiting). */
int		 workq_submit_first(struct workq *, void (*work)(void *),
		    void (*done)(void *), void *arg);
/* Jobs waiting or running. */
unsigned	 workq_pending(const struct workq *);
/* Finish every submitted job (done() included), then stop the threads. */
void		 workq_free(struct workq *);

#endif
