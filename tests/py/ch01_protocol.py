# ch01_protocol.py - the generator protocol corner cases of chapter 01:
# close, "already executing", locals kept across yields. The C tests use
# generators of their own, written in tests/ch01_generators.c.
# Run: python3 ch01_protocol.py
import inspect

log = []


def spy():
    """Logs how far its body got."""
    log.append("begin")
    yield 1
    log.append("after 1")
    yield 2
    log.append("after 2")


# test_close_before_start
log.clear()
g = spy()
g.close()
print("close before start:", inspect.getgeneratorstate(g), log)
try:
    next(g)
except StopIteration as stop:
    print("  next: StopIteration, value", stop.value, log)

# test_close_after_start
log.clear()
g = spy()
print("next:", next(g), log)
g.close()
print("close after start:", inspect.getgeneratorstate(g), log)
for how in ("next", "send(7)"):
    try:
        next(g) if how == "next" else g.send(7)
    except StopIteration as stop:
        print(" ", how, "-> StopIteration, value", stop.value, log)

# test_close_is_idempotent
g = spy()
print("close, close:", g.close(), g.close(), inspect.getgeneratorstate(g))
g = spy()
list(g)
print("close after return:", g.close(), inspect.getgeneratorstate(g))


# test_already_executing
def selfish():
    try:
        next(me)
    except ValueError as e:
        yield "next: %s" % e
    try:
        me.send(1)
    except ValueError as e:
        yield "send: %s" % e
    try:
        me.close()
    except ValueError as e:
        yield "close: %s" % e
    yield inspect.getgeneratorstate(me)


me = selfish()
for line in me:
    print(line)
print("then:", inspect.getgeneratorstate(me))


# test_locals_survive_yields
def pairs(n):
    count = 0
    for i in range(n):
        for j in range(i):
            yield "%d,%d" % (i, j)
            count += 1
    return count


g = pairs(4)
print("pairs(4):", list(g))
try:
    next(pairs(0))
except StopIteration as stop:
    print("pairs(0) returns", stop.value)
try:
    g = pairs(4)
    while True:
        next(g)
except StopIteration as stop:
    print("pairs(4) returns", stop.value)
