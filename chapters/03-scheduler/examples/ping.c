/*
 * ping.c - sleep(0) hands the loop over for exactly one iteration.
 *
 * Two tasks take turns: each prints a line and calls cl_sleep(0), which
 * puts it at the back of the ready queue. An iteration runs what was
 * ready when it began, so every iteration runs one step of ping, then
 * one step of pong, and what they queue waits for the next iteration.
 *
 *	async def player(name):
 *	    for i in range(3):
 *	        print(name, i)
 *	        await asyncio.sleep(0)
 */
#include <stdio.h>

#include "run.h"
#include "task.h"

static void *player(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	for (int i = 0; i < 3; i++) {
		printf("iteration %llu: %s %d\n",
		       (unsigned long long)cl_loop_iteration(loop),
		       (const char *)arg, i);
		cl_sleep(0);
	}
	return NULL;
}

static void *main_task(void *arg)
{
	struct cl_task *ping = cl_create_task(player, "ping", "ping");
	struct cl_task *pong = cl_create_task(player, "pong", "pong");

	(void)arg;
	if (ping == NULL || pong == NULL)
		return CL_INT(1);
	/* Nothing has run yet: creating a task only queues its first step. */
	printf("iteration %llu: main created ping and pong\n",
	       (unsigned long long)cl_loop_iteration(cl_get_running_loop()));
	cl_await_task(ping);
	cl_await_task(pong);
	cl_task_decref(ping);
	cl_task_decref(pong);
	return CL_INT(0);
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;
	int st = cl_run_with(main_task, NULL, &opts, &out);

	if (st != 0) {
		fprintf(stderr, "ping: cl_run returned %d\n", st);
		return 1;
	}
	return (int)CL_TOINT(out);
}
