# ch01_averager.py - a coroutine that receives values with send().
# The C twin is cl_sgen_averager (solutions/sgens.c). Run:
# python3 ch01_averager.py
import inspect


def averager():
    total = count = 0
    average = None
    while True:
        term = yield average
        total += term
        count += 1
        average = total // count


# test_averager_receives_sent_values
g = averager()
print("next:", next(g))
for term in (10, 30, 5, -50):
    print("send(%d):" % term, g.send(term))
g.close()
print("after close:", inspect.getgeneratorstate(g))
try:
    next(g)
except StopIteration as stop:
    print("next: StopIteration, value", stop.value)

# test_first_send_must_be_none
g = averager()
try:
    g.send(10)
except TypeError as e:
    print("send(10) first: TypeError:", e)
print("still", inspect.getgeneratorstate(g))
print("send(None):", g.send(None))
print("send(10):", g.send(10))
