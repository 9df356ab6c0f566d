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
	e->value = NULL;
	e->context = NULL;
	e->cause = NULL;
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
	free(e);
}

int cl_exc_matches(const struct cl_exc *e, const struct cl_exc_type *type)
{
	for (const struct cl_exc_type *t = e->type; t != NULL; t = t->base)
		if (t == type)
			return 1;
	return 0;
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
	t->exc = NULL;
	cl__head = t;
}

void cl__try_pop(struct cl_try *t)
{
	cl__head = t->prev;
}

void cl_raise(struct cl_exc *e)
{
	struct cl_try *t = cl__head;

	if (t == NULL) {
		/* Python prints a traceback and exits; we print the last
		 * line of one and abort, leaving a core for the debugger. */
		fflush(stdout);
		if (e->msg[0] != '\0')
			fprintf(stderr, "corolab: uncaught %s: %s\n",
				e->type->name, e->msg);
		else
			fprintf(stderr, "corolab: uncaught %s\n",
				e->type->name);
		abort();
	}
	/* Pop first: a raise inside the catch block goes one handler out. */
	cl__head = t->prev;
	t->exc = e;
	longjmp(t->jb, 1);
}

struct cl_try *cl_exc_swap_chain(struct cl_try *head)
{
	struct cl_try *old = cl__head;

	cl__head = head;
	return old;
}
