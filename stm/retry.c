/* stm: blocking retry: sleep on a futex until a commit changes something read. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stm/stm-internal.h"

/*
 * Waiting threads sleep on one 32-bit generation word. An update commit
 * that finds waiters (one shared load, right after its clock increment)
 * bumps the generation after releasing its orecs and wakes them all; each
 * then checks whether an orec of its saved read set changed and either
 * re-runs its transaction or sleeps again. A thread that waits uses no CPU
 * while nothing commits.
 */
struct stm_retry_line stm_retry_state __attribute__((aligned(STM_ISOLATE)));

void stm_retry_wake(void)
{
	__atomic_add_fetch(&stm_retry_state.generation, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &stm_retry_state.generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void stm_retry_reset_after_fork(void)
{
	__atomic_store_n(&stm_retry_state.waiters, 0, __ATOMIC_RELAXED);
}

/* Whether any saved read has changed: its orec no longer holds the version
 * seen (a newer one, or a lock that may be about to install one). */
static bool read_set_changed(const struct stm_tx *tx)
{
	for (size_t i = 0; i < tx->wait_n; i++)
		if (__atomic_load_n(&tx->fast.orecs[tx->wait_set[i].orec], __ATOMIC_SEQ_CST) !=
		    tx->wait_set[i].seen)
			return true;
	return false;
}

/*
 * Sleeps until the saved read set changes. The waiter count is raised before
 * the first check, both sequentially consistent, so that a commit that does
 * not see us has locked its orecs before our check reads them.
 */
void stm_retry_wait(struct stm_tx *tx)
{
	__atomic_add_fetch(&stm_retry_state.waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		unsigned gen = __atomic_load_n(&stm_retry_state.generation, __ATOMIC_SEQ_CST);

		if (read_set_changed(tx))
			break;
		stm_stat_add(&tx->stats.retry_waits, 1);
		if (syscall(SYS_futex, &stm_retry_state.generation, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0) != 0 &&
		    errno != EAGAIN && errno != EINTR)
			lucid_fatal("futex wait failed in lucid_retry()");
	}
	__atomic_sub_fetch(&stm_retry_state.waiters, 1, __ATOMIC_SEQ_CST);
}
