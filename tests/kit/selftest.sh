#!/bin/sh
# selftest.sh - "make test": the kit checks itself.
#
#	selftest.sh BUILD
#
#   1. lab/ is exactly what the generator writes from solutions/;
#   2. the generator refuses to overwrite a student's edits, and names the
#      line of a malformed region; make hint shows one level at a time and
#      logs it, the log is ignored by lab-check, and TODO comments are
#      contracts of a few lines (tests/kit/hints.sh);
#   3. the reference passes every test of every chapter;
#   4. the two promises of the design hold for every chapter N:
#	incremental: reference for chapters <= N, lab stubs after N, passes
#		     every test of chapters <= N;
#	meaningful:  lab stubs for chapter N, reference elsewhere, passes
#		     no test of chapter N;
#   5. the untouched lab/ grades without a crash and scores 0 everywhere;
#   6. the examples build and run, and chapter 02 passes with the
#      switch that keeps no floating-point control (NOFPU=1);
#   7. cotrace's golden outputs match and bad traces are refused by line
#      (tests/visualizer/run.sh);
#   8. the chapter 04 echo servers, on streams and on a protocol, each
#      hold 10,000 connections at once and answer every byte
#      (tests/kit/c10k.sh); and chapter 08's chat holds 10,000 members
#      on two workers through Redis, every message checked
#      (tests/kit/chat10k.sh).
#   9. every C excerpt in a chapter's text is in the code, verbatim
#      (tests/kit/excerpts.sh);
#  10. the C tests still expect what CPython 3.11 prints for their twins
#      (tests/py/ch*.py; known differences in tests/py/twins.skip;
#      tests/kit/twins.py);
#  11. every count of tests and points a chapter's text quotes is what
#      the grader counts (tests/kit/counts.sh, tests/kit/counts.txt).
#
# It ends with one line "N passed, N failed", counting test cases of the
# reference run and one check for each other item above.
set -u
BUILD=$1
KIT=$BUILD/kit
VARIANT="${MAKE:-make} --no-print-directory -f tests/kit/variant.mk"
LABGEN=$BUILD/labgen
passed=0
failed=0
mkdir -p "$KIT"

ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }

# grade_counts OUT ARGS...: run a grader, print "P F" summed over the
# chapters it graded, keep its full output in OUT/grade.log.
grade_counts() {
	out=$1
	shift
	timeout 600 "$out/grade" -m "$@" >"$out/grade.log" 2>&1
	st=$?
	if [ $st -gt 1 ]; then
		echo "grader died (status $st)" >>"$out/grade.log"
		echo "-1 -1"
		return
	fi
	awk '/^chapter /{p += $4; f += $6} END {print p + 0, f + 0}' \
		"$out/grade.log"
}

# build_mix NAME BORROW: a tree of lab/ with BORROW's chapters from
# solutions/, built in KIT/NAME.
build_mix() {
	rm -rf "$KIT/$1/src"
	mkdir -p "$KIT/$1"
	$LABGEN mix solutions lab "$KIT/$1/src" "$2" &&
		$VARIANT SRC="$KIT/$1/src" OUT="$KIT/$1" all >"$KIT/$1.build" 2>&1
}

echo "== lab generator"
if $LABGEN check solutions lab; then ok "lab/ is what make lab writes"
else bad "lab/ is stale (make lab, then commit)"; fi

rm -rf "$KIT/edited" "$KIT/badsol"
cp -r lab "$KIT/edited"
victim=$(ls "$KIT/edited" | grep '\.c$' | head -n 1)
echo "/* my work */" >>"$KIT/edited/$victim"
if ! $LABGEN lab solutions "$KIT/edited" 2>/dev/null &&
	grep -q "my work" "$KIT/edited/$victim"; then
	ok "make lab refuses to overwrite an edited $victim"
else bad "make lab overwrote an edited $victim"; fi

cp -r solutions "$KIT/badsol"
printf 'int x;\n// LAB ch09 x: never closed\nint y;\n' >"$KIT/badsol/zz_bad.c"
msg=$($LABGEN lab "$KIT/badsol" "$KIT/badlab" 2>&1)
case $msg in
*"zz_bad.c"*"line 2"*) ok "a malformed region is reported with its line" ;;
*) bad "malformed region not reported: $msg" ;;
esac
printf 'int x;\n// LAB ch09: no name\n' >"$KIT/badsol/zz_bad.c"
msg=$($LABGEN lab "$KIT/badsol" "$KIT/badlab" 2>&1)
case $msg in
*"zz_bad.c:2:"*"names its TODO"*) ok "a TODO without a name is refused, naming its line" ;;
*) bad "a TODO without a name is not refused: $msg" ;;
esac

text=$(sh tests/kit/hints.sh "$LABGEN" "$KIT/hints")
echo "$text" | sed '$d'
set -- $(echo "$text" | tail -n 1)
passed=$((passed + $1))
failed=$((failed + $3))

echo "== reference"
if ! $VARIANT SRC=solutions OUT="$BUILD/ref" all examples >"$KIT/ref.build" 2>&1; then
	cat "$KIT/ref.build"
	bad "the reference does not build"
	echo "$passed passed, $failed failed"
	exit 1
fi
set -- $(grade_counts "$BUILD/ref")
passed=$((passed + $1))
failed=$((failed + $2))
if [ "$2" != 0 ]; then cat "$BUILD/ref/grade.log"; fi
awk '/^chapter /{printf "  ch%02d  %d/%d tests pass\n", $2, $4, $4 + $6}' \
	"$BUILD/ref/grade.log"
chapters=$(awk '/^chapter /{print $2}' "$BUILD/ref/grade.log")

echo "== promises (design section 2)"
printf '  %-12s %-8s %s\n' promise chapter "tests of that chapter passed"
upto=""
for n in $chapters; do
	upto=${upto:+$upto,}$n
	others=$(echo $chapters | tr ' ' '\n' | grep -vx "$n" | paste -sd, -)
	label=$(printf 'ch%02d' "$n")

	if build_mix "inc$n" "$upto"; then
		set -- $(grade_counts "$KIT/inc$n" -c "$upto")
		if [ "$1" -gt 0 ] && [ "$2" = 0 ]; then
			printf '  %-12s %-8s %s\n' incremental "$label" \
				"$1/$(($1 + $2)) (reference <= $label, stubs after)"
			passed=$((passed + 1))
		else
			bad "incremental $label: $1 passed, $2 failed with reference <= $label"
			sed 's/^/        /' "$KIT/inc$n/grade.log" | head -n 40
		fi
	else bad "incremental $label: does not build (see $KIT/inc$n.build)"; fi

	if build_mix "mean$n" "${others:-none}"; then
		set -- $(grade_counts "$KIT/mean$n" -c "$n")
		if [ "$1" = 0 ] && [ "$2" -gt 0 ]; then
			printf '  %-12s %-8s %s\n' meaningful "$label" \
				"0/$2 (stubs for $label, reference elsewhere)"
			passed=$((passed + 1))
		else
			bad "meaningful $label: $1 tests still pass with $label cut out"
			grep '^chapter\|^FAIL' "$KIT/mean$n/grade.log" | head -n 40
		fi
	else bad "meaningful $label: does not build (see $KIT/mean$n.build)"; fi
done

echo "== untouched lab/"
if $VARIANT SRC=lab OUT="$KIT/lab" all >"$KIT/lab.build" 2>&1; then
	set -- $(grade_counts "$KIT/lab")
	if [ "$1" = 0 ] && [ "$2" -gt 0 ]; then
		ok "lab/ grades to 0 ($2 tests fail cleanly, none crash the grader)"
	else bad "lab/ as handed out: $1 passed, $2 failed"; fi
	# The hints taken above (tests/kit/hints.sh) reach the results.
	"$KIT/lab/grade" -c 1 -q -j "$KIT/hints.json" \
		-h "$KIT/hints/lab/.hints-taken" >"$KIT/hints.out" 2>&1
	if grep -q '"extra_data": {"hints": {"ch01": 2}}' "$KIT/hints.json" &&
		grep -q '^hints taken (make hint): ch01 2$' "$KIT/hints.out"; then
		ok "grade -h counts the hints taken, in results.json and the table"
	else bad "grade -h: $(cat "$KIT/hints.out") $(tail -n 3 "$KIT/hints.json")"; fi
else bad "lab/ does not build (see $KIT/lab.build)"; fi

echo "== examples"
for ex in "$BUILD"/ref/examples/*/*; do
	[ -x "$ex" ] || continue
	name=${ex#"$BUILD"/ref/examples/}
	if timeout 20 "$ex" >"$KIT/example.out" 2>&1; then ok "$name"
	else bad "$name exited with status $?"; sed 's/^/        /' "$KIT/example.out" | tail -n 5; fi
done

echo "== NOFPU=1"
# The switch without floating-point control (ctx.h): chapter 02's tests,
# whose rounding test then expects one mode shared by every context.
if $VARIANT SRC=solutions OUT="$KIT/nofpu" CFLAGS="${CFLAGS:-} -DCL_CTX_NOFPU" \
	all >"$KIT/nofpu.build" 2>&1; then
	set -- $(grade_counts "$KIT/nofpu" -c 2)
	if [ "$1" -gt 0 ] && [ "$2" = 0 ]; then
		ok "chapter 02 with -DCL_CTX_NOFPU: $1/$1 tests pass"
	else bad "chapter 02 with -DCL_CTX_NOFPU: $1 passed, $2 failed"; fi
else bad "the NOFPU build fails (see $KIT/nofpu.build)"; fi

echo "== visualizer"
vis=$(sh tests/visualizer/run.sh "$BUILD/visualizer/cotrace")
echo "$vis" | sed '$d' | grep -v '^ *ok ' | grep -v '^==' 
echo "  ok    $(echo "$vis" | grep -c '^ *ok ') checks of cotrace (golden DOT/JSON, bad traces refused by line)"
set -- $(echo "$vis" | tail -n 1)
passed=$((passed + $1))
failed=$((failed + $3))

echo "== chapter text"
text=$(sh tests/kit/excerpts.sh)
echo "$text" | sed '$d'
set -- $(echo "$text" | tail -n 1)
passed=$((passed + $1))
failed=$((failed + $3))

echo "== counts in the chapter text"
# The counts are the plain build's: under the sanitizers (SAN=1) a
# planted leak of the text's experiments would fail more tests than the
# text says, so the check runs in plain builds only.
case ${CFLAGS:-} in
*sanitize*)
	echo "  skip  counts: checked by the plain make test, not under SAN=1" ;;
*)
	counts=$(sh tests/kit/counts.sh "$BUILD")
	echo "$counts" | sed '$d' | grep -v '^ *ok '
	echo "  ok    $(echo "$counts" | grep -c '^ *ok ') counts in the chapters' text are the grader's"
	set -- $(echo "$counts" | tail -n 1)
	passed=$((passed + $1))
	failed=$((failed + $3))
	;;
esac

echo "== CPython twins"
twins=$(python3 tests/kit/twins.py 2>&1)
echo "$twins" | sed '$d'
case $(echo "$twins" | tail -n 1) in
*" passed, "*" failed")
	set -- $(echo "$twins" | tail -n 1)
	passed=$((passed + $1))
	failed=$((failed + $3))
	;;
*) bad "tests/kit/twins.py stopped: $(echo "$twins" | tail -n 1)" ;;
esac

echo "== 10,000 connections"
# The load client is built plain, whatever SAN says: it is the peer.
if ${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror tests/bench/load.c \
	-o "$KIT/load" 2>"$KIT/load.build"; then
	# The stream server, then the protocol server.
	for srv in echo_server echo_proto; do
		c10k=$(sh tests/kit/c10k.sh "$BUILD/ref/examples/04-epoll/$srv" \
			"$KIT/load" 2>&1)
		echo "$c10k" | sed '$d' | sed "s/^/  $srv: /"
		set -- $(echo "$c10k" | tail -n 1)
		passed=$((passed + $1))
		failed=$((failed + $3))
	done
else bad "the load client does not build (see $KIT/load.build)"; fi

echo "== 10,000 chat members"
# The chat's load client, an independent WebSocket peer, built plain too.
if ${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror tests/bench/chatload.c \
	-lcrypto -o "$KIT/chatload" 2>"$KIT/chatload.build"; then
	chat=$(sh tests/kit/chat10k.sh "$BUILD/ref/examples/08-chat/chatd" \
		"$KIT/chatload" 2>&1)
	echo "$chat" | sed '$d' | sed "s/^/  chatd: /"
	set -- $(echo "$chat" | tail -n 1)
	passed=$((passed + $1))
	failed=$((failed + $3))
else bad "the chat load client does not build (see $KIT/chatload.build)"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
