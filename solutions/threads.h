/*
 * threads.h - other threads and the loop: call_soon_threadsafe, a pool
 * of threads for blocking calls, to_thread.
 *
 * The loop is not thread-safe. Its ready queue, its timers, its futures
 * and tasks are touched by the loop's own thread and no other. A thread
 * that has something for the loop hands it over through the one door
 * that is thread-safe:
 *
 *	cl_loop_call_soon_threadsafe(loop, fn, arg)
 *					loop.call_soon_threadsafe(fn, arg)
 *
 * which appends (fn, arg) to the loop's inbox under a mutex and writes to
 * an eventfd that the loop watches (a pipe, the "self-pipe", where there
 * is no eventfd). The loop, asleep in epoll_wait, wakes at once, empties
 * the inbox and queues each call with call_soon, in the order they were
 * handed over. Nothing polls.
 *
 * A loop that waits on nothing but its inbox may be waiting for a thread,
 * or may be stuck for good: it cannot tell. asyncio waits forever; the
 * kit reports a deadlock instead (run.h), so it must be told when a
 * thread may still call. Whoever starts such a thread holds the loop
 * first, as libuv's handles keep a loop alive until unref'd:
 *
 *	cl_loop_hold(loop);		the loop's thread, before the thread
 *	...				starts; the thread may now call
 *	cl_loop_unhold(loop);		the loop's thread, once it will not
 *
 * cl_loop_call_soon_threadsafe refuses (-ENOTCONN) while the loop is not
 * held. run_in_executor and to_thread hold the loop for each call. A
 * thread of your own must be done calling (joined) before the loop is
 * freed: its last call may still be writing the wake-up after the loop
 * has run it.
 *
 * Blocking work goes to a pool of threads, so that it does not stop the
 * loop:
 *
 *	fut = cl_loop_run_in_executor(loop, NULL, fn, arg);
 *					fut = loop.run_in_executor(None, fn, arg)
 *	v = cl_to_thread(fn, arg);	v = await asyncio.to_thread(fn, arg)
 *
 * fn(arg) runs on a thread of the pool; its return value (or what it
 * raised) completes the future on the loop's thread. The pool has a
 * fixed number of threads, started as calls come; the calls beyond that
 * wait in the pool's queue, oldest first. to_thread runs fn in a copy of
 * the caller's context, as asyncio does, but a copy that shares no node
 * of the map (cl_context_copy_unshared), since maps count references
 * without atomics.
 *
 * Which functions are thread-safe: cl_loop_call_soon_threadsafe, and
 * the executor's own (cl_executor_*). Every other cl_loop_*, cl_future_*
 * and cl_task_* function is for the loop's thread; in debug mode
 * (cl_loop_set_debug) call_soon and the timers check it.
 *
 * Python: Lib/asyncio/base_events.py (call_soon_threadsafe,
 * run_in_executor, shutdown_default_executor, _check_thread),
 * selector_events.py (_make_self_pipe, _write_to_self, _read_from_self),
 * threads.py (to_thread), futures.py (wrap_future, _chain_future) and
 * Lib/concurrent/futures/thread.py (ThreadPoolExecutor).
 */
#ifndef CL_THREADS_H
#define CL_THREADS_H

#include "exc.h"
#include "future.h"
#include "locks.h"
#include "loop.h"

/*
 * Queue fn(arg) on loop from any thread, in a copy of the calling
 * thread's current context, and wake the loop. Returns 0, or -ENOTCONN
 * when the loop is not held, -ENOMEM.
 */
int cl_loop_call_soon_threadsafe(struct cl_loop *loop, cl_callback fn,
				 void *arg);

/*
 * From the loop's thread: let (or stop letting) other threads call
 * cl_loop_call_soon_threadsafe. Holds nest: the loop watches its inbox
 * while it is held at least once. hold returns 0 or a negative errno
 * value (the eventfd could not be made or watched).
 */
int cl_loop_hold(struct cl_loop *loop);
void cl_loop_unhold(struct cl_loop *loop);

/* How many times the loop is held now. */
int cl_loop_holds(struct cl_loop *loop);

/* A pool of threads: concurrent.futures.ThreadPoolExecutor. */
struct cl_executor;

/*
 * A pool of at most max_workers threads (0: min(32, CPUs + 4), as
 * ThreadPoolExecutor's default). No thread starts until a call comes.
 * NULL and errno on error.
 */
struct cl_executor *cl_executor_new(int max_workers);

/*
 * executor.shutdown(wait=True): the calls queued still run, then the
 * threads end and are joined, and the pool is freed. Call it from the
 * loop's thread, with no call of the pool still wanted by a task.
 */
void cl_executor_shutdown(struct cl_executor *ex);

/* How many threads the pool has started so far. */
int cl_executor_nthreads(struct cl_executor *ex);

/*
 * loop.run_in_executor(ex, fn, arg): run fn(arg) on a thread of ex (NULL:
 * the loop's default pool, made on first use and shut down when the loop
 * is freed) and return a future (one reference) that completes with
 * fn's return value, or with what fn raised (fn may cl_raise). Cancelling
 * the future does not stop fn, as in Python: its result is dropped. NULL
 * and errno on error.
 */
struct cl_future *cl_loop_run_in_executor(struct cl_loop *loop,
					  struct cl_executor *ex,
					  void *(*fn)(void *arg), void *arg);

/* The same, fn run inside ctx (which the call takes over: a reference
 * that the pool's thread drops). ctx must share no node with a context
 * of another thread: see cl_context_copy_unshared. */
struct cl_context;
struct cl_future *cl_loop_run_in_executor_ctx(struct cl_loop *loop,
					      struct cl_executor *ex,
					      void *(*fn)(void *arg),
					      void *arg, struct cl_context *ctx);

/*
 * await asyncio.to_thread(fn, arg), from a task: fn(arg) on the default
 * pool, in a copy of the task's context; returns what fn returns, or
 * raises what it raised (or CancelledError if the task is cancelled
 * meanwhile: fn still runs to its end).
 */
#define cl_to_thread(fn, arg) cl__to_thread_at((fn), (arg), CL_HERE)
void *cl__to_thread_at(void *(*fn)(void *arg), void *arg,
		       const struct cl_site *site);

/*
 * A limiter for blocking calls: at most n of its calls run on threads at
 * once; the others wait, oldest first, as tasks waiting on a semaphore,
 * holding no thread while they wait. A call's unit is given back when
 * fn is over, not when its task stops waiting (a task cancelled while
 * fn runs does not let one more call start). anyio's CapacityLimiter;
 * in asyncio, a Semaphore around to_thread, which gives the unit back
 * on cancellation.
 *
 *	static struct cl_limiter lim;		lim = Semaphore(4)
 *	cl_limiter_init(&lim, 4);
 *	v = cl_limiter_to_thread(&lim, fn, arg);	async with lim:
 *						    v = await to_thread(fn, arg)
 */
struct cl_limiter {
	struct cl_semaphore sem;
};

void cl_limiter_init(struct cl_limiter *l, long n);
void cl_limiter_destroy(struct cl_limiter *l);
#define cl_limiter_to_thread(l, fn, arg) \
	cl__limiter_to_thread_at((l), (fn), (arg), CL_HERE)
void *cl__limiter_to_thread_at(struct cl_limiter *l, void *(*fn)(void *arg),
			       void *arg, const struct cl_site *site);

/* For loop.c: shut the default pool down and close the inbox. */
void cl__threads_loop_free(struct cl_loop *loop);

#endif
