/* tui: the browser's stacks screen: both stacks of a hot spot, side by side or one above the other, the address, the threads. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/browser-internal.h"
#include "tui/output.h"

#define TUI_PAIRS_MAX 256          /* stack pairs of one hot spot that n/N step through */
#define TUI_TIDS_SHOWN 8
#define TUI_WIDE_COLS 140          /* from this width the stacks stand side by side */

enum tui_section { TUI_SEC_ABORTED = 0, TUI_SEC_OTHER, TUI_SEC_ALLOC, TUI_SECS };

enum tui_line_kind { TUI_LINE_BLANK, TUI_LINE_HEADING, TUI_LINE_TEXT, TUI_LINE_FRAME };

struct tui_line {
	enum tui_line_kind kind;
	enum tui_section sec;
	size_t index;              /* the frame's index in its stack */
	const struct tui_frame *f;
	char text[256];            /* headings and texts */
};

/* One column of lines, with its list. */
struct tui_column {
	struct tui_line *lines;
	size_t n, cap;
	struct tui_list list;
	int w_func, w_loc;         /* column widths of this draw */
};

struct tui_stacks {
	struct tui_screen s;
	struct tui_browser *b;
	/* The hot spot, copied from the main screen's row. */
	char *label;
	uint64_t aborts, wasted_ns, false_conflicts;
	double share, abort_rate;
	int kind;
	uint32_t block;
	struct tui_stack_pair pairs[TUI_PAIRS_MAX];
	size_t npairs, npairs_all, cur;
	struct tui_address addr;
	size_t naddrs;
	uint32_t tids[2][TUI_TIDS_SHOWN];
	size_t ntids[2];
	/* narrow: one column with every section; wide: aborted and alloc on
	 * the left, other on the right. */
	struct tui_column all, left, right;
	bool wide, drawn;          /* the layout of the last draw */
	int focus;                 /* wide: 0 left, 1 right */
	enum tui_section cur_sec;  /* the selected frame, kept across layouts */
	size_t cur_index;
};

static const enum tui_action tui_stacks_hints[] = {
	TUI_ACT_ENTER, TUI_ACT_SIDE, TUI_ACT_NEXT_PAIR, TUI_ACT_BACK, TUI_ACT_THREADS, TUI_ACT_PAUSE,
	TUI_ACT_HELP, TUI_ACT_QUIT, TUI_ACT_NONE,
};

static struct tui_line *tui_col_add(struct tui_column *c, enum tui_line_kind k, enum tui_section sec)
{
	struct tui_line *l;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		struct tui_line *v = realloc(c->lines, cap * sizeof(*v));

		if (!v)
			return NULL;
		c->lines = v;
		c->cap = cap;
	}
	l = &c->lines[c->n++];
	memset(l, 0, sizeof(*l));
	l->kind = k;
	l->sec = sec;
	return l;
}

static void tui_tids_text(char *buf, size_t len, const uint32_t *t, size_t n)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && i < TUI_TIDS_SHOWN && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu32, i ? ", " : "", t[i]);
	if (n > TUI_TIDS_SHOWN && at < len)
		snprintf(buf + at, len - at, " and %zu more", n - TUI_TIDS_SHOWN);
}

/* Appends one section (heading and frames) to c; -1 on out of memory. */
static int tui_col_section(struct tui_stacks *sv, struct tui_column *c, enum tui_section sec)
{
	const struct tui_stack_pair *p = &sv->pairs[sv->cur];
	uint32_t stack = sec == TUI_SEC_ABORTED ? p->stack : sec == TUI_SEC_OTHER ? p->other_stack
										 : sv->addr.alloc_stack;
	const struct tui_frame *f;
	struct tui_line *l;
	char tids[160];
	size_t n;

	if (c->n && !tui_col_add(c, TUI_LINE_BLANK, sec))
		return -1;
	if (!(l = tui_col_add(c, TUI_LINE_HEADING, sec)))
		return -1;
	switch (sec) {
	case TUI_SEC_ABORTED:
		tui_tids_text(tids, sizeof(tids), sv->tids[0], sv->ntids[0]);
		snprintf(l->text, sizeof(l->text), "Aborted side (thread %s)", tids);
		break;
	case TUI_SEC_OTHER:
		tui_tids_text(tids, sizeof(tids), sv->tids[1], sv->ntids[1]);
		snprintf(l->text, sizeof(l->text), "Other side (thread %s)", sv->ntids[1] ? tids : "unknown");
		break;
	default:
		snprintf(l->text, sizeof(l->text), "Allocated by lucid_malloc (address 0x%" PRIx64 ")",
			 sv->addr.address);
		break;
	}
	if (sec == TUI_SEC_OTHER && sv->kind >= 0 && !tui_kind_is_conflict(sv->kind)) {
		snprintf(l->text, sizeof(l->text), "No other side: %s is not a conflict between two "
			 "transactions", tui_kind_name(sv->kind));
		return 0;
	}
	f = tui_model_frames(sv->b->m, stack, &n);
	if (!n) {
		if (!(l = tui_col_add(c, TUI_LINE_TEXT, sec)))
			return -1;
		snprintf(l->text, sizeof(l->text), "%s",
			 sec == TUI_SEC_OTHER ? "(not known: the recorder found no trace of the other "
						"transaction's access)"
					      : "(no stack recorded)");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(l = tui_col_add(c, TUI_LINE_FRAME, sec)))
			return -1;
		l->f = &f[i];
		l->index = i;
	}
	return 0;
}

static bool tui_line_selectable(void *ctx, size_t i)
{
	const struct tui_column *c = ctx;

	return i < c->n && c->lines[i].kind == TUI_LINE_FRAME;
}

static const char *tui_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void tui_loc_text(char *buf, size_t len, const struct tui_frame *f)
{
	if (f->line)
		snprintf(buf, len, "%s:%u", f->file, f->line);
	else
		snprintf(buf, len, "%s", strcmp(f->file, "??") ? f->file : "");
}

static void tui_line_draw(void *ctx, size_t i, int y, int x, int w, bool current)
{
	struct tui_column *c = ctx;
	const struct tui_line *l = &c->lines[i];
	enum tui_paint p = current ? TUI_PAINT_SELECTED : TUI_PAINT_NORMAL;
	char buf[600];
	int at = x;

	tui_blank(y, x, w, p);
	switch (l->kind) {
	case TUI_LINE_HEADING:
		tui_put(y, x, w, l->text, TUI_PAINT_HEADING, false);
		return;
	case TUI_LINE_TEXT:
		tui_put(y, x + 2, w - 2, l->text, TUI_PAINT_DIM, false);
		return;
	case TUI_LINE_BLANK:
		return;
	case TUI_LINE_FRAME:
		break;
	}
	snprintf(buf, sizeof(buf), "#%zu", l->index);
	tui_put(y, at + 1, 4, buf, current ? p : TUI_PAINT_DIM, false);
	at += 5;
	tui_put(y, at, c->w_func, l->f->function, p, true);
	at += c->w_func + 2;
	tui_loc_text(buf, sizeof(buf), l->f);
	tui_put(y, at, c->w_loc, buf, p, true);
	at += c->w_loc + 2;
	snprintf(buf, sizeof(buf), "%s%s", l->f->inlined ? "(inlined) " : "", tui_base(l->f->module));
	if (at < x + w)
		tui_put(y, at, x + w - at, buf, current ? p : TUI_PAINT_DIM, false);
}

/* Widths of the function and file:line columns for a column w wide:
 * what the frames need, at most two fifths each. */
static void tui_col_layout(struct tui_column *c, int w)
{
	int wf = 8, wl = 8, max = (w - 5) * 2 / 5;
	char buf[600];

	for (size_t i = 0; i < c->n; i++) {
		int k;

		if (c->lines[i].kind != TUI_LINE_FRAME)
			continue;
		if ((k = tui_text_width(c->lines[i].f->function)) > wf)
			wf = k;
		tui_loc_text(buf, sizeof(buf), c->lines[i].f);
		if ((k = tui_text_width(buf)) > wl)
			wl = k;
	}
	c->w_func = wf < max ? wf : max;
	c->w_loc = wl < max ? wl : max;
}

static void tui_col_clear(struct tui_column *c)
{
	c->n = 0;
	c->list.pos = c->list.top = 0;
}

/* Builds the columns for the current stack pair; -1 on out of memory. */
static int tui_stacks_build(struct tui_stacks *sv)
{
	tui_col_clear(&sv->all);
	tui_col_clear(&sv->left);
	tui_col_clear(&sv->right);
	if (!sv->npairs)
		return 0;
	for (int s = 0; s < TUI_SECS; s++) {
		if (s == TUI_SEC_ALLOC && !sv->addr.alloc_stack)
			continue;
		if (tui_col_section(sv, &sv->all, (enum tui_section)s) < 0 ||
		    tui_col_section(sv, s == TUI_SEC_OTHER ? &sv->right : &sv->left, (enum tui_section)s) < 0)
			return -1;
	}
	tui_list_set_count(&sv->all.list, sv->all.n);
	tui_list_set_count(&sv->left.list, sv->left.n);
	tui_list_set_count(&sv->right.list, sv->right.n);
	tui_list_set_pos(&sv->all.list, 0);
	tui_list_set_pos(&sv->left.list, 0);
	tui_list_set_pos(&sv->right.list, 0);
	sv->focus = 0;
	sv->cur_sec = TUI_SEC_ABORTED;
	sv->cur_index = 0;
	return 0;
}

static struct tui_column *tui_stacks_focused(struct tui_stacks *sv)
{
	if (!sv->wide)
		return &sv->all;
	return sv->focus ? &sv->right : &sv->left;
}

/* The selected line, or NULL. */
static const struct tui_line *tui_stacks_current(struct tui_stacks *sv)
{
	struct tui_column *c = tui_stacks_focused(sv);

	return c->list.pos < c->n && c->lines[c->list.pos].kind == TUI_LINE_FRAME ? &c->lines[c->list.pos]
										  : NULL;
}

/* Selects frame (sec, index) in the current layout, if it is there. */
static void tui_stacks_select(struct tui_stacks *sv, enum tui_section sec, size_t index)
{
	struct tui_column *c;

	if (sv->wide)
		sv->focus = sec == TUI_SEC_OTHER;
	c = tui_stacks_focused(sv);
	for (size_t i = 0; i < c->n; i++)
		if (c->lines[i].kind == TUI_LINE_FRAME && c->lines[i].sec == sec && c->lines[i].index == index) {
			tui_list_set_pos(&c->list, i);
			return;
		}
}

static void tui_stacks_remember(struct tui_stacks *sv)
{
	const struct tui_line *l = tui_stacks_current(sv);

	if (l) {
		sv->cur_sec = l->sec;
		sv->cur_index = l->index;
	}
}

static void tui_stacks_draw(struct tui_screen *s, struct tui_browser *b, int y, int h)
{
	struct tui_stacks *sv = (struct tui_stacks *)s;
	const struct tui_block *blk = tui_model_block(b->m, sv->block);
	char line[1200], wasted[16], pct[16], rate[16], blktext[600];
	int end = y + h;
	bool wide = b->cols >= TUI_WIDE_COLS;

	if (!sv->drawn || wide != sv->wide) {
		sv->wide = wide;
		tui_stacks_select(sv, sv->cur_sec, sv->cur_index);
		sv->drawn = true;
	}
	tui_put(y++, 0, b->cols, sv->label, TUI_PAINT_HEADING, false);
	if (blk)
		snprintf(blktext, sizeof(blktext), " of the block in %s %s:%u", blk->function,
			 tui_base(blk->file), blk->line);
	else
		blktext[0] = '\0';
	snprintf(line, sizeof(line), "%s%s | %" PRIu64 " abort%s | %s wasted (%s) | abort rate %s%s",
		 sv->kind < 0 ? "mixed kinds" : tui_kind_name(sv->kind),
		 sv->false_conflicts ? ", false conflicts" : "", sv->aborts, sv->aborts == 1 ? "" : "s",
		 tui_fmt_ns(wasted, sizeof(wasted), sv->wasted_ns), tui_fmt_share(pct, sizeof(pct), sv->share),
		 sv->abort_rate < 0 ? "unknown" : tui_fmt_share(rate, sizeof(rate), sv->abort_rate), blktext);
	tui_put(y++, 0, b->cols, line, TUI_PAINT_NORMAL, false);
	if (sv->npairs) {
		const struct tui_stack_pair *p = &sv->pairs[sv->cur];

		snprintf(line, sizeof(line), "Stack pair %zu of %zu%s: %" PRIu64 " abort%s, %s", sv->cur + 1,
			 sv->npairs_all, sv->npairs_all > sv->npairs ? " (the first ones shown)" : "", p->aborts,
			 p->aborts == 1 ? "" : "s", tui_fmt_ns(wasted, sizeof(wasted), p->wasted_ns));
		tui_put(y++, 0, b->cols, line, TUI_PAINT_NORMAL, false);
	}
	if (sv->naddrs && sv->addr.address) {
		int n = snprintf(line, sizeof(line), "Address 0x%" PRIx64, sv->addr.address);

		if (sv->addr.false_conflict)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      ": a false conflict with 0x%" PRIx64
				      ", another word under the same ownership record",
				      sv->addr.other_address);
		if (sv->naddrs > 1)
			snprintf(line + n, sizeof(line) - (size_t)n, " (and %zu more addresses)", sv->naddrs - 1);
		tui_put(y++, 0, b->cols, line, TUI_PAINT_NORMAL, false);
	}
	y++;
	if (y >= end)
		return;
	if (!sv->npairs) {
		tui_put(y, 2, b->cols - 2, "No stacks in this hot spot.", TUI_PAINT_NORMAL, false);
		return;
	}
	if (!sv->wide) {
		tui_col_layout(&sv->all, b->cols);
		tui_list_draw(&sv->all.list, y, 0, end - y, b->cols);
	} else {
		int half = (b->cols - 1) / 2;

		tui_col_layout(&sv->left, half);
		tui_col_layout(&sv->right, b->cols - half - 1);
		tui_list_draw(&sv->left.list, y, 0, end - y, half);
		for (int r = y; r < end; r++)
			tui_put(r, half, 1, tui_vbar(), TUI_PAINT_DIM, false);
		tui_list_draw(&sv->right.list, y, half + 1, end - y, b->cols - half - 1);
		/* Only the focused column shows its selection. */
		if (!sv->focus && sv->right.list.pos < sv->right.n)
			tui_line_draw(&sv->right, sv->right.list.pos,
				      y + (int)(sv->right.list.pos - sv->right.list.top), half + 1,
				      b->cols - half - 1, false);
		else if (sv->focus && sv->left.list.pos < sv->left.n)
			tui_line_draw(&sv->left, sv->left.list.pos,
				      y + (int)(sv->left.list.pos - sv->left.list.top), 0, half, false);
	}
}

/* The source screen for the selected frame, with both sides' lines
 * marked when they lie in the same file. */
static void tui_stacks_source(struct tui_stacks *sv, struct tui_browser *b)
{
	const struct tui_line *l = tui_stacks_current(sv);
	const struct tui_stack_pair *p = &sv->pairs[sv->cur];
	struct tui_source_mark marks[3];
	size_t nm = 0;

	if (!l)
		return;
	if (!l->f->line || strcmp(l->f->file, "??") == 0) {
		tui_message(b, true, "No source line for %s: %s has no debug information for it.",
			    l->f->function, tui_base(l->f->module));
		return;
	}
	/* Each side's innermost frame in this file: where its access is,
	 * or the call that leads to it. */
	for (int side = 0; side < 2; side++) {
		size_t n;
		const struct tui_frame *f = tui_model_frames(b->m, side ? p->other_stack : p->stack, &n);

		for (size_t i = 0; i < n; i++)
			if (f[i].line && strcmp(f[i].file, l->f->file) == 0) {
				marks[nm].line = f[i].line;
				marks[nm++].marker = side ? 'O' : 'A';
				break;
			}
	}
	marks[nm].line = 0;
	marks[nm].marker = 0;
	tui_push(b, tui_source_new(b, l->f->file, l->f->line, marks));
}

static enum tui_handled tui_stacks_key(struct tui_screen *s, struct tui_browser *b, enum tui_action a)
{
	struct tui_stacks *sv = (struct tui_stacks *)s;
	struct tui_column *c = tui_stacks_focused(sv);

	if (tui_list_key(&c->list, a)) {
		tui_stacks_remember(sv);
		return TUI_HANDLED;
	}
	switch (a) {
	case TUI_ACT_ENTER:
		tui_stacks_source(sv, b);
		return TUI_HANDLED;
	case TUI_ACT_SIDE:
		if (sv->wide) {
			sv->focus = !sv->focus;
			if (!tui_stacks_current(sv))
				tui_list_set_pos(&tui_stacks_focused(sv)->list, 0);
		} else {
			/* The first frame of the next section, round. */
			const struct tui_line *cur = tui_stacks_current(sv);
			size_t from = c->list.pos;

			for (size_t k = 1; k <= c->n; k++) {
				size_t i = (from + k) % c->n;

				if (c->lines[i].kind == TUI_LINE_FRAME && c->lines[i].index == 0 &&
				    (!cur || c->lines[i].sec != cur->sec)) {
					tui_list_set_pos(&c->list, i);
					break;
				}
			}
		}
		tui_stacks_remember(sv);
		return TUI_HANDLED;
	case TUI_ACT_NEXT_PAIR:
	case TUI_ACT_PREV_PAIR:
		if (sv->npairs < 2) {
			tui_message(b, false, "This hot spot has one pair of stacks.");
			return TUI_HANDLED;
		}
		sv->cur = a == TUI_ACT_NEXT_PAIR ? (sv->cur + 1) % sv->npairs
						 : (sv->cur + sv->npairs - 1) % sv->npairs;
		if (tui_stacks_build(sv) < 0)
			tui_message(b, true, "out of memory");
		tui_stacks_select(sv, TUI_SEC_ABORTED, 0);
		return TUI_HANDLED;
	default:
		return TUI_UNHANDLED;
	}
}

static void tui_stacks_free(struct tui_screen *s)
{
	struct tui_stacks *sv = (struct tui_stacks *)s;

	free(sv->all.lines);
	free(sv->left.lines);
	free(sv->right.lines);
	free(sv->label);
	free(sv);
}

static const struct tui_screen_ops tui_stacks_ops = {
	.name = "stacks",
	.where = TUI_IN_STACKS,
	.draw = tui_stacks_draw,
	.key = tui_stacks_key,
	.hints = tui_stacks_hints,
	.free = tui_stacks_free,
};

struct tui_screen *tui_stacks_new(struct tui_browser *b, const struct tui_view *v, size_t row)
{
	const struct tui_row *r = tui_view_row(v, row);
	struct tui_stacks *sv;

	if (!r || !(sv = calloc(1, sizeof(*sv))))
		return NULL;
	sv->s.ops = &tui_stacks_ops;
	sv->b = b;
	sv->label = strdup(r->label);
	sv->aborts = r->aborts;
	sv->wasted_ns = r->wasted_ns;
	sv->false_conflicts = r->false_conflicts;
	sv->share = r->share;
	sv->abort_rate = r->abort_rate;
	sv->kind = r->kind;
	sv->block = r->block;
	sv->npairs_all = tui_view_stack_pairs(v, row, sv->pairs, TUI_PAIRS_MAX);
	sv->npairs = sv->npairs_all < TUI_PAIRS_MAX ? sv->npairs_all : TUI_PAIRS_MAX;
	sv->naddrs = tui_view_addresses(v, row, &sv->addr, 1);
	for (int side = 0; side < 2; side++)
		sv->ntids[side] = tui_view_threads(v, row, side, sv->tids[side], TUI_TIDS_SHOWN);
	struct tui_column *cols[] = { &sv->all, &sv->left, &sv->right };

	for (size_t i = 0; i < 3; i++) {
		cols[i]->list.ctx = cols[i];
		cols[i]->list.draw_row = tui_line_draw;
		cols[i]->list.selectable = tui_line_selectable;
	}
	if (!sv->label || tui_stacks_build(sv) < 0) {
		tui_stacks_free(&sv->s);
		return NULL;
	}
	return &sv->s;
}
