/* tui: the browser's key table, the one place keys are defined; the help screen and the key docs are generated from it. */
#include "config.h"

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tui/browser-internal.h"

#define FN(k) (TUI_KEY_FN | (k))

/*
 * Entries with the same action and the same where are one help line: the
 * first carries the text, the others are further keys for it. Order is the
 * help's order. A key may appear twice with different where bits (Enter
 * opens the stacks on the main screen and the source on the stacks one).
 */
const struct tui_key tui_keys[] = {
	{ FN(KEY_UP), "Up", TUI_ACT_UP, TUI_IN_ANY, "move up", NULL },
	{ 'k', "k", TUI_ACT_UP, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_DOWN), "Down", TUI_ACT_DOWN, TUI_IN_ANY, "move down", NULL },
	{ 'j', "j", TUI_ACT_DOWN, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_PPAGE), "PgUp", TUI_ACT_PAGE_UP, TUI_IN_ANY, "one page up", NULL },
	{ 'b', "b", TUI_ACT_PAGE_UP, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_NPAGE), "PgDn", TUI_ACT_PAGE_DOWN, TUI_IN_ANY, "one page down", NULL },
	{ ' ', "Space", TUI_ACT_PAGE_DOWN, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_HOME), "Home", TUI_ACT_HOME, TUI_IN_ANY, "to the first row", NULL },
	{ FN(KEY_END), "End", TUI_ACT_END, TUI_IN_ANY, "to the last row", NULL },

	{ FN(KEY_ENTER), "Enter", TUI_ACT_ENTER, TUI_IN_MAIN,
	  "both stacks of the selected hot spot", "stacks" },
	{ '\n', "Enter", TUI_ACT_ENTER, TUI_IN_MAIN, NULL, NULL },
	{ '\r', "Enter", TUI_ACT_ENTER, TUI_IN_MAIN, NULL, NULL },
	{ FN(KEY_RIGHT), "Right", TUI_ACT_ENTER, TUI_IN_MAIN, NULL, NULL },
	{ 's', "s", TUI_ACT_SORT, TUI_IN_MAIN,
	  "next sort key: wasted time, aborts, abort rate of the atomic block", "sort" },
	{ 'g', "g", TUI_ACT_GROUP, TUI_IN_MAIN,
	  "next grouping: conflict pair, atomic block, address, function, thread, exact stacks",
	  "group" },
	{ '/', "/", TUI_ACT_FILTER, TUI_IN_MAIN,
	  "keep the aborts with a frame whose function or file contains a text (empty: all)",
	  "filter" },

	{ FN(KEY_ENTER), "Enter", TUI_ACT_ENTER, TUI_IN_STACKS,
	  "the source file around the selected frame", "source" },
	{ '\n', "Enter", TUI_ACT_ENTER, TUI_IN_STACKS, NULL, NULL },
	{ '\r', "Enter", TUI_ACT_ENTER, TUI_IN_STACKS, NULL, NULL },
	{ FN(KEY_RIGHT), "Right", TUI_ACT_ENTER, TUI_IN_STACKS, NULL, NULL },
	{ '\t', "Tab", TUI_ACT_SIDE, TUI_IN_STACKS, "to the first frame of the next side", "side" },
	{ 'n', "n", TUI_ACT_NEXT_PAIR, TUI_IN_STACKS,
	  "the hot spot's next pair of stacks (one hot spot may gather several)", "next pair" },
	{ 'N', "N", TUI_ACT_PREV_PAIR, TUI_IN_STACKS, "the hot spot's previous pair of stacks", NULL },

	{ '\t', "Tab", TUI_ACT_SIDE, TUI_IN_SOURCE, "to the next marked line", "next mark" },
	{ 'd', "d", TUI_ACT_SOURCE_DIR, TUI_IN_SOURCE,
	  "give a directory to search for source files", "source dir" },

	{ 27, "Esc", TUI_ACT_BACK, TUI_IN_ANY, "back to the previous screen", "back" },
	{ FN(KEY_LEFT), "Left", TUI_ACT_BACK, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_BACKSPACE), "Backspace", TUI_ACT_BACK, TUI_IN_ANY, NULL, NULL },
	{ 127, "Backspace", TUI_ACT_BACK, TUI_IN_ANY, NULL, NULL },
	{ 't', "t", TUI_ACT_THREADS, TUI_IN_ANY,
	  "threads: commits, aborts, abort rate, wasted share and aborts caused, per thread", "threads" },
	{ 'p', "p", TUI_ACT_PAUSE, TUI_IN_ANY,
	  "with --follow: pause or resume reading what the program appends", "pause" },
	{ TUI_CTRL('l'), "Ctrl-L", TUI_ACT_REDRAW, TUI_IN_ANY, "redraw the screen", NULL },
	{ '?', "?", TUI_ACT_HELP, TUI_IN_ANY, "this help", "help" },
	{ 'h', "h", TUI_ACT_HELP, TUI_IN_ANY, NULL, NULL },
	{ FN(KEY_F(1)), "F1", TUI_ACT_HELP, TUI_IN_ANY, NULL, NULL },
	{ 'q', "q", TUI_ACT_QUIT, TUI_IN_ANY, "quit", "quit" },
	{ FN(KEY_F(10)), "F10", TUI_ACT_QUIT, TUI_IN_ANY, NULL, NULL },
};

const size_t tui_nkeys = sizeof(tui_keys) / sizeof(tui_keys[0]);

/* The help's sections: keys whose where is exactly this. */
static const struct {
	unsigned where;
	const char *title;
} tui_sections[] = {
	{ TUI_IN_ANY, "Everywhere" },
	{ TUI_IN_MAIN, "Hot spots (the first screen)" },
	{ TUI_IN_STACKS, "Stacks" },
	{ TUI_IN_SOURCE, "Source" },
};

enum tui_action tui_key_action(int code, unsigned w)
{
	for (size_t i = 0; i < tui_nkeys; i++)
		if (tui_keys[i].code == code && (tui_keys[i].where & w))
			return tui_keys[i].action;
	return TUI_ACT_NONE;
}

const char *tui_key_name(enum tui_action a, unsigned w)
{
	for (size_t i = 0; i < tui_nkeys; i++)
		if (tui_keys[i].action == a && (tui_keys[i].where & w))
			return tui_keys[i].name;
	return NULL;
}

/* The names of every key of entry i's line ("Up, k"), each name once. */
static void tui_key_names(size_t i, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t k = i; k < tui_nkeys; k++) {
		bool seen = false;

		if (tui_keys[k].action != tui_keys[i].action || tui_keys[k].where != tui_keys[i].where)
			continue;
		if (k > i && tui_keys[k].help)
			break;
		for (size_t j = i; j < k && !seen; j++)
			seen = tui_keys[j].action == tui_keys[i].action &&
			       tui_keys[j].where == tui_keys[i].where &&
			       strcmp(tui_keys[j].name, tui_keys[k].name) == 0;
		if (!seen && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", tui_keys[k].name);
	}
}

void tui_lines_free(char **lines)
{
	if (!lines)
		return;
	for (size_t i = 0; lines[i]; i++)
		free(lines[i]);
	free(lines);
}

/* Calls line() for every line of the help, in order: section titles with
 * keys NULL, then one call per help entry. */
static int tui_keys_walk(int (*line)(void *arg, const char *title, const char *keys, const char *help),
			 void *arg)
{
	char names[128];

	for (size_t s = 0; s < sizeof(tui_sections) / sizeof(tui_sections[0]); s++) {
		if (line(arg, tui_sections[s].title, NULL, NULL) < 0)
			return -1;
		for (size_t i = 0; i < tui_nkeys; i++) {
			if (tui_keys[i].where != tui_sections[s].where || !tui_keys[i].help)
				continue;
			tui_key_names(i, names, sizeof(names));
			if (line(arg, NULL, names, tui_keys[i].help) < 0)
				return -1;
		}
	}
	return 0;
}

struct tui_help_acc {
	char **lines;
	size_t n, cap;
};

static int tui_help_add(struct tui_help_acc *a, char *s)
{
	if (!s)
		return -1;
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 32;
		char **l = realloc(a->lines, cap * sizeof(*l));

		if (!l) {
			free(s);
			return -1;
		}
		a->lines = l;
		a->cap = cap;
	}
	a->lines[a->n++] = s;
	a->lines[a->n] = NULL;
	return 0;
}

static int tui_help_line(void *arg, const char *title, const char *keys, const char *help)
{
	struct tui_help_acc *a = arg;
	char *s;

	if (title) {
		if (a->n && tui_help_add(a, strdup("")) < 0)
			return -1;
		return tui_help_add(a, strdup(title));
	}
	if (asprintf(&s, "  %-22s %s", keys, help) < 0)
		return -1;
	return tui_help_add(a, s);
}

char **tui_keys_help_lines(void)
{
	struct tui_help_acc a = { NULL, 0, 0 };

	if (tui_keys_walk(tui_help_line, &a) < 0 || !a.lines) {
		tui_lines_free(a.lines);
		return NULL;
	}
	return a.lines;
}

/* roff: a backslash and a minus sign must be escaped; a leading dot or
 * quote would start a request. */
static void tui_roff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static int tui_doc_man(void *arg, const char *title, const char *keys, const char *help)
{
	FILE *out = arg;

	if (title) {
		fputs(".SS ", out);
		tui_roff(out, title);
		fputc('\n', out);
		return 0;
	}
	fputs(".TP\n.B ", out);
	tui_roff(out, keys);
	fputc('\n', out);
	tui_roff(out, help);
	fputc('\n', out);
	return 0;
}

/* Markdown: a table per section; every key in code spans. */
static int tui_doc_markdown(void *arg, const char *title, const char *keys, const char *help)
{
	FILE *out = arg;
	bool first = true;

	if (title) {
		fprintf(out, "\n### %s\n\n| Keys | What it does |\n| --- | --- |\n", title);
		return 0;
	}
	fputs("| ", out);
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, ",");

		fprintf(out, "%s`%.*s`", first ? "" : ", ", (int)n, k);
		first = false;
		k += n;
		while (*k == ',' || *k == ' ')
			k++;
	}
	fprintf(out, " | %s |\n", help);
	return 0;
}

static int tui_doc_text(void *arg, const char *title, const char *keys, const char *help)
{
	FILE *out = arg;

	if (title)
		fprintf(out, "%s\n", title);
	else
		fprintf(out, "  %-22s %s\n", keys, help);
	return 0;
}

int tui_keys_write_doc(FILE *out, const char *format)
{
	if (strcmp(format, "man") == 0)
		return tui_keys_walk(tui_doc_man, out);
	if (strcmp(format, "markdown") == 0)
		return tui_keys_walk(tui_doc_markdown, out);
	if (strcmp(format, "text") == 0)
		return tui_keys_walk(tui_doc_text, out);
	return -1;
}
