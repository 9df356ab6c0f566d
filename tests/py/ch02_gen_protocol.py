# ch02_gen_protocol.py - the Python twin of
# chapters/02-stacks/examples/gen_protocol.c: send, throw and close on one
# generator. Both print exactly the same lines.
# Run: python3 ch02_gen_protocol.py
import inspect


def accumulator():
    """Adds up what it is sent; None ends it and returns how many."""
    total = count = 0
    try:
        while True:
            try:
                x = yield total
            except ValueError as e:
                print(f"  body: caught ValueError: {e}")
                continue
            if x is None:
                break
            total += x
            count += 1
    finally:
        print(f"  body: cleanup, total {total}")
    return count


def stubborn():
    try:
        yield 1
    except GeneratorExit:
        print("  stubborn: not closing")
        yield 2


def show(what, call):
    try:
        v = call()
    except StopIteration as e:
        print(f"{what} -> StopIteration, value {e.value}")
    except Exception as e:
        print(f"{what} -> {type(e).__name__}: {e}")
    else:
        print(f"{what} -> {v}")


print("== send")
g = accumulator()
show("g.send(1)", lambda: g.send(1))
show("next(g)", lambda: next(g))
show("g.send(10)", lambda: g.send(10))
show("g.send(5)", lambda: g.send(5))
show("g.send(None)", lambda: g.send(None))
show("next(g)", lambda: next(g))
print("state:", inspect.getgeneratorstate(g))

print("== throw")
g = accumulator()
show("next(g)", lambda: next(g))
show("g.send(4)", lambda: g.send(4))
show("g.throw(ValueError('oops'))", lambda: g.throw(ValueError("oops")))
show("g.throw(TypeError('bad'))", lambda: g.throw(TypeError("bad")))
print("state:", inspect.getgeneratorstate(g))

print("== close")
g = accumulator()
show("next(g)", lambda: next(g))
show("g.send(7)", lambda: g.send(7))
show("g.close()", g.close)
print("state:", inspect.getgeneratorstate(g))
g = stubborn()
show("next(g)", lambda: next(g))
show("g.close()", g.close)
print("state:", inspect.getgeneratorstate(g))
show("g.close()", g.close)
print("state:", inspect.getgeneratorstate(g))
