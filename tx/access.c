/* tx: the out-of-line halves of lucid_read and lucid_write. */
#include "config.h"

#include <lucid/tx.h>
#include "stm/stm-internal.h"

static struct stm_tx *in_tx(const char *what)
{
	struct stm_tx *tx = stm_self_if_any();

	if (stm_unlikely(!tx || tx->nesting == 0))
		lucid_misuse("access shared data with lucid_read/lucid_write only inside LUCID_ATOMIC "
		             "or a function run by lucid_run()", "%s outside a transaction", what);
	return tx;
}

/* Whether [addr, addr+size) is naturally aligned (so inside one word). */
static inline bool aligned(uintptr_t addr, unsigned size)
{
	return (addr & (size - 1)) == 0;
}

/* Packed or misaligned: byte by byte, each byte under its word's orec. */
static __attribute__((noinline)) uint64_t load_misaligned(struct stm_tx *tx, uintptr_t a,
                                                          unsigned size)
{
	uint8_t bytes[8];
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		bytes[i] = (uint8_t)stm_read(tx, a + i, 1);
	__builtin_memcpy(&v, bytes, size);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v >>= (8 - size) * 8;
#endif
	return v;
}

static uint64_t load_at(struct stm_tx *tx, uintptr_t a, unsigned size)
{
	if (stm_likely(aligned(a, size)))
		return stm_read(tx, a, size);
	return load_misaligned(tx, a, size);
}

static void store_at(struct stm_tx *tx, uintptr_t a, uint64_t value, unsigned size)
{
	if (stm_likely(aligned(a, size))) {
		stm_write(tx, a, size, value);
		return;
	}
	uint8_t bytes[8];

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	value <<= (8 - size) * 8;
#endif
	__builtin_memcpy(bytes, &value, size);
	for (unsigned i = 0; i < size; i++)
		stm_write(tx, a + i, 1, bytes[i]);
}

/* The stack id of the access at @p site made from @p ra with the stack at
 * @p sp: the recent answer, else the memo's or a new capture. */
static uint32_t place_id(struct lucid_recfast_ *rec, const void *site, uintptr_t sp,
                         const void *ra)
{
	uint32_t id = lucid_rec_id_(rec, site, ra, sp);

	return id ? id : lucid_rec_site_(site, sp, ra);
}

/*
 * The out-of-line halves of lucid_read and lucid_write, reached from the
 * per-file helpers (lucid_load_other_, lucid_store_other_) with the
 * access's site constant, its stack position and the user's return address
 * (the helper's own frame is not the user's): its place is (return
 * address, stack position). While recording, an access
 * at a place not seen lately has its stack captured (lucid_rec_site_ keeps
 * it among the recent places), then is made as inline; everything else
 * (locks, newer versions, misaligned words, full logs, irrevocability, an
 * access outside a transaction) takes the general path.
 */
uint64_t lucid_load_rec_(const void *addr, unsigned size, const void *site, uintptr_t sp,
                         const void *ra)
{
	struct stm_tx *tx = in_tx("lucid_read");
	struct lucid_recfast_ *rec = tx->fast.rec;
	uint64_t v;

	STM_NOTE_CALLER(tx);
	tx->rec_ra = (void *)ra;
	/* Only an attempt that notes its reads' stacks asks where this one
	 * was made (see rec_attempt_start); its block context is made at its
	 * start. */
	if (rec && tx->rec_reads) {
		uint32_t id = place_id(rec, site, sp, ra);

		if (id && lucid_load_try_(&tx->fast, (uintptr_t)addr, size, rec, id, rec->r_limit, &v, 0))
			return v;
	}
	return load_at(tx, (uintptr_t)addr, size);
}

void lucid_store_rec_(void *addr, uint64_t value, unsigned size, const void *site, uintptr_t sp,
                      const void *ra)
{
	struct stm_tx *tx = in_tx("lucid_write");

	stm_rec_ready(tx);
	struct lucid_recfast_ *rec = tx->fast.rec;

	STM_NOTE_CALLER(tx);
	tx->rec_ra = (void *)ra;
	if (rec) {
		uint32_t id = place_id(rec, site, sp, ra);

		if (id && lucid_store_try_(&tx->fast, (uintptr_t)addr, value, size, rec, id,
		                           rec->w_limit))
			return;
	}
	store_at(tx, (uintptr_t)addr, value, size);
}
