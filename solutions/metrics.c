/*
 * metrics.c - Prometheus's text exposition format for a loop (metrics.h).
 *
 * A scrape (cl_metrics_render) writes, in this order, the loop's own
 * series, the metrics registered with cl_metrics_counter and friends, and
 * what each collector writes. All three go through the same few calls:
 * a family (its HELP and TYPE lines), then its samples, each one line
 * "name{labels} value". What makes the text right, and what chapter 09's
 * lab asks for, is at the bottom of that stack:
 *
 *	cl__put_escaped	 a label value or HELP text, escaped
 *	cl__put_value	 a number as Prometheus's Go code writes it
 *	cl__put_histogram a histogram's cumulative buckets, _sum, _count
 *
 * The text grows in one buffer (struct cl__mbuf) that remembers its first
 * error, so that the writers need not check each other: a scrape that ran
 * out of memory halfway says so once, at the end.
 *
 * Python: prometheus_client's exposition.py (generate_latest: the HELP
 * and TYPE lines, the samples, the histogram's _bucket, _count, _sum),
 * utils.py (floatToGoString), metrics.py (Counter.inc's ValueError,
 * Histogram.observe); and client_golang's expfmt/text_create.go, which
 * is what Prometheus itself writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdwatch.h"
#include "metrics.h"

/* A growing text; err is its first error (a negative errno value), after
 * which nothing more is written. */
struct cl__mbuf {
	char *p;
	size_t len, cap;
	int err;
};

struct cl_metric {
	enum cl_metric_type type;
	char *name;		/* the family's name */
	char *help;		/* NULL: no HELP line */
	double value;		/* a counter's or a gauge's */
	size_t n;		/* a histogram's bounds ... */
	double *bounds;		/* ... strictly increasing, finite */
	uint64_t *counts;	/* n + 1 per-bucket counts (not cumulative);
				   counts[n]: above the last bound */
	double sum;		/* of the observations */
	struct cl_metric *next; /* in registration order */
};

struct cl__collector {
	cl_metrics_collector fn;
	void *arg;
	struct cl__collector *next; /* in registration order */
};

struct cl_metrics {
	struct cl_loop *loop;
	struct cl_metric *metrics, **metrics_tail;
	struct cl__collector *collectors, **collectors_tail;
	size_t last_len; /* the last scrape's size: the next one's start */
};

/* One scrape in the making. */
struct cl_metrics_out {
	struct cl__mbuf text;	/* the answer */
	struct cl__mbuf labels; /* the current sample's labels, escaped:
				   room="lobby",x="y" */
	struct cl__mbuf seen;	/* the names of this scrape's families, each
				   ended by NUL (duplicates are refused) */
	size_t name;		/* the current family's name: at seen.p +
				   name */
	enum cl_metric_type type; /* the current family's */
	int err;		/* 0: in a family; else why its samples are
				   refused (-EINVAL before the first) */
};

/* The buffer. */

static void cl__mbuf_reserve(struct cl__mbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->err != 0 || b->cap - b->len >= more)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->err = -ENOMEM;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void cl__put(struct cl__mbuf *b, const char *s, size_t n)
{
	cl__mbuf_reserve(b, n);
	if (b->err != 0 || n == 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void cl__puts(struct cl__mbuf *b, const char *s)
{
	cl__put(b, s, strlen(s));
}

static void cl__putc(struct cl__mbuf *b, char c)
{
	cl__put(b, &c, 1);
}

/* The format's two escapes and its numbers. */

// LAB ch09 metrics_text: cl__put_escaped appends s to b with \ as \\ and a
// LAB ch09: newline as \n, and, for a label value (label != 0), " as \";
// LAB ch09: cl__put_value appends v as client_golang's writeFloat: NaN,
// LAB ch09: +Inf, -Inf, 0, else strconv.FormatFloat(v, 'g', -1, 64): the
// LAB ch09: fewest digits that read back as v, in %e form when the
// LAB ch09: exponent is < -4 or >= 6 (1e-05, 0.0001, 1.5e+06). Section 6.
// HINT1 ch09: Escaping is one pass over s, character by character. For a
// HINT1 ch09: number, let printf find the digits: "%.*e" with more and
// HINT1 ch09: more of them until strtod gives v back.
// HINT2 ch09: 17 significant digits always read back. The exponent is
// HINT2 ch09: what follows the 'e' of that %e text; when it is between -4
// HINT2 ch09: and 5, write "%.*f" with the digits after the point that
// HINT2 ch09: the same count of significant digits needs.
// HINT3 ch09: for (p = 1; ; p++) { snprintf(s, n, "%.*e", p - 1, v);
// HINT3 ch09: if (p == 17 || strtod(s, NULL) == v) break; }
// HINT3 ch09: e = atoi(strchr(s, 'e') + 1); if -4 <= e < 6: decimals =
// HINT3 ch09: p - 1 - e (0 if negative), snprintf(s, n, "%.*f", decimals, v).
static void cl__put_escaped(struct cl__mbuf *b, const char *s, int label)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			cl__puts(b, "\\\\");
		else if (*s == '\n')
			cl__puts(b, "\\n");
		else if (*s == '"' && label)
			cl__puts(b, "\\\"");
		else
			cl__putc(b, *s);
	}
}

static void cl__put_value(struct cl__mbuf *b, double v)
{
	char s[40];
	int p, e, decimals;

	if (isnan(v)) {
		cl__puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		cl__puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		cl__putc(b, '0'); /* -0 too, as writeFloat */
		return;
	}
	for (p = 1;; p++) {
		snprintf(s, sizeof s, "%.*e", p - 1, v);
		if (p == 17 || strtod(s, NULL) == v)
			break;
	}
	e = atoi(strchr(s, 'e') + 1);
	if (e >= -4 && e < 6) {
		decimals = p - 1 - e;
		snprintf(s, sizeof s, "%.*f", decimals > 0 ? decimals : 0, v);
	}
	cl__puts(b, s);
}
// STUB ch09:
// static void cl__put_escaped(struct cl__mbuf *b, const char *s, int label)
// {
// 	(void)s, (void)label;
// 	b->err = -ENOSYS;
// }
//
// static void cl__put_value(struct cl__mbuf *b, double v)
// {
// 	(void)v;
// 	b->err = -ENOSYS;
// }
// END ch09

/* Names, as Prometheus's data model allows them. */

static int cl__is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int cl__is_metric_name(const char *s)
{
	if (s == NULL || !(cl__is_alpha(*s) || *s == ':'))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!(cl__is_alpha(*s) || *s == ':' ||
		      (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

static int cl__is_label_name(const char *s)
{
	return cl__is_metric_name(s) && strchr(s, ':') == NULL &&
	       strncmp(s, "__", 2) != 0;
}

static int cl__ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

static int cl__name_ok(const char *name, enum cl_metric_type type)
{
	return cl__is_metric_name(name) &&
	       (type != CL_METRIC_COUNTER || cl__ends_with(name, "_total"));
}

/* Samples. */

static const char *cl__out_name(const struct cl_metrics_out *o)
{
	return o->seen.p + o->name;
}

/* One line: name+suffix{labels,le="le"} v. le NULL: no le label. */
static void cl__put_line(struct cl_metrics_out *o, const char *suffix,
			 const double *le, double v)
{
	struct cl__mbuf *b = &o->text;

	cl__puts(b, cl__out_name(o));
	cl__puts(b, suffix);
	if (o->labels.len > 0 || le != NULL) {
		cl__putc(b, '{');
		cl__put(b, o->labels.p, o->labels.len);
		if (le != NULL) {
			if (o->labels.len > 0)
				cl__putc(b, ',');
			cl__puts(b, "le=\"");
			cl__put_value(b, *le);
			cl__putc(b, '"');
		}
		cl__putc(b, '}');
	}
	cl__putc(b, ' ');
	cl__put_value(b, v);
	cl__putc(b, '\n');
}

// LAB ch09 metrics_histogram: Write one histogram of the current family:
// LAB ch09: a _bucket line per bound, le="bounds[i]", counting every
// LAB ch09: observation <= it (cumulative: counts[] are per bucket), then
// LAB ch09: le="+Inf" with all of them, then _sum (sum) and _count (equal
// LAB ch09: to the +Inf bucket). prometheus_client's generate_latest;
// LAB ch09: read section 6.
// HINT1 ch09: cl__put_line(o, "_bucket", &bound, count) writes one line.
// HINT2 ch09: Keep a running total: add counts[i] before writing bucket i;
// HINT2 ch09: counts[n] joins it for the +Inf bucket (INFINITY, math.h).
static void cl__put_histogram(struct cl_metrics_out *o, const double *bounds,
			      const uint64_t *counts, size_t n, double sum)
{
	const double inf = INFINITY;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		total += counts[i];
		cl__put_line(o, "_bucket", &bounds[i], (double)total);
	}
	total += counts[n];
	cl__put_line(o, "_bucket", &inf, (double)total);
	cl__put_line(o, "_sum", NULL, sum);
	cl__put_line(o, "_count", NULL, (double)total);
}
// STUB ch09:
// static void cl__put_histogram(struct cl_metrics_out *o, const double *bounds,
// 			      const uint64_t *counts, size_t n, double sum)
// {
// 	(void)bounds, (void)counts, (void)n, (void)sum;
// 	o->text.err = -ENOSYS;
// }
// END ch09

static const char *const cl__type_names[] = {
	[CL_METRIC_COUNTER] = "counter",
	[CL_METRIC_GAUGE] = "gauge",
	[CL_METRIC_HISTOGRAM] = "histogram",
};

int cl_metrics_family(struct cl_metrics_out *o, const char *name,
		      const char *help, enum cl_metric_type type)
{
	struct cl__mbuf *b = &o->text;

	o->err = -EINVAL;
	if ((unsigned)type > CL_METRIC_HISTOGRAM || !cl__name_ok(name, type))
		return -EINVAL;
	for (size_t at = 0; at < o->seen.len; at += strlen(o->seen.p + at) + 1)
		if (strcmp(o->seen.p + at, name) == 0)
			return o->err = -EEXIST;
	o->name = o->seen.len;
	cl__put(&o->seen, name, strlen(name) + 1);
	if (o->seen.err != 0)
		return o->err = o->seen.err;
	if (help != NULL) {
		cl__puts(b, "# HELP ");
		cl__puts(b, name);
		cl__putc(b, ' ');
		cl__put_escaped(b, help, 0);
		cl__putc(b, '\n');
	}
	cl__puts(b, "# TYPE ");
	cl__puts(b, name);
	cl__putc(b, ' ');
	cl__puts(b, cl__type_names[type]);
	cl__putc(b, '\n');
	o->type = type;
	o->err = 0;
	return 0;
}

/* Does b, labels as cl__out_labels writes them, have label k? (Inside a
 * value a double quote is escaped, so k=" begins a label.) */
static int cl__has_label(const struct cl__mbuf *b, const char *k)
{
	size_t n = strlen(k);

	for (size_t i = 0; i + n + 2 <= b->len; i++)
		if ((i == 0 || b->p[i - 1] == ',') &&
		    memcmp(b->p + i, k, n) == 0 && b->p[i + n] == '=' &&
		    b->p[i + n + 1] == '"')
			return 1;
	return 0;
}

/* The labels of a sample, from name, value pairs ended by NULL, into
 * o->labels. le: "le" is taken (a histogram's). */
static int cl__out_labels(struct cl_metrics_out *o, va_list ap, int le)
{
	struct cl__mbuf *b = &o->labels;
	const char *k, *v;

	b->len = 0;
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (!cl__is_label_name(k) || v == NULL ||
		    (le && strcmp(k, "le") == 0) || cl__has_label(b, k))
			return -EINVAL;
		if (b->len > 0)
			cl__putc(b, ',');
		cl__puts(b, k);
		cl__puts(b, "=\"");
		cl__put_escaped(b, v, 1);
		cl__putc(b, '"');
	}
	return b->err;
}

int cl_metrics_sample(struct cl_metrics_out *o, double v, ...)
{
	va_list ap;
	int err;

	if (o->err != 0)
		return o->err;
	if (o->type == CL_METRIC_HISTOGRAM)
		return -EINVAL;
	va_start(ap, v);
	err = cl__out_labels(o, ap, 0);
	va_end(ap);
	if (err == 0)
		cl__put_line(o, "", NULL, v);
	return err;
}

int cl_metrics_sample_histogram(struct cl_metrics_out *o, const double *bounds,
				const uint64_t *counts, size_t n, double sum,
				...)
{
	va_list ap;
	int err;

	if (o->err != 0)
		return o->err;
	if (o->type != CL_METRIC_HISTOGRAM)
		return -EINVAL;
	va_start(ap, sum);
	err = cl__out_labels(o, ap, 1);
	va_end(ap);
	if (err == 0)
		cl__put_histogram(o, bounds, counts, n, sum);
	return err;
}

/* The loop's own series. */

enum {
	CL__ITERATIONS,
	CL__CALLBACKS,
	CL__STEPS,
	CL__SLOW,
	CL__BUSY,
	CL__READY,
	CL__TASKS,
	CL__TIMERS,
	CL__FDS,
	CL__BYTES_IN,
	CL__BYTES_OUT,
	CL__NSERIES
};

static const struct cl__series {
	const char *name, *help;
	enum cl_metric_type type;
} cl__loop_series[CL__NSERIES] = {
	[CL__ITERATIONS] = { "corolab_loop_iterations_total",
			     "Loop iterations begun.", CL_METRIC_COUNTER },
	[CL__CALLBACKS] = { "corolab_loop_callbacks_total",
			    "Callbacks the loop ran, task steps among them.",
			    CL_METRIC_COUNTER },
	[CL__STEPS] = { "corolab_task_steps_total", "Task steps run.",
			CL_METRIC_COUNTER },
	[CL__SLOW] = { "corolab_slow_callbacks_total",
		       "Callbacks longer than slow_callback_duration "
		       "(debug mode).",
		       CL_METRIC_COUNTER },
	[CL__BUSY] = { "corolab_loop_busy_seconds",
		       "Time each loop iteration spent running callbacks.",
		       CL_METRIC_HISTOGRAM },
	[CL__READY] = { "corolab_loop_ready", "Callbacks in the ready queue.",
			CL_METRIC_GAUGE },
	[CL__TASKS] = { "corolab_tasks", "Tasks not done yet.",
			CL_METRIC_GAUGE },
	[CL__TIMERS] = { "corolab_timers", "Timers pending (not cancelled).",
			 CL_METRIC_GAUGE },
	[CL__FDS] = { "corolab_fd_watches", "File descriptors watched.",
		      CL_METRIC_GAUGE },
	[CL__BYTES_IN] = { "corolab_bytes_received_total",
			   "Bytes read from sockets.", CL_METRIC_COUNTER },
	[CL__BYTES_OUT] = { "corolab_bytes_sent_total",
			    "Bytes written to sockets.", CL_METRIC_COUNTER },
};

/* stats.busy's upper bounds, in seconds: a decade each from 10 us (the
 * last bucket is above 1 s). */
static const double cl__busy_bounds[] = { 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1 };
_Static_assert(sizeof cl__busy_bounds / sizeof cl__busy_bounds[0] ==
		       CL_LOOP_BUSY_BUCKETS - 1,
	       "a bound for each of stats.busy's buckets but the last");

static void cl__loop_collect(struct cl_metrics_out *o, struct cl_loop *loop)
{
	const struct cl_loop_stats *st = &loop->stats;
	double v[CL__NSERIES] = {
		[CL__ITERATIONS] = (double)loop->iteration,
		[CL__CALLBACKS] = (double)st->callbacks,
		[CL__STEPS] = (double)st->steps,
		[CL__SLOW] = (double)st->slow,
		[CL__READY] = (double)loop->nready,
		[CL__TASKS] = (double)loop->ntasks,
		[CL__TIMERS] = (double)(loop->timers.len - loop->ncancelled),
		[CL__FDS] = (double)cl_loop_nwatched(loop),
		[CL__BYTES_IN] = (double)st->bytes_in,
		[CL__BYTES_OUT] = (double)st->bytes_out,
	};

	for (int i = 0; i < CL__NSERIES; i++) {
		const struct cl__series *s = &cl__loop_series[i];

		cl_metrics_family(o, s->name, s->help, s->type);
		if (i == CL__BUSY)
			cl_metrics_sample_histogram(
				o, cl__busy_bounds, st->busy,
				CL_LOOP_BUSY_BUCKETS - 1,
				(double)st->busy_ns / 1e9, NULL);
		else
			cl_metrics_sample(o, v[i], NULL);
	}
}

/* The registered metrics. */

static void cl__metric_collect(struct cl_metrics_out *o,
			       const struct cl_metric *mt)
{
	if (cl_metrics_family(o, mt->name, mt->help, mt->type) < 0)
		return;
	if (mt->type == CL_METRIC_HISTOGRAM)
		cl_metrics_sample_histogram(o, mt->bounds, mt->counts, mt->n,
					    mt->sum, NULL);
	else
		cl_metrics_sample(o, mt->value, NULL);
}

char *cl_metrics_render(struct cl_metrics *m, size_t *len)
{
	struct cl_metrics_out o = { .err = -EINVAL };
	struct cl__collector *c, *next;
	const struct cl_metric *mt;
	int err;

	cl__mbuf_reserve(&o.text, m->last_len + 1);
	cl__loop_collect(&o, m->loop);
	for (mt = m->metrics; mt != NULL; mt = mt->next)
		cl__metric_collect(&o, mt);
	for (c = m->collectors; c != NULL; c = next) {
		next = c->next;
		o.err = -EINVAL; /* no family yet */
		c->fn(&o, c->arg);
	}
	cl__putc(&o.text, '\0');
	err = o.text.err ? o.text.err : o.labels.err ? o.labels.err
						      : o.seen.err;
	free(o.labels.p);
	free(o.seen.p);
	if (err != 0) {
		free(o.text.p);
		errno = -err;
		return NULL;
	}
	m->last_len = o.text.len;
	if (len != NULL)
		*len = o.text.len - 1;
	return o.text.p;
}

/* Registration. */

struct cl_metrics *cl_metrics_new(struct cl_loop *loop)
{
	struct cl_metrics *m;

	if (loop->metrics != NULL) {
		errno = EBUSY;
		return NULL;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	m->loop = loop;
	m->metrics_tail = &m->metrics;
	m->collectors_tail = &m->collectors;
	loop->metrics = m;
	loop->timed = 1;
	return m;
}

static void cl__metric_free(struct cl_metric *mt)
{
	free(mt->name);
	free(mt->help);
	free(mt->bounds);
	free(mt->counts);
	free(mt);
}

void cl_metrics_free(struct cl_metrics *m)
{
	if (m == NULL)
		return;
	while (m->metrics != NULL) {
		struct cl_metric *mt = m->metrics;

		m->metrics = mt->next;
		cl__metric_free(mt);
	}
	while (m->collectors != NULL) {
		struct cl__collector *c = m->collectors;

		m->collectors = c->next;
		free(c);
	}
	if (m->loop->metrics == m) {
		m->loop->metrics = NULL;
		m->loop->timed = m->loop->debug;
	}
	free(m);
}

/* Is name a family of m's already (the loop's or a registered one)? */
static int cl__taken(const struct cl_metrics *m, const char *name)
{
	for (int i = 0; i < CL__NSERIES; i++)
		if (strcmp(cl__loop_series[i].name, name) == 0)
			return 1;
	for (const struct cl_metric *mt = m->metrics; mt; mt = mt->next)
		if (strcmp(mt->name, name) == 0)
			return 1;
	return 0;
}

static struct cl_metric *cl__metric_new(struct cl_metrics *m,
					enum cl_metric_type type,
					const char *name, const char *help)
{
	struct cl_metric *mt;

	if (!cl__name_ok(name, type)) {
		errno = EINVAL;
		return NULL;
	}
	if (cl__taken(m, name)) {
		errno = EEXIST;
		return NULL;
	}
	mt = calloc(1, sizeof *mt);
	if (mt == NULL)
		return NULL;
	mt->type = type;
	mt->name = strdup(name);
	mt->help = help != NULL ? strdup(help) : NULL;
	if (mt->name == NULL || (help != NULL && mt->help == NULL)) {
		cl__metric_free(mt);
		errno = ENOMEM;
		return NULL;
	}
	return mt;
}

static struct cl_metric *cl__metric_add(struct cl_metrics *m,
					struct cl_metric *mt)
{
	*m->metrics_tail = mt;
	m->metrics_tail = &mt->next;
	return mt;
}

struct cl_metric *cl_metrics_counter(struct cl_metrics *m, const char *name,
				     const char *help)
{
	struct cl_metric *mt = cl__metric_new(m, CL_METRIC_COUNTER, name, help);

	return mt != NULL ? cl__metric_add(m, mt) : NULL;
}

struct cl_metric *cl_metrics_gauge(struct cl_metrics *m, const char *name,
				   const char *help)
{
	struct cl_metric *mt = cl__metric_new(m, CL_METRIC_GAUGE, name, help);

	return mt != NULL ? cl__metric_add(m, mt) : NULL;
}

struct cl_metric *cl_metrics_histogram(struct cl_metrics *m, const char *name,
				       const char *help, const double *bounds,
				       size_t n)
{
	struct cl_metric *mt;

	for (size_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) ||
		    (i > 0 && bounds[i] <= bounds[i - 1])) {
			errno = EINVAL;
			return NULL;
		}
	mt = cl__metric_new(m, CL_METRIC_HISTOGRAM, name, help);
	if (mt == NULL)
		return NULL;
	mt->n = n;
	mt->bounds = malloc((n + 1) * sizeof *mt->bounds);
	mt->counts = calloc(n + 1, sizeof *mt->counts);
	if (mt->bounds == NULL || mt->counts == NULL) {
		cl__metric_free(mt);
		errno = ENOMEM;
		return NULL;
	}
	if (n > 0)
		memcpy(mt->bounds, bounds, n * sizeof *bounds);
	return cl__metric_add(m, mt);
}

int cl_metric_add(struct cl_metric *c, double v)
{
	if (c->type == CL_METRIC_HISTOGRAM ||
	    (c->type == CL_METRIC_COUNTER && !(v >= 0)))
		return -EINVAL;
	c->value += v;
	return 0;
}

int cl_metric_set(struct cl_metric *g, double v)
{
	if (g->type != CL_METRIC_GAUGE)
		return -EINVAL;
	g->value = v;
	return 0;
}

int cl_metric_observe(struct cl_metric *h, double v)
{
	size_t i = 0;

	if (h->type != CL_METRIC_HISTOGRAM)
		return -EINVAL;
	while (i < h->n && !(v <= h->bounds[i]))
		i++;
	h->counts[i]++;
	h->sum += v;
	return 0;
}

double cl_metric_value(const struct cl_metric *c)
{
	uint64_t n = 0;

	if (c->type != CL_METRIC_HISTOGRAM)
		return c->value;
	for (size_t i = 0; i <= c->n; i++)
		n += c->counts[i];
	return (double)n;
}

int cl_metrics_collect(struct cl_metrics *m, cl_metrics_collector fn,
		       void *arg)
{
	struct cl__collector *c;

	for (c = m->collectors; c != NULL; c = c->next)
		if (c->fn == fn && c->arg == arg)
			return -EEXIST;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	c->fn = fn;
	c->arg = arg;
	*m->collectors_tail = c;
	m->collectors_tail = &c->next;
	return 0;
}

int cl_metrics_uncollect(struct cl_metrics *m, cl_metrics_collector fn,
			 void *arg)
{
	struct cl__collector **pp, *c;

	for (pp = &m->collectors; (c = *pp) != NULL; pp = &c->next)
		if (c->fn == fn && c->arg == arg) {
			*pp = c->next;
			if (m->collectors_tail == &c->next)
				m->collectors_tail = pp;
			free(c);
			return 0;
		}
	return -ENOENT;
}
