/* tui: the browser's first screen: conflict hot spots, hottest first, with the recording's header; sort, group and filter keys. */
#include "config.h"

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conflict/reader.h"
#include "tui/browser-internal.h"
#include "tui/output.h"

#define TUI_SPARK 16               /* buckets in a row's sparkline */
#define TUI_SPARK_CACHE 256        /* sparklines kept (rows on screen, and some) */
#define TUI_SPARK_SAMPLE 4096      /* aborts of a row that its sparkline looks at, at most */
#define TUI_KIND_MAX 20
#define TUI_TEXT_MAX 60            /* widest label or side column */

/* A row's sparkline, by its group's first abort (which names a group
 * within one grouping, whatever the sort). */
struct tui_spark_entry {
	uint64_t first_abort;
	uint64_t gen;              /* the contents it was made for (0: empty) */
	char text[4 * TUI_SPARK + 1];
};

struct tui_main {
	struct tui_screen s;
	struct tui_browser *b;
	struct tui_view *v;        /* views[q.group] */
	struct tui_query q;
	char filter[512];
	struct tui_list list;
	/*
	 * A view per grouping already shown with this filter, so that g
	 * comes back to one without a pass over every abort (the filter or
	 * new aborts drop them); each with the generation of its contents,
	 * which sorting does not change.
	 */
	struct tui_view *views[TUI_GROUPS];
	uint64_t gens[TUI_GROUPS];
	uint64_t gen;              /* the last generation given */
	struct tui_spark_entry spark[TUI_SPARK_CACHE];
	/* The column layout of this draw. */
	int w_kind, w_label, w_side, w_other, w_rate, w_wasted, w_spark;
	bool has_label;
};

static const enum tui_action tui_main_hints[] = {
	TUI_ACT_ENTER, TUI_ACT_SORT, TUI_ACT_GROUP, TUI_ACT_FILTER, TUI_ACT_THREADS,
	TUI_ACT_PAUSE, TUI_ACT_HELP, TUI_ACT_QUIT, TUI_ACT_NONE,
};

static const char *tui_group_title(enum tui_group g)
{
	switch (g) {
	case TUI_GROUP_BLOCK: return "Atomic block";
	case TUI_GROUP_ADDRESS: return "Address";
	case TUI_GROUP_FUNCTION: return "Function";
	case TUI_GROUP_THREAD: return "Thread";
	default: return NULL; /* pair, stacks: the two sides say it */
	}
}

static const char *tui_group_words(enum tui_group g)
{
	switch (g) {
	case TUI_GROUP_BLOCK: return "atomic block";
	case TUI_GROUP_ADDRESS: return "address";
	case TUI_GROUP_FUNCTION: return "function";
	case TUI_GROUP_THREAD: return "thread";
	case TUI_GROUP_STACKS: return "exact stacks";
	default: return "conflict pair";
	}
}

static const char *tui_sort_words(enum tui_sort s)
{
	switch (s) {
	case TUI_SORT_ABORTS: return "aborts";
	case TUI_SORT_RATE: return "abort rate";
	default: return "wasted time";
	}
}

/* Row i's sparkline: from a sample of its aborts when it has many (the
 * shape is all a sparkline shows), kept while the view's contents stay. */
static const char *tui_main_spark(struct tui_main *mv, size_t i, const struct tui_row *r)
{
	uint64_t gen = mv->gens[mv->q.group];
	struct tui_spark_entry *e = &mv->spark[r->first_abort % TUI_SPARK_CACHE];

	if (e->gen != gen || e->first_abort != r->first_abort) {
		uint64_t counts[TUI_SPARK];

		tui_view_histogram_sample(mv->v, i, counts, TUI_SPARK, TUI_SPARK_SAMPLE);
		tui_sparkline(counts, TUI_SPARK, tui_utf8, e->text, sizeof(e->text));
		e->gen = gen;
		e->first_abort = r->first_abort;
	}
	return e->text;
}

static void tui_main_row(void *ctx, size_t i, int y, int x, int w, bool current)
{
	struct tui_main *mv = ctx;
	const struct tui_row *r = tui_view_row(mv->v, i);
	char buf[600], num[32];
	enum tui_paint p = current ? TUI_PAINT_SELECTED : TUI_PAINT_NORMAL;
	int at = x, end = x + w;

	tui_blank(y, x, w, p);
	tui_put_right(y, at, 7, tui_fmt_share(num, sizeof(num), r->share),
		      current ? p : tui_share_paint(r->share));
	at += 8;
	if (mv->w_wasted) {
		tui_put_right(y, at, mv->w_wasted, tui_fmt_ns(num, sizeof(num), r->wasted_ns), p);
		at += mv->w_wasted + 1;
	}
	snprintf(num, sizeof(num), "%" PRIu64, r->aborts);
	tui_put_right(y, at, 9, num, p);
	at += 10;
	if (mv->w_rate) {
		tui_put_right(y, at, mv->w_rate, tui_fmt_share(num, sizeof(num), r->abort_rate), p);
		at += mv->w_rate + 1;
	}
	at += 1;
	tui_row_kind_text(buf, sizeof(buf), r);
	tui_put(y, at, mv->w_kind, buf, p, true);
	at += mv->w_kind + 2;
	if (mv->has_label) {
		tui_put(y, at, mv->w_label, r->label, p, true);
		at += mv->w_label + 2;
	}
	tui_side_text(buf, sizeof(buf), &r->aborted);
	tui_put(y, at, mv->w_side, buf, p, true);
	at += mv->w_side + 2;
	tui_row_other_text(buf, sizeof(buf), r);
	tui_put(y, at, mv->w_other, buf, p, true);
	at += mv->w_other + 2;
	if (mv->w_spark && at + mv->w_spark <= end) {
		tui_put(y, at, 1, tui_vbar(), p, false);
		tui_put(y, at + 1, TUI_SPARK, tui_main_spark(mv, i, r), p, true);
		tui_put(y, at + 1 + TUI_SPARK, 1, tui_vbar(), p, false);
	}
}

/* Max-min fair shares: each column gets what it needs, or an equal part
 * of what is left when that is less. */
static void tui_share_widths(int *w, const int *need, int n, int avail)
{
	bool done[3] = { false, false, false };

	for (int left = n; left > 0; left--) {
		int k = -1;

		for (int i = 0; i < n; i++)
			if (!done[i] && (k < 0 || need[i] < need[k]))
				k = i;
		w[k] = need[k] < avail / left ? need[k] : avail / left;
		avail -= w[k];
		done[k] = true;
	}
}

/* Column widths for this terminal width: numbers first, then the text
 * columns (label, aborted side, other side) as their rows need them;
 * the sparkline only when the text is not cut much for it, and narrow
 * terminals lose the wasted time and the rate too. */
static void tui_main_layout(struct tui_main *mv, int cols)
{
	size_t n = tui_view_rows(mv->v), shown = mv->list.h > 0 ? (size_t)mv->list.h : 64;
	int need[3] = { 0, (int)strlen("Aborted side"), (int)strlen("Other side") }, w[3];
	int fixed, avail, total;
	char buf[600];

	mv->has_label = tui_group_title(mv->q.group) != NULL;
	if (mv->has_label)
		need[0] = tui_text_width(tui_group_title(mv->q.group));
	mv->w_kind = 4;
	for (size_t i = mv->list.top; i < n && i < mv->list.top + shown; i++) {
		const struct tui_row *r = tui_view_row(mv->v, i);
		int k;

		tui_row_kind_text(buf, sizeof(buf), r);
		if ((k = tui_text_width(buf)) > mv->w_kind)
			mv->w_kind = k > TUI_KIND_MAX ? TUI_KIND_MAX : k;
		if (mv->has_label && (k = tui_text_width(r->label)) > need[0])
			need[0] = k;
		tui_side_text(buf, sizeof(buf), &r->aborted);
		if ((k = tui_text_width(buf)) > need[1])
			need[1] = k;
		tui_row_other_text(buf, sizeof(buf), r);
		if ((k = tui_text_width(buf)) > need[2])
			need[2] = k;
	}
	for (int i = 0; i < 3; i++)
		if (need[i] > TUI_TEXT_MAX)
			need[i] = TUI_TEXT_MAX;
	mv->w_wasted = cols >= 70 ? 9 : 0;
	mv->w_rate = cols >= 80 ? 7 : 0;
	fixed = 8 + (mv->w_wasted ? mv->w_wasted + 1 : 0) + 10 + (mv->w_rate ? mv->w_rate + 1 : 0) + 1 +
		mv->w_kind + 2 + 2 + 2 + (mv->has_label ? 2 : 0);
	avail = cols - fixed;
	total = need[1] + need[2] + (mv->has_label ? need[0] : 0);
	mv->w_spark = avail - (TUI_SPARK + 2) >= (total < TUI_TEXT_MAX ? total : TUI_TEXT_MAX) ? TUI_SPARK + 2 : 0;
	avail -= mv->w_spark;
	if (avail < 12)
		avail = 12;
	if (mv->has_label) {
		tui_share_widths(w, need, 3, avail);
		mv->w_label = w[0];
	} else {
		tui_share_widths(w + 1, need + 1, 2, avail);
		mv->w_label = 0;
	}
	mv->w_side = w[1];
	mv->w_other = w[2];
}

static void tui_main_headings(struct tui_main *mv, int y, int cols)
{
	int at = 0;

	tui_blank(y, 0, cols, TUI_PAINT_TITLE);
	tui_put_right(y, at, 7, "Share", TUI_PAINT_TITLE);
	at += 8;
	if (mv->w_wasted) {
		tui_put_right(y, at, mv->w_wasted, "Wasted", TUI_PAINT_TITLE);
		at += mv->w_wasted + 1;
	}
	tui_put_right(y, at, 9, "Aborts", TUI_PAINT_TITLE);
	at += 10;
	if (mv->w_rate) {
		tui_put_right(y, at, mv->w_rate, "Rate", TUI_PAINT_TITLE);
		at += mv->w_rate + 1;
	}
	at += 1;
	tui_put(y, at, mv->w_kind, "Kind", TUI_PAINT_TITLE, false);
	at += mv->w_kind + 2;
	if (mv->has_label) {
		tui_put(y, at, mv->w_label, tui_group_title(mv->q.group), TUI_PAINT_TITLE, false);
		at += mv->w_label + 2;
	}
	tui_put(y, at, mv->w_side, "Aborted side", TUI_PAINT_TITLE, false);
	at += mv->w_side + 2;
	tui_put(y, at, mv->w_other, "Other side", TUI_PAINT_TITLE, false);
	at += mv->w_other + 2;
	if (mv->w_spark && at + mv->w_spark <= cols)
		tui_put(y, at, mv->w_spark, "When", TUI_PAINT_TITLE, false);
}

/* The recording's header: program, duration, figures, and what is shown. */
static int tui_main_header(struct tui_main *mv, struct tui_browser *b, int y)
{
	struct tui_summary s;
	struct tui_view_totals t;
	char line[1400], dur[16], wasted[16], pct[16], fw[16];

	tui_model_summary(b->m, &s);
	tui_view_totals(mv->v, &t);
	snprintf(line, sizeof(line), "Program: %s (pid %" PRIu32 ")%s",
		 s.cmdline[0] ? s.cmdline : s.program[0] ? s.program : "(unknown)", s.pid,
		 s.finished ? "" : ", still running or cut short");
	tui_put(y++, 0, b->cols, line, TUI_PAINT_NORMAL, false);
	snprintf(line, sizeof(line),
		 "Duration %s, %u thread%s | commits %" PRIu64 " | aborts %" PRIu64 " (%" PRIu64
		 " conflicts) | wasted %s = %s of the threads' time | dropped %" PRIu64,
		 tui_fmt_ns(dur, sizeof(dur), s.duration_ns), s.threads, s.threads == 1 ? "" : "s",
		 s.commits, s.aborts, s.conflicts, tui_fmt_ns(wasted, sizeof(wasted), s.wasted_ns),
		 tui_fmt_share(pct, sizeof(pct), s.wasted_share), s.dropped);
	tui_put(y++, 0, b->cols, line, TUI_PAINT_NORMAL, false);
	if (mv->q.filter) {
		char esc[600];

		rec_escape(esc, sizeof(esc), mv->filter, strlen(mv->filter));
		snprintf(line, sizeof(line),
			 "Grouped by %s, sorted by %s | filter \"%s\": %" PRIu64 " aborts, %s | %zu row%s",
			 tui_group_words(mv->q.group), tui_sort_words(mv->q.sort), esc, t.aborts,
			 tui_fmt_ns(fw, sizeof(fw), t.wasted_ns), t.groups, t.groups == 1 ? "" : "s");
	} else {
		snprintf(line, sizeof(line), "Grouped by %s, sorted by %s | %zu row%s",
			 tui_group_words(mv->q.group), tui_sort_words(mv->q.sort), t.groups,
			 t.groups == 1 ? "" : "s");
	}
	tui_put(y++, 0, b->cols, line, TUI_PAINT_HEADING, false);
	return y;
}

static void tui_main_draw(struct tui_screen *s, struct tui_browser *b, int y, int h)
{
	struct tui_main *mv = (struct tui_main *)s;
	int end = y + h;

	y = tui_main_header(mv, b, y);
	tui_main_layout(mv, b->cols);
	tui_main_headings(mv, y++, b->cols);
	if (!tui_view_rows(mv->v)) {
		char text[160];

		if (mv->q.filter)
			snprintf(text, sizeof(text), "No aborts match the filter; %s changes it, an empty one "
				 "shows all.", tui_key_name(TUI_ACT_FILTER, TUI_IN_MAIN));
		else
			snprintf(text, sizeof(text), "No aborts recorded (yet).");
		tui_put(y + 1, 2, b->cols - 2, text, TUI_PAINT_NORMAL, false);
		return;
	}
	tui_list_draw(&mv->list, y, 0, end - y, b->cols);
}

/* Drops the views kept for other groupings (their filter or aborts are
 * no longer the current ones). */
static void tui_main_drop_others(struct tui_main *mv)
{
	for (int g = 0; g < TUI_GROUPS; g++)
		if (g != (int)mv->q.group && mv->views[g]) {
			tui_view_free(mv->views[g]);
			mv->views[g] = NULL;
		}
}

/*
 * Shows the rows of mv->q, back at the hottest one: the grouping's kept
 * view when there is one (sorted again if need be: no pass over the
 * aborts), else a new one; with refilter, the filter changed and every
 * view is made again.
 */
static void tui_main_requery(struct tui_main *mv, struct tui_browser *b, bool refilter)
{
	struct tui_view **v = &mv->views[mv->q.group];

	if (refilter)
		tui_main_drop_others(mv);
	if (*v && (refilter || tui_view_query(*v)->sort != mv->q.sort)) {
		if (tui_view_set_query(*v, &mv->q) < 0)
			tui_message(b, true, "out of memory");
		if (refilter)
			mv->gens[mv->q.group] = ++mv->gen;
	} else if (!*v) {
		if (!(*v = tui_view_new(b->m, &mv->q))) {
			/* The current view stays on the screen. */
			tui_message(b, true, "out of memory");
			return;
		}
		mv->gens[mv->q.group] = ++mv->gen;
	}
	mv->v = *v;
	mv->list.pos = mv->list.top = 0;
	tui_list_set_count(&mv->list, tui_view_rows(mv->v));
}

static enum tui_handled tui_main_key(struct tui_screen *s, struct tui_browser *b, enum tui_action a)
{
	struct tui_main *mv = (struct tui_main *)s;

	if (tui_list_key(&mv->list, a))
		return TUI_HANDLED;
	switch (a) {
	case TUI_ACT_ENTER:
		if (tui_view_rows(mv->v))
			tui_push(b, tui_stacks_new(b, mv->v, mv->list.pos));
		return TUI_HANDLED;
	case TUI_ACT_SORT:
		mv->q.sort = (enum tui_sort)((mv->q.sort + 1) % TUI_SORTS);
		tui_main_requery(mv, b, false);
		tui_message(b, false, "Sorted by %s.", tui_sort_words(mv->q.sort));
		return TUI_HANDLED;
	case TUI_ACT_GROUP: {
		enum tui_group was = mv->q.group;

		mv->q.group = (enum tui_group)((mv->q.group + 1) % TUI_GROUPS);
		tui_main_requery(mv, b, false);
		if (mv->v != mv->views[mv->q.group]) /* out of memory: stay */
			mv->q.group = was;
		else
			tui_message(b, false, "Grouped by %s.", tui_group_words(mv->q.group));
		return TUI_HANDLED;
	}
	case TUI_ACT_FILTER:
		tui_prompt(b, "Filter (function or file, empty: all): ", mv->filter);
		return TUI_HANDLED;
	default:
		return TUI_UNHANDLED;
	}
}

static void tui_main_prompt_done(struct tui_screen *s, struct tui_browser *b, const char *text)
{
	struct tui_main *mv = (struct tui_main *)s;
	struct tui_view_totals t;

	snprintf(mv->filter, sizeof(mv->filter), "%s", text);
	mv->q.filter = mv->filter[0] ? mv->filter : NULL;
	tui_main_requery(mv, b, true);
	tui_view_totals(mv->v, &t);
	if (mv->q.filter)
		tui_message(b, false, "%" PRIu64 " aborts have a frame matching the filter.", t.aborts);
	else
		tui_message(b, false, "Filter cleared.");
}

/* --follow: the same query over the new aborts; the selection stays on
 * the same hot spot when it is still there. */
static void tui_main_refresh(struct tui_screen *s, struct tui_browser *b)
{
	struct tui_main *mv = (struct tui_main *)s;
	char *label = NULL;
	size_t n, pos = 0;

	if (mv->list.pos < tui_view_rows(mv->v))
		label = strdup(tui_view_row(mv->v, mv->list.pos)->label);
	tui_main_drop_others(mv);
	if (tui_view_refresh(mv->v) < 0)
		tui_message(b, true, "out of memory");
	mv->gens[mv->q.group] = ++mv->gen;
	n = tui_view_rows(mv->v);
	for (size_t i = 0; label && i < n; i++)
		if (strcmp(tui_view_row(mv->v, i)->label, label) == 0) {
			pos = i;
			break;
		}
	free(label);
	tui_list_set_count(&mv->list, n);
	tui_list_set_pos(&mv->list, pos);
}

static void tui_main_free(struct tui_screen *s)
{
	struct tui_main *mv = (struct tui_main *)s;

	for (int g = 0; g < TUI_GROUPS; g++)
		tui_view_free(mv->views[g]);
	free(mv);
}

static const struct tui_screen_ops tui_main_ops = {
	.name = "hot spots",
	.where = TUI_IN_MAIN,
	.draw = tui_main_draw,
	.key = tui_main_key,
	.on_update = tui_main_refresh,
	.prompt_done = tui_main_prompt_done,
	.hints = tui_main_hints,
	.free = tui_main_free,
};

struct tui_screen *tui_main_new(struct tui_browser *b)
{
	struct tui_main *mv = calloc(1, sizeof(*mv));

	if (!mv)
		return NULL;
	mv->s.ops = &tui_main_ops;
	mv->b = b;
	mv->q = b->o->query;
	if (mv->q.filter && mv->q.filter[0]) {
		snprintf(mv->filter, sizeof(mv->filter), "%s", mv->q.filter);
		mv->q.filter = mv->filter;
	} else {
		mv->q.filter = NULL;
	}
	mv->v = mv->views[mv->q.group] = tui_view_new(b->m, &mv->q);
	mv->gens[mv->q.group] = ++mv->gen;
	if (!mv->v) {
		free(mv);
		return NULL;
	}
	mv->list.ctx = mv;
	mv->list.draw_row = tui_main_row;
	tui_list_set_count(&mv->list, tui_view_rows(mv->v));
	return &mv->s;
}
