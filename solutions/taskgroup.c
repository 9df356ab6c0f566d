/*
 * taskgroup.c - asyncio.TaskGroup (taskgroup.h).
 *
 * The group is three things: a list of children, each with a done
 * callback back to the group; a list of failures; and, while the exit
 * waits, a future that the last child to finish completes. Everything
 * else is bookkeeping about who cancelled whom:
 *
 *	a child fails		the group cancels the other children
 *				(aborting) and the parent, once
 *				(parent_cancel_requested)
 *	the body raises		the exit cancels the children
 *	the parent is cancelled	the exit, waiting, cancels the children
 *	  from outside		and lets CancelledError out at the end
 *
 * Like everything built on done callbacks, the group hears of a child an
 * iteration after the child finished, never from inside its step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "taskgroup.h"

struct cl_taskgroup *cl_taskgroup_incref(struct cl_taskgroup *tg)
{
	tg->refcnt++;
	return tg;
}

void cl_taskgroup_decref(struct cl_taskgroup *tg)
{
	if (tg == NULL || --tg->refcnt > 0)
		return;
	for (size_t i = 0; i < tg->ntasks; i++)
		cl_task_decref(tg->tasks[i]);
	free(tg->tasks);
	for (size_t i = 0; i < tg->nerrors; i++)
		cl_exc_decref(tg->errors[i]);
	free(tg->errors);
	cl_future_decref(tg->on_completed);
	cl_task_decref(tg->parent);
	free(tg);
}

const char *cl_taskgroup_repr(const struct cl_taskgroup *tg, char *buf,
			      size_t size)
{
	int n = snprintf(buf, size, "<TaskGroup");

	if (tg->npending > 0 && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - n, " tasks=%zu", tg->npending);
	if (tg->nerrors > 0 && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - n, " errors=%zu", tg->nerrors);
	if (n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - n, "%s>",
			 tg->aborting ? " cancelling" : " entered");
	return buf;
}

struct cl_taskgroup *cl_taskgroup_new(void)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_task *parent = cl_current_task();
	struct cl_taskgroup *tg;

	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	if (parent == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "TaskGroup <TaskGroup> "
				    "cannot determine the parent task"));
	tg = calloc(1, sizeof *tg);
	if (tg == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	tg->refcnt = 1;
	tg->loop = loop;
	tg->parent = cl_task_incref(parent);
	return tg;
}

/* Append e (a reference, taken over) to the failures. */
static void cl__taskgroup_add_error(struct cl_taskgroup *tg, struct cl_exc *e)
{
	if (tg->nerrors == tg->errors_cap) {
		size_t cap = tg->errors_cap ? 2 * tg->errors_cap : 4;
		struct cl_exc **a = realloc(tg->errors, cap * sizeof *a);

		if (a == NULL) {
			fprintf(tg->loop->err, "corolab: TaskGroup: out of "
					       "memory, a failure is lost\n");
			cl_exc_decref(e);
			return;
		}
		tg->errors = a;
		tg->errors_cap = cap;
	}
	tg->errors[tg->nerrors++] = e;
}

// LAB ch05 taskgroup_abort: cl__taskgroup_abort cancels every child not done
// LAB ch05: yet. cl__taskgroup_child_ended records a finished child's failure
// LAB ch05: (never a cancellation) and, on the first one, aborts the group
// LAB ch05: and cancels the parent task once, remembering that it did.
// LAB ch05: Mirrors Lib/asyncio/taskgroups.py TaskGroup._abort and
// LAB ch05: _on_task_done (after the bookkeeping); read section 8.
// HINT1 ch05: Read _on_task_done from "if task.cancelled()" on: the order of
// HINT1 ch05: its tests is the contract. aborting and parent_cancel_requested
// HINT1 ch05: are the two flags; cl_task_cancel the one action.
// HINT2 ch05: The exception is the child's future's: cl_future_exception(&t->fut)
// HINT2 ch05: (which marks it retrieved, as task.exception() does); the list
// HINT2 ch05: keeps its own reference (cl__taskgroup_add_error(tg,
// HINT2 ch05: cl_exc_incref(e))). A parent already done cannot be cancelled:
// HINT2 ch05: report to cl_loop_call_exception_handler instead.
// HINT3 ch05: abort: aborting = 1; for each of tasks[0..ntasks): if not
// HINT3 ch05: cl_task_done, cl_task_cancel. child_ended: cancelled or no
// HINT3 ch05: exception -> return; add_error; parent done -> report, return;
// HINT3 ch05: if !aborting && !parent_cancel_requested: abort, set
// HINT3 ch05: parent_cancel_requested, cl_task_cancel(parent).
/* TaskGroup._abort: cancel the children still running. */
static void cl__taskgroup_abort(struct cl_taskgroup *tg)
{
	tg->aborting = 1;
	for (size_t i = 0; i < tg->ntasks; i++)
		if (!cl_task_done(tg->tasks[i]))
			cl_task_cancel(tg->tasks[i]);
}

/* The end of _on_task_done: what a finished child t means to tg. */
static void cl__taskgroup_child_ended(struct cl_taskgroup *tg,
				      struct cl_task *t)
{
	struct cl_exc *e;

	if (cl_future_cancelled(&t->fut))
		return;
	e = cl_future_exception(&t->fut);
	if (e == NULL)
		return;
	cl__taskgroup_add_error(tg, cl_exc_incref(e));

	if (cl_task_done(tg->parent)) {
		/* "Not sure if this case is possible", says taskgroups.py:
		 * the parent left without the exit, which would have
		 * waited for this child. Nobody is left to tell but the
		 * loop. */
		char msg[800], child[384], parent[384];
		struct cl_exc_context ctx = { .message = msg, .exception = e,
					      .task = t };

		snprintf(msg, sizeof msg, "Task %s has errored out but its "
			 "parent task %s is already completed",
			 cl_future_repr(&t->fut, child, sizeof child),
			 cl_future_repr(&tg->parent->fut, parent,
					sizeof parent));
		cl_loop_call_exception_handler(tg->loop, &ctx);
		return;
	}
	/*
	 * The first failure: stop the others, and stop the body too (it
	 * may be in a long await), by cancelling the parent. Once only:
	 * the exit takes this one request back (cl_task_uncancel), and a
	 * request it did not make stays.
	 */
	if (!tg->aborting && !tg->parent_cancel_requested) {
		cl__taskgroup_abort(tg);
		tg->parent_cancel_requested = 1;
		cl_task_cancel(tg->parent);
	}
}
// STUB ch05:
// static void cl__taskgroup_abort(struct cl_taskgroup *tg)
// {
// 	tg->aborting = 1;
// }
//
// static void cl__taskgroup_child_ended(struct cl_taskgroup *tg,
// 				      struct cl_task *t)
// {
// 	(void)t;
// 	cl__taskgroup_add_error(tg, cl_exc_new(&cl_NotImplementedError,
// 		"TaskGroup's abort path: not implemented (TODO ch05)"));
// }
// END ch05

/*
 * _on_task_done, the done callback of every child: one child less to
 * wait for (the last one releases the exit), then what its end means.
 * The registration holds a reference to the group, dropped here.
 */
static void cl__taskgroup_on_task_done(struct cl_future *f, void *arg)
{
	struct cl_taskgroup *tg = arg;

	tg->npending--;
	if (tg->on_completed != NULL && tg->npending == 0 &&
	    !cl_future_done(tg->on_completed))
		cl_future_set_result(tg->on_completed, NULL);
	cl__taskgroup_child_ended(tg, (struct cl_task *)f);
	cl_taskgroup_decref(tg);
}

struct cl_task *cl_taskgroup_create_task(struct cl_taskgroup *tg,
					 void *(*fn)(void *arg), void *arg,
					 const char *name)
{
	char repr[96];
	struct cl_task *t;

	if (tg->exiting && tg->npending == 0)
		cl_raise(cl_exc_new(&cl_RuntimeError, "TaskGroup %s is finished",
				    cl_taskgroup_repr(tg, repr, sizeof repr)));
	if (tg->aborting)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "TaskGroup %s is shutting down",
				    cl_taskgroup_repr(tg, repr, sizeof repr)));
	if (tg->ntasks == tg->tasks_cap) {
		size_t cap = tg->tasks_cap ? 2 * tg->tasks_cap : 8;
		struct cl_task **a = realloc(tg->tasks, cap * sizeof *a);

		if (a == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		tg->tasks = a;
		tg->tasks_cap = cap;
	}
	t = cl_loop_create_task(tg->loop, fn, arg, name);
	if (t == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "create_task: %s",
				    strerror(errno)));
	if (cl_future_add_done_callback(&t->fut, cl__taskgroup_on_task_done,
					cl_taskgroup_incref(tg)) < 0) {
		/* Without its callback the group would never hear of it:
		 * stop it before it starts. */
		cl_taskgroup_decref(tg);
		cl_task_cancel(t);
		cl_task_decref(t);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	tg->tasks[tg->ntasks++] = t;
	tg->npending++;
	return t;
}

/*
 * __aexit__. drop: the caller's reference to tg goes too, before
 * whatever is raised (cl_taskgroup_run's way out).
 *
 * The steps, as taskgroups.py takes them:
 * 1. Decide whether a CancelledError from the body is to be propagated:
 *    not if the group itself caused it, and nobody else asked since.
 * 2. The body raised: abort, unless a failure has already.
 * 3. Wait until every child is done. A CancelledError here is the
 *    parent being cancelled from outside (the group's own request was
 *    delivered to the body already): abort, and propagate it later.
 * 4. Raise: the CancelledError if nothing failed; otherwise every
 *    failure, the body's last, in one group, from None.
 */
static void cl__taskgroup_exit(struct cl_taskgroup *tg, struct cl_exc *exc,
			       int drop)
{
	struct cl_exc *volatile propagate = NULL;
	struct cl_exc *g;

	tg->exiting = 1;
	if (exc != NULL && cl_exc_matches(exc, &cl_CancelledError))
		propagate = cl_exc_incref(exc);
	if (tg->parent_cancel_requested &&
	    cl_task_uncancel(tg->parent) == 0) {
		cl_exc_decref(propagate);
		propagate = NULL;
	}
	if (exc != NULL && !tg->aborting)
		cl__taskgroup_abort(tg);

	while (tg->npending > 0) {
		if (tg->on_completed == NULL)
			tg->on_completed = cl_future_new(tg->loop);
		if (tg->on_completed == NULL) {
			/* No future to wait on: let the children run out
			 * one iteration at a time instead. */
			cl_sleep(0);
			continue;
		}
		CL_TRY {
			cl_await(tg->on_completed);
		} CL_CATCH(e) {
			if (!cl_exc_matches(e, &cl_CancelledError)) {
				cl_exc_decref(propagate);
				cl_exc_decref(exc);
				if (drop)
					cl_taskgroup_decref(tg);
				cl_raise(e);
			}
			if (!tg->aborting) {
				cl_exc_decref(propagate);
				propagate = e;
				cl__taskgroup_abort(tg);
			} else {
				cl_exc_decref(e);
			}
		} CL_END_TRY;
		cl_future_decref(tg->on_completed);
		tg->on_completed = NULL;
	}

	if (propagate != NULL && tg->nerrors == 0) {
		cl_exc_decref(exc);
		if (drop)
			cl_taskgroup_decref(tg);
		cl_raise(propagate);
	}
	cl_exc_decref(propagate);
	if (exc != NULL && !cl_exc_matches(exc, &cl_CancelledError))
		cl__taskgroup_add_error(tg, exc);
	else
		cl_exc_decref(exc);
	if (tg->nerrors == 0) {
		if (drop)
			cl_taskgroup_decref(tg);
		return;
	}
	/* The group takes the references over; the list is let go of
	 * (taskgroups.py sets _errors = None, exceptions being heavy). */
	g = cl_exc_group_new("unhandled errors in a TaskGroup", tg->nerrors,
			     tg->errors);
	free(tg->errors);
	tg->errors = NULL;
	tg->nerrors = tg->errors_cap = 0;
	if (drop)
		cl_taskgroup_decref(tg);
	cl_raise_from(g, NULL);
}

void cl_taskgroup_wait(struct cl_taskgroup *tg, struct cl_exc *exc)
{
	cl__taskgroup_exit(tg, exc, 0);
}

void cl_taskgroup_run(void (*body)(struct cl_taskgroup *tg, void *arg),
		      void *arg)
{
	struct cl_taskgroup *tg = cl_taskgroup_new();
	volatile int raised = 0;

	CL_TRY {
		body(tg, arg);
	} CL_CATCH(e) {
		/* Python calls __aexit__ while e is being handled, so
		 * whatever it raises has e as its __context__: the same
		 * here, from inside the catch block. */
		raised = 1;
		cl__taskgroup_exit(tg, e, 1);
	} CL_END_TRY;
	if (!raised)
		cl__taskgroup_exit(tg, NULL, 1);
}
