/* tui: the entry point of the ncurses browser that `lucid report` opens on a terminal. */
#ifndef LUCID_TUI_BROWSER_H
#define LUCID_TUI_BROWSER_H

#include <stdbool.h>

#include "tui/model.h"

/* What `lucid report` was asked for; the browser starts from it. */
struct tui_report_opts {
	const char *path;          /* the recording's file name, as given */
	struct tui_query query;    /* --group, --sort, --filter, --limit */
	bool follow;               /* --follow: re-read the file every second */
	bool utf8;                 /* the locale's charset is UTF-8 */
};

/*
 * Runs the browser on stdin/stdout (a terminal) over the model m, loaded
 * from o->path, until the user quits. Returns the exit status for
 * `lucid report` (0 after `q`). Prints nothing on stdout after it has
 * restored the terminal.
 *
 * BROWSER ENGINEER: this is the one entry point; implement it in
 * tui/browser*.c (and tui/view-*.c) and replace tui/browser.c, which only
 * says that the browser is not built yet.
 */
int tui_browse(struct tui_model *m, const struct tui_report_opts *o);

#endif /* LUCID_TUI_BROWSER_H */
