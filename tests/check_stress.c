/* tests: short multi-threaded stress runs with invariant checks (make check tier). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>
#include "stm/stm-internal.h"
#include "tests/testutil.h"

/*
 * Every case runs at 2, 4 and 8 threads (a loop test over thread_counts) for
 * test_stress_seconds(1.5) seconds. Invariants are checked twice: inside the
 * transactions, where opacity promises that no attempt, not even one that
 * will abort, sees an inconsistent state (a violation is counted in a global
 * atomic counter, since a local changed inside a block is indeterminate after
 * a re-run), and after the threads are joined, with plain reads. Each
 * thread has its own random stream, derived from LUCID_STRESS_SEED (default
 * 1), the test and the thread index; failure messages give the seed.
 *
 * On a machine with few cores, threads mostly take turns by time slices and
 * rarely overlap inside a transaction; a few transactions therefore yield
 * the CPU in the middle (between their reads and their writes), so that
 * others commit in between and the conflict paths are exercised. Only
 * the first attempt yields (the flag lives in memory, cleared when used):
 * one that yielded at every attempt would only ever commit in serial mode.
 */

/* Yields the CPU if *flag is set, and clears it. */
static void yield_once(int *flag)
{
	if (*flag) {
		*flag = 0;
		sched_yield();
	}
}

#define STRESS_TIMEOUT 120
#define STRESS_DEFAULT_SECONDS 1.5

static const int thread_counts[] = { 2, 4, 8 };
#define N_THREAD_COUNTS ((int)(sizeof(thread_counts) / sizeof(thread_counts[0])))

/* ------------------------------------------------------------ common */

static int stop_flag;
static pthread_barrier_t start_barrier;
static uint64_t violations;
static char first_violation[512];

/* Records an invariant broken inside a transaction; the first message is
 * kept for the failure report and the first few are printed at once, in
 * case the process dies before the check. */
static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	uint64_t n = __atomic_fetch_add(&violations, 1, __ATOMIC_SEQ_CST);
	char msg[sizeof(first_violation)];
	va_list ap;

	if (n >= 5)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n == 0)
		memcpy(first_violation, msg, sizeof(msg));
	fprintf(stderr, "check_stress: opacity violation: %s\n", msg);
}

/* For worker threads, where ck_assert must not be used. */
static void *xcalloc(size_t size)
{
	void *p = calloc(1, size);

	if (!p) {
		fprintf(stderr, "check_stress: out of memory\n");
		abort();
	}
	return p;
}

static void stress_reset(void)
{
	__atomic_store_n(&stop_flag, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&violations, 0, __ATOMIC_SEQ_CST);
	first_violation[0] = '\0';
}

static int stopping(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_RELAXED);
}

/* Each worker calls this first, so that all start together. */
static void worker_started(void)
{
	pthread_barrier_wait(&start_barrier);
}

static uint64_t stress_seed(void)
{
	const char *s = getenv("LUCID_STRESS_SEED");

	return s && *s ? strtoull(s, NULL, 0) : 1;
}

/* splitmix64: spreads (seed, test, thread) into independent streams. */
static uint64_t seed_for(uint64_t test, int thread)
{
	uint64_t z = stress_seed() * 0x9E3779B97F4A7C15ULL + test * 0xBF58476D1CE4E5B9ULL +
	             (uint64_t)thread * 0x94D049BB133111EBULL + 1;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : 1;
}

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec d;

	if (s <= 0)
		return;
	d.tv_sec = (time_t)s;
	d.tv_nsec = (long)((s - (double)d.tv_sec) * 1e9);
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

/*
 * Runs @p n workers fn(ws + i * size) for @p seconds; then, while more()
 * (if given) says so, for up to @p extra seconds longer. Stops and joins
 * them and returns the time they ran.
 */
static double run_workers(void *ws, size_t size, int n, void *(*fn)(void *), double seconds,
                          int (*more)(void), double extra)
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	double t0, t1;

	ck_assert_ptr_nonnull(th);
	ck_assert_int_eq(pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1), 0);
	for (int i = 0; i < n; i++)
		ck_assert_msg(pthread_create(&th[i], NULL, fn, (char *)ws + (size_t)i * size) == 0,
		              "cannot create worker %d of %d", i, n);
	pthread_barrier_wait(&start_barrier);
	t0 = now_s();
	sleep_s(seconds);
	if (more) {
		double deadline = now_s() + extra;

		while (more() && now_s() < deadline)
			sleep_s(0.005);
	}
	__atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	pthread_barrier_destroy(&start_barrier);
	free(th);
	return t1 - t0;
}

static void check_no_violation(const char *test, int threads)
{
	uint64_t v = __atomic_load_n(&violations, __ATOMIC_SEQ_CST);

	ck_assert_msg(v == 0,
	              "%s, %d threads, seed %" PRIu64 ": %" PRIu64
	              " opacity violations inside transactions; first: %s",
	              test, threads, stress_seed(), v, first_violation);
}

/*
 * Checks the statistics of a run against what the workers counted:
 * @p commits transactions completed (@p commits_ro of them read-only, or
 * UINT64_MAX for "not known"), aborts by reason summing to the aborts, no
 * explicit abort or retry (no test asks for one), and no transaction with
 * more consecutive aborts than the serial-mode bound. Prints one line.
 */
static void check_stats(const char *test, int threads, double secs, const struct lucid_stats *b,
                        uint64_t commits, uint64_t commits_ro, struct lucid_stats *delta)
{
	struct lucid_stats a, d;
	uint64_t sum = 0;

	ck_assert_int_eq(lucid_stats_get(&a), 0);
	memset(&d, 0, sizeof(d));
	d.commits = a.commits - b->commits;
	d.commits_ro = a.commits_ro - b->commits_ro;
	d.aborts = a.aborts - b->aborts;
	d.serial = a.serial - b->serial;
	d.extensions = a.extensions - b->extensions;
	d.threads = a.threads - b->threads;
	d.max_retries = a.max_retries;
	for (int r = 0; r < LUCID_ABORT_REASONS_MAX; r++) {
		d.aborts_by_reason[r] = a.aborts_by_reason[r] - b->aborts_by_reason[r];
		sum += d.aborts_by_reason[r];
	}
	printf("stress %s threads=%d secs=%.2f commits=%" PRIu64 " ro=%" PRIu64 " aborts=%" PRIu64,
	       test, threads, secs, d.commits, d.commits_ro, d.aborts);
	for (int r = 0; r < LUCID_ABORT_REASONS; r++)
		if (d.aborts_by_reason[r])
			printf(" %s=%" PRIu64, lucid_abort_reason_name(r), d.aborts_by_reason[r]);
	printf(" serial=%" PRIu64 " extensions=%" PRIu64 " max_retries=%" PRIu64 "\n", d.serial,
	       d.extensions, d.max_retries);
	fflush(stdout);

	ck_assert_msg(d.commits == commits,
	              "%s, %d threads: lucid_stats_get counted %" PRIu64
	              " commits, the threads completed %" PRIu64 " transactions",
	              test, threads, d.commits, commits);
	if (commits_ro != UINT64_MAX)
		ck_assert_msg(d.commits_ro == commits_ro,
		              "%s, %d threads: lucid_stats_get counted %" PRIu64
		              " read-only commits, the threads completed %" PRIu64,
		              test, threads, d.commits_ro, commits_ro);
	ck_assert_msg(sum == d.aborts,
	              "%s, %d threads: aborts_by_reason sums to %" PRIu64 ", aborts is %" PRIu64,
	              test, threads, sum, d.aborts);
	ck_assert_msg(d.aborts_by_reason[LUCID_ABORT_EXPLICIT] == 0 &&
	              d.aborts_by_reason[LUCID_ABORT_RETRY] == 0 &&
	              d.aborts_by_reason[LUCID_ABORT_IRREVOCABLE] == 0,
	              "%s, %d threads: aborts by reasons the test never causes: abort=%" PRIu64
	              " retry=%" PRIu64 " irrevocable=%" PRIu64,
	              test, threads, d.aborts_by_reason[LUCID_ABORT_EXPLICIT],
	              d.aborts_by_reason[LUCID_ABORT_RETRY],
	              d.aborts_by_reason[LUCID_ABORT_IRREVOCABLE]);
	ck_assert_msg(d.threads == (uint64_t)threads,
	              "%s: lucid_stats_get counted %" PRIu64 " new threads, the test ran %d",
	              test, d.threads, threads);
	/* A capacity abort may come on top of the serial_after conflicts. */
	if (a.aborts_by_reason[LUCID_ABORT_CAPACITY] == 0)
		ck_assert_msg(a.max_retries <= stm_config.serial_after,
		              "%s, %d threads: max_retries %" PRIu64
		              " exceeds the serial-mode bound %u (LUCID_SERIAL_AFTER)",
		              test, threads, a.max_retries, stm_config.serial_after);
	if (delta)
		*delta = d;
}

/* ------------------------------------------------------------ 1. bank */

#define BANK_INITIAL 1000

static long *bank_accounts;
static long bank_n;

struct bank_worker {
	uint64_t seed;
	uint64_t transfers, audits;
	int audit_pct;
	int yield;
	char pad[64];
};

static void bank_transfer(long from, long to, long amount, int *yield)
{
	LUCID_ATOMIC {
		long a = lucid_read(bank_accounts[from]);
		long b = lucid_read(bank_accounts[to]);

		yield_once(yield);
		lucid_write(bank_accounts[from], a - amount);
		lucid_write(bank_accounts[to], b + amount);
	}
}

static void bank_audit(int *yield)
{
	LUCID_ATOMIC {
		long sum = 0;

		for (long i = 0; i < bank_n; i++) {
			if (i == bank_n / 2)
				yield_once(yield);
			sum += lucid_read(bank_accounts[i]);
		}
		if (sum != bank_n * BANK_INITIAL)
			violation("bank: an audit of %ld accounts saw the total %ld instead of %ld",
			          bank_n, sum, bank_n * BANK_INITIAL);
	}
}

static void *bank_main(void *arg)
{
	struct bank_worker *w = arg;

	worker_started();
	while (!stopping()) {
		uint64_t r = rnd(&w->seed);

		if ((int)(r % 100) < w->audit_pct) {
			w->yield = (r >> 40) % 8 == 0;
			bank_audit(&w->yield);
			w->audits++;
		} else {
			long from = (long)((r >> 8) % (uint64_t)bank_n);
			long to = (long)((r >> 24) % (uint64_t)(bank_n - 1));
			long amount = (long)((r >> 48) % 100) + 1;

			if (to >= from)
				to++;
			w->yield = (r >> 40) % 64 == 0;
			bank_transfer(from, to, amount, &w->yield);
			w->transfers++;
		}
	}
	return NULL;
}

static void bank_run(int threads, long accounts, int audit_pct, double seconds)
{
	struct bank_worker *w = calloc((size_t)threads, sizeof(*w));
	struct lucid_stats before;
	uint64_t transfers = 0, audits = 0;
	char name[64];
	long total = 0;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	bank_n = accounts;
	bank_accounts = calloc((size_t)accounts, sizeof(*bank_accounts));
	ck_assert_ptr_nonnull(bank_accounts);
	for (long i = 0; i < accounts; i++)
		bank_accounts[i] = BANK_INITIAL;
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(1000 + (uint64_t)accounts, i);
		w[i].audit_pct = audit_pct;
	}
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, bank_main, seconds, NULL, 0);

	for (int i = 0; i < threads; i++) {
		transfers += w[i].transfers;
		audits += w[i].audits;
	}
	for (long i = 0; i < accounts; i++)
		total += bank_accounts[i];
	snprintf(name, sizeof(name), "bank accounts=%ld", accounts);
	check_no_violation(name, threads);
	ck_assert_msg(total == accounts * BANK_INITIAL,
	              "%s, %d threads, seed %" PRIu64 ": final total %ld instead of %ld after %" PRIu64
	              " transfers", name, threads, stress_seed(), total, accounts * BANK_INITIAL,
	              transfers);
	ck_assert_msg(transfers > 0 && audits > 0, "%s, %d threads: %" PRIu64 " transfers, %" PRIu64
	              " audits: the run did nothing", name, threads, transfers, audits);
	check_stats(name, threads, secs, &before, transfers + audits, audits, NULL);
	free(bank_accounts);
	bank_accounts = NULL;
	free(w);
}

START_TEST(test_bank)
{
	int threads = thread_counts[_i];
	double s = test_stress_seconds(STRESS_DEFAULT_SECONDS);

	bank_run(threads, 64, 20, s / 2);
	bank_run(threads, 1024, 5, s / 2);
}
END_TEST

/* ------------------------------------------------------------ 2. zombie */

/* x and y on separate lines (and orecs); writers keep them equal. */
static struct {
	uint64_t x;
	char pad1[STM_ISOLATE - sizeof(uint64_t)];
	uint64_t y;
	char pad2[STM_ISOLATE - sizeof(uint64_t)];
	uint64_t noise[16];
} zxy __attribute__((aligned(STM_ISOLATE)));

#define ZOMBIE_SLOTS 4
static long *zombie_slots;   /* on the heap: an index off by one lands in a redzone */

struct zombie_worker {
	uint64_t seed;
	uint64_t txs;
	int writer;
	unsigned delay;      /* reads between x and y in the next reader attempt */
	int yield;           /* and whether to yield the CPU there */
	long sink;
	char pad[64];
};

static void zombie_writer_tx(void)
{
	LUCID_ATOMIC {
		uint64_t x = lucid_read(zxy.x);
		uint64_t y = lucid_read(zxy.y);

		if (x != y)
			violation("zombie: a writer read x=%" PRIu64 " y=%" PRIu64, x, y);
		if (x & 1) {
			lucid_write(zxy.y, y + 1);
			lucid_write(zxy.x, x + 1);
		} else {
			lucid_write(zxy.x, x + 1);
			lucid_write(zxy.y, y + 1);
		}
	}
}

static void zombie_reader_tx(struct zombie_worker *w)
{
	LUCID_ATOMIC {
		uint64_t x = lucid_read(zxy.x);
		uint64_t noise = 0;

		/* Widen the window in which a writer can commit between the
		 * two reads. */
		for (unsigned i = 0; i < w->delay; i++)
			noise += lucid_read(zxy.noise[i % 16]);
		yield_once(&w->yield);
		uint64_t y = lucid_read(zxy.y);
		int64_t idx = (int64_t)(x - y);

		if (x != y)
			violation("zombie: a reader read x=%" PRIu64 " then y=%" PRIu64, x, y);
		if (idx < 0 || idx >= ZOMBIE_SLOTS)
			violation("zombie: x - y = %" PRId64 " indexes outside slots[%d]", idx,
			          ZOMBIE_SLOTS);
		/* Index for real: a miss is a read out of bounds (ASan reports
		 * it, or it faults far away). */
		w->sink += zombie_slots[idx] + (long)noise;
	}
}

static void *zombie_main(void *arg)
{
	struct zombie_worker *w = arg;

	worker_started();
	while (!stopping()) {
		if (w->writer) {
			zombie_writer_tx();
		} else {
			uint64_t r = rnd(&w->seed);

			w->delay = (unsigned)(r % 64);
			w->yield = (r >> 32) % 16 == 0;
			zombie_reader_tx(w);
		}
		w->txs++;
	}
	return NULL;
}

START_TEST(test_zombie_index)
{
	int threads = thread_counts[_i];
	struct zombie_worker *w = calloc((size_t)threads, sizeof(*w));
	struct lucid_stats before;
	uint64_t txs = 0, writes = 0;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	zxy.x = zxy.y = 0;
	zombie_slots = calloc(ZOMBIE_SLOTS, sizeof(*zombie_slots));
	ck_assert_ptr_nonnull(zombie_slots);
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(2, i);
		w[i].writer = i % 2 == 0;
	}
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, zombie_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), NULL, 0);
	for (int i = 0; i < threads; i++) {
		txs += w[i].txs;
		if (w[i].writer)
			writes += w[i].txs;
	}
	check_no_violation("zombie-index", threads);
	ck_assert_msg(zxy.x == zxy.y && zxy.x == writes,
	              "zombie-index, %d threads: x=%" PRIu64 " y=%" PRIu64 " after %" PRIu64
	              " committed increments", threads, zxy.x, zxy.y, writes);
	ck_assert_msg(txs > writes, "zombie-index, %d threads: no reader committed", threads);
	check_stats("zombie-index", threads, secs, &before, txs, txs - writes, NULL);
	free(zombie_slots);
	free(w);
}
END_TEST

/*
 * The pointer variant: p points to one of two objects and n is that
 * object's length; writers swap both in one transaction. A reader follows p
 * and reads element n - 1. The small object ends right before an
 * inaccessible page, so a torn pair (the small object with the big length)
 * faults even without a sanitizer.
 */
struct zobj {
	long len;
	long data[];
};

#define ZOBJ_SMALL 4
#define ZOBJ_BIG 64

static struct {
	struct zobj *p;
	char pad1[STM_ISOLATE - sizeof(void *)];
	long n;
	char pad2[STM_ISOLATE - sizeof(long)];
} zp __attribute__((aligned(STM_ISOLATE)));

static struct zobj *zobj_small, *zobj_big;

static void zptr_writer_tx(void)
{
	LUCID_ATOMIC {
		struct zobj *o = lucid_read(zp.p);
		long n = lucid_read(zp.n);

		if (o != zobj_small && o != zobj_big)
			violation("zombie-pointer: a writer read the pointer %p", (void *)o);
		else if (lucid_read(o->len) != n)
			violation("zombie-pointer: a writer read an object of length %ld with n=%ld",
			          lucid_read(o->len), n);
		struct zobj *next = o == zobj_small ? zobj_big : zobj_small;

		if (n & 1) {
			lucid_write(zp.n, lucid_read(next->len));
			lucid_write(zp.p, next);
		} else {
			lucid_write(zp.p, next);
			lucid_write(zp.n, lucid_read(next->len));
		}
	}
}

static void zptr_reader_tx(struct zombie_worker *w)
{
	LUCID_ATOMIC {
		struct zobj *o = lucid_read(zp.p);
		uint64_t noise = 0;

		for (unsigned i = 0; i < w->delay; i++)
			noise += lucid_read(zxy.noise[i % 16]);
		yield_once(&w->yield);
		long n = lucid_read(zp.n);
		long len = lucid_read(o->len);

		if (len != n)
			violation("zombie-pointer: the object at %p has length %ld but n=%ld",
			          (void *)o, len, n);
		/* Dereference for real: past the small object is a guard page. */
		long v = lucid_read(o->data[n - 1]);

		if (v != len * 1000 + n - 1)
			violation("zombie-pointer: element %ld of the object of length %ld is %ld",
			          n - 1, len, v);
		w->sink += v + (long)noise;
	}
}

static void *zptr_main(void *arg)
{
	struct zombie_worker *w = arg;

	worker_started();
	while (!stopping()) {
		if (w->writer) {
			zptr_writer_tx();
		} else {
			uint64_t r = rnd(&w->seed);

			w->delay = (unsigned)(r % 64);
			w->yield = (r >> 32) % 16 == 0;
			zptr_reader_tx(w);
		}
		w->txs++;
	}
	return NULL;
}

START_TEST(test_zombie_pointer)
{
	int threads = thread_counts[_i];
	struct zombie_worker *w = calloc((size_t)threads, sizeof(*w));
	long page = sysconf(_SC_PAGESIZE);
	struct lucid_stats before;
	uint64_t txs = 0, writes = 0;
	size_t small_size = sizeof(struct zobj) + ZOBJ_SMALL * sizeof(long);
	char *map;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	zobj_small = (struct zobj *)(map + page - small_size);
	zobj_big = malloc(sizeof(struct zobj) + ZOBJ_BIG * sizeof(long));
	ck_assert_ptr_nonnull(zobj_big);
	zobj_small->len = ZOBJ_SMALL;
	zobj_big->len = ZOBJ_BIG;
	for (long i = 0; i < ZOBJ_SMALL; i++)
		zobj_small->data[i] = ZOBJ_SMALL * 1000 + i;
	for (long i = 0; i < ZOBJ_BIG; i++)
		zobj_big->data[i] = ZOBJ_BIG * 1000 + i;
	zp.p = zobj_small;
	zp.n = ZOBJ_SMALL;
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(3, i);
		w[i].writer = i % 2 == 0;
	}
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, zptr_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), NULL, 0);
	for (int i = 0; i < threads; i++) {
		txs += w[i].txs;
		if (w[i].writer)
			writes += w[i].txs;
	}
	check_no_violation("zombie-pointer", threads);
	ck_assert_msg(zp.p == (writes % 2 ? zobj_big : zobj_small) && zp.n == zp.p->len,
	              "zombie-pointer, %d threads: after %" PRIu64 " swaps p=%p (small %p, big %p) "
	              "n=%ld", threads, writes, (void *)zp.p, (void *)zobj_small, (void *)zobj_big,
	              zp.n);
	ck_assert_msg(txs > writes, "zombie-pointer, %d threads: no reader committed", threads);
	check_stats("zombie-pointer", threads, secs, &before, txs, txs - writes, NULL);
	munmap(map, (size_t)page * 2);
	free(zobj_big);
	free(w);
}
END_TEST

/* ------------------------------------------------------------ intsets: common */

enum { OP_CONTAINS, OP_INSERT, OP_REMOVE };

/* One set operation, run by lucid_run (which may `return` early). */
struct set_op {
	long key;
	int kind;
	int result;          /* set in every attempt: the last is the committed one */
	void *spare;         /* a fresh node for an insert */
	int yield;           /* yield the CPU between the search and the update */
};

struct set_worker {
	uint64_t seed;
	uint64_t txs;
	uint64_t aborted;    /* lucid_run returned LUCID_ABORTED: a violation was seen */
	uint32_t *inserted;  /* per key: committed successful inserts */
	uint32_t *removed;   /* per key: committed successful removes */
	void *nodes;         /* every node this thread allocated, for the final free */
	void *spare;
	char pad[64];
};

static long set_range;
static int set_update_pct;

/* The kind and key of the next operation: update_pct percent updates, half
 * inserts, half removes. */
static void set_pick(struct set_worker *w, struct set_op *op)
{
	uint64_t r = rnd(&w->seed);

	op->key = (long)((r >> 16) % (uint64_t)set_range);
	if ((int)(r % 100) < set_update_pct)
		op->kind = (r >> 8) & 1 ? OP_INSERT : OP_REMOVE;
	else
		op->kind = OP_CONTAINS;
	op->result = -1;
	op->spare = NULL;
	op->yield = (r >> 40) % 32 == 0;
}

/* After a run: for every key, present initially + inserts - removes must be
 * its final presence (0 or 1). */
static void set_replay(const char *test, int threads, const char *initial, const char *final,
                       struct set_worker *w)
{
	uint64_t ins_total = 0, rem_total = 0;

	for (long k = 0; k < set_range; k++) {
		int64_t n = initial[k];

		for (int i = 0; i < threads; i++) {
			n += w[i].inserted[k];
			n -= w[i].removed[k];
			ins_total += w[i].inserted[k];
			rem_total += w[i].removed[k];
		}
		ck_assert_msg(n == final[k],
		              "%s, %d threads, seed %" PRIu64 ": key %ld: initially %d, then the "
		              "committed inserts and removes leave %" PRId64 ", but the set %s it",
		              test, threads, stress_seed(), k, initial[k], n,
		              final[k] ? "holds" : "lacks");
	}
	ck_assert_msg(ins_total > 0 && rem_total > 0,
	              "%s, %d threads: %" PRIu64 " inserts and %" PRIu64 " removes succeeded",
	              test, threads, ins_total, rem_total);
}

static void set_workers_init(struct set_worker *w, int threads, uint64_t test)
{
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(test, i);
		w[i].inserted = calloc((size_t)set_range, sizeof(uint32_t));
		w[i].removed = calloc((size_t)set_range, sizeof(uint32_t));
		ck_assert(w[i].inserted && w[i].removed);
	}
}

/* ------------------------------------------------------------ 3. intset-list */

struct lnode {
	long key;
	struct lnode *next;
	struct lnode *all_next;  /* the allocating thread's list, never shared */
};

#define LIST_POISON LONG_MIN     /* key of a removed node: below every other */

static struct lnode *list_head;  /* sentinel, key LONG_MIN; the tail has LONG_MAX */

static struct lnode *lnode_new(struct lnode **all)
{
	struct lnode *n = xcalloc(sizeof(*n));

	n->all_next = *all;
	*all = n;
	return n;
}

/* Violation inside the transaction: record it and roll back, so that the
 * operation leaves the list as it was. */
#define SET_BAD(...) do { violation(__VA_ARGS__); lucid_abort(); } while (0)

static void list_op_tx(void *arg)
{
	struct set_op *op = arg;
	struct lnode *prev = list_head;
	struct lnode *curr = lucid_read(prev->next);
	long pk = LONG_MIN, ck;
	long steps = 0;

	op->result = 0;
	for (;;) {
		if (!curr)
			SET_BAD("intset-list: the traversal for key %ld reached NULL after key %ld",
			        op->key, pk);
		ck = lucid_read(curr->key);
		if (ck <= pk)
			SET_BAD("intset-list: the traversal for key %ld saw key %ld after key %ld",
			        op->key, ck, pk);
		if (++steps > set_range + 1)
			SET_BAD("intset-list: the traversal for key %ld took %ld steps", op->key,
			        steps);
		if (ck >= op->key)
			break;
		prev = curr;
		pk = ck;
		curr = lucid_read(curr->next);
	}
	yield_once(&op->yield);
	switch (op->kind) {
	case OP_CONTAINS:
		op->result = ck == op->key;
		break;
	case OP_INSERT:
		if (ck != op->key) {
			struct lnode *n = op->spare;

			lucid_write(n->key, op->key);
			lucid_write(n->next, curr);
			lucid_write(prev->next, n);
			op->result = 1;
		}
		break;
	case OP_REMOVE:
		if (ck == op->key) {
			lucid_write(prev->next, lucid_read(curr->next));
			/* Poison the unlinked node's key: a zombie that still
			 * reaches it fails the order check. Its next is left
			 * alone on purpose: an insert right after it then
			 * conflicts with this remove only through commit-time
			 * validation (read curr->next, written by the insert). */
			lucid_write(curr->key, LIST_POISON);
			op->result = 1;
		}
		break;
	}
}

static void *list_main(void *arg)
{
	struct set_worker *w = arg;
	struct lnode **all = (struct lnode **)&w->nodes;

	worker_started();
	while (!stopping()) {
		struct set_op op;

		set_pick(w, &op);
		if (op.kind == OP_INSERT) {
			if (!w->spare)
				w->spare = lnode_new(all);
			op.spare = w->spare;
		}
		if (lucid_run(list_op_tx, &op) != 0) {
			w->aborted++;
			continue;
		}
		w->txs++;
		if (op.result && op.kind == OP_INSERT) {
			w->inserted[op.key]++;
			w->spare = NULL;
		} else if (op.result && op.kind == OP_REMOVE) {
			w->removed[op.key]++;
		}
	}
	return NULL;
}

START_TEST(test_intset_list)
{
	int threads = thread_counts[_i];
	struct set_worker *w = calloc((size_t)threads, sizeof(*w));
	struct lnode *main_nodes = NULL, *tail;
	struct lucid_stats before;
	char *initial, *final;
	uint64_t txs = 0, aborted = 0, seed = seed_for(4, -1);
	double secs;
	long count = 0;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	set_range = 256;
	set_update_pct = 20;
	initial = calloc((size_t)set_range, 1);
	final = calloc((size_t)set_range, 1);
	ck_assert(initial && final);
	list_head = lnode_new(&main_nodes);
	tail = lnode_new(&main_nodes);
	list_head->key = LONG_MIN;
	list_head->next = tail;
	tail->key = LONG_MAX;
	tail->next = NULL;
	/* Half the keys, inserted through transactions by this thread. */
	for (long k = 0; k < set_range; k++) {
		if (rnd(&seed) & 1) {
			struct set_op op = { .key = k, .kind = OP_INSERT,
			                     .spare = lnode_new(&main_nodes) };

			ck_assert_int_eq(lucid_run(list_op_tx, &op), 0);
			ck_assert_int_eq(op.result, 1);
			initial[k] = 1;
		}
	}
	set_workers_init(w, threads, 4);
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, list_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), NULL, 0);

	check_no_violation("intset-list", threads);
	for (int i = 0; i < threads; i++) {
		txs += w[i].txs;
		aborted += w[i].aborted;
	}
	ck_assert_msg(aborted == 0, "intset-list, %d threads: %" PRIu64 " operations aborted",
	              threads, aborted);
	/* Sorted, no duplicate, keys in range, ends at the tail. */
	long prev = LONG_MIN;
	struct lnode *n = list_head->next;

	for (; n != tail; n = n->next) {
		ck_assert_msg(n != NULL, "intset-list, %d threads: the list ends without its tail "
		              "after key %ld", threads, prev);
		ck_assert_msg(n->key > prev && n->key >= 0 && n->key < set_range,
		              "intset-list, %d threads: key %ld follows key %ld (range %ld)", threads,
		              n->key, prev, set_range);
		ck_assert_msg(++count <= set_range, "intset-list: more than %ld nodes", set_range);
		final[n->key] = 1;
		prev = n->key;
	}
	ck_assert_msg(tail->next == NULL && tail->key == LONG_MAX,
	              "intset-list, %d threads: the tail sentinel changed", threads);
	set_replay("intset-list", threads, initial, final, w);
	check_stats("intset-list", threads, secs, &before, txs, UINT64_MAX, NULL);

	for (int i = 0; i < threads; i++) {
		for (struct lnode *a = w[i].nodes, *next; a; a = next) {
			next = a->all_next;
			free(a);
		}
		free(w[i].inserted);
		free(w[i].removed);
	}
	for (struct lnode *a = main_nodes, *next; a; a = next) {
		next = a->all_next;
		free(a);
	}
	free(initial);
	free(final);
	free(w);
}
END_TEST

/* ------------------------------------------------------------ 4. intset-rbtree */

/*
 * A red-black tree after java.util.TreeMap (parent pointers, NULL leaves,
 * deletion of a node with two children by copying its successor's key),
 * every shared access transactional.
 */
enum { RB_RED = 0, RB_BLACK = 1 };

struct rb {
	long key;
	struct rb *left, *right, *parent;
	int color;
	struct rb *all_next;   /* the allocating thread's list, never shared */
};

#define RB_POISON LONG_MIN     /* key of a removed node */
#define RB_MAX_DEPTH 100       /* 4096 keys: a valid tree is under 26 deep */

static struct {
	struct rb *root;
	char pad[STM_ISOLATE - sizeof(void *)];
} rbt __attribute__((aligned(STM_ISOLATE)));

static struct rb *rb_parent(struct rb *n) { return n ? lucid_read(n->parent) : NULL; }
static struct rb *rb_left(struct rb *n) { return n ? lucid_read(n->left) : NULL; }
static struct rb *rb_right(struct rb *n) { return n ? lucid_read(n->right) : NULL; }
static int rb_color(struct rb *n) { return n ? lucid_read(n->color) : RB_BLACK; }

static void rb_set_color(struct rb *n, int c)
{
	if (n && lucid_read(n->color) != c)
		lucid_write(n->color, c);
}

static void rb_rotate_left(struct rb *p)
{
	if (!p)
		return;
	struct rb *r = lucid_read(p->right);

	if (!r)
		SET_BAD("intset-rbtree: rotate left at key %ld, which has no right child",
		        lucid_read(p->key));
	struct rb *rl = lucid_read(r->left);
	struct rb *pp = lucid_read(p->parent);

	lucid_write(p->right, rl);
	if (rl)
		lucid_write(rl->parent, p);
	lucid_write(r->parent, pp);
	if (!pp)
		lucid_write(rbt.root, r);
	else if (lucid_read(pp->left) == p)
		lucid_write(pp->left, r);
	else
		lucid_write(pp->right, r);
	lucid_write(r->left, p);
	lucid_write(p->parent, r);
}

static void rb_rotate_right(struct rb *p)
{
	if (!p)
		return;
	struct rb *l = lucid_read(p->left);

	if (!l)
		SET_BAD("intset-rbtree: rotate right at key %ld, which has no left child",
		        lucid_read(p->key));
	struct rb *lr = lucid_read(l->right);
	struct rb *pp = lucid_read(p->parent);

	lucid_write(p->left, lr);
	if (lr)
		lucid_write(lr->parent, p);
	lucid_write(l->parent, pp);
	if (!pp)
		lucid_write(rbt.root, l);
	else if (lucid_read(pp->right) == p)
		lucid_write(pp->right, l);
	else
		lucid_write(pp->left, l);
	lucid_write(l->right, p);
	lucid_write(p->parent, l);
}

static void rb_fix_insert(struct rb *x)
{
	int guard = 0;

	rb_set_color(x, RB_RED);
	while (x && x != lucid_read(rbt.root) && rb_color(rb_parent(x)) == RB_RED) {
		if (++guard > RB_MAX_DEPTH)
			SET_BAD("intset-rbtree: the insert fix-up does not end");
		if (rb_parent(x) == rb_left(rb_parent(rb_parent(x)))) {
			struct rb *y = rb_right(rb_parent(rb_parent(x)));

			if (rb_color(y) == RB_RED) {
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(y, RB_BLACK);
				rb_set_color(rb_parent(rb_parent(x)), RB_RED);
				x = rb_parent(rb_parent(x));
			} else {
				if (x == rb_right(rb_parent(x))) {
					x = rb_parent(x);
					rb_rotate_left(x);
				}
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(rb_parent(rb_parent(x)), RB_RED);
				rb_rotate_right(rb_parent(rb_parent(x)));
			}
		} else {
			struct rb *y = rb_left(rb_parent(rb_parent(x)));

			if (rb_color(y) == RB_RED) {
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(y, RB_BLACK);
				rb_set_color(rb_parent(rb_parent(x)), RB_RED);
				x = rb_parent(rb_parent(x));
			} else {
				if (x == rb_left(rb_parent(x))) {
					x = rb_parent(x);
					rb_rotate_right(x);
				}
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(rb_parent(rb_parent(x)), RB_RED);
				rb_rotate_left(rb_parent(rb_parent(x)));
			}
		}
	}
	rb_set_color(lucid_read(rbt.root), RB_BLACK);
}

static void rb_fix_delete(struct rb *x)
{
	int guard = 0;

	while (x != lucid_read(rbt.root) && rb_color(x) == RB_BLACK) {
		if (++guard > RB_MAX_DEPTH)
			SET_BAD("intset-rbtree: the delete fix-up does not end");
		if (x == rb_left(rb_parent(x))) {
			struct rb *sib = rb_right(rb_parent(x));

			if (rb_color(sib) == RB_RED) {
				rb_set_color(sib, RB_BLACK);
				rb_set_color(rb_parent(x), RB_RED);
				rb_rotate_left(rb_parent(x));
				sib = rb_right(rb_parent(x));
			}
			if (rb_color(rb_left(sib)) == RB_BLACK && rb_color(rb_right(sib)) == RB_BLACK) {
				rb_set_color(sib, RB_RED);
				x = rb_parent(x);
			} else {
				if (rb_color(rb_right(sib)) == RB_BLACK) {
					rb_set_color(rb_left(sib), RB_BLACK);
					rb_set_color(sib, RB_RED);
					rb_rotate_right(sib);
					sib = rb_right(rb_parent(x));
				}
				rb_set_color(sib, rb_color(rb_parent(x)));
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(rb_right(sib), RB_BLACK);
				rb_rotate_left(rb_parent(x));
				x = lucid_read(rbt.root);
			}
		} else {
			struct rb *sib = rb_left(rb_parent(x));

			if (rb_color(sib) == RB_RED) {
				rb_set_color(sib, RB_BLACK);
				rb_set_color(rb_parent(x), RB_RED);
				rb_rotate_right(rb_parent(x));
				sib = rb_left(rb_parent(x));
			}
			if (rb_color(rb_right(sib)) == RB_BLACK && rb_color(rb_left(sib)) == RB_BLACK) {
				rb_set_color(sib, RB_RED);
				x = rb_parent(x);
			} else {
				if (rb_color(rb_left(sib)) == RB_BLACK) {
					rb_set_color(rb_right(sib), RB_BLACK);
					rb_set_color(sib, RB_RED);
					rb_rotate_left(sib);
					sib = rb_left(rb_parent(x));
				}
				rb_set_color(sib, rb_color(rb_parent(x)));
				rb_set_color(rb_parent(x), RB_BLACK);
				rb_set_color(rb_left(sib), RB_BLACK);
				rb_rotate_right(rb_parent(x));
				x = lucid_read(rbt.root);
			}
		}
	}
	rb_set_color(x, RB_BLACK);
}

/*
 * Descends towards @p key checking, at every node, that its key lies strictly
 * between the bounds its ancestors set (a consistent tree always does).
 * Returns the node holding @p key, or NULL and in *parent the last node.
 */
static struct rb *rb_descend(long key, struct rb **parent)
{
	struct rb *n = lucid_read(rbt.root), *last = NULL;
	long lo = -1, hi = set_range;
	int depth = 0;

	while (n) {
		long k = lucid_read(n->key);

		if (k <= lo || k >= hi)
			SET_BAD("intset-rbtree: looking for key %ld, met key %ld at depth %d, outside "
			        "(%ld, %ld)", key, k, depth, lo, hi);
		if (++depth > RB_MAX_DEPTH)
			SET_BAD("intset-rbtree: looking for key %ld, went %d levels deep", key, depth);
		if (key == k)
			return n;
		last = n;
		if (key < k) {
			hi = k;
			n = lucid_read(n->left);
		} else {
			lo = k;
			n = lucid_read(n->right);
		}
	}
	*parent = last;
	return NULL;
}

static void rb_insert(struct set_op *op)
{
	struct rb *parent = NULL;
	struct rb *n = op->spare;

	if (rb_descend(op->key, &parent))
		return;
	yield_once(&op->yield);
	lucid_write(n->key, op->key);
	lucid_write(n->left, (struct rb *)NULL);
	lucid_write(n->right, (struct rb *)NULL);
	lucid_write(n->parent, parent);
	lucid_write(n->color, RB_BLACK);
	if (!parent)
		lucid_write(rbt.root, n);
	else if (op->key < lucid_read(parent->key))
		lucid_write(parent->left, n);
	else
		lucid_write(parent->right, n);
	if (parent)
		rb_fix_insert(n);
	op->result = 1;
}

static void rb_delete(struct set_op *op)
{
	struct rb *parent;
	struct rb *p = rb_descend(op->key, &parent);

	if (!p)
		return;
	yield_once(&op->yield);
	if (lucid_read(p->left) && lucid_read(p->right)) {
		struct rb *s = lucid_read(p->right);
		int depth = 0;

		for (struct rb *l; (l = lucid_read(s->left)); s = l)
			if (++depth > RB_MAX_DEPTH)
				SET_BAD("intset-rbtree: the successor of key %ld is %d levels down",
				        op->key, depth);
		long sk = lucid_read(s->key);

		if (sk <= op->key || sk >= set_range)
			SET_BAD("intset-rbtree: the successor of key %ld has key %ld", op->key, sk);
		lucid_write(p->key, sk);
		p = s;
	}
	struct rb *repl = lucid_read(p->left) ? lucid_read(p->left) : lucid_read(p->right);
	struct rb *pp = lucid_read(p->parent);

	if (repl) {
		lucid_write(repl->parent, pp);
		if (!pp)
			lucid_write(rbt.root, repl);
		else if (p == lucid_read(pp->left))
			lucid_write(pp->left, repl);
		else
			lucid_write(pp->right, repl);
		lucid_write(p->left, (struct rb *)NULL);
		lucid_write(p->right, (struct rb *)NULL);
		lucid_write(p->parent, (struct rb *)NULL);
		if (lucid_read(p->color) == RB_BLACK)
			rb_fix_delete(repl);
	} else if (!pp) {
		lucid_write(rbt.root, (struct rb *)NULL);
	} else {
		if (lucid_read(p->color) == RB_BLACK)
			rb_fix_delete(p);
		pp = lucid_read(p->parent);
		if (pp) {
			if (p == lucid_read(pp->left))
				lucid_write(pp->left, (struct rb *)NULL);
			else if (p == lucid_read(pp->right))
				lucid_write(pp->right, (struct rb *)NULL);
			lucid_write(p->parent, (struct rb *)NULL);
		}
	}
	/* A zombie that still reaches the unlinked node trips on its key. */
	lucid_write(p->key, RB_POISON);
	op->result = 1;
}

static void rb_op_tx(void *arg)
{
	struct set_op *op = arg;
	struct rb *parent;

	op->result = 0;
	switch (op->kind) {
	case OP_CONTAINS:
		op->result = rb_descend(op->key, &parent) != NULL;
		break;
	case OP_INSERT:
		rb_insert(op);
		break;
	case OP_REMOVE:
		rb_delete(op);
		break;
	}
}

static struct rb *rb_new(struct rb **all)
{
	struct rb *n = xcalloc(sizeof(*n));

	n->all_next = *all;
	*all = n;
	return n;
}

static void *rb_main(void *arg)
{
	struct set_worker *w = arg;
	struct rb **all = (struct rb **)&w->nodes;

	worker_started();
	while (!stopping()) {
		struct set_op op;

		set_pick(w, &op);
		if (op.kind == OP_INSERT) {
			if (!w->spare)
				w->spare = rb_new(all);
			op.spare = w->spare;
		}
		if (lucid_run(rb_op_tx, &op) != 0) {
			w->aborted++;
			continue;
		}
		w->txs++;
		if (op.result && op.kind == OP_INSERT) {
			w->inserted[op.key]++;
			w->spare = NULL;
		} else if (op.result && op.kind == OP_REMOVE) {
			w->removed[op.key]++;
		}
	}
	return NULL;
}

/* Checks the subtree at @p n with plain reads; returns its black height. */
static int rb_verify(const struct rb *n, const struct rb *parent, long lo, long hi, int depth,
                     char *final, long *count, int threads)
{
	if (!n)
		return 1;
	ck_assert_msg(depth < RB_MAX_DEPTH, "intset-rbtree, %d threads: deeper than %d (a cycle?)",
	              threads, RB_MAX_DEPTH);
	ck_assert_msg(n->parent == parent,
	              "intset-rbtree, %d threads: the node with key %ld has a wrong parent",
	              threads, n->key);
	ck_assert_msg(n->key > lo && n->key < hi,
	              "intset-rbtree, %d threads: key %ld out of order, should be in (%ld, %ld)",
	              threads, n->key, lo, hi);
	ck_assert_msg(n->color == RB_RED || n->color == RB_BLACK,
	              "intset-rbtree, %d threads: key %ld has color %d", threads, n->key, n->color);
	if (n->color == RB_RED)
		ck_assert_msg((!n->left || n->left->color == RB_BLACK) &&
		              (!n->right || n->right->color == RB_BLACK),
		              "intset-rbtree, %d threads: red key %ld has a red child", threads, n->key);
	ck_assert_msg(++*count <= set_range, "intset-rbtree: more than %ld nodes", set_range);
	final[n->key] = 1;
	int lh = rb_verify(n->left, n, lo, n->key, depth + 1, final, count, threads);
	int rh = rb_verify(n->right, n, n->key, hi, depth + 1, final, count, threads);

	ck_assert_msg(lh == rh, "intset-rbtree, %d threads: at key %ld the black heights differ: "
	              "%d on the left, %d on the right", threads, n->key, lh, rh);
	return lh + (n->color == RB_BLACK);
}

START_TEST(test_intset_rbtree)
{
	int threads = thread_counts[_i];
	struct set_worker *w = calloc((size_t)threads, sizeof(*w));
	struct rb *main_nodes = NULL;
	struct lucid_stats before;
	char *initial, *final;
	uint64_t txs = 0, aborted = 0, seed = seed_for(5, -1);
	long count = 0, expected = 0;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	set_range = 4096;
	set_update_pct = 20;
	initial = calloc((size_t)set_range, 1);
	final = calloc((size_t)set_range, 1);
	ck_assert(initial && final);
	rbt.root = NULL;
	for (long k = 0; k < set_range; k++) {
		if (rnd(&seed) & 1) {
			struct set_op op = { .key = k, .kind = OP_INSERT,
			                     .spare = rb_new(&main_nodes) };

			ck_assert_int_eq(lucid_run(rb_op_tx, &op), 0);
			ck_assert_int_eq(op.result, 1);
			initial[k] = 1;
			expected++;
		}
	}
	ck_assert_msg(rbt.root && rbt.root->color == RB_BLACK, "intset-rbtree: the root is not black");
	ck_assert_int_gt(rb_verify(rbt.root, NULL, -1, set_range, 0, final, &count, 0), 0);
	ck_assert_int_eq(count, expected);
	memset(final, 0, (size_t)set_range);
	count = 0;

	set_workers_init(w, threads, 5);
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, rb_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), NULL, 0);

	check_no_violation("intset-rbtree", threads);
	for (int i = 0; i < threads; i++) {
		txs += w[i].txs;
		aborted += w[i].aborted;
	}
	ck_assert_msg(aborted == 0, "intset-rbtree, %d threads: %" PRIu64 " operations aborted",
	              threads, aborted);
	ck_assert_msg(!rbt.root || rbt.root->color == RB_BLACK,
	              "intset-rbtree, %d threads: the root is red", threads);
	rb_verify(rbt.root, NULL, -1, set_range, 0, final, &count, threads);
	set_replay("intset-rbtree", threads, initial, final, w);
	check_stats("intset-rbtree", threads, secs, &before, txs, UINT64_MAX, NULL);

	for (int i = 0; i < threads; i++) {
		for (struct rb *a = w[i].nodes, *next; a; a = next) {
			next = a->all_next;
			free(a);
		}
		free(w[i].inserted);
		free(w[i].removed);
	}
	for (struct rb *a = main_nodes, *next; a; a = next) {
		next = a->all_next;
		free(a);
	}
	rbt.root = NULL;
	free(initial);
	free(final);
	free(w);
}
END_TEST

/* ------------------------------------------------------------ 5. subword */

/*
 * Words split into naturally aligned fields of 1, 2, 4 and 8 bytes, each
 * field owned by one thread, neighbours by different threads: all the
 * fields of a word map to one orec, so this checks the byte masks (commit
 * writes only the bytes written) and read-after-write overlays.
 */
union sw_word {
	uint64_t w;
	uint32_t s[2];
	uint16_t h[4];
	uint8_t b[8];
};

#define SW_WORDS 10
#define SW_MAX_FIELDS (SW_WORDS * 8)
#define SW_MAX_PICK 3

static union sw_word sw[SW_WORDS] __attribute__((aligned(STM_ISOLATE)));

struct sw_field {
	unsigned word, off, size;
	int owner;
};

static struct sw_field sw_fields[SW_MAX_FIELDS];
static int sw_nfields;

struct sw_worker {
	uint64_t seed;
	uint64_t txs;
	int id;
	int nmine;
	int mine[SW_MAX_FIELDS];
	int npick;
	int pick[SW_MAX_PICK];
	int yield;
	uint64_t count[SW_MAX_FIELDS];   /* committed increments per field */
	char pad[64];
};

static void sw_layout(int threads)
{
	/* Per word, by word index modulo 5: bytes, halves, mixed, 32-bit halves, a whole word. */
	static const struct { int n; unsigned off[8], size[8]; } types[5] = {
		{ 8, { 0, 1, 2, 3, 4, 5, 6, 7 }, { 1, 1, 1, 1, 1, 1, 1, 1 } },
		{ 4, { 0, 2, 4, 6 }, { 2, 2, 2, 2 } },
		{ 4, { 0, 1, 2, 4 }, { 1, 1, 2, 4 } },
		{ 2, { 0, 4 }, { 4, 4 } },
		{ 1, { 0 }, { 8 } },
	};

	sw_nfields = 0;
	for (unsigned wd = 0; wd < SW_WORDS; wd++) {
		const __typeof__(types[0]) *t = &types[wd % 5];

		for (int i = 0; i < t->n; i++) {
			struct sw_field *f = &sw_fields[sw_nfields];

			f->word = wd;
			f->off = t->off[i];
			f->size = t->size[i];
			f->owner = sw_nfields % threads;
			sw_nfields++;
		}
	}
}

static uint64_t sw_read(const struct sw_field *f)
{
	union sw_word *w = &sw[f->word];

	switch (f->size) {
	case 1: return lucid_read(w->b[f->off]);
	case 2: return lucid_read(w->h[f->off / 2]);
	case 4: return lucid_read(w->s[f->off / 4]);
	default: return lucid_read(w->w);
	}
}

static void sw_write(const struct sw_field *f, uint64_t v)
{
	union sw_word *w = &sw[f->word];

	switch (f->size) {
	case 1: lucid_write(w->b[f->off], (uint8_t)v); break;
	case 2: lucid_write(w->h[f->off / 2], (uint16_t)v); break;
	case 4: lucid_write(w->s[f->off / 4], (uint32_t)v); break;
	default: lucid_write(w->w, v); break;
	}
}

/* The field's value inside a whole-word image, and the image with it replaced. */
static uint64_t sw_get(uint64_t word, const struct sw_field *f)
{
	union sw_word u = { .w = word };

	switch (f->size) {
	case 1: return u.b[f->off];
	case 2: return u.h[f->off / 2];
	case 4: return u.s[f->off / 4];
	default: return u.w;
	}
}

static uint64_t sw_set(uint64_t word, const struct sw_field *f, uint64_t v)
{
	union sw_word u = { .w = word };

	switch (f->size) {
	case 1: u.b[f->off] = (uint8_t)v; break;
	case 2: u.h[f->off / 2] = (uint16_t)v; break;
	case 4: u.s[f->off / 4] = (uint32_t)v; break;
	default: u.w = v; break;
	}
	return u.w;
}

static uint64_t sw_trunc(uint64_t v, unsigned size)
{
	return size == 8 ? v : v & (((uint64_t)1 << (size * 8)) - 1);
}

static void sw_tx(void *arg)
{
	struct sw_worker *w = arg;

	for (int i = 0; i < w->npick; i++) {
		const struct sw_field *f = &sw_fields[w->pick[i]];
		uint64_t before = lucid_read(sw[f->word].w);
		uint64_t v = sw_read(f);

		if (v != sw_get(before, f))
			violation("subword: field %d (word %u, offset %u, size %u) reads %#" PRIx64
			          " alone but %#" PRIx64 " in the whole word %#" PRIx64,
			          w->pick[i], f->word, f->off, f->size, v, sw_get(before, f), before);
		yield_once(&w->yield);
		sw_write(f, v + 1);
		uint64_t v2 = sw_read(f);

		if (v2 != sw_trunc(v + 1, f->size))
			violation("subword: field %d (word %u, offset %u, size %u) reads %#" PRIx64
			          " right after writing %#" PRIx64, w->pick[i], f->word, f->off,
			          f->size, v2, sw_trunc(v + 1, f->size));
		uint64_t after = lucid_read(sw[f->word].w);

		if (after != sw_set(before, f, v + 1))
			violation("subword: word %u reads %#" PRIx64 " after writing field %d (offset "
			          "%u, size %u) of %#" PRIx64 ", expected %#" PRIx64, f->word, after,
			          w->pick[i], f->off, f->size, before, sw_set(before, f, v + 1));
	}
}

static void *sw_main(void *arg)
{
	struct sw_worker *w = arg;

	worker_started();
	while (!stopping()) {
		uint64_t r = rnd(&w->seed);

		/* One to three of the thread's fields, maybe the same one twice. */
		w->npick = 1 + (int)(r % SW_MAX_PICK);
		w->yield = (r >> 40) % 64 == 0;
		for (int i = 0; i < w->npick; i++)
			w->pick[i] = w->mine[(r >> (8 + 8 * i)) % (uint64_t)w->nmine];
		if (lucid_run(sw_tx, w) != 0)
			violation("subword: lucid_run() returned LUCID_ABORTED without lucid_abort()");
		for (int i = 0; i < w->npick; i++)
			w->count[w->pick[i]]++;
		w->txs++;
	}
	return NULL;
}

START_TEST(test_subword)
{
	int threads = thread_counts[_i];
	struct sw_worker *w = calloc((size_t)threads, sizeof(*w));
	struct lucid_stats before;
	uint64_t txs = 0;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	memset(sw, 0, sizeof(sw));
	sw_layout(threads);
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(6, i);
		w[i].id = i;
	}
	for (int f = 0; f < sw_nfields; f++) {
		struct sw_worker *o = &w[sw_fields[f].owner];

		o->mine[o->nmine++] = f;
	}
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	secs = run_workers(w, sizeof(*w), threads, sw_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), NULL, 0);

	check_no_violation("subword", threads);
	for (int i = 0; i < threads; i++)
		txs += w[i].txs;
	for (int fi = 0; fi < sw_nfields; fi++) {
		const struct sw_field *f = &sw_fields[fi];
		uint64_t got = sw_get(sw[f->word].w, f);
		uint64_t n = w[f->owner].count[fi];

		ck_assert_msg(got == sw_trunc(n, f->size),
		              "subword, %d threads, seed %" PRIu64 ": field %d (word %u, offset %u, "
		              "size %u, thread %d) holds %#" PRIx64 " after %" PRIu64
		              " committed increments (%#" PRIx64 " expected): lost update",
		              threads, stress_seed(), fi, f->word, f->off, f->size, f->owner, got, n,
		              sw_trunc(n, f->size));
	}
	check_stats("subword", threads, secs, &before, txs, 0, NULL);
	free(w);
}
END_TEST

/* ------------------------------------------------------------ 6. progress */

/*
 * One thread runs long transactions that read all of a 10000-word array
 * (alternately read-only and read-all-then-write) while the others keep
 * moving units between random words. The contention manager must let the
 * long one commit (serial mode after LUCID_SERIAL_AFTER aborts).
 */
#define PR_WORDS 10000
#define PR_INITIAL 100
#define PR_MIN_LONG_COMMITS 4

static long *pr_arr;
static uint64_t pr_long_commits;

struct pr_worker {
	uint64_t seed;
	uint64_t txs, ro;
	int reader;
	long from, to;      /* the next move, chosen outside the transaction */
	char pad[64];
};

static void pr_long_tx(struct pr_worker *w, int update)
{
	LUCID_ATOMIC {
		long sum = 0;

		for (long i = 0; i < PR_WORDS; i++)
			sum += lucid_read(pr_arr[i]);
		if (sum != (long)PR_WORDS * PR_INITIAL)
			violation("progress: a read-all transaction saw the sum %ld instead of %ld", sum,
			          (long)PR_WORDS * PR_INITIAL);
		if (update) {
			long a = lucid_read(pr_arr[w->from]);
			long b = lucid_read(pr_arr[w->to]);

			lucid_write(pr_arr[w->from], a - 1);
			lucid_write(pr_arr[w->to], b + 1);
		}
	}
}

static void pr_move_tx(const struct pr_worker *w)
{
	LUCID_ATOMIC {
		long a = lucid_read(pr_arr[w->from]);
		long b = lucid_read(pr_arr[w->to]);

		lucid_write(pr_arr[w->from], a - 1);
		lucid_write(pr_arr[w->to], b + 1);
	}
}

static void *pr_main(void *arg)
{
	struct pr_worker *w = arg;

	worker_started();
	while (!stopping()) {
		uint64_t r = rnd(&w->seed);

		w->from = (long)((r >> 8) % PR_WORDS);
		w->to = (long)((r >> 32) % (PR_WORDS - 1));
		if (w->to >= w->from)
			w->to++;
		if (w->reader) {
			int update = (int)(w->txs & 1);

			pr_long_tx(w, update);
			if (!update)
				w->ro++;
			__atomic_add_fetch(&pr_long_commits, 1, __ATOMIC_RELAXED);
		} else {
			pr_move_tx(w);
		}
		w->txs++;
	}
	return NULL;
}

static int pr_more(void)
{
	return __atomic_load_n(&pr_long_commits, __ATOMIC_RELAXED) < PR_MIN_LONG_COMMITS;
}

START_TEST(test_progress)
{
	int threads = thread_counts[_i];
	struct pr_worker *w = calloc((size_t)threads, sizeof(*w));
	struct lucid_stats before, d;
	uint64_t txs = 0;
	long sum = 0;
	double secs;

	ck_assert_ptr_nonnull(w);
	stress_reset();
	pr_long_commits = 0;
	pr_arr = malloc(PR_WORDS * sizeof(*pr_arr));
	ck_assert_ptr_nonnull(pr_arr);
	for (long i = 0; i < PR_WORDS; i++)
		pr_arr[i] = PR_INITIAL;
	for (int i = 0; i < threads; i++) {
		w[i].seed = seed_for(7, i);
		w[i].reader = i == 0;
	}
	ck_assert_int_eq(lucid_stats_get(&before), 0);
	/* Longer than asked only if the long transaction has not committed
	 * often enough yet (slow sanitizer builds). */
	secs = run_workers(w, sizeof(*w), threads, pr_main,
	                   test_stress_seconds(STRESS_DEFAULT_SECONDS), pr_more, 60);

	check_no_violation("progress", threads);
	for (int i = 0; i < threads; i++)
		txs += w[i].txs;
	for (long i = 0; i < PR_WORDS; i++)
		sum += pr_arr[i];
	ck_assert_msg(sum == (long)PR_WORDS * PR_INITIAL,
	              "progress, %d threads: final sum %ld instead of %ld", threads, sum,
	              (long)PR_WORDS * PR_INITIAL);
	ck_assert_msg(w[0].txs >= PR_MIN_LONG_COMMITS,
	              "progress, %d threads, seed %" PRIu64 ": the long transaction committed %"
	              PRIu64 " times in %.1f s (at least %d expected) while the others committed %"
	              PRIu64, threads, stress_seed(), w[0].txs, secs, PR_MIN_LONG_COMMITS,
	              txs - w[0].txs);
	ck_assert_msg(txs - w[0].txs > 0, "progress, %d threads: no writer committed", threads);
	check_stats("progress", threads, secs, &before, txs, w[0].ro, &d);
	ck_assert_msg(d.max_retries <= stm_config.serial_after && d.max_retries < 100,
	              "progress, %d threads: max_retries %" PRIu64 " above the serial-mode bound "
	              "%u (LUCID_SERIAL_AFTER)", threads, d.max_retries, stm_config.serial_after);
	printf("stress progress threads=%d long_commits=%" PRIu64 " (read-only %" PRIu64 ")\n",
	       threads, w[0].txs, w[0].ro);
	free(pr_arr);
	pr_arr = NULL;
	free(w);
}
END_TEST

/* ------------------------------------------------------------ suite */

static TCase *stress_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, STRESS_TIMEOUT);
	return tc;
}

static Suite *suite(void)
{
	Suite *s = suite_create("check_stress");
	TCase *tc;

	tc = stress_tcase("bank");
	tcase_add_loop_test(tc, test_bank, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	tc = stress_tcase("zombie");
	tcase_add_loop_test(tc, test_zombie_index, 0, N_THREAD_COUNTS);
	tcase_add_loop_test(tc, test_zombie_pointer, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	tc = stress_tcase("intset-list");
	tcase_add_loop_test(tc, test_intset_list, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	tc = stress_tcase("intset-rbtree");
	tcase_add_loop_test(tc, test_intset_rbtree, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	tc = stress_tcase("subword");
	tcase_add_loop_test(tc, test_subword, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	tc = stress_tcase("progress");
	tcase_add_loop_test(tc, test_progress, 0, N_THREAD_COUNTS);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
