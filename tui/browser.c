/* tui: placeholder for the ncurses browser until it is built: says so and fails (see tui/browser.h). */
#include "config.h"

#include <stdio.h>

#include "tui/browser.h"

/* BROWSER ENGINEER: replace this file with the browser (tui/browser*.c). */
int tui_browse(struct tui_model *m, const struct tui_report_opts *o)
{
	(void)m;
	(void)o;
	fprintf(stderr, "lucid report: browser not built yet; use --stdio, --json or --folded\n");
	return 1;
}
