/*
 * ctx.h - execution contexts: a saved stack pointer, and a switch.
 *
 * A context is a computation that is not running: its registers sit on
 * its own stack and cl_ctx.sp says where. cl_ctx_switch(from, to) saves
 * the running computation into from and resumes to; some later switch
 * back to from makes that first call return, as if nothing had happened.
 * That is all a stackful coroutine needs: a stack (stack.h), a context,
 * and a switch (ctx_x86_64.S, ctx_aarch64.S, one file per architecture).
 *
 * The rest of the library switches through cl_ctx_swap() below, which
 * tells AddressSanitizer about the change of stacks (and costs nothing
 * in a build without it).
 */
#ifndef CL_CTX_H
#define CL_CTX_H

#include <stddef.h>

/* CL_ASAN: are we compiled with AddressSanitizer? (gcc, then clang) */
#if defined(__SANITIZE_ADDRESS__)
#define CL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CL_ASAN 1
#endif
#endif
#ifndef CL_ASAN
#define CL_ASAN 0
#endif

#if CL_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* CL_TSAN: are we compiled with ThreadSanitizer? (make tsan) */
#if defined(__SANITIZE_THREAD__)
#define CL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CL_TSAN 1
#endif
#endif
#ifndef CL_TSAN
#define CL_TSAN 0
#endif

#if CL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct cl_ctx {
	void *sp; /* saved stack pointer; the registers are saved on the
		     stack itself (written by cl_ctx_switch and cl_ctx_make) */
#if CL_ASAN
	/* Only under ASan, only for cl_ctx_swap: the stack this context
	 * runs on. cl_ctx_make sets it; for a context that was never made
	 * (a thread's own stack) the first switch away from it learns it. */
	const void *asan_stack; /* lowest address */
	size_t asan_size;
#endif
#if CL_TSAN
	/* Only under TSan: the fiber TSan knows this context as (one per
	 * stack, set by cl_ctx_make; for a context switched away from, the
	 * fiber that was running, learnt at each switch). */
	void *tsan_fiber;
#endif
};

/*
 * Save the current context into from, resume to. Assembly, one file per
 * architecture. Returns when some context switches back to from.
 *
 * The floating-point control (rounding mode, exception masks) is part
 * of a context, unless the kit is built with -DCL_CTX_NOFPU (make
 * NOFPU=1): then all contexts share the thread's, and a coroutine that
 * changes it changes it for everyone until it is put back.
 */
void cl_ctx_switch(struct cl_ctx *from, struct cl_ctx *to);

/*
 * Prepare c so that the first cl_ctx_switch to it calls fn(arg) on the
 * stack [stack, stack + size). fn must never return: it ends by switching
 * away for good (if it does return, the process reports it and aborts).
 * The new context starts with the caller's floating-point control
 * (rounding mode, exception masks), as a new thread does. Returns 0, or
 * -EINVAL for a NULL c, stack or fn, or a stack too small to hold the
 * first frame.
 */
int cl_ctx_make(struct cl_ctx *c, void *stack, size_t size, void (*fn)(void *),
		void *arg);

/*
 * Switching under AddressSanitizer.
 *
 * ASan keeps, per thread, the bounds of "the" stack, to tell stack
 * addresses from others and to find a frame's redzones. A switch to a
 * coroutine stack it was not told about leads to false reports (or a
 * crash in its own code). So every switch is bracketed:
 *
 *	__sanitizer_start_switch_fiber(&fake, to's stack, size)
 *	cl_ctx_switch(from, to)
 *	... later, back on from's stack ...
 *	__sanitizer_finish_switch_fiber(fake, &who_switched_to_us's stack)
 *
 * and a new context calls the finish half first thing (cl__ctx_start).
 * The finish half returns the bounds of the stack we came from; that is
 * how a context that was never made (main's) gets its bounds recorded:
 * cl__ctx_from says whose they are.
 *
 * Use cl_ctx_swap() for every switch, and cl_ctx_swap_final() for the
 * last switch out of a context that will never be resumed (ASan then
 * frees what it kept for that stack). Without ASan both are exactly
 * cl_ctx_switch().
 */
#if CL_ASAN
extern __thread struct cl_ctx *cl__ctx_from; /* who switched last */

static inline void cl__ctx_swap(struct cl_ctx *from, struct cl_ctx *to,
				int last)
{
	void *fake = NULL;

	cl__ctx_from = from;
	__sanitizer_start_switch_fiber(last ? NULL : &fake, to->asan_stack,
				       to->asan_size);
	cl_ctx_switch(from, to);
	/* Running again: whoever switched to us set cl__ctx_from. */
	__sanitizer_finish_switch_fiber(fake, &cl__ctx_from->asan_stack,
					&cl__ctx_from->asan_size);
}
#elif CL_TSAN
/*
 * Switching under ThreadSanitizer: TSan keeps a shadow call stack and
 * a clock per thread; each stack we switch to must be a fiber of its
 * own, announced just before the switch. A switch synchronizes the two
 * fibers, as they take turns on one thread.
 */
static inline void cl__ctx_swap(struct cl_ctx *from, struct cl_ctx *to,
				int last)
{
	(void)last;
	/* Whoever runs now is who will be resumed in from: a generator's
	 * caller may be a different fiber at each resume. */
	from->tsan_fiber = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
	cl_ctx_switch(from, to);
}
#else
static inline void cl__ctx_swap(struct cl_ctx *from, struct cl_ctx *to,
				int last)
{
	(void)last;
	cl_ctx_switch(from, to);
}
#endif

/* Switch from -> to; from will be resumed later. */
static inline void cl_ctx_swap(struct cl_ctx *from, struct cl_ctx *to)
{
	cl__ctx_swap(from, to, 0);
}

/* Switch from -> to for the last time: from is finished. Never returns. */
static inline void cl_ctx_swap_final(struct cl_ctx *from, struct cl_ctx *to)
{
	cl__ctx_swap(from, to, 1);
	__builtin_trap(); /* somebody resumed a finished context */
}

#endif
