/*
 * deadlock.c - two tasks, two locks, taken in opposite orders.
 *
 *	deadlock		the deadlock, reported; then the cure
 *
 * "transfer" moves money from account A to account B: it locks A, then
 * B. "refund" moves money back from B to A: it locks B, then A. Each
 * awaits something between its two acquires (a log write, here a 1 ms
 * sleep), so each takes its first lock and then waits for the lock the
 * other one holds:
 *
 *	transfer: holds lock:1 (A), waits for lock:2 (B)
 *	refund:   holds lock:2 (B), waits for lock:1 (A)
 *
 * A lock-order deadlock: neither can go on, and nothing else will ever
 * release a lock. asyncio would wait for ever, at 0% CPU. cl_run sees
 * that nothing is ready, no timer is pending and no descriptor is
 * watched, prints who waits on what, cancels the tasks so that their
 * cleanup runs (each releases the lock it holds on its way out: the
 * "async with" below) and returns -EDEADLK, which this program expects:
 * it exits 0 after the report.
 *
 * Then the cure, in a second run: both tasks take the locks in one
 * global order (A before B, whatever the direction of the transfer),
 * and both finish. Lock ordering is the classic rule (the Linux kernel
 * checks it at run time with lockdep); the other cure is to hold one
 * lock at a time.
 *
 *	async def move(name, first, second):
 *	    async with first:
 *	        await asyncio.sleep(0.001)	# the log write
 *	        async with second:
 *	            print(name, "moved the money")
 *
 *	async def main():
 *	    a, b = asyncio.Lock(), asyncio.Lock()
 *	    await asyncio.gather(move("transfer", a, b),
 *	                         move("refund", b, a))	# hangs for ever
 *
 * What to look at:
 *   - the output: cl_run's report names both tasks and the lock each
 *     waits on ("task:2 'transfer' waits on lock:2"); then each task's
 *     cleanup line, then the cured run;
 *   - the trace (COROLAB_TRACE=deadlock.trace build/.../deadlock):
 *     "lock.acquire lock=1 task=2" says who holds what, "await task=2
 *     on=lock:2" who waits for what. cotrace joins the two:
 *
 *	cotrace awaits deadlock.trace --at deadlock -o deadlock.svg
 *
 *     draws, at the moment the cycle closed, T2 -> lock:2 -> (held by)
 *     T3 -> lock:1 -> (held by) T2 in red, and names it DEADLOCK in the
 *     title (chapter 07's img/deadlock.svg). "--at deadlock" finds that
 *     moment; "--at SEQ" shows any other one.
 *
 * The loop runs on the virtual clock: the sleeps take no time, and the
 * trace is the same on every run.
 */
#include <errno.h>
#include <stdio.h>

#include "gather.h"
#include "locks.h"
#include "run.h"
#include "task.h"

struct account {
	const char *name;
	struct cl_lock lock;
	long balance;
};

static struct account acct_a = { .name = "A", .balance = 100 };
static struct account acct_b = { .name = "B", .balance = 100 };

/* One move of money: from, to, and which lock to take first. */
struct move {
	const char *name;
	struct account *from, *to;
	struct account *first, *second; /* the order the locks are taken */
	long amount;
};

/* Inside both locks: the money moves. */
static void *with_second(void *arg)
{
	struct move *mv = arg;

	mv->from->balance -= mv->amount;
	mv->to->balance += mv->amount;
	printf("  %s: moved %ld from %s to %s\n", mv->name, mv->amount,
	       mv->from->name, mv->to->name);
	return NULL;
}

/* Inside the first lock: the log write, then the second lock. */
static void *with_first(void *arg)
{
	struct move *mv = arg;

	printf("  %s: holds lock %s, wants lock %s\n", mv->name,
	       mv->first->name, mv->second->name);
	cl_sleep(0.001); /* an await while holding a lock: the opening */
	return cl_lock_run(&mv->second->lock, with_second, mv);
}

static void *move_money(void *arg)
{
	struct move *mv = arg;

	CL_TRY {
		cl_lock_run(&mv->first->lock, with_first, mv);
	} CL_CATCH(e) {
		/* cl_lock_run released the lock it held on the way out. */
		printf("  %s: %s, locks released\n", mv->name, cl_exc_name(e));
		cl_raise(e);
	} CL_END_TRY;
	return NULL;
}

/* Run both moves at once; ordered: take the locks in one global order. */
static void *main_task(void *arg)
{
	int ordered = (int)CL_TOINT(arg);
	struct move there = { "transfer", &acct_a, &acct_b, &acct_a, &acct_b,
			      30 };
	struct move back = { "refund", &acct_b, &acct_a, &acct_b, &acct_a,
			     10 };
	struct cl_future *t[2], *all;

	if (ordered) { /* A before B, whichever way the money goes */
		back.first = &acct_a;
		back.second = &acct_b;
	}
	t[0] = cl_task_future(cl_create_task(move_money, &there, "transfer"));
	t[1] = cl_task_future(cl_create_task(move_money, &back, "refund"));
	all = cl_gather(2, t);
	CL_TRY {
		cl_await(all);
	} CL_CATCH(e) {
		cl_future_decref(all);
		cl_future_decref(t[0]);
		cl_future_decref(t[1]);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_decref(all);
	cl_future_decref(t[0]);
	cl_future_decref(t[1]);
	return NULL;
}

static int run(int ordered)
{
	struct cl_run_opts opts = { .clock = CL_CLOCK_VIRTUAL, .name = "main",
				    .err = stdout };
	void *out = NULL;
	int st;

	cl_lock_init(&acct_a.lock);
	cl_lock_init(&acct_b.lock);
	st = cl_run_with(main_task, CL_INT(ordered), &opts, &out);
	if (st == CL_RUN_RAISED)
		cl_exc_decref(out);
	cl_lock_destroy(&acct_a.lock);
	cl_lock_destroy(&acct_b.lock);
	return st;
}

int main(void)
{
	int st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1. transfer locks A then B, refund locks B then A:\n");
	st = run(0);
	if (st != -EDEADLK) {
		fprintf(stderr, "deadlock: cl_run returned %d, expected "
				"-EDEADLK\n", st);
		return 1;
	}
	printf("cl_run returned -EDEADLK: a lock-order deadlock\n\n");

	printf("2. both lock A then B (one global order):\n");
	st = run(1);
	if (st != 0) {
		fprintf(stderr, "deadlock: the ordered run returned %d\n", st);
		return 1;
	}
	printf("both done: A has %ld, B has %ld\n", acct_a.balance,
	       acct_b.balance);
	return 0;
}
