# ch04_stream_reader.py - the stream reader: readline, readexactly, read
# (chapter 04, streams). Each block is one test of tests/ch04_streams.c,
# named in its comment; the C test expects exactly the line it prints.
# Lines are shown as len:text, with a newline as \n.
# Run: python3 ch04_stream_reader.py
import asyncio
import socket

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


def shown(data):
    return f"{len(data)}:" + data.decode().replace("\n", "\\n")


async def pair(limit=2 ** 16):
    """A stream reader on one end of a socketpair, the raw other end."""
    a, b = socket.socketpair()
    b.setblocking(False)
    r, w = await asyncio.open_connection(sock=a, limit=limit)
    return r, w, b


async def settle():
    # Let the transport read what was sent: CPython's reader is fed by
    # callbacks, corolab's reads when asked; either way it is all there.
    await asyncio.sleep(0.01)


# test_stream_readline_splits_across_reads: the lines arrive in pieces
# that do not match them; readline waits for each newline.
async def splits():
    r, w, b = await pair()

    async def feed():
        for piece in (b"hel", b"lo\nwor", b"ld\n\nla", b"st"):
            b.send(piece)
            await asyncio.sleep(0.1)
        b.shutdown(socket.SHUT_WR)

    t = asyncio.create_task(feed())
    while True:
        line = await r.readline()
        log.append(shown(line))
        if not line:
            break
    log.append(f"at_eof={r.at_eof()}")
    await t
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(splits())
show("test_stream_readline_splits_across_reads")


# test_stream_readline_at_eof: a last line without its newline comes
# back as it is; after it, b"" every time.
async def at_eof():
    r, w, b = await pair()
    b.send(b"one\ntail")
    b.shutdown(socket.SHUT_WR)
    await settle()
    for _ in range(4):
        log.append(shown(await r.readline()))
    log.append(f"at_eof={r.at_eof()}")
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(at_eof())
show("test_stream_readline_at_eof")


# test_stream_readline_over_limit: limit 16. A line of 48 bytes whose
# newline has arrived is dropped whole and the next line is returned; one
# whose newline has not arrived is dropped as far as it has come, and the
# next readline returns its rest. A line of exactly 16 bytes is fine.
# First, a line whole in the buffer that is too long for the limit
# lowered since is dropped with its newline. Last, 16 bytes without a newline yet are not over the limit. And
# readexactly after a readline gets the bytes right after the line.
async def over_limit():
    r, w, b = await pair(limit=16)
    r._limit = 2 ** 16  # the default, to begin with
    b.send(b"a\n" + b"w" * 48 + b"\nnext\n")
    await settle()
    log.append(shown(await r.readline()))
    r._limit = 16
    for _ in range(2):
        try:
            log.append(shown(await r.readline()))
        except ValueError as e:
            log.append(f"ValueError:{e}")
    b.send(b"x" * 48 + b"\nnext\n")
    await settle()
    for _ in range(2):
        try:
            log.append(shown(await r.readline()))
        except ValueError as e:
            log.append(f"ValueError:{e}")
    b.send(b"y" * 48)
    await settle()
    try:
        log.append(shown(await r.readline()))
    except ValueError as e:
        log.append(f"ValueError:{e}")
    b.send(b"yy\nnext\n" + b"z" * 16 + b"\n")
    for _ in range(3):
        log.append(shown(await r.readline()))
    b.send(b"v" * 16)
    await settle()
    asyncio.get_running_loop().call_later(0.01, b.send, b"\n")
    log.append(shown(await r.readline()))
    b.send(b"ab\ncdef")
    log.append(shown(await r.readline()))
    log.append(f"exactly:{(await r.readexactly(4)).decode()}")
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(over_limit())
show("test_stream_readline_over_limit")


# test_stream_readline_memory_bounded: a line of 4 MiB with the default
# limit, then "end". readline raises ValueError, and may return the tail
# of the long line (at most limit + 1 bytes of x and its newline) if
# that arrived after the rest was dropped: how many of each depends on
# how the bytes arrive. Then comes "end". corolab checks in addition
# that its buffer never held more than limit + 1 bytes.
async def bounded():
    r, w, b = await pair()

    async def feed():
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(b, b"x" * (4 << 20) + b"\nend\n")

    t = asyncio.create_task(feed())
    errors = 0
    tails_ok = True
    while True:
        try:
            line = await r.readline()
        except ValueError:
            errors += 1
            continue
        if line == b"end\n":
            break
        tails_ok &= line.strip(b"x") == b"\n" and len(line) <= 2 ** 16 + 1
    log.append(f"ValueError>=1={errors >= 1} tails_ok={tails_ok}")
    log.append(shown(line))
    await t
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(bounded())
show("test_stream_readline_memory_bounded")


# test_stream_readexactly_exact: exactly n bytes, whatever the pieces;
# n = 0 is b"" at once.
async def exact():
    r, w, b = await pair()

    async def feed():
        for piece in (b"abc", b"defgh", b"ijkl"):
            b.send(piece)
            await asyncio.sleep(0.1)

    t = asyncio.create_task(feed())
    for n in (4, 4, 0, 4):
        log.append(shown(await r.readexactly(n)))
    await t
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(exact())
show("test_stream_readexactly_exact")


# test_stream_readexactly_incomplete: EOF after 2 of 5 bytes raises
# IncompleteReadError, an EOFError, with the 2 bytes as partial; the
# reader is then at EOF.
async def incomplete():
    r, w, b = await pair()
    b.send(b"xy")
    b.shutdown(socket.SHUT_WR)
    try:
        await r.readexactly(5)
    except asyncio.IncompleteReadError as e:
        log.append(f"{type(e).__name__}:{e}")
        log.append(f"isinstance(EOFError)={isinstance(e, EOFError)}")
        log.append(f"partial={shown(e.partial)} expected={e.expected}")
    log.append(shown(await r.read(10)))
    log.append(f"at_eof={r.at_eof()}")
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(incomplete())
show("test_stream_readexactly_incomplete")


# test_stream_read_n_and_all: read(n) returns what there is, up to n,
# without waiting for n; read(0) is b""; read(-1) reads to EOF.
async def read_n():
    r, w, b = await pair()
    b.send(b"5\nabcde")
    await settle()
    log.append(shown(await r.readline()))
    log.append(shown(await r.read(3)))
    log.append(shown(await r.read(0)))
    log.append(shown(await r.read(100)))
    total = 200000

    async def feed():
        loop = asyncio.get_running_loop()
        for i in range(10):
            await loop.sock_sendall(b, bytes([65 + i]) * (total // 10))
            await asyncio.sleep(0.1)
        b.shutdown(socket.SHUT_WR)

    t = asyncio.create_task(feed())
    data = await r.read()
    ok = data == b"".join(bytes([65 + i]) * (total // 10) for i in range(10))
    log.append(f"read(-1)={len(data)} same={ok}")
    log.append(f"at_eof={r.at_eof()}")
    await t
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(read_n())
show("test_stream_read_n_and_all")


# test_stream_one_read_waits_at_a_time: a second read while one waits is
# refused; once the first is cancelled, reading is allowed again. A read
# cancelled after the loop read the bytes for it (the task woken, not yet
# resumed) leaves them to the next read: no byte is lost.
async def one_waiter():
    r, w, b = await pair()
    t = asyncio.create_task(r.read(100))
    await asyncio.sleep(0)
    try:
        await r.read(100)
    except RuntimeError as e:
        log.append(f"RuntimeError:{e}")
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append("CancelledError:")
    b.send(b"hello")
    log.append(shown(await r.read(100)))
    t = asyncio.create_task(r.read(100))
    await asyncio.sleep(0)
    b.send(b"world")
    await asyncio.sleep(0)  # the loop polls and reads "world" for t,
    await asyncio.sleep(0)  # and t is woken, to run after us
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append("CancelledError:")
    log.append(shown(await r.read(100)))
    w.close()
    await w.wait_closed()
    b.close()


asyncio.run(one_waiter())
show("test_stream_one_read_waits_at_a_time")
