/* fuzz: writes the seed recordings of fuzz/corpus/reader (fuzz/replay.sh also replays what it writes). */
/*
 * Usage: seeds DIR. Writes small recordings that hold every record type,
 * made with the writer's encoders and names that belong to no machine, so
 * that the fuzzer starts from valid files and mutates from there.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conflict/format.h"

static void save(const char *dir, const char *name, const struct rec_buf *b, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(REC_MAGIC, 1, REC_MAGIC_LEN, f) != REC_MAGIC_LEN ||
	    fwrite(b->data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const char *const args[] = { "/usr/bin/example", "-n", "4" };
	static const uint8_t build_id[20] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
	const uint64_t pcs1[] = { 0x401234, 0x401300, 0x7f0000001000 };
	const uint64_t pcs2[] = { 0x401250, 0x401310 };
	const uint64_t reasons[9] = { 5, 3, 1, 0, 2, 1, 0, 0, 1 };
	const struct rec_commit pairs[] = { { 1, 100 }, { 2, 7 } };
	const struct rec_tid_commits tids[] = { { 10, 60 }, { 11, 47 } };
	struct rec_header h = { .pid = 1234, .ppid = 1, .start_realtime_ns = 1700000000000000000ull,
	                        .start_mono_ns = 5000000000ull, .orec_bits = 20, .word_shift = 3,
	                        .program = "/usr/bin/example", .argc = 3, .argv = args };
	struct rec_module exe = { .base = 0x400000, .low = 0x401000, .high = 0x402000,
	                          .build_id = build_id, .build_id_len = sizeof(build_id),
	                          .path = "/usr/bin/example" };
	struct rec_module lib = { .base = 0x7f0000000000, .low = 0x7f0000001000,
	                          .high = 0x7f0000009000, .path = "/usr/lib/libexample.so.1" };
	struct rec_site s1 = { .id = 1, .line = 42, .pc = 0x401200, .file = "bank.c",
	                       .function = "transfer" };
	struct rec_site s2 = { .id = 2, .line = 0, .pc = 0x401280, .file = "audit.c",
	                       .function = "audit\tall" };
	struct rec_abort a1 = { .mono_ns = 5000001000ull, .wasted_ns = 800, .reason = 1,
	                        .flags = REC_ABORT_OTHER_KNOWN, .attempt = 1, .tid = 11,
	                        .other_tid = 12, .site = 1, .other_site = 1, .stack = 1,
	                        .other_stack = 2, .orec = 77, .address = 0x601000,
	                        .other_address = 0x601000 };
	struct rec_abort a2 = { .mono_ns = 5000002000ull, .wasted_ns = 9000, .reason = 2,
	                        .flags = REC_ABORT_OTHER_KNOWN | REC_ABORT_OTHER_COMMITTED |
	                                 REC_ABORT_FALSE_CONFLICT | REC_ABORT_ALLOC_STACK,
	                        .attempt = 3, .tid = 12, .other_tid = 11, .site = 2, .other_site = 1,
	                        .stack = 2, .other_stack = 1, .alloc_stack = 1, .orec = 78,
	                        .address = 0x601008, .other_address = 0x801008, .other_commit = 99 };
	struct rec_abort a3 = { .mono_ns = 5000003000ull, .wasted_ns = 10, .reason = 5,
	                        .attempt = 1, .tid = 11, .site = 1, .stack = 1 };
	struct rec_stats st = { .commits = 107, .aborts = 13, .max_retries = 3, .n = 9,
	                        .by_reason = reasons };
	const uint8_t unknown[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct rec_buf b = { 0 };
	size_t header_end, cut;

	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR\n");
		return 2;
	}
	rec_put_header(&b, &h);
	header_end = b.len;
	rec_put_module(&b, &exe);
	rec_put_module(&b, &lib);
	rec_put_stack(&b, 1, pcs1, 3);
	rec_put_stack(&b, 2, pcs2, 2);
	rec_put_site(&b, &s1);
	rec_put_site(&b, &s2);
	rec_put_abort(&b, &a1);
	rec_put_abort(&b, &a2);
	cut = b.len;
	rec_put_abort(&b, &a3);
	rec_put_raw(&b, 99, unknown, sizeof(unknown));
	rec_put_commits(&b, pairs, 2);
	rec_put_threads(&b, tids, 2);
	rec_put_drops(&b, 2);
	rec_put_stats(&b, &st);
	if (b.oom)
		return 1;
	save(argv[1], "all-types.lucid", &b, b.len);
	save(argv[1], "header-only.lucid", &b, header_end);
	save(argv[1], "cut-short.lucid", &b, cut + 20);
	rec_buf_free(&b);
	return 0;
}
