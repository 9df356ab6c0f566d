/*
 * chaos.h - fault injection: timers that fire late, tasks cancelled at
 * random awaits, and the rude reads and writes of io.h, all decided by
 * one seeded generator.
 *
 * A program that passes its tests on a quiet machine has met only the
 * polite cases: every timer on time, every await answered, no task
 * cancelled in the middle of something. A loaded machine is late; a
 * client that goes away cancels the task serving it wherever it stands;
 * a timeout fires during a write. Chapter 04's COROLAB_FAULTS made the
 * reads and writes rude; the same variable now makes the rest rude too:
 *
 *	COROLAB_FAULTS="seed=7,rate=0.3,late=0.2:50,cancel=0.01"
 *
 *	seed=N		the generator's seed (0 if absent)
 *	rate=R		each read, write and accept misbehaves with
 *			probability R (io.h: short, EINTR, EAGAIN)
 *	late=P:MS	each timer the loop schedules (call_later, call_at,
 *			so sleep, wait_for, timeout, every library timer)
 *			is, with probability P, pushed back by 1 us to MS
 *			milliseconds, each as likely. It still fires, late
 *	cancel=P	each await that suspends the running task cancels
 *			it first, with probability P: CancelledError is
 *			raised at that await, with the message "chaos"
 *
 * Every key is optional, in any order; P and R are from 0 to 1, MS from
 * 0.001 (1 us) to 3600000 (an hour), with a fraction if need be. A
 * cancelled await is task.cancel() on the task itself, which asyncio
 * delivers at the task's next suspension: the future it awaits is
 * cancelled, the task wakes with CancelledError there, and cancelling()
 * counts one request more, as for a cancel that came from outside (a
 * TaskGroup or a timeout sees one it did not make).
 *
 * Every decision takes the next number of one splitmix64 generator, so
 * a run repeats its faults when its seed and its order of events repeat:
 * on a virtual clock, exactly; on the real clock, as far as the kernel
 * repeats itself. cl_chaos_report prints the spec in force with what it
 * injected: a run that failed under chaos prints it, and setting it
 * again replays the faults.
 *
 * The variable is read at the first read, write, accept, timer or
 * suspending await, unless cl_chaos_set came first. Off, each place that
 * injects pays one predictable branch on one global. The injector
 * belongs to one thread: run at most one loop per process while it is on.
 *
 * Python has no such switch in asyncio; the nearest are seeded property
 * testing (Hypothesis's seed, random.Random(seed)) and the fault
 * injection of a network proxy (Toxiproxy's latency and timeout toxics).
 * Go's "go test -shuffle=on" prints the seed that replays its order.
 */
#ifndef CL_CHAOS_H
#define CL_CHAOS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io.h"

struct cl_task;

/*
 * Set fault injection from a spec like COROLAB_FAULTS's (NULL or "":
 * all off), restart the generator from its seed and zero the stats. The
 * variable is then no longer read. 0, or -EINVAL for a malformed spec:
 * everything is off then. cl_io_set_faults (io.h) is the same call.
 */
int cl_chaos_set(const char *spec);

/* What fault injection has done since it was last set. */
struct cl_chaos_stats {
	uint64_t seed;
	struct cl_io_fault_stats io; /* reads, writes, accepts: io.h */
	unsigned long timers;	     /* timers seen while late=... is on */
	unsigned long late;	     /* pushed back */
	uint64_t late_us;	     /* by this much in all */
	unsigned long awaits;	     /* suspending awaits seen while
					cancel=... is on */
	unsigned long cancels;	     /* cancelled there */
};
struct cl_chaos_stats cl_chaos_stats(void);

/*
 * The spec in force, every key spelled out ("seed=7,rate=0.3,
 * late=0.2:50,cancel=0.01"; "" when off), into buf (size len). Set
 * COROLAB_FAULTS to it to replay the run. Returns buf.
 */
const char *cl_chaos_spec(char *buf, size_t len);

/*
 * One line to out: the spec to replay and what was injected, as
 *
 *	corolab: chaos COROLAB_FAULTS=seed=7,late=0.2:50,cancel=0.01:
 *	io 0 of 0 calls, timers 21 of 100 late (+0.512 s), awaits 3 of
 *	300 cancelled
 *
 * (on one line). Nothing when injection is off.
 */
void cl_chaos_report(FILE *out);

/*
 * For io.c, loop.c and future.c. Each flag is -1 until the environment
 * has been read, then 0 (off) or 1 (on); a hook tests its flag and calls
 * in only when it is not 0:
 *
 *	if (CL__CHAOS(cl__chaos_late))
 *		when = cl__chaos_timer(when);
 *
 * cl__chaos_next is the generator's next number (io.c draws from it
 * too). cl__chaos_timer returns the deadline (loop microseconds) a new
 * timer gets: when, or later. cl__chaos_await is called by the running
 * task t just before an await suspends it, and may cancel t.
 */
extern int cl__chaos_late, cl__chaos_cancel;
#define CL__CHAOS(flag)                                                       \
	__builtin_expect(__atomic_load_n(&(flag), __ATOMIC_RELAXED) != 0, 0)
uint64_t cl__chaos_next(void);
uint64_t cl__chaos_timer(uint64_t when);
void cl__chaos_await(struct cl_task *t);

#endif
