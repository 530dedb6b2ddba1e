/*
 * Thread pool with completions delivered through an eventfd to the loop.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/workq.h"

struct job {
	void		(*work)(void *);
	void		(*done)(void *);
	void		*arg;
	struct job	*next;
};

struct jobq {
	struct job	*head;
	struct job	*tail;
};

struct workq {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct jobq	 first;		/* waiting for a thread, before todo */
	struct jobq	 todo;		/* waiting for a thread */
	struct jobq	 finished;	/* waiting for done() on the loop */
	atomic_uint	 pending;	/* submitted, done() not yet run */
	int		 stopping;
	int		 efd;
	struct event	*ev;
	pthread_t	*threads;
	unsigned	 nthreads;
};

static void	 jobq_push(struct jobq *, struct job *);
static struct job *jobq_pop(struct jobq *);
static int	 submit(struct workq *, int, void (*)(void *),
		    void (*)(void *), void *);
static void	*workq_thread(void *);
static void	 workq_drain(int, short, void *);
static void	 workq_run_done(struct workq *);

static void
jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *
jobq_pop(struct jobq *q)
{
	struct job	*j = q->head;

	if (j != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return j;
}

struct workq *
workq_new(struct event_base *base, unsigned nthreads)
{
	struct workq	*wq;
	unsigned	 i;

	if (nthreads == 0)
		nthreads = 1;
	if ((wq = calloc(1, sizeof(*wq))) == NULL)
		return NULL;
	if ((wq->threads = calloc(nthreads, sizeof(pthread_t))) == NULL)
		goto fail;
	if (pthread_mutex_init(&wq->lock, NULL) != 0 ||
	    pthread_cond_init(&wq->cond, NULL) != 0)
		goto fail;
	if ((wq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	wq->ev = event_new(base, wq->efd, EV_READ | EV_PERSIST, workq_drain,
	    wq);
	if (wq->ev == NULL || event_add(wq->ev, NULL) == -1)
		goto fail;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&wq->threads[i], NULL, workq_thread,
		    wq) != 0)
			fatalx("workq: pthread_create failed");
		wq->nthreads++;
	}
	return wq;
fail:
	log_warn("workq_new");
	if (wq->ev)
		event_free(wq->ev);
	free(wq->threads);
	free(wq);
	return NULL;
}

static int
submit(struct workq *wq, int first, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	struct job	*j;

	if ((j = malloc(sizeof(*j))) == NULL)
		return -1;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&wq->lock);
	jobq_push(first ? &wq->first : &wq->todo, j);
	atomic_fetch_add(&wq->pending, 1);
	pthread_cond_signal(&wq->cond);
	pthread_mutex_unlock(&wq->lock);
	return 0;
}

int
workq_submit(struct workq *wq, void (*work)(void *), void (*done)(void *),
    void *arg)
{
	return submit(wq, 0, work, done, arg);
}

int
workq_submit_first(struct workq *wq, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	return submit(wq, 1, work, done, arg);
}

unsigned
workq_pending(const struct workq *wq)
{
	return atomic_load(&wq->pending);
}

static void *
workq_thread(void *arg)
{
	struct workq	*wq = arg;
	struct job	*j;
	uint64_t	 one = 1;
	int		 wake;

	pthread_mutex_lock(&wq->lock);
	for (;;) {
		while (wq->first.head == NULL && wq->todo.head == NULL &&
		    !wq->stopping)
			pthread_cond_wait(&wq->cond, &wq->lock);
		if ((j = jobq_pop(&wq->first)) == NULL &&
		    (j = jobq_pop(&wq->todo)) == NULL)
			break;	/* stopping and nothing left */
		pthread_mutex_unlock(&wq->lock);

		j->work(j->arg);

		pthread_mutex_lock(&wq->lock);
		wake = wq->finished.head == NULL;
		jobq_push(&wq->finished, j);
		if (wake) {
			/*
			 * One wake-up per batch: the loop takes the whole
			 * list.  Written without the lock, which the loop
			 * it wakes takes at once.
			 */
			pthread_mutex_unlock(&wq->lock);
			if (write(wq->efd, &one, sizeof(one)) == -1 &&
			    errno != EAGAIN)
				log_warn("workq: eventfd write");
			pthread_mutex_lock(&wq->lock);
		}
	}
	pthread_mutex_unlock(&wq->lock);
	return NULL;
}

static void
workq_run_done(struct workq *wq)
{
	struct job	*j, *next;

	pthread_mutex_lock(&wq->lock);
	j = wq->finished.head;
	wq->finished.head = wq->finished.tail = NULL;
	pthread_mutex_unlock(&wq->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		/* Only the loop's thread reads it (workq_pending()). */
		atomic_fetch_sub(&wq->pending, 1);
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

static void
workq_drain(int fd, short events, void *arg)
{
	struct workq	*wq = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("workq: eventfd read");
	workq_run_done(wq);
}

void
workq_free(struct workq *wq)
{
	unsigned	i;

	if (wq == NULL)
		return;
	pthread_mutex_lock(&wq->lock);
	wq->stopping = 1;
	pthread_cond_broadcast(&wq->cond);
	pthread_mutex_unlock(&wq->lock);
	for (i = 0; i < wq->nthreads; i++)
		pthread_join(wq->threads[i], NULL);
	workq_run_done(wq);
	event_free(wq->ev);
	close(wq->efd);
	pthread_mutex_destroy(&wq->lock);
	pthread_cond_destroy(&wq->cond);
	free(wq->threads);
	free(wq);
}
