# ch02_running.py - "generator already executing": a body that resumes its
# own generator (send, throw, close), and a generator resumed by another
# generator it is itself driving. Each block is one test of
# tests/ch02_gen.c (named in the comment).
# Run: python3 ch02_running.py
import inspect


# test_gen_already_executing
def selfish():
    for how in ("send", "throw", "close"):
        try:
            if how == "send":
                me.send(None)
            elif how == "throw":
                me.throw(TypeError("t"))
            else:
                me.close()
        except ValueError as e:
            yield "%s: %s %s" % (how, type(e).__name__, e)
    yield inspect.getgeneratorstate(me)


me = selfish()
for line in me:
    print(line)
print("then:", inspect.getgeneratorstate(me))


# test_gen_already_executing_nested
def inner():
    try:
        next(outer_gen)
    except ValueError as e:
        yield "inner: %s" % e


def outer():
    g = inner()
    yield next(g)


outer_gen = outer()
print(next(outer_gen))


# The uncaught case: the ValueError ends the body that resumed itself.
def careless():
    next(me2)
    yield 1


me2 = careless()
try:
    next(me2)
except ValueError as e:
    print("uncaught:", e, inspect.getgeneratorstate(me2))
