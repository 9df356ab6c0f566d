/*
 * ctxvar.h - context variables: contextvars.ContextVar, Token, Context.
 *
 * A server handles many requests at once, each in its own tasks, and
 * wants every log line to name its request. A global would not do: while
 * one request's task waits, another's runs and sets the global, and the
 * first task wakes up to find the wrong id in it. A thread-local would
 * not do either: all the tasks share one thread. What is needed is a
 * variable whose value belongs to the task, and to the tasks and
 * callbacks that task starts. That is a context variable.
 *
 *	static struct cl_contextvar request_id;	request_id = ContextVar(
 *	cl_contextvar_init(&request_id, "rid");	    "rid")
 *	...
 *	cl_contextvar_set(&request_id, rid);	request_id.set(rid)
 *	...					...
 *	rid = cl_contextvar_get(&request_id);	rid = request_id.get()
 *
 * A context is a map from variables to values (hamt.h: copying one is
 * taking a reference). One context is current at any moment; get and set
 * read and replace the current one's map. cl_context_run(ctx, fn, arg)
 * makes ctx current while fn runs. Every task runs each of its steps in
 * its own context, a copy of the one current when the task was created,
 * and every callback runs in a copy of the one current when it was
 * scheduled: so a value set in one task is seen by the tasks it creates
 * afterwards, and by no other.
 *
 * Variables are compared by address. A variable must outlive every
 * context that holds a value for it (make it static). Values are opaque
 * pointers: a context neither copies nor frees them. Contexts and
 * tokens are reference counted; none of this is safe to share between
 * threads (each thread has its own current context).
 *
 * Python: Lib/contextvars.py and Python/context.c (PyContextVar_Get,
 * PyContextVar_Set, PyContextVar_Reset, _PyContext_Enter, _PyContext_Exit,
 * context_run), PEP 567; the task's side in Lib/asyncio/tasks.py
 * (Task.__init__ copies the context, __step runs in it) and events.py
 * (Handle runs its callback in self._context).
 */
#ifndef CL_CTXVAR_H
#define CL_CTXVAR_H

#include <stddef.h>
#include <stdint.h>

#include "hamt.h"

/* contextvars.ContextVar. Fill it with cl_contextvar_init. */
struct cl_contextvar {
	const char *name;   /* not copied: a string literal */
	void *default_value;
	int has_default;
	uint32_t hash;	    /* its hash in every context's map */
};

/* ContextVar(name) and ContextVar(name, default=value). */
void cl_contextvar_init(struct cl_contextvar *v, const char *name);
void cl_contextvar_init_default(struct cl_contextvar *v, const char *name,
				void *value);

/*
 * var.get(): the value in the current context, else the variable's
 * default, else raise LookupError (its value, cl_exc_value, is v).
 * cl_contextvar_get_or is var.get(dflt): dflt takes the default's place.
 */
void *cl_contextvar_get(struct cl_contextvar *v);
void *cl_contextvar_get_or(struct cl_contextvar *v, void *dflt);

/*
 * var.set(value) in the current context. cl_contextvar_set_token also
 * returns the Token (one reference) that cl_contextvar_reset takes to
 * put back what was there before. Both raise MemoryError if memory ran
 * out (and then change nothing).
 */
void cl_contextvar_set(struct cl_contextvar *v, void *value);
struct cl_token *cl_contextvar_set_token(struct cl_contextvar *v, void *value);

/*
 * var.reset(token): v gets back the value it had before the set that
 * made the token, or loses its value if it had none. A token is used
 * once (RuntimeError the second time) and only with the variable and in
 * the context it was made in (ValueError otherwise); on error nothing
 * changes. Tokens of one variable may be reset in any order. The
 * token's reference stays the caller's.
 */
void cl_contextvar_reset(struct cl_contextvar *v, struct cl_token *t);

/* Token.MISSING: what a token's old value is when there was none. */
extern char cl__missing;
#define CL_MISSING ((void *)&cl__missing)

/* contextvars.Token. */
struct cl_token {
	int refcnt;
	int used;		 /* reset already */
	struct cl_contextvar *var;
	struct cl_context *ctx;	 /* a reference */
	void *old_value;	 /* CL_MISSING if none */
};

struct cl_token *cl_token_incref(struct cl_token *t); /* returns t */
void cl_token_decref(struct cl_token *t);	       /* NULL is fine */

static inline void *cl_token_old_value(const struct cl_token *t)
{
	return t->old_value;
}

static inline struct cl_contextvar *cl_token_var(const struct cl_token *t)
{
	return t->var;
}

/* contextvars.Context. */
struct cl_context {
	int refcnt;
	int entered;		 /* current, or below the current one */
	struct cl_context *prev; /* the one current before it was entered */
	struct cl_hamt *vars;	 /* its map: a reference */
	unsigned long id;	 /* ctx:N in the trace */
};

/* Context(): a new empty context (one reference). NULL and errno
 * (ENOMEM) on error. */
struct cl_context *cl_context_new(void);

/* copy_context() and ctx.copy(): a new context (one reference) with the
 * same map. NULL and errno on error. */
struct cl_context *cl_copy_context(void);
struct cl_context *cl_context_copy(const struct cl_context *c);

/*
 * A copy of c that shares no node with it, for another thread (chapter
 * 07's to_thread): maps and contexts count their references without
 * atomics, so a thread may only touch the nodes it owns. O(n) in the
 * number of variables set, where cl_context_copy is O(1). NULL and
 * errno on error.
 */
struct cl_context *cl_context_copy_unshared(const struct cl_context *c);

/* Copies are made and dropped for every callback: inline counts. */
void cl__context_free(struct cl_context *c);

static inline struct cl_context *cl_context_incref(struct cl_context *c)
{
	c->refcnt++;
	return c;
}

static inline void cl_context_decref(struct cl_context *c) /* NULL is fine */
{
	if (c != NULL && --c->refcnt == 0)
		cl__context_free(c);
}

/* cl_context_decref as a call, off the hot path of whoever calls it. */
void cl__context_free_ref(struct cl_context *c);

/* The current context (borrowed): the thread's base context, made on
 * first use, until something enters another. */
struct cl_context *cl_context_current(void);

/*
 * ctx.run(fn, arg): fn(arg) with c current, and the context current
 * before back when fn returns or raises (the exception goes on). What
 * fn sets stays in c. Entering a context that is entered already (it is
 * current, or under the current one) raises RuntimeError.
 */
void *cl_context_run(struct cl_context *c, void *(*fn)(void *arg),
		     void *arg);

/* The mapping: len(ctx), var in ctx, ctx.get(var, dflt) and ctx[var]
 * (KeyError if absent, its value v). */
size_t cl_context_len(const struct cl_context *c);
int cl_context_contains(const struct cl_context *c,
			const struct cl_contextvar *v);
void *cl_context_get(const struct cl_context *c,
		     const struct cl_contextvar *v, void *dflt);
void *cl_context_getitem(const struct cl_context *c,
			 const struct cl_contextvar *v);

/* ctx.items(): as hamt.h's iterator (the order follows the variables'
 * hashes, not the order of the sets). c must stay alive meanwhile. */
struct cl_context_iter {
	struct cl_hamt_iter it;
};
void cl_context_iter_init(struct cl_context_iter *it,
			  const struct cl_context *c);
int cl_context_next(struct cl_context_iter *it, struct cl_contextvar **v,
		    void **value);

/*
 * For the loop: enter and leave c around a callback; a task's step is
 * a callback run in the task's context. cl__context_enter returns 0, or
 * -EBUSY if c is entered already (then nothing changed);
 * cl__context_exit undoes it (c must be current). cl__context_leave is
 * exit with a check: a coroutine that suspends inside a cl_context_run
 * of its own leaves another context current at the end of its step,
 * and that is reported and the program stopped. (Python's Context.run
 * takes a plain function, which cannot await.)
 */
int cl__context_enter(struct cl_context *c);
void cl__context_exit(struct cl_context *c);
void cl__context_leave(struct cl_context *c);

/* The RuntimeError for a context entered twice (Context.run's). */
struct cl_exc *cl__context_busy_error(const struct cl_context *c);

/* Free this thread's spare contexts (cl_loop_free calls it, as it frees
 * the spare handles). */
void cl__context_free_spares(void);

#endif
