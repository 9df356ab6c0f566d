/*
 * tail.c - how a run ends: its last events, and where each task was.
 *
 *	cotrace tail run.trace [-n 12]
 *
 * For a test that failed, crashed or hung, the end of the trace is the
 * story: the last events as written, then one line per task that has not
 * finished, saying what it waited for and since when:
 *
 *	T3 "reader" waits on fd:5:IN since event 812 (step 4)
 *	T2 "main" is ready (woken at event 815), not yet run
 *	T4 "x" was running when the trace ends (step 9 began at event 820)
 *
 * The last form is a crash or a hang inside a step. Such a trace was cut
 * short: main reads it with TR_CUT (a partial last line and a tail of
 * NUL bytes are left out, and said so here), and the run has no loop.end.
 */
#include <stdio.h>

#include "views.h"

/* T3 "reader", or T3 for a task without a name. */
static void print_task(FILE *out, const struct task *tk)
{
	fprintf(out, "T%ld", tk->id);
	if (tk->name != NULL)
		fprintf(out, " \"%s\"", tk->name);
}

/* One line for a task that has not finished, from its replay state. */
static void print_state(FILE *out, const struct model *m,
			const struct task *tk)
{
	const struct span *open = tk->open >= 0 ? &m->spans[tk->open] : NULL;
	const struct span *step =
	    tk->last_step >= 0 ? &m->spans[tk->last_step] : NULL;
	const struct event *aw, *held;
	const struct call *call;

	print_task(out, tk);
	switch (tk->state) {
	case TS_RUNNING:
		fprintf(out,
			" was running when the trace ends (step %ld began "
			"at event %ld)\n",
			step->step, step->from->seq);
		break;
	case TS_WAITING:
		aw = open != NULL ? open->await : NULL;
		if (aw != NULL)
			fprintf(out, " waits on %s%s%s%s", ref_str(&aw->on),
				aw->what ? " (" : "", aw->what ? aw->what : "",
				aw->what ? ")" : "");
		if (aw != NULL && ref_is(&aw->on, "lock") &&
		    (held = model_lock_held(m, aw->on.id)) != NULL &&
		    model_task(m, held->task) != NULL) {
			fprintf(out, " (held by ");
			print_task(out, model_task(m, held->task));
			fprintf(out, ")");
		}
		if (aw != NULL && aw->on.kind == REF_FUT &&
		    (call = model_call(m, aw->on.id)) != NULL &&
		    call->run == NULL)
			fprintf(out, " (a call on a thread)");
		if (aw == NULL)
			fprintf(out, " waits (on nothing the trace names)");
		fprintf(out, " since event %ld (step %ld)\n",
			open != NULL ? open->from->seq : 0L,
			step != NULL ? step->step : 0L);
		break;
	case TS_CREATED:
	case TS_QUEUED:
		if (tk->pending_wake >= 0)
			fprintf(out, " is ready (woken at event %ld), not yet "
				     "run\n",
				m->marks[tk->pending_wake].ev->seq);
		else
			fprintf(out, " is ready (created at event %ld), not "
				     "yet run\n",
				tk->created->seq);
		break;
	case TS_DONE:
		break;
	}
}

int view_tail(const struct model *m, FILE *out)
{
	const struct trace *t = m->t;
	size_t n = trace_nlast(t), left = 0;
	int last_run = m->run == &t->runs[t->nruns - 1];

	fprintf(out, "%s, run %zu of %zu: %zu events%s\n", t->path,
		(size_t)(m->run - t->runs) + 1, t->nruns, m->run->n,
		m->run->ended ? ", ended (loop.end)"
			      : ", no loop.end: the program stopped inside "
				"the loop");
	fprintf(out, "-- the last %zu event%s, as written:\n", n,
		n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s\n", trace_last(t, i));
	if (last_run && t->partial > 0)
		fprintf(out,
			"(then a cut line of %ld bytes without its newline, "
			"left out: the program died writing it)\n",
			t->partial);
	if (last_run && t->zeros > 0)
		fprintf(out, "(then %ld NUL bytes, left out: the unwritten "
			     "end of the file)\n",
			t->zeros);
	fprintf(out, "-- the tasks not finished:\n");
	for (size_t i = 0; i < m->ntasks; i++)
		if (m->tasks[i].state != TS_DONE) {
			print_state(out, m, &m->tasks[i]);
			left++;
		}
	if (left == 0)
		fprintf(out, "(none: every task finished)\n");
	/* Chapter 07: calls a thread of the pool may still be running. */
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct call *c = &m->calls[i];
		if (c->submit == NULL || c->run != NULL)
			continue;
		fprintf(out, "fut:%ld is a call on the pool's threads, handed "
			     "over at event %ld, not back yet\n",
			c->fut, c->submit->seq);
	}
	return 0;
}
