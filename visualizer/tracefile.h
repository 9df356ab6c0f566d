/*
 * tracefile.h - reading a trace file into checked events.
 *
 * The reader knows the format (README.md, "The trace format") and
 * nothing of what events mean: it checks each line's syntax, parses the
 * fields of the events it knows into struct event, skips the events and
 * keys it does not know, and splits the file into runs, one per header
 * line. Whether the events make sense together (a step of a task that
 * exists, a step that ends after it begins) is model.c's business.
 *
 * Errors never stop the program here: a function that fails returns -1
 * and leaves "FILE:LINE: what" in the trace's err buffer for main to print.
 */
#ifndef COTRACE_TRACEFILE_H
#define COTRACE_TRACEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "values.h"

/* The events cotrace knows. Any other name reads as EV_UNKNOWN. */
enum ev_kind {
	EV_UNKNOWN,
	EV_TASK_NEW,
	EV_WAKE,
	EV_STEP_BEGIN,
	EV_STEP_END,
	EV_AWAIT,
	EV_FUT_DONE,
	EV_TIMER_SET,
	EV_TIMER_FIRE,
	EV_TIMER_CANCEL,
	EV_FD_READY,
	EV_POLL_BEGIN,
	EV_POLL_END,
	EV_EXC_RAISE,
	EV_CANCEL,
	EV_TASK_DONE,
	EV_LOOP_END,
};

/*
 * One line of the trace. Which fields mean something depends on kind: the
 * key table in tracefile.c says which key of which event fills which
 * field. Absent optional numbers are 0, absent strings NULL. Strings are
 * owned by the event.
 */
struct event {
	long seq;   /* the event's identity, increasing through the file */
	int64_t ts; /* microseconds, never decreasing within a run */
	int64_t it; /* loop iteration */
	int line;   /* line number in the file, for messages */
	int run;    /* index of the run (header) it belongs to */
	enum ev_kind kind;
	char *name; /* the event name as written (also for EV_UNKNOWN) */

	long task;	 /* task= */
	long step;	 /* step= */
	long cause;	 /* cause=: seq of the wake that led to this step */
	long qlen;	 /* qlen=: ready-queue length when the step began */
	long parent;	 /* parent=: 0 = none */
	long id;	 /* fut=, timer=, fd= of the event's own object */
	long nfds;	 /* poll.begin nfds= */
	long nready;	 /* poll.end nready= */
	int64_t at;	 /* timer.set at= (us) */
	int64_t timeout; /* poll.begin timeout= (-1: block) */
	struct ref by, via, on;
	enum step_result result;
	enum fut_state state;
	char *tname;  /* task.new name= */
	char *what;   /* await what= */
	char *type;   /* exc.raise type= */
	char *msg;    /* exc.raise msg=, unescaped */
	char *events; /* fd.ready events= */
};

/* A run: the events after one header line, up to the next header. */
struct run {
	int line;	   /* of its header */
	int virtual_clock; /* clock=virtual */
	size_t first;	   /* index of its first event in trace.ev */
	size_t n;	   /* how many events */
	int ended;	   /* it has a loop.end: the loop finished */
};

/* A whole trace file, as read. Owned by whoever called trace_read. */
struct trace {
	const char *path; /* as given, for messages */
	struct event *ev; /* every event of the file, in order */
	size_t nev;
	struct run *runs;
	size_t nruns;
	char err[512]; /* the message when a function returned -1 */
};

/*
 * Read and check path ("-" is stdin). Returns 0; -1 when the trace is bad;
 * TRACE_IO_ERROR when the file cannot be read. t->err says why.
 */
#define TRACE_IO_ERROR (-2)
int trace_read(struct trace *t, const char *path);

/* Free what trace_read allocated. */
void trace_free(struct trace *t);

/* The event whose seq is seq, or NULL (binary search: seqs increase). */
const struct event *trace_find_seq(const struct trace *t, long seq);

#endif
