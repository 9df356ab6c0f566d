/*
 * lines.h - memory that starts on a cache line.
 *
 * The CPU moves memory to and from its caches in lines of 64 bytes. An
 * object of 96 bytes that malloc places 48 bytes into a line spans three
 * lines, not two, and each line is one more miss whenever the object has
 * gone cold. A server with a thousand connections touches each one's
 * objects once per message, long after the others have pushed them out
 * of L1: there, lines touched per message is what the CPU time follows
 * (tests/bench/misses.sh counts them). So the objects a message touches
 * and that are allocated once and then recycled or kept (handles,
 * futures, streams) come from here, each starting on a line of its own,
 * their busiest fields first. (A stream's read buffer starts on a line
 * too, but needs no zeroing: plain aligned_alloc.)
 *
 * Not tasks and generators, made afresh at every spawn: glibc's
 * aligned_alloc carves a block out of a bigger one, and a spawn with it
 * cost half as much again as with calloc (tests/bench/sched.c), and a
 * parked task 300 bytes more. Their busiest fields come first all the
 * same, and the allocator's 16-byte alignment usually keeps them to two
 * lines.
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
