/*
 * gen.c - stackful generators: send, throw, close on a stack of their own.
 *
 * A generator owns a stack and a saved context (struct cl_ctx). Resuming
 * it is one context switch (cl_ctx_swap) from the caller's stack onto the
 * generator's; cl_yield is the switch back. The two sides talk through a
 * mailbox in the generator object: the resumer puts a value (send) or an
 * exception (throw, close) in it before switching, the body puts a
 * yielded or returned value, or an escaped exception, in it before
 * switching back.
 *
 * Everything Python's generator protocol says is decided on the caller's
 * side, before and after that switch, in the same order as CPython's
 * gen_send_ex2 (Objects/genobject.c): refuse a value sent to an unstarted
 * generator, refuse to resume a running one, answer for a finished one
 * without running anything, otherwise switch, and finally turn a
 * StopIteration that escaped the body into RuntimeError (PEP 479).
 *
 * Two things travel with the stack on every switch: the running generator
 * (cl_gen_current) and the chain of CL_TRY handlers (exc.h), so that a
 * raise inside the body never longjmps onto another stack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "gen.h"
#include "stack.h"

struct cl_gen {
	/* Everything a resume and a yield touch comes first: 64 bytes,
	 * two cache lines at most (lines.h). */

	/* Owned by the protocol functions (send, throw, close, free). */
	enum cl_gen_state state;

	/* The mailbox, one message each way per switch. */
	int why;	    /* body -> resumer: YIELDED, RETURNED or RAISED */
	void *value;	    /* sent value in; yielded/returned value out */
	struct cl_exc *exc; /* thrown exception in; escaped exception out */

	/* The body while it is suspended: saved when it switches out,
	 * put back by the next resume. */
	struct cl_ctx ctx;    /* its registers, kept on its stack */
	struct cl_try *chain; /* its CL_TRY handlers */

	/* The resumer while the body runs: saved by the resume, put back
	 * when the body yields or ends. */
	struct cl_ctx caller;	     /* where cl_yield switches back to */
	struct cl_try *caller_chain; /* the resumer's handlers */
	struct cl_gen *caller_gen;   /* cl_gen_current() of the resumer */

	/* Set by cl_gen_new, read-only afterwards. */
	void *(*fn)(void *arg); /* the body */
	void *arg;
	struct cl_stack *stack; /* NULL once the generator is closed */
	const struct cl_site *origin; /* a coroutine object's creation site
					 (debug.h's cl_coro), NULL for a
					 plain generator */

	char name[]; /* copied by cl_gen_new */
};

/*
 * The generator running on this thread. It is global state, the only kind
 * in this file, and it has to be: cl_yield is called from anywhere in a
 * body, through any depth of plain C calls that were never handed the
 * generator, just as a Python yield names no generator object (CPython
 * finds the running frame in its thread state). The CL_TRY handler chain
 * in exc.c is global for the same reason. Its true scope is the thread:
 * a thread runs one body at a time, so _Thread_local, and each resume
 * saves the value it replaces (caller_gen) and puts it back afterwards,
 * which makes nested generators a stack of them.
 */
static _Thread_local struct cl_gen *cl__current;

static void cl__gen_main(void *arg);

struct cl_gen *cl_gen_new(void *(*fn)(void *arg), void *arg, const char *name)
{
	struct cl_gen *g;
	size_t len;
	int err;

	if (name == NULL)
		name = "generator";
	len = strlen(name);
	g = calloc(1, sizeof *g + len + 1);
	if (g == NULL)
		return NULL;
	memcpy(g->name, name, len + 1);
	g->fn = fn;
	g->arg = arg;
	g->state = CL_GEN_CREATED;
	g->stack = cl_stack_alloc(0);
	if (g->stack == NULL) {
		err = errno;
		free(g);
		errno = err;
		return NULL;
	}
	cl_stack_set_name(g->stack, g->name);
	err = cl_ctx_make(&g->ctx, g->stack->base, g->stack->size, cl__gen_main,
			  g);
	if (err < 0) {
		cl_stack_free(g->stack);
		free(g);
		errno = -err;
		return NULL;
	}
	return g;
}

/*
 * Run the body of g until it yields, returns or raises, delivering value
 * (a send) or exc (a throw, whose reference we take) at the point where
 * it is suspended, or at its very start. While the body runs, g is
 * running and is the current generator, with its own handler chain
 * installed; once it switches back, the resumer's are in place again.
 * A yield suspends g; a return or an exception finishes it, and its
 * stack goes back to the pool right away (CPython also clears a
 * finished generator's frame). PEP 479: a StopIteration that escaped
 * the body would read, to the caller, as "the generator returned"; it
 * comes out as RuntimeError("generator raised StopIteration"), caused
 * by it.
 */
static int cl__gen_resume(struct cl_gen *g, void *value, struct cl_exc *exc,
			  void **out)
{
	/* TODO(ch02): Run g's body until it yields, returns or raises,
	 * delivering value or exc (whose reference it takes) where g
	 * is suspended; then g is suspended (CL_GEN_YIELDED) or
	 * closed with its stack freed (CL_GEN_RETURNED,
	 * CL_GEN_RAISED: *out the value or the exception). Mirrors
	 * Objects/genobject.c gen_send_ex2, PEP 479; read section 4.
	 * Hints: make hint CH=2 TODO=gen_resume (3 levels). */
	(void)g, (void)value;
	cl_exc_decref(exc);
	*out = cl_exc_new(&cl_NotImplementedError,
			  "cl__gen_resume: not implemented (TODO ch02)");
	return CL_GEN_RAISED;
}

/*
 * The first function on a generator's stack. It runs the body inside a
 * handler that catches whatever the body lets escape, posts the outcome
 * in the mailbox and switches back for the last time. It never returns:
 * below it on this stack there is nothing to return to.
 *
 * A throw into an unstarted generator arrives here with an exception in
 * the mailbox. CPython raises it before the first instruction of the
 * body, so nothing of the body runs; we raise it before calling fn.
 */
static void cl__gen_main(void *arg)
{
	struct cl_gen *g = arg;

	CL_TRY {
		if (g->exc != NULL)
			cl_raise(g->exc);
		g->value = g->fn(g->arg);
		g->why = CL_GEN_RETURNED;
	} CL_CATCH(e) {
		g->exc = e;
		g->why = CL_GEN_RAISED;
	} CL_END_TRY;
	cl_ctx_swap_final(&g->ctx, &g->caller);
}

void *cl__yield_exc(void *value, struct cl_exc **exc)
{
	struct cl_gen *g = cl__current;

	if (g == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "cl_yield outside a generator"));
	g->value = value;
	g->why = CL_GEN_YIELDED;
	cl_ctx_swap(&g->ctx, &g->caller);

	/* Resumed: by a throw or close if the mailbox holds an exception. */
	*exc = g->exc;
	g->exc = NULL;
	return g->value;
}

void *cl__yield_at(void *value, const struct cl_site *site)
{
	struct cl_gen *g = cl__current;
	struct cl_exc *e;

	if (g == NULL)
		cl__raise_at(cl_exc_new(&cl_RuntimeError,
					"cl_yield outside a generator"), site);
	g->value = value;
	g->why = CL_GEN_YIELDED;
	cl_ctx_swap(&g->ctx, &g->caller);

	/* Resumed: by a throw or close if the mailbox holds an exception. */
	e = g->exc;
	if (e != NULL) {
		g->exc = NULL;
		cl__raise_at(e, site);
	}
	return g->value;
}

/*
 * The checks of CPython's gen_send_ex2, in its order, come before any
 * switch; only a generator that can run is resumed.
 */
int cl_gen_send(struct cl_gen *g, void *value, void **out)
{
	/* TODO(ch02): Refuse what CPython refuses before resuming g: a
	 * value sent to an unstarted g is a TypeError (g stays
	 * unstarted), a running g a ValueError; a finished g returns
	 * CL_GEN_RETURNED with *out = NULL. Mirrors
	 * Objects/genobject.c gen_send_ex2; read section 6.
	 * Hints: make hint CH=2 TODO=gen_send (2 levels). */
	return cl__gen_resume(g, value, NULL, out);
}

int cl_gen_next(struct cl_gen *g, void **out)
{
	return cl_gen_send(g, NULL, out);
}

/*
 * gen_throw in CPython: the exception is delivered by resuming the frame
 * with it, so an unstarted generator is resumed too (cl__gen_main raises
 * it before the body's first line) and finishes.
 */
int cl_gen_throw(struct cl_gen *g, struct cl_exc *exc, void **out)
{
	/* TODO(ch02): Deliver exc into g, which owns it: a running g
	 * refuses (exc dropped, ValueError), a finished one hands exc
	 * straight back (CL_GEN_RAISED), an unstarted or suspended
	 * one is resumed with it. Mirrors Objects/genobject.c
	 * gen_throw; read section 6.
	 * Hints: make hint CH=2 TODO=gen_throw (2 levels). */
	return cl__gen_resume(g, NULL, exc, out);
}

/*
 * gen_close in CPython: throw GeneratorExit, then judge what comes back.
 * The body may let GeneratorExit out or return: both mean "closed". If it
 * yields instead, it refused to close. Closing an unstarted or finished
 * generator comes back with GeneratorExit at once, which is success.
 */
int cl_gen_close(struct cl_gen *g, struct cl_exc **err)
{
	/* TODO(ch02): Close g as the comment above says: 0 when it
	 * returned or let GeneratorExit out, *err = NULL; otherwise
	 * CL_GEN_RAISED with *err a RuntimeError "generator ignored
	 * GeneratorExit" (it yielded) or the exception it raised.
	 * Mirrors Objects/genobject.c gen_close; read section 6.
	 * Hints: make hint CH=2 TODO=gen_close (3 levels). */
	(void)g;
	*err = cl_exc_new(&cl_NotImplementedError,
			  "cl_gen_close: not implemented (TODO ch02)");
	return CL_GEN_RAISED;
}

/* One round of yield from: pass v out, pass what comes back on to sub. */
static int cl__gen_forward(struct cl_gen *sub, void *v, void **out)
{
	void *volatile sent = NULL;

	CL_TRY {
		sent = cl_yield(v);
	} CL_CATCH(e) {
		struct cl_exc *err;

		if (!cl_exc_matches(e, &cl_GeneratorExit))
			return cl_gen_throw(sub, e, out);
		/* Closing us closes sub first; its error wins. */
		if (cl_gen_close(sub, &err) != 0) {
			cl_exc_decref(e);
			cl_raise(err);
		}
		cl_raise(e);
	} CL_END_TRY;
	return cl_gen_send(sub, sent, out);
}

void *cl_yield_from(struct cl_gen *sub)
{
	void *v;
	int status = cl_gen_next(sub, &v);

	while (status == CL_GEN_YIELDED)
		status = cl__gen_forward(sub, v, &v);
	if (status == CL_GEN_RAISED)
		cl_raise(v);
	return v;
}

struct cl_gen *cl_gen_current(void)
{
	return cl__current;
}

enum cl_gen_state cl_gen_state(const struct cl_gen *g)
{
	return g->state;
}

const char *cl_gen_name(const struct cl_gen *g)
{
	return g->name;
}

void cl_gen_free(struct cl_gen *g)
{
	struct cl_exc *err;

	if (g == NULL)
		return;
	if (g->state == CL_GEN_RUNNING) {
		fprintf(stderr, "corolab: cl_gen_free: generator '%s' is "
				"running\n", g->name);
		abort();
	}
	/* _PyGen_Finalize: close a suspended generator so that its cleanup
	 * runs; report what goes wrong, since nobody is there to catch it. */
	if (g->state == CL_GEN_SUSPENDED && cl_gen_close(g, &err) != 0) {
		fprintf(stderr, "corolab: exception ignored in generator "
				"'%s': %s%s%s\n", g->name, cl_exc_name(err),
			cl_exc_message(err)[0] ? ": " : "",
			cl_exc_message(err));
		cl_exc_decref(err);
	}
	/* A coroutine that never ran: its await was forgotten (chapter 09;
	 * genobject.c's _PyErr_WarnUnawaitedCoroutine). */
	if (g->state == CL_GEN_CREATED && g->origin != NULL)
		cl__debug_unawaited(g->name, g->origin);
	/* Still holding a stack: never started, or it ignored the close. */
	if (g->stack != NULL)
		cl_stack_free(g->stack);
	free(g);
}

void cl__gen_set_origin(struct cl_gen *g, const struct cl_site *site)
{
	g->origin = site;
}

int cl__gen_frame(const struct cl_gen *g, void **sp, void **lo, void **hi)
{
	if (g->stack == NULL)
		return -1;
	*lo = g->stack->base;
	*hi = (char *)g->stack->base + g->stack->size;
	*sp = g->state == CL_GEN_RUNNING ? NULL : g->ctx.sp;
	return 0;
}

struct cl_stack *cl__gen_stack(const struct cl_gen *g)
{
	return g->stack;
}
