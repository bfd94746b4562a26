/* stm: the ownership-record (orec) word encoding, in one place. */
#ifndef LUCID_STM_OREC_H
#define LUCID_STM_OREC_H

#include <stdbool.h>
#include <stdint.h>
#include <lucid/static/tx-inline.h>

struct lucid_wentry_;

/*
 * An orec is one uintptr_t.
 *   bit 63 clear: unlocked; the value is the version, i.e. the commit time
 *                 of the last transaction that wrote a word mapped to it
 *                 (0 if none has).
 *   bit 63 set:   locked by a writer; bits 62..0 are the address of the
 *                 owner's first write-log entry for this orec (entries are
 *                 8-aligned, user-space addresses are below 2^63), which
 *                 leads to the buffered values (read-after-write) and to
 *                 the owner's thread and stack (the conflict recorder).
 * Versions come from the global clock and only grow, except that an
 * aborting writer puts back the version it found (its writes never reached
 * memory, so readers of that version stay valid).
 */
#define STM_OREC_LOCKED LUCID_OREC_LOCKED_

static inline bool stm_orec_is_locked(uintptr_t o)
{
	return (o & STM_OREC_LOCKED) != 0;
}

static inline uintptr_t stm_orec_locked_by(const struct lucid_wentry_ *w)
{
	return (uintptr_t)w | STM_OREC_LOCKED;
}

static inline struct lucid_wentry_ *stm_orec_owner(uintptr_t o)
{
	return (struct lucid_wentry_ *)(o & ~STM_OREC_LOCKED);
}

static inline uintptr_t stm_orec_index(uintptr_t addr, uintptr_t mask)
{
	return (addr >> LUCID_WORD_SHIFT_) & mask;
}

#endif /* LUCID_STM_OREC_H */
