/*
 * gen_protocol.c - send, throw and close on a stackful generator.
 *
 * The Python twin is tests/py/ch02_gen_protocol.py; both print exactly
 * the same lines. The generator adds up the numbers it is sent, reports a
 * ValueError thrown into it and carries on, cleans up however it ends
 * (Python's finally), and returns how many numbers it added.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"

static const char *state_names[] = {
	[CL_GEN_CREATED] = "GEN_CREATED",
	[CL_GEN_SUSPENDED] = "GEN_SUSPENDED",
	[CL_GEN_RUNNING] = "GEN_RUNNING",
	[CL_GEN_CLOSED] = "GEN_CLOSED",
};

/*
 * x = yield total, except ValueError: say so and yield again.
 * x and got change inside CL_TRY and are read after a catch: volatile.
 */
static void *receive(intptr_t total)
{
	void *volatile x = NULL;
	volatile int got = 0;

	while (!got) {
		CL_TRY {
			x = cl_yield(CL_INT(total));
			got = 1;
		} CL_CATCH(e) {
			if (!cl_exc_matches(e, &cl_ValueError))
				cl_raise(e);
			printf("  body: caught ValueError: %s\n",
			       cl_exc_message(e));
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	return x;
}

static void *accumulator(void *arg)
{
	volatile intptr_t total = 0, count = 0;
	void *x;

	(void)arg;
	CL_TRY {
		while ((x = receive(total)) != NULL) {
			total += CL_TOINT(x);
			count++;
		}
	} CL_CATCH(e) {
		/* finally: clean up, then let the exception go on. */
		printf("  body: cleanup, total %ld\n", (long)total);
		cl_raise(e);
	} CL_END_TRY;
	printf("  body: cleanup, total %ld\n", (long)total);
	return CL_INT(count);
}

static void *stubborn(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_yield(CL_INT(1));
	} CL_CATCH(e) {
		cl_exc_decref(e); /* a GeneratorExit, swallowed */
		printf("  stubborn: not closing\n");
		cl_yield(CL_INT(2));
	} CL_END_TRY;
	return NULL;
}

/*
 * Print what a resume gave, as the Python twin's show() does. It takes
 * &v, not v: C leaves the order of a call's arguments open, and v must be
 * read after the resume that is its neighbour in the argument list.
 */
static void show(const char *what, int status, void **vp)
{
	void *v = *vp;

	switch (status) {
	case CL_GEN_YIELDED:
		printf("%s -> %ld\n", what, (long)CL_TOINT(v));
		break;
	case CL_GEN_RETURNED:
		if (v == NULL)
			printf("%s -> StopIteration, value None\n", what);
		else
			printf("%s -> StopIteration, value %ld\n", what,
			       (long)CL_TOINT(v));
		break;
	case CL_GEN_RAISED:
		printf("%s -> %s: %s\n", what, cl_exc_name(v),
		       cl_exc_message(v));
		cl_exc_decref(v);
		break;
	}
}

static void show_close(struct cl_gen *g)
{
	struct cl_exc *err;
	void *v;

	if (cl_gen_close(g, &err) == 0) {
		printf("g.close() -> None\n");
	} else {
		v = err;
		show("g.close()", CL_GEN_RAISED, &v);
	}
}

static struct cl_gen *new_gen(void *(*fn)(void *), const char *name)
{
	struct cl_gen *g = cl_gen_new(fn, NULL, name);

	if (g == NULL) {
		perror("cl_gen_new");
		exit(1);
	}
	return g;
}

int main(void)
{
	struct cl_gen *g;
	void *v = NULL;
	int ok;

	printf("== send\n");
	g = new_gen(accumulator, "accumulator");
	show("g.send(1)", cl_gen_send(g, CL_INT(1), &v), &v);
	show("next(g)", cl_gen_next(g, &v), &v);
	show("g.send(10)", cl_gen_send(g, CL_INT(10), &v), &v);
	show("g.send(5)", cl_gen_send(g, CL_INT(5), &v), &v);
	show("g.send(None)", cl_gen_send(g, NULL, &v), &v);
	show("next(g)", cl_gen_next(g, &v), &v);
	printf("state: %s\n", state_names[cl_gen_state(g)]);
	cl_gen_free(g);

	printf("== throw\n");
	g = new_gen(accumulator, "accumulator");
	show("next(g)", cl_gen_next(g, &v), &v);
	show("g.send(4)", cl_gen_send(g, CL_INT(4), &v), &v);
	show("g.throw(ValueError('oops'))",
	     cl_gen_throw(g, cl_exc_new(&cl_ValueError, "oops"), &v), &v);
	show("g.throw(TypeError('bad'))",
	     cl_gen_throw(g, cl_exc_new(&cl_TypeError, "bad"), &v), &v);
	printf("state: %s\n", state_names[cl_gen_state(g)]);
	cl_gen_free(g);

	printf("== close\n");
	g = new_gen(accumulator, "accumulator");
	show("next(g)", cl_gen_next(g, &v), &v);
	show("g.send(7)", cl_gen_send(g, CL_INT(7), &v), &v);
	show_close(g);
	printf("state: %s\n", state_names[cl_gen_state(g)]);
	cl_gen_free(g);
	g = new_gen(stubborn, "stubborn");
	show("next(g)", cl_gen_next(g, &v), &v);
	show_close(g);
	printf("state: %s\n", state_names[cl_gen_state(g)]);
	show_close(g);
	printf("state: %s\n", state_names[cl_gen_state(g)]);
	ok = cl_gen_state(g) == CL_GEN_CLOSED; /* the protocol worked */
	cl_gen_free(g);
	return ok ? 0 : 1;
}
