/* tx: lucid_stats_get and error strings. */
#include "config.h"

#include <lucid/common.h>
#include <lucid/stats.h>
#include "stm/stm-internal.h"

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
