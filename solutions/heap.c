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

// LAB ch03 heap: cl_heap_push (0 or -ENOMEM), cl_heap_pop (the minimum, NULL
// LAB ch03: when empty) and cl_heap_heapify, each leaving no node before its
// LAB ch03: parent (cl_heap_less) in O(log n) moves, O(n) for heapify. Mirrors
// LAB ch03: Lib/heapq.py heappush, heappop, heapify; read section 2 and the top
// LAB ch03: of this file.
// HINT1 ch03: Both repairs are static helpers of your own, sift up and sift
// HINT1 ch03: down (the comment at the top of this file); push, pop and heapify
// HINT1 ch03: are a few lines on top of them. cl__heap_grow makes room.
// HINT2 ch03: Move the node being sifted as a hole: shift the others over it
// HINT2 ch03: and store it once at the end, rather than swapping at every
// HINT2 ch03: level. Sift down swaps with the child that comes first.
// HINT3 ch03: Pop: NULL on an empty heap; else take v[0], move the last node
// HINT3 ch03: there and sift it down. Heapify sifts down every node that has a
// HINT3 ch03: child, the last of them first: for i from len / 2 - 1 down to 0.
/* The node at i may come before its parent: move it up to its place. */
static void cl__heap_sift_up(struct cl_heap *h, size_t i)
{
	struct cl_heap_node *n = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!cl_heap_less(n, h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = n;
}

/* A child of the node at i may come before it: move it down. */
static void cl__heap_sift_down(struct cl_heap *h, size_t i)
{
	struct cl_heap_node *n = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->len)
			break;
		/* The child that comes first is the one to swap with. */
		if (child + 1 < h->len &&
		    cl_heap_less(h->v[child + 1], h->v[child]))
			child++;
		if (!cl_heap_less(h->v[child], n))
			break;
		h->v[i] = h->v[child];
		i = child;
	}
	h->v[i] = n;
}

int cl_heap_push(struct cl_heap *h, struct cl_heap_node *n)
{
	if (h->len == h->cap && cl__heap_grow(h) < 0)
		return -ENOMEM;
	h->v[h->len++] = n;
	cl__heap_sift_up(h, h->len - 1);
	return 0;
}

struct cl_heap_node *cl_heap_pop(struct cl_heap *h)
{
	struct cl_heap_node *min;

	if (h->len == 0)
		return NULL;
	min = h->v[0];
	h->v[0] = h->v[--h->len];
	if (h->len > 0)
		cl__heap_sift_down(h, 0);
	return min;
}

void cl_heap_heapify(struct cl_heap *h)
{
	/* Leaves are heaps already; fix each parent, bottom up. */
	for (size_t i = h->len / 2; i-- > 0;)
		cl__heap_sift_down(h, i);
}
// STUB ch03:
// int cl_heap_push(struct cl_heap *h, struct cl_heap_node *n)
// {
// 	(void)h, (void)n, (void)cl__heap_grow;
// 	return -ENOSYS;
// }
//
// struct cl_heap_node *cl_heap_pop(struct cl_heap *h)
// {
// 	(void)h;
// 	return NULL;
// }
//
// void cl_heap_heapify(struct cl_heap *h)
// {
// 	(void)h;
// }
// END ch03
