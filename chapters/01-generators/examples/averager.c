/*
 * averager.c - a generator that receives: send() values in, averages out.
 *
 * The Python it mirrors (tests/py/ch01_averager.py):
 *
 *	g = averager()
 *	next(g)                 # run to the first yield: None
 *	g.send(10)              # 10
 *	g.send(30)              # 20
 *	g.send(5)               # 15
 *	g.close()
 *
 * It also shows the rule about the first resume: a value sent before the
 * generator has reached a yield has nowhere to go, and is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sgens.h"

/* Say what went wrong: an error by name, or a status we did not expect. */
static int fail(const char *what, int rc)
{
	printf("%s: %s\n", what, rc < 0 ? strerror(-rc) : "unexpected status");
	return 1;
}

int main(void)
{
	static const int terms[] = {10, 30, 5};
	struct cl_sgen *g = cl_sgen_averager();
	void *v;
	int rc;

	if (g == NULL)
		return 1;
	rc = cl_sgen_send(g, CL_INT(10), &v);
	if (rc != -EINVAL)
		return fail("send(10) first", rc);
	printf("send(10) first: refused (-EINVAL)\n");

	rc = cl_sgen_next(g, &v);
	if (rc != CL_SGEN_YIELDED)
		return fail("next", rc);
	printf("next: %s\n", v == NULL ? "None (no terms yet)" : "?");
	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
		rc = cl_sgen_send(g, CL_INT(terms[i]), &v);
		if (rc != CL_SGEN_YIELDED)
			return fail("send", rc);
		printf("send(%d): average %ld\n", terms[i], (long)CL_TOINT(v));
	}

	rc = cl_sgen_close(g);
	if (rc != 0)
		return fail("close", rc);
	rc = cl_sgen_next(g, &v);
	printf("close, then next: %s\n",
	       rc == CL_SGEN_FINISHED ? "finished" : "?");
	cl_sgen_free(g);
	return rc == CL_SGEN_FINISHED ? 0 : 1;
}
