/* tui: the browser's threads screen: per thread, its commits, aborts and abort rate, the time they wasted and its share, and the aborts it caused. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tui/browser-internal.h"
#include "tui/output.h"

struct tui_threads {
	struct tui_screen s;
	struct tui_browser *b;
	const struct tui_thread *t;  /* the model's table, reread after an update */
	size_t n;
	struct tui_list list;
};

static const enum tui_action tui_threads_hints[] = {
	TUI_ACT_BACK, TUI_ACT_PAUSE, TUI_ACT_HELP, TUI_ACT_QUIT, TUI_ACT_NONE,
};

/* Columns: tid, commits, aborts, rate, wasted, share, caused; then a bar of
 * the share, as htop's meters. */
static void tui_threads_row(void *ctx, size_t i, int y, int x, int w, bool current)
{
	struct tui_threads *tv = ctx;
	const struct tui_thread *t = &tv->t[i];
	enum tui_paint p = current ? TUI_PAINT_SELECTED : TUI_PAINT_NORMAL;
	char buf[32], bar[64];
	int at = x, bw;

	tui_blank(y, x, w, p);
	snprintf(buf, sizeof(buf), "%" PRIu32, t->tid);
	tui_put_right(y, at, 10, buf, p);
	at += 11;
	if (t->commits_known)
		snprintf(buf, sizeof(buf), "%" PRIu64, t->commits);
	else
		snprintf(buf, sizeof(buf), "-");
	tui_put_right(y, at, 10, buf, p);
	at += 11;
	snprintf(buf, sizeof(buf), "%" PRIu64, t->aborts);
	tui_put_right(y, at, 10, buf, p);
	at += 11;
	tui_put_right(y, at, 7, tui_fmt_share(buf, sizeof(buf), t->abort_rate), p);
	at += 8;
	tui_put_right(y, at, 10, tui_fmt_ns(buf, sizeof(buf), t->wasted_ns), p);
	at += 11;
	tui_put_right(y, at, 8, tui_fmt_share(buf, sizeof(buf), t->wasted_share),
		      current ? p : tui_share_paint(t->wasted_share));
	at += 9;
	snprintf(buf, sizeof(buf), "%" PRIu64, t->caused);
	tui_put_right(y, at, 10, buf, p);
	at += 12;
	bw = x + w - at - 2;
	if (bw > (int)sizeof(bar) - 1)
		bw = (int)sizeof(bar) - 1;
	if (bw > 4) {
		double share = t->wasted_share > 1 ? 1 : t->wasted_share < 0 ? 0 : t->wasted_share;
		int k = (int)(share * bw + 0.5);

		for (int j = 0; j < bw; j++)
			bar[j] = j < k ? '#' : ' ';
		bar[bw] = '\0';
		tui_put(y, at, 1, "[", p, false);
		tui_put(y, at + 1, bw, bar, current ? p : tui_share_paint(t->wasted_share), false);
		tui_put(y, at + 1 + bw, 1, "]", p, false);
	}
}

static void tui_threads_draw(struct tui_screen *s, struct tui_browser *b, int y, int h)
{
	struct tui_threads *tv = (struct tui_threads *)s;
	struct tui_summary sum;
	char line[300], c[24];
	int end = y + h, at = 0;
	static const struct {
		const char *title;
		int w;
	} cols[] = { { "Tid", 10 }, { "Commits", 10 }, { "Aborts", 10 }, { "Rate", 7 },
		     { "Wasted", 10 }, { "Share", 8 }, { "Caused", 10 } };

	tui_model_summary(b->m, &sum);
	snprintf(c, sizeof(c), "%" PRIu64, sum.commits);
	snprintf(line, sizeof(line), "Threads, by wasted time: %zu | commits %s in all%s", tv->n, c,
		 tv->n && !tv->t[0].commits_known ? " (per thread: not in the recording)" : "");
	tui_put(y++, 0, b->cols, line, TUI_PAINT_HEADING, false);
	tui_put(y++, 0, b->cols,
		"Rate: aborts / (aborts + commits). Share: of the run's duration lost to aborts. "
		"Caused: others' aborts it caused.",
		TUI_PAINT_DIM, false);
	tui_blank(y, 0, b->cols, TUI_PAINT_TITLE);
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		tui_put_right(y, at, cols[i].w, cols[i].title, TUI_PAINT_TITLE);
		at += cols[i].w + 1;
	}
	tui_put(y, at + 1, b->cols - at - 1, "Share of the run", TUI_PAINT_TITLE, false);
	y++;
	if (!tv->n) {
		tui_put(y + 1, 2, b->cols - 2, "No thread has aborted or committed (yet).", TUI_PAINT_NORMAL,
			false);
		return;
	}
	tui_list_draw(&tv->list, y, 0, end - y, b->cols);
}

static enum tui_handled tui_threads_key(struct tui_screen *s, struct tui_browser *b, enum tui_action a)
{
	struct tui_threads *tv = (struct tui_threads *)s;

	(void)b;
	return tui_list_key(&tv->list, a) ? TUI_HANDLED : TUI_UNHANDLED;
}

static void tui_threads_refresh(struct tui_screen *s, struct tui_browser *b)
{
	struct tui_threads *tv = (struct tui_threads *)s;

	tv->t = tui_model_threads(b->m, &tv->n);
	tui_list_set_count(&tv->list, tv->n);
}

static void tui_threads_free(struct tui_screen *s)
{
	free(s);
}

static const struct tui_screen_ops tui_threads_ops = {
	.name = "threads",
	.where = TUI_IN_THREADS,
	.draw = tui_threads_draw,
	.key = tui_threads_key,
	.on_update = tui_threads_refresh,
	.hints = tui_threads_hints,
	.free = tui_threads_free,
};

struct tui_screen *tui_threads_new(struct tui_browser *b)
{
	struct tui_threads *tv = calloc(1, sizeof(*tv));

	if (!tv)
		return NULL;
	tv->s.ops = &tui_threads_ops;
	tv->b = b;
	tv->list.ctx = tv;
	tv->list.draw_row = tui_threads_row;
	tui_threads_refresh(&tv->s, b);
	return &tv->s;
}
