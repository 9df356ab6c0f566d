/*
 * canvas.c - drawing at fixed positions with Graphviz (see canvas.h).
 *
 * Every primitive is a node or an edge of one cgraph graph, created in
 * drawing order with its pos set, so the graph written as DOT is a
 * complete, ordered description of the picture.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "render.h"

/* Average glyph width of the sans fonts Graphviz ends up with (Helvetica
 * becomes DejaVu Sans or Liberation Sans), in ems, erring wide. */
#define EM_WIDTH 0.6

/* Graphviz's arrowhead is 10 points long at arrowsize 1. */
#define ARROW_LEN 10.0

/*
 * The defaults every node and edge starts with. The default node is an
 * invisible point: the ends of lines and arrows are such nodes, and only
 * their pos is written for them.
 */
static const char *node_defaults[][2] = {
    {"shape", "point"},	       {"style", "invis"},    {"width", "0"},
    {"height", "0"},	       {"fixedsize", "true"}, {"label", ""},
    {"fontname", "Helvetica"}, {"fontsize", "9"},     {"margin", "0"},
};

static const char *edge_defaults[][2] = {
    {"arrowhead", "none"},
    {"arrowsize", "1"},
};

static const char *graph_attrs[][2] = {
    {"layout", "nop2"}, /* keep every pos as given */
    {"splines", "line"},
    {"outputorder", "edgesfirst"}, /* boxes over lines */
    {"bgcolor", "white"},
    {"pad", "0.25"},
    {"fontname", "Helvetica"},
};

struct canvas *canvas_new(const char *name)
{
	struct canvas *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	c->g = agopen((char *)name, Agdirected, NULL);
	if (c->g == NULL) {
		free(c);
		return NULL;
	}
	for (i = 0; i < sizeof(graph_attrs) / sizeof(graph_attrs[0]); i++)
		agattr(c->g, AGRAPH, (char *)graph_attrs[i][0],
		       (char *)graph_attrs[i][1]);
	for (i = 0; i < sizeof(node_defaults) / sizeof(node_defaults[0]); i++)
		agattr(c->g, AGNODE, (char *)node_defaults[i][0],
		       (char *)node_defaults[i][1]);
	for (i = 0; i < sizeof(edge_defaults) / sizeof(edge_defaults[0]); i++)
		agattr(c->g, AGEDGE, (char *)edge_defaults[i][0],
		       (char *)edge_defaults[i][1]);
	return c;
}

void canvas_free(struct canvas *c)
{
	if (c == NULL)
		return;
	agclose(c->g);
	free(c);
}

int canvas_write(struct canvas *c, const char *path)
{
	return render_graph(c->g, "nop2", path);
}

void canvas_set(struct canvas *c, const char *name, const char *value)
{
	agsafeset(c->g, (char *)name, (char *)value, "");
}

/* Set the name, value pairs of a primitive's NULL-ended argument list. */
static void set_attrs(void *obj, va_list ap)
{
	const char *name, *value;

	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		gv_set(obj, name, value ? value : "");
	}
}

static void set_num(void *obj, const char *name, double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.2f", v);
	agsafeset(obj, (char *)name, buf, "");
}

/* A node at (x, y): "!" pins it for neato too. */
static Agnode_t *node_at(struct canvas *c, double x, double y)
{
	char name[24], pos[48];
	Agnode_t *n;

	snprintf(name, sizeof(name), "n%ld", ++c->nodes);
	n = agnode(c->g, name, 1);
	snprintf(pos, sizeof(pos), "%.1f,%.1f!", x, y);
	agsafeset(n, "pos", pos, "");
	return n;
}

Agnode_t *canvas_box(struct canvas *c, double x0, double x1, double y, double h,
		     const char *label, ...)
{
	Agnode_t *n = node_at(c, (x0 + x1) / 2, y);
	va_list ap;

	agsafeset(n, "shape", "box", "");
	agsafeset(n, "style", "rounded,filled", "");
	gv_set(n, "label", label);
	set_num(n, "width", (x1 - x0) / 72);
	set_num(n, "height", h / 72);
	va_start(ap, label);
	set_attrs(n, ap);
	va_end(ap);
	return n;
}

Agnode_t *canvas_text(struct canvas *c, double x, double y, int anchor,
		      double size, const char *text, ...)
{
	double w = text_width(text, size);
	Agnode_t *n;
	va_list ap;
	char fs[16];

	/* pos is the centre of the node: move it by half the width. */
	if (anchor == 'l')
		x += w / 2;
	else if (anchor == 'r')
		x -= w / 2;
	n = node_at(c, x, y);
	agsafeset(n, "shape", "plaintext", "");
	agsafeset(n, "style", "", "");
	agsafeset(n, "fixedsize", "false", "");
	gv_set(n, "label", text);
	snprintf(fs, sizeof(fs), "%g", size);
	agsafeset(n, "fontsize", fs, "");
	va_start(ap, text);
	set_attrs(n, ap);
	va_end(ap);
	return n;
}

Agnode_t *canvas_dot(struct canvas *c, double x, double y, double d,
		     const char *color, ...)
{
	Agnode_t *n = node_at(c, x, y);
	va_list ap;

	/* A point, not a circle: a circle without a label of its own would
	 * show its node name once the DOT is read back (agwrite does not
	 * write an empty label that equals the default). */
	agsafeset(n, "shape", "point", "");
	agsafeset(n, "style", "filled", "");
	agsafeset(n, "color", (char *)color, "");
	agsafeset(n, "fillcolor", (char *)color, "");
	set_num(n, "width", d / 72);
	set_num(n, "height", d / 72);
	va_start(ap, color);
	set_attrs(n, ap);
	va_end(ap);
	return n;
}

/*
 * An edge's pos is a B-spline: a start point and then three points per
 * cubic piece. A straight line is the one piece whose control points sit
 * on its ends. With an arrowhead, "e,x,y" names the tip and the spline
 * stops where the head begins.
 */
static Agedge_t *edge(struct canvas *c, double x0, double y0, double x1,
		      double y1, double head, va_list ap)
{
	Agnode_t *a = node_at(c, x0, y0), *b;
	double len = hypot(x1 - x0, y1 - y0);
	double ex = x1, ey = y1;
	char pos[160];
	Agedge_t *e;

	if (head > 0 && len > head) {
		ex = x1 - (x1 - x0) * head / len;
		ey = y1 - (y1 - y0) * head / len;
	}
	b = node_at(c, x1, y1);
	e = agedge(c->g, a, b, NULL, 1);
	if (head > 0)
		snprintf(pos, sizeof(pos),
			 "e,%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f",
			 x1, y1, x0, y0, x0, y0, ex, ey, ex, ey);
	else
		snprintf(pos, sizeof(pos),
			 "%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", x0, y0, x0,
			 y0, x1, y1, x1, y1);
	agsafeset(e, "pos", pos, "");
	if (head > 0)
		agsafeset(e, "arrowhead", "normal", "");
	set_attrs(e, ap);
	return e;
}

Agedge_t *canvas_line(struct canvas *c, double x0, double y0, double x1,
		      double y1, ...)
{
	Agedge_t *e;
	va_list ap;

	va_start(ap, y1);
	e = edge(c, x0, y0, x1, y1, 0, ap);
	va_end(ap);
	return e;
}

Agedge_t *canvas_arrow(struct canvas *c, double x0, double y0, double x1,
		       double y1, ...)
{
	const char *name, *value;
	double size = 1;
	Agedge_t *e;
	va_list ap;

	/* The head's length depends on arrowsize, if the caller sets it. */
	va_start(ap, y1);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (strcmp(name, "arrowsize") == 0 && value != NULL)
			size = atof(value);
	}
	va_end(ap);
	va_start(ap, y1);
	e = edge(c, x0, y0, x1, y1, ARROW_LEN * size, ap);
	va_end(ap);
	return e;
}

double text_width(const char *text, double size)
{
	size_t chars = 0;

	/* Count characters, not bytes: skip UTF-8 continuation bytes. */
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if ((*p & 0xc0) != 0x80)
			chars++;
	return (double)chars * size * EM_WIDTH;
}
