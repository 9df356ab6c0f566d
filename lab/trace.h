/*
 * trace.h - the scheduler's flight recorder.
 *
 * When tracing is on, the event loop writes one line of text per thing it
 * does: a task created, a step of a task begun and ended, a future done, a
 * timer fired, a task woken and by whom. visualizer/cotrace turns the file
 * into a timeline, an await graph or a Perfetto trace; visualizer/README.md
 * is the reference of the format.
 *
 *	# corolab-trace 1 clock=virtual unit=us
 *	1 0 0 task.new task=1 name=main parent=0
 *	2 0 0 wake task=1 by=spawn
 *	3 0 1 step.begin task=1 step=1 cause=2 qlen=0
 *
 * Each line is "<seq> <ts> <it> <event> key=value ...": seq counts every
 * event of the process and is the event's identity (a step.begin names the
 * wake that caused it by its seq), ts is the loop's clock in microseconds,
 * it the loop iteration. Values have no spaces; free text comes last, as
 * msg="..." with C escapes (cl__trace_escape writes them).
 *
 * Turning it on: set COROLAB_TRACE=file in the environment, or call
 * cl_trace_open(file). A %p in the name is the process id: with
 * COROLAB_TRACE=chat-%p.trace each process of a program writes its own
 * trace (a child forked before or after its parent traced opens its own
 * file at its first loop run), and each monotonic run of such a trace
 * (or of any trace, with COROLAB_TRACE_ORIGIN=1) says, in a line after
 * its header, where its time starts on the clocks processes share:
 *
 *	# corolab-origin pid=4242 monotonic_ns=81234567890000
 *	  realtime_ns=1717171717123456789 name=chatd		(one line)
 *
 * so that cotrace can draw the traces of several processes on one time
 * axis (name: COROLAB_TRACE_NAME, or the program's). Readers that do
 * not know the line take it for a comment.
 *
 * Either way the tracer records while an event loop runs, from
 * cl__trace_loop_start to cl__trace_loop_end, because only the loop
 * knows the time and the iteration to stamp events with. Each loop
 * run writes the header line again, so a file holds one or more runs,
 * each starting at its header; cotrace --run N picks one.
 *
 * Off, the cost is one predictable branch per CL_TRACE on a global flag:
 * the arguments are not even evaluated. Compiled with -DCOROLAB_NO_TRACE,
 * CL_TRACE is the constant 0 and the tracer is gone from the caller.
 *
 * Python has no tracer of this kind: asyncio's debug mode logs slow
 * callbacks, and sys.monitoring (3.12) sees calls, not scheduling. The
 * design follows Go's execution tracer (runtime/trace), which records
 * who unblocked whom so a viewer can draw the arrow.
 *
 * The tracer is single-threaded, like the loop, and one process writes a
 * trace file: a child forked with the file open lets go of it and does
 * not trace.
 */
#ifndef CL_TRACE_H
#define CL_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Nonzero while events are being written. Read by CL_TRACE, and by the
 * loop, which reads the clock before each callback only for the trace. */
extern _Thread_local int cl__trace_enabled;

/*
 * CL_TRACE(event, fmt, ...) writes one event whose fields are the printf
 * format fmt and its arguments ("task=%ld step=%ld"), and evaluates to the
 * event's seq, or to 0 when tracing is off. The format is required; use a
 * string literal, so that gcc checks the arguments against it.
 *
 * Each CL_TRACE keeps a struct cl__trace_site of its own (a static in the
 * statement expression): the first event written there parses the format
 * into literal pieces and conversions, and every later one only copies
 * and converts (trace.c).
 *
 * With COROLAB_NO_TRACE it is the constant 0L. It is a GNU statement
 * expression rather than a bare ((long)0) so that a CL_TRACE used as a
 * statement is not "a statement with no effect" under -Werror, and the
 * dead call inside keeps the arguments type-checked and "used" (no
 * unused-variable warnings) while never evaluating them.
 */
#ifdef COROLAB_NO_TRACE
#define CL_TRACE(event, fmt, ...)                                              \
	(__extension__({                                                       \
		if (0)                                                         \
			cl__trace((event), fmt, ##__VA_ARGS__);                \
		0L;                                                            \
	}))
#else
#define CL_TRACE(event_, fmt_, ...)                                            \
	(__extension__({                                                       \
		static struct cl__trace_site cl__site = {                      \
			.event = (event_), .fmt = (fmt_) };                    \
		__builtin_expect(cl__trace_enabled, 0)                         \
		    ? cl__trace_at(&cl__site, fmt_, ##__VA_ARGS__)             \
		    : 0L;                                                      \
	}))
#endif

/* At most this many conversions in a format the tracer parses; a format
 * with more is handed to vsnprintf each time. */
#define CL__TRACE_PIECES 10

/* A CL_TRACE call site: its event, its format and, once parsed, the
 * format's pieces. Zero-initialized but for event and fmt. */
struct cl__trace_site {
	const char *event;
	const char *fmt;
	int parsed;	      /* 0 not yet, 1 pieces below, -1 vsnprintf */
	unsigned char npieces;
	unsigned char event_len;
	unsigned short fixed; /* the most all but %s can write */
	struct {
		unsigned char off;  /* literal text at text + off, */
		unsigned char len;  /* len bytes long, */
		unsigned char conv; /* then this conversion (trace.c) */
	} piece[CL__TRACE_PIECES + 1];
	char text[128];	      /* the event's name, then the literals */
};

/*
 * Write one event now, whatever the flag says (CL_TRACE checks it first).
 * Returns the event's seq, or 0 if no trace file is being written.
 * cl__trace_at is the same for a call site (fmt is the site's, repeated
 * for gcc's format check).
 */
long cl__trace(const char *event, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
long cl__trace_at(struct cl__trace_site *site, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The loop calls this whenever its clock or iteration moves, before it
 * emits events: every event written afterwards carries now_us and
 * iteration.
 */
void cl__trace_clock(uint64_t now_us, uint64_t iteration);

/*
 * A loop starts running: open the file named by COROLAB_TRACE if that is
 * set and no file is open (only once per process, so a second loop does not
 * truncate the first one's trace), write the header, start recording.
 * virtual_clock says whether ts is the loop's virtual clock or the
 * monotonic clock.
 */
void cl__trace_loop_start(int virtual_clock);

/*
 * The loop has stopped: write a loop.end event, flush, stop recording.
 * The file stays open, so a next loop run in this process appends its
 * run to the same trace; cl_trace_close (or exit) closes it.
 */
void cl__trace_loop_end(void);

/*
 * The API equivalent of COROLAB_TRACE: trace to path (truncated) from the
 * next loop run on, or from now if a loop is running. A file already open
 * is closed first. Returns 0 or a negative errno value.
 */
int cl_trace_open(const char *path);

/* Flush and close the trace file; recording stops. */
void cl_trace_close(void);

/*
 * Write out what is buffered. The tracer flushes at loop end, and exit()
 * flushes too; a program about to block for long, or one that may be
 * killed, can call this so the trace so far is on disk. (A child made by
 * fork drops the parent's trace file and buffer, unwritten: the parent
 * writes them.)
 */
void cl_trace_flush(void);

/*
 * Events written but not yet in the file: a count, then the bytes.
 */
struct cl_trace_buf {
	size_t len;
	char data[];
};

/*
 * Buffer events in size bytes at buf (the struct and its data) instead of
 * a buffer of the tracer's own. For a grader: it maps buf shared before
 * forking a test's process, which calls this before tracing; if the test
 * dies, buf->data holds buf->len bytes of events that still belong at the
 * end of the trace file. Call it before cl_trace_open, or while no file is
 * open; size must leave room for a few events (8 KiB will do).
 * Returns 0 or -EINVAL.
 */
int cl__trace_buffer(struct cl_trace_buf *buf, size_t size);

/*
 * Copy src into dst (size bytes, always NUL-terminated) with C escapes for
 * quotes, backslashes and control characters, for a msg="..." field:
 *
 *	char m[128];
 *	cl__trace_escape(m, sizeof(m), cl_exc_message(e));
 *	CL_TRACE("exc.raise", "task=%ld type=%s msg=\"%s\"", id, type, m);
 *
 * A src too long is cut short, never inside an escape.
 * Returns the length written.
 */
size_t cl__trace_escape(char *dst, size_t size, const char *src);

#endif
