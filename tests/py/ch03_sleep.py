# ch03_sleep.py - sleep(0), sleep(d) and time (chapter 03, section 6).
# Each block is one test of tests/ch03_scheduler.c, named in its comment;
# the C test expects exactly the line it prints. The C tests run on the
# virtual clock, which reads exactly 0.000 at the start and jumps from
# deadline to deadline; here the clock is real, so times are rounded.
# Run: python3 ch03_sleep.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_sleep0_ping_pong: sleep(0) is a bare yield: the task goes to the
# back of the ready queue and runs again at the next iteration. Two tasks
# alternate step for step.
async def player(name, n):
    for i in range(n):
        log.append(f"{name}{i}")
        await asyncio.sleep(0)


async def ping_pong():
    a = asyncio.create_task(player("ping", 3))
    b = asyncio.create_task(player("pong", 3))
    await a
    await b


asyncio.run(ping_pong())
show("test_sleep0_ping_pong")


# test_sleep0_is_one_iteration: against a callback that re-queues itself
# once per iteration, a task doing sleep(0) advances exactly one step per
# iteration too.
async def one_iteration():
    loop = asyncio.get_running_loop()

    def spin(n):
        log.append(f"s{n}")
        if n < 3:
            loop.call_soon(spin, n + 1)

    loop.call_soon(spin, 0)
    for i in range(3):
        await asyncio.sleep(0)
        log.append(f"m{i}")


asyncio.run(one_iteration())
show("test_sleep0_is_one_iteration")


# test_sleepers_wake_in_deadline_order: tasks sleeping 3, 1 and 2 seconds
# run concurrently and wake in deadline order; the whole run takes 3 s.
async def sleeper(name, d, t0):
    loop = asyncio.get_running_loop()
    await asyncio.sleep(d)
    log.append(f"{name}@{loop.time() - t0:.0f}")


async def sleepers():
    t0 = asyncio.get_running_loop().time()
    ts = [asyncio.create_task(sleeper(n, d, t0))
          for n, d in (("three", 3), ("one", 1), ("two", 2))]
    for t in ts:
        await t
    log.append(f"total@{asyncio.get_running_loop().time() - t0:.0f}")


asyncio.run(sleepers())
show("test_sleepers_wake_in_deadline_order")
