#!/bin/sh
# latency_plot.sh - chatload's delivery latencies as a picture, with gnuplot.
#
#	tests/bench/latency_plot.sh [-o out.png|out.svg] [-T title] FILE...
#
# FILE is what chatload -o writes (one latency in microseconds a line, in
# no particular order), e.g. chat_bench.sh's CHAT_LATENCIES/lat-<N>.txt;
# several FILEs are drawn over each other, each named after its file
# (name:FILE names it "name"). Two panels:
#	top	the histogram: the share of deliveries in each bin, bins
#		spaced logarithmically (20 a decade), x on a log scale
#	bottom	the tail: latency at each percentile, x on a log scale of
#		1 - p, so that p50, p90, p99, p99.9 and p99.99 sit at even
#		steps and the tail is as wide as the middle
# The terminal follows the output's name: .svg is svg, anything else
# pngcairo (default latency.png). Needs gnuplot (Debian: gnuplot-nox; the
# bench target installs it); without it, says so and exits 1.
set -u

out=latency.png
title="chat delivery latency"
while getopts o:T: f; do
	case $f in
	o) out=$OPTARG ;;
	T) title=$OPTARG ;;
	*) echo "usage: $0 [-o out.png|out.svg] [-T title] FILE..." >&2
		exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ]; then
	echo "usage: $0 [-o out.png|out.svg] [-T title] FILE..." >&2
	exit 2
fi
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "latency_plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $out in
*.svg) term="svg size 900,900 dynamic noenhanced font 'sans,11'" ;;
*) term="pngcairo size 900,900 noenhanced font 'sans,10'" ;;
esac

hist_plot=
tail_plot=
i=0
for arg in "$@"; do
	case $arg in
	*:*) name=${arg%%:*}; file=${arg#*:} ;;
	*) file=$arg; name=$(basename "$file" .txt) ;;
	esac
	if [ ! -s "$file" ]; then
		echo "latency_plot.sh: $file is empty or missing" >&2
		exit 1
	fi
	i=$((i + 1))
	# the histogram: bin b holds [10^(b/20), 10^((b+1)/20)) us; 0 us
	# goes with 1 us
	awk '{ v = $1 < 1 ? 1 : $1; b = int(log(v) / log(10) * 20)
		n[b]++; t++ }
	END { for (b in n) printf "%.3f %.6f\n", 10 ^ ((b + 0.5) / 20),
		n[b] / t }' "$file" | sort -g >"$tmp/h$i"
	# the tail: sorted, about 2,000 points spread evenly on log(1 - p)
	sort -n "$file" | awk '{ v[NR] = $1 }
	END {
		n = NR
		for (k = 0; k <= 2000; k++) {
			q = 1 - 10 ^ (-k / 400)	# p from 0 to 0.99999
			r = int(q * n) + 1
			if (r > n) break
			if (r == last) continue
			last = r
			printf "%.8f %d\n", 1 - q, v[r]
		}
		printf "%.8f %d\n", 0.5 / n, v[n]	# the max
	}' >"$tmp/t$i"
	sep=
	[ $i -gt 1 ] && sep=", "
	hist_plot="$hist_plot$sep'$tmp/h$i' using 1:(\$2*100) with steps lw 2 title '$name'"
	tail_plot="$tail_plot$sep'$tmp/t$i' using 1:2 with lines lw 2 title '$name'"
done

gnuplot <<EOF
set terminal $term
set output '$out'
set multiplot layout 2,1 title '$title'
set logscale x
set grid
set key top right
set xlabel 'delivery latency (us)'
set ylabel 'deliveries (%)'
set title 'histogram (20 bins a decade)'
plot $hist_plot
set logscale xy
set xrange [*:*] reverse
set xtics ('p0' 1, 'p50' 0.5, 'p90' 0.1, 'p99' 0.01, 'p99.9' 0.001, 'p99.99' 0.0001, 'p99.999' 0.00001)
set xlabel 'percentile'
set ylabel 'latency (us)'
set key top left
set title 'the tail: latency at each percentile (last point: the max)'
plot $tail_plot
unset multiplot
EOF
status=$?
[ $status = 0 ] && echo "latency_plot.sh: wrote $out"
exit $status
