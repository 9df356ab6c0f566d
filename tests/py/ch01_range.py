# ch01_range.py - what the range generator of chapter 01 must do.
# The C twin is cl_sgen_range (solutions/sgens.c); the tests that expect
# these results are in tests/ch01_generators.c. Run: python3 ch01_range.py
import inspect


def count(start, stop, step):
    if step == 0:
        raise ValueError("step must not be zero")
    n = 0
    i = start
    while (i < stop) if step > 0 else (i > stop):
        yield i
        n += 1
        i += step
    return n


def drain(g):
    """Every value, then the return value (StopIteration.value)."""
    values = []
    while True:
        try:
            values.append(next(g))
        except StopIteration as stop:
            return values, stop.value


# test_range_counts_up
print("range(0, 5, 1):", drain(count(0, 5, 1)))
# test_range_counts_down
print("range(10, 0, -3):", drain(count(10, 0, -3)))
# test_range_empty
print("range(3, 3, 1):", drain(count(3, 3, 1)))
print("range(0, 5, -1):", drain(count(0, 5, -1)))
print("range(3, 3, -1):", drain(count(3, 3, -1)))

# test_range_stops_at_the_ends_of_intptr (a 64-bit intptr_t)
INTPTR_MAX, INTPTR_MIN = 2**63 - 1, -2**63
print("range(INTPTR_MAX - 1, INTPTR_MAX, 10):",
      drain(count(INTPTR_MAX - 1, INTPTR_MAX, 10)))
print("range(INTPTR_MIN + 1, INTPTR_MIN, -10):",
      drain(count(INTPTR_MIN + 1, INTPTR_MIN, -10)))

# test_range_step_zero_fails_at_first_next
g = count(0, 5, 0)  # no error yet: the body has not run
print("created:", inspect.getgeneratorstate(g))
try:
    next(g)
except ValueError as e:
    print("first next: ValueError:", e)
print("after the error:", inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("next again: StopIteration, value", stop.value)

# test_states_follow_the_life_of_a_generator
g = count(0, 1, 1)
print(inspect.getgeneratorstate(g))
print(next(g), inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("returned", stop.value, inspect.getgeneratorstate(g))

# test_finished_stays_finished
for how in ("next", "send(5)", "next"):
    try:
        next(g) if how == "next" else g.send(5)
    except StopIteration as stop:
        print(how, "-> StopIteration, value", stop.value)

# test_two_generators_interleave
a, b = count(0, 3, 1), count(10, 13, 1)
print("interleaved:", [next(g) for _ in range(3) for g in (a, b)])
print("returns:", drain(a)[1], drain(b)[1])
