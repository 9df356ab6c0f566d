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
		/* TODO(ch05): The deadline fired: the block is now
		 * expired, the deadline's cancel request is taken back,
		 * and exc is raised as TimeoutError from exc if it is a
		 * CancelledError and no other request came meanwhile.
		 * Mirrors Lib/asyncio/timeouts.py Timeout.__aexit__;
		 * read section 9.
		 * Hints: make hint CH=5 TODO=timeout_exit (3 levels). */
		tm->state = CL_TIMEOUT_EXPIRED;
		cl_exc_decref(exc);
		cl_raise(cl_exc_new(&cl_NotImplementedError,
			"Timeout.__aexit__: not implemented (TODO ch05)"));
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

/* TODO(ch05): cl__cancel_and_wait cancels fut and returns once fut
 * is done, waiting on a future of its own that fut's done callback
 * completes. cl__wait_for_expired is then fut's result, or its
 * exception, or TimeoutError raised from fut's CancelledError.
 * Mirrors Lib/asyncio/tasks.py _cancel_and_wait and the end of
 * wait_for; read section 9.
 * Hints: make hint CH=5 TODO=wait_for_expiry (3 levels). */
static void cl__cancel_and_wait(struct cl_future *fut)
{
	(void)fut, (void)cl__new_waiter, (void)cl__add_release;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
		"wait_for's expiry path: not implemented (TODO ch05)"));
}

static void *cl__wait_for_expired(struct cl_future *fut)
{
	(void)fut;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
		"wait_for's expiry path: not implemented (TODO ch05)"));
}

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
