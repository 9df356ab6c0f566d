/*
 * sgens.c - example generators, each the C twin of a Python generator.
 *
 * Every generator here is three things: a frame struct holding the locals
 * that must survive a yield (arguments included), a body written with the
 * sgen.h macros, and a constructor. The constructor does what calling a
 * Python generator function does: it makes the generator, stores the
 * arguments in its frame, and runs none of the body.
 *
 * cl_sgen_chars comes first and is complete: read it as the worked example
 * before you write the other bodies.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "sgens.h"

/*
 * The worked example.
 *
 * def chars(s):
 *     n = 0
 *     for c in s:
 *         yield c
 *         n += 1
 *     return n
 *
 * f->i serves as both the loop index and n.
 */
struct chars_frame {
	const char *s; /* argument, borrowed */
	size_t i;      /* where we are in s */
};

static int chars_body(struct cl_sgen *g)
{
	/* f is a C local, but it is computed afresh on every resume: it
	 * never has to survive a yield. */
	struct chars_frame *f = (void *)g->frame;

	CL_SGEN_BEGIN(g);
	for (f->i = 0; f->s[f->i] != '\0'; f->i++)
		CL_SGEN_YIELD(g, CL_INT((unsigned char)f->s[f->i]));
	CL_SGEN_RETURN(g, CL_INT(f->i));
	CL_SGEN_END(g);
}

struct cl_sgen *cl_sgen_chars(const char *s)
{
	struct cl_sgen *g;
	struct chars_frame *f;

	g = cl_sgen_new(chars_body, sizeof(*f));
	if (g == NULL)
		return NULL;
	f = (void *)g->frame;
	f->s = s;
	return g;
}

/*
 * def count(start, stop, step):
 *     if step == 0:
 *         raise ValueError("step must not be zero")
 *     n = 0
 *     i = start
 *     while (i < stop) if step > 0 else (i > stop):
 *         yield i
 *         n += 1
 *         i += step
 *     return n
 */
struct range_frame {
	intptr_t start, stop, step; /* arguments */
	intptr_t i, n;		    /* locals */
};

static int range_body(struct cl_sgen *g)
{
	// LAB ch01 range_body: The body of count() above, stackless: yields
	// LAB ch01: start, start + step, ... while short of stop, then returns
	// LAB ch01: how many it yielded; a zero step fails with -EINVAL at the
	// LAB ch01: first resume; a step past the ends of intptr_t ends the
	// LAB ch01: loop. Mirrors the Python above; read sections 3, 4 and 6.
	// HINT1 ch01: Read chars_body first: it has the same shape. Whatever
	// HINT1 ch01: must survive a yield lives in the frame, never in a C
	// HINT1 ch01: local.
	// HINT2 ch01: Translate the Python above line by line, with f->i and
	// HINT2 ch01: f->n for i and n (f = (void *)g->frame). Put the whole
	// HINT2 ch01: body between CL_SGEN_BEGIN(g) and CL_SGEN_END(g); the
	// HINT2 ch01: check of step goes inside too, so it fails at the first
	// HINT2 ch01: next, and "raise" is returning -EINVAL.
	// HINT3 ch01: i += step can overflow an intptr_t: use
	// HINT3 ch01: __builtin_add_overflow(f->i, f->step, &f->i) and stop
	// HINT3 ch01: (break) when it does; then CL_SGEN_RETURN(g,
	// HINT3 ch01: CL_INT(f->n)).
	struct range_frame *f = (void *)g->frame;

	CL_SGEN_BEGIN(g);
	if (f->step == 0)
		return -EINVAL;
	f->i = f->start;
	while (f->step > 0 ? f->i < f->stop : f->i > f->stop) {
		CL_SGEN_YIELD(g, CL_INT(f->i));
		f->n++;
		/* Past the end of intptr_t is past stop too. */
		if (__builtin_add_overflow(f->i, f->step, &f->i))
			break;
	}
	CL_SGEN_RETURN(g, CL_INT(f->n));
	CL_SGEN_END(g);
	// STUB ch01:
	// (void)g;
	// return -ENOSYS;
	// END ch01
}

struct cl_sgen *cl_sgen_range(intptr_t start, intptr_t stop, intptr_t step)
{
	struct cl_sgen *g;
	struct range_frame *f;

	g = cl_sgen_new(range_body, sizeof(*f));
	if (g == NULL)
		return NULL;
	f = (void *)g->frame;
	f->start = start;
	f->stop = stop;
	f->step = step;
	return g;
}

/*
 * def fib(limit=None):
 *     a, b = 0, 1
 *     n = 0
 *     while limit is None or n < limit:
 *         yield a
 *         a, b = b, a + b
 *         n += 1
 *     return n
 *
 * a and b are unsigned so that a + b wraps instead of being undefined;
 * a number is checked against INTPTR_MAX before it is yielded.
 */
struct fib_frame {
	intptr_t limit; /* argument; < 0 for None */
	intptr_t n;
	uintptr_t a, b;
};

static int fib_body(struct cl_sgen *g)
{
	// LAB ch01 fib_body: The body of fib() above: yields 0, 1, 1, 2, 3, ...
	// LAB ch01: (limit numbers, or forever when limit < 0), then returns
	// LAB ch01: how many; a number above INTPTR_MAX is -EOVERFLOW instead
	// LAB ch01: of being yielded. Mirrors the Python above; read section 6.
	// HINT1 ch01: Same recipe as range: the Python above, with the frame
	// HINT1 ch01: for a, b and n.
	// HINT2 ch01: Start a, b at 0, 1 after CL_SGEN_BEGIN (the frame starts
	// HINT2 ch01: zeroed). Before yielding a, return -EOVERFLOW if a >
	// HINT2 ch01: INTPTR_MAX; a and b are unsigned so that the sum wraps
	// HINT2 ch01: without undefined behaviour.
	// HINT3 ch01: The new b is a C local: it is not needed across a yield.
	// HINT3 ch01: next = a + b; a = b; b = next; n++.
	struct fib_frame *f = (void *)g->frame;
	uintptr_t next;

	CL_SGEN_BEGIN(g);
	f->a = 0;
	f->b = 1;
	for (f->n = 0; f->limit < 0 || f->n < f->limit; f->n++) {
		if (f->a > INTPTR_MAX)
			return -EOVERFLOW;
		CL_SGEN_YIELD(g, CL_INT(f->a));
		next = f->a + f->b;
		f->a = f->b;
		f->b = next;
	}
	CL_SGEN_RETURN(g, CL_INT(f->n));
	CL_SGEN_END(g);
	// STUB ch01:
	// (void)g;
	// return -ENOSYS;
	// END ch01
}

struct cl_sgen *cl_sgen_fib(intptr_t limit)
{
	struct cl_sgen *g;
	struct fib_frame *f;

	g = cl_sgen_new(fib_body, sizeof(*f));
	if (g == NULL)
		return NULL;
	f = (void *)g->frame;
	f->limit = limit;
	return g;
}

/*
 * def tokens(src):
 *     count = 0
 *     c = next(src, None)          # one character of lookahead
 *     while (tok := scan()):       # scan() reads one token, see below
 *         yield tok
 *         count += 1
 *     return count
 *
 * The tokenizer reads one character too far (the '+' that ends "12+"), so
 * the lookahead is part of its frame. Reading a token is a helper
 * function, scan, which calls the chars generator but never yields: a
 * stackless generator can only yield from its body (the chapter text,
 * section 8, says why).
 */
struct tokens_frame {
	struct cl_sgen *src; /* the chars generator (borrowed) */
	int c;		     /* lookahead character, or EOF */
	intptr_t count;	     /* tokens yielded: the return value */
	struct cl_token tok; /* the token yielded last */
};

/* Read the next character into f->c: EOF when src is finished. */
static int pull(struct tokens_frame *f)
{
	void *v;
	int rc = cl_sgen_next(f->src, &v);

	if (rc < 0)
		return rc;
	f->c = rc == CL_SGEN_YIELDED ? (int)CL_TOINT(v) : EOF;
	return 0;
}

/* Can c continue a token of this kind? */
static int continues(enum cl_token_kind kind, int c)
{
	if (kind == CL_TOKEN_NUMBER)
		return isdigit(c);
	if (kind == CL_TOKEN_WORD)
		return isalnum(c) || c == '_';
	return 0; /* punctuation is one character */
}

/*
 * Read one token, from the lookahead on, into f->tok: 1 if there was one,
 * 0 at the end of the input, or an error. A number has at most 15 digits,
 * so it fits in a 64-bit intptr_t.
 */
static int scan(struct tokens_frame *f)
{
	struct cl_token *t = &f->tok;
	size_t len = 0;
	int rc;

	while (f->c != EOF && isspace(f->c))
		if ((rc = pull(f)) < 0)
			return rc;
	if (f->c == EOF)
		return 0;

	if (isdigit(f->c))
		t->kind = CL_TOKEN_NUMBER;
	else if (isalpha(f->c) || f->c == '_')
		t->kind = CL_TOKEN_WORD;
	else
		t->kind = CL_TOKEN_PUNCT;
	t->number = 0;
	do {
		if (len == CL_TOKEN_MAX - 1)
			return -EOVERFLOW;
		t->text[len++] = (char)f->c;
		if (t->kind == CL_TOKEN_NUMBER)
			t->number = t->number * 10 + (f->c - '0');
		if ((rc = pull(f)) < 0)
			return rc;
	} while (continues(t->kind, f->c));
	t->text[len] = '\0';
	return 1;
}

static int tokens_body(struct cl_sgen *g)
{
	// LAB ch01 tokens_body: The body of tokens() above: yields &f->tok for
	// LAB ch01: each token scan finds in the characters of f->src, then
	// LAB ch01: returns the count; an error from reading the source is
	// LAB ch01: returned as it is. Mirrors the Python above; read
	// LAB ch01: section 6.
	// HINT1 ch01: pull and scan are written for you: the body is a loop
	// HINT1 ch01: around scan with a yield in it.
	// HINT2 ch01: Pull the first character with pull(f), then loop: while
	// HINT2 ch01: scan(f) finds a token (1), count it and yield &f->tok.
	// HINT2 ch01: Return the count at the end; return any error pull or
	// HINT2 ch01: scan gives.
	// HINT3 ch01: rc is only needed between yields, so it may be a C local.
	struct tokens_frame *f = (void *)g->frame;
	int rc;

	CL_SGEN_BEGIN(g);
	if ((rc = pull(f)) < 0)
		return rc;
	while ((rc = scan(f)) == 1) {
		f->count++;
		CL_SGEN_YIELD(g, &f->tok);
	}
	if (rc < 0)
		return rc;
	CL_SGEN_RETURN(g, CL_INT(f->count));
	CL_SGEN_END(g);
	// STUB ch01:
	// (void)g, (void)scan;
	// return -ENOSYS;
	// END ch01
}

struct cl_sgen *cl_sgen_tokens(struct cl_sgen *chars)
{
	struct cl_sgen *g;
	struct tokens_frame *f;

	g = cl_sgen_new(tokens_body, sizeof(*f));
	if (g == NULL)
		return NULL;
	f = (void *)g->frame;
	f->src = chars;
	return g;
}

/*
 * def numbers(toks):
 *     total = 0
 *     for tok in toks:
 *         if tok.kind == NUMBER:
 *             total += tok.number
 *             yield tok.number
 *     return total
 *
 * A Python for loop swallows the StopIteration that ends toks and lets any
 * other exception through; here that is: stop on anything but
 * CL_SGEN_YIELDED and pass a negative status on.
 */
struct numbers_frame {
	struct cl_sgen *src; /* the tokens generator (borrowed) */
	intptr_t total;
};

static int numbers_body(struct cl_sgen *g)
{
	// LAB ch01 numbers_body: The body of numbers() above: yields, as
	// LAB ch01: CL_INT, the number of each number token f->src yields, then
	// LAB ch01: returns their total; the end of f->src ends the loop, and
	// LAB ch01: an error of f->src is returned as it is. Mirrors the Python
	// LAB ch01: above (a for loop over a generator); read section 6.
	// HINT1 ch01: A for loop is a loop on next: cl_sgen_next(f->src, &v)
	// HINT1 ch01: while it yields.
	// HINT2 ch01: For each number token add its value to f->total and yield
	// HINT2 ch01: it as CL_INT. A negative status is passed on;
	// HINT2 ch01: CL_SGEN_RETURNED from the source just ends the loop.
	// HINT3 ch01: Copy the number out of the token: the token is only valid
	// HINT3 ch01: until tokens is resumed, and a C local pointing at it
	// HINT3 ch01: would not survive your yield anyway.
	struct numbers_frame *f = (void *)g->frame;
	struct cl_token *t;
	void *v;
	int rc;

	CL_SGEN_BEGIN(g);
	while ((rc = cl_sgen_next(f->src, &v)) == CL_SGEN_YIELDED) {
		t = v;
		if (t->kind != CL_TOKEN_NUMBER)
			continue;
		f->total += t->number;
		CL_SGEN_YIELD(g, CL_INT(t->number));
	}
	if (rc < 0)
		return rc;
	CL_SGEN_RETURN(g, CL_INT(f->total));
	CL_SGEN_END(g);
	// STUB ch01:
	// (void)g;
	// return -ENOSYS;
	// END ch01
}

struct cl_sgen *cl_sgen_numbers(struct cl_sgen *tokens)
{
	struct cl_sgen *g;
	struct numbers_frame *f;

	g = cl_sgen_new(numbers_body, sizeof(*f));
	if (g == NULL)
		return NULL;
	f = (void *)g->frame;
	f->src = tokens;
	return g;
}

/*
 * def averager():
 *     total = count = 0
 *     average = None
 *     while True:
 *         term = yield average
 *         total += term
 *         count += 1
 *         average = total // count
 *
 * "term = yield average" is a yield followed by reading g->sent: the
 * value the resuming send carried.
 */
struct averager_frame {
	intptr_t total, count;
	void *average; /* NULL (None) until the first term */
};

static int averager_body(struct cl_sgen *g)
{
	// LAB ch01 averager_body: The body of averager() above: yields None,
	// LAB ch01: then after each number sent in, the average of all of them
	// LAB ch01: so far, floored as Python's // floors; it never returns.
	// LAB ch01: Mirrors the Python above (term = yield average); read
	// LAB ch01: section 7.
	// HINT1 ch01: Yield f->average forever; after a yield, g->sent holds
	// HINT1 ch01: what the send carried.
	// HINT2 ch01: After each yield add CL_TOINT(g->sent) to the total,
	// HINT2 ch01: count it, and recompute the average.
	// HINT3 ch01: Python's // floors but C's / truncates toward zero: when
	// HINT3 ch01: total % count is negative, the quotient is one too big.
	struct averager_frame *f = (void *)g->frame;
	intptr_t q;

	CL_SGEN_BEGIN(g);
	for (;;) {
		CL_SGEN_YIELD(g, f->average);
		f->total += CL_TOINT(g->sent);
		f->count++;
		q = f->total / f->count;
		if (f->total % f->count < 0)
			q--;
		f->average = CL_INT(q);
	}
	CL_SGEN_END(g);
	// STUB ch01:
	// (void)g;
	// return -ENOSYS;
	// END ch01
}

struct cl_sgen *cl_sgen_averager(void)
{
	/* The zeroed frame is the right start: no terms, average None. */
	return cl_sgen_new(averager_body, sizeof(struct averager_frame));
}
