/* samples: one source, several synchronization variants (Lucid, sequential, global mutex). */
#ifndef LUCID_SAMPLES_TM_H
#define LUCID_SAMPLES_TM_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/*
 * TM_ATOMIC { ... }   a transaction (or critical section)
 * TM_READ(lv)         read shared data inside it
 * TM_WRITE(lv, v)     write shared data inside it
 * TM_VARIANT          the variant's name, printed in results
 * Build with -DTM_SEQUENTIAL for uninstrumented code that only one thread
 * may run, or -DTM_MUTEX for one global lock; Lucid is the default.
 */
#if defined(TM_SEQUENTIAL)
#define TM_VARIANT "sequential"
#define TM_ATOMIC if (1)
#define TM_READ(lv) (lv)
#define TM_WRITE(lv, v) ((lv) = (v))
#define TM_MAX_THREADS 1
#define TM_STATS_GET(s) memset((s), 0, sizeof(*(s)))
#elif defined(TM_MUTEX)
extern pthread_mutex_t tm_global_lock;
#define TM_VARIANT "mutex"
#define TM_ATOMIC                                                              \
	for (int tm_once_ = (pthread_mutex_lock(&tm_global_lock), 1); tm_once_; \
	     tm_once_ = (pthread_mutex_unlock(&tm_global_lock), 0))
#define TM_READ(lv) (lv)
#define TM_WRITE(lv, v) ((lv) = (v))
#define TM_STATS_GET(s) memset((s), 0, sizeof(*(s)))
#define TM_DEFINE_GLOBALS pthread_mutex_t tm_global_lock = PTHREAD_MUTEX_INITIALIZER;
#else
#include <lucid.h>
#define TM_VARIANT "lucid"
#define TM_ATOMIC LUCID_ATOMIC
#define TM_READ(lv) lucid_read(lv)
#define TM_WRITE(lv, v) lucid_write(lv, v)
#define TM_STATS_GET(s) lucid_stats_get(s)
#endif

#ifndef TM_MAX_THREADS
#define TM_MAX_THREADS 1024
#endif
#ifndef TM_DEFINE_GLOBALS
#define TM_DEFINE_GLOBALS
#endif

#if defined(TM_SEQUENTIAL) || defined(TM_MUTEX)
/* The same statistics layout as Lucid's, all zero, so results print alike. */
#define LUCID_ABORT_REASONS_MAX 16
struct lucid_stats {
	uint64_t commits, commits_ro, aborts, max_retries, serial, extensions, threads;
	uint64_t reserved[9];
	uint64_t aborts_by_reason[LUCID_ABORT_REASONS_MAX];
};
#define TM_REASONS 0
static inline const char *tm_reason_name(int r) { (void)r; return ""; }
#else
#define TM_REASONS LUCID_ABORT_REASONS
#define tm_reason_name lucid_abort_reason_name
#endif

/* xorshift64*: each thread its own, seeded from -s and its index. */
static inline uint64_t tm_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

#endif /* LUCID_SAMPLES_TM_H */
