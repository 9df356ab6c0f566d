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

/*
 * cotrace dot: read the DOT file in ("-": standard input) and render it
 * to out as render_graph does, with the engine its layout attribute
 * names (dot if none): `dot -Tsvg in -o out` without the dot program.
 * Returns 0; 1 if a file cannot be read or written; 2 if in is no
 * graph (Graphviz prints why).
 */
int render_dot_file(const char *in, const char *out);

/* 1 if render_graph can write path (.svg .png .pdf .dot, or NULL or
 * "-" for DOT on standard output), else 0: checked before any work. */
int render_format_known(const char *path);

/*
 * Text from the trace made safe for a Graphviz label or tooltip, into
 * buf: a backslash is doubled (Graphviz reads \N, \n, \l in labels as
 * escapes, and a trailing one would swallow the closing quote of the
 * DOT); a newline becomes Graphviz's \n, a tab a space, and any other
 * control character U+FFFD (XML, hence SVG, cannot hold one). The text is valid UTF-8 already (the reader saw to it); a
 * text too long for buf is cut at a character. Returns buf.
 */
const char *gv_escape(const char *s, char *buf, size_t size);

/* agsafeset with value passed through gv_escape. */
void gv_set(void *obj, const char *name, const char *value);

#endif
