#!/bin/sh
# tests: faults around a running program: an unwritable recording path, a file size limit,
# the recording deleted while written, SIGKILL, memory exhausted by a write log, pthread_cancel.
# Each case: the program computes the right result (or stops with the promised message),
# Lucid prints exactly the one warning promised, and what is left of a recording reads back.
# (A full disk is tests/enospc.sh: it needs a mount namespace.)
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lucid-faults-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

fail() {
	echo "FAIL: $*"
	status=1
}

# one_warning CASE ERRFILE PATTERN: stderr holds exactly one line from Lucid, matching PATTERN.
one_warning() {
	n=$(grep -c '^lucid: ' "$2")
	if [ "$n" -ne 1 ] || ! grep -q "$3" "$2"; then
		fail "$1: expected one warning matching '$3', got $n lines:"
		cat "$2"
		return 1
	fi
}

# computed CASE OUTFILE: the program's result line says ok.
computed() {
	if ! grep -q ': ok$' "$2"; then
		fail "$1: the program did not compute the right result:"
		cat "$2"
		return 1
	fi
}

# readable CASE FILE STATUSES: rec_check reads FILE to one of STATUSES (e.g. "eof cut")
# with at least one abort, and stops exactly at its end when it ends cleanly.
readable() {
	tests/rec_check "$2" > "$tmp/check" 2>&1
	line=$(head -n 1 "$tmp/check")
	st=${line##*status=}
	ok=
	for want in $3; do
		[ "$st" = "$want" ] && ok=1
	done
	case "$line" in *" aborts=0 "*) ok= ;; esac
	if [ "$st" = eof ]; then
		end=${line##* end=}; end=${end%% *}
		size=${line##* size=}; size=${size%% *}
		[ "$end" = "$size" ] || ok=
	fi
	if [ -z "$ok" ]; then
		fail "$1: the recording does not read back as '$3':"
		cat "$tmp/check"
		return 1
	fi
	echo "PASS: $1: $line"
}

# --- An unwritable path: the program runs, without recording, after one warning.
for case in "missing directory|$tmp/no/such/dir/rec.lucid|cannot create: No such file or directory" \
            "a directory|$tmp|exists and is not a regular file" \
            "under a file|$tmp/plain/rec.lucid|cannot create: Not a directory"; do
	name=${case%%|*}; rest=${case#*|}; path=${rest%%|*}; msg=${rest#*|}
	: > "$tmp/plain"
	LUCID_RECORD=$path tests/fault_prog work -n 2 -i 500 > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ $rc -eq 0 ] || fail "unwritable ($name): exit $rc"
	computed "unwritable ($name)" "$tmp/out" &&
		one_warning "unwritable ($name)" "$tmp/err" "^lucid: not recording: .*$msg" &&
		echo "PASS: unwritable ($name): $(cat "$tmp/err")"
done
rm -f "$tmp/plain"

# --- The file grows past the process's file size limit (RLIMIT_FSIZE; SIGXFSZ
# ignored, as a program that sets such a limit would): writes fail with EFBIG.
(
	trap '' XFSZ
	ulimit -f 16
	LUCID_RECORD=$tmp/limited.lucid exec tests/fault_prog work -n 4 -i 5000
) > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "file size limit: exit $rc"
computed "file size limit" "$tmp/out" &&
	one_warning "file size limit" "$tmp/err" \
		"^lucid: recording to .*limited.lucid stopped: File too large; the program goes on" &&
	readable "file size limit" "$tmp/limited.lucid" "eof cut"

# --- The recording is deleted while the program runs.
LUCID_RECORD=$tmp/deleted.lucid tests/fault_prog delete "$tmp/deleted.lucid" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "deleted: exit $rc"
computed "deleted" "$tmp/out" &&
	one_warning "deleted" "$tmp/err" \
		"^lucid: recording to .*deleted.lucid stopped: the file was deleted; the program goes on" &&
	echo "PASS: deleted: $(cat "$tmp/err")"

# --- SIGKILL while recording: the file reads back up to where it stops.
LUCID_RECORD=$tmp/killed.lucid tests/fault_prog work -n 4 -i 100000000 > /dev/null 2> "$tmp/err" &
pid=$!
# Until the writer has flushed a few times (it drains every 20 ms), at most 60 s.
for i in $(seq 600); do
	size=$(stat -c %s "$tmp/killed.lucid" 2>/dev/null || echo 0)
	[ "$size" -gt 32768 ] && break
	sleep 0.1
done
kill -KILL $pid
wait $pid
rc=$?
[ $rc -eq 137 ] || fail "SIGKILL: the program ended with $rc before it was killed: $(cat "$tmp/err")"
readable "SIGKILL" "$tmp/killed.lucid" "eof cut"

# --- A write log outgrows the memory: a clear message, and nothing written.
# Under the sanitizers the address space cannot be limited; cap each
# allocation instead (the log's growth to 128 MiB is refused).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=64" \
TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS }allocator_may_return_null=1 max_allocation_size_mb=64" \
	tests/fault_prog oom-wlog > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "out of memory: exit $rc"
computed "out of memory" "$tmp/out" &&
	one_warning "out of memory" "$tmp/err" \
		"^lucid: fatal: out of memory growing a write log to [0-9]* entries" &&
	echo "PASS: out of memory: $(tail -n 1 "$tmp/out"); $(cat "$tmp/err")"

# --- pthread_cancel inside a transaction is refused: the program stops with
# the block's place and the fix.
tests/fault_prog cancel-inside > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -ne 134 ]; then
	fail "cancel inside: expected SIGABRT (134), exit $rc"
elif ! grep -q '^lucid: misuse: a thread exited inside the transaction of the LUCID_ATOMIC block at .*fault_prog.c:[0-9]* (in blocked_inside()) (it returned, called pthread_exit() or was cancelled)$' "$tmp/err" ||
     ! grep -q '^lucid: fix: .*pthread_setcancelstate()' "$tmp/err"; then
	fail "cancel inside: not the promised message:"
	cat "$tmp/err"
else
	echo "PASS: cancel inside: $(cat "$tmp/err")"
fi
# ... and cancellation outside transactions, or deferred past them as the
# fix says, leaves nothing locked: other threads go on committing.
for case in outside disabled; do
	tests/fault_prog cancel-$case > "$tmp/out" 2> "$tmp/err"
	rc=$?
	[ $rc -eq 0 ] || fail "cancel $case: exit $rc: $(cat "$tmp/out" "$tmp/err")"
	if computed "cancel $case" "$tmp/out"; then
		if [ -s "$tmp/err" ]; then
			fail "cancel $case: unexpected output: $(cat "$tmp/err")"
		else
			echo "PASS: cancel $case: $(tail -n 1 "$tmp/out")"
		fi
	fi
done

exit $status
