#!/bin/sh
# steps.sh - where a task step's instructions go, function by function.
#
#	tests/bench/steps.sh [STEPS [TASKS]]
#
# Runs build/bench/steps (tests/bench/steps.c) under valgrind's
# callgrind, with its cache simulation, twice: TASKS tasks (default 2)
# taking K steps each, then 2K, for STEPS steps in all in the first run
# (default 200000). The second run does exactly STEPS steps more, so
# the difference of the two, divided by STEPS, is what one step costs,
# with the start and the end of the program subtracted away. callgrind
# counts executed instructions, the same on every run whatever else the
# machine is doing; its L1 data cache is this machine's (32 KiB, 8-way).
#
# Prints one line per function that costs a step at least half an
# instruction (self cost: what the function's own code executes, the
# functions it calls apart), most first:
#
#	<instructions per step> <L1 data misses per step> <file:function>
#
# then the total. (Chapter 03, Appendix A, groups them by what they do.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${BENCH_DIR:-$here/../../build/bench}/steps
steps=${1:-200000}
tasks=${2:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$bin" ] || { echo "steps.sh: build $bin first (make -f tests/bench/bench.mk ...)" >&2; exit 1; }
k=$((steps / tasks))
for m in 1 2; do
	valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$tmp/cg$m" \
		"$bin" "$tasks" $((m * k)) >/dev/null 2>&1 ||
		{ echo "steps.sh: $bin failed under valgrind" >&2; exit 1; }
	callgrind_annotate --auto=no --threshold=100 --show-percs=no --show=Ir,D1mr,D1mw \
		"$tmp/cg$m" 2>/dev/null | awk '
		$1 ~ /^[0-9,]+$/ && $2 ~ /^([0-9,]+|\.)$/ && $3 ~ /^([0-9,]+|\.)$/ {
			ir = $1; r = $2; w = $3; gsub(/,/, "", ir)
			gsub(/,/, "", r); gsub(/,/, "", w)
			$1 = $2 = $3 = ""; sub(/^ +/, "")
			sub(/ \[[^]]*\]$/, ""); sub(/.*\//, "")
			print ir "\t" r + w "\t" $0
		}' >"$tmp/f$m"
done
awk -F'\t' -v n=$((k * tasks)) '
	FNR == NR { ir[$3] -= $1; d1[$3] -= $2; next }
	{ ir[$3] += $1; d1[$3] += $2 }
	END {
		for (f in ir)
			if (f != "PROGRAM TOTALS" && ir[f] / n >= 0.5)
				printf "%8.1f %6.2f %s\n", ir[f] / n, d1[f] / n, f
		printf "%8.1f %6.2f total per step (%d tasks)\n",
			ir["PROGRAM TOTALS"] / n, d1["PROGRAM TOTALS"] / n, '"$tasks"'
	}' "$tmp/f1" "$tmp/f2" | sort -k1,1nr -s | awk '/total per step/ {t = $0; next} {print} END {print t}'
