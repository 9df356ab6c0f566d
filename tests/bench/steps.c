/*
 * steps.c - a fixed number of task steps, for counting, not timing.
 *
 *	steps TASKS K
 *
 * TASKS tasks each await cl_sleep(0) K times, in one cl_run, as
 * sched.c's sched_step2 and sched_step1000 do. steps.sh runs it under
 * callgrind twice, with K and 2K: the difference of the two runs is
 * K * TASKS steps and nothing else (no start, no end), which it divides
 * into instructions and cache misses per step, function by function.
 */
#include <stdio.h>
#include <stdlib.h>

#include "run.h"
#include "task.h"

#define MAX_TASKS 10000

static long k;

static void *stepper(void *arg)
{
	(void)arg;
	for (long i = 0; i < k; i++)
		cl_sleep(0);
	return NULL;
}

static void *steps_main(void *arg)
{
	static struct cl_task *t[MAX_TASKS];
	int n = *(int *)arg;

	for (int i = 0; i < n; i++)
		if ((t[i] = cl_create_task(stepper, NULL, NULL)) == NULL)
			return NULL;
	for (int i = 0; i < n; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc == 3 ? atoi(argv[1]) : 0;
	void *out;

	k = argc == 3 ? atol(argv[2]) : 0;
	if (n < 1 || n > MAX_TASKS || k < 1) {
		fprintf(stderr, "usage: steps TASKS(1-%d) K\n", MAX_TASKS);
		return 2;
	}
	return cl_run(steps_main, &n, &out) == 0 ? 0 : 1;
}
