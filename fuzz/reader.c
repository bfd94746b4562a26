/* fuzz: the recording reader on arbitrary bytes (libFuzzer harness; fuzz/driver.c runs it on saved inputs). */
/*
 * The input is a whole recording file. Each input is read three ways:
 *
 *  1. as it is, the way `lucid report` reads a file it did not write;
 *  2. "repaired": every record header found where one should start gets its
 *     CRC recomputed (and its padding zeroed), so that the mutations reach
 *     the field parsers instead of stopping at the checksum;
 *  3. the repaired bytes again, written in two parts, the way a reader that
 *     follows a live recording sees them: read to the end of the first
 *     part, then on after the rest is appended.
 *
 * Every record read is used as a report would use it: its ids looked up,
 * its PCs mapped to modules, its strings escaped. Besides not crashing,
 * not leaking and not reading out of bounds (the sanitizers' job), the
 * reader must behave the same both ways it meets the repaired file: the
 * same records, and the same final status, whether the file arrives whole
 * or in two parts. A difference aborts (a finding).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conflict/format.h"
#include "conflict/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One memory file for every input: no file system, no descriptor leak. */
static int fuzz_fd = -1;
static char fuzz_path[64];

static void fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz/reader: %s: %s\n", what, strerror(errno));
	abort();
}

static void fuzz_set(const uint8_t *data, size_t size, bool truncate)
{
	if (fuzz_fd < 0) {
		fuzz_fd = memfd_create("lucid-fuzz", MFD_CLOEXEC);
		if (fuzz_fd < 0)
			fuzz_die("memfd_create");
		snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	}
	if (truncate && (ftruncate(fuzz_fd, 0) < 0 || lseek(fuzz_fd, 0, SEEK_SET) != 0))
		fuzz_die("ftruncate");
	while (size) {
		ssize_t n = write(fuzz_fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fuzz_die("write");
		data += n;
		size -= (size_t)n;
	}
}

/* What a reading produced, to compare two readings of the same bytes. */
struct fuzz_summary {
	uint64_t records, hash;
	int status;           /* the last rec_reader_next status, -1: not opened */
	uint64_t end;
	bool ambiguous;       /* the first part ended in the ambiguity below */
};

static uint64_t fuzz_mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

/* Uses a record the way a report does. */
static void fuzz_use(struct rec_reader *r, const struct rec_event *ev, struct fuzz_summary *s)
{
	char out[256];
	uint32_t depth;

	s->records++;
	s->hash = fuzz_mix(fuzz_mix(s->hash, ev->offset), ev->r.type);
	switch (ev->r.type) {
	case REC_TYPE_HEADER: {
		const struct rec_header *h = &ev->r.header;

		rec_escape(out, sizeof(out), h->program, strlen(h->program));
		for (uint32_t i = 0; i < h->argc; i++)
			rec_escape(out, sizeof(out), h->argv[i], strlen(h->argv[i]));
		s->hash = fuzz_mix(s->hash, h->argc);
		break;
	}
	case REC_TYPE_MODULE: {
		size_t n;
		const struct rec_module *const *mods = rec_reader_modules(r, &n);

		rec_escape(out, sizeof(out), ev->r.module.path, strlen(ev->r.module.path));
		for (size_t i = 0; i + 1 < n; i++)
			if (mods[i]->high > mods[i + 1]->low || mods[i]->low >= mods[i]->high)
				abort(); /* the reader promises sorted, disjoint ranges */
		break;
	}
	case REC_TYPE_STACK:
		if (ev->r.stack.depth > REC_MAX_DEPTH)
			abort();
		for (uint32_t i = 0; i < ev->r.stack.depth; i++)
			(void)rec_reader_module_for(r, ev->r.stack.pcs[i]);
		s->hash = fuzz_mix(s->hash, ev->r.stack.depth);
		break;
	case REC_TYPE_SITE:
		rec_escape(out, sizeof(out), ev->r.site.file, strlen(ev->r.site.file));
		rec_escape(out, sizeof(out), ev->r.site.function, strlen(ev->r.site.function));
		break;
	case REC_TYPE_ABORT: {
		const struct rec_abort *a = &ev->r.abort;
		const uint32_t ids[] = { a->stack, a->other_stack, a->alloc_stack };

		for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
			const uint64_t *pcs = rec_reader_stack(r, ids[k], &depth);

			for (uint32_t i = 0; pcs && i < depth; i++)
				(void)rec_reader_module_for(r, pcs[i]);
		}
		(void)rec_reader_site(r, a->site);
		(void)rec_reader_site(r, a->other_site);
		s->hash = fuzz_mix(s->hash, a->reason);
		break;
	}
	case REC_TYPE_COMMITS:
		for (uint32_t i = 0; i < ev->r.commits.count; i++)
			s->hash = fuzz_mix(s->hash, ev->r.commits.pairs[i].commits);
		break;
	case REC_TYPE_STATS:
		for (uint32_t i = 0; i < ev->r.stats.n; i++)
			s->hash = fuzz_mix(s->hash, ev->r.stats.by_reason[i]);
		break;
	case REC_TYPE_THREADS:
		for (uint32_t i = 0; i < ev->r.threads.count; i++)
			s->hash = fuzz_mix(fuzz_mix(s->hash, ev->r.threads.pairs[i].tid),
					   ev->r.threads.pairs[i].commits);
		break;
	}
}

/* Reads on until the reader stops; returns its status. */
static int fuzz_read_on(struct rec_reader *r, struct fuzz_summary *s)
{
	struct rec_event ev;
	int st;

	while ((st = rec_reader_next(r, &ev)) == REC_OK) {
		if (ev.offset % REC_ALIGN || ev.size % REC_ALIGN || ev.size < REC_HEAD_SIZE)
			abort();
		fuzz_use(r, &ev, s);
	}
	if (st != REC_EOF && !rec_reader_warning(r))
		abort(); /* every stop but a clean end says why */
	(void)rec_reader_header(r);
	return st;
}

/* Reads data (size bytes) from the memory file; with split < size the
 * first split bytes arrive first, the rest once the reader has stopped. */
static void fuzz_read(const uint8_t *data, size_t size, size_t split, struct fuzz_summary *s)
{
	char err[256];
	struct rec_reader *r;

	memset(s, 0, sizeof(*s));
	fuzz_set(data, split, true);
	r = rec_reader_open(fuzz_path, err, sizeof(err));
	if (!r) {
		if (!err[0])
			abort();
		s->status = -1;
		if (split < size) {
			/* Opening may fail only for want of the magic or of a
			 * readable HEADER; a live reader would try again. */
			fuzz_set(data + split, size - split, false);
			r = rec_reader_open(fuzz_path, err, sizeof(err));
			if (!r)
				return;
			s->status = fuzz_read_on(r, s);
			s->end = rec_reader_offset(r);
			rec_reader_close(r);
		}
		return;
	}
	s->status = fuzz_read_on(r, s);
	/* A record cut by the end of the first part, followed by bytes that
	 * form a whole record: by the format's rule, a length that is damaged.
	 * Given only the first part, a long record whose payload happens to
	 * contain such bytes cannot be told apart (docs/reliability.md). */
	s->ambiguous = s->status == REC_DAMAGED && split < size &&
	               strstr(rec_reader_warning(r), "yet a whole record follows") != NULL;
	if (split < size) {
		fuzz_set(data + split, size - split, false);
		if (s->status == REC_EOF || s->status == REC_AGAIN)
			s->status = fuzz_read_on(r, s);
	}
	s->end = rec_reader_offset(r);
	rec_reader_close(r);
}

/* Recomputes the CRC and zeroes the padding of every record whose header
 * is where a record should start. */
static void fuzz_repair(uint8_t *p, size_t size)
{
	size_t at = REC_MAGIC_LEN;

	while (at + REC_HEAD_SIZE <= size) {
		uint32_t len = (uint32_t)p[at + 8] | (uint32_t)p[at + 9] << 8 |
		               (uint32_t)p[at + 10] << 16 | (uint32_t)p[at + 11] << 24;
		size_t total;
		uint32_t crc;

		if (memcmp(p + at, "LREC", 4) != 0 || len > REC_MAX_PAYLOAD)
			return;
		total = rec_record_size(len);
		if (total > size - at)
			return;
		memset(p + at + REC_HEAD_SIZE + len, 0, total - REC_HEAD_SIZE - len);
		crc = rec_crc32c(rec_crc32c(0, p + at + 4, 8), p + at + REC_HEAD_SIZE, len);
		p[at + 12] = (uint8_t)crc;
		p[at + 13] = (uint8_t)(crc >> 8);
		p[at + 14] = (uint8_t)(crc >> 16);
		p[at + 15] = (uint8_t)(crc >> 24);
		at += total;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_summary whole, parts;
	uint8_t *copy;
	size_t split;
	uint64_t h = 0xcbf29ce484222325ull;

	fuzz_read(data, size, size, &whole);
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	fuzz_repair(copy, size);
	fuzz_read(copy, size, size, &whole);
	/* Where the file is cut in two follows from its bytes, so that the
	 * fuzzer can steer it. */
	for (size_t i = 0; i < size; i++)
		h = fuzz_mix(h, data[i]);
	split = size ? (size_t)(h % size) : 0;
	fuzz_read(copy, size, split, &parts);
	free(copy);
	if (whole.status == -1) {
		/* Refused at open (no magic, a first record that is not a
		 * HEADER of this version): a live reader refuses it too, at
		 * open or as damage before any record. */
		if (parts.status != -1 && !(parts.status == REC_DAMAGED && parts.records == 0)) {
			fprintf(stderr, "fuzz/reader: refused whole, but read in two parts (split at "
			        "%zu): %d, %llu records\n", split, parts.status,
			        (unsigned long long)parts.records);
			abort();
		}
	} else if (!parts.ambiguous &&
	           (whole.status != parts.status || whole.records != parts.records ||
	            whole.hash != parts.hash || whole.end != parts.end)) {
		fprintf(stderr, "fuzz/reader: read whole: %d, %llu records, to %llu; in two parts "
		        "(split at %zu): %d, %llu records, to %llu\n", whole.status,
		        (unsigned long long)whole.records, (unsigned long long)whole.end, split,
		        parts.status, (unsigned long long)parts.records,
		        (unsigned long long)parts.end);
		abort();
	}
	return 0;
}
