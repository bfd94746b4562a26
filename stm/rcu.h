/* stm: how the engine includes liburcu (membarrier flavour). */
#ifndef LUCID_STM_RCU_H
#define LUCID_STM_RCU_H

#include <lucid/static/tx-inline.h>

/*
 * The read-side fast paths are inlined from liburcu's headers, except under
 * ThreadSanitizer: inlined, their plain shared accesses (correct, ordered by
 * membarrier) would be instrumented and reported; called in the
 * uninstrumented library they are invisible to it. All of Lucid's own
 * shared accesses are atomic either way.
 */
#ifndef LUCID_TSAN_
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

#endif /* LUCID_STM_RCU_H */
