#!/usr/bin/env python3
"""gen_big.py - write a large, valid corolab trace, for measuring cotrace.

    gen_big.py chain N      main awaits task 2, which awaits task 3, ...
                            down to task N, which sleeps once: an await
                            chain of N tasks (about 12 lines a task)
    gen_big.py busy LINES   100 workers sleeping 1 ms in a loop, until the
                            trace has about LINES lines

The trace goes to standard output. Both shapes end with loop.end and every
task done, so every view of cotrace accepts them. The README's figures
(section 7) were measured on these traces.
"""
import sys


class Trace:
    def __init__(self, out):
        self.out = out
        self.seq = 0
        self.ts = 0
        self.it = 0
        out.write("# corolab-trace 1 clock=virtual unit=us\n")

    def ev(self, name, fields=""):
        self.seq += 1
        self.out.write("%d %d %d %s%s%s\n" % (self.seq, self.ts, self.it, name,
                                              " " if fields else "", fields))
        return self.seq

    def iter(self, ready):
        self.it += 1
        self.ev("loop.iter", "it=%d ready=%d timers=0" % (self.it, ready))


def chain(n, t):
    t.iter(1)
    t.ev("task.new", "task=1 name=main parent=0")
    wake = {1: t.ev("wake", "task=1 by=spawn")}
    t.ev("step.begin", "task=1 step=1 cause=%d qlen=0" % wake[1])
    for i in range(2, n + 1):
        t.ev("task.new", "task=%d name=link%d parent=1" % (i, i))
        wake[i] = t.ev("wake", "task=%d by=spawn" % i)
    t.ev("await", "task=1 on=fut:2 what=task:2")
    t.ev("step.end", "task=1 step=1 result=pending")
    t.iter(n - 1)
    for i in range(2, n + 1):
        t.ev("step.begin", "task=%d step=1 cause=%d qlen=%d" % (i, wake[i], n - i))
        if i < n:
            t.ev("await", "task=%d on=fut:%d what=task:%d" % (i, i + 1, i + 1))
        else:
            t.ev("timer.set", "timer=1 at=1000")
            t.ev("await", "task=%d on=timer:1 what=sleep" % i)
        t.ev("step.end", "task=%d step=1 result=pending" % i)
    t.ts = 1000
    t.iter(0)
    t.ev("timer.fire", "timer=1")
    w = t.ev("wake", "task=%d by=timer:1" % n)
    # The chain unwinds: each task finishes and wakes the one awaiting it.
    for i in range(n, 0, -1):
        t.iter(1)
        t.ev("step.begin", "task=%d step=2 cause=%d qlen=0" % (i, w))
        t.ev("step.end", "task=%d step=2 result=done" % i)
        t.ev("task.done", "task=%d state=ok" % i)
        t.ev("fut.done", "fut=%d by=task:%d state=ok" % (i, i))
        if i > 1:
            w = t.ev("wake", "task=%d by=fut:%d via=fut:%d" % (i - 1, i, i))
    t.ev("loop.end")


def busy(lines, t, workers=100):
    t.iter(workers)
    wake = {}
    for i in range(1, workers + 1):
        t.ev("task.new", "task=%d name=worker%d parent=0" % (i, i))
        wake[i] = t.ev("wake", "task=%d by=spawn" % i)
    step = dict.fromkeys(wake, 0)
    timer = 0
    rounds = max(1, lines // (workers * 6 + 2))
    for r in range(rounds + 1):
        last = r == rounds
        fired = []
        for i in range(1, workers + 1):
            step[i] += 1
            t.ev("step.begin", "task=%d step=%d cause=%d qlen=%d" % (
                i, step[i], wake[i], workers - i))
            if last:
                t.ev("step.end", "task=%d step=%d result=done" % (i, step[i]))
                t.ev("task.done", "task=%d state=ok" % i)
                continue
            timer += 1
            t.ev("timer.set", "timer=%d at=%d" % (timer, t.ts + 1000))
            t.ev("await", "task=%d on=timer:%d what=sleep" % (i, timer))
            t.ev("step.end", "task=%d step=%d result=pending" % (i, step[i]))
            fired.append((i, timer))
        if last:
            break
        t.ts += 1000
        t.iter(0)
        for i, tm in fired:
            t.ev("timer.fire", "timer=%d" % tm)
            wake[i] = t.ev("wake", "task=%d by=timer:%d" % (i, tm))
        t.iter(workers)
    t.ev("loop.end")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("chain", "busy"):
        sys.exit("usage: gen_big.py chain TASKS | busy LINES")
    n = int(sys.argv[2])
    t = Trace(sys.stdout)
    (chain if sys.argv[1] == "chain" else busy)(n, t)


main()
