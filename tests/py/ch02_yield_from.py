# ch02_yield_from.py - delegating to another generator object (PEP 380).
# The C version is cl_yield_from(sub). Each block is one test of
# tests/ch02_gen.c (named in the comment).
# Run: python3 ch02_yield_from.py
log = []


def sub():
    try:
        x = yield "s1"
        log.append("sub got %s" % x)
        try:
            yield "s2"
        except ValueError as e:
            log.append("sub caught %s" % e)
            yield "s3"
        return "sub result"
    finally:
        log.append("sub cleanup")


def outer():
    try:
        r = yield from sub()
        log.append("outer got %s" % r)
        yield "o1"
    finally:
        log.append("outer cleanup")


# test_gen_yield_from_send_throw_return
g = outer()
print(next(g), g.send("hello"), g.throw(ValueError("boom")), next(g))
print(log)
g.close()
print(log)

# test_gen_yield_from_close
log.clear()
g = outer()
next(g)
g.close()
print("close while delegating:", log)

# An exception the sub-generator does not catch comes out of yield from.
log.clear()
g = outer()
next(g)
try:
    g.throw(TypeError("k"))
except TypeError as e:
    print("uncaught in sub:", repr(e), log)
