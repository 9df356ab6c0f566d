/*
 * trace.c - writing trace events, one line each.
 *
 * The tracer is a FILE with a big buffer and a few numbers: the sequence
 * counter, and the clock and iteration the loop last told us. Writing an
 * event is one fprintf for the fixed part and one vfprintf for the fields;
 * stdio does the buffering, so most events cost a copy into memory and the
 * disk sees a write every 64 KiB. See trace.h for the format and for when
 * recording is on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* 64 KiB: a few hundred events per write(2). */
#define CL__TRACE_BUFSIZE (1 << 16)

/*
 * The flag CL_TRACE tests. It is a plain global, outside the struct below,
 * so that the test compiles to one load and one compare.
 */
int cl__trace_enabled;

/*
 * The tracer's state. Only this file touches it, always from the thread
 * running the loop.
 */
static struct {
	FILE *fp;	    /* the trace file, NULL when none is open */
	char *path;	    /* its name, for error messages */
	long seq;	    /* the last seq written: counts for the process */
	uint64_t now_us;    /* set by cl__trace_clock, stamped on events */
	uint64_t iteration; /* ditto */
	int in_loop;	    /* between loop_start and loop_end */
	int virtual_clock;  /* what the running loop's clock is */
	int env_tried;	    /* COROLAB_TRACE was looked at already */
} tr;

/* Recording is on exactly when there is a file and a loop is running. */
static void update_enabled(void)
{
	cl__trace_enabled = tr.fp != NULL && tr.in_loop;
}

static void write_header(void)
{
	fprintf(tr.fp, "# corolab-trace 1 clock=%s unit=us\n",
		tr.virtual_clock ? "virtual" : "monotonic");
}

/*
 * A trace that silently stops is worse than none: the reader would take a
 * full disk for a program that stopped. So a failed write is reported
 * once, and the file closed.
 */
static void check_errors(void)
{
	if (tr.fp == NULL || !ferror(tr.fp))
		return;
	fprintf(stderr, "corolab: trace: writing %s failed: %s\n", tr.path,
		strerror(errno));
	fclose(tr.fp);
	tr.fp = NULL;
	update_enabled();
}

int cl_trace_open(const char *path)
{
	FILE *fp;
	char *copy;

	if (path == NULL || *path == '\0')
		return -EINVAL;
	cl_trace_close();
	fp = fopen(path, "w");
	if (fp == NULL)
		return -errno;
	copy = strdup(path);
	if (copy == NULL) {
		fclose(fp);
		return -ENOMEM;
	}
	/* stdio allocates the buffer itself (NULL) and frees it in fclose. */
	setvbuf(fp, NULL, _IOFBF, CL__TRACE_BUFSIZE);
	tr.fp = fp;
	tr.path = copy;
	/* Opened while a loop runs: this run starts here. */
	if (tr.in_loop)
		write_header();
	update_enabled();
	return 0;
}

void cl_trace_close(void)
{
	if (tr.fp != NULL) {
		fflush(tr.fp);
		check_errors();
	}
	if (tr.fp != NULL)
		fclose(tr.fp);
	tr.fp = NULL;
	free(tr.path);
	tr.path = NULL;
	update_enabled();
}

void cl_trace_flush(void)
{
	if (tr.fp == NULL)
		return;
	fflush(tr.fp);
	check_errors();
}

void cl__trace_clock(uint64_t now_us, uint64_t iteration)
{
	tr.now_us = now_us;
	tr.iteration = iteration;
}

void cl__trace_loop_start(int virtual_clock)
{
	const char *env;
	int rc;

	/* The environment variable is read once per process: a second
	 * loop must append its run to the file, not truncate it. */
	if (tr.fp == NULL && !tr.env_tried) {
		tr.env_tried = 1;
		env = getenv("COROLAB_TRACE");
		if (env != NULL && *env != '\0' &&
		    (rc = cl_trace_open(env)) < 0)
			fprintf(stderr, "corolab: trace: cannot open %s: %s\n",
				env, strerror(-rc));
	}
	tr.in_loop = 1;
	tr.virtual_clock = virtual_clock;
	tr.now_us = 0;
	tr.iteration = 0;
	if (tr.fp != NULL)
		write_header();
	update_enabled();
}

void cl__trace_loop_end(void)
{
	/* loop.end tells a reader that the run is complete: a run without
	 * it was cut short (the program died inside the loop). */
	if (cl__trace_enabled)
		cl__trace("loop.end", NULL);
	tr.in_loop = 0;
	update_enabled();
	cl_trace_flush();
}

/*
 * The format attribute in trace.h lets gcc check callers; this definition
 * also accepts fmt == NULL (no fields), which only loop.end above uses, so
 * gcc's -Wformat-zero-length never sees an empty literal.
 */
long cl__trace(const char *event, const char *fmt, ...)
{
	va_list ap;

	if (tr.fp == NULL)
		return 0;
	tr.seq++;
	fprintf(tr.fp, "%ld %" PRIu64 " %" PRIu64 " %s", tr.seq, tr.now_us,
		tr.iteration, event);
	if (fmt != NULL && *fmt != '\0') {
		putc(' ', tr.fp);
		va_start(ap, fmt);
		vfprintf(tr.fp, fmt, ap);
		va_end(ap);
	}
	putc('\n', tr.fp);
	return tr.seq;
}

size_t cl__trace_escape(char *dst, size_t size, const char *src)
{
	static const char plain[] = "\"\\\n\t\r";
	static const char named[] = "\"\\ntr";
	const unsigned char *s = (const unsigned char *)src;
	char buf[5];
	size_t len = 0, n;
	const char *p;

	if (size == 0)
		return 0;
	for (; *s != '\0'; s++) {
		p = strchr(plain, *s);
		if (p != NULL)
			n = (size_t)snprintf(buf, sizeof(buf), "\\%c",
					     named[p - plain]);
		else if (*s < 0x20 || *s == 0x7f)
			/* Three octal digits, never fewer: "\0011" is
			 * unambiguous where "\x11" followed by 1 is not. */
			n = (size_t)snprintf(buf, sizeof(buf), "\\%03o", *s);
		else
			buf[0] = (char)*s, buf[1] = '\0', n = 1;
		if (len + n >= size)
			break; /* cut before an escape, never inside one */
		memcpy(dst + len, buf, n);
		len += n;
	}
	dst[len] = '\0';
	return len;
}
