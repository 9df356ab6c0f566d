/*
 * exc.c - exception objects and the handler chain behind CL_TRY.
 *
 * See exc.h for the rules of use. This file holds the built-in types, the
 * reference counting, and the three operations on the chain: push (CL_TRY),
 * pop (a CL_TRY block that ends normally) and raise (longjmp to the newest
 * handler).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exc.h"

const struct cl_exc_type cl_BaseException = { "BaseException", NULL };
const struct cl_exc_type cl_GeneratorExit = { "GeneratorExit",
					      &cl_BaseException };
const struct cl_exc_type cl_Exception = { "Exception", &cl_BaseException };
const struct cl_exc_type cl_StopIteration = { "StopIteration",
					      &cl_Exception };
const struct cl_exc_type cl_MemoryError = { "MemoryError", &cl_Exception };
const struct cl_exc_type cl_OSError = { "OSError", &cl_Exception };
const struct cl_exc_type cl_RuntimeError = { "RuntimeError", &cl_Exception };
const struct cl_exc_type cl_NotImplementedError = { "NotImplementedError",
						    &cl_RuntimeError };
const struct cl_exc_type cl_TypeError = { "TypeError", &cl_Exception };
const struct cl_exc_type cl_ValueError = { "ValueError", &cl_Exception };
const struct cl_exc_type cl_LookupError = { "LookupError", &cl_Exception };
const struct cl_exc_type cl_KeyError = { "KeyError", &cl_LookupError };
const struct cl_exc_type cl_ArithmeticError = { "ArithmeticError",
						&cl_Exception };
const struct cl_exc_type cl_ZeroDivisionError = { "ZeroDivisionError",
						  &cl_ArithmeticError };
const struct cl_exc_type cl_TimeoutError = { "TimeoutError", &cl_OSError };
const struct cl_exc_type cl_BaseExceptionGroup = { "BaseExceptionGroup",
						   &cl_BaseException };
const struct cl_exc_type cl_ExceptionGroup = { "ExceptionGroup",
					       &cl_BaseExceptionGroup };

/*
 * The newest handler of the coroutine running on this thread. It is
 * global state, and it has to be: cl_raise is called from anywhere,
 * through any depth of plain C calls that were never handed a handler,
 * as a Python raise names no frame (CPython keeps the running frame and
 * the exception being handled in its thread state). gen.c keeps the
 * running generator global for the same reason. Its true scope is the
 * thread: a thread runs one coroutine at a time, so _Thread_local, and
 * every switch puts the chain of the coroutine it resumes in place
 * (cl_exc_swap_chain).
 */
static _Thread_local struct cl_try *cl__head;

/*
 * When malloc fails we cannot allocate the MemoryError either, so one is
 * preallocated, like CPython's. Its count never reaches zero: decref
 * leaves it alone.
 */
static struct cl_exc cl__nomem = { .type = &cl_MemoryError, .refcnt = 1,
				   .msg = "" };

struct cl_exc *cl_exc_new(const struct cl_exc_type *type, const char *fmt,
			  ...)
{
	va_list ap;
	int len = 0;
	struct cl_exc *e;

	/* Measure the message, then allocate object and text in one go. */
	if (fmt != NULL) {
		va_start(ap, fmt);
		len = vsnprintf(NULL, 0, fmt, ap);
		va_end(ap);
		if (len < 0)
			len = 0;
	}
	e = malloc(sizeof *e + (size_t)len + 1);
	if (e == NULL)
		return &cl__nomem;
	e->msg[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->msg, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	e->type = type;
	e->refcnt = 1;
	e->has_args = fmt != NULL;
	e->suppress_context = 0;
	e->value = NULL;
	e->context = NULL;
	e->cause = NULL;
	e->tb = NULL;
	e->members = NULL;
	e->nmembers = 0;
	return e;
}

struct cl_exc *cl_exc_stop_iteration(void *value)
{
	struct cl_exc *e = cl_exc_new(&cl_StopIteration, NULL);

	if (e != &cl__nomem)
		e->value = value;
	return e;
}

struct cl_exc *cl_exc_incref(struct cl_exc *e)
{
	if (e != &cl__nomem)
		e->refcnt++;
	return e;
}

void cl_exc_decref(struct cl_exc *e)
{
	if (e == NULL || e == &cl__nomem || --e->refcnt > 0)
		return;
	cl_exc_decref(e->context);
	cl_exc_decref(e->cause);
	cl__tb_decref(e->tb);
	for (size_t i = 0; i < e->nmembers; i++)
		cl_exc_decref(e->members[i]);
	free(e->members);
	free(e);
}

const char *cl_exc_name(const struct cl_exc *e)
{
	const char *dot = strrchr(e->type->name, '.');

	return dot != NULL ? dot + 1 : e->type->name;
}

int cl_exc_matches(const struct cl_exc *e, const struct cl_exc_type *type)
{
	for (const struct cl_exc_type *t = e->type; t != NULL; t = t->base) {
		if (t == type)
			return 1;
		/* class ExceptionGroup(BaseExceptionGroup, Exception) */
		if (t == &cl_ExceptionGroup && type == &cl_Exception)
			return 1;
	}
	return 0;
}

struct cl_tb *cl__tb_incref(struct cl_tb *tb)
{
	if (tb != NULL)
		tb->refcnt++;
	return tb;
}

void cl__tb_decref(struct cl_tb *tb)
{
	while (tb != NULL && --tb->refcnt == 0) {
		struct cl_tb *next = tb->next;

		free(tb);
		tb = next;
	}
}

void cl__exc_add_frame(struct cl_exc *e, const struct cl_site *site)
{
	/* TODO(ch05): site becomes the outermost entry of e's traceback:
	 * a new struct cl_tb (one reference, held by e) whose next is
	 * the traceback e had. Out of memory, or e the preallocated
	 * MemoryError: e is left as it is. Mirrors Python/traceback.c
	 * PyTraceBack_Here; read section 2.
	 * Hints: make hint CH=5 TODO=tb_frame (1 level). */
	(void)e, (void)site;
}

void cl_exc_set_cause(struct cl_exc *e, struct cl_exc *cause)
{
	if (e == &cl__nomem) {
		cl_exc_decref(cause);
		return;
	}
	cl_exc_decref(e->cause);
	e->cause = cause;
}

void cl_exc_set_context(struct cl_exc *e, struct cl_exc *ctx)
{
	if (e == &cl__nomem) {
		cl_exc_decref(ctx);
		return;
	}
	cl_exc_decref(e->context);
	e->context = ctx;
}

void cl__try_push(struct cl_try *t)
{
	t->prev = cl__head;
	t->handled = NULL;
	t->exc = NULL;
	cl__head = t;
}

void cl__try_pop(struct cl_try *t)
{
	cl__head = t->prev;
}

/* A catch block starts: its handler, off the chain since the raise,
 * goes back on as the marker of the exception being handled. */
struct cl_try *cl__catch_begin(struct cl_try *t)
{
	t->handled = cl_exc_incref(t->exc);
	t->prev = cl__head;
	cl__head = t;
	return t;
}

/* The catch block is left other than by a raise: its marker comes off.
 * Everything pushed inside the block is off already (rule 1). */
void cl__catch_end(struct cl_try **pt)
{
	struct cl_try *t = *pt;

	if (cl__head != t) {
		/* A CL_TRY inside the block was left by return, goto or
		 * break, or the chain is another coroutine's: either way a
		 * handler points into a dead frame, and the next raise would
		 * jump there. Stop now, saying why. */
		fflush(stdout);
		fprintf(stderr, "corolab: a CL_CATCH block ended with another "
				"handler on top of its own: a CL_TRY block was "
				"left by return, goto or break (exc.h, rule 1), "
				"or the chain was not switched with the stack "
				"(rule 4)\n");
		abort();
	}
	cl__head = t->prev;
	cl_exc_decref(t->handled);
	t->handled = NULL;
}

struct cl_exc *cl_exc_handled(void)
{
	for (struct cl_try *t = cl__head; t != NULL; t = t->prev)
		if (t->handled != NULL)
			return t->handled;
	return NULL;
}

void cl__raise_at(struct cl_exc *e, const struct cl_site *site)
{
	struct cl_exc *handled = cl_exc_handled();
	struct cl_try *t = cl__head;

	if (handled != NULL && handled != e)
		cl__exc_chain(e, handled);
	/* A re-raise in the function that raised keeps the first line,
	 * as a bare "raise" does. */
	if (e->tb == NULL || e->tb->site->func != site->func)
		cl__exc_add_frame(e, site);
	/* Leaving catch blocks: their markers come off on the way. */
	while (t != NULL && t->handled != NULL) {
		cl_exc_decref(t->handled);
		t->handled = NULL;
		t = t->prev;
	}
	if (t == NULL) {
		/* Python prints the traceback and exits; we print it and
		 * abort, leaving a core for the debugger. */
		fflush(stdout);
		cl_exc_print(e, stderr);
		abort();
	}
	/* Pop first: a raise inside the catch block goes one handler out. */
	cl__head = t->prev;
	t->exc = e;
	longjmp(t->jb, 1);
}

void cl__raise_from_at(struct cl_exc *e, struct cl_exc *cause,
		       const struct cl_site *site)
{
	cl_exc_set_cause(e, cause);
	if (e != &cl__nomem)
		e->suppress_context = 1;
	cl__raise_at(e, site);
}

struct cl_try *cl_exc_swap_chain(struct cl_try *head)
{
	struct cl_try *old = cl__head;

	cl__head = head;
	return old;
}
