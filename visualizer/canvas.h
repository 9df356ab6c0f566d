/*
 * canvas.h - drawing at fixed positions with Graphviz.
 *
 * Graphviz is a graph layout program: give it nodes and edges and it
 * decides where they go. A timeline must not be laid out: time decides x,
 * the lane decides y. So we use Graphviz as a plain renderer, the way
 * `neato -n2` is meant to be used: the "nop2" layout engine keeps every
 * node where its pos attribute (in points) puts it and draws every edge
 * along its own pos spline. On top of that trick this file gives the
 * drawing primitives the timeline needs: a box, a line, an arrow, a dot,
 * a piece of text.
 *
 * The pitfalls, paid for once so the timeline does not have to:
 *  - pos is in points for nop2 (plain neato reads inches: a 72x blow-up);
 *  - a line or an arrow is an edge, so it needs two nodes: invisible
 *    points at its ends (the default node here);
 *  - an edge label is placed by Graphviz and lands on other lanes, so text
 *    is a node of its own (shape plaintext), pinned where we want it;
 *  - splines=line and outputorder=edgesfirst: boxes are drawn over the
 *    lines that run into them.
 *
 * Coordinates are points (1/72 inch), y upwards, as Graphviz has them.
 * Style attributes are passed as name, value pairs ending with NULL:
 *
 *	canvas_line(c, x0, y, x1, y, "color", "orange", "penwidth", "2", NULL);
 */
#ifndef COTRACE_CANVAS_H
#define COTRACE_CANVAS_H

#include <cgraph.h>

struct canvas {
	Agraph_t *g;
	long nodes; /* made so far: names n1, n2 ... in drawing order */
};

/* A blank drawing named name. NULL if Graphviz cannot allocate it. */
struct canvas *canvas_new(const char *name);

void canvas_free(struct canvas *c);

/* Write it to path (.svg .png .pdf .dot; NULL: DOT to stdout). */
int canvas_write(struct canvas *c, const char *path);

/* A graph attribute (e.g. a tooltip for the whole picture). */
void canvas_set(struct canvas *c, const char *name, const char *value);

/* A box from x0 to x1 centred on y, h high, with a label inside. */
Agnode_t *canvas_box(struct canvas *c, double x0, double x1, double y, double h,
		     const char *label, ...) __attribute__((sentinel));

/* Text of size points at (x, y): anchor 'l' starts it at x, 'r' ends it
 * there, 'c' centres it. */
Agnode_t *canvas_text(struct canvas *c, double x, double y, int anchor,
		      double size, const char *text, ...)
    __attribute__((sentinel));

/* A filled circle of diameter d (with a "label": pass "shape", "circle"). */
Agnode_t *canvas_dot(struct canvas *c, double x, double y, double d,
		     const char *color, ...) __attribute__((sentinel));

/* A straight line. */
Agedge_t *canvas_line(struct canvas *c, double x0, double y0, double x1,
		      double y1, ...) __attribute__((sentinel));

/* A straight arrow whose head touches (x1, y1). */
Agedge_t *canvas_arrow(struct canvas *c, double x0, double y0, double x1,
		       double y1, ...) __attribute__((sentinel));

/* About how wide text of size points comes out (for placing it). */
double text_width(const char *text, double size);

#endif
