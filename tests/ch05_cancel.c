/*
 * ch05_cancel.c - chapter 05: cancellation as asyncio 3.11 has it, and
 * the combinators built on it: shield, gather(return_exceptions), wait,
 * as_completed.
 *
 * Every trail here is what CPython 3.11 prints for the same program,
 * written in tests/py/ch05_cancel.py (the comment above each test names
 * the block; run it with python3 and compare). Where the C API must
 * differ from Python's (wait returns a count and the caller looks at
 * each future, where Python returns two sets; as_completed yields the
 * futures, and the caller reads the result, where Python yields
 * coroutines that return it), the test says so; the trail is the same.
 *
 * All runs use the virtual clock, so times are exact and nothing waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "future.h"
#include "gather.h"
#include "grade.h"
#include "handler.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "trace.h"
#include "trail.h"
#include "value.h"
#include "wait.h"

#define SEC_CANCEL "6. Cancellation"
#define SEC_COMBINE "7. Shield, gather, wait, as_completed"

#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

/* repr(e), in one of a few rotating buffers: good for a note's args. */
static const char *R(const struct cl_exc *e)
{
	static char bufs[4][160];
	static int next;
	char *b = bufs[next++ % 4];

	return cl_exc_repr(e, b, sizeof bufs[0]);
}

static double now(void)
{
	return cl_loop_time(cl_get_running_loop());
}

static struct cl_task *spawn(void *(*fn)(void *), void *arg)
{
	struct cl_task *t = cl_create_task(fn, arg, NULL);

	if (t == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_create_task: %s",
				    strerror(errno)));
	return t;
}

static struct cl_future *new_future(void)
{
	struct cl_future *f = cl_future_new(NULL);

	if (f == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_future_new: %s",
				    strerror(errno)));
	return f;
}

/* Fail the run (main raises) when a combinator returned NULL. */
static struct cl_future *must(struct cl_future *f, const char *what)
{
	if (f == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "%s: %s", what,
				    strerror(errno)));
	return f;
}

/* await t; a CancelledError is noted as "prefix:repr cancelled=..." (the
 * cancelled= part only when with_state). */
static void await_noting(struct cl_task *t, const char *prefix,
			 int with_state)
{
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		if (with_state)
			note("%s:%s cancelled=%s", prefix, R(e),
			     tf(cl_future_cancelled(cl_task_future(t))));
		else
			note("%s:%s", prefix, R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* sleeper(name): sleeps 10 s; a CancelledError is noted and let out. */
static void *sleeper(void *arg)
{
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:%s", (const char *)arg, R(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

/* ---- 6. Cancellation --------------------------------------------------- */

/* ch05_cancel.py, test_cancel_msg_reaches_the_await */
static void *msg_main(void *arg)
{
	struct cl_task *a = spawn(sleeper, "a"), *b = spawn(sleeper, "b");

	(void)arg;
	cl_sleep(0);
	note("cancel=%s", tf(cl_task_cancel_msg(a, "stop")));
	cl_task_cancel(b);
	await_noting(a, "await", 1);
	await_noting(b, "await", 1);
	note("again=%s", tf(cl_task_cancel_msg(a, "x")));
	cl_task_decref(a);
	cl_task_decref(b);
	return NULL;
}

START_TEST(test_cancel_msg_reaches_the_await)
{
	run_on(CL_CLOCK_VIRTUAL, msg_main, NULL);
	EXPECT_TRAIL("cancel=True a:CancelledError('stop') b:CancelledError() "
		     "await:CancelledError('stop') cancelled=True "
		     "await:CancelledError() cancelled=True again=False");
}
END_TEST

/* ch05_cancel.py, test_caught_cancel_lets_the_task_return */
static void *stubborn(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		note("caught:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_sleep(0);
	return CL_INT(42);
}

static void *stubborn_main(void *arg)
{
	struct cl_task *t = spawn(stubborn, NULL);
	void *r;

	(void)arg;
	cl_sleep(0);
	cl_task_cancel_msg(t, "please");
	r = cl_await_task(t);
	note("result=%ld cancelled=%s cancelling=%d", (long)CL_TOINT(r),
	     tf(cl_future_cancelled(cl_task_future(t))), cl_task_cancelling(t));
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_caught_cancel_lets_the_task_return)
{
	run_on(CL_CLOCK_VIRTUAL, stubborn_main, NULL);
	EXPECT_TRAIL("caught:CancelledError('please') result=42 "
		     "cancelled=False cancelling=1");
}
END_TEST

/* ch05_cancel.py, test_cancel_before_first_step */
static void *never(void *arg)
{
	(void)arg;
	note("ran");
	return NULL;
}

static void *early_main(void *arg)
{
	struct cl_task *t = spawn(never, NULL);

	(void)arg;
	cl_task_cancel_msg(t, "early");
	await_noting(t, "await", 0);
	note("cancelled=%s cancelling=%d",
	     tf(cl_future_cancelled(cl_task_future(t))), cl_task_cancelling(t));
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_cancel_before_first_step)
{
	run_on(CL_CLOCK_VIRTUAL, early_main, NULL);
	EXPECT_TRAIL("await:CancelledError('early') cancelled=True "
		     "cancelling=1");
}
END_TEST

/* ch05_cancel.py, test_cancel_travels_to_the_awaited_task */
static void *outer(void *arg)
{
	CL_TRY {
		cl_await_task((struct cl_task *)arg);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("outer:%s", R(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *chain_main(void *arg)
{
	struct cl_task *i = spawn(sleeper, "inner");
	struct cl_task *o = spawn(outer, i);

	(void)arg;
	cl_sleep(0);
	cl_task_cancel_msg(o, "down");
	note("inner.cancelling=%d outer.cancelling=%d", cl_task_cancelling(i),
	     cl_task_cancelling(o));
	await_noting(o, "main", 0);
	note("inner=%s outer=%s", tf(cl_future_cancelled(cl_task_future(i))),
	     tf(cl_future_cancelled(cl_task_future(o))));
	cl_task_decref(i);
	cl_task_decref(o);
	return NULL;
}

START_TEST(test_cancel_travels_to_the_awaited_task)
{
	run_on(CL_CLOCK_VIRTUAL, chain_main, NULL);
	EXPECT_TRAIL("inner.cancelling=1 outer.cancelling=1 "
		     "inner:CancelledError('down') outer:CancelledError('down') "
		     "main:CancelledError('down') inner=True outer=True");
}
END_TEST

/* ch05_cancel.py, test_cancelling_counts_and_uncancel */
static void *counted(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		struct cl_task *t = cl_current_task();

		note("got:%s", R(e));
		note("cancelling=%d", cl_task_cancelling(t));
		note("uncancel=%d", cl_task_uncancel(t));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_sleep(0);
	note("after");
	return "ok";
}

static void *counted_main(void *arg)
{
	struct cl_task *t = spawn(counted, NULL);
	const char *r;

	(void)arg;
	cl_sleep(0);
	cl_task_cancel_msg(t, "one");
	cl_task_cancel_msg(t, "two");
	r = cl_await_task(t);
	note("result=%s cancelling=%d", r, cl_task_cancelling(t));
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_cancelling_counts_and_uncancel)
{
	run_on(CL_CLOCK_VIRTUAL, counted_main, NULL);
	EXPECT_TRAIL("got:CancelledError('one') cancelling=2 uncancel=1 after "
		     "result=ok cancelling=1");
}
END_TEST

/*
 * ch05_cancel.py, test_finally_runs_innermost_first_and_may_await. A
 * Python finally is a catch block that cleans up and raises again (the
 * normal path's copy of the cleanup is never reached here).
 */
static double t0;

static void level3(void)
{
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		note("finally3");
		cl_sleep(1);
		note("cleaned3 t=%.0f", now() - t0);
		cl_raise(e);
	} CL_END_TRY;
}

static void level2(void)
{
	CL_TRY {
		level3();
	} CL_CATCH(e) {
		note("finally2");
		cl_raise(e);
	} CL_END_TRY;
}

static void *level1(void *arg)
{
	(void)arg;
	CL_TRY {
		level2();
	} CL_CATCH(e) {
		note("finally1");
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *finally_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	t0 = now();
	t = spawn(level1, NULL);
	cl_sleep(0);
	cl_task_cancel_msg(t, "bye");
	await_noting(t, "main", 0);
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_finally_runs_innermost_first_and_may_await)
{
	run_on(CL_CLOCK_VIRTUAL, finally_main, NULL);
	EXPECT_TRAIL("finally3 cleaned3 t=1 finally2 finally1 "
		     "main:CancelledError('bye')");
}
END_TEST

/* ch05_cancel.py, test_future_cancel_msg */
static void *waiter(void *arg)
{
	CL_TRY {
		cl_await((struct cl_future *)arg);
	} CL_CATCH(e) {
		note("waiter:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

static void *fut_main(void *arg)
{
	struct cl_future *f = new_future();
	struct cl_task *t = spawn(waiter, f);
	int first, second;

	(void)arg;
	cl_sleep(0);
	first = cl_future_cancel_msg(f, "why");
	second = cl_future_cancel_msg(f, "no");
	note("cancel=%s again=%s", tf(first), tf(second));
	CL_TRY {
		cl_future_result(f);
	} CL_CATCH(e) {
		note("result:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_TRY {
		cl_future_exception(f);
	} CL_CATCH(e) {
		note("exception:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_await_task(t);
	note("task.cancelled=%s", tf(cl_future_cancelled(cl_task_future(t))));
	cl_task_decref(t);
	cl_future_decref(f);
	return NULL;
}

START_TEST(test_future_cancel_msg)
{
	run_on(CL_CLOCK_VIRTUAL, fut_main, NULL);
	EXPECT_TRAIL("cancel=True again=False result:CancelledError('why') "
		     "exception:CancelledError('why') "
		     "waiter:CancelledError('why') task.cancelled=False");
}
END_TEST

/* ch05_cancel.py, test_task_keeps_the_cancelled_error_it_let_out */
static void *raiser(void *arg)
{
	(void)arg;
	cl_sleep(0);
	cl_raise(cl_exc_new(&cl_CancelledError, "%s", "own"));
}

static void *quitter(void *arg)
{
	(void)arg;
	cl_task_cancel_msg(cl_current_task(), "self");
	return CL_INT(1);
}

static void *own_main(void *arg)
{
	struct cl_task *t = spawn(raiser, NULL), *q;

	(void)arg;
	await_noting(t, "first", 0);
	CL_TRY {
		cl_future_result(cl_task_future(t));
	} CL_CATCH(e) {
		note("second:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	q = spawn(quitter, NULL);
	await_noting(q, "quitter", 1);
	cl_task_decref(t);
	cl_task_decref(q);
	return NULL;
}

START_TEST(test_task_keeps_the_cancelled_error_it_let_out)
{
	run_on(CL_CLOCK_VIRTUAL, own_main, NULL);
	EXPECT_TRAIL("first:CancelledError('own') second:CancelledError() "
		     "quitter:CancelledError('self') cancelled=True");
}
END_TEST

/* ch05_cancel.py, test_cancel_taken_by_the_awaited_task */
static void *stubborn_inner(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		note("inner:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	return CL_INT(5);
}

static void *awaits_inner(void *arg)
{
	long r = (long)CL_TOINT(cl_await_task((struct cl_task *)arg));

	note("outer-got=%ld", r);
	return CL_INT(r + 1);
}

static void *taken_main(void *arg)
{
	struct cl_task *i = spawn(stubborn_inner, NULL);
	struct cl_task *o = spawn(awaits_inner, i);
	void *r;

	(void)arg;
	cl_sleep(0);
	note("cancel=%s", tf(cl_task_cancel_msg(o, "down")));
	r = cl_await_task(o);
	note("result=%ld cancelled=%s cancelling=%d", (long)CL_TOINT(r),
	     tf(cl_future_cancelled(cl_task_future(o))), cl_task_cancelling(o));
	cl_task_decref(i);
	cl_task_decref(o);
	return NULL;
}

START_TEST(test_cancel_taken_by_the_awaited_task)
{
	run_on(CL_CLOCK_VIRTUAL, taken_main, NULL);
	EXPECT_TRAIL("cancel=True inner:CancelledError('down') outer-got=5 "
		     "result=6 cancelled=False cancelling=1");
}
END_TEST

/* ch05_cancel.py, test_last_cancel_message_wins (the first message is
 * freed: the sanitizers see a leak otherwise) */
static void *twice_main(void *arg)
{
	struct cl_task *t = spawn(never, NULL);

	(void)arg;
	cl_task_cancel_msg(t, "first");
	cl_task_cancel_msg(t, "second");
	await_noting(t, "await", 0);
	note("cancelling=%d", cl_task_cancelling(t));
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_last_cancel_message_wins)
{
	run_on(CL_CLOCK_VIRTUAL, twice_main, NULL);
	EXPECT_TRAIL("await:CancelledError('second') cancelling=2");
}
END_TEST

/* ch05_cancel.py, test_cancel_replaces_the_exception_on_its_way (the
 * ValueError replaced is dropped: the sanitizers see a leak otherwise) */
static void *waits_on(void *arg)
{
	CL_TRY {
		cl_await((struct cl_future *)arg);
	} CL_CATCH(e) {
		note("got:%s", R(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *replaced_main(void *arg)
{
	struct cl_future *f = new_future();
	struct cl_task *t = spawn(waits_on, f);

	(void)arg;
	cl_sleep(0);
	cl_future_set_exception(f, cl_exc_new(&cl_ValueError, "x"));
	note("cancel=%s", tf(cl_task_cancel(t)));
	await_noting(t, "await", 1);
	cl_task_decref(t);
	cl_future_decref(f);
	return NULL;
}

START_TEST(test_cancel_replaces_the_exception_on_its_way)
{
	run_on(CL_CLOCK_VIRTUAL, replaced_main, NULL);
	EXPECT_TRAIL("cancel=True got:CancelledError() "
		     "await:CancelledError() cancelled=True");
}
END_TEST

/* ---- 7. Shield, gather, wait, as_completed ---------------------------- */

/* A coroutine that sleeps d seconds, then returns v (an int) or name, or
 * raises ValueError('bad') when bad. */
struct job {
	const char *name;
	long v;
	double d;
	int bad;
};

static void *job(void *arg)
{
	const struct job *j = arg;

	cl_sleep(j->d);
	if (j->bad)
		cl_raise(cl_exc_new(&cl_ValueError, "bad"));
	if (j->name != NULL)
		return (void *)j->name;
	return CL_INT(j->v);
}

/* ch05_cancel.py, test_shield_protects_the_inner_task */
static void *work(void *arg)
{
	(void)arg;
	cl_sleep(1);
	note("work-done");
	return CL_INT(7);
}

static void *protected(void *arg)
{
	struct cl_future *s = must(cl_shield(arg), "cl_shield");

	CL_TRY {
		void *r = cl_await(s);

		note("got=%ld", (long)CL_TOINT(r));
	} CL_CATCH(e) {
		note("shielded:%s", R(e));
		cl_future_decref(s);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_decref(s);
	return NULL;
}

static void *shield_main(void *arg)
{
	struct cl_task *w = spawn(work, NULL);
	struct cl_task *p = spawn(protected, cl_task_future(w));
	struct cl_future *s;
	void *r;

	(void)arg;
	cl_sleep(0);
	cl_task_cancel_msg(p, "go");
	CL_TRY {
		cl_await_task(p);
	} CL_CATCH(e) {
		note("p.cancelled=%s w.done=%s",
		     tf(cl_future_cancelled(cl_task_future(p))),
		     tf(cl_task_done(w)));
		cl_exc_decref(e);
	} CL_END_TRY;
	r = cl_await_task(w);
	note("w=%ld", (long)CL_TOINT(r));
	s = must(cl_shield(cl_task_future(w)), "cl_shield");
	note("shortcut=%s", tf(s == cl_task_future(w)));
	cl_future_decref(s);
	cl_task_decref(w);
	cl_task_decref(p);
	return NULL;
}

START_TEST(test_shield_protects_the_inner_task)
{
	run_on(CL_CLOCK_VIRTUAL, shield_main, NULL);
	EXPECT_TRAIL("shielded:CancelledError('go') p.cancelled=True "
		     "w.done=False work-done w=7 shortcut=True");
}
END_TEST

/* ch05_cancel.py, test_shield_follows_the_inner_outcome */
static void await_outcome(struct cl_future *s)
{
	CL_TRY {
		void *r = cl_await(s);

		note("ok:%ld", (long)CL_TOINT(r));
	} CL_CATCH(e) {
		note("raised:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
}

static void *shield_outcomes_main(void *arg)
{
	struct cl_future *fs[3], *ss[3];

	(void)arg;
	for (int i = 0; i < 3; i++) {
		fs[i] = new_future();
		ss[i] = must(cl_shield(fs[i]), "cl_shield");
	}
	cl_future_cancel_msg(fs[0], "inner");
	cl_future_set_exception(fs[1], cl_exc_new(&cl_ValueError, "bad"));
	cl_future_set_result(fs[2], CL_INT(3));
	for (int i = 0; i < 3; i++)
		await_outcome(ss[i]);
	for (int i = 0; i < 3; i++) {
		cl_future_decref(ss[i]);
		cl_future_decref(fs[i]);
	}
	return NULL;
}

START_TEST(test_shield_follows_the_inner_outcome)
{
	run_on(CL_CLOCK_VIRTUAL, shield_outcomes_main, NULL);
	EXPECT_TRAIL("raised:CancelledError() raised:ValueError('bad') ok:3");
}
END_TEST

/* ch05_cancel.py, test_gather_return_exceptions */
static void *gather_rx_main(void *arg)
{
	static const struct job ja = { NULL, 1, 2, 0 }, jb = { NULL, 0, 1, 1 },
				jc = { NULL, 3, 5, 0 };
	struct cl_task *a = spawn(job, (void *)&ja), *b = spawn(job, (void *)&jb),
		       *c = spawn(job, (void *)&jc);
	struct cl_future *f = new_future(), *g;
	char line[512] = "";
	void **r;

	(void)arg;
	g = must(cl_gather_ex(4, (struct cl_future *[]){ cl_task_future(a),
		cl_task_future(b), cl_task_future(c), f }, 1), "cl_gather_ex");
	cl_sleep(0);
	cl_task_cancel_msg(c, "c");
	cl_future_cancel_msg(f, "f");
	r = cl_await(g);
	for (size_t i = 0; i < 4; i++) {
		struct cl_exc *e = cl_gather_exception(g, i);
		size_t len = strlen(line);

		if (e != NULL)
			snprintf(line + len, sizeof line - len, "%s%s",
				 i ? " " : "", R(e));
		else
			snprintf(line + len, sizeof line - len, "%s%ld",
				 i ? " " : "", (long)CL_TOINT(r[i]));
	}
	note("%s", line);
	note("b.retrieved=%s", tf(r[1] == cl_future_exception(cl_task_future(b))));
	cl_future_decref(g);
	cl_future_decref(f);
	cl_task_decref(a);
	cl_task_decref(b);
	cl_task_decref(c);
	return NULL;
}

START_TEST(test_gather_return_exceptions)
{
	run_on(CL_CLOCK_VIRTUAL, gather_rx_main, NULL);
	EXPECT_TRAIL("1 ValueError('bad') CancelledError('') CancelledError('f') "
		     "b.retrieved=True");
}
END_TEST

/* ch05_cancel.py, test_cancel_gather_cancels_children */
static void gather_cancel_round(int rx)
{
	struct cl_task *a = spawn(sleeper, "a"), *b = spawn(sleeper, "b");
	struct cl_future *g;

	g = must(cl_gather_ex(2, (struct cl_future *[]){ cl_task_future(a),
		cl_task_future(b) }, rx), "cl_gather_ex");
	cl_sleep(0);
	note("cancel=%s", tf(cl_future_cancel_msg(g, "stop")));
	CL_TRY {
		cl_await(g);
	} CL_CATCH(e) {
		note("gather:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("a=%s b=%s", tf(cl_future_cancelled(cl_task_future(a))),
	     tf(cl_future_cancelled(cl_task_future(b))));
	cl_future_decref(g);
	cl_task_decref(a);
	cl_task_decref(b);
}

static void *gather_cancel_main(void *arg)
{
	(void)arg;
	gather_cancel_round(0);
	gather_cancel_round(1);
	return NULL;
}

START_TEST(test_cancel_gather_cancels_children)
{
	run_on(CL_CLOCK_VIRTUAL, gather_cancel_main, NULL);
	EXPECT_TRAIL("cancel=True a:CancelledError('stop') "
		     "b:CancelledError('stop') gather:CancelledError('stop') "
		     "a=True b=True cancel=True a:CancelledError('stop') "
		     "b:CancelledError('stop') gather:CancelledError('stop') "
		     "a=True b=True");
}
END_TEST

/*
 * ch05_cancel.py, test_wait_return_when. Python returns the sets (done,
 * pending); cl_wait returns the count, and each future's done flag, read
 * before the next await, is the same partition. The names are listed in
 * order, as the twin sorts them.
 */
static const char *names(char *buf, size_t size, size_t n,
			 struct cl_future *const fs[], const char *const nm[],
			 int done)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (cl_future_done(fs[i]) == done)
			len += snprintf(buf + len, size - len, "%s%s",
					len ? "," : "", nm[i]);
	return len ? buf : "-";
}

static void *wait_main(void *arg)
{
	static const struct job ja = { "a", 0, 1, 0 }, jb = { NULL, 0, 2, 1 },
				jc = { "c", 0, 3, 0 }, jd = { "d", 0, 5, 0 },
				je = { "e", 0, 1, 0 };
	static const char *const when_name[] = { "FIRST_COMPLETED",
						 "FIRST_EXCEPTION",
						 "ALL_COMPLETED" };
	static const char *const abc[] = { "a", "b", "c" }, *const de[] = {
		"d", "e" };
	struct cl_task *a = spawn(job, (void *)&ja), *b = spawn(job, (void *)&jb),
		       *c = spawn(job, (void *)&jc), *d, *e;
	struct cl_future *fs[3] = { cl_task_future(a), cl_task_future(b),
				    cl_task_future(c) }, *fs2[2];
	char b1[64], b2[64];
	double start = now();

	(void)arg;
	for (int w = CL_FIRST_COMPLETED; w <= CL_ALL_COMPLETED; w++) {
		cl_wait(3, fs, w, -1);
		note("%s:t=%.0f:done=%s:pending=%s", when_name[w], now() - start,
		     names(b1, sizeof b1, 3, fs, abc, 1),
		     names(b2, sizeof b2, 3, fs, abc, 0));
	}
	d = spawn(job, (void *)&jd);
	e = spawn(job, (void *)&je);
	fs2[0] = cl_task_future(d);
	fs2[1] = cl_task_future(e);
	cl_wait(2, fs2, CL_ALL_COMPLETED, 2);
	note("timeout:t=%.0f:done=%s:pending=%s:d.cancelled=%s", now() - start,
	     names(b1, sizeof b1, 2, fs2, de, 1),
	     names(b2, sizeof b2, 2, fs2, de, 0), tf(cl_future_cancelled(fs2[0])));
	cl_await_task(d);
	cl_task_decref(a);
	cl_task_decref(b);
	cl_task_decref(c);
	cl_task_decref(d);
	cl_task_decref(e);
	return NULL;
}

START_TEST(test_wait_return_when)
{
	run_on(CL_CLOCK_VIRTUAL, wait_main, NULL);
	EXPECT_TRAIL("FIRST_COMPLETED:t=1:done=a:pending=b,c "
		     "FIRST_EXCEPTION:t=2:done=a,b:pending=c "
		     "ALL_COMPLETED:t=3:done=a,b,c:pending=- "
		     "timeout:t=5:done=e:pending=d:d.cancelled=False");
}
END_TEST

/*
 * ch05_cancel.py, test_as_completed_order_and_timeout. Python yields
 * coroutines whose await returns the result; cl_as_completed_next
 * returns the future, and cl_future_result reads it (or raises).
 */
static int ac_step(struct cl_as_completed *ac, double start)
{
	volatile int more = 1;

	CL_TRY {
		struct cl_future *f = cl_as_completed_next(ac);

		if (f == NULL)
			more = 0;
		else
			note("%s@%.0f", (const char *)cl_future_result(f),
			     now() - start);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_ValueError) &&
		    !cl_exc_matches(e, &cl_TimeoutError))
			cl_raise(e);
		note("%s@%.0f", R(e), now() - start);
		cl_exc_decref(e);
	} CL_END_TRY;
	return more;
}

static void *as_completed_main(void *arg)
{
	static const struct job js = { "slow", 0, 3, 0 },
				jb = { NULL, 0, 2, 1 },
				jf = { "fast", 0, 1, 0 },
				jx = { "x", 0, 1, 0 }, jy = { "y", 0, 5, 0 };
	struct cl_task *t[5];
	struct cl_as_completed *ac;
	double start = now();

	(void)arg;
	t[0] = spawn(job, (void *)&js);
	t[1] = spawn(job, (void *)&jb);
	t[2] = spawn(job, (void *)&jf);
	ac = cl_as_completed_new(3, (struct cl_future *[]){
		cl_task_future(t[0]), cl_task_future(t[1]),
		cl_task_future(t[2]) }, -1);
	if (ac == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_as_completed_new"));
	while (ac_step(ac, start))
		;
	cl_as_completed_free(ac);
	t[3] = spawn(job, (void *)&jx);
	t[4] = spawn(job, (void *)&jy);
	ac = cl_as_completed_new(2, (struct cl_future *[]){
		cl_task_future(t[3]), cl_task_future(t[4]) }, 2);
	if (ac == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_as_completed_new"));
	while (ac_step(ac, start))
		;
	cl_as_completed_free(ac);
	cl_await_task(t[4]);
	for (int i = 0; i < 5; i++)
		cl_task_decref(t[i]);
	return NULL;
}

START_TEST(test_as_completed_order_and_timeout)
{
	run_on(CL_CLOCK_VIRTUAL, as_completed_main, NULL);
	EXPECT_TRAIL("fast@1 ValueError('bad')@2 slow@3 x@4 TimeoutError()@5");
}
END_TEST

/* ch05_cancel.py, test_failed_gather_cannot_be_cancelled */
static void *failed_gather_main(void *arg)
{
	static const struct job ja = { NULL, 0, 1, 1 };
	struct cl_task *a = spawn(job, (void *)&ja), *b = spawn(sleeper, "b");
	struct cl_future *g;

	(void)arg;
	g = must(cl_gather(2, (struct cl_future *[]){ cl_task_future(a),
		cl_task_future(b) }), "cl_gather");
	CL_TRY {
		cl_await(g);
	} CL_CATCH(e) {
		note("gather:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("cancel=%s", tf(cl_future_cancel_msg(g, "stop")));
	cl_sleep(0);
	note("b.done=%s", tf(cl_task_done(b)));
	cl_task_cancel(b);
	await_noting(b, "await", 0);
	cl_future_decref(g);
	cl_task_decref(a);
	cl_task_decref(b);
	return NULL;
}

START_TEST(test_failed_gather_cannot_be_cancelled)
{
	run_on(CL_CLOCK_VIRTUAL, failed_gather_main, NULL);
	EXPECT_TRAIL("gather:ValueError('bad') cancel=False b.done=False "
		     "b:CancelledError() await:CancelledError()");
}
END_TEST

/*
 * ch05_cancel.py, test_combinators_retrieve_what_they_handle. The loop's
 * exception handler notes each report: only the task nobody looked at.
 * A shield's inner future is freed with the exception the shield
 * retrieved; a gather's child with the one gather put in its results; a
 * shield whose inner is cancelled makes no error of it in its callback.
 */
static void on_error(struct cl_loop *loop, const struct cl_exc_context *ctx,
		     void *arg)
{
	(void)loop, (void)arg;
	note("handler:%s:%s", ctx->message,
	     ctx->exception != NULL ? R(ctx->exception) : "None");
}

static void *handled_main(void *arg)
{
	static const struct job jbad = { NULL, 0, 0, 1 };
	struct cl_task *lost, *child, *c;
	struct cl_future *f, *s, *g, *s2;
	void **r;

	(void)arg;
	cl_loop_set_exception_handler(cl_get_running_loop(), on_error, NULL);
	lost = spawn(job, (void *)&jbad);
	f = new_future();
	s = must(cl_shield(f), "cl_shield");
	cl_future_cancel(s);
	cl_future_set_exception(f, cl_exc_new(&cl_ValueError, "shielded"));
	cl_sleep(0);
	note("s.cancelled=%s", tf(cl_future_cancelled(s)));
	child = spawn(job, (void *)&jbad);
	g = must(cl_gather_ex(1, (struct cl_future *[]){ cl_task_future(child) },
			      1), "cl_gather_ex");
	r = cl_await(g);
	note("gather=%s", R(r[0]));
	c = spawn(sleeper, "c");
	s2 = must(cl_shield(cl_task_future(c)), "cl_shield");
	cl_sleep(0);
	cl_task_cancel(c);
	CL_TRY {
		cl_await(s2);
	} CL_CATCH(e) {
		note("shield:%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(lost);
	cl_future_decref(f);
	cl_future_decref(s);
	cl_future_decref(g);
	cl_task_decref(child);
	cl_task_decref(c);
	cl_future_decref(s2);
	note("freed");
	return NULL;
}

START_TEST(test_combinators_retrieve_what_they_handle)
{
	run_on(CL_CLOCK_VIRTUAL, handled_main, NULL);
	EXPECT_TRAIL("s.cancelled=True gather=ValueError('bad') "
		     "c:CancelledError() shield:CancelledError() "
		     "handler:Task exception was never retrieved:"
		     "ValueError('bad') freed");
}
END_TEST

/*
 * ch05_cancel.py, test_as_completed_next_cancelled. Times in tenths of
 * a second. The futures that complete while nobody is in next() are
 * queued with no getter to wake: a getter left behind, freed, would be
 * woken instead (the sanitizers see the use after free).
 */
static double ac_t0;

static long tenths(void)
{
	return (long)((now() - ac_t0) * 10 + 0.5);
}

static void *ac_consumer(void *arg)
{
	struct cl_future **fs = arg, *f;
	struct cl_as_completed *ac;

	ac_t0 = now();
	ac = cl_as_completed_new(5, fs, -1);
	if (ac == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_as_completed_new"));
	CL_TRY {
		cl_as_completed_next(ac);
	} CL_CATCH(e) {
		note("next:%s@%ld", R(e), tenths());
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_sleep(0.3);
	note("slept@%ld", tenths());
	for (int i = 0; i < 3; i++) {
		f = cl_as_completed_next(ac);
		note("%s@%ld", (const char *)cl_future_result(f), tenths());
	}
	cl_sleep(0.3);
	note("slept@%ld", tenths());
	while ((f = cl_as_completed_next(ac)) != NULL)
		note("%s@%ld", (const char *)cl_future_result(f), tenths());
	note("end");
	cl_as_completed_free(ac);
	return NULL;
}

static void *ac_cancel_main(void *arg)
{
	static const struct job js[5] = { { "a", 0, 0.1, 0 },
					  { "b", 0, 0.2, 0 },
					  { "c", 0, 0.4, 0 },
					  { "d", 0, 0.6, 0 },
					  { "e", 0, 0.8, 0 } };
	struct cl_task *t[5], *c;
	struct cl_future *fs[5];

	(void)arg;
	for (int i = 0; i < 5; i++) {
		t[i] = spawn(job, (void *)&js[i]);
		fs[i] = cl_task_future(t[i]);
	}
	c = spawn(ac_consumer, fs);
	cl_sleep(0);
	cl_task_cancel(c);
	cl_await_task(c);
	cl_await_task(t[4]);
	cl_task_decref(c);
	for (int i = 0; i < 5; i++)
		cl_task_decref(t[i]);
	return NULL;
}

START_TEST(test_as_completed_next_cancelled)
{
	run_on(CL_CLOCK_VIRTUAL, ac_cancel_main, NULL);
	EXPECT_TRAIL("next:CancelledError()@0 slept@3 a@3 b@3 c@4 slept@7 d@7 "
		     "end");
}
END_TEST

/*
 * The timer of a wait is cancelled by the done callback that ends the
 * wait, before the waiting task is woken (tasks.py _on_completion:
 * timeout_handle.cancel(), then waiter.set_result). CPython has no
 * trace to show it: the tracer's order of "timer.cancel" and main's
 * "wake" does, each event noted with its time in seconds. Task 1 is
 * main, task 2 the child, done at 1 s; the timeout is 5 s.
 */
static void *traced_wait_main(void *arg)
{
	static const struct job jc = { "c", 0, 1, 0 };
	struct cl_task *c = spawn(job, (void *)&jc);
	struct cl_future *fs[1] = { cl_task_future(c) };

	(void)arg;
	note("done=%zu", cl_wait(1, fs, CL_ALL_COMPLETED, 5));
	cl_task_decref(c);
	return NULL;
}

START_TEST(test_wait_cancels_its_timer_before_the_wake)
{
	char path[] = "/tmp/corolab-ch05w-XXXXXX", line[512];
	int fd = mkstemp(path);
	FILE *f;

	CL_EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	CL_EXPECT_INT(cl_trace_open(path), 0);
	run_on(CL_CLOCK_VIRTUAL, traced_wait_main, NULL);
	cl_trace_close();
	f = fopen(path, "r");
	CL_EXPECT(f != NULL, "cannot read the trace back");
	while (fgets(line, sizeof line, f) != NULL) {
		long us;
		char name[16], rest[256];

		if (line[0] == '#' ||
		    sscanf(line, "%*d %ld %*d %15s %255[^\n]", &us, name,
			   rest) != 3)
			continue;
		if (strcmp(name, "timer.cancel") == 0 ||
		    ((strcmp(name, "wake") == 0 ||
		      strcmp(name, "step.begin") == 0) &&
		     strncmp(rest, "task=1 ", 7) == 0))
			note("%g:%s:%.*s", us / 1e6, name,
			     (int)strcspn(rest, " "), rest);
	}
	fclose(f);
	unlink(path);
	EXPECT_TRAIL("done=1 0:wake:task=1 0:step.begin:task=1 "
		     "1:timer.cancel:timer=1 1:wake:task=1 1:step.begin:task=1");
}
END_TEST

static void add_cancel_tests(void)
{
	cl_test(test_cancel_msg_reaches_the_await, 2, SEC_CANCEL);
	cl_test(test_caught_cancel_lets_the_task_return, 2, SEC_CANCEL);
	cl_test(test_cancel_before_first_step, 2, SEC_CANCEL);
	cl_test(test_cancel_travels_to_the_awaited_task, 3, SEC_CANCEL);
	cl_test(test_cancelling_counts_and_uncancel, 2, SEC_CANCEL);
	cl_test(test_finally_runs_innermost_first_and_may_await, 2,
		SEC_CANCEL);
	cl_test(test_future_cancel_msg, 2, SEC_CANCEL);
	cl_test(test_task_keeps_the_cancelled_error_it_let_out, 2, SEC_CANCEL);
	cl_test(test_cancel_taken_by_the_awaited_task, 2, SEC_CANCEL);
	cl_test(test_last_cancel_message_wins, 1, SEC_CANCEL);
	cl_test(test_cancel_replaces_the_exception_on_its_way, 2, SEC_CANCEL);
	cl_test(test_shield_protects_the_inner_task, 3, SEC_COMBINE);
	cl_test(test_shield_follows_the_inner_outcome, 2, SEC_COMBINE);
	cl_test(test_gather_return_exceptions, 3, SEC_COMBINE);
	cl_test(test_cancel_gather_cancels_children, 2, SEC_COMBINE);
	cl_test(test_wait_return_when, 3, SEC_COMBINE);
	cl_test(test_as_completed_order_and_timeout, 3, SEC_COMBINE);
	cl_test(test_failed_gather_cannot_be_cancelled, 2, SEC_COMBINE);
	cl_test(test_combinators_retrieve_what_they_handle, 2, SEC_COMBINE);
	cl_test(test_as_completed_next_cancelled, 2, SEC_COMBINE);
	cl_test(test_wait_cancels_its_timer_before_the_wake, 1, SEC_COMBINE);
}

CL_CHAPTER(5, "05-exceptions", "exceptions", add_cancel_tests)
