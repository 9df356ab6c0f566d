/*
 * wait.h - chapter 05: waiting on futures without owning their fate.
 *
 *	f = cl_shield(cl_task_future(t));	f = asyncio.shield(t)
 *	n = cl_wait(3, fs, CL_FIRST_COMPLETED, 2.0);
 *						done, pending = await
 *						    asyncio.wait(fs, timeout=2,
 *						    return_when=FIRST_COMPLETED)
 *	ac = cl_as_completed_new(3, fs, -1);	for c in as_completed(fs):
 *	while ((f = cl_as_completed_next(ac)))	    r = await c
 *		r = cl_future_result(f);
 *	cl_as_completed_free(ac);
 *
 * None of them cancels what it waits on: shield puts a future of its own
 * between a waiter and the one it protects, so that cancelling the
 * waiter cancels only the shield; wait and as_completed give up waiting
 * at their timeout and leave the futures running.
 *
 * Python: Lib/asyncio/tasks.py (shield, wait, _wait, as_completed).
 */
#ifndef CL_WAIT_H
#define CL_WAIT_H

#include <stddef.h>

#include "future.h"

/*
 * asyncio.shield(inner): a new reference to a future that completes as
 * inner does, and whose cancellation leaves inner alone (inner cancelled
 * cancels it, though). A done inner is returned itself (a new
 * reference). NULL with errno set (ENOMEM) on error.
 */
struct cl_future *cl_shield(struct cl_future *inner);

/* asyncio.FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED. */
enum cl_wait_when {
	CL_FIRST_COMPLETED,
	CL_FIRST_EXCEPTION,
	CL_ALL_COMPLETED,
};

/*
 * await asyncio.wait(fs, timeout=timeout, return_when=when), from a
 * task: return when `when` holds, or after timeout seconds (timeout < 0:
 * none). Returns how many of fs are done. Where Python returns the sets
 * (done, pending), C reads cl_future_done(fs[i]) at once, before its
 * next await: that is the partition _wait computes at the same moment.
 * Raises ValueError when n is 0 (as Python does for an empty set).
 */
size_t cl_wait(size_t n, struct cl_future *const fs[], enum cl_wait_when when,
	       double timeout);

/*
 * asyncio.as_completed(fs, timeout=timeout): fs in the order they
 * complete. cl_as_completed_next awaits the next and returns it
 * (borrowed, valid until cl_as_completed_free); NULL once all n have come.
 * Python's iterator yields coroutines whose await returns the result:
 * read it with cl_future_result. Past the timeout (timeout < 0: none),
 * each remaining next raises TimeoutError.
 */
struct cl_as_completed;
struct cl_as_completed *cl_as_completed_new(size_t n,
					    struct cl_future *const fs[],
					    double timeout);
struct cl_future *cl_as_completed_next(struct cl_as_completed *ac);
void cl_as_completed_free(struct cl_as_completed *ac);

#endif
