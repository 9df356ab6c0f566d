"""asyncio_echo.py - the Python echo servers corolab's are measured against.

    python3 tests/bench/asyncio_echo.py [--api streams|protocol]
                                        [--loop asyncio|uvloop] ADDRESS PORT

Listens on ADDRESS:PORT (port 0 picks a free one) and writes back every
byte each client sends, until SIGTERM or SIGINT. The first line on stdout
is "listening ADDRESS:PORT", with the port actually bound.

Two ways to write the server, the two levels asyncio offers:

  --api streams (the default): the echo server of the asyncio
    documentation's streams page. A task per connection,
    asyncio.start_server, reader.read, writer.write, writer.drain.
  --api protocol: the layer under the streams. An asyncio.Protocol whose
    data_received hands the bytes straight to transport.write; no task,
    no stream. When the transport's buffer passes its high-water mark
    (pause_writing) it stops reading until the buffer drains
    (resume_writing), so a client that does not read cannot make it
    buffer without bound: the back-pressure drain() gives the streams.

and two event loops under either:

  --loop asyncio (the default): CPython's own loop (selector_events on
    epoll), the one corolab's chapters mirror.
  --loop uvloop: uvloop's, written in Cython over libuv. The interpreter
    must have it (Debian: python3-uvloop, for /usr/bin/python3).

With what a 10,000-connection benchmark needs and nothing else:

  - backlog=4096: the default of 100 would make the kernel drop
    handshakes when 10,000 clients connect at once;
  - TCP_NODELAY is already set on every TCP socket, by asyncio
    (base_events._set_nodelay) and by uvloop alike, as corolab and libuv
    do.
"""
import argparse
import asyncio
import resource
import signal

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


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def main(host, port, api):
    loop = asyncio.get_running_loop()
    if api == "protocol":
        server = await loop.create_server(Echo, host, port, backlog=4096)
    else:
        server = await asyncio.start_server(echo, host, port, backlog=4096)
    bound = server.sockets[0].getsockname()
    print(f"listening {bound[0]}:{bound[1]}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


def run(coro, loop_name):
    if loop_name == "asyncio":
        asyncio.run(coro)
        return
    import uvloop
    if hasattr(asyncio, "Runner"):  # 3.11 and later
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(coro)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="asyncio_echo.py",
                                 description="an asyncio echo server")
    ap.add_argument("--api", choices=("streams", "protocol"),
                    default="streams")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"),
                    default="asyncio")
    ap.add_argument("address")
    ap.add_argument("port", type=int)
    args = ap.parse_args()
    # As many descriptors as the hard limit allows, for 10,000 clients.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    run(main(args.address, args.port, args.api), args.loop)
