/*
 * gather.h - wait for several futures, get their results in order.
 *
 *	struct cl_future *g = cl_gather(3, (struct cl_future *[]){
 *		cl_task_future(a), cl_task_future(b), cl_task_future(c) });
 *	void **r = cl_await(g);		r = await asyncio.gather(a, b, c)
 *	... r[0], r[1], r[2] ...
 *	cl_future_decref(g);		(r belongs to g: read it before)
 *
 * The gather is a future of its own, done when all the children are
 * done. Its result is an array of the children's results in the order
 * the children were given, whatever order they finished in. If a child
 * fails, the gather fails at once with that child's exception (the first
 * failure wins); the other children are not cancelled and run on. A
 * cancelled child fails the gather with CancelledError.
 *
 * This is gather(*children) with return_exceptions=False. Chapter 05
 * adds return_exceptions (cl_gather_ex) and cancelling a gather, which
 * cancels its children (with the message) rather than itself.
 *
 * Python: Lib/asyncio/tasks.py (gather, _GatheringFuture).
 */
#ifndef CL_GATHER_H
#define CL_GATHER_H

#include <stddef.h>

#include "future.h"

/*
 * asyncio.gather(*children): a new future (one reference) whose result
 * is a void *[n] array owned by it. The children (futures or tasks, seen
 * through cl_task_future) must belong to one loop; with n == 0 the
 * gather belongs to the running loop and is done at once with an empty
 * array. NULL with errno set on error: ENOMEM, EINVAL (children of
 * different loops), ESRCH (n == 0 and no running loop).
 */
struct cl_future *cl_gather(size_t n, struct cl_future *const children[]);

/*
 * asyncio.gather(*children, return_exceptions=...). With
 * return_exceptions a failed child does not fail the gather: its slot
 * of the result holds its exception (a struct cl_exc *, owned by the
 * gather), a cancelled child's a CancelledError; cl_gather_exception
 * tells the slots apart. Cancelling a gather (cl_future_cancel_msg)
 * cancels its children; it then fails with CancelledError once they are
 * done, return_exceptions or not.
 */
struct cl_future *cl_gather_ex(size_t n, struct cl_future *const children[],
			       int return_exceptions);

/* The exception in slot i of a done gather's result (borrowed), NULL
 * when the slot holds a result. */
struct cl_exc *cl_gather_exception(struct cl_future *gather, size_t i);

#endif
