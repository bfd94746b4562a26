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
 * `lucid report`: 0 after `q`, 1 when the terminal cannot be used (with a
 * line on stderr), 128 + the signal after SIGINT or SIGTERM. Prints
 * nothing on stdout after it has restored the terminal. Built in
 * tui/browser*.c and tui/view-*.c (tui/browser-internal.h says how).
 */
int tui_browse(struct tui_model *m, const struct tui_report_opts *o);

#endif /* LUCID_TUI_BROWSER_H */
