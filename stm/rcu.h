/* stm: how the engine includes liburcu (the "bulletproof" flavour, which survives fork). */
#ifndef LUCID_STM_RCU_H
#define LUCID_STM_RCU_H

#include <lucid/static/tx-inline.h>

/*
 * The read-side fast paths are inlined from liburcu's headers, except under
 * ThreadSanitizer: inlined, their plain shared accesses (correct, ordered by
 * membarrier) would be instrumented and reported; called in the
 * uninstrumented library they are invisible to it. All of Lucid's own
 * shared accesses are atomic either way. Likewise under
 * UndefinedBehaviorSanitizer: liburcu-bp 0.13 places its reader records,
 * declared 128-byte aligned, at 32-byte offsets in its registry arena, which
 * the inlined code would report as misaligned accesses (attempts took a
 * read lock each until attempts got grace periods of the engine's own; only
 * tx/memory.c's gp_over takes one now).
 */
#if !defined(LUCID_TSAN_) && !defined(LUCID_UBSAN)
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-bp.h>

/*
 * ThreadSanitizer does not see that a grace period (stm_attempts_synchronize,
 * which begins with membarrier) orders every earlier transaction attempt
 * before what follows it. Tell it: each attempt releases a sync object when
 * it ends, and grace periods acquire it.
 */
#ifdef LUCID_TSAN_
#include <sanitizer/tsan_interface.h>
extern char stm_rcu_tsan_sync;
#define STM_RCU_TSAN_RELEASE() __tsan_release(&stm_rcu_tsan_sync)
#define STM_RCU_TSAN_ACQUIRE() __tsan_acquire(&stm_rcu_tsan_sync)
#else
#define STM_RCU_TSAN_RELEASE() ((void)0)
#define STM_RCU_TSAN_ACQUIRE() ((void)0)
#endif

#endif /* LUCID_STM_RCU_H */
