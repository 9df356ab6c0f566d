/*
 * ch01_generators.c - chapter 01: stackless generators.
 *
 * Each test that concerns Python behaviour has its scenario in
 * tests/py/ch01_*.py (named in the comment above the test); the numbers
 * and strings expected here are what python3 prints for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "grade.h"
#include "sgen.h"
#include "sgens.h"

/* ---- Reporting: statuses by name, so a failure reads "got -ENOSYS". ---- */

/* What *out holds when the function under test never wrote it. */
static char unset_mark;
#define UNSET ((void *)&unset_mark)

/* Up to four names per message, each in a buffer of its own. */
static char *name_buf(void)
{
	static char bufs[4][40];
	static unsigned next;

	return bufs[next++ % 4];
}

static const char *status_name(int rc)
{
	static const char *const names[] = {
	    [CL_SGEN_YIELDED] = "CL_SGEN_YIELDED",
	    [CL_SGEN_RETURNED] = "CL_SGEN_RETURNED",
	    [CL_SGEN_FINISHED] = "CL_SGEN_FINISHED",
	};
	char *buf = name_buf();
	const char *e = rc < 0 ? strerrorname_np(-rc) : NULL;

	if (rc >= CL_SGEN_YIELDED && rc <= CL_SGEN_FINISHED)
		return names[rc];
	if (e != NULL)
		snprintf(buf, 40, "-%s", e);
	else
		snprintf(buf, 40, "%d", rc);
	return buf;
}

static const char *value_name(void *v)
{
	char *buf = name_buf();

	if (v == UNSET)
		return "(*out not set)";
	snprintf(buf, 40, "%ld", (long)CL_TOINT(v));
	return buf;
}

static const char *state_name(enum cl_sgen_state s)
{
	static const char *const names[] = {
	    [CL_SGEN_CREATED] = "CL_SGEN_CREATED",
	    [CL_SGEN_SUSPENDED] = "CL_SGEN_SUSPENDED",
	    [CL_SGEN_RUNNING] = "CL_SGEN_RUNNING",
	    [CL_SGEN_CLOSED] = "CL_SGEN_CLOSED",
	};

	return (unsigned)s <= CL_SGEN_CLOSED ? names[s] : "(bad state)";
}

/*
 * Resume g once and check the status and the (integer) value it reported.
 * Macros, so that a failure names the line in the test.
 */
#define EXPECT_SEND(g, sent, want, val)                                        \
	do {                                                                   \
		void *out_ = UNSET;                                            \
		int rc_ = cl_sgen_send((g), (sent), &out_);                    \
		CL_EXPECT(rc_ == (want) && out_ == CL_INT(val),                \
			  "send(%s, %s): expected %s, value %ld; "             \
			  "got %s, value %s",                                  \
			  #g, #sent, status_name(want), (long)(val),           \
			  status_name(rc_), value_name(out_));                 \
	} while (0)

#define EXPECT_NEXT(g, want, val)                                              \
	do {                                                                   \
		void *out_ = UNSET;                                            \
		int rc_ = cl_sgen_next((g), &out_);                            \
		CL_EXPECT(rc_ == (want) && out_ == CL_INT(val),                \
			  "next(%s): expected %s, value %ld; "                 \
			  "got %s, value %s",                                  \
			  #g, status_name(want), (long)(val),                  \
			  status_name(rc_), value_name(out_));                 \
	} while (0)

/* Resume g with next, check that it yielded, and store the value in v. */
#define EXPECT_YIELD(g, v)                                                     \
	do {                                                                   \
		void *out_ = UNSET;                                            \
		int rc_ = cl_sgen_next((g), &out_);                            \
		CL_EXPECT(rc_ == CL_SGEN_YIELDED,                              \
			  "next(%s): expected CL_SGEN_YIELDED, got %s", #g,    \
			  status_name(rc_));                                   \
		(v) = out_;                                                    \
	} while (0)

#define EXPECT_CLOSE(g, want)                                                  \
	do {                                                                   \
		int rc_ = cl_sgen_close(g);                                    \
		CL_EXPECT(rc_ == (want), "close(%s): expected %s, got %s", #g, \
			  status_name(want), status_name(rc_));                \
	} while (0)

#define EXPECT_STATE(g, want)                                                  \
	CL_EXPECT(cl_sgen_state(g) == (want),                                  \
		  "state of %s: expected %s, got %s", #g, state_name(want),    \
		  state_name(cl_sgen_state(g)))

/* ---- Test-local generators ---- */

/* spy: logs how far its body got, so a test can see what ran. */
static char spy_log[64];

static int spy_body(struct cl_sgen *g)
{
	CL_SGEN_BEGIN(g);
	strcat(spy_log, "begin;");
	CL_SGEN_YIELD(g, CL_INT(1));
	strcat(spy_log, "after 1;");
	CL_SGEN_YIELD(g, CL_INT(2));
	strcat(spy_log, "after 2;");
	CL_SGEN_END(g);
}

static struct cl_sgen *spy(void)
{
	spy_log[0] = '\0';
	return cl_sgen_new(spy_body, 0);
}

/* selfish: resumes and closes itself, and yields what that returned. */
static int selfish_body(struct cl_sgen *g)
{
	void *v;

	CL_SGEN_BEGIN(g);
	CL_SGEN_YIELD(g, CL_INT(cl_sgen_next(g, &v)));
	CL_SGEN_YIELD(g, CL_INT(cl_sgen_send(g, CL_INT(1), &v)));
	CL_SGEN_YIELD(g, CL_INT(cl_sgen_close(g)));
	CL_SGEN_YIELD(g, CL_INT(cl_sgen_state(g)));
	CL_SGEN_END(g);
}

/*
 * pairs(n): "i,j" for 0 <= j < i < n, then the count. Two loop counters,
 * a running count and the text yielded all live across yields.
 */
struct pairs_frame {
	int n, i, j, count;
	char text[24];
};

static int pairs_body(struct cl_sgen *g)
{
	struct pairs_frame *f = (void *)g->frame;

	CL_SGEN_BEGIN(g);
	for (f->i = 0; f->i < f->n; f->i++) {
		for (f->j = 0; f->j < f->i; f->j++) {
			snprintf(f->text, sizeof(f->text), "%d,%d", f->i, f->j);
			CL_SGEN_YIELD(g, f->text);
			f->count++;
		}
	}
	CL_SGEN_RETURN(g, CL_INT(f->count));
	CL_SGEN_END(g);
}

static struct cl_sgen *pairs(int n)
{
	struct cl_sgen *g = cl_sgen_new(pairs_body, sizeof(struct pairs_frame));

	((struct pairs_frame *)(void *)g->frame)->n = n;
	return g;
}

/* ---- range (py/ch01_range.py) ---- */

START_TEST(test_range_counts_up)
{
	struct cl_sgen *g = cl_sgen_range(0, 5, 1);

	for (int i = 0; i < 5; i++)
		EXPECT_NEXT(g, CL_SGEN_YIELDED, i);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 5);
	cl_sgen_free(g);
}
END_TEST

START_TEST(test_range_counts_down)
{
	struct cl_sgen *g = cl_sgen_range(10, 0, -3);

	EXPECT_NEXT(g, CL_SGEN_YIELDED, 10);
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 7);
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 4);
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 1);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 4);
	cl_sgen_free(g);
}
END_TEST

START_TEST(test_range_empty)
{
	struct cl_sgen *a = cl_sgen_range(3, 3, 1);
	struct cl_sgen *b = cl_sgen_range(0, 5, -1);
	struct cl_sgen *c = cl_sgen_range(3, 3, -1);

	EXPECT_NEXT(a, CL_SGEN_RETURNED, 0);
	EXPECT_NEXT(b, CL_SGEN_RETURNED, 0);
	EXPECT_NEXT(c, CL_SGEN_RETURNED, 0);
	cl_sgen_free(a);
	cl_sgen_free(b);
	cl_sgen_free(c);
}
END_TEST

/*
 * A step that would carry i past the end of intptr_t ends the range:
 * Python's ints do not overflow, and i + step is past stop anyway.
 */
START_TEST(test_range_stops_at_the_ends_of_intptr)
{
	struct cl_sgen *up = cl_sgen_range(INTPTR_MAX - 1, INTPTR_MAX, 10);
	struct cl_sgen *down = cl_sgen_range(INTPTR_MIN + 1, INTPTR_MIN, -10);

	EXPECT_NEXT(up, CL_SGEN_YIELDED, INTPTR_MAX - 1);
	EXPECT_NEXT(up, CL_SGEN_RETURNED, 1);
	EXPECT_NEXT(down, CL_SGEN_YIELDED, INTPTR_MIN + 1);
	EXPECT_NEXT(down, CL_SGEN_RETURNED, 1);
	cl_sgen_free(up);
	cl_sgen_free(down);
}
END_TEST

/* An error ends a generator, and only the first resume reports it. */
START_TEST(test_range_step_zero_fails_at_first_next)
{
	struct cl_sgen *g = cl_sgen_range(0, 5, 0);

	EXPECT_STATE(g, CL_SGEN_CREATED);
	EXPECT_NEXT(g, -EINVAL, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	cl_sgen_free(g);
}
END_TEST

START_TEST(test_states_follow_the_life_of_a_generator)
{
	struct cl_sgen *g = cl_sgen_range(0, 1, 1);

	EXPECT_STATE(g, CL_SGEN_CREATED);
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 0);
	EXPECT_STATE(g, CL_SGEN_SUSPENDED);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 1);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	cl_sgen_free(g);
}
END_TEST

/* Python: StopIteration (value None) for every later next or send. */
START_TEST(test_finished_stays_finished)
{
	struct cl_sgen *g = cl_sgen_range(0, 1, 1);

	EXPECT_NEXT(g, CL_SGEN_YIELDED, 0);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 1);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	EXPECT_SEND(g, CL_INT(5), CL_SGEN_FINISHED, 0);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	cl_sgen_free(g);
}
END_TEST

/* Each generator has a frame of its own: nothing is shared. */
START_TEST(test_two_generators_interleave)
{
	struct cl_sgen *a = cl_sgen_range(0, 3, 1);
	struct cl_sgen *b = cl_sgen_range(10, 13, 1);

	for (int i = 0; i < 3; i++) {
		EXPECT_NEXT(a, CL_SGEN_YIELDED, i);
		EXPECT_NEXT(b, CL_SGEN_YIELDED, 10 + i);
	}
	EXPECT_NEXT(a, CL_SGEN_RETURNED, 3);
	EXPECT_NEXT(b, CL_SGEN_RETURNED, 3);
	cl_sgen_free(a);
	cl_sgen_free(b);
}
END_TEST

/* ---- Fibonacci (py/ch01_fib.py) ---- */

START_TEST(test_fib_first_ten)
{
	static const int want[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34};
	struct cl_sgen *g = cl_sgen_fib(10);

	for (int i = 0; i < 10; i++)
		EXPECT_NEXT(g, CL_SGEN_YIELDED, want[i]);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 10);
	cl_sgen_free(g);
}
END_TEST

/* A limit of 0 is not "no limit": nothing is yielded. */
START_TEST(test_fib_of_zero_yields_nothing)
{
	struct cl_sgen *g = cl_sgen_fib(0);

	EXPECT_NEXT(g, CL_SGEN_RETURNED, 0);
	cl_sgen_free(g);
}
END_TEST

/*
 * Without a limit: every number that fits in an intptr_t (93 of them on a
 * 64-bit machine, the last 7540113804746346429), then -EOVERFLOW.
 */
START_TEST(test_fib_forever_until_overflow)
{
	struct cl_sgen *g = cl_sgen_fib(-1);
	intptr_t a = 0, b = 1, sum;
	int n = 0;

	for (;;) {
		EXPECT_NEXT(g, CL_SGEN_YIELDED, a);
		n++;
		if (__builtin_add_overflow(a, b, &sum))
			break;
		a = b;
		b = sum;
	}
	/* b is the last number that fits; yielded, it leaves no room. */
	EXPECT_NEXT(g, CL_SGEN_YIELDED, b);
	n++;
	EXPECT_NEXT(g, -EOVERFLOW, 0);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	if (sizeof(intptr_t) == 8) {
		CL_EXPECT_INT(n, 93);
		CL_EXPECT_INT(b, 7540113804746346429);
	}
	cl_sgen_free(g);
}
END_TEST

/* ---- The pipeline (py/ch01_pipeline.py) ---- */

START_TEST(test_tokens_of_an_expression)
{
	static const struct {
		enum cl_token_kind kind;
		const char *text;
		intptr_t number;
	} want[] = {
	    {CL_TOKEN_WORD, "x1", 0},	 {CL_TOKEN_PUNCT, "=", 0},
	    {CL_TOKEN_NUMBER, "12", 12}, {CL_TOKEN_PUNCT, "*", 0},
	    {CL_TOKEN_PUNCT, "(", 0},	 {CL_TOKEN_WORD, "y_2", 0},
	    {CL_TOKEN_PUNCT, "+", 0},	 {CL_TOKEN_NUMBER, "345", 345},
	    {CL_TOKEN_PUNCT, ")", 0},	 {CL_TOKEN_PUNCT, ";", 0},
	};
	struct cl_sgen *c = cl_sgen_chars("x1 = 12*(y_2 + 345);");
	struct cl_sgen *t = cl_sgen_tokens(c);
	struct cl_token *tok;
	void *v;

	for (int i = 0; i < 10; i++) {
		EXPECT_STATE(t, i == 0 ? CL_SGEN_CREATED : CL_SGEN_SUSPENDED);
		EXPECT_YIELD(t, v);
		tok = v;
		CL_EXPECT_STR(tok->text, want[i].text);
		CL_EXPECT_INT(tok->kind, want[i].kind);
		if (tok->kind == CL_TOKEN_NUMBER)
			CL_EXPECT_INT(tok->number, want[i].number);
	}
	EXPECT_NEXT(t, CL_SGEN_RETURNED, 10);
	cl_sgen_free(t);
	cl_sgen_free(c);
}
END_TEST

START_TEST(test_numbers_pipeline_sums)
{
	struct cl_sgen *c = cl_sgen_chars("a 1 b 22 c 333");
	struct cl_sgen *t = cl_sgen_tokens(c);
	struct cl_sgen *n = cl_sgen_numbers(t);

	EXPECT_NEXT(n, CL_SGEN_YIELDED, 1);
	EXPECT_NEXT(n, CL_SGEN_YIELDED, 22);
	EXPECT_NEXT(n, CL_SGEN_YIELDED, 333);
	EXPECT_NEXT(n, CL_SGEN_RETURNED, 356);
	/* Each stage finished when the one before it did. */
	EXPECT_STATE(t, CL_SGEN_CLOSED);
	EXPECT_STATE(c, CL_SGEN_CLOSED);
	cl_sgen_free(n);
	cl_sgen_free(t);
	cl_sgen_free(c);
}
END_TEST

/* Python: OverflowError out of tokens, through numbers, to the caller. */
START_TEST(test_pipeline_passes_errors_on)
{
	struct cl_sgen *c = cl_sgen_chars("7 a_very_long_identifier 8");
	struct cl_sgen *t = cl_sgen_tokens(c);
	struct cl_sgen *n = cl_sgen_numbers(t);

	EXPECT_NEXT(n, CL_SGEN_YIELDED, 7);
	EXPECT_NEXT(n, -EOVERFLOW, 0);
	EXPECT_STATE(t, CL_SGEN_CLOSED);
	EXPECT_NEXT(n, CL_SGEN_FINISHED, 0);
	cl_sgen_free(n);
	cl_sgen_free(t);
	cl_sgen_free(c);
}
END_TEST

/* ---- send (py/ch01_averager.py) ---- */

START_TEST(test_averager_receives_sent_values)
{
	struct cl_sgen *g = cl_sgen_averager();

	EXPECT_NEXT(g, CL_SGEN_YIELDED, 0); /* None */
	EXPECT_SEND(g, CL_INT(10), CL_SGEN_YIELDED, 10);
	EXPECT_SEND(g, CL_INT(30), CL_SGEN_YIELDED, 20);
	EXPECT_SEND(g, CL_INT(5), CL_SGEN_YIELDED, 15);
	EXPECT_SEND(g, CL_INT(-50), CL_SGEN_YIELDED, -2); /* -5 // 4 */
	EXPECT_CLOSE(g, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	cl_sgen_free(g);
}
END_TEST

/* TypeError: can't send non-None value to a just-started generator. */
START_TEST(test_first_send_must_be_none)
{
	struct cl_sgen *g = cl_sgen_averager();

	EXPECT_SEND(g, CL_INT(10), -EINVAL, 0);
	EXPECT_STATE(g, CL_SGEN_CREATED);
	EXPECT_SEND(g, NULL, CL_SGEN_YIELDED, 0);
	EXPECT_SEND(g, CL_INT(10), CL_SGEN_YIELDED, 10);
	cl_sgen_free(g);
}
END_TEST

/* ---- close and "already executing" (py/ch01_protocol.py) ---- */

START_TEST(test_close_before_start)
{
	struct cl_sgen *g = spy();

	EXPECT_CLOSE(g, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	CL_EXPECT_STR(spy_log, "");
	cl_sgen_free(g);
}
END_TEST

START_TEST(test_close_after_start)
{
	struct cl_sgen *g = spy();

	EXPECT_NEXT(g, CL_SGEN_YIELDED, 1);
	CL_EXPECT_STR(spy_log, "begin;");
	EXPECT_CLOSE(g, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	EXPECT_NEXT(g, CL_SGEN_FINISHED, 0);
	EXPECT_SEND(g, CL_INT(7), CL_SGEN_FINISHED, 0);
	CL_EXPECT_STR(spy_log, "begin;");
	cl_sgen_free(g);
}
END_TEST

START_TEST(test_close_is_idempotent)
{
	struct cl_sgen *g = spy();

	EXPECT_CLOSE(g, 0);
	EXPECT_CLOSE(g, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	cl_sgen_free(g);

	g = spy();
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 1);
	EXPECT_NEXT(g, CL_SGEN_YIELDED, 2);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 0);
	CL_EXPECT_STR(spy_log, "begin;after 1;after 2;");
	EXPECT_CLOSE(g, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	cl_sgen_free(g);
}
END_TEST

/* ValueError: generator already executing, for next, send and close. */
START_TEST(test_already_executing)
{
	struct cl_sgen *g = cl_sgen_new(selfish_body, 0);

	EXPECT_NEXT(g, CL_SGEN_YIELDED, -EBUSY); /* its next */
	EXPECT_NEXT(g, CL_SGEN_YIELDED, -EBUSY); /* its send */
	EXPECT_NEXT(g, CL_SGEN_YIELDED, -EBUSY); /* its close */
	EXPECT_NEXT(g, CL_SGEN_YIELDED, CL_SGEN_RUNNING);
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 0);
	EXPECT_STATE(g, CL_SGEN_CLOSED);
	cl_sgen_free(g);
}
END_TEST

/* ---- Locals in the frame (py/ch01_protocol.py, pairs) ---- */

START_TEST(test_locals_survive_yields)
{
	static const char *const want[] = {"1,0", "2,0", "2,1",
					   "3,0", "3,1", "3,2"};
	struct cl_sgen *g = pairs(4);
	struct cl_sgen *empty = pairs(0);
	void *v;

	for (int i = 0; i < 6; i++) {
		EXPECT_YIELD(g, v);
		CL_EXPECT_STR((const char *)v, want[i]);
	}
	EXPECT_NEXT(g, CL_SGEN_RETURNED, 6);
	EXPECT_NEXT(empty, CL_SGEN_RETURNED, 0);
	cl_sgen_free(g);
	cl_sgen_free(empty);
}
END_TEST

static void add_tests(void)
{
	const char *frame = "3. Locals live in the frame";
	const char *protocol = "5. The protocol: next, send, close";
	const char *three = "6. Three generators";
	const char *sending = "7. Sending values in";

	cl_test(test_locals_survive_yields, 3, frame);
	cl_test(test_two_generators_interleave, 2, frame);

	cl_test(test_states_follow_the_life_of_a_generator, 2, protocol);
	cl_test(test_finished_stays_finished, 2, protocol);
	cl_test(test_range_step_zero_fails_at_first_next, 2, protocol);
	cl_test(test_first_send_must_be_none, 2, protocol);
	cl_test(test_close_before_start, 2, protocol);
	cl_test(test_close_after_start, 2, protocol);
	cl_test(test_close_is_idempotent, 1, protocol);
	cl_test(test_already_executing, 3, protocol);

	cl_test(test_range_counts_up, 2, three);
	cl_test(test_range_counts_down, 1, three);
	cl_test(test_range_empty, 1, three);
	cl_test(test_range_stops_at_the_ends_of_intptr, 1, three);
	cl_test(test_fib_first_ten, 2, three);
	cl_test(test_fib_of_zero_yields_nothing, 1, three);
	cl_test(test_fib_forever_until_overflow, 2, three);
	cl_test(test_tokens_of_an_expression, 3, three);
	cl_test(test_numbers_pipeline_sums, 2, three);
	cl_test(test_pipeline_passes_errors_on, 2, three);

	cl_test(test_averager_receives_sent_values, 3, sending);
}
CL_CHAPTER(1, "01-generators", "generators", add_tests)
