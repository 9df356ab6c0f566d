/*
 * place.c - keeping labels off each other and off the arrows (place.h).
 */
#include <stdlib.h>

#include "place.h"

#define CELL 64.0 /* column width, in points */

/* The columns r reaches, clamped to the placer's range. */
static void columns(const struct placer *p, struct rect r, size_t *c0,
		    size_t *c1)
{
	double a = (r.x0 - p->x0) / CELL, b = (r.x1 - p->x0) / CELL;
	double last = (double)p->ncols - 1;

	a = a < 0 ? 0 : a > last ? last : a;
	b = b < 0 ? 0 : b > last ? last : b;
	*c0 = (size_t)a;
	*c1 = (size_t)b;
}

int placer_init(struct placer *p, double x0, double x1)
{
	p->x0 = x0;
	p->ncols = (size_t)((x1 - x0) / CELL) + 1;
	p->cols = calloc(p->ncols, sizeof(*p->cols));
	p->r = NULL;
	p->n = p->cap = 0;
	return p->cols != NULL ? 0 : -1;
}

void placer_free(struct placer *p)
{
	for (size_t i = 0; p->cols != NULL && i < p->ncols; i++)
		free(p->cols[i].ix);
	free(p->cols);
	free(p->r);
	p->cols = NULL;
	p->r = NULL;
}

static int overlap(struct rect a, struct rect b)
{
	return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

int placer_is_free(const struct placer *p, struct rect r, unsigned mask)
{
	size_t c0, c1;

	columns(p, r, &c0, &c1);
	for (size_t c = c0; c <= c1; c++)
		for (size_t i = 0; i < p->cols[c].n; i++) {
			const struct rect *q = &p->r[p->cols[c].ix[i]];
			if ((q->kind & mask) && overlap(r, *q))
				return 0;
		}
	return 1;
}

int placer_take(struct placer *p, struct rect r)
{
	size_t c0, c1;
	void *mem;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		if ((mem = realloc(p->r, cap * sizeof(*p->r))) == NULL)
			return -1;
		p->r = mem;
		p->cap = cap;
	}
	p->r[p->n] = r;
	columns(p, r, &c0, &c1);
	for (size_t c = c0; c <= c1; c++) {
		struct column *col = &p->cols[c];
		if (col->n == col->cap) {
			size_t cap = col->cap ? col->cap * 2 : 8;
			if ((mem = realloc(col->ix, cap * sizeof(*col->ix))) ==
			    NULL)
				return -1;
			col->ix = mem;
			col->cap = cap;
		}
		col->ix[col->n++] = p->n;
	}
	p->n++;
	return 0;
}
