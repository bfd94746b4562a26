#!/bin/sh
# tests: breakpoints on aborts: gdb in batch mode on samples/hotspot with the gdb extension, and LUCID_BREAK with and without a debugger.
#
# Skipped (77) only when gdb is not installed. Runs in the sanitizer builds
# too (ptrace works under ASan and TSan), with one change there: LeakSanitizer
# cannot run under a tracer (it stops the other threads with ptrace itself
# and refuses), so leak checking is off for the programs run under gdb; the
# run without a debugger keeps it.
set -u
srcdir=${srcdir:-.}
script=$srcdir/gdb/lucid-gdb.py
driver=$srcdir/tests/gdb-break.py
hot=samples/hotspot
# Long requests (-w) hold the shared counter longer, so conflicts come within
# moments; half the transactions are reports (-r), the readers of the
# counter; -d 0 runs until the program is told to stop, which each case does
# once it has seen what it waits for.
hot_args="-n 4 -d 0 -r 50 -w 2000"

if ! command -v gdb >/dev/null 2>&1; then
	echo "gdb-break: gdb is not installed; skipped"
	exit 77
fi
if ! gdb -nx -batch -ex 'python print("python-" + "ok")' 2>/dev/null | grep -q python-ok; then
	echo "gdb-break: this gdb has no Python, which the extension needs" >&2
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lucid-gdb-break-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
status=0

failed() {
	echo "FAIL: $1"
	shift
	for f in "$@"; do
		echo "--- $f:"
		cat "$f"
	done
	status=1
}

# gdb_case CASE [gdb options...]: runs tests/gdb-break.py's CASE in gdb on
# hotspot. `timeout` only guards against a hang; no case depends on time.
gdb_case() {
	c=$1
	shift
	LUCID_TEST_CASE=$c ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	timeout 300 ./libtool --mode=execute gdb -nx -batch "$@" -x "$driver" \
		--args $hot $hot_args >"$tmp/$c.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^PASS: $c\$" "$tmp/$c.out"; then
		echo "PASS: gdb $c"
		return 0
	fi
	failed "gdb $c (exit $rc)" "$tmp/$c.out"
	return 1
}

# `break lucid_debug_abort` stops at aborts (LUCID_CAPTURE=1 turns capture
# on); `lucid conflict` prints both sides' functions; the printer, `lucid
# stats`; the program then finishes with its invariant.
if LUCID_CAPTURE=1 gdb_case debug_abort -ex "source $script"; then
	grep -q 'invariant=ok' "$tmp/debug_abort.out" ||
		failed "gdb debug_abort: the program's result" "$tmp/debug_abort.out"
fi

# `lucid break function=counter_get` stops only at matching aborts, and at
# each of them (it turns capture on by itself: no LUCID_CAPTURE here).
if gdb_case break_function -ex "source $script"; then
	grep -q 'invariant=ok' "$tmp/break_function.out" ||
		failed "gdb break_function: the program's result" "$tmp/break_function.out"
fi

# LUCID_BREAK under gdb: hits=3 raises SIGTRAP at the third match, once.
if LUCID_BREAK=function=counter_get,hits=3 gdb_case trap_hits -ex "source $script"; then
	grep -q 'lucid: stopped by LUCID_BREAK (match 3)' "$tmp/trap_hits.out" &&
	grep -q 'invariant=ok' "$tmp/trap_hits.out" ||
		failed "gdb trap_hits: the stop note or the program's result" "$tmp/trap_hits.out"
fi

# gdb auto-loads the extension by the library's real path, as installed
# under $(datadir)/gdb/auto-load (the name is computed as gdb/Makemodule.am
# computes it).
real=$(sed -n "s/^library_names='\([^ ']*\).*/\1/p" liblucid.la)
if [ -n "$real" ] && [ -f ".libs/$real" ]; then
	dir=$tmp/auto-load$(cd .libs && pwd -P)
	mkdir -p "$dir" && cp "$script" "$dir/$real-gdb.py"
	gdb_case autoload -iex "set auto-load scripts-directory $tmp/auto-load" \
		-iex "set auto-load safe-path $tmp/auto-load"
else
	echo "gdb-break: no shared liblucid in this build: auto-load not checked"
fi

# LUCID_BREAK without a debugger: the third match is printed with both
# stacks, nothing else is, and the program goes on to its correct result.
LUCID_BREAK=function=counter_add,hits=3 $hot $hot_args >"$tmp/nodebug.out" 2>"$tmp/nodebug.err" &
pid=$!
i=0
while ! grep -q '(no debugger attached' "$tmp/nodebug.err" && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -INT $pid
wait $pid
rc=$?
n=$(grep -c 'LUCID_BREAK match' "$tmp/nodebug.err")
if [ $rc -eq 0 ] && [ "$n" -eq 1 ] && grep -q 'invariant=ok' "$tmp/nodebug.out" &&
   grep -q '^lucid: LUCID_BREAK match 3 (function=counter_add,hits=3): ' "$tmp/nodebug.err" &&
   grep -q '^lucid:   aborted transaction: thread [0-9]*, the atomic block at .*hotspot\.c:' "$tmp/nodebug.err" &&
   grep -Eq '^lucid:     #[0-9]+ +0x[0-9a-f]+ counter_add at .*hotspot\.c:[0-9]+' "$tmp/nodebug.err" &&
   grep -Eq '^lucid:     #[0-9]+ +0x[0-9a-f]+ worker_main at .*hotspot\.c:[0-9]+' "$tmp/nodebug.err" &&
   grep -q '(no debugger attached: the program goes on)' "$tmp/nodebug.err"; then
	echo "PASS: LUCID_BREAK without a debugger"
else
	failed "LUCID_BREAK without a debugger (exit $rc, $n reports)" "$tmp/nodebug.out" "$tmp/nodebug.err"
fi

# A bad specification stops the program before main() with the valid keys.
bad() {
	LUCID_BREAK=$1 $hot -n 1 -i 1 >"$tmp/bad.out" 2>"$tmp/bad.err"
	rc=$?
	ok=1
	[ $rc -ne 0 ] && [ ! -s "$tmp/bad.out" ] || ok=0
	shift
	for needle in "$@" 'lucid: fix: ' 'kind=' 'function=' 'address=' 'block=' 'hits=' 'every='; do
		grep -qF -- "$needle" "$tmp/bad.err" || ok=0
	done
	if [ $ok -eq 1 ]; then
		echo "PASS: LUCID_BREAK refused"
	else
		failed "LUCID_BREAK refused (exit $rc)" "$tmp/bad.out" "$tmp/bad.err"
	fi
}
bad 'color=red' 'lucid: misuse: LUCID_BREAK="color=red": unknown key "color"'
bad 'kind=rw|xx' 'unknown kind "xx" (kinds: rw, ww, read-invalid'
bad 'hits=0,kind=ww' 'hits=0: want a whole number'

exit $status
