/* tui: the text outputs of `lucid report`: --stdio, --json and --folded, printed from the model. */
#ifndef LUCID_TUI_OUTPUT_H
#define LUCID_TUI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tui/model.h"

/* How the outputs print. */
struct tui_print_opts {
	struct tui_query query;    /* grouping, sort, filter, limit */
	bool group_given;          /* --group was given (--json then adds "groups") */
	bool utf8;                 /* sparklines with block characters */
	bool stacks;               /* --stdio: both stacks under each row */
};

/*
 * Each prints one report of the model as it is now to out and returns 0,
 * or -ENOMEM (nothing, or part, printed). Strings from the recording are
 * printed escaped (the model's), and in JSON also JSON-escaped.
 */
int tui_print_stdio(FILE *out, struct tui_model *m, const struct tui_print_opts *o);
int tui_print_json(FILE *out, struct tui_model *m, const struct tui_print_opts *o);
int tui_print_folded(FILE *out, struct tui_model *m, const struct tui_print_opts *o);

/* "123 ns", "4.56 us", "7.89 ms", "1.23 s": a duration in at most 9 bytes
 * (buf at least 16). Returns buf. */
char *tui_fmt_ns(char *buf, size_t len, uint64_t ns);

#endif /* LUCID_TUI_OUTPUT_H */
