/*
 * ch09_chaos.c - chapter 09, section 7: chaos (chaos.h), faults injected
 * on purpose from one seeded generator.
 *
 * Each kind of fault is seen to happen and to do what it says: a late
 * timer fires, late by what the stats say and never by more than the
 * bound; a cancelled await raises CancelledError("chaos") at that await
 * and nowhere else. A run on the virtual clock repeats its faults, one
 * by one, from its seed. The last test runs chapter 08's chat under
 * all three kinds at once (rude reads and writes, late timers, cancelled
 * awaits) with real WebSocket clients in the same loop, and checks its
 * promises: every message a sender saw come back (its ack) reaches every
 * member connected throughout, once, in one order; nobody is dropped;
 * no member's queue passes max_queue.
 *
 * Every test needs faults to have been injected, so with the lab's
 * chaos_draw region stubbed (it never injects) none passes. A failure
 * names the spec, which replays the run: COROLAB_FAULTS=<spec>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos.h"
#include "chat.h"
#include "exc.h"
#include "future.h"
#include "grade.h"
#include "http.h"
#include "io.h"
#include "loop.h"
#include "run.h"
#include "task.h"
#include "trail.h"
#include "value.h"
#include "ws.h"

#define SEC_CHAOS "7. Chaos"

/* Fail unless spec is accepted. */
#define SET_CHAOS(spec) CL_EXPECT_INT(cl_chaos_set(spec), 0)

/* A sleep that a chaos cancel only cuts short: the test's own task is
 * not what is under test. */
static void nap(double s)
{
	CL_TRY {
		cl_sleep(s);
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		cl_task_uncancel(cl_current_task());
		cl_exc_decref(e);
	} CL_END_TRY;
}

/* ---- late timers -------------------------------------------------------- */

#define NTIMERS 400
#define NTINY 100

static uint64_t due[NTIMERS], fired[NTIMERS];
static int nfired;
static struct cl_chaos_stats late_st, tiny_st;

static void timer_fired(void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;

	fired[i] = cl_loop_time_us(cl_get_running_loop());
	nfired++;
}

/* n timers, i-th due in 1 + i % 97 ms: when each should fire in due[]. */
static void schedule(int n)
{
	struct cl_loop *loop = cl_get_running_loop();

	memset(fired, 0, sizeof fired);
	nfired = 0;
	for (int i = 0; i < n; i++) {
		double d = 0.001 * (1 + i % 97);

		due[i] = cl_loop_time_us(loop) + (uint64_t)(d * 1e6 + 0.5);
		CL_EXPECT(cl_loop_call_later(loop, d, timer_fired,
					     (void *)(uintptr_t)i) != NULL,
			  "call_later: %s", strerror(errno));
	}
}

static void *late_main(void *arg)
{
	(void)arg;
	SET_CHAOS("seed=7,late=0.25:50");
	schedule(NTIMERS);
	late_st = cl_chaos_stats(); /* decided when scheduled */
	cl_sleep(1.0);
	CL_EXPECT_INT(nfired, NTIMERS);
	return NULL;
}

static void *tiny_main(void *arg)
{
	(void)arg;
	SET_CHAOS("seed=1,late=1:0.002");
	schedule(NTINY);
	tiny_st = cl_chaos_stats();
	cl_sleep(1.0);
	CL_EXPECT_INT(nfired, NTINY);
	return NULL;
}

/*
 * late=0.25:50 on 400 timers (virtual clock, so a timer fires exactly at
 * its deadline): every timer fires, none early, none more than 50 ms
 * late; about a quarter are late, and the stats count exactly those and
 * their delays. Then late=1:0.002: every timer late, by 1 or 2 us, both
 * seen.
 */
START_TEST(test_chaos_late_timers_fire_late_but_fire)
{
	unsigned long nlate = 0;
	uint64_t sum = 0, max = 0, min = UINT64_MAX;
	int seen[3] = { 0 };

	run_on(CL_CLOCK_VIRTUAL, late_main, NULL);
	for (int i = 0; i < NTIMERS; i++) {
		CL_EXPECT(fired[i] >= due[i],
			  "seed=7,late=0.25:50: timer %d due at %llu us fired "
			  "early, at %llu",
			  i, (unsigned long long)due[i],
			  (unsigned long long)fired[i]);
		uint64_t d = fired[i] - due[i];

		CL_EXPECT(d <= 50000,
			  "seed=7,late=0.25:50: timer %d fired %llu us late, "
			  "expected at most 50000",
			  i, (unsigned long long)d);
		if (d > 0) {
			nlate++;
			sum += d;
			max = d > max ? d : max;
			min = d < min ? d : min;
		}
	}
	CL_EXPECT_INT(late_st.timers, NTIMERS);
	CL_EXPECT(nlate >= 60 && nlate <= 140,
		  "seed=7,late=0.25:50: expected about 100 of 400 timers "
		  "late, got %lu",
		  nlate);
	CL_EXPECT_INT(late_st.late, nlate);
	CL_EXPECT_INT(late_st.late_us, sum);
	CL_EXPECT(max > 40000 && min < 10000,
		  "seed=7,late=0.25:50: delays should spread over 1 us to "
		  "50 ms; got %llu to %llu us",
		  (unsigned long long)min, (unsigned long long)max);

	run_on(CL_CLOCK_VIRTUAL, tiny_main, NULL);
	for (int i = 0; i < NTINY; i++) {
		uint64_t d = fired[i] - due[i];

		CL_EXPECT(fired[i] > due[i] && d <= 2,
			  "seed=1,late=1:0.002: timer %d due at %llu us fired "
			  "at %llu, expected 1 or 2 us late",
			  i, (unsigned long long)due[i],
			  (unsigned long long)fired[i]);
		seen[d]++;
	}
	CL_EXPECT(seen[1] > 0 && seen[2] > 0,
		  "seed=1,late=1:0.002: expected delays of both 1 and 2 us, "
		  "got %d and %d",
		  seen[1], seen[2]);
	CL_EXPECT_INT(tiny_st.late, NTINY);
	CL_EXPECT_INT(tiny_st.late_us, seen[1] + 2 * seen[2]);
}
END_TEST

/* ---- cancelled awaits --------------------------------------------------- */

#define NAWAITS 300

static struct cl_chaos_stats cancel_st;
static int ncaught, nsuspending;

static void finish(void *arg)
{
	struct cl_future *f = arg;

	if (!cl_future_done(f))
		cl_future_set_result(f, CL_INT(1));
	cl_future_decref(f);
}

static void *sleeper(void *arg)
{
	(void)arg;
	note("sleeper");
	cl_sleep(0.01);
	note("woke");
	return NULL;
}

static void *cancel_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_task *me = cl_current_task(), *t;

	(void)arg;
	SET_CHAOS("seed=11,cancel=0.2");
	for (int i = 0; i < NAWAITS; i++) {
		struct cl_future *f = cl_future_new(loop);

		if (i % 3 == 0) { /* done already: the await does not
				     suspend, and is never cancelled */
			cl_future_set_result(f, CL_INT(1));
		} else {
			nsuspending++;
			cl_loop_call_later(loop, 0.001, finish,
					   cl_future_incref(f));
		}
		CL_TRY {
			cl_await(f);
		} CL_CATCH(e) {
			int chaos = cl_exc_matches(e, &cl_CancelledError) &&
				    strcmp(cl_exc_message(e), "chaos") == 0;

			CL_EXPECT(chaos,
				  "await %d raised %s: %s, expected "
				  "CancelledError: chaos",
				  i, cl_exc_name(e), cl_exc_message(e));
			CL_EXPECT(i % 3 != 0,
				  "await %d, of a future done already, was "
				  "cancelled: only an await that suspends is",
				  i);
			CL_EXPECT(cl_future_cancelled(f),
				  "await %d raised CancelledError but the "
				  "future it awaited is not cancelled",
				  i);
			CL_EXPECT_INT(cl_task_cancelling(me), 1);
			cl_task_uncancel(me);
			cl_exc_decref(e);
			ncaught++;
			note("%d", i);
		} CL_END_TRY;
		cl_future_decref(f);
	}
	cancel_st = cl_chaos_stats();

	/* cancel=1: the first await that suspends is cancelled, and a task
	 * that lets CancelledError out ends cancelled. */
	SET_CHAOS("cancel=1");
	t = cl_create_task(sleeper, NULL, "sleeper");
	for (int n = 0; n < 100 && !cl_task_done(t); n++)
		cl_sleep(0); /* a bare yield: no await, no cancel */
	CL_EXPECT(cl_future_cancelled(cl_task_future(t)),
		  "cancel=1: the sleeper should have ended cancelled at its "
		  "first await; it is %s",
		  cl_task_done(t) ? "done, not cancelled" : "still sleeping");
	CL_EXPECT_INT(cl_chaos_stats().awaits, 1);
	CL_EXPECT_INT(cl_chaos_stats().cancels, 1);
	cl_task_decref(t);
	SET_CHAOS(NULL);
	return NULL;
}

/*
 * cancel=0.2 on 300 awaits, a third of them of futures done already:
 * each cancel is CancelledError("chaos") raised at the await that was
 * about to suspend (the try is around that await alone), the future it
 * awaited is cancelled and cancelling() is 1, as after task.cancel().
 * An await that does not suspend is never cancelled nor counted.
 */
START_TEST(test_chaos_cancel_raises_at_the_await)
{
	run_on(CL_CLOCK_VIRTUAL, cancel_main, NULL);
	CL_EXPECT_INT(cancel_st.awaits, nsuspending);
	CL_EXPECT_INT(cancel_st.cancels, ncaught);
	CL_EXPECT(ncaught >= 20 && ncaught <= 60,
		  "seed=11,cancel=0.2: expected about 40 of 200 suspending "
		  "awaits cancelled, got %d (at: %s)",
		  ncaught, trail);
	CL_EXPECT(strstr(trail, "sleeper") != NULL &&
			  strstr(trail, "woke") == NULL,
		  "cancel=1: the sleeper's await should raise: %s", trail);
}
END_TEST

/* ---- one seed, the same faults ------------------------------------------ */

static int pfd[2];
static struct cl_chaos_stats repro_st;

/* 30 rounds of a sleep (a timer, an await) and a 64-byte write to a
 * pipe (which io.c may cut short or refuse), noting what came of
 * each. */
static void repro_sleep(int id, double s)
{
	CL_TRY {
		cl_sleep(s);
		note("%d@%llu", id,
		     (unsigned long long)cl_loop_time_us(
			     cl_get_running_loop()));
	} CL_CATCH(e) {
		note("%d:cancelled", id);
		cl_task_uncancel(cl_current_task());
		cl_exc_decref(e);
	} CL_END_TRY;
}

static void *repro_worker(void *arg)
{
	int id = (int)CL_TOINT(arg);
	char buf[64] = { 0 }, sink[256];

	for (int k = 0; k < 30; k++) {
		ssize_t r;

		repro_sleep(id, 0.001 * (1 + (k + id) % 5));
		r = cl_io_write(pfd[1], buf, sizeof buf);
		note("%d:w%zd", id, r);
		while (read(pfd[0], sink, sizeof sink) > 0)
			;
	}
	return NULL;
}

static void *repro_main(void *spec)
{
	struct cl_task *t[3];

	SET_CHAOS(spec);
	for (int i = 0; i < 3; i++)
		t[i] = cl_create_task(repro_worker, CL_INT(i), NULL);
	for (int i = 0; i < 3; i++) {
		CL_TRY {
			cl_await_task(t[i]);
		} CL_CATCH(e) {
			note("main:cancelled");
			cl_task_uncancel(cl_current_task());
			cl_exc_decref(e);
		} CL_END_TRY;
		cl_task_decref(t[i]);
	}
	repro_st = cl_chaos_stats();
	SET_CHAOS(NULL);
	return NULL;
}

static int same_stats(const struct cl_chaos_stats *a,
		      const struct cl_chaos_stats *b)
{
	return a->seed == b->seed && a->io.calls == b->io.calls &&
	       a->io.shorts == b->io.shorts && a->io.eintr == b->io.eintr &&
	       a->io.eagain == b->io.eagain && a->timers == b->timers &&
	       a->late == b->late && a->late_us == b->late_us &&
	       a->awaits == b->awaits && a->cancels == b->cancels;
}

/*
 * Three tasks sleeping and writing under all three kinds of fault, on
 * the virtual clock: what happened (when each woke, which sleeps were
 * cancelled, what each write returned) is the same, event for event, in
 * a second run set from cl_chaos_spec of the first, and different with
 * another seed. Each kind happened.
 */
static char first[16384];

START_TEST(test_chaos_same_seed_same_faults)
{
	const char *spec = "cancel=0.1,seed=99,late=0.3:20,rate=0.3";
	struct cl_chaos_stats st;
	char replay[256];

	CL_EXPECT(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0, "pipe2: %s",
		  strerror(errno));
	run_on(CL_CLOCK_VIRTUAL, repro_main, (void *)spec);
	strcpy(first, trail);
	st = repro_st;
	CL_EXPECT(st.io.shorts + st.io.eintr + st.io.eagain > 0 &&
			  st.late > 0 && st.cancels > 0,
		  "%s: expected io faults, late timers and cancels, got "
		  "%lu+%lu+%lu io faults in %lu calls, %lu of %lu timers "
		  "late, %lu of %lu awaits cancelled",
		  spec, st.io.shorts, st.io.eintr, st.io.eagain, st.io.calls,
		  st.late, st.timers, st.cancels, st.awaits);

	SET_CHAOS(spec);
	cl_chaos_spec(replay, sizeof replay);
	CL_EXPECT_STR(replay, "seed=99,rate=0.3,late=0.3:20,cancel=0.1");
	run_on(CL_CLOCK_VIRTUAL, repro_main, replay);
	CL_EXPECT(strcmp(trail, first) == 0,
		  "%s twice: different runs.\nfirst:  %.300s\nsecond: %.300s",
		  replay, first, trail);
	CL_EXPECT(same_stats(&repro_st, &st),
		  "%s twice: the stats differ (cancels %lu and %lu, late "
		  "%lu and %lu)",
		  replay, st.cancels, repro_st.cancels, st.late,
		  repro_st.late);

	run_on(CL_CLOCK_VIRTUAL, repro_main,
	       "seed=100,rate=0.3,late=0.3:20,cancel=0.1");
	CL_EXPECT(strcmp(trail, first) != 0,
		  "seeds 99 and 100 gave the same run: %.300s", trail);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

/* ---- the spec ----------------------------------------------------------- */

/* Ten sleeps: ten timers. */
static void *env_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		nap(0.001);
	return NULL;
}

/*
 * COROLAB_FAULTS is read at the first hook (here a timer); the spec's
 * keys come in any order; what is not a spec is refused with -EINVAL and
 * leaves everything off; chapter 04's "seed=N,rate=R" still works, and
 * cl_io_set_faults takes chapter 09's keys too. Off, nothing is
 * injected.
 */
START_TEST(test_chaos_spec_and_environment)
{
	static const char *const bad[] = {
		"late=0.2", "late=2:10", "late=0.2:0", "late=0.2:x",
		"late=0.2:5ms", "cancel=1.5", "cancel=-0.1", "seed=-1",
		"seed=", "rate=0.3,x=1", "bogus", "late=:5", "cancel=0.1 ",
		"rate=nan",
	};
	struct cl_chaos_stats st;
	char spec[256], out[512];
	FILE *f;

	out[0] = '\0';
	/* First: nothing has read the environment yet in this process. */
	setenv("COROLAB_FAULTS", "seed=5,late=1:1", 1);
	run_on(CL_CLOCK_VIRTUAL, env_main, NULL);
	st = cl_chaos_stats();
	CL_EXPECT(st.timers == 10 && st.late == 10 && st.seed == 5,
		  "COROLAB_FAULTS=seed=5,late=1:1 and 10 sleeps: expected 10 "
		  "of 10 timers late, seed 5; got %lu of %lu, seed %llu",
		  st.late, st.timers, (unsigned long long)st.seed);
	CL_EXPECT_STR(cl_chaos_spec(spec, sizeof spec), "seed=5,late=1:1");
	unsetenv("COROLAB_FAULTS");

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		SET_CHAOS("seed=1,late=1:1");
		CL_EXPECT(cl_chaos_set(bad[i]) == -EINVAL,
			  "cl_chaos_set(\"%s\") should be -EINVAL", bad[i]);
		CL_EXPECT_STR(cl_chaos_spec(spec, sizeof spec), "");
	}
	run_on(CL_CLOCK_VIRTUAL, env_main, NULL);
	CL_EXPECT_INT(cl_chaos_stats().late, 0);

	/* Chapter 04's spec, through either door. */
	CL_EXPECT_INT(cl_io_set_faults("seed=9,rate=0.5"), 0);
	CL_EXPECT_STR(cl_chaos_spec(spec, sizeof spec), "seed=9,rate=0.5");
	CL_EXPECT_INT(cl_io_set_faults("rate=0.5,late=1:3,seed=0x10"), 0);
	CL_EXPECT_STR(cl_chaos_spec(spec, sizeof spec),
		      "seed=16,rate=0.5,late=1:3");
	SET_CHAOS("cancel=0.5,late=1:2.5,seed=3,");
	CL_EXPECT_STR(cl_chaos_spec(spec, sizeof spec),
		      "seed=3,late=1:2.5,cancel=0.5");
	run_on(CL_CLOCK_VIRTUAL, env_main, NULL);
	st = cl_chaos_stats();
	CL_EXPECT(st.late == 10 && st.late_us >= 10 && st.late_us <= 25000,
		  "late=1:2.5 and 10 sleeps: expected 10 late by 10 us to 25 "
		  "ms in all; got %lu by %llu us",
		  st.late, (unsigned long long)st.late_us);

	/* The report names the spec and the counts. */
	f = fmemopen(out, sizeof out, "w");
	cl_chaos_report(f);
	fclose(f);
	snprintf(spec, sizeof spec,
		 "corolab: chaos COROLAB_FAULTS=seed=3,late=1:2.5,cancel=0.5: "
		 "io 0 of 0 calls, timers 10 of 10 late (+%.3f s), awaits "
		 "%lu of %lu cancelled\n",
		 (double)st.late_us / 1e6, st.cancels, st.awaits);
	CL_EXPECT_STR(out, spec);

	/* Off: nothing late, nothing reported. */
	SET_CHAOS("");
	run_on(CL_CLOCK_VIRTUAL, env_main, NULL);
	CL_EXPECT_INT(cl_chaos_stats().timers, 0);
	out[0] = '\0';
	f = fmemopen(out, sizeof out, "w");
	cl_chaos_report(f);
	fclose(f);
	CL_EXPECT_STR(out, "");
}
END_TEST

/* ---- the chat under chaos ----------------------------------------------- */

#define NMEMBERS 8
#define NROUNDS 25
#define MAX_QUEUE (64 * 1024)
#define CHAT_SPEC "seed=2718,rate=0.2,late=0.2:20,cancel=0.05"
#define CHAT_SPEC_CLOSE "seed=2718,rate=0.2,late=0.2:20"

/* A member's client: every line it heard, and how it ended. */
struct member {
	char name[8];
	struct cl_ws *ws;
	char *heard; /* lines, each ending in '\n' */
	size_t n, cap;
	int joined; /* heard "joined" */
	int closed; /* closed() ran, with code */
	int code;
	int sent; /* said name.0 .. name.(sent - 1) */
};

static struct member mem[NMEMBERS];

static struct {
	struct cl_chaos_stats chaos;
	struct cl_chat_stats chat;
	int throughout[NMEMBERS]; /* joined before the first message, open
				     at the end */
	int connect_failures;	  /* cl_ws_connect raised (then retried) */
	size_t aborted;		  /* by the shutdown */
	int shutdown_cancels;	  /* shutdowns cancelled (then retried) */
} res;

static void member_message(struct cl_ws *ws, int opcode, const char *data,
			   size_t n)
{
	struct member *m = cl_ws_arg(ws);

	(void)opcode;
	if (n > 7 && memcmp(data, "joined\t", 7) == 0)
		m->joined = 1;
	if (m->n + n + 2 > m->cap) {
		size_t cap = 2 * (m->n + n + 2);
		char *p = realloc(m->heard, cap);

		if (p == NULL)
			return;
		m->heard = p;
		m->cap = cap;
	}
	memcpy(m->heard + m->n, data, n);
	m->n += n;
	m->heard[m->n++] = '\n';
	m->heard[m->n] = '\0';
}

static void member_closed(struct cl_ws *ws, int code, const char *reason)
{
	struct member *m = cl_ws_arg(ws);

	(void)reason;
	m->closed = 1;
	m->code = code;
	m->ws = NULL;
}

static const struct cl_ws_ops member_ops = {
	.message = member_message,
	.closed = member_closed,
};

/* Connect m, again if a fault (a cancel among them) gets in the way. */
static void member_connect(struct member *m, int port)
{
	for (int tries = 0; tries < 20 && m->ws == NULL; tries++) {
		struct cl_ws *volatile ws = NULL;

		CL_TRY {
			ws = cl_ws_connect("127.0.0.1", port, "/ws",
					   &member_ops, m, NULL);
		} CL_CATCH(e) {
			if (cl_exc_matches(e, &cl_CancelledError))
				cl_task_uncancel(cl_current_task());
			cl_exc_decref(e);
			res.connect_failures++;
		} CL_END_TRY;
		m->ws = ws;
		if (ws == NULL)
			nap(0.005);
	}
}

static void member_say(struct member *m, const char *line)
{
	if (m->ws != NULL)
		cl_ws_send(m->ws, CL_WS_TEXT, line, strlen(line));
}

/* Has m heard "msg lobby FROM FROM.k"? */
static int heard_msg(const struct member *m, const char *from, int k)
{
	char line[64];

	snprintf(line, sizeof line, "msg\tlobby\t%.7s\t%.7s.%d\n", from, from,
		 k);
	return m->heard != NULL && strstr(m->heard, line) != NULL;
}

/* Every open member has heard the last message of every sender. */
static int all_heard(void)
{
	for (int i = 0; i < NMEMBERS; i++) {
		if (mem[i].ws == NULL)
			continue;
		for (int j = 0; j < NMEMBERS; j++)
			if (mem[j].sent > 0 &&
			    !heard_msg(&mem[i], mem[j].name, mem[j].sent - 1))
				return 0;
	}
	return 1;
}

/* The task that shuts the chat down, and the one that cuts it short:
 * its first step comes right after the step in which the shutdown began
 * to wait for the members' answers. */
static struct cl_task *shutter;

static void *cut_shutdown(void *arg)
{
	(void)arg;
	cl_task_cancel(shutter);
	return NULL;
}

/* cl_chat_shutdown: 1 when done, 0 when cancelled. */
static int shut_down(struct cl_chat *chat)
{
	volatile int done = 0;

	CL_TRY {
		res.aborted = cl_chat_shutdown(chat, 2.0);
		done = 1;
	} CL_CATCH(e) {
		if (!cl_exc_matches(e, &cl_CancelledError))
			cl_raise(e);
		cl_task_uncancel(cl_current_task());
		cl_exc_decref(e);
	} CL_END_TRY;
	return done;
}

static void *chaos_chat_main(void *arg)
{
	struct cl_loop *loop = cl_get_running_loop();
	struct cl_chat_config cc = { .max_queue = MAX_QUEUE,
				     .idle_timeout = 0.6 };
	struct cl_http_config hc = { .handler = cl_chat_http };
	struct cl_http_server *srv;
	struct cl_chat *chat;
	struct cl_task *cut;
	char line[64];
	double t0;

	(void)arg;
	SET_CHAOS(CHAT_SPEC);
	chat = cl_chat_new(loop, &cc);
	hc.arg = chat;
	srv = cl_http_serve(loop, "127.0.0.1", 0, &hc);
	CL_EXPECT(srv != NULL, "cl_http_serve: %s", strerror(errno));

	/* Everybody in the room. */
	for (int i = 0; i < NMEMBERS; i++) {
		struct member *m = &mem[i];

		snprintf(m->name, sizeof m->name, "m%d", i);
		member_connect(m, cl_http_server_port(srv));
		snprintf(line, sizeof line, "join\tlobby\t%.7s", m->name);
		member_say(m, line);
		for (int w = 0; w < 400 && m->ws != NULL && !m->joined; w++)
			nap(0.005);
	}
	for (int i = 0; i < NMEMBERS; i++)
		res.throughout[i] = mem[i].ws != NULL && mem[i].joined;

	/* Each says NROUNDS messages, a round every 2 ms or so. */
	for (int k = 0; k < NROUNDS; k++) {
		for (int i = 0; i < NMEMBERS; i++) {
			if (mem[i].ws == NULL)
				continue;
			snprintf(line, sizeof line, "msg\t%.7s.%d", mem[i].name,
				 k);
			member_say(&mem[i], line);
			mem[i].sent++;
		}
		nap(0.002);
	}
	t0 = cl_loop_time(loop);
	while (!all_heard() && cl_loop_time(loop) - t0 < 3)
		nap(0.005);

	/* Quiet for longer than idle_timeout: the sweep pings each
	 * member, whose answer must keep it in. */
	t0 = cl_loop_time(loop);
	while (cl_loop_time(loop) - t0 < 0.9)
		nap(0.01);

	res.chaos = cl_chaos_stats();
	cl_chat_stats(chat, &res.chat);
	for (int i = 0; i < NMEMBERS; i++)
		res.throughout[i] &= mem[i].ws != NULL;

	/* Shut down under the same faults but random cancels: one cancel,
	 * at a known point, stands for them (a second one while wait_for
	 * cleans up after the first is wait_for's matter, not the chat's).
	 * The shutdown cut short is taken up again, as a supervisor would. */
	cl_http_server_close(srv);
	SET_CHAOS(CHAT_SPEC_CLOSE);
	shutter = cl_current_task();
	cut = cl_create_task(cut_shutdown, NULL, "cut");
	while (!shut_down(chat))
		res.shutdown_cancels++;
	cl_task_decref(cut);
	cl_http_server_free(srv);
	cl_chat_free(chat);
	SET_CHAOS(NULL);
	return NULL;
}

/* The msg lines of m's log whose sender acked them (heard them back),
 * in the order m heard them, into out; how many. */
static int acked_msgs(const struct member *m, char out[][24], int max)
{
	const char *p = m->heard ? m->heard : "";
	int n = 0;

	while ((p = strstr(p, "msg\tlobby\t")) != NULL) {
		char from[8], text[24];
		int k, j;

		p += 10;
		if (sscanf(p, "m%d\t%23[^\n]", &j, text) != 2 || j < 0 ||
		    j >= NMEMBERS)
			continue;
		snprintf(from, sizeof from, "m%d", j);
		if (sscanf(text, "m%*d.%d", &k) != 1 ||
		    !heard_msg(&mem[j], from, k))
			continue; /* not acked: excused */
		if (n < max)
			snprintf(out[n], sizeof out[n], "%s", text);
		n++;
	}
	return n;
}

/*
 * Chapter 08's chat, 8 members in one room saying 25 messages each, under
 * CHAT_SPEC: a fifth of the reads and writes rude, a fifth of the timers
 * up to 20 ms late, one suspending await in twenty cancelled (here the
 * test's own sleeps and its clients' connects: the chat itself has no
 * task). Its promises: every member connects and stays (nobody dropped
 * as slow or idle: the sweep's pings are answered, late as they are);
 * every message a sender heard back reaches each member, once, and all
 * of them in one order, each sender's in the order said; no member's
 * queue passes max_queue; the chat took in every message said. A
 * shutdown cancelled at its wait can be taken up again, and then closes
 * everyone without aborting (and, under the sanitizers, leaks nothing).
 * And the faults happened.
 */
#define MAXMSG (NMEMBERS * NROUNDS)
static char ref[MAXMSG][24], cur[MAXMSG][24];

START_TEST(test_chaos_chat_keeps_its_promises)
{
	struct cl_chaos_stats *cs = &res.chaos;
	int nref = -1, total = 0, acked = 0;
	void *out = NULL;
	int st;

	st = cl_run_with(chaos_chat_main, NULL,
			 &(struct cl_run_opts){ .clock = CL_CLOCK_REAL },
			 &out);
	CL_EXPECT(st == 0, "%s: the chat's run ended with %d (%s: %s)",
		  CHAT_SPEC, st, st == CL_RUN_RAISED ? cl_exc_name(out) : "",
		  st == CL_RUN_RAISED ? cl_exc_message(out) : "");
	CL_EXPECT(cs->io.shorts + cs->io.eintr + cs->io.eagain > 0 &&
			  cs->late > 0 && cs->cancels > 0,
		  "%s: expected io faults, late timers and cancels; got "
		  "%lu+%lu+%lu io faults in %lu calls, %lu of %lu timers "
		  "late, %lu of %lu awaits cancelled",
		  CHAT_SPEC, cs->io.shorts, cs->io.eintr, cs->io.eagain,
		  cs->io.calls, cs->late, cs->timers, cs->cancels,
		  cs->awaits);
	for (int i = 0; i < NMEMBERS; i++) {
		CL_EXPECT(res.throughout[i],
			  "%s: member %s did not stay: %s, %s (code %d), "
			  "after %d failed connects in all; it heard:\n%.400s",
			  CHAT_SPEC, mem[i].name,
			  mem[i].joined ? "joined" : "never joined",
			  mem[i].closed ? "closed" : "open", mem[i].code,
			  res.connect_failures,
			  mem[i].heard ? mem[i].heard : "");
		total += mem[i].sent;
	}
	for (int j = 0; j < NMEMBERS; j++)
		for (int k = 0; k < mem[j].sent; k++)
			acked += heard_msg(&mem[j], mem[j].name, k);
	CL_EXPECT(acked == total,
		  "%s: %d of %d messages came back to their senders", CHAT_SPEC,
		  acked, total);
	for (int i = 0; i < NMEMBERS; i++) {
		int n = acked_msgs(&mem[i], nref < 0 ? ref : cur, MAXMSG);

		CL_EXPECT(n == acked,
			  "%s: %s heard %d acked messages, expected each of "
			  "the %d once",
			  CHAT_SPEC, mem[i].name, n, acked);
		if (nref < 0) {
			nref = n;
			continue;
		}
		for (int k = 0; k < n; k++)
			CL_EXPECT(strcmp(cur[k], ref[k]) == 0,
				  "%s: %s heard %s as message %d, %s heard %s: "
				  "two orders",
				  CHAT_SPEC, mem[i].name, cur[k], k,
				  mem[0].name, ref[k]);
	}
	for (int j = 0; j < NMEMBERS; j++) { /* each sender's in order */
		int next = 0;

		for (int k = 0; k < nref; k++) {
			int from, seq;

			if (sscanf(ref[k], "m%d.%d", &from, &seq) == 2 &&
			    from == j) {
				CL_EXPECT(seq == next,
					  "%s: m%d.%d heard where m%d.%d was "
					  "due",
					  CHAT_SPEC, j, seq, j, next);
				next++;
			}
		}
	}
	CL_EXPECT(res.chat.max_queued <= MAX_QUEUE && res.chat.slow == 0 &&
			  res.chat.idle == 0,
		  "%s: a queue reached %zu bytes (max_queue %d), %lu dropped "
		  "as slow, %lu as idle",
		  CHAT_SPEC, res.chat.max_queued, MAX_QUEUE, res.chat.slow,
		  res.chat.idle);
	CL_EXPECT(res.chat.messages == (unsigned long)total,
		  "%s: the chat took in %lu messages, %d were said", CHAT_SPEC,
		  res.chat.messages, total);
	CL_EXPECT(res.shutdown_cancels == 1,
		  "the shutdown should have been cancelled once, at its wait, "
		  "and then done; it was cancelled %d times",
		  res.shutdown_cancels);
	CL_EXPECT(res.aborted == 0,
		  "%s: the shutdown aborted %zu members who did not answer "
		  "its close",
		  CHAT_SPEC_CLOSE, res.aborted);
	for (int i = 0; i < NMEMBERS; i++) {
		CL_EXPECT(mem[i].closed && mem[i].code == CL_WS_GOING_AWAY,
			  "%s: %s should have been closed by the shutdown "
			  "(1001), got %s %d",
			  CHAT_SPEC_CLOSE, mem[i].name,
			  mem[i].closed ? "closed" : "open", mem[i].code);
		free(mem[i].heard);
	}
}
END_TEST

static void add_chaos_tests(void)
{
	cl_test(test_chaos_late_timers_fire_late_but_fire, 3, SEC_CHAOS);
	cl_test(test_chaos_cancel_raises_at_the_await, 3, SEC_CHAOS);
	cl_test(test_chaos_same_seed_same_faults, 3, SEC_CHAOS);
	cl_test(test_chaos_spec_and_environment, 2, SEC_CHAOS);
	cl_test_timeout(test_chaos_chat_keeps_its_promises, 5, SEC_CHAOS, 15);
}

CL_CHAPTER(9, "09-debugging", "debugging", add_chaos_tests)
