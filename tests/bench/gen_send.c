/*
 * gen_send.c - what one generator send round trip costs in corolab.
 *
 *	gen_send [-r reps] [-t ms] [-n sends]
 *
 *	-r	repetitions of each method; the best one counts (default 5)
 *	-t	target time of one repetition in milliseconds (default 200)
 *	-n	fixed number of sends per repetition (default: calibrated)
 *
 * A round trip is one send: the caller hands a value to a suspended
 * generator, the generator runs until its next yield and the yielded value
 * comes back. The generator is an echo, the smallest body that takes part
 * in every round trip; gen_send.py times the same generator in CPython:
 *
 *	static void *echo(void *arg)		def echo():
 *	{					    v = None
 *		void *v = NULL;			    while True:
 *		for (;;)			        v = yield v
 *			v = cl_yield(v);
 *	}
 *
 * The methods:
 *
 *	corolab       cl_gen_send on the stackful generator of chapter 02:
 *	              two context switches plus the protocol's checks and the
 *	              exception-chain swap
 *	corolab_sgen  cl_sgen_send on the stackless generator of chapter 01:
 *	              a function call and a switch on the resume point
 *
 * Output: "gensend <method> <ns per send>" lines, then "ratio X/corolab"
 * lines; lines starting with '#' are comments. tests/bench/run.sh puts
 * CPython's line beside these and adds ratio cpython/corolab.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "gen.h"
#include "sgen.h"


/* Stackful: the echo above, suspended in cl_yield between sends. */
static struct cl_gen *echo_gen;

static void *echo(void *arg)
{
	void *v = NULL;

	(void)arg;
	for (;;)
		v = cl_yield(v);
	return NULL;
}

static void stackful_setup(void)
{
	void *out;

	echo_gen = cl_gen_new(echo, NULL, "echo");
	if (echo_gen == NULL) {
		perror("gen_send: cl_gen_new");
		exit(1);
	}
	/* Start it: run the body to its first yield, as next(g) does. */
	if (cl_gen_send(echo_gen, NULL, &out) != CL_GEN_YIELDED) {
		fprintf(stderr, "gen_send: echo did not yield\n");
		exit(1);
	}
}

static void stackful_run(long n)
{
	void *out;

	for (long i = 0; i < n; i++) {
		if (cl_gen_send(echo_gen, CL_INT(i), &out) != CL_GEN_YIELDED ||
		    CL_TOINT(out) != i) {
			fprintf(stderr, "gen_send: echo lost a value\n");
			exit(1);
		}
	}
}

/* Stackless: the same echo written with chapter 01's macros. */
static struct cl_sgen *echo_sgen;

static int echo_body(struct cl_sgen *g)
{
	CL_SGEN_BEGIN(g);
	for (;;)
		CL_SGEN_YIELD(g, g->sent);
	CL_SGEN_END(g);
}

static void stackless_setup(void)
{
	void *out;

	echo_sgen = cl_sgen_new(echo_body, 0);
	if (echo_sgen == NULL) {
		perror("gen_send: cl_sgen_new");
		exit(1);
	}
	if (cl_sgen_send(echo_sgen, NULL, &out) != CL_SGEN_YIELDED) {
		fprintf(stderr, "gen_send: stackless echo did not yield\n");
		exit(1);
	}
}

static void stackless_run(long n)
{
	void *out;

	for (long i = 0; i < n; i++) {
		if (cl_sgen_send(echo_sgen, CL_INT(i), &out) !=
			    CL_SGEN_YIELDED ||
		    CL_TOINT(out) != i) {
			fprintf(stderr, "gen_send: stackless echo lost a "
					"value\n");
			exit(1);
		}
	}
}

struct method {
	const char *name;
	void (*setup)(void);
	void (*run)(long sends);
	long n;	     /* sends per repetition, from bench_calibrate */
	double best; /* best ns per send so far */
};

static struct method methods[] = {
	{ "corolab", stackful_setup, stackful_run, 0, 0 },
	{ "corolab_sgen", stackless_setup, stackless_run, 0, 0 },
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200;
	long fixed_n = 0;

	while ((opt = getopt(argc, argv, "r:t:n:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'n':
			fixed_n = atol(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: gen_send [-r reps] [-t ms] [-n sends]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;

	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		m->setup();
		m->n = fixed_n ? fixed_n
			       : bench_calibrate(m->run, target_ms * 1e6);
		m->best = 1e300;
	}
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < NMETHODS; i++) {
			struct method *m = &methods[i];
			double ns = bench_time(m->run, m->n) / m->n;

			if (ns < m->best)
				m->best = ns;
		}
	}

	printf("# gen_send: best of %d interleaved repetitions; sends per "
	       "repetition:",
	       reps);
	for (size_t i = 0; i < NMETHODS; i++)
		printf(" %s %ld", methods[i].name, methods[i].n);
	printf("\n");
	for (size_t i = 0; i < NMETHODS; i++)
		printf("gensend %s %.2f\n", methods[i].name, methods[i].best);
	for (size_t i = 1; i < NMETHODS; i++)
		printf("ratio %s/corolab %.2f\n", methods[i].name,
		       methods[i].best / methods[0].best);

	/* Freeing closes the suspended echo: GeneratorExit at its yield. */
	cl_gen_free(echo_gen);
	cl_sgen_free(echo_sgen);
	return 0;
}
