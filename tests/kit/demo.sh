#!/bin/sh
# demo.sh - "make demo": run the chapters' examples, then trace a dinner
# service and draw it.
#
#	demo.sh BUILD/ref COTRACE OUTDIR
set -u
ref=$1 cotrace=$2 out=$3

for ex in "$ref"/examples/*/*; do
	[ -x "$ex" ] || continue
	case $ex in */restaurant) continue ;; esac
	echo "=== ${ex#"$ref"/examples/}"
	"$ex" || echo "(exited with status $?)"
	echo
done

echo "=== the demo: 03-scheduler/restaurant, traced"
mkdir -p "$out"
rm -f "$out/trace.txt"
COROLAB_TRACE=$out/trace.txt "$ref/examples/03-scheduler/restaurant" || exit 1
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
