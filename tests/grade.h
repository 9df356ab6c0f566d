/*
 * grade.h - what a chapter's test file needs to be graded.
 *
 * A chapter's tests live in one file, tests/chNN_<slug>.c. The file writes
 * ordinary Check tests (START_TEST ... END_TEST), then one function that
 * lists them with their points and the section of the chapter text a
 * student should reread when the test fails, and registers that function
 * with CL_CHAPTER:
 *
 *	static void add_tests(void)
 *	{
 *		cl_test(test_range_counts_up, 2, "3. The protocol");
 *		...
 *	}
 *	CL_CHAPTER(1, "01-generators", "generators", add_tests)
 *
 * The grader (tests/grade.c) puts every test in a TCase of its own, named
 * after the test, so each one runs in a forked child with its own timeout:
 * a crash or a hang fails that test and nothing else.
 *
 * Failure messages say what was expected and what happened. Use the
 * CL_EXPECT_* macros below rather than bare ck_assert, so the student sees
 * "expected 3, got 0" and not "assertion failed".
 */
#ifndef CL_GRADE_H
#define CL_GRADE_H

#include <check.h>
#include <stdint.h>
#include <string.h>

/* Add one graded test to the chapter being registered. */
void cl_test(const TTest *t, int points, const char *reread);

/* The same, for a test that needs more than the usual 5 seconds (one
 * that starts a browser or a server of its own): its timeout. */
void cl_test_timeout(const TTest *t, int points, const char *reread,
		     int seconds);

/* Called by CL_CHAPTER before main runs; not for direct use. */
void cl__register_chapter(int number, const char *dir, const char *title,
			  void (*add)(void));

/*
 * CL_CHAPTER(number, dir, title, add) registers a chapter: dir is its
 * folder under chapters/, add the function that calls cl_test for each of
 * its tests. A constructor does the registering, so linking a chapter's
 * file into the grader is all it takes to grade it.
 */
#define CL_CHAPTER(number, dir, title, add)                                  \
	__attribute__((constructor)) static void cl__chapter_##add(void)     \
	{                                                                    \
		cl__register_chapter(number, dir, title, add);               \
	}

/* Fail unless got == want, as integers. */
#define CL_EXPECT_INT(got, want)                                             \
	do {                                                                 \
		long long got_ = (long long)(got);                           \
		long long want_ = (long long)(want);                         \
		ck_assert_msg(got_ == want_, "%s: expected %lld, got %lld",  \
			      #got, want_, got_);                            \
	} while (0)

/* Fail unless the two strings are equal (NULL is shown as (null)). */
#define CL_EXPECT_STR(got, want)                                             \
	do {                                                                 \
		const char *got_ = (got);                                    \
		const char *want_ = (want);                                  \
		ck_assert_msg(got_ && want_ && strcmp(got_, want_) == 0,     \
			      "%s: expected \"%s\", got \"%s\"", #got,       \
			      want_ ? want_ : "(null)",                      \
			      got_ ? got_ : "(null)");                       \
	} while (0)

/* Fail unless got == want, as pointers. */
#define CL_EXPECT_PTR(got, want)                                             \
	do {                                                                 \
		const void *got_ = (const void *)(got);                      \
		const void *want_ = (const void *)(want);                    \
		ck_assert_msg(got_ == want_, "%s: expected %p, got %p",      \
			      #got, want_, got_);                            \
	} while (0)

/* Fail unless cond holds; the message is a printf format and arguments. */
#define CL_EXPECT(cond, ...) ck_assert_msg(cond, __VA_ARGS__)

#endif
