/*
 * runner.c - asyncio.Runner: several top-level runs on one loop (run.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "agen.h"
#include "ctxvar.h"
#include "run.h"
#include "task.h"
#include "trace.h"

struct cl_runner {
	struct cl_loop *loop;
	struct cl_context *ctx; /* every run's main task runs in it */
};

struct cl_runner *cl_runner_new(const struct cl_run_opts *opts)
{
	struct cl_runner *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	r->loop = cl_loop_new(opts != NULL ? opts->clock : CL_CLOCK_DEFAULT);
	r->ctx = cl_copy_context();
	if (r->loop == NULL || r->ctx == NULL) {
		cl_loop_free(r->loop);
		cl_context_decref(r->ctx);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	if (opts != NULL && opts->err != NULL)
		r->loop->err = opts->err;
	return r;
}

struct cl_loop *cl_runner_loop(struct cl_runner *r)
{
	return r->loop;
}

int cl_runner_run(struct cl_runner *r, void *(*main_fn)(void *arg), void *arg,
		  void **out)
{
	struct cl_task *t;
	int status;

	*out = NULL;
	if (cl_get_running_loop() != NULL) {
		*out = cl_exc_new(&cl_RuntimeError,
				  "Runner.run() cannot be called from a "
				  "running event loop");
		return CL_RUN_RAISED;
	}
	cl__trace_loop_start(r->loop->virtual_clock);
	cl__trace_clock(cl_loop_time_us(r->loop), cl_loop_iteration(r->loop));
	t = cl_loop_create_task_ctx(r->loop, main_fn, arg, NULL, r->ctx);
	if (t == NULL) {
		status = -errno;
		cl__trace_loop_end();
		return status;
	}
	status = cl_loop_run_until_complete(r->loop, cl_task_future(t));
	if (status == -EDEADLK)
		cl__run_report_deadlock(r->loop, "");
	status = cl__run_result(cl_task_future(t), status, out);
	cl_task_decref(t);
	cl__trace_loop_end();
	return status;
}

void cl_runner_close(struct cl_runner *r)
{
	if (r == NULL)
		return;
	/* Inside a running loop (a misuse asyncio refuses) nothing can
	 * run: the runner's tasks are dropped with its loop. */
	if (cl_get_running_loop() == NULL) {
		cl__trace_loop_start(r->loop->virtual_clock);
		cl__run_cancel_leftovers(r->loop);
		cl__task_abandon_all(r->loop);
		cl_loop_shutdown_asyncgens(r->loop);
		cl__trace_loop_end();
	}
	cl_loop_free(r->loop); /* shuts the default pool down */
	cl_context_decref(r->ctx);
	free(r);
}
