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
 * Chapter 05 adds what makes them Python's: every raise records where it
 * happened (cl_raise is a macro that passes its call site), so an
 * exception carries a traceback; a raise inside a catch block chains the
 * exception being handled as __context__ (traceback.c); exception groups
 * (group.c).
 *
 * Python: Objects/exceptions.c (the objects and the hierarchy), and for
 * the mechanism Lua's ldo.c (luaD_throw, luaD_rawrunprotected).
 */
#ifndef CL_EXC_H
#define CL_EXC_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>

/*
 * An exception type: a name and the type it derives from (NULL only for
 * BaseException). Types are static objects compared by address; a program
 * defines its own the same way:
 *
 *	const struct cl_exc_type MyError = { "MyError", &cl_Exception };
 */
struct cl_exc_type {
	const char *name; /* with its module when it is not a built-in, as
			     a traceback prints it:
			     "asyncio.exceptions.CancelledError" */
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
 *	      +-- RuntimeError
 *	      |    +-- NotImplementedError
 *	      +-- TypeError
 *	      +-- ValueError
 *	      +-- LookupError
 *	      |    +-- KeyError
 *	      +-- ArithmeticError
 *	      |    +-- ZeroDivisionError
 *	      +-- OSError
 *	           +-- TimeoutError
 *
 * and the groups (group.c): BaseExceptionGroup derives from
 * BaseException, ExceptionGroup from both it and Exception (CPython's
 * one case of two bases; cl_exc_matches knows it).
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
extern const struct cl_exc_type cl_LookupError;
extern const struct cl_exc_type cl_KeyError;
extern const struct cl_exc_type cl_ArithmeticError;
extern const struct cl_exc_type cl_ZeroDivisionError;
extern const struct cl_exc_type cl_TimeoutError;
extern const struct cl_exc_type cl_BaseExceptionGroup;
extern const struct cl_exc_type cl_ExceptionGroup;

/*
 * Where a raise or an await happened: one static object per call site,
 * made by CL_HERE, so that recording a site costs one pointer.
 */
struct cl_site {
	const char *func;
	const char *file;
	int line;
};

#define CL_HERE                                                              \
	({                                                                   \
		static const struct cl_site cl__site = { __func__, __FILE__, \
							 __LINE__ };         \
		&cl__site;                                                   \
	})

/*
 * One entry of a traceback: a site the exception passed through, and the
 * entry below it (nearer the raise). Entries are shared and never change
 * once made, like CPython's traceback objects: a future keeps the
 * traceback its exception had when it was set, and every await of it
 * starts again from there (Future.result's with_traceback).
 */
struct cl_tb {
	int refcnt;
	struct cl_tb *next;
	const struct cl_site *site;
};

/*
 * An exception object. Created by cl_exc_new, freed when the last
 * reference goes. Only exc.c writes the fields; read them through the
 * accessors below.
 */
struct cl_exc {
	const struct cl_exc_type *type; /* fixed at creation */
	int refcnt;			/* cl_exc_incref / cl_exc_decref */
	unsigned char has_args;		/* ValueError('') has; ValueError()
					   not: fmt was NULL */
	unsigned char suppress_context; /* __suppress_context__ */
	void *value;			/* StopIteration.value; not owned */
	struct cl_exc *context;		/* __context__: owned reference */
	struct cl_exc *cause;		/* __cause__: owned reference */
	struct cl_tb *tb;		/* __traceback__, outermost first:
					   owned reference */
	struct cl_exc **members;	/* a group's exceptions, owned */
	size_t nmembers;
	char msg[];			/* str(e): formatted at creation */
};

/*
 * A handler on the chain. Lives in the stack frame of the function that
 * wrote CL_TRY; only the macros and exc.c touch it.
 */
struct cl_try {
	struct cl_try *prev; /* the next older handler, NULL at the bottom */
	struct cl_exc *handled; /* non-NULL: not a handler but a catch block
				   running, handling this (a reference) */
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

/* The type's name without its module: "CancelledError". */
const char *cl_exc_name(const struct cl_exc *e);

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

/* The object an exception is about, as e.args[0] (chapter 06's
 * LookupError names its variable): not owned. */
static inline void cl_exc_set_value(struct cl_exc *e, void *value)
{
	e->value = value;
}

/* e.__cause__ = cause and e.__context__ = ctx; both take cause/ctx over. */
void cl_exc_set_cause(struct cl_exc *e, struct cl_exc *cause);
void cl_exc_set_context(struct cl_exc *e, struct cl_exc *ctx);

/*
 * raise e: jump to the newest handler of the running coroutine, which
 * receives the reference the caller held. The call site joins e's
 * traceback (unless e was raised last in the same function: a re-raise
 * keeps the line of the first), and if a catch block of this coroutine
 * is handling another exception, that one becomes e's __context__. With
 * no handler at all, print the traceback and abort.
 */
#define cl_raise(e) cl__raise_at((e), CL_HERE)
__attribute__((noreturn)) void cl__raise_at(struct cl_exc *e,
					     const struct cl_site *site);

/*
 * raise e from cause: e.__cause__ = cause (taken over), and the context
 * is not shown. cause NULL is "raise e from None".
 */
#define cl_raise_from(e, cause) cl__raise_from_at((e), (cause), CL_HERE)
__attribute__((noreturn)) void cl__raise_from_at(struct cl_exc *e,
						  struct cl_exc *cause,
						  const struct cl_site *site);

/* The exception a catch block of the running coroutine is handling
 * (sys.exception()), borrowed; NULL if none. */
struct cl_exc *cl_exc_handled(void);

/* The traceback, the chain and the groups, as Python prints them
 * (traceback.c). */
void cl_exc_print(const struct cl_exc *e, FILE *out);

/* repr(e): "ValueError('x')", "ValueError()"; into buf, returned. */
const char *cl_exc_repr(const struct cl_exc *e, char *buf, size_t size);

/* str(e): the message; a KeyError's is quoted, as repr of its key. */
const char *cl_exc_str(const struct cl_exc *e, char *buf, size_t size);

/* Add site to the front of e's traceback (used by awaits). */
void cl__exc_add_frame(struct cl_exc *e, const struct cl_site *site);

/*
 * Exception groups (group.c). cl_exc_group_new takes over the n member
 * references and makes an ExceptionGroup when all are Exceptions, else a
 * BaseExceptionGroup (n == 0: a ValueError instead, as CPython raises).
 * cl_exc_split gives new references (or NULL) to the matching members and
 * to the rest, each a group shaped like g; cl_exc_subgroup the first.
 */
struct cl_exc *cl_exc_group_new(const char *msg, size_t n,
				struct cl_exc *const members[]);
void cl_exc_split(struct cl_exc *g, const struct cl_exc_type *type,
		  struct cl_exc **match, struct cl_exc **rest);
struct cl_exc *cl_exc_subgroup(struct cl_exc *g,
			       const struct cl_exc_type *type);

/* The traceback entries' counts. */
struct cl_tb *cl__tb_incref(struct cl_tb *tb);
void cl__tb_decref(struct cl_tb *tb);

/* Set e.__context__ to the exception being handled, cutting cycles as
 * CPython's _PyErr_SetObject does (traceback.c; cl_raise calls it). */
void cl__exc_chain(struct cl_exc *e, struct cl_exc *handled);

/*
 * Make head the current chain and return the one it replaces. A context
 * switch calls it twice: once to install the chain of the coroutine it
 * resumes, once to take it back when that coroutine suspends.
 */
struct cl_try *cl_exc_swap_chain(struct cl_try *head);

/* Used by the macros only. */
void cl__try_push(struct cl_try *t);
void cl__try_pop(struct cl_try *t);
struct cl_try *cl__catch_begin(struct cl_try *t);
void cl__catch_end(struct cl_try **t);

/*
 * CL_TRY { ... } CL_CATCH(e) { ... } CL_END_TRY;
 *
 * CL_TRY pushes a handler and calls setjmp, which returns 0. If the block
 * ends normally, CL_CATCH pops the handler and the catch block is skipped.
 * If something in the block (or anything it calls) raises, cl_raise pops
 * the handler and longjmps to it: setjmp returns a second time, nonzero,
 * and the catch block runs with e set. The braces make the handler and e
 * local to one statement.
 *
 * While the catch block runs, its struct cl_try goes back on the chain
 * as a marker holding e: that is how a raise inside the block finds the
 * exception being handled (its __context__), and why the marker travels
 * with the coroutine's chain across switches, as CPython keeps exc_info
 * per generator. The marker comes off when the block is left: by a raise
 * (cl_raise skips and drops markers on its way to a handler), or any
 * other way (the cleanup attribute, a GNU C extension, runs
 * cl__catch_end when the block's scope ends, by return or break too).
 */
#define CL_TRY                                                               \
	{                                                                    \
		struct cl_try cl__try;                                       \
		cl__try_push(&cl__try);                                      \
		if (setjmp(cl__try.jb) == 0) {

#define CL_CATCH(e)                                                          \
			cl__try_pop(&cl__try);                               \
		} else {                                                     \
			struct cl_try *cl__catching                          \
				__attribute__((cleanup(cl__catch_end))) =    \
					cl__catch_begin(&cl__try);           \
			struct cl_exc *e = cl__try.exc;

#define CL_END_TRY                                                           \
		}                                                            \
	}

#endif
