/*
 * waitgraph.c - cycles of tasks that wait on each other (see dump.h).
 *
 * Each waiting task points at most at one other task: the task it awaits,
 * or the owner of the lock it waits for. Following those pointers from
 * any task either ends (a task that waits on a timer, a socket, a queue
 * somebody may still fill) or comes round to a task already on the path:
 * a cycle, which no event can break, since each of its tasks waits for
 * the next. The graph is tiny (one edge per task), so a walk from each
 * task, stamped with the task it started from, finds every cycle in time
 * proportional to the tasks times the length of the longest chain.
 *
 * This is the "wait-for graph" of database lock managers, and what
 * cotrace's await graph draws in red; Java's ThreadMXBean
 * findDeadlockedThreads does the same for monitors. asyncio has no such
 * report: a deadlocked program waits for ever.
 */
#include <stdlib.h>

#include "dump.h"
#include "locks.h"
#include "symbols.h"

#define CL__CYCLE_FRAMES 32

/* The task t waits on, if it waits on a task: by await, or by a lock
 * another task holds. NULL otherwise. */
static struct cl_task *cl__waits_for(struct cl_loop *loop,
				     const struct cl_task *t, int *by_lock)
{
	const struct cl_future *w = t->fut_waiter;
	unsigned long holder;

	*by_lock = 0;
	if (w == NULL)
		return NULL;
	if (w->what == CL_WHAT_TASK)
		return (struct cl_task *)w;
	holder = cl__sync_holder(w);
	if (holder == 0)
		return NULL;
	*by_lock = 1; /* t itself, when it holds the lock already */
	for (struct cl_task *u = loop->tasks_head; u != NULL; u = u->next)
		if (u->id == holder)
			return u;
	return NULL;
}

/* Print the cycle through t, once. */
static void cl__print_cycle(struct cl_loop *loop, struct cl_task *t,
			    FILE *out)
{
	struct cl_task *u = t, *next;
	void *pcs[CL__CYCLE_FRAMES];
	char buf[300];
	size_t len = 0, n;
	int by_lock;

	do {
		len++;
		u = cl__waits_for(loop, u, &by_lock);
	} while (u != t);
	fprintf(out, "corolab: deadlock: %zu task%s waiting on each other "
		     "in a cycle\n",
		len, len == 1 ? "" : "s");
	do {
		next = cl__waits_for(loop, u, &by_lock);
		if (by_lock)
			fprintf(out, "  task:%lu '%s' waits on lock:%lu, held "
				     "by task:%lu '%s'\n",
				u->id, u->name,
				CL_SYNC_NUM(u->fut_waiter->what_id), next->id,
				next->name);
		else
			fprintf(out, "  task:%lu '%s' awaits task:%lu '%s'\n",
				u->id, u->name, next->id, next->name);
		n = cl_task_backtrace(u, pcs, CL__CYCLE_FRAMES);
		fprintf(out, "    in %s\n",
			cl_backtrace_place(pcs, n, buf, sizeof buf));
		u = next;
	} while (u != t);
}

int cl_deadlock_report(struct cl_loop *loop, FILE *out)
{
	size_t n = loop->ntasks, i = 0;
	struct cl_task **v;
	unsigned long *stamp;
	int cycles = 0, by_lock;

	if (n == 0)
		return 0;
	v = calloc(n, sizeof *v);
	stamp = calloc(n, sizeof *stamp);
	if (v == NULL || stamp == NULL) {
		free(v);
		free(stamp);
		return 0;
	}
	for (struct cl_task *t = loop->tasks_head; t && i < n; t = t->next)
		v[i++] = t;
	n = i;
	/* stamp[k]: 0 unseen; the start's index + 1 while on its path;
	 * done (n + 1) once every task it leads to is known. Tasks reach
	 * each other through pointers: find the index by a scan. */
	for (size_t s = 0; s < n; s++) {
		struct cl_task *t = v[s];
		size_t k = s;

		while (stamp[k] == 0) {
			stamp[k] = s + 1;
			t = cl__waits_for(loop, t, &by_lock);
			if (t == NULL)
				break;
			for (k = 0; k < n && v[k] != t; k++)
				;
			if (k == n)
				break;
		}
		if (t != NULL && k < n && stamp[k] == s + 1) {
			cl__print_cycle(loop, v[k], out);
			cycles++;
		}
		/* Everything stamped by s is done now. */
		for (size_t j = 0; j < n; j++)
			if (stamp[j] == s + 1)
				stamp[j] = n + 1;
	}
	free(v);
	free(stamp);
	if (cycles > 0)
		fflush(out);
	return cycles;
}

int cl__deadlock_check(struct cl_loop *loop, struct cl_task *t, FILE *out)
{
	struct cl_task *u = t;
	size_t steps = 0;
	int by_lock;

	/* A cycle that t's new wait closed goes through t. */
	while ((u = cl__waits_for(loop, u, &by_lock)) != NULL &&
	       u != t && ++steps <= loop->ntasks)
		;
	if (u != t)
		return 0;
	cl__print_cycle(loop, t, out);
	fflush(out);
	return 1;
}
