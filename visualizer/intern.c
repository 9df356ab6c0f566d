/*
 * intern.c - one copy of each string a trace repeats (see intern.h).
 */
#include <stdlib.h>
#include <string.h>

#include "intern.h"

#define CHUNK_SIZE 65536

struct chunk {
	struct chunk *next;
	size_t used, size;
	char bytes[];
};

uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* Room for len bytes in the newest chunk, or in a new one. A string
 * longer than a chunk gets a chunk of its own. */
static char *store(struct strtab *st, const char *s, size_t len)
{
	struct chunk *c = st->chunks;
	char *p;

	if (c == NULL || c->size - c->used < len + 1) {
		size_t size = len + 1 > CHUNK_SIZE ? len + 1 : CHUNK_SIZE;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->used = 0;
		c->size = size;
		/* A big string's own chunk goes second: the newest chunk
		 * keeps its free room for the small strings to come. */
		if (size > CHUNK_SIZE && st->chunks != NULL) {
			c->next = st->chunks->next;
			st->chunks->next = c;
		} else {
			c->next = st->chunks;
			st->chunks = c;
		}
	}
	p = c->bytes + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

/* Double the table (or make it) and put every string back. */
static int rehash(struct strtab *st)
{
	size_t cap = st->cap ? st->cap * 2 : 1024;
	const char **slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (size_t i = 0; i < st->cap; i++) {
		const char *s = st->slot[i];
		if (s == NULL)
			continue;
		size_t j = hash_bytes(s, strlen(s)) & (cap - 1);
		while (slot[j] != NULL)
			j = (j + 1) & (cap - 1);
		slot[j] = s;
	}
	free(st->slot);
	st->slot = slot;
	st->cap = cap;
	return 0;
}

const char *intern(struct strtab *st, const char *s, size_t len)
{
	size_t j;

	if (st->n + 1 > st->cap / 2 && rehash(st) < 0)
		return NULL;
	j = hash_bytes(s, len) & (st->cap - 1);
	for (; st->slot[j] != NULL; j = (j + 1) & (st->cap - 1))
		if (strncmp(st->slot[j], s, len) == 0 &&
		    st->slot[j][len] == '\0')
			return st->slot[j];
	if ((st->slot[j] = store(st, s, len)) == NULL)
		return NULL;
	st->n++;
	return st->slot[j];
}

void strtab_free(struct strtab *st)
{
	while (st->chunks != NULL) {
		struct chunk *c = st->chunks;
		st->chunks = c->next;
		free(c);
	}
	free(st->slot);
	memset(st, 0, sizeof(*st));
}
