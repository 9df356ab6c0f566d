/*
 * handler.h - the loop's exception handler: where errors nobody can
 * raise to end up.
 *
 * Some exceptions have no caller to reach: one that escapes a callback
 * (the loop called it, and the loop must go on), one that a future held
 * until it was freed without anybody looking at it. asyncio hands each
 * to the loop's exception handler with a "context", a dictionary of what
 * is known: the message, the exception, the future, the handle. The
 * default handler logs them; a program may set its own.
 *
 *	loop.set_exception_handler(h)	cl_loop_set_exception_handler
 *	loop.call_exception_handler(c)	cl_loop_call_exception_handler
 *	loop.default_exception_handler	cl_loop_default_exception_handler
 *
 * Python: Lib/asyncio/base_events.py (default_exception_handler,
 * call_exception_handler), events.py (Handle._run), futures.py
 * (Future.__del__).
 */
#ifndef CL_HANDLER_H
#define CL_HANDLER_H

#include "exc.h"
#include "loop.h"

struct cl_future;
struct cl_task;

/* asyncio's context dictionary; a key that is absent is NULL. */
struct cl_exc_context {
	const char *message;	  /* 'message' */
	struct cl_exc *exception; /* 'exception' */
	struct cl_future *future; /* 'future' (a task is one too) */
	struct cl_task *task;	  /* 'task': where asyncio names a task as
				     such (TaskGroup's orphaned failure) */
	struct cl_handle *handle; /* 'handle' */
	void *protocol;		  /* 'protocol' (chapter 04) */
	void *transport;	  /* 'transport' */
};

/* handler(loop, context), as Python's handler(loop, context). */
typedef void (*cl_exception_handler)(struct cl_loop *loop,
				     const struct cl_exc_context *ctx,
				     void *arg);

/* loop.set_exception_handler(handler); NULL puts back the default. */
void cl_loop_set_exception_handler(struct cl_loop *loop,
				   cl_exception_handler handler, void *arg);

/*
 * loop.call_exception_handler(context): the handler set, or the
 * default. A handler that raises is reported by the default handler
 * ("Unhandled error in exception handler"), and the loop goes on.
 */
void cl_loop_call_exception_handler(struct cl_loop *loop,
				    const struct cl_exc_context *ctx);

/*
 * The default: on loop->err, the message (or "Unhandled exception in
 * event loop"), one line "key: repr" for each other key present, in
 * sorted order (future, handle, protocol, task, transport), then the
 * exception's traceback.
 */
void cl_loop_default_exception_handler(struct cl_loop *loop,
				       const struct cl_exc_context *ctx);

/* repr(fut) as asyncio writes it: "<Task finished name='Task-2'
 * exception=ValueError('x')>", "<Future cancelled>" ... */
const char *cl_future_repr(const struct cl_future *f, char *buf, size_t size);

/* Future.__del__: f, freed, held an exception nobody retrieved. */
void cl__future_never_retrieved(struct cl_future *f);

#endif
