"""check_chrome.py - what Perfetto needs from cotrace's Chrome JSON.

    python3 check_chrome.py FILE.json...

For each file: it is JSON with a traceEvents list; every event has name,
ph and pid; the X slices of one thread nest or are disjoint (Perfetto
drops slices that overlap partly); and every flow end (ph s and f) falls
inside an X slice of its thread, because Perfetto binds a flow to the
slice around it and drops a flow that has none. Prints one line per
file; exits 1 at the first problem.
"""
import json
import sys


def ns(us):
    return round(us * 1000)


def check(path):
    events = json.load(open(path))["traceEvents"]
    slices = {}
    for e in events:
        for key in ("name", "ph", "pid"):
            if key not in e:
                return "event without %s: %r" % (key, e)
        if e["ph"] == "X":
            # In whole nanoseconds, as cotrace writes them (three decimals
            # of a microsecond) and Perfetto reads them: in floating point,
            # 14056.010 + 0.004 is a hair past 14056.014.
            t0 = ns(e["ts"])
            slices.setdefault(e["tid"], []).append((t0, t0 + ns(e["dur"])))
    for tid, sl in slices.items():
        sl.sort()
        for (a0, a1), (b0, b1) in zip(sl, sl[1:]):
            if b0 < a1 and b1 > a1:
                return "tid %s: slices %r and %r overlap" % (tid, (a0, a1), (b0, b1))
    flows = 0
    for e in events:
        if e["ph"] in ("s", "f"):
            flows += 1
            if not any(a <= ns(e["ts"]) < b for a, b in slices.get(e["tid"], [])):
                return "flow end outside any slice: %r" % e
    print("%s: %d events, %d flow ends, each in a slice" % (path, len(events), flows))
    return None


for path in sys.argv[1:]:
    problem = check(path)
    if problem:
        print("%s: %s" % (path, problem))
        sys.exit(1)
