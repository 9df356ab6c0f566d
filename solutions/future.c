/*
 * future.c - futures: completing them, their done callbacks, await.
 *
 * The one rule that shapes this file: completing a future never calls
 * anybody. set_result stores the result and hands each done callback to
 * the loop with call_soon (__schedule_callbacks in futures.py); the loop
 * runs them at its next iteration, in registration order. The code that
 * completed the future goes on until it returns or suspends, whoever it
 * is, and no callback can run in the middle of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "chaos.h"
#include "ctxvar.h"
#include "future.h"
#include "gen.h"
#include "lines.h"
#include "task.h"
#include "trace.h"

const struct cl_exc_type cl_CancelledError = { "asyncio.exceptions."
					       "CancelledError",
					       &cl_BaseException };
const struct cl_exc_type cl_InvalidStateError = { "InvalidStateError",
						  &cl_Exception };

void cl__future_init(struct cl_future *f, struct cl_loop *loop,
		     const struct cl_future_ops *ops)
{
	f->refcnt = 1;
	f->ops = ops;
	f->loop = loop;
	f->id = ++loop->last_fut_id;
	f->what = CL_WHAT_FUTURE;
	f->what_id = 0;
	f->what_obj = NULL;
	f->state = CL_FUTURE_PENDING;
	f->result = NULL;
	f->exc = NULL;
	f->exc_tb = NULL;
	f->log_tb = 0;
	f->cancel_msg = NULL;
	f->cancelled_exc = NULL;
	f->cbs = &f->cb0;
	f->ncbs = 0;
	f->cbs_cap = 1;
	f->ctx = NULL;
}

/* Dropped plain futures, for the next cl_future_new (loop.h). */
static _Thread_local struct cl__spares cl__spare_futures;

void cl__future_free_spares(void)
{
	cl__spare_free_all(&cl__spare_futures);
}

struct cl_future *cl_future_new(struct cl_loop *loop)
{
	struct cl_future *f;

	if (loop == NULL)
		loop = cl_get_running_loop();
	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	f = cl__spare_get(&cl__spare_futures);
	if (f == NULL && (f = cl__lines_alloc(sizeof *f)) == NULL)
		return NULL;
	cl__future_init(f, loop, NULL);
	return f;
}

/* Drop one registration without queuing it. */
static void cl__done_cb_drop(const struct cl__done_cb *cb)
{
	cl_context_decref(cb->ctx);
	if (cb->arg_ref)
		cl_future_decref(cb->arg);
}

/*
 * Take the whole list off f, which is left with none: the n entries
 * returned are the caller's. The first lives in the future itself, so
 * it is copied out to *one; free the result if it is not one.
 */
static struct cl__done_cb *cl__future_take_cbs(struct cl_future *f,
					       struct cl__done_cb *one,
					       size_t *n)
{
	struct cl__done_cb *cbs = f->cbs;

	*n = f->ncbs;
	if (cbs == &f->cb0) {
		*one = f->cb0;
		cbs = one;
	}
	f->cbs = &f->cb0;
	f->ncbs = 0;
	f->cbs_cap = 1;
	return cbs;
}

/* The list is full: move it to an array twice as big. -ENOMEM, or 0. */
static int cl__future_grow_cbs(struct cl_future *f)
{
	struct cl__done_cb *cbs;

	cbs = malloc(2 * f->cbs_cap * sizeof *cbs);
	if (cbs == NULL)
		return -ENOMEM;
	memcpy(cbs, f->cbs, f->ncbs * sizeof *cbs);
	if (f->cbs != &f->cb0)
		free(f->cbs);
	f->cbs = cbs;
	f->cbs_cap *= 2;
	return 0;
}

void cl__future_clear_callbacks(struct cl_future *f)
{
	struct cl__done_cb one, *cbs;
	size_t n;

	/* Detach first: dropping a reference may free a waiter that
	 * looks at this future again. */
	cbs = cl__future_take_cbs(f, &one, &n);
	for (size_t i = 0; i < n; i++)
		cl__done_cb_drop(&cbs[i]);
	if (cbs != &one)
		free(cbs);
}

void cl__future_fini(struct cl_future *f)
{
	cl__future_clear_callbacks(f);
	if (f->log_tb)
		cl__future_never_retrieved(f);
	cl_exc_decref(f->exc);
	f->exc = NULL;
	cl__tb_decref(f->exc_tb);
	f->exc_tb = NULL;
	free(f->cancel_msg);
	f->cancel_msg = NULL;
	cl_exc_decref(f->cancelled_exc);
	f->cancelled_exc = NULL;
	cl_context_decref(f->ctx);
	f->ctx = NULL;
}

struct cl_future *cl_future_incref(struct cl_future *f)
{
	f->refcnt++;
	return f;
}

void cl_future_decref(struct cl_future *f)
{
	if (f == NULL || --f->refcnt > 0)
		return;
	if (f->ops != NULL && f->ops->dealloc != NULL) {
		f->ops->dealloc(f);
		return;
	}
	cl__future_fini(f);
	cl__spare_put(&cl__spare_futures, f);
}

/* The trace's name for how a future ended. */
static const char *cl__future_state_str(const struct cl_future *f)
{
	if (f->state == CL_FUTURE_CANCELLED)
		return "cancelled";
	return f->exc != NULL ? "exc" : "ok";
}

/*
 * f is done: trace it, and if it holds an exception, keep the traceback
 * it has now, and remember to report it if nobody ever looks at it.
 */
static void cl__future_trace_done(struct cl_future *f)
{
	char by[32];

	if (f->exc != NULL) {
		f->exc_tb = cl__tb_incref(f->exc->tb);
		f->log_tb = 1;
	}

	CL_TRACE("fut.done", "fut=%lu by=%s state=%s", f->id,
		 cl__src_str(by, cl__loop_waker(f->loop)),
		 cl__future_state_str(f));
}

/*
 * Hand one callback to the loop. A callback that wakes a task is where
 * the task becomes runnable, so that is where the trace's wake event is
 * written: by whoever is completing the future, via the future. The
 * handle remembers the wake's seq, which the task's step will name as
 * its cause.
 */
static int cl__future_queue(struct cl_future *f, const struct cl__done_cb *cb)
{
	struct cl_handle *h;
	char by[32];
	long seq = 0;

	/* A task waits on f: its wake-up will throw f's exception in,
	 * which retrieves it (Task.__wakeup calls future.result()). */
	if (cb->wakes) {
		f->log_tb = 0;
		seq = CL_TRACE("wake", "task=%lu by=%s via=fut:%lu", cb->wakes,
			       cl__src_str(by, cl__loop_waker(f->loop)),
			       f->id);
	}
	h = cl__loop_call_soon_done(f->loop, cb->fn, f, cb->arg, cb->arg_ref,
				    seq);
	if (h == NULL)
		return -errno;
	h->ctx = cb->ctx; /* the handle takes the reference over */
	return 0;
}

// LAB ch03 future_done: cl_future_set_result / _set_exception: -EINVAL if f is
// LAB ch03: done already (the exception is dropped); otherwise f is done with
// LAB ch03: that outcome and every done callback is queued on the loop, in the
// LAB ch03: order added, none called here. Mirrors Lib/asyncio/futures.py
// LAB ch03: set_result, set_exception, __schedule_callbacks; read section 4.
// HINT1 ch03: Write cl__future_schedule_callbacks first; both setters end by
// HINT1 ch03: calling it. Never call a callback yourself.
// HINT2 ch03: Take the whole list off the future first with cl__future_take_cbs
// HINT2 ch03: (a callback must not see it half gone: CPython's
// HINT2 ch03: self._callbacks[:] = []), then queue each entry with
// HINT2 ch03: cl__future_queue, in order; free the array you took unless it is
// HINT2 ch03: your one-entry local.
// HINT3 ch03: A setter: check the state, store the outcome, set the state
// HINT3 ch03: (CL_FUTURE_DONE), cl__future_trace_done(f), schedule the
// HINT3 ch03: callbacks. A callback that cannot be queued: report it on
// HINT3 ch03: loop->err and cl__done_cb_drop it.
static void cl__future_schedule_callbacks(struct cl_future *f)
{
	struct cl__done_cb one, *cbs;
	size_t n;

	cbs = cl__future_take_cbs(f, &one, &n);
	for (size_t i = 0; i < n; i++) {
		if (cl__future_queue(f, &cbs[i]) < 0) {
			/* Out of memory: whoever waited will never be woken;
			 * the deadlock report will show it. */
			fprintf(f->loop->err,
				"corolab: fut:%lu: cannot queue a done "
				"callback\n", f->id);
			cl__done_cb_drop(&cbs[i]);
		}
	}
	if (cbs != &one)
		free(cbs);
}

int cl_future_set_result(struct cl_future *f, void *result)
{
	if (f->state != CL_FUTURE_PENDING)
		return -EINVAL;
	f->result = result;
	f->state = CL_FUTURE_DONE;
	cl__future_trace_done(f);
	cl__future_schedule_callbacks(f);
	return 0;
}

int cl_future_set_exception(struct cl_future *f, struct cl_exc *e)
{
	if (f->state != CL_FUTURE_PENDING) {
		cl_exc_decref(e);
		return -EINVAL;
	}
	f->exc = e;
	f->state = CL_FUTURE_DONE;
	cl__future_trace_done(f);
	cl__future_schedule_callbacks(f);
	return 0;
}
// STUB ch03:
// static void cl__future_schedule_callbacks(struct cl_future *f)
// {
// 	(void)f, (void)cl__future_queue;
// }
//
// int cl_future_set_result(struct cl_future *f, void *result)
// {
// 	(void)f, (void)result, (void)cl__future_trace_done;
// 	return -ENOSYS;
// }
//
// int cl_future_set_exception(struct cl_future *f, struct cl_exc *e)
// {
// 	(void)f;
// 	cl_exc_decref(e);
// 	return -ENOSYS;
// }
// END ch03

/*
 * Register cb: queue it at once if f is done already (a late callback is
 * still never called synchronously), else append it to the list.
 */
static int cl__future_add(struct cl_future *f, const struct cl__done_cb *cb)
{
	// LAB ch03 future_add: Register cb: a done f has it queued at once (it
	// LAB ch03: runs at the next iteration, never now); a pending f keeps
	// LAB ch03: it, after those added before. 0 or a negative errno.
	// LAB ch03: Mirrors Lib/asyncio/futures.py add_done_callback; read
	// LAB ch03: section 4.
	// HINT1 ch03: Done already: hand it to cl__future_queue. Pending:
	// HINT1 ch03: append it to f->cbs, first with cl__future_grow_cbs if it
	// HINT1 ch03: is full (f->ncbs == f->cbs_cap).
	if (f->state != CL_FUTURE_PENDING)
		return cl__future_queue(f, cb);
	if (f->ncbs == f->cbs_cap && cl__future_grow_cbs(f) < 0)
		return -ENOMEM;
	f->cbs[f->ncbs++] = *cb;
	return 0;
	// STUB ch03:
	// (void)f, (void)cb, (void)cl__future_grow_cbs;
	// return -ENOSYS;
	// END ch03
}

int cl_future_add_done_callback(struct cl_future *f, cl_done_callback fn,
				void *arg)
{
	return cl_future_add_done_callback_ctx(f, fn, arg, NULL);
}

/* fut.add_done_callback(fn, context=ctx): the registration holds a
 * reference to the context, a copy of the current one if ctx is NULL. */
int cl_future_add_done_callback_ctx(struct cl_future *f, cl_done_callback fn,
				    void *arg, struct cl_context *ctx)
{
	struct cl__done_cb cb = { .fn = fn, .arg = arg };
	int err;

	cb.ctx = ctx != NULL ? cl_context_incref(ctx) : cl_copy_context();
	if (cb.ctx == NULL)
		return -ENOMEM;
	err = cl__future_add(f, &cb);
	if (err < 0)
		cl_context_decref(cb.ctx);
	return err;
}

/* No context for a waiter: a task's wake-up enters the task's own
 * context when it takes the step (task.c). */
int cl__future_add_waiter(struct cl_future *f, cl_done_callback fn,
			  struct cl_future *waiter, unsigned long wakes)
{
	struct cl__done_cb cb = { .fn = fn, .arg = waiter, .arg_ref = 1,
				  .wakes = wakes };

	return cl__future_add(f, &cb);
}

size_t cl_future_remove_done_callback(struct cl_future *f,
				      cl_done_callback fn, void *arg)
{
	size_t kept = 0, removed = 0, refs = 0;

	/* Compact the list in place, and drop the references afterwards:
	 * dropping one may free something that looks at f. */
	for (size_t i = 0; i < f->ncbs; i++) {
		if (f->cbs[i].fn == fn && f->cbs[i].arg == arg) {
			refs += f->cbs[i].arg_ref;
			cl_context_decref(f->cbs[i].ctx);
			removed++;
			continue;
		}
		f->cbs[kept++] = f->cbs[i];
	}
	f->ncbs = kept;
	while (refs-- > 0)
		cl_future_decref(arg);
	return removed;
}

int cl__future_cancel_msg(struct cl_future *f, const char *msg)
{
	if (f->state != CL_FUTURE_PENDING)
		return 0;
	if (msg != f->cancel_msg) { /* a task passes its own */
		free(f->cancel_msg);
		f->cancel_msg = msg != NULL ? strdup(msg) : NULL;
	}
	f->state = CL_FUTURE_CANCELLED;
	cl__future_trace_done(f);
	cl__future_schedule_callbacks(f);
	return 1;
}

int cl__future_cancel(struct cl_future *f)
{
	return cl__future_cancel_msg(f, NULL);
}

int cl_future_cancel_msg(struct cl_future *f, const char *msg)
{
	if (f->ops != NULL && f->ops->cancel != NULL)
		return f->ops->cancel(f, msg);
	return cl__future_cancel_msg(f, msg);
}

int cl_future_cancel(struct cl_future *f)
{
	return cl_future_cancel_msg(f, NULL);
}

/* raise f's exception at site, with the traceback it had when set. */
static void cl__future_raise_at(struct cl_future *f, struct cl_exc *e,
				const struct cl_site *site)
{
	if (e == f->exc) {
		cl__tb_decref(e->tb);
		e->tb = cl__tb_incref(f->exc_tb);
	}
	cl__raise_at(e, site);
}

void *cl_future_result(struct cl_future *f)
{
	switch (f->state) {
	case CL_FUTURE_PENDING:
		cl_raise(cl_exc_new(&cl_InvalidStateError,
				    "Result is not set."));
	case CL_FUTURE_CANCELLED:
		cl_raise(cl__future_cancelled_error(f));
	case CL_FUTURE_DONE:
		break;
	}
	f->log_tb = 0;
	if (f->exc != NULL)
		cl__future_raise_at(f, cl_exc_incref(f->exc), CL_HERE);
	return f->result;
}

struct cl_exc *cl_future_exception(struct cl_future *f)
{
	switch (f->state) {
	case CL_FUTURE_PENDING:
		cl_raise(cl_exc_new(&cl_InvalidStateError,
				    "Exception is not set."));
	case CL_FUTURE_CANCELLED:
		cl_raise(cl__future_cancelled_error(f));
	case CL_FUTURE_DONE:
		break;
	}
	f->log_tb = 0;
	return f->exc;
}

/*
 * Future.__await__:
 *
 *	if not self.done():
 *		yield self		# the task waits for us
 *	if not self.done():
 *		raise RuntimeError("await wasn't used with future")
 *	return self.result()	# may raise too
 *
 * The yield goes to the task running this coroutine (task.c), which
 * registers its wake-up on f and resumes us when f is done. When f ends
 * with an exception the task throws it in at the yield (Task.__wakeup
 * does), so it is raised here, at the await, in the awaiting coroutine.
 */
void *cl__await_at(struct cl_future *f, const struct cl_site *site)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_exc *e;

	if (loop == NULL || loop->cur_task == NULL)
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_await outside a task"), site);
	if (f->state == CL_FUTURE_PENDING) {
		/* for the task dump and debug mode (chapter 09) */
		loop->cur_task->await_site = site;
		loop->cur_task->await_since = loop->now;
		if (CL__CHAOS(cl__chaos_cancel)) /* chapter 09: a cancel */
			cl__chaos_await(loop->cur_task);
		cl__yield_exc(f, &e);
		if (e != NULL) /* what f ended with, or a cancellation; its
				  queued wake-up retrieved it already */
			cl__future_raise_at(f, e, site);
		if (f->state == CL_FUTURE_PENDING)
			cl__raise_at(cl_exc_new(&cl_RuntimeError,
						"await wasn't used with "
						"future"), site);
	}
	switch (f->state) {
	case CL_FUTURE_PENDING:
		break;
	case CL_FUTURE_CANCELLED:
		cl__raise_at(cl__future_cancelled_error(f), site);
	case CL_FUTURE_DONE:
		f->log_tb = 0;
		if (f->exc != NULL)
			cl__future_raise_at(f, cl_exc_incref(f->exc), site);
		break;
	}
	return f->result;
}

const char *cl__sync_kind_str(unsigned long what_id)
{
	static const char *const names[] = {
	    [CL_SYNC_LOCK] = "lock",	       [CL_SYNC_EVENT] = "event",
	    [CL_SYNC_CONDITION] = "condition", [CL_SYNC_SEMAPHORE] = "semaphore",
	    [CL_SYNC_BARRIER] = "barrier",     [CL_SYNC_QUEUE] = "queue",
	    [CL_SYNC_LIMITER] = "limiter",
	};
	unsigned k = CL_SYNC_KIND(what_id);

	return k < sizeof names / sizeof names[0] && names[k] ? names[k]
							      : "sync";
}
