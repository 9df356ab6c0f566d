/*
 * ch07.c - what chapter 07 costs: a queue hand-off, a lock, a call on a
 * thread of the pool, an item of an async generator.
 *
 *	ch07 [-r reps] [-t ms] [-n units] [-k kind]
 *
 *	-r	repetitions of each method; the best one counts (default 5)
 *	-t	target time of one repetition in milliseconds (default 200)
 *	-n	fixed number of units per repetition (default: calibrated
 *		so that one repetition takes about -t ms; agen_for is not
 *		calibrated: 1,000,000 items)
 *	-k	measure the methods of that kind only (to run one under
 *		perf)
 *
 * ch07.py does the same things with CPython's asyncio; tests/bench/run.sh
 * runs both side by side and prints the ratios. Every corolab method is
 * one cl_run on the real clock, timed from inside the main coroutine
 * (making and freeing the loop is not counted); the repetitions of the
 * methods are interleaved.
 *
 *	queue_pair	a producer task puts n items (CL_INT(i)) into a
 *			Queue of maxsize 1, a consumer task gets them; ns
 *			per item. Every put after the first finds the queue
 *			full and every get finds it empty, so each item is
 *			two waits, two wake-ups, two task steps. Timed from
 *			before the two tasks are created to after both are
 *			awaited.
 *	queue_pair_unbounded  the same with an unbounded queue (maxsize
 *			0), the producer awaiting sleep(0) after every 64
 *			puts: the consumer gets the 64 items without
 *			waiting and waits once, on the 65th. So the figure
 *			is put and get themselves plus 1/64 of a wait, a
 *			wake-up and two steps, and the queue never holds
 *			more than 64 items (a producer that never yields
 *			would time how fast malloc grows a ring of n items).
 *	lock_uncontended  one task: acquire and release one Lock n times;
 *			ns per acquire+release. The lock is always free.
 *	lock_100waiters	100 tasks, each looping: acquire the Lock, one
 *			more acquire counted, sleep(0) holding it, release.
 *			Everyone else is queued on the lock, so each
 *			release hands it to the oldest waiter (FIFO), and
 *			the releasing task queues again at the back; ns per
 *			hand-off (acquires counted between the clock's start
 *			and stop). The clock starts once every task has
 *			taken its first step (one holds the lock, 99 wait)
 *			and stops when the first task ends its loop.
 *	to_thread	cl_to_thread(fn, NULL), fn returning at once, n
 *			times one after the other from the main task; ns
 *			per call (await asyncio.to_thread(fn)). One call
 *			first, untimed, starts the default pool's thread.
 *			corolab_held, an extra row: the same with the loop
 *			held by the main task (cl_loop_hold) around the
 *			calls, so that the loop's eventfd stays in epoll
 *			between calls instead of being added and removed
 *			(two epoll_ctl and a read) at every call, when the
 *			call's own hold is the only one.
 *	thread_create_join  not corolab: pthread_create of a thread that
 *			runs an empty function, and pthread_join; ns per
 *			pair. Method "pthread"; no Python peer.
 *	threadfloor	not corolab: the least a round trip to another
 *			thread and back to a loop asleep in epoll_wait can
 *			cost. The main thread sets a word and FUTEX_WAKEs a
 *			worker asleep in FUTEX_WAIT on it; the worker clears
 *			the word and writes an eventfd; the main thread,
 *			blocked in epoll_wait on that eventfd, wakes and
 *			reads it. ns per round trip, method "futex_eventfd";
 *			no Python peer. to_thread makes the same trip (a
 *			condition variable is a futex) with a pool's
 *			bookkeeping and a task's await around it: run.sh
 *			prints "ratio to_thread corolab/threadfloor".
 *			condvar_eventfd, an extra row: the worker waits on
 *			a condition variable under a mutex instead, as the
 *			pool's threads do (threads.c worker).
 *	agen_for	async for over an async generator that yields the
 *			integers 0 .. n-1 (cl_agen_yield(CL_INT(i))), n =
 *			1,000,000; ns per item. Timed from the generator's
 *			creation (cl_agen_new: its stack) to its end
 *			(cl_agen_for returns 0), its free included.
 *
 * Output, one line each ('#' starts a comment):
 *	<kind> corolab <ns per item, acquire, hand-off, call>
 *	to_thread corolab_held <ns per call, the loop held>
 *	thread_create_join pthread <ns per create+join>
 *	threadfloor futex_eventfd <ns per round trip>
 *	threadfloor condvar_eventfd <ns per round trip>
 *	ratio to_thread corolab/threadfloor <n>
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agen.h"
#include "bench.h"
#include "locks.h"
#include "queues.h"
#include "run.h"
#include "task.h"
#include "threads.h"
#include "value.h"

#define WAITERS	   100	   /* lock_100waiters' tasks */
#define BURST	   64	   /* queue_pair_unbounded: puts per sleep(0) */
#define AGEN_ITEMS 1000000 /* agen_for's items per repetition */

static void die(const char *what)
{
	fprintf(stderr, "ch07: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct method;

/* One repetition: what the main coroutine (or plain function) is asked,
 * and what it found. */
struct job {
	const struct method *m;
	long n;	    /* units asked for */
	long units; /* units done (n rounded to whole loops or bursts) */
	double ns;  /* time they took */

	struct cl_queue q;   /* queue_pair */
	struct cl_lock lock; /* lock_* */
	long k;		     /* lock_100waiters: acquires per task */
	long acquires;	     /* lock_100waiters: so far, all tasks */
	long acq_end;	     /* ... when the first task ended its loop */
	double t_end;	     /* ... and when */
	int nthreads;	     /* to_thread: pool threads at the end */
};

struct method {
	const char *kind;
	const char *name;
	void *(*main)(void *job);     /* the main coroutine of one cl_run */
	void (*plain)(struct job *b); /* or a plain function, no loop */
	size_t maxsize;		      /* queue_pair: the queue's */
	int held;		      /* to_thread: the loop held throughout */
	int condvar;		      /* threadfloor: a condvar, not a futex */
	int fixed;		      /* units if not calibrated (agen_for) */
	long n;			      /* units per repetition */
	double best;		      /* best ns per unit so far */
	int nthreads;		      /* to_thread: most pool threads seen */
	int skip;		      /* not measured (-k another kind) */
};

static struct cl_task *spawn_or_die(void *(*fn)(void *), void *arg)
{
	struct cl_task *t = cl_create_task(fn, arg, NULL);

	if (t == NULL)
		die("cl_create_task");
	return t;
}

/* ---- queue_pair ---------------------------------------------------------- */

static void *producer(void *arg)
{
	struct job *b = arg;

	if (b->m->maxsize > 0) {
		for (long i = 0; i < b->units; i++)
			cl_queue_put(&b->q, CL_INT(i));
		return NULL;
	}
	for (long i = 0; i < b->units;) {
		for (int j = 0; j < BURST; j++, i++)
			cl_queue_put(&b->q, CL_INT(i));
		cl_sleep(0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct job *b = arg;

	for (long i = 0; i < b->units; i++)
		(void)cl_queue_get(&b->q);
	return NULL;
}

static void *queue_main(void *arg)
{
	struct job *b = arg;
	struct cl_task *c, *p;
	double t0;

	b->units =
	    b->m->maxsize > 0 ? b->n : (b->n + BURST - 1) / BURST * BURST;
	cl_queue_init(&b->q, b->m->maxsize);
	t0 = now_ns();
	c = spawn_or_die(consumer, b);
	p = spawn_or_die(producer, b);
	cl_await_task(p);
	cl_await_task(c);
	b->ns = now_ns() - t0;
	cl_task_decref(p);
	cl_task_decref(c);
	if (cl_queue_qsize(&b->q) != 0) {
		fprintf(stderr, "ch07: %s: items left in the queue\n",
			b->m->kind);
		exit(1);
	}
	cl_queue_fini(&b->q);
	return NULL;
}

/* ---- lock_uncontended, lock_100waiters --------------------------------- */

static void *lock_main(void *arg)
{
	struct job *b = arg;
	struct cl_lock *l = &b->lock;
	double t0;

	cl_lock_init(l);
	t0 = now_ns();
	for (long i = 0; i < b->n; i++) {
		cl_lock_acquire(l);
		cl_lock_release(l);
	}
	b->ns = now_ns() - t0;
	b->units = b->n;
	cl_lock_destroy(l);
	return NULL;
}

/* Acquire, count, sleep(0) holding the lock, release: k times. The
 * first task to end its loop stops the clock, so the tasks' ends (with
 * fewer and fewer waiters) are not counted. */
static void *lock_waiter(void *arg)
{
	struct job *b = arg;

	for (long i = 0; i < b->k; i++) {
		cl_lock_acquire(&b->lock);
		b->acquires++;
		cl_sleep(0);
		cl_lock_release(&b->lock);
	}
	if (b->t_end == 0) {
		b->t_end = now_ns();
		b->acq_end = b->acquires;
	}
	return NULL;
}

static void *waiters_main(void *arg)
{
	struct job *b = arg;
	struct cl_task *t[WAITERS];
	double t0;
	long acq0;

	cl_lock_init(&b->lock);
	b->k = b->n / WAITERS > 1 ? b->n / WAITERS : 2;
	for (int i = 0; i < WAITERS; i++)
		t[i] = spawn_or_die(lock_waiter, b);
	/* Our turn comes after every task has taken its first step: the
	 * first holds the lock (asleep in sleep(0)), the others wait. */
	cl_sleep(0);
	if (b->lock.waiters.len != WAITERS - 1) {
		fprintf(stderr, "ch07: lock_100waiters: %zu waiters, not %d\n",
			b->lock.waiters.len, WAITERS - 1);
		exit(1);
	}
	t0 = now_ns();
	acq0 = b->acquires;
	for (int i = 0; i < WAITERS; i++) {
		cl_await_task(t[i]);
		cl_task_decref(t[i]);
	}
	b->ns = b->t_end - t0;
	b->units = b->acq_end - acq0;
	cl_lock_destroy(&b->lock);
	return NULL;
}

/* ---- to_thread, thread_create_join, threadfloor ------------------------ */

static void *empty(void *arg)
{
	return arg;
}

/*
 * corolab_held: the main task holds the loop (cl_loop_hold) around the
 * calls, so that the hold each call takes never ends the last one: the
 * loop's eventfd stays in epoll from call to call, as asyncio's
 * self-pipe always is, instead of being added (epoll_ctl) at each call
 * and removed at its end.
 */
static void *to_thread_main(void *arg)
{
	struct job *b = arg;
	struct cl_loop *loop = cl_get_running_loop();
	double t0;

	if (b->m->held && cl_loop_hold(loop) < 0)
		die("cl_loop_hold");
	cl_to_thread(empty, NULL); /* the pool's first thread starts */
	t0 = now_ns();
	for (long i = 0; i < b->n; i++)
		cl_to_thread(empty, NULL);
	b->ns = now_ns() - t0;
	b->units = b->n;
	b->nthreads = cl_executor_nthreads(loop->executor);
	if (b->m->held)
		cl_loop_unhold(loop);
	return NULL;
}

static void create_join(struct job *b)
{
	double t0 = now_ns();

	for (long i = 0; i < b->n; i++) {
		pthread_t th;
		int err = pthread_create(&th, NULL, empty, NULL);

		if (err != 0) {
			errno = err;
			die("pthread_create");
		}
		pthread_join(th, NULL);
	}
	b->ns = now_ns() - t0;
	b->units = b->n;
}

/*
 * threadfloor futex_eventfd: the worker sleeps on word while it is 0;
 * 1 is "go", 2 "stop". condvar_eventfd: the same word, guarded by a
 * mutex and waited for on a condition variable, as the pool's threads
 * wait for a job (threads.c worker).
 */
struct floor {
	int word;
	int efd;
	int condvar; /* which of the two */
	pthread_mutex_t lock;
	pthread_cond_t more;
};

static void futex_wait(int *word, int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The worker's wait for "go" or "stop"; which one it got. */
static int floor_wait(struct floor *f)
{
	int w;

	if (!f->condvar) {
		while ((w = __atomic_load_n(&f->word, __ATOMIC_ACQUIRE)) == 0)
			futex_wait(&f->word, 0);
		__atomic_store_n(&f->word, 0, __ATOMIC_RELAXED);
		return w;
	}
	pthread_mutex_lock(&f->lock);
	while ((w = f->word) == 0)
		pthread_cond_wait(&f->more, &f->lock);
	f->word = 0;
	pthread_mutex_unlock(&f->lock);
	return w;
}

/* The loop thread's "go" (1) or "stop" (2). */
static void floor_post(struct floor *f, int w)
{
	if (!f->condvar) {
		__atomic_store_n(&f->word, w, __ATOMIC_RELEASE);
		futex_wake(&f->word);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->word = w;
	pthread_cond_signal(&f->more);
	pthread_mutex_unlock(&f->lock);
}

static void *floor_worker(void *arg)
{
	struct floor *f = arg;
	uint64_t one = 1;

	while (floor_wait(f) == 1)
		if (write(f->efd, &one, sizeof one) != sizeof one)
			die("threadfloor: write");
	return NULL;
}

/* One round trip: wake the worker, wait in epoll_wait for its eventfd,
 * read it. */
static void floor_trip(struct floor *f, int ep)
{
	struct epoll_event ev;
	uint64_t v;

	floor_post(f, 1);
	while (epoll_wait(ep, &ev, 1, -1) != 1)
		if (errno != EINTR)
			die("threadfloor: epoll_wait");
	if (read(f->efd, &v, sizeof v) != sizeof v)
		die("threadfloor: read");
}

static void thread_floor(struct job *b)
{
	struct floor f = {.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
			  .condvar = b->m->condvar,
			  .lock = PTHREAD_MUTEX_INITIALIZER,
			  .more = PTHREAD_COND_INITIALIZER};
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t th;
	double t0;

	if (f.efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, f.efd, &ev) < 0)
		die("threadfloor: eventfd, epoll");
	if ((errno = pthread_create(&th, NULL, floor_worker, &f)) != 0)
		die("threadfloor: pthread_create");
	floor_trip(&f, ep); /* untimed: the worker is up */
	t0 = now_ns();
	for (long i = 0; i < b->n; i++)
		floor_trip(&f, ep);
	b->ns = now_ns() - t0;
	b->units = b->n;
	floor_post(&f, 2);
	pthread_join(th, NULL);
	close(ep);
	close(f.efd);
}

/* ---- agen_for ------------------------------------------------------------ */

static void *numbers(void *arg)
{
	long n = CL_TOINT(arg);

	for (long i = 0; i < n; i++)
		cl_agen_yield(CL_INT(i));
	return NULL;
}

static void *agen_main(void *arg)
{
	struct job *b = arg;
	struct cl_agen *ag;
	long got = 0;
	void *v;
	double t0 = now_ns();

	ag = cl_agen_new(numbers, CL_INT(b->n), "numbers");
	if (ag == NULL)
		die("cl_agen_new");
	while (cl_agen_for(ag, &v))
		got++;
	cl_agen_decref(ag);
	b->ns = now_ns() - t0;
	b->units = got;
	if (got != b->n || CL_TOINT(v) != 0) {
		fprintf(stderr, "ch07: agen_for: %ld items, not %ld\n", got,
			b->n);
		exit(1);
	}
	return NULL;
}

/* ---- the methods --------------------------------------------------------- */

static struct method methods[] = {
    {"queue_pair", "corolab", .main = queue_main, .maxsize = 1},
    {"queue_pair_unbounded", "corolab", .main = queue_main},
    {"lock_uncontended", "corolab", .main = lock_main},
    {"lock_100waiters", "corolab", .main = waiters_main},
    {"to_thread", "corolab", .main = to_thread_main},
    {"to_thread", "corolab_held", .main = to_thread_main, .held = 1},
    {"thread_create_join", "pthread", .plain = create_join},
    {"threadfloor", "futex_eventfd", .plain = thread_floor},
    {"threadfloor", "condvar_eventfd", .plain = thread_floor, .condvar = 1},
    {"agen_for", "corolab", .main = agen_main, .fixed = AGEN_ITEMS},
};

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const struct cl_run_opts run_opts = {CL_CLOCK_REAL, "bench", NULL};

/* One repetition of m over about n units; returns the ns it took and
 * sets *units to how many units that was. */
static double time_run(struct method *m, long n, long *units)
{
	struct job b = {.m = m, .n = n};
	void *out;
	int st;

	if (m->plain != NULL) {
		m->plain(&b);
	} else if ((st = cl_run_with(m->main, &b, &run_opts, &out)) != 0) {
		fprintf(stderr, "ch07: %s %s: cl_run returned %d\n", m->kind,
			m->name, st);
		exit(1);
	}
	if (b.nthreads > m->nthreads)
		m->nthreads = b.nthreads;
	*units = b.units;
	return b.ns;
}

/* As in sched.c: grow tenfold until a run takes 10 ms (the warm-up),
 * then scale to the target. */
static long calibrate(struct method *m, double target_ns)
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

/* The method named kind and name, if it is measured; NULL if not. */
static const struct method *find(const char *kind, const char *name)
{
	for (size_t i = 0; i < NMETHODS; i++)
		if (strcmp(methods[i].kind, kind) == 0 &&
		    strcmp(methods[i].name, name) == 0 && !methods[i].skip)
			return &methods[i];
	return NULL;
}

int main(int argc, char **argv)
{
	int reps = 5, opt;
	double target_ms = 200;
	long fixed_n = 0, units;
	const char *only = NULL;
	const struct method *tt, *fl;

	while ((opt = getopt(argc, argv, "r:t:n:k:")) != -1) {
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
		case 'k':
			only = optarg;
			break;
		default:
			fprintf(stderr, "usage: ch07 [-r reps] [-t ms] "
					"[-n units] [-k kind]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	/* A trace file named in the environment would slow every method. */
	unsetenv("COROLAB_TRACE");

	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		m->skip = only != NULL && strcmp(m->kind, only) != 0;
		if (m->skip)
			continue;
		if (fixed_n > 0)
			m->n = fixed_n;
		else if (m->fixed > 0)
			m->n = m->fixed;
		else
			m->n = calibrate(m, target_ms * 1e6);
		if (fixed_n > 0 || m->fixed > 0) /* a warm-up all the same */
			time_run(m, m->n < 10000 ? m->n : 10000, &units);
		m->best = 1e300;
	}
	/* Interleaved: one repetition of each method per pass. */
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < NMETHODS; i++) {
			struct method *m = &methods[i];
			double ns;

			if (m->skip)
				continue;
			ns = time_run(m, m->n, &units);
			if (ns / units < m->best)
				m->best = ns / units;
		}
	}

	printf("# ch07: real clock, best of %d interleaved repetitions; "
	       "units per repetition:",
	       reps);
	for (size_t i = 0; i < NMETHODS; i++)
		if (!methods[i].skip)
			printf(" %s/%s %ld", methods[i].kind, methods[i].name,
			       methods[i].n);
	printf("\n");
	for (size_t i = 0; i < NMETHODS; i++)
		if (!methods[i].skip && methods[i].nthreads > 0)
			printf("# to_thread %s: the default pool started %d "
			       "thread(s) at most in a run\n",
			       methods[i].name, methods[i].nthreads);
	for (size_t i = 0; i < NMETHODS; i++)
		if (!methods[i].skip)
			printf("%s %s %.2f\n", methods[i].kind, methods[i].name,
			       methods[i].best);
	tt = find("to_thread", "corolab");
	fl = find("threadfloor", "futex_eventfd");
	if (tt != NULL && fl != NULL)
		printf("ratio to_thread corolab/threadfloor %.2f\n",
		       tt->best / fl->best);
	return 0;
}
