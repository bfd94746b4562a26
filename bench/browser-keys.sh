#!/bin/sh
# bench: how long the browser takes to answer each key on a synthetic recording of a million aborts, driven through tmux.
#
# Usage (from the build directory, after make): bench/browser-keys.sh [ABORTS] [ROUNDS]
#
# Writes a recording of ABORTS aborts (default 1000000) with
# bench/gen-recording -S (PCs symbolized with libdw, as a real program's),
# opens it with `lucid report` in a detached tmux terminal of 160x50, and
# sends a scripted sequence of keys ROUNDS times (default 3): moves, every
# sort key, every grouping, a filter and its removal, the stacks, the
# source, the threads, the help. The browser logs, for each key, the time
# from reading it to having sent the new screen to the terminal
# (LUCID_BROWSER_KEYLOG); the script waits for each key's line before
# sending the next, then prints per key its median and worst time, and the
# worst of all. Not a test: the figures depend on the machine and on what
# else runs on it; BENCHMARKS.md has results.
set -eu
aborts=${1:-1000000}
rounds=${2:-3}
if ! command -v tmux > /dev/null 2>&1; then
	echo "browser-keys: needs tmux" >&2
	exit 1
fi
dir=$(mktemp -d -t lucid-browser-keys-XXXXXX)
server=lucid-browser-bench-$$
T() { tmux -L "$server" -f /dev/null "$@"; }
trap 'T kill-server 2>/dev/null || true; [ -n "${LUCID_KEEP_KEYLOG:-}" ] && cp "$log" "$LUCID_KEEP_KEYLOG"; rm -rf "$dir"' EXIT INT TERM

bench/gen-recording -S -o "$dir/rec.lucid" -n "$aborts"
log=$dir/keys.log
: > "$log"
T new-session -d -s bench -x 160 -y 50 \
	"LUCID_BROWSER_KEYLOG=$log ./lucid report $dir/rec.lucid; echo \$? > $dir/status"

lines() { wc -l < "$log"; }

# await N: until the log has N lines (a key answered), at most 5 minutes.
await() {
	i=0
	while [ "$(lines)" -lt "$1" ]; do
		if [ -f "$dir/status" ] || [ $i -ge 3000 ]; then
			echo "browser-keys: the browser stopped answering; its screen:" >&2
			T capture-pane -p -t bench >&2 || true
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

await 2
n=2
# One tmux key per entry; the prompt's text goes in one character at a time.
sequence="Down Down Down NPage NPage End Home s s s g g g g g g / f o r m a t Enter / C-u Enter
	Enter n Tab Enter Escape Escape t Escape ? Escape"
r=0
while [ $r -lt "$rounds" ]; do
	for k in $sequence; do
		T send-keys -t bench "$k"
		n=$((n + 1))
		await $n
	done
	r=$((r + 1))
done
T send-keys -t bench q
sleep 0.5

echo "lucid report on $aborts aborts (gen-recording -S), $rounds rounds of $(echo $sequence | wc -w) keys;"
echo "per key (name@screen): wall-clock and CPU ms from reading it to the new screen sent:"
sed -n 1p "$log" | awk '{ printf "  %-22s       wall %7.1f  cpu %7.1f (the main view built and drawn)\n", $1, $2, $3 }'
sed -n 2p "$log" | awk '{ printf "  %-22s       wall %7.1f  cpu %7.1f (from the start of lucid report: the load too)\n", $1, $2, $3 }'
# The six g of a round show block, address, function, thread and exact-stack
# grouping for the first time with that filter, then the pair grouping's kept
# view; the two Enter at the prompt set the filter, then clear it: named so.
sed 1,2d "$log" | awk '
	BEGIN { split("block address function thread stacks pair-kept", grp) }
	$1 == "g@hot-spots" { $1 = "g>" grp[ng++ % 6 + 1] "@hot-spots" }
	$1 == "Enter@prompt" { $1 = (np++ % 2 ? "Enter(clear)" : "Enter(filter)") "@prompt" }
	{ print }' | awk '
	function sort(v, c,   i, j, x) {
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
	}
	{
		n[$1]++; w[$1, n[$1]] = $2; u[$1, n[$1]] = $3
		if ($2 > ww) { ww = $2; wk = $1 }
		if ($3 > cw) { cw = $3; ck = $1 }
	}
	END {
		for (k in n) {
			c = n[k]
			for (i = 1; i <= c; i++) { a[i] = w[k, i]; b[i] = u[k, i] }
			sort(a, c); sort(b, c)
			printf "  %-22s x%-3d wall median %7.1f worst %7.1f   cpu median %7.1f worst %7.1f\n", k, c, a[int((c + 1) / 2)], a[c], b[int((c + 1) / 2)], b[c]
		}
		printf "  worst of all: wall %.1f ms (%s), cpu %.1f ms (%s)\n", ww, wk, cw, ck
	}' | sort
