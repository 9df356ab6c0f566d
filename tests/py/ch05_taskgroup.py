# ch05_taskgroup.py - TaskGroup, timeout(), timeout_at() and wait_for
# (chapter 05, sections 8 and 9). Each block is one test of
# tests/ch05_taskgroup.c, named in its comment; the C test expects exactly
# the line it prints.
#
# The C tests run on corolab's virtual clock, which reads 0 at the start
# and jumps from deadline to deadline. So does this file: VirtualLoop's
# clock stands still while callbacks run, and when the loop would wait,
# it jumps by the time it would have waited. Times are exact and the
# whole file runs in milliseconds.
# Run: python3 ch05_taskgroup.py
import asyncio
import re
import selectors
import warnings

# The refused create_task calls leave their coroutines never awaited.
warnings.simplefilter("ignore", RuntimeWarning)

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


def names(eg):
    return ",".join(repr(e) for e in eg.exceptions)


# --- 8. TaskGroup ---------------------------------------------------------

# test_taskgroup_waits_for_all_children: the exit waits until every child
# is done; children finish in deadline order; the body goes on at once.
async def sleeper(name, d):
    await asyncio.sleep(d)
    log.append(f"{name}@{now()}")
    return name


async def waits_for_all():
    async with asyncio.TaskGroup() as tg:
        a = tg.create_task(sleeper("a", 3))
        b = tg.create_task(sleeper("b", 1))
        c = tg.create_task(sleeper("c", 2))
        log.append("body")
    log.append(f"exit@{now()} {a.result()}{b.result()}{c.result()}")


run(waits_for_all())
show("test_taskgroup_waits_for_all_children")


# test_taskgroup_first_failure_cancels_the_rest: a child fails at 1: the
# group cancels its other child and the body (the parent task, waiting in
# sleep(10)); the exit raises ExceptionGroup with the one failure, and the
# parent is not left cancelled: it goes on after the except.
async def fail_after(name, d, exc):
    await asyncio.sleep(d)
    log.append(f"{name}:raise@{now()}")
    raise exc


async def cancellable(name, d):
    try:
        await asyncio.sleep(d)
    except asyncio.CancelledError:
        log.append(f"{name}:cancelled@{now()}")
        raise


async def first_failure():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fail_after("a", 1, ValueError("a")))
            b = tg.create_task(cancellable("b", 5))
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append(f"body:cancelled@{now()}")
                raise
    except ExceptionGroup as eg:
        log.append(f"{type(eg).__name__}:{eg.message}:[{names(eg)}]")
        log.append(f"cause={eg.__cause__} b={b.cancelled()}")
    log.append(f"cancelling={asyncio.current_task().cancelling()}")
    await asyncio.sleep(1)
    log.append(f"after@{now()}")


run(first_failure())
show("test_taskgroup_first_failure_cancels_the_rest")


# test_taskgroup_errors_in_completion_order: the group holds every
# failure, in the order the children finished, and never a
# CancelledError: b fails at 1; a, cancelled, fails in its cleanup with
# KeyError at 2; c lets its CancelledError out and is left out.
async def fail_on_cancel(name, d):
    try:
        await asyncio.sleep(d)
    except asyncio.CancelledError:
        await asyncio.sleep(1)
        log.append(f"{name}:cleanup-fails@{now()}")
        raise KeyError(name)


async def completion_order():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fail_on_cancel("a", 5))
            tg.create_task(fail_after("b", 1, ValueError("b")))
            c = tg.create_task(cancellable("c", 5))
    except ExceptionGroup as eg:
        log.append(f"[{names(eg)}]@{now()} c={c.cancelled()}")


run(completion_order())
show("test_taskgroup_errors_in_completion_order")


# test_taskgroup_body_error_joins_the_group: the body raises: the exit
# cancels the children, waits for them, and the body's exception comes
# last in the group, after the children's failures.
async def body_error():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cancellable("a", 5))
            tg.create_task(fail_on_cancel("b", 5))
            await asyncio.sleep(1)
            log.append(f"body:raise@{now()}")
            raise ZeroDivisionError("body")
    except ExceptionGroup as eg:
        log.append(f"[{names(eg)}]@{now()}")
    log.append(f"cancelling={asyncio.current_task().cancelling()}")


run(body_error())
show("test_taskgroup_body_error_joins_the_group")


# test_taskgroup_outside_cancel_propagates: a cancel from outside is not
# swallowed: w1 is cancelled in its body, w2 while its exit waits for the
# children. Either way the children are cancelled, the exit waits for
# them, and CancelledError comes out, not a group.
async def wrapper(name, body_sleep):
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cancellable(f"{name}.child", 10))
            await asyncio.sleep(body_sleep)
            log.append(f"{name}:body-done@{now()}")
    except asyncio.CancelledError:
        log.append(f"{name}:CancelledError@{now()}")
        raise


async def outside_cancel():
    w1 = asyncio.create_task(wrapper("w1", 10))
    w2 = asyncio.create_task(wrapper("w2", 0))
    await asyncio.sleep(1)
    w1.cancel()
    w2.cancel()
    for w in (w1, w2):
        try:
            await w
        except asyncio.CancelledError:
            pass
    log.append(f"w1={w1.cancelled()} w2={w2.cancelled()}")


run(outside_cancel())
show("test_taskgroup_outside_cancel_propagates")


# test_taskgroup_create_task_when_finished_or_aborting: create_task is
# refused (RuntimeError) by a group that is shutting down after a failure,
# and by one that has finished, with its repr in the message.
async def refused():
    tg = asyncio.TaskGroup()
    try:
        async with tg:
            tg.create_task(fail_after("a", 1, ValueError("a")))
            tg.create_task(cancellable("b", 5))
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                try:
                    tg.create_task(sleeper("late", 1))
                except RuntimeError as e:
                    log.append(f"RuntimeError:{e}")
                raise
    except ExceptionGroup as eg:
        log.append(f"[{names(eg)}]")
    try:
        tg.create_task(sleeper("late", 1))
    except RuntimeError as e:
        log.append(f"RuntimeError:{e}")
    tg2 = asyncio.TaskGroup()
    async with tg2:
        tg2.create_task(sleeper("x", 1))
    try:
        tg2.create_task(sleeper("late", 1))
    except RuntimeError as e:
        log.append(f"RuntimeError:{e}")


run(refused())
show("test_taskgroup_create_task_when_finished_or_aborting")


# test_taskgroup_child_fails_after_parent_completed: the parent left
# without the exit (an __aenter__ and no __aexit__), ending in KeyError.
# A child that fails then has nobody to cancel: the group reports it to
# the loop's exception handler and cancels nothing else (b goes on to
# finish); a child cancelled from outside is no failure and no report.
# The handler notes the message without "coro=<...>": CPython's task repr
# names the coroutine, which C cannot.
def on_orphan(loop, context):
    msg = re.sub(r" coro=<[^>]*>", "", context["message"])
    log.append(f"report:{msg}:{context['exception']!r}@{now()}:"
               f"task={context['task'].get_name()}")


orphans = []


async def orphan_parent():
    tg = asyncio.TaskGroup()
    await tg.__aenter__()
    orphans.append(tg.create_task(fail_after("a", 1, ValueError("a")),
                                  name="a"))
    orphans.append(tg.create_task(sleeper("b", 2), name="b"))
    orphans.append(tg.create_task(cancellable("c", 5), name="c"))
    raise KeyError("parent")


async def orphaned():
    asyncio.get_running_loop().set_exception_handler(on_orphan)
    p = asyncio.create_task(orphan_parent(), name="parent")
    try:
        await p
    except KeyError as e:
        log.append(f"parent:{e!r}@{now()}")
    orphans[2].cancel()
    await asyncio.sleep(3)
    log.append(f"b.cancelled={orphans[1].cancelled()} "
               f"c.cancelled={orphans[2].cancelled()}")
    orphans.clear()


run(orphaned())
show("test_taskgroup_child_fails_after_parent_completed")


# --- 9. Timeouts ----------------------------------------------------------

# test_timeout_converts_its_cancel: the deadline cancels the task; the
# exit turns that CancelledError into TimeoutError, raised from it, and
# takes the cancel request back. A block that ends in time is left alone.
async def converts():
    async with asyncio.timeout(5) as cm:
        await asyncio.sleep(1)
    log.append(f"in-time@{now()} expired={cm.expired()}")
    try:
        async with asyncio.timeout(1) as cm:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                log.append(f"body:cancelled@{now()}")
                raise
    except TimeoutError as e:
        log.append(f"TimeoutError:{e!r}@{now()} "
                   f"cause={type(e.__cause__).__name__}")
    log.append(f"expired={cm.expired()} when={cm.when():g} "
               f"cancelling={asyncio.current_task().cancelling()}")


run(converts())
show("test_timeout_converts_its_cancel")


# test_timeout_reschedule: when() is the deadline; reschedule moves it,
# later or earlier; None means never. Entered at 0 with a deadline of 2,
# moved to 4 at 1, then to never, then to 3 at 2: it fires at 3.
async def reschedule():
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(2) as cm:
            log.append(f"when={cm.when():g}")
            await asyncio.sleep(1)
            cm.reschedule(loop.time() + 3)
            log.append(f"when={cm.when():g}")
            cm.reschedule(None)
            log.append(f"when={cm.when()}")
            await asyncio.sleep(1)
            cm.reschedule(loop.time() + 1)
            await asyncio.sleep(10)
    except TimeoutError:
        log.append(f"TimeoutError@{now()} expired={cm.expired()}")
    try:
        cm.reschedule(100)
    except RuntimeError as e:
        log.append(f"RuntimeError:{e}")


run(reschedule())
show("test_timeout_reschedule")


# test_timeout_at_past_deadline: timeout_at with a deadline already past
# fires at the next iteration, without moving the clock.
async def past():
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2)
    try:
        async with asyncio.timeout_at(loop.time() - 1) as cm:
            log.append("body")
            await asyncio.sleep(0)
            log.append("not-reached")
    except TimeoutError:
        log.append(f"TimeoutError@{now()} when={cm.when():g}")


run(past())
show("test_timeout_at_past_deadline")


# test_nested_timeouts_only_the_one_that_fired_converts: the outer
# deadline (1) comes before the inner (5): the inner block lets the
# CancelledError through, the outer turns it into TimeoutError.
async def nested():
    try:
        async with asyncio.timeout(1) as outer:
            try:
                async with asyncio.timeout(5) as inner:
                    await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append(f"inner:CancelledError@{now()} "
                           f"inner.expired={inner.expired()}")
                raise
    except TimeoutError:
        log.append(f"outer:TimeoutError outer.expired={outer.expired()}")


run(nested())
show("test_nested_timeouts_only_the_one_that_fired_converts")


# test_timeout_does_not_swallow_outside_cancel: the deadline fires and a
# cancel from outside comes in the same iteration: uncancel() leaves a
# request pending, so the exit lets CancelledError through instead of
# turning it into TimeoutError.
async def victim_of_both():
    try:
        async with asyncio.timeout(1) as cm:
            await asyncio.sleep(5)
    except asyncio.CancelledError:
        log.append(f"CancelledError@{now()} expired={cm.expired()} "
                   f"cancelling={asyncio.current_task().cancelling()}")
        raise


async def both():
    loop = asyncio.get_running_loop()
    t = asyncio.create_task(victim_of_both())
    await asyncio.sleep(0)
    loop.call_later(1, t.cancel)
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"t.cancelled={t.cancelled()}")


run(both())
show("test_timeout_does_not_swallow_outside_cancel")


# test_wait_for_result_or_timeout: the inner task finishes in time: its
# result; it does not: it is cancelled and TimeoutError is raised from the
# CancelledError, once the task has finished.
async def value_after(v, d):
    await asyncio.sleep(d)
    return v


async def result_or_timeout():
    v = await asyncio.wait_for(value_after(42, 1), 5)
    log.append(f"got={v}@{now()}")
    t = asyncio.create_task(cancellable("slow", 5))
    try:
        await asyncio.wait_for(t, 1)
    except TimeoutError as e:
        log.append(f"TimeoutError:{e!r}@{now()} "
                   f"cause={type(e.__cause__).__name__} "
                   f"t.cancelled={t.cancelled()}")


run(result_or_timeout())
show("test_wait_for_result_or_timeout")


# test_wait_for_waits_for_the_cancel: the inner task takes 2 s to clean up
# after the cancel: wait_for returns only when it has finished. One that
# swallows the cancel and returns has its result returned instead; one
# whose cleanup fails has that error raised.
async def slow_cleanup(name, then):
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        await asyncio.sleep(2)
        log.append(f"{name}:cleaned@{now()}")
        if then == "raise":
            raise
        if then == "fail":
            raise KeyError(name)
        return name


async def waits_for_cancel():
    for then in ("raise", "return", "fail"):
        try:
            v = await asyncio.wait_for(slow_cleanup(then, then), 1)
            log.append(f"got={v}@{now()}")
        except TimeoutError as e:
            log.append(f"TimeoutError@{now()} "
                       f"cause={type(e.__cause__).__name__}")
        except KeyError as e:
            log.append(f"KeyError:{e}@{now()}")


run(waits_for_cancel())
show("test_wait_for_waits_for_the_cancel")


# test_wait_for_cancelled_while_waiting_for_the_cancel: the deadline
# passed and wait_for waits for the inner task's 2 s of cleanup; the task
# in wait_for is cancelled meanwhile, at 2: the CancelledError comes out
# at once, without waiting for the inner task, which finishes at 3.
async def waiting_cancel():
    loop = asyncio.get_running_loop()
    t = asyncio.create_task(slow_cleanup("raise", "raise"))

    async def w_main():
        try:
            await asyncio.wait_for(t, 1)
        except asyncio.CancelledError:
            log.append(f"w:CancelledError@{now()} t.done={t.done()}")
            raise

    w = asyncio.create_task(w_main())
    loop.call_later(2, w.cancel)
    try:
        await w
    except asyncio.CancelledError:
        log.append(f"w.cancelled={w.cancelled()}@{now()}")
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"t.cancelled={t.cancelled()}@{now()}")


run(waiting_cancel())
show("test_wait_for_cancelled_while_waiting_for_the_cancel")


# test_wait_for_zero_timeout: timeout <= 0: a future already done gives
# its result; a pending one is cancelled at once, and wait_for waits for
# that before raising TimeoutError.
async def zero():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    f.set_result("ready")
    log.append(f"got={await asyncio.wait_for(f, 0)}")
    t = asyncio.create_task(cancellable("t", 5))
    try:
        await asyncio.wait_for(t, -1)
    except TimeoutError as e:
        log.append(f"TimeoutError@{now()} "
                   f"cause={type(e.__cause__).__name__} "
                   f"t.cancelled={t.cancelled()}")


run(zero())
show("test_wait_for_zero_timeout")


# test_wait_for_result_at_the_deadline_wins: the future gets its result
# at the very moment wait_for's timer fires: wait_for sees it done when
# it wakes and returns it, whether the future's timer was set before
# wait_for's (first) or after it (second, set one iteration later for
# the same deadline). A future that is not done then is cancelled.
async def at_deadline():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    loop.call_later(1, f.set_result, "first")
    log.append(f"got={await asyncio.wait_for(f, 1)}@{now()}")
    f = loop.create_future()
    when = loop.time() + 1
    loop.call_soon(lambda: loop.call_at(when, f.set_result, "second"))
    log.append(f"got={await asyncio.wait_for(f, 1)}@{now()}")
    f = loop.create_future()
    try:
        await asyncio.wait_for(f, 1)
    except TimeoutError:
        log.append(f"TimeoutError@{now()} f.cancelled={f.cancelled()}")


run(at_deadline())
show("test_wait_for_result_at_the_deadline_wins")
