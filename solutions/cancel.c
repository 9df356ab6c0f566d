/*
 * cancel.c - chapter 05: cancellation as asyncio 3.11 has it.
 *
 * A cancel is a request, not an act. task.cancel(msg) does not stop
 * anything: it arranges for a CancelledError to be raised in the
 * coroutine at its next await, once, and the coroutine decides what
 * happens then: let it out (the task ends cancelled), clean up in a
 * finally and let it out, or catch it and carry on.
 *
 * The request goes where the task is:
 *
 *	waiting on a future	cancel that future, with the message: its
 *				done callback wakes the task, and the wake-up
 *				throws in that future's CancelledError(msg).
 *				If the future is a task, it is that task that
 *				gets the request first: the cancellation
 *				travels down the chain of awaits, and back up
 *				as each coroutine lets it out;
 *	about to step		(just created, or its wake-up already queued)
 *				must_cancel: the step throws a CancelledError
 *				in instead of resuming with the result. A
 *				task cancelled before its first step never
 *				runs a line of its coroutine.
 *
 * task.c calls the three functions below at those points; this file
 * holds the rest, and nothing here ever waits.
 *
 * Python: Lib/asyncio/tasks.py (Task.cancel, __step), futures.py
 * (Future.cancel, _make_cancelled_error).
 */
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "task.h"

// LAB ch05 cancelled_error: A new reference to the CancelledError a cancelled
// LAB ch05: f raises: f->cancelled_exc if set (handed over, once; the field is
// LAB ch05: left NULL), else a new one with f->cancel_msg as its one argument,
// LAB ch05: or no argument when it is NULL. Mirrors Lib/asyncio/futures.py
// LAB ch05: Future._make_cancelled_error; read section 6.
// HINT1 ch05: Two cases, in that order: the saved exception, then a new one.
// HINT2 ch05: No argument is cl_exc_new(type, NULL), as Python's
// HINT2 ch05: CancelledError(); with a message, cl_exc_new(type, "%s", msg).
// HINT3 ch05: e = f->cancelled_exc; if (e) { f->cancelled_exc = NULL; return
// HINT3 ch05: e; } else build it from f->cancel_msg.
struct cl_exc *cl__future_cancelled_error(struct cl_future *f)
{
	struct cl_exc *e = f->cancelled_exc;

	if (e != NULL) {
		f->cancelled_exc = NULL;
		return e;
	}
	if (f->cancel_msg == NULL)
		return cl_exc_new(&cl_CancelledError, NULL);
	return cl_exc_new(&cl_CancelledError, "%s", f->cancel_msg);
}
// STUB ch05:
// struct cl_exc *cl__future_cancelled_error(struct cl_future *f)
// {
// 	/* Chapter 03's behaviour, which chapters 01-04 rely on: a plain
// 	 * CancelledError(), no message, none kept. */
// 	(void)f;
// 	return cl_exc_new(&cl_CancelledError, NULL);
// }
// END ch05

/*
 * Task.cancel(msg), after task.c has checked that t is pending and
 * traced the request:
 *
 *	self._num_cancels_requested += 1
 *	if self._fut_waiter is not None:
 *		if self._fut_waiter.cancel(msg=msg):
 *			return True
 *	self._must_cancel = True
 *	self._cancel_message = msg
 *	return True
 *
 * The future it waits on stays its fut_waiter: if it is a task that
 * catches its cancellation and goes on, a second cancel must reach it
 * again.
 */
int cl__task_cancel_request(struct cl_task *t, const char *msg)
{
	// LAB ch05 task_cancel: Task.cancel(msg) on a pending t: one more request
	// LAB ch05: (cancelling()); the future t waits on is cancelled with msg,
	// LAB ch05: and if it refuses (or there is none) t's next step delivers
	// LAB ch05: it: must_cancel, msg kept (copied) in t->fut.cancel_msg.
	// LAB ch05: Returns 1. Mirrors Lib/asyncio/tasks.py Task.cancel;
	// LAB ch05: read section 6.
	// HINT1 ch05: Follow the Python above line by line; the waiter is
	// HINT1 ch05: cancelled with cl_future_cancel_msg, so a task it awaits
	// HINT1 ch05: gets the same message.
	// HINT2 ch05: The message is copied (strdup) over the one there (free
	// HINT2 ch05: it) only when the request is left for the next step.
	t->num_cancels++;
	if (t->fut_waiter != NULL && cl_future_cancel_msg(t->fut_waiter, msg))
		return 1;
	t->must_cancel = 1;
	free(t->fut.cancel_msg);
	t->fut.cancel_msg = msg != NULL ? strdup(msg) : NULL;
	return 1;
	// STUB ch05:
	// /* Chapter 03's cancel, which chapters 01-04 rely on: no count,
	//  * no message. */
	// (void)msg;
	// if (t->fut_waiter != NULL && cl_future_cancel(t->fut_waiter))
	// 	return 1;
	// t->must_cancel = 1;
	// return 1;
	// END ch05
}

// LAB ch05 cancel_deliver: cl__task_cancel_exc: with must_cancel set, the
// LAB ch05: exception to throw in becomes a CancelledError (kept if it is one
// LAB ch05: already, else replaced by t's own) and must_cancel is cleared.
// LAB ch05: cl__task_cancelled: t ends cancelled, keeping exc for the next
// LAB ch05: result() or await of t. Mirrors Lib/asyncio/tasks.py Task.__step
// LAB ch05: (before and after coro.send/throw); read section 6.
// HINT1 ch05: A task is a future: its own CancelledError is
// HINT1 ch05: cl__future_cancelled_error(&t->fut), which carries the message.
// HINT2 ch05: Replacing exc drops the reference to the old one. To end t:
// HINT2 ch05: store exc in t->fut.cancelled_exc (dropping what was there),
// HINT2 ch05: then Future.cancel without the task's override,
// HINT2 ch05: cl__future_cancel.
struct cl_exc *cl__task_cancel_exc(struct cl_task *t, struct cl_exc *exc)
{
	if (!t->must_cancel)
		return exc;
	if (exc == NULL || !cl_exc_matches(exc, &cl_CancelledError)) {
		cl_exc_decref(exc);
		exc = cl__future_cancelled_error(&t->fut);
	}
	t->must_cancel = 0;
	return exc;
}

void cl__task_cancelled(struct cl_task *t, struct cl_exc *exc)
{
	cl_exc_decref(t->fut.cancelled_exc);
	t->fut.cancelled_exc = exc;
	cl__future_cancel(&t->fut);
}
// STUB ch05:
// /* Chapter 03's behaviour, which chapters 01-04 rely on: a plain
//  * CancelledError in, nothing kept when it comes out. */
// struct cl_exc *cl__task_cancel_exc(struct cl_task *t, struct cl_exc *exc)
// {
// 	if (!t->must_cancel)
// 		return exc;
// 	if (exc == NULL || !cl_exc_matches(exc, &cl_CancelledError)) {
// 		cl_exc_decref(exc);
// 		exc = cl_exc_new(&cl_CancelledError, NULL);
// 	}
// 	t->must_cancel = 0;
// 	return exc;
// }
//
// void cl__task_cancelled(struct cl_task *t, struct cl_exc *exc)
// {
// 	cl_exc_decref(exc);
// 	cl__future_cancel(&t->fut);
// }
// END ch05
