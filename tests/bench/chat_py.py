"""chat_py.py - chapter 08's chat server on asyncio and websockets: the peer.

    /usr/bin/python3 tests/bench/chat_py.py [--host H] [--port P] [--uvloop]

What a Python programmer would write for the chat of chapter 08 with the
usual stack (asyncio and the websockets package, the legacy server API of
websockets 10, as Debian 12 ships it), speaking the same wire protocol as
the kit's chatd, so that tests/bench/chatload.c drives both alike. Text
frames at ws://HOST:PORT/ws; any other path gets a 404:

    client -> server  "join\t<room>\t<name>"  (room, name: 1-32 characters
                                               of [A-Za-z0-9_.-])
                      "msg\t<text>"           (to the room joined)
                      "leave"
    server -> client  "joined\t<room>\t<name>\t<n members>"  (the joiner)
                      "presence\t<room>\t<name>\t<join|leave>" (the others)
                      "msg\t<room>\t<name>\t<text>" (the whole room, the
                                                     sender included)
                      "error\t<what>"

A client is in at most one room: a join while in a room leaves that room
first; closing the connection leaves too. Rooms are sets of connections in
a dict, dropped when empty; fan-out is websockets.broadcast (which writes
to each connection's transport without waiting for it to drain, as
chatd's does). Prints "ready" on stdout once it listens. --uvloop runs it
on uvloop's loop instead of asyncio's own.
"""
import argparse
import asyncio
import http
import re
import sys

import websockets

NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")

rooms = {}      # room name -> set of connections in it
where = {}      # connection -> (room, name)


def broadcast(conns, text):
    if hasattr(websockets, "broadcast"):
        websockets.broadcast(conns, text)
        return
    for ws in conns:        # websockets before 10.0
        asyncio.ensure_future(ws.send(text))


def leave(ws):
    """Take ws out of its room and tell the others; nothing if in none."""
    if ws not in where:
        return
    room, name = where.pop(ws)
    members = rooms[room]
    members.discard(ws)
    if members:
        broadcast(members, f"presence\t{room}\t{name}\tleave")
    else:
        del rooms[room]


def join(ws, room, name):
    leave(ws)
    members = rooms.setdefault(room, set())
    if members:
        broadcast(members, f"presence\t{room}\t{name}\tjoin")
    members.add(ws)
    where[ws] = (room, name)
    broadcast((ws,), f"joined\t{room}\t{name}\t{len(members)}")


def on_message(ws, text):
    if not isinstance(text, str):
        broadcast((ws,), "error\tbinary frames are not understood")
        return
    kind, _, rest = text.partition("\t")
    if kind == "join":
        room, _, name = rest.partition("\t")
        if NAME.match(room) and NAME.match(name):
            join(ws, room, name)
        else:
            broadcast((ws,), "error\tbad room or name")
    elif kind == "msg":
        if ws not in where:
            broadcast((ws,), "error\tnot in a room")
            return
        room, name = where[ws]
        broadcast(rooms[room], f"msg\t{room}\t{name}\t{rest}")
    elif kind == "leave" and not rest:
        leave(ws)
    else:
        broadcast((ws,), "error\tunknown command")


async def handler(ws, path=None):
    try:
        async for text in ws:
            on_message(ws, text)
    except websockets.ConnectionClosed:
        pass
    finally:
        leave(ws)


async def only_ws(path, headers):
    """process_request: the chat lives at /ws; anything else is a 404."""
    if path != "/ws":
        return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
    return None


async def main(args):
    async with websockets.serve(handler, args.host, args.port,
                                process_request=only_ws,
                                backlog=4096, max_size=1 << 20):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    try:
        if args.uvloop:
            import uvloop
            uvloop.install()
        asyncio.run(main(args))
    except KeyboardInterrupt:
        sys.exit(0)
