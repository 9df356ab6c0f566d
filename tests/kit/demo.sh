#!/bin/sh
# demo.sh - run every chapter's examples from a reference build.
#
#	demo.sh BUILD/ref
set -u
for ex in "$1"/examples/*/*; do
	[ -x "$ex" ] || continue
	echo "=== ${ex#"$1"/examples/}"
	"$ex" || echo "(exited with status $?)"
	echo
done
echo "The sources are in chapters/*/examples/; each chapter's README.md explains them."
