/*
 * ch06_contextvars.c - chapter 06: ContextVar, Token, Context, and the
 * contexts that tasks and callbacks run in.
 *
 * Every expectation here is what CPython 3.11 does with the same
 * program, written in tests/py/ch06_contextvars.py (the comment above
 * each test names the block; run it with python3 and compare). The
 * tests of sections 5 and 6 run outside any loop, in the thread's own
 * context, as the twin's do; those of section 7 run on the virtual
 * clock, as the twin's VirtualLoop does, so times are exact on both
 * sides.
 *
 * What the two sides print: get(v) is v's value, or the name of what
 * get raised ("LookupError"); cget(ctx, v) the same for ctx[v]; old(t)
 * a token's old value, "MISSING" for Token.MISSING; reset(v, t) "ok" or
 * the name of what reset raised. The messages of those exceptions name
 * addresses in CPython ("<ContextVar name='x' at 0x...>"), so only the
 * type is compared, and for LookupError and KeyError that the argument
 * is the variable itself.
 *
 * Where the C must differ from the Python: ctx.run(fn, *args) takes one
 * argument (a struct where the Python passes several), and a NULL value
 * prints as None (so no test sets a variable to 0).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctxvar.h"
#include "exc.h"
#include "future.h"
#include "grade.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "trail.h"
#include "value.h"

#define SEC_VAR "5. ContextVar and Token"
#define SEC_RUN "6. Context.run"
#define SEC_TASKS "7. Tasks and callbacks"

/* Fail unless the log reads want. */
#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

static void *run_ok(void *(*fn)(void *), void *arg)
{
	return run_on(CL_CLOCK_VIRTUAL, fn, arg);
}

/* The tests outside a loop start the trail themselves (run_on empties
 * it for the others). */
static void begin(void)
{
	trail[0] = '\0';
}

/* A string that lives until 16 more have been asked for: enough for
 * the arguments of one note. */
static char *slot(void)
{
	static char buf[16][64];
	static int i;

	i = (i + 1) % 16;
	buf[i][0] = '\0';
	return buf[i];
}

/* The loop's clock as Python's f"{loop.time():g}" prints it. */
static const char *now(void)
{
	char *s = slot();

	snprintf(s, 64, "%g", cl_loop_time(cl_get_running_loop()));
	return s;
}

/* str(value): values are small integers, NULL is None. */
static const char *val(void *v)
{
	char *s = slot();

	if (v == NULL)
		snprintf(s, 64, "None");
	else
		snprintf(s, 64, "%ld", (long)CL_TOINT(v));
	return s;
}

/* The twin's get(v): v.get(), or the name of what it raised. */
static const char *get(struct cl_contextvar *v)
{
	const char *volatile out = NULL;

	CL_TRY {
		out = val(cl_contextvar_get(v));
	} CL_CATCH(e) {
		out = cl_exc_name(e); /* a static type's name */
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/* The twin's get(v, dflt): v.get(dflt). */
static const char *get_or(struct cl_contextvar *v, void *dflt)
{
	const char *volatile out = NULL;

	CL_TRY {
		out = val(cl_contextvar_get_or(v, dflt));
	} CL_CATCH(e) {
		out = cl_exc_name(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/* The twin's cget(ctx, v): ctx[v], or the name of what it raised. */
static const char *cget(const struct cl_context *c, struct cl_contextvar *v)
{
	const char *volatile out = NULL;

	CL_TRY {
		out = val(cl_context_getitem(c, v));
	} CL_CATCH(e) {
		out = cl_exc_name(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/* The twin's old(t). */
static const char *old(const struct cl_token *t)
{
	void *v = cl_token_old_value(t);

	return v == CL_MISSING ? "MISSING" : val(v);
}

/* The twin's reset(v, t): "ok", or the name of what reset raised. */
static const char *reset(struct cl_contextvar *v, struct cl_token *t)
{
	const char *volatile out = "ok";

	CL_TRY {
		cl_contextvar_reset(v, t);
	} CL_CATCH(e) {
		out = cl_exc_name(e);
		cl_exc_decref(e);
	} CL_END_TRY;
	return out;
}

/* What ctx.run calls, one argument each. */
struct set_args {
	struct cl_contextvar *v;
	void *value;
};

struct reset_args {
	struct cl_contextvar *v;
	struct cl_token *t;
};

/* v.set(value) */
static void *set_fn(void *arg)
{
	const struct set_args *a = arg;

	cl_contextvar_set(a->v, a->value);
	return NULL;
}

/* v.set(value), returning the token */
static void *set_token_fn(void *arg)
{
	const struct set_args *a = arg;

	return cl_contextvar_set_token(a->v, a->value);
}

/* get(v): the string */
static void *get_fn(void *arg)
{
	return (void *)get(arg);
}

/* reset(v, t): the string */
static void *reset_fn(void *arg)
{
	const struct reset_args *a = arg;

	return (void *)reset(a->v, a->t);
}

/* The variables; each test initializes those it uses (each test runs
 * in a process of its own, so they start with no value anywhere). */
static struct cl_contextvar x, y, z, w, a, b;

/* ---- 5. ContextVar and Token ----------------------------------------- */

/* ch06_contextvars.py, test_contextvar_get_without_a_default */
START_TEST(test_contextvar_get_without_a_default)
{
	begin();
	cl_contextvar_init(&x, "x");
	CL_TRY {
		cl_contextvar_get(&x);
		note("no-raise");
	} CL_CATCH(e) {
		void *arg = cl_exc_value(e);

		note("%s:%s arg_is_var=%s", cl_exc_name(e),
		     arg == &x ? x.name : "?", tf(arg == &x));
		cl_exc_decref(e);
	} CL_END_TRY;
	note("get_or=%s", get_or(&x, CL_INT(7)));
	cl_contextvar_set(&x, CL_INT(1));
	note("get=%s get_or=%s", get(&x), get_or(&x, CL_INT(7)));
	EXPECT_TRAIL("LookupError:x arg_is_var=True get_or=7 get=1 get_or=1");
}
END_TEST

/* ch06_contextvars.py, test_contextvar_get_with_a_default */
START_TEST(test_contextvar_get_with_a_default)
{
	struct cl_token *t;

	begin();
	cl_contextvar_init_default(&y, "y", CL_INT(10));
	cl_contextvar_init_default(&z, "z", NULL);
	note("get=%s get_or=%s z=%s", get(&y), get_or(&y, CL_INT(5)),
	     get(&z));
	t = cl_contextvar_set_token(&y, CL_INT(3));
	note("get=%s get_or=%s old=%s", get(&y), get_or(&y, CL_INT(5)),
	     old(t));
	cl_contextvar_reset(&y, t);
	note("get=%s in_ctx=%s", get(&y),
	     tf(cl_context_contains(cl_context_current(), &y)));
	cl_token_decref(t);
	EXPECT_TRAIL("get=10 get_or=5 z=None get=3 get_or=3 old=MISSING "
		     "get=10 in_ctx=False");
}
END_TEST

/* ch06_contextvars.py, test_token_remembers_the_old_value */
START_TEST(test_token_remembers_the_old_value)
{
	struct cl_token *t1, *t2;

	begin();
	cl_contextvar_init(&x, "x");
	t1 = cl_contextvar_set_token(&x, CL_INT(1));
	t2 = cl_contextvar_set_token(&x, CL_INT(2));
	note("t1.old=%s t1.var=%s t2.old=%s t2.var_is_x=%s x=%s", old(t1),
	     cl_token_var(t1)->name, old(t2), tf(cl_token_var(t2) == &x),
	     get(&x));
	cl_contextvar_reset(&x, t2);
	note("reset(t2):%s", get(&x));
	cl_contextvar_reset(&x, t1);
	note("reset(t1):%s in_ctx=%s", get(&x),
	     tf(cl_context_contains(cl_context_current(), &x)));
	cl_token_decref(t1);
	cl_token_decref(t2);
	EXPECT_TRAIL("t1.old=MISSING t1.var=x t2.old=1 t2.var_is_x=True x=2 "
		     "reset(t2):1 reset(t1):LookupError in_ctx=False");
}
END_TEST

/* ch06_contextvars.py, test_token_used_twice */
START_TEST(test_token_used_twice)
{
	struct cl_token *t;
	const char *r;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	cl_contextvar_set(&x, CL_INT(1));
	t = cl_contextvar_set_token(&x, CL_INT(2));
	r = reset(&x, t);
	note("first:%s x=%s", r, get(&x));
	r = reset(&x, t);
	note("second:%s x=%s", r, get(&x));
	r = reset(&y, t);
	note("other_var:%s x=%s y=%s", r, get(&x), get(&y));
	cl_token_decref(t);
	EXPECT_TRAIL("first:ok x=1 second:RuntimeError x=1 "
		     "other_var:RuntimeError x=1 y=LookupError");
}
END_TEST

/* ch06_contextvars.py, test_token_of_another_variable */
START_TEST(test_token_of_another_variable)
{
	struct cl_token *t;
	const char *r;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	cl_contextvar_set(&y, CL_INT(5));
	t = cl_contextvar_set_token(&x, CL_INT(1));
	r = reset(&y, t);
	note("y.reset:%s x=%s y=%s", r, get(&x), get(&y));
	r = reset(&x, t);
	note("x.reset:%s x=%s y=%s", r, get(&x), get(&y));
	cl_token_decref(t);
	EXPECT_TRAIL("y.reset:ValueError x=1 y=5 x.reset:ok x=LookupError "
		     "y=5");
}
END_TEST

/* ch06_contextvars.py, test_token_from_another_context */
START_TEST(test_token_from_another_context)
{
	struct cl_context *ctx;
	struct cl_token *t;
	const char *r;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_set(&x, CL_INT(1));
	ctx = cl_copy_context();
	t = cl_context_run(ctx, set_token_fn,
			   &(struct set_args){ &x, CL_INT(5) });
	note("old=%s ctx=%s x=%s", old(t), cget(ctx, &x), get(&x));
	r = reset(&x, t);
	note("outside:%s x=%s ctx=%s", r, get(&x), cget(ctx, &x));
	r = cl_context_run(ctx, reset_fn, &(struct reset_args){ &x, t });
	note("inside:%s x=%s ctx=%s", r, get(&x), cget(ctx, &x));
	cl_token_decref(t);
	cl_context_decref(ctx);
	EXPECT_TRAIL("old=1 ctx=5 x=1 outside:ValueError x=1 ctx=5 "
		     "inside:ok x=1 ctx=1");
}
END_TEST

/* ch06_contextvars.py, test_tokens_reset_out_of_order */
START_TEST(test_tokens_reset_out_of_order)
{
	struct cl_token *t1, *t2, *ta, *tb;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&a, "a");
	cl_contextvar_init_default(&b, "b", CL_INT(20));
	t1 = cl_contextvar_set_token(&x, CL_INT(1));
	t2 = cl_contextvar_set_token(&x, CL_INT(2));
	cl_contextvar_reset(&x, t1);
	note("reset(t1):%s", get(&x));
	cl_contextvar_reset(&x, t2);
	note("reset(t2):%s", get(&x));
	ta = cl_contextvar_set_token(&a, CL_INT(1));
	tb = cl_contextvar_set_token(&b, CL_INT(2));
	cl_contextvar_reset(&a, ta);
	note("a=%s b=%s", get(&a), get(&b));
	cl_contextvar_reset(&b, tb);
	note("a=%s b=%s", get(&a), get(&b));
	cl_token_decref(t2);
	cl_token_decref(t1);
	cl_token_decref(tb);
	cl_token_decref(ta);
	EXPECT_TRAIL("reset(t1):LookupError reset(t2):1 a=LookupError b=2 "
		     "a=LookupError b=20");
}
END_TEST

/* ---- 6. Context.run -------------------------------------------------- */

/* ch06_contextvars.py, test_copy_context_is_a_snapshot */
START_TEST(test_copy_context_is_a_snapshot)
{
	struct cl_context *ctx;
	const char *in_run;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_set(&x, CL_INT(1));
	ctx = cl_copy_context();
	cl_contextvar_set(&x, CL_INT(2));
	in_run = cl_context_run(ctx, get_fn, &x);
	note("ctx=%s x=%s in_run=%s", cget(ctx, &x), get(&x), in_run);
	cl_context_decref(ctx);
	EXPECT_TRAIL("ctx=1 x=2 in_run=1");
}
END_TEST

static void *keeps_fn(void *arg)
{
	(void)arg;
	note("in:x=%s", get(&x));
	cl_contextvar_set(&x, CL_INT(5));
	cl_contextvar_set(&y, CL_INT(6));
	note("in:x=%s y=%s", get(&x), get(&y));
	return CL_INT(42);
}

/* ch06_contextvars.py, test_context_run_keeps_what_fn_sets */
START_TEST(test_context_run_keeps_what_fn_sets)
{
	struct cl_context *ctx;
	const char *again;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	cl_contextvar_set(&x, CL_INT(1));
	ctx = cl_copy_context();
	note("ret=%s", val(cl_context_run(ctx, keeps_fn, NULL)));
	again = cl_context_run(ctx, get_fn, &x);
	note("out:x=%s y=%s ctx:x=%s y=%s again=%s", get(&x), get(&y),
	     cget(ctx, &x), cget(ctx, &y), again);
	cl_context_decref(ctx);
	EXPECT_TRAIL("in:x=1 in:x=5 y=6 ret=42 out:x=1 y=LookupError "
		     "ctx:x=5 y=6 again=5");
}
END_TEST

static void *boom_fn(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(7));
	cl_raise(cl_exc_new(&cl_ValueError, "boom"));
}

/* ch06_contextvars.py, test_context_run_restores_on_raise */
START_TEST(test_context_run_restores_on_raise)
{
	struct cl_context *ctx;
	const char *again;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_set(&x, CL_INT(1));
	ctx = cl_copy_context();
	CL_TRY {
		cl_context_run(ctx, boom_fn, NULL);
		note("no-raise");
	} CL_CATCH(e) {
		note("%s:%s", cl_exc_name(e), cl_exc_message(e));
		cl_exc_decref(e);
	} CL_END_TRY;
	again = cl_context_run(ctx, get_fn, &x);
	note("x=%s ctx=%s again=%s", get(&x), cget(ctx, &x), again);
	cl_context_decref(ctx);
	EXPECT_TRAIL("ValueError:boom x=1 ctx=7 again=7");
}
END_TEST

static struct cl_context *ctx1, *ctx2;

/* ctx1.run(get, x), noting whether it could enter ctx1. */
static void try_enter(const char *tag)
{
	CL_TRY {
		cl_context_run(ctx1, get_fn, &x);
		note("%s:entered", tag);
	} CL_CATCH(e) {
		note("%s:%s", tag, cl_exc_name(e));
		cl_exc_decref(e);
	} CL_END_TRY;
}

static void *deep_fn(void *arg)
{
	(void)arg;
	note("deep:x=%s", get(&x));
	cl_contextvar_set(&x, CL_INT(2));
	try_enter("below");
	note("deep:x=%s", get(&x));
	return NULL;
}

static void *outer_fn(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	try_enter("self");
	cl_context_run(ctx2, deep_fn, NULL);
	note("outer:x=%s", get(&x));
	return NULL;
}

/* ch06_contextvars.py, test_context_entered_twice */
START_TEST(test_context_entered_twice)
{
	const char *again;

	begin();
	cl_contextvar_init(&x, "x");
	ctx1 = cl_context_new();
	ctx2 = cl_context_new();
	cl_context_run(ctx1, outer_fn, NULL);
	again = cl_context_run(ctx1, get_fn, &x);
	note("x=%s again=%s ctx2=%s", get(&x), again, cget(ctx2, &x));
	cl_context_decref(ctx1);
	cl_context_decref(ctx2);
	EXPECT_TRAIL("self:RuntimeError deep:x=LookupError below:RuntimeError "
		     "deep:x=2 outer:x=1 x=LookupError again=1 ctx2=2");
}
END_TEST

static void *fill_xy(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	cl_contextvar_set(&y, CL_INT(2));
	return NULL;
}

/* ch06_contextvars.py, test_context_mapping */
START_TEST(test_context_mapping)
{
	struct cl_contextvar *const absent[2] = { &z, &w };
	struct cl_context *ctx, *empty;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	cl_contextvar_init(&z, "z");
	cl_contextvar_init_default(&w, "w", CL_INT(4));
	ctx = cl_context_new();
	cl_context_run(ctx, fill_xy, NULL);
	note("len=%zu x_in=%s z_in=%s w_in=%s", cl_context_len(ctx),
	     tf(cl_context_contains(ctx, &x)), tf(cl_context_contains(ctx, &z)),
	     tf(cl_context_contains(ctx, &w)));
	note("get(x,9)=%s get(z,9)=%s get(w,9)=%s get(z)=%s [y]=%s",
	     val(cl_context_get(ctx, &x, CL_INT(9))),
	     val(cl_context_get(ctx, &z, CL_INT(9))),
	     val(cl_context_get(ctx, &w, CL_INT(9))),
	     val(cl_context_get(ctx, &z, NULL)), cget(ctx, &y));
	for (int i = 0; i < 2; i++) {
		struct cl_contextvar *v = absent[i];

		CL_TRY {
			cl_context_getitem(ctx, v);
			note("no-raise");
		} CL_CATCH(e) {
			void *arg = cl_exc_value(e);

			note("%s:%s arg_is_var=%s", cl_exc_name(e),
			     arg == v ? v->name : "?", tf(arg == v));
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	empty = cl_context_new();
	note("empty=%zu", cl_context_len(empty));
	cl_context_decref(empty);
	cl_context_decref(ctx);
	EXPECT_TRAIL("len=2 x_in=True z_in=False w_in=False get(x,9)=1 "
		     "get(z,9)=9 get(w,9)=9 get(z)=None [y]=2 "
		     "KeyError:z arg_is_var=True KeyError:w arg_is_var=True "
		     "empty=0");
}
END_TEST

#define NVARS 40
static struct cl_contextvar vs[NVARS];
static char vs_names[NVARS][8];

static void *fill_vs(void *arg)
{
	(void)arg;
	for (int i = 0; i < NVARS; i++)
		cl_contextvar_set(&vs[i], CL_INT(i * i + 1));
	return NULL;
}

/* ch06_contextvars.py, test_context_items */
START_TEST(test_context_items)
{
	struct cl_context *ctx, *small, *empty;
	struct cl_context_iter it;
	struct cl_contextvar *v;
	void *value;
	long got[NVARS];
	int n = 0, distinct = 0, right = 0, first = -1, last = -1;
	char *list = slot();

	begin();
	for (int i = 0; i < NVARS; i++) {
		snprintf(vs_names[i], sizeof vs_names[i], "v%d", i);
		cl_contextvar_init(&vs[i], vs_names[i]);
		got[i] = -1;
	}
	ctx = cl_context_new();
	cl_context_run(ctx, fill_vs, NULL);
	cl_context_iter_init(&it, ctx);
	while (cl_context_next(&it, &v, &value)) {
		long i = v - vs;

		n++;
		if (i < 0 || i >= NVARS)
			continue;
		if (got[i] == -1)
			distinct++;
		got[i] = (long)CL_TOINT(value);
		if (got[i] == i * i + 1)
			right++;
		if (first == -1 || i < first)
			first = (int)i;
		if (i > last)
			last = (int)i;
	}
	note("n=%d distinct=%d right=%d first=%d=%ld last=%d=%ld", n,
	     distinct, right, first, first >= 0 ? got[first] : -1L, last,
	     last >= 0 ? got[last] : -1L);

	small = cl_context_new();
	cl_context_run(small, set_fn, &(struct set_args){ &vs[3], CL_INT(7) });
	strcpy(list, "[");
	cl_context_iter_init(&it, small);
	while (cl_context_next(&it, &v, &value)) {
		size_t len = strlen(list);

		snprintf(list + len, 64 - len, "%s('%s', %ld)",
			 len > 1 ? ", " : "", v->name, (long)CL_TOINT(value));
	}
	strncat(list, "]", 63 - strlen(list));
	note("small=%s", list);

	empty = cl_context_new();
	n = 0;
	cl_context_iter_init(&it, empty);
	while (cl_context_next(&it, &v, &value))
		n++;
	note("empty=%d", n);
	cl_context_decref(empty);
	cl_context_decref(small);
	cl_context_decref(ctx);
	EXPECT_TRAIL("n=40 distinct=40 right=40 first=0=1 last=39=1522 "
		     "small=[('v3', 7)] empty=0");
}
END_TEST

/* ch06_contextvars.py, test_context_copy_is_independent */
START_TEST(test_context_copy_is_independent)
{
	struct cl_context *c1, *c2;

	begin();
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	c1 = cl_context_new();
	cl_context_run(c1, set_fn, &(struct set_args){ &x, CL_INT(1) });
	c2 = cl_context_copy(c1);
	note("c2:x=%s", cget(c2, &x));
	cl_context_run(c2, set_fn, &(struct set_args){ &x, CL_INT(2) });
	cl_context_run(c2, set_fn, &(struct set_args){ &y, CL_INT(3) });
	cl_context_run(c1, set_fn, &(struct set_args){ &x, CL_INT(4) });
	note("c1:x=%s y=%s len=%zu c2:x=%s y=%s len=%zu", cget(c1, &x),
	     cget(c1, &y), cl_context_len(c1), cget(c2, &x), cget(c2, &y),
	     cl_context_len(c2));
	cl_context_decref(c1);
	cl_context_decref(c2);
	EXPECT_TRAIL("c2:x=1 c1:x=4 y=KeyError len=1 c2:x=2 y=3 len=2");
}
END_TEST

/*
 * ch06_contextvars.py, test_tokens_and_contexts_freed_in_any_order.
 * The token must hold its context: dropped first, the context may
 * otherwise come back (a spare) as ctx2, and the token would reset
 * there. Under the sanitizers and valgrind, neither order leaks.
 */
START_TEST(test_tokens_and_contexts_freed_in_any_order)
{
	struct cl_context *ctx, *c2;
	struct cl_token *t;
	const char *r;

	begin();
	cl_contextvar_init(&x, "x");
	ctx = cl_context_new();
	t = cl_context_run(ctx, set_token_fn,
			   &(struct set_args){ &x, CL_INT(1) });
	cl_context_decref(ctx);
	c2 = cl_context_new();
	r = cl_context_run(c2, reset_fn, &(struct reset_args){ &x, t });
	note("ctx_first:%s old=%s var=%s ctx2=%s", r, old(t),
	     cl_token_var(t)->name, cget(c2, &x));
	cl_token_decref(t);
	cl_context_decref(c2);

	ctx = cl_context_new();
	t = cl_context_run(ctx, set_token_fn,
			   &(struct set_args){ &x, CL_INT(2) });
	cl_token_decref(t);
	note("token_first:ctx=%s len=%zu", cget(ctx, &x), cl_context_len(ctx));
	cl_context_decref(ctx);

	t = cl_contextvar_set_token(&x, CL_INT(3));
	cl_contextvar_reset(&x, t);
	cl_token_decref(t);
	note("base:x=%s", get(&x));
	EXPECT_TRAIL("ctx_first:ValueError old=MISSING var=x ctx2=KeyError "
		     "token_first:ctx=2 len=1 base:x=LookupError");
}
END_TEST

/* ---- 7. Tasks and callbacks ------------------------------------------ */

/* A new task, or fail the test. */
static struct cl_task *spawn(void *(*fn)(void *), void *arg,
			     struct cl_context *ctx)
{
	struct cl_task *t = ctx ? cl_create_task_ctx(fn, arg, NULL, ctx)
				: cl_create_task(fn, arg, NULL);

	CL_EXPECT(t != NULL, "create_task failed (log so far: \"%s\")",
		  trail);
	return t;
}

/* await t, then drop it. */
static void join(struct cl_task *t)
{
	cl_await_task(t);
	cl_task_decref(t);
}

static void *creation_child(void *arg)
{
	(void)arg;
	note("child:x=%s", get(&x));
	return NULL;
}

static void *creation_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	t = spawn(creation_child, NULL, NULL);
	cl_contextvar_set(&x, CL_INT(2));
	join(t);
	note("main:x=%s", get(&x));
	return NULL;
}

/* ch06_contextvars.py, test_task_copies_the_context_at_creation */
START_TEST(test_task_copies_the_context_at_creation)
{
	cl_contextvar_init(&x, "x");
	run_ok(creation_main, NULL);
	EXPECT_TRAIL("child:x=1 main:x=2");
}
END_TEST

static void *stay_child(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(3));
	cl_contextvar_set(&y, CL_INT(4));
	cl_sleep(1);
	note("child:x=%s y=%s@%s", get(&x), get(&y), now());
	return NULL;
}

static void *stay_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	t = spawn(stay_child, NULL, NULL);
	cl_sleep(0.5);
	note("main:x=%s y=%s@%s", get(&x), get(&y), now());
	join(t);
	note("main:x=%s y=%s@%s", get(&x), get(&y), now());
	return NULL;
}

/* ch06_contextvars.py, test_task_sets_stay_in_the_task */
START_TEST(test_task_sets_stay_in_the_task)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	run_ok(stay_main, NULL);
	EXPECT_TRAIL("main:x=1 y=LookupError@0.5 child:x=3 y=4@1 "
		     "main:x=1 y=LookupError@1");
}
END_TEST

static void *chain_c(void *arg)
{
	(void)arg;
	note("c:x=%s y=%s", get(&x), get(&y));
	cl_contextvar_set(&x, CL_INT(30));
	return NULL;
}

static void *chain_b(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(3));
	t = spawn(chain_c, NULL, NULL);
	cl_contextvar_set(&x, CL_INT(33));
	join(t);
	note("b:x=%s", get(&x));
	return NULL;
}

static void *chain_a(void *arg)
{
	(void)arg;
	cl_contextvar_set(&y, CL_INT(2));
	cl_contextvar_set(&x, CL_INT(2));
	join(spawn(chain_b, NULL, NULL));
	note("a:x=%s y=%s", get(&x), get(&y));
	return NULL;
}

static void *chain_main(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	join(spawn(chain_a, NULL, NULL));
	note("main:x=%s y=%s", get(&x), get(&y));
	return NULL;
}

/* ch06_contextvars.py, test_context_inherited_through_a_chain */
START_TEST(test_context_inherited_through_a_chain)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	run_ok(chain_main, NULL);
	EXPECT_TRAIL("c:x=3 y=2 b:x=33 a:x=2 y=2 main:x=1 y=LookupError");
}
END_TEST

struct request {
	int n;
	double d;
};

/* handler(n, d): x is the request id. */
static void *handler(void *arg)
{
	const struct request *r = arg;

	cl_contextvar_set(&x, CL_INT(r->n));
	cl_sleep(r->d);
	note("%d:rid=%s@%s", r->n, get(&x), now());
	cl_sleep(r->d);
	note("%d:rid=%s@%s", r->n, get(&x), now());
	return NULL;
}

static const struct request requests[3] = { { 1, 2.5 }, { 2, 1 },
					    { 3, 1.5 } };

static void *interleaved_main(void *arg)
{
	struct cl_task *t[3];

	(void)arg;
	for (int i = 0; i < 3; i++)
		t[i] = spawn(handler, (void *)&requests[i], NULL);
	for (int i = 0; i < 3; i++)
		join(t[i]);
	note("main:rid=%s", get(&x));
	return NULL;
}

/* ch06_contextvars.py, test_interleaved_tasks_keep_their_own_values */
START_TEST(test_interleaved_tasks_keep_their_own_values)
{
	cl_contextvar_init(&x, "rid");
	run_ok(interleaved_main, NULL);
	EXPECT_TRAIL("2:rid=2@1 3:rid=3@1.5 2:rid=2@2 1:rid=1@2.5 3:rid=3@3 "
		     "1:rid=1@5 main:rid=LookupError");
}
END_TEST

static void *given_child(void *arg)
{
	(void)arg;
	note("child:x=%s", get(&x));
	cl_contextvar_set(&x, CL_INT(5));
	cl_contextvar_set(&y, CL_INT(6));
	cl_sleep(1);
	note("child:x=%s@%s", get(&x), now());
	return NULL;
}

static void *given_main(void *arg)
{
	struct cl_context *ctx;
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	ctx = cl_copy_context();
	t = spawn(given_child, NULL, ctx);
	cl_contextvar_set(&x, CL_INT(2));
	join(t);
	note("main:x=%s y=%s ctx:x=%s y=%s", get(&x), get(&y), cget(ctx, &x),
	     cget(ctx, &y));
	cl_context_decref(ctx);
	return NULL;
}

/* ch06_contextvars.py, test_create_task_in_a_given_context */
START_TEST(test_create_task_in_a_given_context)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	run_ok(given_main, NULL);
	EXPECT_TRAIL("child:x=1 child:x=5@1 main:x=2 y=LookupError ctx:x=5 "
		     "y=6");
}
END_TEST

static void *shared_t1(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	cl_sleep(2);
	note("t1:y=%s@%s", get(&y), now());
	return NULL;
}

static void *shared_t2(void *arg)
{
	(void)arg;
	note("t2:x=%s@%s", get(&x), now());
	cl_sleep(1);
	note("t2:x=%s@%s", get(&x), now());
	cl_contextvar_set(&y, CL_INT(2));
	return NULL;
}

static void *shared_main(void *arg)
{
	struct cl_context *ctx = cl_context_new();
	struct cl_task *t1, *t2;

	(void)arg;
	t1 = spawn(shared_t1, NULL, ctx);
	t2 = spawn(shared_t2, NULL, ctx);
	join(t1);
	join(t2);
	note("main:x=%s ctx:x=%s y=%s", get(&x), cget(ctx, &x), cget(ctx, &y));
	cl_context_decref(ctx);
	return NULL;
}

/* ch06_contextvars.py, test_two_tasks_share_a_context */
START_TEST(test_two_tasks_share_a_context)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	run_ok(shared_main, NULL);
	EXPECT_TRAIL("t2:x=1@0 t2:x=1@1 t1:y=2@2 main:x=LookupError ctx:x=1 "
		     "y=2");
}
END_TEST

/* Fail the test unless a call_* gave a handle. */
static void scheduled(struct cl_handle *h)
{
	CL_EXPECT(h != NULL, "scheduling a callback failed (log so far: "
			     "\"%s\")", trail);
}

static void soon_cb(void *arg)
{
	note("%s:x=%s y=%s", (const char *)arg, get(&x), get(&y));
	cl_contextvar_set(&x, CL_INT(9));
	cl_contextvar_set(&y, CL_INT(9));
}

static void *soon_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	scheduled(cl_loop_call_soon(loop, soon_cb, "a"));
	cl_contextvar_set(&x, CL_INT(2));
	scheduled(cl_loop_call_soon(loop, soon_cb, "b"));
	cl_contextvar_set(&x, CL_INT(3));
	cl_sleep(0);
	note("main:x=%s y=%s", get(&x), get(&y));
	return NULL;
}

/* ch06_contextvars.py, test_call_soon_runs_in_a_copy */
START_TEST(test_call_soon_runs_in_a_copy)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	run_ok(soon_main, NULL);
	EXPECT_TRAIL("a:x=1 y=LookupError b:x=2 y=LookupError main:x=3 "
		     "y=LookupError");
}
END_TEST

static void timer_cb(void *arg)
{
	note("%s:x=%s@%s", (const char *)arg, get(&x), now());
	cl_contextvar_set(&x, CL_INT(9));
}

static void *timers_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	scheduled(cl_loop_call_later(loop, 1, timer_cb, "later"));
	cl_contextvar_set(&x, CL_INT(2));
	scheduled(cl_loop_call_at(loop, cl_loop_time(loop) + 2, timer_cb,
				  "at"));
	cl_contextvar_set(&x, CL_INT(3));
	cl_sleep(3);
	note("main:x=%s@%s", get(&x), now());
	return NULL;
}

/* ch06_contextvars.py, test_timers_run_in_a_copy */
START_TEST(test_timers_run_in_a_copy)
{
	cl_contextvar_init(&x, "x");
	run_ok(timers_main, NULL);
	EXPECT_TRAIL("later:x=1@1 at:x=2@2 main:x=3@3");
}
END_TEST

/* Note x, then add 1 to it. */
static void count_cb(void *arg)
{
	intptr_t n = CL_TOINT(cl_contextvar_get_or(&x, NULL));

	note("%s:x=%s@%s", (const char *)arg, get(&x), now());
	cl_contextvar_set(&x, CL_INT(n + 1));
}

static void *given_cbs_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_context *ctx = cl_context_new();

	(void)arg;
	scheduled(cl_loop_call_soon_ctx(loop, count_cb, "soon", ctx));
	scheduled(cl_loop_call_later_ctx(loop, 1, count_cb, "later", ctx));
	scheduled(cl_loop_call_at_ctx(loop, cl_loop_time(loop) + 2, count_cb,
				      "at", ctx));
	scheduled(cl_loop_call_soon(loop, count_cb, "copy"));
	cl_sleep(3);
	note("main:x=%s ctx:x=%s", get(&x), cget(ctx, &x));
	cl_context_decref(ctx);
	return NULL;
}

/* ch06_contextvars.py, test_callbacks_in_a_given_context */
START_TEST(test_callbacks_in_a_given_context)
{
	cl_contextvar_init(&x, "x");
	run_ok(given_cbs_main, NULL);
	EXPECT_TRAIL("soon:x=LookupError@0 copy:x=LookupError@0 later:x=1@1 "
		     "at:x=2@2 main:x=LookupError ctx:x=3");
}
END_TEST

/* A done callback: note x, then add 10 to it. */
static void done_cb(struct cl_future *f, void *arg)
{
	intptr_t n = CL_TOINT(cl_contextvar_get_or(&x, NULL));

	(void)f;
	note("%s:x=%s", (const char *)arg, get(&x));
	cl_contextvar_set(&x, CL_INT(n + 10));
}

static void *done_main(void *arg)
{
	struct cl_context *ctx = cl_context_new();
	struct cl_future *f = cl_future_new(cl_get_running_loop());

	(void)arg;
	CL_EXPECT(f != NULL, "cl_future_new failed");
	cl_contextvar_set(&x, CL_INT(1));
	CL_EXPECT_INT(cl_future_add_done_callback(f, done_cb, "copy"), 0);
	cl_contextvar_set(&x, CL_INT(2));
	CL_EXPECT_INT(cl_future_add_done_callback_ctx(f, done_cb, "given",
						      ctx),
		      0);
	cl_contextvar_set(&x, CL_INT(3));
	cl_future_set_result(f, NULL);
	cl_sleep(0);
	note("main:x=%s ctx:x=%s", get(&x), cget(ctx, &x));
	cl_contextvar_set(&x, CL_INT(4));
	CL_EXPECT_INT(cl_future_add_done_callback(f, done_cb, "late"), 0);
	CL_EXPECT_INT(cl_future_add_done_callback_ctx(f, done_cb,
						      "late-given", ctx),
		      0);
	cl_contextvar_set(&x, CL_INT(5));
	cl_sleep(0);
	note("main:x=%s ctx:x=%s", get(&x), cget(ctx, &x));
	cl_future_decref(f);
	cl_context_decref(ctx);
	return NULL;
}

/* ch06_contextvars.py, test_done_callbacks_run_in_a_copy */
START_TEST(test_done_callbacks_run_in_a_copy)
{
	cl_contextvar_init(&x, "x");
	run_ok(done_main, NULL);
	EXPECT_TRAIL("copy:x=1 given:x=LookupError main:x=3 ctx:x=10 late:x=4 "
		     "late-given:x=10 main:x=5 ctx:x=20");
}
END_TEST

static void from_task_cb(void *arg)
{
	(void)arg;
	note("cb:x=%s", get(&x));
	cl_contextvar_set(&x, CL_INT(9));
}

static void *from_task_child(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(5));
	scheduled(cl_loop_call_soon(cl_get_running_loop(), from_task_cb,
				    NULL));
	cl_contextvar_set(&x, CL_INT(6));
	cl_sleep(0);
	note("child:x=%s", get(&x));
	return NULL;
}

static void *from_task_main(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	join(spawn(from_task_child, NULL, NULL));
	note("main:x=%s", get(&x));
	return NULL;
}

/* ch06_contextvars.py, test_callback_scheduled_by_a_task_copies_its_context */
START_TEST(test_callback_scheduled_by_a_task_copies_its_context)
{
	cl_contextvar_init(&x, "x");
	run_ok(from_task_main, NULL);
	EXPECT_TRAIL("cb:x=5 child:x=6 main:x=1");
}
END_TEST

static void run_in_task_cb(void *arg)
{
	(void)arg;
	note("cb:x=%s", get(&x));
}

static void *run_in_task_child(void *arg)
{
	(void)arg;
	note("child:x=%s", get(&x));
	return NULL;
}

static void *run_in_task_fn(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(7));
	note("in:x=%s", get(&x));
	scheduled(cl_loop_call_soon(cl_get_running_loop(), run_in_task_cb,
				    NULL));
	return spawn(run_in_task_child, NULL, NULL);
}

static void *run_in_task_main(void *arg)
{
	struct cl_context *ctx = cl_context_new();
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	t = cl_context_run(ctx, run_in_task_fn, NULL);
	note("main:x=%s", get(&x));
	join(t);
	note("main:x=%s ctx:x=%s", get(&x), cget(ctx, &x));
	cl_context_decref(ctx);
	return NULL;
}

/* ch06_contextvars.py, test_context_run_inside_a_task */
START_TEST(test_context_run_inside_a_task)
{
	cl_contextvar_init(&x, "x");
	run_ok(run_in_task_main, NULL);
	EXPECT_TRAIL("in:x=7 main:x=1 cb:x=7 child:x=7 main:x=1 ctx:x=7");
}
END_TEST

static void *cancelled_child(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(5));
	CL_TRY {
		cl_sleep(10);
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_CancelledError))
			note("child:cancelled x=%s@%s", get(&x), now());
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *cancelled_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	t = spawn(cancelled_child, NULL, NULL);
	cl_sleep(1);
	cl_task_cancel(t);
	CL_TRY {
		cl_await_task(t);
		note("no-raise");
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		note("main:x=%s cancelled=%s", get(&x),
		     tf(cl_future_cancelled(&t->fut)));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return NULL;
}

/* ch06_contextvars.py, test_cancelled_task_keeps_its_context */
START_TEST(test_cancelled_task_keeps_its_context)
{
	cl_contextvar_init(&x, "x");
	run_ok(cancelled_main, NULL);
	EXPECT_TRAIL("child:cancelled x=5@1 main:x=1 cancelled=True");
}
END_TEST

static void *failed_child(void *arg)
{
	(void)arg;
	cl_contextvar_set(&x, CL_INT(9));
	cl_sleep(1);
	cl_contextvar_set(&x, CL_INT(10));
	cl_raise(cl_exc_new(&cl_ValueError, "child"));
}

static void *failed_main(void *arg)
{
	struct cl_task *t;

	(void)arg;
	cl_contextvar_set(&x, CL_INT(1));
	t = spawn(failed_child, NULL, NULL);
	CL_TRY {
		cl_await_task(t);
		note("no-raise");
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_ValueError))
			cl_raise(e);
		note("main:%s:%s x=%s@%s", cl_exc_name(e), cl_exc_message(e),
		     get(&x), now());
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_task_decref(t);
	cl_sleep(0);
	note("main:x=%s", get(&x));
	return NULL;
}

/* ch06_contextvars.py, test_failed_task_leaves_the_context */
START_TEST(test_failed_task_leaves_the_context)
{
	cl_contextvar_init(&x, "x");
	run_ok(failed_main, NULL);
	EXPECT_TRAIL("main:ValueError:child x=1@1 main:x=1");
}
END_TEST

static void *run_copy_main(void *arg)
{
	(void)arg;
	note("main:x=%s y=%s", get(&x), get(&y));
	cl_contextvar_set(&x, CL_INT(2));
	cl_contextvar_set(&y, CL_INT(3));
	note("main:x=%s y=%s", get(&x), get(&y));
	return NULL;
}

/* ch06_contextvars.py, test_run_gives_main_a_copy. run_on empties the
 * trail, so the caller notes only after it. */
START_TEST(test_run_gives_main_a_copy)
{
	cl_contextvar_init(&x, "x");
	cl_contextvar_init(&y, "y");
	cl_contextvar_set(&x, CL_INT(1));
	run_ok(run_copy_main, NULL);
	note("after:x=%s y=%s", get(&x), get(&y));
	EXPECT_TRAIL("main:x=1 y=LookupError main:x=2 y=3 after:x=1 "
		     "y=LookupError");
}
END_TEST

static void add_contextvar_tests(void)
{
	cl_test(test_contextvar_get_without_a_default, 2, SEC_VAR);
	cl_test(test_contextvar_get_with_a_default, 2, SEC_VAR);
	cl_test(test_token_remembers_the_old_value, 2, SEC_VAR);
	cl_test(test_token_used_twice, 2, SEC_VAR);
	cl_test(test_token_of_another_variable, 1, SEC_VAR);
	cl_test(test_token_from_another_context, 2, SEC_VAR);
	cl_test(test_tokens_reset_out_of_order, 2, SEC_VAR);
	cl_test(test_copy_context_is_a_snapshot, 1, SEC_RUN);
	cl_test(test_context_run_keeps_what_fn_sets, 2, SEC_RUN);
	cl_test(test_context_run_restores_on_raise, 2, SEC_RUN);
	cl_test(test_context_entered_twice, 2, SEC_RUN);
	cl_test(test_context_mapping, 2, SEC_RUN);
	cl_test(test_context_items, 2, SEC_RUN);
	cl_test(test_context_copy_is_independent, 1, SEC_RUN);
	cl_test(test_tokens_and_contexts_freed_in_any_order, 2, SEC_RUN);
	cl_test(test_task_copies_the_context_at_creation, 2, SEC_TASKS);
	cl_test(test_task_sets_stay_in_the_task, 2, SEC_TASKS);
	cl_test(test_context_inherited_through_a_chain, 2, SEC_TASKS);
	cl_test(test_interleaved_tasks_keep_their_own_values, 3, SEC_TASKS);
	cl_test(test_create_task_in_a_given_context, 2, SEC_TASKS);
	cl_test(test_two_tasks_share_a_context, 2, SEC_TASKS);
	cl_test(test_call_soon_runs_in_a_copy, 2, SEC_TASKS);
	cl_test(test_timers_run_in_a_copy, 2, SEC_TASKS);
	cl_test(test_callbacks_in_a_given_context, 2, SEC_TASKS);
	cl_test(test_done_callbacks_run_in_a_copy, 2, SEC_TASKS);
	cl_test(test_callback_scheduled_by_a_task_copies_its_context, 1,
		SEC_TASKS);
	cl_test(test_context_run_inside_a_task, 2, SEC_TASKS);
	cl_test(test_cancelled_task_keeps_its_context, 1, SEC_TASKS);
	cl_test(test_failed_task_leaves_the_context, 1, SEC_TASKS);
	cl_test(test_run_gives_main_a_copy, 2, SEC_TASKS);
}

CL_CHAPTER(6, "06-contextvars", "contextvars", add_contextvar_tests)
