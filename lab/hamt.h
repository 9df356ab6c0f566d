/*
 * hamt.h - a persistent map: a hash array mapped trie.
 *
 * A context (ctxvar.h) maps variables to values, and asyncio copies a
 * context for every task and every callback it schedules. A copy must
 * therefore cost nothing, and a set in the copy must not show in the
 * original. A map that never changes does both: copying it is taking a
 * reference, and a "set" builds a new map that shares every part of the
 * old one the change did not touch. This is that map.
 *
 *	struct cl_hamt *a = cl_hamt_new(), *b;
 *	cl_hamt_set(a, key, hash, val, &b);	b = a | {key: val}
 *	cl_hamt_get(b, key, hash, &out);	out = b[key]
 *	cl_hamt_decref(a);			a is still what it was
 *
 * The trie. A key's 32-bit hash, read five bits at a time from the low
 * end, is a path from the root: at depth d the five bits at d*5 pick one
 * of 32 slots. A node stores only the slots in use:
 *
 *	bitmap node	a 32-bit bitmap of the slots in use and one entry per
 *			set bit, in bit order; entry i of slot s sits at
 *			popcount(bitmap & ((1 << s) - 1)). An entry is a
 *			key and its value, or a child node one level down.
 *	array node	32 child pointers, NULL where unused: a bitmap node
 *			that grew past 16 entries becomes one, and turns
 *			back into a bitmap node when it shrinks to 16.
 *	collision node	keys whose 32-bit hashes are all equal, in a list:
 *			no bits are left to tell them apart.
 *
 * Seven levels use 35 bits, more than the hash has, so two different
 * hashes always part by depth 6; equal ones meet in a collision node.
 * get, set and delete walk one path: O(log32 n) nodes. A set copies
 * the nodes on its path (at most seven) and shares the rest.
 *
 * Keys are compared by address, as a ContextVar is by identity; the
 * caller gives each key's hash, and the map keeps it beside the key
 * (a split needs the hash of a key already there). Values are opaque:
 * the map neither copies nor frees them.
 *
 * Nodes are reference counted: a node shared by ten maps has ten
 * references, and freeing a map frees the nodes no other map holds.
 * Maps and nodes are not safe to share between threads.
 *
 * Python: Python/hamt.c (hamt_node_bitmap_assoc, hamt_node_bitmap_find,
 * hamt_node_bitmap_without, and the array and collision nodes), itself
 * after Phil Bagwell's "Ideal Hash Trees" (2001) and Clojure's
 * PersistentHashMap.
 */
#ifndef CL_HAMT_H
#define CL_HAMT_H

#include <stddef.h>
#include <stdint.h>

enum cl_hamt_kind {
	CL_HAMT_BITMAP,
	CL_HAMT_ARRAY,
	CL_HAMT_COLLISION,
};

/* What every node starts with. */
struct cl_hamt_node {
	int refcnt;
	unsigned char kind; /* enum cl_hamt_kind */
	unsigned char size; /* bitmap and collision: entries; array:
			       children not NULL */
};

/* A key and its value; in a bitmap node, key NULL means child holds a
 * node one level down instead. */
struct cl_hamt_entry {
	const void *key;
	union {
		void *val;
		struct cl_hamt_node *child;
	};
	uint32_t hash; /* the key's (unused for a child) */
};

struct cl_hamt_bitmap {
	struct cl_hamt_node hdr;
	uint32_t bitmap;
	struct cl_hamt_entry e[]; /* hdr.size == popcount(bitmap) */
};

struct cl_hamt_array {
	struct cl_hamt_node hdr;
	struct cl_hamt_node *child[32];
};

struct cl_hamt_collision {
	struct cl_hamt_node hdr;
	uint32_t hash;		  /* every key's */
	struct cl_hamt_entry e[]; /* hdr.size of them, all keys */
};

/* A map. Immutable once made: only its reference count changes. */
struct cl_hamt {
	int refcnt;
	size_t count;		   /* keys */
	struct cl_hamt_node *root; /* NULL when empty */
};

/* Depth of the deepest node: 0 to 6 are bitmap or array levels, 7 the
 * collision nodes' (hamt.c's walks size their stacks with it). */
#define CL_HAMT_MAX_DEPTH 8

/* The empty map (one reference). Never fails: every empty map is the
 * same shared object. */
struct cl_hamt *cl_hamt_new(void);

struct cl_hamt *cl_hamt_incref(struct cl_hamt *h); /* returns h */
void cl_hamt_decref(struct cl_hamt *h);		   /* NULL is fine */

static inline size_t cl_hamt_len(const struct cl_hamt *h)
{
	return h->count;
}

/* h[key]: 1 and *val set if key is in h, else 0. */
int cl_hamt_get(const struct cl_hamt *h, const void *key, uint32_t hash,
		void **val);

/*
 * h | {key: val}: *out is a new map (one reference) with key bound to
 * val and every other binding of h; h is unchanged. Setting a key to
 * the value it has already gives h itself (a new reference). 0, or
 * -ENOMEM (then *out is untouched).
 */
int cl_hamt_set(struct cl_hamt *h, const void *key, uint32_t hash, void *val,
		struct cl_hamt **out);

/*
 * h without key: *out is a new map (one reference). -ENOENT if key is
 * not in h, -ENOMEM if memory ran out (either way *out is untouched),
 * else 0.
 */
int cl_hamt_del(struct cl_hamt *h, const void *key, uint32_t hash,
		struct cl_hamt **out);

/*
 * Iterating: every key once, in the trie's order, which depends on the
 * hashes and not on the order of insertion (except among the keys of
 * one collision node). The map must stay alive meanwhile.
 *
 *	struct cl_hamt_iter it;
 *	const void *key; void *val;
 *	cl_hamt_iter_init(&it, h);
 *	while (cl_hamt_next(&it, &key, &val)) ...
 */
struct cl_hamt_iter {
	int depth; /* -1: done */
	const struct cl_hamt_node *node[CL_HAMT_MAX_DEPTH];
	int pos[CL_HAMT_MAX_DEPTH];
};

void cl_hamt_iter_init(struct cl_hamt_iter *it, const struct cl_hamt *h);
int cl_hamt_next(struct cl_hamt_iter *it, const void **key, void **val);

/*
 * For tests and pictures: check the trie's invariants (every bitmap
 * node's size is its bitmap's popcount, no node but the root is empty,
 * a bitmap node below the root does not hold a lone key, an array node
 * counts its children, a collision node holds two or more keys of one
 * hash and sits where nothing shorter tells them apart, every key lies
 * on its hash's path, the count is right). NULL if they hold, else
 * what is wrong.
 */
const char *cl_hamt_check(const struct cl_hamt *h);

/* Free this thread's spare nodes and maps (cl__context_free_spares
 * calls it when a loop is freed). */
void cl__hamt_free_spares(void);

#endif
