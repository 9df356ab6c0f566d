/*
 * ch07_agen.c - chapter 07, section 7: async generators (agen.h):
 * async for, asend, athrow, aclose, and what the loop does with the
 * generators left open.
 *
 * Every expectation here is what CPython 3.11's asyncio does with the
 * same program, written in tests/py/ch07_agen.py (the comment above each
 * test names the block; run it with python3 and compare). The twin runs
 * on a virtual clock like ours, so times are exact on both sides. What a
 * test notes after cl_run returns happened while cl_run closed the loop,
 * as asyncio.run's shutdown_asyncgens.
 *
 * Every test goes through asend or aclose, whose cores are the lab's
 * regions, so a lab with them stubbed scores 0 here.
 *
 * How the C spells the Python: `async for v in g` is
 * while (cl_agen_for(g, &v)); `del g` is cl_agen_decref(g); a generator
 * the twin keeps in a global is one whose reference the test drops after
 * cl_run. A finally block whose cleanup may raise (it awaits, or yields)
 * is written with finally() below. Values are small integers (NULL
 * prints as None) or strings. attempt() is the twin's attempt(aw): the
 * value, or the repr of what was raised.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agen.h"
#include "exc.h"
#include "future.h"
#include "gen.h"
#include "grade.h"
#include "handler.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "trail.h"
#include "value.h"

#define SEC_AGEN "7. Async generators"

/* Fail unless the log reads want. */
#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

static void *run_ok(void *(*fn)(void *), void *arg)
{
	return run_on(CL_CLOCK_VIRTUAL, fn, arg);
}

/* A string that lives until 16 more have been asked for: enough for
 * the arguments of one note. */
static char *slot(void)
{
	static char buf[16][160];
	static int i;

	i = (i + 1) % 16;
	buf[i][0] = '\0';
	return buf[i];
}

/* The loop's clock as Python's f"{loop.time():g}" prints it. */
static const char *now(void)
{
	char *s = slot();

	snprintf(s, 160, "%g", cl_loop_time(cl_get_running_loop()));
	return s;
}

/* str(v) for a small integer; NULL is None. */
static const char *val(void *v)
{
	char *s = slot();

	if (v == NULL)
		snprintf(s, 160, "None");
	else
		snprintf(s, 160, "%ld", (long)CL_TOINT(v));
	return s;
}

/* str(v) for a string; NULL is None. */
static const char *str(void *v)
{
	return v != NULL ? v : "None";
}

/* repr(e) */
static const char *repr(const struct cl_exc *e)
{
	return cl_exc_repr(e, slot(), 160);
}

enum op { ANEXT, ASEND, ATHROW, ACLOSE };

/* The twin's attempt(aw): the value, as show prints it, or the repr of
 * what the call raised. arg is what asend sends or athrow throws. */
static const char *attempt(struct cl_agen *g, enum op op, void *arg,
			   const char *(*show)(void *))
{
	const char *volatile out = NULL;

	CL_TRY {
		void *v = NULL;

		switch (op) {
		case ANEXT:
			v = cl_agen_anext(g);
			break;
		case ASEND:
			v = cl_agen_asend(g, arg);
			break;
		case ATHROW:
			v = cl_agen_athrow(g, arg);
			break;
		case ACLOSE:
			cl_agen_aclose(g);
			break;
		}
		out = show(v);
	} CL_CATCH(e) {
		out = repr(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/* attempt(t) for a task: "None", or the repr of what awaiting it raised. */
static const char *attempt_task(struct cl_task *t)
{
	const char *volatile out = NULL;

	CL_TRY {
		out = str(cl_await_task(t));
	} CL_CATCH(e) {
		out = repr(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/*
 * The end of `try: ... finally: fn(arg)` once the try block raised e:
 *
 *	CL_TRY { ... } CL_CATCH(e) { finally(e, fn, arg); } CL_END_TRY;
 *	fn(arg);
 *
 * fn runs while e is being handled, then e is raised again. If fn
 * raises instead (its await is cancelled, its yield is closed), that
 * exception goes on, with e as its context, and e is dropped.
 */
static __attribute__((noreturn)) void finally(struct cl_exc *e,
					      void (*fn)(void *), void *arg)
{
	CL_TRY {
		fn(arg);
	} CL_CATCH(e2) {
		cl_exc_decref(e);
		cl_raise(e2);
	} CL_END_TRY;
	cl_raise(e);
}

/* The twin's handler: the message, cut before an address, and the
 * exception. */
static void handler(struct cl_loop *loop, const struct cl_exc_context *c,
		    void *arg)
{
	const char *at = strstr(c->message, " at 0x");
	int len = at != NULL ? (int)(at - c->message) : (int)strlen(c->message);

	(void)loop, (void)arg;
	note("handler:%.*s:%s", len, c->message, repr(c->exception));
}

static void set_handler(void)
{
	cl_loop_set_exception_handler(cl_get_running_loop(), handler, NULL);
}

/* The generators the twin keeps in globals: dropped after cl_run. */
static struct cl_agen *kept, *kept2;

/* ---- the generators ------------------------------------------------- */

/* ticker(n): for i in range(n): await sleep(1); yield i */
static void *ticker(void *arg)
{
	for (intptr_t i = 0; i < CL_TOINT(arg); i++) {
		cl_sleep(1);
		cl_agen_yield(CL_INT(i));
	}
	return NULL;
}

/* one(): log "body"; yield "a"; log "after" */
static void *one(void *arg)
{
	(void)arg;
	note("body");
	cl_agen_yield("a");
	note("after");
	return NULL;
}

/* summer(): total = 100; forever: x = yield total; await sleep(1);
 * total += x */
static void *summer(void *arg)
{
	intptr_t total = 100;

	(void)arg;
	for (;;) {
		intptr_t x = CL_TOINT(cl_agen_yield(CL_INT(total)));

		cl_sleep(1);
		total += x;
	}
	return NULL;
}

/* careful(): yields 1, 2, ...; a ValueError thrown in (after a sleep in
 * the handler) starts it again at 10; a KeyError ends it. */
static void *careful(void *arg)
{
	volatile intptr_t n = 1;
	volatile int stop = 0;

	(void)arg;
	while (!stop) {
		CL_TRY {
			cl_agen_yield(CL_INT(n));
			n++;
		} CL_CATCH(e) {
			if (cl_exc_matches(e, &cl_ValueError)) {
				cl_sleep(1);
				note("caught:%s@%s", cl_exc_message(e), now());
				n = 10;
			} else if (cl_exc_matches(e, &cl_KeyError)) {
				note("stop");
				stop = 1;
			} else {
				cl_raise(e);
			}
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	return NULL;
}

/* fragile(): try: yield 1; yield 2 finally: log "finally" */
static void *fragile(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
		cl_agen_yield(CL_INT(2));
	} CL_CATCH(e) {
		note("finally");
		cl_raise(e);
	} CL_END_TRY;
	note("finally");
	return NULL;
}

/* resource(): log open; forever: yield "row"; await sleep(1); finally:
 * log closing, await sleep(2), log closed. */
static void resource_cleanup(void *arg)
{
	(void)arg;
	note("closing@%s", now());
	cl_sleep(2);
	note("closed@%s", now());
}

static void *resource(void *arg)
{
	(void)arg;
	note("open@%s", now());
	CL_TRY {
		for (;;) {
			cl_agen_yield("row");
			cl_sleep(1);
		}
	} CL_CATCH(e) {
		finally(e, resource_cleanup, NULL);
	} CL_END_TRY;
	return NULL;
}

/* stubborn(): try: yield 1 finally: log "finally"; yield 2 */
static void stubborn_cleanup(void *arg)
{
	(void)arg;
	note("finally");
	cl_agen_yield(CL_INT(2));
}

static void *stubborn(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
	} CL_CATCH(e) {
		finally(e, stubborn_cleanup, NULL);
	} CL_END_TRY;
	stubborn_cleanup(NULL);
	return NULL;
}

/* ---- async for, asend ----------------------------------------------- */

/* ch07_agen.py, test_async_for_over_a_generator_that_sleeps */
static void *async_for(void *arg)
{
	struct cl_agen *g = cl_agen_new(ticker, CL_INT(3), "ticker");
	void *v;

	(void)arg;
	note("start@%s", now());
	while (cl_agen_for(g, &v))
		note("%ld@%s", (long)CL_TOINT(v), now());
	note("end@%s", now());
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_async_for_over_a_generator_that_sleeps)
{
	run_ok(async_for, NULL);
	EXPECT_TRAIL("start@0 0@1 1@2 2@3 end@3");
}
END_TEST

/* ch07_agen.py, test_anext_after_return_raises_stop_async_iteration */
static void *after_return(void *arg)
{
	struct cl_agen *g = cl_agen_new(one, NULL, "one");

	(void)arg;
	note("%s", str(cl_agen_anext(g)));
	note("%s", attempt(g, ANEXT, NULL, str));
	note("%s", attempt(g, ANEXT, NULL, str));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_anext_after_return_raises_stop_async_iteration)
{
	run_ok(after_return, NULL);
	EXPECT_TRAIL("body a after StopAsyncIteration() StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_asend_delivers_values */
static void *asend_values(void *arg)
{
	struct cl_agen *g = cl_agen_new(summer, NULL, "summer");
	void *v;

	(void)arg;
	/* One call per statement: the value before the time (C leaves the
	 * order of a call's arguments open). */
	v = cl_agen_asend(g, NULL);
	note("%s@%s", val(v), now());
	v = cl_agen_asend(g, CL_INT(5));
	note("%s@%s", val(v), now());
	v = cl_agen_asend(g, CL_INT(10));
	note("%s@%s", val(v), now());
	cl_agen_aclose(g);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_asend_delivers_values)
{
	run_ok(asend_values, NULL);
	EXPECT_TRAIL("100@0 105@1 115@2");
}
END_TEST

/* ch07_agen.py, test_asend_to_an_unstarted_generator */
static void *asend_unstarted(void *arg)
{
	struct cl_agen *g = cl_agen_new(summer, NULL, "summer");

	(void)arg;
	note("%s", attempt(g, ASEND, CL_INT(5), val));
	note("%s", attempt(g, ASEND, NULL, val));
	note("%s", attempt(g, ASEND, CL_INT(1), val));
	cl_agen_aclose(g);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_asend_to_an_unstarted_generator)
{
	run_ok(asend_unstarted, NULL);
	EXPECT_TRAIL("TypeError(\"can't send non-None value to a just-started "
		     "async generator\") 100 101");
}
END_TEST

/* ---- athrow --------------------------------------------------------- */

/* ch07_agen.py, test_athrow_caught_by_the_generator */
static void *athrow_caught(void *arg)
{
	struct cl_agen *g = cl_agen_new(careful, NULL, "careful");

	(void)arg;
	note("%s", val(cl_agen_anext(g)));
	note("%s", attempt(g, ATHROW, cl_exc_new(&cl_ValueError, "x"), val));
	note("%s", attempt(g, ANEXT, NULL, val));
	note("%s", attempt(g, ATHROW, cl_exc_new(&cl_KeyError, "k"), val));
	note("%s", attempt(g, ANEXT, NULL, val));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_athrow_caught_by_the_generator)
{
	run_ok(athrow_caught, NULL);
	EXPECT_TRAIL("1 caught:x@1 10 11 stop StopAsyncIteration() "
		     "StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_athrow_not_caught */
static void *athrow_uncaught(void *arg)
{
	struct cl_agen *g = cl_agen_new(fragile, NULL, "fragile");

	(void)arg;
	note("%s", val(cl_agen_anext(g)));
	note("%s",
	     attempt(g, ATHROW, cl_exc_new(&cl_ValueError, "boom"), val));
	note("%s", attempt(g, ANEXT, NULL, val));
	note("%s",
	     attempt(g, ATHROW, cl_exc_new(&cl_ValueError, "again"), val));
	note("%s", attempt(g, ACLOSE, NULL, val));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_athrow_not_caught)
{
	run_ok(athrow_uncaught, NULL);
	EXPECT_TRAIL("1 finally ValueError('boom') StopAsyncIteration() None "
		     "None");
}
END_TEST

/* ch07_agen.py, test_athrow_into_an_unstarted_generator */
static void *athrow_unstarted(void *arg)
{
	struct cl_agen *g = cl_agen_new(fragile, NULL, "fragile");

	(void)arg;
	note("%s", attempt(g, ATHROW, cl_exc_new(&cl_KeyError, "k"), val));
	note("%s", attempt(g, ANEXT, NULL, val));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_athrow_into_an_unstarted_generator)
{
	run_ok(athrow_unstarted, NULL);
	EXPECT_TRAIL("KeyError('k') StopAsyncIteration()");
}
END_TEST

/* ---- aclose --------------------------------------------------------- */

/* ch07_agen.py, test_aclose_runs_a_finally_that_awaits */
static void *aclose_awaits(void *arg)
{
	struct cl_agen *g = cl_agen_new(resource, NULL, "resource");
	void *v;

	(void)arg;
	v = cl_agen_anext(g);
	note("%s@%s", str(v), now());
	v = cl_agen_anext(g);
	note("%s@%s", str(v), now());
	cl_agen_aclose(g);
	note("aclose-done@%s", now());
	note("%s", attempt(g, ANEXT, NULL, str));
	note("%s", attempt(g, ACLOSE, NULL, str));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_aclose_runs_a_finally_that_awaits)
{
	run_ok(aclose_awaits, NULL);
	EXPECT_TRAIL("open@0 row@0 row@1 closing@1 closed@3 aclose-done@3 "
		     "StopAsyncIteration() None");
}
END_TEST

/* ch07_agen.py, test_generator_busy_while_aclose_awaits */
static void *closer(void *arg)
{
	cl_agen_aclose(arg);
	return NULL;
}

static void *busy_while_closing(void *arg)
{
	struct cl_agen *g = cl_agen_new(resource, NULL, "resource");
	struct cl_task *t;

	(void)arg;
	cl_agen_anext(g);
	t = cl_create_task(closer, g, NULL);
	cl_sleep(1);
	note("running=%s", tf(cl_agen_running(g)));
	note("%s", attempt(g, ANEXT, NULL, str));
	note("%s", attempt(g, ACLOSE, NULL, str));
	cl_await_task(t);
	note("running=%s@%s", tf(cl_agen_running(g)), now());
	note("%s", attempt(g, ANEXT, NULL, str));
	cl_task_decref(t);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_generator_busy_while_aclose_awaits)
{
	run_ok(busy_while_closing, NULL);
	EXPECT_TRAIL("open@0 closing@0 running=True RuntimeError('anext(): "
		     "asynchronous generator is already running') "
		     "RuntimeError('aclose(): asynchronous generator is "
		     "already running') closed@2 running=False@2 "
		     "StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_aclose_ignored_generator_exit */
static void *ignored_exit(void *arg)
{
	(void)arg;
	set_handler();
	kept = cl_agen_new(stubborn, NULL, "stubborn");
	cl_agen_anext(kept);
	note("%s", attempt(kept, ACLOSE, NULL, val));
	note("%s", attempt(kept, ACLOSE, NULL, val));
	note("main-end");
	return NULL;
}

START_TEST(test_aclose_ignored_generator_exit)
{
	run_ok(ignored_exit, NULL);
	EXPECT_TRAIL("finally RuntimeError('async generator ignored "
		     "GeneratorExit') StopAsyncIteration() main-end "
		     "handler:an error occurred during closing of "
		     "asynchronous generator <async_generator object "
		     "stubborn:StopAsyncIteration()");
	cl_agen_decref(kept);
}
END_TEST

/* ch07_agen.py, test_aclose_of_an_unstarted_or_finished_generator */
static void *aclose_nothing(void *arg)
{
	struct cl_agen *g = cl_agen_new(one, NULL, "one");
	struct cl_agen *h = cl_agen_new(one, NULL, "one");
	void *v;

	(void)arg;
	note("%s", attempt(g, ACLOSE, NULL, str));
	note("%s", attempt(g, ANEXT, NULL, str));
	while (cl_agen_for(h, &v))
		note("%s", str(v));
	note("%s", attempt(h, ACLOSE, NULL, str));
	cl_agen_decref(g);
	cl_agen_decref(h);
	return NULL;
}

START_TEST(test_aclose_of_an_unstarted_or_finished_generator)
{
	run_ok(aclose_nothing, NULL);
	EXPECT_TRAIL("None StopAsyncIteration() body a after None");
}
END_TEST

/* ch07_agen.py, test_aclose_when_the_body_returns_or_raises */
static void *polite(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_GeneratorExit))
			cl_raise(e);
		cl_exc_decref(e);
		note("exit");
		cl_sleep(1);
	} CL_END_TRY;
	return NULL;
}

static void *rude(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
	} CL_CATCH(e) {
		/* The ValueError replaces e, which becomes its context. */
		cl_exc_decref(e);
		cl_raise(cl_exc_new(&cl_ValueError, "in finally"));
	} CL_END_TRY;
	cl_raise(cl_exc_new(&cl_ValueError, "in finally"));
}

static void *aclose_outcomes(void *arg)
{
	struct cl_agen *g = cl_agen_new(polite, NULL, "polite");
	struct cl_agen *h = cl_agen_new(rude, NULL, "rude");

	(void)arg;
	cl_agen_anext(g);
	note("%s", attempt(g, ACLOSE, NULL, val));
	note("%s", now());
	cl_agen_anext(h);
	CL_TRY {
		cl_agen_aclose(h);
	} CL_CATCH(e) {
		note("%s:context=%s", repr(e), repr(cl_exc_context(e)));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("%s", attempt(h, ANEXT, NULL, val));
	cl_agen_decref(g);
	cl_agen_decref(h);
	return NULL;
}

START_TEST(test_aclose_when_the_body_returns_or_raises)
{
	run_ok(aclose_outcomes, NULL);
	EXPECT_TRAIL("exit None 1 ValueError('in finally'):"
		     "context=GeneratorExit() StopAsyncIteration()");
}
END_TEST

/* ---- running, raising, cancelling ----------------------------------- */

/* ch07_agen.py, test_anext_while_running_in_another_task */
static void *iterate_once(void *arg)
{
	void *v = cl_agen_anext(arg);

	note("A:%ld@%s", (long)CL_TOINT(v), now());
	return NULL;
}

static void *two_tasks(void *arg)
{
	struct cl_agen *g = cl_agen_new(ticker, CL_INT(5), "ticker");
	struct cl_task *a;
	void *v;

	(void)arg;
	a = cl_create_task(iterate_once, g, NULL);
	cl_sleep(0);
	note("running=%s", tf(cl_agen_running(g)));
	note("%s", attempt(g, ANEXT, NULL, val));
	note("%s", attempt(g, ASEND, CL_INT(7), val));
	note("%s", attempt(g, ATHROW, cl_exc_new(&cl_ValueError, NULL), val));
	note("%s", attempt(g, ACLOSE, NULL, val));
	cl_await_task(a);
	note("running=%s", tf(cl_agen_running(g)));
	v = cl_agen_anext(g);
	note("B:%ld@%s", (long)CL_TOINT(v), now());
	cl_agen_aclose(g);
	cl_task_decref(a);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_anext_while_running_in_another_task)
{
	run_ok(two_tasks, NULL);
	EXPECT_TRAIL("running=True RuntimeError('anext(): asynchronous "
		     "generator is already running') RuntimeError('anext(): "
		     "asynchronous generator is already running') "
		     "RuntimeError('athrow(): asynchronous generator is "
		     "already running') RuntimeError('aclose(): asynchronous "
		     "generator is already running') A:0@1 running=False "
		     "B:1@2");
}
END_TEST

/* ch07_agen.py, test_exception_in_the_body_propagates */
static void *failing(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
		cl_sleep(1);
		cl_raise(cl_exc_new(&cl_ValueError, "bad"));
	} CL_CATCH(e) {
		note("finally@%s", now());
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *propagates(void *arg)
{
	struct cl_agen *g = cl_agen_new(failing, NULL, "failing");

	(void)arg;
	CL_TRY {
		void *v;

		while (cl_agen_for(g, &v))
			note("%s", val(v));
	} CL_CATCH(e) {
		note("%s@%s", repr(e), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	note("%s", attempt(g, ANEXT, NULL, val));
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_exception_in_the_body_propagates)
{
	run_ok(propagates, NULL);
	EXPECT_TRAIL("1 finally@1 ValueError('bad')@1 StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_stop_iteration_in_the_body_is_a_runtime_error */
static void *raises_stop(void *arg)
{
	cl_agen_yield(CL_INT(1));
	cl_raise(cl_exc_new(arg, NULL));
}

static void stop_inside_one(const struct cl_exc_type *type)
{
	struct cl_agen *g = cl_agen_new(raises_stop, (void *)type,
					"raises_stop");

	cl_agen_anext(g);
	CL_TRY {
		cl_agen_anext(g);
	} CL_CATCH(e) {
		note("%s:cause=%s", repr(e), repr(cl_exc_cause(e)));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("%s", attempt(g, ANEXT, NULL, val));
	cl_agen_decref(g);
}

static void *stop_inside(void *arg)
{
	(void)arg;
	stop_inside_one(&cl_StopAsyncIteration);
	stop_inside_one(&cl_StopIteration);
	return NULL;
}

START_TEST(test_stop_iteration_in_the_body_is_a_runtime_error)
{
	run_ok(stop_inside, NULL);
	EXPECT_TRAIL("RuntimeError('async generator raised "
		     "StopAsyncIteration'):cause=StopAsyncIteration() "
		     "StopAsyncIteration() RuntimeError('async generator "
		     "raised StopIteration'):cause=StopIteration() "
		     "StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_cancelling_the_consumer_while_the_generator_awaits */
static void slow_cleanup(void *arg)
{
	(void)arg;
	note("gen-finally@%s", now());
	cl_sleep(1);
	note("gen-finally-done@%s", now());
}

static void *slow_source(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(0));
		cl_sleep(10);
		cl_agen_yield(CL_INT(1));
	} CL_CATCH(e) {
		finally(e, slow_cleanup, NULL);
	} CL_END_TRY;
	slow_cleanup(NULL);
	return NULL;
}

static void *consume(void *arg)
{
	CL_TRY {
		void *v;

		while (cl_agen_for(arg, &v))
			note("got:%ld@%s", (long)CL_TOINT(v), now());
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("consumer:CancelledError@%s", now());
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *cancel_consumer(void *arg)
{
	struct cl_agen *g = cl_agen_new(slow_source, NULL, "slow_source");
	struct cl_task *t;

	(void)arg;
	t = cl_create_task(consume, g, NULL);
	cl_sleep(1);
	note("cancel@%s", now());
	cl_task_cancel(t);
	note("%s", attempt_task(t));
	note("cancelled=%s", tf(cl_future_cancelled(cl_task_future(t))));
	note("%s", attempt(g, ANEXT, NULL, val));
	cl_task_decref(t);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_cancelling_the_consumer_while_the_generator_awaits)
{
	run_ok(cancel_consumer, NULL);
	EXPECT_TRAIL("got:0@0 cancel@1 gen-finally@1 gen-finally-done@2 "
		     "consumer:CancelledError@2 CancelledError() "
		     "cancelled=True StopAsyncIteration()");
}
END_TEST

/* ch07_agen.py, test_generator_that_swallows_the_cancellation */
static void *swallower(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_sleep(10);
		cl_agen_yield("never");
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		cl_exc_decref(e);
		note("gen-caught@%s", now());
		cl_agen_yield("after-cancel");
	} CL_END_TRY;
	cl_sleep(1);
	cl_agen_yield("more");
	return NULL;
}

static void *consume_all(void *arg)
{
	void *v;

	while (cl_agen_for(arg, &v))
		note("got:%s@%s:cancelling=%d", str(v), now(),
		     cl_task_cancelling(cl_current_task()));
	note("consumer-end");
	return NULL;
}

static void *swallowed(void *arg)
{
	struct cl_agen *g = cl_agen_new(swallower, NULL, "swallower");
	struct cl_task *t;

	(void)arg;
	t = cl_create_task(consume_all, g, NULL);
	cl_sleep(1);
	cl_task_cancel(t);
	cl_await_task(t);
	note("cancelled=%s@%s", tf(cl_future_cancelled(cl_task_future(t))),
	     now());
	cl_task_decref(t);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_generator_that_swallows_the_cancellation)
{
	run_ok(swallowed, NULL);
	EXPECT_TRAIL("gen-caught@1 got:after-cancel@1:cancelling=1 "
		     "got:more@2:cancelling=1 consumer-end cancelled=False@2");
}
END_TEST

/* ---- the ones left open --------------------------------------------- */

/* ch07_agen.py, test_shutdown_closes_an_open_generator_at_end_of_run */
static void *leave_open(void *arg)
{
	(void)arg;
	kept = cl_agen_new(resource, NULL, "resource");
	note("%s", str(cl_agen_anext(kept)));
	note("main-end@%s", now());
	return NULL;
}

START_TEST(test_shutdown_closes_an_open_generator_at_end_of_run)
{
	run_ok(leave_open, NULL);
	note("after-run");
	cl_agen_decref(kept);
	EXPECT_TRAIL("open@0 row main-end@0 closing@0 closed@2 after-run");
}
END_TEST

/* sleepy(name, seconds): try: yield name finally: await sleep(seconds);
 * log "name-closed" */
struct sleepy {
	const char *name;
	double seconds;
};

static void sleepy_cleanup(void *arg)
{
	const struct sleepy *s = arg;

	cl_sleep(s->seconds);
	note("%s-closed@%s", s->name, now());
}

static void *sleepy(void *arg)
{
	const struct sleepy *s = arg;

	CL_TRY {
		cl_agen_yield((void *)s->name);
	} CL_CATCH(e) {
		finally(e, sleepy_cleanup, arg);
	} CL_END_TRY;
	sleepy_cleanup(arg);
	return NULL;
}

static const struct sleepy good_1 = { "good", 1 }, a_1 = { "a", 1 },
			   b_2 = { "b", 2 };

/* ch07_agen.py, test_shutdown_reports_errors_to_the_handler */
static void *shutdown_errors(void *arg)
{
	(void)arg;
	set_handler();
	kept = cl_agen_new(sleepy, (void *)&good_1, "sleepy");
	kept2 = cl_agen_new(stubborn, NULL, "stubborn");
	cl_agen_anext(kept);
	cl_agen_anext(kept2);
	note("main-end");
	return NULL;
}

START_TEST(test_shutdown_reports_errors_to_the_handler)
{
	run_ok(shutdown_errors, NULL);
	cl_agen_decref(kept);
	EXPECT_TRAIL("main-end finally good-closed@1 handler:an error "
		     "occurred during closing of asynchronous generator "
		     "<async_generator object stubborn:RuntimeError('async "
		     "generator ignored GeneratorExit')");
	cl_agen_decref(kept2);
}
END_TEST

/* ch07_agen.py, test_shutdown_closes_generators_concurrently */
static void *concurrent_closes(void *arg)
{
	(void)arg;
	kept = cl_agen_new(sleepy, (void *)&b_2, "sleepy");
	kept2 = cl_agen_new(sleepy, (void *)&a_1, "sleepy");
	cl_agen_anext(kept);
	cl_agen_anext(kept2);
	note("main-end@%s", now());
	return NULL;
}

START_TEST(test_shutdown_closes_generators_concurrently)
{
	run_ok(concurrent_closes, NULL);
	cl_agen_decref(kept);
	cl_agen_decref(kept2);
	EXPECT_TRAIL("main-end@0 a-closed@1 b-closed@2");
}
END_TEST

/* ch07_agen.py, test_dropped_generator_is_closed_by_a_task */
static void steps_cleanup(void *arg)
{
	(void)arg;
	note("finally");
	cl_sleep(0);
	note("finally2");
}

static void *steps(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
	} CL_CATCH(e) {
		finally(e, steps_cleanup, NULL);
	} CL_END_TRY;
	steps_cleanup(NULL);
	return NULL;
}

static void *dropped(void *arg)
{
	struct cl_agen *g = cl_agen_new(steps, NULL, "steps");

	(void)arg;
	note("%s", val(cl_agen_anext(g)));
	cl_agen_decref(g);
	note("deleted");
	for (int i = 0; i < 3; i++) {
		cl_sleep(0);
		note("slept%d", i);
	}
	return NULL;
}

START_TEST(test_dropped_generator_is_closed_by_a_task)
{
	run_ok(dropped, NULL);
	EXPECT_TRAIL("1 deleted slept0 finally slept1 finally2 slept2");
}
END_TEST

/* ch07_agen.py, test_dropped_generator_that_refuses_to_close */
static void *dropped_stubborn(void *arg)
{
	struct cl_agen *g = cl_agen_new(stubborn, NULL, "stubborn");

	(void)arg;
	set_handler();
	cl_agen_anext(g);
	cl_agen_decref(g);
	note("deleted");
	for (int i = 0; i < 3; i++) {
		cl_sleep(0);
		note("slept%d", i);
	}
	return NULL;
}

START_TEST(test_dropped_generator_that_refuses_to_close)
{
	run_ok(dropped_stubborn, NULL);
	EXPECT_TRAIL("deleted slept0 finally handler:Task exception was never "
		     "retrieved:RuntimeError('async generator ignored "
		     "GeneratorExit') slept1 slept2");
}
END_TEST

/* ch07_agen.py, test_unstarted_generator_is_not_closed_at_shutdown */
static void *unstarted_left(void *arg)
{
	(void)arg;
	kept = cl_agen_new(resource, NULL, "resource");
	kept2 = cl_agen_new(fragile, NULL, "fragile");
	note("%s", val(cl_agen_anext(kept2)));
	note("main-end");
	return NULL;
}

START_TEST(test_unstarted_generator_is_not_closed_at_shutdown)
{
	run_ok(unstarted_left, NULL);
	cl_agen_decref(kept);
	cl_agen_decref(kept2);
	EXPECT_TRAIL("1 main-end finally");
}
END_TEST

/* ch07_agen.py, test_closed_consumer_leaves_the_generator_running */
static void *stuck(void *arg)
{
	(void)arg;
	cl_sleep(0);
	cl_agen_yield(CL_INT(1));
	return NULL;
}

/* A coroutine, driven by hand: return await g.__anext__(), finally: log */
static void *consumer_of(void *arg)
{
	void *volatile v = NULL;

	CL_TRY {
		v = cl_agen_anext(arg);
	} CL_CATCH(e) {
		note("consumer-finally");
		cl_raise(e);
	} CL_END_TRY;
	note("consumer-finally");
	return v;
}

static void *closed_consumer(void *arg)
{
	struct cl_gen *c;
	struct cl_exc *err;
	void *out = CL_INT(-1);

	(void)arg;
	set_handler();
	kept = cl_agen_new(stuck, NULL, "stuck");
	c = cl_gen_new(consumer_of, kept, "consumer_of");
	if (cl_gen_send(c, NULL, &out) == CL_GEN_YIELDED)
		note("send:%s", val(out));
	CL_EXPECT(cl_gen_close(c, &err) == 0, "closing the consumer failed");
	cl_gen_free(c);
	note("running=%s", tf(cl_agen_running(kept)));
	note("%s", attempt(kept, ANEXT, NULL, val));
	note("%s", attempt(kept, ACLOSE, NULL, val));
	note("main-end");
	return NULL;
}

START_TEST(test_closed_consumer_leaves_the_generator_running)
{
	run_ok(closed_consumer, NULL);
	cl_agen_decref(kept);
	EXPECT_TRAIL("send:None consumer-finally running=True "
		     "RuntimeError('anext(): asynchronous generator is already "
		     "running') RuntimeError('aclose(): asynchronous generator "
		     "is already running') main-end handler:an error occurred "
		     "during closing of asynchronous generator "
		     "<async_generator object stuck:RuntimeError('aclose(): "
		     "asynchronous generator is already running')");
}
END_TEST

/* ---- where the body runs -------------------------------------------- */

/* ch07_agen.py, test_pipeline_of_generators */
static void *doubled(void *arg)
{
	void *v;

	while (cl_agen_for(arg, &v)) {
		cl_sleep(0.5);
		cl_agen_yield(CL_INT(CL_TOINT(v) * 2));
	}
	note("doubled-end@%s", now());
	return NULL;
}

static void *pipeline(void *arg)
{
	struct cl_agen *src = cl_agen_new(ticker, CL_INT(3), "ticker");
	struct cl_agen *d = cl_agen_new(doubled, src, "doubled");
	void *v;

	(void)arg;
	while (cl_agen_for(d, &v))
		note("%ld@%s", (long)CL_TOINT(v), now());
	cl_agen_decref(d);
	cl_agen_decref(src);
	return NULL;
}

START_TEST(test_pipeline_of_generators)
{
	run_ok(pipeline, NULL);
	EXPECT_TRAIL("0@1.5 2@3 4@4.5 doubled-end@4.5");
}
END_TEST

/* ch07_agen.py, test_generator_runs_in_the_consumers_task */
static void *whose(void *arg)
{
	static char names[2][32];

	(void)arg;
	for (int i = 0; i < 2; i++) {
		cl_sleep(0);
		snprintf(names[i], sizeof names[i], "%s:%d",
			 cl_task_name(cl_current_task()), i);
		cl_agen_yield(names[i]);
	}
	return NULL;
}

static void *take_one(void *arg)
{
	note("%s", str(cl_agen_anext(arg)));
	return NULL;
}

static void *consumers_task(void *arg)
{
	struct cl_agen *g = cl_agen_new(whose, NULL, "whose");
	struct cl_task *t;

	(void)arg;
	t = cl_create_task(take_one, g, "A");
	cl_await_task(t);
	cl_task_decref(t);
	t = cl_create_task(take_one, g, "B");
	cl_await_task(t);
	cl_task_decref(t);
	cl_agen_aclose(g);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_generator_runs_in_the_consumers_task)
{
	run_ok(consumers_task, NULL);
	EXPECT_TRAIL("A:0 B:1");
}
END_TEST

/* ch07_agen.py, test_sleep0_in_the_body_is_not_a_value */
static void *nones(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		cl_sleep(0);
		note("gen%d", i);
		cl_agen_yield(NULL);
	}
	return NULL;
}

static void *ticks(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++) {
		note("tick%d", i);
		cl_sleep(0);
	}
	return NULL;
}

static void *sleep0_and_none(void *arg)
{
	struct cl_task *t = cl_create_task(ticks, NULL, NULL);
	struct cl_agen *g = cl_agen_new(nones, NULL, "nones");
	void *v;

	(void)arg;
	while (cl_agen_for(g, &v))
		note("got:%s", str(v));
	cl_await_task(t);
	cl_task_decref(t);
	cl_agen_decref(g);
	return NULL;
}

START_TEST(test_sleep0_in_the_body_is_not_a_value)
{
	run_ok(sleep0_and_none, NULL);
	EXPECT_TRAIL("tick0 gen0 got:None tick1 gen1 got:None tick2 tick3");
}
END_TEST

static void add_agen_tests(void)
{
	cl_test(test_async_for_over_a_generator_that_sleeps, 3, SEC_AGEN);
	cl_test(test_anext_after_return_raises_stop_async_iteration, 2,
		SEC_AGEN);
	cl_test(test_asend_delivers_values, 2, SEC_AGEN);
	cl_test(test_asend_to_an_unstarted_generator, 1, SEC_AGEN);
	cl_test(test_athrow_caught_by_the_generator, 2, SEC_AGEN);
	cl_test(test_athrow_not_caught, 2, SEC_AGEN);
	cl_test(test_athrow_into_an_unstarted_generator, 1, SEC_AGEN);
	cl_test(test_aclose_runs_a_finally_that_awaits, 3, SEC_AGEN);
	cl_test(test_generator_busy_while_aclose_awaits, 2, SEC_AGEN);
	cl_test(test_aclose_ignored_generator_exit, 2, SEC_AGEN);
	cl_test(test_aclose_of_an_unstarted_or_finished_generator, 1,
		SEC_AGEN);
	cl_test(test_aclose_when_the_body_returns_or_raises, 2, SEC_AGEN);
	cl_test(test_anext_while_running_in_another_task, 3, SEC_AGEN);
	cl_test(test_exception_in_the_body_propagates, 2, SEC_AGEN);
	cl_test(test_stop_iteration_in_the_body_is_a_runtime_error, 1,
		SEC_AGEN);
	cl_test(test_cancelling_the_consumer_while_the_generator_awaits, 3,
		SEC_AGEN);
	cl_test(test_generator_that_swallows_the_cancellation, 1, SEC_AGEN);
	cl_test(test_shutdown_closes_an_open_generator_at_end_of_run, 3,
		SEC_AGEN);
	cl_test(test_shutdown_reports_errors_to_the_handler, 2, SEC_AGEN);
	cl_test(test_shutdown_closes_generators_concurrently, 2, SEC_AGEN);
	cl_test(test_dropped_generator_is_closed_by_a_task, 3, SEC_AGEN);
	cl_test(test_dropped_generator_that_refuses_to_close, 1, SEC_AGEN);
	cl_test(test_unstarted_generator_is_not_closed_at_shutdown, 1,
		SEC_AGEN);
	cl_test(test_closed_consumer_leaves_the_generator_running, 1,
		SEC_AGEN);
	cl_test(test_pipeline_of_generators, 2, SEC_AGEN);
	cl_test(test_generator_runs_in_the_consumers_task, 1, SEC_AGEN);
	cl_test(test_sleep0_in_the_body_is_not_a_value, 1, SEC_AGEN);
}
CL_CHAPTER(7, "07-threads", "threads", add_agen_tests)
