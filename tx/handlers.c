/* tx: commit and abort handlers, and what runs after each attempt. */
#include "config.h"

#include <stdlib.h>

#include <lucid/tx.h>
#include "stm/stm-internal.h"

static struct stm_tx *in_tx(const char *what)
{
	struct stm_tx *tx = stm_self_if_any();

	if (!tx || tx->nesting == 0)
		lucid_misuse("register handlers inside LUCID_ATOMIC or a function run by lucid_run()",
		             "%s() called outside a transaction", what);
	return tx;
}

static void push(struct stm_handlers *h, void (*fn)(void *), void *arg, const char *what)
{
	if (!fn)
		lucid_misuse("pass the function to run", "%s() called with a NULL function", what);
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		struct stm_handler *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			lucid_fatal("out of memory registering a handler with %s()", what);
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].fn = fn;
	h->v[h->n].arg = arg;
	h->n++;
}

void lucid_on_commit(void (*fn)(void *), void *arg)
{
	struct stm_tx *tx = in_tx("lucid_on_commit");

	push(&tx->on_commit, fn, arg, "lucid_on_commit");
	tx->after = true;
}

void lucid_on_abort(void (*fn)(void *), void *arg)
{
	struct stm_tx *tx = in_tx("lucid_on_abort");

	push(&tx->on_abort, fn, arg, "lucid_on_abort");
	tx->after = true;
}

/*
 * Runs a list once, in registration order, outside any transaction: a
 * handler may itself run transactions (which register and run handlers of
 * their own, retry, or become irrevocable), so the list is detached first
 * and the state of the thread's own transaction (between two attempts, when
 * abort handlers run) is put back afterwards.
 */
static void run(struct stm_tx *tx, struct stm_handlers *list)
{
	struct stm_handlers h = *list;
	unsigned nesting = tx->nesting, retries = tx->retries;
	bool want_serial = tx->want_serial, want_irrevocable = tx->want_irrevocable;
	void *env = tx->env;
	bool env_own = tx->env_own;
	struct stm_open_block outer = tx->open[0];
	struct stm_wait_entry *wait_set = tx->wait_set;
	size_t wait_n = tx->wait_n, wait_cap = tx->wait_cap;

	*list = (struct stm_handlers){ 0 };
	tx->nesting = 0;
	tx->retries = 0;
	tx->want_serial = tx->want_irrevocable = false;
	tx->wait_set = NULL;
	tx->wait_n = tx->wait_cap = 0;
	tx->in_handler = true;
	for (size_t i = 0; i < h.n; i++) {
		h.v[i].fn(h.v[i].arg);
		if (tx->nesting != 0)
			lucid_misuse("let every LUCID_ATOMIC block in a handler reach its end",
			             "a commit or abort handler left the LUCID_ATOMIC block at %s:%d "
			             "(in %s()) by return, goto or longjmp", tx->open[0].site->file,
			             tx->open[0].site->line, tx->open[0].site->func);
	}
	tx->in_handler = false;
	free(tx->wait_set);
	tx->wait_set = wait_set;
	tx->wait_n = wait_n;
	tx->wait_cap = wait_cap;
	tx->nesting = nesting;
	tx->retries = retries;
	tx->want_serial = want_serial;
	tx->want_irrevocable = want_irrevocable;
	tx->env = env;
	tx->env_own = env_own;
	tx->open[0] = outer;
	if (!list->v) {
		h.n = 0;
		*list = h;   /* keep the storage for the next attempt */
	} else {
		free(h.v);
	}
}

/* Both consume everything that set tx->after: the lists are empty when
 * they return (handlers' own transactions clear what they set). */
void tx_after_commit(struct stm_tx *tx)
{
	tx->after = false;
	tx->on_abort.n = 0;
	tx_memory_commit(tx);
	if (tx->on_commit.n)
		run(tx, &tx->on_commit);
}

void tx_after_abort(struct stm_tx *tx)
{
	tx->after = false;
	tx->on_commit.n = 0;
	/* First, so that a handler's own transaction cannot commit them. */
	tx_memory_abort(tx);
	if (tx->on_abort.n)
		run(tx, &tx->on_abort);
}
