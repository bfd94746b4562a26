/* tui: the ncurses browser's loop: it owns the terminal, turns keys into actions through the key table, and redraws. */
#include "config.h"

#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include "conflict/reader.h"
#include "tui/browser-internal.h"

#define TUI_FOLLOW_MS 1000         /* --follow: how often the file is read again */
#define TUI_TICK_MS 250            /* how long a key is waited for while following */
#define TUI_MIN_COLS 40
#define TUI_MIN_LINES 8

static volatile sig_atomic_t tui_stop;

static void tui_on_signal(int sig)
{
	tui_stop = sig;
}

static double tui_clock_ms(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double tui_now_ms(void)
{
	return tui_clock_ms(CLOCK_MONOTONIC);
}

void tui_push(struct tui_browser *b, struct tui_screen *s)
{
	if (!s) {
		tui_message(b, true, "out of memory");
		return;
	}
	s->below = b->top;
	b->top = s;
}

static void tui_pop(struct tui_browser *b)
{
	struct tui_screen *s = b->top;

	b->top = s->below;
	s->ops->free(s);
}

void tui_message(struct tui_browser *b, bool error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->message, sizeof(b->message), fmt, ap);
	va_end(ap);
	b->message_error = error;
}

void tui_prompt(struct tui_browser *b, const char *label, const char *initial)
{
	b->prompting = true;
	snprintf(b->prompt_label, sizeof(b->prompt_label), "%s", label);
	snprintf(b->prompt_text, sizeof(b->prompt_text), "%s", initial ? initial : "");
}

/* ------------------------------------------------------------ drawing */

static void tui_draw_title(struct tui_browser *b)
{
	struct tui_summary s;
	char right[96];
	int rw;

	tui_model_summary(b->m, &s);
	if (!b->follow)
		snprintf(right, sizeof(right), " %s ", b->top->ops->name);
	else
		snprintf(right, sizeof(right), " %s | %s ", b->top->ops->name,
			 s.finished ? "finished" : b->paused ? "PAUSED" : "live");
	rw = tui_text_width(right);
	tui_blank(0, 0, b->cols, TUI_PAINT_TITLE);
	tui_put(0, 0, b->cols - rw - 1, " Lucid report ", TUI_PAINT_TITLE, false);
	tui_put(0, 14, b->cols - rw - 15, s.path, TUI_PAINT_TITLE, false);
	tui_put(0, b->cols - rw, rw, right, TUI_PAINT_TITLE, false);
}

/* The status line: the prompt, a message, or the keys of this screen. */
static void tui_draw_status(struct tui_browser *b)
{
	int y = b->lines - 1, x = 0;

	tui_blank(y, 0, b->cols, TUI_PAINT_NORMAL);
	if (b->prompting) {
		char text[sizeof(b->prompt_text) * 4 + 1];
		int lw = tui_put(y, 0, b->cols, b->prompt_label, TUI_PAINT_HEADING, false);
		int w = b->cols - lw - 1, tw;
		const char *shown = text;

		/* The typed text is the user's, not the recording's; escape
		 * it anyway, it is shown back on the terminal. */
		rec_escape(text, sizeof(text), b->prompt_text, strlen(b->prompt_text));
		tw = tui_text_width(text);
		while (tw > w && *shown) {
			shown++;
			tw = tui_text_width(shown);
		}
		tui_put(y, lw, w, shown, TUI_PAINT_NORMAL, false);
		move(y, lw + tw);
		return;
	}
	if (b->message[0]) {
		tui_put(y, 0, b->cols, b->message, b->message_error ? TUI_PAINT_ERROR : TUI_PAINT_NORMAL,
			false);
		return;
	}
	for (const enum tui_action *a = b->top->ops->hints; a && *a != TUI_ACT_NONE; a++) {
		const char *key = tui_key_name(*a, b->top->ops->where);
		const struct tui_key *k = NULL;

		if (*a == TUI_ACT_PAUSE && !b->follow)
			continue;
		for (size_t i = 0; i < tui_nkeys && !k; i++)
			if (tui_keys[i].action == *a && (tui_keys[i].where & b->top->ops->where) &&
			    tui_keys[i].hint)
				k = &tui_keys[i];
		if (!key || !k || x + tui_text_width(key) + tui_text_width(k->hint) + 3 > b->cols)
			continue;
		x += tui_put(y, x, b->cols - x, key, TUI_PAINT_HEADING, false);
		x += tui_put(y, x + 1, b->cols - x - 1, k->hint, TUI_PAINT_NORMAL, false) + 3;
	}
}

static void tui_draw(struct tui_browser *b)
{
	getmaxyx(stdscr, b->lines, b->cols);
	erase();
	if (b->cols < TUI_MIN_COLS || b->lines < TUI_MIN_LINES) {
		tui_put(0, 0, b->cols, "The terminal is too small for lucid report.", TUI_PAINT_ERROR, false);
		tui_put(1, 0, b->cols, "Make it larger, or press q.", TUI_PAINT_NORMAL, false);
		curs_set(0);
		return;
	}
	tui_draw_title(b);
	b->top->ops->draw(b->top, b, 1, b->lines - 2);
	tui_draw_status(b);
	curs_set(b->prompting ? 1 : 0);
}

/* ------------------------------------------------------------ keys */

/* The prompt's editing: printable characters in, Backspace, Ctrl-U,
 * Enter gives the text to the screen, Esc cancels. */
static void tui_prompt_key(struct tui_browser *b, int key)
{
	size_t n = strlen(b->prompt_text);

	if (key == 27) {
		b->prompting = false;
	} else if (key == '\n' || key == '\r' || key == (TUI_KEY_FN | KEY_ENTER)) {
		b->prompting = false;
		if (b->top->ops->prompt_done)
			b->top->ops->prompt_done(b->top, b, b->prompt_text);
	} else if (key == (TUI_KEY_FN | KEY_BACKSPACE) || key == 127 || key == 8) {
		while (n > 0 && ((unsigned char)b->prompt_text[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0)
			n--;
		b->prompt_text[n] = '\0';
	} else if (key == TUI_CTRL('u')) {
		b->prompt_text[0] = '\0';
	} else if (!(key & TUI_KEY_FN) && key >= 0x20 && key != 0x7f && iswprint((wint_t)key)) {
		char mb[MB_LEN_MAX];
		mbstate_t st;
		size_t k;

		memset(&st, 0, sizeof(st));
		k = wcrtomb(mb, (wchar_t)key, &st);
		if (k != (size_t)-1 && n + k < sizeof(b->prompt_text)) {
			memcpy(b->prompt_text + n, mb, k);
			b->prompt_text[n + k] = '\0';
		}
	}
}

static void tui_action(struct tui_browser *b, int key)
{
	unsigned where = b->top->ops->where;
	enum tui_action a = tui_key_action(key, where);

	if (a != TUI_ACT_NONE && b->top->ops->key(b->top, b, a) == TUI_HANDLED)
		return;
	switch (a) {
	case TUI_ACT_QUIT:
		b->quit = true;
		break;
	case TUI_ACT_BACK:
		if (b->top->below)
			tui_pop(b);
		else
			tui_message(b, false, "This is the first screen: %s quits.",
				    tui_key_name(TUI_ACT_QUIT, where));
		break;
	case TUI_ACT_HELP:
		if (b->top->ops->where != TUI_IN_HELP)
			tui_push(b, tui_help_new(b));
		break;
	case TUI_ACT_THREADS:
		if (b->top->ops->where != TUI_IN_THREADS)
			tui_push(b, tui_threads_new(b));
		break;
	case TUI_ACT_PAUSE:
		if (!b->follow) {
			tui_message(b, false, "Not following a recording: lucid report --follow does.");
		} else {
			b->paused = !b->paused;
			tui_message(b, false, b->paused ? "Paused: %s resumes." : "Following the recording again.",
				    tui_key_name(TUI_ACT_PAUSE, where));
		}
		break;
	case TUI_ACT_REDRAW:
		clearok(curscr, TRUE);
		break;
	case TUI_ACT_NONE:
		tui_message(b, false, "No action for that key here; %s lists the keys.",
			    tui_key_name(TUI_ACT_HELP, where));
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ --follow */

static void tui_follow(struct tui_browser *b, char **last_warning)
{
	enum tui_update u = tui_model_update(b->m);
	const char *w = tui_model_warning(b->m);

	if (u == TUI_UPDATE_NEW) {
		b->updates++;
		/* Bottom up, so that a screen made from the one below it
		 * sees that one's new state. */
		struct tui_screen *stack[64];
		size_t n = 0;

		for (struct tui_screen *s = b->top; s && n < 64; s = s->below)
			stack[n++] = s;
		while (n-- > 0)
			if (stack[n]->ops->on_update)
				stack[n]->ops->on_update(stack[n], b);
	}
	if (w && (!*last_warning || strcmp(w, *last_warning) != 0)) {
		const char *nl = strchr(w, '\n');

		tui_message(b, true, "%.*s", nl ? (int)(nl - w) : (int)strlen(w), w);
		free(*last_warning);
		*last_warning = strdup(w);
	}
}

/* ------------------------------------------------------------ the loop */

/*
 * The benchmark's hook (bench/browser-keys.sh, LUCID_BROWSER_KEYLOG=FILE):
 * for each key, the wall-clock and CPU time from reading it to having
 * sent the new screen to the terminal, one line per key: "WHAT WALL CPU"
 * in ms, WHAT being the key's name and the screen it was pressed on.
 */
struct tui_keylog {
	FILE *f;
	bool pending;
	double wall0, cpu0;
	char what[64];
};

static void tui_keylog_start(struct tui_keylog *l, const struct tui_browser *b, int key)
{
	const char *name = NULL;
	char buf[16];

	if (!l->f)
		return;
	for (size_t i = 0; i < tui_nkeys && !name; i++)
		if (tui_keys[i].code == key)
			name = tui_keys[i].name;
	if (!name) {
		if (key >= 0x21 && key < 0x7f)
			snprintf(buf, sizeof(buf), "%c", key);
		else
			snprintf(buf, sizeof(buf), "%s%04x", key & TUI_KEY_FN ? "key-" : "U+",
				 (unsigned)(key & ~TUI_KEY_FN));
		name = buf;
	}
	snprintf(l->what, sizeof(l->what), "%s@%s", name, b->prompting ? "prompt" : b->top->ops->name);
	for (char *c = l->what; *c; c++)
		if (*c == ' ')
			*c = '-';
	l->wall0 = tui_now_ms();
	l->cpu0 = tui_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	l->pending = true;
}

/* Milliseconds since this process started (/proc/self/stat's start time,
 * in clock ticks since boot), or -1 when it cannot be read. */
static double tui_process_age_ms(void)
{
	FILE *f = fopen("/proc/self/stat", "r");
	char buf[1024], *p;
	unsigned long long start;
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Field 22; the command name (field 2) may hold spaces, so count
	 * from the parenthesis that ends it: 20 fields after it. */
	if (!(p = strrchr(buf, ')')))
		return -1;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &start) != 1)
		return -1;
	return tui_clock_ms(CLOCK_BOOTTIME) - (double)start * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static void tui_keylog_done(struct tui_keylog *l)
{
	bool first = strcmp(l->what, "first-screen") == 0;

	if (!l->f || !l->pending)
		return;
	fprintf(l->f, "%s %.3f %.3f\n", l->what, tui_now_ms() - l->wall0,
		tui_clock_ms(CLOCK_PROCESS_CPUTIME_ID) - l->cpu0);
	/* The first screen also from the start of the process: the load of
	 * the recording, before the browser, included. */
	if (first)
		fprintf(l->f, "from-start %.3f %.3f\n", tui_process_age_ms(),
			tui_clock_ms(CLOCK_PROCESS_CPUTIME_ID));
	fflush(l->f);
	l->pending = false;
}

int tui_browse(struct tui_model *m, const struct tui_report_opts *o)
{
	struct tui_browser b = { .m = m, .o = o, .follow = o->follow };
	struct sigaction sa = { .sa_handler = tui_on_signal }, old_int, old_term;
	const char *logpath = getenv("LUCID_BROWSER_KEYLOG");
	struct tui_keylog keylog = { .pending = true, .what = "first-screen" };
	char *last_warning = NULL;
	double next_update;
	int key = 0;
	SCREEN *scr;

	keylog.wall0 = tui_now_ms();
	keylog.cpu0 = tui_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	if (logpath && *logpath && !(keylog.f = fopen(logpath, "a"))) {
		fprintf(stderr, "lucid report: cannot open LUCID_BROWSER_KEYLOG %s: %s\n", logpath,
			strerror(errno));
		return 1;
	}
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		const char *term = getenv("TERM");
		char esc[128];

		rec_escape(esc, sizeof(esc), term ? term : "", term ? strlen(term) : 0);
		fprintf(stderr, "lucid report: cannot use the terminal (TERM=%s); --stdio prints the "
			"report as text\n", esc);
		if (keylog.f)
			fclose(keylog.f);
		return 1;
	}
	set_term(scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	tui_utf8 = o->utf8;
	tui_paint_init();
	/* No SA_RESTART: get_wch returns at once and the loop ends cleanly. */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	b.top = tui_main_new(&b);
	if (!b.top) {
		endwin();
		delscreen(scr);
		fprintf(stderr, "lucid report: out of memory\n");
		if (keylog.f)
			fclose(keylog.f);
		return 1;
	}
	if (tui_model_warning(m)) {
		const char *w = tui_model_warning(m), *nl = strchr(w, '\n');

		tui_message(&b, true, "%.*s", nl ? (int)(nl - w) : (int)strlen(w), w);
		last_warning = strdup(w);
	}
	next_update = tui_now_ms() + TUI_FOLLOW_MS;

	while (!b.quit && !tui_stop) {
		wint_t wc;
		int r;

		tui_draw(&b);
		refresh();
		tui_keylog_done(&keylog);

		if (b.follow && !b.paused && !tui_model_finished(m)) {
			double left = next_update - tui_now_ms();

			timeout(left <= 0 ? 0 : left < TUI_TICK_MS ? (int)left : TUI_TICK_MS);
		} else {
			timeout(-1);
		}
		r = get_wch(&wc);
		if (r == ERR) {
			if (b.follow && !b.paused && tui_now_ms() >= next_update) {
				tui_follow(&b, &last_warning);
				next_update = tui_now_ms() + TUI_FOLLOW_MS;
			}
			continue;
		}
		key = r == KEY_CODE_YES ? (int)(TUI_KEY_FN | wc) : (int)wc;
		if (key == (TUI_KEY_FN | KEY_RESIZE))
			continue;
		tui_keylog_start(&keylog, &b, key);
		b.message[0] = '\0';
		if (b.prompting)
			tui_prompt_key(&b, key);
		else
			tui_action(&b, key);
	}

	endwin();
	delscreen(scr);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	while (b.top)
		tui_pop(&b);
	for (size_t i = 0; i < b.nsrcdirs; i++)
		free(b.srcdirs[i]);
	free(b.srcdirs);
	free(last_warning);
	if (keylog.f)
		fclose(keylog.f);
	if (tui_stop)
		return 128 + tui_stop;
	return b.status;
}
