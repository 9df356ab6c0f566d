/*
 * handler.c - the loop's exception handler (handler.h).
 */
#include <stdio.h>
#include <string.h>

#include "future.h"
#include "handler.h"
#include "task.h"

void cl_loop_set_exception_handler(struct cl_loop *loop,
				   cl_exception_handler handler, void *arg)
{
	loop->exc_handler = handler;
	loop->exc_handler_arg = arg;
}

const char *cl_future_repr(const struct cl_future *f, char *buf, size_t size)
{
	const struct cl_task *t =
		f->what == CL_WHAT_TASK ? (const struct cl_task *)f : NULL;
	char name[96] = "", exc[256] = "";
	const char *state = f->state == CL_FUTURE_PENDING     ? "pending"
			    : f->state == CL_FUTURE_CANCELLED ? "cancelled"
							      : "finished";

	if (t != NULL)
		snprintf(name, sizeof name, " name='%s'", t->name);
	if (f->state == CL_FUTURE_DONE && f->exc != NULL) {
		char r[200];

		snprintf(exc, sizeof exc, " exception=%s",
			 cl_exc_repr(f->exc, r, sizeof r));
	}
	snprintf(buf, size, "<%s %s%s%s>", t ? "Task" : "Future", state, name,
		 exc);
	return buf;
}

/* repr(handle): "<Handle fn>" would need a name for a function
 * pointer, which C does not keep; the trace's ids do instead. */
static const char *cl__handle_repr(const struct cl_handle *h, char *buf,
				   size_t size)
{
	snprintf(buf, size, "<%s%s>", h->is_timer ? "TimerHandle" : "Handle",
		 h->cancelled ? " cancelled" : "");
	return buf;
}

void cl_loop_default_exception_handler(struct cl_loop *loop,
				       const struct cl_exc_context *ctx)
{
	FILE *err = loop->err;
	char buf[512];

	fprintf(err, "%s\n",
		ctx->message ? ctx->message
			     : "Unhandled exception in event loop");
	/* The other keys, sorted: future, handle, protocol, task,
	 * transport. */
	if (ctx->future != NULL)
		fprintf(err, "future: %s\n",
			cl_future_repr(ctx->future, buf, sizeof buf));
	if (ctx->handle != NULL)
		fprintf(err, "handle: %s\n",
			cl__handle_repr(ctx->handle, buf, sizeof buf));
	if (ctx->protocol != NULL)
		fprintf(err, "protocol: <protocol %p>\n", ctx->protocol);
	if (ctx->task != NULL)
		fprintf(err, "task: %s\n",
			cl_future_repr(cl_task_future(ctx->task), buf,
				       sizeof buf));
	if (ctx->transport != NULL)
		fprintf(err, "transport: <transport %p>\n", ctx->transport);
	if (ctx->exception != NULL)
		cl_exc_print(ctx->exception, err);
	fflush(err);
}

void cl_loop_call_exception_handler(struct cl_loop *loop,
				    const struct cl_exc_context *ctx)
{
	/* TODO(ch05): Call the handler set on loop with ctx and its
	 * arg, or the default handler when none is set. A handler that
	 * raises is reported by the default handler ("Unhandled error in
	 * exception handler", with that exception); the caller goes on.
	 * Mirrors Lib/asyncio/base_events.py call_exception_handler;
	 * read section 5.
	 * Hints: make hint CH=5 TODO=call_handler (1 level). */
	cl_loop_default_exception_handler(loop, ctx);
}

/* TODO(ch05): f is being freed holding an exception nobody
 * retrieved: hand it to f's loop's exception handler, with the
 * message "Task exception was never retrieved" (a task) or "Future
 * ..." and the exception and f in the context; f is not reported
 * twice. Mirrors Lib/asyncio/futures.py Future.__del__; section 5.
 * Hints: make hint CH=5 TODO=never_retrieved (1 level). */
void cl__future_never_retrieved(struct cl_future *f)
{
	f->log_tb = 0;
}
