#!/bin/sh
# cross.sh - "make test ARCH=aarch64": the kit on 64-bit ARM, under qemu.
#
#	cross.sh BUILD
#
# Builds the reference library, the grader and the examples with Debian's
# cross compiler (aarch64-linux-gnu-gcc, against the arm64 builds of
# Check, libcrypto and hiredis) and runs them with qemu-user
# (qemu-aarch64), which translates each ARM instruction into x86-64 ones
# and passes the system calls to the kernel. The programs are linked
# statically: a dynamically linked aarch64 program that forks hangs in
# the child under qemu-user here (7.2 and 10.0 alike), and the grader
# forks for every test.
#
#   1. every test of every chapter passes on aarch64;
#   2. again with the kernel's page size said to be 16 KiB, then 64 KiB
#      (ARM kernels ship with either), through tests/kit/pagesize.c;
#   3. planted bugs fail the test that names them: the switch forgetting
#      to restore x28, d15 or the FPCR, and a stack.c that takes the
#      page size for 4 KiB instead of asking sysconf;
#   4. the examples run;
#   5. chapter 04's echo server holds 10,000 connections under qemu;
#   6. the instructions of cl_ctx_switch on each ISA, counted in the
#      objects, are what chapter 02's table says.
#
# Nothing is timed: under emulation a time says how fast qemu is.
# It ends with one line "N passed, N failed".
set -u
BUILD=$1
OUT=$BUILD/aarch64
T=aarch64-linux-gnu
QEMU="qemu-aarch64 -L /usr/$T"
VARIANT="${MAKE:-make} --no-print-directory -f tests/kit/variant.mk"
PC="env PKG_CONFIG_LIBDIR=/usr/lib/$T/pkgconfig:/usr/share/pkgconfig pkg-config --static"
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
WRAP="-Wl,--wrap=sysconf -Wl,--wrap=getpagesize -Wl,--wrap=mincore -Wl,--wrap=mmap"
passed=0
failed=0
mkdir -p "$OUT"

ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }

# build DIR SRC [LDFLAGS [GRADE_EXTRA]] [TARGETS]: one aarch64 variant.
build() {
	$VARIANT -j"$JOBS" SRC="$2" OUT="$1" CC=$T-gcc AR=$T-ar \
		PKG_CONFIG="$PC" LDFLAGS="-static ${3:-}" \
		GRADE_EXTRA="${4:-}" ${5:-all} >"$1.build" 2>&1
}

# grade DIR [ARGS...]: grade under qemu; the log in DIR/grade.log.
grade() {
	d=$1
	shift
	CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-2} timeout 900 \
		$QEMU "$d/grade" -m "$@" >"$d/grade.log" 2>&1
}

# sums DIR: "P F", the tests passed and failed over the chapters graded.
sums() {
	awk '/^chapter /{p += $4; f += $6} END {print p + 0, f + 0}' "$1/grade.log"
}

echo "== reference on aarch64 (gcc $($T-gcc -dumpversion), $(qemu-aarch64 --version | head -n 1 | sed "s/ (.*//"))"
if ! build "$OUT/ref" solutions "" "" "all examples"; then
	tail -n 20 "$OUT/ref.build"
	bad "the reference does not build for aarch64"
	echo "$passed passed, $failed failed"
	exit 1
fi
grade "$OUT/ref"
set -- $(sums "$OUT/ref")
passed=$((passed + $1))
failed=$((failed + $2))
awk '/^chapter /{printf "  ch%02d  %d/%d tests pass\n", $2, $4, $4 + $6}' \
	"$OUT/ref/grade.log"
if [ "$2" != 0 ] || [ "$1" = 0 ]; then
	grep -A3 '^FAIL' "$OUT/ref/grade.log" | head -n 60
fi

echo "== page sizes"
if build "$OUT/pages" solutions "$WRAP" tests/kit/pagesize.c; then
	for size in 16384 65536; do
		COROLAB_PAGESIZE=$size grade "$OUT/pages"
		set -- $(sums "$OUT/pages")
		if [ "$1" -gt 0 ] && [ "$2" = 0 ]; then
			ok "pages of $((size / 1024)) KiB: $1/$1 tests pass"
		else
			bad "pages of $((size / 1024)) KiB: $1 passed, $2 failed"
			grep -A3 '^FAIL' "$OUT/pages/grade.log" | head -n 40
		fi
	done
else bad "the page-size grader does not build (see $OUT/pages.build)"; fi

echo "== planted bugs"
# plant NAME FILE SED TEST [ENV]: solutions/ with FILE edited by SED must
# fail chapter 02's TEST (graded with ENV in the environment).
plant() {
	d=$OUT/plant-$1
	rm -rf "$d" && mkdir -p "$d"
	cp -r solutions "$d/src"
	sed -i "$3" "$d/src/$2"
	if cmp -s "solutions/$2" "$d/src/$2"; then
		bad "plant $1: the edit of $2 changed nothing"
		return
	fi
	# With the page shim, which passes the real size through unless
	# ENV sets COROLAB_PAGESIZE.
	if ! build "$d" "$d/src" "$WRAP" tests/kit/pagesize.c; then
		bad "plant $1 does not build (see $d.build)"
		return
	fi
	env ${5:-} CK_TIMEOUT_MULTIPLIER=2 timeout 900 \
		$QEMU "$d/grade" -m -c 2 >"$d/grade.log" 2>&1
	if grep -q "^FAIL ch02 $4 " "$d/grade.log"; then
		ok "$1: $4 fails"
	else bad "$1: $4 does not fail"; fi
}
plant forgets-x28 ctx_aarch64.S 's/^\tldp\tx27, x28, \[sp, #128\]$/\tldr\tx27, [sp, #128]/' \
	test_callee_saved_registers
plant forgets-d15 ctx_aarch64.S 's/^\tldp\td14, d15, \[sp, #48\]$/\tldr\td14, [sp, #48]/' \
	test_callee_saved_registers
plant forgets-fpcr ctx_aarch64.S '/^\tmsr\tfpcr, x9$/d' \
	test_rounding_mode_per_context
plant page-is-4k stack.c 's/= (size_t)sysconf(_SC_PAGESIZE);/= 4096;/' \
	test_pool_reuses_a_freed_stack COROLAB_PAGESIZE=65536

echo "== examples on aarch64"
for ex in "$OUT"/ref/examples/*/*; do
	[ -x "$ex" ] || continue
	name=${ex#"$OUT"/ref/examples/}
	if timeout 60 $QEMU "$ex" >"$OUT/example.out" 2>&1; then ok "$name"
	else bad "$name exited with status $?"; sed 's/^/        /' "$OUT/example.out" | tail -n 5; fi
done

echo "== 10,000 connections on aarch64"
# The server runs under qemu (a two-line script execs it, so the pid
# c10k.sh watches is the emulated server's); the load client is native.
printf '#!/bin/sh\nexec %s %s "$@"\n' "$QEMU" \
	"$(cd "$OUT/ref/examples/04-epoll" && pwd)/echo_server" >"$OUT/echo_server"
chmod +x "$OUT/echo_server"
if ${HOSTCC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror tests/bench/load.c \
	-o "$OUT/load" 2>"$OUT/load.build"; then
	c10k=$(sh tests/kit/c10k.sh "$OUT/echo_server" "$OUT/load" 2>&1)
	echo "$c10k" | sed '$d' | sed "s/^/  echo_server: /"
	set -- $(echo "$c10k" | tail -n 1)
	passed=$((passed + $1))
	failed=$((failed + $3))
else bad "the load client does not build (see $OUT/load.build)"; fi

echo "== instructions per switch"
# cl_ctx_switch is straight-line code: its instructions, padding aside,
# are the instructions one switch executes.
count() {
	$1 -d "$2" | awk -F'\t' '/<cl_ctx_switch>:/{on = 1; next}
		on && /^$/{exit} on && NF >= 3 && $3 !~ /nop/ {n++}
		END {print n + 0}'
}
x86=$(${HOSTCC:-cc} -c -o "$OUT/ctx_x86_64.o" solutions/ctx_x86_64.S &&
	count objdump "$OUT/ctx_x86_64.o")
arm=$(count $T-objdump "$OUT/ref/obj/ctx_aarch64.o")
row="| instructions in \`cl_ctx_switch\` | $x86 | $arm |"
if grep -qF "$row" chapters/02-stacks/README.md; then
	ok "cl_ctx_switch: $x86 instructions on x86-64, $arm on aarch64, as chapter 02 says"
else bad "chapter 02 should have the row: $row"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
