/*
 * views.h - the five things cotrace makes from a run.
 *
 * Each view reads a model (model.h) and writes one output. The views that
 * draw (timeline, awaits) go through Graphviz and pick the format from
 * the output file's extension (canvas.h); the others write text.
 *
 * Each returns 0, or 1 after printing "cotrace: ..." to stderr (a file
 * that cannot be written, an unknown format): the trace was fine by then.
 */
#ifndef COTRACE_VIEWS_H
#define COTRACE_VIEWS_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* One lane per task plus the loop's, time left to right (timeline.c).
 * var: NULL, or the context variable whose value colours each step
 * (--colour-by). */
int view_timeline(const struct model *m, const char *out, const char *var);

/* The most traces one timeline draws together. */
#define TIMELINE_MAX_RUNS 16

/* One run of a timeline of several (one per process). */
struct timeline_run {
	const struct model *m;
	const char *title; /* above its lanes: "chatd (pid 4242)" */
	const char *tip;   /* its tooltip: the file */
	int64_t off;	   /* us to add to its ts: its time on the shared
			      axis (from its trace's corolab-origin) */
};

/* Several runs on one time axis, each in a band of its own (timeline.c):
 * the events of all of them in time order, x shared. */
int view_timeline_runs(const struct timeline_run *runs, size_t nruns,
		       const char *out);

/* Who waits on whom when the replay stopped; cycles are deadlocks. */
int view_awaits(const struct model *m, const char *out);

/* Chrome Trace Event JSON, which Perfetto and chrome://tracing open. */
int view_chrome(const struct model *m, FILE *out);

/* Per task: steps, time running, waiting and queued, what it awaited. */
int view_stats(const struct model *m, FILE *out);

/* The last events as written, then where each unfinished task was: for
 * a trace cut short by a crash (tail.c). */
int view_tail(const struct model *m, FILE *out);

#endif
