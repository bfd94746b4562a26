/* stm: contention management: randomized exponential back-off and serial mode. */
#include "config.h"

#include <pthread.h>
#include <sched.h>

#include "stm/rcu.h"
#include "stm/stm-internal.h"

/* xorshift64*: cheap, per thread, good enough to decorrelate retries. */
uint64_t stm_random(struct stm_tx *tx)
{
	uint64_t x = tx->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tx->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Upper bound of the pause loop after @p retries consecutive aborts:
 * doubles from 32 pauses and stops doubling at 32768. */
unsigned stm_backoff_limit(unsigned retries)
{
	unsigned e = retries < 10 ? retries : 10;

	return 32u << e;
}

/*
 * Waits a random time that grows with the number of consecutive aborts, so
 * that two transactions that keep colliding drift apart. After a few
 * retries it also yields the CPU: on an oversubscribed machine the
 * transaction we collide with may not be running at all.
 */
void stm_backoff(struct stm_tx *tx)
{
	unsigned n = (unsigned)(stm_random(tx) % stm_backoff_limit(tx->retries));

	for (unsigned i = 0; i < n; i++)
		cpu_relax();
	if (tx->retries >= 4)
		sched_yield();
}

/*
 * Serial irrevocable mode. A transaction enters it by setting the flag and
 * waiting for a grace period (stm_attempts_synchronize): every attempt
 * checks the flag after entering its critical section, so once the grace
 * period ends every attempt that started before has finished and every
 * later one sees the flag and waits. The serial transaction then runs
 * alone: nothing can conflict with it, so it commits unless it aborts itself.
 * The mutex admits one serial transaction at a time and is what the others
 * wait on.
 */
static pthread_mutex_t serial_mutex = PTHREAD_MUTEX_INITIALIZER;
struct stm_flag stm_gate __attribute__((aligned(STM_ISOLATE)));

void stm_serial_enter(struct stm_tx *tx)
{
	pthread_mutex_lock(&serial_mutex);
	__atomic_fetch_or(&stm_gate.on, STM_GATE_SERIAL, __ATOMIC_SEQ_CST);
	stm_attempts_synchronize();
	tx->serial = true;
	stm_stat_add(&tx->stats.serial, 1);
}

void stm_serial_exit(struct stm_tx *tx)
{
	tx->serial = false;
	__atomic_fetch_and(&stm_gate.on, ~STM_GATE_SERIAL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&serial_mutex);
}

void stm_serial_wait(void)
{
	pthread_mutex_lock(&serial_mutex);
	pthread_mutex_unlock(&serial_mutex);
}

/*
 * The irrevocability token: one irrevocable transaction at a time, while
 * the others keep running. Taken before an attempt starts (never while
 * holding orecs), so waiting for it cannot deadlock; the holder waits for
 * locks instead of aborting, and everyone else aborts on the holder's locks,
 * so the holder's waits end.
 */
static pthread_mutex_t token_mutex = PTHREAD_MUTEX_INITIALIZER;

void stm_token_acquire(struct stm_tx *tx)
{
	pthread_mutex_lock(&token_mutex);
	__atomic_store_n(&tx->token, true, __ATOMIC_RELAXED);   /* read by others */
}

void stm_token_release(struct stm_tx *tx)
{
	__atomic_store_n(&tx->token, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&token_mutex);
}

/* Waits until the current irrevocable transaction (if any) has finished. */
void stm_token_wait(void)
{
	pthread_mutex_lock(&token_mutex);
	pthread_mutex_unlock(&token_mutex);
}

/* An irrevocable transaction found a word locked by another: that owner
 * either commits or meets one of our locks and aborts, soon. */
void stm_wait_unlock(struct stm_tx *tx, unsigned spins)
{
	(void)tx;
	for (unsigned i = 0; i < 64 + spins; i++)
		cpu_relax();
	sched_yield();
}

/*
 * For fork() (see stm/thread.c): stop new transactions and irrevocable or
 * serial ones from starting, in the engine's lock order (token, then serial).
 */
void stm_fork_block(void)
{
	pthread_mutex_lock(&token_mutex);
	pthread_mutex_lock(&serial_mutex);
	__atomic_fetch_or(&stm_gate.on, STM_GATE_SERIAL, __ATOMIC_SEQ_CST);
}

void stm_fork_unblock(void)
{
	__atomic_fetch_and(&stm_gate.on, ~STM_GATE_SERIAL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&serial_mutex);
	pthread_mutex_unlock(&token_mutex);
}
