/*
 * wait.c - chapter 05: shield, wait and as_completed.
 *
 * All three are built the same way, from done callbacks and one future
 * of their own, as tasks.py builds them:
 *
 *	shield		an outer future that copies inner's outcome; the
 *			waiter awaits the outer one, so a cancel stops there;
 *	wait		a waiter future, completed by the children's done
 *			callbacks as soon as return_when holds (or by a
 *			timer); the caller's task awaits it;
 *	as_completed	a queue the children's done callbacks fill in the
 *			order they complete; each next() takes one, waiting
 *			on a getter future while it is empty.
 *
 * A done callback registered with cl__future_add_waiter holds a
 * reference to its argument, so the object a late callback looks at is
 * still there even when the caller has given up (a timeout, a cancel):
 * a callback already queued cannot be taken back.
 */
#include <errno.h>
#include <stdlib.h>

#include "task.h"
#include "wait.h"

/* ---- shield ----------------------------------------------------------- */

/* TODO(ch05): cl_shield(inner): a done inner is returned (a new
 * reference); else a new future outer that takes inner's outcome
 * when inner completes (cancelled, exception, result), unless outer
 * was cancelled first; outer done first stops listening to inner.
 * Mirrors Lib/asyncio/tasks.py shield; read section 7.
 * Hints: make hint CH=5 TODO=shield (3 levels). */
struct cl_future *cl_shield(struct cl_future *inner)
{
	(void)inner;
	errno = ENOSYS;
	return NULL;
}

/* ---- wait --------------------------------------------------------------- */

/* _wait's waiter and the state its done callbacks share. */
struct cl__waiter {
	struct cl_future fut;	   /* first: the waiter is a future */
	size_t counter;		   /* children not done yet */
	enum cl_wait_when when;	   /* return_when */
	struct cl_handle *timeout; /* the timeout's timer (a reference), or
				      NULL */
};

static void cl__waiter_dealloc(struct cl_future *f)
{
	struct cl__waiter *w = (struct cl__waiter *)f;

	cl_handle_decref(w->timeout);
	cl__future_fini(f);
	free(w);
}

static const struct cl_future_ops cl__waiter_ops = {
	.dealloc = cl__waiter_dealloc,
};

/* _release_waiter: the timeout. */
static void cl__waiter_release(void *arg)
{
	struct cl_future *waiter = arg;

	if (!cl_future_done(waiter))
		cl_future_set_result(waiter, NULL);
}

/* _on_completion in _wait: child f is done. */
static void cl__wait_child_done(struct cl_future *f, void *arg)
{
	/* TODO(ch05): One more child of the wait is done; the waiter
	 * (arg) gets its result (NULL) when all are, or at the first
	 * with FIRST_COMPLETED, or at the first that raised with
	 * FIRST_EXCEPTION (that exception counts as retrieved); then the
	 * timeout's timer is cancelled too. Mirrors Lib/asyncio/tasks.py
	 * _wait's _on_completion; read section 7.
	 * Hints: make hint CH=5 TODO=wait_done (2 levels). */
	(void)f;
	if (!cl_future_done(arg))
		cl_future_set_exception(arg, cl_exc_new(&cl_NotImplementedError,
			"wait: not implemented (TODO ch05)"));
}

/* _wait's finally: forget the timer and the registrations left. */
static void cl__wait_finish(struct cl__waiter *w, size_t n,
			    struct cl_future *const fs[])
{
	if (w->timeout != NULL)
		cl_handle_cancel(w->timeout);
	for (size_t i = 0; i < n; i++)
		cl_future_remove_done_callback(fs[i], cl__wait_child_done,
					       &w->fut);
	cl_future_decref(&w->fut);
}

size_t cl_wait(size_t n, struct cl_future *const fs[], enum cl_wait_when when,
	       double timeout)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl__waiter *w;
	size_t ndone = 0;

	if (n == 0)
		cl_raise(cl_exc_new(&cl_ValueError,
				    "Set of Tasks/Futures is empty."));
	if (loop == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "no running event loop"));
	w = calloc(1, sizeof *w);
	if (w == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	cl__future_init(&w->fut, loop, &cl__waiter_ops);
	w->counter = n;
	w->when = when;
	if (timeout >= 0) {
		w->timeout = cl_loop_call_later(loop, timeout,
						cl__waiter_release, &w->fut);
		if (w->timeout != NULL)
			cl_handle_incref(w->timeout);
	}
	for (size_t i = 0; i < n; i++) {
		cl_future_incref(&w->fut);
		if (cl__future_add_waiter(fs[i], cl__wait_child_done, &w->fut,
					  0) < 0) {
			cl_future_decref(&w->fut);
			cl__wait_finish(w, n, fs);
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		}
	}
	CL_TRY {
		cl_await(&w->fut);
	} CL_CATCH(e) {
		cl__wait_finish(w, n, fs);
		cl_raise(e);
	} CL_END_TRY;
	cl__wait_finish(w, n, fs);
	for (size_t i = 0; i < n; i++)
		ndone += cl_future_done(fs[i]);
	return ndone;
}

/* ---- as_completed ------------------------------------------------------ */

struct cl_as_completed {
	struct cl_future fut;	  /* first: counted as a future (the done
				     callbacks hold references); never
				     completed */
	size_t n;		  /* futures given */
	size_t ntodo;		  /* not done yet (todo) */
	size_t nyielded;	  /* nexts begun */
	struct cl_future **todo;  /* references; NULL once done */
	struct cl_future **done;  /* the queue, in completion order:
				     references, NULL for a timeout's dummy */
	size_t head, tail;	  /* done[head..tail) not taken yet */
	struct cl_future *getter; /* what next waits on while the queue is
				     empty (Queue.get), or NULL */
	struct cl_handle *timeout;
};

static void cl__ac_dealloc(struct cl_future *f)
{
	struct cl_as_completed *ac = (struct cl_as_completed *)f;

	for (size_t i = 0; i < ac->n; i++) {
		cl_future_decref(ac->todo[i]);
		cl_future_decref(ac->done[i]);
	}
	free(ac->todo);
	free(ac->done);
	cl_handle_decref(ac->timeout);
	cl__future_fini(f);
	free(ac);
}

static const struct cl_future_ops cl__ac_ops = {
	.dealloc = cl__ac_dealloc,
};

/* done.put_nowait(f): queue f (a reference, or NULL) and wake next. */
static void cl__ac_put(struct cl_as_completed *ac, struct cl_future *f)
{
	ac->done[ac->tail++] = f;
	if (ac->getter != NULL && !cl_future_done(ac->getter))
		cl_future_set_result(ac->getter, NULL);
}

/* _on_completion in as_completed. */
static void cl__ac_child_done(struct cl_future *f, void *arg)
{
	struct cl_as_completed *ac = arg;

	if (ac->ntodo == 0)
		return; /* the timeout was here first */
	for (size_t i = 0; i < ac->n; i++) {
		if (ac->todo[i] == f) {
			ac->todo[i] = NULL; /* its reference goes to done */
			ac->ntodo--;
			cl__ac_put(ac, f);
			break;
		}
	}
	if (ac->ntodo == 0 && ac->timeout != NULL)
		cl_handle_cancel(ac->timeout);
}

/* _on_timeout: a dummy in the queue for each future still to come. */
static void cl__ac_timeout(void *arg)
{
	struct cl_as_completed *ac = arg;

	for (size_t i = 0; i < ac->n; i++) {
		struct cl_future *f = ac->todo[i];

		if (f == NULL)
			continue;
		ac->todo[i] = NULL;
		cl_future_remove_done_callback(f, cl__ac_child_done, &ac->fut);
		cl_future_decref(f);
		cl__ac_put(ac, NULL);
	}
	ac->ntodo = 0;
}

struct cl_as_completed *cl_as_completed_new(size_t n,
					    struct cl_future *const fs[],
					    double timeout)
{
	struct cl_loop *loop = n ? fs[0]->loop : cl_get_running_loop();
	struct cl_as_completed *ac;

	if (loop == NULL) {
		errno = ESRCH;
		return NULL;
	}
	ac = calloc(1, sizeof *ac);
	if (ac == NULL)
		return NULL;
	ac->todo = calloc(n ? n : 1, sizeof *ac->todo);
	ac->done = calloc(n ? n : 1, sizeof *ac->done);
	if (ac->todo == NULL || ac->done == NULL) {
		free(ac->todo);
		free(ac->done);
		free(ac);
		errno = ENOMEM;
		return NULL;
	}
	cl__future_init(&ac->fut, loop, &cl__ac_ops);
	ac->n = n;
	for (size_t i = 0; i < n; i++) {
		ac->todo[i] = cl_future_incref(fs[i]);
		ac->ntodo++;
		cl_future_incref(&ac->fut);
		if (cl__future_add_waiter(fs[i], cl__ac_child_done, &ac->fut,
					  0) < 0) {
			cl_future_decref(&ac->fut);
			cl_as_completed_free(ac);
			errno = ENOMEM;
			return NULL;
		}
	}
	if (n > 0 && timeout >= 0) {
		ac->timeout = cl_loop_call_later(loop, timeout, cl__ac_timeout,
						 ac);
		if (ac->timeout != NULL)
			cl_handle_incref(ac->timeout);
	}
	return ac;
}

struct cl_future *cl_as_completed_next(struct cl_as_completed *ac)
{
	/* TODO(ch05): NULL once n nexts have begun; otherwise
	 * the next future of the queue (borrowed), waiting on a getter
	 * future while the queue is empty; a timeout's dummy (NULL in
	 * the queue) raises TimeoutError(). Mirrors Lib/asyncio/tasks.py
	 * as_completed's _wait_for_one and queues.py Queue.get; read
	 * section 7.
	 * Hints: make hint CH=5 TODO=as_completed_next (3 levels). */
	(void)ac;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "as_completed: not implemented (TODO ch05)"));
}

void cl_as_completed_free(struct cl_as_completed *ac)
{
	if (ac == NULL)
		return;
	if (ac->timeout != NULL)
		cl_handle_cancel(ac->timeout);
	for (size_t i = 0; i < ac->n; i++)
		if (ac->todo[i] != NULL)
			cl_future_remove_done_callback(ac->todo[i],
						       cl__ac_child_done,
						       &ac->fut);
	cl_future_decref(&ac->fut);
}
