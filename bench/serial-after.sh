#!/usr/bin/env bash
# bench: how the serial-mode threshold (LUCID_SERIAL_AFTER) trades throughput for the worst abort streak.
#
# usage: bench/serial-after.sh [BANK] [REPS] [DURATION_MS]
# Runs the bank sample for each threshold and workload, alternating thresholds
# run by run so that machine drift hits all alike, and prints the median
# throughput and the largest max_retries seen.
set -euo pipefail
bank=${1:-samples/bank}
reps=${2:-5}
dur=${3:-1000}
thresholds=(4 8 16 32 64)
workloads=("-n 2 -r 1" "-n 2 -r 20" "-n 8 -r 20" "-n 2 -a 8 -r 0")
declare -A thr maxr
for ((rep = 0; rep < reps; rep++)); do
	for w in "${workloads[@]}"; do
		for s in "${thresholds[@]}"; do
			line=$(LUCID_SERIAL_AFTER=$s "$bank" $w -d "$dur")
			t=$(sed -n 's/.* throughput=\([0-9]*\).*/\1/p' <<<"$line")
			m=$(sed -n 's/.* max_retries=\([0-9]*\).*/\1/p' <<<"$line")
			grep -q 'invariant=ok' <<<"$line" || { echo "invariant violated: $line" >&2; exit 1; }
			thr["$w|$s"]+="$t "
			[ "${maxr["$w|$s"]:-0}" -ge "$m" ] || maxr["$w|$s"]=$m
		done
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-14s' "threshold"
for w in "${workloads[@]}"; do printf ' | %-22s' "bank $w"; done
printf '\n'
for s in "${thresholds[@]}"; do
	printf '%-14s' "$s"
	for w in "${workloads[@]}"; do
		m=$(median <<<"${thr["$w|$s"]}")
		printf ' | %8.2f M/s, max %3s' "$(awk -v m="$m" 'BEGIN { print m / 1e6 }')" "${maxr["$w|$s"]}"
	done
	printf '\n'
done
