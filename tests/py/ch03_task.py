# ch03_task.py - tasks driving coroutines (chapter 03, section 5). Each
# block is one test of tests/ch03_scheduler.c, named in its comment; the
# C test expects exactly the line it prints.
# Run: python3 ch03_task.py
import asyncio
import types

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_current_task_and_all_tasks: current_task is the task whose step is
# running; all_tasks holds the tasks not done yet, the running one
# included. Outside a loop there is no current task (Python raises
# RuntimeError "no running event loop"; cl_current_task returns NULL).
# This block comes first so that its main task is the process's first,
# Task-1: CPython numbers task names per process, corolab per loop.
async def sleeper():
    log.append(f"in={asyncio.current_task().get_name()}")
    await asyncio.sleep(1)


async def current():
    log.append(f"main={asyncio.current_task().get_name()}")
    t1 = asyncio.create_task(sleeper(), name="s1")
    t2 = asyncio.create_task(sleeper(), name="s2")
    log.append(f"all={len(asyncio.all_tasks())}")
    await t1
    await t2
    log.append(f"all={len(asyncio.all_tasks())}")


asyncio.run(current())
try:
    asyncio.current_task()
except RuntimeError as e:
    log.append(f"outside:{e}")
show("test_current_task_and_all_tasks")


# test_create_task_does_not_run_it: create_task only schedules the first
# step; tasks start in creation order, after the creator yields.
async def child(name):
    log.append(name)


async def create():
    asyncio.create_task(child("one"))
    asyncio.create_task(child("two"))
    log.append("created")
    await asyncio.sleep(0)
    log.append("main")


asyncio.run(create())
show("test_create_task_does_not_run_it")


# test_task_result_is_return_value: awaiting a task is awaiting its
# future: the coroutine's return value comes out of the await.
async def double(n):
    await asyncio.sleep(0)
    return 2 * n


async def result():
    t = asyncio.create_task(double(21))
    v = await t
    log.append(f"got={v} done={t.done()} result={t.result()}")


asyncio.run(result())
show("test_task_result_is_return_value")


# test_await_raises_at_the_await_point: a future's exception is raised in
# the awaiting coroutine, where it awaits; so is a task's.
async def fails():
    await asyncio.sleep(0)
    raise ValueError("from child")


async def at_await():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(fut.set_exception, KeyError("k"))
    try:
        await fut
        log.append("not reached")
    except KeyError:
        log.append("caught KeyError")
    try:
        await asyncio.create_task(fails())
    except ValueError as e:
        log.append(f"caught ValueError:{e}")


asyncio.run(at_await())
show("test_await_raises_at_the_await_point")


# test_await_done_future_does_not_yield: awaiting a future that is
# already done returns its result at once; the task is not suspended, so
# a task created before runs only at the next real suspension.
async def other():
    log.append("other")


async def done_await():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.set_result(1)
    asyncio.create_task(other())
    v = await fut
    log.append(f"got={v}")
    await asyncio.sleep(0)
    log.append("main")


asyncio.run(done_await())
show("test_await_done_future_does_not_yield")


# test_waiters_wake_in_await_order: two tasks await one future; the one
# that awaited first is woken first, and set_result does not switch to
# them: the setter goes on until it suspends.
async def waiter(name, fut):
    log.append(f"{name}-waits")
    v = await fut
    log.append(f"{name}-got={v}")


async def wake_order():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    a = asyncio.create_task(waiter("a", fut))
    b = asyncio.create_task(waiter("b", fut))
    await asyncio.sleep(0)
    fut.set_result(7)
    log.append("set")
    await a
    await b
    log.append("main")


asyncio.run(wake_order())
show("test_waiters_wake_in_await_order")


# test_cancel_task_raises_at_await: cancelling a task that waits throws
# CancelledError in at its await; a task that lets it out is cancelled.
async def victim(fut):
    try:
        await fut
    except asyncio.CancelledError:
        log.append("victim-cancelled")
        raise


async def cancel():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    t = asyncio.create_task(victim(fut))
    await asyncio.sleep(0)
    log.append(f"cancel={t.cancel()}")
    log.append(f"fut-cancelled={fut.cancelled()}")
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"task-cancelled={t.cancelled()}")


asyncio.run(cancel())
show("test_cancel_task_raises_at_await")


# test_task_throws_what_the_future_ended_with: a coroutine that yields a
# future itself (what Future.__await__ does inside an await) is resumed
# by the task's __wakeup: with send(None) when the future has a result
# (the result stays in the future for __await__ to read), with
# throw(exc) when it has an exception, which the coroutine catches at
# its yield; a cancelled future throws CancelledError in.
@types.coroutine
def raw_wait(fut):
    fut._asyncio_future_blocking = True
    try:
        r = yield fut
        log.append(f"sent:{r}")
    except asyncio.CancelledError:
        log.append("thrown:CancelledError")
    except ValueError as e:
        log.append(f"thrown:ValueError:{e}")


async def raw():
    loop = asyncio.get_running_loop()
    ok, bad, gone = (loop.create_future() for _ in range(3))
    loop.call_soon(ok.set_result, 7)
    await raw_wait(ok)
    loop.call_soon(bad.set_exception, ValueError("boom"))
    await raw_wait(bad)
    loop.call_soon(gone.cancel)
    await raw_wait(gone)


asyncio.run(raw())
show("test_task_throws_what_the_future_ended_with")


# test_task_refuses_bad_awaits: a coroutine that yields its own task's
# future, or a future of another loop, gets a RuntimeError thrown in at
# that yield at its next step, and goes on. (The messages go on with the
# reprs of the task and the future, which corolab writes as names and
# ids: both sides print the words before them.) Nothing is reported
# after: the task did not stay behind as a waiter of either future.
async def bad_awaits_task():
    me = asyncio.current_task()
    other = asyncio.new_event_loop()
    for fut in (me, other.create_future()):
        try:
            await raw_yield(fut)
            log.append("no error")
        except RuntimeError as e:
            msg = str(e)
            log.append("RuntimeError:" + (
                msg.split(":")[0] if "itself" in msg else
                f"different-loop={msg.endswith('attached to a different loop')}"))
    await asyncio.sleep(0)
    log.append("goes-on")
    other.close()


async def bad_awaits():
    loop = asyncio.get_running_loop()
    reported = []
    loop.set_exception_handler(lambda loop, ctx: reported.append(ctx))
    await asyncio.create_task(bad_awaits_task(), name="bad")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append(f"reported={bool(reported)}")


@types.coroutine
def raw_yield(fut):
    fut._asyncio_future_blocking = True
    yield fut


asyncio.run(bad_awaits())
show("test_task_refuses_bad_awaits")


# test_cancel_running_task_once: a task that cancels itself while it
# runs gets one CancelledError, at its next suspension (here a bare
# sleep(0)); once it has caught it, the next sleep(0) is an ordinary one.
# A task that cancels itself and returns at once ends cancelled: its
# return value is lost. A task cancelled after the future it awaits has
# failed, before it could run, gets the CancelledError, not the failure.
async def quitter():
    asyncio.current_task().cancel()
    return 5


async def cancel_self():
    asyncio.current_task().cancel()
    log.append("cancel-requested")
    try:
        await asyncio.sleep(0)
        log.append("no error")
    except asyncio.CancelledError:
        log.append("cancelled")
    await asyncio.sleep(0)
    log.append("again-ok")
    t = asyncio.create_task(quitter(), name="quitter")
    try:
        log.append(f"awaited:{await t}")
    except asyncio.CancelledError as e:
        log.append(f"quitter:{type(e).__name__} cancelled={t.cancelled()}")
    f = asyncio.get_running_loop().create_future()
    t = asyncio.create_task(fails_waiter(f), name="waiter")
    await asyncio.sleep(0)
    f.set_exception(ValueError("lost"))
    log.append(f"cancel={t.cancel()}")
    await t


async def fails_waiter(f):
    try:
        await f
        log.append("waiter:no error")
    except BaseException as e:
        log.append(f"waiter:{type(e).__name__}")


asyncio.run(cancel_self())
show("test_cancel_running_task_once")
