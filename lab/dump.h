/*
 * dump.h - every task of a loop, where each one is suspended, and why.
 *
 * A server that has stopped answering is rarely stuck in one place: more
 * often every task waits for something that will not come. What helps
 * then is a list of the tasks with what each one waits on, for how long,
 * and where in its code, which is what Go prints on SIGQUIT (the
 * goroutine dump) and what asyncio.all_tasks() and Task.print_stack()
 * give in Python:
 *
 *	corolab: 2 tasks at 3.000 s, iteration 9
 *	task:1 'main' waiting 3.000 s on fut:2 (task:2 'worker')
 *	  awaits at bug.c:40 in main_task()
 *	  stack: 8 KiB touched of 256 KiB
 *	  #0 cl__yield_exc+0x4d
 *	  ...
 *	  #3 main_task+0x3c
 *
 * The frames come from the task's own stack. A suspended coroutine
 * stopped inside cl_ctx_switch, which saved its registers on its stack:
 * among them the frame pointer, the head of a chain of frame records
 * ({caller's frame pointer, return address}) that every function built
 * with frame pointers (the kit builds with -fno-omit-frame-pointer)
 * pushes on entry. Walking that chain, inside the stack's bounds, gives
 * the return addresses; symbols.h names them. No debugger, no stopping
 * anything: the stacks of suspended tasks hold still.
 *
 * cl_dump_on_signal(SIGQUIT) makes `kill -QUIT pid` print the dump, at
 * the loop's next iteration (a loop stuck in a callback never gets
 * there: that is the watchdog's case, watchdog.h). cl_dump_awaits writes
 * the same state as a trace (trace.h), for `cotrace awaits` to draw the
 * await graph of a live process.
 *
 * Python: Lib/asyncio/tasks.py (all_tasks), base_tasks.py
 * (_task_get_stack, _task_print_stack); Go: runtime/traceback.go.
 */
#ifndef CL_DUMP_H
#define CL_DUMP_H

#include <stdint.h>
#include <stdio.h>

#include "loop.h"
#include "task.h"

/* Every task of loop, oldest first, with the above, to out. */
void cl_dump_tasks(struct cl_loop *loop, FILE *out);

/*
 * From now on, the signal sig (SIGQUIT, say) makes the next iteration of
 * whichever loop comes to it first print cl_dump_tasks to its loop->err.
 * 0 or a negative errno.
 */
int cl_dump_on_signal(int sig);

/*
 * The return addresses of t's suspended stack, innermost first, at most
 * max of them. 0 when t is running or has no stack.
 */
size_t cl_task_backtrace(const struct cl_task *t, void **pcs, size_t max);

/*
 * The first frame of pcs (n of them) outside the library: the caller's
 * code, the place a report names ("?" when every frame is the kit's).
 * Writes "func+0xoff" into buf; returns buf.
 */
const char *cl_backtrace_place(void *const *pcs, size_t n, char *buf,
			       size_t len);

/*
 * Walk a frame-pointer chain from the frame record at fp, storing at most
 * max return addresses in pcs; every record must lie in [lo, hi). The
 * lab's piece (section 3).
 */
size_t cl__walk_frames(uintptr_t fp, uintptr_t lo, uintptr_t hi, void **pcs,
		       size_t max);

/*
 * The tasks and what they wait on as a trace (task.new, lock.acquire and
 * await lines after a header), for `cotrace awaits FILE`.
 */
void cl_dump_awaits(struct cl_loop *loop, FILE *out);

/*
 * Cycles of tasks waiting on each other: a task waits on another task
 * (await t) or on a lock another task holds. Each cycle is printed once
 * to out:
 *
 *	corolab: deadlock: 2 tasks waiting on each other in a cycle
 *	  task:3 'refund' waits on lock:1, held by task:2 'transfer'
 *	    in move_money+0x23
 *	  task:2 'transfer' waits on lock:2, held by task:3 'refund'
 *	    in move_money+0x23
 *
 * Returns how many. cl_run calls it when the loop runs dry; debug mode
 * calls cl__deadlock_check after every step that ends waiting, so that
 * a cycle among a few tasks of a server that goes on serving the others
 * is reported the moment it closes.
 */
int cl_deadlock_report(struct cl_loop *loop, FILE *out);
int cl__deadlock_check(struct cl_loop *loop, struct cl_task *t, FILE *out);

/* loop.c's hook: set by the signal handler of cl_dump_on_signal. */
extern volatile int cl__dump_requested;
void cl__dump_signalled(struct cl_loop *loop);

#endif
