/*
 * run.c - cl_run: make a loop, run main to its end, clean up.
 *
 * asyncio.run (runners.py) in three acts: run the main task until it is
 * done; cancel every task it left pending and run the loop until they
 * have all finished (_cancel_all_tasks); close the loop. We add a fourth
 * thing, libtask's lesson: when nothing is ready, no timer is pending
 * and main is not done, no iteration will ever change that. asyncio
 * would wait forever; we say which tasks are stuck, and on what.
 */
#include <errno.h>
#include <stdlib.h>

#include "agen.h"
#include "run.h"
#include "task.h"
#include "dump.h"
#include "trace.h"
#include "watchdog.h"

/* What a stuck task waits on, in words, for the report (and chapter
 * 09's dump). */
void cl__run_describe(FILE *err, const struct cl_future *w)
{
	if (w == NULL) {
		fprintf(err, "nothing (its next step was never queued)");
		return;
	}
	switch (w->what) {
	case CL_WHAT_TASK:
		fprintf(err, "fut:%lu (task:%lu '%s')", w->id, w->what_id,
			cl_task_name((const struct cl_task *)w));
		break;
	case CL_WHAT_SLEEP:
		fprintf(err, "timer:%lu (sleep)", w->what_id);
		break;
	case CL_WHAT_GATHER:
		fprintf(err, "fut:%lu (gather)", w->id);
		break;
	case CL_WHAT_FD_IN:
	case CL_WHAT_FD_OUT:
		fprintf(err, "fd:%lu:%s", w->what_id,
			w->what == CL_WHAT_FD_IN ? "IN" : "OUT");
		break;
	case CL_WHAT_SYNC:
		fprintf(err, "%s:%lu", cl__sync_kind_str(w->what_id),
			CL_SYNC_NUM(w->what_id));
		break;
	case CL_WHAT_FUTURE:
		fprintf(err, "fut:%lu", w->id);
		break;
	}
}

/*
 * The loop ran dry with tasks pending: report who waits on what, the
 * way libtask's "no runnable tasks!" does, rather than wait forever.
 */
void cl__run_report_deadlock(struct cl_loop *loop, const char *when)
{
	FILE *err = loop->err;

	fprintf(err, "corolab: no runnable tasks%s: %zu task%s waiting, "
		     "nothing ready, no timers\n",
		when, loop->ntasks, loop->ntasks == 1 ? "" : "s");
	for (struct cl_task *t = loop->tasks_head; t != NULL; t = t->next) {
		fprintf(err, "  task:%lu '%s' waits on ", t->id, t->name);
		cl__run_describe(err, t->fut_waiter);
		fputc('\n', err);
	}
	cl_deadlock_report(loop, err); /* the cycles among them, if any */
	fflush(err);
}

/* Counts the cancelled tasks down to 0, then completes all. */
struct cl__leftovers {
	size_t left;
	struct cl_future *all;
};

static void cl__run_leftover_done(struct cl_future *f, void *arg)
{
	struct cl__leftovers *lo = arg;

	(void)f;
	if (--lo->left == 0)
		cl_future_set_result(lo->all, NULL);
}

/*
 * _cancel_all_tasks: cancel every task still pending and run the loop
 * until all of them are done, so that their cleanup runs. An exception
 * other than CancelledError that one of them ends with is reported (no
 * one is left to retrieve it). Returns 0 or what the run returned.
 */
int cl__run_cancel_leftovers(struct cl_loop *loop)
{
	struct cl__leftovers lo = { 0 };
	size_t n = loop->ntasks;
	struct cl_task **v;
	int err = 0;

	if (n == 0)
		return 0;
	v = calloc(n, sizeof *v);
	lo.all = cl_future_new(loop);
	if (v == NULL || lo.all == NULL) {
		free(v);
		cl_future_decref(lo.all);
		return -ENOMEM;
	}
	cl_all_tasks(loop, v, n);
	for (size_t i = 0; i < n; i++) {
		cl_task_incref(v[i]);
		cl_task_cancel(v[i]);
		if (cl_future_add_done_callback(cl_task_future(v[i]),
						cl__run_leftover_done,
						&lo) == 0)
			lo.left++;
	}
	if (lo.left > 0) {
		err = cl_loop_run_until_complete(loop, lo.all);
		if (err == -EDEADLK)
			cl__run_report_deadlock(loop, " while cancelling");
	}
	for (size_t i = 0; i < n; i++) {
		struct cl_future *f = cl_task_future(v[i]);

		/* Registrations still there point at lo, on our stack. */
		cl_future_remove_done_callback(f, cl__run_leftover_done, &lo);
		if (cl_future_done(f) && !cl_future_cancelled(f) &&
		    f->exc != NULL)
			fprintf(loop->err,
				"corolab: unhandled exception during cl_run() "
				"shutdown: task '%s': %s: %s\n",
				v[i]->name, cl_exc_name(f->exc),
				cl_exc_message(f->exc));
		cl_task_decref(v[i]);
	}
	free(v);
	cl_future_decref(lo.all);
	return err;
}

int cl__run_result(struct cl_future *f, int status, void **out)
{
	if (status != 0)
		return status;
	if (cl_future_cancelled(f)) {
		*out = cl__future_cancelled_error(f);
		return CL_RUN_RAISED;
	}
	if (f->exc != NULL) {
		/* run_until_complete's future.result(): retrieved */
		f->log_tb = 0;
		*out = cl_exc_incref(f->exc);
		return CL_RUN_RAISED;
	}
	*out = f->result;
	return 0;
}

/* COROLAB_WATCHDOG=ms: a watchdog on the loop (chapter 09). */
static void cl__run_watchdog_from_env(struct cl_loop *loop)
{
	const char *s = getenv("COROLAB_WATCHDOG");
	char *end;
	unsigned long ms;

	if (s == NULL || *s == '\0')
		return;
	ms = strtoul(s, &end, 10);
	if (*end != '\0' || ms == 0 || ms > 3600000) {
		fprintf(loop->err, "corolab: COROLAB_WATCHDOG=%s: expected "
				   "a limit in milliseconds\n", s);
		return;
	}
	cl_watchdog_start(loop, (unsigned)ms);
}

int cl_run_with(void *(*main_fn)(void *arg), void *arg,
		const struct cl_run_opts *opts, void **out)
{
	static const struct cl_run_opts defaults;
	struct cl_loop *loop;
	struct cl_task *main_task;
	int status;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (cl_get_running_loop() != NULL) {
		*out = cl_exc_new(&cl_RuntimeError,
				  "cl_run() cannot be called from a running "
				  "event loop");
		return CL_RUN_RAISED;
	}
	loop = cl_loop_new(opts->clock);
	if (loop == NULL)
		return -errno;
	if (opts->err != NULL)
		loop->err = opts->err;
	cl__run_watchdog_from_env(loop);
	cl__trace_loop_start(loop->virtual_clock);
	cl__trace_clock(cl_loop_time_us(loop), 0);

	/* Act 1: main, to its end (or until nothing can run). */
	main_task = cl_loop_create_task(loop, main_fn, arg, opts->name);
	if (main_task == NULL) {
		status = -errno;
		goto out;
	}
	status = cl_loop_run_until_complete(loop, cl_task_future(main_task));
	if (status == -EDEADLK)
		cl__run_report_deadlock(loop, "");

	/* Act 2: what main left behind is cancelled and finishes. */
	cl__run_cancel_leftovers(loop);
	/* Only tasks that ignored their cancellation and then got stuck
	 * can be left: close them. */
	cl__task_abandon_all(loop);
	/* loop.shutdown_asyncgens(): the async generators left open are
	 * closed (agen.h). */
	cl_loop_shutdown_asyncgens(loop);

	status = cl__run_result(cl_task_future(main_task), status, out);
	cl_task_decref(main_task);
out:
	/* Act 3: close the loop. */
	cl__trace_loop_end();
	cl_loop_free(loop);
	return status;
}

int cl_run(void *(*main_fn)(void *arg), void *arg, void **out)
{
	return cl_run_with(main_fn, arg, NULL, out);
}
