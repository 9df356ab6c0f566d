"""exc.py - what a raise, a cancellation and a TaskGroup cost in CPython.

    python3 tests/bench/exc.py [-r reps] [-t ms] [-c tasks] [-g children]

The peer of exc.c, the same three programs on asyncio:

    raise_catch  "try: await thrower() except ValueError: pass" in a task,
                 thrower a coroutine that raises ValueError();
    cancel_reap  per task, cancelling c tasks (10,000) that sleep and
                 awaiting each until it has finished cancelling;
    taskgroup    per child, a TaskGroup of g children (1,000) that each
                 sleep(0) once: create, run, exit.

Output: "<kind> cpython <ns>" lines, the best of -r repetitions.
Python: Lib/asyncio/tasks.py, taskgroups.py; Python/ceval.c for raise.
"""

import argparse
import asyncio
import time


async def thrower():
    raise ValueError()


async def raise_catch(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        try:
            await thrower()
        except ValueError:
            pass
    return time.perf_counter_ns() - t0


async def cancel_reap(c):
    tasks = [asyncio.create_task(asyncio.sleep(1000)) for _ in range(c)]
    await asyncio.sleep(0)
    t0 = time.perf_counter_ns()
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            pass
    return time.perf_counter_ns() - t0


async def child():
    await asyncio.sleep(0)


async def taskgroup(g):
    t0 = time.perf_counter_ns()
    async with asyncio.TaskGroup() as tg:
        for _ in range(g):
            tg.create_task(child())
    return time.perf_counter_ns() - t0


def calibrate(target_ns):
    n = 1000
    while True:
        t = asyncio.run(raise_catch(n))
        if t >= 10e6 or n >= 10**9:
            break
        n *= 10
    return max(1000, int(n * target_ns / max(t, 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=float, default=200)
    ap.add_argument("-c", type=int, default=10000)
    ap.add_argument("-g", type=int, default=1000)
    a = ap.parse_args()
    n = calibrate(a.t * 1e6)
    best = min(asyncio.run(raise_catch(n)) for _ in range(a.r)) / n
    print(f"raise_catch cpython {best:.2f}")
    best = min(asyncio.run(cancel_reap(a.c)) for _ in range(a.r)) / a.c
    print(f"cancel_reap cpython {best:.2f}")
    best = min(asyncio.run(taskgroup(a.g)) for _ in range(a.r)) / a.g
    print(f"taskgroup cpython {best:.2f}")


if __name__ == "__main__":
    main()
