/*
 * ch09_metrics.c - chapter 09, section 6: Prometheus /metrics (metrics.h).
 *
 * The first tests render on a loop that does not run and compare the
 * text, line for line, with what Prometheus's own code writes: the
 * escapes of label values and HELP text, numbers as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) writes them, a histogram's
 * cumulative buckets. The others scrape GET /metrics from the chapter 08
 * chat over a real socket, with WebSocket members in rooms and tasks
 * waiting, and hand the text to a real Prometheus parser, Python's
 * prometheus_client (Debian's python3-prometheus-client, which make
 * installs): it must parse, and the values it reads must be the loop's
 * and the chat's.
 *
 * Every render goes through both of the chapter's regions here
 * (metrics_text for every line, metrics_histogram for the loop's busy
 * histogram, which every scrape has), so with them stubbed no test
 * passes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chat.h"
#include "exc.h"
#include "fdwatch.h"
#include "future.h"
#include "grade.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "run.h"
#include "task.h"
#include "threads.h"
#include "ws.h"
#include "capture.h"

#define main unbounded_main
#define fixed unbounded_fixed
#define main_task unbounded_main_task
#define scrape unbounded_scrape
#include "../chapters/09-debugging/examples/unbounded.c"
#undef main
#undef fixed
#undef main_task
#undef scrape

#define SEC "6. Metrics"

/* Render m, failing the test with errno if that fails. */
static char *render(struct cl_metrics *m)
{
	size_t n = 12345;
	char *text = cl_metrics_render(m, &n);

	ck_assert_msg(text != NULL, "cl_metrics_render failed: %s",
		      strerror(errno));
	CL_EXPECT_INT(n, strlen(text));
	return text;
}

/* Fail unless text holds want, showing both. */
#define EXPECT_HAS(text, want)                                               \
	CL_EXPECT(strstr((text), (want)) != NULL,                            \
		  "expected the text to hold\n%s\n--- got ---\n%s", (want),  \
		  (text))

/* The family that begins with the line from: its HELP and TYPE lines
 * and its samples, up to the next family's first line, copied into
 * buf. */
static const char *family_text(const char *text, const char *from, char *buf,
			       size_t len)
{
	const char *p = strstr(text, from), *e;

	if (p == NULL)
		return "(absent)";
	for (e = p; strncmp(e, "# ", 2) == 0 && strchr(e, '\n') != NULL;)
		e = strchr(e, '\n') + 1; /* its HELP and TYPE */
	while (*e != '\0' && strncmp(e, "# ", 2) != 0)
		e = strchr(e, '\n') != NULL ? strchr(e, '\n') + 1
					    : e + strlen(e);
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

/* A collector writing the label values and numbers of the tests. */
struct sampler {
	const double *values;
	size_t n;
	int rc[10]; /* what the calls of the error test returned */
};

static void number_collector(struct cl_metrics_out *o, void *arg)
{
	const struct sampler *s = arg;
	char idx[24];

	cl_metrics_family(o, "t_numbers", NULL, CL_METRIC_GAUGE);
	for (size_t i = 0; i < s->n; i++) {
		snprintf(idx, sizeof idx, "%zu", i);
		cl_metrics_sample(o, s->values[i], "i", idx, NULL);
	}
}

static void label_collector(struct cl_metrics_out *o, void *arg)
{
	(void)arg;
	cl_metrics_family(o, "t_labels", "Quotes \"kept\", C:\\dir\\\nand "
			  "a second line.", CL_METRIC_GAUGE);
	cl_metrics_sample(o, 1, "path", "C:\\dir\\", "quote", "say \"hi\"",
			  NULL);
	cl_metrics_sample(o, 2, "text", "two\nlines", "empty", "", NULL);
	cl_metrics_sample(o, 3, "plain", "a b-c/d", NULL);
}

/* Label values escape \ " and newline; HELP text \ and newline only (a
 * double quote stays as it is there). Exposition format 0.0.4. */
START_TEST(test_metrics_escaping)
{
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_metrics *m = cl_metrics_new(loop);
	char buf[1024];
	char *text;

	ck_assert(m != NULL);
	CL_EXPECT_PTR(loop->metrics, m);
	CL_EXPECT_INT(loop->timed, 1);
	CL_EXPECT_INT(cl_metrics_collect(m, label_collector, NULL), 0);
	text = render(m);
	CL_EXPECT_STR(family_text(text, "# HELP t_labels", buf, sizeof buf),
		      "# HELP t_labels Quotes \"kept\", C:\\\\dir\\\\\\nand "
		      "a second line.\n"
		      "# TYPE t_labels gauge\n"
		      "t_labels{path=\"C:\\\\dir\\\\\",quote=\"say "
		      "\\\"hi\\\"\"} 1\n"
		      "t_labels{text=\"two\\nlines\",empty=\"\"} 2\n"
		      "t_labels{plain=\"a b-c/d\"} 3\n");
	free(text);
	cl_metrics_free(m);
	CL_EXPECT_PTR(loop->metrics, NULL);
	CL_EXPECT_INT(loop->timed, loop->debug); /* COROLAB_DEBUG=1: 1 */
	cl_loop_free(loop);
}
END_TEST

/* Numbers as Prometheus's Go code writes them: the shortest digits that
 * read back as the same double, in %e form when the exponent is below -4
 * or 6 and above (strconv.FormatFloat(v, 'g', -1, 64)); NaN, +Inf,
 * -Inf; -0 as 0. Python's prometheus_client.utils.floatToGoString
 * writes the same. */
START_TEST(test_metrics_numbers)
{
	static const double v[] = {
		0,	  -0.0,	      1,	   -1,	       0.1,
		0.30000000000000004, 1e-05,   0.0001,	   0.00012345,
		123456,	  999999,      1e+06,	   1234567,    1.5e+300,
		-2.5,	  1234.5,      5e-324,	   1.7976931348623157e308,
		1e21,	  2.0 / 3.0,   100,	   NAN,	       INFINITY,
		-INFINITY, 4503599627370497.0, -0.001,
	};
	static const char *const want[] = {
		"0",	     "0",	  "1",		 "-1",
		"0.1",	     "0.30000000000000004", "1e-05", "0.0001",
		"0.00012345", "123456",	  "999999",	 "1e+06",
		"1.234567e+06", "1.5e+300", "-2.5",	 "1234.5",
		"5e-324",    "1.7976931348623157e+308", "1e+21",
		"0.6666666666666666", "100", "NaN",	 "+Inf",
		"-Inf",	     "4.503599627370497e+15", "-0.001",
	};
	struct sampler s = { v, sizeof v / sizeof v[0], { 0 } };
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_metrics *m = cl_metrics_new(loop);
	static char fam[2048];
	char line[128];
	char *text;

	_Static_assert(sizeof v / sizeof v[0] ==
			       sizeof want / sizeof want[0],
		       "a written form for each number");
	cl_metrics_collect(m, number_collector, &s);
	text = render(m);
	for (size_t i = 0; i < s.n; i++) {
		snprintf(line, sizeof line, "\nt_numbers{i=\"%zu\"} %s\n", i,
			 want[i]);
		CL_EXPECT(strstr(text, line) != NULL,
			  "number %zu (%.17g): expected the line%s"
			  "--- got ---\n%s", i, v[i], line,
			  family_text(text, "# TYPE t_numbers", fam,
				      sizeof fam));
	}
	free(text);
	cl_metrics_free(m);
	cl_loop_free(loop);
}
END_TEST

/* A histogram: _bucket lines cumulative, one per bound and +Inf, the
 * bounds written as numbers are; _sum, and _count equal to the +Inf
 * bucket. A value on a bound falls into that bound's bucket (le is
 * "less than or equal"). prometheus_client's Histogram. */
START_TEST(test_metrics_histogram)
{
	static const double bounds[] = { 0.005, 0.1, 1, 2.5, 10 };
	static const double obs[] = { 0.001, 0.005, 0.05, 0.5, 0.5,
				      0.75, 7, 11, 100 };
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_metrics *m = cl_metrics_new(loop);
	struct cl_metric *h, *empty;
	char buf[2048];
	char *text;

	h = cl_metrics_histogram(m, "t_latency_seconds", "Latency.", bounds,
				 5);
	empty = cl_metrics_histogram(m, "t_empty", NULL, bounds, 0);
	ck_assert(h != NULL && empty != NULL);
	for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
		CL_EXPECT_INT(cl_metric_observe(h, obs[i]), 0);
	CL_EXPECT_INT(cl_metric_observe(empty, 3), 0);
	CL_EXPECT(cl_metric_value(h) == 9, "count: expected 9, got %g",
		  cl_metric_value(h));
	text = render(m);
	CL_EXPECT_STR(family_text(text, "# HELP t_latency_seconds", buf,
				  sizeof buf),
		      "# HELP t_latency_seconds Latency.\n"
		      "# TYPE t_latency_seconds histogram\n"
		      "t_latency_seconds_bucket{le=\"0.005\"} 2\n"
		      "t_latency_seconds_bucket{le=\"0.1\"} 3\n"
		      "t_latency_seconds_bucket{le=\"1\"} 6\n"
		      "t_latency_seconds_bucket{le=\"2.5\"} 6\n"
		      "t_latency_seconds_bucket{le=\"10\"} 7\n"
		      "t_latency_seconds_bucket{le=\"+Inf\"} 9\n"
		      "t_latency_seconds_sum 119.806\n"
		      "t_latency_seconds_count 9\n");
	CL_EXPECT_STR(family_text(text, "# TYPE t_empty", buf, sizeof buf),
		      "# TYPE t_empty histogram\n"
		      "t_empty_bucket{le=\"+Inf\"} 1\n"
		      "t_empty_sum 3\n"
		      "t_empty_count 1\n");
	free(text);
	cl_metrics_free(m);
	cl_loop_free(loop);
}
END_TEST

static void nothing(void *arg)
{
	(void)arg;
}

/* Labels with a histogram, from a collector: le comes last. */
static void histo_collector(struct cl_metrics_out *o, void *arg)
{
	static const double b[] = { 1, 2 };
	static const uint64_t c[] = { 0, 4, 1 };

	(void)arg;
	cl_metrics_family(o, "t_sizes", NULL, CL_METRIC_HISTOGRAM);
	cl_metrics_sample_histogram(o, b, c, 2, 8.5, "room", "a\"b", NULL);
}

/* The loop's own series, in order, with their values: the counters of
 * struct cl_loop_stats, the busy histogram from its per-decade counts
 * (cumulative, le="1e-05" up to le="1" and +Inf; _sum from busy_ns),
 * the ready queue, tasks, timers less the cancelled ones, watched
 * descriptors. */
START_TEST(test_metrics_loop_series)
{
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_metrics *m = cl_metrics_new(loop);
	struct cl_handle *t;
	char buf[2048];
	char *text;

	loop->iteration = 41;
	loop->stats.callbacks = 1234567;
	loop->stats.steps = 999;
	loop->stats.slow = 2;
	loop->stats.bytes_in = 100;
	loop->stats.bytes_out = 12000000;
	loop->stats.busy[0] = 5;
	loop->stats.busy[1] = 3;
	loop->stats.busy[3] = 1;
	loop->stats.busy[5] = 2;
	loop->stats.busy[6] = 1;
	loop->stats.busy_ns = 2500000000u;
	cl_loop_call_soon(loop, nothing, NULL);
	cl_loop_call_soon(loop, nothing, NULL);
	cl_loop_call_later(loop, 5, nothing, NULL);
	t = cl_loop_call_later(loop, 6, nothing, NULL);
	ck_assert_msg(t != NULL, "call_later failed (chapter 03)");
	cl_handle_incref(t);
	cl_loop_call_later(loop, 7, nothing, NULL);
	cl_handle_cancel(t);
	cl_handle_decref(t);
	cl_metrics_collect(m, histo_collector, NULL);
	text = render(m);
	CL_EXPECT_STR(family_text(text, "# HELP corolab_loop_iterations_total",
				  buf, sizeof buf),
		      "# HELP corolab_loop_iterations_total Loop iterations "
		      "begun.\n"
		      "# TYPE corolab_loop_iterations_total counter\n"
		      "corolab_loop_iterations_total 41\n");
	EXPECT_HAS(text, "# TYPE corolab_loop_callbacks_total counter\n"
			 "corolab_loop_callbacks_total 1.234567e+06\n");
	EXPECT_HAS(text, "# TYPE corolab_task_steps_total counter\n"
			 "corolab_task_steps_total 999\n");
	EXPECT_HAS(text, "# TYPE corolab_slow_callbacks_total counter\n"
			 "corolab_slow_callbacks_total 2\n");
	EXPECT_HAS(text, "# TYPE corolab_loop_busy_seconds histogram\n"
			 "corolab_loop_busy_seconds_bucket{le=\"1e-05\"} 5\n"
			 "corolab_loop_busy_seconds_bucket{le=\"0.0001\"} 8\n"
			 "corolab_loop_busy_seconds_bucket{le=\"0.001\"} 8\n"
			 "corolab_loop_busy_seconds_bucket{le=\"0.01\"} 9\n"
			 "corolab_loop_busy_seconds_bucket{le=\"0.1\"} 9\n"
			 "corolab_loop_busy_seconds_bucket{le=\"1\"} 11\n"
			 "corolab_loop_busy_seconds_bucket{le=\"+Inf\"} 12\n"
			 "corolab_loop_busy_seconds_sum 2.5\n"
			 "corolab_loop_busy_seconds_count 12\n");
	EXPECT_HAS(text, "# TYPE corolab_loop_ready gauge\n"
			 "corolab_loop_ready 2\n");
	EXPECT_HAS(text, "# TYPE corolab_tasks gauge\ncorolab_tasks 0\n");
	EXPECT_HAS(text, "# TYPE corolab_timers gauge\ncorolab_timers 2\n");
	EXPECT_HAS(text, "# TYPE corolab_fd_watches gauge\n"
			 "corolab_fd_watches 0\n");
	EXPECT_HAS(text, "# TYPE corolab_bytes_received_total counter\n"
			 "corolab_bytes_received_total 100\n");
	EXPECT_HAS(text, "# TYPE corolab_bytes_sent_total counter\n"
			 "corolab_bytes_sent_total 1.2e+07\n");
	EXPECT_HAS(text, "# TYPE t_sizes histogram\n"
			 "t_sizes_bucket{room=\"a\\\"b\",le=\"1\"} 0\n"
			 "t_sizes_bucket{room=\"a\\\"b\",le=\"2\"} 4\n"
			 "t_sizes_bucket{room=\"a\\\"b\",le=\"+Inf\"} 5\n"
			 "t_sizes_sum{room=\"a\\\"b\"} 8.5\n"
			 "t_sizes_count{room=\"a\\\"b\"} 5\n");
	CL_EXPECT(strstr(text, "corolab_loop_iterations_total") <
			  strstr(text, "corolab_bytes_sent_total") &&
		  strstr(text, "corolab_bytes_sent_total") <
			  strstr(text, "t_sizes"),
		  "expected the loop's series first, iterations to bytes "
		  "sent, then the collectors'; got\n%s", text);
	free(text);
	cl_metrics_free(m);
	cl_loop_free(loop);
}
END_TEST

/* What the collector of the error test tries. */
static void bad_collector(struct cl_metrics_out *o, void *arg)
{
	struct sampler *s = arg;

	s->rc[0] = cl_metrics_sample(o, 1, NULL); /* before a family */
	s->rc[1] = cl_metrics_family(o, "t_ok", NULL, CL_METRIC_GAUGE);
	s->rc[2] = cl_metrics_sample(o, 1, "9lives", "x", NULL);
	s->rc[3] = cl_metrics_sample(o, 2, "__reserved", "x", NULL);
	s->rc[4] = cl_metrics_sample(o, 3, "good", "yes", NULL);
	s->rc[5] = cl_metrics_family(o, "t_ok", NULL, CL_METRIC_GAUGE);
	s->rc[6] = cl_metrics_sample(o, 4, NULL); /* the failed family's */
	s->rc[7] = cl_metrics_family(o, "t_count", NULL, CL_METRIC_COUNTER);
	s->rc[8] = cl_metrics_family(o, "t_twice", NULL, CL_METRIC_GAUGE);
	s->rc[9] = cl_metrics_sample(o, 5, "a", "x,b=\"", "b", "y", "a", "z",
				     NULL);
	cl_metrics_sample(o, 6, "a", "x,b=\"", "b", "y", NULL);
}

/* Bad input gets a clear error and loses nothing: bad names (a counter's
 * must end in _total), a name taken (the loop's too), bounds that do not
 * increase, a counter going down (prometheus_client's ValueError), bad
 * label names, a label twice in one sample (and a value that only looks
 * like a second label is not that), a family twice in one scrape; the
 * rest still renders. */
START_TEST(test_metrics_bad_input)
{
	static const double up[] = { 1, 2 }, flat[] = { 1, 1 },
			    nan[] = { NAN };
	struct cl_loop *loop = cl_loop_new(CL_CLOCK_VIRTUAL);
	struct cl_metrics *m = cl_metrics_new(loop);
	struct sampler s = { 0 };
	struct cl_metric *c, *g;
	char *text;

	CL_EXPECT_PTR(cl_metrics_new(loop), NULL);
	CL_EXPECT_INT(errno, EBUSY);
	c = cl_metrics_counter(m, "t_jobs_total", "Jobs.");
	g = cl_metrics_gauge(m, "t_depth", NULL);
	ck_assert(c != NULL && g != NULL);
	CL_EXPECT_PTR(cl_metrics_counter(m, "t_jobs", NULL), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	CL_EXPECT_PTR(cl_metrics_gauge(m, "1st", NULL), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	CL_EXPECT_PTR(cl_metrics_gauge(m, "t-depth", NULL), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	CL_EXPECT_PTR(cl_metrics_gauge(m, "", NULL), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	CL_EXPECT_PTR(cl_metrics_gauge(m, "t_depth", NULL), NULL);
	CL_EXPECT_INT(errno, EEXIST);
	CL_EXPECT_PTR(cl_metrics_gauge(m, "corolab_tasks", NULL), NULL);
	CL_EXPECT_INT(errno, EEXIST);
	CL_EXPECT_PTR(cl_metrics_histogram(m, "t_h", NULL, flat, 2), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	CL_EXPECT_PTR(cl_metrics_histogram(m, "t_h", NULL, nan, 1), NULL);
	CL_EXPECT_INT(errno, EINVAL);
	ck_assert(cl_metrics_histogram(m, "t_h", NULL, up, 2) != NULL);
	CL_EXPECT_INT(cl_metric_add(c, 2), 0);
	CL_EXPECT_INT(cl_metric_add(c, -1), -EINVAL);
	CL_EXPECT_INT(cl_metric_add(c, NAN), -EINVAL);
	CL_EXPECT_INT(cl_metric_set(c, 0), -EINVAL);
	CL_EXPECT_INT(cl_metric_observe(c, 0), -EINVAL);
	CL_EXPECT_INT(cl_metric_set(g, 7), 0);
	CL_EXPECT_INT(cl_metric_add(g, -9), 0);
	CL_EXPECT_INT(cl_metrics_collect(m, bad_collector, &s), 0);
	CL_EXPECT_INT(cl_metrics_collect(m, bad_collector, &s), -EEXIST);
	text = render(m);
	CL_EXPECT_INT(s.rc[0], -EINVAL);
	CL_EXPECT_INT(s.rc[1], 0);
	CL_EXPECT_INT(s.rc[2], -EINVAL);
	CL_EXPECT_INT(s.rc[3], -EINVAL);
	CL_EXPECT_INT(s.rc[4], 0);
	CL_EXPECT_INT(s.rc[5], -EEXIST);
	CL_EXPECT_INT(s.rc[6], -EEXIST);
	CL_EXPECT_INT(s.rc[7], -EINVAL);
	CL_EXPECT_INT(s.rc[8], 0);
	CL_EXPECT_INT(s.rc[9], -EINVAL);
	EXPECT_HAS(text, "# TYPE t_twice gauge\n"
			 "t_twice{a=\"x,b=\\\"\",b=\"y\"} 6\n");
	EXPECT_HAS(text, "# HELP t_jobs_total Jobs.\n"
			 "# TYPE t_jobs_total counter\nt_jobs_total 2\n"
			 "# TYPE t_depth gauge\nt_depth -2\n"
			 "# TYPE t_h histogram\n");
	EXPECT_HAS(text, "# TYPE t_ok gauge\nt_ok{good=\"yes\"} 3\n");
	CL_EXPECT(strstr(text, "9lives") == NULL &&
		  strstr(text, "__reserved") == NULL &&
		  strstr(strstr(text, "t_ok") + 1, "t_ok") ==
			  strstr(text, "t_ok{good") &&
		  strstr(text, "t_count") == NULL,
		  "expected no trace of the refused samples and families; "
		  "got\n%s", text);
	free(text);
	CL_EXPECT_INT(cl_metrics_uncollect(m, bad_collector, &s), 0);
	CL_EXPECT_INT(cl_metrics_uncollect(m, bad_collector, &s), -ENOENT);
	text = render(m);
	CL_EXPECT(strstr(text, "t_ok") == NULL,
		  "expected the collector gone; got\n%s", text);
	free(text);
	cl_metrics_free(m);
	cl_loop_free(loop);
}
END_TEST

/*
 * The chat, over real sockets.
 */

static void run_real(void *(*fn)(void *), void *arg)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_REAL };
	void *out = NULL;
	int st = cl_run_with(fn, arg, &opts, &out);

	ck_assert_msg(st != CL_RUN_RAISED, "the test's main task raised %s: %s",
		      st == CL_RUN_RAISED ? cl_exc_name(out) : "",
		      st == CL_RUN_RAISED ? cl_exc_message(out) : "");
	ck_assert_msg(st == 0, "cl_run returned %d", st);
}

/* A member on cl_ws_connect: what it heard. */
struct client {
	struct cl_ws *ws;
	char heard[4096];
	size_t n;
};

static void client_message(struct cl_ws *ws, int opcode, const char *data,
			   size_t n)
{
	struct client *c = cl_ws_arg(ws);

	(void)opcode;
	if (c->n + n + 2 < sizeof c->heard) {
		memcpy(c->heard + c->n, data, n);
		c->n += n;
		c->heard[c->n++] = '\n';
		c->heard[c->n] = '\0';
	}
}

static void client_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct client *c = cl_ws_arg(ws);

	(void)code, (void)reason;
	c->ws = NULL;
}

static const struct cl_ws_ops client_ops = {
	.message = client_message,
	.closed = client_closed,
};

/* Join room as name and wait (2 s at most) for the "joined" reply. */
static void join(struct client *c, int port, const char *room,
		 const char *name)
{
	char line[128];

	memset(c, 0, sizeof *c);
	c->ws = cl_ws_connect("127.0.0.1", port, "/ws", &client_ops, c, NULL);
	snprintf(line, sizeof line, "join\t%s\t%s", room, name);
	cl_ws_send(c->ws, CL_WS_TEXT, line, strlen(line));
	for (int i = 0; i < 400 && strstr(c->heard, "joined") == NULL; i++)
		cl_sleep(0.005);
	ck_assert_msg(strstr(c->heard, "joined") != NULL,
		      "%s never heard \"joined\" (got \"%s\")", name,
		      c->heard);
}

/* One answer to GET /metrics, read by a plain blocking socket on a pool
 * thread (a client with no corolab in it) while the loop serves. */
struct scrape {
	int port;
	int status;
	char type[128]; /* Content-Type */
	char *body;	/* malloc'd */
};

static void *scrape_thread(void *arg)
{
	struct scrape *s = arg;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)s->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n"
				  "Connection: close\r\n\r\n";
	struct timeval tv = { 3, 0 };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *body, *ct;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	s->status = -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    send(fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		free(buf);
		return NULL;
	}
	while ((k = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)k;
		if (cap - len < 1024)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	buf[len] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL || sscanf(buf, "HTTP/1.1 %d", &s->status) != 1) {
		free(buf);
		return NULL;
	}
	*body = '\0';
	ct = strcasestr(buf, "\r\nContent-Type: ");
	if (ct != NULL)
		sscanf(ct + 16, "%127[^\r]", s->type);
	s->body = strdup(body + 4);
	free(buf);
	return NULL;
}

static void scrape(struct scrape *s, int port)
{
	free(s->body);
	memset(s, 0, sizeof *s);
	s->port = port;
	cl_to_thread(scrape_thread, s);
	CL_EXPECT(s->status == 200,
		  "GET /metrics: expected status 200, got %d (%s)", s->status,
		  s->body ? s->body : "no answer");
}

/*
 * The Prometheus parser, on each text: prints every family's name, type
 * and help, every sample as name{labels sorted} value, and checks each
 * histogram the way Prometheus reads it (buckets never decrease, the
 * +Inf one is last and equals _count).
 */
static const char py_parse[] =
	"import sys\n"
	"try:\n"
	"    from prometheus_client.parser import "
	"text_string_to_metric_families\n"
	"except ImportError as e:\n"
	"    print('MISSING', e)\n"
	"    sys.exit(3)\n"
	"for i, path in enumerate(sys.argv[1:]):\n"
	"    print('== scrape', i + 1)\n"
	"    for f in text_string_to_metric_families(open(path).read()):\n"
	"        print('family', f.name, f.type, repr(f.documentation))\n"
	"        for s in f.samples:\n"
	"            print(s.name + '{' + ','.join('%s=%r' % kv for kv in\n"
	"                  sorted(s.labels.items())) + '}', repr(s.value))\n"
	"        if f.type != 'histogram':\n"
	"            continue\n"
	"        b = [s for s in f.samples if s.name.endswith('_bucket')]\n"
	"        c = [s.value for s in f.samples\n"
	"             if s.name.endswith('_count')]\n"
	"        ok = (b and b[-1].labels['le'] == '+Inf' and\n"
	"              all(x.value <= y.value for x, y in zip(b, b[1:])) and\n"
	"              c == [b[-1].value])\n"
	"        print('histogram', f.name, 'ok' if ok else 'BAD')\n";

/* Parse n texts with prometheus_client; its output into out. */
static void prom_parse(char *const texts[], int n, char *out, size_t len)
{
	extern char **environ;
	char paths[2][64], *argv[6] = { "/usr/bin/python3", "-c",
					(char *)py_parse };
	posix_spawn_file_actions_t fa;
	int pfd[2], st;
	size_t got = 0;
	ssize_t k;
	pid_t pid;

	ck_assert(n <= 2);
	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(paths[i], sizeof paths[i], "/tmp/ch09-metrics-XXXXXX");
		fd = mkstemp(paths[i]);
		ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
		ck_assert(write(fd, texts[i], strlen(texts[i])) ==
			  (ssize_t)strlen(texts[i]));
		close(fd);
		argv[3 + i] = paths[i];
	}
	argv[3 + n] = NULL;
	ck_assert(pipe(pfd) == 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		ck_abort_msg("cannot run /usr/bin/python3: %s",
			     strerror(errno));
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	while (got + 1 < len &&
	       (k = read(pfd[0], out + got, len - 1 - got)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(pfd[0]);
	waitpid(pid, &st, 0);
	for (int i = 0; i < n; i++)
		unlink(paths[i]);
	CL_EXPECT(strncmp(out, "MISSING", 7) != 0,
		  "python3-prometheus-client is missing: run make deps, or "
		  "sudo apt-get install python3-prometheus-client (%s)", out);
	CL_EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "the Prometheus parser refused the text (status %d):\n%s",
		  st, out);
}

/* The value of the sample line "what VALUE" in the parser's output
 * (after the n-th "== scrape" line), or NAN if there is none. */
static double sample_of(const char *out, int n, const char *what)
{
	char mark[32], line[256];
	const char *p;

	snprintf(mark, sizeof mark, "== scrape %d\n", n);
	p = strstr(out, mark);
	snprintf(line, sizeof line, "\n%s ", what);
	p = p != NULL ? strstr(p, line) : NULL;
	if (p == NULL)
		return NAN;
	snprintf(mark, sizeof mark, "== scrape %d\n", n + 1);
	if (strstr(out, mark) != NULL && p > strstr(out, mark))
		return NAN;
	return strtod(p + strlen(line), NULL);
}

#define EXPECT_SAMPLE(out, n, what, want)                                    \
	do {                                                                 \
		double got_ = sample_of((out), (n), (what));                 \
		CL_EXPECT(got_ == (want),                                    \
			  "scrape %d, %s: expected %g, got %g; the parser "  \
			  "read:\n%s", (n), (what), (double)(want), got_,    \
			  (out));                                            \
	} while (0)

/* The scene of the parse test. */
struct scene {
	struct scrape s;
	size_t ntasks;	 /* loop->ntasks when it scraped */
	size_t nwatched; /* and cl_loop_nwatched */
	char *text;	 /* the answer */
};

static void *parked(void *arg)
{
	cl_await(arg);
	return NULL;
}

/* A collector of the test's own, with a label value the parser must
 * read back exactly. */
static void odd_collector(struct cl_metrics_out *o, void *arg)
{
	(void)arg;
	cl_metrics_family(o, "t_odd", "Back\\slash and\nnewline.",
			  CL_METRIC_GAUGE);
	cl_metrics_sample(o, 0.25, "v", "q\"b\\s\nn", NULL);
}

static void *parse_main(void *arg)
{
	struct scene *sc = arg;
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_metrics *m = cl_metrics_new(loop);
	struct cl_http_config hc = { .handler = cl_chat_http };
	struct cl_chat_config cc = { 0 };
	struct cl_future *gate = cl_future_new(loop);
	static struct client cl[5];
	struct cl_task *t[4];
	struct cl_http_server *srv;
	struct cl_chat *chat;
	int port;

	/* The program's metrics first: the chat joins them. */
	cl_metrics_collect(m, odd_collector, NULL);
	chat = cl_chat_new(loop, &cc);
	hc.arg = chat;
	srv = cl_http_serve(loop, "127.0.0.1", 0, &hc);
	port = cl_http_server_port(srv);
	for (int i = 0; i < 4; i++)
		t[i] = cl_create_task(parked, gate, "parked");
	join(&cl[0], port, "lobby", "ann");
	join(&cl[1], port, "lobby", "bob");
	join(&cl[2], port, "kitchen", "cat");
	join(&cl[3], port, "lobby", "dan");
	join(&cl[4], port, "kitchen", "eve");
	cl_ws_send(cl[0].ws, CL_WS_TEXT, "msg\thi", 6);
	for (int i = 0; i < 400 && strstr(cl[1].heard, "\thi\n") == NULL; i++)
		cl_sleep(0.005);
	sc->ntasks = loop->ntasks;
	scrape(&sc->s, port);
	sc->text = sc->s.body;
	sc->s.body = NULL;
	CL_EXPECT_PTR(loop->metrics, m);
	for (int i = 0; i < 5; i++)
		if (cl[i].ws != NULL)
			cl_ws_close(cl[i].ws, CL_WS_NORMAL, "bye");
	cl_future_set_result(gate, NULL);
	for (int i = 0; i < 4; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	cl_future_decref(gate);
	cl_http_server_close(srv);
	cl_chat_shutdown(chat, 1.0);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	/* The chat took its collector back, and left the metrics on. */
	CL_EXPECT_PTR(loop->metrics, m);
	sc->nwatched = cl_loop_nwatched(loop);
	cl_metrics_free(m);
	return NULL;
}

/* GET /metrics on the chat with five members in two rooms and four tasks
 * parked: Prometheus's parser takes the text, and reads the members of
 * each room, the connections, the tasks, the types and the label value
 * and HELP text with every escape, exactly. */
START_TEST(test_metrics_scrape_parses)
{
	static struct scene sc;
	static char out[65536];

	run_real(parse_main, &sc);
	CL_EXPECT_STR(sc.s.type, CL_METRICS_CONTENT_TYPE);
	prom_parse(&sc.text, 1, out, sizeof out);
	EXPECT_SAMPLE(out, 1, "corolab_chat_members{room='lobby'}", 3);
	EXPECT_SAMPLE(out, 1, "corolab_chat_members{room='kitchen'}", 2);
	EXPECT_SAMPLE(out, 1, "corolab_chat_connections{}", 5);
	EXPECT_SAMPLE(out, 1, "corolab_chat_rooms{}", 2);
	EXPECT_SAMPLE(out, 1, "corolab_chat_messages_total{}", 1);
	CL_EXPECT(sc.ntasks >= 5, "expected the main task and 4 parked, "
		  "got %zu tasks", sc.ntasks);
	EXPECT_SAMPLE(out, 1, "corolab_tasks{}", (double)sc.ntasks);
	EXPECT_SAMPLE(out, 1, "t_odd{v='q\"b\\\\s\\nn'}", 0.25);
	EXPECT_HAS(out, "family t_odd gauge 'Back\\\\slash and\\nnewline.'\n");
	EXPECT_HAS(out, "family corolab_task_steps counter 'Task steps "
			"run.'\n");
	EXPECT_HAS(out, "family corolab_chat_members gauge");
	EXPECT_HAS(out, "histogram corolab_loop_busy_seconds ok\n");
	CL_EXPECT(sample_of(out, 1, "corolab_fd_watches{}") >
			  (double)sc.nwatched,
		  "expected more descriptors watched while the members "
		  "were there (%zu after); the parser read:\n%s",
		  sc.nwatched, out);
	free(sc.text);
}
END_TEST

/* The increase test: two scrapes with work between them. */
struct twice {
	struct scrape s[2];
	char *text[2];
	int timed_after; /* loop->timed once the chat was freed */
	int debug;	 /* debug mode (COROLAB_DEBUG=1) times it too */
	int metrics_after; /* loop->metrics != NULL then */
};

static void *busy(void *arg)
{
	for (int i = 0; i < 50; i++)
		cl_sleep(0);
	return arg;
}

static void *twice_main(void *arg)
{
	struct twice *tw = arg;
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_http_config hc = { .handler = cl_chat_http };
	struct cl_chat_config cc = { 0 };
	struct cl_http_server *srv;
	struct cl_chat *chat;
	struct cl_task *t;
	int port;

	chat = cl_chat_new(loop, &cc);
	hc.arg = chat;
	srv = cl_http_serve(loop, "127.0.0.1", 0, &hc);
	port = cl_http_server_port(srv);
	CL_EXPECT_PTR(loop->metrics, NULL);
	scrape(&tw->s[0], port);
	tw->text[0] = tw->s[0].body;
	tw->s[0].body = NULL;
	t = cl_create_task(busy, NULL, "busy");
	cl_await_task(t);
	cl_task_decref(t);
	scrape(&tw->s[1], port);
	tw->text[1] = tw->s[1].body;
	tw->s[1].body = NULL;
	cl_http_server_close(srv);
	cl_chat_shutdown(chat, 1.0);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	tw->timed_after = loop->timed;
	tw->debug = loop->debug;
	tw->metrics_after = loop->metrics != NULL;
	return NULL;
}

/* The counters go up between two scrapes: task steps by at least the 50
 * of a task that slept 50 times, iterations and callbacks too, bytes
 * received by the second request and bytes sent by the first answer;
 * the loop timed its iterations from the first scrape on (the busy
 * histogram counts them), and stops once the chat is freed. */
START_TEST(test_metrics_counters_increase)
{
	static struct twice tw;
	static char out[131072];
	double a, b;

	run_real(twice_main, &tw);
	prom_parse(tw.text, 2, out, sizeof out);
	a = sample_of(out, 1, "corolab_task_steps_total{}");
	b = sample_of(out, 2, "corolab_task_steps_total{}");
	CL_EXPECT(b - a >= 51, "steps: expected at least 51 more (a task "
		  "that slept 50 times), got %g then %g", a, b);
	a = sample_of(out, 1, "corolab_loop_iterations_total{}");
	b = sample_of(out, 2, "corolab_loop_iterations_total{}");
	CL_EXPECT(b - a >= 50, "iterations: expected at least 50 more, got "
		  "%g then %g", a, b);
	a = sample_of(out, 1, "corolab_loop_callbacks_total{}");
	b = sample_of(out, 2, "corolab_loop_callbacks_total{}");
	CL_EXPECT(b - a >= 51, "callbacks: expected at least 51 more, got "
		  "%g then %g", a, b);
	a = sample_of(out, 1, "corolab_bytes_received_total{}");
	b = sample_of(out, 2, "corolab_bytes_received_total{}");
	CL_EXPECT(a >= 53 && b - a >= 53, "bytes received: expected each "
		  "request's 53 more, got %g then %g", a, b);
	a = sample_of(out, 1, "corolab_bytes_sent_total{}");
	b = sample_of(out, 2, "corolab_bytes_sent_total{}");
	CL_EXPECT(b - a >= (double)strlen(tw.text[0]),
		  "bytes sent: expected the first answer's %zu more, got %g "
		  "then %g", strlen(tw.text[0]), a, b);
	a = sample_of(out, 1, "corolab_loop_busy_seconds_count{}");
	b = sample_of(out, 2, "corolab_loop_busy_seconds_count{}");
	CL_EXPECT((a == 0 || tw.debug) && b - a >= 50, "busy histogram: "
		  "expected 0 iterations timed before the first scrape and "
		  "at least 50 more by the second, got %g and %g", a, b);
	EXPECT_HAS(out, "== scrape 2\n");
	CL_EXPECT(strstr(strstr(out, "== scrape 2\n"),
			 "histogram corolab_loop_busy_seconds ok\n") != NULL,
		  "expected the second scrape's busy histogram to be "
		  "cumulative with _count the +Inf bucket:\n%s", out);
	CL_EXPECT_INT(tw.metrics_after, 0);
	CL_EXPECT_INT(tw.timed_after, tw.debug);
	free(tw.text[0]);
	free(tw.text[1]);
}
END_TEST

/*
 * Planted bug 4: the unbounded queue. Two scrapes half a second apart
 * show what received and shipped (500 and 100 more) and the queue's
 * length (400, then 800): it grows by 800 records a second. The dump
 * names the task that is behind, the shipper, in ship(). Fixed with a
 * bound of 100, the queue stays at 100 and the dump shows the receiver
 * waiting on the full queue in receiver(): back-pressure.
 */
START_TEST(test_metrics_unbounded_program)
{
	char *argv[] = { "unbounded", NULL };
	char *fixed_argv[] = { "unbounded", "fixed", NULL };
	const char *err, *outp;

	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(unbounded_main(1, argv), 0);
	outp = capture_end(1);
	err = capture_end(2);
	CL_EXPECT(strstr(outp, "scrape at 0.5 s:\n"
			       "  app_received_total 500\n"
			       "  app_shipped_total 99\n"
			       "  app_queue_records 400\n"
			       "scrape at 1.0 s:\n"
			       "  app_received_total 1000\n"
			       "  app_shipped_total 199\n"
			       "  app_queue_records 800\n") != NULL,
		  "the two scrapes:\n%s", outp);
	CL_EXPECT(strstr(err, "task:3 'shipper' waiting 0.004 s on timer:") &&
			  strstr(err, "(sleep)\n  in ship+"),
		  "the dump should find the shipper in ship():\n%s", err);

	cl_queue_fini(&records);
	capture_begin(2);
	capture_begin(1);
	CL_EXPECT_INT(unbounded_main(2, fixed_argv), 0);
	outp = capture_end(1);
	err = capture_end(2);
	CL_EXPECT(count_of(outp, "  app_queue_records 100\n") == 2,
		  "the bounded queue stays at 100:\n%s", outp);
	CL_EXPECT(strstr(err, "task:2 'receiver' waiting 0.004 s on queue:") &&
			  strstr(err, " (100 of 100 items)\n  in receiver+"),
		  "the receiver should wait on the full queue:\n%s", err);
}
END_TEST

static void add_tests(void)
{
	cl_test(test_metrics_escaping, 2, SEC);
	cl_test(test_metrics_numbers, 2, SEC);
	cl_test(test_metrics_histogram, 2, SEC);
	cl_test(test_metrics_loop_series, 2, SEC);
	cl_test(test_metrics_bad_input, 1, SEC);
	cl_test_timeout(test_metrics_scrape_parses, 3, SEC, 10);
	cl_test_timeout(test_metrics_counters_increase, 2, SEC, 10);
	cl_test(test_metrics_unbounded_program, 3, "8. Four bugs");
}
CL_CHAPTER(9, "09-debugging", "debugging", add_tests)
