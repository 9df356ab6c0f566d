/*
 * debug.c - debug mode's reports: slow callbacks and steps, coroutines
 * never awaited (see debug.h).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

#include "debug.h"
#include "dump.h"
#include "symbols.h"
#include "task.h"
#include "transport.h"

static uint64_t cl__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cl_loop_set_slow_callback_duration(struct cl_loop *loop, double s)
{
	loop->slow_callback_duration = s;
}

const char *cl_site_str(char *buf, size_t len, const struct cl_site *site)
{
	if (site == NULL)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s:%d in %s()", site->file, site->line,
			 site->func);
	return buf;
}

void cl__debug_begin(struct cl_loop *loop, struct cl_handle *h)
{
	struct cl_task *t = cl__handle_task(h);

	loop->probe.task = t != NULL ? cl_task_incref(t) : NULL;
	loop->probe.from = t != NULL ? t->await_site : NULL;
	loop->probe.t0 = cl__now_ns();
}

/*
 * The callback is over (returned or raised): report it if it took longer
 * than slow_callback_duration, as _run_once does in debug mode. A task's
 * step is named by its task and the two awaits it ran between; another
 * callback by its function.
 */
static void cl__debug_report(struct cl_loop *loop, struct cl_handle *h,
			     struct cl_task *t, uint64_t ns)
{
	// LAB ch09 slow_report: In debug mode (loop->debug), a callback that ran
	// LAB ch09: for slow_callback_duration or longer is counted (stats.slow)
	// LAB ch09: and reported on loop->err: a task's step as "corolab: slow
	// LAB ch09: step of task:ID 'NAME': S.SSS s" with where it resumed and
	// LAB ch09: where it suspended, any other by its function. asyncio's
	// LAB ch09: base_events._run_once "Executing %s took"; read section 1.
	// HINT1 ch09: ns is in nanoseconds, the duration in seconds: compare
	// HINT1 ch09: like with like. loop->probe.from is where the step resumed;
	// HINT1 ch09: t->await_site, after the step, is where it suspended.
	// HINT2 ch09: cl_site_str writes a site; cl_symbolize names h's function
	// HINT2 ch09: (h->done_fn when h->fut is set, else h->fn). A task that
	// HINT2 ch09: ended in this step did not suspend: say it ran to its end.
	char a[256], b[256];

	if (!loop->debug || (double)ns / 1e9 < loop->slow_callback_duration)
		return;
	loop->stats.slow++;
	if (t != NULL)
		fprintf(loop->err,
			"corolab: slow step of task:%lu '%s': %.3f s\n"
			"  resumed at %s\n  %s%s\n",
			t->id, t->name, (double)ns / 1e9,
			loop->probe.from
				? cl_site_str(a, sizeof a, loop->probe.from)
				: "its start",
			cl_task_done(t) ? "then ran to its end" : "suspended at ",
			cl_task_done(t) ? ""
					: cl_site_str(b, sizeof b, t->await_site));
	else
		fprintf(loop->err, "corolab: slow callback %s: %.3f s\n",
			cl_symbolize(h->fut != NULL ? (void *)h->done_fn
						    : (void *)h->fn,
				     a, sizeof a),
			(double)ns / 1e9);
	fflush(loop->err);
	// STUB ch09:
	// (void)loop, (void)h, (void)t, (void)ns;
	// END ch09
}

void cl__debug_end(struct cl_loop *loop, struct cl_handle *h)
{
	struct cl_task *t = loop->probe.task;

	loop->probe.task = NULL;
	cl__debug_report(loop, h, t, cl__now_ns() - loop->probe.t0);
	/* A wait that closes a cycle of tasks is a deadlock: say so now,
	 * while the rest of the program goes on (dump.h). */
	if (loop->debug && t != NULL && !cl_task_done(t) &&
	    t->fut_waiter != NULL)
		cl__deadlock_check(loop, t, loop->err);
	cl_task_decref(t);
}

/*
 * A coroutine object freed before it ever ran: its await was forgotten
 * (gen.c calls this; Objects/genobject.c _PyErr_WarnUnawaitedCoroutine).
 */
void cl__debug_unawaited(const char *name, const struct cl_site *origin)
{
	// LAB ch09 unawaited: Report on stderr that the coroutine NAME was
	// LAB ch09: never awaited, as "corolab: coroutine 'NAME' was never
	// LAB ch09: awaited" and, on the next line, "  created at " and the
	// LAB ch09: site (cl_site_str). CPython's RuntimeWarning with the
	// LAB ch09: origin of debug mode; read section 1.
	char buf[256];

	fprintf(stderr, "corolab: coroutine '%s' was never awaited\n"
			"  created at %s\n",
		name, cl_site_str(buf, sizeof buf, origin));
	// STUB ch09:
	// (void)name, (void)origin;
	// END ch09
}

void cl__debug_iteration(struct cl_loop *loop, uint64_t busy_ns)
{
	uint64_t bound = 10000; /* 10 us, then decades up to 1 s */
	int i = 0;

	while (i < CL_LOOP_BUSY_BUCKETS - 1 && busy_ns > bound) {
		bound *= 10;
		i++;
	}
	loop->stats.busy[i]++;
	loop->stats.busy_ns += busy_ns;
}

struct cl_gen *cl__coro_at(void *(*fn)(void *), void *arg, const char *name,
			   const struct cl_site *site)
{
	struct cl_gen *g = cl_gen_new(fn, arg, name);

	if (g != NULL)
		cl__gen_set_origin(g, site);
	return g;
}

void *cl_await_coro(struct cl_gen *coro)
{
	void *v = NULL;

	CL_TRY {
		v = cl_yield_from(coro);
	} CL_CATCH(e) {
		cl_gen_free(coro);
		cl_raise(cl_exc_incref(e));
	} CL_END_TRY;
	cl_gen_free(coro);
	return v;
}

void cl__debug_loop_free(struct cl_loop *loop)
{
	// LAB ch09 resource_warnings: Warn on loop->err of what the program
	// LAB ch09: left open: a line per transport still open (transport.h
	// LAB ch09: writes them), then "corolab: ResourceWarning: N unclosed
	// LAB ch09: server" (and an s when N is not 1) if N servers were never
	// LAB ch09: closed. asyncio's ResourceWarning "unclosed transport";
	// LAB ch09: read section 1.
	cl__transport_warn_unclosed(loop, loop->err);
	if (loop->nservers > 0)
		fprintf(loop->err, "corolab: ResourceWarning: %zu unclosed "
				   "server%s\n",
			loop->nservers, loop->nservers == 1 ? "" : "s");
	fflush(loop->err);
	// STUB ch09:
	// (void)loop;
	// END ch09
}
