#!/usr/bin/env python3
"""check_labels.py - no two labels of a timeline overlap.

    check_labels.py FILE.dot ...

Reads the DOT that cotrace timeline writes (text is plaintext nodes
pinned by pos, at their centre) and measures each label as canvas.c
does (0.6 em a character, the font size plus 2 points high). Exits 1
naming the first two labels that overlap in each file.
"""
import re
import sys

NODE = re.compile(r'^\s*(n\d+)\s*\[(.*?)\];', re.M | re.S)
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s\]]+)')


def labels(text):
    for name, body in NODE.findall(text):
        a = {k: v.strip('"') for k, v in ATTR.findall(body)}
        if a.get("shape") != "plaintext" or "pos" not in a:
            continue
        x, y = (float(v) for v in a["pos"].rstrip("!").split(",")[:2])
        size = float(a.get("fontsize", 9))
        label = a.get("label", "").replace("\\\\", "\\")
        w = len(label) * size * 0.6
        h = size + 2
        yield name, label, (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def main():
    bad = 0
    for path in sys.argv[1:]:
        rects = sorted(labels(open(path, encoding="utf-8").read()),
                       key=lambda r: r[2][0])
        # Sweep along x: only labels that start before this one ends.
        for i, (n1, l1, a) in enumerate(rects):
            for n2, l2, b in rects[i + 1:]:
                if b[0] >= a[2] - 0.5:
                    break
                if a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5:
                    print("%s: %s '%s' overlaps %s '%s'" % (path, n1, l1, n2, l2))
                    bad += 1
                    break
    sys.exit(1 if bad else 0)


main()
