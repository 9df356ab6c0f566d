#!/bin/sh
# demo.sh - "make demo": run the chapters' examples, then trace a dinner
# service and draw it.
#
#	demo.sh BUILD COTRACE OUTDIR [LABGEN LAB]
#
# BUILD is a build of the reference, or, with LABGEN and LAB, of a
# student's lab/ (in a handout). There an example fails while a chapter
# it stands on is not written yet: instead of its error, we say which
# chapters those are (labgen status tells a file as handed out from one
# the student has edited). The run goes on either way.
set -u
ref=$1 cotrace=$2 out=$3 labgen=${4:-} lab=${5:-}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# not_done NN: the chapters up to NN whose lab files are not all
# edited yet, as "chapter 01 not started, chapter 03 with 1 of 4 files
# not edited yet"; empty if none.
not_done() {
	[ -n "$labgen" ] || return 0
	"$labgen" status "$lab" | awk -v upto="$1" '
		$1 <= upto { n[$1]++; if ($3 == "untouched") u[$1]++ }
		END {
			sep = ""
			for (c = 1; c <= upto; c++) {
				if (u[c] == 0)
					continue
				if (u[c] == n[c])
					printf "%schapter %02d not started", sep, c
				else
					printf "%schapter %02d with %d of %d files " \
						"not edited yet", sep, c, u[c], n[c]
				sep = ", "
			}
		}'
}

# run EXAMPLE [VAR=VALUE...]: run it and show what it printed. If it
# failed while chapters it needs are not done, say that instead: 1.
run() {
	ex=$1
	shift
	env "$@" timeout 30 "$ex" >"$log" 2>&1
	st=$?
	ch=$(basename "$(dirname "$ex")" | cut -c1-2)
	todo=$(not_done "$ch")
	if [ $st != 0 ] && [ -n "$todo" ]; then
		echo "(stops at code not written yet: $todo;"
		echo " make grade CH=N says what is missing)"
		return 1
	fi
	cat "$log"
	[ $st = 0 ] || echo "(exited with status $st)"
	return 0
}

for ex in "$ref"/examples/*/*; do
	[ -x "$ex" ] || continue
	case $ex in */restaurant) continue ;; esac
	echo "=== ${ex#"$ref"/examples/}"
	run "$ex"
	echo
done

echo "=== the demo: 03-scheduler/restaurant, traced"
mkdir -p "$out"
rm -f "$out/trace.txt"
if ! run "$ref/examples/03-scheduler/restaurant" \
	COROLAB_TRACE="$out/trace.txt"; then
	echo
	echo "The traced demo comes once chapters 01 to 03 are done."
	exit 0
fi
"$cotrace" timeline "$out/trace.txt" -o "$out/timeline.svg" &&
	"$cotrace" awaits "$out/trace.txt" -o "$out/awaits.svg" &&
	"$cotrace" chrome "$out/trace.txt" -o "$out/trace.json" || exit 1
echo
"$cotrace" stats "$out/trace.txt"
cat <<MSG

Made from one run of chapters/03-scheduler/examples/restaurant.c:
  $out/trace.txt      the trace, one event per line (visualizer/README.md)
  $out/timeline.svg   who ran when, and who woke whom: open it in a browser
  $out/awaits.svg     who waits on whom at the end of the run
  $out/trace.json     the same run for Perfetto: open https://ui.perfetto.dev
                      and drag the file in
MSG
