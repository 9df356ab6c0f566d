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
#include <stdio.h>

#include "intern.h"
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
	EV_LOOP_ITER,
	EV_CB,
	EV_TIMEOUT,
	EV_CTX_NEW, /* chapter 06: context variables */
	EV_VAR_SET,
	EV_LOCK_ACQUIRE, /* chapter 07: locks, the pool's threads, queues */
	EV_LOCK_RELEASE,
	EV_THREAD_SUBMIT,
	EV_THREAD_RUN,
	EV_QUEUE_NEW,
	EV_QUEUE_PUT,
	EV_QUEUE_GET,
	EV_LOOP_WAKER,
};

/*
 * One line of the trace. Which fields mean something depends on kind: the
 * key table in tracefile.c says which key of which event fills which
 * field. Absent optional numbers are 0, absent strings NULL. Strings are
 * interned in the trace's string table (valid UTF-8: a byte that is not
 * becomes U+FFFD); fields no event has together share their room, so a
 * million events fit in a few hundred megabytes.
 */
struct event {
	long seq;   /* the event's identity, increasing through the file */
	int64_t ts; /* microseconds, never decreasing within a run */
	int64_t it; /* loop iteration */
	int line;   /* line number in the file, for messages */
	int run;    /* index of the run (header) it belongs to */
	unsigned char kind;   /* enum ev_kind */
	unsigned char result; /* enum step_result: step.end result= */
	unsigned char state;  /* enum fut_state: fut.done, task.done state= */
	const char *name;     /* the event name as written (also unknown) */

	long task; /* task=; lock.acquire, lock.release: 0 = not a task */
	union {
		long step;    /* step= */
		long skipped; /* thread.run skipped=: 1, the call never ran */
	};
	union {
		long cause;  /* cause=: seq of the wake that led to this step */
		int64_t end; /* thread.run end= (us, the loop's real clock) */
	};
	union {
		long id;  /* fut=, timer=, fd=, lock=, queue= of the event's
			     own object (thread.*: the call's future;
			     loop.waker: its fd) */
		long ctx; /* step.begin, ctx.new, var.set ctx=: a context;
			     0 = not given */
	};
	union {
		long qlen;    /* step.begin qlen=: the ready queue's length */
		long parent;  /* task.new parent=: 0 = none */
		long nfds;    /* poll.begin nfds= */
		long nready;  /* poll.end nready= */
		long from;    /* ctx.new from=: the context copied; 0 = none */
		long worker;  /* thread.run worker=: the pool's thread (1..) */
		long size;    /* queue.put, queue.get size=: items after it */
		long maxsize; /* queue.new maxsize=: 0 = unbounded */
	};
	union {
		int64_t at;	 /* timer.set at= (us) */
		int64_t timeout; /* poll.begin timeout= (-1: block) */
		int64_t begin;	 /* thread.run begin= (us, real clock) */
	};
	struct ref by; /* wake, fut.done, cancel, cb by= */
	union {
		struct ref via; /* wake via= */
		struct ref on;	/* await on= */
	};
	union {
		const char *tname;  /* task.new name= */
		const char *what;   /* await what=; cb kind= */
		const char *events; /* fd.ready events= */
		const char *var;    /* var.set var=: the variable's name */
		const char *qkind;  /* queue.new kind=: fifo, lifo ...;
				       loop.waker kind=: eventfd, pipe */
	};
	union {
		const char *type;  /* exc.raise type=; task.done exc= */
		const char *value; /* var.set value=: "-123", or "-": none */
	};
	const char *msg; /* exc.raise, cancel msg=, unescaped */
};

/* A run: the events after one header line, up to the next header. */
struct run {
	int line;	   /* of its header */
	int virtual_clock; /* clock=virtual */
	size_t first;	   /* index of its first event in trace.ev */
	size_t n;	   /* how many events */
	int ended;	   /* it has a loop.end: the loop finished */
	/* Its "# corolab-origin" line, if any: where ts = 0 is on the
	 * clocks processes share, for merging the traces of several. */
	int has_origin;
	int origin_line;	 /* its line */
	long pid;		 /* pid=: the process that wrote the run */
	int64_t mono_ns;	 /* monotonic_ns=: ts 0 on CLOCK_MONOTONIC */
	int64_t real_ns;	 /* realtime_ns=: ts 0 on CLOCK_REALTIME */
	const char *pname;	 /* name=, or NULL ("-" or not given) */
};

/* A whole trace file, as read. Owned by whoever called trace_read. */
struct trace {
	const char *path; /* as given, for messages */
	struct event *ev; /* every event of the file, in order */
	size_t nev;
	struct run *runs;
	size_t nruns;
	struct strtab strings; /* the one copy of every string of ev */
	char **last;	       /* read_opts.keep: the last lines, a ring */
	size_t keep, nlines;   /* its size; lines read into it */
	long partial;	       /* TR_CUT: bytes of a cut last line left out */
	long zeros;	       /* TR_CUT: NUL bytes at the end left out */
	char err[512]; /* the message when a function returned -1 */
};

/*
 * How to read. TR_CUT: the trace of a program that died mid-write; a
 * last line without its newline is left out (partial says how long it
 * was), and so are NUL bytes at the end (a tracer writing through a
 * memory-mapped file leaves the rest of the file zeros). Without it both
 * are errors, as everywhere else in the file.
 */
#define TR_CUT 1

struct read_opts {
	int flags;   /* TR_CUT or 0 */
	size_t keep; /* keep this many of the last event lines, as written */
	long run;    /* ... of this run (0-based); -1: the last run */
};

/*
 * Read and check path ("-" is stdin); o may be NULL (no flags, nothing
 * kept). Returns 0; -1 when the trace is bad; TRACE_IO_ERROR when the
 * file cannot be read. t->err says why.
 */
#define TRACE_IO_ERROR (-2)
int trace_read(struct trace *t, const char *path, const struct read_opts *o);

/* The same from an open file, named name in messages. */
int trace_read_file(struct trace *t, FILE *fp, const char *name,
		    const struct read_opts *o);

/* The i-th of the last lines kept, oldest first (i < trace_nlast). */
size_t trace_nlast(const struct trace *t);
const char *trace_last(const struct trace *t, size_t i);

/* Free what trace_read allocated. */
void trace_free(struct trace *t);

/* The event whose seq is seq, or NULL (binary search: seqs increase). */
const struct event *trace_find_seq(const struct trace *t, long seq);

#endif
