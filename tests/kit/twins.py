#!/usr/bin/env python3
"""twins.py - the C tests still expect what CPython prints.

	python3 tests/kit/twins.py

A twin, tests/py/ch*.py, runs the scenarios of some C tests on CPython
and prints one line "test_name: trail" for each. This runs every twin
(all at once, in tests/py, at most TIMEOUT seconds each); for each such
line, the C test START_TEST(test_name) in tests/ch*.c must expect that
trail: the argument of the one EXPECT_TRAIL(...) or
CL_EXPECT_STR(trail, ...) in its body, its adjacent string literals
joined and its C escapes undone.

Every other case is an error unless tests/py/twins.skip explains it, one
line "key: why" each:
  - a twin's test that differs from its C test, has none, or whose C test
    expects no literal trail: key test_name;
  - a C test whose comment names a twin ("ch03_ready.py, test_name") that
    the twin does not print: key test_name;
  - a twin's lines not of the form "test_name: trail": key the twin's
    file name (a glob: ch01_*.py); a twin that prints only such lines is
    skipped (it must still run and exit 0).
An entry that no longer excuses anything is an error too, so the list
keeps only the differences that are true today.

One line per twin, "ok", "skip" or "FAIL" with each problem; last,
"N passed, N failed" (a check per twin not skipped). The trails are
CPython 3.11's: another version may print other messages.
"""
import concurrent.futures
import fnmatch
import glob
import os
import re
import subprocess
import sys

TIMEOUT = 60
TEST_LINE = re.compile(r"(test_\w+): ?(.*)")
CLAIM = re.compile(r"\b(ch\d\d_\w+\.py),\s+(test_\w+)")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v", "\\": "\\", '"': '"', "'": "'", "?": "?"}


def strip_comments(src):
    """SRC with its comments blanked out (newlines kept, so that the line
    numbers still hold); string and character literals untouched."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def unescape(body):
    """The characters a C string literal's BODY (between its quotes)
    stands for."""
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1:i + 2]
        hexa = re.match(r"x([0-9a-fA-F]+)", body[i + 1:])
        octal = re.match(r"[0-7]{1,3}", body[i + 1:])
        if e in ESCAPES:
            out.append(ESCAPES[e])
            i += 2
        elif hexa:
            out.append(chr(int(hexa.group(1), 16)))
            i += 1 + len(hexa.group())
        elif octal:
            out.append(chr(int(octal.group(), 8)))
            i += 1 + len(octal.group())
        else:  # not C; keep it as written
            out.append(c)
            i += 1
    return "".join(out)


def literal_arg(code, start):
    """The C string that CODE's call argument at START is made of, or None
    if it is not only string literals (a variable, a call)."""
    m = re.compile(r'\s*((?:"(?:[^"\\\n]|\\.)*"\s*)+)\)').match(code, start)
    if m is None:
        return None
    return "".join(unescape(s)
                   for s in re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(1)))


def c_tests():
    """{test_name: (where, [expected trails or None])} for tests/ch*.c,
    and the claims their comments make: [(twin, test_name, where)]."""
    tests, claims = {}, []
    for path in sorted(glob.glob("tests/ch*.c")):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        for m in CLAIM.finditer(src):
            where = f"{path}:{src.count(chr(10), 0, m.start()) + 1}"
            claims.append((m.group(1), m.group(2), where))
        code = strip_comments(src)
        for m in re.finditer(r"^START_TEST\((\w+)\)", code, re.M):
            end = code.find("\nEND_TEST", m.end())
            body = code[m.end():end if end >= 0 else len(code)]
            where = f"{path}:{code.count(chr(10), 0, m.start()) + 1}"
            calls = re.finditer(
                r"\b(?:EXPECT_TRAIL\(|CL_EXPECT_STR\(\s*trail\s*,)", body)
            tests[m.group(1)] = (where, [literal_arg(body, c.end())
                                         for c in calls])
    return tests, claims


def read_skip(path):
    """{key: why} from the skip list."""
    skip = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, why = line.partition(":")
            skip[key.strip()] = why.strip()
    return skip


def run_twin(twin):
    try:
        p = subprocess.run([sys.executable, os.path.basename(twin)],
                           cwd=os.path.dirname(twin), capture_output=True,
                           text=True, errors="backslashreplace",
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"did not finish in {TIMEOUT} s"
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"exited with status {p.returncode}: {err}"
    return p.stdout.splitlines(), None


def plural(n, what):
    return f"{n} {what}{'' if n == 1 else 's'}"


def c_quote(s):
    return '"' + (s.replace("\\", "\\\\").replace('"', '\\"')
                  .replace("\n", "\\n").replace("\t", "\\t")) + '"'


def difference(want, got):
    """C's and CPython's trail side by side, around where they part."""
    pos = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b),
               min(len(want), len(got)))
    cut = max(0, pos - 30)

    def show(s):
        return c_quote(("..." if cut else "") + s[cut:cut + 80]
                       + ("..." if cut + 80 < len(s) else ""))

    return (f"C expects {show(want)}, CPython prints {show(got)} "
            f"(they differ at character {pos + 1})")


def check(twin, lines, tests, claims, skip, used):
    """This twin's problems; how many of its tests agreed, how many were
    excused; its lines that are not tests, and the skip keys for them."""
    name = os.path.basename(twin)
    problems, agreed, excused = [], 0, 0
    printed = set()
    free = [line for line in lines if not TEST_LINE.fullmatch(line)]
    file_keys = [k for k in skip if k.endswith(".py")
                 and fnmatch.fnmatch(name, k)]
    if not lines:
        problems.append("prints nothing")
    if free:
        if file_keys:
            used.update(file_keys)
        else:
            problems.append(f"prints a line not of the form "
                            f"\"test_name: trail\": {c_quote(free[0])}")
    for line in lines:
        m = TEST_LINE.fullmatch(line)
        if m is None:
            continue
        test, got = m.groups()
        if test in printed:
            problems.append(f"{test}: printed twice")
            continue
        printed.add(test)
        if test not in tests:
            bad = "no C test of that name"
        else:
            where, wants = tests[test]
            if len(wants) != 1:
                bad = (f"{where} has {len(wants)} trail expectations, "
                       f"not one")
            elif wants[0] is None:
                bad = f"{where} expects a trail that is not a literal"
            elif wants[0] != got:
                bad = difference(wants[0], got)
            else:
                bad = None
        if bad is None:
            agreed += 1
            if test in skip:
                used.add(test)
                problems.append(f"{test}: agrees, yet twins.skip "
                                f"excuses it: remove the entry")
        elif test in skip:
            used.add(test)
            excused += 1
        else:
            problems.append(f"{test}: {bad}")
    for claimed_by, test, where in claims:
        if claimed_by != name or test in printed:
            continue
        if test in skip:
            used.add(test)
            excused += 1
        else:
            problems.append(f"{test}: {where} names it as this twin's, "
                            f"the twin does not print it")
    return problems, agreed, excused, free, file_keys


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "..", ".."))
    sys.stdout.reconfigure(errors="backslashreplace")
    skip_path = "tests/py/twins.skip"
    skip = read_skip(skip_path)
    tests, claims = c_tests()
    twins = sorted(glob.glob("tests/py/ch*.py"))
    with concurrent.futures.ThreadPoolExecutor(len(twins) or 1) as pool:
        outputs = list(pool.map(run_twin, twins))
    if sys.version_info[:2] != (3, 11):
        print(f"  note  the twins' trails are CPython 3.11's; this is "
              f"{sys.version.split()[0]}")
    passed = failed = 0
    used = set()
    for twin, (lines, err) in zip(twins, outputs):
        if err is not None:
            print(f"  FAIL  {twin}: {err}")
            failed += 1
            continue
        problems, agreed, excused, free, keys = check(twin, lines, tests,
                                                      claims, skip, used)
        if problems:
            print(f"  FAIL  {twin}: {problems[0]}")
            for p in problems[1:]:
                print(f"        {p}")
            failed += 1
        elif len(free) == len(lines):
            print(f"  skip  {twin}: {skip[keys[0]]}")
        else:
            known = [plural(excused, "known difference")] if excused else []
            if free:
                known.append(plural(len(free), "other line") +
                             " not compared")
            known = f" ({', '.join(known)}: twins.skip)" if known else ""
            print(f"  ok    {twin}: {plural(agreed, 'test')} agree"
                  f"{'s' if agreed == 1 else ''} with the C "
                  f"expectations{known}")
            passed += 1
    # A twin that did not run cannot use its entries: stale only if all ran.
    stale = [k for k in skip if k not in used]
    if stale and all(err is None for _, err in outputs):
        print(f"  FAIL  {skip_path}: excuses nothing any more: "
              f"{', '.join(stale)}")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
