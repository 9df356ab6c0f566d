/*
 * blocking.c - planted bug 1: a blocking call inside a task.
 *
 *	blocking		the bug, caught by the watchdog and debug mode
 *	blocking fixed		the cure: the blocking call on a thread
 *
 * A heartbeat task prints a tick every 50 ms: it stands for every other
 * client of a server. A second task loads its settings with
 * load_settings(), which reads a slow disk: usleep(300 ms) stands for
 * the read. usleep is a plain blocking call, not an await, so for 300 ms
 * the loop runs nothing else: no tick, no client served.
 *
 *	async def load(path):
 *	    await asyncio.sleep(0.01)
 *	    settings = load_settings(path)	# blocks the loop
 *	    # the cure: await asyncio.to_thread(load_settings, path)
 *
 * The watchdog (watchdog.h) runs on a thread of its own with a 100 ms
 * limit. When the loop has not come round for that long, it signals the
 * loop's thread and prints where it is stuck, while it is stuck: the task
 * (task:3 'loader'), the await it resumed from, and the frames, in which
 * load_settings and loader stand out. Debug mode (debug.h) adds, once
 * the step is over, how long it took and between which two awaits.
 *
 * What to look at: the gap in the ticks, the watchdog's report in the
 * middle of it, debug mode's "slow step" after it. Then `blocking fixed`:
 * the read goes to a thread (cl_to_thread, chapter 07) and the ticks go
 * on every 50 ms.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "debug.h"
#include "run.h"
#include "task.h"
#include "threads.h"
#include "value.h"
#include "watchdog.h"

static int fixed;

/*
 * A slow read of a settings file: 300 ms of a blocking call. The
 * watchdog's signal interrupts a sleep (EINTR, whatever SA_RESTART
 * says), so the sleep goes on for what is left, as careful code does;
 * a read(2) of a file or a socket would be restarted by the kernel.
 * The noinline keeps it a frame of its own in the backtrace.
 */
static __attribute__((noinline)) void *load_settings(void *path)
{
	struct timespec left = { 0, 300 * 1000 * 1000 };

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	return path;
}

static void *loader(void *arg)
{
	cl_sleep(0.01);
	if (fixed)
		cl_to_thread(load_settings, arg);
	else
		load_settings(arg); /* the bug: blocks the loop */
	printf("loader: settings loaded\n");
	fflush(stdout);
	return NULL;
}

static void *heartbeat(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 8; i++) {
		cl_sleep(0.05);
		printf("tick %d at %.2f s\n", i,
		       cl_loop_time(cl_get_running_loop()));
		fflush(stdout);
	}
	return NULL;
}

static void *main_task(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_task *h, *l;

	(void)arg;
	cl_loop_set_debug(loop, 1);
	cl_watchdog_start(loop, 100);
	h = cl_create_task(heartbeat, NULL, "heartbeat");
	l = cl_create_task(loader, "settings.ini", "loader");
	cl_await_task(h);
	cl_await_task(l);
	cl_task_decref(h);
	cl_task_decref(l);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	void *out;

	fixed = argc > 1 && strcmp(argv[1], "fixed") == 0;
	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
