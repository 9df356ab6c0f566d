#!/usr/bin/env python3
"""mutants.py - "make mutants CH=N": do chapter N's tests tell right from wrong?

	python3 tests/kit/mutants.py N [-j JOBS] [--limit K] [--file F.c]
				       [--build DIR] [--san] [--list]

Promise 3 of the design ("Discriminating"): a mutant of chapter N's lab
regions, one small change to the reference code a student writes, must fail
some test of chapter N.  The steps:

  1. find chapter N's regions in solutions/*.c: the reference code is what
     stands between the last "// LAB chNN:" (or "// LAB chNN name:") line
     and "// STUB chNN:";
  2. make the mutants, one change each, in a fixed order (file, line, kind):
	drop	a simple statement (see below) becomes "(void)0;"
	memory	the same, for a statement that is a call of *incref, *decref,
		free or *_free: counted apart, and graded under the
		sanitizers with --san
	trace	the same, for a CL_TRACE* statement (a tracer event lost)
	flip	a comparison negated: == and !=, < and >=, > and <=
	bound	a bound off by one: < and <=, > and >=, "+ 1"/"- 1" dropped
	swap	two adjacent simple statements exchanged (not a jump:
		return/break/continue/goto, nor the body of a brace-less if)
  3. each worker copies solutions/ once and builds it with
     tests/kit/variant.mk into its own OUT, compiles the grader's sources
     to objects once, and runs every test of chapter N alone on it, which
     times each test (a reference that fails is an error);
  4. for each mutant, a worker patches one file, rebuilds the library
     (make rebuilds only the patched object), and if the object, its
     debug information stripped, is the reference's, the mutant is
     identical and goes no further; else it links the grader and runs
     the tests one at a time ("CK_RUN_CASE=test grade -c N -m"), the
     test that has killed the most mutants so far first, and stops at
     the first that fails.  Each runs under a timeout of its own
     (SLOWDOWN times its reference time, between MIN_TIMEOUT and the
     grader's), so that a mutant that hangs costs a second, not the
     grader's five; then the worker puts the file back;
  5. a mutant is killed if a test of chapter N fails (or the grader dies
     or times out), survived if all pass, stillborn if it does not build
     and identical if it compiles to the reference's code (neither is
     counted);
  6. print the survivors, the score, and write
     DIR/mutants/chNN/report.txt (with how many mutants each test
     killed).

With --san (make mutants CH=N SAN=1) only the memory mutants and the
survivors of the last plain run (build/mutants/chNN/report.txt, less the
equivalent ones) are graded, on a build with AddressSanitizer,
LeakSanitizer and UBSan (the timeouts scaled by CK_TIMEOUT_MULTIPLIER, 4
unless set): a leak, a use after free or a read out of bounds that the
plain grade cannot see fails the test it happens in.  The report goes to
DIR/mutants-san/chNN/report.txt.

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
import json
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
# A mutant's tests run one at a time, each under a timeout of its own:
# SLOWDOWN times what it takes on the reference, at least MIN_TIMEOUT and
# at most the grader's (TEST_TIMEOUT, tests/grade.c), all scaled by
# CK_TIMEOUT_MULTIPLIER under the sanitizers.
TEST_TIMEOUT = 5.0
MIN_TIMEOUT = 1.0
SLOWDOWN = 10
GRADER_SLACK = 10  # seconds for the grader around a test's timeout
SAN_CFLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
	      "-fno-sanitize-recover=undefined"]
SAN_LDFLAGS = ["-fsanitize=address,undefined"]
MAX_STMT_LINES = 8
MAX_SHIFT = 60  # lines a skip entry may have moved (match_skip)

KEYWORDS = {"case", "default", "if",
            "for", "while", "switch", "else", "do", "sizeof", "typedef"}
HEADER = re.compile(r"^(\}\s*)?(else\s+)?(if|for|while|switch)\b")
DECL = re.compile(
    r"^(?:(?:static|const|volatile|register|unsigned|signed|long|short)\s+)*"
    r"(?:(?:struct|union|enum)\s+)?([A-Za-z_]\w*)(?:\s*\*+\s*|\s+)"
    r"(?:const\s+)?\**[A-Za-z_]\w*\s*(?:\[[^\]]*\]\s*)?(?:=|;|,|\[)")
JUMP = re.compile(r"(return|break|continue|goto)\b")
MEMORY = re.compile(r"^(\w*(incref|decref)|free|\w+_free)\s*\(")
TRACE = re.compile(r"^CL_TRACE\w*\s*\(")
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
		if re.match(r"// LAB %s( [\w-]+)?:" % tag, s):
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
				kind = "memory" if MEMORY.match(head) else \
					"trace" if TRACE.match(head) else "drop"
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


def match_skip(skip, mutants):
	"""Match the entries of mutants.skip to mutants: ({mutant desc:
	reason}, [notes], [stale entries]).  An entry names its mutant by
	line; when comments are added above a region, its lines move while
	the code stays.  So a file's entries are matched with their lines
	shifted by the one offset (0 first, at most MAX_SHIFT) under which
	most of them match, then the rest likewise; what matches nothing is
	stale.  (Exact matches alone would be wrong: after a shift, another
	mutant may sit on an entry's old line.)"""
	descs = {m["desc"] for m in mutants}
	files = {m["file"] for m in mutants}
	matched = {}
	notes = []
	left = {}
	for d, why in skip.items():
		m = re.match(r"([^:]+):(\d+): (.*)", d)
		if m is None or m.group(1) not in files:
			continue
		left.setdefault(m.group(1), []).append(
			(int(m.group(2)), m.group(3), d, why))
	stale = []
	for name, entries in sorted(left.items()):
		while entries:
			best, hits = 0, []
			for off in sorted(range(-MAX_SHIFT, MAX_SHIFT + 1),
					  key=abs):
				h = [e for e in entries if "%s:%d: %s" % (
					name, e[0] + off, e[1]) in descs and
				     "%s:%d: %s" % (name, e[0] + off, e[1])
				     not in matched]
				if len(h) > len(hits):
					best, hits = off, h
			if not hits:
				break
			for e in hits:
				matched["%s:%d: %s" % (name, e[0] + best, e[1])] = e[3]
				entries.remove(e)
			if best:
				notes.append("note: %s: %d entries of %s match with "
					     "their lines moved by %+d (update "
					     "them)" % (SKIP, len(hits), name, best))
		stale += [e[2] for e in entries]
	return matched, notes, sorted(stale)


def reported(mutants, path):
	"""The verdicts of the report at path, as (mutant, verdict) pairs
	for today's mutants. A report line is matched to a mutant by file
	and mutation, in order, not by line: comments added since (which
	move lines) do not matter; changed code does."""
	today = {}
	for m in mutants:
		today.setdefault((m["file"], m["desc"].split(": ", 1)[1]),
				 []).append(m)
	texts = sorted({k[1] for k in today}, key=len, reverse=True)
	pairs = []
	with open(path) as f:
		for line in f:
			w = line.split(None, 3)
			if len(w) < 4 or not re.match(r"m\d+$", w[0]):
				continue
			name, rest = w[3].split(":", 1)
			rest = rest.split(": ", 1)[-1]
			for t in texts:
				if rest.startswith(t + " ("):
					q = today.get((name, t))
					if q:
						pairs.append((q.pop(0), w[1]))
					break
	return pairs


def plain_survivors(mutants, path):
	"""The ids of the mutants that survived the plain run reported in
	path and are not listed as equivalent; none if there is no such
	report."""
	if not os.path.exists(path):
		sys.stderr.write("mutants: no plain run in %s: only the memory "
				 "mutants\n" % path)
		return set()
	skip, _, _ = match_skip(read_skip(), mutants)
	return {m["id"] for m, verdict in reported(mutants, path)
		if verdict == "survived" and m["desc"] not in skip}


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


class Tests:
	"""Chapter ch's tests, shared by the workers: their names, what each
	takes on the reference (hence its timeout), and how many mutants each
	has killed so far, which orders them: the likeliest killer first."""

	def __init__(self, ch, base_mult):
		self.ch = ch
		self.base_mult = base_mult
		self.names = []
		self.secs = {}
		self.kills = {}
		self.lock = threading.Lock()

	def timeout(self, name):
		"""The test's timeout in seconds: MIN_TIMEOUT, or SLOWDOWN times
		what it took on the reference, but never more than the grader's
		own (TEST_TIMEOUT times the multiplier in force)."""
		full = TEST_TIMEOUT * self.base_mult
		t = max(MIN_TIMEOUT * self.base_mult,
			SLOWDOWN * self.secs.get(name, full))
		return min(t, full)

	def order(self):
		with self.lock:
			return sorted(self.names, key=lambda n: (
				-self.kills[n], self.secs[n]))

	def killed_by(self, name):
		with self.lock:
			self.kills[name] += 1


class Worker:
	def __init__(self, root, k, ch, tests, originals, san):
		self.dir = os.path.join(root, "w%d" % k)
		self.src = os.path.join(self.dir, "src")
		self.out = os.path.join(self.dir, "out")
		self.ch = ch
		self.tests = tests
		self.originals = originals
		self.san = san
		self.same = {}  # file -> its reference object, debug info stripped
		shutil.rmtree(self.src, ignore_errors=True)
		# Fresh mtimes: objects left by an interrupted run are older.
		shutil.copytree(SOLUTIONS, self.src, copy_function=shutil.copy)
		# The text the mutants were made from, should solutions/ change
		# under a long run.
		for name, text in originals.items():
			with open(os.path.join(self.src, name), "w") as f:
				f.write(text)

	def sh(self, argv):
		r = subprocess.run(argv, stdout=subprocess.PIPE,
				   stderr=subprocess.STDOUT,
				   universal_newlines=True)
		return r.returncode == 0, r.stdout

	def build(self, target="all"):
		return self.sh([os.environ.get("MAKE", "make"),
				"--no-print-directory", "-f", "tests/kit/variant.mk",
				"SRC=" + self.src, "OUT=" + self.out,
				"CFLAGS=" + " ".join(self.cflags),
				"LDFLAGS=" + " ".join(self.ldflags),
				target if target == "all" else
				os.path.join(self.out, target)])

	def stripped(self, name):
		"""The object of solutions/name as built here, without its debug
		information (which a swap changes even when the code is the
		same): bytes, or None."""
		obj = os.path.join(self.out, "obj", name[:-2] + ".o")
		tmp = os.path.join(self.dir, "stripped.o")
		ok, _ = self.sh(["objcopy", "--strip-debug", obj, tmp])
		if not ok:
			return None
		with open(tmp, "rb") as f:
			return f.read()

	def prepare(self):
		"""Build the reference with variant.mk, then compile the grader's
		sources to objects once: variant.mk compiles them again at every
		link (5 s a mutant), and no mutant touches them (regions are in
		solutions/*.c, never in a header)."""
		# The Makefile's flags: chapter 09's backtraces need the
		# frame pointers.
		self.cflags = os.environ.get(
			"CFLAGS", "-std=gnu11 -Wall -Wextra -Werror -g -O2 "
			"-fno-omit-frame-pointer").split()
		self.ldflags = os.environ.get("LDFLAGS", "").split()
		if self.san:
			for f in SAN_CFLAGS:
				if f not in self.cflags:
					self.cflags.append(f)
			for f in SAN_LDFLAGS:
				if f not in self.ldflags:
					self.ldflags.append(f)
		ok, log = self.build("libcorolab.a")
		if not ok:
			return ok, log
		cc = os.environ.get("CC", "cc")
		check = subprocess.run(["pkg-config", "--cflags", "--libs",
					"check"], stdout=subprocess.PIPE,
				       universal_newlines=True, check=True)
		flags = check.stdout.split()
		check_cflags = [f for f in flags
				if not f.startswith(("-l", "-L"))]
		check_libs = [f for f in flags
			      if f.startswith(("-l", "-L", "-pthread"))]
		tdir = os.path.join(self.out, "mutobj")
		os.makedirs(tdir, exist_ok=True)
		srcs = ["tests/grade.c"] + sorted(
			os.path.join("tests", f) for f in os.listdir("tests")
			if re.match(r"ch\d\d_.*\.c$", f))
		tobjs = []
		for src in srcs:
			obj = os.path.join(tdir, os.path.basename(src)[:-2] + ".o")
			ok, log = self.sh([cc] + self.cflags + check_cflags +
					  ["-I" + self.src, "-Itests", "-c", src,
					   "-o", obj])
			if not ok:
				return ok, log
			tobjs.append(obj)
		libs = subprocess.run(["pkg-config", "--libs", "libcrypto",
				       "hiredis"], stdout=subprocess.PIPE,
				      universal_newlines=True, check=True)
		self.link_cmd = ([cc] + self.cflags + tobjs +
				 [os.path.join(self.out, "libcorolab.a")] +
				 self.ldflags + check_libs +
				 libs.stdout.split() + ["-pthread"] +
				 ["-o", os.path.join(self.out, "grade")])
		ok, log = self.relink()
		for name in self.originals:
			self.same[name] = self.stripped(name)
		return ok, log

	def relink(self):
		"""The library with variant.mk (only the patched object is
		rebuilt), then the grader from the objects of prepare()."""
		ok, log = self.build("libcorolab.a")
		if not ok:
			return ok, log
		return self.sh(self.link_cmd)

	def grade_one(self, name, timeout=None):
		"""Run one test alone (CK_RUN_CASE) under its timeout: (passed,
		detail, seconds).  The output goes to a file, not a pipe: Check
		forks each test into a process group of its own, and a test
		child left behind by a killed grader would hold a pipe open."""
		env = dict(os.environ, CK_RUN_CASE=name)
		if timeout is not None:
			env["CK_TIMEOUT_MULTIPLIER"] = "%.3f" % (timeout /
								 TEST_TIMEOUT)
		wall = (timeout or TEST_TIMEOUT * self.tests.base_mult) + \
			GRADER_SLACK
		log = os.path.join(self.dir, "grade.log")
		t0 = time.time()
		with open(log, "w") as f:
			p = subprocess.Popen(
				[os.path.join(self.out, "grade"), "-c",
				 str(self.ch), "-m"],
				stdout=f, stderr=subprocess.STDOUT, env=env,
				start_new_session=True)
			try:
				p.wait(timeout=wall)
			except subprocess.TimeoutExpired:
				kill_tree(p.pid)
				p.wait()
				return False, "%s: grader hung" % name, \
					time.time() - t0
		secs = time.time() - t0
		with open(log, errors="replace") as f:
			out = f.read()
		m = re.search(r"^FAIL ch%02d %s \(.*\n\s*(.*)" % (self.ch, name),
			      out, re.M)
		if m:
			why = m.group(1)
			if "timeout" in why.lower():
				why = "timed out after %.1fs" % (timeout or wall)
			return False, "%s: %s" % (name, short(why, 70)), secs
		if not re.search(r"^chapter %d passed 1 " % self.ch, out, re.M):
			return False, "%s: grader died (status %d)" % (
				name, p.returncode), secs
		return True, "", secs

	def grade(self):
		"""(killed, detail): the tests one at a time, the likeliest
		killer first, up to the first that fails."""
		n = 0
		for name in self.tests.order():
			ok, detail, _ = self.grade_one(name,
						       self.tests.timeout(name))
			n += 1
			if not ok:
				self.tests.killed_by(name)
				return True, detail
		return False, "%d tests passed" % n

	def reference(self, timed):
		"""Run every test of the chapter on the reference build: None if
		all pass, else what failed.  If timed, record what each took."""
		for name in self.tests.names:
			ok, detail, secs = self.grade_one(name)
			if not ok:
				return detail
			if timed:
				self.tests.secs[name] = secs
		return None

	def run(self, mut):
		path = os.path.join(self.src, mut["file"])
		with open(path, "w") as f:
			f.write(mut["new"])
		try:
			ok, log = self.build("libcorolab.a")
			if not ok:
				errs = [l for l in log.split("\n") if "error:" in l]
				return "stillborn", short((errs or [""])[0], 100)
			same = self.same.get(mut["file"])
			if same is not None and self.stripped(mut["file"]) == same:
				return "identical", "compiles to the reference's code"
			ok, log = self.sh(self.link_cmd)
			if not ok:
				return "stillborn", short(log, 100)
			killed, detail = self.grade()
			return ("killed" if killed else "survived"), detail
		finally:
			with open(path, "w") as f:
				f.write(self.originals[mut["file"]])


def list_tests(grade, ch):
	"""The names of chapter ch's tests, from the grader's JSON output."""
	js = os.path.join(os.path.dirname(grade), "tests.json")
	with open(os.devnull, "w") as null:
		subprocess.run([grade, "-c", str(ch), "-q", "-j", js],
			       stdout=null, stderr=null,
			       env=dict(os.environ, CK_RUN_CASE="-"))
	with open(js) as f:
		return [re.sub(r"^ch\d\d ", "", t["name"])
			for t in json.load(f)["tests"]]


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("chapter", type=int)
	# Twice the processors: a worker spends much of its time waiting on
	# its tests' sockets and timers.
	ap.add_argument("-j", "--jobs", type=int,
			default=2 * (os.cpu_count() or 1))
	ap.add_argument("--limit", type=int, default=None)
	ap.add_argument("--file", default=None,
			help="only the mutants of this file of solutions/")
	ap.add_argument("--build", default="build",
			help="build directory (build/san under SAN=1)")
	ap.add_argument("--san", action="store_true",
			help="only the memory mutants and the survivors of "
			"the last plain run, on a build with "
			"AddressSanitizer, LeakSanitizer and UBSan")
	ap.add_argument("--plain", default="build",
			help="with --san: the build directory of the plain "
			"run whose survivors to grade too (default build)")
	ap.add_argument("--list", action="store_true",
			help="only list the mutants, build nothing")
	ap.add_argument("--rescore", action="store_true",
			help="build nothing: score the last run's report "
			"again against tests/kit/mutants.skip")
	args = ap.parse_args()
	ch = args.chapter
	mutants = make_mutants(ch)
	if not mutants:
		sys.exit("mutants: chapter %d has no lab regions in %s/"
			 % (ch, SOLUTIONS))
	total = len(mutants)
	every = list(mutants)
	skip, notes, stale = match_skip(read_skip(), mutants)
	stale = ["error: %s: \"%s\" matches no mutant" % (SKIP, desc)
		 for desc in stale]
	errors = len(stale)
	for line in notes + stale:
		sys.stderr.write(line + "\n")
	if args.file is not None:
		mutants = [m for m in mutants if m["file"] == args.file]
	if args.san:
		again = plain_survivors(mutants, os.path.join(
			args.plain, "mutants", "ch%02d" % ch, "report.txt"))
		mutants = [m for m in mutants
			   if m["kind"] == "memory" or m["id"] in again]
	if args.limit is not None:
		mutants = mutants[:args.limit]
	if args.list:
		for m in mutants:
			print("%s %-6s %s" % (m["id"], m["kind"], m["desc"]))
		return 1 if errors else 0
	if not mutants:
		print("chapter %d: no mutants to grade" % ch)
		return 1 if errors else 0
	root = os.path.join(args.build, "mutants%s" % ("-san" if args.san
						       else ""), "ch%02d" % ch)
	if args.rescore:
		return rescore(ch, mutants, root, args.san, errors, every)

	originals = {}
	for m in mutants:
		if m["file"] not in originals:
			with open(os.path.join(SOLUTIONS, m["file"])) as f:
				originals[m["file"]] = f.read()
	base_mult = 1.0
	if args.san:
		base_mult = float(os.environ.get("CK_TIMEOUT_MULTIPLIER", "4"))
		os.environ["CK_TIMEOUT_MULTIPLIER"] = "%g" % base_mult
		os.environ.setdefault("LSAN_OPTIONS", "")
	tests = Tests(ch, base_mult)
	os.makedirs(root, exist_ok=True)
	jobs = max(1, min(args.jobs, len(mutants)))
	print("chapter %d: %d %smutants%s, %d workers%s" % (
		ch, len(mutants), "memory and surviving " if args.san else "",
		"" if len(mutants) == total else " (of %d)" % total, jobs,
		", under the sanitizers" if args.san else ""), flush=True)
	t0 = time.time()
	workers = [Worker(root, k, ch, tests, originals, args.san)
		   for k in range(jobs)]
	built = [None] * jobs

	def prepare(k):
		built[k] = workers[k].prepare()

	threads = [threading.Thread(target=prepare, args=(k,))
		   for k in range(jobs)]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	for k, w in enumerate(workers):
		ok, log = built[k]
		if not ok:
			sys.stderr.write(log)
			sys.exit("mutants: the reference does not build")
		if k == 0:
			tests.names = list_tests(os.path.join(w.out, "grade"), ch)
			tests.kills = {n: 0 for n in tests.names}
		failed = w.reference(timed=k == 0)
		if failed:
			sys.stderr.write("mutants: the reference fails chapter %d: "
					 "%s\n" % (ch, failed))
			sys.exit(2)
	print("reference: %d tests in %.1fs, built and graded in %.0fs" % (
		len(tests.names), sum(tests.secs.values()), time.time() - t0),
		flush=True)

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
	timing = "%d mutants in %.0fs with %d workers (%.1fs each)" % (
		len(mutants), elapsed, jobs, elapsed / len(mutants))
	kills = sorted(((n, k) for n, k in tests.kills.items() if k),
		       key=lambda x: -x[1])
	return score(ch, mutants, results, root, args.san, errors, timing,
		     kills or [], every)


def score(ch, mutants, results, root, san, errors, timing, kills=None,
	  every=None):
	"""Print the survivors and the score, write root/report.txt; the
	exit status.  mutants.skip is read again here, so that entries
	written while the run went on count; it is matched against every
	mutant of the chapter (every), not only those graded."""
	skip, notes, stale = match_skip(read_skip(), every or mutants)
	stale = ["error: %s: \"%s\" matches no mutant" % (SKIP, desc)
		 for desc in stale]
	errors = len(stale)
	report = []
	survivors = equivalent = killed = stillborn = identical = 0
	mem_total = mem_killed = 0
	for m in mutants:
		verdict = results[m["id"]][0]
		if verdict == "stillborn":
			stillborn += 1
			continue
		if verdict == "identical":
			identical += 1
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
			report.append(m["desc"] + (
				" (memory: make mutants SAN=1)"
				if m["kind"] == "memory" and not san else ""))
	for m in mutants:
		if results[m["id"]][0] in ("killed", "identical") and \
				m["desc"] in skip:
			report.append("error: %s is %s but listed in %s" %
				      (m["desc"], results[m["id"]][0], SKIP))
			errors += 1
	counted = killed + survivors
	pct = 100.0 * killed / counted if counted else 100.0
	summary = ("chapter %d%s: %d of %d mutants killed (%.0f%%), "
		   "%d stillborn, %d identical to the reference once compiled"
		   % (ch, " under the sanitizers" if san else "",
		      killed, counted, pct, stillborn, identical))
	summary += "; memory mutants: %d of %d killed" % (mem_killed, mem_total)
	if san:
		summary += "; survivors of the plain run: %d of %d killed" % (
			killed - mem_killed, counted - mem_total)
	if equivalent:
		summary += "; %d equivalent (%s)" % (equivalent, SKIP)
	report += notes + stale + [summary, timing]
	for line in report:
		print(line)
	if kills is None:
		return 1 if errors else 0  # a rescore: the report stays
	with open(os.path.join(root, "report.txt"), "w") as f:
		for m in mutants:
			v, d, t = results[m["id"]]
			f.write("%s %-9s %-6s %s (%s, %.1fs)\n" % (
				m["id"], v, m["kind"], m["desc"], d, t))
		f.write("\n" + "\n".join(report) + "\n")
		if kills:
			f.write("\nkills by test:\n" + "".join(
				"  %4d %s\n" % (k, n) for n, k in kills))
	return 1 if errors else 0


def rescore(ch, mutants, root, san, errors, every):
	"""Score root/report.txt again: its verdicts (matched as reported()
	says), today's mutants.skip."""
	path = os.path.join(root, "report.txt")
	if not os.path.exists(path):
		sys.exit("mutants: no report to score again: %s" % path)

	pairs = reported(mutants, path)
	results = {m["id"]: (verdict, "", 0.0) for m, verdict in pairs}
	found = [m for m, _ in pairs]
	if len(found) < len(mutants):
		sys.stderr.write("mutants: %d of today's mutants are not in %s "
				 "(the code changed since: run again)\n" %
				 (len(mutants) - len(found), path))
	order = {m["id"]: k for k, m in enumerate(mutants)}
	found.sort(key=lambda m: order[m["id"]])
	return score(ch, found, results, root, san, errors,
		     "rescored from %s" % path, None, every) or errors

if __name__ == "__main__":
	sys.exit(main())
