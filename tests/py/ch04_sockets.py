# ch04_sockets.py - sock_recv, sock_sendall, sock_connect, sock_accept
# (chapter 04, sections 4 to 7). Each block is one test of
# tests/ch04_sockets.c, named in its comment; the C test expects what
# asyncio does here, with errno names where Python raises OSError
# subclasses (ConnectionResetError is ECONNRESET, BrokenPipeError EPIPE,
# ConnectionRefusedError ECONNREFUSED).
# Run: python3 ch04_sockets.py
import asyncio
import errno
import socket
import struct

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


def err(e):
    return errno.errorcode[e.errno]


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    s.setblocking(False)
    return s


# test_recv_returns_0_at_eof: data first, then b"" (0 bytes) once the
# peer has closed, while the reader was waiting.
async def eof():
    loop = asyncio.get_running_loop()
    a, b = pair()

    async def closer():
        await asyncio.sleep(1)
        b.send(b"bye")
        b.close()

    t = asyncio.create_task(closer())
    log.append(repr(await loop.sock_recv(a, 100)))
    log.append(repr(await loop.sock_recv(a, 100)))
    log.append(repr(await loop.sock_recv(a, 100)))
    await t
    a.close()


asyncio.run(eof())
show("test_recv_returns_0_at_eof")


# test_peer_reset_is_an_error_not_a_signal: the server resets the
# connection (SO_LINGER 0, close): recv fails with ECONNRESET, a send
# after it with EPIPE; a send to a socketpair whose peer is closed fails
# with EPIPE. Python ignores SIGPIPE; the C library must not need to.
async def reset():
    loop = asyncio.get_running_loop()
    lsock = listener()
    c = socket.socket()
    c.setblocking(False)
    await loop.sock_connect(c, lsock.getsockname())
    s, _ = await loop.sock_accept(lsock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    try:
        await loop.sock_recv(c, 100)
    except OSError as e:
        log.append("recv:" + err(e))
    try:
        await loop.sock_sendall(c, b"x" * 100000)
    except OSError as e:
        log.append("sendall:" + err(e))
    a, b = pair()
    b.close()
    try:
        await loop.sock_sendall(a, b"x")
    except OSError as e:
        log.append("pair-sendall:" + err(e))
    c.close()
    a.close()
    lsock.close()


asyncio.run(reset())
show("test_peer_reset_is_an_error_not_a_signal")


# test_connect_refused: a port that is bound but not listening answers a
# SYN with a RST: ECONNREFUSED. Once the same socket listens, a new
# connect succeeds and is accepted.
async def refused():
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    c = socket.socket()
    c.setblocking(False)
    try:
        await loop.sock_connect(c, s.getsockname())
        log.append("connected")
    except OSError as e:
        log.append("connect:" + err(e))
    c.close()
    s.listen()
    s.setblocking(False)
    c = socket.socket()
    c.setblocking(False)
    await loop.sock_connect(c, s.getsockname())
    log.append("connected")
    conn, _ = await loop.sock_accept(s)
    log.append("accepted")
    conn.close()
    c.close()
    s.close()


asyncio.run(refused())
show("test_connect_refused")


# test_accept_and_connect_on_loopback: a server task accepts, reads ping,
# answers pong; the accepted socket is non-blocking.
async def ping():
    loop = asyncio.get_running_loop()
    lsock = listener()

    async def server():
        conn, _ = await loop.sock_accept(lsock)
        log.append(f"blocking={conn.getblocking()}")
        log.append("server:" + (await loop.sock_recv(conn, 100)).decode())
        await loop.sock_sendall(conn, b"pong")
        conn.close()

    t = asyncio.create_task(server())
    c = socket.socket()
    c.setblocking(False)
    await loop.sock_connect(c, lsock.getsockname())
    await loop.sock_sendall(c, b"ping")
    log.append("client:" + (await loop.sock_recv(c, 100)).decode())
    await t
    c.close()
    lsock.close()


asyncio.run(ping())
show("test_accept_and_connect_on_loopback")


# test_wait_is_cancellation_safe: a task cancelled while it waits in
# sock_recv gets CancelledError, and the socket is no longer watched.
async def cancel():
    loop = asyncio.get_running_loop()
    a, b = pair()

    async def waiter():
        try:
            await loop.sock_recv(a, 100)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    t = asyncio.create_task(waiter())
    await asyncio.sleep(1)
    log.append(f"watched={a.fileno() in loop._selector.get_map()}")
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append("main:CancelledError")
    log.append(f"watched={a.fileno() in loop._selector.get_map()}")
    a.close()
    b.close()


asyncio.run(cancel())
show("test_wait_is_cancellation_safe")
