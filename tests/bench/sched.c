/*
 * sched.c - what chapter 03's scheduler costs: a task step, a spawn, a
 * parked task.
 *
 *	sched [-r reps] [-t ms] [-n units] [-m tasks]
 *
 *	-r	repetitions of each method; the best one counts (default 5)
 *	-t	target time of one repetition in milliseconds (default 200)
 *	-n	fixed number of units (steps or tasks) per repetition
 *		(default: calibrated so that one repetition takes about -t ms)
 *	-m	parked tasks for the memory figure (default 25000, or 0 in
 *		sched_notrace; 0: no memory figure)
 *
 * sched.py does the same things with CPython's asyncio; tests/bench/run.sh
 * runs both side by side and prints the ratios. Every timed method is one
 * cl_run on the real clock, as asyncio.run would be, timed from inside the
 * main coroutine (making and freeing the loop is not counted):
 *
 *	sched_step2	2 tasks, each looping cl_sleep(0); the figure is
 *			ns per cl_sleep(0), that is per task step: resume
 *			the coroutine, yield, queue its next step, take it
 *			off the ready queue again. Creating the tasks and
 *			their ending are not counted (see stepper)
 *	sched_step1000	the same with 1000 tasks: one loop iteration runs
 *			1000 steps on 1000 stacks
 *	spawn		create a task whose coroutine returns at once and
 *			await it, one after the other; ns per task, all
 *			counted: the task, its coroutine, a stack from the
 *			pool, two loop iterations, freeing it all
 *	spawn_gather	create 1000 such tasks, gather them, and again;
 *			ns per task. The stack pool keeps 64 stacks
 *			(CL_STACK_POOL_MAX), so most of these stacks come
 *			fresh from the kernel and go back to it
 *	parked		not a time: bytes of resident memory (VmRSS) per
 *			task parked on a future that nobody completes yet
 *
 * The main coroutine creates the tasks and awaits them in order; it waits
 * on a future meanwhile, so its own steps are not counted as steps.
 *
 * Built twice by bench.mk. As "sched", against the library as it is: the
 * methods are "corolab", plus "corolab_traced" for sched_step2 with
 * tracing on (events written to /dev/null: the cost of formatting them).
 * As "sched_notrace", against a copy of the library compiled with
 * -DCOROLAB_NO_TRACE (CL_TRACE is the constant 0, trace.h): it measures
 * sched_step2 and spawn only, as "corolab_notrace", and run.sh prints
 * corolab/corolab_notrace, what tracing compiled in but off costs.
 *
 * Output, one line each ('#' starts a comment):
 *	<kind> <method> <ns per step or per task>
 *	parked <method> <bytes of VmRSS per parked task>
 *	syscall mmap_stack <ns per fresh stack: see map_stacks>
 *	ratio sched_step2 corolab_traced/corolab <n>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "gather.h"
#include "run.h"
#include "stack.h"
#include "task.h"
#include "trace.h"

#ifdef COROLAB_NO_TRACE
#define NOTRACE 1
#define METHOD	"corolab_notrace"
#else
#define NOTRACE 0
#define METHOD	"corolab"
#endif

/* The tasks of sched_step1000, the batch of spawn_gather. */
#define MAX_TASKS      1000
#define PARKED_DEFAULT 25000


static void die(const char *what)
{
	fprintf(stderr, "sched: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct method;

/* One repetition: what the main coroutine is asked, and what it found. */
struct job {
	const struct method *m;
	long n;	      /* units asked for */
	long units;   /* units done (n rounded to whole tasks or batches) */
	double ns;    /* time they took */
	long k;	      /* sched_step: steps per task */
	double t_end; /* sched_step: when the first task ended its loop */
};

struct method {
	const char *kind;
	const char *name;
	void *(*main)(void *job); /* the main coroutine of one cl_run */
	void (*plain)(long n);	  /* or a plain function, without a loop */
	int ntasks;		  /* tasks or batch size, for main */
	int traced;		  /* tracing on, to /dev/null */
	int notrace_too;	  /* measured by sched_notrace as well */
	long n;			  /* units per repetition, from calibrate */
	double best;		  /* best ns per unit so far */
};

static struct cl_task *spawn_or_die(void *(*fn)(void *), void *arg)
{
	struct cl_task *t = cl_create_task(fn, arg, NULL);

	if (t == NULL)
		die("cl_create_task");
	return t;
}

/*
 * sched_step: await asyncio.sleep(0) in a loop, k + 1 times. The first
 * sleep is the warm-up: the clock starts once every task has taken its
 * first step (its stack faulted in), so creating the tasks is not
 * counted. The first task to get past its last sleep stops the clock,
 * so neither is their ending (returning, giving the stack back).
 */
static void *stepper(void *arg)
{
	struct job *b = arg;

	for (long i = 0; i <= b->k; i++)
		cl_sleep(0);
	if (b->t_end == 0)
		b->t_end = now_ns();
	return NULL;
}

/*
 * Between t0 and t_end, k iterations of the loop run one step of every
 * task each (resume after a sleep, yield at the next): k * ntasks steps.
 */
static void *steps_main(void *arg)
{
	struct job *b = arg;
	struct cl_task *t[MAX_TASKS];
	int ntasks = b->m->ntasks;
	double t0;

	b->k = b->n / ntasks > 0 ? b->n / ntasks : 1;
	for (int i = 0; i < ntasks; i++)
		t[i] = spawn_or_die(stepper, b);
	/* Our turn comes after every task has taken its first step. */
	cl_sleep(0);
	t0 = now_ns();
	for (int i = 0; i < ntasks; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	b->ns = b->t_end - t0;
	b->units = b->k * ntasks;
	return NULL;
}

/* spawn: a coroutine with nothing to do. */
static void *nop(void *arg)
{
	return arg;
}

static void *spawn_main(void *arg)
{
	struct job *b = arg;
	double t0 = now_ns();

	for (long i = 0; i < b->n; i++) {
		struct cl_task *t = spawn_or_die(nop, NULL);

		cl_await_task(t);
		cl_task_decref(t);
	}
	b->ns = now_ns() - t0;
	b->units = b->n;
	return NULL;
}

/* spawn_gather: await asyncio.gather(*(create_task(nop()) x batch)). */
static void *gather_main(void *arg)
{
	struct job *b = arg;
	struct cl_future *v[MAX_TASKS];
	int batch = b->m->ntasks;
	long rounds = b->n / batch > 0 ? b->n / batch : 1;
	double t0 = now_ns();

	for (long r = 0; r < rounds; r++) {
		struct cl_future *g;

		for (int i = 0; i < batch; i++)
			v[i] = cl_task_future(spawn_or_die(nop, NULL));
		g = cl_gather(batch, v);
		if (g == NULL)
			die("cl_gather");
		cl_await(g);
		cl_future_decref(g);
		for (int i = 0; i < batch; i++)
			cl_future_decref(v[i]);
	}
	b->ns = now_ns() - t0;
	b->units = rounds * batch;
	return NULL;
}

/*
 * Not a method: what a stack the pool cannot give costs, timed alone so
 * that the spawn_gather figure can be explained. In batches of 1000, as
 * spawn_gather makes them: mmap a stack and its guard page, mprotect the
 * guard, touch the top page (a page fault: the kernel zeroes a page),
 * and munmap it all again.
 */
static void map_stacks(long n)
{
	static char *map[MAX_TASKS];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = page + CL_STACK_DEFAULT;

	for (long done = 0; done < n; done += MAX_TASKS) {
		for (int i = 0; i < MAX_TASKS; i++) {
			map[i] = mmap(NULL, len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
				      -1, 0);
			if (map[i] == MAP_FAILED ||
			    mprotect(map[i], page, PROT_NONE) < 0)
				die("mmap");
			((volatile char *)map[i])[len - 64] = 1;
		}
		for (int i = 0; i < MAX_TASKS; i++)
			munmap(map[i], len);
	}
}

/*
 * sched_notrace measures only sched_step2 and spawn, the scheduler's own
 * paths, which pass a CL_TRACE at every step. sched_step1000 and
 * spawn_gather move too much from one process to the next (where 1000
 * stacks fall in the caches, what the kernel's mmap costs just then) for
 * two processes to be compared to within a few percent.
 */
static struct method methods[] = {
	{ "sched_step2", METHOD, steps_main, NULL, 2, 0, 1, 0, 0 },
	{ "sched_step2", "corolab_traced", steps_main, NULL, 2, 1, 0, 0, 0 },
	{ "sched_step1000", METHOD, steps_main, NULL, MAX_TASKS, 0, 0, 0, 0 },
	{ "spawn", METHOD, spawn_main, NULL, 1, 0, 1, 0, 0 },
	{ "spawn_gather", METHOD, gather_main, NULL, MAX_TASKS, 0, 0, 0, 0 },
	{ "syscall", "mmap_stack", NULL, map_stacks, MAX_TASKS, 0, 0, 0, 0 },
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Whether this build measures m. */
static int measured(const struct method *m)
{
	return !NOTRACE || m->notrace_too;
}

/* Where corolab_traced writes: a file in $TMPDIR or /tmp, removed after
 * each run. */
static char trace_path[256];

static const struct cl_run_opts run_opts = { CL_CLOCK_REAL, "bench", NULL };

/* One repetition of m over about n units; returns the ns it took and
 * sets *units to how many units that was. */
static double time_run(const struct method *m, long n, long *units)
{
	struct job b = { .m = m, .n = n };
	void *out;
	double t0;
	int st;

	if (m->plain != NULL) {
		n = (n + MAX_TASKS - 1) / MAX_TASKS * MAX_TASKS;
		t0 = now_ns();
		m->plain(n);
		*units = n;
		return now_ns() - t0;
	}
	/* A real file, as a traced program writes: through the tracer's
	 * memory-mapped window, page faults and all (trace.c). */
	if (m->traced && cl_trace_open(trace_path) < 0)
		die("cl_trace_open");
	st = cl_run_with(m->main, &b, &run_opts, &out);
	if (m->traced) {
		cl_trace_close();
		unlink(trace_path);
	}
	if (st != 0) {
		fprintf(stderr, "sched: %s %s: cl_run returned %d\n", m->kind,
			m->name, st);
		exit(1);
	}
	*units = b.units;
	return b.ns;
}

/* As in switch.c: grow tenfold until a run takes 10 ms (the warm-up),
 * then scale to the target. */
static long calibrate(const struct method *m, double target_ns)
{
	long n = 1000, units;
	double t;

	for (;;) {
		t = time_run(m, n, &units);
		if (t >= 10e6 || n >= 1000000000L)
			break;
		n *= 10;
	}
	if (t < 1)
		t = 1;
	n = (long)(units * (target_ns / t));
	return n < 1000 ? 1000 : n;
}

/*
 * parked: N tasks each awaiting one future that is completed only after
 * the measurement. What a parked task holds: its struct cl_task and
 * struct cl_gen (calloc), its struct cl_stack, its registration on the
 * future (a slot in the future's callback array), and its stack: 256 KiB
 * of address space of which only the pages touched so far are resident.
 * VmRSS counts those pages; page tables are counted apart (VmPTE).
 */
struct vm {
	long rss_kb, pte_kb, size_kb;
};

static void read_vm(struct vm *vm)
{
	char line[256];
	FILE *fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		die("/proc/self/status");
	while (fgets(line, sizeof line, fp) != NULL) {
		sscanf(line, "VmRSS: %ld", &vm->rss_kb);
		sscanf(line, "VmPTE: %ld", &vm->pte_kb);
		sscanf(line, "VmSize: %ld", &vm->size_kb);
	}
	fclose(fp);
}

struct parked {
	long asked, n; /* tasks asked for, tasks parked */
	struct vm before, after;
};

static void *parked_body(void *fut)
{
	return cl_await(fut);
}

static void *parked_main(void *arg)
{
	struct parked *p = arg;
	struct cl_future *f = cl_future_new(NULL);
	struct cl_task **t = calloc(p->n, sizeof *t);

	if (f == NULL || t == NULL)
		die("parked");
	read_vm(&p->before);
	for (long i = 0; i < p->n; i++)
		t[i] = spawn_or_die(parked_body, f);
	/* One iteration: every task takes its first step and parks. */
	cl_sleep(0);
	read_vm(&p->after);
	for (long i = 0; i < p->n; i++) {
		if (cl_task_done(t[i]) || t[i]->fut_waiter != f) {
			fprintf(stderr,
				"sched: parked task %ld is not waiting on the "
				"future\n",
				i);
			exit(1);
		}
	}
	/* Let them all finish: the run ends with nothing left over. */
	cl_future_set_result(f, NULL);
	for (long i = 0; i < p->n; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	cl_future_decref(f);
	free(t);
	return NULL;
}

/*
 * Each stack is two mappings (the guard page and the stack), and Linux
 * allows a process vm.max_map_count of them, 65530 by default: some 32,000
 * stacks. Ask for more and cl_create_task fails with ENOMEM. Returns how
 * many tasks fit, keeping 1000 mappings spare for everything else.
 */
static long parked_limit(void)
{
	long max = 65530, used = 0;
	FILE *fp = fopen("/proc/sys/vm/max_map_count", "r");
	int c;

	if (fp != NULL) {
		if (fscanf(fp, "%ld", &max) != 1)
			max = 65530;
		fclose(fp);
	}
	fp = fopen("/proc/self/maps", "r");
	if (fp != NULL) {
		while ((c = getc(fp)) != EOF)
			used += c == '\n';
		fclose(fp);
	}
	return (max - used - 1000) / 2;
}

/* Park n tasks (fewer if they do not fit) and measure; p says what. */
static void parked_run(struct parked *p, long n)
{
	long limit = parked_limit();
	void *out;
	int st;

	p->asked = n;
	p->n = n < limit ? n : limit;
	st = cl_run_with(parked_main, p, &run_opts, &out);
	if (st != 0) {
		fprintf(stderr, "sched: parked: cl_run returned %d\n", st);
		exit(1);
	}
}

static void parked_print(const struct parked *p)
{
	if (p->n < p->asked)
		printf("# parked: %ld tasks asked, %ld fit under "
		       "vm.max_map_count (2 mappings per stack)\n",
		       p->asked, p->n);
	printf("# parked: %ld tasks awaiting one future, stacks of %d KiB; "
	       "VmRSS +%ld KiB, page tables (VmPTE, not in VmRSS) +%ld KiB, "
	       "VmSize +%ld MiB\n",
	       p->n, CL_STACK_DEFAULT / 1024,
	       p->after.rss_kb - p->before.rss_kb,
	       p->after.pte_kb - p->before.pte_kb,
	       (p->after.size_kb - p->before.size_kb) / 1024);
	printf("parked %s %.0f\n", METHOD,
	       (p->after.rss_kb - p->before.rss_kb) * 1024.0 / p->n);
}

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200;
	long fixed_n = 0, units;
	struct parked p = { 0 };
	/* Tracing does not change what a task holds: measured once. */
	long parked = NOTRACE ? 0 : PARKED_DEFAULT;

	while ((opt = getopt(argc, argv, "r:t:n:m:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'n':
			fixed_n = atol(optarg);
			break;
		case 'm':
			parked = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: sched [-r reps] [-t ms] "
					"[-n units] [-m tasks]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	/* A trace file named in the environment would slow every method. */
	unsetenv("COROLAB_TRACE");
	snprintf(trace_path, sizeof trace_path, "%s/corolab-bench-%d.trace",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());

	/* First, in a fresh process: memory the allocator has kept from
	 * earlier runs would hide part of what the tasks cost. */
	if (parked > 0)
		parked_run(&p, parked);

	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		if (!measured(m))
			continue;
		m->n = fixed_n ? fixed_n : calibrate(m, target_ms * 1e6);
		m->best = 1e300;
	}
	/* Interleaved: one repetition of each method per pass. */
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < NMETHODS; i++) {
			struct method *m = &methods[i];
			double ns;

			if (!measured(m))
				continue;
			ns = time_run(m, m->n, &units);

			if (ns / units < m->best)
				m->best = ns / units;
		}
	}

	printf("# sched: real clock, best of %d interleaved repetitions; "
	       "units per repetition:",
	       reps);
	for (size_t i = 0; i < NMETHODS; i++)
		if (measured(&methods[i]))
			printf(" %s/%s %ld", methods[i].kind, methods[i].name,
			       methods[i].n);
	printf("\n");
	for (size_t i = 0; i < NMETHODS; i++)
		if (measured(&methods[i]))
			printf("%s %s %.2f\n", methods[i].kind,
			       methods[i].name, methods[i].best);
	if (parked > 0)
		parked_print(&p);
	/* methods[1] is methods[0] with tracing on. */
	if (!NOTRACE)
		printf("ratio sched_step2 corolab_traced/corolab %.2f\n",
		       methods[1].best / methods[0].best);
	return 0;
}
