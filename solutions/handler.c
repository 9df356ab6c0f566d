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
	// LAB ch05 call_handler: Call the handler set on loop with ctx and its
	// LAB ch05: arg, or the default handler when none is set. A handler that
	// LAB ch05: raises is reported by the default handler ("Unhandled error in
	// LAB ch05: exception handler", with that exception); the caller goes on.
	// LAB ch05: Mirrors Lib/asyncio/base_events.py call_exception_handler;
	// LAB ch05: read section 5.
	// HINT1 ch05: CL_TRY around the call; the catch builds a context of its
	// HINT1 ch05: own for the default handler, then drops the exception.
	cl_exception_handler h = loop->exc_handler;

	if (h == NULL) {
		cl_loop_default_exception_handler(loop, ctx);
		return;
	}
	CL_TRY {
		h(loop, ctx, loop->exc_handler_arg);
	} CL_CATCH(e) {
		struct cl_exc_context c = {
			.message = "Unhandled error in exception handler",
			.exception = e,
		};

		/* CPython adds the original context as 'context'. */
		cl_loop_default_exception_handler(loop, &c);
		cl_exc_decref(e);
	} CL_END_TRY;
	// STUB ch05:
	// cl_loop_default_exception_handler(loop, ctx);
	// END ch05
}

// LAB ch05 never_retrieved: f is being freed holding an exception nobody
// LAB ch05: retrieved: hand it to f's loop's exception handler, with the
// LAB ch05: message "Task exception was never retrieved" (a task) or "Future
// LAB ch05: ..." and the exception and f in the context; f is not reported
// LAB ch05: twice. Mirrors Lib/asyncio/futures.py Future.__del__; section 5.
// HINT1 ch05: f->what tells a task's future from a plain one. The handler
// HINT1 ch05: may look at f: keep its count above zero during the call.
void cl__future_never_retrieved(struct cl_future *f)
{
	struct cl_exc_context c = {
		.message = f->what == CL_WHAT_TASK
				   ? "Task exception was never retrieved"
				   : "Future exception was never retrieved",
		.exception = f->exc,
		.future = f,
	};

	f->log_tb = 0;
	/* The handler may look at f, which is being freed: keep it
	 * alive across the call without letting the count go back to 0
	 * through the path that freed it. */
	f->refcnt++;
	cl_loop_call_exception_handler(f->loop, &c);
	f->refcnt--;
}
// STUB ch05:
// void cl__future_never_retrieved(struct cl_future *f)
// {
// 	f->log_tb = 0;
// }
// END ch05
