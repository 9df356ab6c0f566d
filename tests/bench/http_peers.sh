#!/bin/sh
# http_peers.sh - the kit's static HTTP server against nginx and aiohttp.
#
#	tests/bench/http_peers.sh KIT_COMMAND [ARG...]
#
# KIT_COMMAND starts the kit's HTTP server (one worker) serving a
# directory. In its arguments {host}, {port} and {dir} are replaced by the
# address, a free port and the directory; when no argument holds {port},
# "--host 127.0.0.1 --port PORT --dir DIR" is appended. The command must
# be the server itself (exec'd, not a shell around it): its pid is the one
# whose CPU time is measured (with its child processes, if it has any).
# Two stand-ins, to try the script without the kit's server:
#	nginx	a second nginx, configured like the peer
#	pyhttp	python3 -m http.server (threads, one process)
#
# The three servers serve one 4 KiB index.html from one temporary
# directory:
#	kit	KIT_COMMAND
#	nginx	Debian's nginx-light: worker_processes 1, master_process off
#		(the one process is the worker: its CPU is the server's),
#		daemon off, access_log off, sendfile on, unlimited
#		keep-alive, every path (pid, logs, temp) in the temporary
#		directory, so that it runs as anyone and leaves /etc/nginx
#		alone
#	aiohttp	tests/bench/aiohttp_static.py (web.static, one process,
#		no access log), on $PYTHON
# Each is checked to serve the file byte for byte (curl), then driven in
# turn by wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s --latency at /index.html;
# the server's CPU seconds over its run come from utime + stime in
# /proc/PID/stat. On two CPUs wrk takes one and the server the other, so
# requests/s alone may measure wrk as much as the server (nginx
# especially); requests per CPU-second of the server does not, and is the
# figure the ratios compare. Idle servers sit in epoll_wait meanwhile.
#
# Environment:
#	HTTP_SECS	seconds per wrk run (default 5)
#	HTTP_CONNS	wrk's connections (default 64)
#	HTTP_ROUNDS	rounds; each round runs every server once; the best
#			figure of each is kept (default 1)
#	AIOHTTP_MODE	aiohttp_static.py's --mode: static (default), file
#			or memory (the page's bytes from memory, no file
#			system per request)
#	PYTHON		interpreter for aiohttp (default /usr/bin/python3,
#			where Debian's python3-aiohttp goes)
#	NGINX		nginx binary (default nginx)
#
# Output ('#' starts a comment; the table is for reading):
#	http_rps <server> <requests per second>
#	http_rps_per_cpu <server> <requests per CPU-second of the server>
#	http_p99_us <server> <99th percentile latency, us>
#	http_cpu_s <server> <server CPU seconds during its run>
#	ratio http_rps_per_cpu kit/nginx <n>	above 1: the kit does more
#	ratio http_rps_per_cpu kit/aiohttp <n>	with one CPU-second
#	ratio http_rps kit/nginx <n>, ratio http_rps kit/aiohttp <n>
# Exit status 1 if a server did not start, served the wrong bytes, or
# answered anything but 2xx under load.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 KIT_COMMAND [ARG...] (or nginx, or pyhttp)" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
secs=${HTTP_SECS:-5}
conns=${HTTP_CONNS:-64}
rounds=${HTTP_ROUNDS:-1}
nginx=${NGINX:-nginx}
hz=$(getconf CLK_TCK)
status=0

for p in wrk curl "$nginx" "$python"; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "http_peers.sh: $p not found" >&2
		exit 1
	fi
done

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

# The page: 4 KiB exactly, the same bytes for every server.
mkdir -p "$tmp/www"
"$python" -c 'import sys
head = b"<!doctype html>\n<title>corolab</title>\n<pre>\n"
tail = b"</pre>\n"
body = b"".join(b"line %04d of the 4 KiB page\n" % i for i in range(200))
page = (head + body)[:4096 - len(tail)] + tail
sys.stdout.buffer.write(page)' >"$tmp/www/index.html"

# nginx_conf NAME PORT: a configuration for one nginx in $tmp/NAME/.
nginx_conf() {
	mkdir -p "$tmp/$1/logs" "$tmp/$1/temp"
	cat >"$tmp/$1/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $tmp/$1/nginx.pid;
error_log $tmp/$1/logs/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	default_type text/html;
	client_body_temp_path $tmp/$1/temp/body;
	proxy_temp_path $tmp/$1/temp/proxy;
	fastcgi_temp_path $tmp/$1/temp/fastcgi;
	uwsgi_temp_path $tmp/$1/temp/uwsgi;
	scgi_temp_path $tmp/$1/temp/scgi;
	server {
		listen 127.0.0.1:$2 backlog=4096;
		root $tmp/www;
	}
}
EOF
}

# start NAME COMMAND...: run a server in the background; note its port
# (already in $port) and pid in $tmp/NAME.port and $tmp/NAME.pid.
start() {
	name=$1
	shift
	"$@" >"$tmp/$name.out" 2>&1 &
	echo $! >"$tmp/$name.pid"
	pids="$pids $!"
	echo "$port" >"$tmp/$name.port"
	if ! wait_port "$port"; then
		echo "http_peers.sh: $name did not start; its output:" >&2
		sed 's/^/	/' "$tmp/$name.out" >&2
		status=1
		return 1
	fi
}

# CPU ticks (utime + stime) of pid $1 and its children.
cpu_ticks() {
	t=0
	for p in $1 $(ps -o pid= --ppid "$1" 2>/dev/null); do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null |
			awk '{ print $12 + $13 }')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# The kit's server (or its stand-in).
port=$(free_port)
case $1 in
nginx)
	nginx_conf kit "$port"
	start kit "$nginx" -e "$tmp/kit/logs/error.log" -p "$tmp/kit" \
		-c "$tmp/kit/nginx.conf"
	;;
pyhttp)
	start kit "$python" -m http.server "$port" --bind 127.0.0.1 \
		--directory "$tmp/www"
	;;
*)
	subst=0
	n=$#
	while [ "$n" -gt 0 ]; do
		a=$1
		shift
		case $a in *"{port}"*) subst=1 ;; esac
		a=$(printf '%s' "$a" | sed -e "s|{port}|$port|g" \
			-e "s|{host}|127.0.0.1|g" -e "s|{dir}|$tmp/www|g")
		set -- "$@" "$a"
		n=$((n - 1))
	done
	if [ $subst = 0 ]; then
		set -- "$@" --host 127.0.0.1 --port "$port" --dir "$tmp/www"
	fi
	start kit "$@"
	;;
esac

port=$(free_port)
nginx_conf nginx "$port"
start nginx "$nginx" -e "$tmp/nginx/logs/error.log" -p "$tmp/nginx" \
	-c "$tmp/nginx/nginx.conf"

port=$(free_port)
start aiohttp "$python" "$here/aiohttp_static.py" --dir "$tmp/www" \
	--port "$port" --mode "${AIOHTTP_MODE:-static}"

servers=
for s in kit nginx aiohttp; do
	[ -f "$tmp/$s.port" ] || continue
	if ! kill -0 "$(cat "$tmp/$s.pid")" 2>/dev/null; then
		continue
	fi
	url=http://127.0.0.1:$(cat "$tmp/$s.port")/index.html
	if ! curl -sf "$url" -o "$tmp/$s.got" ||
	    ! cmp -s "$tmp/$s.got" "$tmp/www/index.html"; then
		echo "http_peers.sh: $s did not serve index.html as it is" >&2
		status=1
		continue
	fi
	servers="$servers $s"
done

# run SERVER ROUND: one wrk run; appends "server rps rps_per_cpu p99_us
# cpu_s" to $tmp/results.
run() {
	s=$1
	pid=$(cat "$tmp/$s.pid")
	url=http://127.0.0.1:$(cat "$tmp/$s.port")/index.html
	c0=$(cpu_ticks "$pid")
	wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" >"$tmp/wrk.out" 2>&1
	c1=$(cpu_ticks "$pid")
	if grep -q 'Non-2xx\|Socket errors' "$tmp/wrk.out"; then
		echo "# $s, round $2: $(grep 'Non-2xx\|Socket errors' \
			"$tmp/wrk.out" | tr -s ' ' | tr '\n' ' ')"
		if grep -q 'Non-2xx' "$tmp/wrk.out"; then
			status=1
		fi
	fi
	awk -v s="$s" -v ticks=$((c1 - c0)) -v hz="$hz" '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /s$/) return v * 1000000
		return v
	}
	/ 99%/ { p99 = us($2) }
	/requests in/ { n = $1 }
	/Requests\/sec/ { rps = $2 }
	END {
		cpu = ticks / hz
		printf "%s %.0f %.0f %.0f %.2f\n", s, rps,
			(cpu > 0 ? n / cpu : 0), p99, cpu
	}' "$tmp/wrk.out" >>"$tmp/results"
}

: >"$tmp/results"
r=1
while [ "$r" -le "$rounds" ]; do
	for s in $servers; do
		run "$s" "$r"
	done
	r=$((r + 1))
done

echo "# static 4 KiB page, wrk -t1 -c$conns -d${secs}s, best of $rounds" \
	"round(s); aiohttp --mode ${AIOHTTP_MODE:-static}; kit: $*"
printf '# %-8s %12s %14s %10s %8s\n' server 'requests/s' 'req/CPU-s' \
	'p99 us' 'CPU s'
awk '{
	if (!($1 in rps) || $2 > rps[$1]) rps[$1] = $2
	if (!($1 in per) || $3 > per[$1]) { per[$1] = $3; cpu[$1] = $5 }
	if (!($1 in p99) || $4 < p99[$1]) p99[$1] = $4
	order[$1] = 1
}
END {
	n = split("kit nginx aiohttp", names, " ")
	for (i = 1; i <= n; i++) {
		s = names[i]
		if (!(s in order)) continue
		printf "# %-8s %12d %14d %10d %8.2f\n", s, rps[s], per[s],
			p99[s], cpu[s]
	}
	for (i = 1; i <= n; i++) {
		s = names[i]
		if (!(s in order)) continue
		printf "http_rps %s %d\n", s, rps[s]
		printf "http_rps_per_cpu %s %d\n", s, per[s]
		printf "http_p99_us %s %d\n", s, p99[s]
		printf "http_cpu_s %s %.2f\n", s, cpu[s]
	}
	if ("kit" in order) {
		split("nginx aiohttp", peers, " ")
		for (i = 1; i <= 2; i++) {
			s = peers[i]
			if (!(s in order) || per[s] == 0 || rps[s] == 0)
				continue
			printf "ratio http_rps_per_cpu kit/%s %.2f\n", s,
				per["kit"] / per[s]
			printf "ratio http_rps kit/%s %.2f\n", s,
				rps["kit"] / rps[s]
		}
	}
}' "$tmp/results"

case " $servers " in
*" kit "*) ;;
*) status=1 ;;
esac
exit $status
