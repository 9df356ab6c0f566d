/*
 * timeouts.h - deadlines: asyncio.timeout(), timeout_at(), wait_for().
 *
 * A timeout is a cancellation with a clock. When the deadline passes,
 * the task is cancelled like any other: CancelledError is raised at
 * whatever it awaits, and its cleanup runs. What makes it a timeout is
 * the exit of the block, which recognizes the cancellation it caused
 * and turns it into TimeoutError, raised from the CancelledError:
 *
 *	async with asyncio.timeout(1.5):	struct cl_timeout tm;
 *	    await fetch()			struct cl_exc *volatile exc = NULL;
 *						cl_timeout_enter(&tm, 1.5);
 *						CL_TRY {
 *							fetch();
 *						} CL_CATCH(e) {
 *							exc = e;
 *						} CL_END_TRY;
 *						cl_timeout_exit(&tm, exc);
 *
 * cl_timeout_exit gets what the block raised (NULL if nothing) and
 * returns, or raises: TimeoutError if the deadline fired and the
 * CancelledError is the one it caused, the block's own exception
 * otherwise. It must be called on every way out of the block: the
 * deadline's timer points at tm, which lives on the caller's stack.
 *
 * "The one it caused" is decided with the task's cancel count
 * (cl_task_cancelling): the enter remembers it, the exit takes the
 * deadline's request back with cl_task_uncancel and converts only if
 * the count is back where it was. A cancel that came from elsewhere
 * meanwhile stays a CancelledError; it is not swallowed. Nested
 * timeouts work the same way: only the one that fired converts.
 *
 * wait_for(fut, timeout) is the older API, kept as CPython 3.11 writes
 * it: it waits for fut and, at the deadline, cancels fut, waits until
 * fut has finished cancelling (its cleanup may take time), and raises
 * TimeoutError from the CancelledError; if fut got a result in the
 * meantime, even at the deadline itself, that result is returned.
 *
 * Deadlines are times of the loop's clock (cl_loop_time); "no deadline"
 * (Python's None) is CL_TIMEOUT_NEVER. A deadline that fires writes a
 * trace event "timeout task=N", N being the task it cancels (the one
 * waiting in wait_for).
 *
 * Python: Lib/asyncio/timeouts.py (Timeout, timeout, timeout_at) and
 * Lib/asyncio/tasks.py (wait_for, _cancel_and_wait), 3.11.
 */
#ifndef CL_TIMEOUTS_H
#define CL_TIMEOUTS_H

#include <math.h>

#include "future.h"
#include "task.h"

/* None as a delay or a deadline: never fire. */
#define CL_TIMEOUT_NEVER INFINITY

/* timeouts._State. */
enum cl_timeout_state {
	CL_TIMEOUT_CREATED,  /* "created" (not used by the C API) */
	CL_TIMEOUT_ENTERED,  /* "active": the block runs */
	CL_TIMEOUT_EXPIRING, /* "expiring": fired, the block not left */
	CL_TIMEOUT_EXPIRED,  /* "expired": left after firing */
	CL_TIMEOUT_EXITED,   /* "finished": left in time */
};

/* A timeout block. Lives where the caller puts it (its stack, usually);
 * the functions below write the fields. */
struct cl_timeout {
	enum cl_timeout_state state;
	double when;		  /* the deadline, CL_TIMEOUT_NEVER for none */
	struct cl_handle *handler; /* the deadline's timer: a reference */
	struct cl_task *task;	  /* the task in the block (borrowed: it
				     outlives the block) */
	int cancelling;		  /* its cancelling() at the enter */
};

/*
 * async with asyncio.timeout(delay) / timeout_at(when): initialize *tm
 * and enter the block: the deadline is now + delay, or when. A deadline
 * already past fires at the next iteration. Raises RuntimeError outside
 * a task ("Timeout should be used inside a task").
 */
void cl_timeout_enter(struct cl_timeout *tm, double delay);
void cl_timeout_at_enter(struct cl_timeout *tm, double when);

/*
 * __aexit__: leave the block that raised exc (taken over; NULL if it
 * ended normally). Cancels the timer. Returns if exc is NULL; raises
 * TimeoutError from exc if exc is the CancelledError the deadline
 * caused; raises exc again otherwise.
 */
void cl_timeout_exit(struct cl_timeout *tm, struct cl_exc *exc);

/*
 * cm.reschedule(when): move the deadline (CL_TIMEOUT_NEVER: none). Only
 * inside the block: raises RuntimeError "Cannot change state of expired
 * Timeout" (or expiring, finished) otherwise.
 */
void cl_timeout_reschedule(struct cl_timeout *tm, double when);

/* cm.when(): the deadline. cm.expired(): the deadline has fired. */
static inline double cl_timeout_when(const struct cl_timeout *tm)
{
	return tm->when;
}

static inline int cl_timeout_expired(const struct cl_timeout *tm)
{
	return tm->state == CL_TIMEOUT_EXPIRING ||
	       tm->state == CL_TIMEOUT_EXPIRED;
}

/*
 * await asyncio.wait_for(fut, timeout): fut's result, or its exception
 * raised here, if it is done within timeout seconds. Otherwise fut is
 * cancelled, and once it is done, TimeoutError is raised from its
 * CancelledError (or its result returned, or its exception raised, if
 * it did not let the cancellation end it). timeout <= 0 cancels fut at
 * once unless it is done already; CL_TIMEOUT_NEVER waits as long as it
 * takes. If the task in wait_for is cancelled, fut is cancelled too and
 * waited for, and CancelledError raised. fut is a future or a task
 * (cl_task_future(t)), borrowed: the caller keeps its reference.
 */
void *cl_wait_for(struct cl_future *fut, double timeout);

#endif
