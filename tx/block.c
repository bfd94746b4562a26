/* tx: atomic blocks (LUCID_ATOMIC, lucid_run), flat nesting, lucid_abort, misuse checks. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <lucid/tx.h>
#include "stm/stm-internal.h"

#define FIX_LEAVE "let the block reach its end; to leave early, move its body into a " \
	"function, return from it and run it with lucid_run()"

/* Notes block @p b, started at @p pc, as the open block @p o. */
static inline void open_set(struct stm_open_block *o, const struct lucid_block_ *b, void *pc)
{
	*o = (struct stm_open_block){ .pc = pc, .site = b->site, .frame = b->frame, .block = b };
}

static void track(struct stm_tx *tx, const struct lucid_block_ *b, void *pc)
{
	if (b->depth <= STM_TRACK_DEPTH)
		open_set(&tx->open[b->depth - 1], b, pc);
}

static const struct stm_open_block *innermost(const struct stm_tx *tx)
{
	unsigned d = tx->nesting < STM_TRACK_DEPTH ? tx->nesting : STM_TRACK_DEPTH;

	return &tx->open[d - 1];
}

/* Stops the program: the open block @p o was abandoned; found when block
 * @p b @p event ("started" or "ended"). */
static void report_left(const struct stm_open_block *o, const struct lucid_block_ *b,
                        const char *event)
{
	char what[512], where[512];
	struct stm_open_block nb = { .site = b->site };

	lucid_misuse(o->site->line == 0 ? "return from the function run by lucid_run() instead "
	                                  "of leaving it by longjmp"
	                                : FIX_LEAVE,
	             "%s was left by return, goto or longjmp without finishing its transaction; "
	             "found when %s %s", stm_describe_block(o, what, sizeof(what)),
	             stm_describe_block(&nb, where, sizeof(where)), event);
}

/*
 * A block starting while the thread is in a transaction is nested, unless
 * the open block was left without ending (return, goto, longjmp). The stack
 * tells them apart when the new block is in a caller of the open block's
 * function (a shallower frame), in another function at the same depth (a
 * sibling call: functions that take a checkpoint are never inlined), or is that
 * very block again.
 */
static void check_stale(struct stm_tx *tx, const struct lucid_block_ *b)
{
	const struct stm_open_block *o = innermost(tx);

	if ((uintptr_t)b->frame > (uintptr_t)o->frame ||
	    (b->frame == o->frame && (b->site->func != o->site->func || (const void *)b == o->block)))
		report_left(o, b, "started");
}

/*
 * An outermost block's first attempt: the block becomes the transaction's.
 * Stores are most of what a block costs, and a thread runs the same
 * blocks again and again: what the descriptor holds already is not stored
 * again. Every value that would be stored is compared: the same block
 * record at the same stack address, entered from the same call, can have
 * another frame address (a function that realigns its stack keeps its
 * locals in place while its frame follows the caller's depth; check_tx's
 * realigned_frame). retries is zero (every transaction ends by resetting
 * it).
 */
static inline __attribute__((always_inline)) void begin_outermost(struct stm_tx *tx,
                                                                  struct lucid_block_ *b,
                                                                  void *pc, bool own)
{
	struct stm_open_block *o = &tx->open[0];

	tx->nesting = 1;
	b->depth = 1;
	if (stm_unlikely(o->block != b || o->pc != pc || o->site != b->site ||
	                 o->frame != b->frame || tx->env != b->env || tx->env_own != own)) {
		open_set(o, b, pc);
		tx->env = b->env;
		tx->env_own = own;
	}
}

/* A block record started again without having ended: its body was left
 * by `break` (the macro's loop over the record runs it again). */
static void report_break(const struct lucid_block_ *b)
{
	lucid_misuse(FIX_LEAVE, "`break` left the LUCID_ATOMIC block at %s:%d (in %s())",
	             b->site->file, b->site->line, b->site->func);
}

/* The start for anything but the common case (begin, below): the thread's
 * first transaction, a nested block, a re-run, leaving after lucid_abort,
 * an attempt that starts in a special mode or records, or a block started
 * again after `break`. Returns whether the body runs. */
static __attribute__((noinline)) int begin_other(struct lucid_block_ *b, int jumped, void *pc,
                                                 bool own)
{
	struct stm_tx *tx = stm_self();

	switch (jumped) {
	case 0:
		if (b->depth != 0)
			report_break(b);
		if (tx->nesting == 0) {
			begin_outermost(tx, b, pc, own);
			break;
		}
		check_stale(tx, b);
		b->depth = ++tx->nesting;
		track(tx, b, pc);
		return 1;
	case 1:
		/* Re-run after an abort: back to the outermost block. */
		tx->nesting = 1;
		break;
	default:
		/* lucid_abort(): rolled back already; leave the block. */
		tx->nesting = 0;
		b->state = LUCID_BLOCK_ABORTED_;
		return 0;
	}
	stm_start(tx);
	return 1;
}

/* begin_gated's way where the gate is anything but the recorder's bit alone. */
static __attribute__((noinline)) int begin_gated_other(struct stm_tx *tx, uintptr_t gate)
{
	if (!stm_start_finish(tx, stm_start_gated(tx, gate)))
		stm_start_slow(tx);
	return 1;
}

/* The start when the gate is not zero (stm_gate: serial mode pending, the
 * recorder capturing, or no membarrier), then the body runs. */
static __attribute__((noinline)) int begin_gated(struct stm_tx *tx, uintptr_t gate)
{
	/* Recording and nothing else, the common case here: what
	 * stm_start_gated does for this gate (no fence, no serial mode to
	 * wait for), without the call; both ways end in a tail call. */
	if (gate == STM_GATE_REC) {
		stm_start_logs(tx);
		return stm_start_rec(tx);
	}
	return begin_gated_other(tx, gate);
}

/* The common case, an outermost block's first attempt in no special mode,
 * is a leaf: everything else is a tail call (no register to save).
 * Returns whether the body runs. */
static inline __attribute__((always_inline)) int begin(struct lucid_block_ *b, int jumped,
                                                       void *pc, bool own)
{
	struct lucid_txfast_ *f = lucid_tls_tx_;
	struct stm_tx *tx = (struct stm_tx *)f;

	if (stm_likely(f != &stm_none && (jumped | tx->nesting | tx->start_other) == 0)) {
		begin_outermost(tx, b, pc, own);
		uintptr_t gate = stm_cs_enter_raw(tx);

		if (stm_likely(gate == 0)) {
			stm_start_snapshot(tx);
			return 1;
		}
		return begin_gated(tx, gate);
	}
	return begin_other(b, jumped, pc, own);
}

int lucid_block_open_(struct lucid_block_ *b, int jumped)
{
	return begin(b, jumped, __builtin_return_address(0), false);
}

/* The same after lucid_block_enter_open_ took the checkpoint
 * (checkpoint.c), or after a jump back to it: returns to the block, with
 * whether its body runs. Called only from asm, hence `used` (link-time
 * optimization would drop it). */
__attribute__((visibility("hidden"))) int lucid_block_begin_own_(struct lucid_block_ *b,
                                                                 int jumped);
__attribute__((used)) int lucid_block_begin_own_(struct lucid_block_ *b, int jumped)
{
#ifdef LUCID_TSAN_
	/* ThreadSanitizer follows the stack through sigsetjmp/siglongjmp only. */
	lucid_misuse("compile the program with -fsanitize=thread too, as this liblucid was",
	             "the LUCID_ATOMIC block at %s:%d (in %s()) was compiled without "
	             "ThreadSanitizer, and this liblucid with it", b->site->file, b->site->line,
	             b->site->func);
#endif
	return begin(b, jumped, __builtin_return_address(0), true);
}

/* lucid_block_end_ for anything but the common case (see there). */
static __attribute__((noinline)) void end_other(struct lucid_block_ *b)
{
	struct stm_tx *tx = stm_self();

	if (tx->nesting != b->depth)
		report_left(innermost(tx), b, "ended");
	if (b->depth > 1) {
		tx->nesting--;
		b->state = LUCID_BLOCK_COMMITTED_;
		return;
	}
	stm_commit(tx);
	tx->nesting = 0;
	b->state = LUCID_BLOCK_COMMITTED_;
}

/* The end of an outermost block whose commit is stm_commit_slow's. */
static __attribute__((noinline)) void end_commit_slow(struct stm_tx *tx, struct lucid_block_ *b)
{
	stm_commit_slow(tx);
	tx->nesting = 0;
	b->state = LUCID_BLOCK_COMMITTED_;
}

/* The common case, the end of an outermost block whose attempt only read,
 * in no special mode, is a leaf: everything else is a tail call. */
void lucid_block_end_(struct lucid_block_ *b)
{
	struct lucid_txfast_ *f = lucid_tls_tx_;
	struct stm_tx *tx = (struct stm_tx *)f;

	if (stm_likely(f != &stm_none && b->depth == 1 && tx->nesting == 1)) {
		if (stm_likely(stm_commit_fast_ok(tx))) {
			stm_commit_fast(tx);
			tx->nesting = 0;
			b->state = LUCID_BLOCK_COMMITTED_;
			return;
		}
		if (stm_commit_lazy_ok(tx)) {
			stm_commit_lazy(tx);
			tx->nesting = 0;
			b->state = LUCID_BLOCK_COMMITTED_;
			return;
		}
		end_commit_slow(tx, b);
		return;
	}
	end_other(b);
}

int lucid_run(void (*fn)(void *arg), void *arg)
{
	if (!fn)
		lucid_misuse("pass the function to run", "lucid_run() called with a NULL function");

	sigjmp_buf env;
	/* line 0 marks lucid_run's own transaction in diagnostics */
	static const struct lucid_site_ site = { .file = __FILE__, .func = __func__, .line = 0 };
	struct lucid_block_ b = { .env = &env, .site = &site, .frame = __builtin_frame_address(0) };

	while (b.state == LUCID_BLOCK_RUNNING_)
		for (int run = lucid_block_open_(&b, sigsetjmp(env, 0)); run;
		     run = (lucid_block_end_(&b), 0))
			fn(arg);
	return b.state == LUCID_BLOCK_ABORTED_ ? LUCID_ABORTED : 0;
}

static struct stm_tx *in_tx(const char *what)
{
	struct stm_tx *tx = stm_self_if_any();

	if (!tx || tx->nesting == 0)
		lucid_misuse("call it only inside LUCID_ATOMIC or a function run by lucid_run()",
		             "%s() called outside a transaction", what);
	return tx;
}

/* lucid_abort and lucid_retry roll back, which an irrevocable transaction
 * cannot do. */
static void refuse_if_irrevocable(struct stm_tx *tx, const char *what, const char *fix)
{
	char where[512];

	if (tx->irrevocable)
		lucid_misuse(fix, "%s() after lucid_irrevocable() in the transaction of %s: an "
		             "irrevocable transaction cannot be rolled back", what,
		             stm_describe_block(&tx->open[0], where, sizeof(where)));
}

void lucid_abort(void)
{
	struct stm_tx *tx = in_tx("lucid_abort");

	STM_NOTE_CALLER(tx);
	refuse_if_irrevocable(tx, "lucid_abort", "decide whether to abort before calling "
	                      "lucid_irrevocable()");
	stm_abort(tx, LUCID_ABORT_EXPLICIT, 2);
}

void lucid_retry(void)
{
	struct stm_tx *tx = in_tx("lucid_retry");
	char where[512];

	STM_NOTE_CALLER(tx);
	refuse_if_irrevocable(tx, "lucid_retry", "wait for the condition (lucid_retry()) before "
	                      "calling lucid_irrevocable()");
	if (tx->fast.r_top == tx->r_base && !(tx->token && tx->fast.w_top > tx->w_base))
		lucid_misuse("read the shared data the transaction waits on (with lucid_read) before "
		             "calling lucid_retry()",
		             "lucid_retry() in a transaction that has read nothing would wait forever "
		             "(the transaction of %s)",
		             stm_describe_block(&tx->open[0], where, sizeof(where)));
	stm_retry(tx);
}

void lucid_irrevocable(void)
{
	struct stm_tx *tx = in_tx("lucid_irrevocable");

	STM_NOTE_CALLER(tx);
	stm_irrevocable(tx);
}

int lucid_in_transaction(void)
{
	struct stm_tx *tx = stm_self_if_any();

	return tx && tx->nesting > 0;
}

int lucid_is_irrevocable(void)
{
	struct stm_tx *tx = stm_self_if_any();

	return tx && tx->nesting > 0 && tx->irrevocable;
}
