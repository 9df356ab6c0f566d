# ch07_agen.py - async generators: async for, asend, athrow, aclose, and
# what asyncio does with the ones left open (chapter 07, section 7). Each
# block is one test of tests/ch07_agen.c, named in its comment; the C test
# expects exactly the line it prints.
#
# The C tests run on corolab's virtual clock, which reads 0 at the start
# and jumps from deadline to deadline; so does VirtualLoop here, so times
# are exact. asyncio.Runner closes the loop as asyncio.run does: it
# cancels the tasks left, then shutdown_asyncgens() closes the async
# generators left open; what a block logs after run() happened there.
#
# Exceptions print as their repr ("StopAsyncIteration()"). A message
# that names an object's address ("<async_generator object bad at
# 0x...>") is cut before " at 0x". A value of None prints as None.
# Run: python3 ch07_agen.py
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


async def attempt(aw):
    """await aw: its value, or the repr of what it raised."""
    try:
        return str(await aw)
    except BaseException as e:
        return repr(e)


def cut(message):
    return message.split(" at 0x")[0]


def handler(loop, context):
    log.append(f"handler:{cut(context['message'])}:"
               f"{context['exception']!r}")


# --- 7. Async generators --------------------------------------------------

# test_async_for_over_a_generator_that_sleeps: the body awaits between its
# yields; the consumer's task sleeps meanwhile, and the loop's clock
# moves. The loop ends when the body returns.
async def ticker(n):
    for i in range(n):
        await asyncio.sleep(1)
        yield i


async def async_for():
    log.append(f"start@{now()}")
    async for v in ticker(3):
        log.append(f"{v}@{now()}")
    log.append(f"end@{now()}")


run(async_for())
show("test_async_for_over_a_generator_that_sleeps")


# test_anext_after_return_raises_stop_async_iteration: once the body has
# returned, every anext raises StopAsyncIteration, and nothing of the
# body runs again.
async def one():
    log.append("body")
    yield "a"
    log.append("after")


async def after_return():
    g = one()
    log.append(await g.__anext__())
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.__anext__()))


run(after_return())
show("test_anext_after_return_raises_stop_async_iteration")


# test_asend_delivers_values: asend(v) resumes the body with v as the value
# of its yield expression, and returns what it yields next.
async def summer():
    total = 100
    while True:
        x = yield total
        await asyncio.sleep(1)
        total += x


async def asend_values():
    g = summer()
    log.append(f"{await g.asend(None)}@{now()}")
    log.append(f"{await g.asend(5)}@{now()}")
    log.append(f"{await g.asend(10)}@{now()}")
    await g.aclose()


run(asend_values())
show("test_asend_delivers_values")


# test_asend_to_an_unstarted_generator: only None may start the body; the
# generator stays unstarted after the TypeError.
async def asend_unstarted():
    g = summer()
    log.append(await attempt(g.asend(5)))
    log.append(await attempt(g.asend(None)))
    log.append(await attempt(g.asend(1)))
    await g.aclose()


run(asend_unstarted())
show("test_asend_to_an_unstarted_generator")


# test_athrow_caught_by_the_generator: the body catches what athrow
# raises at its yield, may await in its handler, and yields again: athrow
# returns that value. A body that returns instead makes athrow raise
# StopAsyncIteration.
async def careful():
    n = 1
    while True:
        try:
            yield n
            n += 1
        except ValueError as e:
            await asyncio.sleep(1)
            log.append(f"caught:{e}@{now()}")
            n = 10
        except KeyError:
            log.append("stop")
            return


async def athrow_caught():
    g = careful()
    log.append(str(await g.__anext__()))
    log.append(await attempt(g.athrow(ValueError("x"))))
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.athrow(KeyError("k"))))
    log.append(await attempt(g.__anext__()))


run(athrow_caught())
show("test_athrow_caught_by_the_generator")


# test_athrow_not_caught: the exception runs the body's finally and comes
# out of athrow; the generator is finished: anext raises
# StopAsyncIteration, athrow and aclose return None.
async def fragile():
    try:
        yield 1
        yield 2
    finally:
        log.append("finally")


async def athrow_uncaught():
    g = fragile()
    log.append(str(await g.__anext__()))
    log.append(await attempt(g.athrow(ValueError("boom"))))
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.athrow(ValueError("again"))))
    log.append(await attempt(g.aclose()))


run(athrow_uncaught())
show("test_athrow_not_caught")


# test_athrow_into_an_unstarted_generator: the exception is raised before
# the body's first line, so nothing of it runs, and it is finished.
async def athrow_unstarted():
    g = fragile()
    log.append(await attempt(g.athrow(KeyError("k"))))
    log.append(await attempt(g.__anext__()))


run(athrow_unstarted())
show("test_athrow_into_an_unstarted_generator")


# test_aclose_runs_a_finally_that_awaits: aclose throws GeneratorExit at
# the yield; the finally runs and may await (the clock moves); aclose
# returns when the body is done. Closed, it stays closed.
async def resource():
    log.append(f"open@{now()}")
    try:
        while True:
            yield "row"
            await asyncio.sleep(1)
    finally:
        log.append(f"closing@{now()}")
        await asyncio.sleep(2)
        log.append(f"closed@{now()}")


async def aclose_awaits():
    g = resource()
    log.append(f"{await g.__anext__()}@{now()}")
    log.append(f"{await g.__anext__()}@{now()}")
    await g.aclose()
    log.append(f"aclose-done@{now()}")
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.aclose()))


run(aclose_awaits())
show("test_aclose_runs_a_finally_that_awaits")


# test_generator_busy_while_aclose_awaits: while aclose waits in the
# body's finally, the generator is running: another task's anext and
# aclose are refused. Once closed, anext raises StopAsyncIteration.
async def busy_while_closing():
    g = resource()
    await g.__anext__()
    closer = asyncio.create_task(g.aclose())
    await asyncio.sleep(1)
    log.append(f"running={g.ag_running}")
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.aclose()))
    await closer
    log.append(f"running={g.ag_running}@{now()}")
    log.append(await attempt(g.__anext__()))


run(busy_while_closing())
show("test_generator_busy_while_aclose_awaits")


# test_aclose_ignored_generator_exit: a body that yields a value from its
# finally refuses to close: RuntimeError. The generator is marked closed
# all the same, so a second aclose raises StopAsyncIteration (CPython
# 3.11), and so does the one shutdown_asyncgens makes at the end: an
# Exception, reported through the loop's exception handler.
async def stubborn():
    try:
        yield 1
    finally:
        log.append("finally")
        yield 2


async def ignored_exit():
    global kept
    asyncio.get_running_loop().set_exception_handler(handler)
    kept = stubborn()
    await kept.__anext__()
    log.append(await attempt(kept.aclose()))
    log.append(await attempt(kept.aclose()))
    log.append("main-end")


run(ignored_exit())
show("test_aclose_ignored_generator_exit")


# test_aclose_of_an_unstarted_or_finished_generator: nothing to close:
# no line of an unstarted body runs (and it is finished afterwards); a
# finished generator is left as it is.
async def aclose_nothing():
    g = one()
    log.append(await attempt(g.aclose()))
    log.append(await attempt(g.__anext__()))
    h = one()
    async for v in h:
        log.append(v)
    log.append(await attempt(h.aclose()))


run(aclose_nothing())
show("test_aclose_of_an_unstarted_or_finished_generator")


# test_aclose_when_the_body_returns_or_raises: a body that catches
# GeneratorExit and returns is closed; one whose finally raises another
# exception makes aclose raise it, GeneratorExit as its context.
async def polite():
    try:
        yield 1
    except GeneratorExit:
        log.append("exit")
        await asyncio.sleep(1)
        return


async def rude():
    try:
        yield 1
    finally:
        raise ValueError("in finally")


async def aclose_outcomes():
    g = polite()
    await g.__anext__()
    log.append(await attempt(g.aclose()))
    log.append(now())
    h = rude()
    await h.__anext__()
    try:
        await h.aclose()
    except ValueError as e:
        log.append(f"{e!r}:context={e.__context__!r}")
    log.append(await attempt(h.__anext__()))


run(aclose_outcomes())
show("test_aclose_when_the_body_returns_or_raises")


# test_anext_while_running_in_another_task: while one task's anext waits
# inside the body, the generator is running: another task's anext, asend,
# athrow and aclose are refused, each with its name. When the first gets
# its value, the generator is free again.
async def iterate_once(g):
    log.append(f"A:{await g.__anext__()}@{now()}")


async def two_tasks():
    g = ticker(5)
    a = asyncio.create_task(iterate_once(g))
    await asyncio.sleep(0)
    log.append(f"running={g.ag_running}")
    log.append(await attempt(g.__anext__()))
    log.append(await attempt(g.asend(7)))
    log.append(await attempt(g.athrow(ValueError())))
    log.append(await attempt(g.aclose()))
    await a
    log.append(f"running={g.ag_running}")
    log.append(f"B:{await g.__anext__()}@{now()}")
    await g.aclose()


run(two_tasks())
show("test_anext_while_running_in_another_task")


# test_exception_in_the_body_propagates: what the body raises (after an
# await, here) comes out of the consumer's async for, after the body's
# finally; the generator is finished.
async def failing():
    try:
        yield 1
        await asyncio.sleep(1)
        raise ValueError("bad")
    finally:
        log.append(f"finally@{now()}")


async def propagates():
    g = failing()
    try:
        async for v in g:
            log.append(str(v))
    except ValueError as e:
        log.append(f"{e!r}@{now()}")
    log.append(await attempt(g.__anext__()))


run(propagates())
show("test_exception_in_the_body_propagates")


# test_stop_iteration_in_the_body_is_a_runtime_error: a StopIteration or
# StopAsyncIteration escaping the body would look like the end of the
# iteration; it becomes RuntimeError, caused by it (PEP 479, PEP 525).
async def raises_stop(exc):
    yield 1
    raise exc


async def stop_inside():
    for exc in (StopAsyncIteration(), StopIteration()):
        g = raises_stop(exc)
        await g.__anext__()
        try:
            await g.__anext__()
        except RuntimeError as e:
            log.append(f"{e!r}:cause={e.__cause__!r}")
        log.append(await attempt(g.__anext__()))


run(stop_inside())
show("test_stop_iteration_in_the_body_is_a_runtime_error")


# test_cancelling_the_consumer_while_the_generator_awaits: the consumer's
# task waits on the body's sleep; cancelling it throws CancelledError in
# at the body's await. The body's finally runs (and may still await),
# the CancelledError comes out of the consumer's anext, and the
# generator is finished.
async def slow_source():
    try:
        yield 0
        await asyncio.sleep(10)
        yield 1
    finally:
        log.append(f"gen-finally@{now()}")
        await asyncio.sleep(1)
        log.append(f"gen-finally-done@{now()}")


async def consume(g):
    try:
        async for v in g:
            log.append(f"got:{v}@{now()}")
    except asyncio.CancelledError:
        log.append(f"consumer:CancelledError@{now()}")
        raise


async def cancel_consumer():
    g = slow_source()
    t = asyncio.create_task(consume(g))
    await asyncio.sleep(1)
    log.append(f"cancel@{now()}")
    t.cancel()
    log.append(await attempt(t))
    log.append(f"cancelled={t.cancelled()}")
    log.append(await attempt(g.__anext__()))


run(cancel_consumer())
show("test_cancelling_the_consumer_while_the_generator_awaits")


# test_generator_that_swallows_the_cancellation: a body that catches the
# CancelledError and yields makes anext return that value: the consumer
# goes on (still counted as cancelling) and is not cancelled.
async def swallower():
    try:
        await asyncio.sleep(10)
        yield "never"
    except asyncio.CancelledError:
        log.append(f"gen-caught@{now()}")
        yield "after-cancel"
    await asyncio.sleep(1)
    yield "more"


async def consume_all(g):
    async for v in g:
        log.append(f"got:{v}@{now()}"
                   f":cancelling={asyncio.current_task().cancelling()}")
    log.append("consumer-end")


async def swallowed():
    t = asyncio.create_task(consume_all(swallower()))
    await asyncio.sleep(1)
    t.cancel()
    await t
    log.append(f"cancelled={t.cancelled()}@{now()}")


run(swallowed())
show("test_generator_that_swallows_the_cancellation")


# test_shutdown_closes_an_open_generator_at_end_of_run: main leaves a
# generator open (someone still holds it); after main, the loop closes
# it with aclose(), whose finally may still await.
async def leave_open():
    global kept
    kept = resource()
    log.append(await kept.__anext__())
    log.append(f"main-end@{now()}")


run(leave_open())
log.append("after-run")
show("test_shutdown_closes_an_open_generator_at_end_of_run")


# sleepy(name, seconds): its finally sleeps, then logs "name-closed".
async def sleepy(name, seconds):
    try:
        yield name
    finally:
        await asyncio.sleep(seconds)
        log.append(f"{name}-closed@{now()}")


# test_shutdown_reports_errors_to_the_handler: a generator left open that
# refuses to close: its error goes to the loop's exception handler, once
# every aclose is done; the others are closed all the same.
async def shutdown_errors():
    global kept, kept2
    asyncio.get_running_loop().set_exception_handler(handler)
    kept = sleepy("good", 1)
    kept2 = stubborn()
    await kept.__anext__()
    await kept2.__anext__()
    log.append("main-end")


run(shutdown_errors())
show("test_shutdown_reports_errors_to_the_handler")


# test_shutdown_closes_generators_concurrently: the acloses run in tasks
# of their own, side by side: two finally blocks that sleep 1 and 2
# seconds are both done 2 seconds after main.
async def concurrent_closes():
    global kept, kept2
    kept = sleepy("b", 2)
    kept2 = sleepy("a", 1)
    await kept.__anext__()
    await kept2.__anext__()
    log.append(f"main-end@{now()}")


run(concurrent_closes())
show("test_shutdown_closes_generators_concurrently")


# test_dropped_generator_is_closed_by_a_task: the last reference to an
# open generator goes while the loop runs: asyncio's finalizer hook
# schedules a task that awaits its aclose(); it starts two iterations
# later and runs beside main.
async def steps():
    try:
        yield 1
    finally:
        log.append("finally")
        await asyncio.sleep(0)
        log.append("finally2")


async def dropped():
    g = steps()
    log.append(str(await g.__anext__()))
    del g
    log.append("deleted")
    for i in range(3):
        await asyncio.sleep(0)
        log.append(f"slept{i}")


run(dropped())
show("test_dropped_generator_is_closed_by_a_task")


# test_dropped_generator_that_refuses_to_close: the finalizer's task
# fails; nobody awaits it, so its exception is reported when the task is
# freed: "Task exception was never retrieved".
async def dropped_stubborn():
    asyncio.get_running_loop().set_exception_handler(handler)
    g = stubborn()
    await g.__anext__()
    del g
    log.append("deleted")
    for i in range(3):
        await asyncio.sleep(0)
        log.append(f"slept{i}")


run(dropped_stubborn())
show("test_dropped_generator_that_refuses_to_close")


# test_unstarted_generator_is_not_closed_at_shutdown: the loop knows only
# the generators iterated while it ran (the firstiter hook): one never
# iterated is left alone.
async def unstarted_left():
    global kept, kept2
    kept = resource()
    kept2 = fragile()
    log.append(str(await kept2.__anext__()))
    log.append("main-end")


run(unstarted_left())
show("test_unstarted_generator_is_not_closed_at_shutdown")


# test_pipeline_of_generators: an async generator that iterates another
# one: each awaits in its own body; the consumer sees the composition.
async def doubled(src):
    async for v in src:
        await asyncio.sleep(0.5)
        yield v * 2
    log.append(f"doubled-end@{now()}")


async def pipeline():
    async for v in doubled(ticker(3)):
        log.append(f"{v}@{now()}")


run(pipeline())
show("test_pipeline_of_generators")


# test_closed_consumer_leaves_the_generator_running: a coroutine waiting
# in anext (here on the body's sleep(0)) is closed: CPython 3.11 closes
# only the anext awaitable, so the body stays where it is and the
# generator stays "running": later anext and aclose are refused, the
# one at shutdown too, and that is reported.
async def stuck():
    try:
        await asyncio.sleep(0)
        yield 1
    finally:
        pass


async def consumer_of(g):
    try:
        return await g.__anext__()
    finally:
        log.append("consumer-finally")


async def closed_consumer():
    global kept
    asyncio.get_running_loop().set_exception_handler(handler)
    kept = stuck()
    c = consumer_of(kept)
    log.append(f"send:{c.send(None)}")
    c.close()
    log.append(f"running={kept.ag_running}")
    log.append(await attempt(kept.__anext__()))
    log.append(await attempt(kept.aclose()))
    log.append("main-end")


run(closed_consumer())
show("test_closed_consumer_leaves_the_generator_running")


# test_generator_runs_in_the_consumers_task: the body has no task of its
# own: it runs in the steps of whichever task iterates it.
async def whose():
    for i in range(2):
        await asyncio.sleep(0)
        yield f"{asyncio.current_task().get_name()}:{i}"


async def take_one(g):
    log.append(await g.__anext__())


async def consumers_task():
    g = whose()
    await asyncio.create_task(take_one(g), name="A")
    await asyncio.create_task(take_one(g), name="B")
    await g.aclose()


run(consumers_task())
show("test_generator_runs_in_the_consumers_task")


# test_sleep0_in_the_body_is_not_a_value: the body's sleep(0) is a bare
# yield that goes to the loop (another task runs meanwhile), and the None
# it yields is a value for the consumer: the two never mix.
async def nones():
    for i in range(2):
        await asyncio.sleep(0)
        log.append(f"gen{i}")
        yield None


async def ticks():
    for i in range(4):
        log.append(f"tick{i}")
        await asyncio.sleep(0)


async def sleep0_and_none():
    t = asyncio.create_task(ticks())
    async for v in nones():
        log.append(f"got:{v}")
    await t


run(sleep0_and_none())
show("test_sleep0_in_the_body_is_not_a_value")
