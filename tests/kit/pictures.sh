#!/bin/sh
# pictures.sh - "make pictures": redraw the timelines the chapters show.
#
#	pictures.sh BUILD/ref COTRACE
#
# Every example of a chapter that has an img/ folder runs once with the
# tracer on; its trace and timeline land in that chapter's img/ as
# <example>.trace and <example>.svg, which are committed so that the
# chapter reads with its pictures on a code host. The examples run on the
# virtual clock, so the same code draws the same picture.
set -eu
ref=$1 cotrace=$2
for dir in chapters/*/img; do
	ch=$(basename "$(dirname "$dir")")
	for ex in "$ref/examples/$ch"/*; do
		[ -x "$ex" ] || continue
		name=$(basename "$ex")
		rm -f "$dir/$name.trace"
		COROLAB_CLOCK=virtual COROLAB_TRACE=$dir/$name.trace "$ex" \
			>/dev/null 2>&1 || true
		[ -s "$dir/$name.trace" ] || { rm -f "$dir/$name.trace"; continue; }
		"$cotrace" timeline "$dir/$name.trace" -o "$dir/$name.svg"
		echo "$dir/$name.svg"
	done
done
