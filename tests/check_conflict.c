/* tests: the recording format: CRC, encoding, the writer's file and module map, the reader, the symbolizer. */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conflict/format.h"
#include "conflict/reader.h"
#include "conflict/symbolize.h"
#include "conflict/writer.h"
#include "tests/testutil.h"

/* ------------------------------------------------------------ helpers */

static volatile uint64_t sink; /* keeps results alive */

/* Each case has its own directory. */
static char tmpdir[200];

static void tmp_setup(void)
{
	test_tmpdir_make(tmpdir, sizeof(tmpdir), "check-conflict");
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

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	size_t cap = 0, n = 0, k;

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			d = realloc(d, cap);
			ck_assert_ptr_nonnull(d);
		}
		k = fread(d + n, 1, cap - n, f);
		n += k;
	} while (k);
	fclose(f);
	*len = n;
	return d;
}

/* A recording file: the magic, then the buffer's records. */
static void write_recording(const char *path, const struct rec_buf *b)
{
	uint8_t *d = malloc(REC_MAGIC_LEN + b->len);

	ck_assert_ptr_nonnull(d);
	memcpy(d, REC_MAGIC, REC_MAGIC_LEN);
	if (b->len)
		memcpy(d + REC_MAGIC_LEN, b->data, b->len);
	write_file(path, d, REC_MAGIC_LEN + b->len);
	free(d);
}

static struct rec_reader *open_ok(const char *path)
{
	char err[512];
	struct rec_reader *r = rec_reader_open(path, err, sizeof(err));

	ck_assert_msg(r != NULL, "rec_reader_open %s: %s", path, err);
	return r;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* ------------------------------------------------------------ a sample recording */

static const char *const sample_argv[] = {
	"prog", "-x", "tab\there\nnewline\x1b[31mred\x7f", "", "caf\xc3\xa9 \x01\x02",
};
static const uint8_t sample_bid[20] = {
	0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0xfe, 0xff,
};
static const uint64_t sample_pcs[5] = {
	0x401000, 0x7f0000001234, 0xffffffffffffffffull, 0, 0x8000000000000001ull,
};
static const struct rec_commit sample_pairs[3] = {
	{ 1, 10 }, { 2, 0 }, { 0xffffffffu, UINT64_MAX },
};
static const struct rec_tid_commits sample_tids[3] = {
	{ 4242, 123456 }, { 1, 0 }, { 0xffffffffu, UINT64_MAX },
};
static const uint64_t sample_reasons[9] = { 1, 2, 3, 4, 5, 6, 7, 8, UINT64_MAX };

#define SAMPLE_MAX 24
#define UNKNOWN_TYPE 0x7777

struct sample {
	struct rec_buf b;
	size_t n;
	size_t off[SAMPLE_MAX];       /* file offset of each record */
	size_t size[SAMPLE_MAX];
	bool unknown[SAMPLE_MAX];     /* a type the reader skips */
	struct rec_record want[SAMPLE_MAX];
};

static void put_record(struct rec_buf *b, const struct rec_record *r)
{
	int e = -1;

	switch (r->type) {
	case REC_TYPE_HEADER:
		e = rec_put_header(b, &r->header);
		break;
	case REC_TYPE_MODULE:
		e = rec_put_module(b, &r->module);
		break;
	case REC_TYPE_STACK:
		e = rec_put_stack(b, r->stack.id, r->stack.pcs, r->stack.depth);
		break;
	case REC_TYPE_SITE:
		e = rec_put_site(b, &r->site);
		break;
	case REC_TYPE_ABORT:
		e = rec_put_abort(b, &r->abort);
		break;
	case REC_TYPE_COMMITS:
		e = rec_put_commits(b, r->commits.pairs, r->commits.count);
		break;
	case REC_TYPE_DROPS:
		e = rec_put_drops(b, r->drops.dropped);
		break;
	case REC_TYPE_STATS:
		e = rec_put_stats(b, &r->stats);
		break;
	case REC_TYPE_THREADS:
		e = rec_put_threads(b, r->threads.pairs, r->threads.count);
		break;
	default:
		e = rec_put_raw(b, r->type, "unknown!", 8);
		break;
	}
	ck_assert_int_eq(e, 0);
}

static void sample_add(struct sample *s, struct rec_record r)
{
	size_t before = s->b.len;

	ck_assert_uint_lt(s->n, SAMPLE_MAX);
	put_record(&s->b, &r);
	s->off[s->n] = REC_MAGIC_LEN + before;
	s->size[s->n] = s->b.len - before;
	s->unknown[s->n] = r.type > REC_TYPE_THREADS;
	s->want[s->n++] = r;
}

/* Every record type, with extreme values and strings that need escaping. */
static void sample_build(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	sample_add(s, (struct rec_record){ .type = REC_TYPE_HEADER, .header = {
		.version = REC_VERSION, .pid = 4242, .ppid = 0xffffffffu,
		.start_realtime_ns = 1700000000123456789ull, .start_mono_ns = UINT64_MAX - 1,
		.orec_bits = 20, .word_shift = 3, .program = "/usr/bin/pro\tgram\n",
		.argc = 5, .argv = sample_argv } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_MODULE, .module = {
		.base = 0x555555554000, .low = 0x555555555000, .high = 0x555555556000,
		.build_id = sample_bid, .build_id_len = sizeof(sample_bid), .path = "/bin/prog" } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_MODULE, .module = {
		.base = 0x7f0000000000, .low = 0x7f0000001000, .high = 0x7f0000002000,
		.path = "/lib/with \x1b]0;title\x07 in it.so" } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_STACK, .stack = {
		.id = 1, .depth = 5, .pcs = sample_pcs } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_STACK, .stack = {
		.id = 0xfffffffeu, .depth = 0 } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_SITE, .site = {
		.id = 1, .line = 77, .pc = 0x555555555123, .file = "bank.c", .function = "transfer" } });
	sample_add(s, (struct rec_record){ .type = UNKNOWN_TYPE });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_SITE, .site = {
		.id = 2, .line = 0, .pc = 0, .file = "", .function = "f\r\n\x1b[2J" } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_ABORT, .abort = {
		.mono_ns = UINT64_MAX, .wasted_ns = 123456, .reason = 1,
		.flags = REC_ABORT_OTHER_KNOWN | REC_ABORT_FALSE_CONFLICT | REC_ABORT_ALLOC_STACK,
		.attempt = 3, .tid = 1001, .other_tid = 1002, .site = 1, .other_site = 2, .stack = 1,
		.other_stack = 0xfffffffeu, .alloc_stack = 1, .orec = 0x000fffff,
		.address = 0x7ffd00001000, .other_address = 0x7ffd00001008,
		.other_commit = 0x0123456789abcdefull } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_ABORT, .abort = {
		.reason = 5, .attempt = 1, .tid = 7, .site = 2, .stack = 1 } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_COMMITS, .commits = {
		.count = 3, .pairs = sample_pairs } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_COMMITS });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_THREADS, .threads = {
		.count = 3, .pairs = sample_tids } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_THREADS });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_DROPS, .drops = { 0x0102030405060708ull } });
	sample_add(s, (struct rec_record){ .type = REC_TYPE_STATS, .stats = {
		.commits = 1000, .aborts = 45, .max_retries = 7, .n = 9, .by_reason = sample_reasons } });
}

static void expect_same(const struct rec_record *got, const struct rec_record *w, const char *ctx)
{
	ck_assert_msg(got->type == w->type, "%s: type %u, want %u", ctx, got->type, w->type);
	ck_assert_msg(got->flags == 0, "%s: flags %u", ctx, got->flags);
	switch (w->type) {
	case REC_TYPE_HEADER: {
		const struct rec_header *g = &got->header, *h = &w->header;

		ck_assert_msg(g->version == REC_VERSION && g->pid == h->pid && g->ppid == h->ppid &&
			      g->start_realtime_ns == h->start_realtime_ns &&
			      g->start_mono_ns == h->start_mono_ns && g->orec_bits == h->orec_bits &&
			      g->word_shift == h->word_shift, "%s: HEADER numbers differ", ctx);
		ck_assert_str_eq(g->program, str_or_empty(h->program));
		ck_assert_uint_eq(g->argc, h->argc);
		for (uint32_t i = 0; i < h->argc; i++)
			ck_assert_msg(strcmp(g->argv[i], h->argv[i]) == 0, "%s: argv[%u]", ctx, i);
		break;
	}
	case REC_TYPE_MODULE: {
		const struct rec_module *g = &got->module, *m = &w->module;

		ck_assert_msg(g->base == m->base && g->low == m->low && g->high == m->high,
			      "%s: MODULE range differs", ctx);
		ck_assert_uint_eq(g->build_id_len, m->build_id_len);
		ck_assert(g->build_id_len == 0 || memcmp(g->build_id, m->build_id, g->build_id_len) == 0);
		ck_assert_str_eq(g->path, str_or_empty(m->path));
		break;
	}
	case REC_TYPE_STACK:
		ck_assert_uint_eq(got->stack.id, w->stack.id);
		ck_assert_uint_eq(got->stack.depth, w->stack.depth);
		for (uint32_t i = 0; i < w->stack.depth; i++)
			ck_assert_msg(got->stack.pcs[i] == w->stack.pcs[i], "%s: pc %u", ctx, i);
		break;
	case REC_TYPE_SITE:
		ck_assert_msg(got->site.id == w->site.id && got->site.line == w->site.line &&
			      got->site.pc == w->site.pc, "%s: SITE numbers differ", ctx);
		ck_assert_str_eq(got->site.file, str_or_empty(w->site.file));
		ck_assert_str_eq(got->site.function, str_or_empty(w->site.function));
		break;
	case REC_TYPE_ABORT: {
		const struct rec_abort *g = &got->abort, *a = &w->abort;

		ck_assert_msg(g->mono_ns == a->mono_ns && g->wasted_ns == a->wasted_ns &&
			      g->reason == a->reason && g->flags == a->flags &&
			      g->attempt == a->attempt && g->tid == a->tid &&
			      g->other_tid == a->other_tid && g->site == a->site &&
			      g->other_site == a->other_site && g->stack == a->stack &&
			      g->other_stack == a->other_stack && g->alloc_stack == a->alloc_stack &&
			      g->orec == a->orec && g->address == a->address &&
			      g->other_address == a->other_address &&
			      g->other_commit == a->other_commit, "%s: ABORT fields differ", ctx);
		break;
	}
	case REC_TYPE_COMMITS:
		ck_assert_uint_eq(got->commits.count, w->commits.count);
		for (uint32_t i = 0; i < w->commits.count; i++)
			ck_assert_msg(got->commits.pairs[i].site == w->commits.pairs[i].site &&
				      got->commits.pairs[i].commits == w->commits.pairs[i].commits,
				      "%s: pair %u", ctx, i);
		break;
	case REC_TYPE_THREADS:
		ck_assert_uint_eq(got->threads.count, w->threads.count);
		for (uint32_t i = 0; i < w->threads.count; i++)
			ck_assert_msg(got->threads.pairs[i].tid == w->threads.pairs[i].tid &&
				      got->threads.pairs[i].commits == w->threads.pairs[i].commits,
				      "%s: thread pair %u", ctx, i);
		break;
	case REC_TYPE_DROPS:
		ck_assert_uint_eq(got->drops.dropped, w->drops.dropped);
		break;
	case REC_TYPE_STATS:
		ck_assert_msg(got->stats.commits == w->stats.commits &&
			      got->stats.aborts == w->stats.aborts &&
			      got->stats.max_retries == w->stats.max_retries, "%s: STATS differ", ctx);
		ck_assert_uint_eq(got->stats.n, w->stats.n);
		for (uint32_t i = 0; i < w->stats.n; i++)
			ck_assert_uint_eq(got->stats.by_reason[i], w->stats.by_reason[i]);
		break;
	default:
		ck_abort_msg("%s: unexpected type %u", ctx, w->type);
	}
}

/*
 * Reads r to its end, checking each record against the sample in order
 * (records of unknown type excepted). Returns the final status and, in
 * *nread, how many of the sample's records were matched (those skipped
 * included).
 */
static int read_against(struct rec_reader *r, const struct sample *s, size_t *nread,
			const char *ctx)
{
	struct rec_event ev;
	size_t i = 0;
	int st;

	while ((st = rec_reader_next(r, &ev)) == REC_OK) {
		char where[128];

		while (i < s->n && s->unknown[i])
			i++;
		ck_assert_msg(i < s->n, "%s: more records than written", ctx);
		snprintf(where, sizeof(where), "%s, record %zu", ctx, i);
		ck_assert_msg(ev.offset == s->off[i] && ev.size == s->size[i],
			      "%s: at %" PRIu64 " size %u, want %zu size %zu", where, ev.offset,
			      ev.size, s->off[i], s->size[i]);
		expect_same(&ev.r, &s->want[i], where);
		i++;
	}
	*nread = i;
	return st;
}

/* ------------------------------------------------------------ CRC-32C */

START_TEST(test_crc_known_answers)
{
	static const char check[] = "123456789";
	uint8_t zeros[32], ones[32], inc[32];
	uint32_t whole;

	ck_assert_uint_eq(rec_crc32c(0, check, 9), 0xE3069283u);
	ck_assert_uint_eq(rec_crc32c(0, "", 0), 0);
	/* The iSCSI test vectors (RFC 3720, B.4). */
	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	ck_assert_uint_eq(rec_crc32c(0, zeros, 32), 0x8A9136AAu);
	ck_assert_uint_eq(rec_crc32c(0, ones, 32), 0x62A8AB43u);
	ck_assert_uint_eq(rec_crc32c(0, inc, 32), 0x46DD794Eu);
	/* Continuing a CRC over a split gives the CRC of the whole, at every
	 * split point (exercises the eight-byte and the byte loops). */
	whole = rec_crc32c(0, inc, 32);
	for (size_t k = 0; k <= 32; k++)
		ck_assert_msg(rec_crc32c(rec_crc32c(0, inc, k), inc + k, 32 - k) == whole,
			      "split at %zu", k);
	/* Unaligned starts. */
	for (size_t k = 1; k < 8; k++)
		ck_assert_uint_eq(rec_crc32c(0, inc + k, 9), rec_crc32c(0, (uint8_t[9]){
			inc[k], inc[k + 1], inc[k + 2], inc[k + 3], inc[k + 4], inc[k + 5],
			inc[k + 6], inc[k + 7], inc[k + 8] }, 9));
}
END_TEST

/* ------------------------------------------------------------ encoding */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

START_TEST(test_encoding_layout)
{
	static const uint8_t drops[24] = {
		0x4c, 0x52, 0x45, 0x43, 7, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1,
	};
	struct rec_buf b = { 0 };
	struct rec_abort a = { .mono_ns = 0x1111111111111111ull, .wasted_ns = 2, .reason = 3,
			       .flags = 4, .attempt = 5, .tid = 6, .other_tid = 7, .site = 8,
			       .other_site = 9, .stack = 10, .other_stack = 11, .alloc_stack = 12,
			       .orec = 13, .address = 14, .other_address = 15, .other_commit = 16 };
	const uint8_t *p;
	uint32_t crc;

	/* DROPS, byte for byte as the spec lays it out. */
	ck_assert_int_eq(rec_put_drops(&b, 0x0102030405060708ull), 0);
	ck_assert_uint_eq(b.len, 24);
	ck_assert(memcmp(b.data, drops, 12) == 0);
	ck_assert(memcmp(b.data + 16, drops + 16, 8) == 0);
	crc = rec_crc32c(rec_crc32c(0, drops + 4, 8), drops + 16, 8);
	ck_assert_uint_eq(le32(b.data + 12), crc);

	/* ABORT: every field at its offset in the payload; no padding needed. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_abort(&b, &a), 0);
	ck_assert_uint_eq(b.len, REC_HEAD_SIZE + REC_ABORT_SIZE);
	ck_assert_uint_eq(le32(b.data + 4), REC_TYPE_ABORT);
	ck_assert_uint_eq(le32(b.data + 8), REC_ABORT_SIZE);
	p = b.data + REC_HEAD_SIZE;
	ck_assert(le64(p) == a.mono_ns && le64(p + 8) == 2);
	ck_assert(p[16] == 3 && p[17] == 4 && p[18] == 0 && p[19] == 0);
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(le32(p + 20 + 4 * i), 5 + (uint32_t)i);
	ck_assert(le64(p + 56) == 14 && le64(p + 64) == 15 && le64(p + 72) == 16);

	/* COMMITS: count, pad, then (site, pad, commits) pairs. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_commits(&b, sample_pairs, 2), 0);
	p = b.data + REC_HEAD_SIZE;
	ck_assert_uint_eq(le32(b.data + 8), 8 + 2 * 16);
	ck_assert(le32(p) == 2 && le32(p + 4) == 0);
	ck_assert(le32(p + 8) == 1 && le32(p + 12) == 0 && le64(p + 16) == 10);
	ck_assert(le32(p + 24) == 2 && le64(p + 32) == 0);

	/* THREADS: type 9, laid out as COMMITS with (tid, pad, commits) pairs. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_threads(&b, sample_tids, 3), 0);
	p = b.data + REC_HEAD_SIZE;
	ck_assert_uint_eq(le32(b.data + 4), 9);
	ck_assert_uint_eq(le32(b.data + 8), 8 + 3 * 16);
	ck_assert(le32(p) == 3 && le32(p + 4) == 0);
	ck_assert(le32(p + 8) == 4242 && le32(p + 12) == 0 && le64(p + 16) == 123456);
	ck_assert(le32(p + 24) == 1 && le64(p + 32) == 0);
	ck_assert(le32(p + 40) == 0xffffffffu && le32(p + 44) == 0 && le64(p + 48) == UINT64_MAX);

	/* SITE: padded to 8 with zeros; strings are u16 length + bytes. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_site(&b, &(struct rec_site){ .id = 9, .line = 10, .pc = 11,
			 .file = "ab", .function = "c" }), 0);
	ck_assert_uint_eq(le32(b.data + 8), 4 + 8 + 4 + 2 + 2 + 2 + 1);
	ck_assert_uint_eq(b.len, rec_record_size(23));
	ck_assert_uint_eq(b.len % REC_ALIGN, 0);
	p = b.data + REC_HEAD_SIZE;
	ck_assert(le32(p) == 9 && le64(p + 4) == 11 && le32(p + 12) == 10);
	ck_assert(p[16] == 2 && p[17] == 0 && p[18] == 'a' && p[19] == 'b');
	ck_assert(p[20] == 1 && p[21] == 0 && p[22] == 'c');
	for (size_t i = REC_HEAD_SIZE + 23; i < b.len; i++)
		ck_assert_uint_eq(b.data[i], 0);
	rec_buf_free(&b);
	ck_assert(b.data == NULL && b.len == 0 && b.cap == 0);
}
END_TEST

START_TEST(test_decode_statuses)
{
	struct rec_buf b = { 0 };
	struct rec_raw raw;
	struct rec_record rec;
	uint8_t *copy;
	size_t size, need;
	uint64_t pcs[3] = { 1, 2, 3 };

	ck_assert_int_eq(rec_put_site(&b, &(struct rec_site){ .id = 3, .file = "x.c", .function = "main" }), 0);
	/* Every prefix is incomplete, and says how much it needs. */
	for (size_t n = 0; n < b.len; n++) {
		int st = rec_decode(b.data, n, &raw, &size);

		ck_assert_msg(st == REC_DECODE_SHORT, "prefix %zu: %s", n, rec_decode_strerror(st));
		ck_assert_uint_eq(size, n < REC_HEAD_SIZE ? REC_HEAD_SIZE : b.len);
	}
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	ck_assert_uint_eq(size, b.len);
	ck_assert_uint_eq(raw.type, REC_TYPE_SITE);

	/* Scratch: too small says how much; then it parses. */
	ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
	ck_assert_uint_eq(need, 4 + 5);
	{
		char *sc = malloc(need);

		ck_assert_int_eq(rec_parse(&raw, &rec, sc, need - 1, &need), REC_DECODE_SCRATCH);
		ck_assert_int_eq(rec_parse(&raw, &rec, sc, need, &need), REC_DECODE_OK);
		ck_assert_str_eq(rec.site.file, "x.c");
		ck_assert_str_eq(rec.site.function, "main");
		free(sc);
	}

	copy = malloc(b.len);
	/* A wrong sync shows even in the first byte. */
	memcpy(copy, b.data, b.len);
	copy[1] ^= 0x20;
	ck_assert_int_eq(rec_decode(copy, 2, &raw, &size), REC_DECODE_BAD_SYNC);
	ck_assert_int_eq(rec_decode(copy, b.len, &raw, &size), REC_DECODE_BAD_SYNC);
	/* A length the type cannot have is damage, not "wait for more". */
	memcpy(copy, b.data, b.len);
	copy[10] = 0x7f;
	ck_assert_int_eq(rec_decode(copy, b.len, &raw, &size), REC_DECODE_BAD_LENGTH);
	memcpy(copy, b.data, b.len);
	copy[20] ^= 1;
	ck_assert_int_eq(rec_decode(copy, b.len, &raw, &size), REC_DECODE_BAD_CRC);
	memcpy(copy, b.data, b.len);
	copy[b.len - 1] = 1;
	ck_assert_int_eq(rec_decode(copy, b.len, &raw, &size), REC_DECODE_BAD_PAD);
	free(copy);

	/* Type-specific lengths. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_raw(&b, REC_TYPE_ABORT, "12345678", 8), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_BAD_LENGTH);
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_raw(&b, REC_TYPE_STACK, "123456789abc", 12), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_BAD_LENGTH);

	/* Checksummed but inconsistent fields. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_stack(&b, 0, pcs, 3), 0); /* id 0 means "no stack" */
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_BAD_FIELDS);
	rec_buf_reset(&b);
	{
		/* a STACK whose depth disagrees with its length */
		uint8_t p[8 + 16] = { 1, 0, 0, 0, 3, 0, 0, 0 };

		ck_assert_int_eq(rec_put_raw(&b, REC_TYPE_STACK, p, sizeof(p)), 0);
		ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
		ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_BAD_FIELDS);
	}
	rec_buf_reset(&b);
	{
		/* a HEADER claiming 2^32-1 arguments in a few bytes */
		uint8_t p[36 + 2 + 4 + 4] = { 1 };

		memset(p + 38, 0xff, 4);
		ck_assert_int_eq(rec_put_raw(&b, REC_TYPE_HEADER, p, sizeof(p)), 0);
		ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
		ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_BAD_FIELDS);
	}
	rec_buf_free(&b);
}
END_TEST

START_TEST(test_encoding_limits)
{
	struct rec_buf b = { 0 };
	char *big = malloc(REC_MAX_STRING + 100);
	uint64_t *pcs = malloc((REC_MAX_DEPTH + 10) * sizeof(*pcs));
	uint64_t reasons[REC_MAX_REASONS + 5];
	struct rec_raw raw;
	struct rec_record rec;
	size_t size, need;
	void *sc;

	memset(big, 'q', REC_MAX_STRING + 99);
	big[REC_MAX_STRING + 99] = '\0';
	for (uint32_t i = 0; i < REC_MAX_DEPTH + 10; i++)
		pcs[i] = 0x1000 + i;
	for (uint32_t i = 0; i < REC_MAX_REASONS + 5; i++)
		reasons[i] = i;

	/* A string beyond the u16 length is cut to REC_MAX_STRING bytes. */
	ck_assert_int_eq(rec_put_site(&b, &(struct rec_site){ .id = 1, .file = big, .function = big }), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
	sc = malloc(need);
	ck_assert_int_eq(rec_parse(&raw, &rec, sc, need, &need), REC_DECODE_OK);
	ck_assert_uint_eq(strlen(rec.site.file), REC_MAX_STRING);
	ck_assert_uint_eq(strlen(rec.site.function), REC_MAX_STRING);
	free(sc);

	/* A stack deeper than the limit keeps its innermost frames. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_stack(&b, 5, pcs, REC_MAX_DEPTH + 10), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
	sc = malloc(need);
	ck_assert_int_eq(rec_parse(&raw, &rec, sc, need, &need), REC_DECODE_OK);
	ck_assert_uint_eq(rec.stack.depth, REC_MAX_DEPTH);
	ck_assert(rec.stack.pcs[0] == 0x1000 && rec.stack.pcs[REC_MAX_DEPTH - 1] == 0x1000 + REC_MAX_DEPTH - 1);
	free(sc);

	/* STATS keeps REC_MAX_REASONS counts. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_stats(&b, &(struct rec_stats){ .n = REC_MAX_REASONS + 5,
			 .by_reason = reasons }), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	sc = malloc(8 * REC_MAX_REASONS);
	ck_assert_int_eq(rec_parse(&raw, &rec, sc, 8 * REC_MAX_REASONS, &need), REC_DECODE_OK);
	ck_assert_uint_eq(rec.stats.n, REC_MAX_REASONS);
	ck_assert_uint_eq(rec.stats.by_reason[REC_MAX_REASONS - 1], REC_MAX_REASONS - 1);
	free(sc);

	/* A HEADER keeps the arguments that fit: by count, and by size. */
	{
		const char **argv = malloc(70000 * sizeof(*argv));

		for (int i = 0; i < 70000; i++)
			argv[i] = i < 300 ? big : "";
		for (int pass = 0; pass < 2; pass++) {
			struct rec_header h = { .program = "p", .argc = 70000, .argv = argv + 300 * pass };

			rec_buf_reset(&b);
			ck_assert_int_eq(rec_put_header(&b, &h), 0);
			ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
			ck_assert_uint_le(raw.length, REC_MAX_PAYLOAD);
			ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
			sc = malloc(need);
			ck_assert_int_eq(rec_parse(&raw, &rec, sc, need, &need), REC_DECODE_OK);
			if (pass == 0) {
				/* 2 + 65535 bytes each: 255 fit in 16 MiB */
				ck_assert_uint_eq(rec.header.argc, (REC_MAX_PAYLOAD - 42) / (2 + REC_MAX_STRING));
				ck_assert_uint_eq(strlen(rec.header.argv[rec.header.argc - 1]), REC_MAX_STRING);
			} else {
				ck_assert_uint_eq(rec.header.argc, REC_MAX_ARGS);
			}
			free(sc);
		}
		free(argv);
	}

	/* More THREADS pairs than fit one record: several records, each
	 * within the limit (so that readers that do not know the type skip
	 * them), together holding every pair in order. */
	{
		uint32_t per = (REC_MAX_PAYLOAD - 8) / 16, n = per + 3, got = 0;
		struct rec_tid_commits *tp = malloc(n * sizeof(*tp));
		size_t at = 0, records = 0;

		ck_assert_ptr_nonnull(tp);
		for (uint32_t i = 0; i < n; i++)
			tp[i] = (struct rec_tid_commits){ i + 1, (uint64_t)i * 3 };
		rec_buf_reset(&b);
		ck_assert_int_eq(rec_put_threads(&b, tp, n), 0);
		sc = malloc((size_t)per * sizeof(*tp));
		ck_assert_ptr_nonnull(sc);
		while (at < b.len) {
			ck_assert_int_eq(rec_decode(b.data + at, b.len - at, &raw, &size), REC_DECODE_OK);
			ck_assert_uint_eq(raw.type, REC_TYPE_THREADS);
			ck_assert_uint_le(raw.length, REC_MAX_PAYLOAD);
			ck_assert_int_eq(rec_parse(&raw, &rec, sc, (size_t)per * sizeof(*tp), &need),
					 REC_DECODE_OK);
			ck_assert_uint_eq(rec.threads.count, records ? 3 : per);
			for (uint32_t i = 0; i < rec.threads.count; i++, got++)
				ck_assert(rec.threads.pairs[i].tid == got + 1 &&
					  rec.threads.pairs[i].commits == (uint64_t)got * 3);
			at += size;
			records++;
		}
		ck_assert_uint_eq(records, 2);
		ck_assert_uint_eq(got, n);
		free(sc);
		free(tp);
	}

	/* A payload beyond the limit is refused, and nothing is appended. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_raw(&b, 99, big, (size_t)REC_MAX_PAYLOAD + 1), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	rec_buf_free(&b);
	free(big);
	free(pcs);
}
END_TEST

/* ------------------------------------------------------------ round trip */

START_TEST(test_roundtrip)
{
	struct sample s;
	struct rec_file *f;
	struct rec_reader *r;
	struct rec_event ev;
	uint64_t *deep = malloc(REC_MAX_DEPTH * sizeof(*deep));
	char path[PATH_MAX], err[256];
	const uint64_t *pcs;
	const struct rec_site *site;
	const struct rec_module *m;
	size_t nread, nmods;
	uint32_t depth;

	sample_build(&s);
	/* A stack of the maximum depth, with every bit pattern kind. */
	for (uint32_t i = 0; i < REC_MAX_DEPTH; i++)
		deep[i] = (uint64_t)i * 0x0101010101010101ull ^ (i & 1 ? UINT64_MAX : 0);
	sample_add(&s, (struct rec_record){ .type = REC_TYPE_STACK, .stack = {
		.id = 99, .depth = REC_MAX_DEPTH, .pcs = deep } });

	f = rec_file_create(tpath(path, "rt.lucid"), false, err, sizeof(err));
	ck_assert_msg(f != NULL, "rec_file_create: %s", err);
	ck_assert_uint_eq(rec_file_size(f), REC_MAGIC_LEN);
	/* In pieces, as the writer thread would. */
	ck_assert_int_eq(rec_file_append(f, s.b.data, 100), 0);
	ck_assert_int_eq(rec_file_append(f, s.b.data + 100, s.b.len - 100), 0);
	ck_assert_uint_eq(rec_file_size(f), REC_MAGIC_LEN + s.b.len);
	ck_assert_int_eq(rec_file_close(f), 0);

	r = open_ok(path);
	ck_assert_ptr_nonnull(rec_reader_header(r)); /* read ahead by open */
	ck_assert_int_eq(read_against(r, &s, &nread, "round trip"), REC_EOF);
	ck_assert_uint_eq(nread, s.n);
	ck_assert_ptr_null(rec_reader_warning(r));
	ck_assert_uint_eq(rec_reader_offset(r), REC_MAGIC_LEN + s.b.len);
	/* EOF is not final: asking again is fine. */
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);

	/* The tables. */
	ck_assert_str_eq(rec_reader_header(r)->program, "/usr/bin/pro\tgram\n");
	ck_assert_uint_eq(rec_reader_header(r)->pid, 4242);
	pcs = rec_reader_stack(r, 1, &depth);
	ck_assert_ptr_nonnull(pcs);
	ck_assert_uint_eq(depth, 5);
	ck_assert(memcmp(pcs, sample_pcs, sizeof(sample_pcs)) == 0);
	pcs = rec_reader_stack(r, 99, &depth);
	ck_assert_uint_eq(depth, REC_MAX_DEPTH);
	ck_assert(memcmp(pcs, deep, REC_MAX_DEPTH * sizeof(*deep)) == 0);
	ck_assert_ptr_nonnull(rec_reader_stack(r, 0xfffffffeu, &depth));
	ck_assert_uint_eq(depth, 0);
	ck_assert_ptr_null(rec_reader_stack(r, 2, &depth));
	ck_assert_ptr_null(rec_reader_stack(r, 0, &depth));
	site = rec_reader_site(r, 2);
	ck_assert_ptr_nonnull(site);
	ck_assert_str_eq(site->function, "f\r\n\x1b[2J");
	ck_assert_ptr_null(rec_reader_site(r, 3));
	m = rec_reader_module_for(r, 0x555555555000);
	ck_assert(m && strcmp(m->path, "/bin/prog") == 0);
	ck_assert(m->build_id_len == 20 && memcmp(m->build_id, sample_bid, 20) == 0);
	ck_assert_ptr_eq(rec_reader_module_for(r, 0x555555555fff), m);
	ck_assert_ptr_null(rec_reader_module_for(r, 0x555555556000));
	ck_assert_ptr_null(rec_reader_module_for(r, 0x555555554fff));
	m = rec_reader_module_for(r, 0x7f0000001800);
	ck_assert(m && m->build_id_len == 0);
	ck_assert_ptr_eq(rec_reader_modules(r, &nmods)[1], m);
	ck_assert_uint_eq(nmods, 2);
	rec_reader_close(r);
	rec_buf_free(&s.b);
	free(deep);
}
END_TEST

START_TEST(test_reader_tables_replace)
{
	struct rec_buf b = { 0 };
	struct rec_reader *r;
	struct rec_event ev;
	char path[PATH_MAX];
	uint64_t one = 1, two = 2;
	const uint64_t *first = NULL;
	uint32_t depth;
	int n = 0;

	rec_put_header(&b, &(struct rec_header){ .program = "p" });
	rec_put_module(&b, &(struct rec_module){ .low = 0x1000, .high = 0x3000, .path = "/old.so" });
	rec_put_module(&b, &(struct rec_module){ .low = 0x5000, .high = 0x6000, .path = "/keep.so" });
	rec_put_stack(&b, 4, &one, 1);
	/* dlclose + dlopen: a module at an overlapping place; a stack id
	 * defined twice (the later one counts). */
	rec_put_module(&b, &(struct rec_module){ .low = 0x2000, .high = 0x4000, .path = "/new.so" });
	rec_put_stack(&b, 4, &two, 1);
	write_recording(tpath(path, "tables.lucid"), &b);
	r = open_ok(path);
	while (rec_reader_next(r, &ev) == REC_OK) {
		if (ev.r.type == REC_TYPE_STACK && n++ == 0)
			first = ev.r.stack.pcs;
	}
	ck_assert_str_eq(rec_reader_module_for(r, 0x1000 + 0x800) ? "found" : "none", "none");
	ck_assert_str_eq(rec_reader_module_for(r, 0x2000)->path, "/new.so");
	ck_assert_str_eq(rec_reader_module_for(r, 0x3fff)->path, "/new.so");
	ck_assert_str_eq(rec_reader_module_for(r, 0x5000)->path, "/keep.so");
	ck_assert_uint_eq(*rec_reader_stack(r, 4, &depth), 2);
	/* What an event pointed at stays valid. */
	ck_assert_ptr_nonnull(first);
	ck_assert_uint_eq(first[0], 1);
	rec_reader_close(r);
	rec_buf_free(&b);
}
END_TEST

START_TEST(test_escape)
{
	char out[128];
	const char *in = "a\nb\t\x1b[0m\x7f\\ caf\xc3\xa9 \xff\xc2\x9b!";

	ck_assert_uint_eq(rec_escape(out, sizeof(out), in, strlen(in)),
			  strlen("a\\nb\\t\\x1b[0m\\x7f\\\\ caf\xc3\xa9 \\xff\\xc2\\x9b!"));
	ck_assert_str_eq(out, "a\\nb\\t\\x1b[0m\\x7f\\\\ caf\xc3\xa9 \\xff\\xc2\\x9b!");
	/* Cut to the buffer, always terminated. */
	ck_assert_uint_eq(rec_escape(out, 4, "\x01\x02", 2), 8);
	ck_assert_str_eq(out, "\\x0");
	ck_assert_uint_eq(rec_escape(out, sizeof(out), "a\0b", 3), 6);
	ck_assert_str_eq(out, "a\\x00b");
}
END_TEST

/* ------------------------------------------------------------ damage */

START_TEST(test_truncated)
{
	struct sample s;
	char path[PATH_MAX], err[512];
	uint8_t *full;
	size_t total;

	sample_build(&s);
	total = REC_MAGIC_LEN + s.b.len;
	full = malloc(total);
	memcpy(full, REC_MAGIC, REC_MAGIC_LEN);
	memcpy(full + REC_MAGIC_LEN, s.b.data, s.b.len);
	tpath(path, "cut.lucid");
	/* Cut at every byte offset of the file: the reader returns every
	 * record that is whole, then REC_AGAIN (inside a record) or REC_EOF
	 * (between records). */
	for (size_t len = 0; len <= total; len++) {
		struct rec_reader *r;
		size_t whole = 0, nread;
		int st;
		char ctx[64];

		write_file(path, full, len);
		r = rec_reader_open(path, err, sizeof(err));
		if (len < REC_MAGIC_LEN) {
			ck_assert_msg(r == NULL, "opened a %zu-byte file", len);
			ck_assert_msg(strstr(err, "not a Lucid recording"), "%zu: %s", len, err);
			continue;
		}
		ck_assert_msg(r != NULL, "cut at %zu: %s", len, err);
		while (whole < s.n && s.off[whole] + s.size[whole] <= len)
			whole++;
		snprintf(ctx, sizeof(ctx), "cut at %zu", len);
		st = read_against(r, &s, &nread, ctx);
		/* read_against counts skipped records too; compare by offset */
		if (whole < s.n && len > s.off[whole]) {
			char at[64];

			ck_assert_msg(st == REC_AGAIN, "%s: status %d", ctx, st);
			snprintf(at, sizeof(at), "offset %zu ", s.off[whole]);
			ck_assert_msg(rec_reader_warning(r) && strstr(rec_reader_warning(r), at),
				      "%s: warning %s", ctx, str_or_empty(rec_reader_warning(r)));
			/* Still REC_AGAIN when asked again. */
			ck_assert_int_eq(rec_reader_next(r, &(struct rec_event){ 0 }), REC_AGAIN);
		} else {
			ck_assert_msg(st == REC_EOF, "%s: status %d", ctx, st);
			ck_assert_ptr_null(rec_reader_warning(r));
		}
		ck_assert_msg(nread >= whole - (whole && s.unknown[whole - 1]) && nread <= whole,
			      "%s: %zu records, %zu whole", ctx, nread, whole);
		ck_assert_uint_eq(rec_reader_offset(r), whole ? s.off[whole - 1] + s.size[whole - 1]
							      : REC_MAGIC_LEN);
		rec_reader_close(r);
	}
	free(full);
	rec_buf_free(&s.b);
}
END_TEST

START_TEST(test_bit_flips)
{
	struct sample s;
	char path[PATH_MAX], err[512];
	uint8_t *full;
	size_t total, damaged = 0, again = 0;
	int fd;

	sample_build(&s);
	total = REC_MAGIC_LEN + s.b.len;
	full = malloc(total);
	memcpy(full, REC_MAGIC, REC_MAGIC_LEN);
	memcpy(full + REC_MAGIC_LEN, s.b.data, s.b.len);
	write_file(tpath(path, "flip.lucid"), full, total);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	/* Every bit of the file in turn. */
	for (size_t bit = 0; bit < 8 * total; bit++) {
		size_t byte = bit / 8, k = 0, nread;
		uint8_t v = full[byte] ^ (uint8_t)(1u << (bit % 8));
		struct rec_reader *r;
		char ctx[64], at[64];
		int st;

		ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)byte), 1);
		snprintf(ctx, sizeof(ctx), "bit %zu (byte %zu)", bit, byte);
		r = rec_reader_open(path, err, sizeof(err));
		if (byte < REC_MAGIC_LEN) {
			ck_assert_msg(r == NULL && strstr(err, "not a Lucid recording"), "%s: %s", ctx,
				      r ? "opened" : err);
			goto restore;
		}
		ck_assert_msg(r != NULL, "%s: %s", ctx, err);
		while (s.off[k] + s.size[k] <= byte)
			k++;
		/* Records before the damaged one come back intact (checked
		 * against what was written), none after it. */
		st = read_against(r, &s, &nread, ctx);
		ck_assert_msg(nread <= k && nread + 1 >= k, "%s: read %zu records, damage in %zu", ctx,
			      nread, k);
		snprintf(at, sizeof(at), "offset %zu ", s.off[k]);
		ck_assert_msg(rec_reader_warning(r) && strstr(rec_reader_warning(r), at),
			      "%s: warning %s", ctx, str_or_empty(rec_reader_warning(r)));
		if (st == REC_AGAIN) {
			/* Only a longer length in the last record makes it seem
			 * cut short: it then ends beyond the end of the file,
			 * with no whole record after it to show the damage. */
			uint32_t len = le32(full + s.off[k] + 8) ^ (byte - s.off[k] >= 8 &&
				       byte - s.off[k] < 12 ? 1u << (8 * (byte - s.off[k] - 8) + bit % 8) : 0);

			ck_assert_msg(k == s.n - 1 && byte - s.off[k] >= 8 && byte - s.off[k] < 12 &&
				      s.off[k] + rec_record_size(len) > total, "%s: REC_AGAIN", ctx);
			again++;
		} else {
			ck_assert_msg(st == REC_DAMAGED, "%s: status %d", ctx, st);
			ck_assert_msg(strstr(rec_reader_warning(r), "bytes skipped"), "%s: %s", ctx,
				      rec_reader_warning(r));
			/* Final. */
			ck_assert_int_eq(rec_reader_next(r, &(struct rec_event){ 0 }), REC_DAMAGED);
			damaged++;
		}
		rec_reader_close(r);
restore:
		ck_assert_int_eq(pwrite(fd, &full[byte], 1, (off_t)byte), 1);
	}
	close(fd);
	ck_assert_uint_eq(damaged + again, 8 * (total - REC_MAGIC_LEN));
	ck_assert_uint_lt(again, 32);
	free(full);
	rec_buf_free(&s.b);
}
END_TEST

/* A small deterministic generator (xorshift64*), so failures replay. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

START_TEST(test_random_damage)
{
	struct sample s;
	char path[PATH_MAX], err[512];
	uint8_t *full, *bad;
	size_t total;

	sample_build(&s);
	total = REC_MAGIC_LEN + s.b.len;
	full = malloc(total);
	bad = malloc(total);
	memcpy(full, REC_MAGIC, REC_MAGIC_LEN);
	memcpy(full + REC_MAGIC_LEN, s.b.data, s.b.len);
	tpath(path, "random.lucid");
	/* Several bytes overwritten at random, sometimes cut short too: the
	 * records before the first changed byte come back, none from it on. */
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = total, first = total, k = 0, nread;
		struct rec_reader *r;
		char ctx[64];
		int st;

		memcpy(bad, full, total);
		for (int m = 1 + (int)(rnd() % 4); m > 0; m--) {
			size_t at = REC_MAGIC_LEN + rnd() % (total - REC_MAGIC_LEN);

			bad[at] = (uint8_t)rnd();
			if (bad[at] != full[at] && at < first)
				first = at;
		}
		if (rnd() % 4 == 0)
			len = REC_MAGIC_LEN + rnd() % (total - REC_MAGIC_LEN);
		if (len < first)
			first = len;
		write_file(path, bad, len);
		snprintf(ctx, sizeof(ctx), "iteration %d", iter);
		r = rec_reader_open(path, err, sizeof(err));
		ck_assert_msg(r != NULL, "%s: %s", ctx, err);
		while (k < s.n && s.off[k] + s.size[k] <= first)
			k++;
		st = read_against(r, &s, &nread, ctx);
		ck_assert_msg(nread <= k, "%s: %zu records, first change in record %zu", ctx, nread, k);
		ck_assert_msg(st != REC_OK && st != REC_ERROR, "%s: status %d", ctx, st);
		ck_assert_msg(st == REC_EOF || rec_reader_warning(r), "%s: no warning", ctx);
		rec_reader_close(r);
	}
	/* Garbage after the magic. */
	for (int iter = 0; iter < 500; iter++) {
		size_t len = REC_MAGIC_LEN + rnd() % 600, nread;
		struct rec_reader *r;
		struct sample none = { .n = 0 };

		memcpy(bad, REC_MAGIC, REC_MAGIC_LEN);
		for (size_t i = REC_MAGIC_LEN; i < len && i < total; i++)
			bad[i] = (uint8_t)rnd();
		/* Often a plausible header, so that more than the sync is tried. */
		if (iter % 2 && len >= 24)
			memcpy(bad + REC_MAGIC_LEN, full + REC_MAGIC_LEN, 8 + rnd() % 8);
		write_file(path, bad, len < total ? len : total);
		r = open_ok(path);
		ck_assert_int_ne(read_against(r, &none, &nread, "garbage"), REC_OK);
		rec_reader_close(r);
	}
	free(full);
	free(bad);
	rec_buf_free(&s.b);
}
END_TEST

/* Fields that pass the checksum but make no sense (a buggy or hostile
 * writer) never make the parser read or write out of bounds. */
START_TEST(test_parser_garbage)
{
	struct rec_buf b = { 0 };
	uint8_t payload[512];
	void *sc = NULL;
	int ok = 0;

	struct sample good;

	sample_build(&good);
	for (int iter = 0; iter < 200000; iter++) {
		uint16_t type = (uint16_t)(1 + rnd() % REC_TYPE_THREADS);
		size_t len = rnd() % 2 ? rnd() % 64 : rnd() % sizeof(payload);
		struct rec_raw raw;
		struct rec_record rec;
		size_t size, need;
		int st;

		if (iter % 2) {
			/* A good record with a few bytes changed, a few added
			 * or removed: near-valid input finds off-by-ones. */
			size_t k = rnd() % good.n;
			const uint8_t *rp = good.b.data + good.off[k] - REC_MAGIC_LEN;
			size_t plen = le32(rp + 8);

			if (good.unknown[k] || plen > sizeof(payload) - 8)
				continue;
			type = good.want[k].type;
			memcpy(payload, rp + REC_HEAD_SIZE, plen);
			len = plen;
			for (int m = (int)(rnd() % 4); m > 0; m--)
				payload[rnd() % plen] = (uint8_t)(rnd() % 2 ? rnd() % 4 : rnd());
			if (rnd() % 4 == 0)
				len = rnd() % 2 ? len - rnd() % (len + 1) : len + rnd() % 8;
		} else {
			for (size_t i = 0; i < len; i++) {
				uint64_t x = rnd();

				/* mostly small numbers, so lengths and counts fit */
				payload[i] = (uint8_t)(x % 3 ? x % 8 : x >> 8);
			}
		}
		rec_buf_reset(&b);
		ck_assert_int_eq(rec_put_raw(&b, type, payload, len), 0);
		if (rec_decode(b.data, b.len, &raw, &size) != REC_DECODE_OK)
			continue;
		st = rec_parse(&raw, &rec, NULL, 0, &need);
		if (st == REC_DECODE_SCRATCH) {
			/* exactly need bytes, so ASan sees any overrun */
			free(sc);
			sc = malloc(need);
			st = rec_parse(&raw, &rec, sc, need, &need);
		}
		ck_assert_msg(st == REC_DECODE_OK || st == REC_DECODE_BAD_FIELDS, "type %u: %d", type, st);
		if (st != REC_DECODE_OK)
			continue;
		ok++;
		/* Everything it points to is readable. */
		switch (type) {
		case REC_TYPE_HEADER:
			for (uint32_t i = 0; i < rec.header.argc; i++)
				ck_assert_uint_le(strlen(rec.header.argv[i]), len);
			ck_assert_uint_le(strlen(rec.header.program), len);
			break;
		case REC_TYPE_MODULE:
			ck_assert_uint_le(strlen(rec.module.path) + rec.module.build_id_len, len);
			break;
		case REC_TYPE_SITE:
			ck_assert_uint_le(strlen(rec.site.file) + strlen(rec.site.function), len);
			break;
		case REC_TYPE_STACK:
			for (uint32_t i = 0; i < rec.stack.depth; i++)
				sink += rec.stack.pcs[i];
			break;
		case REC_TYPE_COMMITS:
			for (uint32_t i = 0; i < rec.commits.count; i++)
				sink += rec.commits.pairs[i].commits;
			break;
		case REC_TYPE_STATS:
			for (uint32_t i = 0; i < rec.stats.n; i++)
				sink += rec.stats.by_reason[i];
			break;
		case REC_TYPE_THREADS:
			for (uint32_t i = 0; i < rec.threads.count; i++)
				sink += rec.threads.pairs[i].commits + rec.threads.pairs[i].tid;
			break;
		}
	}
	/* The generator does reach the parsers' success paths. */
	ck_assert_int_gt(ok, 10000);
	free(sc);
	rec_buf_free(&b);
	rec_buf_free(&good.b);
}
END_TEST

START_TEST(test_open_errors)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX], err[512];
	struct rec_reader *r;
	struct rec_event ev;

	ck_assert_ptr_null(rec_reader_open(tpath(path, "missing"), err, sizeof(err)));
	ck_assert_msg(strstr(err, strerror(ENOENT)) && strstr(err, "missing"), "%s", err);

	write_file(tpath(path, "text"), "hello, world\n", 13);
	ck_assert_ptr_null(rec_reader_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a Lucid recording"), "%s", err);

	write_file(tpath(path, "empty"), "", 0);
	ck_assert_ptr_null(rec_reader_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a Lucid recording"), "%s", err);

	ck_assert_ptr_null(rec_reader_open(tmpdir, err, sizeof(err)));
	ck_assert_msg(strstr(err, "directory"), "%s", err);

	/* Another version, even one whose HEADER is just its version. */
	rec_put_raw(&b, REC_TYPE_HEADER, (uint8_t[4]){ 9, 0, 0, 0 }, 4);
	write_recording(tpath(path, "v9"), &b);
	ck_assert_ptr_null(rec_reader_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "unsupported") && strstr(err, "version 9"), "%s", err);
	rec_buf_reset(&b);

	/* Another version: refused at open when its HEADER is there. */
	rec_put_header(&b, &(struct rec_header){ .version = 2, .program = "p" });
	write_recording(tpath(path, "v2"), &b);
	ck_assert_ptr_null(rec_reader_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "unsupported") && strstr(err, "version 2"), "%s", err);

	/* A recording that does not start with a HEADER. */
	rec_buf_reset(&b);
	rec_put_drops(&b, 1);
	write_recording(tpath(path, "noheader"), &b);
	ck_assert_ptr_null(rec_reader_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a Lucid recording") && strstr(err, "HEADER"), "%s", err);

	/* Just the magic (the writer has not written the HEADER yet): it
	 * opens; the version is checked when the HEADER arrives. */
	write_recording(tpath(path, "live"), &(struct rec_buf){ 0 });
	r = open_ok(path);
	ck_assert_ptr_null(rec_reader_header(r));
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);
	rec_buf_reset(&b);
	rec_put_header(&b, &(struct rec_header){ .version = 3 });
	write_recording(path, &b);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_DAMAGED);
	ck_assert_msg(strstr(rec_reader_warning(r), "version 3"), "%s", rec_reader_warning(r));
	rec_reader_close(r);

	/* A damaged record names the offset and how much is left unread. */
	rec_buf_reset(&b);
	rec_put_header(&b, &(struct rec_header){ .program = "p" });
	rec_put_drops(&b, 1);
	rec_put_drops(&b, 2);
	b.data[b.len - 1] ^= 4; /* the second DROPS' payload */
	write_recording(tpath(path, "bad"), &b);
	r = open_ok(path);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_uint_eq(ev.r.drops.dropped, 1);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_DAMAGED);
	snprintf(err, sizeof(err), "offset %zu (bad checksum); stopped there, 24 bytes skipped",
		 REC_MAGIC_LEN + b.len - 24);
	ck_assert_msg(strstr(rec_reader_warning(r), err), "%s", rec_reader_warning(r));
	rec_reader_close(r);
	rec_buf_free(&b);
}
END_TEST

START_TEST(test_malformed)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct rec_reader *r;
	struct rec_event ev;
	uint8_t site[4 + 8 + 4 + 2 + 2] = { 0 }; /* id 0 */

	rec_put_header(&b, &(struct rec_header){ .program = "p" });
	rec_put_raw(&b, REC_TYPE_SITE, site, sizeof(site));
	write_recording(tpath(path, "malformed"), &b);
	r = open_ok(path);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_DAMAGED);
	ck_assert_msg(strstr(rec_reader_warning(r), "malformed SITE"), "%s", rec_reader_warning(r));
	rec_reader_close(r);
	rec_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ follow */

START_TEST(test_follow)
{
	struct rec_buf b = { 0 }, more = { 0 };
	struct rec_file *f;
	struct rec_reader *r;
	struct rec_event ev;
	char path[PATH_MAX], err[256];
	uint64_t pcs[3] = { 10, 20, 30 };

	f = rec_file_create(tpath(path, "live.lucid"), false, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	/* Opened before anything but the magic is there. */
	r = open_ok(path);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);

	rec_put_header(&b, &(struct rec_header){ .pid = 5, .program = "live" });
	rec_put_drops(&b, 0);
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_uint_eq(ev.r.type, REC_TYPE_HEADER);
	ck_assert_uint_eq(rec_reader_header(r)->pid, 5);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_uint_eq(ev.r.type, REC_TYPE_DROPS);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);

	/* A STACK written a byte at a time: REC_AGAIN until it is whole. */
	rec_put_stack(&more, 8, pcs, 3);
	rec_put_abort(&more, &(struct rec_abort){ .stack = 8, .attempt = 2 });
	for (size_t i = 0; i < rec_record_size(8 + 24); i++) {
		ck_assert_int_eq(rec_file_append(f, more.data + i, 1), 0);
		if (i + 1 < rec_record_size(8 + 24)) {
			int st = rec_reader_next(r, &ev);

			ck_assert_msg(st == REC_AGAIN, "byte %zu: %d %s", i, st, str_or_empty(rec_reader_warning(r)));
			ck_assert_ptr_nonnull(rec_reader_warning(r));
		}
	}
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_uint_eq(ev.r.type, REC_TYPE_STACK);
	ck_assert_uint_eq(ev.r.stack.pcs[2], 30);
	ck_assert_ptr_null(rec_reader_warning(r));
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);
	/* The rest, in two pieces. */
	ck_assert_int_eq(rec_file_append(f, more.data + rec_record_size(32), 30), 0);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_AGAIN);
	ck_assert_int_eq(rec_file_append(f, more.data + rec_record_size(32) + 30,
					 more.len - rec_record_size(32) - 30), 0);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_OK);
	ck_assert_uint_eq(ev.r.type, REC_TYPE_ABORT);
	ck_assert_uint_eq(ev.r.abort.attempt, 2);
	ck_assert_int_eq(rec_reader_next(r, &ev), REC_EOF);
	ck_assert_int_eq(rec_file_close(f), 0);
	rec_reader_close(r);
	rec_buf_free(&b);
	rec_buf_free(&more);
}
END_TEST

/* ------------------------------------------------------------ creating the file */

static void expect_content(const char *path, const void *want, size_t len)
{
	size_t n;
	uint8_t *d = read_file(path, &n);

	ck_assert_msg(n == len && memcmp(d, want, len) == 0, "%s changed", path);
	free(d);
}

START_TEST(test_create_symlink)
{
	char path[PATH_MAX], link[PATH_MAX], dangling[PATH_MAX], err[512];
	struct stat st;

	write_file(tpath(path, "target.lucid"), REC_MAGIC "old", 11);
	ck_assert_int_eq(symlink(path, tpath(link, "link.lucid")), 0);
	ck_assert_ptr_null(rec_file_create(link, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	ck_assert_ptr_null(rec_file_create(link, false, err, sizeof(err)));
	expect_content(path, REC_MAGIC "old", 11);
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));

	/* A dangling link is not followed to create its target either. */
	ck_assert_int_eq(symlink(tpath(path, "nothing-here"), tpath(dangling, "dangling")), 0);
	ck_assert_ptr_null(rec_file_create(dangling, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_create_refuses_others)
{
	char path[PATH_MAX], err[512];

	write_file(tpath(path, "notes.txt"), "hello, world\n", 13);
	ck_assert_ptr_null(rec_file_create(path, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a Lucid recording") && strstr(err, "notes.txt"), "%s", err);
	expect_content(path, "hello, world\n", 13);

	/* Shorter than the magic but not empty. */
	write_file(tpath(path, "short"), "LUCID", 5);
	ck_assert_ptr_null(rec_file_create(path, true, err, sizeof(err)));
	expect_content(path, "LUCID", 5);

	ck_assert_ptr_null(rec_file_create(tmpdir, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a regular file"), "%s", err);

	/* A FIFO: refused, and without blocking on it (opening it would wait
	 * for a writer forever; the test's timeout would catch that). */
	ck_assert_int_eq(mkfifo(tpath(path, "fifo"), 0600), 0);
	ck_assert_ptr_null(rec_file_create(path, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a regular file"), "%s", err);

	ck_assert_ptr_null(rec_file_create("/dev/null", true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a regular file"), "%s", err);

	ck_assert_ptr_null(rec_file_create(tpath(path, "no/such/dir"), true, err, sizeof(err)));
	ck_assert_msg(strstr(err, strerror(ENOENT)), "%s", err);
}
END_TEST

START_TEST(test_create_replace)
{
	char path[PATH_MAX], err[512];
	struct rec_file *f;
	struct rec_buf b = { 0 };
	uint8_t *want;

	write_file(tpath(path, "old.lucid"), REC_MAGIC "previous run", 20);
	/* Not asked to replace: untouched. */
	ck_assert_ptr_null(rec_file_create(path, false, err, sizeof(err)));
	ck_assert_msg(strstr(err, "already exists"), "%s", err);
	expect_content(path, REC_MAGIC "previous run", 20);

	/* Asked: truncated and started again. */
	f = rec_file_create(path, true, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	rec_put_drops(&b, 3);
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	ck_assert_int_eq(rec_file_close(f), 0);
	want = malloc(REC_MAGIC_LEN + b.len);
	memcpy(want, REC_MAGIC, REC_MAGIC_LEN);
	memcpy(want + REC_MAGIC_LEN, b.data, b.len);
	expect_content(path, want, REC_MAGIC_LEN + b.len);
	free(want);

	/* An empty file counts as replaceable (a previous run that wrote
	 * nothing yet). */
	write_file(tpath(path, "empty.lucid"), "", 0);
	f = rec_file_create(path, true, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_int_eq(rec_file_close(f), 0);
	expect_content(path, REC_MAGIC, REC_MAGIC_LEN);
	rec_buf_free(&b);
}
END_TEST

START_TEST(test_create_mode)
{
	char path[PATH_MAX], err[512];
	struct rec_file *f;
	struct stat st;

	umask(0);
	f = rec_file_create(tpath(path, "new.lucid"), false, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_int_eq(rec_file_close(f), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600, "mode %o", st.st_mode & 07777);
	expect_content(path, REC_MAGIC, REC_MAGIC_LEN);
	ck_assert_int_eq(rec_file_close(NULL), 0);
}
END_TEST

START_TEST(test_append_error)
{
	char path[PATH_MAX], err[512];
	struct stat st;
	pid_t pid;
	int status;

	/*
	 * A file size limit: the first write is short, the next fails; the
	 * error comes back as a value, not a signal or an exit. In a child of
	 * its own, since check reports results through a file that the limit
	 * would cut too.
	 */
	tpath(path, "limited.lucid");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 100, 100 };
		struct rec_file *f;
		char data[1000];
		int r;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(10);
		f = rec_file_create(path, false, err, sizeof(err));
		if (!f)
			_exit(11);
		memset(data, 0, sizeof(data));
		r = rec_file_append(f, data, sizeof(data));
		if (rec_file_close(f) != 0)
			_exit(12);
		_exit(r == -EFBIG ? 0 : 13);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 100);
}
END_TEST

/* ------------------------------------------------------------ the module map */

/* The GNU build-id of an ELF file, read from the file's program headers. */
static size_t file_build_id(const char *path, uint8_t *out, size_t outlen)
{
	size_t len, found = 0;
	uint8_t *d = read_file(path, &len);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)d;

	ck_assert_msg(len >= sizeof(*eh) && memcmp(d, ELFMAG, SELFMAG) == 0, "%s: not ELF", path);
	for (int i = 0; i < eh->e_phnum && !found; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(d + eh->e_phoff + (size_t)i * eh->e_phentsize);
		size_t p, end, al = ph->p_align == 8 ? 8 : 4;

		if (ph->p_type != PT_NOTE)
			continue;
		for (p = ph->p_offset, end = p + ph->p_filesz; p + 12 <= end;) {
			const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(d + p);
			size_t name = p + 12, desc = name + ((nh->n_namesz + al - 1) & ~(al - 1));

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(d + name, "GNU", 4) == 0 && nh->n_descsz <= outlen) {
				memcpy(out, d + desc, nh->n_descsz);
				found = nh->n_descsz;
				break;
			}
			p = desc + ((nh->n_descsz + al - 1) & ~(al - 1));
		}
	}
	free(d);
	return found;
}

/* All MODULE records in a buffer. */
static size_t parse_modules(const struct rec_buf *b, struct rec_module *mods, void **mem, size_t max)
{
	size_t n = 0;

	for (size_t at = 0; at < b->len;) {
		struct rec_raw raw;
		struct rec_record rec;
		size_t size, need;

		ck_assert_int_eq(rec_decode(b->data + at, b->len - at, &raw, &size), REC_DECODE_OK);
		ck_assert_uint_eq(raw.type, REC_TYPE_MODULE);
		ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
		ck_assert_uint_lt(n, max);
		mem[n] = malloc(need);
		ck_assert_int_eq(rec_parse(&raw, &rec, mem[n], need, &need), REC_DECODE_OK);
		mods[n++] = rec.module;
		at += size;
	}
	return n;
}

static const struct rec_module *module_at(const struct rec_module *mods, size_t n, uint64_t pc)
{
	for (size_t i = 0; i < n; i++)
		if (mods[i].low <= pc && pc < mods[i].high)
			return &mods[i];
	return NULL;
}

static void free_all(void **mem, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(mem[i]);
}

static int line_target, line_inline_body, line_inline_call;

/* Functions whose calls must stay calls, each on its line: GCC's noipa;
 * clang has no such attribute, and optnone keeps the function as written. */
#ifdef __clang__
#define SYM_NOIPA __attribute__((noinline, optnone))
#else
#define SYM_NOIPA __attribute__((noipa))
#endif

/*
 * probe() stores its return address. The call is alone on its line, so the
 * return address itself belongs to the next line: only looking up pc - 1
 * gives the call's line.
 */
SYM_NOIPA static void probe(uint64_t *out)
{
	*out = (uint64_t)(uintptr_t)__builtin_return_address(0);
}

/* The return address of its call to probe(), at line_target. */
SYM_NOIPA static uint64_t sym_target(void)
{
	uint64_t ra;

	line_target = __LINE__ + 1;
	probe(&ra);
	sink = ra;
	return ra;
}

static inline __attribute__((always_inline)) uint64_t sym_inlined(void)
{
	uint64_t ra;

	line_inline_body = __LINE__ + 1;
	probe(&ra);
	return ra;
}

/* probe() called from sym_inlined, inlined here at line_inline_call. */
SYM_NOIPA static uint64_t sym_inline_caller(void)
{
	uint64_t ra;

	line_inline_call = __LINE__ + 1;
	ra = sym_inlined();
	sink = ra + 1;
	return ra;
}

START_TEST(test_modules)
{
	struct rec_buf b = { 0 };
	struct rec_modmap *map = rec_modmap_new();
	struct rec_module mods[512];
	void *mem[512];
	uint8_t bid[64];
	size_t n, bid_len;
	char exe[PATH_MAX], *real;
	const struct rec_module *m;
	void *libc_fn = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");
	uint64_t self = (uint64_t)(uintptr_t)sym_target;
	int emitted, local;

	ck_assert_ptr_nonnull(map);
	ck_assert(!rec_modmap_contains(map, self));
	emitted = rec_put_modules(&b, map);
	ck_assert_int_gt(emitted, 1);
	ck_assert(!b.oom);
	n = parse_modules(&b, mods, mem, 512);
	ck_assert_uint_eq(n, (size_t)emitted);

	/* The test program itself, under its real path, with the build-id
	 * its file carries. */
	m = module_at(mods, n, self);
	ck_assert_msg(m != NULL, "no module holds %#" PRIx64, self);
	ck_assert(readlink("/proc/self/exe", exe, sizeof(exe)) > 0);
	real = realpath("/proc/self/exe", NULL);
	ck_assert_str_eq(m->path, real);
	bid_len = file_build_id(real, bid, sizeof(bid));
	ck_assert_msg(bid_len > 0, "%s has no build-id note", real);
	ck_assert_uint_eq(m->build_id_len, bid_len);
	ck_assert(memcmp(m->build_id, bid, bid_len) == 0);
	ck_assert(m->low <= self && self < m->high && m->base <= m->low);
	free(real);

	/* libc, likewise. */
	ck_assert_ptr_nonnull(libc_fn);
	m = module_at(mods, n, (uint64_t)(uintptr_t)libc_fn);
	ck_assert_msg(m != NULL && strstr(m->path, "libc.so"), "libc: %s", m ? m->path : "none");
	ck_assert_msg(m->path[0] == '/', "%s", m->path);
	bid_len = file_build_id(m->path, bid, sizeof(bid));
	ck_assert_uint_eq(m->build_id_len, bid_len);
	ck_assert(bid_len == 0 || memcmp(m->build_id, bid, bid_len) == 0);

	/* Ranges do not overlap, and the map answers for them. */
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(mods[i].low, mods[i].high);
		ck_assert(rec_modmap_contains(map, mods[i].low));
		ck_assert(rec_modmap_contains(map, mods[i].high - 1));
		for (size_t j = i + 1; j < n; j++)
			ck_assert(mods[i].high <= mods[j].low || mods[j].high <= mods[i].low);
	}
	ck_assert(rec_modmap_contains(map, self));
	ck_assert(!rec_modmap_contains(map, 0));
	ck_assert(!rec_modmap_contains(map, (uint64_t)(uintptr_t)&local));

	/* Nothing new: nothing written. */
	rec_buf_reset(&b);
	ck_assert_int_eq(rec_put_modules(&b, map), 0);
	ck_assert_uint_eq(b.len, 0);

	/* A library loaded now is described next time, and only it. */
	{
		static const char *const candidates[] = {
			"libanl.so.1", "libBrokenLocale.so.1", "libnss_dns.so.2", "libutil.so.1",
		};
		void *h = NULL;
		const char *name = NULL;

		for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates) && !h; i++) {
			if (dlopen(candidates[i], RTLD_NOW | RTLD_NOLOAD))
				continue; /* already loaded */
			h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
			name = candidates[i];
		}
		if (h) {
			size_t k;

			free_all(mem, n);
			emitted = rec_put_modules(&b, map);
			k = parse_modules(&b, mods, mem, 512);
			ck_assert_int_eq(emitted, 1);
			ck_assert_uint_eq(k, 1);
			ck_assert_msg(strstr(mods[0].path, name), "%s, want %s", mods[0].path, name);
			ck_assert(rec_modmap_contains(map, mods[0].low));
			n = k;
		}
	}
	free_all(mem, n);
	rec_modmap_free(map);
	rec_buf_free(&b);
}
END_TEST

START_TEST(test_header_self)
{
	struct rec_buf b = { 0 };
	struct rec_raw raw;
	struct rec_record rec;
	size_t size, need;
	void *sc;
	char *real = realpath("/proc/self/exe", NULL);

	ck_assert_int_eq(rec_put_header_self(&b, 20, 3), 0);
	ck_assert_int_eq(rec_decode(b.data, b.len, &raw, &size), REC_DECODE_OK);
	ck_assert_int_eq(rec_parse(&raw, &rec, NULL, 0, &need), REC_DECODE_SCRATCH);
	sc = malloc(need);
	ck_assert_int_eq(rec_parse(&raw, &rec, sc, need, &need), REC_DECODE_OK);
	ck_assert_uint_eq(rec.header.version, REC_VERSION);
	ck_assert_uint_eq(rec.header.pid, (uint32_t)getpid());
	ck_assert_uint_eq(rec.header.ppid, (uint32_t)getppid());
	ck_assert_uint_eq(rec.header.orec_bits, 20);
	ck_assert_uint_eq(rec.header.word_shift, 3);
	ck_assert_str_eq(rec.header.program, real);
	ck_assert_uint_ge(rec.header.argc, 1);
	ck_assert_msg(strstr(rec.header.argv[0], "check_conflict"), "argv[0] %s", rec.header.argv[0]);
	ck_assert_uint_gt(rec.header.start_realtime_ns, 1500000000ull * 1000000000ull);
	ck_assert_uint_gt(rec.header.start_mono_ns, 0);
	free(sc);
	free(real);
	rec_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ symbolization */

#define MAX_FRAMES 8

struct frames {
	struct rec_frame f[MAX_FRAMES];
	int n;
};

static int collect(const struct rec_frame *f, void *arg)
{
	struct frames *fr = arg;

	ck_assert_int_lt(fr->n, MAX_FRAMES);
	fr->f[fr->n++] = *f;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A recording of this process: HEADER and modules, read back. */
static struct rec_reader *self_recording(const char *name)
{
	char path[PATH_MAX], err[256];
	struct rec_buf b = { 0 };
	struct rec_modmap *map = rec_modmap_new();
	struct rec_file *f = rec_file_create(tpath(path, name), false, err, sizeof(err));
	struct rec_reader *r;
	struct rec_event ev;
	int st;

	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_int_eq(rec_put_header_self(&b, 20, 3), 0);
	ck_assert_int_gt(rec_put_modules(&b, map), 0);
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	ck_assert_int_eq(rec_file_close(f), 0);
	rec_modmap_free(map);
	rec_buf_free(&b);
	r = open_ok(path);
	while ((st = rec_reader_next(r, &ev)) == REC_OK)
		;
	ck_assert_int_eq(st, REC_EOF);
	return r;
}

static struct frames lookup(struct rec_symbolizer *s, uint64_t pc, bool ret)
{
	struct frames fr = { .n = 0 };

	ck_assert_int_eq(rec_sym_lookup(s, pc, ret, collect, &fr), 0);
	ck_assert_int_ge(fr.n, 1);
	return fr;
}

START_TEST(test_symbolize_function)
{
	struct rec_reader *r = self_recording("self.lucid");
	struct rec_symbolizer *s = rec_sym_new(r);
	uint64_t ra = sym_target();
	struct frames fr, again;
	char *real = realpath("/proc/self/exe", NULL);

	ck_assert_ptr_nonnull(s);
	fr = lookup(s, ra, true);
	ck_assert_int_eq(fr.n, 1);
	ck_assert_str_eq(fr.f[0].function, "sym_target");
	ck_assert_str_eq(base_name(fr.f[0].file), "check_conflict.c");
	ck_assert_uint_eq(fr.f[0].line, (unsigned)line_target);
	ck_assert(!fr.f[0].inlined);
	ck_assert_str_eq(fr.f[0].module, real);
	ck_assert_uint_eq(fr.f[0].pc, ra);
	/* The function's own address (not a return address). */
	fr = lookup(s, (uint64_t)(uintptr_t)sym_target, false);
	ck_assert_str_eq(fr.f[0].function, "sym_target");
	ck_assert_int_gt(fr.f[0].line, 0);
	ck_assert_uint_le(fr.f[0].line, (unsigned)line_target);
	/* Cached: the same answer. */
	again = lookup(s, ra, true);
	ck_assert_ptr_eq(again.f[0].function, lookup(s, ra, true).f[0].function);
	ck_assert_uint_eq(again.f[0].line, (unsigned)line_target);
	ck_assert_ptr_null(rec_sym_warning(s));
	rec_sym_free(s);
	rec_reader_close(r);
	free(real);
}
END_TEST

START_TEST(test_symbolize_inlined)
{
	struct rec_reader *r = self_recording("self.lucid");
	struct rec_symbolizer *s = rec_sym_new(r);
	uint64_t ra = sym_inline_caller();
	struct frames fr = lookup(s, ra, true);

	ck_assert_msg(fr.n == 2, "%d frames; first %s:%u", fr.n, fr.f[0].function, fr.f[0].line);
	ck_assert_str_eq(fr.f[0].function, "sym_inlined");
	ck_assert(fr.f[0].inlined);
	ck_assert_str_eq(base_name(fr.f[0].file), "check_conflict.c");
	ck_assert_uint_eq(fr.f[0].line, (unsigned)line_inline_body);
	ck_assert_str_eq(fr.f[1].function, "sym_inline_caller");
	ck_assert(!fr.f[1].inlined);
	ck_assert_str_eq(base_name(fr.f[1].file), "check_conflict.c");
	ck_assert_uint_eq(fr.f[1].line, (unsigned)line_inline_call);
	ck_assert_uint_eq(fr.f[1].pc, ra);
	rec_sym_free(s);
	rec_reader_close(r);
}
END_TEST

static int stop_at_first(const struct rec_frame *f, void *arg)
{
	++*(int *)arg;
	(void)f;
	return 42;
}

START_TEST(test_symbolize_unknown)
{
	struct rec_reader *r = self_recording("self.lucid");
	struct rec_symbolizer *s = rec_sym_new(r);
	void *libc_fn = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");
	struct frames fr;
	int calls = 0;

	/* In no module. */
	fr = lookup(s, 0x10, false);
	ck_assert_int_eq(fr.n, 1);
	ck_assert_str_eq(fr.f[0].function, "??");
	ck_assert_str_eq(fr.f[0].file, "??");
	ck_assert_uint_eq(fr.f[0].line, 0);
	ck_assert_ptr_null(fr.f[0].module);
	/* libc: without its debug information, the symbol table names it. */
	fr = lookup(s, (uint64_t)(uintptr_t)libc_fn, false);
	ck_assert_msg(strstr(fr.f[fr.n - 1].function, "gnu_get_libc_version"), "%s",
		      fr.f[fr.n - 1].function);
	ck_assert(strstr(fr.f[0].module, "libc.so"));
	/* zlib (which libdw loads) has no debug information here: the ELF
	 * symbol table still names the function. */
	{
		void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD);
		void *fn = h ? dlsym(h, "zlibVersion") : NULL;

		ck_assert_msg(fn != NULL, "libz.so.1 is not loaded: %s", dlerror());
		fr = lookup(s, (uint64_t)(uintptr_t)fn, false);
		ck_assert_str_eq(fr.f[fr.n - 1].function, "zlibVersion");
		ck_assert(strstr(fr.f[0].module, "libz.so"));
		ck_assert(fr.f[0].line > 0 || strcmp(fr.f[0].file, "??") == 0);
	}
	/* The callback stops the walk. */
	ck_assert_int_eq(rec_sym_lookup(s, sym_target(), true, stop_at_first, &calls), 42);
	ck_assert_int_eq(calls, 1);
	ck_assert_ptr_null(rec_sym_warning(s));
	rec_sym_free(s);
	rec_reader_close(r);
}
END_TEST

/* This program's entry in the real module map; its strings live in
 * mem[0..*n), for free_all. */
static struct rec_module self_module(uint64_t pc, void **mem, size_t *n)
{
	struct rec_buf b = { 0 };
	struct rec_modmap *map = rec_modmap_new();
	struct rec_module mods[512];
	const struct rec_module *self;

	rec_put_modules(&b, map);
	*n = parse_modules(&b, mods, mem, 512);
	self = module_at(mods, *n, pc);
	ck_assert_ptr_nonnull(self);
	rec_modmap_free(map);
	rec_buf_free(&b);
	return *self;
}

/* A symbolizer on the recording @p name, written with a header naming
 * @p program and the module map @p mods, read to its end (*r to close). */
static struct rec_symbolizer *sym_on_modules(const char *name, const char *program,
                                             const struct rec_module *mods, size_t n,
                                             struct rec_reader **r)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX];
	struct rec_event ev;

	rec_put_header(&b, &(struct rec_header){ .program = program });
	for (size_t i = 0; i < n; i++)
		rec_put_module(&b, &mods[i]);
	write_recording(tpath(path, name), &b);
	rec_buf_free(&b);
	*r = open_ok(path);
	while (rec_reader_next(*r, &ev) == REC_OK)
		;
	return rec_sym_new(*r);
}

START_TEST(test_symbolize_missing_and_mismatch)
{
	char *real = realpath("/proc/self/exe", NULL);
	uint8_t bid[64];
	size_t bid_len = file_build_id(real, bid, sizeof(bid));
	void *mem[512];
	struct rec_reader *r;
	struct rec_symbolizer *s;
	struct frames fr;
	uint64_t ra = sym_target();
	size_t n;
	/* Where this program is, from the real module map. */
	struct rec_module self = self_module(ra, mem, &n);

	ck_assert_uint_gt(bid_len, 0);
	bid[0] ^= 0xff;
	s = sym_on_modules("stale.lucid", real, (struct rec_module[]){
		{ .base = 0x10000, .low = 0x11000, .high = 0x12000, .path = "/nonexistent/libgone.so" },
		/* This program's file, but a different build-id: a rebuilt binary. */
		{ .base = self.base, .low = self.low, .high = self.high, .build_id = bid,
		  .build_id_len = bid_len, .path = real } }, 2, &r);

	fr = lookup(s, 0x11800, true);
	ck_assert_int_eq(fr.n, 1);
	ck_assert_str_eq(fr.f[0].function, "??");
	ck_assert_uint_eq(fr.f[0].line, 0);
	ck_assert_str_eq(fr.f[0].module, "/nonexistent/libgone.so");
	ck_assert_msg(rec_sym_warning(s) && strstr(rec_sym_warning(s), "/nonexistent/libgone.so"),
		      "%s", str_or_empty(rec_sym_warning(s)));

	fr = lookup(s, ra, true);
	ck_assert_int_eq(fr.n, 1);
	ck_assert_str_eq(fr.f[0].function, "??");
	ck_assert_str_eq(fr.f[0].module, real);
	ck_assert_msg(strstr(rec_sym_warning(s), "build-id"), "%s", rec_sym_warning(s));
	/* Each module is warned about once. */
	lookup(s, ra + 1, true);
	lookup(s, 0x11900, true);
	ck_assert_ptr_eq(strstr(strstr(rec_sym_warning(s), "build-id") + 1, "build-id"), NULL);

	rec_sym_free(s);
	rec_reader_close(r);
	free_all(mem, n);
	free(real);
}
END_TEST

/* A program built without .debug_aranges (clang's default): its units are
 * found by their own address ranges, and lines still come out. */
START_TEST(test_symbolize_without_aranges)
{
	char copy[PATH_MAX], cmd[3 * PATH_MAX], *real = realpath("/proc/self/exe", NULL);
	void *mem[512];
	struct rec_reader *r;
	struct rec_symbolizer *s;
	struct frames fr;
	uint64_t ra = sym_target();
	size_t n;
	struct rec_module self = self_module(ra, mem, &n);

	tpath(copy, "noaranges");
	snprintf(cmd, sizeof(cmd), "objcopy --remove-section=.debug_aranges '%s' '%s'", real, copy);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "readelf -S '%s' | grep -q debug_aranges", copy);
	ck_assert_msg(system(cmd) != 0, "the copy still has .debug_aranges");

	self.path = copy;
	s = sym_on_modules("noaranges.lucid", copy, &self, 1, &r);
	fr = lookup(s, ra, true);
	ck_assert_int_eq(fr.n, 1);
	ck_assert_str_eq(fr.f[0].function, "sym_target");
	ck_assert_str_eq(base_name(fr.f[0].file), "check_conflict.c");
	ck_assert_uint_eq(fr.f[0].line, (unsigned)line_target);
	ck_assert_ptr_null(rec_sym_warning(s));

	rec_sym_free(s);
	rec_reader_close(r);
	free_all(mem, n);
	free(real);
}
END_TEST

START_TEST(test_symbolize_follow)
{
	struct rec_buf b = { 0 };
	char path[PATH_MAX], err[256];
	struct rec_file *f = rec_file_create(tpath(path, "grow.lucid"), false, err, sizeof(err));
	struct rec_reader *r;
	struct rec_symbolizer *s;
	struct rec_event ev;
	struct frames fr;

	ck_assert_msg(f != NULL, "%s", err);
	rec_put_header(&b, &(struct rec_header){ .program = "p" });
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	r = open_ok(path);
	s = rec_sym_new(r);
	while (rec_reader_next(r, &ev) == REC_OK)
		;
	/* Not in a module yet... */
	fr = lookup(s, 0x21000, false);
	ck_assert_ptr_null(fr.f[0].module);
	/* ...then in one (the writer described a library loaded since)... */
	rec_buf_reset(&b);
	rec_put_module(&b, &(struct rec_module){ .low = 0x20000, .high = 0x30000, .path = "/gone/a.so" });
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	while (rec_reader_next(r, &ev) == REC_OK)
		;
	fr = lookup(s, 0x21000, false);
	ck_assert_str_eq(str_or_empty(fr.f[0].module), "/gone/a.so");
	/* ...then in another one loaded at its place: not the cached answer. */
	rec_buf_reset(&b);
	rec_put_module(&b, &(struct rec_module){ .low = 0x20000, .high = 0x28000, .path = "/gone/b.so" });
	ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
	while (rec_reader_next(r, &ev) == REC_OK)
		;
	fr = lookup(s, 0x21000, false);
	ck_assert_str_eq(str_or_empty(fr.f[0].module), "/gone/b.so");
	fr = lookup(s, 0x29000, false);
	ck_assert_ptr_null(fr.f[0].module);
	ck_assert_int_eq(rec_file_close(f), 0);
	rec_sym_free(s);
	rec_reader_close(r);
	rec_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ a big recording */

START_TEST(test_million_aborts)
{
	enum { N = 1000000, CHUNK = 10000 };
	char path[PATH_MAX], err[256];
	struct rec_buf b = { 0 };
	struct rec_file *f = rec_file_create(tpath(path, "big.lucid"), false, err, sizeof(err));
	struct rec_reader *r;
	struct rec_event ev;
	uint64_t pcs[16], sum = 0;
	size_t count = 0;
	int st;

	ck_assert_msg(f != NULL, "%s", err);
	for (int i = 0; i < 16; i++)
		pcs[i] = 0x400000 + (uint64_t)i * 16;
	rec_put_header(&b, &(struct rec_header){ .program = "big" });
	rec_put_stack(&b, 1, pcs, 16);
	for (int i = 0; i < N; i++) {
		rec_put_abort(&b, &(struct rec_abort){ .mono_ns = (uint64_t)i, .stack = 1,
			      .tid = (uint32_t)i, .reason = (uint8_t)(i % 9) });
		if (b.len > (4u << 20) || i == N - 1) {
			ck_assert_int_eq(rec_file_append(f, b.data, b.len), 0);
			rec_buf_reset(&b);
		}
	}
	ck_assert_int_eq(rec_file_close(f), 0);

	/* How fast this is belongs to the benchmarks, not to a test. */
	r = open_ok(path);
	while ((st = rec_reader_next(r, &ev)) == REC_OK)
		if (ev.r.type == REC_TYPE_ABORT) {
			count++;
			sum += ev.r.abort.mono_ns;
		}
	rec_reader_close(r);
	ck_assert_int_eq(st, REC_EOF);
	ck_assert_uint_eq(count, N);
	ck_assert_uint_eq(sum, (uint64_t)N * (N - 1) / 2);
	rec_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ the suite */

static void add(Suite *s, const char *name, const TTest *t, int timeout)
{
	TCase *tc = tcase_create(name);

	/* Unchecked: made and removed by the runner itself, so that a
	 * failing case (whose process ends at the failure) leaves nothing. */
	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, t);
	if (timeout)
		tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
}

static Suite *suite(void)
{
	Suite *s = suite_create("conflict");

	add(s, "crc32c", test_crc_known_answers, 0);
	add(s, "encoding layout", test_encoding_layout, 0);
	add(s, "decode statuses", test_decode_statuses, 0);
	/* 16 MiB payloads: seconds under ThreadSanitizer on a busy machine. */
	add(s, "encoding limits", test_encoding_limits, 60);
	add(s, "round trip", test_roundtrip, 0);
	add(s, "reader tables", test_reader_tables_replace, 0);
	add(s, "escape", test_escape, 0);
	add(s, "truncated", test_truncated, 30);
	add(s, "bit flips", test_bit_flips, 120);
	add(s, "random damage", test_random_damage, 60);
	add(s, "parser garbage", test_parser_garbage, 60);
	add(s, "open errors", test_open_errors, 0);
	add(s, "malformed", test_malformed, 0);
	add(s, "follow", test_follow, 0);
	add(s, "create: symlink", test_create_symlink, 0);
	add(s, "create: not a recording", test_create_refuses_others, 0);
	add(s, "create: replace", test_create_replace, 0);
	add(s, "create: mode", test_create_mode, 0);
	add(s, "append error", test_append_error, 0);
	add(s, "module map", test_modules, 0);
	add(s, "header of this process", test_header_self, 0);
	add(s, "symbolize: function", test_symbolize_function, 30);
	add(s, "symbolize: inlined", test_symbolize_inlined, 30);
	add(s, "symbolize: unknown", test_symbolize_unknown, 30);
	add(s, "symbolize: missing, mismatch", test_symbolize_missing_and_mismatch, 30);
	add(s, "symbolize: no .debug_aranges", test_symbolize_without_aranges, 30);
	add(s, "symbolize: modules read later", test_symbolize_follow, 30);
	add(s, "a million aborts", test_million_aborts, 120);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
