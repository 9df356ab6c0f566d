/*
 * gather.c - start several jobs, collect their results in order.
 *
 * Three "downloads" take 3, 1 and 2 seconds. gather waits for all three
 * and returns their results in the order the jobs were given, not the
 * order they finished in. Then one job fails: the gather fails with its
 * exception as soon as it happens, while the others go on.
 *
 * The loop runs on the virtual clock: the clock jumps from one timer to
 * the next, so the program reports 3 s of (virtual) time and finishes at
 * once.
 *
 *	results = await asyncio.gather(a, b, c)
 */
#include <stdio.h>

#include "gather.h"
#include "run.h"
#include "task.h"

struct job {
	const char *name;
	double seconds;
	int fails;
};

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

static void *download(void *arg)
{
	struct job *j = arg;

	cl_sleep(j->seconds);
	if (j->fails) {
		printf("  %.0f s: %s fails\n", now(), j->name);
		cl_raise(cl_exc_new(&cl_OSError, "%s: connection reset",
				    j->name));
	}
	printf("  %.0f s: %s finished\n", now(), j->name);
	return (void *)j->name;
}

/* await t, ignoring how it ended: the gather has reported already. (A
 * function of its own: a CL_TRY inside a loop would need its counter
 * volatile, exc.h rule 2.) */
static void await_quietly(struct cl_task *t)
{
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* Run the three jobs under one gather; print what comes out. */
static void gather_three(struct job *jobs)
{
	struct cl_task *t[3];
	struct cl_future *g;
	void **r;

	for (int i = 0; i < 3; i++)
		t[i] = cl_create_task(download, &jobs[i], jobs[i].name);
	g = cl_gather(3, (struct cl_future *[]){ cl_task_future(t[0]),
						 cl_task_future(t[1]),
						 cl_task_future(t[2]) });
	CL_TRY {
		r = cl_await(g);
		printf("  %.0f s: results in argument order: %s %s %s\n",
		       now(), (char *)r[0], (char *)r[1], (char *)r[2]);
	} CL_CATCH(e) {
		printf("  %.0f s: gather raised %s: %s\n", now(),
		       cl_exc_name(e), cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	/* The others were not cancelled: wait for them too. */
	for (int i = 0; i < 3; i++) {
		await_quietly(t[i]);
		cl_task_decref(t[i]);
	}
	cl_future_decref(g);
}

static void *main_task(void *arg)
{
	static struct job ok[] = {
		{ "a.html", 3, 0 }, { "b.css", 1, 0 }, { "c.js", 2, 0 },
	};
	static struct job one_fails[] = {
		{ "a.html", 3, 0 }, { "b.css", 1, 1 }, { "c.js", 2, 0 },
	};
	double t0;

	(void)arg;
	printf("three downloads:\n");
	t0 = now();
	gather_three(ok);
	printf("took %.0f s of virtual time\n", now() - t0);
	printf("one of them fails:\n");
	gather_three(one_fails);
	return CL_INT(0);
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;
	int st = cl_run_with(main_task, NULL, &opts, &out);

	if (st != 0) {
		fprintf(stderr, "gather: cl_run returned %d\n", st);
		return 1;
	}
	return (int)CL_TOINT(out);
}
