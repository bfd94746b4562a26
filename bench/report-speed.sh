#!/bin/sh
# bench: how long `lucid report --stdio` takes on a synthetic recording of a million aborts, and the model's operations.
#
# Usage (from the build directory, after make): bench/report-speed.sh [ABORTS] [RUNS]
#
# Writes two recordings of ABORTS aborts (default 1000000) with
# bench/gen-recording: one whose PCs symbolize to nothing, and one (-S)
# whose PCs lie in gen-recording's own code, symbolized with libdw. Times
# RUNS (default 5) runs of `lucid report --stdio --limit=50` on each, and
# prints the median wall-clock time and the median CPU time (user + system;
# on a busy machine the wall clock also counts waiting for a CPU). Then
# bench/model-speed's figures for the symbolized one: the operations that
# the browser's keys trigger. Not a test: the figures depend on the machine
# and on what else runs on it; BENCHMARKS.md has results.
set -eu
aborts=${1:-1000000}
runs=${2:-5}
dir=$(mktemp -d -t lucid-report-speed-XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM

median() { tr ' ' '\n' | grep . | sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }

# run CMD...: runs it, appending its wall-clock and CPU ms to $walls and
# $cpus (CPU from GNU time when installed, else "-").
run() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f "%e %U %S" -o "$dir/time" "$@" > /dev/null
		walls="$walls $(awk '{ printf "%d", $1 * 1000 }' "$dir/time")"
		cpus="$cpus $(awk '{ printf "%d", ($2 + $3) * 1000 }' "$dir/time")"
	else
		t0=$(date +%s%N)
		"$@" > /dev/null
		walls="$walls $(( ($(date +%s%N) - t0) / 1000000 ))"
		cpus="$cpus -"
	fi
}

for kind in plain symbolized; do
	opt=
	[ "$kind" = symbolized ] && opt=-S
	bench/gen-recording $opt -o "$dir/$kind.lucid" -n "$aborts"
	size=$(( $(wc -c < "$dir/$kind.lucid") / 1048576 ))
	walls= cpus=
	i=0
	while [ $i -lt "$runs" ]; do
		run ./lucid report "$dir/$kind.lucid" --stdio --limit=50
		i=$((i + 1))
	done
	echo "lucid report --stdio, $aborts aborts ($kind, $size MiB): median of $runs:" \
		"wall $(echo $walls | median) ms, cpu $(echo $cpus | median) ms"
done
echo "model operations on the symbolized recording (bench/model-speed):"
bench/model-speed "$dir/symbolized.lucid" format.c | sed 's/^/  /'
