/* samples: one source, five synchronization variants (Lucid, sequential, global mutex, GCC TM, TinySTM). */
#ifndef LUCID_SAMPLES_TM_H
#define LUCID_SAMPLES_TM_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * TM_ATOMIC { ... }   a transaction (or critical section)
 * TM_READ(lv)         read shared data inside it
 * TM_READ_SELECT(c, a, b)
 *                     read lvalue a if c holds, else lvalue b (both of one
 *                     type): Lucid reads the address chosen, once; the
 *                     others write `c ? a : b`, which the compiler turns into
 *                     a conditional move where it can. Two instrumented reads
 *                     behind a branch cannot become one: when c is random (a
 *                     tree walk picking a child) the branch mispredicts half
 *                     the time, which the uninstrumented code never pays
 * TM_WRITE(lv, v)     write shared data inside it
 * TM_MALLOC(n)        allocate inside it (released again if the attempt aborts)
 * TM_FREE(p)          free inside it (takes effect when it commits; no other
 *                     transaction reads the memory once it is reused: Lucid and
 *                     libitm wait until none can, TinySTM makes readers of the
 *                     freed words abort)
 * TM_FREE_SIZED(p, n) the same for a block of n bytes whose type does not say
 *                     its size (a flexible array member): TinySTM must know it
 * TM_SAFE             marks functions called inside a transaction: GCC TM
 *                     must know they can be instrumented
 * TM_PURE             marks a function called inside a transaction that must
 *                     run as is, uninstrumented (it reports an impossible state)
 * TM_RESULT           qualifies a local set inside a block and read after it:
 *                     volatile for Lucid and TinySTM (their blocks restart like
 *                     siglongjmp), nothing for GCC TM (which forbids volatile
 *                     there and restores such locals itself) and the others
 * TM_VARIANT          the variant's name, printed in results
 * TM_MAX_THREADS      how many threads the variant may run
 * TM_STARTUP(), TM_SHUTDOWN()
 *                     first and last in main (TinySTM's set-up, and the main
 *                     thread's, which fills the sets with transactions)
 * TM_THREAD_ENTER(), TM_THREAD_EXIT()
 *                     first and last in each worker thread
 *
 * Lucid is the default. Build with -DTM_SEQUENTIAL for uninstrumented code
 * that only one thread may run, -DTM_MUTEX for one global lock, or
 * -DTM_GNU (with -fgnu-tm) for GCC's __transaction_atomic over libitm, or
 * -DTM_TINYSTM for TinySTM (a build of it named to configure).
 * Data written inside a new node before it is published (linked in by a
 * TM_WRITE) may be initialized with plain stores, as in TinySTM's benchmarks.
 */
#if defined(TM_SEQUENTIAL)
#define TM_VARIANT "sequential"
#define TM_ATOMIC if (1)
#define TM_READ(lv) (lv)
#define TM_READ_SELECT(c, a, b) ((c) ? (a) : (b))
#define TM_WRITE(lv, v) ((lv) = (v))
#define TM_MALLOC(n) malloc(n)
#define TM_FREE(p) free(p)
#define TM_MAX_THREADS 1
#elif defined(TM_MUTEX)
extern pthread_mutex_t tm_global_lock;
#define TM_VARIANT "mutex"
#define TM_ATOMIC                                                              \
	for (int tm_once_ = (pthread_mutex_lock(&tm_global_lock), 1); tm_once_; \
	     tm_once_ = (pthread_mutex_unlock(&tm_global_lock), 0))
#define TM_READ(lv) (lv)
#define TM_READ_SELECT(c, a, b) ((c) ? (a) : (b))
#define TM_WRITE(lv, v) ((lv) = (v))
#define TM_MALLOC(n) malloc(n)
#define TM_FREE(p) free(p)
#define TM_DEFINE_GLOBALS pthread_mutex_t tm_global_lock = PTHREAD_MUTEX_INITIALIZER;
#elif defined(TM_GNU)
/* GCC instruments every access inside the block itself (-fgnu-tm); malloc
 * and free there are undone or deferred by libitm. */
#define TM_VARIANT "libitm"
#define TM_ATOMIC __transaction_atomic
#define TM_READ(lv) (lv)
#define TM_READ_SELECT(c, a, b) ((c) ? (a) : (b))
#define TM_WRITE(lv, v) ((lv) = (v))
#define TM_MALLOC(n) malloc(n)
#define TM_FREE(p) free(p)
#define TM_SAFE __attribute__((transaction_safe))
#define TM_PURE __attribute__((transaction_pure))
#elif defined(TM_TINYSTM)
/* TinySTM (configure --with-tinystm=DIR), issue 7's point of comparison:
 * word-based, write-back with encounter-time locking, its default contention
 * manager. Each shared field of these programs is one word (a long or a
 * pointer), which stm_load and stm_store take as they are. A transaction
 * restarts from sigsetjmp, called here where the standard allows it (as a
 * switch's whole controlling expression). */
#include <setjmp.h>
#include <stm.h>
#include <mod_mem.h>
#define TM_VARIANT "tinystm"
#define TM_ATOMIC                                                   \
	for (int tm_once_ = 1; tm_once_; tm_once_ = (stm_commit(), 0)) \
		switch (sigsetjmp(*tm_tinystm_start(), 0))             \
		default:
#define TM_READ(lv) ((__typeof__(lv))stm_load((volatile stm_word_t *)&(lv)))
#define TM_READ_SELECT(c, a, b) TM_READ(*((c) ? &(a) : &(b)))
#define TM_WRITE(lv, v) stm_store((volatile stm_word_t *)&(lv), (stm_word_t)(v))
#define TM_MALLOC(n) stm_malloc(n)
/* TinySTM takes the size freed: it locks those words at the commit, so that
 * a transaction that read the block and reads it again after it was freed
 * (and perhaps reused: TinySTM's default build frees at once) aborts. Every
 * word of the block must be named. */
#define TM_FREE(p) stm_free((p), sizeof(*(p)))
#define TM_FREE_SIZED(p, n) stm_free((p), (n))
#define TM_RESULT volatile
#define TM_THREAD_ENTER() stm_init_thread()
#define TM_THREAD_EXIT() tm_tinystm_thread_exit()
#define TM_STARTUP() (stm_init(), mod_mem_init(0), stm_init_thread())
#define TM_SHUTDOWN() (tm_tinystm_thread_exit(), stm_exit())

/* Statistics of the threads that have exited (TinySTM keeps them per thread). */
static uint64_t tm_tinystm_commits, tm_tinystm_aborts, tm_tinystm_max_retries;
static int tm_tinystm_counted;

static inline sigjmp_buf *tm_tinystm_start(void)
{
	sigjmp_buf *e = stm_start((stm_tx_attr_t){ 0 });

	if (!e) {   /* only a nested start returns none; these programs nest none */
		fputs("tinystm: stm_start returned no jump buffer\n", stderr);
		abort();
	}
	return e;
}

/* TinySTM counts commits, aborts and retries only when built with
 * -DTM_STATISTICS; otherwise stm_get_stats knows none of them (returns 0)
 * and the result line says "unknown". */
static inline void tm_tinystm_thread_exit(void)
{
	unsigned int commits, aborts, max_retries;

	if (stm_get_stats("nb_commits", &commits) && stm_get_stats("nb_aborts", &aborts) &&
	    stm_get_stats("max_retries", &max_retries)) {
		__atomic_store_n(&tm_tinystm_counted, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tm_tinystm_commits, commits, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tm_tinystm_aborts, aborts, __ATOMIC_RELAXED);
		uint64_t m = __atomic_load_n(&tm_tinystm_max_retries, __ATOMIC_RELAXED);
		while (max_retries > m &&
		       !__atomic_compare_exchange_n(&tm_tinystm_max_retries, &m, max_retries, 0,
		                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	stm_exit_thread();
}
#else
#include <lucid.h>
#define TM_LUCID 1
#define TM_VARIANT "lucid"
#define TM_ATOMIC LUCID_ATOMIC
#define TM_READ(lv) lucid_read(lv)
#define TM_READ_SELECT(c, a, b) lucid_read(*((c) ? &(a) : &(b)))
#define TM_WRITE(lv, v) lucid_write(lv, v)
#define TM_MALLOC(n) lucid_malloc(n)
#define TM_FREE(p) lucid_free(p)
#define TM_RESULT volatile
#endif

#ifndef TM_MAX_THREADS
#define TM_MAX_THREADS 1024
#endif
#ifndef TM_FREE_SIZED
#define TM_FREE_SIZED(p, n) TM_FREE(p)
#endif
#ifndef TM_DEFINE_GLOBALS
#define TM_DEFINE_GLOBALS
#endif
#ifndef TM_SAFE
#define TM_SAFE
#endif
#ifndef TM_PURE
#define TM_PURE
#endif
#ifndef TM_RESULT
#define TM_RESULT
#endif
/* Per-thread set-up and tear-down, where the variant needs them (TinySTM). */
#ifndef TM_THREAD_ENTER
#define TM_THREAD_ENTER() ((void)0)
#define TM_THREAD_EXIT() ((void)0)
#define TM_STARTUP() ((void)0)
#define TM_SHUTDOWN() ((void)0)
#endif

#ifndef TM_LUCID
/* The same statistics layout as Lucid's, so results print alike. */
#define LUCID_ABORT_REASONS_MAX 16
struct lucid_stats {
	uint64_t commits, commits_ro, aborts, max_retries, serial, extensions, threads;
	uint64_t reserved[9];
	uint64_t aborts_by_reason[LUCID_ABORT_REASONS_MAX];
};
#endif

/* The variant's statistics so far (all zero where the variant keeps none). */
static inline void tm_stats_get(struct lucid_stats *s)
{
#ifdef TM_LUCID
	lucid_stats_get(s);
#else
	memset(s, 0, sizeof(*s));
#endif
}

/*
 * Prints " commits=N aborts=N <reason>=N... serial=N max_retries=N" (and for
 * Lucid " extensions=N", snapshots moved up to the clock) for the
 * transactions run since @p before was taken; @p txs is how many the
 * program ran. The sequential and mutex variants never abort; libitm keeps
 * no statistics that a program can read, so its aborts are "unknown".
 */
static inline void tm_stats_print(FILE *f, const struct lucid_stats *before, uint64_t txs)
{
#ifdef TM_LUCID
	struct lucid_stats st;

	lucid_stats_get(&st);
	fprintf(f, " commits=%" PRIu64 " aborts=%" PRIu64, st.commits - before->commits,
	        st.aborts - before->aborts);
	for (int r = 0; r < LUCID_ABORT_REASONS; r++)
		fprintf(f, " %s=%" PRIu64, lucid_abort_reason_name(r),
		        st.aborts_by_reason[r] - before->aborts_by_reason[r]);
	fprintf(f, " serial=%" PRIu64 " max_retries=%" PRIu64 " extensions=%" PRIu64,
	        st.serial - before->serial, st.max_retries, st.extensions - before->extensions);
#elif defined(TM_GNU)
	(void)before;
	fprintf(f, " commits=%" PRIu64 " aborts=unknown max_retries=unknown", txs);
#elif defined(TM_TINYSTM)
	/* Counted by the threads that have exited: the workers, joined by now. */
	(void)before;
	if (__atomic_load_n(&tm_tinystm_counted, __ATOMIC_RELAXED))
		fprintf(f, " commits=%" PRIu64 " aborts=%" PRIu64 " max_retries=%" PRIu64,
		        __atomic_load_n(&tm_tinystm_commits, __ATOMIC_RELAXED),
		        __atomic_load_n(&tm_tinystm_aborts, __ATOMIC_RELAXED),
		        __atomic_load_n(&tm_tinystm_max_retries, __ATOMIC_RELAXED));
	else
		fprintf(f, " commits=%" PRIu64 " aborts=unknown max_retries=unknown", txs);
#else
	(void)before;
	fprintf(f, " commits=%" PRIu64 " aborts=0 max_retries=0", txs);
#endif
}

/*
 * Inconsistent states seen inside transactions. Thanks to opacity no
 * attempt, not even one that later aborts, may see one; the counter lives
 * outside the transactional memory so that a rolled-back attempt's sighting
 * still counts.
 */
static unsigned long tm_violations;

static inline TM_PURE void tm_violation(const char *program, const char *what, long seen,
                                        long expected)
{
	if (__atomic_fetch_add(&tm_violations, 1, __ATOMIC_RELAXED) == 0)
		fprintf(stderr, "%s: a transaction saw %s %ld instead of %ld\n", program, what, seen,
		        expected);
}

static inline unsigned long tm_violations_seen(void)
{
	return __atomic_load_n(&tm_violations, __ATOMIC_RELAXED);
}

/* xorshift64*: each thread its own, seeded from -s and its index. */
static inline TM_SAFE uint64_t tm_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Seconds on @p clock (CLOCK_MONOTONIC, or CLOCK_PROCESS_CPUTIME_ID: CPU time of all threads). */
static inline double tm_seconds(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Lets the workers run for @p duration_ms, then raises *stop; the wall-clock
 * and process CPU seconds that passed, for the result line. */
static inline void tm_run_for(long duration_ms, volatile int *stop, double *secs, double *cpu_secs)
{
	double t0 = tm_seconds(CLOCK_MONOTONIC), cpu0 = tm_seconds(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec d = { duration_ms / 1000, (duration_ms % 1000) * 1000000 };

	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
	__atomic_store_n(stop, 1, __ATOMIC_RELAXED);
	*secs = tm_seconds(CLOCK_MONOTONIC) - t0;
	*cpu_secs = tm_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
}

/* A per-thread seed from the run's seed and the thread's index. */
static inline uint64_t tm_seed(long seed, long index)
{
	return ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)index * 7919 + 1;
}

/* Parses option -@p opt's argument as a number from @p lo to @p hi, or exits with status 2. */
static inline long tm_parse(const char *program, int opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: -%c must be a number from %ld to %ld, not \"%s\"\n", program, opt,
		        lo, hi, s);
		exit(2);
	}
	return v;
}

#endif /* LUCID_SAMPLES_TM_H */
