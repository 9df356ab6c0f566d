# ch07_threads.py - other threads and the loop (chapter 07, section 6):
# call_soon_threadsafe, run_in_executor on a bounded pool, to_thread. Each
# block is one test of tests/ch07_threads.c, named in its comment; the C
# test expects exactly the line it prints.
#
# The threads really run, so the blocks use asyncio.run's ordinary clock;
# no line depends on how long anything takes: a thread that must wait for
# the loop waits on a threading.Event, never on a sleep.
# Run: python3 ch07_threads.py
import asyncio
import concurrent.futures
import selectors
import threading
from contextvars import ContextVar

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_threadsafe_call_wakes_the_loop: a thread completes a future the
# main task awaits; the loop, asleep with nothing else to do, wakes.
def wakes():
    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def thread():
            loop.call_soon_threadsafe(fut.set_result, 42)

        t = threading.Thread(target=thread)
        t.start()
        log.append(f"got {await fut}")
        t.join()

    asyncio.run(main())


wakes()
show("test_threadsafe_call_wakes_the_loop")


# test_threadsafe_calls_run_in_order: five calls handed over by one
# thread run in the order they were handed over.
def in_order():
    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def thread():
            for i in range(5):
                loop.call_soon_threadsafe(log.append, str(i))
            loop.call_soon_threadsafe(fut.set_result, None)

        t = threading.Thread(target=thread)
        t.start()
        await fut
        t.join()

    asyncio.run(main())


in_order()
show("test_threadsafe_calls_run_in_order")


# test_threadsafe_call_runs_in_the_callers_context: the callback runs in
# a copy of the context of the thread that handed it over, not the loop's.
def callers_context():
    var = ContextVar("where", default="unset")

    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        var.set("main")

        def cb():
            log.append(f"cb={var.get()}")
            fut.set_result(None)

        def thread():
            var.set("thread")
            loop.call_soon_threadsafe(cb)

        t = threading.Thread(target=thread)
        t.start()
        await fut
        t.join()
        log.append(f"main={var.get()}")

    asyncio.run(main())


callers_context()
show("test_threadsafe_call_runs_in_the_callers_context")


# test_run_in_executor_returns_the_result: the future completes with
# what the function returned.
def executor_result():
    async def main():
        loop = asyncio.get_running_loop()
        v = await loop.run_in_executor(None, lambda: 7 * 6)
        log.append(f"got {v}")

    asyncio.run(main())


executor_result()
show("test_run_in_executor_returns_the_result")


# test_run_in_executor_raises_what_fn_raised: an exception raised on the
# pool's thread comes out of the await, on the loop's.
def executor_raises():
    def fn():
        raise ValueError("bad input")

    async def main():
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, fn)
        except ValueError as e:
            log.append(f"ValueError:{e}")

    asyncio.run(main())


executor_raises()
show("test_run_in_executor_raises_what_fn_raised")


# test_to_thread_copies_the_context: the function sees the task's
# values; what it sets stays in its copy.
def to_thread_context():
    var = ContextVar("rid")

    def fn():
        log.append(f"thread:{var.get()}")
        var.set("changed")
        return var.get()

    async def main():
        var.set("r1")
        v = await asyncio.to_thread(fn)
        log.append(f"returned:{v} task:{var.get()}")

    asyncio.run(main())


to_thread_context()
show("test_to_thread_copies_the_context")


# test_pool_is_bounded: five calls on a pool of two threads: never more
# than two at once, only two threads started, the results in order.
def bounded():
    lock = threading.Lock()
    running = [0, 0]  # now, most
    gate = threading.Event()

    def fn(i):
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        gate.wait()
        with lock:
            running[0] -= 1
        return i

    async def main():
        loop = asyncio.get_running_loop()
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        futs = [loop.run_in_executor(ex, fn, i) for i in range(5)]
        while True:  # both threads busy, the rest queued
            with lock:
                if running[0] == 2:
                    break
            await asyncio.sleep(0)
        gate.set()
        res = await asyncio.gather(*futs)
        log.append(f"most={running[1]} threads={len(ex._threads)}")
        log.append("results=" + ",".join(map(str, res)))
        ex.shutdown()

    asyncio.run(main())


bounded()
show("test_pool_is_bounded")


# test_pool_queue_is_fifo: a pool of one thread runs the calls waiting
# for it oldest first.
def fifo():
    order = []

    def fn(i):
        order.append(i)

    async def main():
        loop = asyncio.get_running_loop()
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        await asyncio.gather(*[loop.run_in_executor(ex, fn, i)
                               for i in range(4)])
        log.append(" ".join(map(str, order)))
        ex.shutdown()

    asyncio.run(main())


fifo()
show("test_pool_queue_is_fifo")


# test_cancelled_before_it_runs_never_runs: a call still waiting in the
# pool's queue when its future is cancelled is taken off: it never runs.
# One that was running finishes, and its result is dropped.
def cancel_queued():
    ran = []
    started = threading.Event()
    gate = threading.Event()

    def first():
        started.set()
        gate.wait()
        ran.append("first")
        return 1

    def second():
        ran.append("second")
        return 2

    async def main():
        loop = asyncio.get_running_loop()
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        f1 = loop.run_in_executor(ex, first)
        f2 = loop.run_in_executor(ex, second)
        while not started.is_set():
            await asyncio.sleep(0)
        f2.cancel()
        f1.cancel()
        await asyncio.sleep(0)  # their done callbacks run
        gate.set()
        ex.shutdown(wait=True)
        log.append(f"f1={f1.cancelled()} f2={f2.cancelled()}")
        log.append("ran=" + ",".join(ran))

    asyncio.run(main())


cancel_queued()
show("test_cancelled_before_it_runs_never_runs")


# test_to_thread_cancelled_while_running: cancelling the task that
# awaits to_thread raises CancelledError in it at once; the function
# runs on to its end all the same.
def to_thread_cancelled():
    started = threading.Event()
    gate = threading.Event()
    done = []

    def fn():
        started.set()
        gate.wait()
        done.append("fn-finished")

    async def worker():
        try:
            await asyncio.to_thread(fn)
        except asyncio.CancelledError:
            log.append("worker:cancelled")
            raise

    async def main():
        t = asyncio.create_task(worker())
        while not started.is_set():
            await asyncio.sleep(0)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            log.append("main:saw-cancelled")
        gate.set()
        while not done:
            await asyncio.sleep(0.001)
        log.append(done[0])

    asyncio.run(main())


to_thread_cancelled()
show("test_to_thread_cancelled_while_running")


# test_debug_mode_checks_the_thread: in debug mode, call_soon from a
# thread other than the loop's raises RuntimeError;
# call_soon_threadsafe does not.
def debug_check():
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        fut = loop.create_future()
        result = []

        def thread():
            try:
                loop.call_soon(lambda: None)
                result.append("no error")
            except RuntimeError as e:
                result.append(f"RuntimeError:{e}")
            loop.call_soon_threadsafe(fut.set_result, "threadsafe ok")

        t = threading.Thread(target=thread)
        t.start()
        v = await fut
        t.join()
        log.append(result[0])
        log.append(v)

    asyncio.run(main())


debug_check()
show("test_debug_mode_checks_the_thread")


# test_limiter_bounds_the_calls: eight calls through a limiter of three
# (in asyncio, a Semaphore around to_thread): three run on threads, five
# wait as tasks.
def limiter():
    lock = threading.Lock()
    running = [0, 0]
    gate = threading.Event()
    sem = asyncio.Semaphore(3)

    def fn(i):
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        gate.wait()
        with lock:
            running[0] -= 1
        return i

    async def call(i):
        async with sem:
            return await asyncio.to_thread(fn, i)

    async def main():
        tasks = [asyncio.create_task(call(i)) for i in range(8)]
        while True:
            with lock:
                if running[0] == 3:
                    break
            await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)
        with lock:
            log.append(f"running={running[0]}")
        gate.set()
        res = await asyncio.gather(*tasks)
        log.append(f"most={running[1]}")
        log.append(f"results={res[0]}..{res[7]}")

    asyncio.run(main())


limiter()
show("test_limiter_bounds_the_calls")


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


# test_runner_keeps_tasks_between_runs: a task the first run leaves
# behind goes on during the second; close cancels it, then closes the
# async generator the first run left open.
def runner_tasks():
    gens = []

    async def gen():
        try:
            yield 1
            await asyncio.sleep(10)
            yield 2
        finally:
            log.append("gen:closed")
    async def bg():
        try:
            await asyncio.sleep(1)
            log.append("bg:1")
            await asyncio.sleep(3)
            log.append("bg:2")
        except asyncio.CancelledError:
            log.append("bg:cancelled")
            raise

    async def first():
        asyncio.create_task(bg())
        g = gen()
        gens.append(g)
        await g.__anext__()
        await asyncio.sleep(0)
        log.append("first:done")

    async def second():
        await asyncio.sleep(2)
        log.append("second:done")

    with asyncio.Runner(loop_factory=VirtualLoop) as r:
        r.run(first())
        r.run(second())


runner_tasks()
show("test_runner_keeps_tasks_between_runs")


# test_runner_runs_share_a_context: every run's main task runs in the
# runner's one context: what the first sets, the second sees (and so do
# its calls on threads); the caller's context is not touched.
def runner_context():
    x = ContextVar("x")

    async def a():
        x.set(1)

    async def b():
        log.append(f"b:x={x.get('LookupError')}")
        seen = await asyncio.to_thread(lambda: x.get("LookupError"))
        log.append(f"thread:x={seen}")

    with asyncio.Runner(loop_factory=VirtualLoop) as r:
        r.run(a())
        r.run(b())
    log.append(f"outside:x={x.get('LookupError')}")


runner_context()
show("test_runner_runs_share_a_context")


# test_runner_inside_a_loop_is_refused: loops do not nest, neither a
# Runner's nor another loop's run_until_complete; but a pool thread is
# another thread, and may run a loop of its own.
def runner_nested():
    async def inner():
        pass

    async def main():
        r = asyncio.Runner()
        coro = inner()
        try:
            r.run(coro)
        except RuntimeError as e:
            log.append(f"RuntimeError:{e}")
        coro.close()
        # A second loop, run from inside this one: the C returns -EBUSY
        # where asyncio raises this RuntimeError.
        other = asyncio.new_event_loop()
        coro = inner()
        try:
            other.run_until_complete(coro)
            log.append("other loop: ran")
        except RuntimeError as e:
            busy = "Cannot run the event loop while another loop is running"
            log.append("other loop: EBUSY" if str(e) == busy else str(e))
        coro.close()
        other.close()

        # Loops do not nest on one thread; a pool thread may run its own.
        async def answer():
            return 42

        v = await asyncio.to_thread(lambda: asyncio.run(answer()))
        log.append(f"thread's own loop: {v}")

    asyncio.run(main())


runner_nested()
show("test_runner_inside_a_loop_is_refused")


# test_pool_grows_for_a_burst: one thread is warm and idle when two calls
# come together, the first waiting for the second: each queued call claims
# an idle thread, so the pool starts a second one, and the first call
# sees the second run.
def burst():
    gate = threading.Event()

    def a():
        return "a saw b" if gate.wait(timeout=2) else "a timed out"

    def b():
        gate.set()
        return "b ran"

    async def main():
        loop = asyncio.get_running_loop()
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        await loop.run_in_executor(ex, lambda: None)  # one thread, warm
        r = await asyncio.gather(loop.run_in_executor(ex, a),
                                 loop.run_in_executor(ex, b))
        log.append(f"{r[0]}, {r[1]}, threads={len(ex._threads)}")
        ex.shutdown()

    asyncio.run(main())


burst()
show("test_pool_grows_for_a_burst")
