#!/bin/sh
# tests: the browser in a real terminal: tmux runs `lucid report`, keys go in with send-keys, screens come back with capture-pane.
#
# Each case starts `lucid report` in a detached tmux session of a known
# size, sends keys and waits until the screen shows what the keys should
# bring (up to LUCID_TEST_WAIT seconds, default 60: a deadline so that a
# broken browser fails instead of hanging, not a speed requirement). The
# expected texts come from the recording itself, through --stdio, so the
# browser and the text report are checked against each other.
#
# Skipped (77) when tmux is not installed. To watch a case, attach to its
# server while it runs: tmux -L lucid-browser-test-PID attach.
set -u
srcdir=${srcdir:-.}
wait_s=${LUCID_TEST_WAIT:-60}

if ! command -v tmux >/dev/null 2>&1; then
	echo "SKIP: tmux is not installed (Debian package tmux)"
	exit 77
fi

# A server of our own (by name, in tmux's own socket directory), so that
# tests never meet the user's sessions or each other.
server=lucid-browser-test-$$
work=tests/browser-test.$$
rm -rf "$work"
mkdir -p "$work" || exit 1
T() { tmux -L "$server" -f /dev/null "$@"; }
cleanup() {
	T kill-server 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

status=0
case_failed=0

fail() {
	echo "FAIL: $current: $*"
	case_failed=1
	status=1
}

screen() { T capture-pane -p -t browser 2>/dev/null; }

# start COLUMNS LINES LOCALE ARGS...: `lucid report ARGS` in a new terminal.
start() {
	cols=$1 lines=$2 loc=$3
	shift 3
	T kill-server 2>/dev/null
	rm -f "$work/status"
	T new-session -d -s browser -x "$cols" -y "$lines" \
		"LC_ALL=$loc ./lucid report $* 2> $work/stderr; echo \$? > $work/status.tmp; mv $work/status.tmp $work/status"
}

# settle: until three captures 0.15 s apart are the same, so that a
# screen seen half drawn (the terminal gets it in pieces) is not checked.
settle() {
	i=0
	same=0
	screen > "$work/settle.a"
	while [ $same -lt 2 ] && [ $i -lt $((wait_s * 10)) ]; do
		sleep 0.15
		screen > "$work/settle.b"
		if cmp -s "$work/settle.a" "$work/settle.b"; then
			same=$((same + 1))
		else
			same=0
		fi
		mv "$work/settle.b" "$work/settle.a"
		i=$((i + 1))
	done
}

# wait_for TEXT: until the screen shows TEXT (a fixed string), settled.
wait_for() {
	i=0
	while [ $i -lt $((wait_s * 10)) ]; do
		if screen | grep -qF -- "$1"; then
			settle
			return 0
		fi
		[ -f "$work/status" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	fail "the screen never showed \"$1\"; it shows:"
	screen
	[ -f "$work/status" ] && echo "(lucid report exited with $(cat "$work/status"): $(cat "$work/stderr"))"
	return 1
}

# wait_re REGEX: until a line of the screen matches REGEX (grep -E), settled.
wait_re() {
	i=0
	while [ $i -lt $((wait_s * 10)) ]; do
		if screen | grep -qE -- "$1"; then
			settle
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "no line of the screen ever matched \"$1\"; it shows:"
	screen
	return 1
}

# keys KEY...: tmux key names (Enter, Escape, Tab, Up...) or text.
keys() { T send-keys -t browser "$@"; }

# quit: q, then the exit status must be 0 and nothing on stderr.
quit() {
	keys q
	i=0
	while [ ! -f "$work/status" ] && [ $i -lt $((wait_s * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -f "$work/status" ]; then
		fail "q did not end lucid report; the screen:"
		screen
	elif [ "$(cat "$work/status")" != 0 ]; then
		fail "lucid report exited with $(cat "$work/status") after q: $(cat "$work/stderr")"
	elif [ -s "$work/stderr" ]; then
		fail "lucid report wrote to stderr: $(cat "$work/stderr")"
	fi
}

begin() {
	current=$1
	case_failed=0
}

end() {
	T kill-server 2>/dev/null
	[ $case_failed = 0 ] && echo "PASS: $current"
}

# The screen row that shows the hot spot at rank N (1: the first).
main_row() { screen | sed -n "$((5 + $1))p"; }

# The first data row of a --stdio report, and a figure of its header.
stdio_row() { grep -v '^#' | sed -n 1p; }

marker_line() { grep -n -F "$1" "$srcdir/samples/hotspot.c" | sed 's/:.*//'; }

# ------------------------------------------------------------ recordings

hot=$work/hot.data
if ! ./lucid record -o "$hot" -- samples/hotspot -n 4 -d 300 > "$work/record.out" 2>&1; then
	echo "FAIL: lucid record samples/hotspot: $(cat "$work/record.out")"
	exit 1
fi
./lucid report "$hot" --stdio > "$work/hot.txt" || exit 1
./lucid report "$hot" --stdio --stacks --limit=1 > "$work/hot-stacks.txt" || exit 1
hot_write=$(marker_line '/* HOT-WRITE */')
hot_read=$(marker_line '/* HOT-READ */')

syn=$work/syn.data
bench/gen-recording -o "$syn" -n 400 -k 16 -d 4 -b 3 -t 4 -s 7 || exit 1

# ------------------------------------------------------------ cases

# The first screen names the hot pair of the hotspot sample: its first
# row has the same sides as --stdio's first row, and counter_add at
# HOT-WRITE is the hot spot's line (on the other side of every conflict).
begin "first screen: the hot pair, hottest first"
start 120 40 C.UTF-8 "$hot"
if wait_for "Aborted side"; then
	side='\(counter_[a-z]* hotspot\.c:[0-9]*\|?\)'
	sides=$(stdio_row < "$work/hot.txt" | sed -n "s/.*$side  *$side .*/\1|\2/p")
	a=${sides%|*}
	o=${sides#*|}
	[ -n "$sides" ] || fail "no counter_ pair in --stdio's first row: $(stdio_row < "$work/hot.txt")"
	row=$(main_row 1)
	case "$row" in
	*"$a"*"$o"*) ;;
	*) fail "first row \"$row\" is not --stdio's first pair \"$a\" -> \"$o\"" ;;
	esac
	screen | sed -n '6,10p' | grep -q "counter_add hotspot\.c:$hot_write " ||
		fail "the first rows do not name counter_add at line $hot_write"
	aborts=$(sed -n 's/.*aborts: \([0-9]*\).*/\1/p' "$work/hot.txt")
	screen | grep -q "aborts $aborts (" || fail "the header does not say aborts $aborts"
	screen | grep -q "Program: .*hotspot -n 4 -d 300" || fail "the header does not name the program"
fi
quit
end

# Enter shows both stacks with every function --stdio --stacks names;
# Enter on the first frame shows its source line, marked.
begin "Enter: both stacks, then the source line"
start 120 40 C.UTF-8 "$hot"
wait_for "Aborted side" && keys Enter
if wait_for "Other side (thread"; then
	screen > "$work/screen"
	sed -n '/^Aborted side/,/^Other side/p' "$work/screen" > "$work/aborted"
	sed -n '/^Other side/,$p' "$work/screen" > "$work/other"
	sed -n '/aborted side/,/other side/p' "$work/hot-stacks.txt" | sed -n 's/^ *\([A-Za-z_0-9]*\) at .*hotspot\.c:.*/\1/p' > "$work/want-aborted"
	sed -n '/other side/,/address/p' "$work/hot-stacks.txt" | sed -n 's/^ *\([A-Za-z_0-9]*\) at .*hotspot\.c:.*/\1/p' > "$work/want-other"
	[ -s "$work/want-aborted" ] || fail "no hotspot.c frames in --stdio --stacks"
	for f in $(cat "$work/want-aborted"); do
		grep -q " $f " "$work/aborted" || fail "aborted side lacks $f"
	done
	for f in $(cat "$work/want-other"); do
		grep -q " $f " "$work/other" || fail "other side lacks $f"
	done
	# Frame #0 of the aborted side: its line is the one to see.
	top=$(grep -m1 '#0 ' "$work/aborted")
	line=$(echo "$top" | sed -n 's/.*hotspot\.c:\([0-9]*\).*/\1/p')
	case $line in
	"$hot_write") text='/* HOT-WRITE */' ;;
	"$hot_read") text='/* HOT-READ */' ;;
	*) text=; fail "frame #0 is not at a hot line: $top" ;;
	esac
	keys Enter
	if [ -n "$text" ] && wait_for "hotspot.c:$line"; then
		screen | grep -q "> *$line .*$(echo "$text" | sed 's/[*]/[*]/g')" ||
			{ fail "line $line is not shown marked with $text:"; screen; }
		screen | grep -q "^A.*> *$line " || fail "the aborted side's line $line has no A mark"
		keys Escape
		wait_for "Other side (thread" && keys Escape
		wait_for "Grouped by"
	fi
fi
quit
end

# / filters by function: only rows with counter_get remain, as in
# --stdio --filter; an unmatched filter says so; an empty one shows all.
begin "/ filters by function or file"
start 120 40 C.UTF-8 "$hot"
wait_for "Aborted side" && keys / counter_get Enter
if wait_for 'filter "counter_get"'; then
	n=$(./lucid report "$hot" --stdio --filter=counter_get | grep -v '^#' | grep -c 'hotspot\.c')
	got=$(screen | sed -n '6,$p' | grep -c 'hotspot\.c')
	[ "$got" = "$n" ] || fail "$got rows shown, --stdio --filter has $n"
	screen | sed -n '6,$p' | grep 'hotspot\.c' | grep -v counter_get && fail "a row without counter_get"
	keys / C-u no_such_function Enter
	wait_for "No aborts match the filter"
	keys / C-u Enter
	wait_for "Filter cleared"
	[ "$(screen | sed -n '6,$p' | grep -c 'hotspot\.c')" = "$(grep -v '^#' "$work/hot.txt" | grep -c 'hotspot\.c')" ] ||
		fail "an empty filter does not show every row again"
fi
quit
end

# g and s switch the grouping and the sort key: each screen's first ten
# rows (share and aborts) are --stdio's for the same options.
screen_rows() { screen | sed -n '6,15p' | awk 'NF {print $1, $4}'; }
stdio_rows() {
	./lucid report "$syn" --stdio "$@" | sed -n '/^# *Wasted/,/^#$/p' | grep -v '^#' |
		sed -n '1,10p' | awk '{print $1, $4}'
}
same_rows() { # WHAT ARGS...: the screen's rows are --stdio ARGS's
	what=$1
	shift
	stdio_rows "$@" > "$work/want"
	screen_rows > "$work/got"
	[ -s "$work/want" ] && diff "$work/want" "$work/got" > "$work/diff" ||
		{ fail "$what: rows differ from --stdio $*:"; cat "$work/diff"; }
}
begin "g and s: grouping and sort keys"
start 160 40 C "$syn"
if wait_for "Grouped by conflict pair, sorted by wasted time"; then
	same_rows "first screen"
	for g in "block:atomic block" "address:address" "function:function" "thread:thread" \
		"stacks:exact stacks" "pair:conflict pair"; do
		keys g
		wait_for "Grouped by ${g#*:}," || break
		same_rows "grouped by ${g%%:*}" --group="${g%%:*}"
	done
	keys s
	if wait_for "sorted by aborts"; then
		same_rows "sorted by aborts" --sort=aborts
		# Back to a grouping shown before, under the other sort key.
		keys g g
		wait_for "Grouped by address, sorted by aborts" &&
			same_rows "address by aborts" --group=address --sort=aborts
	fi
	keys s
	wait_for "sorted by abort rate" && same_rows "address by rate" --group=address --sort=rate
	keys s
	wait_for "sorted by wasted time"
fi
quit
end

# The terminal may be resized at any time: the stacks stand side by side
# on a wide one, one above the other on a narrow one; a tiny one says so.
begin "resize: side by side, stacked, too small"
start 120 40 C.UTF-8 "$hot"
wait_for "Aborted side" && keys Enter
if wait_for "Other side (thread"; then
	screen | grep -q "Aborted side.*Other side" && fail "side by side at 120 columns"
	T resize-window -t browser -x 200 -y 40
	wait_re "^Aborted side \(.*Other side \("
	T resize-window -t browser -x 60 -y 40
	wait_re "^Other side \("
	T resize-window -t browser -x 30 -y 5
	wait_for "too small"
	T resize-window -t browser -x 100 -y 30
	wait_for "Aborted side ("
fi
quit
end

# t: the threads screen lists the threads of --stdio's table, with their commits.
begin "t: the threads screen"
start 120 40 C.UTF-8 "$hot"
wait_for "Aborted side" && keys t
if wait_for "Threads, by wasted time"; then
	for tc in $(sed -n '/^# *Tid/,/^# (/p' "$work/hot.txt" | awk '$1 ~ /^[0-9]+$/ {print $1 ":" $2}'); do
		tid=${tc%:*} commits=${tc#*:}
		screen | grep -Eq "^ *$tid +$commits " || fail "thread $tid with $commits commits is not listed"
	done
	keys Escape
	wait_for "Grouped by"
fi
quit
end

# ? shows every line of the help generated from the key table.
begin "?: help from the key table"
start 120 60 C.UTF-8 "$hot"
wait_for "Aborted side" && keys ?
if wait_for "Keys of the browser"; then
	tui/keys-doc text | sed 's/ *$//' | while IFS= read -r l; do
		screen | grep -qF -- "$l" || { echo "FAIL: $current: help lacks \"$l\""; echo x >> "$work/help-missing"; }
	done
	[ -f "$work/help-missing" ] && fail "the help screen does not match the key table"
	keys Escape
	wait_for "Grouped by"
fi
quit
end

# Names from a recording are shown escaped: a file name with a "set
# title" and a "clear screen" sequence shows as text and does neither.
# Its source is not found; d gives a directory where it is.
begin "escaped names, and a source directory given with d"
names=$work/names.data
if ! ./lucid record -o "$names" -- tests/browser_names > "$work/names.out" 2>&1; then
	fail "lucid record tests/browser_names: $(cat "$work/names.out")"
else
	start 120 40 C.UTF-8 "$names"
	if wait_for 'names\x1b]0;pwned\x07'; then
		[ "$(T display-message -p -t browser '#{pane_title}')" = pwned ] && fail "the recording set the terminal's title"
		screen | grep -q '^ Lucid report' || fail "the title bar was cleared"
		keys Enter
		wait_for "Other side (thread" && keys Enter
		if wait_for "Cannot find the source file"; then
			mkdir -p "$work/src"
			i=1
			while [ $i -le 80 ]; do echo "source line $i"; i=$((i + 1)); done \
				> "$work/src/$(printf 'names\033]0;pwned\007\033[2J.c')"
			keys d "$work/src" Enter
			if wait_for "found at"; then
				line=$(screen | sed -n 's/^.*2J\.c:\([0-9]*\) .*/\1/p' | head -n 1)
				screen | grep -q "> *$line source line $line\$" ||
					{ fail "line $line not shown after d:"; screen; }
			fi
		fi
	fi
	quit
fi
end

# --follow reads what is appended every second; p pauses and resumes.
begin "--follow: live refresh and pause"
size=$(wc -c < "$syn")
third=$((size / 3))
head -c "$third" "$syn" > "$work/live1"
head -c "$((2 * third))" "$syn" > "$work/live2"
aborts_of() { ./lucid report "$1" --stdio 2>/dev/null | sed -n 's/.*aborts: \([0-9]*\).*/\1/p'; }
a1=$(aborts_of "$work/live1")
a2=$(aborts_of "$work/live2")
a3=$(aborts_of "$syn")
live=$work/live.data
cp "$work/live1" "$live"
start 120 40 C.UTF-8 --follow "$live"
if wait_for "aborts $a1 (" && wait_for "| live"; then
	tail -c "+$((third + 1))" "$work/live2" >> "$live"
	wait_for "aborts $a2 (" && keys p
	if wait_for "PAUSED"; then
		tail -c "+$((2 * third + 1))" "$syn" >> "$live"
		# Paused: two refresh periods go by without the new aborts.
		sleep 2.5
		screen | grep -q "aborts $a2 (" || fail "the screen changed while paused"
		keys p
		wait_for "aborts $a3 ("
		wait_for "finished"
	fi
fi
quit
end

exit $status
