/*
 * sgen.c - the generator protocol: next, send, close.
 *
 * The body (written with the macros in sgen.h) knows how to continue from
 * its resume point. Everything around it is here: refusing a resume that
 * makes no sense, marking the generator running while its body runs, and
 * turning what the body reported into the caller's answer. CPython does
 * the same in Objects/genobject.c, gen_send_ex2, around the call into
 * the interpreter loop (_PyEval_EvalFrame).
 */
#include <errno.h>
#include <stdlib.h>

#include "sgen.h"

struct cl_sgen *cl_sgen_new(cl_sgen_body *body, size_t frame_size)
{
	struct cl_sgen *g;

	/* One allocation, frame included, as CPython's generator object
	 * carries its frame inline (gi_iframe). calloc zeroes the frame, so
	 * a body starts from known locals and resume == 0, the top. */
	g = calloc(1, sizeof(*g) + frame_size);
	if (g == NULL)
		return NULL;
	g->body = body;
	g->state = CL_SGEN_CREATED;
	return g;
}

void cl_sgen_free(struct cl_sgen *g)
{
	free(g);
}

/*
 * Resume g with value and report what its body did, as gen_send_ex2
 * does. CPython's refusals come first, in its order, and change nothing:
 * a value sent to a generator that has not started (no yield is waiting
 * to receive it: -EINVAL), then any resume of a running generator
 * (-EBUSY). A finished generator stays finished: CL_SGEN_FINISHED, no
 * value. Otherwise the body runs with g marked running; a yield leaves
 * g suspended with the value for the caller, a return or an error
 * finishes g for good.
 */
int cl_sgen_send(struct cl_sgen *g, void *value, void **out)
{
	/* TODO(ch01): Resume g with value (the rules above). Afterwards
	 * a yield leaves g CL_SGEN_SUSPENDED with *out the value
	 * yielded; a return or an error closes g for good (*out the
	 * value returned, else NULL); a refusal (-EINVAL, -EBUSY) or
	 * a finished g changes nothing. Mirrors Objects/genobject.c
	 * gen_send_ex2; read section 5.
	 * Hints: make hint CH=1 TODO=sgen_send (3 levels). */
	(void)g, (void)value, (void)out;
	return -ENOSYS;
}

int cl_sgen_next(struct cl_sgen *g, void **out)
{
	/* next(gen) is send(None): CPython's gen_iternext calls the same
	 * gen_send_ex2 with no argument. */
	return cl_sgen_send(g, NULL, out);
}

/*
 * A stackless body has no way to run cleanup code at its yield (CPython
 * throws GeneratorExit in there; chapter 02 does too), so closing only
 * marks g finished.
 */
int cl_sgen_close(struct cl_sgen *g)
{
	/* TODO(ch01): A running generator cannot be closed (-EBUSY);
	 * any other is finished from now on, whatever state it was
	 * in, and the answer is 0. Mirrors Objects/genobject.c
	 * gen_close, without the GeneratorExit (the comment above
	 * says why); read section 5.
	 * Hints: make hint CH=1 TODO=sgen_close (1 level). */
	(void)g;
	return -ENOSYS;
}

enum cl_sgen_state cl_sgen_state(const struct cl_sgen *g)
{
	return g->state;
}
