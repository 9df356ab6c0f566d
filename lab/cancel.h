/*
 * cancel.h - chapter 05: what a cancellation carries, and how a task
 * delivers it (asyncio 3.11).
 *
 * Chapter 03's cancel is a bare request: the next step throws a plain
 * CancelledError into the coroutine. Python 3.11 adds three things, and
 * this file holds them, for task.c and future.c to call:
 *
 *	task.cancel(msg)	the request counts (cancelling(), uncancel()),
 *				and the message travels: into the future the
 *				task waits on (a task it awaits is cancelled
 *				first, with the same message), or into the
 *				CancelledError its next step throws in;
 *	a cancelled future	raises CancelledError(msg), or CancelledError()
 *				with no argument when there was no message;
 *	a cancelled task	raises the very CancelledError its coroutine
 *				let out, so the message reaches whoever
 *				awaited it.
 *
 * Python: Lib/asyncio/tasks.py (Task.cancel, cancelling, uncancel,
 * __step), Lib/asyncio/futures.py (cancel, _make_cancelled_error).
 */
#ifndef CL_CANCEL_H
#define CL_CANCEL_H

#include "future.h"

struct cl_task;

/* Task.cancel(msg) once the task is known to be pending: count it, and
 * cancel what it waits on or mark it for its next step. Returns 1. */
int cl__task_cancel_request(struct cl_task *t, const char *msg);

/* Task.__step, before the resume: exc is what the step would throw in
 * (a reference, or NULL); a pending cancel turns it into the
 * CancelledError to throw. Returns the exception to throw (or NULL). */
struct cl_exc *cl__task_cancel_exc(struct cl_task *t, struct cl_exc *exc);

/* Task.__step, after the resume: the coroutine let exc, a
 * CancelledError, out (the reference is taken over): t ends cancelled. */
void cl__task_cancelled(struct cl_task *t, struct cl_exc *exc);

#endif
