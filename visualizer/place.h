/*
 * place.h - keeping labels off each other and off the arrows.
 *
 * A picture with a hundred wakes has a hundred labels, and Graphviz will
 * happily draw them on top of each other: with pinned positions, where
 * they go is our problem. The placer remembers the rectangles already
 * taken (boxes, arrows, labels) and answers whether a new one is free, so
 * the timeline can try a label's positions in order of preference and
 * take the first free one.
 *
 * Rectangles are filed in columns CELL points wide, so a question looks
 * at the few rectangles near it, not at all of them.
 */
#ifndef COTRACE_PLACE_H
#define COTRACE_PLACE_H

#include <stddef.h>

/* What took a rectangle: a label may cross an arrow when it must. */
enum room { ROOM_BOX = 1, ROOM_ARROW = 2, ROOM_TEXT = 4, ROOM_ALL = 7 };

struct rect {
	double x0, y0, x1, y1; /* x0 <= x1, y0 <= y1 */
	enum room kind;
};

struct column {
	size_t *ix; /* indexes into placer.r of rectangles that reach here */
	size_t n, cap;
};

struct placer {
	double x0; /* left edge of column 0 */
	struct column *cols;
	size_t ncols;
	struct rect *r; /* every rectangle taken */
	size_t n, cap;
};

/* A placer for x from x0 to x1. Returns 0, or -1 when memory is short. */
int placer_init(struct placer *p, double x0, double x1);

void placer_free(struct placer *p);

/* Is r clear of every rectangle taken by one of the kinds in mask? */
int placer_is_free(const struct placer *p, struct rect r, unsigned mask);

/* Take r. Returns 0, or -1 when memory is short. */
int placer_take(struct placer *p, struct rect r);

#endif
