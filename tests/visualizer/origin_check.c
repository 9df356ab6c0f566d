/*
 * origin_check.c - the tracer's corolab-origin line and %p in names.
 *
 *	origin_check DIR
 *
 * Drives solutions/trace.c as a loop would (like tracer_check.c) and
 * checks what a trace of several processes needs: a %p in the file's
 * name is the pid; a monotonic run of such a trace has, right after its
 * header, "# corolab-origin pid=P monotonic_ns=N realtime_ns=N name=S"
 * with N the instant its ts are counted from; a virtual run has none,
 * nor a monotonic run of a file named without %p (unless
 * COROLAB_TRACE_ORIGIN=1); and a child forked by a process tracing to
 * COROLAB_TRACE=...%p... traces to a file of its own. Prints what
 * failed; exit status 1 if anything did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

static int failed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("origin_check:%d: %s\n", __LINE__, #cond);      \
			failed = 1;                                            \
		}                                                              \
	} while (0)

/* A run whose clock reads now_us at its start. */
static void one_run(int virtual_clock, unsigned long now_us)
{
	cl__trace_loop_start(virtual_clock);
	cl__trace_clock(now_us, 0);
	CL_TRACE("poll.begin", "timeout=%d nfds=%d", -1, 1);
	CL_TRACE("poll.end", "nready=%d", 0);
	cl__trace_loop_end();
}

/* Line n (from 1) of path into buf; 0 if there is none. */
static int line_of(const char *path, int n, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int ok = 0;

	while (f != NULL && n-- > 0 && (ok = fgets(buf, (int)size, f) != NULL))
		;
	if (f != NULL)
		fclose(f);
	return ok;
}

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char pattern[512], path[600], line[512], name[64];
	long pid;
	long long mono, real, before;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: origin_check DIR\n");
		return 2;
	}
	/* %p: the pid in the name; the origin after each monotonic
	 * header, none after a virtual one. */
	snprintf(pattern, sizeof pattern, "%s/o-%%p.trace", argv[1]);
	snprintf(path, sizeof path, "%s/o-%ld.trace", argv[1],
		 (long)getpid());
	unsetenv("COROLAB_TRACE_ORIGIN");
	setenv("COROLAB_TRACE_NAME", "worker-1", 1);
	CHECK(cl_trace_open(pattern) == 0);
	before = mono_ns();
	one_run(0, 5000);
	one_run(1, 0);
	cl_trace_close();
	CHECK(line_of(path, 1, line, sizeof line) &&
	      strcmp(line, "# corolab-trace 1 clock=monotonic unit=us\n") == 0);
	CHECK(line_of(path, 2, line, sizeof line) &&
	      sscanf(line,
		     "# corolab-origin pid=%ld monotonic_ns=%lld "
		     "realtime_ns=%lld name=%63s",
		     &pid, &mono, &real, name) == 4);
	CHECK(pid == (long)getpid());
	CHECK(strcmp(name, "worker-1") == 0);
	/* ts 5000 us was "now": the origin is 5 ms before it. */
	CHECK(mono <= mono_ns() - 5000000 && mono >= before - 5000000);
	CHECK(real > 1000000000LL * 1000000000LL); /* after 2001 */
	CHECK(line_of(path, 3, line, sizeof line) &&
	      strncmp(line, "1 5000 0 poll.begin", 19) == 0);
	CHECK(line_of(path, 6, line, sizeof line) &&
	      strcmp(line, "# corolab-trace 1 clock=virtual unit=us\n") == 0);
	CHECK(line_of(path, 7, line, sizeof line) && line[0] != '#');
	unlink(path);

	/* No %p: no origin, unless asked; a name cut to [A-Za-z0-9._-]. */
	snprintf(path, sizeof path, "%s/plain.trace", argv[1]);
	CHECK(cl_trace_open(path) == 0);
	one_run(0, 0);
	cl_trace_close();
	CHECK(line_of(path, 2, line, sizeof line) && line[0] != '#');
	setenv("COROLAB_TRACE_ORIGIN", "1", 1);
	setenv("COROLAB_TRACE_NAME", "a b/c", 1);
	CHECK(cl_trace_open(path) == 0);
	one_run(0, 0);
	cl_trace_close();
	CHECK(line_of(path, 2, line, sizeof line) &&
	      strstr(line, "# corolab-origin pid=") == line &&
	      strstr(line, " name=a_b_c\n") != NULL);
	unlink(path);
	unsetenv("COROLAB_TRACE_ORIGIN");

	/* COROLAB_TRACE with %p: parent and forked child, a file each. */
	setenv("COROLAB_TRACE", pattern, 1);
	one_run(0, 0);
	pid = (long)fork();
	if (pid == 0) {
		one_run(0, 0);
		cl_trace_close();
		_exit(0);
	}
	CHECK(pid > 0 && waitpid((pid_t)pid, &status, 0) == (pid_t)pid);
	cl_trace_close();
	snprintf(path, sizeof path, "%s/o-%ld.trace", argv[1], pid);
	CHECK(line_of(path, 2, line, sizeof line) &&
	      strncmp(line, "# corolab-origin pid=", 21) == 0 &&
	      atol(line + 21) == pid);
	unlink(path);
	snprintf(path, sizeof path, "%s/o-%ld.trace", argv[1],
		 (long)getpid());
	CHECK(line_of(path, 2, line, sizeof line) &&
	      atol(line + 21) == (long)getpid());
	unlink(path);
	return failed;
}
