/*
 * agen.c - async generators on stackful generators (agen.h).
 *
 * An async generator is a struct cl_gen running the body, and the few
 * flags of CPython's PyAsyncGenObject around it. asend, athrow and aclose
 * are each one function that resumes the body and then keeps resuming it
 * until it yields a value or ends; between two resumes, whatever the body
 * awaited travels up to the task and its outcome comes back down
 * (cl__agen_run, the heart of the file). The rest is CPython's
 * bookkeeping in CPython's order: who may resume the body when
 * (running_async), whether it may still be closed (closed), which loop
 * knows about it (the firstiter hook), and who closes it when nobody
 * else does (the finalizer hook, shutdown_asyncgens).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agen.h"
#include "future.h"
#include "gather.h"
#include "handler.h"
#include "task.h"

const struct cl_exc_type cl_StopAsyncIteration = { "StopAsyncIteration",
						   &cl_Exception };

struct cl_agen {
	int refcnt;

	/* The protocol's state, as PyAsyncGenObject's; written by asend,
	 * athrow and aclose only. */
	unsigned char running_async; /* ag_running_async: an asend, athrow
					or aclose is in progress (it may be
					waiting, in some task) */
	unsigned char closed;	     /* ag_closed: aclose() began, or the
					body ended by return or by
					GeneratorExit */
	unsigned char hooks_inited;  /* ag_hooks_inited: first iterated */
	unsigned char finalizing;    /* dropped while open: owned by the
					aclose() task of the finalizer */

	struct cl_gen *gen; /* the body, on a stack of its own */
	void *value;	    /* what the body's last cl_agen_yield yielded:
			       the wrapped value's agw_val */

	/* Set by cl_agen_new, read-only afterwards. */
	void *(*fn)(void *arg);
	void *arg;

	/* On loop->agens, newest first, while loop is set: asyncio's
	 * _asyncgens. The firstiter hook links it; the finalizer, the
	 * shutdown and the loop's end unlink it. */
	struct cl_loop *loop;
	struct cl_agen *prev, *next;
};

/*
 * The async generator whose body a resume of this file is running, so
 * that cl_agen_yield, called from anywhere in the body, finds it: the
 * same reason, and the same discipline, as gen.c's current generator.
 * Each resume saves the value it replaces and puts it back when the body
 * suspends, so that a body iterating another async generator (a
 * pipeline) nests.
 */
static _Thread_local struct cl_agen *cl__agen_current;

/*
 * The wrapper of a yielded value (async_gen_wrapped_value). The body
 * yields the address of this one byte, which no future and no bare
 * yield (NULL) can have, and leaves the value itself in ag->value.
 */
static char cl__agen_wrapped;
#define CL__AGEN_WRAPPED ((void *)&cl__agen_wrapped)

/*
 * The first function on the body's stack: fn(arg), with PEP 479 as PEP
 * 525 extends it: a StopIteration or a StopAsyncIteration escaping the
 * body would read, to the consumer, as "the generator is exhausted", so
 * it becomes RuntimeError "async generator raised ..." caused by it
 * (gen_send_ex2 in Objects/genobject.c). Any other exception is passed
 * on untouched: raised again at the site it names already, so its
 * traceback gains no frame of ours.
 */
static void *cl__agen_main(void *arg)
{
	struct cl_agen *ag = arg;
	void *volatile r = NULL;

	CL_TRY {
		r = ag->fn(ag->arg);
	} CL_CATCH(e) {
		const char *what = NULL;

		if (cl_exc_matches(e, &cl_StopAsyncIteration))
			what = "StopAsyncIteration";
		else if (cl_exc_matches(e, &cl_StopIteration))
			what = "StopIteration";
		if (what == NULL)
			cl__raise_at(e, e->tb != NULL ? e->tb->site : CL_HERE);
		cl_raise_from(cl_exc_new(&cl_RuntimeError,
					 "async generator raised %s", what),
			      e);
	} CL_END_TRY;
	return r;
}

/*
 * Calling an async generator function (PyAsyncGen_New, by way of
 * _Py_MakeCoro): the object and its stack, the body not started. See
 * agen.h.
 */
struct cl_agen *cl_agen_new(void *(*fn)(void *arg), void *arg,
			    const char *name)
{
	struct cl_agen *ag;
	int err;

	ag = calloc(1, sizeof *ag);
	if (ag == NULL)
		return NULL;
	ag->refcnt = 1;
	ag->fn = fn;
	ag->arg = arg;
	ag->gen = cl_gen_new(cl__agen_main, ag,
			     name != NULL ? name : "async_generator");
	if (ag->gen == NULL) {
		err = errno;
		free(ag);
		errno = err;
		return NULL;
	}
	return ag;
}

/* _asyncgens.add(ag): link ag at the head of loop's list. */
static void cl__agen_link(struct cl_agen *ag, struct cl_loop *loop)
{
	ag->loop = loop;
	ag->prev = NULL;
	ag->next = loop->agens;
	if (ag->next != NULL)
		ag->next->prev = ag;
	loop->agens = ag;
}

/* _asyncgens.discard(ag): take ag off its loop's list, if it is on
 * one; the loop forgets it. */
static void cl__agen_unlink(struct cl_agen *ag)
{
	if (ag->loop == NULL)
		return;
	if (ag->prev != NULL)
		ag->prev->next = ag->next;
	else
		ag->loop->agens = ag->next;
	if (ag->next != NULL)
		ag->next->prev = ag->prev;
	ag->loop = NULL;
	ag->prev = ag->next = NULL;
}

/*
 * async_gen_init_hooks, with asyncio's _asyncgen_firstiter_hook as the
 * firstiter hook: the first asend, athrow or aclose (started or not)
 * makes the loop running on this thread, if any, keep ag, so that it
 * can close it at the end. Later calls do nothing.
 */
static void cl__agen_init_hooks(struct cl_agen *ag)
{
	struct cl_loop *loop;

	if (ag->hooks_inited)
		return;
	ag->hooks_inited = 1;
	loop = cl_get_running_loop();
	if (loop != NULL)
		cl__agen_link(ag, loop);
}

/*
 * Free ag: gen_dealloc. A body still suspended is closed by cl_gen_free
 * (its cleanup runs; whatever it raises is printed): with ag current,
 * so that a cl_agen_yield in that cleanup is a yield, which
 * cl_gen_close reports as ignoring GeneratorExit.
 */
static void cl__agen_dealloc(struct cl_agen *ag)
{
	struct cl_agen *saved = cl__agen_current;

	cl__agen_unlink(ag);
	cl__agen_current = ag;
	cl_gen_free(ag->gen);
	cl__agen_current = saved;
	free(ag);
}

static void cl__agen_finalizer_cb(void *arg);

/*
 * _PyGen_Finalize with asyncio's _asyncgen_finalizer_hook: the last
 * reference to ag is gone. If a live loop knows it and it is open
 * (neither finished nor closed), it is not freed yet: it comes back to
 * life, owned by a callback that will close it in a task, one iteration
 * from now (call_soon_threadsafe(create_task, agen.aclose())). It stays
 * on the loop's list meanwhile, marked finalizing, which
 * shutdown_asyncgens skips (asyncio discards it from _asyncgens) and
 * cl_loop_free frees if the task never ran. Returns 0 when it was taken,
 * -1 when the caller must free it now.
 */
static int cl__agen_finalize(struct cl_agen *ag)
{
	if (ag->loop == NULL || ag->closed ||
	    cl_gen_state(ag->gen) == CL_GEN_CLOSED)
		return -1;
	if (cl_loop_call_soon(ag->loop, cl__agen_finalizer_cb, ag) == NULL)
		return -1;
	ag->refcnt = 1;
	ag->finalizing = 1;
	return 0;
}

/* Py_INCREF: one more owner. */
struct cl_agen *cl_agen_incref(struct cl_agen *ag)
{
	ag->refcnt++;
	return ag;
}

/* Py_DECREF: the last owner gone, the finalizer decides between
 * "close it in a task first" and "free it now" (gen_dealloc). */
void cl_agen_decref(struct cl_agen *ag)
{
	if (ag == NULL || --ag->refcnt > 0)
		return;
	if (cl__agen_finalize(ag) == 0)
		return;
	cl__agen_dealloc(ag);
}

/*
 * Resume the body once: send value, or throw exc (whose reference it
 * takes), with ag the current async generator while the body runs.
 * Returns what cl_gen_send and cl_gen_throw return.
 */
static int cl__agen_step(struct cl_agen *ag, void *value, struct cl_exc *exc,
			 void **out)
{
	struct cl_agen *saved = cl__agen_current;
	int status;

	cl__agen_current = ag;
	if (exc != NULL)
		status = cl_gen_throw(ag->gen, exc, out);
	else
		status = cl_gen_send(ag->gen, value, out);
	cl__agen_current = saved;
	return status;
}

/*
 * Resume the body with value or exc, and again, until it yields a value
 * or ends. CL_GEN_YIELDED: *out is the value it yielded; CL_GEN_RETURNED:
 * it returned (StopAsyncIteration); CL_GEN_RAISED: *out is the exception
 * that escaped it, a reference. What the body awaits meanwhile is not
 * ours: each await's yield is passed up to whoever runs us (the task),
 * and what comes back down is sent or thrown into the body: that is the
 * "yield from" the asend and athrow awaitables do.
 */
static int cl__agen_run(struct cl_agen *ag, void *value, struct cl_exc *exc,
			void **out)
{
	/* TODO(ch07): Resume ag's body with value or exc (taken) until it
	 * yields a value (CL_GEN_YIELDED, *out the value) or ends
	 * (RETURNED; RAISED with *out the exception); an await's yield
	 * goes up to our task and its outcome back into the body. Mirrors
	 * Objects/genobject.c async_gen_asend_send, async_gen_unwrap_value;
	 * read section 7.
	 * Hints: make hint CH=7 TODO=agen_run (2 levels). */
	(void)ag, (void)value, (void)cl__agen_step;
	cl_exc_decref(exc);
	*out = cl_exc_new(&cl_NotImplementedError,
			  "async generator: not implemented (TODO ch07)");
	return CL_GEN_RAISED;
}

/*
 * The end of async_gen_unwrap_value, for asend and athrow once the run
 * is over (status and *out are what cl__agen_run returned): the
 * generator is no longer running, and it is closed if it returned or
 * let GeneratorExit out. Returns status.
 */
static int cl__agen_unwrap(struct cl_agen *ag, int status, void *const *out)
{
	ag->running_async = 0;
	if (status == CL_GEN_RETURNED ||
	    (status == CL_GEN_RAISED && cl_exc_matches(*out, &cl_GeneratorExit)))
		ag->closed = 1;
	return status;
}

/*
 * asend(value) as a status: async_gen_asend_send. CL_GEN_YIELDED with
 * the value in *out, CL_GEN_RETURNED for StopAsyncIteration, or
 * CL_GEN_RAISED with the exception in *out.
 */
static int cl__agen_asend(struct cl_agen *ag, void *value, void **out)
{
	cl__agen_init_hooks(ag);
	if (ag->running_async) {
		*out = cl_exc_new(&cl_RuntimeError,
				  "anext(): asynchronous generator is already "
				  "running");
		return CL_GEN_RAISED;
	}
	if (value != NULL && cl_gen_state(ag->gen) == CL_GEN_CREATED) {
		*out = cl_exc_new(&cl_TypeError,
				  "can't send non-None value to a "
				  "just-started async generator");
		return CL_GEN_RAISED;
	}
	ag->running_async = 1;
	return cl__agen_unwrap(ag, cl__agen_run(ag, value, NULL, out), out);
}

/* What an asend or athrow status means to its caller: the value, or
 * StopAsyncIteration or the exception raised at site. */
static void *cl__agen_result(int status, void *out, const struct cl_site *site)
{
	if (status == CL_GEN_YIELDED)
		return out;
	if (status == CL_GEN_RETURNED)
		cl__raise_at(cl_exc_new(&cl_StopAsyncIteration, NULL), site);
	cl__raise_at(out, site);
}

/* await ag.asend(value): async_gen_asend_send, then what the await
 * returns or raises. See agen.h. */
void *cl__agen_asend_at(struct cl_agen *ag, void *value,
			const struct cl_site *site)
{
	void *out;
	int status = cl__agen_asend(ag, value, &out);

	return cl__agen_result(status, out, site);
}

/* One round of `async for`: __anext__, whose StopAsyncIteration the
 * loop (the GET_ANEXT and END_ASYNC_FOR opcodes) takes as its end. */
int cl__agen_for_at(struct cl_agen *ag, void **out,
		    const struct cl_site *site)
{
	int status = cl__agen_asend(ag, NULL, out);

	if (status == CL_GEN_YIELDED)
		return 1;
	if (status == CL_GEN_RAISED)
		cl__raise_at(*out, site);
	*out = NULL;
	return 0;
}

/*
 * athrow(exc) as a status: async_gen_athrow_send in its athrow mode. A
 * finished body makes the awaitable return None at once; a busy one is
 * an error; one that aclose() closed already is StopAsyncIteration.
 */
static int cl__agen_athrow(struct cl_agen *ag, struct cl_exc *exc, void **out)
{
	cl__agen_init_hooks(ag);
	if (cl_gen_state(ag->gen) == CL_GEN_CLOSED) {
		cl_exc_decref(exc);
		*out = NULL;
		return CL_GEN_YIELDED;
	}
	if (ag->running_async) {
		cl_exc_decref(exc);
		*out = cl_exc_new(&cl_RuntimeError,
				  "athrow(): asynchronous generator is already "
				  "running");
		return CL_GEN_RAISED;
	}
	if (ag->closed) {
		cl_exc_decref(exc);
		*out = cl_exc_new(&cl_StopAsyncIteration, NULL);
		return CL_GEN_RAISED;
	}
	ag->running_async = 1;
	return cl__agen_unwrap(ag, cl__agen_run(ag, NULL, exc, out), out);
}

/* await ag.athrow(exc): async_gen_athrow_send, then what the await
 * returns or raises. See agen.h. */
void *cl__agen_athrow_at(struct cl_agen *ag, struct cl_exc *exc,
			 const struct cl_site *site)
{
	void *out;
	int status = cl__agen_athrow(ag, exc, &out);

	return cl__agen_result(status, out, site);
}

/*
 * aclose() as a status: async_gen_athrow_send in its aclose mode. 0 when
 * the generator is closed (or was already finished); CL_GEN_RAISED with
 * *err the exception to raise otherwise.
 */
static int cl__agen_aclose(struct cl_agen *ag, struct cl_exc **err)
{
	/* TODO(ch07): Close ag: 0 if it is finished already, or once
	 * GeneratorExit thrown into its body comes back out or the body
	 * returns (its cleanup may await); else CL_GEN_RAISED, *err the
	 * error: already running, closed already, ignored GeneratorExit,
	 * or what the body raised. Mirrors Objects/genobject.c
	 * async_gen_athrow_send (aclose mode); read section 7.
	 * Hints: make hint CH=7 TODO=agen_aclose (3 levels). */
	(void)ag;
	*err = cl_exc_new(&cl_NotImplementedError,
			  "aclose: not implemented (TODO ch07)");
	return CL_GEN_RAISED;
}

/* await ag.aclose(): async_gen_aclose makes the awaitable (and runs
 * the firstiter hook), async_gen_athrow_send runs it. See agen.h. */
void cl__agen_aclose_at(struct cl_agen *ag, const struct cl_site *site)
{
	struct cl_exc *err;

	cl__agen_init_hooks(ag);
	if (cl__agen_aclose(ag, &err) != 0)
		cl__raise_at(err, site);
}

/*
 * `yield value` in an async generator's body: the value is wrapped
 * (the marker goes out, the value stays in ag), so that asend tells it
 * from an await. Returns what the next asend sends; raises what athrow
 * or aclose throws (cl__yield_at does).
 */
void *cl__agen_yield_at(void *value, const struct cl_site *site)
{
	struct cl_agen *ag = cl__agen_current;

	/* Only the body itself may yield: not a plain generator it runs. */
	if (ag == NULL || cl_gen_current() != ag->gen)
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_agen_yield outside an async "
					"generator"), site);
	ag->value = value;
	return cl__yield_at(CL__AGEN_WRAPPED, site);
}

/* ag.ag_running: ag_running_async, as the ag_running getter reads it. */
int cl_agen_running(const struct cl_agen *ag)
{
	return ag->running_async;
}

/* The body's state: ag.ag_frame's, as inspect.getasyncgenstate (3.12)
 * reports it. */
enum cl_gen_state cl_agen_state(const struct cl_agen *ag)
{
	return cl_gen_state(ag->gen);
}

/* ag.__name__: the body's generator keeps it. */
const char *cl_agen_name(const struct cl_agen *ag)
{
	return cl_gen_name(ag->gen);
}

/*
 * The aclose() task of a generator nobody references any more (see
 * cl__agen_finalize): close it, then free it, whatever the close did. An
 * error escapes into the task, which reports it when it is freed ("Task
 * exception was never retrieved"), as asyncio's does.
 */
static void *cl__agen_finalize_main(void *arg)
{
	struct cl_agen *ag = arg;

	CL_TRY {
		cl_agen_aclose(ag);
	} CL_CATCH(e) {
		cl__agen_dealloc(ag);
		cl_raise(e);
	} CL_END_TRY;
	cl__agen_dealloc(ag);
	return NULL;
}

/* The finalizer's callback: loop.create_task(agen.aclose()). */
static void cl__agen_finalizer_cb(void *arg)
{
	struct cl_agen *ag = arg;
	struct cl_task *t;

	t = cl_loop_create_task(ag->loop, cl__agen_finalize_main, ag, NULL);
	if (t == NULL) {
		fprintf(ag->loop->err, "corolab: cannot close async generator "
				       "'%s'\n", cl_agen_name(ag));
		cl__agen_dealloc(ag);
		return;
	}
	cl_task_decref(t);
}

/* The task gather makes of one ag.aclose() in shutdown_asyncgens,
 * which holds ag meanwhile. */
static void *cl__agen_aclose_main(void *arg)
{
	cl_agen_aclose((struct cl_agen *)arg);
	return NULL;
}

/*
 * The end of shutdown_asyncgens: drop what it holds. A generator whose
 * aclose() task is not done (the shutdown itself was cancelled, or
 * closed at a deadlock) is left alive rather than freed under that task.
 */
static void cl__agen_shutdown_free(size_t n, struct cl_agen **ags,
				   struct cl_future **futs)
{
	for (size_t i = 0; i < n; i++) {
		if (cl_future_done(futs[i]))
			cl_agen_decref(ags[i]);
		cl_future_decref(futs[i]);
	}
	free(ags);
	free(futs);
}

/*
 * Take the loop's open generators off its list (self._asyncgens copied,
 * then cleared) into ags, oldest first, each a new reference. ags has
 * room for them all.
 */
static void cl__agen_take_open(struct cl_loop *loop, struct cl_agen **ags,
			       size_t n)
{
	struct cl_agen *ag, *next;

	for (ag = loop->agens; ag != NULL; ag = next) {
		next = ag->next;
		if (ag->finalizing)
			continue;
		cl__agen_unlink(ag);
		ags[--n] = cl_agen_incref(ag);
	}
}

/* How many generators of loop are open, not counting those whose
 * finalizer's aclose() is under way. */
static size_t cl__agen_count_open(const struct cl_loop *loop)
{
	size_t n = 0;

	for (const struct cl_agen *ag = loop->agens; ag != NULL; ag = ag->next)
		n += !ag->finalizing;
	return n;
}

/* Report one generator whose aclose() failed, as asyncio words it. */
static void cl__agen_report(struct cl_loop *loop, struct cl_agen *ag,
			    struct cl_exc *e)
{
	char msg[200];
	struct cl_exc_context c = { .message = msg, .exception = e };

	snprintf(msg, sizeof msg,
		 "an error occurred during closing of asynchronous generator "
		 "<async_generator object %s at %p>",
		 cl_agen_name(ag), (void *)ag);
	cl_loop_call_exception_handler(loop, &c);
}

/* await the gather of the aclose() tasks; if that raises (the shutdown
 * is cancelled), drop what the shutdown holds on the way out. */
static void cl__agen_await_closing(struct cl_future *g, size_t n,
				   struct cl_agen **ags,
				   struct cl_future **futs)
{
	CL_TRY {
		cl_await(g);
	} CL_CATCH(e) {
		cl_future_decref(g);
		cl__agen_shutdown_free(n, ags, futs);
		cl_raise(e);
	} CL_END_TRY;
}

/*
 * BaseEventLoop.shutdown_asyncgens:
 *
 *	closing_agens = list(self._asyncgens)
 *	self._asyncgens.clear()
 *	results = await tasks.gather(
 *		*[ag.aclose() for ag in closing_agens],
 *		return_exceptions=True)
 *	for result, agen in zip(results, closing_agens):
 *		if isinstance(result, Exception):
 *			self.call_exception_handler({...})
 *
 * Out of memory half-way, the generators whose tasks run are left to
 * them, not freed.
 */
void cl_shutdown_asyncgens(void)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_future **futs, *g;
	struct cl_agen **ags;
	size_t n;

	if (loop == NULL || loop->cur_task == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError, "cl_shutdown_asyncgens "
						      "outside a task"));
	n = cl__agen_count_open(loop);
	if (n == 0)
		return;
	ags = calloc(n, sizeof *ags);
	futs = calloc(n, sizeof *futs);
	if (ags == NULL || futs == NULL) {
		free(ags);
		free(futs);
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	}
	cl__agen_take_open(loop, ags, n);
	for (size_t i = 0; i < n; i++) {
		struct cl_task *t = cl_loop_create_task(
			loop, cl__agen_aclose_main, ags[i], NULL);

		if (t == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		futs[i] = cl_task_future(t);
	}
	g = cl_gather_ex(n, futs, 1);
	if (g == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	cl__agen_await_closing(g, n, ags, futs);
	for (size_t i = 0; i < n; i++) {
		struct cl_exc *e = cl_gather_exception(g, i);

		if (e != NULL && cl_exc_matches(e, &cl_Exception))
			cl__agen_report(loop, ags[i], e);
	}
	cl_future_decref(g);
	cl__agen_shutdown_free(n, ags, futs);
}

/* The coroutine loop.shutdown_asyncgens() of run_until_complete. */
static void *cl__agen_shutdown_main(void *unused)
{
	(void)unused;
	cl_shutdown_asyncgens();
	return NULL;
}

/*
 * loop.run_until_complete(loop.shutdown_asyncgens()), as asyncio.run's
 * Runner.close does it, after the leftover tasks are cancelled. Tasks
 * that the generators' cleanup leaves pending are closed (run.c's
 * abandon), since the loop will not run again. See agen.h.
 */
int cl_loop_shutdown_asyncgens(struct cl_loop *loop)
{
	struct cl_task *t;
	int err;

	if (cl__agen_count_open(loop) == 0)
		return 0;
	t = cl_loop_create_task(loop, cl__agen_shutdown_main, NULL, NULL);
	if (t == NULL)
		return -errno;
	err = cl_loop_run_until_complete(loop, cl_task_future(t));
	if (err == -EDEADLK)
		fprintf(loop->err, "corolab: no runnable tasks while closing "
				   "async generators\n");
	/* What their cleanup left pending cannot run any more. */
	cl__task_abandon_all(loop);
	cl_task_decref(t);
	return err;
}

/*
 * loop.close(), for the generators: the loop forgets those it knows
 * (asyncio's WeakSet goes with the loop); one whose finalizer's task
 * never ran is freed here, as nobody else holds it.
 */
void cl__agen_loop_free(struct cl_loop *loop)
{
	struct cl_agen *ag;

	while ((ag = loop->agens) != NULL) {
		cl__agen_unlink(ag);
		if (ag->finalizing)
			cl__agen_dealloc(ag);
	}
}
