#!/bin/sh
# excerpts.sh - the code a chapter quotes is the code the kit runs.
#
#	excerpts.sh
#
# Every ```c block of chapters/*/README.md must appear, line for line,
# in one of the kit's C files (solutions/, the chapters' examples,
# tests/, visualizer/), and every ```asm block in one of its assembly
# files (solutions/*.S); trailing blanks do not count. An excerpt that no
# longer matches teaches what the code does not do: change the code, and
# the chapter has to follow.
#
# One line per chapter, "ok" or "FAIL" with the README line of each
# block not found; last, "N passed, N failed" (a check per chapter).
set -u
srcs=$(ls solutions/*.[chS] chapters/*/examples/*.[ch] tests/*.[ch] \
	tests/bench/*.[ch] visualizer/*.[ch] 2>/dev/null)
# shellcheck disable=SC2086
awk -v nsrc="$(echo "$srcs" | wc -l)" '
	function chapter_done() {
		if (md == "")
			return
		if (bad == "") {
			printf "  ok    %s: its %d C and assembly excerpts are in the code\n",
				md, n
			passed++
		} else {
			printf "  FAIL  %s: excerpts not found in the code:%s\n",
				md, bad
			failed++
		}
	}
	FNR == 1 { file++ }
	{ sub(/[ \t\r]+$/, "") }
	file <= nsrc { if (FNR == 1) code = code "\n\001"; code = code "\n" $0; next }
	FNR == 1 { chapter_done(); md = FILENAME; n = 0; bad = ""; inblock = 0 }
	inblock && $0 == "```" {
		inblock = 0
		n++
		if (index(code "\n", block "\n") == 0)
			bad = bad "\n        line " start ": " first
		next
	}
	inblock { block = block "\n" $0; if (first == "") first = $0; next }
	$0 == "```c" || $0 == "```asm" { inblock = 1; block = ""; first = ""; start = FNR }
	END {
		chapter_done()
		printf "%d passed, %d failed\n", passed, failed
	}
' $srcs chapters/*/README.md
