/* tests: blocking retry, irrevocability, transactional malloc/free, handlers, fork, and their misuse. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-bp.h>   /* the library's flavour: to wait for its call_rcu callbacks */

#include <lucid.h>
#include "tests/testutil.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_ALLOCATOR 1
/* From <sanitizer/allocator_interface.h>, which GCC does not install:
 * whether p is a live block of the sanitizer's allocator. */
int __sanitizer_get_ownership(const volatile void *p);
#endif

#ifdef __SANITIZE_ADDRESS__
/*
 * A child forked from a multi-threaded process inherits LeakSanitizer's
 * list of the parent's threads, which it cannot stop or scan at exit ("False
 * leaks are possible"): the fork case turns the leak check off in those
 * children (leaks are checked in the parent and in every other case).
 */
static int lsan_off;

int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return lsan_off;
}
#define LSAN_OFF_IN_CHILD() (lsan_off = 1)
#else
#define LSAN_OFF_IN_CHILD() ((void)0)
#endif

/*
 * Every case runs in its own process (check forks); each also runs alone
 * with CK_FORK=no (CK_RUN_CASE=name, for gdb and valgrind): it resets the
 * state it uses and compares statistics with their values at its start.
 * Misuse stops the program, so those checks run in a further child with
 * stderr captured.
 * Memory "reclaimed or not" is observed on 1 MiB blocks: the sanitizers'
 * allocators say whether they own a block; glibc serves such blocks with
 * mmap (the threshold is pinned) and unmaps them on free; under valgrind,
 * memcheck says whether the bytes are still addressable.
 */

#define TIMEOUT 120
#define BIG_BLOCK ((size_t)1 << 20)

/* ---------------------------------------------------------------- helpers */

/* Runs fn in a child that must exit with status 0 and print no misuse. */
static void assert_child_ok(void (*fn)(void), const char *what)
{
	struct outcome o;

	run_child(fn, &o);
	ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0,
	              "%s: the child ended with status %#x (%s %d), stderr: %s", what, o.status,
	              WIFSIGNALED(o.status) ? "signal" : "exit code",
	              WIFSIGNALED(o.status) ? WTERMSIG(o.status) : WEXITSTATUS(o.status), o.err);
	ck_assert_msg(strstr(o.err, "lucid: ") == NULL, "%s: the library complained: %s", what, o.err);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* CPU time a thread has used so far, in seconds. */
static double thread_cpu_s(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;

	ck_assert_int_eq(pthread_getcpuclockid(t, &cid), 0);
	ck_assert_int_eq(clock_gettime(cid, &ts), 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct lucid_stats stats_now(void)
{
	struct lucid_stats st;

	ck_assert_int_eq(lucid_stats_get(&st), 0);
	return st;
}

/* Whether check runs each test in its own process (not CK_FORK=no). */
static int forking(void)
{
	const char *f = getenv("CK_FORK");

	return !f || strcmp(f, "no") != 0;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

/* Joins t, failing the test if it has not ended within @p secs. */
static void join_within(pthread_t t, double secs, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	ts.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int r = pthread_timedjoin_np(t, NULL, &ts);
	ck_assert_msg(r == 0, "%s: the thread did not finish within %.0f s (%s)", what, secs,
	              r == ETIMEDOUT ? "still blocked: a lost wake-up or a deadlock?" : strerror(r));
}

/* Waits until lucid_retry() has put threads to sleep @p n times in all. */
static void wait_retry_waits(uint64_t n, const char *what)
{
	double end = now_s() + 30;

	while (stats_now().retry_waits < n) {
		ck_assert_msg(now_s() < end, "%s: retry_waits stayed at %" PRIu64 ", below %" PRIu64
		              " for 30 s", what, stats_now().retry_waits, n);
		sleep_ms(1);
	}
}

/* Waits until *flag (an int written atomically by another thread) is at least v. */
static void wait_flag(const int *flag, int v, const char *what)
{
	double end = now_s() + 30;

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < v) {
		ck_assert_msg(now_s() < end, "%s: still %d, not %d, after 30 s", what,
		              __atomic_load_n(flag, __ATOMIC_ACQUIRE), v);
		sleep_ms(1);
	}
}

static void sem_wait_nointr(sem_t *s)
{
	while (sem_wait(s) != 0 && errno == EINTR)
		;
}

struct tx_load {
	long *addr;
	long value;
};

static void tx_load_fn(void *arg)
{
	struct tx_load *l = arg;

	l->value = lucid_read(*l->addr);
}

/* Reads *p in a transaction of its own. */
static long tx_read_long(long *p)
{
	struct tx_load l = { p, 0 };

	ck_assert_int_eq(lucid_run(tx_load_fn, &l), 0);
	return l.value;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

#ifdef __SANITIZE_THREAD__
static struct rcu_head flush_head;
static int flushed;

static void flush_cb(struct rcu_head *head)
{
	(void)head;
	__atomic_store_n(&flushed, 1, __ATOMIC_RELEASE);
}
#endif

/* Waits until every block lucid_free'd so far has been reclaimed: every
 * call_rcu callback queued before has run. */
static void reclaim_all(void)
{
#ifdef __SANITIZE_THREAD__
	/*
	 * liburcu is not instrumented, so ThreadSanitizer takes the memory that
	 * urcu_bp_barrier() shares with the call_rcu worker for a race. A
	 * callback of our own, queued behind the library's on the one default
	 * worker (which runs them in order), tells the same.
	 */
	double end = now_s() + 30;

	__atomic_store_n(&flushed, 0, __ATOMIC_RELAXED);
	urcu_bp_call_rcu(&flush_head, flush_cb);
	while (!__atomic_load_n(&flushed, __ATOMIC_ACQUIRE)) {
		ck_assert_msg(now_s() < end, "call_rcu callbacks did not run within 30 s");
		sleep_ms(1);
	}
#else
	urcu_bp_barrier();
#endif
}

/* Whether a block has been given back to the allocator. */
enum block_state { BLOCK_FREED = 0, BLOCK_LIVE = 1, BLOCK_UNKNOWN = -1 };

static void pin_mmap_threshold(void)
{
	/* glibc raises the threshold after a large free; pinned, every
	 * BIG_BLOCK is mapped on its own and unmapped when freed. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

static enum block_state block_state(const void *p)
{
#ifdef HAVE_MEMCHECK
	if (RUNNING_ON_VALGRIND) {
		unsigned char vbits;
		unsigned r = VALGRIND_GET_VBITS(p, &vbits, 1);

		return r == 3 ? BLOCK_FREED : r == 1 ? BLOCK_LIVE : BLOCK_UNKNOWN;
	}
#endif
#ifdef SANITIZER_ALLOCATOR
	return __sanitizer_get_ownership(p) ? BLOCK_LIVE : BLOCK_FREED;
#else
	long page = sysconf(_SC_PAGESIZE);
	unsigned char v;

	if (mincore((void *)((uintptr_t)p & ~(uintptr_t)(page - 1)), 1, &v) == 0)
		return BLOCK_LIVE;
	return errno == ENOMEM ? BLOCK_FREED : BLOCK_UNKNOWN;
#endif
}

static const char *state_name(enum block_state s)
{
	return s == BLOCK_FREED ? "freed" : s == BLOCK_LIVE ? "live" : "unknown";
}

#define assert_block(p, want, what)                                                     \
	do {                                                                             \
		enum block_state s_ = block_state(p);                                    \
		ck_assert_msg(s_ == (want), "%s: block %p is %s, expected %s", (what),  \
		              (const void *)(p), state_name(s_), state_name(want));      \
	} while (0)

/* A commit handler or abort handler that appends its argument to a log. */
static char hlog[256];

static void hlog_reset(void)
{
	hlog[0] = '\0';
}

static void log_h(void *arg)
{
	size_t n = strlen(hlog);

	if (n + strlen(arg) < sizeof(hlog))
		strcpy(hlog + n, arg);
}

/* ================================================================ retry */

/* ----------------------------------------------------- bounded buffer */

#define RING 8

static struct {
	long slot[RING];
	long head;      /* items taken so far */
	long tail;      /* items put so far */
	long done;      /* no more items will be put */
} ring;

static unsigned *ring_seen;         /* times each item was taken */
static long ring_items;
static uint64_t ring_violations;    /* inconsistent states seen inside transactions */
static uint64_t ring_full;          /* producers that found the ring full */

static void ring_reset(long items)
{
	memset(&ring, 0, sizeof(ring));
	ring_items = items;
	free(ring_seen);
	ring_seen = calloc((size_t)items, sizeof(*ring_seen));
	ck_assert_ptr_nonnull(ring_seen);
	ring_violations = ring_full = 0;
}

static void put_fn(void *arg)
{
	long item = *(const long *)arg;
	long t = lucid_read(ring.tail), h = lucid_read(ring.head);

	if (t - h < 0 || t - h > RING) {
		__atomic_add_fetch(&ring_violations, 1, __ATOMIC_RELAXED);
		return;
	}
	if (t - h == RING) {
		__atomic_add_fetch(&ring_full, 1, __ATOMIC_RELAXED);
		lucid_retry();
	}
	lucid_write(ring.slot[t % RING], item);
	lucid_write(ring.tail, t + 1);
}

/* Takes one item into *arg, or -1 once the ring is empty and done. */
static void take_fn(void *arg)
{
	long *item = arg;
	long h = lucid_read(ring.head), t = lucid_read(ring.tail);

	if (t - h < 0 || t - h > RING) {
		__atomic_add_fetch(&ring_violations, 1, __ATOMIC_RELAXED);
		*item = -2;
		return;
	}
	if (h == t) {
		if (lucid_read(ring.done)) {
			*item = -1;
			return;
		}
		lucid_retry();
	}
	*item = lucid_read(ring.slot[h % RING]);
	lucid_write(ring.head, h + 1);
}

struct ring_thread {
	pthread_t t;
	long first, count;   /* producer: items first .. first+count-1 */
	long taken;          /* consumer: items taken */
	long bad;            /* consumer: out-of-range items */
};

static void *producer(void *arg)
{
	struct ring_thread *p = arg;

	for (long i = p->first; i < p->first + p->count; i++)
		ck_assert_int_eq(lucid_run(put_fn, &i), 0);
	return NULL;
}

static void *consumer(void *arg)
{
	struct ring_thread *c = arg;

	for (;;) {
		long item = -3;

		ck_assert_int_eq(lucid_run(take_fn, &item), 0);
		if (item == -1)
			break;
		if (item < 0 || item >= ring_items) {
			c->bad++;
			continue;
		}
		__atomic_add_fetch(&ring_seen[item], 1, __ATOMIC_RELAXED);
		c->taken++;
	}
	return NULL;
}

static void ring_close(void)
{
	LUCID_ATOMIC {
		lucid_write(ring.done, 1L);
	}
}

/* Every item taken exactly once, by counts kept outside the transactions. */
static void ring_check(struct ring_thread *cons, int nc)
{
	long taken = 0, bad = 0;

	for (int i = 0; i < nc; i++) {
		taken += cons[i].taken;
		bad += cons[i].bad;
	}
	ck_assert_msg(ring_violations == 0, "%" PRIu64 " inconsistent ring states seen in transactions",
	              ring_violations);
	ck_assert_msg(bad == 0, "%ld items out of range", bad);
	for (long i = 0; i < ring_items; i++)
		ck_assert_msg(ring_seen[i] == 1, "item %ld of %ld taken %u times", i, ring_items, ring_seen[i]);
	ck_assert_int_eq(taken, ring_items);
	ck_assert_int_eq(ring.head, ring_items);
	ck_assert_int_eq(ring.tail, ring_items);
}

/* P producers and P consumers over 8 slots, blocking with lucid_retry(). */
START_TEST(test_bounded_buffer)
{
	const int n = _i == 0 ? 2 : 4;
	const long per = 3000;
	struct ring_thread prod[4] = { 0 }, cons[4] = { 0 };

	ring_reset(n * per);
	struct lucid_stats st0 = stats_now();
	/* Consumers first: each finds the ring empty and sleeps. */
	for (int i = 0; i < n; i++)
		cons[i].t = spawn(consumer, &cons[i]);
	wait_retry_waits(st0.retry_waits + (uint64_t)n, "consumers on an empty ring");
	for (int i = 0; i < n; i++) {
		prod[i].first = i * per;
		prod[i].count = per;
		prod[i].t = spawn(producer, &prod[i]);
	}
	for (int i = 0; i < n; i++)
		join_within(prod[i].t, 60, "producer");
	ring_close();
	for (int i = 0; i < n; i++)
		join_within(cons[i].t, 60, "consumer after the ring was closed");
	ring_check(cons, n);

	struct lucid_stats st = stats_now();
	uint64_t retries = st.aborts_by_reason[LUCID_ABORT_RETRY] - st0.aborts_by_reason[LUCID_ABORT_RETRY];
	uint64_t waits = st.retry_waits - st0.retry_waits;
	ck_assert_msg(retries >= (uint64_t)n && waits >= (uint64_t)n,
	              "retry aborts %" PRIu64 ", retry waits %" PRIu64 " with %d consumers (ring "
	              "found full %" PRIu64 " times)", retries, waits, n, ring_full);
	ck_assert_uint_ge(st.commits - st0.commits, 2 * (uint64_t)ring_items + 1);
}
END_TEST

/* Consumers blocked on an empty ring use no CPU, and wake when items come. */
START_TEST(test_idle_consumers_use_no_cpu)
{
	enum { N = 4 };
	struct ring_thread cons[N] = { 0 };
	double cpu0[N], cpu = 0;

	ring_reset(64);
	uint64_t waits_start = stats_now().retry_waits;
	for (int i = 0; i < N; i++)
		cons[i].t = spawn(consumer, &cons[i]);
	wait_retry_waits(waits_start + N, "consumers on an empty ring");
	sleep_ms(20);
	uint64_t waits0 = stats_now().retry_waits;
	for (int i = 0; i < N; i++)
		cpu0[i] = thread_cpu_s(cons[i].t);
	sleep_ms(300);
	for (int i = 0; i < N; i++)
		cpu += thread_cpu_s(cons[i].t) - cpu0[i];
	uint64_t waits1 = stats_now().retry_waits;
	ck_assert_msg(cpu < 0.020, "%d consumers blocked in lucid_retry() used %.1f ms of CPU in 300 ms "
	              "(retry waits %" PRIu64 " -> %" PRIu64 ")", N, cpu * 1e3, waits0, waits1);

	/* The wake-up works: every item is taken. */
	for (long i = 0; i < ring_items; i++)
		ck_assert_int_eq(lucid_run(put_fn, &i), 0);
	ring_close();
	for (int i = 0; i < N; i++)
		join_within(cons[i].t, 60, "consumer after items were put");
	ring_check(cons, N);
}
END_TEST

/* ------------------------------------------- wakes on a change to its reads */

static struct {
	long x;
	long pad1[7];
	long unrelated[8];
	long scratch;       /* written by the waiter before it retries */
	long pad2[7];
} rw;

static int rw_attempts, rw_returned, rw_abort_handlers;

static void rw_abort_h(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&rw_abort_handlers, 1, __ATOMIC_RELAXED);
}

static void wait_x_fn(void *arg)
{
	long *out = arg;

	__atomic_add_fetch(&rw_attempts, 1, __ATOMIC_RELAXED);
	lucid_on_abort(rw_abort_h, NULL);
	lucid_write(rw.scratch, lucid_read(rw.scratch) + 1);
	/* lucid_retry() in a nested block re-runs the outermost one. */
	LUCID_ATOMIC {
		if (lucid_read(rw.x) == 0)
			lucid_retry();
	}
	*out = lucid_read(rw.x);
}

static void rw_set_x(long v)
{
	LUCID_ATOMIC {
		lucid_write(rw.x, v);
	}
}

static void *rw_waiter(void *arg)
{
	ck_assert_int_eq(lucid_run(wait_x_fn, arg), 0);
	__atomic_store_n(&rw_returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_retry_wakes_on_change_only)
{
	static long got;
	enum { UNRELATED = 100 };

	memset(&rw, 0, sizeof(rw));
	rw_attempts = rw_returned = rw_abort_handlers = 0;
	struct lucid_stats st0 = stats_now();
	pthread_t t = spawn(rw_waiter, &got);
	wait_retry_waits(st0.retry_waits + 1, "waiter on x == 0");
	ck_assert_int_eq(__atomic_load_n(&rw_attempts, __ATOMIC_RELAXED), 1);
	ck_assert_int_eq(__atomic_load_n(&rw_abort_handlers, __ATOMIC_RELAXED), 1);
	ck_assert_int_eq(__atomic_load_n(&rw.scratch, __ATOMIC_RELAXED), 0);   /* rolled back */

	/* Commits that change other words, and a read-only one of x. */
	for (int i = 0; i < UNRELATED; i++) {
		LUCID_ATOMIC {
			lucid_write(rw.unrelated[i % 8], lucid_read(rw.unrelated[i % 8]) + 1);
		}
		if (i % 10 == 0)
			sleep_ms(1);
	}
	LUCID_ATOMIC {
		(void)lucid_read(rw.x);
	}
	sleep_ms(50);
	ck_assert_msg(!__atomic_load_n(&rw_returned, __ATOMIC_ACQUIRE), "returned without x changing");
	int attempts = __atomic_load_n(&rw_attempts, __ATOMIC_RELAXED);
	ck_assert_msg(attempts < 1 + UNRELATED / 4, "the waiter ran %d times during %d unrelated commits",
	              attempts, UNRELATED);

	/* Rewriting x with the same value wakes it, but it waits again; more
	 * times than the aborts that lead to serial mode: waiting is not a
	 * conflict. */
	for (int i = 1; i <= 20; i++) {
		uint64_t waits = stats_now().retry_waits;

		rw_set_x(0);
		wait_retry_waits(waits + 1, "waiter asleep again after x was rewritten");
	}
	ck_assert_int_eq(__atomic_load_n(&rw_attempts, __ATOMIC_RELAXED), attempts + 20);
	sleep_ms(50);
	ck_assert_msg(!__atomic_load_n(&rw_returned, __ATOMIC_ACQUIRE), "returned while x is still 0");
	struct lucid_stats st = stats_now();
	ck_assert_uint_eq(st.serial, st0.serial);
	ck_assert_uint_eq(st.max_retries, st0.max_retries);

	double t0 = now_s();
	rw_set_x(42);
	join_within(t, 10, "waiter after x changed");
	double dt = now_s() - t0;
	ck_assert_int_eq(got, 42);
	ck_assert_int_eq(rw.scratch, 1);   /* only the committed attempt's write */
	ck_assert_int_eq(__atomic_load_n(&rw_abort_handlers, __ATOMIC_RELAXED),
	                 __atomic_load_n(&rw_attempts, __ATOMIC_RELAXED) - 1);
	ck_assert_msg(dt < 5, "the waiter returned %.3f s after x changed", dt);
}
END_TEST

/* ========================================================== irrevocable */

/* ---------------------------------------------- I/O, once per transaction */

#define IRR_N 200

static struct {
	long c;               /* incremented by every transaction */
	long pad1[7];
	long k;               /* irrevocable transactions committed */
	long pad2[7];
	long log[IRR_N];      /* log[k] = the c the k-th irrevocable transaction read */
} irr;

static int irr_stop;
static int irr_after;          /* code after lucid_irrevocable() ran */
static int irr_not_irrevocable;

static void *irr_writer(void *arg)
{
	FILE *f = arg;

	for (int i = 0; i < IRR_N; i++) {
		LUCID_ATOMIC {
			long c = lucid_read(irr.c);
			long k = lucid_read(irr.k);

			lucid_irrevocable();
			if (!lucid_is_irrevocable())
				__atomic_add_fetch(&irr_not_irrevocable, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&irr_after, 1, __ATOMIC_RELAXED);
			fprintf(f, "%ld %ld\n", k, c);
			fflush(f);
			if (k >= 0 && k < IRR_N)
				lucid_write(irr.log[k], c);
			lucid_write(irr.k, k + 1);
			lucid_write(irr.c, c + 1);
		}
	}
	return NULL;
}

static int irr_yield_flag(uint64_t *rng)
{
	return xorshift(rng) % 8 == 0;
}

/* Conflicts with the irrevocable transactions: reads k, increments c;
 * yields in the middle of its first attempt if *yield. */
static void irr_other_tx(int *yield)
{
	LUCID_ATOMIC {
		long c = lucid_read(irr.c);

		(void)lucid_read(irr.k);
		if (*yield) {
			*yield = 0;
			sched_yield();
		}
		lucid_write(irr.c, c + 1);
	}
}

static void *irr_other(void *arg)
{
	long *commits = arg;
	uint64_t rng = (uintptr_t)arg | 1;

	while (!__atomic_load_n(&irr_stop, __ATOMIC_ACQUIRE)) {
		int yield = irr_yield_flag(&rng);

		irr_other_tx(&yield);
		(*commits)++;
	}
	return NULL;
}

START_TEST(test_irrevocable_file)
{
	long commits[2] = { 0, 0 };
	pthread_t o[2];
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	memset(&irr, 0, sizeof(irr));
	irr_stop = irr_after = irr_not_irrevocable = 0;
	struct lucid_stats st0 = stats_now();
	for (int i = 0; i < 2; i++)
		o[i] = spawn(irr_other, &commits[i]);
	pthread_t w = spawn(irr_writer, f);
	join_within(w, 60, "irrevocable writer");
	__atomic_store_n(&irr_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		join_within(o[i], 60, "conflicting thread");

	rewind(f);
	char line[128];
	long n = 0, prev_c = -1;
	while (fgets(line, sizeof(line), f)) {
		long k, c;

		ck_assert_msg(sscanf(line, "%ld %ld", &k, &c) == 2, "line %ld: \"%s\"", n + 1, line);
		ck_assert_msg(k == n, "line %ld says k = %ld: written twice or skipped", n + 1, k);
		ck_assert_msg(c > prev_c, "line %ld: c = %ld after %ld", n + 1, c, prev_c);
		ck_assert_msg(n < IRR_N && irr.log[n] == c, "line %ld: c = %ld, but the transaction "
		              "stored %ld", n + 1, c, n < IRR_N ? irr.log[n] : -1);
		prev_c = c;
		n++;
	}
	fclose(f);
	ck_assert_msg(n == IRR_N, "%ld lines for %d irrevocable transactions", n, IRR_N);
	ck_assert_int_eq(irr.k, IRR_N);
	ck_assert_int_eq(irr.c, IRR_N + commits[0] + commits[1]);
	ck_assert_int_eq(irr_after, IRR_N);
	ck_assert_int_eq(irr_not_irrevocable, 0);

	struct lucid_stats st = stats_now();
	ck_assert_uint_eq(st.irrevocable - st0.irrevocable, IRR_N);
	ck_assert_uint_eq(st.commits - st0.commits, (uint64_t)(IRR_N + commits[0] + commits[1]));
}
END_TEST

/* ------------------------------------- code after the call runs exactly once */

static struct {
	long c;
	long pad[7];
	long irrevocable_commits;
} ina;

static int ina_after, ina_abort_handler_runs;

static void ina_abort_h(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&ina_abort_handler_runs, 1, __ATOMIC_RELAXED);
}

static void ina_irrevocable_tx(void)
{
	LUCID_ATOMIC {
		long c = lucid_read(ina.c);

		lucid_irrevocable();
		/* From here the attempt cannot abort: this handler never runs. */
		lucid_on_abort(ina_abort_h, NULL);
		__atomic_add_fetch(&ina_after, 1, __ATOMIC_RELAXED);
		sched_yield();
		lucid_write(ina.c, c + 1);
		lucid_write(ina.irrevocable_commits, lucid_read(ina.irrevocable_commits) + 1);
	}
}

static void *ina_irrevocable(void *arg)
{
	long n = *(long *)arg;

	for (long i = 0; i < n; i++)
		ina_irrevocable_tx();
	return NULL;
}

static int ina_stop;

static void *ina_plain(void *arg)
{
	long *commits = arg;

	while (!__atomic_load_n(&ina_stop, __ATOMIC_ACQUIRE)) {
		LUCID_ATOMIC {
			lucid_write(ina.c, lucid_read(ina.c) + 1);
		}
		(*commits)++;
	}
	return NULL;
}

/* Heavy conflict; the second run sends every transaction that aborts once
 * to serial mode, where lucid_irrevocable() takes the other path. */
START_TEST(test_irrevocable_never_aborts)
{
	long per = 300, commits[2] = { 0, 0 };
	pthread_t irrev[2], plain[2];

	if (_i == 1)
		setenv("LUCID_SERIAL_AFTER", "1", 1);   /* read at the process's first transaction */
	memset(&ina, 0, sizeof(ina));
	ina_after = ina_abort_handler_runs = ina_stop = 0;
	struct lucid_stats st0 = stats_now();
	for (int i = 0; i < 2; i++)
		plain[i] = spawn(ina_plain, &commits[i]);
	for (int i = 0; i < 2; i++)
		irrev[i] = spawn(ina_irrevocable, &per);
	for (int i = 0; i < 2; i++)
		join_within(irrev[i], 60, "irrevocable thread");
	__atomic_store_n(&ina_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		join_within(plain[i], 60, "conflicting thread");

	ck_assert_msg(ina_after == 2 * per, "code after lucid_irrevocable() ran %d times in %ld "
	              "transactions", ina_after, 2 * per);
	ck_assert_int_eq(ina_abort_handler_runs, 0);
	ck_assert_int_eq(ina.irrevocable_commits, 2 * per);
	ck_assert_int_eq(ina.c, 2 * per + commits[0] + commits[1]);
	struct lucid_stats st = stats_now();
	ck_assert_uint_eq(st.irrevocable - st0.irrevocable, (uint64_t)(2 * per));
	if (_i == 1 && forking())
		ck_assert_uint_gt(st.serial, 0);
}
END_TEST

/* ---------------------------------- other threads keep running meanwhile */

static struct {
	long a;            /* touched by the irrevocable transaction */
	long pad1[7];
	long b;            /* touched only by the bystander */
	long pad2[7];
} iro;

static int iro_holding, iro_release, iro_stop;
static long iro_b_commits, iro_a_commits;

static void *iro_irrevocable(void *arg)
{
	(void)arg;
	LUCID_ATOMIC {
		lucid_write(iro.a, lucid_read(iro.a) + 1);
		lucid_irrevocable();
		lucid_write(iro.a, lucid_read(iro.a) + 1);
		__atomic_store_n(&iro_holding, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&iro_release, __ATOMIC_ACQUIRE))
			sleep_ms(1);
	}
	return NULL;
}

static void *iro_on_b(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&iro_stop, __ATOMIC_ACQUIRE)) {
		LUCID_ATOMIC {
			lucid_write(iro.b, lucid_read(iro.b) + 1);
		}
		__atomic_add_fetch(&iro_b_commits, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *iro_on_a(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&iro_stop, __ATOMIC_ACQUIRE)) {
		LUCID_ATOMIC {
			lucid_write(iro.a, lucid_read(iro.a) + 10);
		}
		__atomic_add_fetch(&iro_a_commits, 1, __ATOMIC_RELAXED);
		sleep_ms(1);
	}
	return NULL;
}

/*
 * While an irrevocable transaction holds word a for 200 ms, a thread
 * committing transactions on word b keeps committing. _i == 1 adds a
 * thread that keeps trying to update a: it must wait, without stopping b.
 */
START_TEST(test_irrevocable_others_run)
{
	memset(&iro, 0, sizeof(iro));
	iro_holding = iro_release = iro_stop = 0;
	iro_b_commits = iro_a_commits = 0;
	pthread_t on_a = 0, on_b = spawn(iro_on_b, NULL);

	if (_i == 1)
		on_a = spawn(iro_on_a, NULL);
	sleep_ms(20);
	pthread_t irrev = spawn(iro_irrevocable, NULL);
	wait_flag(&iro_holding, 1, "irrevocable transaction");
	long a0 = __atomic_load_n(&iro_a_commits, __ATOMIC_RELAXED);
	/* Not only at first: for as long as the irrevocable one runs. */
	sleep_ms(50);
	long b0 = __atomic_load_n(&iro_b_commits, __ATOMIC_RELAXED);
	sleep_ms(150);
	long b1 = __atomic_load_n(&iro_b_commits, __ATOMIC_RELAXED);
	long a1 = __atomic_load_n(&iro_a_commits, __ATOMIC_RELAXED);
	__atomic_store_n(&iro_release, 1, __ATOMIC_RELEASE);
	join_within(irrev, 30, "irrevocable transaction");
	sleep_ms(20);
	__atomic_store_n(&iro_stop, 1, __ATOMIC_RELEASE);
	join_within(on_b, 30, "thread on b");
	if (_i == 1)
		join_within(on_a, 30, "thread on a");

	struct lucid_stats st = stats_now();
	ck_assert_msg(b1 - b0 >= 10, "%ld commits on an unrelated word in 150 ms while an irrevocable "
	              "transaction held another (serial-mode transactions: %" PRIu64 ")", b1 - b0, st.serial);
	ck_assert_msg(a1 == a0, "%ld commits on the irrevocable transaction's word while it held it",
	              a1 - a0);
	ck_assert_int_eq(iro.a, 2 + 10 * iro_a_commits);
	ck_assert_int_eq(iro.b, iro_b_commits);
}
END_TEST

/* ------------------------- the re-run before the call may still wait or abort */

static struct {
	long x;       /* the condition: 1 = an item is there */
	long pad[7];
	long y;
} irc;

static int irc_attempts, irc_after;
static sem_t irc_go, irc_done;

/* The first attempt's abort (to restart irrevocable) lets another thread
 * take the item before the re-run. */
static void irc_abort_h(void *arg)
{
	(void)arg;
	sem_post(&irc_go);
	sem_wait_nointr(&irc_done);
}

static void *irc_helper(void *arg)
{
	(void)arg;
	sem_wait_nointr(&irc_go);
	LUCID_ATOMIC {
		lucid_write(irc.x, 0L);
	}
	sem_post(&irc_done);
	return NULL;
}

static void irc_retry_fn(void *arg)
{
	int a = __atomic_add_fetch(&irc_attempts, 1, __ATOMIC_RELAXED);

	(void)arg;
	if (lucid_read(irc.x) == 0)
		lucid_retry();
	if (a == 1)
		lucid_on_abort(irc_abort_h, NULL);
	lucid_irrevocable();
	irc_after++;
	lucid_write(irc.x, 0L);
	lucid_write(irc.y, lucid_read(irc.y) + 1);
}

static void irc_abort_fn(void *arg)
{
	int a = __atomic_add_fetch(&irc_attempts, 1, __ATOMIC_RELAXED);

	(void)arg;
	if (lucid_read(irc.x) == 0)
		lucid_abort();
	if (a == 1)
		lucid_on_abort(irc_abort_h, NULL);
	lucid_irrevocable();
	irc_after++;
	lucid_write(irc.y, lucid_read(irc.y) + 1);
}

static void *irc_waiter(void *arg)
{
	int *rc = arg;

	*rc = lucid_run(irc_retry_fn, NULL);
	return NULL;
}

/* Waits for the item with lucid_retry() before lucid_irrevocable(), as the
 * misuse message for retry-after-irrevocable advises. */
static void child_irrevocable_rerun_retry(void)
{
	int rc = -1;

	irc.x = 1;
	sem_init(&irc_go, 0, 0);
	sem_init(&irc_done, 0, 0);
	pthread_t h = spawn(irc_helper, NULL);
	pthread_t w = spawn(irc_waiter, &rc);
	pthread_join(h, NULL);
	/* The item is gone; the waiter must sleep in lucid_retry(), then run
	 * once more, irrevocably, when a new one comes. */
	wait_retry_waits(1, "re-run waiting for a new item");
	LUCID_ATOMIC {
		lucid_write(irc.x, 1L);
	}
	pthread_join(w, NULL);
	if (rc != 0 || irc_after != 1 || irc.y != 1 || irc.x != 0)
		exit(10);
}

static void child_irrevocable_rerun_abort(void)
{
	int rc;

	irc.x = 1;
	sem_init(&irc_go, 0, 0);
	sem_init(&irc_done, 0, 0);
	pthread_t h = spawn(irc_helper, NULL);
	rc = lucid_run(irc_abort_fn, NULL);
	pthread_join(h, NULL);
	/* The re-run found no item and gave up: nothing happened. */
	if (rc != LUCID_ABORTED || irc_after != 0 || irc.y != 0)
		exit(11);
}

START_TEST(test_irrevocable_rerun_may_retry)
{
	assert_child_ok(child_irrevocable_rerun_retry,
	                "lucid_retry() before lucid_irrevocable() in the irrevocable re-run");
	assert_child_ok(child_irrevocable_rerun_abort,
	                "lucid_abort() before lucid_irrevocable() in the irrevocable re-run");
}
END_TEST

/* ======================================================== malloc and free */

/* --------------------------------------- a linked list with deferred free */

#define LIST_RANGE 128

struct node {
	long key;
	struct node *next;
};

static struct node list_head = { LONG_MIN, NULL };   /* sentinel */
static uint64_t list_violations;
static int list_stop;

struct list_op {
	long key;
	int done;       /* inserted, removed or found */
	int yield;      /* yield once in the middle, in the first attempt */
};

/* Returns the first node with key >= op->key; *prevp is the one before it.
 * Checks the order it walks (in every attempt: opacity). */
static struct node *list_find(struct list_op *op, struct node **prevp)
{
	struct node *prev = &list_head, *cur = lucid_read(list_head.next);
	long last = -1;
	int steps = 0;

	while (cur) {
		long k = lucid_read(cur->key);

		if (k <= last || k >= LIST_RANGE) {
			__atomic_add_fetch(&list_violations, 1, __ATOMIC_RELAXED);
			break;
		}
		if (k >= op->key)
			break;
		last = k;
		prev = cur;
		cur = lucid_read(cur->next);
		if (op->yield && ++steps == 3) {
			/* Let others unlink and free what we are walking. */
			op->yield = 0;
			sched_yield();
		}
	}
	*prevp = prev;
	return cur;
}

static void list_insert_fn(void *arg)
{
	struct list_op *op = arg;
	struct node *prev, *cur = list_find(op, &prev);

	op->done = 0;
	if (cur && lucid_read(cur->key) == op->key)
		return;
	struct node *n = lucid_malloc(sizeof(*n));

	if (!n) {
		__atomic_add_fetch(&list_violations, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Private until the commit publishes it. */
	n->key = op->key;
	n->next = cur;
	lucid_write(prev->next, n);
	op->done = 1;
}

static void list_remove_fn(void *arg)
{
	struct list_op *op = arg;
	struct node *prev, *cur = list_find(op, &prev);

	op->done = 0;
	if (!cur || lucid_read(cur->key) != op->key)
		return;
	lucid_write(prev->next, lucid_read(cur->next));
	lucid_free(cur);
	op->done = 1;
}

static void list_lookup_fn(void *arg)
{
	struct list_op *op = arg;
	struct node *prev, *cur = list_find(op, &prev);

	op->done = cur && lucid_read(cur->key) == op->key;
}

struct list_worker {
	pthread_t t;
	uint64_t rng;
	long net[LIST_RANGE];   /* committed inserts minus committed removes */
	long ops;
};

static void *list_worker(void *arg)
{
	struct list_worker *w = arg;

	while (!__atomic_load_n(&list_stop, __ATOMIC_ACQUIRE)) {
		uint64_t r = xorshift(&w->rng);
		struct list_op op = { .key = (long)(r % LIST_RANGE), .yield = (r >> 8) % 16 == 0 };
		unsigned kind = (unsigned)((r >> 16) % 100);

		if (kind < 30) {
			ck_assert_int_eq(lucid_run(list_insert_fn, &op), 0);
			w->net[op.key] += op.done;
		} else if (kind < 60) {
			ck_assert_int_eq(lucid_run(list_remove_fn, &op), 0);
			w->net[op.key] -= op.done;
		} else {
			ck_assert_int_eq(lucid_run(list_lookup_fn, &op), 0);
		}
		w->ops++;
	}
	return NULL;
}

/* Runs in its own thread, so that no pointer to a node stays in a live
 * thread's logs: a node the library failed to free is then a leak. */
static void *list_prefill(void *arg)
{
	(void)arg;
	for (long k = 0; k < LIST_RANGE; k += 2) {
		struct list_op op = { .key = k };

		ck_assert_int_eq(lucid_run(list_insert_fn, &op), 0);
		ck_assert_int_eq(op.done, 1);
	}
	return NULL;
}

static void list_clear_fn(void *arg)
{
	long *n = arg;
	struct node *cur = lucid_read(list_head.next);

	*n = 0;
	lucid_write(list_head.next, (struct node *)NULL);
	while (cur) {
		struct node *next = lucid_read(cur->next);

		lucid_free(cur);
		(*n)++;
		cur = next;
	}
}

static void *list_clear(void *arg)
{
	ck_assert_int_eq(lucid_run(list_clear_fn, arg), 0);
	/* Every lucid_free so far has been reclaimed after this. */
	reclaim_all();
	return NULL;
}

/*
 * Inserts (lucid_malloc), removes (unlink and lucid_free) and lookups on a
 * sorted list: lookups walk nodes that removers free meanwhile, which
 * deferred reclamation makes safe; run in the AddressSanitizer build and
 * under valgrind (tests/valgrind-list.sh), this also checks that nothing is
 * used after it is freed and nothing leaks.
 */
START_TEST(test_list_free)
{
	enum { THREADS = 4 };
	static struct list_worker w[THREADS];
	double secs = test_stress_seconds(1.0);
	pthread_t t;

	list_stop = 0;
	list_violations = 0;
	ck_assert_ptr_null(list_head.next);
	t = spawn(list_prefill, NULL);
	join_within(t, 60, "prefill");
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
		w[i].t = spawn(list_worker, &w[i]);
	}
	sleep_ms((unsigned)(secs * 1000));
	__atomic_store_n(&list_stop, 1, __ATOMIC_RELEASE);
	long ops = 0;
	for (int i = 0; i < THREADS; i++) {
		join_within(w[i].t, 60, "list worker");
		ops += w[i].ops;
	}
	ck_assert_msg(list_violations == 0, "%" PRIu64 " inconsistent lists seen inside transactions "
	              "(or lucid_malloc failed)", list_violations);

	/* The list is the replay of the committed operations. */
	long present[LIST_RANGE] = { 0 }, len = 0, last = -1;
	for (struct node *n = list_head.next; n; n = n->next) {
		ck_assert_msg(n->key > last && n->key < LIST_RANGE, "key %ld after %ld", n->key, last);
		present[n->key] = 1;
		last = n->key;
		len++;
	}
	for (long k = 0; k < LIST_RANGE; k++) {
		long want = (k % 2 == 0);

		for (int i = 0; i < THREADS; i++)
			want += w[i].net[k];
		ck_assert_msg(present[k] == want, "key %ld: in the list %ld, by the committed operations "
		              "%ld (after %ld operations)", k, present[k], want, ops);
	}

	long cleared = -1;
	t = spawn(list_clear, &cleared);
	join_within(t, 60, "clearing the list");
	ck_assert_int_eq(cleared, len);
	ck_assert_ptr_null(list_head.next);
	ck_assert_int_eq(list_violations, 0);
	struct lucid_stats st = stats_now();
	ck_assert_uint_ge(st.commits, (uint64_t)ops);
}
END_TEST

/* ------------------------------- reclaimed only after every reader is done */

static struct {
	struct node *p;     /* freed inside a transaction */
	long pad1[7];
	struct node *q;     /* freed outside */
	long pad2[7];
	long other;
} fd;

static sem_t fd_in, fd_go;
static int fd_attempts;
static long fd_keys[2];       /* what the first attempt read from the freed blocks */
static enum block_state fd_state_when_read[2];

static void fd_reader_fn(void *arg)
{
	int a = __atomic_add_fetch(&fd_attempts, 1, __ATOMIC_RELAXED);
	struct node *p = lucid_read(fd.p), *q = lucid_read(fd.q);

	(void)arg;
	if (a == 1) {
		sem_post(&fd_in);
		sem_wait_nointr(&fd_go);
		/* Both blocks were freed by now, by a committed transaction and
		 * outside one: this doomed attempt still reads them. */
		fd_state_when_read[0] = p ? block_state(p) : BLOCK_UNKNOWN;
		fd_state_when_read[1] = q ? block_state(q) : BLOCK_UNKNOWN;
		fd_keys[0] = p ? lucid_read(p->key) : -1;
		fd_keys[1] = q ? lucid_read(q->key) : -1;
	}
	lucid_write(fd.other, lucid_read(fd.other) + 1);
}

static void *fd_reader(void *arg)
{
	(void)arg;
	ck_assert_int_eq(lucid_run(fd_reader_fn, NULL), 0);
	return NULL;
}

START_TEST(test_free_deferred)
{
	pin_mmap_threshold();
	struct node *p = malloc(BIG_BLOCK), *q = malloc(BIG_BLOCK);

	ck_assert(p && q);
	p->key = 7;
	q->key = 8;
	p->next = q->next = NULL;
	memset(&fd, 0, sizeof(fd));
	fd_attempts = 0;
	fd.p = p;
	fd.q = q;
	assert_block(p, BLOCK_LIVE, "a new block");
	sem_init(&fd_in, 0, 0);
	sem_init(&fd_go, 0, 0);
	pthread_t r = spawn(fd_reader, NULL);
	sem_wait_nointr(&fd_in);

	LUCID_ATOMIC {
		struct node *victim = lucid_read(fd.p);

		lucid_write(fd.p, (struct node *)NULL);
		lucid_write(fd.q, (struct node *)NULL);
		lucid_free(victim);
	}
	lucid_free(q);
	sleep_ms(100);
	assert_block(p, BLOCK_LIVE, "freed in a transaction while another transaction may read it");
	assert_block(q, BLOCK_LIVE, "freed outside while a transaction may read it");
	sem_post(&fd_go);
	join_within(r, 30, "reader");
	ck_assert_int_eq(fd_keys[0], 7);
	ck_assert_int_eq(fd_keys[1], 8);
	ck_assert_msg(fd_state_when_read[0] == BLOCK_LIVE && fd_state_when_read[1] == BLOCK_LIVE,
	              "the doomed reader found the blocks %s and %s", state_name(fd_state_when_read[0]),
	              state_name(fd_state_when_read[1]));
	ck_assert_int_eq(fd_attempts, 2);   /* it was doomed: its reads had changed */
	ck_assert_int_eq(fd.other, 1);

	reclaim_all();
	assert_block(p, BLOCK_FREED, "freed in a transaction, after the readers ended");
	assert_block(q, BLOCK_FREED, "freed outside, after the readers ended");
}
END_TEST

/* -------------------- small blocks: not reused while an attempt may read them */

#define FW_CHURN 4000           /* frees after the victim's: 62 batches and more */

static struct {
	struct node *p;          /* the small block that the reader holds */
	long pad1[7];
	struct node *slot;       /* the churn's one live node */
	long pad2[7];
	long other;
	long pad3[7];
	void *hslot;             /* free_small_shared_barrier's helper's block */
	long pad4[7];
	long other2;             /* and its bystander's word */
} fw;

/* The engine's (linked in statically): whether threads run their own
 * grace periods (stm/thread.c). */
extern bool stm_has_membarrier;

static sem_t fw_in, fw_go;
static int fw_attempts;
static long fw_key_seen;

static void fw_reader_fn(void *arg)
{
	struct node *p = lucid_read(fw.p);

	(void)arg;
	if (__atomic_add_fetch(&fw_attempts, 1, __ATOMIC_RELAXED) == 1) {
		sem_post(&fw_in);
		sem_wait_nointr(&fw_go);
		/* The block was freed by a committed transaction long ago, and
		 * the freeing thread has allocated and freed thousands of blocks
		 * of its size since: this doomed attempt still reads it whole. */
		fw_key_seen = p ? lucid_read(p->key) : -1;
	}
	lucid_write(fw.other, lucid_read(fw.other) + 1);
}

static void *fw_reader(void *arg)
{
	(void)arg;
	ck_assert_int_eq(lucid_run(fw_reader_fn, NULL), 0);
	return NULL;
}

/* Replaces the churn's node by a new one of the victim's size; *arg: the new one. */
static void fw_swap_fn(void *arg)
{
	struct node *n = lucid_malloc(sizeof(*n)), *old = lucid_read(fw.slot);

	ck_assert_ptr_nonnull(n);
	n->key = 99;     /* not yet published: a plain store */
	n->next = NULL;
	lucid_write(fw.slot, n);
	lucid_free(old);
	*(struct node **)arg = n;
}

/* The victim, a small block that fw.p points to, and the rest of the
 * tests' state afresh. */
static struct node *fw_setup(void)
{
	struct node *p = malloc(sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->key = 7;
	p->next = NULL;
	memset(&fw, 0, sizeof(fw));
	fw.p = p;
	fw_attempts = 0;
	fw_key_seen = 0;
	sem_init(&fw_in, 0, 0);
	sem_init(&fw_go, 0, 0);
	return p;
}

/* Unlinks the victim and frees it, in one transaction. */
static void fw_unlink(void)
{
	LUCID_ATOMIC {
		struct node *victim = lucid_read(fw.p);

		lucid_write(fw.p, (struct node *)NULL);
		lucid_free(victim);
	}
}

/*
 * A small block freed by a committed transaction waits in its thread's
 * batches until every attempt that was running has ended: while one that
 * read the pointer to it runs on, the freeing thread, allocating and
 * freeing blocks of its size thousands of times (each grace period it
 * starts waits for the reader), never gets it back from lucid_malloc, and
 * the reader finds its contents unchanged. Once the reader has ended, it
 * does.
 */
START_TEST(test_free_small_while_read)
{
	struct node *p = fw_setup(), *n = NULL;
	volatile int reused = 0;   /* changed after the block's checkpoint */

	pthread_t r = spawn(fw_reader, NULL);
	sem_wait_nointr(&fw_in);

	fw_unlink();
	for (int i = 0; i < FW_CHURN; i++) {
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
		if (n == p)
			reused++;
		if (i % 256 == 0)
			sleep_ms(2);   /* grace periods start at most a millisecond apart */
	}
	sem_post(&fw_go);
	join_within(r, 30, "reader");
	ck_assert_msg(reused == 0, "a block freed while a transaction could read it was handed out "
	              "again %d times before that transaction ended", reused);
	ck_assert_int_eq(fw_key_seen, 7);
	ck_assert_int_eq(fw_attempts, 2);   /* doomed: the pointer it read had changed */
	ck_assert_int_eq(fw.other, 1);

	/* The reader has ended (and its thread exited, which the grace period
	 * that waited for it notices): the block comes back to this thread,
	 * at once where the thread runs its own grace periods (membarrier),
	 * else after liburcu's next one, and glibc's caches hand it out
	 * again first. */
	int allocs = 0;
	double end = now_s() + 5;
	for (reused = 0; !reused && now_s() < end; allocs++) {
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
		reused = n == p;
		if (allocs % 256 == 255)
			sleep_ms(2);
	}
#ifndef SANITIZER_ALLOCATOR   /* theirs keep freed blocks aside for a while */
	ck_assert_msg(reused, "a block freed by this thread was not handed out again within 5 s "
	              "of allocations of its size after the transaction that could read it ended");
	if (__atomic_load_n(&stm_has_membarrier, __ATOMIC_RELAXED))
		ck_assert_msg(allocs <= 64, "a block freed by this thread was handed out again only "
		              "after %d allocations of its size once the transaction that could read "
		              "it had ended", allocs);
#endif
	LUCID_ATOMIC {
		lucid_free(lucid_read(fw.slot));
		lucid_write(fw.slot, (struct node *)NULL);
	}
	sem_destroy(&fw_in);
	sem_destroy(&fw_go);
}
END_TEST

/*
 * The same where the membarrier() call that the freeing thread's grace
 * period relies on may be another thread's (the calls are shared:
 * tx/memory.c), while a bystander thread runs attempts of 5 ms one after
 * the other. The freeing thread closes a batch (a call of its own, two
 * milliseconds after any other) and frees blocks for 8 ms, so that its
 * grace periods end and the next ones start while the bystander runs;
 * then a reader starts an attempt that reads the pointer to the victim,
 * and the freeing thread unlinks and frees it and closes the victim's
 * batch, often before it may make a call of its own again (a millisecond
 * after the last, or 100 times that call's cost where it was cheap); while
 * it waits, a helper thread frees blocks of another size and makes the
 * next call, which began after the victim's batch closed. The freeing
 * thread's grace period for the victim's batch is then the helper's
 * call's, or else its own, and must wait for the reader either way. (A
 * batch covered by another thread's call taken as done without a look at
 * the running attempts failed this in 4 of 6 runs; a grace period
 * started for a batch already done, which could end while the reader ran
 * and give back every batch after it, stops the program here in every run:
 * tx/memory.c checks that a grace period starts and ends on a waiting
 * batch.) The reader finds the
 * victim's contents unchanged (a block given back to the allocator holds
 * its free-list links). That the block comes back afterwards is
 * free_small_while_read's: here the batches closed after the victim's may
 * all be given back together, and the allocator hands out the last freed
 * first.
 */
static sem_t fs_go, fs_done;
static int fs_stop;   /* the bystander stops */
#define FS_BATCH 64   /* frees that close a batch (STM_LIMBO_BATCH, tx/memory.c) */

static void fs_helper_fn(void *arg)
{
	void *n = lucid_malloc(40), *old = lucid_read(fw.hslot);

	(void)arg;
	ck_assert_ptr_nonnull(n);
	lucid_write(fw.hslot, n);
	lucid_free(old);
}

static void *fs_helper(void *arg)
{
	(void)arg;
	sem_wait_nointr(&fs_go);
	sleep_ms(2);   /* a millisecond after the freeing thread's call */
	for (int i = 0; i < 4 * FS_BATCH; i++)
		ck_assert_int_eq(lucid_run(fs_helper_fn, NULL), 0);
	LUCID_ATOMIC {
		lucid_free(lucid_read(fw.hslot));
		lucid_write(fw.hslot, (void *)NULL);
	}
	sem_post(&fs_done);   /* its exit waits for the reader's attempt to end */
	return NULL;
}

/* Runs transactions of a millisecond all along, one after the other, so
 * that a grace period's look at the threads finds one running and waits
 * for it. */
static void fs_bystander_fn(void *arg)
{
	double end = now_s() + 0.005;

	(void)arg;
	(void)lucid_read(fw.other2);
	while (now_s() < end)
		;
}

static void *fs_bystander(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&fs_stop, __ATOMIC_RELAXED))
		ck_assert_int_eq(lucid_run(fs_bystander_fn, NULL), 0);
	return NULL;
}

START_TEST(test_free_small_shared_barrier)
{
	struct node *p = fw_setup(), *n = NULL;
	volatile int reused = 0;   /* changed after the block's checkpoint */

	sem_init(&fs_go, 0, 0);
	sem_init(&fs_done, 0, 0);
	__atomic_store_n(&fs_stop, 0, __ATOMIC_RELAXED);
	pthread_t h = spawn(fs_helper, NULL), x = spawn(fs_bystander, NULL);

	sleep_ms(2);
	for (int i = 0; i < 2 * FS_BATCH; i++)   /* a batch closes: a call */
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
	/* Grace periods end and start while the bystander runs. */
	for (double end = now_s() + 0.008; now_s() < end;)
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
	pthread_t r = spawn(fw_reader, NULL);
	sem_wait_nointr(&fw_in);
	fw_unlink();
	for (int i = 0; i < FS_BATCH; i++) {   /* the victim's batch closes (or the next) */
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
		if (n == p)
			reused++;
	}
	sem_post(&fs_go);
	sem_wait_nointr(&fs_done);
	for (int i = 0; i < FW_CHURN; i++) {
		ck_assert_int_eq(lucid_run(fw_swap_fn, &n), 0);
		if (n == p)
			reused++;
		if (i % 256 == 0)
			sleep_ms(2);
	}
	sem_post(&fw_go);
	join_within(r, 30, "reader");
	join_within(h, 30, "helper");
	__atomic_store_n(&fs_stop, 1, __ATOMIC_RELAXED);
	join_within(x, 30, "bystander");
	ck_assert_msg(reused == 0, "a block freed while a transaction could read it was handed out "
	              "again %d times before that transaction ended", reused);
	ck_assert_int_eq(fw_key_seen, 7);

	LUCID_ATOMIC {
		lucid_free(lucid_read(fw.slot));
		lucid_write(fw.slot, (struct node *)NULL);
	}
	sem_destroy(&fw_in);
	sem_destroy(&fw_go);
	sem_destroy(&fs_go);
	sem_destroy(&fs_done);
}
END_TEST

/* ----------------------------- small blocks: reclaimed by the thread that freed them */

#ifdef SANITIZER_ALLOCATOR
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes the program has allocated and not freed. */
static size_t bytes_in_use(void)
{
#ifdef SANITIZER_ALLOCATOR
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* Bytes in use now, against @p base (negative: fewer). */
static long bytes_since(size_t base)
{
	return (long)bytes_in_use() - (long)base;
}

#define SF_ROUNDS 20000
#define SF_NODE 64               /* bytes: a small block */
#define SF_LAST 60               /* freed by the thread's last transaction */
#define SF_LAST_SIZE 1000        /* bytes each: small too */

static struct {
	void *slot;              /* the one live node of the churn */
	long pad[7];
	void *last[SF_LAST];
} sf;

/* Replaces the node in the slot by a new one and frees the old. */
static void sf_swap_fn(void *arg)
{
	void *n = lucid_malloc(SF_NODE), *old = lucid_read(sf.slot);

	(void)arg;
	ck_assert_ptr_nonnull(n);
	lucid_write(sf.slot, n);
	lucid_free(old);
}

static void sf_last_alloc_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < SF_LAST; i++) {
		void *p = lucid_malloc(SF_LAST_SIZE);

		ck_assert_ptr_nonnull(p);
		lucid_write(sf.last[i], p);
	}
}

static void sf_last_free_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < SF_LAST; i++) {
		lucid_free(lucid_read(sf.last[i]));
		lucid_write(sf.last[i], (void *)NULL);
	}
}

static void *sf_thread(void *arg)
{
	long *growth = arg;
	size_t before;

	ck_assert_int_eq(lucid_run(sf_swap_fn, NULL), 0);   /* the descriptor exists */
	reclaim_all();
	before = bytes_in_use();
	for (int i = 0; i < SF_ROUNDS; i++)
		ck_assert_int_eq(lucid_run(sf_swap_fn, NULL), 0);
	/* Every batch closed so far is done; the thread frees done batches
	 * at its next commit that allocates or frees. */
	reclaim_all();
	ck_assert_int_eq(lucid_run(sf_swap_fn, NULL), 0);
	*growth = bytes_since(before);
	ck_assert_int_eq(lucid_run(sf_last_alloc_fn, NULL), 0);
	ck_assert_int_eq(lucid_run(sf_last_free_fn, NULL), 0);
	return NULL;
}

/*
 * Small blocks freed in committed transactions go back to the allocator
 * from the thread that freed them, a batch at a time: a thread that
 * allocates and frees 20000 of them keeps memory for a few batches at
 * most, and the blocks still waiting in its batches when it exits (here
 * 60 KB freed by its last transaction) are freed then.
 */
START_TEST(test_free_small_reclaimed)
{
	long growth = 0;
	size_t base;

	reclaim_all();
	base = bytes_in_use();
	join_within(spawn(sf_thread, &growth), 120, "churn");
	ck_assert_msg(growth < 32 * 1024,
	              "%ld bytes more in use after %d transactions that each freed a %d-byte block "
	              "(%d bytes if none was reclaimed)", growth, SF_ROUNDS, SF_NODE, SF_ROUNDS * SF_NODE);
	/* The thread's descriptor and logs are freed too; its one live node stays. */
	ck_assert_msg(bytes_since(base) < 16 * 1024,
	              "%ld bytes more in use after the thread exited (its last transaction freed %d)",
	              bytes_since(base), SF_LAST * SF_LAST_SIZE);
	free(sf.slot);
}
END_TEST

#define SB_BLOCKS 8192
#define SB_SIZE 1000             /* bytes each: 8 MB of small blocks */
#define SB_BUDGET (4 << 20)      /* what a thread's batches may hold (docs/design.md) */

static void *sb_blocks[SB_BLOCKS];

static void sb_free_all_fn(void *arg)
{
	(void)arg;
	for (int i = 0; i < SB_BLOCKS; i++)
		lucid_free(sb_blocks[i]);
}

static void sb_alloc_one_fn(void *arg)
{
	*(void **)arg = lucid_malloc(SB_SIZE);
}

static void *sb_thread(void *arg)
{
	long *held = arg;
	size_t base;
	void *one = NULL;

	ck_assert_int_eq(lucid_run(sb_alloc_one_fn, &one), 0);   /* the descriptor exists */
	free(one);
	reclaim_all();
	base = bytes_in_use();
	for (int i = 0; i < SB_BLOCKS; i++)
		ck_assert_ptr_nonnull(sb_blocks[i] = malloc(SB_SIZE));
	ck_assert_int_eq(lucid_run(sb_free_all_fn, NULL), 0);
	reclaim_all();   /* every grace period is over, */
	held[0] = bytes_since(base);
	/* and the thread's next commit that allocates gives its batches back */
	ck_assert_int_eq(lucid_run(sb_alloc_one_fn, &one), 0);
	held[1] = bytes_since(base);
	free(one);
	return NULL;
}

/*
 * A thread that frees 8 MB of small blocks at once keeps at most its
 * budget of them past their grace period (the rest the library's worker
 * frees), and gives those back at its next commit that allocates.
 */
START_TEST(test_free_small_bounded)
{
	long held[2] = { 0, 0 };

	join_within(spawn(sb_thread, held), 120, "burst");
	ck_assert_msg(held[0] < SB_BUDGET + 256 * 1024,
	              "%ld bytes still in use after freeing %d blocks of %d bytes and a grace period",
	              held[0], SB_BLOCKS, SB_SIZE);
	ck_assert_msg(held[1] < 256 * 1024,
	              "%ld bytes still in use after the thread's next commit that allocated", held[1]);
}
END_TEST

/*
 * A transaction that frees many blocks (beyond the few that lucid_free
 * compares one by one) is not taken for freeing one twice, however many it
 * frees, in nested blocks too; and an attempt that is rolled back leaves
 * nothing behind: a new attempt may free the same blocks.
 */
#define FM_BLOCKS 5000
#define FM_ABORTED 100
static void *fm_block[FM_BLOCKS];

START_TEST(test_free_many)
{
	for (int i = 0; i < FM_BLOCKS; i++)
		fm_block[i] = malloc(24);
	LUCID_ATOMIC {
		for (int i = 0; i < FM_BLOCKS / 2; i++)
			lucid_free(fm_block[i]);
		LUCID_ATOMIC {
			for (int i = FM_BLOCKS / 2; i < FM_BLOCKS; i++)
				lucid_free(fm_block[i]);
		}
	}
	reclaim_all();

	for (int i = 0; i < FM_ABORTED; i++)
		fm_block[i] = malloc(24);
	volatile int runs = 0;   /* set in the block, read after it */
	LUCID_ATOMIC {
		runs++;
		for (int i = 0; i < FM_ABORTED; i++)
			lucid_free(fm_block[i]);
		lucid_abort();   /* the frees never happened */
	}
	ck_assert_int_eq(runs, 1);
	LUCID_ATOMIC {
		for (int i = FM_ABORTED - 1; i >= 0; i--)
			lucid_free(fm_block[i]);
	}
	reclaim_all();
}
END_TEST

/* ----------------------------- lucid_malloc released on abort, kept on commit */

static struct {
	long x;
	long pad1[7];
	void *ptr;
	long pad2[7];
	long flag;
	long pad3[7];
} mm;

#define MM_MAX 8
static void *mm_blocks[MM_MAX];
static enum block_state mm_states[MM_MAX];
static int mm_n;
static void *mm_q;              /* a block lucid_free'd in an attempt that aborts */
static sem_t mm_in, mm_go;

static void mm_record(void *p)
{
	int n = mm_n;

	if (n < MM_MAX) {
		mm_states[n] = block_state(p);
		mm_blocks[n] = p;
		/* released: the test looks while this thread sleeps in lucid_retry() */
		__atomic_store_n(&mm_n, n + 1, __ATOMIC_RELEASE);
	}
}

static void mm_reset(void)
{
	mm_n = 0;
	memset(mm_blocks, 0, sizeof(mm_blocks));
	memset(&mm, 0, sizeof(mm));
}

static void alloc_abort_fn(void *arg)
{
	void *p = lucid_malloc(BIG_BLOCK);

	(void)arg;
	mm_record(p);
	lucid_write(mm.ptr, p);
	lucid_abort();
}

/* Attempt 1 allocates, frees mm_q and conflicts; attempt 2 allocates, keeps mm_q. */
static void alloc_conflict_fn(void *arg)
{
	long x = lucid_read(mm.x);
	void *p = lucid_malloc(BIG_BLOCK);

	(void)arg;
	mm_record(p);
	if (x == 0)
		lucid_free(mm_q);
	lucid_write(mm.ptr, p);
	if (mm_n == 1) {
		sem_post(&mm_in);
		sem_wait_nointr(&mm_go);
	}
}

static void *alloc_conflict(void *arg)
{
	(void)arg;
	ck_assert_int_eq(lucid_run(alloc_conflict_fn, NULL), 0);
	return NULL;
}

static void alloc_retry_fn(void *arg)
{
	void *p = lucid_malloc(BIG_BLOCK);

	(void)arg;
	mm_record(p);
	if (lucid_read(mm.flag) == 0)
		lucid_retry();
	lucid_write(mm.ptr, p);
}

static void *alloc_retry(void *arg)
{
	(void)arg;
	ck_assert_int_eq(lucid_run(alloc_retry_fn, NULL), 0);
	return NULL;
}

static void free_abort_fn(void *arg)
{
	lucid_free(arg);
	lucid_free(NULL);
	lucid_abort();
}

static void alloc_free_fn(void *arg)
{
	void *p = lucid_malloc(BIG_BLOCK);

	mm_record(p);
	lucid_free(p);
	if (arg)
		lucid_abort();
}

/*
 * Block i, from an attempt that aborted, was given back: it is freed now, or
 * a later attempt got the same address (the allocator reused it, which it
 * does only with a freed block).
 */
static void assert_recorded_released(int i, const char *what)
{
	for (int j = i + 1; j < mm_n; j++)
		if (mm_blocks[j] == mm_blocks[i])
			return;
	assert_block(mm_blocks[i], BLOCK_FREED, what);
}

static void assert_recorded_live(int n, const char *what)
{
	ck_assert_int_eq(mm_n, n);
	for (int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(mm_blocks[i]);
		ck_assert_msg(mm_states[i] == BLOCK_LIVE, "%s: block %d was %s in its attempt", what, i,
		              state_name(mm_states[i]));
	}
}

START_TEST(test_malloc_abort_released)
{
	pin_mmap_threshold();

	/* Outside a transaction: malloc() and a deferred free(). */
	void *s = lucid_malloc(BIG_BLOCK);
	ck_assert_ptr_nonnull(s);
	assert_block(s, BLOCK_LIVE, "lucid_malloc outside a transaction");
	lucid_free(s);
	lucid_free(NULL);
	reclaim_all();
	assert_block(s, BLOCK_FREED, "lucid_free outside a transaction");

	/* lucid_abort(): each attempt's block is released. */
	mm_reset();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(lucid_run(alloc_abort_fn, NULL), LUCID_ABORTED);
	assert_recorded_live(3, "lucid_abort");
	ck_assert_ptr_null(mm.ptr);
	reclaim_all();
	for (int i = 0; i < 3; i++)
		assert_recorded_released(i, "allocated in an attempt left by lucid_abort");

	/* A conflict: the first attempt's block is released and its
	 * lucid_free undone; the committed attempt's block is kept. */
	mm_reset();
	mm_q = malloc(BIG_BLOCK);
	ck_assert_ptr_nonnull(mm_q);
	sem_init(&mm_in, 0, 0);
	sem_init(&mm_go, 0, 0);
	pthread_t t = spawn(alloc_conflict, NULL);
	sem_wait_nointr(&mm_in);
	LUCID_ATOMIC {
		lucid_write(mm.x, 1L);
	}
	sem_post(&mm_go);
	join_within(t, 30, "conflicting allocator");
	assert_recorded_live(2, "conflict");
	reclaim_all();
	assert_recorded_released(0, "allocated in an attempt that conflicted");
	assert_block(mm_blocks[1], BLOCK_LIVE, "allocated in the committed attempt");
	assert_block(mm_q, BLOCK_LIVE, "lucid_free'd in an attempt that conflicted");
	ck_assert_ptr_eq(mm.ptr, mm_blocks[1]);
	free(mm_blocks[1]);   /* the program's now: freed exactly once */

	/* lucid_free in a transaction that commits. */
	LUCID_ATOMIC {
		lucid_free(mm_q);
	}
	reclaim_all();
	assert_block(mm_q, BLOCK_FREED, "lucid_free'd in a committed transaction");

	/* lucid_retry(): the attempt's block is released before it sleeps. */
	mm_reset();
	uint64_t waits = stats_now().retry_waits;
	t = spawn(alloc_retry, NULL);
	wait_retry_waits(waits + 1, "allocator waiting in lucid_retry()");
	reclaim_all();
	ck_assert_int_eq(__atomic_load_n(&mm_n, __ATOMIC_ACQUIRE), 1);
	assert_block(mm_blocks[0], BLOCK_FREED, "allocated in an attempt that called lucid_retry()");
	LUCID_ATOMIC {
		lucid_write(mm.flag, 1L);
	}
	join_within(t, 30, "allocator after the flag was set");
	assert_recorded_live(2, "retry");
	ck_assert_ptr_eq(mm.ptr, mm_blocks[1]);
	assert_block(mm_blocks[1], BLOCK_LIVE, "allocated in the committed attempt after a retry");
	free(mm_blocks[1]);

	/* lucid_free in an attempt that aborts: nothing happens. */
	void *q = malloc(BIG_BLOCK);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(lucid_run(free_abort_fn, q), LUCID_ABORTED);
	reclaim_all();
	assert_block(q, BLOCK_LIVE, "lucid_free'd in a transaction left by lucid_abort");
	free(q);

	/* lucid_malloc then lucid_free in one transaction: freed once,
	 * whether it commits or aborts. */
	mm_reset();
	ck_assert_int_eq(lucid_run(alloc_free_fn, NULL), 0);
	ck_assert_int_eq(lucid_run(alloc_free_fn, (void *)1), LUCID_ABORTED);
	assert_recorded_live(2, "malloc and free in one transaction");
	reclaim_all();
	assert_block(mm_blocks[1], BLOCK_FREED, "lucid_malloc'd and lucid_free'd, aborted");
	if (mm_blocks[0] != mm_blocks[1])
		assert_block(mm_blocks[0], BLOCK_FREED, "lucid_malloc'd and lucid_free'd, committed");
}
END_TEST

/* ============================================================== handlers */

static struct {
	long v;
	long pad1[7];
	long w;
	long pad2[7];
	long lock;        /* held by another thread to make attempts abort */
	long pad3[7];
} hw;

/* Registered A, B, C: run A, B, C, once; abort handlers not on commit. */
START_TEST(test_handlers_order_once)
{
	hlog_reset();
	LUCID_ATOMIC {
		lucid_on_commit(log_h, "A");
		lucid_on_abort(log_h, "x");
		lucid_on_commit(log_h, "B");
		lucid_on_abort(log_h, "y");
		lucid_on_commit(log_h, "C");
		lucid_write(hw.v, 1L);
	}
	ck_assert_str_eq(hlog, "ABC");
	LUCID_ATOMIC {
		lucid_write(hw.v, 2L);
	}
	ck_assert_str_eq(hlog, "ABC");
	/* Read-only transactions run their handlers too. */
	LUCID_ATOMIC {
		(void)lucid_read(hw.v);
		lucid_on_commit(log_h, "D");
	}
	ck_assert_str_eq(hlog, "ABCD");
}
END_TEST

static int h_in_tx, h_seen_plain, h_seen_tx;

static void abort_sees_rollback_h(void *arg)
{
	(void)arg;
	h_in_tx = lucid_in_transaction();
	h_seen_plain = (int)__atomic_load_n(&hw.v, __ATOMIC_RELAXED);
	LUCID_ATOMIC {
		h_seen_tx = (int)lucid_read(hw.v);
	}
	log_h("u");
}

/* lucid_abort(): its abort handlers run, in order, after the rollback; the block is left. */
START_TEST(test_handlers_lucid_abort)
{
	static volatile int after_abort;

	hw.v = 3;
	hlog_reset();
	after_abort = 0;
	LUCID_ATOMIC {
		lucid_on_commit(log_h, "A");
		lucid_on_abort(log_h, "x");
		lucid_write(hw.v, 99L);
		LUCID_ATOMIC {
			lucid_on_abort(log_h, "y");
			lucid_on_abort(abort_sees_rollback_h, NULL);
			lucid_on_commit(log_h, "B");
			lucid_abort();
		}
		after_abort = 1;
	}
	ck_assert_str_eq(hlog, "xyu");
	ck_assert_int_eq(after_abort, 0);
	ck_assert_int_eq(h_in_tx, 0);
	ck_assert_int_eq(h_seen_plain, 3);
	ck_assert_int_eq(h_seen_tx, 3);
	ck_assert_int_eq(hw.v, 3);
	/* The next transaction runs none of them. */
	LUCID_ATOMIC {
		lucid_write(hw.v, 4L);
	}
	ck_assert_str_eq(hlog, "xyu");
}
END_TEST

static void inner_commit_h(void *arg)
{
	(void)arg;
	log_h("c");
	h_in_tx = lucid_in_transaction();
}

static void commit_sees_commit_h(void *arg)
{
	(void)arg;
	log_h("C");
	h_in_tx = lucid_in_transaction();
	h_seen_plain = (int)__atomic_load_n(&hw.v, __ATOMIC_RELAXED);
	LUCID_ATOMIC {
		h_seen_tx = (int)lucid_read(hw.v);
		lucid_write(hw.w, lucid_read(hw.v) + 1);
		lucid_on_commit(inner_commit_h, NULL);
	}
	log_h("D");
	/* A transaction of a handler that aborts runs its abort handlers. */
	LUCID_ATOMIC {
		lucid_on_abort(log_h, "z");
		lucid_abort();
	}
}

/* Commit handlers see the committed values, outside the transaction, and
 * may run transactions with handlers of their own. */
START_TEST(test_handlers_commit_sees_values)
{
	hlog_reset();
	h_in_tx = -1;
	LUCID_ATOMIC {
		lucid_write(hw.v, 5L);
		lucid_on_commit(commit_sees_commit_h, NULL);
		lucid_on_commit(log_h, "E");
	}
	ck_assert_str_eq(hlog, "CcDzE");
	ck_assert_int_eq(h_in_tx, 0);
	ck_assert_int_eq(h_seen_plain, 5);
	ck_assert_int_eq(h_seen_tx, 5);
	ck_assert_int_eq(hw.w, 6);
	ck_assert(!lucid_in_transaction());
}
END_TEST

static void reg_c_fn(void *arg)
{
	(void)arg;
	lucid_on_commit(log_h, "C");
	lucid_on_abort(log_h, "x");
}

/* Flat nesting: handlers of inner blocks and nested lucid_run run with the outer commit. */
START_TEST(test_handlers_nested)
{
	static volatile int early;

	hlog_reset();
	early = 0;
	LUCID_ATOMIC {
		lucid_on_commit(log_h, "A");
		LUCID_ATOMIC {
			lucid_on_commit(log_h, "B");
			lucid_write(hw.v, 7L);
		}
		if (hlog[0])
			early = 1;
		ck_assert_int_eq(lucid_run(reg_c_fn, NULL), 0);
		if (hlog[0])
			early = 1;
		lucid_on_commit(log_h, "D");
	}
	ck_assert_int_eq(early, 0);
	ck_assert_str_eq(hlog, "ABCD");
	ck_assert_int_eq(hw.v, 7);
}
END_TEST

/* ------------------------------------ each aborted attempt, after rollback */

static sem_t hc_locked, hc_go;
static int hc_attempts;
static char hc_aborted[16], hc_committed[16];
static int hc_bad_rollback, hc_in_tx;
static int hc_tx_in_handler;   /* whether abort handlers also run a transaction */

static int hc_first;

static void *hc_holder(void *arg)
{
	int *first = &hc_first;   /* not a local: it must survive a re-run */

	(void)arg;
	LUCID_ATOMIC {
		lucid_write(hw.lock, 1L);
		if (*first) {
			*first = 0;
			sem_post(&hc_locked);
			sem_wait_nointr(&hc_go);
		}
	}
	return NULL;
}

static pthread_t hc_holder_thread;

static void hc_abort_h(void *arg)
{
	int a = (int)(intptr_t)arg;
	size_t n = strlen(hc_aborted);

	hc_aborted[n] = (char)('0' + a);
	hc_aborted[n + 1] = '\0';
	hc_in_tx |= lucid_in_transaction();
	if (__atomic_load_n(&hw.v, __ATOMIC_RELAXED) != 0)
		hc_bad_rollback++;
	if (hc_tx_in_handler) {
		LUCID_ATOMIC {
			if (lucid_read(hw.v) != 0)
				hc_bad_rollback++;
		}
	}
	if (a == 3) {
		/* Let the holder commit; attempt 4 then goes through. */
		sem_post(&hc_go);
		pthread_join(hc_holder_thread, NULL);
	}
}

static void hc_commit_h(void *arg)
{
	size_t n = strlen(hc_committed);

	hc_committed[n] = (char)('0' + (int)(intptr_t)arg);
	hc_committed[n + 1] = '\0';
}

static void hc_fn(void *arg)
{
	int a = __atomic_add_fetch(&hc_attempts, 1, __ATOMIC_RELAXED);

	(void)arg;
	lucid_on_abort(hc_abort_h, (void *)(intptr_t)a);
	lucid_on_commit(hc_commit_h, (void *)(intptr_t)a);
	lucid_write(hw.v, 100L + a);
	lucid_write(hw.lock, 2L);   /* aborts while the holder has it */
}

/*
 * Three attempts abort on a word another transaction holds: each runs its
 * own abort handler once, after rollback, and its commit handler never;
 * the fourth commits and runs only its commit handler. _i == 1: the abort
 * handlers also run a transaction, which must not change how the outer
 * transaction is counted (consecutive aborts).
 */
START_TEST(test_handlers_each_attempt)
{
	hc_tx_in_handler = _i;
	hc_first = 1;
	hc_attempts = hc_bad_rollback = hc_in_tx = 0;
	hc_aborted[0] = hc_committed[0] = '\0';
	memset(&hw, 0, sizeof(hw));
	struct lucid_stats st0 = stats_now();
	sem_init(&hc_locked, 0, 0);
	sem_init(&hc_go, 0, 0);
	hc_holder_thread = spawn(hc_holder, NULL);
	sem_wait_nointr(&hc_locked);
	ck_assert_int_eq(lucid_run(hc_fn, NULL), 0);

	ck_assert_int_eq(hc_attempts, 4);
	ck_assert_str_eq(hc_aborted, "123");
	ck_assert_str_eq(hc_committed, "4");
	ck_assert_int_eq(hc_bad_rollback, 0);
	ck_assert_int_eq(hc_in_tx, 0);
	ck_assert_int_eq(hw.v, 104);
	ck_assert_int_eq(hw.lock, 2);
	struct lucid_stats st = stats_now();
	ck_assert_uint_eq(st.aborts_by_reason[LUCID_ABORT_WRITE_LOCKED] -
	                  st0.aborts_by_reason[LUCID_ABORT_WRITE_LOCKED], 3);
	ck_assert_msg(st.max_retries == 3, "max_retries %" PRIu64 " after 3 consecutive aborts%s",
	              st.max_retries, _i ? " (abort handlers ran transactions)" : "");
}
END_TEST

/* -------------- a handler's transaction during an irrevocable restart */

static int hi_attempts, hi_after, hi_handler_runs;
static long hi_counter;

static void hi_abort_h(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&hi_handler_runs, 1, __ATOMIC_RELAXED);
	/* e.g. bookkeeping in a transaction of its own */
	LUCID_ATOMIC {
		lucid_write(hi_counter, lucid_read(hi_counter) + 1);
	}
}

static void hi_fn(void *arg)
{
	(void)arg;
	if (__atomic_add_fetch(&hi_attempts, 1, __ATOMIC_RELAXED) > 50)
		exit(12);   /* never gets irrevocable: give up */
	lucid_on_abort(hi_abort_h, NULL);
	(void)lucid_read(hw.v);
	lucid_irrevocable();
	hi_after++;
	lucid_write(hw.v, 1L);
}

static void child_irrevocable_with_abort_handler(void)
{
	ck_assert_int_eq(lucid_run(hi_fn, NULL), 0);
	struct lucid_stats st = stats_now();
	if (hi_after != 1 || hi_attempts != 2 || hi_handler_runs != 1)
		exit(13);
	if (st.irrevocable != 1)
		exit(14);
}

/* The first attempt's abort to restart irrevocable runs an abort handler
 * that runs a transaction: the restart still happens, once. */
START_TEST(test_handlers_irrevocable_restart)
{
	assert_child_ok(child_irrevocable_with_abort_handler,
	                "lucid_irrevocable() with an abort handler that runs a transaction "
	                "(exit 12: more than 50 attempts, 13: wrong attempt counts, 14: stats.irrevocable != 1)");
}
END_TEST

/* ================================================================== fork */

static struct {
	long counter;
	long pad1[7];
	long wake;
	long pad2[7];
	long child;
	long pad3[7];
} fk;

static int fk_stop;

/*
 * Under ThreadSanitizer a child of a multi-threaded process must not start
 * threads (it reuses the parent's thread ids: "dup thread with used id"),
 * and liburcu's fork handler starts a call_rcu worker in the child if the
 * process has used call_rcu: there the fork case uses no lucid_free and
 * starts no thread in the child.
 */
#ifdef __SANITIZE_THREAD__
#define FORK_FULL 0
#else
#define FORK_FULL 1
#endif

static void fk_increment(int irrevocable)
{
	LUCID_ATOMIC {
		void *p = lucid_malloc(64);

		if (irrevocable)
			lucid_irrevocable();
		lucid_write(fk.counter, lucid_read(fk.counter) + 1);
		/* Hold the lock a while: a fork meanwhile must wait for this
		 * transaction to end, or the child would inherit the lock. */
		usleep(100);
		if (FORK_FULL)
			lucid_free(p);
		else
			free(p);   /* committed: the program's, and nobody else saw it */
	}
}

static void *fk_worker(void *arg)
{
	(void)arg;
	for (long n = 1; !__atomic_load_n(&fk_stop, __ATOMIC_ACQUIRE); n++)
		fk_increment(n % 64 == 0);
	return NULL;
}

static void fk_wait_fn(void *arg)
{
	(void)arg;
	if (lucid_read(fk.wake) == 0)
		lucid_retry();
}

static void *fk_waiter(void *arg)
{
	(void)arg;
	ck_assert_int_eq(lucid_run(fk_wait_fn, NULL), 0);
	return NULL;
}

static void *fk_child_waiter(void *arg)
{
	(void)arg;
	LUCID_ATOMIC {
		if (lucid_read(fk.child) == 0)
			lucid_retry();
	}
	return NULL;
}

static int fk_handler_rerun;

/* An abort handler that changes what the attempt read: its lucid_retry()
 * finds the change at once and does not sleep. */
static void fk_change_h(void *arg)
{
	(void)arg;
	LUCID_ATOMIC {
		lucid_write(fk.child, 2L);
	}
}

static void fk_retry_no_block_fn(void *arg)
{
	(void)arg;
	if (lucid_read(fk.child) == 0) {
		lucid_on_abort(fk_change_h, NULL);
		lucid_retry();
	}
	fk_handler_rerun++;
}

/* What the child of a fork outside transactions checks; the exit status
 * says which step failed. */
static int fork_child_main(void)
{
	LSAN_OFF_IN_CHILD();
	long before = fk.counter;   /* no other thread here */
	void *p;

	if (lucid_in_transaction())
		return 20;
	LUCID_ATOMIC {
		lucid_write(fk.counter, lucid_read(fk.counter) + 1000);
	}
	if (fk.counter != before + 1000)
		return 21;
	LUCID_ATOMIC {
		lucid_irrevocable();
		lucid_write(fk.counter, lucid_read(fk.counter) + 1);
	}
	fk.child = 0;
	if (lucid_run(fk_retry_no_block_fn, NULL) != 0 || fk_handler_rerun != 1 || fk.child != 2)
		return 22;
	if (FORK_FULL) {
		LUCID_ATOMIC {
			void *q = lucid_malloc(32);

			lucid_free(q);
		}
		p = lucid_malloc(32);
		lucid_free(p);
		reclaim_all();   /* the call_rcu worker works in the child */

		/* A waiter sleeps in lucid_retry() and wakes on a commit. */
		uint64_t waits = stats_now().retry_waits;   /* the parent's threads' included */
		pthread_t t;

		fk.child = 0;
		if (pthread_create(&t, NULL, fk_child_waiter, NULL) != 0)
			return 23;
		while (stats_now().retry_waits == waits)
			sleep_ms(1);
		LUCID_ATOMIC {
			lucid_write(fk.child, 1L);
		}
		pthread_join(t, NULL);
	}
	struct lucid_stats st = stats_now();
	if (st.commits == 0 || st.irrevocable == 0)
		return 24;
	return 0;
}

/* Waits for a child with a deadline; a hung child is killed. */
static void wait_child(pid_t pid, const char *what)
{
	int status = 0;
	double end = now_s() + 60;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("%s: the child hung for 60 s (deadlock after fork?)", what);
		}
		sleep_ms(2);
	}
	ck_assert_int_eq(r, pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s: the child ended with status %#x (%s %d; see fork_child_main)", what, status,
	              WIFSIGNALED(status) ? "signal" : "exit code",
	              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static pid_t fk_handler_pid;

static void fork_h(void *arg)
{
	(void)arg;
	fflush(NULL);
	fk_handler_pid = fork();
	if (fk_handler_pid == 0)
		exit(fork_child_main());
}

/*
 * fork() outside transactions while other threads commit, take the
 * irrevocability token and sleep in lucid_retry(): no deadlock, the child
 * can use every feature, the parent goes on. Also from a commit handler,
 * which is what the misuse message for fork() in a transaction advises.
 */
START_TEST(test_fork)
{
	enum { FORKS = 10 };
	pthread_t workers[2], waiter;

	memset(&fk, 0, sizeof(fk));
	fk_stop = 0;
	fk_handler_pid = 0;
	fk_handler_rerun = 0;
	uint64_t waits = stats_now().retry_waits;

	for (int i = 0; i < 2; i++)
		workers[i] = spawn(fk_worker, NULL);
	waiter = spawn(fk_waiter, NULL);
	wait_retry_waits(waits + 1, "waiter");
	for (int i = 0; i < FORKS; i++) {
		fflush(NULL);
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			exit(fork_child_main());
		wait_child(pid, "fork outside a transaction");
	}
	long c0 = tx_read_long(&fk.counter);
	sleep_ms(20);
	long c1 = tx_read_long(&fk.counter);
	ck_assert_msg(c1 > c0, "the parent's threads stopped after fork (counter %ld then %ld)", c0, c1);

	LUCID_ATOMIC {
		lucid_write(fk.wake, 1L);
		lucid_on_commit(fork_h, NULL);
	}
	ck_assert_int_gt(fk_handler_pid, 0);
	wait_child(fk_handler_pid, "fork in a commit handler");

	__atomic_store_n(&fk_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		join_within(workers[i], 30, "worker after the forks");
	join_within(waiter, 30, "waiter after the forks");
}
END_TEST

/* ================================================================ misuse */

static long mu;

static void do_retry_outside(void)
{
	lucid_retry();
}

static void do_irrevocable_outside(void)
{
	lucid_irrevocable();
}

static void do_on_commit_outside(void)
{
	lucid_on_commit(log_h, "A");
}

static void do_on_abort_outside(void)
{
	lucid_on_abort(log_h, "A");
}

static void do_on_commit_null(void)
{
	LUCID_ATOMIC {
		lucid_on_commit(NULL, NULL);
	}
}

static void do_on_abort_null(void)
{
	LUCID_ATOMIC {
		lucid_on_abort(NULL, NULL);
	}
}

static void irrevocable_h(void *arg)
{
	(void)arg;
	lucid_irrevocable();
}

static void do_irrevocable_in_handler(void)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		lucid_on_commit(irrevocable_h, NULL);
	}
}

static void retry_h(void *arg)
{
	(void)arg;
	lucid_retry();
}

static void do_retry_in_abort_handler(void)
{
	LUCID_ATOMIC {
		lucid_on_abort(retry_h, NULL);
		lucid_abort();
	}
}

/* The misuse messages that name a block give its line: these functions
 * keep LUCID_ATOMIC exactly MU_OFFSET lines below their marker. */
#define MU_OFFSET 3

static const int line_retry_irrevocable = __LINE__ + MU_OFFSET;
static void do_retry_after_irrevocable(void)
{
	LUCID_ATOMIC {
		if (lucid_read(mu) == 0) {
			lucid_irrevocable();
			lucid_retry();
		}
	}
}

static const int line_abort_irrevocable = __LINE__ + MU_OFFSET;
static void do_abort_after_irrevocable(void)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		lucid_irrevocable();
		lucid_abort();
	}
}

static const int line_retry_nothing_read = __LINE__ + MU_OFFSET;
static void do_retry_nothing_read(void)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		lucid_retry();
	}
}

static const int line_thread_exit = __LINE__ + MU_OFFSET;
static void *thread_exits_inside(void *arg)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		pthread_exit(arg);
	}
	return NULL;
}

static void do_thread_exit_inside(void)
{
	pthread_t t;

	pthread_create(&t, NULL, thread_exits_inside, NULL);
	pthread_join(t, NULL);
}

static const int line_program_exit = __LINE__ + MU_OFFSET;
static void do_exit_inside(void)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		exit(0);
	}
}

static const int line_fork = __LINE__ + MU_OFFSET;
static void do_fork_inside(void)
{
	LUCID_ATOMIC {
		lucid_write(mu, 1L);
		if (fork() == 0)
			_exit(0);   /* not reached: the misuse stops the parent first */
	}
}

static void *df_block;

static const int line_double_free = __LINE__ + MU_OFFSET;
static void do_double_free(void)
{
	LUCID_ATOMIC {
		lucid_free(df_block);
		LUCID_ATOMIC {
			lucid_free(df_block);   /* the same transaction: flat nesting */
		}
	}
}

static const int line_double_free_own = __LINE__ + MU_OFFSET;
static void do_double_free_own(void)
{
	LUCID_ATOMIC {
		void *p = lucid_malloc(16);

		lucid_free(p);
		lucid_free(p);
	}
}

/* Past the first few frees of a transaction, lucid_free looks a block up
 * in a hash set of them: the same misuse is found there, at any position. */
#define DF_MANY 100
static void *df_many[DF_MANY];
static int df_again;   /* which of them is freed again */

static const int line_double_free_many = __LINE__ + MU_OFFSET;
static void do_double_free_many(void)
{
	LUCID_ATOMIC {
		for (int i = 0; i < DF_MANY; i++)
			lucid_free(df_many[i]);
		lucid_free(df_many[df_again]);
	}
}

static void do_double_free_prepare(void)
{
	df_block = malloc(16);
	do_double_free();
}

/* "block at FILE:LINE (in FUNC())" for a block above. */
static const char *at(int line, const char *func)
{
	static char buf[4][256];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "%s:%d (in %s())", __FILE__, line, func);
	return b;
}

START_TEST(test_misuse_outside)
{
	assert_misuse(do_retry_outside, "lucid_retry() called outside a transaction", "LUCID_ATOMIC");
	assert_misuse(do_irrevocable_outside, "lucid_irrevocable() called outside a transaction", NULL);
	assert_misuse(do_on_commit_outside, "lucid_on_commit() called outside a transaction",
	              "register handlers inside LUCID_ATOMIC");
	assert_misuse(do_on_abort_outside, "lucid_on_abort() called outside a transaction",
	              "register handlers inside LUCID_ATOMIC");
	/* Handlers run outside the transaction. */
	assert_misuse(do_irrevocable_in_handler, "lucid_irrevocable() called outside a transaction", NULL);
	assert_misuse(do_retry_in_abort_handler, "lucid_retry() called outside a transaction", NULL);
}
END_TEST

START_TEST(test_misuse_null_handler)
{
	assert_misuse(do_on_commit_null, "lucid_on_commit() called with a NULL function",
	              "pass the function to run");
	assert_misuse(do_on_abort_null, "lucid_on_abort() called with a NULL function",
	              "pass the function to run");
}
END_TEST

START_TEST(test_misuse_irrevocable)
{
	assert_misuse(do_retry_after_irrevocable, "lucid_retry() after lucid_irrevocable()",
	              at(line_retry_irrevocable, "do_retry_after_irrevocable"));
	assert_misuse(do_retry_after_irrevocable, "cannot be rolled back",
	              "before calling lucid_irrevocable()");
	assert_misuse(do_abort_after_irrevocable, "lucid_abort() after lucid_irrevocable()",
	              at(line_abort_irrevocable, "do_abort_after_irrevocable"));
	assert_misuse(do_abort_after_irrevocable, "cannot be rolled back",
	              "before calling lucid_irrevocable()");
}
END_TEST

START_TEST(test_misuse_retry_nothing_read)
{
	assert_misuse(do_retry_nothing_read, "has read nothing would wait forever",
	              at(line_retry_nothing_read, "do_retry_nothing_read"));
	assert_misuse(do_retry_nothing_read, "read the shared data", NULL);
}
END_TEST

START_TEST(test_misuse_exit_inside)
{
	assert_misuse(do_thread_exit_inside, "a thread exited inside the transaction of the LUCID_ATOMIC block at",
	              at(line_thread_exit, "thread_exits_inside"));
	assert_misuse(do_thread_exit_inside, "do not call pthread_exit() or exit() inside one", NULL);
	assert_misuse(do_exit_inside, "the program exited inside the transaction of the LUCID_ATOMIC block at",
	              at(line_program_exit, "do_exit_inside"));
}
END_TEST

START_TEST(test_misuse_fork_inside)
{
	assert_misuse(do_fork_inside, "fork() called inside the transaction of the LUCID_ATOMIC block at",
	              at(line_fork, "do_fork_inside"));
	assert_misuse(do_fork_inside, "call fork() outside transactions", "lucid_on_commit()");
}
END_TEST

START_TEST(test_misuse_double_free)
{
	assert_misuse(do_double_free_prepare, "called twice in one transaction",
	              at(line_double_free, "do_double_free"));
	assert_misuse(do_double_free_prepare, "free each block once", NULL);
	assert_misuse(do_double_free_own, "called twice in one transaction",
	              at(line_double_free_own, "do_double_free_own"));
	/* The message names the block's address. */
	struct outcome o;
	run_child(do_double_free_own, &o);
	ck_assert_msg(strstr(o.err, "lucid_free(0x") != NULL, "no address in: %s", o.err);

	for (int i = 0; i < DF_MANY; i++)
		df_many[i] = malloc(16);
	const int again[] = { 0, 31, 32, 50, DF_MANY - 1 };
	for (size_t k = 0; k < sizeof(again) / sizeof(again[0]); k++) {
		df_again = again[k];
		assert_misuse(do_double_free_many, "called twice in one transaction",
		              at(line_double_free_many, "do_double_free_many"));
	}
	for (int i = 0; i < DF_MANY; i++)
		free(df_many[i]);
}
END_TEST

/* ================================================================= suite */

static Suite *features_suite(void)
{
	Suite *s = suite_create("features");
	static const struct {
		const char *name;
		const TTest *const *test;
		int loops;
	} cases[] = {
		{ "bounded_buffer", &test_bounded_buffer, 2 },
		{ "idle_consumers_use_no_cpu", &test_idle_consumers_use_no_cpu, 1 },
		{ "retry_wakes_on_change_only", &test_retry_wakes_on_change_only, 1 },
		{ "irrevocable_file", &test_irrevocable_file, 1 },
		{ "irrevocable_never_aborts", &test_irrevocable_never_aborts, 2 },
		{ "irrevocable_others_run", &test_irrevocable_others_run, 2 },
		{ "irrevocable_rerun_may_retry", &test_irrevocable_rerun_may_retry, 1 },
		{ "list_free", &test_list_free, 1 },
		{ "free_deferred", &test_free_deferred, 1 },
		{ "free_small_while_read", &test_free_small_while_read, 1 },
		{ "free_small_shared_barrier", &test_free_small_shared_barrier, 1 },
		{ "free_small_reclaimed", &test_free_small_reclaimed, 1 },
		{ "free_small_bounded", &test_free_small_bounded, 1 },
		{ "free_many", &test_free_many, 1 },
		{ "malloc_abort_released", &test_malloc_abort_released, 1 },
		{ "handlers_order_once", &test_handlers_order_once, 1 },
		{ "handlers_lucid_abort", &test_handlers_lucid_abort, 1 },
		{ "handlers_commit_sees_values", &test_handlers_commit_sees_values, 1 },
		{ "handlers_nested", &test_handlers_nested, 1 },
		{ "handlers_each_attempt", &test_handlers_each_attempt, 2 },
		{ "handlers_irrevocable_restart", &test_handlers_irrevocable_restart, 1 },
		{ "fork", &test_fork, 1 },
		{ "misuse_outside", &test_misuse_outside, 1 },
		{ "misuse_null_handler", &test_misuse_null_handler, 1 },
		{ "misuse_irrevocable", &test_misuse_irrevocable, 1 },
		{ "misuse_retry_nothing_read", &test_misuse_retry_nothing_read, 1 },
		{ "misuse_exit_inside", &test_misuse_exit_inside, 1 },
		{ "misuse_fork_inside", &test_misuse_fork_inside, 1 },
		{ "misuse_double_free", &test_misuse_double_free, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, TIMEOUT);
		tcase_add_loop_test(tc, *cases[i].test, 0, cases[i].loops);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return test_run_suite(features_suite());
}
