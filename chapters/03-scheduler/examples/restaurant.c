/*
 * restaurant.c - a dinner service: the program "make demo" traces.
 *
 * Three cooks prepare a table's dishes at once, each a task that sleeps
 * through its steps. A waiter waits for each dish's future in the order
 * the table ordered them and serves it when it is ready. The host (main)
 * gathers the cooks and the waiter and closes the evening.
 *
 * Every kind of wake-up of the chapter is here: timers wake the cooks, a
 * cook's finished dish (a future) wakes the waiter, finished tasks wake
 * the host through gather. Run it with COROLAB_TRACE=file to record a
 * trace, and draw it with "cotrace timeline file -o dinner.svg".
 *
 *	async def cook(dish):			    # roughly, in Python
 *	    for step, secs in dish.steps:
 *	        await asyncio.sleep(secs)
 *	    dish.ready.set_result(dish.name)
 */
#include <stdio.h>

#include "gather.h"
#include "run.h"
#include "task.h"

struct dish {
	const char *name;
	const char *steps[3]; /* what the cook does, one second... */
	double secs[3];	      /* ...or this many seconds each */
	struct cl_future *ready;
};

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

static void *cook(void *arg)
{
	struct dish *d = arg;

	for (int i = 0; i < 3 && d->steps[i] != NULL; i++) {
		printf("%4.1f s  %-6s %s\n", now(), d->name, d->steps[i]);
		cl_sleep(d->secs[i]);
	}
	printf("%4.1f s  %-6s ready\n", now(), d->name);
	cl_future_set_result(d->ready, (void *)d->name);
	return NULL;
}

static void *waiter(void *arg)
{
	struct dish *menu = arg;

	for (int i = 0; i < 3; i++) {
		const char *name = cl_await(menu[i].ready);
		printf("%4.1f s  waiter serves the %s\n", now(), name);
		cl_sleep(0.5); /* walking to the table and back */
	}
	return NULL;
}

static void *host(void *arg)
{
	struct dish *menu = arg;
	struct cl_task *t[4];
	struct cl_future *all;

	for (int i = 0; i < 3; i++) {
		menu[i].ready = cl_future_new(cl_get_running_loop());
		t[i] = cl_create_task(cook, &menu[i], menu[i].name);
	}
	t[3] = cl_create_task(waiter, menu, "waiter");
	all = cl_gather(4, (struct cl_future *[]){
				   cl_task_future(t[0]), cl_task_future(t[1]),
				   cl_task_future(t[2]), cl_task_future(t[3]) });
	cl_await(all);
	printf("%4.1f s  host: everyone served, closing\n", now());
	cl_future_decref(all);
	for (int i = 0; i < 4; i++)
		cl_task_decref(t[i]);
	for (int i = 0; i < 3; i++)
		cl_future_decref(menu[i].ready);
	return NULL;
}

int main(void)
{
	struct dish menu[3] = {
		{ "soup", { "chops leeks", "simmers" }, { 1, 3 }, NULL },
		{ "salad", { "washes leaves" }, { 1 }, NULL },
		{ "steak", { "seasons", "grills", "rests it" }, { 1, 2, 1 },
		  NULL },
	};
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL, .name = "host" };
	void *out;

	int err = cl_run_with(host, menu, &opts, &out);
	if (err != 0) {
		fprintf(stderr, "restaurant: cl_run failed (%d)\n", err);
		return 1;
	}
	return 0;
}
