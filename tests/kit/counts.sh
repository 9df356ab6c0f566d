#!/bin/sh
# counts.sh - the counts a chapter quotes are the grader's.
#
#	counts.sh BUILD
#
# A chapter says how many tests pass after each step of its lab, and
# what the reference scores; change a test and those sentences go stale.
# tests/kit/counts.txt lists each such sentence with the source tree it
# is counted on (the reference, the lab with some files written, or a
# "what if" edit of the reference). This script builds each tree with
# variant.mk in BUILD/kit/counts/NAME (the reference in BUILD/ref), grades
# it, and checks that the README still carries the grader's number.
# Besides, every failure line a chapter quotes ("FAIL ch02 test_x (0/2)")
# must name a test of that chapter worth that many points.
#
# One line per number, "ok" or "FAIL" with the README line, what it says
# and what the grader counts; last, "N passed, N failed". The trees are
# kept, so a second run rebuilds only what changed.
set -u
BUILD=${1:?usage: counts.sh BUILD}
DIR=$BUILD/kit/counts
TABLE=tests/kit/counts.txt
VARIANT="${MAKE:-make} --no-print-directory -f tests/kit/variant.mk"
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
mkdir -p "$DIR/results"

# Two awk programs read the table: PLAN_AWK lists the grader runs the
# counts need, CHECK_AWK compares each count with its run's results.
# Both start with TABLE_AWK: where a run's results go, and a count line.
# shellcheck disable=SC2016
TABLE_AWK='
function results(tree, env,   name) {
	name = tree (env == "" ? "" : "," env)
	gsub(/[^A-Za-z0-9_.,=-]/, "_", name)
	return dir "/results/" name ".res"
}
# A count line: fills cnt_* for count number n; 0 if malformed.
function parse_count(line, n,   bar, left, w, nw, i) {
	bar = index(line, " | ")
	if (bar == 0)
		return 0
	cnt_phrase[n] = substr(line, bar + 3)
	left = substr(line, 1, bar - 1)
	nw = split(left, w, /[ \t]+/)
	if (nw < 4 || w[2] !~ /^[0-9][0-9]$/)
		return 0
	cnt_ch[n] = w[2]
	cnt_tree[n] = w[3]
	cnt_env[n] = ""
	cnt_nq[n] = 0
	for (i = 4; i <= nw; i++)
		if (w[i] ~ /^[A-Za-z_][A-Za-z0-9_]*=/)
			cnt_env[n] = cnt_env[n] (cnt_env[n] == "" ? "" : " ") w[i]
		else
			cnt_q[n, ++cnt_nq[n]] = w[i]
	cnt_line[n] = FNR
	return cnt_nq[n] > 0
}
'

# Its input: "FILE TEST" for each test of tests/ch*.c, the READMEs, the
# table. Each {} of a phrase matches a number in digits or a word.
# shellcheck disable=SC2016
CHECK_AWK='
BEGIN {
	split("zero one two three four five six seven eight nine ten " \
	      "eleven twelve thirteen fourteen fifteen sixteen seventeen " \
	      "eighteen nineteen twenty", words, " ")
	num = "([0-9]+(,[0-9][0-9][0-9])*"
	for (i = 1; i <= 21; i++) {
		value[words[i]] = i - 1
		num = num "|" toupper(substr(words[i], 1, 1)) \
			substr(words[i], 2) "|" words[i]
	}
	num = num ")"
}
FILENAME == testlist { in_file[$1, $2] = 1; next }
FILENAME ~ /README\.md$/ {
	ch = substr(FILENAME, index(FILENAME, "chapters/") + 9, 2)
	md[ch] = FILENAME
	text[ch] = text[ch] (FNR == 1 ? "" : "\n") $0
	if ($0 ~ /^FAIL ch[0-9][0-9] test_[A-Za-z0-9_]+ \(0\/[0-9]+\)$/)
		quoted[++nquoted] = FILENAME SUBSEP FNR SUBSEP $0
	next
}
/^count[ \t]/ {
	if (!parse_count($0, ++ncount))
		cnt_bad[ncount] = 1
	cnt_line[ncount] = FNR
	next
}
/^tree[ \t]/ { tree[$2] = 1 }

# A phrase as a regular expression: blanks match any run of white space.
function re(s,   out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == " " || c == "\t") {
			out = out "[ \t\n]+"
			while (substr(s, i + 1, 1) ~ /^[ \t]$/)
				i++
		} else if (index(".[()*+?{}|$", c))
			out = out "[" c "]"
		else if (c == "\\" || c == "^")
			out = out "\\" c
		else
			out = out c
	}
	return out
}

function number(s) {
	if (s ~ /^[0-9]/) {
		gsub(/,/, "", s)
		return s + 0
	}
	return value[tolower(s)]
}

function line_of(ch, off,   s) {
	s = substr(text[ch], 1, off)
	return gsub(/\n/, "", s) + 1
}

# Load a results file: "CH TEST PASSED SCORE MAX" lines, or "broken WHY".
function load(file,   line, a, n) {
	if (file in nres)
		return
	nres[file] = 0
	broken[file] = ""
	while ((getline line < file) > 0) {
		if (line ~ /^broken /) {
			broken[file] = substr(line, 8)
			continue
		}
		split(line, a, " ")
		n = ++nres[file]
		r_ch[file, n] = a[1]
		r_test[file, n] = a[2]
		r_pass[file, n] = a[3]
		r_score[file, n] = a[4]
		r_max[file, n] = a[5]
	}
	close(file)
	if (nres[file] == 0 && broken[file] == "")
		broken[file] = "no results in " file
}

# What the grader counts: q is passed, failed, tests, points or max,
# maybe ":FILE", maybe "-K" or "+K". Returns the number and sets how (in
# words); sets why if it cannot be counted.
function quantity(file, ch, q,   k, base, tf, i, c) {
	k = 0
	if (match(q, /[-+][0-9]+$/)) {
		k = substr(q, RSTART) + 0
		base = substr(q, 1, RSTART - 1)
	} else
		base = q
	tf = ""
	if (index(base, ":")) {
		tf = substr(base, index(base, ":") + 1)
		base = substr(base, 1, index(base, ":") - 1)
	}
	for (i in c)
		delete c[i]
	c["tests"] = c["passed"] = c["failed"] = c["points"] = c["max"] = 0
	for (i = 1; i <= nres[file]; i++) {
		if (r_ch[file, i] != ch)
			continue
		if (tf != "" && !((tf, r_test[file, i]) in in_file))
			continue
		c["tests"]++
		c["passed"] += r_pass[file, i]
		c["failed"] += !r_pass[file, i]
		c["points"] += r_score[file, i]
		c["max"] += r_max[file, i]
	}
	why = ""
	how = (base == "passed" ? "tests passed" : base == "failed" ? \
	       "tests failed" : base == "tests" ? "tests in all" : \
	       base == "points" ? "points scored" : "points in all")
	if (tf != "")
		how = how " of tests/" tf
	if (k != 0)
		how = how (k < 0 ? ", less " (-k) : ", plus " k)
	if (!(base in c)) {
		why = "unknown count \"" q "\""
		return 0
	}
	if (c["tests"] == 0) {
		why = "no test of chapter " ch \
		      (tf == "" ? "" : " in tests/" tf) " was graded"
		return 0
	}
	return c[base] + k
}

function ok(s) { passed++; printf "  ok    %s\n", s }
function bad(s) { failed++; printf "  FAIL  %s\n", s }

function check(n,   where, file, run, np, piece, pat, t, off, hits, at, len, \
	       m, i, said, got) {
	where = TABLE " line " cnt_line[n]
	if (cnt_bad[n]) {
		bad(where ": not \"count NN TREE [VAR=VALUE...] WHAT... | PHRASE\"")
		return
	}
	if (!(cnt_ch[n] in md)) {
		bad(where ": no README for chapter " cnt_ch[n])
		return
	}
	if (cnt_tree[n] != "ref" && !(cnt_tree[n] in tree)) {
		bad(where ": no tree " cnt_tree[n])
		return
	}
	np = split(cnt_phrase[n], piece, /\{\}/) - 1
	if (np != cnt_nq[n]) {
		bad(where ": " np " {} in the phrase, " cnt_nq[n] " counts")
		return
	}
	pat = re(piece[1])
	for (i = 1; i <= np; i++)
		pat = pat num re(piece[i + 1])
	t = text[cnt_ch[n]]
	off = 0
	hits = 0
	while (length(t) > 0 && match(t, pat)) {
		if (++hits == 1) {
			at = off + RSTART
			len = RLENGTH
		}
		off += RSTART + RLENGTH - 1
		t = substr(t, RSTART + (RLENGTH > 0 ? RLENGTH : 1))
	}
	if (hits != 1) {
		bad(md[cnt_ch[n]] ": \"" cnt_phrase[n] "\" " \
		    (hits ? "is there " hits " times" : "is not there") \
		    " (" where ")")
		return
	}
	file = results(cnt_tree[n], cnt_env[n])
	load(file)
	run = "chapter " cnt_ch[n] " on tree " cnt_tree[n] \
	      (cnt_env[n] == "" ? "" : " with " cnt_env[n])
	m = substr(text[cnt_ch[n]], at, len)
	for (i = 1; i <= np; i++) {
		match(m, "^" re(piece[i]))
		at += RLENGTH
		m = substr(m, RLENGTH + 1)
		match(m, "^" num)
		said = substr(m, 1, RLENGTH)
		where = md[cnt_ch[n]] " line " line_of(cnt_ch[n], at)
		at += RLENGTH
		m = substr(m, RLENGTH + 1)
		if (broken[file] != "") {
			bad(where ": says " said ", and " run \
			    " cannot be graded: " broken[file])
			continue
		}
		got = quantity(file, cnt_ch[n], cnt_q[n, i])
		if (why != "")
			bad(where ": says " said ", and " why " (" run ")")
		else if (number(said) == got)
			ok(where ": " said " (" how ", " run ")")
		else
			bad(where ": says " said ", the grader counts " got \
			    " (" how ", " run ")")
	}
}

END {
	for (n = 1; n <= ncount; n++)
		check(n)
	# Quoted failure lines: the test and its points, from the reference.
	file = results("ref", "")
	load(file)
	for (i = 1; i <= nquoted; i++) {
		split(quoted[i], q, SUBSEP)
		where = q[1] " line " q[2]
		split(q[3], w, /[ (\/)]+/)
		ch = substr(w[2], 3)
		for (j = 1; j <= nres[file]; j++)
			if (r_test[file, j] == w[3])
				break
		if (broken[file] != "")
			bad(where ": " w[3] ": the reference cannot be graded: " \
			    broken[file])
		else if (j > nres[file])
			bad(where ": the grader has no test " w[3])
		else if (r_ch[file, j] != ch)
			bad(where ": " w[3] " is a test of chapter " r_ch[file, j] \
			    ", not " ch)
		else if (r_max[file, j] != w[5])
			bad(where ": says " w[3] " is worth " w[5] \
			    " points, the grader says " r_max[file, j])
		else
			ok(where ": " w[3] " is worth " w[5] " points")
	}
	printf "%d passed, %d failed\n", passed, failed
	exit (failed > 0)
}
'

# Its output: "RESULTS TREE CHAPTERS [VAR=VALUE...]" for each run.
# shellcheck disable=SC2016
PLAN_AWK='
/^count[ \t]/ && parse_count($0, 1) {
	run = results(cnt_tree[1], cnt_env[1])
	if (!(run in chapters)) {
		order[++nrun] = run
		chapters[run] = cnt_ch[1]
		line[run] = cnt_tree[1] " CHAPTERS " cnt_env[1]
	} else if (("," chapters[run] ",") !~ ("," cnt_ch[1] ","))
		chapters[run] = chapters[run] "," cnt_ch[1]
}
END {
	# The reference grades every chapter: quoted failures need them all.
	run = results("ref", "")
	if (!(run in chapters))
		order[++nrun] = run
	chapters[run] = "all"
	line[run] = "ref CHAPTERS"
	for (i = 1; i <= nrun; i++) {
		l = line[order[i]]
		sub(/CHAPTERS/, chapters[order[i]], l)
		print order[i], l
	}
}
'

# regions KEEP FILE: FILE with only its lab regions numbered in KEEP
# ("1,3") written, the others replaced by their stubs as labgen does.
regions() {
	awk -v keep=",$1," '
	function marker(word,   s) {
		s = $0
		sub(/^[ \t]*/, "", s)
		return s ~ ("^// " word " ch[0-9][0-9]")
	}
	state == "" && marker("LAB") { n++; state = "hint"; next }
	state == "hint" && marker("LAB") { next }
	state == "hint" { state = "code" }
	state == "code" && marker("STUB") { state = "stub"; next }
	state == "stub" && marker("END") { state = ""; next }
	state == "code" { if (index(keep, "," n ",")) print; next }
	state == "stub" {
		if (index(keep, "," n ","))
			next
		i = match($0, /[^ \t]/)
		code = substr($0, i + 2)
		sub(/^ /, "", code)
		print substr($0, 1, i - 1) code
		next
	}
	{ print }
	END {
		m = split(keep, k, ",")
		for (i = 1; i <= m; i++)
			if (k[i] != "" && (k[i] !~ /^[0-9]+$/ || k[i] + 0 > n)) {
				printf "%s has no lab region %s\n", FILENAME, \
					k[i] >"/dev/stderr"
				exit 1
			}
	}' "$2"
}

# make_tree NAME [cut chNN [but FILE...]]: write the tree's sources to
# DIR/NAME/src.new, apply its edits, then move them into DIR/NAME/src.
make_tree() {
	name=$1
	shift
	out=$DIR/$name
	new=$out/src.new
	rm -rf "$new"
	mkdir -p "$new"
	cp solutions/*.[chS] "$new/" || return 1
	if [ "${1:-}" = cut ]; then
		ch=$2
		shift 2
		[ "${1:-}" = but ] && shift
		owned=$(grep -l "^[[:blank:]]*// LAB $ch" solutions/*.[chS])
		if [ -z "$owned" ]; then
			echo "no file holds lab regions of $ch"
			return 1
		fi
		for w in "$@"; do
			if ! echo "$owned" | grep -qx "solutions/${w%%:*}"; then
				echo "${w%%:*} holds no lab region of $ch"
				return 1
			fi
		done
		for f in $owned; do
			base=${f#solutions/}
			written=none
			for w in "$@"; do
				case $w in
				"$base") written=all ;;
				"$base":*) written=${w#*:} ;;
				esac
			done
			case $written in
			all) ;;
			none) cp "lab/$base" "$new/$base" || return 1 ;;
			*) regions "$written" "$f" >"$new/$base" || return 1 ;;
			esac
		done
	elif [ $# -gt 0 ]; then
		echo "tree $name: expected \"cut chNN [but FILE...]\", got $*"
		return 1
	fi
	awk -v n="$name" '$1 == "edit" && $2 == n' "$TABLE" |
		while read -r _ _ file script; do
			if ! sed -e "$script" "$new/$file" >"$new/$file.sed"; then
				echo "edit of $file: sed failed: $script"
				exit 1
			fi
			if cmp -s "$new/$file" "$new/$file.sed"; then
				echo "edit of $file changes nothing: $script"
				exit 1
			fi
			mv "$new/$file.sed" "$new/$file"
		done || return 1
	place_tree
}

# place_tree: move $new into $out/src, so that make rebuilds what changed.
# A kept tree takes only the files whose text changed (with a new time:
# make rebuilds those). A new tree, or one whose headers changed, starts
# afresh from the reference's objects: each file it shares with
# solutions/ keeps the time of solutions/, and its object is the one
# make built from that very file in BUILD/ref (headers all alike, or it
# compiles everything). variant.mk judges by times as usual after that.
place_tree() {
	src=$out/src
	for f in "$new"/*.h "$src"/*.h; do
		if ! cmp -s "$new/${f##*/}" "$src/${f##*/}"; then
			rm -rf "$src" "$out/obj"
			break
		fi
	done
	if [ -d "$out/obj" ]; then
		for f in "$new"/*; do
			cmp -s "$f" "$src/${f##*/}" || cp "$f" "$src/${f##*/}"
		done
		for f in "$src"/*; do
			[ -e "$new/${f##*/}" ] || rm -f "$f"
		done
		rm -rf "$new"
		return
	fi
	mkdir -p "$src"
	for f in "$new"/*; do
		b=${f##*/}
		if cmp -s "$f" "solutions/$b"; then cp -p "solutions/$b" "$src/$b"
		else cp "$f" "$src/$b"; fi
	done
	rm -rf "$new"
	# variant.mk claims the directory for this tree (and empties it).
	$VARIANT SRC="$src" OUT="$out" -q all >/dev/null 2>&1
	for f in "$src"/*.h; do
		cmp -s "$f" "solutions/${f##*/}" || return 0
	done
	mkdir -p "$out/obj"
	for f in "$src"/*.[cS]; do
		o=${f##*/}
		o=${o%.?}.o
		if cmp -s "$f" "solutions/${f##*/}" && [ -e "$BUILD/ref/obj/$o" ]; then
			cp -p "$BUILD/ref/obj/$o" "$out/obj/$o"
		fi
	done
}

# build NAME ARGS...: make the tree and build it; DIR/NAME.build is the
# log, DIR/NAME.ok says it built.
build() {
	name=$1
	rm -f "$DIR/$name.ok"
	if [ "$name" = ref ]; then
		$VARIANT -j"$JOBS" SRC=solutions OUT="$BUILD/ref" all
	else
		make_tree "$@" &&
			$VARIANT SRC="$DIR/$name/src" OUT="$DIR/$name" all
	fi >"$DIR/$name.build" 2>&1 && touch "$DIR/$name.ok"
}

# grade_run RESULTS TREE CHAPTERS [VAR=VALUE...]: grade the tree, keep
# "CH TEST PASSED SCORE MAX" lines in RESULTS (or "broken WHY").
grade_run() {
	res=$1
	tree=$2
	chapters=$3
	shift 3
	out=$DIR/$tree
	[ "$tree" = ref ] && out=$BUILD/ref
	if [ ! -e "$DIR/$tree.ok" ]; then
		echo "broken tree $tree does not build (see $DIR/$tree.build)" >"$res"
		return
	fi
	json=${res%.res}.json
	rm -f "$json"
	set -- "$@" "$out/grade" -q -j "$json"
	[ "$chapters" = all ] || set -- "$@" -c "$chapters"
	timeout 600 env "$@" >"${res%.res}.log" 2>&1
	st=$?
	if [ $st -gt 1 ] || [ ! -s "$json" ]; then
		echo "broken the grader died (status $st, see ${res%.res}.log)" >"$res"
		return
	fi
	awk '/^ *\{"name": "ch[0-9][0-9] / {
		sub(/^ *\{"name": "ch/, "")
		ch = substr($0, 1, 2)
		test = substr($0, 4, index($0, "\"") - 4)
		match($0, /"score": [0-9]+/)
		score = substr($0, RSTART + 9, RLENGTH - 9)
		match($0, /"max_score": [0-9]+/)
		max = substr($0, RSTART + 13, RLENGTH - 13)
		print ch, test, ($0 ~ /"output": "passed"},?$/), score, max
	}' "$json" >"$res"
}

# The reference first (the trees start from its objects), then the
# trees, JOBS at a time.
build ref
awk '$1 == "tree" { $1 = ""; print }' "$TABLE" | {
	running=0
	while read -r tree; do
		# shellcheck disable=SC2086
		build $tree &
		running=$((running + 1))
		if [ $running -ge "$JOBS" ]; then
			wait
			running=0
		fi
	done
	wait
}

# Grade: one run per tree and environment, JOBS at a time (the runs
# mostly wait on the real clock of a few tests).
awk "$TABLE_AWK$PLAN_AWK" dir="$DIR" "$TABLE" | {
	running=0
	while read -r res tree chapters env; do
		# shellcheck disable=SC2086
		grade_run "$res" "$tree" "$chapters" $env &
		running=$((running + 1))
		if [ $running -ge "$JOBS" ]; then
			wait
			running=0
		fi
	done
	wait
}

grep -o 'cl_test(test_[A-Za-z0-9_]*' tests/ch[0-9][0-9]_*.c |
	sed 's,^tests/\(.*\):cl_test(, \1 ,; s/^ //' >"$DIR/tests.list"
awk "$TABLE_AWK$CHECK_AWK" dir="$DIR" testlist="$DIR/tests.list" \
	TABLE="$TABLE" "$DIR/tests.list" chapters/*/README.md "$TABLE"
