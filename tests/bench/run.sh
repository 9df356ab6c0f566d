#!/bin/sh
# run.sh - run every benchmark and its peers side by side, print ratios.
#
#	tests/bench/run.sh [PROGRAM...]
#
# PROGRAM is the path of a built benchmark (switch, switch_boost, gen_send)
# or of gen_send.py. Without arguments it runs, from build/bench/ (or
# $BENCH_DIR), whichever of switch, switch_boost and gen_send are there,
# plus tests/bench/gen_send.py with $PYTHON (default python3). It builds
# nothing: `make bench` builds, then calls this.
#
# Environment:
#	ROUNDS	rounds (default 3): each round runs every program once, one
#		after the other, so background noise hits all of them
#	REPS	repetitions per method inside one program run (default 3);
#		the programs interleave their own methods
#	TARGET_MS	time of one repetition of one method (default 200)
#	SENDS	sends per repetition in gen_send.py (default 2000000)
#
# Every figure printed is the best (lowest) of ROUNDS x REPS repetitions.
# A machine shared with other work only ever makes a run slower, so the
# best is the closest to the true cost; and since all peers run in the same
# rounds, their ratios are the figure to quote, not the absolute times.
#
# Output (one line each; '#' starts a comment):
#	switch <method> <ns per switch>		a round trip is two switches
#	gensend <method> <ns per send round trip>
#	syscall rt_sigprocmask <ns per call>	what ucontext pays per switch
#	loop cpython <ns per empty for-loop iteration>
#	ratio <method>/corolab <n>		for every switch and gensend
#						method: n times corolab's time
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench_dir=${BENCH_DIR:-$root/build/bench}
python=${PYTHON:-python3}
rounds=${ROUNDS:-3}
reps=${REPS:-3}
target=${TARGET_MS:-200}
sends=${SENDS:-2000000}

if [ $# -eq 0 ]; then
	for p in switch switch_boost gen_send; do
		if [ -x "$bench_dir/$p" ]; then
			set -- "$@" "$bench_dir/$p"
		else
			echo "# skipped $p: $bench_dir/$p not built" >&2
		fi
	done
	set -- "$@" "$here/gen_send.py"
fi

# Run one program for one round.
run_one() {
	case $1 in
	*.py) "$python" "$1" -r "$reps" -n "$sends" ;;
	*) "$1" -r "$reps" -t "$target" ;;
	esac
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "# corolab bench: $rounds rounds x $reps repetitions, best of all;" \
	"$(nproc) CPUs, ${cpu:-unknown CPU}"

round=1
while [ "$round" -le "$rounds" ]; do
	line="# round $round/$rounds:"
	sep=" "
	for p in "$@"; do
		if ! res=$(run_one "$p"); then
			echo "run.sh: $p failed" >&2
			status=1
			continue
		fi
		# Keep the figures, drop comments and per-program ratios.
		figs=$(echo "$res" | awk '$1 != "ratio" && $1 !~ /^#/ && NF == 3')
		echo "$figs" >>"$out"
		line="$line$sep$(echo "$figs" | awk '{ printf "%s%s %s %s", \
			(NR > 1 ? ", " : ""), $1, $2, $3 }')"
		sep=" | "
	done
	echo "$line"
	round=$((round + 1))
done

# Best of every (kind, method), in the order first seen; then the ratios.
awk '
	{
		key = $1 " " $2
		if (!(key in best)) {
			order[n++] = key
			best[key] = $3
		} else if ($3 + 0 < best[key] + 0)
			best[key] = $3
	}
	END {
		for (i = 0; i < n; i++)
			print order[i], best[order[i]]
		for (i = 0; i < n; i++) {
			split(order[i], k, " ")
			if (k[1] != "switch" && k[1] != "gensend")
				continue
			base = k[1] " corolab"
			if (k[2] == "corolab" || !(base in best) ||
			    best[base] + 0 <= 0)
				continue
			r = best[order[i]] / best[base]
			printf (r < 10 ? "ratio %s/corolab %.2f\n" : \
				"ratio %s/corolab %.1f\n"), k[2], r
		}
	}
' "$out"
exit $status
