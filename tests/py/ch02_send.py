# ch02_send.py - send, yield and return for the stackful generators of
# chapter 02. Each block is one test of tests/ch02_gen.c (named in the
# comment); the C test expects what this prints.
# Run: python3 ch02_send.py
import inspect


# test_gen_yields_then_returns, test_gen_finished_stays_finished
def three():
    yield 1
    yield 2
    yield 3
    return 42


g = three()
print("yields:", next(g), next(g), next(g))
try:
    next(g)
except StopIteration as stop:
    print("then StopIteration, value", stop.value, inspect.getgeneratorstate(g))
for how in ("next", "send(7)", "next"):
    try:
        next(g) if how == "next" else g.send(7)
    except StopIteration as stop:
        print(" ", how, "-> StopIteration, value", stop.value)


# test_gen_send_values_in
def running_total():
    total = 0
    while True:
        x = yield total
        if x is None:
            return total
        total += x


g = running_total()
print("running total:", next(g), g.send(5), g.send(10), g.send(-3), end=" ")
try:
    next(g)
except StopIteration as stop:
    print("returns", stop.value)


# test_gen_first_send_must_be_none
started = []


def spy():
    started.append(1)
    x = yield "first"
    yield x


g = spy()
try:
    g.send(5)
except TypeError as e:
    print("send(5) first:", type(e).__name__, e, inspect.getgeneratorstate(g),
          "body ran:", bool(started))
print("then next:", next(g), "send(5):", g.send(5))


# test_gen_yield_from_nested_call
# A stackful body can call a plain function that yields. Python needs
# "yield from" at every level for the same shape.
def leaf(n):
    yield n
    yield n + 1


def middle(n):
    yield from leaf(n)
    yield from leaf(10 * n)
    return 100 * n


def outer():
    r = yield from middle(1)
    yield r
    return "done"


g = outer()
print("nested:", list(g))
g = outer()
try:
    while True:
        next(g)
except StopIteration as stop:
    print("nested returns", stop.value)


# test_gen_two_interleaved
def letters(prefix):
    for i in range(3):
        yield "%s%d" % (prefix, i)


a, b = letters("a"), letters("b")
print("interleaved:", [next(x) for _ in range(3) for x in (a, b)])


# test_gen_drives_another
def squares(n):
    for i in range(n):
        yield i * i
    return n


def summer():
    inner = squares(4)
    total = 0
    try:
        while True:
            v = next(inner)
            total += v
            yield total
    except StopIteration as stop:
        return (total, stop.value)


g = summer()
print("partial sums:", list(g))
g = summer()
try:
    while True:
        next(g)
except StopIteration as stop:
    print("summer returns", stop.value)


# test_gen_ten_thousand_yields
def echo_double():
    x = yield
    while True:
        x = yield 2 * x


g = echo_double()
next(g)
total = 0
for i in range(10000):
    total += g.send(i)
print("10000 yields, sum of doubles:", total)


# test_gen_state_and_current
def whoami():
    yield inspect.getgeneratorstate(me)


me = whoami()
print("states:", inspect.getgeneratorstate(me), next(me),
      inspect.getgeneratorstate(me), end=" ")
me.close()
print(inspect.getgeneratorstate(me), "name:", me.__name__)
