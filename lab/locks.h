/*
 * locks.h - chapter 07: Lock, Event, Condition, Semaphore,
 * BoundedSemaphore and Barrier, as asyncio 3.11 has them.
 *
 * Tasks share one thread, so they need no protection from each other
 * between two awaits: nothing else runs. They need it across awaits. A
 * task that reads a file, awaits, and writes it back must not meet
 * another task doing the same in between; a hundred tasks calling one
 * server must not all call at once. The primitives here make tasks wait
 * for each other, and waiting is what tasks already know how to do:
 * await a future. Every primitive keeps a queue of waiter futures, one
 * per waiting task, oldest first. Waiting is putting a new future at
 * the tail and awaiting it; waking is completing a waiter's future. The
 * woken task runs at the next iteration, like any other.
 *
 * That last point is where the subtle rules come from. Between the
 * wake-up and the woken task's step, anything can happen: the lock can
 * be asked for by a newcomer, the woken task can be cancelled. asyncio
 * 3.11's rules, which every function below follows:
 *
 *  - FIFO: the oldest waiter gets the wake-up, and a newcomer does not
 *    overtake a waiter that is woken but has not run yet (a waiter
 *    leaves the queue only when its task runs);
 *  - no lost wake-up: a waiter cancelled after its wake-up, before it
 *    ran, passes the wake-up on to the next waiter (Lock, Semaphore),
 *    and a waiter cancelled before its wake-up is skipped by it.
 *    Condition is the exception: in 3.11 a notified waiter that is
 *    cancelled before it runs takes the notification with it, and the
 *    next waiter sleeps on (3.13 passes it on; we follow 3.11);
 *  - a cancelled Condition.wait takes the lock back before the
 *    CancelledError comes out, however long that takes.
 *
 * The objects are initialized in place and live where the caller puts
 * them (a static, or a struct that outlives every task using them):
 *
 *	static struct cl_lock lock;		lock = asyncio.Lock()
 *	cl_lock_init(&lock);
 *	...
 *	cl_lock_acquire(&lock);			await lock.acquire()
 *	cl_lock_release(&lock);			lock.release()
 *	...
 *	cl_lock_destroy(&lock);			(when no task uses it)
 *
 * Acquire and wait functions suspend the calling task as cl_await does,
 * and raise what the await raised (CancelledError, mostly), after their
 * cleanup, as CPython's try/finally blocks do. They must run in a task
 * when they have to wait (RuntimeError otherwise).
 *
 * "async with" has no C keyword. It is an acquire, a CL_TRY around the
 * block, and a release on both ways out:
 *
 *	async with lock:			cl_lock_acquire(&lock);
 *	    await work(arg)			CL_TRY {
 *						    work(arg);
 *						} CL_CATCH(e) {
 *						    cl_lock_release(&lock);
 *						    cl_raise(e);
 *						} CL_END_TRY;
 *						cl_lock_release(&lock);
 *
 * (exc.h's rule 1 applies: no return or break out of the CL_TRY). When
 * the block is a function, the _run helpers do all of it, and return
 * what the body returned:
 *
 *	async with lock:			cl_lock_run(&lock, work, arg);
 *	    await work(arg)
 *
 * cl_semaphore_run and cl_condition_run are the same for a semaphore
 * and a condition's lock.
 *
 * Ownership: asyncio's Lock has no owner. Any task may release a lock
 * another task acquired, and that is not an error (only releasing an
 * unlocked lock is); this follows CPython. The lock still remembers the
 * task that acquired it (cl_lock_owner), for the trace and for a
 * deadlock report, and the tracer writes who takes and releases which
 * lock:
 *
 *	lock.acquire lock=N task=T	task T took lock N (T 0: not a task)
 *	lock.release lock=N task=T	task T released it
 *
 * Each waiter future is marked what = CL_WHAT_SYNC, what_id =
 * CL_SYNC_ID(kind, id), so the trace's await events and the deadlock
 * report say "lock:3", "semaphore:1"; every object takes the next id of
 * its kind when it is initialized. A barrier's waiters say "barrier:N".
 *
 * Like asyncio's, each object is bound to a loop the first time a task
 * has to wait on it (mixins._LoopBoundMixin; the fast paths never ask):
 * a task of another loop that has to wait raises RuntimeError. The
 * check compares loops by address, so a loop freed and another
 * allocated in its place is not told apart. None of this is
 * thread-safe: use the objects on their loop's thread only.
 *
 * Python: Lib/asyncio/locks.py (_ContextManagerMixin, Lock, Event,
 * Condition, Semaphore, BoundedSemaphore, Barrier), Lib/asyncio/mixins.py
 * (_LoopBoundMixin), Lib/asyncio/exceptions.py (BrokenBarrierError), 3.11.
 */
#ifndef CL_LOCKS_H
#define CL_LOCKS_H

#include <stddef.h>

#include "exc.h"
#include "future.h"

/* asyncio.BrokenBarrierError, a RuntimeError: a barrier was aborted or
 * reset while a task waited at it, or is broken when a task arrives. */
extern const struct cl_exc_type cl_BrokenBarrierError;

/*
 * One waiting task: its waiter future, and its links in the queue. The
 * node lives in the waiting function's frame, on the task's stack, for
 * exactly as long as the task waits: no allocation but the future's.
 */
struct cl__syncwaiter {
	struct cl__syncwaiter *prev, *next;
	struct cl_future *fut; /* the frame's reference */
};

/*
 * The queue of waiters every primitive keeps (locks.py's deque of
 * futures). locks.c only.
 */
struct cl__waitq {
	struct cl__syncwaiter *head, *tail; /* oldest first */
	size_t len;		/* len(self._waiters): woken ones count
				   until their task has run */
	unsigned long what_id;	/* CL_SYNC_ID of the object: its waiters'
				   what_id */
	struct cl_loop *loop;	/* bound by the first waiter (not a
				   reference); NULL until then */
};

/* ---- Lock ------------------------------------------------------------ */

struct cl_lock {
	int locked;		/* Lock._locked */
	unsigned long owner;	/* the task that acquired it (0: none, or
				   not a task); nothing checks it */
	unsigned long id;	/* lock:N */
	struct cl__waitq waiters;
};

/* Lock(): unlocked, with no waiter. */
void cl_lock_init(struct cl_lock *l);

/* Forget the lock. No task may be waiting on it (that is reported on
 * stderr and the program stopped: the waiters would point into it). */
void cl_lock_destroy(struct cl_lock *l);

/* lock.locked() */
static inline int cl_lock_locked(const struct cl_lock *l)
{
	return l->locked;
}

/* The id of the task holding the lock, 0 if none (corolab's own). */
static inline unsigned long cl_lock_owner(const struct cl_lock *l)
{
	return l->owner;
}

/*
 * await lock.acquire(): take the lock now if it is free and no waiter
 * is ahead (cancelled ones do not count); else queue and wait until a
 * release hands it over. Raises CancelledError if the task is cancelled
 * while waiting, having passed the lock on if it was handed to it.
 */
void cl_lock_acquire(struct cl_lock *l);

/*
 * lock.release(): unlock and wake the first waiter, if it is not woken
 * already. RuntimeError "Lock is not acquired." if it is not locked.
 * Any task may release it.
 */
void cl_lock_release(struct cl_lock *l);

/* async with lock: return body(arg). */
void *cl_lock_run(struct cl_lock *l, void *(*body)(void *arg), void *arg);

/* repr(lock): "<Lock lock:1 [locked, waiters:2]>", into buf. */
const char *cl_lock_repr(const struct cl_lock *l, char *buf, size_t size);

/* ---- Event ----------------------------------------------------------- */

struct cl_event {
	int value;		/* the flag: Event._value */
	unsigned long id;	/* event:N */
	struct cl__waitq waiters;
};

void cl_event_init(struct cl_event *ev);     /* Event(): not set */
void cl_event_destroy(struct cl_event *ev);  /* as cl_lock_destroy */

/* event.is_set() */
static inline int cl_event_is_set(const struct cl_event *ev)
{
	return ev->value;
}

/* event.set(): set the flag and wake every waiter, oldest first. */
void cl_event_set(struct cl_event *ev);

/* event.clear(): unset the flag. Waiters already woken still wake. */
void cl_event_clear(struct cl_event *ev);

/* await event.wait(): return at once if the flag is set, else wait for
 * the next set(). */
void cl_event_wait(struct cl_event *ev);

/* repr(event): "<Event event:1 [unset, waiters:1]>". */
const char *cl_event_repr(const struct cl_event *ev, char *buf, size_t size);

/* ---- Condition ------------------------------------------------------- */

struct cl_condition {
	struct cl_lock *lock;	/* the lock: &own, or the one given */
	struct cl_lock own;	/* Condition() makes its own */
	unsigned long id;	/* condition:N */
	struct cl__waitq waiters;
};

/* Condition(lock): lock NULL makes a lock of its own. The condition
 * points into itself then: do not move it once initialized. */
void cl_condition_init(struct cl_condition *c, struct cl_lock *lock);
void cl_condition_destroy(struct cl_condition *c);

/* cond.locked(), acquire(), release(): its lock's. */
static inline int cl_condition_locked(const struct cl_condition *c)
{
	return c->lock->locked;
}

void cl_condition_acquire(struct cl_condition *c);
void cl_condition_release(struct cl_condition *c);

/*
 * await cond.wait(): with the lock held, release it, wait for a notify,
 * and take the lock back before returning, or before raising: when the
 * task is cancelled (while waiting, or while taking the lock back, once
 * or more), wait() still takes the lock back, then raises
 * CancelledError. RuntimeError "cannot wait on un-acquired lock" if the
 * lock is not held.
 */
void cl_condition_wait(struct cl_condition *c);

/*
 * await cond.wait_for(pred): pred(arg) first, then wait() and pred(arg)
 * again, for as long as it returns 0. Returns its last value.
 */
int cl_condition_wait_for(struct cl_condition *c, int (*pred)(void *arg),
			  void *arg);

/*
 * cond.notify(n): wake the n oldest waiters not woken yet (fewer if
 * there are not so many). Each returns from wait() once it has the lock
 * back, which the notifier still holds. cond.notify_all(): all of them.
 * RuntimeError "cannot notify on un-acquired lock" if the lock is not
 * held.
 */
void cl_condition_notify(struct cl_condition *c, size_t n);
void cl_condition_notify_all(struct cl_condition *c);

/* async with cond: return body(arg). */
void *cl_condition_run(struct cl_condition *c, void *(*body)(void *arg),
		       void *arg);

/* repr(cond): "<Condition condition:1 [locked, waiters:1]>". */
const char *cl_condition_repr(const struct cl_condition *c, char *buf,
			      size_t size);

/* ---- Semaphore, BoundedSemaphore -------------------------------------- */

struct cl_semaphore {
	long value;		/* free units: Semaphore._value */
	long bound;		/* BoundedSemaphore's _bound_value */
	int bounded;		/* made by cl_bounded_semaphore_init */
	unsigned long id;	/* semaphore:N */
	struct cl__waitq waiters;
};

/*
 * Semaphore(value) and BoundedSemaphore(value): value free units.
 * ValueError "Semaphore initial value must be >= 0" if value < 0.
 */
void cl_semaphore_init(struct cl_semaphore *s, long value);
void cl_bounded_semaphore_init(struct cl_semaphore *s, long value);
void cl_semaphore_destroy(struct cl_semaphore *s);

/*
 * sem.locked(): an acquire would wait: no unit is free, or a waiter
 * that is not cancelled is queued (a newcomer waits behind it).
 */
int cl_semaphore_locked(const struct cl_semaphore *s);

/*
 * await sem.acquire(): take a unit now if not locked; else queue and
 * wait until a release hands one over. A waiter cancelled after it got
 * its unit gives it back to the next waiter, and raises CancelledError.
 */
void cl_semaphore_acquire(struct cl_semaphore *s);

/*
 * sem.release(): one more unit, handed at once to the oldest waiter not
 * woken yet (if any). A bounded semaphore raises ValueError
 * "BoundedSemaphore released too many times" if the free units would
 * exceed its initial value; units handed to woken waiters do not count
 * as free.
 */
void cl_semaphore_release(struct cl_semaphore *s);

/* async with sem: return body(arg). */
void *cl_semaphore_run(struct cl_semaphore *s, void *(*body)(void *arg),
		       void *arg);

/* repr(sem): "<Semaphore semaphore:1 [unlocked, value:2]>",
 * "<BoundedSemaphore semaphore:2 [locked, waiters:1]>". */
const char *cl_semaphore_repr(const struct cl_semaphore *s, char *buf,
			      size_t size);

/* ---- Barrier ------------------------------------------------------- */

/* locks._BarrierState */
enum cl_barrier_state {
	CL_BARRIER_FILLING,	/* parties arrive */
	CL_BARRIER_DRAINING,	/* released: parties leave */
	CL_BARRIER_RESETTING,	/* reset: waiting parties leave, broken */
	CL_BARRIER_BROKEN,	/* aborted */
};

struct cl_barrier {
	struct cl_condition cond; /* every change of state notifies it */
	size_t parties;
	size_t count;		  /* parties inside wait() */
	enum cl_barrier_state state;
	unsigned long id;	  /* barrier:N */
};

/*
 * Barrier(parties): ValueError "parties must be > 0" if parties is 0.
 * Do not move it once initialized (it holds a condition).
 */
void cl_barrier_init(struct cl_barrier *b, size_t parties);
void cl_barrier_destroy(struct cl_barrier *b);

/*
 * await barrier.wait(): wait until parties tasks are waiting, then all
 * go on; returns this task's index, its arrival order (the last to
 * arrive gets parties - 1). Raises BrokenBarrierError "Abort or reset
 * of barrier" if the barrier is aborted or reset meanwhile, "Barrier
 * aborted" if it is broken when the task arrives. A task arriving while
 * the previous round drains waits for the next round. A cancelled task
 * just leaves: the barrier is not broken (unlike threading.Barrier).
 */
size_t cl_barrier_wait(struct cl_barrier *b);

/* await barrier.reset(): back to filling; the tasks waiting get
 * BrokenBarrierError. await barrier.abort(): broken, for good (until a
 * reset); every wait raises BrokenBarrierError. */
void cl_barrier_reset(struct cl_barrier *b);
void cl_barrier_abort(struct cl_barrier *b);

/* barrier.parties, barrier.n_waiting, barrier.broken */
static inline size_t cl_barrier_parties(const struct cl_barrier *b)
{
	return b->parties;
}

static inline size_t cl_barrier_n_waiting(const struct cl_barrier *b)
{
	return b->state == CL_BARRIER_FILLING ? b->count : 0;
}

static inline int cl_barrier_broken(const struct cl_barrier *b)
{
	return b->state == CL_BARRIER_BROKEN;
}

/* repr(barrier): "<Barrier barrier:1 [filling, waiters:2/3]>",
 * "<Barrier barrier:1 [broken]>". */
const char *cl_barrier_repr(const struct cl_barrier *b, char *buf,
			    size_t size);

/*
 * Chapter 09's deadlock report: the task holding the lock that the
 * waiter future w (a task's fut_waiter) waits for, 0 when w waits on no
 * lock or the lock has no owner.
 */
unsigned long cl__sync_holder(const struct cl_future *w);

#endif
