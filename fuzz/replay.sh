#!/bin/sh
# fuzz/replay.sh: make check's part of fuzzing: every harness runs (without
# libFuzzer, under the build's sanitizers) on its seed corpus and on every input
# that once made it fail (fuzz/regress/NAME/), which must all pass now.
set -eu
srcdir=${srcdir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lucid-replay-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

status=0
for dir in "$srcdir"/fuzz/corpus/*/; do
	name=$(basename "$dir")
	harness=fuzz/$name
	if [ ! -x "$harness" ]; then
		echo "replay: no harness $harness for fuzz/corpus/$name" >&2
		status=1
		continue
	fi
	set -- "$dir"
	[ -d "$srcdir/fuzz/regress/$name" ] && set -- "$@" "$srcdir/fuzz/regress/$name"
	# The seeds as the current encoders write them, too.
	if [ "$name" = reader ]; then
		mkdir "$tmp/$name"
		fuzz/seeds "$tmp/$name"
		set -- "$@" "$tmp/$name"
	fi
	if ! "$harness" "$@"; then
		echo "replay: $harness failed on one of: $*" >&2
		status=1
	fi
done
exit $status
