/* stm: thread descriptors: registration on first use, cleanup at exit, statistics. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conflict/recorder.h"
#include "stm/rcu.h"
#include "stm/stm-internal.h"

struct stm_config stm_config = {
	.orec_bits = LUCID_DEFAULT_OREC_BITS,
	.serial_after = LUCID_DEFAULT_SERIAL_AFTER,
	.r_init = 4096,
	.w_init = 1024,
};

/* Threads that have not run a transaction share this empty descriptor: its
 * read set has no room, so every inline read goes to the checked path. */
struct lucid_txfast_ stm_none;
__thread struct lucid_txfast_ *lucid_tls_tx_ __attribute__((tls_model("initial-exec"))) = &stm_none;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

bool stm_has_membarrier;

/* membarrier(2)'s commands, from the kernel's ABI (values that never
 * change; older <linux/membarrier.h> lack them, and they are enum
 * constants that the preprocessor cannot test). */
#define MB_CMD_QUERY 0
#define MB_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MB_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)

/* Registers the process for membarrier(2)'s private expedited command, the
 * one that interrupts only the CPUs running its threads (Linux 4.14). */
static void membarrier_init(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
	long cmds = syscall(SYS_membarrier, MB_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MB_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MB_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		__atomic_store_n(&stm_has_membarrier, true, __ATOMIC_RELAXED);
#endif
	/* Before any attempt starts (they all come after stm_init). */
	if (!__atomic_load_n(&stm_has_membarrier, __ATOMIC_RELAXED))
		__atomic_fetch_or(&stm_gate.on, STM_GATE_FENCE, __ATOMIC_RELAXED);
}

bool stm_membarrier(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
	if (!__atomic_load_n(&stm_has_membarrier, __ATOMIC_RELAXED))
		return false;
	if (syscall(SYS_membarrier, MB_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return true;
	/* Stopped working (a sandbox's filter added later?): attempts that
	 * began without a fence, relying on it, may be running, and no grace
	 * period can see them safely (liburcu-bp stops the same way). */
	lucid_fatal("membarrier(2) failed after it had worked (%s): grace periods can no longer "
	            "see running transactions", strerror(errno));
#else
	return false;
#endif
}

/* Registry of live descriptors and the totals of exited threads. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct stm_tx *registry;
static struct stm_counters exited;
static uint64_t exited_threads;
uint64_t stm_exits;

/* ------------------------------------------------ grace periods for attempts */

#ifdef LUCID_TSAN_
unsigned stm_fence_word;
#endif

/* How many grace periods have begun, and the number of the newest one that
 * has ended (stm_sync_after). */
static uint64_t sync_started, sync_ended;

struct sync_wait {
	struct stm_tx *tx;
	unsigned seq;   /* its odd in_cs when the grace period looked */
};

/* One turn of a wait for another thread: spin a while, then yield. */
static void sync_pause(unsigned spins)
{
	if (spins < 64)
		caa_cpu_relax();
	else
		sched_yield();
}

/* Waits until @p tx's attempt @p seq has ended (in_cs changes when it
 * leaves, and again when the next attempt begins). */
static void sync_wait_one(const struct stm_tx *tx, unsigned seq)
{
	for (unsigned spins = 0; __atomic_load_n(&tx->in_cs, __ATOMIC_ACQUIRE) == seq; spins++)
		sync_pause(spins);
}

/*
 * The barrier (membarrier() interrupts every running thread of the
 * process; where it does not work, attempts fence after their mark and so
 * do we) makes each attempt that began before it show its odd in_cs here,
 * and each one that begins after it see what the caller did before. The
 * registry lock is held only while the attempts are noted: an attempt may
 * take it (lucid_stats_get), so it is never held while waiting for them. A
 * noted descriptor counts this grace period in its sync_refs, so that a
 * thread that exits meanwhile frees it only once we are done with it.
 */
void stm_attempts_synchronize(void)
{
	struct stm_tx *self = stm_self_if_any();
	uint64_t number = __atomic_add_fetch(&sync_started, 1, __ATOMIC_SEQ_CST);
	struct sync_wait *wait = NULL;
	size_t n = 0, threads = 0;

	if (self && (self->in_cs & 1))
		lucid_fatal("internal error: a grace period waited for inside an attempt");
	if (!stm_membarrier())
		STM_FULL_FENCE();
	/* The room for the notes is allocated outside the lock, for as many
	 * threads as were registered (again if more have registered since). */
	for (;;) {
		pthread_mutex_lock(&registry_mutex);
		size_t now = 0;

		for (struct stm_tx *tx = registry; tx; tx = tx->next)
			now++;
		if (wait && now <= threads)
			break;
		pthread_mutex_unlock(&registry_mutex);
		free(wait);
		threads = now;
		wait = malloc((threads + 1) * sizeof(*wait));
		if (!wait)
			lucid_fatal("out of memory for a grace period over %zu threads", threads);
	}
	for (struct stm_tx *tx = registry; tx; tx = tx->next) {
		unsigned seq = __atomic_load_n(&tx->in_cs, __ATOMIC_ACQUIRE);

		if (tx == self || !(seq & 1))
			continue;
		__atomic_add_fetch(&tx->sync_refs, 1, __ATOMIC_RELAXED);
		wait[n++] = (struct sync_wait){ .tx = tx, .seq = seq };
	}
	pthread_mutex_unlock(&registry_mutex);
	for (size_t i = 0; i < n; i++) {
		sync_wait_one(wait[i].tx, wait[i].seq);
		__atomic_sub_fetch(&wait[i].tx->sync_refs, 1, __ATOMIC_RELEASE);
	}
	free(wait);
	/* Ended: the newest number wins (grace periods may end out of order). */
	uint64_t ended = __atomic_load_n(&sync_ended, __ATOMIC_RELAXED);

	while (ended < number && !__atomic_compare_exchange_n(&sync_ended, &ended, number, true,
	                                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	STM_RCU_TSAN_ACQUIRE();
}

/* The fence orders what the caller did to the memory (the commit that
 * unlinked it) before the load: a grace period whose number is above the
 * ticket began after it, and so covers the memory. */
uint64_t stm_sync_ticket(void)
{
	STM_FULL_FENCE();
	return __atomic_load_n(&sync_started, __ATOMIC_RELAXED);
}

void stm_sync_after(uint64_t ticket)
{
	if (__atomic_load_n(&sync_ended, __ATOMIC_ACQUIRE) <= ticket)
		stm_attempts_synchronize();
	STM_RCU_TSAN_ACQUIRE();
}

static unsigned env_unsigned(const char *name, unsigned def, unsigned lo, unsigned hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		lucid_misuse("unset it or give a whole number in range",
		             "%s=\"%s\" is not a number from %u to %u", name, s, lo, hi);
	return (unsigned)v;
}

static void thread_exit(void *arg);
static void process_exit(void);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void stm_init_once(void)
{
	size_t n, bytes;
	void *p;

	stm_config.orec_bits = env_unsigned("LUCID_OREC_BITS", stm_config.orec_bits, 10, 28);
	stm_config.serial_after = env_unsigned("LUCID_SERIAL_AFTER", stm_config.serial_after, 1, 99);
	n = (size_t)1 << stm_config.orec_bits;
	bytes = n * sizeof(uintptr_t);
	/* Anonymous memory is zero (version 0, unlocked) and costs nothing
	 * until touched. */
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		lucid_fatal("cannot map the ownership-record table (%zu MiB): %s",
		            bytes >> 20, strerror(errno));
	stm_orecs = p;
	stm_orec_mask = n - 1;
	if (pthread_key_create(&exit_key, thread_exit) != 0)
		lucid_fatal("pthread_key_create failed");
	membarrier_init();
	atexit(process_exit);
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		lucid_fatal("pthread_atfork failed");
	rec_init();
}

void stm_init(void)
{
	pthread_once(&init_once, stm_init_once);
}

static void *xcalloc_aligned(size_t align, size_t size)
{
	size = (size + align - 1) / align * align;
	void *p = aligned_alloc(align, size);

	if (!p)
		return NULL;
	memset(p, 0, size);
	return p;
}

/* Allocates the write log at registration; it grows in place (stm_wlog_grow). */
void stm_logs_reserve(struct stm_tx *tx)
{
	size_t wcap = stm_config.w_init;
	struct lucid_wentry_ *w = xcalloc_aligned(STM_CACHELINE, wcap * sizeof(*w));

	if (!w)
		lucid_fatal("out of memory allocating a write log of %zu entries (%zu MiB)",
		            wcap, wcap * sizeof(*w) >> 20);
	for (size_t i = 0; i < wcap; i++)
		w[i].owner = &tx->fast;
	tx->w_base = tx->fast.w_top = tx->fast.w_end = w;
	tx->w_cap = wcap;
	tx->w_lim = w + wcap;
}

static uint64_t gettid_u64(void)
{
	return (uint64_t)syscall(SYS_gettid);
}

struct stm_tx *stm_register(void)
{
	struct stm_tx *tx;

	stm_init();
	tx = xcalloc_aligned(STM_ISOLATE, sizeof(*tx));
	if (!tx)
		lucid_fatal("out of memory allocating a transaction descriptor");
	tx->r_cap = stm_config.r_init;
	tx->r_base = malloc(tx->r_cap * sizeof(*tx->r_base));
	if (!tx->r_base)
		lucid_fatal("out of memory allocating a read set");
	tx->r_lim = tx->r_base + tx->r_cap;
	stm_logs_reserve(tx);
	tx->fast.orecs = stm_orecs;
	tx->fast.orec_mask = stm_orec_mask;
	tx->fast.r_top = tx->fast.r_end = tx->r_base;
	tx->recf = &tx->recfast[0];
	tx->thread_id = gettid_u64();
	tx->rng = (tx->thread_id * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)time(NULL) ^ (uintptr_t)tx;
	if (!tx->rng)
		tx->rng = 1;

	urcu_bp_register_thread();
	pthread_setspecific(exit_key, tx);
	pthread_mutex_lock(&registry_mutex);
	tx->next = registry;
	if (registry)
		registry->prev = tx;
	registry = tx;
	pthread_mutex_unlock(&registry_mutex);
	lucid_tls_tx_ = &tx->fast;
	return tx;
}

static void counters_add(struct stm_counters *to, const struct stm_counters *from)
{
	to->commits_rw += __atomic_load_n(&from->commits_rw, __ATOMIC_RELAXED);
	to->commits_ro += __atomic_load_n(&from->commits_ro, __ATOMIC_RELAXED);
	to->aborts += __atomic_load_n(&from->aborts, __ATOMIC_RELAXED);
	to->serial += __atomic_load_n(&from->serial, __ATOMIC_RELAXED);
	to->irrevocable += __atomic_load_n(&from->irrevocable, __ATOMIC_RELAXED);
	to->extensions += __atomic_load_n(&from->extensions, __ATOMIC_RELAXED);
	to->retry_waits += __atomic_load_n(&from->retry_waits, __ATOMIC_RELAXED);
	for (int i = 0; i < LUCID_ABORT_REASONS_MAX; i++)
		to->by_reason[i] += __atomic_load_n(&from->by_reason[i], __ATOMIC_RELAXED);
	uint64_t m = __atomic_load_n(&from->max_retries, __ATOMIC_RELAXED);
	if (m > to->max_retries)
		to->max_retries = m;
}

/* After a grace period (thread exit) or in a fork child: nothing reads the
 * blocks the thread freed. */
static void descriptor_free(struct stm_tx *tx)
{
	tx_memory_release(tx);
	rec_thread_free(tx);
	free(tx->w_base);
	free(tx->r_base);
	free(tx->wait_set);
	free(tx->allocs.v);
	free(tx->frees.v);
	free(tx->on_commit.v);
	free(tx->on_abort.v);
	free(tx);
}

static void check_not_in_tx(const struct stm_tx *tx, const char *who, const char *how)
{
	char what[512];

	/* A thread cancelled at a cancellation point inside a transaction
	 * (pthread_cancel) ends here too: its locks cannot be given back from
	 * the middle of the block, so it is refused like any other exit. */
	if (tx->nesting > 0)
		lucid_misuse("let every LUCID_ATOMIC block reach its end (use lucid_run() to return "
		             "early); do not call pthread_exit() or exit() inside one, nor cancel a "
		             "thread there (disable cancellation with pthread_setcancelstate() around "
		             "transactions that reach a cancellation point, such as I/O)",
		             "%s inside the transaction of %s%s", who,
		             stm_describe_block(&tx->open[0], what, sizeof(what)), how);
}

/* exit() does not run the main thread's TLS destructors: check it here. */
static void process_exit(void)
{
	struct stm_tx *tx = stm_self_if_any();

	if (tx)
		check_not_in_tx(tx, "the program exited", "");
}

static void thread_exit(void *arg)
{
	struct stm_tx *tx = arg;

	check_not_in_tx(tx, "a thread exited", " (it returned, called pthread_exit() or was cancelled)");
	rec_thread_exit(tx);
	pthread_mutex_lock(&registry_mutex);
	counters_add(&exited, &tx->stats);
	exited_threads++;
	if (tx->prev)
		tx->prev->next = tx->next;
	else
		registry = tx->next;
	if (tx->next)
		tx->next->prev = tx->prev;
	/* Before the grace period that lets the descriptor go (tx/memory.c). */
	__atomic_add_fetch(&stm_exits, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&registry_mutex);

	lucid_tls_tx_ = &stm_none;
	/* Attempts may still hold pointers into our write log; grace periods
	 * that noted our last attempt may still look at our in_cs (sync_refs),
	 * and tx/memory.c's do so in liburcu read-side sections (gp_over).
	 * liburcu-bp unregisters the thread by itself when it exits. */
	stm_attempts_synchronize();
	for (unsigned spins = 0; __atomic_load_n(&tx->sync_refs, __ATOMIC_ACQUIRE); spins++)
		sync_pause(spins);
	urcu_bp_synchronize_rcu();
	STM_RCU_TSAN_ACQUIRE();
	descriptor_free(tx);
}

/*
 * fork(): the child has only the forking thread, so at that moment no other
 * thread may be inside a transaction (its locks would stay locked in the
 * child forever) or hold the engine's locks. The prepare handler blocks new
 * transactions, waits for a grace period (every running one ends) and for
 * threads caught between entering their critical section and seeing the
 * block, then lets liburcu prepare (its call_rcu worker, its own locks; in
 * the child it forgets the readers that did not survive).
 */
static void fork_prepare(void)
{
	struct stm_tx *self = stm_self_if_any();

	if (self && self->nesting > 0) {
		char what[512];

		lucid_misuse("call fork() outside transactions (after the block ends, or from a "
		             "lucid_on_commit() handler)",
		             "fork() called inside the transaction of %s",
		             stm_describe_block(&self->open[0], what, sizeof(what)));
	}
	rec_fork_prepare();
	stm_fork_block();
	stm_attempts_synchronize();
	/* Before the registry lock: the worker's callbacks wait for grace
	 * periods, which take it. */
	urcu_bp_call_rcu_before_fork();
	pthread_mutex_lock(&registry_mutex);
	for (struct stm_tx *tx = registry; tx; tx = tx->next)
		while (__atomic_load_n(&tx->in_cs, __ATOMIC_ACQUIRE) & 1)
			sched_yield();
	urcu_bp_before_fork();
}

static void fork_release(void)
{
	pthread_mutex_unlock(&registry_mutex);
	stm_fork_unblock();
}

static void fork_parent(void)
{
	urcu_bp_after_fork_parent();
	urcu_bp_call_rcu_after_fork_parent();
	fork_release();
	rec_fork_parent();
}

/* The child is a new process: its statistics (and its recording) count only
 * its own transactions; the other threads' descriptors are gone with them. */
static void fork_child(void)
{
	struct stm_tx *self = stm_self_if_any();

	urcu_bp_after_fork_child();
	urcu_bp_call_rcu_after_fork_child();
	memset(&exited, 0, sizeof(exited));
	exited_threads = 0;
	if (self) {
		memset(&self->stats, 0, sizeof(self->stats));
		/* Grace periods of threads that did not survive noted us. */
		__atomic_store_n(&self->sync_refs, 0, __ATOMIC_RELAXED);
		/* The child's thread has an id of its own (its records name it). */
		self->thread_id = gettid_u64();
	}
	for (struct stm_tx *tx = registry, *next; tx; tx = next) {
		next = tx->next;
		if (tx == self)
			continue;
		if (tx->prev)
			tx->prev->next = tx->next;
		else
			registry = tx->next;
		if (tx->next)
			tx->next->prev = tx->prev;
		descriptor_free(tx);
		__atomic_add_fetch(&stm_exits, 1, __ATOMIC_RELEASE);
	}
	if (self)
		tx_memory_after_fork(self);
	stm_retry_reset_after_fork();
	fork_release();
	rec_fork_child();
}

void stm_stats_collect(struct lucid_stats *out)
{
	struct stm_counters sum;
	uint64_t threads;

	pthread_mutex_lock(&registry_mutex);
	sum = exited;
	threads = exited_threads;
	for (struct stm_tx *tx = registry; tx; tx = tx->next) {
		counters_add(&sum, &tx->stats);
		threads++;
	}
	pthread_mutex_unlock(&registry_mutex);

	memset(out, 0, sizeof(*out));
	out->commits = sum.commits_rw + sum.commits_ro;
	out->commits_ro = sum.commits_ro;
	out->aborts = sum.aborts;
	out->max_retries = sum.max_retries;
	out->serial = sum.serial;
	out->irrevocable = sum.irrevocable;
	out->extensions = sum.extensions;
	out->retry_waits = sum.retry_waits;
	out->threads = threads;
	memcpy(out->aborts_by_reason, sum.by_reason, sizeof(out->aborts_by_reason));
}

void stm_for_each_thread(void (*fn)(struct stm_tx *tx, void *arg), void *arg)
{
	pthread_mutex_lock(&registry_mutex);
	for (struct stm_tx *tx = registry; tx; tx = tx->next)
		fn(tx, arg);
	pthread_mutex_unlock(&registry_mutex);
}
