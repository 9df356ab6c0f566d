/*
 * hamt.c - the persistent map of hamt.h: a hash array mapped trie.
 *
 * Every function here that changes a map builds the changed nodes anew
 * and leaves the old ones as they were; the rest of the trie is shared
 * by taking references. So the rule for every node written below: a
 * node is never modified once another node or map points to it. A new
 * node is filled in, then published by being returned.
 *
 * The walk down a path is the same everywhere: at depth d (shift =
 * 5 * d) the hash's five bits at shift pick a slot. A bitmap node keeps
 * its entries packed: the entry of slot s is number popcount(bitmap
 * below s). An array node indexes its 32 children by slot directly.
 *
 * Python: Python/hamt.c. The names follow it: assoc (set), without
 * (delete), find (get).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hamt.h"
#include "loop.h" /* struct cl__spares */

#define BITS 5
#define MAX_BITMAP 16 /* entries; one more makes an array node */

static inline uint32_t slot_of(uint32_t hash, int shift)
{
	return (hash >> shift) & 31;
}

static inline uint32_t bit_of(uint32_t hash, int shift)
{
	return 1u << slot_of(hash, shift);
}

/* The bits set in x. __builtin_popcount is one instruction only where
 * the compiler may assume one (x86-64 needs -mpopcnt); elsewhere it is
 * a call into libgcc, so count the bits in parallel, in 12 instructions
 * ("Hacker's Delight", 5-1). */
static inline int popcount(uint32_t x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (int)((x * 0x01010101u) >> 24);
}

/* Where the entry of bit sits in a bitmap node's packed array. */
static inline int index_of(uint32_t bitmap, uint32_t bit)
{
	return popcount(bitmap & (bit - 1));
}

/*
 * Spare blocks. Every set makes a map and a node or more, and drops as
 * many when the old map goes: malloc and free would be most of its
 * cost. So a dropped block waits, by size, for the next one of its
 * size (loop.h's spare lists; CPython keeps free lists for the same
 * reason): class k is a bitmap node of k entries, class 0 a map, the
 * last class an array node. Collision nodes are rare: malloc.
 */
#define SPARE_MAP 0
#define SPARE_ARRAY (MAX_BITMAP + 1)
static _Thread_local struct cl__spares spares[SPARE_ARRAY + 1];

static void *block_get(int cls, size_t size)
{
	void *p = cl__spare_get(&spares[cls]);

	return p != NULL ? p : malloc(size);
}

void cl__hamt_free_spares(void)
{
	for (int i = 0; i <= SPARE_ARRAY; i++)
		cl__spare_free_all(&spares[i]);
}

/* Nodes. */

static struct cl_hamt_bitmap *bitmap_new(int size)
{
	struct cl_hamt_bitmap *b;

	b = block_get(size, sizeof *b + (size_t)size * sizeof b->e[0]);
	if (b == NULL)
		return NULL;
	b->hdr.refcnt = 1;
	b->hdr.kind = CL_HAMT_BITMAP;
	b->hdr.size = (unsigned char)size;
	b->bitmap = 0;
	return b;
}

static struct cl_hamt_array *array_new(void)
{
	struct cl_hamt_array *a = block_get(SPARE_ARRAY, sizeof *a);

	if (a == NULL)
		return NULL;
	memset(a, 0, sizeof *a);
	a->hdr.refcnt = 1;
	a->hdr.kind = CL_HAMT_ARRAY;
	return a;
}

static struct cl_hamt_collision *collision_new(int size, uint32_t hash)
{
	struct cl_hamt_collision *c;

	c = malloc(sizeof *c + (size_t)size * sizeof c->e[0]);
	if (c == NULL)
		return NULL;
	c->hdr.refcnt = 1;
	c->hdr.kind = CL_HAMT_COLLISION;
	c->hdr.size = (unsigned char)size;
	c->hash = hash;
	return c;
}

static struct cl_hamt_node *node_incref(struct cl_hamt_node *n)
{
	n->refcnt++;
	return n;
}

/* Drop a reference; the last one frees the node and drops its
 * children's. Recursion is at most CL_HAMT_MAX_DEPTH deep. */
static void node_decref(struct cl_hamt_node *n)
{
	int cls = SPARE_ARRAY;

	if (n == NULL || --n->refcnt > 0)
		return;
	if (n->kind == CL_HAMT_BITMAP) {
		struct cl_hamt_bitmap *b = (struct cl_hamt_bitmap *)n;

		for (int i = 0; i < b->hdr.size; i++)
			if (b->e[i].key == NULL)
				node_decref(b->e[i].child);
		cls = b->hdr.size;
	} else if (n->kind == CL_HAMT_ARRAY) {
		struct cl_hamt_array *a = (struct cl_hamt_array *)n;

		for (int i = 0; i < 32; i++)
			node_decref(a->child[i]);
	} else {
		free(n); /* a collision node */
		return;
	}
	cl__spare_put(&spares[cls], n);
}

/* Copy one entry into a new node, taking a reference to a child. */
static void entry_copy(struct cl_hamt_entry *to, const struct cl_hamt_entry *e)
{
	*to = *e;
	if (e->key == NULL)
		node_incref(e->child);
}

/* A new bitmap node with the same entries as b, ready to be changed. */
static struct cl_hamt_bitmap *bitmap_clone(const struct cl_hamt_bitmap *b)
{
	struct cl_hamt_bitmap *nb = bitmap_new(b->hdr.size);

	if (nb == NULL)
		return NULL;
	nb->bitmap = b->bitmap;
	for (int i = 0; i < b->hdr.size; i++)
		entry_copy(&nb->e[i], &b->e[i]);
	return nb;
}

static struct cl_hamt_array *array_clone(const struct cl_hamt_array *a)
{
	struct cl_hamt_array *na = array_new();

	if (na == NULL)
		return NULL;
	na->hdr.size = a->hdr.size;
	for (int i = 0; i < 32; i++)
		if (a->child[i] != NULL)
			na->child[i] = node_incref(a->child[i]);
	return na;
}

/* A bitmap node at shift holding one key. */
static struct cl_hamt_node *single_new(int shift, uint32_t hash,
				       const void *key, void *val)
{
	struct cl_hamt_bitmap *b = bitmap_new(1);

	if (b == NULL)
		return NULL;
	/* Below the last level (a collision node's), no bits are left. */
	b->bitmap = shift < 32 ? bit_of(hash, shift) : 1;
	b->e[0] = (struct cl_hamt_entry){ .key = key, .val = val,
					  .hash = hash };
	return &b->hdr;
}

/* Set. */

static struct cl_hamt_node *assoc(struct cl_hamt_node *n, int shift,
				  uint32_t hash, const void *key, void *val,
				  int *added);

/*
 * A bitmap node grown past MAX_BITMAP becomes an array node: every
 * entry moves to its slot, a key as a one-key bitmap node a level
 * down (an array node holds only children), and the new key joins them.
 */
static struct cl_hamt_node *bitmap_to_array(const struct cl_hamt_bitmap *b,
					    int shift, uint32_t hash,
					    const void *key, void *val)
{
	struct cl_hamt_array *a = array_new();
	int i = 0;

	if (a == NULL)
		return NULL;
	for (uint32_t s = 0; s < 32; s++) {
		const struct cl_hamt_entry *e;

		if (!(b->bitmap & (1u << s)))
			continue;
		e = &b->e[i++];
		if (e->key == NULL)
			a->child[s] = node_incref(e->child);
		else
			a->child[s] = single_new(shift + BITS, e->hash, e->key,
						 e->val);
		if (a->child[s] == NULL)
			goto fail;
		a->hdr.size++;
	}
	a->child[slot_of(hash, shift)] = single_new(shift + BITS, hash, key,
						    val);
	if (a->child[slot_of(hash, shift)] == NULL)
		goto fail;
	a->hdr.size++;
	return &a->hdr;
fail:
	node_decref(&a->hdr);
	return NULL;
}

/* TODO(ch06): bitmap_assoc returns a new node (one reference) that
 * is b with key bound to val at this shift, *added = 1 if key was
 * not there; b itself (a new reference) if key has val already;
 * NULL if memory ran out. b never changes. pair_new is the split:
 * the node one level down holding two keys. Mirrors Python/hamt.c
 * hamt_node_bitmap_assoc, hamt_node_new_bitmap_or_collision; section 3.
 * Hints: make hint CH=6 TODO=bitmap_assoc (3 levels). */
static struct cl_hamt_node *bitmap_assoc(struct cl_hamt_bitmap *b,
					 int shift, uint32_t hash,
					 const void *key, void *val,
					 int *added)
{
	(void)b, (void)shift, (void)hash, (void)key, (void)val, (void)added;
	(void)bitmap_to_array, (void)bitmap_clone;
	errno = ENOSYS;
	return NULL;
}

static struct cl_hamt_node *array_assoc(struct cl_hamt_array *a, int shift,
					uint32_t hash, const void *key,
					void *val, int *added)
{
	uint32_t s = slot_of(hash, shift);
	struct cl_hamt_node *sub;
	struct cl_hamt_array *na;

	if (a->child[s] == NULL) {
		sub = single_new(shift + BITS, hash, key, val);
		*added = 1;
	} else {
		sub = assoc(a->child[s], shift + BITS, hash, key, val, added);
	}
	if (sub == NULL)
		return NULL;
	if (sub == a->child[s]) {
		node_decref(sub);
		return node_incref(&a->hdr);
	}
	na = array_clone(a);
	if (na == NULL) {
		node_decref(sub);
		return NULL;
	}
	if (na->child[s] == NULL)
		na->hdr.size++;
	else
		node_decref(na->child[s]);
	na->child[s] = sub;
	return &na->hdr;
}

static struct cl_hamt_node *collision_assoc(struct cl_hamt_collision *c,
					    int shift, uint32_t hash,
					    const void *key, void *val,
					    int *added)
{
	struct cl_hamt_collision *nc;
	struct cl_hamt_bitmap *wrap;
	struct cl_hamt_node *n;
	int size = c->hdr.size;

	if (hash != c->hash) {
		/* Another hash: put the collision node under a bitmap node
		 * of this level, and set the key in that. */
		wrap = bitmap_new(1);
		if (wrap == NULL)
			return NULL;
		wrap->bitmap = bit_of(c->hash, shift);
		wrap->e[0].key = NULL;
		wrap->e[0].child = node_incref(&c->hdr);
		n = bitmap_assoc(wrap, shift, hash, key, val, added);
		node_decref(&wrap->hdr);
		return n;
	}
	for (int i = 0; i < size; i++) {
		if (c->e[i].key != key)
			continue;
		if (c->e[i].val == val)
			return node_incref(&c->hdr);
		nc = collision_new(size, hash);
		if (nc == NULL)
			return NULL;
		memcpy(nc->e, c->e, (size_t)size * sizeof c->e[0]);
		nc->e[i].val = val;
		return &nc->hdr;
	}
	nc = collision_new(size + 1, hash);
	if (nc == NULL)
		return NULL;
	memcpy(nc->e, c->e, (size_t)size * sizeof c->e[0]);
	nc->e[size] = (struct cl_hamt_entry){ .key = key, .val = val,
					      .hash = hash };
	*added = 1;
	return &nc->hdr;
}

/* n with key bound to val, as a new reference (n itself if nothing
 * changed); NULL when memory ran out. */
static struct cl_hamt_node *assoc(struct cl_hamt_node *n, int shift,
				  uint32_t hash, const void *key, void *val,
				  int *added)
{
	switch (n->kind) {
	case CL_HAMT_BITMAP:
		return bitmap_assoc((struct cl_hamt_bitmap *)n, shift, hash,
				    key, val, added);
	case CL_HAMT_ARRAY:
		return array_assoc((struct cl_hamt_array *)n, shift, hash, key,
				   val, added);
	default:
		return collision_assoc((struct cl_hamt_collision *)n, shift,
				       hash, key, val, added);
	}
}

/* Delete. What removing a key from a node gives. */
enum without_result {
	W_ERROR = -1, /* memory ran out */
	W_NOTFOUND,   /* the key is not there: nothing changed */
	W_EMPTY,      /* the node would hold nothing */
	W_NEWNODE,    /* *out is the node without the key */
};

static enum without_result without(struct cl_hamt_node *n, int shift,
				   uint32_t hash, const void *key,
				   struct cl_hamt_node **out);

/* A one-key bitmap node comes up into its parent bitmap node as a plain
 * entry: a bitmap node below a bitmap node never holds a lone key. */
static int lone_key(const struct cl_hamt_node *n)
{
	const struct cl_hamt_bitmap *b = (const struct cl_hamt_bitmap *)n;

	return n->kind == CL_HAMT_BITMAP && b->hdr.size == 1 &&
	       b->e[0].key != NULL;
}

static enum without_result bitmap_without(struct cl_hamt_bitmap *b, int shift,
					  uint32_t hash, const void *key,
					  struct cl_hamt_node **out)
{
	uint32_t bit = bit_of(hash, shift);
	int idx = index_of(b->bitmap, bit), n = b->hdr.size;
	struct cl_hamt_entry *e = &b->e[idx];
	struct cl_hamt_bitmap *nb;

	if (!(b->bitmap & bit))
		return W_NOTFOUND;
	if (e->key == NULL) {
		struct cl_hamt_node *sub;
		enum without_result r;

		r = without(e->child, shift + BITS, hash, key, &sub);
		if (r == W_NEWNODE) {
			nb = bitmap_clone(b);
			if (nb == NULL) {
				node_decref(sub);
				return W_ERROR;
			}
			node_decref(nb->e[idx].child);
			if (lone_key(sub)) {
				nb->e[idx] = ((struct cl_hamt_bitmap *)sub)->e[0];
				node_decref(sub);
			} else {
				nb->e[idx].child = sub;
			}
			*out = &nb->hdr;
			return W_NEWNODE;
		}
		if (r != W_EMPTY)
			return r;
		/* The child is gone: remove its entry, below. */
	} else if (e->key != key) {
		return W_NOTFOUND;
	}
	if (n == 1)
		return W_EMPTY;
	nb = bitmap_new(n - 1);
	if (nb == NULL)
		return W_ERROR;
	nb->bitmap = b->bitmap & ~bit;
	for (int i = 0, j = 0; i < n; i++)
		if (i != idx)
			entry_copy(&nb->e[j++], &b->e[i]);
	*out = &nb->hdr;
	return W_NEWNODE;
}

/* An array node down to MAX_BITMAP children, without slot gone,
 * becomes a bitmap node again; one-key children come up as keys. */
static struct cl_hamt_node *array_to_bitmap(const struct cl_hamt_array *a,
					    uint32_t gone)
{
	struct cl_hamt_bitmap *b = bitmap_new(a->hdr.size - 1);
	int j = 0;

	if (b == NULL)
		return NULL;
	for (uint32_t s = 0; s < 32; s++) {
		struct cl_hamt_node *c = a->child[s];

		if (c == NULL || s == gone)
			continue;
		b->bitmap |= 1u << s;
		if (lone_key(c)) {
			b->e[j++] = ((struct cl_hamt_bitmap *)c)->e[0];
		} else {
			b->e[j].key = NULL;
			b->e[j++].child = node_incref(c);
		}
	}
	return &b->hdr;
}

static enum without_result array_without(struct cl_hamt_array *a, int shift,
					 uint32_t hash, const void *key,
					 struct cl_hamt_node **out)
{
	uint32_t s = slot_of(hash, shift);
	struct cl_hamt_array *na;
	struct cl_hamt_node *sub = NULL;
	enum without_result r;

	if (a->child[s] == NULL)
		return W_NOTFOUND;
	r = without(a->child[s], shift + BITS, hash, key, &sub);
	if (r == W_NOTFOUND || r == W_ERROR)
		return r;
	if (r == W_EMPTY && a->hdr.size - 1 <= MAX_BITMAP) {
		*out = array_to_bitmap(a, s);
		return *out != NULL ? W_NEWNODE : W_ERROR;
	}
	na = array_clone(a);
	if (na == NULL) {
		node_decref(sub);
		return W_ERROR;
	}
	node_decref(na->child[s]);
	na->child[s] = sub; /* NULL if the child is gone */
	if (sub == NULL)
		na->hdr.size--;
	*out = &na->hdr;
	return W_NEWNODE;
}

static enum without_result collision_without(struct cl_hamt_collision *c,
					     int shift, uint32_t hash,
					     const void *key,
					     struct cl_hamt_node **out)
{
	struct cl_hamt_collision *nc;
	int size = c->hdr.size, idx = -1;

	if (hash != c->hash)
		return W_NOTFOUND;
	for (int i = 0; i < size; i++)
		if (c->e[i].key == key)
			idx = i;
	if (idx < 0)
		return W_NOTFOUND;
	if (size == 2) {
		/* One key left: a one-key bitmap node, which the parent
		 * takes in as an entry. */
		const struct cl_hamt_entry *e = &c->e[1 - idx];

		*out = single_new(shift, e->hash, e->key, e->val);
		return *out != NULL ? W_NEWNODE : W_ERROR;
	}
	nc = collision_new(size - 1, hash);
	if (nc == NULL)
		return W_ERROR;
	for (int i = 0, j = 0; i < size; i++)
		if (i != idx)
			nc->e[j++] = c->e[i];
	*out = &nc->hdr;
	return W_NEWNODE;
}

static enum without_result without(struct cl_hamt_node *n, int shift,
				   uint32_t hash, const void *key,
				   struct cl_hamt_node **out)
{
	switch (n->kind) {
	case CL_HAMT_BITMAP:
		return bitmap_without((struct cl_hamt_bitmap *)n, shift, hash,
				      key, out);
	case CL_HAMT_ARRAY:
		return array_without((struct cl_hamt_array *)n, shift, hash,
				     key, out);
	default:
		return collision_without((struct cl_hamt_collision *)n, shift,
					 hash, key, out);
	}
}

/* Maps. */

/*
 * The empty map, one for every thread: immortal (its count never
 * changes, as CPython 3.12's immortal objects), so that threads sharing
 * it never write to it (chapter 07).
 */
static struct cl_hamt empty = { .refcnt = 1 };

static struct cl_hamt *map_new(struct cl_hamt_node *root, size_t count)
{
	struct cl_hamt *h = block_get(SPARE_MAP, sizeof *h);

	if (h == NULL)
		return NULL;
	h->refcnt = 1;
	h->count = count;
	h->root = root;
	return h;
}

struct cl_hamt *cl_hamt_new(void)
{
	return cl_hamt_incref(&empty);
}

struct cl_hamt *cl_hamt_incref(struct cl_hamt *h)
{
	if (h != &empty)
		h->refcnt++;
	return h;
}

void cl_hamt_decref(struct cl_hamt *h)
{
	if (h == NULL || h == &empty || --h->refcnt > 0)
		return;
	node_decref(h->root);
	cl__spare_put(&spares[SPARE_MAP], h);
}

int cl_hamt_get(const struct cl_hamt *h, const void *key, uint32_t hash,
		void **val)
{
	const struct cl_hamt_node *n = h->root;

	for (int shift = 0; n != NULL; shift += BITS) {
		if (n->kind == CL_HAMT_BITMAP) {
			const struct cl_hamt_bitmap *b = (const void *)n;
			uint32_t bit = bit_of(hash, shift);
			const struct cl_hamt_entry *e;

			if (!(b->bitmap & bit))
				return 0;
			e = &b->e[index_of(b->bitmap, bit)];
			if (e->key == NULL) {
				n = e->child;
				continue;
			}
			if (e->key != key)
				return 0;
			*val = e->val;
			return 1;
		}
		if (n->kind == CL_HAMT_ARRAY) {
			n = ((const struct cl_hamt_array *)n)
				    ->child[slot_of(hash, shift)];
			continue;
		}
		const struct cl_hamt_collision *c = (const void *)n;

		if (c->hash != hash)
			return 0;
		for (int i = 0; i < c->hdr.size; i++) {
			if (c->e[i].key == key) {
				*val = c->e[i].val;
				return 1;
			}
		}
		return 0;
	}
	return 0;
}

int cl_hamt_set(struct cl_hamt *h, const void *key, uint32_t hash, void *val,
		struct cl_hamt **out)
{
	struct cl_hamt_node *root;
	struct cl_hamt *nh;
	int added = 0;

	if (h->root == NULL) {
		root = single_new(0, hash, key, val);
		added = 1;
	} else {
		root = assoc(h->root, 0, hash, key, val, &added);
	}
	if (root == NULL)
		return errno == ENOSYS ? -ENOSYS : -ENOMEM;
	if (root == h->root) {
		node_decref(root);
		*out = cl_hamt_incref(h);
		return 0;
	}
	nh = map_new(root, h->count + (size_t)added);
	if (nh == NULL) {
		node_decref(root);
		return -ENOMEM;
	}
	*out = nh;
	return 0;
}

int cl_hamt_del(struct cl_hamt *h, const void *key, uint32_t hash,
		struct cl_hamt **out)
{
	struct cl_hamt_node *root = NULL;
	struct cl_hamt *nh;

	if (h->root == NULL)
		return -ENOENT;
	switch (without(h->root, 0, hash, key, &root)) {
	case W_NOTFOUND:
		return -ENOENT;
	case W_ERROR:
		return -ENOMEM;
	case W_EMPTY:
		*out = cl_hamt_new();
		return 0;
	case W_NEWNODE:
		break;
	}
	nh = map_new(root, h->count - 1);
	if (nh == NULL) {
		node_decref(root);
		return -ENOMEM;
	}
	*out = nh;
	return 0;
}

/* Iteration: a stack of the nodes on the path to the next entry. */

static void iter_push(struct cl_hamt_iter *it, const struct cl_hamt_node *n)
{
	it->depth++;
	it->node[it->depth] = n;
	it->pos[it->depth] = 0;
}

void cl_hamt_iter_init(struct cl_hamt_iter *it, const struct cl_hamt *h)
{
	it->depth = -1;
	if (h->root != NULL)
		iter_push(it, h->root);
}

int cl_hamt_next(struct cl_hamt_iter *it, const void **key, void **val)
{
	while (it->depth >= 0) {
		const struct cl_hamt_node *n = it->node[it->depth];
		int i = it->pos[it->depth];

		if (n->kind == CL_HAMT_ARRAY) {
			const struct cl_hamt_array *a = (const void *)n;

			while (i < 32 && a->child[i] == NULL)
				i++;
			if (i == 32) {
				it->depth--;
				continue;
			}
			it->pos[it->depth] = i + 1;
			iter_push(it, a->child[i]);
			continue;
		}
		if (i >= n->size) {
			it->depth--;
			continue;
		}
		it->pos[it->depth] = i + 1;
		const struct cl_hamt_entry *e =
			n->kind == CL_HAMT_BITMAP
				? &((const struct cl_hamt_bitmap *)n)->e[i]
				: &((const struct cl_hamt_collision *)n)->e[i];
		if (e->key == NULL) {
			iter_push(it, e->child);
			continue;
		}
		*key = e->key;
		*val = e->val;
		return 1;
	}
	return 0;
}

/* The checker. */

struct check {
	size_t keys;
	const char *err;
};

/* Does hash lie on the path to a node at shift whose slots so far spell
 * prefix? */
static int on_path(uint32_t hash, uint32_t prefix, int shift)
{
	uint32_t mask = shift >= 32 ? 0xffffffffu : (1u << shift) - 1;

	return (hash & mask) == prefix;
}

static void check_node(const struct cl_hamt_node *n, int shift,
		       uint32_t prefix, int parent_kind, struct check *c)
{
	if (c->err != NULL)
		return;
	if (n->refcnt < 1) {
		c->err = "a node with no reference";
		return;
	}
	if (shift > BITS * (CL_HAMT_MAX_DEPTH - 1)) {
		c->err = "a path deeper than CL_HAMT_MAX_DEPTH";
		return;
	}
	if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;
		int i = 0;

		if (b->hdr.size != __builtin_popcount(b->bitmap)) {
			c->err = "a bitmap node's size is not its popcount";
			return;
		}
		if (b->hdr.size == 0 && parent_kind >= 0) {
			c->err = "an empty node below the root";
			return;
		}
		if (b->hdr.size > MAX_BITMAP) {
			c->err = "a bitmap node of more than 16 entries";
			return;
		}
		if (parent_kind == CL_HAMT_BITMAP && lone_key(n)) {
			c->err = "a lone key in a bitmap node under a bitmap "
				 "node";
			return;
		}
		for (uint32_t s = 0; s < 32; s++) {
			const struct cl_hamt_entry *e;

			if (!(b->bitmap & (1u << s)))
				continue;
			e = &b->e[i++];
			if (e->key == NULL) {
				if (e->child == NULL) {
					c->err = "a NULL child";
					return;
				}
				if (shift + BITS > 30 &&
				    e->child->kind != CL_HAMT_COLLISION) {
					c->err = "a bitmap node below the last "
						 "level";
					return;
				}
				check_node(e->child, shift + BITS,
					   prefix | (s << shift),
					   CL_HAMT_BITMAP, c);
				continue;
			}
			if (slot_of(e->hash, shift) != s ||
			    !on_path(e->hash, prefix, shift)) {
				c->err = "a key off its hash's path";
				return;
			}
			c->keys++;
		}
	} else if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;
		int count = 0;

		for (uint32_t s = 0; s < 32; s++) {
			if (a->child[s] == NULL)
				continue;
			count++;
			check_node(a->child[s], shift + BITS,
				   prefix | (s << shift), CL_HAMT_ARRAY, c);
		}
		if (count != a->hdr.size)
			c->err = "an array node miscounts its children";
		else if (count <= MAX_BITMAP)
			c->err = "an array node of 16 children or fewer";
	} else if (n->kind == CL_HAMT_COLLISION) {
		const struct cl_hamt_collision *cn = (const void *)n;

		if (cn->hdr.size < 2) {
			c->err = "a collision node of fewer than two keys";
			return;
		}
		for (int i = 0; i < cn->hdr.size; i++) {
			if (cn->e[i].key == NULL || cn->e[i].hash != cn->hash) {
				c->err = "a collision node with another hash";
				return;
			}
			for (int j = 0; j < i; j++)
				if (cn->e[j].key == cn->e[i].key)
					c->err = "a key twice in a collision "
						 "node";
		}
		if (!on_path(cn->hash, prefix, shift > 32 ? 32 : shift))
			c->err = "a collision node off its hash's path";
		c->keys += cn->hdr.size;
	} else {
		c->err = "a node of no known kind";
	}
}

const char *cl_hamt_check(const struct cl_hamt *h)
{
	struct check c = { 0, NULL };

	if (h->refcnt < 1)
		return "a map with no reference";
	if (h->root == NULL)
		return h->count == 0 ? NULL : "no root but a count";
	if (h->root->kind == CL_HAMT_COLLISION)
		return "a collision node at the root";
	check_node(h->root, 0, 0, -1, &c);
	if (c.err == NULL && c.keys != h->count)
		c.err = "the count is not the number of keys";
	return c.err;
}
