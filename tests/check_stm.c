/* tests: the engine (stm/): clock, orecs, masks, logs, validation, commit, abort, contention, stats. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>
#include "stm/stm-internal.h"
#include "tests/testutil.h"

/*
 * How these tests drive the engine: through lucid_run() (or LUCID_ATOMIC in
 * small helpers), calling the engine's functions on stm_self() inside.
 * Another transaction's commit or lock is simulated by storing into the orec
 * table by hand. Every test runs in its own process (check forks), but the
 * tests also pass with CK_FORK=no (one process, e.g. under valgrind): they
 * compare the clock and the statistics with what they were at the start
 * instead of with zero.
 *
 * A failing ck_assert ends the process; inside a transaction that would be
 * reported as misuse (exit inside a transaction), hiding the message. So
 * checks inside transactions are recorded with TX_CHECK and asserted once
 * the transaction is over, and helper threads only record what they saw.
 */

static char tx_fail[512];

#define TX_CHECK(cond, ...)                                                        \
	do {                                                                       \
		if (!(cond) && !tx_fail[0]) {                                      \
			int n_ = snprintf(tx_fail, sizeof(tx_fail), "line %d: ", __LINE__); \
			snprintf(tx_fail + n_, sizeof(tx_fail) - (size_t)n_, __VA_ARGS__); \
		}                                                                  \
	} while (0)

#define TX_CHECKS_PASSED() ck_assert_msg(tx_fail[0] == '\0', "in a transaction: %s", tx_fail)

#define ULL(x) ((unsigned long long)(x))

/* For loops: ck_assert_* reports every passed check to the runner (a write
 * to a pipe each), which makes long loops slow under valgrind. */
#define CHECK(cond, ...)                        \
	do {                                    \
		if (!(cond))                    \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* ---------------------------------------------------------------- helpers */

/* Registers the calling thread (inside the test body, after check's fork). */
static struct stm_tx *self(void)
{
	tx_fail[0] = '\0';
	return stm_self();
}

/* The bytes that share one orec; words STRIPE bytes apart have orecs of
 * their own (below the table size). */
#define STRIPE (1u << LUCID_WORD_SHIFT_)
/* A word alone in its stripe: arrays of them have an orec per element. */
struct sword {
	uint64_t w;
} __attribute__((aligned(STRIPE)));

static struct sword *sword_alloc(size_t n)
{
	struct sword *p = aligned_alloc(STRIPE, n * sizeof(*p));

	if (p)
		memset(p, 0, n * sizeof(*p));
	return p;
}

static uintptr_t *orec_of(const void *p)
{
	return &stm_orecs[stm_orec_index((uintptr_t)p, stm_orec_mask)];
}

static uintptr_t orec_index_of(const void *p)
{
	return stm_orec_index((uintptr_t)p, stm_orec_mask);
}

static uintptr_t orec_get(const void *p)
{
	return __atomic_load_n(orec_of(p), __ATOMIC_ACQUIRE);
}

static void orec_put(const void *p, uintptr_t v)
{
	__atomic_store_n(orec_of(p), v, __ATOMIC_RELEASE);
}

static uint64_t peek(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static void poke(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

/* Another transaction's commit, as the engine sees it afterwards: a new
 * clock value in the orec; forge_commit also changes the memory. */
static uintptr_t forge_version(const void *p)
{
	uintptr_t t = stm_clock_tick();

	orec_put(p, t);
	return t;
}

static uintptr_t forge_commit(void *p, uint64_t v)
{
	uintptr_t t = stm_clock_tick();

	poke(p, v);
	orec_put(p, t);
	return t;
}

/* A write-log entry of some other transaction: not in this thread's log. */
static struct lucid_wentry_ foreign_entry __attribute__((aligned(64)));

/* Locks @p p's orec as if another transaction had written it; returns the
 * value to put back. */
static uintptr_t forge_lock(const void *p)
{
	uintptr_t old = orec_get(p);

	orec_put(p, stm_orec_locked_by(&foreign_entry));
	return old;
}

static struct lucid_stats stats_now(void)
{
	struct lucid_stats s;

	ck_assert_int_eq(lucid_stats_get(&s), 0);
	return s;
}

/* Checks the aborts between two snapshots, reason by reason, and that the
 * total is their sum. @p want is indexed by enum lucid_abort_reason. */
static void assert_aborts(const struct lucid_stats *s0, const struct lucid_stats *s1,
                          const uint64_t *want)
{
	uint64_t total = 0;

	for (int r = 0; r < LUCID_ABORT_REASONS_MAX; r++) {
		uint64_t d = s1->aborts_by_reason[r] - s0->aborts_by_reason[r];

		CHECK(d == want[r], "aborts for reason %d (%s): %" PRIu64 ", expected %" PRIu64,
		      r, lucid_abort_reason_name(r), d, want[r]);
		total += want[r];
	}
	CHECK(s1->aborts - s0->aborts == total, "aborts: %" PRIu64 ", expected %" PRIu64,
	      s1->aborts - s0->aborts, total);
}

static void tx_write_word(uint64_t *p, uint64_t v)
{
	LUCID_ATOMIC {
		lucid_write(*p, v);
	}
}

static uint64_t read_result;

static void read_fn(void *arg)
{
	read_result = lucid_read(*(uint64_t *)arg);
}

static uint64_t tx_read_word(uint64_t *p)
{
	ck_assert_int_eq(lucid_run(read_fn, p), 0);
	return read_result;
}

static void abort_fn(void *arg)
{
	lucid_write(*(uint64_t *)arg, 0xdead);
	lucid_abort();
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

static void join(pthread_t t)
{
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits until *flag is set, at most @p limit seconds; whether it was. */
static bool wait_flag(const int *flag, double limit)
{
	double until = seconds() + limit;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (seconds() > until)
			return false;
		sched_yield();
	}
	return true;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The bytes of a uint64_t image, so expected masks and values do not
 * depend on the byte order. */
static uint64_t from_bytes(const uint8_t b[8])
{
	uint64_t v;

	memcpy(&v, b, 8);
	return v;
}

static uint8_t byte_of(uint64_t v, unsigned i)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	return b[i];
}

static uint64_t with_byte(uint64_t v, unsigned i, uint8_t x)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	b[i] = x;
	return from_bytes(b);
}

/* ------------------------------------------------------------------ clock */

START_TEST(test_clock_tick)
{
	uintptr_t c0 = stm_clock_now();

	ck_assert_uint_eq(stm_clock_now(), c0);
	for (uintptr_t i = 1; i <= 1000; i++) {
		uintptr_t t = stm_clock_tick();

		CHECK(t == c0 + i, "tick %lu returned %lu, expected %lu", (unsigned long)i,
		      (unsigned long)t, (unsigned long)(c0 + i));
		CHECK(stm_clock_now() == t, "now %lu after tick %lu returned %lu",
		      (unsigned long)stm_clock_now(), (unsigned long)i, (unsigned long)t);
	}
}
END_TEST

#define TICK_THREADS 4
#define TICKS 20000
static uint8_t tick_seen[TICK_THREADS * TICKS];
static uintptr_t tick_base;
static int tick_bad[TICK_THREADS];

static void *tick_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	uintptr_t last = 0;

	for (int i = 0; i < TICKS; i++) {
		uintptr_t t = stm_clock_tick();

		if (t <= last || t <= tick_base || t > tick_base + TICK_THREADS * TICKS ||
		    __atomic_exchange_n(&tick_seen[t - tick_base - 1], 1, __ATOMIC_RELAXED))
			tick_bad[id]++;
		last = t;
	}
	return NULL;
}

/* Concurrent ticks hand out every value once, increasing in each thread. */
START_TEST(test_clock_tick_concurrent)
{
	pthread_t t[TICK_THREADS];

	tick_base = stm_clock_now();
	memset(tick_seen, 0, sizeof(tick_seen));
	for (int i = 0; i < TICK_THREADS; i++) {
		tick_bad[i] = 0;
		t[i] = spawn(tick_thread, (void *)(intptr_t)i);
	}
	for (int i = 0; i < TICK_THREADS; i++)
		join(t[i]);
	for (int i = 0; i < TICK_THREADS; i++)
		CHECK(tick_bad[i] == 0, "thread %d got %d duplicate, out-of-range or "
		      "decreasing ticks", i, tick_bad[i]);
	ck_assert_uint_eq(stm_clock_now(), tick_base + TICK_THREADS * TICKS);
	for (int i = 0; i < TICK_THREADS * TICKS; i++)
		CHECK(tick_seen[i], "tick value base+%d never handed out", i + 1);
}
END_TEST

static uint64_t clk_words[8] __attribute__((aligned(64)));

static void clk_write_many(void *arg)
{
	for (int i = 0; i < 6; i++)
		lucid_write(clk_words[i], (uint64_t)i + 10);
}

START_TEST(test_clock_commit)
{
	self();
	uintptr_t c0 = stm_clock_now();

	tx_write_word(&clk_words[0], 1);
	ck_assert_uint_eq(stm_clock_now(), c0 + 1);
	ck_assert_uint_eq(orec_get(&clk_words[0]), c0 + 1);

	/* One tick per commit, however many orecs it writes. */
	ck_assert_int_eq(lucid_run(clk_write_many, NULL), 0);
	ck_assert_uint_eq(stm_clock_now(), c0 + 2);
	for (int i = 0; i < 6; i++)
		ck_assert_msg(orec_get(&clk_words[i]) == c0 + 2, "orec of word %d holds %#llx, expected %#llx",
		              i, ULL(orec_get(&clk_words[i])), ULL(c0 + 2));

	/* Read-only commits do not tick, nor do transactions left by lucid_abort. */
	ck_assert_uint_eq(tx_read_word(&clk_words[0]), 10);
	ck_assert_uint_eq(stm_clock_now(), c0 + 2);
	ck_assert_int_eq(lucid_run(abort_fn, &clk_words[1]), LUCID_ABORTED);
	ck_assert_uint_eq(stm_clock_now(), c0 + 2);
}
END_TEST

/* ----------------------------------------------------------- orec encoding */

START_TEST(test_orec_lock_encoding)
{
	struct stm_tx *tx = self();
	const struct lucid_wentry_ *owners[] = { tx->w_base, tx->w_base + 1, tx->w_base + tx->w_cap - 1, &foreign_entry };
	const uintptr_t versions[] = { 0, 1, 12345, stm_clock_now(), STM_OREC_LOCKED - 1 };
	const uintptr_t max_version = STM_OREC_LOCKED - 1;

	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
		ck_assert_msg(!stm_orec_is_locked(versions[v]), "version %#llx reads as locked",
		              ULL(versions[v]));
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		uintptr_t o = stm_orec_locked_by(owners[i]);

		ck_assert_msg(stm_orec_is_locked(o), "locked_by(%p) = %#llx reads as unlocked",
		              (const void *)owners[i], ULL(o));
		ck_assert_msg(stm_orec_owner(o) == owners[i], "owner(locked_by(%p)) = %p",
		              (const void *)owners[i], (void *)stm_orec_owner(o));
		/* The inline read path tests "unlocked and not newer than the
		 * snapshot" with one comparison: seen <= end. */
		ck_assert_msg(o > max_version, "locked_by(%p) = %#llx is not above every version",
		              (const void *)owners[i], ULL(o));
	}
	ck_assert_msg(stm_orec_locked_by(NULL) > max_version, "a lock by the lowest address is a version");
}
END_TEST

static uint64_t fp_words[8] __attribute__((aligned(64)));
static int fp_attempts, fp_leaked;
static uintptr_t fp_saved;

static void fp_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	if (++fp_attempts == 1) {
		fp_saved = forge_lock(&fp_words[0]);
		tx->fast.end = STM_OREC_LOCKED - 1;   /* the newest snapshot there can be */
		(void)lucid_read(fp_words[0]);
		fp_leaked = 1;
		return;
	}
	orec_put(&fp_words[0], fp_saved);
}

/* A locked orec is refused by the inline read path even at the largest snapshot. */
START_TEST(test_orec_lock_fast_path)
{
	self();
	fp_words[0] = 42;
	fp_attempts = fp_leaked = 0;

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(fp_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(!fp_leaked, "lucid_read returned a word whose orec is locked by another transaction");
	ck_assert_int_eq(fp_attempts, 2);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_LOCKED] = 1 };
	assert_aborts(&s0, &s1, want);
}
END_TEST

START_TEST(test_orec_index)
{
	static uint64_t here;
	const uintptr_t bases[] = { 0, 0x1000, (uintptr_t)&here, 0x7ffff7a3c008 };

	stm_init();
	ck_assert_uint_eq(stm_orec_mask, ((uintptr_t)1 << stm_config.orec_bits) - 1);

	const uintptr_t masks[] = { stm_orec_mask, 0x3ff, 0xffff };

	for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
		uintptr_t mask = masks[m];

		ck_assert_uint_eq(stm_orec_index(mask * STRIPE, mask), mask);
		ck_assert_uint_eq(stm_orec_index((mask + 1) * STRIPE, mask), 0);
		for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
			uintptr_t base = bases[b] & ~(uintptr_t)(STRIPE - 1);
			uintptr_t i0 = stm_orec_index(base, mask);

			ck_assert_uint_le(i0, mask);
			/* Consecutive stripes at the start, and across the wrap;
			 * every byte of a stripe under the stripe's orec. */
			for (uintptr_t w = 0; w < 2 * (mask + 1); w++) {
				if (w == 4096 && mask + 1 > 4096)
					w = mask + 1 - 2048;
				if (w == mask + 1 + 2048 && mask + 1 > 4096)
					break;
				uintptr_t a = base + w * STRIPE;

				for (unsigned off = 0; off < STRIPE; off++) {
					uintptr_t got = stm_orec_index(a + off, mask);

					CHECK(got == ((i0 + w) & mask),
					      "stm_orec_index(%#llx + %u, %#llx) = %#llx, expected %#llx",
					      ULL(a), off, ULL(mask), ULL(got), ULL((i0 + w) & mask));
				}
			}
		}
	}
}
END_TEST

/* ------------------------------------------------------------------ masks */

START_TEST(test_byte_mask)
{
	const unsigned sizes[] = { 1, 2, 4, 8 };
	const uintptr_t bases[] = { 0x1000, 0x7fffdeadbee0 };

	for (size_t b = 0; b < 2; b++)
		for (size_t s = 0; s < 4; s++)
			for (unsigned off = 0; off + sizes[s] <= 8; off++) {
				uint8_t bytes[8] = { 0 };

				for (unsigned i = off; i < off + sizes[s]; i++)
					bytes[i] = 0xff;
				uint64_t want = from_bytes(bytes);
				uint64_t got = stm_byte_mask(bases[b] + off, sizes[s]);

				CHECK(got == want, "stm_byte_mask(%#llx + %u, %u) = %#018llx, expected %#018llx",
				      ULL(bases[b]), off, sizes[s], ULL(got), ULL(want));
			}
}
END_TEST

/* Every byte mask there is (all 256 byte subsets, so also non-contiguous ones
 * such as 0xff00ff00ff00ff00): exactly the masked bytes change. */
START_TEST(test_store_masked)
{
	uint64_t buf[3] __attribute__((aligned(64)));
	uint8_t pat[8], val[8];

	for (unsigned i = 0; i < 8; i++) {
		pat[i] = (uint8_t)(0xa0 + i);
		val[i] = (uint8_t)(0x10 + i);
	}
	uint64_t pattern = from_bytes(pat), value = from_bytes(val);

	for (unsigned sel = 0; sel < 256; sel++) {
		uint8_t mb[8];

		for (unsigned i = 0; i < 8; i++)
			mb[i] = (sel >> i & 1) ? 0xff : 0;
		uint64_t mask = from_bytes(mb);

		buf[0] = buf[1] = buf[2] = pattern;
		stm_store_masked((uintptr_t)&buf[1], value, mask);
		for (unsigned i = 0; i < 8; i++) {
			uint8_t want = (sel >> i & 1) ? val[i] : pat[i];

			CHECK(byte_of(buf[1], i) == want,
			      "mask %#018llx: byte %u is %#x, expected %#x (word %#018llx)",
			      ULL(mask), i, byte_of(buf[1], i), want, ULL(buf[1]));
		}
		CHECK(buf[0] == pattern && buf[2] == pattern,
		      "mask %#018llx: a neighbouring word changed", ULL(mask));
	}
}
END_TEST

static uint64_t sm_word __attribute__((aligned(64)));
static int sm_stop, sm_lost, sm_running;

static void *sm_neighbour(void *arg)
{
	uint8_t *b7 = (uint8_t *)&sm_word + 7;

	__atomic_store_n(&sm_running, 1, __ATOMIC_RELEASE);
	for (unsigned k = 0; !__atomic_load_n(&sm_stop, __ATOMIC_RELAXED); k++) {
		__atomic_store_n(b7, (uint8_t)k, __ATOMIC_RELAXED);
		/* Look again for a while: a stale copy written back by the
		 * other thread shows up after our store left the store buffer. */
		for (int n = 0; n < 64; n++)
			if (__atomic_load_n(b7, __ATOMIC_RELAXED) != (uint8_t)k)
				__atomic_store_n(&sm_lost, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Bytes outside the mask are not even rewritten with their old value: a
 * neighbour's concurrent stores to them are never lost. (A read-modify-write
 * of the whole word is caught within a few milliseconds on two cores.) */
START_TEST(test_store_masked_neighbour)
{
	uint8_t mb[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	uint64_t mask = from_bytes(mb);

	sm_stop = sm_lost = sm_running = 0;
	pthread_t t = spawn(sm_neighbour, NULL);
	ck_assert(wait_flag(&sm_running, 20));
	double until = seconds() + 0.1;
	for (uint64_t i = 0; !__atomic_load_n(&sm_lost, __ATOMIC_RELAXED); i++) {
		stm_store_masked((uintptr_t)&sm_word, i * 0x0101010101010101ULL, mask);
		if (i % 1024 == 0 && seconds() > until)
			break;
	}
	__atomic_store_n(&sm_stop, 1, __ATOMIC_RELAXED);
	join(t);
	ck_assert_msg(!sm_lost, "a store to byte 7 was overwritten by stm_store_masked(mask %#018llx)",
	              ULL(mask));
}
END_TEST

/* --------------------------------------------------------------- read set */

#define RS_WORDS 16
static uint64_t rs_words[RS_WORDS] __attribute__((aligned(64)));
static uintptr_t rs_version[RS_WORDS];
static uint64_t rs_value[RS_WORDS], rs_sub;
static size_t rs_count[RS_WORDS + 1];
static struct lucid_rentry_ rs_entries[RS_WORDS + 1];
static uintptr_t rs_end;

static void rs_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	TX_CHECK(tx->fast.r_top == tx->r_base, "read set not empty at start: %td entries",
	         tx->fast.r_top - tx->r_base);
	for (int i = 0; i < RS_WORDS; i++) {
		rs_value[i] = lucid_read(rs_words[i]);          /* the inline path */
		rs_count[i] = (size_t)(tx->fast.r_top - tx->r_base);
	}
	rs_sub = stm_read(tx, (uintptr_t)&rs_words[3] + 2, 2);   /* the engine's */
	rs_count[RS_WORDS] = (size_t)(tx->fast.r_top - tx->r_base);
	memcpy(rs_entries, tx->r_base, sizeof(rs_entries));
	rs_end = tx->fast.end;
}

START_TEST(test_read_set_entries)
{
	self();
	/* A different version under each word. */
	for (int i = 0; i < RS_WORDS; i++) {
		tx_write_word(&rs_words[i], 0x1111111111111111ULL * (uint64_t)(i + 1));
		rs_version[i] = orec_get(&rs_words[i]);
	}
	ck_assert_int_eq(lucid_run(rs_fn, NULL), 0);
	TX_CHECKS_PASSED();
	for (int i = 0; i < RS_WORDS; i++) {
		ck_assert_uint_eq(rs_value[i], 0x1111111111111111ULL * (uint64_t)(i + 1));
		ck_assert_msg(rs_count[i] == (size_t)i + 1, "after read %d the read set has %zu entries",
		              i, rs_count[i]);
		ck_assert_msg(rs_entries[i].orec == orec_index_of(&rs_words[i]),
		              "entry %d: orec %u, expected %llu", i, rs_entries[i].orec,
		              ULL(orec_index_of(&rs_words[i])));
		/* Entries keep no version: the one read must be covered by the
		 * snapshot, which is what validation checks. */
		ck_assert_msg(rs_version[i] <= rs_end, "word %d has version %#llx, above the snapshot "
		              "end %#llx", i, ULL(rs_version[i]), ULL(rs_end));
		ck_assert_uint_eq(rs_entries[i].site, 0);
	}
	ck_assert_uint_eq(rs_sub, 0x4444);
	ck_assert_uint_eq(rs_count[RS_WORDS], RS_WORDS + 1);
	ck_assert_uint_eq(rs_entries[RS_WORDS].orec, orec_index_of(&rs_words[3]));
}
END_TEST

static uint64_t *rg_words;
static size_t rg_n, rg_count, rg_bad;
static uint64_t rg_sum;
static int rg_attempts;

static void rg_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	rg_attempts++;
	rg_sum = 0;
	rg_bad = 0;
	for (size_t i = 0; i < rg_n; i++)
		rg_sum += lucid_read(rg_words[i]);
	rg_count = (size_t)(tx->fast.r_top - tx->r_base);
	/* Entries made before the read set moved are still there. */
	for (size_t i = 0; i < rg_count && i < rg_n; i++)
		if (tx->r_base[i].orec != orec_index_of(&rg_words[i]))
			rg_bad++;
}

START_TEST(test_read_set_grows)
{
	bool fresh = stm_self_if_any() == NULL;
	struct stm_tx *tx = self();
	uint64_t want = 0;

	if (fresh)   /* else maybe grown by an earlier test (CK_FORK=no) */
		ck_assert_uint_eq(tx->r_cap, stm_config.r_init);
	rg_n = tx->r_cap * 2 + 5;   /* past r_init, twice */
	rg_words = malloc(rg_n * sizeof(*rg_words));
	ck_assert_ptr_nonnull(rg_words);
	for (size_t i = 0; i < rg_n; i++) {
		rg_words[i] = i * 7 + 3;
		want += i * 7 + 3;
	}
	rg_attempts = 0;

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(rg_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_int_eq(rg_attempts, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);
	ck_assert_uint_eq(rg_sum, want);
	ck_assert_uint_eq(rg_count, rg_n);
	ck_assert_uint_ge(tx->r_cap, rg_n);
	ck_assert_msg(rg_bad == 0, "%zu of %zu read-set entries lost their orec when the set grew",
	              rg_bad, rg_n);
	free(rg_words);
}
END_TEST

/* -------------------------------------------------------------- write log */

static uint64_t *wl_region;
static uint64_t *wl_x, *wl_y, *wl_z;   /* three words under one orec */
static uintptr_t wl_pre;
#define WL_X0 0x0807060504030201ULL
#define WL_Y0 0x1817161514131211ULL
#define WL_Z0 0x2827262524232221ULL
#define WL_Y1 0x5958575655545352ULL
#define WL_Z1 0x6968676665646362ULL

static bool in_chain(struct lucid_wentry_ *head, struct lucid_wentry_ *e)
{
	for (struct lucid_wentry_ *c = head; c; c = c->next)
		if (c == e)
			return true;
	return false;
}

static void wl_fn(void *arg)
{
	struct stm_tx *tx = stm_self();
	uintptr_t ix = orec_index_of(wl_x);
	uint64_t m2 = stm_byte_mask((uintptr_t)wl_x, 2), m1 = stm_byte_mask((uintptr_t)wl_x + 4, 1);
	uint64_t x1;

	wl_pre = orec_get(wl_x);
	TX_CHECK(!stm_orec_is_locked(wl_pre), "orec locked before the first write: %#llx", ULL(wl_pre));

	/* First write: locks the orec, pointing to the head entry. */
	stm_write(tx, (uintptr_t)wl_x, 2, 0xbeef);
	uintptr_t o = orec_get(wl_x);
	struct lucid_wentry_ *head = stm_orec_owner(o);

	TX_CHECK(stm_orec_is_locked(o), "orec not locked after a write: %#llx", ULL(o));
	TX_CHECK(head == tx->w_base, "orec points to %p, the log starts at %p", (void *)head,
	         (void *)tx->w_base);
	TX_CHECK(stm_owns(tx, head), "stm_owns() denies the head entry");
	TX_CHECK(tx->fast.w_top == tx->w_base + 1, "%td log entries after one write", tx->fast.w_top - tx->w_base);
	TX_CHECK(head->addr == (uintptr_t)wl_x, "head addr %#llx, expected %p", ULL(head->addr),
	         (void *)wl_x);
	TX_CHECK(head->version == wl_pre, "head version %#llx, expected %#llx", ULL(head->version),
	         ULL(wl_pre));
	TX_CHECK(head->orec == ix, "head orec %u, expected %llu", head->orec, ULL(ix));
	TX_CHECK(head->next == NULL, "head has a next entry");
	TX_CHECK(head->mask == m2, "head mask %#018llx, expected %#018llx", ULL(head->mask), ULL(m2));
	x1 = with_byte(with_byte(WL_X0, 0, 0xef), 1, 0xbe);
	TX_CHECK((head->value & m2) == (x1 & m2), "head value %#018llx", ULL(head->value));

	/* Writes to the same word merge into the entry, bytes and mask. */
	stm_write(tx, (uintptr_t)wl_x + 4, 1, 0x5a);
	stm_write(tx, (uintptr_t)wl_x + 1, 1, 0x11);   /* overwrites one byte of the first */
	x1 = with_byte(with_byte(x1, 4, 0x5a), 1, 0x11);
	TX_CHECK(tx->fast.w_top == tx->w_base + 1, "%td log entries after writes to one word",
	         tx->fast.w_top - tx->w_base);
	TX_CHECK(head->mask == (m2 | m1), "merged mask %#018llx, expected %#018llx", ULL(head->mask),
	         ULL(m2 | m1));
	TX_CHECK((head->value & (m2 | m1)) == (x1 & (m2 | m1)), "merged value %#018llx, expected %#018llx",
	         ULL(head->value & (m2 | m1)), ULL(x1 & (m2 | m1)));
	TX_CHECK(orec_get(wl_x) == o, "orec changed by a second write: %#llx", ULL(orec_get(wl_x)));

	/* Read-after-write overlays the buffered bytes on memory. */
	uint64_t r8 = stm_read(tx, (uintptr_t)wl_x, 8);
	uint64_t rl = lucid_read(*wl_x);
	uint16_t r2 = lucid_read(*(uint16_t *)wl_x);
	uint8_t rb2 = lucid_read(*((uint8_t *)wl_x + 2)), rb4 = lucid_read(*((uint8_t *)wl_x + 4));
	uint32_t r4 = lucid_read(*(uint32_t *)((uint8_t *)wl_x + 4));
	uint16_t want2;
	uint32_t want4;

	memcpy(&want2, &x1, 2);
	memcpy(&want4, (uint8_t *)&x1 + 4, 4);
	TX_CHECK(r8 == x1, "stm_read after write: %#018llx, expected %#018llx", ULL(r8), ULL(x1));
	TX_CHECK(rl == x1, "lucid_read after write: %#018llx, expected %#018llx", ULL(rl), ULL(x1));
	TX_CHECK(r2 == want2, "16-bit read of written bytes: %#x, expected %#x", r2, want2);
	TX_CHECK(rb2 == byte_of(WL_X0, 2), "unwritten byte 2 read as %#x", rb2);
	TX_CHECK(rb4 == 0x5a, "written byte 4 read as %#x", rb4);
	TX_CHECK(r4 == want4, "32-bit read over written and unwritten bytes: %#x, expected %#x", r4, want4);
	TX_CHECK(peek(wl_x) == WL_X0, "memory written before commit: %#018llx", ULL(peek(wl_x)));

	/* Another word under the same orec, unwritten: memory. */
	uint64_t rz = lucid_read(*wl_z);
	TX_CHECK(rz == WL_Z0, "unwritten word under our locked orec read as %#018llx", ULL(rz));

	/* Writes to other words under the same orec chain from the head and
	 * do not lock again. */
	stm_write(tx, (uintptr_t)wl_y, 8, WL_Y1);
	struct lucid_wentry_ *ey = tx->w_base + 1;
	TX_CHECK(orec_get(wl_x) == o, "orec changed by a write to a second word under it: %#llx",
	         ULL(orec_get(wl_x)));
	TX_CHECK(tx->fast.w_top == tx->w_base + 2, "%td log entries after writing two words",
	         tx->fast.w_top - tx->w_base);
	TX_CHECK(ey->addr == (uintptr_t)wl_y, "second entry addr %#llx", ULL(ey->addr));
	TX_CHECK(ey->version == STM_NOT_HEAD, "second entry is marked a head (version %#llx)",
	         ULL(ey->version));
	TX_CHECK(ey->orec == ix, "second entry orec %u, expected %llu", ey->orec, ULL(ix));
	TX_CHECK(in_chain(head, ey), "second entry not chained from the head");

	lucid_write(*wl_z, WL_Z1);
	struct lucid_wentry_ *ez = tx->w_base + 2;
	TX_CHECK(orec_get(wl_x) == o, "orec changed by a write to a third word under it");
	TX_CHECK(tx->fast.w_top == tx->w_base + 3, "%td log entries after writing three words",
	         tx->fast.w_top - tx->w_base);
	TX_CHECK(ez->version == STM_NOT_HEAD && ez->addr == (uintptr_t)wl_z, "third entry wrong");
	TX_CHECK(in_chain(head, ez) && in_chain(head, ey), "chain lost an entry");
	TX_CHECK(stm_wlog_find(tx, head, (uintptr_t)wl_x) == head, "wlog_find(x) wrong");
	TX_CHECK(stm_wlog_find(tx, head, (uintptr_t)wl_y) == ey, "wlog_find(y) wrong");
	TX_CHECK(stm_wlog_find(tx, head, (uintptr_t)wl_z) == ez, "wlog_find(z) wrong");
	TX_CHECK(stm_wlog_find(tx, head, (uintptr_t)(wl_x + 1)) == NULL, "wlog_find(x+8) found an entry");

	/* Rewriting a chained word merges too. */
	stm_write(tx, (uintptr_t)wl_y, 1, 0xee);
	TX_CHECK(tx->fast.w_top == tx->w_base + 3, "rewriting a chained word added an entry");
	uint64_t ry = lucid_read(*wl_y), rz2 = lucid_read(*wl_z);
	TX_CHECK(ry == with_byte(WL_Y1, 0, 0xee), "chained word read as %#018llx", ULL(ry));
	TX_CHECK(rz2 == WL_Z1, "chained word read as %#018llx", ULL(rz2));
	TX_CHECK(peek(wl_y) == WL_Y0 && peek(wl_z) == WL_Z0, "memory written before commit");
}

START_TEST(test_write_log)
{
	self();
	size_t stride = (stm_orec_mask + 1) * (STRIPE / 8);   /* words apart: same orec */

	wl_region = malloc((2 * stride + 1) * sizeof(uint64_t));
	ck_assert_ptr_nonnull(wl_region);
	wl_x = wl_region;
	wl_y = wl_region + stride;
	wl_z = wl_region + 2 * stride;
	ck_assert_uint_eq(orec_index_of(wl_x), orec_index_of(wl_y));
	ck_assert_uint_eq(orec_index_of(wl_x), orec_index_of(wl_z));
	*wl_x = WL_X0;
	*wl_y = WL_Y0;
	*wl_z = WL_Z0;

	uintptr_t c0 = stm_clock_now();
	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(wl_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	TX_CHECKS_PASSED();
	ck_assert_uint_eq(s1.aborts, s0.aborts);
	uint64_t x1 = with_byte(with_byte(with_byte(WL_X0, 0, 0xef), 1, 0x11), 4, 0x5a);
	ck_assert_msg(*wl_x == x1, "x after commit %#018llx, expected %#018llx", ULL(*wl_x), ULL(x1));
	ck_assert_msg(*wl_y == with_byte(WL_Y1, 0, 0xee), "y after commit %#018llx", ULL(*wl_y));
	ck_assert_msg(*wl_z == WL_Z1, "z after commit %#018llx", ULL(*wl_z));
	ck_assert_uint_eq(stm_clock_now(), c0 + 1);
	ck_assert_uint_eq(orec_get(wl_x), c0 + 1);
	free(wl_region);
}
END_TEST

static struct sword *cap_words;
static size_t cap_n;
static int cap_attempts;
static int cap_bad_owner;

static void cap_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	cap_attempts++;
	for (size_t i = 0; i < cap_n; i++)
		lucid_write(cap_words[i].w, i * 3 + 1 + (uint64_t)(uintptr_t)arg);
	/* After growing, every lock points at its entry in the new log, and
	 * read-after-write still finds the buffered values. */
	for (size_t i = 0; i < cap_n; i++) {
		uintptr_t o = orec_get(&cap_words[i].w);
		struct lucid_wentry_ *e = stm_orec_owner(o);

		if (!stm_orec_is_locked(o) || e < tx->w_base || e >= tx->w_base + tx->w_cap ||
		    e->addr != (uintptr_t)&cap_words[i].w ||
		    lucid_read(cap_words[i].w) != i * 3 + 1 + (uint64_t)(uintptr_t)arg)
			cap_bad_owner++;
	}
}

static unsigned doublings_to_hold(size_t cap, size_t n)
{
	unsigned k = 0;

	while (cap < n) {
		cap *= 2;
		k++;
	}
	return k;
}

/* Runs a transaction writing @p n words: the log grows in place, no abort. */
static void cap_run(struct stm_tx *tx, size_t n, uint64_t salt)
{
	size_t cap = tx->w_cap;
	unsigned k = doublings_to_hold(cap, n);

	cap_n = n;
	cap_attempts = 0;
	cap_bad_owner = 0;
	struct lucid_stats s0 = stats_now();
	uintptr_t c0 = stm_clock_now();
	ck_assert_int_eq(lucid_run(cap_fn, (void *)(uintptr_t)salt), 0);
	struct lucid_stats s1 = stats_now();

	uint64_t want[LUCID_ABORT_REASONS_MAX] = { 0 };
	CHECK(cap_attempts == 1, "%zu writes with a log of %zu: %d attempts, expected 1",
	      n, cap, cap_attempts);
	CHECK(cap_bad_owner == 0, "%zu writes with a log of %zu: %d locks not pointing at their "
	      "entry in the grown log", n, cap, cap_bad_owner);
	assert_aborts(&s0, &s1, want);
	ck_assert_uint_eq(s1.commits - s0.commits, 1);
	ck_assert_uint_eq(stm_clock_now(), c0 + 1);
	ck_assert_uint_eq(tx->w_cap, cap << k);
	for (size_t i = 0; i < n; i++) {
		CHECK(cap_words[i].w == i * 3 + 1 + salt, "word %zu of %zu is %llu after commit", i, n,
		      ULL(cap_words[i].w));
		CHECK(orec_get(&cap_words[i].w) == c0 + 1, "orec of word %zu of %zu is %#llx", i, n,
		      ULL(orec_get(&cap_words[i].w)));
	}
}

START_TEST(test_write_capacity)
{
	bool fresh = stm_self_if_any() == NULL;
	struct stm_tx *tx = self();
	size_t cap = tx->w_cap;

	if (fresh)   /* else grown by an earlier test (CK_FORK=no) */
		ck_assert_uint_eq(cap, stm_config.w_init);
	cap_words = sword_alloc(8 * cap + 1);
	ck_assert_ptr_nonnull(cap_words);
	cap_run(tx, cap, 0);            /* fits */
	cap_run(tx, cap + 1, 10);       /* grows once */
	cap_run(tx, 8 * cap + 1, 20);   /* the log is 2*cap now: needs 16*cap, grows three times */
	free(cap_words);
}
END_TEST

/* ------------------------------------------------- validation and extension */

static struct sword va_words[8];
static int va_attempts, va_reached;
static uintptr_t va_end0, va_end1, va_t, va_now;
static bool va_ok[6];

static void validate_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	(void)lucid_read(va_words[0].w);
	va_ok[0] = stm_validate(tx);
	forge_version(&va_words[2].w);          /* a commit to a word we did not read */
	va_ok[1] = stm_validate(tx);
	va_end0 = tx->fast.end;
	forge_version(&va_words[0].w);          /* a commit to one we read */
	va_ok[2] = stm_validate(tx);
	va_ok[3] = stm_extend(tx);
	va_end1 = tx->fast.end;
}

static void validate_locked_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	(void)lucid_read(va_words[4].w);
	va_t = forge_lock(&va_words[4].w);       /* locked by another, same version */
	va_ok[4] = stm_validate(tx);
	orec_put(&va_words[4].w, va_t);
	va_ok[5] = stm_validate(tx);
}

START_TEST(test_validate)
{
	self();
	ck_assert_int_eq(lucid_run(validate_fn, NULL), 0);
	ck_assert_msg(va_ok[0], "validation failed with nothing changed");
	ck_assert_msg(va_ok[1], "validation failed after a commit to an orec not read");
	ck_assert_msg(!va_ok[2], "validation passed after a commit to an orec read");
	ck_assert_msg(!va_ok[3], "stm_extend succeeded with an invalid read set");
	ck_assert_msg(va_end1 == va_end0, "a failed stm_extend moved the snapshot from %lu to %lu",
	              (unsigned long)va_end0, (unsigned long)va_end1);

	ck_assert_int_eq(lucid_run(validate_locked_fn, NULL), 0);
	ck_assert_msg(!va_ok[4], "validation passed with an orec read now locked by another transaction");
	ck_assert_msg(va_ok[5], "validation failed once that lock was released unchanged");
}
END_TEST

static void extend_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	(void)lucid_read(va_words[0].w);
	va_end0 = tx->fast.end;
	va_t = forge_version(&va_words[2].w);
	va_ok[0] = stm_extend(tx);
	va_end1 = tx->fast.end;
	va_now = stm_clock_now();
}

START_TEST(test_extend)
{
	self();
	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(extend_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(va_ok[0], "stm_extend failed after a commit to an orec not read");
	ck_assert_msg(va_end1 == va_now && va_end1 >= va_t && va_end1 > va_end0,
	              "snapshot end %lu -> %lu, clock %lu, forged commit at %lu", (unsigned long)va_end0,
	              (unsigned long)va_end1, (unsigned long)va_now, (unsigned long)va_t);
	ck_assert_uint_eq(s1.extensions - s0.extensions, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);
}
END_TEST

static uint64_t va_got;
static uint32_t va_nread;

static void read_extends_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	va_attempts++;
	(void)lucid_read(va_words[0].w);
	va_end0 = tx->fast.end;
	va_t = forge_commit(&va_words[2].w, 77);
	va_got = lucid_read(va_words[2].w);
	va_end1 = tx->fast.end;
	va_now = stm_clock_now();
	va_nread = (uint32_t)(tx->fast.r_top - tx->r_base);
	va_ok[0] = tx->fast.r_top[-1].orec == orec_index_of(&va_words[2].w) && va_t <= tx->fast.end;
}

/* Keeps va_words[0].w + va_words[2].w == 100 in every commit. */
static void read_invalid_fn(void *arg)
{
	va_attempts++;
	uint64_t a = lucid_read(va_words[0].w);
	if (va_attempts == 1) {
		forge_commit(&va_words[0].w, 30);
		forge_commit(&va_words[2].w, 70);
	}
	uint64_t b = lucid_read(va_words[2].w);
	if (va_attempts == 1)
		va_reached = 1;
	va_got = a + b;
}

START_TEST(test_read_extends)
{
	self();
	va_words[0].w = 50;
	va_words[2].w = 50;
	va_attempts = 0;

	/* Newer orec, read set still valid: extend and go on. */
	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(read_extends_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_int_eq(va_attempts, 1);
	ck_assert_uint_eq(va_got, 77);
	ck_assert_uint_eq(s1.extensions - s0.extensions, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);
	ck_assert_msg(va_end1 == va_now && va_end1 > va_end0, "snapshot end %lu -> %lu, clock %lu",
	              (unsigned long)va_end0, (unsigned long)va_end1, (unsigned long)va_now);
	ck_assert_uint_eq(va_nread, 2);
	ck_assert_msg(va_ok[0], "the read-set entry does not name the newer word's orec, or the snapshot does not cover its version %lu",
	              (unsigned long)va_t);

	/* Newer orec, and a word read earlier changed: abort, never return
	 * the inconsistent pair. */
	va_words[0].w = 50;
	va_words[2].w = 50;
	va_attempts = va_reached = 0;
	s0 = stats_now();
	ck_assert_int_eq(lucid_run(read_invalid_fn, NULL), 0);
	s1 = stats_now();

	ck_assert_msg(!va_reached, "a read returned a value inconsistent with an earlier read");
	ck_assert_int_eq(va_attempts, 2);
	ck_assert_uint_eq(va_got, 100);
	ck_assert_uint_eq(s1.extensions, s0.extensions);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_INVALID] = 1 };
	assert_aborts(&s0, &s1, want);
}
END_TEST

/* A snapshot is the newest clock value the thread has seen, not the clock:
 * an attempt that starts after another thread's commit still reads what
 * that commit wrote (its read extends), and one that meets nothing newer
 * does not read the clock at all. */
static uintptr_t ss_end, ss_clock;
static uint64_t ss_got[2];

static void *stale_writer(void *arg)
{
	tx_write_word(&va_words[2].w, (uint64_t)(uintptr_t)arg);
	return NULL;
}

static void stale_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	ss_end = tx->fast.end;
	ss_clock = stm_clock_now();
	ss_got[0] = lucid_read(va_words[0].w);
	ss_got[1] = lucid_read(va_words[2].w);
}

START_TEST(test_stale_snapshot)
{
	self();
	tx_write_word(&va_words[0].w, 1);       /* this thread has seen the clock now */
	uintptr_t mine = stm_clock_now();

	join(spawn(stale_writer, (void *)(uintptr_t)2));
	ck_assert_uint_eq(stm_clock_now(), mine + 1);

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(stale_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(ss_end == mine && ss_clock == mine + 1,
	              "the attempt started at %lu with the clock at %lu, expected %lu and %lu",
	              (unsigned long)ss_end, (unsigned long)ss_clock, (unsigned long)mine,
	              (unsigned long)(mine + 1));
	ck_assert_uint_eq(ss_got[0], 1);
	ck_assert_msg(ss_got[1] == 2, "read %llu, not the value committed before the attempt "
	              "started", ULL(ss_got[1]));
	ck_assert_uint_eq(s1.extensions - s0.extensions, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);

	/* The extension moved the thread's snapshot: the next attempt starts
	 * at the clock, and reading the same words needs no extension. */
	s0 = stats_now();
	ck_assert_int_eq(lucid_run(stale_fn, NULL), 0);
	s1 = stats_now();
	ck_assert_uint_eq(ss_end, mine + 1);
	ck_assert_uint_eq(ss_got[1], 2);
	ck_assert_uint_eq(s1.extensions, s0.extensions);

	/* An abort starts the next attempt at the clock. */
	join(spawn(stale_writer, (void *)(uintptr_t)3));
	ck_assert_int_eq(lucid_run(abort_fn, &va_words[4].w), LUCID_ABORTED);
	ck_assert_int_eq(lucid_run(stale_fn, NULL), 0);
	ck_assert_uint_eq(ss_end, mine + 2);
	ck_assert_uint_eq(ss_got[1], 3);
}
END_TEST

static void write_invalid_fn(void *arg)
{
	va_attempts++;
	if (va_attempts > 1)
		return;
	(void)lucid_read(va_words[0].w);
	va_t = forge_version(&va_words[0].w);
	lucid_write(va_words[0].w, 5);
	va_reached = 1;
}

static void write_extends_fn(void *arg)
{
	va_attempts++;
	(void)lucid_read(va_words[0].w);
	va_t = forge_version(&va_words[2].w);
	lucid_write(va_words[2].w, 6);
}

START_TEST(test_write_invalid)
{
	self();
	va_words[0].w = 1;
	va_attempts = va_reached = 0;

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(write_invalid_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(!va_reached, "a write to a word read earlier and changed since did not abort");
	ck_assert_int_eq(va_attempts, 2);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_WRITE_INVALID] = 1 };
	assert_aborts(&s0, &s1, want);
	ck_assert_uint_eq(va_words[0].w, 1);
	ck_assert_msg(orec_get(&va_words[0].w) == va_t, "orec %#llx after the abort, expected the version "
	              "found when locking, %#llx", ULL(orec_get(&va_words[0].w)), ULL(va_t));

	/* Newer, but not read before: the snapshot moves and the write stays. */
	va_words[2].w = 2;
	va_attempts = 0;
	s0 = stats_now();
	ck_assert_int_eq(lucid_run(write_extends_fn, NULL), 0);
	s1 = stats_now();
	ck_assert_int_eq(va_attempts, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);
	ck_assert_uint_eq(s1.extensions - s0.extensions, 1);
	ck_assert_uint_eq(va_words[2].w, 6);
	ck_assert_uint_eq(orec_get(&va_words[2].w), stm_clock_now());
}
END_TEST

static void validate_owned_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	va_attempts++;
	uint64_t v = lucid_read(va_words[0].w);
	lucid_write(va_words[0].w, v + 1);
	va_ok[0] = stm_validate(tx);
	va_ok[1] = stm_extend(tx);
	if (va_attempts == 1)
		stm_clock_tick();   /* an unrelated commit, so that stm_commit validates */
}

/* A read orec that the transaction has locked itself since is still valid. */
START_TEST(test_validate_owned)
{
	self();
	va_words[0].w = 10;
	va_attempts = 0;

	uintptr_t c0 = stm_clock_now();
	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(validate_owned_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(va_ok[0], "stm_validate failed on an orec read and then locked by the same transaction");
	ck_assert_msg(va_ok[1], "stm_extend failed on an orec read and then locked by the same transaction");
	ck_assert_int_eq(va_attempts, 1);
	ck_assert_uint_eq(s1.aborts, s0.aborts);
	ck_assert_uint_eq(va_words[0].w, 11);
	ck_assert_uint_eq(stm_clock_now(), c0 + 2);
	ck_assert_uint_eq(orec_get(&va_words[0].w), c0 + 2);
}
END_TEST

/* ----------------------------------------------------------------- commit */

static struct sword cm_words[8];
static pthread_barrier_t cm_bar;
static uint64_t cm_seen_during, cm_seen_after, cm_peek_inside;
static int cm_attempts;

static void *cm_reader(void *arg)
{
	pthread_barrier_wait(&cm_bar);
	cm_seen_during = peek(&cm_words[0].w);
	pthread_barrier_wait(&cm_bar);
	pthread_barrier_wait(&cm_bar);
	cm_seen_after = peek(&cm_words[0].w);
	return NULL;
}

static void cm_fn(void *arg)
{
	cm_attempts++;
	lucid_write(cm_words[0].w, 2);
	lucid_write(cm_words[1].w, 3);
	lucid_write(cm_words[3].w, 4);
	cm_peek_inside = peek(&cm_words[0].w);
	if (cm_attempts == 1) {
		pthread_barrier_wait(&cm_bar);
		pthread_barrier_wait(&cm_bar);
	}
}

START_TEST(test_commit_publishes)
{
	self();
	cm_words[0].w = 1;
	cm_attempts = 0;
	uintptr_t pre2 = orec_get(&cm_words[2].w);
	ck_assert_int_eq(pthread_barrier_init(&cm_bar, NULL, 2), 0);
	pthread_t t = spawn(cm_reader, NULL);
	uintptr_t c0 = stm_clock_now();

	ck_assert_int_eq(lucid_run(cm_fn, NULL), 0);
	pthread_barrier_wait(&cm_bar);
	join(t);
	pthread_barrier_destroy(&cm_bar);

	ck_assert_int_eq(cm_attempts, 1);
	ck_assert_msg(cm_peek_inside == 1, "memory written before commit (seen inside: %llu)",
	              ULL(cm_peek_inside));
	ck_assert_msg(cm_seen_during == 1, "another thread saw %llu before the commit", ULL(cm_seen_during));
	ck_assert_msg(cm_seen_after == 2, "another thread saw %llu after the commit", ULL(cm_seen_after));
	ck_assert_uint_eq(cm_words[1].w, 3);
	ck_assert_uint_eq(cm_words[3].w, 4);
	/* Unlocked, at the commit's time; other orecs untouched. */
	ck_assert_uint_eq(stm_clock_now(), c0 + 1);
	const int written[] = { 0, 1, 3 };
	for (int i = 0; i < 3; i++) {
		uintptr_t o = orec_get(&cm_words[written[i]]);

		ck_assert_msg(o == c0 + 1, "orec of word %d is %#llx after commit, expected %#llx",
		              written[i], ULL(o), ULL(c0 + 1));
	}
	ck_assert_uint_eq(orec_get(&cm_words[2].w), pre2);
}
END_TEST

static uintptr_t cm_pre_y, cm_orec_y_retry;
static uint64_t cm_y_retry;

static void commit_invalid_fn(void *arg)
{
	cm_attempts++;
	if (cm_attempts == 1) {
		(void)lucid_read(cm_words[4].w);
		lucid_write(cm_words[6].w, 99);
		forge_version(&cm_words[4].w);   /* a commit to a word read, after our snapshot */
		return;                        /* commit-time validation must fail */
	}
	cm_y_retry = peek(&cm_words[6].w);
	cm_orec_y_retry = orec_get(&cm_words[6].w);
}

START_TEST(test_commit_invalid)
{
	self();
	cm_words[6].w = 7;
	cm_attempts = 0;
	cm_pre_y = orec_get(&cm_words[6].w);

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(commit_invalid_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_int_eq(cm_attempts, 2);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_COMMIT_INVALID] = 1 };
	assert_aborts(&s0, &s1, want);
	ck_assert_msg(cm_y_retry == 7, "the failed commit wrote %llu", ULL(cm_y_retry));
	ck_assert_msg(cm_orec_y_retry == cm_pre_y, "orec of the written word %#llx after the failed "
	              "commit, expected %#llx", ULL(cm_orec_y_retry), ULL(cm_pre_y));
	ck_assert_uint_eq(cm_words[6].w, 7);
	ck_assert_uint_eq(s1.commits - s0.commits, 1);
}
END_TEST

/* ------------------------------------------------- LUCID_SERIAL_AFTER */

#define SERIAL_N 3
static unsigned serial_saved;

/* LUCID_SERIAL_AFTER is read once, at the process's first transaction. */
static void serial_after(unsigned n)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", n);
	serial_saved = 0;
	if (!stm_orecs) {
		ck_assert_int_eq(setenv("LUCID_SERIAL_AFTER", buf, 1), 0);
		stm_init();
	} else {   /* CK_FORK=no: an earlier test read the configuration */
		serial_saved = stm_config.serial_after;
		stm_config.serial_after = n;
	}
	ck_assert_uint_eq(stm_config.serial_after, n);
}

static void serial_restore(void)
{
	if (serial_saved)
		stm_config.serial_after = serial_saved;
}

/* ------------------------------------------------------------------ abort */

static struct sword ab_words[4];
static uint64_t *ab_far;   /* under the orec of ab_words[0].w */
static uintptr_t ab_pre[4];
static uintptr_t ab_locked[4];
static int ab_attempts;

static void ab_write_all(void)
{
	for (int i = 0; i < 4; i++)
		lucid_write(ab_words[i].w, 0xabab);
	lucid_write(*ab_far, 0xabab);
	for (int i = 0; i < 4; i++)
		ab_locked[i] = orec_get(&ab_words[i].w);
}

static void ab_lucid_abort_fn(void *arg)
{
	ab_attempts++;
	ab_write_all();
	lucid_abort();
}

static void ab_rollback_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	ab_attempts++;
	(void)lucid_read(ab_words[3].w);
	ab_write_all();
	stm_rollback(tx);
	TX_CHECK(tx->fast.w_top == tx->w_base, "write log not empty after stm_rollback");
	TX_CHECK(tx->fast.r_top == tx->r_base, "read set not empty after stm_rollback");
	for (int i = 0; i < 4; i++)
		TX_CHECK(orec_get(&ab_words[i].w) == ab_pre[i], "orec %d is %#llx after stm_rollback, "
		         "expected %#llx", i, ULL(orec_get(&ab_words[i].w)), ULL(ab_pre[i]));
	/* Empty logs: ends as a read-only commit. */
}

static void ab_check_untouched(const char *how)
{
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(stm_orec_is_locked(ab_locked[i]), "%s: orec %d was not locked by the write", how, i);
		ck_assert_msg(orec_get(&ab_words[i].w) == ab_pre[i], "%s: orec %d is %#llx, expected %#llx",
		              how, i, ULL(orec_get(&ab_words[i].w)), ULL(ab_pre[i]));
		ck_assert_msg(ab_words[i].w == (uint64_t)i, "%s: word %d is %#llx", how, i, ULL(ab_words[i].w));
	}
	ck_assert_msg(*ab_far == 100, "%s: the chained word is %#llx", how, ULL(*ab_far));
}

START_TEST(test_abort_restores)
{
	self();
	size_t stride = stm_orec_mask + 1;   /* stripes apart: same orec */
	struct sword *region = sword_alloc(stride + 1);

	ck_assert_ptr_nonnull(region);
	/* Four orecs with different versions (one still at its initial one). */
	ab_far = &region[(orec_index_of(&ab_words[0].w) - orec_index_of(region)) & stm_orec_mask].w;
	ck_assert_uint_eq(orec_index_of(ab_far), orec_index_of(&ab_words[0].w));
	*ab_far = 100;
	for (int i = 0; i < 3; i++)
		tx_write_word(&ab_words[i].w, (uint64_t)i);
	ab_words[3].w = 3;
	for (int i = 0; i < 4; i++)
		ab_pre[i] = orec_get(&ab_words[i].w);

	uintptr_t c0 = stm_clock_now();
	struct lucid_stats s0 = stats_now();
	ab_attempts = 0;
	ck_assert_int_eq(lucid_run(ab_lucid_abort_fn, NULL), LUCID_ABORTED);
	struct lucid_stats s1 = stats_now();
	ck_assert_int_eq(ab_attempts, 1);
	ab_check_untouched("lucid_abort");
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_EXPLICIT] = 1 };
	assert_aborts(&s0, &s1, want);
	ck_assert_uint_eq(s1.commits, s0.commits);

	ab_attempts = 0;
	memset(ab_locked, 0, sizeof(ab_locked));
	ck_assert_int_eq(lucid_run(ab_rollback_fn, NULL), 0);
	TX_CHECKS_PASSED();
	ck_assert_int_eq(ab_attempts, 1);
	ab_check_untouched("stm_rollback");
	ck_assert_uint_eq(stm_clock_now(), c0);
	free(region);
}
END_TEST

/* A second thread holds ab_hold[0].w locked in an open transaction. */
static struct sword ab_hold[8];
static pthread_barrier_t ab_bar;
static struct stm_tx *ab_holder;
static int ab_holder_attempts, ab_leaked;
static uint64_t ab_value;

static void holder_fn(void *arg)
{
	ab_holder_attempts++;
	ab_holder = stm_self();
	lucid_write(ab_hold[0].w, 0xb0b);
	if (ab_holder_attempts == 1) {
		pthread_barrier_wait(&ab_bar);   /* locked */
		pthread_barrier_wait(&ab_bar);   /* may commit */
	}
}

static void *holder_thread(void *arg)
{
	lucid_run(holder_fn, NULL);
	return NULL;
}

static void read_locked_fn(void *arg)
{
	if (++ab_attempts > 1)
		return;
	ab_value = lucid_read(ab_hold[0].w);
	ab_leaked = 1;
}

static void write_locked_fn(void *arg)
{
	if (++ab_attempts > 1)
		return;
	lucid_write(ab_hold[0].w, 1);
	ab_leaked = 1;
}

static void read_neighbour_fn(void *arg)
{
	ab_attempts++;
	ab_value = lucid_read(ab_hold[1].w);
	lucid_write(ab_hold[2].w, ab_value + 1);
}

START_TEST(test_abort_locked)
{
	/* Serial mode would wait for the holder, which waits for us. */
	serial_after(99);
	self();
	ab_hold[0].w = 5;
	ab_hold[1].w = 6;
	ab_holder_attempts = 0;
	ck_assert_int_eq(pthread_barrier_init(&ab_bar, NULL, 2), 0);
	pthread_t t = spawn(holder_thread, NULL);
	pthread_barrier_wait(&ab_bar);

	uintptr_t o = orec_get(&ab_hold[0].w);
	ck_assert_msg(stm_orec_is_locked(o), "the other thread's write did not lock: %#llx", ULL(o));
	ck_assert_ptr_eq(stm_orec_owner(o)->owner, ab_holder);
	ck_assert_uint_eq(stm_orec_owner(o)->addr, (uintptr_t)&ab_hold[0].w);

	struct lucid_stats s0 = stats_now();
	ab_attempts = ab_leaked = 0;
	ck_assert_int_eq(lucid_run(read_locked_fn, NULL), 0);
	ck_assert_msg(!ab_leaked, "a read of a word locked by another transaction returned %llu",
	              ULL(ab_value));
	ck_assert_int_eq(ab_attempts, 2);
	ab_attempts = ab_leaked = 0;
	ck_assert_int_eq(lucid_run(write_locked_fn, NULL), 0);
	ck_assert_msg(!ab_leaked, "a write to a word locked by another transaction went through");
	ck_assert_int_eq(ab_attempts, 2);
	/* Other words are not affected. */
	ab_attempts = 0;
	ck_assert_int_eq(lucid_run(read_neighbour_fn, NULL), 0);
	ck_assert_int_eq(ab_attempts, 1);
	ck_assert_uint_eq(ab_hold[2].w, 7);
	struct lucid_stats s1 = stats_now();

	uint64_t want[LUCID_ABORT_REASONS_MAX] = {
		[LUCID_ABORT_READ_LOCKED] = 1, [LUCID_ABORT_WRITE_LOCKED] = 1,
	};
	assert_aborts(&s0, &s1, want);
	ck_assert_msg(orec_get(&ab_hold[0].w) == o, "our aborts changed the other's lock: %#llx, was %#llx",
	              ULL(orec_get(&ab_hold[0].w)), ULL(o));
	ck_assert_uint_eq(peek(&ab_hold[0].w), 5);

	pthread_barrier_wait(&ab_bar);
	join(t);
	pthread_barrier_destroy(&ab_bar);
	ck_assert_int_eq(ab_holder_attempts, 1);
	ck_assert_uint_eq(ab_hold[0].w, 0xb0b);
	ck_assert(!stm_orec_is_locked(orec_get(&ab_hold[0].w)));
	serial_restore();
}
END_TEST

/* The same with a forged lock (an entry in no thread's log). */
static void forged_read_fn(void *arg)
{
	if (++ab_attempts == 1) {
		ab_pre[0] = forge_lock(&ab_hold[4].w);
		ab_value = lucid_read(ab_hold[4].w);
		ab_leaked = 1;
		return;
	}
	ab_locked[0] = orec_get(&ab_hold[4].w);   /* still the forged lock */
	orec_put(&ab_hold[4].w, ab_pre[0]);
	ab_value = lucid_read(ab_hold[4].w);
}

static void forged_write_fn(void *arg)
{
	if (++ab_attempts == 1) {
		ab_pre[0] = forge_lock(&ab_hold[4].w);
		lucid_write(ab_hold[4].w, 1);
		ab_leaked = 1;
		return;
	}
	ab_locked[0] = orec_get(&ab_hold[4].w);
	orec_put(&ab_hold[4].w, ab_pre[0]);
	lucid_write(ab_hold[4].w, 2);
}

START_TEST(test_abort_locked_forged)
{
	self();
	ab_hold[4].w = 8;

	struct lucid_stats s0 = stats_now();
	ab_attempts = ab_leaked = 0;
	ck_assert_int_eq(lucid_run(forged_read_fn, NULL), 0);
	ck_assert_msg(!ab_leaked, "a read of a locked word returned");
	ck_assert_int_eq(ab_attempts, 2);
	ck_assert_uint_eq(ab_value, 8);
	ck_assert_msg(ab_locked[0] == stm_orec_locked_by(&foreign_entry),
	              "the abort changed a lock it does not own: %#llx", ULL(ab_locked[0]));
	struct lucid_stats s1 = stats_now();
	uint64_t want_r[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_LOCKED] = 1 };
	assert_aborts(&s0, &s1, want_r);

	ab_attempts = ab_leaked = 0;
	ck_assert_int_eq(lucid_run(forged_write_fn, NULL), 0);
	ck_assert_msg(!ab_leaked, "a write to a locked word went through");
	ck_assert_int_eq(ab_attempts, 2);
	ck_assert_msg(ab_locked[0] == stm_orec_locked_by(&foreign_entry),
	              "the abort changed a lock it does not own: %#llx", ULL(ab_locked[0]));
	ck_assert_uint_eq(ab_hold[4].w, 2);
	struct lucid_stats s2 = stats_now();
	uint64_t want_w[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_WRITE_LOCKED] = 1 };
	assert_aborts(&s1, &s2, want_w);
}
END_TEST

/* --------------------------------------------------------------- back-off */

START_TEST(test_backoff_limit)
{
	unsigned cap_at = 0;

	ck_assert_uint_gt(stm_backoff_limit(0), 0);
	ck_assert_uint_gt(stm_backoff_limit(1), stm_backoff_limit(0));
	for (unsigned r = 0; r < 1000; r++) {
		unsigned a = stm_backoff_limit(r), b = stm_backoff_limit(r + 1);

		CHECK(b >= a, "limit(%u) = %u < limit(%u) = %u", r + 1, b, r, a);
		CHECK(b <= 2 * a, "limit(%u) = %u more than doubles limit(%u) = %u", r + 1, b, r, a);
		if (!cap_at && b == a)
			cap_at = r;
		if (cap_at)
			CHECK(b == a, "limit grows again at %u retries after stopping at %u", r + 1,
			      cap_at);
	}
	CHECK(cap_at > 0 && cap_at <= 32, "the limit stops growing at %u retries", cap_at);
	ck_assert_uint_eq(stm_backoff_limit(UINT32_MAX), stm_backoff_limit(cap_at));
	ck_assert_uint_eq(stm_backoff_limit(1u << 31), stm_backoff_limit(cap_at));

	/* stm_backoff itself terminates at any retry count, zero included. */
	static struct stm_tx fake;
	const unsigned retries[] = { 0, 1, 5, 100, UINT32_MAX };

	fake.rng = 1;
	for (size_t i = 0; i < sizeof(retries) / sizeof(retries[0]); i++) {
		fake.retries = retries[i];
		for (int k = 0; k < 20; k++)
			stm_backoff(&fake);
	}
}
END_TEST

static uint64_t rng_self[2];

static void *rng_thread(void *arg)
{
	rng_self[(intptr_t)arg] = stm_self()->rng;
	return NULL;
}

START_TEST(test_random)
{
	static struct stm_tx a, b;
	uint64_t va[1000], vb[1000];
	int same_ab = 0, distinct = 0, low_bits = 0;

	a.rng = 0x1234;
	b.rng = 0x1235;
	for (int i = 0; i < 1000; i++) {
		va[i] = stm_random(&a);
		vb[i] = stm_random(&b);
		CHECK(a.rng != 0, "the generator reached state 0 after %d steps", i + 1);
		same_ab += va[i] == vb[i];
		if (i > 0 && va[i] != va[i - 1])
			distinct++;
		if (i > 0 && va[i] % 32 != va[i - 1] % 32)
			low_bits++;
	}
	CHECK(distinct >= 990, "only %d of 999 consecutive values differ", distinct);
	CHECK(low_bits >= 900, "the low bits (used with %% limit) vary only %d times in 999",
	      low_bits);
	CHECK(same_ab == 0, "seeds 0x1234 and 0x1235 give %d equal values", same_ab);

	/* The same seed replays the same sequence. */
	a.rng = 0x1234;
	for (int i = 0; i < 1000; i++) {
		uint64_t v = stm_random(&a);

		CHECK(v == va[i], "seed 0x1234 replayed: value %d is %#llx, was %#llx", i, ULL(v), ULL(va[i]));
	}

	/* Threads start from different seeds. */
	pthread_t t0 = spawn(rng_thread, (void *)0);
	join(t0);
	pthread_t t1 = spawn(rng_thread, (void *)1);
	join(t1);
	CHECK(rng_self[0] != 0 && rng_self[1] != 0 && rng_self[0] != rng_self[1],
	      "two threads seeded with %#llx and %#llx", ULL(rng_self[0]), ULL(rng_self[1]));
}
END_TEST

/* ---------------------------------------------------------- serial mode */

static uint64_t se_words[8] __attribute__((aligned(64)));
static int se_attempts, se_leaked, se_serial_at;
static bool se_serial[SERIAL_N + 8];
static uintptr_t se_pre;

static void serial_forged_fn(void *arg)
{
	struct stm_tx *tx = stm_self();
	int a = ++se_attempts;

	if (a < (int)(sizeof(se_serial) / sizeof(se_serial[0])))
		se_serial[a] = tx->serial;
	if (tx->serial && !se_serial_at)
		se_serial_at = a;
	if (a <= SERIAL_N) {
		if (a == 1)
			se_pre = forge_lock(&se_words[0]);
		(void)lucid_read(se_words[0]);
		se_leaked = 1;
		return;
	}
	orec_put(&se_words[0], se_pre);
	lucid_write(se_words[0], lucid_read(se_words[0]) + 1);
}

static void serial_plain_fn(void *arg)
{
	se_serial[0] = stm_self()->serial;
	lucid_write(se_words[1], 1);
}

START_TEST(test_serial_after_n)
{
	serial_after(SERIAL_N);
	self();
	se_words[0] = 10;
	se_attempts = se_leaked = se_serial_at = 0;
	memset(se_serial, 0, sizeof(se_serial));

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(serial_forged_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert(!se_leaked);
	ck_assert_msg(se_attempts == SERIAL_N + 1, "%d attempts with LUCID_SERIAL_AFTER=%d", se_attempts,
	              SERIAL_N);
	ck_assert_msg(se_serial_at == SERIAL_N + 1, "serial mode at attempt %d, expected %d",
	              se_serial_at, SERIAL_N + 1);
	for (int a = 1; a <= SERIAL_N; a++)
		ck_assert_msg(!se_serial[a], "attempt %d ran in serial mode", a);
	ck_assert_uint_eq(se_words[0], 11);
	ck_assert_uint_eq(s1.serial - s0.serial, 1);
	ck_assert_uint_eq(s1.max_retries, s0.max_retries > SERIAL_N ? s0.max_retries : SERIAL_N);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_LOCKED] = SERIAL_N };
	assert_aborts(&s0, &s1, want);
	ck_assert_msg(!stm_serial_pending(), "serial mode still pending after the serial commit");

	/* The next transaction starts afresh. */
	ck_assert_int_eq(lucid_run(serial_plain_fn, NULL), 0);
	struct lucid_stats s2 = stats_now();
	ck_assert_msg(!se_serial[0], "the transaction after a serial one ran in serial mode");
	ck_assert_uint_eq(s2.serial, s1.serial);
	serial_restore();
}
END_TEST

/*
 * Two threads: B holds se_words[0] locked until A asks for serial mode; A
 * reads it, aborts N times, then runs serially while B keeps trying to start
 * transactions, which must wait.
 */
static int sx_b_trying, sx_in_serial, sx_b_violations, sx_stop, sx_b_first_attempts;
static int sx_a_attempts, sx_a_serial_attempt, sx_b_gave_up, sx_b_saw_trying;
static uint64_t sx_b_loops, sx_a_serial_read;
static pthread_barrier_t sx_bar;

static void sx_b_first(void *arg)
{
	uint64_t v = lucid_read(se_words[0]);

	lucid_write(se_words[0], v + 1);
	if (++sx_b_first_attempts == 1) {
		pthread_barrier_wait(&sx_bar);
		double until = seconds() + 20;

		while (!stm_serial_pending()) {
			if (seconds() > until) {
				sx_b_gave_up = 1;
				break;
			}
			sched_yield();
		}
	}
}

static void sx_b_loop(void *arg)
{
	if (__atomic_load_n(&sx_in_serial, __ATOMIC_ACQUIRE))
		__atomic_add_fetch(&sx_b_violations, 1, __ATOMIC_RELAXED);
	lucid_write(se_words[0], lucid_read(se_words[0]) + 1);
}

static void *sx_b_thread(void *arg)
{
	lucid_run(sx_b_first, NULL);
	while (!__atomic_load_n(&sx_stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&sx_b_trying, 1, __ATOMIC_RELEASE);
		lucid_run(sx_b_loop, NULL);
		sx_b_loops++;
	}
	return NULL;
}

static void sx_a_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	if (++sx_a_attempts > SERIAL_N + 3)   /* broken: let B stop so that A ends */
		__atomic_store_n(&sx_stop, 1, __ATOMIC_RELEASE);
	if (tx->serial) {
		/* B's transaction has ended before this one started: its
		 * lock is gone and its write is in. */
		uint64_t v = lucid_read(se_words[0]);

		sx_a_serial_attempt = sx_a_attempts;
		sx_a_serial_read = v;
		sx_b_saw_trying = wait_flag(&sx_b_trying, 20);
		__atomic_store_n(&sx_in_serial, 1, __ATOMIC_RELEASE);
		sleep_ms(30);   /* B tries to start meanwhile */
		lucid_write(se_words[0], v + 1000);
		__atomic_store_n(&sx_in_serial, 0, __ATOMIC_RELEASE);
		return;
	}
	(void)lucid_read(se_words[0]);   /* locked by B: aborts */
}

START_TEST(test_serial_excludes_others)
{
	serial_after(SERIAL_N);
	self();
	se_words[0] = 0;
	sx_b_trying = sx_in_serial = sx_b_violations = sx_stop = sx_b_first_attempts = 0;
	sx_a_attempts = sx_a_serial_attempt = sx_b_gave_up = sx_b_saw_trying = 0;
	sx_b_loops = sx_a_serial_read = 0;
	ck_assert_int_eq(pthread_barrier_init(&sx_bar, NULL, 2), 0);

	struct lucid_stats s0 = stats_now();
	pthread_t b = spawn(sx_b_thread, NULL);
	pthread_barrier_wait(&sx_bar);   /* B holds the lock */
	ck_assert_int_eq(lucid_run(sx_a_fn, NULL), 0);
	__atomic_store_n(&sx_stop, 1, __ATOMIC_RELEASE);
	join(b);
	pthread_barrier_destroy(&sx_bar);
	struct lucid_stats s1 = stats_now();

	ck_assert_msg(!sx_b_gave_up, "serial mode never requested while a lock kept aborting A");
	ck_assert_msg(sx_a_serial_attempt == SERIAL_N + 1 && sx_a_attempts == SERIAL_N + 1,
	              "A ran serially at attempt %d of %d, expected %d of %d", sx_a_serial_attempt,
	              sx_a_attempts, SERIAL_N + 1, SERIAL_N + 1);
	ck_assert_msg(sx_a_serial_read == 1, "the serial attempt read %llu, expected B's commit (1)",
	              ULL(sx_a_serial_read));
	ck_assert_msg(sx_b_saw_trying, "B never tried to start a transaction");
	ck_assert_msg(sx_b_violations == 0, "B ran %d transactions while A was in serial mode",
	              sx_b_violations);
	ck_assert_uint_ge(sx_b_loops, 1);
	ck_assert_int_eq(sx_b_first_attempts, 1);
	ck_assert_msg(se_words[0] == 1 + 1000 + sx_b_loops, "counter %llu, expected %llu",
	              ULL(se_words[0]), ULL(1 + 1000 + sx_b_loops));
	ck_assert_uint_eq(s1.serial - s0.serial, 1);
	ck_assert_uint_eq(s1.max_retries, s0.max_retries > SERIAL_N ? s0.max_retries : SERIAL_N);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_LOCKED] = SERIAL_N };
	assert_aborts(&s0, &s1, want);
	ck_assert_uint_eq(s1.commits - s0.commits, 2 + sx_b_loops);
	serial_restore();
}
END_TEST

/*
 * stats.serial counts transactions, not attempts, and a serial transaction
 * that needs a bigger write log grows it without leaving serial mode.
 */
static int sc_attempts, sc_serial_attempts;

static void serial_capacity_fn(void *arg)
{
	struct stm_tx *tx = stm_self();

	sc_attempts++;
	if (tx->serial)
		sc_serial_attempts++;
	else
		stm_abort(tx, LUCID_ABORT_READ_LOCKED, 1);   /* a forged conflict */
	for (size_t i = 0; i < cap_n; i++)
		lucid_write(cap_words[i].w, i + 5);
	if (!tx->serial)
		sc_serial_attempts = -100;   /* left serial mode while growing */
}

START_TEST(test_serial_counted_once)
{
	serial_after(1);
	struct stm_tx *tx = self();
	size_t cap = tx->w_cap;

	cap_n = 2 * cap + 1;   /* grows twice: cap -> 2 cap -> 4 cap */
	cap_words = sword_alloc(cap_n);
	ck_assert_ptr_nonnull(cap_words);
	sc_attempts = sc_serial_attempts = 0;

	struct lucid_stats s0 = stats_now();
	ck_assert_int_eq(lucid_run(serial_capacity_fn, NULL), 0);
	struct lucid_stats s1 = stats_now();

	ck_assert_int_eq(sc_attempts, 2);
	ck_assert_int_eq(sc_serial_attempts, 1);   /* after the first abort, with LUCID_SERIAL_AFTER=1 */
	uint64_t want[LUCID_ABORT_REASONS_MAX] = { [LUCID_ABORT_READ_LOCKED] = 1 };
	assert_aborts(&s0, &s1, want);
	ck_assert_uint_eq(s1.commits - s0.commits, 1);
	ck_assert_uint_eq(tx->w_cap, 4 * cap);
	for (size_t i = 0; i < cap_n; i++)
		CHECK(cap_words[i].w == i + 5, "word %zu of %zu is %llu", i, cap_n, ULL(cap_words[i].w));
	ck_assert_msg(s1.serial - s0.serial == 1, "one serial transaction counted as %" PRIu64,
	              s1.serial - s0.serial);
	free(cap_words);
	serial_restore();
}
END_TEST

/* Out-of-range values stop the program with a message. */
static const char *const bad_serial_after[] = { "0", "100", "3x", "-1" };

START_TEST(test_serial_after_invalid)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	setenv("LUCID_SERIAL_AFTER", bad_serial_after[_i], 1);
	stm_init();
	ck_abort_msg("LUCID_SERIAL_AFTER=%s accepted (serial_after = %u)", bad_serial_after[_i],
	             stm_config.serial_after);
}
END_TEST

/* ------------------------------------------------------------------ stats */

static uint64_t st_words[8] __attribute__((aligned(64)));
static int st_attempts;
static pthread_barrier_t st_bar;

static void st_read_locked_fn(void *arg)
{
	if (++st_attempts == 1) {
		ab_pre[1] = forge_lock(&st_words[2]);
		(void)lucid_read(st_words[2]);
	}
	orec_put(&st_words[2], ab_pre[1]);
	(void)lucid_read(st_words[2]);
}

static void st_write_locked_fn(void *arg)
{
	if (++st_attempts == 1) {
		ab_pre[1] = forge_lock(&st_words[3]);
		lucid_write(st_words[3], 1);
	}
	orec_put(&st_words[3], ab_pre[1]);
	lucid_write(st_words[3], 2);
}

static void st_commit_invalid_fn(void *arg)
{
	if (++st_attempts == 1) {
		(void)lucid_read(st_words[4]);
		lucid_write(st_words[5], 1);
		forge_version(&st_words[4]);
		return;
	}
	lucid_write(st_words[5], 2);
}

static void *st_thread(void *arg)
{
	tx_write_word(&st_words[6], 1);
	lucid_run(abort_fn, &st_words[7]);
	pthread_barrier_wait(&st_bar);
	pthread_barrier_wait(&st_bar);
	return NULL;
}

static void *st_idle(void *arg)
{
	return arg;
}

static void assert_sum_of_reasons(const struct lucid_stats *s)
{
	uint64_t sum = 0;

	for (int r = 0; r < LUCID_ABORT_REASONS_MAX; r++)
		sum += s->aborts_by_reason[r];
	ck_assert_msg(sum == s->aborts, "aborts by reason sum to %" PRIu64 ", aborts = %" PRIu64, sum,
	              s->aborts);
}

START_TEST(test_stats)
{
	ck_assert_int_eq(lucid_stats_get(NULL), -LUCID_EINVAL);

	bool registered = stm_self_if_any() != NULL;
	struct lucid_stats s0 = stats_now();

	self();
	for (int i = 0; i < 3; i++)
		tx_write_word(&st_words[0], (uint64_t)i);
	for (int i = 0; i < 2; i++)
		(void)tx_read_word(&st_words[0]);
	ck_assert_int_eq(lucid_run(abort_fn, &st_words[1]), LUCID_ABORTED);
	st_attempts = 0;
	ck_assert_int_eq(lucid_run(st_read_locked_fn, NULL), 0);    /* 1 abort, then read-only */
	st_attempts = 0;
	ck_assert_int_eq(lucid_run(st_write_locked_fn, NULL), 0);   /* 1 abort, then update */
	st_attempts = 0;
	ck_assert_int_eq(lucid_run(st_commit_invalid_fn, NULL), 0); /* 1 abort, then update */

	struct lucid_stats s1 = stats_now();
	ck_assert_uint_eq(s1.commits - s0.commits, 3 + 2 + 1 + 1 + 1);
	ck_assert_uint_eq(s1.commits_ro - s0.commits_ro, 2 + 1);
	uint64_t want[LUCID_ABORT_REASONS_MAX] = {
		[LUCID_ABORT_EXPLICIT] = 1, [LUCID_ABORT_READ_LOCKED] = 1,
		[LUCID_ABORT_WRITE_LOCKED] = 1, [LUCID_ABORT_COMMIT_INVALID] = 1,
	};
	assert_aborts(&s0, &s1, want);
	assert_sum_of_reasons(&s1);
	ck_assert_uint_eq(s1.threads, s0.threads + (registered ? 0 : 1));

	/* Another thread counts while it lives and after it exits. */
	ck_assert_int_eq(pthread_barrier_init(&st_bar, NULL, 2), 0);
	pthread_t t = spawn(st_thread, NULL);
	pthread_barrier_wait(&st_bar);
	struct lucid_stats s2 = stats_now();
	pthread_barrier_wait(&st_bar);
	join(t);
	pthread_barrier_destroy(&st_bar);
	struct lucid_stats s3 = stats_now();

	ck_assert_uint_eq(s2.threads, s1.threads + 1);
	ck_assert_uint_eq(s2.commits, s1.commits + 1);
	ck_assert_uint_eq(s2.aborts_by_reason[LUCID_ABORT_EXPLICIT], s1.aborts_by_reason[LUCID_ABORT_EXPLICIT] + 1);
	ck_assert_msg(s3.threads == s2.threads, "threads %" PRIu64 " after the thread exited, %" PRIu64
	              " before", s3.threads, s2.threads);
	ck_assert_uint_eq(s3.commits, s2.commits);
	ck_assert_uint_eq(s3.commits_ro, s2.commits_ro);
	ck_assert_uint_eq(s3.aborts, s2.aborts);
	for (int r = 0; r < LUCID_ABORT_REASONS_MAX; r++)
		ck_assert_msg(s3.aborts_by_reason[r] == s2.aborts_by_reason[r],
		              "reason %s: %" PRIu64 " after the thread exited, %" PRIu64 " before",
		              lucid_abort_reason_name(r), s3.aborts_by_reason[r], s2.aborts_by_reason[r]);
	assert_sum_of_reasons(&s3);

	/* A thread that runs no transaction is not counted. */
	t = spawn(st_idle, NULL);
	join(t);
	struct lucid_stats s4 = stats_now();
	ck_assert_uint_eq(s4.threads, s3.threads);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static bool forking(void)
{
	const char *f = getenv("CK_FORK");

	return !f || strcmp(f, "no") != 0;
}

static Suite *stm_suite(void)
{
	static const struct {
		const char *name;
		const TTest *const *test;
		bool slow;
	} cases[] = {
		{ "clock_tick", &test_clock_tick, false },
		{ "clock_tick_concurrent", &test_clock_tick_concurrent, true },
		{ "clock_commit", &test_clock_commit, false },
		{ "orec_lock_encoding", &test_orec_lock_encoding, false },
		{ "orec_lock_fast_path", &test_orec_lock_fast_path, false },
		{ "orec_index", &test_orec_index, false },
		{ "byte_mask", &test_byte_mask, false },
		{ "store_masked", &test_store_masked, false },
		{ "store_masked_neighbour", &test_store_masked_neighbour, true },
		{ "read_set_entries", &test_read_set_entries, false },
		{ "read_set_grows", &test_read_set_grows, false },
		{ "write_log", &test_write_log, false },
		{ "write_capacity", &test_write_capacity, true },
		{ "validate", &test_validate, false },
		{ "extend", &test_extend, false },
		{ "read_extends", &test_read_extends, false },
		{ "stale_snapshot", &test_stale_snapshot, false },
		{ "write_invalid", &test_write_invalid, false },
		{ "validate_owned", &test_validate_owned, false },
		{ "commit_publishes", &test_commit_publishes, true },
		{ "commit_invalid", &test_commit_invalid, false },
		{ "abort_restores", &test_abort_restores, false },
		{ "abort_locked", &test_abort_locked, true },
		{ "abort_locked_forged", &test_abort_locked_forged, false },
		{ "backoff_limit", &test_backoff_limit, false },
		{ "random", &test_random, true },
		{ "serial_after_n", &test_serial_after_n, true },
		{ "serial_excludes_others", &test_serial_excludes_others, true },
		{ "serial_counted_once", &test_serial_counted_once, false },
		{ "stats", &test_stats, true },
	};
	Suite *s = suite_create("stm");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		if (cases[i].slow)
			tcase_set_timeout(tc, 60);
		tcase_add_test(tc, *cases[i].test);
		suite_add_tcase(s, tc);
	}
	/* Stops the process: only where each test has its own. */
	if (forking()) {
		TCase *tc = tcase_create("serial_after_invalid");

		tcase_add_loop_test_raise_signal(tc, test_serial_after_invalid, SIGABRT, 0,
		                                 (int)(sizeof(bad_serial_after) / sizeof(bad_serial_after[0])));
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return test_run_suite(stm_suite());
}
