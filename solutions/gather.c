/*
 * gather.c - one future for many: asyncio.gather.
 *
 * The gather registers one done callback on every child. Each call
 * counts a finished child; a failed child fails the gather at once, and
 * the last child to finish collects every result, in the children's
 * order, into the gather's result. Like everything done-callback based,
 * it runs an iteration after each child completes, never inside it.
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
};

static void cl__gather_dealloc(struct cl_future *f)
{
	struct cl__gather *g = (struct cl__gather *)f;

	for (size_t i = 0; i < g->n; i++)
		cl_future_decref(g->children[i]);
	free(g->children);
	free(g->results);
	cl__future_fini(f);
	free(g);
}

static const struct cl_future_ops cl__gather_ops = {
	.dealloc = cl__gather_dealloc,
};

/* _done_callback in tasks.gather: child is done. */
static void cl__gather_child_done(struct cl_future *child, void *arg)
{
	struct cl__gather *g = arg;

	g->nfinished++;
	if (cl_future_done(&g->fut))
		return; /* failed already: later outcomes are dropped */
	if (cl_future_cancelled(child)) {
		cl_future_set_exception(
			&g->fut, cl__future_cancelled_error(child));
		return;
	}
	if (child->exc != NULL) {
		cl_future_set_exception(&g->fut, cl_exc_incref(child->exc));
		return;
	}
	if (g->nfinished < g->n)
		return;
	for (size_t i = 0; i < g->n; i++)
		g->results[i] = g->children[i]->result;
	cl_future_set_result(&g->fut, g->results);
}

struct cl_future *cl_gather(size_t n, struct cl_future *const children[])
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
	if (g->children == NULL || g->results == NULL) {
		free(g->children);
		free(g->results);
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	cl__future_init(&g->fut, loop, &cl__gather_ops);
	g->fut.what = CL_WHAT_GATHER;
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
