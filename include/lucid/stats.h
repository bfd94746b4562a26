/* Lucid: abort reasons and the per-process transaction statistics. */
#ifndef LUCID_STATS_H
#define LUCID_STATS_H

#include <stdint.h>
#include <lucid/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Why an attempt was rolled back. Every abort is counted under exactly one
 * reason. The first group are conflicts between two transactions (another
 * transaction locked or committed a word this one touched); the rest are not.
 * The short name in quotes is what lucid_abort_reason_name() returns and what
 * reports and breakpoint specifications use.
 */
enum lucid_abort_reason {
	/** "rw": a read found the word locked by another transaction's write. */
	LUCID_ABORT_READ_LOCKED = 0,
	/** "ww": a write found the word locked by another transaction's write. */
	LUCID_ABORT_WRITE_LOCKED = 1,
	/** "read-invalid": a word read earlier was changed by another
	 *  transaction's commit; found when a later read extended the snapshot. */
	LUCID_ABORT_READ_INVALID = 2,
	/** "write-invalid": the same, found when a write extended the snapshot. */
	LUCID_ABORT_WRITE_INVALID = 3,
	/** "commit-invalid": the same, found when validating at commit. */
	LUCID_ABORT_COMMIT_INVALID = 4,
	/** "abort": the program called lucid_abort(). */
	LUCID_ABORT_EXPLICIT = 5,
	/** "retry": the program called lucid_retry(). */
	LUCID_ABORT_RETRY = 6,
	/** "capacity": reserved. Not produced by this version: write logs
	 *  grow in place without aborting. */
	LUCID_ABORT_CAPACITY = 7,
	/** "irrevocable": lucid_irrevocable() restarted the transaction to run
	 *  it irrevocably. */
	LUCID_ABORT_IRREVOCABLE = 8,
	/** Number of reasons defined so far. */
	LUCID_ABORT_REASONS = 9
};

/** Size of lucid_stats::aborts_by_reason: room for reasons added later. */
#define LUCID_ABORT_REASONS_MAX 16

/** Short name of a reason ("rw", "ww", ...); "unknown" when out of range. */
LUCID_API const char *lucid_abort_reason_name(int reason);

/** One-line description of a reason, for reports. */
LUCID_API const char *lucid_abort_reason_describe(int reason);

/** Whether the reason is a conflict between two transactions. */
LUCID_API int lucid_abort_reason_is_conflict(int reason);

/** Per-process totals over all threads, exited threads included. */
struct lucid_stats {
	uint64_t commits;      /**< transactions committed (outermost blocks) */
	uint64_t commits_ro;   /**< of which read-only (no write) */
	uint64_t aborts;       /**< attempts rolled back, all reasons */
	uint64_t max_retries;  /**< most consecutive aborts of one transaction */
	uint64_t serial;       /**< transactions run in serial irrevocable mode
	                            by the contention manager */
	uint64_t extensions;   /**< snapshots extended without aborting */
	uint64_t threads;      /**< threads that ran transactions, live or exited */
	uint64_t irrevocable;  /**< transactions made irrevocable by lucid_irrevocable() */
	uint64_t retry_waits;  /**< times lucid_retry() put a thread to sleep */
	uint64_t reserved[7];  /**< zero; room to grow without breaking the ABI */
	/** aborts counted by enum lucid_abort_reason; sums to @c aborts. */
	uint64_t aborts_by_reason[LUCID_ABORT_REASONS_MAX];
};

/**
 * Fills @p out with the totals so far. Returns 0, or -LUCID_EINVAL when
 * @p out is NULL. May be called from any thread, inside or outside a
 * transaction; the figures of other threads still running are read without
 * stopping them, so each counter is exact but the set may be a moment apart.
 */
LUCID_API int lucid_stats_get(struct lucid_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LUCID_STATS_H */
