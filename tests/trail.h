/*
 * trail.h - what ran, in order, for tests that compare it with what
 * CPython printed for the same scenario (tests/py/).
 *
 * note("a%d", 1) appends "a1" to trail, separated from what is there by
 * one space. note_cb is note as a loop callback whose argument is the
 * word to append. tf spells a truth value the way Python prints it.
 * run_on empties trail, runs fn(arg) with cl_run on the given clock and
 * fails the test, showing the trail so far, unless main returned.
 */
#ifndef CL_TRAIL_H
#define CL_TRAIL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "grade.h"
#include "run.h"

static char trail[16384];

static inline void note(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void note(const char *fmt, ...)
{
	size_t len = strlen(trail);
	va_list ap;

	if (len > 0 && len + 1 < sizeof trail)
		trail[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(trail + len, sizeof trail - len, fmt, ap);
	va_end(ap);
}

static inline void note_cb(void *arg)
{
	note("%s", (const char *)arg);
}

static inline const char *tf(int b)
{
	return b ? "True" : "False";
}

static inline void *run_on(enum cl_clock clock, void *(*fn)(void *),
			   void *arg)
{
	struct cl_run_opts opts = { .clock = clock };
	void *out = NULL;
	int st;

	trail[0] = '\0';
	st = cl_run_with(fn, arg, &opts, &out);
	if (st == CL_RUN_RAISED)
		ck_abort_msg("cl_run: main raised %s: %s (log so far: \"%s\")",
			     cl_exc_name(out), cl_exc_message(out), trail);
	CL_EXPECT(st == 0,
		  "cl_run returned %d (%s), expected 0 (log so far: \"%s\")",
		  st, st < 0 ? strerror(-st) : "?", trail);
	return out;
}

#endif
