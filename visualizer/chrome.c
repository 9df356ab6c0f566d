/*
 * chrome.c - the run as Chrome Trace Event JSON, for Perfetto.
 *
 * Perfetto (ui.perfetto.dev) and chrome://tracing open this format: a list
 * of events, each with a phase ph, a time ts in microseconds and the
 * thread (pid, tid) it happens on. We map:
 *
 *	a task's lane	a thread (tid = task id), named by an M event
 *	the loop's lane	a thread with tid LOOP_TID
 *	a step		an X event (a slice with a duration), "#3"
 *	a wait		an X event "await timer:4", between steps
 *	a wake		a flow: "s" inside the waker's slice, "f" with
 *			"bp":"e" inside the step it caused (Perfetto draws
 *			the arrow between the two slices)
 *	a pool thread	a thread with tid LOOP_TID + its number (chapter 07)
 *	a call on it	an X event "fut:N", begin to end (thread.run);
 *			the wake its result caused flows from its end
 *	anything else	an instant, ph "i"
 *
 * Two adjustments make the picture honest in a slice viewer. Times start
 * at 0 (the run's first event). And events that share a timestamp are
 * spread apart by EPSILON in seq order: with a virtual clock every step of
 * one instant has the same ts and no duration, and without the spread
 * Perfetto would stack them all in one place and could not bind the
 * flows. EPSILON is 1 us on a virtual clock, 2 ns on a real one (half of
 * it, where flows attach, is still a whole number of nanoseconds: ts is
 * written with three decimals).
 */
#include <stdio.h>
#include <stdlib.h>

#include "views.h"

/* The loop's tid: no task has this id (model.h's MAX_ID). */
#define LOOP_TID MAX_ID

struct chrome {
	const struct model *m;
	FILE *out;
	double *tc; /* time of each replayed event, spread, from 0 */
	double eps; /* the spread */
	int first;  /* no event written yet (for the commas) */
	double *cs, *ce; /* each call's slice (by index in m->calls) */
};

/* Tasks keep their ids; the loop is LOOP_TID, worker k LOOP_TID + k. */
static long tid(long lane)
{
	if (IS_WORKER_LANE(lane))
		return LOOP_TID + LANE_WORKER(lane);
	return lane == LOOP_LANE ? LOOP_TID : lane;
}

/* The spread time of an event (an index into m->ev). */
static double tc(const struct chrome *c, const struct event *e)
{
	return c->tc[e - c->m->ev];
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* Begin one event: {"name":...,"ph":...,"ts":...,"pid":1,"tid":... */
static void begin(struct chrome *c, const char *name, const char *cat, char ph,
		  double ts, long lane)
{
	fprintf(c->out, "%s\n{\"name\":", c->first ? "" : ",");
	c->first = 0;
	json_str(c->out, name);
	if (cat != NULL)
		fprintf(c->out, ",\"cat\":\"%s\"", cat);
	fprintf(c->out, ",\"ph\":\"%c\",\"ts\":%.3f,\"pid\":1,\"tid\":%ld", ph,
		ts, tid(lane));
}

static void lane_names(struct chrome *c)
{
	char name[64];

	fprintf(c->out,
		"%s\n{\"name\":\"process_name\",\"ph\":\"M\","
		"\"pid\":1,\"args\":{\"name\":\"corolab\"}}",
		c->first ? "" : ",");
	c->first = 0;
	for (size_t i = 0; i <= c->m->ntasks; i++) {
		long lane = i < c->m->ntasks ? c->m->tasks[i].id : LOOP_LANE;
		begin(c, "thread_name", NULL, 'M', 0, lane);
		fprintf(c->out, ",\"args\":{\"name\":");
		json_str(c->out,
			 i < c->m->ntasks
			     ? task_label(&c->m->tasks[i], name, sizeof(name))
			     : "event loop");
		fprintf(c->out, "}}");
		begin(c, "thread_sort_index", NULL, 'M', 0, lane);
		fprintf(c->out, ",\"args\":{\"sort_index\":%zu}}", i);
	}
	for (size_t i = 0; i < c->m->nworkers; i++) {
		long lane = WORKER_LANE(c->m->workers[i]);
		snprintf(name, sizeof(name), "worker %ld", c->m->workers[i]);
		begin(c, "thread_name", NULL, 'M', 0, lane);
		fprintf(c->out, ",\"args\":{\"name\":");
		json_str(c->out, name);
		fprintf(c->out, "}}");
		begin(c, "thread_sort_index", NULL, 'M', 0, lane);
		fprintf(c->out, ",\"args\":{\"sort_index\":%zu}}",
			c->m->ntasks + 1 + i);
	}
}

/*
 * The pool's calls (chapter 07), a slice each on its worker's thread.
 * On a real clock thread.run's begin and end are the run's own clock;
 * on a virtual one they are not, and the slice goes from the submit to
 * the result instead. A worker runs one call at a time: a slice starts
 * no earlier than the worker's previous one ends, so they never overlap.
 */
static int calls(struct chrome *c)
{
	const struct model *m = c->m;
	double *prev = calloc(m->nworkers + 1, sizeof(*prev));
	char name[32];

	c->cs = calloc(m->ncalls + 1, sizeof(double));
	c->ce = calloc(m->ncalls + 1, sizeof(double));
	if (prev == NULL || c->cs == NULL || c->ce == NULL) {
		free(prev);
		return -1;
	}
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct call *k = &m->calls[i];
		const struct event *r = k->run;
		long row;
		double s, e;
		if (r == NULL)
			continue; /* no worker took it yet, as far as we know */
		row = model_worker_row(m, r->worker);
		if (!m->run->virtual_clock && !r->skipped && r->begin > 0 &&
		    r->end >= r->begin) {
			s = (double)(r->begin - m->t0);
			e = (double)(r->end - m->t0);
		} else {
			s = k->submit != NULL ? tc(c, k->submit) : tc(c, r);
			e = tc(c, r);
		}
		if (r->skipped)
			s = tc(c, r) - c->eps;
		if (row >= 0 && s < prev[row])
			s = prev[row];
		e = e < s + c->eps ? s + c->eps : e;
		if (row >= 0)
			prev[row] = e;
		c->cs[i] = s;
		c->ce[i] = e;
		snprintf(name, sizeof(name), "fut:%ld", k->fut);
		begin(c, name, "thread", 'X', s, WORKER_LANE(r->worker));
		fprintf(c->out,
			",\"dur\":%.3f,\"args\":{\"seq\":%ld,\"fut\":%ld,"
			"\"worker\":%ld,\"skipped\":%ld,\"task\":%ld}}",
			e - s, r->seq, k->fut, r->worker, r->skipped,
			k->awaiter ? k->awaiter : k->task);
	}
	free(prev);
	return 0;
}

/* Steps, waits and polls: X events. */
static void slices(struct chrome *c)
{
	static const char *cats[] = {
	    [SP_STEP] = "step", [SP_WAIT] = "wait", [SP_POLL] = "poll"};
	char name[64];
	double t0, t1;

	for (size_t i = 0; i < c->m->nspans; i++) {
		const struct span *s = &c->m->spans[i];
		if (s->kind == SP_QUEUED)
			continue; /* ready but not running: empty space */
		t0 = tc(c, s->from);
		t1 = s->to ? tc(c, s->to)
			   : tc(c, &c->m->ev[c->m->nev - 1]) + c->eps;
		if (s->kind == SP_STEP)
			snprintf(name, sizeof(name), "#%ld", s->step);
		else if (s->kind == SP_WAIT && s->await != NULL)
			snprintf(name, sizeof(name), "await %s",
				 ref_str(&s->await->on));
		else
			snprintf(name, sizeof(name), "%s",
				 s->kind == SP_WAIT ? "waiting" : "poll");
		begin(c, name, cats[s->kind], 'X', t0, s->lane);
		fprintf(c->out, ",\"dur\":%.3f,\"args\":{\"seq\":%ld", t1 - t0,
			s->from->seq);
		if (s->kind == SP_STEP)
			fprintf(c->out, ",\"result\":\"%s\",\"cause\":%ld",
				s->to ? result_str(s->result) : "unfinished",
				s->cause ? s->cause->seq : 0L);
		if (s->kind == SP_WAIT && s->await && s->await->what) {
			fprintf(c->out, ",\"what\":");
			json_str(c->out, s->await->what);
		}
		fprintf(c->out, "}}");
	}
}

/*
 * A wake is a flow from the waker's slice to the woken step. Perfetto
 * binds each end to the slice around it, so each end must sit inside
 * one. The woken end goes in the middle of the step's first EPSILON. The
 * waker's end goes at the wake, inside the step the waker is running;
 * when the waker's step has already ended (a task's completion wakes its
 * awaiters from a callback just after its last step), at the end of that
 * step; and when there is no such step (the loop: a timer, an fd), in a
 * tiny slice of its own named after the source (timer:4, fd:5).
 */
static void wake_flow(struct chrome *c, const struct mark *k)
{
	const struct span *step = &c->m->spans[k->step];
	const struct span *from =
	    k->from_step >= 0 ? &c->m->spans[k->from_step] : NULL;
	double ts = tc(c, k->ev);
	const struct call *call;

	/* From a pool thread (chapter 07): the end of the call's slice. */
	if (IS_WORKER_LANE(k->from) && k->ev->via.kind == REF_FUT &&
	    (call = model_call(c->m, k->ev->via.id)) != NULL &&
	    call->run != NULL) {
		size_t i = (size_t)(call - c->m->calls);
		begin(c, "wake", "wake", 's', c->ce[i] - c->eps / 2, k->from);
		fprintf(c->out, ",\"id\":%ld}", k->ev->seq);
		begin(c, "wake", "wake", 'f', tc(c, step->from) + c->eps / 2,
		      k->lane);
		fprintf(c->out, ",\"bp\":\"e\",\"id\":%ld}", k->ev->seq);
		return;
	}
	if (from != NULL && from->to != NULL && tc(c, from->to) <= ts)
		ts = tc(c, from->to) - c->eps / 2;
	if (from == NULL) {
		begin(c, ref_str(&k->ev->by), "loop", 'X', ts - c->eps / 2,
		      k->from);
		fprintf(c->out, ",\"dur\":%.3f,\"args\":{\"seq\":%ld}}", c->eps,
			k->ev->seq);
	}
	begin(c, "wake", "wake", 's', ts, k->from);
	fprintf(c->out, ",\"id\":%ld}", k->ev->seq);
	begin(c, "wake", "wake", 'f', tc(c, step->from) + c->eps / 2, k->lane);
	fprintf(c->out, ",\"bp\":\"e\",\"id\":%ld}", k->ev->seq);
}

/*
 * Everything that happens at an instant, on the lane it concerns: the
 * task's own, or for a timer set or a future completed, the lane of the
 * task running then (the loop's if none).
 */
static void instants(struct chrome *c)
{
	const struct model *m = c->m;
	long running = LOOP_LANE;

	for (size_t i = 0; i < m->nev; i++) {
		const struct event *e = &m->ev[i];
		long lane;

		if (e->kind == EV_STEP_BEGIN)
			running = e->task;
		else if (e->kind == EV_STEP_END)
			running = LOOP_LANE;
		switch (e->kind) {
		case EV_TASK_NEW:
		case EV_AWAIT:
		case EV_EXC_RAISE:
		case EV_CANCEL:
		case EV_TASK_DONE:
		case EV_TIMEOUT:
			lane = e->task;
			break;
		case EV_FUT_DONE:
			lane = model_mark_at(m, e->seq)->lane;
			break;
		case EV_TIMER_SET:
		case EV_THREAD_SUBMIT: /* chapter 07 */
		case EV_QUEUE_NEW:
		case EV_QUEUE_PUT:
		case EV_QUEUE_GET:
			lane = running;
			break;
		case EV_LOCK_ACQUIRE:
		case EV_LOCK_RELEASE:
			lane = e->task != 0 ? e->task : running;
			break;
		case EV_TIMER_FIRE:
		case EV_FD_READY:
		case EV_CB:
			lane = LOOP_LANE;
			break;
		default:
			continue;
		}
		begin(c, e->name, "event", 'i', tc(c, e), lane);
		fprintf(c->out, ",\"s\":\"t\",\"args\":{\"seq\":%ld", e->seq);
		if (e->kind == EV_AWAIT && e->on.kind != REF_NONE) {
			fprintf(c->out, ",\"on\":");
			json_str(c->out, ref_str(&e->on));
		}
		if (e->by.kind != REF_NONE) {
			fprintf(c->out, ",\"by\":");
			json_str(c->out, ref_str(&e->by));
		}
		if (e->id != 0)
			fprintf(c->out, ",\"id\":%ld", e->id);
		if (e->kind == EV_QUEUE_PUT || e->kind == EV_QUEUE_GET)
			fprintf(c->out, ",\"size\":%ld", e->size);
		if (e->kind == EV_QUEUE_NEW)
			fprintf(c->out, ",\"maxsize\":%ld", e->maxsize);
		if (e->type != NULL) {
			/* task.done's exc= shares exc.raise's type field. */
			fprintf(c->out, e->kind == EV_TASK_DONE ? ",\"exc\":"
								: ",\"type\":");
			json_str(c->out, e->type);
		}
		if (e->msg != NULL) {
			fprintf(c->out, ",\"msg\":");
			json_str(c->out, e->msg);
		}
		fprintf(c->out, "}}");
	}
}

int view_chrome(const struct model *m, FILE *out)
{
	struct chrome c = {m, out, NULL, m->run->virtual_clock ? 1.0 : 0.002,
			   1, NULL, NULL};
	double prev = -1;

	c.tc = calloc(m->nev + 1, sizeof(double));
	if (c.tc == NULL) {
		fprintf(stderr, "cotrace: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < m->nev; i++) {
		double t = (double)(m->ev[i].ts - m->t0);
		c.tc[i] = prev >= 0 && t < prev + c.eps ? prev + c.eps : t;
		prev = c.tc[i];
	}
	fprintf(out,
		"{\"displayTimeUnit\":\"ms\",\"otherData\":"
		"{\"clock\":\"%s\",\"t0_us\":%lld},\n\"traceEvents\":[",
		m->run->virtual_clock ? "virtual" : "monotonic",
		(long long)m->t0);
	lane_names(&c);
	slices(&c);
	if (calls(&c) < 0) {
		fprintf(stderr, "cotrace: out of memory\n");
		free(c.tc);
		free(c.cs);
		free(c.ce);
		return 1;
	}
	for (size_t i = 0; i < m->nmarks; i++)
		if (m->marks[i].kind == MK_WAKE && m->marks[i].step >= 0)
			wake_flow(&c, &m->marks[i]);
	instants(&c);
	fprintf(out, "\n]}\n");
	free(c.tc);
	free(c.cs);
	free(c.ce);
	return 0;
}
