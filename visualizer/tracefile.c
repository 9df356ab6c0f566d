/*
 * tracefile.c - reading a trace file into checked events.
 *
 * A line is "<seq> <ts> <it> <event> key=value ...". The fixed part is
 * checked the same for every event; the fields are read through a table
 * that says, for each event cotrace knows, which keys it has, what type
 * each value is and which field of struct event it fills. Adding an event
 * or a key to the format is adding a row here. Keys the table does not
 * list are skipped (after a syntax check), so a newer tracer's traces
 * still read.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracefile.h"
#include "values.h"

/* How each value is read. */
enum val_type {
	V_ID,	  /* a number >= 0 (long) */
	V_INT,	  /* a number, maybe negative (int64_t) */
	V_REF,	  /* task:3, fut:7, fd:5:IN, spawn ... (struct ref) */
	V_WORD,	  /* anything without spaces (char *) */
	V_STR,	  /* a word or "quoted text" with C escapes (char *) */
	V_RESULT, /* pending|done|raised|cancelled (enum step_result) */
	V_STATE,  /* ok|exc|cancelled (enum fut_state) */
	V_VALUE,  /* a signed 64-bit number, or - for none (char *: as
		     written) */
};

struct key_spec {
	const char *key;
	enum val_type type;
	size_t off; /* where in struct event the value goes */
	int required;
};

#define MAX_KEYS 5
struct event_spec {
	const char *name;
	enum ev_kind kind;
	struct key_spec keys[MAX_KEYS];
};

#define F(field) offsetof(struct event, field)
#define REQ	 1

/* The format, as far as cotrace reads it. README.md documents the same. */
/* clang-format off */
static const struct event_spec specs[] = {
	{ "task.new", EV_TASK_NEW, {
		{ "task", V_ID, F(task), REQ },
		{ "name", V_WORD, F(tname), 0 },
		{ "parent", V_ID, F(parent), 0 } } },
	{ "wake", EV_WAKE, {
		{ "task", V_ID, F(task), REQ },
		{ "by", V_REF, F(by), REQ },
		{ "via", V_REF, F(via), 0 } } },
	{ "step.begin", EV_STEP_BEGIN, {
		{ "task", V_ID, F(task), REQ },
		{ "step", V_ID, F(step), 0 },
		{ "cause", V_ID, F(cause), 0 },
		{ "qlen", V_ID, F(qlen), 0 },
		{ "ctx", V_ID, F(ctx), 0 } } },
	{ "step.end", EV_STEP_END, {
		{ "task", V_ID, F(task), REQ },
		{ "step", V_ID, F(step), 0 },
		{ "result", V_RESULT, F(result), REQ } } },
	{ "await", EV_AWAIT, {
		{ "task", V_ID, F(task), REQ },
		{ "on", V_REF, F(on), REQ },
		{ "what", V_WORD, F(what), 0 } } },
	{ "fut.done", EV_FUT_DONE, {
		{ "fut", V_ID, F(id), REQ },
		{ "by", V_REF, F(by), 0 },
		{ "state", V_STATE, F(state), 0 } } },
	{ "timer.set", EV_TIMER_SET, {
		{ "timer", V_ID, F(id), REQ },
		{ "at", V_INT, F(at), 0 } } },
	{ "timer.fire", EV_TIMER_FIRE, {
		{ "timer", V_ID, F(id), REQ } } },
	{ "timer.cancel", EV_TIMER_CANCEL, {
		{ "timer", V_ID, F(id), REQ } } },
	{ "fd.ready", EV_FD_READY, {
		{ "fd", V_ID, F(id), REQ },
		{ "events", V_WORD, F(events), 0 } } },
	{ "poll.begin", EV_POLL_BEGIN, {
		{ "timeout", V_INT, F(timeout), 0 },
		{ "nfds", V_ID, F(nfds), 0 } } },
	{ "poll.end", EV_POLL_END, {
		{ "nready", V_ID, F(nready), 0 } } },
	{ "exc.raise", EV_EXC_RAISE, {
		{ "task", V_ID, F(task), REQ },
		{ "type", V_WORD, F(type), 0 },
		{ "msg", V_STR, F(msg), 0 } } },
	{ "cancel", EV_CANCEL, {
		{ "task", V_ID, F(task), REQ },
		{ "by", V_REF, F(by), 0 },
		{ "msg", V_STR, F(msg), 0 } } },
	{ "task.done", EV_TASK_DONE, {
		{ "task", V_ID, F(task), REQ },
		{ "state", V_STATE, F(state), 0 },
		{ "exc", V_WORD, F(type), 0 } } },
	{ "timeout", EV_TIMEOUT, {
		{ "task", V_ID, F(task), REQ } } },
	{ "loop.end", EV_LOOP_END, { { NULL, 0, 0, 0 } } },
	{ "loop.iter", EV_LOOP_ITER, { { NULL, 0, 0, 0 } } },
	{ "cb", EV_CB, {
		{ "kind", V_WORD, F(what), 0 },
		{ "by", V_REF, F(by), 0 } } },
	{ "ctx.new", EV_CTX_NEW, {
		{ "ctx", V_ID, F(ctx), REQ },
		{ "from", V_ID, F(from), 0 } } },
	{ "var.set", EV_VAR_SET, {
		{ "ctx", V_ID, F(ctx), REQ },
		{ "var", V_WORD, F(var), REQ },
		{ "value", V_VALUE, F(value), REQ } } },
	{ "lock.acquire", EV_LOCK_ACQUIRE, {
		{ "lock", V_ID, F(id), REQ },
		{ "task", V_ID, F(task), REQ } } },
	{ "lock.release", EV_LOCK_RELEASE, {
		{ "lock", V_ID, F(id), REQ },
		{ "task", V_ID, F(task), REQ } } },
	{ "thread.submit", EV_THREAD_SUBMIT, {
		{ "fut", V_ID, F(id), REQ } } },
	{ "thread.run", EV_THREAD_RUN, {
		{ "fut", V_ID, F(id), REQ },
		{ "worker", V_ID, F(worker), REQ },
		{ "begin", V_INT, F(begin), 0 },
		{ "end", V_INT, F(end), 0 },
		{ "skipped", V_ID, F(skipped), 0 } } },
	{ "queue.new", EV_QUEUE_NEW, {
		{ "queue", V_ID, F(id), REQ },
		{ "kind", V_WORD, F(qkind), 0 },
		{ "maxsize", V_ID, F(maxsize), 0 } } },
	{ "queue.put", EV_QUEUE_PUT, {
		{ "queue", V_ID, F(id), REQ },
		{ "size", V_ID, F(size), REQ } } },
	{ "queue.get", EV_QUEUE_GET, {
		{ "queue", V_ID, F(id), REQ },
		{ "size", V_ID, F(size), REQ } } },
	{ "loop.waker", EV_LOOP_WAKER, {
		{ "fd", V_ID, F(id), REQ },
		{ "kind", V_WORD, F(qkind), 0 } } },
};
/* clang-format on */

/* The reader's position, for messages, and its scratch space. */
struct reader {
	struct trace *t;
	int line;
	char *buf; /* utf8_clean's output */
	size_t cap;
	char *raw; /* the line as read, for read_opts.keep */
	size_t raw_cap;
};

/* Longest reference text kept (a longer one is cut, for labels). */
#define REF_TEXT_MAX 31

static int fail(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->t->err, sizeof(r->t->err), "%s:%d: ", r->t->path,
		     r->line);
	va_start(ap, fmt);
	vsnprintf(r->t->err + n, sizeof(r->t->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The one copy of s made valid UTF-8, cut to max bytes (at a character
 * boundary) if max is not 0; NULL when memory is short.
 */
static const char *keep_str(struct reader *r, const char *s, size_t max)
{
	size_t len = strlen(s), n;

	if (3 * len + 1 > r->cap) {
		char *p = realloc(r->buf, 3 * len + 1);
		if (p == NULL)
			return NULL;
		r->buf = p;
		r->cap = 3 * len + 1;
	}
	n = utf8_clean(s, r->buf);
	if (max != 0 && n > max)
		for (n = max; n > 0 && (r->buf[n] & 0xc0) == 0x80; n--)
			;
	return intern(&r->t->strings, r->buf, n);
}

/* Store one value into the event, typed by the key's spec. */
static int store(struct reader *r, struct event *e, const struct key_spec *k,
		 char *val, int quoted)
{
	void *dst = (char *)e + k->off;
	enum step_result res;
	enum fut_state st;
	int64_t v;

	if (quoted && k->type != V_STR)
		return fail(r, "%s: %s= takes no quoted text", e->name, k->key);
	switch (k->type) {
	case V_ID:
		if (parse_num(val, 0, 1L << 40, &v) < 0)
			return fail(r, "%s: bad number '%s' for %s=", e->name,
				    val, k->key);
		*(long *)dst = (long)v;
		return 0;
	case V_INT:
		if (parse_num(val, -(1LL << 62), 1LL << 62, &v) < 0)
			return fail(r, "%s: bad number '%s' for %s=", e->name,
				    val, k->key);
		*(int64_t *)dst = v;
		return 0;
	case V_REF:
		if (parse_ref(val, dst) < 0)
			return fail(
			    r,
			    "%s: bad reference '%s' for %s= "
			    "(expected task:N, fut:N, timer:N, fd:N ...)",
			    e->name, val, k->key);
		((struct ref *)dst)->text = keep_str(r, val, REF_TEXT_MAX);
		if (((struct ref *)dst)->text == NULL)
			return fail(r, "out of memory");
		return 0;
	case V_RESULT:
		if (parse_result(val, &res) < 0)
			return fail(
			    r,
			    "%s: bad result '%s' (pending, done, raised "
			    "or cancelled)",
			    e->name, val);
		*(unsigned char *)dst = (unsigned char)res;
		return 0;
	case V_STATE:
		if (parse_state(val, &st) < 0)
			return fail(r,
				    "%s: bad state '%s' (ok, exc or cancelled)",
				    e->name, val);
		*(unsigned char *)dst = (unsigned char)st;
		return 0;
	case V_VALUE:
		if (strcmp(val, "-") != 0 &&
		    parse_num(val, INT64_MIN, INT64_MAX, &v) < 0)
			return fail(r, "%s: bad value '%s' for %s= (a number, "
				       "or - for none)", e->name, val, k->key);
		/* Kept as written, as a word is. */
		/* fall through */
	case V_WORD:
	case V_STR:
		*(const char **)dst = keep_str(r, val, 0);
		if (*(const char **)dst == NULL)
			return fail(r, "out of memory");
		return 0;
	}
	return 0;
}

/*
 * Read the key=value fields from p to the end of the line into e,
 * checking each one's syntax, skipping keys the spec does not list.
 */
static int parse_fields(struct reader *r, struct event *e,
			const struct event_spec *spec, char *p)
{
	unsigned have = 0;
	char *key, *val, *end = NULL, msg[64];
	int quoted, i;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		key = p;
		if (!islower((unsigned char)*p))
			return fail(r, "expected key=value, got '%.40s'", p);
		while (islower((unsigned char)*p) ||
		       isdigit((unsigned char)*p) || *p == '_')
			p++;
		if (*p != '=')
			return fail(r, "expected key=value, got '%.40s'", key);
		*p++ = '\0';
		quoted = *p == '"';
		if (quoted) {
			val = p + 1;
			if (unquote(val, &end, msg, sizeof(msg)) < 0)
				return fail(r, "%s", msg);
			if (*end != '\0' && *end != ' ' && *end != '\t')
				return fail(
				    r, "text after closing quote of %s=", key);
		} else {
			val = p;
			end = p + strcspn(p, " \t");
			if (end == val)
				return fail(
				    r, "%s: empty value for %s=", e->name, key);
		}
		p = *end != '\0' ? end + 1 : end;
		if (!quoted)
			*end = '\0';
		for (i = 0; spec != NULL && i < MAX_KEYS && spec->keys[i].key;
		     i++)
			if (strcmp(spec->keys[i].key, key) == 0)
				break;
		if (spec == NULL || i == MAX_KEYS || !spec->keys[i].key)
			continue; /* a key we do not know: skip it */
		if (have & (1u << i))
			return fail(r, "%s: %s= given twice", e->name, key);
		have |= 1u << i;
		if (store(r, e, &spec->keys[i], val, quoted) < 0)
			return -1;
	}
	for (i = 0; spec != NULL && i < MAX_KEYS && spec->keys[i].key; i++)
		if (spec->keys[i].required && !(have & (1u << i)))
			return fail(r, "%s: missing %s=", e->name,
				    spec->keys[i].key);
	return 0;
}

static const struct event_spec *find_spec(const char *name)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (strcmp(specs[i].name, name) == 0)
			return &specs[i];
	return NULL;
}

/* Cut the next space-separated word off *p. */
static char *word(char **p)
{
	char *w;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	w = *p;
	*p += strcspn(*p, " \t");
	if (**p != '\0')
		*(*p)++ = '\0';
	return w;
}

/* "# corolab-trace 1 clock=virtual unit=us": a run begins. */
static int parse_header(struct reader *r, char *p, struct run *run)
{
	char *w, *val;
	int64_t version;

	if (parse_num(word(&p), 0, 1000, &version) < 0)
		return fail(r, "bad header: expected a version number after "
			       "'corolab-trace'");
	if (version != 1)
		return fail(r,
			    "trace format version %d; this cotrace reads "
			    "version 1",
			    (int)version);
	run->line = r->line;
	run->virtual_clock = 0;
	while (*(w = word(&p)) != '\0') {
		val = strchr(w, '=');
		if (val == NULL)
			return fail(r,
				    "bad header: expected key=value, got "
				    "'%.40s'",
				    w);
		*val++ = '\0';
		if (strcmp(w, "clock") == 0) {
			if (strcmp(val, "virtual") == 0)
				run->virtual_clock = 1;
			else if (strcmp(val, "monotonic") != 0)
				return fail(r,
					    "bad header: clock=%.40s "
					    "(virtual or monotonic)",
					    val);
		} else if (strcmp(w, "unit") == 0 && strcmp(val, "us") != 0) {
			return fail(r, "bad header: unit=%.40s (only us)", val);
		}
	}
	return 0;
}

/*
 * "# corolab-origin pid=4242 monotonic_ns=N realtime_ns=N name=chatd":
 * where the current run's time starts on the clocks processes share (the
 * tracer writes it after the header of a monotonic run when asked to:
 * trace.h). Once per run; pid and both clocks are required, name and
 * unknown keys are not.
 */
static int parse_origin(struct reader *r, char *p, struct run *run)
{
	char *w, *val;
	int64_t v;
	int seen = 0; /* bits: pid, monotonic_ns, realtime_ns */

	if (run == NULL)
		return fail(r, "corolab-origin before any '# corolab-trace' "
			       "header");
	if (run->has_origin)
		return fail(r,
			    "a second corolab-origin in the run (line %d)",
			    run->origin_line);
	while (*(w = word(&p)) != '\0') {
		val = strchr(w, '=');
		if (val == NULL)
			return fail(r,
				    "bad corolab-origin: expected key=value, "
				    "got '%.40s'",
				    w);
		*val++ = '\0';
		if (strcmp(w, "pid") == 0) {
			if (parse_num(val, 1, 1LL << 40, &v) < 0)
				return fail(r, "bad corolab-origin: pid=%.40s",
					    val);
			run->pid = (long)v, seen |= 1;
		} else if (strcmp(w, "monotonic_ns") == 0 ||
			   strcmp(w, "realtime_ns") == 0) {
			if (parse_num(val, -(1LL << 62), 1LL << 62, &v) < 0)
				return fail(r, "bad corolab-origin: %s=%.40s",
					    w, val);
			if (w[0] == 'm')
				run->mono_ns = v, seen |= 2;
			else
				run->real_ns = v, seen |= 4;
		} else if (strcmp(w, "name") == 0 && strcmp(val, "-") != 0) {
			if (*val == '\0' || strlen(val) > 64 ||
			    val[strspn(val, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789._-")] != '\0')
				return fail(r,
					    "bad corolab-origin: name=%.40s "
					    "(1 to 64 of A-Z a-z 0-9 . _ -)",
					    val);
			run->pname = intern(&r->t->strings, val, strlen(val));
			if (run->pname == NULL)
				return fail(r, "out of memory");
		}
	}
	if (seen != 7)
		return fail(r, "bad corolab-origin: missing %s",
			    !(seen & 1)	  ? "pid="
			    : !(seen & 2) ? "monotonic_ns="
					  : "realtime_ns=");
	run->has_origin = 1;
	run->origin_line = r->line;
	return 0;
}

/* The fixed part of an event line, then its fields. */
static int parse_event(struct reader *r, char *p, struct event *e,
		       const struct event *prev, const struct run *run)
{
	const struct event_spec *spec;
	int64_t v;
	char *w;

	w = word(&p);
	if (parse_num(w, 1, 1LL << 62, &v) < 0)
		return fail(r, "expected a sequence number, got '%.40s'", w);
	e->seq = (long)v;
	if (prev != NULL && e->seq <= prev->seq)
		return fail(r,
			    "seq %ld after seq %ld (line %d): seqs must "
			    "increase",
			    e->seq, prev->seq, prev->line);
	w = word(&p);
	if (parse_num(w, 0, 1LL << 62, &e->ts) < 0)
		return fail(r, "expected a timestamp (us), got '%.40s'", w);
	if (prev != NULL && run->n > 0 && e->ts < prev->ts)
		return fail(r, "time goes backwards: %lld after %lld (line %d)",
			    (long long)e->ts, (long long)prev->ts, prev->line);
	w = word(&p);
	if (parse_num(w, 0, 1LL << 62, &e->it) < 0)
		return fail(r, "expected a loop iteration, got '%.40s'", w);
	w = word(&p);
	if (!islower((unsigned char)*w))
		return fail(r, "expected an event name, got '%.40s'", w);
	for (char *c = w; *c; c++)
		if (!islower((unsigned char)*c) &&
		    !isdigit((unsigned char)*c) && *c != '.' && *c != '_')
			return fail(r, "bad event name '%.40s'", w);
	spec = find_spec(w);
	e->name = spec != NULL ? spec->name : intern(&r->t->strings, w, strlen(w));
	if (e->name == NULL)
		return fail(r, "out of memory");
	e->kind = spec != NULL ? (unsigned char)spec->kind : EV_UNKNOWN;
	return parse_fields(r, e, spec, p);
}

/*
 * Make room for one more element in an array that doubles as it grows:
 * returns the array (moved, maybe), or NULL when memory is short, in which
 * case the old array is still there to be freed.
 */
static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(arr, ncap * size);
	if (p != NULL)
		*cap = ncap;
	return p;
}

/* A trace is text: no NUL, no control character but tab (and the CR of a
 * CRLF line end). Checked first, so random bytes get a message that says
 * what they are. */
static int check_text(struct reader *r, const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '\0')
			return fail(r, "NUL byte: this is not a text file");
		if (c < 0x20 && c != '\t' && !(c == '\r' && i == len - 1))
			return fail(r, "control character 0x%02x in line", c);
	}
	return 0;
}

/*
 * Add what one line holds to t (check_text has passed it). The steps:
 *  1. skip blank lines and comments;
 *  2. a "# corolab-trace" header opens a run;
 *  3. anything else is an event of the current run (there must be one).
 */
static int read_line(struct reader *r, char *line, size_t len, size_t *evcap,
		     size_t *runcap)
{
	struct trace *t = r->t;
	struct event *e, *prev;
	struct run *run;
	void *mem;
	char *p;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	p = line + strspn(line, " \t");
	if (*p == '\0')
		return 0;
	if (*p == '#') {
		p += 1 + strspn(p + 1, " \t");
		if (strncmp(p, "corolab-origin", 14) == 0 &&
		    (p[14] == ' ' || p[14] == '\0'))
			return parse_origin(r, p + 14,
					    t->nruns > 0 ? &t->runs[t->nruns - 1]
							 : NULL);
		if (strncmp(p, "corolab-trace", 13) != 0 ||
		    (p[13] != ' ' && p[13] != '\0'))
			return 0; /* a comment */
		p += 13;
		mem = grow(t->runs, t->nruns, runcap, sizeof(*t->runs));
		if (mem == NULL)
			return fail(r, "out of memory");
		t->runs = mem;
		run = &t->runs[t->nruns];
		memset(run, 0, sizeof(*run));
		if (parse_header(r, p, run) < 0)
			return -1;
		run->first = t->nev;
		t->nruns++;
		return 0;
	}
	if (t->nruns == 0)
		return fail(r, "missing header: a trace starts with "
			       "'# corolab-trace 1 clock=virtual|monotonic "
			       "unit=us'");
	run = &t->runs[t->nruns - 1];
	mem = grow(t->ev, t->nev, evcap, sizeof(*t->ev));
	if (mem == NULL)
		return fail(r, "out of memory");
	t->ev = mem;
	e = &t->ev[t->nev];
	memset(e, 0, sizeof(*e));
	e->line = r->line;
	e->run = (int)(t->nruns - 1);
	prev = t->nev > 0 ? &t->ev[t->nev - 1] : NULL;
	t->nev++;
	if (parse_event(r, p, e, prev, run) < 0)
		return -1;
	run->n++;
	if (e->kind == EV_LOOP_END)
		run->ended = 1;
	return 0;
}

/* Keep the line just read, as written, in the ring of the last ones. */
static int keep_line(struct trace *t, const char *raw, size_t len)
{
	char **slot = &t->last[t->nlines % t->keep];

	free(*slot);
	if ((*slot = malloc(len + 1)) == NULL)
		return -1;
	memcpy(*slot, raw, len);
	(*slot)[len] = '\0';
	t->nlines++;
	return 0;
}

/*
 * One line (its newline cut off) into t, through read_line; with
 * o->keep, a copy of it first, kept if it was an event of the run asked
 * for (o->run; -1: the last, so a new header empties the ring).
 */
static int add_line(struct reader *r, const struct read_opts *o, char *line,
		    size_t len, size_t *evcap, size_t *runcap)
{
	struct trace *t = r->t;
	size_t nev = t->nev, nruns = t->nruns;

	if (check_text(r, line, len) < 0)
		return -1;
	if (o->keep > 0 && (r->raw_cap < len + 1)) {
		char *p = realloc(r->raw, len + 1);
		if (p == NULL)
			return fail(r, "out of memory");
		r->raw = p;
		r->raw_cap = len + 1;
	}
	if (o->keep > 0)
		memcpy(r->raw, line, len + 1);
	if (read_line(r, line, len, evcap, runcap) < 0)
		return -1;
	if (o->keep == 0)
		return 0;
	if (t->nruns > nruns && o->run < 0)
		t->nlines = 0;
	if (t->nev > nev && (o->run < 0 || (size_t)o->run == t->nruns - 1) &&
	    keep_line(t, r->raw, len) < 0)
		return fail(r, "out of memory");
	return 0;
}

/* TR_CUT: the last line has no newline. Leave it out, and the NUL bytes
 * it ends with, saying how many bytes of each. */
static void cut_end(struct trace *t, const char *line, size_t len)
{
	size_t z = 0;

	while (z < len && line[len - 1 - z] == '\0')
		z++;
	t->zeros = (long)z;
	t->partial = (long)(len - z);
}

int trace_read_file(struct trace *t, FILE *fp, const char *name,
		    const struct read_opts *opts)
{
	static const struct read_opts none = {0, 0, -1};
	const struct read_opts *o = opts != NULL ? opts : &none;
	struct reader r = {t, 0, NULL, 0, NULL, 0};
	size_t evcap = 0, runcap = 0, cap = 0;
	char *line = NULL;
	ssize_t len;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	t->path = name;
	if (o->keep > 0 && (t->last = calloc(o->keep, sizeof(char *))) == NULL)
		return fail(&r, "out of memory");
	t->keep = o->keep;
	while (rc == 0 && (len = getline(&line, &cap, fp)) > 0) {
		r.line++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		else if (o->flags & TR_CUT) {
			cut_end(t, line, (size_t)len);
			break;
		} else {
			/* A program that died mid-write leaves this. */
			rc = check_text(&r, line, (size_t)len) < 0
				 ? -1
				 : fail(&r, "truncated line (no newline at "
					    "the end of the file)");
			break;
		}
		rc = add_line(&r, o, line, (size_t)len, &evcap, &runcap);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(t->err, sizeof(t->err), "%s: %s", name,
			 strerror(errno));
		rc = TRACE_IO_ERROR;
	}
	if (rc == 0 && t->nruns == 0) {
		r.line = r.line > 0 ? r.line : 1;
		rc = fail(&r, "not a corolab trace: no '# corolab-trace' "
			      "header");
	}
	free(line);
	free(r.buf);
	free(r.raw);
	return rc;
}

int trace_read(struct trace *t, const char *path, const struct read_opts *o)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	int rc;

	if (fp == NULL) {
		memset(t, 0, sizeof(*t));
		t->path = path;
		snprintf(t->err, sizeof(t->err), "%s: %s", path,
			 strerror(errno));
		return TRACE_IO_ERROR;
	}
	rc = trace_read_file(t, fp, path, o);
	if (fp != stdin)
		fclose(fp);
	return rc;
}

size_t trace_nlast(const struct trace *t)
{
	return t->nlines < t->keep ? t->nlines : t->keep;
}

const char *trace_last(const struct trace *t, size_t i)
{
	return t->last[(t->nlines - trace_nlast(t) + i) % t->keep];
}

void trace_free(struct trace *t)
{
	for (size_t i = 0; t->last != NULL && i < t->keep; i++)
		free(t->last[i]);
	free(t->last);
	free(t->ev);
	free(t->runs);
	strtab_free(&t->strings);
	t->ev = NULL;
	t->runs = NULL;
	t->last = NULL;
	t->nev = t->nruns = 0;
}

const struct event *trace_find_seq(const struct trace *t, long seq)
{
	size_t lo = 0, hi = t->nev;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ev[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->nev && t->ev[lo].seq == seq ? &t->ev[lo] : NULL;
}
