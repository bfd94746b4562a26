/* tui: the browser's help screen, generated from the key table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/browser-internal.h"

struct tui_help {
	struct tui_screen s;
	char **lines;
	size_t n;
	struct tui_list list;
};

static const enum tui_action tui_help_hints[] = {
	TUI_ACT_BACK, TUI_ACT_QUIT, TUI_ACT_NONE,
};

static void tui_help_row(void *ctx, size_t i, int y, int x, int w, bool current)
{
	struct tui_help *hv = ctx;
	const char *l = hv->lines[i];

	(void)current; /* a page to read: no selection */
	tui_blank(y, x, w, TUI_PAINT_NORMAL);
	tui_put(y, x + 1, w - 1, l, l[0] && l[0] != ' ' ? TUI_PAINT_HEADING : TUI_PAINT_NORMAL, false);
}

static void tui_help_draw(struct tui_screen *s, struct tui_browser *b, int y, int h)
{
	struct tui_help *hv = (struct tui_help *)s;

	char title[96];

	snprintf(title, sizeof(title), "Keys of the browser (%s goes back)",
		 tui_key_name(TUI_ACT_BACK, TUI_IN_HELP));
	tui_put(y, 1, b->cols - 1, title, TUI_PAINT_HEADING, false);
	tui_list_draw(&hv->list, y + 2, 0, h - 2, b->cols);
}

/* Up and Down scroll the page rather than move a selection. */
static enum tui_handled tui_help_key(struct tui_screen *s, struct tui_browser *b, enum tui_action a)
{
	struct tui_help *hv = (struct tui_help *)s;
	struct tui_list *l = &hv->list;
	size_t h = l->h > 0 ? (size_t)l->h : 1;

	(void)b;
	switch (a) {
	case TUI_ACT_UP:
		tui_list_set_pos(l, l->top ? l->top - 1 : 0);
		return TUI_HANDLED;
	case TUI_ACT_DOWN:
		tui_list_set_pos(l, l->top + h < l->count ? l->top + h : l->count - 1);
		return TUI_HANDLED;
	case TUI_ACT_HELP:
		return TUI_HANDLED;
	default:
		return tui_list_key(l, a) ? TUI_HANDLED : TUI_UNHANDLED;
	}
}

static void tui_help_free(struct tui_screen *s)
{
	struct tui_help *hv = (struct tui_help *)s;

	tui_lines_free(hv->lines);
	free(hv);
}

static const struct tui_screen_ops tui_help_ops = {
	.name = "help",
	.where = TUI_IN_HELP,
	.draw = tui_help_draw,
	.key = tui_help_key,
	.hints = tui_help_hints,
	.free = tui_help_free,
};

struct tui_screen *tui_help_new(struct tui_browser *b)
{
	struct tui_help *hv = calloc(1, sizeof(*hv));

	(void)b;
	if (!hv || !(hv->lines = tui_keys_help_lines())) {
		free(hv);
		return NULL;
	}
	while (hv->lines[hv->n])
		hv->n++;
	hv->s.ops = &tui_help_ops;
	hv->list.ctx = hv;
	hv->list.draw_row = tui_help_row;
	tui_list_set_count(&hv->list, hv->n);
	return &hv->s;
}
