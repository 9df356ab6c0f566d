/*
 * ch07_locks.c - chapter 07, sections 2 to 4: Lock, Semaphore,
 * BoundedSemaphore, Event, Condition and Barrier (locks.h).
 *
 * Every expectation here is what CPython 3.11's asyncio does with the
 * same program, written in tests/py/ch07_locks.py (the comment above
 * each test names the block; run it with python3 and compare). The twin
 * runs on a virtual clock like ours, so times are exact on both sides.
 * Many scenarios count loop iterations: cl_sleep(0) there is the twin's
 * "await asyncio.sleep(0)", one step for every task that is ready.
 *
 * st_lock(l) and its siblings print what the object's repr holds
 * between its brackets ("[locked, waiters:2]"), the twin's st(x);
 * err_str(e) is Type:message. The lost wake-up cases are the windows
 * between a wake-up and the woken task's step: a cancel there, a
 * release or a newcomer there.
 *
 * Every test has a task wait in a queue (the lab's waitq region) or
 * uses a semaphore (the semaphore region), so a lab with those stubbed
 * scores 0 here.
 *
 * Where the C must differ from the Python: "async with" is the _run
 * helpers (cl_lock_run ...) around a body function; asyncio.gather
 * with return_exceptions is the tasks awaited one by one; acquire and
 * wait return nothing (Python's return True); objects are statics,
 * since tasks left behind by a failing test still point at them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exc.h"
#include "future.h"
#include "grade.h"
#include "locks.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "trace.h"
#include "trail.h"
#include "value.h"

#define SEC_LOCK "2. Locks"
#define SEC_SEM "3. Semaphores"
#define SEC_SYNC "4. Conditions, events, barriers"

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
	static char buf[16][128];
	static int i;

	i = (i + 1) % 16;
	buf[i][0] = '\0';
	return buf[i];
}

/* The loop's clock as Python's f"{loop.time():g}" prints it. */
static const char *now(void)
{
	char *s = slot();

	snprintf(s, 128, "%g", cl_loop_time(cl_get_running_loop()));
	return s;
}

/* The twin's st(x): a repr's bracketed part, "[locked, waiters:1]". */
static const char *bracket(const char *repr)
{
	const char *from = strstr(repr, " [");
	char *s = slot();
	size_t n;

	if (from == NULL)
		return repr;
	from++;
	n = strlen(from);
	if (n > 0 && from[n - 1] == '>')
		n--;
	snprintf(s, 128, "%.*s", (int)n, from);
	return s;
}

static const char *st_lock(const struct cl_lock *l)
{
	char buf[128];

	return bracket(cl_lock_repr(l, buf, sizeof buf));
}

static const char *st_sem(const struct cl_semaphore *s)
{
	char buf[128];

	return bracket(cl_semaphore_repr(s, buf, sizeof buf));
}

static const char *st_ev(const struct cl_event *ev)
{
	char buf[128];

	return bracket(cl_event_repr(ev, buf, sizeof buf));
}

static const char *st_cond(const struct cl_condition *c)
{
	char buf[128];

	return bracket(cl_condition_repr(c, buf, sizeof buf));
}

static const char *st_bar(const struct cl_barrier *b)
{
	char buf[128];

	return bracket(cl_barrier_repr(b, buf, sizeof buf));
}

/* The twin's err(e): "RuntimeError:Lock is not acquired." */
static const char *err_str(const struct cl_exc *e)
{
	char *s = slot();

	snprintf(s, 128, "%s:%s", cl_exc_name(e), cl_exc_message(e));
	return s;
}

/* try: stmt / except type as e: log.append(err(e)) */
#define NOTE_RAISE(type, stmt)                                               \
	do {                                                                 \
		CL_TRY {                                                     \
			stmt;                                                \
		} CL_CATCH(e_) {                                             \
			if (!cl_exc_matches(e_, (type)))                     \
				cl_raise(e_);                                \
			note("%s", err_str(e_));                             \
			cl_exc_decref(e_);                                   \
		} CL_END_TRY;                                                \
	} while (0)

/* A new task, or fail the test. */
static struct cl_task *spawn(void *(*fn)(void *), const void *arg)
{
	struct cl_task *t = cl_create_task(fn, (void *)arg, NULL);

	CL_EXPECT(t != NULL, "create_task failed (log so far: \"%s\")",
		  trail);
	return t;
}

static int cancelled(struct cl_task *t)
{
	return cl_future_cancelled(cl_task_future(t));
}

/* await t; a cancelled t is fine. */
static void settle1(struct cl_task *t)
{
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* The twin's settle(tasks): await each; a cancelled one is fine. */
static void settle(struct cl_task *const ts[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		settle1(ts[i]);
}

static void drop(struct cl_task *const ts[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		cl_task_decref(ts[i]);
}

/* The objects. Each test initializes those it uses; each test runs in
 * a process of its own. */
static struct cl_lock lk;
static struct cl_semaphore sem;
static struct cl_event ev;
static struct cl_condition cond, cond2;
static struct cl_barrier bar, bar2;

/*
 * The twin's holder(lock, name, hold): take the lock (or the
 * semaphore), note when, hold it hold seconds, let it go; a
 * cancellation is noted and let out.
 */
struct holder {
	const char *name;
	struct cl_lock *lock; /* this, or */
	struct cl_semaphore *sem;
	double hold;
};

#define LOCKER(name, hold) { name, &lk, NULL, hold }
#define SEMER(name, hold) { name, NULL, &sem, hold }

static void *holder(void *arg)
{
	const struct holder *h = arg;

	CL_TRY {
		if (h->lock != NULL)
			cl_lock_acquire(h->lock);
		else
			cl_semaphore_acquire(h->sem);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:cancelled@%s", h->name, now());
		cl_raise(e);
	} CL_END_TRY;
	note("%s:got@%s", h->name, now());
	cl_sleep(h->hold);
	if (h->lock != NULL)
		cl_lock_release(h->lock);
	else
		cl_semaphore_release(h->sem);
	return NULL;
}

/* ---- 2. Locks ------------------------------------------------------------ */

static void *lock_fifo_main(void *arg)
{
	static const struct holder hs[] = { LOCKER("a", 1), LOCKER("b", 1),
					    LOCKER("c", 1) };
	struct cl_task *ts[3];

	(void)arg;
	note("%s locked=%s", st_lock(&lk), tf(cl_lock_locked(&lk)));
	cl_lock_acquire(&lk);
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(holder, &hs[i]);
	cl_sleep(0);
	note("%s", st_lock(&lk));
	cl_lock_release(&lk);
	note("%s", st_lock(&lk));
	settle(ts, 3);
	note("%s@%s", st_lock(&lk), now());
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_lock_waiters_get_it_in_fifo_order */
START_TEST(test_lock_waiters_get_it_in_fifo_order)
{
	cl_lock_init(&lk);
	run_ok(lock_fifo_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("[unlocked] locked=False [locked, waiters:3] "
		     "[unlocked, waiters:3] a:got@0 b:got@1 c:got@2 "
		     "[unlocked]@3");
}
END_TEST

static void *lock_unlocked_main(void *arg)
{
	static const struct holder a = LOCKER("a", 1);
	struct cl_task *t;

	(void)arg;
	t = spawn(holder, &a);
	cl_sleep(0);
	cl_lock_acquire(&lk);
	note("main:got@%s", now());
	cl_lock_release(&lk);
	NOTE_RAISE(&cl_RuntimeError, cl_lock_release(&lk));
	note("%s", st_lock(&lk));
	settle(&t, 1);
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_lock_release_of_an_unlocked_lock */
START_TEST(test_lock_release_of_an_unlocked_lock)
{
	cl_lock_init(&lk);
	run_ok(lock_unlocked_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("a:got@0 main:got@1 RuntimeError:Lock is not acquired. "
		     "[unlocked]");
}
END_TEST

static void *keeper(void *arg)
{
	(void)arg;
	cl_lock_acquire(&lk);
	note("a:got@%s", now());
	cl_sleep(2);
	CL_TRY {
		cl_lock_release(&lk);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_RuntimeError))
			cl_raise(e);
		note("a:%s@%s", err_str(e), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

static void *releaser(void *arg)
{
	(void)arg;
	cl_sleep(1);
	cl_lock_release(&lk);
	note("b:released@%s", now());
	return NULL;
}

static void *lock_no_owner_main(void *arg)
{
	static const struct holder c = LOCKER("c", 0.5);
	struct cl_task *ts[3];

	(void)arg;
	ts[0] = spawn(keeper, NULL);
	ts[1] = spawn(releaser, NULL);
	ts[2] = spawn(holder, &c);
	settle(ts, 3);
	note("%s", st_lock(&lk));
	drop(ts, 3);
	return NULL;
}

/*
 * ch07_locks.py, test_lock_any_task_may_release_it. The issue asked for
 * an error on a release by a non-owner; CPython's Lock has no owner,
 * and the kit follows CPython.
 */
START_TEST(test_lock_any_task_may_release_it)
{
	cl_lock_init(&lk);
	run_ok(lock_no_owner_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("a:got@0 b:released@1 c:got@1 a:RuntimeError:Lock is not "
		     "acquired.@2 [unlocked]");
}
END_TEST

static void *lock_cancel_waiting_main(void *arg)
{
	static const struct holder hs[] = { LOCKER("a", 1), LOCKER("b", 1),
					    LOCKER("c", 1) };
	struct cl_task *ts[3];

	(void)arg;
	cl_lock_acquire(&lk);
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(holder, &hs[i]);
	cl_sleep(0);
	cl_task_cancel(ts[1]);
	note("%s", st_lock(&lk));
	cl_sleep(0);
	note("%s", st_lock(&lk));
	cl_lock_release(&lk);
	settle(ts, 3);
	note("b=%s %s", tf(cancelled(ts[1])), st_lock(&lk));
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_lock_cancelled_waiter_is_skipped */
START_TEST(test_lock_cancelled_waiter_is_skipped)
{
	cl_lock_init(&lk);
	run_ok(lock_cancel_waiting_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("[locked, waiters:3] b:cancelled@0 [locked, waiters:2] "
		     "a:got@0 c:got@1 b=True [unlocked]");
}
END_TEST

static void *lock_cancel_woken_main(void *arg)
{
	static const struct holder hs[] = { LOCKER("a", 1), LOCKER("b", 1),
					    LOCKER("c", 1), LOCKER("d", 1) };
	struct cl_task *ts[4];

	(void)arg;
	cl_lock_acquire(&lk);
	ts[0] = spawn(holder, &hs[0]);
	ts[1] = spawn(holder, &hs[1]);
	cl_sleep(0);
	cl_lock_release(&lk);
	cl_task_cancel(ts[0]);
	note("%s", st_lock(&lk));
	cl_sleep(0);
	note("%s", st_lock(&lk));
	cl_sleep(0);
	note("%s", st_lock(&lk));
	settle(ts, 2);
	note("a=%s %s", tf(cancelled(ts[0])), st_lock(&lk));

	cl_lock_acquire(&lk);
	ts[2] = spawn(holder, &hs[2]);
	ts[3] = spawn(holder, &hs[3]);
	cl_sleep(0);
	cl_task_cancel(ts[2]);
	cl_lock_release(&lk);
	note("%s", st_lock(&lk));
	cl_sleep(0);
	note("%s", st_lock(&lk));
	cl_sleep(0);
	note("%s", st_lock(&lk));
	settle(ts + 2, 2);
	note("c=%s %s@%s", tf(cancelled(ts[2])), st_lock(&lk), now());
	drop(ts, 4);
	return NULL;
}

/* ch07_locks.py, test_lock_woken_waiter_cancelled_passes_it_on */
START_TEST(test_lock_woken_waiter_cancelled_passes_it_on)
{
	cl_lock_init(&lk);
	run_ok(lock_cancel_woken_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("[unlocked, waiters:2] a:cancelled@0 "
		     "[unlocked, waiters:1] b:got@0 [locked] a=True [unlocked] "
		     "[unlocked, waiters:2] c:cancelled@1 "
		     "[unlocked, waiters:1] d:got@1 [locked] c=True "
		     "[unlocked]@2");
}
END_TEST

static void *lock_newcomer_main(void *arg)
{
	static const struct holder hs[] = { LOCKER("a", 1), LOCKER("b", 1) };
	struct cl_task *ts[2];

	(void)arg;
	cl_lock_acquire(&lk);
	ts[0] = spawn(holder, &hs[0]);
	cl_sleep(0);
	cl_lock_release(&lk);
	cl_lock_acquire(&lk);
	note("main:got@%s", now());
	ts[1] = spawn(holder, &hs[1]);
	cl_sleep(0);
	cl_task_cancel(ts[1]);
	cl_lock_release(&lk);
	note("%s", st_lock(&lk));
	cl_lock_acquire(&lk);
	note("main:again@%s %s", now(), st_lock(&lk));
	cl_lock_release(&lk);
	settle(ts, 2);
	note("b=%s", tf(cancelled(ts[1])));
	drop(ts, 2);
	return NULL;
}

/* ch07_locks.py, test_lock_newcomer_waits_behind_a_woken_waiter */
START_TEST(test_lock_newcomer_waits_behind_a_woken_waiter)
{
	cl_lock_init(&lk);
	run_ok(lock_newcomer_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("a:got@0 main:got@1 [unlocked, waiters:1] main:again@1 "
		     "[locked, waiters:1] b:cancelled@1 b=True");
}
END_TEST

/* The twin's with_body(lock, name, fail): "async with lock:" around
 * with_inner. */
struct with_args {
	const char *name;
	int fail;
};

static void *with_inner(void *arg)
{
	const struct with_args *w = arg;

	note("%s:in@%s %s", w->name, now(), st_lock(&lk));
	cl_sleep(1);
	if (w->fail)
		cl_raise(cl_exc_new(&cl_ValueError, "%s", w->name));
	return NULL;
}

static void *with_body(void *arg)
{
	cl_lock_run(&lk, with_inner, arg);
	return CL_INT(7);
}

static void *lock_with_main(void *arg)
{
	static const struct with_args wa = { "a", 1 }, wb = { "b", 0 };
	struct cl_task *a, *b;
	void *r;

	(void)arg;
	a = spawn(with_body, &wa);
	b = spawn(with_body, &wb);
	CL_TRY {
		cl_await_task(a);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_ValueError))
			cl_raise(e);
		note("a:%s@%s", err_str(e), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	r = cl_await_task(b);
	note("b=%ld@%s %s", (long)CL_TOINT(r), now(), st_lock(&lk));
	cl_task_decref(a);
	cl_task_decref(b);
	return NULL;
}

/* ch07_locks.py, test_lock_async_with_releases_on_every_way_out */
START_TEST(test_lock_async_with_releases_on_every_way_out)
{
	cl_lock_init(&lk);
	run_ok(lock_with_main, NULL);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("a:in@0 [locked] b:in@1 [locked] a:ValueError:a@1 "
		     "b=7@2 [unlocked]");
}
END_TEST

/* The owner the lock records, seen by each task while it holds it. */
static unsigned long seen_owner[4];

static void *traced(void *arg)
{
	long me = (long)CL_TOINT(arg);

	cl_lock_acquire(&lk);
	seen_owner[me] = cl_lock_owner(&lk);
	cl_sleep(1);
	cl_lock_release(&lk);
	return NULL;
}

static void *lock_trace_main(void *arg)
{
	struct cl_task *ts[2];

	(void)arg;
	cl_lock_acquire(&lk);
	seen_owner[1] = cl_lock_owner(&lk);
	ts[0] = spawn(traced, CL_INT(2));
	ts[1] = spawn(traced, CL_INT(3));
	cl_sleep(1);
	cl_lock_release(&lk);
	settle(ts, 2);
	drop(ts, 2);
	return NULL;
}

/* main holds the lock and awaits a task that wants it: a deadlock. */
static void *deadlock_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_lock_acquire(&lk);
	t = spawn(traced, CL_INT(2));
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		cl_task_decref(t);
		cl_raise(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return NULL;
}

/*
 * ch07_locks.py, test_lock_trace_says_who_holds_it. The tracer's
 * lock.acquire and lock.release events, and the await events of tasks
 * waiting on the lock, read back from the file, as
 * "acquire:lock=1:task=T" (lock=1 is this test's lock, whatever its
 * id). Task 1 is main, 2 and 3 the two others, in creation order.
 * Beyond the twin: the owner the lock records is the task holding it,
 * and nobody once it is released; and a run that deadlocks on the lock
 * says so ("waits on lock:N"), which asyncio cannot.
 */
START_TEST(test_lock_trace_says_who_holds_it)
{
	char path[] = "/tmp/corolab-ch07l-XXXXXX", line[512], want[64];
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	char *report = NULL;
	size_t len = 0;
	int fd = mkstemp(path);
	void *out;
	FILE *f;

	CL_EXPECT(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	cl_lock_init(&lk);
	CL_EXPECT_INT(cl_trace_open(path), 0);
	run_ok(lock_trace_main, NULL);
	cl_trace_close();
	f = fopen(path, "r");
	CL_EXPECT(f != NULL, "cannot read the trace back");
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long lock, task;
		char name[32];

		if (line[0] == '#')
			continue;
		if (sscanf(line, "%*d %*d %*d %31s lock=%lu task=%lu", name,
			   &lock, &task) == 3 &&
		    strncmp(name, "lock.", 5) == 0)
			note("%s:lock=%lu:task=%lu", name + 5,
			     lock == lk.id ? 1UL : lock, task);
		else if (sscanf(line, "%*d %*d %*d await task=%lu on=lock:%lu",
				&task, &lock) == 2)
			note("await:lock=%lu:task=%lu",
			     lock == lk.id ? 1UL : lock, task);
	}
	fclose(f);
	unlink(path);
	for (unsigned long i = 1; i <= 3; i++)
		CL_EXPECT(seen_owner[i] == i, "task %lu saw owner %lu", i,
			  seen_owner[i]);
	CL_EXPECT_INT(cl_lock_owner(&lk), 0);
	EXPECT_TRAIL("acquire:lock=1:task=1 await:lock=1:task=2 "
		     "await:lock=1:task=3 release:lock=1:task=1 "
		     "acquire:lock=1:task=2 release:lock=1:task=2 "
		     "acquire:lock=1:task=3 release:lock=1:task=3");

	/* A new lock: the first one is bound to the first run's loop. */
	cl_lock_destroy(&lk);
	cl_lock_init(&lk);
	opts.err = open_memstream(&report, &len);
	CL_EXPECT(opts.err != NULL, "open_memstream failed");
	CL_EXPECT_INT(cl_run_with(deadlock_main, NULL, &opts, &out),
		      -EDEADLK);
	fclose(opts.err);
	snprintf(want, sizeof want, "task:2 'Task-2' waits on lock:%lu",
		 lk.id);
	CL_EXPECT(strstr(report, want) != NULL,
		  "the deadlock report does not say \"%s\": \"%s\"", want,
		  report);
	free(report);
	cl_lock_destroy(&lk);
}
END_TEST

/* The twin's contend(lock, name): take the lock, let a holder queue
 * behind, release, await the holder. */
static void *contend(void *arg)
{
	const struct holder *h = arg;
	struct cl_task *t;

	cl_lock_acquire(&lk);
	t = spawn(holder, h);
	cl_sleep(0);
	cl_lock_release(&lk);
	CL_TRY {
		cl_await_task(t);
	} CL_CATCH(e) {
		cl_task_decref(t);
		cl_raise(e);
	} CL_END_TRY;
	cl_task_decref(t);
	note("%s:ok", h->name);
	return NULL;
}

static void *uncontended(void *arg)
{
	(void)arg;
	cl_lock_acquire(&lk);
	cl_lock_release(&lk);
	note("free:ok");
	return NULL;
}

/* loop.run_until_complete(fn(arg)): NULL, or what it raised (a
 * reference). */
static struct cl_exc *run_in(struct cl_loop *loop, void *(*fn)(void *),
			     const void *arg)
{
	struct cl_task *t = cl_loop_create_task(loop, fn, (void *)arg, NULL);
	struct cl_exc *e = NULL;
	int st;

	CL_EXPECT(t != NULL, "create_task failed");
	st = cl_loop_run_until_complete(loop, cl_task_future(t));
	CL_EXPECT(st == 0, "run_until_complete returned %d (log so far: "
		  "\"%s\")", st, trail);
	if (cl_future_cancelled(cl_task_future(t)))
		e = cl_exc_new(&cl_CancelledError, NULL);
	else if (cl_future_exception(cl_task_future(t)) != NULL)
		e = cl_exc_incref(cl_future_exception(cl_task_future(t)));
	cl_task_decref(t);
	return e;
}

/* ch07_locks.py, test_lock_is_bound_to_one_loop */
START_TEST(test_lock_is_bound_to_one_loop)
{
	static const struct holder one = LOCKER("one", 0),
				   two = LOCKER("two", 0);
	struct cl_loop *l1 = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_loop *l2 = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_exc *e;
	const char *tail;

	CL_EXPECT(l1 != NULL && l2 != NULL, "cl_loop_new failed");
	trail[0] = '\0';
	cl_lock_init(&lk);
	e = run_in(l1, contend, &one);
	CL_EXPECT(e == NULL, "loop one: %s", e ? err_str(e) : "");
	e = run_in(l2, uncontended, NULL);
	CL_EXPECT(e == NULL, "free: %s", e ? err_str(e) : "");
	e = run_in(l2, contend, &two);
	CL_EXPECT(e != NULL, "loop two raised nothing (log: \"%s\")", trail);
	tail = strstr(cl_exc_message(e), "> ");
	note("%s:%s", cl_exc_name(e), tail ? tail + 2 : cl_exc_message(e));
	cl_exc_decref(e);
	cl_loop_free(l1);
	cl_loop_free(l2);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("one:got@0 one:ok free:ok RuntimeError:is bound to a "
		     "different event loop");
}
END_TEST

/* ---- 3. Semaphores ------------------------------------------------------ */

static void *sem_fifo_main(void *arg)
{
	static const struct holder hs[] = { SEMER("a", 2), SEMER("b", 1),
					    SEMER("c", 2), SEMER("d", 1) };
	struct cl_task *ts[4];

	(void)arg;
	note("%s locked=%s", st_sem(&sem), tf(cl_semaphore_locked(&sem)));
	for (int i = 0; i < 4; i++)
		ts[i] = spawn(holder, &hs[i]);
	cl_sleep(0);
	note("%s locked=%s", st_sem(&sem), tf(cl_semaphore_locked(&sem)));
	settle(ts, 4);
	note("%s@%s", st_sem(&sem), now());
	drop(ts, 4);
	return NULL;
}

/* ch07_locks.py, test_semaphore_counts_and_keeps_fifo_order */
START_TEST(test_semaphore_counts_and_keeps_fifo_order)
{
	cl_semaphore_init(&sem, 2);
	run_ok(sem_fifo_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[unlocked, value:2] locked=False a:got@0 b:got@0 "
		     "[locked, waiters:2] locked=True c:got@1 d:got@2 "
		     "[unlocked, value:2]@3");
}
END_TEST

static void *sem_errors_main(void *arg)
{
	static const struct holder a = SEMER("a", 1);
	struct cl_semaphore bad;
	struct cl_task *t;

	(void)arg;
	NOTE_RAISE(&cl_ValueError, cl_semaphore_init(&bad, -1));
	cl_bounded_semaphore_init(&sem, 1);
	t = spawn(holder, &a);
	cl_sleep(0);
	cl_semaphore_acquire(&sem);
	note("main:got@%s", now());
	cl_semaphore_release(&sem);
	NOTE_RAISE(&cl_ValueError, cl_semaphore_release(&sem));
	note("%s", st_sem(&sem));
	settle(&t, 1);
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_semaphore_errors */
START_TEST(test_semaphore_errors)
{
	run_ok(sem_errors_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("ValueError:Semaphore initial value must be >= 0 a:got@0 "
		     "main:got@1 ValueError:BoundedSemaphore released too many "
		     "times [unlocked, value:1]");
}
END_TEST

static void *sem_cancel_waiting_main(void *arg)
{
	static const struct holder hs[] = { SEMER("a", 1), SEMER("b", 1),
					    SEMER("c", 1) };
	struct cl_task *ts[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(holder, &hs[i]);
	cl_sleep(0);
	cl_task_cancel(ts[1]);
	note("%s", st_sem(&sem));
	cl_sleep(0);
	note("%s", st_sem(&sem));
	settle(ts, 3);
	note("b=%s %s@%s", tf(cancelled(ts[1])), st_sem(&sem), now());
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_semaphore_cancelled_waiter_is_skipped */
START_TEST(test_semaphore_cancelled_waiter_is_skipped)
{
	cl_semaphore_init(&sem, 1);
	run_ok(sem_cancel_waiting_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("a:got@0 [locked, waiters:2] b:cancelled@0 "
		     "[locked, waiters:1] c:got@1 b=True "
		     "[unlocked, value:1]@2");
}
END_TEST

static void *sem_cancel_woken_main(void *arg)
{
	static const struct holder hs[] = { SEMER("a", 1), SEMER("b", 1) };
	struct cl_task *ts[2];

	(void)arg;
	ts[0] = spawn(holder, &hs[0]);
	ts[1] = spawn(holder, &hs[1]);
	cl_sleep(0);
	cl_semaphore_release(&sem);
	cl_task_cancel(ts[0]);
	note("%s", st_sem(&sem));
	cl_sleep(0);
	note("%s", st_sem(&sem));
	settle(ts, 2);
	note("a=%s %s@%s", tf(cancelled(ts[0])), st_sem(&sem), now());
	drop(ts, 2);
	return NULL;
}

/* ch07_locks.py, test_semaphore_woken_waiter_cancelled_passes_it_on */
START_TEST(test_semaphore_woken_waiter_cancelled_passes_it_on)
{
	cl_semaphore_init(&sem, 0);
	run_ok(sem_cancel_woken_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[locked, waiters:2] a:cancelled@0 [locked, waiters:1] "
		     "b:got@0 a=True [unlocked, value:1]@1");
}
END_TEST

static void *sem_two_releases_main(void *arg)
{
	static const struct holder hs[] = { SEMER("a", 1), SEMER("b", 1),
					    SEMER("c", 1) };
	struct cl_task *ts[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(holder, &hs[i]);
	cl_sleep(0);
	cl_semaphore_release(&sem);
	cl_semaphore_release(&sem);
	note("%s", st_sem(&sem));
	cl_sleep(0);
	note("%s", st_sem(&sem));
	settle(ts, 2);
	note("%s", st_sem(&sem));
	cl_semaphore_release(&sem);
	settle(ts, 3);
	note("%s@%s", st_sem(&sem), now());
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_semaphore_two_releases_wake_two */
START_TEST(test_semaphore_two_releases_wake_two)
{
	cl_semaphore_init(&sem, 0);
	run_ok(sem_two_releases_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[locked, waiters:3] a:got@0 b:got@0 [locked, waiters:1] "
		     "c:got@1 [unlocked, value:1] [unlocked, value:3]@2");
}
END_TEST

static void *sem_locked_cancelled_main(void *arg)
{
	static const struct holder a = SEMER("a", 1);
	struct cl_task *t;

	(void)arg;
	t = spawn(holder, &a);
	cl_sleep(0);
	cl_task_cancel(t);
	cl_semaphore_release(&sem);
	note("%s locked=%s", st_sem(&sem), tf(cl_semaphore_locked(&sem)));
	cl_semaphore_acquire(&sem);
	note("main:got %s", st_sem(&sem));
	cl_semaphore_release(&sem);
	settle(&t, 1);
	note("a=%s %s", tf(cancelled(t)), st_sem(&sem));
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_semaphore_locked_ignores_cancelled_waiters */
START_TEST(test_semaphore_locked_ignores_cancelled_waiters)
{
	cl_semaphore_init(&sem, 0);
	run_ok(sem_locked_cancelled_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[unlocked, value:1, waiters:1] locked=False main:got "
		     "[locked, waiters:1] a:cancelled@0 a=True "
		     "[unlocked, value:1]");
}
END_TEST

static void *sem_woken_next_main(void *arg)
{
	static const struct holder a = SEMER("a", 2);
	struct cl_task *t;

	(void)arg;
	t = spawn(holder, &a);
	cl_sleep(0);
	cl_semaphore_release(&sem);
	cl_semaphore_release(&sem);
	note("%s locked=%s", st_sem(&sem), tf(cl_semaphore_locked(&sem)));
	cl_semaphore_acquire(&sem);
	note("main:got@%s %s", now(), st_sem(&sem));
	cl_semaphore_release(&sem);
	settle(&t, 1);
	note("%s@%s", st_sem(&sem), now());
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_semaphore_woken_waiter_wakes_the_next */
START_TEST(test_semaphore_woken_waiter_wakes_the_next)
{
	cl_semaphore_init(&sem, 0);
	run_ok(sem_woken_next_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[locked, waiters:1] locked=True a:got@0 main:got@0 "
		     "[locked] [unlocked, value:2]@2");
}
END_TEST

static void *bounded_w(void *arg)
{
	(void)arg;
	cl_semaphore_acquire(&sem);
	note("w:got %s", st_sem(&sem));
	cl_sleep(0);
	CL_TRY {
		cl_semaphore_release(&sem);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_ValueError))
			cl_raise(e);
		note("w:%s", err_str(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	return NULL;
}

static void *bounded_woken_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_semaphore_acquire(&sem);
	t = spawn(bounded_w, NULL);
	cl_sleep(0);
	cl_semaphore_release(&sem);
	note("%s", st_sem(&sem));
	cl_semaphore_release(&sem);
	note("%s", st_sem(&sem));
	settle(&t, 1);
	note("%s", st_sem(&sem));
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_bounded_semaphore_counts_units_given_to_waiters */
START_TEST(test_bounded_semaphore_counts_units_given_to_waiters)
{
	cl_bounded_semaphore_init(&sem, 1);
	run_ok(bounded_woken_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("[locked, waiters:1] [locked, waiters:1] w:got "
		     "[unlocked, value:1] w:ValueError:BoundedSemaphore "
		     "released too many times [unlocked, value:1]");
}
END_TEST

/* The twin's job(sem, name, d, active): at most 2 inside at once. */
struct job {
	const char *name;
	double d;
};

static int active;

static void *job_inner(void *arg)
{
	const struct job *j = arg;

	active++;
	note("%s:in@%s active=%d", j->name, now(), active);
	cl_sleep(j->d);
	active--;
	if (strcmp(j->name, "b") == 0)
		cl_raise(cl_exc_new(&cl_KeyError, "%s", j->name));
	return NULL;
}

static void *job(void *arg)
{
	const struct job *j = arg;

	cl_semaphore_run(&sem, job_inner, arg);
	return (void *)j->name;
}

/* What gather(return_exceptions=True) would list for t: 'name' or the
 * exception's repr, added to res. */
static void add_result(char *res, size_t size, struct cl_task *t)
{
	size_t len = strlen(res);

	CL_TRY {
		const char *r = cl_await_task(t);

		snprintf(res + len, size - len, "%s'%s'", len ? " " : "", r);
	} CL_CATCH(e) {
		char buf[64];

		snprintf(res + len, size - len, "%s%s", len ? " " : "",
			 cl_exc_repr(e, buf, sizeof buf));
		cl_exc_decref(e);
	} CL_END_TRY;
}

static void *sem_with_main(void *arg)
{
	static const struct job js[] = { { "a", 3 }, { "b", 1 }, { "c", 1 },
					 { "d", 1 }, { "e", 1 } };
	struct cl_task *ts[5];
	char res[128] = "";

	(void)arg;
	for (int i = 0; i < 5; i++)
		ts[i] = spawn(job, &js[i]);
	for (int i = 0; i < 5; i++)
		add_result(res, sizeof res, ts[i]);
	note("%s %s@%s", res, st_sem(&sem), now());
	drop(ts, 5);
	return NULL;
}

/* ch07_locks.py, test_semaphore_async_with_limits_concurrency */
START_TEST(test_semaphore_async_with_limits_concurrency)
{
	cl_semaphore_init(&sem, 2);
	run_ok(sem_with_main, NULL);
	cl_semaphore_destroy(&sem);
	EXPECT_TRAIL("a:in@0 active=1 b:in@0 active=2 c:in@1 active=2 "
		     "d:in@2 active=2 e:in@3 active=1 'a' KeyError('b') 'c' "
		     "'d' 'e' [unlocked, value:2]@4");
}
END_TEST

/* ---- 4. Conditions, events, barriers ------------------------------------ */

/* The twin's event_waiter(ev, name). */
static void *event_waiter(void *arg)
{
	const char *name = arg;

	CL_TRY {
		cl_event_wait(&ev);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:cancelled@%s", name, now());
		cl_raise(e);
	} CL_END_TRY;
	note("%s:True@%s", name, now());
	return NULL;
}

static void *event_all_main(void *arg)
{
	static const char *const names[] = { "a", "b", "c" };
	struct cl_task *ts[3], *d;

	(void)arg;
	note("%s %s", st_ev(&ev), tf(cl_event_is_set(&ev)));
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(event_waiter, names[i]);
	cl_sleep(1);
	note("%s", st_ev(&ev));
	cl_event_set(&ev);
	note("%s %s", st_ev(&ev), tf(cl_event_is_set(&ev)));
	settle(ts, 3);
	event_waiter("now");
	cl_event_clear(&ev);
	d = spawn(event_waiter, "d");
	cl_sleep(1);
	note("%s %s", st_ev(&ev), tf(cl_event_is_set(&ev)));
	cl_event_set(&ev);
	settle(&d, 1);
	drop(ts, 3);
	cl_task_decref(d);
	return NULL;
}

/* ch07_locks.py, test_event_set_wakes_every_waiter */
START_TEST(test_event_set_wakes_every_waiter)
{
	cl_event_init(&ev);
	run_ok(event_all_main, NULL);
	cl_event_destroy(&ev);
	EXPECT_TRAIL("[unset] False [unset, waiters:3] [set, waiters:3] True "
		     "a:True@1 b:True@1 c:True@1 now:True@1 [unset, waiters:1] "
		     "False d:True@2");
}
END_TEST

static void *event_set_clear_main(void *arg)
{
	static const char *const names[] = { "a", "b", "c" };
	struct cl_task *ts[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(event_waiter, names[i]);
	cl_sleep(0);
	cl_task_cancel(ts[1]);
	cl_sleep(0);
	note("%s", st_ev(&ev));
	cl_event_set(&ev);
	cl_event_clear(&ev);
	note("%s", st_ev(&ev));
	settle(ts, 3);
	note("b=%s %s", tf(cancelled(ts[1])), st_ev(&ev));
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_event_set_then_clear_still_wakes */
START_TEST(test_event_set_then_clear_still_wakes)
{
	cl_event_init(&ev);
	run_ok(event_set_clear_main, NULL);
	cl_event_destroy(&ev);
	EXPECT_TRAIL("b:cancelled@0 [unset, waiters:2] [unset, waiters:2] "
		     "a:True@0 c:True@0 b=True [unset]");
}
END_TEST

/* The twin's cond_waiter(cond, name): "async with cond:" around
 * cond_waiter_body. */
struct cwaiter {
	const char *name;
	struct cl_condition *cond;
};

static void *cond_waiter_body(void *arg)
{
	const struct cwaiter *w = arg;

	CL_TRY {
		cl_condition_wait(w->cond);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:cancelled@%s locked=%s", w->name, now(),
			     tf(cl_condition_locked(w->cond)));
		cl_raise(e);
	} CL_END_TRY;
	note("%s:True@%s", w->name, now());
	cl_sleep(1);
	return NULL;
}

static void *cond_waiter(void *arg)
{
	const struct cwaiter *w = arg;

	cl_condition_run(w->cond, cond_waiter_body, arg);
	return NULL;
}

static const struct cwaiter cws[] = { { "a", &cond }, { "b", &cond },
				      { "c", &cond }, { "d", &cond } };

static void *cond_notify_n_main(void *arg)
{
	struct cl_task *ts[4];

	(void)arg;
	for (int i = 0; i < 4; i++)
		ts[i] = spawn(cond_waiter, &cws[i]);
	cl_sleep(0);
	note("%s", st_cond(&cond));
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	note("%s", st_cond(&cond));
	cl_condition_release(&cond);
	cl_sleep(1);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 2);
	note("%s@%s", st_cond(&cond), now());
	cl_condition_release(&cond);
	cl_sleep(5);
	note("%s@%s", st_cond(&cond), now());
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 5);
	cl_condition_release(&cond);
	settle(ts, 4);
	note("%s@%s", st_cond(&cond), now());
	drop(ts, 4);
	return NULL;
}

/* ch07_locks.py, test_condition_notify_wakes_n_in_fifo_order */
START_TEST(test_condition_notify_wakes_n_in_fifo_order)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_notify_n_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("[unlocked, waiters:4] [locked, waiters:4] a:True@0 "
		     "[locked, waiters:3]@1 b:True@1 c:True@2 "
		     "[unlocked, waiters:1]@6 d:True@6 [unlocked]@7");
}
END_TEST

static void *cond_notify_all_main(void *arg)
{
	struct cl_task *ts[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(cond_waiter, &cws[i]);
	cl_sleep(0);
	cl_condition_acquire(&cond);
	cl_condition_notify_all(&cond);
	note("%s", st_cond(&cond));
	cl_condition_release(&cond);
	settle(ts, 3);
	note("%s@%s", st_cond(&cond), now());
	drop(ts, 3);
	return NULL;
}

/* ch07_locks.py, test_condition_notify_all */
START_TEST(test_condition_notify_all)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_notify_all_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("[locked, waiters:3] a:True@0 b:True@1 c:True@2 "
		     "[unlocked]@3");
}
END_TEST

static void *cond_errors_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	NOTE_RAISE(&cl_RuntimeError, cl_condition_wait(&cond));
	NOTE_RAISE(&cl_RuntimeError, cl_condition_notify(&cond, 1));
	NOTE_RAISE(&cl_RuntimeError, cl_condition_notify_all(&cond));
	t = spawn(cond_waiter, &cws[0]);
	cl_sleep(0);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_condition_notify(&cond, 1);
	cl_condition_release(&cond);
	settle(&t, 1);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_condition_release(&cond);
	note("%s", st_cond(&cond));
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_condition_needs_the_lock */
START_TEST(test_condition_needs_the_lock)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_errors_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("RuntimeError:cannot wait on un-acquired lock "
		     "RuntimeError:cannot notify on un-acquired lock "
		     "RuntimeError:cannot notify on un-acquired lock a:True@0 "
		     "[unlocked]");
}
END_TEST

/* wait_for's predicate: box >= 3 and box * 10; calls counted. */
static int box, calls;

static int box_pred(void *arg)
{
	(void)arg;
	calls++;
	return box >= 3 ? box * 10 : 0;
}

static void *wait_for_inner(void *arg)
{
	int r = cl_condition_wait_for(&cond, box_pred, NULL);

	(void)arg;
	note("consumer:%d@%s calls=%d", r, now(), calls);
	return NULL;
}

static void *wait_for_consumer(void *arg)
{
	cl_condition_run(&cond, wait_for_inner, arg);
	return NULL;
}

static void *cond_wait_for_main(void *arg)
{
	struct cl_task *t;
	int r;

	(void)arg;
	t = spawn(wait_for_consumer, NULL);
	for (int i = 0; i < 4; i++) {
		cl_sleep(1);
		cl_condition_acquire(&cond);
		box = i;
		cl_condition_notify(&cond, 1);
		cl_condition_release(&cond);
	}
	settle(&t, 1);
	cl_condition_acquire(&cond);
	r = cl_condition_wait_for(&cond, box_pred, NULL);
	cl_condition_release(&cond);
	note("main:%d calls=%d", r, calls);
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_condition_wait_for_a_predicate */
START_TEST(test_condition_wait_for_a_predicate)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_wait_for_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("consumer:30@4 calls=5 main:30 calls=6");
}
END_TEST

static void *cond_cancel_waiting_main(void *arg)
{
	struct cl_task *a;

	(void)arg;
	a = spawn(cond_waiter, &cws[0]);
	cl_sleep(0);
	cl_condition_acquire(&cond);
	cl_task_cancel(a);
	cl_sleep(1);
	note("%s@%s", st_cond(&cond), now());
	cl_condition_release(&cond);
	settle(&a, 1);
	note("a=%s %s@%s", tf(cancelled(a)), st_cond(&cond), now());
	cl_task_decref(a);
	return NULL;
}

/* ch07_locks.py, test_condition_cancelled_wait_takes_the_lock_back */
START_TEST(test_condition_cancelled_wait_takes_the_lock_back)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_cancel_waiting_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("[locked]@1 a:cancelled@1 locked=True a=True "
		     "[unlocked]@1");
}
END_TEST

static void *reacquire_w(void *arg)
{
	(void)arg;
	cl_condition_acquire(&cond);
	CL_TRY {
		cl_condition_wait(&cond);
	} CL_CATCH(e) {
		char buf[64];

		if (cl_exc_matches(e, &cl_CancelledError)) {
			note("a:%s@%s locked=%s",
			     cl_exc_repr(e, buf, sizeof buf), now(),
			     tf(cl_condition_locked(&cond)));
			cl_condition_release(&cond);
		}
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *cond_cancel_reacquire_main(void *arg)
{
	struct cl_task *a;

	(void)arg;
	a = spawn(reacquire_w, NULL);
	cl_sleep(0);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_sleep(0);
	cl_sleep(0);
	cl_task_cancel(a);
	cl_sleep(1);
	cl_task_cancel(a);
	cl_sleep(1);
	note("%s %s@%s", st_cond(&cond), st_lock(cond.lock), now());
	cl_condition_release(&cond);
	settle(&a, 1);
	note("a=%s %s", tf(cancelled(a)), st_cond(&cond));
	cl_task_decref(a);
	return NULL;
}

/* ch07_locks.py, test_condition_cancelled_while_taking_the_lock_back */
START_TEST(test_condition_cancelled_while_taking_the_lock_back)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_cancel_reacquire_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("[locked] [locked, waiters:1]@2 a:CancelledError()@2 "
		     "locked=True a=True [unlocked]");
}
END_TEST

static void *cond_notified_cancelled_main(void *arg)
{
	struct cl_task *ts[2];

	(void)arg;
	ts[0] = spawn(cond_waiter, &cws[0]);
	ts[1] = spawn(cond_waiter, &cws[1]);
	cl_sleep(0);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_task_cancel(ts[0]);
	cl_condition_release(&cond);
	cl_sleep(1);
	note("%s@%s", st_cond(&cond), now());
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_condition_release(&cond);
	settle(ts, 2);
	note("a=%s %s@%s", tf(cancelled(ts[0])), st_cond(&cond), now());
	drop(ts, 2);
	return NULL;
}

/*
 * ch07_locks.py, test_condition_notified_then_cancelled. CPython 3.11
 * loses this notification (3.13 passes it on); the kit follows 3.11.
 */
START_TEST(test_condition_notified_then_cancelled)
{
	cl_condition_init(&cond, NULL);
	run_ok(cond_notified_cancelled_main, NULL);
	cl_condition_destroy(&cond);
	EXPECT_TRAIL("a:cancelled@0 locked=True [unlocked, waiters:1]@1 "
		     "b:True@1 a=True [unlocked]@2");
}
END_TEST

static void *cond_shared_main(void *arg)
{
	static const struct cwaiter wa = { "a", &cond }, wb = { "b", &cond2 };
	struct cl_task *a, *b;

	(void)arg;
	a = spawn(cond_waiter, &wa);
	b = spawn(cond_waiter, &wb);
	cl_sleep(0);
	cl_lock_acquire(&lk);
	note("c1:%s c2:%s", st_cond(&cond), st_cond(&cond2));
	cl_condition_notify(&cond2, 1);
	cl_lock_release(&lk);
	cl_await_task(b);
	cl_condition_acquire(&cond);
	cl_condition_notify(&cond, 1);
	cl_condition_release(&cond);
	cl_await_task(a);
	note("%s@%s", st_lock(&lk), now());
	cl_task_decref(a);
	cl_task_decref(b);
	return NULL;
}

/* ch07_locks.py, test_condition_shares_a_given_lock */
START_TEST(test_condition_shares_a_given_lock)
{
	cl_lock_init(&lk);
	cl_condition_init(&cond, &lk);
	cl_condition_init(&cond2, &lk);
	run_ok(cond_shared_main, NULL);
	cl_condition_destroy(&cond);
	cl_condition_destroy(&cond2);
	cl_lock_destroy(&lk);
	EXPECT_TRAIL("c1:[locked, waiters:1] c2:[locked, waiters:1] b:True@0 "
		     "a:True@1 [unlocked]@2");
}
END_TEST

/* The twin's party(bar, name, delay). */
struct party {
	const char *name;
	struct cl_barrier *bar;
	double delay;
};

static void *party(void *arg)
{
	const struct party *p = arg;
	volatile size_t i = 0;
	volatile int broken = 0;

	cl_sleep(p->delay);
	CL_TRY {
		i = cl_barrier_wait(p->bar);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("%s:cancelled@%s", p->name, now());
		if (!cl_exc_matches(e, &cl_BrokenBarrierError))
			cl_raise(e);
		note("%s:%s@%s", p->name, err_str(e), now());
		cl_exc_decref(e);
		broken = 1;
	} CL_END_TRY;
	if (!broken)
		note("%s:%zu@%s", p->name, (size_t)i, now());
	return NULL;
}

static void *barrier_rounds_main(void *arg)
{
	static const struct party ps[] = {
		{ "a", &bar, 2 }, { "b", &bar, 1 }, { "c", &bar, 3 },
		{ "d", &bar, 0 }, { "e", &bar, 0 }, { "f", &bar, 0 },
	};
	struct cl_task *ts[6];

	(void)arg;
	note("%s parties=%zu", st_bar(&bar), cl_barrier_parties(&bar));
	for (int i = 0; i < 3; i++)
		ts[i] = spawn(party, &ps[i]);
	cl_sleep(2.5);
	note("%s n_waiting=%zu", st_bar(&bar), cl_barrier_n_waiting(&bar));
	settle(ts, 3);
	note("%s", st_bar(&bar));
	for (int i = 3; i < 6; i++)
		ts[i] = spawn(party, &ps[i]);
	settle(ts + 3, 3);
	note("%s broken=%s@%s", st_bar(&bar), tf(cl_barrier_broken(&bar)),
	     now());
	drop(ts, 6);
	return NULL;
}

/* ch07_locks.py, test_barrier_indices_and_reuse */
START_TEST(test_barrier_indices_and_reuse)
{
	cl_barrier_init(&bar, 3);
	run_ok(barrier_rounds_main, NULL);
	cl_barrier_destroy(&bar);
	EXPECT_TRAIL("[filling, waiters:0/3] parties=3 [filling, waiters:2/3] "
		     "n_waiting=2 c:2@3 b:0@3 a:1@3 [filling, waiters:0/3] "
		     "f:2@3 d:0@3 e:1@3 [filling, waiters:0/3] broken=False@3");
}
END_TEST

static void *barrier_small_main(void *arg)
{
	static const struct party a = { "a", &bar, 0 }, b = { "b", &bar2, 0 };
	struct cl_barrier bad;
	struct cl_task *t;
	size_t i;

	(void)arg;
	NOTE_RAISE(&cl_ValueError, cl_barrier_init(&bad, 0));
	cl_barrier_init(&bar, 1);
	party((void *)&a);
	note("%s", st_bar(&bar));
	cl_barrier_init(&bar2, 2);
	t = spawn(party, &b);
	i = cl_barrier_wait(&bar2);
	note("main:%zu@%s %s", i, now(), st_bar(&bar2));
	settle(&t, 1);
	note("%s", st_bar(&bar2));
	cl_task_decref(t);
	return NULL;
}

/* ch07_locks.py, test_barrier_parties_must_be_positive */
START_TEST(test_barrier_parties_must_be_positive)
{
	run_ok(barrier_small_main, NULL);
	cl_barrier_destroy(&bar);
	cl_barrier_destroy(&bar2);
	EXPECT_TRAIL("ValueError:parties must be > 0 a:0@0 "
		     "[filling, waiters:0/1] b:1@0 main:0@0 "
		     "[filling, waiters:0/2] [filling, waiters:0/2]");
}
END_TEST

static void *barrier_abort_main(void *arg)
{
	static const struct party ps[] = {
		{ "a", &bar, 0 }, { "b", &bar, 0 }, { "c", &bar, 0 },
		{ "d", &bar, 0 }, { "e", &bar, 0 }, { "f", &bar, 0 },
	};
	struct cl_task *ts[5];

	(void)arg;
	ts[0] = spawn(party, &ps[0]);
	ts[1] = spawn(party, &ps[1]);
	cl_sleep(1);
	cl_barrier_abort(&bar);
	note("%s broken=%s", st_bar(&bar), tf(cl_barrier_broken(&bar)));
	settle(ts, 2);
	party((void *)&ps[2]);
	cl_barrier_reset(&bar);
	note("%s broken=%s", st_bar(&bar), tf(cl_barrier_broken(&bar)));
	for (int i = 2; i < 5; i++)
		ts[i] = spawn(party, &ps[i + 1]);
	settle(ts + 2, 3);
	drop(ts, 5);
	return NULL;
}

/* ch07_locks.py, test_barrier_abort_breaks_it */
START_TEST(test_barrier_abort_breaks_it)
{
	cl_barrier_init(&bar, 3);
	run_ok(barrier_abort_main, NULL);
	cl_barrier_destroy(&bar);
	EXPECT_TRAIL("[broken] broken=True "
		     "a:BrokenBarrierError:Abort or reset of barrier@1 "
		     "b:BrokenBarrierError:Abort or reset of barrier@1 "
		     "c:BrokenBarrierError:Barrier aborted@1 "
		     "[filling, waiters:0/3] broken=False f:2@1 d:0@1 e:1@1");
}
END_TEST

static void *bar_reset(void *arg)
{
	(void)arg;
	cl_barrier_reset(&bar);
	return NULL;
}

static void *barrier_reset_main(void *arg)
{
	static const struct party pa = { "a", &bar, 0 }, pb = { "b", &bar, 0 },
				  pc = { "c", &bar, 1 };
	struct cl_task *ts[4];

	(void)arg;
	ts[0] = spawn(party, &pa);
	cl_sleep(1);
	ts[1] = spawn(bar_reset, NULL);
	ts[2] = spawn(party, &pb);
	cl_sleep(0);
	note("%s", st_bar(&bar));
	settle(ts, 2);
	note("%s@%s", st_bar(&bar), now());
	ts[3] = spawn(party, &pc);
	settle(ts + 2, 2);
	note("%s@%s", st_bar(&bar), now());
	drop(ts, 4);
	return NULL;
}

/* ch07_locks.py, test_barrier_reset_wakes_the_waiters */
START_TEST(test_barrier_reset_wakes_the_waiters)
{
	cl_barrier_init(&bar, 2);
	run_ok(barrier_reset_main, NULL);
	cl_barrier_destroy(&bar);
	EXPECT_TRAIL("[resetting, waiters:0/2] "
		     "a:BrokenBarrierError:Abort or reset of barrier@1 "
		     "[filling, waiters:1/2]@1 c:1@2 b:0@2 "
		     "[filling, waiters:0/2]@2");
}
END_TEST

static void *barrier_cancel_main(void *arg)
{
	static const struct party ps[] = {
		{ "a", &bar, 0 }, { "b", &bar, 0 }, { "c", &bar, 1 },
		{ "d", &bar, 1 },
	};
	struct cl_task *ts[4];

	(void)arg;
	ts[0] = spawn(party, &ps[0]);
	ts[1] = spawn(party, &ps[1]);
	cl_sleep(1);
	cl_task_cancel(ts[0]);
	cl_sleep(1);
	note("%s broken=%s", st_bar(&bar), tf(cl_barrier_broken(&bar)));
	ts[2] = spawn(party, &ps[2]);
	ts[3] = spawn(party, &ps[3]);
	settle(ts, 4);
	note("a=%s %s@%s", tf(cancelled(ts[0])), st_bar(&bar), now());
	drop(ts, 4);
	return NULL;
}

/*
 * ch07_locks.py, test_barrier_cancelled_party_does_not_break_it. The
 * cancelled party's leaving counts the barrier down, so b (index 1)
 * and c (who arrives with the count at 1) both get index 1: CPython's
 * "unique index" does not hold across a cancellation, and neither does
 * ours.
 */
START_TEST(test_barrier_cancelled_party_does_not_break_it)
{
	cl_barrier_init(&bar, 3);
	run_ok(barrier_cancel_main, NULL);
	cl_barrier_destroy(&bar);
	EXPECT_TRAIL("a:cancelled@1 [filling, waiters:1/3] broken=False d:2@3 "
		     "b:1@3 c:1@3 a=True [filling, waiters:0/3]@3");
}
END_TEST

static void *barrier_drain_main(void *arg)
{
	static const struct party ps[] = {
		{ "a", &bar, 0 }, { "b", &bar, 0 }, { "c", &bar, 0 },
		{ "d", &bar, 1 },
	};
	struct cl_task *ts[4];

	(void)arg;
	ts[0] = spawn(party, &ps[0]);
	ts[1] = spawn(party, &ps[1]);
	cl_sleep(0);
	cl_sleep(0);
	note("%s", st_bar(&bar));
	ts[2] = spawn(party, &ps[2]);
	cl_sleep(0);
	note("%s", st_bar(&bar));
	settle(ts, 2);
	note("%s", st_bar(&bar));
	ts[3] = spawn(party, &ps[3]);
	settle(ts + 2, 2);
	note("%s@%s", st_bar(&bar), now());
	drop(ts, 4);
	return NULL;
}

/* ch07_locks.py, test_barrier_draining_holds_the_next_round */
START_TEST(test_barrier_draining_holds_the_next_round)
{
	cl_barrier_init(&bar, 2);
	run_ok(barrier_drain_main, NULL);
	cl_barrier_destroy(&bar);
	EXPECT_TRAIL("b:1@0 [draining, waiters:0/2] a:0@0 "
		     "[filling, waiters:0/2] [filling, waiters:0/2] d:1@1 "
		     "c:0@1 [filling, waiters:0/2]@1");
}
END_TEST

static void add_lock_tests(void)
{
	cl_test(test_lock_waiters_get_it_in_fifo_order, 2, SEC_LOCK);
	cl_test(test_lock_release_of_an_unlocked_lock, 1, SEC_LOCK);
	cl_test(test_lock_any_task_may_release_it, 1, SEC_LOCK);
	cl_test(test_lock_cancelled_waiter_is_skipped, 2, SEC_LOCK);
	cl_test(test_lock_woken_waiter_cancelled_passes_it_on, 3, SEC_LOCK);
	cl_test(test_lock_newcomer_waits_behind_a_woken_waiter, 2, SEC_LOCK);
	cl_test(test_lock_async_with_releases_on_every_way_out, 1, SEC_LOCK);
	cl_test(test_lock_trace_says_who_holds_it, 1, SEC_LOCK);
	cl_test(test_lock_is_bound_to_one_loop, 1, SEC_LOCK);
	cl_test(test_semaphore_counts_and_keeps_fifo_order, 2, SEC_SEM);
	cl_test(test_semaphore_errors, 1, SEC_SEM);
	cl_test(test_semaphore_cancelled_waiter_is_skipped, 2, SEC_SEM);
	cl_test(test_semaphore_woken_waiter_cancelled_passes_it_on, 3,
		SEC_SEM);
	cl_test(test_semaphore_two_releases_wake_two, 3, SEC_SEM);
	cl_test(test_semaphore_locked_ignores_cancelled_waiters, 2, SEC_SEM);
	cl_test(test_semaphore_woken_waiter_wakes_the_next, 3, SEC_SEM);
	cl_test(test_bounded_semaphore_counts_units_given_to_waiters, 2,
		SEC_SEM);
	cl_test(test_semaphore_async_with_limits_concurrency, 2, SEC_SEM);
	cl_test(test_event_set_wakes_every_waiter, 2, SEC_SYNC);
	cl_test(test_event_set_then_clear_still_wakes, 2, SEC_SYNC);
	cl_test(test_condition_notify_wakes_n_in_fifo_order, 2, SEC_SYNC);
	cl_test(test_condition_notify_all, 1, SEC_SYNC);
	cl_test(test_condition_needs_the_lock, 1, SEC_SYNC);
	cl_test(test_condition_wait_for_a_predicate, 2, SEC_SYNC);
	cl_test(test_condition_cancelled_wait_takes_the_lock_back, 2,
		SEC_SYNC);
	cl_test(test_condition_cancelled_while_taking_the_lock_back, 3,
		SEC_SYNC);
	cl_test(test_condition_notified_then_cancelled, 2, SEC_SYNC);
	cl_test(test_condition_shares_a_given_lock, 1, SEC_SYNC);
	cl_test(test_barrier_indices_and_reuse, 2, SEC_SYNC);
	cl_test(test_barrier_parties_must_be_positive, 1, SEC_SYNC);
	cl_test(test_barrier_abort_breaks_it, 2, SEC_SYNC);
	cl_test(test_barrier_reset_wakes_the_waiters, 2, SEC_SYNC);
	cl_test(test_barrier_cancelled_party_does_not_break_it, 3, SEC_SYNC);
	cl_test(test_barrier_draining_holds_the_next_round, 2, SEC_SYNC);
}

CL_CHAPTER(7, "07-threads", "threads", add_lock_tests)
