/* tui: the browser's list widget: a position in a count of rows, scrolled to keep it shown; rows drawn by a callback. */
#include "config.h"

#include "tui/browser-internal.h"

static bool tui_list_ok(const struct tui_list *l, size_t i)
{
	return !l->selectable || l->selectable(l->ctx, i);
}

/* Keeps pos in view; scrolls as little as it can (as less and htop do). */
static void tui_list_scroll(struct tui_list *l)
{
	size_t h = l->h > 0 ? (size_t)l->h : 1;

	if (l->pos < l->top)
		l->top = l->pos;
	else if (l->pos >= l->top + h)
		l->top = l->pos - h + 1;
	/* No empty rows at the bottom while there are rows above. */
	if (l->count > h && l->top > l->count - h)
		l->top = l->count - h;
	if (l->count <= h)
		l->top = 0;
}

/* The nearest selectable row from i in direction dir (+1 or -1), else
 * from i the other way, else i. */
static size_t tui_list_nearest(const struct tui_list *l, size_t i, int dir)
{
	for (size_t k = i; k < l->count; k = dir > 0 ? k + 1 : k - 1) {
		if (tui_list_ok(l, k))
			return k;
		if (dir < 0 && k == 0)
			break;
	}
	for (size_t k = i; k < l->count; k = dir > 0 ? k - 1 : k + 1) {
		if (tui_list_ok(l, k))
			return k;
		if (dir > 0 && k == 0)
			break;
	}
	return i;
}

void tui_list_set_count(struct tui_list *l, size_t count)
{
	l->count = count;
	if (!count) {
		l->pos = l->top = 0;
		return;
	}
	if (l->pos >= count)
		l->pos = count - 1;
	l->pos = tui_list_nearest(l, l->pos, -1);
	tui_list_scroll(l);
}

void tui_list_set_pos(struct tui_list *l, size_t i)
{
	if (!l->count)
		return;
	l->pos = tui_list_nearest(l, i < l->count ? i : l->count - 1, 1);
	tui_list_scroll(l);
}

void tui_list_draw(struct tui_list *l, int y, int x, int h, int w)
{
	l->y = y;
	l->x = x;
	l->h = h;
	l->w = w;
	if (l->center) {
		l->top = l->pos > (size_t)h / 2 ? l->pos - (size_t)h / 2 : 0;
		l->center = false;
	}
	tui_list_scroll(l);
	for (int r = 0; r < h; r++) {
		size_t i = l->top + (size_t)r;

		if (i < l->count)
			l->draw_row(l->ctx, i, y + r, x, w, i == l->pos);
		else
			tui_blank(y + r, x, w, TUI_PAINT_NORMAL);
	}
}

bool tui_list_key(struct tui_list *l, enum tui_action a)
{
	size_t page = l->h > 1 ? (size_t)l->h - 1 : 1;

	if (!l->count)
		return a == TUI_ACT_UP || a == TUI_ACT_DOWN || a == TUI_ACT_PAGE_UP ||
		       a == TUI_ACT_PAGE_DOWN || a == TUI_ACT_HOME || a == TUI_ACT_END;
	switch (a) {
	case TUI_ACT_UP:
		for (size_t k = l->pos; k-- > 0;)
			if (tui_list_ok(l, k)) {
				l->pos = k;
				break;
			}
		break;
	case TUI_ACT_DOWN:
		for (size_t k = l->pos + 1; k < l->count; k++)
			if (tui_list_ok(l, k)) {
				l->pos = k;
				break;
			}
		break;
	case TUI_ACT_PAGE_UP:
		/* The page scrolls with the position, as in less. */
		l->top = l->top > page ? l->top - page : 0;
		l->pos = tui_list_nearest(l, l->pos > page ? l->pos - page : 0, -1);
		break;
	case TUI_ACT_PAGE_DOWN:
		l->top += page;
		l->pos = tui_list_nearest(l, l->pos + page < l->count ? l->pos + page : l->count - 1, 1);
		break;
	case TUI_ACT_HOME:
		l->pos = tui_list_nearest(l, 0, 1);
		break;
	case TUI_ACT_END:
		l->pos = tui_list_nearest(l, l->count - 1, -1);
		break;
	default:
		return false;
	}
	tui_list_scroll(l);
	return true;
}
