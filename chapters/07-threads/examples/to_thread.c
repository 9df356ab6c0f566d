/*
 * to_thread.c - blocking calls on the pool's threads, and a limiter.
 *
 *	to_thread		three acts, about 50 ms in all
 *
 * A blocking call (a read of a slow disk, a library without an async
 * API, a CPU-heavy function) stops the loop for as long as it lasts:
 * every task waits. Here the blocking call is thumbnail(), 8 ms of
 * nanosleep, as a slow image library would take its time. A "ticker"
 * task wakes every 2 ms and notes how late it woke: the loop's health,
 * as a heartbeat.
 *
 *   1. on the loop: main calls thumbnail() itself. The ticker, due
 *      1 ms into the call, wakes some 7 ms late: the loop was stuck in
 *      the call;
 *   2. cl_to_thread: four tasks each run thumbnail() on the loop's
 *      default pool of threads. The loop stays free (the ticker is on
 *      time) and the four calls overlap: about 8 ms, not 32 (a little
 *      more on a busy machine: starting four threads takes time too);
 *   3. cl_limiter_to_thread with a limiter of 2: four calls again, at
 *      most two at a time (a database that takes two connections, a
 *      GPU with two slots). The other two wait at the limiter without
 *      holding a thread: about 16 ms.
 *
 *	async def resize(i):
 *	    return await asyncio.to_thread(thumbnail, i)	# act 2
 *	lim = asyncio.Semaphore(2)
 *	async def resize_limited(i):
 *	    async with lim:					# act 3
 *	        return await asyncio.to_thread(thumbnail, i)
 *
 * (cl_limiter_to_thread is anyio's CapacityLimiter: its unit is given
 * back when the call is over, even if the task was cancelled while the
 * thread ran. A semaphore around to_thread gives it back at once.)
 *
 * The loop runs on the real clock whatever COROLAB_CLOCK says: the
 * calls take real time on their threads, and a virtual clock would jump
 * over the ticker's sleeps while they run. So the times printed vary a
 * little from run to run; the shape does not.
 *
 * What to look at:
 *   - the output: each act's time, and how late the ticker woke;
 *   - the timeline (COROLAB_TRACE=to_thread.trace, then cotrace
 *     timeline to_thread.trace -o to_thread.svg; chapter 07's
 *     img/to_thread.svg). Under the event loop's lane, a lane per
 *     thread of the pool ("worker 1" ...) with a box per call, from
 *     when the thread began it to when it ended (the trace's
 *     "thread.run fut=N worker=K begin=US end=US"). A grey arrow goes
 *     from the task that handed the call over ("thread.submit fut=N")
 *     down to the worker, a red one from the worker up to the task its
 *     result woke. In act 1 nothing runs for 8 ms: the ticker's lane
 *     has a hole. In act 2 four boxes overlap while the ticker's steps
 *     go on above them; in act 3 never more than two, and the tasks
 *     held back wait on "limiter:1". (The tracer stamps a step's
 *     events with the time the step began, so the 8 ms main spends in
 *     thumbnail() in act 1 show as a gap after its step, not as a wide
 *     step, and the axis calls that gap idle; the ticker's timer
 *     firing 7 ms after its time gives the stall away.)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

#include "gather.h"
#include "run.h"
#include "task.h"
#include "threads.h"

#define CALL_MS 8 /* one thumbnail */
#define TICK_MS 2 /* the ticker's period */

static struct cl_limiter lim;
static int stop_ticker;

/* The blocking call: on whatever thread calls it, CALL_MS of nothing. */
static void *thumbnail(void *arg)
{
	struct timespec ts = { 0, CALL_MS * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
	return arg;
}

static double now_ms(void)
{
	return cl_loop_time(cl_get_running_loop()) * 1000;
}

/* The heartbeat: sleep TICK_MS, say how late the wake-up came. */
static void *ticker(void *arg)
{
	double worst = 0;

	(void)arg;
	while (!stop_ticker) {
		double t0 = now_ms(), late;

		cl_sleep(TICK_MS / 1000.0);
		late = now_ms() - t0 - TICK_MS;
		worst = late > worst ? late : worst;
	}
	return CL_INT((intptr_t)(worst + 0.5));
}

static void *resize(void *arg)
{
	return cl_to_thread(thumbnail, arg);
}

static void *resize_limited(void *arg)
{
	return cl_limiter_to_thread(&lim, thumbnail, arg);
}

/* Four tasks running fn, awaited together. */
static void four(void *(*fn)(void *), const char *name)
{
	struct cl_future *t[4], *all;
	char label[32];

	for (int i = 0; i < 4; i++) {
		snprintf(label, sizeof label, "%s-%d", name, i + 1);
		t[i] = cl_task_future(cl_create_task(fn, CL_INT(i + 1), label));
	}
	all = cl_gather(4, t);
	cl_await(all);
	cl_future_decref(all);
	for (int i = 0; i < 4; i++)
		cl_future_decref(t[i]);
}

/* One act: the ticker runs while body does its calls. */
static void act(const char *title, void (*body)(void))
{
	struct cl_task *tick;
	intptr_t worst;
	double t0;

	stop_ticker = 0;
	tick = cl_create_task(ticker, NULL, "ticker");
	cl_sleep(TICK_MS / 1000.0 / 2); /* let the ticker start */
	t0 = now_ms();
	body();
	stop_ticker = 1;
	worst = CL_TOINT(cl_await_task(tick));
	cl_task_decref(tick);
	printf("%-34s %3.0f ms, the ticker up to %2ld ms late\n", title,
	       now_ms() - t0, (long)worst);
}

static void on_the_loop(void)
{
	thumbnail(NULL); /* the mistake: the loop stops for CALL_MS */
}

static void on_threads(void)
{
	four(resize, "resize");
}

static void limited(void)
{
	four(resize_limited, "limited");
}

static void *main_task(void *arg)
{
	(void)arg;
	act("1. one call on the loop:", on_the_loop);
	act("2. four calls, cl_to_thread:", on_threads);
	act("3. four calls, a limiter of 2:", limited);
	return NULL;
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL, .name = "main" };
	void *out;
	int st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("each call blocks %d ms; the ticker wakes every %d ms\n",
	       CALL_MS, TICK_MS);
	cl_limiter_init(&lim, 2);
	st = cl_run_with(main_task, NULL, &opts, &out);
	cl_limiter_destroy(&lim);
	if (st != 0) {
		fprintf(stderr, "to_thread: cl_run returned %d\n", st);
		if (st == CL_RUN_RAISED) {
			cl_exc_print(out, stderr);
			cl_exc_decref(out);
		}
		return 1;
	}
	return 0;
}
