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

/* TODO(ch05): A new reference to the CancelledError a cancelled
 * f raises: f->cancelled_exc if set (handed over, once; the field is
 * left NULL), else a new one with f->cancel_msg as its one argument,
 * or no argument when it is NULL. Mirrors Lib/asyncio/futures.py
 * Future._make_cancelled_error; read section 6.
 * Hints: make hint CH=5 TODO=cancelled_error (3 levels). */
struct cl_exc *cl__future_cancelled_error(struct cl_future *f)
{
	/* Chapter 03's behaviour, which chapters 01-04 rely on: a plain
	 * CancelledError(), no message, none kept. */
	(void)f;
	return cl_exc_new(&cl_CancelledError, NULL);
}

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
	/* TODO(ch05): Task.cancel(msg) on a pending t: one more request
	 * (cancelling()); the future t waits on is cancelled with msg,
	 * and if it refuses (or there is none) t's next step delivers
	 * it: must_cancel, msg kept (copied) in t->fut.cancel_msg.
	 * Returns 1. Mirrors Lib/asyncio/tasks.py Task.cancel;
	 * read section 6.
	 * Hints: make hint CH=5 TODO=task_cancel (2 levels). */
	/* Chapter 03's cancel, which chapters 01-04 rely on: no count,
	 * no message. */
	(void)msg;
	if (t->fut_waiter != NULL && cl_future_cancel(t->fut_waiter))
		return 1;
	t->must_cancel = 1;
	return 1;
}

/* TODO(ch05): cl__task_cancel_exc: with must_cancel set, the
 * exception to throw in becomes a CancelledError (kept if it is one
 * already, else replaced by t's own) and must_cancel is cleared.
 * cl__task_cancelled: t ends cancelled, keeping exc for the next
 * result() or await of t. Mirrors Lib/asyncio/tasks.py Task.__step
 * (before and after coro.send/throw); read section 6.
 * Hints: make hint CH=5 TODO=cancel_deliver (2 levels). */
/* Chapter 03's behaviour, which chapters 01-04 rely on: a plain
 * CancelledError in, nothing kept when it comes out. */
struct cl_exc *cl__task_cancel_exc(struct cl_task *t, struct cl_exc *exc)
{
	if (!t->must_cancel)
		return exc;
	if (exc == NULL || !cl_exc_matches(exc, &cl_CancelledError)) {
		cl_exc_decref(exc);
		exc = cl_exc_new(&cl_CancelledError, NULL);
	}
	t->must_cancel = 0;
	return exc;
}

void cl__task_cancelled(struct cl_task *t, struct cl_exc *exc)
{
	cl_exc_decref(exc);
	cl__future_cancel(&t->fut);
}
