/*
 * gen.c - stackful generators: send, throw, close on a stack of their own.
 *
 * A generator owns a stack and a saved context (struct cl_ctx). Resuming
 * it is one cl_ctx_switch from the caller's stack onto the generator's;
 * cl_yield is the switch back. The two sides talk through a mailbox in the
 * generator object: the resumer puts a value (send) or an exception
 * (throw, close) in it before switching, the body puts a yielded or
 * returned value, or an escaped exception, in it before switching back.
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
	/* Set by cl_gen_new, read-only afterwards. */
	void *(*fn)(void *arg); /* the body */
	void *arg;

	/* The body's side. Written by the resume code and the body. */
	enum cl_gen_state state;
	struct cl_stack *stack; /* NULL once the generator is closed */
	struct cl_ctx ctx;	/* the body's registers while suspended */
	struct cl_try *chain;	/* the body's handlers while suspended */

	/* The resumer's side: valid while the body runs. */
	struct cl_ctx caller;	    /* where cl_yield switches back to */
	struct cl_try *caller_chain; /* the resumer's handlers */
	struct cl_gen *caller_gen;   /* cl_gen_current() of the resumer */

	/* The mailbox, one message each way per switch. */
	int why;	     /* body -> resumer: YIELDED, RETURNED or RAISED */
	void *value;	     /* sent value in; yielded/returned value out */
	struct cl_exc *exc;  /* thrown exception in; escaped exception out */

	char name[];	     /* copied by cl_gen_new */
};

/*
 * The generator running on this thread. Together with the handler chain
 * in exc.c it is the only global state of the library, and it has to be:
 * cl_yield and cl_raise are called from anywhere in a body, through any
 * depth of plain C calls, with no generator passed in, just as a Python
 * yield or raise names no frame (CPython finds it in the thread state).
 * _Thread_local gives every thread its own: a thread runs one body at a
 * time, and each resume saves the outer value and restores it afterwards.
 */
static _Thread_local struct cl_gen *cl__current;

static void cl__gen_main(void *arg);

struct cl_gen *cl_gen_new(void *(*fn)(void *arg), void *arg,
			  const char *name)
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
	err = cl_ctx_make(&g->ctx, g->stack->base, g->stack->size,
			  cl__gen_main, g);
	if (err < 0) {
		cl_stack_free(g->stack);
		free(g);
		errno = -err;
		return NULL;
	}
	return g;
}

/*
 * The generator has finished, by returning (why == CL_GEN_RETURNED, the
 * value in the mailbox) or by raising (CL_GEN_RAISED, the exception in
 * the mailbox). Mark it closed, give its stack back now (CPython drops a
 * finished generator's frame too), and hand the result to the caller.
 */
static int cl__gen_finish(struct cl_gen *g, int why, void **out)
{
	struct cl_exc *e = g->exc;

	g->state = CL_GEN_CLOSED;
	cl_stack_free(g->stack);
	g->stack = NULL;
	g->exc = NULL;
	if (why == CL_GEN_RETURNED) {
		*out = g->value;
		return CL_GEN_RETURNED;
	}
	/*
	 * PEP 479: a StopIteration escaping the body would look, to the
	 * caller, like the generator returning; make it a RuntimeError whose
	 * cause is the StopIteration, like CPython's gen_send_ex2.
	 */
	if (cl_exc_matches(e, &cl_StopIteration)) {
		struct cl_exc *rt = cl_exc_new(&cl_RuntimeError,
					       "generator raised StopIteration");
		cl_exc_set_context(rt, cl_exc_incref(e));
		cl_exc_set_cause(rt, e);
		e = rt;
	}
	*out = e;
	return CL_GEN_RAISED;
}

static int cl__gen_raise_here(const struct cl_exc_type *type,
			      const char *msg, void **out)
{
	*out = cl_exc_new(type, "%s", msg);
	return CL_GEN_RAISED;
}

/*
 * Run the body of a started or suspended generator until it yields,
 * returns or raises. The steps:
 *	1. put the sent value or the thrown exception in the mailbox;
 *	2. mark g running and make it the current generator;
 *	3. install g's handler chain, keeping ours;
 *	4. switch to g's stack, telling AddressSanitizer first;
 *	   ... the body runs until cl_yield or the trampoline switches back ...
 *	5. take our handler chain and our current generator back;
 *	6. read the mailbox: a yield suspends g, anything else finishes it.
 */
static int cl__gen_resume(struct cl_gen *g, void *value, struct cl_exc *exc,
			  void **out)
{
	// LAB ch02: Fill the mailbox, make g the running generator with its
	// LAB ch02: own handler chain, switch to its stack (cl_ctx_switch,
	// LAB ch02: inside the ASan annotations), then undo all of that and
	// LAB ch02: read what the body left in the mailbox.
	g->value = value;
	g->exc = exc;
	g->state = CL_GEN_RUNNING;
	g->caller_gen = cl__current;
	cl__current = g;
	g->caller_chain = cl_exc_swap_chain(g->chain);

	cl_ctx_switch(&g->caller, &g->ctx);

	g->chain = cl_exc_swap_chain(g->caller_chain);
	cl__current = g->caller_gen;
	if (g->why == CL_GEN_YIELDED) {
		g->state = CL_GEN_SUSPENDED;
		*out = g->value;
		return CL_GEN_YIELDED;
	}
	return cl__gen_finish(g, g->why, out);
	// STUB ch02:
	// (void)g, (void)value, (void)exc;
	// cl_exc_decref(exc);
	// return cl__gen_raise_here(&cl_NotImplementedError,
	//			  "cl_gen_resume: not implemented (TODO ch02)",
	//			  out);
	// END ch02
}

/*
 * The first function on a generator's stack. It runs the body inside a
 * handler that catches anything the body lets escape, posts the outcome
 * in the mailbox and switches back for the last time. It never returns:
 * there is nothing below it on this stack to return to.
 */
static void cl__gen_main(void *arg)
{
	struct cl_gen *g = arg;

	CL_TRY {
		g->value = g->fn(g->arg);
		g->why = CL_GEN_RETURNED;
	} CL_CATCH(e) {
		g->exc = e;
		g->why = CL_GEN_RAISED;
	} CL_END_TRY;
	cl_ctx_switch(&g->ctx, &g->caller);
	abort(); /* a finished generator is never resumed */
}

void *cl_yield(void *value)
{
	struct cl_gen *g = cl__current;
	struct cl_exc *e;

	if (g == NULL)
		cl_raise(cl_exc_new(&cl_RuntimeError,
				    "cl_yield outside a generator"));
	g->value = value;
	g->why = CL_GEN_YIELDED;
	cl_ctx_switch(&g->ctx, &g->caller);

	/* Resumed: by a throw or close if the mailbox holds an exception. */
	e = g->exc;
	if (e != NULL) {
		g->exc = NULL;
		cl_raise(e);
	}
	return g->value;
}

int cl_gen_send(struct cl_gen *g, void *value, void **out)
{
	// LAB ch02: The checks of CPython's gen_send_ex2, in its order:
	// LAB ch02: a non-NULL value to an unstarted generator is a TypeError
	// LAB ch02: (it stays unstarted), a running one a ValueError, a
	// LAB ch02: finished one returns NULL; otherwise resume the body.
	switch (g->state) {
	case CL_GEN_CREATED:
		if (value != NULL)
			return cl__gen_raise_here(&cl_TypeError,
						  "can't send non-None value to "
						  "a just-started generator",
						  out);
		break;
	case CL_GEN_RUNNING:
		return cl__gen_raise_here(&cl_ValueError,
					  "generator already executing", out);
	case CL_GEN_CLOSED:
		*out = NULL;
		return CL_GEN_RETURNED;
	case CL_GEN_SUSPENDED:
		break;
	}
	return cl__gen_resume(g, value, NULL, out);
	// STUB ch02:
	// (void)g, (void)value;
	// return cl__gen_raise_here(&cl_NotImplementedError,
	//			  "cl_gen_send: not implemented (TODO ch02)",
	//			  out);
	// END ch02
}

int cl_gen_next(struct cl_gen *g, void **out)
{
	return cl_gen_send(g, NULL, out);
}

int cl_gen_throw(struct cl_gen *g, struct cl_exc *exc, void **out)
{
	// LAB ch02: A running generator refuses (ValueError) and drops exc; a
	// LAB ch02: finished one hands exc straight back; an unstarted one is
	// LAB ch02: finished at once with exc (none of its body runs); a
	// LAB ch02: suspended one gets exc raised at its cl_yield.
	switch (g->state) {
	case CL_GEN_RUNNING:
		cl_exc_decref(exc);
		return cl__gen_raise_here(&cl_ValueError,
					  "generator already executing", out);
	case CL_GEN_CLOSED:
		*out = exc;
		return CL_GEN_RAISED;
	case CL_GEN_CREATED:
		g->exc = exc;
		return cl__gen_finish(g, CL_GEN_RAISED, out);
	case CL_GEN_SUSPENDED:
		break;
	}
	return cl__gen_resume(g, NULL, exc, out);
	// STUB ch02:
	// (void)g;
	// cl_exc_decref(exc);
	// return cl__gen_raise_here(&cl_NotImplementedError,
	//			  "cl_gen_throw: not implemented (TODO ch02)",
	//			  out);
	// END ch02
}

int cl_gen_close(struct cl_gen *g, struct cl_exc **err)
{
	void *out;
	int status;

	// LAB ch02: Throw GeneratorExit and judge the outcome as CPython's
	// LAB ch02: gen_close does: a yield is a RuntimeError, a return or
	// LAB ch02: GeneratorExit itself is success, anything else an error.
	*err = NULL;
	status = cl_gen_throw(g, cl_exc_new(&cl_GeneratorExit, "%s", ""),
			      &out);
	if (status == CL_GEN_RETURNED)
		return 0;
	if (status == CL_GEN_YIELDED) {
		*err = cl_exc_new(&cl_RuntimeError,
				  "generator ignored GeneratorExit");
		return CL_GEN_RAISED;
	}
	if (cl_exc_matches(out, &cl_GeneratorExit)) {
		cl_exc_decref(out);
		return 0;
	}
	*err = out;
	return CL_GEN_RAISED;
	// STUB ch02:
	// (void)g, (void)out, (void)status;
	// *err = cl_exc_new(&cl_NotImplementedError,
	//		  "cl_gen_close: not implemented (TODO ch02)");
	// return CL_GEN_RAISED;
	// END ch02
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
	/* Still holding a stack: never started, or it ignored the close. */
	cl_stack_free(g->stack);
	free(g);
}
