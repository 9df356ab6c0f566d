/*
 * queues.c - chapter 07: asyncio.Queue, PriorityQueue, LifoQueue
 * (queues.h).
 *
 * Two halves. The buffer: a ring, a stack or a heap of void * items,
 * grown on demand up to maxsize slots; nothing in it waits or wakes.
 * The waiting: three FIFO lists of waiters (getters, putters, joiners),
 * each waiter a future on the waiting coroutine's stack. The rule that
 * joins the halves is queues.py's:
 *
 *	put_nowait	adds an item, then wakes the first getter;
 *	get_nowait	takes an item, then wakes the first putter;
 *	put, get	while they cannot go on, wait at the back of their
 *			list; once woken, look again;
 *	a woken waiter	that is cancelled before it runs passes the
 *			wake-up on to the next one (3.11).
 *
 * Waking is completing the waiter's future; the task runs at the next
 * iteration, like every wake-up in asyncio. Meanwhile another task may
 * take the item, which is why put and get loop.
 *
 * Python: Lib/asyncio/queues.py, 3.11.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queues.h"
#include "task.h"
#include "trace.h"

const struct cl_exc_type cl_QueueEmpty = { "asyncio.queues.QueueEmpty",
					   &cl_Exception };
const struct cl_exc_type cl_QueueFull = { "asyncio.queues.QueueFull",
					  &cl_Exception };

/* queue:N ids, one counter for all queues of the thread. */
static _Thread_local unsigned long last_id;

/* A ring starts with this many slots and doubles (up to maxsize). */
#define CL__QUEUE_FIRST_CAP 8

/* ---- the waiter lists -------------------------------------------------- */

/* w at the back of ws: collections.deque.append, as queues.py keeps
 * its _getters and _putters. */
static void waiters_append(struct cl__qwaiters *ws, struct cl__qwaiter *w)
{
	w->next = NULL;
	w->prev = ws->tail;
	if (ws->tail != NULL)
		ws->tail->next = w;
	else
		ws->head = w;
	ws->tail = w;
	w->linked = 1;
	ws->n++;
}

/* Take w out of ws if it is still there: deque.remove in queues.py
 * Queue.put/get, whose ValueError (not there) is caught and ignored. */
static void waiters_remove(struct cl__qwaiters *ws, struct cl__qwaiter *w)
{
	if (!w->linked)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		ws->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		ws->tail = w->prev;
	w->linked = 0;
	ws->n--;
}

/* The first waiter, taken out; NULL if there is none: deque.popleft
 * in queues.py Queue._wakeup_next. */
static struct cl__qwaiter *waiters_popleft(struct cl__qwaiters *ws)
{
	struct cl__qwaiter *w = ws->head;

	if (w != NULL)
		waiters_remove(ws, w);
	return w;
}

/*
 * A new future for a task about to wait on q, marked for the trace as
 * "queue:N". Raises RuntimeError outside a running loop, MemoryError
 * when out of memory. (queues.py Queue.put and get:
 * self._get_loop().create_future().)
 */
static struct cl_future *waiter_future(const struct cl_queue *q)
{
	struct cl_future *f = cl_future_new(NULL);

	if (f == NULL)
		cl_raise(errno == ESRCH ? cl_exc_new(&cl_RuntimeError,
						     "no running event loop")
					: cl_exc_new(&cl_MemoryError, NULL));
	f->what = CL_WHAT_SYNC;
	f->what_id = CL_SYNC_ID(CL_SYNC_QUEUE, q->id);
	f->what_obj = q;
	return f;
}

/* TODO(ch07): Wake the first waiter of ws whose future is not
 * done (set its result to NULL), taking it out of ws; waiters met
 * on the way whose futures are done (cancelled) are taken out too.
 * Wakes at most one. Mirrors Lib/asyncio/queues.py
 * Queue._wakeup_next; read section 5.
 * No hints: the contract is all. */
static void wakeup_next(struct cl__qwaiters *ws)
{
	(void)ws;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "Queue._wakeup_next: not implemented (TODO ch07)"));
}

/* ---- the buffer -------------------------------------------------------- */

/*
 * Make room for one more item: double the slots (8 at first), never
 * beyond maxsize when there is one. A ring is unrolled into the new
 * array, head at 0. Returns 0, or -1 (nothing changed) out of memory.
 * Python's deque and list grow by themselves (Modules/_collectionsmodule.c
 * adds blocks of 64; Objects/listobject.c list_resize over-allocates),
 * and never past what is put in them, which maxsize bounds.
 */
static int buffer_grow(struct cl_queue *q)
{
	size_t cap = q->cap ? 2 * q->cap : CL__QUEUE_FIRST_CAP;
	void **ring;
	void *p;

	if (q->maxsize > 0 && cap > q->maxsize)
		cap = q->maxsize;
	if (q->kind == CL_QUEUE_PRIORITY) {
		p = realloc(q->heap, cap * sizeof *q->heap);
		if (p == NULL)
			return -1;
		q->heap = p;
		q->cap = cap;
		return 0;
	}
	ring = malloc(cap * sizeof *ring);
	if (ring == NULL)
		return -1;
	for (size_t i = 0; i < q->len; i++)
		ring[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = ring;
	q->head = 0;
	q->cap = cap;
	return 0;
}

/* Heap order: a before b if cmp says so, and among equals the older:
 * the < of heapq.py on (priority, seq, item) tuples. */
static int entry_before(const struct cl_queue *q, const struct cl__qentry *a,
			const struct cl__qentry *b)
{
	int c = q->cmp(a->item, b->item);

	return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Lib/heapq.py heappush (_siftdown): the new entry at the end, moved
 * up past its parents while it comes before them. */
static void heap_push(struct cl_queue *q, void *item)
{
	struct cl__qentry e = { item, q->seq++ };
	size_t i = q->len++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!entry_before(q, &e, &q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
		i = parent;
	}
	q->heap[i] = e;
}

/* Lib/heapq.py heappop (_siftup): take the root; the last entry goes
 * down from the top to where its smaller child no longer comes before
 * it. (heapq takes it to a leaf first and back up, to save
 * comparisons; the order out is the same, ties being broken by seq.) */
static void *heap_pop(struct cl_queue *q)
{
	void *top = q->heap[0].item;
	struct cl__qentry last = q->heap[--q->len];
	size_t i = 0;

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= q->len)
			break;
		if (child + 1 < q->len &&
		    entry_before(q, &q->heap[child + 1], &q->heap[child]))
			child++;
		if (!entry_before(q, &q->heap[child], &last))
			break;
		q->heap[i] = q->heap[child];
		i = child;
	}
	if (q->len > 0)
		q->heap[i] = last;
	return top;
}

/* queues.py Queue._put (deque.append), LifoQueue._put (list.append),
 * PriorityQueue._put (heappush). There is room: the caller grew it. */
static void buffer_put(struct cl_queue *q, void *item)
{
	if (q->kind == CL_QUEUE_PRIORITY) {
		heap_push(q, item);
		return;
	}
	q->ring[(q->head + q->len) % q->cap] = item;
	q->len++;
}

/* queues.py Queue._get (popleft), LifoQueue._get (pop),
 * PriorityQueue._get (heappop). The buffer is not empty. */
static void *buffer_get(struct cl_queue *q)
{
	void *item;

	switch (q->kind) {
	case CL_QUEUE_PRIORITY:
		return heap_pop(q);
	case CL_QUEUE_LIFO:
		q->len--;
		return q->ring[(q->head + q->len) % q->cap];
	case CL_QUEUE_FIFO:
		break;
	}
	item = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return item;
}

/* ---- the queue --------------------------------------------------------- */

static const char *const kind_names[] = {
	[CL_QUEUE_FIFO] = "fifo",
	[CL_QUEUE_LIFO] = "lifo",
	[CL_QUEUE_PRIORITY] = "priority",
};

/* queues.py Queue.__init__ and _init: empty, no buffer yet, no
 * waiters, nothing unfinished (_finished is set). */
static void queue_init(struct cl_queue *q, enum cl_queue_kind kind,
		       size_t maxsize, cl_queue_cmp cmp)
{
	memset(q, 0, sizeof *q);
	q->kind = kind;
	q->maxsize = maxsize;
	q->cmp = cmp;
	q->id = ++last_id;
	CL_TRACE("queue.new", "queue=%lu kind=%s maxsize=%zu", q->id,
		 kind_names[kind], maxsize);
}

/* queues.py Queue(maxsize). */
const struct cl_queue *cl__queue_of_waiter(const struct cl_future *w)
{
	if (w == NULL || w->what != CL_WHAT_SYNC ||
	    CL_SYNC_KIND(w->what_id) != CL_SYNC_QUEUE)
		return NULL;
	return w->what_obj;
}

void cl_queue_init(struct cl_queue *q, size_t maxsize)
{
	queue_init(q, CL_QUEUE_FIFO, maxsize, NULL);
}

/* queues.py LifoQueue(maxsize). */
void cl_lifoqueue_init(struct cl_queue *q, size_t maxsize)
{
	queue_init(q, CL_QUEUE_LIFO, maxsize, NULL);
}

/* queues.py PriorityQueue(maxsize), with cmp in the place of the
 * items' <. */
void cl_priorityqueue_init(struct cl_queue *q, size_t maxsize,
			   cl_queue_cmp cmp)
{
	queue_init(q, CL_QUEUE_PRIORITY, maxsize, cmp);
}

/* Free the buffer. Python has nothing to mirror: the garbage collector
 * frees a deque, and only once no waiter refers to the queue. The check
 * is libtask's lesson: say what went wrong, rather than crash later. */
void cl_queue_fini(struct cl_queue *q)
{
	size_t n = q->getters.n + q->putters.n + q->joiners.n;

	if (n > 0) {
		fprintf(stderr, "corolab: cl_queue_fini: queue:%lu still has "
				"%zu task%s waiting on it (cancel and await "
				"them first)\n",
			q->id, n, n == 1 ? "" : "s");
		abort();
	}
	free(q->ring); /* or heap: the same pointer */
	q->ring = NULL;
	q->cap = q->len = q->head = 0;
}

/* queues.py Queue.put_nowait: QueueFull (or MemoryError), or the item
 * is in, counted unfinished, and the first getter woken. */
void cl_queue_put_nowait(struct cl_queue *q, void *item)
{
	if (cl_queue_full(q))
		cl_raise(cl_exc_new(&cl_QueueFull, NULL));
	if (q->len == q->cap && buffer_grow(q) < 0)
		cl_raise(cl_exc_new(&cl_MemoryError, NULL));
	buffer_put(q, item);
	q->unfinished++;
	CL_TRACE("queue.put", "queue=%lu size=%zu", q->id, q->len);
	wakeup_next(&q->getters);
}

/* queues.py Queue.get_nowait: QueueEmpty, or the next item, out, and
 * the first putter woken. */
void *cl_queue_get_nowait(struct cl_queue *q)
{
	void *item;

	if (cl_queue_empty(q))
		cl_raise(cl_exc_new(&cl_QueueEmpty, NULL));
	item = buffer_get(q);
	CL_TRACE("queue.get", "queue=%lu size=%zu", q->id, q->len);
	wakeup_next(&q->putters);
	return item;
}

/* TODO(ch07): One wait of put (ws: the putters, blocked: full) or get
 * (the getters, empty): wait on a new future (waiter_future) at the
 * back of ws until woken; if the await raises, leave ws, and pass
 * the wake-up on (wakeup_next) if the task was woken (its future has
 * its result) and q is not blocked now; raise again. Mirrors
 * queues.py Queue.put/get, the body of the while; read section 5.
 * Hints: make hint CH=7 TODO=queue_wait (3 levels). */
static void queue_wait(struct cl_queue *q, struct cl__qwaiters *ws,
		       int (*blocked)(const struct cl_queue *q))
{
	(void)q, (void)ws, (void)blocked;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "Queue: waiting not implemented (TODO ch07)"));
}

/* queues.py Queue.put: wait while full, then put_nowait. */
void cl_queue_put(struct cl_queue *q, void *item)
{
	/* TODO(ch07): await q.put(item): wait (queue_wait on the
	 * putters) for as long as q is full, looking again after each
	 * wake-up, then add item with cl_queue_put_nowait. Mirrors
	 * Lib/asyncio/queues.py Queue.put; read section 5.
	 * No hints: the contract is all. */
	(void)q, (void)item, (void)queue_wait;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "Queue.put: not implemented (TODO ch07)"));
}

/* queues.py Queue.get: wait while empty, then get_nowait. */
void *cl_queue_get(struct cl_queue *q)
{
	/* TODO(ch07): await q.get(): wait (queue_wait on the getters)
	 * for as long as q is empty, looking again after each
	 * wake-up, then return cl_queue_get_nowait(q). Mirrors
	 * Lib/asyncio/queues.py Queue.get; read section 5.
	 * No hints: the contract is all. */
	(void)q, (void)queue_wait;
	cl_raise(cl_exc_new(&cl_NotImplementedError,
			    "Queue.get: not implemented (TODO ch07)"));
}

/* queues.py Queue.task_done: ValueError if nothing is unfinished, else
 * one fewer; at none, _finished.set(), which wakes every joiner
 * (locks.py Event.set). */
void cl_queue_task_done(struct cl_queue *q)
{
	struct cl__qwaiter *w;

	if (q->unfinished == 0)
		cl_raise(cl_exc_new(&cl_ValueError,
				    "task_done() called too many times"));
	if (--q->unfinished > 0)
		return;
	while ((w = waiters_popleft(&q->joiners)) != NULL)
		if (!cl_future_done(w->fut))
			cl_future_set_result(w->fut, NULL);
}

/*
 * queues.py Queue.join: if anything is unfinished, await
 * _finished.wait() (locks.py Event.wait). Event keeps its woken waiters
 * listed until each removes itself; here the waker takes them out,
 * which nobody can tell apart (a done future is never woken twice). As
 * in queue_wait, w needs no volatile.
 */
void cl_queue_join(struct cl_queue *q)
{
	struct cl__qwaiter w;

	if (q->unfinished == 0)
		return;
	w.fut = waiter_future(q);
	waiters_append(&q->joiners, &w);
	CL_TRY {
		cl_await(w.fut);
	} CL_CATCH(e) {
		waiters_remove(&q->joiners, &w);
		cl_future_decref(w.fut);
		cl_raise(e);
	} CL_END_TRY;
	cl_future_decref(w.fut);
}
