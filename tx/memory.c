/* tx: transactional malloc and free: released on abort, reclaimed after a grace period on commit. */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>

#include <lucid/tx.h>
#include "conflict/recorder.h"
#include "stm/rcu.h"
#include "stm/stm-internal.h"

static bool ptrvec_push(struct stm_ptrvec *v, void *p)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return false;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = p;
	return true;
}

/*
 * lucid_free refuses a block freed twice in one transaction. While the
 * transaction has freed few blocks it looks among them; past
 * FREE_SCAN_MAX it keeps them in a hash set too (open addressing, at most
 * half full), so that a transaction that frees many blocks (a whole list
 * torn down in one) takes linear time, not quadratic. The set lives until
 * the attempt ends.
 */
#define FREE_SCAN_MAX 32

static size_t ptrset_home(const void *p, size_t mask)
{
	/* Fibonacci hashing: the product's top bits. */
	return (size_t)((uintptr_t)p * 0x9e3779b97f4a7c15u >> (64 - __builtin_ctzl(mask + 1)));
}

/* Adds @p p; false if it was there already. */
static bool ptrset_insert(struct stm_ptrset *set, void *p)
{
	size_t i = ptrset_home(p, set->mask);

	for (; set->slot[i]; i = (i + 1) & set->mask)
		if (set->slot[i] == p)
			return false;
	set->slot[i] = p;
	set->n++;
	return true;
}

/* Makes room for one more: builds the set from @p all (the @p n blocks
 * freed so far, none twice) or doubles it. False if out of memory. */
static bool ptrset_reserve(struct stm_ptrset *set, void **all, size_t n)
{
	if (set->slot && (set->n + 1) * 2 <= set->mask + 1)
		return true;

	size_t cap = 64;

	while (cap < (n + 1) * 4)
		cap *= 2;
	void **slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return false;
	free(set->slot);
	*set = (struct stm_ptrset){ .slot = slot, .mask = cap - 1 };
	for (size_t i = 0; i < n; i++)
		ptrset_insert(set, all[i]);
	return true;
}

static void ptrset_clear(struct stm_ptrset *set)
{
	if (set->slot) {
		free(set->slot);
		*set = (struct stm_ptrset){ 0 };
	}
}

/* Whether the running attempt has freed @p p already; notes it if not. */
static bool freed_before(struct stm_tx *tx, void *p)
{
	if (tx->frees.n >= FREE_SCAN_MAX && ptrset_reserve(&tx->free_set, tx->frees.v, tx->frees.n))
		return !ptrset_insert(&tx->free_set, p);
	/* Few frees, or no memory for the set: look at each. */
	for (size_t i = 0; i < tx->frees.n; i++)
		if (tx->frees.v[i] == p)
			return true;
	ptrset_clear(&tx->free_set);   /* if any: no longer complete */
	return false;
}

void *lucid_malloc(size_t n)
{
	struct stm_tx *tx = stm_self_if_any();
	void *p = malloc(n);

	if (p && tx && stm_recording()) {
		STM_NOTE_CALLER(tx);
		rec_alloc(p, n);
	}
	if (!p || !tx || tx->nesting == 0)
		return p;
	if (!ptrvec_push(&tx->allocs, p)) {
		free(p);
		return NULL;
	}
	tx->after = true;
	return p;
}

/* Memory freed outside transactions, and blocks of committed transactions
 * that the freeing thread does not keep (see below): one batch per call,
 * reclaimed by liburcu's call_rcu worker once no transaction that may still
 * read it is running. */
struct free_batch {
	struct stm_deferred def;
	size_t n;
	void *ptrs[];
};

static void free_all(void **ptrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rec_alloc_gone(ptrs[i]);
		free(ptrs[i]);
	}
}

static void free_batch_cb(struct rcu_head *head)
{
	struct free_batch *b = caa_container_of(head, struct free_batch, def.rcu);

	stm_deferred_ready(&b->def);
	free_all(b->ptrs, b->n);
	free(b);
}

static void defer_free_all(void **ptrs, size_t n)
{
	struct free_batch *b = malloc(sizeof(*b) + n * sizeof(void *));

	if (!b) {
		/* No memory for the batch: wait for a grace period here. */
		stm_attempts_synchronize();
		free_all(ptrs, n);
		return;
	}
	b->n = n;
	for (size_t i = 0; i < n; i++)
		b->ptrs[i] = ptrs[i];
	stm_defer(&b->def, free_batch_cb);
}

/*
 * Small blocks freed by committed transactions are reclaimed by the thread
 * that freed them, so that its next lucid_malloc finds them in its own
 * allocator cache (freed by liburcu's worker thread, they went to that
 * thread's cache and every malloc of a thread that inserts and deletes
 * took the allocator's slow path: a quarter of the hash set's time).
 * A thread's freed small blocks fill a batch of STM_LIMBO_BATCH; a full
 * batch is closed, and done once every attempt that was running when it
 * closed has ended; the thread frees the blocks of its done batches,
 * oldest first, at its next commit that allocates or frees.
 *
 * Where membarrier(2) works, the thread runs the grace periods of its
 * batches itself (gp_start, below), each covering the batches closed
 * before a membarrier() began: a barrier in every running thread, then a
 * look at each other thread's in_cs (odd while an attempt runs, a new
 * value for each). The batches are done once each attempt seen running
 * has ended, which the thread checks at its next commits that allocate or
 * free (gp_over): the blocks come back to it a few milliseconds at most
 * after their batch closed, while they are still in its caches. The
 * barrier is what lets a thread seen outside an attempt be skipped: an
 * attempt it began before the barrier would have shown its odd in_cs, and
 * one begun after sees the commits that unlinked the blocks, so it cannot
 * reach them. The barriers are shared (gp_mb): whichever thread calls
 * membarrier(), one a millisecond or more often where it is cheap, the
 * call serves every thread's batches closed before it began, so that the
 * process interrupts its running threads about a thousand times a second
 * however many threads free, not that many times per thread.
 * Elsewhere a call_rcu callback marks a closed batch done after a grace
 * period (stm_sync_after); liburcu's worker runs callbacks every 10 ms or so, and a
 * thread that frees quickly has hundreds of batches waiting at a time.
 *
 * The batches may hold STM_LIMBO_MAX_BYTES at most (what a per-thread
 * cache of tcmalloc holds at most, too), past which, and for larger blocks
 * (no per-thread cache keeps them), blocks go to call_rcu as those freed
 * outside transactions do and the worker frees them. A thread that stops
 * allocating and freeing keeps what its batches hold until it exits. A
 * thread that exits, or a thread gone in a fork() child, frees what its
 * batches hold once no transaction can read it, and leaves a batch whose
 * callback has not run to the callback.
 */
/* A closed batch: waiting for its callback, done, left by its owner to
 * its callback, or waiting for its owner's grace period (no callback). */
enum { LIMBO_PENDING, LIMBO_DONE, LIMBO_ABANDONED, LIMBO_WAIT };

struct stm_limbo {
	struct stm_deferred def;   /* where it goes to call_rcu */
	struct stm_limbo *next;    /* the next closed batch, newer */
	uint64_t mb_need;          /* LIMBO_WAIT: a membarrier() whose ticket is
	                              above this began after the batch closed */
	unsigned state;            /* LIMBO_*: written by the callback and the owner */
	size_t n;
	size_t bytes;              /* the blocks' usable sizes, summed */
	void *ptrs[STM_LIMBO_BATCH];
};

static void limbo_done_cb(struct rcu_head *head)
{
	struct stm_limbo *b = caa_container_of(head, struct stm_limbo, def.rcu);

	stm_deferred_ready(&b->def);
	/* The owner frees the blocks of a done batch; of an abandoned one it
	 * has freed them, and the batch is the callback's to free. */
	if (__atomic_exchange_n(&b->state, LIMBO_DONE, __ATOMIC_ACQ_REL) == LIMBO_ABANDONED)
		free(b);
}

/* ----------------------------------------- the owner's grace periods */

/* A thread may call membarrier() for its grace period once
 * GP_INTERVAL_MAX_NS or GP_COST_FACTOR times the last call's cost has
 * passed since any thread last called it: where no other thread runs, the
 * call costs under a microsecond and the blocks of each batch come back
 * at once; where others run, it interrupts each of them (12 us for the
 * caller on a 2-core virtual machine where one other runs), and one a
 * millisecond costs about 1%. */
#define GP_INTERVAL_MAX_NS 1000000
#define GP_COST_FACTOR 100
/* Whether that time has passed is asked (clock_gettime, about 30 ns: on
 * every commit that allocates or frees it was 4 to 5% of the hash set's
 * time) at a commit that closed a batch and at one in GP_POLL_EVERY of the
 * others that find a closed batch waiting and no call that serves it. */
#define GP_POLL_EVERY 8

/*
 * The membarrier() calls that grace periods share, alone on their lines.
 * A call takes a ticket (started + 1) first and, once it has returned,
 * raises done to it. A batch notes started when it closes, after a full
 * fence (its blocks' unlinking commits are visible everywhere before the
 * load): a ticket above it was taken later, so its call began after the
 * batch closed, and done above it says that such a call has returned (not
 * every call before it: done is the highest ticket returned). last_ns and
 * cost_ns: when the last call began, and what the last call to return
 * cost its caller.
 */
static struct {
	uint64_t started, done, last_ns, cost_ns;
	char pad_[STM_ISOLATE - 4 * sizeof(uint64_t)];
} gp_mb __attribute__((aligned(STM_ISOLATE)));

/* What batch @p b needs from a membarrier() (see gp_mb), as it closes. */
static void gp_mb_note(struct stm_limbo *b)
{
	STM_FULL_FENCE();
	b->mb_need = __atomic_load_n(&gp_mb.started, __ATOMIC_SEQ_CST);
}

/* Calls membarrier(), which began at @p now, for every thread's grace
 * periods. */
static void gp_mb_call(uint64_t now)
{
	uint64_t ticket = __atomic_add_fetch(&gp_mb.started, 1, __ATOMIC_SEQ_CST);

	/* Batches wait for grace periods only where membarrier works
	 * (limbo_close), and should it fail later the program stops. */
	stm_membarrier();
	__atomic_store_n(&gp_mb.cost_ns, stm_now_ns() - now, __ATOMIC_RELAXED);
	uint64_t done = __atomic_load_n(&gp_mb.done, __ATOMIC_RELAXED);

	while (done < ticket && !__atomic_compare_exchange_n(&gp_mb.done, &done, ticket, true,
	                                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

/* The newest of the thread's waiting batches that a returned
 * membarrier() began after, or NULL. Batches close in order, and what
 * they need only grows; done ones (at the front, given back once the
 * grace period has moved on) were covered too, but are not waiting. */
static struct stm_limbo *gp_mb_covers(const struct stm_tx *tx)
{
	uint64_t done = __atomic_load_n(&gp_mb.done, __ATOMIC_ACQUIRE);
	struct stm_limbo *upto = NULL;

	for (struct stm_limbo *b = tx->limbo_old; b && b->mb_need < done; b = b->next)
		if (__atomic_load_n(&b->state, __ATOMIC_RELAXED) == LIMBO_WAIT)
			upto = b;
	return upto;
}

/* Marks the batches up to the one the grace period covered done. */
static void gp_done(struct stm_tx *tx)
{
	struct stm_limbo *b;

	for (b = tx->limbo_old; b && b != tx->gp_upto; b = b->next)
		__atomic_store_n(&b->state, LIMBO_DONE, __ATOMIC_RELAXED);
	/* A grace period covers a batch that waits for it, which is still
	 * in the list: anything else would give back batches no grace period
	 * covered. */
	if (!b)
		lucid_fatal("internal error: a grace period ended for a batch of freed blocks that "
		            "is no longer waiting");
	__atomic_store_n(&b->state, LIMBO_DONE, __ATOMIC_RELAXED);
	tx->gp_upto = NULL;
}

struct gp_scan {
	struct stm_tx *self;
	size_t kept;       /* gp_keep: entries found registered so far */
	bool no_memory;    /* gp_note */
};

/* For each registered thread: notes its running attempt, if any. */
static void gp_note(struct stm_tx *t, void *arg)
{
	struct gp_scan *sc = arg;
	struct stm_tx *self = sc->self;
	unsigned seq;

	if (t == self || sc->no_memory)
		return;
	seq = __atomic_load_n(&t->in_cs, __ATOMIC_ACQUIRE);
	if (!(seq & 1))
		return;
	if (self->gp_n == self->gp_cap) {
		size_t cap = self->gp_cap ? self->gp_cap * 2 : 8;
		struct stm_gp_wait *w = realloc(self->gp_wait, cap * sizeof(*w));

		if (!w) {
			sc->no_memory = true;
			return;
		}
		self->gp_wait = w;
		self->gp_cap = cap;
	}
	self->gp_wait[self->gp_n++] = (struct stm_gp_wait){ .t = t, .seq = seq };
}

/* For each registered thread: keeps its entry (to the front), if any. */
static void gp_keep(struct stm_tx *t, void *arg)
{
	struct gp_scan *sc = arg;
	struct stm_tx *self = sc->self;

	for (size_t i = sc->kept; i < self->gp_n; i++) {
		if (self->gp_wait[i].t == t) {
			struct stm_gp_wait w = self->gp_wait[i];

			self->gp_wait[i] = self->gp_wait[sc->kept];
			self->gp_wait[sc->kept++] = w;
			return;
		}
	}
}

/*
 * Starts a grace period that covers the batches up to @p upto, closed
 * before a membarrier() that has returned began: each thread's attempt
 * that may have read their blocks (it began before the commits that
 * unlinked them) was running when that barrier ran in its thread, and
 * shows in_cs odd until it ends.
 */
static void gp_start(struct stm_tx *tx, struct stm_limbo *upto)
{
	struct gp_scan sc = { .self = tx };

	if (__atomic_load_n(&upto->state, __ATOMIC_RELAXED) != LIMBO_WAIT)
		lucid_fatal("internal error: a grace period started for a batch of freed blocks "
		            "that is not waiting for one");
	tx->gp_upto = upto;
	tx->gp_n = 0;
	/* Read first: a thread that leaves after it is noticed (gp_over). */
	tx->gp_exits = __atomic_load_n(&stm_exits, __ATOMIC_ACQUIRE);
	stm_for_each_thread(gp_note, &sc);
	if (sc.no_memory) {
		tx->gp_n = 0;
		tx->gp_upto = NULL;   /* none runs; another will start later */
	}
}

/*
 * Whether every attempt the running grace period waits for has ended. The
 * descriptors it names stay readable here: a thread that leaves the
 * registry bumps stm_exits and frees its descriptor only after a grace
 * period of liburcu's, which waits for this read-side section, or, where
 * this section began later, whose bump it sees.
 */
static bool gp_over(struct stm_tx *tx)
{
	bool looked = false;

	if (tx->gp_n == 0)
		return true;
	urcu_bp_read_lock();
	if (__atomic_load_n(&stm_exits, __ATOMIC_ACQUIRE) == tx->gp_exits) {
		for (size_t i = 0; i < tx->gp_n;) {
			const struct stm_gp_wait *w = &tx->gp_wait[i];

			/* Changed: the attempt left, or the next began (both
			 * release stores). */
			if (__atomic_load_n(&w->t->in_cs, __ATOMIC_ACQUIRE) != w->seq)
				tx->gp_wait[i] = tx->gp_wait[--tx->gp_n];
			else
				i++;
		}
		looked = true;
	}
	STM_RCU_TSAN_RELEASE();
	urcu_bp_read_unlock();
	if (!looked) {
		/* Threads have left: forget those no longer registered (their
		 * attempts have ended), by address alone. */
		struct gp_scan sc = { .self = tx };

		tx->gp_exits = __atomic_load_n(&stm_exits, __ATOMIC_ACQUIRE);
		stm_for_each_thread(gp_keep, &sc);
		tx->gp_n = sc.kept;
	}
	return tx->gp_n == 0;
}

/* Moves the thread's grace periods on: ends the running one if it is over,
 * and starts one for the batches closed since, if it is time. */
static void gp_advance(struct stm_tx *tx)
{
	if (tx->gp_upto && gp_over(tx))
		gp_done(tx);
	if (tx->gp_upto || !tx->limbo_new ||
	    __atomic_load_n(&tx->limbo_new->state, __ATOMIC_RELAXED) != LIMBO_WAIT)
		return;
	/* A call that another thread made may serve; else this thread makes
	 * one if none began lately (one thread of those that find it so). */
	struct stm_limbo *upto = gp_mb_covers(tx);

	if (!upto && (tx->gp_closed || ++tx->gp_polls % GP_POLL_EVERY == 0)) {
		uint64_t now = stm_now_ns();
		uint64_t last = __atomic_load_n(&gp_mb.last_ns, __ATOMIC_RELAXED);
		uint64_t since = now > last ? now - last : 0;

		tx->gp_closed = false;
		if ((since >= GP_INTERVAL_MAX_NS ||
		     since >= GP_COST_FACTOR * __atomic_load_n(&gp_mb.cost_ns, __ATOMIC_RELAXED)) &&
		    __atomic_compare_exchange_n(&gp_mb.last_ns, &last, now, false, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED)) {
			gp_mb_call(now);
			upto = tx->limbo_new;   /* all closed before its ticket */
		}
	}
	if (upto) {
		gp_start(tx, upto);
		if (tx->gp_upto && gp_over(tx))
			gp_done(tx);
	}
}

void tx_memory_after_fork(struct stm_tx *tx)
{
	tx->gp_n = 0;
	tx->gp_exits = __atomic_load_n(&stm_exits, __ATOMIC_RELAXED);
}

/* Frees the blocks of the thread's done batches, oldest first; keeps one
 * batch for reuse. */
static void limbo_reclaim(struct stm_tx *tx)
{
	struct stm_limbo *b;

	if (tx->limbo_old)
		gp_advance(tx);
	while ((b = tx->limbo_old) && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == LIMBO_DONE) {
		tx->limbo_old = b->next;
		tx->limbo_bytes -= b->bytes;
		free_all(b->ptrs, b->n);
		if (!tx->limbo_spare) {
			tx->limbo_spare = b;
		} else {
			free(b);
		}
	}
}

/* Closes the open batch: its blocks are done after the next grace period. */
static void limbo_close(struct stm_tx *tx)
{
	struct stm_limbo *b = tx->limbo;

	tx->limbo = NULL;
	b->next = NULL;
	/* the callback's exchange comes after, through call_rcu's queue; with
	 * the owner's grace periods there is no callback */
	bool own = stm_membarrier_works();

	if (own)
		gp_mb_note(b);
	__atomic_store_n(&b->state, own ? LIMBO_WAIT : LIMBO_PENDING, __ATOMIC_RELAXED);
	if (tx->limbo_old)
		tx->limbo_new->next = b;
	else
		tx->limbo_old = b;
	tx->limbo_new = b;
	tx->gp_closed = true;
	if (own)
		return;
	stm_defer(&b->def, limbo_done_cb);
}

/* The open batch, opened if need be; NULL if there is no memory for one. */
static struct stm_limbo *limbo_open(struct stm_tx *tx)
{
	struct stm_limbo *b = tx->limbo;

	if (!b) {
		b = tx->limbo_spare ? tx->limbo_spare : malloc(sizeof(*b));
		tx->limbo_spare = NULL;
		if (b) {
			b->n = 0;
			b->bytes = 0;
			tx->limbo = b;
		}
	}
	return b;
}

/* Puts the @p n blocks a commit freed into the thread's batches, or, those
 * it does not keep, into one batch for call_rcu. */
static void limbo_add(struct stm_tx *tx, void **ptrs, size_t n)
{
	size_t other = 0;

	for (size_t i = 0; i < n; i++) {
		size_t size = malloc_usable_size(ptrs[i]);
		struct stm_limbo *b = NULL;

		if (size <= STM_LIMBO_MAX_SIZE && tx->limbo_bytes + size <= STM_LIMBO_MAX_BYTES)
			b = limbo_open(tx);
		if (!b) {
			/* For call_rcu (a large block, past the budget, or no
			 * memory for a batch): to the front. */
			void *p = ptrs[i];

			ptrs[i] = ptrs[other];
			ptrs[other++] = p;
			continue;
		}
		b->ptrs[b->n++] = ptrs[i];
		b->bytes += size;
		tx->limbo_bytes += size;
		if (b->n == STM_LIMBO_BATCH)
			limbo_close(tx);
	}
	if (other)
		defer_free_all(ptrs, other);
}

void tx_memory_release(struct stm_tx *tx)
{
	if (tx->limbo) {
		free_all(tx->limbo->ptrs, tx->limbo->n);
		free(tx->limbo);
	}
	for (struct stm_limbo *b = tx->limbo_old, *next; b; b = next) {
		next = b->next;
		free_all(b->ptrs, b->n);
		/* A batch with a callback still to run is the callback's to free. */
		if (__atomic_exchange_n(&b->state, LIMBO_ABANDONED, __ATOMIC_ACQ_REL) != LIMBO_PENDING)
			free(b);
	}
	free(tx->limbo_spare);
	ptrset_clear(&tx->free_set);
	tx->limbo = tx->limbo_old = tx->limbo_new = tx->limbo_spare = NULL;
	tx->limbo_bytes = 0;
	free(tx->gp_wait);
	tx->gp_wait = NULL;
	tx->gp_n = tx->gp_cap = 0;
	tx->gp_upto = NULL;
}

void stm_defer_free(void *p)
{
	defer_free_all(&p, 1);
}

void lucid_free(void *p)
{
	struct stm_tx *tx;

	if (!p)
		return;
	tx = stm_self();   /* call_rcu wants a registered thread */
	if (tx->nesting == 0) {
		/* Outside transactions: a transaction may still be reading it. */
		stm_defer_free(p);
		return;
	}
	if (freed_before(tx, p)) {
		char what[512];

		lucid_misuse("free each block once; after lucid_free() the transaction must "
		             "not use the pointer again",
		             "lucid_free(%p) called twice in one transaction (the transaction of %s)", p,
		             stm_describe_block(&tx->open[0], what, sizeof(what)));
	}
	if (!ptrvec_push(&tx->frees, p))
		lucid_fatal("out of memory recording a lucid_free() in a transaction");
	tx->after = true;
}

/* After commit: frees take effect; allocations are the program's now. */
void tx_memory_commit(struct stm_tx *tx)
{
	tx->allocs.n = 0;
	if (tx->frees.n) {
		limbo_add(tx, tx->frees.v, tx->frees.n);
		tx->frees.n = 0;
	}
	ptrset_clear(&tx->free_set);
	limbo_reclaim(tx);
}

/* After rollback: the attempt's allocations are released (nobody else can
 * have seen them: they were only reachable through its buffered writes);
 * its frees never happened. */
void tx_memory_abort(struct stm_tx *tx)
{
	free_all(tx->allocs.v, tx->allocs.n);
	tx->allocs.n = 0;
	tx->frees.n = 0;
	ptrset_clear(&tx->free_set);
}
