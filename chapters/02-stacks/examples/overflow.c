/*
 * overflow.c - a coroutine that recurses until its stack runs out.
 *
 * Without a guard page the recursion would walk off the bottom of its
 * stack into whatever memory lies below, and the program would fail
 * later, somewhere else, or not at all. With one, the first write into
 * the guard page faults, and the SIGSEGV handler of stack.c names the
 * coroutine before the process dies:
 *
 *	corolab: coroutine 'deep-recursion' overflowed its stack (64 KiB) ...
 *
 * The crash happens in a child process, so that this program can show
 * it and still exit 0: the parent waits and says how the child died.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "stack.h"

static struct cl_ctx main_ctx, deep_ctx;

/* The limit is never reached; it only hides the endless recursion from
 * the compiler, which would otherwise warn about it (or remove it). */
static volatile unsigned long limit = ~0ul;

__attribute__((noinline)) static unsigned long recurse(unsigned long n)
{
	volatile char frame[256]; /* make each call take some stack */

	frame[n % sizeof frame] = (char)n;
	if (n >= limit)
		return n;
	return recurse(n + 1) + (unsigned long)frame[n % sizeof frame];
}

static void deep(void *arg)
{
	(void)arg;
	recurse(0);
}

static int child(void)
{
	struct cl_stack *s = cl_stack_alloc(64 * 1024);
	int rc;

	if (s == NULL) {
		fprintf(stderr, "cl_stack_alloc: %s\n", strerror(errno));
		return 1;
	}
	cl_stack_set_name(s, "deep-recursion");
	rc = cl_ctx_make(&deep_ctx, s->base, s->size, deep, NULL);
	if (rc != 0) {
		fprintf(stderr, "cl_ctx_make: %s\n", strerror(-rc));
		return 1;
	}
	cl_ctx_swap(&main_ctx, &deep_ctx);
	return 1; /* not reached */
}

int main(void)
{
	int status;
	pid_t pid;

	printf("child: recursing on a 64 KiB stack named 'deep-recursion'\n");
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(child());
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
		printf("parent: the child died of SIGSEGV, as it should, "
		       "after saying who overflowed\n");
		return 0;
	}
	printf("parent: expected the child to die of SIGSEGV; status %#x\n",
	       status);
	return 1;
}
