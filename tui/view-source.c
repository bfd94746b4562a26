/* tui: the browser's source screen: the file around a frame's line, both sides' lines marked; asks for a directory when the file is not found. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conflict/reader.h"
#include "tui/browser-internal.h"

#define TUI_SRC_MAX_BYTES (64u << 20) /* a source file larger than this is not shown */
#define TUI_SRC_LINE_MAX 4096         /* bytes of a line shown (minified code) */
#define TUI_TAB 8

struct tui_source {
	struct tui_screen s;
	struct tui_browser *b;
	char *file;                /* as the frame names it (escaped, for display) */
	char *raw;                 /* the same, unescaped: the name to open */
	unsigned line;
	struct tui_source_mark marks[4];
	size_t nmarks;
	char *path;                /* where it was found (escaped), or NULL */
	char **lines;              /* escaped, tabs expanded */
	size_t n;
	char why[1400];            /* why the file is not shown */
	struct tui_list list;
	int w_num;
};

static const enum tui_action tui_source_hints[] = {
	TUI_ACT_SIDE, TUI_ACT_SOURCE_DIR, TUI_ACT_BACK, TUI_ACT_HELP, TUI_ACT_QUIT, TUI_ACT_NONE,
};

/* Undoes rec_escape (\\, \n, \t, \xHH), so that a file whose name has
 * such bytes is still opened by its real name. */
static char *tui_unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		if (s[0] != '\\' || !s[1]) {
			*o++ = *s++;
		} else if (s[1] == '\\') {
			*o++ = '\\';
			s += 2;
		} else if (s[1] == 'n') {
			*o++ = '\n';
			s += 2;
		} else if (s[1] == 't') {
			*o++ = '\t';
			s += 2;
		} else if (s[1] == 'x' && s[2] && s[3]) {
			char hex[3] = { s[2], s[3], 0 }, *end;
			long v = strtol(hex, &end, 16);

			if (*end) {
				*o++ = *s++;
				continue;
			}
			*o++ = (char)v;
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static bool tui_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/name into buf when it is a regular file. */
static bool tui_try(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) >= len)
		return false;
	return tui_is_file(buf);
}

/*
 * Where the source file is: as named (relative names from the current
 * directory), then in each directory the user gave (newest first) by its
 * name and by the name's last parts (a tree moved since the build), then
 * relative to the program's directory and its parents (the build tree a
 * relative name was compiled in).
 */
static bool tui_source_find(struct tui_source *sv, char *buf, size_t len)
{
	const char *name = sv->raw;
	struct tui_summary s;
	char *prog, *slash;

	if (tui_try(buf, len, NULL, name))
		return true;
	for (size_t d = sv->b->nsrcdirs; d-- > 0;) {
		for (const char *part = name; part; part = strchr(part, '/')) {
			while (*part == '/')
				part++;
			if (*part && tui_try(buf, len, sv->b->srcdirs[d], part))
				return true;
		}
	}
	if (name[0] == '/')
		return false;
	tui_model_summary(sv->b->m, &s);
	if (!s.program[0] || !(prog = tui_unescape(s.program)))
		return false;
	while ((slash = strrchr(prog, '/')) && slash != prog) {
		*slash = '\0';
		if (tui_try(buf, len, prog, name)) {
			free(prog);
			return true;
		}
	}
	free(prog);
	return false;
}

static void tui_source_unload(struct tui_source *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->lines[i]);
	free(sv->lines);
	sv->lines = NULL;
	sv->n = 0;
	free(sv->path);
	sv->path = NULL;
}

/* One line as shown: tabs expanded, then escaped (a source file is text
 * from anywhere, it must not drive the terminal either). */
static char *tui_source_line(const char *s, size_t len)
{
	char *exp, *out;
	size_t n = 0, need;

	if (len > TUI_SRC_LINE_MAX)
		len = TUI_SRC_LINE_MAX;
	if (!(exp = malloc(len * TUI_TAB + 1)))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\t') {
			do
				exp[n++] = ' ';
			while (n % TUI_TAB);
		} else if (s[i] != '\r' || i + 1 != len) {
			exp[n++] = s[i];
		}
	}
	need = rec_escape(NULL, 0, exp, n) + 1;
	if ((out = malloc(need)))
		rec_escape(out, need, exp, n);
	free(exp);
	return out;
}

/* Loads the file; false with sv->why set when it cannot. */
static bool tui_source_load(struct tui_source *sv)
{
	char path[4096], esc[600];
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	struct stat st;

	tui_source_unload(sv);
	if (!tui_source_find(sv, path, sizeof(path))) {
		snprintf(sv->why, sizeof(sv->why), "Cannot find the source file %s.", sv->file);
		return false;
	}
	rec_escape(esc, sizeof(esc), path, strlen(path));
	if (!(f = fopen(path, "rb")) || fstat(fileno(f), &st) != 0) {
		snprintf(sv->why, sizeof(sv->why), "Cannot open %s: %s.", esc, strerror(errno));
		if (f)
			fclose(f);
		return false;
	}
	if ((uint64_t)st.st_size > TUI_SRC_MAX_BYTES) {
		snprintf(sv->why, sizeof(sv->why), "%s is too large to show (%lld bytes).", esc,
			 (long long)st.st_size);
		fclose(f);
		return false;
	}
	cap = (size_t)st.st_size + 1;
	if (!(text = malloc(cap))) {
		fclose(f);
		snprintf(sv->why, sizeof(sv->why), "Out of memory reading %s.", esc);
		return false;
	}
	len = fread(text, 1, cap - 1, f);
	fclose(f);
	text[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			sv->n++;
	if (len && text[len - 1] != '\n')
		sv->n++;
	if (!(sv->lines = calloc(sv->n ? sv->n : 1, sizeof(*sv->lines))) || !(sv->path = strdup(esc))) {
		free(text);
		sv->n = 0;
		tui_source_unload(sv);
		snprintf(sv->why, sizeof(sv->why), "Out of memory reading %s.", esc);
		return false;
	}
	for (size_t i = 0, at = 0; i < sv->n; i++) {
		char *nl = memchr(text + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (text + at)) : len - at;

		if (!(sv->lines[i] = tui_source_line(text + at, l))) {
			free(text);
			tui_source_unload(sv);
			snprintf(sv->why, sizeof(sv->why), "Out of memory reading %s.", esc);
			return false;
		}
		at += l + 1;
	}
	free(text);
	sv->why[0] = '\0';
	snprintf(path, sizeof(path), "%zu", sv->n);
	sv->w_num = (int)strlen(path);
	tui_list_set_count(&sv->list, sv->n);
	tui_list_set_pos(&sv->list, sv->line ? sv->line - 1 : 0);
	sv->list.center = true;
	if (sv->line > sv->n)
		snprintf(sv->why, sizeof(sv->why), "%s has %zu lines, not %u: is it the file the program "
			 "was built from?", esc, sv->n, sv->line);
	return true;
}

static const char *tui_source_markers(const struct tui_source *sv, unsigned line, char *buf)
{
	size_t k = 0;

	for (size_t i = 0; i < sv->nmarks; i++)
		if (sv->marks[i].line == line && k < 2)
			buf[k++] = sv->marks[i].marker;
	while (k < 2)
		buf[k++] = ' ';
	buf[2] = '\0';
	return buf;
}

static void tui_source_row(void *ctx, size_t i, int y, int x, int w, bool current)
{
	struct tui_source *sv = ctx;
	unsigned line = (unsigned)i + 1;
	char num[24], mk[3];
	bool marked = line == sv->line;
	enum tui_paint p = current ? TUI_PAINT_SELECTED : marked ? TUI_PAINT_MARK : TUI_PAINT_NORMAL;
	int at = x;

	tui_blank(y, x, w, p);
	tui_source_markers(sv, line, mk);
	tui_put(y, at, 2, mk, current ? p : TUI_PAINT_MARK, false);
	at += 2;
	tui_put(y, at, 1, line == sv->line ? ">" : " ", current ? p : TUI_PAINT_MARK, false);
	at += 1;
	snprintf(num, sizeof(num), "%u", line);
	tui_put_right(y, at, sv->w_num, num, current || marked ? p : TUI_PAINT_DIM);
	at += sv->w_num + 1;
	if (at < x + w)
		tui_put(y, at, x + w - at, sv->lines[i], p, false);
}

static void tui_source_draw(struct tui_screen *s, struct tui_browser *b, int y, int h)
{
	struct tui_source *sv = (struct tui_source *)s;
	char line[1400];
	int end = y + h;
	bool a = false, o = false;

	for (size_t i = 0; i < sv->nmarks; i++) {
		a |= sv->marks[i].marker == 'A';
		o |= sv->marks[i].marker == 'O';
	}
	snprintf(line, sizeof(line), "%s:%u%s%s%s", sv->file, sv->line, a || o ? "   marks:" : "",
		 a ? " A aborted side" : "", o ? (a ? ", O other side" : " O other side") : "");
	tui_put(y++, 0, b->cols, line, TUI_PAINT_HEADING, false);
	if (sv->path && strcmp(sv->path, sv->file) != 0) {
		snprintf(line, sizeof(line), "found at %s", sv->path);
		tui_put(y++, 0, b->cols, line, TUI_PAINT_DIM, false);
	}
	if (sv->why[0])
		tui_put(y++, 0, b->cols, sv->why, TUI_PAINT_ERROR, false);
	if (!sv->lines) {
		const char *d = tui_key_name(TUI_ACT_SOURCE_DIR, TUI_IN_SOURCE);

		y++;
		tui_put(y++, 2, b->cols - 2, "Looked for it as named, in the directories given, and "
			"under the program's directory and its parents.", TUI_PAINT_NORMAL, false);
		snprintf(line, sizeof(line), "Press %s to give a source directory: the file is looked "
			 "for there by its path and by the path's last parts.", d);
		tui_put(y++, 2, b->cols - 2, line, TUI_PAINT_NORMAL, false);
		for (size_t i = sv->b->nsrcdirs; i-- > 0 && y < end;) {
			char esc[600];

			rec_escape(esc, sizeof(esc), sv->b->srcdirs[i], strlen(sv->b->srcdirs[i]));
			snprintf(line, sizeof(line), "searched: %s", esc);
			tui_put(y++, 4, b->cols - 4, line, TUI_PAINT_DIM, false);
		}
		return;
	}
	tui_list_draw(&sv->list, y, 0, end - y, b->cols);
}

static enum tui_handled tui_source_key(struct tui_screen *s, struct tui_browser *b, enum tui_action a)
{
	struct tui_source *sv = (struct tui_source *)s;

	if (sv->lines && tui_list_key(&sv->list, a))
		return TUI_HANDLED;
	switch (a) {
	case TUI_ACT_SOURCE_DIR:
		tui_prompt(b, "Source directory: ", NULL);
		return TUI_HANDLED;
	case TUI_ACT_SIDE: {
		/* The next marked line (or the frame's own) after the
		 * current one, round. */
		unsigned cur = (unsigned)sv->list.pos + 1, best = 0, first = sv->line;

		if (!sv->lines)
			return TUI_HANDLED;
		for (size_t i = 0; i < sv->nmarks; i++) {
			unsigned l = sv->marks[i].line;

			if (l > cur && (!best || l < best))
				best = l;
			if (l < first)
				first = l;
		}
		if (sv->line > cur && (!best || sv->line < best))
			best = sv->line;
		tui_list_set_pos(&sv->list, (best ? best : first) - 1);
		return TUI_HANDLED;
	}
	default:
		return TUI_UNHANDLED;
	}
}

static void tui_source_prompt_done(struct tui_screen *s, struct tui_browser *b, const char *text)
{
	struct tui_source *sv = (struct tui_source *)s;
	char **dirs, *dir;
	size_t n = strlen(text);

	while (n > 1 && text[n - 1] == '/')
		n--;
	if (!n)
		return;
	if (!(dir = strndup(text, n)) ||
	    !(dirs = realloc(b->srcdirs, (b->nsrcdirs + 1) * sizeof(*dirs)))) {
		free(dir);
		tui_message(b, true, "out of memory");
		return;
	}
	b->srcdirs = dirs;
	b->srcdirs[b->nsrcdirs++] = dir;
	if (tui_source_load(sv))
		tui_message(b, false, "Found %s.", sv->path);
	else
		tui_message(b, true, "Not there either; %s tries another directory.",
			    tui_key_name(TUI_ACT_SOURCE_DIR, TUI_IN_SOURCE));
}

static void tui_source_free(struct tui_screen *s)
{
	struct tui_source *sv = (struct tui_source *)s;

	tui_source_unload(sv);
	free(sv->file);
	free(sv->raw);
	free(sv);
}

static const struct tui_screen_ops tui_source_ops = {
	.name = "source",
	.where = TUI_IN_SOURCE,
	.draw = tui_source_draw,
	.key = tui_source_key,
	.prompt_done = tui_source_prompt_done,
	.hints = tui_source_hints,
	.free = tui_source_free,
};

struct tui_screen *tui_source_new(struct tui_browser *b, const char *file, unsigned line,
				  const struct tui_source_mark *marks)
{
	struct tui_source *sv = calloc(1, sizeof(*sv));

	if (!sv)
		return NULL;
	sv->s.ops = &tui_source_ops;
	sv->b = b;
	sv->line = line;
	sv->file = strdup(file);
	sv->raw = tui_unescape(file);
	for (size_t i = 0; marks && marks[i].line && i < sizeof(sv->marks) / sizeof(sv->marks[0]); i++)
		sv->marks[sv->nmarks++] = marks[i];
	sv->list.ctx = sv;
	sv->list.draw_row = tui_source_row;
	if (!sv->file || !sv->raw) {
		tui_source_free(&sv->s);
		return NULL;
	}
	tui_source_load(sv);
	return &sv->s;
}
