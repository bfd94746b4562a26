/* Lucid: the inline fast paths of lucid_read/lucid_write and LUCID_ATOMIC (not API). */
/*
 * Everything here is an implementation detail that the public macros in
 * <lucid/tx.h> expand to, kept inline so that a transactional read costs a
 * handful of instructions (the same split as liburcu's urcu/static/ headers).
 * Do not call these names directly; they may change with any release.
 */
#ifndef LUCID_STATIC_TX_INLINE_H
#define LUCID_STATIC_TX_INLINE_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <lucid/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__GNUC__)
#error "Lucid needs GCC or Clang (statement expressions, __typeof__, __atomic builtins)"
#endif
#if UINTPTR_MAX != 0xffffffffffffffffu
#error "Lucid supports 64-bit targets only"
#endif

/*
 * ThreadSanitizer does not model standalone fences. Under it, the data load
 * itself is an acquire (and write-back stores are releases), which orders
 * the same accesses in a way it understands; elsewhere a relaxed load and
 * one fence are cheaper on weakly ordered CPUs.
 */
#if defined(__SANITIZE_THREAD__)
#define LUCID_TSAN_ 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LUCID_TSAN_ 1
#endif
#endif
/* The sanitizers that keep their own view of the stack (and intercept
 * sigsetjmp and siglongjmp to keep it right). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_HWADDRESS__)
#define LUCID_STACK_SANITIZER_ 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(hwaddress_sanitizer) || \
    __has_feature(memory_sanitizer)
#define LUCID_STACK_SANITIZER_ 1
#endif
#endif

#ifdef LUCID_TSAN_
#define LUCID_DATA_LOAD_ORDER_ __ATOMIC_ACQUIRE
#define LUCID_READ_FENCE_() ((void)0)
#else
#define LUCID_DATA_LOAD_ORDER_ __ATOMIC_RELAXED
#define LUCID_READ_FENCE_() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif

#define LUCID_LIKELY_(x) __builtin_expect(!!(x), 1)
#define LUCID_UNLIKELY_(x) __builtin_expect(!!(x), 0)

/*
 * Ownership record (orec) word. Bit 63 set: locked, and the other bits are
 * the address of the owner's write-log entry for that orec. Bit 63 clear:
 * the version (commit time) of the last transaction that wrote a word
 * mapped to it. Because locked values are above every version, one unsigned
 * comparison with the snapshot end tests "unlocked and not too new".
 */
#define LUCID_OREC_LOCKED_ ((uintptr_t)1 << 63)

/* Memory maps to orecs by address in aligned stripes of 1 << LUCID_WORD_SHIFT_
 * bytes (32: four 8-byte words, as in TinySTM): consecutive stripes to
 * consecutive orecs, so arrays do not collide below the table size. The
 * words of one stripe share an orec, which halves or quarters the orecs a
 * walk over small nodes touches (the 4096-key list runs 1.22 times as fast
 * as with one orec per word); the recorder reports their conflicts as false
 * ones. */
#define LUCID_WORD_SHIFT_ 5

/**
 * A read-set entry: which orec was read. The version it held need not be
 * kept: it was at most the snapshot's end, and any later commit to it gets
 * a newer time, so "still at most end" is "unchanged".
 */
struct lucid_rentry_ {
	uint32_t orec;    /* index in the orec table */
	uint32_t site;    /* stack id while recording (or LUCID_REC_IN_BLOCK_), else 0 */
};

/* Fills a read-set entry with one store; @p orec is an orec index, below
 * 2^32 (the table has at most 2^28 orecs). */
static inline __attribute__((always_inline)) void
lucid_rentry_put_(struct lucid_rentry_ *r, uintptr_t orec, uint32_t site)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t both = orec | (uint64_t)site << 32;
#else
	uint64_t both = (uint64_t)orec << 32 | site;
#endif
	__builtin_memcpy(r, &both, sizeof(both));
}

struct lucid_txfast_;

/**
 * While an attempt records (LUCID_RECORD, an abort hook or LUCID_BREAK),
 * each access notes the id of the stack it was made from. The stack is
 * captured the first time the access's place is seen: its return address
 * into the user's code (one per lucid_read and lucid_write in the program,
 * and per inlined copy) and its stack position. The same place can be
 * reached through other callers (a function called from two lines of
 * another, at the same depth), so a place also keeps where the frames
 * between it and its atomic block keep their return addresses, and what
 * they held: a place counts as seen only while they hold the same ones.
 * A few recent places are kept, chosen by return address and stack
 * position, so that a loop over several sites (a tree walk reads a key,
 * then a left or a right child) finds its answers inline; the library is
 * asked only about a place not seen lately. The library keeps such a set
 * for each of the last few block contexts (the block and every caller
 * around it) and points the descriptor's rec at the current one.
 */
#define LUCID_REC_SLOTS_ 64
#define LUCID_REC_CHECKS_ 3   /* lucid_rec_id_ names each one */
struct lucid_recslot_ {
	const void *key;                /* a place: its return address */
	uintptr_t sp;                   /* and stack position */
	uint32_t id;                    /* the stack captured there; 0: ask the library */
	uint32_t n;                     /* frames to check (the first check is made
	                                   always, the others when n > 1) */
	uintptr_t ret[LUCID_REC_CHECKS_];  /* the return address each frame holds */
	int32_t off[LUCID_REC_CHECKS_];    /* and where, from sp (checks left over
	                                      repeat the access's own) */
	uint32_t pad2_;
};
struct lucid_recfast_ {
	struct lucid_rentry_ *r_limit;  /* while recording, the read set's room (the
	                                   descriptor's r_end and w_end say none, so
	                                   that the common paths stay as they are) */
	struct lucid_wentry_ *w_limit;  /* and the write log's */
	uintptr_t raddr_delta;          /* byte distance from the read set to the
	                                   array of read addresses */
	uint64_t tag_site;              /* the attempt's block site, placed for entry tags */
	uintptr_t block_sp;             /* the stack position of an access made from the
	                                   outermost block's own function, or 0 (see
	                                   LUCID_REC_IN_BLOCK_) */
	uintptr_t rra_delta;            /* byte distance from the read set to the array
	                                   of such reads' return addresses */
	uintptr_t pad_[2];
	struct lucid_recslot_ slot[LUCID_REC_SLOTS_];   /* each on a cache line of its own */
} __attribute__((aligned(64)));

/*
 * A read made from the function of the attempt's outermost block (not from
 * a function it calls) needs no stack capture: its stack is its return
 * address followed by the callers of the block's function, which the
 * block context keeps, and that function's frame lives as long as the
 * attempt. While that frame lives, an access made at the same stack
 * position is made from that function (the functions it calls run lower),
 * or from one it reached by tail calls, whose frames are gone: an unwind
 * at the read would find the same frames either way, so the position
 * alone tells such reads apart. The read-set entry notes this value
 * instead of a stack id, and the return address goes beside it: the
 * library puts the stack together only for a read found invalid.
 */
#define LUCID_REC_IN_BLOCK_ 0xffffffffu

/**
 * A write-log entry: one word the transaction will write at commit (64 bytes).
 * A locked orec points to the transaction's first ("head") entry for it,
 * which holds the orec's value from before the lock; other words under the
 * same orec are chained from the head.
 */
struct lucid_wentry_ {
	uintptr_t addr;                 /* word address, 8-aligned */
	uint64_t value;                 /* buffered bytes; only those in mask count */
	uint64_t mask;                  /* bytes written (0xff per byte) */
	uintptr_t version;              /* head: orec value before locking; else LUCID_OREC_LOCKED_ */
	struct lucid_wentry_ *next;     /* next entry under the same orec */
	uint32_t orec;                  /* orec index */
	uint32_t stack;                 /* stack id of the first write (recorder), else 0 */
	struct lucid_txfast_ *owner;    /* the log's owner, set when the log is allocated */
	uint64_t reserved;
};

/**
 * The part of a thread's transaction descriptor that the inline read and
 * write paths touch, all in one cache line. Outside a transaction r_end
 * and w_end are at most r_top and w_top (r_base and w_base, or null after
 * the common read-only commit), so every lucid_read and lucid_write takes
 * the out-of-line path, which reports the misuse. The
 * fields an attempt's start sets go in pairs, end with r_top and r_end
 * with w_end, each pair filled with one 16-byte store (a block's cost is
 * mostly its stores).
 */
struct lucid_txfast_ {
	uintptr_t end;                  /* snapshot: versions <= end are readable */
	struct lucid_rentry_ *r_top;    /* next free read-set entry */
	struct lucid_rentry_ *r_end;    /* end of the read set's storage */
	struct lucid_wentry_ *w_end;    /* end of the write log's storage */
	uintptr_t *orecs;               /* the ownership-record table */
	uintptr_t orec_mask;            /* table size - 1 */
	struct lucid_wentry_ *w_top;    /* next free write-log entry */
	struct lucid_recfast_ *rec;     /* non-NULL while this attempt records */
};

/* The calling thread's descriptor; never NULL (a shared empty one until the
 * thread's first transaction). */
LUCID_API extern __thread struct lucid_txfast_ *lucid_tls_tx_
	__attribute__((tls_model("initial-exec")));

LUCID_API uint32_t lucid_rec_site_(const void *site, uintptr_t sp, const void *ra);
/* The per-file helpers' way into the library (tx/access.c): the access at
 * @p site (the constant of its lucid_read or lucid_write), made from the
 * user's code at @p ra with the stack at @p sp: its place is (@p ra, @p sp). */
LUCID_API uint64_t lucid_load_rec_(const void *addr, unsigned size, const void *site, uintptr_t sp,
                                   const void *ra);
LUCID_API void lucid_store_rec_(void *addr, uint64_t value, unsigned size, const void *site,
                                uintptr_t sp, const void *ra);

/* The stack position at an access: with the return address, it tells
 * apart the same source line reached through different frames (recursion).
 * It is the helper's frame address, which sits at a fixed distance from
 * the caller's stack pointer at the call, whatever registers the helper
 * saves: the read and the write helper called from one frame take the same
 * position (their stack pointers differed by the registers each saved,
 * which moved their accesses' recent slots against each other). On x86-64
 * it is computed from the call frame address (the caller's stack pointer
 * before the call, less the return address and the saved frame pointer:
 * the same value), so that GCC gives the helper no frame pointer of its
 * own (four instructions fewer per recorded access; Clang keeps one). */
static inline __attribute__((always_inline)) uintptr_t lucid_sp_(void)
{
#if defined(__x86_64__)
	return (uintptr_t)__builtin_dwarf_cfa() - 16;
#else
	return (uintptr_t)__builtin_frame_address(0);
#endif
}

/* Where the recent answer for an access at @p site with the stack at
 * @p sp is kept: site constants are a byte apart, so the accesses of one
 * function take different slots (one frame's reads and writes share @p sp,
 * see lucid_sp_); under AddressSanitizer they are 64 bytes apart (each
 * global gets a red zone), which site >> 6 spreads the same way. The same
 * line reached from different frames (recursion, a helper called from
 * several blocks) moves by 11 slots per 16 bytes of stack, so that nearby
 * frames spread out. */
static inline __attribute__((always_inline)) struct lucid_recslot_ *
lucid_rec_slot_(struct lucid_recfast_ *rec, const void *site, uintptr_t sp)
{
	uintptr_t s = (uintptr_t)site;

	return &rec->slot[(s + (s >> 6) + (sp >> 4) * 11) % LUCID_REC_SLOTS_];
}

/* The stack id of the access at @p site being made at place (@p key,
 * @p sp) if it was seen lately through the same callers (see
 * lucid_recslot_), else 0: ask the library. */
static inline __attribute__((always_inline)) uint32_t
lucid_rec_id_(struct lucid_recfast_ *rec, const void *site, const void *key, uintptr_t sp)
{
	struct lucid_recslot_ *sl = lucid_rec_slot_(rec, site, sp);
	uintptr_t differ;

	/* The offsets hold for this place only: they are followed only then. */
	if (sl->key != key || sl->sp != sp)
		return 0;
#define LUCID_REC_CHECK_(i) (*(const uintptr_t *)(sp + (intptr_t)sl->off[i]) ^ sl->ret[i])
	differ = LUCID_REC_CHECK_(0);
	if (sl->n > 1)   /* most places have one frame to check, or none */
		differ |= LUCID_REC_CHECK_(1) | LUCID_REC_CHECK_(2);
#undef LUCID_REC_CHECK_
	return differ ? 0 : sl->id;
}

/*
 * One inline read of an aligned 1, 2, 4 or 8-byte scalar at @p a: an
 * unlocked orec not newer than the snapshot, the data, the orec unchanged;
 * appends the read to the read set if it has room below @p limit. With
 * @p rec (while recording) it also notes the read's address and its
 * stack id @p id (of a place seen lately: lucid_rec_id_), or
 * LUCID_REC_IN_BLOCK_ and the read's return address @p ra (non-NULL only
 * then). Returns 0, having done nothing, when the library must take over.
 */
static inline __attribute__((always_inline)) int
lucid_load_try_(struct lucid_txfast_ *tx, uintptr_t a, unsigned size, struct lucid_recfast_ *rec,
                uint32_t id, const struct lucid_rentry_ *limit, uint64_t *out, const void *ra)
{
	struct lucid_rentry_ *r = tx->r_top;

	if (LUCID_LIKELY_((a & (size - 1)) == 0 && r < limit)) {
		uintptr_t idx = (a >> LUCID_WORD_SHIFT_) & tx->orec_mask;
		uintptr_t *orec = &tx->orecs[idx];
		uintptr_t seen = __atomic_load_n(orec, __ATOMIC_ACQUIRE);

		if (LUCID_LIKELY_(seen <= tx->end)) {
			uint64_t v;

			switch (size) {
			case 1: v = __atomic_load_n((const uint8_t *)a, LUCID_DATA_LOAD_ORDER_); break;
			case 2: v = __atomic_load_n((const uint16_t *)a, LUCID_DATA_LOAD_ORDER_); break;
			case 4: v = __atomic_load_n((const uint32_t *)a, LUCID_DATA_LOAD_ORDER_); break;
			default: v = __atomic_load_n((const uint64_t *)a, LUCID_DATA_LOAD_ORDER_); break;
			}
			/* The data load must not move after the second orec load. */
			LUCID_READ_FENCE_();
			if (LUCID_LIKELY_(__atomic_load_n(orec, __ATOMIC_RELAXED) == seen)) {
				/* r, loaded before the orec loads, is still the top:
				 * only this thread moves it. */
				if (rec)
					*(uintptr_t *)((uintptr_t)r + rec->raddr_delta) = a;
				if (ra)
					*(const void **)((uintptr_t)r + rec->rra_delta) = ra;
				lucid_rentry_put_(r, idx, id);
				tx->r_top = r + 1;
				*out = v;
				return 1;
			}
		}
	}
	return 0;
}

/* Transactional load of an aligned 1, 2, 4 or 8-byte scalar; the value comes
 * back zero-extended in a uint64_t. @p size must be a constant; @p site is
 * this access's site (a distinct constant per place in the source). While
 * recording, the common path finds no room and the recording one, out of
 * the way, does the same read and notes where it was made. */
/* Everything but the common read, kept out of the caller's code (one copy
 * per size in each file) so that the common path compiles as if there were
 * no recorder: the recording read, and for anything else one tail call into
 * the library, so that this stays a leaf and the stack position it takes is
 * the same at every call from one frame. The library call takes the stack
 * position and return address afresh (the same values) rather than keeping
 * them in registers across the read: one pair of register saves fewer. */
static __attribute__((noinline, cold, unused)) uint64_t
lucid_load_other_(const void *addr, unsigned size, const void *site)
{
	struct lucid_txfast_ *tx = lucid_tls_tx_;
	struct lucid_recfast_ *rec = tx->rec;
	uintptr_t sp = lucid_sp_();
	const void *ra = __builtin_return_address(0);
	uint32_t id;
	uint64_t v;

	/* Two calls, so that the recent places' one compiles with no return
	 * address to store (one call with either cost the tree's recorded
	 * transaction 4% more instructions). */
	if (rec) {
		if (sp == rec->block_sp) {
			if (lucid_load_try_(tx, (uintptr_t)addr, size, rec, LUCID_REC_IN_BLOCK_,
			                    rec->r_limit, &v, ra))
				return v;
		} else if ((id = lucid_rec_id_(rec, site, ra, sp)) != 0 &&
		           lucid_load_try_(tx, (uintptr_t)addr, size, rec, id, rec->r_limit, &v, 0)) {
			return v;
		}
	}
	return lucid_load_rec_(addr, size, site, lucid_sp_(), __builtin_return_address(0));
}

static inline __attribute__((always_inline)) uint64_t
lucid_load_(const void *addr, unsigned size, const void *site)
{
	struct lucid_txfast_ *tx = lucid_tls_tx_;
	uint64_t v;

	if (LUCID_LIKELY_(lucid_load_try_(tx, (uintptr_t)addr, size, 0, 0, tx->r_end, &v, 0)))
		return v;
	return lucid_load_other_(addr, size, site);
}

/* Byte mask and shifted value of an aligned @p size-byte store at @p addr,
 * in the word's uint64_t image. */
static inline __attribute__((always_inline)) unsigned
lucid_lane_shift_(uintptr_t addr, unsigned size)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	(void)size;
	return (unsigned)(addr & 7) * 8;
#else
	return (unsigned)(8 - (addr & 7) - size) * 8;
#endif
}

/*
 * One inline write: the first write to an unlocked orec that is not newer
 * than the snapshot fills the next write-log entry (below @p limit) and
 * locks the orec. With @p rec (while recording) the entry also says where
 * the write was made, in its stack id @p id and its tag (stack, block site,
 * word), for the other side of a conflict. Returns 0, having done nothing,
 * when the library must take over.
 */
static inline __attribute__((always_inline)) int
lucid_store_try_(struct lucid_txfast_ *tx, uintptr_t a, uint64_t value, unsigned size,
                 struct lucid_recfast_ *rec, uint32_t id, const struct lucid_wentry_ *limit)
{
	if (LUCID_LIKELY_((a & (size - 1)) == 0 && tx->w_top < limit)) {
		uintptr_t idx = (a >> LUCID_WORD_SHIFT_) & tx->orec_mask;
		uintptr_t *orec = &tx->orecs[idx];
		uintptr_t seen = __atomic_load_n(orec, __ATOMIC_RELAXED);

		if (LUCID_LIKELY_(seen <= tx->end)) {
			struct lucid_wentry_ *e = tx->w_top;
			unsigned sh = lucid_lane_shift_(a, size);
			uint64_t bits = size == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (size * 8)) - 1);
			uint64_t tag = 0;

			if (rec)
				tag = id | rec->tag_site | (uint64_t)(uint32_t)(a >> 3) << 32;
			/* addr, next, stack and the tag may be read by other threads. */
			__atomic_store_n(&e->addr, a & ~(uintptr_t)7, __ATOMIC_RELAXED);
			e->value = (value & bits) << sh;
			e->mask = bits << sh;
			e->version = seen;
			__atomic_store_n(&e->next, (struct lucid_wentry_ *)0, __ATOMIC_RELAXED);
			e->orec = (uint32_t)idx;
			__atomic_store_n(&e->stack, id, __ATOMIC_RELAXED);
			if (rec)
				__atomic_store_n(&e->reserved, tag, __ATOMIC_RELAXED);
			if (LUCID_LIKELY_(__atomic_compare_exchange_n(orec, &seen,
			                                              (uintptr_t)e | LUCID_OREC_LOCKED_, 0,
			                                              __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))) {
				tx->w_top = e + 1;
				return 1;
			}
		}
	}
	return 0;
}

/* Transactional store of an aligned 1, 2, 4 or 8-byte scalar held in the
 * low bytes of @p value. The common case (first write to an unlocked orec
 * that is not newer than the snapshot) locks it here; everything else goes
 * to lucid_store_other_. @p size must be a constant. */
/* Everything but the common write, out of the caller's code (see
 * lucid_load_other_). */
static __attribute__((noinline, cold, unused)) void
lucid_store_other_(void *addr, uint64_t value, unsigned size, const void *site)
{
	struct lucid_txfast_ *tx = lucid_tls_tx_;
	struct lucid_recfast_ *rec = tx->rec;
	uintptr_t sp = lucid_sp_();
	const void *ra = __builtin_return_address(0);
	uint32_t id;

	if (rec && (id = lucid_rec_id_(rec, site, ra, sp)) != 0 &&
	    lucid_store_try_(tx, (uintptr_t)addr, value, size, rec, id, rec->w_limit))
		return;
	lucid_store_rec_(addr, value, size, site, lucid_sp_(), __builtin_return_address(0));
}

static inline __attribute__((always_inline)) void
lucid_store_fast_(void *addr, uint64_t value, unsigned size, const void *site)
{
	struct lucid_txfast_ *tx = lucid_tls_tx_;

	if (LUCID_LIKELY_(lucid_store_try_(tx, (uintptr_t)addr, value, size, 0, 0, tx->w_end)))
		return;
	lucid_store_other_(addr, value, size, site);
}

/*
 * A block's checkpoint on x86-64 (see lucid_block_enter_open_): the callee-saved
 * registers, the stack pointer and the return address of the call that
 * took it, and the shadow-stack pointer. Elsewhere, where the sanitizers
 * must see the jumps (they intercept sigsetjmp and siglongjmp), and where
 * the program defines LUCID_SIGSETJMP, the checkpoint is a sigjmp_buf.
 */
#if defined(__x86_64__) && !defined(LUCID_TSAN_) && !defined(LUCID_STACK_SANITIZER_) && \
    !defined(LUCID_SIGSETJMP)
#define LUCID_OWN_CHECKPOINT_ 1
#endif
struct lucid_checkpoint_ {
	uint64_t reg[9];        /* rbx, rbp, r12-r15, rsp, rip, shadow-stack pointer */
};

/* Where a LUCID_ATOMIC block is in the source, for diagnostics and the
 * recorder: one static record per block (line 0: lucid_run's own). */
struct lucid_site_ {
	const char *file;
	const char *func;       /* __func__ of the enclosing function */
	int line;
};

/*
 * One LUCID_ATOMIC block, on the stack of the function that contains it.
 * `state` and `depth` change after the checkpoint, hence volatile.
 */
struct lucid_block_ {
	void *env;              /* checkpoint of this block (used if outermost):
	                           a struct lucid_checkpoint_ or a sigjmp_buf */
	const struct lucid_site_ *site;   /* where the block is */
	volatile int state;     /* 0 running, 1 committed, 2 left by lucid_abort */
	volatile unsigned depth; /* nesting depth of this block, 1 = outermost; 0
	                            until it has started (a start that finds it
	                            set is the block's again, after `break`) */
	void *frame;            /* frame address of the enclosing function */
};

#define LUCID_BLOCK_RUNNING_ 0
#define LUCID_BLOCK_COMMITTED_ 1
#define LUCID_BLOCK_ABORTED_ 2

/* Calls from the program to the block's entry points go through its GOT
 * rather than a PLT stub (one jump fewer per call; GCC on x86-64). */
#if defined(__has_attribute)
#if __has_attribute(noplt)
#define LUCID_NOPLT_ __attribute__((noplt))
#endif
#endif
#ifndef LUCID_NOPLT_
#define LUCID_NOPLT_
#endif

/* Starts block @p b after sigsetjmp returned @p jumped: returns 1 if the
 * body is to run (an attempt has started), 0 if the block is left (after
 * lucid_abort). */
LUCID_API int lucid_block_open_(struct lucid_block_ *b, int jumped) LUCID_NOPLT_;
/*
 * Takes the checkpoint b->env (a struct lucid_checkpoint_) and starts the
 * block, as sigsetjmp followed by lucid_block_open_(b, 0) would, in one
 * call, with the same result; an abort comes back out of it (again)
 * having started the block's next attempt, or left it. x86-64 only.
 */
LUCID_API int lucid_block_enter_open_(struct lucid_block_ *b)
	__attribute__((returns_twice)) LUCID_NOPLT_;
LUCID_API void lucid_block_end_(struct lucid_block_ *b) LUCID_NOPLT_;

#define LUCID_CAT2_(a, b) a##b
#define LUCID_CAT_(a, b) LUCID_CAT2_(a, b)

/* Nested loops: the outer one holds the checkpoint, the next one the
 * block's site (a static record: one pointer to store instead of three
 * fields; declared in a loop of its own because clang 14 drops a static
 * declared in a statement expression that initializes a member of a
 * local aggregate), the next one the block record, which it runs while the
 * block is neither committed nor left, the inner one starts the block,
 * runs the body once and commits in its step. The body runs on a flag in
 * a register (@p R, set from the start's result, never live across it),
 * not in memory: a block's cost is mostly its stores. A `break` skips the
 * step: the block record's loop starts it again, and the start reports
 * it. */
#ifdef LUCID_OWN_CHECKPOINT_
#define LUCID_CHECKPOINT_T_ struct lucid_checkpoint_
#define LUCID_BLOCK_START_(E, B) lucid_block_enter_open_(&B)
#else
#define LUCID_CHECKPOINT_T_ sigjmp_buf
#define LUCID_BLOCK_START_(E, B) lucid_block_open_(&B, sigsetjmp(E, 0))
#endif
#define LUCID_SITE_()                                                            \
	__extension__({                                                          \
		static const struct lucid_site_ lucid_site_s_ = { __FILE__, __func__, \
		                                                   __LINE__ };   \
		&lucid_site_s_;                                                  \
	})
#define LUCID_ATOMIC_AT_(E, O, S, B, R)                                         \
	for (LUCID_CHECKPOINT_T_ E, *O = &E; O; O = NULL)                       \
	for (const struct lucid_site_ *S = LUCID_SITE_(); S; S = NULL)          \
		for (struct lucid_block_ B = { .env = &E, .site = S,            \
		                               .state = 0, .depth = 0,            \
		                               .frame = __builtin_frame_address(0) }; \
		     B.state == LUCID_BLOCK_RUNNING_;)                            \
			for (int R = LUCID_BLOCK_START_(E, B); R;                \
			     R = (lucid_block_end_(&B), 0))

#ifdef __cplusplus
}
#endif

#endif /* LUCID_STATIC_TX_INLINE_H */
