#!/usr/bin/env bash
# bench: instructions per transaction at 1 thread (valgrind callgrind), Lucid against sequential: a figure the machine's load cannot move.
#
# usage: bench/instructions.sh [-S SAMPLES_DIR] [-d DURATION_MS] [-b BENCHMARKS] [-r RUNS]
#
#   -S  where the sample programs are (default: samples)
#   -d  duration of one run in milliseconds, under valgrind (default 2000)
#   -b  benchmarks, as for bench/matrix.sh (default: all six)
#   -r  1-thread runs, as for bench/matrix.sh (default: "seq1 lucid1"); rec1
#       is Lucid recording to a file (LUCID_RECORD), on every benchmark
#
# Counts only what the worker threads execute (callgrind --toggle-collect=
# worker_main: not the set-up, not liburcu's reclamation thread) and divides
# by the transactions the run reports. Instructions are not time: a run that
# waits on memory (the 4096-key list) costs more time than its count says,
# but on a shared machine the count is the same from run to run.
set -euo pipefail
here=$(dirname "$0")
dir=samples dur=2000
benches="bank list-256 list-4096 rbtree skiplist hash"
runs="seq1 lucid1"
while getopts "S:d:b:r:h" opt; do
	case $opt in
	S) dir=$OPTARG ;;
	d) dur=$OPTARG ;;
	b) benches=$OPTARG ;;
	r) runs=$OPTARG ;;
	h) sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) exit 2 ;;
	esac
done
command -v valgrind >/dev/null || { echo "instructions: valgrind is needed" >&2; exit 2; }

declare -A ipt
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in $benches; do
	for r in $runs; do
		cmd=$(bash "$here/matrix.sh" -S "$dir" -l -b "$b" -r "$r" -R "$b" -T "" -d "$dur")
		# A recorded run is listed with LUCID_RECORD before it: record here.
		env=()
		case $cmd in
		LUCID_RECORD=*) rm -f "$tmp/rec.data"; env=(LUCID_RECORD="$tmp/rec.data"); cmd=${cmd#* } ;;
		esac
		[ -x "${cmd%% *}" ] || { echo "instructions: ${cmd%% *} was not built; skipped" >&2; continue; }
		out=$(env "${env[@]}" valgrind --tool=callgrind --toggle-collect=worker_main \
		      --callgrind-out-file=/dev/null $cmd 2>&1) ||
			{ echo "instructions: FAILED: $cmd" >&2; echo "$out" >&2; failed=1; continue; }
		ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out")
		txs=$(sed -n 's/.* txs=\([0-9]*\) .*/\1/p' <<<"$out")
		ipt[$b|$r]=$(awk -v i="$ir" -v t="$txs" 'BEGIN { printf "%.0f", i / t }')
		echo "instructions: $b $r: $ir instructions, $txs transactions" >&2
	done
done

echo
echo "Instructions per transaction at 1 thread (callgrind, worker threads only; runs of $dur ms)"
echo
hdr="| benchmark |" sep="|---|"
for r in $runs; do hdr+=" $r |"; sep+="---|"; done
first=${runs%% *}
for r in $runs; do [ "$r" = "$first" ] || { hdr+=" $first/$r |"; sep+="---|"; }; done
echo "$hdr"
echo "$sep"
for b in $benches; do
	row="| $b |"
	for r in $runs; do row+=" ${ipt[$b|$r]:--} |"; done
	for r in $runs; do
		[ "$r" != "$first" ] || continue
		if [ -n "${ipt[$b|$first]:-}" ] && [ -n "${ipt[$b|$r]:-}" ]; then
			row+=" $(awk -v a="${ipt[$b|$first]}" -v c="${ipt[$b|$r]}" 'BEGIN { printf "%.3f", a / c }') |"
		else
			row+=" - |"
		fi
	done
	echo "$row"
done
exit $failed
