#!/bin/sh
# c10k.sh - 10,000 echo connections at once against the chapter 04 server.
#
#	sh tests/kit/c10k.sh ECHO_SERVER LOAD [CONNECTIONS]
#
# ECHO_SERVER is the built chapters/04-epoll/examples/echo_server (or
# echo_proto: any server taking HOST PORT and printing its port), LOAD
# the built tests/bench/load.c (an epoll load client: one process, every
# connection a closed loop of 64-byte messages). CONNECTIONS defaults to
# 10000.
#
# The server runs in a process of its own on 127.0.0.1, port 0 (it
# prints the port it got). load opens the connections, at most 256
# handshakes at a time, from source addresses 127.0.0.1 to 127.0.0.4 so
# that ephemeral ports cannot run out; each is up once its first echo is
# back. Then all of them run together: 0.5 s of warm-up and 1 s
# measured, every byte echoed compared with what was sent (--verify).
# Both processes raise their open-file soft limit to the hard one
# (20,000 on the kit's test machine: enough for 10,000 sockets each).
#
# Meanwhile the script counts the server's open descriptors in
# /proc/PID/fd, to see the connections open at the same time; and at
# the end it sends SIGTERM, which the server must answer by closing
# every connection and exiting with status 0 within 10 seconds.
#
# It prints one line, "ok ..." with the figures or "FAIL ..." with the
# reason (the logs follow, indented), then "N passed, N failed". Exit
# status 1 on failure.
set -u
server=$1
load=$2
conns=${3:-10000}
tmp=$(mktemp -d)
start=$(date +%s.%N)
pid=
sampler=
watchdog=

cleanup() {
	[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
	[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}

fail() {
	echo "FAIL c10k: $*"
	for f in "$tmp"/server.out "$tmp"/load.out; do
		[ -s "$f" ] && tail -n 5 "$f" | sed "s|^|        $(basename "$f" .out): |"
	done
	cleanup
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$server" ] || fail "$server: no such program (build the examples)"
[ -x "$load" ] || fail "$load: no such program (cc -O2 tests/bench/load.c)"

# The server, without a trace: 10,000 connections would write a big one.
env -u COROLAB_TRACE "$server" 127.0.0.1 0 >"$tmp/server.out" 2>&1 &
pid=$!
port=
for i in $(seq 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
		"$tmp/server.out")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || fail "the server did not start listening"

# How many descriptors the server has open, at most, sampled every 0.1 s.
(
	most=0
	while [ -d "/proc/$pid/fd" ]; do
		n=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
		[ "$n" -gt "$most" ] && most=$n && echo "$most" >"$tmp/most"
		sleep 0.1
	done
) &
sampler=$!

"$load" -p "$port" -c "$conns" -a 4 -w 0.5 -d 1 --verify >"$tmp/load.out" 2>&1
st=$?
kill "$sampler" 2>/dev/null
sampler=
[ $st = 0 ] || fail "load exited with status $st"

# load: "load <c> msgs_per_s <n> p50_us <n> p99_us <n>" and a verify line.
set -- $(awk '$1 == "load" { print $4, $6, $8 }' "$tmp/load.out")
[ $# = 3 ] || fail "load printed no figures"
rate=$1 p50=$2 p99=$3
bytes=$(sed -n 's/^# verify: \([0-9]*\) bytes.*all as sent.*/\1/p' \
	"$tmp/load.out")
[ -n "$bytes" ] || fail "load did not verify the echoes"
most=$(cat "$tmp/most" 2>/dev/null || echo 0)
[ "$most" -ge "$conns" ] ||
	fail "the server never had $conns connections open at once (at most $most descriptors)"

# SIGTERM: the server closes everything and exits 0, in time.
kill -TERM "$pid"
(sleep 10 && kill -KILL "$pid" 2>/dev/null) &
watchdog=$!
wait "$pid"
st=$?
pid=
kill "$watchdog" 2>/dev/null
watchdog=
[ $st = 0 ] || fail "the server exited with status $st after SIGTERM"
grep -q "stopped" "$tmp/server.out" || fail "the server did not stop cleanly"

secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
echo "ok c10k: $conns connections open at once ($most descriptors in the" \
	"server), $rate echoes/s, every byte verified ($bytes bytes)," \
	"p50 $(echo "$p50" | awk '{ printf "%.0f", $1 / 1000 }') ms" \
	"p99 $(echo "$p99" | awk '{ printf "%.0f", $1 / 1000 }') ms;" \
	"server exited 0 on SIGTERM; ${secs} s"
cleanup
echo "1 passed, 0 failed"
