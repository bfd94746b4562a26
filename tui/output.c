/* tui: the text outputs of `lucid report` (--stdio, --json, --folded), thin printers over the model. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conflict/reader.h"
#include "tui/output.h"

#define TUI_SPARK_BUCKETS 16
#define TUI_COL_MAX 48          /* widest text column in --stdio */
#define TUI_STACK_PAIRS_SHOWN 1 /* --stacks: the row's most frequent pair */

char *tui_fmt_ns(char *buf, size_t len, uint64_t ns)
{
	double v = (double)ns;

	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.*f us", v < 1e4 ? 2 : v < 1e5 ? 1 : 0, v / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.*f ms", v < 1e7 ? 2 : v < 1e8 ? 1 : 0, v / 1e6);
	else
		snprintf(buf, len, "%.*f s", v < 1e10 ? 2 : v < 1e11 ? 1 : 0, v / 1e9);
	return buf;
}

static void tui_fmt_pct(char *buf, size_t len, double share)
{
	if (share < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f%%", share * 100);
}

/* Columns a string takes on a terminal: its UTF-8 characters (the model's
 * strings are valid UTF-8 without controls). */
static size_t tui_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Prints s padded (or cut, ending with "..") to exactly w columns. */
static void tui_put_col(FILE *out, const char *s, size_t w, bool pad)
{
	size_t sw = tui_width(s);

	if (sw <= w) {
		fputs(s, out);
		if (pad)
			fprintf(out, "%*s", (int)(w - sw), "");
		return;
	}
	/* Cut at a character boundary, leaving room for "..". */
	for (size_t col = 0; *s && col < w - 2; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			col++;
		if (col > w - 2)
			break;
		fputc(*s, out);
		while ((((unsigned char)s[1]) & 0xc0) == 0x80)
			fputc(*++s, out);
	}
	fputs("..", out);
}

static const char *tui_sort_title(enum tui_sort s)
{
	switch (s) {
	case TUI_SORT_ABORTS: return "aborts";
	case TUI_SORT_RATE: return "abort rate";
	default: return "wasted time";
	}
}

static const char *tui_group_title(enum tui_group g)
{
	switch (g) {
	case TUI_GROUP_BLOCK: return "Atomic block";
	case TUI_GROUP_ADDRESS: return "Address";
	case TUI_GROUP_FUNCTION: return "Function";
	case TUI_GROUP_THREAD: return "Thread";
	default: return NULL;
	}
}

static void tui_print_frames(FILE *out, struct tui_model *m, uint32_t stack, const char *indent)
{
	const struct tui_frame *f;
	size_t n;

	f = tui_model_frames(m, stack, &n);
	if (!n) {
		fprintf(out, "%s(no stack)\n", indent);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s%s", indent, f[i].function);
		if (f[i].line)
			fprintf(out, " at %s:%u", f[i].file, f[i].line);
		else if (strcmp(f[i].file, "??"))
			fprintf(out, " in %s", f[i].file);
		if (f[i].inlined)
			fputs(" (inlined)", out);
		fprintf(out, " [%s]\n", f[i].module);
	}
}

static void tui_print_tids(FILE *out, const struct tui_view *v, size_t i, bool other)
{
	uint32_t tids[8];
	size_t n = tui_view_threads(v, i, other, tids, 8);

	for (size_t k = 0; k < n && k < 8; k++)
		fprintf(out, "%s%" PRIu32, k ? ", " : "", tids[k]);
	if (n > 8)
		fprintf(out, " and %zu more", n - 8);
	if (!n)
		fputs("unknown", out);
}

/* --stacks: the row's most frequent stack pair and address, in full. */
static void tui_print_row_stacks(FILE *out, struct tui_model *m, const struct tui_view *v, size_t i)
{
	const struct tui_row *r = tui_view_row(v, i);
	struct tui_stack_pair p;
	struct tui_address a;
	size_t np = tui_view_stack_pairs(v, i, &p, TUI_STACK_PAIRS_SHOWN);
	size_t na = tui_view_addresses(v, i, &a, 1);

	if (!np)
		return;
	fprintf(out, "      aborted side (thread ");
	tui_print_tids(out, v, i, false);
	fprintf(out, "):\n");
	tui_print_frames(out, m, p.stack, "          ");
	if (r->kind < 0 || tui_kind_is_conflict(r->kind)) {
		fprintf(out, "      other side (thread ");
		tui_print_tids(out, v, i, true);
		fprintf(out, "):\n");
		if (p.other_stack)
			tui_print_frames(out, m, p.other_stack, "          ");
		else
			fprintf(out, "          (unknown)\n");
	}
	if (na && a.address) {
		fprintf(out, "      address 0x%" PRIx64, a.address);
		if (a.false_conflict)
			fprintf(out, " (false conflict with 0x%" PRIx64 ": another word under the same "
				"ownership record)", a.other_address);
		if (na > 1)
			fprintf(out, " and %zu more", na - 1);
		fputc('\n', out);
		if (a.alloc_stack) {
			fprintf(out, "      allocated by lucid_malloc at:\n");
			tui_print_frames(out, m, a.alloc_stack, "          ");
		}
	}
	if (np > 1)
		fprintf(out, "      (%zu other stack pairs in this row)\n", np - 1);
}

static void tui_print_header(FILE *out, struct tui_model *m, const struct tui_view *v,
			     const struct tui_print_opts *o)
{
	struct tui_summary s;
	struct tui_view_totals t;
	char dur[16], wasted[16], pct[16];

	tui_model_summary(m, &s);
	tui_view_totals(v, &t);
	fprintf(out, "# Lucid report: %s\n", s.path);
	fprintf(out, "# program: %s", s.program[0] ? s.program : "(unknown)");
	if (s.cmdline[0])
		fprintf(out, " (%s)", s.cmdline);
	fprintf(out, ", pid %" PRIu32 "%s\n", s.pid, s.finished ? "" : ", still running or cut short");
	tui_fmt_pct(pct, sizeof(pct), s.wasted_share);
	fprintf(out, "# duration: %s to the last abort, %u thread%s\n",
		tui_fmt_ns(dur, sizeof(dur), s.duration_ns), s.threads, s.threads == 1 ? "" : "s");
	fprintf(out, "# commits: %" PRIu64 ", aborts: %" PRIu64 " (%" PRIu64 " conflicts), wasted: %s "
		"(%s of the threads' time), dropped: %" PRIu64 "\n",
		s.commits, s.aborts, s.conflicts, tui_fmt_ns(wasted, sizeof(wasted), s.wasted_ns), pct,
		s.dropped);
	fprintf(out, "# %zu of %zu rows, grouped by %s, sorted by %s", tui_view_rows(v), t.groups,
		tui_group_name(o->query.group), tui_sort_title(o->query.sort));
	if (o->query.filter && o->query.filter[0]) {
		char filter[256];

		rec_escape(filter, sizeof(filter), o->query.filter, strlen(o->query.filter));
		fprintf(out, "; filter \"%s\": %" PRIu64 " aborts, %s", filter, t.aborts,
			tui_fmt_ns(wasted, sizeof(wasted), t.wasted_ns));
	}
	fputs("\n#\n", out);
}

static void tui_print_threads(FILE *out, struct tui_model *m)
{
	size_t n;
	const struct tui_thread *t = tui_model_threads(m, &n);
	char wasted[16], pct[16];

	fputs("#\n# Threads, by wasted time (Caused: aborts of other threads where it was the other side)\n",
	      out);
	fprintf(out, "# %10s %9s %9s %7s %10s %8s %9s\n", "Tid", "Commits", "Aborts", "Rate", "Wasted",
		"Share", "Caused");
	for (size_t i = 0; i < n; i++) {
		char commits[24], rate[16];

		if (t[i].commits_known)
			snprintf(commits, sizeof(commits), "%" PRIu64, t[i].commits);
		else
			snprintf(commits, sizeof(commits), "-");
		tui_fmt_pct(rate, sizeof(rate), t[i].abort_rate);
		tui_fmt_pct(pct, sizeof(pct), t[i].wasted_share);
		fprintf(out, "  %10" PRIu32 " %9s %9" PRIu64 " %7s %10s %8s %9" PRIu64 "\n", t[i].tid,
			commits, t[i].aborts, rate, tui_fmt_ns(wasted, sizeof(wasted), t[i].wasted_ns), pct,
			t[i].caused);
	}
	if (n && !t[0].commits_known)
		fputs("# (commits per thread are not in the recording; the header has the total)\n", out);
}

int tui_print_stdio(FILE *out, struct tui_model *m, const struct tui_print_opts *o)
{
	struct tui_view *v = tui_view_new(m, &o->query);
	const char *gtitle = tui_group_title(o->query.group);
	size_t wl = gtitle ? strlen(gtitle) : 0, wa = strlen("Aborted side"), wo = strlen("Other side");
	size_t wk = strlen("Kind"), n;
	char buf[600];

	if (!v)
		return -ENOMEM;
	n = tui_view_rows(v);
	for (size_t i = 0; i < n; i++) {
		const struct tui_row *r = tui_view_row(v, i);
		size_t w;

		if (gtitle && (w = tui_width(r->label)) > wl)
			wl = w;
		tui_side_text(buf, sizeof(buf), &r->aborted);
		if ((w = tui_width(buf)) > wa)
			wa = w;
		tui_row_other_text(buf, sizeof(buf), r);
		if ((w = tui_width(buf)) > wo)
			wo = w;
		tui_row_kind_text(buf, sizeof(buf), r);
		if ((w = strlen(buf)) > wk)
			wk = w;
	}
	wl = wl > TUI_COL_MAX ? TUI_COL_MAX : wl;
	wa = wa > TUI_COL_MAX ? TUI_COL_MAX : wa;
	wo = wo > TUI_COL_MAX ? TUI_COL_MAX : wo;

	tui_print_header(out, m, v, o);
	fprintf(out, "# %7s %9s %8s %7s  %-*s  ", "Wasted", "Time", "Aborts", "Rate", (int)wk, "Kind");
	if (gtitle) {
		tui_put_col(out, gtitle, wl, true);
		fputs("  ", out);
	}
	tui_put_col(out, "Aborted side", wa, true);
	fputs("  ", out);
	tui_put_col(out, "Other side", wo, true);
	fputs("  When\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct tui_row *r = tui_view_row(v, i);
		uint64_t counts[TUI_SPARK_BUCKETS];
		char share[16], wasted[16], rate[16], kind[64], spark[4 * TUI_SPARK_BUCKETS + 1];

		tui_fmt_pct(share, sizeof(share), r->share);
		tui_fmt_pct(rate, sizeof(rate), r->abort_rate);
		tui_row_kind_text(kind, sizeof(kind), r);
		fprintf(out, "  %7s %9s %8" PRIu64 " %7s  %-*s  ", share,
			tui_fmt_ns(wasted, sizeof(wasted), r->wasted_ns), r->aborts, rate, (int)wk, kind);
		if (gtitle) {
			tui_put_col(out, r->label, wl, true);
			fputs("  ", out);
		}
		tui_side_text(buf, sizeof(buf), &r->aborted);
		tui_put_col(out, buf, wa, true);
		fputs("  ", out);
		tui_row_other_text(buf, sizeof(buf), r);
		tui_put_col(out, buf, wo, true);
		tui_view_histogram(v, i, counts, TUI_SPARK_BUCKETS);
		fprintf(out, "  |%s|\n", tui_sparkline(counts, TUI_SPARK_BUCKETS, o->utf8, spark, sizeof(spark)));
		if (o->stacks) {
			tui_print_row_stacks(out, m, v, i);
			if (i + 1 < n)
				fputc('\n', out);
		}
	}
	if (!n)
		fputs("  (no aborts)\n", out);
	tui_print_threads(out, m);
	tui_view_free(v);
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------ JSON */

/* A JSON string: the model's strings are valid UTF-8 without control
 * characters already; quotes and backslashes still need escaping. */
static void tui_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void tui_json_frames(FILE *out, struct tui_model *m, uint32_t stack)
{
	const struct tui_frame *f;
	size_t n;

	f = tui_model_frames(m, stack, &n);
	fputs("\"frames\": [", out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", {\"function\": " : "{\"function\": ", out);
		tui_json_str(out, f[i].function);
		fputs(", \"file\": ", out);
		tui_json_str(out, f[i].file);
		fprintf(out, ", \"line\": %u, \"module\": ", f[i].line);
		tui_json_str(out, f[i].module);
		fprintf(out, ", \"pc\": \"0x%" PRIx64 "\", \"inlined\": %s}", f[i].pc,
			f[i].inlined ? "true" : "false");
	}
	fputc(']', out);
}

static void tui_json_threads(FILE *out, const struct tui_view *v, size_t i, bool other)
{
	size_t n = tui_view_threads(v, i, other, NULL, 0);
	uint32_t *t = n ? malloc(n * sizeof(*t)) : NULL;

	if (t)
		n = tui_view_threads(v, i, other, t, n);
	else
		n = 0;
	fputs("\"threads\": [", out);
	for (size_t k = 0; k < n; k++)
		fprintf(out, "%s%" PRIu32, k ? ", " : "", t[k]);
	fputc(']', out);
	free(t);
}

static void tui_json_block(FILE *out, struct tui_model *m, uint32_t b)
{
	const struct tui_block *k = tui_model_block(m, b);

	if (!k) {
		fputs("null", out);
		return;
	}
	fputs("{\"function\": ", out);
	tui_json_str(out, k->function);
	fputs(", \"file\": ", out);
	tui_json_str(out, k->file);
	fprintf(out, ", \"line\": %u, \"commits\": %" PRIu64 ", \"aborts\": %" PRIu64, k->line, k->commits,
		k->aborts);
	if (k->abort_rate >= 0)
		fprintf(out, ", \"abort_rate\": %.6f}", k->abort_rate);
	else
		fputs(", \"abort_rate\": null}", out);
}

/* One element of "conflicts": a row of the exact-stacks grouping. */
static void tui_json_conflict(FILE *out, struct tui_model *m, const struct tui_view *v, size_t i)
{
	const struct tui_row *r = tui_view_row(v, i);
	struct tui_abort ex;
	struct tui_address a = { 0 };
	size_t na = tui_view_addresses(v, i, &a, 1);

	tui_model_abort(m, r->first_abort, &ex);
	fputs("    {\"kind\": ", out);
	tui_json_str(out, tui_kind_name(r->kind));
	fprintf(out, ", \"address\": \"0x%" PRIx64 "\", \"addresses\": %zu, \"aborts\": %" PRIu64
		", \"wasted_ns\": %" PRIu64 ", \"false_conflicts\": %" PRIu64 ",\n",
		na ? a.address : 0, na, r->aborts, r->wasted_ns, r->false_conflicts);
	fputs("     \"aborted\": {", out);
	tui_json_threads(out, v, i, false);
	fputs(", \"block\": ", out);
	tui_json_block(out, m, ex.block);
	fputs(", ", out);
	tui_json_frames(out, m, ex.stack);
	fputc('}', out);
	if (tui_kind_is_conflict(r->kind)) {
		fprintf(out, ",\n     \"other\": {\"known\": %s, ", ex.other_stack ? "true" : "false");
		tui_json_threads(out, v, i, true);
		fputs(", \"block\": ", out);
		tui_json_block(out, m, ex.other_block);
		fputs(", ", out);
		tui_json_frames(out, m, ex.other_stack);
		fputc('}', out);
	}
	if (na && a.alloc_stack) {
		fputs(",\n     \"allocation\": {", out);
		tui_json_frames(out, m, a.alloc_stack);
		fputc('}', out);
	}
	fputc('}', out);
}

static void tui_json_loc(FILE *out, const struct tui_loc *l)
{
	if (!l->stack) {
		fputs("null", out);
		return;
	}
	fputs("{\"function\": ", out);
	tui_json_str(out, l->function);
	fputs(", \"file\": ", out);
	tui_json_str(out, l->file);
	fprintf(out, ", \"line\": %u}", l->line);
}

/* One element of "groups" (--group): a row of that grouping. */
static void tui_json_group(FILE *out, const struct tui_view *v, size_t i)
{
	const struct tui_row *r = tui_view_row(v, i);

	fputs("    {\"label\": ", out);
	tui_json_str(out, r->label);
	fputs(", \"kind\": ", out);
	tui_json_str(out, r->kind < 0 ? "mixed" : tui_kind_name(r->kind));
	fprintf(out, ", \"aborts\": %" PRIu64 ", \"wasted_ns\": %" PRIu64 ", \"false_conflicts\": %" PRIu64,
		r->aborts, r->wasted_ns, r->false_conflicts);
	if (r->abort_rate >= 0)
		fprintf(out, ", \"abort_rate\": %.6f", r->abort_rate);
	else
		fputs(", \"abort_rate\": null", out);
	fputs(",\n     \"aborted\": ", out);
	tui_json_loc(out, &r->aborted);
	fputs(", \"other\": ", out);
	tui_json_loc(out, &r->other);
	fputc('}', out);
}

/* "per_thread": the threads table, as --stdio prints it (commits and
 * abort_rate null when the recording does not count commits per thread). */
static void tui_json_per_thread(FILE *out, struct tui_model *m)
{
	size_t n;
	const struct tui_thread *t = tui_model_threads(m, &n);

	fputs(",\n \"per_thread\": [", out);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s\n    {\"tid\": %" PRIu32 ", \"commits\": ", i ? "," : "", t[i].tid);
		if (t[i].commits_known)
			fprintf(out, "%" PRIu64, t[i].commits);
		else
			fputs("null", out);
		fprintf(out, ", \"aborts\": %" PRIu64 ", \"abort_rate\": ", t[i].aborts);
		if (t[i].abort_rate >= 0)
			fprintf(out, "%.6f", t[i].abort_rate);
		else
			fputs("null", out);
		fprintf(out, ", \"wasted_ns\": %" PRIu64 ", \"wasted_share\": %.6f, \"caused\": %" PRIu64 "}",
			t[i].wasted_ns, t[i].wasted_share, t[i].caused);
	}
	fputs(n ? "\n ]" : "]", out);
}

/* "omitted": what the limit left out of an array, so that sums still add up. */
static void tui_json_omitted(FILE *out, const struct tui_view *v)
{
	struct tui_view_totals t;
	uint64_t aborts = 0, wasted = 0;
	size_t n = tui_view_rows(v);

	tui_view_totals(v, &t);
	if (n == t.groups)
		return;
	for (size_t i = 0; i < n; i++) {
		aborts += tui_view_row(v, i)->aborts;
		wasted += tui_view_row(v, i)->wasted_ns;
	}
	fprintf(out, ", \"omitted\": {\"rows\": %zu, \"aborts\": %" PRIu64 ", \"wasted_ns\": %" PRIu64 "}",
		t.groups - n, t.aborts - aborts, t.wasted_ns - wasted);
}

int tui_print_json(FILE *out, struct tui_model *m, const struct tui_print_opts *o)
{
	struct tui_query q = o->query;
	struct tui_view *v, *gv = NULL;
	struct tui_view_totals t;
	struct tui_summary s;
	size_t n;

	/* "conflicts" groups identical (kind, aborted stack, other stack),
	 * whatever --group says (CONTRACT.md); --group adds "groups". */
	q.group = TUI_GROUP_STACKS;
	v = tui_view_new(m, &q);
	if (!v)
		return -ENOMEM;
	if (o->group_given && !(gv = tui_view_new(m, &o->query))) {
		tui_view_free(v);
		return -ENOMEM;
	}
	tui_model_summary(m, &s);
	tui_view_totals(v, &t);
	fprintf(out, "{\"aborts\": %" PRIu64 ", \"wasted_ns\": %" PRIu64 ", \"dropped\": %" PRIu64 ",\n",
		t.aborts, t.wasted_ns, s.dropped);
	fputs(" \"program\": ", out);
	tui_json_str(out, s.program);
	fputs(", \"cmdline\": ", out);
	tui_json_str(out, s.cmdline);
	fprintf(out, ", \"pid\": %" PRIu32 ", \"finished\": %s,\n", s.pid, s.finished ? "true" : "false");
	fprintf(out, " \"duration_ns\": %" PRIu64 ", \"threads\": %u, \"commits\": %" PRIu64
		", \"recorded_aborts\": %" PRIu64 ", \"recorded_wasted_ns\": %" PRIu64 ",\n",
		s.duration_ns, s.threads, s.commits, s.aborts, s.wasted_ns);
	fputs(" \"sort\": ", out);
	tui_json_str(out, tui_sort_name(o->query.sort));
	if (o->query.filter && o->query.filter[0]) {
		char filter[1024];

		/* The user's text may hold bytes that are not UTF-8. */
		rec_escape(filter, sizeof(filter), o->query.filter, strlen(o->query.filter));
		fputs(", \"filter\": ", out);
		tui_json_str(out, filter);
	}
	fputs(",\n \"conflicts\": [\n", out);
	n = tui_view_rows(v);
	for (size_t i = 0; i < n; i++) {
		tui_json_conflict(out, m, v, i);
		fputs(i + 1 < n ? ",\n" : "\n", out);
	}
	fputs(" ]", out);
	tui_json_omitted(out, v);
	if (gv) {
		fputs(",\n \"group\": ", out);
		tui_json_str(out, tui_group_name(o->query.group));
		fputs(", \"groups\": [\n", out);
		n = tui_view_rows(gv);
		for (size_t i = 0; i < n; i++) {
			tui_json_group(out, gv, i);
			fputs(i + 1 < n ? ",\n" : "\n", out);
		}
		fputs(" ]", out);
		tui_json_omitted(out, gv);
	}
	tui_json_per_thread(out, m);
	fputs("}\n", out);
	tui_view_free(gv);
	tui_view_free(v);
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------ folded */

struct tui_fold {
	char *line;                /* "outer;...;inner" */
	uint64_t weight;
};

static int tui_fold_cmp(const void *a, const void *b)
{
	const struct tui_fold *x = a, *y = b;

	return strcmp(x->line, y->line);
}

static int tui_fold_weight_cmp(const void *a, const void *b)
{
	const struct tui_fold *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->line, y->line);
}

/* The folded line of a stack: functions outermost first, ';' between
 * (a ';' inside a name becomes ':', so that it cannot split a frame). */
static char *tui_fold_line(struct tui_model *m, uint32_t stack)
{
	const struct tui_frame *f;
	size_t n, len = 0;
	char *line, *p;

	f = tui_model_frames(m, stack, &n);
	if (!n)
		return strdup("[no stack]");
	for (size_t i = 0; i < n; i++)
		len += strlen(f[i].function) + 1;
	line = p = malloc(len);
	if (!line)
		return NULL;
	for (size_t i = n; i-- > 0;) {
		for (const char *s = f[i].function; *s; s++)
			*p++ = *s == ';' ? ':' : *s;
		*p++ = i ? ';' : '\0';
	}
	return line;
}

int tui_print_folded(FILE *out, struct tui_model *m, const struct tui_print_opts *o)
{
	struct tui_view *v = tui_view_new(m, &o->query);
	uint64_t *by_stack = NULL;
	struct tui_fold *fo = NULL;
	size_t nstacks, nf = 0, k = 0;
	struct tui_summary s;
	int rc = -ENOMEM;

	if (!v)
		return -ENOMEM;
	/* Wasted time per aborted stack, over the rows kept (all of them
	 * without --limit). */
	tui_model_summary(m, &s);
	nstacks = (size_t)s.stacks + 1;
	if (!(by_stack = calloc(nstacks, sizeof(*by_stack))))
		goto out;
	for (size_t i = 0; i < tui_view_rows(v); i++) {
		size_t n;
		const uint64_t *mem = tui_view_members(v, i, &n);

		for (size_t j = 0; j < n; j++) {
			struct tui_abort a;

			tui_model_abort(m, mem[j], &a);
			by_stack[a.stack < nstacks ? a.stack : 0] += a.wasted_ns;
		}
	}
	for (size_t i = 0; i < nstacks; i++)
		nf += by_stack[i] != 0;
	if (nf && !(fo = calloc(nf, sizeof(*fo))))
		goto out;
	for (size_t i = 0; i < nstacks; i++) {
		if (!by_stack[i])
			continue;
		fo[k].weight = by_stack[i];
		if (!(fo[k++].line = tui_fold_line(m, (uint32_t)i)))
			goto out;
	}
	/* Different stacks can fold to the same functions (other lines): merge. */
	if (nf > 1)
		qsort(fo, nf, sizeof(*fo), tui_fold_cmp);
	k = 0;
	for (size_t i = 0; i < nf; i++) {
		if (k && strcmp(fo[k - 1].line, fo[i].line) == 0) {
			fo[k - 1].weight += fo[i].weight;
			free(fo[i].line);
		} else {
			fo[k++] = fo[i];
		}
	}
	nf = k;
	if (nf > 1)
		qsort(fo, nf, sizeof(*fo), tui_fold_weight_cmp);
	for (size_t i = 0; i < nf; i++)
		fprintf(out, "%s %" PRIu64 "\n", fo[i].line, fo[i].weight);
	rc = ferror(out) ? -EIO : 0;
out:
	for (size_t i = 0; fo && i < nf; i++)
		free(fo[i].line);
	free(fo);
	free(by_stack);
	tui_view_free(v);
	return rc;
}
