/*
 * range.c - drive a generator to its end: its values, its return value,
 * and what a finished generator answers.
 *
 *	range [start stop step]		(default: 0 10 3)
 *
 * The Python it mirrors (tests/py/ch01_range.py has the generator):
 *
 *	g = count(0, 10, 3)
 *	while True:
 *	    try:
 *	        print("yielded", next(g))
 *	    except StopIteration as stop:
 *	        print("returned", stop.value)
 *	        break
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgens.h"

int main(int argc, char **argv)
{
	intptr_t start = 0, stop = 10, step = 3;
	struct cl_sgen *g;
	void *v;
	int rc;

	if (argc == 4) {
		start = strtol(argv[1], NULL, 0);
		stop = strtol(argv[2], NULL, 0);
		step = strtol(argv[3], NULL, 0);
	}
	g = cl_sgen_range(start, stop, step);
	if (g == NULL)
		return 1;

	while ((rc = cl_sgen_next(g, &v)) == CL_SGEN_YIELDED)
		printf("yielded %ld\n", (long)CL_TOINT(v));
	if (rc < 0) {
		printf("failed: %s\n", strerror(-rc));
		cl_sgen_free(g);
		return 1;
	}
	printf("returned %ld\n", (long)CL_TOINT(v));

	rc = cl_sgen_next(g, &v);
	printf("next again: %s\n",
	       rc == CL_SGEN_FINISHED ? "finished, no value" : "?");
	cl_sgen_free(g);
	return rc == CL_SGEN_FINISHED ? 0 : 1;
}
