/*
 * model.h - what happened in a run: tasks, their steps, waits and wakes.
 *
 * The trace is a list of moments; the views want intervals. Replaying the
 * events of a run in order, model.c keeps each task's state (created,
 * running, waiting, queued, done) and cuts its life into spans:
 *
 *	    queued        step #1      waiting (await)    queued   step #2
 *	task.new ... step.begin ... step.end ........ wake ... step.begin ...
 *
 * and turns the instants that connect lanes (a wake, a cancel) into marks
 * with the lane they come from. Every view (timeline, awaits, chrome,
 * stats) draws or counts these; none of them reads the trace's raw order
 * again except to place things in time.
 *
 * The replay is also where a trace that parses can still be wrong: a step
 * of a task that was never created, two tasks running at once, a step
 * that ends before it begins. Each is an error naming the line.
 */
#ifndef COTRACE_MODEL_H
#define COTRACE_MODEL_H

#include "tracefile.h"

/* The event loop's lane. Task ids start at 1. */
#define LOOP_LANE 0

/* The lane of the pool's thread number k (thread.run worker=k, from 1):
 * below 0, so that no task's lane is one. */
#define WORKER_LANE(k) (-(k))
#define IS_WORKER_LANE(lane) ((lane) < 0)
#define LANE_WORKER(lane) (-(lane))

/* Ids are small integers handed out at creation: below this. */
#define MAX_ID 1000000L

enum task_state {
	TS_CREATED, /* task.new seen, never ran yet (it is queued) */
	TS_RUNNING, /* inside a step */
	TS_WAITING, /* its last step ended pending, nobody woke it yet */
	TS_QUEUED,  /* woken, waiting for its turn in the ready queue */
	TS_DONE,    /* its last step ended done/raised/cancelled */
};

enum span_kind {
	SP_STEP,   /* step.begin .. step.end: the task runs */
	SP_WAIT,   /* step.end (pending) .. the wake: it awaits something */
	SP_QUEUED, /* task.new or wake .. step.begin: ready, not running */
	SP_POLL,   /* poll.begin .. poll.end, on the loop's lane */
};

/* An interval on one lane. */
struct span {
	enum span_kind kind;
	long lane;		   /* task id, or LOOP_LANE */
	const struct event *from;  /* where it starts */
	const struct event *to;	   /* where it ends; NULL: open at the end */
	long step;		   /* SP_STEP: its number, #step */
	enum step_result result;   /* SP_STEP: how it ended (if to != NULL) */
	const struct event *cause; /* SP_STEP: the wake that led to it */
	const struct event *await; /* SP_WAIT: what it awaits, or NULL */
};

enum mark_kind {
	MK_WAKE,    /* wake: an arrow from the waker's lane */
	MK_CANCEL,  /* cancel: an arrow from the canceller's lane */
	MK_EXC,	    /* exc.raise, on the raising task's lane */
	MK_FUT,	    /* fut.done, on the lane of whoever completed it */
	MK_TIMER,   /* timer.fire, on the loop's lane */
	MK_FD,	    /* fd.ready, on the loop's lane */
	MK_TIMEOUT, /* timeout: a timeout fired for the task, on its lane */
	MK_END,	    /* task.done outside any step (cancelled before it ran):
		     * the end of its lane, with no step box to say how */
};

/* An instant on a lane, maybe with an arrow from another lane. */
struct mark {
	enum mark_kind kind;
	const struct event *ev;
	long lane; /* where it points: the woken or cancelled task */
	long from; /* where the arrow starts: the waker; = lane if none */
	long step; /* MK_WAKE: index in spans of the step it caused, or -1 */
	long from_step; /* the waker's step (running or its last), or -1 */
};

struct task {
	long id;
	const char *name;	     /* task.new name=, or NULL */
	long parent;		     /* 0: none */
	const struct event *created; /* its task.new */
	const struct event *done;    /* its task.done, or NULL */
	enum task_state state;	     /* when the replay stopped */
	long nsteps;
	long open;		   /* replay: its open span, or -1 */
	long last_step;		   /* replay: its latest step span, or -1 */
	const struct event *await; /* replay: the await of this step */
	int woken;		   /* replay: woken during this step */
	long pending_wake;	   /* replay: its last wake not yet run */
};

/* An element of an array indexed by id, grown on demand. */
struct table {
	unsigned char *v;
	size_t n;    /* elements allocated (zeroed) */
	size_t size; /* of one element */
};

struct timer {
	const struct event *set;  /* the last timer.set, or NULL */
	const struct event *fire; /* its timer.fire, or NULL (pending) */
};

/*
 * A blocking call on the pool's threads (chapter 07): run_in_executor or
 * to_thread. The loop writes thread.submit when it hands the call to
 * the pool and, once the loop has the result, thread.run with the
 * thread that ran it and when (begin, end: the loop's real clock).
 */
struct call {
	long fut;			/* the call's future: fut:N */
	const struct event *submit;	/* thread.submit, or NULL (before
					   the run: a Runner's earlier one) */
	const struct event *run;	/* thread.run, or NULL: in the pool
					   when the replay stopped */
	long task;			/* the task that submitted it, or 0 */
	long awaiter;			/* the first task to await fut, or 0 */
	long wake;			/* the wake its result caused: an
					   index in marks, or -1 */
};

/* A lock (chapter 07): who holds it, as lock.acquire said. */
struct lock {
	const struct event *held; /* the lock.acquire while it is held, or
				     NULL: free (or never seen) */
};

/* A queue (chapter 07), from queue.new, queue.put and queue.get. */
struct queue {
	const struct event *created; /* queue.new, or NULL (made earlier) */
	long size;		     /* items in it now */
	long peak;		     /* the most it held */
	long puts, gets;
	const struct event *last;    /* the latest of its events, or NULL:
					never seen */
};

struct model {
	const struct trace *t;
	const struct run *run;
	const struct event *ev; /* the run's events replayed: ev[0..nev) */
	size_t nev;
	struct task *tasks; /* in creation order: lane order */
	size_t ntasks;
	struct span *spans; /* in the order they opened */
	size_t nspans;
	struct mark *marks; /* in seq order */
	size_t nmarks;
	struct table task_ix; /* id -> index in tasks + 1 (long) */
	struct table futs;    /* id -> its fut.done (const event *) */
	struct table timers;  /* id -> struct timer */
	struct table locks;   /* id -> struct lock (chapter 07) */
	struct table queues;  /* id -> struct queue */
	struct table call_ix; /* future id -> index in calls + 1 (long) */
	struct call *calls;   /* the pool's calls, in submit order */
	size_t ncalls, ncalls_cap;
	long *workers;	      /* the pool's threads seen (worker=), sorted */
	size_t nworkers, nworkers_cap;
	long running;	      /* the task in a step, or 0 */
	long last_cb;	      /* seq of the latest cb event, or 0 */
	long waker_fd;	      /* the fd other threads wake the loop with
				 (loop.waker), or -1 */
	long poll;	      /* the open SP_POLL span, or -1 */
	int64_t t0, t1;	      /* first and last timestamp replayed */
	size_t caps[3];	      /* allocated tasks, spans, marks */
	char err[512];	      /* the message when model_build fails */
};

/*
 * Replay run number run (0-based) of t, up to and including the event
 * whose seq is upto (0: to the end). Returns 0, or -1 with m->err set to
 * "FILE:LINE: what".
 */
int model_build(struct model *m, const struct trace *t, size_t run, long upto);

void model_free(struct model *m);

/* The task with this id, or NULL. */
struct task *model_task(const struct model *m, long id);

/*
 * The task.done that ended the task in step span s (written inside the
 * step or just after it), or NULL: s is not its task's last step, or that
 * step ended pending, or there is no task.done.
 */
const struct event *model_done_in(const struct model *m, const struct span *s);

/* "T3 worker" (or "T3"), into buf. */
const char *task_label(const struct task *tk, char *buf, size_t size);

/* The fut.done of future id so far, or NULL (pending or never seen). */
const struct event *model_fut_done(const struct model *m, long id);

/* Timer id's set and fire events so far (both NULL if never seen). */
struct timer model_timer(const struct model *m, long id);

/* Timers set and neither fired nor cancelled so far. */
long model_pending_timers(const struct model *m);

/* The pool's call whose future is fut, or NULL (chapter 07). */
const struct call *model_call(const struct model *m, long fut);

/* Calls submitted and not yet back (no thread.run) so far. */
long model_calls_in_flight(const struct model *m);

/* Where the pool's call runs on the picture: its row among the workers
 * (0 for the lowest worker number), or -1 if worker k never ran one. */
long model_worker_row(const struct model *m, long k);

/* Lock id's lock.acquire if the lock is held now, else NULL. */
const struct event *model_lock_held(const struct model *m, long id);

/* Queue id's state so far (created NULL and last NULL if never seen). */
struct queue model_queue(const struct model *m, long id);

/*
 * "lock:3", "queue:1": a reference to a chapter 07 object, which the
 * reader leaves as REF_OTHER; its id in *id if it is of kind word.
 */
int ref_is(const struct ref *r, const char *word);

/*
 * For "cotrace awaits --at deadlock": the seq of the first moment of run
 * number run where the waits close a cycle (a task awaits a task's
 * result or a lock that, through others, comes back to itself), or 0
 * if none ever does; -1 with m->err set if the run does not replay.
 * The model is left built up to that moment (or to the end).
 */
long model_first_cycle(struct model *m, const struct trace *t, size_t run);

/*
 * What the task waits for, through one arrow of the await graph: the
 * task whose result it awaits (what=task:N), or the holder of the lock
 * it awaits. 0 if none (or not waiting).
 */
long model_waits_for(const struct model *m, const struct task *tk);

/* The span the event with this seq opened, or NULL. */
const struct span *model_span_at(const struct model *m, long seq);

/* The mark made by the event with this seq, or NULL. */
const struct mark *model_mark_at(const struct model *m, long seq);

/* ts of a span's end: its to event, or the end of the replay. */
int64_t span_end_ts(const struct model *m, const struct span *s);

/*
 * Context variables (chapter 06): what variable var held, as the trace
 * wrote its value, in the context each step ran in (step.begin ctx=),
 * at the end of that step. out[i] is span i's: NULL when the span is no
 * step, its step.begin names no context, or that context has no value
 * for var as far as the trace tells (a context made before the trace
 * began is empty to us). A ctx.new gives the new context its source's
 * value; a var.set sets it, value=- removes it. Returns an array of
 * m->nspans the caller frees, or NULL when memory is short.
 */
const char **model_var_values(const struct model *m, const char *var);

/* A duration for people: "0", "850 us", "12.5 ms", "1.25 s". */
const char *fmt_time(int64_t us, char *buf, size_t size);

#endif
