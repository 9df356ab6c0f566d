#!/usr/bin/env python3
"""mutants.py - "make mutants CH=N": do chapter N's tests tell right from wrong?

	python3 tests/kit/mutants.py N [-j JOBS] [--limit K] [--build DIR]

Promise 3 of the design ("Discriminating"): a mutant of chapter N's lab
regions, one small change to the reference code a student writes, must fail
some test of chapter N.  The steps:

  1. find chapter N's regions in solutions/*.c: the reference code is what
     stands between the last "// LAB chNN:" line and "// STUB chNN:";
  2. make the mutants, one change each, in a fixed order (file, line, kind):
	drop	a simple statement (see below) becomes "(void)0;"
	memory	the same, for a statement that is a call of *incref, *decref,
		free, *_free or CL_TRACE*: counted apart
	flip	a comparison negated: == and !=, < and >=, > and <=
	bound	a bound off by one: < and <=, > and >=, "+ 1"/"- 1" dropped
	swap	two adjacent simple statements exchanged (not a jump:
		return/break/continue/goto, nor the body of a brace-less if)
  3. each worker copies solutions/ once, and for each mutant patches one
     file, builds the library with tests/kit/variant.mk into its own OUT
     (make rebuilds only the patched object), links the grader from test
     objects compiled once per worker, runs "grade -c N -m"
     under a wall-clock timeout, and puts the file back;
  4. a mutant is killed if some test of chapter N fails (or the grader
     dies or times out), survived if all pass, stillborn if it does not
     build (not counted);
  5. print the survivors, the score, and write DIR/mutants/chNN/report.txt.

A simple statement is one that starts where a statement may start (after
";", "{", "}", a label, "else", "do" or a brace-less if/for/while header),
ends with ";" at parenthesis depth 0 within 8 lines, holds no brace, and is
not a declaration, not "(void)x;", not a case label and not a
preprocessor line.  return, break, continue and goto are statements like
any other: dropping the last return of a non-void function does not build
(-Werror=return-type) and is stillborn.

Survivors listed in tests/kit/mutants.skip, one per line as
"file:line: mutation — why it is equivalent", count as equivalent, not
against the score; an entry that matches no mutant is an error (the code
moved: update the entry).  Exit status: 0, or 1 on any error, or 2 if the
reference itself fails chapter N.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

SOLUTIONS = "solutions"
SKIP = "tests/kit/mutants.skip"
GRADE_TIMEOUT = 120  # a grader of 51 tests that all hang needs 255 s
MAX_STMT_LINES = 8

KEYWORDS = {"case", "default", "if",
            "for", "while", "switch", "else", "do", "sizeof", "typedef"}
HEADER = re.compile(r"^(\}\s*)?(else\s+)?(if|for|while|switch)\b")
DECL = re.compile(
    r"^(?:(?:static|const|volatile|register|unsigned|signed|long|short)\s+)*"
    r"(?:(?:struct|union|enum)\s+)?([A-Za-z_]\w*)(?:\s*\*+\s*|\s+)"
    r"(?:const\s+)?\**[A-Za-z_]\w*\s*(?:\[[^\]]*\]\s*)?(?:=|;|,|\[)")
JUMP = re.compile(r"(return|break|continue|goto)\b")
MEMORY = re.compile(r"^(\w*(incref|decref)|free|\w+_free|CL_TRACE\w*)\s*\(")
# Operator tokens, longest first, so "<<=" is never read as "<".
OPS = re.compile(r"<<=|>>=|<<|>>|->|<=|>=|==|!=|<|>")
FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
BOUND = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
PLUSMINUS1 = re.compile(r"(?<![\w.])([+-]) 1(?![\w.])")


def blank_code(lines):
	"""Each line's code with comments removed and the insides of string and
	character literals blanked (same length), so that counting parentheses
	and finding operators only sees code.  Preprocessor lines (and their
	continuations) come out empty."""
	out = []
	in_comment = False
	in_pp = False
	for line in lines:
		if in_pp or (not in_comment and line.lstrip().startswith("#")):
			in_pp = line.rstrip().endswith("\\")
			out.append("")
			continue
		res = []
		i = 0
		n = len(line)
		while i < n:
			c = line[i]
			if in_comment:
				if line.startswith("*/", i):
					in_comment = False
					res.append("  ")
					i += 2
				else:
					res.append(" ")
					i += 1
			elif line.startswith("/*", i):
				in_comment = True
				res.append("  ")
				i += 2
			elif line.startswith("//", i):
				break
			elif c in "\"'":
				res.append(c)
				i += 1
				while i < n and line[i] != c:
					if line[i] == "\\":
						res.append(" ")
						i += 1
					res.append(" ")
					i += 1
				if i < n:
					res.append(c)
					i += 1
			else:
				res.append(c)
				i += 1
		out.append("".join(res).rstrip())
	return out


def find_regions(lines, ch):
	"""[(first, last)] 0-based inclusive line ranges of the reference code of
	chapter ch's regions in lines."""
	tag = "ch%02d" % ch
	regions = []
	start = None
	for i, line in enumerate(lines):
		s = line.strip()
		if s.startswith("// LAB %s:" % tag):
			start = i + 1
		elif s.startswith("// STUB %s:" % tag) and start is not None:
			regions.append((start, i - 1))
			start = None
	return regions


def statements(code, first, last):
	"""Simple statements in code[first..last]: [(start, end, preceded by a
	brace-less header)], 0-based inclusive line numbers."""
	at_start = {}
	after_header = {}
	depth = 0
	start = True
	in_header = False
	header_start = False
	for i in range(first, last + 1):
		s = code[i].strip()
		if not s:
			continue
		at_start[i] = start and depth == 0
		after_header[i] = header_start
		if at_start[i] and HEADER.match(s):
			in_header = True
		depth += s.count("(") - s.count(")")
		header_start = False
		if depth == 0:
			if in_header and s.endswith(")"):
				start = True
				header_start = True
				in_header = False
			elif s[-1] in ";{}:":
				start = True
				in_header = False
			elif re.search(r"\b(else|do)$", s):
				start = True
				header_start = True
			else:
				start = False
		else:
			start = False
	result = []
	for i in sorted(at_start):
		if not at_start[i]:
			continue
		s = code[i].strip()
		word = re.match(r"[A-Za-z_]\w*", s)
		if s[0] in "{}#" or (word and word.group(0) in KEYWORDS):
			continue
		if s.startswith("(void)") or DECL.match(s):
			continue
		if re.match(r"^[A-Za-z_]\w*\s*:", s) and not s.startswith("::"):
			continue
		d = 0
		end = None
		for j in range(i, min(last, i + MAX_STMT_LINES - 1) + 1):
			t = code[j].strip()
			if "{" in t or "}" in t:
				break
			d += t.count("(") - t.count(")")
			if d == 0 and t.endswith(";"):
				end = j
				break
			if d < 0:
				break
		if end is not None:
			result.append((i, end, after_header[i]))
	return result


def short(text, width=60):
	text = " ".join(text.split())
	return text if len(text) <= width else text[:width - 3] + "..."


def ordinal(k):
	return "%d%s" % (k, {1: "st", 2: "nd", 3: "rd"}.get(k, "th"))


def make_mutants(ch):
	"""Every mutant of chapter ch, in a fixed order: a list of dicts with
	id, file, line (1-based), kind, desc and new (the whole patched text)."""
	mutants = []
	for name in sorted(os.listdir(SOLUTIONS)):
		if not name.endswith(".c"):
			continue
		path = os.path.join(SOLUTIONS, name)
		with open(path) as f:
			lines = f.read().split("\n")
		regions = find_regions(lines, ch)
		if not regions:
			continue
		code = blank_code(lines)
		found = []  # (line0, order, kind, desc, patch fn)

		def patched(changes):
			new = list(lines)
			for k, v in changes.items():
				new[k] = v
			return "\n".join(new)

		for first, last in regions:
			stmts = statements(code, first, last)
			for (a, b, _) in stmts:
				text = short(" ".join(l.strip() for l in lines[a:b + 1]))
				head = code[a].strip()
				kind = "memory" if MEMORY.match(head) else "drop"
				indent = re.match(r"\s*", lines[a]).group(0)
				ch_ = {a: indent + "(void)0; /* mutant */"}
				for k in range(a + 1, b + 1):
					ch_[k] = ""
				found.append((a, 0, kind, "drop `%s`" % text, patched(ch_)))
			# Adjacent: b's statement starts on the line after a's ends,
			# and neither is the body of a brace-less header.
			for (a1, b1, h1), (a2, b2, h2) in zip(stmts, stmts[1:]):
				if a2 != b1 + 1 or h1 or h2:
					continue
				# A jump swapped ahead of a statement only makes
				# it dead: the drop of that statement already.
				if JUMP.match(code[a1].strip()) or \
						JUMP.match(code[a2].strip()):
					continue
				s1 = lines[a1:b1 + 1]
				s2 = lines[a2:b2 + 1]
				if [l.strip() for l in s1] == [l.strip() for l in s2]:
					continue
				block = s2 + s1
				ch_ = {a1 + k: block[k] for k in range(len(block))}
				desc = "swap `%s` with `%s`" % (
					short(" ".join(l.strip() for l in s1), 35),
					short(" ".join(l.strip() for l in s2), 35))
				found.append((a1, 3, "swap", desc, patched(ch_)))
			for i in range(first, last + 1):
				c = code[i]
				seen = {}
				toks = OPS.findall(c)
				for m in OPS.finditer(c):
					op = m.group(0)
					if op not in FLIP:
						continue
					seen[op] = seen.get(op, 0) + 1
					nth = "" if toks.count(op) == 1 \
						else " (%s)" % ordinal(seen[op])
					for order, kind, table in ((1, "flip", FLIP),
								   (2, "bound", BOUND)):
						if op not in table:
							continue
						new = lines[i][:m.start()] + table[op] + \
							lines[i][m.end():]
						found.append((i, order, kind, "`%s` -> `%s`%s" %
							      (op, table[op], nth),
							      patched({i: new})))
				k = 0
				for m in PLUSMINUS1.finditer(c):
					k += 1
					new = lines[i][:m.start()] + m.group(1) + " 0" + \
						lines[i][m.end():]
					found.append((i, 2, "bound", "`%s 1` -> `%s 0`%s" %
						      (m.group(1), m.group(1),
						       "" if k == 1 else " (%s)" % ordinal(k)),
						      patched({i: new})))
		found.sort(key=lambda x: (x[0], x[1]))
		for (line0, _, kind, desc, new) in found:
			mutants.append({
				"file": name, "line": line0 + 1, "kind": kind,
				"desc": "%s:%d: %s" % (name, line0 + 1, desc),
				"new": new})
	for k, m in enumerate(mutants):
		m["id"] = "m%03d" % (k + 1)
	return mutants


def read_skip():
	"""{description: reason} from tests/kit/mutants.skip."""
	skip = {}
	if not os.path.exists(SKIP):
		return skip
	with open(SKIP) as f:
		for n, line in enumerate(f, 1):
			line = line.rstrip("\n")
			if not line.strip() or line.lstrip().startswith("#"):
				continue
			for sep in (" — ", " -- "):
				if sep in line:
					desc, why = line.split(sep, 1)
					break
			else:
				desc, why = line, ""
			if not why.strip():
				sys.stderr.write("%s:%d: no reason given (\"mutant — why "
						 "it is equivalent\")\n" % (SKIP, n))
			skip[desc.strip()] = why.strip()
	return skip


def kill_tree(pid):
	"""Kill pid's children (each test runs in a process group of its
	own, which Check makes), then pid's own process group."""
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				stat = f.read()
		except OSError:
			continue
		fields = stat[stat.rindex(")") + 2:].split()
		if int(fields[1]) == pid:  # ppid
			try:
				os.killpg(int(fields[2]), signal.SIGKILL)
			except OSError:
				pass
	try:
		os.killpg(pid, signal.SIGKILL)
	except OSError:
		pass


class Worker:
	def __init__(self, root, k, ch):
		self.dir = os.path.join(root, "w%d" % k)
		self.src = os.path.join(self.dir, "src")
		self.out = os.path.join(self.dir, "out")
		self.ch = ch
		shutil.rmtree(self.src, ignore_errors=True)
		# Fresh mtimes: objects left by an interrupted run are older.
		shutil.copytree(SOLUTIONS, self.src, copy_function=shutil.copy)

	def sh(self, argv):
		r = subprocess.run(argv, stdout=subprocess.PIPE,
				   stderr=subprocess.STDOUT,
				   universal_newlines=True)
		return r.returncode == 0, r.stdout

	def build(self, target="all"):
		return self.sh([os.environ.get("MAKE", "make"),
				"--no-print-directory", "-f", "tests/kit/variant.mk",
				"SRC=" + self.src, "OUT=" + self.out,
				target if target == "all" else
				os.path.join(self.out, target)])

	def prepare(self):
		"""Build the reference with variant.mk, then compile the grader's
		sources to objects once: variant.mk compiles them again at every
		link (5 s a mutant), and no mutant touches them (regions are in
		solutions/*.c, never in a header)."""
		ok, log = self.build()
		if not ok:
			return ok, log
		cc = os.environ.get("CC", "cc")
		cflags = os.environ.get("CFLAGS",
					"-std=gnu11 -Wall -Wextra -Werror -g -O2")
		check = subprocess.run(["pkg-config", "--cflags", "--libs",
					"check"], stdout=subprocess.PIPE,
				       universal_newlines=True, check=True)
		flags = check.stdout.split()
		self.check_cflags = [f for f in flags
				     if not f.startswith(("-l", "-L"))]
		self.check_libs = [f for f in flags
				   if f.startswith(("-l", "-L", "-pthread"))]
		tdir = os.path.join(self.out, "mutobj")
		os.makedirs(tdir, exist_ok=True)
		srcs = ["tests/grade.c"] + sorted(
			os.path.join("tests", f) for f in os.listdir("tests")
			if re.match(r"ch\d\d_.*\.c$", f))
		self.tobjs = []
		for src in srcs:
			obj = os.path.join(tdir, os.path.basename(src)[:-2] + ".o")
			ok, log = self.sh([cc] + cflags.split() +
					  self.check_cflags +
					  ["-I" + self.src, "-Itests", "-c", src,
					   "-o", obj])
			if not ok:
				return ok, log
			self.tobjs.append(obj)
		self.link_cmd = ([cc] + cflags.split() + self.tobjs +
				 [os.path.join(self.out, "libcorolab.a")] +
				 os.environ.get("LDFLAGS", "").split() +
				 self.check_libs +
				 ["-o", os.path.join(self.out, "grade")])
		return self.relink()

	def relink(self):
		"""The library with variant.mk (only the patched object is
		rebuilt), then the grader from the objects of prepare()."""
		ok, log = self.build("libcorolab.a")
		if not ok:
			return ok, log
		return self.sh(self.link_cmd)

	def grade(self):
		"""(killed, detail).  The output goes to a file, not a pipe: Check
		forks each test into a process group of its own, and a test
		child left behind by a killed grader would hold a pipe open."""
		log = os.path.join(self.dir, "grade.log")
		with open(log, "w") as f:
			p = subprocess.Popen(
				[os.path.join(self.out, "grade"), "-c",
				 str(self.ch), "-m"],
				stdout=f, stderr=subprocess.STDOUT,
				start_new_session=True)
			try:
				p.wait(timeout=GRADE_TIMEOUT)
			except subprocess.TimeoutExpired:
				kill_tree(p.pid)
				p.wait()
				return True, "timed out after %ds" % GRADE_TIMEOUT
		with open(log, errors="replace") as f:
			out = f.read()
		m = re.search(r"^chapter %d passed (\d+) failed (\d+)$" % self.ch,
			      out, re.M)
		if not m:
			return True, "grader died (status %d)" % p.returncode
		passed, failed = int(m.group(1)), int(m.group(2))
		if failed:
			return True, "%d of %d tests failed" % (failed,
								 passed + failed)
		return False, "%d tests passed" % passed

	def run(self, mut):
		path = os.path.join(self.src, mut["file"])
		orig = os.path.join(SOLUTIONS, mut["file"])
		with open(path, "w") as f:
			f.write(mut["new"])
		try:
			ok, log = self.relink()
			if not ok:
				errs = [l for l in log.split("\n") if "error:" in l]
				return "stillborn", short((errs or [""])[0], 100)
			killed, detail = self.grade()
			return ("killed" if killed else "survived"), detail
		finally:
			shutil.copyfile(orig, path)


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("chapter", type=int)
	ap.add_argument("-j", "--jobs", type=int, default=2)
	ap.add_argument("--limit", type=int, default=None)
	ap.add_argument("--file", default=None,
			help="only the mutants of this file of solutions/")
	ap.add_argument("--build", default="build",
			help="build directory (build/san under SAN=1)")
	ap.add_argument("--list", action="store_true",
			help="only list the mutants, build nothing")
	args = ap.parse_args()
	ch = args.chapter
	mutants = make_mutants(ch)
	if not mutants:
		sys.exit("mutants: chapter %d has no lab regions in %s/"
			 % (ch, SOLUTIONS))
	total = len(mutants)
	skip = read_skip()
	all_descs = {m["desc"] for m in mutants}
	stale = ["error: %s: \"%s\" matches no mutant" % (SKIP, desc)
		 for desc in sorted(skip)
		 if desc.split(":", 1)[0] in {m["file"] for m in mutants}
		 and desc not in all_descs]
	errors = len(stale)
	for line in stale:
		sys.stderr.write(line + "\n")
	if args.file is not None:
		mutants = [m for m in mutants if m["file"] == args.file]
	if args.limit is not None:
		mutants = mutants[:args.limit]
	if args.list:
		for m in mutants:
			print("%s %-6s %s" % (m["id"], m["kind"], m["desc"]))
		return 1 if errors else 0

	root = os.path.join(args.build, "mutants", "ch%02d" % ch)
	os.makedirs(root, exist_ok=True)
	jobs = max(1, min(args.jobs, len(mutants)))
	print("chapter %d: %d mutants%s, %d workers" % (
		ch, len(mutants),
		"" if len(mutants) == total else " (first %d of %d)" %
		(len(mutants), total), jobs), flush=True)
	workers = [Worker(root, k, ch) for k in range(jobs)]
	for w in workers:
		ok, log = w.prepare()
		if not ok:
			sys.stderr.write(log)
			sys.exit("mutants: the reference does not build")
		killed, detail = w.grade()
		if killed:
			sys.stderr.write("mutants: the reference fails chapter %d: "
					 "%s\n" % (ch, detail))
			sys.exit(2)

	results = {}
	lock = threading.Lock()
	queue = list(mutants)
	t0 = time.time()

	def loop(w):
		while True:
			with lock:
				if not queue:
					return
				m = queue.pop(0)
			t = time.time()
			verdict, detail = w.run(m)
			with lock:
				results[m["id"]] = (verdict, detail, time.time() - t)
				print("  %s %-9s %-6s %s (%s, %.1fs)" % (
					m["id"], verdict, m["kind"], m["desc"], detail,
					time.time() - t), flush=True)

	threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	elapsed = time.time() - t0

	report = []
	survivors = equivalent = killed = stillborn = 0
	mem_total = mem_killed = 0
	for m in mutants:
		verdict = results[m["id"]][0]
		if verdict == "stillborn":
			stillborn += 1
			continue
		if verdict == "survived" and m["desc"] in skip:
			equivalent += 1
			report.append("equivalent %s — %s" % (m["desc"],
							      skip[m["desc"]]))
			continue
		if m["kind"] == "memory":
			mem_total += 1
			mem_killed += verdict == "killed"
		if verdict == "killed":
			killed += 1
		else:
			survivors += 1
			report.append(m["desc"])
	for m in mutants:
		if results[m["id"]][0] == "killed" and m["desc"] in skip:
			report.append("error: %s is killed but listed in %s" %
				      (m["desc"], SKIP))
			errors += 1
	counted = killed + survivors
	pct = 100.0 * killed / counted if counted else 100.0
	summary = ("chapter %d: %d of %d mutants killed (%.0f%%), %d stillborn; "
		   "memory mutants: %d of %d killed" % (
			   ch, killed, counted, pct, stillborn, mem_killed,
			   mem_total))
	if equivalent:
		summary += "; %d equivalent (%s)" % (equivalent, SKIP)
	timing = "%d mutants in %.0fs with %d workers (%.1fs each)" % (
		len(mutants), elapsed, jobs, elapsed / len(mutants))
	report += stale + [summary, timing]
	for line in report:
		print(line)
	with open(os.path.join(root, "report.txt"), "w") as f:
		for m in mutants:
			v, d, t = results[m["id"]]
			f.write("%s %-9s %-6s %s (%s, %.1fs)\n" % (
				m["id"], v, m["kind"], m["desc"], d, t))
		f.write("\n" + "\n".join(report) + "\n")
	return 1 if errors else 0


if __name__ == "__main__":
	sys.exit(main())
