/* conflict: LUCID_BREAK specifications: parsing one, and deciding whether an abort matches it. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lucid/stats.h>
#include "conflict/break-spec.h"

const char conflict_break_keys[] =
	"kind=NAME[|NAME...], function=PATTERN, address=ADDR[+LEN], block=FILE[:LINE], hits=N, every=N";

/* A piece of the specification: [s, e). */
struct span {
	const char *s, *e;
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int span_len(struct span v)
{
	/* Only for printing with %.*s: a span longer than that is cut. */
	return v.e - v.s > 200 ? 200 : (int)(v.e - v.s);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static struct span trim(struct span v)
{
	while (v.s < v.e && is_blank(*v.s))
		v.s++;
	while (v.e > v.s && is_blank(v.e[-1]))
		v.e--;
	return v;
}

static bool span_is(struct span v, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(v.e - v.s) == n && memcmp(v.s, word, n) == 0;
}

/*
 * An unsigned number: decimal, or hexadecimal after 0x, or octal after 0
 * (as C writes them) when @p any_base; decimal otherwise. The whole span
 * must be the number. strtoull is not used: the span is not NUL-terminated
 * and it would accept signs and blanks.
 */
static bool parse_number(struct span v, bool any_base, uint64_t *out)
{
	unsigned base = 10;
	uint64_t n = 0;
	const char *p = v.s;

	if (p == v.e)
		return false;
	if (any_base && v.e - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (any_base && v.e - p > 1 && p[0] == '0') {
		base = 8;
		p++;
	}
	for (; p < v.e; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a') + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A') + 10;
		else
			return false;
		if (d >= base || n > (UINT64_MAX - d) / base)
			return false;
		n = n * base + d;
	}
	*out = n;
	return true;
}

static int parse_kind(struct span v, struct conflict_break *out, char *err, size_t errlen)
{
	while (v.s <= v.e) {
		const char *bar = memchr(v.s, '|', (size_t)(v.e - v.s));
		struct span name = trim((struct span){ v.s, bar ? bar : v.e });
		uint32_t bits = 0;

		if (span_is(name, "conflict")) {
			for (int r = 0; r < LUCID_ABORT_REASONS; r++)
				if (lucid_abort_reason_is_conflict(r))
					bits |= 1u << r;
		}
		for (int r = 0; r < LUCID_ABORT_REASONS && !bits; r++)
			if (span_is(name, lucid_abort_reason_name(r)))
				bits = 1u << r;
		if (!bits) {
			char names[256];
			size_t k = 0;

			for (int r = 0; r < LUCID_ABORT_REASONS; r++)
				k += (size_t)snprintf(names + k, k < sizeof(names) ? sizeof(names) - k : 0,
				                      "%s, ", lucid_abort_reason_name(r));
			if (k >= sizeof(names))
				k = sizeof(names) - 1;
			names[k] = '\0';
			return fail(err, errlen, "unknown kind \"%.*s\" (kinds: %sconflict)",
			            span_len(name), name.s, names);
		}
		out->kinds |= bits;
		if (!bar)
			break;
		v.s = bar + 1;
	}
	return 0;
}

static int parse_text(struct span v, char *dst, const char *key, char *err, size_t errlen)
{
	size_t n = (size_t)(v.e - v.s);

	if (n >= CONFLICT_BREAK_TEXT_MAX)
		return fail(err, errlen, "%s= is longer than %d bytes", key, CONFLICT_BREAK_TEXT_MAX - 1);
	if (memchr(v.s, '\0', n))
		return fail(err, errlen, "%s= holds a NUL byte", key);
	memcpy(dst, v.s, n);
	dst[n] = '\0';
	return 0;
}

static int parse_address(struct span v, struct conflict_break *out, char *err, size_t errlen)
{
	const char *plus = memchr(v.s, '+', (size_t)(v.e - v.s));
	struct span a = trim((struct span){ v.s, plus ? plus : v.e });
	uint64_t addr, len = 1;

	if (!parse_number(a, true, &addr) || addr == 0)
		return fail(err, errlen, "address=%.*s: want a nonzero address such as 0x7ffd12345678 "
		            "(ADDR or ADDR+LEN)", span_len(v), v.s);
	if (plus && (!parse_number(trim((struct span){ plus + 1, v.e }), true, &len) || len == 0))
		return fail(err, errlen, "address=%.*s: LEN after + must be a number of bytes, 1 or more",
		            span_len(v), v.s);
	if (addr > UINTPTR_MAX || len > UINTPTR_MAX - addr + 1)
		return fail(err, errlen, "address=%.*s: the range ends past the address space",
		            span_len(v), v.s);
	out->has_address = true;
	out->address = (uintptr_t)addr;
	out->address_len = (uintptr_t)len;
	return 0;
}

static int parse_block(struct span v, struct conflict_break *out, char *err, size_t errlen)
{
	const char *colon = NULL;
	uint64_t line;

	for (const char *p = v.e; p > v.s; p--) {
		if (p[-1] == ':') {
			colon = p - 1;
			break;
		}
	}
	/* FILE:LINE only when what follows the last colon is a line number;
	 * otherwise the colon belongs to the file's name. */
	struct span ln = { colon ? colon + 1 : v.e, v.e };

	if (colon && ln.s < ln.e && parse_number(ln, false, &line)) {
		if (line == 0 || line > INT_MAX)
			return fail(err, errlen, "block=%.*s: the line must be 1 or more", span_len(v), v.s);
		out->block_line = (int)line;
		v.e = colon;
	} else if (colon && ln.s == ln.e) {
		return fail(err, errlen, "block=%.*s: a line number must follow the colon",
		            span_len(v), v.s);
	}
	v = trim(v);
	if (v.s == v.e)
		return fail(err, errlen, "block= needs a file, as FILE or FILE:LINE");
	return parse_text(v, out->block_file, "block", err, errlen);
}

static int parse_count(struct span v, uint64_t *dst, const char *key, char *err, size_t errlen)
{
	uint64_t n;

	if (!parse_number(v, false, &n) || n == 0 || n > UINT64_MAX / 2)
		return fail(err, errlen, "%s=%.*s: want a whole number, 1 or more", key, span_len(v), v.s);
	*dst = n;
	return 0;
}

static const char *const keys[] = { "kind", "function", "address", "block", "hits", "every" };

int conflict_break_parse(const char *spec, struct conflict_break *out, char *err, size_t errlen)
{
	unsigned seen = 0;

	if (errlen)
		err[0] = '\0';
	if (!spec || !out)
		return fail(err, errlen, "no specification");
	memset(out, 0, sizeof(*out));
	if (trim((struct span){ spec, spec + strlen(spec) }).s == spec + strlen(spec))
		return fail(err, errlen, "the specification is empty (every=1 stops at every abort)");
	for (const char *p = spec;;) {
		const char *comma = strchr(p, ',');
		struct span cond = trim((struct span){ p, comma ? comma : p + strlen(p) });
		const char *eq = memchr(cond.s, '=', (size_t)(cond.e - cond.s));
		int rc, k;

		if (cond.s == cond.e)
			return fail(err, errlen, "an empty condition (two commas, or one at an end)");
		if (!eq)
			return fail(err, errlen, "\"%.*s\" is not KEY=VALUE", span_len(cond), cond.s);
		struct span key = trim((struct span){ cond.s, eq });
		struct span val = trim((struct span){ eq + 1, cond.e });

		for (k = 0; k < (int)(sizeof(keys) / sizeof(keys[0])); k++)
			if (span_is(key, keys[k]))
				break;
		if (k == (int)(sizeof(keys) / sizeof(keys[0])))
			return fail(err, errlen, "unknown key \"%.*s\"", span_len(key), key.s);
		if (seen & (1u << k))
			return fail(err, errlen, "%s= is given twice", keys[k]);
		seen |= 1u << k;
		if (val.s == val.e)
			return fail(err, errlen, "%s= has no value", keys[k]);
		switch (k) {
		case 0: rc = parse_kind(val, out, err, errlen); break;
		case 1: rc = parse_text(val, out->function, "function", err, errlen); break;
		case 2: rc = parse_address(val, out, err, errlen); break;
		case 3: rc = parse_block(val, out, err, errlen); break;
		case 4: rc = parse_count(val, &out->hits, "hits", err, errlen); break;
		default: rc = parse_count(val, &out->every, "every", err, errlen); break;
		}
		if (rc)
			return rc;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

bool conflict_break_stops_at(const struct conflict_break *b, uint64_t n)
{
	uint64_t first = b->hits ? b->hits : b->every ? b->every : 1;

	if (n < first)
		return false;
	if (!b->every)
		return b->hits ? n == first : true;
	return (n - first) % b->every == 0;
}

/* Whether the 8-byte word holding @p a overlaps the range address= names. */
static bool word_in_range(const struct conflict_break *b, uintptr_t a)
{
	uintptr_t word = a & ~(uintptr_t)7;

	return a && word <= b->address + (b->address_len - 1) && b->address <= word + 7;
}

/* @p path without leading "./" and "../" parts (VPATH builds name sources
 * relative to the build directory). */
static const char *strip_relative(const char *path)
{
	for (;;) {
		if (strncmp(path, "./", 2) == 0)
			path += 2;
		else if (strncmp(path, "../", 3) == 0)
			path += 3;
		else
			return path;
	}
}

/* Whether @p shorter is @p longer, or its last components. */
static bool path_suffix(const char *longer, const char *shorter)
{
	size_t nl = strlen(longer), ns = strlen(shorter);

	if (ns > nl || ns == 0)
		return false;
	return memcmp(longer + nl - ns, shorter, ns) == 0 &&
	       (ns == nl || longer[nl - ns - 1] == '/' || shorter[0] == '/');
}

bool conflict_break_block_matches(const char *file, int line, const char *at_file, int at_line)
{
	if (!file || !at_file || at_line <= 0 || (line && line != at_line))
		return false;
	file = strip_relative(file);
	at_file = strip_relative(at_file);
	return path_suffix(at_file, file) || path_suffix(file, at_file);
}

static bool stack_has(const uintptr_t *pcs, unsigned depth, const char *pattern,
                      conflict_break_frame_fn has_function, void *arg)
{
	for (unsigned i = 0; pcs && i < depth; i++)
		if (has_function(pcs[i], pattern, arg))
			return true;
	return false;
}

bool conflict_break_matches(const struct conflict_break *b, const struct lucid_conflict *c,
                            conflict_break_frame_fn has_function, void *arg)
{
	if (b->kinds && (c->reason < 0 || c->reason >= 32 || !(b->kinds & (1u << c->reason))))
		return false;
	if (b->has_address && !word_in_range(b, c->address) && !word_in_range(b, c->other_address))
		return false;
	if (b->block_file[0] &&
	    !conflict_break_block_matches(b->block_file, b->block_line, c->file, c->line) &&
	    !conflict_break_block_matches(b->block_file, b->block_line, c->other_file, c->other_line))
		return false;
	if (b->function[0])
		return has_function &&
		       (stack_has(c->stack, c->stack_depth, b->function, has_function, arg) ||
		        stack_has(c->other_stack, c->other_depth, b->function, has_function, arg));
	return true;
}

bool conflict_break_name_matches(const char *pattern, const char *name)
{
	return name && fnmatch(pattern, name, 0) == 0;
}
