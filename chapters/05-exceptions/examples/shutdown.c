/*
 * shutdown.c - a graceful shutdown: cancel everything, wait for the
 * cleanups.
 *
 * Three workers serve requests forever. At 1 s the program is told to
 * stop: it cancels every task but itself, then waits for all of them
 * with gather(return_exceptions=True), so that one worker's failure
 * cannot hide another's. Each worker's cleanup awaits (it flushes what
 * it holds, which takes time), and one of them fails while cleaning up:
 * the shutdown reports it and still waits for the rest.
 *
 *	tasks = [t for t in asyncio.all_tasks() if t is not current_task()]
 *	for t in tasks:
 *	    t.cancel("shutdown")
 *	results = await asyncio.gather(*tasks, return_exceptions=True)
 *
 * The loop runs on the virtual clock: the program finishes at once.
 */
#include <stdio.h>

#include "gather.h"
#include "run.h"
#include "task.h"

struct worker {
	const char *name;
	double every;	/* a request takes this long */
	double flush;	/* the cleanup takes this long */
	int fails;	/* the cleanup raises */
};

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

/* The cleanup: runs with the CancelledError being handled, may await. */
static void cleanup(const struct worker *w)
{
	printf("  %.1f s: %s cleaning up\n", now(), w->name);
	cl_sleep(w->flush);
	if (w->fails)
		cl_raise(cl_exc_new(&cl_OSError, "%s: flush failed",
				    w->name));
	printf("  %.1f s: %s clean\n", now(), w->name);
}

/*
 * The cleanup, then e raised again: "finally: cleanup()". e is this
 * function's reference (exc.h, rule 3), so an exception that escapes
 * the cleanup must drop it on its way: Python's reference counting does
 * that by itself, C's catch block has to say it. The new exception
 * keeps e anyway, as its __context__.
 */
static void cleanup_then_raise(const struct worker *w, struct cl_exc *e)
{
	CL_TRY {
		cleanup(w);
	} CL_CATCH(failed) {
		cl_exc_decref(e);
		cl_raise(failed);
	} CL_END_TRY;
	cl_raise(e);
}

static void *worker(void *arg)
{
	const struct worker *w = arg;
	volatile int served = 0; /* changed in the CL_TRY, read in the
				    catch: exc.h, rule 2 */

	CL_TRY {
		for (;;) {
			cl_sleep(w->every);
			served++;
		}
	} CL_CATCH(e) {
		printf("  %.1f s: %s cancelled (%s) after %d requests\n",
		       now(), w->name, cl_exc_message(e), served);
		cleanup_then_raise(w, e);
	} CL_END_TRY;
	return NULL;
}

static const struct worker workers[] = {
	{ "w1", 0.3, 0.2, 0 },
	{ "w2", 0.4, 0.5, 1 },
	{ "w3", 0.25, 0.1, 0 },
};
#define NWORKERS (sizeof workers / sizeof workers[0])

static void *main_task(void *arg)
{
	struct cl_task *t[NWORKERS];
	struct cl_future *kids[NWORKERS], *all;

	(void)arg;
	for (size_t i = 0; i < NWORKERS; i++) {
		t[i] = cl_create_task(worker, (void *)&workers[i],
				      workers[i].name);
		kids[i] = cl_task_future(t[i]);
	}
	cl_sleep(1);
	printf("%.1f s: shutting down\n", now());
	for (size_t i = 0; i < NWORKERS; i++)
		cl_task_cancel_msg(t[i], "shutdown");
	all = cl_gather_ex(NWORKERS, kids, 1);
	cl_await(all);
	printf("%.1f s: every task has finished\n", now());
	for (size_t i = 0; i < NWORKERS; i++) {
		struct cl_exc *e = cl_gather_exception(all, i);

		if (e != NULL && !cl_exc_matches(e, &cl_CancelledError)) {
			printf("%s failed in its cleanup:\n", workers[i].name);
			cl_exc_print(e, stdout);
		} else {
			printf("%s: %s\n", workers[i].name,
			       e ? "cancelled" : "finished");
		}
		cl_task_decref(t[i]);
	}
	cl_future_decref(all);
	return NULL;
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
