#!/usr/bin/env bash
# bench: the recorder's cost: recording on against off, and (optionally) against a build without it.
#
# usage: bench/recording-cost.sh [REPS] [DURATION_MS] [BANK_WITHOUT_RECORDER]
# Runs samples/bank at 2 threads (1024 accounts, 1% audits), alternating the
# variants run by run, and prints the median throughputs and their ratios.
set -euo pipefail
reps=${1:-5}
dur=${2:-1000}
old=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A thr
run() {   # name command...
	local name=$1; shift
	local line
	line=$("$@" -n 2 -d "$dur")
	grep -q 'invariant=ok' <<<"$line" || { echo "invariant violated: $line" >&2; exit 1; }
	thr[$name]+="$(sed -n 's/.* throughput=\([0-9]*\).*/\1/p' <<<"$line") "
}
for ((i = 0; i < reps; i++)); do
	run off samples/bank
	rm -f "$tmp/rec.data"
	LUCID_RECORD="$tmp/rec.data" run on samples/bank
	[ -n "$old" ] && run without "$old"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for k in "${!thr[@]}"; do printf '%-8s median %12s tx/s   (runs: %s)\n' "$k" "$(median <<<"${thr[$k]}")" "${thr[$k]}"; done
off=$(median <<<"${thr[off]}")
on=$(median <<<"${thr[on]}")
awk -v a="$on" -v b="$off" 'BEGIN { printf "recording on / off: %.3f\n", a / b }'
if [ -n "$old" ]; then
	w=$(median <<<"${thr[without]}")
	awk -v a="$off" -v b="$w" 'BEGIN { printf "off / without the recorder: %.3f\n", a / b }'
fi
