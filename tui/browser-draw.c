/* tui: drawing text for the browser: UTF-8 in a UTF-8 locale, ASCII otherwise, cut to a width; paints by meaning. */
#include "config.h"

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "tui/browser-internal.h"

bool tui_utf8;

static attr_t tui_attrs[TUI_PAINTS];

void tui_paint_init(void)
{
	bool colour = has_colors() && start_color() == OK;

	tui_attrs[TUI_PAINT_NORMAL] = A_NORMAL;
	tui_attrs[TUI_PAINT_TITLE] = A_REVERSE;
	tui_attrs[TUI_PAINT_SELECTED] = A_REVERSE;
	tui_attrs[TUI_PAINT_HOT] = A_BOLD;
	tui_attrs[TUI_PAINT_WARM] = A_NORMAL;
	tui_attrs[TUI_PAINT_DIM] = A_DIM;
	tui_attrs[TUI_PAINT_MARK] = A_BOLD;
	tui_attrs[TUI_PAINT_HEADING] = A_BOLD;
	tui_attrs[TUI_PAINT_ERROR] = A_BOLD;
	if (!colour)
		return;
	/* The terminal's own background and foreground where -1 is allowed,
	 * so the browser looks like the rest of the user's terminal. */
	use_default_colors();
	init_pair(1, COLOR_RED, -1);
	init_pair(2, COLOR_GREEN, -1);
	init_pair(3, COLOR_BLACK, COLOR_CYAN);
	init_pair(4, COLOR_YELLOW, -1);
	init_pair(5, COLOR_BLUE, -1);
	tui_attrs[TUI_PAINT_TITLE] = COLOR_PAIR(3);
	tui_attrs[TUI_PAINT_HOT] = COLOR_PAIR(1) | A_BOLD;
	tui_attrs[TUI_PAINT_WARM] = COLOR_PAIR(2);
	tui_attrs[TUI_PAINT_MARK] = COLOR_PAIR(4) | A_BOLD;
	tui_attrs[TUI_PAINT_HEADING] = COLOR_PAIR(5) | A_BOLD;
	tui_attrs[TUI_PAINT_ERROR] = COLOR_PAIR(1) | A_BOLD;
}

/*
 * Decodes one UTF-8 character at s (NUL-terminated): its code point, or
 * -1 for a byte that does not start a valid sequence; *len gets the bytes
 * used (1 for an invalid byte). The model's strings are valid UTF-8, but
 * a screen may also draw text it read itself.
 */
static long tui_utf8_next(const unsigned char *s, size_t *len)
{
	unsigned char c = s[0];
	size_t n;
	long cp;

	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		*len = 1;
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = 1;
			return -1;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		*len = 1;
		return -1;
	}
	*len = n;
	return cp;
}

/*
 * What one character of s looks like on the screen: up to 4 wide
 * characters in out (an escape is several), their columns in *cols.
 * Returns how many were written.
 */
static int tui_glyph(long cp, wchar_t *out, int *cols)
{
	static const char hex[] = "0123456789abcdef";

	if (cp >= 0 && (cp < 0x20 || cp == 0x7f)) {
		/* Never reaches the terminal raw: the model escapes; this is
		 * for text a screen read itself. */
		out[0] = '\\';
		out[1] = 'x';
		out[2] = (wchar_t)hex[(cp >> 4) & 0xf];
		out[3] = (wchar_t)hex[cp & 0xf];
		*cols = 4;
		return 4;
	}
	if (cp >= 0 && cp < 0x80) {
		out[0] = (wchar_t)cp;
		*cols = 1;
		return 1;
	}
	if (tui_utf8 && cp >= 0x80 && !(cp >= 0x80 && cp < 0xa0)) {
		int w = wcwidth((wchar_t)cp);

		if (w > 0) {
			out[0] = (wchar_t)cp;
			*cols = w;
			return 1;
		}
	}
	out[0] = '?';
	*cols = 1;
	return 1;
}

int tui_text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	wchar_t g[4];
	int w = 0, c;
	size_t len;

	while (*p) {
		tui_glyph(tui_utf8_next(p, &len), g, &c);
		w += c;
		p += len;
	}
	return w;
}

void tui_blank(int y, int x, int w, enum tui_paint p)
{
	if (w <= 0)
		return;
	attrset(tui_attrs[p]);
	mvhline(y, x, ' ', w);
	attrset(A_NORMAL);
}

int tui_put(int y, int x, int w, const char *s, enum tui_paint p, bool pad)
{
	const unsigned char *q = (const unsigned char *)s;
	wchar_t buf[512], g[4];
	int used = 0, n = 0, total = tui_text_width(s), limit = w;
	size_t len;

	if (w <= 0)
		return 0;
	/* A cut string ends with "..": leave room for it. */
	if (total > w)
		limit = w >= 3 ? w - 2 : w;
	while (*q && n < (int)(sizeof(buf) / sizeof(buf[0])) - 8) {
		int c, k = tui_glyph(tui_utf8_next(q, &len), g, &c);

		if (used + c > limit)
			break;
		for (int i = 0; i < k; i++)
			buf[n++] = g[i];
		used += c;
		q += len;
	}
	if (total > w && w >= 3) {
		buf[n++] = '.';
		buf[n++] = '.';
		used += 2;
	}
	buf[n] = 0;
	attrset(tui_attrs[p]);
	mvaddnwstr(y, x, buf, n);
	if (pad && used < w)
		mvhline(y, x + used, ' ', w - used);
	attrset(A_NORMAL);
	return pad ? w : used;
}

int tui_put_right(int y, int x, int w, const char *s, enum tui_paint p)
{
	int sw = tui_text_width(s);

	if (sw >= w)
		return tui_put(y, x, w, s, p, true);
	tui_blank(y, x, w - sw, p);
	tui_put(y, x + w - sw, sw, s, p, false);
	return w;
}

const char *tui_vbar(void)
{
	return tui_utf8 ? "\u2502" : "|";
}

char *tui_fmt_share(char *buf, size_t len, double share)
{
	if (share < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f%%", share * 100);
	return buf;
}

enum tui_paint tui_share_paint(double share)
{
	if (share >= 0.05)
		return TUI_PAINT_HOT;
	if (share >= 0.005)
		return TUI_PAINT_WARM;
	return TUI_PAINT_NORMAL;
}
