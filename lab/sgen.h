/*
 * sgen.h - stackless generators: a function that can pause.
 *
 * A Python generator is a function whose locals and resume point outlive
 * each call. CPython keeps both in a frame that lives inside the generator
 * object (PyGenObject.gi_iframe, a _PyInterpreterFrame whose prev_instr is
 * the resume point). Here the same two things live in struct cl_sgen:
 *
 *	resume	where the body continues: 0 for "from the top", otherwise
 *		the source line of the yield it stopped at;
 *	frame	the body's locals, a struct the body defines, allocated
 *		together with the generator.
 *
 * The body is an ordinary C function that returns at every yield and, when
 * called again, jumps back to where it left off with a switch on resume.
 * The macros below write that switch. A body looks like this:
 *
 *	struct count_frame { intptr_t i, n; };
 *
 *	static int count_body(struct cl_sgen *g)
 *	{
 *		struct count_frame *f = (void *)g->frame;
 *
 *		CL_SGEN_BEGIN(g);
 *		for (f->i = 0; f->i < f->n; f->i++)
 *			CL_SGEN_YIELD(g, CL_INT(f->i));
 *		CL_SGEN_END(g);
 *	}
 *
 * and the caller drives it with the protocol functions:
 *
 *	struct cl_sgen *g = cl_sgen_new(count_body, sizeof(struct count_frame));
 *	void *v;
 *	((struct count_frame *)(void *)g->frame)->n = 3;
 *	while (cl_sgen_next(g, &v) == CL_SGEN_YIELDED)
 *		printf("%ld\n", (long)CL_TOINT(v));
 *	cl_sgen_free(g);
 *
 * Rules for a body (they follow from the switch; see the chapter text):
 *  - A value that must survive a yield lives in the frame, never in a C
 *    local: the C local dies when the body returns at the yield.
 *  - At most one CL_SGEN_YIELD per source line (the line is its label).
 *  - No CL_SGEN_YIELD inside a switch statement of the body's own (its
 *    case label would belong to the inner switch).
 *  - Only the body itself yields. A function it calls cannot: that
 *    function's locals and return address are on the C stack, and the
 *    stack is gone once the body returns. Chapter 02 lifts this limit.
 */
#ifndef CL_SGEN_H
#define CL_SGEN_H

#include <stddef.h>

#include "value.h"

/*
 * What one resume (cl_sgen_send or cl_sgen_next) reports. Positive values
 * are outcomes, negative values are errors (-errno). CPython's gen_send_ex2
 * reports PYGEN_NEXT / PYGEN_RETURN / PYGEN_ERROR in the same way.
 */
enum cl_sgen_status {
	/* It yielded: *out is the value. */
	CL_SGEN_YIELDED = 1,
	/* It returned: *out is the return value (StopIteration.value), and
	 * the generator is now finished. */
	CL_SGEN_RETURNED = 2,
	/* It was finished already: *out is NULL (a bare StopIteration). */
	CL_SGEN_FINISHED = 3,
};
/*
 * Errors a resume returns (the generator is left as it was unless said):
 *	-EINVAL	first resume carried a value: "can't send non-None value
 *		to a just-started generator"; the generator stays unstarted
 *	-EBUSY	the generator is running (its body resumed itself):
 *		"generator already executing"
 *	other	the body failed with that error ("raised"): it is finished
 */

/* Where a generator is in its life: inspect.getgeneratorstate's names. */
enum cl_sgen_state {
	CL_SGEN_CREATED,   /* made, body not entered yet */
	CL_SGEN_SUSPENDED, /* stopped at a yield */
	CL_SGEN_RUNNING,   /* inside its body right now */
	CL_SGEN_CLOSED,	   /* finished: returned, failed or closed */
};

struct cl_sgen;

/*
 * A body runs from its resume point to the next yield or return and
 * reports which with CL_SGEN_YIELDED or CL_SGEN_RETURNED (the value is in
 * g->value), or fails with a negative errno.
 */
typedef int cl_sgen_body(struct cl_sgen *g);

struct cl_sgen {
	/* Set by cl_sgen_new, then read only. */
	cl_sgen_body *body;

	/* Owned by the protocol functions (sgen.c). */
	enum cl_sgen_state state;

	/* Owned by the body's macros: its resume point (0 = the top). */
	int resume;

	/* The hand-over between protocol and body, valid during a resume. */
	void *sent;  /* written by send, read by the body after a yield */
	void *value; /* written by the body, read by send: what it
			yielded or returned */

	/* The body's locals: its frame struct, zeroed at creation. */
	_Alignas(max_align_t) unsigned char frame[];
};

/*
 * The resume machinery. CL_SGEN_BEGIN opens a switch on g->resume whose
 * case 0 is the top of the body; each CL_SGEN_YIELD records its own line
 * as the resume point, returns, and leaves a case label for that line right
 * after the return, so the next call lands there (Duff's device, as in
 * Simon Tatham's "Coroutines in C" and Adam Dunkels' protothreads).
 * CL_SGEN_END closes the switch; falling off the end returns NULL, as a
 * Python function returns None.
 */
#define CL_SGEN_BEGIN(g)                                                       \
	switch ((g)->resume) {                                                 \
	case 0:

#define CL_SGEN_YIELD(g, v)                                                    \
	do {                                                                   \
		(g)->resume = __LINE__;                                        \
		(g)->value = (v);                                              \
		return CL_SGEN_YIELDED;                                        \
	case __LINE__:;                                                        \
	} while (0)

#define CL_SGEN_RETURN(g, v)                                                   \
	do {                                                                   \
		(g)->value = (v);                                              \
		return CL_SGEN_RETURNED;                                       \
	} while (0)

#define CL_SGEN_END(g)                                                         \
	}                                                                      \
	CL_SGEN_RETURN(g, NULL)

/*
 * Make a generator that runs body over a zeroed frame of frame_size bytes
 * (one allocation for both). NULL if out of memory. Nothing of the body
 * runs until the first resume, as with calling a generator function.
 */
struct cl_sgen *cl_sgen_new(cl_sgen_body *body, size_t frame_size);

/* Free a generator that is not running. It need not be finished. */
void cl_sgen_free(struct cl_sgen *g);

/*
 * Resume g, handing value to the yield it stopped at (g->sent), and run it
 * to its next yield or return. Returns a cl_sgen_status or an error (see
 * above) and sets *out (NULL unless there is a value). Python: gen.send.
 */
int cl_sgen_send(struct cl_sgen *g, void *value, void **out);

/* cl_sgen_send(g, NULL, out). Python: next(gen). */
int cl_sgen_next(struct cl_sgen *g, void **out);

/*
 * Finish g without running any more of its body: 0, or -EBUSY if it is
 * running. Closing a finished generator does nothing. Python: gen.close
 * (without the GeneratorExit a stackless body could not catch anyway).
 */
int cl_sgen_close(struct cl_sgen *g);

/* Where g is in its life. Python: inspect.getgeneratorstate(gen). */
enum cl_sgen_state cl_sgen_state(const struct cl_sgen *g);

#endif
