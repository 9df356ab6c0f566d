/*
 * timeline.c - one lane per task, time left to right, who woke whom.
 *
 *	T1 main    [#1]----await fut:1-----------------------------[#2 done]
 *	T2 fetch    ..[#1]---await timer:1---[#2]---await timer:3---[#3 done]
 *	event loop                           *                   *
 *	           0                        5 ms                30 ms
 *
 * A box per step, an orange line while the task awaits something, green
 * dots while it is ready but not running, and a red arrow at the moment
 * of each wake, from the waker's lane to the woken task's.
 *
 * The hard part is x. Time cannot be used as it is: with a virtual clock
 * a step takes no time at all (every box would be a line), and a trace
 * that sleeps 10 s once and 1 ms a hundred times would be all idle gap. So
 * x follows the events in order, with two rules:
 *
 *  - time moves x forward in proportion, except that a gap much longer
 *    than the typical one is compressed to a fixed width and marked "//"
 *    on the axis (it is idle: nothing happens in it);
 *  - a step is at least wide enough for its label, and everything that
 *    happens inside it (spawns, wakes) is spread along it, so arrows at
 *    the same instant do not overlap.
 *
 * The axis then labels the instants where time moved, not round numbers:
 * x is not linear in time, and the labels say so honestly.
 *
 * Several runs, one per process (cotrace timeline a.trace b.trace): each
 * has its struct timeline and a band of rows of its own, and they share
 * x. Their events are placed together, in the order of the shared axis
 * (merge_next: ts plus the run's offset, from its corolab-origin), so
 * that what happened first in any process is further left.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "place.h"
#include "views.h"

/* Geometry, in points. */
#define LANE_H	 44.0  /* from one lane to the next */
#define BOX_H	 20.0  /* a step's box */
#define X_LEFT	 110.0 /* where lanes start (labels to the left) */
#define STEP_PAD 10.0  /* from a step's left edge to its first event */
#define INNER_DX 9.0   /* between two things inside one step */
#define OUTER_DX 12.0  /* between two wakes from the loop */
#define STEP_SEP 6.0   /* between two boxes in a row */
#define LONG_W	 56.0  /* a compressed gap */
#define LONG_K	 8     /* a gap LONG_K times the median is compressed */
#define MIN_W	 400.0 /* the shortest lanes */

/*
 * The most a picture shows. A run longer than this is drawn up to the
 * event where either limit is reached, and the picture says so: a
 * million events would be a drawing some kilometres wide that Graphviz
 * needs gigabytes for, and no one could read it anyway. The whole run
 * is in cotrace stats and chrome (Perfetto zooms).
 */
#define MAX_EVENTS 10000
#define MAX_LANES  200
#define MAX_RUNS   TIMELINE_MAX_RUNS

/* Colours, the ones of the target picture. */
#define C_STEP	    "#d6e4ff"
#define C_DONE	    "#c8f0cc"
#define C_RAISED    "#f9c9c4"
#define C_CANCELLED "#e4e4e4"
#define C_WAIT	    "#e8841a"
#define C_WAIT_TEXT "#b05a00"
#define C_QUEUED    "#2e9e44"
#define C_WAKE	    "#e01b1b"
#define C_SPAWN	    "#707070"
#define C_CANCEL    "#b0177e"
#define C_TIMEOUT   "#00838f"
#define C_LANE	    "#d0d0d0"
#define C_POLL	    "#eeeeee"
#define C_FD	    "#1f5fbf"
#define C_CB	    "#707070"
#define C_BAND	    "#0000000d" /* see-through: lanes show under it */
#define C_THREAD    "#fde7b0"	/* a call on a pool thread (chapter 07) */
#define C_THREAD_LN "#a07800"
#define C_QUEUE	    "#9ecae1" /* items in a queue */
#define C_QUEUE_LN  "#3182bd"
#define C_MAXSIZE   "#c0392b"
#define C_GROUP	    "#3060c00a" /* see-through: a process's band */
#define C_GROUP_LN  "#9db0d0"
#define C_GROUP_TEXT "#203a70"

/*
 * --colour-by VAR: a step's fill says which value the context variable
 * had in it (ColorBrewer's Set3, less its grey: grey means cancelled).
 * Values take colours in the order they first appear; past the last
 * colour they start again, and the label still tells them apart.
 */
static const char *const by_value[] = {
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f",
};
#define NCOLOURS  (sizeof(by_value) / sizeof(by_value[0]))
#define MAX_KEYED (2 * NCOLOURS) /* values the key under the picture lists */

struct tick {
	double x;
	int64_t ts;
	int64_t gap; /* > 0: a compressed gap of this long ends here */
};

struct timeline {
	const struct model *m;
	struct canvas *c;
	double *x;	    /* x of every replayed event, by index */
	double x_start;	    /* lanes begin */
	double x_end;	    /* lanes end */
	double scale;	    /* points per microsecond */
	int64_t long_gap;   /* longer gaps are compressed */
	struct tick *ticks; /* where time moved, for the axis */
	size_t nticks;
	struct placer *pl;   /* the room labels have taken (one for the
				picture: all runs drawn share it) */
	const char *var;     /* --colour-by: the variable, or NULL */
	const char **values; /* its value in each span (model_var_values) */
	const char **seen;   /* the values in the order they first appear */
	size_t nseen;
	double *cx0, *cx1; /* chapter 07: each call's box on its worker's
			      lane (by index in m->calls); cx1 < 0: none */
	long *qids;	   /* the queues that have a lane, by id */
	size_t nq;
	/* Several runs in one picture (timeline of several traces, one
	 * per process): each has its struct timeline, and its rows are a
	 * group of the picture's. One run alone: row0 0, off 0. */
	size_t row0;	/* the picture's row of this run's first lane */
	size_t rows;	/* rows in the picture, from the top */
	int64_t off;	/* add to ts: the time on the picture's axis */
	int64_t t0;	/* the axis's 0, on this run's clock (ts) */
	int64_t span;	/* from the axis's 0 to the last event of all */
};

static double xof(const struct timeline *tl, const struct event *e)
{
	return tl->x[e - tl->m->ev];
}

/*
 * Rows go top down: the tasks in creation order, the event loop, then
 * (chapter 07) a row per thread of the pool that ran a call, and one
 * per queue, whose lane draws how many items it holds.
 */
static size_t nrows(const struct timeline *tl)
{
	return tl->m->ntasks + 1 + tl->m->nworkers + tl->nq;
}

static double row_y(const struct timeline *tl, size_t row)
{
	return 90.0 + (double)(tl->rows - 1 - (tl->row0 + row)) * LANE_H;
}

static double lane_y(const struct timeline *tl, long lane)
{
	const struct task *tk = model_task(tl->m, lane);
	size_t row = tk != NULL ? (size_t)(tk - tl->m->tasks) : tl->m->ntasks;
	long w;

	if (IS_WORKER_LANE(lane) &&
	    (w = model_worker_row(tl->m, LANE_WORKER(lane))) >= 0)
		row = tl->m->ntasks + 1 + (size_t)w;
	return row_y(tl, row);
}

/* The lane of the i-th queue drawn. */
static double queue_y(const struct timeline *tl, size_t i)
{
	return row_y(tl, tl->m->ntasks + 1 + tl->m->nworkers + i);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The events of the runs drawn, in the order of the picture's axis: by
 * time (ts + off), a tie going to the run given first, and a run's own
 * events in their order. With one run, its events as they are.
 */
struct merge {
	struct timeline *tls;
	size_t n;
	size_t next[MAX_RUNS]; /* in each run, the next event */
};

static void merge_start(struct merge *mg, struct timeline *tls, size_t n)
{
	mg->tls = tls;
	mg->n = n;
	memset(mg->next, 0, sizeof(mg->next));
}

/* The next event, its run's timeline in *tl; NULL at the end. */
static const struct event *merge_next(struct merge *mg, struct timeline **tl)
{
	struct timeline *best = NULL;
	int64_t g = 0;

	for (size_t i = 0; i < mg->n; i++) {
		struct timeline *t = &mg->tls[i];
		if (mg->next[i] < t->m->nev &&
		    (best == NULL || t->m->ev[mg->next[i]].ts + t->off < g)) {
			best = t;
			g = t->m->ev[mg->next[i]].ts + t->off;
		}
	}
	if (best == NULL)
		return NULL;
	*tl = best;
	return &best->m->ev[mg->next[best - mg->tls]++];
}

/*
 * Choose the scale. Idle gaps (no task in a step) longer than LONG_K
 * times the median gap are compressed; the rest keep their proportions,
 * about 100 points per gap (300 to 1000 in all). Time inside a step is
 * never compressed: a step that hogs the loop should look like it. With
 * several runs, a gap is between two events of any of them, and a step
 * of any keeps it.
 */
static int choose_scale(struct timeline *tls, size_t nruns)
{
	struct merge mg;
	struct timeline *tl;
	const struct event *e;
	size_t total = 0;
	int64_t *gaps, sum = 0, median, prev = 0, gap;
	size_t n = 0, kept = 0;
	int in_step[MAX_RUNS] = {0}, steps = 0, first = 1;
	double budget;

	for (size_t i = 0; i < nruns; i++)
		total += tls[i].m->nev;
	if ((gaps = malloc((total + 1) * sizeof(*gaps))) == NULL)
		return -1;
	merge_start(&mg, tls, nruns);
	while ((e = merge_next(&mg, &tl)) != NULL) {
		if (!first && e->ts + tl->off > prev)
			gaps[n++] = e->ts + tl->off - prev;
		prev = e->ts + tl->off;
		first = 0;
	}
	qsort(gaps, n, sizeof(*gaps), cmp_i64);
	median = n > 0 ? gaps[(n - 1) / 2] : 0;
	tls[0].long_gap =
	    median <= INT64_MAX / LONG_K ? median * LONG_K : INT64_MAX;
	merge_start(&mg, tls, nruns);
	for (first = 1; (e = merge_next(&mg, &tl)) != NULL; first = 0) {
		gap = e->ts + tl->off - prev;
		if (!first && gap > 0 && (steps > 0 || gap <= tls[0].long_gap))
			sum += gap, kept++;
		prev = e->ts + tl->off;
		/* in a step from its begin to its end, in each run */
		if (e->kind == EV_STEP_BEGIN || e->kind == EV_STEP_END) {
			int now = e->kind == EV_STEP_BEGIN;
			steps += now - in_step[tl - tls];
			in_step[tl - tls] = now;
		}
	}
	budget = 100.0 * (double)kept;
	budget = budget < 300 ? 300 : budget > 1000 ? 1000 : budget;
	tls[0].scale = sum > 0 ? budget / (double)sum : 0;
	for (size_t i = 1; i < nruns; i++) {
		tls[i].long_gap = tls[0].long_gap;
		tls[i].scale = tls[0].scale;
	}
	free(gaps);
	return 0;
}

/* Longest text from the trace put in a label (the tooltip has it all). */
#define LABEL_TEXT 32

/*
 * How many bytes of s to show in a label: all of it, or at most max
 * cut at a character boundary (s is valid UTF-8: the reader made it so).
 * *more says whether some was left out.
 */
static int label_len(const char *s, size_t max, int *more)
{
	size_t n = strlen(s);

	*more = n > max;
	if (n > max)
		for (n = max; n > 0 && (s[n] & 0xc0) == 0x80; n--)
			;
	return (int)n;
}

/* --colour-by: the variable's value in span s, or NULL. */
static const char *span_value(const struct timeline *tl, const struct span *s)
{
	return tl->values != NULL ? tl->values[s - tl->m->spans] : NULL;
}

/*
 * "#2 done", "#1 raised", "#1 raised ValueError" (task.done exc=); with
 * --colour-by, the value after it: "#2 done rid=3007".
 */
static const char *step_label(const struct timeline *tl, const struct span *s,
			      char *buf, size_t size)
{
	static const char *words[] = {"", " done", " raised", " cancelled"};
	const struct event *done = model_done_in(tl->m, s);
	const char *value = span_value(tl, s);
	int n, k, more;

	n = snprintf(buf, size, "#%ld%s", s->step,
		     s->to == NULL ? " ..." : words[s->result]);
	if (s->to != NULL && s->result == RES_RAISED && done != NULL &&
	    done->type != NULL && n > 0 && (size_t)n < size) {
		k = label_len(done->type, LABEL_TEXT, &more);
		n += snprintf(buf + n, size - (size_t)n, " %.*s%s", k,
			      done->type, more ? "..." : "");
	}
	if (value != NULL && n > 0 && (size_t)n < size) {
		k = label_len(value, LABEL_TEXT / 2, &more);
		snprintf(buf + n, size - (size_t)n, " %s=%.*s%s", tl->var, k,
			 value, more ? "..." : "");
	}
	return buf;
}

/* The fill for a value: its colour, taken in order of appearance. */
static const char *value_colour(struct timeline *tl, const char *value)
{
	size_t i;

	/* Interned: one string per value, so pointers compare. */
	for (i = 0; i < tl->nseen && tl->seen[i] != value; i++)
		;
	if (i == tl->nseen)
		tl->seen[tl->nseen++] = value;
	return by_value[i % NCOLOURS];
}

/* The box at the end of a lane whose task ended outside any step. */
static const char *end_label(const struct event *done, char *buf, size_t size)
{
	int k, more;

	switch (done->state) {
	case ST_EXC:
		if (done->type == NULL)
			return "raised";
		k = label_len(done->type, LABEL_TEXT, &more);
		snprintf(buf, size, "raised %.*s%s", k, done->type,
			 more ? "..." : "");
		return buf;
	case ST_CANCELLED:
		return "cancelled";
	default:
		return "done";
	}
}

static const char *end_fill(const struct event *done)
{
	return done->state == ST_EXC	     ? C_RAISED
	       : done->state == ST_CANCELLED ? C_CANCELLED
					     : C_DONE;
}

static double end_width(const struct event *done)
{
	char label[64];

	return text_width(end_label(done, label, sizeof(label)), 9) + 12;
}

/* Does this event get an x of its own (something is drawn there)? */
static int takes_room(const struct model *m, const struct event *e)
{
	const struct mark *k;

	switch (e->kind) {
	case EV_WAKE:
		/* The root task's spawn (by the loop) draws nothing. */
		k = model_mark_at(m, e->seq);
		return !(e->by.kind == REF_SPAWN && k->from == LOOP_LANE);
	case EV_CANCEL:
	case EV_EXC_RAISE:
	case EV_FD_READY:
	case EV_CB:
	case EV_TIMEOUT:
	case EV_THREAD_SUBMIT: /* an arrow down to the worker */
	case EV_QUEUE_PUT:     /* a step of the queue's size */
	case EV_QUEUE_GET:
		return 1;
	case EV_TASK_DONE:
		/* Outside a step it ends the lane in a box of its own. */
		k = model_mark_at(m, e->seq);
		return k != NULL && k->kind == MK_END;
	default:
		return 0;
	}
}

/*
 * Give every event its x. The steps:
 *  1. when time moves, move x: in proportion, or LONG_W for a long gap;
 *     note a tick for the axis;
 *  2. a step.begin opens a box; its inner events are spaced INNER_DX;
 *  3. a step.end closes it no narrower than its label; the same for polls;
 *  4. anything else drawn outside a step (a wake from the loop) is spaced
 *     OUTER_DX from the next.
 * Several runs share x: their events go in the order of the axis
 * (merge_next), each run with its own open step; a gap is long when no
 * run is in a step. The ticks are tls[0]'s.
 */
static int place_events(struct timeline *tls, size_t nruns)
{
	const struct span *step[MAX_RUNS] = {NULL};
	int in_step[MAX_RUNS] = {0}, steps = 0;
	double x, box_x0[MAX_RUNS] = {0}, w;
	struct timeline *tl, *t0 = &tls[0];
	const struct event *e;
	struct merge mg;
	size_t total = 0, r, i;
	int64_t prev_ts, g0 = 0, g1 = 0;
	char label[128];
	int any = 0;

	/* The axis's 0: the first event of all (the first run's t0 when
	 * no run has one). */
	for (r = 0; r < nruns; r++) {
		const struct model *m = tls[r].m;
		if (m->nev == 0 && nruns > 1)
			continue;
		if (!any || m->t0 + tls[r].off < g0)
			g0 = m->t0 + tls[r].off;
		if (!any || m->t1 + tls[r].off > g1)
			g1 = m->t1 + tls[r].off;
		any = 1;
	}
	for (r = 0; r < nruns; r++) {
		total += tls[r].m->nev;
		tls[r].t0 = g0 - tls[r].off;
		tls[r].span = g1 - g0;
		tls[r].x = calloc(tls[r].m->nev + 1, sizeof(double));
		if (tls[r].x == NULL)
			return -1;
	}
	t0->ticks = calloc(total + 1, sizeof(struct tick));
	if (t0->ticks == NULL)
		return -1;
	x = X_LEFT;
	x += 12;
	t0->ticks[t0->nticks++] = (struct tick){x, 0, 0};
	prev_ts = g0;
	merge_start(&mg, tls, nruns);
	while ((e = merge_next(&mg, &tl)) != NULL) {
		const struct model *m = tl->m;
		r = (size_t)(tl - tls);
		i = (size_t)(e - m->ev);
		if (e->ts + tl->off > prev_ts) {
			int64_t gap = e->ts + tl->off - prev_ts;
			int is_long = steps == 0 && gap > t0->long_gap;
			x += is_long ? LONG_W : (double)gap * t0->scale;
			t0->ticks[t0->nticks++] = (struct tick){
			    x, e->ts + tl->off - g0, is_long ? gap : 0};
			prev_ts = e->ts + tl->off;
		}
		tl->x[i] = x;
		switch (e->kind) {
		case EV_STEP_BEGIN:
		case EV_POLL_BEGIN:
			step[r] = model_span_at(m, e->seq);
			steps += (e->kind == EV_STEP_BEGIN) - in_step[r];
			in_step[r] = e->kind == EV_STEP_BEGIN;
			box_x0[r] = x;
			x += STEP_PAD;
			break;
		case EV_STEP_END:
		case EV_POLL_END:
			w = 34;
			if (step[r] != NULL && step[r]->kind == SP_STEP)
				w = text_width(step_label(tl, step[r], label,
							  sizeof(label)),
					       9) +
				    14;
			w = w < 30 ? 30 : w;
			x = x > box_x0[r] + w ? x : box_x0[r] + w;
			tl->x[i] = x;
			x += STEP_SEP;
			step[r] = NULL;
			steps -= in_step[r];
			in_step[r] = 0;
			break;
		case EV_TASK_DONE:
			/* Outside a step: room for the box that ends the lane.
			 */
			if (takes_room(m, e))
				x += end_width(e) + OUTER_DX;
			break;
		default:
			if (takes_room(m, e))
				x += step[r] != NULL ? INNER_DX : OUTER_DX;
			break;
		}
	}
	/* A short run still gets lanes long enough to read. */
	for (r = 0; r < nruns; r++) {
		tls[r].x_start = X_LEFT;
		tls[r].x_end = x + 16 > X_LEFT + MIN_W ? x + 16 : X_LEFT + MIN_W;
	}
	return 0;
}

static void draw_lanes(struct timeline *tl)
{
	char name[64];

	/* Chapter 07: the pool's threads, under the loop: not the loop's,
	 * so no band of its iterations crosses them. */
	for (size_t i = 0; i < tl->m->nworkers; i++) {
		double y = lane_y(tl, WORKER_LANE(tl->m->workers[i]));
		snprintf(name, sizeof(name), "worker %ld", tl->m->workers[i]);
		canvas_line(tl->c, tl->x_start, y, tl->x_end, y, "color",
			    C_LANE, "penwidth", "0.8", "style", "dashed", NULL);
		canvas_text(tl->c, tl->x_start - 10, y, 'r', 10, name,
			    "tooltip", "a thread of the loop's pool", NULL);
	}
	for (size_t i = 0; i <= tl->m->ntasks; i++) {
		long lane = i < tl->m->ntasks ? tl->m->tasks[i].id : LOOP_LANE;
		double y = lane_y(tl, lane);
		canvas_line(tl->c, tl->x_start, y, tl->x_end, y, "color",
			    C_LANE, "penwidth", "0.8", NULL);
		canvas_text(tl->c, tl->x_start - 10, y, 'r', 10,
			    i < tl->m->ntasks ? task_label(&tl->m->tasks[i],
							   name, sizeof(name))
					      : "event loop",
			    NULL);
	}
}

/* "T2 fetch step #2, 10 ms .. 10 ms (line 25)": the hover text. */
static void span_tooltip(const struct timeline *tl, const struct span *s,
			 char *buf, size_t size)
{
	const struct model *m = tl->m;
	char name[64], t0[32], t1[32], d[32];
	const char *who =
	    s->lane == LOOP_LANE
		? "event loop"
		: task_label(model_task(m, s->lane), name, sizeof(name));
	int64_t end = span_end_ts(m, s);
	const struct event *done;
	int n;

	fmt_time(s->from->ts - tl->t0, t0, sizeof(t0));
	fmt_time(end - tl->t0, t1, sizeof(t1));
	fmt_time(end - s->from->ts, d, sizeof(d));
	switch (s->kind) {
	case SP_STEP:
		done = model_done_in(m, s);
		n = snprintf(buf, size, "%s step #%ld: %s .. %s (%s), %s%s%s%s",
			     who, s->step, t0, t1, d,
			     s->to ? result_str(s->result) : "unfinished",
			     done && done->type ? " (" : "",
			     done && done->type ? done->type : "",
			     done && done->type ? ")" : "");
		if (s->cause != NULL && n > 0 && (size_t)n < size)
			snprintf(buf + n, size - (size_t)n,
				 "; caused by seq %ld (%s %s)", s->cause->seq,
				 s->cause->name, ref_str(&s->cause->by));
		break;
	case SP_WAIT:
		snprintf(buf, size, "%s awaits %s%s%s%s for %s (%s .. %s)", who,
			 s->await ? ref_str(&s->await->on) : "?",
			 s->await && s->await->what ? " (" : "",
			 s->await && s->await->what ? s->await->what : "",
			 s->await && s->await->what ? ")" : "", d, t0, t1);
		break;
	case SP_QUEUED:
		snprintf(buf, size, "%s ready, queued for %s (%s .. %s)", who,
			 d, t0, t1);
		break;
	case SP_POLL:
		snprintf(buf, size,
			 "poll: %s .. %s (%s), timeout %lld, "
			 "%ld fds, %ld ready",
			 t0, t1, d, (long long)s->from->timeout, s->from->nfds,
			 s->to ? s->to->nready : 0L);
		break;
	}
}

/* Where a piece of text would go: its anchor point and side. */
struct spot {
	double x, y;
	int anchor; /* 'l', 'r' or 'c', as canvas_text */
};

/* The room text takes at a spot, with a point to spare all round. */
static struct rect text_rect(struct spot p, double size, const char *text)
{
	double w = text_width(text, size), h = size + 2;
	double x0 = p.anchor == 'l'   ? p.x
		    : p.anchor == 'r' ? p.x - w
				      : p.x - w / 2;

	return (struct rect){x0 - 1, p.y - h / 2, x0 + w + 1, p.y + h / 2,
			     ROOM_TEXT};
}

/*
 * Draw text at the first of n spots that is free, and take that room.
 * First choice: a spot clear of everything; second: one that crosses an
 * arrow but no box and no other text (simultaneous wakes are 12 points
 * apart: their labels cannot fit between them). force: a label that
 * should be there may also cross a box; never another label. When no
 * spot is free it is left out (the tooltip still has it).
 */
static void place_text(struct timeline *tl, const struct spot *spots, int n,
		       int force, double size, const char *text,
		       const char *color, const char *tip)
{
	static const unsigned masks[] = {ROOM_ALL, ROOM_BOX | ROOM_TEXT,
					 ROOM_TEXT};
	int i = n;

	/* Text never goes over text: a label that must be there may
	 * cross a box or an arrow (round 3), one that need not is left
	 * out, and when no spot is free of text either, so is the first. */
	for (int round = 0; round < (force ? 3 : 2) && i == n; round++)
		for (i = 0; i < n; i++)
			if (placer_is_free(tl->pl,
					   text_rect(spots[i], size, text),
					   masks[round]))
				break;
	if (i == n)
		return;
	placer_take(tl->pl, text_rect(spots[i], size, text));
	canvas_text(tl->c, spots[i].x, spots[i].y, spots[i].anchor, size, text,
		    "fontcolor", color, "tooltip", tip, NULL);
}

static void draw_span(struct timeline *tl, const struct span *s)
{
	static const char *fills[] = {C_STEP, C_DONE, C_RAISED, C_CANCELLED};
	static const char *outlines[] = {"black", C_QUEUED, C_WAKE, "#909090"};
	double x0 = xof(tl, s->from);
	double x1 = s->to ? xof(tl, s->to) : tl->x_end - 8;
	double y = lane_y(tl, s->lane);
	const char *value = span_value(tl, s);
	char label[128], tip[320];
	struct spot spots[8];
	int n = 0;

	span_tooltip(tl, s, tip, sizeof(tip));
	switch (s->kind) {
	case SP_STEP:
		step_label(tl, s, label, sizeof(label));
		if (value == NULL) {
			canvas_box(tl->c, x0, x1, y, BOX_H, label, "fillcolor",
				   s->to ? fills[s->result] : C_STEP, "style",
				   s->to ? "rounded,filled"
					 : "rounded,filled,dashed",
				   "tooltip", tip, NULL);
			break;
		}
		/* Coloured by value: how it ended is the outline's colour
		 * (and the label's word). */
		snprintf(tip + strlen(tip), sizeof(tip) - strlen(tip),
			 "; %s=%s in ctx:%ld", tl->var, value, s->from->ctx);
		canvas_box(tl->c, x0, x1, y, BOX_H, label, "fillcolor",
			   value_colour(tl, value), "color",
			   s->to ? outlines[s->result] : "black", "penwidth",
			   s->to && s->result ? "2" : "1", "style",
			   s->to ? "rounded,filled" : "rounded,filled,dashed",
			   "tooltip", tip, NULL);
		break;
	case SP_POLL:
		canvas_box(tl->c, x0, x1, y, BOX_H, "poll", "fillcolor", C_POLL,
			   "tooltip", tip, NULL);
		break;
	case SP_QUEUED:
		if (x1 > x0)
			canvas_line(tl->c, x0, y, x1, y, "color", C_QUEUED,
				    "style", "dotted", "penwidth", "2",
				    "tooltip", tip, NULL);
		break;
	case SP_WAIT:
		canvas_line(tl->c, x0, y, x1, y, "color", C_WAIT, "penwidth",
			    "2.5", "tooltip", tip, NULL);
		/* The loop ended and this wait did not: a lost wake-up, or
		 * a deadlock (cotrace awaits tells which). */
		if (s->to == NULL && tl->m->run->ended &&
		    tl->m->nev == tl->m->run->n)
			canvas_text(tl->c, x1 + 4, y, 'l', 8, "never woken",
				    "fontcolor", C_WAKE, "tooltip", tip, NULL);
		/* Above the line, as near its start as is free; left out
		 * where it does not fit (the tooltip always has it). */
		snprintf(label, sizeof(label), "await %s",
			 s->await ? ref_str(&s->await->on) : "?");
		for (double lx = x0 + 6;
		     n < 8 && lx + text_width(label, 8) + 4 < x1; lx += 18)
			spots[n++] = (struct spot){lx, y + 9, 'l'};
		place_text(tl, spots, n, 0, 8, label, C_WAIT_TEXT, tip);
		break;
	}
}

/*
 * Where the arrow of a wake or a cancel goes: at the event's x, from the
 * lane it comes from to the task's. From a task running a step it starts
 * at the edge of the box; from the loop, at the lane (a dot marks it).
 * Returns 0 for a mark that has no arrow.
 */
static int arrow_at(const struct timeline *tl, const struct mark *k, double *x,
		    double *y0, double *y1)
{
	if (k->kind != MK_WAKE && k->kind != MK_CANCEL)
		return 0;
	/* The root task's spawn comes from nowhere to draw. */
	if (k->ev->by.kind == REF_SPAWN && k->from == LOOP_LANE)
		return 0;
	*x = xof(tl, k->ev);
	*y0 = lane_y(tl, k->from);
	*y1 = lane_y(tl, k->lane);
	if (k->from == k->lane) { /* itself: a short arrow onto its box */
		*y1 += BOX_H / 2;
		*y0 = *y1 + 14;
	} else if (k->from != LOOP_LANE && !IS_WORKER_LANE(k->from))
		*y0 += *y1 > *y0 ? BOX_H / 2 : -BOX_H / 2;
	return 1;
}

static void draw_arrow(struct timeline *tl, const struct mark *k)
{
	const struct model *m = tl->m;
	const struct event *e = k->ev;
	const char *color = C_WAKE, *style = "solid", *text = ref_str(&e->by);
	const char *msg = k->kind == MK_CANCEL ? e->msg : NULL;
	char name[64], t[32], tip[512], label[64];
	double x, y0, y1, d;
	int n, more;

	if (!arrow_at(tl, k, &x, &y0, &y1))
		return;
	if (k->kind == MK_CANCEL)
		color = C_CANCEL, style = "dashed", text = "cancel";
	else if (e->by.kind == REF_SPAWN)
		color = C_SPAWN, style = "dashed", text = "spawn";
	else if (IS_WORKER_LANE(k->from) && e->via.kind != REF_NONE)
		text = ref_str(&e->via); /* the future the task awaited */
	/* cancel msg=: "cancel: why" (cut; the tooltip has it all). */
	if (msg != NULL) {
		n = label_len(msg, LABEL_TEXT / 2, &more);
		snprintf(label, sizeof(label), "cancel: %.*s%s", n, msg,
			 more ? "..." : "");
		text = label;
	}
	n = msg != NULL ? label_len(msg, 200, &more) : 0;
	snprintf(tip, sizeof(tip), "seq %ld: %s %s by %s%s%s at %s%s%.*s%s",
		 e->seq, task_label(model_task(m, k->lane), name, sizeof(name)),
		 k->kind == MK_CANCEL ? "cancelled" : "woken",
		 e->by.kind != REF_NONE ? ref_str(&e->by) : "?",
		 e->via.kind != REF_NONE ? " via " : "", ref_str(&e->via),
		 fmt_time(e->ts - tl->t0, t, sizeof(t)),
		 msg != NULL ? ", msg " : "", n, msg != NULL ? msg : "",
		 msg != NULL && more ? "..." : "");
	if (IS_WORKER_LANE(k->from))
		snprintf(tip + strlen(tip), sizeof(tip) - strlen(tip),
			 "; the result of a call that worker %ld ran",
			 LANE_WORKER(k->from));
	if (k->from == LOOP_LANE || IS_WORKER_LANE(k->from))
		canvas_dot(tl->c, x, y0, 5, color, "tooltip", tip, NULL);
	canvas_arrow(tl->c, x, y0, x, y1, "color", color, "style", style,
		     "penwidth", "1.3", "arrowsize", "0.7", "tooltip", tip,
		     NULL);
	/* The label near the head, on the side the arrow comes from. */
	d = y1 > y0 ? -1 : 1;
	struct spot spots[] = {
	    {x - 3, y1 + d * 11, 'r'},
	    {x + 3, y1 + d * 11, 'l'},
	    {x - 3, y1 + d * 21, 'r'},
	    {x + 3, y1 + d * 21, 'l'},
	};
	place_text(tl, spots, 4, 1, 8, text, color, tip);
}

static void draw_mark(struct timeline *tl, const struct mark *k)
{
	const struct event *e = k->ev;
	double x = xof(tl, e), y = lane_y(tl, k->lane);
	double top = y + BOX_H / 2;
	char text[64], buf[64], tip[512];

	switch (k->kind) {
	case MK_WAKE:
	case MK_CANCEL:
		draw_arrow(tl, k);
		break;
	case MK_EXC:
		snprintf(tip, sizeof(tip), "seq %ld: raise %s: %s", e->seq,
			 e->type ? e->type : "?", e->msg ? e->msg : "");
		canvas_dot(tl->c, x, top, 9, C_WAKE, "shape", "circle", "label",
			   "!", "fontcolor", "white", "fontsize", "7",
			   "tooltip", tip, NULL);
		struct spot ex[] = {
		    {x - 6, top + 7, 'r'},
		    {x + 6, top + 7, 'l'},
		    {x - 6, top + 17, 'r'},
		    {x + 6, top + 17, 'l'},
		};
		place_text(tl, ex, 4, 1, 8, e->type ? e->type : "exception",
			   C_WAKE, tip);
		break;
	case MK_FD:
		/* The loop's own eventfd (chapter 07): another thread
		 * handed it something (call_soon_threadsafe, a pool call's
		 * result). */
		snprintf(text, sizeof(text), "fd:%ld %s%s", e->id,
			 e->events ? e->events : "",
			 e->id == tl->m->waker_fd ? " (inbox)" : "");
		canvas_dot(tl->c, x, y, 5, C_FD, "tooltip", text, NULL);
		/* fds ready together sit 12 points apart: stack labels. */
		struct spot fd[] = {{x, y + 12, 'c'}, {x, y - 12, 'c'},
				    {x, y + 21, 'c'}, {x, y - 21, 'c'},
				    {x, y + 30, 'c'}, {x, y - 30, 'c'}};
		place_text(tl, fd, 6, 1, 8, text, C_FD, text);
		break;
	case MK_TIMER:
		/* A hollow ring: the wake it causes, if any, fills it red. */
		snprintf(text, sizeof(text), "timer:%ld fired", e->id);
		canvas_dot(tl->c, x, y, 5, C_WAKE, "fillcolor", "white",
			   "tooltip", text, NULL);
		break;
	case MK_TIMEOUT:
		/* A diamond on the lane: the deadline passed here. */
		snprintf(
		    tip, sizeof(tip), "seq %ld: timeout of %s at %s", e->seq,
		    task_label(model_task(tl->m, k->lane), text, sizeof(text)),
		    fmt_time(e->ts - tl->t0, buf, sizeof(buf)));
		canvas_dot(tl->c, x, y, 10, C_TIMEOUT, "shape", "diamond",
			   "label", " ", "tooltip", tip, NULL);
		struct spot to[] = {
		    {x, top + 7, 'c'},	   {x, y - BOX_H / 2 - 7, 'c'},
		    {x - 7, top + 7, 'r'}, {x + 7, top + 7, 'l'},
		    {x, top + 17, 'c'},	   {x, y - BOX_H / 2 - 17, 'c'},
		};
		place_text(tl, to, 6, 1, 8, "timeout", C_TIMEOUT, tip);
		break;
	case MK_END:
		/* Ended outside any step: a box of its own says how. */
		snprintf(
		    tip, sizeof(tip), "seq %ld: %s ended %s%s%s%s at %s",
		    e->seq,
		    task_label(model_task(tl->m, k->lane), text, sizeof(text)),
		    e->state ? state_str(e->state) : "?", e->type ? " (" : "",
		    e->type ? e->type : "", e->type ? ")" : "",
		    fmt_time(e->ts - tl->t0, buf, sizeof(buf)));
		canvas_box(tl->c, x, x + end_width(e), y, BOX_H,
			   end_label(e, buf, sizeof(buf)), "fillcolor",
			   end_fill(e), "tooltip", tip, NULL);
		break;
	case MK_FUT:
		break; /* shown by the wakes it causes */
	}
}

/*
 * A light band behind each other loop iteration (loop.iter), across all
 * lanes: what ran in one pass of the loop, and how many passes there
 * were. A loop that runs until its queue is empty shows one band where
 * a correct one shows one per wake-up.
 */
static void draw_bands(struct timeline *tl)
{
	const struct model *m = tl->m;
	double top = lane_y(tl, m->ntasks ? m->tasks[0].id : LOOP_LANE);
	double bottom = lane_y(tl, LOOP_LANE);
	size_t i, j, k = 0;
	char tip[64];

	for (i = 0; i < m->nev; i = j) {
		for (j = i + 1; j < m->nev && m->ev[j].kind != EV_LOOP_ITER;
		     j++)
			;
		if (m->ev[i].kind != EV_LOOP_ITER || k++ % 2 == 1)
			continue;
		snprintf(tip, sizeof(tip), "iteration %lld (seq %ld)",
			 (long long)m->ev[i].it, m->ev[i].seq);
		canvas_box(tl->c, tl->x[i] - STEP_SEP / 2,
			   j < m->nev ? tl->x[j] - STEP_SEP / 2 : tl->x_end,
			   (top + bottom) / 2, top - bottom + LANE_H, "",
			   "style", "filled", "fillcolor", C_BAND, "color",
			   "transparent", "tooltip", tip, NULL);
	}
}

/* A plain callback (cb: call_soon, a done callback, an fd's) is a small
 * grey tick on the loop's lane: the loop ran code that is no task's. */
static void draw_callbacks(struct timeline *tl)
{
	const struct model *m = tl->m;
	double y = lane_y(tl, LOOP_LANE);
	char tip[128];

	for (size_t i = 0; i < m->nev; i++) {
		const struct event *e = &m->ev[i];
		if (e->kind != EV_CB)
			continue;
		snprintf(tip, sizeof(tip), "seq %ld: callback%s%s%s%s", e->seq,
			 e->what ? " (" : "", e->what ? e->what : "",
			 e->what ? ")" : "", e->by.kind ? " by " : "");
		snprintf(tip + strlen(tip), sizeof(tip) - strlen(tip), "%s",
			 ref_str(&e->by));
		canvas_box(tl->c, tl->x[i] - 2, tl->x[i] + 2, y, 10, "",
			   "style", "filled", "fillcolor", C_CB, "color", C_CB,
			   "tooltip", tip, NULL);
	}
}

/*
 * Chapter 07: x at time t (us, the run's clock): between the events
 * around t, in proportion. For a pool thread's begin and end, which are
 * on the loop's real clock: the events' own clock when the run's clock
 * is real (clock=monotonic).
 */
static double x_at(const struct timeline *tl, int64_t t)
{
	const struct model *m = tl->m;
	size_t lo = 0, hi = m->nev, i;

	while (lo < hi) { /* the first event after t */
		size_t mid = lo + (hi - lo) / 2;
		if (m->ev[mid].ts <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return m->nev > 0 ? tl->x[0] : tl->x_start;
	if (lo == m->nev)
		return tl->x[m->nev - 1];
	i = lo - 1;
	return tl->x[i] + (tl->x[lo] - tl->x[i]) * (double)(t - m->ev[i].ts) /
			      (double)(m->ev[lo].ts - m->ev[i].ts);
}

/* Where the result of call c reached the loop: its first wake, or the
 * thread.run the loop wrote after it. */
static double call_back_x(const struct timeline *tl, const struct call *c)
{
	return c->wake >= 0 ? xof(tl, tl->m->marks[c->wake].ev)
			    : xof(tl, c->run);
}

/*
 * Each call's box on its worker's lane. The steps:
 *  1. a call still in the pool when the replay stops: from its submit
 *     to the end, on no lane (no worker has said it took it yet);
 *  2. on a real clock, from begin to end, which thread.run gives; on a
 *     virtual one (the thread's real time is another clock), from the
 *     submit to the result;
 *  3. kept inside the time the loop could know of it: not before the
 *     submit, not after the result came back; not before the same
 *     worker's previous call ends (a thread runs one call at a time).
 */
static int place_calls(struct timeline *tl)
{
	const struct model *m = tl->m;
	double *prev = calloc(m->nworkers + 1, sizeof(*prev));

	tl->cx0 = calloc(m->ncalls + 1, sizeof(double));
	tl->cx1 = calloc(m->ncalls + 1, sizeof(double));
	if (prev == NULL || tl->cx0 == NULL || tl->cx1 == NULL) {
		free(prev);
		return -1;
	}
	for (size_t i = 0; i < m->nworkers; i++)
		prev[i] = -1e9;
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct call *c = &m->calls[i];
		double xs, xr, x0, x1;
		long row;
		tl->cx1[i] = -1;
		if (c->run == NULL) {
			if (c->submit != NULL) {
				tl->cx0[i] = xof(tl, c->submit);
				tl->cx1[i] = tl->x_end - 8;
			}
			continue;
		}
		row = model_worker_row(m, c->run->worker);
		xs = c->submit != NULL ? xof(tl, c->submit) : tl->x_start;
		xr = call_back_x(tl, c);
		if (!m->run->virtual_clock && !c->run->skipped &&
		    c->run->begin > 0 && c->run->end >= c->run->begin) {
			x0 = x_at(tl, c->run->begin);
			x1 = x_at(tl, c->run->end);
		} else {
			x0 = xs;
			x1 = xr;
		}
		if (c->run->skipped) /* never ran: a small box at the end */
			x0 = xr - 40;
		x0 = x0 < xs ? xs : x0;
		x1 = x1 > xr ? xr : x1;
		if (row >= 0 && x0 < prev[row] + 2)
			x0 = prev[row] + 2;
		x1 = x1 < x0 + 4 ? x0 + 4 : x1;
		if (row >= 0)
			prev[row] = x1;
		tl->cx0[i] = x0;
		tl->cx1[i] = x1;
	}
	free(prev);
	return 0;
}

/* The queues that get a lane: those with a put or a get in the run, in
 * the order of their ids. */
static int find_queues(struct timeline *tl)
{
	const struct model *m = tl->m;

	tl->qids = calloc(m->queues.n + 1, sizeof(long));
	if (tl->qids == NULL)
		return -1;
	for (size_t id = 0; id < m->queues.n; id++) {
		struct queue q = model_queue(m, (long)id);
		if (q.puts + q.gets > 0)
			tl->qids[tl->nq++] = (long)id;
	}
	return 0;
}

/* "worker 2: fut:14 for T5 resize-2, ran 16.5 ms .. 24.7 ms (8.2 ms)..." */
static void call_tooltip(const struct timeline *tl, const struct call *c,
			 char *buf, size_t size)
{
	const struct model *m = tl->m;
	const struct task *who =
	    model_task(m, c->awaiter ? c->awaiter : c->task);
	/* begin and end count from the loop's start, as a monotonic run's
	 * ts do; on a virtual clock, shown as they are. */
	int64_t t0 = m->run->virtual_clock ? 0 : tl->t0;
	char name[64], t[4][32];
	int n;

	if (c->run != NULL)
		n = snprintf(buf, size, "worker %ld: fut:%ld", c->run->worker,
			     c->fut);
	else
		n = snprintf(buf, size, "fut:%ld, in the pool when the trace "
					"ends", c->fut);
	if (who != NULL && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, " for %s",
			      task_label(who, name, sizeof(name)));
	if (c->run != NULL && c->run->skipped && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n,
			      ", skipped: cancelled before a thread took it");
	else if (c->run != NULL && c->run->end >= c->run->begin &&
		 c->run->begin > 0 && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n,
			      ", ran %s .. %s (%s) on the loop's real clock",
			      fmt_time(c->run->begin - t0, t[0], sizeof(t[0])),
			      fmt_time(c->run->end - t0, t[1], sizeof(t[1])),
			      fmt_time(c->run->end - c->run->begin, t[2],
				       sizeof(t[2])));
	if (c->submit != NULL && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n,
			      "; submitted at seq %ld (%s)", c->submit->seq,
			      fmt_time(c->submit->ts - tl->t0, t[3],
				       sizeof(t[3])));
	if (c->run != NULL && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", back at seq %ld",
			 c->run->seq);
}

/*
 * The pool's calls: a box on the worker's lane while the thread ran it
 * (labelled with how long, where that fits), and a grey dashed arrow
 * from the task that handed it over, at that moment, down to the lane
 * of the thread that took it. The wake its result caused comes up from
 * the worker's lane (draw_arrow: the model moved it there).
 */
static void draw_calls(struct timeline *tl)
{
	const struct model *m = tl->m;
	char label[48], tip[400], t[32];

	for (size_t i = 0; i < m->ncalls; i++) {
		const struct call *c = &m->calls[i];
		double x0 = tl->cx0[i], x1 = tl->cx1[i], y, x, y0;
		if (x1 < 0 || c->run == NULL)
			continue; /* in the pool: no worker lane to draw on */
		y = lane_y(tl, WORKER_LANE(c->run->worker));
		call_tooltip(tl, c, tip, sizeof(tip));
		if (c->run->skipped)
			snprintf(label, sizeof(label), "skipped");
		else if (c->run->begin > 0 && c->run->end >= c->run->begin)
			fmt_time(c->run->end - c->run->begin, label,
				 sizeof(label));
		else
			snprintf(label, sizeof(label), "fut:%ld", c->fut);
		if (text_width(label, 8) + 6 > x1 - x0)
			label[0] = '\0';
		canvas_box(tl->c, x0, x1, y, BOX_H, label, "fillcolor",
			   c->run->skipped ? C_CANCELLED : C_THREAD, "color",
			   C_THREAD_LN, "fontsize", "8", "tooltip", tip, NULL);
		if (c->submit == NULL)
			continue;
		x = xof(tl, c->submit);
		y0 = lane_y(tl, c->task);
		if (c->task != LOOP_LANE)
			y0 -= BOX_H / 2;
		snprintf(tip, sizeof(tip),
			 "seq %ld: fut:%ld handed to the pool at %s; worker "
			 "%ld took it",
			 c->submit->seq, c->fut,
			 fmt_time(c->submit->ts - tl->t0, t, sizeof(t)),
			 c->run->worker);
		canvas_arrow(tl->c, x, y0, x, y + BOX_H / 2, "color", C_SPAWN,
			     "style", "dashed", "penwidth", "1.1", "arrowsize",
			     "0.6", "tooltip", tip, NULL);
		struct spot spots[] = {
		    {x + 3, y + BOX_H / 2 + 9, 'l'},
		    {x - 3, y + BOX_H / 2 + 9, 'r'},
		};
		place_text(tl, spots, 2, 0, 8, "to thread", C_SPAWN, tip);
	}
}

/*
 * A queue's lane: how many items it holds, as a bar that rises at each
 * put and falls at each get, scaled to its maxsize (or to the most it
 * held, unbounded); a red dashed line at the maxsize. A producer held at
 * a full queue is back-pressure: the bar stays at the line while the
 * producer's lane says "await queue:N".
 */
static void draw_queue(struct timeline *tl, size_t qi)
{
	const struct model *m = tl->m;
	long id = tl->qids[qi];
	struct queue q = model_queue(m, id);
	long maxsize = q.created != NULL ? q.created->maxsize : 0;
	long top = maxsize > q.peak ? maxsize : q.peak;
	double y = queue_y(tl, qi), h = LANE_H * 0.6, yb = y - h / 2;
	double xprev = tl->x_start, hh;
	long size = 0;
	char name[64], tip[160], t[2][32];
	long from_seq = 0;

	top = top > 0 ? top : 1;
	if (maxsize > 0)
		snprintf(name, sizeof(name), "queue:%ld max %ld", id, maxsize);
	else
		snprintf(name, sizeof(name), "queue:%ld", id);
	canvas_line(tl->c, tl->x_start, yb, tl->x_end, yb, "color", C_LANE,
		    "penwidth", "0.8", NULL);
	canvas_text(tl->c, tl->x_start - 10, y, 'r', 10, name, "tooltip",
		    "how many items the queue holds", NULL);
	for (size_t i = 0; i <= m->nev; i++) {
		const struct event *e = i < m->nev ? &m->ev[i] : NULL;
		double x;
		if (e != NULL && !((e->kind == EV_QUEUE_PUT ||
				    e->kind == EV_QUEUE_GET) &&
				   e->id == id))
			continue;
		x = e != NULL ? xof(tl, e) : tl->x_end;
		if (size > 0 && x > xprev) {
			hh = h * (double)size / (double)top;
			snprintf(tip, sizeof(tip),
				 "queue:%ld holds %ld item%s, %s .. %s "
				 "(from seq %ld)",
				 id, size, size == 1 ? "" : "s",
				 fmt_time((i > 0 ? m->ev[i - 1].ts : tl->t0) - tl->t0,
					  t[0], sizeof(t[0])),
				 fmt_time((e != NULL ? e->ts : m->t1) - tl->t0,
					  t[1], sizeof(t[1])),
				 from_seq);
			/* A box's tooltip would name its start; the time
			 * it held size starts at from_seq. */
			canvas_box(tl->c, xprev, x, yb + hh / 2, hh, "",
				   "style", "filled", "fillcolor", C_QUEUE,
				   "color", C_QUEUE_LN, "penwidth", "0.5",
				   "tooltip", tip, NULL);
		}
		if (e == NULL)
			break;
		size = e->size;
		xprev = x;
		from_seq = e->seq;
	}
	if (maxsize > 0) {
		double ym = yb + h * (double)maxsize / (double)top;
		canvas_line(tl->c, tl->x_start, ym, tl->x_end, ym, "color",
			    C_MAXSIZE, "style", "dashed", "penwidth", "0.8",
			    NULL);
	}
	snprintf(name, sizeof(name), "at most %ld", q.peak);
	canvas_text(tl->c, tl->x_end + 4, y, 'l', 8, name, "fontcolor",
		    C_QUEUE_LN, NULL);
}

/*
 * Before any label is placed, take the room of what labels must not
 * cover: the boxes and the arrows.
 */
static int take_obstacles(struct timeline *tl)
{
	const struct model *m = tl->m;
	double x, y0, y1;
	int rc = 0;

	for (size_t i = 0; i < m->nspans; i++) {
		const struct span *s = &m->spans[i];
		if (s->kind != SP_STEP && s->kind != SP_POLL)
			continue;
		y0 = lane_y(tl, s->lane);
		rc |= placer_take(
		    tl->pl, (struct rect){xof(tl, s->from), y0 - BOX_H / 2,
					   s->to ? xof(tl, s->to) : tl->x_end,
					   y0 + BOX_H / 2, ROOM_BOX});
	}
	for (size_t i = 0; i < m->nmarks; i++) {
		const struct mark *k = &m->marks[i];
		if (k->kind == MK_END) {
			x = xof(tl, k->ev);
			y0 = lane_y(tl, k->lane);
			rc |= placer_take(
			    tl->pl, (struct rect){x, y0 - BOX_H / 2,
						   x + end_width(k->ev),
						   y0 + BOX_H / 2, ROOM_BOX});
		}
		if (arrow_at(tl, k, &x, &y0, &y1))
			rc |= placer_take(
			    tl->pl,
			    (struct rect){x - 2, y0 < y1 ? y0 : y1, x + 2,
					  y0 < y1 ? y1 : y0, ROOM_ARROW});
	}
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct call *c = &m->calls[i];
		if (tl->cx1[i] < 0 || c->run == NULL)
			continue;
		y1 = lane_y(tl, WORKER_LANE(c->run->worker));
		rc |= placer_take(tl->pl,
				  (struct rect){tl->cx0[i], y1 - BOX_H / 2,
						tl->cx1[i], y1 + BOX_H / 2,
						ROOM_BOX});
		if (c->submit == NULL)
			continue;
		x = xof(tl, c->submit);
		y0 = lane_y(tl, c->task);
		rc |= placer_take(tl->pl,
				  (struct rect){x - 2, y1, x + 2, y0,
						ROOM_ARROW});
	}
	return rc;
}

/*
 * A tick's label, in one unit for the whole axis (chosen from the span of
 * the run), so that labels compare at a glance: 0 ms, 5 ms, 12.5 ms.
 */
static const char *tick_label(const struct timeline *tl, int64_t us, char *buf,
			      size_t size)
{
	int64_t span = tl->span;
	double div = span >= 10000000 ? 1e6 : span >= 10000 ? 1e3 : 1;
	const char *unit = div == 1e6 ? "s" : div == 1e3 ? "ms" : "us";
	size_t n;

	snprintf(buf, size, "%.3f", (double)us / div);
	n = strlen(buf);
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	if (buf[n - 1] == '.')
		buf[--n] = '\0';
	snprintf(buf + n, size - n, " %s", unit);
	return buf;
}

/* The time axis: ticks where time moved, "//" where it was compressed. */
static void draw_axis(struct timeline *tl, double y)
{
	double last = -1e9, from = tl->x_start;
	char t[32], gap[48];

	for (size_t i = 0; i < tl->nticks; i++) {
		const struct tick *k = &tl->ticks[i];
		if (k->gap > 0) {
			double xm = k->x - LONG_W / 2;
			canvas_line(tl->c, from, y, xm - 5, y, "color",
				    "#888888", NULL);
			canvas_line(tl->c, xm - 7, y - 5, xm - 3, y + 5,
				    "color", "#888888", NULL);
			canvas_line(tl->c, xm + 3, y - 5, xm + 7, y + 5,
				    "color", "#888888", NULL);
			snprintf(gap, sizeof(gap), "idle %s",
				 fmt_time(k->gap, t, sizeof(t)));
			canvas_text(tl->c, xm, y + 10, 'c', 7, gap, "fontcolor",
				    "#888888", NULL);
			from = xm + 5;
		}
		if (k->x - last < 48)
			continue;
		canvas_line(tl->c, k->x, y, k->x, y - 4, "color", "#888888",
			    NULL);
		canvas_text(tl->c, k->x, y - 13, 'c', 8,
			    tick_label(tl, k->ts, t, sizeof(t)),
			    "fontcolor", "#444444", NULL);
		last = k->x;
	}
	canvas_line(tl->c, from, y, tl->x_end, y, "color", "#888888", NULL);
}

/* The key under the picture, as in the target. */
static void draw_legend(struct timeline *tl, double y)
{
	struct canvas *c = tl->c;
	double x = tl->x_start;

	canvas_box(c, x, x + 26, y, 14, "#n", "fillcolor", C_STEP, "fontsize",
		   "8", NULL);
	canvas_text(c, x + 31, y, 'l', 9, "step, then suspended", NULL);
	x += 31 + text_width("step, then suspended", 9) + 18;
	canvas_box(c, x, x + 26, y, 14, "#n", "fillcolor", C_DONE, "fontsize",
		   "8", NULL);
	canvas_text(c, x + 31, y, 'l', 9, "last step", NULL);
	x += 31 + text_width("last step", 9) + 18;
	canvas_line(c, x, y, x + 22, y, "color", C_WAIT, "penwidth", "2.5",
		    NULL);
	canvas_text(c, x + 27, y, 'l', 9, "waiting (await ...)", NULL);
	x += 27 + text_width("waiting (await ...)", 9) + 18;
	canvas_line(c, x, y, x + 22, y, "color", C_QUEUED, "style", "dotted",
		    "penwidth", "2", NULL);
	canvas_text(c, x + 27, y, 'l', 9, "ready, queued", NULL);
	x += 27 + text_width("ready, queued", 9) + 18;
	canvas_arrow(c, x + 4, y - 7, x + 4, y + 7, "color", C_WAKE,
		     "arrowsize", "0.6", NULL);
	canvas_text(c, x + 12, y, 'l', 9, "woken by", NULL);
	x += 12 + text_width("woken by", 9) + 18;
	canvas_arrow(c, x + 4, y + 7, x + 4, y - 7, "color", C_SPAWN, "style",
		     "dashed", "arrowsize", "0.6", NULL);
	canvas_text(c, x + 12, y, 'l', 9, "spawned", NULL);
}

/* Chapter 07: a row of the key for what only its runs have. */
static void draw_legend_07(struct timeline *tls, size_t nruns, double y)
{
	struct canvas *c = tls[0].c;
	double x = tls[0].x_start;
	size_t calls = 0, queues = 0;

	for (size_t r = 0; r < nruns; r++) {
		calls += tls[r].m->ncalls;
		queues += tls[r].nq;
	}
	if (calls > 0) {
		canvas_box(c, x, x + 26, y, 14, "", "fillcolor", C_THREAD,
			   "color", C_THREAD_LN, NULL);
		canvas_text(c, x + 31, y, 'l', 9,
			    "a call on a pool thread (to_thread)", NULL);
		x += 31 + text_width("a call on a pool thread (to_thread)", 9) +
		     18;
		canvas_arrow(c, x + 4, y + 7, x + 4, y - 7, "color", C_SPAWN,
			     "style", "dashed", "arrowsize", "0.6", NULL);
		canvas_text(c, x + 12, y, 'l', 9, "handed to a thread", NULL);
		x += 12 + text_width("handed to a thread", 9) + 18;
	}
	if (queues > 0) {
		canvas_box(c, x, x + 26, y, 14, "", "style", "filled",
			   "fillcolor", C_QUEUE, "color", C_QUEUE_LN, NULL);
		canvas_text(c, x + 31, y, 'l', 9, "items in a queue", NULL);
		x += 31 + text_width("items in a queue", 9) + 18;
		canvas_line(c, x, y, x + 22, y, "color", C_MAXSIZE, "style",
			    "dashed", NULL);
		canvas_text(c, x + 27, y, 'l', 9, "its maxsize", NULL);
	}
}

/*
 * --colour-by: a second row of the key, a box in each value's colour,
 * in the order the values first appear (the first MAX_KEYED of them).
 */
static void draw_value_key(struct timeline *tl, double y)
{
	double x = tl->x_start, w;
	char text[80];
	int k, more;

	snprintf(text, sizeof(text), "steps coloured by %s:", tl->var);
	canvas_text(tl->c, x, y, 'l', 9, text, NULL);
	x += text_width(text, 9) + 8;
	if (tl->nseen == 0) {
		canvas_text(tl->c, x, y, 'l', 9, "(no step has a value)", NULL);
		return;
	}
	for (size_t i = 0; i < tl->nseen && i < MAX_KEYED; i++) {
		k = label_len(tl->seen[i], LABEL_TEXT / 2, &more);
		snprintf(text, sizeof(text), "%.*s%s", k, tl->seen[i],
			 more ? "..." : "");
		w = text_width(text, 8) + 10;
		canvas_box(tl->c, x, x + w, y, 14, text, "fillcolor",
			   by_value[i % NCOLOURS], "fontsize", "8", NULL);
		x += w + 4;
	}
	if (tl->nseen > MAX_KEYED) {
		snprintf(text, sizeof(text), "and %zu more",
			 tl->nseen - MAX_KEYED);
		canvas_text(tl->c, x + 4, y, 'l', 9, text, NULL);
	}
}

/*
 * The seq of the last event to draw when the run is too long to draw
 * whole (MAX_EVENTS, MAX_LANES), or 0 when it all fits.
 */
static long cut_seq(const struct model *m)
{
	size_t tasks = 0;

	for (size_t i = 0; i < m->nev; i++) {
		if (i == MAX_EVENTS ||
		    (m->ev[i].kind == EV_TASK_NEW && ++tasks > MAX_LANES))
			return i > 0 ? m->ev[i - 1].seq : m->ev[0].seq;
	}
	return 0;
}

/* Say, above the lanes and on stderr, that the picture is not all. */
static void note_cut(const struct model *m, const struct model *whole,
		     char *note, size_t size)
{
	char t[32];

	snprintf(note, size,
		 "the first %zu of %zu events (to seq %ld, t = %s, %zu of %zu "
		 "tasks): cotrace draws at most %d events and %d tasks",
		 m->nev, whole->nev, m->ev[m->nev - 1].seq,
		 fmt_time(m->t1 - m->t0, t, sizeof(t)), m->ntasks,
		 whole->ntasks, MAX_EVENTS, MAX_LANES);
}

/*
 * Several runs: the band of one process, its title above its lanes
 * ("chatd (pid 4242)"), its file in the tooltip.
 */
static void draw_group(struct timeline *tl, const struct timeline_run *run)
{
	double top = row_y(tl, 0) + LANE_H, bottom = row_y(tl, nrows(tl) - 1);

	canvas_box(tl->c, tl->x_start - 106, tl->x_end + 8,
		   (top + bottom) / 2, top - bottom + LANE_H * 0.8, "",
		   "style", "rounded,filled", "fillcolor", C_GROUP, "color",
		   C_GROUP_LN, "tooltip", run->tip, NULL);
	canvas_text(tl->c, tl->x_start - 100, top, 'l', 11, run->title,
		    "fontcolor", C_GROUP_TEXT, "tooltip", run->tip, NULL);
}

/*
 * Draw nruns runs on one time axis: one alone as it always was (runs
 * NULL), several each in a group of rows of its own, titled by runs[i].
 * note: NULL, or what the picture leaves out (said above the lanes).
 */
static int draw(struct timeline *tls, size_t nruns,
		const struct timeline_run *runs, const char *note,
		const char *out, const char *var)
{
	struct timeline *tl = &tls[0];
	struct canvas *c = canvas_new("timeline");
	struct placer pl = {0};
	size_t rows = 0, r, i;
	double y_axis;
	int rc = 1, ch07 = 0;

	for (r = 0; r < nruns; r++) {
		tls[r].c = c;
		tls[r].pl = &pl;
		tls[r].var = var;
		if (find_queues(&tls[r]) < 0) {
			fprintf(stderr, "cotrace: out of memory\n");
			goto out;
		}
		/* several: a row for the group's title, then its lanes */
		tls[r].row0 = rows + (runs != NULL);
		rows = tls[r].row0 + nrows(&tls[r]);
		ch07 |= tls[r].m->ncalls > 0 || tls[r].nq > 0;
	}
	for (r = 0; r < nruns; r++)
		tls[r].rows = rows;
	y_axis = row_y(tl, rows - 1 - tl->row0) - 30;
	if (var != NULL) {
		tl->values = model_var_values(tl->m, var);
		tl->seen = calloc(tl->m->nspans + 1, sizeof(*tl->seen));
		if (tl->values == NULL || tl->seen == NULL) {
			fprintf(stderr, "cotrace: out of memory\n");
			goto out;
		}
	}
	if (c == NULL || choose_scale(tls, nruns) < 0 ||
	    place_events(tls, nruns) < 0) {
		fprintf(stderr, "cotrace: out of memory\n");
		goto out;
	}
	for (r = 0; r < nruns; r++)
		if (place_calls(&tls[r]) < 0) {
			fprintf(stderr, "cotrace: out of memory\n");
			goto out;
		}
	if (placer_init(&pl, tl->x_start - 100, tl->x_end + 100) < 0) {
		fprintf(stderr, "cotrace: out of memory\n");
		goto out;
	}
	for (r = 0; r < nruns; r++)
		if (take_obstacles(&tls[r]) < 0) {
			fprintf(stderr, "cotrace: out of memory\n");
			goto out;
		}
	if (note != NULL) {
		canvas_text(c, tl->x_start,
			    90.0 + (double)(rows - 1) * LANE_H + 30, 'l', 10,
			    note, "fontcolor", C_WAKE, NULL);
		fprintf(stderr, "cotrace: timeline: drew %s\n", note);
	}
	for (r = 0; r < nruns; r++) {
		struct timeline *t = &tls[r];
		if (runs != NULL)
			draw_group(t, &runs[r]);
		draw_bands(t);
		draw_lanes(t);
		draw_callbacks(t);
		for (i = 0; i < t->m->nspans; i++)
			draw_span(t, &t->m->spans[i]);
		draw_calls(t);
		for (i = 0; i < t->nq; i++)
			draw_queue(t, i);
		for (i = 0; i < t->m->nmarks; i++)
			draw_mark(t, &t->m->marks[i]);
	}
	draw_axis(tl, y_axis);
	draw_legend(tl, y_axis - 40);
	if (var != NULL)
		draw_value_key(tl, y_axis - 62);
	if (ch07)
		draw_legend_07(tls, nruns, y_axis - (var != NULL ? 84 : 62));
	rc = canvas_write(c, out);
out:
	canvas_free(c);
	placer_free(&pl);
	for (r = 0; r < nruns; r++) {
		free(tls[r].x);
		free(tls[r].ticks);
		free(tls[r].values);
		free(tls[r].seen);
		free(tls[r].cx0);
		free(tls[r].cx1);
		free(tls[r].qids);
	}
	return rc;
}

int view_timeline(const struct model *m, const char *out, const char *var)
{
	long cut = cut_seq(m);
	struct timeline tl = {.m = m};
	struct model part;
	char note[256];
	int rc;

	if (cut == 0)
		return draw(&tl, 1, NULL, NULL, out, var);
	/* A prefix of a run that replayed is a run that replays. */
	if (model_build(&part, m->t, (size_t)(m->run - m->t->runs), cut) < 0) {
		fprintf(stderr, "cotrace: %s\n", part.err);
		model_free(&part);
		return 1;
	}
	note_cut(&part, m, note, sizeof(note));
	tl.m = &part;
	rc = draw(&tl, 1, NULL, note, out, var);
	model_free(&part);
	return rc;
}

/*
 * Several runs, one picture: the limits hold for all of them together.
 * Walking their events in the axis's order, the first event past
 * MAX_EVENTS, or the task.new past MAX_LANES, ends every run at the
 * event before it: upto[i] is run i's last seq drawn (-1: none), and
 * the return is 1 when something is left out.
 */
static int cut_runs(struct timeline *tls, size_t nruns, long *upto)
{
	struct merge mg;
	struct timeline *tl;
	const struct event *e;
	size_t n = 0, tasks = 0;

	for (size_t r = 0; r < nruns; r++)
		upto[r] = -1;
	merge_start(&mg, tls, nruns);
	while ((e = merge_next(&mg, &tl)) != NULL) {
		if (n == MAX_EVENTS ||
		    (e->kind == EV_TASK_NEW && ++tasks > MAX_LANES))
			return 1;
		upto[tl - tls] = e->seq;
		n++;
	}
	return 0;
}

int view_timeline_runs(const struct timeline_run *runs, size_t nruns,
		       const char *out)
{
	struct timeline tls[MAX_RUNS];
	struct model parts[MAX_RUNS];
	long upto[MAX_RUNS];
	size_t r, built = 0, drawn = 0, whole = 0;
	char note[256];
	int rc = 1, cut;

	if (nruns == 0 || nruns > MAX_RUNS) {
		fprintf(stderr, "cotrace: timeline: 1 to %d traces\n",
			MAX_RUNS);
		return 1;
	}
	memset(tls, 0, sizeof(tls));
	for (r = 0; r < nruns; r++) {
		tls[r].m = runs[r].m;
		tls[r].off = runs[r].off;
	}
	cut = cut_runs(tls, nruns, upto);
	if (cut) {
		for (r = 0; r < nruns; r++, built++) {
			const struct model *m = runs[r].m;
			if (model_build(&parts[r], m->t,
					(size_t)(m->run - m->t->runs),
					upto[r]) < 0) {
				fprintf(stderr, "cotrace: %s\n", parts[r].err);
				built++;
				goto out;
			}
			tls[r].m = &parts[r];
			drawn += parts[r].nev;
			whole += m->nev;
		}
		snprintf(note, sizeof(note),
			 "the first %zu of %zu events of the %zu traces: "
			 "cotrace draws at most %d events and %d tasks",
			 drawn, whole, nruns, MAX_EVENTS, MAX_LANES);
	}
	rc = draw(tls, nruns, runs, cut ? note : NULL, out, NULL);
out:
	for (r = 0; r < built; r++)
		model_free(&parts[r]);
	return rc;
}
