/*
 * timeout.c - a request with a deadline.
 *
 * A client sends requests to a slow server and gives each 2 seconds.
 * The first answer comes in 0.5 s. The second would take 5 s: at 2 s
 * the deadline cancels the request (its cleanup runs: it closes the
 * connection) and the timeout block turns that cancellation into
 * TimeoutError. The same request again with wait_for, the older API,
 * ends the same way; and a deadline moved later (reschedule) lets a
 * slow answer through.
 *
 *	try:
 *	    async with asyncio.timeout(2):
 *	        answer = await request(...)
 *	except TimeoutError:
 *	    ...
 *
 * The loop runs on the virtual clock: the program finishes at once.
 */
#include <stdio.h>

#include "run.h"
#include "task.h"
#include "timeouts.h"

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

/* A request to a server that takes *arg seconds to answer. */
static void *request(void *arg)
{
	double seconds = *(double *)arg;

	CL_TRY {
		cl_sleep(seconds);
	} CL_CATCH(e) {
		printf("  %.1f s: request cancelled, connection closed\n",
		       now());
		cl_raise(e);
	} CL_END_TRY;
	return "200 OK";
}

/* async with timeout(limit): answer = await request(seconds). A static
 * timeout: the block's CL_TRY may longjmp back here (exc.h, rule 2). */
static void with_timeout(double seconds, double limit, double moved_to)
{
	static struct cl_timeout tm;
	struct cl_exc *volatile raised = NULL;

	printf("request taking %.1f s, timeout(%.1f)%s\n", seconds, limit,
	       moved_to > 0 ? ", then rescheduled" : "");
	CL_TRY {
		cl_timeout_enter(&tm, limit);
		CL_TRY {
			if (moved_to > 0)
				cl_timeout_reschedule(&tm, now() + moved_to);
			printf("  %.1f s: answer %s\n", now(),
			       (char *)request(&seconds));
		} CL_CATCH(e) {
			raised = e;
		} CL_END_TRY;
		cl_timeout_exit(&tm, raised);
	} CL_CATCH(e) {
		printf("  %.1f s: %s (from %s), expired=%d\n", now(),
		       cl_exc_name(e),
		       cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e)) : "-",
		       cl_timeout_expired(&tm));
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* answer = await wait_for(create_task(request(seconds)), limit) */
static void with_wait_for(double seconds, double limit)
{
	struct cl_task *t = cl_create_task(request, &seconds, "request");

	printf("request taking %.1f s, wait_for(..., %.1f)\n", seconds, limit);
	CL_TRY {
		char *answer = cl_wait_for(cl_task_future(t), limit);

		printf("  %.1f s: answer %s\n", now(), answer);
	} CL_CATCH(e) {
		printf("  %.1f s: %s; the task is cancelled: %d\n", now(),
		       cl_exc_name(e), cl_future_cancelled(cl_task_future(t)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
}

static void *main_task(void *arg)
{
	(void)arg;
	with_timeout(0.5, 2, 0);
	with_timeout(5, 2, 0);
	with_wait_for(5, 2);
	with_timeout(3, 2, 4);
	return NULL;
}

int main(void)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
