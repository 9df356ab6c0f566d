/*
 * task.h - tasks: coroutines driven by the event loop.
 *
 * A coroutine is a stackful generator (gen.h) whose body waits for
 * things with cl_await. A task runs it in steps. A step resumes the
 * coroutine; the coroutine runs until it awaits a future that is not
 * done, which suspends it and hands the future to the task; the task
 * registers its wake-up as a done callback of that future, and the step
 * is over. When the future completes, the loop runs the wake-up, which
 * takes the next step: the coroutine goes on from its await with the
 * result (or the exception raised there).
 *
 *	static void *fetch(void *arg)		async def fetch(url):
 *	{					    await asyncio.sleep(1)
 *		cl_sleep(1);			    return len(url)
 *		return CL_INT(strlen(arg));
 *	}
 *	...
 *	struct cl_task *t = cl_create_task(fetch, "x", NULL);
 *	void *n = cl_await_task(t);		n = await t
 *	cl_task_decref(t);
 *
 * A task is a future: its result is the coroutine's return value, its
 * exception whatever escaped the coroutine, and awaiting a task is
 * awaiting that future. Creating a task queues its first step with
 * call_soon; nothing of the coroutine runs inside cl_create_task.
 *
 * Tasks are reference counted, like futures. cl_create_task returns one
 * reference, which you drop with cl_task_decref when you no longer need
 * the task; the task keeps running: while it is pending, the loop's queue
 * or the future it waits on holds it, as in CPython.
 *
 * Python: Lib/asyncio/tasks.py (Task.__init__, __step, __wakeup, cancel,
 * sleep, current_task, all_tasks, create_task).
 */
#ifndef CL_TASK_H
#define CL_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "future.h"
#include "gen.h"

struct cl_task {
	struct cl_future fut;	/* first: a task is a future, and a
				   struct cl_task * is a struct cl_future * */
	/* Set at creation, read-only afterwards. */
	unsigned long id;	/* task:N in the trace */
	unsigned long parent;	/* the task that created it, 0 if none */
	struct cl_gen *coro;	/* the coroutine, owned */

	/* Between steps, task.c only. */
	struct cl_future *fut_waiter; /* the future it waits on: a
					 reference (Task._fut_waiter) */
	struct cl_exc *step_exc;      /* to throw in at the next step */
	int must_cancel;	      /* cancel at the next step */
	int num_cancels;	      /* cancel requests (cancelling());
					 the message waits in
					 fut.cancel_msg */
	unsigned long steps;	      /* steps begun, for the trace */
	const struct cl_site *await_site; /* where its coroutine last
					     awaited (cl_await), NULL
					     before its first await */
	uint64_t await_since;	      /* loop time (us) of that await */

	/* On the loop's list of tasks not done yet (loop.h), while
	 * listed is set. task.c only. */
	struct cl_task *prev, *next;
	int listed;
	int in_cancel; /* its cancel is passing the request on: a cycle of
			  tasks awaiting each other comes back here */

	char name[]; /* task.get_name() */
};

/*
 * loop.create_task(fn(arg), name=name): a task that will run fn(arg) as a
 * coroutine on a stack of its own. Its first step is queued; it does not
 * start here. name NULL means "Task-N", N being its id. Returns one
 * reference, or NULL with errno set.
 */
struct cl_task *cl_loop_create_task(struct cl_loop *loop,
				    void *(*fn)(void *arg), void *arg,
				    const char *name);

/* asyncio.create_task: the same on the running loop (NULL and ESRCH when
 * there is none). */
struct cl_task *cl_create_task(void *(*fn)(void *arg), void *arg,
			       const char *name);

/*
 * Chapter 06: a task runs every step in a copy of the context current
 * when it was created, or, with these, in ctx itself (create_task's
 * context= argument, 3.11; NULL: a copy). It is the task's future's ctx
 * (future.h), a reference.
 */
struct cl_task *cl_loop_create_task_ctx(struct cl_loop *loop,
					void *(*fn)(void *arg), void *arg,
					const char *name,
					struct cl_context *ctx);
struct cl_task *cl_create_task_ctx(void *(*fn)(void *arg), void *arg,
				   const char *name, struct cl_context *ctx);

static inline struct cl_future *cl_task_future(struct cl_task *t)
{
	return &t->fut;
}

static inline struct cl_task *cl_task_incref(struct cl_task *t)
{
	cl_future_incref(&t->fut);
	return t;
}

static inline void cl_task_decref(struct cl_task *t)
{
	if (t != NULL)
		cl_future_decref(&t->fut);
}

static inline const char *cl_task_name(const struct cl_task *t)
{
	return t->name;
}

static inline int cl_task_done(const struct cl_task *t)
{
	return cl_future_done(&t->fut);
}

/* await task: its return value, or its exception raised here. */
#define cl_await_task(t) cl__await_at(&(t)->fut, CL_HERE)

/*
 * task.cancel(): ask the task to stop. A task waiting on a future has
 * that future cancelled, so CancelledError is raised at its await at the
 * next step; a task already queued gets it at that step. A coroutine
 * that lets CancelledError out leaves the task cancelled. Returns 1, or
 * 0 if the task is done already.
 */
int cl_task_cancel(struct cl_task *t);

/*
 * Chapter 05, asyncio 3.11's Task.cancel(msg), cancelling(), uncancel():
 * msg (copied; NULL for none) is the CancelledError's argument; each
 * request counts, cancelling() is the count, uncancel() takes one back
 * and returns what is left. TaskGroup and timeout use the counts to
 * tell their own cancellation from one that came from outside.
 */
int cl_task_cancel_msg(struct cl_task *t, const char *msg);
int cl_task_cancelling(const struct cl_task *t);
int cl_task_uncancel(struct cl_task *t);

/* asyncio.current_task(): the task whose step is running, NULL outside
 * any task (or outside a loop). Borrowed. */
struct cl_task *cl_current_task(void);

/* Chapter 09: the task whose step the handle h runs (its first step, or a
 * wake-up), NULL when h is any other callback. */
struct cl_task *cl__handle_task(const struct cl_handle *h);

/*
 * asyncio.all_tasks(loop): how many tasks of loop (NULL: the running
 * loop) are not done; the first max of them, oldest first, are stored in
 * out (borrowed references). 0 when there is no loop.
 */
size_t cl_all_tasks(struct cl_loop *loop, struct cl_task **out, size_t max);

/*
 * await asyncio.sleep(seconds) in the running task. sleep(0) (or less)
 * yields for exactly one iteration of the loop: the task goes to the back
 * of the ready queue, as a bare yield does in CPython. A longer sleep
 * waits on a future that a timer completes. Raises RuntimeError outside
 * a task. A macro, as cl_await is: what it raises (a cancellation,
 * mostly) has the line of the cl_sleep in its traceback.
 */
#define cl_sleep(seconds) cl__sleep_at((seconds), CL_HERE)
void cl__sleep_at(double seconds, const struct cl_site *site);

/*
 * For run.c, at the end of a run that deadlocked: close the coroutine of
 * every task still pending (GeneratorExit at its await, so its cleanup
 * runs), mark it cancelled and forget it, breaking the reference cycles
 * between tasks and the futures they wait on.
 */
void cl__task_abandon_all(struct cl_loop *loop);

#endif
