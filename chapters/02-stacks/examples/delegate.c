/*
 * delegate.c - yield from, for free and for real.
 *
 * A stackless generator (chapter 01) can yield only from its own body, so
 * Python needs "yield from" at every level that yields. A stackful one
 * can call a plain C function that yields: the yield suspends the whole
 * stack, helper frames included. Delegating to another generator object
 * is different: that object has its own stack, and someone must pass its
 * values out and our caller's sends and throws in. cl_yield_from does
 * that, as PEP 380 specifies.
 *
 * The Python twin is tests/py/ch02_delegate.py; both print the same lines.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"

/* A helper: no generator of its own, it yields for whoever calls it. */
static void emit_range(int lo, int hi)
{
	for (int i = lo; i < hi; i++)
		cl_yield(CL_INT(i));
}

static void *two_ranges(void *arg)
{
	(void)arg;
	emit_range(1, 4);
	emit_range(10, 13);
	return NULL;
}

static void *countdown(void *arg)
{
	for (intptr_t n = CL_TOINT(arg); n > 0; n--) {
		const char *received = cl_yield(CL_INT(n));
		if (received != NULL)
			printf("  countdown: got '%s'\n", received);
	}
	return "liftoff";
}

static void *launch(void *arg)
{
	struct cl_gen *sub = cl_gen_new(countdown, arg, "countdown");
	const char *volatile result = NULL;

	if (sub == NULL)
		cl_raise(cl_exc_new(&cl_MemoryError, "no countdown"));
	/* try: result = yield from sub; finally: free sub */
	CL_TRY {
		result = cl_yield_from(sub);
	} CL_CATCH(e) {
		cl_gen_free(sub); /* closed or thrown into while delegating */
		cl_raise(e);
	} CL_END_TRY;
	cl_gen_free(sub);
	printf("  launch: countdown returned '%s'\n", result);
	cl_yield((void *)result);
	return NULL;
}

static struct cl_gen *new_gen(void *(*fn)(void *), void *arg,
			      const char *name)
{
	struct cl_gen *g = cl_gen_new(fn, arg, name);

	if (g == NULL) {
		perror("cl_gen_new");
		exit(1);
	}
	return g;
}

/* g.send(value), which must yield; anything else ends the example. */
static void *must_yield(struct cl_gen *g, void *value)
{
	void *v;
	int status = cl_gen_send(g, value, &v);

	if (status == CL_GEN_RAISED) {
		fprintf(stderr, "raised %s: %s\n", cl_exc_name(v),
			cl_exc_message(v));
		exit(1);
	}
	if (status != CL_GEN_YIELDED) {
		fprintf(stderr, "%s stopped early\n", cl_gen_name(g));
		exit(1);
	}
	return v;
}

int main(void)
{
	struct cl_gen *g = new_gen(two_ranges, NULL, "two_ranges");
	void *v;

	printf("helper yields:");
	while (cl_gen_next(g, &v) == CL_GEN_YIELDED)
		printf(" %ld", (long)CL_TOINT(v));
	printf("\n");
	cl_gen_free(g);

	g = new_gen(launch, CL_INT(3), "launch");
	printf("launch: %ld\n", (long)CL_TOINT(must_yield(g, NULL)));
	printf("launch: %ld\n", (long)CL_TOINT(must_yield(g, "copy")));
	printf("launch: %ld\n", (long)CL_TOINT(must_yield(g, NULL)));
	printf("launch: %s\n", (const char *)must_yield(g, NULL));
	if (cl_gen_next(g, &v) == CL_GEN_RETURNED)
		printf("launch: done\n");
	cl_gen_free(g);
	return 0;
}
