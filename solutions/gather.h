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
 * This is gather(*children) with return_exceptions=False; chapter 05
 * adds return_exceptions and cancelling a gather.
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

#endif
