/*
 * watchdog.h - a thread that notices a loop that stopped going round.
 *
 * A loop runs one callback at a time. A task that calls something that
 * blocks (sleep(3), a read on a blocking socket, a long computation)
 * stops every other task with it, and nothing inside the loop can notice:
 * the loop is the thing that is stuck. So the watchdog is a thread of its
 * own. Every quarter of its limit it looks at two numbers the loop
 * publishes (loop.h): beat, which counts iterations past their wait, and
 * waiting, set while the loop waits in epoll_wait or sleeps for a timer.
 * A loop that is waiting is idle, not stuck; a loop whose beat has not
 * moved for the limit, and that is not waiting, is stuck in a callback.
 *
 * Then the watchdog wants to know where, while the loop is still stuck:
 * afterwards the evidence is gone. It sends the loop's thread a signal;
 * the handler, running on that thread, on the very stack that is stuck,
 * records the return addresses of the frames above it (backtrace(3)) and
 * the task whose step it interrupted, and posts a semaphore. The watchdog
 * names the addresses (symbols.h) and prints:
 *
 *	corolab watchdog: the loop has not finished iteration 7 in 0.200 s
 *	  stuck in task:2 'blocker', step 2, resumed at bug.c:30 in blocker()
 *	  #0 clock_nanosleep+0x73
 *	  ...
 *	  #3 blocker+0x25
 *	corolab watchdog: the loop went on after 0.503 s
 *
 * Python: asyncio has no watchdog; debug mode tells of a slow callback
 * once it has returned (debug.h). This is Go's sysmon, which watches for
 * goroutines that hold a thread too long, and the hung-task detector of
 * Linux (kernel/hung_task.c), which also prints the stuck stack.
 */
#ifndef CL_WATCHDOG_H
#define CL_WATCHDOG_H

#include <stdint.h>

#include "loop.h"

/*
 * Start watching loop, reporting (on loop->err) any iteration that takes
 * more than limit_ms. Call it on the thread that runs the loop (from a
 * task, or before cl_loop_run_until_complete): that is the thread it
 * will signal. COROLAB_WATCHDOG=ms makes cl_run start one. 0, or a
 * negative errno (-EBUSY: the loop has one already).
 */
int cl_watchdog_start(struct cl_loop *loop, unsigned limit_ms);

/* Stop and join the watchdog; cl_loop_free calls it. */
void cl_watchdog_stop(struct cl_loop *loop);

/* How many stalls the watchdog has reported. */
unsigned long cl_watchdog_reports(struct cl_loop *loop);

/* What one look at the loop concludes (cl__watchdog_look). */
enum cl_wd_verdict {
	CL_WD_FINE,    /* nothing to say */
	CL_WD_STUCK,   /* stuck for the limit: report it, once */
	CL_WD_WENT_ON, /* a stall reported before has ended */
};

/* What the watchdog remembers between two looks. */
struct cl_wd_seen {
	uint64_t beat;	/* the beat at the last look */
	uint64_t since; /* when (ns) it was first seen at that beat, not
			   waiting */
	int reported;	/* this stall was reported */
};

/*
 * One look: the loop's beat and waiting flag as just read, now and the
 * limit in nanoseconds. Updates seen. The lab's piece (section 2).
 */
enum cl_wd_verdict cl__watchdog_look(struct cl_wd_seen *seen, uint64_t beat,
				     int waiting, uint64_t now,
				     uint64_t limit);

#endif
