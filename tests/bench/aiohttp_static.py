"""aiohttp_static.py - a static file server on aiohttp: http_peers.sh's peer.

    /usr/bin/python3 tests/bench/aiohttp_static.py --dir DIR [--host H]
        [--port P] [--mode static|file|memory] [--uvloop]

Serves the files of DIR at /<name>, one process, no access log (the kit's
server and nginx in http_peers.sh keep none either). --mode static (the
default) is aiohttp's own web.static route; --mode file a handler that
returns a web.FileResponse, the way an application serves a file it has
chosen; --mode memory a handler that answers with the file's bytes read
once at start-up (no file system per request: the most aiohttp can do).
aiohttp 3.8's static route and FileResponse stat and open the file on the
default executor's threads for every request, and send it with
loop.sendfile: that is what a request costs there, threads included.
Prints "ready" on stdout once it listens.
"""
import argparse
import asyncio
import os
import sys

from aiohttp import web


def make_app(root, mode):
    app = web.Application()
    if mode == "static":
        app.router.add_static("/", root, show_index=False)
        return app

    async def file(request):
        name = request.match_info["name"]
        path = os.path.join(root, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(path):
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    if mode == "memory":
        pages = {n: open(os.path.join(root, n), "rb").read()
                 for n in os.listdir(root)
                 if os.path.isfile(os.path.join(root, n))}

        async def memory(request):
            body = pages.get(request.match_info["name"])
            if body is None:
                raise web.HTTPNotFound()
            return web.Response(body=body, content_type="text/html")

        app.router.add_get("/{name}", memory)
        return app
    app.router.add_get("/{name}", file)
    return app


async def main(args):
    runner = web.AppRunner(make_app(args.dir, args.mode), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024)
    await site.start()
    print("ready", flush=True)
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--mode", choices=("static", "file", "memory"), default="static")
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    try:
        if args.uvloop:
            import uvloop
            uvloop.install()
        asyncio.run(main(args))
    except KeyboardInterrupt:
        sys.exit(0)
