# ch05_cancel.py - cancellation as asyncio 3.11 has it, shield, gather
# with return_exceptions, wait, as_completed (chapter 05, sections 6 and
# 7). Each block is one test of tests/ch05_cancel.c, named in its
# comment; the C test expects exactly the line it prints.
# Run: python3 ch05_cancel.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_cancel_msg_reaches_the_await: cancel(msg) raises CancelledError(msg)
# at the task's await, once; without a message CancelledError() has no
# argument at all. Whoever awaits the task gets the same exception.
async def sleeper(name):
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"{name}:{e!r}")
        raise


async def msg_main():
    a = asyncio.create_task(sleeper("a"))
    b = asyncio.create_task(sleeper("b"))
    await asyncio.sleep(0)
    log.append(f"cancel={a.cancel('stop')}")
    b.cancel()
    for t in (a, b):
        try:
            await t
        except asyncio.CancelledError as e:
            log.append(f"await:{e!r} cancelled={t.cancelled()}")
    log.append(f"again={a.cancel('x')}")


asyncio.run(msg_main())
show("test_cancel_msg_reaches_the_await")


# test_caught_cancel_lets_the_task_return: a coroutine that catches its
# CancelledError and returns ends the task with that result; the request
# still counts in cancelling().
async def stubborn():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"caught:{e!r}")
    await asyncio.sleep(0)
    return 42


async def stubborn_main():
    t = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    t.cancel("please")
    r = await t
    log.append(f"result={r} cancelled={t.cancelled()} "
               f"cancelling={t.cancelling()}")


asyncio.run(stubborn_main())
show("test_caught_cancel_lets_the_task_return")


# test_cancel_before_first_step: a task cancelled before it ever ran
# never runs a line of its coroutine.
async def never():
    log.append("ran")


async def early_main():
    t = asyncio.create_task(never())
    t.cancel("early")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"await:{e!r}")
    log.append(f"cancelled={t.cancelled()} cancelling={t.cancelling()}")


asyncio.run(early_main())
show("test_cancel_before_first_step")


# test_cancel_travels_to_the_awaited_task: cancelling a task that awaits
# another cancels the inner one first, with the same message; it lets
# the CancelledError out, and the outer one gets that very exception.
async def inner():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"inner:{e!r}")
        raise


async def outer(t):
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"outer:{e!r}")
        raise


async def chain_main():
    i = asyncio.create_task(inner())
    o = asyncio.create_task(outer(i))
    await asyncio.sleep(0)
    o.cancel("down")
    log.append(f"inner.cancelling={i.cancelling()} "
               f"outer.cancelling={o.cancelling()}")
    try:
        await o
    except asyncio.CancelledError as e:
        log.append(f"main:{e!r}")
    log.append(f"inner={i.cancelled()} outer={o.cancelled()}")


asyncio.run(chain_main())
show("test_cancel_travels_to_the_awaited_task")


# test_cancelling_counts_and_uncancel: every request counts, uncancel()
# takes one back; a second cancel of a task whose first is still
# pending delivers only one CancelledError (the first message).
async def counted():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"got:{e!r}")
        t = asyncio.current_task()
        log.append(f"cancelling={t.cancelling()}")
        log.append(f"uncancel={t.uncancel()}")
    await asyncio.sleep(0)
    log.append("after")
    return "ok"


async def counted_main():
    t = asyncio.create_task(counted())
    await asyncio.sleep(0)
    t.cancel("one")
    t.cancel("two")
    log.append(f"result={await t} cancelling={t.cancelling()}")


asyncio.run(counted_main())
show("test_cancelling_counts_and_uncancel")


# test_finally_runs_innermost_first_and_may_await: the CancelledError
# unwinds the calls inside the task, innermost finally first; a finally
# may await (the cleanup takes time) and the cancellation goes on after.
async def level3():
    try:
        await asyncio.sleep(10)
    finally:
        log.append("finally3")
        await asyncio.sleep(1)
        log.append(f"cleaned3 t={round(asyncio.get_running_loop().time() - t0)}")


async def level2():
    try:
        await level3()
    finally:
        log.append("finally2")


async def level1():
    try:
        await level2()
    finally:
        log.append("finally1")


async def finally_main():
    global t0
    t0 = asyncio.get_running_loop().time()
    t = asyncio.create_task(level1())
    await asyncio.sleep(0)
    t.cancel("bye")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"main:{e!r}")


asyncio.run(finally_main())
show("test_finally_runs_innermost_first_and_may_await")


# test_future_cancel_msg: Future.cancel(msg): result(), exception() and
# await all raise CancelledError(msg), a new one each time.
async def waiter(f):
    try:
        await f
    except asyncio.CancelledError as e:
        log.append(f"waiter:{e!r}")


async def fut_main():
    f = asyncio.get_running_loop().create_future()
    t = asyncio.create_task(waiter(f))
    await asyncio.sleep(0)
    log.append(f"cancel={f.cancel('why')} again={f.cancel('no')}")
    try:
        f.result()
    except asyncio.CancelledError as e:
        log.append(f"result:{e!r}")
    try:
        f.exception()
    except asyncio.CancelledError as e:
        log.append(f"exception:{e!r}")
    await t
    log.append(f"task.cancelled={t.cancelled()}")


asyncio.run(fut_main())
show("test_future_cancel_msg")


# test_task_keeps_the_cancelled_error_it_let_out: a task whose coroutine
# raises CancelledError itself ends cancelled; the first result() raises
# that very exception, later ones a new CancelledError(). A task that
# cancels itself and then returns ends cancelled, with its message.
async def raiser():
    await asyncio.sleep(0)
    raise asyncio.CancelledError("own")


async def quitter():
    asyncio.current_task().cancel("self")
    return 1


async def own_main():
    t = asyncio.create_task(raiser())
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"first:{e!r}")
    try:
        t.result()
    except asyncio.CancelledError as e:
        log.append(f"second:{e!r}")
    q = asyncio.create_task(quitter())
    try:
        await q
    except asyncio.CancelledError as e:
        log.append(f"quitter:{e!r} cancelled={q.cancelled()}")


asyncio.run(own_main())
show("test_task_keeps_the_cancelled_error_it_let_out")


# test_cancel_taken_by_the_awaited_task: the task awaited accepts the
# cancel, so the one awaiting it has no cancel pending: when the inner one
# catches it and returns, the outer one gets that result.
async def stubborn_inner():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"inner:{e!r}")
    return 5


async def awaits_inner(t):
    r = await t
    log.append(f"outer-got={r}")
    return r + 1


async def taken_main():
    i = asyncio.create_task(stubborn_inner())
    o = asyncio.create_task(awaits_inner(i))
    await asyncio.sleep(0)
    log.append(f"cancel={o.cancel('down')}")
    r = await o
    log.append(f"result={r} cancelled={o.cancelled()} "
               f"cancelling={o.cancelling()}")


asyncio.run(taken_main())
show("test_cancel_taken_by_the_awaited_task")


# test_last_cancel_message_wins: two cancels before the first step: both
# count, and the CancelledError carries the last message.
async def twice_main():
    t = asyncio.create_task(never())
    t.cancel("first")
    t.cancel("second")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"await:{e!r}")
    log.append(f"cancelling={t.cancelling()}")


asyncio.run(twice_main())
show("test_last_cancel_message_wins")


# test_cancel_replaces_the_exception_on_its_way: the future the task
# waits on failed, and its wake-up is queued, when the cancel comes: the
# future refuses it, and the task gets a CancelledError() instead of the
# ValueError.
async def waits_on(f):
    try:
        await f
    except BaseException as e:
        log.append(f"got:{e!r}")
        raise


async def replaced_main():
    f = asyncio.get_running_loop().create_future()
    t = asyncio.create_task(waits_on(f))
    await asyncio.sleep(0)
    f.set_exception(ValueError("x"))
    log.append(f"cancel={t.cancel()}")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"await:{e!r} cancelled={t.cancelled()}")


asyncio.run(replaced_main())
show("test_cancel_replaces_the_exception_on_its_way")


# ---- 7. Shield, gather, wait, as_completed ----

# test_shield_protects_the_inner_task: cancelling the task that awaits a
# shield cancels the shield only; the inner task runs to its end.
async def work():
    await asyncio.sleep(1)
    log.append("work-done")
    return 7


async def protected(t):
    try:
        r = await asyncio.shield(t)
        log.append(f"got={r}")
    except asyncio.CancelledError as e:
        log.append(f"shielded:{e!r}")
        raise


async def shield_main():
    w = asyncio.create_task(work())
    p = asyncio.create_task(protected(w))
    await asyncio.sleep(0)
    p.cancel("go")
    try:
        await p
    except asyncio.CancelledError:
        log.append(f"p.cancelled={p.cancelled()} w.done={w.done()}")
    log.append(f"w={await w}")
    s = asyncio.shield(w)
    log.append(f"shortcut={s is w}")


asyncio.run(shield_main())
show("test_shield_protects_the_inner_task")


# test_shield_follows_the_inner_outcome: the shield completes as the
# inner future does: cancelled, exception or result.
async def shield_outcomes_main():
    loop = asyncio.get_running_loop()
    fs = [loop.create_future() for _ in range(3)]
    ss = [asyncio.shield(f) for f in fs]
    fs[0].cancel("inner")
    fs[1].set_exception(ValueError("bad"))
    fs[2].set_result(3)
    for s in ss:
        try:
            log.append(f"ok:{await s}")
        except BaseException as e:
            log.append(f"raised:{e!r}")


asyncio.run(shield_outcomes_main())
show("test_shield_follows_the_inner_outcome")


# test_gather_return_exceptions: each child's outcome at its position:
# results, the exception objects themselves, CancelledError('') for a
# cancelled task (a cancelled future keeps its message).
async def ok(v, d):
    await asyncio.sleep(d)
    return v


async def bad(d):
    await asyncio.sleep(d)
    raise ValueError("bad")


async def gather_rx_main():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    a = asyncio.create_task(ok(1, 2))
    b = asyncio.create_task(bad(1))
    c = asyncio.create_task(ok(3, 5))
    g = asyncio.gather(a, b, c, f, return_exceptions=True)
    await asyncio.sleep(0)
    c.cancel("c")
    f.cancel("f")
    r = await g
    log.append(" ".join(repr(x) for x in r))
    log.append(f"b.retrieved={r[1] is b.exception()}")


asyncio.run(gather_rx_main())
show("test_gather_return_exceptions")


# test_cancel_gather_cancels_children: cancelling the gather cancels
# every child with the message; the gather then fails with a
# CancelledError, return_exceptions or not.
async def gather_cancel_main():
    for rx in (False, True):
        a = asyncio.create_task(sleeper("a"))
        b = asyncio.create_task(sleeper("b"))
        g = asyncio.gather(a, b, return_exceptions=rx)
        await asyncio.sleep(0)
        log.append(f"cancel={g.cancel('stop')}")
        try:
            await g
        except asyncio.CancelledError as e:
            log.append(f"gather:{e!r}")
        log.append(f"a={a.cancelled()} b={b.cancelled()}")


asyncio.run(gather_cancel_main())
show("test_cancel_gather_cancels_children")


# test_wait_return_when: FIRST_COMPLETED returns at the first done,
# FIRST_EXCEPTION at the first that raised, ALL_COMPLETED when all are;
# a timeout returns what is done by then; nothing is cancelled.
def names(fs, ts):
    return ",".join(sorted(ts[f] for f in fs)) or "-"


async def wait_main():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    a = asyncio.create_task(ok("a", 1))
    b = asyncio.create_task(bad(2))
    c = asyncio.create_task(ok("c", 3))
    ts = {a: "a", b: "b", c: "c"}
    for when in (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION,
                 asyncio.ALL_COMPLETED):
        done, pending = await asyncio.wait({a, b, c}, return_when=when)
        log.append(f"{when}:t={round(loop.time() - t0)}:done={names(done, ts)}:"
                   f"pending={names(pending, ts)}")
    d = asyncio.create_task(ok("d", 5))
    e = asyncio.create_task(ok("e", 1))
    ts = {d: "d", e: "e"}
    done, pending = await asyncio.wait({d, e}, timeout=2)
    log.append(f"timeout:t={round(loop.time() - t0)}:done={names(done, ts)}:"
               f"pending={names(pending, ts)}:d.cancelled={d.cancelled()}")
    await d


asyncio.run(wait_main())
show("test_wait_return_when")


# test_as_completed_order_and_timeout: futures come out in the order they
# complete; a failed one raises at its await; past the timeout every
# remaining one raises TimeoutError.
async def as_completed_main():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    fs = [asyncio.create_task(ok("slow", 3)), asyncio.create_task(bad(2)),
          asyncio.create_task(ok("fast", 1))]
    for c in asyncio.as_completed(fs):
        try:
            log.append(f"{await c}@{round(loop.time() - t0)}")
        except ValueError as e:
            log.append(f"{e!r}@{round(loop.time() - t0)}")
    fs = [asyncio.create_task(ok("x", 1)), asyncio.create_task(ok("y", 5))]
    for c in asyncio.as_completed(fs, timeout=2):
        try:
            log.append(f"{await c}@{round(loop.time() - t0)}")
        except TimeoutError as e:
            log.append(f"{e!r}@{round(loop.time() - t0)}")
    await fs[1]


asyncio.run(as_completed_main())
show("test_as_completed_order_and_timeout")


# test_failed_gather_cannot_be_cancelled: without return_exceptions the
# gather fails at the first exception and is done: cancelling it returns
# False and leaves the children still running alone.
async def failed_gather_main():
    a = asyncio.create_task(bad(1))
    b = asyncio.create_task(sleeper("b"))
    g = asyncio.gather(a, b)
    try:
        await g
    except ValueError as e:
        log.append(f"gather:{e!r}")
    log.append(f"cancel={g.cancel('stop')}")
    await asyncio.sleep(0)
    log.append(f"b.done={b.done()}")
    b.cancel()
    try:
        await b
    except asyncio.CancelledError as e:
        log.append(f"await:{e!r}")


asyncio.run(failed_gather_main())
show("test_failed_gather_cannot_be_cancelled")


# test_combinators_retrieve_what_they_handle: an exception a shield or a
# gather took care of is retrieved, so freeing its future reports
# nothing: the inner future of a shield cancelled in the same iteration
# (both done callbacks queued), a child of a gather with
# return_exceptions. A cancelled inner cancels the shield quietly. Only
# the task nobody looked at is reported to the handler.
def on_error(loop, context):
    log.append(f"handler:{context['message']}:{context.get('exception')!r}")


async def handled_main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(on_error)
    lost = asyncio.create_task(bad(0))
    f = loop.create_future()
    s = asyncio.shield(f)
    s.cancel()
    f.set_exception(ValueError("shielded"))
    await asyncio.sleep(0)
    log.append(f"s.cancelled={s.cancelled()}")
    g = asyncio.gather(asyncio.create_task(bad(0)), return_exceptions=True)
    log.append(f"gather={(await g)[0]!r}")
    c = asyncio.create_task(sleeper("c"))
    s2 = asyncio.shield(c)
    await asyncio.sleep(0)
    c.cancel()
    try:
        await s2
    except asyncio.CancelledError as e:
        log.append(f"shield:{e!r}")
    del lost, f, s, g, c, s2
    log.append("freed")


asyncio.run(handled_main())
show("test_combinators_retrieve_what_they_handle")


# test_as_completed_next_cancelled: a next() cancelled while it waits
# raises CancelledError and uses up its turn; the futures that complete
# meanwhile, or while nobody is in next(), wait in the queue for the
# next ones; n futures give n turns, the cancelled one among them (e is
# never taken). Times in tenths of a second.
async def ac_consumer(fs):
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    def at():
        return round((loop.time() - t0) * 10)

    it = asyncio.as_completed(fs)
    try:
        await next(it)
    except asyncio.CancelledError as e:
        log.append(f"next:{e!r}@{at()}")
    await asyncio.sleep(0.3)
    log.append(f"slept@{at()}")
    for _ in range(3):
        log.append(f"{await next(it)}@{at()}")
    await asyncio.sleep(0.3)
    log.append(f"slept@{at()}")
    for c in it:
        log.append(f"{await c}@{at()}")
    log.append("end")


async def ac_cancel_main():
    fs = [asyncio.create_task(ok(n, d))
          for n, d in (("a", 0.1), ("b", 0.2), ("c", 0.4), ("d", 0.6),
                       ("e", 0.8))]
    c = asyncio.create_task(ac_consumer(fs))
    await asyncio.sleep(0)
    c.cancel()
    await c
    await fs[4]


asyncio.run(ac_cancel_main())
show("test_as_completed_next_cancelled")
