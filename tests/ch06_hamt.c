/*
 * ch06_hamt.c - chapter 06: the persistent map under the contexts.
 *
 * hamt.h's promises one at a time: a set builds a new map and leaves the
 * old one as it was, the two share every node the set did not copy, the
 * trie splits, grows an array node and keeps colliding keys in a list
 * exactly as hamt.h draws it, and a delete undoes each of those. Then
 * all of it at once: random operations, thousands of seeds, checked
 * against a plain array that does the same by brute force.
 *
 * The tests read the nodes (hamt.h makes them public for this) and give
 * every key a hash of their choosing, so that a collision or a deep
 * split is made on purpose rather than waited for. Keys are addresses
 * in the static arrays below; values are small integers (CL_INT).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include "grade.h"
#include "hamt.h"
#include "value.h"

#define SEC_MAP	 "2. A persistent map"
#define SEC_TRIE "3. Inside the trie"
#define SEC_DEL	 "4. Deleting"

/*
 * CL_EXPECT for the hot loops. Check records the place of every
 * assertion that passes (a write to the parent), which the model test's
 * millions of checks cannot afford; this one costs nothing until it
 * fails, and then says the same.
 */
#define MUST(cond, ...)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* Keys. A key is its address; what it holds does not matter. */
#define POOL 64
#define MANY 1000
#define BIG  10000
static char pool[POOL];
static char many[MANY + 1];
static char big[BIG];

/* Where *out must still point after a call that fails. */
static struct cl_hamt untouched;

/* The five bits of hash that pick a slot at depth d. */
static unsigned slot(uint32_t hash, int d)
{
	return (hash >> (5 * d)) & 31;
}

/* A good hash of i, and a bijection: distinct i, distinct hashes. */
static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

/* xorshift64*: the tests' own random numbers, the same on every libc,
 * so a seed in a failure message replays the same run anywhere. */
struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *g, uint32_t seed)
{
	g->s = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL;
}

static uint32_t rnd(struct rng *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return (uint32_t)((g->s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Shuffle a[0..n) (Fisher-Yates). */
static void shuffle(int *a, int n, struct rng *g)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd(g) % (uint32_t)(i + 1)), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* Fail unless cl_hamt_check finds h sound; when says after what. */
static void expect_sound(const struct cl_hamt *h, const char *when)
{
	const char *why = cl_hamt_check(h);

	MUST(why == NULL, "cl_hamt_check %s: expected NULL (sound), got \"%s\"",
	     when, why);
}

/* h | {key: val}, which must succeed. */
static struct cl_hamt *with(struct cl_hamt *h, const void *key, uint32_t hash,
			    void *val)
{
	struct cl_hamt *out = &untouched;
	int rc = cl_hamt_set(h, key, hash, val, &out);

	MUST(rc == 0, "cl_hamt_set(hash %#x): expected 0, got %d", hash, rc);
	MUST(out != &untouched && out != NULL,
	     "cl_hamt_set(hash %#x) returned 0 but gave no map", hash);
	return out;
}

/* h without key, which must be in h. */
static struct cl_hamt *without(struct cl_hamt *h, const void *key,
			       uint32_t hash)
{
	struct cl_hamt *out = &untouched;
	int rc = cl_hamt_del(h, key, hash, &out);

	MUST(rc == 0, "cl_hamt_del(hash %#x): expected 0, got %d", hash, rc);
	MUST(out != &untouched && out != NULL,
	     "cl_hamt_del(hash %#x) returned 0 but gave no map", hash);
	MUST(out != h,
	     "cl_hamt_del(hash %#x): expected a new map, got the "
	     "old one back",
	     hash);
	return out;
}

/* *h = *h | {key: val}, and the old map dropped. */
static void put(struct cl_hamt **h, const void *key, uint32_t hash, void *val)
{
	struct cl_hamt *n = with(*h, key, hash, val);

	cl_hamt_decref(*h);
	*h = n;
}

/* *h = *h without key, and the old map dropped. */
static void drop(struct cl_hamt **h, const void *key, uint32_t hash)
{
	struct cl_hamt *n = without(*h, key, hash);

	cl_hamt_decref(*h);
	*h = n;
}

/* Fail unless cl_hamt_del(h, key) says -ENOENT and leaves *out alone. */
static void expect_del_misses(struct cl_hamt *h, const void *key, uint32_t hash)
{
	struct cl_hamt *out = &untouched;
	int rc = cl_hamt_del(h, key, hash, &out);

	CL_EXPECT(rc == -ENOENT,
		  "cl_hamt_del of a key not in the map (hash %#x): expected "
		  "-ENOENT (%d), got %d",
		  hash, -ENOENT, rc);
	CL_EXPECT(out == &untouched,
		  "cl_hamt_del of a key not in the map: expected *out "
		  "untouched, got %p",
		  (void *)out);
}

/* Fail unless h[key] is val. */
static void expect_get(const struct cl_hamt *h, const void *key, uint32_t hash,
		       void *val)
{
	void *got = NULL;
	int found = cl_hamt_get(h, key, hash, &got);

	MUST(found == 1, "cl_hamt_get(hash %#x): expected 1 (found), got %d",
	     hash, found);
	MUST(got == val, "cl_hamt_get(hash %#x): expected value %ld, got %ld",
	     hash, (long)CL_TOINT(val), (long)CL_TOINT(got));
}

/* Fail unless key is not in h. */
static void expect_miss(const struct cl_hamt *h, const void *key, uint32_t hash)
{
	void *got = NULL;
	int found = cl_hamt_get(h, key, hash, &got);

	MUST(found == 0,
	     "cl_hamt_get(hash %#x) of a key not in the map: expected 0, "
	     "got %d",
	     hash, found);
}

static const char *kind_name(int kind)
{
	switch (kind) {
	case CL_HAMT_BITMAP:
		return "a bitmap node";
	case CL_HAMT_ARRAY:
		return "an array node";
	case CL_HAMT_COLLISION:
		return "a collision node";
	}
	return "a node of no known kind";
}

/* n, which must be a node of the given kind; what names it. */
static const void *as_kind(const struct cl_hamt_node *n, int kind,
			   const char *what)
{
	CL_EXPECT(n != NULL, "%s: expected %s, got NULL", what,
		  kind_name(kind));
	CL_EXPECT(n->kind == kind, "%s: expected %s, got %s", what,
		  kind_name(kind), kind_name(n->kind));
	return n;
}

static const struct cl_hamt_bitmap *as_bitmap(const struct cl_hamt_node *n,
					      const char *what)
{
	return as_kind(n, CL_HAMT_BITMAP, what);
}

static const struct cl_hamt_array *as_array(const struct cl_hamt_node *n,
					    const char *what)
{
	return as_kind(n, CL_HAMT_ARRAY, what);
}

/* The entry of slot s in b, which must be in use. */
static const struct cl_hamt_entry *entry_at(const struct cl_hamt_bitmap *b,
					    unsigned s, const char *what)
{
	MUST(b->bitmap & (1U << s),
	     "%s: expected slot %u in use, the bitmap is %#x", what, s,
	     b->bitmap);
	return &b->e[__builtin_popcount(b->bitmap & ((1U << s) - 1))];
}

/* The child node in slot s of b, which must hold one. */
static const struct cl_hamt_node *child_at(const struct cl_hamt_bitmap *b,
					   unsigned s, const char *what)
{
	const struct cl_hamt_entry *e = entry_at(b, s, what);

	CL_EXPECT(e->key == NULL,
		  "%s, slot %u: expected a child node (key NULL), got a key",
		  what, s);
	return e->child;
}

/* Fail unless slot s of b holds key, bound to val, with its hash. */
static void expect_key_at(const struct cl_hamt_bitmap *b, unsigned s,
			  const void *key, uint32_t hash, void *val,
			  const char *what)
{
	const struct cl_hamt_entry *e = entry_at(b, s, what);

	CL_EXPECT(e->key == key, "%s, slot %u: expected key %p, got %p", what,
		  s, key, e->key);
	CL_EXPECT(e->val == val, "%s, slot %u: expected value %ld, got %ld",
		  what, s, (long)CL_TOINT(val), (long)CL_TOINT(e->val));
	CL_EXPECT(e->hash == hash,
		  "%s, slot %u: expected the key's hash %#x kept, got %#x",
		  what, s, hash, e->hash);
}

/* What a walk of the whole trie saw. */
struct shape {
	int kinds[3]; /* nodes of each kind */
	int depth;    /* of the deepest node; the root's is 0 */
	int keys;
	const struct cl_hamt_collision *coll; /* the last collision node */
};

static void walk(const struct cl_hamt_node *n, int d, struct shape *s)
{
	MUST(d < CL_HAMT_MAX_DEPTH, "the trie is deeper than %d levels",
	     CL_HAMT_MAX_DEPTH);
	MUST(n->kind <= CL_HAMT_COLLISION, "depth %d: a node of kind %d", d,
	     n->kind);
	s->kinds[n->kind]++;
	if (d > s->depth)
		s->depth = d;
	if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;

		for (int i = 0; i < b->hdr.size; i++) {
			if (b->e[i].key != NULL)
				s->keys++;
			else
				walk(b->e[i].child, d + 1, s);
		}
	} else if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;

		for (int i = 0; i < 32; i++)
			if (a->child[i] != NULL)
				walk(a->child[i], d + 1, s);
	} else {
		s->keys += n->size;
		s->coll = (const void *)n;
	}
}

static struct shape shape_of(const struct cl_hamt *h)
{
	struct shape s;

	memset(&s, 0, sizeof s);
	if (h->root != NULL)
		walk(h->root, 0, &s);
	return s;
}

/* Fail unless n and every node below it have one reference each. */
static void expect_one_ref(const struct cl_hamt_node *n, int d,
			   const char *when)
{
	MUST(d < CL_HAMT_MAX_DEPTH, "%s: the trie is deeper than %d levels",
	     when, CL_HAMT_MAX_DEPTH);
	MUST(n->refcnt == 1,
	     "%s: a node at depth %d has %d references, expected 1: no "
	     "other map holds it, so one was taken and never given back",
	     when, d, n->refcnt);
	if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;

		for (int i = 0; i < b->hdr.size; i++)
			if (b->e[i].key == NULL)
				expect_one_ref(b->e[i].child, d + 1, when);
	} else if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;

		for (int i = 0; i < 32; i++)
			if (a->child[i] != NULL)
				expect_one_ref(a->child[i], d + 1, when);
	}
}

/*
 * Fail unless h is the only map left holding its nodes, by one
 * reference: then every node has exactly one, from its parent or from
 * h. More is a leak when h goes. (The empty map is shared; it has no
 * nodes.)
 */
static void expect_sole_owner(const struct cl_hamt *h, const char *when)
{
	if (h->root == NULL)
		return;
	MUST(h->refcnt == 1, "%s: the map has %d references, expected 1", when,
	     h->refcnt);
	expect_one_ref(h->root, 0, when);
}

/* The value of key in collision node c, or NULL if it is not there. */
static void *in_collision(const struct cl_hamt_collision *c, const void *key)
{
	for (int i = 0; i < c->hdr.size; i++)
		if (c->e[i].key == key)
			return c->e[i].val;
	return NULL;
}

/*
 * Fail unless h binds exactly the keys pool[i] (i < n) whose model[i]
 * is not NULL, each to model[i]: by its length and one iteration, and
 * if full also by a get of every key and cl_hamt_check. ctx and which
 * name the map for the message (a seed and an op, and which version).
 */
static void expect_model(const char *ctx, const char *which,
			 const struct cl_hamt *h, void *const *model,
			 const uint32_t *hash, int n, int full)
{
	unsigned char seen[POOL];
	size_t want = 0, count = 0;
	struct cl_hamt_iter it;
	const void *key;
	void *val, *got;
	const char *why;

	for (int i = 0; i < n; i++) {
		int found;

		if (model[i] != NULL)
			want++;
		if (!full)
			continue;

		got = NULL;
		found = cl_hamt_get(h, &pool[i], hash[i], &got);
		MUST(found == (model[i] != NULL),
		     "%s, %s: get of key %d (hash %#x): expected %s, got %s",
		     ctx, which, i, hash[i], model[i] ? "found" : "absent",
		     found ? "found" : "absent");
		MUST(!found || got == model[i],
		     "%s, %s: get of key %d: expected value %ld, got %ld", ctx,
		     which, i, (long)CL_TOINT(model[i]), (long)CL_TOINT(got));
	}
	MUST(cl_hamt_len(h) == want, "%s, %s: expected length %zu, got %zu",
	     ctx, which, want, cl_hamt_len(h));
	MUST((h->root == NULL) == (want == 0),
	     "%s, %s: expected the root %s when the map %s", ctx, which,
	     want ? "not NULL" : "NULL", want ? "has keys" : "is empty");

	memset(seen, 0, sizeof seen);
	cl_hamt_iter_init(&it, h);
	while (cl_hamt_next(&it, &key, &val)) {
		uintptr_t i = (uintptr_t)key - (uintptr_t)pool;

		MUST(i < (uintptr_t)n,
		     "%s, %s: iteration gave %p, none of the map's keys", ctx,
		     which, key);
		MUST(!seen[i], "%s, %s: iteration gave key %d twice", ctx,
		     which, (int)i);
		MUST(model[i] != NULL,
		     "%s, %s: iteration gave key %d, which is not in the map",
		     ctx, which, (int)i);
		MUST(val == model[i],
		     "%s, %s: iteration gave key %d with value %ld, expected "
		     "%ld",
		     ctx, which, (int)i, (long)CL_TOINT(val),
		     (long)CL_TOINT(model[i]));
		seen[i] = 1;
		count++;
	}
	MUST(count == want, "%s, %s: iteration gave %zu keys, expected %zu",
	     ctx, which, count, want);
	if (!full)
		return;
	why = cl_hamt_check(h);
	MUST(why == NULL, "%s, %s: cl_hamt_check: expected NULL, got \"%s\"",
	     ctx, which, why);
}

/* The empty map. */
START_TEST(test_empty_map)
{
	struct cl_hamt *e = cl_hamt_new(), *e2 = cl_hamt_new();
	struct cl_hamt_iter it;
	const void *key;
	void *val;

	CL_EXPECT_INT(cl_hamt_len(e), 0);
	CL_EXPECT_PTR(e->root, NULL);
	CL_EXPECT(e2 == e,
		  "cl_hamt_new twice: expected the one shared empty map, got "
		  "%p and %p",
		  (void *)e, (void *)e2);
	expect_miss(e, &pool[0], 0);
	expect_miss(e, &pool[1], 0xdeadbeef);
	expect_del_misses(e, &pool[0], 0);
	/* Two keys in and out again: the empty map once more. */
	{
		struct cl_hamt *one, *two, *back, *none;

		CL_EXPECT_INT(cl_hamt_set(e, &pool[0], 7, CL_INT(1), &one), 0);
		CL_EXPECT_INT(cl_hamt_set(one, &pool[1], 8, CL_INT(2), &two), 0);
		CL_EXPECT_INT(cl_hamt_len(two), 2);
		CL_EXPECT_INT(cl_hamt_del(two, &pool[0], 7, &back), 0);
		CL_EXPECT_INT(cl_hamt_del(back, &pool[1], 8, &none), 0);
		CL_EXPECT_PTR(none, e);
		cl_hamt_decref(none);
		cl_hamt_decref(back);
		cl_hamt_decref(two);
		cl_hamt_decref(one);
	}
	cl_hamt_iter_init(&it, e);
	CL_EXPECT(cl_hamt_next(&it, &key, &val) == 0,
		  "iterating the empty map: expected no key, got one");
	expect_sound(e, "of the empty map");
	cl_hamt_decref(e2);
	cl_hamt_decref(e);
	cl_hamt_decref(NULL);
}
END_TEST

/* A set makes a new map and leaves the old one as it was. */
START_TEST(test_set_makes_a_new_map)
{
	struct cl_hamt *e = cl_hamt_new(), *a, *b, *c, *same;

	a = with(e, &pool[0], 10, CL_INT(100));
	CL_EXPECT(a != e, "set on the empty map: expected a new map, got it");
	CL_EXPECT_INT(cl_hamt_len(e), 0);
	CL_EXPECT_INT(cl_hamt_len(a), 1);
	CL_EXPECT_INT(a->refcnt, 1);
	expect_miss(e, &pool[0], 10);
	expect_get(a, &pool[0], 10, CL_INT(100));

	b = with(a, &pool[1], 11, CL_INT(101));
	CL_EXPECT_INT(cl_hamt_len(a), 1);
	CL_EXPECT_INT(cl_hamt_len(b), 2);
	expect_miss(a, &pool[1], 11);
	expect_get(b, &pool[0], 10, CL_INT(100));
	expect_get(b, &pool[1], 11, CL_INT(101));

	/* Keys are compared by address: the same hash is not the key. */
	expect_miss(b, &pool[2], 10);

	/* A new value for a key there: same length, the old map keeps
	 * the old value. */
	c = with(b, &pool[0], 10, CL_INT(200));
	CL_EXPECT(c != b, "replacing a value: expected a new map, got the "
			  "old one");
	CL_EXPECT_INT(cl_hamt_len(c), 2);
	expect_get(c, &pool[0], 10, CL_INT(200));
	expect_get(b, &pool[0], 10, CL_INT(100));
	expect_get(c, &pool[1], 11, CL_INT(101));

	/* The value it already has: the same map, one more reference. */
	same = with(c, &pool[1], 11, CL_INT(101));
	CL_EXPECT(same == c,
		  "setting a key to the value it has: expected the same map "
		  "%p back, got %p",
		  (void *)c, (void *)same);
	CL_EXPECT_INT(c->refcnt, 2);
	cl_hamt_decref(same);
	CL_EXPECT_INT(c->refcnt, 1);

	expect_sound(a, "of {0}");
	expect_sound(b, "of {0, 1}");
	expect_sound(c, "of {0, 1} with 0 replaced");
	cl_hamt_decref(c);
	cl_hamt_decref(b);
	cl_hamt_decref(a);
	cl_hamt_decref(e);
}
END_TEST

/*
 * Walk old and new down the path of hash, the one a set copied: at each
 * level the node is a copy, and every slot off the path holds the old
 * node's own entry or child, not a copy of it.
 */
static void expect_path_copied(const struct cl_hamt_node *o,
			       const struct cl_hamt_node *n, uint32_t hash)
{
	for (int d = 0; o != NULL && n != NULL && o->kind == n->kind; d++) {
		const struct cl_hamt_node *on = NULL, *nn = NULL;
		unsigned p = slot(hash, d);

		CL_EXPECT(n != o,
			  "depth %d, on the new key's path: expected a copy "
			  "of the old node, got the old node itself",
			  d);
		if (o->kind == CL_HAMT_ARRAY) {
			const struct cl_hamt_array *oa = (const void *)o;
			const struct cl_hamt_array *na = (const void *)n;

			for (unsigned s = 0; s < 32; s++)
				CL_EXPECT(s == p ||
					      na->child[s] == oa->child[s],
					  "depth %d, slot %u, off the new "
					  "key's path: expected the old child "
					  "%p, shared, got %p",
					  d, s, (void *)oa->child[s],
					  (void *)na->child[s]);
			on = oa->child[p];
			nn = na->child[p];
		} else if (o->kind == CL_HAMT_BITMAP) {
			const struct cl_hamt_bitmap *ob = (const void *)o;
			const struct cl_hamt_bitmap *nb = (const void *)n;
			uint32_t off = ~(1U << p);

			CL_EXPECT((nb->bitmap & off) == (ob->bitmap & off),
				  "depth %d: expected the slots off the new "
				  "key's path unchanged (%#x), got %#x",
				  d, ob->bitmap & off, nb->bitmap & off);
			for (unsigned s = 0; s < 32; s++) {
				const struct cl_hamt_entry *oe, *ne;

				if (s == p || !(ob->bitmap & (1U << s)))
					continue;
				oe = entry_at(ob, s, "the old map");
				ne = entry_at(nb, s, "the new map");
				CL_EXPECT(
				    oe->key == ne->key && oe->val == ne->val,
				    "depth %d, slot %u, off the new "
				    "key's path: expected the old entry "
				    "(key %p, %p), got (key %p, %p)",
				    d, s, oe->key, oe->val, ne->key, ne->val);
			}
			if ((ob->bitmap & nb->bitmap & (1U << p)) &&
			    entry_at(ob, p, "old")->key == NULL &&
			    entry_at(nb, p, "new")->key == NULL) {
				on = entry_at(ob, p, "old")->child;
				nn = entry_at(nb, p, "new")->child;
			}
		}
		o = on;
		n = nn;
	}
}

/* A set copies one path and shares the rest. */
START_TEST(test_set_shares_structure)
{
	struct cl_hamt *old = cl_hamt_new(), *new, *copy;
	const struct cl_hamt_array *oa, *na;
	uint32_t h = mix(MANY);
	unsigned p = slot(h, 0);

	for (int i = 0; i < MANY; i++)
		put(&old, &many[i], mix(i), CL_INT(i));
	new = with(old, &many[MANY], h, CL_INT(MANY));
	CL_EXPECT_INT(cl_hamt_len(old), MANY);
	CL_EXPECT_INT(cl_hamt_len(new), MANY + 1);
	expect_miss(old, &many[MANY], h);
	expect_get(new, &many[MANY], h, CL_INT(MANY));

	/* 1000 keys use every slot of the root: an array node. */
	oa = as_array(old->root, "the root of a map of 1000 keys");
	na = as_array(new->root, "the root of a map of 1001 keys");
	CL_EXPECT(na != oa, "the root after a set: expected a copy, got the "
			    "old root itself");
	for (unsigned s = 0; s < 32; s++) {
		CL_EXPECT(oa->child[s] != NULL,
			  "the root of 1000 keys: expected every slot in use, "
			  "slot %u is NULL",
			  s);
		if (s == p)
			continue;
		CL_EXPECT(na->child[s] == oa->child[s],
			  "root slot %u, off the new key's path (slot %u): "
			  "expected the old child %p, shared, got %p",
			  s, p, (void *)oa->child[s], (void *)na->child[s]);
		CL_EXPECT(oa->child[s]->refcnt == 2,
			  "root slot %u: a node both maps hold: expected 2 "
			  "references (one from each root), got %d",
			  s, oa->child[s]->refcnt);
	}
	CL_EXPECT(na->child[p] != oa->child[p],
		  "root slot %u, on the new key's path: expected a copy of "
		  "the child, got the old one",
		  p);
	expect_path_copied(old->root, new->root, h);

	/* A copy of a map is the map, one more reference. */
	copy = cl_hamt_incref(new);
	CL_EXPECT_PTR(copy, new);
	CL_EXPECT_INT(new->refcnt, 2);
	cl_hamt_decref(copy);

	/* Dropping the old map leaves the shared children to the new. */
	expect_sound(old, "of the 1000 keys");
	expect_sound(new, "of the 1001 keys");
	cl_hamt_decref(old);
	for (unsigned s = 0; s < 32; s++)
		CL_EXPECT(s == p || na->child[s]->refcnt == 1,
			  "root slot %u after the old map was dropped: "
			  "expected 1 reference, got %d",
			  s, na->child[s]->refcnt);
	for (int i = 0; i <= MANY; i++)
		expect_get(new, &many[i], mix(i), CL_INT(i));
	expect_sound(new, "of the 1001 keys, the 1000 dropped");
	expect_sole_owner(new, "the 1001 keys, the 1000 dropped");
	cl_hamt_decref(new);
}
END_TEST

/* The same with a bitmap root: a new slot, a split, a deeper set. */
START_TEST(test_set_shares_bitmap_entries)
{
	/* Ten keys in slots 0..9, and two more under slot 3's. */
	static const uint32_t base[] = {
	    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3 | 1 << 5, 3 | 2 << 5,
	};
	/* A new slot, a split of slot 5's key, a set under slot 3. */
	static const uint32_t more[] = {20, 5 | 7 << 5, 3 | 9 << 5};
	struct cl_hamt *old = cl_hamt_new(), *new;

	for (int i = 0; i < 12; i++)
		put(&old, &pool[i], base[i], CL_INT(i));
	as_bitmap(old->root, "the root of 12 keys in 10 slots");
	for (int j = 0; j < 3; j++) {
		new = with(old, &pool[20 + j], more[j], CL_INT(20 + j));
		expect_path_copied(old->root, new->root, more[j]);
		for (int i = 0; i < 12; i++)
			expect_get(new, &pool[i], base[i], CL_INT(i));
		expect_get(new, &pool[20 + j], more[j], CL_INT(20 + j));
		expect_miss(old, &pool[20 + j], more[j]);
		expect_sound(new, "after a set into a bitmap root");
		cl_hamt_decref(new);
	}
	cl_hamt_decref(old);
}
END_TEST

/* Keys whose hashes share their low bits split into deeper nodes. */
START_TEST(test_split_into_deeper_levels)
{
	/* Two hashes with slot 1 at depth 0, slots 1 and 2 at depth 1. */
	uint32_t ha = 1 | 1 << 5, hb = 1 | 2 << 5;
	/* Three sharing slots 7 and 9, apart at depth 2; one more apart
	 * from them at depth 1. */
	uint32_t hc[3] = {7 | 9 << 5 | 1 << 10, 7 | 9 << 5 | 2 << 10,
			  7 | 9 << 5 | 3 << 10};
	uint32_t hd = 7 | 4 << 5;
	struct cl_hamt *m = cl_hamt_new();
	const struct cl_hamt_bitmap *root, *d1, *d2;
	struct shape s;

	put(&m, &pool[0], ha, CL_INT(1));
	put(&m, &pool[1], hb, CL_INT(2));
	root = as_bitmap(m->root, "the root of two keys in one slot");
	CL_EXPECT_INT(root->bitmap, 1U << slot(ha, 0));
	CL_EXPECT_INT(root->hdr.size, 1);
	d1 = as_bitmap(child_at(root, slot(ha, 0), "the root"),
		       "the node at depth 1");
	CL_EXPECT_INT(d1->bitmap, 1U << slot(ha, 1) | 1U << slot(hb, 1));
	CL_EXPECT_INT(d1->hdr.size, 2);
	expect_key_at(d1, slot(ha, 1), &pool[0], ha, CL_INT(1), "depth 1");
	expect_key_at(d1, slot(hb, 1), &pool[1], hb, CL_INT(2), "depth 1");
	expect_sound(m, "after a split at depth 1");
	s = shape_of(m);
	CL_EXPECT_INT(s.depth, 1);
	cl_hamt_decref(m);

	m = cl_hamt_new();
	for (int i = 0; i < 3; i++)
		put(&m, &pool[i], hc[i], CL_INT(10 + i));
	root = as_bitmap(m->root, "the root of three keys in one slot");
	CL_EXPECT_INT(root->bitmap, 1U << 7);
	d1 = as_bitmap(child_at(root, 7, "the root"), "the node at depth 1");
	CL_EXPECT_INT(d1->bitmap, 1U << 9);
	CL_EXPECT_INT(d1->hdr.size, 1);
	d2 = as_bitmap(child_at(d1, 9, "depth 1"), "the node at depth 2");
	CL_EXPECT_INT(d2->bitmap, 1U << 1 | 1U << 2 | 1U << 3);
	CL_EXPECT_INT(d2->hdr.size, 3);
	for (int i = 0; i < 3; i++)
		expect_key_at(d2, slot(hc[i], 2), &pool[i], hc[i],
			      CL_INT(10 + i), "depth 2");
	s = shape_of(m);
	CL_EXPECT_INT(s.depth, 2);
	expect_sound(m, "after a split at depth 2");

	/* A key beside the child at depth 1: one node, key and child,
	 * in slot order. */
	put(&m, &pool[3], hd, CL_INT(13));
	root = as_bitmap(m->root, "the root");
	d1 = as_bitmap(child_at(root, 7, "the root"), "the node at depth 1");
	CL_EXPECT_INT(d1->bitmap, 1U << 4 | 1U << 9);
	CL_EXPECT_INT(d1->hdr.size, 2);
	expect_key_at(d1, 4, &pool[3], hd, CL_INT(13), "depth 1");
	CL_EXPECT(d1->e[1].key == NULL,
		  "depth 1, slot 9 (entry 1): expected the child node, got "
		  "a key");
	for (int i = 0; i < 3; i++)
		expect_get(m, &pool[i], hc[i], CL_INT(10 + i));
	expect_sound(m, "after a key beside a child");
	cl_hamt_decref(m);
}
END_TEST

/*
 * The node at depth level of m whose keys have hashes i << 5*level |
 * low: the root, or the one child of the root's slot low.
 */
static const struct cl_hamt_node *level_node(const struct cl_hamt *m, int level,
					     unsigned low)
{
	const struct cl_hamt_bitmap *root;

	if (level == 0)
		return m->root;
	root = as_bitmap(m->root, "the root");
	CL_EXPECT_INT(root->bitmap, 1U << low);
	return child_at(root, low, "the root");
}

/* Past 16 slots a bitmap node becomes an array node, and back. */
START_TEST(test_bitmap_grows_into_array)
{
	for (int level = 0; level < 2; level++) {
		unsigned low = level ? 3 : 0;
		uint32_t h[17];
		struct cl_hamt *m = cl_hamt_new(), *m17, *m16;
		const struct cl_hamt_bitmap *b;
		const struct cl_hamt_array *a;
		char what[64];

		for (int i = 0; i < 17; i++)
			h[i] = (uint32_t)i << 5 * level | low;
		for (int i = 0; i < 16; i++)
			put(&m, &pool[i], h[i], CL_INT(i));
		snprintf(what, sizeof what, "16 slots in use at depth %d",
			 level);
		b = as_bitmap(level_node(m, level, low), what);
		CL_EXPECT_INT(b->hdr.size, 16);
		CL_EXPECT_INT(b->bitmap, 0xffff);
		for (int i = 0; i < 16; i++)
			expect_key_at(b, (unsigned)i, &pool[i], h[i], CL_INT(i),
				      what);

		m17 = with(m, &pool[16], h[16], CL_INT(16));
		snprintf(what, sizeof what, "17 slots in use at depth %d",
			 level);
		a = as_array(level_node(m17, level, low), what);
		CL_EXPECT_INT(a->hdr.size, 17);
		for (int i = 0; i < 32; i++)
			CL_EXPECT((a->child[i] != NULL) == (i < 17),
				  "%s: child %d: expected %s, got %p", what, i,
				  i < 17 ? "a node" : "NULL",
				  (void *)a->child[i]);
		for (int i = 0; i < 17; i++)
			expect_get(m17, &pool[i], h[i], CL_INT(i));
		expect_sound(m17, what);
		b = as_bitmap(level_node(m, level, low),
			      "the 16-key map after the 17th was set");
		CL_EXPECT_INT(b->hdr.size, 16);

		/* Back to 16: a bitmap node again, the keys inline. */
		m16 = without(m17, &pool[5], h[5]);
		snprintf(what, sizeof what, "17 slots less one at depth %d",
			 level);
		b = as_bitmap(level_node(m16, level, low), what);
		CL_EXPECT_INT(b->hdr.size, 16);
		CL_EXPECT_INT(b->bitmap, 0x1ffff & ~(1U << 5));
		for (int i = 0; i < 17; i++)
			if (i != 5)
				expect_key_at(b, (unsigned)i, &pool[i], h[i],
					      CL_INT(i), what);
		expect_miss(m16, &pool[5], h[5]);
		expect_sound(m16, what);
		as_array(level_node(m17, level, low),
			 "the 17-key map after a delete from it");
		CL_EXPECT_INT(cl_hamt_len(m17), 17);
		cl_hamt_decref(m16);
		cl_hamt_decref(m17);
		cl_hamt_decref(m);
	}
}
END_TEST

/* Keys of one hash share a collision node, until one is left. */
START_TEST(test_collision_node)
{
	uint32_t H = 0x2345678a, near = H ^ 1U << 7;
	struct cl_hamt *m = cl_hamt_new(), *m2, *m3, *m4, *m5, *same;
	const struct cl_hamt_collision *c;
	struct shape s;

	put(&m, &pool[9], 1, CL_INT(9));
	put(&m, &pool[0], H, CL_INT(10));
	put(&m, &pool[1], H, CL_INT(11));
	expect_sound(m, "after two keys of one hash");
	s = shape_of(m);
	CL_EXPECT(s.kinds[CL_HAMT_COLLISION] == 1,
		  "two keys of one hash: expected 1 collision node, got %d",
		  s.kinds[CL_HAMT_COLLISION]);
	c = s.coll;
	CL_EXPECT_INT(c->hdr.size, 2);
	CL_EXPECT_INT(c->hash, H);
	CL_EXPECT(in_collision(c, &pool[0]) == CL_INT(10) &&
		      in_collision(c, &pool[1]) == CL_INT(11),
		  "the collision node: expected keys 0 and 1 with values 10 "
		  "and 11");
	expect_get(m, &pool[0], H, CL_INT(10));
	expect_get(m, &pool[1], H, CL_INT(11));
	expect_miss(m, &pool[2], H);
	CL_EXPECT_INT(cl_hamt_len(m), 3);

	/* A third key of the hash joins the node; m keeps two. */
	m2 = with(m, &pool[2], H, CL_INT(12));
	expect_sound(m2, "after a third key of one hash");
	s = shape_of(m2);
	CL_EXPECT_INT(s.kinds[CL_HAMT_COLLISION], 1);
	CL_EXPECT_INT(s.coll->hdr.size, 3);
	CL_EXPECT_INT(s.coll->hash, H);
	CL_EXPECT_INT(c->hdr.size, 2);
	for (int i = 0; i < 3; i++)
		expect_get(m2, &pool[i], H, CL_INT(10 + i));
	expect_miss(m, &pool[2], H);

	/* A new value in the collision node, and the same value. */
	m3 = with(m2, &pool[1], H, CL_INT(21));
	CL_EXPECT_INT(cl_hamt_len(m3), 4);
	expect_get(m3, &pool[1], H, CL_INT(21));
	expect_get(m2, &pool[1], H, CL_INT(11));
	same = with(m3, &pool[1], H, CL_INT(21));
	CL_EXPECT(same == m3,
		  "setting a colliding key to the value it has: expected the "
		  "same map back, got another");
	cl_hamt_decref(same);
	expect_sound(m3, "after a value replaced in a collision node");

	/* A key that shares only some bits of H pushes the node down. */
	same = with(m3, &pool[3], near, CL_INT(13));
	expect_sound(same, "after a key near the colliding ones");
	for (int i = 0; i < 3; i++)
		expect_get(same, &pool[i], H,
			   i == 1 ? CL_INT(21) : CL_INT(10 + i));
	expect_get(same, &pool[3], near, CL_INT(13));
	CL_EXPECT_INT(shape_of(same).kinds[CL_HAMT_COLLISION], 1);
	cl_hamt_decref(same);

	/* Deleting: a key of the hash that is not there, then one that is. */
	expect_del_misses(m3, &pool[3], H);
	m4 = without(m3, &pool[1], H);
	expect_sound(m4, "after a delete from a collision node of 3");
	s = shape_of(m4);
	CL_EXPECT_INT(s.kinds[CL_HAMT_COLLISION], 1);
	CL_EXPECT_INT(s.coll->hdr.size, 2);
	CL_EXPECT(in_collision(s.coll, &pool[0]) == CL_INT(10) &&
		      in_collision(s.coll, &pool[2]) == CL_INT(12),
		  "the collision node after key 1 went: expected keys 0 and "
		  "2 with values 10 and 12");
	expect_miss(m4, &pool[1], H);
	expect_get(m3, &pool[1], H, CL_INT(21));

	/* One key left: no collision node anywhere, the key back in the
	 * root beside key 9. */
	m5 = without(m4, &pool[0], H);
	expect_sound(m5, "after a collision node fell to one key");
	s = shape_of(m5);
	CL_EXPECT(s.kinds[CL_HAMT_COLLISION] == 0,
		  "one key of the hash left: expected no collision node, got "
		  "%d",
		  s.kinds[CL_HAMT_COLLISION]);
	CL_EXPECT(s.depth == 0,
		  "one key of the hash left: expected it inline in the root "
		  "(depth 0), got a trie of depth %d",
		  s.depth);
	CL_EXPECT_INT(cl_hamt_len(m5), 2);
	expect_get(m5, &pool[2], H, CL_INT(12));
	expect_get(m5, &pool[9], 1, CL_INT(9));
	expect_miss(m5, &pool[0], H);
	expect_get(m4, &pool[0], H, CL_INT(10));

	cl_hamt_decref(m5);
	cl_hamt_decref(m4);
	cl_hamt_decref(m3);
	cl_hamt_decref(m2);
	cl_hamt_decref(m);
}
END_TEST

/* A delete collapses the path it empties, level by level. */
START_TEST(test_delete_collapses_path)
{
	/* A and B apart at depth 2, C beside them at depth 1, D alone. */
	uint32_t ha = 1 | 1 << 5 | 1 << 10, hb = 1 | 1 << 5 | 2 << 10;
	uint32_t hc = 1 | 2 << 5, hd = 2;
	/* Two keys apart only at bit 30: the deepest split there is. */
	uint32_t h0 = 0x15555555 & 0x3fffffff, h1 = h0 | 1U << 30;
	struct cl_hamt *m = cl_hamt_new(), *n;
	const struct cl_hamt_bitmap *root;
	struct shape s;

	put(&m, &pool[0], ha, CL_INT(1));
	put(&m, &pool[1], hb, CL_INT(2));
	put(&m, &pool[2], hc, CL_INT(3));
	put(&m, &pool[3], hd, CL_INT(4));
	CL_EXPECT_INT(shape_of(m).depth, 2);

	/* Absent keys: a key's hash but another address; a slot with a
	 * child but nothing below; an empty slot. */
	expect_del_misses(m, &pool[4], ha);
	expect_del_misses(m, &pool[4], 1 | 1 << 5 | 7 << 10);
	expect_del_misses(m, &pool[4], 1 | 9 << 5);
	expect_del_misses(m, &pool[4], 30);

	/* B goes: A is alone at depth 2 and moves up beside C. */
	drop(&m, &pool[1], hb);
	expect_sound(m, "after B went (A alone at depth 2)");
	s = shape_of(m);
	CL_EXPECT(s.depth == 1,
		  "after B went: expected depth 1 (A beside C), got %d",
		  s.depth);
	root = as_bitmap(m->root, "the root");
	expect_key_at(as_bitmap(child_at(root, 1, "the root"), "depth 1"), 1,
		      &pool[0], ha, CL_INT(1), "depth 1");

	/* C goes: A is alone at depth 1 and moves up into the root. */
	drop(&m, &pool[2], hc);
	expect_sound(m, "after C went (A alone at depth 1)");
	s = shape_of(m);
	CL_EXPECT(s.depth == 0,
		  "after C went: expected depth 0 (A in the root), got %d",
		  s.depth);
	root = as_bitmap(m->root, "the root");
	CL_EXPECT_INT(root->bitmap, 1U << 1 | 1U << 2);
	expect_key_at(root, 1, &pool[0], ha, CL_INT(1), "the root");
	expect_key_at(root, 2, &pool[3], hd, CL_INT(4), "the root");

	/* Everything goes: an empty map, no root. */
	drop(&m, &pool[0], ha);
	drop(&m, &pool[3], hd);
	CL_EXPECT_INT(cl_hamt_len(m), 0);
	CL_EXPECT_PTR(m->root, NULL);
	expect_sound(m, "after every key went");
	expect_del_misses(m, &pool[0], ha);

	/* Six levels deep, and back to the root in one delete. */
	put(&m, &pool[9], 9, CL_INT(9));
	put(&m, &pool[0], h0, CL_INT(10));
	put(&m, &pool[1], h1, CL_INT(11));
	s = shape_of(m);
	CL_EXPECT(s.depth == 6,
		  "two keys apart only at bit 30: expected depth 6, got %d",
		  s.depth);
	expect_sound(m, "with two keys at depth 6");
	expect_del_misses(m, &pool[2], h0 | 2U << 30);
	n = without(m, &pool[1], h1);
	expect_sound(n, "after one of the two keys at depth 6 went");
	s = shape_of(n);
	CL_EXPECT(s.depth == 0,
		  "after one of the two keys at depth 6 went: expected "
		  "depth 0, got %d",
		  s.depth);
	CL_EXPECT_INT(as_bitmap(n->root, "the root")->hdr.size, 2);
	expect_get(n, &pool[0], h0, CL_INT(10));
	expect_get(m, &pool[1], h1, CL_INT(11));
	CL_EXPECT_INT(shape_of(m).depth, 6);
	cl_hamt_decref(n);
	cl_hamt_decref(m);
}
END_TEST

/* Iteration gives every key once, in the trie's order. */
START_TEST(test_iteration_visits_each_key)
{
	enum { N = 200 };
	struct cl_hamt *a = cl_hamt_new(), *b = cl_hamt_new();
	struct cl_hamt_iter ia, ib;
	const void *ka, *kb;
	void *va, *vb;
	unsigned char seen[N] = {0};
	int order[N], count = 0;
	struct rng g;

	rng_seed(&g, 6);
	for (int i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N, &g);
	for (int i = 0; i < N; i++) {
		put(&a, &many[i], mix(i), CL_INT(i + 1));
		put(&b, &many[order[i]], mix(order[i]), CL_INT(order[i] + 1));
	}

	cl_hamt_iter_init(&ia, a);
	while (cl_hamt_next(&ia, &ka, &va)) {
		uintptr_t i = (uintptr_t)ka - (uintptr_t)many;

		CL_EXPECT(i < N, "iteration gave %p, none of the map's keys",
			  ka);
		CL_EXPECT(!seen[i], "iteration gave key %d twice", (int)i);
		CL_EXPECT(va == CL_INT(i + 1),
			  "iteration gave key %d with value %ld, expected %d",
			  (int)i, (long)CL_TOINT(va), (int)i + 1);
		seen[i] = 1;
		count++;
	}
	CL_EXPECT(count == N, "iteration gave %d keys, expected %d", count, N);
	CL_EXPECT(cl_hamt_next(&ia, &ka, &va) == 0,
		  "cl_hamt_next after the last key: expected 0, got a key");

	/* The order is the trie's, not the order of insertion. */
	cl_hamt_iter_init(&ia, a);
	cl_hamt_iter_init(&ib, b);
	for (int i = 0;; i++) {
		int more = cl_hamt_next(&ia, &ka, &va);

		CL_EXPECT(cl_hamt_next(&ib, &kb, &vb) == more,
			  "two maps of the same keys: one iteration ended "
			  "after %d keys, the other did not",
			  i);
		if (!more)
			break;
		CL_EXPECT(ka == kb,
			  "two maps of the same keys, inserted in different "
			  "orders: key %d of their iterations differs",
			  i);
	}
	cl_hamt_decref(a);
	cl_hamt_decref(b);
}
END_TEST

/* A node made by hand, with one reference; entries zeroed. */
static void *hand_node(int kind, uint32_t bitmap, int size)
{
	size_t bytes = sizeof(struct cl_hamt_array);
	struct cl_hamt_node *n;

	if (kind == CL_HAMT_BITMAP)
		bytes = sizeof(struct cl_hamt_bitmap) +
			(size_t)size * sizeof(struct cl_hamt_entry);
	if (kind == CL_HAMT_COLLISION)
		bytes = sizeof(struct cl_hamt_collision) +
			(size_t)size * sizeof(struct cl_hamt_entry);
	n = calloc(1, bytes);
	ck_assert_ptr_nonnull(n);
	n->refcnt = 1;
	n->kind = (unsigned char)kind;
	n->size = (unsigned char)size;
	if (kind == CL_HAMT_BITMAP)
		((struct cl_hamt_bitmap *)n)->bitmap = bitmap;
	if (kind == CL_HAMT_COLLISION)
		((struct cl_hamt_collision *)n)->hash = bitmap;
	return n;
}

static void hand_key(struct cl_hamt_entry *e, int i, uint32_t hash)
{
	e->key = &pool[i];
	e->val = CL_INT(i);
	e->hash = hash;
}

/* Fail unless cl_hamt_check says m is sound exactly when it should. */
static void expect_verdict(const struct cl_hamt *m, int sound, const char *what)
{
	const char *why = cl_hamt_check(m);

	if (sound)
		CL_EXPECT(why == NULL,
			  "cl_hamt_check of %s: expected NULL (sound), got "
			  "\"%s\"",
			  what, why);
	else
		CL_EXPECT(why != NULL,
			  "cl_hamt_check of %s: expected a complaint, got "
			  "NULL",
			  what);
}

/*
 * cl_hamt_check, which every other test trusts, on tries made by
 * hand: each broken in one way hamt.h lists, beside its sound twin.
 */
START_TEST(test_check_finds_broken_tries)
{
	uint32_t H = 1 | 1 << 5 | 3 << 10;
	struct cl_hamt m = {.refcnt = 1};
	struct cl_hamt_bitmap *root, *sub;
	struct cl_hamt_collision *c;
	struct cl_hamt_array *a;

	/* Keys in slots 1 and 2 of the root: the trie cl_hamt_set builds
	 * from them, entry for entry. */
	struct cl_hamt *e = cl_hamt_new(), *one, *two;
	struct cl_hamt_bitmap *built;

	CL_EXPECT_INT(cl_hamt_set(e, &pool[1], 2, CL_INT(1), &one), 0);
	CL_EXPECT_INT(cl_hamt_set(one, &pool[0], 1, CL_INT(0), &two), 0);
	root = hand_node(CL_HAMT_BITMAP, 1U << 1 | 1U << 2, 2);
	hand_key(&root->e[0], 0, 1);
	hand_key(&root->e[1], 1, 2);
	built = (struct cl_hamt_bitmap *)two->root;
	CL_EXPECT(two->count == 2 && built->hdr.kind == CL_HAMT_BITMAP &&
			  built->bitmap == root->bitmap &&
			  built->e[0].key == root->e[0].key &&
			  built->e[1].key == root->e[1].key,
		  "setting keys of hashes 2 then 1 in the empty map: expected "
		  "a bitmap root 0x6 holding them in slot order");
	cl_hamt_decref(two);
	cl_hamt_decref(one);
	cl_hamt_decref(e);
	m.root = &root->hdr;
	m.count = 2;
	expect_verdict(&m, 1, "two keys in the root");
	m.count = 3;
	expect_verdict(&m, 0, "a count of 3 for 2 keys");
	m.count = 2;
	root->e[1].hash = 7;
	expect_verdict(&m, 0, "a key of hash 7 in slot 2");
	root->e[1].hash = 2;
	root->bitmap |= 1U << 9;
	expect_verdict(&m, 0, "a bitmap of 3 slots over 2 entries");
	root->bitmap &= ~(1U << 9);

	/* Slot 1 holds a child: two keys, one (a lone key), none. */
	sub = hand_node(CL_HAMT_BITMAP, 1U << 1 | 1U << 2, 2);
	hand_key(&sub->e[0], 2, 1 | 1 << 5);
	hand_key(&sub->e[1], 3, 1 | 2 << 5);
	root->e[0].key = NULL;
	root->e[0].child = &sub->hdr;
	m.count = 3;
	expect_verdict(&m, 1, "a child of two keys");
	sub->bitmap = 1U << 1;
	sub->hdr.size = 1;
	m.count = 2;
	expect_verdict(&m, 0, "a lone key in a bitmap node below the root");
	sub->bitmap = 0;
	sub->hdr.size = 0;
	m.count = 1;
	expect_verdict(&m, 0, "an empty bitmap node below the root");
	free(sub);

	/* Slot 1 holds a collision node: two keys, one, two hashes. */
	c = hand_node(CL_HAMT_COLLISION, H, 2);
	hand_key(&c->e[0], 2, H);
	hand_key(&c->e[1], 3, H);
	root->e[0].child = &c->hdr;
	m.count = 3;
	expect_verdict(&m, 1, "a collision node of two keys");
	c->e[1].hash = H ^ 1U << 20;
	expect_verdict(&m, 0, "a collision node of two hashes");
	c->e[1].hash = H;
	c->hdr.size = 1;
	m.count = 2;
	expect_verdict(&m, 0, "a collision node of one key");
	free(c);
	free(root);

	/* An array root of 17 one-key children, then miscounted. */
	a = hand_node(CL_HAMT_ARRAY, 0, 17);
	for (int s = 0; s < 17; s++) {
		sub = hand_node(CL_HAMT_BITMAP, 1U, 1);
		hand_key(&sub->e[0], s, (uint32_t)s);
		a->child[s] = &sub->hdr;
	}
	m.root = &a->hdr;
	m.count = 17;
	expect_verdict(&m, 1, "an array node of 17 children");
	a->hdr.size = 18;
	expect_verdict(&m, 0, "an array node of 17 children that says 18");
	for (int s = 0; s < 17; s++)
		free(a->child[s]);
	free(a);
}
END_TEST

/*
 * The model test.
 *
 * Per seed: a pool of n keys and their hashes, from one of three test
 * hashes; then OPS random sets, deletes and gets, each on the newest
 * version of the map or now and then on an older one, checked against
 * a plain array of values per version. The last HISTORY versions are
 * kept, each with its own array, and the one to free is picked at
 * random, so that versions die in every order.
 *
 * A failure names its seed and op ("seed 21, op 124"); model_seed(21)
 * alone replays it, the same on any machine. 2000 seeds of 150 ops take
 * about 0.7 s, and 3 s under ASan on a busy machine: the grader allows
 * a test 5.
 */
#define SEEDS	2000
#define OPS	150
#define HISTORY 8

/* One version of the map and what it holds: model[i] is pool[i]'s
 * value, NULL when pool[i] is not in it. */
struct version {
	struct cl_hamt *h;
	void *model[POOL];
};

/*
 * The hashes of the pool, by seed:
 *	seed % 3 == 0	a good hash: every key its own
 *	seed % 3 == 1	one to six hashes in all, which may share up to
 *			30 low bits: collision nodes, deep ones too
 *	seed % 3 == 2	one or two long runs of common low bits (5 to 31),
 *			the rest a good hash: deep splits, and collisions
 *			when few bits are left
 */
static void pick_hashes(uint32_t seed, uint32_t *hash, struct rng *g)
{
	uint32_t salt = rnd(g), few[6], pre[2], bits, mask;
	int k;

	switch (seed % 3) {
	case 0:
		for (int i = 0; i < POOL; i++)
			hash[i] = mix((uint32_t)i ^ salt);
		break;
	case 1:
		k = 1 + (int)(rnd(g) % 6);
		bits = rnd(g) % 31;
		mask = (1U << bits) - 1;
		for (int j = 0; j < k; j++)
			few[j] =
			    (mix(salt + (uint32_t)j) & ~mask) | (salt & mask);
		for (int i = 0; i < POOL; i++)
			hash[i] = few[rnd(g) % (uint32_t)k];
		break;
	default:
		bits = 5 + rnd(g) % 27;
		mask = (1U << bits) - 1;
		pre[0] = salt;
		pre[1] = rnd(g) % 2 ? rnd(g) : salt;
		for (int i = 0; i < POOL; i++)
			hash[i] = (pre[rnd(g) % 4 == 0] & mask) |
				  (mix((uint32_t)i ^ salt) & ~mask);
		break;
	}
}

/* "seed S, op N": where the model test is, for its messages. */
static char model_at[48];

static void model_seed(uint32_t seed)
{
	struct version v[HISTORY];
	uint32_t hash[POOL];
	void *want[POOL];
	int nv = 1, n;
	struct rng g;
	char *ctx = model_at;

	rng_seed(&g, seed);
	pick_hashes(seed, hash, &g);
	n = 2 + (int)(rnd(&g) % (POOL - 1));
	v[0].h = cl_hamt_new();
	memset(v[0].model, 0, sizeof v[0].model);

	for (int op = 0; op < OPS; op++) {
		int b =
		    rnd(&g) % 4 == 0 ? (int)(rnd(&g) % (uint32_t)nv) : nv - 1;
		int i = (int)(rnd(&g) % (uint32_t)n), what = rnd(&g) % 8;
		struct cl_hamt *base = v[b].h, *out = &untouched;
		void *val = CL_INT(4 * i + 1 + rnd(&g) % 3), *got = NULL;
		int rc, found;

		snprintf(ctx, sizeof model_at, "seed %u, op %d", seed, op);
		memcpy(want, v[b].model, sizeof want);
		if (what < 4) {
			rc = cl_hamt_set(base, &pool[i], hash[i], val, &out);
			MUST(rc == 0, "%s: set of key %d: expected 0, got %d",
			     ctx, i, rc);
			MUST(out != base || want[i] == val,
			     "%s: set of key %d to a new value: expected a "
			     "new map, got the old one back",
			     ctx, i);
			MUST(out == base || want[i] != val,
			     "%s: set of key %d to the value it has: expected "
			     "the same map back, got another",
			     ctx, i);
			want[i] = val;
		} else if (what < 7) {
			rc = cl_hamt_del(base, &pool[i], hash[i], &out);
			if (want[i] == NULL) {
				MUST(rc == -ENOENT && out == &untouched,
				     "%s: delete of key %d, not in the map: "
				     "expected -ENOENT and *out untouched, "
				     "got %d and %p",
				     ctx, i, rc, (void *)out);
				out = NULL;
			} else {
				MUST(rc == 0 && out != base,
				     "%s: delete of key %d: expected 0 and a "
				     "new map, got %d and %s",
				     ctx, i, rc,
				     out == base ? "the old one" : "a map");
				want[i] = NULL;
			}
		} else {
			found = cl_hamt_get(base, &pool[i], hash[i], &got);
			MUST(found == (want[i] != NULL) &&
				 (!found || got == want[i]),
			     "%s: get of key %d: expected %ld, got %s %ld", ctx,
			     i, (long)CL_TOINT(want[i]),
			     found ? "found" : "absent", (long)CL_TOINT(got));
			out = NULL;
		}
		if (out == NULL)
			continue;

		/* The new version, and the one it was made from. */
		expect_model(ctx, "the new map", out, want, hash, n, 1);
		expect_model(ctx, "the map it was made from", base, v[b].model,
			     hash, n, 0);

		/* Make room, freeing a version at random, and see that
		 * another one survived it. */
		if (nv == HISTORY) {
			int j = (int)(rnd(&g) % (uint32_t)nv);

			cl_hamt_decref(v[j].h);
			v[j] = v[--nv];
			j = (int)(rnd(&g) % (uint32_t)nv);
			expect_model(ctx, "a version after another was freed",
				     v[j].h, v[j].model, hash, n, 0);
		}
		v[nv].h = out;
		memcpy(v[nv].model, want, sizeof want);
		nv++;
	}

	/* Every version at the end, then free them all in random order. */
	snprintf(ctx, sizeof model_at, "seed %u, after op %d", seed, OPS - 1);
	for (int j = 0; j < nv; j++)
		expect_model(ctx, "a version kept", v[j].h, v[j].model, hash, n,
			     1);
	while (nv > 0) {
		int j = (int)(rnd(&g) % (uint32_t)nv);

		if (nv == 1)
			expect_sole_owner(v[0].h, ctx);
		cl_hamt_decref(v[j].h);
		v[j] = v[--nv];
		for (int k = 0; k < nv; k++)
			expect_model(ctx, "a version left while freeing",
				     v[k].h, v[k].model, hash, n, 0);
	}
}

/*
 * A failed check names its seed and op; a crash has no message, so it
 * prints where the model test was, on stderr: from a handler of the
 * fault that then hands it on to the handler before it (the default,
 * or a sanitizer's), and from a sanitizer's report as it dies.
 */
static struct sigaction old_segv, old_bus;

static void say_where(void)
{
	static const char what[] = "test_random_ops_against_model crashed "
				   "at ";
	ssize_t rc;

	rc = write(2, what, sizeof what - 1);
	rc = write(2, model_at, strlen(model_at));
	rc = write(2, "\n", 1);
	(void)rc;
}

static void on_fault(int sig)
{
	say_where();
	/* Returning runs the faulting access again, under the old one. */
	sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
}

START_TEST(test_random_ops_against_model)
{
	/* Its own stack, for a fault that is a recursion without end. */
	static char alt[1 << 16];
	stack_t st = {.ss_sp = alt, .ss_size = sizeof alt}, old_st;
	struct sigaction sa;

	sigaltstack(&st, &old_st);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_set_death_callback(say_where);
#endif
	for (uint32_t seed = 1; seed <= SEEDS; seed++)
		model_seed(seed);
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_set_death_callback(NULL);
#endif
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaltstack(&old_st, NULL);
}
END_TEST

/* Maps made from one another, freed in every order. */
START_TEST(test_free_in_every_order)
{
	uint32_t hash[POOL];
	struct version v[4];
	const char *name[4] = {"A", "B (from A)", "C (from B)", "D (from A)"};

	/* Eight keys of one hash, eight with 20 low bits in common,
	 * the rest a good hash. */
	for (int i = 0; i < POOL; i++)
		hash[i] = i < 8	   ? 0x600dcafe
			  : i < 16 ? 0xabcde | mix(i) << 20
				   : mix(i);

	for (int p = 0; p < 24; p++) {
		int left[4] = {0, 1, 2, 3}, order[4], code = p;
		char ctx[64];

		/* Permutation p of the four, in the factorial base. */
		for (int k = 0; k < 4; k++) {
			int j = code % (4 - k);

			code /= 4 - k;
			order[k] = left[j];
			memmove(&left[j], &left[j + 1],
				sizeof left[0] * (size_t)(3 - k - j));
		}

		v[0].h = cl_hamt_new();
		memset(v[0].model, 0, sizeof v[0].model);
		for (int i = 0; i < 48; i++) {
			v[0].model[i] = CL_INT(i + 1);
			put(&v[0].h, &pool[i], hash[i], v[0].model[i]);
		}
		v[1] = v[0];
		v[1].h = with(v[0].h, &pool[50], hash[50], CL_INT(500));
		v[1].model[50] = CL_INT(500);
		put(&v[1].h, &pool[3], hash[3], CL_INT(300));
		v[1].model[3] = CL_INT(300);
		v[2] = v[1];
		v[2].h = without(v[1].h, &pool[12], hash[12]);
		v[2].model[12] = NULL;
		drop(&v[2].h, &pool[5], hash[5]);
		v[2].model[5] = NULL;
		v[3] = v[0];
		v[3].h = without(v[0].h, &pool[1], hash[1]);
		v[3].model[1] = NULL;
		put(&v[3].h, &pool[10], hash[10], CL_INT(100));
		v[3].model[10] = CL_INT(100);

		for (int k = 0; k < 4; k++) {
			cl_hamt_decref(v[order[k]].h);
			v[order[k]].h = NULL;
			snprintf(ctx, sizeof ctx,
				 "freeing order %d %d %d %d, after %d freed",
				 order[0], order[1], order[2], order[3], k + 1);
			for (int j = 0; j < 4; j++) {
				if (v[j].h == NULL)
					continue;
				expect_model(ctx, name[j], v[j].h, v[j].model,
					     hash, POOL, 1);
				if (k == 2)
					expect_sole_owner(v[j].h, ctx);
			}
		}
	}
}
END_TEST

/* Ten thousand keys in, then out in random order. */
START_TEST(test_ten_thousand_keys)
{
	static int order[BIG];
	struct cl_hamt *m = cl_hamt_new();
	struct rng g;

	for (int i = 0; i < BIG; i++)
		put(&m, &big[i], mix(i), CL_INT(i));
	CL_EXPECT_INT(cl_hamt_len(m), BIG);
	expect_sound(m, "after 10000 sets");
	expect_sole_owner(m, "after 10000 sets, each old map dropped");
	for (int i = 0; i < BIG; i++) {
		expect_get(m, &big[i], mix(i), CL_INT(i));
		order[i] = i;
	}

	rng_seed(&g, 11);
	shuffle(order, BIG, &g);
	for (int k = 0; k < BIG; k++) {
		int i = order[k];

		drop(&m, &big[i], mix(i));
		MUST(cl_hamt_len(m) == (size_t)(BIG - k - 1),
		     "after %d deletes: expected length %d, got %zu", k + 1,
		     BIG - k - 1, cl_hamt_len(m));
		if (k % 1000 == 999) {
			expect_sound(m, "in the middle of the deletes");
			expect_sole_owner(m, "in the middle of the deletes, "
					     "each old map dropped");
			expect_miss(m, &big[i], mix(i));
			if (k + 1 < BIG)
				expect_get(m, &big[order[k + 1]],
					   mix(order[k + 1]),
					   CL_INT(order[k + 1]));
		}
	}
	CL_EXPECT_INT(cl_hamt_len(m), 0);
	CL_EXPECT_PTR(m->root, NULL);
	expect_sound(m, "after every key went");
	cl_hamt_decref(m);
}
END_TEST

static void add_hamt_tests(void)
{
	cl_test(test_empty_map, 1, SEC_MAP);
	cl_test(test_set_makes_a_new_map, 2, SEC_MAP);
	cl_test(test_set_shares_structure, 3, SEC_MAP);
	cl_test(test_set_shares_bitmap_entries, 1, SEC_MAP);
	cl_test(test_split_into_deeper_levels, 2, SEC_TRIE);
	cl_test(test_bitmap_grows_into_array, 2, SEC_TRIE);
	cl_test(test_collision_node, 3, SEC_TRIE);
	cl_test(test_check_finds_broken_tries, 1, SEC_TRIE);
	cl_test(test_delete_collapses_path, 2, SEC_DEL);
	cl_test(test_iteration_visits_each_key, 2, SEC_MAP);
	cl_test(test_random_ops_against_model, 3, SEC_MAP);
	cl_test(test_free_in_every_order, 2, SEC_MAP);
	cl_test(test_ten_thousand_keys, 1, SEC_DEL);
}
CL_CHAPTER(6, "06-contextvars", "contextvars", add_hamt_tests)
