/* tx: abort-reason names and descriptions; no engine state, so the LUCID_BREAK parser can be linked without the engine. */
#include "config.h"

#include <lucid/common.h>
#include <lucid/stats.h>

static const struct {
	const char *name;
	const char *describe;
	int conflict;
} reasons[LUCID_ABORT_REASONS] = {
	[LUCID_ABORT_READ_LOCKED] = { "rw", "read a word locked by another transaction's write", 1 },
	[LUCID_ABORT_WRITE_LOCKED] = { "ww", "wrote a word locked by another transaction's write", 1 },
	[LUCID_ABORT_READ_INVALID] = { "read-invalid",
		"a word read earlier was changed by a commit (found at a later read)", 1 },
	[LUCID_ABORT_WRITE_INVALID] = { "write-invalid",
		"a word read earlier was changed by a commit (found at a write)", 1 },
	[LUCID_ABORT_COMMIT_INVALID] = { "commit-invalid",
		"a word read earlier was changed by a commit (found at commit)", 1 },
	[LUCID_ABORT_EXPLICIT] = { "abort", "the program called lucid_abort()", 0 },
	[LUCID_ABORT_RETRY] = { "retry", "the program called lucid_retry()", 0 },
	[LUCID_ABORT_CAPACITY] = { "capacity", "reserved (write logs grow without aborting)", 0 },
	[LUCID_ABORT_IRREVOCABLE] = { "irrevocable", "restarted to become irrevocable", 0 },
};

const char *lucid_abort_reason_name(int reason)
{
	return reason >= 0 && reason < LUCID_ABORT_REASONS ? reasons[reason].name : "unknown";
}

const char *lucid_abort_reason_describe(int reason)
{
	return reason >= 0 && reason < LUCID_ABORT_REASONS ? reasons[reason].describe
	                                                     : "unknown abort reason";
}

int lucid_abort_reason_is_conflict(int reason)
{
	return reason >= 0 && reason < LUCID_ABORT_REASONS && reasons[reason].conflict;
}
