/*
 * render.c - writing a Graphviz graph to the file the user named.
 *
 * The Graphviz C API in four calls: gvContext makes the library's state
 * (plugins: layouts, renderers); gvLayout runs a layout engine, which
 * stores positions in the graph; gvRender draws those positions in a
 * format; gvFreeLayout drops them again. That last call must come
 * before agclose, or the layout's memory leaks: the graph does not own it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gvc.h>

#include "render.h"

/* What a file name asks for: "svg", "png", "pdf", "dot", or NULL. */
static const char *format_of(const char *path)
{
	static const char *known[] = {"svg", "png", "pdf", "dot", "gv"};
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(dot + 1, known[i]) == 0)
			return known[i];
	return NULL;
}

int render_format_known(const char *path)
{
	return path == NULL || strcmp(path, "-") == 0 || format_of(path);
}

static int write_dot(Agraph_t *g, const char *path)
{
	FILE *fp = path ? fopen(path, "w") : stdout;
	int bad;

	if (fp == NULL) {
		perror(path);
		return 1;
	}
	bad = agwrite(g, fp) != 0;
	bad |= fflush(fp) != 0 || ferror(fp);
	if (fp != stdout)
		bad |= fclose(fp) != 0;
	if (bad)
		fprintf(stderr, "cotrace: cannot write %s\n",
			path ? path : "standard output");
	return bad;
}

int render_graph(Agraph_t *g, const char *engine, const char *path)
{
	const char *fmt;
	GVC_t *gvc;
	FILE *fp;
	int rc;

	if (path == NULL || strcmp(path, "-") == 0)
		return write_dot(g, NULL);
	fmt = format_of(path);
	if (fmt == NULL) {
		fprintf(stderr,
			"cotrace: %s: unknown output format (name it .svg, "
			".png, .pdf or .dot)\n",
			path);
		return 1;
	}
	if (strcmp(fmt, "dot") == 0 || strcmp(fmt, "gv") == 0)
		return write_dot(g, path);

	/* We open the file, not Graphviz: its gvRenderFilename reports a
	 * file it cannot create, but still returns success. */
	fp = fopen(path, "wb");
	if (fp == NULL) {
		perror(path);
		return 1;
	}
	gvc = gvContext();
	if (gvc == NULL) {
		fprintf(stderr, "cotrace: cannot start Graphviz\n");
		fclose(fp);
		return 1;
	}
	rc = gvLayout(gvc, g, engine);
	if (rc == 0) {
		rc = gvRender(gvc, g, fmt, fp);
		gvFreeLayout(gvc, g);
	}
	gvFreeContext(gvc);
	if (fflush(fp) != 0 || ferror(fp))
		rc = -1;
	if (fclose(fp) != 0)
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "cotrace: Graphviz could not render %s\n",
			path);
	return rc != 0;
}

int render_dot_file(const char *in, const char *out)
{
	FILE *fp = strcmp(in, "-") != 0 ? fopen(in, "r") : stdin;
	const char *layout;
	Agraph_t *g;
	int rc;

	if (fp == NULL) {
		perror(in);
		return 1;
	}
	g = agread(fp, NULL); /* NULL: cgraph's own discipline */
	if (fp != stdin)
		fclose(fp);
	if (g == NULL) {
		fprintf(stderr, "cotrace: %s: not a Graphviz graph\n", in);
		return 2;
	}
	layout = agget(g, "layout");
	rc = render_graph(g, layout != NULL && *layout ? layout : "dot", out);
	agclose(g);
	return rc;
}

const char *gv_escape(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *put = (const char *)p;
		size_t n = 1;
		if (*p == '\\')
			put = "\\\\", n = 2;
		else if (*p == '\n') /* Graphviz's own line break */
			put = "\\n", n = 2;
		else if (*p == '\t')
			put = " ";
		else if (*p < 0x20 || *p == 0x7f)
			put = "\xef\xbf\xbd", n = 3; /* U+FFFD */
		if (o + n >= size) {
			/* Inside a character: take back its first bytes. */
			if ((*p & 0xc0) == 0x80) {
				while (o > 0 &&
				       ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
					o--;
				o -= o > 0;
			}
			break;
		}
		memcpy(buf + o, put, n);
		o += n;
	}
	if (size > 0)
		buf[o] = '\0';
	return buf;
}

void gv_set(void *obj, const char *name, const char *value)
{
	size_t size = 3 * strlen(value) + 1;
	char *buf = malloc(size);

	if (buf == NULL) /* no memory for a label: draw it without */
		return;
	agsafeset(obj, (char *)name, (char *)gv_escape(value, buf, size), "");
	free(buf);
}
