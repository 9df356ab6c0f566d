# ch03_ready.py - the ready queue and one turn of the loop (chapter 03,
# sections 1 and 3). Each block is one test of tests/ch03_scheduler.c,
# named in its comment; the C test expects exactly the line it prints.
# Run: python3 ch03_ready.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_call_soon_fifo: callbacks run in the order call_soon queued them,
# after the step that queued them, and before that step's task resumes
# (sleep(0) queued it behind them).
async def fifo():
    loop = asyncio.get_running_loop()
    for name in ("a", "b", "c"):
        loop.call_soon(log.append, name)
    log.append("main")
    await asyncio.sleep(0)
    log.append("main-again")


asyncio.run(fifo())
show("test_call_soon_fifo")


# test_run_once_runs_only_what_was_ready: a callback that queues another
# one does not get it run in the same iteration. spin re-queues itself;
# a's timer (delay 0) is due at the next iteration and is run there,
# between spin1 and spin2. A loop that drained the queue until empty
# would print spin2 and spin3 before t.
async def run_once():
    loop = asyncio.get_running_loop()

    def spin(n):
        log.append(f"spin{n}")
        if n < 3:
            loop.call_soon(spin, n + 1)

    def a():
        log.append("a")
        loop.call_later(0, log.append, "t")

    loop.call_soon(spin, 0)
    loop.call_soon(a)
    await asyncio.sleep(0.01)


asyncio.run(run_once())
show("test_run_once_runs_only_what_was_ready")


# test_due_timers_run_after_ready_callbacks: timers that are due join the
# ready queue at its end, behind the callbacks already waiting there.
async def after_ready():
    loop = asyncio.get_running_loop()
    loop.call_later(0, log.append, "timer")
    loop.call_soon(log.append, "soon")
    log.append("main")
    await asyncio.sleep(0)
    log.append("main-again")
    await asyncio.sleep(0)


asyncio.run(after_ready())
show("test_due_timers_run_after_ready_callbacks")


# test_raising_callback_is_reported_and_the_batch_goes_on: a callback
# that raises is handed to the loop's exception handler (the default
# one logs "Exception in callback ..."; ours prints it), and the
# callbacks queued behind it still run, in the same iteration. The loop
# below counts its iterations, as corolab's cl_loop_iteration does; @N
# is the iteration relative to the one main started in.
class CountingLoop(asyncio.SelectorEventLoop):
    iteration = 0

    def _run_once(self):
        self.iteration += 1
        super()._run_once()


reported = []


async def raising():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda loop, context: reported.append(str(context["exception"])))
    start = loop.iteration

    def cb(name):
        log.append(f"{name}@{loop.iteration - start}")
        if name.startswith("bad"):
            raise ValueError(name)

    for name in ("a", "bad1", "b", "bad2", "c"):
        loop.call_soon(cb, name)
    await asyncio.sleep(0)
    log.append(f"main@{loop.iteration - start}")


with asyncio.Runner(loop_factory=CountingLoop) as runner:
    runner.run(raising())
log.append("reported:" + ",".join(reported))
show("test_raising_callback_is_reported_and_the_batch_goes_on")
