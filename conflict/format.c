/* conflict: CRC-32C, and encoding and decoding of the recording format's records. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conflict/format.h"

/* ------------------------------------------------------------ CRC-32C */

/*
 * Slicing-by-8: eight 256-entry tables let the loop fold eight bytes per
 * step, which keeps checksumming well below the cost of read(2) when a
 * reader goes through hundreds of megabytes. The tables are computed once;
 * pthread_once rather than a constructor because the engine may write a
 * recording from its own constructor, before ours would have run.
 */
#define REC_CRC32C_POLY 0x82F63B78u

static uint32_t rec_crc_table[8][256];
static pthread_once_t rec_crc_once = PTHREAD_ONCE_INIT;

static void rec_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ REC_CRC32C_POLY : c >> 1;
		rec_crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++) {
			uint32_t prev = rec_crc_table[t - 1][i];

			rec_crc_table[t][i] = (prev >> 8) ^ rec_crc_table[0][prev & 0xff];
		}
}

static inline uint32_t rec_load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t rec_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

	pthread_once(&rec_crc_once, rec_crc_init);
	while (len >= 8) {
		uint32_t lo = rec_load32(p) ^ c;
		uint32_t hi = rec_load32(p + 4);

		c = rec_crc_table[7][lo & 0xff] ^ rec_crc_table[6][(lo >> 8) & 0xff] ^
		    rec_crc_table[5][(lo >> 16) & 0xff] ^ rec_crc_table[4][lo >> 24] ^
		    rec_crc_table[3][hi & 0xff] ^ rec_crc_table[2][(hi >> 8) & 0xff] ^
		    rec_crc_table[1][(hi >> 16) & 0xff] ^ rec_crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ rec_crc_table[0][(c ^ *p++) & 0xff];
	return ~c;
}

/* ------------------------------------------------------------ little-endian */

static inline uint8_t *rec_w8(uint8_t *q, uint8_t v)
{
	*q = v;
	return q + 1;
}

static inline uint8_t *rec_w16(uint8_t *q, uint16_t v)
{
	q[0] = (uint8_t)v;
	q[1] = (uint8_t)(v >> 8);
	return q + 2;
}

static inline uint8_t *rec_w32(uint8_t *q, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		q[i] = (uint8_t)(v >> (8 * i));
	return q + 4;
}

static inline uint8_t *rec_w64(uint8_t *q, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		q[i] = (uint8_t)(v >> (8 * i));
	return q + 8;
}

static inline uint16_t rec_r16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint64_t rec_r64(const uint8_t *p)
{
	return (uint64_t)rec_load32(p) | (uint64_t)rec_load32(p + 4) << 32;
}

/* ------------------------------------------------------------ rec_buf */

void rec_buf_reset(struct rec_buf *b)
{
	b->len = 0;
	b->oom = false;
}

void rec_buf_free(struct rec_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

static bool rec_buf_reserve(struct rec_buf *b, size_t more)
{
	size_t want, cap;
	uint8_t *d;

	if (more <= b->cap - b->len)
		return true;
	if (more > SIZE_MAX / 2 - b->len)
		return false;
	want = b->len + more;
	cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d)
		return false;
	b->data = d;
	b->cap = cap;
	return true;
}

/*
 * Encoders compute the payload length first, reserve the whole record, and
 * only then write it: a failed allocation leaves the buffer as it was, so it
 * never holds a partial record.
 */
static uint8_t *rec_begin(struct rec_buf *b, uint16_t type, size_t len)
{
	size_t size = rec_record_size(len);
	uint8_t *r;

	if (!rec_buf_reserve(b, size)) {
		b->oom = true;
		return NULL;
	}
	r = b->data + b->len;
	rec_w32(r, REC_SYNC);
	rec_w16(r + 4, type);
	rec_w16(r + 6, 0);
	rec_w32(r + 8, (uint32_t)len);
	memset(r + REC_HEAD_SIZE + len, 0, size - REC_HEAD_SIZE - len);
	return r;
}

static int rec_end(struct rec_buf *b, uint8_t *r, size_t len)
{
	uint32_t crc = rec_crc32c(0, r + 4, 8);

	crc = rec_crc32c(crc, r + REC_HEAD_SIZE, len);
	rec_w32(r + 12, crc);
	b->len += rec_record_size(len);
	return 0;
}

static size_t rec_strlen(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > REC_MAX_STRING ? REC_MAX_STRING : n;
}

static uint8_t *rec_wstr(uint8_t *q, const char *s, size_t n)
{
	q = rec_w16(q, (uint16_t)n);
	if (n)
		memcpy(q, s, n);
	return q + n;
}

#define REC_HEADER_FIXED 36u /* version .. word_shift */

int rec_put_header(struct rec_buf *b, const struct rec_header *h)
{
	size_t plen = rec_strlen(h->program);
	size_t len = REC_HEADER_FIXED + 2 + plen + 4;
	uint32_t argc = 0;
	uint8_t *r, *q;

	while (argc < h->argc && argc < REC_MAX_ARGS) {
		size_t alen = rec_strlen(h->argv[argc]);

		if (len + 2 + alen > REC_MAX_PAYLOAD)
			break;
		len += 2 + alen;
		argc++;
	}
	r = rec_begin(b, REC_TYPE_HEADER, len);
	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w32(q, h->version ? h->version : REC_VERSION);
	q = rec_w32(q, h->pid);
	q = rec_w32(q, h->ppid);
	q = rec_w64(q, h->start_realtime_ns);
	q = rec_w64(q, h->start_mono_ns);
	q = rec_w32(q, h->orec_bits);
	q = rec_w32(q, h->word_shift);
	q = rec_wstr(q, h->program, plen);
	q = rec_w32(q, argc);
	for (uint32_t i = 0; i < argc; i++)
		q = rec_wstr(q, h->argv[i], rec_strlen(h->argv[i]));
	return rec_end(b, r, len);
}

int rec_put_module(struct rec_buf *b, const struct rec_module *m)
{
	size_t blen = m->build_id ? m->build_id_len : 0;
	size_t plen = rec_strlen(m->path);
	size_t len;
	uint8_t *r, *q;

	if (blen > REC_MAX_STRING)
		blen = REC_MAX_STRING;
	len = 24 + 2 + blen + 2 + plen;
	r = rec_begin(b, REC_TYPE_MODULE, len);
	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w64(q, m->base);
	q = rec_w64(q, m->low);
	q = rec_w64(q, m->high);
	q = rec_w16(q, (uint16_t)blen);
	if (blen)
		memcpy(q, m->build_id, blen);
	q += blen;
	rec_wstr(q, m->path, plen);
	return rec_end(b, r, len);
}

int rec_put_stack(struct rec_buf *b, uint32_t id, const uint64_t *pcs, uint32_t depth)
{
	size_t len;
	uint8_t *r, *q;

	if (depth > REC_MAX_DEPTH)
		depth = REC_MAX_DEPTH;
	len = 8 + 8 * (size_t)depth;
	r = rec_begin(b, REC_TYPE_STACK, len);
	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w32(q, id);
	q = rec_w32(q, depth);
	for (uint32_t i = 0; i < depth; i++)
		q = rec_w64(q, pcs[i]);
	return rec_end(b, r, len);
}

int rec_put_site(struct rec_buf *b, const struct rec_site *s)
{
	size_t flen = rec_strlen(s->file), fnlen = rec_strlen(s->function);
	size_t len = 4 + 8 + 4 + 2 + flen + 2 + fnlen;
	uint8_t *r, *q;

	r = rec_begin(b, REC_TYPE_SITE, len);
	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w32(q, s->id);
	q = rec_w64(q, s->pc);
	q = rec_w32(q, s->line);
	q = rec_wstr(q, s->file, flen);
	rec_wstr(q, s->function, fnlen);
	return rec_end(b, r, len);
}

int rec_put_abort(struct rec_buf *b, const struct rec_abort *a)
{
	uint8_t *r = rec_begin(b, REC_TYPE_ABORT, REC_ABORT_SIZE), *q;

	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w64(q, a->mono_ns);
	q = rec_w64(q, a->wasted_ns);
	q = rec_w8(q, a->reason);
	q = rec_w8(q, a->flags);
	q = rec_w16(q, 0);
	q = rec_w32(q, a->attempt);
	q = rec_w32(q, a->tid);
	q = rec_w32(q, a->other_tid);
	q = rec_w32(q, a->site);
	q = rec_w32(q, a->other_site);
	q = rec_w32(q, a->stack);
	q = rec_w32(q, a->other_stack);
	q = rec_w32(q, a->alloc_stack);
	q = rec_w32(q, a->orec);
	q = rec_w64(q, a->address);
	q = rec_w64(q, a->other_address);
	rec_w64(q, a->other_commit);
	return rec_end(b, r, REC_ABORT_SIZE);
}

#define REC_PAIRS_PER_RECORD ((REC_MAX_PAYLOAD - 8) / 16)

/*
 * COMMITS and THREADS share a layout: count, pad, then (key u32, pad u32,
 * count u64) pairs. The caller's pairs are structs of some stride with the
 * key and the count at the given offsets.
 */
static int rec_put_pairs(struct rec_buf *b, uint16_t type, const void *pairs, size_t stride,
			 size_t key_at, size_t count_at, uint32_t count)
{
	const uint8_t *p = pairs;
	size_t start = b->len;

	/* An empty record is still written: it says "nothing yet". */
	do {
		uint32_t n = count > REC_PAIRS_PER_RECORD ? REC_PAIRS_PER_RECORD : count;
		size_t len = 8 + 16 * (size_t)n;
		uint8_t *r = rec_begin(b, type, len), *q;

		if (!r) {
			b->len = start; /* all or nothing */
			return -ENOMEM;
		}
		q = r + REC_HEAD_SIZE;
		q = rec_w32(q, n);
		q = rec_w32(q, 0);
		for (uint32_t i = 0; i < n; i++, p += stride) {
			uint32_t key;
			uint64_t v;

			memcpy(&key, p + key_at, sizeof(key));
			memcpy(&v, p + count_at, sizeof(v));
			q = rec_w32(q, key);
			q = rec_w32(q, 0);
			q = rec_w64(q, v);
		}
		rec_end(b, r, len);
		count -= n;
	} while (count);
	return 0;
}

int rec_put_commits(struct rec_buf *b, const struct rec_commit *pairs, uint32_t count)
{
	return rec_put_pairs(b, REC_TYPE_COMMITS, pairs, sizeof(*pairs),
			     offsetof(struct rec_commit, site), offsetof(struct rec_commit, commits), count);
}

int rec_put_threads(struct rec_buf *b, const struct rec_tid_commits *pairs, uint32_t count)
{
	return rec_put_pairs(b, REC_TYPE_THREADS, pairs, sizeof(*pairs),
			     offsetof(struct rec_tid_commits, tid),
			     offsetof(struct rec_tid_commits, commits), count);
}

int rec_put_drops(struct rec_buf *b, uint64_t dropped)
{
	uint8_t *r = rec_begin(b, REC_TYPE_DROPS, REC_DROPS_SIZE);

	if (!r)
		return -ENOMEM;
	rec_w64(r + REC_HEAD_SIZE, dropped);
	return rec_end(b, r, REC_DROPS_SIZE);
}

int rec_put_stats(struct rec_buf *b, const struct rec_stats *s)
{
	uint32_t n = s->by_reason ? s->n : 0;
	size_t len;
	uint8_t *r, *q;

	if (n > REC_MAX_REASONS)
		n = REC_MAX_REASONS;
	len = 32 + 8 * (size_t)n;
	r = rec_begin(b, REC_TYPE_STATS, len);
	if (!r)
		return -ENOMEM;
	q = r + REC_HEAD_SIZE;
	q = rec_w64(q, s->commits);
	q = rec_w64(q, s->aborts);
	q = rec_w64(q, s->max_retries);
	q = rec_w32(q, n);
	q = rec_w32(q, 0);
	for (uint32_t i = 0; i < n; i++)
		q = rec_w64(q, s->by_reason[i]);
	return rec_end(b, r, len);
}

int rec_put_raw(struct rec_buf *b, uint16_t type, const void *payload, size_t len)
{
	uint8_t *r;

	if (len > REC_MAX_PAYLOAD)
		return -EINVAL;
	r = rec_begin(b, type, len);
	if (!r)
		return -ENOMEM;
	if (len)
		memcpy(r + REC_HEAD_SIZE, payload, len);
	return rec_end(b, r, len);
}

/* ------------------------------------------------------------ decoding */

const char *rec_decode_strerror(int status)
{
	switch (status) {
	case REC_DECODE_OK:
		return "no error";
	case REC_DECODE_SHORT:
		return "incomplete record";
	case REC_DECODE_BAD_SYNC:
		return "no record starts here (bad sync word)";
	case REC_DECODE_BAD_LENGTH:
		return "impossible record length";
	case REC_DECODE_BAD_CRC:
		return "bad checksum";
	case REC_DECODE_BAD_PAD:
		return "nonzero padding";
	case REC_DECODE_BAD_FIELDS:
		return "fields inconsistent with the record's length";
	case REC_DECODE_SCRATCH:
		return "scratch memory too small";
	}
	return "unknown status";
}

/*
 * The payload lengths each type allows, checked before the payload is
 * waited for or checksummed: a flipped bit in a length is then reported at
 * once, and a reader never buffers more than REC_MAX_PAYLOAD for a record.
 */
static bool rec_length_ok(uint16_t type, uint32_t len)
{
	switch (type) {
	case REC_TYPE_HEADER:
		/* Only the version is common to every version's HEADER; the
		 * rest is checked by parsing, once the version is known. */
		return len >= 4 && len <= REC_MAX_PAYLOAD;
	case REC_TYPE_MODULE:
		return len >= 24 + 2 + 2 && len <= 24 + 2 * (2 + REC_MAX_STRING);
	case REC_TYPE_STACK:
		return len >= 8 && len % 8 == 0 && (len - 8) / 8 <= REC_MAX_DEPTH;
	case REC_TYPE_SITE:
		return len >= 4 + 8 + 4 + 2 + 2 && len <= 4 + 8 + 4 + 2 * (2 + REC_MAX_STRING);
	case REC_TYPE_ABORT:
		return len == REC_ABORT_SIZE;
	case REC_TYPE_COMMITS:
	case REC_TYPE_THREADS:
		return len >= 8 && (len - 8) % 16 == 0 && len <= REC_MAX_PAYLOAD;
	case REC_TYPE_DROPS:
		return len == REC_DROPS_SIZE;
	case REC_TYPE_STATS:
		return len >= 32 && len % 8 == 0 && (len - 32) / 8 <= REC_MAX_REASONS;
	default:
		return len <= REC_MAX_PAYLOAD;
	}
}

int rec_decode(const void *vp, size_t n, struct rec_raw *raw, size_t *size)
{
	static const uint8_t sync[4] = { 0x4c, 0x52, 0x45, 0x43 };
	const uint8_t *p = vp;
	uint16_t type;
	uint32_t len, crc;
	size_t total;

	*size = 0;
	/* Damage in the sync word shows even before the rest has arrived. */
	if (memcmp(p, sync, n < 4 ? n : 4) != 0)
		return REC_DECODE_BAD_SYNC;
	if (n < REC_HEAD_SIZE) {
		*size = REC_HEAD_SIZE;
		return REC_DECODE_SHORT;
	}
	type = rec_r16(p + 4);
	len = rec_load32(p + 8);
	if (!rec_length_ok(type, len))
		return REC_DECODE_BAD_LENGTH;
	total = rec_record_size(len);
	if (n < total) {
		*size = total;
		return REC_DECODE_SHORT;
	}
	crc = rec_crc32c(0, p + 4, 8);
	crc = rec_crc32c(crc, p + REC_HEAD_SIZE, len);
	if (crc != rec_load32(p + 12))
		return REC_DECODE_BAD_CRC;
	for (size_t i = REC_HEAD_SIZE + len; i < total; i++)
		if (p[i])
			return REC_DECODE_BAD_PAD;
	raw->type = type;
	raw->flags = rec_r16(p + 6);
	raw->length = len;
	raw->payload = p + REC_HEAD_SIZE;
	*size = total;
	return REC_DECODE_OK;
}

/* A bounds-checked cursor over a payload: reads past the end yield zeros
 * and set bad, so the parsers check once at the end. */
struct rec_rd {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *rec_rd_take(struct rec_rd *rd, size_t n)
{
	const uint8_t *p = rd->p;

	if (rd->bad || (size_t)(rd->end - rd->p) < n) {
		rd->bad = true;
		return NULL;
	}
	rd->p += n;
	return p;
}

static uint8_t rec_rd8(struct rec_rd *rd)
{
	const uint8_t *p = rec_rd_take(rd, 1);

	return p ? *p : 0;
}

static uint16_t rec_rd16(struct rec_rd *rd)
{
	const uint8_t *p = rec_rd_take(rd, 2);

	return p ? rec_r16(p) : 0;
}

static uint32_t rec_rd32(struct rec_rd *rd)
{
	const uint8_t *p = rec_rd_take(rd, 4);

	return p ? rec_load32(p) : 0;
}

static uint64_t rec_rd64(struct rec_rd *rd)
{
	const uint8_t *p = rec_rd_take(rd, 8);

	return p ? rec_r64(p) : 0;
}

static size_t rec_rd_left(const struct rec_rd *rd)
{
	return rd->bad ? 0 : (size_t)(rd->end - rd->p);
}

/*
 * Scratch space handed out front to back. Parsers run once whatever the
 * capacity: when it is too small they stop storing but go on counting, so
 * one call tells the caller how much to provide.
 */
struct rec_sc {
	uint8_t *base;
	size_t cap, used;
};

static void *rec_sc_alloc(struct rec_sc *sc, size_t n, size_t align)
{
	size_t at = (sc->used + align - 1) & ~(align - 1);

	sc->used = at + n;
	if (sc->used > sc->cap || !sc->base)
		return NULL;
	return sc->base + at;
}

/* Reads a string into scratch with a NUL added; "" when it does not fit. */
static const char *rec_rd_str(struct rec_rd *rd, struct rec_sc *sc)
{
	size_t n = rec_rd16(rd);
	const uint8_t *s = rec_rd_take(rd, n);
	char *d;

	if (!s)
		return "";
	d = rec_sc_alloc(sc, n + 1, 1);
	if (!d)
		return "";
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void rec_parse_header(struct rec_rd *rd, struct rec_sc *sc, struct rec_header *h)
{
	const char **argv;

	h->version = rec_rd32(rd);
	h->pid = rec_rd32(rd);
	h->ppid = rec_rd32(rd);
	h->start_realtime_ns = rec_rd64(rd);
	h->start_mono_ns = rec_rd64(rd);
	h->orec_bits = rec_rd32(rd);
	h->word_shift = rec_rd32(rd);
	h->program = rec_rd_str(rd, sc);
	h->argc = rec_rd32(rd);
	/* Each argument takes at least its 2-byte length: bound argc by what
	 * is left, as well as by the limit, before sizing the array from it. */
	if (h->argc > REC_MAX_ARGS || h->argc > rec_rd_left(rd) / 2) {
		rd->bad = true;
		h->argc = 0;
	}
	argv = rec_sc_alloc(sc, h->argc * sizeof(*argv), _Alignof(const char *));
	for (uint32_t i = 0; i < h->argc; i++) {
		const char *s = rec_rd_str(rd, sc);

		if (argv)
			argv[i] = s;
	}
	h->argv = argv;
}

static void rec_parse_module(struct rec_rd *rd, struct rec_sc *sc, struct rec_module *m)
{
	size_t n;
	const uint8_t *bid;
	uint8_t *d;

	m->base = rec_rd64(rd);
	m->low = rec_rd64(rd);
	m->high = rec_rd64(rd);
	n = rec_rd16(rd);
	bid = rec_rd_take(rd, n);
	d = rec_sc_alloc(sc, n, 1);
	if (d && bid && n)
		memcpy(d, bid, n);
	m->build_id = bid && n ? d : NULL;
	m->build_id_len = bid ? n : 0;
	m->path = rec_rd_str(rd, sc);
	if (m->low > m->high)
		rd->bad = true;
}

static void rec_parse_stack(struct rec_rd *rd, struct rec_sc *sc, struct rec_stack *s)
{
	uint64_t *pcs;

	s->id = rec_rd32(rd);
	s->depth = rec_rd32(rd);
	if (s->id == 0 || s->depth > REC_MAX_DEPTH || rec_rd_left(rd) != 8 * (size_t)s->depth) {
		rd->bad = true;
		s->depth = 0;
	}
	pcs = rec_sc_alloc(sc, 8 * (size_t)s->depth, 8);
	for (uint32_t i = 0; i < s->depth; i++) {
		uint64_t pc = rec_rd64(rd);

		if (pcs)
			pcs[i] = pc;
	}
	s->pcs = pcs;
}

static void rec_parse_site(struct rec_rd *rd, struct rec_sc *sc, struct rec_site *s)
{
	s->id = rec_rd32(rd);
	s->pc = rec_rd64(rd);
	s->line = rec_rd32(rd);
	s->file = rec_rd_str(rd, sc);
	s->function = rec_rd_str(rd, sc);
	if (s->id == 0)
		rd->bad = true;
}

static void rec_parse_abort(struct rec_rd *rd, struct rec_abort *a)
{
	a->mono_ns = rec_rd64(rd);
	a->wasted_ns = rec_rd64(rd);
	a->reason = rec_rd8(rd);
	a->flags = rec_rd8(rd);
	(void)rec_rd16(rd); /* pad */
	a->attempt = rec_rd32(rd);
	a->tid = rec_rd32(rd);
	a->other_tid = rec_rd32(rd);
	a->site = rec_rd32(rd);
	a->other_site = rec_rd32(rd);
	a->stack = rec_rd32(rd);
	a->other_stack = rec_rd32(rd);
	a->alloc_stack = rec_rd32(rd);
	a->orec = rec_rd32(rd);
	a->address = rec_rd64(rd);
	a->other_address = rec_rd64(rd);
	a->other_commit = rec_rd64(rd);
}

/* The pairs of a COMMITS or THREADS into an array of structs (stride,
 * alignment, offsets of the key and the count); returns it, or NULL when
 * scratch is short, and sets *count. */
static void *rec_parse_pairs(struct rec_rd *rd, struct rec_sc *sc, uint32_t *count, size_t stride,
			     size_t align, size_t key_at, size_t count_at)
{
	uint8_t *pairs;

	*count = rec_rd32(rd);
	(void)rec_rd32(rd); /* pad */
	if (rec_rd_left(rd) / 16 != *count || rec_rd_left(rd) % 16) {
		rd->bad = true;
		*count = 0;
	}
	pairs = rec_sc_alloc(sc, *count * stride, align);
	for (uint32_t i = 0; i < *count; i++) {
		uint32_t key = rec_rd32(rd);
		uint64_t n;

		(void)rec_rd32(rd); /* pad */
		n = rec_rd64(rd);
		if (pairs) {
			memcpy(pairs + i * stride + key_at, &key, sizeof(key));
			memcpy(pairs + i * stride + count_at, &n, sizeof(n));
		}
	}
	return pairs;
}

static void rec_parse_commits(struct rec_rd *rd, struct rec_sc *sc, struct rec_commits *c)
{
	c->pairs = rec_parse_pairs(rd, sc, &c->count, sizeof(struct rec_commit),
				   _Alignof(struct rec_commit), offsetof(struct rec_commit, site),
				   offsetof(struct rec_commit, commits));
}

static void rec_parse_threads(struct rec_rd *rd, struct rec_sc *sc, struct rec_threads *t)
{
	t->pairs = rec_parse_pairs(rd, sc, &t->count, sizeof(struct rec_tid_commits),
				   _Alignof(struct rec_tid_commits), offsetof(struct rec_tid_commits, tid),
				   offsetof(struct rec_tid_commits, commits));
}

static void rec_parse_stats(struct rec_rd *rd, struct rec_sc *sc, struct rec_stats *s)
{
	uint64_t *v;

	s->commits = rec_rd64(rd);
	s->aborts = rec_rd64(rd);
	s->max_retries = rec_rd64(rd);
	s->n = rec_rd32(rd);
	(void)rec_rd32(rd); /* pad */
	if (s->n > REC_MAX_REASONS || rec_rd_left(rd) != 8 * (size_t)s->n) {
		rd->bad = true;
		s->n = 0;
	}
	v = rec_sc_alloc(sc, 8 * (size_t)s->n, 8);
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t x = rec_rd64(rd);

		if (v)
			v[i] = x;
	}
	s->by_reason = v;
}

int rec_parse(const struct rec_raw *raw, struct rec_record *out, void *scratch, size_t cap,
	      size_t *need)
{
	struct rec_rd rd = { raw->payload, raw->payload + raw->length, false };
	struct rec_sc sc = { scratch, cap, 0 };

	memset(out, 0, sizeof(*out));
	out->type = raw->type;
	out->flags = raw->flags;
	*need = 0;
	switch (raw->type) {
	case REC_TYPE_HEADER:
		rec_parse_header(&rd, &sc, &out->header);
		break;
	case REC_TYPE_MODULE:
		rec_parse_module(&rd, &sc, &out->module);
		break;
	case REC_TYPE_STACK:
		rec_parse_stack(&rd, &sc, &out->stack);
		break;
	case REC_TYPE_SITE:
		rec_parse_site(&rd, &sc, &out->site);
		break;
	case REC_TYPE_ABORT:
		rec_parse_abort(&rd, &out->abort);
		break;
	case REC_TYPE_COMMITS:
		rec_parse_commits(&rd, &sc, &out->commits);
		break;
	case REC_TYPE_DROPS:
		out->drops.dropped = rec_rd64(&rd);
		break;
	case REC_TYPE_STATS:
		rec_parse_stats(&rd, &sc, &out->stats);
		break;
	case REC_TYPE_THREADS:
		rec_parse_threads(&rd, &sc, &out->threads);
		break;
	default:
		return REC_DECODE_OK;
	}
	if (rd.bad || rd.p != rd.end)
		return REC_DECODE_BAD_FIELDS;
	if (sc.used > cap || (sc.used && !scratch)) {
		*need = sc.used;
		return REC_DECODE_SCRATCH;
	}
	return REC_DECODE_OK;
}
