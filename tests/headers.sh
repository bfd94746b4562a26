#!/bin/sh
# tests: every public header compiles on its own, as C11 and as C++, warning-free.
set -eu
srcdir=${srcdir:-.}
CC=${CC:-cc}
CXX=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for h in lucid.h lucid/common.h lucid/stats.h lucid/tx.h lucid/static/tx-inline.h; do
	printf '#include <%s>\n#include <%s>\nint lucid_header_test_dummy;\n' "$h" "$h" > "$tmp/t.c"
	if ! $CC -std=gnu11 -Wall -Wextra -Werror -pedantic-errors -Wno-gnu-statement-expression \
	        -fsyntax-only -I"$srcdir/include" "$tmp/t.c" 2>"$tmp/err" &&
	   ! $CC -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$srcdir/include" "$tmp/t.c" 2>>"$tmp/err"; then
		echo "FAIL: <$h> does not compile on its own as C:"; cat "$tmp/err"; status=1
	fi
	if command -v "$CXX" >/dev/null 2>&1; then
		cp "$tmp/t.c" "$tmp/t.cc"
		if ! $CXX -Wall -Wextra -Werror -fsyntax-only -I"$srcdir/include" "$tmp/t.cc" 2>"$tmp/err"; then
			echo "FAIL: <$h> does not compile as C++:"; cat "$tmp/err"; status=1
		fi
	fi
done
# The macros work in C++ too.
cat > "$tmp/u.cc" <<'EOT'
#include <lucid.h>
static long x;
int f();
int f() { long y = 0; LUCID_ATOMIC { y = lucid_read(x); lucid_write(x, y + 1); } return (int)y; }
EOT
if command -v "$CXX" >/dev/null 2>&1 && ! $CXX -Wall -Wextra -Werror -fsyntax-only -I"$srcdir/include" "$tmp/u.cc" 2>"$tmp/err"; then
	echo "FAIL: LUCID_ATOMIC/lucid_read/lucid_write do not compile as C++:"; cat "$tmp/err"; status=1
fi
[ $status -eq 0 ] && echo "PASS: public headers compile on their own (C and C++)"
exit $status
