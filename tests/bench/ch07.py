"""ch07.py - what a queue hand-off, a lock, to_thread and an async
generator cost in CPython's asyncio.

    python3 tests/bench/ch07.py [-r reps] [-t ms] [-n units]

The peer of ch07.c: the same programs with CPython's asyncio, timed the
same way, printed with the method "cpython". Each timed method is one
asyncio.run, timed from inside the main coroutine with
time.perf_counter_ns; the repetitions of the methods are interleaved and
the best one counts. Units per repetition are calibrated to about -t ms
(default 200), unless -n fixes them; agen_for is not calibrated
(1,000,000 items).

    queue_pair            a producer task puts n items (the ints of
                          range(n)) into Queue(maxsize=1), a consumer
                          task gets them; ns per item. Each item is two
                          waits, two wake-ups, two task steps. Timed from
                          before the two tasks are created to after both
                          are awaited.
    queue_pair_unbounded  the same with Queue() (unbounded), the producer
                          awaiting sleep(0) after every 64 puts, so that
                          the consumer waits once per 64 items and the
                          queue never holds more than 64
    lock_uncontended      one task: `await acquire(); release()` of one
                          Lock, n times (bound methods looked up once);
                          ns per acquire+release
    lock_100waiters       100 tasks, each looping: `await acquire()`, one
                          more acquire counted, `await sleep(0)` holding
                          the lock, `release()`; ns per hand-off (acquires
                          counted between the clock's start, once every
                          task has taken its first step, and its stop,
                          when the first task ends its loop)
    to_thread             `await asyncio.to_thread(fn)`, fn a function
                          that returns at once, n times one after the
                          other; ns per call. One call first, untimed,
                          starts the default executor's first thread.
    agen_for              `async for` over an async generator yielding
                          range(1000000); ns per item, its creation and
                          its end included

ch07.c's thread_create_join and threadfloor, and its extra rows
to_thread corolab_held and threadfloor condvar_eventfd, have no peer
here.

Output: "<kind> cpython <ns>"; lines starting with '#' are comments.
Python: Lib/asyncio/queues.py, locks.py (Lock), threads.py (to_thread),
base_events.py (run_in_executor), futures.py (wrap_future),
Lib/concurrent/futures/thread.py, Objects/genobject.c (async_gen_asend).
"""

import argparse
import asyncio
import sys
import threading
import time

WAITERS = 100
BURST = 64
AGEN_ITEMS = 1000000


class Job:
    """One repetition: what the main coroutine is asked, and what it found."""

    def __init__(self, n, maxsize=0):
        self.n = n
        self.maxsize = maxsize
        self.units = 0
        self.ns = 0
        self.k = 0
        self.acquires = 0
        self.acq_end = 0
        self.t_end = 0
        self.nthreads = 0


async def producer(b, q):
    put = q.put
    if b.maxsize > 0:
        for i in range(b.units):
            await put(i)
        return
    sleep = asyncio.sleep
    for r in range(0, b.units, BURST):
        for i in range(r, r + BURST):
            await put(i)
        await sleep(0)


async def consumer(b, q):
    get = q.get
    for _ in range(b.units):
        await get()


async def queue_main(b):
    create = asyncio.get_running_loop().create_task
    b.units = b.n if b.maxsize > 0 else -(-b.n // BURST) * BURST
    q = asyncio.Queue(b.maxsize)
    t0 = time.perf_counter_ns()
    c = create(consumer(b, q))
    p = create(producer(b, q))
    await p
    await c
    b.ns = time.perf_counter_ns() - t0
    if q.qsize() != 0:
        sys.exit("ch07.py: items left in the queue")


async def lock_main(b):
    lock = asyncio.Lock()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter_ns()
    for _ in range(b.n):
        await acquire()
        release()
    b.ns = time.perf_counter_ns() - t0
    b.units = b.n


async def lock_waiter(b, lock):
    acquire, release = lock.acquire, lock.release
    sleep = asyncio.sleep
    for _ in range(b.k):
        await acquire()
        b.acquires += 1
        await sleep(0)
        release()
    if b.t_end == 0:
        b.t_end = time.perf_counter_ns()
        b.acq_end = b.acquires


async def waiters_main(b):
    create = asyncio.get_running_loop().create_task
    lock = asyncio.Lock()
    b.k = max(2, b.n // WAITERS)
    tasks = [create(lock_waiter(b, lock)) for _ in range(WAITERS)]
    await asyncio.sleep(0)  # one holds the lock, the others wait
    if len(lock._waiters) != WAITERS - 1:
        sys.exit(f"ch07.py: lock_100waiters: {len(lock._waiters)} "
                 f"waiters, not {WAITERS - 1}")
    t0 = time.perf_counter_ns()
    acq0 = b.acquires
    for t in tasks:
        await t
    b.ns = b.t_end - t0
    b.units = b.acq_end - acq0


def empty():
    pass


async def to_thread_main(b):
    to_thread = asyncio.to_thread
    await to_thread(empty)  # the executor's first thread starts
    t0 = time.perf_counter_ns()
    for _ in range(b.n):
        await to_thread(empty)
    b.ns = time.perf_counter_ns() - t0
    b.units = b.n
    b.nthreads = threading.active_count() - 1


async def numbers(n):
    for i in range(n):
        yield i


async def agen_main(b):
    got = 0
    t0 = time.perf_counter_ns()
    async for _ in numbers(b.n):
        got += 1
    b.ns = time.perf_counter_ns() - t0
    b.units = got
    if got != b.n:
        sys.exit(f"ch07.py: agen_for: {got} items, not {b.n}")


# (kind, main coroutine, queue maxsize, fixed units), in ch07.c's order.
METHODS = [
    ("queue_pair", queue_main, 1, 0),
    ("queue_pair_unbounded", queue_main, 0, 0),
    ("lock_uncontended", lock_main, 0, 0),
    ("lock_100waiters", waiters_main, 0, 0),
    ("to_thread", to_thread_main, 0, 0),
    ("agen_for", agen_main, 0, AGEN_ITEMS),
]


def time_run(coro, maxsize, n):
    """One repetition: asyncio.run of coro; returns the Job."""
    b = Job(n, maxsize)
    asyncio.run(coro(b))
    return b


def calibrate(coro, maxsize, target_ns):
    """As ch07.c does: grow tenfold until a run takes 10 ms, then scale."""
    n = 1000
    while True:
        b = time_run(coro, maxsize, n)
        if b.ns >= 10e6 or n >= 10**9:
            break
        n *= 10
    return max(1000, int(b.units * target_ns / max(b.ns, 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", type=int, default=5, help="repetitions (best counts)")
    ap.add_argument("-t", type=float, default=200, help="ms per repetition")
    ap.add_argument("-n", type=int, default=0,
                    help="fixed units per repetition")
    args = ap.parse_args()
    reps = max(1, args.r)

    ns = []
    for _, coro, maxsize, fixed in METHODS:
        if args.n or fixed:
            n = args.n or fixed
            time_run(coro, maxsize, min(n, 10000))  # a warm-up all the same
        else:
            n = calibrate(coro, maxsize, args.t * 1e6)
        ns.append(n)
    best = [float("inf")] * len(METHODS)
    nthreads = 0
    for _ in range(reps):  # interleaved: one repetition of each per pass
        for i, (_, coro, maxsize, _) in enumerate(METHODS):
            b = time_run(coro, maxsize, ns[i])
            best[i] = min(best[i], b.ns / b.units)
            nthreads = max(nthreads, b.nthreads)

    v = sys.version_info
    print(f"# ch07.py: CPython {v.major}.{v.minor}.{v.micro} asyncio, best "
          f"of {reps} interleaved repetitions; units per repetition: "
          + " ".join(f"{k}/cpython {n}" for (k, *_), n in zip(METHODS, ns)))
    print(f"# to_thread cpython: the default executor had {nthreads} "
          "thread(s) at most at the end of a run")
    for (kind, *_), b in zip(METHODS, best):
        print(f"{kind} cpython {b:.2f}")


if __name__ == "__main__":
    main()
