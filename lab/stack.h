/*
 * stack.h - coroutine stacks: mapped, guarded, pooled.
 *
 * A stackful coroutine needs a stack of its own. Each one here is an
 * anonymous mmap with one PROT_NONE page below it, so running off the
 * bottom faults at once instead of scribbling over a neighbour, and a
 * freed stack waits in a small pool so the next spawn costs no system
 * call. A coroutine that does run off the bottom is reported by name:
 *
 *	corolab: coroutine 'deep-recursion' overflowed its stack (256 KiB) ...
 *
 * and the process dies of SIGSEGV, as it would have anyway. The report
 * needs an alternate signal stack in the thread that overflows; a stack
 * is meant to be run by the thread that allocated it (an event loop's
 * thread), and cl_stack_alloc gives that thread one.
 */
#ifndef CL_STACK_H
#define CL_STACK_H

#include <stddef.h>

/* Usable bytes of a stack when cl_stack_alloc is asked for 0. Virtual
 * memory: a page costs real memory only once it is touched. */
#define CL_STACK_DEFAULT (256 * 1024)

/* How many freed stacks the pool keeps; the rest are unmapped. */
#define CL_STACK_POOL_MAX 1024

/* Longest name kept for the overflow report, with its NUL. */
#define CL_STACK_NAME_MAX 32

struct cl_stack {
	void *base;  /* lowest usable address, just above the guard page */
	size_t size; /* usable bytes from base up: a multiple of the page */

	/* Private to stack.c, under its lock (the overflow handler reads
	 * them without it: a signal handler can take no lock). */
	struct cl_stack *next, *prev; /* live list; pool uses next only */
	unsigned tools_id;	      /* valgrind's id for this stack */
	char name[CL_STACK_NAME_MAX]; /* who runs on it, for the report */
};

/*
 * A stack of at least size usable bytes (0: CL_STACK_DEFAULT), rounded up
 * to whole pages, from the pool when one of that size is there. NULL with
 * errno set on failure.
 */
struct cl_stack *cl_stack_alloc(size_t size);

/*
 * Chapter 09: how many bytes from the top of s have ever been touched
 * (pages in memory, by mincore): the deepest the coroutines that ran on
 * it went. A stack from the pool remembers its earlier users. 0 if the
 * kernel will not say.
 */
size_t cl_stack_high_water(const struct cl_stack *s);

/* Give s back: to the pool while it has room, otherwise munmap. s must
 * not be running. NULL is ignored. */
void cl_stack_free(struct cl_stack *s);

/* Name who runs on s, for the overflow report (truncated to fit). */
void cl_stack_set_name(struct cl_stack *s, const char *name);

#endif
