/*
 * metrics.h - Prometheus /metrics: what a running loop has done, as text.
 *
 * Prometheus asks a server, every few seconds, for GET /metrics and
 * reads back lines of text, one number each:
 *
 *	# HELP corolab_task_steps_total Task steps run.
 *	# TYPE corolab_task_steps_total counter
 *	corolab_task_steps_total 48211
 *	# TYPE corolab_chat_members gauge
 *	corolab_chat_members{room="lobby"} 3
 *
 * A counter only goes up (its name ends in _total, and a graph shows its
 * rate: steps per second); a gauge is a value now (tasks, members); a
 * histogram counts observations into buckets of given upper bounds
 * (name_bucket{le="0.001"} is how many were <= 1 ms, cumulative, up to
 * le="+Inf", with name_sum and name_count).
 *
 * cl_metrics_new turns it on for a loop. The loop's own series are always
 * there, read from struct cl_loop when the text is made (iterations,
 * callbacks, task steps, slow callbacks, the time each iteration spent
 * running callbacks, the ready queue, tasks, timers, watched descriptors,
 * bytes in and out). A program adds its own:
 *
 *	struct cl_metric *req = cl_metrics_counter(m,
 *		"app_requests_total", "Requests served.");
 *	cl_metric_add(req, 1);
 *
 * and, for series with labels that only it can enumerate (members per
 * room), a collector: a function called at each scrape that writes
 * families and samples (the chat's, chat.c). cl_metrics_render makes the
 * text; the chat's HTTP handler serves it at GET /metrics.
 *
 * The text is Prometheus's exposition format 0.0.4: label values escape
 * backslash, double quote and newline (\\ \" \n), HELP text backslash and
 * newline; numbers are written as Go's strconv.FormatFloat(v, 'g', -1, 64)
 * writes them (the shortest digits that read back as the same double:
 * 0.1, 1e-05, 1.234567e+06) and +Inf, -Inf, NaN.
 *
 * Python: prometheus_client (Counter, Gauge, Histogram, a custom
 * collector's collect() yielding metric families, exposition.py
 * generate_latest, utils.py floatToGoString); Prometheus's own
 * client_golang expfmt/text_create.go (writeFloat, escaping).
 */
#ifndef CL_METRICS_H
#define CL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct cl_metrics;
struct cl_metric;
struct cl_metrics_out;

enum cl_metric_type {
	CL_METRIC_COUNTER,   /* goes up only; name ends in _total */
	CL_METRIC_GAUGE,     /* a value now */
	CL_METRIC_HISTOGRAM, /* observations in buckets */
};

/*
 * Metrics for loop: loop->metrics is m, and the loop times its
 * iterations from now on (loop->timed; the busy histogram). NULL and
 * errno: ENOMEM, or EBUSY when the loop has metrics already.
 */
struct cl_metrics *cl_metrics_new(struct cl_loop *loop);

/* Free m and everything registered with it; the loop goes back to timing
 * only in debug mode. Call before the loop is freed. NULL is ignored. */
void cl_metrics_free(struct cl_metrics *m);

/*
 * A counter, a gauge, or a histogram with n upper bounds (finite,
 * strictly increasing; the +Inf bucket is implicit), starting at 0, to
 * be rendered with every scrape until m is freed. name: a metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*), ending in _total for a counter; help: any
 * text (NULL: none). NULL and errno: EINVAL for a bad name or bounds,
 * EEXIST for a name taken (by the loop's series too), ENOMEM.
 */
struct cl_metric *cl_metrics_counter(struct cl_metrics *m, const char *name,
				     const char *help);
struct cl_metric *cl_metrics_gauge(struct cl_metrics *m, const char *name,
				   const char *help);
struct cl_metric *cl_metrics_histogram(struct cl_metrics *m, const char *name,
				       const char *help, const double *bounds,
				       size_t n);

/*
 * counter.inc(v) and gauge.inc(v) (or dec, with v < 0); gauge.set(v);
 * histogram.observe(v). -EINVAL, and nothing changes, for a counter
 * given v < 0 or NaN (as prometheus_client's ValueError), and for a
 * call that is not the metric's kind.
 */
int cl_metric_add(struct cl_metric *c, double v);
int cl_metric_set(struct cl_metric *g, double v);
int cl_metric_observe(struct cl_metric *h, double v);
/* A counter's or gauge's value; a histogram's count. */
double cl_metric_value(const struct cl_metric *c);

/*
 * A collector: fn(out, arg) is called at every scrape, after the
 * metrics above, and writes families with cl_metrics_family and their
 * samples with cl_metrics_sample (prometheus_client's custom collector).
 * 0, -EEXIST if (fn, arg) collects already, -ENOMEM. uncollect: 0, or
 * -ENOENT.
 */
typedef void (*cl_metrics_collector)(struct cl_metrics_out *out, void *arg);
int cl_metrics_collect(struct cl_metrics *m, cl_metrics_collector fn,
		       void *arg);
int cl_metrics_uncollect(struct cl_metrics *m, cl_metrics_collector fn,
			 void *arg);

/*
 * In a collector: begin family name (its HELP and TYPE lines). -EINVAL
 * for a bad name (a counter's must end in _total), -EEXIST for a name
 * this scrape has had already; the samples that follow it are then
 * dropped with the same error.
 */
int cl_metrics_family(struct cl_metrics_out *out, const char *name,
		      const char *help, enum cl_metric_type type);

/*
 * One sample of the current counter or gauge family: its value, then its
 * labels as name, value pairs ended by NULL:
 *
 *	cl_metrics_sample(out, 3, "room", "lobby", NULL);
 *
 * -EINVAL, and the sample is dropped, for a bad label name
 * ([a-zA-Z_][a-zA-Z0-9_]*, not beginning with __) or one given twice, a
 * NULL value, outside a counter or gauge family, or after a family that
 * failed.
 */
int cl_metrics_sample(struct cl_metrics_out *out, double v, ...)
	__attribute__((sentinel));

/*
 * One histogram of the current histogram family: n bounds as above,
 * counts[0..n] per bucket, not cumulative (counts[i]: observations in
 * (bounds[i-1], bounds[i]]; counts[n]: above the last bound), their sum,
 * then labels as for cl_metrics_sample ("le" is taken). -EINVAL as
 * there.
 */
int cl_metrics_sample_histogram(struct cl_metrics_out *out,
				const double *bounds, const uint64_t *counts,
				size_t n, double sum, ...)
	__attribute__((sentinel));

/*
 * The exposition text of every series, malloc'd, NUL-terminated, its
 * length in *len (len may be NULL). NULL and errno (ENOMEM) on error.
 */
char *cl_metrics_render(struct cl_metrics *m, size_t *len);

/* The Content-Type of that text. */
#define CL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
