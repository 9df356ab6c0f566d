/*
 * chaos.c - the fault injector: its spec, its generator, the late timer
 * and the cancelled await (see chaos.h).
 *
 * The state is a few numbers: what the spec asked for, the state of a
 * splitmix64 generator, and the counts of what was done. io.c keeps its
 * own rate and counts (chapter 04) but draws from the generator here, so
 * that one seed orders every fault of a run. Each hook's flag is set by
 * cl_chaos_set alone, and read with a relaxed load: one plain load, and
 * a loop on another thread that only reads it is no data race.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "io.h"
#include "task.h"

/* -1 until the environment has been read, then 0 (off) or 1 (on). */
int cl__chaos_late = -1, cl__chaos_cancel = -1;

#define CL__CHAOS_MAX_MS 3600000.0 /* a timer an hour late at most */

/* What a spec asks for. All zero: nothing. */
struct cl__chaos_spec {
	uint64_t seed;
	double rate;	 /* io.h's probability */
	double late_p;	 /* a timer is late with this probability */
	double late_ms;	 /* by at most this many milliseconds */
	double cancel_p; /* a suspending await cancels its task */
};

static struct {
	struct cl__chaos_spec spec; /* in force */
	uint64_t late_max;	    /* spec.late_ms in microseconds, >= 1 */
	uint64_t prng;		    /* splitmix64 state, from the seed */
	struct cl_chaos_stats st;   /* io's counts are io.c's */
} cs;

static int cl__chaos_flag(int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* splitmix64 (Steele, Lea, Flood 2014): small, fast, good enough. */
uint64_t cl__chaos_next(void)
{
	uint64_t z = (cs.prng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* TODO(ch09): cl__chaos_draw(p): take the generator's next number
 * (cl__chaos_next) and return 1 with probability p, else 0: p 0
 * never, p 1 always. cl__chaos_delay(max): the next number made a
 * delay of 1 to max microseconds, each as likely. One number each,
 * so that a seed replays a run. As Python's random.Random(seed):
 * random() < p, randint(1, max); read section 7.
 * Hints: make hint CH=9 TODO=chaos_draw (3 levels). */
static int cl__chaos_draw(double p)
{
	(void)p;
	return 0; /* never inject */
}

static uint64_t cl__chaos_delay(uint64_t max_us)
{
	(void)max_us;
	return 0;
}

/* A probability, 0 to 1, from s up to *end. */
static int cl__chaos_prob(const char *s, char **end, double *p)
{
	errno = 0;
	*p = strtod(s, end);
	if (errno != 0 || *end == s || !(*p >= 0 && *p <= 1))
		return -EINVAL;
	return 0;
}

/* One "key=value" of a spec into s. */
static int cl__chaos_key(char *tok, struct cl__chaos_spec *s)
{
	char *v = strchr(tok, '='), *end;

	if (v == NULL)
		return -EINVAL;
	*v++ = '\0';
	if (strcmp(tok, "seed") == 0) {
		if (*v < '0' || *v > '9')
			return -EINVAL;
		errno = 0;
		s->seed = strtoull(v, &end, 0);
		if (errno != 0)
			return -EINVAL;
	} else if (strcmp(tok, "rate") == 0) {
		if (cl__chaos_prob(v, &end, &s->rate) < 0)
			return -EINVAL;
	} else if (strcmp(tok, "cancel") == 0) {
		if (cl__chaos_prob(v, &end, &s->cancel_p) < 0)
			return -EINVAL;
	} else if (strcmp(tok, "late") == 0) {
		if (cl__chaos_prob(v, &end, &s->late_p) < 0 || *end != ':')
			return -EINVAL;
		v = end + 1;
		errno = 0;
		s->late_ms = strtod(v, &end);
		if (errno != 0 || end == v ||
		    !(s->late_ms >= 0.001 && s->late_ms <= CL__CHAOS_MAX_MS))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return *end == '\0' ? 0 : -EINVAL;
}

/* "seed=N,rate=R,late=P:MS,cancel=P": any of them, in any order. */
static int cl__chaos_parse(const char *spec, struct cl__chaos_spec *s)
{
	char buf[256], *tok, *save;

	memset(s, 0, sizeof *s);
	if (strlen(spec) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		if (cl__chaos_key(tok, s) < 0)
			return -EINVAL;
	return 0;
}

int cl_chaos_set(const char *spec)
{
	struct cl__chaos_spec s = { 0 };
	int err = 0;

	if (spec != NULL && *spec != '\0')
		err = cl__chaos_parse(spec, &s);
	if (err < 0)
		memset(&s, 0, sizeof s);
	memset(&cs, 0, sizeof cs);
	cs.spec = s;
	cs.prng = s.seed;
	cs.st.seed = s.seed;
	cs.late_max = (uint64_t)(s.late_ms * 1000 + 0.5);
	if (cs.late_max == 0)
		cs.late_max = 1;
	cl__io_arm(s.rate);
	__atomic_store_n(&cl__chaos_late, s.late_p > 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cl__chaos_cancel, s.cancel_p > 0, __ATOMIC_RELAXED);
	return err;
}

/* The first hook to run reads COROLAB_FAULTS, once. */
static void cl__chaos_from_env(void)
{
	const char *env = getenv("COROLAB_FAULTS");

	if (cl_chaos_set(env) < 0)
		fprintf(stderr,
			"corolab: COROLAB_FAULTS=\"%s\" is not "
			"seed=N,rate=R,late=P:MS,cancel=P (R and P from 0 "
			"to 1, MS > 0): ignored\n",
			env);
}

static void cl__chaos_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, cl__chaos_from_env);
}

struct cl_chaos_stats cl_chaos_stats(void)
{
	struct cl_chaos_stats st = cs.st;

	st.io = cl_io_fault_stats();
	return st;
}

/* x as %g would print it, but with every digit strtod needs to read x
 * back. */
static void cl__chaos_num(char *buf, size_t len, double x)
{
	snprintf(buf, len, "%.15g", x);
	if (strtod(buf, NULL) != x)
		snprintf(buf, len, "%.17g", x);
}

/* Append to buf (size len, *n used so far), as far as it goes. */
static void cl__chaos_put(char *buf, size_t len, size_t *n, const char *fmt,
			  ...) __attribute__((format(printf, 4, 5)));

static void cl__chaos_put(char *buf, size_t len, size_t *n, const char *fmt,
			  ...)
{
	va_list ap;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	*n += (size_t)vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
}

const char *cl_chaos_spec(char *buf, size_t len)
{
	const struct cl__chaos_spec *s = &cs.spec;
	char a[32], b[32];
	size_t n = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (s->rate == 0 && s->late_p == 0 && s->cancel_p == 0)
		return buf;
	cl__chaos_put(buf, len, &n, "seed=%llu", (unsigned long long)s->seed);
	if (s->rate > 0) {
		cl__chaos_num(a, sizeof a, s->rate);
		cl__chaos_put(buf, len, &n, ",rate=%s", a);
	}
	if (s->late_p > 0) {
		cl__chaos_num(a, sizeof a, s->late_p);
		cl__chaos_num(b, sizeof b, s->late_ms);
		cl__chaos_put(buf, len, &n, ",late=%s:%s", a, b);
	}
	if (s->cancel_p > 0) {
		cl__chaos_num(a, sizeof a, s->cancel_p);
		cl__chaos_put(buf, len, &n, ",cancel=%s", a);
	}
	return buf;
}

void cl_chaos_report(FILE *out)
{
	struct cl_chaos_stats st = cl_chaos_stats();
	char spec[256];

	if (*cl_chaos_spec(spec, sizeof spec) == '\0')
		return;
	fprintf(out,
		"corolab: chaos COROLAB_FAULTS=%s: io %lu of %lu calls, "
		"timers %lu of %lu late (+%.3f s), awaits %lu of %lu "
		"cancelled\n",
		spec, st.io.shorts + st.io.eintr + st.io.eagain, st.io.calls,
		st.late, st.timers, (double)st.late_us / 1e6, st.cancels,
		st.awaits);
}

/*
 * loop.c, as a timer is scheduled: its deadline, pushed back by 1 us to
 * late_ms with probability late_p. Two numbers from the generator for a
 * late timer, one for the others.
 */
uint64_t cl__chaos_timer(uint64_t when)
{
	uint64_t d;

	if (cl__chaos_flag(&cl__chaos_late) < 0)
		cl__chaos_init();
	if (cl__chaos_flag(&cl__chaos_late) == 0)
		return when;
	cs.st.timers++;
	if (!cl__chaos_draw(cs.spec.late_p))
		return when;
	d = cl__chaos_delay(cs.late_max);
	cs.st.late++;
	cs.st.late_us += d;
	return when + d;
}

/*
 * future.c, as t's await is about to suspend it: with probability
 * cancel_p, t.cancel("chaos"). t is running, so the request waits in
 * must_cancel, and the task's step cancels the future t yields, which
 * wakes t with CancelledError at this await (Task.__step's
 * "if self._must_cancel: self._fut_waiter.cancel()").
 */
void cl__chaos_await(struct cl_task *t)
{
	if (cl__chaos_flag(&cl__chaos_cancel) < 0)
		cl__chaos_init();
	if (cl__chaos_flag(&cl__chaos_cancel) == 0)
		return;
	cs.st.awaits++;
	if (!cl__chaos_draw(cs.spec.cancel_p))
		return;
	cs.st.cancels++;
	cl_task_cancel_msg(t, "chaos");
}
