/*
 * values.h - reading one value of a field: a number, a reference, a word
 * from a closed set, a quoted string.
 *
 * The trace format has few kinds of value, and each is read the same way
 * wherever it appears, strictly: "12abc" is not the number 12, and "task"
 * without its number is not a reference. Every function takes the whole
 * value (a NUL-terminated word) and returns 0, or -1 if it is malformed.
 */
#ifndef COTRACE_VALUES_H
#define COTRACE_VALUES_H

#include <stddef.h>
#include <stdint.h>

/*
 * A reference to something in the loop: "task:3", "fut:7", "timer:1",
 * "fd:5:IN", or one of the words "spawn" and "loop". A kind word cotrace
 * does not know ("queue:2") reads as REF_OTHER and is shown as written.
 */
enum ref_kind {
	REF_NONE, /* the key was absent */
	REF_SPAWN,
	REF_LOOP,
	REF_TASK,
	REF_FUT,
	REF_TIMER,
	REF_FD,
	REF_CANCEL, /* by=cancel:N: woken because task N cancelled it */
	REF_OTHER,
};

struct ref {
	enum ref_kind kind;
	long id;	  /* the number after the colon; 0 for spawn and loop */
	const char *text; /* as written, for labels (set by the reader) */
};

/* step.end result= and fut.done / task.done state= values. */
enum step_result { RES_PENDING, RES_DONE, RES_RAISED, RES_CANCELLED };
enum fut_state { ST_NONE, ST_OK, ST_EXC, ST_CANCELLED };

/* A decimal integer, all of s, within [lo, hi]. */
int parse_num(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* "kind", "kind:N" or "kind:N:WORD" (fd:5:IN): kind and id, not text. */
int parse_ref(const char *s, struct ref *ref);

/* pending|done|raised|cancelled, and ok|exc|cancelled. */
int parse_result(const char *s, enum step_result *out);
int parse_state(const char *s, enum fut_state *out);

/*
 * Undo the C escapes of a quoted value in place: p points just after the
 * opening quote. On success *end points after the closing quote; on
 * failure err says what is wrong.
 */
int unquote(char *p, char **end, char *err, size_t size);

/*
 * s made valid UTF-8, into out (room for 3 * strlen(s) + 1 bytes): each
 * byte that does not belong to a well-formed sequence becomes U+FFFD, as
 * a browser would show it. Returns the length written.
 */
size_t utf8_clean(const char *s, char *out);

/* "task:3" etc.: the text a ref was written as. */
const char *ref_str(const struct ref *r);

/* The names of the enum values, as the format writes them. */
const char *result_str(enum step_result r);
const char *state_str(enum fut_state s);

#endif
