/*
 * intern.h - one copy of each string a trace repeats.
 *
 * A trace of a million lines names the same few things over and over:
 * event names, task names, "sleep", "fut:7". Each event keeps a pointer
 * to the one copy of its strings, so a string costs its bytes once, and
 * the strings of a whole trace are freed at once with the table.
 *
 * The strings live in chunks that are never moved (pointers stay valid);
 * the table that finds them is open addressing, doubled when half full.
 */
#ifndef COTRACE_INTERN_H
#define COTRACE_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct chunk;

struct strtab {
	const char **slot; /* cap slots, NULL when empty */
	size_t cap, n;	   /* cap is a power of two (or 0) */
	struct chunk *chunks; /* newest first: where the bytes are */
};

/* The one copy of the len bytes at s (a NUL is added), or NULL when
 * memory is short. */
const char *intern(struct strtab *st, const char *s, size_t len);

void strtab_free(struct strtab *st);

/* FNV-1a, for the hash tables of cotrace. */
uint64_t hash_bytes(const char *s, size_t len);

#endif
