/*
 * hamt_dot.c - draw a HAMT before and after a set: what the two maps
 * share.
 *
 *	hamt_dot > hamt.dot		then: cotrace dot hamt.dot -o hamt.svg
 *					(or dot -Tsvg hamt.dot -o hamt.svg)
 *
 * It builds a map of 23 keys whose hashes are chosen so that the trie
 * has a bitmap root, bitmap nodes one and two levels down and a
 * collision node (two keys of one hash), then sets one more key that
 * lands two levels down. The set copies the nodes on the new key's path
 * (the root, and one node on each level below it) and shares all the
 * others with the old map: a copy costs a few nodes, however large the
 * map.
 *
 * The picture (Graphviz DOT on standard output): both roots, every node
 * once. Grey: shared by both maps; orange: made by the set; white: only
 * the old map's. A bitmap node shows its bitmap and one field per entry,
 * "slot: key", or a slot with an arrow to the child below; "refs" is a
 * node's reference count: 2 where a node of each map points to it, 1
 * below that (the collision node is shared because its parent is).
 */
#include <stdio.h>
#include <stdlib.h>

#include "hamt.h"
#include "value.h"

/* A key: the map compares it by address and is given its hash. */
struct key {
	char name[8];
	uint32_t hash;
};

/* A hash whose 5-bit slots, from the root down, are s0, s1, s2. */
#define H(s0, s1, s2) \
	((uint32_t)(s0) | (uint32_t)(s1) << 5 | (uint32_t)(s2) << 10)

static const uint32_t hashes[] = {
	/* one key each in 11 of the root's slots */
	H(0, 0, 0), H(1, 0, 0), H(2, 0, 0), H(5, 0, 0), H(9, 0, 0),
	H(14, 0, 0), H(17, 0, 0), H(20, 0, 0), H(23, 0, 0), H(26, 0, 0),
	H(29, 0, 0),
	/* slot 3: a node of four keys one level down */
	H(3, 1, 0), H(3, 4, 0), H(3, 9, 0), H(3, 20, 0),
	/* slot 7: a node one level down, another two levels down */
	H(7, 4, 0), H(7, 4, 2), H(7, 4, 6), H(7, 8, 0), H(7, 11, 0),
	/* slot 12: two keys of one hash (a collision), and one more */
	H(12, 3, 5), H(12, 3, 5), H(12, 6, 0),
};
#define NKEYS (sizeof(hashes) / sizeof(hashes[0]))

static struct key keys[NKEYS + 1];
static struct key new_key = { "new", H(7, 4, 9) };

/* The nodes of both maps, in the order first seen. */
static struct seen {
	const struct cl_hamt_node *n;
	int in_old, in_new;
} nodes[64];
static int nnodes;

static int node_id(const struct cl_hamt_node *n)
{
	for (int i = 0; i < nnodes; i++)
		if (nodes[i].n == n)
			return i + 1;
	return 0;
}

static const char *name_of(const void *key)
{
	return ((const struct key *)key)->name;
}

/* Note every node under n as the old map's (old) or the new one's. */
static void walk(const struct cl_hamt_node *n, int old)
{
	int i = node_id(n) - 1;

	if (i < 0) {
		if (nnodes == 64)
			abort(); /* more than this example makes */
		i = nnodes++;
		nodes[i].n = n;
	}
	*(old ? &nodes[i].in_old : &nodes[i].in_new) = 1;
	if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;
		for (int k = 0; k < n->size; k++)
			if (b->e[k].key == NULL)
				walk(b->e[k].child, old);
	} else if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;
		for (int s = 0; s < 32; s++)
			if (a->child[s] != NULL)
				walk(a->child[s], old);
	}
}

/* One node: a record, its header above its entries. */
static void print_node(const struct seen *s)
{
	const struct cl_hamt_node *n = s->n;
	int id = node_id(n), k = 0;

	printf("  n%d [fillcolor=\"%s\", label=\"{", id,
	       s->in_old && s->in_new ? "#d9d9d9"
	       : s->in_new	      ? "#fdb462"
				      : "white");
	if (n->kind == CL_HAMT_BITMAP) {
		const struct cl_hamt_bitmap *b = (const void *)n;
		printf("bitmap 0x%08x, refs %d|{", (unsigned)b->bitmap,
		       n->refcnt);
		for (int slot = 0; slot < 32; slot++) {
			if (!(b->bitmap & 1u << slot))
				continue;
			if (b->e[k].key == NULL)
				printf("%s<s%d>%d", k ? "|" : "", slot, slot);
			else
				printf("%s%d: %s", k ? "|" : "", slot,
				       name_of(b->e[k].key));
			k++;
		}
	} else if (n->kind == CL_HAMT_ARRAY) {
		const struct cl_hamt_array *a = (const void *)n;
		printf("array, %d children, refs %d|{", n->size, n->refcnt);
		for (int slot = 0; slot < 32; slot++)
			if (a->child[slot] != NULL)
				printf("%s<s%d>%d", k++ ? "|" : "", slot, slot);
	} else {
		const struct cl_hamt_collision *c = (const void *)n;
		printf("collision 0x%08x, refs %d|{", (unsigned)c->hash,
		       n->refcnt);
		for (k = 0; k < n->size; k++)
			printf("%s%s", k ? "|" : "", name_of(c->e[k].key));
	}
	printf("}}\"];\n");
}

/* Its arrows, from an entry's port to the child. */
static void print_edges(const struct cl_hamt_node *n)
{
	int id = node_id(n), k = 0;

	for (int slot = 0; slot < 32; slot++) {
		const struct cl_hamt_node *child = NULL;
		if (n->kind == CL_HAMT_BITMAP) {
			const struct cl_hamt_bitmap *b = (const void *)n;
			if (!(b->bitmap & 1u << slot))
				continue;
			if (b->e[k++].key == NULL)
				child = b->e[k - 1].child;
		} else if (n->kind == CL_HAMT_ARRAY) {
			child = ((const struct cl_hamt_array *)n)->child[slot];
		}
		if (child != NULL)
			printf("  n%d:s%d -> n%d;\n", id, slot, node_id(child));
	}
}

int main(void)
{
	struct cl_hamt *old = cl_hamt_new(), *h;
	const char *err;

	for (size_t i = 0; i < NKEYS; i++) {
		snprintf(keys[i].name, sizeof keys[i].name, "k%zu", i + 1);
		keys[i].hash = hashes[i];
		if (cl_hamt_set(old, &keys[i], keys[i].hash, CL_INT(i), &h) < 0)
			return 1;
		cl_hamt_decref(old);
		old = h;
	}
	if (cl_hamt_set(old, &new_key, new_key.hash, CL_INT(0), &h) < 0)
		return 1;
	if ((err = cl_hamt_check(old)) != NULL ||
	    (err = cl_hamt_check(h)) != NULL) {
		fprintf(stderr, "hamt_dot: a broken map: %s\n", err);
		return 1;
	}
	walk(old->root, 1);
	walk(h->root, 0);

	printf("digraph hamt {\n  layout=dot; rankdir=TB; nodesep=0.25;\n"
	       "  labelloc=t; fontname=Helvetica; fontsize=11;\n"
	       "  label=\"grey: shared by both maps; orange: made by the set "
	       "(the new key's path); white: the old map's alone\";\n"
	       "  node [shape=record, style=filled, fontname=Helvetica, "
	       "fontsize=10];\n  edge [arrowsize=0.6];\n"
	       "  old [shape=plaintext, style=\"\", label=\"old map\\n%zu "
	       "keys\"];\n"
	       "  new [shape=plaintext, style=\"\", label=\"after set(%s)"
	       "\\n%zu keys\"];\n",
	       cl_hamt_len(old), new_key.name, cl_hamt_len(h));
	for (int i = 0; i < nnodes; i++)
		print_node(&nodes[i]);
	printf("  old -> n%d;\n  new -> n%d;\n", node_id(old->root),
	       node_id(h->root));
	for (int i = 0; i < nnodes; i++)
		print_edges(nodes[i].n);
	printf("}\n");
	cl_hamt_decref(old);
	cl_hamt_decref(h);
	return 0;
}
