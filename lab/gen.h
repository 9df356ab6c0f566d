/*
 * gen.h - stackful generators with Python's whole generator protocol.
 *
 * A generator is a function that runs on a stack of its own. The caller
 * resumes it with cl_gen_send; the body suspends itself with cl_yield,
 * from any depth of ordinary C calls, and the caller gets the yielded
 * value back. The body's return value ends the generator, as a Python
 * generator's return ends it with StopIteration(value).
 *
 *	static void *count(void *arg)		def count(n):
 *	{					    for i in range(n):
 *		intptr_t n = CL_TOINT(arg);	        yield i
 *						    return n
 *		for (intptr_t i = 0; i < n; i++)
 *			cl_yield(CL_INT(i));
 *		return CL_INT(n);
 *	}
 *
 * Each resuming call returns a status and fills *out:
 *
 *	CL_GEN_YIELDED	the body called cl_yield(v): *out = v
 *	CL_GEN_RETURNED	the body returned r: *out = r (StopIteration.value);
 *			NULL when the generator had already finished
 *	CL_GEN_RAISED	an exception came out: *out is a struct cl_exc *
 *			and the caller owns that reference
 *
 * The statuses are the three ways a Python call to send() can end:
 * it returns a value, it raises StopIteration, it raises something else.
 * out (and close's err) must not be NULL: an exception cannot be ignored
 * by accident.
 *
 * NULL plays Python's None: next() sends it, a bare return returns it.
 * CL_INT(0) is NULL as well, so 0 and None look the same to a body; a
 * generator that must tell them apart passes pointers, not CL_INT.
 *
 * A generator belongs to the thread that made it (its stack is watched
 * for overflow there); resume it from that thread only.
 *
 * Python: Objects/genobject.c (gen_send_ex2, gen_throw, gen_close,
 * _PyGen_Finalize) and PEP 342 (send, throw, close), PEP 380 (yield from),
 * PEP 479 (StopIteration inside a generator).
 */
#ifndef CL_GEN_H
#define CL_GEN_H

#include "exc.h"
#include "value.h"

/*
 * What a resuming call returns (chapter 01's cl_sgen uses the same
 * numbers). None is 0, which cl_gen_close returns for success.
 */
enum cl_gen_status {
	CL_GEN_YIELDED = 1,
	CL_GEN_RETURNED = 2,
	CL_GEN_RAISED = 3,
};

/* Where a generator is in its life: inspect.getgeneratorstate(). */
enum cl_gen_state {
	CL_GEN_CREATED,	  /* made, body not started: GEN_CREATED */
	CL_GEN_SUSPENDED, /* stopped in cl_yield: GEN_SUSPENDED */
	CL_GEN_RUNNING,	  /* its body is executing: GEN_RUNNING */
	CL_GEN_CLOSED,	  /* returned, raised or closed: GEN_CLOSED */
};

struct cl_gen;

/*
 * A generator that will run fn(arg) on a stack of its own (the default
 * size of cl_stack_alloc). It does not start: the first cl_gen_send (or
 * cl_gen_next) runs the body up to its first cl_yield. name is copied;
 * NULL means "generator". Returns NULL and sets errno on failure.
 */
struct cl_gen *cl_gen_new(void *(*fn)(void *arg), void *arg, const char *name);

/*
 * g.send(value). The first resume must send NULL (Python's None):
 * anything else raises TypeError and leaves the generator unstarted.
 * A finished generator returns CL_GEN_RETURNED with *out = NULL.
 * Resuming a running generator raises ValueError.
 */
int cl_gen_send(struct cl_gen *g, void *value, void **out);

/* next(g), which is g.send(None). */
int cl_gen_next(struct cl_gen *g, void **out);

/*
 * g.throw(exc): raise exc at the cl_yield where g is suspended. Takes over
 * the reference to exc. If the body catches it and yields again, that is
 * CL_GEN_YIELDED; if it returns, CL_GEN_RETURNED; if exc (or another
 * exception) escapes, CL_GEN_RAISED and g is finished. An unstarted
 * generator is finished without running any of its body and exc comes
 * straight back; so does it from a finished one.
 */
int cl_gen_throw(struct cl_gen *g, struct cl_exc *exc, void **out);

/*
 * g.close(): throw GeneratorExit at the suspension point. Returns 0 when
 * the generator finished (by letting GeneratorExit out or by returning),
 * or CL_GEN_RAISED with *err set (a reference you own): RuntimeError
 * "generator ignored GeneratorExit" when the body yielded again, or
 * whatever other exception the body raised. Closing an unstarted or a
 * finished generator just marks it finished.
 */
int cl_gen_close(struct cl_gen *g, struct cl_exc **err);

/*
 * Called by the body (or any function it calls): suspend the running
 * generator and hand value to whoever resumed it. Returns the value of
 * the next cl_gen_send; raises here the exception of a cl_gen_throw or
 * cl_gen_close. Outside any generator it raises RuntimeError.
 */
#define cl_yield(value) cl__yield_at((value), CL_HERE)
void *cl__yield_at(void *value, const struct cl_site *site);

/* cl_yield that hands back the exception thrown in (NULL if none,
 * else a reference) instead of raising it: for cl_await, which looks
 * at it before raising it. */
void *cl__yield_exc(void *value, struct cl_exc **exc);

/*
 * yield from sub: run sub to the end as if its body were ours. Its yields
 * go to our caller, our caller's sends and throws go to sub, closing us
 * closes sub first, sub's return value is returned here and an exception
 * it lets out is raised here (PEP 380). sub stays the caller's to free.
 * Plain C helpers need none of this, they can call cl_yield themselves;
 * this is for delegating to another generator object.
 */
void *cl_yield_from(struct cl_gen *sub);

/* The generator whose body is running on this thread, NULL outside. */
struct cl_gen *cl_gen_current(void);

/*
 * Chapter 09. cl__gen_frame: g's stack, [*lo, *hi), and where its saved
 * registers sit (*sp, the context's saved stack pointer; NULL while g
 * runs); -1 when g holds no stack (finished). cl__gen_stack: its stack
 * or NULL. cl__gen_set_origin: g is a coroutine object made at site
 * (debug.h).
 */
struct cl_stack;
int cl__gen_frame(const struct cl_gen *g, void **sp, void **lo, void **hi);
struct cl_stack *cl__gen_stack(const struct cl_gen *g);
void cl__gen_set_origin(struct cl_gen *g, const struct cl_site *site);
void cl__debug_unawaited(const char *name, const struct cl_site *origin);

enum cl_gen_state cl_gen_state(const struct cl_gen *g);
const char *cl_gen_name(const struct cl_gen *g); /* g.__name__ */

/*
 * Free g and its stack. A suspended generator is closed first, as
 * CPython's finalizer does, so its cleanup code runs; an error from that
 * close is printed ("exception ignored"), as CPython prints it. Freeing
 * a running generator is a bug and aborts.
 */
void cl_gen_free(struct cl_gen *g);

#endif
