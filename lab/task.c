/*
 * task.c - a task drives a coroutine, one step at a time.
 *
 * The whole mechanism is two functions, the same two as CPython's:
 *
 *	step	resume the coroutine (send None, or throw an exception in);
 *		look at how it stopped: it returned (the task is done), it
 *		raised (done too), or it yielded a future to wait for, whose
 *		done callbacks now include the task's wake-up;
 *	wakeup	the future is done: take the next step, throwing in the
 *		future's exception if it has one.
 *
 * Neither ever waits. Between two steps the coroutine sits on its own
 * stack, suspended inside cl_await, and what keeps the task alive
 * (besides the references its users hold) is either the loop's queue,
 * where its next step is, or the future it waits on, where its wake-up
 * is registered: exactly one of the two while it is pending.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "ctxvar.h"
#include "task.h"
#include "trace.h"

static void cl__task_dealloc(struct cl_future *f);
static int cl__task_cancel(struct cl_future *f, const char *msg);

static const struct cl_future_ops cl__task_ops = {
	.dealloc = cl__task_dealloc,
	.cancel = cl__task_cancel,
};

static void cl__task_step(struct cl_future *f, void *unused);

/* The loop's list of tasks not done yet (asyncio's _all_tasks). */
static void cl__task_link(struct cl_task *t)
{
	struct cl_loop *loop = t->fut.loop;

	t->prev = loop->tasks_tail;
	t->next = NULL;
	if (loop->tasks_tail != NULL)
		loop->tasks_tail->next = t;
	else
		loop->tasks_head = t;
	loop->tasks_tail = t;
	loop->ntasks++;
	t->listed = 1;
}

static void cl__task_unlink(struct cl_task *t)
{
	struct cl_loop *loop = t->fut.loop;

	if (!t->listed)
		return;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		loop->tasks_head = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		loop->tasks_tail = t->prev;
	loop->ntasks--;
	t->listed = 0;
}

/*
 * Queue the task's next step: Task.__init__ does it for the first step,
 * __step for the step after a bare yield or a refused await. This is
 * where the task becomes runnable, so this is where its wake is traced.
 */
static int cl__task_schedule_step(struct cl_task *t, struct cl_src by)
{
	char b[32];
	long seq;

	seq = CL_TRACE("wake", "task=%lu by=%s", t->id, cl__src_str(b, by));
	if (cl__loop_call_soon_done(t->fut.loop, cl__task_step, &t->fut, NULL,
				    0, seq) == NULL)
		return -errno;
	return 0;
}

/* name as one value of the trace: no spaces, control characters or
 * quotes (a quote would open a quoted value), cut to fit buf. */
static const char *cl__trace_word(char *buf, size_t size, const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)name[i] <= ' ' || name[i] == '"' ||
				 name[i] == '\\'
			       ? '_'
			       : name[i];
	buf[i] = '\0';
	return buf;
}

struct cl_task *cl_loop_create_task(struct cl_loop *loop,
				    void *(*fn)(void *arg), void *arg,
				    const char *name)
{
	return cl_loop_create_task_ctx(loop, fn, arg, name, NULL);
}

struct cl_task *cl_loop_create_task_ctx(struct cl_loop *loop,
					void *(*fn)(void *arg), void *arg,
					const char *name,
					struct cl_context *ctx)
{
	unsigned long id = loop->last_task_id + 1;
	char buf[64];
	struct cl_task *t;
	size_t len;
	int err;

	if (name == NULL) {
		snprintf(buf, sizeof buf, "Task-%lu", id);
		name = buf;
	}
	len = strlen(name);
	t = calloc(1, sizeof *t + len + 1);
	if (t == NULL)
		return NULL;
	memcpy(t->name, name, len + 1);
	/* Task.__init__: self._context = context or copy_context(). */
	ctx = ctx != NULL ? cl_context_incref(ctx) : cl_copy_context();
	if (ctx == NULL) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->coro = cl_gen_new(fn, arg, name);
	if (t->coro == NULL) {
		err = errno;
		cl_context_decref(ctx);
		free(t);
		errno = err;
		return NULL;
	}
	loop->last_task_id = id;
	t->id = id;
	t->parent = loop->cur_task ? loop->cur_task->id : 0;
	cl__future_init(&t->fut, loop, &cl__task_ops);
	t->fut.ctx = ctx;
	t->fut.what = CL_WHAT_TASK;
	t->fut.what_id = id;
	CL_TRACE("task.new", "task=%lu name=%s parent=%lu fut=%lu", t->id,
		 cl__trace_word(buf, sizeof buf, t->name), t->parent,
		 t->fut.id);
	cl__task_link(t);
	err = cl__task_schedule_step(t, (struct cl_src){ CL_SRC_SPAWN, 0 });
	if (err < 0) {
		cl_task_decref(t);
		errno = -err;
		return NULL;
	}
	return t;
}

struct cl_task *cl_create_task(void *(*fn)(void *arg), void *arg,
			       const char *name)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	return cl_loop_create_task(loop, fn, arg, name);
}

struct cl_task *cl_create_task_ctx(void *(*fn)(void *arg), void *arg,
				   const char *name, struct cl_context *ctx)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	return cl_loop_create_task_ctx(loop, fn, arg, name, ctx);
}

static void cl__task_dealloc(struct cl_future *f)
{
	struct cl_task *t = (struct cl_task *)f;

	cl__task_unlink(t);
	cl_future_decref(t->fut_waiter);
	cl_exc_decref(t->step_exc);
	cl__future_fini(f);
	cl_gen_free(t->coro);
	free(t);
}

/*
 * Task.cancel: see task.h. Waiting, cancelling what it waits on wakes it
 * with CancelledError; the future may refuse (it is done, and the
 * wake-up is queued already), and then the next step delivers it.
 * cancel.c (chapter 05) does that part, with the message and the count.
 */
static int cl__task_cancel(struct cl_future *f, const char *msg)
{
	struct cl_task *t = (struct cl_task *)f;
	char by[32];
	int ok;

	/* Done, or a cycle of awaits (a deadlock, chapter 09) that led the
	 * request back here: refused. CPython recurses until RecursionError
	 * there; the task that passed it on keeps it for its next step. */
	if (cl_future_done(f) || t->in_cancel)
		return 0;
	if (msg != NULL) {
		char word[48];

		CL_TRACE("cancel", "task=%lu by=%s msg=%s", t->id,
			 cl__src_str(by, cl__loop_waker(f->loop)),
			 cl__trace_word(word, sizeof word, msg));
	} else {
		CL_TRACE("cancel", "task=%lu by=%s", t->id,
			 cl__src_str(by, cl__loop_waker(f->loop)));
	}
	t->in_cancel = 1;
	ok = cl__task_cancel_request(t, msg);
	t->in_cancel = 0;
	return ok;
}

int cl_task_cancel(struct cl_task *t)
{
	return cl_future_cancel(&t->fut);
}

int cl_task_cancel_msg(struct cl_task *t, const char *msg)
{
	return cl_future_cancel_msg(&t->fut, msg);
}

int cl_task_cancelling(const struct cl_task *t)
{
	return t->num_cancels;
}

int cl_task_uncancel(struct cl_task *t)
{
	if (t->num_cancels > 0)
		t->num_cancels--;
	return t->num_cancels;
}

/* Queue the next step with exc to throw in, from inside a step. */
static void cl__task_retry(struct cl_task *t, struct cl_exc *exc)
{
	cl_exc_decref(t->step_exc);
	t->step_exc = exc;
	if (cl__task_schedule_step(t, (struct cl_src){ CL_SRC_TASK, t->id }) <
	    0)
		fprintf(t->fut.loop->err, "corolab: task '%s': cannot queue "
					  "its next step\n", t->name);
}

static void cl__task_trace_await(struct cl_task *t, struct cl_future *fut)
{
	switch (fut->what) {
	case CL_WHAT_SLEEP:
		CL_TRACE("await", "task=%lu on=timer:%lu what=sleep fut=%lu",
			 t->id, fut->what_id, fut->id);
		break;
	case CL_WHAT_TASK:
		CL_TRACE("await", "task=%lu on=fut:%lu what=task:%lu", t->id,
			 fut->id, fut->what_id);
		break;
	case CL_WHAT_GATHER:
		CL_TRACE("await", "task=%lu on=fut:%lu what=gather", t->id,
			 fut->id);
		break;
	case CL_WHAT_FD_IN:
	case CL_WHAT_FD_OUT:
		CL_TRACE("await", "task=%lu on=fd:%lu:%s fut=%lu", t->id,
			 fut->what_id, fut->what == CL_WHAT_FD_IN ? "IN" : "OUT",
			 fut->id);
		break;
	case CL_WHAT_SYNC:
		CL_TRACE("await", "task=%lu on=%s:%lu fut=%lu", t->id,
			 cl__sync_kind_str(fut->what_id),
			 CL_SYNC_NUM(fut->what_id), fut->id);
		break;
	case CL_WHAT_FUTURE:
		CL_TRACE("await", "task=%lu on=fut:%lu", t->id, fut->id);
		break;
	}
}

static const char *cl__task_result_str(const struct cl_task *t)
{
	switch (t->fut.state) {
	case CL_FUTURE_PENDING:
		return "pending";
	case CL_FUTURE_CANCELLED:
		return "cancelled";
	case CL_FUTURE_DONE:
		break;
	}
	return t->fut.exc != NULL ? "raised" : "done";
}

static void cl__task_wakeup(struct cl_future *fut, void *arg);

/* TODO(ch03): cl__task_run_step runs one step of t's coroutine and settles
 * what comes out: done (result, exception, cancelled) or waiting on
 * the future it yielded, woken by it; cl__task_wait is that wait.
 * Mirrors Lib/asyncio/tasks.py Task.__step; read section 5.
 * Hints: make hint CH=3 TODO=task_step (3 levels). */
static void cl__task_run_step(struct cl_future *f, void *unused)
{
	(void)unused, (void)cl__task_retry, (void)cl__task_trace_await;
	(void)cl__task_result_str;
	cl_future_set_exception(f, cl_exc_new(&cl_NotImplementedError,
		"Task step: not implemented (TODO ch03)"));
}

/*
 * A step runs in the task's context (chapter 06): the loop calls
 * Task.__step as a callback whose context is self._context, and a
 * wake-up calls it directly. So entering the context here covers both.
 * A context entered already (the task's is shared, and current where
 * the loop runs) is the step's RuntimeError, reported as a callback's.
 */
static void cl__task_step(struct cl_future *f, void *unused)
{
	if (cl__context_enter(f->ctx) < 0)
		cl_raise(cl__context_busy_error(f->ctx));
	f->loop->stats.steps++; /* chapter 09's /metrics */
	cl__task_run_step(f, unused);
	cl__context_leave(f->ctx);
}

/*
 * Task.__wakeup: fut, which the task waited on, is done. Take the next
 * step, throwing in fut's exception if it has one (CancelledError if it
 * was cancelled), so that it is raised at the coroutine's await.
 */
static void cl__task_wakeup(struct cl_future *fut, void *arg)
{
	/* TODO(ch03): fut, which t waited on, is done: t takes its
	 * next step, with fut's exception (a CancelledError if fut
	 * was cancelled) raised at the coroutine's await. Mirrors
	 * Lib/asyncio/tasks.py Task.__wakeup; read section 5.
	 * Hints: make hint CH=3 TODO=task_wakeup (1 level). */
	(void)fut;
	cl_future_set_exception(arg, cl_exc_new(&cl_NotImplementedError,
		"Task wakeup: not implemented (TODO ch03)"));
}

struct cl_task *cl_current_task(void)
{
	struct cl_loop *loop = cl_get_running_loop();

	return loop ? loop->cur_task : NULL;
}

size_t cl_all_tasks(struct cl_loop *loop, struct cl_task **out, size_t max)
{
	size_t i = 0;

	if (loop == NULL)
		loop = cl_get_running_loop();
	if (loop == NULL)
		return 0;
	for (struct cl_task *t = loop->tasks_head; t && i < max; t = t->next)
		out[i++] = t;
	return loop->ntasks;
}

/* futures._set_result_unless_cancelled: the timer of a sleep. */
static void cl__sleep_wake(void *arg)
{
	struct cl_future *f = arg;

	if (!cl_future_cancelled(f))
		cl_future_set_result(f, NULL);
}

/*
 * asyncio.sleep:
 *
 *	if delay <= 0:
 *		await __sleep0()	# a bare yield
 *		return
 *	future = loop.create_future()
 *	h = loop.call_later(delay, _set_result_unless_cancelled, future)
 *	try:
 *		return await future
 *	finally:
 *		h.cancel()
 *
 * The finally matters when the sleep is cancelled: the timer would
 * otherwise stay in the heap until its deadline.
 */
/* The sleep on a timer; a function of its own, so that its CL_TRY (a
 * setjmp, which makes the compiler save every register) stays off the
 * path of sleep(0). */
static __attribute__((noinline)) void cl__sleep_timer(
	struct cl_loop *loop, double seconds, const struct cl_site *site)
{
	struct cl_future *f;
	struct cl_handle *h;

	f = cl_future_new(loop);
	if (f == NULL)
		cl__raise_at(cl_exc_new(&cl_MemoryError, NULL), site);
	h = cl_loop_call_later(loop, seconds, cl__sleep_wake, f);
	if (h == NULL) {
		int err = errno;

		cl_future_decref(f);
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_sleep: cannot set a timer: %s",
					strerror(err)), site);
	}
	cl_handle_incref(h);
	f->what = CL_WHAT_SLEEP;
	f->what_id = h->timer;
	CL_TRY {
		cl__await_at(f, site);
	} CL_CATCH(e) {
		cl_handle_cancel(h);
		cl_handle_decref(h);
		cl_future_decref(f);
		cl__raise_at(e, site);
	} CL_END_TRY;
	cl_handle_cancel(h);
	cl_handle_decref(h);
	cl_future_decref(f);
}

void cl__sleep_at(double seconds, const struct cl_site *site)
{
	struct cl_loop *loop = cl_get_running_loop();

	if (loop == NULL || loop->cur_task == NULL)
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_sleep outside a task"), site);
	if (seconds > 0) {
		cl__sleep_timer(loop, seconds, site);
		return;
	}
	/* sleep(0): a bare yield, one iteration. */
	loop->cur_task->await_site = site; /* chapter 09 */
	loop->cur_task->await_since = loop->now;
	cl__yield_at(NULL, site);
}

void cl__task_abandon_all(struct cl_loop *loop)
{
	struct cl_task *t;
	struct cl_exc *err;

	while ((t = loop->tasks_head) != NULL) {
		cl_task_incref(t);
		cl__task_unlink(t);
		if (t->fut_waiter != NULL) {
			cl_future_remove_done_callback(t->fut_waiter,
						       cl__task_wakeup, t);
			cl_future_decref(t->fut_waiter);
			t->fut_waiter = NULL;
		}
		/* What CPython does to a pending task it collects: close the
		 * coroutine, so GeneratorExit runs its cleanup code. */
		loop->cur_task = t;
		if (cl_gen_close(t->coro, &err) != 0) {
			fprintf(loop->err, "corolab: exception ignored when "
					   "closing task '%s': %s: %s\n",
				t->name, cl_exc_name(err),
				cl_exc_message(err));
			cl_exc_decref(err);
		}
		loop->cur_task = NULL;
		/* Nobody will run its callbacks: drop them, then mark it. */
		cl__future_clear_callbacks(&t->fut);
		cl__future_cancel(&t->fut);
		cl_task_decref(t);
	}
}

struct cl_task *cl__handle_task(const struct cl_handle *h)
{
	if (h->fut == NULL)
		return NULL;
	if (h->done_fn == cl__task_step)
		return (struct cl_task *)h->fut;
	if (h->done_fn == cl__task_wakeup)
		return h->arg;
	return NULL;
}
