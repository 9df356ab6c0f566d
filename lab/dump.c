/*
 * dump.c - task dumps, suspended backtraces, the live await graph (see
 * dump.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "dump.h"
#include "gen.h"
#include "locks.h"
#include "queues.h"
#include "run.h"
#include "stack.h"
#include "symbols.h"

#define CL__DUMP_FRAMES 32

volatile int cl__dump_requested;

/*
 * cl__walk_frames: follow the chain of frame records. A function built
 * with frame pointers starts by pushing its caller's frame pointer next
 * to its return address and pointing its own frame pointer at that pair:
 *
 *	fp -> [ caller's fp ][ return address ]	(x86-64 and AArch64 alike)
 *
 * so from one record the next is one load away. The chain is trusted no
 * further than it can be checked: a record must lie inside the stack,
 * aligned, and each next one higher up than the last (callers' frames
 * sit above their callees'); a zero return address or frame pointer ends
 * it, as the one cl_ctx_make forges at a coroutine's base does.
 */
/* TODO(ch09): Store in pcs[0..] the return address of each frame
 * record from fp outward, at most max; a record (two words: the
 * caller's fp, then the return address) is used only if it lies
 * wholly in [lo, hi) and is word-aligned; stop at a zero return
 * address, or when the next fp is not above this one. Returns
 * the count. gdb's frame unwinding by fp; read section 3.
 * Hints: make hint CH=9 TODO=frame_walk (2 levels). */
size_t cl__walk_frames(uintptr_t fp, uintptr_t lo, uintptr_t hi, void **pcs,
		       size_t max)
{
	(void)fp, (void)lo, (void)hi, (void)pcs, (void)max;
	return 0;
}

/*
 * Where cl_ctx_switch left the frame pointer and the return address on a
 * suspended stack (ctx_x86_64.S, ctx_aarch64.S: the frame they push).
 */
static void cl__saved_frame(void *sp, uintptr_t *fp, uintptr_t *pc)
{
	const uintptr_t *w = sp;

#if defined(__x86_64__)
	*fp = w[6]; /* rbp */
	*pc = w[7]; /* the return address */
#elif defined(__aarch64__)
	*fp = w[18]; /* x29 at sp+144 */
	*pc = w[19]; /* x30 */
#else
	(void)w;
	*fp = *pc = 0;
#endif
}

size_t cl_task_backtrace(const struct cl_task *t, void **pcs, size_t max)
{
	void *sp, *lo, *hi;
	uintptr_t fp, pc;

	if (max == 0 || t->fut.loop->cur_task == t ||
	    cl__gen_frame(t->coro, &sp, &lo, &hi) < 0 || sp == NULL)
		return 0;
	cl__saved_frame(sp, &fp, &pc);
	if (pc == 0)
		return 0;
	pcs[0] = (void *)pc;
	return 1 + cl__walk_frames(fp, (uintptr_t)lo, (uintptr_t)hi, pcs + 1,
				   max - 1);
}

const char *cl_backtrace_place(void *const *pcs, size_t n, char *buf,
			       size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (cl_symbol_whose(pcs[i]) == CL_SYM_PROGRAM)
			return cl_symbolize(pcs[i], buf, len);
	snprintf(buf, len, "?");
	return buf;
}

/* What w is, in words: run.c's words, and a queue's fill. */
static void cl__dump_describe(FILE *out, const struct cl_future *w)
{
	const struct cl_queue *q = cl__queue_of_waiter(w);
	unsigned long holder = cl__sync_holder(w);

	cl__run_describe(out, w);
	if (q != NULL) {
		if (cl_queue_maxsize(q) > 0)
			fprintf(out, " (%zu of %zu items)", cl_queue_qsize(q),
				cl_queue_maxsize(q));
		else
			fprintf(out, " (%zu items, unbounded)",
				cl_queue_qsize(q));
	}
	if (holder != 0)
		fprintf(out, " held by task:%lu", holder);
}

static void cl__dump_task(struct cl_loop *loop, struct cl_task *t, FILE *out)
{
	void *pcs[CL__DUMP_FRAMES];
	struct cl_stack *s = cl__gen_stack(t->coro);
	size_t n;
	char buf[300];

	fprintf(out, "task:%lu '%s'", t->id, t->name);
	if (t == loop->cur_task) {
		fprintf(out, " running (this is the task dumping)\n");
	} else if (t->fut_waiter != NULL) {
		fprintf(out, " waiting %.3f s on ",
			(double)(loop->now - t->await_since) / 1e6);
		cl__dump_describe(out, t->fut_waiter);
		fputc('\n', out);
	} else {
		fprintf(out, " ready: its next step is queued\n");
	}
	n = cl_task_backtrace(t, pcs, CL__DUMP_FRAMES);
	if (n > 0)
		fprintf(out, "  in %s\n",
			cl_backtrace_place(pcs, n, buf, sizeof buf));
	if (t->await_site != NULL && t != loop->cur_task)
		fprintf(out, "  awaits at %s\n",
			cl_site_str(buf, sizeof buf, t->await_site));
	if (s != NULL)
		fprintf(out, "  stack: %zu KiB touched of %zu KiB\n",
			cl_stack_high_water(s) / 1024, s->size / 1024);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  #%zu %s\n", i,
			cl_symbolize(pcs[i], buf, sizeof buf));
}

void cl_dump_tasks(struct cl_loop *loop, FILE *out)
{
	fprintf(out, "corolab: %zu task%s at %.3f s, iteration %llu\n",
		loop->ntasks, loop->ntasks == 1 ? "" : "s",
		(double)loop->now / 1e6, (unsigned long long)loop->iteration);
	for (struct cl_task *t = loop->tasks_head; t != NULL; t = t->next)
		cl__dump_task(loop, t, out);
	fflush(out);
}

static void cl__dump_handler(int sig)
{
	(void)sig;
	cl__dump_requested = 1;
}

int cl_dump_on_signal(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cl__dump_handler;
	sa.sa_flags = 0; /* no SA_RESTART: epoll_wait returns, EINTR */
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

void cl__dump_signalled(struct cl_loop *loop)
{
	if (__atomic_exchange_n(&cl__dump_requested, 0, __ATOMIC_RELAXED))
		cl_dump_tasks(loop, loop->err);
}

/* The await line of t, in the trace's words (task.c's await event). */
static void cl__dump_await_line(FILE *out, unsigned long seq, uint64_t now,
				uint64_t it, const struct cl_task *t)
{
	const struct cl_future *w = t->fut_waiter;

	fprintf(out, "%lu %llu %llu await task=%lu on=", seq,
		(unsigned long long)now, (unsigned long long)it, t->id);
	switch (w->what) {
	case CL_WHAT_SLEEP:
		fprintf(out, "timer:%lu what=sleep\n", w->what_id);
		break;
	case CL_WHAT_TASK:
		fprintf(out, "fut:%lu what=task:%lu\n", w->id, w->what_id);
		break;
	case CL_WHAT_GATHER:
		fprintf(out, "fut:%lu what=gather\n", w->id);
		break;
	case CL_WHAT_FD_IN:
	case CL_WHAT_FD_OUT:
		fprintf(out, "fd:%lu:%s\n", w->what_id,
			w->what == CL_WHAT_FD_IN ? "IN" : "OUT");
		break;
	case CL_WHAT_SYNC:
		fprintf(out, "%s:%lu\n", cl__sync_kind_str(w->what_id),
			CL_SYNC_NUM(w->what_id));
		break;
	case CL_WHAT_FUTURE:
		fprintf(out, "fut:%lu\n", w->id);
		break;
	}
}

void cl_dump_awaits(struct cl_loop *loop, FILE *out)
{
	unsigned long seq = 0;
	uint64_t now = loop->now, it = loop->iteration;

	fprintf(out, "# corolab-trace 1 clock=%s unit=us\n",
		loop->virtual_clock ? "virtual" : "monotonic");
	for (struct cl_task *t = loop->tasks_head; t != NULL; t = t->next)
		fprintf(out, "%lu %llu %llu task.new task=%lu name=%s "
			     "parent=%lu\n",
			++seq, (unsigned long long)now, (unsigned long long)it,
			t->id, t->name, t->parent);
	/* Who holds the locks waited on: the graph's "held by" edges. */
	for (struct cl_task *t = loop->tasks_head; t != NULL; t = t->next) {
		unsigned long h = cl__sync_holder(t->fut_waiter);

		if (h != 0)
			fprintf(out, "%lu %llu %llu lock.acquire lock=%lu "
				     "task=%lu\n",
				++seq, (unsigned long long)now,
				(unsigned long long)it,
				CL_SYNC_NUM(t->fut_waiter->what_id), h);
	}
	/* Each waiting task's last step, as the trace has it: begun, the
	 * await, ended pending. */
	for (struct cl_task *t = loop->tasks_head; t != NULL; t = t->next) {
		if (t->fut_waiter == NULL)
			continue;
		fprintf(out, "%lu %llu %llu step.begin task=%lu step=%lu\n",
			++seq, (unsigned long long)now,
			(unsigned long long)it, t->id, t->steps);
		cl__dump_await_line(out, ++seq, now, it, t);
		fprintf(out, "%lu %llu %llu step.end task=%lu step=%lu "
			     "result=pending\n",
			++seq, (unsigned long long)now,
			(unsigned long long)it, t->id, t->steps);
	}
	if (loop->cur_task != NULL) /* the one dumping: running, last */
		fprintf(out, "%lu %llu %llu step.begin task=%lu step=%lu\n",
			++seq, (unsigned long long)now, (unsigned long long)it,
			loop->cur_task->id, loop->cur_task->steps);
	fflush(out);
}
