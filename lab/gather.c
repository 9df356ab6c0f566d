/*
 * gather.c - one future for many: asyncio.gather.
 *
 * The gather registers one done callback on every child. Each call
 * counts a finished child; a failed child fails the gather at once, and
 * the last child to finish collects every result, in the children's
 * order, into the gather's result. Like everything done-callback based,
 * it runs an iteration after each child completes, never inside it.
 *
 * Chapter 05 adds the two things that make it asyncio 3.11's gather:
 * return_exceptions (a failed child no longer fails the gather: its
 * exception takes its place among the results) and cancelling the
 * gather, which cancels its children instead of itself
 * (_GatheringFuture.cancel): the gather then ends when they do, with
 * the cancellation, whatever return_exceptions says.
 */
#include <errno.h>
#include <stdlib.h>

#include "gather.h"

struct cl__gather {
	struct cl_future fut;	     /* first: a gather is a future */
	size_t n;		     /* children */
	size_t nfinished;	     /* children done so far */
	struct cl_future **children; /* references, in argument order */
	void **results;		     /* the result: n slots (at least 1) */
	struct cl_exc **excs;	     /* return_exceptions: the exception at
					each slot (owned), NULL for a result */
	int return_exceptions;
	int cancel_requested;	     /* a cancel reached a child
					(_cancel_requested) */
};

static void cl__gather_dealloc(struct cl_future *f)
{
	struct cl__gather *g = (struct cl__gather *)f;

	for (size_t i = 0; i < g->n; i++) {
		cl_future_decref(g->children[i]);
		cl_exc_decref(g->excs[i]);
	}
	free(g->excs);
	free(g->children);
	free(g->results);
	cl__future_fini(f);
	free(g);
}

/* _GatheringFuture.cancel: cancel the children, not the gather. */
static int cl__gather_cancel(struct cl_future *f, const char *msg)
{
	/* TODO(ch05): Cancelling a pending gather cancels each of its
	 * children with msg, not the gather itself; returns 1 (and
	 * records the request in cancel_requested) if any child accepted,
	 * else 0; a done gather returns 0. Mirrors Lib/asyncio/tasks.py
	 * _GatheringFuture.cancel; read section 7.
	 * Hints: make hint CH=5 TODO=gather_cancel (1 level). */
	/* Chapter 03's behaviour, which chapters 01-04 rely on: the
	 * gather is a plain future, cancelled itself. */
	return cl__future_cancel_msg(f, msg);
}

static const struct cl_future_ops cl__gather_ops = {
	.dealloc = cl__gather_dealloc,
	.cancel = cl__gather_cancel,
};

/* The last child is done: the gather's outcome. */
static void cl__gather_finish(struct cl__gather *g)
{
	/* TODO(ch05): Every child is done: the gather's result is the
	 * array of their results in argument order; with
	 * return_exceptions a failed child's slot holds its exception,
	 * a cancelled one's a CancelledError(its message, or ''); a
	 * cancel_requested gather fails with the last child's
	 * cancellation instead. Mirrors tasks.py gather _done_callback.
	 * Hints: make hint CH=5 TODO=gather_finish (3 levels). */
	/* Chapter 03's gather, which chapters 01-04 rely on: results
	 * only. */
	if (g->return_exceptions || g->cancel_requested) {
		cl_future_set_exception(&g->fut, cl_exc_new(
			&cl_NotImplementedError,
			"gather: not implemented (TODO ch05)"));
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		g->results[i] = g->children[i]->result;
	cl_future_set_result(&g->fut, g->results);
}

/* _done_callback in tasks.gather: child is done. */
static void cl__gather_child_done(struct cl_future *child, void *arg)
{
	struct cl__gather *g = arg;

	g->nfinished++;
	if (cl_future_done(&g->fut)) {
		/* Failed already: later outcomes are dropped, but looked at
		 * (fut.exception()), so they are not reported as never
		 * retrieved. */
		if (!cl_future_cancelled(child))
			child->log_tb = 0;
		return;
	}
	if (!g->return_exceptions) {
		if (cl_future_cancelled(child)) {
			cl_future_set_exception(
				&g->fut, cl__future_cancelled_error(child));
			return;
		}
		if (child->exc != NULL) {
			child->log_tb = 0;
			cl_future_set_exception(&g->fut,
						cl_exc_incref(child->exc));
			return;
		}
	}
	if (g->nfinished == g->n)
		cl__gather_finish(g);
}

struct cl_future *cl_gather(size_t n, struct cl_future *const children[])
{
	return cl_gather_ex(n, children, 0);
}

struct cl_exc *cl_gather_exception(struct cl_future *gather, size_t i)
{
	struct cl__gather *g = (struct cl__gather *)gather;

	return i < g->n ? g->excs[i] : NULL;
}

struct cl_future *cl_gather_ex(size_t n, struct cl_future *const children[],
			       int return_exceptions)
{
	struct cl_loop *loop = n ? children[0]->loop : cl_get_running_loop();
	struct cl__gather *g;

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	for (size_t i = 1; i < n; i++) {
		if (children[i]->loop != loop) {
			errno = EINVAL;
			return NULL;
		}
	}
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	g->children = calloc(n ? n : 1, sizeof *g->children);
	g->results = calloc(n ? n : 1, sizeof *g->results);
	g->excs = calloc(n ? n : 1, sizeof *g->excs);
	if (g->children == NULL || g->results == NULL || g->excs == NULL) {
		free(g->excs);
		free(g->children);
		free(g->results);
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	cl__future_init(&g->fut, loop, &cl__gather_ops);
	g->fut.what = CL_WHAT_GATHER;
	g->return_exceptions = return_exceptions;
	if (n == 0) {
		cl_future_set_result(&g->fut, g->results);
		return &g->fut;
	}
	/* Each registration holds a reference to the gather, so that it
	 * lives until its last child has reported, whoever drops theirs. */
	for (size_t i = 0; i < n; i++) {
		int err;

		g->children[i] = cl_future_incref(children[i]);
		g->n = i + 1;
		cl_future_incref(&g->fut);
		err = cl__future_add_waiter(children[i], cl__gather_child_done,
					    &g->fut, 0);
		if (err < 0) {
			cl_future_decref(&g->fut);
			/* Fail the gather; the registrations made so far
			 * still report to it and go away with it. */
			cl_future_set_exception(&g->fut,
						cl_exc_new(&cl_MemoryError,
							   "%s", ""));
			break;
		}
	}
	return &g->fut;
}
