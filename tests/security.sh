#!/bin/sh
# tests: what a recording may touch: created 0600 whatever the umask, never through a
# symbolic link, never over a file that is not a Lucid recording, never opening a FIFO
# or device; nothing written but the given path (and PATH.PID after fork); and no
# environment variable makes the library run a program (it does not even import a
# function that could).
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lucid-security-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
	echo "FAIL: $*"
	status=1
}
# run PATH: the program records to PATH and must compute the right result.
run() {
	LUCID_RECORD=$1 tests/fault_prog work -n 2 -i 300 > "$tmp/out" 2> "$tmp/err"
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q ': ok$' "$tmp/out"; then
		fail "$case: the program failed (exit $rc): $(cat "$tmp/out" "$tmp/err")"
		return 1
	fi
}

# --- Mode 0600, even with umask 000.
case="mode"
(umask 000; run "$tmp/rec.lucid") || status=1
mode=$(stat -c %a "$tmp/rec.lucid" 2>/dev/null)
[ "$mode" = 600 ] && echo "PASS: $case: created $mode under umask 000" || fail "$case: mode $mode"

# --- A symbolic link is never followed: neither to an existing file nor to a new one.
case="symlink"
printf 'precious\n' > "$tmp/target"
ln -s "$tmp/target" "$tmp/link"
ln -s "$tmp/nothing-here" "$tmp/dangling"
for link in link dangling; do
	run "$tmp/$link" || continue
	grep -q "^lucid: not recording: .*$link: is a symbolic link; not followed$" "$tmp/err" ||
		fail "$case ($link): $(cat "$tmp/err")"
done
[ "$(cat "$tmp/target")" = precious ] || fail "$case: the link's target was changed"
[ -e "$tmp/nothing-here" ] && fail "$case: the dangling link's target was created"
[ $status -eq 0 ] && echo "PASS: $case: both refused, targets untouched"

# --- A file that is not a Lucid recording is never replaced; a recording is
# (LUCID_RECORD replaces recordings; lucid_record_start only when asked, see
# tests/check_hook.c).
case="not a recording"
printf 'notes\n' > "$tmp/notes.txt"
run "$tmp/notes.txt" &&
	{ grep -q "^lucid: not recording: .*notes.txt: exists and is not a Lucid recording; not replaced$" "$tmp/err" ||
		fail "$case: $(cat "$tmp/err")"; }
[ "$(cat "$tmp/notes.txt")" = notes ] && echo "PASS: $case: refused, file untouched" ||
	fail "$case: the file was changed"
case="replace"
before=$(stat -c %s "$tmp/rec.lucid")
run "$tmp/rec.lucid" && [ ! -s "$tmp/err" ] && head -c 8 "$tmp/rec.lucid" | grep -q LUCIDREC &&
	echo "PASS: $case: a recording ($before bytes) replaced" || fail "$case: $(cat "$tmp/err")"

# --- A FIFO (or a device) is not even opened: opening a FIFO would block.
case="fifo"
mkfifo "$tmp/fifo"
LUCID_RECORD=$tmp/fifo timeout 60 tests/fault_prog work -n 2 -i 300 > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "^lucid: not recording: .*fifo: exists and is not a regular file; not replaced$" "$tmp/err" &&
	echo "PASS: $case: refused without opening it" || fail "$case: exit $rc: $(cat "$tmp/err")"
case="device"
run /dev/null &&
	{ grep -q "^lucid: not recording: /dev/null: exists and is not a regular file; not replaced$" "$tmp/err" &&
		echo "PASS: $case: /dev/null refused" || fail "$case: $(cat "$tmp/err")"; }

# --- Nothing is written but the given path, and PATH.PID in a forked child:
# not in the working directory, TMPDIR or HOME, whatever else the environment says.
case="confined"
mkdir "$tmp/out-dir" "$tmp/cwd" "$tmp/tmpdir" "$tmp/home"
# ThreadSanitizer stops a child of a multi-threaded process that starts a
# thread (tests/check_record skips its fork case there too): no fork in that build.
fork=-f
[ "$(tests/fault_prog sanitizer)" = thread ] && fork=
(
	cd "$tmp/cwd" &&
	HOME=$tmp/home TMPDIR=$tmp/tmpdir LUCID_RECORD=$tmp/out-dir/rec.lucid \
	LUCID_BREAK='function=$(touch pwned)' LUCID_OREC_BITS=12 LUCID_SERIAL_AFTER=3 \
	LUCID_RECORD_DIR='$(touch pwned)' LUCID_DEBUG=1 \
		"$OLDPWD/tests/fault_prog" work -n 2 -i 300 $fork
) > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "$case: exit $rc: $(cat "$tmp/out" "$tmp/err")"
left=$(cd "$tmp" && find cwd tmpdir home -mindepth 1 | tr '\n' ' ')
[ -z "$left" ] || fail "$case: files written outside the given path: $left"
files=$(cd "$tmp/out-dir" && ls | tr '\n' ' ')
case "$fork:$files" in
"-f:rec.lucid rec.lucid."[0-9]*" ") [ $(ls "$tmp/out-dir" | wc -l) -eq 2 ] &&
	echo "PASS: $case: only $files" || fail "$case: $files" ;;
":rec.lucid ") echo "PASS: $case: only $files(no fork under ThreadSanitizer)" ;;
*) fail "$case: in the output directory: $files" ;;
esac

# --- A LUCID_BREAK that is not a specification is refused at start-up with the
# valid keys, and runs nothing.
case="bad break spec"
(
	cd "$tmp/cwd" &&
	LUCID_BREAK='kind=ww;touch pwned' "$OLDPWD/tests/fault_prog" work -n 2 -i 10
) > "$tmp/out" 2> "$tmp/err"
rc=$?
left=$(cd "$tmp" && find cwd -mindepth 1 | tr '\n' ' ')
if [ $rc -ne 0 ] && [ -z "$left" ] && grep -q 'unknown kind' "$tmp/err" && grep -q 'hits=N' "$tmp/err"; then
	echo "PASS: $case: refused (exit $rc), nothing run"
else
	fail "$case: exit $rc, left: $left: $(cat "$tmp/err")"
fi

# --- The library cannot start a program: it imports no function that could
# (exec*, system, popen, posix_spawn*, fork, vfork, clone, dlopen).
case="no exec"
lib=$(ls .libs/liblucid.so 2>/dev/null)
if [ -z "$lib" ] || ! command -v nm > /dev/null; then
	echo "PASS: $case: not checked (no shared library or no nm in this build)"
else
	bad=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' |
		grep -E '^(exec[lv]p?e?|execvpe|fexecve|system|popen|posix_spawnp?|fork|vfork|clone3?|dlopen|dlmopen)$')
	[ -z "$bad" ] && echo "PASS: $case: liblucid.so imports none of them" ||
		fail "$case: liblucid.so imports $bad"
fi
# ... nor through syscall(2): the only system calls it makes that way wait and
# wake (futex) and name the thread (gettid).
case="syscalls"
srcdir=${srcdir:-.}
calls=$(cat "$srcdir"/stm/*.c "$srcdir"/tx/*.c "$srcdir"/conflict/*.c |
	grep -oE 'syscall\((SYS|__NR)_[a-z0-9_]+' | sed 's/.*_\([a-z0-9]*\)$/\1/' | sort -u | tr '\n' ' ')
bad=$(echo "$calls" | tr ' ' '\n' | grep -vE '^(futex|gettid|membarrier|)$')
[ -n "$calls" ] && [ -z "$bad" ] && echo "PASS: $case: only $calls" || fail "$case: $calls"
exit $status
