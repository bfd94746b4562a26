#!/bin/sh
# tests: every variant of the benchmark programs runs briefly, with each option, and its invariant holds.
set -u
status=0
ran=0

# run EXPECTED_STATUS PROGRAM ARGS...: the program must exit with that status,
# and when it is 0, print one line that reports invariant=ok.
run() {
	want=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	ran=$((ran + 1))
	if [ "$rc" -eq "$want" ]; then
		case $want:$out in
		0:*invariant=ok*) echo "PASS: $*"; return ;;
		0:*) ;;
		*) echo "PASS: $* (refused, as it should be)"; return ;;
		esac
	fi
	echo "FAIL: $* (exit $rc, expected $want): $out"
	status=1
}

variants="intset intset-seq intset-mutex"
banks="bank bank-seq bank-mutex"
if grep -q '^#define LUCID_HAVE_GNU_TM 1' config.h; then
	variants="$variants intset-libitm"
	banks="$banks bank-libitm"
else
	echo "SKIP: the GCC TM (libitm) variants were not built (see configure's summary)"
fi
# Built only against a TinySTM named to configure (--with-tinystm=DIR).
if grep -q '^#define LUCID_HAVE_TINYSTM 1' config.h; then
	variants="$variants intset-tinystm"
	banks="$banks bank-tinystm"
else
	echo "SKIP: the TinySTM variants were not built (configure --with-tinystm=DIR)"
fi

for v in $variants; do
	case $v in *-seq) n=1 ;; *) n=4 ;; esac
	for t in list rbtree skiplist hash; do
		run 0 samples/$v -t $t -n $n -d 40 -i 256 -r 512 -u 20
		# Few keys, many updates: conflicts, rotations, empty levels and buckets.
		run 0 samples/$v -t $t -n $n -d 40 -i 8 -r 16 -u 80 -s 7
	done
	# Independent inserts and removals; collisions in a small hash table.
	run 0 samples/$v -t hash -n $n -d 40 -i 200 -r 400 -u 50 -a -b 16
	run 0 samples/$v -t rbtree -n $n -d 40 -i 0 -r 64 -u 100 -a
done
for v in $banks; do
	case $v in *-seq) n=1 ;; *) n=4 ;; esac
	run 0 samples/$v -n $n -d 40 -a 64 -r 10 -w 5
	run 0 samples/$v -n $n -d 40 -a 64 -j -r 0
	[ $n -gt 1 ] && run 0 samples/$v -n $n -d 40 -a 64 -R 1 -W 1 -r 5
done

# Wrong options are refused with status 2.
run 2 samples/intset -t tree
run 2 samples/intset -i 100 -r 50
run 2 samples/intset -t hash -b 1000
run 2 samples/intset-seq -n 2
run 2 samples/bank -n 2 -R 2 -W 1
run 2 samples/bank -r 60 -w 50

# The matrix script runs, parses the results and prints its tables.
out=$(bash "$srcdir/bench/matrix.sh" -S samples -d 20 -k 1 -b "bank hash" -r "seq1 lucid1 lucid2 rec2" -T 4 2>&1)
rc=$?
case $rc:$out in
0:*"| hash |"*"Lucid/seq, 1 thread |"*"recording on/off, 2 threads |"*) echo "PASS: bench/matrix.sh" ;;
*) echo "FAIL: bench/matrix.sh (exit $rc): $out"; status=1 ;;
esac
echo "$ran runs"
exit $status
