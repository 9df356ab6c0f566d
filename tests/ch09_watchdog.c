/*
 * ch09_watchdog.c - chapter 09, section 2: the watchdog (watchdog.h), and
 * planted bug 1, chapters/09-debugging/examples/blocking.c, which these
 * tests run as it is (its main renamed).
 *
 * The judgement (cl__watchdog_look) is tested on its own first, look by
 * look, with made-up times; then real loops on the real clock, with a
 * real watchdog thread: a task that blocks must be reported while it is
 * stuck, naming the task and the program's function it is stuck in; an
 * idle loop (waiting for a timer) and a busy loop that keeps going round
 * must not be. Each of those ends with a stall, so that a watchdog that
 * never reports anything fails them too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "grade.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "watchdog.h"

#define main blocking_main
#include "../chapters/09-debugging/examples/blocking.c"
#undef main

#define SEC_WD "2. A watchdog for a blocked loop"
#define MS 1000000ull

/* Block the calling thread for ms milliseconds, whatever the signals. */
static __attribute__((noinline)) void block_for(int ms)
{
	struct timespec left = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

/* The verdicts, one look at a time: once per stall, once when it ends. */
START_TEST(test_watchdog_look)
{
	struct cl_wd_seen s = { .beat = 5, .since = 0 };
	const uint64_t lim = 100 * MS;

	CL_EXPECT_INT(cl__watchdog_look(&s, 5, 0, 50 * MS, lim), CL_WD_FINE);
	/* exactly the limit: stuck */
	CL_EXPECT_INT(cl__watchdog_look(&s, 5, 0, 100 * MS, lim),
		      CL_WD_STUCK);
	CL_EXPECT_INT(s.reported, 1);
	/* still stuck: said already */
	CL_EXPECT_INT(cl__watchdog_look(&s, 5, 0, 300 * MS, lim), CL_WD_FINE);
	/* the beat moved: it went on, once */
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 0, 310 * MS, lim),
		      CL_WD_WENT_ON);
	CL_EXPECT_INT(s.beat, 6);
	CL_EXPECT_INT(s.since, 310 * MS);
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 0, 320 * MS, lim), CL_WD_FINE);
	/* waiting is idle, whatever the time: the stall clock restarts */
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 1, 900 * MS, lim), CL_WD_FINE);
	CL_EXPECT_INT(s.since, 900 * MS);
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 0, 999 * MS, lim), CL_WD_FINE);
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 0, 1000 * MS, lim),
		      CL_WD_STUCK);
	/* a stall that ends in a wait ended too */
	CL_EXPECT_INT(cl__watchdog_look(&s, 6, 1, 1100 * MS, lim),
		      CL_WD_WENT_ON);
	CL_EXPECT_INT(s.reported, 0);
}
END_TEST

/*
 * Planted bug 1 as it is: the watchdog's report comes while the loader
 * is stuck, names task:3 'loader' and the program's frames it is stuck
 * in, innermost first; debug mode's slow step follows. The fixed
 * program, which reads on a thread, gets no report at all.
 */
START_TEST(test_watchdog_blocking_program)
{
	char *argv[] = { "blocking", NULL }, *fixed_argv[] = { "blocking",
							       "fixed", NULL };
	const char *err, *settings, *load;

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(blocking_main(1, argv), 0);
	capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "corolab watchdog: the loop has not finished "
			      "iteration") != NULL,
		  "no watchdog report; stderr was:\n%s", err);
	CL_EXPECT(strstr(err, "stuck in task:3 'loader', step 2") != NULL,
		  "the report should name task:3 'loader', step 2:\n%s", err);
	settings = strstr(err, " load_settings+");
	load = strstr(err, " loader+");
	CL_EXPECT(settings != NULL && load != NULL && settings < load,
		  "the frames should show load_settings, then loader (its "
		  "caller):\n%s",
		  err);
	CL_EXPECT(strstr(err, "corolab watchdog: the loop went on after") !=
			  NULL,
		  "no 'went on' line:\n%s", err);
	CL_EXPECT(strstr(err, "corolab: slow step of task:3 'loader'") !=
			  NULL,
		  "debug mode's slow step is missing:\n%s", err);

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(blocking_main(2, fixed_argv), 0);
	capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "watchdog") == NULL &&
			  strstr(err, "slow step") == NULL,
		  "the fixed program blocks nothing, yet:\n%s", err);
}
END_TEST

static int idle_reports;

/* Idle for 300 ms (a timer), then blocked for 250 ms. */
static void *idle_then_stuck(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_watchdog_start(loop, 60);
	cl_sleep(0.3);
	idle_reports = (int)cl_watchdog_reports(loop);
	block_for(250);
	cl_sleep(0.05);
	return NULL;
}

/*
 * A loop that waits for a timer is idle, not stuck: nothing to report
 * in 300 ms with a 60 ms limit. Then a blocking call: one report.
 */
START_TEST(test_watchdog_idle_is_not_stuck)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL, .name = "idler" };
	const char *err;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(idle_then_stuck, NULL, &opts, &out), 0);
	err = capture_end(2);
	CL_EXPECT_INT(idle_reports, 0);
	CL_EXPECT_INT(count_of(err, "has not finished iteration"), 1);
	CL_EXPECT(strstr(err, "stuck in task:1 'idler'") != NULL &&
			  strstr(err, " block_for+") != NULL,
		  "the report should name task:1 'idler' and block_for:\n%s",
		  err);
}
END_TEST

static int busy_reports;

/* 300 ms of short steps (the loop goes round), then one long one. */
static void *busy_then_stuck(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	double end;

	(void)arg;
	cl_watchdog_start(loop, 60);
	end = cl_loop_time(loop) + 0.3;
	while (cl_loop_time(loop) < end) {
		block_for(2);
		cl_sleep(0);
	}
	busy_reports = (int)cl_watchdog_reports(loop);
	block_for(250);
	cl_sleep(0);
	return NULL;
}

/*
 * A loop busy with steps of 2 ms keeps finishing iterations: no report,
 * however long it keeps busy. Then one step of 250 ms: one report.
 */
START_TEST(test_watchdog_busy_is_not_stuck)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL, .name = "busy" };
	const char *err;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(busy_then_stuck, NULL, &opts, &out), 0);
	err = capture_end(2);
	CL_EXPECT_INT(busy_reports, 0);
	CL_EXPECT_INT(count_of(err, "has not finished iteration"), 1);
}
END_TEST

static volatile int callbacks_done;

static __attribute__((noinline)) void stuck_callback(void *arg)
{
	(void)arg;
	block_for(250);
	callbacks_done++; /* not a tail call: this frame stays */
}

static void *schedule_stuck_callback(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_watchdog_start(loop, 60);
	cl_loop_call_soon(loop, stuck_callback, NULL);
	cl_sleep(0.01);
	return NULL;
}

/* Stuck in a plain callback: no task to name, the callback's frame. */
START_TEST(test_watchdog_stuck_callback)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	const char *err;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(schedule_stuck_callback, NULL, &opts, &out),
		      0);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "stuck in a callback, outside any task") !=
				  NULL &&
			  strstr(err, " stuck_callback+") != NULL,
		  "the report should say 'outside any task' and show "
		  "stuck_callback:\n%s",
		  err);
}
END_TEST

static void add_watchdog(void)
{
	cl_test(test_watchdog_look, 3, SEC_WD);
	cl_test(test_watchdog_blocking_program, 3, SEC_WD);
	cl_test(test_watchdog_idle_is_not_stuck, 2, SEC_WD);
	cl_test(test_watchdog_busy_is_not_stuck, 2, SEC_WD);
	cl_test(test_watchdog_stuck_callback, 2, SEC_WD);
}

CL_CHAPTER(9, "09-debugging", "debugging", add_watchdog)
