#!/bin/sh
# tests: the samples run briefly and report that their invariants held.
set -u
status=0
run() {
	out=$("$@" 2>&1)
	rc=$?
	case "$out" in
	*invariant=ok*) [ $rc -eq 0 ] && { echo "PASS: $*"; return; } ;;
	esac
	echo "FAIL: $* (exit $rc): $out"
	status=1
}
run samples/bank -n 2 -d 300
run samples/bank -n 4 -d 300 -a 16 -r 20
run samples/bank-seq -d 100
run samples/bank-mutex -n 2 -d 100
run samples/queue -p 2 -c 2 -b 4 -n 20000
run samples/queue -p 3 -c 1 -b 1 -n 5000
run samples/queue -p 1 -c 3 -b 2 -n 5000
run samples/hotspot -n 4 -d 300
run samples/hotspot_fixed -n 4 -d 300
exit $status
