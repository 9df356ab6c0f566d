#!/bin/sh
# misses.sh - what one echo costs in instructions and L1 data-cache misses,
# corolab's echo servers against libuv's, counted by cachegrind:
#
#	corolab_proto	echo_proto (chapters/04-epoll/examples/echo_proto.c):
#			a protocol on corolab's transports, callbacks from
#			the loop, no task and no stream
#	corolab		echo_server (chapters/04-epoll/examples/echo_server.c):
#			a task per connection on corolab's streams; the
#			reference of the ratios
#	libuv		uv_echo (tests/bench/uv_echo.c)
#
# corolab_proto splits corolab's difference with libuv in two: what it
# costs beyond libuv is the loop and the transport; what corolab costs
# beyond it is the task and the stream.
#
#	tests/bench/misses.sh
#
# echo.sh times the servers, and its user part (the server's own code)
# moves by 15% between identical runs. This counts instead: each server
# runs under valgrind --tool=cachegrind, which executes it on a simulated
# CPU and counts every instruction and every miss of a simulated cache,
# nearly the same numbers on every run. The load client drives it at 100
# and 1,000 connections (it prints how many echoes the server made in
# all), and the counts are divided by those echoes:
#
#	misses<C>_instr <server> <instructions per echo>
#	misses<C>_d1 <server> <L1 data-cache misses per echo, reads + writes>
#	ratio misses<C>_<what> <server>/corolab <n>
#
# The simulated L1 is this machine's: 32 KiB, 8-way, 64-byte lines. Its
# sets are picked by address bits inside a page, so simulating it on
# virtual addresses, as cachegrind does, is faithful. (Bigger caches are
# indexed by physical address, which cachegrind does not know: its
# last-level figures are left out.) Each miss is a trip to L2 or beyond;
# with 1,000 connections, a line a connection touched at its previous
# message is long gone from L1.
#
# Under valgrind a server runs many times slower (at 1,000 connections
# corolab echoes about 20,000 times a second instead of 70,000), so each
# of its loop iterations finds more connections ready than it would
# natively. All servers run under it, so the comparison holds; the
# absolute counts are what a busy server sees.
#
# Environment:
#	BENCH_DIR	where echo_proto, echo_server, uv_echo and load are
#			(default build/bench)
#	MISSES_CONNS	connection counts (default "100 1000")
#	MISSES_SECS	seconds of load (default 4)
#	MISSES_KEEP	a directory: keep cachegrind's output there, as
#			<server>-<connections>.cg, for cg_annotate
#	PYTHON		for picking ports (default python3)
#
# A server that is not built, or no valgrind, is skipped and said so.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench_dir=${BENCH_DIR:-$root/build/bench}
python=${PYTHON:-python3}
conns=${MISSES_CONNS:-100 1000}
secs=${MISSES_SECS:-4}
load=$bench_dir/load

if ! command -v valgrind >/dev/null 2>&1; then
	echo "# skipped misses.sh: no valgrind" >&2
	exit 0
fi
if [ ! -x "$load" ]; then
	echo "misses.sh: $load not built (make bench builds it)" >&2
	exit 1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null

tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$here/ports.sh"

# count NAME PROGRAM C: run PROGRAM under cachegrind at C connections;
# append "C NAME instructions d1-misses echoes" to $tmp/figs.
count() {
	name=$1
	prog=$2
	c=$3
	port=$(free_port)
	valgrind --tool=cachegrind --cache-sim=yes --D1=32768,8,64 \
		--cachegrind-out-file="$tmp/$name.cg" \
		"$prog" 127.0.0.1 "$port" >"$tmp/$name.log" 2>&1 &
	pid=$!
	if ! wait_port "$port"; then
		echo "misses.sh: $name did not start under valgrind:" >&2
		sed 's/^/	/' "$tmp/$name.log" >&2
		return 1
	fi
	if ! "$load" -p "$port" -c "$c" -d "$secs" -w 0.5 >"$tmp/$name.load" \
		2>&1; then
		echo "misses.sh: load against $name failed:" >&2
		sed 's/^/	/' "$tmp/$name.load" >&2
		return 1
	fi
	# SIGTERM: every server exits cleanly, and cachegrind writes out.
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	pid=
	# summary: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
	n=$(awk '/^# replies in all phases:/ { print $6 }' "$tmp/$name.load")
	if [ -n "${MISSES_KEEP:-}" ]; then
		cp "$tmp/$name.cg" "$MISSES_KEEP/$name-$c.cg" || return 1
	fi
	awk -v c="$c" -v s="$name" -v n="$n" '
		/^summary:/ && n > 0 { print c, s, $2 / n, ($6 + $9) / n, n }
	' "$tmp/$name.cg" >>"$tmp/figs"
}

status=0
for c in $conns; do
	for s in corolab_proto corolab libuv; do
		case $s in
		corolab_proto) prog=$bench_dir/echo_proto ;;
		corolab) prog=$bench_dir/echo_server ;;
		libuv) prog=$bench_dir/uv_echo ;;
		esac
		if [ ! -x "$prog" ]; then
			echo "# skipped $s: $prog not built" >&2
			continue
		fi
		count "$s" "$prog" "$c" || status=1
	done
done
[ -s "$tmp/figs" ] || exit 1

echo "# misses: cachegrind, simulated L1d 32 KiB 8-way, 64-byte messages," \
	"1 in flight per connection"
awk '
	BEGIN { names[0] = "corolab_proto"; names[1] = "corolab"
		names[2] = "libuv" }
	{
		printf "# %s at %s connections: %d echoes\n", $2, $1, $5
		instr[$1, $2] = $3
		d1[$1, $2] = $4
		if (!($1 in seen)) {
			seen[$1] = 1
			order[n++] = $1
		}
	}
	END {
		for (i = 0; i < n; i++) {
			c = order[i]
			for (s = 0; s < 3; s++) {
				name = names[s]
				if ((c, name) in instr) {
					printf "misses%s_instr %s %.0f\n", c, \
					    name, instr[c, name]
					printf "misses%s_d1 %s %.1f\n", c, \
					    name, d1[c, name]
				}
			}
			for (s = 0; s < 3; s++) {
				name = names[s]
				if (name == "corolab" ||
				    !((c, "corolab") in instr) ||
				    !((c, name) in instr))
					continue
				printf "ratio misses%s_instr %s/corolab %.2f\n",
				    c, name, instr[c, name] / instr[c, "corolab"]
				printf "ratio misses%s_d1 %s/corolab %.2f\n",
				    c, name, d1[c, name] / d1[c, "corolab"]
			}
		}
	}
' "$tmp/figs"
exit $status
