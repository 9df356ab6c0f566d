/*
 * ch09_dump.c - chapter 09, sections 3 to 5: suspended backtraces and
 * task dumps (dump.h), deadlock cycles, stack high-water marks; planted
 * bugs 2 and 3, chapters/09-debugging/examples/lostwake.c and
 * lockorder.c, run as they are (their mains renamed).
 *
 * The frame walk is tested first on chains built by hand in an array,
 * where every way a chain can end (outside the stack, misaligned, not
 * going up, a zero return address, the caller's limit) is one record
 * away; then on real suspended coroutines, whose frames must name the
 * functions that called each other, innermost first.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "dump.h"
#include "grade.h"
#include "locks.h"
#include "queues.h"
#include "run.h"
#include "stack.h"
#include "symbols.h"
#include "task.h"
#include "value.h"

#define main lostwake_main
#include "../chapters/09-debugging/examples/lostwake.c"
#undef main
#define main lockorder_main
#define fixed lockorder_fixed
#define main_task lockorder_main_task
#include "../chapters/09-debugging/examples/lockorder.c"
#undef main
#undef fixed
#undef main_task

#define SEC_DUMP "3. Task dumps"
#define SEC_DEADLOCK "4. Deadlock cycles"
#define SEC_STACK "5. Stack high-water marks"

/*
 * A stack of 16 words at w[0..15]; records at w[2], w[6], w[10]. Each
 * record is {next fp, return address}.
 */
START_TEST(test_walk_frames_by_hand)
{
	uintptr_t w[16] = { 0 };
	uintptr_t lo = (uintptr_t)&w[0], hi = (uintptr_t)&w[16];
	void *pcs[8];

	w[2] = (uintptr_t)&w[6], w[3] = 0x1111;
	w[6] = (uintptr_t)&w[10], w[7] = 0x2222;
	w[10] = 0, w[11] = 0x3333; /* the next fp, 0, is below: the end */
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 8), 3);
	CL_EXPECT_PTR(pcs[0], (void *)0x1111);
	CL_EXPECT_PTR(pcs[1], (void *)0x2222);
	CL_EXPECT_PTR(pcs[2], (void *)0x3333);
	/* the caller's limit */
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 2), 2);
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 0), 0);
	/* a record must lie wholly inside [lo, hi) */
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo,
				      (uintptr_t)&w[12], pcs, 8), 3);
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo,
				      (uintptr_t)&w[11], pcs, 8), 2);
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], (uintptr_t)&w[3], hi,
				      pcs, 8), 0);
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], (uintptr_t)&w[2], hi,
				      pcs, 8), 3);
	/* misaligned */
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2] + 1, lo, hi, pcs, 8),
		      0);
	/* a next fp that does not go up ends the walk after this frame */
	w[6] = (uintptr_t)&w[2];
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 8), 2);
	w[6] = (uintptr_t)&w[6];
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 8), 2);
	/* a zero return address ends it before the frame */
	w[6] = (uintptr_t)&w[10], w[7] = 0;
	CL_EXPECT_INT(cl__walk_frames((uintptr_t)&w[2], lo, hi, pcs, 8), 1);
}
END_TEST

static volatile int depth_reached;

static __attribute__((noinline)) void *inner_wait(void *arg)
{
	cl_sleep(1);
	depth_reached++; /* not a tail call */
	return arg;
}

static __attribute__((noinline)) void *middle(void *arg)
{
	void *v = inner_wait(arg);

	depth_reached++;
	return v;
}

static void *outer_task(void *arg)
{
	void *v = middle(arg);

	depth_reached++;
	return v;
}

/* Name the frames of t's suspended stack into buf, one per line. */
static void frames_of(struct cl_task *t, char *buf, size_t len)
{
	void *pcs[32];
	size_t n = cl_task_backtrace(t, pcs, 32), off = 0;
	char name[256];

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s\n",
					cl_symbolize(pcs[i], name,
						     sizeof name));
}

static char frames[4096];

static void *look_at_outer(void *arg)
{
	struct cl_task *t = cl_create_task(outer_task, arg, "outer");
	void *pcs[32];
	char place[256];
	size_t n;

	cl_sleep(0.5);
	frames_of(t, frames, sizeof frames);
	n = cl_task_backtrace(t, pcs, 32);
	cl_backtrace_place(pcs, n, place, sizeof place);
	strcat(frames, "place ");
	strcat(frames, place);
	/* the running task has no suspended stack to walk */
	CL_EXPECT_INT(cl_task_backtrace(cl_current_task(), pcs, 32), 0);
	cl_await_task(t);
	cl_task_decref(t);
	return NULL;
}

/*
 * A task suspended three calls deep: its frames name inner_wait, middle
 * and outer_task, in that order (innermost first), under the kit's own
 * frames of the await; the place a report names is inner_wait.
 */
START_TEST(test_task_backtrace)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	const char *a, *b, *c;
	void *out;

	CL_EXPECT_INT(cl_run_with(look_at_outer, NULL, &opts, &out), 0);
	a = strstr(frames, "inner_wait+");
	b = strstr(frames, "middle+");
	c = strstr(frames, "outer_task+");
	CL_EXPECT(a && b && c && a < b && b < c,
		  "expected inner_wait, middle, outer_task in that order:\n%s",
		  frames);
	CL_EXPECT(strncmp(frames, "cl_", 3) == 0,
		  "the innermost frames are the kit's await:\n%s", frames);
	CL_EXPECT(strstr(frames, "place inner_wait+") != NULL,
		  "the place should be inner_wait:\n%s", frames);
	CL_EXPECT_INT(depth_reached, 3);
}
END_TEST

static struct cl_queue jobs_q;

static void *consumer(void *arg)
{
	(void)arg;
	cl_queue_get(&jobs_q);
	return NULL;
}

static char dump_text[8192];

static void *dump_some(void *arg)
{
	struct cl_task *c, *o;
	FILE *f;

	(void)arg;
	cl_queue_init(&jobs_q, 4);
	c = cl_create_task(consumer, NULL, "consumer");
	o = cl_create_task(outer_task, NULL, "outer");
	cl_sleep(0.25);
	f = fmemopen(dump_text, sizeof dump_text, "w");
	cl_dump_tasks(cl_get_running_loop(), f);
	fclose(f);
	cl_queue_put(&jobs_q, NULL);
	cl_await_task(c);
	cl_await_task(o);
	cl_task_decref(c);
	cl_task_decref(o);
	cl_queue_fini(&jobs_q);
	return NULL;
}

/*
 * The dump lists every task: the one dumping is running; the consumer
 * waits 0.250 s on queue:N, which holds 0 of 4 items, in consumer();
 * outer waits on its sleep's timer in inner_wait(); each with its await
 * site, its stack and its frames.
 */
START_TEST(test_dump_tasks)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL,
				    .name = "main" };
	void *out;
	const char *d = dump_text;

	depth_reached = 0;
	CL_EXPECT_INT(cl_run_with(dump_some, NULL, &opts, &out), 0);
	CL_EXPECT(strstr(d, "corolab: 3 tasks at 0.250 s") != NULL,
		  "header:\n%s", d);
	CL_EXPECT(strstr(d, "task:1 'main' running") != NULL, "main:\n%s", d);
	CL_EXPECT(strstr(d, "task:2 'consumer' waiting 0.250 s on queue:") &&
			  strstr(d, " (0 of 4 items)\n  in consumer+"),
		  "the consumer's entry:\n%s", d);
	CL_EXPECT(strstr(d, "task:3 'outer' waiting 0.250 s on timer:") &&
			  strstr(d, "(sleep)\n  in inner_wait+"),
		  "outer's entry:\n%s", d);
	CL_EXPECT(strstr(d, "  awaits at tests/ch09_dump.c:") != NULL,
		  "await sites:\n%s", d);
	CL_EXPECT_INT(count_of(d, " KiB touched of 256 KiB\n"), 3);
	CL_EXPECT(count_of(d, "  #0 ") == 2, "two backtraces:\n%s", d);
}
END_TEST

/*
 * Planted bug 2: the lost wake-up. The program's own SIGQUIT brings the
 * dump, which finds the worker waiting on event:1 in worker(), while
 * the program says a job is pending. The fixed program does both jobs
 * and needs no dump.
 */
START_TEST(test_dump_lostwake_program)
{
	char *argv[] = { "lostwake", NULL };
	char *fixed_argv[] = { "lostwake", "fixed", NULL };
	const char *err, *outp;

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(lostwake_main(1, argv), 0);
	outp = capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(outp, "pending jobs: 1, done: 1") != NULL,
		  "the bug should leave a job behind:\n%s", outp);
	CL_EXPECT(strstr(err, "task:2 'worker' waiting 0.950 s on event:1\n"
			      "  in worker+") != NULL,
		  "the dump should show the worker waiting on event:1 in "
		  "worker():\n%s",
		  err);

	jobs = done_jobs = 0;
	cl_event_init(&ready);
	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(lostwake_main(2, fixed_argv), 0);
	outp = capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(outp, "pending jobs: 0, done: 2") != NULL,
		  "the fixed program does both jobs:\n%s", outp);
	CL_EXPECT(strstr(err, "task:") == NULL, "no dump expected:\n%s", err);
}
END_TEST

/*
 * Planted bug 3: a lock-order deadlock while a heartbeat goes on. Debug
 * mode reports the cycle the moment it closes, each task with the lock
 * it waits on, its holder, and the program's function it waits in;
 * the heartbeat goes on after it. The fixed program has no cycle.
 */
START_TEST(test_deadlock_lockorder_program)
{
	char *argv[] = { "lockorder", NULL };
	char *fixed_argv[] = { "lockorder", "fixed", NULL };
	const char *err, *outp;

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(lockorder_main(1, argv), 0);
	outp = capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "corolab: deadlock: 2 tasks waiting on each "
			      "other in a cycle\n"
			      "  task:3 'refund' waits on lock:1, held by "
			      "task:2 'transfer'\n"
			      "    in move_money+") != NULL &&
			  strstr(err, "  task:2 'transfer' waits on lock:2, "
				      "held by task:3 'refund'\n"
				      "    in move_money+") != NULL,
		  "the cycle's report:\n%s", err);
	CL_EXPECT_INT(count_of(err, "deadlock"), 1);
	CL_EXPECT(strstr(outp, "heartbeat 3: transfer pending, refund "
			       "pending") != NULL,
		  "the heartbeat goes on:\n%s", outp);

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(lockorder_main(2, fixed_argv), 0);
	capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "deadlock") == NULL, "no cycle:\n%s", err);
}
END_TEST

static struct cl_task *task_a, *task_b;

static __attribute__((noinline)) void *await_b(void *arg)
{
	(void)arg;
	cl_sleep(0.01);
	cl_await_task(task_b);
	depth_reached++;
	return NULL;
}

static __attribute__((noinline)) void *await_a(void *arg)
{
	(void)arg;
	cl_sleep(0.01);
	cl_await_task(task_a);
	depth_reached++;
	return NULL;
}

static char awaits_text[4096];

static void *await_cycle(void *arg)
{
	struct cl_task *c;
	FILE *f;

	(void)arg;
	cl_queue_init(&jobs_q, 0);
	task_a = cl_create_task(await_b, NULL, "a");
	task_b = cl_create_task(await_a, NULL, "b");
	c = cl_create_task(consumer, NULL, "consumer"); /* waits, no cycle */
	/* Pending, each is held by what it waits on; none will finish,
	 * so no reference of ours may outlive the run. */
	cl_task_decref(task_a);
	cl_task_decref(task_b);
	cl_task_decref(c);
	cl_sleep(0.1);
	f = fmemopen(awaits_text, sizeof awaits_text, "w");
	cl_dump_awaits(cl_get_running_loop(), f);
	fclose(f);
	cl_await_task(c); /* nothing will ever come: cl_run reports */
	return NULL;
}

/*
 * Two tasks awaiting each other, and a third waiting on an empty queue:
 * when the loop runs dry, cl_run's report lists all three and the one
 * cycle, with the places; the queue's waiter is in no cycle. Cancelling
 * the leftovers cannot break the cycle (each cancel would have to wait
 * for the other task: CPython recurses until RecursionError), so the
 * report comes once more. The live await graph (cl_dump_awaits) holds
 * the same edges in trace lines.
 */
START_TEST(test_deadlock_await_cycle)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL,
				    .name = "main" };
	const char *err;
	void *out;

	capture_begin(2);
	cl_run_with(await_cycle, NULL, &opts, &out);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "corolab: no runnable tasks") != NULL,
		  "cl_run's report:\n%s", err);
	CL_EXPECT(strstr(err, "corolab: deadlock: 2 tasks waiting on each "
			      "other in a cycle\n") &&
			  strstr(err, "  task:2 'a' awaits task:3 'b'\n"
				      "    in await_b+") &&
			  strstr(err, "  task:3 'b' awaits task:2 'a'\n"
				      "    in await_a+"),
		  "the cycle, with its places:\n%s", err);
	/* once when main is stuck, once more when cancelling the leftovers
	 * cannot break the cycle either */
	CL_EXPECT(count_of(err, "deadlock:") == 2 &&
			  strstr(err, "no runnable tasks while cancelling: 2 "
				      "tasks waiting") != NULL,
		  "two reports expected:\n%s", err);
	CL_EXPECT(strstr(awaits_text, "# corolab-trace 1 clock=virtual") ==
			  awaits_text,
		  "a trace header first:\n%s", awaits_text);
	CL_EXPECT(strstr(awaits_text, " task.new task=2 name=a parent=1\n") &&
			  strstr(awaits_text,
				 " await task=2 on=fut:") &&
			  strstr(awaits_text, " what=task:3\n") &&
			  strstr(awaits_text, " await task=4 on=queue:"),
		  "the await graph as a trace:\n%s", awaits_text);
}
END_TEST

static size_t hwm_shallow, hwm_deep;
static size_t deep_frames;

static __attribute__((noinline)) int dive(int n)
{
	volatile char pad[2000];

	pad[0] = (char)n;
	if (n == 0) {
		cl_sleep(1);
		return pad[0];
	}
	return dive(n - 1) + pad[0];
}

static void *diver(void *arg)
{
	return CL_INT(dive((int)CL_TOINT(arg)));
}

static void *measure_stacks(void *arg)
{
	struct cl_task *s, *d;
	void *pcs[64];

	(void)arg;
	s = cl_create_task(diver, CL_INT(0), "shallow");
	d = cl_create_task(diver, CL_INT(40), "deep");
	cl_sleep(0.5);
	hwm_shallow = cl_stack_high_water(cl__gen_stack(s->coro));
	hwm_deep = cl_stack_high_water(cl__gen_stack(d->coro));
	deep_frames = cl_task_backtrace(d, pcs, 64);
	cl_await_task(s);
	cl_await_task(d);
	cl_task_decref(s);
	cl_task_decref(d);
	return NULL;
}

/*
 * 40 nested calls of 2 KB each touch more than 80 KB of the deep task's
 * stack, and its backtrace holds the 41 frames of dive; the shallow
 * task touched a few pages. (The high-water mark of a pooled stack
 * remembers its earlier users, so each stack here is fresh: two tasks
 * made at once take two stacks.)
 */
START_TEST(test_stack_high_water)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	CL_EXPECT_INT(cl_run_with(measure_stacks, NULL, &opts, &out), 0);
	CL_EXPECT(hwm_deep >= 80 * 1024 && hwm_deep <= 256 * 1024,
		  "the deep task touched %zu bytes, expected 80 KB or more",
		  hwm_deep);
	CL_EXPECT(hwm_shallow < hwm_deep,
		  "shallow %zu, deep %zu", hwm_shallow, hwm_deep);
	CL_EXPECT(deep_frames >= 41, "%zu frames, expected 41 of dive or "
		  "more", deep_frames);
}
END_TEST

static void add_dump(void)
{
	cl_test(test_walk_frames_by_hand, 3, SEC_DUMP);
	cl_test(test_task_backtrace, 2, SEC_DUMP);
	cl_test(test_dump_tasks, 2, SEC_DUMP);
	cl_test(test_dump_lostwake_program, 3, SEC_DUMP);
	cl_test(test_deadlock_lockorder_program, 3, SEC_DEADLOCK);
	cl_test(test_deadlock_await_cycle, 2, SEC_DEADLOCK);
	cl_test(test_stack_high_water, 2, SEC_STACK);
}

CL_CHAPTER(9, "09-debugging", "debugging", add_dump)
