"""ctxvar.py - what CPython's context variables cost.

    python3 tests/bench/ctxvar.py [-r reps] [-t ms] [-m copies]

The peer of ctxvar.c, the same programs on contextvars, each with 1, 10,
100 and 10,000 variables set in the current context (N in the kind):

    ctxvar_getN    var.get() of a variable that has a value;
    ctxvar_setN    var.set(value), the Token it returns dropped at once;
    copy_contextN  contextvars.copy_context(), the copy dropped at once;
    context_runN   ctx.run(fn), fn a function that returns at once, on one
                   copy of the current context made beforehand and reused;
    context_memN   not a time: bytes per context after -m copies (1,000)
                   of the current context, each of which then sets one
                   variable (copy i sets variable i % N to a new value,
                   inside ctx.run); counted by tracemalloc (the bytes
                   asked of the allocator, without its own overhead).

The timed loops do eight operations per turn, on variables 0 to 7 (all
the same one when N is 1), with bound methods looked up beforehand; a
set stores three values in turn, so that every set changes its
variable's value. Each N runs in a new empty context (Context().run).

CPython's get has a fast path that ctxvar.c's has not: each ContextVar
caches the value it last read or set, valid until the thread enters or
leaves a context (ts->context_ver), so a get in this loop never walks
the map, whatever N is.

Output: "<kind> cpython <ns>" lines, the best of -r repetitions, and
comment lines ('#').
Python: Python/context.c (contextvar_get, contextvar_set, context_run,
PyContext_CopyCurrent), Python/hamt.c.
"""

import argparse
import contextvars
import gc
import sys
import time
import tracemalloc

SIZES = (1, 10, 100, 10000)
VALUES = (object(), object(), object())
VARS = [contextvars.ContextVar(f"v{i}") for i in range(max(SIZES))]


def run_get(n, hot):
    g0, g1, g2, g3, g4, g5, g6, g7 = (v.get for v in hot)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        g0(); g1(); g2(); g3(); g4(); g5(); g6(); g7()
    return time.perf_counter_ns() - t0


def run_set(n, hot):
    s0, s1, s2, s3, s4, s5, s6, s7 = (v.set for v in hot)
    a, b, c = VALUES
    t0 = time.perf_counter_ns()
    for _ in range(n):
        s0(a); s1(b); s2(c); s3(a); s4(b); s5(c); s6(a); s7(b)
        a, b, c = c, a, b
    return time.perf_counter_ns() - t0


def run_copy(n, hot):
    cc = contextvars.copy_context
    t0 = time.perf_counter_ns()
    for _ in range(n):
        cc(); cc(); cc(); cc(); cc(); cc(); cc(); cc()
    return time.perf_counter_ns() - t0


def fn():
    pass


def run_run(n, hot):
    r = contextvars.copy_context().run
    t0 = time.perf_counter_ns()
    for _ in range(n):
        r(fn); r(fn); r(fn); r(fn); r(fn); r(fn); r(fn); r(fn)
    return time.perf_counter_ns() - t0


METHODS = (
    ("ctxvar_get", run_get),
    ("ctxvar_set", run_set),
    ("copy_context", run_copy),
    ("context_run", run_run),
)


def memory(copies, nvars):
    val = object()  # no variable has it yet
    ctxs = [None] * copies
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(copies):
        c = contextvars.copy_context()
        c.run(VARS[i % nvars].set, val)
        ctxs[i] = c
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del ctxs
    return (after - before) / copies


def calibrate(run, hot, target_ns):
    """Turns of eight operations that take about target_ns, as
    bench.h's bench_calibrate finds them."""
    n = 1000
    while True:
        t = run(n, hot)
        if t >= 10e6 or n >= 10**9:
            break
        n *= 10
    return max(1000, int(n * target_ns / max(t, 1)))


def bench_n(nvars, a):
    for i in range(nvars):
        VARS[i].set(VALUES[i % 3])
    hot = [VARS[k % nvars] for k in range(8)]
    mem = memory(a.m, nvars) if a.m > 0 else None
    ns = [calibrate(run, hot, a.t * 1e6) for _, run in METHODS]
    best = [float("inf")] * len(METHODS)
    for _ in range(a.r):
        for j, (_, run) in enumerate(METHODS):
            best[j] = min(best[j], run(ns[j], hot) / (ns[j] * 8))
    for (kind, _), b in zip(METHODS, best):
        print(f"{kind}{nvars} cpython {b:.2f}")
    if mem is not None:
        print(f"context_mem{nvars} cpython {mem:.1f}")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=float, default=200)
    ap.add_argument("-m", type=int, default=1000)
    a = ap.parse_args()
    a.r = max(1, a.r)
    v = sys.version_info
    print(f"# ctxvar.py: CPython {v.major}.{v.minor}.{v.micro}, best of "
          f"{a.r} interleaved repetitions of {a.t:.0f} ms; 8 operations "
          "per loop turn on variables 0..7")
    for nvars in SIZES:
        contextvars.Context().run(bench_n, nvars, a)


if __name__ == "__main__":
    main()
