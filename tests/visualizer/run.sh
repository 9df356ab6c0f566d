#!/bin/sh
# run.sh - the visualizer's tests: golden outputs, bad traces, the tracer.
#
#	tests/visualizer/run.sh COTRACE
#
# COTRACE is the cotrace binary to test (build/visualizer/cotrace). The
# checks:
#   1. golden: the views of the hand-written traces here (basic, io,
#      deadlock, multi, taskgroup, ctx) and of chapter 07's examples,
#      cut (threads, locks, queues) are exactly the *.dot, *.json and
#      *.txt files next to them (never SVG or PNG: those change with
#      Graphviz and fonts), and the JSON is what Perfetto needs
#      (check_chrome.py, python3); ctx.trace's chapter 06 events change
#      nothing unless --colour-by asks for them;
#   2. what a reader must skip (comments, blank lines, CRLF, unknown
#      events and keys: extras.trace) changes nothing;
#   3. every trace in bad/ is refused with exit status 2 and a message
#      "cotrace: FILE:LINE: ..." naming the right line;
#   4. random bytes, every truncation of a trace, and traces with a line
#      deleted, doubled or swapped never crash cotrace (exit 0 or 2);
#   5. the drawings render to SVG, PNG and PDF, and so does a DOT file
#      (cotrace dot); usage errors exit 1;
#   6. the tracer (solutions/trace.c) writes what README.md says, and
#      compiles out with -DCOROLAB_NO_TRACE (built here with $CC $CFLAGS);
#   7. the fuzz target (tests/fuzz) replays its corpus and every trace
#      here, built with $CC $CFLAGS and tests/fuzz/replay.c (no clang);
#   8. the timeline of several traces, one per process (merge-a.trace,
#      merge-b.trace): golden, aligned by their corolab-origin lines,
#      and refused, naming the file and line, when a trace cannot be
#      aligned; the tracer writes the origin line (origin_check.c).
# Give it a cotrace built with -fsanitize=address,undefined to check memory
# safety as well: sanitizer reports fail the checks, and lsan.supp (set
# in LSAN_OPTIONS here) silences the leaks Graphviz and fontconfig keep.
#
# It prints one "ok" or "FAIL" line per check and ends with
# "N passed, N failed"; exit status 1 if any failed.
# UPDATE=1 rewrites the golden files from COTRACE's output instead (then
# read the diff before committing it).
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 COTRACE" >&2
	exit 2
fi
case $1 in
/*) cotrace=$1 ;;
*) cotrace=$(pwd)/$1 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
passed=0
failed=0
py_labels="${PYTHON:-python3} check_labels.py"

ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }

# Run cotrace with stdout to $tmp/out and stderr to $tmp/err; sets $st
# and $first, the first line of stderr. A sanitizer report counts as a
# crash (status 99) whatever the exit status. Shell builtins only: this
# runs a few thousand times.
run() {
	"$cotrace" "$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	first=""
	[ -s "$tmp/err" ] && IFS= read -r first <"$tmp/err"
	case $first in
	=====* | *"runtime error:"* | *Sanitizer*) st=99 ;;
	esac
}

# A trace that cotrace may accept or refuse, but must not crash on: exit
# 0, or 2 with a message naming a line. Returns 1 on a crash.
survives() {
	run "$@"
	case $st:$first in
	0:* | "2:cotrace: "*:[0-9]*": "*) return 0 ;;
	esac
	echo "        cotrace $* -> status $st" >&2
	head -n 5 "$tmp/err" | sed 's/^/        /' >&2
	return 1
}

cd "$here" || exit 1
if [ ! -x "$cotrace" ]; then
	bad "$cotrace is not an executable"
	echo "$passed passed, $failed failed"
	exit 1
fi

echo "== golden outputs"
# golden FILE ARGS...: cotrace ARGS writes exactly FILE (on stdout).
golden() {
	want=$1
	shift
	run "$@"
	if [ "$st" != 0 ]; then
		bad "cotrace $* exited with $st"
		sed 's/^/        /' "$tmp/err" | head -n 5
	elif [ "${UPDATE:-}" = 1 ]; then
		cp "$tmp/out" "$want" && ok "$want updated"
	elif cmp -s "$tmp/out" "$want"; then
		ok "cotrace $* = $want"
	else
		bad "cotrace $* differs from $want"
		diff "$want" "$tmp/out" | head -n 20 | sed 's/^/        /'
	fi
}
golden basic.timeline.dot timeline basic.trace
golden basic.awaits.dot awaits basic.trace
golden basic.awaits-22.dot awaits basic.trace --at 22
golden basic.json chrome basic.trace
golden basic.stats.txt stats basic.trace
golden io.timeline.dot timeline io.trace
golden io.awaits-20.dot awaits io.trace --at 20
golden io.json chrome io.trace
golden io.stats.txt stats io.trace
golden deadlock.timeline.dot timeline deadlock.trace
golden deadlock.awaits.dot awaits deadlock.trace
golden deadlock.stats.txt stats deadlock.trace
golden multi-2.stats.txt stats multi.trace --run 2
golden multi-2.json chrome multi.trace --run 2
golden notutf8.timeline.dot timeline notutf8.trace
# tail: crashed.trace is io.trace cut inside a line, then NUL bytes, as a
# program that died writing through a memory-mapped file leaves it.
golden crashed.tail.txt tail crashed.trace
golden deadlock.tail-3.txt tail deadlock.trace -n 3
golden multi.tail-4.txt tail multi.trace -n 4
golden notutf8.stats.txt stats notutf8.trace
# Chapter 05: timeouts, cancels with and without msg=, task.done exc=.
golden taskgroup.timeline.dot timeline taskgroup.trace
golden taskgroup.json chrome taskgroup.trace
golden taskgroup.stats.txt stats taskgroup.trace
# Chapter 06: steps coloured by the value of a context variable.
golden ctx.timeline-rid.dot timeline ctx.trace --colour-by rid
# Chapter 07, traces of its examples, cut. threads.trace (to_thread.c):
# four calls on the pool's threads, a lane per worker, the wakes from
# the workers; at seq 120 three calls are still out. locks.trace
# (deadlock.c): a lock-order deadlock, drawn at the moment the cycle
# closed. queues.trace (pipeline.c): two bounded queues, a lane each.
golden threads.timeline.dot timeline threads.trace
golden threads.json chrome threads.trace
golden threads.stats.txt stats threads.trace
golden threads.awaits-120.dot awaits threads.trace --at 120
golden locks.awaits-deadlock.dot awaits locks.trace --at deadlock
golden locks.stats.txt stats locks.trace
golden locks.json chrome locks.trace
golden queues.timeline.dot timeline queues.trace
golden queues.awaits.dot awaits queues.trace
golden queues.stats.txt stats queues.trace
# Several processes, one axis: two workers of a chat (hand-written).
golden merge.timeline.dot timeline merge-a.trace merge-b.trace

# What Perfetto needs beyond the golden bytes: JSON, nested slices, and
# every flow end inside a slice (checked on the goldens and on the
# tracer's own output below).
if ${PYTHON:-python3} check_chrome.py basic.json io.json multi-2.json taskgroup.json \
	threads.json locks.json \
	>"$tmp/chrome.log" 2>&1; then
	ok "chrome JSON: valid, slices nest, every flow end is in a slice"
else
	bad "chrome JSON: $(tail -n 1 "$tmp/chrome.log")"
fi

echo "== what readers skip"
run stats extras.trace
tail -n +2 "$tmp/out" >"$tmp/extras"
run stats basic.trace
tail -n +2 "$tmp/out" >"$tmp/basic"
if cmp -s "$tmp/extras" "$tmp/basic"; then
	ok "comments, blank lines, CRLF, unknown events and keys change nothing"
else
	bad "extras.trace does not read like basic.trace"
	diff "$tmp/basic" "$tmp/extras" | head -n 10 | sed 's/^/        /'
fi
# Chapter 06's events (ctx.new, var.set, step.begin ctx=) draw nothing
# without --colour-by: the timeline is that of the trace without them.
grep -v -e ' ctx.new ' -e ' var.set ' ctx.trace | sed 's/ ctx=[0-9]*$//' \
	>"$tmp/noctx.trace"
run timeline "$tmp/noctx.trace"
cp "$tmp/out" "$tmp/noctx.dot"
run timeline ctx.trace
if [ "$st" = 0 ] && cmp -s "$tmp/out" "$tmp/noctx.dot"; then
	ok "ctx.new, var.set and ctx= change no timeline without --colour-by"
else bad "ctx.trace without --colour-by differs from the trace without its ctx events"; fi
run timeline ctx.trace --color-by rid
if [ "$st" = 0 ] && cmp -s "$tmp/out" ctx.timeline-rid.dot; then
	ok "--color-by is --colour-by"
else bad "--color-by rid: status $st"; fi
run timeline ctx.trace --colour-by nosuchvar
if [ "$st" = 0 ] && grep -q 'no step has a value' "$tmp/out" &&
	! grep -q 'rid=' "$tmp/out"; then
	ok "--colour-by a variable no context has: no colours, and it says so"
else bad "--colour-by nosuchvar: status $st"; fi
run stats multi.trace
if [ "$st" = 0 ] && grep -q 'holds 2 runs' "$tmp/err" &&
	grep -q 'run 1 of 2' "$tmp/out"; then
	ok "a trace of two runs shows the first and says so"
else bad "multi.trace: status $st, $(cat "$tmp/err")"; fi

echo "== chapter 07: threads, locks, queues"
# No label covers another on the new lanes (workers, queues).
if $py_labels threads.timeline.dot queues.timeline.dot >"$tmp/labels.log" 2>&1; then
	ok "the worker and queue lanes: no label covers another"
else bad "chapter 07 timelines: $(head -n 1 "$tmp/labels.log")"; fi
# The wakes a pool call's result caused come from its worker's lane.
if [ "$(grep -o 'the result of a call that worker [0-9]*' threads.timeline.dot |
	sort -u | wc -l)" = 4 ]; then
	ok "the four results wake their tasks from the workers' lanes"
else bad "threads.timeline.dot: the wakes do not come from the workers"; fi
# lock.acquire and lock.release change no timeline: they are for awaits.
grep -v -e ' lock.acquire ' -e ' lock.release ' locks.trace >"$tmp/nolocks.trace"
run timeline "$tmp/nolocks.trace"
cp "$tmp/out" "$tmp/nolocks.dot"
run timeline locks.trace
if [ "$st" = 0 ] && cmp -s "$tmp/out" "$tmp/nolocks.dot"; then
	ok "lock.acquire and lock.release change no timeline"
else bad "locks.trace's timeline differs from the one without its lock events"; fi
# --at deadlock: the moment a cycle closed, or a usage error if none.
run awaits basic.trace --at deadlock
if [ "$st" = 1 ] && grep -q 'never close a cycle' "$tmp/err"; then
	ok "awaits --at deadlock on a run without a cycle: status 1, said so"
else bad "awaits basic.trace --at deadlock: status $st, $first"; fi
run awaits deadlock.trace --at deadlock
if [ "$st" = 0 ] && grep -q 'DEADLOCK: T2 -> fut:3 -> T3 -> fut:2 -> T2' "$tmp/out"; then
	ok "awaits --at deadlock finds an await cycle of tasks too"
else bad "awaits deadlock.trace --at deadlock: status $st, $first"; fi
# tail of a run cut while calls were out, and while the locks were
# taken: what each task waits for, and who holds the lock.
head -n 100 threads.trace >"$tmp/threads-cut.trace"
run tail "$tmp/threads-cut.trace" -n 2
if [ "$st" = 0 ] && grep -q 'waits on fut:13 (a call on a thread)' "$tmp/out" &&
	grep -q "^fut:13 is a call on the pool's threads, handed over at event 112, not back yet" "$tmp/out"; then
	ok "tail: the calls still out on the pool's threads"
else bad "tail of threads.trace cut: status $st, $(tail -n 2 "$tmp/out")"; fi
head -n 44 locks.trace >"$tmp/locks-cut.trace"
run tail "$tmp/locks-cut.trace" -n 2
if [ "$st" = 0 ] &&
	grep -q 'T2 "transfer" waits on lock:2 (held by T3 "refund")' "$tmp/out" &&
	grep -q 'T3 "refund" waits on lock:1 (held by T2 "transfer")' "$tmp/out"; then
	ok "tail: who holds the lock a task waits on"
else bad "tail of locks.trace cut: status $st, $(tail -n 3 "$tmp/out")"; fi
run stats "$tmp/locks-cut.trace"
if [ "$st" = 0 ] && grep -q '^lock:1 is held at the end, by T2 transfer' "$tmp/out"; then
	ok "stats: the locks held at the end, and by whom"
else bad "stats of locks.trace cut: status $st"; fi
# A virtual clock: a call's box goes from its submit to its result
# (the thread's times are another clock), and the JSON still nests.
sed 's/clock=monotonic/clock=virtual/' threads.trace >"$tmp/threads-v.trace"
run chrome "$tmp/threads-v.trace" -o "$tmp/threads-v.json"
if [ "$st" = 0 ] && ${PYTHON:-python3} check_chrome.py "$tmp/threads-v.json" \
	>"$tmp/chrome.log" 2>&1; then
	ok "chrome: the pool's calls on a virtual clock nest too"
else bad "chrome of threads.trace on a virtual clock: $(tail -n 1 "$tmp/chrome.log")"; fi

echo "== text that is not UTF-8, control characters, backslashes"
# notutf8.trace has a task name with a byte 0xff and a trailing
# backslash, an exception type cut inside a character, a message with
# \001 and \377, a reference and a what= with broken and good UTF-8. Every
# output must still be what its reader accepts: JSON, XML, DOT.
py=${PYTHON:-python3}
run chrome notutf8.trace -o "$tmp/u.json"
if [ "$st" = 0 ] && $py -c 'import json, sys
json.load(open(sys.argv[1], encoding="utf-8"))' "$tmp/u.json" 2>"$tmp/py.log"; then
	ok "chrome: valid JSON (bad bytes replaced with U+FFFD)"
else bad "chrome notutf8.trace: status $st, $(tail -n 1 "$tmp/py.log")"; fi
for view in timeline awaits; do
	run "$view" notutf8.trace -o "$tmp/u.svg"
	if [ "$st" = 0 ] && $py -c 'import sys, xml.dom.minidom
xml.dom.minidom.parse(sys.argv[1])' "$tmp/u.svg" 2>"$tmp/py.log"; then
		ok "$view: well-formed SVG"
	else bad "$view notutf8.trace -o .svg: status $st, $(tail -n 1 "$tmp/py.log")"; fi
	# The DOT must read back: Graphviz's dot, where it is installed.
	run "$view" notutf8.trace -o "$tmp/u.dot"
	if ! command -v dot >/dev/null 2>&1; then
		ok "$view: DOT written (no dot program to read it back)"
	elif [ "$st" = 0 ] && dot -Tsvg "$tmp/u.dot" >"$tmp/u2.svg" 2>"$tmp/dot.log" &&
		$py -c 'import sys, xml.dom.minidom
xml.dom.minidom.parse(sys.argv[1])' "$tmp/u2.svg" 2>"$tmp/py.log"; then
		ok "$view: the DOT reads back in dot, to well-formed SVG"
	else bad "$view notutf8.trace -o .dot: status $st, $(head -n 1 "$tmp/dot.log")"; fi
done
# A header alone is a run with no events: every view draws it.
printf '# corolab-trace 1 clock=virtual unit=us\n' >"$tmp/header.trace"
all=1
for view in stats timeline awaits chrome tail; do
	run "$view" "$tmp/header.trace"
	[ "$st" = 0 ] || { all=0; echo "        $view -> $st: $first"; }
done
if [ $all = 1 ]; then ok "a trace of a header alone: every view, exit 0"
else bad "a header-only trace fails a view"; fi

echo "== a trace cut short"
# Every view reads a run without loop.end; only tail forgives the cut
# line and the zeros after it (the others name the line, status 2).
head -n 20 io.trace >"$tmp/noend.trace"
all=1
for view in stats timeline awaits chrome tail; do
	run "$view" "$tmp/noend.trace"
	[ "$st" = 0 ] || { all=0; echo "        $view -> $st: $first"; }
done
if [ $all = 1 ]; then ok "a run without loop.end: every view, exit 0"
else bad "a view refuses a run without loop.end"; fi
run stats crashed.trace
if [ "$st" = 2 ] && grep -q 'crashed.trace:33: NUL byte' "$tmp/err"; then
	ok "stats refuses the cut line of crashed.trace, naming it"
else bad "stats crashed.trace: status $st, $first"; fi
# The tracer's own output, cut at every tenth byte: tail never fails.
n=$(wc -c <io.trace)
i=$(head -n 1 io.trace | wc -c)
crashed=0
while [ $i -lt "$n" ]; do
	head -c $i io.trace >"$tmp/cut.trace"
	run tail "$tmp/cut.trace" -n 3
	case $st:$(tail -n 1 "$tmp/out") in
	0:* | 2:"-- the replay stopped there"*) ;;
	*) crashed=1; echo "        tail of io.trace cut at $i -> $st: $first" ;;
	esac
	i=$((i + 10))
done
if [ $crashed = 0 ]; then ok "tail of io.trace cut every 10 bytes: always an answer"
else bad "tail failed on a cut trace"; fi
run tail basic.trace -n 0
if [ "$st" = 1 ]; then ok "tail -n 0: usage error"; else bad "tail -n 0: status $st"; fi

echo "== bad traces"
# FILE LINE TEXT: cotrace refuses bad/FILE.trace at LINE saying TEXT.
while read -r name line text; do
	[ -n "$name" ] || continue
	f=bad/$name.trace
	run stats "$f"
	msg=$(head -n 1 "$tmp/err")
	case $msg in
	"cotrace: $f:$line: "*"$text"*)
		if [ "$st" = 2 ] && [ ! -s "$tmp/out" ]; then
			ok "$f:$line: $text"
		else bad "$f: exit status $st, or output written"; fi ;;
	*) bad "$f: expected line $line, '$text'; got $st '$msg'" ;;
	esac
done <<'EOF'
no-header 1 missing header
empty 1 not a corolab trace
comment-only 2 not a corolab trace
version 1 version 2
bad-clock 1 clock=wallclock
bad-unit 1 unit=ms
bad-seq 4 expected a sequence number
seq-order 4 seqs must increase
time-back 3 time goes backwards
bad-ts 2 expected a timestamp
bad-number 4 bad number 'x1' for task=
overflow 4 bad number
missing-key 3 missing by=
dup-key 4 task= given twice
bad-ref 3 bad reference 'task:'
bad-result 5 bad result 'maybe'
bad-state 5 bad state 'fine'
unterminated 5 unterminated string
bad-escape 5 bad escape
quote-junk 5 text after closing quote
garbage-field 4 expected key=value
bad-event 4 expected an event name
control 2 control character 0x07
truncated 4 truncated line
short-line 4 expected a loop iteration
dup-task 4 duplicate task id 1 (task.new at line 2)
unknown-task 4 unknown task 7
unknown-waker 4 unknown task 9
unknown-parent 2 unknown task 5
task-zero 2 task ids start at 1
huge-id 2 task id 123456789 too large
huge-fut 2 future id 5000000 too large
huge-timer 2 timer id 1000000 too large
two-running 6 while task 1 is still running
not-running 4 task 1 is not running
step-mismatch 5 step=2, but step 1
bad-cause 4 cause=99 names no earlier event
done-twice 7 done twice (line 5)
after-done 6 already done
poll-nested 3 inside a poll (poll.begin at line 2)
poll-unopened 2 poll.end without poll.begin
poll-in-step 5 polls while task 1 runs
step-in-poll 4 a step begins inside a poll (line 3)
cancel-no-id 5 cancel: empty value for task=
timeout-no-task 4 timeout: missing task=
timeout-unknown-task 5 timeout: unknown task 9
done-quoted-exc 6 task.done: exc= takes no quoted text
var-bad-value 3 bad value '12x' for value=
var-no-name 3 var.set: missing var=
step-bad-ctx 4 bad number '-1' for ctx=
lock-twice 5 lock 1 is held already, by task 1 (lock.acquire at line 4)
lock-unknown-task 3 unknown task 4
lock-no-task 3 lock.release: missing task=
huge-lock 2 lock id 5000000 too large
queue-overfull 5 queue 1 holds 3 items, more than its maxsize 2 (line 2)
queue-twice 3 queue 1 is made twice (line 2)
thread-submit-twice 3 future 5 was handed to a thread already (line 2)
thread-run-twice 4 future 5 came back from a thread already (line 3)
thread-worker-zero 3 worker ids start at 1
thread-no-worker 3 thread.run: missing worker=
origin-no-pid 2 bad corolab-origin: missing pid=
origin-twice 4 a second corolab-origin in the run (line 2)
origin-before-header 1 corolab-origin before any
origin-bad-number 2 bad corolab-origin: monotonic_ns=1e9
EOF
# A bad trace is refused before anything is drawn, by every view.
crashed=0
for f in bad/*.trace; do
	for view in timeline awaits chrome; do
		run "$view" "$f" -o "$tmp/x.$( [ $view = chrome ] && echo json || echo dot)"
		[ "$st" = 2 ] || { crashed=1; echo "        $view $f -> $st"; }
	done
done
if [ $crashed = 0 ]; then ok "every view refuses every bad trace with status 2"
else bad "a view accepted or crashed on a bad trace"; fi

# An output name cotrace cannot write is refused before the trace is
# read: a missing trace is not even looked for.
run timeline "$tmp/no-such.trace" -o "$tmp/x.bmp"
if [ "$st" = 1 ] && grep -q 'unknown output format' "$tmp/err" &&
	! grep -q 'no-such' "$tmp/err"; then
	ok "an unknown output extension is refused before the trace is read"
else bad "unknown extension: status $st, $(cat "$tmp/err")"; fi

echo "== garbage never crashes"
printf '# corolab-trace 1 clock=virtual unit=us\n1 0 0 task.new task=1 na\0me=x\n' \
	>"$tmp/nul.trace"
run stats "$tmp/nul.trace"
if [ "$st" = 2 ] && grep -q ':2: NUL byte' "$tmp/err"; then
	ok "a NUL byte is refused at its line"
else bad "NUL byte: status $st, $(cat "$tmp/err")"; fi
# Random bytes, reproducible: awk's generator with fixed seeds.
crashed=0
for seed in 1 2 3 4 5 6 7 8; do
	LC_ALL=C awk -v seed=$seed 'BEGIN { srand(seed);
		for (i = 0; i < 3000; i++) printf "%c", int(rand() * 256) }' \
		>"$tmp/random.trace"
	{ echo '# corolab-trace 1 clock=virtual unit=us'; cat "$tmp/random.trace"; } \
		>"$tmp/random2.trace"
	LC_ALL=C awk -v seed=$seed 'BEGIN { srand(seed);
		split("task.new wake step.begin step.end await fut.done task.done timer.fire", ev);
		split("task= by= step= result= on= fut= state= cause= timer= name= what=", k);
		split("1 2 3 0 -1 x task:1 fut:2 timer:1 spawn pending done ok \"a\\\"b\" 99999999999", v);
		print "# corolab-trace 1 clock=virtual unit=us";
		for (i = 1; i <= 60; i++) {
			printf "%d %d 0 %s", i, i, ev[int(rand() * 8) + 1];
			for (j = 0; j < 3; j++)
				printf " %s%s", k[int(rand() * 11) + 1], v[int(rand() * 14) + 1];
			printf "\n" } }' >"$tmp/words.trace"
	for f in random random2 words; do
		for view in stats timeline; do
			survives "$view" "$tmp/$f.trace" -o "$tmp/x.dot" || crashed=1
		done
	done
done
# The largest numbers cotrace accepts: 2^62 for times and seqs, 2^40 for
# counts, ids below 1000000.
big=4611686018427387904
id=1099511627776
printf '%s\n' '# corolab-trace 1 clock=monotonic unit=us' \
	"1 0 0 task.new task=999999 name=x parent=0" \
	"2 $big 0 wake task=999999 by=spawn" \
	"3 $big $big step.begin task=999999 step=$id cause=2 qlen=$id" \
	"4 $big $big timer.set timer=999999 at=-$big" \
	"5 $big $big await task=999999 on=timer:999999 what=sleep" \
	"6 $big $big step.end task=999999 step=$id result=pending" \
	"$big $big $big loop.end" >"$tmp/big.trace"
for view in stats timeline chrome awaits; do
	run "$view" "$tmp/big.trace" -o "$tmp/x.dot"
	[ "$st" = 0 ] || { crashed=1; echo "        $view big.trace -> $st: $first"; }
done
if [ $crashed = 0 ]; then ok "random bytes, random fields, the largest numbers: never a crash"
else bad "random input crashed cotrace"; fi

# Truncations of a trace: at a line end it is a shorter trace (fine),
# elsewhere a truncated line (refused). Every third byte: the cuts fall
# in every field of every kind of line.
crashed=0
n=$(wc -c <io.trace)
i=1
while [ $i -lt "$n" ]; do
	head -c $i io.trace >"$tmp/cut.trace"
	survives stats "$tmp/cut.trace" || crashed=1
	i=$((i + 3))
done
if [ $crashed = 0 ]; then ok "io.trace cut every 3 of its $n bytes: never a crash"
else bad "a truncated trace crashed cotrace"; fi

# Lines deleted, doubled, swapped: traces that parse but tell a broken
# story. And every prefix through every view, so that the views see
# tasks left in every state (running, queued, waiting) at the end.
crashed=0
for t in basic io taskgroup; do
	n=$(wc -l <$t.trace)
	i=2
	while [ $i -le "$n" ]; do
		awk -v i=$i 'NR != i' $t.trace >"$tmp/del.trace"
		awk -v i=$i '{ print } NR == i { print }' $t.trace >"$tmp/dup.trace"
		awk -v i=$i 'NR == i { held = $0; next } { print }
			NR == i + 1 { print held }' $t.trace >"$tmp/swap.trace"
		head -n $i $t.trace >"$tmp/prefix.trace"
		for f in del dup swap; do
			for view in timeline chrome; do
				survives "$view" "$tmp/$f.trace" -o "$tmp/x.dot" ||
					crashed=1
			done
		done
		for view in stats timeline chrome awaits; do
			survives "$view" "$tmp/prefix.trace" -o "$tmp/x.dot" ||
				crashed=1
		done
		i=$((i + 1))
	done
done
if [ $crashed = 0 ]; then ok "every line deleted, doubled or swapped, every prefix: never a crash"
else bad "a mutated trace crashed cotrace"; fi

echo "== large traces (gen_big.py), no timing"
# Sizes, not seconds: a timed test fails on a busy machine. The figures
# of README.md section 7 are measured by hand with gen_big.py.
$py gen_big.py busy 30000 >"$tmp/busy.trace"
run timeline "$tmp/busy.trace" -o "$tmp/busy.dot"
if [ "$st" = 0 ] && grep -q 'drew the first 10000 of 30' "$tmp/err" &&
	grep -q 'cotrace draws at most 10000 events' "$tmp/busy.dot"; then
	ok "timeline of 30000 events: the first 10000 drawn, and it says so"
else bad "timeline of busy.trace: status $st, $first"; fi
$py gen_big.py chain 3000 >"$tmp/chain.trace"
# At seq 15003 every task of the chain waits on the next (the last on
# a timer).
run awaits "$tmp/chain.trace" --at 15003
if [ "$st" = 0 ] && [ "$(grep -c 'label=awaits' "$tmp/out")" = 3000 ] &&
	[ "$(grep -c 'label="result of"' "$tmp/out")" = 2999 ]; then
	ok "awaits of a 3000-task await chain: 3000 waits, 2999 results"
else bad "awaits of chain.trace: status $st, $first"; fi

echo "== the timeline's labels and loop iterations"
# No label covers another (check_labels.py measures them as canvas.c
# does), in the goldens and in the chapters' pictures.
for f in "$root"/chapters/*/img/*.trace; do
	run timeline "$f" -o "$tmp/$(basename "$f" .trace).tl.dot"
done
if $py check_labels.py ./*.timeline*.dot "$tmp"/*.tl.dot >"$tmp/labels.log" 2>&1
then ok "no two labels overlap (goldens and chapters/*/img)"
else bad "labels overlap: $(head -n 1 "$tmp/labels.log")"; fi
# One band for each other loop.iter, so a run of 3 iterations has 2.
printf '%s\n' '# corolab-trace 1 clock=virtual unit=us' \
	'1 0 1 loop.iter it=1' '2 0 1 task.new task=1 name=a parent=0' \
	'3 0 1 wake task=1 by=spawn' '4 0 2 loop.iter it=2' \
	'5 0 2 step.begin task=1 step=1 cause=3' '6 0 2 cb kind=soon by=task:1' \
	'7 0 2 step.end task=1 step=1 result=done' '8 0 3 loop.iter it=3' \
	'9 0 3 cb kind=done by=loop' '10 0 3 loop.end' >"$tmp/iters.trace"
run timeline "$tmp/iters.trace"
if [ "$st" = 0 ] && [ "$(grep -c 'tooltip="iteration ' "$tmp/out")" = 2 ] &&
	[ "$(grep -c 'tooltip="seq [0-9]*: callback' "$tmp/out")" = 2 ]; then
	ok "loop.iter: a band for every other iteration; cb: a tick each"
else bad "iters.trace: status $st, $(grep -c 'iteration ' "$tmp/out") bands"; fi

# The classic bug "run until the queue is empty" must show in the picture.
# ping.trace is chapters/03-scheduler/examples/ping.c on the reference;
# ping-drain.trace the same program on a copy of solutions/ whose
# cl_loop_run_once calls cl__loop_run_ready(loop, (size_t)-1) instead of
# (loop, ntodo), so what a step queues runs in the same iteration:
#	COROLAB_TRACE=ping-drain.trace build/.../examples/03-scheduler/ping
# Right, the steps spread over four iterations; wrong, all in one.
run timeline ping.trace
right=$(grep -c 'tooltip="iteration ' "$tmp/out")
run timeline ping-drain.trace
wrong=$(grep -c 'tooltip="iteration ' "$tmp/out")
if [ "$right" -ge 3 ] && [ "$wrong" -le 1 ]; then
	ok "run until the queue is empty shows: $wrong band(s), not $right"
else bad "ping: $right bands right, $wrong with the drain bug"; fi

# A task done outside any step (cancelled before it ever ran) has no
# step box to say how it ended: its lane ends in a box of its own. A
# cancelled one, and one done with state=exc, with and without exc=.
printf '%s\n' '# corolab-trace 1 clock=virtual unit=us' \
	'1 0 0 task.new task=1 name=main parent=0' '2 0 0 wake task=1 by=spawn' \
	'3 0 1 step.begin task=1 step=1 cause=2' \
	'4 0 1 task.new task=2 name=a parent=1' '5 0 1 wake task=2 by=spawn' \
	'6 0 1 task.new task=3 name=b parent=1' '7 0 1 wake task=3 by=spawn' \
	'8 0 1 task.new task=4 name=c parent=1' '9 0 1 wake task=4 by=spawn' \
	'10 0 1 cancel task=2 by=task:1 msg=early' \
	'11 0 1 task.done task=2 state=cancelled' \
	'12 0 1 task.done task=3 state=exc exc=KeyError' \
	'13 0 1 task.done task=4 state=exc' \
	'14 0 1 step.end task=1 step=1 result=done' \
	'15 0 1 task.done task=1 state=ok' '16 0 1 loop.end' >"$tmp/early.trace"
run timeline "$tmp/early.trace"
if [ "$st" = 0 ] && grep -q 'label=cancelled' "$tmp/out" &&
	grep -q 'label="raised KeyError"' "$tmp/out" &&
	grep -q 'label=raised' "$tmp/out" &&
	grep -q 'label="cancel: early"' "$tmp/out" &&
	! grep -q 'label=done' "$tmp/out"; then
	ok "done outside a step: a cancelled or raised box ends the lane"
else bad "early.trace: status $st, $first"; fi
$py check_labels.py "$tmp/out" >"$tmp/labels.log" 2>&1 ||
	bad "early.trace: labels overlap: $(head -n 1 "$tmp/labels.log")"

echo "== several processes, one timeline"
# x of the dot of fd.ready "fd:N IN" in a timeline's DOT.
fd_x() {
	awk -v t="tooltip=\"$1\"" 'BEGIN { RS = "];" }
		index($0, t) && index($0, "style=filled") {
			match($0, /pos="[-0-9.]+/)
			print substr($0, RSTART + 5, RLENGTH - 5); exit }' "$2"
}
run timeline merge-a.trace merge-b.trace
cp "$tmp/out" "$tmp/ab.dot"
a7=$(fd_x 'fd:7 IN' "$tmp/ab.dot")
b5=$(fd_x 'fd:5 IN' "$tmp/ab.dot")
# Worker 2's fd is ready at its 900 us, 1300 us on worker 1's clock: to
# the right of worker 1's at 1000 us, though its ts is smaller.
if [ "$st" = 0 ] && [ -n "$a7" ] && [ -n "$b5" ] &&
	awk -v a="$a7" -v b="$b5" 'BEGIN { exit !(b > a) }' &&
	grep -q 'label="worker-1 (pid 101)"' "$tmp/ab.dot" &&
	grep -q 'label="worker-2 (pid 202)"' "$tmp/ab.dot"; then
	ok "merge: one band per process, titled from its origin line; time aligned by it"
else bad "merge: status $st, fd:7 at x=$a7, fd:5 at x=$b5"; fi
# Given in the other order: the bands swap, the times do not move.
run timeline merge-b.trace merge-a.trace
if [ "$st" = 0 ] && [ "$(fd_x 'fd:7 IN' "$tmp/out")" = "$a7" ] &&
	[ "$(fd_x 'fd:5 IN' "$tmp/out")" = "$b5" ]; then
	ok "merge: the order of the files changes no time"
else bad "merge b a: status $st, x differ"; fi
# Worker 2's origin moved 400 us earlier: now its fd comes first.
sed 's/monotonic_ns=1000400000/monotonic_ns=1000000000/' merge-b.trace \
	>"$tmp/b-early.trace"
run timeline merge-a.trace "$tmp/b-early.trace"
if [ "$st" = 0 ] && awk -v a="$(fd_x 'fd:7 IN' "$tmp/out")" \
	-v b="$(fd_x 'fd:5 IN' "$tmp/out")" 'BEGIN { exit !(b < a) }'; then
	ok "merge: the origin, not the ts, places a process's events"
else bad "merge with worker 2 earlier: status $st"; fi
if $py_labels "$tmp/ab.dot" >"$tmp/labels.log" 2>&1; then
	ok "merge: no label covers another"
else bad "merge: $(head -n 1 "$tmp/labels.log")"; fi
# Alone, a trace with an origin line draws as the same trace without.
grep -v '^# corolab-origin' merge-a.trace >"$tmp/a-noorigin.trace"
run timeline "$tmp/a-noorigin.trace"
cp "$tmp/out" "$tmp/a-noorigin.dot"
run timeline merge-a.trace
if [ "$st" = 0 ] && cmp -s "$tmp/out" "$tmp/a-noorigin.dot"; then
	ok "merge: one trace alone draws as it did without its origin line"
else bad "merge-a.trace alone differs from merge-a.trace without its origin"; fi
# What cannot be merged: the file and line, exit 2 (1 for usage), and
# nothing written.
grep -v '^# corolab-origin' merge-b.trace >"$tmp/b-noorigin.trace"
# refuse STATUS TEXT ARGS...: cotrace ARGS exits STATUS saying TEXT.
refuse() {
	want_st=$1 text=$2
	shift 2
	rm -f "$tmp/m.dot"
	run "$@"
	case $first in
	*"$text"*)
		if [ "$st" = "$want_st" ] && [ ! -e "$tmp/m.dot" ]; then
			ok "merge refused: $text"
		else bad "merge: $*: status $st, or output written"; fi ;;
	*) bad "merge: $*: expected '$text', got $st '$first'" ;;
	esac
}
refuse 2 "cotrace: $tmp/a-noorigin.trace:1: run 1 has no corolab-origin line" \
	timeline "$tmp/a-noorigin.trace" "$tmp/b-noorigin.trace" -o "$tmp/m.dot"
refuse 2 "cotrace: $tmp/b-noorigin.trace:1: run 1 has no corolab-origin line" \
	timeline merge-a.trace "$tmp/b-noorigin.trace" -o "$tmp/m.dot"
refuse 2 "cotrace: basic.trace:1: run 1 is on a virtual clock" \
	timeline merge-a.trace basic.trace -o "$tmp/m.dot"
refuse 2 "cotrace: basic.stats.txt:1: missing header" \
	timeline merge-a.trace basic.stats.txt -o "$tmp/m.dot"
refuse 2 "cotrace: bad/origin-twice.trace:4: a second corolab-origin" \
	timeline merge-a.trace bad/origin-twice.trace -o "$tmp/m.dot"
# A trace that reads but does not replay: the replay's message.
{ sed -n 1p bad/unknown-task.trace | sed 's/clock=virtual/clock=monotonic/'
  echo '# corolab-origin pid=9 monotonic_ns=0 realtime_ns=0'
  sed 1d bad/unknown-task.trace; } >"$tmp/unknown.trace"
refuse 2 "cotrace: $tmp/unknown.trace:5: step.begin: unknown task 7" \
	timeline merge-a.trace "$tmp/unknown.trace" -o "$tmp/m.dot"
refuse 1 "holds 1 run, not 2" \
	timeline merge-a.trace merge-b.trace --run 2 -o "$tmp/m.dot"
refuse 1 "no-such.trace" \
	timeline merge-a.trace "$tmp/no-such.trace" -o "$tmp/m.dot"
refuse 1 "--colour-by is for the timeline of one trace" \
	timeline merge-a.trace merge-b.trace --colour-by rid -o "$tmp/m.dot"
refuse 1 "at most 16 traces" timeline merge-a.trace merge-a.trace \
	merge-a.trace merge-a.trace merge-a.trace merge-a.trace merge-a.trace \
	merge-a.trace merge-a.trace merge-a.trace merge-a.trace merge-a.trace \
	merge-a.trace merge-a.trace merge-a.trace merge-a.trace merge-a.trace \
	-o "$tmp/m.dot"
refuse 1 "usage:" awaits merge-a.trace merge-b.trace -o "$tmp/m.dot"
# Many events: the limits hold for all the traces together.
$py gen_big.py busy 8000 >"$tmp/busy.trace"
{ sed -n 1p "$tmp/busy.trace" | sed 's/clock=virtual/clock=monotonic/'
  echo '# corolab-origin pid=7 monotonic_ns=0 realtime_ns=0 name=busy'
  sed 1d "$tmp/busy.trace"; } >"$tmp/busy1.trace"
sed 's/^# corolab-origin pid=7/# corolab-origin pid=8/' "$tmp/busy1.trace" \
	>"$tmp/busy2.trace"
run timeline "$tmp/busy1.trace" "$tmp/busy2.trace" -o "$tmp/busy.dot"
if [ "$st" = 0 ] && grep -q 'of the 2 traces: cotrace draws at most 10000' \
	"$tmp/busy.dot" && grep -q 'drew the first 10000 of 16' "$tmp/err"; then
	ok "merge of 2 x 8000 events: the first 10000 drawn, and it says so"
else bad "merge of two busy traces: status $st, $first"; fi

echo "== rendering and usage"
for out in timeline.svg timeline.png timeline.pdf awaits.svg awaits.png; do
	view=${out%.*}
	run "$view" io.trace -o "$tmp/$out"
	if [ "$st" = 0 ] && [ -s "$tmp/$out" ]; then ok "$view renders $out"
	else bad "$view -o $out: status $st"; sed 's/^/        /' "$tmp/err" | head -n 5; fi
done
if grep -q '<svg' "$tmp/timeline.svg" && grep -q '<title>' "$tmp/timeline.svg"; then
	ok "the SVG has the drawing and its tooltips"
else bad "timeline.svg looks wrong"; fi
# cotrace dot: a DOT file laid out and rendered without the dot program
# (chapter 06's HAMT picture); its layout attribute picks the engine.
printf '%s\n' 'digraph g { a -> b; b -> c; a [style=filled, fillcolor=grey] }' \
	>"$tmp/g.dot"
run dot "$tmp/g.dot" -o "$tmp/g.svg"
if [ "$st" = 0 ] && grep -q '<svg' "$tmp/g.svg" && grep -q '>a</text>' "$tmp/g.svg"; then
	ok "cotrace dot renders a DOT file to SVG"
else bad "cotrace dot g.dot -o g.svg: status $st, $first"; fi
if printf '%s\n' 'graph g { layout=neato; a -- b }' |
	"$cotrace" dot - -o "$tmp/n.png" >"$tmp/out" 2>"$tmp/err" &&
	[ -s "$tmp/n.png" ]; then ok "cotrace dot - reads standard input"
else bad "cotrace dot - -o n.png: $(head -n 1 "$tmp/err")"; fi
printf 'digraph { a -> \n' >"$tmp/bad.dot"
run dot "$tmp/bad.dot" -o "$tmp/bad.svg"
if [ "$st" = 2 ] && grep -q 'not a Graphviz graph' "$tmp/err"; then
	ok "cotrace dot refuses a broken DOT file with status 2"
else bad "cotrace dot bad.dot: status $st, $first"; fi
run timeline basic.trace
if [ "$st" = 0 ] && cmp -s "$tmp/out" basic.timeline.dot; then
	ok "no -o: DOT on standard output"
else bad "timeline without -o: status $st"; fi
# usage ARGS...: exit status 1 and a message.
usage() {
	run "$@"
	if [ "$st" = 1 ] && [ -s "$tmp/err" ]; then ok "cotrace $*: usage error"
	else bad "cotrace $*: status $st"; fi
}
usage
usage nosuchview basic.trace
usage stats
usage stats basic.trace --run 0
usage stats basic.trace --run 3
usage stats no-such-file.trace
usage timeline basic.trace -o "$tmp/out.gif"
usage timeline basic.trace -o "$tmp/no/such/dir/out.svg"
usage stats basic.trace --colour-by rid
usage dot "$tmp/no-such.dot" -o "$tmp/x.svg"
usage dot "$tmp/g.dot" -o "$tmp/x.gif"

echo "== the tracer"
cc=${CC:-cc}
cflags=${CFLAGS:--std=gnu11 -Wall -Wextra -Werror -g -O2}
tracer_ok=1
for mode in on off; do
	def=""
	[ $mode = off ] && def=-DCOROLAB_NO_TRACE
	# shellcheck disable=SC2086
	if ! $cc $cflags $def -I"$root/solutions" tracer_check.c \
		"$root/solutions/trace.c" ${LDFLAGS:-} -o "$tmp/tracer_$mode" \
		>"$tmp/cc.log" 2>&1; then
		bad "tracer_check.c does not build ($mode)"
		sed 's/^/        /' "$tmp/cc.log" | head -n 10
		tracer_ok=0
		continue
	fi
	if "$tmp/tracer_$mode" "$tmp/t_$mode.trace" "$tmp/e_$mode.trace" \
		>"$tmp/tc.log" 2>&1; then
		ok "tracer_check ($mode): return values, escapes, errors"
	else
		bad "tracer_check ($mode)"
		sed 's/^/        /' "$tmp/tc.log" | head -n 10
		tracer_ok=0
	fi
done
if [ $tracer_ok = 1 ]; then
	for pair in "t_on tracer.trace" "e_on tracer-env.trace" \
		"t_off tracer-off.trace" "e_off tracer-env-off.trace"; do
		# shellcheck disable=SC2086 # split "produced golden" in two
		set -- $pair
		if [ "${UPDATE:-}" = 1 ]; then cp "$tmp/$1.trace" "$2"; fi
		if cmp -s "$tmp/$1.trace" "$2"; then ok "the tracer wrote $2"
		else
			bad "the tracer's output differs from $2"
			diff "$2" "$tmp/$1.trace" | head -n 10 | sed 's/^/        /'
		fi
	done
	all=1
	for r in 1 2; do
		for f in t_on e_on t_off e_off; do
			run stats "$tmp/$f.trace" --run $r
			[ "$st" = 0 ] || { all=0; echo "        $f run $r: $(cat "$tmp/err")"; }
		done
	done
	if [ $all = 1 ]; then ok "cotrace reads every run the tracer wrote"
	else bad "cotrace refuses the tracer's output"; fi
	run chrome "$tmp/t_on.trace" -o "$tmp/t_on.json"
	if [ "$st" = 0 ] && ${PYTHON:-python3} check_chrome.py \
		"$tmp/t_on.json" >"$tmp/chrome.log" 2>&1; then
		ok "the tracer's run makes Chrome JSON Perfetto can bind"
	else bad "chrome of the tracer's run: $(tail -n 1 "$tmp/chrome.log")"; fi
fi

# The origin line and %p (origin_check.c): built and run here.
# shellcheck disable=SC2086
if ! $cc $cflags -I"$root/solutions" origin_check.c "$root/solutions/trace.c" \
	${LDFLAGS:-} -pthread -o "$tmp/origin_check" >"$tmp/cc.log" 2>&1; then
	bad "origin_check.c does not build"
	sed 's/^/        /' "$tmp/cc.log" | head -n 10
elif mkdir -p "$tmp/oc" && "$tmp/origin_check" "$tmp/oc" >"$tmp/oc.log" 2>&1; then
	ok "the tracer: %p is the pid, a corolab-origin line after a monotonic header"
else
	bad "origin_check: $(head -n 1 "$tmp/oc.log")"
fi

echo "== the fuzz target's corpus"
# The fuzzer's findings and seeds, and every trace here, through the
# same entry point as libFuzzer, built with the compiler at hand (give
# CFLAGS the sanitizers, as SAN=1 does, to make this mean much).
fuzz=$root/tests/fuzz
vis=$root/visualizer
# shellcheck disable=SC2086
if ! $cc $cflags -I"$vis" "$fuzz/fuzz_trace.c" "$fuzz/replay.c" \
	"$vis/tracefile.c" "$vis/values.c" "$vis/intern.c" "$vis/model.c" \
	"$vis/stats.c" "$vis/chrome.c" "$vis/tail.c" ${LDFLAGS:-} \
	-o "$tmp/replay" >"$tmp/cc.log" 2>&1; then
	bad "tests/fuzz does not build"
	sed 's/^/        /' "$tmp/cc.log" | head -n 10
elif "$tmp/replay" "$fuzz/corpus" bad . "$root"/chapters/*/img \
	>"$tmp/replay.log" 2>&1; then
	ok "fuzz corpus: $(tail -n 1 "$tmp/replay.log" | sed 's/^replay: //')"
else
	bad "fuzz corpus replay failed"
	sed 's/^/        /' "$tmp/replay.log" | head -n 10
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
