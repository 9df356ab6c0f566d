# ch07_locks.py - asyncio's synchronization primitives: Lock, Semaphore,
# BoundedSemaphore, Event, Condition, Barrier (chapter 07, sections 2, 3
# and 4). Each block is one test of tests/ch07_locks.c, named in its
# comment; the C test expects exactly the line it prints.
#
# The C tests run on corolab's virtual clock, which reads 0 at the start
# and jumps from deadline to deadline; so does VirtualLoop here, so times
# are exact. Many scenarios count loop iterations instead of seconds:
# "await asyncio.sleep(0)" lets every task that is ready take one step.
#
# st(x) prints what repr(x) says between its brackets ("[locked,
# waiters:2]"): the C objects' repr functions say the same words. err(e)
# prints an exception as Type:message.
# Run: python3 ch07_locks.py
import asyncio
import selectors

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


class VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop):
        super().__init__()
        self._vloop = loop

    def select(self, timeout=None):
        events = super().select(0)
        if not events and timeout:
            self._vloop._vt += timeout
        return events


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self._vt = 0.0
        super().__init__(VirtualSelector(self))

    def time(self):
        return self._vt


def run(coro):
    with asyncio.Runner(loop_factory=VirtualLoop) as r:
        return r.run(coro)


def now():
    return f"{asyncio.get_running_loop().time():g}"


def st(obj):
    r = repr(obj)
    return r[r.index(" [") + 1:-1]


def err(e):
    return f"{type(e).__name__}:{e}"


def spawn(coro):
    return asyncio.create_task(coro)


async def settle(tasks):
    """Wait for every task; a cancelled one is fine."""
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            pass


# A task that takes the lock (or semaphore: anything with acquire and
# release), notes when, holds it for `hold` seconds and lets it go; a
# cancellation is noted and let out.
async def holder(lock, name, hold):
    try:
        await lock.acquire()
    except asyncio.CancelledError:
        log.append(f"{name}:cancelled@{now()}")
        raise
    log.append(f"{name}:got@{now()}")
    await asyncio.sleep(hold)
    lock.release()


# --- 2. Locks -------------------------------------------------------------

# test_lock_waiters_get_it_in_fifo_order: three tasks queue behind main;
# each release hands the lock to the oldest waiter. Right after a
# release the lock reads unlocked, though its first waiter is woken and
# will take it: the waiter leaves the queue only when it runs.
async def lock_fifo():
    lock = asyncio.Lock()
    log.append(f"{st(lock)} locked={lock.locked()}")
    await lock.acquire()
    ts = [spawn(holder(lock, n, 1)) for n in "abc"]
    await asyncio.sleep(0)
    log.append(st(lock))
    lock.release()
    log.append(st(lock))
    await settle(ts)
    log.append(f"{st(lock)}@{now()}")


run(lock_fifo())
show("test_lock_waiters_get_it_in_fifo_order")


# test_lock_release_of_an_unlocked_lock: RuntimeError, and the lock
# stays as it was. Main waits for a first.
async def lock_release_unlocked():
    lock = asyncio.Lock()
    t = spawn(holder(lock, "a", 1))
    await asyncio.sleep(0)
    await lock.acquire()
    log.append(f"main:got@{now()}")
    lock.release()
    try:
        lock.release()
    except RuntimeError as e:
        log.append(err(e))
    log.append(st(lock))
    await t


run(lock_release_unlocked())
show("test_lock_release_of_an_unlocked_lock")


# test_lock_any_task_may_release_it: asyncio's Lock has no owner: b
# releases the lock a holds, and c, waiting, gets it and lets it go.
# a's own release later is then an error: the lock is not locked.
async def keeper(lock):
    await lock.acquire()
    log.append(f"a:got@{now()}")
    await asyncio.sleep(2)
    try:
        lock.release()
    except RuntimeError as e:
        log.append(f"a:{err(e)}@{now()}")


async def releaser(lock):
    await asyncio.sleep(1)
    lock.release()
    log.append(f"b:released@{now()}")


async def lock_no_owner():
    lock = asyncio.Lock()
    ts = [spawn(keeper(lock)), spawn(releaser(lock)),
          spawn(holder(lock, "c", 0.5))]
    await settle(ts)
    log.append(st(lock))


run(lock_no_owner())
show("test_lock_any_task_may_release_it")


# test_lock_cancelled_waiter_is_skipped: b is cancelled while it waits:
# it leaves the queue at once (the lock is held: it wakes nobody), and
# the lock goes to a, then c.
async def lock_cancel_waiting():
    lock = asyncio.Lock()
    await lock.acquire()
    ts = {n: spawn(holder(lock, n, 1)) for n in "abc"}
    await asyncio.sleep(0)
    ts["b"].cancel()
    log.append(st(lock))
    await asyncio.sleep(0)
    log.append(st(lock))
    lock.release()
    await settle(ts.values())
    log.append(f"b={ts['b'].cancelled()} {st(lock)}")


run(lock_cancel_waiting())
show("test_lock_cancelled_waiter_is_skipped")


# test_lock_woken_waiter_cancelled_passes_it_on: the release wakes a, and
# a is cancelled before it runs. a must not keep the wake-up: when it
# runs (with CancelledError) it finds the lock free and wakes b, which
# takes it one iteration later. In the other order, c cancelled first
# and then the release: the release finds the first waiter done and
# wakes nobody; c, when it runs, wakes d.
async def lock_cancel_woken():
    lock = asyncio.Lock()
    await lock.acquire()
    a = spawn(holder(lock, "a", 1))
    b = spawn(holder(lock, "b", 1))
    await asyncio.sleep(0)
    lock.release()
    a.cancel()
    log.append(st(lock))
    await asyncio.sleep(0)
    log.append(st(lock))
    await asyncio.sleep(0)
    log.append(st(lock))
    await settle([a, b])
    log.append(f"a={a.cancelled()} {st(lock)}")
    await lock.acquire()
    c = spawn(holder(lock, "c", 1))
    d = spawn(holder(lock, "d", 1))
    await asyncio.sleep(0)
    c.cancel()
    lock.release()
    log.append(st(lock))
    await asyncio.sleep(0)
    log.append(st(lock))
    await asyncio.sleep(0)
    log.append(st(lock))
    await settle([c, d])
    log.append(f"c={c.cancelled()} {st(lock)}@{now()}")


run(lock_cancel_woken())
show("test_lock_woken_waiter_cancelled_passes_it_on")


# test_lock_newcomer_waits_behind_a_woken_waiter: right after a release
# the lock is unlocked, yet a newcomer does not take it from the woken
# waiter a: it queues. But when every waiter is cancelled, a newcomer
# takes the free lock at once, without waiting.
async def lock_newcomer():
    lock = asyncio.Lock()
    await lock.acquire()
    a = spawn(holder(lock, "a", 1))
    await asyncio.sleep(0)
    lock.release()
    await lock.acquire()
    log.append(f"main:got@{now()}")
    b = spawn(holder(lock, "b", 1))
    await asyncio.sleep(0)
    b.cancel()
    lock.release()
    log.append(st(lock))
    await lock.acquire()
    log.append(f"main:again@{now()} {st(lock)}")
    lock.release()
    await settle([a, b])
    log.append(f"b={b.cancelled()}")


run(lock_newcomer())
show("test_lock_newcomer_waits_behind_a_woken_waiter")


# test_lock_async_with_releases_on_every_way_out: "async with lock" takes
# the lock around its block and lets it go whether the block returns or
# raises; what the block raised goes on.
async def with_body(lock, name, fail):
    async with lock:
        log.append(f"{name}:in@{now()} {st(lock)}")
        await asyncio.sleep(1)
        if fail:
            raise ValueError(name)
    return 7


async def lock_async_with():
    lock = asyncio.Lock()
    a = spawn(with_body(lock, "a", True))
    b = spawn(with_body(lock, "b", False))
    try:
        await a
    except ValueError as e:
        log.append(f"a:{err(e)}@{now()}")
    log.append(f"b={await b}@{now()} {st(lock)}")


run(lock_async_with())
show("test_lock_async_with_releases_on_every_way_out")


# test_lock_trace_says_who_holds_it: the C test reads the tracer's
# lock.acquire and lock.release events back, and the await events of
# tasks that wait on the lock (task 1 is main, 2 and 3 are a and b);
# CPython has no such events, so here each step says what the C tracer
# writes at that point.
async def traced(lock, task):
    if lock.locked():
        log.append(f"await:lock=1:task={task}")
    await lock.acquire()
    log.append(f"acquire:lock=1:task={task}")
    await asyncio.sleep(1)
    log.append(f"release:lock=1:task={task}")
    lock.release()


async def lock_trace():
    lock = asyncio.Lock()
    await lock.acquire()
    log.append("acquire:lock=1:task=1")
    ts = [spawn(traced(lock, 2)), spawn(traced(lock, 3))]
    await asyncio.sleep(1)
    log.append("release:lock=1:task=1")
    lock.release()
    await settle(ts)


run(lock_trace())
show("test_lock_trace_says_who_holds_it")


# test_lock_is_bound_to_one_loop: a lock whose waiter has used one loop
# cannot queue a waiter on another (mixins._LoopBoundMixin): the second
# loop's contended acquire raises RuntimeError; the uncontended one
# never asks which loop runs, and works.
async def contend(lock, name):
    await lock.acquire()
    t = spawn(holder(lock, name, 0))
    await asyncio.sleep(0)
    lock.release()
    await t
    log.append(f"{name}:ok")


async def uncontended(lock):
    await lock.acquire()
    lock.release()
    log.append("free:ok")


def lock_two_loops():
    lock = asyncio.Lock()
    one, two = VirtualLoop(), VirtualLoop()
    one.run_until_complete(contend(lock, "one"))
    two.run_until_complete(uncontended(lock))
    try:
        two.run_until_complete(contend(lock, "two"))
    except RuntimeError as e:
        log.append(f"RuntimeError:{str(e).split('> ')[1]}")
    one.close()
    two.close()


lock_two_loops()
show("test_lock_is_bound_to_one_loop")


# --- 3. Semaphores ----------------------------------------------------------

# test_semaphore_counts_and_keeps_fifo_order: Semaphore(2): a and b get
# it at once, c and d wait and get it in their order as a and b let go.
async def sem_fifo():
    sem = asyncio.Semaphore(2)
    log.append(f"{st(sem)} locked={sem.locked()}")
    ts = [spawn(holder(sem, n, h)) for n, h in
          (("a", 2), ("b", 1), ("c", 2), ("d", 1))]
    await asyncio.sleep(0)
    log.append(f"{st(sem)} locked={sem.locked()}")
    await settle(ts)
    log.append(f"{st(sem)}@{now()}")


run(sem_fifo())
show("test_semaphore_counts_and_keeps_fifo_order")


# test_semaphore_errors: a negative initial value is a ValueError, and so
# is a release that would take a BoundedSemaphore above its initial
# value (checked after the waiter has had its turn).
async def sem_errors():
    try:
        asyncio.Semaphore(-1)
    except ValueError as e:
        log.append(err(e))
    sem = asyncio.BoundedSemaphore(1)
    t = spawn(holder(sem, "a", 1))
    await asyncio.sleep(0)
    await sem.acquire()
    log.append(f"main:got@{now()}")
    sem.release()
    try:
        sem.release()
    except ValueError as e:
        log.append(err(e))
    log.append(st(sem))
    await t


run(sem_errors())
show("test_semaphore_errors")


# test_semaphore_cancelled_waiter_is_skipped: b, cancelled while it
# waits, never counts: the release goes to c, and the value ends at 1.
async def sem_cancel_waiting():
    sem = asyncio.Semaphore(1)
    ts = {n: spawn(holder(sem, n, 1)) for n in "abc"}
    await asyncio.sleep(0)
    ts["b"].cancel()
    log.append(st(sem))
    await asyncio.sleep(0)
    log.append(st(sem))
    await settle(ts.values())
    log.append(f"b={ts['b'].cancelled()} {st(sem)}@{now()}")


run(sem_cancel_waiting())
show("test_semaphore_cancelled_waiter_is_skipped")


# test_semaphore_woken_waiter_cancelled_passes_it_on: the 3.11 fix. A
# release wakes a (and takes the unit for it: value stays 0); a is
# cancelled before it runs. When a runs, it gives the unit back and
# wakes b: the wake-up is not lost.
async def sem_cancel_woken():
    sem = asyncio.Semaphore(0)
    a = spawn(holder(sem, "a", 1))
    b = spawn(holder(sem, "b", 1))
    await asyncio.sleep(0)
    sem.release()
    a.cancel()
    log.append(st(sem))
    await asyncio.sleep(0)
    log.append(st(sem))
    await settle([a, b])
    log.append(f"a={a.cancelled()} {st(sem)}@{now()}")


run(sem_cancel_woken())
show("test_semaphore_woken_waiter_cancelled_passes_it_on")


# test_semaphore_two_releases_wake_two: two releases in a row, before
# any waiter runs, wake two waiters, not one twice (the lost wake-up of
# the older Semaphore).
async def sem_two_releases():
    sem = asyncio.Semaphore(0)
    ts = [spawn(holder(sem, n, 1)) for n in "abc"]
    await asyncio.sleep(0)
    sem.release()
    sem.release()
    log.append(st(sem))
    await asyncio.sleep(0)
    log.append(st(sem))
    await settle(ts[:2])
    log.append(st(sem))
    sem.release()
    await settle(ts)
    log.append(f"{st(sem)}@{now()}")


run(sem_two_releases())
show("test_semaphore_two_releases_wake_two")


# test_semaphore_locked_ignores_cancelled_waiters: with only a cancelled
# waiter in the queue and a unit free, the semaphore is not locked, and
# a newcomer takes the unit without waiting.
async def sem_locked_cancelled():
    sem = asyncio.Semaphore(0)
    a = spawn(holder(sem, "a", 1))
    await asyncio.sleep(0)
    a.cancel()
    sem.release()
    log.append(f"{st(sem)} locked={sem.locked()}")
    await sem.acquire()
    log.append(f"main:got {st(sem)}")
    sem.release()
    await settle([a])
    log.append(f"a={a.cancelled()} {st(sem)}")


run(sem_locked_cancelled())
show("test_semaphore_locked_ignores_cancelled_waiters")


# test_semaphore_woken_waiter_wakes_the_next: a is woken; a second
# release finds nobody else to wake, so the unit stays free, yet main,
# asking for it before a has run, queues behind a (a's waiter is still
# there, not cancelled). When a runs and sees a unit left, it wakes
# main, which gets the unit in the same iteration as a.
async def sem_woken_wakes_next():
    sem = asyncio.Semaphore(0)
    a = spawn(holder(sem, "a", 2))
    await asyncio.sleep(0)
    sem.release()
    sem.release()
    log.append(f"{st(sem)} locked={sem.locked()}")
    await sem.acquire()
    log.append(f"main:got@{now()} {st(sem)}")
    sem.release()
    await settle([a])
    log.append(f"{st(sem)}@{now()}")


run(sem_woken_wakes_next())
show("test_semaphore_woken_waiter_wakes_the_next")


# test_bounded_semaphore_counts_units_given_to_waiters: a unit handed to
# a woken waiter no longer counts as free, so a second release of a
# BoundedSemaphore(1) is accepted; the waiter's own release is then the
# one too many.
async def bounded_woken():
    sem = asyncio.BoundedSemaphore(1)
    await sem.acquire()

    async def w():
        await sem.acquire()
        log.append(f"w:got {st(sem)}")
        await asyncio.sleep(0)
        try:
            sem.release()
        except ValueError as e:
            log.append(f"w:{err(e)}")

    t = spawn(w())
    await asyncio.sleep(0)
    sem.release()
    log.append(st(sem))
    sem.release()
    log.append(st(sem))
    await t
    log.append(st(sem))


run(bounded_woken())
show("test_bounded_semaphore_counts_units_given_to_waiters")


# test_semaphore_async_with_limits_concurrency: "async with sem" around a
# job: at most 2 run at once, in arrival order; a job that raises still
# gives its unit back.
async def job(sem, name, d, active):
    async with sem:
        active[0] += 1
        log.append(f"{name}:in@{now()} active={active[0]}")
        await asyncio.sleep(d)
        active[0] -= 1
        if name == "b":
            raise KeyError(name)
    return name


async def sem_async_with():
    sem = asyncio.Semaphore(2)
    active = [0]
    ts = [spawn(job(sem, n, d, active)) for n, d in
          (("a", 3), ("b", 1), ("c", 1), ("d", 1), ("e", 1))]
    res = await asyncio.gather(*ts, return_exceptions=True)
    log.append(f"{' '.join(map(repr, res))} {st(sem)}@{now()}")


run(sem_async_with())
show("test_semaphore_async_with_limits_concurrency")


# --- 4. Conditions, events, barriers ---------------------------------------

# A task that waits for the event and notes when.
async def event_waiter(ev, name):
    try:
        r = await ev.wait()
    except asyncio.CancelledError:
        log.append(f"{name}:cancelled@{now()}")
        raise
    log.append(f"{name}:{r}@{now()}")


# test_event_set_wakes_every_waiter: set() wakes all waiters, in order;
# wait() on a set event returns at once; clear() makes wait() block
# again until the next set().
async def event_all():
    ev = asyncio.Event()
    log.append(f"{st(ev)} {ev.is_set()}")
    ts = [spawn(event_waiter(ev, n)) for n in "abc"]
    await asyncio.sleep(1)
    log.append(st(ev))
    ev.set()
    log.append(f"{st(ev)} {ev.is_set()}")
    await settle(ts)
    await event_waiter(ev, "now")
    ev.clear()
    d = spawn(event_waiter(ev, "d"))
    await asyncio.sleep(1)
    log.append(f"{st(ev)} {ev.is_set()}")
    ev.set()
    await d


run(event_all())
show("test_event_set_wakes_every_waiter")


# test_event_set_then_clear_still_wakes: the waiters woken by a set()
# wake even when clear() comes before they run; a cancelled waiter
# leaves the queue and the set() goes to the others.
async def event_set_clear():
    ev = asyncio.Event()
    ts = {n: spawn(event_waiter(ev, n)) for n in "abc"}
    await asyncio.sleep(0)
    ts["b"].cancel()
    await asyncio.sleep(0)
    log.append(st(ev))
    ev.set()
    ev.clear()
    log.append(st(ev))
    await settle(ts.values())
    log.append(f"b={ts['b'].cancelled()} {st(ev)}")


run(event_set_clear())
show("test_event_set_then_clear_still_wakes")


# A task that waits on the condition once, inside "async with cond".
async def cond_waiter(cond, name):
    async with cond:
        try:
            r = await cond.wait()
        except asyncio.CancelledError:
            log.append(f"{name}:cancelled@{now()} locked={cond.locked()}")
            raise
        log.append(f"{name}:{r}@{now()}")
        await asyncio.sleep(1)


# test_condition_notify_wakes_n_in_fifo_order: notify() wakes one waiter,
# notify(2) the next two, oldest first. A woken waiter returns from wait()
# only once it has the lock back, which each holds for 1 s.
async def cond_notify_n():
    cond = asyncio.Condition()
    ts = [spawn(cond_waiter(cond, n)) for n in "abcd"]
    await asyncio.sleep(0)
    log.append(st(cond))
    async with cond:
        cond.notify()
        log.append(st(cond))
    await asyncio.sleep(1)
    async with cond:
        cond.notify(2)
        log.append(f"{st(cond)}@{now()}")
    await asyncio.sleep(5)
    log.append(f"{st(cond)}@{now()}")
    async with cond:
        cond.notify(5)
    await settle(ts)
    log.append(f"{st(cond)}@{now()}")


run(cond_notify_n())
show("test_condition_notify_wakes_n_in_fifo_order")


# test_condition_notify_all: every waiter is woken, and they get the lock
# back one after the other, in the order they waited.
async def cond_notify_all():
    cond = asyncio.Condition()
    ts = [spawn(cond_waiter(cond, n)) for n in "abc"]
    await asyncio.sleep(0)
    async with cond:
        cond.notify_all()
        log.append(f"{st(cond)}")
    await settle(ts)
    log.append(f"{st(cond)}@{now()}")


run(cond_notify_all())
show("test_condition_notify_all")


# test_condition_needs_the_lock: wait() and notify() without the lock
# are RuntimeErrors; a notify with nobody waiting does nothing.
async def cond_errors():
    cond = asyncio.Condition()
    try:
        await cond.wait()
    except RuntimeError as e:
        log.append(err(e))
    try:
        cond.notify()
    except RuntimeError as e:
        log.append(err(e))
    try:
        cond.notify_all()
    except RuntimeError as e:
        log.append(err(e))
    t = spawn(cond_waiter(cond, "a"))
    await asyncio.sleep(0)
    async with cond:
        cond.notify()
        cond.notify()
    await t
    async with cond:
        cond.notify()
    log.append(st(cond))


run(cond_errors())
show("test_condition_needs_the_lock")


# test_condition_wait_for_a_predicate: wait_for(pred) checks pred first
# (no wait if it holds), waits again each time it is woken and pred is
# still false, and returns pred's value.
async def cond_wait_for():
    cond = asyncio.Condition()
    box = [0]
    calls = []

    def pred():
        calls.append(box[0])
        return box[0] >= 3 and box[0] * 10

    async def consumer():
        async with cond:
            r = await cond.wait_for(pred)
            log.append(f"consumer:{r}@{now()} calls={len(calls)}")

    t = spawn(consumer())
    for i in range(4):
        await asyncio.sleep(1)
        async with cond:
            box[0] = i
            cond.notify()
    await t
    async with cond:
        r = await cond.wait_for(pred)
    log.append(f"main:{r} calls={len(calls)}")


run(cond_wait_for())
show("test_condition_wait_for_a_predicate")


# test_condition_cancelled_wait_takes_the_lock_back: a waiter cancelled
# while the lock is held by main gets CancelledError only once it has the
# lock again: wait() re-acquires before it lets the cancellation out.
async def cond_cancel_waiting():
    cond = asyncio.Condition()
    a = spawn(cond_waiter(cond, "a"))
    await asyncio.sleep(0)
    await cond.acquire()
    a.cancel()
    await asyncio.sleep(1)
    log.append(f"{st(cond)}@{now()}")
    cond.release()
    await settle([a])
    log.append(f"a={a.cancelled()} {st(cond)}@{now()}")


run(cond_cancel_waiting())
show("test_condition_cancelled_wait_takes_the_lock_back")


# test_condition_cancelled_while_taking_the_lock_back: a is notified,
# then cancelled while it waits for the lock (main holds it), and again:
# wait() keeps waiting until it has the lock, then raises one
# CancelledError.
async def cond_cancel_reacquire():
    cond = asyncio.Condition()

    async def w():
        await cond.acquire()
        try:
            await cond.wait()
        except asyncio.CancelledError as e:
            log.append(f"a:{e!r}@{now()} locked={cond.locked()}")
            cond.release()
            raise

    a = spawn(w())
    await asyncio.sleep(0)
    await cond.acquire()
    cond.notify()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    a.cancel()
    await asyncio.sleep(1)
    a.cancel()
    await asyncio.sleep(1)
    log.append(f"{st(cond)} {st(cond._lock)}@{now()}")
    cond.release()
    await settle([a])
    log.append(f"a={a.cancelled()} {st(cond)}")


run(cond_cancel_reacquire())
show("test_condition_cancelled_while_taking_the_lock_back")


# test_condition_notified_then_cancelled: in 3.11 a waiter cancelled after
# notify() woke it, before it ran, takes the notification with it: b,
# next in line, stays waiting until the next notify. (3.13 passes the
# notification on; 3.11 does not.)
async def cond_notified_cancelled():
    cond = asyncio.Condition()
    a = spawn(cond_waiter(cond, "a"))
    b = spawn(cond_waiter(cond, "b"))
    await asyncio.sleep(0)
    async with cond:
        cond.notify()
        a.cancel()
    await asyncio.sleep(1)
    log.append(f"{st(cond)}@{now()}")
    async with cond:
        cond.notify()
    await settle([a, b])
    log.append(f"a={a.cancelled()} {st(cond)}@{now()}")


run(cond_notified_cancelled())
show("test_condition_notified_then_cancelled")


# test_condition_shares_a_given_lock: Condition(lock) uses that lock:
# holding the lock is holding the condition, and two conditions on one
# lock wake their own waiters only.
async def cond_shared():
    lock = asyncio.Lock()
    c1 = asyncio.Condition(lock)
    c2 = asyncio.Condition(lock)
    a = spawn(cond_waiter(c1, "a"))
    b = spawn(cond_waiter(c2, "b"))
    await asyncio.sleep(0)
    await lock.acquire()
    log.append(f"c1:{st(c1)} c2:{st(c2)}")
    c2.notify()
    lock.release()
    await b
    async with c1:
        c1.notify()
    await a
    log.append(f"{st(lock)}@{now()}")


run(cond_shared())
show("test_condition_shares_a_given_lock")


# A task that waits at the barrier and notes the index it got, or what
# was raised.
async def party(bar, name, delay=0):
    await asyncio.sleep(delay)
    try:
        i = await bar.wait()
    except asyncio.CancelledError:
        log.append(f"{name}:cancelled@{now()}")
        raise
    except asyncio.BrokenBarrierError as e:
        log.append(f"{name}:{err(e)}@{now()}")
        return
    log.append(f"{name}:{i}@{now()}")


# test_barrier_indices_and_reuse: Barrier(3): the third party to arrive
# releases the others; each gets its index in arrival order, the last
# one parties-1. The barrier fills again for a second round.
async def barrier_rounds():
    bar = asyncio.Barrier(3)
    log.append(f"{st(bar)} parties={bar.parties}")
    ts = [spawn(party(bar, n, d)) for n, d in (("a", 2), ("b", 1), ("c", 3))]
    await asyncio.sleep(2.5)
    log.append(f"{st(bar)} n_waiting={bar.n_waiting}")
    await settle(ts)
    log.append(st(bar))
    ts = [spawn(party(bar, n, 0)) for n in "def"]
    await settle(ts)
    log.append(f"{st(bar)} broken={bar.broken}@{now()}")


run(barrier_rounds())
show("test_barrier_indices_and_reuse")


# test_barrier_parties_must_be_positive: Barrier(0) is a ValueError; a
# Barrier(1) never waits; with Barrier(2) the first to arrive waits for
# the second, and gets index 0.
async def barrier_small():
    try:
        asyncio.Barrier(0)
    except ValueError as e:
        log.append(err(e))
    one = asyncio.Barrier(1)
    await party(one, "a")
    log.append(st(one))
    two = asyncio.Barrier(2)
    t = spawn(party(two, "b"))
    log.append(f"main:{await two.wait()}@{now()} {st(two)}")
    await t
    log.append(st(two))


run(barrier_small())
show("test_barrier_parties_must_be_positive")


# test_barrier_abort_breaks_it: abort() wakes the waiters with
# BrokenBarrierError and leaves the barrier broken: later waits raise
# at once. reset() mends it.
async def barrier_abort():
    bar = asyncio.Barrier(3)
    ts = [spawn(party(bar, n)) for n in "ab"]
    await asyncio.sleep(1)
    await bar.abort()
    log.append(f"{st(bar)} broken={bar.broken}")
    await settle(ts)
    await party(bar, "c")
    await bar.reset()
    log.append(f"{st(bar)} broken={bar.broken}")
    ts = [spawn(party(bar, n)) for n in "def"]
    await settle(ts)


run(barrier_abort())
show("test_barrier_abort_breaks_it")


# test_barrier_reset_wakes_the_waiters: reset() with parties waiting
# breaks their wait (BrokenBarrierError) and drains through
# "resetting"; a party arriving meanwhile waits for the drain, then
# counts for the next round.
async def barrier_reset():
    bar = asyncio.Barrier(2)
    a = spawn(party(bar, "a"))
    await asyncio.sleep(1)
    r = spawn(bar.reset())
    b = spawn(party(bar, "b"))
    await asyncio.sleep(0)
    log.append(f"{st(bar)}")
    await settle([a, r])
    log.append(f"{st(bar)}@{now()}")
    c = spawn(party(bar, "c", 1))
    await settle([b, c])
    log.append(f"{st(bar)}@{now()}")


run(barrier_reset())
show("test_barrier_reset_wakes_the_waiters")


# test_barrier_cancelled_party_does_not_break_it: unlike threading's
# Barrier, a party cancelled while it waits just leaves: the count goes
# down, the barrier stays whole, and the round completes with the next
# arrival.
async def barrier_cancel():
    bar = asyncio.Barrier(3)
    ts = {n: spawn(party(bar, n)) for n in "ab"}
    await asyncio.sleep(1)
    ts["a"].cancel()
    await asyncio.sleep(1)
    log.append(f"{st(bar)} broken={bar.broken}")
    ts.update({n: spawn(party(bar, n, 1)) for n in "cd"})
    await settle(ts.values())
    log.append(f"a={ts['a'].cancelled()} {st(bar)}@{now()}")


run(barrier_cancel())
show("test_barrier_cancelled_party_does_not_break_it")


# test_barrier_draining_holds_the_next_round: while the released parties
# are leaving (draining), a party of the next round waits at the door;
# the barrier fills again only once all have left.
async def barrier_drain():
    bar = asyncio.Barrier(2)
    ts = [spawn(party(bar, n)) for n in "ab"]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append(st(bar))
    c = spawn(party(bar, "c"))
    await asyncio.sleep(0)
    log.append(st(bar))
    await settle(ts)
    log.append(st(bar))
    d = spawn(party(bar, "d", 1))
    await settle([c, d])
    log.append(f"{st(bar)}@{now()}")


run(barrier_drain())
show("test_barrier_draining_holds_the_next_round")
