/*
 * ch07_threads.c - chapter 07: other threads and the loop.
 * call_soon_threadsafe and the loop's inbox, held loops, the pool of
 * threads, run_in_executor, to_thread, debug mode's thread check.
 *
 * Every expectation with a twin is what CPython 3.11 does with the same
 * program, written in tests/py/ch07_threads.py (the comment above each
 * test names the block). The threads really run; no expectation depends
 * on how long anything takes: a thread that must wait for the loop
 * waits on a gate (a mutex and a condition variable), and the loop's
 * side waits on futures, never on the clock. Only the loop's thread
 * writes the trail.
 *
 * Where the C must differ from the Python: a thread may call the loop
 * only while the loop is held (cl_loop_hold), which asyncio does not
 * know; the tests that start threads by hand hold it, and
 * test_threadsafe_call_needs_a_held_loop checks the refusal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agen.h"
#include "ctxvar.h"
#include "exc.h"
#include "future.h"
#include "gather.h"
#include "grade.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "threads.h"
#include "trail.h"
#include "value.h"

#define SEC_THREADSAFE "6. Threads under the loop"
#define SEC_POOL "6. Threads under the loop"

/* Fail unless the log reads want. */
#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

static void *run_ok(void *(*fn)(void *), void *arg)
{
	return run_on(CL_CLOCK_REAL, fn, arg);
}

/* A gate a thread waits at until someone opens it. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open;
};

#define GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static int gate_is_open(struct gate *g)
{
	int open;

	pthread_mutex_lock(&g->lock);
	open = g->open;
	pthread_mutex_unlock(&g->lock);
	return open;
}

/* Start a thread or fail the test. */
static pthread_t start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, arg);

	CL_EXPECT(err == 0, "pthread_create: %s", strerror(err));
	return t;
}

/* Hand fn(arg) to the loop or fail (from any thread: ck_assert in a
 * thread that is not the test's own would not be reported, so abort). */
static void post(struct cl_loop *loop, cl_callback fn, void *arg)
{
	int err = cl_loop_call_soon_threadsafe(loop, fn, arg);

	if (err < 0) {
		fprintf(stderr, "cl_loop_call_soon_threadsafe: %s\n",
			strerror(-err));
		abort();
	}
}

/* What a thread hands over: a future to complete, and with what. */
struct handoff {
	struct cl_loop *loop;
	struct cl_future *fut;
	void *value;
};

static void set_result_cb(void *arg)
{
	struct handoff *h = arg;

	cl_future_set_result(h->fut, h->value);
}

/* Await h->fut, which thread fn completes, with the loop held. */
static void *await_from_thread(struct handoff *h, void *(*fn)(void *))
{
	pthread_t t;
	void *v;

	h->loop = cl_get_running_loop();
	h->fut = cl_future_new(h->loop);
	CL_EXPECT(cl_loop_hold(h->loop) == 0, "cl_loop_hold failed");
	t = start(fn, h);
	v = cl_await(h->fut);
	cl_loop_unhold(h->loop);
	pthread_join(t, NULL);
	cl_future_decref(h->fut);
	return v;
}

/* --- call_soon_threadsafe ------------------------------------------------ */

static void *wake_thread(void *arg)
{
	struct handoff *h = arg;

	h->value = CL_INT(42);
	post(h->loop, set_result_cb, h);
	return NULL;
}

static void *wake_main(void *arg)
{
	struct handoff h = { 0 };

	(void)arg;
	note("got %ld", (long)CL_TOINT(await_from_thread(&h, wake_thread)));
	return NULL;
}

/* ch07_threads.py, test_threadsafe_call_wakes_the_loop: a thread
 * completes the future the main task awaits; the loop, asleep in its
 * poller with nothing else to do, wakes. */
START_TEST(test_threadsafe_call_wakes_the_loop)
{
	run_ok(wake_main, NULL);
	EXPECT_TRAIL("got 42");
}
END_TEST

/* The same through the self-pipe, as on a system without eventfd. */
START_TEST(test_threadsafe_call_through_the_self_pipe)
{
	setenv("COROLAB_SELFPIPE", "1", 1);
	run_ok(wake_main, NULL);
	unsetenv("COROLAB_SELFPIPE");
	EXPECT_TRAIL("got 42");
}
END_TEST

static void note_int_cb(void *arg)
{
	note("%ld", (long)CL_TOINT(arg));
}

static void *order_thread(void *arg)
{
	struct handoff *h = arg;

	for (long i = 0; i < 5; i++)
		post(h->loop, note_int_cb, CL_INT(i));
	post(h->loop, set_result_cb, h);
	return NULL;
}

static void *order_main(void *arg)
{
	struct handoff h = { 0 };

	(void)arg;
	await_from_thread(&h, order_thread);
	return NULL;
}

/* ch07_threads.py, test_threadsafe_calls_run_in_order: five calls
 * handed over by one thread run in the order they were handed over. */
START_TEST(test_threadsafe_calls_run_in_order)
{
	run_ok(order_main, NULL);
	EXPECT_TRAIL("0 1 2 3 4");
}
END_TEST

/* Many threads, many calls: every one runs once, and each thread's in
 * its order. */
#define NTHREADS 4
#define NCALLS 2000

struct burst {
	struct cl_loop *loop;
	struct cl_future *fut;
	long seen[NTHREADS]; /* the next call expected from each thread */
	long total, out_of_order;
	long id;	     /* in a thread's own copy: its number */
};

struct burst_call {
	struct burst *b;
	long thread, seq;
};

static void burst_cb(void *arg)
{
	struct burst_call *c = arg;
	struct burst *b = c->b;

	if (c->seq != b->seen[c->thread])
		b->out_of_order++;
	b->seen[c->thread] = c->seq + 1;
	if (++b->total == NTHREADS * NCALLS)
		cl_future_set_result(b->fut, NULL);
	free(c);
}

struct burst_arg {
	struct burst *b;
	long thread;
};

static void *burst_thread(void *arg)
{
	struct burst_arg *a = arg;

	for (long i = 0; i < NCALLS; i++) {
		struct burst_call *c = malloc(sizeof *c);

		if (c == NULL)
			abort();
		*c = (struct burst_call){ a->b, a->thread, i };
		post(a->b->loop, burst_cb, c);
	}
	return NULL;
}

static void *burst_main(void *arg)
{
	struct burst b = { 0 };
	struct burst_arg a[NTHREADS];
	pthread_t t[NTHREADS];

	(void)arg;
	b.loop = cl_get_running_loop();
	b.fut = cl_future_new(b.loop);
	CL_EXPECT(cl_loop_hold(b.loop) == 0, "cl_loop_hold failed");
	for (long i = 0; i < NTHREADS; i++) {
		a[i] = (struct burst_arg){ &b, i };
		t[i] = start(burst_thread, &a[i]);
	}
	cl_await(b.fut);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	cl_loop_unhold(b.loop);
	cl_future_decref(b.fut);
	note("calls=%ld out-of-order=%ld", b.total, b.out_of_order);
	return NULL;
}

/* Four threads hand over 2,000 calls each while the loop runs them: no
 * call is lost or run twice, and each thread's calls keep their order
 * (the inbox is one FIFO). */
START_TEST(test_threadsafe_calls_from_many_threads)
{
	run_ok(burst_main, NULL);
	EXPECT_TRAIL("calls=8000 out-of-order=0");
}
END_TEST

static struct cl_contextvar where;

struct ctx_handoff {
	struct handoff h;
	char seen[16];
};

static void ctx_cb(void *arg)
{
	struct ctx_handoff *c = arg;

	note("cb=%s", (const char *)cl_contextvar_get(&where));
	cl_future_set_result(c->h.fut, NULL);
}

static void *ctx_thread(void *arg)
{
	struct ctx_handoff *c = arg;

	cl_contextvar_set(&where, "thread");
	post(c->h.loop, ctx_cb, c);
	return NULL;
}

static void *ctx_main(void *arg)
{
	struct ctx_handoff c = { 0 };

	(void)arg;
	cl_contextvar_set(&where, "main");
	await_from_thread(&c.h, ctx_thread);
	note("main=%s", (const char *)cl_contextvar_get(&where));
	return NULL;
}

/* ch07_threads.py, test_threadsafe_call_runs_in_the_callers_context:
 * the callback runs in a copy of the handing thread's context, not the
 * loop's. */
START_TEST(test_threadsafe_call_runs_in_the_callers_context)
{
	cl_contextvar_init_default(&where, "where", "unset");
	run_ok(ctx_main, NULL);
	EXPECT_TRAIL("cb=thread main=main");
}
END_TEST

static void *unheld_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	note("before:%d", cl_loop_call_soon_threadsafe(loop, note_cb, "x") ==
				  -ENOTCONN);
	CL_EXPECT(cl_loop_hold(loop) == 0, "cl_loop_hold failed");
	note("held:%d", cl_loop_call_soon_threadsafe(loop, note_cb, "ran"));
	cl_loop_unhold(loop);
	note("after:%d", cl_loop_call_soon_threadsafe(loop, note_cb, "y") ==
				 -ENOTCONN);
	cl_sleep(0);
	return NULL;
}

/* A loop not held refuses calls from threads (-ENOTCONN): nothing
 * would wake it for them. A call handed over while it was held still
 * runs after the last unhold. */
START_TEST(test_threadsafe_call_needs_a_held_loop)
{
	run_ok(unheld_main, NULL);
	EXPECT_TRAIL("before:1 held:0 after:1 ran");
}
END_TEST

static void *posts_ran(void *arg)
{
	struct handoff *h = arg;

	post(h->loop, note_cb, "ran");
	post(h->loop, set_result_cb, h);
	return NULL;
}

static void *forever_main(void *arg)
{
	struct handoff h = { 0 };
	struct cl_future *f;

	(void)arg;
	await_from_thread(&h, posts_ran); /* held, then unheld */
	f = cl_future_new(NULL);
	CL_TRY {
		cl_await(f); /* nothing will ever complete it */
	} CL_CATCH(e) { /* closed when cl_run gives up on it */
		cl_future_decref(f);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_decref(f);
	return NULL;
}

/* Once unheld, a loop with nothing to run and nothing to wait for
 * reports a deadlock at once (run.h): its inbox, watched while a thread
 * could call, no longer keeps it alive. */
START_TEST(test_unheld_loop_still_reports_a_deadlock)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	char *report = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&report, &len);
	void *out = NULL;
	int st;

	opts.err = err;
	trail[0] = '\0';
	st = cl_run_with(forever_main, NULL, &opts, &out);
	fclose(err);
	EXPECT_TRAIL("ran");
	CL_EXPECT_INT(st, -EDEADLK);
	CL_EXPECT(strstr(report, "no runnable tasks") != NULL,
		  "expected a deadlock report, got \"%s\"", report);
	free(report);
}
END_TEST

/* --- the pool ------------------------------------------------------------ */

static void *nothing_fn(void *arg)
{
	return arg;
}

static void *times_six(void *arg)
{
	return CL_INT(CL_TOINT(arg) * 6);
}

static void *executor_main(void *arg)
{
	struct cl_future *f;

	(void)arg;
	f = cl_loop_run_in_executor(cl_get_running_loop(), NULL, times_six,
				    CL_INT(7));
	CL_EXPECT(f != NULL, "run_in_executor: %s", strerror(errno));
	note("got %ld", (long)CL_TOINT(cl_await(f)));
	cl_future_decref(f);
	return NULL;
}

/* ch07_threads.py, test_run_in_executor_returns_the_result. */
START_TEST(test_run_in_executor_returns_the_result)
{
	run_ok(executor_main, NULL);
	EXPECT_TRAIL("got 42");
}
END_TEST

static void *bad_input(void *arg)
{
	(void)arg;
	cl_raise(cl_exc_new(&cl_ValueError, "bad input"));
}

static void *raises_main(void *arg)
{
	struct cl_future *f;

	(void)arg;
	f = cl_loop_run_in_executor(cl_get_running_loop(), NULL, bad_input,
				    NULL);
	CL_TRY {
		cl_await(f);
		note("no exception");
	} CL_CATCH(e) {
		note("%s:%s", cl_exc_name(e), cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_future_decref(f);
	return NULL;
}

/* ch07_threads.py, test_run_in_executor_raises_what_fn_raised: raised
 * on the pool's thread, it comes out of the await on the loop's. */
START_TEST(test_run_in_executor_raises_what_fn_raised)
{
	run_ok(raises_main, NULL);
	EXPECT_TRAIL("ValueError:bad input");
}
END_TEST

static struct cl_contextvar rid;
static char thread_saw[32];

static void *rid_fn(void *arg)
{
	(void)arg;
	snprintf(thread_saw, sizeof thread_saw, "%s",
		 (const char *)cl_contextvar_get(&rid));
	cl_contextvar_set(&rid, "changed");
	return cl_contextvar_get(&rid);
}

static void *to_thread_main(void *arg)
{
	const char *v;

	(void)arg;
	cl_contextvar_set(&rid, "r1");
	v = cl_to_thread(rid_fn, NULL);
	note("thread:%s", thread_saw);
	note("returned:%s task:%s", v, (const char *)cl_contextvar_get(&rid));
	return NULL;
}

/* ch07_threads.py, test_to_thread_copies_the_context: fn sees the
 * task's values; what it sets stays in its copy. (The twin's fn logs
 * from its thread; here the loop logs what the thread saw.) */
START_TEST(test_to_thread_copies_the_context)
{
	cl_contextvar_init(&rid, "rid");
	run_ok(to_thread_main, NULL);
	EXPECT_TRAIL("thread:r1 returned:changed task:r1");
}
END_TEST

/* How many calls run at once, and the most ever. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int running_now, running_most;
static struct gate bounded_gate = GATE_INIT;

static void counted_enter(void)
{
	pthread_mutex_lock(&count_lock);
	if (++running_now > running_most)
		running_most = running_now;
	pthread_mutex_unlock(&count_lock);
}

static void counted_leave(void)
{
	pthread_mutex_lock(&count_lock);
	running_now--;
	pthread_mutex_unlock(&count_lock);
}

static void *counted(void *arg)
{
	counted_enter();
	gate_wait(&bounded_gate);
	counted_leave();
	return arg;
}

static int running_now_is(void)
{
	int n;

	pthread_mutex_lock(&count_lock);
	n = running_now;
	pthread_mutex_unlock(&count_lock);
	return n;
}

static void *bounded_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_executor *ex = cl_executor_new(2);
	struct cl_future *f[5], *g;
	void **res;

	(void)arg;
	for (long i = 0; i < 5; i++)
		f[i] = cl_loop_run_in_executor(loop, ex, counted, CL_INT(i));
	while (running_now_is() < 2) /* both threads busy, the rest queued */
		cl_sleep(0);
	gate_open(&bounded_gate);
	g = cl_gather(5, f);
	res = cl_await(g);
	note("most=%d threads=%d", running_most, cl_executor_nthreads(ex));
	note("results=%ld,%ld,%ld,%ld,%ld", (long)CL_TOINT(res[0]),
	     (long)CL_TOINT(res[1]), (long)CL_TOINT(res[2]),
	     (long)CL_TOINT(res[3]), (long)CL_TOINT(res[4]));
	cl_future_decref(g);
	for (int i = 0; i < 5; i++)
		cl_future_decref(f[i]);
	cl_executor_shutdown(ex);
	return NULL;
}

/* ch07_threads.py, test_pool_is_bounded: five calls on a pool of two
 * threads: never more than two at once, two threads started, the
 * results in order. */
START_TEST(test_pool_is_bounded)
{
	run_ok(bounded_main, NULL);
	EXPECT_TRAIL("most=2 threads=2 results=0,1,2,3,4");
}
END_TEST

static long fifo_order[4], fifo_n;

static void *fifo_fn(void *arg)
{
	fifo_order[fifo_n++] = CL_TOINT(arg); /* one thread: no race */
	return NULL;
}

static void *fifo_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_executor *ex = cl_executor_new(1);
	struct cl_future *f[4], *g;

	(void)arg;
	for (long i = 0; i < 4; i++)
		f[i] = cl_loop_run_in_executor(loop, ex, fifo_fn, CL_INT(i));
	g = cl_gather(4, f);
	cl_await(g);
	note("%ld %ld %ld %ld", fifo_order[0], fifo_order[1], fifo_order[2],
	     fifo_order[3]);
	cl_future_decref(g);
	for (int i = 0; i < 4; i++)
		cl_future_decref(f[i]);
	cl_executor_shutdown(ex);
	return NULL;
}

/* ch07_threads.py, test_pool_queue_is_fifo. */
START_TEST(test_pool_queue_is_fifo)
{
	run_ok(fifo_main, NULL);
	EXPECT_TRAIL("0 1 2 3");
}
END_TEST

static struct gate first_started = GATE_INIT, first_gate = GATE_INIT;
static char ran[32];

static void *first_fn(void *arg)
{
	(void)arg;
	gate_open(&first_started);
	gate_wait(&first_gate);
	strcat(ran, ran[0] ? ",first" : "first");
	return CL_INT(1);
}

static void *second_fn(void *arg)
{
	(void)arg;
	strcat(ran, ran[0] ? ",second" : "second");
	return CL_INT(2);
}

static void *cancel_queued_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_executor *ex = cl_executor_new(1);
	struct cl_future *f1, *f2;

	(void)arg;
	f1 = cl_loop_run_in_executor(loop, ex, first_fn, NULL);
	f2 = cl_loop_run_in_executor(loop, ex, second_fn, NULL);
	while (!gate_is_open(&first_started))
		cl_sleep(0);
	cl_future_cancel(f2);
	cl_future_cancel(f1);
	cl_sleep(0); /* their done callbacks run: f2's job is taken off */
	gate_open(&first_gate);
	cl_executor_shutdown(ex);
	note("f1=%s f2=%s", tf(cl_future_cancelled(f1)),
	     tf(cl_future_cancelled(f2)));
	note("ran=%s", ran);
	cl_future_decref(f1);
	cl_future_decref(f2);
	return NULL;
}

/* ch07_threads.py, test_cancelled_before_it_runs_never_runs: a call
 * still queued when its future is cancelled never runs; one running
 * finishes, its result dropped. */
START_TEST(test_cancelled_before_it_runs_never_runs)
{
	run_ok(cancel_queued_main, NULL);
	EXPECT_TRAIL("f1=True f2=True ran=first");
}
END_TEST

static struct gate slow_started = GATE_INIT, slow_gate = GATE_INIT,
		   slow_done = GATE_INIT;

static void *slow_fn(void *arg)
{
	(void)arg;
	gate_open(&slow_started);
	gate_wait(&slow_gate);
	gate_open(&slow_done);
	return NULL;
}

static void *slow_worker(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_to_thread(slow_fn, NULL);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("worker:cancelled");
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *slow_main(void *arg)
{
	struct cl_task *t = cl_create_task(slow_worker, NULL, "worker");

	(void)arg;
	while (!gate_is_open(&slow_started))
		cl_sleep(0);
	cl_task_cancel(t);
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("main:saw-cancelled");
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	gate_open(&slow_gate);
	while (!gate_is_open(&slow_done))
		cl_sleep(0.001);
	note("fn-finished");
	return NULL;
}

/* ch07_threads.py, test_to_thread_cancelled_while_running: the task
 * awaiting to_thread is cancelled at once; the function runs on to its
 * end all the same. */
START_TEST(test_to_thread_cancelled_while_running)
{
	run_ok(slow_main, NULL);
	EXPECT_TRAIL("worker:cancelled main:saw-cancelled fn-finished");
}
END_TEST

struct debug_handoff {
	struct handoff h;
	char result[128];
};

static void nothing(void *arg)
{
	(void)arg;
}

static void *debug_thread(void *arg)
{
	struct debug_handoff *d = arg;

	CL_TRY {
		cl_loop_call_soon(d->h.loop, nothing, NULL);
		snprintf(d->result, sizeof d->result, "no error");
	} CL_CATCH(e) {
		snprintf(d->result, sizeof d->result, "%s:%s", cl_exc_name(e),
			 cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	d->h.value = "threadsafe ok";
	post(d->h.loop, set_result_cb, &d->h);
	return NULL;
}

static void *debug_main(void *arg)
{
	struct debug_handoff d = { 0 };
	const char *v;

	(void)arg;
	cl_loop_set_debug(cl_get_running_loop(), 1);
	v = await_from_thread(&d.h, debug_thread);
	note("%s", d.result);
	note("%s", v);
	return NULL;
}

/* ch07_threads.py, test_debug_mode_checks_the_thread: in debug mode,
 * call_soon from another thread raises RuntimeError;
 * call_soon_threadsafe does not. */
START_TEST(test_debug_mode_checks_the_thread)
{
	run_ok(debug_main, NULL);
	EXPECT_TRAIL("RuntimeError:Non-thread-safe operation invoked on an "
		     "event loop other than the current one threadsafe ok");
}
END_TEST

static struct gate burst_gate = GATE_INIT;

/* Wait at most 2 s for the gate: 1 if it opened. */
static int gate_wait_for(struct gate *g, int seconds)
{
	struct timespec until;
	int open;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&g->lock);
	while (!g->open &&
	       pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
		;
	open = g->open;
	pthread_mutex_unlock(&g->lock);
	return open;
}

static void *burst_a(void *arg)
{
	(void)arg;
	return gate_wait_for(&burst_gate, 2) ? "a saw b" : "a timed out";
}

static void *burst_b(void *arg)
{
	(void)arg;
	gate_open(&burst_gate);
	return "b ran";
}

static void *burst_pool_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_executor *ex = cl_executor_new(2);
	struct cl_future *w, *f[2], *g;
	void **r;

	(void)arg;
	w = cl_loop_run_in_executor(loop, ex, nothing_fn, NULL);
	cl_await(w); /* one thread, warm and idle */
	cl_future_decref(w);
	f[0] = cl_loop_run_in_executor(loop, ex, burst_a, NULL);
	f[1] = cl_loop_run_in_executor(loop, ex, burst_b, NULL);
	g = cl_gather(2, f);
	r = cl_await(g);
	note("%s, %s, threads=%d", (const char *)r[0], (const char *)r[1],
	     cl_executor_nthreads(ex));
	cl_future_decref(g);
	cl_future_decref(f[0]);
	cl_future_decref(f[1]);
	cl_executor_shutdown(ex);
	return NULL;
}

/* ch07_threads.py, test_pool_grows_for_a_burst: one thread is warm and
 * idle when two calls come together, the first waiting for the second:
 * each queued call claims a ready thread, so the pool starts a second
 * one and the first call sees the second run. */
START_TEST(test_pool_grows_for_a_burst)
{
	run_ok(burst_pool_main, NULL);
	EXPECT_TRAIL("a saw b, b ran, threads=2");
}
END_TEST

/* --- the limiter ------------------------------------------------------- */

static struct cl_limiter limiter;
static struct gate lim_gate = GATE_INIT;

static void *lim_fn(void *arg)
{
	counted_enter();
	gate_wait(&lim_gate);
	counted_leave();
	return arg;
}

static void *lim_task(void *arg)
{
	return cl_limiter_to_thread(&limiter, lim_fn, arg);
}

static void *limiter_main(void *arg)
{
	struct cl_future *f[8], *g;
	struct cl_task *t[8];
	void **res;

	(void)arg;
	cl_limiter_init(&limiter, 3);
	for (long i = 0; i < 8; i++) {
		t[i] = cl_create_task(lim_task, CL_INT(i), NULL);
		f[i] = cl_task_future(t[i]);
	}
	while (running_now_is() < 3) /* three on threads, five waiting */
		cl_sleep(0);
	for (int i = 0; i < 10; i++) /* time for a fourth to start, if */
		cl_sleep(0);	     /* the limiter let one */
	note("running=%d", running_now_is());
	gate_open(&lim_gate);
	g = cl_gather(8, f);
	res = cl_await(g);
	note("most=%d", running_most);
	note("results=%ld..%ld", (long)CL_TOINT(res[0]), (long)CL_TOINT(res[7]));
	cl_future_decref(g);
	for (int i = 0; i < 8; i++)
		cl_task_decref(t[i]);
	cl_limiter_destroy(&limiter);
	return NULL;
}

/* ch07_threads.py, test_limiter_bounds_the_calls: eight calls through
 * a limiter of three: three run on threads, five wait as tasks. */
START_TEST(test_limiter_bounds_the_calls)
{
	run_ok(limiter_main, NULL);
	EXPECT_TRAIL("running=3 most=3 results=0..7");
}
END_TEST

static struct gate keep_started = GATE_INIT, keep_gate = GATE_INIT;
static char keep_order[64];
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_note(const char *what)
{
	pthread_mutex_lock(&keep_lock);
	if (keep_order[0])
		strcat(keep_order, " ");
	strcat(keep_order, what);
	pthread_mutex_unlock(&keep_lock);
}

static void *keep_slow(void *arg)
{
	(void)arg;
	gate_open(&keep_started);
	gate_wait(&keep_gate);
	keep_note("slow-finished");
	return NULL;
}

static void *keep_fast(void *arg)
{
	(void)arg;
	keep_note("fast-ran");
	return NULL;
}

static void *keep_slow_task(void *arg)
{
	return cl_limiter_to_thread(&limiter, keep_slow, arg);
}

static void *keep_fast_task(void *arg)
{
	return cl_limiter_to_thread(&limiter, keep_fast, arg);
}

static void *keep_main(void *arg)
{
	struct cl_task *a, *b;

	(void)arg;
	cl_limiter_init(&limiter, 1);
	a = cl_create_task(keep_slow_task, NULL, "slow");
	while (!gate_is_open(&keep_started))
		cl_sleep(0);
	cl_task_cancel(a);
	CL_TRY {
		cl_await_task(a);
	} CL_CATCH(e) {
		note("slow:%s", cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	b = cl_create_task(keep_fast_task, NULL, "fast");
	for (int i = 0; i < 10; i++) /* fast would run now if the unit */
		cl_sleep(0);	     /* had gone back with the cancel */
	gate_open(&keep_gate);
	cl_await_task(b);
	note("%s", keep_order);
	cl_task_decref(a);
	cl_task_decref(b);
	cl_limiter_destroy(&limiter);
	return NULL;
}

/* A limiter of one: the task waiting for a slow call is cancelled; the
 * call runs on, and holds its unit until it ends, so the next call
 * starts only then. (asyncio's Semaphore around to_thread gives the
 * unit back at the cancellation: fast-ran would come first there.) */
START_TEST(test_limited_call_keeps_its_unit_when_cancelled)
{
	run_ok(keep_main, NULL);
	EXPECT_TRAIL("slow:CancelledError slow-finished fast-ran");
}
END_TEST

/* --- Runner ---------------------------------------------------------- */

static void *runner_bg(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_sleep(1);
		note("bg:1");
		cl_sleep(3);
		note("bg:2");
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("bg:cancelled");
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static struct cl_agen *left_open;

static void *runner_gen(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_agen_yield(CL_INT(1));
		cl_sleep(10);
		cl_agen_yield(CL_INT(2));
	} CL_CATCH(e) { /* finally: */
		note("gen:closed");
		cl_raise(e);
	} CL_END_TRY;
	note("gen:closed");
	return NULL;
}

static void *runner_first(void *arg)
{
	(void)arg;
	cl_task_decref(cl_create_task(runner_bg, NULL, "bg"));
	left_open = cl_agen_new(runner_gen, NULL, "gen");
	cl_agen_anext(left_open);
	cl_sleep(0);
	note("first:done");
	return NULL;
}

static void *runner_second(void *arg)
{
	(void)arg;
	cl_sleep(2);
	note("second:done");
	return NULL;
}

/* Fail unless a run of r returned 0. */
static void runner_ok(struct cl_runner *r, void *(*fn)(void *))
{
	void *out;
	int st = cl_runner_run(r, fn, NULL, &out);

	CL_EXPECT(st == 0, "cl_runner_run returned %d (%s)", st,
		  st == CL_RUN_RAISED ? cl_exc_message(out) : "");
}

/* ch07_threads.py, test_runner_keeps_tasks_between_runs: a task the
 * first run leaves behind goes on during the second; close cancels it,
 * then closes the async generator the first run left open. */
START_TEST(test_runner_keeps_tasks_between_runs)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	struct cl_runner *r = cl_runner_new(&opts);

	trail[0] = '\0';
	runner_ok(r, runner_first);
	runner_ok(r, runner_second);
	cl_runner_close(r);
	cl_agen_decref(left_open);
	EXPECT_TRAIL("first:done bg:1 second:done bg:cancelled gen:closed");
}
END_TEST

static struct cl_contextvar rx;

static void *runner_a(void *arg)
{
	(void)arg;
	cl_contextvar_set(&rx, CL_INT(1));
	return NULL;
}

static const char *rx_str(void)
{
	static char buf[24];
	void *v = cl_contextvar_get_or(&rx, "LookupError");

	if (v == (void *)"LookupError")
		return "LookupError";
	snprintf(buf, sizeof buf, "%ld", (long)CL_TOINT(v));
	return buf;
}

static void *rx_in_thread(void *arg)
{
	(void)arg;
	return (void *)rx_str(); /* rx_str's buffer: read on the loop's
				    thread once this one is done */
}

static void *runner_b(void *arg)
{
	(void)arg;
	note("b:x=%s", rx_str());
	note("thread:x=%s", (const char *)cl_to_thread(rx_in_thread, NULL));
	return NULL;
}

/* ch07_threads.py, test_runner_runs_share_a_context: every run's main
 * task runs in the runner's one context: what the first sets, the
 * second sees (and so do its calls on threads); the caller's context is
 * not touched. */
START_TEST(test_runner_runs_share_a_context)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	struct cl_runner *r;

	cl_contextvar_init(&rx, "x");
	r = cl_runner_new(&opts);
	trail[0] = '\0';
	runner_ok(r, runner_a);
	runner_ok(r, runner_b);
	cl_runner_close(r);
	note("outside:x=%s", rx_str());
	EXPECT_TRAIL("b:x=1 thread:x=1 outside:x=LookupError");
}
END_TEST

static void *nothing_main(void *arg)
{
	return arg;
}

static void *answer_main(void *arg)
{
	(void)arg;
	return CL_INT(42);
}

/* On a pool thread: a loop of the thread's own. */
static void *own_loop(void *arg)
{
	void *out = NULL;

	(void)arg;
	if (cl_run(answer_main, NULL, &out) != 0)
		return CL_INT(-1);
	return out;
}

static void *nested_main(void *arg)
{
	struct cl_runner *r = cl_runner_new(NULL);
	struct cl_loop *other = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_future *f = cl_future_new(other);
	void *out;

	(void)arg;
	if (cl_runner_run(r, nothing_main, NULL, &out) == CL_RUN_RAISED) {
		note("%s:%s", cl_exc_name(out), cl_exc_message(out));
		cl_exc_decref(out);
	}
	cl_runner_close(r);
	note("other loop: %s", cl_loop_run_until_complete(other, f) == -EBUSY
				       ? "EBUSY"
				       : "ran");
	cl_future_decref(f);
	cl_loop_free(other);
	note("thread's own loop: %ld", (long)CL_TOINT(cl_to_thread(own_loop,
								   NULL)));
	return NULL;
}

/* ch07_threads.py, test_runner_inside_a_loop_is_refused: loops do not
 * nest on a thread; a pool thread may run one of its own. (The C adds the lower level: running another loop from inside
 * one is -EBUSY, asyncio's "Cannot run the event loop while another
 * loop is running".) */
START_TEST(test_runner_inside_a_loop_is_refused)
{
	run_on(CL_CLOCK_VIRTUAL, nested_main, NULL);
	EXPECT_TRAIL("RuntimeError:Runner.run() cannot be called from a "
		     "running event loop other loop: EBUSY thread's own loop: "
		     "42");
}
END_TEST

static void add_thread_tests(void)
{
	cl_test(test_threadsafe_call_wakes_the_loop, 2, SEC_THREADSAFE);
	cl_test(test_threadsafe_call_through_the_self_pipe, 1,
		SEC_THREADSAFE);
	cl_test(test_threadsafe_calls_run_in_order, 2, SEC_THREADSAFE);
	cl_test(test_threadsafe_calls_from_many_threads, 3, SEC_THREADSAFE);
	cl_test(test_threadsafe_call_runs_in_the_callers_context, 2,
		SEC_THREADSAFE);
	cl_test(test_threadsafe_call_needs_a_held_loop, 2, SEC_THREADSAFE);
	cl_test(test_unheld_loop_still_reports_a_deadlock, 1, SEC_THREADSAFE);
	cl_test(test_run_in_executor_returns_the_result, 2, SEC_POOL);
	cl_test(test_run_in_executor_raises_what_fn_raised, 2, SEC_POOL);
	cl_test(test_to_thread_copies_the_context, 2, SEC_POOL);
	cl_test(test_pool_is_bounded, 2, SEC_POOL);
	cl_test(test_pool_queue_is_fifo, 1, SEC_POOL);
	cl_test(test_pool_grows_for_a_burst, 2, SEC_POOL);
	cl_test(test_cancelled_before_it_runs_never_runs, 2, SEC_POOL);
	cl_test(test_to_thread_cancelled_while_running, 2, SEC_POOL);
	cl_test(test_debug_mode_checks_the_thread, 2, SEC_POOL);
	cl_test(test_limiter_bounds_the_calls, 2, SEC_POOL);
	cl_test(test_limited_call_keeps_its_unit_when_cancelled, 2, SEC_POOL);
	cl_test(test_runner_keeps_tasks_between_runs, 2, SEC_POOL);
	cl_test(test_runner_runs_share_a_context, 2, SEC_POOL);
	cl_test(test_runner_inside_a_loop_is_refused, 1, SEC_POOL);
}

CL_CHAPTER(7, "07-threads", "threads", add_thread_tests)
