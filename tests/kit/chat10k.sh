#!/bin/sh
# chat10k.sh - 10,000 chat members at once, two workers, Redis between.
#
#	sh tests/kit/chat10k.sh CHATD CHATLOAD [CONNECTIONS]
#
# CHATD is the built chapters/08-chat/examples/chatd, CHATLOAD the built
# tests/bench/chatload.c (an independent WebSocket client: no corolab
# code). CONNECTIONS defaults to 10000.
#
# The script starts a redis-server on a free port (nothing kept on
# disk) and chatd with two workers fanning out through it, then:
#
#  1. chatload -t: CONNECTIONS members in CONNECTIONS/100 rooms of 100,
#     spread by the kernel over the two workers (SO_REUSEPORT), so most
#     rooms have members in both; one sender per room, 2 messages a
#     second for 2 seconds. Every member must get every message of its
#     room exactly once and in its sender's order, every "joined" and
#     presence notice must add up, and no connection may be closed by
#     the server (chatload's checks; its exit status).
#  2. The supervisor: one worker is killed with SIGKILL; a new one must
#     be serving within 5 s (a second, small chatload run passes).
#  3. SIGTERM to chatd: it stops within 10 s with status 0.
#
# It prints "ok ..." with the figures or "FAIL ..." with the reason (the
# logs follow, indented), then "N passed, N failed". Exit status 1 on
# failure.
set -u
chatd=$1
load=$2
conns=${3:-10000}
tmp=$(mktemp -d)
start=$(date +%s.%N)
pid=
rpid=

cleanup() {
	# The workers first: once the supervisor is gone they are no
	# longer its children to find (they would stop anyway: chatd
	# gives them a death signal).
	[ -n "$pid" ] && pkill -KILL -P "$pid" 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$rpid" ] && kill -KILL "$rpid" 2>/dev/null
	rm -rf "$tmp"
}

fail() {
	echo "FAIL chat10k: $*"
	for f in "$tmp"/chatd.out "$tmp"/load.out "$tmp"/load2.out \
		"$tmp"/redis.out; do
		[ -s "$f" ] && tail -n 8 "$f" | sed "s|^|        $(basename "$f" .out): |"
	done
	cleanup
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$chatd" ] || fail "$chatd: no such program (build the examples)"
[ -x "$load" ] || fail "$load: no such program (cc -O2 tests/bench/chatload.c -lcrypto)"
command -v redis-server >/dev/null 2>&1 ||
	fail "redis-server not found: make deps-chat installs it"

# A free port for Redis: ask the kernel through chatd's own rule (bind
# port 0) is not at hand in sh; try a few in the dynamic range instead.
for try in 1 2 3 4 5; do
	rport=$((20000 + ($$ * 7 + try * 977) % 30000))
	redis-server --port "$rport" --bind 127.0.0.1 --save "" \
		--appendonly no --daemonize no --loglevel warning \
		>"$tmp/redis.out" 2>&1 &
	rpid=$!
	for i in $(seq 30); do
		redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break 2
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$rpid" 2>/dev/null
	rpid=
done
[ -n "$rpid" ] || fail "redis-server did not start"

env -u COROLAB_TRACE "$chatd" serve -p 0 -w 2 -R "127.0.0.1:$rport" \
	>"$tmp/chatd.out" 2>&1 &
pid=$!
port=
for i in $(seq 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
		"$tmp/chatd.out")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || fail "chatd did not start listening"

# 1. Every message to every member.
rooms=$((conns / 100))
[ "$rooms" -ge 1 ] || rooms=1
"$load" -p "$port" -c "$conns" -r "$rooms" -s 2 -R 2 -P 2 -t -W 2 -x "$pid" \
	>"$tmp/load.out" 2>&1
st=$?
[ $st = 0 ] || fail "chatload exited with status $st"
set -- $(awk '$1 == "conns" { print $8, $10, $12 }' "$tmp/load.out")
[ $# = 3 ] || fail "chatload printed no counts"
expected=$1 received=$2 lost=$3
[ "$lost" = 0 ] && [ "$expected" = "$received" ] ||
	fail "$received of $expected deliveries"
set -- $(awk '$1 == "latency_us" { print $3, $7, $11 }' "$tmp/load.out")
p50=$1 p99=$2 max=$3
grep -q '^test ok' "$tmp/load.out" || fail "chatload's checks failed"

# 2. A worker dies; the supervisor starts another.
victim=$(pgrep -P "$pid" | head -n 1)
[ -n "$victim" ] || fail "chatd has no worker processes"
kill -KILL "$victim"
restarted=
for i in $(seq 50); do
	if grep -q "starting another" "$tmp/chatd.out" &&
		[ "$(pgrep -P "$pid" | wc -l)" -ge 2 ]; then
		restarted=yes
		break
	fi
	sleep 0.1
done
[ -n "$restarted" ] || fail "no worker replaced the one killed"
"$load" -p "$port" -c 200 -r 2 -s 1 -R 2 -t -W 2 >"$tmp/load2.out" 2>&1 ||
	fail "after the restart, chatload failed"

# 3. SIGTERM: a graceful stop.
kill -TERM "$pid"
for i in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "chatd did not stop within 10 s of SIGTERM"
wait "$pid"
st=$?
pid=
[ $st = 0 ] || fail "chatd exited with status $st after SIGTERM"

secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
echo "ok chat10k: $conns members in $rooms rooms on 2 workers through" \
	"redis, $received of $expected deliveries, each checked" \
	"(p50 $p50 us, p99 $p99 us, max $max us); a killed worker" \
	"replaced; stopped with status 0 on SIGTERM; ${secs} s"
cleanup
echo "1 passed, 0 failed"
