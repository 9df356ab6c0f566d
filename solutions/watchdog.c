/*
 * watchdog.c - the watchdog thread (see watchdog.h).
 *
 * Two threads and one signal. The watchdog thread looks at the loop's
 * beat every quarter of the limit; when it judges the loop stuck, it
 * sends CL__WD_SIGNAL to the loop's thread and waits on a semaphore. The
 * handler runs on the loop's thread, in the middle of whatever blocked:
 * it may call only async-signal-safe functions, so it copies what it
 * needs (the frames, the task) into the watchdog's struct and posts the
 * semaphore, which is async-signal-safe. Everything that allocates or
 * takes a lock (naming the frames, printing) happens on the watchdog's
 * own thread, afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "debug.h"
#include "symbols.h"
#include "task.h"
#include "watchdog.h"

#define CL__WD_FRAMES 32
#define CL__WD_SIGNAL (SIGRTMIN + 3)

struct cl_watchdog {
	struct cl_loop *loop;
	pthread_t thread;      /* the watchdog's */
	pthread_t loop_thread; /* the one it signals */
	uint64_t limit;	       /* ns */
	unsigned long reports;

	pthread_mutex_t lock; /* stop, and the sleep between looks */
	pthread_cond_t wake;
	int stop;

	/* Filled by the handler on the loop's thread, then sem_post. */
	sem_t caught;
	void *pcs[CL__WD_FRAMES];
	int npcs;
	void *pc; /* the interrupted instruction */
	unsigned long task_id, step;
	char task_name[64];
	const struct cl_site *site;
};

/* The watchdog of the loop this thread runs, for the handler. */
static _Thread_local struct cl_watchdog *cl__wd_mine;

static uint64_t cl__wd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * cl__watchdog_look: the watchdog's judgement. A loop that is waiting,
 * or whose beat moved, is fine, and the clock of the stall starts again
 * (a stall reported before has ended: say so once). A loop seen at the
 * same beat, not waiting, since at least limit ago is stuck: say so once
 * per stall.
 */
// LAB ch09 watchdog_look: Judge one look at the loop: CL_WD_STUCK once per
// LAB ch09: stall, when the same beat has been seen, not waiting, for at
// LAB ch09: least limit ns since it was first seen; CL_WD_WENT_ON once, at
// LAB ch09: the first look after a reported stall whose beat moved or that
// LAB ch09: is waiting; CL_WD_FINE otherwise. Keeps seen up to date. Go's
// LAB ch09: sysmon (runtime/proc.go retake); read section 2.
// HINT1 ch09: Two cases: the loop moved (a new beat, or waiting), or not.
// HINT2 ch09: When it moved, remember the new beat and now as since, and
// HINT2 ch09: answer WENT_ON if this stall had been reported (then forget
// HINT2 ch09: that it was). When it did not move, only the duration
// HINT2 ch09: now - since and the reported flag decide.
enum cl_wd_verdict cl__watchdog_look(struct cl_wd_seen *seen, uint64_t beat,
				     int waiting, uint64_t now, uint64_t limit)
{
	if (waiting || beat != seen->beat) {
		int was = seen->reported;

		seen->beat = beat;
		seen->since = now;
		seen->reported = 0;
		return was ? CL_WD_WENT_ON : CL_WD_FINE;
	}
	if (!seen->reported && now - seen->since >= limit) {
		seen->reported = 1;
		return CL_WD_STUCK;
	}
	return CL_WD_FINE;
}
// STUB ch09:
// enum cl_wd_verdict cl__watchdog_look(struct cl_wd_seen *seen, uint64_t beat,
// 				     int waiting, uint64_t now, uint64_t limit)
// {
// 	(void)seen, (void)beat, (void)waiting, (void)now, (void)limit;
// 	return CL_WD_FINE;
// }
// END ch09

/* On the loop's thread, in the middle of what is stuck. */
static void cl__wd_handler(int sig, siginfo_t *si, void *uctx)
{
	struct cl_watchdog *wd = cl__wd_mine;
	const ucontext_t *uc = uctx;
	struct cl_task *t;
	int saved = errno;

	(void)sig, (void)si;
	if (wd == NULL)
		return;
#if defined(__x86_64__)
	wd->pc = (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	wd->pc = (void *)uc->uc_mcontext.pc;
#else
	(void)uc;
	wd->pc = NULL;
#endif
	wd->npcs = backtrace(wd->pcs, CL__WD_FRAMES);
	t = wd->loop->cur_task;
	wd->task_id = t != NULL ? t->id : 0;
	wd->step = t != NULL ? t->steps : 0;
	wd->site = t != NULL ? t->await_site : NULL;
	wd->task_name[0] = '\0';
	if (t != NULL) {
		size_t n = strlen(t->name);

		if (n >= sizeof wd->task_name)
			n = sizeof wd->task_name - 1;
		memcpy(wd->task_name, t->name, n);
		wd->task_name[n] = '\0';
	}
	sem_post(&wd->caught);
	errno = saved;
}

/* The loop is stuck: catch it in the act and print where. */
static void cl__wd_report(struct cl_watchdog *wd, uint64_t stuck_ns,
			  uint64_t beat)
{
	FILE *err = wd->loop->err;
	struct timespec until;
	char buf[300];
	int first = 2, got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	got = pthread_kill(wd->loop_thread, CL__WD_SIGNAL) == 0;
	while (got && sem_timedwait(&wd->caught, &until) < 0)
		if (errno != EINTR)
			got = 0;
	fprintf(err, "corolab watchdog: the loop has not finished "
		     "iteration %llu in %.3f s\n",
		(unsigned long long)beat + 1, (double)stuck_ns / 1e9);
	if (!got) {
		fprintf(err, "  (its thread did not answer the signal)\n");
		fflush(err);
		return;
	}
	if (wd->task_id != 0)
		fprintf(err, "  stuck in task:%lu '%s', step %lu, resumed at "
			     "%s\n",
			wd->task_id, wd->task_name, wd->step,
			wd->site ? cl_site_str(buf, sizeof buf, wd->site)
				 : "its start");
	else
		fprintf(err, "  stuck in a callback, outside any task\n");
	/* Frames 0 and 1 are the handler and the signal's return
	 * trampoline: start at the interrupted instruction. */
	for (int i = 0; i < wd->npcs; i++)
		if (wd->pcs[i] == wd->pc) {
			first = i;
			break;
		}
	for (int i = first; i < wd->npcs; i++)
		fprintf(err, "  #%d %s\n", i - first,
			cl_symbolize(wd->pcs[i], buf, sizeof buf));
	fflush(err);
}

static void *cl__wd_main(void *arg)
{
	struct cl_watchdog *wd = arg;
	struct cl_loop *loop = wd->loop;
	struct cl_wd_seen seen = { 0 };
	uint64_t period = wd->limit / 4, stall = 0;
	struct timespec ts;

	if (period < 1000000)
		period = 1000000;
	seen.beat = __atomic_load_n(&loop->beat, __ATOMIC_RELAXED);
	seen.since = cl__wd_now();
	pthread_mutex_lock(&wd->lock);
	while (!wd->stop) {
		uint64_t now, beat;
		int waiting;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(period % 1000000000u);
		ts.tv_sec += (time_t)(period / 1000000000u) +
			     ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		if (pthread_cond_timedwait(&wd->wake, &wd->lock, &ts) == 0 ||
		    wd->stop)
			continue;
		waiting = __atomic_load_n(&loop->waiting, __ATOMIC_ACQUIRE);
		beat = __atomic_load_n(&loop->beat, __ATOMIC_RELAXED);
		now = cl__wd_now();
		switch (cl__watchdog_look(&seen, beat, waiting, now,
					  wd->limit)) {
		case CL_WD_STUCK:
			stall = seen.since;
			wd->reports++;
			pthread_mutex_unlock(&wd->lock);
			cl__wd_report(wd, now - seen.since, beat);
			pthread_mutex_lock(&wd->lock);
			break;
		case CL_WD_WENT_ON:
			fprintf(loop->err, "corolab watchdog: the loop went on "
					   "after %.3f s\n",
				(double)(now - stall) / 1e9);
			fflush(loop->err);
			break;
		case CL_WD_FINE:
			break;
		}
	}
	pthread_mutex_unlock(&wd->lock);
	return NULL;
}

/* Take wd off the loop (and this thread's handler) and free it; its
 * thread is not running. */
static void cl__wd_free(struct cl_loop *loop, struct cl_watchdog *wd)
{
	if (cl__wd_mine == wd)
		cl__wd_mine = NULL;
	loop->watchdog = NULL;
	sem_destroy(&wd->caught);
	pthread_mutex_destroy(&wd->lock);
	pthread_cond_destroy(&wd->wake);
	free(wd);
}

int cl_watchdog_start(struct cl_loop *loop, unsigned limit_ms)
{
	struct cl_watchdog *wd;
	pthread_condattr_t ca;
	struct sigaction sa;
	void *prime[2];
	int err;

	if (loop->watchdog != NULL)
		return -EBUSY;
	if (limit_ms == 0)
		return -EINVAL;
	wd = calloc(1, sizeof *wd);
	if (wd == NULL)
		return -ENOMEM;
	wd->loop = loop;
	wd->loop_thread = pthread_self();
	wd->limit = (uint64_t)limit_ms * 1000000u;
	/* backtrace() loads the unwinder the first time: not in a
	 * signal handler. */
	backtrace(prime, 2);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = cl__wd_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(CL__WD_SIGNAL, &sa, NULL);
	sem_init(&wd->caught, 0, 0);
	pthread_mutex_init(&wd->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->wake, &ca);
	pthread_condattr_destroy(&ca);
	cl__wd_mine = wd;
	loop->watchdog = wd;
	err = pthread_create(&wd->thread, NULL, cl__wd_main, wd);
	if (err != 0) {
		cl__wd_free(loop, wd);
		return -err;
	}
	return 0;
}

void cl_watchdog_stop(struct cl_loop *loop)
{
	struct cl_watchdog *wd = loop->watchdog;

	if (wd == NULL)
		return;
	pthread_mutex_lock(&wd->lock);
	wd->stop = 1;
	pthread_cond_signal(&wd->wake);
	pthread_mutex_unlock(&wd->lock);
	pthread_join(wd->thread, NULL);
	cl__wd_free(loop, wd);
}

unsigned long cl_watchdog_reports(struct cl_loop *loop)
{
	unsigned long n = 0;

	if (loop->watchdog != NULL) {
		pthread_mutex_lock(&loop->watchdog->lock);
		n = loop->watchdog->reports;
		pthread_mutex_unlock(&loop->watchdog->lock);
	}
	return n;
}
