/*
 * unbounded.c - planted bug 4: an unbounded queue between a fast
 * producer and a slow consumer, found with /metrics and a task dump.
 *
 *	unbounded		the bug: the queue grows for as long as it runs
 *	unbounded fixed		the cure: a bounded queue, back-pressure
 *
 * A log shipper: the "receiver" task takes a record every millisecond
 * (a client's request, say) and puts it in a queue; the "shipper" takes
 * records out and sends each one on, which takes 5 ms. Nothing fails.
 * The queue, asyncio.Queue() with no maxsize, just grows by 800 records
 * a second, and with it the memory and the age of the records shipped,
 * until the process is killed:
 *
 *	async def receiver(q):			async def shipper(q):
 *	    while True:				    while True:
 *	        await asyncio.sleep(0.001)	        rec = await q.get()
 *	        q.put_nowait(record())		        await ship(rec)	# 5 ms
 *
 * Tools: the program counts what it received and what it shipped, and
 * reports both, with the queue's length, on /metrics (metrics.h) as
 * every service should. Two scrapes half a second apart say it all:
 * received grows by 500, shipped by 100, the queue by 400. The task dump
 * then says who is behind: the shipper, in ship(), every time.
 *
 * The cure is a bound: Queue(maxsize=100). The receiver then waits in
 * put when the queue is full (the dump shows it waiting on the queue,
 * "100 of 100 items"): the slow end slows the fast one, which is what
 * back-pressure means. Whether that is right for a service (or whether
 * to shed load instead) is a decision; a queue that grows for ever is
 * not one.
 *
 * The loop runs on the virtual clock, so the figures are the same on
 * every run; the program renders /metrics itself (cl_metrics_render is
 * what the endpoint serves) and prints the app_ series.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "metrics.h"
#include "queues.h"
#include "run.h"
#include "task.h"
#include "value.h"

static int fixed;
static struct cl_queue records;
static struct cl_metric *received, *shipped;

static __attribute__((noinline)) void ship(void *rec)
{
	(void)rec;
	cl_sleep(0.005); /* the network */
	cl_metric_add(shipped, 1);
}

static void *shipper(void *arg)
{
	(void)arg;
	for (;;)
		ship(cl_queue_get(&records));
	return NULL;
}

static void *receiver(void *arg)
{
	(void)arg;
	for (long n = 1;; n++) {
		cl_sleep(0.001);
		cl_queue_put(&records, CL_INT(n));
		cl_metric_add(received, 1);
	}
	return NULL;
}

/* The queue's length, as a gauge, at each scrape. */
static void queue_gauge(struct cl_metrics_out *out, void *arg)
{
	(void)arg;
	cl_metrics_family(out, "app_queue_records",
			  "Records waiting to be shipped", CL_METRIC_GAUGE);
	cl_metrics_sample(out, (double)cl_queue_qsize(&records), NULL);
}

/* A scrape, as the endpoint would serve it: print the app_ lines. */
static void scrape(struct cl_metrics *m)
{
	size_t len;
	char *text = cl_metrics_render(m, &len), *line, *save;

	printf("scrape at %.1f s:\n", cl_loop_time(cl_get_running_loop()));
	if (text == NULL) {
		printf("  failed: %s\n", strerror(errno));
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "app_", 4) == 0)
			printf("  %s\n", line);
	fflush(stdout);
	free(text);
}

static void *main_task(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_metrics *m = cl_metrics_new(loop);
	struct cl_task *r, *s;

	(void)arg;
	received = cl_metrics_counter(m, "app_received_total",
				      "Records received");
	shipped = cl_metrics_counter(m, "app_shipped_total",
				     "Records shipped");
	cl_metrics_collect(m, queue_gauge, NULL);
	r = cl_create_task(receiver, NULL, "receiver");
	s = cl_create_task(shipper, NULL, "shipper");
	cl_sleep(0.5005);
	scrape(m);
	cl_sleep(0.5);
	scrape(m);
	cl_dump_tasks(loop, stderr);
	cl_task_cancel(r);
	cl_task_cancel(s);
	cl_task_decref(r);
	cl_task_decref(s);
	cl_sleep(0);
	cl_metrics_free(m);
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;
	int rc;

	fixed = argc > 1 && strcmp(argv[1], "fixed") == 0;
	cl_queue_init(&records, fixed ? 100 : 0);
	rc = cl_run_with(main_task, NULL, &opts, &out);
	cl_queue_fini(&records);
	return rc == 0 ? 0 : 1;
}
