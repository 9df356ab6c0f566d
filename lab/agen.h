/*
 * agen.h - async generators: a generator that may await between its
 * yields, and `async for` over it.
 *
 *	static void *ticker(void *arg)		async def ticker(n):
 *	{					    for i in range(n):
 *		intptr_t n = CL_TOINT(arg);	        await asyncio.sleep(1)
 *						        yield i
 *		for (intptr_t i = 0; i < n; i++) {
 *			cl_sleep(1);
 *			cl_agen_yield(CL_INT(i));
 *		}
 *		return NULL;
 *	}
 *	...					(inside a task)
 *	struct cl_agen *ag = cl_agen_new(ticker, CL_INT(3), "ticker");
 *	void *v;				ag = ticker(3)
 *	while (cl_agen_for(ag, &v))		async for v in ag:
 *		printf("%ld\n", CL_TOINT(v));	    print(v)
 *	cl_agen_decref(ag);
 *
 * The body runs as a stackful generator (gen.h) on a stack of its own,
 * like a task's coroutine. It has two kinds of suspension, and the whole
 * design is about telling them apart:
 *
 *	cl_agen_yield(v)	a value for whoever iterates: the asend that
 *				resumed the body returns v;
 *	cl_await(f), cl_sleep	a wait: the task iterating us must sleep
 *				until f is done, then resume the body.
 *
 * Both are a cl_yield of the body's generator underneath. An await
 * inside a cl_gen body needs nothing new: cl_await (future.c) yields the
 * future from whatever generator is running, which is ours, so it
 * arrives at the asend that resumed the body, exactly as in CPython,
 * where the await's yield goes to whoever called send() on the
 * generator, the asend object (Objects/genobject.c, async_gen_asend_send
 * calling gen_send). What CPython does next, we do:
 *
 *   - a value the body yields is wrapped (async_gen_wrapped_value): the
 *     body yields the address of one static marker and leaves the value
 *     in the generator, so that no yielded value, NULL included, can be
 *     taken for a future (and no allocation is made per item);
 *   - anything else that comes up is an await (or the bare yield of
 *     sleep(0)): asend passes it on up unchanged, as `yield from` does,
 *     to the task running the consumer; the task registers its wake-up
 *     on the future as it does for any await. When the future is done,
 *     the task resumes asend with its result, or throws its exception
 *     (a cancellation, say), and asend sends it (or throws it) back down
 *     into the body, where cl_await returns it or raises it
 *     (async_gen_unwrap_value returns such a yield as it is; the
 *     asend's throw() is gen_throw on the body).
 *
 * So an async generator runs inside whichever task iterates it, in that
 * task's steps and context; it has no task of its own. Like any
 * generator it belongs to the thread that made it, and to that thread's
 * loop.
 *
 *	cl_agen_asend(ag, v)	await ag.asend(v): v comes out of the body's
 *				cl_agen_yield; returns the next value
 *	cl_agen_anext(ag)	await anext(ag), which is asend(None)
 *	cl_agen_for(ag, &v)	one round of `async for`: 1 with the next
 *				value in v, 0 at StopAsyncIteration
 *	cl_agen_athrow(ag, e)	await ag.athrow(e): e raised at the yield
 *	cl_agen_aclose(ag)	await ag.aclose(): GeneratorExit at the
 *				yield, so the body's cleanup runs (and may
 *				await)
 *
 * Each raises what Python's would: StopAsyncIteration when the body has
 * returned (a return value is not allowed in an async generator; ours is
 * ignored), the body's exception, RuntimeError "anext(): asynchronous
 * generator is already running" when another asend, athrow or aclose is
 * still in progress, possibly waiting in another task. A StopIteration
 * or StopAsyncIteration escaping the body becomes RuntimeError "async
 * generator raised ..." (PEP 479, PEP 525). As in CPython 3.11,
 * closing the coroutine that waits in an asend (a cl_gen_close of it, a
 * task abandoned at a deadlock) closes only the asend: the body stays
 * where it is, and the generator "running" for good.
 *
 * The loop keeps every async generator first iterated while it ran
 * (asyncio's firstiter hook and _asyncgens set) and, at the end of
 * cl_run, closes those still open with aclose(), concurrently, reporting
 * what went wrong through its exception handler ("an error occurred
 * during closing of asynchronous generator ...") as shutdown_asyncgens
 * does. A generator whose last reference is dropped while it is open is
 * closed by an aclose() task, as asyncio's finalizer hook does.
 *
 * Where the C differs: a generator is freed when its last reference goes
 * (cl_agen_decref), not by a garbage collector; one dropped after its
 * loop is gone is closed as a plain generator is (gen.h cl_gen_free: its
 * cleanup runs, but cannot await), where asyncio would not finalize it
 * at all. The generators are closed in the order they were first
 * iterated (a WeakSet's order in asyncio, which is the objects'
 * addresses'). Drop your last reference only when no asend of yours is
 * in progress. And the exception handler gets no 'asyncgen' key: its
 * repr is in the message.
 *
 * Python: Objects/genobject.c (async_gen_asend_send, async_gen_athrow_send,
 * async_gen_unwrap_value, async_gen_init_hooks, _PyGen_Finalize),
 * Lib/asyncio/base_events.py (_asyncgen_firstiter_hook,
 * _asyncgen_finalizer_hook, shutdown_asyncgens), PEP 525.
 */
#ifndef CL_AGEN_H
#define CL_AGEN_H

#include "exc.h"
#include "gen.h"
#include "loop.h"
#include "value.h"

/* StopAsyncIteration: what anext raises when the body has returned. */
extern const struct cl_exc_type cl_StopAsyncIteration;

struct cl_agen;

/*
 * Calling an async generator function: an async generator that will run
 * fn(arg) on a stack of its own; nothing of the body runs yet. name is
 * copied (NULL: "async_generator"). Returns one reference, or NULL with
 * errno set.
 */
struct cl_agen *cl_agen_new(void *(*fn)(void *arg), void *arg,
			    const char *name);

/*
 * References. The last cl_agen_decref frees the generator; if it was
 * iterated while a loop ran and is still open, it is closed first by a
 * task that awaits its aclose(), one iteration later (asyncio's
 * finalizer hook), and freed when that is done.
 */
struct cl_agen *cl_agen_incref(struct cl_agen *ag);
void cl_agen_decref(struct cl_agen *ag);

/*
 * In the body: yield value to the asend (or athrow) that resumed it.
 * Returns the value of the next asend (NULL for anext); raises the
 * exception of an athrow, or GeneratorExit for an aclose. Outside the
 * body of an async generator it raises RuntimeError.
 */
#define cl_agen_yield(value) cl__agen_yield_at((value), CL_HERE)
void *cl__agen_yield_at(void *value, const struct cl_site *site);

/*
 * await ag.asend(value), from a task: resume the body, delivering value
 * at its cl_agen_yield, and return the next value it yields. Awaits in
 * the body suspend the calling task meanwhile. Raises StopAsyncIteration
 * when the body returns (or has returned), the body's exception,
 * RuntimeError when another asend, athrow or aclose is in progress, and
 * TypeError for a value other than NULL sent to an unstarted generator.
 * A macro, as cl_await: what it raises has the line of the call in its
 * traceback.
 */
#define cl_agen_asend(ag, value) cl__agen_asend_at((ag), (value), CL_HERE)
void *cl__agen_asend_at(struct cl_agen *ag, void *value,
			const struct cl_site *site);

/* await anext(ag): cl_agen_asend(ag, NULL). */
#define cl_agen_anext(ag) cl__agen_asend_at((ag), NULL, CL_HERE)

/*
 * One round of `async for v in ag`: anext, but the end is a return
 * value, not an exception: 1 with the value in *out, 0 (and *out NULL)
 * when the generator is exhausted. Any other exception is raised.
 */
#define cl_agen_for(ag, out) cl__agen_for_at((ag), (out), CL_HERE)
int cl__agen_for_at(struct cl_agen *ag, void **out,
		    const struct cl_site *site);

/*
 * await ag.athrow(exc): raise exc (whose reference it takes) at the
 * yield where the body is suspended. Returns the value the body yields
 * next if it catches exc; raises StopAsyncIteration if it returns, or
 * whatever escapes it. An unstarted generator gets exc before its first
 * line (it comes straight back, and the generator is finished); a
 * finished one returns NULL. "athrow(): ... already running" when busy.
 */
#define cl_agen_athrow(ag, exc) cl__agen_athrow_at((ag), (exc), CL_HERE)
void *cl__agen_athrow_at(struct cl_agen *ag, struct cl_exc *exc,
			 const struct cl_site *site);

/*
 * await ag.aclose(): throw GeneratorExit at the yield where the body is
 * suspended and run it to its end: its cleanup runs, and may await.
 * Returns when the body let GeneratorExit out or returned. Raises
 * RuntimeError "async generator ignored GeneratorExit" if it yielded a
 * value instead, or what else it raised. Closing an unstarted or a
 * finished generator does nothing. "aclose(): ... already running" when
 * busy.
 */
#define cl_agen_aclose(ag) cl__agen_aclose_at((ag), CL_HERE)
void cl__agen_aclose_at(struct cl_agen *ag, const struct cl_site *site);

/* ag.ag_running: an asend, athrow or aclose is in progress. */
int cl_agen_running(const struct cl_agen *ag);

/* Where the body is: created, suspended, running or closed (gen.h). */
enum cl_gen_state cl_agen_state(const struct cl_agen *ag);

/* ag.__name__ */
const char *cl_agen_name(const struct cl_agen *ag);

/*
 * await loop.shutdown_asyncgens(), from a task: aclose() every async
 * generator of the running loop that is still open, each in a task of
 * its own, and wait for all of them; each failure that is an Exception
 * goes to the loop's exception handler. The generators are forgotten by
 * the loop.
 */
void cl_shutdown_asyncgens(void);

/*
 * loop.run_until_complete(loop.shutdown_asyncgens()), for cl_run and
 * whoever drives a loop by hand: the same from outside the loop, which
 * must not be running. No task is made when no generator is open.
 * Returns 0 or what cl_loop_run_until_complete returned.
 */
int cl_loop_shutdown_asyncgens(struct cl_loop *loop);

/* For loop.c (cl_loop_free): forget the loop's generators; free those
 * whose finalizing aclose() never ran. */
void cl__agen_loop_free(struct cl_loop *loop);

#endif
