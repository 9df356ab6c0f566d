/*
 * heap.c - the timer heap: push, pop, heapify on an array.
 *
 * The array v[0..len) is a complete binary tree stored level by level:
 * the children of v[i] are v[2i+1] and v[2i+2], its parent v[(i-1)/2].
 * The invariant is that no node comes before its parent, so the root
 * v[0] is the minimum. Both operations break the invariant at one place
 * and repair it along one path of the tree, O(log n) moves:
 *
 *	push: put the new node last, move it up while it comes before
 *	      its parent (sift up);
 *	pop:  take the root, put the last node in its place, move it down
 *	      while one of its children comes before it, swapping with
 *	      the child that comes first (sift down).
 *
 * Nodes are moved, never copied: the array holds pointers, the nodes
 * live in their timers.
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

void cl_heap_init(struct cl_heap *h)
{
	h->v = NULL;
	h->len = 0;
	h->cap = 0;
}

void cl_heap_fini(struct cl_heap *h)
{
	free(h->v);
	cl_heap_init(h);
}

/* Make room for one more node: double the array, as a Python list does
 * (amortised O(1) per push). */
static int cl__heap_grow(struct cl_heap *h)
{
	size_t cap = h->cap ? 2 * h->cap : 16;
	struct cl_heap_node **v = realloc(h->v, cap * sizeof *v);

	if (v == NULL)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

/* TODO(ch03): cl_heap_push (0 or -ENOMEM), cl_heap_pop (the minimum, NULL
 * when empty) and cl_heap_heapify, each leaving no node before its
 * parent (cl_heap_less) in O(log n) moves, O(n) for heapify. Mirrors
 * Lib/heapq.py heappush, heappop, heapify; read section 2 and the top
 * of this file.
 * Hints: make hint CH=3 TODO=heap (3 levels). */
int cl_heap_push(struct cl_heap *h, struct cl_heap_node *n)
{
	(void)h, (void)n, (void)cl__heap_grow;
	return -ENOSYS;
}

struct cl_heap_node *cl_heap_pop(struct cl_heap *h)
{
	(void)h;
	return NULL;
}

void cl_heap_heapify(struct cl_heap *h)
{
	(void)h;
}
