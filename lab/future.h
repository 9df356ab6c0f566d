/*
 * future.h - a result that is not there yet.
 *
 * A future starts pending and is completed once: with a result, with an
 * exception, or by being cancelled. Whoever is interested registers a
 * done callback; when the future completes, its callbacks are queued on
 * the loop with call_soon, in the order they were added. They are never
 * called from inside set_result: the code that completes a future goes on
 * undisturbed, and the callbacks run at the next iteration, in a
 * predictable order. A callback added to a future that is already done is
 * queued at once, the same way.
 *
 *	fut = cl_future_new(loop);		fut = loop.create_future()
 *	cl_future_add_done_callback(fut, cb, x)	fut.add_done_callback(cb)
 *	cl_future_set_result(fut, v);		fut.set_result(v)
 *	... next iteration: cb(fut, x)
 *
 * A coroutine running in a task waits for a future with cl_await, which
 * suspends the coroutine until the future is done and then returns its
 * result, or raises its exception right there, at the await.
 *
 * Futures are reference counted, as CPython's objects are: cl_future_new
 * returns one reference, the loop holds one while a callback of the
 * future is queued, and the future is freed when the last one goes. A
 * task is a future too (task.h), and so is the result of cl_gather.
 *
 * Python: Lib/asyncio/futures.py (Future: result, exception, set_result,
 * set_exception, cancel, add_done_callback, __schedule_callbacks,
 * __await__) and Lib/asyncio/exceptions.py.
 */
#ifndef CL_FUTURE_H
#define CL_FUTURE_H

#include <stddef.h>

#include "exc.h"
#include "loop.h"

/*
 * asyncio.CancelledError, a BaseException (so that "except Exception"
 * does not swallow a cancellation), and asyncio.InvalidStateError.
 */
extern const struct cl_exc_type cl_CancelledError;
extern const struct cl_exc_type cl_InvalidStateError;

enum cl_future_state {
	CL_FUTURE_PENDING,
	CL_FUTURE_DONE,	     /* with a result, or with an exception */
	CL_FUTURE_CANCELLED,
};

/* What a future stands for, shown by the trace and the deadlock report. */
enum cl_future_what {
	CL_WHAT_FUTURE, /* a plain future */
	CL_WHAT_TASK,	/* a task's own future: what_id is the task id */
	CL_WHAT_SLEEP,	/* cl_sleep's: what_id is its timer's id */
	CL_WHAT_GATHER, /* cl_gather's */
	CL_WHAT_FD_IN,	/* cl_wait_readable's (chapter 04): what_id is the fd */
	CL_WHAT_FD_OUT, /* cl_wait_writable's: what_id is the fd */
	CL_WHAT_SYNC,	/* a waiter of a lock, event, semaphore, queue...
			   (chapter 07): what_id is CL_SYNC_ID(kind, id) */
};

/*
 * The objects of chapter 07 that tasks wait on. CL_SYNC_ID packs the
 * kind in what_id's top byte and the object's own id below it, so that
 * the trace and the deadlock report can name it: "lock:3", "queue:1".
 */
enum cl_sync_kind {
	CL_SYNC_LOCK = 1,
	CL_SYNC_EVENT,
	CL_SYNC_CONDITION,
	CL_SYNC_SEMAPHORE,
	CL_SYNC_BARRIER,
	CL_SYNC_QUEUE,
	CL_SYNC_LIMITER,
};
#define CL_SYNC_ID(kind, id) \
	(((unsigned long)(kind) << 56) | ((unsigned long)(id) & 0xffffffffffffffUL))
#define CL_SYNC_KIND(what_id) ((enum cl_sync_kind)((what_id) >> 56))
#define CL_SYNC_NUM(what_id) ((what_id) & 0xffffffffffffffUL)

/* "lock", "event", ...: the name of a CL_SYNC_ID's kind in the trace. */
const char *cl__sync_kind_str(unsigned long what_id);

struct cl_context;

/* One registered done callback. */
struct cl__done_cb {
	cl_done_callback fn;
	void *arg;
	int arg_ref;	    /* arg is a future whose reference we hold */
	struct cl_context *ctx; /* run it in this context (a reference);
				   NULL for a task's wake-up */
	unsigned long wakes; /* the id of the task this callback wakes, for
				the trace's wake event; 0 if none */
};

/*
 * What differs between kinds of futures: a task frees its coroutine too,
 * and cancels differently. NULL members mean the plain future's way.
 */
struct cl_future_ops {
	void (*dealloc)(struct cl_future *f); /* free f and what it owns */
	int (*cancel)(struct cl_future *f, const char *msg);
					      /* cl_future_cancel_msg */
};

/*
 * The fields are public to read; only future.c writes state, result, exc
 * and the callbacks, and only through the functions below.
 */
struct cl_future {
	int refcnt;
	int log_tb; /* exc not retrieved yet (futures.py __log_traceback):
		       reported when freed */
	const struct cl_future_ops *ops; /* NULL for a plain future */
	struct cl_loop *loop;		 /* not a reference: a future never
					    outlives its loop's run */
	unsigned long id;		 /* fut:N in the trace */
	enum cl_future_what what;	 /* set by its maker, for the trace */
	enum cl_future_state state;
	unsigned long what_id;
	const void *what_obj; /* the object waited on, for the deadlock
				 report (chapter 09): a lock's or a queue's
				 waiter queue; NULL for the others */

	void *result;	    /* CL_FUTURE_DONE without exc */
	struct cl_exc *exc; /* CL_FUTURE_DONE with an exception: owned */
	struct cl_tb *exc_tb; /* exc's traceback when it was set: owned */
	char *cancel_msg;     /* cancel(msg)'s msg, owned; NULL for none
				 (_cancel_message) */
	struct cl_exc *cancelled_exc; /* the CancelledError a task's coroutine
					 let out, owned, raised once more by
					 the next result() (_cancelled_exc) */

	struct cl_context *ctx; /* a task's context (Task._context, chapter
				   06): its steps and wake-ups run in it; a
				   reference. NULL for other futures */

	struct cl__done_cb *cbs; /* in registration order: &cb0, or an
				    array once a second one comes */
	size_t ncbs, cbs_cap;
	struct cl__done_cb cb0;	 /* room for the first (fut_callback0 in
				    Modules/_asynciomodule.c): most futures
				    have one waiter and need no array */
};

/*
 * loop.create_future(). loop NULL means the running loop. Returns one
 * reference, or NULL with errno set: ENOMEM, or ESRCH when loop is NULL
 * and no loop is running.
 */
struct cl_future *cl_future_new(struct cl_loop *loop);

struct cl_future *cl_future_incref(struct cl_future *f); /* returns f */
void cl_future_decref(struct cl_future *f);		 /* NULL is fine */

static inline int cl_future_done(const struct cl_future *f)
{
	return f->state != CL_FUTURE_PENDING;
}

static inline int cl_future_cancelled(const struct cl_future *f)
{
	return f->state == CL_FUTURE_CANCELLED;
}

/*
 * Complete f and queue its done callbacks. set_exception takes over the
 * reference to e. Both return 0, or -EINVAL when f is already done (where
 * CPython raises InvalidStateError("invalid state"); set_exception then
 * drops e).
 */
int cl_future_set_result(struct cl_future *f, void *result);
int cl_future_set_exception(struct cl_future *f, struct cl_exc *e);

/*
 * fut.cancel(): a pending future becomes cancelled and its callbacks are
 * queued; returns 1. A future already done is left alone; returns 0. A
 * task is cancelled its own way (cl_task_cancel); this calls it.
 */
int cl_future_cancel(struct cl_future *f);

/*
 * Chapter 05: fut.cancel(msg). The same, and msg (copied; NULL for none)
 * becomes the argument of the CancelledError that result(), exception()
 * and await raise: CancelledError('msg'), or CancelledError() with no
 * argument at all when msg is NULL. cl_future_cancel(f) is
 * cl_future_cancel_msg(f, NULL).
 */
int cl_future_cancel_msg(struct cl_future *f, const char *msg);

/*
 * fut.result(): the result of a future done with one. Raises the
 * future's exception (a new reference to it), CancelledError if it was
 * cancelled, InvalidStateError "Result is not set." if it is pending.
 */
void *cl_future_result(struct cl_future *f);

/*
 * fut.exception(): the future's exception (borrowed) or NULL if it has a
 * result. Raises CancelledError if cancelled, InvalidStateError
 * "Exception is not set." if pending.
 */
struct cl_exc *cl_future_exception(struct cl_future *f);

/*
 * fut.add_done_callback(fn): fn(f, arg) will be queued when f completes,
 * after the callbacks added before it; at once (still queued, not
 * called) if f is done already. Returns 0 or a negative errno value.
 */
int cl_future_add_done_callback(struct cl_future *f, cl_done_callback fn,
				void *arg);

/*
 * Chapter 06: fn runs in a copy of the context current when it was
 * added (cl_future_add_done_callback), or in ctx itself (context=; the
 * registration holds a reference to ctx; NULL: a copy, as above).
 */
int cl_future_add_done_callback_ctx(struct cl_future *f, cl_done_callback fn,
				    void *arg, struct cl_context *ctx);

/* fut.remove_done_callback(fn): forget every registration of fn with
 * arg that has not been queued yet. Returns how many were removed. */
size_t cl_future_remove_done_callback(struct cl_future *f,
				      cl_done_callback fn, void *arg);

/*
 * await fut, from a coroutine that runs in a task: suspend until f is
 * done, then return its result or raise its exception here (as
 * cl_future_result does). A future already done returns at once,
 * without suspending. Outside a task it raises RuntimeError.
 *
 * A macro, so that the await is a frame of the exception's traceback
 * (exc.h): the raise happens at the line of the cl_await. The traceback
 * starts from the one the exception had when f got it, however many
 * times f is awaited (Future.result's with_traceback).
 */
#define cl_await(f) cl__await_at((f), CL_HERE)
void *cl__await_at(struct cl_future *f, const struct cl_site *site);

/*
 * For task.c, gather.c and run.c.
 *
 * cl__future_init makes *f a pending future of loop with one reference
 * and the next fut:N id (for a future embedded in a bigger object).
 * cl__future_fini drops what a future owns (its exception, its
 * callbacks), not the memory of f.
 */
void cl__future_init(struct cl_future *f, struct cl_loop *loop,
		     const struct cl_future_ops *ops);
void cl__future_fini(struct cl_future *f);

/*
 * A done callback registered for a waiter: fn(f, waiter) is queued when
 * f completes. The registration holds a reference to waiter (a task, or
 * a gather's future), taken over from the caller on success (on failure
 * the caller keeps it). wakes is the id of the task this wakes, for the
 * trace; 0 if none.
 */
int cl__future_add_waiter(struct cl_future *f, cl_done_callback fn,
			  struct cl_future *waiter, unsigned long wakes);

/* Future.cancel without a task's override (a task's super().cancel()),
 * without and with a message. */
int cl__future_cancel(struct cl_future *f);
int cl__future_cancel_msg(struct cl_future *f, const char *msg);

/*
 * Future._make_cancelled_error (cancel.c, chapter 05): a new reference
 * to the CancelledError a cancelled f raises: the one its task's
 * coroutine let out, the first time, else a new one carrying f's
 * message.
 */
struct cl_exc *cl__future_cancelled_error(struct cl_future *f);

/* Drop the registered callbacks without queuing them (run.c, at the end
 * of a run that deadlocked). */
void cl__future_clear_callbacks(struct cl_future *f);

/* Future.__del__ (handler.c): f held an exception never retrieved. */
void cl__future_never_retrieved(struct cl_future *f);

/* Free the thread's spare futures (loop.c, when a loop is freed). */
void cl__future_free_spares(void);

#endif
