/*
 * threads.c - other threads and the loop (threads.h): the inbox and its
 * eventfd, the pool of threads, to_thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "ctxvar.h"
#include "fdwatch.h"
#include "future.h"
#include "hamt.h"
#include "locks.h"
#include "task.h"
#include "threads.h"
#include "trace.h"

/* One call handed over by another thread. */
struct cl__xcall {
	struct cl__xcall *next;
	cl_callback fn;
	void *arg;
	struct cl_context *ctx;		 /* run it in this one (a reference) */
	int now;	/* the pool's own: run by the drain itself, not
			   queued (asyncio's call_soon_threadsafe puts it
			   straight on the ready queue; this saves the
			   iteration that queuing here would cost) */
};

/*
 * The loop's inbox. lock guards the list, holds and signalled; the file
 * descriptors do not change while the loop is held.
 */
struct cl__xthread {
	pthread_mutex_t lock;
	struct cl__xcall *head, **tail; /* oldest first */
	int holds;	/* cl_loop_hold minus cl_loop_unhold */
	int watched;	/* rfd has the loop's reader (the loop's thread) */
	int unwatching;	/* xthread_unwatch is queued (the loop's thread) */
	int signalled;	/* a wake-up is written and not yet read */
	int rfd, wfd;	/* eventfd (rfd == wfd), or a pipe's two ends */
	struct cl__job *jobs; /* the pool's calls not freed yet: the loop's
				 thread only */
};

/* Make the inbox and its eventfd (a pipe if COROLAB_SELFPIPE=1 or there
 * is no eventfd). 0 or a negative errno value. */
static int xthread_open(struct cl_loop *loop)
{
	struct cl__xthread *x = calloc(1, sizeof *x);
	const char *pipe_only = getenv("COROLAB_SELFPIPE");
	int fds[2] = { -1, -1 };

	if (x == NULL)
		return -ENOMEM;
#ifdef __linux__
	if (pipe_only == NULL || strcmp(pipe_only, "1") != 0)
		fds[0] = fds[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
	(void)pipe_only;
#endif
	if (fds[0] < 0 && pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		int err = errno;

		free(x);
		return -err;
	}
	pthread_mutex_init(&x->lock, NULL);
	x->tail = &x->head;
	x->rfd = fds[0];
	x->wfd = fds[1];
	loop->xt = x;
	CL_TRACE("loop.waker", "fd=%d kind=%s", x->rfd,
		 x->rfd == x->wfd ? "eventfd" : "pipe");
	return 0;
}

/* Read every pending wake-up: the eventfd's counter goes back to 0; the
 * pipe is emptied. */
static void xthread_read_wakeups(struct cl__xthread *x)
{
	char buf[64];

	while (read(x->rfd, buf, sizeof buf) > 0 && x->rfd != x->wfd)
		;
}

/* Write one wake-up. EAGAIN means wake-ups are already waiting: enough. */
static void xthread_write_wakeup(struct cl__xthread *x)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(x->wfd, &one, x->rfd == x->wfd ? sizeof one : 1);
	while (n < 0 && errno == EINTR);
}

// LAB ch07 threadsafe: xthread_post (any thread): append c to loop->xt's
// LAB ch07: list under its lock, wake the loop only if no wake-up is pending;
// LAB ch07: -ENOTCONN when not held. xthread_drain (the loop's thread, fd
// LAB ch07: readable): read the wake-ups, take the whole list, call_soon each
// LAB ch07: call in order (c->now: call it there and then, the pool's).
// LAB ch07: Mirrors base_events.call_soon_threadsafe, _write_to_self; sec. 6.
// HINT1 ch07: Decide "must I write?" under the lock (signalled), but write
// HINT1 ch07: after unlocking: the loop may drain in between, which only
// HINT1 ch07: costs one empty wake-up.
// HINT2 ch07: The drain reads the fd first, then clears signalled in the
// HINT2 ch07: critical section that takes the list: a wake-up written after
// HINT2 ch07: the read belongs to calls that the next drain will see.
// HINT3 ch07: Take the list with head = NULL, tail = &head under the lock,
// HINT3 ch07: then walk your copy without it: c->fn(c->arg) if c->now,
// HINT3 ch07: else cl_loop_call_soon_ctx(loop, c->fn, c->arg, c->ctx); then
// HINT3 ch07: cl_context_decref(c->ctx), free(c).
static int xthread_post(struct cl_loop *loop, struct cl__xcall *c)
{
	struct cl__xthread *x = loop->xt;
	int wake;

	if (x == NULL)
		return -ENOTCONN;
	c->next = NULL;
	pthread_mutex_lock(&x->lock);
	if (x->holds == 0) {
		pthread_mutex_unlock(&x->lock);
		return -ENOTCONN;
	}
	*x->tail = c;
	x->tail = &c->next;
	wake = !x->signalled;
	x->signalled = 1;
	pthread_mutex_unlock(&x->lock);
	if (wake)
		xthread_write_wakeup(x);
	return 0;
}

static void xthread_drain(void *arg)
{
	struct cl_loop *loop = arg;
	struct cl__xthread *x = loop->xt;
	struct cl__xcall *c, *next;

	xthread_read_wakeups(x);
	pthread_mutex_lock(&x->lock);
	c = x->head;
	x->head = NULL;
	x->tail = &x->head;
	x->signalled = 0;
	pthread_mutex_unlock(&x->lock);
	for (; c != NULL; c = next) {
		next = c->next;
		if (c->now)
			c->fn(c->arg);
		else
			cl_loop_call_soon_ctx(loop, c->fn, c->arg, c->ctx);
		cl_context_decref(c->ctx);
		free(c);
	}
}
// STUB ch07:
// static int xthread_post(struct cl_loop *loop, struct cl__xcall *c)
// {
// 	(void)loop, (void)c, (void)xthread_write_wakeup;
// 	return -ENOSYS;
// }
//
// static void xthread_drain(void *arg)
// {
// 	(void)arg, (void)xthread_read_wakeups;
// }
// END ch07

int cl_loop_call_soon_threadsafe(struct cl_loop *loop, cl_callback fn,
				 void *arg)
{
	struct cl__xcall *c = malloc(sizeof *c);
	int err;

	if (c == NULL)
		return -ENOMEM;
	c->fn = fn;
	c->arg = arg;
	c->now = 0;
	c->ctx = cl_context_copy_unshared(cl_context_current());
	if (c->ctx == NULL) {
		free(c);
		return -ENOMEM;
	}
	err = xthread_post(loop, c);
	if (err < 0) {
		cl_context_decref(c->ctx);
		free(c);
	}
	return err;
}

int cl_loop_hold(struct cl_loop *loop)
{
	struct cl__xthread *x;
	int err;

	if (loop->xt == NULL && (err = xthread_open(loop)) < 0)
		return err;
	x = loop->xt;
	if (!x->watched) {
		err = cl_loop_add_reader(loop, x->rfd, xthread_drain, loop);
		if (err < 0)
			return err;
		x->watched = 1;
	}
	pthread_mutex_lock(&x->lock);
	x->holds++;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

/*
 * Queued by the last unhold: if nobody held the loop again meanwhile,
 * stop watching the inbox, after running what is in it. One iteration
 * late, so that a task calling to_thread in a loop does not add and
 * remove the descriptor (two epoll_ctl calls) at every call.
 */
static void xthread_unwatch(void *arg)
{
	struct cl_loop *loop = arg;
	struct cl__xthread *x = loop->xt;

	x->unwatching = 0;
	if (x->holds > 0 || !x->watched)
		return;
	xthread_drain(loop);
	cl_loop_remove_reader(loop, x->rfd);
	x->watched = 0;
}

void cl_loop_unhold(struct cl_loop *loop)
{
	struct cl__xthread *x = loop->xt;
	int holds;

	if (x == NULL || x->holds == 0)
		return;
	pthread_mutex_lock(&x->lock);
	holds = --x->holds;
	pthread_mutex_unlock(&x->lock);
	if (holds == 0 && !x->unwatching &&
	    cl_loop_call_soon(loop, xthread_unwatch, loop) != NULL)
		x->unwatching = 1;
	else if (holds == 0 && !x->unwatching)
		xthread_unwatch(loop); /* no memory for the handle: now */
}

int cl_loop_holds(struct cl_loop *loop)
{
	return loop->xt == NULL ? 0 : loop->xt->holds;
}

/* The pool. */

/* One call of fn(arg) on the pool. */
struct cl__job {
	struct cl__job *next;
	void *(*fn)(void *arg);
	void *arg;
	struct cl_context *ctx; /* run fn in it; the worker drops it */
	void *result;		/* fn's return value, or */
	struct cl_exc *exc;	/* what it raised (a reference) */
	struct cl_loop *loop;
	struct cl_future *fut;	/* the loop's future (a reference) */
	struct cl_executor *ex;
	int skip;		/* cancelled while queued: do not run fn
				   (under ex->lock) */
	int started;		/* a thread took it (under ex->lock) */
	int refs;		/* the loop thread's: the job's return and
				   job_cancelled's registration */
	struct cl__job *prev, *next_live; /* in the loop's xt->jobs */
	int worker;		/* which thread of the pool ran it, from 1 */
	int traced;		/* the loop's tracer was on at the submit:
				   the pool's thread takes the times (the
				   flag is the loop thread's own) */
	void (*after)(void *arg); /* the loop's thread, when fn is over */
	void *after_arg;
	uint64_t begin, end;	/* when, on the loop's real clock (us) */
};

/* The loop's thread: drop one of the job's two references; the last
 * takes it off the loop's list and frees it. */
static void job_unref(struct cl__job *j)
{
	struct cl__xthread *x = j->loop->xt;

	if (--j->refs > 0)
		return;
	if (j->prev != NULL)
		j->prev->next_live = j->next_live;
	else
		x->jobs = j->next_live;
	if (j->next_live != NULL)
		j->next_live->prev = j->prev;
	free(j);
}

struct cl_executor {
	pthread_mutex_t lock;	   /* guards all that follows */
	pthread_cond_t more;	   /* a job was queued, or shutdown */
	struct cl__job *head, **tail;
	pthread_t *threads;
	int nthreads, max_workers;
	int idle;		   /* threads waiting for a job, or about to */
	int nqueued;		   /* jobs in the queue, not taken yet */
	int nstarted;		   /* threads that began to run: their ids */
	int shutdown;
};

struct cl_executor *cl_executor_new(int max_workers)
{
	struct cl_executor *ex = calloc(1, sizeof *ex);

	if (max_workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		/* os.cpu_count() or 1, plus 4, at most 32 */
		max_workers = n <= 0 ? 5 : n + 4 < 32 ? (int)n + 4 : 32;
	}
	if (ex == NULL ||
	    (ex->threads = calloc((size_t)max_workers, sizeof *ex->threads)) ==
		    NULL) {
		free(ex);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ex->lock, NULL);
	pthread_cond_init(&ex->more, NULL);
	ex->tail = &ex->head;
	ex->max_workers = max_workers;
	return ex;
}

int cl_executor_nthreads(struct cl_executor *ex)
{
	int n;

	pthread_mutex_lock(&ex->lock);
	n = ex->nthreads;
	pthread_mutex_unlock(&ex->lock);
	return n;
}

/*
 * The loop's thread: the job's future is done before the job (it was
 * cancelled). A job still in the queue will not run: the pool's thread
 * that takes it only hands it back (_chain_future's _call_check_cancel,
 * and the pool's set_running_or_notify_cancel).
 */
static void job_cancelled(struct cl_future *f, void *arg)
{
	struct cl__job *j = arg;

	(void)f;
	if (j->ex != NULL) { /* NULL: the job is back and its pool gone */
		pthread_mutex_lock(&j->ex->lock);
		if (!j->started)
			j->skip = 1;
		pthread_mutex_unlock(&j->ex->lock);
	}
	job_unref(j);
}

/* The loop's thread: the job is done; complete its future. */
static void job_done(void *arg)
{
	struct cl__job *j = arg;

	/* Not queued yet: job_cancelled will not run; its reference goes.
	 * Already queued (the future was cancelled): it runs later, so the
	 * job must outlive this call, without its pool. */
	if (cl_future_remove_done_callback(j->fut, job_cancelled, j) > 0)
		job_unref(j);
	j->ex = NULL;
	if (cl_future_done(j->fut)) /* cancelled meanwhile: drop it all */
		cl_exc_decref(j->exc);
	else if (j->exc != NULL)
		cl_future_set_exception(j->fut, j->exc);
	else
		cl_future_set_result(j->fut, j->result);
	/* The tracer is the loop's: the pool's thread left its times in j,
	 * and the loop writes them, the thread as a lane of its own. */
	if (j->after != NULL)
		j->after(j->after_arg);
	CL_TRACE("thread.run", "fut=%lu worker=%d begin=%llu end=%llu "
		 "skipped=%d", j->fut->id, j->worker,
		 (unsigned long long)j->begin, (unsigned long long)j->end,
		 j->skip);
	cl_future_decref(j->fut);
	j->fut = NULL;
	cl_loop_unhold(j->loop);
	job_unref(j);
}

/* Microseconds on j's loop's real clock (loop.c's: monotonic time
 * since the loop was made; start_ns never changes). */
static uint64_t job_clock(const struct cl__job *j)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec -
		j->loop->start_ns) / 1000;
}

/* Run one job on this thread, catching what it raises. */
static void job_run(struct cl__job *j)
{
	if (j->traced)
		j->begin = job_clock(j);
	CL_TRY {
		j->result = j->ctx != NULL
				    ? cl_context_run(j->ctx, j->fn, j->arg)
				    : j->fn(j->arg);
	} CL_CATCH(e) {
		j->exc = e;
	} CL_END_TRY;
	if (j->traced)
		j->end = job_clock(j);
}

/* Hand the finished job back to its loop. The loop is held for the job,
 * so the inbox is open; if the post fails all the same, nothing could
 * ever complete the job's future, and the loop would wait forever: say
 * so and stop. */
static void job_post(struct cl__job *j)
{
	struct cl__xcall *c = malloc(sizeof *c);
	int err = -ENOMEM;

	if (c != NULL) {
		c->fn = job_done;
		c->arg = j;
		c->ctx = NULL;
		c->now = 1;
		err = xthread_post(j->loop, c);
	}
	if (err < 0) {
		fprintf(stderr, "corolab: a pool thread cannot hand its result "
				"to the loop: %s%s\n", strerror(-err),
			err == -ENOSYS ? " (TODO ch07 threadsafe)" : "");
		abort();
	}
}

/* A thread of the pool: take jobs, oldest first, until shutdown and no
 * job is left (ThreadPoolExecutor's _worker). */
static void *worker(void *arg)
{
	struct cl_executor *ex = arg;
	struct cl__job *j;
	int me;

	pthread_mutex_lock(&ex->lock);
	me = ++ex->nstarted;
	ex->idle++; /* ready for a call */
	for (;;) {
		while (ex->head == NULL && !ex->shutdown)
			pthread_cond_wait(&ex->more, &ex->lock);
		j = ex->head;
		if (j == NULL) /* shut down, and nothing queued */
			break;
		if ((ex->head = j->next) == NULL)
			ex->tail = &ex->head;
		ex->nqueued--;
		ex->idle--;
		j->started = 1;
		j->worker = me;
		pthread_mutex_unlock(&ex->lock);
		if (!j->skip) /* under the lock above: it cannot change now */
			job_run(j);
		cl_context_decref(j->ctx); /* the thread's to drop */
		j->ctx = NULL;
		/* Ready again before the loop hears of the result: a call it
		 * submits next finds this thread counted, not a new one. */
		pthread_mutex_lock(&ex->lock);
		ex->idle++;
		pthread_mutex_unlock(&ex->lock);
		job_post(j);
		pthread_mutex_lock(&ex->lock);
	}
	ex->idle--;
	pthread_mutex_unlock(&ex->lock);
	/* What this thread kept for reuse goes with it. */
	cl__context_free_spares();
	cl__future_free_spares();
	return NULL;
}

/* Queue j; start a thread if the calls queued outnumber the threads
 * ready for them and the pool may grow
 * (ThreadPoolExecutor._adjust_thread_count). 0 or a negative errno. */
static int executor_submit(struct cl_executor *ex, struct cl__job *j)
{
	int err = 0;

	pthread_mutex_lock(&ex->lock);
	if (ex->shutdown) {
		pthread_mutex_unlock(&ex->lock);
		return -ESHUTDOWN;
	}
	j->next = NULL;
	*ex->tail = j;
	ex->tail = &j->next;
	/* A thread asleep is claimed by one queued call: start one more
	 * when the calls queued outnumber them (_adjust_thread_count's
	 * _idle_semaphore). */
	if (++ex->nqueued > ex->idle && ex->nthreads < ex->max_workers) {
		err = -pthread_create(&ex->threads[ex->nthreads], NULL, worker,
				      ex);
		if (err == 0)
			ex->nthreads++;
		else if (ex->nthreads > 0)
			err = 0; /* the threads there will get to it */
	}
	if (err == 0)
		pthread_cond_signal(&ex->more);
	else { /* no thread to run it: take it back */
		ex->head = NULL;
		ex->tail = &ex->head;
		ex->nqueued = 0;
	}
	pthread_mutex_unlock(&ex->lock);
	return err;
}

void cl_executor_shutdown(struct cl_executor *ex)
{
	if (ex == NULL)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->shutdown = 1;
	pthread_cond_broadcast(&ex->more);
	pthread_mutex_unlock(&ex->lock);
	for (int i = 0; i < ex->nthreads; i++)
		pthread_join(ex->threads[i], NULL);
	pthread_cond_destroy(&ex->more);
	pthread_mutex_destroy(&ex->lock);
	free(ex->threads);
	free(ex);
}

/* run_in_executor, and after(after_arg) on the loop's thread once fn
 * is over, whether or not the future was cancelled meanwhile. */
static struct cl_future *run_in_executor(struct cl_loop *loop,
					 struct cl_executor *ex,
					 void *(*fn)(void *arg), void *arg,
					 struct cl_context *ctx,
					 void (*after)(void *arg),
					 void *after_arg)
{
	struct cl__job *j = calloc(1, sizeof *j);
	int err = -ENOMEM;

	if (j == NULL || (j->fut = cl_future_new(loop)) == NULL)
		goto fail;
	if (ex == NULL) {
		if (loop->executor == NULL &&
		    (loop->executor = cl_executor_new(0)) == NULL)
			goto fail;
		ex = loop->executor;
	}
	if ((err = cl_loop_hold(loop)) < 0)
		goto fail;
	j->fn = fn;
	j->arg = arg;
	j->ctx = ctx;
	j->loop = loop;
	j->ex = ex;
	j->after = after;
	j->after_arg = after_arg;
	j->traced = cl__trace_enabled;
	j->refs = 2;
	if ((err = cl_future_add_done_callback(j->fut, job_cancelled, j)) < 0) {
		cl_loop_unhold(loop);
		goto fail;
	}
	cl_future_incref(j->fut); /* the job's */
	if ((err = executor_submit(ex, j)) < 0) {
		cl_future_remove_done_callback(j->fut, job_cancelled, j);
		cl_future_decref(j->fut);
		cl_loop_unhold(loop);
		goto fail;
	}
	j->next_live = loop->xt->jobs;
	if (j->next_live != NULL)
		j->next_live->prev = j;
	loop->xt->jobs = j;
	CL_TRACE("thread.submit", "fut=%lu", j->fut->id);
	return j->fut;

fail:
	cl_context_decref(ctx);
	if (j != NULL)
		cl_future_decref(j->fut);
	free(j);
	errno = -err;
	return NULL;
}

struct cl_future *cl_loop_run_in_executor_ctx(struct cl_loop *loop,
					      struct cl_executor *ex,
					      void *(*fn)(void *arg),
					      void *arg, struct cl_context *ctx)
{
	return run_in_executor(loop, ex, fn, arg, ctx, NULL, NULL);
}

struct cl_future *cl_loop_run_in_executor(struct cl_loop *loop,
					  struct cl_executor *ex,
					  void *(*fn)(void *arg), void *arg)
{
	return run_in_executor(loop, ex, fn, arg, NULL, NULL, NULL);
}

/* to_thread, and after(after_arg) when fn is over. */
static void *to_thread(void *(*fn)(void *arg), void *arg,
		       void (*after)(void *arg), void *after_arg,
		       const struct cl_site *site)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_context *ctx;
	struct cl_future *f;
	void *out = NULL;

	if (loop == NULL || loop->cur_task == NULL) {
		if (after != NULL)
			after(after_arg);
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_to_thread outside a task"), site);
	}
	ctx = cl_context_copy_unshared(cl_context_current());
	f = ctx == NULL ? NULL
			: run_in_executor(loop, NULL, fn, arg, ctx, after,
					  after_arg);
	if (f == NULL) {
		int err = errno;

		if (after != NULL) /* fn will never run */
			after(after_arg);
		cl__raise_at(cl_exc_new(&cl_RuntimeError, "cl_to_thread: %s",
					strerror(err)), site);
	}
	CL_TRY {
		out = cl__await_at(f, site);
	} CL_CATCH(e) {
		cl_future_cancel(f); /* fn runs on; its result is dropped */
		cl_future_decref(f);
		cl__raise_at(e, site);
	} CL_END_TRY;
	cl_future_decref(f);
	return out;
}

void *cl__to_thread_at(void *(*fn)(void *arg), void *arg,
		       const struct cl_site *site)
{
	return to_thread(fn, arg, NULL, NULL, site);
}

/* The limiter. */

void cl_limiter_init(struct cl_limiter *l, long n)
{
	cl_semaphore_init(&l->sem, n);
	l->sem.waiters.what_id = CL_SYNC_ID(CL_SYNC_LIMITER, l->sem.id);
}

void cl_limiter_destroy(struct cl_limiter *l)
{
	cl_semaphore_destroy(&l->sem);
}

static void limiter_release(void *arg)
{
	struct cl_limiter *l = arg;

	cl_semaphore_release(&l->sem);
}

void *cl__limiter_to_thread_at(struct cl_limiter *l, void *(*fn)(void *arg),
			       void *arg, const struct cl_site *site)
{
	cl_semaphore_acquire(&l->sem);
	/* From here the unit is the call's: given back when fn is over,
	 * not when this task stops waiting for it (a cancelled task would
	 * let one more call start while fn still runs). */
	return to_thread(fn, arg, limiter_release, l, site);
}

void cl__threads_loop_free(struct cl_loop *loop)
{
	struct cl__xthread *x = loop->xt;
	struct cl__xcall *c, *next;
	struct cl__job *j;

	/* shutdown_default_executor: the threads finish what they run. */
	cl_executor_shutdown(loop->executor);
	loop->executor = NULL;
	if (x == NULL)
		return;
	if (x->watched)
		cl_loop_remove_reader(loop, x->rfd);
	for (c = x->head; c != NULL; c = next) {
		next = c->next;
		cl_context_decref(c->ctx);
		free(c);
	}
	/* The pool's calls whose return never ran (dropped from the queue
	 * or the inbox): every thread is done with them. */
	while ((j = x->jobs) != NULL) {
		x->jobs = j->next_live;
		if (j->fut != NULL) {
			cl_future_remove_done_callback(j->fut, job_cancelled, j);
			cl_future_decref(j->fut);
		}
		cl_exc_decref(j->exc);
		free(j);
	}
	close(x->rfd);
	if (x->wfd != x->rfd)
		close(x->wfd);
	pthread_mutex_destroy(&x->lock);
	free(x);
	loop->xt = NULL;
}
