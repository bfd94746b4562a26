#!/bin/sh
# tests: the lucid_malloc/lucid_free cases of check_features under valgrind (no invalid access, no leak).
#
# list_free: a linked list with concurrent inserts, removes (lucid_free) and
# lookups; free_deferred and malloc_abort_released: when blocks are released
# and reclaimed. Each runs in one process (CK_FORK=no), so that valgrind sees
# the test itself and its leak check covers the whole run. Skipped (77) when
# valgrind is not installed or the build is instrumented by a sanitizer.
set -u
prog=./tests/check_features
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind-list: valgrind is not installed; skipped"
	exit 77
fi
if [ ! -x "$prog" ]; then
	echo "valgrind-list: $prog not built" >&2
	exit 99
fi
if ldd "$prog" 2>/dev/null | grep -q 'lib[at]san'; then
	echo "valgrind-list: $prog is built with a sanitizer; skipped"
	exit 77
fi
status=0
for case in list_free free_deferred malloc_abort_released; do
	echo "valgrind-list: $case"
	CK_RUN_CASE=$case CK_FORK=no LUCID_STRESS_SECONDS=${LUCID_STRESS_SECONDS_VALGRIND:-0.3} \
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	         --show-leak-kinds=definite \
	         "$prog" || status=1
done
exit $status
