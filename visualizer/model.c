/*
 * model.c - replaying a run's events into tasks, spans and marks.
 *
 * The loop is single-threaded, and the replay holds it to that: at most
 * one task is inside a step, a step ends before the next one begins, a
 * task exists before anything happens to it. A trace that breaks these
 * rules comes from a broken scheduler (or tracer), and the first broken
 * rule is reported with its line: that is usually the bug.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int fail(struct model *m, const struct event *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct model *m, const struct event *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(m->err, sizeof(m->err), "%s:%d: %s: ", m->t->path, e->line,
		     e->name);
	va_start(ap, fmt);
	vsnprintf(m->err + n, sizeof(m->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The element for id, or NULL when the table does not reach that far. */
static void *table_get(const struct table *tb, long id)
{
	if (id < 0 || (size_t)id >= tb->n)
		return NULL;
	return tb->v + (size_t)id * tb->size;
}

/*
 * The element for id, the table grown (and zeroed) to hold it; NULL when
 * id is out of range or memory is short.
 */
static void *table_put(struct table *tb, long id)
{
	size_t n;
	unsigned char *v;

	if (id < 0 || id >= MAX_ID)
		return NULL;
	if ((size_t)id >= tb->n) {
		for (n = tb->n ? tb->n : 16; n <= (size_t)id; n *= 2)
			;
		v = realloc(tb->v, n * tb->size);
		if (v == NULL)
			return NULL;
		memset(v + tb->n * tb->size, 0, (n - tb->n) * tb->size);
		tb->v = v;
		tb->n = n;
	}
	return table_get(tb, id);
}

/* Room for one more element; see tracefile.c's grow. */
static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 32;
	p = realloc(arr, ncap * size);
	if (p != NULL)
		*cap = ncap;
	return p;
}

struct task *model_task(const struct model *m, long id)
{
	const long *ix = table_get(&m->task_ix, id);

	return ix != NULL && *ix > 0 ? &m->tasks[*ix - 1] : NULL;
}

/* The task an event names with task=, or an error. */
static struct task *need_task(struct model *m, const struct event *e, long id)
{
	struct task *tk = model_task(m, id);

	if (tk == NULL)
		fail(m, e, "unknown task %ld (no task.new before this line)",
		     id);
	return tk;
}

static struct call *call_of(const struct model *m, long fut);

static long open_span(struct model *m, enum span_kind kind, long lane,
		      const struct event *from)
{
	struct span *s =
	    grow(m->spans, m->nspans, &m->caps[1], sizeof(*m->spans));

	if (s == NULL)
		return -1;
	m->spans = s;
	s = &m->spans[m->nspans];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->lane = lane;
	s->from = from;
	return (long)m->nspans++;
}

/* Close the task's open span (if any) at e; open a new one of kind. */
static int switch_span(struct model *m, struct task *tk, const struct event *e,
		       enum span_kind kind)
{
	if (tk->open >= 0)
		m->spans[tk->open].to = e;
	tk->open = open_span(m, kind, tk->id, e);
	return tk->open < 0 ? fail(m, e, "out of memory") : 0;
}

static long add_mark(struct model *m, enum mark_kind kind,
		     const struct event *e, long lane, long from)
{
	struct mark *k =
	    grow(m->marks, m->nmarks, &m->caps[2], sizeof(*m->marks));
	struct task *tk;

	if (k == NULL)
		return fail(m, e, "out of memory");
	m->marks = k;
	k = &m->marks[m->nmarks];
	k->kind = kind;
	k->ev = e;
	k->lane = lane;
	k->from = from;
	k->step = -1;
	tk = model_task(m, from);
	k->from_step = tk != NULL ? tk->last_step : -1;
	return (long)m->nmarks++;
}

/*
 * The lane an arrow starts from, for a by= reference: a task's own lane,
 * or for a future the lane of whoever completed it; timers, fds and the
 * loop itself live on the loop's lane. spawn comes from the parent.
 */
static int waker_lane(struct model *m, const struct event *e,
		      const struct ref *by, long parent, long *lane)
{
	const struct event *done;

	*lane = m->running ? m->running : LOOP_LANE;
	switch (by->kind) {
	case REF_TASK:
	case REF_CANCEL:
		if (need_task(m, e, by->id) == NULL)
			return -1;
		*lane = by->id;
		break;
	case REF_SPAWN:
		if (parent != 0)
			*lane = parent;
		break;
	case REF_FUT:
		done = model_fut_done(m, by->id);
		if (done != NULL && done->by.kind == REF_TASK)
			*lane = done->by.id;
		else if (done != NULL)
			*lane = LOOP_LANE;
		break;
	case REF_TIMER:
	case REF_FD:
	case REF_LOOP:
		*lane = LOOP_LANE;
		break;
	default:
		break;
	}
	return 0;
}

static int on_task_new(struct model *m, const struct event *e)
{
	struct task *tk;
	long *ix;

	if (e->task == 0)
		return fail(m, e, "task ids start at 1");
	if ((tk = model_task(m, e->task)) != NULL)
		return fail(m, e, "duplicate task id %ld (task.new at line %d)",
			    e->task, tk->created->line);
	if (e->parent != 0 && need_task(m, e, e->parent) == NULL)
		return -1;
	if (e->task >= MAX_ID)
		return fail(m, e,
			    "task id %ld too large (ids are small "
			    "integers, below %ld)",
			    e->task, MAX_ID);
	ix = table_put(&m->task_ix, e->task);
	if (ix == NULL)
		return fail(m, e, "out of memory");
	tk = grow(m->tasks, m->ntasks, &m->caps[0], sizeof(*m->tasks));
	if (tk == NULL)
		return fail(m, e, "out of memory");
	m->tasks = tk;
	tk = &m->tasks[m->ntasks];
	memset(tk, 0, sizeof(*tk));
	*ix = (long)++m->ntasks;
	tk->id = e->task;
	tk->name = e->tname;
	tk->parent = e->parent;
	tk->created = e;
	tk->state = TS_CREATED;
	tk->open = -1;
	tk->last_step = -1;
	tk->pending_wake = -1;
	/* asyncio schedules a task's first step when it creates it
	 * (Task.__init__ calls loop.call_soon): it is queued from birth. */
	return switch_span(m, tk, e, SP_QUEUED);
}

static int on_wake(struct model *m, const struct event *e)
{
	struct task *tk = need_task(m, e, e->task);
	long from, k;

	if (tk == NULL)
		return -1;
	if (tk->state == TS_DONE)
		return fail(m, e, "task %ld is already done", e->task);
	if (waker_lane(m, e, &e->by, tk->parent, &from) < 0)
		return -1;
	if ((k = add_mark(m, MK_WAKE, e, tk->id, from)) < 0)
		return -1;
	tk->pending_wake = k;
	if (tk->state == TS_RUNNING) {
		/* Rescheduled from inside its own step (a bare yield,
		 * sleep(0)): it will be queued, not waiting, when it ends. */
		tk->woken = 1;
	} else if (tk->state == TS_WAITING) {
		tk->state = TS_QUEUED;
		return switch_span(m, tk, e, SP_QUEUED);
	}
	return 0;
}

static int on_step_begin(struct model *m, const struct event *e)
{
	struct task *tk = need_task(m, e, e->task);
	const struct event *cause = NULL;
	const struct mark *k;
	struct span *s;

	if (tk == NULL)
		return -1;
	if (tk->state == TS_DONE)
		return fail(m, e, "task %ld is already done", e->task);
	if (m->running != 0)
		return fail(m, e,
			    "task %ld begins a step while task %ld is still "
			    "running (one step at a time)",
			    e->task, m->running);
	if (m->poll >= 0)
		return fail(m, e, "a step begins inside a poll (line %d)",
			    m->spans[m->poll].from->line);
	if (e->cause != 0) {
		cause = trace_find_seq(m->t, e->cause);
		if (cause == NULL || cause->seq >= e->seq ||
		    cause->run != e->run)
			return fail(m, e, "cause=%ld names no earlier event",
				    e->cause);
	}
	if (switch_span(m, tk, e, SP_STEP) < 0)
		return -1;
	s = &m->spans[tk->open];
	tk->last_step = tk->open;
	s->step = e->step ? e->step : tk->nsteps + 1;
	s->cause = cause;
	/* Tie the wake to the step it led to: the one cause= names, else
	 * the task's latest wake. */
	k = cause != NULL ? model_mark_at(m, cause->seq) : NULL;
	if (k == NULL && tk->pending_wake >= 0)
		k = &m->marks[tk->pending_wake];
	if (k != NULL && k->kind == MK_WAKE && k->lane == tk->id && k->step < 0)
		m->marks[k - m->marks].step = tk->open;
	tk->pending_wake = -1;
	tk->nsteps++;
	tk->state = TS_RUNNING;
	tk->woken = 0;
	tk->await = NULL;
	m->running = tk->id;
	return 0;
}

static int on_step_end(struct model *m, const struct event *e)
{
	struct task *tk = need_task(m, e, e->task);
	struct span *s;

	if (tk == NULL)
		return -1;
	if (tk->state != TS_RUNNING)
		return fail(m, e, "task %ld is not running (no step.begin)",
			    e->task);
	s = &m->spans[tk->open];
	if (e->step != 0 && e->step != s->step)
		return fail(m, e,
			    "step=%ld, but step %ld of task %ld is "
			    "running (line %d)",
			    e->step, s->step, e->task, s->from->line);
	s->result = e->result;
	m->running = 0;
	if (e->result != RES_PENDING) {
		s->to = e;
		tk->open = -1;
		tk->state = TS_DONE;
		return 0;
	}
	if (tk->woken) {
		tk->state = TS_QUEUED;
		return switch_span(m, tk, e, SP_QUEUED);
	}
	tk->state = TS_WAITING;
	if (switch_span(m, tk, e, SP_WAIT) < 0)
		return -1;
	m->spans[tk->open].await = tk->await;
	return 0;
}

static int on_await(struct model *m, const struct event *e)
{
	struct task *tk = need_task(m, e, e->task);

	if (tk == NULL)
		return -1;
	if (tk->state == TS_DONE)
		return fail(m, e, "task %ld is already done", e->task);
	tk->await = e;
	if (e->on.kind == REF_FUT) {
		struct call *c = call_of(m, e->on.id);
		if (c != NULL && c->awaiter == 0)
			c->awaiter = tk->id;
	}
	/* Written after the step ended: it still says what the wait is. */
	if (tk->state == TS_WAITING && m->spans[tk->open].await == NULL)
		m->spans[tk->open].await = e;
	return 0;
}

static int on_fut_done(struct model *m, const struct event *e)
{
	const struct event **slot = table_put(&m->futs, e->id);
	long lane = m->running ? m->running : LOOP_LANE;

	if (slot == NULL)
		return fail(m, e,
			    e->id >= MAX_ID ? "future id %ld too large"
					    : "out of memory (id %ld)",
			    e->id);
	if (e->by.kind == REF_TASK) {
		if (need_task(m, e, e->by.id) == NULL)
			return -1;
		lane = e->by.id;
	} else if (e->by.kind == REF_TIMER || e->by.kind == REF_LOOP) {
		lane = LOOP_LANE;
	}
	*slot = e;
	return add_mark(m, MK_FUT, e, lane, lane) < 0 ? -1 : 0;
}

static int on_timer(struct model *m, const struct event *e)
{
	struct timer *tm = table_put(&m->timers, e->id);

	if (tm == NULL)
		return fail(m, e,
			    e->id >= MAX_ID ? "timer id %ld too large"
					    : "out of memory (id %ld)",
			    e->id);
	if (e->kind == EV_TIMER_SET) {
		tm->set = e;
		tm->fire = NULL;
		return 0;
	}
	if (e->kind == EV_TIMER_CANCEL) {
		tm->set = NULL; /* it will not fire: nothing pending */
		return 0;
	}
	tm->fire = e;
	return add_mark(m, MK_TIMER, e, LOOP_LANE, LOOP_LANE) < 0 ? -1 : 0;
}

static int on_poll(struct model *m, const struct event *e)
{
	if (e->kind == EV_POLL_BEGIN) {
		if (m->poll >= 0)
			return fail(m, e,
				    "inside a poll (poll.begin at line %d)",
				    m->spans[m->poll].from->line);
		if (m->running != 0)
			return fail(m, e, "the loop polls while task %ld runs",
				    m->running);
		m->poll = open_span(m, SP_POLL, LOOP_LANE, e);
		return m->poll < 0 ? fail(m, e, "out of memory") : 0;
	}
	if (m->poll < 0)
		return fail(m, e, "poll.end without poll.begin");
	m->spans[m->poll].to = e;
	m->poll = -1;
	return 0;
}

static int on_task_event(struct model *m, const struct event *e)
{
	struct task *tk = need_task(m, e, e->task);
	long from;

	if (tk == NULL)
		return -1;
	switch (e->kind) {
	case EV_EXC_RAISE:
		return add_mark(m, MK_EXC, e, tk->id, tk->id) < 0 ? -1 : 0;
	case EV_CANCEL:
		if (waker_lane(m, e, &e->by, 0, &from) < 0)
			return -1;
		return add_mark(m, MK_CANCEL, e, tk->id, from) < 0 ? -1 : 0;
	case EV_TIMEOUT:
		/* Not refused on a finished task: it draws nothing wrong. */
		return add_mark(m, MK_TIMEOUT, e, tk->id, tk->id) < 0 ? -1 : 0;
	default: /* EV_TASK_DONE */
		if (tk->done != NULL)
			return fail(m, e, "task %ld is done twice (line %d)",
				    e->task, tk->done->line);
		tk->done = e;
		/* Done outside a step: cancelled before it ever ran, say.
		 * No step box says how it ended: an MK_END mark does. */
		if (tk->state != TS_RUNNING && tk->state != TS_DONE) {
			if (tk->open >= 0)
				m->spans[tk->open].to = e;
			tk->open = -1;
			tk->state = TS_DONE;
			return add_mark(m, MK_END, e, tk->id, tk->id) < 0 ? -1
									  : 0;
		}
		return 0;
	}
}

/* The pool's call whose future is fut, or NULL. */
static struct call *call_of(const struct model *m, long fut)
{
	const long *ix = table_get(&m->call_ix, fut);

	return ix != NULL && *ix > 0 ? &m->calls[*ix - 1] : NULL;
}

/* A new call for future fut (the caller checked there is none). */
static struct call *new_call(struct model *m, const struct event *e, long fut)
{
	long *ix = table_put(&m->call_ix, fut);
	struct call *c;

	if (ix == NULL) {
		fail(m, e,
		     fut >= MAX_ID ? "future id %ld too large"
				   : "out of memory (id %ld)",
		     fut);
		return NULL;
	}
	c = grow(m->calls, m->ncalls, &m->ncalls_cap, sizeof(*m->calls));
	if (c == NULL) {
		fail(m, e, "out of memory");
		return NULL;
	}
	m->calls = c;
	c = &m->calls[m->ncalls];
	memset(c, 0, sizeof(*c));
	c->fut = fut;
	c->wake = -1;
	*ix = (long)++m->ncalls;
	return c;
}

/* thread.submit: the loop handed a call to its pool. */
static int on_thread_submit(struct model *m, const struct event *e)
{
	const struct call *old = call_of(m, e->id);
	struct call *c;

	if (old != NULL)
		return fail(m, e,
			    "future %ld was handed to a thread already "
			    "(line %d)",
			    e->id,
			    (old->submit ? old->submit : old->run)->line);
	if ((c = new_call(m, e, e->id)) == NULL)
		return -1;
	c->submit = e;
	c->task = m->running;
	return 0;
}

/* Note worker k, keeping the list sorted. */
static int add_worker(struct model *m, const struct event *e, long k)
{
	size_t i;
	long *w;

	for (i = 0; i < m->nworkers && m->workers[i] < k; i++)
		;
	if (i < m->nworkers && m->workers[i] == k)
		return 0;
	w = grow(m->workers, m->nworkers, &m->nworkers_cap,
		 sizeof(*m->workers));
	if (w == NULL)
		return fail(m, e, "out of memory");
	m->workers = w;
	memmove(&w[i + 1], &w[i], (m->nworkers - i) * sizeof(*w));
	w[i] = k;
	m->nworkers++;
	return 0;
}

/*
 * thread.run: the loop has the call's result, which thread ran it and
 * when. The loop wrote it last, in the callback that took the result:
 * the fut.done it caused and the wakes of the tasks awaiting the future
 * came just before, since that callback began (m->last_cb). Those wakes
 * come from the worker's lane, not the loop's: the thread did the work.
 */
static int on_thread_run(struct model *m, const struct event *e)
{
	struct call *c = call_of(m, e->id);
	long lane = WORKER_LANE(e->worker);

	if (e->worker <= 0)
		return fail(m, e, "worker ids start at 1");
	if (e->worker >= MAX_ID)
		return fail(m, e, "worker id %ld too large", e->worker);
	if (c == NULL && (c = new_call(m, e, e->id)) == NULL)
		return -1;
	if (c->run != NULL)
		return fail(m, e,
			    "future %ld came back from a thread already "
			    "(line %d)",
			    e->id, c->run->line);
	c->run = e;
	if (add_worker(m, e, e->worker) < 0)
		return -1;
	for (size_t i = m->nmarks; i-- > 0;) {
		struct mark *k = &m->marks[i];
		if (k->ev->seq <= m->last_cb ||
		    (c->submit != NULL && k->ev->seq <= c->submit->seq))
			break;
		if (k->kind == MK_FUT && k->ev->id == e->id) {
			k->lane = k->from = lane;
			break;
		}
		if (k->kind == MK_WAKE && k->ev->via.kind == REF_FUT &&
		    k->ev->via.id == e->id) {
			k->from = lane;
			k->from_step = -1;
			c->wake = (long)i;
		}
	}
	return 0;
}

/* lock.acquire, lock.release: who holds which lock. */
static int on_lock(struct model *m, const struct event *e)
{
	struct lock *l;

	if (e->task != 0 && need_task(m, e, e->task) == NULL)
		return -1;
	if ((l = table_put(&m->locks, e->id)) == NULL)
		return fail(m, e,
			    e->id >= MAX_ID ? "lock id %ld too large"
					    : "out of memory (id %ld)",
			    e->id);
	if (e->kind == EV_LOCK_RELEASE) {
		l->held = NULL; /* free now, whoever held it (asyncio's
				   locks have no owner) */
		return 0;
	}
	if (l->held != NULL)
		return fail(m, e,
			    "lock %ld is held already, by task %ld "
			    "(lock.acquire at line %d)",
			    e->id, l->held->task, l->held->line);
	l->held = e;
	return 0;
}

/* queue.new, queue.put, queue.get: how full each queue is. */
static int on_queue(struct model *m, const struct event *e)
{
	struct queue *q = table_put(&m->queues, e->id);

	if (q == NULL)
		return fail(m, e,
			    e->id >= MAX_ID ? "queue id %ld too large"
					    : "out of memory (id %ld)",
			    e->id);
	if (e->kind == EV_QUEUE_NEW) {
		if (q->last != NULL)
			return fail(m, e, "queue %ld is made twice (line %d)",
				    e->id, q->last->line);
		q->created = e;
		q->last = e;
		return 0;
	}
	if (q->created != NULL && q->created->maxsize > 0 &&
	    e->size > q->created->maxsize)
		return fail(m, e,
			    "queue %ld holds %ld items, more than its "
			    "maxsize %ld (line %d)",
			    e->id, e->size, q->created->maxsize,
			    q->created->line);
	q->size = e->size;
	q->peak = e->size > q->peak ? e->size : q->peak;
	q->puts += e->kind == EV_QUEUE_PUT;
	q->gets += e->kind == EV_QUEUE_GET;
	q->last = e;
	return 0;
}

/* One event into the model: its handler checks it and records it. */
static int replay(struct model *m, const struct event *e)
{
	int rc = 0;

	m->t1 = e->ts;
	/* clang-format off */
	switch (e->kind) {
	case EV_TASK_NEW: rc = on_task_new(m, e); break;
	case EV_WAKE: rc = on_wake(m, e); break;
	case EV_STEP_BEGIN: rc = on_step_begin(m, e); break;
	case EV_STEP_END: rc = on_step_end(m, e); break;
	case EV_AWAIT: rc = on_await(m, e); break;
	case EV_FUT_DONE: rc = on_fut_done(m, e); break;
	case EV_TIMER_SET:
	case EV_TIMER_FIRE:
	case EV_TIMER_CANCEL: rc = on_timer(m, e); break;
	case EV_FD_READY:
		rc = add_mark(m, MK_FD, e, LOOP_LANE, LOOP_LANE) < 0 ? -1 : 0;
		break;
	case EV_POLL_BEGIN:
	case EV_POLL_END: rc = on_poll(m, e); break;
	case EV_EXC_RAISE:
	case EV_CANCEL:
	case EV_TIMEOUT:
	case EV_TASK_DONE: rc = on_task_event(m, e); break;
	case EV_CB: m->last_cb = e->seq; break; /* the timeline draws it */
	case EV_LOCK_ACQUIRE:
	case EV_LOCK_RELEASE: rc = on_lock(m, e); break;
	case EV_THREAD_SUBMIT: rc = on_thread_submit(m, e); break;
	case EV_THREAD_RUN: rc = on_thread_run(m, e); break;
	case EV_QUEUE_NEW:
	case EV_QUEUE_PUT:
	case EV_QUEUE_GET: rc = on_queue(m, e); break;
	case EV_LOOP_WAKER: m->waker_fd = e->id; break;
	case EV_LOOP_END:
	case EV_LOOP_ITER: /* the timeline reads these from the events */
	case EV_CTX_NEW: /* model_var_values reads these */
	case EV_VAR_SET:
	case EV_UNKNOWN: break; /* the format may grow */
	}
	/* clang-format on */
	return rc;
}

/* An empty model of run number run of t, ready to replay. */
static void model_begin(struct model *m, const struct trace *t, size_t run)
{
	memset(m, 0, sizeof(*m));
	m->t = t;
	m->run = &t->runs[run];
	/* A run of no events (a header alone) may have no array at all:
	 * NULL + 0 is undefined behaviour in C. */
	m->ev = t->ev != NULL ? t->ev + m->run->first : NULL;
	m->poll = -1;
	m->waker_fd = -1;
	m->task_ix.size = sizeof(long);
	m->futs.size = sizeof(const struct event *);
	m->timers.size = sizeof(struct timer);
	m->locks.size = sizeof(struct lock);
	m->queues.size = sizeof(struct queue);
	m->call_ix.size = sizeof(long);
	if (m->run->n > 0)
		m->t0 = m->t1 = m->ev[0].ts;
}

/*
 * Replay the run. The steps:
 *  1. find the run's events; stop at upto if it is given;
 *  2. feed each event to its handler, which checks it against the state
 *     so far and opens or closes spans and adds marks;
 *  3. leave the spans of tasks still waiting, queued or running open:
 *     their end is the end of the replay (span_end_ts).
 */
int model_build(struct model *m, const struct trace *t, size_t run, long upto)
{
	int rc = 0;

	model_begin(m, t, run);
	for (m->nev = 0; m->nev < m->run->n && rc == 0; m->nev++) {
		const struct event *e = &m->ev[m->nev];
		if (upto != 0 && e->seq > upto)
			break;
		rc = replay(m, e);
	}
	return rc;
}

long model_waits_for(const struct model *m, const struct task *tk)
{
	const struct event *aw, *held;
	long id;

	if (tk->state != TS_WAITING || tk->open < 0 ||
	    (aw = m->spans[tk->open].await) == NULL)
		return 0;
	if (aw->what != NULL && sscanf(aw->what, "task:%ld", &id) == 1)
		return model_task(m, id) != NULL ? id : 0;
	if (ref_is(&aw->on, "lock") &&
	    (held = model_lock_held(m, aw->on.id)) != NULL)
		return held->task;
	return 0;
}

/* Does following tk's waits come back to tk? At most one arrow leaves
 * each task, so ntasks steps without coming back is a no. */
static int closes_cycle(const struct model *m, const struct task *tk)
{
	const struct task *cur = tk;

	for (size_t n = 0; n < m->ntasks && cur != NULL; n++) {
		long id = model_waits_for(m, cur);
		if (id == 0)
			return 0;
		if (id == tk->id)
			return 1;
		cur = model_task(m, id);
	}
	return 0;
}

/*
 * A cycle closes when its last task starts to wait: at a step.end that
 * leaves a task waiting (or an await written after it). The locks the
 * waits point at change hands inside steps, while their holder runs, so
 * no other moment can close one.
 */
long model_first_cycle(struct model *m, const struct trace *t, size_t run)
{
	model_begin(m, t, run);
	for (m->nev = 0; m->nev < m->run->n;) {
		const struct event *e = &m->ev[m->nev];
		const struct task *tk;
		if (replay(m, e) < 0)
			return -1;
		m->nev++;
		if ((e->kind == EV_STEP_END || e->kind == EV_AWAIT) &&
		    (tk = model_task(m, e->task)) != NULL &&
		    tk->state == TS_WAITING && closes_cycle(m, tk))
			return e->seq;
	}
	return 0;
}

void model_free(struct model *m)
{
	free(m->tasks);
	free(m->spans);
	free(m->marks);
	free(m->task_ix.v);
	free(m->futs.v);
	free(m->timers.v);
	free(m->locks.v);
	free(m->queues.v);
	free(m->call_ix.v);
	free(m->calls);
	free(m->workers);
	memset(m, 0, sizeof(*m));
}

const struct event *model_done_in(const struct model *m, const struct span *s)
{
	const struct task *tk = model_task(m, s->lane);

	if (tk == NULL || tk->done == NULL || s->kind != SP_STEP ||
	    tk->last_step < 0 || &m->spans[tk->last_step] != s)
		return NULL;
	/* Written inside the step, or after a step that ended it. */
	if (s->to == NULL || tk->done->seq < s->to->seq ||
	    s->result != RES_PENDING)
		return tk->done;
	return NULL;
}

const char *task_label(const struct task *tk, char *buf, size_t size)
{
	if (tk->name != NULL)
		snprintf(buf, size, "T%ld %s", tk->id, tk->name);
	else
		snprintf(buf, size, "T%ld", tk->id);
	return buf;
}

const struct event *model_fut_done(const struct model *m, long id)
{
	const struct event *const *slot = table_get(&m->futs, id);

	return slot != NULL ? *slot : NULL;
}

struct timer model_timer(const struct model *m, long id)
{
	const struct timer *tm = table_get(&m->timers, id);
	struct timer none = {NULL, NULL};

	return tm != NULL ? *tm : none;
}

long model_pending_timers(const struct model *m)
{
	long n = 0;

	for (size_t id = 0; id < m->timers.n; id++) {
		const struct timer *tm = table_get(&m->timers, (long)id);
		n += tm->set != NULL && tm->fire == NULL;
	}
	return n;
}

const struct call *model_call(const struct model *m, long fut)
{
	return call_of(m, fut);
}

long model_calls_in_flight(const struct model *m)
{
	long n = 0;

	for (size_t i = 0; i < m->ncalls; i++)
		n += m->calls[i].submit != NULL && m->calls[i].run == NULL;
	return n;
}

long model_worker_row(const struct model *m, long k)
{
	for (size_t i = 0; i < m->nworkers; i++)
		if (m->workers[i] == k)
			return (long)i;
	return -1;
}

const struct event *model_lock_held(const struct model *m, long id)
{
	const struct lock *l = table_get(&m->locks, id);

	return l != NULL ? l->held : NULL;
}

struct queue model_queue(const struct model *m, long id)
{
	const struct queue *q = table_get(&m->queues, id);
	struct queue none;

	memset(&none, 0, sizeof(none));
	return q != NULL ? *q : none;
}

int ref_is(const struct ref *r, const char *word)
{
	size_t n = strlen(word);

	return r->kind == REF_OTHER && r->text != NULL &&
	       strncmp(r->text, word, n) == 0 && r->text[n] == ':';
}

/* Spans are added as events open them, so their from seqs increase. */
const struct span *model_span_at(const struct model *m, long seq)
{
	size_t lo = 0, hi = m->nspans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->spans[mid].from->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nspans && m->spans[lo].from->seq == seq ? &m->spans[lo]
							       : NULL;
}

/* Marks are added in event order too. */
const struct mark *model_mark_at(const struct model *m, long seq)
{
	size_t lo = 0, hi = m->nmarks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->marks[mid].ev->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nmarks && m->marks[lo].ev->seq == seq ? &m->marks[lo]
							     : NULL;
}

/*
 * Contexts by id, to one value each: open addressing, linear probing.
 * Their ids count every context the process made, so they can be large:
 * a table indexed by id will not do.
 */
struct ctxmap {
	long *id;	    /* 0: a free slot */
	const char **value; /* NULL: none */
	size_t n, cap;	    /* used slots; slots (a power of two) */
};

static size_t ctx_slot(const struct ctxmap *cm, long id)
{
	size_t i = ((unsigned long)id * 2654435761u) & (cm->cap - 1);

	while (cm->id[i] != 0 && cm->id[i] != id)
		i = (i + 1) & (cm->cap - 1);
	return i;
}

static const char *ctx_get(const struct ctxmap *cm, long id)
{
	size_t i;

	if (id <= 0 || cm->cap == 0)
		return NULL;
	i = ctx_slot(cm, id);
	return cm->id[i] == id ? cm->value[i] : NULL;
}

/* Set id's value, growing the table at half full. -1: out of memory. */
static int ctx_put(struct ctxmap *cm, long id, const char *value)
{
	size_t i;

	if (id <= 0)
		return 0;
	if (2 * (cm->n + 1) > cm->cap) {
		struct ctxmap big = {NULL, NULL, 0, cm->cap ? 2 * cm->cap : 64};
		big.id = calloc(big.cap, sizeof(*big.id));
		big.value = calloc(big.cap, sizeof(*big.value));
		if (big.id == NULL || big.value == NULL) {
			free(big.id);
			free(big.value);
			return -1;
		}
		for (i = 0; i < cm->cap; i++)
			if (cm->id[i] != 0) {
				size_t j = ctx_slot(&big, cm->id[i]);
				big.id[j] = cm->id[i];
				big.value[j] = cm->value[i];
				big.n++;
			}
		free(cm->id);
		free(cm->value);
		*cm = big;
	}
	i = ctx_slot(cm, id);
	cm->n += cm->id[i] == 0;
	cm->id[i] = id;
	cm->value[i] = value;
	return 0;
}

/*
 * One pass over the replayed events, keeping each context's value of
 * var. A step's value is read at its step.end (one step runs at a time:
 * the open one is the running one), or at the end for a step cut short.
 * Strings are interned, so a name compares by strcmp once per var.set.
 */
const char **model_var_values(const struct model *m, const char *var)
{
	const char **out = calloc(m->nspans + 1, sizeof(*out));
	struct ctxmap cm = {NULL, NULL, 0, 0};
	const struct span *step = NULL;
	int rc = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < m->nev && rc == 0; i++) {
		const struct event *e = &m->ev[i];
		switch (e->kind) {
		case EV_CTX_NEW:
			rc = ctx_put(&cm, e->ctx, ctx_get(&cm, e->from));
			break;
		case EV_VAR_SET:
			if (strcmp(e->var, var) == 0)
				rc = ctx_put(&cm, e->ctx,
					     strcmp(e->value, "-") != 0
						 ? e->value
						 : NULL);
			break;
		case EV_STEP_BEGIN:
			step = model_span_at(m, e->seq);
			break;
		case EV_STEP_END:
			if (step != NULL)
				out[step - m->spans] =
				    ctx_get(&cm, step->from->ctx);
			step = NULL;
			break;
		default:
			break;
		}
	}
	if (step != NULL)
		out[step - m->spans] = ctx_get(&cm, step->from->ctx);
	free(cm.id);
	free(cm.value);
	if (rc < 0) {
		free(out);
		return NULL;
	}
	return out;
}

int64_t span_end_ts(const struct model *m, const struct span *s)
{
	return s->to != NULL ? s->to->ts : m->t1;
}

const char *fmt_time(int64_t us, char *buf, size_t size)
{
	static const struct {
		int64_t div;
		const char *unit;
	} units[] = {{1000000, "s"}, {1000, "ms"}};
	char num[32];
	size_t i, n;

	for (i = 0; i < 2; i++)
		if (us >= units[i].div || -us >= units[i].div)
			break;
	if (us == 0) {
		snprintf(buf, size, "0");
	} else if (i == 2) {
		snprintf(buf, size, "%lld us", (long long)us);
	} else {
		/* Three decimals, trailing zeros cut: 12.5 ms, 10 ms. */
		snprintf(num, sizeof(num), "%.3f", (double)us / units[i].div);
		n = strlen(num);
		while (num[n - 1] == '0')
			num[--n] = '\0';
		if (num[n - 1] == '.')
			num[--n] = '\0';
		snprintf(buf, size, "%s %s", num, units[i].unit);
	}
	return buf;
}
