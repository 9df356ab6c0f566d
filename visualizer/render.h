/*
 * render.h - writing a Graphviz graph to the file the user named.
 *
 * The extension picks the format, as `dot -T` would: .svg, .png and .pdf
 * are laid out and rendered by Graphviz's C library (libgvc); .dot (and
 * .gv, or no file at all: standard output) is the graph as we built it,
 * before any layout, which makes it the thing golden tests compare: it
 * does not change with the Graphviz version or the fonts installed.
 * `dot -Tsvg file.dot` renders it the same way, because the graph names
 * its own layout engine (the layout attribute).
 */
#ifndef COTRACE_RENDER_H
#define COTRACE_RENDER_H

#include <cgraph.h>

/*
 * Write g to path (NULL or "-": DOT on standard output) with layout
 * engine engine ("nop2", "dot"). Returns 0, or 1 after printing why not.
 */
int render_graph(Agraph_t *g, const char *engine, const char *path);

/* 1 if render_graph can write path (.svg .png .pdf .dot, or NULL or
 * "-" for DOT on standard output), else 0: checked before any work. */
int render_format_known(const char *path);

#endif
