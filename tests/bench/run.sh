#!/bin/sh
# run.sh - run every benchmark and its peers side by side, print ratios.
#
#	tests/bench/run.sh [PROGRAM...]
#
# PROGRAM is the path of a built benchmark (switch, switch_boost, gen_send,
# sched, sched_notrace, exc, ctxvar, ch07) or of gen_send.py, sched.py,
# exc.py, ctxvar.py or ch07.py. Without arguments it runs, from build/bench/
# (or $BENCH_DIR), whichever of those programs are there, plus
# tests/bench/gen_send.py, sched.py, exc.py, ctxvar.py and ch07.py with
# $PYTHON (default python3). It builds nothing: `make bench` builds, then
# calls this.
#
# Chapter 04's poller_cost and echo.sh (the echo servers against libuv and
# asyncio, driven by the load client) run after the rounds, once each;
# they print their own figures and ratios, described in their headers.
#
# Environment:
#	ROUNDS	rounds (default 3): each round runs every program once, one
#		after the other, so background noise hits all of them
#	REPS	repetitions per method inside one program run (default 3);
#		the programs interleave their own methods
#	TARGET_MS	time of one repetition of one method (default 200)
#	SENDS	sends per repetition in gen_send.py (default 2000000)
#	PARKED	parked tasks for the memory figure of sched and sched.py
#		(default 25000)
#
# Every figure printed is the best (lowest) of ROUNDS x REPS repetitions
# (of ROUNDS runs for the memory figure, measured once per run). A machine
# shared with other work only ever makes a run slower, so the best is the
# closest to the true cost; and since all peers run in the same rounds,
# their ratios are the figure to quote, not the absolute times.
#
# Output (one line each; '#' starts a comment), grouped by kind:
#	switch <method> <ns per switch>		a round trip is two switches
#	gensend <method> <ns per send round trip>
#	syscall rt_sigprocmask <ns per call>	what ucontext pays per switch
#	loop cpython <ns per empty for-loop iteration>
#	sched_step2 <method> <ns per task step>	also sched_step1000
#	spawn <method> <ns per task>		also spawn_gather
#	syscall mmap_stack <ns per stack>	what a stack not pooled costs
#	parked <method> <bytes of VmRSS per parked task>
#	raise_catch <method> <ns per raise caught one call up>
#	cancel_reap <method> <ns per sleeping task cancelled and awaited>
#	taskgroup <method> <ns per child of a TaskGroup of 1,000>
#	ctxvar_getN <method> <ns per var.get()>, N variables set (1, 10,
#		100, 10000); also ctxvar_setN, copy_contextN, context_runN
#	context_memN <method> <bytes per context, 1,000 copies one set each>
#	queue_pair <method> <ns per item, Queue(maxsize=1) between two tasks>
#		also queue_pair_unbounded (Queue(), sleep(0) every 64 puts)
#	lock_uncontended <method> <ns per acquire+release, one task>
#	lock_100waiters <method> <ns per hand-off among 100 tasks>
#	to_thread <method> <ns per to_thread call of an empty function>
#	thread_create_join pthread <ns per pthread_create+join>
#	threadfloor futex_eventfd <ns per futex wake, eventfd, epoll_wait>
#	agen_for <method> <ns per item of async for over 1,000,000>
#	ratio <method>/corolab <n>		for every switch and gensend
#						method: n times corolab's time
#	ratio <kind> <method>/corolab <n>	the same for the other kinds,
#						which share method names
#	ratio <kind> corolab/corolab_notrace <n>  what tracing compiled in
#						(and off) costs
#	ratio to_thread <method>/threadfloor <n>  a to_thread call against
#						the bare round trip to a
#						thread (and /thread_create_join,
#						against a thread per call)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench_dir=${BENCH_DIR:-$root/build/bench}
python=${PYTHON:-python3}
rounds=${ROUNDS:-3}
reps=${REPS:-3}
target=${TARGET_MS:-200}
sends=${SENDS:-2000000}
parked=${PARKED:-25000}

# Chapter 04's benchmarks run once each, after the rounds: poller_cost
# interleaves its own repetitions (REPS of them), echo.sh runs its own
# rounds (ECHO_ROUNDS, see echo.sh) and prints its own ratios, and so does
# misses.sh (counts under cachegrind, no rounds needed). Named on the
# command line, they are taken out of the rounds.
solo=
if [ $# -eq 0 ]; then
	if [ -x "$bench_dir/poller_cost" ]; then
		solo="$bench_dir/poller_cost"
	else
		echo "# skipped poller_cost: $bench_dir/poller_cost not built" >&2
	fi
	solo="$solo $here/echo.sh $here/misses.sh"
else
	for p in "$@"; do
		shift
		case $p in
		*/poller_cost | */echo.sh | */misses.sh) solo="$solo $p" ;;
		*) set -- "$@" "$p" ;;
		esac
	done
	# Only chapter 04's named: hold the place, so that the list below
	# is not filled in with every program.
	[ $# -gt 0 ] || set -- none
fi

if [ $# -eq 0 ]; then
	for p in switch switch_boost gen_send gen_send.py sched sched_notrace \
	    sched.py exc exc.py ctxvar ctxvar.py ch07 ch07.py; do
		case $p in
		*.py) set -- "$@" "$here/$p" ;;
		*)
			if [ -x "$bench_dir/$p" ]; then
				set -- "$@" "$bench_dir/$p"
			else
				echo "# skipped $p: $bench_dir/$p not built" >&2
			fi
			;;
		esac
	done
fi

[ "$*" = none ] && set --

# Run one program for one round.
run_one() {
	case $1 in
	*/gen_send.py) "$python" "$1" -r "$reps" -n "$sends" ;;
	*/sched.py) "$python" "$1" -r "$reps" -t "$target" -m "$parked" ;;
	*/exc.py) "$python" "$1" -r "$reps" -t "$target" ;;
	*/ctxvar.py) "$python" "$1" -r "$reps" -t "$target" ;;
	*/ch07.py) "$python" "$1" -r "$reps" -t "$target" ;;
	*/sched) "$1" -r "$reps" -t "$target" -m "$parked" ;;
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
while [ $# -gt 0 ] && [ "$round" -le "$rounds" ]; do
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

# Best of every (kind, method), grouped by kind in the order the kinds
# were first seen, methods in the order first seen; then the ratios.
# switch and gensend keep the short "ratio X/corolab" lines they had before
# the scheduler kinds came, whose methods (cpython...) recur in several
# kinds: their ratio lines name the kind. Chapter 07's to_thread is also
# divided by the two C references its program times: threadfloor (the
# bare round trip to a waiting thread and back through an eventfd) and
# thread_create_join (a new thread per call).
awk '
	NF != 3 { next }
	{
		key = $1 " " $2
		if (!($1 in nmeth))
			kinds[nkinds++] = $1
		if (!(key in best)) {
			meth[$1, nmeth[$1]++] = $2
			best[key] = $3
		} else if ($3 + 0 < best[key] + 0)
			best[key] = $3
	}
	function ratio(label, r) {
		printf (r < 10 ? "ratio %s %.2f\n" : "ratio %s %.1f\n"), \
			label, r
	}
	END {
		for (i = 0; i < nkinds; i++)
			for (j = 0; j < nmeth[kinds[i]]; j++)
				print kinds[i], meth[kinds[i], j], \
					best[kinds[i] " " meth[kinds[i], j]]
		for (i = 0; i < nkinds; i++) {
			kind = kinds[i]
			base = best[kind " corolab"] + 0
			if (kind == "syscall" || kind == "loop" || base <= 0)
				continue
			short = kind == "switch" || kind == "gensend"
			for (j = 0; j < nmeth[kind]; j++) {
				m = meth[kind, j]
				x = best[kind " " m] + 0
				if (m == "corolab" || x <= 0)
					continue
				if (m == "corolab_notrace")
					ratio(kind " corolab/" m, base / x)
				else if (short)
					ratio(m "/corolab", x / base)
				else
					ratio(kind " " m "/corolab", x / base)
			}
		}
		nref = split("threadfloor thread_create_join", refs, " ")
		for (r = 1; r <= nref; r++) {
			ref = refs[r]
			if (!(ref in nmeth) || !("to_thread" in nmeth))
				continue
			base = best[ref " " meth[ref, 0]] + 0
			if (base <= 0)
				continue
			for (j = 0; j < nmeth["to_thread"]; j++) {
				m = meth["to_thread", j]
				ratio("to_thread " m "/" ref, \
				    best["to_thread " m] / base)
			}
		}
	}
' "$out"

for p in $solo; do
	case $p in
	*.sh) BENCH_DIR=$bench_dir PYTHON=$python sh "$p" || status=1 ;;
	*) "$p" -r "$reps" || status=1 ;;
	esac
done
exit $status
