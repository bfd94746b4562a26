/* bench: times the report model's operations on a recording: the load, and each regrouping, sort and filter a browser key would ask for. */
/*
 * Usage: model-speed FILE [FILTER]
 *
 * Prints one line per operation with its time in milliseconds: the CPU
 * time this process used (which other processes on a busy machine do not
 * inflate much) and the wall-clock time. Not a test: figures depend on the
 * machine; bench/report-speed.sh runs it and BENCHMARKS.md has results.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tui/model.h"

static double clock_ms(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A moment: CPU and wall-clock time. */
struct stamp {
	double cpu, wall;
};

static struct stamp stamp(void)
{
	return (struct stamp){ clock_ms(CLOCK_PROCESS_CPUTIME_ID), clock_ms(CLOCK_MONOTONIC) };
}

/* "cpu X ms, wall Y ms" since s, into buf. */
static const char *since(struct stamp s, char *buf, size_t len)
{
	struct stamp e = stamp();

	snprintf(buf, len, "cpu %7.1f ms, wall %7.1f ms", e.cpu - s.cpu, e.wall - s.wall);
	return buf;
}

static void set_query(struct tui_view *v, const struct tui_query *q)
{
	if (tui_view_set_query(v, q) != 0) {
		fprintf(stderr, "model-speed: out of memory\n");
		exit(1);
	}
}

/* A new view of q and its first 50 rows, as the browser draws them. */
static void show(struct tui_model *m, const struct tui_query *q)
{
	struct tui_view *v = tui_view_new(m, q);

	if (!v) {
		fprintf(stderr, "model-speed: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < 50 && i < tui_view_rows(v); i++) {
		uint64_t counts[16];

		if (!tui_view_row(v, i)) {
			fprintf(stderr, "model-speed: out of memory\n");
			exit(1);
		}
		tui_view_histogram_sample(v, i, counts, 16, 4096);
	}
	tui_view_free(v);
}

int main(int argc, char **argv)
{
	struct tui_query q = { TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0 };
	const char *filter = argc > 2 ? argv[2] : "0x4010c5";
	struct tui_summary s;
	struct tui_model *m;
	struct tui_view *v;
	char err[600], b[64];
	struct stamp t0;

	if (argc < 2) {
		fprintf(stderr, "usage: model-speed FILE [FILTER]\n");
		return 2;
	}
	t0 = stamp();
	m = tui_model_open(argv[1], err, sizeof(err));
	if (!m) {
		fprintf(stderr, "model-speed: %s\n", err);
		return 1;
	}
	tui_model_summary(m, &s);
	printf("%-30s %s (%" PRIu64 " aborts, %u stacks, %u blocks)\n", "load", since(t0, b, sizeof(b)),
	       s.aborts, s.stacks, s.blocks);

	/* The first view symbolizes every stack's top frame: the browser's
	 * first screen. */
	t0 = stamp();
	v = tui_view_new(m, &q);
	if (!v) {
		fprintf(stderr, "model-speed: out of memory\n");
		return 1;
	}
	printf("%-30s %s, %zu rows\n", "first view (pair, wasted)", since(t0, b, sizeof(b)),
	       tui_view_rows(v));

	/* Each grouping from another one: a pass over every abort. */
	for (int k = 1; k <= TUI_GROUPS; k++) {
		char what[32];

		q.group = (enum tui_group)(k % TUI_GROUPS);
		t0 = stamp();
		set_query(v, &q);
		snprintf(what, sizeof(what), "group by %s", tui_group_name(q.group));
		printf("%-30s %s, %zu rows\n", what, since(t0, b, sizeof(b)), tui_view_rows(v));
	}
	/* What a browser key showing a grouping for the first time asks:
	 * a new view and the rows of one screen, with the sparklines the
	 * browser draws (16 buckets from at most 4096 aborts a row). */
	for (int k = 0; k <= TUI_GROUPS; k++) {
		char what[48];

		q.group = (enum tui_group)(k % TUI_GROUPS);
		q.filter = k == TUI_GROUPS ? filter : NULL;
		t0 = stamp();
		show(m, &q);
		if (q.filter)
			snprintf(what, sizeof(what), "show filter \"%s\"", filter);
		else
			snprintf(what, sizeof(what), "show %s", tui_group_name(q.group));
		printf("%-30s %s, 50 rows\n", what, since(t0, b, sizeof(b)));
	}
	q.group = TUI_GROUP_PAIR;
	q.filter = NULL;
	set_query(v, &q);
	/* Another sort key over the same groups: no pass. */
	for (int k = TUI_SORTS - 1; k >= 0; k--) {
		char what[32];

		q.sort = (enum tui_sort)k;
		t0 = stamp();
		set_query(v, &q);
		snprintf(what, sizeof(what), "sort by %s", tui_sort_name(q.sort));
		printf("%-30s %s\n", what, since(t0, b, sizeof(b)));
	}
	q.filter = filter;
	t0 = stamp();
	set_query(v, &q);
	printf("filter \"%-20s %s, %zu rows\n", filter, since(t0, b, sizeof(b)), tui_view_rows(v));
	q.filter = NULL;
	set_query(v, &q);

	/* What one screen of the main view costs beyond the grouping:
	 * 50 rows' sparklines, the first row's stack pairs and frames. */
	t0 = stamp();
	for (size_t i = 0; i < 50 && i < tui_view_rows(v); i++) {
		uint64_t counts[40];

		tui_view_row(v, i);
		tui_view_histogram(v, i, counts, 40);
	}
	printf("%-30s %s\n", "50 rows with sparklines", since(t0, b, sizeof(b)));
	t0 = stamp();
	{
		struct tui_stack_pair p[8];
		size_t n;

		tui_view_stack_pairs(v, 0, p, 8);
		tui_model_frames(m, p[0].stack, &n);
		tui_model_frames(m, p[0].other_stack, &n);
	}
	printf("%-30s %s\n", "first row's stacks", since(t0, b, sizeof(b)));
	t0 = stamp();
	tui_model_update(m);
	printf("%-30s %s\n", "update, nothing new", since(t0, b, sizeof(b)));
	t0 = stamp();
	tui_view_refresh(v);
	printf("%-30s %s\n", "refresh", since(t0, b, sizeof(b)));
	tui_view_free(v);
	tui_model_free(m);
	return 0;
}
