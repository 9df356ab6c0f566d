# ch03_gather.py - gather (chapter 03, section 8). Each block is one test
# of tests/ch03_scheduler.c, named in its comment; the C test expects
# exactly the line it prints. The rest of gather (return_exceptions,
# cancelling it) is chapter 05's.
# Run: python3 ch03_gather.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


async def work(name, d, value):
    await asyncio.sleep(d)
    log.append(name)
    return value


# test_gather_results_in_argument_order: the children finish b, c, a;
# the results come back in the order the children were given.
async def order():
    ta = asyncio.create_task(work("a", 3, "A"))
    tb = asyncio.create_task(work("b", 1, "B"))
    tc = asyncio.create_task(work("c", 2, "C"))
    results = await asyncio.gather(ta, tb, tc)
    log.append("results=" + ",".join(results))
    empty = await asyncio.gather()
    log.append(f"empty={len(empty)}")


asyncio.run(order())
show("test_gather_results_in_argument_order")


# test_gather_first_exception_propagates: the first child to fail fails
# the gather at once, with that child's exception; the other children
# are not cancelled and run to their end.
async def bad(d):
    await asyncio.sleep(d)
    raise ValueError("boom")


async def failing():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ta = asyncio.create_task(work("a", 2, "A"))
    tb = asyncio.create_task(bad(1))
    tc = asyncio.create_task(work("c", 3, "C"))
    try:
        await asyncio.gather(ta, tb, tc)
    except ValueError as e:
        log.append(f"caught:{e}@{loop.time() - t0:.0f}")
    log.append(f"a-done={ta.done()}")
    await ta
    await tc
    log.append(f"end@{loop.time() - t0:.0f}")


asyncio.run(failing())
show("test_gather_first_exception_propagates")
