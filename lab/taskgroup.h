/*
 * taskgroup.h - asyncio.TaskGroup: children that fail together.
 *
 * A task group owns the tasks created through it. Its exit waits until
 * every child is done. The first child that fails cancels the others and
 * the body (the task that made the group); the exit then raises one
 * ExceptionGroup holding every failure, in the order the children
 * finished. A cancelled child is not a failure: CancelledError is never
 * in the group.
 *
 * Python writes the group as a context manager:
 *
 *	async with asyncio.TaskGroup() as tg:
 *	    tg.create_task(fetch("a"))
 *	    tg.create_task(fetch("b"))
 *	    await something()
 *
 * C has no "async with", so the two halves are calls, and the body's
 * exception is caught and handed to the exit, which is what Python's
 * __aexit__ receives:
 *
 *	struct cl_taskgroup *tg = cl_taskgroup_new();	__aenter__
 *	struct cl_exc *volatile body_exc = NULL;
 *	CL_TRY {
 *		cl_taskgroup_create_task(tg, fetch, "a", NULL);
 *		cl_taskgroup_create_task(tg, fetch, "b", NULL);
 *		something();
 *	} CL_CATCH(e) {
 *		body_exc = e;
 *	} CL_END_TRY;
 *	cl_taskgroup_wait(tg, body_exc);		__aexit__
 *	cl_taskgroup_decref(tg);
 *
 * (with the decref also on the way out when the wait raises). That is
 * a lot of ceremony, so cl_taskgroup_run does all of it around a body
 * function, and reads like the Python:
 *
 *	static void body(struct cl_taskgroup *tg, void *arg)
 *	{
 *		cl_taskgroup_create_task(tg, fetch, "a", NULL);
 *		cl_taskgroup_create_task(tg, fetch, "b", NULL);
 *		something();
 *	}
 *	...
 *	cl_taskgroup_run(body, NULL);			async with ...
 *
 * The pair is there for the cases the helper does not fit: a group kept
 * after its exit, or a body that needs the caller's locals.
 *
 * How the group tells its own cancellation of the parent from one that
 * came from outside: when a child fails, the group cancels the parent
 * once and remembers it; the exit takes that request back with
 * cl_task_uncancel. If requests are left, someone else wants the parent
 * cancelled too, and the exit lets CancelledError out instead of
 * swallowing it.
 *
 * Where C differs: Python keeps the children in a set, and aborting
 * cancels them in the set's order, which follows their addresses; here
 * they are cancelled in creation order. KeyboardInterrupt and SystemExit,
 * which a Python group re-raises alone, do not exist in corolab.
 *
 * Python: Lib/asyncio/taskgroups.py (TaskGroup: __aenter__, __aexit__,
 * create_task, _abort, _on_task_done), 3.11.
 */
#ifndef CL_TASKGROUP_H
#define CL_TASKGROUP_H

#include <stddef.h>

#include "exc.h"
#include "future.h"
#include "task.h"

struct cl_taskgroup {
	int refcnt;		   /* the caller's and one per running child */
	struct cl_loop *loop;
	struct cl_task *parent;	   /* the task that entered: a reference */
	unsigned char exiting;	   /* cl_taskgroup_wait has begun */
	unsigned char aborting;	   /* children cancelled after a failure */
	unsigned char parent_cancel_requested; /* we cancelled the parent */
	unsigned char finished;	   /* the wait is over (_errors = None) */

	struct cl_task **tasks;	   /* every child, creation order: refs */
	size_t ntasks, tasks_cap;
	size_t npending;	   /* children whose done callback has not
				      run yet: len(self._tasks) */
	struct cl_exc **errors;	   /* failures, completion order: refs */
	size_t nerrors, errors_cap;
	struct cl_future *on_completed; /* what the exit waits on, or NULL */
};

/*
 * TaskGroup() entered: a new group whose parent is the running task (one
 * reference). Raises RuntimeError outside a task, as __aenter__ does
 * ("TaskGroup <TaskGroup> cannot determine the parent task"), and
 * MemoryError when out of memory.
 */
struct cl_taskgroup *cl_taskgroup_new(void);

/*
 * tg.create_task(fn(arg), name=name): a child task of the group, created
 * as cl_create_task creates one. Returned borrowed: the group holds a
 * reference until it is freed, so the pointer stays valid as long as the
 * group does (cl_task_incref to keep it longer). Raises RuntimeError
 * "TaskGroup <...> is shutting down" once a failure has made the group
 * abort, and "TaskGroup <...> is finished" once its exit has seen every
 * child done.
 */
struct cl_task *cl_taskgroup_create_task(struct cl_taskgroup *tg,
					 void *(*fn)(void *arg), void *arg,
					 const char *name);

/*
 * The exit, __aexit__(type(exc), exc, tb): exc is what the body raised
 * (taken over; NULL if it ended normally). Cancels the children if exc
 * is set, waits until every child is done, then: returns if nothing
 * failed; raises ExceptionGroup("unhandled errors in a TaskGroup",
 * [failures in completion order, then exc unless it is a CancelledError])
 * from None; or re-raises a CancelledError that came from outside. Call
 * it from inside a CL_CATCH block to get Python's __context__, or not:
 * the group is raised from None, so none is shown. The group stays
 * allocated: cl_taskgroup_decref it afterwards.
 */
void cl_taskgroup_wait(struct cl_taskgroup *tg, struct cl_exc *exc);

/*
 * async with TaskGroup() as tg: body(tg, arg). new, body, wait and
 * decref, with the body's exception (if any) handed to the wait.
 */
void cl_taskgroup_run(void (*body)(struct cl_taskgroup *tg, void *arg),
		      void *arg);

struct cl_taskgroup *cl_taskgroup_incref(struct cl_taskgroup *tg);
void cl_taskgroup_decref(struct cl_taskgroup *tg); /* NULL is fine */

/* repr(tg): "<TaskGroup tasks=2 errors=1 cancelling>"; into buf. */
const char *cl_taskgroup_repr(const struct cl_taskgroup *tg, char *buf,
			      size_t size);

#endif
