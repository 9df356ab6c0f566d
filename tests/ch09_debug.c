/*
 * ch09_debug.c - chapter 09, section 1: debug mode (debug.h): slow steps
 * and slow callbacks, and coroutines that were never awaited.
 *
 * What asyncio does, checked with python3 3.11 (PYTHONASYNCIODEBUG=1):
 * a callback or a step that takes slow_callback_duration or more (0.1 s
 * by default; 0.05 here) is logged once it returns, with its duration; a
 * faster one is not; nothing is logged outside debug mode. A coroutine
 * object freed without being awaited gives "coroutine 'f' was never
 * awaited" with, in debug mode, where it was created; an awaited one
 * gives nothing. The C reports carry what the C has and Python's do not:
 * the two awaits a slow step ran between.
 *
 * The loops run on the real clock: a blocking nanosleep is the slow
 * step, as in asyncio's own tests (time.sleep in a callback).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "debug.h"
#include "grade.h"
#include "loop.h"
#include "run.h"
#include "server.h"
#include "transport.h"
#include "task.h"
#include "value.h"

#define SEC_DEBUG "1. Debug mode"

static void block_ms(int ms)
{
	struct timespec left = { 0, (long)ms * 1000000 };

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

static int debug_on = 1;

/* A step of 80 ms between two awaits, then one of 10 ms, then one of
 * 80 ms that ends the task. */
static void *slowpoke(void *arg)
{
	(void)arg;
	cl_sleep(0);
	block_ms(80); /* slow: reported */
	cl_sleep(0);
	block_ms(10); /* fast: not reported */
	cl_sleep(0);
	block_ms(80); /* slow, and the last step */
	return NULL;
}

static unsigned long slow_count;
static FILE *err_file;	 /* set: count the reports on disk while running */
static int steps_on_disk;
static const char *written(FILE *f);

static void *run_slowpoke(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_task *t;

	(void)arg;
	cl_loop_set_debug(loop, debug_on);
	cl_loop_set_slow_callback_duration(loop, 0.05);
	t = cl_create_task(slowpoke, NULL, "slowpoke");
	cl_await_task(t);
	cl_task_decref(t);
	slow_count = loop->stats.slow;
	if (err_file != NULL)
		steps_on_disk = count_of(written(err_file),
					 "corolab: slow step");
	return NULL;
}

/*
 * Two slow steps of task:2 'slowpoke' are reported, each with its
 * duration and the awaits it ran between (the first resumes at the
 * first cl_sleep and suspends at the second; the last runs to the
 * task's end); the 10 ms step is not. stats.slow counts 2. Without
 * debug mode nothing is reported.
 */
START_TEST(test_debug_slow_steps)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	const char *err, *p;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(run_slowpoke, NULL, &opts, &out), 0);
	err = capture_end(2);
	CL_EXPECT_INT(count_of(err, "corolab: slow step of task:2 "
				    "'slowpoke': 0.0"),
		      2);
	CL_EXPECT_INT(slow_count, 2);
	p = strstr(err, "slow step");
	CL_EXPECT(p != NULL && strstr(p, "resumed at tests/ch09_debug.c:") &&
			  strstr(p, "in slowpoke()\n  suspended at "
				    "tests/ch09_debug.c:"),
		  "the first report should give both awaits in "
		  "slowpoke():\n%s",
		  err);
	CL_EXPECT(strstr(err, "then ran to its end") != NULL,
		  "the last step ends the task:\n%s", err);

	debug_on = 0;
	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(run_slowpoke, NULL, &opts, &out), 0);
	err = capture_end(2);
	debug_on = 1;
	CL_EXPECT(strstr(err, "slow") == NULL,
		  "debug mode is off, yet:\n%s", err);
	CL_EXPECT_INT(slow_count, 0);
}
END_TEST

static __attribute__((noinline)) void slow_callback(void *arg)
{
	(void)arg;
	block_ms(70);
}

static void *run_slow_callback(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_loop_set_debug(loop, 1);
	cl_loop_set_slow_callback_duration(loop, 0.05);
	cl_loop_call_soon(loop, slow_callback, NULL);
	cl_sleep(0.01);
	return NULL;
}

/* A slow callback that is not a task's step is named by its function. */
START_TEST(test_debug_slow_callback)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	const char *err;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(run_slow_callback, NULL, &opts, &out), 0);
	err = capture_end(2);
	CL_EXPECT(strstr(err, "corolab: slow callback slow_callback: 0.0") !=
			  NULL,
		  "expected 'corolab: slow callback slow_callback: 0.0...', "
		  "got:\n%s",
		  err);
}
END_TEST

static void *fetch(void *arg)
{
	cl_sleep(0);
	return CL_INT(CL_TOINT(arg) * 2);
}

static void *forgets(void *arg)
{
	struct cl_gen *lost, *kept;
	void *v;

	(void)arg;
	lost = cl_coro(fetch, CL_INT(1), "fetch");
	kept = cl_coro(fetch, CL_INT(21), "fetch2");
	v = cl_await_coro(kept); /* awaited: its result, no report */
	cl_gen_free(lost);	 /* the forgotten await */
	return v;
}

/*
 * A coroutine freed without an await is reported with the place it was
 * made; the awaited one runs inside the task (its cl_sleep is the
 * task's) and returns its value, without a report.
 */
START_TEST(test_debug_never_awaited)
{
	const char *err, *p;
	void *out;

	capture_begin(2);
	CL_EXPECT_INT(cl_run(forgets, NULL, &out), 0);
	err = capture_end(2);
	CL_EXPECT_INT(CL_TOINT(out), 42);
	p = strstr(err, "corolab: coroutine 'fetch' was never awaited\n"
			"  created at tests/ch09_debug.c:");
	CL_EXPECT(p != NULL && strstr(p, " in forgets()\n") != NULL,
		  "expected the report of 'fetch' created in forgets(), "
		  "got:\n%s",
		  err);
	CL_EXPECT_INT(count_of(err, "never awaited"), 1);
}
END_TEST

static void leak_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	(void)exc;
	free(p);
}

static const struct cl_protocol_ops leak_ops = {
	.connection_lost = leak_lost,
};

static struct cl_protocol *leak_factory(void *arg)
{
	struct cl_protocol *p = calloc(1, sizeof *p);

	(void)arg;
	if (p != NULL)
		p->ops = &leak_ops;
	return p;
}

static int leak_client = -1;

/* LeakSanitizer's switch, when the test runs under it: what this test
 * leaves open on purpose is not a leak to report. */
extern void __lsan_disable(void) __attribute__((weak));

/* A server and one connection to it, left open at the end of main. */
static void *leaves_open(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_server *srv;

	(void)arg;
	cl_loop_set_debug(loop, debug_on);
	cl_loop_create_server(loop, leak_factory, NULL, "127.0.0.1", 0, &srv);
	leak_client = cl__connect("127.0.0.1", cl_server_port(srv));
	cl_sleep(0.05); /* the server accepts it */
	return NULL;
}

/*
 * Debug mode at the loop's end: a ResourceWarning for the transport
 * still open and for the server never closed, as asyncio's
 * "unclosed transport"; nothing without debug mode.
 */
START_TEST(test_debug_resource_warnings)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	const char *err;
	void *out;

	if (__lsan_disable != NULL)
		__lsan_disable();
	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(leaves_open, NULL, &opts, &out), 0);
	err = capture_end(2);
	CL_EXPECT(count_of(err, "corolab: ResourceWarning: unclosed "
				"transport fd=") == 1 &&
			  strstr(err, "corolab: ResourceWarning: 1 unclosed "
				      "server\n") != NULL,
		  "one transport and one server left open, got:\n%s", err);
	close(leak_client);

	debug_on = 0;
	capture_begin(2);
	CL_EXPECT_INT(cl_run_with(leaves_open, NULL, &opts, &out), 0);
	err = capture_end(2);
	debug_on = 1;
	close(leak_client);
	CL_EXPECT(strstr(err, "ResourceWarning") == NULL,
		  "debug mode is off, yet:\n%s", err);
}
END_TEST

/* What f holds so far on disk, without flushing it: what a program
 * whose reports go to a buffered stream shows while it is still running. */
static const char *written(FILE *f)
{
	static char buf[4096];
	ssize_t n = pread(fileno(f), buf, sizeof buf - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/*
 * A report goes out at once, even to a buffered stream (loop->err set
 * to a file): a report that waits in a buffer is no help while the
 * program is stuck. Both the slow step and the resource warnings are on
 * disk before the stream is flushed or closed.
 */
START_TEST(test_debug_reports_flushed)
{
	FILE *f = tmpfile();
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL, .err = f };
	void *out;

	if (__lsan_disable != NULL)
		__lsan_disable();
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	err_file = f;
	CL_EXPECT_INT(cl_run_with(run_slowpoke, NULL, &opts, &out), 0);
	err_file = NULL;
	CL_EXPECT_INT(steps_on_disk, 2); /* while the program still ran */
	CL_EXPECT_INT(cl_run_with(leaves_open, NULL, &opts, &out), 0);
	CL_EXPECT(strstr(written(f), "1 unclosed server\n") != NULL,
		  "the warning is still in the buffer:\n%s", written(f));
	close(leak_client);
	fclose(f);
}
END_TEST

static void add_debug(void)
{
	cl_test(test_debug_slow_steps, 3, SEC_DEBUG);
	cl_test(test_debug_slow_callback, 1, SEC_DEBUG);
	cl_test(test_debug_never_awaited, 2, SEC_DEBUG);
	cl_test(test_debug_resource_warnings, 1, SEC_DEBUG);
	cl_test(test_debug_reports_flushed, 1, SEC_DEBUG);
}

CL_CHAPTER(9, "09-debugging", "debugging", add_debug)
