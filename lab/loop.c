/*
 * loop.c - the event loop: ready queue, timers, clock, iterations.
 *
 * The state is small: a FIFO of handles ready to run, a heap of timers
 * ordered by deadline, and a clock. Everything else in the library is a
 * callback in one or the other. The heart is cl_loop_run_once, one
 * iteration, which is CPython's base_events._run_once almost line for
 * line.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agen.h"
#include "chaos.h"
#include "ctxvar.h"
#include "debug.h"
#include "dump.h"
#include "future.h"
#include "handler.h"
#include "lines.h"
#include "loop.h"
#include "task.h"
#include "threads.h"
#include "trace.h"
#include "watchdog.h"

/*
 * The running loop of this thread (asyncio's _running_loop). A loop is
 * entered and left by cl_loop_run_until_complete; a second run while one
 * is running is refused. cl_sleep, cl_create_task and cl_await find their
 * loop here, as asyncio.sleep finds it with get_running_loop().
 */
static _Thread_local struct cl_loop *cl__running;

static _Thread_local struct cl__spares cl__spare_handles; /* loop.h */

/*
 * CPython drops cancelled timers all at once, rebuilding the heap, when
 * they are more than half of more than 100 timers; below that, only
 * those that reach the top of the heap (base_events.py).
 */
#define CL_MIN_SCHEDULED_TIMERS 100
#define CL_MIN_CANCELLED_FRACTION 0.5

#define CL_US_PER_S 1000000.0

static uint64_t cl__monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read the clock (the real one moves by itself; the virtual one only
 * when the loop moves it) and tell the tracer. */
static void cl__loop_tick(struct cl_loop *loop)
{
	if (!loop->virtual_clock)
		loop->now = (cl__monotonic_ns() - loop->start_ns) / 1000;
	cl__trace_clock(loop->now, loop->iteration);
}

uint64_t cl_loop_time_us(struct cl_loop *loop)
{
	if (!loop->virtual_clock)
		loop->now = (cl__monotonic_ns() - loop->start_ns) / 1000;
	return loop->now;
}

double cl_loop_time(struct cl_loop *loop)
{
	return (double)cl_loop_time_us(loop) / CL_US_PER_S;
}

static int cl__clock_from_env(void)
{
	const char *env = getenv("COROLAB_CLOCK");

	return env != NULL && strcmp(env, "virtual") == 0;
}

/* COROLAB_DEBUG=1 (PYTHONASYNCIODEBUG's peer): new loops start in debug
 * mode. */
static int cl__debug_from_env(void)
{
	const char *s = getenv("COROLAB_DEBUG");

	return s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
}

struct cl_loop *cl_loop_new(enum cl_clock clock)
{
	struct cl_loop *loop = calloc(1, sizeof *loop);

	if (loop == NULL)
		return NULL;
	cl_heap_init(&loop->timers);
	if (clock == CL_CLOCK_DEFAULT)
		loop->virtual_clock = cl__clock_from_env();
	else
		loop->virtual_clock = clock == CL_CLOCK_VIRTUAL;
	loop->start_ns = cl__monotonic_ns();
	loop->err = stderr;
	loop->debug = cl__debug_from_env();
	loop->timed = loop->debug;
	loop->slow_callback_duration = 0.1;
	loop->waiting = 1; /* not running: idle, for the watchdog */
	return loop;
}

void cl_loop_set_debug(struct cl_loop *loop, int on)
{
	loop->debug = on != 0;
	loop->timed = loop->debug || loop->metrics != NULL;
}

int cl_loop_get_debug(const struct cl_loop *loop)
{
	return loop->debug;
}

void cl__loop_check_thread(const struct cl_loop *loop)
{
	if (loop->debug && loop->running &&
	    !pthread_equal(loop->thread, pthread_self()))
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "Non-thread-safe operation invoked on an "
				    "event loop other than the current one"));
}

struct cl_loop *cl_get_running_loop(void)
{
	return cl__running;
}

/* "kind:id" in buf. By hand: snprintf here cost more than the traced
 * step that asks for it (every wake names its waker). */
static const char *src_id(char *buf, const char *kind, size_t len,
			  unsigned long id)
{
	char tmp[24], *d = tmp + sizeof tmp;

	memcpy(buf, kind, len);
	do
		*--d = (char)('0' + id % 10);
	while ((id /= 10) != 0);
	memcpy(buf + len, d, (size_t)(tmp + sizeof tmp - d));
	buf[len + (size_t)(tmp + sizeof tmp - d)] = '\0';
	return buf;
}

const char *cl__src_str(char *buf, struct cl_src s)
{
	switch (s.kind) {
	case CL_SRC_SPAWN:
		return "spawn";
	case CL_SRC_TASK:
		return src_id(buf, "task:", 5, s.id);
	case CL_SRC_TIMER:
		return src_id(buf, "timer:", 6, s.id);
	case CL_SRC_FD:
		return src_id(buf, "fd:", 3, s.id);
	case CL_SRC_LOOP:
		break;
	}
	return "loop";
}

struct cl_src cl__loop_waker(const struct cl_loop *loop)
{
	if (loop->cur_task != NULL)
		return (struct cl_src){ CL_SRC_TASK, loop->cur_task->id };
	if (loop->cur_handle != NULL)
		return loop->cur_handle->src;
	return (struct cl_src){ CL_SRC_LOOP, 0 };
}

/* Handles. */

/*
 * A handle is two cache lines (lines.h), and one that is not a timer
 * only ever touches the first: it is all a queue, a run and a drop read
 * or write. So only the first is cleared here; call_at fills in the
 * second.
 */
static struct cl_handle *cl__handle_new(struct cl_loop *loop)
{
	struct cl_handle *h = cl__spare_get(&cl__spare_handles);

	if (h == NULL && (h = cl__lines_alloc(sizeof *h)) == NULL)
		return NULL;
	memset(h, 0, offsetof(struct cl_handle, loop));
	h->refcnt = 1;
	h->src = cl__loop_waker(loop);
	if (cl__trace_enabled) /* cause lives on the second line */
		h->cause = 0;
	return h;
}

/* The context a callback runs in (chapter 06): ctx, or a copy of the
 * current one, as events.Handle takes with copy_context(). Free h and
 * return NULL when memory runs out. */
static struct cl_handle *cl__handle_ctx(struct cl_handle *h,
					struct cl_context *ctx)
{
	h->ctx = ctx != NULL ? cl_context_incref(ctx) : cl_copy_context();
	if (h->ctx == NULL) {
		cl_handle_decref(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

struct cl_handle *cl_handle_incref(struct cl_handle *h)
{
	h->refcnt++;
	return h;
}

/* The body of cl_handle_decref, inlined where the loop drops every
 * handle it ran. */
static inline __attribute__((always_inline)) void
cl__handle_decref(struct cl_handle *h)
{
	if (h == NULL || --h->refcnt > 0)
		return;
	if (h->ctx != NULL) /* the callback's context: a task's step has
			       none (it enters the task's) */
		cl__context_free_ref(h->ctx);
	cl_future_decref(h->fut);
	if (h->arg_ref)
		cl_future_decref(h->arg);
	cl__spare_put(&cl__spare_handles, h);
}

void cl_handle_decref(struct cl_handle *h)
{
	cl__handle_decref(h);
}

void cl_handle_cancel(struct cl_handle *h)
{
	if (h->cancelled)
		return;
	h->cancelled = 1;
	if (h->in_heap) {
		/* Lazy deletion: leave it in the heap, count it. */
		h->loop->ncancelled++;
		CL_TRACE("timer.cancel", "timer=%lu", h->timer);
	}
}

int cl_handle_cancelled(const struct cl_handle *h)
{
	return h->cancelled;
}

double cl_handle_when(const struct cl_handle *h)
{
	return h->is_timer ? (double)h->node.when / CL_US_PER_S : 0.0;
}

static struct cl_handle *cl__timer_of(struct cl_heap_node *n)
{
	return (struct cl_handle *)((char *)n -
				    offsetof(struct cl_handle, node));
}

/* TODO(ch03): cl__ready_push appends h to the loop's ready queue,
 * taking over the reference the caller holds, and returns 0;
 * cl__ready_pop takes off the oldest handle (NULL if none) with that
 * reference. loop->nready is the queue's length. Mirrors
 * Lib/asyncio/base_events.py self._ready (a deque: append, popleft);
 * read section 1.
 * Hints: make hint CH=3 TODO=ready_queue (2 levels). */
static int cl__ready_push(struct cl_loop *loop, struct cl_handle *h)
{
	(void)loop, (void)h;
	return -ENOSYS;
}

static struct cl_handle *cl__ready_pop(struct cl_loop *loop)
{
	(void)loop;
	return NULL;
}

/* Queue a new handle; on failure free it and set errno. */
static struct cl_handle *cl__loop_queue(struct cl_loop *loop,
					struct cl_handle *h)
{
	int err = cl__ready_push(loop, h);

	if (err < 0) {
		cl_handle_decref(h);
		errno = -err;
		return NULL;
	}
	return h;
}

struct cl_handle *cl_loop_call_soon(struct cl_loop *loop, cl_callback fn,
				    void *arg)
{
	return cl_loop_call_soon_ctx(loop, fn, arg, NULL);
}

struct cl_handle *cl_loop_call_soon_ctx(struct cl_loop *loop, cl_callback fn,
					void *arg, struct cl_context *ctx)
{
	struct cl_handle *h;

	if (__builtin_expect(loop->debug, 0))
		cl__loop_check_thread(loop);
	h = cl__handle_new(loop);
	if (h == NULL)
		return NULL;
	h->fn = fn;
	h->arg = arg;
	if (cl__handle_ctx(h, ctx) == NULL)
		return NULL;
	return cl__loop_queue(loop, h);
}

struct cl_handle *cl__loop_handle_new(struct cl_loop *loop, cl_callback fn,
				      void *arg, struct cl_src src)
{
	struct cl_handle *h = cl__handle_new(loop);

	if (h == NULL)
		return NULL;
	h->fn = fn;
	h->arg = arg;
	h->src = src;
	return h;
}

int cl__loop_requeue(struct cl_loop *loop, struct cl_handle *h)
{
	int err;

	/* Only the queue holds a second reference: still queued. */
	if (h->refcnt > 1)
		return -EBUSY;
	err = cl__ready_push(loop, h);
	if (err == 0)
		h->refcnt++; /* the queue's */
	return err;
}

struct cl_handle *cl__loop_call_soon_done(struct cl_loop *loop,
					  cl_done_callback done_fn,
					  struct cl_future *fut, void *arg,
					  int arg_ref, long cause)
{
	struct cl_handle *h = cl__handle_new(loop);

	if (h == NULL)
		return NULL;
	h->done_fn = done_fn;
	h->fut = cl_future_incref(fut);
	h->arg = arg;
	if (cause != 0)
		h->cause = cause;
	/* Take over arg's reference only once nothing can fail: on failure
	 * the caller still owns it. */
	h = cl__loop_queue(loop, h);
	if (h != NULL)
		h->arg_ref = arg_ref;
	return h;
}

/* Seconds to microseconds: negative is 0, absurdly far is "never". */
static uint64_t cl__us(double s)
{
	if (!(s > 0))
		return 0;
	if (s > 1e12)
		return UINT64_MAX / 2;
	return (uint64_t)(s * CL_US_PER_S + 0.5);
}

static struct cl_handle *cl__loop_call_at_us(struct cl_loop *loop,
					     uint64_t when, cl_callback fn,
					     void *arg, struct cl_context *ctx)
{
	struct cl_handle *h;
	int err;

	if (__builtin_expect(loop->debug, 0))
		cl__loop_check_thread(loop);
	h = cl__handle_new(loop);
	if (h == NULL)
		return NULL;
	h->fn = fn;
	h->arg = arg;
	if (cl__handle_ctx(h, ctx) == NULL)
		return NULL;
	h->is_timer = 1;
	h->loop = loop;
	h->timer = ++loop->last_timer_id;
	h->src = (struct cl_src){ CL_SRC_TIMER, h->timer };
	if (CL__CHAOS(cl__chaos_late)) /* chapter 09: late on purpose */
		when = cl__chaos_timer(when);
	h->node.when = when;
	h->node.seq = loop->timer_seq++;
	err = cl_heap_push(&loop->timers, &h->node);
	if (err < 0) {
		cl_handle_decref(h);
		errno = -err;
		return NULL;
	}
	h->in_heap = 1;
	CL_TRACE("timer.set", "timer=%lu at=%llu", h->timer,
		 (unsigned long long)when);
	return h;
}

struct cl_handle *cl_loop_call_at(struct cl_loop *loop, double when,
				  cl_callback fn, void *arg)
{
	return cl__loop_call_at_us(loop, cl__us(when), fn, arg, NULL);
}

struct cl_handle *cl_loop_call_later(struct cl_loop *loop, double delay,
				     cl_callback fn, void *arg)
{
	return cl__loop_call_at_us(loop, cl_loop_time_us(loop) + cl__us(delay),
				   fn, arg, NULL);
}

struct cl_handle *cl_loop_call_at_ctx(struct cl_loop *loop, double when,
				      cl_callback fn, void *arg,
				      struct cl_context *ctx)
{
	return cl__loop_call_at_us(loop, cl__us(when), fn, arg, ctx);
}

struct cl_handle *cl_loop_call_later_ctx(struct cl_loop *loop, double delay,
					 cl_callback fn, void *arg,
					 struct cl_context *ctx)
{
	return cl__loop_call_at_us(loop, cl_loop_time_us(loop) + cl__us(delay),
				   fn, arg, ctx);
}

/* Take a timer off the heap for good (it is cancelled, or the loop is
 * closing) and drop the heap's reference. */
static void cl__timer_drop(struct cl_loop *loop, struct cl_handle *h)
{
	if (h->cancelled)
		loop->ncancelled--;
	h->in_heap = 0;
	cl_handle_decref(h);
}

/* cl__loop_on_raise's table: set once, by the files that need it. */
static struct {
	cl_callback fn;
	void (*hook)(void *arg, struct cl_exc *e);
} cl__raise_hooks[CL__RAISE_HOOKS];

int cl__loop_on_raise(cl_callback fn, void (*hook)(void *, struct cl_exc *))
{
	for (int i = 0; i < CL__RAISE_HOOKS; i++) {
		if (cl__raise_hooks[i].fn == NULL ||
		    cl__raise_hooks[i].fn == fn) {
			cl__raise_hooks[i].fn = fn;
			cl__raise_hooks[i].hook = hook;
			return 0;
		}
	}
	return -ENOSPC;
}

static void (*cl__raise_hook(cl_callback fn))(void *, struct cl_exc *)
{
	for (int i = 0; i < CL__RAISE_HOOKS && cl__raise_hooks[i].fn; i++)
		if (cl__raise_hooks[i].fn == fn)
			return cl__raise_hooks[i].hook;
	return NULL;
}

/*
 * Run the n callbacks at the head of the ready queue, each unless
 * cancelled, and drop the queue's reference to each. An exception that
 * escapes a callback is reported and dropped, as Handle._run reports it
 * through the loop's exception handler: one bad callback stops neither
 * the loop nor the rest of the batch.
 *
 * One handler serves the whole batch. A CL_TRY is a sigsetjmp, some
 * fifty instructions with its push and pop; one per callback was over
 * a quarter of what the loop spends on an echo (tests/bench/misses.sh,
 * a callback echo server: 211 instructions, 153 without). A raise lands
 * in the catch with the callback that raised in loop->cur_handle: that
 * one is reported (or handed to its raise hook) and dropped, and the
 * outer loop sets a new handler for the rest. left is volatile because
 * it changes inside the CL_TRY and is read after a catch (rule 2 of
 * exc.h).
 */
/*
 * A plain callback is a mark on the loop's lane in the timeline: "cb" with
 * its kind and who queued it. A task's step is not one (its handle has
 * the cause of its wake, and step.begin says the rest).
 */
static void cl__trace_cb(const struct cl_handle *h)
{
	char by[32];

	CL_TRACE("cb", "kind=%s by=%s",
		 h->fut != NULL ? "done" : h->is_timer ? "timer" : "soon",
		 cl__src_str(by, h->src));
}

/*
 * Run the callback in its context (Handle._run: self._context.run):
 * the context entered, and noted in loop->cur_ctx to be left after it,
 * by a raise too. A context entered already cannot be entered again:
 * that is the callback's RuntimeError, as Context.run's is in Python.
 */
static void cl__loop_enter(struct cl_loop *loop, struct cl_context *ctx)
{
	if (cl__context_enter(ctx) < 0)
		cl_raise(cl__context_busy_error(ctx));
	loop->cur_ctx = ctx;
}

static void cl__loop_run_ready(struct cl_loop *loop, size_t n)
{
	volatile size_t left = n;
	/* Chapter 09: the iteration is timed (debug mode or /metrics), and
	 * each callback too in debug mode; two tests, hoisted. */
	const int timed = loop->timed, probed = loop->debug;
	const volatile uint64_t begin = timed ? cl__monotonic_ns() : 0;

	loop->stats.callbacks += n;

	while (left > 0 && loop->nready > 0) {
		CL_TRY {
			struct cl_handle *h;

			while (left > 0 && (h = cl__ready_pop(loop))) {
				left--;
				/* the step's time in the trace */
				if (cl__trace_enabled && !loop->virtual_clock)
					cl__loop_tick(loop);
				if (!h->cancelled) {
					loop->cur_handle = h;
					if (cl__trace_enabled && h->cause == 0)
						cl__trace_cb(h);
					if (probed)
						cl__debug_begin(loop, h);
					if (h->ctx != NULL)
						cl__loop_enter(loop, h->ctx);
					if (h->fut != NULL)
						h->done_fn(h->fut, h->arg);
					else
						h->fn(h->arg);
					if (loop->cur_ctx != NULL) {
						cl__context_leave(loop->cur_ctx);
						loop->cur_ctx = NULL;
					}
					if (probed)
						cl__debug_end(loop, h);
					loop->cur_handle = NULL;
				}
				cl__handle_decref(h);
			}
		} CL_CATCH(e) {
			struct cl_handle *h = loop->cur_handle;
			void (*hook)(void *, struct cl_exc *) =
				h->fut == NULL ? cl__raise_hook(h->fn) : NULL;

			loop->cur_handle = NULL;
			if (loop->cur_ctx != NULL) {
				cl__context_exit(loop->cur_ctx);
				loop->cur_ctx = NULL;
			}
			if (probed)
				cl__debug_end(loop, h);
			if (hook != NULL) {
				hook(h->arg, e);
			} else {
				struct cl_exc_context c = {
					.message = "Exception in callback",
					.exception = e,
					.handle = h,
				};

				cl_loop_call_exception_handler(loop, &c);
				cl_exc_decref(e);
			}
			cl_handle_decref(h);
		} CL_END_TRY;
	}
	if (timed)
		cl__debug_iteration(loop, cl__monotonic_ns() - begin);
}

/*
 * Wait for timeout microseconds (-1: no limit) or until the poller has
 * something. Without a poller (chapter 03) only timers can end a wait:
 * the real clock sleeps until the deadline, the virtual clock jumps to
 * it. A virtual loop with a poller still looks at its descriptors (with
 * no wait, unless there is no timer at all) before it jumps.
 */
static int cl__loop_wait(struct cl_loop *loop, int64_t timeout)
{
	struct timespec ts;
	uint64_t wake;
	int err;

	/* The watchdog (chapter 09) reads these from its thread. */
	__atomic_store_n(&loop->waiting, 1, __ATOMIC_RELAXED);
	if (loop->poller != NULL) {
		err = loop->poller->poll(loop->poller, loop->virtual_clock &&
				timeout > 0 ? 0 : timeout);
		if (err < 0) {
			__atomic_store_n(&loop->waiting, 0, __ATOMIC_RELAXED);
			return err;
		}
	} else if (!loop->virtual_clock && timeout > 0) {
		wake = loop->start_ns + (loop->now + (uint64_t)timeout) * 1000;
		ts.tv_sec = (time_t)(wake / 1000000000u);
		ts.tv_nsec = (long)(wake % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
	}
	if (loop->virtual_clock && timeout > 0 && loop->nready == 0)
		loop->now += (uint64_t)timeout; /* autojump */
	cl__loop_tick(loop);
	__atomic_store_n(&loop->beat, loop->beat + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&loop->waiting, 0, __ATOMIC_RELEASE);
	if (__builtin_expect(cl__dump_requested != 0, 0)) /* chapter 09 */
		cl__dump_signalled(loop);
	return 0;
}

/*
 * cl_loop_run_once: one iteration of the loop, in _run_once's order:
 *	1. cancelled timers leave the heap: they never fire;
 *	2. the wait is as long as it may be: none if a callback is ready
 *	   (or the loop is stopping), until the first deadline if there is
 *	   a timer, forever otherwise;
 *	3. forever, with nothing else to wait for (no poller), means that
 *	   nothing can ever happen again: -EDEADLK rather than a hang;
 *	4. the wait (a sleep, a poll, or the virtual clock moving);
 *	5. the timers that are due join the back of the ready queue;
 *	6. the callbacks that are ready now run, and only those: what they
 *	   queue waits for the next iteration, after the next wait. A loop
 *	   that ran until the queue was empty would never wait, never poll
 *	   and never fire a timer while two tasks ping-pong.
 */
/* TODO(ch03): cl_loop_run_once and its step helpers: one iteration, the
 * six steps above; 0, -EDEADLK when nothing can ever happen, or the
 * wait's error. Callbacks queued while it runs wait for the next
 * iteration. Mirrors Lib/asyncio/base_events.py
 * BaseEventLoop._run_once; read section 3.
 * Hints: make hint CH=3 TODO=run_once (3 levels). */
int cl_loop_run_once(struct cl_loop *loop)
{
	(void)loop, (void)cl__loop_wait, (void)cl__loop_run_ready;
	(void)cl__timer_drop;
	return -ENOSYS;
}

void cl_loop_stop(struct cl_loop *loop)
{
	loop->stopping = 1;
}

/* _run_until_complete_cb: the future is done, end the run. */
static void cl__loop_stop_cb(struct cl_future *f, void *loop)
{
	(void)f;
	cl_loop_stop(loop);
}

/*
 * run_until_complete + run_forever: make loop the running loop, run
 * iterations until the loop is stopped (by f's done callback), leave.
 */
int cl_loop_run_until_complete(struct cl_loop *loop, struct cl_future *f)
{
	int err;

	if (cl__running != NULL)
		return -EBUSY;
	err = cl_future_add_done_callback(f, cl__loop_stop_cb, loop);
	if (err < 0)
		return err;
	cl__running = loop;
	loop->thread = pthread_self();
	loop->running = 1;
	do {
		err = cl_loop_run_once(loop);
	} while (err == 0 && !loop->stopping);
	loop->stopping = 0;
	loop->running = 0;
	__atomic_store_n(&loop->waiting, 1, __ATOMIC_RELAXED);
	cl__running = NULL;
	cl_future_remove_done_callback(f, cl__loop_stop_cb, loop);
	if (err < 0)
		return err;
	return cl_future_done(f) ? 0 : -EINTR;
}

int cl_loop_set_poller(struct cl_loop *loop, struct cl_poller *p)
{
	if (loop->poller != NULL)
		return -EBUSY;
	loop->poller = p;
	return 0;
}

void cl_loop_free(struct cl_loop *loop)
{
	struct cl_handle *h;

	if (loop == NULL)
		return;
	cl_watchdog_stop(loop); /* chapter 09 */
	if (loop->debug)
		cl__debug_loop_free(loop);
	/* Forget the async generators first: freeing one may close it,
	 * and what that queues is dropped below (agen.c). */
	cl__agen_loop_free(loop);
	/* loop.close(): drop the timers and the queue, without running
	 * anything (the queue last: dropping a timer may free something
	 * that queues a callback). */
	for (size_t i = 0; i < loop->timers.len; i++)
		cl__timer_drop(loop, cl__timer_of(loop->timers.v[i]));
	cl_heap_fini(&loop->timers);
	while ((h = cl__ready_pop(loop)) != NULL)
		cl_handle_decref(h);
	cl__threads_loop_free(loop); /* before the poller: it watches */
	if (loop->poller != NULL)
		loop->poller->free(loop->poller);
	free(loop);
	cl__spare_free_all(&cl__spare_handles);
	cl__future_free_spares();
	cl__context_free_spares();
}
