/* tui: the report model: loading a recording incrementally, symbolizing stacks lazily, grouping aborts into rows. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conflict/reader.h"
#include "conflict/symbolize.h"
#include "tui/model.h"

/* ------------------------------------------------------------ hash map */

/*
 * Open addressing from a 128-bit key to a nonzero 32-bit value (0 marks an
 * empty slot). Used for record ids, thread ids, interned locations and the
 * groups of a view, so every lookup is one probe sequence.
 */
struct tui_slot {
	uint64_t k1, k2;
	uint32_t val;
};

struct tui_map {
	struct tui_slot *s;
	size_t cap, n;             /* cap: a power of two, or 0 */
};

static uint64_t tui_hash(uint64_t k1, uint64_t k2)
{
	uint64_t h = k1 * 0x9e3779b97f4a7c15ull ^ (k2 + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full;

	return h ^ h >> 29;
}

static size_t tui_map_find(const struct tui_map *m, uint64_t k1, uint64_t k2)
{
	size_t i = (size_t)tui_hash(k1, k2) & (m->cap - 1);

	while (m->s[i].val && (m->s[i].k1 != k1 || m->s[i].k2 != k2))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static uint32_t tui_map_get(const struct tui_map *m, uint64_t k1, uint64_t k2)
{
	return m->cap ? m->s[tui_map_find(m, k1, k2)].val : 0;
}

/*
 * Asks the cache for memory a pass over the aborts is about to touch: it
 * knows its next aborts, and having their groups on their way hides part
 * of the wait for memory once these outgrow the cache.
 */
#ifdef __GNUC__
#define TUI_PREFETCH(p) __builtin_prefetch(p)
#else
#define TUI_PREFETCH(p) ((void)(p))
#endif
#define TUI_AHEAD 16               /* aborts between a prefetch and its use */
#define TUI_BLOCK_COUNTS (1u << 20) /* a pass's rows of block counts, at most (4 MiB) */

static int tui_map_grow(struct tui_map *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64;
	struct tui_map g = { calloc(cap, sizeof(struct tui_slot)), cap, m->n };

	if (!g.s)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->s[i].val)
			g.s[tui_map_find(&g, m->s[i].k1, m->s[i].k2)] = m->s[i];
	free(m->s);
	*m = g;
	return 0;
}

/* Sets key -> val (nonzero), replacing; 0 or -ENOMEM. */
static int tui_map_put(struct tui_map *m, uint64_t k1, uint64_t k2, uint32_t val)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3 && tui_map_grow(m) < 0)
		return -ENOMEM;
	i = tui_map_find(m, k1, k2);
	if (!m->s[i].val)
		m->n++;
	m->s[i] = (struct tui_slot){ k1, k2, val };
	return 0;
}

/* The slot for key, inserted with value 0 marked by *fresh when absent,
 * so that the caller can fill it in place; NULL on out of memory. */
static struct tui_slot *tui_map_slot(struct tui_map *m, uint64_t k1, uint64_t k2, bool *fresh)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3 && tui_map_grow(m) < 0)
		return NULL;
	i = tui_map_find(m, k1, k2);
	*fresh = !m->s[i].val;
	if (*fresh) {
		m->n++;
		m->s[i].k1 = k1;
		m->s[i].k2 = k2;
	}
	return &m->s[i];
}

static void tui_map_free(struct tui_map *m)
{
	free(m->s);
	m->s = NULL;
	m->cap = m->n = 0;
}

/* Grows a vector of elements of size sz to hold at least n; 0 or -ENOMEM. */
static int tui_reserve(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t c = *cap ? *cap : 16;
	void *p;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	p = realloc(*v, c * sz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------ strings */

/* An arena of blocks (strings, frames) that live as long as their owner.
 * Sizes are rounded up to 8 bytes, so every block is aligned for a frame. */
struct tui_chunk {
	struct tui_chunk *next;
	size_t used, cap;
	uint64_t data[];
};

static void *tui_arena_alloc(struct tui_chunk **chunks, size_t n)
{
	struct tui_chunk *c = *chunks;

	n = (n + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 16384 ? n : 16384;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = *chunks;
		c->used = 0;
		c->cap = cap;
		*chunks = c;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

static void tui_arena_free(struct tui_chunk **chunks)
{
	while (*chunks) {
		struct tui_chunk *c = *chunks;

		*chunks = c->next;
		free(c);
	}
}

/* A set of distinct strings: one copy of each, numbered from 1. */
struct tui_strings {
	struct tui_chunk *chunks;
	const char **all;          /* [k - 1]: string k */
	uint64_t *hash;            /* [k - 1]: its hash */
	size_t n, cap;
	uint32_t *slots;           /* open addressing: string numbers, 0 empty */
	size_t nslots;
};

static uint64_t tui_strhash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h ^ n;
}

static int tui_strings_grow(struct tui_strings *t)
{
	size_t ns = t->nslots ? 2 * t->nslots : 256;
	uint32_t *sl = calloc(ns, sizeof(*sl));

	if (!sl)
		return -ENOMEM;
	for (size_t k = 0; k < t->n; k++) {
		size_t i = (size_t)t->hash[k] & (ns - 1);

		while (sl[i])
			i = (i + 1) & (ns - 1);
		sl[i] = (uint32_t)k + 1;
	}
	free(t->slots);
	t->slots = sl;
	t->nslots = ns;
	return 0;
}

/* The number of the one copy of s (n bytes, already escaped), or 0 on out
 * of memory. */
static uint32_t tui_intern_num(struct tui_strings *t, const char *s, size_t n)
{
	uint64_t h = tui_strhash(s, n);
	size_t i;
	char *copy;

	if ((t->n + 1) * 2 > t->nslots && tui_strings_grow(t) < 0)
		return 0;
	for (i = (size_t)h & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
		uint32_t k = t->slots[i] - 1;

		if (t->hash[k] == h && strncmp(t->all[k], s, n) == 0 && t->all[k][n] == '\0')
			return k + 1;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		const char **a = realloc(t->all, cap * sizeof(*a));
		uint64_t *hs;

		if (!a)
			return 0;
		t->all = a;
		hs = realloc(t->hash, cap * sizeof(*hs));
		if (!hs)
			return 0;
		t->hash = hs;
		t->cap = cap;
	}
	copy = tui_arena_alloc(&t->chunks, n + 1);
	if (!copy)
		return 0;
	memcpy(copy, s, n);
	copy[n] = '\0';
	t->all[t->n] = copy;
	t->hash[t->n] = h;
	t->slots[i] = (uint32_t)++t->n;
	return (uint32_t)t->n;
}

static const char *tui_intern(struct tui_strings *t, const char *s, size_t n)
{
	uint32_t k = tui_intern_num(t, s, n);

	return k ? t->all[k - 1] : NULL;
}

/* Escapes raw (NULL: "") for a terminal, then interns it; 0 on out of memory. */
static uint32_t tui_intern_escaped_num(struct tui_strings *t, const char *raw)
{
	char small[512], *buf = small;
	size_t len = raw ? strlen(raw) : 0, need;
	uint32_t k;

	need = rec_escape(small, sizeof(small), raw ? raw : "", len);
	if (need >= sizeof(small)) {
		buf = malloc(need + 1);
		if (!buf)
			return 0;
		rec_escape(buf, need + 1, raw, len);
	}
	k = tui_intern_num(t, buf, need);
	if (buf != small)
		free(buf);
	return k;
}

static const char *tui_intern_escaped(struct tui_strings *t, const char *raw)
{
	uint32_t k = tui_intern_escaped_num(t, raw);

	return k ? t->all[k - 1] : NULL;
}

static void tui_strings_free(struct tui_strings *t)
{
	tui_arena_free(&t->chunks);
	free(t->all);
	free(t->hash);
	free(t->slots);
}

/* ------------------------------------------------------------ the model */

/* A distinct stack. */
struct tui_stk {
	const uint64_t *pcs;       /* the reader's copy (lives as long as the reader) */
	uint32_t depth;
	bool top_done, frames_done;
	uint32_t loc;              /* interned location of the top user frame (0: none) */
	const struct tui_frame *top;
	struct tui_frame *frames;
	size_t nframes;
};

/* The top user frame of a stack, compared for the pair grouping. */
struct tui_locinfo {
	const char *function, *file;
	unsigned line;
};

struct tui_thr {
	uint32_t tid;
	bool in_aborts;            /* met in an abort (either side) */
	uint64_t aborts, wasted_ns, caused;
	uint64_t commits;          /* latest THREADS count */
};

struct tui_model {
	struct rec_reader *r;
	struct rec_symbolizer *sym;
	struct tui_strings str;
	struct tui_map raw_strings; /* a symbolizer string's address -> interned index */

	struct tui_abort *ab;
	size_t nab, capab;

	struct tui_stk *stk;       /* [0] unused: handle 0 is "none" */
	size_t nstk, capstk;
	struct tui_map stack_ids;  /* recorded id -> handle */

	struct tui_block *blk;     /* [0] unused */
	size_t nblk, capblk;
	struct tui_map site_ids;
	bool commits_seen;
	/* The unknown block (handle 0): the blocks a recording had no site id
	 * left for (site 0) and sites no SITE record described. */
	uint64_t unknown_aborts;
	uint64_t unknown_commits;  /* the latest COMMITS count of site 0 */

	struct tui_thr *thr;
	size_t nthr, capthr;
	struct tui_map tids;       /* tid -> index + 1 */
	size_t nthr_aborts;        /* of which met in aborts */
	bool threads_seen;         /* a THREADS record was read */
	struct tui_thread *threads_out;

	struct tui_locinfo *locs;  /* [0] unused */
	size_t nlocs, caplocs;
	struct tui_map loc_ids;

	struct tui_summary sum;
	uint64_t gen;              /* counts updates that read something */
	bool have_header;
	uint64_t stats_commits;
	bool damaged, oom;
	char reader_warning[600];
	char *warnings;            /* what tui_model_warning returns */
	struct tui_chunk *frames_arena;
	struct tui_triples *triples; /* the views' per-abort keys, made when first needed */
};

static void tui_triples_free(struct tui_triples *x);

static const char *const tui_kind_names[] = {
	/* enum lucid_abort_reason, as lucid_abort_reason_name() names them
	 * (tests/check_model.c compares the two). */
	"rw", "ww", "read-invalid", "write-invalid", "commit-invalid",
	"abort", "retry", "capacity", "irrevocable",
};

const char *tui_kind_name(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof(tui_kind_names) / sizeof(tui_kind_names[0]))
		return "unknown";
	return tui_kind_names[reason];
}

bool tui_kind_is_conflict(int reason)
{
	return reason >= 0 && reason <= 4;
}

void tui_side_text(char *buf, size_t len, const struct tui_loc *l)
{
	const char *base = strrchr(l->file, '/');

	base = base ? base + 1 : l->file;
	if (!l->stack)
		snprintf(buf, len, "?");
	else if (l->line)
		snprintf(buf, len, "%s %s:%u", l->function, base, l->line);
	else
		snprintf(buf, len, "%s", l->function);
}

void tui_row_other_text(char *buf, size_t len, const struct tui_row *r)
{
	if (r->kind >= 0 && !tui_kind_is_conflict(r->kind))
		snprintf(buf, len, "-");
	else
		tui_side_text(buf, len, &r->other);
}

void tui_row_kind_text(char *buf, size_t len, const struct tui_row *r)
{
	const char *k = r->kind < 0 ? "mixed" : tui_kind_name(r->kind);

	if (!r->false_conflicts)
		snprintf(buf, len, "%s", k);
	else if (r->false_conflicts == r->aborts)
		snprintf(buf, len, "%s false", k);
	else
		snprintf(buf, len, "%s %" PRIu64 " false", k, r->false_conflicts);
}

/* Handle for a recorded id (0 when unknown). */
static uint32_t tui_handle(const struct tui_map *ids, uint32_t id)
{
	return id ? tui_map_get(ids, id, 0) : 0;
}

static int tui_on_header(struct tui_model *m, const struct rec_header *h)
{
	size_t len = 0;
	char *cmd, *p;

	if (m->have_header)
		return 0;
	m->have_header = true;
	m->sum.program = tui_intern_escaped(&m->str, h->program);
	m->sum.pid = h->pid;
	m->sum.start_realtime_ns = h->start_realtime_ns;
	m->sum.start_mono_ns = h->start_mono_ns;
	if (m->sum.end_mono_ns < h->start_mono_ns)
		m->sum.end_mono_ns = h->start_mono_ns;
	for (uint32_t i = 0; i < h->argc; i++)
		len += strlen(h->argv[i]) + 1;
	cmd = p = malloc(len + 1);
	if (!cmd)
		return -ENOMEM;
	*p = '\0';
	for (uint32_t i = 0; i < h->argc; i++)
		p += sprintf(p, "%s%s", i ? " " : "", h->argv[i]);
	m->sum.cmdline = tui_intern_escaped(&m->str, cmd);
	free(cmd);
	return m->sum.program && m->sum.cmdline ? 0 : -ENOMEM;
}

static int tui_on_stack(struct tui_model *m, const struct rec_stack *s)
{
	if (tui_reserve((void **)&m->stk, &m->capstk, m->nstk + 1, sizeof(*m->stk)) < 0)
		return -ENOMEM;
	m->stk[m->nstk] = (struct tui_stk){ .pcs = s->pcs, .depth = s->depth };
	if (tui_map_put(&m->stack_ids, s->id, 0, (uint32_t)m->nstk) < 0)
		return -ENOMEM;
	m->nstk++;
	m->sum.stacks = (unsigned)(m->nstk - 1);
	return 0;
}

static int tui_on_site(struct tui_model *m, const struct rec_site *s)
{
	struct tui_block *b;

	if (tui_reserve((void **)&m->blk, &m->capblk, m->nblk + 1, sizeof(*m->blk)) < 0)
		return -ENOMEM;
	b = &m->blk[m->nblk];
	*b = (struct tui_block){
		.function = tui_intern_escaped(&m->str, s->function),
		.file = tui_intern_escaped(&m->str, s->file),
		.line = s->line,
		.abort_rate = -1,
	};
	if (!b->function || !b->file || tui_map_put(&m->site_ids, s->id, 0, (uint32_t)m->nblk) < 0)
		return -ENOMEM;
	m->nblk++;
	m->sum.blocks = (unsigned)(m->nblk - 1);
	return 0;
}

/* The index of tid's entry, added when new; -1 on out of memory. */
static long tui_thread_index(struct tui_model *m, uint32_t tid)
{
	uint32_t v = tui_map_get(&m->tids, tid, 0);

	if (v)
		return (long)v - 1;
	if (tui_reserve((void **)&m->thr, &m->capthr, m->nthr + 1, sizeof(*m->thr)) < 0 ||
	    tui_map_put(&m->tids, tid, 0, (uint32_t)m->nthr + 1) < 0)
		return -1;
	m->thr[m->nthr] = (struct tui_thr){ .tid = tid };
	return (long)m->nthr++;
}

static void tui_thread_in_aborts(struct tui_model *m, long ti)
{
	if (!m->thr[ti].in_aborts) {
		m->thr[ti].in_aborts = true;
		m->nthr_aborts++;
	}
}

static int tui_on_abort(struct tui_model *m, const struct rec_abort *a)
{
	struct tui_abort *t;
	long ti;

	if (tui_reserve((void **)&m->ab, &m->capab, m->nab + 1, sizeof(*m->ab)) < 0)
		return -ENOMEM;
	t = &m->ab[m->nab];
	*t = (struct tui_abort){
		.mono_ns = a->mono_ns,
		.wasted_ns = a->wasted_ns,
		.address = a->address,
		.other_address = a->other_address,
		.stack = tui_handle(&m->stack_ids, a->stack),
		.alloc_stack = a->flags & REC_ABORT_ALLOC_STACK ? tui_handle(&m->stack_ids, a->alloc_stack) : 0,
		.block = tui_handle(&m->site_ids, a->site),
		.tid = a->tid,
		.attempt = a->attempt > UINT16_MAX ? UINT16_MAX : (uint16_t)a->attempt,
		.reason = a->reason,
		.flags = a->flags,
	};
	if (a->flags & REC_ABORT_OTHER_KNOWN) {
		t->other_stack = tui_handle(&m->stack_ids, a->other_stack);
		t->other_block = tui_handle(&m->site_ids, a->other_site);
		t->other_tid = a->other_tid;
	}
	ti = tui_thread_index(m, a->tid);
	if (ti < 0)
		return -ENOMEM;
	tui_thread_in_aborts(m, ti);
	m->thr[ti].aborts++;
	m->thr[ti].wasted_ns += a->wasted_ns;
	if (t->other_tid) {
		ti = tui_thread_index(m, t->other_tid);
		if (ti < 0)
			return -ENOMEM;
		tui_thread_in_aborts(m, ti);
		m->thr[ti].caused++;
	}
	if (t->block) {
		m->blk[t->block].aborts++;
		m->blk[t->block].wasted_ns += a->wasted_ns;
	} else {
		m->unknown_aborts++;
	}
	m->sum.aborts++;
	if (tui_kind_is_conflict(a->reason))
		m->sum.conflicts++;
	m->sum.wasted_ns += a->wasted_ns;
	if (a->mono_ns > m->sum.end_mono_ns)
		m->sum.end_mono_ns = a->mono_ns;
	m->nab++;
	return 0;
}

static void tui_on_commits(struct tui_model *m, const struct rec_commits *c)
{
	m->commits_seen = true;
	for (uint32_t i = 0; i < c->count; i++) {
		uint32_t b = tui_handle(&m->site_ids, c->pairs[i].site);

		if (b)
			m->blk[b].commits = c->pairs[i].commits;
		else if (c->pairs[i].site == 0)
			m->unknown_commits = c->pairs[i].commits;
	}
}

/* Threads that only committed get an entry too: the table lists them. */
static int tui_on_threads(struct tui_model *m, const struct rec_threads *t)
{
	m->threads_seen = true;
	for (uint32_t i = 0; i < t->count; i++) {
		long ti = tui_thread_index(m, t->pairs[i].tid);

		if (ti < 0)
			return -ENOMEM;
		m->thr[ti].commits = t->pairs[i].commits;
	}
	return 0;
}

static int tui_on_record(struct tui_model *m, const struct rec_record *r)
{
	switch (r->type) {
	case REC_TYPE_HEADER:
		return tui_on_header(m, &r->header);
	case REC_TYPE_STACK:
		return tui_on_stack(m, &r->stack);
	case REC_TYPE_SITE:
		return tui_on_site(m, &r->site);
	case REC_TYPE_ABORT:
		return tui_on_abort(m, &r->abort);
	case REC_TYPE_COMMITS:
		tui_on_commits(m, &r->commits);
		return 0;
	case REC_TYPE_DROPS:
		m->sum.dropped = r->drops.dropped;
		return 0;
	case REC_TYPE_STATS:
		m->sum.finished = true;
		m->stats_commits = r->stats.commits;
		m->sum.process_aborts = r->stats.aborts;
		return 0;
	case REC_TYPE_THREADS:
		return tui_on_threads(m, &r->threads);
	}
	return 0; /* MODULE: the reader keeps the map */
}

static void tui_note_reader(struct tui_model *m)
{
	const char *w = rec_reader_warning(m->r);

	snprintf(m->reader_warning, sizeof(m->reader_warning), "%s", w ? w : "");
}

enum tui_update tui_model_update(struct tui_model *m)
{
	bool any = false;

	if (m->damaged)
		return TUI_UPDATE_DAMAGED;
	for (;;) {
		struct rec_event ev;
		int st = rec_reader_next(m->r, &ev);

		if (st == REC_OK) {
			if (tui_on_record(m, &ev.r) < 0) {
				snprintf(m->reader_warning, sizeof(m->reader_warning),
					 "%s: out of memory at offset %" PRIu64 "; the report shows what "
					 "came before", m->sum.path, ev.offset);
				m->oom = true;
				return TUI_UPDATE_ERROR;
			}
			any = true;
			continue;
		}
		if (any && st != REC_EOF && st != REC_AGAIN)
			m->gen++;
		if (st == REC_DAMAGED) {
			m->damaged = true;
			tui_note_reader(m);
			return TUI_UPDATE_DAMAGED;
		}
		if (st == REC_ERROR) {
			tui_note_reader(m);
			return TUI_UPDATE_ERROR;
		}
		/* REC_EOF or REC_AGAIN: the end of what is there now. */
		if (any)
			m->gen++;
		if (st == REC_AGAIN)
			tui_note_reader(m);
		else if (!m->oom)
			m->reader_warning[0] = '\0';
		break;
	}
	return any ? TUI_UPDATE_NEW : TUI_UPDATE_NONE;
}

struct tui_model *tui_model_open(const char *path, char *err, size_t errlen)
{
	struct tui_model *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->r = rec_reader_open(path, err, errlen);
	if (!m->r) {
		free(m);
		return NULL;
	}
	m->sym = rec_sym_new(m->r);
	/* Handle 0 of stacks, blocks and locations means "none". */
	m->nstk = m->nblk = m->nlocs = 1;
	if (!m->sym ||
	    tui_reserve((void **)&m->stk, &m->capstk, 1, sizeof(*m->stk)) < 0 ||
	    tui_reserve((void **)&m->blk, &m->capblk, 1, sizeof(*m->blk)) < 0 ||
	    tui_reserve((void **)&m->locs, &m->caplocs, 1, sizeof(*m->locs)) < 0 ||
	    !(m->sum.path = tui_intern_escaped(&m->str, path)) ||
	    !(m->sum.program = m->sum.cmdline = tui_intern_escaped(&m->str, ""))) {
		snprintf(err, errlen, "out of memory");
		tui_model_free(m);
		return NULL;
	}
	memset(&m->stk[0], 0, sizeof(m->stk[0]));
	memset(&m->blk[0], 0, sizeof(m->blk[0]));
	memset(&m->locs[0], 0, sizeof(m->locs[0]));
	tui_model_update(m);
	return m;
}

void tui_model_free(struct tui_model *m)
{
	if (!m)
		return;
	for (size_t i = 1; i < m->nstk; i++)
		free(m->stk[i].frames);
	free(m->stk);
	free(m->ab);
	free(m->blk);
	free(m->thr);
	free(m->threads_out);
	free(m->locs);
	free(m->warnings);
	tui_map_free(&m->stack_ids);
	tui_map_free(&m->site_ids);
	tui_map_free(&m->tids);
	tui_map_free(&m->loc_ids);
	tui_map_free(&m->raw_strings);
	tui_strings_free(&m->str);
	tui_arena_free(&m->frames_arena);
	tui_triples_free(m->triples);
	rec_sym_free(m->sym);
	rec_reader_close(m->r);
	free(m);
}

const char *tui_model_warning(struct tui_model *m)
{
	const char *sw = m->sym ? rec_sym_warning(m->sym) : NULL;
	size_t a = strlen(m->reader_warning), b = sw ? strlen(sw) : 0;
	char *w;

	if (!a && !b)
		return NULL;
	w = realloc(m->warnings, a + b + 2);
	if (!w)
		return m->reader_warning[0] ? m->reader_warning : sw;
	m->warnings = w;
	/* The symbolizer's lines end with a newline; the reader's does not. */
	snprintf(w, a + b + 2, "%s%s%s", m->reader_warning, a && b ? "\n" : "", sw ? sw : "");
	if (a + b && w[strlen(w) - 1] == '\n')
		w[strlen(w) - 1] = '\0';
	return w;
}

bool tui_model_finished(const struct tui_model *m)
{
	return m->sum.finished;
}

void tui_model_summary(const struct tui_model *m, struct tui_summary *s)
{
	*s = m->sum;
	if (s->end_mono_ns < s->start_mono_ns)
		s->end_mono_ns = s->start_mono_ns;
	s->duration_ns = s->end_mono_ns - s->start_mono_ns;
	if (m->sum.finished) {
		s->commits = m->stats_commits;
	} else {
		s->commits = m->unknown_commits;
		for (size_t i = 1; i < m->nblk; i++)
			s->commits += m->blk[i].commits;
	}
	s->threads = (unsigned)m->nthr_aborts;
	s->wasted_share = s->duration_ns && s->threads
		? (double)s->wasted_ns / ((double)s->duration_ns * s->threads) : 0;
}

uint64_t tui_model_aborts(const struct tui_model *m)
{
	return m->nab;
}

bool tui_model_abort(const struct tui_model *m, uint64_t i, struct tui_abort *out)
{
	if (i >= m->nab)
		return false;
	*out = m->ab[i];
	return true;
}

const struct tui_block *tui_model_block(const struct tui_model *m, uint32_t b)
{
	struct tui_block *k;

	if (!b || b >= m->nblk)
		return NULL;
	k = &m->blk[b];
	if (!m->commits_seen)
		k->abort_rate = -1;
	else
		k->abort_rate = k->aborts + k->commits
			? (double)k->aborts / (double)(k->aborts + k->commits) : 0;
	return k;
}

/* ------------------------------------------------------------ frames */

struct tui_rawframes {
	struct rec_frame *v;
	size_t n, cap;
	bool oom;
};

static int tui_collect(const struct rec_frame *f, void *arg)
{
	struct tui_rawframes *fr = arg;

	if (tui_reserve((void **)&fr->v, &fr->cap, fr->n + 1, sizeof(*fr->v)) < 0) {
		fr->oom = true;
		return 1;
	}
	fr->v[fr->n++] = *f;
	return 0;
}

/* Lucid's own frames, which reports leave out (see model.h). */
static bool tui_lucid_frame(const struct rec_frame *f)
{
	const char *base;

	if (f->inlined && f->file && strstr(f->file, "include/lucid/"))
		return true;
	if (f->function && strncmp(f->function, "lucid_", 6) == 0)
		return true;
	if (f->module) {
		base = strrchr(f->module, '/');
		base = base ? base + 1 : f->module;
		if (strncmp(base, "liblucid.", 9) == 0)
			return true;
	}
	return false;
}

/* The interned, escaped copy of a symbolizer string, found by address
 * first (the symbolizer's strings stay put), so that escaping runs once
 * per distinct string. */
static const char *tui_sym_string(struct tui_model *m, const char *raw)
{
	uint32_t k = tui_map_get(&m->raw_strings, (uintptr_t)raw, 0);

	if (!k) {
		k = tui_intern_escaped_num(&m->str, raw);
		if (!k || tui_map_put(&m->raw_strings, (uintptr_t)raw, 0, k) < 0)
			return NULL;
	}
	return m->str.all[k - 1];
}

/* Appends the user frames at one PC; -ENOMEM on failure. */
static int tui_frames_at(struct tui_model *m, uint64_t pc, struct tui_frame **v, size_t *n,
			 size_t *cap)
{
	struct tui_rawframes fr = { NULL, 0, 0, false };
	int rc = rec_sym_lookup(m->sym, pc, true, tui_collect, &fr);

	if (rc < 0 || fr.oom) {
		free(fr.v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < fr.n; i++) {
		const struct rec_frame *f = &fr.v[i];
		struct tui_frame t = { .line = f->line, .pc = pc, .inlined = f->inlined };
		char hex[24];

		if (tui_lucid_frame(f))
			continue;
		if (!f->function || strcmp(f->function, "??") == 0) {
			snprintf(hex, sizeof(hex), "0x%" PRIx64, pc);
			t.function = tui_intern(&m->str, hex, strlen(hex));
		} else {
			t.function = tui_sym_string(m, f->function);
		}
		t.file = tui_sym_string(m, f->file ? f->file : "??");
		t.module = tui_sym_string(m, f->module ? f->module : "??");
		if (!t.function || !t.file || !t.module ||
		    tui_reserve((void **)v, cap, *n + 1, sizeof(**v)) < 0) {
			free(fr.v);
			return -ENOMEM;
		}
		(*v)[(*n)++] = t;
	}
	free(fr.v);
	return 0;
}

const struct tui_frame *tui_model_frames(struct tui_model *m, uint32_t stack, size_t *n)
{
	struct tui_stk *s;
	struct tui_frame *v = NULL;
	size_t nv = 0, cap = 0;

	*n = 0;
	if (!stack || stack >= m->nstk)
		return NULL;
	s = &m->stk[stack];
	if (!s->frames_done) {
		for (uint32_t i = 0; i < s->depth; i++)
			if (tui_frames_at(m, s->pcs[i], &v, &nv, &cap) < 0) {
				free(v);
				return NULL;
			}
		s->frames = v;
		s->nframes = nv;
		s->frames_done = true;
	}
	*n = s->nframes;
	return s->frames;
}

/* Interns the location of a top frame; 0 on out of memory. Strings are
 * interned, so (function, file, line) compare as pointers; unsymbolized
 * frames differ by their function, the PC in hex. */
static uint32_t tui_loc_of(struct tui_model *m, const struct tui_frame *f)
{
	/* User-space pointers fit in 48 bits; the line takes the rest. */
	uint64_t k1 = (uintptr_t)f->function;
	uint64_t k2 = (uintptr_t)f->file | (uint64_t)(f->line < 0xffff ? f->line : 0xffff) << 48;
	uint32_t v = tui_map_get(&m->loc_ids, k1, k2);

	if (v && m->locs[v].line == f->line)
		return v;
	if (!v) {
		/* Only a line beyond 65534 can share a key: look for it. */
		for (size_t i = 1; f->line >= 0xffff && i < m->nlocs; i++)
			if (m->locs[i].function == f->function && m->locs[i].file == f->file &&
			    m->locs[i].line == f->line)
				return (uint32_t)i;
	}
	if (tui_reserve((void **)&m->locs, &m->caplocs, m->nlocs + 1, sizeof(*m->locs)) < 0)
		return 0;
	m->locs[m->nlocs] = (struct tui_locinfo){ f->function, f->file, f->line };
	if (!v && tui_map_put(&m->loc_ids, k1, k2, (uint32_t)m->nlocs) < 0)
		return 0;
	return (uint32_t)m->nlocs++;
}

/* Computes the stack's top user frame and its location, symbolizing only
 * as many PCs as needed. */
static void tui_stack_top(struct tui_model *m, uint32_t stack)
{
	struct tui_stk *s = &m->stk[stack];

	if (s->top_done)
		return;
	if (s->frames_done) {
		s->top = s->nframes ? &s->frames[0] : NULL;
	} else {
		for (uint32_t i = 0; i < s->depth && !s->top; i++) {
			struct tui_frame *v = NULL;
			size_t nv = 0, cap = 0;

			if (tui_frames_at(m, s->pcs[i], &v, &nv, &cap) < 0) {
				free(v);
				return; /* out of memory: try again next time */
			}
			if (nv) {
				struct tui_frame *keep = tui_arena_alloc(&m->frames_arena, sizeof(*keep));

				if (!keep) {
					free(v);
					return;
				}
				*keep = v[0];
				s->top = keep;
			}
			free(v);
		}
	}
	s->loc = s->top ? tui_loc_of(m, s->top) : 0;
	s->top_done = !s->top || s->loc;
}

const struct tui_frame *tui_model_top_frame(struct tui_model *m, uint32_t stack)
{
	if (!stack || stack >= m->nstk)
		return NULL;
	tui_stack_top(m, stack);
	return m->stk[stack].top;
}

/* ------------------------------------------------------------ threads */

static int tui_thread_cmp(const void *a, const void *b)
{
	const struct tui_thread *x = a, *y = b;

	if (x->wasted_ns != y->wasted_ns)
		return x->wasted_ns > y->wasted_ns ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

const struct tui_thread *tui_model_threads(struct tui_model *m, size_t *n)
{
	struct tui_summary s;
	struct tui_thread *t;

	*n = 0;
	if (!m->nthr)
		return NULL;
	t = realloc(m->threads_out, m->nthr * sizeof(*t));
	if (!t)
		return NULL;
	m->threads_out = t;
	tui_model_summary(m, &s);
	for (size_t i = 0; i < m->nthr; i++) {
		const struct tui_thr *h = &m->thr[i];

		t[i] = (struct tui_thread){
			.tid = h->tid,
			.aborts = h->aborts,
			.wasted_ns = h->wasted_ns,
			.wasted_share = s.duration_ns ? (double)h->wasted_ns / (double)s.duration_ns : 0,
			.caused = h->caused,
			.commits = h->commits,
			.commits_known = m->threads_seen,
			.abort_rate = !m->threads_seen ? -1
				      : h->aborts + h->commits ? (double)h->aborts / (double)(h->aborts + h->commits)
				      : 0,
		};
	}
	if (m->nthr > 1)
		qsort(t, m->nthr, sizeof(*t), tui_thread_cmp);
	*n = m->nthr;
	return t;
}

/* ------------------------------------------------------------ names */

static const char *const tui_group_names[TUI_GROUPS] = {
	"pair", "block", "address", "function", "thread", "stacks",
};
static const char *const tui_sort_names[TUI_SORTS] = { "wasted", "aborts", "rate" };

const char *tui_group_name(enum tui_group g)
{
	return (unsigned)g < TUI_GROUPS ? tui_group_names[g] : "unknown";
}

int tui_group_parse(const char *name)
{
	for (int i = 0; i < TUI_GROUPS; i++)
		if (strcmp(name, tui_group_names[i]) == 0)
			return i;
	return -1;
}

const char *tui_sort_name(enum tui_sort s)
{
	return (unsigned)s < TUI_SORTS ? tui_sort_names[s] : "unknown";
}

int tui_sort_parse(const char *name)
{
	for (int i = 0; i < TUI_SORTS; i++)
		if (strcmp(name, tui_sort_names[i]) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------ views */

/*
 * A group while a view is computed and after: compact, since a million
 * aborts may make hundreds of thousands of groups and the pass over the
 * aborts touches one group per abort. The row that callers see is made
 * on first access (tui_view_row).
 */
struct tui_grp {
	uint64_t k1, k2;
	uint64_t aborts, wasted_ns, false_conflicts;
	uint64_t first_abort;      /* its first abort (file order) */
	uint64_t first_ns, last_ns;
	uint64_t start;            /* its first member in members[] */
	uint32_t block;            /* the block most of its aborts ran */
	uint32_t block_count;      /* aborts that ran it, while counting */
	int32_t kind;              /* the reason, -1 mixed */
	uint32_t brow;             /* while counting: its row of block counts + 1 (tui_blocks) */
	struct tui_row *row;       /* made on first access */
};

/* What rows are sorted by, copied out of the groups so that the sort
 * moves small elements. */
struct tui_sortkey {
	union {
		uint64_t u;
		double d;
	} primary;
	uint64_t aborts, wasted_ns, first_abort;
	uint32_t idx;
};

struct tui_view {
	struct tui_model *m;
	struct tui_query q;
	char *filter;
	struct tui_grp *g;         /* groups, in sort order after the refresh */
	size_t ng, capg;
	size_t nrows;              /* after the limit */
	uint64_t *members;         /* abort indices, by group */
	size_t capmembers;
	struct tui_view_totals tot;
	uint64_t start_ns, end_ns; /* the run, for histograms */
	uint64_t wasted_all;       /* the model's wasted time, for shares */
	uint64_t gen;              /* the model's generation the groups are of */
	bool valid;                /* the groups are those of q (but for sort, limit) */
	struct tui_chunk *rows;    /* rows and labels made so far */
};

static uint32_t tui_stack_loc(struct tui_model *m, uint32_t stack)
{
	if (!stack)
		return 0;
	tui_stack_top(m, stack);
	return m->stk[stack].loc;
}

/* The group key of abort a under grouping g. */
static void tui_key(struct tui_model *m, enum tui_group g, const struct tui_abort *a, uint64_t *k1,
		    uint64_t *k2)
{
	const struct tui_frame *top;

	switch (g) {
	case TUI_GROUP_PAIR:
		*k1 = a->reason;
		*k2 = (uint64_t)tui_stack_loc(m, a->stack) << 32 | tui_stack_loc(m, a->other_stack);
		return;
	case TUI_GROUP_BLOCK:
		*k1 = 0;
		*k2 = a->block;
		return;
	case TUI_GROUP_ADDRESS:
		*k1 = 0;
		*k2 = a->address;
		return;
	case TUI_GROUP_FUNCTION:
		top = a->stack ? tui_model_top_frame(m, a->stack) : NULL;
		*k1 = 0;
		*k2 = top ? (uintptr_t)top->function : 0;
		return;
	case TUI_GROUP_THREAD:
		*k1 = 0;
		*k2 = a->tid;
		return;
	case TUI_GROUP_STACKS:
	default:
		*k1 = a->reason;
		*k2 = (uint64_t)a->stack << 32 | a->other_stack;
		return;
	}
}

/* ------------------------------------------------------------ triples */

/*
 * The distinct (reason, stack, other stack) of the model's aborts,
 * numbered as first met, and each abort's number: made once, when a view
 * first needs them, and for the new aborts after an update. The keys of
 * the pair, function and exact-stack groupings, the filter's verdict and
 * a row's stack pairs depend on an abort's triple only, so a view's pass
 * looks them up per triple (a few thousand) instead of per abort (a
 * million), and a row counts its stack pairs with an array, not a map.
 */
struct tui_triple {
	uint32_t stack, other_stack;
	uint32_t pair;             /* its (stack, other stack)'s number */
	uint8_t reason;
};

struct tui_triples {
	uint32_t *of;              /* [abort]: its triple's number */
	size_t done, capof;        /* aborts numbered so far */
	struct tui_triple *t;
	size_t n, cap;
	struct tui_map ids;        /* (reason, stacks) -> triple + 1 */
	struct tui_map pair_ids;   /* (stack, other stack) -> pair + 1 */
	uint32_t *pair_slot;       /* [pair]: scratch of tui_row_pairs, all 0 between calls */
	size_t npairs, cappairs;
	/* The filter of the last filtered view and its verdicts, kept for
	 * the next view with the same one: per stack and per triple, 0
	 * unknown, 1 no, 2 yes. */
	char *filter;
	uint8_t *stack_match, *triple_match;
	size_t nsm, capsm, ntm, captm; /* entries in use (zeroed) */
};

static void tui_triples_free(struct tui_triples *x)
{
	if (!x)
		return;
	free(x->of);
	free(x->t);
	tui_map_free(&x->ids);
	tui_map_free(&x->pair_ids);
	free(x->pair_slot);
	free(x->filter);
	free(x->stack_match);
	free(x->triple_match);
	free(x);
}

/* The number of a new triple's stack pair; -1 on out of memory. */
static long tui_pair_number(struct tui_triples *x, uint32_t stack, uint32_t other)
{
	uint32_t v = tui_map_get(&x->pair_ids, stack, other);

	if (v)
		return (long)v - 1;
	if (tui_reserve((void **)&x->pair_slot, &x->cappairs, x->npairs + 1, sizeof(*x->pair_slot)) < 0 ||
	    tui_map_put(&x->pair_ids, stack, other, (uint32_t)x->npairs + 1) < 0)
		return -1;
	x->pair_slot[x->npairs] = 0;
	return (long)x->npairs++;
}

/* Numbers the aborts read since the last call; 0 or -ENOMEM (those
 * numbered stay so). */
static int tui_triples_update(struct tui_model *m)
{
	struct tui_triples *x = m->triples;
	uint64_t lk1 = 0, lk2 = 0;
	uint32_t last = 0;
	size_t i;

	if (!x && !(x = m->triples = calloc(1, sizeof(*x))))
		return -ENOMEM;
	if (x->done == m->nab)
		return 0;
	if (tui_reserve((void **)&x->of, &x->capof, m->nab, sizeof(*x->of)) < 0)
		return -ENOMEM;
	for (i = x->done; i < m->nab; i++) {
		const struct tui_abort *a = &m->ab[i];
		uint64_t k1 = a->reason, k2 = (uint64_t)a->stack << 32 | a->other_stack;

		/* A hot spot repeats: try the previous abort's triple first. */
		if (!last || k1 != lk1 || k2 != lk2) {
			uint32_t v = tui_map_get(&x->ids, k1, k2);

			if (!v) {
				long pair = tui_pair_number(x, a->stack, a->other_stack);

				if (pair < 0 ||
				    tui_reserve((void **)&x->t, &x->cap, x->n + 1, sizeof(*x->t)) < 0 ||
				    tui_map_put(&x->ids, k1, k2, (uint32_t)x->n + 1) < 0)
					break;
				x->t[x->n] = (struct tui_triple){ a->stack, a->other_stack, (uint32_t)pair,
								 a->reason };
				v = (uint32_t)++x->n;
			}
			last = v;
			lk1 = k1;
			lk2 = k2;
		}
		x->of[i] = last - 1;
	}
	x->done = i;
	return i == m->nab ? 0 : -ENOMEM;
}

/* Makes the model's filter verdicts those of filter, for every stack and
 * triple so far; 0 or -ENOMEM. */
static int tui_filter_prepare(struct tui_model *m, const char *filter)
{
	struct tui_triples *x = m->triples;

	if (!x->filter || strcmp(x->filter, filter) != 0) {
		char *f = strdup(filter);

		if (!f)
			return -ENOMEM;
		free(x->filter);
		x->filter = f;
		x->nsm = x->ntm = 0;
	}
	if (tui_reserve((void **)&x->stack_match, &x->capsm, m->nstk, 1) < 0 ||
	    tui_reserve((void **)&x->triple_match, &x->captm, x->n, 1) < 0)
		return -ENOMEM;
	if (x->nsm < m->nstk)
		memset(x->stack_match + x->nsm, 0, m->nstk - x->nsm);
	if (x->ntm < x->n)
		memset(x->triple_match + x->ntm, 0, x->n - x->ntm);
	x->nsm = m->nstk;
	x->ntm = x->n;
	return 0;
}

/* Whether a stack has a frame whose function or file contains the filter. */
static bool tui_stack_matches(struct tui_model *m, uint32_t stack)
{
	struct tui_triples *x = m->triples;
	const struct tui_frame *f;
	bool yes = false;
	size_t n;

	if (!stack)
		return false;
	if (x->stack_match[stack])
		return x->stack_match[stack] == 2;
	f = tui_model_frames(m, stack, &n);
	for (size_t i = 0; i < n && !yes; i++)
		yes = strcasestr(f[i].function, x->filter) || strcasestr(f[i].file, x->filter);
	/* Out of memory while symbolizing: no match this time, not for good. */
	if (m->stk[stack].frames_done)
		x->stack_match[stack] = yes ? 2 : 1;
	return yes;
}

/* Whether either stack of triple t matches the filter (tui_filter_prepare). */
static bool tui_triple_matches(struct tui_model *m, uint32_t t)
{
	struct tui_triples *x = m->triples;
	bool yes;

	if (x->triple_match[t])
		return x->triple_match[t] == 2;
	yes = tui_stack_matches(m, x->t[t].stack) || tui_stack_matches(m, x->t[t].other_stack);
	/* A yes is for good; a no once both verdicts are. */
	if (yes || ((!x->t[t].stack || x->stack_match[x->t[t].stack]) &&
		    (!x->t[t].other_stack || x->stack_match[x->t[t].other_stack])))
		x->triple_match[t] = yes ? 2 : 1;
	return yes;
}

/* One stack pair of a row while counting, with its number. */
struct tui_pair_count {
	struct tui_stack_pair p;
	uint32_t pair;
};

/*
 * Counts the aborts of row i by stack pair into *out (allocated; the
 * caller frees it), in the order first met, each with its first abort as
 * example; with wasted, their wasted time too (which reads each abort;
 * counting alone reads only their triple numbers). Returns how many pairs,
 * or -1 on out of memory.
 */
static long tui_row_pairs(const struct tui_view *v, size_t i, bool wasted, struct tui_pair_count **out)
{
	struct tui_triples *x = v->m->triples;
	struct tui_pair_count *all = NULL;
	size_t n, nall = 0, cap = 0;
	const uint64_t *mem = tui_view_members(v, i, &n);
	long rc = -1;

	*out = NULL;
	for (size_t k = 0; k < n; k++) {
		const struct tui_triple *t = &x->t[x->of[mem[k]]];
		uint32_t s = x->pair_slot[t->pair];

		if (!s) {
			if (tui_reserve((void **)&all, &cap, nall + 1, sizeof(*all)) < 0)
				goto out;
			all[nall] = (struct tui_pair_count){
				{ t->stack, t->other_stack, 0, 0, mem[k] }, t->pair };
			s = x->pair_slot[t->pair] = (uint32_t)++nall;
		}
		all[s - 1].p.aborts++;
		if (wasted)
			all[s - 1].p.wasted_ns += v->m->ab[mem[k]].wasted_ns;
	}
	*out = all;
	all = NULL;
	rc = (long)nall;
out:
	/* Back to all zeros for the next call. */
	for (size_t k = 0; k < nall; k++)
		x->pair_slot[(*out ? *out : all)[k].pair] = 0;
	free(all);
	return rc;
}

static void tui_loc_fill(struct tui_model *m, struct tui_loc *l, uint32_t stack)
{
	const struct tui_frame *f = stack ? tui_model_top_frame(m, stack) : NULL;

	l->stack = stack;
	l->function = f ? f->function : "?";
	l->file = f ? f->file : "?";
	l->line = f ? f->line : 0;
}

/* A side in a row label: also names a file known without its line. */
static void tui_label_side(char *buf, size_t len, const struct tui_loc *l)
{
	const char *base = strrchr(l->file, '/');

	base = base ? base + 1 : l->file;
	if (l->line)
		snprintf(buf, len, "%s %s:%u", l->function, base, l->line);
	else if (strcmp(l->file, "??") && strcmp(l->file, "?"))
		snprintf(buf, len, "%s %s", l->function, base);
	else
		snprintf(buf, len, "%s", l->function);
}

/* The row's label, by grouping, in the view's arena; NULL on out of memory. */
static const char *tui_label(struct tui_view *v, const struct tui_row *r)
{
	char buf[1200], a[560], o[560];
	const struct tui_block *b;
	const struct tui_frame *top;
	const struct tui_abort *first = &v->m->ab[r->first_abort];
	char *p;
	size_t n;

	switch (v->q.group) {
	case TUI_GROUP_PAIR:
	case TUI_GROUP_STACKS:
		tui_label_side(a, sizeof(a), &r->aborted);
		if (r->other.stack) {
			tui_label_side(o, sizeof(o), &r->other);
			snprintf(buf, sizeof(buf), "%s -> %s", a, o);
		} else {
			snprintf(buf, sizeof(buf), "%s", a);
		}
		break;
	case TUI_GROUP_BLOCK:
		b = tui_model_block(v->m, first->block);
		if (!b)
			snprintf(buf, sizeof(buf), "(unknown block)");
		else if (b->line)
			snprintf(buf, sizeof(buf), "%s %s:%u", b->function, b->file, b->line);
		else
			snprintf(buf, sizeof(buf), "%s %s (lucid_run)", b->function, b->file);
		break;
	case TUI_GROUP_ADDRESS:
		if (r->address)
			snprintf(buf, sizeof(buf), "0x%" PRIx64, r->address);
		else
			snprintf(buf, sizeof(buf), "none");
		break;
	case TUI_GROUP_FUNCTION:
		top = first->stack ? tui_model_top_frame(v->m, first->stack) : NULL;
		snprintf(buf, sizeof(buf), "%s", top ? top->function : "(no stack)");
		break;
	case TUI_GROUP_THREAD:
	default:
		snprintf(buf, sizeof(buf), "tid %" PRIu32, r->tid);
		break;
	}
	n = strlen(buf) + 1;
	p = tui_arena_alloc(&v->rows, n);
	if (p)
		memcpy(p, buf, n);
	return p;
}

static int tui_key_cmp(const void *a, const void *b, void *arg)
{
	const struct tui_sortkey *x = a, *y = b;

	if (*(const enum tui_sort *)arg == TUI_SORT_RATE) {
		if (x->primary.d != y->primary.d)
			return x->primary.d > y->primary.d ? -1 : 1;
	} else if (x->primary.u != y->primary.u) {
		return x->primary.u > y->primary.u ? -1 : 1;
	}
	if (x->aborts != y->aborts)
		return x->aborts > y->aborts ? -1 : 1;
	if (x->wasted_ns != y->wasted_ns)
		return x->wasted_ns > y->wasted_ns ? -1 : 1;
	return x->first_abort < y->first_abort ? -1 : x->first_abort > y->first_abort;
}

/* The abort rate a group's row shows: its block's (the unknown block's
 * from its site 0 commits). */
static double tui_grp_rate(struct tui_model *m, const struct tui_grp *g)
{
	const struct tui_block *b = tui_model_block(m, g->block);
	uint64_t n = m->unknown_aborts + m->unknown_commits;

	if (b)
		return b->abort_rate;
	if (g->block || !m->commits_seen)
		return -1;
	return n ? (double)m->unknown_aborts / (double)n : 0;
}

/* Makes row i (its figures, the frames of both sides, its label); NULL
 * on out of memory. */
static struct tui_row *tui_row_make(struct tui_view *v, size_t i)
{
	struct tui_grp *g = &v->g[i];
	struct tui_row *r = tui_arena_alloc(&v->rows, sizeof(*r));
	const struct tui_abort *first = &v->m->ab[g->first_abort];
	struct tui_stack_pair best;
	struct tui_pair_count *pairs;
	long np;

	if (!r)
		return NULL;
	*r = (struct tui_row){
		.aborts = g->aborts,
		.wasted_ns = g->wasted_ns,
		.share = v->wasted_all ? (double)g->wasted_ns / (double)v->wasted_all : 0,
		.kind = g->kind,
		.false_conflicts = g->false_conflicts,
		.block = g->block,
		.abort_rate = tui_grp_rate(v->m, g),
		.first_abort = g->first_abort,
		.first_ns = g->first_ns,
		.last_ns = g->last_ns,
		.tid = first->tid,
		.address = first->address,
	};
	/* Pair and exact-stack rows show the frames of their key; the others
	 * those of their most frequent stack pair. */
	if (v->q.group == TUI_GROUP_PAIR || v->q.group == TUI_GROUP_STACKS) {
		best.stack = first->stack;
		best.other_stack = first->other_stack;
	} else {
		/* The most aborts; of equals, the first met (tui_pair_cmp). */
		np = tui_row_pairs(v, i, false, &pairs);
		if (np <= 0)
			return NULL;
		best = pairs[0].p;
		for (long k = 1; k < np; k++)
			if (pairs[k].p.aborts > best.aborts)
				best = pairs[k].p;
		free(pairs);
	}
	tui_loc_fill(v->m, &r->aborted, best.stack);
	tui_loc_fill(v->m, &r->other, best.other_stack);
	r->label = tui_label(v, r);
	return r->label ? r : NULL;
}

/* Puts the groups in the order of the query's sort key and applies its
 * limit. Members stay where they are: each group knows its own. */
static int tui_view_sort(struct tui_view *v)
{
	struct tui_sortkey *keys = NULL;
	struct tui_grp *sorted = NULL;

	if (v->ng) {
		keys = malloc(v->ng * sizeof(*keys));
		sorted = malloc(v->ng * sizeof(*sorted));
		if (!keys || !sorted) {
			free(keys);
			free(sorted);
			return -ENOMEM;
		}
	}
	for (size_t k = 0; k < v->ng; k++) {
		const struct tui_grp *g = &v->g[k];

		keys[k] = (struct tui_sortkey){ .aborts = g->aborts, .wasted_ns = g->wasted_ns,
						.first_abort = g->first_abort, .idx = (uint32_t)k };
		if (v->q.sort == TUI_SORT_RATE)
			keys[k].primary.d = tui_grp_rate(v->m, g);
		else
			keys[k].primary.u = v->q.sort == TUI_SORT_ABORTS ? g->aborts : g->wasted_ns;
	}
	if (v->ng > 1)
		qsort_r(keys, v->ng, sizeof(*keys), tui_key_cmp, &v->q.sort);
	for (size_t k = 0; k < v->ng; k++)
		sorted[k] = v->g[keys[k].idx];
	if (v->ng)
		memcpy(v->g, sorted, v->ng * sizeof(*v->g));
	free(keys);
	free(sorted);
	v->nrows = v->q.limit && v->q.limit < v->ng ? v->q.limit : v->ng;
	return 0;
}

static void tui_view_empty(struct tui_view *v)
{
	v->valid = false;
	for (size_t k = 0; k < v->ng; k++)
		v->g[k].row = NULL;
	v->ng = v->nrows = 0;
	memset(&v->tot, 0, sizeof(v->tot));
	tui_arena_free(&v->rows);
}

/* The number (from 1) of the group of key (k1, k2), made with abort i as
 * its first when new (always without a map: a key known to be new); 0 on
 * out of memory. */
static uint32_t tui_group_find(struct tui_view *v, struct tui_map *groups, uint64_t k1, uint64_t k2,
			       size_t i)
{
	const struct tui_abort *a = &v->m->ab[i];
	bool fresh = true;
	struct tui_slot *sl = groups ? tui_map_slot(groups, k1, k2, &fresh) : NULL;

	if (groups && !sl)
		return 0;
	if (!fresh)
		return sl->val;
	if (tui_reserve((void **)&v->g, &v->capg, v->ng + 1, sizeof(*v->g)) < 0)
		return 0;
	v->g[v->ng] = (struct tui_grp){
		.k1 = k1, .k2 = k2, .first_abort = i, .first_ns = a->mono_ns,
		.block = a->block, .kind = a->reason,
	};
	v->ng++;
	if (sl)
		sl->val = (uint32_t)v->ng;
	return (uint32_t)v->ng;
}

/*
 * The blocks that a pass's groups ran besides each one's first, counted
 * to find the block most of a group's aborts ran (tui_grp.block): in a
 * row of counts by block handle per group that mixes blocks while these
 * rows stay small, else in a map from (group, block).
 */
struct tui_blocks {
	size_t nblk;               /* block handles are 0 .. nblk - 1 */
	uint32_t *rows;
	size_t nrows, caprows;
	struct tui_map map;        /* (group number, block) -> count + 1 */
	uint32_t *count;
	size_t n, cap;
};

/* Counts an abort of group g (number gnum) that ran block; 0 or -ENOMEM. */
static int tui_blocks_add(struct tui_blocks *bl, struct tui_grp *g, uint32_t gnum, uint32_t block)
{
	struct tui_slot *sl;
	bool fresh;

	if (!g->brow && (bl->nrows + 1) * bl->nblk <= TUI_BLOCK_COUNTS) {
		if (tui_reserve((void **)&bl->rows, &bl->caprows, (bl->nrows + 1) * bl->nblk,
				sizeof(*bl->rows)) < 0)
			return -ENOMEM;
		memset(bl->rows + bl->nrows * bl->nblk, 0, bl->nblk * sizeof(*bl->rows));
		g->brow = (uint32_t)++bl->nrows;
	}
	if (g->brow) {
		bl->rows[(g->brow - 1) * bl->nblk + block]++;
		return 0;
	}
	if (!(sl = tui_map_slot(&bl->map, gnum, block, &fresh)))
		return -ENOMEM;
	if (fresh) {
		if (tui_reserve((void **)&bl->count, &bl->cap, bl->n + 1, sizeof(*bl->count)) < 0)
			return -ENOMEM;
		bl->count[bl->n] = 0;
		sl->val = (uint32_t)++bl->n;
	}
	bl->count[sl->val - 1]++;
	return 0;
}

/* Block b counted c times may be group g's: most aborts first, then the
 * lowest handle, so that the order of the candidates does not matter. */
static void tui_blocks_try(struct tui_grp *g, uint32_t b, uint32_t c)
{
	if (c > g->block_count || (c == g->block_count && b < g->block)) {
		g->block_count = c;
		g->block = b;
	}
}

/* Sets each of the ng groups' block to the one most of its aborts ran. */
static void tui_blocks_choose(const struct tui_blocks *bl, struct tui_grp *g, size_t ng)
{
	for (size_t k = 0; k < ng; k++) {
		const uint32_t *row = g[k].brow ? bl->rows + (g[k].brow - 1) * bl->nblk : NULL;

		for (uint32_t b = 0; row && b < bl->nblk; b++)
			if (row[b])
				tui_blocks_try(&g[k], b, row[b]);
	}
	for (size_t k = 0; k < bl->map.cap; k++) {
		const struct tui_slot *sl = &bl->map.s[k];

		if (sl->val)
			tui_blocks_try(&g[sl->k1 - 1], (uint32_t)sl->k2, bl->count[sl->val - 1]);
	}
}

static void tui_blocks_free(struct tui_blocks *bl)
{
	free(bl->rows);
	tui_map_free(&bl->map);
	free(bl->count);
}

int tui_view_refresh(struct tui_view *v)
{
	struct tui_model *m = v->m;
	struct tui_triples *x;
	struct tui_summary s;
	struct tui_map groups = { NULL, 0, 0 };
	struct tui_blocks blocks = { .nblk = m->nblk };
	uint32_t *gid = NULL, *tgrp = NULL, last = 0;
	uint64_t *pos = NULL, lk1 = 0, lk2 = 0;
	int rc = -ENOMEM;

	tui_view_empty(v);
	tui_model_summary(m, &s);
	v->start_ns = s.start_mono_ns;
	v->end_ns = s.end_mono_ns;
	v->wasted_all = s.wasted_ns;
	if (tui_triples_update(m) < 0 || (v->filter && tui_filter_prepare(m, v->filter) < 0))
		goto out;
	x = m->triples;
	/* These groupings' keys depend on the triple only: each triple's
	 * group is looked up once, at its first abort. */
	if ((v->q.group == TUI_GROUP_PAIR || v->q.group == TUI_GROUP_FUNCTION ||
	     v->q.group == TUI_GROUP_STACKS) &&
	    !(tgrp = calloc(x->n ? x->n : 1, sizeof(*tgrp))))
		goto out;
	if (m->nab && !(gid = malloc(m->nab * sizeof(*gid))))
		goto out;

	/* One pass: each kept abort into its group. */
	for (size_t i = 0; i < m->nab; i++) {
		const struct tui_abort *a = &m->ab[i];
		/* Block, address and thread keys unfiltered need no triple. */
		uint32_t t = v->filter || tgrp ? x->of[i] : 0, cur;
		struct tui_grp *g;
		uint64_t k1, k2;

		if (v->filter && !tui_triple_matches(m, t)) {
			gid[i] = 0;
			continue;
		}
		/* Tens of thousands of groups outgrow the cache. */
		if (tgrp && i + TUI_AHEAD < m->nab && tgrp[x->of[i + TUI_AHEAD]])
			TUI_PREFETCH(&v->g[tgrp[x->of[i + TUI_AHEAD]] - 1]);
		cur = tgrp ? tgrp[t] : 0;
		if (!cur) {
			tui_key(m, v->q.group, a, &k1, &k2);
			/* Runs of aborts of one group are common (a hot spot
			 * repeats): the previous abort's group is tried
			 * before the map. Under exact stacks, a triple new
			 * to the pass is a new group. */
			if (!last || k1 != lk1 || k2 != lk2) {
				last = tui_group_find(v, v->q.group == TUI_GROUP_STACKS ? NULL : &groups, k1, k2,
						      i);
				if (!last)
					goto out;
				lk1 = k1;
				lk2 = k2;
			}
			cur = last;
			if (tgrp)
				tgrp[t] = cur;
		}
		g = &v->g[cur - 1];
		gid[i] = cur;
		g->aborts++;
		g->wasted_ns += a->wasted_ns;
		if (a->flags & REC_ABORT_FALSE_CONFLICT)
			g->false_conflicts++;
		if (g->kind != a->reason)
			g->kind = -1;
		if (a->mono_ns < g->first_ns)
			g->first_ns = a->mono_ns;
		if (a->mono_ns > g->last_ns)
			g->last_ns = a->mono_ns;
		if (a->block == g->block)
			g->block_count++;
		else if (tui_blocks_add(&blocks, g, cur, a->block) < 0)
			goto out;
		v->tot.aborts++;
		v->tot.wasted_ns += a->wasted_ns;
	}
	tui_blocks_choose(&blocks, v->g, v->ng);

	/* Members by group (a counting sort), in file order within each. */
	if (tui_reserve((void **)&v->members, &v->capmembers, v->tot.aborts ? v->tot.aborts : 1,
			sizeof(*v->members)) < 0 ||
	    !(pos = calloc(v->ng + 1, sizeof(*pos))))
		goto out;
	for (size_t k = 0, at = 0; k < v->ng; k++) {
		v->g[k].start = at;
		pos[k + 1] = at;
		at += v->g[k].aborts;
	}
	for (size_t i = 0; i < m->nab; i++)
		if (gid[i])
			v->members[pos[gid[i]]++] = i;
	if (tui_view_sort(v) < 0)
		goto out;
	v->tot.groups = v->ng;
	v->gen = m->gen;
	v->valid = true;
	rc = 0;
out:
	if (rc < 0)
		tui_view_empty(v);
	tui_map_free(&groups);
	tui_blocks_free(&blocks);
	free(tgrp);
	free(gid);
	free(pos);
	return rc;
}

int tui_view_set_query(struct tui_view *v, const struct tui_query *q)
{
	char *f = NULL;
	bool same_filter = (!v->filter && !(q->filter && q->filter[0])) ||
			   (v->filter && q->filter && strcmp(v->filter, q->filter) == 0);

	/* Another sort key or limit over the same groups (a browser key):
	 * sort again, without a pass over the aborts. */
	if (v->valid && v->gen == v->m->gen && q->group == v->q.group && same_filter) {
		v->q.sort = q->sort;
		v->q.limit = q->limit;
		return tui_view_sort(v);
	}
	if (q->filter && q->filter[0] && !(f = strdup(q->filter))) {
		tui_view_empty(v);
		return -ENOMEM;
	}
	free(v->filter);
	v->filter = f;
	v->q = *q;
	v->q.filter = f;
	return tui_view_refresh(v);
}

struct tui_view *tui_view_new(struct tui_model *m, const struct tui_query *q)
{
	struct tui_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->m = m;
	if (tui_view_set_query(v, q) < 0) {
		tui_view_free(v);
		return NULL;
	}
	return v;
}

void tui_view_free(struct tui_view *v)
{
	if (!v)
		return;
	tui_arena_free(&v->rows);
	free(v->g);
	free(v->members);
	free(v->filter);
	free(v);
}

const struct tui_query *tui_view_query(const struct tui_view *v)
{
	return &v->q;
}

size_t tui_view_rows(const struct tui_view *v)
{
	return v->nrows;
}

const struct tui_row *tui_view_row(const struct tui_view *v, size_t i)
{
	if (i >= v->nrows)
		return NULL;
	/* Rows are made for the groups someone looks at: a million aborts
	 * may make a hundred thousand groups. The view is never defined
	 * const, so this cache may be filled here. */
	if (!v->g[i].row)
		v->g[i].row = tui_row_make((struct tui_view *)v, i);
	return v->g[i].row;
}

void tui_view_totals(const struct tui_view *v, struct tui_view_totals *t)
{
	*t = v->tot;
}

const uint64_t *tui_view_members(const struct tui_view *v, size_t i, size_t *n)
{
	if (i >= v->nrows) {
		*n = 0;
		return NULL;
	}
	*n = v->g[i].aborts;
	return v->members + v->g[i].start;
}

uint64_t tui_view_histogram(const struct tui_view *v, size_t i, uint64_t *counts, size_t nbuckets)
{
	return tui_view_histogram_sample(v, i, counts, nbuckets, 0);
}

uint64_t tui_view_histogram_sample(const struct tui_view *v, size_t i, uint64_t *counts, size_t nbuckets,
				   size_t max_samples)
{
	const uint64_t *mem;
	uint64_t span = v->end_ns > v->start_ns ? v->end_ns - v->start_ns : 0, max = 0;
	size_t n, step = 1;

	if (!nbuckets)
		return 0;
	memset(counts, 0, nbuckets * sizeof(*counts));
	mem = tui_view_members(v, i, &n);
	if (max_samples && n > max_samples)
		step = (n + max_samples - 1) / max_samples;
	for (size_t k = 0; k < n; k += step) {
		uint64_t t = v->m->ab[mem[k]].mono_ns, b = 0;

		if (t > v->start_ns && span) {
			t = t - v->start_ns;
			/* t * nbuckets / (span + 1), without overflowing. */
			b = (uint64_t)((unsigned __int128)t * nbuckets / ((unsigned __int128)span + 1));
		}
		if (b >= nbuckets)
			b = nbuckets - 1;
		if (++counts[b] > max)
			max = counts[b];
	}
	return max;
}

char *tui_sparkline(const uint64_t *counts, size_t nbuckets, bool utf8, char *buf, size_t buflen)
{
	static const char ascii[] = "_.-=+*#@";
	uint64_t max = 0;
	size_t out = 0;

	if (!buflen)
		return buf;
	for (size_t i = 0; i < nbuckets; i++)
		if (counts[i] > max)
			max = counts[i];
	for (size_t i = 0; i < nbuckets; i++) {
		/* Level 0..7; any nonzero count shows at least the lowest. */
		unsigned lvl = max ? (unsigned)((counts[i] * 8 - 1) / max) : 0;
		char c[4];
		size_t k;

		if (lvl > 7)
			lvl = 7;
		if (!counts[i]) {
			c[0] = ' ';
			k = 1;
		} else if (utf8) {
			c[0] = (char)0xe2;
			c[1] = (char)0x96;
			c[2] = (char)(0x81 + lvl);
			k = 3;
		} else {
			c[0] = ascii[lvl];
			k = 1;
		}
		if (out + k >= buflen)
			break;
		memcpy(buf + out, c, k);
		out += k;
	}
	buf[out] = '\0';
	return buf;
}

static int tui_pair_cmp(const void *a, const void *b)
{
	const struct tui_stack_pair *x = &((const struct tui_pair_count *)a)->p;
	const struct tui_stack_pair *y = &((const struct tui_pair_count *)b)->p;

	if (x->aborts != y->aborts)
		return x->aborts > y->aborts ? -1 : 1;
	return x->example < y->example ? -1 : x->example > y->example;
}

size_t tui_view_stack_pairs(const struct tui_view *v, size_t i, struct tui_stack_pair *out, size_t max)
{
	struct tui_pair_count *all;
	long nall = tui_row_pairs(v, i, true, &all);

	if (nall < 0) {
		errno = ENOMEM;
		return 0;
	}
	if (nall > 1)
		qsort(all, (size_t)nall, sizeof(*all), tui_pair_cmp);
	for (size_t k = 0; k < (size_t)nall && k < max; k++)
		out[k] = all[k].p;
	free(all);
	return (size_t)nall;
}

static int tui_addr_cmp(const void *a, const void *b)
{
	const struct tui_address *x = a, *y = b;

	if (x->aborts != y->aborts)
		return x->aborts > y->aborts ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return x->other_address < y->other_address ? -1 : x->other_address > y->other_address;
}

size_t tui_view_addresses(const struct tui_view *v, size_t i, struct tui_address *out, size_t max)
{
	struct tui_map seen = { NULL, 0, 0 };
	struct tui_address *all = NULL;
	size_t n, nall = 0, cap = 0;
	const uint64_t *mem = tui_view_members(v, i, &n);

	for (size_t k = 0; k < n; k++) {
		const struct tui_abort *a = &v->m->ab[mem[k]];
		struct tui_address *e;
		struct tui_slot *sl;
		bool fresh;

		sl = tui_map_slot(&seen, a->address, a->other_address, &fresh);
		if (!sl || (fresh && tui_reserve((void **)&all, &cap, nall + 1, sizeof(*all)) < 0))
			goto oom;
		if (fresh) {
			all[nall] = (struct tui_address){ a->address, a->other_address, 0, false, 0 };
			sl->val = (uint32_t)++nall;
		}
		e = &all[sl->val - 1];
		e->aborts++;
		if (a->flags & REC_ABORT_FALSE_CONFLICT)
			e->false_conflict = true;
		if (!e->alloc_stack && a->alloc_stack)
			e->alloc_stack = a->alloc_stack;
	}
	if (nall > 1)
		qsort(all, nall, sizeof(*all), tui_addr_cmp);
	if (nall && max)
		memcpy(out, all, (nall < max ? nall : max) * sizeof(*out));
	tui_map_free(&seen);
	free(all);
	return nall;
oom:
	tui_map_free(&seen);
	free(all);
	errno = ENOMEM;
	return 0;
}

static int tui_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t tui_view_threads(const struct tui_view *v, size_t i, bool other, uint32_t *out, size_t max)
{
	struct tui_map seen = { NULL, 0, 0 };
	uint32_t *all = NULL;
	size_t n, nall = 0, cap = 0;
	const uint64_t *mem = tui_view_members(v, i, &n);

	for (size_t k = 0; k < n; k++) {
		const struct tui_abort *a = &v->m->ab[mem[k]];
		uint32_t tid = other ? a->other_tid : a->tid;
		struct tui_slot *sl;
		bool fresh;

		if (other && !tid)
			continue;
		sl = tui_map_slot(&seen, tid, 0, &fresh);
		if (!sl || (fresh && tui_reserve((void **)&all, &cap, nall + 1, sizeof(*all)) < 0))
			goto oom;
		if (fresh) {
			all[nall] = tid;
			sl->val = (uint32_t)++nall;
		}
	}
	if (nall > 1)
		qsort(all, nall, sizeof(*all), tui_u32_cmp);
	if (nall && max)
		memcpy(out, all, (nall < max ? nall : max) * sizeof(*out));
	tui_map_free(&seen);
	free(all);
	return nall;
oom:
	tui_map_free(&seen);
	free(all);
	errno = ENOMEM;
	return 0;
}
