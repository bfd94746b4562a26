#!/bin/sh
# tests: the disk fills up while a program records (ENOSPC), and a recording path on a
# read-only file system (EROFS): the program computes the right result after one warning,
# and the recording reads back up to where the disk filled. Needs a mount namespace with a
# small tmpfs: `unshare -rm` (a user namespace, no root needed), or `unshare -m` as root;
# skipped (77) only where neither is allowed.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lucid-enospc-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/small" "$tmp/ro"

ns=
for try in "unshare -rm" "unshare -m"; do
	if $try sh -c "mount -t tmpfs -o size=64k tmpfs '$tmp/small'" 2>/dev/null; then
		ns=$try
		break
	fi
done
if [ -z "$ns" ]; then
	echo "SKIP: no mount namespace can be made here (unshare -rm and unshare -m both refused)"
	exit 77
fi
echo "using: $ns"

# Inside the namespace: a 16 KiB tmpfs to fill, and a read-only one; what the
# program and the reader print goes to files outside them.
$ns sh -c '
	tmp=$1
	mount -t tmpfs -o size=16k tmpfs "$tmp/small" || exit 1
	mount -t tmpfs -o ro tmpfs "$tmp/ro" || exit 1
	LUCID_RECORD=$tmp/small/rec.lucid tests/fault_prog work -n 4 -i 10000 > "$tmp/full.out" 2> "$tmp/full.err"
	echo $? > "$tmp/full.rc"
	ls -l "$tmp/small" > "$tmp/full.ls"
	tests/rec_check "$tmp/small/rec.lucid" > "$tmp/full.check" 2>&1
	LUCID_RECORD=$tmp/ro/rec.lucid tests/fault_prog work -n 2 -i 500 > "$tmp/ro.out" 2> "$tmp/ro.err"
	echo $? > "$tmp/ro.rc"
' sh "$tmp"

status=0
fail() {
	echo "FAIL: $*"
	status=1
}

# The full disk.
[ "$(cat "$tmp/full.rc" 2>/dev/null)" = 0 ] || fail "disk full: exit $(cat "$tmp/full.rc" 2>/dev/null)"
grep -q ': ok$' "$tmp/full.out" || fail "disk full: wrong result: $(cat "$tmp/full.out")"
if [ "$(grep -c '^lucid: ' "$tmp/full.err")" -ne 1 ] ||
   ! grep -q '^lucid: recording to .*small/rec.lucid stopped: No space left on device; the program goes on$' "$tmp/full.err"; then
	fail "disk full: not the one promised warning:"
	cat "$tmp/full.err"
fi
line=$(head -n 1 "$tmp/full.check")
case "$line" in
*" aborts=0 "*|*status=damaged*|*status=error*|"open failed"*)
	fail "disk full: the recording does not read back: $(cat "$tmp/full.check")" ;;
*status=eof*|*status=cut*)
	echo "PASS: disk full: $(cat "$tmp/full.err"); $line" ;;
*)
	fail "disk full: $(cat "$tmp/full.check")" ;;
esac

# The read-only file system.
[ "$(cat "$tmp/ro.rc" 2>/dev/null)" = 0 ] || fail "read-only: exit $(cat "$tmp/ro.rc" 2>/dev/null)"
grep -q ': ok$' "$tmp/ro.out" || fail "read-only: wrong result: $(cat "$tmp/ro.out")"
if [ "$(grep -c '^lucid: ' "$tmp/ro.err")" -ne 1 ] ||
   ! grep -q '^lucid: not recording: .*ro/rec.lucid: cannot create: Read-only file system$' "$tmp/ro.err"; then
	fail "read-only: not the one promised warning:"
	cat "$tmp/ro.err"
else
	echo "PASS: read-only: $(cat "$tmp/ro.err")"
fi
exit $status
