"""sched.py - asyncio's costs: a task step, a spawn, a parked task.

    python3 tests/bench/sched.py [-r reps] [-t ms] [-n units] [-m tasks]

The peer of sched.c: the same programs with CPython's asyncio, timed the
same way, printed with the method "cpython". Each timed method is one
asyncio.run, timed from inside the main coroutine with
time.perf_counter_ns; the repetitions of the methods are interleaved and
the best one counts. Units per repetition are calibrated to about -t ms
(default 200), unless -n fixes them.

    sched_step2     2 tasks, each looping `await asyncio.sleep(0)`; ns
                    per sleep(0), that is per task step
    sched_step1000  the same with 1000 tasks
    spawn           `await create_task(nop())`, one after the other; ns
                    per task
    spawn_gather    `await gather(*(create_task(nop()) x 1000))`, again;
                    ns per task
    parked          bytes of resident memory (VmRSS) per task awaiting a
                    future that nobody completes yet (-m tasks, default
                    25000, the same count as sched.c)

asyncio.sleep(0) is a bare yield (tasks.py, __sleep0): Task.__step sees
None come out of the coroutine and call_soon's its next step, as
cl_sleep(0) does. One difference the figures include: every iteration of
asyncio's loop (base_events._run_once) asks the selector for I/O, an
epoll_wait system call even with nothing to wait for; chapter 03's loop
has no poller yet.

Output: "<kind> cpython <ns>" and "parked cpython <bytes>"; lines starting
with '#' are comments. Python: Lib/asyncio/tasks.py (Task.__step, sleep,
gather), base_events.py (_run_once), Modules/_asynciomodule.c (the C Task
and Future CPython uses).
"""

import argparse
import asyncio
import sys
import time

MAX_TASKS = 1000
PARKED_DEFAULT = 25000


class Job:
    """One repetition: what the main coroutine is asked, and what it found."""

    def __init__(self, n, ntasks):
        self.n = n
        self.ntasks = ntasks
        self.units = 0
        self.ns = 0
        self.k = 0
        self.t_end = 0


async def stepper(b):
    # k + 1 sleeps: the first one is the warm-up, as in sched.c; the first
    # task to get past its last sleep stops the clock.
    sleep = asyncio.sleep
    for _ in range(b.k + 1):
        await sleep(0)
    if b.t_end == 0:
        b.t_end = time.perf_counter_ns()


async def steps_main(b):
    create = asyncio.get_running_loop().create_task
    b.k = max(1, b.n // b.ntasks)
    tasks = [create(stepper(b)) for _ in range(b.ntasks)]
    await asyncio.sleep(0)  # every task has taken its first step
    t0 = time.perf_counter_ns()
    for t in tasks:
        await t
    b.ns = b.t_end - t0
    b.units = b.k * b.ntasks


async def nop():
    return None


async def spawn_main(b):
    create = asyncio.get_running_loop().create_task  # looked up once
    t0 = time.perf_counter_ns()
    for _ in range(b.n):
        await create(nop())
    b.ns = time.perf_counter_ns() - t0
    b.units = b.n


async def gather_main(b):
    create = asyncio.get_running_loop().create_task
    gather = asyncio.gather
    batch = b.ntasks
    rounds = max(1, b.n // batch)
    t0 = time.perf_counter_ns()
    for _ in range(rounds):
        await gather(*[create(nop()) for _ in range(batch)])
    b.ns = time.perf_counter_ns() - t0
    b.units = rounds * batch


# (kind, main coroutine, tasks or batch size), in sched.c's order.
METHODS = [
    ("sched_step2", steps_main, 2),
    ("sched_step1000", steps_main, MAX_TASKS),
    ("spawn", spawn_main, 1),
    ("spawn_gather", gather_main, MAX_TASKS),
]


def time_run(coro, ntasks, n):
    """One repetition: asyncio.run of coro; returns (ns, units)."""
    b = Job(n, ntasks)
    asyncio.run(coro(b))
    return b.ns, b.units


def calibrate(coro, ntasks, target_ns):
    """As sched.c does: grow tenfold until a run takes 10 ms, then scale."""
    n = 1000
    while True:
        t, units = time_run(coro, ntasks, n)
        if t >= 10e6 or n >= 10**9:
            break
        n *= 10
    return max(1000, int(units * target_ns / max(t, 1)))


def read_vm():
    vm = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmPTE", "VmSize"):
                vm[key] = int(rest.split()[0])
    return vm


async def parked_body(fut):
    return await fut


async def parked_main(n, out):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    tasks = [None] * n  # the list is bookkeeping, made before measuring
    out["before"] = read_vm()
    for i in range(n):
        tasks[i] = loop.create_task(parked_body(fut))
    await asyncio.sleep(0)  # one iteration: every task parks on fut
    out["after"] = read_vm()
    if any(t.done() for t in tasks):
        sys.exit("sched.py: a parked task is done")
    fut.set_result(None)  # let them all finish
    for t in tasks:
        await t


def parked_run(n):
    """Park n tasks and measure; returns the lines to print."""
    out = {}
    asyncio.run(parked_main(n, out))
    b, a = out["before"], out["after"]
    rss = a["VmRSS"] - b["VmRSS"]
    return [f"# parked: {n} tasks awaiting one future; VmRSS +{rss} KiB, "
            f"page tables (VmPTE) +{a['VmPTE'] - b['VmPTE']} KiB, "
            f"VmSize +{(a['VmSize'] - b['VmSize']) // 1024} MiB",
            f"parked cpython {rss * 1024 / n:.0f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", type=int, default=5, help="repetitions (best counts)")
    ap.add_argument("-t", type=float, default=200, help="ms per repetition")
    ap.add_argument("-n", type=int, default=0,
                    help="fixed units per repetition")
    ap.add_argument("-m", type=int, default=PARKED_DEFAULT, help="parked tasks")
    args = ap.parse_args()
    reps = max(1, args.r)

    # First, in a fresh process, as in sched.c.
    parked = parked_run(args.m) if args.m > 0 else []

    ns = [args.n or calibrate(coro, nt, args.t * 1e6)
          for _, coro, nt in METHODS]
    best = [float("inf")] * len(METHODS)
    for _ in range(reps):  # interleaved: one repetition of each per pass
        for i, (_, coro, nt) in enumerate(METHODS):
            t, units = time_run(coro, nt, ns[i])
            best[i] = min(best[i], t / units)

    v = sys.version_info
    print(f"# sched.py: CPython {v.major}.{v.minor}.{v.micro} asyncio, best of "
          f"{reps} interleaved repetitions; units per repetition: "
          + " ".join(f"{k}/cpython {n}" for (k, _, _), n in zip(METHODS, ns)))
    for (kind, _, _), b in zip(METHODS, best):
        print(f"{kind} cpython {b:.2f}")
    for line in parked:
        print(line)


if __name__ == "__main__":
    main()
