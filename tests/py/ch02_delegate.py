# ch02_delegate.py - the Python twin of chapters/02-stacks/examples/
# delegate.c. In Python every level that yields must be a generator and
# every call to it a "yield from"; in C a helper function simply yields,
# and only delegating to another generator object needs cl_yield_from.
# Both print exactly the same lines.
# Run: python3 ch02_delegate.py


def emit_range(lo, hi):
    """A helper: in C, a plain function that calls cl_yield."""
    for i in range(lo, hi):
        yield i


def two_ranges():
    yield from emit_range(1, 4)
    yield from emit_range(10, 13)


def countdown(n):
    while n > 0:
        received = yield n
        if received is not None:
            print(f"  countdown: got {received!r}")
        n -= 1
    return "liftoff"


def launch():
    result = yield from countdown(3)
    print(f"  launch: countdown returned {result!r}")
    yield result


print("helper yields:", " ".join(str(v) for v in two_ranges()))

g = launch()
print("launch:", next(g))
print("launch:", g.send("copy"))
print("launch:", next(g))
print("launch:", next(g))
try:
    next(g)
except StopIteration:
    print("launch: done")
