/*
 * deadlock.c - when nothing can ever run again, cl_run says so.
 *
 * main waits for a worker, the worker waits for a future that nobody
 * will ever complete. Nothing is ready, no timer is pending, and chapter
 * 03's loop has no I/O to wait for: asyncio would wait forever. cl_run
 * notices, prints which tasks are stuck and on what (the report goes to
 * stdout here, stderr by default), cancels them so their cleanup runs,
 * and returns -EDEADLK.
 */
#include <errno.h>
#include <stdio.h>

#include "run.h"
#include "task.h"

static struct cl_future *never;

static void *worker(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_await(never);
	} CL_CATCH(e) {
		printf("worker: cleaning up after %s\n", cl_exc_name(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static struct cl_task *w;

static void *main_task(void *arg)
{
	(void)arg;
	never = cl_future_new(NULL);
	w = cl_create_task(worker, NULL, "worker");
	if (never == NULL || w == NULL)
		return CL_INT(1);
	cl_await_task(w);
	return CL_INT(0);
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL, .name = "main",
				    .err = stdout };
	void *out;
	int st = cl_run_with(main_task, NULL, &opts, &out);

	cl_task_decref(w);
	cl_future_decref(never);
	if (st != -EDEADLK) {
		fprintf(stderr, "deadlock: cl_run returned %d, expected "
				"-EDEADLK\n", st);
		return 1;
	}
	printf("cl_run returned -EDEADLK\n");
	return 0;
}
