/*
 * trail.h - what ran, in order, for tests that compare it with what
 * CPython printed for the same scenario (tests/py/).
 *
 * note("a%d", 1) appends "a1" to trail, separated from what is there by
 * one space; a test empties trail first (trail[0] = '\0'). note_cb is
 * note as a loop callback whose argument is the word to append. tf
 * spells a truth value the way Python prints it.
 */
#ifndef CL_TRAIL_H
#define CL_TRAIL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char trail[4096];

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

#endif
