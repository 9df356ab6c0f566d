/*
 * sgens.h - example generators written with the sgen.h macros.
 *
 * Each constructor returns a new generator (NULL if out of memory) that
 * runs nothing until its first resume; free it with cl_sgen_free. Each is
 * the C twin of a few lines of Python, quoted above its body in sgens.c.
 */
#ifndef CL_SGENS_H
#define CL_SGENS_H

#include <stdint.h>

#include "sgen.h"

/*
 * Yield start, start + step, ... while short of stop (past it, for a
 * negative step); return how many values were yielded. A step of 0 fails
 * with -EINVAL at the first resume, not at creation: a generator runs
 * none of its body before then.
 */
struct cl_sgen *cl_sgen_range(intptr_t start, intptr_t stop, intptr_t step);

/*
 * Yield the Fibonacci numbers 0, 1, 1, 2, 3, ... : limit of them, then
 * return limit; or, with limit < 0, forever. Python's integers never
 * overflow and ours do, so "forever" ends with -EOVERFLOW at the first
 * number that does not fit in an intptr_t.
 */
struct cl_sgen *cl_sgen_fib(intptr_t limit);

/*
 * A pipeline: chars -> tokens -> numbers, each stage a generator that
 * pulls from the one before (which it borrows: free the stages after
 * their consumers are done, in any order).
 *
 * cl_sgen_chars yields the characters of s as CL_INT(c) and returns how
 * many there were. s is borrowed.
 */
struct cl_sgen *cl_sgen_chars(const char *s);

/* Longest token, terminating '\0' included. */
#define CL_TOKEN_MAX 16

enum cl_token_kind {
	CL_TOKEN_NUMBER = 1, /* decimal digits: 42 */
	CL_TOKEN_WORD,	     /* a letter or '_', then letters, digits, '_' */
	CL_TOKEN_PUNCT,	     /* any other character but space: + ( ; */
};

struct cl_token {
	enum cl_token_kind kind;
	intptr_t number;	 /* its value, for CL_TOKEN_NUMBER */
	char text[CL_TOKEN_MAX]; /* as written */
};

/*
 * Yield the tokens of the characters chars yields, skipping white space,
 * and return how many there were. A token is yielded as a pointer to a
 * struct cl_token in the tokenizer's frame, valid until its next resume.
 * A token longer than CL_TOKEN_MAX - 1 fails with -E2BIG; an error from
 * chars is passed on.
 */
struct cl_sgen *cl_sgen_tokens(struct cl_sgen *chars);

/*
 * Yield the value of each number token that tokens yields, as CL_INT(n),
 * and return their sum. Other tokens are skipped; an error from tokens is
 * passed on, as an exception travels up a chain of Python generators.
 */
struct cl_sgen *cl_sgen_numbers(struct cl_sgen *tokens);

/*
 * A coroutine that receives: each value sent in (as CL_INT(term)) is added
 * to a running average, which it yields back (floored, as Python's //).
 * The first next yields NULL, Python's None: no terms yet. It never
 * returns; close it when done.
 */
struct cl_sgen *cl_sgen_averager(void);

#endif
