/*
 * queues.h - asyncio.Queue, PriorityQueue and LifoQueue: producers and
 * consumers that wait for each other.
 *
 * A queue hands items from the tasks that make them to the tasks that
 * use them. get waits while the queue is empty; with a maxsize, put
 * waits while it is full. That second wait is back-pressure: a producer
 * faster than its consumer is held at put, and the queue never holds
 * more than maxsize items, however long the run.
 *
 *	struct cl_queue q;			q = asyncio.Queue(maxsize=2)
 *	cl_queue_init(&q, 2);
 *	...in a producer task:
 *	cl_queue_put(&q, CL_INT(n));		await q.put(n)
 *	...in a consumer task:
 *	void *item = cl_queue_get(&q);		item = await q.get()
 *	cl_queue_task_done(&q);			q.task_done()
 *	...
 *	cl_queue_join(&q);			await q.join()
 *	cl_queue_fini(&q);
 *
 * Each task that waits waits on a future of its own (what = CL_WHAT_SYNC,
 * what_id = CL_SYNC_ID(CL_SYNC_QUEUE, q->id): "on=queue:N" in the trace),
 * in a FIFO list: getters, putters, joiners. put_nowait wakes the first
 * getter, get_nowait the first putter, by completing its future; the
 * woken task then looks again (another task may have been quicker) and,
 * if it must, waits again, at the back. A waiter cancelled after it was
 * woken did not use its wake-up: it passes it on to the next in line
 * before its CancelledError goes on (3.11), so no wake-up is lost.
 *
 * A queue is initialized in place: it lives where the caller puts it (a
 * static, a field of a connection's struct, a coroutine's frame), init
 * cannot fail (the buffer is allocated by the first put), and fini frees
 * the buffer. The queue must outlive every task that uses it: cancel and
 * await its consumers and producers before cl_queue_fini (fini aborts,
 * saying so, if a task still waits on it).
 *
 * The buffer: a ring that doubles as it fills (Queue), the same array
 * used as a stack (LifoQueue), a binary heap (PriorityQueue). It never
 * grows past maxsize slots when maxsize > 0, so a bounded queue's
 * memory is bounded too. Items are void * (value.h's CL_INT for small
 * integers): the queue neither copies nor frees them, and items left at
 * fini are the caller's to drain first if they own memory.
 *
 * Traced events, for a timeline of back-pressure: "queue.put queue=N
 * size=S" after an item goes in, "queue.get queue=N size=S" after one
 * comes out (S is qsize then), "queue.new queue=N kind=K maxsize=M".
 *
 * Where C differs from Python:
 * - maxsize is a size_t: 0 is unbounded (Python's maxsize <= 0).
 * - PriorityQueue orders items with the comparison function it is given
 *   (heapq order: smallest first), and items that compare equal come out
 *   in the order they were put, as if each were the tuple (priority,
 *   seq, item) that heapq's documentation recommends. Python compares
 *   the items themselves with <, and heapq is not stable.
 * - A Python queue binds to the loop that first waits on it and refuses
 *   another (_LoopBoundMixin); here a wait's future belongs to the loop
 *   running at the time, and using a queue from two loops at once is
 *   the caller's mistake.
 * - None of these functions is thread-safe: a queue is touched on its
 *   loop's thread only (call_soon_threadsafe is for the other threads).
 *
 * Python: Lib/asyncio/queues.py (Queue, PriorityQueue, LifoQueue,
 * QueueEmpty, QueueFull), 3.11; join waits as locks.py Event.wait does.
 */
#ifndef CL_QUEUES_H
#define CL_QUEUES_H

#include <stddef.h>
#include <stdint.h>

#include "exc.h"
#include "future.h"

/*
 * asyncio.QueueEmpty (get_nowait on an empty queue) and asyncio.QueueFull
 * (put_nowait on a full one): Exceptions, raised without a message, as
 * "raise QueueEmpty" does.
 */
extern const struct cl_exc_type cl_QueueEmpty;
extern const struct cl_exc_type cl_QueueFull;

enum cl_queue_kind {
	CL_QUEUE_FIFO,	   /* Queue: first in, first out */
	CL_QUEUE_LIFO,	   /* LifoQueue: last in, first out */
	CL_QUEUE_PRIORITY, /* PriorityQueue: smallest first */
};

/*
 * A PriorityQueue's order: negative if item a comes before item b,
 * positive if after, 0 if they are equal in priority. a and b are the
 * items themselves (as put), not pointers to them.
 */
typedef int (*cl_queue_cmp)(const void *a, const void *b);

/*
 * A task waiting in put, get or join. It lives on the waiting
 * coroutine's own stack, which stays put while the coroutine is
 * suspended, so waiting allocates nothing but the future. queues.c only.
 */
struct cl__qwaiter {
	struct cl_future *fut;	/* what the task awaits: a reference, the
				   coroutine's */
	struct cl__qwaiter *prev, *next;
	int linked;		/* still in its list: not woken, and not
				   yet taken out by its own cleanup */
};

/* A FIFO list of waiters: collections.deque of futures in queues.py. */
struct cl__qwaiters {
	struct cl__qwaiter *head, *tail;
	size_t n;
};

/* A PriorityQueue's slot: the item, and when it came (the tie-break). */
struct cl__qentry {
	void *item;
	uint64_t seq;
};

/*
 * The fields are public to read (tests look at cap to check that a
 * bounded queue stays bounded); only queues.c writes them.
 */
struct cl_queue {
	/* Set by init, read-only afterwards. */
	enum cl_queue_kind kind;
	size_t maxsize;	  /* 0: unbounded */
	cl_queue_cmp cmp; /* CL_QUEUE_PRIORITY only */
	unsigned long id; /* queue:N in the trace */

	/* The items: ring[(head + i) % cap] for i < len (FIFO and LIFO;
	 * LIFO takes from the far end), or heap[0..len) (PRIORITY). */
	union {
		void **ring;
		struct cl__qentry *heap;
	};
	size_t cap, head, len;
	uint64_t seq; /* puts so far: the next entry's tie-break */

	struct cl__qwaiters getters; /* tasks in get (_getters) */
	struct cl__qwaiters putters; /* tasks in put (_putters) */
	struct cl__qwaiters joiners; /* tasks in join (_finished's) */
	size_t unfinished;	     /* puts not yet task_done'd */
};

/*
 * Queue(maxsize), LifoQueue(maxsize), PriorityQueue(maxsize) ordered by
 * cmp: an empty queue in *q, with the next queue:N id. maxsize 0 means
 * unbounded. Never fails (nothing is allocated yet).
 */
void cl_queue_init(struct cl_queue *q, size_t maxsize);
void cl_lifoqueue_init(struct cl_queue *q, size_t maxsize);
void cl_priorityqueue_init(struct cl_queue *q, size_t maxsize,
			   cl_queue_cmp cmp);

/*
 * Free the buffer (not the items left in it, nor q itself). No task may
 * be waiting on q: that is reported and the program aborted, since their
 * waiters would point into a queue that is gone.
 */
void cl_queue_fini(struct cl_queue *q);

/*
 * await q.put(item): wait while the queue is full, then add item (and
 * wake the first getter). await q.get(): wait while it is empty, then
 * remove and return an item (and wake the first putter). Both raise
 * what the await raised (CancelledError, mostly) and RuntimeError
 * outside a task, when they have to wait; a waiter cancelled after it
 * was woken wakes the next one first. Waiters are served in the order
 * they came.
 */
void cl_queue_put(struct cl_queue *q, void *item);
void *cl_queue_get(struct cl_queue *q);

/*
 * q.put_nowait(item) and q.get_nowait(): the same without waiting:
 * QueueFull when the queue is full, QueueEmpty when it is empty.
 * put_nowait raises MemoryError (and adds nothing) if the buffer cannot
 * grow.
 */
void cl_queue_put_nowait(struct cl_queue *q, void *item);
void *cl_queue_get_nowait(struct cl_queue *q);

/*
 * q.task_done(): one item taken earlier is processed. ValueError
 * "task_done() called too many times" when no put is left unfinished.
 * When the last one is done, every task in join is woken.
 */
void cl_queue_task_done(struct cl_queue *q);

/*
 * await q.join(): wait until every item put has been task_done'd.
 * Returns at once, without suspending, when none is unfinished. Raises
 * what the await raised.
 */
void cl_queue_join(struct cl_queue *q);

/* q.qsize(), q.empty(), q.full(), q.maxsize, q._unfinished_tasks. */
static inline size_t cl_queue_qsize(const struct cl_queue *q)
{
	return q->len;
}

static inline int cl_queue_empty(const struct cl_queue *q)
{
	return q->len == 0;
}

/* Never true for an unbounded queue. */
static inline int cl_queue_full(const struct cl_queue *q)
{
	return q->maxsize > 0 && q->len >= q->maxsize;
}

static inline size_t cl_queue_maxsize(const struct cl_queue *q)
{
	return q->maxsize;
}

static inline size_t cl_queue_unfinished_tasks(const struct cl_queue *q)
{
	return q->unfinished;
}

/*
 * Chapter 09's deadlock report: the queue whose waiter future w is (a
 * task's fut_waiter, blocked in get or put), NULL for any other future.
 */
const struct cl_queue *cl__queue_of_waiter(const struct cl_future *w);

#endif
