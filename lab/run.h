/*
 * run.h - cl_run, the one way in: run a main coroutine to its end.
 *
 *	static void *main_task(void *arg)	async def main():
 *	{					    await asyncio.sleep(1)
 *		cl_sleep(1);			    return 42
 *		return CL_INT(42);
 *	}
 *	...
 *	void *out;
 *	int st = cl_run(main_task, NULL, &out);	v = asyncio.run(main())
 *
 * cl_run makes an event loop, runs main_task(arg) as its first task
 * until it is done, cancels the tasks it left behind and lets them
 * finish, frees the loop and returns main's return value. Inside, every
 * task can use the loop through cl_get_running_loop, cl_create_task,
 * cl_sleep, cl_await.
 *
 * Two things asyncio.run cannot do. With no I/O source and no timer, a
 * loop with nothing ready would wait forever: cl_run notices, prints
 * which tasks are stuck and on what, and returns -EDEADLK. And a loop
 * can run on a virtual clock, which jumps to the next timer instead of
 * waiting for it, so that tests of long sleeps take no time.
 *
 * Python: Lib/asyncio/runners.py (run, Runner.run, Runner.close,
 * _cancel_all_tasks).
 */
#ifndef CL_RUN_H
#define CL_RUN_H

#include <stdio.h>

#include "loop.h"

/* What cl_run returns when main raised: *out is the exception. */
#define CL_RUN_RAISED 1

struct cl_run_opts {
	enum cl_clock clock; /* CL_CLOCK_DEFAULT: COROLAB_CLOCK decides */
	const char *name;    /* the main task's name; NULL: "Task-1" */
	FILE *err;	     /* where reports go; NULL: stderr */
};

/*
 * asyncio.run(main(arg)). Returns
 *	0		main returned; *out is its return value;
 *	CL_RUN_RAISED	an exception came out: *out is it (a struct cl_exc *
 *			whose reference you own). It is main's exception,
 *			CancelledError if main was cancelled, or a
 *			RuntimeError "cl_run() cannot be called from a
 *			running event loop" when called inside a task, as
 *			asyncio.run raises it;
 *	-EDEADLK	nothing could run any more and main was not done
 *			(a report naming the waiting tasks went to err);
 *	other < 0	the run failed (-ENOMEM ...); *out is NULL.
 */
int cl_run(void *(*main_fn)(void *arg), void *arg, void **out);
int cl_run_with(void *(*main_fn)(void *arg), void *arg,
		const struct cl_run_opts *opts, void **out);

/*
 * asyncio.Runner: one loop for several top-level runs, then closed.
 *
 *	r = cl_runner_new(NULL);		with asyncio.Runner() as r:
 *	cl_runner_run(r, setup, NULL, &out);	    r.run(setup())
 *	cl_runner_run(r, serve, NULL, &out);	    r.run(serve())
 *	cl_runner_close(r);
 *
 * Each run makes main_fn(arg) a task and runs the loop until it is done,
 * returning what cl_run returns. Between runs the loop keeps everything:
 * tasks left running go on at the next run (only close cancels them),
 * and every run's main task runs in the same context, a copy of the one
 * current when the runner was made, so what one run sets the next one
 * sees. cl_runner_close cancels the tasks left and lets them finish,
 * closes the async generators left open, shuts the default pool of
 * threads down and frees the loop. A run from inside a running loop
 * raises RuntimeError "Runner.run() cannot be called from a running
 * event loop" (CL_RUN_RAISED), as asyncio does: loops do not nest.
 * Python: Lib/asyncio/runners.py (Runner).
 */
struct cl_runner;

/* NULL opts: the defaults. NULL and errno on failure. */
struct cl_runner *cl_runner_new(const struct cl_run_opts *opts);
int cl_runner_run(struct cl_runner *r, void *(*main_fn)(void *arg), void *arg,
		  void **out);
struct cl_loop *cl_runner_loop(struct cl_runner *r); /* r.get_loop() */
/* r.close(), and r is freed. NULL is fine. */
void cl_runner_close(struct cl_runner *r);

/* For runner.c: what run.c does around a run. */
void cl__run_report_deadlock(struct cl_loop *loop, const char *when);
void cl__run_describe(FILE *err, const struct cl_future *w);
int cl__run_cancel_leftovers(struct cl_loop *loop);
struct cl_future;
int cl__run_result(struct cl_future *f, int status, void **out);

#endif
