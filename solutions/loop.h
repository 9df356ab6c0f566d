/*
 * loop.h - the event loop: a ready queue, timers, a clock.
 *
 * The loop is the one thing that runs. Everything else (a future waking
 * its waiters, a task taking its next step, a timer firing) happens as a
 * callback that somebody put in the loop's ready queue, and the loop runs
 * the queue, one iteration at a time:
 *
 *	cl_loop_call_soon(loop, fn, arg)	fn(arg) at the next iteration
 *	cl_loop_call_later(loop, 1.5, fn, arg)	fn(arg) in 1.5 s
 *	cl_loop_call_at(loop, when, fn, arg)	fn(arg) when the clock says
 *
 * An iteration (cl_loop_run_once) waits until something is ready or the
 * next timer is due, moves the due timers to the ready queue, and runs
 * the callbacks that were ready when it began; the ones they queue wait
 * for the next iteration. Nothing is ever called synchronously: that is
 * what makes the order of events predictable, and the same as CPython's.
 *
 * Most programs never touch the loop directly: cl_run (run.h) makes one,
 * runs a main task on it and frees it. Tasks and futures (task.h,
 * future.h) are built on the calls above.
 *
 * Times are in seconds, as doubles, like loop.time() and call_later's
 * delay; the loop itself counts integer microseconds, so that equal
 * deadlines are equal. The clock starts at 0 when the loop is made. It
 * is either real (CLOCK_MONOTONIC) or virtual: a virtual clock stands
 * still while callbacks run and, when nothing is ready, jumps straight to
 * the next timer's deadline, like Trio's MockClock with autojump. A test
 * of sleep(3600) then takes microseconds and gives the same result every
 * time.
 *
 * Python: Lib/asyncio/base_events.py (BaseEventLoop: call_soon,
 * call_later, call_at, time, _run_once, run_until_complete, stop) and
 * Lib/asyncio/events.py (Handle, TimerHandle, get_running_loop).
 */
#ifndef CL_LOOP_H
#define CL_LOOP_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "heap.h"
#include "lines.h"

struct cl_future;
struct cl_task;

/* A callback of the ready queue or of a timer. */
typedef void (*cl_callback)(void *arg);

/* A future's done callback (future.h): called with the future. */
typedef void (*cl_done_callback)(struct cl_future *f, void *arg);

/* Which clock a loop runs on. */
enum cl_clock {
	CL_CLOCK_DEFAULT, /* COROLAB_CLOCK=virtual or =real; real if unset */
	CL_CLOCK_REAL,	  /* CLOCK_MONOTONIC */
	CL_CLOCK_VIRTUAL, /* stands still, jumps to the next timer */
};

/*
 * Who made something happen, for the trace: "task:3" woke "task:5",
 * "timer:2" completed "fut:7". The loop knows it at any moment (see
 * cl__loop_waker) and every handle remembers who queued it.
 */
enum cl_src_kind {
	CL_SRC_LOOP,  /* the loop itself, or code outside any callback */
	CL_SRC_SPAWN, /* a task's first step, queued by create_task */
	CL_SRC_TASK,  /* a task's step */
	CL_SRC_TIMER, /* a timer's callback */
	CL_SRC_FD,    /* a poller's callback: id is the fd (chapter 04) */
};

struct cl_src {
	enum cl_src_kind kind;
	unsigned long id; /* task or timer id, or fd; 0 for LOOP and SPAWN */
};

/*
 * A callback waiting to run: in the ready queue, or, for a timer, in the
 * heap until its deadline. events.Handle and events.TimerHandle.
 *
 * Handles are reference counted. The loop holds one reference while the
 * handle is queued or in the heap. cl_loop_call_soon and friends return
 * the handle without a reference of your own: it stays valid until it
 * has run or been dropped. To cancel it later, hold a reference with
 * cl_handle_incref and cl_handle_decref it when done.
 *
 * Only loop.c writes the fields; outside it, use the functions below
 * (cl_sleep reads timer, to name its timer in the trace).
 */
struct cl_handle {
	/* What queuing and running it touch: the first 64 bytes, one
	 * cache line (a handle is allocated on a line of its own). */
	int refcnt;
	unsigned char cancelled; /* cl_handle_cancel: skip it */
	unsigned char in_heap;	 /* a timer not yet moved to the ready queue */
	unsigned char is_timer;	 /* made by call_at: the fields below are set */
	unsigned char arg_ref;	 /* arg is a future we hold a reference to */
	struct cl_handle *next;	 /* ready queue link */

	/* What to call: fn(arg), or done_fn(fut, arg) when fut is set. */
	union {
		cl_callback fn;
		cl_done_callback done_fn;
	};
	struct cl_future *fut;	/* a reference, dropped with the handle */
	void *arg;

	struct cl_src src;	/* who queued it (for timers: the timer) */
	struct cl_context *ctx; /* run fn in it (a reference); NULL: in
				   whatever is current (the loop's own
				   callbacks, and a task's step, which
				   enters the task's context itself) */

	/* The second line: timers (is_timer), and the trace. */
	_Alignas(CL_LINE) struct cl_loop *loop;
	long cause;		  /* trace seq of the wake that queued it;
				     kept only while tracing */
	struct cl_heap_node node; /* deadline and tie-break */
	unsigned long timer;	  /* timer:N in the trace */
};

/*
 * What an iteration waits on besides timers. Chapter 03 has nothing else
 * to wait for; chapter 04 installs a poller (epoll, poll or select) here
 * through cl_loop_set_poller, and the loop never learns which one.
 */
struct cl_poller {
	/*
	 * Wait at most timeout_us microseconds (-1: no limit, 0: just
	 * look) for watched file descriptors, and queue the callbacks of
	 * those that are ready. Returns 0 or a negative errno value.
	 */
	int (*poll)(struct cl_poller *p, int64_t timeout_us);
	/* How many descriptors are watched. While some are, an idle loop
	 * is waiting for them, not deadlocked. */
	size_t (*nwatched)(struct cl_poller *p);
	/* Free the poller; called by cl_loop_free. */
	void (*free)(struct cl_poller *p);
};

/*
 * The loop. One per cl_run; only the thread that runs it touches it.
 * Every field says which file writes it.
 */
struct cl_exc_context;

/*
 * Chapter 09: what a running loop has done, for /metrics (metrics.h)
 * and debug mode (debug.h). Plain counters, written by the loop's own
 * thread only; the files named write them.
 */
#define CL_LOOP_BUSY_BUCKETS 7 /* <= 10 us, 100 us, ... 1 s, and more */
struct cl_loop_stats {
	uint64_t callbacks;	  /* callbacks run, steps among them: loop.c */
	uint64_t steps;		  /* task steps: task.c */
	uint64_t slow;		  /* slow callbacks reported: debug.c */
	uint64_t bytes_in;	  /* read from sockets: io.c */
	uint64_t bytes_out;	  /* written to sockets: io.c */
	/* How long each iteration ran callbacks, while timed (debug mode
	 * or metrics on): a histogram by decades, and the total. loop.c */
	uint64_t busy[CL_LOOP_BUSY_BUCKETS];
	uint64_t busy_ns;
};

struct cl_watchdog;
struct cl_metrics;
struct cl_transport;
struct cl__xthread;
struct cl_executor;
struct cl_agen;

struct cl_loop {
	/* The ready queue, FIFO, linked through handle->next. loop.c. */
	struct cl_handle *ready_head, *ready_tail;
	size_t nready;
	uint64_t iteration; /* iterations begun so far (here, on the line
			       every callback's queuing touches) */

	/* Timers, earliest first. loop.c. ncancelled counts cancelled
	 * timers still in the heap (they are dropped lazily). */
	struct cl_heap timers;
	size_t ncancelled;
	uint64_t timer_seq; /* next tie-break number */

	/* The clock, in microseconds since the loop was made. loop.c. */
	int virtual_clock;
	uint64_t now;	   /* last reading; the whole clock when virtual */
	uint64_t start_ns; /* real clock: CLOCK_MONOTONIC at creation */

	/* Running state. loop.c. */
	int running;  /* inside cl_loop_run_until_complete */
	int stopping; /* cl_loop_stop was called: end this iteration */
	struct cl_handle *cur_handle; /* the callback running now */
	struct cl_context *cur_ctx;   /* the context it was entered in, if
					 any (chapter 06) */

	/* The task whose step is running, NULL between steps. task.c. */
	struct cl_task *cur_task;

	/* Tasks not done yet, oldest first, linked through the tasks'
	 * prev/next. A weak list: it holds no references (asyncio's
	 * _all_tasks is a WeakSet). task.c. */
	struct cl_task *tasks_head, *tasks_tail;
	size_t ntasks;

	/* Ids for the trace: task:N, fut:N, timer:N, counted from 1. The
	 * files that create each thing take the next one. */
	unsigned long last_task_id, last_fut_id, last_timer_id;

	FILE *err; /* where the loop reports problems; stderr by default */
	/* set_exception_handler (handler.c); NULL: the default. */
	void (*exc_handler)(struct cl_loop *loop,
			    const struct cl_exc_context *ctx, void *arg);
	void *exc_handler_arg;
	struct cl_poller *poller; /* chapter 04; NULL: nothing but timers */

	/* Chapter 07. The thread running the loop (valid while running),
	 * debug mode, and what other threads hand the loop: threads.c. */
	pthread_t thread;
	int debug;		  /* loop.set_debug; COROLAB_DEBUG=1 */
	struct cl__xthread *xt;	  /* NULL until the loop is first held */
	struct cl_executor *executor; /* the default one, made on demand */

	/* Chapter 07. The async generators first iterated while the loop
	 * ran and not finalized yet, newest first, linked through their
	 * own prev/next: a weak list, holding no references (asyncio's
	 * _asyncgens WeakSet, filled by its firstiter hook). agen.c. */
	struct cl_agen *agens;

	/* Chapter 09. stats as above. beat counts the iterations past
	 * their wait and waiting is set during the wait: the watchdog's
	 * thread reads both (atomically) to tell a loop that is idle from
	 * one that is stuck in a callback. timed: time each iteration (debug
	 * mode or /metrics; debug mode times each callback too). loop.c,
	 * debug.c, watchdog.c, metrics.c. */
	struct cl_loop_stats stats;
	uint64_t beat;
	int waiting;
	int timed;
	double slow_callback_duration; /* seconds; 0.1 as asyncio's */
	struct {		       /* the callback being timed: debug.c */
		uint64_t t0;	       /* when it began (monotonic ns) */
		struct cl_task *task;  /* the task it steps (a reference) */
		const struct cl_site *from; /* where that task resumes */
	} probe;
	struct cl_watchdog *watchdog;  /* NULL: none */
	struct cl_metrics *metrics;    /* NULL: none */
	/* Open transports, newest first (linked through their own
	 * lprev/lnext: transport.c), and servers not closed (server.c):
	 * for /metrics, and debug mode's warning at cl_loop_free. */
	struct cl_transport *transports;
	size_t ntransports, nservers;
};

/* A new loop on the given clock, not running. NULL and errno on error. */
struct cl_loop *cl_loop_new(enum cl_clock clock);

/*
 * Free the loop: drop the callbacks still queued and the timers still
 * pending (without running them) and free the poller. The loop must not
 * be running. Tasks still pending must have been dealt with first
 * (cl_run does: see run.c).
 */
void cl_loop_free(struct cl_loop *loop);

/*
 * loop.set_debug(on) / loop.get_debug(). In debug mode a call that only
 * the loop's thread may make (every cl_loop_* call except the thread-safe
 * ones of threads.h) raises RuntimeError when another thread makes it
 * while the loop runs, as asyncio's _check_thread. COROLAB_DEBUG=1 in
 * the environment turns it on for every new loop.
 */
void cl_loop_set_debug(struct cl_loop *loop, int on);
int cl_loop_get_debug(const struct cl_loop *loop);

/* Raise that RuntimeError if debug mode is on, the loop is running and
 * the calling thread is not its own. */
void cl__loop_check_thread(const struct cl_loop *loop);

/*
 * The loop running on this thread, NULL when none is
 * (asyncio.get_running_loop raises RuntimeError instead). Together with
 * the generator and handler chain of gen.c and exc.c, this per-thread
 * pointer is the only state outside the loop object.
 */
struct cl_loop *cl_get_running_loop(void);

/*
 * Queue fn(arg) to run at the next iteration, after the callbacks queued
 * before it. Returns the handle (see struct cl_handle for how long it
 * lives), or NULL with errno set (ENOMEM).
 */
struct cl_handle *cl_loop_call_soon(struct cl_loop *loop, cl_callback fn,
				    void *arg);

/*
 * Run fn(arg) when the loop's clock reaches when (seconds; in the past
 * means at the next iteration), or delay seconds from now. Timers fire
 * in the order of their deadlines, and equal deadlines in the order they
 * were scheduled. NULL with errno set on error.
 */
struct cl_handle *cl_loop_call_at(struct cl_loop *loop, double when,
				  cl_callback fn, void *arg);
struct cl_handle *cl_loop_call_later(struct cl_loop *loop, double delay,
				     cl_callback fn, void *arg);

/*
 * Chapter 06: each callback runs in a context (ctxvar.h). The calls
 * above take a copy of the current context, as Handle does when it is
 * given none; these run fn in ctx itself (the context= argument of
 * call_soon, call_later and call_at), so what fn sets stays in ctx.
 * The handle holds a reference to ctx. ctx NULL is the same as the
 * calls above.
 */
struct cl_context;
struct cl_handle *cl_loop_call_soon_ctx(struct cl_loop *loop, cl_callback fn,
					void *arg, struct cl_context *ctx);
struct cl_handle *cl_loop_call_at_ctx(struct cl_loop *loop, double when,
				      cl_callback fn, void *arg,
				      struct cl_context *ctx);
struct cl_handle *cl_loop_call_later_ctx(struct cl_loop *loop, double delay,
					 cl_callback fn, void *arg,
					 struct cl_context *ctx);

/*
 * handle.cancel(): the callback will not run. A cancelled timer stays in
 * the heap and costs nothing until it comes up, when it is dropped (or
 * all of them at once when they are too many). Cancelling a handle that
 * already ran does nothing but mark it.
 */
void cl_handle_cancel(struct cl_handle *h);
int cl_handle_cancelled(const struct cl_handle *h);
struct cl_handle *cl_handle_incref(struct cl_handle *h);
void cl_handle_decref(struct cl_handle *h);
/* A timer's deadline in seconds on its loop's clock; 0 for call_soon. */
double cl_handle_when(const struct cl_handle *h);

/*
 * loop.time(): the loop's clock in seconds (microsecond resolution),
 * 0 when the loop was made. cl_loop_time_us is the same in microseconds.
 */
double cl_loop_time(struct cl_loop *loop);
uint64_t cl_loop_time_us(struct cl_loop *loop);

/* How many iterations have begun: the first one is 1. */
static inline uint64_t cl_loop_iteration(const struct cl_loop *loop)
{
	return loop->iteration;
}

/*
 * One iteration: base_events._run_once. Returns 0, or -EDEADLK when
 * nothing is ready, no timer is pending and nothing else (no poller) can
 * ever make anything ready: waiting would be waiting forever.
 */
int cl_loop_run_once(struct cl_loop *loop);

/*
 * Run iterations until f is done: loop.run_until_complete. The loop
 * becomes this thread's running loop meanwhile. Returns 0 when f is
 * done, -EDEADLK when it never can be (see cl_loop_run_once), -EBUSY if
 * a loop is already running on this thread, -EINTR if cl_loop_stop ended
 * the run first, or another negative errno from cl_loop_run_once.
 */
int cl_loop_run_until_complete(struct cl_loop *loop, struct cl_future *f);

/* loop.stop(): the current iteration is the last one of this run. */
void cl_loop_stop(struct cl_loop *loop);

/* Install the poller the loop waits on (chapter 04); the loop frees it.
 * Returns -EBUSY if one is installed already. */
int cl_loop_set_poller(struct cl_loop *loop, struct cl_poller *p);

/*
 * For future.c and task.c.
 *
 * cl__loop_call_soon_done queues done_fn(fut, arg) and takes a reference
 * to fut; with arg_ref set, arg is a future whose reference the handle
 * takes over (both are dropped with the handle). cause is the trace seq
 * of the wake it answers (0 if none).
 */
struct cl_handle *cl__loop_call_soon_done(struct cl_loop *loop,
					  cl_done_callback done_fn,
					  struct cl_future *fut, void *arg,
					  int arg_ref, long cause);

/*
 * For the poller (chapter 04), which queues the same handle each time a
 * descriptor is ready, as asyncio appends the same Handle to _ready:
 * no allocation per event. cl__loop_handle_new makes a handle for
 * fn(arg) without queuing it (one reference, or NULL with errno set);
 * src is its source, so that what the callback wakes says by=fd:N in
 * the trace. cl__loop_requeue puts it at the back of the ready queue,
 * which takes a reference of its own; a handle that is queued already
 * stays where it is, and -EBUSY says so. A handle that is done with is
 * cancelled (it may still be queued) and its reference dropped.
 */
struct cl_handle *cl__loop_handle_new(struct cl_loop *loop, cl_callback fn,
				      void *arg, struct cl_src src);
int cl__loop_requeue(struct cl_loop *loop, struct cl_handle *h);

/*
 * For transport.c: when a callback fn raises, call hook(arg, e) instead
 * of reporting "exception in callback" (hook takes over e and must not
 * raise). A protocol's callback that raises is its transport's fatal
 * error, and the hook is what closes the transport. Costs nothing until
 * something raises: the batch's one handler looks the table up then. At
 * most CL__RAISE_HOOKS pairs; 0, or -ENOSPC.
 */
#define CL__RAISE_HOOKS 4
struct cl_exc;
int cl__loop_on_raise(cl_callback fn, void (*hook)(void *arg, struct cl_exc *e));

/* Who is making things happen right now: the running task, else the
 * running callback's source, else the loop. */
struct cl_src cl__loop_waker(const struct cl_loop *loop);

/* "task:3", "timer:2", "spawn", "loop": s formatted into buf (>= 32). */
const char *cl__src_str(char *buf, struct cl_src s);

/* The trace seq of the wake answered by the running callback, or 0. */
static inline long cl__loop_cause(const struct cl_loop *loop)
{
	return loop->cur_handle ? loop->cur_handle->cause : 0;
}

/*
 * Spare lists, for the loop's handles and for plain futures (future.c).
 * A server makes and drops a future and two or three handles for every
 * message it serves, and malloc and free would cost more than the rest
 * of their short lives. A dropped block waits in its list, newest first
 * (its memory is the likeliest to still be in the cache), for the next
 * allocation of its kind; at most CL_SPARE_MAX wait, the rest are
 * freed. CPython keeps free lists of its small objects for the same
 * reason (Objects/obmalloc.c, and the float and tuple free lists). A
 * spare is linked through its first word. The lists are the thread's,
 * like the running loop, because a handle or a future may outlive its
 * loop; cl_loop_free empties them.
 */
/* Off under AddressSanitizer: a block reused would hide a use after
 * free from it. */
#ifdef __SANITIZE_ADDRESS__
#define CL_SPARE_MAX 0
#else
#define CL_SPARE_MAX 1024
#endif

struct cl__spares {
	void *head;
	size_t n;
};

/* A spare block, or NULL: then allocate one. Its contents are junk. */
static inline void *cl__spare_get(struct cl__spares *s)
{
	void *p = s->head;

	if (p != NULL) {
		s->head = *(void **)p;
		s->n--;
	}
	return p;
}

/* Keep p, a block the caller is done with, or free it if s is full. */
static inline void cl__spare_put(struct cl__spares *s, void *p)
{
	if (s->n == CL_SPARE_MAX) {
		free(p);
		return;
	}
	*(void **)p = s->head;
	s->head = p;
	s->n++;
}

static inline void cl__spare_free_all(struct cl__spares *s)
{
	void *p;

	while ((p = cl__spare_get(s)) != NULL)
		free(p);
}

#endif
