/*
 * lines.h - memory that starts on a cache line.
 *
 * The CPU moves memory to and from its caches in lines of 64 bytes. An
 * object of 96 bytes that malloc places 48 bytes into a line spans three
 * lines, not two, and each line is one more miss whenever the object has
 * gone cold. A server with a thousand connections touches each one's
 * objects once per message, long after the others have pushed them out
 * of L1: there, lines touched per message is what the CPU time follows
 * (tests/bench/misses.sh counts them). So the objects every message
 * touches (handles, futures, tasks, generators, streams) are allocated
 * here, each starting on a line of its own, their busiest fields first.
 */
#ifndef CL_LINES_H
#define CL_LINES_H

#include <stdlib.h>
#include <string.h>

#define CL_LINE 64

/* size zeroed bytes starting on a line, or NULL; free() releases them. */
static inline void *cl__lines_alloc(size_t size)
{
	size_t whole = (size + CL_LINE - 1) & ~(size_t)(CL_LINE - 1);
	void *p = aligned_alloc(CL_LINE, whole);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

#endif
