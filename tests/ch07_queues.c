/*
 * ch07_queues.c - chapter 07, section 5: Queue, PriorityQueue and
 * LifoQueue (queues.h).
 *
 * Every expectation here is what CPython 3.11's asyncio does with the
 * same program, written in tests/py/ch07_queues.py (the comment above
 * each test names the block; run it with python3 and compare). The twin
 * runs on a virtual clock like ours, so times are exact on both sides;
 * where a scenario counts loop iterations, ticks(n) is the twin's
 * "await asyncio.sleep(0)" n times.
 *
 * Every test goes through cl_queue_put or cl_queue_get (the lab's
 * regions), so a lab with them stubbed scores 0 here.
 *
 * Where the C must differ from the Python: items are void * (strings
 * or CL_INT here); a PriorityQueue is given a comparison function where
 * the twin puts (priority, seq, name) tuples, seq counting the puts, so
 * that both order ties by arrival; asyncio.gather(*tasks,
 * return_exceptions=True) is cl_gather_ex (finish below). Beyond what
 * the twin prints, some tests check what only C has: that a bounded
 * queue's buffer never has more than maxsize slots.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exc.h"
#include "future.h"
#include "gather.h"
#include "grade.h"
#include "loop.h"
#include "queues.h"
#include "run.h"
#include "task.h"
#include "trace.h"
#include "trail.h"
#include "value.h"

#define SEC_QUEUES "5. Queues"

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

/* repr(e). */
static const char *R(const struct cl_exc *e)
{
	return cl_exc_repr(e, slot(), 160);
}

/* await asyncio.sleep(0), n times: the other ready tasks take n steps. */
static void ticks(int n)
{
	for (int i = 0; i < n; i++)
		cl_sleep(0);
}

static struct cl_task *spawn_named(void *(*fn)(void *), void *arg,
				   const char *name)
{
	struct cl_task *t = cl_create_task(fn, arg, name);

	if (t == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_create_task: %s",
				    strerror(errno)));
	return t;
}

static struct cl_task *spawn(void *(*fn)(void *), void *arg)
{
	return spawn_named(fn, arg, NULL);
}

/* await asyncio.gather(*ts, return_exceptions=True), and drop the
 * tasks: every task done, whatever it ended with. */
static void finish(size_t n, struct cl_task *const ts[])
{
	struct cl_future *fs[8] = { NULL };
	struct cl_future *g;

	for (size_t i = 0; i < n; i++)
		fs[i] = cl_task_future(ts[i]);
	g = cl_gather_ex(n, fs, 1);
	if (g == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_gather_ex: %s",
				    strerror(errno)));
	cl_await(g);
	cl_future_decref(g);
	for (size_t i = 0; i < n; i++)
		cl_task_decref(ts[i]);
}

/* Who does what to which queue: the argument of getter and putter. */
struct role {
	struct cl_queue *q;
	const char *name;
	const char *item; /* what a putter puts */
};

/* getter(q, name): get one item and note it, or note the cancellation. */
static void *getter(void *arg)
{
	const struct role *r = arg;
	void *volatile item = NULL;

	CL_TRY {
		item = cl_queue_get(r->q);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:CancelledError", r->name);
		cl_raise(e);
	} CL_END_TRY;
	note("%s:%s@%s", r->name, (const char *)item, now());
	return item;
}

/* putter(q, name, item): put one item and note it, or the cancellation. */
static void *putter(void *arg)
{
	const struct role *r = arg;

	CL_TRY {
		cl_queue_put(r->q, (void *)r->item);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:CancelledError", r->name);
		cl_raise(e);
	} CL_END_TRY;
	note("%s:put@%s", r->name, now());
	return NULL;
}

/* Values a test records inside the run and checks after it. */
static size_t seen_cap, seen_cap2;

/* ---- sizes, order, the nowait calls ------------------------------------ */

static const char *state(const struct cl_queue *q)
{
	char *s = slot();

	snprintf(s, 160, "%zu %s %s", cl_queue_qsize(q),
		 tf(cl_queue_empty(q)), tf(cl_queue_full(q)));
	return s;
}

/* ch07_queues.py, test_queue_size_and_state */
static void *size_main(void *arg)
{
	struct cl_queue q, u;

	(void)arg;
	cl_queue_init(&q, 2);
	note("%s %zu", state(&q), cl_queue_maxsize(&q));
	cl_queue_put(&q, CL_INT(1));
	note("%s", state(&q));
	cl_queue_put(&q, CL_INT(2));
	note("%s", state(&q));
	note("get=%ld", (long)CL_TOINT(cl_queue_get(&q)));
	note("%s", state(&q));
	cl_queue_init(&u, 0);
	for (int i = 0; i < 100; i++)
		cl_queue_put(&u, CL_INT(i));
	note("u:%zu %s %zu", cl_queue_qsize(&u), tf(cl_queue_full(&u)),
	     cl_queue_maxsize(&u));
	seen_cap = q.cap;
	seen_cap2 = u.cap;
	cl_queue_fini(&q);
	cl_queue_fini(&u);
	return NULL;
}

START_TEST(test_queue_size_and_state)
{
	run_ok(size_main, NULL);
	EXPECT_TRAIL("0 True False 2 1 False False 2 False True get=1 "
		     "1 False False u:100 False 0");
	CL_EXPECT(seen_cap == 2, "a queue of maxsize 2 has %zu slots",
		  seen_cap);
	CL_EXPECT(seen_cap2 >= 100, "100 items in %zu slots", seen_cap2);
}
END_TEST

/* ",".join(map(str, out)) */
static const char *ints(const long *v, size_t n)
{
	static char buf[512];

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%ld",
			 i ? "," : "", v[i]);
	return buf;
}

/* ch07_queues.py, test_queue_is_fifo_across_growth: 6 in, 3 out, four
 * times: the ring is wrapped when it grows from 8 slots to 16. */
static void *fifo_growth_main(void *arg)
{
	struct cl_queue q;
	long out[64];
	size_t nout = 0;
	long n = 0;

	(void)arg;
	cl_queue_init(&q, 0);
	for (int rnd = 0; rnd < 4; rnd++) {
		for (int i = 0; i < 6; i++)
			cl_queue_put(&q, CL_INT(n++));
		for (int i = 0; i < 3; i++)
			out[nout++] = CL_TOINT(cl_queue_get(&q));
	}
	while (!cl_queue_empty(&q))
		out[nout++] = CL_TOINT(cl_queue_get(&q));
	note("%s", ints(out, nout));
	note("unfinished=%zu", cl_queue_unfinished_tasks(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_queue_is_fifo_across_growth)
{
	run_ok(fifo_growth_main, NULL);
	EXPECT_TRAIL("0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
		     "21,22,23 unfinished=24");
}
END_TEST

/* ch07_queues.py, test_nowait_errors */
static void *nowait_main(void *arg)
{
	struct cl_queue q;

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	CL_TRY {
		cl_queue_put_nowait(&q, "b");
		note("no QueueFull");
	} CL_CATCH(e) {
		note("%s %s size=%zu", R(e),
		     tf(cl_exc_matches(e, &cl_Exception)), cl_queue_qsize(&q));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("get=%s", (const char *)cl_queue_get(&q));
	CL_TRY {
		cl_queue_get_nowait(&q);
		note("no QueueEmpty");
	} CL_CATCH(e) {
		note("%s %s size=%zu", R(e),
		     tf(cl_exc_matches(e, &cl_Exception)), cl_queue_qsize(&q));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_queue_put_nowait(&q, "c");
	note("nowait=%s", (const char *)cl_queue_get_nowait(&q));
	note("unfinished=%zu", cl_queue_unfinished_tasks(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_nowait_errors)
{
	run_ok(nowait_main, NULL);
	EXPECT_TRAIL("QueueFull() True size=1 get=a QueueEmpty() True size=0 "
		     "nowait=c unfinished=2");
}
END_TEST

/* ---- waiting: back-pressure, FIFO among waiters ------------------------ */

static void *late_producer(void *arg)
{
	cl_sleep(2);
	note("put@%s", now());
	cl_queue_put(arg, "x");
	return NULL;
}

/* ch07_queues.py, test_get_waits_for_a_put */
static void *get_waits_main(void *arg)
{
	struct cl_queue q;
	struct cl_task *t;
	const char *item;

	(void)arg;
	cl_queue_init(&q, 0);
	t = spawn(late_producer, &q);
	note("get");
	item = cl_queue_get(&q); /* before now(): C leaves the order of a
				    call's arguments open */
	note("got=%s@%s", item, now());
	cl_await_task(t);
	cl_task_decref(t);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_get_waits_for_a_put)
{
	run_ok(get_waits_main, NULL);
	EXPECT_TRAIL("get put@2 got=x@2");
}
END_TEST

static void *bp_producer(void *arg)
{
	for (long i = 0; i < 6; i++) {
		cl_queue_put(arg, CL_INT(i));
		note("p%ld@%s", i, now());
	}
	return NULL;
}

static void *bp_consumer(void *arg)
{
	for (int i = 0; i < 6; i++) {
		long item;

		cl_sleep(1);
		item = CL_TOINT(cl_queue_get(arg));
		note("c%ld@%s", item, now());
	}
	return NULL;
}

/* ch07_queues.py, test_back_pressure */
static void *back_pressure_main(void *arg)
{
	struct cl_queue q;
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&q, 2);
	ts[0] = spawn(bp_producer, &q);
	ts[1] = spawn(bp_consumer, &q);
	finish(2, ts);
	note("size=%zu", cl_queue_qsize(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_back_pressure)
{
	run_ok(back_pressure_main, NULL);
	EXPECT_TRAIL("p0@0 p1@0 c0@1 p2@1 c1@2 p3@2 c2@3 p4@3 c3@4 p5@4 c4@5 "
		     "c5@6 size=0");
}
END_TEST

/* ch07_queues.py, test_putters_served_in_order */
static void *putters_main(void *arg)
{
	struct cl_queue q;
	struct role r[3] = { { &q, "b", "b" }, { &q, "c", "c" },
			     { &q, "d", "d" } };
	struct cl_task *ts[3];

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(putter, &r[i]);
	ticks(1);
	note("waiting=%zu", q.putters.n);
	for (int i = 0; i < 4; i++) {
		note("get=%s", (const char *)cl_queue_get(&q));
		ticks(1);
	}
	finish(3, ts);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_putters_served_in_order)
{
	run_ok(putters_main, NULL);
	EXPECT_TRAIL("waiting=3 get=a b:put@0 get=b c:put@0 get=c d:put@0 "
		     "get=d");
}
END_TEST

/* ch07_queues.py, test_getters_served_in_order */
static void *getters_main(void *arg)
{
	struct cl_queue q;
	struct role r[3] = { { &q, "g1", NULL }, { &q, "g2", NULL },
			     { &q, "g3", NULL } };
	struct cl_task *ts[3];

	(void)arg;
	cl_queue_init(&q, 0);
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(getter, &r[i]);
	ticks(1);
	cl_queue_put_nowait(&q, "a");
	cl_queue_put_nowait(&q, "b");
	cl_queue_put_nowait(&q, "c");
	note("size=%zu", cl_queue_qsize(&q));
	finish(3, ts);
	note("size=%zu", cl_queue_qsize(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_getters_served_in_order)
{
	run_ok(getters_main, NULL);
	EXPECT_TRAIL("size=3 g1:a@0 g2:b@0 g3:c@0 size=0");
}
END_TEST

/* ch07_queues.py, test_woken_getter_waits_again_at_the_back */
static void *rewait_getter_main(void *arg)
{
	struct cl_queue q;
	struct role r[2] = { { &q, "g1", NULL }, { &q, "g2", NULL } };
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&q, 0);
	ts[0] = spawn(getter, &r[0]);
	ts[1] = spawn(getter, &r[1]);
	ticks(1);
	cl_queue_put_nowait(&q, "a");
	note("main:%s", (const char *)cl_queue_get_nowait(&q));
	ticks(1);
	note("waiting=%zu", q.getters.n);
	cl_queue_put_nowait(&q, "b");
	ticks(1);
	cl_queue_put_nowait(&q, "c");
	finish(2, ts);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_woken_getter_waits_again_at_the_back)
{
	run_ok(rewait_getter_main, NULL);
	EXPECT_TRAIL("main:a waiting=2 g2:b@0 g1:c@0");
}
END_TEST

/* ch07_queues.py, test_woken_putter_waits_again_at_the_back */
static void *rewait_putter_main(void *arg)
{
	struct cl_queue q;
	struct role r[2] = { { &q, "p1", "b" }, { &q, "p2", "c" } };
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	ts[0] = spawn(putter, &r[0]);
	ts[1] = spawn(putter, &r[1]);
	ticks(1);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	cl_queue_put_nowait(&q, "x");
	ticks(1);
	note("waiting=%zu", q.putters.n);
	for (int i = 0; i < 3; i++) {
		note("get=%s", (const char *)cl_queue_get(&q));
		ticks(1);
	}
	finish(2, ts);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_woken_putter_waits_again_at_the_back)
{
	run_ok(rewait_putter_main, NULL);
	EXPECT_TRAIL("get=a waiting=2 get=x p2:put@0 get=c p1:put@0 get=b");
}
END_TEST

/* ---- cancellation ------------------------------------------------------ */

/* ch07_queues.py, test_getter_cancelled_while_waiting */
static void *getter_cancelled_waiting_main(void *arg)
{
	struct cl_queue q;
	struct role r[2] = { { &q, "g1", NULL }, { &q, "g2", NULL } };
	struct cl_task *ts[2];
	int cancelled;

	(void)arg;
	cl_queue_init(&q, 0);
	ts[0] = spawn(getter, &r[0]);
	ts[1] = spawn(getter, &r[1]);
	ticks(1);
	cl_task_cancel(ts[0]);
	ticks(1);
	note("waiting=%zu", q.getters.n);
	cl_queue_put_nowait(&q, "a");
	cl_task_incref(ts[0]);
	finish(2, ts);
	cancelled = cl_future_cancelled(cl_task_future(ts[0]));
	cl_task_decref(ts[0]);
	note("size=%zu cancelled=%s", cl_queue_qsize(&q), tf(cancelled));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_getter_cancelled_while_waiting)
{
	run_ok(getter_cancelled_waiting_main, NULL);
	EXPECT_TRAIL("g1:CancelledError waiting=1 g2:a@0 size=0 "
		     "cancelled=True");
}
END_TEST

/*
 * g1 cancelled, then an item put, both in one step of main: when is the
 * put? 0: just before the cancel (g1 was woken, then cancelled: it
 * passes the wake-up on); 1: just after (g1's future is cancelled, and
 * the put skips it); 2: after, with the item taken back before g1 runs
 * (nothing to pass on).
 */
struct cancel_case {
	int when;
};

static void *getter_cancel_main(void *arg)
{
	const struct cancel_case *c = arg;
	struct cl_queue q;
	struct role r[3] = { { &q, "g1", NULL }, { &q, "g2", NULL },
			     { &q, "g3", NULL } };
	struct cl_task *ts[3];
	size_t n = c->when == 2 ? 2 : 3;

	cl_queue_init(&q, 0);
	for (size_t i = 0; i < n; i++)
		ts[i] = spawn(getter, &r[i]);
	ticks(1);
	if (c->when == 0) {
		cl_queue_put_nowait(&q, "a");
		cl_task_cancel(ts[0]);
	} else if (c->when == 1) {
		cl_task_cancel(ts[0]);
		cl_queue_put_nowait(&q, "a");
	} else {
		cl_queue_put_nowait(&q, "a");
		note("main:%s", (const char *)cl_queue_get_nowait(&q));
		cl_task_cancel(ts[0]);
	}
	ticks(2);
	if (c->when == 2)
		note("waiting=%zu", q.getters.n);
	else
		note("waiting=%zu size=%zu", q.getters.n, cl_queue_qsize(&q));
	cl_queue_put_nowait(&q, "b");
	finish(n, ts);
	cl_queue_fini(&q);
	return NULL;
}

/* ch07_queues.py, test_getter_cancelled_just_before_the_put */
START_TEST(test_getter_cancelled_just_before_the_put)
{
	static const struct cancel_case c = { 1 };

	run_ok(getter_cancel_main, (void *)&c);
	EXPECT_TRAIL("g1:CancelledError g2:a@0 waiting=1 size=0 g3:b@0");
}
END_TEST

/* ch07_queues.py, test_getter_cancelled_after_its_wake_up: the 3.11
 * rule. Without it g2 would sleep with "a" in the queue. */
START_TEST(test_getter_cancelled_after_its_wake_up)
{
	static const struct cancel_case c = { 0 };

	run_ok(getter_cancel_main, (void *)&c);
	EXPECT_TRAIL("g1:CancelledError g2:a@0 waiting=1 size=0 g3:b@0");
}
END_TEST

/* ch07_queues.py, test_cancelled_getter_passes_nothing_on_an_empty_queue */
START_TEST(test_cancelled_getter_passes_nothing_on_an_empty_queue)
{
	static const struct cancel_case c = { 2 };

	run_ok(getter_cancel_main, (void *)&c);
	EXPECT_TRAIL("main:a g1:CancelledError waiting=1 g2:b@0");
}
END_TEST

/* ch07_queues.py, test_putter_cancelled_while_waiting */
static void *putter_cancelled_waiting_main(void *arg)
{
	struct cl_queue q;
	struct role r[2] = { { &q, "p1", "b" }, { &q, "p2", "c" } };
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	ts[0] = spawn(putter, &r[0]);
	ts[1] = spawn(putter, &r[1]);
	ticks(1);
	cl_task_cancel(ts[0]);
	ticks(1);
	note("waiting=%zu", q.putters.n);
	note("get=%s", (const char *)cl_queue_get(&q));
	ticks(1);
	note("get=%s", (const char *)cl_queue_get(&q));
	finish(2, ts);
	note("size=%zu unfinished=%zu", cl_queue_qsize(&q),
	     cl_queue_unfinished_tasks(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_putter_cancelled_while_waiting)
{
	run_ok(putter_cancelled_waiting_main, NULL);
	EXPECT_TRAIL("p1:CancelledError waiting=1 get=a p2:put@0 get=c size=0 "
		     "unfinished=2");
}
END_TEST

/* ch07_queues.py, test_putter_cancelled_after_its_wake_up */
static void *putter_cancelled_woken_main(void *arg)
{
	struct cl_queue q;
	struct role r[3] = { { &q, "p1", "b" }, { &q, "p2", "c" },
			     { &q, "p3", "d" } };
	struct cl_task *ts[3];

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(putter, &r[i]);
	ticks(1);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	cl_task_cancel(ts[0]);
	ticks(2);
	note("waiting=%zu size=%zu", q.putters.n, cl_queue_qsize(&q));
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	finish(3, ts);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_putter_cancelled_after_its_wake_up)
{
	run_ok(putter_cancelled_woken_main, NULL);
	EXPECT_TRAIL("get=a p1:CancelledError p2:put@0 waiting=1 size=1 get=c "
		     "p3:put@0 get=d");
}
END_TEST

/* ch07_queues.py, test_cancelled_putter_passes_nothing_on_a_full_queue */
static void *putter_cancelled_full_main(void *arg)
{
	struct cl_queue q;
	struct role r[2] = { { &q, "p1", "b" }, { &q, "p2", "c" } };
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&q, 1);
	cl_queue_put(&q, "a");
	ts[0] = spawn(putter, &r[0]);
	ts[1] = spawn(putter, &r[1]);
	ticks(1);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	cl_queue_put_nowait(&q, "x");
	cl_task_cancel(ts[0]);
	ticks(2);
	note("waiting=%zu", q.putters.n);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	finish(2, ts);
	note("get=%s", (const char *)cl_queue_get_nowait(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_cancelled_putter_passes_nothing_on_a_full_queue)
{
	run_ok(putter_cancelled_full_main, NULL);
	EXPECT_TRAIL("get=a p1:CancelledError waiting=1 get=x p2:put@0 get=c");
}
END_TEST

/* ---- task_done and join ------------------------------------------------ */

static void *join_worker(void *arg)
{
	for (;;) {
		void *item = cl_queue_get(arg);

		cl_sleep(1);
		note("done:%ld@%s", (long)CL_TOINT(item), now());
		cl_queue_task_done(arg);
	}
	return NULL;
}

static void *joiner(void *arg)
{
	const struct role *r = arg;

	CL_TRY {
		cl_queue_join(r->q);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:CancelledError", r->name);
		cl_raise(e);
	} CL_END_TRY;
	note("%s:joined@%s", r->name, now());
	return NULL;
}

/* ch07_queues.py, test_join_waits_for_task_done */
static void *join_waits_main(void *arg)
{
	struct cl_queue q;
	struct role rj = { &q, "j", NULL };
	struct cl_task *w, *j;

	(void)arg;
	cl_queue_init(&q, 0);
	for (long i = 0; i < 3; i++)
		cl_queue_put(&q, CL_INT(i));
	w = spawn(join_worker, &q);
	j = spawn(joiner, &rj);
	ticks(1);
	note("unfinished=%zu size=%zu", cl_queue_unfinished_tasks(&q),
	     cl_queue_qsize(&q));
	cl_queue_join(&q);
	note("main:joined@%s unfinished=%zu", now(),
	     cl_queue_unfinished_tasks(&q));
	cl_await_task(j);
	cl_task_decref(j);
	cl_task_cancel(w);
	finish(1, &w);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_join_waits_for_task_done)
{
	run_ok(join_waits_main, NULL);
	EXPECT_TRAIL("unfinished=3 size=2 done:0@1 done:1@2 done:2@3 "
		     "j:joined@3 main:joined@3 unfinished=0");
}
END_TEST

static void *other(void *arg)
{
	(void)arg;
	note("other");
	return NULL;
}

/* ch07_queues.py, test_join_with_nothing_put */
static void *join_nothing_main(void *arg)
{
	struct cl_queue q;
	struct cl_task *t;

	(void)arg;
	cl_queue_init(&q, 0);
	t = spawn(other, NULL);
	cl_queue_join(&q);
	note("joined");
	cl_await_task(t);
	cl_task_decref(t);
	cl_queue_put(&q, CL_INT(1));
	cl_queue_get(&q);
	cl_queue_task_done(&q);
	t = spawn(other, NULL);
	cl_queue_join(&q);
	note("joined");
	cl_await_task(t);
	cl_task_decref(t);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_join_with_nothing_put)
{
	run_ok(join_nothing_main, NULL);
	EXPECT_TRAIL("joined other joined other");
}
END_TEST

/* ch07_queues.py, test_task_done_too_many_times */
static void *task_done_main(void *arg)
{
	struct cl_queue q, fresh;

	(void)arg;
	cl_queue_init(&q, 0);
	cl_queue_put(&q, CL_INT(1));
	cl_queue_get(&q);
	cl_queue_task_done(&q);
	CL_TRY {
		cl_queue_task_done(&q);
		note("no ValueError");
	} CL_CATCH(e) {
		note("%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("unfinished=%zu", cl_queue_unfinished_tasks(&q));
	cl_queue_init(&fresh, 0);
	CL_TRY {
		cl_queue_task_done(&fresh);
		note("no ValueError");
	} CL_CATCH(e) {
		note("%s", R(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_queue_fini(&fresh);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_task_done_too_many_times)
{
	run_ok(task_done_main, NULL);
	EXPECT_TRAIL("ValueError('task_done() called too many times') "
		     "unfinished=0 ValueError('task_done() called too many "
		     "times')");
}
END_TEST

/* ch07_queues.py, test_join_cancelled */
static void *join_cancelled_main(void *arg)
{
	struct cl_queue q;
	struct role r[3] = { { &q, "j1", NULL }, { &q, "j2", NULL },
			     { &q, "j3", NULL } };
	struct cl_task *ts[2], *j3;

	(void)arg;
	cl_queue_init(&q, 0);
	cl_queue_put(&q, "a");
	ts[0] = spawn(joiner, &r[0]);
	ts[1] = spawn(joiner, &r[1]);
	ticks(1);
	cl_task_cancel(ts[0]);
	ticks(1);
	cl_queue_get(&q);
	cl_sleep(1);
	cl_queue_task_done(&q);
	finish(2, ts);
	cl_queue_put(&q, "b");
	j3 = spawn(joiner, &r[2]);
	cl_sleep(1);
	note("j3:done=%s", tf(cl_task_done(j3)));
	cl_queue_get(&q);
	cl_queue_task_done(&q);
	cl_await_task(j3);
	cl_task_decref(j3);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_join_cancelled)
{
	run_ok(join_cancelled_main, NULL);
	EXPECT_TRAIL("j1:CancelledError j2:joined@1 j3:done=False j3:joined@2");
}
END_TEST

/*
 * ch07_queues.py, test_join_woken_then_refilled_still_returns: the last
 * task_done wakes the joiner; a put before it runs does not take the
 * wake-up back (Event.set wakes, Event.clear does not un-wake), so join
 * returns with an item unfinished.
 */
static void *join_refilled_main(void *arg)
{
	struct cl_queue q;
	struct role rj = { &q, "j", NULL };
	struct cl_task *t;

	(void)arg;
	cl_queue_init(&q, 0);
	cl_queue_put(&q, CL_INT(1));
	t = spawn(joiner, &rj);
	ticks(1);
	cl_queue_get(&q);
	cl_queue_task_done(&q);
	cl_queue_put(&q, CL_INT(2));
	cl_await_task(t);
	cl_task_decref(t);
	note("unfinished=%zu", cl_queue_unfinished_tasks(&q));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_join_woken_then_refilled_still_returns)
{
	run_ok(join_refilled_main, NULL);
	EXPECT_TRAIL("j:joined@0 unfinished=1");
}
END_TEST

/* ---- PriorityQueue and LifoQueue --------------------------------------- */

/* The twin's (priority, seq, name), less the seq: the queue adds it. */
struct pitem {
	int prio;
	const char *name;
};

static int by_prio(const void *a, const void *b)
{
	const struct pitem *x = a, *y = b;

	return (x->prio > y->prio) - (x->prio < y->prio);
}

/* ch07_queues.py, test_priority_order_and_ties */
static void *priority_main(void *arg)
{
	static struct pitem in[] = {
		{ 3, "c" },  { 1, "a1" }, { 2, "b1" }, { 1, "a2" }, { 5, "e" },
		{ 2, "b2" }, { 1, "a3" }, { 4, "d" },  { 2, "b3" }, { 0, "z" },
	};
	static struct pitem a4 = { 1, "a4" }, b4 = { 2, "b4" };
	struct cl_queue q;

	(void)arg;
	cl_priorityqueue_init(&q, 0, by_prio);
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
		cl_queue_put(&q, &in[i]);
	while (!cl_queue_empty(&q)) {
		const struct pitem *p = cl_queue_get(&q);

		note("%d%s", p->prio, p->name);
		if (strcmp(p->name, "b1") == 0) {
			cl_queue_put(&q, &a4);
			cl_queue_put(&q, &b4);
		}
	}
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_priority_order_and_ties)
{
	run_ok(priority_main, NULL);
	EXPECT_TRAIL("0z 1a1 1a2 1a3 2b1 1a4 2b2 2b3 2b4 3c 4d 5e");
}
END_TEST

static struct pitem bounded_items[] = {
	{ 5, "p5" }, { 3, "p3" }, { 4, "p4" },
	{ 1, "p1" }, { 2, "p2" }, { 0, "p0" },
};

static void *prio_producer(void *arg)
{
	for (int i = 0; i < 6; i++) {
		cl_queue_put(arg, &bounded_items[i]);
		note("put:%s@%s", bounded_items[i].name, now());
	}
	return NULL;
}

/* ch07_queues.py, test_priority_queue_with_back_pressure */
static void *priority_bounded_main(void *arg)
{
	struct cl_queue q;
	struct cl_task *t;

	(void)arg;
	cl_priorityqueue_init(&q, 3, by_prio);
	t = spawn(prio_producer, &q);
	for (int i = 0; i < 6; i++) {
		const struct pitem *p;

		cl_sleep(1);
		p = cl_queue_get(&q);
		note("get:%s@%s", p->name, now());
	}
	cl_await_task(t);
	cl_task_decref(t);
	seen_cap = q.cap;
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_priority_queue_with_back_pressure)
{
	run_ok(priority_bounded_main, NULL);
	EXPECT_TRAIL("put:p5@0 put:p3@0 put:p4@0 get:p3@1 put:p1@1 get:p1@2 "
		     "put:p2@2 get:p2@3 put:p0@3 get:p0@4 get:p4@5 get:p5@6");
	CL_EXPECT(seen_cap <= 3, "a PriorityQueue of maxsize 3 has %zu slots",
		  seen_cap);
}
END_TEST

/* ch07_queues.py, test_lifo_order */
static void *lifo_main(void *arg)
{
	struct cl_queue q;
	long out[8];
	size_t n = 0;

	(void)arg;
	cl_lifoqueue_init(&q, 0);
	for (long i = 0; i < 5; i++)
		cl_queue_put(&q, CL_INT(i));
	out[n++] = CL_TOINT(cl_queue_get(&q));
	out[n++] = CL_TOINT(cl_queue_get(&q));
	for (long i = 5; i < 8; i++)
		cl_queue_put(&q, CL_INT(i));
	while (!cl_queue_empty(&q))
		out[n++] = CL_TOINT(cl_queue_get(&q));
	note("%s", ints(out, n));
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_lifo_order)
{
	run_ok(lifo_main, NULL);
	EXPECT_TRAIL("4,3,7,6,5,2,1,0");
}
END_TEST

/* ch07_queues.py, test_lifo_with_back_pressure */
static void *lifo_bounded_main(void *arg)
{
	struct cl_queue q;
	struct role rg = { &q, "g", NULL }, rp = { &q, "p", "d" };
	struct cl_task *ts[2];
	const char *out[3];

	(void)arg;
	cl_lifoqueue_init(&q, 2);
	ts[0] = spawn(getter, &rg);
	ticks(1);
	cl_queue_put(&q, "a");
	cl_queue_put(&q, "b");
	cl_queue_put(&q, "c");
	note("size=%zu", cl_queue_qsize(&q));
	ts[1] = spawn(putter, &rp);
	ticks(1);
	note("full=%s", tf(cl_queue_full(&q)));
	for (int i = 0; i < 3; i++) {
		out[i] = cl_queue_get(&q);
		ticks(1);
	}
	note("%s,%s,%s", out[0], out[1], out[2]);
	finish(2, ts);
	seen_cap = q.cap;
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_lifo_with_back_pressure)
{
	run_ok(lifo_bounded_main, NULL);
	EXPECT_TRAIL("g:b@0 size=2 full=True p:put@0 c,d,a");
	CL_EXPECT(seen_cap <= 2, "a LifoQueue of maxsize 2 has %zu slots",
		  seen_cap);
}
END_TEST

/* ---- pipelines: memory stays bounded ----------------------------------- */

/* The pipeline's two queues and the most each held at a put. */
struct pipeline {
	struct cl_queue q1, q2;
	size_t peak1, peak2;
};

static void *parse_stage(void *arg)
{
	struct pipeline *p = arg;

	for (;;) {
		long item = CL_TOINT(cl_queue_get(&p->q1));

		cl_sleep(1);
		cl_queue_put(&p->q2, CL_INT(item * 10));
		if (cl_queue_qsize(&p->q2) > p->peak2)
			p->peak2 = cl_queue_qsize(&p->q2);
		cl_queue_task_done(&p->q1);
	}
	return NULL;
}

static void *write_stage(void *arg)
{
	struct pipeline *p = arg;

	for (;;) {
		long item = CL_TOINT(cl_queue_get(&p->q2));

		cl_sleep(2);
		note("w%ld@%s", item, now());
		cl_queue_task_done(&p->q2);
	}
	return NULL;
}

/* ch07_queues.py, test_pipeline_of_three_stages: the read stage runs in
 * main, as the twin's "await reader()" does. */
static void *pipeline_main(void *arg)
{
	struct pipeline p = { .peak1 = 0 };
	struct cl_task *ts[2];

	(void)arg;
	cl_queue_init(&p.q1, 2);
	cl_queue_init(&p.q2, 1);
	ts[0] = spawn(parse_stage, &p);
	ts[1] = spawn(write_stage, &p);
	for (long i = 0; i < 5; i++) {
		cl_queue_put(&p.q1, CL_INT(i));
		if (cl_queue_qsize(&p.q1) > p.peak1)
			p.peak1 = cl_queue_qsize(&p.q1);
	}
	note("read-done@%s", now());
	cl_queue_join(&p.q1);
	note("q1-joined@%s", now());
	cl_queue_join(&p.q2);
	note("q2-joined@%s peak=%zu,%zu", now(), p.peak1, p.peak2);
	cl_task_cancel(ts[0]);
	cl_task_cancel(ts[1]);
	finish(2, ts);
	seen_cap = p.q1.cap;
	seen_cap2 = p.q2.cap;
	cl_queue_fini(&p.q1);
	cl_queue_fini(&p.q2);
	return NULL;
}

START_TEST(test_pipeline_of_three_stages)
{
	run_ok(pipeline_main, NULL);
	EXPECT_TRAIL("read-done@2 w0@3 w10@5 w20@7 q1-joined@7 w30@9 w40@11 "
		     "q2-joined@11 peak=2,1");
	CL_EXPECT(seen_cap <= 2 && seen_cap2 <= 1,
		  "queues of maxsize 2 and 1 have %zu and %zu slots", seen_cap,
		  seen_cap2);
}
END_TEST

/* The flat-memory run: its queue and the most it ever held. */
struct flat {
	struct cl_queue q;
	size_t peak;
};

static void *flat_producer(void *arg)
{
	struct flat *f = arg;

	for (long i = 0; i < 1000; i++) {
		cl_queue_put(&f->q, CL_INT(i));
		if (cl_queue_qsize(&f->q) > f->peak)
			f->peak = cl_queue_qsize(&f->q);
	}
	note("produced@%s", now());
	return NULL;
}

/* ch07_queues.py, test_memory_stays_flat */
static void *flat_main(void *arg)
{
	struct flat f = { .peak = 0 };
	struct cl_task *t;
	long total = 0;

	(void)arg;
	cl_queue_init(&f.q, 4);
	t = spawn(flat_producer, &f);
	for (int i = 0; i < 1000; i++) {
		cl_sleep(0.01);
		total += CL_TOINT(cl_queue_get(&f.q));
	}
	cl_await_task(t);
	cl_task_decref(t);
	note("sum=%ld peak=%zu end@%s", total, f.peak, now());
	seen_cap = f.q.cap;
	cl_queue_fini(&f.q);
	return NULL;
}

START_TEST(test_memory_stays_flat)
{
	run_ok(flat_main, NULL);
	EXPECT_TRAIL("produced@9.96 sum=499500 peak=4 end@10");
	CL_EXPECT(seen_cap == 4, "a queue of maxsize 4 has %zu slots",
		  seen_cap);
}
END_TEST

/* ---- ownership --------------------------------------------------------- */

/* The reference counts of the waiters' futures once their tasks are done,
 * and how many were looked at. */
static int refs[4], nrefs;

/* A new reference to the future the first waiter of ws waits on. */
static struct cl_future *first_waiter(const struct cl__qwaiters *ws)
{
	if (ws->head == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "nobody waits"));
	return cl_future_incref(ws->head->fut);
}

/* Drop the test's reference to f, noting how many it had: 1 if the
 * queue and the task let go of theirs. */
static void released(struct cl_future *f)
{
	refs[nrefs++] = f->refcnt;
	cl_future_decref(f);
}

/*
 * ch07_queues.py, test_waiters_are_released: a getter woken, a getter
 * cancelled, a putter woken, a joiner woken. The test holds a reference
 * to each waiter's future (the fields are public to read); when the
 * task is done, that must be the only one left: the waiting coroutine
 * dropped its own on every way out.
 */
static void *released_main(void *arg)
{
	struct cl_queue q;
	struct role rg = { &q, "g", NULL }, rc = { &q, "g2", NULL },
		    rp = { &q, "p", "y" }, rj = { &q, "j", NULL };
	struct cl_task *t;
	struct cl_future *f;

	(void)arg;
	cl_queue_init(&q, 1);
	t = spawn(getter, &rg);
	ticks(1);
	f = first_waiter(&q.getters);
	cl_queue_put_nowait(&q, "a");
	finish(1, &t);
	released(f);
	t = spawn(getter, &rc);
	ticks(1);
	f = first_waiter(&q.getters);
	cl_task_cancel(t);
	finish(1, &t);
	released(f);
	cl_queue_put(&q, "x");
	t = spawn(putter, &rp);
	ticks(1);
	f = first_waiter(&q.putters);
	note("get=%s", (const char *)cl_queue_get(&q));
	finish(1, &t);
	released(f);
	t = spawn(joiner, &rj);
	ticks(1);
	f = first_waiter(&q.joiners);
	cl_queue_get(&q);
	cl_queue_task_done(&q);
	cl_queue_task_done(&q);
	cl_queue_task_done(&q);
	finish(1, &t);
	released(f);
	cl_queue_fini(&q);
	return NULL;
}

START_TEST(test_waiters_are_released)
{
	run_ok(released_main, NULL);
	EXPECT_TRAIL("g:a@0 g2:CancelledError get=x p:put@0 j:joined@0");
	CL_EXPECT_INT(nrefs, 4);
	for (int i = 0; i < nrefs; i++)
		CL_EXPECT(refs[i] == 1,
			  "waiter %d's future has %d references once its task "
			  "is done, expected 1 (the test's own): the waiting "
			  "coroutine must drop its reference on every way out",
			  i + 1, refs[i]);
}
END_TEST

/* ---- the trace --------------------------------------------------------- */

static unsigned long traced_id; /* the traced queue's id */

static void *tr_producer(void *arg)
{
	for (long i = 0; i < 4; i++)
		cl_queue_put(arg, CL_INT(i));
	return NULL;
}

static void *tr_consumer(void *arg)
{
	for (int i = 0; i < 5; i++) {
		cl_sleep(1);
		cl_queue_get(arg);
	}
	return NULL;
}

static void *traced_main(void *arg)
{
	struct cl_queue q;
	struct cl_task *p, *c;

	(void)arg;
	cl_queue_init(&q, 2);
	traced_id = q.id;
	p = spawn_named(tr_producer, &q, "producer");
	c = spawn_named(tr_consumer, &q, "consumer");
	cl_await_task(p);
	cl_sleep(4.5);
	cl_queue_put_nowait(&q, CL_INT(9));
	cl_await_task(c);
	cl_task_decref(p);
	cl_task_decref(c);
	cl_queue_fini(&q);
	return NULL;
}

/* The trace's events about queue traced_id, as the twin notes them:
 * "put:S", "get:S", and "await:NAME" for a task awaiting the queue. */
static void read_queue_events(FILE *f)
{
	char line[512], names[16][32] = { { 0 } };

	while (fgets(line, sizeof line, f) != NULL) {
		char ev[32], rest[400], name[32], kind[16];
		unsigned long id, task, qid;
		size_t size;

		if (line[0] == '#' ||
		    sscanf(line, "%*d %*d %*d %31s %399[^\n]", ev, rest) != 2)
			continue;
		if (strcmp(ev, "task.new") == 0 &&
		    sscanf(rest, "task=%lu name=%31s", &task, name) == 2 &&
		    task < 16)
			strcpy(names[task], name);
		else if ((strcmp(ev, "queue.put") == 0 ||
			  strcmp(ev, "queue.get") == 0) &&
			 sscanf(rest, "queue=%lu size=%zu", &id, &size) == 2 &&
			 id == traced_id)
			note("%s:%zu", ev + 6, size);
		else if (strcmp(ev, "await") == 0 &&
			 sscanf(rest, "task=%lu on=%15[^:]:%lu", &task, kind,
				&qid) == 3 &&
			 strcmp(kind, "queue") == 0 && qid == traced_id &&
			 task < 16)
			note("await:%s", names[task]);
	}
}

/*
 * ch07_queues.py, test_trace_shows_back_pressure: the producer waits on
 * the full queue twice, the consumer once on the empty one at the end.
 */
START_TEST(test_trace_shows_back_pressure)
{
	char path[] = "/tmp/corolab-ch07q-XXXXXX";
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
	read_queue_events(f);
	fclose(f);
	unlink(path);
	EXPECT_TRAIL("put:1 put:2 await:producer get:1 put:2 await:producer "
		     "get:1 put:2 get:1 get:0 await:consumer put:1 get:0");
}
END_TEST

static void add_queue_tests(void)
{
	cl_test(test_queue_size_and_state, 1, SEC_QUEUES);
	cl_test(test_queue_is_fifo_across_growth, 2, SEC_QUEUES);
	cl_test(test_nowait_errors, 1, SEC_QUEUES);
	cl_test(test_get_waits_for_a_put, 1, SEC_QUEUES);
	cl_test(test_back_pressure, 3, SEC_QUEUES);
	cl_test(test_putters_served_in_order, 2, SEC_QUEUES);
	cl_test(test_getters_served_in_order, 2, SEC_QUEUES);
	cl_test(test_woken_getter_waits_again_at_the_back, 2, SEC_QUEUES);
	cl_test(test_woken_putter_waits_again_at_the_back, 2, SEC_QUEUES);
	cl_test(test_getter_cancelled_while_waiting, 2, SEC_QUEUES);
	cl_test(test_getter_cancelled_just_before_the_put, 2, SEC_QUEUES);
	cl_test(test_getter_cancelled_after_its_wake_up, 3, SEC_QUEUES);
	cl_test(test_cancelled_getter_passes_nothing_on_an_empty_queue, 2,
		SEC_QUEUES);
	cl_test(test_putter_cancelled_while_waiting, 2, SEC_QUEUES);
	cl_test(test_putter_cancelled_after_its_wake_up, 3, SEC_QUEUES);
	cl_test(test_cancelled_putter_passes_nothing_on_a_full_queue, 2,
		SEC_QUEUES);
	cl_test(test_join_waits_for_task_done, 2, SEC_QUEUES);
	cl_test(test_join_with_nothing_put, 1, SEC_QUEUES);
	cl_test(test_task_done_too_many_times, 1, SEC_QUEUES);
	cl_test(test_join_cancelled, 2, SEC_QUEUES);
	cl_test(test_join_woken_then_refilled_still_returns, 1, SEC_QUEUES);
	cl_test(test_priority_order_and_ties, 2, SEC_QUEUES);
	cl_test(test_priority_queue_with_back_pressure, 2, SEC_QUEUES);
	cl_test(test_lifo_order, 1, SEC_QUEUES);
	cl_test(test_lifo_with_back_pressure, 2, SEC_QUEUES);
	cl_test(test_pipeline_of_three_stages, 3, SEC_QUEUES);
	cl_test(test_memory_stays_flat, 3, SEC_QUEUES);
	cl_test(test_waiters_are_released, 2, SEC_QUEUES);
	cl_test(test_trace_shows_back_pressure, 2, SEC_QUEUES);
}

CL_CHAPTER(7, "07-threads", "threads", add_queue_tests)
