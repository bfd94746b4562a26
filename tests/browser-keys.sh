#!/bin/sh
# tests: the key references of docs/browser.md and lucid(1) are the browser's key table, as tui/keys-doc prints it.
#
# Each document holds the generated text between a BEGIN KEYS and an END
# KEYS marker line. After a change to the key table (tui/browser-keys.c),
# look at the differences, then refresh both documents with:
#   LUCID_UPDATE_DOCS=1 make check TESTS=tests/browser-keys.sh
set -u
srcdir=${srcdir:-.}
status=0

# check DOC FORMAT BEGIN END: the lines between the markers (lines that
# start with BEGIN and END) are `tui/keys-doc FORMAT`.
check() {
	doc=$srcdir/$1
	out=tests/browser-keys-$2.out
	if ! tui/keys-doc "$2" > "$out"; then
		echo "FAIL: tui/keys-doc $2 exited with $?"
		status=1
		return
	fi
	if ! grep -q -F -- "$3" "$doc" || ! grep -q -F -- "$4" "$doc"; then
		echo "FAIL: $1 has no \"$3\" ... \"$4\" markers"
		status=1
	elif [ -n "${LUCID_UPDATE_DOCS:-}" ]; then
		# (The markers go through the environment: awk -v would
		# take the backslash of .\" as an escape.)
		B=$3 E=$4 awk -v gen="$out" '
			BEGIN { b = ENVIRON["B"]; e = ENVIRON["E"] }
			index($0, e) == 1 { skip = 0 }
			!skip { print }
			index($0, b) == 1 { while ((getline l < gen) > 0) print l; skip = 1 }' "$doc" > "$out.new" &&
			cat "$out.new" > "$doc" && echo "UPDATED: $doc"
		rm -f "$out.new"
	else
		B=$3 E=$4 awk 'BEGIN { b = ENVIRON["B"]; e = ENVIRON["E"] }
			index($0, e) == 1 { f = 0 } f { print } index($0, b) == 1 { f = 1 }' "$doc" > "$out.doc"
		if diff -u "$out.doc" "$out"; then
			echo "PASS: $1 lists the keys of the key table"
		else
			echo "FAIL: $1 differs from the key table (tui/keys-doc $2); see above"
			status=1
		fi
		rm -f "$out.doc"
	fi
	rm -f "$out"
}

check docs/browser.md markdown '<!-- BEGIN KEYS' '<!-- END KEYS'
check man/lucid.1 man '.\" BEGIN KEYS' '.\" END KEYS'
exit $status
