/* stm: the engine: snapshots, reads, writes, validation, commit and abort. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conflict/recorder.h"
#include "stm/rcu.h"
#include "stm/stm-internal.h"

uintptr_t *stm_orecs;
uintptr_t stm_orec_mask;
#ifdef LUCID_TSAN_
char stm_rcu_tsan_sync;
#endif

struct stm_clock stm_clock __attribute__((aligned(STM_ISOLATE)));

uintptr_t stm_clock_tick(void)
{
	return __atomic_add_fetch(&stm_clock.now, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ masks */

/* Position of byte @p off (0..7) of a word inside its uint64_t image. */
static inline unsigned lane_shift(unsigned off, unsigned size)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	(void)size;
	return off * 8;
#else
	return (8 - off - size) * 8;
#endif
}

static inline uint64_t size_bits(unsigned size)
{
	return size == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (size * 8)) - 1);
}

uint64_t stm_byte_mask(uintptr_t addr, unsigned size)
{
	return size_bits(size) << lane_shift((unsigned)(addr & 7), size);
}

static inline uint64_t load_sized(uintptr_t addr, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n((const uint8_t *)addr, LUCID_DATA_LOAD_ORDER_);
	case 2: return __atomic_load_n((const uint16_t *)addr, LUCID_DATA_LOAD_ORDER_);
	case 4: return __atomic_load_n((const uint32_t *)addr, LUCID_DATA_LOAD_ORDER_);
	default: return __atomic_load_n((const uint64_t *)addr, LUCID_DATA_LOAD_ORDER_);
	}
}

/* Write-back stores; ordered after the locks by the fence in stm_commit
 * (by release stores under ThreadSanitizer, which does not model fences). */
#ifdef LUCID_TSAN_
#define STORE_ORDER __ATOMIC_RELEASE
#define WRITE_BACK_FENCE() ((void)0)
#else
#define STORE_ORDER __ATOMIC_RELAXED
#define WRITE_BACK_FENCE() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

static void store_sized(uintptr_t addr, uint64_t v, unsigned size)
{
	switch (size) {
	case 1: __atomic_store_n((uint8_t *)addr, (uint8_t)v, STORE_ORDER); break;
	case 2: __atomic_store_n((uint16_t *)addr, (uint16_t)v, STORE_ORDER); break;
	case 4: __atomic_store_n((uint32_t *)addr, (uint32_t)v, STORE_ORDER); break;
	default: __atomic_store_n((uint64_t *)addr, v, STORE_ORDER); break;
	}
}

/*
 * Writes exactly the bytes of @p mask: never a byte the transaction did not
 * write, so neighbours written by others (transactionally or not) survive.
 * Each run is stored with the widest aligned access that covers only it.
 */
void stm_store_masked(uintptr_t word, uint64_t value, uint64_t mask)
{
	if (stm_likely(mask == ~(uint64_t)0)) {
		store_sized(word, value, 8);
		return;
	}
	for (unsigned off = 0; off < 8;) {
		unsigned size;

		if (!(mask & stm_byte_mask(word + off, 1))) {
			off++;
			continue;
		}
		for (size = 4; size > 1; size /= 2) {
			uint64_t m = stm_byte_mask(word + off, size);

			if (off % size == 0 && (mask & m) == m)
				break;
		}
		store_sized(word + off, value >> lane_shift(off, size), size);
		off += size;
	}
}

/* ------------------------------------------------------------------- logs */

bool stm_owns(const struct stm_tx *tx, const struct lucid_wentry_ *w)
{
	return w >= tx->w_base && w < tx->w_base + tx->w_cap;
}

/* Whether the transaction owning this lock holds the irrevocability token:
 * its locks go away only when it commits, so meeting them is not contention
 * to escalate but a reason to wait for it. The entry may belong to another
 * thread: fields are read atomically (its owner pointer is constant and was
 * published by the release of the lock). */
static bool owner_holds_token(const struct lucid_wentry_ *head)
{
	const struct stm_tx *o =
		(const struct stm_tx *)__atomic_load_n(&head->owner, __ATOMIC_RELAXED);

	return o && __atomic_load_n(&o->token, __ATOMIC_RELAXED);
}

/* Aborts after meeting another transaction's lock (@p other, the orec value)
 * at an access of @p addr under orec @p idx. */
static __attribute__((noreturn)) void abort_locked(struct stm_tx *tx, int reason, uintptr_t addr,
                                                   uintptr_t idx, uintptr_t other)
{
	if (tx->rec_on)
		rec_conflict_access(tx, reason, addr, idx, other);
	if (owner_holds_token(stm_orec_owner(other)))
		tx->blocked_by_token = true;
	stm_abort(tx, reason, 1);
}

/* Aborts after a failed validation (tx->invalid_entry, tx->invalid_seen). */
static __attribute__((noreturn)) void abort_invalid(struct stm_tx *tx, int reason)
{
	uintptr_t other = tx->invalid_seen;

	/* Validation loads orecs relaxed. A lock found that way is loaded again
	 * with acquire, which pairs with the release of the owner's locking CAS,
	 * before anything follows it into the owner's write log: otherwise the
	 * entry's fields (its owner, set when the log was allocated) are not
	 * ordered before our reads of them (ThreadSanitizer saw this race). */
	if (stm_orec_is_locked(other))
		other = __atomic_load_n(&tx->fast.orecs[tx->invalid_entry->orec], __ATOMIC_ACQUIRE);
	if (tx->rec_on)
		rec_conflict_read(tx, reason, tx->invalid_entry, other);
	if (stm_orec_is_locked(other) && owner_holds_token(stm_orec_owner(other)))
		tx->blocked_by_token = true;
	stm_abort(tx, reason, 1);
}

struct lucid_wentry_ *stm_wlog_find(struct stm_tx *tx, struct lucid_wentry_ *head, uintptr_t word)
{
	(void)tx;
	for (struct lucid_wentry_ *e = head; e; e = e->next)
		if (e->addr == word)
			return e;
	return NULL;
}

/* Whether the inline read path may run: not while holding the token
 * (reads lock), nor while recording without room to note each read's
 * address (the out-of-line path notes what fits). */
static inline bool read_inline_ok(const struct stm_tx *tx)
{
	return !tx->token && (!tx->rec_on || tx->rec_raddr_cap >= tx->r_cap);
}

/*
 * Tells the inline read path how much room the read set has: the common
 * path's end (r_end) while not recording, the recording path's limit while
 * recording (then, where the attempt notes each read's stack, r_end says
 * none, so the common path steps aside), none where reads must go out of
 * line.
 */
static void set_read_room(struct stm_tx *tx)
{
	struct lucid_rentry_ *end = read_inline_ok(tx) ? tx->r_base + tx->r_cap : tx->r_base;

	if (tx->fast.rec) {
		tx->recf->r_limit = end;
		tx->fast.r_end = tx->rec_reads ? tx->r_base : end;
	} else {
		tx->fast.r_end = end;
	}
}

/* The same for the write log (none for the common path while recording:
 * a recorded write notes its stack). Never called in an attempt without its
 * block context (stm_start_rec keeps its writes out of line itself, and the
 * write log grows only at a write, which makes the context first). */
static void set_write_room(struct stm_tx *tx)
{
	struct lucid_wentry_ *end = tx->w_base + tx->w_cap;

	if (tx->fast.rec) {
		tx->recf->w_limit = end;
		tx->fast.w_end = tx->w_base;
	} else {
		tx->fast.w_end = end;
	}
}

static void rset_grow(struct stm_tx *tx)
{
	size_t used = (size_t)(tx->fast.r_top - tx->r_base);
	size_t cap = tx->r_cap * 2;
	struct lucid_rentry_ *r = realloc(tx->r_base, cap * sizeof(*r));

	if (!r)
		lucid_fatal("out of memory growing a read set to %zu entries (%zu MiB)",
		            cap, cap * sizeof(*r) >> 20);
	tx->r_base = r;
	tx->r_cap = cap;
	tx->r_lim = r + cap;
	tx->fast.r_top = r + used;
	if (tx->rec_on)
		rec_rset_resized(tx, cap);
	set_read_room(tx);
}

static struct lucid_wentry_ *wlog_next(struct stm_tx *tx);

/* Where the write-log entry for @p word was made (only while recording). */
static inline void note_entry(struct stm_tx *tx, struct lucid_wentry_ *e, uintptr_t word)
{
	uint32_t stack = 0;

	if (stm_unlikely(tx->rec_on)) {
		stack = rec_stack_memo(tx);
		__atomic_store_n(&e->reserved, rec_entry_tag(tx, stack, word), __ATOMIC_RELAXED);
	}
	__atomic_store_n(&e->stack, stack, __ATOMIC_RELAXED);
}

/* Fills a write-log entry. addr, stack, the tag and next are read by other
 * threads (the recorder), hence atomic; the entry is published by the lock
 * (a head) or by the store to its head's next (a chained entry). */
static inline void fill_entry(struct stm_tx *tx, struct lucid_wentry_ *e, uintptr_t word,
                              uint64_t value, uint64_t mask, uintptr_t version, uintptr_t idx,
                              struct lucid_wentry_ *next)
{
	__atomic_store_n(&e->addr, word, __ATOMIC_RELAXED);
	e->value = value;
	e->mask = mask;
	e->version = version;
	e->orec = (uint32_t)idx;
	note_entry(tx, e, word);
	__atomic_store_n(&e->next, next, __ATOMIC_RELAXED);
}

/* --------------------------------------------------------- the transaction */

void stm_rec_rooms(struct stm_tx *tx)
{
	tx->fast.rec = tx->rec ? tx->recf : NULL;
	set_write_room(tx);
	set_read_room(tx);
}

void stm_rec_ready_slow(struct stm_tx *tx)
{
	rec_attempt_ctx(tx);
	stm_rec_rooms(tx);
}

uintptr_t stm_start_gated(struct stm_tx *tx, uintptr_t gate)
{
	gate = stm_cs_gate(gate);
	if (stm_unlikely(gate & STM_GATE_SERIAL)) {
		stm_cs_mark_leave(tx);
		return STM_GATE_SERIAL;
	}
	stm_start_snapshot(tx);
	return gate & STM_GATE_REC;
}

void stm_start_slow(struct stm_tx *tx)
{
	if (stm_unlikely(tx->want_serial))
		stm_serial_enter(tx);
	else if (stm_unlikely(tx->want_irrevocable))
		stm_token_acquire(tx);
	uintptr_t gate;

	for (;;) {
		gate = stm_cs_enter(tx);
		if (stm_likely(!(gate & STM_GATE_SERIAL)) || tx->serial)
			break;
		stm_cs_mark_leave(tx);
		stm_serial_wait();
	}
	tx->fast.r_top = tx->r_base;
	tx->fast.w_top = tx->w_base;
	tx->rec_on = (gate & STM_GATE_REC) != 0;
	tx->fast.rec = NULL;
	if (stm_likely(!tx->rec_on && !tx->token)) {
		tx->fast.end = tx->clock_seen = stm_clock_now();
		tx->fast.r_end = tx->r_lim;
		tx->fast.w_end = tx->w_lim;
		return;
	}
	/* Recording: the inline paths note where each access came from.
	 * Irrevocable: reads go out of line (they lock). */
	tx->rec_lazy = false;
	if (tx->rec_on) {
		/* An attempt that starts here (serial, irrevocable, or after
		 * waiting out serial mode) is rare: it makes its block context
		 * at once. */
		rec_attempt_start(tx);
		if (tx->rec_lazy)
			rec_attempt_ctx(tx);
		stm_rec_rooms(tx);
	} else {
		set_write_room(tx);
		set_read_room(tx);
	}
	if (stm_likely(!tx->token)) {
		tx->fast.end = tx->clock_seen = stm_clock_now();
	} else {
		/* Holding the token: every read locks its word (two-phase
		 * locking), so no snapshot is needed; reads go out of line and
		 * any unlocked orec may be written inline. The transaction is
		 * irrevocable once it calls lucid_irrevocable() again. */
		tx->fast.end = STM_OREC_LOCKED - 1;
	}
}

/*
 * Whether every read is still valid. Each was of a version at most the
 * snapshot's end, and a commit after it would have installed a newer one
 * (its time is taken after the read, from a clock already past end): so a
 * read is valid while its orec holds a version at most end, or we have
 * locked it since and found such a version then. Locked values are above
 * every version, so one comparison covers the common case.
 */
bool stm_validate(struct stm_tx *tx)
{
	const uintptr_t *orecs = tx->fast.orecs;
	uintptr_t end = tx->fast.end;

	for (const struct lucid_rentry_ *r = tx->r_base; r < tx->fast.r_top; r++) {
		uintptr_t cur = __atomic_load_n(&orecs[r->orec], __ATOMIC_RELAXED);

		if (stm_likely(cur <= end))
			continue;
		if (stm_orec_is_locked(cur)) {
			const struct lucid_wentry_ *w = stm_orec_owner(cur);

			if (stm_owns(tx, w) && w->version <= end)
				continue;
		}
		tx->invalid_seen = cur;
		tx->invalid_entry = r;
		return false;
	}
	return true;
}

/*
 * Moves the snapshot forward to now if nothing read so far has changed.
 * The clock is read first: any commit that is not in "now" locked its orecs
 * before taking its time, so validation sees them locked or newer.
 */
bool stm_extend(struct stm_tx *tx)
{
	uintptr_t now = stm_clock_now();

	if (!stm_validate(tx))
		return false;
	tx->fast.end = tx->clock_seen = now;
	stm_stat_add(&tx->stats.extensions, 1);
	return true;
}

/* Adds a read to the read set; while recording, with where it was made
 * (reads in a loop come from one frame: the memo's last answer first). */
static inline __attribute__((always_inline)) void rset_add(struct stm_tx *tx, uintptr_t idx,
                                                           uintptr_t addr)
{
	if (stm_unlikely(tx->fast.r_top == tx->r_base + tx->r_cap))
		rset_grow(tx);
	struct lucid_rentry_ *r = tx->fast.r_top++;
	uint32_t site = 0;

	/* An attempt that does not note its reads' stacks does not for this
	 * one either (see rec_attempt_start). */
	if (stm_unlikely(tx->rec_on) && tx->rec_reads) {
		size_t i = (size_t)(r - tx->r_base);

		site = stm_rec_recent(tx, tx->rec_ra, (uintptr_t)tx->rec_frame);
		if (!site)
			site = rec_read_site(tx);
		if (stm_likely(i < tx->rec_raddr_cap))
			tx->rec_raddr[i] = addr;
	}
	r->orec = (uint32_t)idx;
	r->site = site;
}

static uint64_t read_general(struct stm_tx *tx, uintptr_t addr, unsigned size);

/* Reads an aligned @p size-byte value that lies inside one word. The
 * common case first (what the inline path does, taken here while
 * recording); locks, newer versions and irrevocability in read_general. */
uint64_t stm_read(struct stm_tx *tx, uintptr_t addr, unsigned size)
{
	uintptr_t idx = stm_orec_index(addr & ~(uintptr_t)7, tx->fast.orec_mask);
	uintptr_t *orec = &tx->fast.orecs[idx];
	uintptr_t seen = __atomic_load_n(orec, __ATOMIC_ACQUIRE);

	if (stm_likely(seen <= tx->fast.end && !tx->token)) {
		uint64_t v = load_sized(addr, size);

		LUCID_READ_FENCE_();
		if (stm_likely(__atomic_load_n(orec, __ATOMIC_RELAXED) == seen)) {
			rset_add(tx, idx, addr);
			return v;
		}
	}
	return read_general(tx, addr, size);
}

static uint64_t read_general(struct stm_tx *tx, uintptr_t addr, unsigned size)
{
	uintptr_t word = addr & ~(uintptr_t)7;
	uintptr_t idx = stm_orec_index(word, tx->fast.orec_mask);
	uintptr_t *orec = &tx->fast.orecs[idx];

	for (;;) {
		uintptr_t seen = __atomic_load_n(orec, __ATOMIC_ACQUIRE);

		if (stm_orec_is_locked(seen)) {
			struct lucid_wentry_ *head = stm_orec_owner(seen);

			if (!stm_owns(tx, head)) {
				if (!tx->token)
					abort_locked(tx, LUCID_ABORT_READ_LOCKED, addr, idx, seen);
				/* Irrevocable: the owner will commit or abort. */
				stm_wait_unlock(tx, 0);
				continue;
			}
			/* Ours: memory under this orec cannot change until we
			 * release it, and it was valid at our snapshot when we
			 * locked it. Overlay what we have written. */
			uint64_t v = load_sized(addr, size);
			struct lucid_wentry_ *e = stm_wlog_find(tx, head, word);

			if (e) {
				unsigned sh = lane_shift((unsigned)(addr & 7), size);
				uint64_t m = e->mask >> sh & size_bits(size);

				v = (v & ~m) | (e->value >> sh & m);
			}
			return v;
		}
		if (stm_unlikely(tx->token)) {
			/* Irrevocable: lock the word for reading (an entry that
			 * writes nothing), so no commit can change it. */
			struct lucid_wentry_ *e = wlog_next(tx);

			fill_entry(tx, e, word, 0, 0, seen, idx, NULL);
			if (!__atomic_compare_exchange_n(orec, &seen, stm_orec_locked_by(e), false,
			                                 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				continue;
			tx->fast.w_top = e + 1;
			return load_sized(addr, size);
		}
		if (seen > tx->fast.end) {
			if (!stm_extend(tx))
				abort_invalid(tx, LUCID_ABORT_READ_INVALID);
			continue;
		}
		uint64_t v = load_sized(addr, size);

		LUCID_READ_FENCE_();
		if (__atomic_load_n(orec, __ATOMIC_RELAXED) != seen)
			continue;
		rset_add(tx, idx, addr);
		return v;
	}
}

static struct lucid_wentry_ *wlog_next(struct stm_tx *tx)
{
	if (stm_unlikely(tx->fast.w_top == tx->w_base + tx->w_cap))
		stm_wlog_grow(tx);
	return tx->fast.w_top;
}

/* Buffers a write of an aligned @p size-byte value inside one word, locking
 * its orec on first write (encounter-time locking). */
void stm_write(struct stm_tx *tx, uintptr_t addr, unsigned size, uint64_t value)
{
	uintptr_t word = addr & ~(uintptr_t)7;
	uintptr_t idx = stm_orec_index(word, tx->fast.orec_mask);
	uintptr_t *orec = &tx->fast.orecs[idx];
	uint64_t mask = stm_byte_mask(addr, size);
	uint64_t lane = (value & size_bits(size)) << lane_shift((unsigned)(addr & 7), size);

	for (;;) {
		uintptr_t seen = __atomic_load_n(orec, __ATOMIC_ACQUIRE);

		if (stm_orec_is_locked(seen)) {
			struct lucid_wentry_ *head = stm_orec_owner(seen);

			if (!stm_owns(tx, head)) {
				if (!tx->token)
					abort_locked(tx, LUCID_ABORT_WRITE_LOCKED, addr, idx, seen);
				stm_wait_unlock(tx, 0);
				continue;
			}
			struct lucid_wentry_ *e = stm_wlog_find(tx, head, word);

			if (e) {
				e->value = (e->value & ~mask) | lane;
				e->mask |= mask;
				return;
			}
			e = wlog_next(tx);
			/* Growing the log moved the head: find it again. */
			head = stm_orec_owner(__atomic_load_n(orec, __ATOMIC_RELAXED));
			tx->fast.w_top = e + 1;
			/* Published by the store to head->next. */
			fill_entry(tx, e, word, lane, mask, STM_NOT_HEAD, idx, head->next);
			__atomic_store_n(&head->next, e, __ATOMIC_RELEASE);
			return;
		}

		struct lucid_wentry_ *e = wlog_next(tx);

		fill_entry(tx, e, word, lane, mask, seen, idx, NULL);
		if (!__atomic_compare_exchange_n(orec, &seen, stm_orec_locked_by(e), false,
		                                 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		tx->fast.w_top = e + 1;
		/* Memory under a newer version than our snapshot may be read
		 * back through this lock: move the snapshot up first. */
		if (seen > tx->fast.end && !stm_extend(tx))
			abort_invalid(tx, LUCID_ABORT_WRITE_INVALID);
		return;
	}
}

/* Releases every lock, putting back the versions found (nothing was written). */
void stm_rollback(struct stm_tx *tx)
{
	uintptr_t *orecs = tx->fast.orecs;

	for (struct lucid_wentry_ *e = tx->w_base; e < tx->fast.w_top; e++)
		if (e->version != STM_NOT_HEAD)
			__atomic_store_n(&orecs[e->orec], e->version, __ATOMIC_RELEASE);
	tx->fast.w_top = tx->w_base;
	tx->fast.r_top = tx->r_base;
}

/* Whether any entry under this head writes a byte (irrevocable transactions
 * also hold read-only locks, which must not advance the version). */
static bool head_dirty(const struct lucid_wentry_ *head)
{
	for (const struct lucid_wentry_ *e = head; e; e = e->next)
		if (e->mask)
			return true;
	return false;
}

void stm_commit_slow(struct stm_tx *tx)
{
	if (tx->fast.w_top == tx->w_base) {
		/* Read-only: every read was valid at the snapshot. */
		if (stm_unlikely(tx->rec_on))
			rec_commit_ro(tx);
		stm_attempt_end(tx);
		if (stm_unlikely(tx->rec_on))
			rec_commit_done(tx);
		stm_stat_add(&tx->stats.commits_ro, 1);
		tx->retries = 0;
		tx->want_serial = false;
		tx->want_irrevocable = false;
		if (tx_after_commit_pending(tx))
			tx_after_commit(tx);
		return;
	}

	uintptr_t *orecs = tx->fast.orecs;
	/* Sequentially consistent, like the waiters load after it: a thread
	 * that starts waiting in lucid_retry() after we look either is seen
	 * or sees our locks. */
	uintptr_t ts = __atomic_add_fetch(&stm_clock.now, 1, __ATOMIC_SEQ_CST);
	bool wake = stm_retry_waiters();

	tx->clock_seen = ts;

	/* If nobody committed since our snapshot, nothing we read changed.
	 * An irrevocable transaction holds a lock on everything it read. */
	if (ts != tx->fast.end + 1 && !tx->token && !stm_validate(tx))
		abort_invalid(tx, LUCID_ABORT_COMMIT_INVALID);
	/* Readers that see a written value must then see the orec locked. */
	WRITE_BACK_FENCE();
	const struct lucid_wentry_ *top = tx->fast.w_top;

	for (const struct lucid_wentry_ *e = tx->w_base; e < top; e++)
		stm_store_masked(e->addr, e->value, e->mask);
	if (stm_unlikely(tx->rec_on))
		rec_commit(tx, ts);
	if (stm_likely(!tx->token)) {
		for (const struct lucid_wentry_ *e = tx->w_base; e < top; e++)
			if (e->version != STM_NOT_HEAD)
				__atomic_store_n(&orecs[e->orec], ts, __ATOMIC_RELEASE);
	} else {
		for (const struct lucid_wentry_ *e = tx->w_base; e < top; e++)
			if (e->version != STM_NOT_HEAD)
				__atomic_store_n(&orecs[e->orec], head_dirty(e) ? ts : e->version,
				                 __ATOMIC_RELEASE);
	}
	stm_attempt_end(tx);
	if (stm_unlikely(tx->rec_on))
		rec_commit_done(tx);
	if (wake)
		stm_retry_wake();
	stm_stat_add(&tx->stats.commits_rw, 1);
	tx->retries = 0;
	tx->want_serial = false;
	tx->want_irrevocable = false;
	if (tx_after_commit_pending(tx))
		tx_after_commit(tx);
}

/*
 * Rolls back and jumps to the outermost block: @p jump_value 1 runs the
 * block again (after back-off, or in serial mode once it has failed too
 * often), 2 leaves it (lucid_abort).
 */
void stm_abort(struct stm_tx *tx, int reason, int jump_value)
{
	bool backoff = false, wait_token = tx->blocked_by_token;

	tx->blocked_by_token = false;
	if (tx->rec_on) {
		/* The record may capture the aborting stack, after the attempt
		 * has ended: its block context is made while it runs. */
		stm_rec_ready(tx);
		rec_attempt_over(tx, jump_value != 1);
	}
	stm_rollback(tx);
	stm_attempt_end(tx);
	/* The next attempt starts from now: what stopped this one is likely
	 * newer than its snapshot. */
	tx->clock_seen = stm_clock_now();
	stm_stat_add(&tx->stats.aborts, 1);
	stm_stat_add(&tx->stats.by_reason[reason], 1);
	if (tx->rec_on)
		rec_abort_done(tx, reason);
	if (wait_token) {
		/* Stopped by an irrevocable transaction's lock: not contention
		 * that serial mode could resolve (serial mode would wait for it
		 * too, stopping everybody); wait for it below instead. */
	} else if (jump_value == 1) {
		tx->retries++;
		if (tx->retries > __atomic_load_n(&tx->stats.max_retries, __ATOMIC_RELAXED))
			__atomic_store_n(&tx->stats.max_retries, tx->retries, __ATOMIC_RELAXED);
		if (tx->retries >= stm_config.serial_after)
			tx->want_serial = true;
		else
			backoff = reason != LUCID_ABORT_IRREVOCABLE;
	} else {
		tx->retries = 0;
		tx->want_serial = false;
		tx->want_irrevocable = false;
	}
	tx_after_abort(tx);
	if (wait_token)
		stm_token_wait();
	else if (backoff)
		stm_backoff(tx);
	stm_jump(tx, jump_value);
}

/*
 * lucid_retry(): roll back, sleep until a word the attempt read has been
 * changed by a commit, run the block again. Waiting is not a conflict: it
 * neither counts as a consecutive abort nor leads to serial mode.
 */
void stm_retry(struct stm_tx *tx)
{
	/* With the token, what the attempt read is locked in the write log:
	 * wait on those orecs and the versions they had. */
	size_t nr = (size_t)(tx->fast.r_top - tx->r_base);
	size_t nw = tx->token ? (size_t)(tx->fast.w_top - tx->w_base) : 0;
	size_t n = nr + nw;

	if (n > tx->wait_cap) {
		struct stm_wait_entry *w = realloc(tx->wait_set, n * sizeof(*w));

		if (!w)
			lucid_fatal("out of memory saving the read set of a transaction that called "
			            "lucid_retry() (%zu entries)", n);
		tx->wait_set = w;
		tx->wait_cap = n;
	}
	/* The versions read are the ones still there (or, for words we have
	 * locked since, found when locking); one already changed means there
	 * is no need to sleep, which a value no orec can hold says. */
	tx->wait_n = 0;
	for (size_t i = 0; i < nr; i++) {
		uint32_t idx = tx->r_base[i].orec;
		uintptr_t cur = __atomic_load_n(&tx->fast.orecs[idx], __ATOMIC_RELAXED);

		if (stm_orec_is_locked(cur) && stm_owns(tx, stm_orec_owner(cur)))
			cur = stm_orec_owner(cur)->version;
		if (cur > tx->fast.end)
			cur = STM_WAIT_CHANGED;
		tx->wait_set[tx->wait_n++] = (struct stm_wait_entry){ .seen = cur, .orec = idx };
	}
	for (size_t i = 0; i < nw; i++) {
		const struct lucid_wentry_ *e = &tx->w_base[i];

		if (e->version != STM_NOT_HEAD)
			tx->wait_set[tx->wait_n++] = (struct stm_wait_entry){ .seen = e->version,
			                                                     .orec = e->orec };
	}
	/* The wait may be long (and the program may end meanwhile): a record
	 * still waiting for its read's stack goes out without it. */
	if (tx->rec_on) {
		stm_rec_ready(tx);   /* as in stm_abort */
		rec_attempt_over(tx, true);
	}
	stm_rollback(tx);
	stm_attempt_end(tx);
	stm_stat_add(&tx->stats.aborts, 1);
	stm_stat_add(&tx->stats.by_reason[LUCID_ABORT_RETRY], 1);
	if (tx->rec_on)
		rec_abort_done(tx, LUCID_ABORT_RETRY);
	tx->retries = 0;
	tx->want_serial = false;
	tx->want_irrevocable = false;
	tx_after_abort(tx);
	stm_retry_wait(tx);
	tx->clock_seen = stm_clock_now();
	stm_jump(tx, 1);
}

/*
 * lucid_irrevocable(): in serial mode the transaction already runs alone;
 * otherwise it restarts holding the irrevocability token, so that from its
 * first read it locks everything it touches and can no longer abort.
 */
void stm_irrevocable(struct stm_tx *tx)
{
	if (tx->irrevocable)
		return;
	if (tx->serial || tx->token) {
		tx->irrevocable = true;
		stm_stat_add(&tx->stats.irrevocable, 1);
		return;
	}
	tx->want_irrevocable = true;
	stm_abort(tx, LUCID_ABORT_IRREVOCABLE, 1);
}

/* Holds one old write log until a grace period has passed. */
struct old_log {
	struct stm_deferred def;
	void *log;
};

static void old_log_free(struct rcu_head *head)
{
	struct old_log *o = caa_container_of(head, struct old_log, def.rcu);

	stm_deferred_ready(&o->def);
	free(o->log);
	free(o);
}

/*
 * Doubles the write log during an attempt. The entries move, so every orec
 * we hold is pointed at its head's new place (we own those orecs, nobody
 * else may store to them); other threads may still hold a pointer into the
 * old log, which is freed after a grace period.
 */
void stm_wlog_grow(struct stm_tx *tx)
{
	size_t used = (size_t)(tx->fast.w_top - tx->w_base);
	size_t cap = tx->w_cap * 2;
	struct lucid_wentry_ *old = tx->w_base;
	struct lucid_wentry_ *w = aligned_alloc(STM_CACHELINE, cap * sizeof(*w));
	struct old_log *o = malloc(sizeof(*o));

	if (!w || !o)
		lucid_fatal("out of memory growing a write log to %zu entries (%zu MiB)",
		            cap, cap * sizeof(*w) >> 20);
	memcpy(w, old, used * sizeof(*w));
	for (size_t i = 0; i < cap; i++)
		w[i].owner = &tx->fast;
	for (size_t i = 0; i < used; i++) {
		if (w[i].next)
			w[i].next = w + (w[i].next - old);
		if (w[i].version != STM_NOT_HEAD)
			__atomic_store_n(&tx->fast.orecs[w[i].orec], stm_orec_locked_by(&w[i]),
			                 __ATOMIC_RELEASE);
	}
	tx->w_base = w;
	tx->w_cap = cap;
	tx->w_lim = w + cap;
	tx->fast.w_top = w + used;
	set_write_room(tx);
	o->log = old;
	stm_defer(&o->def, old_log_free);
}
