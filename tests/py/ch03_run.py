# ch03_run.py - run(), the one entry point (chapter 03, section 7). Each
# block is one test of tests/ch03_scheduler.c, named in its comment; the
# C test expects exactly the line it prints.
# Run: python3 ch03_run.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_run_returns_main_value: run() returns what main returns; an
# exception out of main comes out of run().
async def answer():
    await asyncio.sleep(0)
    return 42


async def raises():
    await asyncio.sleep(0)
    raise ValueError("from main")


log.append(f"value={asyncio.run(answer())}")
try:
    asyncio.run(raises())
except ValueError as e:
    log.append(f"raised:ValueError:{e}")
show("test_run_returns_main_value")


# test_nested_run_is_an_error: run() inside a running loop refuses, with
# a RuntimeError naming the problem; the outer run goes on. (corolab's
# message says cl_run() where CPython's says asyncio.run().)
async def inner():
    return 1


async def nested():
    coro = inner()
    try:
        asyncio.run(coro)
    except RuntimeError as e:
        log.append(f"RuntimeError:{e}")
    coro.close()
    return 7


log.append(f"outer={asyncio.run(nested())}")
show("test_nested_run_is_an_error")


# test_run_cancels_leftover_tasks: when main returns, the tasks still
# pending are cancelled (CancelledError at their await) and run to
# their end before run() returns.
async def lingering():
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.append("child-cancelled")
        raise


async def leaves_child():
    asyncio.create_task(lingering())
    await asyncio.sleep(0)
    log.append("main-returns")
    return 1


log.append(f"value={asyncio.run(leaves_child())}")
show("test_run_cancels_leftover_tasks")
