/*
 * ctx.c - making a new context: its first frame, and the trampoline.
 *
 * cl_ctx_switch can only resume a context that an earlier cl_ctx_switch
 * suspended: it pops a frame of saved registers and returns. So to start
 * a new context we forge that frame by hand at the top of its stack, as
 * if the context had suspended itself just before its first instruction.
 * The forged return address is cl__ctx_entry (in the .S file), which
 * calls cl__ctx_start(fn, arg) below. On x86-64:
 *
 *                     +---------------------------+ <- stack + size
 *                     |  (0-15 bytes unused)      |
 *   top ------------> +---------------------------+ <- 16-byte aligned
 *            top-8    | ret = cl__ctx_entry       |
 *            top-16   | rbp = 0  (ends fp chain)  |
 *            top-24   | rbx = fn                  |
 *            top-32   | r12 = arg                 |
 *            top-40   | r13 = 0                   |
 *            top-48   | r14 = 0                   |
 *            top-56   | r15 = 0                   |
 *   c->sp -> top-64   | MXCSR, x87 control word   |
 *                     +---------------------------+
 *                     |  free: fn's frames grow   |
 *                     |  down from top            |
 *   stack ----------> +---------------------------+
 *                     |  guard page (stack.c)     |
 *
 * The first cl_ctx_switch to c loads rsp = c->sp, pops the 64 bytes and
 * "returns" to cl__ctx_entry with rsp = top. cl__ctx_entry then calls
 * cl__ctx_start: the ABI wants rsp to be a multiple of 16 at a call, and
 * it is, because top is. Get this wrong and nothing fails at once; the
 * first printf("%f") or SSE spill in fn crashes on an aligned move.
 *
 * AArch64 is the same picture with its own registers (fn in x19, arg in
 * x20, cl__ctx_entry in x30) and a 176-byte frame; see struct cl__frame.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

#if CL_ASAN
#include <sanitizer/asan_interface.h>
#endif

/*
 * The frame cl_ctx_switch pops, lowest address first. The field order is
 * the order of the pops in the .S file; read them side by side.
 */
#if defined(__x86_64__)
struct cl__frame {
	uint32_t mxcsr; /* SSE control (rounding, masks) */
	uint16_t fpucw; /* x87 control word */
	uint16_t pad;
	uint64_t r15, r14, r13;
	void *arg;	    /* r12: cl__ctx_entry passes it on */
	void (*fn)(void *); /* rbx: likewise */
	uint64_t rbp;	    /* 0: the end of the frame-pointer chain */
	void (*ret)(void);  /* where the first switch returns */
};

/* A new context starts with its creator's floating-point control, as a
 * new thread does; the creator's exception flags (bits 0-5) stay behind. */
static inline void cl__frame_fpu(struct cl__frame *f)
{
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1"
			 : "=m"(f->mxcsr), "=m"(f->fpucw));
	f->mxcsr &= ~0x3fu;
}
#elif defined(__aarch64__)
struct cl__frame {
	uint64_t d8_d15[8];
	void (*fn)(void *); /* x19: cl__ctx_entry passes it on */
	void *arg;	    /* x20: likewise */
	uint64_t x21_x28[8];
	uint64_t fp;	   /* x29 = 0: the end of the frame chain */
	void (*ret)(void); /* x30: where the first switch returns */
	uint64_t fpcr;	   /* rounding mode, flush-to-zero */
	uint64_t pad;
};

static inline void cl__frame_fpu(struct cl__frame *f)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	f->fpcr = fpcr;
}
#else
#error "corolab switches contexts on x86-64 and aarch64 only"
#endif

_Static_assert(sizeof(struct cl__frame) % 16 == 0,
	       "the first frame must keep the stack 16-byte aligned");

/* In the .S file: the first instruction a new context runs. */
__attribute__((visibility("hidden"))) void cl__ctx_entry(void);

/* Called by cl__ctx_entry only; not static, because assembly calls it. */
__attribute__((visibility("hidden"), noreturn)) void
cl__ctx_start(void (*fn)(void *), void *arg);

#if CL_ASAN
__thread struct cl_ctx *cl__ctx_from;
#endif

/*
 * Tools: record the bounds of a made context's stack for cl_ctx_swap, and
 * clear ASan's marks on it. A context that ended by switching away left
 * its frames' redzones marked in ASan's shadow memory (they never
 * returned to unmark them); a new context on the same memory would trip
 * over them.
 */
#if CL_TSAN
/*
 * TSan's fibers, one per stack base: a stack from the pool keeps the
 * fiber it had, so there are never more fibers than stacks ever mapped
 * at once. Under TSan only.
 */
#define CL__FIBERS 1024
static struct cl__fiber {
	const void *base;
	void *fiber;
	struct cl__fiber *next;
} *cl__fibers[CL__FIBERS];
static pthread_mutex_t cl__fibers_lock = PTHREAD_MUTEX_INITIALIZER;

static void *cl__tsan_fiber_for(const void *base)
{
	size_t i = ((uintptr_t)base >> 12) % CL__FIBERS;
	struct cl__fiber *f;

	pthread_mutex_lock(&cl__fibers_lock);
	for (f = cl__fibers[i]; f != NULL && f->base != base; f = f->next)
		;
	if (f == NULL && (f = malloc(sizeof *f)) != NULL) {
		f->base = base;
		f->fiber = __tsan_create_fiber(0);
		f->next = cl__fibers[i];
		cl__fibers[i] = f;
	}
	pthread_mutex_unlock(&cl__fibers_lock);
	if (f == NULL)
		abort();
	return f->fiber;
}
#endif

static void cl__ctx_tools_make(struct cl_ctx *c, void *stack, size_t size)
{
#if CL_ASAN
	if (c == NULL || stack == NULL)
		return;
	c->asan_stack = stack;
	c->asan_size = size;
	__asan_unpoison_memory_region(stack, size);
#elif CL_TSAN
	(void)size;
	if (c != NULL && stack != NULL)
		c->tsan_fiber = cl__tsan_fiber_for(stack);
#else
	(void)c, (void)stack, (void)size;
#endif
}

/* Tools: the first code on a new stack completes the switch for ASan
 * (the second half of cl_ctx_swap, which the new context never ran). */
static void cl__ctx_tools_arrived(void)
{
#if CL_ASAN
	__sanitizer_finish_switch_fiber(NULL, &cl__ctx_from->asan_stack,
					&cl__ctx_from->asan_size);
#endif
}

#define CL__CTX_RETURNED                                                       \
	"corolab: a context's function returned; it must switch away "         \
	"for good instead (cl_ctx_swap_final)\n"

/*
 * The C side of the trampoline: runs on the new stack, first thing.
 */
void cl__ctx_start(void (*fn)(void *), void *arg)
{
	cl__ctx_tools_arrived();
	/* TODO(ch02): Run fn(arg). fn must never return: below this
	 * frame there is nothing to return to. If it does return,
	 * CL__CTX_RETURNED is written to fd 2 and the process aborts.
	 * No CPython twin; read section 2.
	 * Hints: make hint CH=2 TODO=ctx_start (1 level). */
	(void)fn, (void)arg;
	abort();
}

/*
 * cl_ctx_make: forge the frame the first switch to c will pop, as if c
 * had suspended itself just before the first instruction of fn(arg).
 * The frame sits just below top, the end of the stack rounded down to
 * 16 bytes, so that fn starts on a stack aligned as the ABI wants; it
 * gives fn the creator's floating-point control, and c->sp points at
 * it. 0, or -EINVAL for a NULL c, stack or fn, or a stack too small to
 * hold the frame.
 */
int cl_ctx_make(struct cl_ctx *c, void *stack, size_t size, void (*fn)(void *),
		void *arg)
{
	cl__ctx_tools_make(c, stack, size);
	/* TODO(ch02): Make c start fn(arg) on the stack [stack, stack +
	 * size) at the first switch to it: the frame that switch
	 * pops, 16-byte aligned at the top of the stack, and c->sp
	 * pointing at it; 0, or -EINVAL for a NULL c, stack or fn, or
	 * a stack smaller than the frame plus 16 bytes. No CPython
	 * twin (greenlet's switch is the nearest); read section 2.
	 * Hints: make hint CH=2 TODO=ctx_make (3 levels). */
	(void)c, (void)stack, (void)size, (void)fn, (void)arg;
	return -ENOSYS;
}
