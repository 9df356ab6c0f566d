/*
 * awaits.c - who waits on whom at one moment; a cycle is a deadlock.
 *
 *	T1 main --awaits--> fut:1 (gather)
 *	T3 parse --awaits--> fut:2 --result of--> T2 fetch --awaits--> timer:3
 *
 * A task that waits points at what it awaits (a future, a timer, an fd,
 * a lock or a queue of chapter 07); a future that is another task's
 * result points at that task, and a lock at the task that holds it:
 *
 *	T2 transfer --awaits--> lock:2 --held by--> T3 refund --awaits-->
 *	lock:1 --held by--> T2 transfer			(a lock-order deadlock)
 *
 * Each node has at most one arrow out (a task awaits one thing at a
 * time, a future is one task's result, a lock has one holder), so
 * following the arrows from any node either
 * ends (something will happen: a timer, an fd, a task that runs) or comes
 * back around: then every task on the loop waits for itself, and nothing
 * but cancellation can help. That loop is drawn red and named.
 *
 * The moment is --at SEQ (the replay stops there; see model_build) or the
 * end of the run. Graphviz's dot engine lays this graph out: unlike the
 * timeline, here the layout is Graphviz's job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "render.h"
#include "views.h"

struct anode {
	char name[72]; /* its DOT name: T3, fut:2, timer:1 (gv_escape'd) */
	char label[128];
	const char *shape;
	const char *fill;
	int next;     /* the node it waits for, or -1 */
	char why[24]; /* the label of that arrow */
	int state;    /* cycle search: 0 new, 1 on the path, 2 done */
	int in_cycle;
};

struct agraph {
	const struct model *m;
	struct anode *n;
	int nn, cap;
	int *slot;     /* hash table of n by name: an index, or -1 */
	size_t nslots; /* a power of two, over twice nn */
};

/* The slot where name is, or the empty one where it would go. */
static size_t find_slot(const struct agraph *a, const char *name)
{
	size_t j = hash_bytes(name, strlen(name)) & (a->nslots - 1);

	while (a->slot[j] >= 0 && strcmp(a->n[a->slot[j]].name, name) != 0)
		j = (j + 1) & (a->nslots - 1);
	return j;
}

/* Room for one more node: the array and the table grow together. */
static int grow_nodes(struct agraph *a)
{
	int cap = a->cap ? a->cap * 2 : 16;
	struct anode *p = realloc(a->n, (size_t)cap * sizeof(*p));
	int *slot = malloc(4 * (size_t)cap * sizeof(*slot));

	if (p != NULL)
		a->n = p;
	if (p == NULL || slot == NULL) {
		free(slot);
		return -1;
	}
	free(a->slot);
	a->slot = slot;
	a->nslots = 4 * (size_t)cap;
	a->cap = cap;
	memset(slot, 0xff, a->nslots * sizeof(*slot)); /* all -1 */
	for (int i = 0; i < a->nn; i++)
		a->slot[find_slot(a, a->n[i].name)] = i;
	return 0;
}

/* The node called name, made with shape and label if it is new. A hash
 * table finds it: an await chain of 100000 tasks has 200000 nodes. */
static int node(struct agraph *a, const char *name, const char *shape,
		const char *label)
{
	struct anode *p;
	size_t j;

	if (a->nslots > 0 && a->slot[j = find_slot(a, name)] >= 0)
		return a->slot[j];
	if (a->nn == a->cap && grow_nodes(a) < 0)
		return -1;
	p = &a->n[a->nn];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->shape = shape;
	p->fill = "white";
	p->next = -1;
	a->slot[find_slot(a, p->name)] = a->nn;
	return a->nn++;
}

static int task_node(struct agraph *a, const struct task *tk)
{
	static const char *words[] = {"new, ready", "running", "waiting",
				      "ready", "done"};
	static const char *fills[] = {"#d6e4ff", "#c8f0cc", "white", "#d6e4ff",
				      "#e4e4e4"};
	char name[16], label[160], tl[64], esc[128];
	int i;

	snprintf(name, sizeof(name), "T%ld", tk->id);
	snprintf(label, sizeof(label), "%s\\n%s",
		 gv_escape(task_label(tk, tl, sizeof(tl)), esc, sizeof(esc)),
		 words[tk->state]);
	i = node(a, name, "box", label);
	if (i >= 0)
		a->n[i].fill = fills[tk->state];
	return i;
}

static void sync_label(const struct model *m, const struct ref *on,
		       const char *txt, char *buf, size_t size);

/* The node for what a wait is on, labelled with what we know of it. */
static int target_node(struct agraph *a, const struct event *aw)
{
	const struct model *m = a->m;
	const struct ref *on = &aw->on;
	char label[256], t[32], txt[72], what[128];
	struct timer tm;

	/* Text from the trace goes to Graphviz escaped (render.h). */
	gv_escape(on->text, txt, sizeof(txt));
	switch (on->kind) {
	case REF_TASK:
		return model_task(m, on->id)
			   ? task_node(a, model_task(m, on->id))
			   : node(a, txt, "box", txt);
	case REF_TIMER:
		tm = model_timer(m, on->id);
		if (tm.set != NULL && tm.set->at != 0)
			snprintf(label, sizeof(label), "%s\\nfires at %s", txt,
				 fmt_time(tm.set->at - m->t0, t, sizeof(t)));
		else
			snprintf(label, sizeof(label), "%s", txt);
		return node(a, txt, "cds", label);
	case REF_FD:
		return node(a, txt, "hexagon", txt);
	case REF_FUT:
		snprintf(label, sizeof(label), "%s%s%s%s%s", txt,
			 aw->what ? "\\n" : "",
			 aw->what ? gv_escape(aw->what, what, sizeof(what)) : "",
			 model_call(m, on->id) != NULL &&
				 model_call(m, on->id)->run == NULL
			     ? "\\na call on a thread"
			     : "",
			 model_fut_done(m, on->id) ? "\\n(done)" : "");
		return node(a, txt, "ellipse", label);
	default:
		/* Chapter 07: a lock, a queue, a semaphore... */
		sync_label(m, on, txt, label, sizeof(label));
		return node(a, txt,
			    on->kind == REF_OTHER ? "octagon" : "ellipse",
			    label);
	}
}

/*
 * What we know of a chapter 07 object, under its name: who holds a
 * lock, how full a queue is. Others (a semaphore, an event) only by
 * name: the trace says no more of them.
 */
static void sync_label(const struct model *m, const struct ref *on,
		       const char *txt, char *buf, size_t size)
{
	const struct event *held;
	char tl[64], esc[128];
	struct queue q;

	if (ref_is(on, "lock")) {
		held = model_lock_held(m, on->id);
		if (held == NULL)
			snprintf(buf, size, "%s\\nfree", txt);
		else if (held->task == 0 || model_task(m, held->task) == NULL)
			snprintf(buf, size, "%s\\nheld, not by a task", txt);
		else
			snprintf(buf, size, "%s\\nheld by %s", txt,
				 gv_escape(task_label(model_task(m, held->task),
						      tl, sizeof(tl)),
					   esc, sizeof(esc)));
		return;
	}
	q = model_queue(m, on->id);
	if (ref_is(on, "queue") && q.last != NULL) {
		long max = q.created != NULL ? q.created->maxsize : 0;
		if (max > 0)
			snprintf(buf, size, "%s\\n%ld of %ld items%s", txt,
				 q.size, max,
				 q.size >= max ? ": full"
				 : q.size == 0 ? ": empty" : "");
		else
			snprintf(buf, size, "%s\\n%ld item%s%s", txt, q.size,
				 q.size == 1 ? "" : "s",
				 q.size == 0 ? ": empty" : "");
		return;
	}
	snprintf(buf, size, "%s", txt);
}

/* Link from -> to with an arrow labelled why (the first link stays). */
static void wait_for(struct agraph *a, int from, int to, const char *why)
{
	if (from < 0 || to < 0 || a->n[from].next >= 0)
		return;
	a->n[from].next = to;
	snprintf(a->n[from].why, sizeof(a->n[from].why), "%s", why);
}

/*
 * Build the graph. The steps:
 *  1. every task still alive is a node;
 *  2. a waiting task gets an arrow to what it awaits;
 *  3. a future that is a task's result (what=task:N) gets an arrow to
 *     that task, which brings the task in even if it is done; a lock
 *     (chapter 07) gets an arrow to the task that holds it.
 */
static int build(struct agraph *a)
{
	const struct model *m = a->m;
	const struct event *held;
	long id;
	int t, f;

	for (size_t i = 0; i < m->ntasks; i++) {
		const struct task *tk = &m->tasks[i];
		if (tk->state == TS_DONE)
			continue;
		if ((t = task_node(a, tk)) < 0)
			return -1;
		if (tk->state != TS_WAITING || tk->open < 0 ||
		    m->spans[tk->open].await == NULL)
			continue;
		const struct event *aw = m->spans[tk->open].await;
		if ((f = target_node(a, aw)) < 0)
			return -1;
		wait_for(a, t, f, "awaits");
		/* A lock held by a task: its holder is what the lock waits
		 * for (chapter 07). Two tasks that each hold the lock the
		 * other awaits are a cycle: a lock-order deadlock. */
		held = ref_is(&aw->on, "lock") ? model_lock_held(m, aw->on.id)
					       : NULL;
		if (held != NULL && model_task(m, held->task) != NULL) {
			if ((t = task_node(a, model_task(m, held->task))) < 0)
				return -1;
			wait_for(a, f, t, "held by");
			continue;
		}
		if (aw->what != NULL &&
		    sscanf(aw->what, "task:%ld", &id) == 1 &&
		    model_task(m, id) != NULL) {
			t = task_node(a, model_task(m, id));
			if (t < 0)
				return -1;
			wait_for(a, f, t, "result of");
		}
	}
	return 0;
}

/*
 * Mark the nodes on cycles. With one arrow out of each node, walking from
 * a node either reaches a node already finished (no new cycle) or one on
 * the current walk: then the nodes from there to here are a cycle.
 * Iterative, so a chain of a million awaits cannot overflow the stack.
 */
static int find_cycles(struct agraph *a, char *names, size_t size)
{
	int found = 0;

	for (int s = 0; s < a->nn; s++) {
		int v = s;
		while (v >= 0 && a->n[v].state == 0) {
			a->n[v].state = 1;
			v = a->n[v].next;
		}
		if (v >= 0 && a->n[v].state == 1) {
			/* v is where the walk closed on itself. Its names
			 * go in names as far as they fit. */
			size_t len = strlen(names);
			int u = v;
			len += (size_t)snprintf(names + len, size - len, "%s%s",
						found ? "; " : "", a->n[v].name);
			do {
				a->n[u].in_cycle = 1;
				u = a->n[u].next;
				if (len < size)
					len += (size_t)snprintf(
					    names + len, size - len, " -> %s",
					    a->n[u].name);
			} while (u != v);
			found++;
		}
		for (v = s; v >= 0 && a->n[v].state == 1; v = a->n[v].next)
			a->n[v].state = 2;
	}
	return found;
}

/*
 * Could anything still wake a waiting task? Not if no task is running or
 * ready (no task code will run), no timer is pending, no call is out on
 * a thread of the pool (chapter 07: thread.submit without its
 * thread.run) and no task awaits an fd. Then the loop has stalled, cycle
 * or not: libtask's "no runnable tasks", asyncio's run() hanging
 * forever. (A thread of the program's own that will call
 * call_soon_threadsafe is the exception: the trace does not see it.)
 */
static int stalled(const struct agraph *a, const int *count)
{
	const struct model *m = a->m;

	if (count[TS_RUNNING] + count[TS_CREATED] + count[TS_QUEUED] > 0 ||
	    count[TS_WAITING] == 0 || model_pending_timers(m) > 0 ||
	    model_calls_in_flight(m) > 0)
		return 0;
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct task *tk = &m->tasks[i];
		if (tk->state == TS_WAITING && m->spans[tk->open].await &&
		    m->spans[tk->open].await->on.kind == REF_FD)
			return 0;
	}
	return 1;
}

/* The title: the moment, the counts, a deadlock or a stall. */
static void title(const struct agraph *a, int cycles, const char *names,
		  char *buf, size_t size)
{
	const struct model *m = a->m;
	const struct event *last = m->nev ? &m->ev[m->nev - 1] : NULL;
	int count[5] = {0};
	size_t n;
	char t[32];

	for (size_t i = 0; i < m->ntasks; i++)
		count[m->tasks[i].state]++;
	snprintf(buf, size,
		 "await graph at seq %ld (t = %s, line %d): %d running, "
		 "%d ready, %d waiting, %d done\\l",
		 last ? last->seq : 0L, fmt_time(m->t1 - m->t0, t, sizeof(t)),
		 last ? last->line : 0, count[TS_RUNNING],
		 count[TS_CREATED] + count[TS_QUEUED], count[TS_WAITING],
		 count[TS_DONE]);
	n = strlen(buf);
	if (cycles > 0)
		snprintf(buf + n, size - n, "DEADLOCK: %s\\l", names);
	n = strlen(buf);
	if (stalled(a, count))
		snprintf(buf + n, size - n,
			 "STALLED: no task can run, and no timer or fd is "
			 "pending to wake one\\l");
}

static int emit(struct agraph *a, const char *out, const char *label)
{
	Agraph_t *g = agopen("awaits", Agdirected, NULL);
	Agnode_t **gn;
	Agedge_t *e;
	int rc;

	gn = calloc((size_t)a->nn + 1, sizeof(*gn));
	if (g == NULL || gn == NULL) {
		if (g != NULL)
			agclose(g);
		free(gn);
		fprintf(stderr, "cotrace: out of memory\n");
		return 1;
	}
	agattr(g, AGRAPH, "layout", "dot");
	agattr(g, AGRAPH, "rankdir", "LR");
	agattr(g, AGRAPH, "fontname", "Helvetica");
	agattr(g, AGRAPH, "labelloc", "t");
	agattr(g, AGRAPH, "labeljust", "l");
	agattr(g, AGRAPH, "label", (char *)label);
	agattr(g, AGNODE, "fontname", "Helvetica");
	agattr(g, AGNODE, "fontsize", "10");
	agattr(g, AGNODE, "style", "filled");
	agattr(g, AGNODE, "color", "black");
	agattr(g, AGEDGE, "fontname", "Helvetica");
	agattr(g, AGEDGE, "fontsize", "9");
	agattr(g, AGEDGE, "color", "black");
	if (a->nn == 0) {
		Agnode_t *n = agnode(g, "none", 1);
		agsafeset(n, "shape", "plaintext", "");
		agsafeset(n, "label", "no task is alive", "");
	}
	for (int i = 0; i < a->nn; i++) {
		gn[i] = agnode(g, a->n[i].name, 1);
		agsafeset(gn[i], "shape", (char *)a->n[i].shape, "");
		agsafeset(gn[i], "label", a->n[i].label, "");
		agsafeset(gn[i], "fillcolor", (char *)a->n[i].fill, "");
		if (a->n[i].in_cycle)
			agsafeset(gn[i], "color", "red", "");
	}
	for (int i = 0; i < a->nn; i++) {
		if (a->n[i].next < 0)
			continue;
		e = agedge(g, gn[i], gn[a->n[i].next], NULL, 1);
		agsafeset(e, "label", a->n[i].why, "");
		if (strcmp(a->n[i].why, "result of") == 0 ||
		    strcmp(a->n[i].why, "held by") == 0)
			agsafeset(e, "style", "dashed", "");
		if (a->n[i].in_cycle && a->n[a->n[i].next].in_cycle) {
			agsafeset(e, "color", "red", "");
			agsafeset(e, "fontcolor", "red", "");
			agsafeset(e, "penwidth", "2", "");
		}
	}
	rc = render_graph(g, "dot", out);
	agclose(g);
	free(gn);
	return rc;
}

int view_awaits(const struct model *m, const char *out)
{
	struct agraph a = {.m = m};
	char names[1024] = "", label[1536];
	int cycles, rc;

	if (build(&a) < 0) {
		free(a.n);
	free(a.slot);
		fprintf(stderr, "cotrace: out of memory\n");
		return 1;
	}
	cycles = find_cycles(&a, names, sizeof(names));
	title(&a, cycles, names, label, sizeof(label));
	rc = emit(&a, out, label);
	free(a.n);
	free(a.slot);
	return rc;
}
