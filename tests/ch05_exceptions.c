/*
 * ch05_exceptions.c - chapter 05: exceptions as Python has them.
 *
 * Tracebacks through awaits, __context__ and __cause__, the types and
 * their text, exception groups, and the errors that reach the loop's
 * exception handler. Every expectation is what CPython 3.11 prints for
 * the same scenario in tests/py/ch05_exceptions.py (the comment above
 * each test names the block). Frames are compared by function name,
 * outermost first, and only this file's: CPython's also show asyncio's
 * own frames, which C has no equivalent of.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exc.h"
#include "future.h"
#include "gather.h"
#include "grade.h"
#include "handler.h"
#include "run.h"
#include "task.h"
#include "trail.h"
#include "transport.h"

#define SEC_TB "2. Tracebacks: where an exception has been"
#define SEC_CHAIN "3. Chaining: __context__ and __cause__"
#define SEC_GROUP "4. Exception groups"
#define SEC_HANDLER "5. Never retrieved, and the loop's exception handler"

#define EXPECT_TRAIL(want) CL_EXPECT_STR(trail, want)

/* The functions of e's traceback in this file, outermost first. */
static const char *frames(const struct cl_exc *e, char *buf, size_t size)
{
	size_t at = 0;

	buf[0] = '\0';
	for (const struct cl_tb *tb = e->tb; tb != NULL; tb = tb->next) {
		if (strcmp(tb->site->file, __FILE__) != 0)
			continue;
		at += (size_t)snprintf(buf + at, at < size ? size - at : 0,
				       "%s%s", at > 0 ? ">" : "",
				       tb->site->func);
	}
	return buf;
}

/* repr(e), or None. */
static const char *r(const struct cl_exc *e, char *buf, size_t size)
{
	if (e == NULL) {
		snprintf(buf, size, "None");
		return buf;
	}
	return cl_exc_repr(e, buf, size);
}

/* ch05_exceptions.py, test_traceback_through_three_awaits */
static void *c(void *arg)
{
	(void)arg;
	cl_sleep(0);
	cl_raise(cl_exc_new(&cl_ValueError, "deep"));
}

/* "return await create_task(c())", and the finally that gives the
 * reference back: the re-raise is in the function that awaited, so the
 * traceback keeps the await's line. */
static void *b(void *arg)
{
	struct cl_task *t = cl_create_task(c, arg, NULL);
	void *out = NULL;

	CL_TRY {
		out = cl_await_task(t);
	} CL_CATCH(e) {
		cl_task_decref(t);
		cl_raise(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return out;
}

static void *a(void *arg)
{
	struct cl_task *t = cl_create_task(b, arg, NULL);
	void *out = NULL;

	CL_TRY {
		out = cl_await_task(t);
	} CL_CATCH(e) {
		cl_task_decref(t);
		cl_raise(e);
	} CL_END_TRY;
	cl_task_decref(t);
	return out;
}

static void *tb_main(void *arg)
{
	struct cl_task *t = cl_create_task(a, arg, NULL);
	char buf[256];

	for (int i = 0; i < 2; i++) {
		CL_TRY {
			cl_await_task(t);
		} CL_CATCH(e) {
			note("%s:%s", frames(e, buf, sizeof buf),
			     cl_exc_message(e));
			cl_exc_decref(e);
		} CL_END_TRY;
	}
	cl_task_decref(t);
	return NULL;
}

START_TEST(test_traceback_through_three_awaits)
{
	run_on(CL_CLOCK_VIRTUAL, tb_main, NULL);
	EXPECT_TRAIL("tb_main>a>b>c:deep tb_main>a>b>c:deep");
}
END_TEST

/* ch05_exceptions.py, test_context_is_per_coroutine */
static void *handler(void *arg)
{
	const char *name = arg;
	char buf[128];

	CL_TRY {
		cl_raise(cl_exc_new(&cl_KeyError, "%s", name));
	} CL_CATCH(k) {
		cl_sleep(0); /* the other task runs, and raises, here */
		CL_TRY {
			cl_raise(cl_exc_new(&cl_ValueError, "%s2", name));
		} CL_CATCH(e) {
			note("%s<-%s", cl_exc_message(e),
			     r(cl_exc_context(e), buf, sizeof buf));
			cl_exc_decref(e);
		} CL_END_TRY;
		cl_exc_decref(k);
	} CL_END_TRY;
	return NULL;
}

static void *ctx_main(void *arg)
{
	struct cl_task *x = cl_create_task(handler, "x", NULL);
	struct cl_task *y = cl_create_task(handler, "y", NULL);
	struct cl_future *kids[] = { cl_task_future(x), cl_task_future(y) };
	struct cl_future *g = cl_gather(2, kids);

	(void)arg;
	cl_await(g);
	cl_future_decref(g);
	cl_task_decref(x);
	cl_task_decref(y);
	return NULL;
}

START_TEST(test_context_is_per_coroutine)
{
	run_on(CL_CLOCK_VIRTUAL, ctx_main, NULL);
	EXPECT_TRAIL("x2<-KeyError('x') y2<-KeyError('y')");
}
END_TEST

/* ch05_exceptions.py, test_raise_from_and_from_none */
static void chained(const char *how)
{
	char b1[64], b2[64];

	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_new(&cl_KeyError, "k"));
		} CL_CATCH(k) {
			cl_exc_decref(k);
			if (strcmp(how, "from") == 0)
				cl_raise_from(cl_exc_new(&cl_ValueError, "v"),
					      cl_exc_new(&cl_TypeError, "t"));
			if (strcmp(how, "none") == 0)
				cl_raise_from(cl_exc_new(&cl_ValueError, "v"),
					      NULL);
			cl_raise(cl_exc_new(&cl_ValueError, "v"));
		} CL_END_TRY;
	} CL_CATCH(e) {
		note("%s:cause=%s,context=%s,suppress=%s", how,
		     r(cl_exc_cause(e), b1, sizeof b1),
		     r(cl_exc_context(e), b2, sizeof b2),
		     tf(e->suppress_context));
		cl_exc_decref(e);
	} CL_END_TRY;
}

START_TEST(test_raise_from_and_from_none)
{
	trail[0] = '\0';
	chained("plain");
	chained("from");
	chained("none");
	EXPECT_TRAIL("plain:cause=None,context=KeyError('k'),suppress=False "
		     "from:cause=TypeError('t'),context=KeyError('k'),"
		     "suppress=True "
		     "none:cause=None,context=KeyError('k'),suppress=True");
}
END_TEST

/* ch05_exceptions.py, test_reraise_keeps_no_self_context. The catch
 * block decrefs its exception before raising another: the chain holds
 * its own reference, so the context is still there. */
START_TEST(test_reraise_keeps_no_self_context)
{
	char buf[64];

	trail[0] = '\0';
	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_new(&cl_ValueError, "same"));
		} CL_CATCH(e) {
			CL_TRY {
				cl_raise(cl_exc_new(&cl_KeyError, "in"));
			} CL_CATCH(k) {
				note("context=%s",
				     r(cl_exc_context(k), buf, sizeof buf));
				cl_exc_decref(k);
			} CL_END_TRY;
			cl_raise(e);
		} CL_END_TRY;
	} CL_CATCH(e) {
		note("context=%s", r(cl_exc_context(e), buf, sizeof buf));
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_TRY {
		cl_raise(cl_exc_new(&cl_TypeError, "after"));
	} CL_CATCH(e) {
		note("context=%s", r(cl_exc_context(e), buf, sizeof buf));
		cl_exc_decref(e);
	} CL_END_TRY;
	EXPECT_TRAIL("context=ValueError('same') context=None context=None");
}
END_TEST

/* ch05_exceptions.py, test_context_cycle_is_cut */
START_TEST(test_context_cycle_is_cut)
{
	struct cl_exc *a = cl_exc_new(&cl_ValueError, "a");
	char buf[64];

	trail[0] = '\0';
	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_incref(a));
		} CL_CATCH(e) {
			cl_exc_decref(e);
			cl_raise(cl_exc_new(&cl_KeyError, "b"));
		} CL_END_TRY;
	} CL_CATCH(bexc) {
		CL_TRY {
			cl_raise(cl_exc_incref(a));
		} CL_CATCH(e) {
			note("a.context=%s",
			     r(cl_exc_context(e), buf, sizeof buf));
			note("b.context=%s",
			     r(cl_exc_context(bexc), buf, sizeof buf));
			cl_exc_decref(e);
		} CL_END_TRY;
		cl_exc_decref(bexc);
	} CL_END_TRY;
	/* a -> b is the only link left: freeing a frees b. */
	cl_exc_decref(a);
	EXPECT_TRAIL("a.context=KeyError('b') b.context=None");
}
END_TEST

/* ch05_exceptions.py, test_context_cycle_cut_deeper */
START_TEST(test_context_cycle_cut_deeper)
{
	struct cl_exc *a = cl_exc_new(&cl_ValueError, "a");
	char buf[64];

	trail[0] = '\0';
	CL_TRY {
		CL_TRY {
			CL_TRY {
				cl_raise(cl_exc_incref(a));
			} CL_CATCH(e) {
				cl_exc_decref(e);
				cl_raise(cl_exc_new(&cl_KeyError, "b"));
			} CL_END_TRY;
		} CL_CATCH(e) {
			cl_exc_decref(e);
			cl_raise(cl_exc_new(&cl_TypeError, "c"));
		} CL_END_TRY;
	} CL_CATCH(c) {
		CL_TRY {
			cl_raise(cl_exc_incref(a));
		} CL_CATCH(e) {
			struct cl_exc *b = cl_exc_context(c);

			note("a.context=%s", r(cl_exc_context(e), buf, sizeof buf));
			note("c.context=%s", r(b, buf, sizeof buf));
			note("b.context=%s",
			     r(b ? cl_exc_context(b) : NULL, buf, sizeof buf));
			cl_exc_decref(e);
		} CL_END_TRY;
		cl_exc_decref(c);
	} CL_END_TRY;
	cl_exc_decref(a); /* a -> c -> b: the whole chain goes */
	EXPECT_TRAIL("a.context=TypeError('c') c.context=KeyError('b') "
		     "b.context=None");
}
END_TEST

/* ch05_exceptions.py, test_context_old_cycle_does_not_hang: the walk
 * that looks for the exception being raised must end on a cycle that
 * does not go through it (Floyd's two pointers). */
START_TEST(test_context_old_cycle_does_not_hang)
{
	struct cl_exc *h = cl_exc_new(&cl_ValueError, "h");
	struct cl_exc *x = cl_exc_new(&cl_KeyError, "x");
	struct cl_exc *y = cl_exc_new(&cl_TypeError, "y");
	char buf[64];

	trail[0] = '\0';
	cl_exc_set_context(h, cl_exc_incref(x));
	cl_exc_set_context(x, cl_exc_incref(y));
	cl_exc_set_context(y, cl_exc_incref(x));
	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_incref(h));
		} CL_CATCH(e) {
			cl_exc_decref(e);
			cl_raise(cl_exc_new(&cl_OSError, "e"));
		} CL_END_TRY;
	} CL_CATCH(e) {
		note("e.context=%s", r(cl_exc_context(e), buf, sizeof buf));
		note("x.context=%s", r(cl_exc_context(x), buf, sizeof buf));
		note("y.context=%s", r(cl_exc_context(y), buf, sizeof buf));
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_exc_set_context(y, NULL); /* break the cycle, as the .py does */
	cl_exc_decref(h);
	cl_exc_decref(x);
	cl_exc_decref(y);
	EXPECT_TRAIL("e.context=ValueError('h') x.context=TypeError('y') "
		     "y.context=KeyError('x')");
}
END_TEST

/*
 * ch05_exceptions.py, test_printed_chain, test_printed_cause,
 * test_printed_group: the report cl_exc_print writes for e, with each
 * "File ..., line N, in f" shortened to "in f" and the lines joined by
 * "|", into trail.
 */
static void printed_as_trail(const struct cl_exc *e)
{
	char *text = NULL, *line, *save;
	size_t len, end;
	FILE *mem = open_memstream(&text, &len);

	CL_EXPECT(mem != NULL, "open_memstream failed");
	cl_exc_print(e, mem);
	fclose(mem);
	for (end = strlen(text); end > 0 && text[end - 1] == '\n'; end--)
		text[end - 1] = '\0';
	trail[0] = '\0';
	/* strsep, not strtok: the empty lines count. */
	save = text;
	while ((line = strsep(&save, "\n")) != NULL) {
		const char *file = strstr(line, "File \"");
		const char *in = file ? strstr(file, ", in ") : NULL;
		size_t at = strlen(trail);
		const char *sep = line == text ? "" : "|";

		if (in != NULL)
			snprintf(trail + at, sizeof trail - at, "%s%.*sin %s",
				 sep, (int)(file - line), line, in + 5);
		else
			snprintf(trail + at, sizeof trail - at, "%s%s", sep,
				 line);
	}
	free(text);
}

static void printed(void)
{
	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_new(&cl_KeyError, "k"));
		} CL_CATCH(k) {
			cl_exc_decref(k);
			cl_raise(cl_exc_new(&cl_ValueError, "v"));
		} CL_END_TRY;
	} CL_CATCH(e) {
		printed_as_trail(e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

START_TEST(test_printed_chain)
{
	printed();
	EXPECT_TRAIL("Traceback (most recent call last):|  in printed|"
		     "KeyError: 'k'||During handling of the above exception, "
		     "another exception occurred:||Traceback (most recent "
		     "call last):|  in printed|ValueError: v");
}
END_TEST

static void printed_cause(void)
{
	CL_TRY {
		CL_TRY {
			cl_raise(cl_exc_new(&cl_KeyError, "k"));
		} CL_CATCH(k) {
			cl_raise_from(cl_exc_new(&cl_ValueError, "v"), k);
		} CL_END_TRY;
	} CL_CATCH(e) {
		printed_as_trail(e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

START_TEST(test_printed_cause)
{
	printed_cause();
	EXPECT_TRAIL("Traceback (most recent call last):|  in printed_cause|"
		     "KeyError: 'k'||The above exception was the direct cause "
		     "of the following exception:||Traceback (most recent "
		     "call last):|  in printed_cause|ValueError: v");
}
END_TEST

static void printed_group(void)
{
	struct cl_exc *inner[] = { cl_exc_new(&cl_KeyError, "4") };
	struct cl_exc *m[] = { cl_exc_new(&cl_ValueError, "1"),
			       cl_exc_group_new("inner", 1, inner) };

	CL_TRY {
		cl_raise(cl_exc_group_new("eg", 2, m));
	} CL_CATCH(e) {
		printed_as_trail(e);
		cl_exc_decref(e);
	} CL_END_TRY;
}

START_TEST(test_printed_group)
{
	printed_group();
	EXPECT_TRAIL("  + Exception Group Traceback (most recent call last):|"
		     "  |   in printed_group|"
		     "  | ExceptionGroup: eg (2 sub-exceptions)|"
		     "  +-+---------------- 1 ----------------|"
		     "    | ValueError: 1|"
		     "    +---------------- 2 ----------------|"
		     "    | ExceptionGroup: inner (1 sub-exception)|"
		     "    +-+---------------- 1 ----------------|"
		     "      | KeyError: '4'|"
		     "      +------------------------------------");
}
END_TEST

/* ch05_exceptions.py, test_types_and_repr */
static int is_sub(const struct cl_exc_type *sub,
		  const struct cl_exc_type *base)
{
	struct cl_exc *e = cl_exc_new(sub, NULL);
	int yes = cl_exc_matches(e, base);

	cl_exc_decref(e);
	return yes;
}

START_TEST(test_types_and_repr)
{
	struct cl_exc *v0 = cl_exc_new(&cl_ValueError, NULL);
	struct cl_exc *v1 = cl_exc_new(&cl_ValueError, "%s", "");
	struct cl_exc *k = cl_exc_new(&cl_KeyError, "k");
	struct cl_exc *m[] = { cl_exc_new(&cl_ValueError, "1") };
	struct cl_exc *eg = cl_exc_group_new("eg", 1, m);
	struct cl_exc *bm[] = { cl_exc_new(&cl_CancelledError, NULL) };
	struct cl_exc *beg = cl_exc_group_new("b", 1, bm);
	char b1[64], b2[64], b3[64], b4[64];

	trail[0] = '\0';
	note("%s", tf(is_sub(&cl_KeyError, &cl_LookupError)));
	note("%s", tf(is_sub(&cl_TimeoutError, &cl_OSError)));
	note("%s", tf(is_sub(&cl_ZeroDivisionError, &cl_ArithmeticError)));
	note("%s", tf(is_sub(&cl_CancelledError, &cl_Exception)));
	note("%s", tf(is_sub(&cl_CancelledError, &cl_BaseException)));
	note("%s", tf(cl_exc_matches(eg, &cl_Exception)));
	note("%s", tf(cl_exc_matches(beg, &cl_Exception)));
	note("%s %s %s [%s]", cl_exc_repr(v0, b1, sizeof b1),
	     cl_exc_repr(v1, b2, sizeof b2), cl_exc_str(k, b3, sizeof b3),
	     cl_exc_str(v1, b4, sizeof b4));
	EXPECT_TRAIL("True True True False True True False ValueError() "
		     "ValueError('') 'k' []");
	cl_exc_decref(v0);
	cl_exc_decref(v1);
	cl_exc_decref(k);
	cl_exc_decref(eg);
	cl_exc_decref(beg);
}
END_TEST

/* ch05_exceptions.py, test_group_split_and_subgroup */
START_TEST(test_group_split_and_subgroup)
{
	struct cl_exc *inner_m[] = { cl_exc_new(&cl_ValueError, "3"),
				     cl_exc_new(&cl_KeyError, "4") };
	struct cl_exc *m[] = { cl_exc_new(&cl_ValueError, "1"),
			       cl_exc_new(&cl_TypeError, "2"),
			       cl_exc_group_new("inner", 2, inner_m) };
	struct cl_exc *eg = cl_exc_group_new("eg", 3, m);
	struct cl_exc *bm[] = { cl_exc_new(&cl_CancelledError, NULL),
				cl_exc_new(&cl_ValueError, "v") };
	struct cl_exc *beg = cl_exc_group_new("b", 2, bm);
	struct cl_exc *match, *rest, *sub;
	char buf[512];

	trail[0] = '\0';
	note("%s", cl_exc_str(eg, buf, sizeof buf));
	cl_exc_split(eg, &cl_ValueError, &match, &rest);
	note("%s", r(match, buf, sizeof buf));
	note("%s", r(rest, buf, sizeof buf));
	cl_exc_decref(match);
	cl_exc_decref(rest);
	cl_exc_split(eg, &cl_Exception, &match, &rest);
	note("%s,%s", tf(match == eg), r(rest, buf, sizeof buf));
	cl_exc_decref(match);
	cl_exc_decref(rest);
	sub = cl_exc_subgroup(eg, &cl_LookupError);
	note("%s", r(sub, buf, sizeof buf));
	cl_exc_decref(sub);
	sub = cl_exc_subgroup(eg, &cl_OSError);
	note("%s", r(sub, buf, sizeof buf));
	cl_exc_decref(sub);
	cl_exc_split(beg, &cl_ValueError, &match, &rest);
	note("%s,%s,%s", cl_exc_name(beg), match ? cl_exc_name(match) : "None",
	     rest ? cl_exc_name(rest) : "None");
	cl_exc_decref(match);
	cl_exc_decref(rest);
	EXPECT_TRAIL("eg (3 sub-exceptions) ExceptionGroup('eg', "
		     "[ValueError('1'), ExceptionGroup('inner', "
		     "[ValueError('3')])]) ExceptionGroup('eg', [TypeError('2'), "
		     "ExceptionGroup('inner', [KeyError('4')])]) True,None "
		     "ExceptionGroup('eg', [ExceptionGroup('inner', "
		     "[KeyError('4')])]) None "
		     "BaseExceptionGroup,ExceptionGroup,BaseExceptionGroup");
	cl_exc_decref(eg);
	cl_exc_decref(beg);
}
END_TEST

/* ch05_exceptions.py, test_never_retrieved_is_reported */
static void *fails(void *arg)
{
	cl_raise(cl_exc_new(&cl_ValueError, "%s", (const char *)arg));
}

static void on_error(struct cl_loop *loop, const struct cl_exc_context *ctx,
		     void *arg)
{
	char buf[128];

	(void)loop, (void)arg;
	/* A handler may take and drop a reference to the future being
	 * freed: that must not free it a second time. */
	cl_future_decref(cl_future_incref(ctx->future));
	note("%s:%s", ctx->message, r(ctx->exception, buf, sizeof buf));
}

static void *unretrieved(void *arg)
{
	struct cl_task *t[4];
	static const char *const names[] = { "lost", "awaited", "result",
					     "exception" };

	(void)arg;
	cl_loop_set_exception_handler(cl_get_running_loop(), on_error, NULL);
	for (int i = 0; i < 4; i++)
		t[i] = cl_create_task(fails, (void *)names[i], NULL);
	cl_sleep(0);
	CL_TRY {
		cl_await_task(t[1]);
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
	CL_TRY {
		cl_future_result(cl_task_future(t[2]));
	} CL_CATCH(e) {
		cl_exc_decref(e);
	} CL_END_TRY;
	cl_future_exception(cl_task_future(t[3]));
	for (int i = 0; i < 4; i++)
		cl_task_decref(t[i]);
	note("freed");
	return NULL;
}

START_TEST(test_never_retrieved_is_reported)
{
	run_on(CL_CLOCK_VIRTUAL, unretrieved, NULL);
	EXPECT_TRAIL("Task exception was never retrieved:ValueError('lost') "
		     "freed");
}
END_TEST

/* ch05_exceptions.py, test_default_handler_report: the first line of the
 * report, the key of its second, and its last (the exception). */
static char *def_report;
static size_t def_len;

static void *default_report(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	FILE *saved = loop->err, *mem = open_memstream(&def_report, &def_len);
	struct cl_task *t;
	const char *second, *last;
	size_t n;

	(void)arg;
	CL_EXPECT(mem != NULL, "open_memstream failed");
	loop->err = mem;
	t = cl_create_task(fails, "lost", NULL);
	cl_sleep(0);
	cl_task_decref(t);
	loop->err = saved;
	fclose(mem);
	second = strchr(def_report, '\n');
	second = second ? second + 1 : "";
	for (n = strlen(def_report); n > 0 && def_report[n - 1] == '\n'; n--)
		;
	for (last = def_report + n; last > def_report && last[-1] != '\n';
	     last--)
		;
	note("logged:%.*s:%.*s:%.*s", (int)strcspn(def_report, "\n"),
	     def_report, (int)strcspn(second, ":\n"), second,
	     (int)(def_report + n - last), last);
	free(def_report);
	note("freed");
	return NULL;
}

START_TEST(test_default_handler_report)
{
	run_on(CL_CLOCK_VIRTUAL, default_report, NULL);
	EXPECT_TRAIL("logged:Task exception was never retrieved:future:"
		     "ValueError: lost freed");
}
END_TEST

/* ch05_exceptions.py, test_callback_exception_goes_to_handler */
static void bad_cb(void *arg)
{
	note("%s", (const char *)arg);
	cl_raise(cl_exc_new(&cl_ZeroDivisionError, "division by zero"));
}

static void handler2(struct cl_loop *loop, const struct cl_exc_context *ctx,
		     void *arg)
{
	char buf[128];
	size_t word = strcspn(ctx->message, " ");

	(void)loop, (void)arg;
	note("handler:%.*s:%s:%s", (int)word, ctx->message,
	     r(ctx->exception, buf, sizeof buf), tf(ctx->handle != NULL));
}

static void *callbacks(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();

	(void)arg;
	cl_loop_set_exception_handler(loop, handler2, NULL);
	cl_loop_call_soon(loop, bad_cb, "bad");
	cl_loop_call_soon(loop, note_cb, "good");
	cl_sleep(0);
	cl_loop_set_exception_handler(loop, NULL, NULL);
	note("done");
	return NULL;
}

START_TEST(test_callback_exception_goes_to_handler)
{
	run_on(CL_CLOCK_VIRTUAL, callbacks, NULL);
	EXPECT_TRAIL("bad handler:Exception:ZeroDivisionError('division by "
		     "zero'):True good done");
}
END_TEST

/* ch05_exceptions.py, test_protocol_error_goes_to_handler */
struct raiser {
	struct cl_protocol base;
	struct cl_future *lost;
};

static void raiser_data(struct cl_protocol *p, const char *data, size_t n)
{
	(void)p, (void)data, (void)n;
	cl_raise(cl_exc_new(&cl_ValueError, "boom"));
}

static void raiser_lost(struct cl_protocol *p, struct cl_exc *exc)
{
	struct raiser *rp = (struct raiser *)p;
	char buf[64];

	note("lost:%s", r(exc, buf, sizeof buf));
	cl_future_set_result(rp->lost, NULL);
}

static const struct cl_protocol_ops raiser_ops = {
	.data_received = raiser_data,
	.connection_lost = raiser_lost,
};

static struct cl_protocol *raiser_new(void *arg)
{
	return arg;
}

static void handler3(struct cl_loop *loop, const struct cl_exc_context *ctx,
		     void *arg)
{
	char buf[64];

	(void)loop, (void)arg;
	note("%s:%s:%s:%s", ctx->message, r(ctx->exception, buf, sizeof buf),
	     tf(ctx->protocol != NULL), tf(ctx->transport != NULL));
}

static void *proto_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct raiser p = { { &raiser_ops }, cl_future_new(loop) };
	struct cl_transport *t;
	struct cl_protocol *proto;
	int sv[2];

	(void)arg;
	cl_loop_set_exception_handler(loop, handler3, NULL);
	CL_EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0,
		  "socketpair failed");
	cl_loop_connect_accepted_socket(loop, raiser_new, &p, sv[0], &t,
					&proto);
	CL_EXPECT(send(sv[1], "x", 1, MSG_NOSIGNAL) == 1, "send failed");
	cl_await(p.lost);
	close(sv[1]);
	cl_transport_decref(t);
	cl_future_decref(p.lost);
	return NULL;
}

START_TEST(test_protocol_error_goes_to_handler)
{
	run_on(CL_CLOCK_VIRTUAL, proto_main, NULL);
	EXPECT_TRAIL("Fatal error: protocol.data_received() call failed.:"
		     "ValueError('boom'):True:True lost:ValueError('boom')");
}
END_TEST

/* ch05_exceptions.py, test_handler_that_raises. The default handler
 * writes on the loop's error stream, whose first line of the report is
 * noted where Python's logging handler notes the record. */
static char *bad_report;
static size_t bad_len;
static FILE *bad_err;

static void broken_handler(struct cl_loop *loop,
			   const struct cl_exc_context *ctx, void *arg)
{
	(void)loop, (void)ctx, (void)arg;
	cl_raise(cl_exc_new(&cl_RuntimeError, "handler broke"));
}

static void good_after_report(void *arg)
{
	const char *last;
	size_t n;

	fflush(bad_err);
	/* The report's last line is the exception, "RuntimeError: ...". */
	for (n = strlen(bad_report); n > 0 && bad_report[n - 1] == '\n'; n--)
		;
	for (last = bad_report + n; last > bad_report && last[-1] != '\n';
	     last--)
		;
	note("logged:%.*s:%.*s", (int)strcspn(bad_report, "\n"), bad_report,
	     (int)(bad_report + n - last), last);
	note("%s", (const char *)arg);
}

static void *bad_handler_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	FILE *saved = loop->err;

	(void)arg;
	bad_err = open_memstream(&bad_report, &bad_len);
	CL_EXPECT(bad_err != NULL, "open_memstream failed");
	loop->err = bad_err;
	cl_loop_set_exception_handler(loop, broken_handler, NULL);
	cl_loop_call_soon(loop, bad_cb, "bad");
	cl_loop_call_soon(loop, good_after_report, "good");
	cl_sleep(0);
	loop->err = saved;
	fclose(bad_err);
	free(bad_report);
	return NULL;
}

/* Both sides note the report's first line and its traceback's last. */
START_TEST(test_handler_that_raises)
{
	run_on(CL_CLOCK_VIRTUAL, bad_handler_main, NULL);
	EXPECT_TRAIL("bad logged:Unhandled error in exception handler:"
		     "RuntimeError: handler broke good");
}
END_TEST

static void add_exception_tests(void)
{
	cl_test(test_traceback_through_three_awaits, 3, SEC_TB);
	cl_test(test_printed_chain, 2, SEC_TB);
	cl_test(test_printed_cause, 1, SEC_CHAIN);
	cl_test(test_printed_group, 2, SEC_GROUP);
	cl_test(test_context_is_per_coroutine, 3, SEC_CHAIN);
	cl_test(test_raise_from_and_from_none, 2, SEC_CHAIN);
	cl_test(test_reraise_keeps_no_self_context, 2, SEC_CHAIN);
	cl_test(test_context_cycle_is_cut, 2, SEC_CHAIN);
	cl_test(test_context_cycle_cut_deeper, 1, SEC_CHAIN);
	cl_test(test_context_old_cycle_does_not_hang, 1, SEC_CHAIN);
	cl_test(test_types_and_repr, 1, SEC_GROUP);
	cl_test(test_group_split_and_subgroup, 3, SEC_GROUP);
	cl_test(test_never_retrieved_is_reported, 2, SEC_HANDLER);
	cl_test(test_default_handler_report, 1, SEC_HANDLER);
	cl_test(test_callback_exception_goes_to_handler, 2, SEC_HANDLER);
	cl_test(test_protocol_error_goes_to_handler, 2, SEC_HANDLER);
	cl_test(test_handler_that_raises, 1, SEC_HANDLER);
}
CL_CHAPTER(5, "05-exceptions", "exceptions", add_exception_tests)
