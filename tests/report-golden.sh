#!/bin/sh
# tests: lucid report's --stdio, --json and --folded outputs on a synthetic recording, against golden files.
#
# The recording comes from bench/gen-recording with fixed options, so it is
# the same bytes everywhere, and so is every report of it. After a change
# to the outputs, look at the differences, then refresh the golden files
# with: LUCID_UPDATE_GOLDEN=1 make check TESTS=tests/report-golden.sh
set -u
srcdir=${srcdir:-.}
golden=$srcdir/tests/golden
rec=tests/report-golden.lucid
LC_ALL=C
export LC_ALL
status=0

bench/gen-recording -o "$rec" -n 400 -k 16 -d 4 -b 3 -t 4 -s 7 || exit 1

check() {
	name=$1
	shift
	out=tests/report-golden-$name.out
	if ! ./lucid report "$rec" "$@" > "$out" 2> "$out.err"; then
		echo "FAIL: lucid report $* exited with $?: $(cat "$out.err")"
		status=1
		return
	fi
	if [ -n "${LUCID_UPDATE_GOLDEN:-}" ]; then
		cp "$out" "$golden/$name.txt"
		echo "UPDATED: $golden/$name.txt"
	elif diff -u "$golden/$name.txt" "$out"; then
		echo "PASS: lucid report $*"
	else
		echo "FAIL: lucid report $* differs from $golden/$name.txt"
		status=1
	fi
	rm -f "$out" "$out.err"
}

check stdio --stdio
check stdio-stacks --stdio --stacks --limit=2
check block-rate --stdio --group=block --sort=rate
check function-aborts --stdio --group=function --sort=aborts --limit=4
check address --stdio --group=address --limit=3
check thread --stdio --group=thread
check filter --stdio --filter=0X4010C5 --limit=5
check json --json --limit=3
check json-group --json --group=thread --sort=aborts --limit=2
check folded --folded
check folded-limit --folded --limit=2 --sort=aborts

# A recording without THREADS records (made before they were written):
# commits per thread are unknown, and said to be.
bench/gen-recording -o "$rec" -n 400 -k 16 -d 4 -b 3 -t 4 -s 7 -T || exit 1
check thread-no-threads-record --stdio --group=thread
check json-no-threads-record --json --limit=1

rm -f "$rec"
exit $status
