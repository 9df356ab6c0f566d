#!/bin/sh
# deps.sh - make sure what the kit builds with is installed.
#
#	deps.sh [chat|bench|aarch64]
#
# Checks for Check (libcheck), Graphviz with its C libraries, pkg-config,
# Python 3 (make test runs the CPython twins of the tests,
# tests/kit/twins.py), and OpenSSL's libcrypto and hiredis, which
# chapter 08 links. With "chat", also redis-server, Chromium and
# python3-websockets, which chapter 08's tests start (make test and make
# grade ask for them); with
# "bench", also for libuv, Boost.Context and uvloop, the peers the benchmarks measure against (uvloop is checked in
# /usr/bin/python3, the interpreter Debian's python3-uvloop is for); with
# "aarch64", also the cross compiler, qemu-user and the arm64 builds of
# Check, libcrypto and hiredis (make test ARCH=aarch64; Debian's
# multiarch: dpkg --add-architecture arm64 first). What is missing is
# installed with apt-get when we are root on Debian; otherwise we stop
# and print the command.
set -u

missing=""
have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }

command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
have_pc check || missing="$missing check"
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
have_pc libgvc || missing="$missing libgraphviz-dev"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
# Chapter 08 links libcrypto (SHA-1 for the WebSocket handshake) and
# hiredis; its tests start a redis-server and a headless Chromium.
have_pc libcrypto || missing="$missing libssl-dev"
have_pc hiredis || missing="$missing libhiredis-dev"
# Chapter 09's /metrics tests read the text with Prometheus's parser.
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 ||
	missing="$missing python3-prometheus-client"
if [ "${1:-}" = chat ]; then
	command -v redis-server >/dev/null 2>&1 ||
		missing="$missing redis-server"
	command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
	# Two WebSocket tests run websockets as the other end.
	/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 ||
		missing="$missing python3-websockets"
fi
if [ "${1:-}" = bench ]; then
	have_pc libuv || missing="$missing libuv1-dev"
	[ -f /usr/include/boost/context/detail/fcontext.hpp ] ||
		missing="$missing libboost-context-dev"
	command -v g++ >/dev/null 2>&1 || missing="$missing g++"
	/usr/bin/python3 -c 'import uvloop' >/dev/null 2>&1 ||
		missing="$missing python3-uvloop"
	# Chapter 08's peers: the chat on websockets, static files on
	# aiohttp and nginx, wrk to load them, gnuplot for the plot.
	/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 ||
		missing="$missing python3-websockets"
	/usr/bin/python3 -c 'import aiohttp' >/dev/null 2>&1 ||
		missing="$missing python3-aiohttp"
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ||
		missing="$missing nginx-light"
	command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
	command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
fi
foreign=""
if [ "${1:-}" = aarch64 ]; then
	command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 ||
		missing="$missing gcc-aarch64-linux-gnu"
	command -v qemu-aarch64 >/dev/null 2>&1 || missing="$missing qemu-user"
	# The arm64 libraries come from the arm64 side of the archive.
	have_arm() {
		PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig \
			pkg-config --exists "$1" 2>/dev/null
	}
	have_arm check || foreign="$foreign check:arm64 libsubunit-dev:arm64"
	have_arm libcrypto || foreign="$foreign libssl-dev:arm64"
	have_arm hiredis || foreign="$foreign libhiredis-dev:arm64"
	missing="$missing$foreign"
fi
[ -z "$missing" ] && exit 0

echo "corolab needs:$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing with apt-get ..."
	export DEBIAN_FRONTEND=noninteractive
	if [ -n "$foreign" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
	fi
	apt-get update -qq && apt-get install -y -qq $missing >/dev/null &&
		exit 0
	echo "apt-get failed; try it by hand:" >&2
else
	echo "run this, then make again:" >&2
fi
[ -n "$foreign" ] && echo "    sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
echo "    sudo apt-get install -y$missing" >&2
exit 1
