# ch04_stream_writer.py - the stream writer: write, drain and the water
# marks, close and wait_closed (chapter 04, streams). Each block is one
# test of tests/ch04_streams.c, named in its comment; the C test expects
# exactly the line it prints.
# Run: python3 ch04_stream_writer.py
import asyncio
import socket

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


async def pair():
    """Streams on both ends of a socketpair with small kernel buffers, so
    that the writer's own buffer is what fills up."""
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    r1, w1 = await asyncio.open_connection(sock=a)
    r2, w2 = await asyncio.open_connection(sock=b)
    return r1, w1, r2, w2


# test_stream_drain_water_marks: the limits and their defaults; drain()
# with the buffer at or below high returns without yielding; above high
# it waits, while a slow reader takes 1000 bytes an iteration, and comes
# back only once the buffer is down to low: the reader saw it between
# low and high, drain still waiting. (CPython writes the whole buffer at
# every writable event; with 4 KiB kernel buffers it still goes down a
# little at a time.)
async def water_marks():
    _, w, r, w2 = await pair()
    tr = w.transport
    log.append("limits=%d,%d" % tr.get_write_buffer_limits()[::-1])
    tr.set_write_buffer_limits(low=1000)
    log.append("limits=%d,%d" % tr.get_write_buffer_limits()[::-1])
    try:
        tr.set_write_buffer_limits(high=1, low=2)
    except ValueError as e:
        log.append(f"ValueError:{e}")
    tr.set_write_buffer_limits(high=8192, low=2048)
    log.append("limits=%d,%d" % tr.get_write_buffer_limits()[::-1])

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    w.write(b"a" * 1000)
    t0 = ticks
    await w.drain()
    log.append(f"small-drain-yielded={ticks - t0}")
    await r.readexactly(1000)

    total = 200000
    draining = True
    between = False
    got = bytearray()

    async def slow_reader():
        nonlocal between
        while len(got) < total:
            got.extend(await r.readexactly(1000))
            size = tr.get_write_buffer_size()
            if draining and 2048 < size <= 8192:
                between = True
            await asyncio.sleep(0)

    reader = asyncio.create_task(slow_reader())
    w.write(b"b" * total)
    log.append(f"above-high={tr.get_write_buffer_size() > 8192}")
    await w.drain()
    draining = False
    log.append(f"drain-returned-at-or-below-low="
               f"{tr.get_write_buffer_size() <= 2048}")
    log.append(f"waited-between-low-and-high={between}")
    await reader
    log.append(f"received={len(got)} same={got == b'b' * total}")
    tick.cancel()
    for x in (w, w2):
        x.close()
        await x.wait_closed()


asyncio.run(water_marks())
show("test_stream_drain_water_marks")


# test_stream_close_flushes_then_closes: close() with 1 MB still
# buffered: is_closing() at once, the data is all sent before the socket
# closes, wait_closed() returns then; the peer reads it all, then EOF. A
# write after close() is dropped without error and drain() raises
# ConnectionResetError. (Shown on the peer's writer, closed with nothing
# buffered: CPython 3.11 crashes on a write to a transport that close()
# flushed and closed, a bug; corolab drops it too.)
async def close_flushes():
    _, w, r, w2 = await pair()
    total = 1 << 20
    w.write(b"c" * total)
    w.close()
    log.append(f"is_closing={w.is_closing()}")
    data = bytearray()

    async def read_all():
        data.extend(await r.readexactly(total))
        data.extend(await r.readline())

    reader = asyncio.create_task(read_all())
    await w.wait_closed()
    log.append("closed")
    await reader
    log.append(f"received={len(data)} same={data == b'c' * total}")
    log.append(f"at_eof={r.at_eof()}")
    w2.close()
    w2.write(b"late")
    log.append("write-after-close-ok")
    try:
        await w2.drain()
    except ConnectionResetError as e:
        log.append(f"ConnectionResetError:{e}")
    await w2.wait_closed()


asyncio.run(close_flushes())
show("test_stream_close_flushes_then_closes")
