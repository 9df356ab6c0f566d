/*
 * heap.h - the timer heap: a binary min-heap of deadlines.
 *
 * The event loop keeps its timers (call_later, call_at, sleep) here. It
 * needs three things fast: the earliest deadline (to know how long it may
 * wait), removing it when it is due, and adding a new one. A binary heap
 * in an array does the first in O(1) and the other two in O(log n).
 *
 * The heap is intrusive, as libuv's (heap-inl.h): a timer embeds a
 * struct cl_heap_node and the heap stores pointers to those nodes; the
 * loop gets its timer back with container_of. The heap never allocates
 * or frees a node, only its own array of pointers.
 *
 * Order: earliest deadline first, and among equal deadlines the one
 * scheduled first (the smaller seq). CPython's heap compares deadlines
 * only (TimerHandle.__lt__), and heapq is not stable, so its timers with
 * equal deadlines fire in an order that depends on the heap's shape. The
 * tie-break makes ours fire in the order they were scheduled, which makes
 * traces reproducible.
 *
 * Python: Lib/heapq.py (heappush, heappop, heapify), as used by
 * Lib/asyncio/base_events.py for loop._scheduled.
 */
#ifndef CL_HEAP_H
#define CL_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* The part of a timer that the heap orders. The owner fills both fields
 * before cl_heap_push and leaves them alone while the node is in a heap. */
struct cl_heap_node {
	uint64_t when; /* deadline, on the loop's clock */
	uint64_t seq;  /* tie-break: smaller was scheduled first */
};

struct cl_heap {
	struct cl_heap_node **v; /* v[0] is the minimum; v[i]'s children are
				    v[2i+1] and v[2i+2] */
	size_t len;		 /* nodes in the heap */
	size_t cap;		 /* slots allocated in v */
};

/* An empty heap; cl_heap_fini frees its array (not the nodes). */
void cl_heap_init(struct cl_heap *h);
void cl_heap_fini(struct cl_heap *h);

/* Does a come before b? Deadline first, then seq. */
static inline int cl_heap_less(const struct cl_heap_node *a,
			       const struct cl_heap_node *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Add n. Returns 0, or -ENOMEM when the array cannot grow. */
int cl_heap_push(struct cl_heap *h, struct cl_heap_node *n);

/* Remove and return the minimum, NULL when the heap is empty. */
struct cl_heap_node *cl_heap_pop(struct cl_heap *h);

/* The minimum, left in place; NULL when the heap is empty. */
static inline struct cl_heap_node *cl_heap_peek(const struct cl_heap *h)
{
	return h->len ? h->v[0] : NULL;
}

/*
 * Restore the heap order of v[0..len) after the caller edited the array
 * in place (the loop does, to drop many cancelled timers at once: it
 * compacts v, then calls this). O(n), like heapq.heapify.
 */
void cl_heap_heapify(struct cl_heap *h);

#endif
