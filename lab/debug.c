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
	/* TODO(ch09): In debug mode (loop->debug), a callback that ran
	 * for slow_callback_duration or longer is counted (stats.slow)
	 * and reported on loop->err: a task's step as "corolab: slow
	 * step of task:ID 'NAME': S.SSS s" with where it resumed and
	 * where it suspended, any other by its function. asyncio's
	 * base_events._run_once "Executing %s took"; read section 1.
	 * Hints: make hint CH=9 TODO=slow_report (2 levels). */
	(void)loop, (void)h, (void)t, (void)ns;
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
	/* TODO(ch09): Report on stderr that the coroutine NAME was
	 * never awaited, as "corolab: coroutine 'NAME' was never
	 * awaited" and, on the next line, "  created at " and the
	 * site (cl_site_str). CPython's RuntimeWarning with the
	 * origin of debug mode; read section 1.
	 * No hints: the contract is all. */
	(void)name, (void)origin;
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
	/* TODO(ch09): Warn on loop->err of what the program
	 * left open: a line per transport still open (transport.h
	 * writes them), then "corolab: ResourceWarning: N unclosed
	 * server" (and an s when N is not 1) if N servers were never
	 * closed. asyncio's ResourceWarning "unclosed transport";
	 * read section 1.
	 * No hints: the contract is all. */
	(void)loop;
}
