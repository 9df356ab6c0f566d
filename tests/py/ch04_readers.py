# ch04_readers.py - add_reader, add_writer and the loop's iteration
# (chapter 04, sections 1 and 2). Each block is one test of
# tests/ch04_sockets.c, named in its comment; the C test expects exactly
# the line it prints. Run: python3 ch04_readers.py
import asyncio
import socket

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


# test_add_reader_fires_when_data_arrives: nothing happens while the
# socket is idle; once data is written, the reader runs at the next
# iteration (the one that polls after the write), behind main's step,
# which sleep(0) queued before the poll. The reader reads, removes
# itself and completes the future main awaits.
async def fires():
    loop = asyncio.get_running_loop()
    a, b = pair()
    fut = loop.create_future()

    def on_data():
        log.append("data:" + a.recv(100).decode())
        log.append(str(loop.remove_reader(a)))
        fut.set_result(None)

    loop.add_reader(a, on_data)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append("idle")
    b.send(b"hi")
    await asyncio.sleep(0)
    log.append("main")
    await fut
    log.append("woken")
    a.close()
    b.close()


asyncio.run(fires())
show("test_add_reader_fires_when_data_arrives")


# test_fd_callbacks_join_the_ready_queue: in one iteration, the fd
# callbacks run after the callbacks that were queued before the poll
# (call_soon, the task's next step) and before the timers that came due.
async def order():
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"x")

    def reader():
        log.append("reader")
        loop.remove_reader(a)

    loop.call_soon(log.append, "soon")
    loop.call_later(0, log.append, "timer")
    loop.add_reader(a, reader)
    log.append("main")
    await asyncio.sleep(0)
    log.append("main-again")
    await asyncio.sleep(0)
    log.append("main-3")
    a.close()
    b.close()


asyncio.run(order())
show("test_fd_callbacks_join_the_ready_queue")


# test_add_reader_replaces_callback: a second add_reader replaces the
# first callback. remove_reader says whether there was one. The reader
# queued by the poll of the iteration in which main removes it does not
# run: removing cancels it.
async def replace():
    loop = asyncio.get_running_loop()
    a, b = pair()
    loop.add_reader(a, log.append, "first")
    loop.add_reader(a, log.append, "second")
    b.send(b"x")
    await asyncio.sleep(0)
    log.append("main")
    await asyncio.sleep(0)
    log.append(str(loop.remove_reader(a)))
    log.append(str(loop.remove_reader(a)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append("end")
    a.close()
    b.close()


asyncio.run(replace())
show("test_add_reader_replaces_callback")


# test_level_triggered_fires_again: a reader that takes one byte of three
# is called again at each iteration while data is left: level-triggered.
async def level():
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"abc")

    def cb():
        d = a.recv(1)
        log.append(d.decode())
        if d == b"c":
            log.append(str(loop.remove_reader(a)))

    loop.add_reader(a, cb)
    for _ in range(6):
        await asyncio.sleep(0)
    log.append("end")
    a.close()
    b.close()


asyncio.run(level())
show("test_level_triggered_fires_again")


# test_add_writer_fires_when_writable: an fd ready both ways runs its
# reader first, then its writer, in the same iteration.
async def rw():
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"x")

    def writer():
        log.append("writer")
        loop.remove_writer(a)

    def reader():
        log.append("reader")
        a.recv(1)
        loop.remove_reader(a)

    loop.add_writer(a, writer)
    loop.add_reader(a, reader)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append("end")
    a.close()
    b.close()


asyncio.run(rw())
show("test_add_writer_fires_when_writable")


# test_removing_a_queued_callback_cancels_it: the reader runs first and
# removes the writer, which was queued in the same iteration: it does not
# run. Then the reader replaces a queued writer: only the new one runs,
# at the next iteration.
async def cancel_queued():
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"xy")
    loop.add_writer(a, log.append, "writer")

    def reader():
        log.append("reader")
        a.recv(1)
        log.append(str(loop.remove_writer(a)))
        loop.remove_reader(a)

    loop.add_reader(a, reader)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append(str(loop.remove_writer(a)))

    def new_writer():
        log.append("new-writer")
        loop.remove_writer(a)

    def reader2():
        log.append("reader2")
        a.recv(1)
        loop.add_writer(a, new_writer)
        loop.remove_reader(a)

    loop.add_writer(a, log.append, "old-writer")
    loop.add_reader(a, reader2)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append("end")
    a.close()
    b.close()


asyncio.run(cancel_queued())
show("test_removing_a_queued_callback_cancels_it")
