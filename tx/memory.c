/* tx: transactional malloc and free: released on abort, reclaimed after a grace period on commit. */
#include "config.h"

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

void *lucid_malloc(size_t n)
{
	struct stm_tx *tx = stm_self_if_any();
	void *p = malloc(n);

	if (p && tx && __atomic_load_n(&rec_capture, __ATOMIC_RELAXED)) {
		STM_NOTE_CALLER(tx);
		rec_alloc(p, n);
	}
	if (!p || !tx || tx->nesting == 0)
		return p;
	if (!ptrvec_push(&tx->allocs, p)) {
		free(p);
		return NULL;
	}
	return p;
}

/* Memory freed by committed transactions (or outside them), in one batch per
 * commit: reclaimed once no transaction that may still read it is running. */
struct free_batch {
	struct rcu_head rcu;
	size_t n;
	void *ptrs[];
};

static void free_batch_cb(struct rcu_head *head)
{
	struct free_batch *b = caa_container_of(head, struct free_batch, rcu);

	STM_RCU_TSAN_ACQUIRE();
	for (size_t i = 0; i < b->n; i++) {
		rec_alloc_gone(b->ptrs[i]);
		free(b->ptrs[i]);
	}
	free(b);
}

static void defer_free_all(void **ptrs, size_t n)
{
	struct free_batch *b = malloc(sizeof(*b) + n * sizeof(void *));

	if (!b) {
		/* No memory for the batch: wait for the grace period here. */
		stm_rcu_synchronize();
		STM_RCU_TSAN_ACQUIRE();
		for (size_t i = 0; i < n; i++) {
			rec_alloc_gone(ptrs[i]);
			free(ptrs[i]);
		}
		return;
	}
	b->n = n;
	for (size_t i = 0; i < n; i++)
		b->ptrs[i] = ptrs[i];
	STM_RCU_TSAN_RELEASE();   /* the batch, handed over through liburcu */
	urcu_bp_call_rcu(&b->rcu, free_batch_cb);
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
	for (size_t i = 0; i < tx->frees.n; i++) {
		if (tx->frees.v[i] == p) {
			char what[512];

			lucid_misuse("free each block once; after lucid_free() the transaction must "
			             "not use the pointer again",
			             "lucid_free(%p) called twice in one transaction (the transaction of %s)", p,
			             stm_describe_block(&tx->open[0], what, sizeof(what)));
		}
	}
	if (!ptrvec_push(&tx->frees, p))
		lucid_fatal("out of memory recording a lucid_free() in a transaction");
}

/* After commit: frees take effect; allocations are the program's now. */
void tx_memory_commit(struct stm_tx *tx)
{
	tx->allocs.n = 0;
	if (tx->frees.n) {
		defer_free_all(tx->frees.v, tx->frees.n);
		tx->frees.n = 0;
	}
}

/* After rollback: the attempt's allocations are released (nobody else can
 * have seen them: they were only reachable through its buffered writes);
 * its frees never happened. */
void tx_memory_abort(struct stm_tx *tx)
{
	for (size_t i = 0; i < tx->allocs.n; i++) {
		rec_alloc_gone(tx->allocs.v[i]);
		free(tx->allocs.v[i]);
	}
	tx->allocs.n = 0;
	tx->frees.n = 0;
}
