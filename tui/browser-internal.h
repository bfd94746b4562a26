/* tui: the browser's insides shared by its files: the loop's state, screens as vtables, the key table, the list widget, drawing. */
#ifndef LUCID_TUI_BROWSER_INTERNAL_H
#define LUCID_TUI_BROWSER_INTERNAL_H

/*
 * Shape (htop, tig, perf report):
 *   browser.c         the one loop that owns the terminal: reads a key,
 *                     looks it up in the key table, offers the action to
 *                     the screen on top, handles what that screen leaves
 *                     (quit, help, back, threads, pause), redraws. Also
 *                     the title and status lines, the prompt, --follow.
 *   browser-keys.c    the key table: every key, its action, where it
 *                     works and its help text; the help screen, the man
 *                     page's BROWSER KEYS and docs/browser.md come from it.
 *   browser-list.c    a list widget that knows a position, a count and a
 *                     callback that draws one row.
 *   browser-draw.c    text on the screen: UTF-8 or ASCII, cut to a width.
 *   view-*.c          one screen each (struct tui_screen_ops): main (the
 *                     hot spots), stacks, source, threads, help.
 * "Screen" is what tig calls a view: the word view is taken by the
 * model's grouped rows (struct tui_view).
 *
 * Screens only read the model; none of them keeps a pointer that
 * tui_model_update() may invalidate (rows, threads) past one key.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tui/browser.h"
#include "tui/model.h"

/* ------------------------------------------------------------ keys */

/* What a key asks for. Screens handle the ones that concern them; the
 * loop handles the rest (quit, help, back, threads, pause, redraw). */
enum tui_action {
	TUI_ACT_NONE = 0,
	TUI_ACT_UP,
	TUI_ACT_DOWN,
	TUI_ACT_PAGE_UP,
	TUI_ACT_PAGE_DOWN,
	TUI_ACT_HOME,
	TUI_ACT_END,
	TUI_ACT_ENTER,
	TUI_ACT_BACK,
	TUI_ACT_QUIT,
	TUI_ACT_HELP,
	TUI_ACT_THREADS,
	TUI_ACT_PAUSE,
	TUI_ACT_REDRAW,
	TUI_ACT_SORT,
	TUI_ACT_GROUP,
	TUI_ACT_FILTER,
	TUI_ACT_SIDE,
	TUI_ACT_NEXT_PAIR,
	TUI_ACT_PREV_PAIR,
	TUI_ACT_SOURCE_DIR,
	TUI_ACTIONS
};

/* Where a key works: one bit per screen. */
enum {
	TUI_IN_MAIN = 1u << 0,
	TUI_IN_STACKS = 1u << 1,
	TUI_IN_SOURCE = 1u << 2,
	TUI_IN_THREADS = 1u << 3,
	TUI_IN_HELP = 1u << 4,
	TUI_IN_ANY = (1u << 5) - 1,
};

/* Function keys are ncurses' KEY_* codes with this bit, so that they never
 * meet a character's code point (KEY_DOWN is also U+0102). */
#define TUI_KEY_FN 0x40000000
#define TUI_CTRL(c) ((c) & 0x1f)

struct tui_key {
	int code;                  /* a character, or TUI_KEY_FN | KEY_* */
	const char *name;          /* as help shows it: "Up", "k", "Enter" */
	enum tui_action action;
	unsigned where;            /* TUI_IN_* bits */
	/* On the first key of an action (for a given where) only: what it
	 * does, one line, and a word for the status line's hints (NULL: the
	 * action is not hinted). Other keys of the action are listed with it. */
	const char *help;
	const char *hint;
};

extern const struct tui_key tui_keys[];
extern const size_t tui_nkeys;

/* The action of key code on a screen with where bit w; TUI_ACT_NONE if it
 * has none there. */
enum tui_action tui_key_action(int code, unsigned w);

/* The first key's name for an action usable on screen w, or NULL. */
const char *tui_key_name(enum tui_action a, unsigned w);

/* The help text, one line per action, sections by screen, as the help
 * screen shows it: a NULL-terminated array of malloc'd lines (free with
 * tui_lines_free), or NULL on out of memory. */
char **tui_keys_help_lines(void);
void tui_lines_free(char **lines);

/* The key reference for the docs: "markdown" (docs/browser.md's table) or
 * "man" (lucid(1)'s BROWSER KEYS), "text" (the help screen). 0 or -1 for
 * an unknown format. */
int tui_keys_write_doc(FILE *out, const char *format);

/* ------------------------------------------------------------ drawing */

/*
 * Attributes by meaning, so that screens do not pick colours (set up once
 * by the browser; plain attributes when the terminal has no colours).
 */
enum tui_paint {
	TUI_PAINT_NORMAL = 0,
	TUI_PAINT_TITLE,           /* the title bar and column headings */
	TUI_PAINT_SELECTED,        /* the list's current row */
	TUI_PAINT_HOT,             /* a share of 5% or more */
	TUI_PAINT_WARM,            /* a share of 0.5% or more */
	TUI_PAINT_DIM,             /* secondary text: modules, line numbers */
	TUI_PAINT_MARK,            /* a marked source line, the side markers */
	TUI_PAINT_HEADING,         /* section headings in a screen */
	TUI_PAINT_ERROR,           /* messages about something that failed */
	TUI_PAINTS
};

void tui_paint_init(void);

/*
 * Draws s (UTF-8, as the model's strings are) at row y, column x, in at
 * most w columns, cutting it with ".." when longer; with pad, fills the
 * rest of w with spaces. Characters the locale cannot show (anything not
 * ASCII outside a UTF-8 locale, or with no width) are drawn as '?';
 * control characters as their \xHH escape, should any reach here.
 * Returns the columns written.
 */
int tui_put(int y, int x, int w, const char *s, enum tui_paint p, bool pad);

/* The same, right-aligned in w columns. */
int tui_put_right(int y, int x, int w, const char *s, enum tui_paint p);

/* Columns s takes (as tui_put draws it). */
int tui_text_width(const char *s);

/* Clears columns x .. x+w-1 of row y with paint p. */
void tui_blank(int y, int x, int w, enum tui_paint p);

/* The vertical separator of side-by-side columns, and the marker of a
 * cut, in the locale's characters (ASCII in the C locale). */
const char *tui_vbar(void);

/* Whether the browser draws with UTF-8 (set by the browser at start). */
extern bool tui_utf8;

/* "12.34%" ("-" for a negative share). */
char *tui_fmt_share(char *buf, size_t len, double share);

/* A paint for a share of the wasted time (hot, warm, normal). */
enum tui_paint tui_share_paint(double share);

/* ------------------------------------------------------------ list */

/*
 * A scrolling list: the widget knows a position, a count and where it is
 * drawn; rows are drawn by a callback. A row the selectable callback
 * refuses is skipped by the moves (headings, blank lines).
 */
struct tui_list {
	size_t count;              /* rows */
	size_t pos;                /* the current row (< count, or 0) */
	size_t top;                /* the first row shown */
	int y, x, h, w;            /* placement, set by tui_list_draw */
	bool center;               /* the next draw puts pos in the middle */
	void *ctx;
	void (*draw_row)(void *ctx, size_t i, int y, int x, int w, bool current);
	bool (*selectable)(void *ctx, size_t i);  /* NULL: every row */
};

/* Sets the count (rows were added or removed), keeping pos in range. */
void tui_list_set_count(struct tui_list *l, size_t count);

/* Moves pos to row i (or the nearest selectable one) and scrolls to show it. */
void tui_list_set_pos(struct tui_list *l, size_t i);

/* Draws the list in the h rows from y, w columns from x. */
void tui_list_draw(struct tui_list *l, int y, int x, int h, int w);

/* Handles a moving action (up, down, pages, home, end); false for any other. */
bool tui_list_key(struct tui_list *l, enum tui_action a);

/* ------------------------------------------------------------ screens */

struct tui_browser;
struct tui_screen;

/* What a screen did with an action. */
enum tui_handled {
	TUI_UNHANDLED = 0,         /* not its business: the loop handles it */
	TUI_HANDLED,               /* done; the screen is redrawn */
};

struct tui_screen_ops {
	const char *name;          /* "main", "stacks": for the title bar */
	unsigned where;            /* its TUI_IN_* bit: which keys apply */
	/* Draws the screen in rows y .. y+h-1 (the title bar and the status
	 * line are the loop's). */
	void (*draw)(struct tui_screen *s, struct tui_browser *b, int y, int h);
	enum tui_handled (*key)(struct tui_screen *s, struct tui_browser *b, enum tui_action a);
	/* The model read new aborts (--follow): recompute. May be NULL. */
	void (*on_update)(struct tui_screen *s, struct tui_browser *b);
	/* The text the prompt asked for was entered (prompt_done). */
	void (*prompt_done)(struct tui_screen *s, struct tui_browser *b, const char *text);
	/* Actions whose keys the status line hints, TUI_ACT_NONE-terminated. */
	const enum tui_action *hints;
	void (*free)(struct tui_screen *s);
};

struct tui_screen {
	const struct tui_screen_ops *ops;
	struct tui_screen *below;  /* the screen Back returns to */
};

/* The browser's state: the loop's, and what screens share. */
struct tui_browser {
	struct tui_model *m;
	const struct tui_report_opts *o;
	struct tui_screen *top;    /* the screen shown; a stack through below */
	int lines, cols;           /* the terminal's size, as of this redraw */
	bool quit;
	int status;                /* tui_browse's return value */
	/* --follow */
	bool follow, paused;
	uint64_t updates;          /* updates that brought something new */
	/* A line for the status bar, until the next key. */
	char message[512];
	bool message_error;
	/* The prompt, while one is open. */
	bool prompting;
	char prompt_label[64];
	char prompt_text[512];
	/* Directories given in the source view, searched for source files. */
	char **srcdirs;
	size_t nsrcdirs;
};

/* Shows s above the others (the loop frees it when it is closed). */
void tui_push(struct tui_browser *b, struct tui_screen *s);

/* A line for the status bar (printf-style), shown until the next key. */
void tui_message(struct tui_browser *b, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Opens the prompt on the status line; the top screen's prompt_done gets
 * the text when Enter is pressed (not when Esc cancels it). */
void tui_prompt(struct tui_browser *b, const char *label, const char *initial);

/* Screens. Each returns NULL on out of memory (the loop says so). */
struct tui_screen *tui_main_new(struct tui_browser *b);
/* The stacks of row `row` of view v (a snapshot: later changes of v do
 * not reach it). */
struct tui_screen *tui_stacks_new(struct tui_browser *b, const struct tui_view *v, size_t row);
/* The source file around line `line`; marks: lines to flag with their
 * marker letter (0-terminated by a line 0), may be NULL. */
struct tui_source_mark {
	unsigned line;
	char marker;               /* 'A' aborted side, 'O' other side */
};
struct tui_screen *tui_source_new(struct tui_browser *b, const char *file, unsigned line,
				  const struct tui_source_mark *marks);
struct tui_screen *tui_threads_new(struct tui_browser *b);
struct tui_screen *tui_help_new(struct tui_browser *b);

#endif /* LUCID_TUI_BROWSER_INTERNAL_H */
