"""gen_send.py - what one generator send round trip costs in CPython.

    python3 tests/bench/gen_send.py [-r reps] [-n sends]

The peer of gen_send.c: the same echo generator, driven by send() in a
loop. One round trip is one send: the value goes in, the generator runs to
its next yield, the yielded value comes back. The loop is timed with
time.perf_counter_ns over n sends (default 2,000,000); the best of -r
repetitions (default 5) counts.

The figure includes the for loop's own cost (one iteration of a
`for i in range(n)` loop), as the C figure includes its loop; that cost is
timed alone and printed on a line of its own so it can be subtracted.

Output: "gensend cpython <ns per send>" and "loop cpython <ns per empty
loop iteration>"; lines starting with '#' are comments. Python: Objects/genobject.c, gen_send -> gen_send_ex2.
"""

import argparse
import sys
import time


def echo():
    v = None
    while True:
        v = yield v


def time_sends(n):
    g = echo()
    next(g)
    send = g.send  # look the method up once, not once per send
    r = range(n)
    t0 = time.perf_counter_ns()
    for i in r:
        send(i)
    t1 = time.perf_counter_ns()
    if send(n) != n:
        sys.exit("gen_send.py: echo lost a value")
    return (t1 - t0) / n


def time_loop(n):
    r = range(n)
    t0 = time.perf_counter_ns()
    for i in r:
        pass
    t1 = time.perf_counter_ns()
    return (t1 - t0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", type=int, default=5, help="repetitions (best counts)")
    ap.add_argument("-n", type=int, default=2_000_000, help="sends per repetition")
    args = ap.parse_args()

    time_sends(args.n // 10)  # warm-up
    best_send = best_loop = float("inf")
    for _ in range(max(1, args.r)):
        best_send = min(best_send, time_sends(args.n))
        best_loop = min(best_loop, time_loop(args.n))

    v = sys.version_info
    print(f"# gen_send.py: CPython {v.major}.{v.minor}.{v.micro}, best of "
          f"{max(1, args.r)} repetitions of {args.n} sends")
    print(f"loop cpython {best_loop:.2f}")
    print(f"gensend cpython {best_send:.2f}")


if __name__ == "__main__":
    main()
