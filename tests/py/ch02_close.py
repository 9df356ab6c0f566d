# ch02_close.py - close() and the finalizer: GeneratorExit at the yield
# point, a body that ignores it, closing unstarted and finished generators,
# another exception raised during close, and a suspended generator freed.
# Each block is one test of tests/ch02_gen.c (named in the comment).
# Run: python3 ch02_close.py
import gc
import inspect

log = []


# test_gen_close_delivers_generator_exit
def tidy():
    try:
        yield 1
        yield 2
    except GeneratorExit as e:
        log.append("cleanup: " + type(e).__name__)
        raise


g = tidy()
next(g)
print("close:", g.close(), inspect.getgeneratorstate(g), log)
try:
    next(g)
except StopIteration as stop:
    print("  then next: StopIteration, value", stop.value)


# test_gen_close_delivers_generator_exit (second half)
def returns_on_close():
    try:
        yield 1
    except GeneratorExit:
        return 42


g = returns_on_close()
next(g)
print("close of a body that returns:", g.close(), inspect.getgeneratorstate(g))


# test_gen_close_ignored
def stubborn():
    try:
        yield 1
    except GeneratorExit:
        yield "no"
    yield "unreached"


g = stubborn()
next(g)
try:
    g.close()
except RuntimeError as e:
    print("ignored:", type(e).__name__, "|", e, "|",
          inspect.getgeneratorstate(g))
print("  close again:", g.close(), inspect.getgeneratorstate(g))


# test_gen_close_unstarted_and_finished
log.clear()


def spy():
    log.append("ran")
    yield 1


g = spy()
print("close unstarted:", g.close(), inspect.getgeneratorstate(g), log)
try:
    next(g)
except StopIteration as stop:
    print("  then next: StopIteration, value", stop.value, log)
g = spy()
list(g)
print("close finished:", g.close(), g.close(), inspect.getgeneratorstate(g))


# test_gen_close_other_exception
def fails_on_close():
    try:
        yield 1
    finally:
        raise ValueError("cleanup failed")


g = fails_on_close()
next(g)
try:
    g.close()
except ValueError as e:
    print("close raised:", type(e).__name__, "|", e, "|",
          inspect.getgeneratorstate(g))


# test_gen_free_closes_suspended
log.clear()
g = tidy()
next(g)
del g
gc.collect()
print("freed while suspended:", log)
log.clear()
g = tidy()
del g
print("freed unstarted:", log)
