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
	// LAB ch01 sgen_send: Resume g with value (the rules above). Afterwards
	// LAB ch01: a yield leaves g CL_SGEN_SUSPENDED with *out the value
	// LAB ch01: yielded; a return or an error closes g for good (*out the
	// LAB ch01: value returned, else NULL); a refusal (-EINVAL, -EBUSY) or
	// LAB ch01: a finished g changes nothing. Mirrors Objects/genobject.c
	// LAB ch01: gen_send_ex2; read section 5.
	// HINT1 ch01: The state is what makes each check possible: decide what
	// HINT1 ch01: each state means, and which checks come before the body
	// HINT1 ch01: runs and which after.
	// HINT2 ch01: Set *out to NULL first; only a yield or a return gives it
	// HINT2 ch01: a value (from g->value). Set CL_SGEN_RUNNING before
	// HINT2 ch01: calling g->body(g), so a body that resumes itself is
	// HINT2 ch01: caught (-EBUSY) instead of recursing, and set the state
	// HINT2 ch01: the body's answer calls for after it returns.
	// HINT3 ch01: *out = NULL. CREATED with a value: -EINVAL. RUNNING:
	// HINT3 ch01: -EBUSY. CLOSED: return CL_SGEN_FINISHED. g->sent = value,
	// HINT3 ch01: state RUNNING, rc = g->body(g). CL_SGEN_YIELDED:
	// HINT3 ch01: SUSPENDED, *out = g->value. Anything else: CLOSED, and
	// HINT3 ch01: *out = g->value if rc is CL_SGEN_RETURNED. Return rc.
	int rc;

	*out = NULL;
	if (g->state == CL_SGEN_CREATED && value != NULL)
		return -EINVAL;
	if (g->state == CL_SGEN_RUNNING)
		return -EBUSY;
	if (g->state == CL_SGEN_CLOSED)
		return CL_SGEN_FINISHED;

	g->sent = value;
	g->state = CL_SGEN_RUNNING;
	rc = g->body(g);

	if (rc == CL_SGEN_YIELDED) {
		g->state = CL_SGEN_SUSPENDED;
		*out = g->value;
	} else {
		/* Returned or failed: the body must never run again, just
		 * as CPython clears a finished generator's frame. */
		g->state = CL_SGEN_CLOSED;
		if (rc == CL_SGEN_RETURNED)
			*out = g->value;
	}
	return rc;
	// STUB ch01:
	// (void)g, (void)value, (void)out;
	// return -ENOSYS;
	// END ch01
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
	// LAB ch01 sgen_close: A running generator cannot be closed (-EBUSY);
	// LAB ch01: any other is finished from now on, whatever state it was
	// LAB ch01: in, and the answer is 0. Mirrors Objects/genobject.c
	// LAB ch01: gen_close, without the GeneratorExit (the comment above
	// LAB ch01: says why); read section 5.
	// HINT1 ch01: One check and one assignment.
	if (g->state == CL_SGEN_RUNNING)
		return -EBUSY;
	g->state = CL_SGEN_CLOSED;
	return 0;
	// STUB ch01:
	// (void)g;
	// return -ENOSYS;
	// END ch01
}

enum cl_sgen_state cl_sgen_state(const struct cl_sgen *g)
{
	return g->state;
}
