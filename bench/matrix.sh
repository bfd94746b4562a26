#!/usr/bin/env bash
# bench: the benchmark matrix (bank and intset, every variant, 1 to 8 threads): medians and ratios.
#
# usage: bench/matrix.sh [-S SAMPLES_DIR] [-d DURATION_MS] [-k REPS] [-b BENCHMARKS]
#                        [-r RUNS] [-T THREADS] [-R RECORDED] [-o LOG] [-l]
#
#   -S  where the sample programs are (default: samples)
#   -d  duration of one run in milliseconds (default 1000)
#   -k  repetitions; medians are taken over them (default 5)
#   -b  benchmarks, of: bank list-256 list-4096 rbtree skiplist hash (default: all)
#   -r  runs, of: seq1 lucid1 lucid2 mutex1 mutex2 libitm1 libitm2 tinystm1 tinystm2
#       rec2 (default: all; the TinySTM runs where configure --with-tinystm
#       built samples/*-tinystm)
#   -T  extra thread counts for Lucid, oversubscribing this machine (default: "4 8")
#   -R  benchmarks that also run rec2, Lucid at 2 threads recording with
#       LUCID_RECORD (default: "bank rbtree")
#   -o  append every result line to LOG
#   -l  only list the commands, one per benchmark and run, and exit
#
# Each repetition runs every benchmark with every variant in turn, so that
# drift of this (shared) machine hits all variants alike. It reports and
# asserts nothing about speed; it fails only when a run fails or its
# invariant does not hold.
#
# One configuration, e.g. to profile the red-black tree at 1 thread:
#   bench/matrix.sh -b rbtree -r "seq1 lucid1" -T "" -d 2000 -k 3   Lucid against sequential
#   bench/matrix.sh -l -b rbtree -r lucid1 -T ""                     its command line, for perf
set -euo pipefail

invocation="bench/matrix.sh$(printf ' %q' "$@")"
dir=samples dur=1000 reps=5 log= list=0 runs_given=0
sel_benches="bank list-256 list-4096 rbtree skiplist hash"
sel_runs="seq1 lucid1 lucid2 mutex1 mutex2 libitm1 libitm2 tinystm1 tinystm2 rec2"
extra_threads="4 8"
recorded="bank rbtree"
while getopts "S:d:k:b:r:T:R:o:lh" opt; do
	case $opt in
	S) dir=$OPTARG ;;
	d) dur=$OPTARG ;;
	k) reps=$OPTARG ;;
	b) sel_benches=$OPTARG ;;
	r) sel_runs=$OPTARG runs_given=1 ;;
	T) extra_threads=$OPTARG ;;
	R) recorded=$OPTARG ;;
	o) log=$OPTARG ;;
	l) list=1 ;;
	h) sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) exit 2 ;;
	esac
done

# The workloads of issue 7 (TinySTM's benchmark settings).
declare -A workload=(
	[bank]="bank -a 1024 -r 1"
	[list-256]="intset -t list -i 256 -r 512 -u 20"
	[list-4096]="intset -t list -i 4096 -r 8192 -u 20"
	[rbtree]="intset -t rbtree -i 4096 -r 8192 -u 20"
	[skiplist]="intset -t skiplist -i 4096 -r 8192 -u 20"
	[hash]="intset -t hash -i 4096 -r 8192 -u 20 -b 65536"
)
# TinySTM 1.0.6's Lucid/sequential-like ratio at 1 thread on the same machine kind (issue 7).
declare -A tinystm=([bank]=0.148 [list-256]=0.224 [list-4096]=0.734 [rbtree]=0.548
                    [skiplist]=0.468 [hash]=0.447)
all_benches="bank list-256 list-4096 rbtree skiplist hash"

benches=()
for b in $sel_benches; do
	[ -n "${workload[$b]:-}" ] || { echo "matrix: unknown benchmark $b (known: $all_benches)" >&2; exit 2; }
	benches+=("$b")
done
runs=()
for r in $sel_runs; do
	case $r in
	seq1 | lucid[0-9]* | mutex[0-9]* | libitm[0-9]* | tinystm[0-9]* | rec[0-9]*) runs+=("$r") ;;
	*) echo "matrix: unknown run $r" >&2; exit 2 ;;
	esac
done
for t in $extra_threads; do
	runs+=("lucid$t")
done

# run name -> program suffix, thread count, whether it records
suffix() {
	case $1 in
	seq*) echo -seq ;; mutex*) echo -mutex ;; libitm*) echo -libitm ;; tinystm*) echo -tinystm ;;
	*) echo "" ;;
	esac
}
threads_of() { echo "${1//[a-z]/}"; }
applies() {   # bench run: whether the run belongs to the matrix for this benchmark
	case $2 in
	rec*) [[ " $recorded " == *" $1 "* ]] ;;
	*) return 0 ;;
	esac
}
command_of() {   # bench run rep
	local w=${workload[$1]}
	local prog=${w%% *} args=${w#* }
	echo "$dir/$prog$(suffix "$2") $args -n $(threads_of "$2") -d $dur -s $3"
}

# TinySTM is built only on request (configure --with-tinystm=DIR): unless
# its runs were asked for by name, they are left out where it was not.
if [ $runs_given -eq 0 ] && [ ! -x "$dir/intset-tinystm" ]; then
	kept=()
	for r in "${runs[@]}"; do
		case $r in tinystm*) ;; *) kept+=("$r") ;; esac
	done
	runs=("${kept[@]}")
fi
missing=()
for r in "${runs[@]}"; do
	for b in "${benches[@]}"; do
		applies "$b" "$r" || continue
		w=${workload[$b]}
		p="$dir/${w%% *}$(suffix "$r")"
		if [ ! -x "$p" ]; then
			[[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
		fi
	done
done
if [ $list -eq 1 ]; then
	for b in "${benches[@]}"; do
		for r in "${runs[@]}"; do
			applies "$b" "$r" || continue
			case $r in rec*) printf 'LUCID_RECORD=lucid.data ' ;; esac
			command_of "$b" "$r" 1
		done
	done
	exit 0
fi
for p in "${missing[@]}"; do
	case $p in
	*-libitm) echo "matrix: $p was not built (configure found no GCC TM): its runs are skipped" >&2 ;;
	*-tinystm) echo "matrix: $p was not built (configure --with-tinystm=DIR): its runs are skipped" >&2 ;;
	*) echo "matrix: $p was not built" >&2; exit 2 ;;
	esac
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A thr maxr cpus percpu
failed=0
start=$SECONDS
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

for ((rep = 1; rep <= reps; rep++)); do
	for b in "${benches[@]}"; do
		for r in "${runs[@]}"; do
			applies "$b" "$r" || continue
			cmd=$(command_of "$b" "$r" "$rep")
			[ -x "${cmd%% *}" ] || continue
			env=()
			case $r in rec*) rm -f "$tmp/rec.data"; env=(LUCID_RECORD="$tmp/rec.data") ;; esac
			# A hung run is a failure too, not a hung benchmark.
			if line=$(env "${env[@]}" timeout $((dur / 100 + 60)) $cmd 2>"$tmp/err") &&
			   [ "$(field invariant "$line")" = ok ]; then
				t=$(field throughput "$line") wall=$(field duration_ms "$line") cpu=$(field cpu_ms "$line")
				thr[$b|$r]+="$t "
				# How much CPU the run got (a loaded machine gives less than its
				# thread count), and what it did with it.
				cpus[$b|$r]+="$(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.3f", c / w }') "
				percpu[$b|$r]+="$(awk -v t="$t" -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.0f", (c > 0 ? t * w / c : 0) }') "
				m=$(field max_retries "$line")
				if [[ $m =~ ^[0-9]+$ ]] && [ "$m" -gt "${maxr[$b|$r]:--1}" ]; then
					maxr[$b|$r]=$m
				fi
			else
				echo "matrix: FAILED: $cmd" >&2
				echo "$line" >&2
				cat "$tmp/err" >&2
				failed=1
			fi
			[ -z "$log" ] || echo "${env[*]}${env[*]:+ }$line" >>"$log"
		done
	done
	echo "matrix: repetition $rep of $reps done ($((SECONDS - start)) s)" >&2
done

median() { tr ' ' '\n' | { grep . || true; } | sort -n |
	awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]
	                          else printf "%.10g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A med medcpus
for b in "${benches[@]}"; do
	for r in "${runs[@]}"; do
		med[$b|$r]=$(median <<<"${thr[$b|$r]:-}")
		medcpus[$b|$r]=$(median <<<"${cpus[$b|$r]:-}")
		med[$b|$r@cpu]=$(median <<<"${percpu[$b|$r]:-}")
	done
done

label() {
	case $1 in
	seq1) echo "seq 1T" ;;
	lucid*) echo "Lucid $(threads_of "$1")T" ;;
	mutex*) echo "mutex $(threads_of "$1")T" ;;
	libitm*) echo "libitm $(threads_of "$1")T" ;;
	tinystm*) echo "TinySTM $(threads_of "$1")T" ;;
	rec*) echo "Lucid $(threads_of "$1")T rec" ;;
	esac
}

echo
echo "$invocation"
echo "Throughput, million transactions per second: medians of $reps runs of $dur ms"
echo "($(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(date -u +%Y-%m-%d);" \
     "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
echo
hdr="| benchmark |" sep="|---|"
for r in "${runs[@]}"; do hdr+=" $(label "$r") |"; sep+="---|"; done
lucid_runs=()
for r in "${runs[@]}"; do case $r in lucid* | rec*) lucid_runs+=("$r") ;; esac; done
if [ ${#lucid_runs[@]} -gt 0 ]; then
	names=
	for r in "${lucid_runs[@]}"; do names+="$(label "$r" | sed 's/^Lucid //')/"; done
	hdr+=" Lucid max retries (${names%/}) |"
	sep+="---|"
fi
echo "$hdr"
echo "$sep"
for b in "${benches[@]}"; do
	row="| $b |"
	for r in "${runs[@]}"; do
		v=${med[$b|$r]}
		if [ -n "$v" ]; then row+=" $(awk -v v="$v" 'BEGIN { printf "%.3g", v / 1e6 }') |"; else row+=" - |"; fi
	done
	if [ ${#lucid_runs[@]} -gt 0 ]; then
		cell=
		for r in "${lucid_runs[@]}"; do cell+="${maxr[$b|$r]:--}/"; done
		row+=" ${cell%/} |"
	fi
	echo "$row"
done

echo
echo "CPUs the runs got (process CPU time / wall time), medians: a loaded machine gives less than the thread count"
echo
hdr="| benchmark |" sep="|---|"
for r in "${runs[@]}"; do hdr+=" $(label "$r") |"; sep+="---|"; done
echo "$hdr"
echo "$sep"
for b in "${benches[@]}"; do
	row="| $b |"
	for r in "${runs[@]}"; do
		v=${medcpus[$b|$r]}
		if [ -n "$v" ]; then row+=" $(awk -v v="$v" 'BEGIN { printf "%.2f", v }') |"; else row+=" - |"; fi
	done
	echo "$row"
done

# ratio rows: label numerator denominator (@cpu: throughput per CPU second)
ratios=(
	"Lucid/seq, 1 thread|lucid1|seq1"
	"Lucid/seq, 1 thread, per CPU second|lucid1@cpu|seq1@cpu"
	"Lucid 2 threads/1 thread|lucid2|lucid1"
	"Lucid/mutex, 2 threads|lucid2|mutex2"
	"Lucid/libitm, 2 threads|lucid2|libitm2"
	"TinySTM/seq, 1 thread|tinystm1|seq1"
	"Lucid/TinySTM, 1 thread|lucid1|tinystm1"
	"Lucid/TinySTM, 2 threads|lucid2|tinystm2"
	"TinySTM 2 threads/1 thread|tinystm2|tinystm1"
	"recording on/off, 2 threads|rec2|lucid2"
)
for t in $extra_threads; do
	ratios+=("Lucid $t threads/2 threads|lucid$t|lucid2")
done
echo
hdr="| ratio |" sep="|---|"
for b in "${benches[@]}"; do hdr+=" $b |"; sep+="---|"; done
echo "$hdr geomean |"
echo "$sep---|"
for spec in "${ratios[@]}"; do
	IFS='|' read -r name num den <<<"$spec"
	row="| $name |"
	vals=
	for b in "${benches[@]}"; do
		n=${med[$b|$num]:-} d=${med[$b|$den]:-}
		if [ -n "$n" ] && [ -n "$d" ] && [ "$d" != 0 ]; then
			x=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.3f", n / d }')
			row+=" $x |"
			vals+="$x "
		else
			row+=" - |"
		fi
	done
	[ -n "$vals" ] || continue   # no benchmark has both runs
	g=$(awk -v v="$vals" 'BEGIN { n = split(v, a, " "); if (n == 0) { print "-"; exit }
		s = 0; for (i = 1; i <= n; i++) s += log(a[i]); printf "%.3f", exp(s / n) }')
	[ "$g" = - ] || [ -z "${vals// /}" ] || [ "$(wc -w <<<"$vals")" -eq ${#benches[@]} ] || g="$g (of $(wc -w <<<"$vals"))"
	echo "$row $g |"
	if [ "$num|$den" = "lucid1|seq1" ]; then
		row="| TinySTM 1.0.6 (issue 7), seq ratio |" vals=
		for b in "${benches[@]}"; do row+=" ${tinystm[$b]} |"; vals+="${tinystm[$b]} "; done
		g=$(awk -v v="$vals" 'BEGIN { n = split(v, a, " "); s = 0; for (i = 1; i <= n; i++) s += log(a[i]); printf "%.3f", exp(s / n) }')
		echo "$row $g |"
	fi
done
echo
echo "matrix: $((SECONDS - start)) s"
exit $failed
