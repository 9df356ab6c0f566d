/*
 * tracer_check.c - the tracer writes what visualizer/README.md says.
 *
 *	tracer_check FILE1 FILE2
 *
 * Drives solutions/trace.c through a made-up scheduler's calls and checks
 * the return values; run.sh then compares FILE1 and FILE2 with
 * tracer.trace and tracer-env.trace and reads them with cotrace. Built
 * with -DCOROLAB_NO_TRACE, it checks that CL_TRACE is compiled out.
 * Traced, it also checks that the tracer's own formatting writes what
 * printf would, and that the events of a process that dies are in the
 * buffer a grader lent it (FILE1.fmt and FILE1.crash, scratch files).
 * Prints what failed; exits 1 if anything did.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

#ifndef COROLAB_NO_TRACE
/* The last line of path, without its newline, in line. */
static void last_line(const char *path, char *line, size_t size)
{
	char buf[4096];
	FILE *f = fopen(path, "r");

	line[0] = '\0';
	while (f != NULL && fgets(buf, sizeof buf, f) != NULL)
		snprintf(line, size, "%.*s", (int)strcspn(buf, "\n"), buf);
	if (f != NULL)
		fclose(f);
}

/* Each event's fields are what snprintf makes of the same format: the
 * tracer formats the common conversions itself, the rest by vsnprintf. */
#define SAME_AS_PRINTF(fmt, ...)                                               \
	do {                                                                   \
		char want[512], got[4096], *fields;                            \
		cl__trace_loop_start(1);                                       \
		CL_TRACE("x", fmt, __VA_ARGS__);                               \
		cl_trace_flush();                                              \
		snprintf(want, sizeof want, fmt, __VA_ARGS__);                 \
		last_line(path, got, sizeof got);                              \
		fields = strstr(got, " x ");                                   \
		CHECK(fields != NULL && strcmp(fields + 3, want) == 0);        \
		cl__trace_loop_end();                                          \
	} while (0)

static void formats(const char *path)
{
	CHECK(cl_trace_open(path) == 0);
	SAME_AS_PRINTF("a=%d b=%d", 0, INT_MIN);
	SAME_AS_PRINTF("a=%ld b=%ld c=%i", LONG_MIN, LONG_MAX, -7);
	SAME_AS_PRINTF("a=%lu b=%llu c=%zu d=%u", ULONG_MAX, 10ULL,
		       (size_t)99, 100u);
	SAME_AS_PRINTF("s=%s t=%s%c 100%%", "", "abc", '!');
	SAME_AS_PRINTF("x=%x w=%5d p=%-3s|", 255, 42, "a"); /* vsnprintf */
	SAME_AS_PRINTF("n=%lu%lu", 9UL, 99999999999UL);
	/* Each number of digits, at both ends. */
	SAME_AS_PRINTF("%lu %lu %lu %lu %lu %lu %llu %lld", 0UL, 9UL, 10UL,
		       99UL, 100UL, 9999999999999999999UL, ULLONG_MAX,
		       LLONG_MIN);
	for (unsigned long v = 1; v < ULONG_MAX / 10; v *= 10)
		SAME_AS_PRINTF("%lu %lu %lu", v - 1, v, v + 1);
	cl_trace_close();
}

/*
 * A process that dies tracing: its events are where the grader can find
 * them, whole lines, in the file and then the lent buffer.
 */
static void crash(const char *path)
{
	size_t size = 64 * 1024;
	struct cl_trace_buf *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char line[256], last[256];
	int status, events = 0;
	pid_t pid;
	FILE *f;

	CHECK(buf != MAP_FAILED);
	if (buf == MAP_FAILED)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (cl__trace_buffer(buf, size) != 0 ||
		    cl_trace_open(path) != 0)
			_exit(3);
		cl__trace_loop_start(1);
		for (int i = 1; i <= 2000; i++) /* more than a buffer full */
			CL_TRACE("wake", "task=%d by=spawn", i);
		abort();
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	f = fopen(path, "a");
	CHECK(f != NULL && buf->len > 0);
	if (f == NULL)
		return;
	fwrite(buf->data, 1, buf->len, f);
	fclose(f);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		CHECK(strchr(line, '\n') != NULL);
		events += line[0] != '#';
		snprintf(last, sizeof last, "%s", line);
	}
	if (f != NULL)
		fclose(f);
	CHECK(events == 2000);
	CHECK(strstr(last, " wake task=2000 by=spawn\n") != NULL);
	/* The buffer's length is checked before it is trusted. */
	CHECK(cl__trace_buffer(buf, 16) == -EINVAL);
	munmap(buf, size);
}
#endif

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
#ifndef COROLAB_NO_TRACE
	char scratch[4096];

	snprintf(scratch, sizeof scratch, "%s.fmt", argv[1]);
	formats(scratch);
	unlink(scratch);
	snprintf(scratch, sizeof scratch, "%s.crash", argv[1]);
	crash(scratch);
	unlink(scratch);
#endif
	return failed;
}
