/*
 * exc.h - exception objects and raise/try/catch on setjmp/longjmp.
 *
 * Python code raises and catches exceptions; C has no such thing, so we
 * build the smallest version that behaves the same way, the way Lua does
 * in ldo.c. Every CL_TRY block puts a handler (a struct cl_try holding a
 * jmp_buf) on a chain; cl_raise takes the newest handler off the chain and
 * longjmps to it with the exception. When no handler is left, the program
 * prints "corolab: uncaught TypeName: message" and aborts.
 *
 *	CL_TRY {
 *		parse(line);
 *	} CL_CATCH(e) {
 *		if (!cl_exc_matches(e, &cl_ValueError))
 *			cl_raise(e);		// not ours: pass it on
 *		printf("bad line: %s\n", cl_exc_message(e));
 *		cl_exc_decref(e);
 *	} CL_END_TRY;
 *
 * is the C spelling of
 *
 *	try:
 *		parse(line)
 *	except ValueError as e:
 *		print("bad line:", e)
 *
 * The rules, all consequences of setjmp/longjmp:
 *
 * 1. Never leave a CL_TRY block by return, goto, break or continue. Its
 *    handler would stay on the chain, pointing into a dead stack frame, and
 *    the next raise would jump there. Leave it by falling off its end or
 *    by raising. (The CL_CATCH block may be left any way you like: its
 *    handler is already off the chain when it runs.)
 * 2. A local variable of the function holding the CL_TRY that changes
 *    after CL_TRY starts and is read after a catch (in the CL_CATCH block,
 *    after CL_END_TRY, or in the next round of a loop around it) must be
 *    volatile. longjmp restores the registers as setjmp saved them, so a
 *    variable the compiler kept in a register comes back with its old
 *    value; C11 7.13.2.1 calls it indeterminate. volatile keeps it in
 *    memory. gcc's -Wclobbered (in -Wextra) catches many, not all.
 * 3. The catch block owns the reference to e: it must cl_exc_decref(e),
 *    keep it, or raise it again (cl_raise takes the reference over).
 *    "except SomeType" is a test and a re-raise:
 *	if (!cl_exc_matches(e, &cl_ValueError)) cl_raise(e);
 *    "finally" is a catch block that cleans up and re-raises, plus the
 *    same cleanup after CL_END_TRY.
 * 4. Each coroutine has its own chain. A longjmp must never cross from one
 *    stack to another, so the chain head is switched together with the
 *    stack (cl_exc_swap_chain, used by gen.c on every switch), and the
 *    bottom of every generator's chain is a handler in its trampoline that
 *    catches whatever the body lets escape.
 *
 * Exceptions are reference counted, like CPython's objects: cl_exc_new
 * returns one reference; cl_raise, cl_gen_throw and the __cause__ and
 * __context__ setters take one over; a catch block and a CL_GEN_RAISED
 * result hand one to you.
 *
 * Python: Objects/exceptions.c (the objects and the hierarchy), and for
 * the mechanism Lua's ldo.c (luaD_throw, luaD_rawrunprotected).
 * Chaining (__context__, __cause__) is only stored here; chapter 05 gives
 * it its meaning.
 */
#ifndef CL_EXC_H
#define CL_EXC_H

#include <setjmp.h>
#include <stddef.h>

/*
 * An exception type: a name and the type it derives from (NULL only for
 * BaseException). Types are static objects compared by address; a program
 * defines its own the same way:
 *
 *	const struct cl_exc_type MyError = { "MyError", &cl_Exception };
 */
struct cl_exc_type {
	const char *name;
	const struct cl_exc_type *base;
};

/*
 * The built-in hierarchy, the part of CPython's that corolab uses:
 *
 *	BaseException
 *	 +-- GeneratorExit
 *	 +-- Exception
 *	      +-- StopIteration
 *	      +-- MemoryError
 *	      +-- OSError
 *	      +-- RuntimeError
 *	      |    +-- NotImplementedError
 *	      +-- TypeError
 *	      +-- ValueError
 */
extern const struct cl_exc_type cl_BaseException;
extern const struct cl_exc_type cl_GeneratorExit;
extern const struct cl_exc_type cl_Exception;
extern const struct cl_exc_type cl_StopIteration;
extern const struct cl_exc_type cl_MemoryError;
extern const struct cl_exc_type cl_OSError;
extern const struct cl_exc_type cl_RuntimeError;
extern const struct cl_exc_type cl_NotImplementedError;
extern const struct cl_exc_type cl_TypeError;
extern const struct cl_exc_type cl_ValueError;

/*
 * An exception object. Created by cl_exc_new, freed when the last
 * reference goes. Only exc.c writes the fields; read them through the
 * accessors below.
 */
struct cl_exc {
	const struct cl_exc_type *type; /* fixed at creation */
	int refcnt;			/* cl_exc_incref / cl_exc_decref */
	void *value;			/* StopIteration.value; not owned */
	struct cl_exc *context;		/* __context__: owned reference */
	struct cl_exc *cause;		/* __cause__: owned reference */
	char msg[];			/* str(e): formatted at creation */
};

/*
 * A handler on the chain. Lives in the stack frame of the function that
 * wrote CL_TRY; only the macros and exc.c touch it.
 */
struct cl_try {
	struct cl_try *prev; /* the next older handler, NULL at the bottom */
	jmp_buf jb;	     /* where cl_raise jumps */
	struct cl_exc *exc;  /* set by cl_raise just before the jump */
};

/*
 * A new exception of the given type with a printf-formatted message (fmt
 * NULL for none: Python's bare "raise GeneratorExit"), holding one
 * reference. Never returns NULL: when memory runs out it returns the
 * preallocated MemoryError, as CPython does.
 */
struct cl_exc *cl_exc_new(const struct cl_exc_type *type, const char *fmt,
			  ...) __attribute__((format(printf, 2, 3)));

/* StopIteration(value): how a generator's return value travels. */
struct cl_exc *cl_exc_stop_iteration(void *value);

struct cl_exc *cl_exc_incref(struct cl_exc *e); /* returns e */
void cl_exc_decref(struct cl_exc *e);		 /* NULL is fine */

/* isinstance(e, type): true when type is e's type or one of its bases. */
int cl_exc_matches(const struct cl_exc *e, const struct cl_exc_type *type);

static inline const char *cl_exc_name(const struct cl_exc *e)
{
	return e->type->name;
}

static inline const char *cl_exc_message(const struct cl_exc *e)
{
	return e->msg;
}

static inline void *cl_exc_value(const struct cl_exc *e)
{
	return e->value;
}

/* e.__cause__ and e.__context__ (borrowed: NULL when not set). */
static inline struct cl_exc *cl_exc_cause(const struct cl_exc *e)
{
	return e->cause;
}

static inline struct cl_exc *cl_exc_context(const struct cl_exc *e)
{
	return e->context;
}

/* e.__cause__ = cause and e.__context__ = ctx; both take cause/ctx over. */
void cl_exc_set_cause(struct cl_exc *e, struct cl_exc *cause);
void cl_exc_set_context(struct cl_exc *e, struct cl_exc *ctx);

/*
 * raise e: jump to the newest handler of the running coroutine, which
 * receives the reference the caller held. With no handler at all, print
 * "corolab: uncaught TypeName: message" and abort.
 */
__attribute__((noreturn)) void cl_raise(struct cl_exc *e);

/*
 * Make head the current chain and return the one it replaces. A context
 * switch calls it twice: once to install the chain of the coroutine it
 * resumes, once to take it back when that coroutine suspends.
 */
struct cl_try *cl_exc_swap_chain(struct cl_try *head);

/* Used by the macros only. */
void cl__try_push(struct cl_try *t);
void cl__try_pop(struct cl_try *t);

/*
 * CL_TRY { ... } CL_CATCH(e) { ... } CL_END_TRY;
 *
 * CL_TRY pushes a handler and calls setjmp, which returns 0. If the block
 * ends normally, CL_CATCH pops the handler and the catch block is skipped.
 * If something in the block (or anything it calls) raises, cl_raise pops
 * the handler and longjmps to it: setjmp returns a second time, nonzero,
 * and the catch block runs with e set. The braces make the handler and e
 * local to one statement.
 */
#define CL_TRY                                                               \
	{                                                                    \
		struct cl_try cl__try;                                       \
		cl__try_push(&cl__try);                                      \
		if (setjmp(cl__try.jb) == 0) {

#define CL_CATCH(e)                                                          \
			cl__try_pop(&cl__try);                               \
		} else {                                                     \
			struct cl_exc *e = cl__try.exc;

#define CL_END_TRY                                                           \
		}                                                            \
	}

#endif
