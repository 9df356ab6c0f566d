/*
 * exc.c - what chapter 05's machinery costs: a raise, a cancellation, a
 * TaskGroup.
 *
 *	exc [-r reps] [-t ms] [-c tasks] [-g children]
 *
 * Three figures, each the best of reps repetitions, each with its peer in
 * exc.py (CPython's asyncio, the same programs):
 *
 *	raise_catch	a ValueError raised by a function and caught by its
 *			caller, inside a task: the exception, its traceback
 *			entry, the longjmp and the catch block (Python:
 *			"try: await thrower() except ValueError: pass");
 *	cancel_reap	per task, cancelling c tasks (10,000) that sleep and
 *			awaiting each until it has finished cancelling;
 *	taskgroup	per child, a TaskGroup of g children (1,000), each
 *			of which sleeps once (sleep(0)): create, run, exit.
 *
 * Output: "<kind> corolab <ns>" lines, as run.sh reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "exc.h"
#include "run.h"
#include "task.h"
#include "taskgroup.h"

static long nraise;
static long ncancel = 10000;
static long nchildren = 1000;
static double elapsed; /* ns, measured inside the run */

static __attribute__((noinline)) void thrower(void)
{
	cl_raise(cl_exc_new(&cl_ValueError, NULL));
}

/* One raise and its catch; a function of its own, so that the loop's
 * counter is not a local of the function holding the CL_TRY (exc.h,
 * rule 2). */
static __attribute__((noinline)) void catch_one(void)
{
	CL_TRY {
		thrower();
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
}

static void *raise_main(void *arg)
{
	double t0 = now_ns();

	(void)arg;
	for (long i = 0; i < nraise; i++)
		catch_one();
	elapsed = now_ns() - t0;
	return NULL;
}

static void run_raise(long n)
{
	void *out;

	nraise = n;
	cl_run(raise_main, NULL, &out);
}

static void *sleeper(void *arg)
{
	(void)arg;
	cl_sleep(1000);
	return NULL;
}

static void reap(struct cl_task *t)
{
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
}

static void *cancel_main(void *arg)
{
	struct cl_task **t = malloc(ncancel * sizeof *t);
	double t0;

	(void)arg;
	for (long i = 0; i < ncancel; i++)
		t[i] = cl_create_task(sleeper, NULL, NULL);
	cl_sleep(0); /* every task starts, and sleeps */
	t0 = now_ns();
	for (long i = 0; i < ncancel; i++)
		cl_task_cancel(t[i]);
	for (long i = 0; i < ncancel; i++)
		reap(t[i]);
	elapsed = now_ns() - t0;
	free(t);
	return NULL;
}

static void *child(void *arg)
{
	cl_sleep(0);
	return arg;
}

static void body(struct cl_taskgroup *tg, void *arg)
{
	(void)arg;
	for (long i = 0; i < nchildren; i++)
		cl_taskgroup_create_task(tg, child, NULL, NULL);
}

static void *group_main(void *arg)
{
	double t0 = now_ns();

	(void)arg;
	cl_taskgroup_run(body, NULL);
	elapsed = now_ns() - t0;
	return NULL;
}

/* Best of reps runs of main, in ns per unit. */
static double best_of(int reps, void *(*main_fn)(void *), long units)
{
	double best = 1e300;
	void *out;

	for (int r = 0; r < reps; r++) {
		if (cl_run(main_fn, NULL, &out) != 0) {
			fprintf(stderr, "exc: a run failed\n");
			exit(1);
		}
		if (elapsed / units < best)
			best = elapsed / units;
	}
	return best;
}

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200, best = 1e300;
	long n;

	while ((opt = getopt(argc, argv, "r:t:c:g:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'c':
			ncancel = atol(optarg);
			break;
		case 'g':
			nchildren = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: exc [-r reps] [-t ms] "
					"[-c tasks] [-g children]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	unsetenv("COROLAB_TRACE");

	n = bench_calibrate(run_raise, target_ms * 1e6);
	for (int r = 0; r < reps; r++) {
		run_raise(n);
		if (elapsed / n < best)
			best = elapsed / n;
	}
	printf("raise_catch corolab %.2f\n", best);
	printf("cancel_reap corolab %.2f\n",
	       best_of(reps, cancel_main, ncancel));
	printf("taskgroup corolab %.2f\n",
	       best_of(reps, group_main, nchildren));
	return 0;
}
