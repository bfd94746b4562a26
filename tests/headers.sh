#!/bin/sh
# tests: every public header compiles on its own, as C11 and as C++, warning-free.
set -eu
srcdir=${srcdir:-.}
CC=${CC:-cc}
CXX=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for h in lucid.h lucid/common.h lucid/conflict.h lucid/stats.h lucid/tx.h lucid/static/tx-inline.h; do
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
# Reads and writes nest inside each other without shadowing warnings.
cat > "$tmp/nest.c" <<'EOT'
#include <lucid.h>
struct node { struct node *next; long key; };
static struct node head;
long f(void);
long f(void)
{
	long k = 0;
	LUCID_ATOMIC {
		k = lucid_read(lucid_read(head.next)->key);
		lucid_write(lucid_read(head.next)->key, lucid_read(lucid_read(head.next)->key) + 1);
	}
	return k;
}
EOT
if ! $CC -std=gnu11 -Wall -Wextra -Wshadow -Werror -fsyntax-only -I"$srcdir/include" "$tmp/nest.c" 2>"$tmp/err"; then
	echo "FAIL: nested lucid_read/lucid_write warn under -Wshadow:"; cat "$tmp/err"; status=1
fi
# Misuse that must not compile: non-scalars and const targets.
reject() {
	printf '#include <lucid.h>\n%s\nvoid f(void);\nvoid f(void) { LUCID_ATOMIC { %s; } }\n' "$1" "$2" > "$tmp/n.c"
	if $CC -std=gnu11 -fsyntax-only -I"$srcdir/include" "$tmp/n.c" 2>/dev/null; then
		echo "FAIL: compiled, but must not: $1 ... $2"; status=1
	fi
}
# The same harness accepts correct code, so the rejections below mean something.
printf '#include <lucid.h>\nstatic long x;\nvoid f(void);\nvoid f(void) { LUCID_ATOMIC { lucid_write(x, lucid_read(x) + 1); } }\n' > "$tmp/ok.c"
if ! $CC -std=gnu11 -fsyntax-only -I"$srcdir/include" "$tmp/ok.c"; then
	echo "FAIL: the rejection harness does not compile correct code"; status=1
fi
reject 'static char arr[8];' '(void)lucid_read(arr)'
reject 'static int arr2[2];' 'lucid_write(arr2, 0)'
reject 'static const long c = 1;' 'lucid_write(c, 2L)'
reject 'static long double ld;' '(void)lucid_read(ld)'
reject 'static struct { char b[16]; } big;' '(void)lucid_read(big)'
reject 'void g(void);' '(void)lucid_read(g)'
[ $status -eq 0 ] && echo "PASS: public headers compile on their own (C and C++); misuse does not compile"
exit $status
