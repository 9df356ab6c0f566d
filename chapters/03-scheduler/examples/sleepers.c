/*
 * sleepers.c - three tasks sleep at the same time, and wake in order.
 *
 * Each task sleeps for its own time. They sleep concurrently: the whole
 * program takes as long as the longest sleep, not the sum, and they wake
 * in the order of their deadlines whatever the order they started in.
 * This runs on the real clock, so it takes 0.3 s.
 *
 *	async def sleeper(name, seconds):
 *	    await asyncio.sleep(seconds)
 *	    print(name, "woke at", loop.time() - t0)
 */
#include <stdio.h>

#include "run.h"
#include "task.h"

struct nap {
	const char *name;
	double seconds;
};

static void *sleeper(void *arg)
{
	struct nap *n = arg;

	printf("%-6s goes to sleep for %.1f s\n", n->name, n->seconds);
	cl_sleep(n->seconds);
	printf("%-6s woke at %.1f s\n", n->name,
	       cl_loop_time(cl_get_running_loop()));
	return NULL;
}

static void *main_task(void *arg)
{
	static struct nap naps[] = {
		{ "slow", 0.3 }, { "quick", 0.1 }, { "medium", 0.2 },
	};
	struct cl_task *t[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		t[i] = cl_create_task(sleeper, &naps[i], naps[i].name);
	for (int i = 0; i < 3; i++) {
		if (t[i] == NULL)
			return CL_INT(1);
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	printf("all awake at %.1f s: 0.6 s of sleep took 0.3 s\n",
	       cl_loop_time(cl_get_running_loop()));
	return CL_INT(0);
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	void *out;
	int st = cl_run_with(main_task, NULL, &opts, &out);

	if (st != 0) {
		fprintf(stderr, "sleepers: cl_run returned %d\n", st);
		return 1;
	}
	return (int)CL_TOINT(out);
}
