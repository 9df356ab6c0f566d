/*
 * lockorder.c - planted bug 3: a lock-order deadlock in a program that
 * goes on running.
 *
 *	lockorder		the bug, reported the moment the cycle closes
 *	lockorder fixed		the cure: one order for both locks
 *
 * Chapter 07's deadlock.c again, with a difference that makes it harder:
 * a heartbeat task keeps beating, as the other clients of a server keep
 * being served. The loop never runs dry, so cl_run's "no runnable
 * tasks" report never comes; two tasks are stuck for good, and the rest
 * of the program cannot tell.
 *
 *	transfer: holds lock:1 (A), waits for lock:2 (B)
 *	refund:   holds lock:2 (B), waits for lock:1 (A)
 *
 * In debug mode, every step that ends with its task waiting follows the
 * wait-for graph from that task (dump.h): the task it awaits, or the
 * owner of the lock it wants, and so on. The step that closes the cycle
 * comes back to where it began, and the report names both tasks, both
 * locks and, from each task's frames, the function of the program where
 * each one waits.
 *
 * The cure is a global order: A before B whichever way the money goes.
 */
#include <stdio.h>
#include <string.h>

#include "locks.h"
#include "run.h"
#include "task.h"

static int fixed;
static struct cl_lock lock_a, lock_b;

struct move {
	const char *name;
	struct cl_lock *first, *second;
};

static __attribute__((noinline)) void log_write(void)
{
	cl_sleep(0.001); /* an await while holding a lock: the opening */
}

static void *move_money(void *arg)
{
	struct move *mv = arg;

	cl_lock_acquire(mv->first);
	log_write();
	cl_lock_acquire(mv->second); /* transfer and refund stop here */
	printf("%s: money moved\n", mv->name);
	cl_lock_release(mv->second);
	cl_lock_release(mv->first);
	return NULL;
}

static void *main_task(void *arg)
{
	struct move there = { "transfer", &lock_a, &lock_b };
	struct move back = { "refund", &lock_b, &lock_a };
	struct cl_task *t[2];

	(void)arg;
	cl_loop_set_debug(cl_get_running_loop(), 1);
	if (fixed)
		back = (struct move){ "refund", &lock_a, &lock_b };
	t[0] = cl_create_task(move_money, &there, "transfer");
	t[1] = cl_create_task(move_money, &back, "refund");
	for (int beat = 1; beat <= 3; beat++) { /* the heartbeat */
		cl_sleep(0.01);
		printf("heartbeat %d: transfer %s, refund %s\n", beat,
		       cl_task_done(t[0]) ? "done" : "pending",
		       cl_task_done(t[1]) ? "done" : "pending");
	}
	for (int i = 0; i < 2; i++) {
		cl_task_cancel(t[i]);
		cl_task_decref(t[i]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL };
	void *out;

	fixed = argc > 1 && strcmp(argv[1], "fixed") == 0;
	cl_lock_init(&lock_a);
	cl_lock_init(&lock_b);
	return cl_run_with(main_task, NULL, &opts, &out) == 0 ? 0 : 1;
}
