# ch02_throw.py - exceptions out of and into a generator: an exception
# escaping the body, try/except inside it, PEP 479, and throw() in every
# state. Each block is one test of tests/ch02_gen.c (named in the comment).
# Run: python3 ch02_throw.py
import inspect


# test_gen_body_exception_reaches_caller
def fails():
    yield 1
    raise ValueError("bad value %d" % 7)


g = fails()
next(g)
try:
    next(g)
except Exception as e:
    print("escaped:", type(e).__name__, "|", e, "| is Exception:",
          isinstance(e, Exception), "is TypeError:", isinstance(e, TypeError),
          inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("  then next: StopIteration, value", stop.value)


# test_gen_try_catch_in_body
def parse(n):
    if n % 2:
        raise ValueError("odd: %d" % n)
    return n // 2


def halves():
    done = 0
    for n in range(4):
        try:
            done += 1
            yield parse(n)
        except ValueError as e:
            yield "caught " + str(e)
    return done


g = halves()
out = []
try:
    while True:
        out.append(next(g))
except StopIteration as stop:
    print("halves:", out, "returns", stop.value)


# test_gen_pep479
def stops():
    yield 1
    raise StopIteration(3)


g = stops()
next(g)
try:
    next(g)
except RuntimeError as e:
    print("PEP 479:", type(e).__name__, "|", e, "| cause:",
          type(e.__cause__).__name__, e.__cause__.value,
          "| context is cause:", e.__context__ is e.__cause__,
          inspect.getgeneratorstate(g))


def waits():
    yield 1


for started in (False, True):
    g = waits()
    if started:
        next(g)
    try:
        g.throw(StopIteration(4))
    except RuntimeError as e:
        print("  throw StopIteration, started=%s:" % started, e, "| cause:",
              type(e.__cause__).__name__, e.__cause__.value)


# test_gen_throw_caught_yields_again
def catcher():
    while True:
        try:
            yield "ready"
        except ValueError as e:
            yield "caught " + str(e)


g = catcher()
print("catcher:", next(g), "|", g.throw(ValueError("v1")), "|", next(g))


# test_gen_throw_caught_returns
def returner():
    try:
        yield "ready"
    except ValueError as e:
        return "handled " + str(e)


g = returner()
next(g)
try:
    g.throw(ValueError("v2"))
except StopIteration as stop:
    print("returner: StopIteration, value", stop.value,
          inspect.getgeneratorstate(g))


# test_gen_throw_uncaught
g = waits()
next(g)
exc = ValueError("v3")
try:
    g.throw(exc)
except ValueError as e:
    print("uncaught: same object:", e is exc, inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("  then next: StopIteration, value", stop.value)

# test_gen_throw_unstarted
ran = []


def spy():
    ran.append(1)
    yield 1


g = spy()
exc = TypeError("early")
try:
    g.throw(exc)
except TypeError as e:
    print("unstarted: same object:", e is exc, "body ran:", bool(ran),
          inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("  then next: StopIteration, value", stop.value, "body ran:",
          bool(ran))

# test_gen_throw_finished
g = waits()
list(g)
exc = ValueError("late")
try:
    g.throw(exc)
except ValueError as e:
    print("finished: same object:", e is exc, inspect.getgeneratorstate(g))


# test_gen_handlers_stay_with_their_generator
# A generator suspended inside its own try block does not catch what the
# caller raises; a throw reaches the handler of the generator it is
# thrown into, not the one suspended last.
def guarded(name):
    try:
        yield name + " ready"
    except ValueError as e:
        yield "%s caught %s" % (name, e)


g = guarded("g")
try:
    next(g)
    raise ValueError("caller's")
except ValueError as e:
    print("caller caught:", e, inspect.getgeneratorstate(g))
a, b = guarded("a"), guarded("b")
next(a)
next(b)
print(a.throw(ValueError("to a")), "|", b.throw(ValueError("to b")))
