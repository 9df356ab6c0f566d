/*
 * timeouts.c - timeout(), timeout_at(), wait_for() (timeouts.h).
 *
 * Both kinds of deadline are a timer on the loop. timeout()'s timer
 * cancels the task in the block; the block's exit does the rest.
 * wait_for's timer completes a private future, the waiter, that
 * wait_for awaits instead of fut itself; fut's done callback completes
 * it too, so whichever comes first wakes wait_for, which then looks at
 * fut to see which it was. Waiting on a future of our own, never on fut,
 * is what keeps wait_for cancellable without cancelling fut by accident
 * (an await of fut would cancel fut when the waiting task is cancelled).
 */
#include <errno.h>
#include <string.h>

#include "timeouts.h"
#include "trace.h"

static const char *cl__timeout_state_str(enum cl_timeout_state s)
{
	switch (s) {
	case CL_TIMEOUT_CREATED:
		return "created";
	case CL_TIMEOUT_ENTERED:
		return "active";
	case CL_TIMEOUT_EXPIRING:
		return "expiring";
	case CL_TIMEOUT_EXPIRED:
		return "expired";
	case CL_TIMEOUT_EXITED:
		break;
	}
	return "finished";
}

static struct cl_loop *cl__running_loop(void)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	return loop;
}

/* Timeout._on_timeout: the deadline has come. */
static void cl__timeout_on_timeout(void *arg)
{
	struct cl_timeout *tm = arg;

	CL_TRACE("timeout", "task=%lu", tm->task->id);
	cl_task_cancel(tm->task);
	tm->state = CL_TIMEOUT_EXPIRING;
	/* Drop the timer early; the loop holds it while it runs. */
	cl_handle_decref(tm->handler);
	tm->handler = NULL;
}

void cl_timeout_reschedule(struct cl_timeout *tm, double when)
{
	struct cl_loop *loop;
	struct cl_handle *h;

	if (tm->state != CL_TIMEOUT_ENTERED) {
		if (tm->state == CL_TIMEOUT_CREATED)
			cl_raise(cl_exc_new(&cl_RuntimeError,
					    "Timeout has not been entered"));
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "Cannot change state of %s Timeout",
				    cl__timeout_state_str(tm->state)));
	}
	tm->when = when;
	if (tm->handler != NULL) {
		cl_handle_cancel(tm->handler);
		cl_handle_decref(tm->handler);
		tm->handler = NULL;
	}
	if (isinf(when) && when > 0)
		return;
	loop = cl__running_loop();
	if (when <= cl_loop_time(loop))
		h = cl_loop_call_soon(loop, cl__timeout_on_timeout, tm);
	else
		h = cl_loop_call_at(loop, when, cl__timeout_on_timeout, tm);
	if (h == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	tm->handler = cl_handle_incref(h);
}

void cl_timeout_at_enter(struct cl_timeout *tm, double when)
{
	struct cl_task *task = cl_current_task();

	memset(tm, 0, sizeof *tm);
	tm->state = CL_TIMEOUT_CREATED;
	tm->when = when;
	if (task == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "Timeout should be used inside a task"));
	tm->state = CL_TIMEOUT_ENTERED;
	tm->task = task;
	tm->cancelling = cl_task_cancelling(task);
	cl_timeout_reschedule(tm, when);
}

void cl_timeout_enter(struct cl_timeout *tm, double delay)
{
	double now = cl_loop_time(cl__running_loop());

	cl_timeout_at_enter(tm, isinf(delay) && delay > 0 ? delay
							   : now + delay);
}

void cl_timeout_exit(struct cl_timeout *tm, struct cl_exc *exc)
{
	if (tm->handler != NULL) {
		cl_handle_cancel(tm->handler);
		cl_handle_decref(tm->handler);
		tm->handler = NULL;
	}
	if (tm->state == CL_TIMEOUT_EXPIRING) {
		// LAB ch05 timeout_exit: The deadline fired: the block is now
		// LAB ch05: expired, the deadline's cancel request is taken back,
		// LAB ch05: and exc is raised as TimeoutError from exc if it is a
		// LAB ch05: CancelledError and no other request came meanwhile.
		// LAB ch05: Mirrors Lib/asyncio/timeouts.py Timeout.__aexit__;
		// LAB ch05: read section 9.
		// HINT1 ch05: The enter kept the task's cancelling() count in
		// HINT1 ch05: tm->cancelling; compare it with what uncancel leaves.
		// HINT2 ch05: cl_task_uncancel(tm->task) <= tm->cancelling, and exc
		// HINT2 ch05: matches cl_CancelledError: raise a new TimeoutError
		// HINT2 ch05: (no message) with cl_raise_from, which takes exc over.
		// HINT3 ch05: Otherwise fall through: the code after the region
		// HINT3 ch05: raises exc again. Uncancel whatever exc is.
		tm->state = CL_TIMEOUT_EXPIRED;
		if (cl_task_uncancel(tm->task) <= tm->cancelling && exc != NULL &&
		    cl_exc_matches(exc, &cl_CancelledError))
			cl_raise_from(cl_exc_new(&cl_TimeoutError, NULL), exc);
		// STUB ch05:
		// tm->state = CL_TIMEOUT_EXPIRED;
		// cl_exc_decref(exc);
		// cl_raise(cl_exc_new(&cl_NotImplementedError,
		// 	"Timeout.__aexit__: not implemented (TODO ch05)"));
		// END ch05
	} else if (tm->state == CL_TIMEOUT_ENTERED) {
		tm->state = CL_TIMEOUT_EXITED;
	}
	if (exc != NULL)
		cl_raise(exc);
}

/* tasks._release_waiter: wake wait_for, unless it is awake already. */
static void cl__release_waiter(struct cl_future *waiter)
{
	if (!cl_future_done(waiter))
		cl_future_set_result(waiter, NULL);
}

/* The same as fut's done callback; the registration holds a reference
 * to the waiter (cl__future_add_waiter). */
static void cl__release_waiter_cb(struct cl_future *fut, void *arg)
{
	(void)fut;
	cl__release_waiter(arg);
}

/* fut.add_done_callback(partial(_release_waiter, waiter)). */
static void cl__add_release(struct cl_future *fut, struct cl_future *waiter)
{
	cl_future_incref(waiter);
	if (cl__future_add_waiter(fut, cl__release_waiter_cb, waiter, 0) < 0) {
		cl_future_decref(waiter);
		cl_future_decref(waiter);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
}

/* A new future of loop, or MemoryError. */
static struct cl_future *cl__new_waiter(struct cl_loop *loop)
{
	struct cl_future *f = cl_future_new(loop);

	if (f == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	return f;
}

// LAB ch05 wait_for_expiry: cl__cancel_and_wait cancels fut and returns once fut
// LAB ch05: is done, waiting on a future of its own that fut's done callback
// LAB ch05: completes. cl__wait_for_expired is then fut's result, or its
// LAB ch05: exception, or TimeoutError raised from fut's CancelledError.
// LAB ch05: Mirrors Lib/asyncio/tasks.py _cancel_and_wait and the end of
// LAB ch05: wait_for; read section 9.
// HINT1 ch05: Why not cl_await(fut)? If the task in wait_for were cancelled
// HINT1 ch05: meanwhile, the await would cancel fut, not the wait. Waiting on a
// HINT1 ch05: waiter of its own keeps the two apart, as _cancel_and_wait does.
// HINT2 ch05: The helpers above do the plumbing: cl__new_waiter,
// HINT2 ch05: cl__add_release(fut, waiter), cl_future_remove_done_callback(fut,
// HINT2 ch05: cl__release_waiter_cb, waiter) in the "finally" (also when the
// HINT2 ch05: await raises: CL_TRY, clean up in CL_CATCH, raise again).
// HINT3 ch05: cancel_and_wait: waiter = new; add_release; cl_future_cancel(fut);
// HINT3 ch05: await the waiter; remove the callback; decref the waiter.
// HINT3 ch05: expired: CL_TRY { v = cl_future_result(fut) } CL_CATCH(e) {
// HINT3 ch05: CancelledError -> cl_raise_from(cl_exc_new(&cl_TimeoutError,
// HINT3 ch05: NULL), e); else cl_raise(e) }; v must be volatile.
/* tasks._cancel_and_wait: cancel fut and wait until it is done. */
static void cl__cancel_and_wait(struct cl_future *fut)
{
	struct cl_future *waiter = cl__new_waiter(fut->loop);

	cl__add_release(fut, waiter);
	cl_future_cancel(fut);
	CL_TRY {
		cl_await(waiter);
	} CL_CATCH(e) {
		cl_future_remove_done_callback(fut, cl__release_waiter_cb,
					       waiter);
		cl_future_decref(waiter);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_remove_done_callback(fut, cl__release_waiter_cb, waiter);
	cl_future_decref(waiter);
}

/*
 * The end of wait_for, fut done after being cancelled:
 *
 *	try:
 *	    return fut.result()
 *	except exceptions.CancelledError as exc:
 *	    raise exceptions.TimeoutError() from exc
 *
 * A fut that caught the cancellation and returned gives its result; one
 * whose cleanup failed, that failure (bpo-40607).
 */
static void *cl__wait_for_expired(struct cl_future *fut)
{
	void *volatile v = NULL;

	CL_TRY {
		v = cl_future_result(fut);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		cl_raise_from(cl_exc_new(&cl_TimeoutError, NULL), e);
	} CL_END_TRY;
	return v;
}
// STUB ch05:
// static void cl__cancel_and_wait(struct cl_future *fut)
// {
// 	(void)fut, (void)cl__new_waiter, (void)cl__add_release;
// 	cl_raise(cl_exc_new(&cl_NotImplementedError,
// 		"wait_for's expiry path: not implemented (TODO ch05)"));
// }
//
// static void *cl__wait_for_expired(struct cl_future *fut)
// {
// 	(void)fut;
// 	cl_raise(cl_exc_new(&cl_NotImplementedError,
// 		"wait_for's expiry path: not implemented (TODO ch05)"));
// }
// END ch05

/* wait_for's timer: the waiter, and the task to name in the trace. */
struct cl__wait_for {
	struct cl_future *waiter;
	unsigned long task;
};

static void cl__wait_for_timer(void *arg)
{
	struct cl__wait_for *w = arg;

	CL_TRACE("timeout", "task=%lu", w->task);
	cl__release_waiter(w->waiter);
}

/*
 * tasks.wait_for, 3.11. The steps:
 * 1. No deadline: await fut. timeout <= 0: fut's result if it is done,
 *    else cancel it, wait for that, and the expiry's outcome.
 * 2. Otherwise arm a timer and fut's done callback, both completing the
 *    waiter, and await the waiter.
 * 3. Woken with fut done (even if the timer fired in the same
 *    iteration): fut's outcome. Woken by the timer: the expiry.
 *    Cancelled while waiting: cancel fut too, wait for it, and let the
 *    CancelledError out, unless fut was done by then.
 * The timer is cancelled on every way out (the "finally").
 */
void *cl_wait_for(struct cl_future *fut, double timeout)
{
	struct cl_loop *loop = cl__running_loop();
	struct cl_task *cur = cl_current_task();
	struct cl__wait_for w;
	struct cl_handle *h;

	if (isinf(timeout) && timeout > 0)
		return cl_await(fut);
	if (timeout <= 0) {
		if (cl_future_done(fut))
			return cl_future_result(fut);
		cl__cancel_and_wait(fut);
		return cl__wait_for_expired(fut);
	}

	w.waiter = cl__new_waiter(loop);
	w.task = cur != NULL ? cur->id : 0;
	h = cl_loop_call_later(loop, timeout, cl__wait_for_timer, &w);
	if (h == NULL) {
		cl_future_decref(w.waiter);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	/* Our reference keeps h valid until we cancel it: its argument,
	 * w, is on this stack and must not be touched after we return. */
	cl_handle_incref(h);
	CL_TRY {
		cl__add_release(fut, w.waiter);
	} CL_CATCH(e) {
		cl_handle_cancel(h);
		cl_handle_decref(h);
		cl_future_decref(w.waiter);
		cl_raise(e);
	} CL_END_TRY;

	CL_TRY {
		cl_await(w.waiter);
	} CL_CATCH(e) {
		/* The task in wait_for was cancelled. */
		cl_handle_cancel(h);
		cl_handle_decref(h);
		if (cl_future_done(fut)) {
			cl_future_decref(w.waiter);
			cl_exc_decref(e);
			return cl_future_result(fut);
		}
		cl_future_remove_done_callback(fut, cl__release_waiter_cb,
					       w.waiter);
		cl_future_decref(w.waiter);
		/* fut must not be running when wait_for returns
		 * (bpo-32751): cancel it and wait until it is done. A
		 * second cancel there is what comes out instead. */
		CL_TRY {
			cl__cancel_and_wait(fut);
		} CL_CATCH(again) {
			cl_exc_decref(e);
			cl_raise(again);
		} CL_END_TRY;
		cl_raise(e);
	} CL_END_TRY;

	cl_handle_cancel(h);
	cl_handle_decref(h);
	if (cl_future_done(fut)) {
		cl_future_decref(w.waiter);
		return cl_future_result(fut);
	}
	/* The deadline: fut is still pending. */
	cl_future_remove_done_callback(fut, cl__release_waiter_cb, w.waiter);
	cl_future_decref(w.waiter);
	cl__cancel_and_wait(fut);
	return cl__wait_for_expired(fut);
}
