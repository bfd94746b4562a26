/* Lucid: recording aborts, the abort hook and the debugger's breakpoint function. */
#ifndef LUCID_CONFLICT_H
#define LUCID_CONFLICT_H

#include <stdint.h>
#include <lucid/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** lucid_conflict::flags */
#define LUCID_CONFLICT_OTHER_KNOWN 0x1u      /**< the other_* fields describe the other side */
#define LUCID_CONFLICT_FALSE 0x2u            /**< two different words that share an ownership
                                                  record: a false conflict */
#define LUCID_CONFLICT_OTHER_COMMITTED 0x4u  /**< the other side had already committed */
#define LUCID_CONFLICT_ALLOC_STACK 0x8u      /**< the word lies in a block from lucid_malloc,
                                                  and alloc_stack says where it was made */

/**
 * One aborted attempt, as the recorder saw it. For a conflict between two
 * transactions it holds both sides: where each one accessed the word, as a
 * stack of return addresses (innermost first, starting at the user's call
 * into Lucid), and which atomic block each one was running. Everything it
 * points to stays valid until the program exits.
 */
struct lucid_conflict {
	int reason;                   /**< enum lucid_abort_reason */
	unsigned flags;               /**< LUCID_CONFLICT_* */
	uint32_t attempt;             /**< 1 for the transaction's first attempt, ... */
	uint64_t wasted_ns;           /**< from the attempt's start to its abort */
	uint64_t time_ns;             /**< CLOCK_MONOTONIC at the abort */
	uintptr_t address;            /**< the aborted side's conflicting address, or 0 */
	uintptr_t other_address;      /**< the other side's word under the same ownership record */
	uint32_t orec;                /**< the ownership record's index */
	uint64_t other_commit;        /**< the other side's commit time, if it had committed */
	int tid;                      /**< kernel thread id of the aborted transaction */
	int other_tid;                /**< and of the other one */
	const char *file;             /**< the aborted transaction's outermost block */
	int line;                     /**< (line 0: a function run by lucid_run()) */
	const char *function;
	const char *other_file;       /**< the other transaction's outermost block */
	int other_line;
	const char *other_function;
	const uintptr_t *stack;       /**< the aborted side at its conflicting access */
	unsigned stack_depth;
	const uintptr_t *other_stack; /**< the other side at its conflicting access */
	unsigned other_depth;
	const uintptr_t *alloc_stack; /**< where the word's lucid_malloc block was made */
	unsigned alloc_depth;
};

/** lucid_record_start() flags */
#define LUCID_RECORD_REPLACE 0x1u     /**< replace @p path if it is a Lucid recording */

/**
 * Starts recording every abort of this process into @p path, as
 * `LUCID_RECORD=path` does at start-up (see docs/recording-format.md). The
 * file is created with mode 0600, never through a symbolic link, and an
 * existing file is replaced only with LUCID_RECORD_REPLACE and only if it is
 * a Lucid recording. Returns 0, -LUCID_EINVAL (NULL path), or
 * -LUCID_EBUSY (already recording), or -LUCID_EIO (the file could not be
 * created; a message says why). Call it outside transactions.
 */
LUCID_API int lucid_record_start(const char *path, unsigned flags);

/** Called in the aborting thread for every recorded abort. */
typedef void (*lucid_abort_hook)(const struct lucid_conflict *c, void *arg);

/**
 * Installs @p fn (NULL removes it): from then on every abort is captured
 * with both stacks, as when recording, and fn(c, arg) is called in the
 * aborting thread after the rollback, before the block runs again. The hook
 * must not start transactions. Returns nothing; may be called from any
 * thread outside transactions.
 */
LUCID_API void lucid_set_abort_hook(lucid_abort_hook fn, void *arg);

/**
 * Called on every captured abort, in the aborting thread, with the record:
 * while recording, an abort hook, LUCID_BREAK or lucid_debug_capture() is
 * on. Besides calling the hook it does nothing. It exists to be a
 * breakpoint: `break lucid_debug_abort` in gdb stops at each abort with
 * both sides in `*c` (see docs/debugging.md). Never inlined; when nothing
 * captures aborts it is never called and costs nothing.
 */
LUCID_API __attribute__((noinline)) void lucid_debug_abort(const struct lucid_conflict *c);

/**
 * Turns capture on (@p on nonzero) or off for a debugger: while on, every
 * abort is captured with both stacks and lucid_debug_abort() is called, as
 * with an abort hook, without recording anything. `LUCID_CAPTURE=1` does
 * the same at start-up; the gdb extension's `lucid break` calls it (or sets
 * that variable) so that its breakpoints see every abort. Turning it off
 * leaves capture on while recording, a hook or LUCID_BREAK still needs it.
 * Returns 0, or -LUCID_ENOMEM when the recorder's tables could not be
 * allocated. May be called from any thread, at any time; aborts of
 * attempts already running when it is turned on may be missed.
 */
LUCID_API int lucid_debug_capture(int on);

#ifdef __cplusplus
}
#endif

#endif /* LUCID_CONFLICT_H */
