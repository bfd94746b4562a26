/* conflict: reading a recording record by record, live or finished, with its module, stack and site tables. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conflict/reader.h"

/* Read-ahead: big enough that read(2) calls are few, small enough to keep
 * the reader's memory independent of the file's size. Records larger than
 * this (a HEADER with a long command line) grow the buffer as needed. */
#define REC_READ_CHUNK ((size_t)1 << 20)

/* Tables' entries and the HEADER live in blocks freed with the reader, so
 * every pointer an event or a lookup returned stays valid until then, even
 * after a later record with the same id replaces an entry. */
struct rec_blk {
	struct rec_blk *next;
	max_align_t data[];
};

/* Open-addressing map from a nonzero id to a pointer. */
struct rec_idmap {
	uint32_t *keys;  /* 0: empty */
	void **vals;
	size_t cap, n;   /* cap: a power of two, or 0 */
};

struct rec_reader {
	int fd;
	char *name;                /* the path, escaped, for messages */
	uint8_t *buf;              /* file bytes [off, off + len) */
	size_t cap, len, pos;      /* pos: where the next record starts in buf */
	uint64_t off;
	bool seen_first;           /* the first record was read */
	bool damaged;
	bool stashed;              /* rec_reader_open read the first event ahead */
	struct rec_event stash;
	char warning[512];
	bool has_warning;
	const struct rec_header *header;
	struct rec_blk *blocks;
	struct rec_idmap stacks, sites;
	const struct rec_module **mods; /* sorted by low, ranges disjoint */
	size_t nmods, capmods;
	void *scratch;             /* COMMITS, STATS and THREADS arrays, until the next call */
	size_t scratch_cap;
	char first_problem[128];   /* why the first record is unacceptable, for open */
};

/* ------------------------------------------------------------ escaping */

/* Length of the valid UTF-8 sequence at s (n bytes left) that is not a
 * C1 control, or 0. */
static size_t rec_utf8_ok(const unsigned char *s, size_t n)
{
	size_t k;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return k;
}

size_t rec_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0;

	for (size_t i = 0; i < len;) {
		char e[4];
		size_t n = 0, k = 1;
		const char *from = e;

		if (s[i] == '\n')
			e[n++] = '\\', e[n++] = 'n';
		else if (s[i] == '\t')
			e[n++] = '\\', e[n++] = 't';
		else if (s[i] == '\\')
			e[n++] = '\\', e[n++] = '\\';
		else if (s[i] < 0x20 || s[i] == 0x7f || (s[i] >= 0x80 && !(k = rec_utf8_ok(s + i, len - i))))
			k = 1, e[n++] = '\\', e[n++] = 'x', e[n++] = hex[s[i] >> 4], e[n++] = hex[s[i] & 15];
		else
			from = (const char *)s + i, n = k;
		for (size_t j = 0; j < n; j++, out++)
			if (out + 1 < dstlen)
				dst[out] = from[j];
		i += k;
	}
	if (dstlen)
		dst[out < dstlen ? out : dstlen - 1] = '\0';
	return out;
}

/* ------------------------------------------------------------ tables */

static void *rec_blk_new(struct rec_reader *r, size_t n)
{
	struct rec_blk *b = malloc(sizeof(*b) + (n ? n : 1));

	if (!b)
		return NULL;
	b->next = r->blocks;
	r->blocks = b;
	return b->data;
}

static size_t rec_idmap_slot(const struct rec_idmap *m, uint32_t id)
{
	size_t i = (size_t)(id * 0x9e3779b1u) & (m->cap - 1);

	while (m->keys[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void *rec_idmap_get(const struct rec_idmap *m, uint32_t id)
{
	size_t i;

	if (!m->cap || id == 0)
		return NULL;
	i = rec_idmap_slot(m, id);
	return m->keys[i] ? m->vals[i] : NULL;
}

static int rec_idmap_put(struct rec_idmap *m, uint32_t id, void *val)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3) {
		struct rec_idmap g = { NULL, NULL, m->cap ? 2 * m->cap : 64, 0 };

		g.keys = calloc(g.cap, sizeof(*g.keys));
		g.vals = calloc(g.cap, sizeof(*g.vals));
		if (!g.keys || !g.vals) {
			free(g.keys);
			free(g.vals);
			return -ENOMEM;
		}
		for (size_t k = 0; k < m->cap; k++)
			if (m->keys[k]) {
				size_t j = rec_idmap_slot(&g, m->keys[k]);

				g.keys[j] = m->keys[k];
				g.vals[j] = m->vals[k];
				g.n++;
			}
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	i = rec_idmap_slot(m, id);
	if (!m->keys[i]) {
		m->keys[i] = id;
		m->n++;
	}
	m->vals[i] = val;
	return 0;
}

static void rec_idmap_free(struct rec_idmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* Index of the first module whose high is above pc. */
static size_t rec_mod_find(const struct rec_reader *r, uint64_t pc)
{
	size_t lo = 0, hi = r->nmods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->mods[mid]->high <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int rec_mod_add(struct rec_reader *r, const struct rec_module *m)
{
	size_t i, j;

	if (m->low >= m->high)
		return 0; /* covers no address */
	if (r->nmods == r->capmods) {
		size_t cap = r->capmods ? 2 * r->capmods : 32;
		const struct rec_module **v = realloc(r->mods, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->mods = v;
		r->capmods = cap;
	}
	/* Modules it overlaps were unloaded before it was loaded there. */
	i = j = rec_mod_find(r, m->low);
	while (j < r->nmods && r->mods[j]->low < m->high)
		j++;
	memmove(&r->mods[i + 1], &r->mods[j], (r->nmods - j) * sizeof(*r->mods));
	r->nmods = r->nmods - (j - i) + 1;
	r->mods[i] = m;
	return 0;
}

/* ------------------------------------------------------------ lookups */

const struct rec_header *rec_reader_header(const struct rec_reader *r)
{
	return r->header;
}

const uint64_t *rec_reader_stack(const struct rec_reader *r, uint32_t id, uint32_t *depth)
{
	const struct rec_stack *s = rec_idmap_get(&r->stacks, id);

	*depth = s ? s->depth : 0;
	return s ? s->pcs : NULL;
}

const struct rec_site *rec_reader_site(const struct rec_reader *r, uint32_t id)
{
	return rec_idmap_get(&r->sites, id);
}

const struct rec_module *rec_reader_module_for(const struct rec_reader *r, uint64_t pc)
{
	size_t i = rec_mod_find(r, pc);

	return i < r->nmods && r->mods[i]->low <= pc ? r->mods[i] : NULL;
}

const struct rec_module *const *rec_reader_modules(const struct rec_reader *r, size_t *n)
{
	*n = r->nmods;
	return r->mods;
}

uint64_t rec_reader_offset(const struct rec_reader *r)
{
	return r->stashed ? r->stash.offset : r->off + r->pos;
}

const char *rec_reader_warning(const struct rec_reader *r)
{
	return r->has_warning ? r->warning : NULL;
}

/* ------------------------------------------------------------ reading */

__attribute__((format(printf, 2, 3)))
static void rec_warn(struct rec_reader *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->warning, sizeof(r->warning), "%s: ", r->name);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(r->warning))
		vsnprintf(r->warning + n, sizeof(r->warning) - (size_t)n, fmt, ap);
	va_end(ap);
	r->has_warning = true;
}

/*
 * Makes at least need bytes from pos available in buf when the file has
 * them, reading as much as fits. Returns 0 or -errno.
 */
static int rec_fill(struct rec_reader *r, size_t need)
{
	if (r->pos && r->cap - r->pos < need) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->off += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->cap < need) {
		size_t cap = r->cap ? r->cap : REC_READ_CHUNK;
		uint8_t *b;

		while (cap < need)
			cap *= 2;
		b = realloc(r->buf, cap);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	while (r->len - r->pos < need && r->len < r->cap) {
		ssize_t n = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->off + r->len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	return 0;
}

static const char *rec_type_name(unsigned type)
{
	static const char *const names[] = {
		[REC_TYPE_HEADER] = "HEADER", [REC_TYPE_MODULE] = "MODULE",
		[REC_TYPE_STACK] = "STACK",   [REC_TYPE_SITE] = "SITE",
		[REC_TYPE_ABORT] = "ABORT",   [REC_TYPE_COMMITS] = "COMMITS",
		[REC_TYPE_DROPS] = "DROPS",   [REC_TYPE_STATS] = "STATS",
		[REC_TYPE_THREADS] = "THREADS",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

static int rec_damage(struct rec_reader *r, const char *why)
{
	uint64_t at = r->off + r->pos;
	struct stat st;
	uint64_t left = 0;

	if (fstat(r->fd, &st) == 0 && (uint64_t)st.st_size > at)
		left = (uint64_t)st.st_size - at;
	rec_warn(r, "damaged record at offset %llu (%s); stopped there, %llu bytes skipped",
		 (unsigned long long)at, why, (unsigned long long)left);
	r->damaged = true;
	return REC_DAMAGED;
}

/* Parses into memory the reader keeps: a new block for table entries and
 * the HEADER, the shared scratch for the rest. */
static int rec_parse_keep(struct rec_reader *r, const struct rec_raw *raw, struct rec_record *rec)
{
	bool keep = raw->type == REC_TYPE_HEADER || raw->type == REC_TYPE_MODULE ||
		    raw->type == REC_TYPE_STACK || raw->type == REC_TYPE_SITE;
	size_t need;
	int st = rec_parse(raw, rec, keep ? NULL : r->scratch, keep ? 0 : r->scratch_cap, &need);
	void *mem;

	if (st != REC_DECODE_SCRATCH && !(st == REC_DECODE_OK && keep))
		return st;
	if (keep) {
		/* The struct and what it points to, in one block. */
		mem = rec_blk_new(r, sizeof(*rec) + need);
		if (!mem)
			return -ENOMEM;
		st = rec_parse(raw, rec, (char *)mem + sizeof(*rec), need, &need);
		memcpy(mem, rec, sizeof(*rec));
		return st;
	}
	mem = realloc(r->scratch, need);
	if (!mem)
		return -ENOMEM;
	r->scratch = mem;
	r->scratch_cap = need;
	return rec_parse(raw, rec, r->scratch, r->scratch_cap, &need);
}

/* Enters a parsed table record into its table; rec is inside its block. */
static int rec_enter(struct rec_reader *r, struct rec_record *kept)
{
	switch (kept->type) {
	case REC_TYPE_HEADER:
		if (!r->header)
			r->header = &kept->header;
		return 0;
	case REC_TYPE_MODULE:
		return rec_mod_add(r, &kept->module);
	case REC_TYPE_STACK:
		return rec_idmap_put(&r->stacks, kept->stack.id, &kept->stack);
	case REC_TYPE_SITE:
		return rec_idmap_put(&r->sites, kept->site.id, &kept->site);
	}
	return 0;
}

/*
 * Whether a whole, valid record starts after the incomplete one at pos, in
 * the bytes up to the end of the file (all in buf by then). The writer
 * appends whole records in order, and a reader sees a prefix of what was
 * written, so then the incomplete record is not still being written: its
 * length is damaged. Without this, a damaged length anywhere would look
 * like the end of a live file.
 */
static bool rec_whole_record_after(const struct rec_reader *r, uint64_t *at)
{
	for (size_t p = r->pos + REC_ALIGN; p + REC_HEAD_SIZE <= r->len; p += REC_ALIGN) {
		struct rec_raw raw;
		size_t size;

		if (rec_decode(r->buf + p, r->len - p, &raw, &size) == REC_DECODE_OK) {
			*at = r->off + p;
			return true;
		}
	}
	return false;
}

static int rec_read_one(struct rec_reader *r, struct rec_event *ev)
{
	struct rec_raw raw;
	uint64_t later;
	size_t size;
	int st, e;

	for (;;) {
		size_t avail = r->len - r->pos, before;

		if (avail == 0) {
			st = REC_DECODE_SHORT;
			size = REC_HEAD_SIZE;
		} else {
			st = rec_decode(r->buf + r->pos, avail, &raw, &size);
		}
		if (st == REC_DECODE_OK) {
			if (!r->seen_first && raw.type != REC_TYPE_HEADER) {
				snprintf(r->first_problem, sizeof(r->first_problem),
					 "not a Lucid recording (the first record is not a HEADER)");
				return rec_damage(r, "the first record is not a HEADER");
			}
			/* The version is checked before the fields: another
			 * version's HEADER may well not parse as this one. */
			if (!r->seen_first) {
				uint32_t v = (uint32_t)raw.payload[0] | (uint32_t)raw.payload[1] << 8 |
					     (uint32_t)raw.payload[2] << 16 | (uint32_t)raw.payload[3] << 24;

				if (v != REC_VERSION) {
					snprintf(r->first_problem, sizeof(r->first_problem),
						 "unsupported recording format version %u (this reader "
						 "reads version %d)", (unsigned)v, REC_VERSION);
					return rec_damage(r, r->first_problem);
				}
			}
			r->seen_first = true;
			if (raw.type < REC_TYPE_HEADER || raw.type > REC_TYPE_THREADS) {
				r->pos += size; /* a type added later: skip it */
				continue;
			}
			break;
		}
		if (st != REC_DECODE_SHORT)
			return rec_damage(r, rec_decode_strerror(st));
		before = avail;
		e = rec_fill(r, size);
		if (e < 0) {
			rec_warn(r, "cannot read at offset %llu: %s",
				 (unsigned long long)(r->off + r->pos), strerror(-e));
			return REC_ERROR;
		}
		if (r->len - r->pos > before)
			continue;
		if (before == 0) {
			r->has_warning = false;
			return REC_EOF;
		}
		if (rec_whole_record_after(r, &later)) {
			char why[128];

			snprintf(why, sizeof(why), "it runs past the end of the file, yet a whole record "
				 "follows at offset %llu", (unsigned long long)later);
			return rec_damage(r, why);
		}
		rec_warn(r, "the file ends inside a record at offset %llu (%zu of %zu bytes); "
			 "it was cut short or is still being written",
			 (unsigned long long)(r->off + r->pos), before, size);
		return REC_AGAIN;
	}

	st = rec_parse_keep(r, &raw, &ev->r);
	if (st == -ENOMEM) {
		rec_warn(r, "out of memory at offset %llu", (unsigned long long)(r->off + r->pos));
		return REC_ERROR;
	}
	if (st != REC_DECODE_OK) {
		char why[64];

		snprintf(why, sizeof(why), "malformed %s record", rec_type_name(raw.type));
		return rec_damage(r, why);
	}
	if (r->blocks && (raw.type == REC_TYPE_HEADER || raw.type == REC_TYPE_MODULE ||
			  raw.type == REC_TYPE_STACK || raw.type == REC_TYPE_SITE)) {
		if (rec_enter(r, (struct rec_record *)r->blocks->data) < 0) {
			rec_warn(r, "out of memory at offset %llu",
				 (unsigned long long)(r->off + r->pos));
			return REC_ERROR;
		}
	}
	ev->offset = r->off + r->pos;
	ev->size = (uint32_t)size;
	r->pos += size;
	r->has_warning = false;
	return REC_OK;
}

int rec_reader_next(struct rec_reader *r, struct rec_event *ev)
{
	if (r->stashed) {
		*ev = r->stash;
		r->stashed = false;
		return REC_OK;
	}
	if (r->damaged)
		return REC_DAMAGED;
	return rec_read_one(r, ev);
}

/* ------------------------------------------------------------ open, close */

struct rec_reader *rec_reader_open(const char *path, char *err, size_t errlen)
{
	struct rec_reader *r;
	char magic[REC_MAGIC_LEN], name[256];
	struct stat st;
	ssize_t n;
	int fd;

	if (!errlen)
		err = NULL;
	rec_escape(name, sizeof(name), path, strlen(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", name);
		close(fd);
		return NULL;
	}
	do
		n = pread(fd, magic, sizeof(magic), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		close(fd);
		return NULL;
	}
	if (n < REC_MAGIC_LEN || memcmp(magic, REC_MAGIC, REC_MAGIC_LEN) != 0) {
		snprintf(err, errlen, "%s: not a Lucid recording (%s)", name,
			 n == 0 ? "empty file" : "it does not start with \"" REC_MAGIC "\"");
		close(fd);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name))) {
		snprintf(err, errlen, "%s: out of memory", name);
		free(r);
		close(fd);
		return NULL;
	}
	r->fd = fd;
	r->off = REC_MAGIC_LEN;
	/* Read the HEADER ahead when it is there, to refuse what this code
	 * cannot read now rather than at the first call. */
	if (rec_read_one(r, &r->stash) == REC_OK) {
		r->stashed = true;
	} else if (r->first_problem[0]) {
		snprintf(err, errlen, "%s: %s", name, r->first_problem);
		rec_reader_close(r);
		return NULL;
	}
	return r;
}

void rec_reader_close(struct rec_reader *r)
{
	if (!r)
		return;
	while (r->blocks) {
		struct rec_blk *b = r->blocks;

		r->blocks = b->next;
		free(b);
	}
	rec_idmap_free(&r->stacks);
	rec_idmap_free(&r->sites);
	free(r->mods);
	free(r->scratch);
	free(r->buf);
	free(r->name);
	close(r->fd);
	free(r);
}
