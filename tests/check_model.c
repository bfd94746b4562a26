/* tests: the report model (tui/model.h): loading, grouping, sorting, filtering, limits, histograms, threads, following. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lucid.h>

#include "conflict/format.h"
#include "conflict/writer.h"
#include "tests/testutil.h"
#include "tui/model.h"

/* ------------------------------------------------------------ helpers */

static char tmpdir[200];

static void tmp_setup(void)
{
	test_tmpdir_make(tmpdir, sizeof(tmpdir), "check-model");
}

static void tmp_teardown(void)
{
	test_tmpdir_remove(tmpdir);
}

static const char *tpath(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
	return buf;
}

/* Writes (mode "wb") or appends ("ab") bytes to a file. */
static void put_file(const char *path, const char *mode, const void *data, size_t len)
{
	FILE *f = fopen(path, mode);

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static struct tui_model *open_ok(const char *path)
{
	char err[600];
	struct tui_model *m = tui_model_open(path, err, sizeof(err));

	ck_assert_msg(m != NULL, "tui_model_open %s: %s", path, err);
	return m;
}

static struct tui_view *view(struct tui_model *m, enum tui_group g, enum tui_sort s, const char *filter,
			     size_t limit)
{
	struct tui_query q = { g, s, filter, limit };
	struct tui_view *v = tui_view_new(m, &q);

	ck_assert_ptr_nonnull(v);
	return v;
}

/* Start of the synthetic run (CLOCK_MONOTONIC ns); aborts happen at
 * T0 + offset, the last at T0 + 999, so that a histogram of 10 buckets
 * puts offset t in bucket t / 100. */
#define T0 1000000u

static const uint64_t pcs1[] = { 0x1000, 0x9000 };
static const uint64_t pcs2[] = { 0x1000, 0x9100 };   /* same top PC as stack 1 */
static const uint64_t pcs3[] = { 0x2000, 0x9000 };
static const uint64_t pcs4[] = { 0x3000 };

#define K REC_ABORT_OTHER_KNOWN
#define F REC_ABORT_FALSE_CONFLICT

/*
 * The synthetic run: (offset, wasted, reason, flags, tid, other tid,
 * site, other site, stack, other stack, address, other address).
 *
 * Pair rows (kind, aborted top, other top):
 *   P1 (ww, 0x1000 -> 0x2000): a0 a1 a2, 3 aborts, 300 ns, a2 a false conflict
 *   P2 (rw, 0x2000 -> 0x1000): a3..a6, 4 aborts, 40 ns
 *   P3 (abort, 0x3000):        a7, 1 abort, 1000 ns, no other side
 * Blocks: site 1 (serve, app.c:10) a0..a2 with 97 commits: rate 3/100;
 *         site 2 (report, app.c:20) a3..a7 with 5 commits: rate 5/10.
 * So by wasted P3 P1 P2, by aborts P2 P1 P3, by rate P2 P3 P1.
 */
static const struct {
	uint64_t off, wasted;
	uint8_t reason, flags;
	uint32_t tid, otid, site, osite, stack, ostack;
	uint64_t addr, oaddr;
} run[] = {
	{ 50, 100, LUCID_ABORT_WRITE_LOCKED, K, 11, 12, 1, 1, 1, 3, 0xa0, 0xa0 },
	{ 150, 200, LUCID_ABORT_WRITE_LOCKED, K, 12, 11, 1, 1, 2, 3, 0xa0, 0xa0 },
	{ 950, 0, LUCID_ABORT_WRITE_LOCKED, K | F, 11, 12, 1, 1, 1, 3, 0xa8, 0xa0 },
	{ 300, 10, LUCID_ABORT_READ_LOCKED, K, 11, 12, 2, 1, 3, 1, 0xa0, 0xa0 },
	{ 310, 10, LUCID_ABORT_READ_LOCKED, K, 11, 12, 2, 1, 3, 2, 0xa0, 0xa0 },
	{ 320, 10, LUCID_ABORT_READ_LOCKED, K, 13, 12, 2, 1, 3, 1, 0xa0, 0xa0 },
	{ 999, 10, LUCID_ABORT_READ_LOCKED, K, 11, 12, 2, 1, 3, 1, 0xb0, 0xb0 },
	{ 500, 1000, LUCID_ABORT_EXPLICIT, 0, 13, 0, 2, 0, 4, 0, 0, 0 },
};
#define NRUN (sizeof(run) / sizeof(run[0]))

static void put_abort(struct rec_buf *b, size_t i)
{
	struct rec_abort a = {
		.mono_ns = T0 + run[i].off, .wasted_ns = run[i].wasted, .reason = run[i].reason,
		.flags = run[i].flags, .attempt = 1, .tid = run[i].tid, .other_tid = run[i].otid,
		.site = run[i].site, .other_site = run[i].osite, .stack = run[i].stack,
		.other_stack = run[i].ostack, .address = run[i].addr, .other_address = run[i].oaddr,
	};

	ck_assert_int_eq(rec_put_abort(b, &a), 0);
}

static const char *const app_argv[] = { "app", "-x" };

/* The records before the aborts. */
static void put_start(struct rec_buf *b, const char *site1_function)
{
	ck_assert_int_eq(rec_put_header(b, &(struct rec_header){ .pid = 42, .ppid = 1,
		.start_realtime_ns = 1700000000000000000ull, .start_mono_ns = T0, .orec_bits = 20,
		.word_shift = 3, .program = "/bin/app", .argc = 2, .argv = app_argv }), 0);
	ck_assert_int_eq(rec_put_stack(b, 1, pcs1, 2), 0);
	ck_assert_int_eq(rec_put_stack(b, 2, pcs2, 2), 0);
	ck_assert_int_eq(rec_put_stack(b, 3, pcs3, 2), 0);
	ck_assert_int_eq(rec_put_stack(b, 4, pcs4, 1), 0);
	ck_assert_int_eq(rec_put_site(b, &(struct rec_site){ .id = 1, .line = 10, .pc = 0x9000,
		.file = "app.c", .function = site1_function }), 0);
	ck_assert_int_eq(rec_put_site(b, &(struct rec_site){ .id = 2, .line = 20, .pc = 0x9000,
		.file = "app.c", .function = "report" }), 0);
}

static const struct rec_commit run_commits[] = { { 1, 97 }, { 2, 5 } };

/* The whole synthetic run; finished: with the STATS of a normal exit. */
static void write_run(const char *path, bool finished)
{
	struct rec_buf b = { 0 };

	put_start(&b, "serve");
	for (size_t i = 0; i < NRUN; i++)
		put_abort(&b, i);
	ck_assert_int_eq(rec_put_commits(&b, run_commits, 2), 0);
	ck_assert_int_eq(rec_put_drops(&b, 7), 0);
	if (finished)
		ck_assert_int_eq(rec_put_stats(&b, &(struct rec_stats){ .commits = 150, .aborts = 15 }), 0);
	ck_assert(!b.oom);
	put_file(path, "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
}

static struct tui_model *open_run(bool finished)
{
	char path[PATH_MAX];

	write_run(tpath(path, "run.lucid"), finished);
	return open_ok(path);
}

/* Row i of v must be (aborts, wasted, label). */
static void expect_row(const struct tui_view *v, size_t i, uint64_t aborts, uint64_t wasted,
		       const char *label)
{
	const struct tui_row *r = tui_view_row(v, i);

	ck_assert_msg(r != NULL, "no row %zu (%zu rows)", i, tui_view_rows(v));
	ck_assert_msg(r->aborts == aborts && r->wasted_ns == wasted && strcmp(r->label, label) == 0,
		      "row %zu: %" PRIu64 " aborts, %" PRIu64 " ns, \"%s\"; expected %" PRIu64 ", %" PRIu64
		      ", \"%s\"", i, r->aborts, r->wasted_ns, r->label, aborts, wasted, label);
}

/* ------------------------------------------------------------ cases */

START_TEST(test_kind_names)
{
	/* The model cannot link the engine; its names must be the engine's. */
	for (int i = 0; i < LUCID_ABORT_REASONS; i++) {
		ck_assert_str_eq(tui_kind_name(i), lucid_abort_reason_name(i));
		ck_assert_int_eq(tui_kind_is_conflict(i), lucid_abort_reason_is_conflict(i) != 0);
	}
	ck_assert_str_eq(tui_kind_name(LUCID_ABORT_REASONS), "unknown");
	ck_assert_str_eq(tui_kind_name(-1), "unknown");
	for (int g = 0; g < TUI_GROUPS; g++)
		ck_assert_int_eq(tui_group_parse(tui_group_name(g)), g);
	for (int s = 0; s < TUI_SORTS; s++)
		ck_assert_int_eq(tui_sort_parse(tui_sort_name(s)), s);
	ck_assert_int_eq(tui_group_parse("pairs"), -1);
	ck_assert_int_eq(tui_sort_parse(""), -1);
}
END_TEST

START_TEST(test_summary)
{
	struct tui_model *m = open_run(false);
	struct tui_summary s;
	struct tui_abort a;

	tui_model_summary(m, &s);
	ck_assert_str_eq(s.program, "/bin/app");
	ck_assert_str_eq(s.cmdline, "app -x");
	ck_assert_uint_eq(s.pid, 42);
	ck_assert_uint_eq(s.start_mono_ns, T0);
	ck_assert_uint_eq(s.end_mono_ns, T0 + 999);
	ck_assert_uint_eq(s.duration_ns, 999);
	ck_assert_uint_eq(s.aborts, NRUN);
	ck_assert_uint_eq(s.conflicts, NRUN - 1);
	ck_assert_uint_eq(s.wasted_ns, 1340);
	ck_assert_uint_eq(s.threads, 3);
	ck_assert_double_eq_tol(s.wasted_share, 1340.0 / (999.0 * 3), 1e-12);
	ck_assert_uint_eq(s.dropped, 7);
	ck_assert_uint_eq(s.blocks, 2);
	ck_assert_uint_eq(s.stacks, 4);
	/* Not finished: the commits are the COMMITS records' sum. */
	ck_assert(!s.finished && !tui_model_finished(m));
	ck_assert_uint_eq(s.commits, 102);
	ck_assert_uint_eq(s.process_aborts, 0);
	ck_assert_uint_eq(tui_model_aborts(m), NRUN);
	ck_assert(tui_model_abort(m, 2, &a));
	ck_assert_uint_eq(a.mono_ns, T0 + 950);
	ck_assert_uint_eq(a.reason, LUCID_ABORT_WRITE_LOCKED);
	ck_assert_uint_eq(a.address, 0xa8);
	ck_assert_uint_eq(a.other_address, 0xa0);
	ck_assert_uint_eq(a.flags, K | F);
	ck_assert_uint_eq(a.tid, 11);
	ck_assert_uint_eq(a.other_tid, 12);
	ck_assert_uint_eq(a.attempt, 1);
	ck_assert(a.stack != 0 && a.other_stack != 0 && a.block != 0 && a.other_block != 0);
	ck_assert(!tui_model_abort(m, NRUN, &a));
	ck_assert_ptr_null(tui_model_warning(m));
	tui_model_free(m);

	/* Finished: the process's totals. */
	m = open_run(true);
	tui_model_summary(m, &s);
	ck_assert(s.finished);
	ck_assert_uint_eq(s.commits, 150);
	ck_assert_uint_eq(s.process_aborts, 15);
	tui_model_free(m);
}
END_TEST

START_TEST(test_blocks)
{
	struct tui_model *m = open_run(true);
	struct tui_abort a0, a7;
	const struct tui_block *b;

	ck_assert(tui_model_abort(m, 0, &a0) && tui_model_abort(m, 7, &a7));
	b = tui_model_block(m, a0.block);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->function, "serve");
	ck_assert_str_eq(b->file, "app.c");
	ck_assert_uint_eq(b->line, 10);
	ck_assert_uint_eq(b->commits, 97);
	ck_assert_uint_eq(b->aborts, 3);
	ck_assert_uint_eq(b->wasted_ns, 300);
	ck_assert_double_eq_tol(b->abort_rate, 0.03, 1e-12);
	b = tui_model_block(m, a7.block);
	ck_assert_str_eq(b->function, "report");
	ck_assert_double_eq_tol(b->abort_rate, 0.5, 1e-12);
	ck_assert_uint_eq(a7.other_block, 0);
	ck_assert_ptr_null(tui_model_block(m, 0));
	ck_assert_ptr_null(tui_model_block(m, 99));
	tui_model_free(m);
}
END_TEST

START_TEST(test_group_pair)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	struct tui_view_totals t;
	const struct tui_row *r;

	ck_assert_uint_eq(tui_view_rows(v), 3);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 1, 3, 300, "0x1000 -> 0x2000");
	expect_row(v, 2, 4, 40, "0x2000 -> 0x1000");
	tui_view_totals(v, &t);
	ck_assert_uint_eq(t.aborts, NRUN);
	ck_assert_uint_eq(t.wasted_ns, 1340);
	ck_assert_uint_eq(t.groups, 3);

	r = tui_view_row(v, 0);
	ck_assert_int_eq(r->kind, LUCID_ABORT_EXPLICIT);
	ck_assert_uint_eq(r->other.stack, 0);
	ck_assert_str_eq(r->aborted.function, "0x3000");
	ck_assert_double_eq_tol(r->share, 1000.0 / 1340, 1e-12);
	ck_assert_double_eq_tol(r->abort_rate, 0.5, 1e-12);
	r = tui_view_row(v, 1);
	ck_assert_int_eq(r->kind, LUCID_ABORT_WRITE_LOCKED);
	ck_assert_uint_eq(r->false_conflicts, 1);
	ck_assert_str_eq(r->aborted.function, "0x1000");
	ck_assert_str_eq(r->aborted.file, "??");
	ck_assert_uint_eq(r->aborted.line, 0);
	ck_assert_str_eq(r->other.function, "0x2000");
	ck_assert_double_eq_tol(r->abort_rate, 0.03, 1e-12);
	ck_assert_uint_eq(r->first_abort, 0);
	ck_assert_uint_eq(r->first_ns, T0 + 50);
	ck_assert_uint_eq(r->last_ns, T0 + 950);
	r = tui_view_row(v, 2);
	ck_assert_int_eq(r->kind, LUCID_ABORT_READ_LOCKED);
	ck_assert_uint_eq(r->false_conflicts, 0);
	ck_assert_ptr_null(tui_view_row(v, 3));
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_group_others)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v;
	const struct tui_row *r;

	/* Exact stacks: stacks 1 and 2 share their top frame, not their stack. */
	v = view(m, TUI_GROUP_STACKS, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 5);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 1, 1, 200, "0x1000 -> 0x2000");
	expect_row(v, 2, 2, 100, "0x1000 -> 0x2000");
	expect_row(v, 3, 3, 30, "0x2000 -> 0x1000");
	expect_row(v, 4, 1, 10, "0x2000 -> 0x1000");
	tui_view_free(v);

	v = view(m, TUI_GROUP_BLOCK, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 2);
	expect_row(v, 0, 5, 1040, "report app.c:20");
	expect_row(v, 1, 3, 300, "serve app.c:10");
	ck_assert_int_eq(tui_view_row(v, 0)->kind, -1); /* rw and an explicit abort */
	ck_assert_int_eq(tui_view_row(v, 1)->kind, LUCID_ABORT_WRITE_LOCKED);
	/* Its most frequent stack pair: stack 3 against stack 1. */
	r = tui_view_row(v, 0);
	ck_assert_str_eq(r->aborted.function, "0x2000");
	ck_assert_str_eq(r->other.function, "0x1000");
	tui_view_free(v);

	v = view(m, TUI_GROUP_ADDRESS, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 4);
	expect_row(v, 0, 1, 1000, "none");
	expect_row(v, 1, 5, 330, "0xa0");
	expect_row(v, 2, 1, 10, "0xb0");
	expect_row(v, 3, 1, 0, "0xa8");
	ck_assert_uint_eq(tui_view_row(v, 1)->address, 0xa0);
	/* 0xa0's first abort ran block 1 (a0, a1), most of them block 2
	 * (a3..a5): the row shows block 2 and its rate. */
	ck_assert_uint_eq(tui_view_row(v, 1)->block, 2);
	ck_assert_double_eq_tol(tui_view_row(v, 1)->abort_rate, 0.5, 1e-12);
	tui_view_free(v);

	v = view(m, TUI_GROUP_FUNCTION, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 3);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 1, 3, 300, "0x1000");
	expect_row(v, 2, 4, 40, "0x2000");
	tui_view_free(v);

	v = view(m, TUI_GROUP_THREAD, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 3);
	expect_row(v, 0, 2, 1010, "tid 13");
	expect_row(v, 1, 1, 200, "tid 12");
	expect_row(v, 2, 5, 130, "tid 11");
	ck_assert_uint_eq(tui_view_row(v, 0)->tid, 13);
	/* tid 13 ran two stack pairs once each (a5, then a7): the first met. */
	r = tui_view_row(v, 0);
	ck_assert_str_eq(r->aborted.function, "0x2000");
	ck_assert_str_eq(r->other.function, "0x1000");
	/* tid 11 ran block 1 twice, block 2 three times. */
	ck_assert_uint_eq(tui_view_row(v, 2)->block, 2);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_sort)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v = view(m, TUI_GROUP_PAIR, TUI_SORT_ABORTS, NULL, 0);
	struct tui_query q = *tui_view_query(v);

	expect_row(v, 0, 4, 40, "0x2000 -> 0x1000");
	expect_row(v, 1, 3, 300, "0x1000 -> 0x2000");
	expect_row(v, 2, 1, 1000, "0x3000");
	/* By rate: P2 and P3 tie at 0.5 (same block); more aborts first. */
	q.sort = TUI_SORT_RATE;
	ck_assert_int_eq(tui_view_set_query(v, &q), 0);
	expect_row(v, 0, 4, 40, "0x2000 -> 0x1000");
	expect_row(v, 1, 1, 1000, "0x3000");
	expect_row(v, 2, 3, 300, "0x1000 -> 0x2000");
	q.sort = TUI_SORT_WASTED;
	ck_assert_int_eq(tui_view_set_query(v, &q), 0);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 1, 3, 300, "0x1000 -> 0x2000");
	expect_row(v, 2, 4, 40, "0x2000 -> 0x1000");
	/* Equal wasted time: more aborts first, then the label. */
	q.group = TUI_GROUP_ADDRESS;
	q.sort = TUI_SORT_ABORTS;
	ck_assert_int_eq(tui_view_set_query(v, &q), 0);
	expect_row(v, 0, 5, 330, "0xa0");
	expect_row(v, 1, 1, 1000, "none");
	expect_row(v, 2, 1, 10, "0xb0");
	expect_row(v, 3, 1, 0, "0xa8");
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_rate_unknown)
{
	/* Without any COMMITS record the rate is unknown, and sorts last. */
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v;

	put_start(&b, "serve");
	for (size_t i = 0; i < NRUN; i++)
		put_abort(&b, i);
	put_file(tpath(path, "norate.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_RATE, NULL, 0);
	ck_assert_double_eq(tui_view_row(v, 0)->abort_rate, -1);
	ck_assert_double_eq(tui_model_block(m, 1)->abort_rate, -1);
	/* All unknown: the ties fall back to aborts. */
	expect_row(v, 0, 4, 40, "0x2000 -> 0x1000");
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_filter_limit)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "0X9100", 0);
	struct tui_view_totals t;

	/* Stack 2 (frame 0x9100) is a1's aborted side and a4's other side. */
	ck_assert_uint_eq(tui_view_rows(v), 2);
	expect_row(v, 0, 1, 200, "0x1000 -> 0x2000");
	expect_row(v, 1, 1, 10, "0x2000 -> 0x1000");
	tui_view_totals(v, &t);
	ck_assert_uint_eq(t.aborts, 2);
	ck_assert_uint_eq(t.wasted_ns, 210);
	ck_assert_uint_eq(t.groups, 2);
	/* Shares stay relative to all the recorded time. */
	ck_assert_double_eq_tol(tui_view_row(v, 0)->share, 200.0 / 1340, 1e-12);
	ck_assert_str_eq(tui_view_query(v)->filter, "0X9100");
	tui_view_free(v);

	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "no such frame", 0);
	ck_assert_uint_eq(tui_view_rows(v), 0);
	tui_view_totals(v, &t);
	ck_assert_uint_eq(t.aborts, 0);
	tui_view_free(v);

	/* Files match too: "??" is every unsymbolized frame's file. */
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "??", 0);
	ck_assert_uint_eq(tui_view_rows(v), 3);
	tui_view_free(v);

	/* An empty filter keeps all. */
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "", 2);
	ck_assert_uint_eq(tui_view_rows(v), 2);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 1, 3, 300, "0x1000 -> 0x2000");
	ck_assert_ptr_null(tui_view_row(v, 2));
	tui_view_totals(v, &t);
	ck_assert_uint_eq(t.groups, 3);
	ck_assert_uint_eq(t.aborts, NRUN);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_block_ties)
{
	/* A row's block is the one most of its aborts ran; of equals, the
	 * first defined (lowest handle), whichever its first abort ran. */
	static const struct { uint32_t tid, site; } ab[] = {
		{ 21, 2 }, { 21, 1 },             /* a tie: block 1 */
		{ 22, 2 }, { 22, 1 }, { 22, 2 },  /* block 2 */
		{ 23, 1 }, { 23, 2 }, { 23, 2 },  /* block 2 */
	};
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v;

	put_start(&b, "serve");
	for (size_t i = 0; i < sizeof(ab) / sizeof(ab[0]); i++) {
		struct rec_abort a = {
			.mono_ns = T0 + i, .wasted_ns = 10, .reason = LUCID_ABORT_WRITE_LOCKED, .flags = K,
			.attempt = 1, .tid = ab[i].tid, .other_tid = 1, .site = ab[i].site, .other_site = 1,
			.stack = 1, .other_stack = 3,
		};

		ck_assert_int_eq(rec_put_abort(&b, &a), 0);
	}
	put_file(tpath(path, "ties.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);
	v = view(m, TUI_GROUP_THREAD, TUI_SORT_ABORTS, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 3);
	expect_row(v, 0, 3, 30, "tid 22");
	expect_row(v, 1, 3, 30, "tid 23");
	expect_row(v, 2, 2, 20, "tid 21");
	ck_assert_uint_eq(tui_view_row(v, 0)->block, 2);
	ck_assert_uint_eq(tui_view_row(v, 1)->block, 2);
	ck_assert_uint_eq(tui_view_row(v, 2)->block, 1);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_filter_views)
{
	/* The model keeps the last filter's verdicts for the next view:
	 * views of other filters, other groupings and set_query must still
	 * see their own. */
	struct tui_model *m = open_run(true);
	struct tui_view *a = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "0X9100", 0);
	struct tui_view *b = view(m, TUI_GROUP_BLOCK, TUI_SORT_WASTED, "0x3000", 0);
	struct tui_query q;

	/* Two filters at once, each view made again after the other. */
	ck_assert_int_eq(tui_view_refresh(a), 0);
	ck_assert_uint_eq(tui_view_rows(a), 2);
	expect_row(a, 0, 1, 200, "0x1000 -> 0x2000");
	expect_row(a, 1, 1, 10, "0x2000 -> 0x1000");
	ck_assert_int_eq(tui_view_refresh(b), 0);
	ck_assert_uint_eq(tui_view_rows(b), 1);
	expect_row(b, 0, 1, 1000, "report app.c:20");
	/* Another grouping, the same filter: a1 (tid 12) and a4 (tid 11). */
	q = *tui_view_query(a);
	q.group = TUI_GROUP_THREAD;
	ck_assert_int_eq(tui_view_set_query(a, &q), 0);
	ck_assert_uint_eq(tui_view_rows(a), 2);
	expect_row(a, 0, 1, 200, "tid 12");
	expect_row(a, 1, 1, 10, "tid 11");
	/* Another filter: stack 3 is on one side of every abort but a7's. */
	q.filter = "0x2000";
	ck_assert_int_eq(tui_view_set_query(a, &q), 0);
	ck_assert_uint_eq(tui_view_rows(a), 3);
	expect_row(a, 0, 1, 200, "tid 12");
	expect_row(a, 1, 5, 130, "tid 11");
	expect_row(a, 2, 1, 10, "tid 13");
	/* And back. */
	q.filter = "0x9100";
	ck_assert_int_eq(tui_view_set_query(a, &q), 0);
	ck_assert_uint_eq(tui_view_rows(a), 2);
	expect_row(a, 0, 1, 200, "tid 12");
	ck_assert_int_eq(tui_view_refresh(b), 0);
	ck_assert_uint_eq(tui_view_rows(b), 1);
	expect_row(b, 0, 1, 1000, "report app.c:20");
	tui_view_free(a);
	tui_view_free(b);
	tui_model_free(m);
}
END_TEST

START_TEST(test_row_details)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	struct tui_stack_pair p[4];
	struct tui_address a[4];
	uint32_t tids[4];
	const uint64_t *mem;
	size_t n;

	/* P1 (row 1): a0, a1, a2. */
	mem = tui_view_members(v, 1, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert(mem[0] == 0 && mem[1] == 1 && mem[2] == 2);
	ck_assert_uint_eq(tui_view_stack_pairs(v, 1, p, 4), 2);
	ck_assert_uint_eq(p[0].aborts, 2);     /* a0, a2 */
	ck_assert_uint_eq(p[0].wasted_ns, 100);
	ck_assert_uint_eq(p[0].example, 0);
	ck_assert_uint_eq(p[1].aborts, 1);
	ck_assert_uint_eq(p[1].example, 1);
	ck_assert_uint_ne(p[0].stack, p[1].stack);
	ck_assert_uint_eq(p[0].other_stack, p[1].other_stack);
	ck_assert_uint_eq(tui_view_addresses(v, 1, a, 4), 2);
	ck_assert(a[0].address == 0xa0 && a[0].other_address == 0xa0 && a[0].aborts == 2 &&
		  !a[0].false_conflict);
	ck_assert(a[1].address == 0xa8 && a[1].other_address == 0xa0 && a[1].false_conflict);
	ck_assert_uint_eq(tui_view_threads(v, 1, false, tids, 4), 2);
	ck_assert(tids[0] == 11 && tids[1] == 12);
	/* P2 (row 2): aborted by 11 and 13, always against 12. */
	ck_assert_uint_eq(tui_view_threads(v, 2, false, tids, 4), 2);
	ck_assert(tids[0] == 11 && tids[1] == 13);
	ck_assert_uint_eq(tui_view_threads(v, 2, true, tids, 4), 1);
	ck_assert_uint_eq(tids[0], 12);
	/* Only the count, with no room. */
	ck_assert_uint_eq(tui_view_stack_pairs(v, 2, NULL, 0), 2);
	/* P3 has no other side: no other thread. */
	ck_assert_uint_eq(tui_view_threads(v, 0, true, tids, 4), 0);
	ck_assert_uint_eq(tui_view_addresses(v, 0, a, 4), 1);
	ck_assert_uint_eq(a[0].address, 0);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_histogram)
{
	struct tui_model *m = open_run(true);
	struct tui_view *v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	uint64_t c[10], one[1];
	char buf[64];

	/* P1: offsets 50, 150, 950. */
	ck_assert_uint_eq(tui_view_histogram(v, 1, c, 10), 1);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(c[i], i == 0 || i == 1 || i == 9);
	ck_assert_str_eq(tui_sparkline(c, 10, false, buf, sizeof(buf)), "@@       @");
	ck_assert_str_eq(tui_sparkline(c, 10, true, buf, sizeof(buf)),
			 "\u2588\u2588       \u2588");
	/* P2: offsets 300, 310, 320, 999. */
	ck_assert_uint_eq(tui_view_histogram(v, 2, c, 10), 3);
	ck_assert_uint_eq(c[3], 3);
	ck_assert_uint_eq(c[9], 1);
	ck_assert_str_eq(tui_sparkline(c, 10, false, buf, sizeof(buf)), "   @     -");
	ck_assert_str_eq(tui_sparkline(c, 10, true, buf, sizeof(buf)), "   \u2588     \u2583");
	/* A sample of at most 2 of P2's 4 aborts takes every second one in
	 * file order (300, 320); 4 or more, or 0, takes them all. */
	ck_assert_uint_eq(tui_view_histogram_sample(v, 2, c, 10, 2), 2);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(c[i], i == 3 ? 2 : 0);
	ck_assert_uint_eq(tui_view_histogram_sample(v, 2, c, 10, 4), 3);
	ck_assert_uint_eq(c[3] + c[9], 4);
	ck_assert_uint_eq(tui_view_histogram_sample(v, 2, c, 10, 0), 3);
	ck_assert_uint_eq(c[3] + c[9], 4);
	/* One bucket holds them all; a short buffer cuts whole characters. */
	ck_assert_uint_eq(tui_view_histogram(v, 2, one, 1), 4);
	ck_assert_str_eq(tui_sparkline(c, 10, true, buf, 6), "   ");
	ck_assert_str_eq(tui_sparkline(c, 10, true, buf, 7), "   \u2588");
	/* Every level of the ramp. */
	for (int i = 0; i < 8; i++)
		c[i] = (uint64_t)i + 1;
	ck_assert_str_eq(tui_sparkline(c, 8, false, buf, sizeof(buf)), "_.-=+*#@");
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_threads)
{
	struct tui_model *m = open_run(true);
	const struct tui_thread *t;
	size_t n;

	t = tui_model_threads(m, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert(t[0].tid == 13 && t[0].aborts == 2 && t[0].wasted_ns == 1010 && t[0].caused == 0);
	ck_assert(t[1].tid == 12 && t[1].aborts == 1 && t[1].wasted_ns == 200 && t[1].caused == 6);
	ck_assert(t[2].tid == 11 && t[2].aborts == 5 && t[2].wasted_ns == 130 && t[2].caused == 1);
	ck_assert_double_eq_tol(t[0].wasted_share, 1010.0 / 999, 1e-12);
	ck_assert_double_eq_tol(t[2].wasted_share, 130.0 / 999, 1e-12);
	/* No THREADS record (an older recorder): commits and rates unknown. */
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(!t[i].commits_known && t[i].commits == 0 && t[i].abort_rate == -1,
			      "thread %u: commits %" PRIu64 " (known %d), rate %g", t[i].tid, t[i].commits,
			      t[i].commits_known, t[i].abort_rate);
	tui_model_free(m);
}
END_TEST

/* tid's row of the threads table, or a failure. */
static const struct tui_thread *thread_row(const struct tui_thread *t, size_t n, uint32_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].tid == tid)
			return &t[i];
	ck_abort_msg("thread %u is not in the table of %zu", tid, n);
	return NULL;
}

/*
 * Per-thread commits: the synthetic run with THREADS records, as the
 * recorder writes them: a first one with every thread that had committed,
 * a later one with only the counts that changed since (thread 11's, and
 * thread 14's, a thread that commits and never aborts). The last counts,
 * 60 + 30 + 12, add up to the COMMITS total, 102; thread 13 has aborts and
 * no commit.
 */
START_TEST(test_unknown_block)
{
	/* Blocks past a recording's site ids are site 0: their aborts and
	 * their commits (COMMITS site 0) make the unknown block's rate, and
	 * the commits count in the summary of an unfinished recording. */
	static const struct rec_commit commits[] = { { 1, 9 }, { 0, 3 } };
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v;
	struct tui_summary sum;
	bool unknown_seen = false;

	put_start(&b, "serve");
	for (uint32_t i = 0; i < 3; i++) {
		struct rec_abort a = { .mono_ns = T0 + 10 * i, .wasted_ns = 10,
		                       .reason = LUCID_ABORT_EXPLICIT, .attempt = 1, .tid = 11,
		                       .site = i == 0 ? 1 : 0, .stack = 4 };

		ck_assert_int_eq(rec_put_abort(&b, &a), 0);
	}
	ck_assert_int_eq(rec_put_commits(&b, commits, 2), 0);
	ck_assert(!b.oom);
	put_file(tpath(path, "unknown.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);
	tui_model_summary(m, &sum);
	ck_assert_uint_eq(sum.commits, 12);
	v = view(m, TUI_GROUP_BLOCK, TUI_SORT_ABORTS, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct tui_row *r = tui_view_row(v, i);

		if (strcmp(r->label, "(unknown block)") == 0) {
			unknown_seen = true;
			ck_assert_uint_eq(r->aborts, 2);
			ck_assert_double_eq_tol(r->abort_rate, 2.0 / 5, 1e-12);
		} else {
			ck_assert_uint_eq(r->aborts, 1);
			ck_assert_double_eq_tol(r->abort_rate, 1.0 / 10, 1e-12);
		}
	}
	ck_assert(unknown_seen);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_threads_commits)
{
	static const struct rec_tid_commits first[] = { { 11, 40 }, { 12, 30 }, { 14, 5 } };
	static const struct rec_tid_commits later[] = { { 11, 60 }, { 14, 12 } };
	struct rec_buf b = { 0 }, rest = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_summary s;
	const struct tui_thread *t, *r;
	uint64_t sum = 0;
	size_t n;

	put_start(&b, "serve");
	for (size_t i = 0; i < NRUN; i++)
		put_abort(&b, i);
	ck_assert_int_eq(rec_put_threads(&b, first, 3), 0);
	ck_assert_int_eq(rec_put_commits(&rest, run_commits, 2), 0);
	ck_assert_int_eq(rec_put_threads(&rest, later, 2), 0);
	put_file(tpath(path, "threads.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	m = open_ok(path);

	/* The first THREADS: thread 14 is listed, though it never aborted. */
	t = tui_model_threads(m, &n);
	ck_assert_uint_eq(n, 4);
	r = thread_row(t, n, 11);
	ck_assert(r->commits_known && r->commits == 40 && r->aborts == 5);
	ck_assert_double_eq_tol(r->abort_rate, 5.0 / 45, 1e-12);
	r = thread_row(t, n, 14);
	ck_assert(r->commits_known && r->commits == 5 && r->aborts == 0 && r->wasted_ns == 0);
	ck_assert_double_eq_tol(r->abort_rate, 0, 1e-12);

	/* The later one replaces the counts it names, and only those. */
	put_file(path, "ab", rest.data, rest.len);
	ck_assert_int_eq(tui_model_update(m), TUI_UPDATE_NEW);
	t = tui_model_threads(m, &n);
	ck_assert_uint_eq(n, 4);
	/* By wasted time, then tid: 13 (1010 ns), 12 (200), 11 (130), 14 (0). */
	ck_assert(t[0].tid == 13 && t[1].tid == 12 && t[2].tid == 11 && t[3].tid == 14);
	ck_assert(t[0].commits == 0 && t[0].aborts == 2 && t[0].wasted_ns == 1010 && t[0].caused == 0);
	ck_assert_double_eq_tol(t[0].abort_rate, 1, 1e-12);
	ck_assert(t[1].commits == 30 && t[1].aborts == 1 && t[1].wasted_ns == 200 && t[1].caused == 6);
	ck_assert_double_eq_tol(t[1].abort_rate, 1.0 / 31, 1e-12);
	ck_assert(t[2].commits == 60 && t[2].aborts == 5 && t[2].wasted_ns == 130 && t[2].caused == 1);
	ck_assert_double_eq_tol(t[2].abort_rate, 5.0 / 65, 1e-12);
	ck_assert_double_eq_tol(t[2].wasted_share, 130.0 / 999, 1e-12);
	ck_assert(t[3].commits == 12 && t[3].aborts == 0 && t[3].wasted_ns == 0 && t[3].caused == 0);
	ck_assert_double_eq_tol(t[3].abort_rate, 0, 1e-12);
	ck_assert_double_eq_tol(t[3].wasted_share, 0, 1e-12);
	for (size_t i = 0; i < n; i++) {
		ck_assert(t[i].commits_known);
		sum += t[i].commits;
	}
	tui_model_summary(m, &s);
	ck_assert_uint_eq(sum, 102);
	ck_assert_uint_eq(s.commits, 102);
	/* The summary still counts the threads of the aborts. */
	ck_assert_uint_eq(s.threads, 3);
	ck_assert_double_eq_tol(s.wasted_share, 1340.0 / (999.0 * 3), 1e-12);
	tui_model_free(m);
	rec_buf_free(&b);
	rec_buf_free(&rest);
}
END_TEST

START_TEST(test_follow)
{
	struct rec_buf b = { 0 }, rest = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v, *fv, *bv;
	struct tui_stack_pair p[4];
	struct tui_summary s;
	size_t cut;

	put_start(&b, "serve");
	for (size_t i = 0; i < 4; i++)
		put_abort(&b, i);
	for (size_t i = 4; i < NRUN; i++)
		put_abort(&rest, i);
	ck_assert_int_eq(rec_put_stats(&rest, &(struct rec_stats){ .commits = 150, .aborts = 15 }), 0);
	/* The first part, and 30 bytes of the next record: a program still writing. */
	cut = 30;
	put_file(tpath(path, "live.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	put_file(path, "ab", rest.data, cut);
	m = open_ok(path);
	ck_assert_uint_eq(tui_model_aborts(m), 4);
	ck_assert_ptr_nonnull(tui_model_warning(m));  /* the record cut short, for now */
	ck_assert(!tui_model_finished(m));
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 2);
	expect_row(v, 0, 3, 300, "0x1000 -> 0x2000");
	/* Views whose aborts' stacks and filter verdicts grow with the update. */
	fv = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "0x3000", 0);
	ck_assert_uint_eq(tui_view_rows(fv), 0);
	bv = view(m, TUI_GROUP_BLOCK, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(bv), 2);
	ck_assert_int_eq(tui_model_update(m), TUI_UPDATE_NONE);

	/* The rest arrives. */
	put_file(path, "ab", rest.data + cut, rest.len - cut);
	ck_assert_int_eq(tui_model_update(m), TUI_UPDATE_NEW);
	ck_assert_uint_eq(tui_model_aborts(m), NRUN);
	ck_assert(tui_model_finished(m));
	ck_assert_ptr_null(tui_model_warning(m));
	/* The view shows the old snapshot until refreshed. */
	ck_assert_uint_eq(tui_view_rows(v), 2);
	ck_assert_int_eq(tui_view_refresh(v), 0);
	ck_assert_uint_eq(tui_view_rows(v), 3);
	expect_row(v, 0, 1, 1000, "0x3000");
	expect_row(v, 2, 4, 40, "0x2000 -> 0x1000");
	tui_model_summary(m, &s);
	ck_assert_uint_eq(s.end_mono_ns, T0 + 999);
	ck_assert_int_eq(tui_model_update(m), TUI_UPDATE_NONE);
	/* a7 (stack 4, no other side) came with the update. */
	ck_assert_int_eq(tui_view_refresh(fv), 0);
	ck_assert_uint_eq(tui_view_rows(fv), 1);
	expect_row(fv, 0, 1, 1000, "0x3000");
	/* Block 2 now has a3..a7: stacks (3, 1) three times, (3, 2) and
	 * (4, none) once, most first, then in file order. */
	ck_assert_int_eq(tui_view_refresh(bv), 0);
	expect_row(bv, 0, 5, 1040, "report app.c:20");
	ck_assert_uint_eq(tui_view_stack_pairs(bv, 0, p, 4), 3);
	ck_assert(p[0].stack == 3 && p[0].other_stack == 1 && p[0].aborts == 3 && p[0].wasted_ns == 30 &&
		  p[0].example == 3);
	ck_assert(p[1].stack == 3 && p[1].other_stack == 2 && p[1].aborts == 1 && p[1].example == 4);
	ck_assert(p[2].stack == 4 && p[2].other_stack == 0 && p[2].wasted_ns == 1000 && p[2].example == 7);
	ck_assert_str_eq(tui_view_row(bv, 0)->aborted.function, "0x2000");
	tui_view_free(fv);
	tui_view_free(bv);
	tui_view_free(v);
	tui_model_free(m);
	rec_buf_free(&b);
	rec_buf_free(&rest);
}
END_TEST

START_TEST(test_damaged)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX], err[600];
	struct tui_model *m;
	size_t keep;

	put_start(&b, "serve");
	for (size_t i = 0; i < 3; i++)
		put_abort(&b, i);
	keep = b.len;
	put_abort(&b, 3);
	b.data[keep + REC_HEAD_SIZE + 5] ^= 0x40; /* a bit flipped in a3's payload */
	put_abort(&b, 4);
	put_file(tpath(path, "damaged.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	m = open_ok(path);
	ck_assert_uint_eq(tui_model_aborts(m), 3);
	ck_assert_ptr_nonnull(tui_model_warning(m));
	ck_assert_msg(strstr(tui_model_warning(m), "damaged") != NULL, "%s", tui_model_warning(m));
	ck_assert_int_eq(tui_model_update(m), TUI_UPDATE_DAMAGED);
	tui_model_free(m);
	rec_buf_free(&b);

	/* Not a recording, or missing: the open fails and says why. */
	put_file(tpath(path, "text"), "wb", "hello, world\n", 13);
	ck_assert_ptr_null(tui_model_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a Lucid recording") != NULL, "%s", err);
	ck_assert_ptr_null(tui_model_open(tpath(path, "missing"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

START_TEST(test_escape)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v;
	struct tui_summary s;

	/* A site name that would retitle and clear a terminal. */
	put_start(&b, "evil\x1b]0;owned\x07\x1b[2J");
	put_abort(&b, 0);
	put_file(tpath(path, "evil\n.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);
	v = view(m, TUI_GROUP_BLOCK, TUI_SORT_WASTED, NULL, 0);
	ck_assert_str_eq(tui_view_row(v, 0)->label, "evil\\x1b]0;owned\\x07\\x1b[2J app.c:10");
	ck_assert_str_eq(tui_model_block(m, tui_view_row(v, 0)->block)->function,
			 "evil\\x1b]0;owned\\x07\\x1b[2J");
	tui_model_summary(m, &s);
	ck_assert_ptr_nonnull(strstr(s.path, "evil\\n.lucid"));
	ck_assert_ptr_null(strchr(s.path, '\n'));
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

START_TEST(test_redefined_ids)
{
	/* A STACK or SITE that redefines an id counts for what follows. */
	static const uint64_t newpcs[] = { 0x5000 };
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct tui_model *m;
	struct tui_view *v;
	struct tui_abort a0, a1;

	put_start(&b, "serve");
	put_abort(&b, 0);
	ck_assert_int_eq(rec_put_stack(&b, 1, newpcs, 1), 0);
	ck_assert_int_eq(rec_put_site(&b, &(struct rec_site){ .id = 1, .line = 11, .file = "new.c",
		.function = "serve2" }), 0);
	put_abort(&b, 0);
	put_file(tpath(path, "redef.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);
	ck_assert(tui_model_abort(m, 0, &a0) && tui_model_abort(m, 1, &a1));
	ck_assert_uint_ne(a0.stack, a1.stack);
	ck_assert_uint_ne(a0.block, a1.block);
	ck_assert_str_eq(tui_model_top_frame(m, a0.stack)->function, "0x1000");
	ck_assert_str_eq(tui_model_top_frame(m, a1.stack)->function, "0x5000");
	ck_assert_str_eq(tui_model_block(m, a1.block)->function, "serve2");
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 2);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

/* Functions of this program that a synthetic stack points into. A name
 * starting with lucid_ is Lucid's own frame, which reports leave out. */
static volatile int model_sink;

__attribute__((noinline)) void lucid_fake_entry(void);
__attribute__((noinline)) void lucid_fake_entry(void)
{
	model_sink += 1;
}

__attribute__((noinline)) static void model_user_access(void)
{
	model_sink += 2;
	lucid_fake_entry();
}

__attribute__((noinline)) static void model_user_caller(void)
{
	model_sink += 3;
	model_user_access();
}

START_TEST(test_frames_symbolized)
{
	struct rec_buf b = { 0 };
	struct rec_modmap *map = rec_modmap_new();
	/* Return addresses just inside each function: the symbolizer looks
	 * up pc - 1. */
	uint64_t pcs[] = { (uintptr_t)lucid_fake_entry + 1, (uintptr_t)model_user_access + 1,
			   (uintptr_t)model_user_caller + 1 };
	char path[PATH_MAX];
	const struct tui_frame *f;
	struct tui_model *m;
	struct tui_view *v;
	size_t n;

	model_user_caller();
	ck_assert_int_eq(rec_put_header_self(&b, 20, 3), 0);
	ck_assert_int_gt(rec_put_modules(&b, map), 0);
	rec_modmap_free(map);
	ck_assert_int_eq(rec_put_stack(&b, 1, pcs, 3), 0);
	ck_assert_int_eq(rec_put_stack(&b, 2, pcs + 2, 1), 0);
	ck_assert_int_eq(rec_put_abort(&b, &(struct rec_abort){ .mono_ns = 1, .wasted_ns = 5,
		.reason = LUCID_ABORT_WRITE_LOCKED, .flags = K, .tid = 1, .other_tid = 2, .stack = 1,
		.other_stack = 2 }), 0);
	put_file(tpath(path, "self.lucid"), "wb", REC_MAGIC, REC_MAGIC_LEN);
	put_file(path, "ab", b.data, b.len);
	rec_buf_free(&b);
	m = open_ok(path);

	/* The frames start at the user's access: lucid_fake_entry is left out. */
	f = tui_model_frames(m, 1, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(f[0].function, "model_user_access");
	ck_assert_str_eq(f[1].function, "model_user_caller");
	ck_assert_msg(strstr(f[0].file, "check_model.c") != NULL, "%s", f[0].file);
	ck_assert_uint_gt(f[0].line, 0);
	ck_assert_uint_eq(f[0].pc, pcs[1]);
	ck_assert(!f[0].inlined);
	ck_assert_str_ne(f[0].module, "??");
	ck_assert_ptr_eq(tui_model_top_frame(m, 1), tui_model_top_frame(m, 1));
	ck_assert_str_eq(tui_model_top_frame(m, 1)->function, "model_user_access");
	ck_assert_ptr_null(tui_model_frames(m, 0, &n));
	ck_assert_uint_eq(n, 0);

	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, NULL, 0);
	ck_assert_uint_eq(tui_view_rows(v), 1);
	ck_assert_str_eq(tui_view_row(v, 0)->aborted.function, "model_user_access");
	ck_assert_str_eq(tui_view_row(v, 0)->other.function, "model_user_caller");
	ck_assert_ptr_nonnull(strstr(tui_view_row(v, 0)->label, "model_user_access check_model.c:"));
	tui_view_free(v);
	/* Filters match function names and files, ignoring case, on either side. */
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "USER_CALL", 0);
	ck_assert_uint_eq(tui_view_rows(v), 1);
	tui_view_free(v);
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "check_MODEL.c", 0);
	ck_assert_uint_eq(tui_view_rows(v), 1);
	tui_view_free(v);
	/* Lucid's own frames are not matched either. */
	v = view(m, TUI_GROUP_PAIR, TUI_SORT_WASTED, "fake_entry", 0);
	ck_assert_uint_eq(tui_view_rows(v), 0);
	tui_view_free(v);
	tui_model_free(m);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, t);
	if (timeout)
		tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
}

static Suite *suite(void)
{
	Suite *s = suite_create("model");

	add(s, "kind, group and sort names", test_kind_names, 0);
	add(s, "summary", test_summary, 0);
	add(s, "blocks", test_blocks, 0);
	add(s, "group: pair", test_group_pair, 0);
	add(s, "group: stacks, block, address, function, thread", test_group_others, 0);
	add(s, "sort", test_sort, 0);
	add(s, "rate unknown", test_rate_unknown, 0);
	add(s, "the unknown block (site 0)", test_unknown_block, 0);
	add(s, "filter and limit", test_filter_limit, 0);
	add(s, "a row's block, ties", test_block_ties, 0);
	add(s, "filter verdicts kept across views", test_filter_views, 0);
	add(s, "row details", test_row_details, 0);
	add(s, "histogram and sparkline", test_histogram, 0);
	add(s, "threads", test_threads, 0);
	add(s, "threads: commits per thread", test_threads_commits, 0);
	add(s, "follow", test_follow, 0);
	add(s, "damaged and refused", test_damaged, 0);
	add(s, "escape", test_escape, 0);
	add(s, "redefined ids", test_redefined_ids, 0);
	add(s, "frames, symbolized", test_frames_symbolized, 30);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
