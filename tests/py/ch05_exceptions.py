# ch05_exceptions.py - exceptions across awaits (chapter 05, sections 2
# to 5). Each block is one test of tests/ch05_exceptions.c, named in its
# comment; the C test expects exactly the line it prints. Frames are
# shown by function name only, outermost first, and only this file's:
# C has no asyncio library frames to match CPython's.
# Run: python3 ch05_exceptions.py
import asyncio
import logging
import traceback

log = []


def show(test):
    print(f"{test}: {' '.join(log)}")
    log.clear()


def frames(e):
    """The functions of e's traceback in this file, outermost first."""
    return ">".join(f.name for f in traceback.extract_tb(e.__traceback__)
                    if f.filename == __file__)


# test_traceback_through_three_awaits: c raises two tasks below the one
# main awaits; the traceback names every await, outermost first, and is
# the same when the task is awaited a second time. This runs the tasks
# of Lib/asyncio/tasks.py, which the kit follows: 3.11's C accelerator
# (_asyncio.Task) loses the task's frames at the second await (main
# alone), the Python Task keeps them, as Future.result's
# with_traceback(self._exception_tb) says it should.
async def c():
    await asyncio.sleep(0)
    raise ValueError("deep")


async def b():
    return await asyncio.create_task(c())


async def a():
    return await asyncio.create_task(b())


async def tb_main():
    asyncio.get_running_loop().set_task_factory(
        lambda loop, coro: asyncio.tasks._PyTask(coro, loop=loop))
    t = asyncio.create_task(a())
    for _ in range(2):
        try:
            await t
        except ValueError as e:
            log.append(f"{frames(e)}:{e}")


asyncio.run(tb_main())
show("test_traceback_through_three_awaits")


# test_context_is_per_coroutine: two tasks each handle their own
# exception across a switch; a raise in each handler chains the
# handler's own exception, not the other task's.
async def handler(name):
    try:
        raise KeyError(name)
    except KeyError:
        await asyncio.sleep(0)
        try:
            raise ValueError(name + "2")
        except ValueError as e:
            log.append(f"{e}<-{e.__context__!r}")


async def ctx_main():
    await asyncio.gather(handler("x"), handler("y"))


asyncio.run(ctx_main())
show("test_context_is_per_coroutine")


# test_raise_from_and_from_none: "from" sets __cause__ and suppresses the
# context; "from None" suppresses with no cause; a plain raise in a
# handler keeps the context.
def chained(how):
    try:
        try:
            raise KeyError("k")
        except KeyError as k:
            if how == "from":
                raise ValueError("v") from TypeError("t")
            if how == "none":
                raise ValueError("v") from None
            raise ValueError("v")
    except ValueError as e:
        log.append(f"{how}:cause={e.__cause__!r},"
                   f"context={e.__context__!r},"
                   f"suppress={e.__suppress_context__}")


for how in ("plain", "from", "none"):
    chained(how)
show("test_raise_from_and_from_none")


# test_reraise_keeps_no_self_context: re-raising the exception being
# handled does not make it its own context, raising another one does;
# leaving a handler ends the handling.
def reraise():
    try:
        try:
            raise ValueError("same")
        except ValueError as e:
            try:
                raise KeyError("in")
            except KeyError as k:
                log.append(f"context={k.__context__!r}")
            raise e
    except ValueError as e:
        log.append(f"context={e.__context__!r}")
    try:
        raise TypeError("after")
    except TypeError as e:
        log.append(f"context={e.__context__!r}")


reraise()
show("test_reraise_keeps_no_self_context")


# test_context_cycle_is_cut: raising, while handling b, the a that is b's
# context would make a cycle a -> b -> a; CPython cuts b's link first.
def cycle():
    a = ValueError("a")
    try:
        try:
            raise a
        except ValueError:
            raise KeyError("b")
    except KeyError as b:
        try:
            raise a
        except ValueError as e:
            log.append(f"a.context={e.__context__!r}")
            log.append(f"b.context={b.__context__!r}")


cycle()
show("test_context_cycle_is_cut")


# test_context_cycle_cut_deeper: the exception raised again is two links
# down the chain of the one being handled (c -> b -> a): the link that
# points back at it, b's, is cut.
def deeper():
    a = ValueError("a")
    try:
        try:
            try:
                raise a
            except ValueError:
                raise KeyError("b")
        except KeyError:
            raise TypeError("c")
    except TypeError as c:
        try:
            raise a
        except ValueError as e:
            b = c.__context__
            log.append(f"a.context={e.__context__!r}")
            log.append(f"c.context={b!r}")
            log.append(f"b.context={b.__context__!r}")


deeper()
show("test_context_cycle_cut_deeper")


# test_context_old_cycle_does_not_hang: a cycle already in the chain,
# x -> y -> x below h, is left alone, and raising while handling h ends.
def old_cycle():
    h, x, y = ValueError("h"), KeyError("x"), TypeError("y")
    h.__context__ = x
    x.__context__ = y
    y.__context__ = x
    try:
        try:
            raise h
        except ValueError:
            raise OSError("e")
    except OSError as e:
        log.append(f"e.context={e.__context__!r}")
        log.append(f"x.context={x.__context__!r}")
        log.append(f"y.context={y.__context__!r}")
    y.__context__ = None


old_cycle()
show("test_context_old_cycle_does_not_hang")


# test_printed_chain, test_printed_cause, test_printed_group: the report
# Python prints for a chained exception, for one raised "from" another,
# and for a group. Each "File ..., line N, in f" is shortened to "in f",
# and the lines are joined by "|". C has no source lines to print under
# each frame: linecache is told there are none, so Python prints none.
import linecache

linecache.getline = lambda *args, **kwargs: ""


def norm(e):
    out = []
    text = "".join(traceback.format_exception(e))
    for line in text.rstrip("\n").split("\n"):
        i = line.find('File "')
        if i >= 0:
            line = line[:i] + "in " + line.rsplit(", in ", 1)[1]
        out.append(line)
    return "|".join(out)


def printed():
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise ValueError("v")
    except ValueError as e:
        log.append(norm(e))


printed()
show("test_printed_chain")


def printed_cause():
    try:
        try:
            raise KeyError("k")
        except KeyError as k:
            raise ValueError("v") from k
    except ValueError as e:
        log.append(norm(e))


printed_cause()
show("test_printed_cause")


def printed_group():
    try:
        raise ExceptionGroup("eg", [ValueError("1"),
                                    ExceptionGroup("inner", [KeyError("4")])])
    except ExceptionGroup as e:
        log.append(norm(e))


printed_group()
show("test_printed_group")


# test_types_and_repr: the hierarchy asyncio code meets; an exception
# without arguments and one with an empty message print the same but
# are told apart by repr.
def types():
    log.append(f"{issubclass(KeyError, LookupError)}")
    log.append(f"{issubclass(TimeoutError, OSError)}")
    log.append(f"{issubclass(ZeroDivisionError, ArithmeticError)}")
    log.append(f"{issubclass(asyncio.CancelledError, Exception)}")
    log.append(f"{issubclass(asyncio.CancelledError, BaseException)}")
    log.append(f"{issubclass(ExceptionGroup, Exception)}")
    log.append(f"{issubclass(BaseExceptionGroup, Exception)}")
    log.append(repr(ValueError()))
    log.append(repr(ValueError("")))
    log.append(str(KeyError("k")))
    log.append(f"[{ValueError('')}]")


types()
show("test_types_and_repr")


# test_group_split_and_subgroup: split keeps the nesting, drops empty
# groups, and a group that matches as a whole is its own match.
def groups():
    eg = ExceptionGroup("eg", [ValueError("1"), TypeError("2"),
                               ExceptionGroup("inner", [ValueError("3"),
                                                        KeyError("4")])])
    log.append(str(eg))
    m, r = eg.split(ValueError)
    log.append(repr(m))
    log.append(repr(r))
    m, r = eg.split(Exception)
    log.append(f"{m is eg},{r}")
    log.append(repr(eg.subgroup(LookupError)))
    log.append(repr(eg.subgroup(OSError)))
    beg = BaseExceptionGroup("b", [asyncio.CancelledError(),
                                   ValueError("v")])
    m, r = beg.split(ValueError)
    log.append(f"{type(beg).__name__},{type(m).__name__},"
               f"{type(r).__name__}")


groups()
show("test_group_split_and_subgroup")


# test_never_retrieved_is_reported: a task whose exception nobody
# retrieved is reported to the loop's handler when it is freed; one whose
# exception was retrieved (by await, result() or exception()) is not.
async def fails(name):
    raise ValueError(name)


def on_error(loop, context):
    log.append(f"{context['message']}:{context['exception']!r}")


async def unretrieved():
    asyncio.get_running_loop().set_exception_handler(on_error)
    t1 = asyncio.create_task(fails("lost"))
    t2 = asyncio.create_task(fails("awaited"))
    t3 = asyncio.create_task(fails("result"))
    t4 = asyncio.create_task(fails("exception"))
    await asyncio.sleep(0)
    try:
        await t2
    except ValueError:
        pass
    try:
        t3.result()
    except ValueError:
        pass
    t4.exception()
    del t1, t2, t3, t4
    log.append("freed")


asyncio.run(unretrieved())
show("test_never_retrieved_is_reported")


# test_default_handler_report: with no handler set, the default handler
# logs the message, a line per other key ("future: <Task ...>"), and the
# traceback. Noted: the first line, the key of the second, the
# traceback's last line. (CPython's task repr also names the coroutine,
# which C cannot.)
class First(logging.Handler):
    def emit(self, record):
        lines = record.getMessage().splitlines()
        last = traceback.format_exception_only(record.exc_info[1])[-1]
        log.append(f"logged:{lines[0]}:{lines[1].split(':')[0]}:"
                   f"{last.strip()}")


async def default_report():
    logger = logging.getLogger("asyncio")
    logger.addHandler(First())
    logger.propagate = False
    t = asyncio.create_task(fails("lost"))
    await asyncio.sleep(0)
    del t
    log.append("freed")


asyncio.run(default_report())
logging.getLogger("asyncio").handlers.clear()
show("test_default_handler_report")


# test_callback_exception_goes_to_handler: an exception escaping a
# callback goes to the handler with the handle; the later callbacks
# still run; a handler that raises is itself reported and the loop goes
# on.
def bad_cb(name):
    log.append(name)
    raise ZeroDivisionError("division by zero")


def good_cb(name):
    log.append(name)


def handler2(loop, context):
    log.append(f"handler:{context['message'].split(' ')[0]}:"
               f"{context['exception']!r}:{'handle' in context}")


async def callbacks():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handler2)
    loop.call_soon(bad_cb, "bad")
    loop.call_soon(good_cb, "good")
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    log.append("done")


asyncio.run(callbacks())
show("test_callback_exception_goes_to_handler")


# test_protocol_error_goes_to_handler: an exception escaping a protocol
# callback is the transport's fatal error: the handler gets it with the
# protocol and the transport, and connection_lost gets the exception.
import socket


class Raiser(asyncio.Protocol):
    def __init__(self, lost):
        self.lost = lost

    def data_received(self, data):
        raise ValueError("boom")

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def handler3(loop, context):
    log.append(f"{context['message']}:{context['exception']!r}:"
               f"{'protocol' in context}:{'transport' in context}")


async def proto_main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handler3)
    lost = loop.create_future()
    a, b = socket.socketpair()
    t, _ = await loop.connect_accepted_socket(lambda: Raiser(lost), a)
    b.send(b"x")
    exc = await lost
    log.append(f"lost:{exc!r}")
    b.close()


asyncio.run(proto_main())
show("test_protocol_error_goes_to_handler")


# test_handler_that_raises: a handler that raises is reported by the
# default handler, "Unhandled error in exception handler" with the
# handler's exception, and the loop goes on.

class Catch(logging.Handler):
    """The first line of the record, and the last of its traceback."""
    def emit(self, record):
        last = traceback.format_exception_only(record.exc_info[1])[-1]
        log.append(f"logged:{record.getMessage().splitlines()[0]}:"
                   f"{last.strip()}")


def broken_handler(loop, context):
    raise RuntimeError("handler broke")


async def bad_handler_main():
    logger = logging.getLogger("asyncio")
    logger.addHandler(Catch())
    logger.propagate = False
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(broken_handler)
    loop.call_soon(bad_cb, "bad")
    loop.call_soon(good_cb, "good")
    await asyncio.sleep(0)


asyncio.run(bad_handler_main())
show("test_handler_that_raises")
