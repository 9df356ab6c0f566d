"""asyncio_echo.py - the CPython asyncio streams echo server corolab's is
measured against.

    python3 tests/bench/asyncio_echo.py ADDRESS PORT

Listens on ADDRESS:PORT (port 0 picks a free one) and writes back every
byte each client sends, until SIGTERM or SIGINT. The first line on stdout
is "listening ADDRESS:PORT", with the port actually bound.

It is the echo server of the asyncio documentation's streams page, with
what a 10,000-connection benchmark needs and nothing else:

  - the default event loop (selector_events on epoll), streams API:
    asyncio.start_server, reader.read, writer.write, writer.drain;
  - backlog=4096: start_server's default of 100 would make the kernel
    drop handshakes when 10,000 clients connect at once;
  - TCP_NODELAY is already set by asyncio on every TCP socket
    (base_events._set_nodelay), as corolab and libuv do.

No uvloop: the peer is CPython's own asyncio, the one corolab's chapters
mirror.
"""
import asyncio
import resource
import signal
import sys

READ_SIZE = 65536


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(host, port):
    server = await asyncio.start_server(echo, host, port, backlog=4096)
    bound = server.sockets[0].getsockname()
    print(f"listening {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: asyncio_echo.py ADDRESS PORT", file=sys.stderr)
        sys.exit(2)
    # As many descriptors as the hard limit allows, for 10,000 clients.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
