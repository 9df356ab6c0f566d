/*
 * stats.c - per task: how many steps, how long running, waiting, queued.
 *
 *	task       steps  running  waiting  queued  state  waited on
 *	T1 main        2        0    30 ms       0  ok     gather 30 ms
 *
 * Running is the sum of its steps, waiting the time from a step's end to
 * the wake that answered its await, queued the time from that wake (or
 * from creation) to the step it led to. With a virtual clock a step takes
 * no time at all, so running is 0: only waiting and queued mean something.
 *
 * "waited on" groups the waits by what they were for: the await's what=
 * (sleep, gather, task:2) when it has one, else what it awaited on=.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

#define MAX_KINDS 8 /* "waited on" groups shown per task */

struct wait_kind {
	char label[40];
	long count;
	int64_t us;
};

struct task_stats {
	int64_t running, waiting, queued;
	struct wait_kind kinds[MAX_KINDS];
	int nkinds;
	int more; /* waits that did not fit in kinds */
};

/* What a wait was for, for grouping: sleep, gather, task:2, fut, fd:5:IN. */
static void wait_label(const struct span *s, char *buf, size_t size)
{
	const struct event *a = s->await;

	if (a == NULL)
		snprintf(buf, size, "?");
	else if (a->what != NULL)
		snprintf(buf, size, "%s", a->what);
	else if (a->on.kind == REF_FUT || a->on.kind == REF_TIMER)
		/* One future or timer per await: the id says nothing. */
		snprintf(buf, size, "%s",
			 a->on.kind == REF_FUT ? "fut" : "timer");
	else
		snprintf(buf, size, "%s", ref_str(&a->on));
}

static void add_wait(struct task_stats *ts, const struct span *s, int64_t us)
{
	char label[40];
	int i;

	wait_label(s, label, sizeof(label));
	for (i = 0; i < ts->nkinds; i++)
		if (strcmp(ts->kinds[i].label, label) == 0)
			break;
	if (i == ts->nkinds) {
		if (i == MAX_KINDS) {
			ts->more++;
			return;
		}
		snprintf(ts->kinds[i].label, sizeof(ts->kinds[i].label), "%s",
			 label);
		ts->nkinds++;
	}
	ts->kinds[i].count++;
	ts->kinds[i].us += us;
}

/* ok/exc/cancelled from task.done, else where the task is. */
static const char *state_word(const struct task *tk)
{
	static const char *names[] = {"new", "running", "waiting", "queued",
				      "done"};

	if (tk->done != NULL && tk->done->state != ST_NONE)
		return state_str(tk->done->state);
	return names[tk->state];
}

static void print_waited_on(FILE *out, const struct task_stats *ts)
{
	char t[32];

	if (ts->nkinds == 0)
		fputc('-', out);
	for (int i = 0; i < ts->nkinds; i++) {
		const struct wait_kind *k = &ts->kinds[i];
		fprintf(out, "%s%s", i ? ", " : "", k->label);
		if (k->count > 1)
			fprintf(out, " %ldx", k->count);
		fprintf(out, " %s", fmt_time(k->us, t, sizeof(t)));
	}
	if (ts->more)
		fprintf(out, ", %d more", ts->more);
}

/*
 * The notes under the table: the longest step (a loop hog, like asyncio's
 * slow-callback warning), tasks left waiting when the loop ended (nothing
 * will ever wake them: a lost wake-up or a deadlock), and a run that did
 * not end (the program died inside the loop).
 */
static void print_notes(const struct model *m, FILE *out)
{
	const struct span *longest = NULL;
	char name[64], t[32];
	const struct task *tk;
	size_t i;

	for (i = 0; i < m->nspans; i++) {
		const struct span *s = &m->spans[i];
		if (s->kind == SP_STEP &&
		    (longest == NULL ||
		     span_end_ts(m, s) - s->from->ts >
			 span_end_ts(m, longest) - longest->from->ts))
			longest = s;
	}
	if (longest != NULL && span_end_ts(m, longest) > longest->from->ts)
		fprintf(out, "longest step: %s #%ld, %s (line %d)\n",
			task_label(model_task(m, longest->lane), name,
				   sizeof(name)),
			longest->step,
			fmt_time(span_end_ts(m, longest) - longest->from->ts, t,
				 sizeof(t)),
			longest->from->line);
	for (i = 0; i < m->ntasks && m->run->ended && m->nev == m->run->n;
	     i++) {
		tk = &m->tasks[i];
		if (tk->state != TS_WAITING)
			continue;
		const struct span *w = &m->spans[tk->open];
		fprintf(out,
			"%s still waits%s%s at the end: nothing woke it "
			"(cotrace awaits shows why)\n",
			task_label(tk, name, sizeof(name)),
			w->await ? " on " : "",
			w->await ? ref_str(&w->await->on) : "");
	}
	if (!m->run->ended)
		fprintf(out, "the run has no loop.end: the program stopped "
			     "inside the loop\n");
}

/*
 * Chapter 07, under the notes: the pool's threads (how many calls each
 * ran, how long it was busy, on the loop's real clock whatever the
 * run's), the calls not back when the run ends, the queues (how full
 * they got: a bounded queue never past its maxsize), the locks held at
 * the end.
 */
static void print_07(const struct model *m, FILE *out)
{
	long inflight = 0, skipped = 0;
	char t[32], name[64];

	if (m->nworkers > 0)
		fprintf(out, "%-10s  %5s  %9s\n", "worker", "calls", "busy");
	for (size_t i = 0; i < m->nworkers; i++) {
		long n = 0;
		int64_t busy = 0;
		for (size_t j = 0; j < m->ncalls; j++) {
			const struct event *r = m->calls[j].run;
			if (r == NULL || r->worker != m->workers[i])
				continue;
			n++;
			if (r->end > r->begin)
				busy += r->end - r->begin;
		}
		snprintf(name, sizeof(name), "worker %ld", m->workers[i]);
		fprintf(out, "%-10s  %5ld  %9s\n", name, n,
			fmt_time(busy, t, sizeof(t)));
	}
	for (size_t j = 0; j < m->ncalls; j++) {
		inflight += m->calls[j].submit && !m->calls[j].run;
		skipped += m->calls[j].run && m->calls[j].run->skipped;
	}
	if (skipped > 0)
		fprintf(out, "%ld call%s skipped: cancelled before a thread "
			     "took %s\n",
			skipped, skipped == 1 ? "" : "s",
			skipped == 1 ? "it" : "them");
	if (inflight > 0)
		fprintf(out, "%ld call%s on the pool's threads not back when "
			     "the run ends\n",
			inflight, inflight == 1 ? "" : "s");
	for (size_t id = 0; id < m->queues.n; id++) {
		struct queue q = model_queue(m, (long)id);
		if (q.last == NULL)
			continue;
		fprintf(out, "queue:%zu", id);
		if (q.created != NULL && q.created->maxsize > 0)
			fprintf(out, " (%s, maxsize %ld)",
				q.created->qkind ? q.created->qkind : "?",
				q.created->maxsize);
		else if (q.created != NULL)
			fprintf(out, " (%s, unbounded)",
				q.created->qkind ? q.created->qkind : "?");
		fprintf(out, ": %ld puts, %ld gets, at most %ld item%s, "
			     "%ld at the end\n",
			q.puts, q.gets, q.peak, q.peak == 1 ? "" : "s",
			q.size);
	}
	for (size_t id = 0; id < m->locks.n; id++) {
		const struct event *held = model_lock_held(m, (long)id);
		if (held == NULL)
			continue;
		fprintf(out, "lock:%zu is held at the end", id);
		if (model_task(m, held->task) != NULL)
			fprintf(out, ", by %s",
				task_label(model_task(m, held->task), name,
					   sizeof(name)));
		fprintf(out, " (acquired at line %d)\n", held->line);
	}
}

int view_stats(const struct model *m, FILE *out)
{
	struct task_stats *st = calloc(m->ntasks + 1, sizeof(*st));
	const struct event *last;
	char name[64], t[3][32];
	int namew = 4;
	size_t i;

	if (st == NULL) {
		fprintf(stderr, "cotrace: out of memory\n");
		return 1;
	}
	/* Sum every span into its task's row. */
	for (i = 0; i < m->nspans; i++) {
		const struct span *s = &m->spans[i];
		const struct task *tk = model_task(m, s->lane);
		int64_t us = span_end_ts(m, s) - s->from->ts;
		if (tk == NULL)
			continue; /* the loop's polls */
		struct task_stats *ts = &st[tk - m->tasks];
		if (s->kind == SP_STEP)
			ts->running += us;
		else if (s->kind == SP_QUEUED)
			ts->queued += us;
		else if (s->kind == SP_WAIT) {
			ts->waiting += us;
			add_wait(ts, s, us);
		}
	}
	for (i = 0; i < m->ntasks; i++) {
		int w =
		    (int)strlen(task_label(&m->tasks[i], name, sizeof(name)));
		namew = w > namew ? w : namew;
	}

	last = m->nev > 0 ? &m->ev[m->nev - 1] : NULL;
	fprintf(out,
		"%s, run %zu of %zu: clock=%s, %s, %lld iterations, "
		"%zu events\n",
		m->t->path, (size_t)(m->run - m->t->runs) + 1, m->t->nruns,
		m->run->virtual_clock ? "virtual" : "monotonic",
		fmt_time(m->t1 - m->t0, t[0], sizeof(t[0])),
		last ? (long long)last->it : 0LL, m->nev);
	fprintf(out, "%-*s  %5s  %9s  %9s  %9s  %-9s  %s\n", namew, "task",
		"steps", "running", "waiting", "queued", "state", "waited on");
	for (i = 0; i < m->ntasks; i++) {
		const struct task *tk = &m->tasks[i];
		fprintf(out, "%-*s  %5ld  %9s  %9s  %9s  %-9s  ", namew,
			task_label(tk, name, sizeof(name)), tk->nsteps,
			fmt_time(st[i].running, t[0], sizeof(t[0])),
			fmt_time(st[i].waiting, t[1], sizeof(t[1])),
			fmt_time(st[i].queued, t[2], sizeof(t[2])),
			state_word(tk));
		print_waited_on(out, &st[i]);
		fputc('\n', out);
	}
	print_notes(m, out);
	print_07(m, out);
	free(st);
	return 0;
}
