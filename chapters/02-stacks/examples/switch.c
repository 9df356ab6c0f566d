/*
 * switch.c - two contexts taking turns, with main around them.
 *
 * ping and pong each run on a stack of their own. ping prints a line and
 * switches to pong; pong prints a line and switches back to ping; after
 * three rounds ping hands control back to main. Nothing is scheduled:
 * each switch names the context that runs next.
 *
 * Each line also says how deep into its own stack the printing function
 * is: the two counters live on two different stacks, and neither moves
 * while the other runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "stack.h"

static struct cl_ctx main_ctx, ping_ctx, pong_ctx;
static struct cl_stack *ping_stack, *pong_stack;

/* How many bytes of s are in use above addr. */
static long depth(struct cl_stack *s, void *addr)
{
	return (char *)s->base + s->size - (char *)addr;
}

static void ping(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 3; i++) {
		printf("ping %d   (i is %ld bytes into ping's stack)\n", i,
		       depth(ping_stack, &i));
		cl_ctx_swap(&ping_ctx, &pong_ctx);
	}
	printf("ping: done, back to main\n");
	cl_ctx_swap_final(&ping_ctx, &main_ctx);
}

static void pong(void *arg)
{
	(void)arg;
	for (int i = 1;; i++) {
		printf("    pong %d   (i is %ld bytes into pong's stack)\n", i,
		       depth(pong_stack, &i));
		cl_ctx_swap(&pong_ctx, &ping_ctx);
	}
}

int main(void)
{
	int rc;

	ping_stack = cl_stack_alloc(0);
	pong_stack = cl_stack_alloc(0);
	if (ping_stack == NULL || pong_stack == NULL) {
		fprintf(stderr, "cl_stack_alloc: %s\n", strerror(errno));
		return 1;
	}
	rc = cl_ctx_make(&ping_ctx, ping_stack->base, ping_stack->size, ping,
			 NULL);
	if (rc == 0)
		rc = cl_ctx_make(&pong_ctx, pong_stack->base, pong_stack->size,
				 pong, NULL);
	if (rc != 0) {
		fprintf(stderr, "cl_ctx_make: %s\n", strerror(-rc));
		return 1;
	}

	printf("main: switching to ping\n");
	cl_ctx_swap(&main_ctx, &ping_ctx);
	printf("main: back on main's stack; pong stays suspended forever\n");

	cl_stack_free(ping_stack);
	cl_stack_free(pong_stack);
	return 0;
}
