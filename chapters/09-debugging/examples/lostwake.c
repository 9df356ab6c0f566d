/*
 * lostwake.c - planted bug 2: a lost wake-up, found with a task dump.
 *
 *	lostwake		the bug: the second job is never done
 *	lostwake fixed		the cure: clear the event before the work
 *
 * A worker task does the jobs a dispatcher hands it. The dispatcher puts
 * a job in the list and sets an Event; the worker waits on the event,
 * does the job, and clears the event:
 *
 *	async def worker():
 *	    while True:
 *	        await ready.wait()
 *	        await do(jobs.pop(0))
 *	        ready.clear()			# the bug: too late
 *
 * The second job arrives while the worker is busy with the first (it
 * awaits, so the dispatcher runs): the dispatcher sets an event that is
 * set already, the worker finishes the first job, and its clear() wipes
 * the wake-up meant for the second. The worker then waits on an event
 * nobody will set, with a job in the list. Nothing crashes and nothing
 * is deadlocked in cl_run's sense: a heartbeat keeps the program alive,
 * as the other clients of a server would.
 *
 * The task dump shows it. SIGQUIT (kill -QUIT, or Ctrl-\ in a terminal)
 * makes the loop print every task: the worker "waiting 0.950 s on
 * event:1", in worker() at the wait, while the program's own count says
 * one job is pending. Here the program sends itself the signal once the
 * heartbeat has beaten ten times, then stops.
 *
 * The cure: clear the event first, then do every job in the list (a set
 * that comes during the work then stays set), which is how asyncio.Queue's
 * get() is written: it looks at its deque before it waits.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "locks.h"
#include "run.h"
#include "task.h"
#include "value.h"

static int fixed;
static struct cl_event ready;
static int jobs;      /* jobs in the list */
static int done_jobs; /* jobs the worker did */

static void do_job(void)
{
	cl_sleep(0.05); /* the job's own await: the dispatcher runs */
	done_jobs++;
	printf("worker: job %d done\n", done_jobs);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		cl_event_wait(&ready);
		if (fixed) {
			cl_event_clear(&ready);
			while (jobs > 0) {
				jobs--;
				do_job();
			}
			continue;
		}
		jobs--;
		do_job();
		cl_event_clear(&ready); /* the bug: after the work */
	}
	return NULL;
}

static void *dispatcher(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		jobs++;
		cl_event_set(&ready);
		printf("dispatcher: job %d handed over\n", i + 1);
		cl_sleep(0.02);
	}
	return NULL;
}

static void *main_task(void *arg)
{
	struct cl_task *w, *d;

	(void)arg;
	cl_dump_on_signal(SIGQUIT);
	w = cl_create_task(worker, NULL, "worker");
	d = cl_create_task(dispatcher, NULL, "dispatcher");
	for (int beat = 0; beat < 10; beat++) /* the heartbeat */
		cl_sleep(0.1);
	printf("pending jobs: %d, done: %d\n", jobs, done_jobs);
	fflush(stdout);
	if (jobs > 0) {
		raise(SIGQUIT); /* the dump comes at the next iteration */
		cl_sleep(0);
	}
	cl_task_cancel(w);
	cl_task_decref(w);
	cl_task_decref(d);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	fixed = argc > 1 && strcmp(argv[1], "fixed") == 0;
	cl_event_init(&ready);
	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
