#!/bin/sh
# pictures.sh - "make pictures": redraw the timelines the chapters show.
#
#	pictures.sh BUILD/ref COTRACE [CHAPTER...]
#
# With CHAPTER names (07-threads ...), only those chapters' pictures are
# redrawn; without, every chapter's.
# Every example of a chapter that has an img/ folder runs once with the
# tracer on; its trace and timeline land in that chapter's img/ as
# <example>.trace and <example>.svg, which are committed so that the
# chapter reads with its pictures on a code host. The examples run on the
# virtual clock, so the same code draws the same picture.
#
# Two extras, for the chapters that need them:
#   - img/<example>.opts, if there is one, holds more options for that
#     example's "cotrace timeline", on one line: chapter 06's
#     img/kv_logged.opts says "--colour-by rid". A line that starts
#     with a view's name draws that view instead: chapter 07's
#     img/deadlock.opts says "awaits --at deadlock" (the await graph at
#     the moment the lock cycle closed);
#   - img/<example>.opts saying "none" leaves the example out (chapter
#     09's blocking.c blocks for real, which a timeline of the loop's
#     clock cannot show; its unbounded.c runs for thousands of steps);
#   - an example named <name>_dot is no traced program: it writes a
#     Graphviz graph on standard output, which "cotrace dot" draws as
#     img/<name>.svg (chapter 06's hamt_dot makes img/hamt.svg). It runs
#     without the tracer; if it fails, so does this script;
#   - a drawing made by hand is img/<name>.dot, drawn the same way as
#     img/<name>.svg (chapter 08's img/architecture.dot).
set -eu
ref=$1 cotrace=$2
shift 2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT INT TERM
for dir in chapters/*/img; do
	ch=$(basename "$(dirname "$dir")")
	if [ $# -gt 0 ]; then
		case " $* " in *" $ch "*) ;; *) continue ;; esac
	fi
	for dot in "$dir"/*.dot; do
		[ -f "$dot" ] || continue
		"$cotrace" dot "$dot" -o "${dot%.dot}.svg"
		echo "${dot%.dot}.svg"
	done
	for ex in "$ref/examples/$ch"/*; do
		[ -x "$ex" ] || continue
		name=$(basename "$ex")
		case $name in
		*_dot)
			if ! "$ex" >"$tmp"; then
				echo "pictures.sh: $ex failed" >&2
				exit 1
			fi
			"$cotrace" dot "$tmp" -o "$dir/${name%_dot}.svg"
			echo "$dir/${name%_dot}.svg"
			continue ;;
		esac
		rm -f "$dir/$name.trace"
		# "none": an example the chapter shows no picture of
		[ "$(cat "$dir/$name.opts" 2>/dev/null)" = none ] && continue
		COROLAB_CLOCK=virtual COROLAB_TRACE=$dir/$name.trace "$ex" \
			>/dev/null 2>&1 || true
		[ -s "$dir/$name.trace" ] || { rm -f "$dir/$name.trace"; continue; }
		opts="" view=timeline
		[ -f "$dir/$name.opts" ] && opts=$(cat "$dir/$name.opts")
		case $opts in
		timeline* | awaits*) view=${opts%% *} opts=${opts#"$view"} ;;
		esac
		# shellcheck disable=SC2086 # the options are words to split
		"$cotrace" "$view" "$dir/$name.trace" -o "$dir/$name.svg" $opts
		echo "$dir/$name.svg"
	done
done
