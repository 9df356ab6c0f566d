/*
 * ctxvar.c - what chapter 06's context variables cost: get, set, a copy
 * of the context, a run in a context, and the memory of a copy.
 *
 *	ctxvar [-r reps] [-t ms] [-m copies]
 *
 * Each figure is measured four times, with 1, 10, 100 and 10,000
 * variables set in the current context, so that the depth of its map
 * (hamt.h) shows; N in a kind's name is that number. Each has its peer
 * in ctxvar.py (CPython's contextvars, the same programs):
 *
 *	ctxvar_getN	var.get() of a variable that has a value;
 *	ctxvar_setN	var.set(value), the token dropped at once: corolab
 *			is cl_contextvar_set_token and cl_token_decref, the
 *			peer of CPython's set (which always makes a Token);
 *			corolab_notoken is cl_contextvar_set, an extra row;
 *	copy_contextN	copy_context(), the copy dropped at once;
 *	context_runN	ctx.run(fn) of a function that returns at once, on
 *			one copy of the current context made beforehand and
 *			reused (not entered between runs);
 *	context_memN	not a time: bytes per context after -m copies
 *			(1,000) of the current context, each of which then
 *			sets one variable (copy i sets variable i % N to a
 *			new value, inside ctx.run). corolab's figure is the
 *			growth of glibc's heap in use (mallinfo2: uordblks
 *			and hblkhd, so malloc's own chunk headers count);
 *			a comment line adds the count by sizeof of what
 *			each copy holds alone, and what a full copy of the
 *			map would be.
 *
 * The timed loops do eight operations per turn, on eight variables
 * (the variables 0 to 7 of the N, all the same one when N is 1), so
 * that the figure is an average over eight places in the trie and the
 * loop's own cost is small (Python's loop costs more; unrolled the same
 * way, it counts less against CPython). A set stores three values in
 * turn, so that every set changes its variable's value: a set to the
 * value already there returns the same map in both HAMTs.
 *
 * Each N runs inside a context of its own, new and empty (Context().run
 * in Python), where its N variables are set first.
 *
 * Output: "<kind> corolab <ns>" and "<kind> corolab_notoken <ns>"
 * lines, as run.sh reads them, and comment lines ('#').
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ctxvar.h"
#include "hamt.h"

#define MAXVARS 10000
#define HOT	8

static const long sizes[] = {1, 10, 100, MAXVARS};

static struct cl_contextvar vars[MAXVARS];
static char names[MAXVARS][8]; /* "v0" ... "v9999": names are not copied */
static struct cl_contextvar *hot[HOT];
static struct cl_context *runctx; /* context_run's copy */
static long nvars;		  /* set in the current context */
static long ncopies = 1000;
static void *values[3];	  /* what set stores, in turn */
static char value_obj[4]; /* values[], and what a copy sets */
static volatile uintptr_t sink;

static void run_get(long n)
{
	uintptr_t s = 0;

	for (long i = 0; i < n; i++) {
		s += (uintptr_t)cl_contextvar_get(hot[0]);
		s += (uintptr_t)cl_contextvar_get(hot[1]);
		s += (uintptr_t)cl_contextvar_get(hot[2]);
		s += (uintptr_t)cl_contextvar_get(hot[3]);
		s += (uintptr_t)cl_contextvar_get(hot[4]);
		s += (uintptr_t)cl_contextvar_get(hot[5]);
		s += (uintptr_t)cl_contextvar_get(hot[6]);
		s += (uintptr_t)cl_contextvar_get(hot[7]);
	}
	sink = s;
}

/* Slot k of a turn stores values a b c a b c a b; the next turn starts
 * from c (a, b, c = c, a, b). Every variable, and with N = 1 the one
 * variable, gets a value other than its own at every set. */
#define SET_TURN(set)                                                          \
	do {                                                                   \
		void *t_;                                                      \
		set(hot[0], a);                                                \
		set(hot[1], b);                                                \
		set(hot[2], c);                                                \
		set(hot[3], a);                                                \
		set(hot[4], b);                                                \
		set(hot[5], c);                                                \
		set(hot[6], a);                                                \
		set(hot[7], b);                                                \
		t_ = c, c = b, b = a, a = t_;                                  \
	} while (0)

#define SET_TOKEN(v, x) cl_token_decref(cl_contextvar_set_token(v, x))

static void run_set_token(long n)
{
	void *a = values[0], *b = values[1], *c = values[2];

	for (long i = 0; i < n; i++)
		SET_TURN(SET_TOKEN);
}

static void run_set(long n)
{
	void *a = values[0], *b = values[1], *c = values[2];

	for (long i = 0; i < n; i++)
		SET_TURN(cl_contextvar_set);
}

static void run_copy(long n)
{
	for (long i = 0; i < n; i++) {
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
		cl_context_decref(cl_copy_context());
	}
}

static __attribute__((noinline)) void *fn(void *arg)
{
	return arg;
}

static void run_run(long n)
{
	struct cl_context *c = runctx;

	for (long i = 0; i < n; i++) {
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
		cl_context_run(c, fn, NULL);
	}
}

/* --- memory ----------------------------------------------------------- */

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static size_t node_bytes(const struct cl_hamt_node *n)
{
	switch (n->kind) {
	case CL_HAMT_BITMAP:
		return sizeof(struct cl_hamt_bitmap) +
		       n->size * sizeof(struct cl_hamt_entry);
	case CL_HAMT_ARRAY:
		return sizeof(struct cl_hamt_array);
	default:
		return sizeof(struct cl_hamt_collision) +
		       n->size * sizeof(struct cl_hamt_entry);
	}
}

/* The base map's nodes, sorted, to tell a copy's own nodes from the
 * shared ones. */
static const struct cl_hamt_node **base_nodes;
static size_t nbase, base_cap;

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a;
	uintptr_t y = (uintptr_t) * (const void *const *)b;

	return (x > y) - (x < y);
}

static int is_base(const struct cl_hamt_node *n)
{
	return bsearch(&n, base_nodes, nbase, sizeof *base_nodes, cmp_ptr) !=
	       NULL;
}

/*
 * Walk the trie under n. With collect, add every node to base_nodes;
 * else count the nodes that are not the base map's (under a shared
 * node, everything is shared). Returns the bytes counted, by sizeof.
 */
static size_t walk(const struct cl_hamt_node *n, int collect, long *nodes)
{
	size_t bytes;

	if (n == NULL || (!collect && is_base(n)))
		return 0;
	if (collect) {
		if (nbase == base_cap) {
			base_cap = base_cap ? 2 * base_cap : 256;
			base_nodes =
			    realloc(base_nodes, base_cap * sizeof *base_nodes);
			if (base_nodes == NULL) {
				perror("ctxvar");
				exit(1);
			}
		}
		base_nodes[nbase++] = n;
	}
	bytes = node_bytes(n);
	(*nodes)++;
	if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;

		for (int i = 0; i < 32; i++)
			bytes += walk(a->child[i], collect, nodes);
	} else if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;

		for (int i = 0; i < n->size; i++)
			if (b->e[i].key == NULL)
				bytes += walk(b->e[i].child, collect, nodes);
	}
	return bytes;
}

static void *set_one(void *arg)
{
	cl_contextvar_set(arg, &value_obj[3]); /* no variable has it yet */
	return NULL;
}

/* context_memN: bytes per copy, by mallinfo2; a comment by sizeof. */
static double measure_memory(void)
{
	struct cl_context **ctx = malloc(ncopies * sizeof *ctx);
	struct cl_hamt *base = cl_context_current()->vars;
	size_t before, after, own = 0, full;
	long full_nodes = 0, own_nodes = 0;

	if (ctx == NULL) {
		perror("ctxvar");
		exit(1);
	}
	/* Contexts freed earlier may wait in a spare list; a copy that
	 * took one would not show in the heap. */
	cl__context_free_spares();
	before = heap_in_use();
	for (long i = 0; i < ncopies; i++) {
		ctx[i] = cl_copy_context();
		if (ctx[i] == NULL) {
			perror("ctxvar: cl_copy_context");
			exit(1);
		}
		cl_context_run(ctx[i], set_one, &vars[i % nvars]);
	}
	after = heap_in_use();

	nbase = 0;
	full = walk(base->root, 1, &full_nodes);
	qsort(base_nodes, nbase, sizeof *base_nodes, cmp_ptr);
	for (long i = 0; i < ncopies; i++)
		own += walk(ctx[i]->vars->root, 0, &own_nodes);
	printf("# context_mem%ld corolab: %ld copies, one set each; by "
	       "sizeof, each holds a context (%zu B), a map (%zu B) and "
	       "%.2f nodes of its own (%.0f B): %.0f B; a full copy of the "
	       "map would be %ld node(s), %zu B\n",
	       nvars, ncopies, sizeof(struct cl_context),
	       sizeof(struct cl_hamt), (double)own_nodes / ncopies,
	       (double)own / ncopies,
	       sizeof(struct cl_context) + sizeof(struct cl_hamt) +
		   (double)own / ncopies,
	       full_nodes, full + sizeof(struct cl_hamt));

	for (long i = 0; i < ncopies; i++)
		cl_context_decref(ctx[i]);
	free(ctx);
	return ((double)after - (double)before) / ncopies;
}

/* --- one N -------------------------------------------------------------- */

struct method {
	const char *kind; /* without N */
	const char *name;
	void (*run)(long n);
	long n;	     /* turns of 8 operations */
	double best; /* ns per operation */
};

static int reps = 5;
static double target_ms = 200;

/* Everything for one N, inside a new empty context (arg: N). */
static void *bench_n(void *arg)
{
	struct method m[] = {
	    {"ctxvar_get", "corolab", run_get, 0, 1e300},
	    {"ctxvar_set", "corolab", run_set_token, 0, 1e300},
	    {"ctxvar_set", "corolab_notoken", run_set, 0, 1e300},
	    {"copy_context", "corolab", run_copy, 0, 1e300},
	    {"context_run", "corolab", run_run, 0, 1e300},
	};
	size_t nm = sizeof m / sizeof m[0];
	double mem = 0;

	nvars = (long)(intptr_t)arg;
	for (long i = 0; i < nvars; i++)
		cl_contextvar_set(&vars[i], values[i % 3]);
	for (int k = 0; k < HOT; k++)
		hot[k] = &vars[k % nvars];

	if (ncopies > 0)
		mem = measure_memory();

	runctx = cl_copy_context();
	if (runctx == NULL) {
		perror("ctxvar: cl_copy_context");
		exit(1);
	}
	for (size_t j = 0; j < nm; j++)
		m[j].n = bench_calibrate(m[j].run, target_ms * 1e6);
	/* Interleaved: each repetition runs every method once. */
	for (int r = 0; r < reps; r++)
		for (size_t j = 0; j < nm; j++) {
			double t = bench_time(m[j].run, m[j].n) /
				   ((double)m[j].n * HOT);

			if (t < m[j].best)
				m[j].best = t;
		}
	cl_context_decref(runctx);

	for (size_t j = 0; j < nm; j++)
		printf("%s%ld %s %.2f\n", m[j].kind, nvars, m[j].name,
		       m[j].best);
	if (ncopies > 0)
		printf("context_mem%ld corolab %.1f\n", nvars, mem);
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "r:t:m:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'm':
			ncopies = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: ctxvar [-r reps] [-t ms] "
					"[-m copies]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	unsetenv("COROLAB_TRACE");

	for (int i = 0; i < 3; i++)
		values[i] = &value_obj[i];
	for (long i = 0; i < MAXVARS; i++) {
		snprintf(names[i], sizeof names[i], "v%ld", i);
		cl_contextvar_init(&vars[i], names[i]);
	}

	printf("# ctxvar: best of %d interleaved repetitions of %.0f ms; "
	       "8 operations per loop turn on variables 0..7\n",
	       reps, target_ms);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct cl_context *c = cl_context_new();

		if (c == NULL) {
			perror("ctxvar: cl_context_new");
			return 1;
		}
		cl_context_run(c, bench_n, (void *)(intptr_t)sizes[i]);
		cl_context_decref(c);
	}
	return 0;
}
