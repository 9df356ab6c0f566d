# ch04_transport.py - transports and protocols, asyncio's callback layer:
# the order of the callbacks, the write buffer and its water marks,
# close, abort, half-close, pause_reading, a protocol that raises, a
# peer that resets, BufferedProtocol (chapter 04, transports). Each block
# is one test of the C transport tests, named in its comment; the C test
# expects exactly the line it prints. Limits are shown high,low, as in
# ch04_stream_writer.py; an exception as Type:message.
# Run: python3 ch04_transport.py
import asyncio
import selectors
import socket
import struct

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


def exc_name(exc):
    return "None" if exc is None else f"{type(exc).__name__}:{exc}"


def limits(tr):
    return "limits=%d,%d" % tr.get_write_buffer_limits()[::-1]


def small_pair():
    """A socketpair with 4 KiB kernel buffers, so that the transport's
    own write buffer is what fills up; B, the raw end, non-blocking."""
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b.setblocking(False)
    return a, b


class Logged(asyncio.Protocol):
    """Logs every callback, each as its name (data as data:n:text), and
    sets self.lost_fut with connection_lost's argument (after calling
    self.on_lost(), a hook)."""

    def __init__(self, prefix=""):
        self.p = prefix
        self.t = None
        self.data = bytearray()
        self.calls = 0
        self.lost_fut = asyncio.get_running_loop().create_future()

    def connection_made(self, t):
        self.t = t
        log.append(f"{self.p}made")

    def data_received(self, data):
        self.calls += 1
        self.data.extend(data)
        log.append(f"{self.p}data:{len(data)}:{data.decode()}")

    def eof_received(self):
        log.append(f"{self.p}eof")
        return None

    def pause_writing(self):
        log.append(f"{self.p}pause")

    def resume_writing(self):
        log.append(f"{self.p}resume")

    def connection_lost(self, exc):
        log.append(f"{self.p}lost:{exc_name(exc)}")
        self.on_lost()
        self.lost_fut.set_result(exc)

    def on_lost(self):
        pass


async def accepted(proto, sock):
    loop = asyncio.get_running_loop()
    t, p = await loop.connect_accepted_socket(lambda: proto, sock=sock)
    return t


async def read_all(b, chunk=1000, into=None):
    """Everything from raw end B, chunk bytes at a time, to EOF."""
    loop = asyncio.get_running_loop()
    got = bytearray() if into is None else into
    while True:
        data = await loop.sock_recv(b, chunk)
        if not data:
            return got
        got.extend(data)


# test_transport_callbacks_in_order: a TCP echo server and a client,
# both sides logging into one list. The connect is in progress when one
# wakeup reports the listener readable and the client writable; the
# accept, handled first, creates the server's transport in the next
# iteration just before create_connection resumes to create the
# client's, so s.made runs before c.made. The client writes "hello" in
# two pieces with writelines, which joins them into one write. The
# server reads "hello" and the EOF in two readiness events and echoes;
# its eof_received returning False closes it, connection_lost an
# iteration later, is_closing() True in it. The client gets the echo,
# then the EOF the server's close sent, and closes. (s.eof and c.data come from one wakeup: CPython's
# epoll and poll selectors list the server's socket first, select(2)
# the client's, which puts c.data before s.eof.)
async def callbacks_in_order():
    loop = asyncio.get_running_loop()

    class Server(Logged):
        def connection_made(self, t):
            super().connection_made(t)
            peer = t.get_extra_info("peername")
            log.append(f"peer={isinstance(peer, tuple) and len(peer) == 2}")

        def data_received(self, data):
            super().data_received(data)
            self.t.write(data)

        def eof_received(self):
            super().eof_received()
            return False

        def connection_lost(self, exc):
            super().connection_lost(exc)
            log.append(f"closing={self.t.is_closing()}")

    srv = await loop.create_server(lambda: Server("s."), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    t, c = await loop.create_connection(lambda: Logged("c."),
                                        "127.0.0.1", port)
    t.writelines([b"hel", b"lo"])
    t.write_eof()
    await c.lost_fut
    srv.close()
    await srv.wait_closed()


asyncio.run(callbacks_in_order())
show("test_transport_callbacks_in_order")


# test_transport_write_buffers_and_water_marks: 200000 bytes written in
# one call, limits 8192,2048. write() sends what the kernel takes and
# buffers the rest; pause_writing comes inside write() itself. While B
# reads 1000 bytes at a time, the transport sends at every writable
# event; resume_writing comes once, with the buffer at or below low.
async def water_marks():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    tr.set_write_buffer_limits(high=8192, low=2048)
    log.append(limits(tr))
    pauses = resumes = 0

    def pause_writing():
        nonlocal pauses
        pauses += 1
        log.append("pause")

    def resume_writing():
        nonlocal resumes
        resumes += 1
        log.append(f"resume:size<=low={tr.get_write_buffer_size() <= 2048}")

    p.pause_writing = pause_writing
    p.resume_writing = resume_writing
    total = 200000
    tr.write(b"w" * total)
    log.append(f"size>high={tr.get_write_buffer_size() > 8192}")
    log.append(f"pauses={pauses}")
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < total:
        got.extend(await loop.sock_recv(b, 1000))
    log.append(f"pauses={pauses} resumes={resumes}")
    log.append(f"received={len(got)} same={got == b'w' * total}")
    log.append(f"size={tr.get_write_buffer_size()}")
    tr.close()
    await p.lost_fut
    b.close()


asyncio.run(water_marks())
show("test_transport_write_buffers_and_water_marks")


# test_transport_close_flushes_then_loses: close() with 1 MiB buffered
# is at once is_closing(), but the buffer is still sent. A write after
# such a close() is not an error and is not dropped: with the buffer
# non-empty it is appended and sent too (B gets 1 MiB + "late").
# pause_writing comes inside the first write(), resume_writing once the
# buffer is down to low; connection_lost(None) right when the last bytes
# go to the kernel, called from the write callback itself: before B has
# read them all, so before B sees EOF. write() after write_eof() raises
# RuntimeError.
async def close_flushes():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    total = 1 << 20
    tr.write(b"c" * total)
    tr.close()
    log.append(f"is_closing={tr.is_closing()}")
    try:
        tr.write(b"late")
        log.append("late-write-ok")
    except Exception as e:
        log.append(exc_name(e))
    got = bytearray()
    p.on_lost = lambda: log.append(f"peer-had-all={len(got) == total + 4}")
    await read_all(b, into=got)
    log.append("eof-at-peer")
    log.append(f"received={len(got)} same={got == b'c' * total + b'late'}")
    b.close()

    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    tr.write_eof()
    try:
        tr.write(b"x")
    except RuntimeError as e:
        log.append(exc_name(e))
    log.append(f"peer:{(await read_all(b)).decode()}eof")
    tr.close()
    await p.lost_fut
    b.close()


asyncio.run(close_flushes())
show("test_transport_close_flushes_then_loses")


# test_transport_write_eof_waits_for_the_buffer: write_eof() with 200000
# bytes buffered does not shut the socket down at once: the buffer is
# sent first, and B sees EOF only after the last byte. The transport
# still reads: what B sends then arrives, and B's EOF ends it.
async def write_eof_waits():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    total = 200000
    tr.write(b"e" * total)
    tr.write_eof()
    log.append(f"buffered={tr.get_write_buffer_size() > 0}")
    got = await read_all(b)
    log.append(f"eof-at-peer received={len(got)}")
    b.send(b"back")
    b.close()
    await p.lost_fut


asyncio.run(write_eof_waits())
show("test_transport_write_eof_waits_for_the_buffer")


# test_transport_water_marks_at_zero: with high = low = 0, an empty
# buffer is not above high (set_write_buffer_limits checks, and does not
# pause); any byte buffered is, so the write pauses; an empty buffer is
# at low again, so the last send resumes, and the transport stops
# watching for room once nothing is left to send.
async def water_marks_at_zero():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    loop = asyncio.get_running_loop()
    tr.set_write_buffer_limits(high=0, low=0)
    log.append(limits(tr))
    p.resume_writing = lambda: log.append(
        f"resume:size={tr.get_write_buffer_size()}")
    total = 100000
    tr.write(b"z" * total)
    got = bytearray()
    while len(got) < total:
        got.extend(await loop.sock_recv(b, 1000))
    await asyncio.sleep(0)
    key = loop._selector.get_map().get(a.fileno())
    log.append(f"received={len(got)} "
               f"writing={bool(key and key.events & selectors.EVENT_WRITE)}")
    tr.close()
    await p.lost_fut
    b.close()


asyncio.run(water_marks_at_zero())
show("test_transport_water_marks_at_zero")


# test_transport_write_fails_for_good: B is closed before the transport
# has read its EOF, and write() finds out on its first send: a fatal
# error, right inside write(): closing, nothing buffered, and
# connection_lost gets the BrokenPipeError (an OSError: not reported).
# After abort(), a write() is dropped: B gets nothing but EOF, though
# the socket is still open until connection_lost. Last, with reading
# paused and the buffer above high (paused), B is closed: the send of the
# write callback fails for good, the buffer is dropped, and the protocol
# hears of it from connection_lost alone (no resume_writing).
async def write_fails():
    loop = asyncio.get_running_loop()
    called = []
    loop.set_exception_handler(lambda loop, ctx: called.append(ctx))
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    b.close()
    tr.write(b"x")
    log.append(f"is_closing={tr.is_closing()} "
               f"size={tr.get_write_buffer_size()}")
    await p.lost_fut
    log.append(f"handler-called={bool(called)}")

    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    tr.abort()
    tr.write(b"late")
    log.append(f"peer:{(await read_all(b)).decode()}eof")
    b.close()

    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    tr.set_write_buffer_limits(high=8192, low=2048)
    tr.pause_reading()
    tr.write(b"p" * 100000)
    b.close()
    await p.lost_fut
    log.append(f"size={tr.get_write_buffer_size()} "
               f"handler-called={bool(called)}")


asyncio.run(write_fails())
show("test_transport_write_fails_for_good")


# test_transport_flow_callbacks_may_write: pause_writing and
# resume_writing may write themselves. The transport marks the protocol
# paused before it calls pause_writing, so a write from there does not
# pause it again; and unpaused before resume_writing, so a write from
# there that goes above high pauses it again at once.
async def flow_writes():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    loop = asyncio.get_running_loop()
    tr.set_write_buffer_limits(high=8192, low=2048)
    sent = 0

    def write(n):
        nonlocal sent
        tr.write(b"f" * n)
        sent += n

    def pause_writing():
        log.append("pause")
        write(10)

    def resume_writing():
        log.append("resume")
        if sent < 100000:
            write(50000)

    p.pause_writing = pause_writing
    p.resume_writing = resume_writing
    write(50000)
    got = bytearray()
    while len(got) < sent or tr.get_write_buffer_size():
        got.extend(await loop.sock_recv(b, 1000))
    log.append(f"received={len(got)} sent={sent}")
    tr.close()
    await p.lost_fut
    b.close()


asyncio.run(flow_writes())
show("test_transport_flow_callbacks_may_write")


# test_transport_abort_drops_buffer: abort() with 1 MiB buffered: at
# once closing, the buffer emptied; connection_lost(None) is not called
# inside abort() but from the next loop iteration (one sleep(0)). The
# peer gets only what the kernel had taken, then EOF.
async def abort_drops():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    total = 1 << 20
    tr.write(b"a" * total)
    tr.abort()
    log.append(f"is_closing={tr.is_closing()}")
    log.append(f"size={tr.get_write_buffer_size()}")
    log.append(f"lost-in-abort={p.lost_fut.done()}")
    await asyncio.sleep(0)
    log.append(f"lost-after-sleep0={p.lost_fut.done()}")
    got = await read_all(b)
    log.append(f"peer-got<total={0 < len(got) < total} eof-at-peer")
    b.close()


asyncio.run(abort_drops())
show("test_transport_abort_drops_buffer")


# test_transport_eof_keeps_open: eof_received returns True (after it
# wrote the answer): the transport stops reading but stays open for
# writing. is_reading() still says True afterwards (CPython 3.11 only
# looks at pause_reading and close). Then it is closed: B reads the
# answer at once (sock_recv tries the read before waiting), then
# connection_lost(None) comes from the loop, then B reads EOF.
async def eof_keeps_open():
    eof = asyncio.get_running_loop().create_future()

    class Half(Logged):
        def eof_received(self):
            super().eof_received()
            self.t.write(b"answer")
            eof.set_result(None)
            return True

    a, b = small_pair()
    p = Half()
    tr = await accepted(p, a)
    b.send(b"question")
    b.shutdown(socket.SHUT_WR)
    await eof
    log.append(f"is_reading={tr.is_reading()} is_closing={tr.is_closing()}")
    tr.close()
    loop = asyncio.get_running_loop()
    log.append(f"peer:{(await loop.sock_recv(b, 100)).decode()}")
    log.append(f"peer:{(await loop.sock_recv(b, 100)).decode()}eof")
    b.close()


asyncio.run(eof_keeps_open())
show("test_transport_eof_keeps_open")


# test_transport_pause_reading: pause_reading() in connection_made holds
# off the first read (reading starts after connection_made, only if not
# paused); nothing is delivered while paused, pausing twice is
# harmless; resume_reading() delivers "abc" in one data_received,
# and writing still works (the peer reads "abc!").
async def pause_reading():
    class Paused(Logged):
        def connection_made(self, t):
            super().connection_made(t)
            t.pause_reading()

    a, b = small_pair()
    p = Paused()
    tr = await accepted(p, a)
    log.append(f"is_reading={tr.is_reading()}")
    b.send(b"abc")
    for _ in range(5):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    log.append(f"data-while-paused={p.calls > 0}")
    tr.pause_reading()
    log.append(f"is_reading={tr.is_reading()}")
    tr.resume_reading()
    log.append(f"is_reading={tr.is_reading()}")
    while not p.data:
        await asyncio.sleep(0)
    log.append(f"got={p.data.decode()} calls={p.calls}")
    tr.write(p.data + b"!")
    loop = asyncio.get_running_loop()
    log.append(f"peer:{(await loop.sock_recv(b, 100)).decode()}")
    tr.close()
    await p.lost_fut
    b.close()


asyncio.run(pause_reading())
show("test_transport_pause_reading")


# test_transport_protocol_raises: an exception from data_received is the
# transport's fatal error: the loop's exception handler gets "Fatal
# error: protocol.data_received() call failed." at once, inside the
# read callback; the transport is closed (connection_lost comes an
# iteration later), connection_lost gets the very same exception object, the
# peer reads EOF, and the loop goes on.
async def protocol_raises():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda loop, ctx: log.append(f"handler:{ctx['message']}"))

    class Raises(Logged):
        def data_received(self, data):
            super().data_received(data)
            self.t.write(b"ack")
            self.exc = ValueError("boom")
            raise self.exc

    a, b = small_pair()
    p = Raises()
    tr = await accepted(p, a)
    b.send(b"x")
    exc = await p.lost_fut
    log.append(f"same={exc is p.exc} is_closing={tr.is_closing()}")
    log.append(f"peer:{(await read_all(b)).decode()}eof")

    async def other():
        await asyncio.sleep(0)
        return "other-done"

    log.append(await asyncio.create_task(other()))
    b.close()


asyncio.run(protocol_raises())
show("test_transport_protocol_raises")


# test_transport_peer_resets: a TCP connection whose peer closes with
# SO_LINGER (on, 0): it sends a reset (TCP, made by hand with blocking
# calls: an AF_UNIX socketpair has no reset to send). The read fails,
# connection_lost gets the ConnectionResetError; an OSError is not
# reported to the exception handler.
async def peer_resets():
    loop = asyncio.get_running_loop()
    called = []
    loop.set_exception_handler(lambda loop, ctx: called.append(ctx))
    listener = socket.create_server(("127.0.0.1", 0))
    b = socket.create_connection(listener.getsockname())
    a, _ = listener.accept()
    listener.close()
    p = Logged()
    tr = await accepted(p, a)
    tr.write(b"hi")
    log.append(f"peer:{(await loop.sock_recv(b, 100)).decode()}")
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    b.close()
    await p.lost_fut
    log.append(f"handler-called={bool(called)}")


asyncio.run(peer_resets())
show("test_transport_peer_resets")


# test_buffered_protocol_chunks: a BufferedProtocol with a 4-byte
# buffer. get_buffer is asked with sizehint -1, before every read, the
# one that finds EOF too; each readiness event makes one recv_into, so
# the 10 bytes sent at once take 3 loop iterations (4, 4, 2). Then B
# shuts down: one more get_buffer, eof, and connection_lost.
async def buffered_chunks():
    class Chunks(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(4)
            self.got = bytearray()
            self.iters = []
            self.lost_fut = asyncio.get_running_loop().create_future()

        def connection_made(self, t):
            log.append("made")

        def get_buffer(self, sizehint):
            log.append(f"hint={sizehint}")
            return memoryview(self.buf)

        def buffer_updated(self, nbytes):
            data = bytes(self.buf[:nbytes])
            self.got.extend(data)
            self.iters.append(ticks)
            log.append(f"updated:{nbytes}:{data.decode()}")

        def eof_received(self):
            log.append("eof")

        def connection_lost(self, exc):
            log.append(f"lost:{exc_name(exc)}")
            self.lost_fut.set_result(exc)

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    a, b = small_pair()
    p = Chunks()
    tr = await accepted(p, a)
    tick = asyncio.create_task(ticker())
    b.send(b"abcdefghij")
    while len(p.got) < 10:
        await asyncio.sleep(0)
    log.append(f"iterations={p.iters[-1] - p.iters[0] + 1}")
    tr.write(b"got %d" % len(p.got))
    loop = asyncio.get_running_loop()
    log.append(f"peer:{(await loop.sock_recv(b, 100)).decode()}")
    tick.cancel()
    b.shutdown(socket.SHUT_WR)
    await p.lost_fut
    b.close()


asyncio.run(buffered_chunks())
show("test_buffered_protocol_chunks")


# test_transport_write_after_lost_and_limits: set_write_buffer_limits
# checks high >= low >= 0; low alone makes high 4 * low. An unknown
# extra-info name is None. After connection_lost, write() is silently
# ignored (no exception) and the transport stays closing.
async def after_lost():
    a, b = small_pair()
    p = Logged()
    tr = await accepted(p, a)
    try:
        tr.set_write_buffer_limits(high=1, low=2)
    except ValueError as e:
        log.append(exc_name(e))
    tr.set_write_buffer_limits(low=1000)
    log.append(limits(tr))
    log.append(f"extra={tr.get_extra_info('nonexistent')}")
    b.close()
    await p.lost_fut
    tr.write(b"x")
    log.append("ok")
    log.append(f"is_closing={tr.is_closing()}")


asyncio.run(after_lost())
show("test_transport_write_after_lost_and_limits")
