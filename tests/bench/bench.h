/*
 * bench.h - what the C benchmarks share: a clock, and the calibration
 * that picks how many iterations one repetition runs.
 */
#ifndef CL_BENCH_H
#define CL_BENCH_H

#include <time.h>

/* The monotonic clock, in nanoseconds. */
static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* How long run(n) takes, in nanoseconds. */
static inline double bench_time(void (*run)(long n), long n)
{
	double t0 = now_ns();

	run(n);
	return now_ns() - t0;
}

/*
 * Find how many iterations of run take about target_ns: grow tenfold
 * until a run takes 10 ms, then scale. The short runs double as a
 * warm-up (stacks faulted in, caches and branch predictors trained).
 */
static inline long bench_calibrate(void (*run)(long n), double target_ns)
{
	long n = 1000;
	double t;

	for (;;) {
		t = bench_time(run, n);
		if (t >= 10e6 || n >= 1000000000L)
			break;
		n *= 10;
	}
	if (t < 1)
		t = 1;
	n = (long)(n * (target_ns / t));
	return n < 1000 ? 1000 : n;
}

#endif
