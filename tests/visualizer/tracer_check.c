/*
 * tracer_check.c - the tracer writes what visualizer/README.md says.
 *
 *	tracer_check FILE1 FILE2
 *
 * Drives solutions/trace.c through a made-up scheduler's calls and checks
 * the return values; run.sh then compares FILE1 and FILE2 with
 * tracer.trace and tracer-env.trace and reads them with cotrace. Built
 * with -DCOROLAB_NO_TRACE, it checks that CL_TRACE is compiled out.
 * Prints what failed; exits 1 if anything did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static int failed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("tracer_check:%d: %s\n", __LINE__, #cond);      \
			failed = 1;                                            \
		}                                                              \
	} while (0)

#ifdef COROLAB_NO_TRACE
#define TRACED(seq) ((void)(seq), 0L)
#else
#define TRACED(seq) (seq)
#endif

/*
 * One small run: main sleeps once and raises. seq is the seq its first
 * event should get: seqs count through the process, across runs.
 */
static void one_run(long seq)
{
	char msg[64];
	int evaluated = 0;
	long wake;

	cl__trace_loop_start(1);
	cl__trace_clock(0, 0);
	CHECK(CL_TRACE("task.new", "task=%d name=%s parent=0", 1, "main") ==
	      TRACED(seq));
	wake = CL_TRACE("wake", "task=1 by=spawn");
	CHECK(wake == TRACED(seq + 1));
	cl__trace_clock(0, 1);
	CHECK(CL_TRACE("step.begin", "task=1 step=1 cause=%ld qlen=0", wake) ==
	      TRACED(seq + 2));
	CL_TRACE("timer.set", "timer=1 at=%d", 1500);
	CL_TRACE("await", "task=1 on=timer:1 what=sleep");
	CL_TRACE("step.end", "task=1 step=1 result=pending");
	cl__trace_clock(1500, 2);
	CL_TRACE("timer.fire", "timer=1");
	wake = CL_TRACE("wake", "task=1 by=timer:1");
	cl__trace_clock(1500, 3);
	CL_TRACE("step.begin", "task=1 step=2 cause=%ld qlen=0", wake);
	cl__trace_escape(msg, sizeof(msg), "say \"hi\"\n\tand\001 \\ bye");
	CL_TRACE("exc.raise", "task=1 type=ValueError msg=\"%s\"", msg);
	CL_TRACE("task.done", "task=1 state=exc");
	CL_TRACE("step.end", "task=1 step=2 result=raised");
	cl__trace_loop_end();
	/* Between runs nothing is recorded, and arguments are not even
	 * evaluated. */
	CHECK(CL_TRACE("wake", "task=%d by=spawn", ++evaluated) == 0);
	CHECK(evaluated == 0);
}

int main(int argc, char **argv)
{
	char small[8];
	int evaluated = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: tracer_check FILE1 FILE2\n");
		return 2;
	}
	/* Off: no file, no loop. */
	CHECK(CL_TRACE("task.new", "task=%d", ++evaluated) == 0);
	CHECK(evaluated == 0);
	CHECK(cl_trace_open(NULL) == -EINVAL);
	CHECK(cl_trace_open("/nonexistent/dir/x.trace") == -ENOENT);

	/* The escapes: quotes, backslash, control characters in octal;
	 * cut short before an escape, never inside one. */
	CHECK(cl__trace_escape(small, sizeof(small), "ab\"cd") == 6);
	CHECK(strcmp(small, "ab\\\"cd") == 0);
	CHECK(cl__trace_escape(small, sizeof(small), "abcdef\n") == 6);
	CHECK(strcmp(small, "abcdef") == 0);
	CHECK(cl__trace_escape(small, sizeof(small), "\001") == 4);
	CHECK(strcmp(small, "\\001") == 0);

	/* The API: open, two runs appended to one file, close. */
	CHECK(cl_trace_open(argv[1]) == 0);
	CHECK(CL_TRACE("wake", "task=1 by=spawn") == 0); /* no loop yet */
	one_run(1);
	cl__trace_loop_start(0);
	cl__trace_clock(123456, 7);
	CL_TRACE("poll.begin", "timeout=%d nfds=%d", -1, 2);
	cl__trace_clock(123999, 7);
	CL_TRACE("fd.ready", "fd=5 events=IN");
	CL_TRACE("poll.end", "nready=1");
	cl__trace_loop_end();
	cl_trace_close();

	/* The environment variable, read at loop start: the file stays
	 * open across runs, so both land in it. */
	setenv("COROLAB_TRACE", argv[2], 1);
	one_run(TRACED(18));
	one_run(TRACED(31));
	cl_trace_close();
	return failed;
}
