# ch01_fib.py - what the Fibonacci generator of chapter 01 must do.
# The C twin is cl_sgen_fib (solutions/sgens.c). Run: python3 ch01_fib.py
import itertools


def fib(limit=None):
    a, b = 0, 1
    n = 0
    while limit is None or n < limit:
        yield a
        a, b = b, a + b
        n += 1
    return n


# test_fib_first_ten
g = fib(10)
values = list(itertools.islice(g, 10))
print("fib(10):", values)
try:
    next(g)
except StopIteration as stop:
    print("returns", stop.value)

# test_fib_of_zero_yields_nothing
try:
    next(fib(0))
except StopIteration as stop:
    print("fib(0): returns", stop.value, "at the first next")

# test_fib_forever_until_overflow: Python's ints grow without end; a C
# intptr_t stops at 2**63 - 1 on a 64-bit machine. These are the numbers
# that still fit, the last of them, and the first that does not.
INTPTR_MAX = 2**63 - 1
fits = list(itertools.takewhile(lambda x: x <= INTPTR_MAX, fib()))
print("numbers that fit in int64:", len(fits))
print("last that fits:", fits[-1])
first_too_big = next(itertools.islice(fib(), len(fits), None))
print("first that does not:", first_too_big)
