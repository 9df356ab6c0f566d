#!/bin/sh
# hints.sh - the hint ladder of make hint (tests/labgen.c, labgen hint).
#
#	hints.sh LABGEN DIR
#
# In DIR, a scratch copy of lab/ and of solutions/, it checks that
#   1. make hint shows one level more at each call, the earlier ones
#      again, and logs each level once in .hints-taken;
#   2. the log is the student's: lab-check, make lab's edit detection
#      and labgen status ignore it, and make lab keeps it;
#   3. a malformed HINT line is refused with its file and line;
#   4. every TODO comment of lab/ is a contract, not a recipe: at most
#      MAXLINES lines, the line that names its hints included.
#
# One line per check, "ok" or "FAIL"; last, "N passed, N failed".
set -u
LABGEN=$1
DIR=$2
MAXLINES=7
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }

rm -rf "$DIR" && mkdir -p "$DIR"
cp -r lab "$DIR/lab"
lab=$DIR/lab

# 1. One level at a time: the first TODO of chapter 01 with two levels
# or more.
name=$(awk '$1 == "ch01" && $4 == 2 { print $2; exit }' "$lab/.hints")
out1=$($LABGEN hint "$lab" 1 "$name")
out2=$($LABGEN hint "$lab" 01 "$name")
log=$(cat "$lab/.hints-taken" 2>/dev/null)
case $out1 in
*"hint 1 of"*"hint 2 of"*) bad "hint $name: the first call showed level 2" ;;
*"hint 1 of"*)
	case $out2 in
	*"hint 1 of"*"seen before"*"hint 2 of"*)
		ok "make hint CH=1 TODO=$name shows level 1, then 1 again and 2" ;;
	*) bad "hint $name, second call: $out2" ;;
	esac ;;
*) bad "hint $name, first call: $out1" ;;
esac
if [ "$log" = "$(printf 'ch01 %s 1\nch01 %s 2' "$name" "$name")" ]; then
	ok "each level is logged once in .hints-taken"
else bad ".hints-taken holds: $log"; fi
list=$($LABGEN hint "$lab" 1)
case $list in
*"$name"*" 2 of "*) ok "make hint CH=1 lists the levels taken" ;;
*) bad "make hint CH=1 lists: $list" ;;
esac
if $LABGEN hint "$lab" 1 no_such_todo >/dev/null 2>&1; then
	bad "an unknown TODO name is accepted"
else ok "an unknown TODO name is refused"; fi

# 2. The log is the student's.
if $LABGEN check solutions "$lab" 2>/dev/null; then
	ok "lab-check ignores .hints-taken"
else bad "lab-check complains about .hints-taken"; fi
if $LABGEN lab solutions "$lab" 2>/dev/null &&
	[ "$(cat "$lab/.hints-taken")" = "$log" ]; then
	ok "make lab sees no edit in .hints-taken, and keeps it"
else bad "make lab refused or lost .hints-taken"; fi
if $LABGEN status "$lab" | grep -qv ' untouched$'; then
	bad "labgen status counts .hints-taken: $($LABGEN status "$lab")"
else ok "labgen status ignores .hints-taken"; fi

# 3. A malformed HINT line.
cp -r solutions "$DIR/sol"
printf 'int x;\n// LAB ch09 zz: a contract\n// HINT4 ch09: no such level\nint y;\n// STUB ch09:\n// END ch09\n' \
	>"$DIR/sol/zz_hint.c"
msg=$($LABGEN lab "$DIR/sol" "$DIR/badlab" 2>&1)
case $msg in
*"zz_hint.c:3:"*HINT*) ok "a malformed HINT line is refused with its line" ;;
*) bad "malformed HINT line not reported: $msg" ;;
esac
printf 'int x;\n// LAB ch09 zz: a contract\nint y;\n// HINT1 ch09: too late\n// STUB ch09:\n// END ch09\n' \
	>"$DIR/sol/zz_hint.c"
msg=$($LABGEN lab "$DIR/sol" "$DIR/badlab" 2>&1)
case $msg in
*"zz_hint.c:4:"*HINT*) ok "a HINT line after the code is refused with its line" ;;
*) bad "misplaced HINT line not reported: $msg" ;;
esac

# 4. Contracts, not recipes.
long=$(awk -v max=$MAXLINES '
	FNR == 1 { n = 0 }
	/\/\* TODO\(ch[0-9][0-9]\)/ { n = 1; start = FNR }
	n > 0 && /\*\// { if (n > max) printf " %s:%d (%d lines)", FILENAME, start, n; n = 0; next }
	n > 0 { n++ }' lab/*.c)
todos=$(grep -c 'TODO(ch[0-9][0-9])' lab/*.c | awk -F: '{ n += $2 } END { print n }')
if [ -z "$long" ]; then
	ok "all $todos TODO comments of lab/ are at most $MAXLINES lines"
else bad "TODO comments longer than $MAXLINES lines:$long"; fi

echo "$passed passed, $failed failed"
