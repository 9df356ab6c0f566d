/*
 * debug.h - debug mode: what asyncio's debug mode reports, and more.
 *
 * loop.set_debug(True), or PYTHONASYNCIODEBUG=1, makes asyncio log a
 * callback that held the loop longer than loop.slow_callback_duration,
 * and the place a coroutine that nobody awaited was created. Here
 * cl_loop_set_debug(loop, 1), or COROLAB_DEBUG=1, does the same:
 *
 *	corolab: slow step of task:3 'blocker': 0.152 s
 *	  resumed at blocking.c:21 in blocker()
 *	  suspended at blocking.c:25 in blocker()
 *
 * A step's two places are the awaits it went between (cl_await records
 * each in the task: task.h's await_site), so the report says which stretch
 * of code between two awaits was slow. Other callbacks are named by their
 * function (symbols.h). Chapter 07's thread check is debug mode too:
 * cl__loop_check_thread.
 *
 * While debug mode is on, the loop reads the clock around every callback;
 * while it is off, the loop pays one test of a value hoisted out of its
 * loop (loop.c, cl__loop_run_ready). Chapter 09's appendix measures both.
 *
 * Python: Lib/asyncio/base_events.py (set_debug, slow_callback_duration,
 * _run_once's "Executing %s took %.3f seconds"), Lib/asyncio/coroutines.py
 * and Objects/genobject.c (_PyErr_WarnUnawaitedCoroutine).
 */
#ifndef CL_DEBUG_H
#define CL_DEBUG_H

#include <stdint.h>

#include "exc.h"
#include "gen.h"
#include "loop.h"

/* loop.slow_callback_duration, in seconds (0.1 by default). */
void cl_loop_set_slow_callback_duration(struct cl_loop *loop, double s);

/*
 * A coroutine object: a generator that only an await runs (cl_await_coro,
 * which is `await coro`, a yield from inside a task). One freed before it
 * ever ran was never awaited, the bug of a forgotten await, and
 * cl_gen_free says so with the place it was created:
 *
 *	corolab: coroutine 'fetch' was never awaited
 *	  created at client.c:40 in main_task()
 *
 * as CPython's RuntimeWarning (with its origin, which CPython tracks in
 * debug mode; here it is one pointer, so always).
 */
#define cl_coro(fn, arg, name) cl__coro_at((fn), (arg), (name), CL_HERE)
struct cl_gen *cl__coro_at(void *(*fn)(void *), void *arg, const char *name,
			   const struct cl_site *site);

/* await coro: run it to its end inside the running task, its awaits the
 * task's; returns its return value (and frees it), or raises what it
 * raised. */
void *cl_await_coro(struct cl_gen *coro);

/* A site as "file:line in func()" into buf; "?" for NULL. Returns buf. */
const char *cl_site_str(char *buf, size_t len, const struct cl_site *site);

/* loop.c's hooks, while loop->timed: around each callback, and once per
 * iteration with the time its callbacks took. */
void cl__debug_begin(struct cl_loop *loop, struct cl_handle *h);
void cl__debug_end(struct cl_loop *loop, struct cl_handle *h);
void cl__debug_iteration(struct cl_loop *loop, uint64_t busy_ns);

/* cl_loop_free's, in debug mode: warn of transports and servers left
 * open, as asyncio's ResourceWarning "unclosed transport". */
void cl__debug_loop_free(struct cl_loop *loop);

#endif
