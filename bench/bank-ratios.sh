#!/usr/bin/env bash
# bench: bank throughput of Lucid against uninstrumented code and a global mutex, side by side.
#
# usage: bench/bank-ratios.sh [SAMPLES_DIR] [REPS] [DURATION_MS]
# Alternates the variants run by run (so machine drift hits all alike) and
# prints the median throughput of each and the ratios.
set -euo pipefail
dir=${1:-samples}
reps=${2:-5}
dur=${3:-1000}
runs=("seq1:$dir/bank-seq -n 1" "lucid1:$dir/bank -n 1" "lucid2:$dir/bank -n 2" "mutex2:$dir/bank-mutex -n 2")
declare -A thr
for ((rep = 0; rep < reps; rep++)); do
	for r in "${runs[@]}"; do
		name=${r%%:*}
		line=$(${r#*:} -d "$dur")
		grep -q 'invariant=ok' <<<"$line" || { echo "invariant violated: $line" >&2; exit 1; }
		thr[$name]+="$(sed -n 's/.* throughput=\([0-9]*\).*/\1/p' <<<"$line") "
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med
for r in "${runs[@]}"; do
	name=${r%%:*}
	med[$name]=$(median <<<"${thr[$name]}")
	printf '%-8s median %12s tx/s   (runs: %s)\n' "$name" "${med[$name]}" "${thr[$name]}"
done
awk -v s="${med[seq1]}" -v l1="${med[lucid1]}" -v l2="${med[lucid2]}" -v m="${med[mutex2]}" 'BEGIN {
	printf "Lucid/sequential, 1 thread:   %.3f\n", l1 / s
	printf "Lucid 2 threads / 1 thread:   %.3f\n", l2 / l1
	printf "Lucid/mutex, 2 threads:       %.3f\n", l2 / m }'
