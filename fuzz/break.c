/* fuzz: the LUCID_BREAK specification parser and matcher on arbitrary bytes (libFuzzer harness; fuzz/driver.c runs it on saved inputs). */
/*
 * The input, with a NUL appended, is a specification, as LUCID_BREAK would
 * hold it (what follows a NUL in it is never seen, as in an environment
 * variable). It is parsed with error buffers of every interesting size,
 * each allocated to its exact size so that AddressSanitizer sees a byte
 * written past it. The parser must:
 *
 *  - return 0 or -EINVAL, and do the same, with the same result and the
 *    same message, every time it is given the same bytes, and when blanks
 *    are added around the whole specification;
 *  - leave an empty message on success and a non-empty one on failure,
 *    always NUL-terminated within errlen, the message cut to fit (the
 *    same message as with room to spare, shortened), never longer than a
 *    line however long the specification; with errlen 0 write nothing;
 *  - accept only what it can describe: each accepted specification holds
 *    at least one condition, each within its documented range, and its
 *    canonical form (every condition written back as KEY=VALUE) parses to
 *    the same conditions.
 *
 * The matcher needs no running engine (the stacks are symbolized only
 * through the callback, which the harness provides), so each accepted
 * specification is also matched against synthetic aborts built around
 * its own values (addresses at the edges of its range, its file with
 * directories added, its line and the next one, its pattern as a function
 * name, every reason and some out of range). The result must be what the
 * documentation (docs/debugging.md) says, as the harness computes it
 * independently; the same with the two sides swapped; the conjunction of
 * the conditions taken one at a time; and the callback is asked only when
 * every other condition holds. conflict_break_stops_at is checked against
 * the documented meaning of hits= and every=. A difference aborts.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lucid/conflict.h>
#include <lucid/stats.h>
#include "conflict/break-spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for any message: the parser quotes at most 200 bytes of a spec. */
#define FUZZ_MSG_MAX 1024

static const char *fuzz_spec;   /* the input being run, for messages */

__attribute__((format(printf, 1, 2), noreturn))
static void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz/break: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nfuzz/break: specification: \"%.300s\"\n", fuzz_spec);
	abort();
}

static void *fuzz_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		fuzz_fail("out of memory");
	return p;
}

/* Field by field: the padding of a parsed specification is not part of it. */
static bool fuzz_same(const struct conflict_break *a, const struct conflict_break *b)
{
	return a->kinds == b->kinds && a->has_address == b->has_address &&
	       a->address == b->address && a->address_len == b->address_len &&
	       strcmp(a->function, b->function) == 0 && strcmp(a->block_file, b->block_file) == 0 &&
	       a->block_line == b->block_line && a->hits == b->hits && a->every == b->every;
}

/* One parse: its result, its specification and its message. */
struct fuzz_parse {
	int rc;
	struct conflict_break b;
	char msg[FUZZ_MSG_MAX];
};

static void fuzz_parse(const char *spec, struct fuzz_parse *p)
{
	memset(p->msg, 'x', sizeof(p->msg));
	p->rc = conflict_break_parse(spec, &p->b, p->msg, sizeof(p->msg));
	if (p->rc != 0 && p->rc != -EINVAL)
		fuzz_fail("returned %d", p->rc);
	if (!memchr(p->msg, '\0', sizeof(p->msg)))
		fuzz_fail("a message of %d bytes or more", FUZZ_MSG_MAX);
	if (strlen(p->msg) > 512)
		fuzz_fail("a message of %zu bytes: \"%s\"", strlen(p->msg), p->msg);
	if (p->rc == 0 && p->msg[0])
		fuzz_fail("accepted, with the message \"%s\"", p->msg);
	if (p->rc != 0 && !p->msg[0])
		fuzz_fail("refused without a message");
}

static void fuzz_same_parse(const struct fuzz_parse *a, const struct fuzz_parse *b, const char *how)
{
	if (a->rc != b->rc || (a->rc == 0 && !fuzz_same(&a->b, &b->b)) || strcmp(a->msg, b->msg) != 0)
		fuzz_fail("%s: rc %d \"%s\", then rc %d \"%s\"", how, a->rc, a->msg, b->rc, b->msg);
}

/* The message with errlen bytes of room: the full one, cut; nothing past. */
static void fuzz_errlen(const char *spec, const struct fuzz_parse *full, size_t errlen)
{
	struct conflict_break b;
	char *err = errlen ? fuzz_alloc(errlen) : NULL;
	size_t n;
	int rc;

	if (err)
		memset(err, 'x', errlen);
	rc = conflict_break_parse(spec, &b, err, errlen);
	if (rc != full->rc || (rc == 0 && !fuzz_same(&b, &full->b)))
		fuzz_fail("errlen %zu: rc %d, with room to spare %d (or another result)", errlen, rc,
		          full->rc);
	if (err) {
		if (!memchr(err, '\0', errlen))
			fuzz_fail("errlen %zu: the message is not terminated", errlen);
		n = strlen(err);
		if (n != (strlen(full->msg) < errlen ? strlen(full->msg) : errlen - 1) ||
		    memcmp(err, full->msg, n) != 0)
			fuzz_fail("errlen %zu: \"%s\", not \"%s\" cut to fit", errlen, err, full->msg);
		free(err);
	}
	/* errlen 0 with a buffer: not one byte written. */
	if (errlen == 0) {
		char guard[4] = "ggg";

		if (conflict_break_parse(spec, &b, guard, 0) != full->rc || strcmp(guard, "ggg") != 0)
			fuzz_fail("errlen 0: rc or the buffer changed");
	}
}

/* ----------------------------------------------------------- accepted */

static void fuzz_check_fields(const struct conflict_break *b)
{
	size_t fl = strnlen(b->function, CONFLICT_BREAK_TEXT_MAX);
	size_t bl = strnlen(b->block_file, CONFLICT_BREAK_TEXT_MAX);

	if (fl == CONFLICT_BREAK_TEXT_MAX || bl == CONFLICT_BREAK_TEXT_MAX)
		fuzz_fail("a text field is not terminated");
	if (!b->kinds && !b->has_address && !fl && !bl && !b->hits && !b->every)
		fuzz_fail("accepted with no condition");
	if (b->kinds >> LUCID_ABORT_REASONS)
		fuzz_fail("kinds 0x%" PRIx32 " names no reason", b->kinds);
	if (b->has_address ? b->address == 0 || b->address_len == 0 ||
	                     b->address_len - 1 > UINTPTR_MAX - b->address
	                   : b->address != 0 || b->address_len != 0)
		fuzz_fail("address %#" PRIxPTR "+%" PRIuPTR " (given: %d)", b->address, b->address_len,
		          b->has_address);
	if (b->block_line < 0 || (b->block_line && !bl))
		fuzz_fail("block line %d of \"%s\"", b->block_line, b->block_file);
	if (b->hits > UINT64_MAX / 2 || b->every > UINT64_MAX / 2)
		fuzz_fail("hits=%" PRIu64 ", every=%" PRIu64, b->hits, b->every);
	/* Blanks around values are not part of them. */
	if ((fl && (b->function[0] == ' ' || b->function[0] == '\t' || b->function[fl - 1] == ' ' ||
	            b->function[fl - 1] == '\t')) ||
	    (bl && (b->block_file[0] == ' ' || b->block_file[0] == '\t' ||
	            b->block_file[bl - 1] == ' ' || b->block_file[bl - 1] == '\t')))
		fuzz_fail("a value kept its blanks: \"%s\", \"%s\"", b->function, b->block_file);
	if (strchr(b->function, ',') || strchr(b->block_file, ','))
		fuzz_fail("a value holds the comma that ends it");
}

/* The specification written back as conditions, in a fixed order. */
static void fuzz_canonical(const struct conflict_break *b, char *out, size_t outlen)
{
	size_t k = 0;

#define FUZZ_PUT(...) \
	(k += (size_t)snprintf(out + k, k < outlen ? outlen - k : 0, __VA_ARGS__))
	if (b->kinds) {
		const char *sep = "kind=";

		for (int r = 0; r < LUCID_ABORT_REASONS; r++) {
			if (b->kinds & (1u << r)) {
				FUZZ_PUT("%s%s", sep, lucid_abort_reason_name(r));
				sep = "|";
			}
		}
		FUZZ_PUT(",");
	}
	if (b->function[0])
		FUZZ_PUT("function=%s,", b->function);
	if (b->has_address)
		FUZZ_PUT("address=%#" PRIxPTR "+%" PRIuPTR ",", b->address, b->address_len);
	if (b->block_file[0] && b->block_line)
		FUZZ_PUT("block=%s:%d,", b->block_file, b->block_line);
	else if (b->block_file[0])
		FUZZ_PUT("block=%s,", b->block_file);
	if (b->hits)
		FUZZ_PUT("hits=%" PRIu64 ",", b->hits);
	if (b->every)
		FUZZ_PUT("every=%" PRIu64 ",", b->every);
#undef FUZZ_PUT
	if (k == 0 || k >= outlen)
		fuzz_fail("canonical form of %zu bytes", k);
	out[k - 1] = '\0';   /* the last comma */
}

/* hits= and every= as docs/debugging.md states them. */
static bool fuzz_stops(const struct conflict_break *b, uint64_t n)
{
	if (!b->hits && !b->every)
		return true;
	if (!b->every)
		return n == b->hits;
	if (!b->hits)
		return n % b->every == 0;
	return n >= b->hits && (n - b->hits) % b->every == 0;
}

static uint64_t fuzz_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void fuzz_check_stops(const struct conflict_break *b)
{
	const uint64_t h = b->hits, e = b->every;
	const uint64_t ns[] = {
		1, 2, 3, 4, 6, h - 1, h, h + 1, fuzz_add(h, e), fuzz_add(h, e) - 1,
		fuzz_add(h, fuzz_add(e, e)), e - 1, e, e + 1, fuzz_add(e, e), fuzz_add(e, e) + 1,
		UINT64_MAX - 1, UINT64_MAX,
	};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (ns[i] && conflict_break_stops_at(b, ns[i]) != fuzz_stops(b, ns[i]))
			fuzz_fail("stops at match %" PRIu64 " (hits=%" PRIu64 ", every=%" PRIu64 "): %d",
			          ns[i], h, e, conflict_break_stops_at(b, ns[i]));
}

/* ------------------------------------------------------------ matcher */

/* The functions of the synthetic stacks: frame pc FUZZ_PC0 + 16 * i is in
 * names[i]. */
#define FUZZ_PC0 ((uintptr_t)0x401000)
#define FUZZ_NAMES 6

struct fuzz_frames {
	const char *names[FUZZ_NAMES];
	const char *pattern;   /* the pattern the matcher must ask about */
	unsigned calls;
};

static bool fuzz_frame(uintptr_t pc, const char *pattern, void *arg)
{
	struct fuzz_frames *f = arg;
	uintptr_t i = (pc - FUZZ_PC0) / 16;

	f->calls++;
	if (pattern != f->pattern)
		fuzz_fail("the callback was asked about another pattern");
	if (pc < FUZZ_PC0 || (pc - FUZZ_PC0) % 16 || i >= FUZZ_NAMES)
		fuzz_fail("the callback was asked about pc %#" PRIxPTR ", in no stack", pc);
	return conflict_break_name_matches(pattern, f->names[i]);
}

/* Whether the 8-byte word holding a overlaps [address, address + len). */
static bool fuzz_word_hit(const struct conflict_break *b, uintptr_t a)
{
	uintptr_t first = a - a % 8, last = first + 7;

	return a != 0 && first <= b->address + (b->address_len - 1) && b->address <= last;
}

static const char *fuzz_strip(const char *p)
{
	while (strncmp(p, "./", 2) == 0 || strncmp(p, "../", 3) == 0)
		p += p[1] == '/' ? 2 : 3;
	return p;
}

/* Whether a ends with b, b beginning a path component of a. */
static bool fuzz_ends_with(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (nb == 0 || nb > na || strcmp(a + na - nb, b) != 0)
		return false;
	return na == nb || a[na - nb - 1] == '/' || b[0] == '/';
}

/* block=FILE[:LINE] against one side's block: the same file, or one of the
 * two with directories in front, leading ./ and ../ aside; a side with
 * line 0 (lucid_run) has no block. */
static bool fuzz_block_hit(const char *file, int line, const char *at_file, int at_line)
{
	if (!at_file || at_line <= 0 || (line && line != at_line))
		return false;
	file = fuzz_strip(file);
	at_file = fuzz_strip(at_file);
	return fuzz_ends_with(file, at_file) || fuzz_ends_with(at_file, file);
}

static bool fuzz_stack_hit(const char *pattern, const uintptr_t *pcs, unsigned depth,
                           const struct fuzz_frames *f)
{
	for (unsigned i = 0; pcs && i < depth; i++)
		if (conflict_break_name_matches(pattern, f->names[(pcs[i] - FUZZ_PC0) / 16]))
			return true;
	return false;
}

/* What docs/debugging.md says the matcher answers; *before_function:
 * whether every condition but function= holds. */
static bool fuzz_expect(const struct conflict_break *b, const struct lucid_conflict *c,
                        const struct fuzz_frames *f, bool with_callback, bool *before_function)
{
	bool kind = !b->kinds || (c->reason >= 0 && c->reason < 32 && (b->kinds >> c->reason & 1));
	bool addr = !b->has_address || fuzz_word_hit(b, c->address) ||
	            fuzz_word_hit(b, c->other_address);
	bool block = !b->block_file[0] ||
	             fuzz_block_hit(b->block_file, b->block_line, c->file, c->line) ||
	             fuzz_block_hit(b->block_file, b->block_line, c->other_file, c->other_line);
	bool fn = !b->function[0] ||
	          (with_callback && (fuzz_stack_hit(b->function, c->stack, c->stack_depth, f) ||
	                             fuzz_stack_hit(b->function, c->other_stack, c->other_depth, f)));

	*before_function = kind && addr && block;
	return kind && addr && block && fn;
}

static bool fuzz_match(const struct conflict_break *b, const struct lucid_conflict *c,
                       struct fuzz_frames *f, bool with_callback)
{
	f->pattern = b->function;
	f->calls = 0;
	return conflict_break_matches(b, c, with_callback ? fuzz_frame : NULL, f);
}

static void fuzz_swap(struct lucid_conflict *c)
{
	struct lucid_conflict s = *c;

	c->address = s.other_address;
	c->other_address = s.address;
	c->file = s.other_file;
	c->line = s.other_line;
	c->function = s.other_function;
	c->other_file = s.file;
	c->other_line = s.line;
	c->other_function = s.function;
	c->stack = s.other_stack;
	c->stack_depth = s.other_depth;
	c->other_stack = s.stack;
	c->other_depth = s.stack_depth;
}

static void fuzz_check_match(const struct conflict_break *b, const struct lucid_conflict *c,
                             struct fuzz_frames *f)
{
	struct conflict_break one[6];
	struct lucid_conflict sw = *c;
	bool before, want, got, swapped, all = true;
	size_t n = 0;

	for (int with_callback = 0; with_callback < 2; with_callback++) {
		want = fuzz_expect(b, c, f, with_callback, &before);
		got = fuzz_match(b, c, f, with_callback);
		if (got != want)
			fuzz_fail("matched reason %d, addresses %#" PRIxPTR "/%#" PRIxPTR ", blocks "
			          "\"%s\":%d/\"%s\":%d, %s callback: %d, expected %d", c->reason,
			          c->address, c->other_address, c->file ? c->file : "(null)", c->line,
			          c->other_file ? c->other_file : "(null)", c->other_line,
			          with_callback ? "with a" : "no", got, want);
		if (f->calls && (!before || !b->function[0]))
			fuzz_fail("the callback was asked although another condition fails");
		if (f->calls > c->stack_depth + c->other_depth)
			fuzz_fail("the callback was asked %u times for %u frames", f->calls,
			          c->stack_depth + c->other_depth);
		fuzz_swap(&sw);
		swapped = fuzz_match(b, &sw, f, with_callback);
		fuzz_swap(&sw);
		if (swapped != got)
			fuzz_fail("the two sides swapped: %d, not %d", swapped, got);
	}

	/* The conditions one at a time. */
	memset(one, 0, sizeof(one));
	if (b->kinds)
		one[n++].kinds = b->kinds;
	if (b->function[0])
		memcpy(one[n++].function, b->function, sizeof(b->function));
	if (b->has_address) {
		one[n].has_address = true;
		one[n].address = b->address;
		one[n++].address_len = b->address_len;
	}
	if (b->block_file[0]) {
		memcpy(one[n].block_file, b->block_file, sizeof(b->block_file));
		one[n++].block_line = b->block_line;
	}
	for (size_t i = 0; i < n; i++)
		all = fuzz_match(&one[i], c, f, true) && all;
	if (all != got)
		fuzz_fail("matched %d, but its conditions one at a time %d", got, all);
}

/* A small generator, seeded from the input, so that each input is one test. */
static uint64_t fuzz_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define FUZZ_PICK(s, array) ((array)[fuzz_rand(s) % (sizeof(array) / sizeof((array)[0]))])

static void fuzz_matcher(const struct conflict_break *b, uint64_t seed)
{
	char within[CONFLICT_BREAK_TEXT_MAX + 16], up[CONFLICT_BREAK_TEXT_MAX + 16];
	const char *file = b->block_file[0] ? b->block_file : "samples/hotspot.c";
	const uintptr_t a = b->has_address ? b->address : 0x1000;
	const uintptr_t end = b->has_address ? a + (b->address_len - 1) : a;   /* last byte */
	const uintptr_t addrs[] = {
		0, a, end, a - 1, end + 1, a - 8, end + 8, a & ~(uintptr_t)7, end | 7,
		(end | 7) + 1, (a & ~(uintptr_t)7) - 1, UINTPTR_MAX, 1, 0x1000,
	};
	const char *files[] = {
		NULL, file, within, up, file + strlen(file) / 2, file + (file[0] != '\0'),
		"hotspot.c", "samples/hotspot.c", "/", "./", "",
	};
	const int line = b->block_line ? b->block_line : 148;
	const int lines[] = { 0, line, line < INT_MAX ? line + 1 : 2, line - 1, 1, -1 };
	const int reasons[] = { -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 32, 40 };
	struct fuzz_frames f = {
		.names = { b->function[0] ? b->function : "transfer", "transfer", "counter_get",
		           "", "main", "start_thread" },
	};
	uintptr_t pcs[2][4];
	struct lucid_conflict c;
	const char *p;

	snprintf(within, sizeof(within), "src/%s", file);
	snprintf(up, sizeof(up), "../%s", file);
	/* Where the pattern has wildcards, a name that it may match too. */
	if ((p = strchr(f.names[0], '*')) != NULL && p > f.names[0])
		f.names[5] = "counter_add";
	for (int k = 0; k < 48; k++) {
		memset(&c, 0, sizeof(c));
		c.reason = FUZZ_PICK(&seed, reasons);
		c.address = FUZZ_PICK(&seed, addrs);
		c.other_address = FUZZ_PICK(&seed, addrs);
		c.file = FUZZ_PICK(&seed, files);
		c.line = FUZZ_PICK(&seed, lines);
		c.other_file = FUZZ_PICK(&seed, files);
		c.other_line = FUZZ_PICK(&seed, lines);
		for (int s = 0; s < 2; s++)
			for (int i = 0; i < 4; i++)
				pcs[s][i] = FUZZ_PC0 + 16 * (fuzz_rand(&seed) % FUZZ_NAMES);
		c.stack = fuzz_rand(&seed) % 8 ? pcs[0] : NULL;
		c.stack_depth = c.stack ? (unsigned)(fuzz_rand(&seed) % 5) : 0;
		c.other_stack = fuzz_rand(&seed) % 8 ? pcs[1] : NULL;
		c.other_depth = c.other_stack ? (unsigned)(fuzz_rand(&seed) % 5) : 0;
		fuzz_check_match(b, &c, &f);
	}
	/* The block matcher on its own, the file against itself and the
	 * variants above: symmetric in its two files, as documented. */
	for (size_t i = 1; i < sizeof(files) / sizeof(files[0]); i++) {
		for (size_t j = 0; j < sizeof(lines) / sizeof(lines[0]); j++) {
			bool got = conflict_break_block_matches(file, b->block_line, files[i], lines[j]);

			if (got != fuzz_block_hit(file, b->block_line, files[i], lines[j]))
				fuzz_fail("block=%s:%d at %s:%d: %d", file, b->block_line, files[i],
				          lines[j], got);
			if (lines[j] > 0 &&
			    conflict_break_block_matches(files[i], 0, file, lines[j]) !=
			    conflict_break_block_matches(file, 0, files[i], lines[j]))
				fuzz_fail("block %s and %s: not symmetric", file, files[i]);
		}
	}
	/* A pattern without wildcards, brackets or backslashes names itself. */
	if (b->function[0] && !strpbrk(b->function, "*?[\\") &&
	    !conflict_break_name_matches(b->function, b->function))
		fuzz_fail("function=%s does not name %s", b->function, b->function);
	if (conflict_break_name_matches(b->function[0] ? b->function : "*", NULL))
		fuzz_fail("a pattern names NULL");
}

static void fuzz_accepted(const struct conflict_break *b, uint64_t seed)
{
	char canon[4 * CONFLICT_BREAK_TEXT_MAX];
	struct fuzz_parse again;

	fuzz_check_fields(b);
	fuzz_canonical(b, canon, sizeof(canon));
	fuzz_parse(canon, &again);
	if (again.rc != 0 || !fuzz_same(b, &again.b))
		fuzz_fail("its canonical form \"%s\" parses to something else (rc %d, \"%s\")", canon,
		          again.rc, again.msg);
	fuzz_check_stops(b);
	fuzz_matcher(b, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t errlens[] = { 0, 1, 2, 3, 8, 17, 64, 255, 256 };
	struct fuzz_parse first, second, padded;
	char *spec = fuzz_alloc(size + 1), *blanks = fuzz_alloc(size + 4);
	uint64_t seed = 0xcbf29ce484222325ull;

	/* Exactly size + 1 bytes, so that reading past the NUL is seen. */
	memcpy(spec, data, size);
	spec[size] = '\0';
	fuzz_spec = spec;
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ull;
	seed |= 1;

	fuzz_parse(spec, &first);
	fuzz_parse(spec, &second);
	fuzz_same_parse(&first, &second, "parsed twice");
	for (size_t i = 0; i < sizeof(errlens) / sizeof(errlens[0]); i++)
		fuzz_errlen(spec, &first, errlens[i]);
	if (conflict_break_parse(spec, &second.b, NULL, 0) != first.rc)
		fuzz_fail("no error buffer: another result");
	/* No specification, or nowhere to put it: refused, with a message. */
	if (conflict_break_parse(NULL, &second.b, second.msg, 64) != -EINVAL || !second.msg[0] ||
	    conflict_break_parse(spec, NULL, second.msg, 64) != -EINVAL || !second.msg[0])
		fuzz_fail("a NULL specification or result: not refused with a message");

	/* Blanks around the whole specification change nothing. */
	snprintf(blanks, size + 4, " %s\t ", spec);
	fuzz_parse(blanks, &padded);
	fuzz_same_parse(&first, &padded, "with blanks around it");

	if (first.rc == 0)
		fuzz_accepted(&first.b, seed);
	free(blanks);
	free(spec);
	return 0;
}
