/* stm: the engine's private declarations (descriptor, logs, clock, contention). */
#ifndef LUCID_STM_INTERNAL_H
#define LUCID_STM_INTERNAL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <lucid/stats.h>
#include <lucid/static/tx-inline.h>
#include "stm/orec.h"
#include "stm/rcu.h"

#define STM_CACHELINE 64
/* Adjacent-line prefetchers pull pairs of lines: keep hot shared words 128 apart. */
#define STM_ISOLATE 128

#define stm_likely(x) __builtin_expect(!!(x), 1)
#define stm_unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Write-log entries (struct lucid_wentry_, in the static header because the
 * inline write path fills them): one word this transaction will write at
 * commit. The first entry for an orec (the "head", which the locked orec
 * points to) keeps the orec's version from before the lock; further words
 * under the same orec are chained from the head. When the log is full it
 * doubles in place (stm_wlog_grow): the entries move and every lock we hold
 * is re-pointed; the old log is freed after a grace period.
 */
#define STM_NOT_HEAD STM_OREC_LOCKED
/* A wait-set version no orec holds (locks point to 64-byte aligned entries). */
#define STM_WAIT_CHANGED (STM_OREC_LOCKED | 1)

_Static_assert(sizeof(struct lucid_wentry_) == 64, "write-log entries are one cache line");

/* Per-thread counters: written only by the owner (relaxed atomics, so that
 * lucid_stats_get may read them from another thread), on their own line. */
struct stm_counters {
	uint64_t commits_rw;       /* commits that wrote */
	uint64_t commits_ro;       /* and those that did not */
	uint64_t aborts;
	uint64_t max_retries;
	uint64_t serial;
	uint64_t irrevocable;
	uint64_t extensions;
	uint64_t retry_waits;
	uint64_t by_reason[LUCID_ABORT_REASONS_MAX];
};

/* Where a LUCID_ATOMIC block is, kept for diagnostics while it is open. */
struct stm_open_block {
	void *pc;                  /* an address in the enclosing function, at the block */
	const struct lucid_site_ *site;   /* file, function and line (line 0: a
	                                     transaction started by lucid_run()) */
	void *frame;               /* frame address of the enclosing function */
	const void *block;         /* the block record (struct lucid_block_) */
};
#define STM_TRACK_DEPTH 16
#define STM_REC_MEMO 1024          /* memo of captured stacks (per thread, while recording) */
#define STM_REC_MEMO_WAYS 4        /* places that share a set in it */
#define STM_REC_CHECKS 8           /* frames between a memoized place and its block */
#define STM_REC_WAYS 4             /* block contexts whose recent places are kept */

/*
 * A thread's transaction descriptor. The fast part comes first, alone on its
 * cache line; the descriptor is cache-line aligned, so no two threads' hot
 * data share a line.
 */
struct rec_thread;
struct stm_limbo;
#define STM_LIMBO_BATCH 64         /* freed small blocks per grace period (tx/memory.c) */
#define STM_LIMBO_MAX_SIZE 1024    /* what a small block is, in usable bytes */
#define STM_LIMBO_MAX_BYTES (4u << 20)   /* what a thread's batches may hold */

struct stm_tx {
	struct lucid_txfast_ fast;
	char pad0_[STM_ISOLATE - sizeof(struct lucid_txfast_)];

	uintptr_t clock_seen;      /* the newest clock value this thread has read or
	                              taken: the next attempt's snapshot (see stm_start);
	                              with r_base, what the start copies to end and r_top */
	/* read set */
	struct lucid_rentry_ *r_base;
	size_t r_cap;
	/* write log (its top and end are in the fast part) */
	struct lucid_wentry_ *w_base;
	size_t w_cap;
	/* their ends, r_base + r_cap and w_base + w_cap, which an attempt's
	 * start copies to the fast part (r_end and w_end) */
	struct lucid_rentry_ *r_lim;
	struct lucid_wentry_ *w_lim;

	/* the running transaction */
	void *env;                 /* outermost block's checkpoint: a sigjmp_buf, or */
	bool env_own;              /* a struct lucid_checkpoint_ (see stm_jump) */
	unsigned nesting;          /* 0 = not in a transaction */
	unsigned retries;          /* consecutive aborts of this transaction */
	/* Starting an attempt takes stm_start_slow if any of these is set. */
	union {
		struct {
			bool want_serial;        /* the next attempt runs in serial mode */
			bool want_irrevocable;   /* the next attempt starts irrevocable */
		};
		uint16_t start_other;
	};
	/* A commit takes stm_commit_slow if any of these is set (or it wrote). */
	union {
		struct {
			bool rec_on;     /* this attempt captures stacks */
			bool serial;     /* this attempt runs in serial irrevocable mode */
			bool token;      /* holds the irrevocability token: reads lock
			                    (read by others, atomically) */
			bool after;      /* work for after the attempt (tx_after_commit):
			                    allocations, frees or handlers */
		};
		uint32_t commit_other;
	};
	bool irrevocable;          /* lucid_irrevocable() was called in this attempt */
	bool in_handler;           /* running commit or abort handlers */
	bool blocked_by_token;     /* this abort met the irrevocable transaction's lock */
	uintptr_t invalid_seen;    /* the orec value that failed the last validation */
	const struct lucid_rentry_ *invalid_entry;   /* and its read-set entry */

	/* recording (conflict/recorder.c; rec_on is above) */
	bool rec_reads;            /* this recording attempt notes each read's stack
	                              (else only some that leave the common path, in
	                              an attempt that writes: see rec_attempt_start) */
	bool rec_lazy;             /* this recording attempt has not worked out its
	                              block context yet: writes go out of line, where
	                              stm_rec_ready makes it */
	uint64_t *rec_commits;     /* such an attempt's count of its block's commits
	                              (read by the recorder's writer) */
	void *rec_ra;              /* where the user called into Lucid last */
	void *rec_frame;
	uint64_t rec_asked;        /* places the inline paths did not find among the
	                              recent ones and asked the library about (tests) */
	struct rec_thread *rec;    /* the recorder's per-thread state (read by others) */
	uintptr_t rec_ctx;         /* this attempt's block context (see recorder.c) */
	struct stm_rec_memo {      /* a captured stack (recorder.c, memo_stack) */
		uintptr_t key, pos, ctx;   /* its place and block context */
		uint32_t id, n;            /* its id; frames checked (at most STM_REC_CHECKS) */
		int32_t own;               /* where, from pos, the access's return address is */
		int32_t off[STM_REC_CHECKS];     /* where, from pos, each frame keeps */
		uintptr_t ret[STM_REC_CHECKS];   /* its return address, and which */
	} *rec_memo;               /* STM_REC_MEMO of them, or NULL */
	struct lucid_recfast_ *recf;   /* the inline paths' recording state (one of recfast) */
	struct lucid_recfast_ recfast[STM_REC_WAYS];  /* for the last few block contexts, */
	uintptr_t recfast_ctx[STM_REC_WAYS];          /* which ones (see rec_attempt_start) */
	unsigned recfast_next;                        /* the next to replace */
	uintptr_t *rec_raddr;      /* the address of each read-set entry (recorder.c) */
	const void **rec_rra;      /* and for an entry noted LUCID_REC_IN_BLOCK_, the
	                              read's return address */
	size_t rec_raddr_cap;      /* entries both have room for */
	unsigned in_cs;            /* odd while an attempt runs, new for each attempt
	                              (stm_cs_mark_enter): what grace periods wait for
	                              (stm_attempts_synchronize, tx/memory.c's); the owner
	                              writes it */
	unsigned sync_refs;        /* grace periods looking at in_cs now: the descriptor
	                              outlives them (thread.c) */
	uint64_t rng;              /* xorshift state for back-off */
	struct stm_open_block open[STM_TRACK_DEPTH];

	/* what lucid_retry() waits on: the orecs read and the values seen */
	struct stm_wait_entry { uintptr_t seen; uint32_t orec; } *wait_set;
	size_t wait_n, wait_cap;

	/* per attempt: lucid_malloc'd blocks, lucid_free'd blocks, handlers */
	struct stm_ptrvec { void **v; size_t n, cap; } allocs, frees;
	/* the same frees as a hash set, once there are many (tx/memory.c) */
	struct stm_ptrset { void **slot; size_t mask, n; } free_set;
	struct stm_handlers { struct stm_handler { void (*fn)(void *); void *arg; } *v;
	                      size_t n, cap; } on_commit, on_abort;
	/* blocks freed by committed attempts, waiting for a grace period
	 * (tx/memory.c): the batch being filled, the closed ones (oldest
	 * first, to the newest), an empty one kept for reuse, and the usable
	 * bytes the open and closed ones hold */
	struct stm_limbo *limbo, *limbo_old, *limbo_new, *limbo_spare;
	size_t limbo_bytes;
	/* the thread's own grace period for its closed batches, when the
	 * system has membarrier (tx/memory.c): the newest batch it covers
	 * (NULL: none is running), the other threads' attempts it waits for,
	 * and stm_exits when they were taken */
	struct stm_limbo *gp_upto;
	struct stm_gp_wait { struct stm_tx *t; unsigned seq; } *gp_wait;
	size_t gp_n, gp_cap;
	uint64_t gp_exits;
	bool gp_closed;            /* a batch closed since the clock was last read
	                              to start a membarrier (gp_advance), */
	unsigned gp_polls;         /* and the commits that asked since */

	/* registry */
	struct stm_tx *prev, *next;
	uint64_t thread_id;        /* kernel tid */

	struct stm_counters stats __attribute__((aligned(STM_ISOLATE)));
} __attribute__((aligned(STM_ISOLATE)));

/* ------------------------------------------------------------ config (thread.c) */
struct stm_config {
	unsigned orec_bits;        /* log2 of the orec table size */
	unsigned serial_after;     /* consecutive aborts before serial mode */
	size_t r_init;             /* initial read-set entries */
	size_t w_init;             /* initial write-log entries */
};
extern struct stm_config stm_config;

/* ---------------------------------------------------------- global state (engine.c) */
extern uintptr_t *stm_orecs;
extern uintptr_t stm_orec_mask;

/* The global version clock, alone on its lines: every update commit bumps it. */
struct stm_clock { uintptr_t now; char pad_[STM_ISOLATE - sizeof(uintptr_t)]; };
extern struct stm_clock stm_clock;

/* CLOCK_MONOTONIC in nanoseconds (tx/memory.c's grace periods, the recorder). */
static inline uint64_t stm_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uintptr_t stm_clock_now(void)
{
	return __atomic_load_n(&stm_clock.now, __ATOMIC_ACQUIRE);
}
uintptr_t stm_clock_tick(void);

/* ----------------------------------------------------------- descriptor (thread.c) */
void stm_init(void);
struct stm_tx *stm_register(void);
/* The empty descriptor of threads that have not run a transaction yet. */
extern struct lucid_txfast_ stm_none;

/* The calling thread's descriptor, registering the thread on first use. */
static inline struct stm_tx *stm_self(void)
{
	struct lucid_txfast_ *f = lucid_tls_tx_;

	if (__builtin_expect(f != &stm_none, 1))
		return (struct stm_tx *)f;
	return stm_register();
}

/* The calling thread's descriptor; NULL before its first transaction. */
static inline struct stm_tx *stm_self_if_any(void)
{
	struct lucid_txfast_ *f = lucid_tls_tx_;

	return f == &stm_none ? NULL : (struct stm_tx *)f;
}
void stm_stats_collect(struct lucid_stats *out);
/* Calls fn for every live descriptor, under the registry lock. */
void stm_for_each_thread(void (*fn)(struct stm_tx *tx, void *arg), void *arg);
/* Threads that have left the registry (exited, or gone in a fork child). */
extern uint64_t stm_exits;
/* Whether stm_membarrier() works on this system (set at init, never
 * changed: should it fail later, the program stops); atomic accesses. */
extern bool stm_has_membarrier;
/* A memory barrier in every running thread of the process (membarrier(2));
 * false where it does not work. */
bool stm_membarrier(void);
static inline bool stm_membarrier_works(void)
{
	return __atomic_load_n(&stm_has_membarrier, __ATOMIC_RELAXED);
}
void stm_logs_reserve(struct stm_tx *tx);
void stm_wlog_grow(struct stm_tx *tx);
void stm_defer_free(void *p);           /* free(p) after a grace period */
/*
 * Grace periods for attempts (thread.c). stm_attempts_synchronize()
 * returns once every attempt that was running when it was called has
 * ended; an attempt that begins later sees what the caller did before.
 * Memory handed to liburcu's call_rcu (whose worker runs the callback after
 * a grace period of liburcu's, which attempts take no part in) takes
 * stm_sync_ticket() when it is handed over, after whatever unlinked it, and
 * its callback calls stm_sync_after(ticket) before freeing it (stm_defer
 * and stm_deferred_ready, below): that waits for a grace period only where
 * none has begun since the ticket, so that the worker's batch of callbacks
 * shares one.
 */
void stm_attempts_synchronize(void);
uint64_t stm_sync_ticket(void);
void stm_sync_after(uint64_t ticket);

/* What such memory embeds: its call_rcu head and its ticket. */
struct stm_deferred {
	struct rcu_head rcu;
	uint64_t ticket;   /* stm_sync_ticket when handed over */
};

/* Hands @p d to call_rcu after whatever unlinked the memory: @p fn runs
 * later on liburcu's worker and must call stm_deferred_ready(d) first. */
static inline void stm_defer(struct stm_deferred *d, void (*fn)(struct rcu_head *))
{
	d->ticket = stm_sync_ticket();
	STM_RCU_TSAN_RELEASE();   /* d, handed over through liburcu */
	urcu_bp_call_rcu(&d->rcu, fn);
}

/* In @p d's callback: returns once no attempt can still read the memory.
 * ThreadSanitizer is told of the hand-over before the ticket is read. */
static inline void stm_deferred_ready(struct stm_deferred *d)
{
	STM_RCU_TSAN_ACQUIRE();
	stm_sync_after(d->ticket);
}

/* ------------------------------------------------------------- engine (engine.c) */
void stm_start_slow(struct stm_tx *tx);
/* Makes the attempt stm_start_fast or begin_gated has just started (its
 * snapshot taken) a recording one; returns 1 (conflict/recorder.c). */
int stm_start_rec(struct stm_tx *tx);
/* Points the inline paths of a recording attempt that has its block
 * context at its recent places. */
void stm_rec_rooms(struct stm_tx *tx);
/* Back to the outermost block's checkpoint: its next attempt (@p value 1)
 * or out of it (2, lucid_abort). tx/checkpoint.c. */
__attribute__((noreturn)) void stm_jump(struct stm_tx *tx, int value);
/* Commits (see stm_commit below) what the inline part does not. */
void stm_commit_slow(struct stm_tx *tx);
__attribute__((noreturn)) void stm_abort(struct stm_tx *tx, int reason, int jump_value);
void stm_rollback(struct stm_tx *tx);
__attribute__((noreturn)) void stm_retry(struct stm_tx *tx);
void stm_irrevocable(struct stm_tx *tx);
bool stm_validate(struct stm_tx *tx);
bool stm_extend(struct stm_tx *tx);
uint64_t stm_read(struct stm_tx *tx, uintptr_t addr, unsigned size);
void stm_write(struct stm_tx *tx, uintptr_t addr, unsigned size, uint64_t value);
struct lucid_wentry_ *stm_wlog_find(struct stm_tx *tx, struct lucid_wentry_ *head, uintptr_t word);
bool stm_owns(const struct stm_tx *tx, const struct lucid_wentry_ *w);
uint64_t stm_byte_mask(uintptr_t addr, unsigned size);
void stm_store_masked(uintptr_t word, uint64_t value, uint64_t mask);

static inline void stm_stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Notes where the user called into Lucid (for the recorder's stacks); used
 * at the top of every exported entry point that may capture a stack. */
#define STM_NOTE_CALLER(tx)                                        \
	do {                                                       \
		(tx)->rec_ra = __builtin_return_address(0);        \
		(tx)->rec_frame = __builtin_frame_address(0);      \
	} while (0)

/* ------------------------------------------------ after an attempt (tx/) */
void tx_after_commit(struct stm_tx *tx);
/* Whether tx_after_commit has anything to do (most transactions: no):
 * tx->after, set by whatever leaves it work. */
static inline bool tx_after_commit_pending(const struct stm_tx *tx)
{
	return tx->after;
}
void tx_after_abort(struct stm_tx *tx);
void tx_memory_commit(struct stm_tx *tx);
void tx_memory_abort(struct stm_tx *tx);
/* Frees every block the thread's committed attempts freed: once no
 * transaction can read them (the thread exits, or is gone in a fork child). */
void tx_memory_release(struct stm_tx *tx);
/* In a fork child: the other threads are gone, none of their attempts
 * runs any more. */
void tx_memory_after_fork(struct stm_tx *tx);

/* --------------------------------------------------- blocking retry (retry.c) */
void stm_retry_wait(struct stm_tx *tx);
void stm_retry_wake(void);
/* Threads sleeping in lucid_retry() and the generation they wait on, alone
 * on their lines (retry.c). */
struct stm_retry_line {
	unsigned waiters;
	unsigned generation;
	char pad_[STM_ISOLATE - 2 * sizeof(unsigned)];
};
extern struct stm_retry_line stm_retry_state;

/* Whether anyone waits in lucid_retry(): asked by every update commit. */
static inline bool stm_retry_waiters(void)
{
	return __atomic_load_n(&stm_retry_state.waiters, __ATOMIC_SEQ_CST) != 0;
}
void stm_retry_reset_after_fork(void);

/* ----------------------------------------------------- contention (cm.c) */
void stm_backoff(struct stm_tx *tx);
void stm_serial_enter(struct stm_tx *tx);
void stm_serial_exit(struct stm_tx *tx);
void stm_serial_wait(void);
/*
 * The gate: what takes an attempt's start off its common path, in one word
 * that every start loads once (stm_cs_enter), alone on its lines and
 * written only when one of these changes:
 */
#define STM_GATE_SERIAL ((uintptr_t)1)   /* a transaction waits to run alone, or a
                                            fork is under way (cm.c): starts wait */
#define STM_GATE_REC ((uintptr_t)2)      /* the recorder captures (conflict/
                                            recorder.c): attempts record */
#define STM_GATE_FENCE ((uintptr_t)4)    /* membarrier(2) does not work: starts
                                            fence (stm_cs_enter); set at init */
struct stm_flag { uintptr_t on; char pad_[STM_ISOLATE - sizeof(uintptr_t)]; };
extern struct stm_flag stm_gate;

static inline uintptr_t stm_gate_now(void)
{
	return __atomic_load_n(&stm_gate.on, __ATOMIC_RELAXED);
}

static inline bool stm_serial_pending(void)
{
	return (stm_gate_now() & STM_GATE_SERIAL) != 0;
}
void stm_token_acquire(struct stm_tx *tx);
void stm_token_release(struct stm_tx *tx);
void stm_token_wait(void);
void stm_wait_unlock(struct stm_tx *tx, unsigned spins);
void stm_fork_block(void);
void stm_fork_unblock(void);
uint64_t stm_random(struct stm_tx *tx);
unsigned stm_backoff_limit(unsigned retries);

/* A recording attempt that has not captured a stack yet works out its
 * block context first (engine.c). */
void stm_rec_ready_slow(struct stm_tx *tx);
static inline __attribute__((always_inline)) void stm_rec_ready(struct stm_tx *tx)
{
	if (stm_unlikely(tx->rec_lazy))
		stm_rec_ready_slow(tx);
}

/* The recent answer for place (key, pos), or 0 (see lucid_recfast_). */
static inline uint32_t stm_rec_recent(struct stm_tx *tx, const void *key, uintptr_t pos)
{
	return lucid_rec_id_(tx->recf, key, key, pos);
}

/* ------------------------------------------------ starting an attempt */
/* in_cs: odd while an attempt runs, a new odd value for each attempt,
 * the same value less one once it has left. Both stores are releases
 * (plain moves on x86-64): whoever sees the value change sees the
 * attempt's reads done. The odd value orders nothing for the attempt
 * itself: a grace period makes sure that it sees the odd value of any
 * attempt that could matter to it (membarrier(), or where that does not
 * work a fence on both sides: stm_cs_enter, stm_attempts_synchronize). */
/* A full fence. GCC refuses fences under ThreadSanitizer (which does not
 * model them): there a sequentially consistent read-modify-write stands in
 * (a locked instruction, a full barrier on x86-64). */
#ifdef LUCID_TSAN_
extern unsigned stm_fence_word;
#define STM_FULL_FENCE() ((void)__atomic_fetch_add(&stm_fence_word, 0, __ATOMIC_SEQ_CST))
#else
#define STM_FULL_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static inline __attribute__((always_inline)) void stm_cs_mark_enter(struct stm_tx *tx)
{
	__atomic_store_n(&tx->in_cs, (tx->in_cs | 1) + 2, __ATOMIC_RELEASE);
}

static inline __attribute__((always_inline)) void stm_cs_mark_leave(struct stm_tx *tx)
{
	__atomic_store_n(&tx->in_cs, tx->in_cs & ~1u, __ATOMIC_RELEASE);
}

/* Enters an attempt's critical section: its odd in_cs must be visible to a
 * grace period before the attempt reads anything that the grace period's
 * caller may free. Where membarrier(2) works, the grace period's
 * membarrier() orders the two for us (an interrupt in each running thread);
 * elsewhere, a full fence here does. Returns the gate (stm_gate), loaded
 * after the mark: serial mode's flag must be read after it (see cm.c).
 * stm_cs_enter_raw is the first half, for starts that test the gate for
 * zero first: a gate that is not zero goes through stm_cs_gate, which
 * fences where the FENCE bit says so and loads the gate again. */
static inline __attribute__((always_inline)) uintptr_t stm_cs_enter_raw(struct stm_tx *tx)
{
	stm_cs_mark_enter(tx);
	/* No later load may be compiled above the mark (membarrier orders
	 * the CPU, not the compiler). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return stm_gate_now();
}

/* stm_cs_enter's second half. */
static inline __attribute__((always_inline)) uintptr_t stm_cs_gate(uintptr_t gate)
{
	if (stm_unlikely(gate & STM_GATE_FENCE)) {
		/* That load came before the fence: only its FENCE bit, which
		 * never changes, counts. */
		STM_FULL_FENCE();
		gate = stm_gate_now();
	}
	return gate;
}

static inline __attribute__((always_inline)) uintptr_t stm_cs_enter(struct stm_tx *tx)
{
	return stm_cs_gate(stm_cs_enter_raw(tx));
}

/*
 * Starts an attempt of the outermost block: its critical section for the
 * grace periods (stm_cs_enter; see cm.c and memory.c for why), a snapshot,
 * empty logs. Inline,
 * because every transaction pays for it. The caller has seen start_other
 * clear (no serial mode or token wanted); if serial mode is pending, it
 * returns false, having started nothing, and the caller takes
 * stm_start_slow. While the recorder captures, the attempt becomes a
 * recording one out of line (stm_start_rec).
 *
 * The snapshot is the newest clock value this thread has seen (its last
 * commit time, extension, abort or wake-up), not the clock itself: the
 * clock's line is written by every update commit of every thread, and
 * loading it here would cost a transfer between cores at most starts. Any
 * value the clock has shown is a valid snapshot: a read of a word under a
 * version at most end returns its current value, and a word written since
 * end has a newer version, which makes the read extend the snapshot to the
 * clock, as for a word written during the attempt. Serial mode drains every
 * attempt first, so none runs beside a serial transaction either way.
 */
/* The pairs of fields that an attempt's start and end set together (see
 * lucid_txfast_): one 16-byte copy each. */
#define STM_PAIR(a, b) \
	_Static_assert(offsetof(struct stm_tx, b) == offsetof(struct stm_tx, a) + 8, \
	               #a " and " #b " are a pair")
STM_PAIR(fast.end, fast.r_top);
STM_PAIR(fast.r_end, fast.w_end);
STM_PAIR(clock_seen, r_base);
STM_PAIR(r_lim, w_lim);
#undef STM_PAIR

static inline __attribute__((always_inline)) void stm_copy_pair(void *to, const void *from)
{
	__builtin_memcpy(to, from, 16);
}

/* Gives the inline paths no room (outside a transaction). */
static inline __attribute__((always_inline)) void stm_close_rooms(struct stm_tx *tx)
{
	static const uintptr_t none[2] __attribute__((aligned(16)));

	stm_copy_pair(&tx->fast.r_end, none);
}

/* The attempt's snapshot and empty logs, once it is in its critical
 * section and serial mode is not pending. */
static inline __attribute__((always_inline)) void stm_start_logs(struct stm_tx *tx)
{
	/* Stores are most of what a block costs: what already holds is not
	 * stored again. Outside a transaction w_top is w_base (every attempt
	 * ends with an empty write log). */
	stm_copy_pair(&tx->fast.end, &tx->clock_seen);   /* end, r_top */
	stm_copy_pair(&tx->fast.r_end, &tx->r_lim);      /* r_end, w_end */
}

/* The same, clearing rec_on (rarely set): where the attempt records,
 * stm_start_rec sets it again (begin_gated, the common way to it, takes
 * stm_start_logs instead). */
static inline __attribute__((always_inline)) void stm_start_snapshot(struct stm_tx *tx)
{
	if (stm_unlikely(tx->rec_on))
		tx->rec_on = false;
	stm_start_logs(tx);
}

/* stm_start_plain where the gate is not zero (engine.c). */
uintptr_t stm_start_gated(struct stm_tx *tx, uintptr_t gate);

/* stm_start_fast without the recorder: returns 0 if the attempt has
 * started and nothing else is asked of it, STM_GATE_REC if it has started
 * and must record (stm_start_rec), STM_GATE_SERIAL if it has not started.
 * One test of the gate in the common case. */
static inline __attribute__((always_inline)) uintptr_t stm_start_plain(struct stm_tx *tx)
{
	uintptr_t gate = stm_cs_enter_raw(tx);

	if (stm_likely(gate == 0)) {
		stm_start_snapshot(tx);
		return 0;
	}
	return stm_start_gated(tx, gate);
}

/* Whether the recorder captures (outside a start, which has the gate at hand). */
static inline bool stm_recording(void)
{
	return (stm_gate_now() & STM_GATE_REC) != 0;
}

/* Acts on what stm_start_plain or stm_start_gated answered: a recording
 * attempt starts recording; false if the attempt has not started (serial
 * mode pending: stm_start_slow's to wait for). */
static inline __attribute__((always_inline)) bool stm_start_finish(struct stm_tx *tx,
                                                                   uintptr_t started)
{
	if (stm_unlikely(started == STM_GATE_SERIAL))
		return false;
	if (stm_unlikely(started == STM_GATE_REC))
		stm_start_rec(tx);
	return true;
}

static inline __attribute__((always_inline)) bool stm_start_fast(struct stm_tx *tx)
{
	return stm_start_finish(tx, stm_start_plain(tx));
}

/* stm_start_fast where nothing asks for more (the common case, tested
 * first by the caller), else stm_start_slow. */
static inline __attribute__((always_inline)) void stm_start(struct stm_tx *tx)
{
	if (stm_likely(!tx->start_other && stm_start_fast(tx)))
		return;
	stm_start_slow(tx);
}

/* ------------------------------------------------ ending an attempt */
/* Leaves the critical section an attempt ran in. */
static inline __attribute__((always_inline)) void stm_leave_cs(struct stm_tx *tx)
{
	STM_RCU_TSAN_RELEASE();
	stm_cs_mark_leave(tx);
}

/* Leaves the attempt: not in a transaction until the next stm_start, and no
 * longer serial or holding the token (a transaction in either mode aborts
 * only to leave: lucid_abort or lucid_retry). */
static inline __attribute__((always_inline)) void stm_attempt_end(struct stm_tx *tx)
{
	tx->fast.r_top = tx->fast.r_end = tx->r_base;
	tx->fast.w_top = tx->fast.w_end = tx->w_base;
	tx->fast.rec = NULL;   /* no room for the recording paths either */
	tx->rec_lazy = false;
	stm_leave_cs(tx);
	if (tx->serial)
		stm_serial_exit(tx);
	if (tx->token)
		stm_token_release(tx);
	tx->irrevocable = false;
}

/*
 * Commits the running attempt, or aborts it (longjmp). Inline for the most
 * common transaction, a read-only one in no special mode with nothing to
 * do afterwards: every read was valid at the snapshot, so it only leaves.
 * Everything else is stm_commit_slow's.
 */
static inline bool stm_commit_fast_ok(const struct stm_tx *tx)
{
	return tx->fast.w_top == tx->w_base && !tx->commit_other;
}

static inline __attribute__((always_inline)) void stm_commit_fast(struct stm_tx *tx)
{
	/* stm_attempt_end, less what this kind of attempt never changed (the
	 * write log, the recorder's room, the modes); no room left for the
	 * inline paths, so that accesses outside a transaction go out of
	 * line (and are refused there). */
	stm_close_rooms(tx);
	stm_leave_cs(tx);
	stm_stat_add(&tx->stats.commits_ro, 1);
	tx->retries = 0;
}

/* The same for a recording attempt that has made no block context, and so
 * only read (see rec_attempt_start): it counts its block's commit. */
static inline bool stm_commit_lazy_ok(const struct stm_tx *tx)
{
	/* commit_other with rec_on its only flag: one compare for the four. */
	const union {
		struct {
			bool rec_on, serial, token, after;
		};
		uint32_t all;
	} rec_only = { .rec_on = true };
	_Static_assert(offsetof(struct stm_tx, rec_on) == offsetof(struct stm_tx, commit_other) &&
	               offsetof(struct stm_tx, after) == offsetof(struct stm_tx, commit_other) + 3 &&
	               sizeof(tx->commit_other) == sizeof(rec_only.all),
	               "commit_other is rec_on, serial, token and after, in that order");

	return tx->rec_lazy && tx->fast.w_top == tx->w_base && tx->commit_other == rec_only.all;
}

static inline __attribute__((always_inline)) void stm_commit_lazy(struct stm_tx *tx)
{
	stm_commit_fast(tx);
	tx->rec_lazy = false;
	stm_stat_add(tx->rec_commits, 1);
}

static inline void stm_commit(struct stm_tx *tx)
{
	if (stm_likely(stm_commit_fast_ok(tx)))
		stm_commit_fast(tx);
	else
		stm_commit_slow(tx);
}

/* ------------------------------------------------------- diagnostics (tx/diag.c) */
/* "the LUCID_ATOMIC block at f.c:12 (in fn())", or "a function run by lucid_run()". */
char *stm_describe_block(const struct stm_open_block *o, char *buf, size_t size);
void lucid_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Several lines at once (one write(2), so other threads' lines do not come
 * between them), each with the "lucid: " prefix. */
void lucid_diag_text(const char *text);
/* Stops the program: "misuse: <what>" and then "fix: <fix>". */
__attribute__((noreturn)) void lucid_misuse(const char *fix, const char *what, ...)
	__attribute__((format(printf, 2, 3)));
__attribute__((noreturn)) void lucid_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LUCID_STM_INTERNAL_H */
