#!/bin/sh
# chat_bench.sh - a chat server under chatload at growing connection counts.
#
#	tests/bench/chat_bench.sh SERVER_COMMAND [ARG...]
#	tests/bench/chat_bench.sh py		tests/bench/chat_py.py
#	tests/bench/chat_bench.sh pyuv		the same on uvloop
#
# For each count of connections in $CHAT_CONNS, starts the server afresh
# on a free port, reads its idle VmRSS and the kernel's socket memory, runs
# tests/bench/chatload.c's client (built as $CHATLOAD) with -x, then stops
# the server. In SERVER_COMMAND's arguments {host} and {port} are replaced
# by the address and the port; when no argument holds {port}, "--host
# 127.0.0.1 --port PORT" is appended. The command must be the server
# itself (exec'd, not a shell around it): its pid, with its child
# processes, is the one measured. A server that prints "ready" is not
# required to: the script waits until the port accepts connections.
#
# The load at N connections: N / $CHAT_MEMBERS rooms (at least one), one
# sender per room sending $CHAT_RATE messages a second for $CHAT_SECS
# seconds, so deliveries per second are N * CHAT_RATE (every member,
# the sender included, gets each message of its room). Above 25,000
# connections chatload binds to source addresses 127.0.0.2, ... (one per
# 20,000), each with its own ephemeral ports.
#
# The table's columns:
#	conns		connections (all joined, or the run breaks)
#	deliv/s		deliveries per second received, over the sending
#			seconds
#	cpu_us/deliv	the server's CPU (utime + stime, /proc/PID/stat,
#			from chatload's "go" to its last report: sending and
#			drain) per delivery, in us: the same figure as CPU
#			ms per 1,000 deliveries
#	p50 p99 max	delivery latency, us (send time to receipt)
#	rss_B/conn	(server VmRSS with everyone joined - VmRSS idle) / N
#	kern_B/conn	(Slab with everyone joined - Slab before) / N, in
#			bytes: the kernel's socket objects of both ends of
#			a connection (client and server share the machine);
#			tcp_B/conn, from /proc/net/sockstat's TCP mem
#			pages, is the buffered data
#	lost		expected deliveries - received
# A count breaks the server when something was lost, a connection failed
# to join or was closed by the server, or p99 passed 1 s; the script stops there and says "breaks at".
#
# Environment:
#	CHAT_CONNS	counts (default "1000 5000 10000 20000 50000")
#	CHAT_MEMBERS	members per room (default 100)
#	CHAT_RATE	messages per second per room (default 10)
#	CHAT_SECS	seconds of sending per count (default 5)
#	CHAT_PROCS	chatload processes (default 2)
#	CHAT_PAD	bytes of padding per message (default 0)
#	CHAT_LATENCIES	a directory: keep each count's latencies there as
#			lat-<N>.txt (for latency_plot.sh)
#	CHATLOAD	the client (default build/bench/chatload)
#	PYTHON		interpreter for py and pyuv (default /usr/bin/python3)
# Output: the table, a "# " comment before it, "breaks at N: why" or
# "breaks at none (up to N)"; exit status 0 unless the script failed.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 SERVER_COMMAND [ARG...] | py | pyuv" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-/usr/bin/python3}
counts=${CHAT_CONNS:-1000 5000 10000 20000 50000}
members=${CHAT_MEMBERS:-100}
rate=${CHAT_RATE:-10}
secs=${CHAT_SECS:-5}
procs=${CHAT_PROCS:-2}
pad=${CHAT_PAD:-0}
load=${CHATLOAD:-$root/build/bench/chatload}

if [ ! -x "$load" ]; then
	echo "chat_bench.sh: $load not built" >&2
	exit 1
fi
case $1 in
py) label=chat_py.py; set -- "$python" "$here/chat_py.py" ;;
pyuv) label="chat_py.py --uvloop"
	set -- "$python" "$here/chat_py.py" --uvloop ;;
*) label=$* ;;
esac

# Descriptors: 50,000 connections are 50,000 in the server and as many in
# the client; as root the hard limit can be raised too.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

tmp=$(mktemp -d)
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$here/ports.sh"

# The server command with {host} replaced and {port} marked @PORT@.
subst=0
n=$#
while [ "$n" -gt 0 ]; do
	a=$1
	shift
	case $a in *"{port}"*) subst=1 ;; esac
	set -- "$@" "$(printf '%s' "$a" | sed -e 's|{host}|127.0.0.1|g' \
		-e 's|{port}|@PORT@|g')"
	n=$((n - 1))
done
[ $subst = 0 ] && set -- "$@" --host 127.0.0.1 --port @PORT@

# start_server PORT COMMAND...: run the command with @PORT@ replaced by
# PORT, in the background; its pid in $spid. (A function has its own "$@":
# the template stays as it is.)
start_server() {
	p=$1
	shift
	n=$#
	while [ "$n" -gt 0 ]; do
		a=$1
		shift
		set -- "$@" "$(printf '%s' "$a" | sed "s/@PORT@/$p/g")"
		n=$((n - 1))
	done
	"$@" >"$tmp/server.out" 2>&1 &
	spid=$!
}

# VmRSS of pid $1 and its children, kB.
rss_kb() {
	t=0
	for p in $1 $(ps -o pid= --ppid "$1" 2>/dev/null); do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" \
			2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
tcp_pages() { awk '/^TCP:/ { for (i = 2; i < NF; i++) if ($i == "mem")
	print $(i + 1) }' /proc/net/sockstat; }

echo "# $label: rooms of $members, $rate msg/s per room, ${secs}s," \
	"$procs client processes, pad $pad"
printf '%7s %9s %12s %8s %8s %8s %10s %11s %10s %6s\n' conns deliv/s \
	cpu_us/deliv p50 p99 max rss_B/conn kern_B/conn tcp_B/conn lost
broke=
last=
for c in $counts; do
	rooms=$((c / members))
	[ "$rooms" -lt 1 ] && rooms=1
	src=
	[ "$c" -gt 25000 ] && src="-b 127.0.0.2"
	port=$(free_port)
	start_server "$port" "$@"
	if ! wait_port "$port"; then
		echo "chat_bench.sh: the server did not start; its output:" >&2
		sed 's/^/	/' "$tmp/server.out" >&2
		exit 1
	fi
	sleep 0.5
	rss0=$(rss_kb "$spid")
	slab0=$(slab_kb)
	tcp0=$(tcp_pages)
	out=
	[ -n "${CHAT_LATENCIES:-}" ] && mkdir -p "$CHAT_LATENCIES" &&
		out="-o $CHAT_LATENCIES/lat-$c.txt"
	# shellcheck disable=SC2086
	"$load" -q -p "$port" -c "$c" -r "$rooms" -s "$secs" -R "$rate" \
		-P "$procs" -m "$pad" -T 120 -x "$spid" $src $out \
		>"$tmp/load.out" 2>"$tmp/load.err"
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	spid=
	sed 's/^/# /' "$tmp/load.err"
	line=$(awk -v c="$c" -v rss0="$rss0" -v slab0="$slab0" \
		-v tcp0="$tcp0" '
	$1 == "conns" { lost = $12; recv = $10 }
	$1 == "latency_us" { p50 = $3; p99 = $7; max = $11 }
	$1 == "rate" { dps = $5 }
	$1 == "connect" { failures = $5 }
	$1 == "closes" { closes = $2 }
	$1 == "server_cpu" { cpu = $2 }
	$1 == "server_mem" { rss = $3; tcp = $5; slab = $9 }
	END {
		if (recv == "") { print "none"; exit }
		printf "%7d %9d %12.2f %8d %8d %8d %10d %11d %10d %6d",
			c, dps, (recv > 0 ? cpu * 1e6 / recv : 0), p50, p99,
			max, (rss - rss0) * 1024 / c, (slab - slab0) * 1024 / c,
			(tcp - tcp0) * 4096 / c, lost
		why = ""
		if (lost > 0) why = why " " lost " deliveries lost"
		if (failures > 0) why = why " " failures " connections failed"
		if (closes > 0) why = why " " closes " connections closed"
		if (p99 > 1000000) why = why " p99 " p99 " us > 1 s"
		printf "|%s\n", why
	}' "$tmp/load.out")
	if [ "$line" = none ]; then
		echo "chat_bench.sh: chatload printed no results at $c:" >&2
		sed 's/^/	/' "$tmp/load.out" "$tmp/load.err" >&2
		broke="$c: chatload failed"
		break
	fi
	echo "${line%%|*}"
	why=${line#*|}
	if [ -n "$why" ]; then
		broke="$c:$why"
		break
	fi
	last=$c
done
if [ -n "$broke" ]; then
	echo "breaks at $broke"
else
	echo "breaks at none (up to $last)"
fi
