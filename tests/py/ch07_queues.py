# ch07_queues.py - asyncio.Queue, PriorityQueue and LifoQueue (chapter 07,
# section 5). Each block is one test of tests/ch07_queues.c, named in its
# comment; the C test expects exactly the line it prints.
#
# The C tests run on corolab's virtual clock, which reads 0 at the start
# and jumps from deadline to deadline; so does VirtualLoop here, so times
# are exact. Several scenarios count loop iterations instead of seconds:
# "await asyncio.sleep(0)" lets every task that is ready take one step.
#
# Exceptions print as their repr ("QueueFull()"), a cancelled task as
# "name:CancelledError". A PriorityQueue's items are (priority, seq,
# name) tuples, seq counting the puts, so that equal priorities come out
# in the order they were put, as corolab's PriorityQueue promises.
# Run: python3 ch07_queues.py
import asyncio
import collections
import itertools
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


def tf(b):
    return str(bool(b))


async def ticks(n):
    """Let the other tasks take n steps each."""
    for _ in range(n):
        await asyncio.sleep(0)


async def getter(q, name):
    """get one item and note it, or note the cancellation."""
    try:
        item = await q.get()
    except asyncio.CancelledError:
        log.append(f"{name}:CancelledError")
        raise
    log.append(f"{name}:{item}@{now()}")
    return item


async def putter(q, name, item):
    """put one item and note it, or note the cancellation."""
    try:
        await q.put(item)
    except asyncio.CancelledError:
        log.append(f"{name}:CancelledError")
        raise
    log.append(f"{name}:put@{now()}")


async def finish(*tasks):
    """Wait for the tasks, their cancellations swallowed."""
    await asyncio.gather(*tasks, return_exceptions=True)


# --- 5. Queues ------------------------------------------------------------

# test_queue_size_and_state: qsize, empty, full and maxsize through puts
# and gets that never wait; an unbounded queue is never full.
async def size_and_state():
    q = asyncio.Queue(2)
    log.append(f"{q.qsize()} {tf(q.empty())} {tf(q.full())} {q.maxsize}")
    await q.put(1)
    log.append(f"{q.qsize()} {tf(q.empty())} {tf(q.full())}")
    await q.put(2)
    log.append(f"{q.qsize()} {tf(q.empty())} {tf(q.full())}")
    log.append(f"get={await q.get()}")
    log.append(f"{q.qsize()} {tf(q.empty())} {tf(q.full())}")
    u = asyncio.Queue()
    for i in range(100):
        await u.put(i)
    log.append(f"u:{u.qsize()} {tf(u.full())} {u.maxsize}")


run(size_and_state())
show("test_queue_size_and_state")


# test_queue_is_fifo_across_growth: the ring wraps around and grows while
# wrapped; items still come out in the order they went in.
async def fifo_growth():
    q = asyncio.Queue()
    out = []
    n = 0
    for rnd in range(4):
        for _ in range(6):
            await q.put(n)
            n += 1
        for _ in range(3):
            out.append(await q.get())
    while not q.empty():
        out.append(await q.get())
    log.append(",".join(map(str, out)))
    log.append(f"unfinished={q._unfinished_tasks}")


run(fifo_growth())
show("test_queue_is_fifo_across_growth")


# test_nowait_errors: put_nowait on a full queue raises QueueFull and
# adds nothing; get_nowait on an empty one raises QueueEmpty.
async def nowait_errors():
    q = asyncio.Queue(1)
    await q.put("a")
    try:
        q.put_nowait("b")
    except asyncio.QueueFull as e:
        log.append(f"{e!r} {isinstance(e, Exception)} size={q.qsize()}")
    log.append(f"get={await q.get()}")
    try:
        q.get_nowait()
    except asyncio.QueueEmpty as e:
        log.append(f"{e!r} {isinstance(e, Exception)} size={q.qsize()}")
    q.put_nowait("c")
    log.append(f"nowait={q.get_nowait()} unfinished={q._unfinished_tasks}")


run(nowait_errors())
show("test_nowait_errors")


# test_get_waits_for_a_put: a getter on an empty queue waits until the
# producer's put, 2 s later.
async def get_waits():
    q = asyncio.Queue()

    async def producer():
        await asyncio.sleep(2)
        log.append(f"put@{now()}")
        await q.put("x")

    t = asyncio.create_task(producer())
    log.append("get")
    log.append(f"got={await q.get()}@{now()}")
    await t


run(get_waits())
show("test_get_waits_for_a_put")


# test_back_pressure: a fast producer and a slow consumer (1 s per item)
# on a queue of 2: the producer is held at put, two items ahead.
async def back_pressure():
    q = asyncio.Queue(2)

    async def producer():
        for i in range(6):
            await q.put(i)
            log.append(f"p{i}@{now()}")

    async def consumer():
        for _ in range(6):
            await asyncio.sleep(1)
            log.append(f"c{await q.get()}@{now()}")

    await asyncio.gather(producer(), consumer())
    log.append(f"size={q.qsize()}")


run(back_pressure())
show("test_back_pressure")


# test_putters_served_in_order: three producers blocked on a full queue
# are let in in the order they came, each when an item is taken.
async def putters_in_order():
    q = asyncio.Queue(1)
    await q.put("a")
    ts = [asyncio.create_task(putter(q, n, n)) for n in ("b", "c", "d")]
    await ticks(1)
    log.append(f"waiting={len(q._putters)}")
    for _ in range(4):
        log.append(f"get={await q.get()}")
        await ticks(1)
    await finish(*ts)


run(putters_in_order())
show("test_putters_served_in_order")


# test_getters_served_in_order: three consumers wait on an empty queue;
# three puts in one step wake them in the order they came.
async def getters_in_order():
    q = asyncio.Queue()
    ts = [asyncio.create_task(getter(q, n)) for n in ("g1", "g2", "g3")]
    await ticks(1)
    for item in ("a", "b", "c"):
        q.put_nowait(item)
    log.append(f"size={q.qsize()}")
    await finish(*ts)
    log.append(f"size={q.qsize()}")


run(getters_in_order())
show("test_getters_served_in_order")


# test_woken_getter_waits_again_at_the_back: g1 is woken by a put, but
# main takes the item before g1 runs: g1 finds the queue empty and waits
# again, behind g2, which came later. (put and get loop: a wake-up is a
# hint, not a promise.)
async def rewait_getter():
    q = asyncio.Queue()
    g1 = asyncio.create_task(getter(q, "g1"))
    g2 = asyncio.create_task(getter(q, "g2"))
    await ticks(1)
    q.put_nowait("a")
    log.append(f"main:{q.get_nowait()}")
    await ticks(1)
    log.append(f"waiting={len(q._getters)}")
    q.put_nowait("b")
    await ticks(1)
    q.put_nowait("c")
    await finish(g1, g2)


run(rewait_getter())
show("test_woken_getter_waits_again_at_the_back")


# test_woken_putter_waits_again_at_the_back: the same for producers: p1
# is woken by a get, main fills the slot again first; p1 waits again,
# behind p2.
async def rewait_putter():
    q = asyncio.Queue(1)
    await q.put("a")
    p1 = asyncio.create_task(putter(q, "p1", "b"))
    p2 = asyncio.create_task(putter(q, "p2", "c"))
    await ticks(1)
    log.append(f"get={q.get_nowait()}")
    q.put_nowait("x")
    await ticks(1)
    log.append(f"waiting={len(q._putters)}")
    for _ in range(3):
        log.append(f"get={await q.get()}")
        await ticks(1)
    await finish(p1, p2)


run(rewait_putter())
show("test_woken_putter_waits_again_at_the_back")


# test_getter_cancelled_while_waiting: g1 is cancelled and has left the
# queue before the put; g2 gets the item.
async def getter_cancelled_waiting():
    q = asyncio.Queue()
    g1 = asyncio.create_task(getter(q, "g1"))
    g2 = asyncio.create_task(getter(q, "g2"))
    await ticks(1)
    g1.cancel()
    await ticks(1)
    log.append(f"waiting={len(q._getters)}")
    q.put_nowait("a")
    await finish(g1, g2)
    log.append(f"size={q.qsize()} cancelled={tf(g1.cancelled())}")


run(getter_cancelled_waiting())
show("test_getter_cancelled_while_waiting")


# test_getter_cancelled_just_before_the_put: g1 is cancelled in the same
# step as the put, so it is still in the list, its future cancelled: the
# put skips it and wakes g2.
async def getter_cancelled_same_step():
    q = asyncio.Queue()
    g1 = asyncio.create_task(getter(q, "g1"))
    g2 = asyncio.create_task(getter(q, "g2"))
    g3 = asyncio.create_task(getter(q, "g3"))
    await ticks(1)
    g1.cancel()
    q.put_nowait("a")
    await ticks(2)
    log.append(f"waiting={len(q._getters)} size={q.qsize()}")
    q.put_nowait("b")
    await finish(g1, g2, g3)


run(getter_cancelled_same_step())
show("test_getter_cancelled_just_before_the_put")


# test_getter_cancelled_after_its_wake_up: the put wakes g1, then g1 is
# cancelled before it runs. It cannot take the item, so it wakes g2 on
# its way out: the item is not left in the queue with g2 asleep.
async def getter_cancelled_woken():
    q = asyncio.Queue()
    g1 = asyncio.create_task(getter(q, "g1"))
    g2 = asyncio.create_task(getter(q, "g2"))
    g3 = asyncio.create_task(getter(q, "g3"))
    await ticks(1)
    q.put_nowait("a")
    g1.cancel()
    await ticks(2)
    log.append(f"waiting={len(q._getters)} size={q.qsize()}")
    q.put_nowait("b")
    await finish(g1, g2, g3)


run(getter_cancelled_woken())
show("test_getter_cancelled_after_its_wake_up")


# test_cancelled_getter_passes_nothing_on_an_empty_queue: g1 is woken,
# main takes the item, then g1 is cancelled: there is nothing to pass
# on, and g2 sleeps until the next put.
async def getter_cancelled_nothing_left():
    q = asyncio.Queue()
    g1 = asyncio.create_task(getter(q, "g1"))
    g2 = asyncio.create_task(getter(q, "g2"))
    await ticks(1)
    q.put_nowait("a")
    log.append(f"main:{q.get_nowait()}")
    g1.cancel()
    await ticks(2)
    log.append(f"waiting={len(q._getters)}")
    q.put_nowait("b")
    await finish(g1, g2)


run(getter_cancelled_nothing_left())
show("test_cancelled_getter_passes_nothing_on_an_empty_queue")


# test_putter_cancelled_while_waiting: p1 leaves the full queue before
# the get; p2 takes the free slot.
async def putter_cancelled_waiting():
    q = asyncio.Queue(1)
    await q.put("a")
    p1 = asyncio.create_task(putter(q, "p1", "b"))
    p2 = asyncio.create_task(putter(q, "p2", "c"))
    await ticks(1)
    p1.cancel()
    await ticks(1)
    log.append(f"waiting={len(q._putters)}")
    log.append(f"get={await q.get()}")
    await ticks(1)
    log.append(f"get={await q.get()}")
    await finish(p1, p2)
    log.append(f"size={q.qsize()} unfinished={q._unfinished_tasks}")


run(putter_cancelled_waiting())
show("test_putter_cancelled_while_waiting")


# test_putter_cancelled_after_its_wake_up: the get wakes p1, then p1 is
# cancelled before it runs: it wakes p2, which takes the slot.
async def putter_cancelled_woken():
    q = asyncio.Queue(1)
    await q.put("a")
    p1 = asyncio.create_task(putter(q, "p1", "b"))
    p2 = asyncio.create_task(putter(q, "p2", "c"))
    p3 = asyncio.create_task(putter(q, "p3", "d"))
    await ticks(1)
    log.append(f"get={q.get_nowait()}")
    p1.cancel()
    await ticks(2)
    log.append(f"waiting={len(q._putters)} size={q.qsize()}")
    log.append(f"get={q.get_nowait()}")
    await finish(p1, p2, p3)
    log.append(f"get={q.get_nowait()}")


run(putter_cancelled_woken())
show("test_putter_cancelled_after_its_wake_up")


# test_cancelled_putter_passes_nothing_on_a_full_queue: p1 is woken by a
# get, main fills the slot again, then p1 is cancelled: the queue is
# full, so p2 is not woken.
async def putter_cancelled_full_again():
    q = asyncio.Queue(1)
    await q.put("a")
    p1 = asyncio.create_task(putter(q, "p1", "b"))
    p2 = asyncio.create_task(putter(q, "p2", "c"))
    await ticks(1)
    log.append(f"get={q.get_nowait()}")
    q.put_nowait("x")
    p1.cancel()
    await ticks(2)
    log.append(f"waiting={len(q._putters)}")
    log.append(f"get={q.get_nowait()}")
    await finish(p1, p2)
    log.append(f"get={q.get_nowait()}")


run(putter_cancelled_full_again())
show("test_cancelled_putter_passes_nothing_on_a_full_queue")


# test_join_waits_for_task_done: join returns when every item put has
# been task_done'd, not when the queue is empty; two joiners are woken
# together.
async def join_waits():
    q = asyncio.Queue()

    async def worker():
        while True:
            item = await q.get()
            await asyncio.sleep(1)
            log.append(f"done:{item}@{now()}")
            q.task_done()

    async def joiner(name):
        await q.join()
        log.append(f"{name}:joined@{now()}")

    for i in range(3):
        await q.put(i)
    w = asyncio.create_task(worker())
    j = asyncio.create_task(joiner("j"))
    await ticks(1)
    log.append(f"unfinished={q._unfinished_tasks} size={q.qsize()}")
    await q.join()
    log.append(f"main:joined@{now()} unfinished={q._unfinished_tasks}")
    await j
    w.cancel()
    await finish(w)


run(join_waits())
show("test_join_waits_for_task_done")


# test_join_with_nothing_put: join on a queue with no unfinished item
# returns at once, without letting another task run first; so does join
# after every item is done.
async def join_nothing():
    q = asyncio.Queue()

    async def other():
        log.append("other")

    t = asyncio.create_task(other())
    await q.join()
    log.append("joined")
    await t
    await q.put(1)
    await q.get()
    q.task_done()
    t = asyncio.create_task(other())
    await q.join()
    log.append("joined")
    await t


run(join_nothing())
show("test_join_with_nothing_put")


# test_task_done_too_many_times: one task_done per put; the next one is a
# ValueError, and the count stays at 0.
async def task_done_too_many():
    q = asyncio.Queue()
    await q.put(1)
    await q.get()
    q.task_done()
    try:
        q.task_done()
    except ValueError as e:
        log.append(repr(e))
    log.append(f"unfinished={q._unfinished_tasks}")
    try:
        asyncio.Queue().task_done()
    except ValueError as e:
        log.append(repr(e))


run(task_done_too_many())
show("test_task_done_too_many_times")


# test_join_cancelled: a cancelled joiner leaves; the other is still
# woken by the last task_done; a put after that makes join wait again.
async def join_cancelled():
    q = asyncio.Queue()

    async def joiner(name):
        try:
            await q.join()
        except asyncio.CancelledError:
            log.append(f"{name}:CancelledError")
            raise
        log.append(f"{name}:joined@{now()}")

    await q.put("a")
    j1 = asyncio.create_task(joiner("j1"))
    j2 = asyncio.create_task(joiner("j2"))
    await ticks(1)
    j1.cancel()
    await ticks(1)
    await q.get()
    await asyncio.sleep(1)
    q.task_done()
    await finish(j1, j2)
    await q.put("b")
    j3 = asyncio.create_task(joiner("j3"))
    await asyncio.sleep(1)
    log.append(f"j3:done={tf(j3.done())}")
    await q.get()
    q.task_done()
    await j3


run(join_cancelled())
show("test_join_cancelled")


# test_join_woken_then_refilled_still_returns: the last task_done wakes
# the joiner; a put before it runs does not take the wake-up back
# (Event.set wakes, Event.clear does not un-wake), so join returns with
# an item unfinished.
async def join_refilled():
    q = asyncio.Queue()

    async def joiner(name):
        await q.join()
        log.append(f"{name}:joined@{now()}")

    await q.put(1)
    t = asyncio.create_task(joiner("j"))
    await ticks(1)
    await q.get()
    q.task_done()
    await q.put(2)
    await t
    log.append(f"unfinished={q._unfinished_tasks}")


run(join_refilled())
show("test_join_woken_then_refilled_still_returns")


# test_priority_order_and_ties: smallest priority first; equal
# priorities in the order they were put.
async def priority_order():
    q = asyncio.PriorityQueue()
    seq = itertools.count()
    for prio, name in ((3, "c"), (1, "a1"), (2, "b1"), (1, "a2"), (5, "e"),
                       (2, "b2"), (1, "a3"), (4, "d"), (2, "b3"), (0, "z")):
        await q.put((prio, next(seq), name))
    out = []
    while not q.empty():
        prio, _, name = await q.get()
        out.append(f"{prio}{name}")
        if name == "b1":
            await q.put((1, next(seq), "a4"))
            await q.put((2, next(seq), "b4"))
    log.append(" ".join(out))


run(priority_order())
show("test_priority_order_and_ties")


# test_priority_queue_with_back_pressure: a bounded PriorityQueue holds
# its producer back like a Queue; each get takes the smallest item
# present at that time.
async def priority_bounded():
    q = asyncio.PriorityQueue(3)
    seq = itertools.count()

    async def producer():
        for prio in (5, 3, 4, 1, 2, 0):
            await q.put((prio, next(seq), f"p{prio}"))
            log.append(f"put:p{prio}@{now()}")

    t = asyncio.create_task(producer())
    for _ in range(6):
        await asyncio.sleep(1)
        log.append(f"get:{(await q.get())[2]}@{now()}")
    await t


run(priority_bounded())
show("test_priority_queue_with_back_pressure")


# test_lifo_order: a LifoQueue is a stack, also when refilled halfway.
async def lifo_order():
    q = asyncio.LifoQueue()
    for i in range(5):
        await q.put(i)
    out = [await q.get(), await q.get()]
    for i in range(5, 8):
        await q.put(i)
    while not q.empty():
        out.append(await q.get())
    log.append(",".join(map(str, out)))


run(lifo_order())
show("test_lifo_order")


# test_lifo_with_back_pressure and waiting getters: a bounded LifoQueue
# holds its producer back; a getter woken by a put takes the newest item.
async def lifo_bounded():
    q = asyncio.LifoQueue(2)
    g = asyncio.create_task(getter(q, "g"))
    await ticks(1)
    await q.put("a")
    await q.put("b")
    await q.put("c")
    log.append(f"size={q.qsize()}")
    p = asyncio.create_task(putter(q, "p", "d"))
    await ticks(1)
    log.append(f"full={tf(q.full())}")
    out = []
    for _ in range(3):
        out.append(await q.get())
        await ticks(1)
    log.append(",".join(out))
    await finish(g, p)


run(lifo_bounded())
show("test_lifo_with_back_pressure")


# test_pipeline_of_three_stages: read -> q1 (2) -> parse (1 s per item)
# -> q2 (1) -> write (2 s per item); the sizes of both queues, sampled at
# every put, never pass their maxsize; join returns when the last item is
# written.
async def pipeline():
    q1 = asyncio.Queue(2)
    q2 = asyncio.Queue(1)
    peak = {"q1": 0, "q2": 0}

    async def reader():
        for i in range(5):
            await q1.put(i)
            peak["q1"] = max(peak["q1"], q1.qsize())
        log.append(f"read-done@{now()}")

    async def parser():
        while True:
            item = await q1.get()
            await asyncio.sleep(1)
            await q2.put(item * 10)
            peak["q2"] = max(peak["q2"], q2.qsize())
            q1.task_done()

    async def writer():
        while True:
            item = await q2.get()
            await asyncio.sleep(2)
            log.append(f"w{item}@{now()}")
            q2.task_done()

    stages = [asyncio.create_task(s()) for s in (parser, writer)]
    await reader()
    await q1.join()
    log.append(f"q1-joined@{now()}")
    await q2.join()
    log.append(f"q2-joined@{now()} peak={peak['q1']},{peak['q2']}")
    for s in stages:
        s.cancel()
    await finish(*stages)


run(pipeline())
show("test_pipeline_of_three_stages")


# test_memory_stays_flat: a producer of 1000 items, as fast as it can go,
# and a consumer that takes 10 ms per item, on a queue of 4: the queue
# never holds more than 4 items, and the producer finishes 4 items ahead
# of the consumer.
async def memory_flat():
    q = asyncio.Queue(4)
    peak = 0

    async def producer():
        nonlocal peak
        for i in range(1000):
            await q.put(i)
            peak = max(peak, q.qsize())
        log.append(f"produced@{now()}")

    t = asyncio.create_task(producer())
    total = 0
    for _ in range(1000):
        await asyncio.sleep(0.01)
        total += await q.get()
    await t
    log.append(f"sum={total} peak={peak} end@{now()}")


run(memory_flat())
show("test_memory_stays_flat")


# test_waiters_are_released: a getter woken, a getter cancelled, a putter
# woken, a joiner woken. (The C test also checks that each waiter's
# future is released once its task is done: Python's garbage collector
# does that here.)
async def released():
    q = asyncio.Queue(1)

    async def joiner(name):
        await q.join()
        log.append(f"{name}:joined@{now()}")

    t = asyncio.create_task(getter(q, "g"))
    await ticks(1)
    q.put_nowait("a")
    await finish(t)
    t = asyncio.create_task(getter(q, "g2"))
    await ticks(1)
    t.cancel()
    await finish(t)
    await q.put("x")
    t = asyncio.create_task(putter(q, "p", "y"))
    await ticks(1)
    log.append(f"get={await q.get()}")
    await finish(t)
    t = asyncio.create_task(joiner("j"))
    await ticks(1)
    await q.get()
    for _ in range(3):
        q.task_done()
    await finish(t)


run(released())
show("test_waiters_are_released")


# test_trace_shows_back_pressure: the trace's queue.put and queue.get
# events, with the size after each, and the awaits on the queue, named
# by the task that waits. CPython has no such trace: the twin notes the
# same events from the queue's _put and _get and its waiter lists.
class WaitLog(collections.deque):
    def append(self, fut):
        log.append(f"await:{asyncio.current_task().get_name()}")
        super().append(fut)


class TracedQueue(asyncio.Queue):
    def _init(self, maxsize):
        super()._init(maxsize)
        self._getters = WaitLog()
        self._putters = WaitLog()

    def _put(self, item):
        super()._put(item)
        log.append(f"put:{self.qsize()}")

    def _get(self):
        item = super()._get()
        log.append(f"get:{self.qsize()}")
        return item


async def traced():
    q = TracedQueue(2)

    async def producer():
        for i in range(4):
            await q.put(i)

    async def consumer():
        for _ in range(5):
            await asyncio.sleep(1)
            await q.get()

    p = asyncio.create_task(producer(), name="producer")
    c = asyncio.create_task(consumer(), name="consumer")
    await p
    await asyncio.sleep(4.5)
    q.put_nowait(9)
    await c


run(traced())
show("test_trace_shows_back_pressure")
