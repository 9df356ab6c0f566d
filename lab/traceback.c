/*
 * traceback.c - what an exception says about itself: its chain, its
 * traceback, its text.
 *
 * Three things, each the C side of one part of CPython:
 *
 *	chain	raising while a catch block handles an exception makes that
 *		exception the new one's __context__ (Python/errors.c,
 *		_PyErr_SetObject), cutting any cycle that would make;
 *	print	the report Python prints for an exception nobody caught,
 *		chain and groups included (Lib/traceback.py,
 *		TracebackException.format);
 *	text	str(e) and repr(e) (Objects/exceptions.c, BaseException_str
 *		and BaseException_repr, KeyError_str).
 *
 * The frames come from exc.c: every raise and every await records its
 * call site, so a traceback names the functions an exception went
 * through and the line where it went through each.
 */
#include <stdio.h>
#include <string.h>

#include "exc.h"

void cl__exc_chain(struct cl_exc *e, struct cl_exc *handled)
{
	/* TODO(ch05): e.__context__ = handled (a new reference), unless that
	 * would close a cycle: then the link that points back at e is cut
	 * first, without hanging on a cycle that is there already. Mirrors
	 * Python/errors.c _PyErr_SetObject; read section 3.
	 * Hints: make hint CH=5 TODO=exc_chain (3 levels). */
	(void)e, (void)handled;
}

/* repr of a str: single quotes unless it holds one and no double. */
static size_t cl__quote(char *buf, size_t size, size_t at, const char *s)
{
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';

	at += (size_t)snprintf(buf + at, at < size ? size - at : 0, "%c", q);
	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\' ? "\\\\"
				  : *s == q  ? (q == '\'' ? "\\'" : "\\\"")
				  : *s == '\n' ? "\\n"
				  : *s == '\t' ? "\\t"
					       : NULL;

		if (esc != NULL)
			at += (size_t)snprintf(buf + at,
					       at < size ? size - at : 0, "%s",
					       esc);
		else
			at += (size_t)snprintf(buf + at,
					       at < size ? size - at : 0, "%c",
					       *s);
	}
	return at + (size_t)snprintf(buf + at, at < size ? size - at : 0,
				     "%c", q);
}

const char *cl_exc_str(const struct cl_exc *e, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (e->members != NULL || cl_exc_matches(e, &cl_BaseExceptionGroup))
		snprintf(buf, size, "%s (%zu sub-exception%s)", e->msg,
			 e->nmembers, e->nmembers == 1 ? "" : "s");
	else if (cl_exc_matches(e, &cl_KeyError) && e->has_args)
		cl__quote(buf, size, 0, e->msg);
	else
		snprintf(buf, size, "%s", e->msg);
	return buf;
}

static size_t cl__repr(const struct cl_exc *e, char *buf, size_t size,
		       size_t at)
{
	/* TODO(ch05): repr(e) appended to buf at offset at; returns the offset
	 * after it, as snprintf counts (past size when it did not fit).
	 * "ValueError()" without args, "ValueError('x')" with one (quoted
	 * by cl__quote), a group "ExceptionGroup('eg', [m1, m2])". Mirrors
	 * Objects/exceptions.c BaseException_repr; read section 4.
	 * No hints: the contract is all. */
	(void)e, (void)cl__quote;
	return at + (size_t)snprintf(buf + at, at < size ? size - at : 0,
				     "repr: not implemented (TODO ch05)");
}

const char *cl_exc_repr(const struct cl_exc *e, char *buf, size_t size)
{
	if (size > 0) {
		buf[0] = '\0';
		cl__repr(e, buf, size, 0);
	}
	return buf;
}

/*
 * The printer: Lib/traceback.py's _ExceptionPrintContext. depth is the
 * exception group nesting; inside a group every line gets a margin, "| "
 * (or "+ " on a group's first line) after two spaces per level.
 */
struct cl__pctx {
	FILE *out;
	int depth;
	int need_close;
	const struct cl_exc *seen[64]; /* followed as cause or context */
	size_t nseen;
};

static void cl__emit(struct cl__pctx *c, char margin, const char *text)
{
	/* text may hold several lines: each gets the indent. */
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) + 1 : strlen(text);

		fprintf(c->out, "%*s", 2 * c->depth, "");
		if (c->depth > 0)
			fprintf(c->out, "%c ", margin);
		fwrite(text, 1, len, c->out);
		text += len;
	}
}

/* Seen already, or one too many to follow: a chain longer than seen[]
 * is printed up to there (Python's has no bound, but cuts cycles the
 * same way). */
static int cl__seen(struct cl__pctx *c, const struct cl_exc *e)
{
	for (size_t i = 0; i < c->nseen; i++)
		if (c->seen[i] == e)
			return 1;
	if (c->nseen == sizeof c->seen / sizeof c->seen[0])
		return 1;
	c->seen[c->nseen++] = e;
	return 0;
}

static void cl__print_stack(struct cl__pctx *c, const struct cl_tb *tb)
{
	char line[512];

	for (; tb != NULL; tb = tb->next) {
		snprintf(line, sizeof line, "  File \"%s\", line %d, in %s\n",
			 tb->site->file, tb->site->line, tb->site->func);
		cl__emit(c, '|', line);
	}
}

static void cl__print_only(struct cl__pctx *c, const struct cl_exc *e)
{
	char text[1024], line[1200];

	cl_exc_str(e, text, sizeof text);
	snprintf(line, sizeof line, "%s%s%s\n", e->type->name,
		 text[0] ? ": " : "", text);
	cl__emit(c, '|', line);
}

static void cl__print(struct cl__pctx *c, const struct cl_exc *e);

/* One exception, without its chain. */
static void cl__print_one(struct cl__pctx *c, const struct cl_exc *e)
{
	int top;

	if (e->members == NULL) {
		if (e->tb != NULL) {
			cl__emit(c, '|', "Traceback (most recent call last):\n");
			cl__print_stack(c, e->tb);
		}
		cl__print_only(c, e);
		return;
	}
	top = c->depth == 0;
	if (top)
		c->depth++;
	if (e->tb != NULL) {
		cl__emit(c, top ? '+' : '|',
			 "Exception Group Traceback (most recent call last):\n");
		cl__print_stack(c, e->tb);
	}
	cl__print_only(c, e);
	c->need_close = 0;
	for (size_t i = 0; i < e->nmembers; i++) {
		int last = i + 1 == e->nmembers;

		if (last)
			c->need_close = 1;
		fprintf(c->out, "%*s%s+---------------- %zu ----------------\n",
			2 * c->depth, "", i == 0 ? "+-" : "  ", i + 1);
		c->depth++;
		cl__print(c, e->members[i]);
		if (last && c->need_close) {
			fprintf(c->out, "%*s+------------------------------------\n",
				2 * c->depth, "");
			c->need_close = 0;
		}
		c->depth--;
	}
	if (top)
		c->depth = 0;
}

/* e and its chain: the oldest link first, as Python prints it. */
static void cl__print(struct cl__pctx *c, const struct cl_exc *e)
{
	const struct cl_exc *link;
	const char *msg;

	cl__seen(c, e);
	if (e->cause != NULL) {
		link = e->cause;
		msg = "\nThe above exception was the direct cause of the "
		      "following exception:\n\n";
	} else if (e->context != NULL && !e->suppress_context) {
		link = e->context;
		msg = "\nDuring handling of the above exception, another "
		      "exception occurred:\n\n";
	} else {
		link = NULL;
		msg = NULL;
	}
	if (link != NULL && !cl__seen(c, link)) {
		cl__print(c, link);
		cl__emit(c, '|', msg);
	}
	cl__print_one(c, e);
}

void cl_exc_print(const struct cl_exc *e, FILE *out)
{
	struct cl__pctx c = { .out = out };

	cl__print(&c, e);
	fflush(out);
}
