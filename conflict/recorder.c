/* conflict: the engine's recorder: stack capture, the stack depot, conflict records, the writer thread. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <lucid/common.h>
#include <lucid/conflict.h>
#include "conflict/break.h"
#include "conflict/recorder.h"
#include "conflict/writer.h"
#include "stm/stm-internal.h"

static bool rec_to_file;                     /* a writer thread takes the records */
static bool rec_exact;                       /* something besides the file listens:
                                                every recording attempt notes its
                                                reads' stacks (rec_attempt_start) */
static lucid_abort_hook hook_fn;
static void *hook_arg;
static bool debug_capture;                   /* lucid_debug_capture(), LUCID_CAPTURE */
static bool lazy_for_tests;                  /* rec_test_lazy_reads() */
static bool listeners(void);
static void capture_update(bool capture);

#define RING 16384              /* records a thread can queue between drains */
#define MAX_FRAMES 64           /* frames a stack keeps, from the user's access outwards */
#define WALK_FRAMES (MAX_FRAMES + 24)   /* frames walked for one: Lucid's own come first,
                                           as many as 24, so that every path to a capture
                                           keeps the same user frames of a deep stack */
#define DEPOT_BITS 20           /* at most 2^20 - 1 distinct stacks */
#define MAX_SITES 4096
#define SITE_CACHE 16
#define REC_CTXS 4              /* block contexts a thread keeps checked */
#define SITE_CTX_HINTS 16        /* which of them each block site ran in last */
#define DRAIN_NS 20000000ull    /* the writer drains every 20 ms, flushes every 100 ms */

/* ----------------------------------------------------------- stack depot */

/*
 * One copy of each distinct stack, found by hash in an open-addressing table
 * of ids and stored by id. Lock-free: the capturing thread allocates an id,
 * writes the stack and publishes it with a CAS on the slot; a thread that
 * loses the race for a slot compares with the winner. It never blocks and
 * never needs an RCU section (captures also happen after an attempt ended).
 */
struct depot_stack {
	uint64_t hash;
	uint32_t depth;
	uint32_t emitted;       /* written to the file (writer only) */
	uint64_t pcs[];
};

static uint32_t *depot_slots;                /* 2^(DEPOT_BITS+1) */
static struct depot_stack **depot_by_id;     /* 2^DEPOT_BITS */
static uint32_t depot_next = 1;
static uint64_t depot_full;                  /* stacks not stored: depot full */

static uint64_t hash_pcs(const uint64_t *pcs, uint32_t depth)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ depth;

	for (uint32_t i = 0; i < depth; i++) {
		h ^= pcs[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h ? h : 1;
}

static bool same_stack(const struct depot_stack *s, uint64_t h, const uint64_t *pcs, uint32_t depth)
{
	return s->hash == h && s->depth == depth && memcmp(s->pcs, pcs, depth * sizeof(*pcs)) == 0;
}

static uint32_t depot_put(const uint64_t *pcs, uint32_t depth)
{
	uint64_t h = hash_pcs(pcs, depth);
	uint32_t mask = (1u << (DEPOT_BITS + 1)) - 1;
	struct depot_stack *mine = NULL;
	uint32_t mine_id = 0;

	for (uint32_t i = (uint32_t)h & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
		uint32_t id = __atomic_load_n(&depot_slots[i], __ATOMIC_ACQUIRE);

		if (id) {
			struct depot_stack *s = __atomic_load_n(&depot_by_id[id], __ATOMIC_ACQUIRE);

			if (s && same_stack(s, h, pcs, depth)) {
				/* Lost the race to an equal stack: its id stays unused,
				 * and must not lead to the memory freed here. */
				if (mine)
					__atomic_store_n(&depot_by_id[mine_id], NULL, __ATOMIC_RELEASE);
				free(mine);
				return id;
			}
			continue;
		}
		if (!mine) {
			mine_id = __atomic_fetch_add(&depot_next, 1, __ATOMIC_RELAXED);
			if (mine_id >= (1u << DEPOT_BITS) ||
			    !(mine = malloc(sizeof(*mine) + depth * sizeof(*pcs)))) {
				__atomic_add_fetch(&depot_full, 1, __ATOMIC_RELAXED);
				return 0;
			}
			mine->hash = h;
			mine->depth = depth;
			mine->emitted = 0;
			memcpy(mine->pcs, pcs, depth * sizeof(*pcs));
			__atomic_store_n(&depot_by_id[mine_id], mine, __ATOMIC_RELEASE);
		}
		uint32_t expected = 0;

		if (__atomic_compare_exchange_n(&depot_slots[i], &expected, mine_id, false,
		                                __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
			return mine_id;
		/* Someone filled this slot meanwhile: look at it again. */
		i = (i - 1) & mask;
		n--;
	}
	return 0;
}

static const struct depot_stack *depot_get(uint32_t id)
{
	if (!id || id >= (1u << DEPOT_BITS))
		return NULL;
	return __atomic_load_n(&depot_by_id[id], __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ sites */

struct site {
	const char *file;
	const char *function;
	int line;
	uint64_t pc;
	uint32_t emitted;
};

static pthread_mutex_t site_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct site sites[MAX_SITES];
static uint32_t n_sites = 1;   /* ids start at 1 */

static uint32_t site_find_or_add(const struct stm_open_block *o)
{
	const struct lucid_site_ *s = o->site;
	uint32_t id = 0;

	pthread_mutex_lock(&site_mutex);
	for (uint32_t i = 1; i < n_sites; i++) {
		if (sites[i].file == s->file && sites[i].line == s->line && sites[i].function == s->func) {
			id = i;
			break;
		}
	}
	if (!id && n_sites < MAX_SITES) {
		id = n_sites;
		sites[id] = (struct site){ .file = s->file, .function = s->func, .line = s->line,
		                           .pc = (uint64_t)(uintptr_t)o->pc };
		__atomic_store_n(&n_sites, n_sites + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&site_mutex);
	return id;
}

/* ------------------------------------------------ who wrote an orec last */

/*
 * The side table: who wrote an orec last, so that a read invalidated by a
 * commit that is already over still names it. It is kept as each recording
 * thread's commit history: every update commit appends, for each word it
 * wrote, the word, the write's stack, the orec, the block's site, the
 * thread and the commit time to a ring of its thread's (HIST_WORDS words).
 * A commit stores only to its own thread's lines, one after the other,
 * where a table indexed by orec took a line that another core or an older
 * commit had last written, at random in a large table (the recorded
 * red-black tree at one thread: 0.67 of unrecorded with such a table, 0.74
 * with the histories; BENCHMARKS.md, Session 19).
 *
 * A reader that needs the commit that gave an orec its version looks for
 * that time in the histories: a commit time belongs to one commit, and a
 * thread's commits are appended in the order of their times, so each
 * history is searched by halves. The commit counts where it wrote a word
 * under the orec: the reader's own word if it wrote it (a true conflict),
 * else the first it wrote there (a false one: another word of the stripe,
 * or of a stripe that shares the orec). A commit stays findable until its
 * thread's later commits have written HIST_WORDS words (a commit of more
 * words keeps its last HIST_WORDS). A reader descheduled for a time
 * slice comes back after a fast writer has written thousands: with 2048
 * words, one program found its commit in 75 to 86% of records, with 32768
 * in 99.3 to 99.8%, and the recorded tree ran as fast (BENCHMARKS.md,
 * Session 19).
 *
 * Histories are never freed: a thread that ends gives its history back
 * and a later thread takes it over (its entries name the thread that wrote
 * them), so that a reader may walk them all at any time without a lock.
 */
#define SIDE_WORDS (1u << (LUCID_WORD_SHIFT_ - 3))
/* The stripe holding @p addr, and which of its words @p addr is. */
#define SIDE_STRIPE(addr) ((uint64_t)(addr) & ~(uint64_t)(SIDE_WORDS * 8 - 1))
#define SIDE_WORD(addr) ((unsigned)((uint64_t)(addr) >> 3) % SIDE_WORDS)
#define HIST_WORDS 32768        /* words a thread's history keeps (1 MiB) */

/* One word a commit wrote: a sequence lock on its version (0 while the
 * entry is written again; commit times start at 1). */
struct hist_word {
	uint64_t version;          /* the commit's time */
	uint64_t word;             /* the word's address */
	uint64_t stack_orec;       /* the write's stack id, and its orec's index << 32 */
	uint64_t site_tid;         /* the block's site id, and the thread's id << 32 */
};

struct hist {
	struct hist *next;         /* every history made, newest first */
	uint64_t head;             /* words appended since it was made (written by
	                              its owner, read by others) */
	int owned;                 /* a thread appends to it */
	struct hist_word w[HIST_WORDS] __attribute__((aligned(64)));
};

static struct hist *hist_all;   /* pushed with a CAS, never unlinked */

/* A history for the calling thread: one that a thread gave back, or a new
 * one; NULL if there is no memory (its commits are then not kept). */
static struct hist *hist_take(void)
{
	struct hist *h;

	for (h = __atomic_load_n(&hist_all, __ATOMIC_ACQUIRE); h; h = h->next) {
		int free_ = 0;

		/* Acquire: the last owner's appends come before ours. */
		if (!__atomic_load_n(&h->owned, __ATOMIC_RELAXED) &&
		    __atomic_compare_exchange_n(&h->owned, &free_, 1, false, __ATOMIC_ACQUIRE,
		                                __ATOMIC_RELAXED))
			return h;
	}
	/* Zero pages, touched as the ring fills. */
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	h->owned = 1;
	h->next = __atomic_load_n(&hist_all, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&hist_all, &h->next, h, true, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED))
		;
	return h;
}

static void hist_give_back(struct hist *h)
{
	if (h)
		__atomic_store_n(&h->owned, 0, __ATOMIC_RELEASE);
}

static int walk_stack(uint64_t *ip, uintptr_t *slot, int max);
static uint32_t depot_put_user(const uint64_t *ip, int n, uintptr_t ra, int *first);

/* ------------------------------------------------------ allocation stacks */

/*
 * Blocks from lucid_malloc made while capturing, by start address, in an
 * open-addressing table (claimed by CAS on the start; a freed block becomes
 * a tombstone), so that a conflicting word inside one can name the stack
 * that allocated it. A lookup tries the starts up to ALLOC_BACK bytes before
 * the word (the typical node, list or tree, is small): blocks whose start is
 * further away are not found. A full table just forgets new blocks.
 *
 * A word in no such block (a static or malloc'd array: every conflict of
 * the bank) would try all those starts, each a miss that probes on past
 * the tombstones, at every abort: thousands of cache misses. So lookups
 * stop after the longest probe any insertion took (an insertion reuses the
 * first tombstone it meets, so that stays short), and a bitmap of the pages
 * where blocks started (hashed, never cleared) tells at once that no block
 * starts in the word's page or the one before.
 */
#define ALLOC_BITS 18
#define ALLOC_BACK 4096
#define ALLOC_GONE ((uintptr_t)1)
#define ALLOC_PAGE_BITS 20      /* bits in the bitmap of pages */
_Static_assert(ALLOC_BACK <= 4096, "a lookup looks at the word's page and the one before");

struct alloc_slot {
	uintptr_t start;            /* 0 free, ALLOC_GONE freed */
	uint64_t size;
	uint32_t stack;
};

static struct alloc_slot *alloc_table;
static uint64_t *alloc_pages;   /* bit per hashed 4 KiB page where a block started */
static unsigned alloc_probes;   /* the longest probe an insertion took, less one */

static size_t alloc_page_bit(uintptr_t addr)
{
	return (size_t)((addr >> 12) * 0x9E3779B97F4A7C15ull >> (64 - ALLOC_PAGE_BITS));
}

static bool alloc_page_has(uintptr_t addr)
{
	size_t b = alloc_page_bit(addr);

	return __atomic_load_n(&alloc_pages[b / 64], __ATOMIC_RELAXED) & (1ull << (b % 64));
}

/* Blocks allocated one after the other lie close together, and so do
 * their slots (the address's 16-byte granule, folded): an allocation or a
 * free finds its slot in a cache line that a recent one brought in, where
 * a scattering hash cost a cache miss at each (6 MiB of table). */
static size_t alloc_hash(uintptr_t start)
{
	return (size_t)((start >> 4) ^ (start >> (4 + ALLOC_BITS))) & (((size_t)1 << ALLOC_BITS) - 1);
}

static struct alloc_slot *alloc_lookup(uintptr_t start)
{
	size_t mask = ((size_t)1 << ALLOC_BITS) - 1;

	unsigned probes = __atomic_load_n(&alloc_probes, __ATOMIC_RELAXED);

	for (size_t i = alloc_hash(start), n = 0; n <= probes; i = (i + 1) & mask, n++) {
		uintptr_t s = __atomic_load_n(&alloc_table[i].start, __ATOMIC_ACQUIRE);

		if (s == start)
			return &alloc_table[i];
		if (s == 0)
			return NULL;
	}
	return NULL;
}

void rec_alloc(void *p, size_t size)
{
	struct stm_tx *tx = stm_self_if_any();
	size_t mask = ((size_t)1 << ALLOC_BITS) - 1;
	uintptr_t start = (uintptr_t)p;

	if (!alloc_table || !p || !tx)
		return;
	uint32_t stack;

	if (tx->nesting > 0 && tx->rec_on && tx->rec) {
		/* In an attempt: memoized like an access, under its block context. */
		stack = rec_stack_memo(tx);
	} else {
		/* Outside an attempt there is no block context to key a memo with. */
		uint64_t ip[WALK_FRAMES];
		uintptr_t slot[WALK_FRAMES];
		int first;

		stack = depot_put_user(ip, walk_stack(ip, slot, WALK_FRAMES), (uintptr_t)tx->rec_ra,
		                       &first);
	}

	for (size_t i = alloc_hash(start), k = 0; k < 64; i = (i + 1) & mask, k++) {
		uintptr_t expected = __atomic_load_n(&alloc_table[i].start, __ATOMIC_RELAXED);

		if (expected != 0 && expected != ALLOC_GONE)
			continue;
		/* A free slot's stack is 0 already (rec_alloc_gone clears it
		 * before it frees the slot): storing it here could wipe the
		 * stack of a thread that claims the slot first. */
		if (!__atomic_compare_exchange_n(&alloc_table[i].start, &expected, start, false,
		                                 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&alloc_table[i].size, (uint64_t)size, __ATOMIC_RELAXED);
		__atomic_store_n(&alloc_table[i].stack, stack, __ATOMIC_RELEASE);
		if (!alloc_page_has(start)) {
			size_t b = alloc_page_bit(start);

			__atomic_fetch_or(&alloc_pages[b / 64], 1ull << (b % 64), __ATOMIC_RELAXED);
		}
		unsigned seen = __atomic_load_n(&alloc_probes, __ATOMIC_RELAXED);

		while (k > seen && !__atomic_compare_exchange_n(&alloc_probes, &seen, (unsigned)k, true,
		                                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		return;
	}
}

void rec_alloc_gone(void *p)
{
	struct alloc_slot *s;

	if (!alloc_table || !p || !(s = alloc_lookup((uintptr_t)p)))
		return;
	__atomic_store_n(&s->stack, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->start, ALLOC_GONE, __ATOMIC_RELEASE);
}

/* The stack that allocated the block holding @p addr, or 0. */
static uint32_t alloc_stack_of(uintptr_t addr)
{
	if (!alloc_table || !addr)
		return 0;
	/* The word's page or the one before holds the start, if any. */
	if (!alloc_page_has(addr) && (addr < 4096 || !alloc_page_has(addr - 4096)))
		return 0;
	for (uintptr_t start = addr & ~(uintptr_t)15, n = 0; n <= ALLOC_BACK / 16 && start;
	     start -= 16, n++) {
		struct alloc_slot *s = alloc_lookup(start);

		if (!s)
			continue;
		uint64_t size = __atomic_load_n(&s->size, __ATOMIC_RELAXED);
		uint32_t stack = __atomic_load_n(&s->stack, __ATOMIC_ACQUIRE);

		if (stack && addr < start + size && __atomic_load_n(&s->start, __ATOMIC_ACQUIRE) == start)
			return stack;
		return 0;   /* the nearest block below does not hold it */
	}
	return 0;
}

/* --------------------------------------------------------- per thread */

/*
 * A block context: an outermost block (its place, frame and line) and the
 * callers around its function, each named by the return address its
 * callee's frame keeps (checked at every attempt's start: the same block
 * reached through other callers is another context). Stacks captured in
 * an attempt are memoized under its context.
 */
struct rec_ctx {
	void *pc, *frame;
	int line;
	bool exact;                 /* every caller is checked */
	bool whole;                 /* and they reach the outermost frame, or as far
	                               out as a stack keeps (MAX_FRAMES) */
	uintptr_t ctx;              /* its number (a hash of all that) */
	uint32_t site;              /* the block's site id */
	unsigned n;                 /* return addresses checked */
	uintptr_t slot[WALK_FRAMES]; /* where each is kept */
	uintptr_t ret[WALK_FRAMES];
};

struct rec_thread {
	struct rec_abort ring[RING];
	unsigned head;              /* next slot the owner fills */
	unsigned tail;              /* next slot the writer reads */
	uint64_t dropped;
	struct rec_abort pending;
	bool have_pending;
	bool pending_waits;         /* pending waits for its read's stack */
	bool waiting;               /* wait does (see rec_attempt_start); set by the
	                               owner, cleared by the owner or by rec_exit,
	                               both under wait_lock */
	int wait_lock;              /* held while wait is filled in or taken */
	bool wait_ready;            /* wait has what it waited for: written when
	                               the attempt that found it has ended */
	const void *wait_pc, *wait_frame;   /* its transaction's outermost block */
	struct rec_abort wait;
	/* Its other side: [0] for a read of a word outside the other side's
	 * stripe, [1 + i] for a read of the stripe's word i. */
	struct rec_abort wait_other[1 + SIDE_WORDS];
	uint32_t site;              /* the current attempt's site (read by others) */
	uint32_t seq;               /* attempts started, bumped after site (read by others) */
	uint64_t t0;                /* the current attempt's start */
	struct rec_ctx ctxs[REC_CTXS];  /* the last block contexts attempts started in */
	uint8_t ctx_last[SITE_CTX_HINTS];  /* by block site (id % SITE_CTX_HINTS): the
	                                      latest context its attempts ran in */
	unsigned ctx_next;              /* the next to replace */
	const struct rec_ctx *ctx_cur;  /* the current attempt's, once it has one */
	uint64_t inexact;               /* attempts in contexts not all checked */
	struct { const struct lucid_site_ *key; uint32_t id; } site_cache[SITE_CACHE];
	uint64_t site_wrote;            /* bit site % 64: that block's last commit wrote */
	struct hist *hist;              /* the words its commits wrote (the side table) */
	uint64_t commits[MAX_SITES];
};

/*
 * Attempts are timed with the CPU's time-stamp counter where there is one
 * (a few cycles, against ~20 ns for clock_gettime at every attempt); ticks
 * become nanoseconds at a rate measured against CLOCK_MONOTONIC since
 * recording started (kept as ns per tick in 32.32 fixed point).
 */
#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t ticks(void)
{
	return __rdtsc();
}
#else
static inline uint64_t ticks(void)
{
	return stm_now_ns();
}
#endif

static uint64_t tick0, ns0;        /* at recording start */
static uint64_t rate_q32 = 1ull << 32;

/* Measures the rate again (the writer does, at each drain). */
static void update_rate(void)
{
	uint64_t tn = ticks(), nn = stm_now_ns();

	if (tn > tick0 + 1000000 && nn > ns0)
		__atomic_store_n(&rate_q32,
		                 (uint64_t)((double)(nn - ns0) / (double)(tn - tick0) * 4294967296.0),
		                 __ATOMIC_RELAXED);
}

static uint64_t ticks_to_ns(uint64_t delta)
{
	return (uint64_t)(((unsigned __int128)delta * __atomic_load_n(&rate_q32, __ATOMIC_RELAXED)) >> 32);
}

/* A tick count taken since recording started, as CLOCK_MONOTONIC ns. */
static uint64_t tick_time_ns(uint64_t t)
{
	return t >= tick0 ? ns0 + ticks_to_ns(t - tick0) : ns0 - ticks_to_ns(tick0 - t);
}

static struct rec_thread *thread_state(struct stm_tx *tx)
{
	if (stm_unlikely(!tx->rec)) {
		/* calloc, not mmap: it holds pointers (the site cache) that
		 * leak checkers must see. */
		struct rec_thread *r = calloc(1, sizeof(*r));

		if (!r)
			return NULL;
		r->hist = hist_take();
		__atomic_store_n(&tx->rec, r, __ATOMIC_RELEASE);
	}
	return tx->rec;
}

/* A site's place in the per-thread cache. */
static inline unsigned site_slot(const struct lucid_site_ *s)
{
	return (unsigned)(((uintptr_t)s * 0x9e3779b97f4a7c15u) >> 59) % SITE_CACHE;
}

/* Whether the last commit of @p site in this thread wrote (block_committed
 * keeps one bit per site, modulo 64). */
static inline bool site_wrote_last(const struct rec_thread *r, uint32_t site)
{
	return r->site_wrote >> (site % 64) & 1;
}

/* Sites through a small per-thread cache: the mutex only on a miss. */
static uint32_t site_cached(struct rec_thread *r, const struct stm_open_block *o)
{
	/* By the block's site record: its pointer stands for its contents,
	 * which site_find_or_add turns into an id (0: the table is full). */
	const struct lucid_site_ *s = o->site;
	unsigned slot = site_slot(s);

	if (stm_unlikely(r->site_cache[slot].key != s)) {
		r->site_cache[slot].key = s;
		r->site_cache[slot].id = site_find_or_add(o);
	}
	return r->site_cache[slot].id;
}

/*
 * Return addresses of the current stack, innermost first, and for each
 * frame where the return address out of it is kept (@p slot, 0 where that
 * is not known): the slot is the caller's stack pointer less one word on
 * x86-64, elsewhere where libunwind says the caller's IP was saved, and
 * counts only if it holds that return address.
 */
static int walk_stack(uint64_t *ip, uintptr_t *slot, int max)
{
	unw_context_t uc;
	unw_cursor_t cur;
	int n = 0;

	if (unw_getcontext(&uc) != 0 || unw_init_local(&cur, &uc) != 0)
		return 0;
	while (n < max) {
		unw_word_t pc, next, at = 0;

		if (unw_get_reg(&cur, UNW_REG_IP, &pc) != 0 || pc == 0)
			break;
		ip[n] = pc;
		slot[n] = 0;
		if (unw_step(&cur) <= 0 || unw_get_reg(&cur, UNW_REG_IP, &next) != 0) {
			n++;
			break;
		}
#if defined(__x86_64__)
		unw_word_t sp;

		if (unw_get_reg(&cur, UNW_REG_SP, &sp) == 0)
			at = sp - sizeof(uintptr_t);
#else
		unw_save_loc_t loc;

		if (unw_get_save_loc(&cur, UNW_REG_IP, &loc) == 0 && loc.type == UNW_SLT_MEMORY)
			at = loc.u.addr;
#endif
		if (at && *(const uintptr_t *)at == next)
			slot[n] = at;
		n++;
	}
	return n;
}

/* The stack @p ip (@p n frames) from the user's call at @p ra outwards
 * (Lucid's own frames left out; @p first: where it starts) into the
 * depot: its id, or 0. */
static uint32_t depot_put_user(const uint64_t *ip, int n, uintptr_t ra, int *first)
{
	*first = 0;
	for (int i = 0; i < n; i++) {
		if (ip[i] == ra) {
			*first = i;
			break;
		}
	}
	int depth = n - *first < MAX_FRAMES ? n - *first : MAX_FRAMES;

	return depth > 0 ? depot_put(ip + *first, (uint32_t)depth) : 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x9e3779b97f4a7c15u;
}

/* Whether the block context @p c is the one an attempt of block @p o
 * starts in: the same block in the same frame, the same callers. */
static inline __attribute__((always_inline)) bool ctx_holds(const struct rec_ctx *c,
                                                            const struct stm_open_block *o)
{
	if (!c->exact || c->pc != o->pc || c->frame != o->frame || c->line != o->site->line)
		return false;
	for (unsigned i = 0; i < c->n; i++)
		if (*(const uintptr_t *)c->slot[i] != c->ret[i])
			return false;
	return true;
}

/* Works out the context of block @p o, which is starting (its function is
 * on the stack): from the block's function outwards, where each frame
 * keeps its return address. If they cannot all be found, the context is
 * used for this attempt only (rec_attempt_start gives it a number of its
 * own, so that nothing memoized under it is found again). */
static void ctx_capture(struct rec_ctx *c, const struct stm_open_block *o)
{
	uint64_t ip[WALK_FRAMES];
	uintptr_t slot[WALK_FRAMES];
	int n = walk_stack(ip, slot, WALK_FRAMES), i = 0;
	uint64_t h = mix(mix(mix(0, (uintptr_t)o->pc), (uintptr_t)o->frame), (uint64_t)o->site->line);

	c->pc = o->pc;
	c->frame = o->frame;
	c->line = o->site->line;
	c->n = 0;
	/* The block's function: the first frame that returns from above its
	 * frame address (callees keep theirs below it). */
	bool known = true;

	while (i < n && !(slot[i] > (uintptr_t)o->frame))
		known &= slot[i++] != 0;
	c->exact = o->frame && known && i < n;
	for (; c->exact && i + 1 < n; i++) {
		if (!slot[i]) {
			c->exact = false;   /* a caller that cannot be checked */
			break;
		}
		c->slot[c->n] = slot[i];
		c->ret[c->n++] = ip[i + 1];
		h = mix(h, ip[i + 1]);
	}
	/* A read there keeps its return address and MAX_FRAMES - 1 of these.
	 * A walk that ran out before them (made far below the block: see
	 * rec_attempt_ctx) checks too few for the stacks memoized under it. */
	c->whole = n < WALK_FRAMES || c->n + 1 >= MAX_FRAMES;
	c->exact = c->exact && c->whole;
	c->ctx = (uintptr_t)h;
}

/* Tells the inline paths where to note a read's address and return
 * address, from its read-set entry's. */
static void rset_deltas(struct stm_tx *tx)
{
	tx->recf->raddr_delta = (uintptr_t)tx->rec_raddr - (uintptr_t)tx->r_base;
	tx->recf->rra_delta = (uintptr_t)tx->rec_rra - (uintptr_t)tx->r_base;
}

static bool wait_mine(const struct stm_tx *tx, const struct rec_thread *r);
static void wait_out(struct rec_thread *r);

/* Whether a record waits: the owner asks without wait_lock (only the
 * owner sets it; rec_exit may clear it meanwhile, and the owner's next
 * step under the lock then finds it gone). */
static inline bool is_waiting(const struct rec_thread *r)
{
	return __atomic_load_n(&r->waiting, __ATOMIC_RELAXED);
}

/* wait_lock: held a few instructions at a time, by the owner and by
 * rec_exit (which takes what waits in a thread that runs on). */
static void wait_lock(struct rec_thread *r)
{
	while (__atomic_exchange_n(&r->wait_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void wait_unlock(struct rec_thread *r)
{
	__atomic_store_n(&r->wait_lock, 0, __ATOMIC_RELEASE);
}

/* The context among the last few that block @p o starts in, or a new one
 * worked out (the least recent replaced). */
static __attribute__((noinline)) struct rec_ctx *ctx_find(struct rec_thread *r,
                                                           const struct stm_open_block *o)
{
	unsigned k = 0;

	while (k < REC_CTXS && !ctx_holds(&r->ctxs[k], o))
		k++;
	if (k == REC_CTXS) {
		k = r->ctx_next++ % REC_CTXS;
		ctx_capture(&r->ctxs[k], o);
		r->ctxs[k].site = site_cached(r, o);
	}
	r->ctx_last[r->ctxs[k].site % SITE_CTX_HINTS] = (uint8_t)k;
	return &r->ctxs[k];
}

/* The recent answers hold for one block context: each of the last few
 * contexts keeps its own (a thread that alternates between a few blocks
 * finds its places again). Points the inline paths at context @p ctx's. */
static __attribute__((noinline)) void recf_switch(struct stm_tx *tx, uintptr_t ctx)
{
	unsigned w = 0;

	while (w < STM_REC_WAYS && tx->recfast_ctx[w] != ctx)
		w++;
	if (w == STM_REC_WAYS) {
		w = tx->recfast_next++ % STM_REC_WAYS;
		memset(tx->recfast[w].slot, 0, sizeof(tx->recfast[w].slot));
		tx->recfast_ctx[w] = ctx;
	}
	tx->recf = &tx->recfast[w];
	tx->rec_ctx = ctx;
}

/* The end of an attempt's start, either way: its block's @p site (stored
 * where it changed), and its block context made now, or (@p lazy) left to
 * its first capture, the block's commits counted inline. Inline, so that
 * the common start stays a leaf where it is lazy. */
static inline __attribute__((always_inline)) void attempt_site(struct stm_tx *tx,
                                                               struct rec_thread *r,
                                                               uint32_t site, bool lazy)
{
	tx->rec_lazy = lazy;
	if (lazy)
		tx->rec_commits = &r->commits[site];
	if (__atomic_load_n(&r->site, __ATOMIC_RELAXED) != site)
		__atomic_store_n(&r->site, site, __ATOMIC_RELAXED);
	/* After the site: whoever sees this attempt's number sees its site
	 * (other_from_lock; the block context is none of its business). */
	__atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
	if (!lazy)
		rec_attempt_ctx(tx);   /* of r->site */
}

/*
 * Starts a recording attempt: its start time, its block's site, whether its
 * reads note their stacks, and where they do, its block context (else
 * rec_attempt_ctx makes it when the attempt first captures a stack).
 *
 * Noting a read's stack costs the read more than the read itself (about 50
 * instructions against 20), so when only the file listens, reads take the
 * common inline path and note nothing. A read found invalid later (at a
 * validation) then has no stack: its record waits (rec_thread.wait) while
 * the transaction runs again, this time noting each read's stack and
 * address, and takes the stack and the address of the first read of the
 * same orec in that attempt (rec_attempt_over). A transaction run again
 * almost always makes the same read on the same path; where it does not
 * (a different path, an irrevocable retry, whose reads lock instead), the
 * record keeps no stack for the read.
 * Conflicts met at an access (a lock) are unwound on the spot either way.
 *
 * stm_start_rec is the whole of it once the attempt's snapshot is taken
 * (begin_gated, begin_gated_other, stm_start_fast), the rooms of the inline
 * paths included: one call from the block's start, a leaf in the common
 * case (it was three calls, 14 instructions more per recorded transaction
 * on the hash set). It returns 1, the block's start's answer, so that the
 * caller ends in a tail call. rec_attempt_start is the whole way, for the
 * rest and for stm_start_slow.
 */

/* stm_start_rec's way where its common case does not hold. */
static __attribute__((noinline)) int start_rec_slow(struct stm_tx *tx)
{
	rec_attempt_start(tx);
	if (tx->rec_lazy)
		tx->fast.w_end = tx->w_base;
	else
		stm_rec_rooms(tx);
	return 1;
}

int stm_start_rec(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;

	/* Set since the last attempt where begin_gated took the snapshot
	 * (stm_start_logs), cleared where the others did (stm_start_snapshot). */
	if (stm_unlikely(!tx->rec_on))
		tx->rec_on = true;
	if (stm_likely(r && !is_waiting(r) && !__atomic_load_n(&rec_exact, __ATOMIC_RELAXED))) {
		const struct lucid_site_ *s = tx->open[0].site;
		unsigned slot = site_slot(s);
		uint32_t site = r->site_cache[slot].id;

		if (stm_likely(r->site_cache[slot].key == s && site)) {
			r->t0 = ticks();
			if (stm_unlikely(tx->rec_reads))
				tx->rec_reads = false;
			if (stm_likely(!site_wrote_last(r, site))) {
				attempt_site(tx, r, site, true);
				/* Reads have their room from the snapshot; writes
				 * go out of line (fast.rec is NULL since the last
				 * attempt ended) and make the block context. */
				tx->fast.w_end = tx->w_base;
				return 1;
			}
			attempt_site(tx, r, site, false);
			stm_rec_rooms(tx);
			return 1;
		}
	}
	return start_rec_slow(tx);
}

void rec_attempt_start(struct stm_tx *tx)
{
	struct rec_thread *r = thread_state(tx);

	tx->rec_lazy = false;
	if (!r)
		return;
	const struct stm_open_block *o = &tx->open[0];

	r->t0 = ticks();
	/* Reads note their stacks only where a hook, a debugger or a
	 * breakpoint wants each abort's record at once, or in the attempts that
	 * follow one whose record still waits for its read's stack. A record
	 * whose transaction ended without recording again is written as it is
	 * when this attempt ends (not inside it). */
	bool waits = is_waiting(r);

	if (waits && !r->wait_ready && !tx->in_handler && !wait_mine(tx, r))
		r->wait_ready = true;
	tx->rec_reads = (waits && !r->wait_ready) ||
	                __atomic_load_n(&rec_exact, __ATOMIC_RELAXED);
	uint32_t site = site_cached(r, o);

	/* Nothing an attempt does needs its block context until it captures a
	 * stack: a write, an allocation, an abort. Where reads do not note
	 * their stacks, an attempt of a block whose last commit only read
	 * leaves it to its first capture (stm_rec_ready), and most such
	 * attempts never make one: they commit inline (stm_commit_lazy),
	 * counting the commit here. Writers make it here, where it costs least
	 * (the first write then takes the recording inline path), and so does
	 * an attempt that has a waiting record to write when it ends. */
	attempt_site(tx, r, site, !(tx->rec_reads || waits || !site || site_wrote_last(r, site)));
}

/*
 * The attempt's block context (for its stack captures), and the inline
 * paths' recent places for it. Made at the attempt's start, or at its first
 * capture (stm_rec_ready; see rec_attempt_start): the block's function and
 * its callers stay on the stack while the attempt runs, so the context
 * found from deeper down is the same one, where the walk from there reaches
 * out far enough (else it is not exact, and serves this attempt only).
 */
void rec_attempt_ctx(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;
	const struct stm_open_block *o = &tx->open[0];
	/* A thread runs the same few blocks again and again: the context this
	 * block's site ran in last is checked here, the others out of line. */
	struct rec_ctx *c = &r->ctxs[r->ctx_last[r->site % SITE_CTX_HINTS]];

	tx->rec_lazy = false;
	if (stm_unlikely(!ctx_holds(c, o)))
		c = ctx_find(r, o);
	uintptr_t ctx = c->ctx;

	r->ctx_cur = c;
	if (!c->exact)
		ctx = (uintptr_t)mix(ctx, ++r->inexact);
	if (stm_unlikely(tx->rec_ctx != ctx))
		recf_switch(tx, ctx);
	if (tx->rec_raddr_cap < tx->r_cap)
		rec_rset_resized(tx, tx->r_cap);
	else
		rset_deltas(tx);
	/* Reads from the block's own function note no stack (see
	 * LUCID_REC_IN_BLOCK_): where the context's callers are all known, as
	 * far out as a stack keeps, and the block's checkpoint is the one
	 * that keeps the stack pointer (the stack pointer after the call that
	 * took it is the call's canonical frame address, from which lucid_sp_
	 * takes 16). */
	tx->recf->block_sp = c->exact && c->whole && tx->env_own
	                     ? ((const struct lucid_checkpoint_ *)tx->env)->reg[6] - 16 : 0;
	tx->recf->tag_site = (uint64_t)c->site << 20;
}

void rec_rset_resized(struct stm_tx *tx, size_t cap)
{
	/* Short of memory, the engine reads out of line, noting the
	 * addresses that fit (and no return addresses). */
	if (tx->rec && tx->rec_raddr_cap < cap) {
		uintptr_t *a = realloc(tx->rec_raddr, cap * sizeof(*a));

		if (a) {
			tx->rec_raddr = a;
			const void **ra = realloc(tx->rec_rra, cap * sizeof(*ra));

			if (ra) {
				tx->rec_rra = ra;
				tx->rec_raddr_cap = cap;
			}
		}
	}
	rset_deltas(tx);
}

/* Whether the frames of memoized place @p m still hold the return
 * addresses they held when its stack was captured. */
static bool memo_holds(const struct stm_rec_memo *m)
{
	for (unsigned i = 0; i < m->n; i++)
		if (*(const uintptr_t *)(m->pos + (intptr_t)m->off[i]) != m->ret[i])
			return false;
	return true;
}

/* Makes @p m the inline paths' recent answer for its place, if it has few
 * enough frames to check there (else they ask the library again). The
 * checks left over check the access's own return address (the first check
 * is made even for a place with no frame to check). */
static void memo_recent(struct lucid_recslot_ *sl, const struct stm_rec_memo *m)
{
	/* The first check, and with more than one frame the third, may be left
	 * over. */
	if (m->n > LUCID_REC_CHECKS_ || ((m->n == 0 || m->n == 2) && m->own < 0))
		return;
	*sl = (struct lucid_recslot_){ .key = (const void *)m->key, .sp = m->pos, .id = m->id,
	                               .n = m->n };
	for (unsigned i = 0; i < LUCID_REC_CHECKS_; i++) {
		sl->off[i] = i < m->n ? m->off[i] : m->own;
		sl->ret[i] = i < m->n ? m->ret[i] : m->key;
	}
}

/*
 * The stack of the access at place (key, pos) in this attempt's block
 * context, captured from user PC @p key outwards (@p site chooses its
 * recent slot). The places are the user's return address and the stack
 * pointer for accesses made by the inline paths, the user's return address
 * and our frame for those that come through the library's entry points. A
 * place is reached through other callers too (one function calls another
 * from two lines, at the same depth), so a memoized capture also keeps
 * where each frame between the place and the block's function keeps its
 * return address, and which: it is the place's stack only while they all
 * hold the same ones (the block's function and its callers are the
 * context's). A place whose frames cannot all be checked is captured at
 * every access.
 */
static uint32_t memo_stack(struct stm_tx *tx, const void *site, uintptr_t key, uintptr_t pos)
{
	stm_rec_ready(tx);
	/* Return addresses are a few bytes apart, stack positions a few
	 * words: multiply, so that neighbours spread over the memo. */
	uint64_t h = ((uint64_t)key * 0x9e3779b97f4a7c15u) ^ ((uint64_t)pos * 0xc2b2ae3d27d4eb4fu) ^
	             tx->rec_ctx;
	unsigned set = (unsigned)((h * 0x9e3779b97f4a7c15u) >> 40) %
	               (STM_REC_MEMO / STM_REC_MEMO_WAYS);
	struct lucid_recslot_ *recent = lucid_rec_slot_(tx->recf, site, pos);
	struct stm_rec_memo *ways = NULL;

	if (!tx->rec_memo)
		tx->rec_memo = calloc(STM_REC_MEMO, sizeof(*tx->rec_memo));
	if (tx->rec_memo) {   /* else: no memo, every place unwinds */
		ways = &tx->rec_memo[set * STM_REC_MEMO_WAYS];
		for (unsigned w = 0; w < STM_REC_MEMO_WAYS; w++) {
			struct stm_rec_memo *m = &ways[w];

			if (m->id && m->key == key && m->pos == pos && m->ctx == tx->rec_ctx &&
			    memo_holds(m)) {
				memo_recent(recent, m);
				return m->id;
			}
		}
	}

	uint64_t ip[WALK_FRAMES];
	uintptr_t slot[WALK_FRAMES];
	int n = walk_stack(ip, slot, WALK_FRAMES), first;
	uint32_t id = depot_put_user(ip, n, key, &first);
	struct stm_rec_memo e = { .key = key, .pos = pos, .ctx = tx->rec_ctx, .id = id, .own = -1 };

	/* The frame below the user's keeps the access's return address. */
	if (first > 0 && slot[first - 1] && ip[first] == key && slot[first - 1] >= pos &&
	    slot[first - 1] - pos <= INT32_MAX)
		e.own = (int32_t)(slot[first - 1] - pos);
	uintptr_t block = (uintptr_t)tx->open[0].frame;
	bool exact = id && block;

	/* The frames up to the block's function (the first that returns from
	 * above its frame address). */
	for (int i = first; exact && slot[i] <= block; i++) {
		if (i + 1 >= n || !slot[i] || e.n == STM_REC_CHECKS || slot[i] - pos > INT32_MAX) {
			exact = false;
			break;
		}
		e.off[e.n] = (int32_t)(slot[i] - pos);
		e.ret[e.n++] = ip[i + 1];
	}
	if (exact && ways) {
		unsigned w = 0;

		while (w < STM_REC_MEMO_WAYS && ways[w].id)
			w++;
		if (w == STM_REC_MEMO_WAYS)
			w = (unsigned)stm_random(tx) % STM_REC_MEMO_WAYS;
		ways[w] = e;
		memo_recent(recent, &e);
	}
	return id;
}

/*
 * The stack from the user's call into Lucid (tx->rec_ra) outwards. Reads
 * and writes made from one frame (same return address, same stack position)
 * in one attempt share the first capture.
 */
uint32_t rec_stack_here(struct stm_tx *tx)
{
	return memo_stack(tx, tx->rec_ra, (uintptr_t)tx->rec_ra, (uintptr_t)tx->rec_frame);
}

/* Accesses in a loop come from one frame again and again: the last answer
 * is checked first. */
uint32_t rec_stack_memo(struct stm_tx *tx)
{
	stm_rec_ready(tx);
	uint32_t id = stm_rec_recent(tx, tx->rec_ra, (uintptr_t)tx->rec_frame);

	return id ? id : rec_stack_here(tx);
}

/* The inline paths' question (see lucid_recslot_): where is the access at
 * @p site, made from the user's code at @p ra with the stack at @p sp? */
uint32_t lucid_rec_site_(const void *site, uintptr_t sp, const void *ra)
{
	struct stm_tx *tx = stm_self_if_any();

	if (!tx || !tx->rec_on || !tx->rec)
		return 0;
	tx->rec_asked++;
	return memo_stack(tx, site, (uintptr_t)ra, sp);
}

/* The tag: stack id (20 bits), site id (12 bits), word address / 8 (low 32
 * bits). Ids too large for the tag leave it 0 (unknown). */
_Static_assert(DEPOT_BITS <= 20 && MAX_SITES <= 4096, "entry tags hold the ids");
_Static_assert((1u << DEPOT_BITS) <= LUCID_REC_IN_BLOCK_, "no stack id reads as LUCID_REC_IN_BLOCK_");
_Static_assert(sizeof(struct lucid_recslot_) == 64, "a recent place fills one cache line");
_Static_assert(offsetof(struct lucid_recfast_, slot) == 64,
               "the helpers' other fields fill the first cache line, the places the next ones");

uint64_t rec_entry_tag(struct stm_tx *tx, uint32_t stack, uintptr_t word)
{
	uint32_t site = tx->rec ? tx->rec->site : 0;

	if (!stack)
		return 0;
	return (uint64_t)stack | (uint64_t)site << 20 | (uint64_t)(uint32_t)(word >> 3) << 32;
}

uint32_t rec_read_site(struct stm_tx *tx)
{
	return tx->rec ? rec_stack_memo(tx) : 0;
}

/* Fills the other side from a lock: the owner's entry for @p word (or its
 * head, for a false conflict). The owner runs meanwhile, so every field is
 * read atomically and the result kept only if the lock did not change. */
static void other_from_lock(struct rec_abort *a, uintptr_t other, uintptr_t word, const uintptr_t *orec)
{
	const struct lucid_wentry_ *head = stm_orec_owner(other), *e = head, *found = NULL;
	const struct stm_tx *owner =
		(const struct stm_tx *)__atomic_load_n(&head->owner, __ATOMIC_RELAXED);
	const struct rec_thread *ort = owner ? __atomic_load_n(&owner->rec, __ATOMIC_ACQUIRE) : NULL;

	if (!ort)
		return;
	/*
	 * The owner's entry for our word, from its tag: one atomic read gives
	 * its stack and site together. The entry may have been reused by a
	 * later attempt of the owner since it locked the orec; if that attempt
	 * made it for the same word, it is still this thread writing this word.
	 */
	for (int hops = 0; e && hops < 1024; hops++) {
		uint64_t tag = __atomic_load_n(&e->reserved, __ATOMIC_ACQUIRE);

		if (tag && (uint32_t)(tag >> 32) == (uint32_t)(word >> 3)) {
			a->other_stack = (uint32_t)(tag & 0xfffff);
			a->other_site = (uint32_t)(tag >> 20) & 0xfff;
			a->other_address = word;
			a->other_tid = (uint32_t)owner->thread_id;
			a->flags |= REC_ABORT_OTHER_KNOWN;
			return;
		}
		e = __atomic_load_n(&e->next, __ATOMIC_ACQUIRE);
	}
	e = head;
	/*
	 * Write-log entries are reused by the owner's next attempts, which may
	 * lock this orec again from the same entry (the same lock value): the
	 * entry and the site are read between two reads of the owner's attempt
	 * number and of the orec, and kept only if neither changed. The first
	 * orec read, after the attempt number, makes sure that attempt holds
	 * the lock, so its entries are written.
	 */
	uint32_t seq = __atomic_load_n(&ort->seq, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(orec, __ATOMIC_ACQUIRE) != other)
		return;
	for (int hops = 0; e && hops < 1024; hops++) {
		if (__atomic_load_n(&e->addr, __ATOMIC_RELAXED) == word) {
			found = e;
			break;
		}
		e = __atomic_load_n(&e->next, __ATOMIC_ACQUIRE);
	}
	e = found ? found : head;
	/* Acquire: the checks below stay after these loads. */
	uint32_t stack = __atomic_load_n(&e->stack, __ATOMIC_ACQUIRE);
	uint64_t addr = __atomic_load_n(&e->addr, __ATOMIC_ACQUIRE);
	uint32_t site = __atomic_load_n(&ort->site, __ATOMIC_ACQUIRE);

	/* Entries are written only while their attempt runs: if the owner has
	 * not started another attempt, what we read is that attempt's, even if
	 * it has committed or rolled back meanwhile. */
	if (__atomic_load_n(&ort->seq, __ATOMIC_ACQUIRE) != seq)
		return;   /* it moved on: the other side is not known */
	a->other_stack = stack;
	a->other_address = addr;
	a->other_tid = (uint32_t)owner->thread_id;
	a->other_site = site;
	a->flags |= REC_ABORT_OTHER_KNOWN;
	if (!found)
		a->flags |= REC_ABORT_FALSE_CONFLICT;
}

/* The time of entry @p n of history @p h; one being written again counts as
 * later than any (a later commit writes it). */
static uint64_t hist_version(const struct hist *h, uint64_t n)
{
	uint64_t v = __atomic_load_n(&h->w[n % HIST_WORDS].version, __ATOMIC_ACQUIRE);

	return v ? v : UINT64_MAX;
}

/* Names as the other side of @p a the commit at time @p version that wrote
 * under orec @p orec, if a history still has it: its write of @p word, or
 * else the first word it wrote under the orec. */
static void other_from_commit(struct rec_abort *a, uint32_t orec, uintptr_t version, uintptr_t word)
{
	/* Version 0 is no commit's (an orec nobody has written, or the one
	 * an aborted owner put back), and the time of an entry being
	 * written again. */
	if (!version)
		return;
	/* The commit appended its words before it released the orec with
	 * that version, but the version may have been found by a relaxed
	 * load (a validation's). An acquire load of the orec now reads that
	 * release or a later value, each stored by a writer that locked the
	 * orec after it, so the commit's words are visible below. */
	(void)__atomic_load_n(&stm_orecs[orec], __ATOMIC_ACQUIRE);
	for (const struct hist *h = __atomic_load_n(&hist_all, __ATOMIC_ACQUIRE); h; h = h->next) {
		uint64_t top = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		uint64_t lo = top > HIST_WORDS ? top - HIST_WORDS : 0, hi = top;

		/* Most histories end before that time (or are empty). */
		if (lo == hi || hist_version(h, hi - 1) < version)
			continue;

		/* The first entry of that time or later (entries the owner
		 * writes again meanwhile can only make the commit missed). */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (hist_version(h, mid) < version)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool mine = false, found = false;
		uint64_t addr = 0, so = 0, st = 0;

		for (uint64_t n = lo; n < top; n++) {
			const struct hist_word *e = &h->w[n % HIST_WORDS];
			/* The sequence lock's reader (see rec_commit): each field an
			 * acquire, so that the second look at the version comes
			 * after all of them. */
			uint64_t v = __atomic_load_n(&e->version, __ATOMIC_ACQUIRE);
			uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
			uint64_t eso = __atomic_load_n(&e->stack_orec, __ATOMIC_ACQUIRE);
			uint64_t est = __atomic_load_n(&e->site_tid, __ATOMIC_ACQUIRE);

			if (v != version || __atomic_load_n(&e->version, __ATOMIC_RELAXED) != v)
				break;
			mine = true;   /* this thread's commit */
			if ((uint32_t)(eso >> 32) != orec || (found && w != word))
				continue;
			found = true;
			addr = w;
			so = eso;
			st = est;
			if (w == word)
				break;
		}
		if (!found) {
			if (mine)
				return;   /* it wrote nothing under the orec that is still kept */
			continue;
		}
		a->other_stack = (uint32_t)so;
		a->other_tid = (uint32_t)(st >> 32);
		a->other_site = (uint32_t)st;
		a->other_address = addr;
		a->other_commit = version;
		a->flags |= REC_ABORT_OTHER_KNOWN | REC_ABORT_OTHER_COMMITTED;
		if (addr != word)
			a->flags |= REC_ABORT_FALSE_CONFLICT;
		return;
	}
}

/* The other side of a conflict over orec @p idx, which held @p other: the
 * lock's owner, or the last committer. If the owner committed while we
 * looked, the commit it made is in the side table. */
static void other_side(struct rec_abort *a, uintptr_t other, uint32_t idx, uintptr_t word,
                       const uintptr_t *orec, uintptr_t before)
{
	if (stm_orec_is_locked(other)) {
		uintptr_t lock = other;

		/* The lock may change hands while we look: try the current
		 * holder a few times (it is at the same word). */
		for (int tries = 0; tries < 4; tries++) {
			other_from_lock(a, other, word, orec);
			if (a->flags & REC_ABORT_OTHER_KNOWN)
				return;
			other = __atomic_load_n(orec, __ATOMIC_ACQUIRE);
			if (!stm_orec_is_locked(other))
				break;
		}
		if (stm_orec_is_locked(other))
			return;   /* locked again and again: not known */
		/* A version we had already seen may be the owner's commit
		 * (it took its time before our snapshot and released after
		 * we met its lock) or the one it put back when it aborted:
		 * only the former was written by the owner's thread. */
		if (other <= before) {
			const struct stm_tx *owner = (const struct stm_tx *)__atomic_load_n(
				&stm_orec_owner(lock)->owner, __ATOMIC_RELAXED);

			other_from_commit(a, idx, other, word);
			if ((a->flags & REC_ABORT_OTHER_KNOWN) &&
			    (!owner || a->other_tid != (uint32_t)owner->thread_id)) {
				a->flags &= (uint8_t)~(REC_ABORT_OTHER_KNOWN | REC_ABORT_OTHER_COMMITTED |
				                       REC_ABORT_FALSE_CONFLICT);
				a->other_stack = a->other_tid = a->other_site = 0;
				a->other_address = a->other_commit = 0;
			}
			return;
		}
	}
	other_from_commit(a, idx, other, word);
}

static struct rec_abort *begin_record(struct stm_tx *tx, int reason)
{
	struct rec_thread *r = tx->rec;

	if (!r)
		return NULL;
	r->pending = (struct rec_abort){
		.reason = (uint8_t)reason,
		.attempt = tx->retries + 1,
		.tid = (uint32_t)tx->thread_id,
		.site = r->site,
	};
	r->have_pending = true;
	return &r->pending;
}

void rec_conflict_access(struct stm_tx *tx, int reason, uintptr_t addr, uintptr_t orec,
                         uintptr_t other)
{
	struct rec_abort *a = begin_record(tx, reason);

	if (!a)
		return;
	a->address = addr;
	a->orec = (uint32_t)orec;
	/* The other side first: it moves on while we unwind our own stack. */
	other_side(a, other, (uint32_t)orec, addr & ~(uintptr_t)7, &tx->fast.orecs[orec],
	           tx->fast.end);
	a->stack = rec_stack_here(tx);
}

/* The stack of a read made at @p ra from the function of the attempt's
 * outermost block (LUCID_REC_IN_BLOCK_): @p ra, then the callers that the
 * attempt's block context checked at its start, the same frames that an
 * unwind at the read would have found. */
static uint32_t block_read_stack(const struct stm_tx *tx, const void *ra)
{
	const struct rec_ctx *c = tx->rec->ctx_cur;
	uint64_t pcs[MAX_FRAMES];
	uint32_t n = 0;

	if (!ra || !c || !c->exact)
		return 0;
	pcs[n++] = (uintptr_t)ra;
	for (unsigned i = 0; i < c->n && n < MAX_FRAMES; i++)
		pcs[n++] = c->ret[i];
	return depot_put(pcs, n);
}

/* Whether read-set entry @p e noted its read's stack and address (an
 * attempt that notes no stacks leaves other entries' addresses from an
 * earlier one). */
static bool entry_noted(const struct stm_tx *tx, const struct lucid_rentry_ *e)
{
	return e->site || tx->rec_reads;
}

/* The stack and address of the read of read-set entry @p e, noted. */
static void read_into(const struct stm_tx *tx, struct rec_abort *a, const struct lucid_rentry_ *e)
{
	size_t i = (size_t)(e - tx->r_base);

	a->stack = e->site;
	if (a->stack == LUCID_REC_IN_BLOCK_)
		a->stack = i < tx->rec_raddr_cap ? block_read_stack(tx, tx->rec_rra[i]) : 0;
	a->address = i < tx->rec_raddr_cap ? tx->rec_raddr[i] : 0;
}

void rec_conflict_read(struct stm_tx *tx, int reason, const struct lucid_rentry_ *failed,
                       uintptr_t other)
{
	struct rec_abort *a = begin_record(tx, reason);

	if (!a)
		return;
	a->orec = failed->orec;
	/* We locked it ourselves since (a write after the read): what changed
	 * it is the commit whose version we found when locking. */
	if (stm_orec_is_locked(other) && stm_owns(tx, stm_orec_owner(other)))
		other = stm_orec_owner(other)->version;
	const uintptr_t *orec = &tx->fast.orecs[failed->orec];

	if (!entry_noted(tx, failed)) {
		/* A read of the common path: no stack, no address. The record
		 * waits for the next attempt's (see rec_attempt_start), with
		 * the other side for each word the read may have been of. */
		struct rec_thread *r = tx->rec;

		r->wait_other[0] = *a;
		other_side(&r->wait_other[0], other, failed->orec, 0, orec, tx->fast.end);
		uint64_t stripe = SIDE_STRIPE(r->wait_other[0].other_address);

		for (unsigned w = 0; w < SIDE_WORDS; w++) {
			r->wait_other[1 + w] = *a;
			if (r->wait_other[0].flags & REC_ABORT_OTHER_KNOWN)
				other_side(&r->wait_other[1 + w], other, failed->orec, stripe + 8 * w,
				           orec, tx->fast.end);
		}
		*a = r->wait_other[0];
		r->pending_waits = true;
		return;
	}
	const struct rec_abort before = *a;

	read_into(tx, a, failed);
	/* Commits that came after the read: newer than the snapshot's end (an
	 * older one would have failed the last validation that moved end). */
	other_side(a, other, failed->orec, a->address & ~(uint64_t)7, orec, tx->fast.end);
	/* The validation found the attempt's first read under the orec. If
	 * the other side did not write that word, a later read under the
	 * orec of a word it wrote is the true conflict. */
	if ((a->flags & (REC_ABORT_OTHER_KNOWN | REC_ABORT_FALSE_CONFLICT)) !=
	    (REC_ABORT_OTHER_KNOWN | REC_ABORT_FALSE_CONFLICT))
		return;
	uint64_t stripe = SIDE_STRIPE(a->other_address);
	unsigned tried = SIDE_STRIPE(a->address) == stripe ? 1u << SIDE_WORD(a->address) : 0;

	for (const struct lucid_rentry_ *e = failed + 1; e < tx->fast.r_top; e++) {
		size_t j = (size_t)(e - tx->r_base);

		/* Only reads noted in this attempt, and each word of the other
		 * side's stripe once. */
		if (e->orec != failed->orec || j >= tx->rec_raddr_cap || !entry_noted(tx, e) ||
		    SIDE_STRIPE(tx->rec_raddr[j]) != stripe ||
		    (tried & (1u << SIDE_WORD(tx->rec_raddr[j]))))
			continue;
		tried |= 1u << SIDE_WORD(tx->rec_raddr[j]);
		struct rec_abort b = before;

		read_into(tx, &b, e);
		other_side(&b, other, failed->orec, b.address & ~(uint64_t)7, orec, tx->fast.end);
		if ((b.flags & (REC_ABORT_OTHER_KNOWN | REC_ABORT_FALSE_CONFLICT)) ==
		    REC_ABORT_OTHER_KNOWN) {
			*a = b;
			return;
		}
	}
}

void rec_plain_abort(struct stm_tx *tx, int reason)
{
	struct rec_abort *a = begin_record(tx, reason);

	if (a)
		a->stack = rec_stack_here(tx);
}

static void site_into(uint32_t id, const char **file, int *line, const char **function)
{
	if (id && id < __atomic_load_n(&n_sites, __ATOMIC_ACQUIRE)) {
		*file = sites[id].file;
		*line = sites[id].line;
		*function = sites[id].function;
	}
}

static void stack_into(uint32_t id, const uintptr_t **pcs, unsigned *depth)
{
	const struct depot_stack *s = depot_get(id);

	if (s) {
		*pcs = (const uintptr_t *)s->pcs;
		*depth = s->depth;
	}
}

void lucid_debug_abort(const struct lucid_conflict *c)
{
	lucid_abort_hook fn = __atomic_load_n(&hook_fn, __ATOMIC_ACQUIRE);

	if (fn)
		fn(c, __atomic_load_n(&hook_arg, __ATOMIC_RELAXED));
	/* Keep the call and its argument even where nothing is hooked. */
	__asm__ __volatile__("" : : "r"(c) : "memory");
}

/* The record as the public struct, for the hook and the debugger. */
static void announce(const struct rec_abort *a)
{
	struct lucid_conflict c = {
		.reason = a->reason,
		.flags = a->flags & (LUCID_CONFLICT_OTHER_KNOWN | LUCID_CONFLICT_FALSE |
		                     LUCID_CONFLICT_OTHER_COMMITTED | LUCID_CONFLICT_ALLOC_STACK),
		.attempt = a->attempt,
		.wasted_ns = ticks_to_ns(a->wasted_ns),
		.time_ns = tick_time_ns(a->mono_ns),
		.address = (uintptr_t)a->address,
		.other_address = (uintptr_t)a->other_address,
		.orec = a->orec,
		.other_commit = a->other_commit,
		.tid = (int)a->tid,
		.other_tid = (int)a->other_tid,
	};

	site_into(a->site, &c.file, &c.line, &c.function);
	site_into(a->other_site, &c.other_file, &c.other_line, &c.other_function);
	stack_into(a->stack, &c.stack, &c.stack_depth);
	stack_into(a->other_stack, &c.other_stack, &c.other_depth);
	stack_into(a->alloc_stack, &c.alloc_stack, &c.alloc_depth);
	lucid_debug_abort(&c);
	conflict_break_check(&c);
}

/* The allocation stack of finished record @p a's word, if it has one. */
static void record_alloc(struct rec_abort *a)
{
	if (a->address && (a->alloc_stack = alloc_stack_of(a->address)))
		a->flags |= REC_ABORT_ALLOC_STACK;
}

/* Puts finished record @p a in the thread's ring for the writer. */
static void record_queue(struct rec_thread *r, const struct rec_abort *a)
{
	if (!__atomic_load_n(&rec_to_file, __ATOMIC_RELAXED))
		return;

	unsigned head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	if (head - tail >= RING) {
		__atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
		return;
	}
	r->ring[head % RING] = *a;
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
}

/* Hands finished record @p a to the hook, the debugger and the writer. */
static void record_out(struct rec_thread *r, struct rec_abort *a)
{
	record_alloc(a);
	announce(a);
	record_queue(r, a);
}

void rec_abort_done(struct stm_tx *tx, int reason)
{
	struct rec_thread *r = tx->rec;

	if (!r)
		return;
	if (r->wait_ready)
		wait_out(r);   /* the older abort first */
	if (!r->have_pending)
		rec_plain_abort(tx, reason);
	r->have_pending = false;
	/* In ticks; the writer turns them into nanoseconds. */
	r->pending.mono_ns = ticks();
	r->pending.wasted_ns = r->pending.mono_ns - r->t0;
	if (r->pending_waits) {
		r->pending_waits = false;
		wait_lock(r);
		r->wait = r->pending;
		r->wait_pc = tx->open[0].pc;
		r->wait_frame = tx->open[0].frame;
		__atomic_store_n(&r->waiting, true, __ATOMIC_RELAXED);
		wait_unlock(r);
		return;
	}
	record_out(r, &r->pending);
}

/* Whether the attempt running is one of the transaction whose record
 * waits: its outermost block, in the same frame, run again (a
 * transaction that an abort handler runs meanwhile is another). Its
 * attempt count has not gone back (an abort that waited for the
 * irrevocable transaction does not advance it). The transaction's end
 * while recording writes the record; only where its last attempts did not
 * record can a later run of the same block, from the same frame, take it. */
static bool wait_mine(const struct stm_tx *tx, const struct rec_thread *r)
{
	return tx->open[0].pc == r->wait_pc && tx->open[0].frame == r->wait_frame &&
	       tx->retries + 1 >= r->wait.attempt;
}

/* Under wait_lock: takes the waiting record of @p r into @p a, if one
 * still waits (the owner, or rec_exit from another thread), as
 * rec_attempt_over filled it in, or as it is (no later read found: its
 * stack and address unknown). */
static bool wait_take(struct rec_thread *r, struct rec_abort *a)
{
	if (!r->waiting)
		return false;
	*a = r->wait;
	__atomic_store_n(&r->waiting, false, __ATOMIC_RELAXED);
	/* The read's word not known: nor whether it was the other's. */
	if (!a->address)
		a->flags &= (uint8_t)~REC_ABORT_FALSE_CONFLICT;
	record_alloc(a);
	return true;
}

/* Writes the waiting record, unless rec_exit has taken it: into the ring
 * under wait_lock, so that rec_exit, which drains the ring under it too,
 * finds the record in one place or the other; then to the hook and the
 * debugger, outside it. */
static void wait_out(struct rec_thread *r)
{
	struct rec_abort a;

	r->wait_ready = false;
	wait_lock(r);
	bool taken = wait_take(r, &a);

	if (taken)
		record_queue(r, &a);
	wait_unlock(r);
	if (taken)
		announce(&a);
}

void rec_attempt_over(struct stm_tx *tx, bool last)
{
	struct rec_thread *r = tx->rec;

	if (!r || !is_waiting(r) || r->wait_ready || !tx->rec_reads || !wait_mine(tx, r))
		return;
	/* The first read of the orec, or the first of a word the other side
	 * wrote (a true conflict: rec_conflict_read prefers it the same way).
	 * Reads are noted in this attempt (rec_attempt_start), but an entry
	 * past the addresses' room has none. */
	const struct rec_abort *o0 = &r->wait_other[0], *pick = NULL;
	const struct lucid_rentry_ *found = NULL;
	bool pick_unsure = false;   /* whether the other side wrote its word is not known */
	bool stripe_known = o0->flags & REC_ABORT_OTHER_KNOWN;

	for (const struct lucid_rentry_ *e = tx->r_base; e < tx->fast.r_top; e++) {
		size_t i = (size_t)(e - tx->r_base);

		if (e->orec != r->wait.orec || i >= tx->rec_raddr_cap)
			continue;
		uint64_t word = tx->rec_raddr[i] & ~(uint64_t)7;
		bool in_stripe = stripe_known && SIDE_STRIPE(word) == SIDE_STRIPE(o0->other_address);
		const struct rec_abort *o = in_stripe ? &r->wait_other[1 + SIDE_WORD(word)] : o0;

		bool unsure = false;

		if (!(o->flags & REC_ABORT_OTHER_KNOWN)) {
			o = o0;   /* the other side moved on before that look */
			unsure = in_stripe;
		}
		if (!found) {
			found = e;
			pick = o;
			pick_unsure = unsure;
		}
		if (o != o0 && !(o->flags & REC_ABORT_FALSE_CONFLICT)) {
			found = e;
			pick = o;
			pick_unsure = false;
			break;
		}
	}
	if (!found && !last)
		return;   /* perhaps the next attempt reads it */
	/* Filled in on a copy, and put back under wait_lock unless rec_exit
	 * has taken the record meanwhile. */
	struct rec_abort w = r->wait;

	if (found) {
		struct rec_abort *a = &w;
		const uint8_t other_flags = REC_ABORT_OTHER_KNOWN | REC_ABORT_OTHER_COMMITTED |
		                            REC_ABORT_FALSE_CONFLICT;

		read_into(tx, a, found);
		a->flags = (uint8_t)((a->flags & ~other_flags) | (pick->flags & other_flags));
		/* The look made without the word: false where the words differ
		 * (not known where the look with the word failed). */
		if (pick == o0 && ((a->address & ~(uint64_t)7) == o0->other_address || pick_unsure))
			a->flags &= (uint8_t)~REC_ABORT_FALSE_CONFLICT;
		a->other_stack = pick->other_stack;
		a->other_tid = pick->other_tid;
		a->other_site = pick->other_site;
		a->other_address = pick->other_address;
		a->other_commit = pick->other_commit;
	}
	wait_lock(r);
	if (r->waiting)
		r->wait = w;
	wait_unlock(r);
	/* Written once the attempt has ended (rec_abort_done, rec_commit_done):
	 * not while it holds locks or runs. */
	r->wait_ready = true;
}

void rec_commit_done(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;

	if (r && r->wait_ready)
		wait_out(r);
}

/* Counts a commit of the current attempt's block (stm_commit_lazy counts
 * its own), and whether it wrote (see rec_attempt_start). */
static void block_committed(struct rec_thread *r, bool wrote)
{
	uint64_t bit = (uint64_t)1 << (r->site % 64);

	if (r->site < MAX_SITES)
		stm_stat_add(&r->commits[r->site], 1);
	r->site_wrote = wrote ? r->site_wrote | bit : r->site_wrote & ~bit;
}

void rec_commit(struct stm_tx *tx, uintptr_t ts)
{
	struct rec_thread *r = tx->rec;

	if (!r)
		return;
	if (is_waiting(r))
		rec_attempt_over(tx, true);   /* written by rec_commit_done */
	struct hist *h = r->hist;

	if (h) {
		/* Each word written (an entry that writes no byte is an
		 * irrevocable read's lock): a sequence lock, the invalidation,
		 * then the fields (each a release, so that none is seen before
		 * the invalidation; a fence would do, but ThreadSanitizer refuses
		 * fences), then the time. Before the orecs are released: a
		 * reader that finds this commit's version finds its words. */
		uint64_t n = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
		uint64_t site_tid = (uint64_t)r->site | (uint64_t)(uint32_t)tx->thread_id << 32;

		for (const struct lucid_wentry_ *e = tx->w_base; e < tx->fast.w_top; e++) {
			if (!e->mask)
				continue;
			struct hist_word *s = &h->w[n++ % HIST_WORDS];

			__atomic_store_n(&s->version, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->word, e->addr, __ATOMIC_RELEASE);
			__atomic_store_n(&s->stack_orec, e->stack | (uint64_t)e->orec << 32,
			                 __ATOMIC_RELEASE);
			__atomic_store_n(&s->site_tid, site_tid, __ATOMIC_RELEASE);
			__atomic_store_n(&s->version, ts, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&h->head, n, __ATOMIC_RELEASE);
	}
	block_committed(r, true);
}

/* Read-only commits are counted too (abort rates are per block). */
void rec_commit_ro(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;

	if (r && is_waiting(r))
		rec_attempt_over(tx, true);   /* written by rec_commit_done */
	if (r)
		block_committed(r, false);
}

/* ---------------------------------------------------------- the writer */

static pthread_mutex_t rec_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rec_cond = PTHREAD_COND_INITIALIZER;
static pthread_t writer;
static bool writer_running, writer_stop;
static struct rec_file *file;
static char *file_path;
static bool file_replace;
static struct rec_buf buf;
static struct rec_modmap *modmap;
static uint64_t exited_commits[MAX_SITES];
static uint64_t exited_dropped, last_dropped;
static bool threads_written;     /* a THREADS record was written to this file */
static uint64_t last_flush_ns;
static bool write_failed;

/*
 * Commits per thread, for THREADS records. Nothing is counted per commit
 * for this: a thread's commits are the sum of its per-site counts, read by
 * the writer from the same snapshot as the COMMITS totals, so that both add
 * up to the same number at every flush. Threads that exited leave their sum
 * here. Kernel thread ids can be reused: one id's counts add up, as its
 * aborts do in the reports. Only entries that may have changed since the
 * last THREADS (live threads, and threads that exited since) are looked at
 * and, when their count changed, written. Under rec_mutex.
 */
struct tid_count {
	uint32_t tid;
	bool dirty;                 /* listed in tid_dirty */
	uint64_t exited;            /* commits of exited threads with this id */
	uint64_t live;              /* of live ones, at this flush */
	uint64_t written;           /* the count in the last THREADS */
};

static struct tid_count *tid_counts;
static uint32_t n_tids, cap_tids;
static uint32_t *tid_slots;      /* open addressing: index + 1, 0 empty */
static uint32_t tid_slot_mask;   /* slots - 1 (slots a power of two, or none) */
static uint32_t *tid_dirty;      /* indices of entries to look at next flush */
static uint32_t n_dirty;

static uint32_t tid_hash(uint32_t tid)
{
	return (tid * 0x9E3779B1u) >> 7;
}

/* Doubles the slots and puts every entry back. */
static bool tid_rehash(void)
{
	uint32_t nslots = tid_slots ? 2 * (tid_slot_mask + 1) : 64;
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return false;
	for (uint32_t i = 0; i < n_tids; i++) {
		uint32_t k = tid_hash(tid_counts[i].tid) & (nslots - 1);

		while (slots[k])
			k = (k + 1) & (nslots - 1);
		slots[k] = i + 1;
	}
	free(tid_slots);
	tid_slots = slots;
	tid_slot_mask = nslots - 1;
	return true;
}

/* tid's entry, added when new and marked dirty; NULL on out of memory. */
static struct tid_count *tid_entry(uint32_t tid)
{
	struct tid_count *t;
	uint32_t k;

	if (tid_slots) {
		for (k = tid_hash(tid) & tid_slot_mask; tid_slots[k]; k = (k + 1) & tid_slot_mask)
			if (tid_counts[tid_slots[k] - 1].tid == tid)
				goto found;
	}
	if (n_tids == cap_tids) {
		uint32_t cap = cap_tids ? 2 * cap_tids : 64;
		struct tid_count *v = cap > cap_tids ? realloc(tid_counts, cap * sizeof(*v)) : NULL;
		uint32_t *d = v ? realloc(tid_dirty, cap * sizeof(*d)) : NULL;

		if (v)
			tid_counts = v;
		if (!d)
			return NULL;
		tid_dirty = d;
		cap_tids = cap;
	}
	/* At most half full, so that probes stay short. */
	if ((!tid_slots || 2 * (n_tids + 1) > tid_slot_mask + 1) && !tid_rehash())
		return NULL;
	tid_counts[n_tids] = (struct tid_count){ .tid = tid };
	for (k = tid_hash(tid) & tid_slot_mask; tid_slots[k]; k = (k + 1) & tid_slot_mask)
		;
	tid_slots[k] = ++n_tids;
found:
	t = &tid_counts[tid_slots[k] - 1];
	if (!t->dirty) {
		t->dirty = true;
		tid_dirty[n_dirty++] = (uint32_t)(t - tid_counts);
	}
	return t;
}

static void tid_forget_all(void)
{
	free(tid_counts);
	free(tid_slots);
	free(tid_dirty);
	tid_counts = NULL;
	tid_slots = tid_dirty = NULL;
	n_tids = cap_tids = n_dirty = tid_slot_mask = 0;
	threads_written = false;
}

/* Emits what an abort record refers to, then the record. Under rec_mutex. */
static void emit_stack(uint32_t id)
{
	struct depot_stack *s = (struct depot_stack *)depot_get(id);

	if (!s || s->emitted)
		return;
	for (uint32_t i = 0; i < s->depth; i++) {
		if (!rec_modmap_contains(modmap, s->pcs[i])) {
			rec_put_modules(&buf, modmap);
			break;
		}
	}
	rec_put_stack(&buf, id, s->pcs, s->depth);
	s->emitted = 1;
}

static void emit_site(uint32_t id)
{
	if (!id || id >= __atomic_load_n(&n_sites, __ATOMIC_ACQUIRE) || sites[id].emitted)
		return;
	struct rec_site s = { .id = id, .line = (uint32_t)sites[id].line, .pc = sites[id].pc,
	                      .file = sites[id].file, .function = sites[id].function };

	rec_put_site(&buf, &s);
	sites[id].emitted = 1;
}

static void emit_abort(const struct rec_abort *q)
{
	struct rec_abort conv = *q;
	const struct rec_abort *a = &conv;

	conv.mono_ns = tick_time_ns(q->mono_ns);
	conv.wasted_ns = ticks_to_ns(q->wasted_ns);
	emit_stack(a->stack);
	emit_stack(a->other_stack);
	emit_stack(a->alloc_stack);
	emit_site(a->site);
	emit_site(a->other_site);
	rec_put_abort(&buf, a);
}

static void drain_thread(struct stm_tx *tx, void *arg)
{
	struct rec_thread *r = __atomic_load_n(&tx->rec, __ATOMIC_ACQUIRE);
	uint64_t *dropped = arg;

	if (!r)
		return;
	unsigned tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	for (; tail != head; tail++)
		emit_abort(&r->ring[tail % RING]);
	__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
	*dropped += __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
}

struct commit_sums {
	uint64_t *by_site;
	uint32_t n_sites;           /* sites 0 .. n_sites - 1 are counted (0: blocks
	                               that got no site id) */
	bool oom;
};

/* One live thread's counts, into the sites' totals and its thread's: each
 * counter is read once, so the two agree. */
static void add_commits(struct stm_tx *tx, void *arg)
{
	struct rec_thread *r = __atomic_load_n(&tx->rec, __ATOMIC_ACQUIRE);
	struct commit_sums *cs = arg;
	struct tid_count *t;
	uint64_t mine = 0;

	if (!r)
		return;
	for (uint32_t i = 0; i < cs->n_sites; i++) {
		uint64_t n = __atomic_load_n(&r->commits[i], __ATOMIC_RELAXED);

		cs->by_site[i] += n;
		mine += n;
	}
	if (!mine)
		return;
	t = tid_entry((uint32_t)tx->thread_id);
	if (t)
		t->live += mine;
	else
		cs->oom = true;
}

static void write_out(void)
{
	if (!file || write_failed || buf.len == 0)
		goto out;
	int err = buf.oom ? -ENOMEM : rec_file_append(file, buf.data, buf.len);

	if (err) {
		write_failed = true;
		/* Nothing more reaches the file: stop paying for capture. */
		__atomic_store_n(&rec_to_file, false, __ATOMIC_RELEASE);
		capture_update(listeners());
		lucid_diag("recording to %s stopped: %s; the program goes on", file_path,
		           rec_file_strerror(err));
	}
out:
	rec_buf_reset(&buf);
}

/* The THREADS pairs of the entries that changed since the last flush (an
 * empty record the first time: per-thread counts are in this file). */
static void emit_threads(void)
{
	struct rec_tid_commits pairs[256];
	uint32_t n = 0;
	bool any = false;

	for (uint32_t i = 0; i < n_dirty; i++) {
		struct tid_count *t = &tid_counts[tid_dirty[i]];
		uint64_t now = t->exited + t->live;

		t->live = 0;
		t->dirty = false;
		if (now == t->written)
			continue;
		t->written = now;
		pairs[n++] = (struct rec_tid_commits){ .tid = t->tid, .commits = now };
		if (n == 256) {
			rec_put_threads(&buf, pairs, n);
			n = 0;
			any = true;
		}
	}
	n_dirty = 0;
	if (n || (!any && !threads_written))
		rec_put_threads(&buf, pairs, n);
	threads_written = true;
}

/* Commit counts (per site and per thread) and drops, every flush. Under
 * rec_mutex. */
static void emit_totals(uint64_t dropped)
{
	static uint64_t sum[MAX_SITES];
	struct rec_commit pairs[256];
	uint32_t n = 0, ns = __atomic_load_n(&n_sites, __ATOMIC_ACQUIRE);
	struct commit_sums cs = { .by_site = sum, .n_sites = ns };

	memcpy(sum, exited_commits, sizeof(sum));
	stm_for_each_thread(add_commits, &cs);
	if (cs.oom) {
		/* The counts would no longer add up: stop, as for any
		 * other failure to build what is written. */
		buf.oom = true;
		return;
	}
	/* Site 0 counts the blocks that got no site id (the table was full);
	 * no SITE record describes it. */
	for (uint32_t i = 0; i < ns; i++) {
		if (!sum[i])
			continue;
		emit_site(i);
		pairs[n++] = (struct rec_commit){ .site = i, .commits = sum[i] };
		if (n == 256) {
			rec_put_commits(&buf, pairs, n);
			n = 0;
		}
	}
	if (n)
		rec_put_commits(&buf, pairs, n);
	emit_threads();
	dropped += __atomic_load_n(&depot_full, __ATOMIC_RELAXED);
	if (dropped != last_dropped) {
		rec_put_drops(&buf, dropped);
		last_dropped = dropped;
	}
}

static void drain_all(bool totals)
{
	uint64_t dropped = exited_dropped;

	update_rate();
	stm_for_each_thread(drain_thread, &dropped);
	if (totals)
		emit_totals(dropped);
	write_out();
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rec_mutex);
	while (!writer_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)DRAIN_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&rec_cond, &rec_mutex, &ts);
		uint64_t now = stm_now_ns();
		bool totals = now - last_flush_ns >= 100000000ull;

		drain_all(totals);
		if (totals)
			last_flush_ns = now;
	}
	pthread_mutex_unlock(&rec_mutex);
	return NULL;
}

static int open_file(const char *path, bool replace)
{
	char err[512];

	file = rec_file_create(path, replace, err, sizeof(err));
	if (!file) {
		lucid_diag("not recording: %s", err);
		return -EEXIST;
	}
	modmap = rec_modmap_new();
	rec_put_header_self(&buf, stm_config.orec_bits, LUCID_WORD_SHIFT_);
	rec_put_modules(&buf, modmap);
	write_out();
	return 0;
}

static bool allocate_tables(void)
{
	size_t slots = sizeof(uint32_t) << (DEPOT_BITS + 1);
	size_t ids = sizeof(void *) << DEPOT_BITS;
	/* The table of stacks by id holds pointers: calloc, so that leak
	 * checkers see them (large callocs are fresh zero pages anyway). */
	void *a = mmap(NULL, slots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *b = calloc(1, ids);
	void *d = mmap(NULL, sizeof(struct alloc_slot) << ALLOC_BITS, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *e = mmap(NULL, (size_t)1 << (ALLOC_PAGE_BITS - 3), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (a == MAP_FAILED || !b || d == MAP_FAILED || e == MAP_FAILED)
		return false;
	alloc_pages = e;
	alloc_table = d;
	depot_slots = a;
	depot_by_id = b;
	return true;
}

static void rec_exit(void);

/* Tables and unwinder set up once, before anything is captured. Under rec_mutex. */
/* Whether anything but the file listens to aborts: a hook, a debugger
 * (LUCID_CAPTURE) or LUCID_BREAK. */
static bool listeners(void)
{
	return hook_fn != NULL || debug_capture || conflict_break_active();
}

/* Whether anyone listens to aborts. */
static bool capture_wanted(void)
{
	return file != NULL || listeners();
}

/* Publishes who listens now (under rec_mutex). */
static void capture_update(bool capture)
{
	__atomic_store_n(&rec_exact, listeners() && !lazy_for_tests, __ATOMIC_RELAXED);
	/* Every start loads the gate's line: written only when the bit changes. */
	if (capture == stm_recording())
		return;
	if (capture)
		__atomic_fetch_or(&stm_gate.on, STM_GATE_REC, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&stm_gate.on, ~STM_GATE_REC, __ATOMIC_RELEASE);
}

bool rec_capturing(void)
{
	return stm_recording();
}

void rec_test_lazy_reads(bool on)
{
	pthread_mutex_lock(&rec_mutex);
	lazy_for_tests = on;
	capture_update(capture_wanted());
	pthread_mutex_unlock(&rec_mutex);
}

static bool capture_ready(void)
{
	if (!tick0) {
		tick0 = ticks();
		ns0 = stm_now_ns();
	}
	if (depot_slots)
		return true;
	if (!allocate_tables()) {
		lucid_diag("cannot capture aborts: out of memory for the recorder's tables");
		return false;
	}
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	return true;
}

int rec_start(const char *path, bool replace)
{
	int err = 0;

	pthread_mutex_lock(&rec_mutex);
	if (file) {
		err = -EBUSY;
		goto out;
	}
	if (!capture_ready()) {
		err = -ENOMEM;
		goto out;
	}
	free(file_path);
	file_path = strdup(path);
	file_replace = replace;
	if (!file_path || (err = open_file(path, replace)) != 0)
		goto out;
	writer_stop = false;
	if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
		lucid_diag("not recording: cannot start the writer thread");
		rec_file_close(file);
		file = NULL;
		err = -EAGAIN;
		goto out;
	}
	writer_running = true;
	last_flush_ns = stm_now_ns();
	__atomic_store_n(&rec_to_file, true, __ATOMIC_RELEASE);
	capture_update(true);
	static bool exit_registered;
	if (!exit_registered) {
		exit_registered = true;
		atexit(rec_exit);
	}
out:
	pthread_mutex_unlock(&rec_mutex);
	return err;
}

void rec_init(void)
{
	const char *path = getenv("LUCID_RECORD");
	const char *cap = getenv("LUCID_CAPTURE");

	if (cap && *cap && strcmp(cap, "0") != 0 && strcmp(cap, "1") != 0)
		lucid_misuse("unset it, or set it to 1 (capture) or 0", "LUCID_CAPTURE=\"%.200s\" is "
		             "neither 0 nor 1", cap);
	pthread_mutex_lock(&rec_mutex);
	debug_capture = cap && strcmp(cap, "1") == 0;
	if (capture_wanted() && capture_ready())
		capture_update(true);
	pthread_mutex_unlock(&rec_mutex);
	if (path && *path)
		rec_start(path, true);
}

/*
 * At exit, the record that waits in a thread whose transaction runs on
 * (its next attempts have not ended), as it is: its abort is counted in
 * the STATS that follows. Under rec_mutex.
 */
static void exit_waiting(struct stm_tx *tx, void *arg)
{
	struct rec_thread *r = __atomic_load_n(&tx->rec, __ATOMIC_ACQUIRE);
	struct rec_abort a;
	uint64_t dropped = 0;   /* drain_all counts them */

	(void)arg;
	if (!r)
		return;
	/* A record that the owner is writing out (wait_out) is either still
	 * waiting or in the ring. */
	wait_lock(r);
	bool taken = wait_take(r, &a);

	drain_thread(tx, &dropped);
	wait_unlock(r);
	if (taken)
		emit_abort(&a);
}

/* At exit: the last records, the totals, the statistics. */
static void rec_exit(void)
{
	struct lucid_stats st;

	pthread_mutex_lock(&rec_mutex);
	writer_stop = true;
	pthread_cond_signal(&rec_cond);
	pthread_mutex_unlock(&rec_mutex);
	if (writer_running) {
		pthread_join(writer, NULL);
		writer_running = false;
	}
	pthread_mutex_lock(&rec_mutex);
	if (file) {
		stm_for_each_thread(exit_waiting, NULL);
		drain_all(true);
		stm_stats_collect(&st);
		struct rec_stats s = { .commits = st.commits, .aborts = st.aborts,
		                       .max_retries = st.max_retries, .n = LUCID_ABORT_REASONS,
		                       .by_reason = st.aborts_by_reason };

		rec_put_stats(&buf, &s);
		write_out();
		rec_file_close(file);
		file = NULL;
	}
	__atomic_store_n(&rec_to_file, false, __ATOMIC_RELEASE);
	capture_update(capture_wanted());
	pthread_mutex_unlock(&rec_mutex);
}

int lucid_record_start(const char *path, unsigned flags)
{
	int err;

	if (!path)
		return -LUCID_EINVAL;
	stm_init();
	err = rec_start(path, flags & LUCID_RECORD_REPLACE);
	return err == 0 ? 0 : err == -EBUSY ? -LUCID_EBUSY : err == -ENOMEM ? -LUCID_ENOMEM
	                                                                      : -LUCID_EIO;
}

void lucid_set_abort_hook(lucid_abort_hook fn, void *arg)
{
	stm_init();
	pthread_mutex_lock(&rec_mutex);
	if (fn && !capture_ready())
		fn = NULL;
	__atomic_store_n(&hook_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&hook_fn, fn, __ATOMIC_RELEASE);
	capture_update(capture_wanted());
	pthread_mutex_unlock(&rec_mutex);
}

int lucid_debug_capture(int on)
{
	int err = 0;

	stm_init();
	pthread_mutex_lock(&rec_mutex);
	if (on && !capture_ready())
		err = -LUCID_ENOMEM;
	else
		debug_capture = on != 0;
	capture_update(capture_wanted());
	pthread_mutex_unlock(&rec_mutex);
	return err;
}

void rec_thread_exit(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;
	uint64_t dropped = 0;

	if (!r)
		return;
	if (is_waiting(r))
		wait_out(r);   /* still waiting: out without its read */
	pthread_mutex_lock(&rec_mutex);
	if (file)
		drain_thread(tx, &dropped);
	exited_dropped += dropped;
	uint64_t mine = 0;

	for (uint32_t i = 0; i < MAX_SITES; i++) {
		exited_commits[i] += r->commits[i];
		mine += r->commits[i];
	}
	memset(r->commits, 0, sizeof(r->commits));
	if (mine) {
		struct tid_count *t = tid_entry((uint32_t)tx->thread_id);

		if (t)
			t->exited += mine;
		else
			buf.oom = true;   /* write_out stops the recording */
	}
	r->dropped = 0;
	write_out();
	pthread_mutex_unlock(&rec_mutex);
}

void rec_thread_free(struct stm_tx *tx)
{
	struct rec_thread *r = tx->rec;

	free(tx->rec_memo);
	tx->rec_memo = NULL;
	if (!r)
		return;
	tx->rec = NULL;
	free(tx->rec_raddr);
	free(tx->rec_rra);
	tx->rec_raddr = NULL;
	tx->rec_rra = NULL;
	tx->rec_raddr_cap = 0;
	hist_give_back(r->hist);
	free(r);
}

void rec_fork_prepare(void)
{
	pthread_mutex_lock(&rec_mutex);
}

void rec_fork_parent(void)
{
	pthread_mutex_unlock(&rec_mutex);
}

/* The child records to FILE.PID: a new file, whose stacks and sites must be
 * described again, and a new writer thread (threads do not survive fork). */
void rec_fork_child(void)
{
	bool was = file != NULL;

	writer_running = false;
	struct stm_tx *self = stm_self_if_any();

	if (self && self->rec) {
		/* What the parent had queued is the parent's. */
		self->rec->tail = self->rec->head;
		__atomic_store_n(&self->rec->waiting, false, __ATOMIC_RELAXED);
		self->rec->wait_ready = self->rec->pending_waits = false;
		__atomic_store_n(&self->rec->wait_lock, 0, __ATOMIC_RELAXED);
		self->rec->dropped = 0;
		memset(self->rec->commits, 0, sizeof(self->rec->commits));
	}
	if (was) {
		rec_file_close(file);
		file = NULL;
		rec_modmap_free(modmap);
		modmap = NULL;
		for (uint32_t id = 1; id < __atomic_load_n(&depot_next, __ATOMIC_RELAXED) &&
		                      id < (1u << DEPOT_BITS); id++)
			if (depot_by_id[id])
				depot_by_id[id]->emitted = 0;
		for (uint32_t i = 1; i < n_sites; i++)
			sites[i].emitted = 0;
		memset(exited_commits, 0, sizeof(exited_commits));
		tid_forget_all();
		exited_dropped = last_dropped = 0;
		write_failed = false;
	}
	pthread_mutex_unlock(&rec_mutex);
	if (was) {
		char path[4096];

		snprintf(path, sizeof(path), "%s.%ld", file_path, (long)getpid());
		__atomic_store_n(&rec_to_file, false, __ATOMIC_RELEASE);
		rec_start(path, file_replace);
	}
}
