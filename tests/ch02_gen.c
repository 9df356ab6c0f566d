/*
 * ch02_gen.c - chapter 02: stackful generators and their protocol.
 *
 * Every expectation here is what CPython 3.11 does with the same
 * generator, written in tests/py/ch02_*.py (the comment above each test
 * names the file; run it with python3 and compare).
 *
 * Most bodies are tiny and report through a log string, so a failure
 * message shows what the body did, next to what it should have done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exc.h"
#include "gen.h"
#include "grade.h"

#define SEC_GEN "4. Generators on their own stacks"
#define SEC_EXC "5. Exceptions in C: raise, try, catch"
#define SEC_PROTO "6. Send, throw, close"
#define SEC_DELEGATE "7. Delegation: yield from"

/* What the bodies did, in order: "a b c ". A test empties it first. */
static char trail[1024];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	size_t len = strlen(trail);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trail + len, sizeof trail - len, fmt, ap);
	va_end(ap);
	if (strlen(trail) + 1 < sizeof trail)
		strcat(trail, " ");
}

static struct cl_gen *new_gen(void *(*fn)(void *), void *arg,
			      const char *name)
{
	struct cl_gen *g = cl_gen_new(fn, arg, name);

	CL_EXPECT(g != NULL, "cl_gen_new(\"%s\") returned NULL (%s)", name,
		  strerror(errno));
	return g;
}

static const char *status_name(int status)
{
	switch (status) {
	case CL_GEN_YIELDED:
		return "CL_GEN_YIELDED";
	case CL_GEN_RETURNED:
		return "CL_GEN_RETURNED";
	case CL_GEN_RAISED:
		return "CL_GEN_RAISED";
	case 0:
		return "0";
	}
	return "an unknown status";
}

/* A resume's outcome, for failure messages: the exception if one came. */
static const char *outcome(int status, const void *out)
{
	static char buf[512];

	if (status == CL_GEN_RAISED && out != NULL)
		snprintf(buf, sizeof buf, "CL_GEN_RAISED (%s: %s)",
			 cl_exc_name(out), cl_exc_message(out));
	else
		snprintf(buf, sizeof buf, "%s (%d)", status_name(status),
			 status);
	return buf;
}

/* Resume with call; fail unless it ended with status want. */
#define EXPECT_STATUS(call, out, want)                                       \
	do {                                                                 \
		int st_ = (call);                                            \
		CL_EXPECT(st_ == (want), "%s: expected %s, got %s", #call,   \
			  status_name(want), outcome(st_, (out)));           \
	} while (0)

/* Fail unless e is an exception of exactly that type and message. */
#define EXPECT_EXC(e, type, msg)                                             \
	do {                                                                 \
		const struct cl_exc *e_ = (e);                               \
		CL_EXPECT(e_ != NULL, "%s: expected %s, got NULL", #e,      \
			  (type).name);                                      \
		CL_EXPECT_STR(cl_exc_name(e_), (type).name);                 \
		CL_EXPECT_STR(cl_exc_message(e_), (msg));                    \
	} while (0)

#define EXPECT_STATE(g, want)                                                \
	CL_EXPECT(cl_gen_state(g) == (want),                                 \
		  "cl_gen_state(%s): expected %s, got %d", #g, #want,        \
		  (int)cl_gen_state(g))

/* ---- 4. Generators on their own stacks ------------------------------ */

static void *three(void *arg)
{
	(void)arg;
	cl_yield(CL_INT(1));
	cl_yield(CL_INT(2));
	cl_yield(CL_INT(3));
	return CL_INT(42);
}

/* ch02_send.py: yields 1 2 3, then StopIteration with value 42. */
START_TEST(test_gen_yields_then_returns)
{
	struct cl_gen *g = new_gen(three, NULL, "three");
	void *v = NULL;

	for (int i = 1; i <= 3; i++) {
		EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
		CL_EXPECT_INT(CL_TOINT(v), i);
	}
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_INT(CL_TOINT(v), 42);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* ch02_send.py: next, send(7), next after the end: bare StopIteration. */
START_TEST(test_gen_finished_stays_finished)
{
	struct cl_gen *g = new_gen(three, NULL, "three");
	void *v = NULL;

	while (cl_gen_next(g, &v) == CL_GEN_YIELDED)
		;
	for (int i = 0; i < 3; i++) {
		v = CL_INT(-1);
		EXPECT_STATUS(cl_gen_send(g, i == 1 ? CL_INT(7) : NULL, &v), v,
			      CL_GEN_RETURNED);
		CL_EXPECT_PTR(v, NULL);
	}
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

static void *running_total(void *arg)
{
	intptr_t total = 0;
	void *x;

	(void)arg;
	while ((x = cl_yield(CL_INT(total))) != NULL)
		total += CL_TOINT(x);
	return CL_INT(total);
}

/* ch02_send.py: running total: 0 5 15 12 returns 12. */
START_TEST(test_gen_send_values_in)
{
	struct cl_gen *g = new_gen(running_total, NULL, "running_total");
	const int sent[] = { 5, 10, -3 }, want[] = { 5, 15, 12 };
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_INT(CL_TOINT(v), 0);
	for (int i = 0; i < 3; i++) {
		EXPECT_STATUS(cl_gen_send(g, CL_INT(sent[i]), &v), v,
			      CL_GEN_YIELDED);
		CL_EXPECT_INT(CL_TOINT(v), want[i]);
	}
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_INT(CL_TOINT(v), 12);
	cl_gen_free(g);
}
END_TEST

/* Plain C functions that yield: only a body with a stack of its own can. */
static void leaf(int n)
{
	cl_yield(CL_INT(n));
	cl_yield(CL_INT(n + 1));
}

static int middle(int n)
{
	leaf(n);
	leaf(10 * n);
	return 100 * n;
}

static void *outer_calls(void *arg)
{
	(void)arg;
	cl_yield(CL_INT(middle(1)));
	return "done";
}

/* ch02_send.py: nested: [1, 2, 10, 11, 100], returns "done". */
START_TEST(test_gen_yield_from_nested_call)
{
	struct cl_gen *g = new_gen(outer_calls, NULL, "outer");
	const int want[] = { 1, 2, 10, 11, 100 };
	void *v = NULL;

	for (int i = 0; i < 5; i++) {
		EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
		CL_EXPECT_INT(CL_TOINT(v), want[i]);
	}
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_STR((const char *)v, "done");
	cl_gen_free(g);
}
END_TEST

static void *letters(void *arg)
{
	const char *prefix = arg;
	char buf[8];

	/* buf lives on this generator's stack, across the yields. */
	for (int i = 0; i < 3; i++) {
		snprintf(buf, sizeof buf, "%s%d", prefix, i);
		note("%s", buf);
		cl_yield(buf);
	}
	return NULL;
}

/* ch02_send.py: interleaved: a0 b0 a1 b1 a2 b2. */
START_TEST(test_gen_two_interleaved)
{
	struct cl_gen *a = new_gen(letters, "a", "a");
	struct cl_gen *b = new_gen(letters, "b", "b");
	void *va = NULL, *vb = NULL;
	char want[8];

	trail[0] = '\0';
	for (int i = 0; i < 3; i++) {
		EXPECT_STATUS(cl_gen_next(a, &va), va, CL_GEN_YIELDED);
		EXPECT_STATUS(cl_gen_next(b, &vb), vb, CL_GEN_YIELDED);
		/* Both values still readable: each on its own stack. */
		snprintf(want, sizeof want, "a%d", i);
		CL_EXPECT_STR((const char *)va, want);
		snprintf(want, sizeof want, "b%d", i);
		CL_EXPECT_STR((const char *)vb, want);
	}
	CL_EXPECT_STR(trail, "a0 b0 a1 b1 a2 b2 ");
	EXPECT_STATUS(cl_gen_next(a, &va), va, CL_GEN_RETURNED);
	EXPECT_STATUS(cl_gen_next(b, &vb), vb, CL_GEN_RETURNED);
	cl_gen_free(a);
	cl_gen_free(b);
}
END_TEST

static void *squares(void *arg)
{
	intptr_t n = CL_TOINT(arg);

	for (intptr_t i = 0; i < n; i++)
		cl_yield(CL_INT(i * i));
	return CL_INT(n);
}

static struct cl_gen *summer_gen, *squares_gen;

static void *summer(void *arg)
{
	struct cl_gen *inner = cl_gen_new(squares, CL_INT(4), "squares");
	intptr_t total = 0;
	void *v;
	int status;

	(void)arg;
	if (inner == NULL)
		return NULL;
	squares_gen = inner;
	while ((status = cl_gen_next(inner, &v)) == CL_GEN_YIELDED) {
		/* Back from inner: we are the current generator again. */
		if (cl_gen_current() != summer_gen)
			note("current is wrong after resuming inner");
		total += CL_TOINT(v);
		cl_yield(CL_INT(total));
	}
	note("inner returned %d", (int)CL_TOINT(v));
	cl_gen_free(inner);
	return CL_INT(total);
}

/* ch02_send.py: partial sums: 0 1 5 14; summer returns (14, 4). */
START_TEST(test_gen_drives_another)
{
	const int want[] = { 0, 1, 5, 14 };
	void *v = NULL;

	trail[0] = '\0';
	summer_gen = new_gen(summer, NULL, "summer");
	for (int i = 0; i < 4; i++) {
		EXPECT_STATUS(cl_gen_next(summer_gen, &v), v, CL_GEN_YIELDED);
		CL_EXPECT_INT(CL_TOINT(v), want[i]);
		CL_EXPECT(squares_gen != NULL, "summer made no generator");
		EXPECT_STATE(squares_gen, CL_GEN_SUSPENDED);
	}
	EXPECT_STATUS(cl_gen_next(summer_gen, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_INT(CL_TOINT(v), 14);
	CL_EXPECT_STR(trail, "inner returned 4 ");
	CL_EXPECT_PTR(cl_gen_current(), NULL);
	cl_gen_free(summer_gen);
}
END_TEST

static void *echo_double(void *arg)
{
	void *x = cl_yield(NULL);

	(void)arg;
	for (;;)
		x = cl_yield(CL_INT(2 * CL_TOINT(x)));
	return NULL; /* not reached: the test frees it while suspended */
}

/* How many PROT_NONE mappings (guard pages, one per mapped stack) the
 * process has. */
static int guard_pages(void)
{
	char line[512], perms[8];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	CL_EXPECT(f != NULL, "/proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%*x-%*x %7s", perms) == 1 &&
		    strcmp(perms, "---p") == 0)
			n++;
	fclose(f);
	return n;
}

/*
 * A finished generator gives its stack back at once, as CPython clears a
 * finished generator's frame (gi_frame is None), not when it is freed:
 * 2000 generators run to their end one after another, none freed yet,
 * need one stack between them.
 */
static void *yields_once(void *arg)
{
	(void)arg;
	cl_yield(NULL);
	return NULL;
}

START_TEST(test_gen_finished_gives_its_stack_back)
{
	enum { N = 2000 };
	static struct cl_gen *g[N];
	int before = guard_pages(), after;
	void *v = NULL;

	for (int i = 0; i < N; i++) {
		g[i] = new_gen(yields_once, NULL, "yields_once");
		EXPECT_STATUS(cl_gen_next(g[i], &v), v, CL_GEN_YIELDED);
		EXPECT_STATUS(cl_gen_next(g[i], &v), v, CL_GEN_RETURNED);
	}
	after = guard_pages();
	CL_EXPECT(after - before < 10,
		  "%d finished generators, none freed yet, hold %d stacks: a "
		  "generator that returns must free its stack (cl_stack_free) "
		  "and forget it", N, after - before);
	for (int i = 0; i < N; i++)
		cl_gen_free(g[i]);
}
END_TEST

/* ch02_send.py: 10000 sends to a doubler: sum of doubles 99990000. */
START_TEST(test_gen_ten_thousand_yields)
{
	struct cl_gen *g = new_gen(echo_double, NULL, "echo_double");
	long long total = 0;
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	for (int i = 0; i < 10000; i++) {
		int status = cl_gen_send(g, CL_INT(i), &v);
		CL_EXPECT(status == CL_GEN_YIELDED,
			  "send number %d: expected CL_GEN_YIELDED, got %s", i,
			  outcome(status, v));
		total += CL_TOINT(v);
	}
	CL_EXPECT_INT(total, 99990000);
	/* It never returns by itself: freeing it closes it. */
	cl_gen_free(g);
}
END_TEST

static void *whoami(void *arg)
{
	struct cl_gen *self = cl_gen_current();

	(void)arg;
	note("%s", self ? cl_gen_name(self) : "(none)");
	cl_yield(CL_INT(self ? (int)cl_gen_state(self) : -1));
	return NULL;
}

/* ch02_send.py: states: CREATED RUNNING SUSPENDED CLOSED, name whoami. */
START_TEST(test_gen_state_and_current)
{
	struct cl_gen *g = new_gen(whoami, NULL, "whoami");
	struct cl_exc *err = NULL;
	void *v = NULL;

	trail[0] = '\0';
	CL_EXPECT_PTR(cl_gen_current(), NULL);
	CL_EXPECT_STR(cl_gen_name(g), "whoami");
	EXPECT_STATE(g, CL_GEN_CREATED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_INT(CL_TOINT(v), CL_GEN_RUNNING);
	CL_EXPECT_STR(trail, "whoami ");
	EXPECT_STATE(g, CL_GEN_SUSPENDED);
	CL_EXPECT_PTR(cl_gen_current(), NULL);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* ---- 5. Exceptions in C --------------------------------------------- */

static void *fails(void *arg)
{
	(void)arg;
	cl_yield(CL_INT(1));
	cl_raise(cl_exc_new(&cl_ValueError, "bad value %d", 7));
}

/* ch02_throw.py: escaped: ValueError | bad value 7 | Exception, not
 * TypeError, GEN_CLOSED; then next: StopIteration, value None. */
START_TEST(test_gen_body_exception_reaches_caller)
{
	struct cl_gen *g = new_gen(fails, NULL, "fails");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_ValueError, "bad value 7");
	CL_EXPECT(cl_exc_matches(v, &cl_Exception), "ValueError is an "
		  "Exception: cl_exc_matches said no");
	CL_EXPECT(!cl_exc_matches(v, &cl_TypeError), "ValueError is not a "
		  "TypeError: cl_exc_matches said yes");
	cl_exc_decref(v);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_PTR(v, NULL);
	cl_gen_free(g);
}
END_TEST

static intptr_t parse(intptr_t n)
{
	if (n % 2)
		cl_raise(cl_exc_new(&cl_ValueError, "odd: %d", (int)n));
	return n / 2;
}

static void *halves(void *arg)
{
	/* Changed after CL_TRY and read after a catch: volatile (exc.h). */
	volatile intptr_t done = 0;

	(void)arg;
	for (volatile intptr_t n = 0; n < 4; n++) {
		CL_TRY {
			done++;
			cl_yield(CL_INT(parse(n)));
		} CL_CATCH(e) {
			note("caught %s", cl_exc_message(e));
			cl_exc_decref(e);
			cl_yield(CL_INT(-1));
		} CL_END_TRY;
	}
	return CL_INT(done);
}

/* ch02_throw.py: halves: 0, caught odd: 1, 1, caught odd: 3; returns 4. */
START_TEST(test_gen_try_catch_in_body)
{
	struct cl_gen *g = new_gen(halves, NULL, "halves");
	const int want[] = { 0, -1, 1, -1 };
	void *v = NULL;

	trail[0] = '\0';
	for (int i = 0; i < 4; i++) {
		EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
		CL_EXPECT_INT(CL_TOINT(v), want[i]);
	}
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_INT(CL_TOINT(v), 4);
	CL_EXPECT_STR(trail, "caught odd: 1 caught odd: 3 ");
	cl_gen_free(g);
}
END_TEST

static void *stops(void *arg)
{
	(void)arg;
	cl_yield(CL_INT(1));
	cl_raise(cl_exc_stop_iteration(CL_INT(3)));
}

static void *waits(void *arg)
{
	(void)arg;
	cl_yield(CL_INT(1));
	return NULL;
}

static void expect_pep479(struct cl_exc *e, intptr_t value)
{
	EXPECT_EXC(e, cl_RuntimeError, "generator raised StopIteration");
	CL_EXPECT(cl_exc_cause(e) != NULL, "RuntimeError has no __cause__");
	EXPECT_EXC(cl_exc_cause(e), cl_StopIteration, "");
	CL_EXPECT_INT(CL_TOINT(cl_exc_value(cl_exc_cause(e))), value);
	CL_EXPECT(cl_exc_context(e) == cl_exc_cause(e),
		  "RuntimeError's __context__ is not its __cause__, the "
		  "StopIteration (it was raised while that one was being "
		  "handled)");
}

/* ch02_throw.py: PEP 479: RuntimeError | generator raised StopIteration |
 * cause: StopIteration 3 (the context too), GEN_CLOSED; the same for a StopIteration thrown
 * in, started or not. */
START_TEST(test_gen_pep479)
{
	struct cl_gen *g = new_gen(stops, NULL, "stops");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RAISED);
	expect_pep479(v, 3);
	cl_exc_decref(v);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);

	for (int started = 0; started < 2; started++) {
		g = new_gen(waits, NULL, "waits");
		if (started)
			EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
		EXPECT_STATUS(cl_gen_throw(g, cl_exc_stop_iteration(CL_INT(4)),
					   &v),
			      v, CL_GEN_RAISED);
		expect_pep479(v, 4);
		cl_exc_decref(v);
		cl_gen_free(g);
	}
}
END_TEST

static void *guarded(void *arg)
{
	const char *name = arg;
	char buf[64]; /* on this generator's stack */

	snprintf(buf, sizeof buf, "%s ready", name);
	CL_TRY {
		cl_yield(buf);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_ValueError))
			cl_raise(e); /* GeneratorExit from cl_gen_free */
		snprintf(buf, sizeof buf, "%s caught %s", name,
			 cl_exc_message(e));
		cl_exc_decref(e);
		cl_yield(buf);
	} CL_END_TRY;
	return NULL;
}

/* ch02_throw.py: caller caught: caller's, GEN_SUSPENDED; then a caught to
 * a | b caught to b. Each generator's handlers are its own (exc.h rule 4):
 * they must leave the chain when it suspends and come back when it is
 * resumed, or a raise jumps onto the wrong stack. */
START_TEST(test_gen_handlers_stay_with_their_generator)
{
	struct cl_gen *g = new_gen(guarded, "g", "g");
	struct cl_gen *a, *b;
	volatile int status = 0;
	const char *volatile caught = "nothing";
	void *v = NULL;

	CL_TRY {
		status = cl_gen_next(g, &v);
		if (status == CL_GEN_YIELDED)
			cl_raise(cl_exc_new(&cl_ValueError, "caller's"));
	} CL_CATCH(e) {
		caught = cl_exc_message(e)[0] == 'c' ? "caller's" : "other";
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_EXPECT(status == CL_GEN_YIELDED, "cl_gen_next(g, &v): expected "
		  "CL_GEN_YIELDED, got %s", outcome(status, v));
	CL_EXPECT_STR(caught, "caller's");
	EXPECT_STATE(g, CL_GEN_SUSPENDED);
	cl_gen_free(g);

	a = new_gen(guarded, "a", "a");
	b = new_gen(guarded, "b", "b");
	EXPECT_STATUS(cl_gen_next(a, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_next(b, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_throw(a, cl_exc_new(&cl_ValueError, "to a"), &v),
		      v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "a caught to a");
	EXPECT_STATUS(cl_gen_throw(b, cl_exc_new(&cl_ValueError, "to b"), &v),
		      v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "b caught to b");
	cl_gen_free(a);
	cl_gen_free(b);
}
END_TEST

/* ---- 6. Send, throw, close ------------------------------------------ */

static void *spy(void *arg)
{
	void *x;

	(void)arg;
	note("ran");
	x = cl_yield("first");
	cl_yield(x);
	return NULL;
}

/* ch02_send.py: send(5) first: TypeError can't send non-None value to a
 * just-started generator, GEN_CREATED, body ran: False; then next: first,
 * send(5): 5. */
START_TEST(test_gen_first_send_must_be_none)
{
	struct cl_gen *g = new_gen(spy, NULL, "spy");
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_send(g, CL_INT(5), &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_TypeError,
		   "can't send non-None value to a just-started generator");
	cl_exc_decref(v);
	EXPECT_STATE(g, CL_GEN_CREATED);
	CL_EXPECT_STR(trail, "");
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "first");
	EXPECT_STATUS(cl_gen_send(g, CL_INT(5), &v), v, CL_GEN_YIELDED);
	CL_EXPECT_INT(CL_TOINT(v), 5);
	CL_EXPECT_STR(trail, "ran ");
	cl_gen_free(g);
}
END_TEST

static void *catcher(void *arg)
{
	(void)arg;
	for (;;) {
		CL_TRY {
			cl_yield("ready");
		} CL_CATCH(e) {
			static char buf[64];

			if (!cl_exc_matches(e, &cl_ValueError))
				cl_raise(e);
			snprintf(buf, sizeof buf, "caught %s",
				 cl_exc_message(e));
			cl_exc_decref(e);
			cl_yield(buf);
		} CL_END_TRY;
	}
}

/* ch02_throw.py: catcher: ready | caught v1 | ready. */
START_TEST(test_gen_throw_caught_yields_again)
{
	struct cl_gen *g = new_gen(catcher, NULL, "catcher");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "ready");
	EXPECT_STATUS(cl_gen_throw(g, cl_exc_new(&cl_ValueError, "v1"), &v), v,
		      CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "caught v1");
	EXPECT_STATE(g, CL_GEN_SUSPENDED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "ready");
	cl_gen_free(g);
}
END_TEST

static void *returner(void *arg)
{
	static char buf[64];

	(void)arg;
	CL_TRY {
		cl_yield("ready");
	} CL_CATCH(e) {
		snprintf(buf, sizeof buf, "handled %s", cl_exc_message(e));
		cl_exc_decref(e);
		return buf; /* leaving a catch block is allowed */
	} CL_END_TRY;
	return NULL;
}

/* ch02_throw.py: returner: StopIteration, value handled v2, GEN_CLOSED. */
START_TEST(test_gen_throw_caught_returns)
{
	struct cl_gen *g = new_gen(returner, NULL, "returner");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_throw(g, cl_exc_new(&cl_ValueError, "v2"), &v), v,
		      CL_GEN_RETURNED);
	CL_EXPECT_STR((const char *)v, "handled v2");
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* ch02_throw.py: uncaught: same object: True, GEN_CLOSED; then next:
 * StopIteration, value None. */
START_TEST(test_gen_throw_uncaught)
{
	struct cl_gen *g = new_gen(waits, NULL, "waits");
	struct cl_exc *exc = cl_exc_new(&cl_ValueError, "v3");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_throw(g, exc, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_ValueError, "v3");
	CL_EXPECT_PTR(v, exc);
	cl_exc_decref(v);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_PTR(v, NULL);
	cl_gen_free(g);
}
END_TEST

/* ch02_throw.py: unstarted: same object: True, body ran: False,
 * GEN_CLOSED; then next: StopIteration, value None, body ran: False. */
START_TEST(test_gen_throw_unstarted)
{
	struct cl_gen *g = new_gen(spy, NULL, "spy");
	struct cl_exc *exc = cl_exc_new(&cl_TypeError, "early");
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_throw(g, exc, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_TypeError, "early");
	CL_EXPECT_PTR(v, exc);
	cl_exc_decref(v);
	CL_EXPECT_STR(trail, "");
	EXPECT_STATE(g, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_PTR(v, NULL);
	CL_EXPECT_STR(trail, "");
	cl_gen_free(g);
}
END_TEST

/* ch02_throw.py: finished: same object: True, GEN_CLOSED. */
START_TEST(test_gen_throw_finished)
{
	struct cl_gen *g = new_gen(waits, NULL, "waits");
	struct cl_exc *exc = cl_exc_new(&cl_ValueError, "late");
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	EXPECT_STATUS(cl_gen_throw(g, exc, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_ValueError, "late");
	CL_EXPECT_PTR(v, exc);
	cl_exc_decref(v);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* try: yield 1; yield 2 / except GeneratorExit: log; raise */
static void *tidy(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_yield(CL_INT(1));
		cl_yield(CL_INT(2));
	} CL_CATCH(e) {
		if (cl_exc_matches(e, &cl_GeneratorExit))
			note("cleanup: %s", cl_exc_name(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

static void *returns_on_close(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_yield(CL_INT(1));
	} CL_CATCH(e) {
		cl_exc_decref(e);
		return CL_INT(42);
	} CL_END_TRY;
	return NULL;
}

/* ch02_close.py: close: None, GEN_CLOSED, cleanup: GeneratorExit; then
 * next: StopIteration, value None. A body that returns on close: None. */
START_TEST(test_gen_close_delivers_generator_exit)
{
	struct cl_gen *g = new_gen(tidy, NULL, "tidy");
	struct cl_exc *err = NULL;
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	CL_EXPECT_PTR(err, NULL);
	CL_EXPECT_STR(trail, "cleanup: GeneratorExit ");
	EXPECT_STATE(g, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_PTR(v, NULL);
	cl_gen_free(g);

	g = new_gen(returns_on_close, NULL, "returns_on_close");
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

static void *stubborn(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_yield(CL_INT(1));
	} CL_CATCH(e) {
		cl_exc_decref(e);
		cl_yield("no");
	} CL_END_TRY;
	cl_yield("unreached");
	return NULL;
}

/* ch02_close.py: ignored: RuntimeError | generator ignored GeneratorExit |
 * GEN_SUSPENDED; close again: None, GEN_CLOSED. */
START_TEST(test_gen_close_ignored)
{
	struct cl_gen *g = new_gen(stubborn, NULL, "stubborn");
	struct cl_exc *err = NULL;
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, CL_GEN_RAISED);
	EXPECT_EXC(err, cl_RuntimeError, "generator ignored GeneratorExit");
	cl_exc_decref(err);
	EXPECT_STATE(g, CL_GEN_SUSPENDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* ch02_close.py: close unstarted: None, GEN_CLOSED, body never ran; then
 * next: StopIteration, value None. close finished (twice): None. */
START_TEST(test_gen_close_unstarted_and_finished)
{
	struct cl_gen *g = new_gen(spy, NULL, "spy");
	struct cl_exc *err = NULL;
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_PTR(v, NULL);
	CL_EXPECT_STR(trail, "");
	cl_gen_free(g);

	g = new_gen(waits, NULL, "waits");
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_RETURNED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	err = (struct cl_exc *)trail; /* stale: close must clear it */
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	CL_EXPECT(err == NULL, "cl_gen_close returned 0 but left *err as it "
			       "was: success sets *err = NULL");
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

/* try: yield 1 / finally: raise ValueError("cleanup failed") */
static void *fails_on_close(void *arg)
{
	(void)arg;
	CL_TRY {
		cl_yield(CL_INT(1));
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_raise(cl_exc_new(&cl_ValueError, "cleanup failed"));
}

/* ch02_close.py: close raised: ValueError | cleanup failed | GEN_CLOSED. */
START_TEST(test_gen_close_other_exception)
{
	struct cl_gen *g = new_gen(fails_on_close, NULL, "fails_on_close");
	struct cl_exc *err = NULL;
	void *v = NULL;

	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, CL_GEN_RAISED);
	EXPECT_EXC(err, cl_ValueError, "cleanup failed");
	cl_exc_decref(err);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
}
END_TEST

static struct cl_gen *me;

static void *selfish(void *arg)
{
	static const char *const hows[] = { "send", "throw", "close" };
	struct cl_exc *err;
	void *v;
	int status;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		if (i == 0) {
			status = cl_gen_send(me, NULL, &v);
		} else if (i == 1) {
			status = cl_gen_throw(
				me, cl_exc_new(&cl_TypeError, "t"), &v);
		} else {
			status = cl_gen_close(me, &err);
			v = err;
		}
		if (status == CL_GEN_RAISED) {
			note("%s: %s %s", hows[i], cl_exc_name(v),
			     cl_exc_message(v));
			cl_exc_decref(v);
		} else {
			note("%s: status %d", hows[i], status);
		}
	}
	cl_yield(CL_INT(cl_gen_state(me)));
	/* Uncaught this time, as in the last block of ch02_running.py. */
	if (cl_gen_next(me, &v) == CL_GEN_RAISED)
		cl_raise(v);
	return NULL;
}

/* ch02_running.py: send/throw/close: ValueError generator already
 * executing; the state inside is GEN_RUNNING; uncaught, it ends the
 * generator. */
START_TEST(test_gen_already_executing)
{
	void *v = NULL;

	trail[0] = '\0';
	me = new_gen(selfish, NULL, "selfish");
	EXPECT_STATUS(cl_gen_next(me, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR(trail, "send: ValueError generator already executing "
			     "throw: ValueError generator already executing "
			     "close: ValueError generator already executing ");
	CL_EXPECT_INT(CL_TOINT(v), CL_GEN_RUNNING);
	EXPECT_STATUS(cl_gen_next(me, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_ValueError, "generator already executing");
	cl_exc_decref(v);
	EXPECT_STATE(me, CL_GEN_CLOSED);
	cl_gen_free(me);
}
END_TEST

static struct cl_gen *outer_gen;

static void *inner_resumes_outer(void *arg)
{
	void *v;

	(void)arg;
	if (cl_gen_next(outer_gen, &v) == CL_GEN_RAISED) {
		note("inner: %s", cl_exc_message(v));
		cl_exc_decref(v);
	}
	return NULL;
}

static void *outer_runs_inner(void *arg)
{
	struct cl_gen *inner = cl_gen_new(inner_resumes_outer, NULL, "inner");
	void *v;

	(void)arg;
	if (inner != NULL) {
		cl_gen_next(inner, &v);
		cl_gen_free(inner);
	}
	return NULL;
}

/* ch02_running.py: inner: generator already executing (a generator is
 * running while the one it resumed runs). */
START_TEST(test_gen_already_executing_nested)
{
	void *v = NULL;

	trail[0] = '\0';
	outer_gen = new_gen(outer_runs_inner, NULL, "outer");
	EXPECT_STATUS(cl_gen_next(outer_gen, &v), v, CL_GEN_RETURNED);
	CL_EXPECT_STR(trail, "inner: generator already executing ");
	cl_gen_free(outer_gen);
}
END_TEST

/* ch02_close.py: freed while suspended: cleanup: GeneratorExit; freed
 * unstarted: nothing runs. */
START_TEST(test_gen_free_closes_suspended)
{
	struct cl_gen *g = new_gen(tidy, NULL, "tidy");
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_INT(CL_TOINT(v), 1);
	cl_gen_free(g);
	CL_EXPECT_STR(trail, "cleanup: GeneratorExit ");

	trail[0] = '\0';
	g = new_gen(tidy, NULL, "tidy");
	cl_gen_free(g);
	CL_EXPECT_STR(trail, "");
}
END_TEST

/* ---- 7. Delegation: yield from -------------------------------------- */

static void *sub(void *arg)
{
	void *x;

	(void)arg;
	CL_TRY {
		x = cl_yield("s1");
		note("sub got %s", (const char *)x);
		CL_TRY {
			cl_yield("s2");
		} CL_CATCH(e) {
			if (!cl_exc_matches(e, &cl_ValueError))
				cl_raise(e);
			note("sub caught %s", cl_exc_message(e));
			cl_exc_decref(e);
			cl_yield("s3");
		} CL_END_TRY;
	} CL_CATCH(e) {
		note("sub cleanup");
		cl_raise(e);
	} CL_END_TRY;
	note("sub cleanup");
	return "sub result";
}

static void *delegator(void *arg)
{
	struct cl_gen *s = arg;

	CL_TRY {
		void *r = cl_yield_from(s);
		note("outer got %s", (const char *)r);
		cl_yield("o1");
	} CL_CATCH(e) {
		note("outer cleanup");
		cl_raise(e);
	} CL_END_TRY;
	note("outer cleanup");
	return NULL;
}

/* ch02_yield_from.py: s1 s2 s3 o1; sub got hello, sub caught boom, sub
 * cleanup, outer got sub result; then close: outer cleanup. */
START_TEST(test_gen_yield_from_send_throw_return)
{
	struct cl_gen *s = new_gen(sub, NULL, "sub");
	struct cl_gen *g = new_gen(delegator, s, "outer");
	struct cl_exc *err = NULL;
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "s1");
	EXPECT_STATUS(cl_gen_send(g, "hello", &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "s2");
	EXPECT_STATUS(cl_gen_throw(g, cl_exc_new(&cl_ValueError, "boom"), &v),
		      v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "s3");
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	CL_EXPECT_STR((const char *)v, "o1");
	CL_EXPECT_STR(trail, "sub got hello sub caught boom sub cleanup "
			     "outer got sub result ");
	EXPECT_STATE(s, CL_GEN_CLOSED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	CL_EXPECT_STR(trail, "sub got hello sub caught boom sub cleanup "
			     "outer got sub result outer cleanup ");
	cl_gen_free(g);
	cl_gen_free(s);
}
END_TEST

/* ch02_yield_from.py: close while delegating: sub cleanup, outer cleanup;
 * uncaught in sub: TypeError('k') comes out, after both cleanups. */
START_TEST(test_gen_yield_from_close)
{
	struct cl_gen *s = new_gen(sub, NULL, "sub");
	struct cl_gen *g = new_gen(delegator, s, "outer");
	struct cl_exc *err = NULL, *exc;
	void *v = NULL;

	trail[0] = '\0';
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_close(g, &err), err, 0);
	CL_EXPECT_STR(trail, "sub cleanup outer cleanup ");
	EXPECT_STATE(s, CL_GEN_CLOSED);
	EXPECT_STATE(g, CL_GEN_CLOSED);
	cl_gen_free(g);
	cl_gen_free(s);

	trail[0] = '\0';
	s = new_gen(sub, NULL, "sub");
	g = new_gen(delegator, s, "outer");
	exc = cl_exc_new(&cl_TypeError, "k");
	EXPECT_STATUS(cl_gen_next(g, &v), v, CL_GEN_YIELDED);
	EXPECT_STATUS(cl_gen_throw(g, exc, &v), v, CL_GEN_RAISED);
	EXPECT_EXC(v, cl_TypeError, "k");
	CL_EXPECT_PTR(v, exc);
	cl_exc_decref(v);
	CL_EXPECT_STR(trail, "sub cleanup outer cleanup ");
	cl_gen_free(g);
	cl_gen_free(s);
}
END_TEST

static void add_gen_tests(void)
{
	cl_test(test_gen_yields_then_returns, 2, SEC_GEN);
	cl_test(test_gen_finished_stays_finished, 1, SEC_GEN);
	cl_test(test_gen_send_values_in, 2, SEC_GEN);
	cl_test(test_gen_yield_from_nested_call, 3, SEC_GEN);
	cl_test(test_gen_two_interleaved, 2, SEC_GEN);
	cl_test(test_gen_drives_another, 2, SEC_GEN);
	cl_test(test_gen_ten_thousand_yields, 2, SEC_GEN);
	cl_test(test_gen_finished_gives_its_stack_back, 1, SEC_GEN);
	cl_test(test_gen_state_and_current, 1, SEC_GEN);
	cl_test(test_gen_body_exception_reaches_caller, 2, SEC_EXC);
	cl_test(test_gen_try_catch_in_body, 2, SEC_EXC);
	cl_test(test_gen_pep479, 2, SEC_EXC);
	cl_test(test_gen_handlers_stay_with_their_generator, 2, SEC_EXC);
	cl_test(test_gen_first_send_must_be_none, 2, SEC_PROTO);
	cl_test(test_gen_throw_caught_yields_again, 2, SEC_PROTO);
	cl_test(test_gen_throw_caught_returns, 1, SEC_PROTO);
	cl_test(test_gen_throw_uncaught, 2, SEC_PROTO);
	cl_test(test_gen_throw_unstarted, 2, SEC_PROTO);
	cl_test(test_gen_throw_finished, 1, SEC_PROTO);
	cl_test(test_gen_close_delivers_generator_exit, 2, SEC_PROTO);
	cl_test(test_gen_close_ignored, 2, SEC_PROTO);
	cl_test(test_gen_close_unstarted_and_finished, 2, SEC_PROTO);
	cl_test(test_gen_close_other_exception, 1, SEC_PROTO);
	cl_test(test_gen_already_executing, 2, SEC_PROTO);
	cl_test(test_gen_already_executing_nested, 1, SEC_PROTO);
	cl_test(test_gen_free_closes_suspended, 2, SEC_PROTO);
	cl_test(test_gen_yield_from_send_throw_return, 2, SEC_DELEGATE);
	cl_test(test_gen_yield_from_close, 2, SEC_DELEGATE);
}

CL_CHAPTER(2, "02-stacks", "stacks", add_gen_tests)
