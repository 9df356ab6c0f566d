# ch03_future.py - futures and their done callbacks (chapter 03, section
# 4). Each block is one test of tests/ch03_scheduler.c, named in its
# comment; the C test expects exactly the line it prints.
# Run: python3 ch03_future.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_done_callbacks_are_scheduled_in_order: set_result does not call
# the callbacks; it queues them with call_soon, in registration order.
async def callbacks():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    for n in ("1", "2", "3"):
        fut.add_done_callback(lambda f, n=n: log.append(f"cb{n}={f.result()}"))
    fut.set_result(42)
    log.append("set")
    await asyncio.sleep(0)
    log.append("main")


asyncio.run(callbacks())
show("test_done_callbacks_are_scheduled_in_order")


# test_callback_added_to_done_future_is_scheduled: adding a callback to a
# future that is already done queues it at once; it still does not run
# inside add_done_callback.
async def late():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.set_result(1)
    fut.add_done_callback(lambda f: log.append("late"))
    log.append("added")
    await asyncio.sleep(0)
    log.append("main")


asyncio.run(late())
show("test_callback_added_to_done_future_is_scheduled")


# test_future_states: result() of a pending future, a second set_result
# and a second set_exception are InvalidStateError; set_exception makes result() raise;
# cancel() works once, on a pending future only, and its callbacks run.
async def states():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    try:
        fut.result()
    except asyncio.InvalidStateError as e:
        log.append(f"pending:InvalidStateError:{e}")
    fut.set_result(1)
    try:
        fut.set_result(2)
    except asyncio.InvalidStateError as e:
        log.append(f"again:InvalidStateError:{e}")
    log.append(f"result={fut.result()}")

    bad = loop.create_future()
    bad.set_exception(ValueError("boom"))
    try:
        bad.set_exception(ValueError("again"))
    except asyncio.InvalidStateError as e:
        log.append(f"exc-again:InvalidStateError:{e}")
    try:
        bad.result()
    except ValueError as e:
        log.append(f"exc:ValueError:{e}")

    c = loop.create_future()
    c.add_done_callback(lambda f: log.append(f"cb-cancelled={f.cancelled()}"))
    log.append(f"cancel={c.cancel()}")
    log.append(f"cancel-again={c.cancel()}")
    log.append(f"done-cancel={fut.cancel()}")
    try:
        c.result()
    except asyncio.CancelledError:
        log.append("result:CancelledError")
    await asyncio.sleep(0)


asyncio.run(states())
show("test_future_states")


# test_queued_callback_keeps_its_future: the creator drops its reference
# right after set_result; the queued callback still gets the future (the
# loop's Handle holds it). The C test also checks the reference counts.
async def keeps():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.add_done_callback(lambda f: log.append(f"cb={f.result()}"))
    fut.set_result(5)
    del fut
    await asyncio.sleep(0)
    log.append("main")


asyncio.run(keeps())
show("test_queued_callback_keeps_its_future")
