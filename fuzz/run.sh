#!/bin/sh
# fuzz/run.sh: `make fuzz`'s runner: each harness runs under libFuzzer for a fixed time.
# Usage: run.sh SRCDIR/fuzz OUTDIR SECONDS NAME...
# Each NAME's corpus grows in OUTDIR/corpus/NAME (seeded from SRCDIR/fuzz/corpus/NAME);
# an input that crashes is left as OUTDIR/NAME-crash-* and the run fails.
set -u
src=$1 out=$2 seconds=$3
shift 3
failed=
for name in "$@"; do
	mkdir -p "$out/corpus/$name"
	[ -d "$src/corpus/$name" ] && cp -n "$src/corpus/$name"/* "$out/corpus/$name/" 2>/dev/null
	echo "fuzz: $name for $seconds s (corpus: $out/corpus/$name)"
	# A harness's words, when it has a dictionary (SRCDIR/fuzz/NAME.dict).
	dict=
	[ -f "$src/$name.dict" ] && dict=-dict=$src/$name.dict
	# One job on one core; inputs up to 64 KiB (records are small, a file
	# of a few of each type is enough); a single input taking 10 s is a hang.
	if ! "$out/$name" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$name-" $dict \
	    "$out/corpus/$name" > "$out/$name.log" 2>&1; then
		tail -n 40 "$out/$name.log"
		echo "fuzz: $name FAILED; the input is in $out/$name-*: fix the bug and keep the input" \
		     "as a regression test in fuzz/regress/$name/" >&2
		failed="$failed $name"
	else
		grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' \
			"$out/$name.log" | sed "s/^/fuzz: $name: /"
		echo "fuzz: $name: no crash in $seconds s"
	fi
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed" >&2; exit 1; }
