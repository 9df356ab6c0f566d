# ch04_stream_server.py - start_server: a task per connection (chapter
# 04, streams). Each block is one test of tests/ch04_streams.c, named in
# its comment; the C test expects exactly the line it prints.
# Run: python3 ch04_stream_server.py
import asyncio

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


# test_server_concurrent_clients: five clients at once, each sending
# three lines and reading each reply before the next; every client gets
# its own replies, the five handlers run at the same time. After
# close() and wait_closed() a new connection is refused.
# (CPython 3.11's wait_closed() returns at once after close(), a bug
# fixed in 3.12.1; here the handlers are done by then anyway, the
# clients having closed and read everything.)
async def concurrent():
    active = 0
    most = 0
    done = 0

    async def handler(reader, writer):
        nonlocal active, most, done
        active += 1
        most = max(most, active)
        while line := await reader.readline():
            writer.write(b"echo:" + line)
            await writer.drain()
        active -= 1
        done += 1
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    replies = {}

    async def client(i):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        got = []
        for j in range(3):
            w.write(f"c{i}-{j}\n".encode())
            await w.drain()
            got.append((await r.readline()).decode().strip())
            await asyncio.sleep(0)
        w.close()
        await w.wait_closed()
        replies[i] = got

    await asyncio.gather(*(client(i) for i in range(5)))
    for i in range(5):
        log.append(f"c{i}:" + "|".join(replies[i]))
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.1)  # 3.11: let the handlers see EOF
    log.append(f"most-at-once={most} handlers-done={done}")
    try:
        await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        log.append("then:ConnectionRefusedError")


asyncio.run(concurrent())
show("test_server_concurrent_clients")


# test_server_client_disconnect_mid_write: a handler writes without end
# to a client that reads 10 bytes and aborts (a reset: it leaves unread
# data behind). The handler's drain() raises a ConnectionError
# (ConnectionResetError or BrokenPipeError, depending on when the reset
# arrives); the server goes on and serves the next client.
async def disconnect():
    finished = asyncio.Event()
    caught = []

    async def handler(reader, writer):
        what = await reader.readline()
        if what == b"flood\n":
            try:
                while True:
                    writer.write(b"z" * 65536)
                    await writer.drain()
            except ConnectionError as e:
                caught.append(e)
            finished.set()
        else:
            writer.write(b"pong\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"flood\n")
    await r.readexactly(10)
    w.transport.abort()
    await finished.wait()
    log.append(f"handler-caught-ConnectionError={len(caught) == 1}")
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"ping\n")
    log.append((await r.readline()).decode().strip())
    log.append(f"serving={server.is_serving()}")
    w.close()
    await w.wait_closed()
    server.close()
    await server.wait_closed()


asyncio.run(disconnect())
show("test_server_client_disconnect_mid_write")
