/*
 * pipeline.c - three stages joined by bounded queues: back-pressure.
 *
 *	pipeline		a small run to watch, then the measurements
 *
 * A reader makes records fast (1 KiB each, as read from a file), a
 * parser turns each into its result, and a writer stores them slowly (a
 * database that takes 1 ms a record). Queues join the stages:
 *
 *	reader --queue:1--> parser --queue:2--> writer
 *	 fast                                    1 ms a record
 *
 * With maxsize 4, a queue that is full makes put wait: the reader can
 * run at most 4 records ahead of the parser, the parser 4 ahead of the
 * writer. However many records go through, no more than about ten are
 * in memory at once: the slow end's pace travels back up the pipeline.
 * That is back-pressure. With unbounded queues (maxsize 0) the reader
 * never waits: it reads everything first, and memory grows with N.
 *
 *	async def reader(q1, n):
 *	    for i in range(n):
 *	        await q1.put(bytearray(1024))	# waits while q1 is full
 *	    await q1.put(None)
 *	async def parser(q1, q2):
 *	    while (rec := await q1.get()) is not None:
 *	        await q2.put(parse(rec))
 *	    await q2.put(None)
 *	async def writer(q2):
 *	    while (rec := await q2.get()) is not None:
 *	        await asyncio.sleep(0.001)		# the slow database
 *	q1, q2 = asyncio.Queue(maxsize=4), asyncio.Queue(maxsize=4)
 *	await asyncio.gather(reader(q1, n), parser(q1, q2), writer(q2))
 *
 * What it prints: first a small run (8 records, maxsize 2), one line
 * per record written, with the queues' sizes at that moment; then a
 * table, for N = 1000 and 10000 records through queues of maxsize 4
 * and through unbounded ones: the largest size each queue reached, the
 * most records alive at once, and the most heap in use (glibc's
 * mallinfo2, minus what was in use before the run). Bounded, every
 * column stays the same whatever N; unbounded, they grow with N.
 *
 * The trace (COROLAB_TRACE=pipeline.trace; chapter 07's
 * img/pipeline.svg) is of the small run only: the measurements close
 * the trace file first (cl_trace_close), or it would hold a million
 * events. In the timeline each queue has a lane of its own under the
 * event loop, a bar as high as the items it holds ("queue.put queue=1
 * size=2" in the trace), with its maxsize as a red dashed line: the bar
 * of queue:1 sits on the line while the reader's lane says "await
 * queue:1" (the reader held at put), until the writer's sleep ends and
 * one record moves down the pipeline.
 *
 * The loop runs on the virtual clock: a run of 10000 records "takes"
 * 10 s of virtual time and a fraction of a second of real time, and the
 * numbers are the same on every run.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gather.h"
#include "queues.h"
#include "run.h"
#include "task.h"
#include "trace.h"

#define RECORD 1024 /* bytes in a record */

struct pipeline {
	long n;		   /* records to read */
	size_t maxsize;	   /* of both queues; 0: unbounded */
	int verbose;	   /* print each record written */
	struct cl_queue q1, q2;
	size_t max1, max2; /* the largest qsize each queue reached */
	long live, peak;   /* records allocated and not freed yet */
	size_t heap0, heap; /* heap in use before the run, and at most */
};

/* Heap in use now (mallinfo2), 0 where malloc does not say (ASan). */
static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/* After each put: how full the queues got, how much is alive. */
static void measure(struct pipeline *p)
{
	size_t h;

	if (cl_queue_qsize(&p->q1) > p->max1)
		p->max1 = cl_queue_qsize(&p->q1);
	if (cl_queue_qsize(&p->q2) > p->max2)
		p->max2 = cl_queue_qsize(&p->q2);
	if (p->live > p->peak)
		p->peak = p->live;
	h = heap_in_use();
	if (h > p->heap)
		p->heap = h;
}

static void *reader(void *arg)
{
	struct pipeline *p = arg;

	for (long i = 1; i <= p->n; i++) {
		char *rec = malloc(RECORD);

		if (rec == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		memset(rec, 'a' + (int)(i % 26), RECORD);
		rec[0] = (char)(i & 0x7f);
		p->live++;
		cl_queue_put(&p->q1, rec); /* waits while q1 is full */
		measure(p);
	}
	cl_queue_put(&p->q1, NULL); /* the end */
	return NULL;
}

/* The parse: a record becomes its checksum, and the record is freed. */
static void *parser(void *arg)
{
	struct pipeline *p = arg;
	char *rec;

	while ((rec = cl_queue_get(&p->q1)) != NULL) {
		long *sum = malloc(sizeof *sum);

		if (sum == NULL)
			cl_raise(cl_exc_new(&cl_MemoryError, NULL));
		*sum = 0;
		for (int i = 0; i < RECORD; i++)
			*sum += (unsigned char)rec[i];
		free(rec);
		p->live--;
		cl_queue_put(&p->q2, sum); /* waits while q2 is full */
		measure(p);
	}
	cl_queue_put(&p->q2, NULL);
	return NULL;
}

static void *writer(void *arg)
{
	struct pipeline *p = arg;
	long *sum, n = 0;

	while ((sum = cl_queue_get(&p->q2)) != NULL) {
		cl_sleep(0.001); /* the slow database */
		n++;
		if (p->verbose)
			printf("%4.0f ms  writer: record %ld stored (sum %ld); "
			       "queue:1 holds %zu, queue:2 %zu\n",
			       cl_loop_time(cl_get_running_loop()) * 1000, n,
			       *sum, cl_queue_qsize(&p->q1),
			       cl_queue_qsize(&p->q2));
		free(sum);
	}
	return CL_INT(n);
}

static void *main_task(void *arg)
{
	struct pipeline *p = arg;
	struct cl_future *t[3], *all;

	/* Made inside the loop, so that the trace has their queue.new
	 * (and maxsize) too. */
	cl_queue_init(&p->q1, p->maxsize);
	cl_queue_init(&p->q2, p->maxsize);
	t[0] = cl_task_future(cl_create_task(reader, p, "reader"));
	t[1] = cl_task_future(cl_create_task(parser, p, "parser"));
	t[2] = cl_task_future(cl_create_task(writer, p, "writer"));
	all = cl_gather(3, t);
	cl_await(all);
	cl_future_decref(all);
	for (int i = 0; i < 3; i++)
		cl_future_decref(t[i]);
	cl_queue_fini(&p->q1);
	cl_queue_fini(&p->q2);
	return NULL;
}

/* One run of n records through queues of maxsize max (0: unbounded). */
static int run(struct pipeline *p, long n, size_t max, int verbose)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL, .name = "main" };
	void *out;
	int st;

	memset(p, 0, sizeof *p);
	p->n = n;
	p->verbose = verbose;
	p->maxsize = max;
	p->heap0 = p->heap = heap_in_use();
	st = cl_run_with(main_task, p, &opts, &out);
	if (st != 0) {
		fprintf(stderr, "pipeline: cl_run returned %d\n", st);
		if (st == CL_RUN_RAISED) {
			cl_exc_print(out, stderr);
			cl_exc_decref(out);
		}
	}
	return st;
}

static void row(const struct pipeline *p, size_t max)
{
	char maxs[16], heap[32];

	snprintf(maxs, sizeof maxs, "%zu", max);
	if (p->heap0 == 0 && p->heap == 0)
		snprintf(heap, sizeof heap, "-"); /* no mallinfo2 (ASan) */
	else
		snprintf(heap, sizeof heap, "%zu KiB",
			 (p->heap - p->heap0) / 1024);
	printf("%-9s %6ld  %7zu  %7zu  %10ld  %10s\n",
	       max ? maxs : "unbounded", p->n, p->max1, p->max2, p->peak,
	       heap);
}

int main(void)
{
	static const long sizes[] = { 1000, 10000 };
	static const size_t maxes[] = { 4, 0 };
	struct pipeline p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("A small run: 8 records, queues of maxsize 2, the writer "
	       "1 ms a record\n");
	if (run(&p, 8, 2, 1) != 0)
		return 1;
	printf("at most %zu and %zu items in the queues, %ld records "
	       "alive\n\n", p.max1, p.max2, p.peak);

	/* The trace is of the small run: the ones below would fill it
	 * with a million events. */
	cl_trace_close();
	printf("%-9s %6s  %7s  %7s  %10s  %10s\n", "maxsize", "N",
	       "queue:1", "queue:2", "records", "heap");
	for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			if (run(&p, sizes[i], maxes[m], 0) != 0)
				return 1;
			row(&p, maxes[m]);
		}
	printf("(the largest size of each queue, the most records alive at "
	       "once, the most heap in use)\n");
	return 0;
}
