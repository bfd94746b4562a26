/* tx: lucid_stats_get, abort-reason names and error strings. */
#include "config.h"

#include <lucid/common.h>
#include <lucid/stats.h>
#include "stm/stm-internal.h"

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

int lucid_stats_get(struct lucid_stats *out)
{
	if (!out)
		return -LUCID_EINVAL;
	stm_stats_collect(out);
	return 0;
}

const char *lucid_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case LUCID_OK: return "success";
	case LUCID_EINVAL: return "invalid argument";
	case LUCID_ENOMEM: return "out of memory";
	case LUCID_EINTX: return "not allowed inside a transaction";
	case LUCID_ENOTX: return "only allowed inside a transaction";
	case LUCID_EBUSY: return "already running";
	case LUCID_EIO: return "input/output error";
	default: return "unknown error";
	}
}
