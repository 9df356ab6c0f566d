#!/bin/sh
# echo.sh - corolab's echo servers against libuv's, uvloop's and CPython
# asyncio's.
#
#	tests/bench/echo.sh
#
# Starts the seven echo servers side by side, each on a free loopback
# port, checks that each echoes correctly (load --verify), then drives
# them in turn with tests/bench/load.c at 100, 1,000 and 10,000
# connections, round after round, and prints the best figure of each and
# the ratios against corolab. Idle servers sit in epoll_wait and cost
# nothing while another one is measured.
#
# corolab and the two Python loops each have a server written on the
# callback layer (transport and protocol) and one on the streams over it
# (a task per connection); libuv has only callbacks:
#
#	corolab_proto chapters/04-epoll/examples/echo_proto.c (built as
#		$BENCH_DIR/echo_proto by bench.mk): a protocol whose
#		data_received writes to its transport
#	corolab	chapters/04-epoll/examples/echo_server.c
#		($BENCH_DIR/echo_server): streams; the reference of the
#		ratios
#	libuv	tests/bench/uv_echo.c ($BENCH_DIR/uv_echo)
#	uvloop_proto tests/bench/asyncio_echo.py --loop uvloop --api protocol
#		($UVLOOP_PYTHON)
#	uvloop	tests/bench/asyncio_echo.py --loop uvloop --api streams
#		($UVLOOP_PYTHON)
#	asyncio_proto tests/bench/asyncio_echo.py --api protocol ($PYTHON)
#	asyncio	tests/bench/asyncio_echo.py: streams on CPython's own loop
#		($PYTHON)
#
# A server that is not built, or uvloop when no interpreter has it, is
# skipped, and said so.
#
# Environment:
#	BENCH_DIR	where the programs are (default build/bench)
#	PYTHON		the interpreter for the asyncio rows (default python3)
#	UVLOOP_PYTHON	the interpreter for the uvloop rows (default: the
#			first of /usr/bin/python3, where Debian's
#			python3-uvloop goes, and $PYTHON that can import
#			uvloop)
#	ECHO_CONNS	connection counts (default "100 1000 10000")
#	ECHO_ROUNDS	rounds (default 5)
#	ECHO_SECS	seconds measured per run of load (default 2)
#	ECHO_SIZE	bytes per message (default 64)
#
# Each round's comment line also says how evenly the server served its
# connections: "max/median" is the most messages one connection got
# through divided by the median (1.0: perfectly even). A server that lets
# some connections run ahead while others wait has a p99 far above p50.
#
# On two CPUs the client and the server each get one; at 100 connections
# the C client is close to saturating its CPU against the C servers, and
# then messages/s measures the client as much as the server. The server's
# CPU time per message (utime + stime from /proc/PID/stat over the
# measured seconds, divided by the messages) does not depend on how fast
# the client is: it is the steadier figure, and the headline. Its two
# parts, utime (the server's own code, library and all) and stime (the
# system calls and TCP under them), say where a difference comes from;
# they count in clock ticks of 10 ms, so a part of a few ticks over the
# run is coarse.
#
# Output ('#' starts a comment):
#	echo<C>_cpu <server> <server CPU us per message>
#	echo<C>_user <server> <the part in the server's own code, us>
#	echo<C>_kernel <server> <the part in the kernel, us>
#	echo<C>_rate <server> <messages per second>
#	echo<C>_p50 <server> <median latency, us>
#	echo<C>_p99 <server> <99th percentile latency, us>
#	ratio echo<C>_<what> <server>/corolab <n>
#	paired echo<C>_cpu <server>/corolab <n>
# Every figure is the best of the rounds: the lowest, or for _rate the
# highest; _user and _kernel are the parts of the best _cpu. A ratio is
# the server's figure divided by corolab's: above 1, it used more CPU,
# waited longer, or (for _rate) moved more messages.
#
# Best of each server is a figure from each server's luckiest round, and
# on a shared machine the rounds differ by 20% and more. The servers of
# one round run back to back, within seconds, under much the same load:
# "paired" divides each server's CPU per message by corolab's in the same
# round, and prints the median of those quotients over the rounds (a
# comment line before it lists them). It is the ratio to quote.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench_dir=${BENCH_DIR:-$root/build/bench}
python=${PYTHON:-python3}
conns=${ECHO_CONNS:-100 1000 10000}
rounds=${ECHO_ROUNDS:-5}
secs=${ECHO_SECS:-2}
size=${ECHO_SIZE:-64}
load=$bench_dir/load

if [ ! -x "$load" ]; then
	echo "echo.sh: $load not built (make bench builds it)" >&2
	exit 1
fi

# 10,000 connections need more descriptors than the usual soft limit,
# in the servers as in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$here/ports.sh"

# start NAME COMMAND...: run the server on a free port; note NAME's port
# and pid in $tmp/NAME.port and $tmp/NAME.pid.
servers=
start() {
	name=$1
	shift
	port=$(free_port)
	"$@" 127.0.0.1 "$port" >"$tmp/$name.log" 2>&1 &
	pid=$!
	pids="$pids $pid"
	if ! wait_port "$port" || ! kill -0 "$pid" 2>/dev/null; then
		echo "echo.sh: $name did not start listening on port $port:" >&2
		sed 's/^/	/' "$tmp/$name.log" >&2
		return 1
	fi
	# Echo correctly first: 1,000 connections, every byte checked.
	if ! "$load" -p "$port" -c 1000 -d 0.5 -w 0 -s "$size" --verify \
		>"$tmp/$name.verify" 2>&1; then
		echo "echo.sh: $name failed load --verify; no figures for it:" \
			>&2
		sed 's/^/	/' "$tmp/$name.verify" >&2
		return 1
	fi
	echo "$port" >"$tmp/$name.port"
	echo "$pid" >"$tmp/$name.pid"
	servers="$servers $name"
}

# The uvloop rows need an interpreter that has uvloop: often not the
# python3 first on PATH (a pyenv or a virtualenv), so look further.
uvpython=
if [ -n "${UVLOOP_PYTHON:-}" ]; then
	"$UVLOOP_PYTHON" -c 'import uvloop' >/dev/null 2>&1 &&
		uvpython=$UVLOOP_PYTHON
	why="UVLOOP_PYTHON=$UVLOOP_PYTHON cannot import uvloop"
else
	for p in /usr/bin/python3 "$python"; do
		if "$p" -c 'import uvloop' >/dev/null 2>&1; then
			uvpython=$p
			break
		fi
	done
	why="neither /usr/bin/python3 nor $python can import uvloop"
	why="$why (apt-get install python3-uvloop, or set UVLOOP_PYTHON)"
fi

status=0
# server NAME PROGRAM: start the C server PROGRAM if it is built.
server() {
	if [ -x "$2" ]; then
		start "$1" "$2" || status=1
	else
		echo "# skipped $1: $2 not built" >&2
	fi
}
server corolab_proto "$bench_dir/echo_proto"
server corolab "$bench_dir/echo_server"
server libuv "$bench_dir/uv_echo"
if [ -n "$uvpython" ]; then
	start uvloop_proto "$uvpython" "$here/asyncio_echo.py" \
		--loop uvloop --api protocol || status=1
	start uvloop "$uvpython" "$here/asyncio_echo.py" \
		--loop uvloop --api streams || status=1
else
	echo "# skipped uvloop_proto, uvloop: $why" >&2
fi
start asyncio_proto "$python" "$here/asyncio_echo.py" --api protocol ||
	status=1
start asyncio "$python" "$here/asyncio_echo.py" || status=1

echo "# echo: $size-byte messages, 1 in flight per connection," \
	"$secs s measured per run, $rounds rounds, best of all"
echo "# servers:$servers; every one passed load --verify first"
pyver() {
	"$1" -c 'import sys; print("Python %d.%d.%d" % sys.version_info[:3])'
}
echo "# asyncio rows: $python, $(pyver "$python")"
[ -n "$uvpython" ] && echo "# uvloop rows: $uvpython, $(pyver "$uvpython")," \
	"uvloop $("$uvpython" -c 'import uvloop; print(uvloop.__version__)')"

# Rounds: every connection count, every server in turn.
round=1
while [ "$round" -le "$rounds" ]; do
	for c in $conns; do
		line="# round $round/$rounds, $c connections:"
		sep=" "
		# 10,000 connections over 4 source addresses: room to spare
		# in ephemeral ports, round after round.
		addrs=1
		[ "$c" -ge 5000 ] && addrs=4
		for s in $servers; do
			port=$(cat "$tmp/$s.port")
			pid=$(cat "$tmp/$s.pid")
			if ! out=$("$load" -p "$port" -c "$c" -d "$secs" \
				-s "$size" -a "$addrs" -x "$pid" \
				2>"$tmp/err"); then
				echo "echo.sh: $s at $c connections failed:" >&2
				sed 's/^/	/' "$tmp/err" >&2
				status=1
				continue
			fi
			# load <c> msgs_per_s R p50_us A p99_us B
			# server_cpu <c> us_per_msg U user_us V kernel_us K
			# (# messages per connection: min A, median B, max C)
			fig=$(echo "$out" | awk -v s="$s" '
				$1 == "load" { r = $4; a = $6; b = $8 }
				$1 == "server_cpu" { u = $4; us = $6; ks = $8 }
				/^# messages per connection:/ {
					med = $8 + 0; max = $10 + 0 }
				END { if (u != "")
					print s, r, a, b, u, \
					    (med > 0 ? max / med : 0), us, ks }')
			[ -n "$fig" ] || continue
			echo "$c $fig" | cut -d" " -f1-6,8,9 >>"$tmp/figs"
			echo "$round $c $fig" | cut -d" " -f1-3,7 \
				>>"$tmp/rounds"
			line="$line$sep$(echo "$fig" | awk '{ printf \
				"%s %s us/msg (user %s) %s msg/s p50 %s " \
				"p99 %s max/median %.1f", $1, $5, $7, $2, $3, \
				$4, $6 }')"
			sep=" | "
		done
		echo "$line"
	done
	round=$((round + 1))
done

[ -s "$tmp/figs" ] || exit 1

# Best of every (connections, server), in the order first seen: lowest
# CPU and latencies, highest rate. Then the ratios against corolab.
awk '
	function better(what, old, new) {
		return what == "rate" ? new + 0 > old + 0 : new + 0 < old + 0
	}
	{
		key = $1 " " $2
		if (!(key in seen)) {
			seen[key] = 1
			order[n++] = key
			if (!($1 in cseen)) {
				cseen[$1] = 1
				corder[nc++] = $1
			}
			if (!($2 in sseen)) {
				sseen[$2] = 1
				sorder[ns++] = $2
			}
			best[key, "rate"] = $3
			best[key, "p50"] = $4
			best[key, "p99"] = $5
			best[key, "cpu"] = $6
			best[key, "user"] = $7
			best[key, "kernel"] = $8
			next
		}
		# The split is the one of the round with the best total.
		if ($6 + 0 < best[key, "cpu"] + 0) {
			best[key, "user"] = $7
			best[key, "kernel"] = $8
		}
		split("rate p50 p99 cpu", w, " ")
		v["rate"] = $3; v["p50"] = $4; v["p99"] = $5; v["cpu"] = $6
		for (i = 1; i <= 4; i++)
			if (better(w[i], best[key, w[i]], v[w[i]]))
				best[key, w[i]] = v[w[i]]
	}
	END {
		nw = split("cpu user kernel rate p50 p99", w, " ")
		for (i = 0; i < nc; i++) {
			c = corder[i]
			for (j = 1; j <= nw; j++)
				for (k = 0; k < ns; k++)
					if ((c " " sorder[k]) in seen)
						print "echo" c "_" w[j], sorder[k], \
						    best[c " " sorder[k], w[j]]
		}
		for (i = 0; i < nc; i++) {
			c = corder[i]
			base = c " corolab"
			if (!(base in seen))
				continue
			for (j = 1; j <= nw; j++)
				for (k = 0; k < ns; k++) {
					s = sorder[k]
					if (s == "corolab" || !((c " " s) in seen) ||
					    best[base, w[j]] + 0 <= 0)
						continue
					r = best[c " " s, w[j]] / best[base, w[j]]
					printf (r < 10 ? \
					    "ratio echo%s_%s %s/corolab %.2f\n" : \
					    "ratio echo%s_%s %s/corolab %.1f\n"), \
					    c, w[j], s, r
				}
		}
	}
' "$tmp/figs"

# Paired: in each round, every server's CPU per message divided by
# corolab's in the same round, then the median of those over the rounds.
awk '
	{ cpu[$1, $2, $3] = $4; if (!($1 in rs)) { rs[$1] = 1; nr++ }
	  if (!($2 in cs)) { cs[$2] = 1; corder[nc++] = $2 }
	  if (!($3 in ss)) { ss[$3] = 1; sorder[ns++] = $3 } }
	END {
		for (i = 0; i < nc; i++) {
			c = corder[i]
			for (k = 0; k < ns; k++) {
				s = sorder[k]
				if (s == "corolab")
					continue
				n = 0
				list = ""
				for (r = 1; r <= nr; r++) {
					if (!((r, c, s) in cpu) ||
					    !((r, c, "corolab") in cpu) ||
					    cpu[r, c, "corolab"] + 0 <= 0)
						continue
					v[n++] = cpu[r, c, s] / cpu[r, c, "corolab"]
					list = list sprintf(" %.2f", v[n - 1])
				}
				if (n == 0)
					continue
				# insertion sort, then the middle
				for (a = 1; a < n; a++)
					for (b = a; b > 0 && v[b - 1] > v[b]; b--) {
						t = v[b]; v[b] = v[b - 1]; v[b - 1] = t
					}
				if (n % 2)
					med = v[(n - 1) / 2]
				else
					med = (v[n / 2 - 1] + v[n / 2]) / 2
				printf "# paired echo%s_cpu %s/corolab, round by round:%s\n",
				    c, s, list
				printf "paired echo%s_cpu %s/corolab %.2f\n", c, s, med
			}
		}
	}
' "$tmp/rounds"
exit $status
