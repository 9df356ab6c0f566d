#!/bin/sh
# tsan.sh - "make tsan": chapter 07's thread tests under ThreadSanitizer.
#
#	sh tests/kit/tsan.sh GRADE [REPEAT]
#
# GRADE is a grader built with -fsanitize=thread (the Makefile builds
# build/tsan/grade). Each test of tests/ch07_threads.c runs REPEAT times
# (default 100), alone (CK_RUN_CASE), so that a race that shows once in
# a hundred runs is seen; then every test of chapter 07 runs once. A run
# fails when the test fails or ThreadSanitizer reports anything (it
# makes the forked test exit with 66, which the grader counts as a
# failure). The coroutine switch tells TSan about each stack (ctx.h,
# CL_TSAN), so that switching stacks is not taken for a race.
#
# Prints one line per test, "ok name xN" or "FAIL name: k of N", then
# the whole chapter's score; exits 1 if anything failed.

grade=${1:?usage: tsan.sh GRADE [REPEAT]}
repeat=${2:-100}
fails=0
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
# TSan sleeps a second at exit for threads to finish; ours are joined.
export TSAN_OPTIONS="atexit_sleep_ms=0 ${TSAN_OPTIONS:-}"

# Traced, as make grade runs them: the tracer belongs to the loop's
# thread, and the pool's threads must not write to it.
traces=$(mktemp -d) || exit 1
trap 'rm -rf "$traces"' EXIT

names=$(sed -n 's/^[[:space:]]*cl_test(\(test_[a-z0-9_]*\),.*/\1/p' \
	tests/ch07_threads.c)
[ -n "$names" ] || { echo "tsan.sh: no tests in tests/ch07_threads.c"; exit 1; }
for name in $names; do
	bad=0
	i=0
	while [ $i -lt "$repeat" ]; do
		out=$(CK_RUN_CASE=$name "$grade" -c 7 -m -t "$traces" 2>&1)
		case $out in
		*"passed 1 failed"*) ;;
		*) bad=$((bad + 1))
		   [ $bad -eq 1 ] && printf '%s\n' "$out" | grep -v "did not run\|at ?:0" | head -40 ;;
		esac
		i=$((i + 1))
	done
	if [ $bad -eq 0 ]; then
		echo "  ok    $name x$repeat"
	else
		echo "  FAIL  $name: $bad of $repeat"
		fails=$((fails + 1))
	fi
done
if ! "$grade" -c 7 -t "$traces" > /tmp/tsan.$$ 2>&1; then
	:
fi
tail -1 /tmp/tsan.$$
if grep -q "^FAIL" /tmp/tsan.$$; then
	grep -A3 "^FAIL" /tmp/tsan.$$ | head -40
	fails=$((fails + 1))
fi
rm -f /tmp/tsan.$$
[ $fails -eq 0 ]
