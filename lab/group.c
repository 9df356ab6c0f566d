/*
 * group.c - exception groups: several exceptions raised as one.
 *
 * A TaskGroup whose children fail raises all their exceptions at once,
 * wrapped in an ExceptionGroup; "except* ValueError" takes the ValueErrors
 * out of a group and lets the rest go on. Python builds both on two
 * operations of the group object, and so do we:
 *
 *	split(type)	the members that are instances of type, and the
 *			rest, each as a group with the same message and the
 *			same nesting (a nested group is split too; a group
 *			left empty disappears);
 *	subgroup(type)	the first half of split.
 *
 * The parts are new groups (BaseExceptionGroup.derive), which copy the
 * original's traceback, __cause__ and __context__, and hold references
 * to the same member objects. A group that matches as a whole is its
 * own match, the same object.
 *
 * Python: Objects/exceptions.c, BaseExceptionGroup_new and
 * exceptiongroup_split_recursive.
 */
#include <stdlib.h>
#include <string.h>

#include "exc.h"

/* BaseExceptionGroup.__new__'s choice: ExceptionGroup when every member
 * is an Exception. */
static const struct cl_exc_type *cl__group_type(size_t n,
						struct cl_exc *const m[])
{
	for (size_t i = 0; i < n; i++)
		if (!cl_exc_matches(m[i], &cl_Exception))
			return &cl_BaseExceptionGroup;
	return &cl_ExceptionGroup;
}

struct cl_exc *cl_exc_group_new(const char *msg, size_t n,
				struct cl_exc *const members[])
{
	struct cl_exc *g;

	if (n == 0) {
		g = cl_exc_new(&cl_ValueError, "second argument (exceptions) "
					       "must be a non-empty sequence");
		return g;
	}
	g = cl_exc_new(cl__group_type(n, members), "%s", msg);
	g->members = malloc(n * sizeof *g->members);
	if (g->members == NULL) {
		for (size_t i = 0; i < n; i++)
			cl_exc_decref(members[i]);
		cl_exc_decref(g);
		return cl_exc_new(&cl_MemoryError, NULL);
	}
	memcpy(g->members, members, n * sizeof *g->members);
	g->nmembers = n;
	return g;
}

/* derive(): a group like g with the members taken (references). */
static struct cl_exc *cl__derive(struct cl_exc *g, size_t n,
				 struct cl_exc *members[])
{
	struct cl_exc *d = cl_exc_group_new(g->msg, n, members);

	if (d->members == NULL)
		return d; /* MemoryError */
	d->tb = cl__tb_incref(g->tb);
	if (g->cause != NULL)
		cl_exc_set_cause(d, cl_exc_incref(g->cause));
	if (g->context != NULL)
		cl_exc_set_context(d, cl_exc_incref(g->context));
	d->suppress_context = g->suppress_context;
	return d;
}

void cl_exc_split(struct cl_exc *g, const struct cl_exc_type *type,
		  struct cl_exc **match, struct cl_exc **rest)
{
	/* TODO(ch05): *match gets the members of g that are instances of
	 * type, *rest the others (either NULL when empty): new groups like
	 * g (cl__derive), nested groups split the same way, empty ones
	 * dropped; g itself (a new reference) if it matches as a whole.
	 * Mirrors Objects/exceptions.c exceptiongroup_split_recursive;
	 * read section 4.
	 * Hints: make hint CH=5 TODO=group_split (2 levels). */
	(void)g, (void)type, (void)cl__derive;
	*match = NULL;
	*rest = cl_exc_new(&cl_NotImplementedError,
			   "cl_exc_split: not implemented (TODO ch05)");
}

struct cl_exc *cl_exc_subgroup(struct cl_exc *g, const struct cl_exc_type *type)
{
	struct cl_exc *match, *rest;

	cl_exc_split(g, type, &match, &rest);
	cl_exc_decref(rest);
	return match;
}
