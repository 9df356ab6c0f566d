/*
 * ch05_taskgroup.c - chapter 05: TaskGroup, timeout(), timeout_at(),
 * wait_for.
 *
 * Every expectation here is what CPython 3.11's asyncio does with the
 * same program, written in tests/py/ch05_taskgroup.py (the comment above
 * each test names the block; run it with python3 and compare). The twin
 * runs on a virtual clock like ours, so times are exact on both sides.
 *
 * Where the C must differ from the Python: "async with" is spelled as an
 * enter, a CL_TRY around the block, and an exit that receives what the
 * block raised (TIMEOUT_BLOCK below; cl_taskgroup_run for groups), and a
 * coroutine passed to wait_for is a task created first (Python's
 * wait_for wraps it in one itself, after arming its timer: the order of
 * events is the same, since a new task only starts at the next
 * iteration).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "future.h"
#include "grade.h"
#include "handler.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "taskgroup.h"
#include "timeouts.h"
#include "trace.h"
#include "trail.h"

#define SEC_TG "8. TaskGroup"
#define SEC_TIMEOUT "9. Timeouts"

/* Fail unless the log reads want. */
#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

static void *run_ok(void *(*fn)(void *), void *arg)
{
	return run_on(CL_CLOCK_VIRTUAL, fn, arg);
}

/* The loop's clock as Python's f"{loop.time():g}" prints it. */
static const char *now(void)
{
	static char buf[8][32];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof buf[i], "%g",
		 cl_loop_time(cl_get_running_loop()));
	return buf[i];
}

/* ",".join(repr(e) for e in eg.exceptions) */
static const char *names(const struct cl_exc *eg)
{
	static char out[512];
	char one[128];

	out[0] = '\0';
	for (size_t i = 0; i < eg->nmembers; i++) {
		if (i > 0)
			strncat(out, ",", sizeof out - strlen(out) - 1);
		strncat(out, cl_exc_repr(eg->members[i], one, sizeof one),
			sizeof out - strlen(out) - 1);
	}
	return out;
}

/* Not what the test expects: let it out, so that run_on fails with it. */
static void expect_type(struct cl_exc *e, const struct cl_exc_type *type)
{
	if (!cl_exc_matches(e, type))
		cl_raise(e);
}

/* What a child does: its name, how long it sleeps, what it raises. */
struct job {
	const char *name;
	double d;
	const struct cl_exc_type *type;
	const char *msg;
};

/* sleeper(name, d): sleep, note, return the name. */
static void *sleeper(void *arg)
{
	const struct job *j = arg;

	cl_sleep(j->d);
	note("%s@%s", j->name, now());
	return (void *)j->name;
}

/* fail_after(name, d, exc) */
static void *fail_after(void *arg)
{
	const struct job *j = arg;

	cl_sleep(j->d);
	note("%s:raise@%s", j->name, now());
	cl_raise(cl_exc_new(j->type, "%s", j->msg));
}

/* Sleep d; note "name:cancelled@t" if cancelled, and raise again. */
static void sleep_noting(const char *name, double d)
{
	CL_TRY {
		cl_sleep(d);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:cancelled@%s", name, now());
		cl_raise(e);
	} CL_END_TRY;
}

/* cancellable(name, d) */
static void *cancellable(void *arg)
{
	const struct job *j = arg;

	sleep_noting(j->name, j->d);
	return NULL;
}

/* fail_on_cancel(name, d): cancelled, it fails in its cleanup. */
static void *fail_on_cancel(void *arg)
{
	const struct job *j = arg;

	CL_TRY {
		cl_sleep(j->d);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		cl_sleep(1);
		note("%s:cleanup-fails@%s", j->name, now());
		cl_exc_decref(e); /* the new one's __context__ keeps it */
		cl_raise(cl_exc_new(&cl_KeyError, "%s", j->name));
	} CL_END_TRY;
	return NULL;
}

/* A task the test keeps an eye on (each test runs in a process of its
 * own, so a static is private to it). */
static struct cl_task *kept;

/* ---- 8. TaskGroup ---------------------------------------------------- */

static const struct job job_a3 = { "a", 3, NULL, NULL };
static const struct job job_b1 = { "b", 1, NULL, NULL };
static const struct job job_c2 = { "c", 2, NULL, NULL };

/* ch05_taskgroup.py, test_taskgroup_waits_for_all_children. The enter
 * and exit as two calls, the group kept until the results are read. */
static void *waits_main(void *arg)
{
	struct cl_taskgroup *tg = cl_taskgroup_new();
	struct cl_task *a, *b, *c;

	(void)arg;
	a = cl_taskgroup_create_task(tg, sleeper, (void *)&job_a3, NULL);
	b = cl_taskgroup_create_task(tg, sleeper, (void *)&job_b1, NULL);
	c = cl_taskgroup_create_task(tg, sleeper, (void *)&job_c2, NULL);
	note("body");
	cl_taskgroup_wait(tg, NULL);
	note("exit@%s %s%s%s", now(), (char *)cl_future_result(&a->fut),
	     (char *)cl_future_result(&b->fut),
	     (char *)cl_future_result(&c->fut));
	cl_taskgroup_decref(tg);
	return NULL;
}

START_TEST(test_taskgroup_waits_for_all_children)
{
	run_ok(waits_main, NULL);
	EXPECT_TRAIL("body b@1 c@2 a@3 exit@3 abc");
}
END_TEST

static const struct job job_fail_a1 = { "a", 1, &cl_ValueError, "a" };
static const struct job job_b5 = { "b", 5, NULL, NULL };

static void first_failure_body(struct cl_taskgroup *tg, void *arg)
{
	(void)arg;
	cl_taskgroup_create_task(tg, fail_after, (void *)&job_fail_a1, NULL);
	kept = cl_task_incref(cl_taskgroup_create_task(tg, cancellable,
						       (void *)&job_b5, NULL));
	sleep_noting("body", 10);
}

/* ch05_taskgroup.py, test_taskgroup_first_failure_cancels_the_rest */
static void *first_failure_main(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_taskgroup_run(first_failure_body, NULL);
	} CL_CATCH(e) {
		expect_type(e, &cl_ExceptionGroup);
		note("%s:%s:[%s]", cl_exc_name(e), cl_exc_message(e), names(e));
		note("cause=%s b=%s",
		     cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e)) : "None",
		     tf(cl_future_cancelled(&kept->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(kept);
	note("cancelling=%d", cl_task_cancelling(cl_current_task()));
	cl_sleep(1);
	note("after@%s", now());
	return NULL;
}

START_TEST(test_taskgroup_first_failure_cancels_the_rest)
{
	run_ok(first_failure_main, NULL);
	EXPECT_TRAIL("a:raise@1 b:cancelled@1 body:cancelled@1 "
		     "ExceptionGroup:unhandled errors in a TaskGroup:"
		     "[ValueError('a')] cause=None b=True cancelling=0 after@2");
}
END_TEST

static const struct job job_a5 = { "a", 5, NULL, NULL };
static const struct job job_fail_b1 = { "b", 1, &cl_ValueError, "b" };
static const struct job job_c5 = { "c", 5, NULL, NULL };

static void order_body(struct cl_taskgroup *tg, void *arg)
{
	(void)arg;
	cl_taskgroup_create_task(tg, fail_on_cancel, (void *)&job_a5, NULL);
	cl_taskgroup_create_task(tg, fail_after, (void *)&job_fail_b1, NULL);
	kept = cl_task_incref(cl_taskgroup_create_task(tg, cancellable,
						       (void *)&job_c5, NULL));
}

/* ch05_taskgroup.py, test_taskgroup_errors_in_completion_order */
static void *order_main(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_taskgroup_run(order_body, NULL);
	} CL_CATCH(e) {
		expect_type(e, &cl_ExceptionGroup);
		note("[%s]@%s c=%s", names(e), now(),
		     tf(cl_future_cancelled(&kept->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(kept);
	return NULL;
}

START_TEST(test_taskgroup_errors_in_completion_order)
{
	run_ok(order_main, NULL);
	EXPECT_TRAIL("b:raise@1 c:cancelled@1 a:cleanup-fails@2 "
		     "[ValueError('b'),KeyError('a')]@2 c=True");
}
END_TEST

static const struct job job_b5_fails = { "b", 5, NULL, NULL };

static void body_error_body(struct cl_taskgroup *tg, void *arg)
{
	(void)arg;
	cl_taskgroup_create_task(tg, cancellable, (void *)&job_a5, NULL);
	cl_taskgroup_create_task(tg, fail_on_cancel, (void *)&job_b5_fails,
				 NULL);
	cl_sleep(1);
	note("body:raise@%s", now());
	cl_raise(cl_exc_new(&cl_ZeroDivisionError, "body"));
}

/* ch05_taskgroup.py, test_taskgroup_body_error_joins_the_group */
static void *body_error_main(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_taskgroup_run(body_error_body, NULL);
	} CL_CATCH(e) {
		expect_type(e, &cl_ExceptionGroup);
		note("[%s]@%s", names(e), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	note("cancelling=%d", cl_task_cancelling(cl_current_task()));
	return NULL;
}

START_TEST(test_taskgroup_body_error_joins_the_group)
{
	run_ok(body_error_main, NULL);
	EXPECT_TRAIL("body:raise@1 a:cancelled@1 b:cleanup-fails@2 "
		     "[KeyError('b'),ZeroDivisionError('body')]@2 "
		     "cancelling=0");
}
END_TEST

/* wrapper(name, body_sleep): a group around a child and a sleep. */
struct wrapper_job {
	const char *name;
	double body_sleep;
	struct job child;
};

static void wrapper_body(struct cl_taskgroup *tg, void *arg)
{
	const struct wrapper_job *w = arg;

	cl_taskgroup_create_task(tg, cancellable, (void *)&w->child, NULL);
	cl_sleep(w->body_sleep);
	note("%s:body-done@%s", w->name, now());
}

static void *wrapper(void *arg)
{
	const struct wrapper_job *w = arg;

	CL_TRY {
		cl_taskgroup_run(wrapper_body, arg);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:CancelledError@%s", w->name, now());
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static const struct wrapper_job w1_job = { "w1", 10, { "w1.child", 10, NULL, NULL } };
static const struct wrapper_job w2_job = { "w2", 0, { "w2.child", 10, NULL, NULL } };

/* await t, which must end cancelled. */
static void await_cancelled(struct cl_task *t)
{
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* ch05_taskgroup.py, test_taskgroup_outside_cancel_propagates */
static void *outside_main(void *arg)
{
	struct cl_task *w[2];

	(void)arg;
	w[0] = cl_create_task(wrapper, (void *)&w1_job, NULL);
	w[1] = cl_create_task(wrapper, (void *)&w2_job, NULL);
	cl_sleep(1);
	cl_task_cancel(w[0]);
	cl_task_cancel(w[1]);
	await_cancelled(w[0]);
	await_cancelled(w[1]);
	note("w1=%s w2=%s", tf(cl_future_cancelled(&w[0]->fut)),
	     tf(cl_future_cancelled(&w[1]->fut)));
	cl_task_decref(w[0]);
	cl_task_decref(w[1]);
	return NULL;
}

START_TEST(test_taskgroup_outside_cancel_propagates)
{
	run_ok(outside_main, NULL);
	EXPECT_TRAIL("w2:body-done@0 w1.child:cancelled@1 "
		     "w2.child:cancelled@1 w1:CancelledError@1 "
		     "w2:CancelledError@1 w1=True w2=True");
}
END_TEST

static const struct job job_late = { "late", 1, NULL, NULL };
static const struct job job_x1 = { "x", 1, NULL, NULL };

/* tg.create_task(sleeper("late", 1)), noting the RuntimeError. */
static void try_create(struct cl_taskgroup *tg)
{
	CL_TRY {
		cl_taskgroup_create_task(tg, sleeper, (void *)&job_late, NULL);
		note("created");
	} CL_CATCH(e) {
		expect_type(e, &cl_RuntimeError);
		note("%s:%s", cl_exc_name(e), cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* ch05_taskgroup.py, test_taskgroup_create_task_when_finished_or_aborting.
 * The group outlives its exit, so the enter and the exit are two calls. */
static void *refused_main(void *arg)
{
	struct cl_taskgroup *tg = cl_taskgroup_new();
	struct cl_exc *volatile body_exc = NULL;

	(void)arg;
	CL_TRY {
		cl_taskgroup_create_task(tg, fail_after, (void *)&job_fail_a1,
					 NULL);
		cl_taskgroup_create_task(tg, cancellable, (void *)&job_b5,
					 NULL);
		CL_TRY {
			cl_sleep(10);
		} CL_CATCH(e) {
			try_create(tg);
			cl_raise(e);
		} CL_END_TRY;
	} CL_CATCH(e) {
		body_exc = e;
	} CL_END_TRY;
	CL_TRY {
		cl_taskgroup_wait(tg, body_exc);
	} CL_CATCH(e) {
		expect_type(e, &cl_ExceptionGroup);
		note("[%s]", names(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	try_create(tg);
	cl_taskgroup_decref(tg);

	tg = cl_taskgroup_new();
	cl_taskgroup_create_task(tg, sleeper, (void *)&job_x1, NULL);
	cl_taskgroup_wait(tg, NULL);
	try_create(tg);
	cl_taskgroup_decref(tg);
	return NULL;
}

START_TEST(test_taskgroup_create_task_when_finished_or_aborting)
{
	run_ok(refused_main, NULL);
	EXPECT_TRAIL("a:raise@1 b:cancelled@1 RuntimeError:TaskGroup "
		     "<TaskGroup tasks=1 errors=1 cancelling> is shutting "
		     "down [ValueError('a')] RuntimeError:TaskGroup "
		     "<TaskGroup cancelling> is finished x@2 "
		     "RuntimeError:TaskGroup <TaskGroup entered> is finished");
}
END_TEST

/* The loop's exception handler of the next test: the report, as the
 * twin's on_orphan notes it. */
static void on_orphan(struct cl_loop *loop, const struct cl_exc_context *ctx,
		      void *arg)
{
	char buf[128];

	(void)loop, (void)arg;
	note("report:%s:%s@%s:task=%s", ctx->message,
	     cl_exc_repr(ctx->exception, buf, sizeof buf), now(),
	     ctx->task ? cl_task_name(ctx->task) : "None");
}

static struct cl_task *orphans[3];
static const struct job job_b2 = { "b", 2, NULL, NULL };

/* The parent: a group entered and never exited, then KeyError. */
static void *orphan_parent(void *arg)
{
	struct cl_taskgroup *tg = cl_taskgroup_new();

	(void)arg;
	orphans[0] = cl_task_incref(cl_taskgroup_create_task(
		tg, fail_after, (void *)&job_fail_a1, "a"));
	orphans[1] = cl_task_incref(cl_taskgroup_create_task(
		tg, sleeper, (void *)&job_b2, "b"));
	orphans[2] = cl_task_incref(cl_taskgroup_create_task(
		tg, cancellable, (void *)&job_c5, "c"));
	cl_taskgroup_decref(tg); /* the children's callbacks keep it */
	cl_raise(cl_exc_new(&cl_KeyError, "parent"));
}

/* ch05_taskgroup.py, test_taskgroup_child_fails_after_parent_completed */
static void *orphaned_main(void *arg)
{
	struct cl_task *p;
	char buf[64];

	(void)arg;
	cl_loop_set_exception_handler(cl_get_running_loop(), on_orphan, NULL);
	p = cl_create_task(orphan_parent, NULL, "parent");
	CL_TRY {
		cl_await_task(p);
	} CL_CATCH(e) {
		expect_type(e, &cl_KeyError);
		note("parent:%s@%s", cl_exc_repr(e, buf, sizeof buf), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_cancel(orphans[2]);
	cl_sleep(3);
	note("b.cancelled=%s c.cancelled=%s",
	     tf(cl_future_cancelled(&orphans[1]->fut)),
	     tf(cl_future_cancelled(&orphans[2]->fut)));
	for (int i = 0; i < 3; i++)
		cl_task_decref(orphans[i]);
	cl_task_decref(p);
	return NULL;
}

START_TEST(test_taskgroup_child_fails_after_parent_completed)
{
	run_ok(orphaned_main, NULL);
	EXPECT_TRAIL("parent:KeyError('parent')@0 c:cancelled@0 a:raise@1 "
		     "report:Task <Task finished name='a' "
		     "exception=ValueError('a')> has errored out but its "
		     "parent task <Task finished name='parent' "
		     "exception=KeyError('parent')> is already completed:"
		     "ValueError('a')@1:task=a b@2 b.cancelled=False "
		     "c.cancelled=True");
}
END_TEST

/* ---- 9. Timeouts ----------------------------------------------------- */

/*
 * async with: enter; the block in a CL_TRY; the exit gets what the
 * block raised. The timeouts are static: the block's CL_TRY may longjmp,
 * and a struct kept in memory is what survives it.
 */
#define TIMEOUT_BLOCK(tm, enter, ...)                                        \
	do {                                                                 \
		struct cl_exc *volatile raised_ = NULL;                      \
		enter;                                                       \
		CL_TRY {                                                     \
			__VA_ARGS__;                                         \
		} CL_CATCH(x_) {                                             \
			raised_ = x_;                                        \
		} CL_END_TRY;                                                \
		cl_timeout_exit(tm, raised_);                                \
	} while (0)

static struct cl_timeout tm, inner;

/* ch05_taskgroup.py, test_timeout_converts_its_cancel */
static void *converts_main(void *arg)
{
	char buf[64];

	(void)arg;
	TIMEOUT_BLOCK(&tm, cl_timeout_enter(&tm, 5), cl_sleep(1));
	note("in-time@%s expired=%s", now(), tf(cl_timeout_expired(&tm)));
	CL_TRY {
		TIMEOUT_BLOCK(&tm, cl_timeout_enter(&tm, 1),
			      sleep_noting("body", 5));
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError:%s@%s cause=%s",
		     cl_exc_repr(e, buf, sizeof buf), now(),
		     cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e)) : "None");
		cl_exc_decref(e);
	} CL_END_TRY;
	note("expired=%s when=%g cancelling=%d", tf(cl_timeout_expired(&tm)),
	     cl_timeout_when(&tm), cl_task_cancelling(cl_current_task()));
	return NULL;
}

START_TEST(test_timeout_converts_its_cancel)
{
	run_ok(converts_main, NULL);
	EXPECT_TRAIL("in-time@1 expired=False body:cancelled@2 "
		     "TimeoutError:TimeoutError()@2 cause=CancelledError "
		     "expired=True when=2 cancelling=0");
}
END_TEST

static void reschedule_block(void)
{
	struct cl_loop *loop = cl_get_running_loop();

	note("when=%g", cl_timeout_when(&tm));
	cl_sleep(1);
	cl_timeout_reschedule(&tm, cl_loop_time(loop) + 3);
	note("when=%g", cl_timeout_when(&tm));
	cl_timeout_reschedule(&tm, CL_TIMEOUT_NEVER);
	note("when=%s", isinf(cl_timeout_when(&tm)) ? "None" : "?");
	cl_sleep(1);
	cl_timeout_reschedule(&tm, cl_loop_time(loop) + 1);
	cl_sleep(10);
}

/* ch05_taskgroup.py, test_timeout_reschedule */
static void *reschedule_main(void *arg)
{
	(void)arg;
	CL_TRY {
		TIMEOUT_BLOCK(&tm, cl_timeout_enter(&tm, 2),
			      reschedule_block());
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError@%s expired=%s", now(),
		     tf(cl_timeout_expired(&tm)));
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_TRY {
		cl_timeout_reschedule(&tm, 100);
	} CL_CATCH(e) {
		expect_type(e, &cl_RuntimeError);
		note("RuntimeError:%s", cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

START_TEST(test_timeout_reschedule)
{
	run_ok(reschedule_main, NULL);
	EXPECT_TRAIL("when=2 when=4 when=None TimeoutError@3 expired=True "
		     "RuntimeError:Cannot change state of expired Timeout");
}
END_TEST

/* ch05_taskgroup.py, test_timeout_at_past_deadline */
static void *past_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_sleep(2);
	CL_TRY {
		TIMEOUT_BLOCK(&tm, cl_timeout_at_enter(&tm,
						       cl_loop_time(loop) - 1),
			      note("body"); cl_sleep(0); note("not-reached"));
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError@%s when=%g", now(), cl_timeout_when(&tm));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

START_TEST(test_timeout_at_past_deadline)
{
	run_ok(past_main, NULL);
	EXPECT_TRAIL("body TimeoutError@2 when=1");
}
END_TEST

static void nested_inner(void)
{
	CL_TRY {
		TIMEOUT_BLOCK(&inner, cl_timeout_enter(&inner, 5),
			      cl_sleep(10));
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("inner:CancelledError@%s inner.expired=%s", now(),
			     tf(cl_timeout_expired(&inner)));
		cl_raise(e);
	} CL_END_TRY;
}

/* ch05_taskgroup.py, test_nested_timeouts_only_the_one_that_fired_converts */
static void *nested_main(void *arg)
{
	(void)arg;
	CL_TRY {
		TIMEOUT_BLOCK(&tm, cl_timeout_enter(&tm, 1), nested_inner());
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("outer:TimeoutError outer.expired=%s",
		     tf(cl_timeout_expired(&tm)));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

START_TEST(test_nested_timeouts_only_the_one_that_fired_converts)
{
	run_ok(nested_main, NULL);
	EXPECT_TRAIL("inner:CancelledError@1 inner.expired=False "
		     "outer:TimeoutError outer.expired=True");
}
END_TEST

static void *victim_of_both(void *arg)
{
	(void)arg;
	CL_TRY {
		TIMEOUT_BLOCK(&tm, cl_timeout_enter(&tm, 1), cl_sleep(5));
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("CancelledError@%s expired=%s cancelling=%d",
			     now(), tf(cl_timeout_expired(&tm)),
			     cl_task_cancelling(cl_current_task()));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void cancel_cb(void *arg)
{
	cl_task_cancel(arg);
}

/* ch05_taskgroup.py, test_timeout_does_not_swallow_outside_cancel */
static void *both_main(void *arg)
{
	struct cl_task *t = cl_create_task(victim_of_both, NULL, NULL);

	(void)arg;
	cl_sleep(0);
	cl_loop_call_later(cl_get_running_loop(), 1, cancel_cb, t);
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		note("t.cancelled=%s", tf(cl_future_cancelled(&t->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_timeout_does_not_swallow_outside_cancel)
{
	run_ok(both_main, NULL);
	EXPECT_TRAIL("CancelledError@1 expired=True cancelling=1 "
		     "t.cancelled=True");
}
END_TEST

static void *value_after(void *arg)
{
	cl_sleep(1);
	return arg;
}

static const struct job job_slow = { "slow", 5, NULL, NULL };

/* ch05_taskgroup.py, test_wait_for_result_or_timeout */
static void *result_or_timeout_main(void *arg)
{
	struct cl_task *t = cl_create_task(value_after, CL_INT(42), NULL);
	char buf[64];
	void *v;

	(void)arg;
	v = cl_wait_for(&t->fut, 5);
	note("got=%ld@%s", (long)CL_TOINT(v), now());
	cl_task_decref(t);
	t = cl_create_task(cancellable, (void *)&job_slow, NULL);
	CL_TRY {
		cl_wait_for(&t->fut, 1);
		note("no timeout");
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError:%s@%s cause=%s t.cancelled=%s",
		     cl_exc_repr(e, buf, sizeof buf), now(),
		     cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e)) : "None",
		     tf(cl_future_cancelled(&t->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_wait_for_result_or_timeout)
{
	run_ok(result_or_timeout_main, NULL);
	EXPECT_TRAIL("got=42@1 slow:cancelled@2 TimeoutError:TimeoutError()@2 "
		     "cause=CancelledError t.cancelled=True");
}
END_TEST

/* slow_cleanup(then): cancelled, it takes 2 s to clean up, then lets
 * the CancelledError out, returns, or fails. */
static void *slow_cleanup(void *arg)
{
	const char *then = arg;

	CL_TRY {
		cl_sleep(5);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		cl_sleep(2);
		note("%s:cleaned@%s", then, now());
		if (strcmp(then, "raise") == 0)
			cl_raise(e);
		cl_exc_decref(e);
		if (strcmp(then, "fail") == 0)
			cl_raise(cl_exc_new(&cl_KeyError, "%s", then));
		return (void *)then;
	} CL_END_TRY;
	return NULL;
}

/* One round: wait_for(slow_cleanup(then), 1). A function of its own: a
 * CL_TRY inside a loop would need the counter volatile (exc.h rule 2). */
static void wait_for_cleanup(const char *then)
{
	struct cl_task *t = cl_create_task(slow_cleanup, (void *)then, NULL);
	char buf[64];

	CL_TRY {
		const char *v = cl_wait_for(&t->fut, 1);

		note("got=%s@%s", v, now());
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_TimeoutError))
			note("TimeoutError@%s cause=%s", now(),
			     cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e))
					     : "None");
		else if (cl_exc_matches(e, &cl_KeyError))
			note("KeyError:%s@%s", cl_exc_str(e, buf, sizeof buf),
			     now());
		else
			cl_raise(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
}

/* ch05_taskgroup.py, test_wait_for_waits_for_the_cancel */
static void *waits_cancel_main(void *arg)
{
	(void)arg;
	wait_for_cleanup("raise");
	wait_for_cleanup("return");
	wait_for_cleanup("fail");
	return NULL;
}

START_TEST(test_wait_for_waits_for_the_cancel)
{
	run_ok(waits_cancel_main, NULL);
	EXPECT_TRAIL("raise:cleaned@3 TimeoutError@3 cause=CancelledError "
		     "return:cleaned@6 got=return@6 fail:cleaned@9 "
		     "KeyError:'fail'@9");
}
END_TEST

/* w: wait_for(t, 1), noting a CancelledError on its way out. */
static void *w_main(void *arg)
{
	struct cl_task *t = arg;

	CL_TRY {
		cl_wait_for(&t->fut, 1);
		note("no cancel");
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("w:CancelledError@%s t.done=%s", now(),
			     tf(cl_task_done(t)));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

/* ch05_taskgroup.py, test_wait_for_cancelled_while_waiting_for_the_cancel */
static void *waiting_cancel_main(void *arg)
{
	struct cl_task *t = cl_create_task(slow_cleanup, (void *)"raise", NULL);
	struct cl_task *w = cl_create_task(w_main, t, NULL);

	(void)arg;
	cl_loop_call_later(cl_get_running_loop(), 2, cancel_cb, w);
	CL_TRY {
		cl_await_task(w);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		note("w.cancelled=%s@%s", tf(cl_future_cancelled(&w->fut)),
		     now());
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		expect_type(e, &cl_CancelledError);
		note("t.cancelled=%s@%s", tf(cl_future_cancelled(&t->fut)),
		     now());
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(w);
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_wait_for_cancelled_while_waiting_for_the_cancel)
{
	run_ok(waiting_cancel_main, NULL);
	EXPECT_TRAIL("w:CancelledError@2 t.done=False w.cancelled=True@2 "
		     "raise:cleaned@3 t.cancelled=True@3");
}
END_TEST

static const struct job job_t5 = { "t", 5, NULL, NULL };

/* ch05_taskgroup.py, test_wait_for_zero_timeout */
static void *zero_main(void *arg)
{
	struct cl_future *f = cl_future_new(NULL);
	struct cl_task *t;

	(void)arg;
	cl_future_set_result(f, "ready");
	note("got=%s", (char *)cl_wait_for(f, 0));
	cl_future_decref(f);
	t = cl_create_task(cancellable, (void *)&job_t5, NULL);
	CL_TRY {
		cl_wait_for(&t->fut, -1);
		note("no timeout");
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError@%s cause=%s t.cancelled=%s", now(),
		     cl_exc_cause(e) ? cl_exc_name(cl_exc_cause(e)) : "None",
		     tf(cl_future_cancelled(&t->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_wait_for_zero_timeout)
{
	run_ok(zero_main, NULL);
	EXPECT_TRAIL("got=ready TimeoutError@0 cause=CancelledError "
		     "t.cancelled=True");
}
END_TEST

/* f.set_result(value) as a loop callback; call_at(when, ...) of it. */
struct set_later {
	struct cl_future *f;
	const char *value;
	double when;
};

static void set_result_cb(void *arg)
{
	struct set_later *s = arg;

	cl_future_set_result(s->f, (void *)s->value);
}

static void call_at_cb(void *arg)
{
	struct set_later *s = arg;

	cl_loop_call_at(cl_get_running_loop(), s->when, set_result_cb, s);
}

/* ch05_taskgroup.py, test_wait_for_result_at_the_deadline_wins */
static void *at_deadline_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	static struct set_later first, second;
	struct cl_future *f = cl_future_new(NULL);
	void *v;

	(void)arg;
	first = (struct set_later){ f, "first", 0 };
	cl_loop_call_later(loop, 1, set_result_cb, &first);
	v = cl_wait_for(f, 1); /* before now(): arguments have no order */
	note("got=%s@%s", (char *)v, now());
	cl_future_decref(f);

	f = cl_future_new(NULL);
	second = (struct set_later){ f, "second", cl_loop_time(loop) + 1 };
	cl_loop_call_soon(loop, call_at_cb, &second);
	v = cl_wait_for(f, 1);
	note("got=%s@%s", (char *)v, now());
	cl_future_decref(f);

	f = cl_future_new(NULL);
	CL_TRY {
		cl_wait_for(f, 1);
		note("no timeout");
	} CL_CATCH(e) {
		expect_type(e, &cl_TimeoutError);
		note("TimeoutError@%s f.cancelled=%s", now(),
		     tf(cl_future_cancelled(f)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_future_decref(f);
	return NULL;
}

START_TEST(test_wait_for_result_at_the_deadline_wins)
{
	run_ok(at_deadline_main, NULL);
	EXPECT_TRAIL("got=first@1 got=second@2 TimeoutError@3 f.cancelled=True");
}
END_TEST

/* ---- The trace ------------------------------------------------------- */

/* slow: a timeout of 0.5 s around a sleep of 1 s, then a long sleep. */
static void *slow_child(void *arg)
{
	struct cl_timeout t;

	(void)arg;
	cl_timeout_enter(&t, 0.5);
	CL_TRY {
		cl_sleep(1);
	} CL_CATCH(e) {
		cl_timeout_exit(&t, e); /* raises TimeoutError */
	} CL_END_TRY;
	cl_sleep(10);
	return NULL;
}

static void *slow(void *arg)
{
	CL_TRY {
		slow_child(arg);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_TimeoutError))
			cl_raise(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_sleep(10);
	return NULL;
}

static const struct job job_bad = { "bad", 1, &cl_ValueError, "bad" };
static const struct job job_idle = { "idle", 10, NULL, NULL };

static void traced_body(struct cl_taskgroup *tg, void *arg)
{
	(void)arg;
	cl_taskgroup_create_task(tg, slow, NULL, "slow");
	cl_taskgroup_create_task(tg, fail_after, (void *)&job_bad, "bad");
	cl_taskgroup_create_task(tg, sleeper, (void *)&job_idle, "idle");
}

static void *traced_main(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_taskgroup_run(traced_body, NULL);
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

/*
 * The tracer records what chapter 05 adds: the timeout that fired and in
 * which task, the task that raised and what, and who cancelled whom. Here
 * main is task 1, slow 2, bad 3, idle 4: slow's timeout fires at 0.5 s
 * and its timer cancels slow; bad raises ValueError at 1 s, and the group, in bad's done callback,
 * cancels slow, idle and its parent, main. The events are noted in the
 * trace's order, each with its time in seconds.
 */
START_TEST(test_trace_records_raise_cancel_timeout)
{
	char path[] = "/tmp/corolab-ch05-XXXXXX", line[512];
	int fd = mkstemp(path);
	FILE *f;

	CL_EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	CL_EXPECT_INT(cl_trace_open(path), 0);
	run_ok(traced_main, NULL);
	cl_trace_close();
	f = fopen(path, "r");
	CL_EXPECT(f != NULL, "cannot read the trace back");
	trail[0] = '\0';
	while (fgets(line, sizeof line, f) != NULL) {
		long us;
		char name[16], rest[256];

		if (line[0] == '#' ||
		    sscanf(line, "%*d %ld %*d %15s %255[^\n]", &us, name,
			   rest) != 3)
			continue;
		if (strcmp(name, "timeout") == 0 ||
		    strcmp(name, "cancel") == 0 ||
		    (strcmp(name, "task.done") == 0 &&
		     strstr(rest, "state=ok") == NULL))
			note("%g:%s:%s", us / 1e6, name, rest);
	}
	fclose(f);
	unlink(path);
	EXPECT_TRAIL("0.5:timeout:task=2 0.5:cancel:task=2 by=timer:1 "
		     "1:task.done:task=3 state=exc exc=ValueError "
		     "1:cancel:task=2 by=task:3 1:cancel:task=4 by=task:3 "
		     "1:cancel:task=1 by=task:3 "
		     "1:task.done:task=2 state=cancelled "
		     "1:task.done:task=4 state=cancelled");
}
END_TEST

static void add_taskgroup_tests(void)
{
	cl_test(test_taskgroup_waits_for_all_children, 2, SEC_TG);
	cl_test(test_taskgroup_first_failure_cancels_the_rest, 3, SEC_TG);
	cl_test(test_taskgroup_errors_in_completion_order, 2, SEC_TG);
	cl_test(test_taskgroup_body_error_joins_the_group, 2, SEC_TG);
	cl_test(test_taskgroup_outside_cancel_propagates, 3, SEC_TG);
	cl_test(test_taskgroup_create_task_when_finished_or_aborting, 2,
		SEC_TG);
	cl_test(test_taskgroup_child_fails_after_parent_completed, 2, SEC_TG);
	cl_test(test_timeout_converts_its_cancel, 3, SEC_TIMEOUT);
	cl_test(test_timeout_reschedule, 2, SEC_TIMEOUT);
	cl_test(test_timeout_at_past_deadline, 1, SEC_TIMEOUT);
	cl_test(test_nested_timeouts_only_the_one_that_fired_converts, 2,
		SEC_TIMEOUT);
	cl_test(test_timeout_does_not_swallow_outside_cancel, 2, SEC_TIMEOUT);
	cl_test(test_wait_for_result_or_timeout, 3, SEC_TIMEOUT);
	cl_test(test_wait_for_waits_for_the_cancel, 2, SEC_TIMEOUT);
	cl_test(test_wait_for_cancelled_while_waiting_for_the_cancel, 2,
		SEC_TIMEOUT);
	cl_test(test_wait_for_zero_timeout, 2, SEC_TIMEOUT);
	cl_test(test_wait_for_result_at_the_deadline_wins, 2, SEC_TIMEOUT);
	cl_test(test_trace_records_raise_cancel_timeout, 2, SEC_TG);
}

CL_CHAPTER(5, "05-exceptions", "exceptions", add_taskgroup_tests)
