/* tests: the torture program (make stress; a 20-second run in make check): every feature at once, invariants checked. */
/*
 * Usage: torture [-d seconds] [-n max_threads] [-r round_seconds] [-s seed] [-k dir] [-q]
 *
 * -d: how long in all (see below); -n: at most this many threads (2..64);
 * -r: seconds per round (default: a tenth of the run, from 0.5 to 2); -s:
 * seed of every random choice; -k: keep the recordings in this directory;
 * -q: print only failed rounds and the summary.
 *
 * The run is a series of rounds, each in a child process forked by this
 * one (which never runs a transaction itself). A round starts 2 to
 * max_threads (default 64) threads, far more than the cores of a small
 * machine, that mix every feature of Lucid on one shared state:
 *
 *   - transfers between accounts through nested blocks (flat nesting), some
 *     of them registering commit and abort handlers, one kind of commit
 *     handler running a transaction of its own;
 *   - moves of units between 1-, 2-, 4- and 8-byte integers, doubles and
 *     misaligned members of a packed structure, and increments of one byte
 *     per thread packed next to the other threads' bytes (sub-word writes);
 *   - a stack of nodes pushed with lucid_malloc and popped with lucid_free;
 *   - a pool of tokens taken with a blocking lucid_retry when empty;
 *   - transactions that become irrevocable and then have a side effect that
 *     must happen exactly once;
 *   - transactions that write and then lucid_abort() (from a nested block),
 *     whose writes and commit handlers must vanish;
 *   - audits: read-only transactions over the whole state.
 *
 * Each round also picks how aborts are captured: not at all, through an
 * abort hook (for the whole round, or switched on and off every few
 * milliseconds), or into a recording (lucid_record_start or LUCID_RECORD),
 * with or without the hook. Some recorded rounds are ended with SIGKILL.
 *
 * Invariants are checked inside transactions (every audit: opacity promises
 * that even an attempt about to abort sees a consistent state) and after the
 * threads are joined: every conserved sum, every per-thread count (the bytes
 * next to each other, the handlers, the irrevocable side effects), the
 * statistics (reasons add up, no transaction aborted more than
 * LUCID_SERIAL_AFTER times in a row), the hook's counts against the
 * statistics, and each recording read back (complete, undamaged, one ABORT
 * record per abort less the drops it reports; after SIGKILL, undamaged up to
 * where it stops).
 *
 * Without -d the run lasts 20 seconds, or 20 x LUCID_STRESS_SECONDS / 1.5 when
 * that is set (the sanitizer builds shorten the stress tests with it). Prints
 * one line per round and a summary; exits 0 when nothing was violated.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>
#include "conflict/reader.h"

#define MAX_THREADS 64
#define ACCOUNTS 256
#define INITIAL 1000
#define BYTES 64
#define HALVES 32
#define QUADS 16
#define WIDES 8
#define DOUBLES 8
#define PACKED 16
#define SUB_INITIAL 100        /* each sub-word cell starts with this many units */
#define STACK_LIMIT 128        /* nodes at most on the shared stack */
#define TOKENS 4               /* in the retry pool */
#define NODE_MAGIC 0x6c75636964ull

#ifdef LUCID_TSAN
/*
 * ThreadSanitizer sleeps 1 s in every process's exit by default, so that
 * threads still running then are caught racing with the exit handlers. A
 * round's workers are joined before its process exits; what still runs
 * (the recorder's writer, liburcu's call_rcu thread) works on a cycle of
 * 20 ms, so 100 ms still overlaps several of its cycles, and the sanitized
 * run affords twice as many rounds.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=100";
}
#endif

/* ------------------------------------------------------------ shared state */

struct node {
	uint64_t value;
	uint64_t check;        /* value ^ NODE_MAGIC: a reused or freed node shows */
	struct node *next;
};

struct __attribute__((packed)) pk {
	uint8_t tag;
	uint32_t units;        /* misaligned */
	uint64_t wide;         /* misaligned, straddles two words */
};

static struct {
	long accounts[ACCOUNTS];
	/* Sub-word cells: units move between them, the sum stays. */
	uint8_t bytes[BYTES];
	uint16_t halves[HALVES];
	uint32_t quads[QUADS];
	uint64_t wides[WIDES];
	double doubles[DOUBLES];
	struct pk packed[PACKED];
	/* One byte per thread, packed: neighbours are other threads. */
	uint8_t lanes[MAX_THREADS];
	/* The stack of lucid_malloc'd nodes and what it must hold. */
	struct node *top;
	long depth;
	uint64_t sum;
	/* The retry pool. */
	long avail;
	uint8_t held[MAX_THREADS];
	/* Transactions run by commit handlers. */
	long handler_txs;
	/* Set (transactionally) to stop the workers; wakes the waiting ones. */
	int stop;
} g;

static const long sub_total = (long)SUB_INITIAL * (BYTES + HALVES + QUADS + WIDES + DOUBLES + PACKED);

/* ------------------------------------------------------------ violations */

static uint64_t violations;
static char first_violation[256];

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
	fprintf(stderr, "torture: violation: %s\n", msg);
}

/* ------------------------------------------------------------ randomness */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t z = a * 0x9E3779B97F4A7C15ULL + b * 0xBF58476D1CE4E5B9ULL + 1;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec d = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ workers */

/* Written only by its thread while the round runs (handlers included: they
 * run in the thread that registered them). */
struct worker {
	int index;
	uint64_t seed;
	pthread_t thread;
	uint64_t ops, lane_incs;
	uint64_t commit_handlers, expect_commit_handlers;
	uint64_t abort_handlers;
	uint64_t wrong_commit_handlers;  /* ran for a transaction that aborted */
	uint64_t handler_txs;
	uint64_t irrevocable, side_effects;
	uint64_t user_aborts;
	uint64_t pushes, pops, takes, gives;
	bool holding;
	char pad[64];
};

static struct worker workers[MAX_THREADS];
static pthread_barrier_t start_barrier;

static void on_commit_count(void *arg)
{
	((struct worker *)arg)->commit_handlers++;
}

static void on_abort_count(void *arg)
{
	((struct worker *)arg)->abort_handlers++;
}

/* A commit handler that runs a transaction of its own. */
static void on_commit_tx(void *arg)
{
	struct worker *w = arg;

	w->commit_handlers++;
	LUCID_ATOMIC {
		lucid_write(g.handler_txs, lucid_read(g.handler_txs) + 1);
	}
	w->handler_txs++;
}

static void on_commit_wrong(void *arg)
{
	((struct worker *)arg)->wrong_commit_handlers++;
}

/* Nested blocks: each is part of the caller's transaction. */
static void withdraw(int a, long amount)
{
	LUCID_ATOMIC {
		lucid_write(g.accounts[a], lucid_read(g.accounts[a]) - amount);
	}
}

static void deposit(int a, long amount)
{
	LUCID_ATOMIC {
		lucid_write(g.accounts[a], lucid_read(g.accounts[a]) + amount);
	}
}

static void op_transfer(struct worker *w)
{
	int a = (int)(rnd(&w->seed) % ACCOUNTS), b = (int)(rnd(&w->seed) % ACCOUNTS);
	long amount = (long)(rnd(&w->seed) % 50) + 1;
	unsigned handlers = (unsigned)(rnd(&w->seed) % 8);

	LUCID_ATOMIC {
		withdraw(a, amount);
		if (handlers == 1)
			lucid_on_commit(on_commit_count, w);
		else if (handlers == 2)
			lucid_on_commit(on_commit_tx, w);
		if (handlers <= 2)
			lucid_on_abort(on_abort_count, w);
		deposit(b, amount);
	}
	if (handlers == 1 || handlers == 2)
		w->expect_commit_handlers++;
}

/* Reads cell i of the sub-word cells (all kinds in one numbering). */
static long sub_get(int i)
{
	if (i < BYTES)
		return lucid_read(g.bytes[i]);
	if ((i -= BYTES) < HALVES)
		return lucid_read(g.halves[i]);
	if ((i -= HALVES) < QUADS)
		return lucid_read(g.quads[i]);
	if ((i -= QUADS) < WIDES)
		return (long)lucid_read(g.wides[i]);
	if ((i -= WIDES) < DOUBLES)
		return (long)lucid_read(g.doubles[i]);
	i -= DOUBLES;
	return lucid_read(g.packed[i].units);
}

static long sub_max(int i)
{
	return i < BYTES ? 255 : i < BYTES + HALVES ? 65535 : 1L << 40;
}

static void sub_set(int i, long v)
{
	if (i < BYTES) {
		lucid_write(g.bytes[i], (uint8_t)v);
	} else if ((i -= BYTES) < HALVES) {
		lucid_write(g.halves[i], (uint16_t)v);
	} else if ((i -= HALVES) < QUADS) {
		lucid_write(g.quads[i], (uint32_t)v);
	} else if ((i -= QUADS) < WIDES) {
		lucid_write(g.wides[i], (uint64_t)v);
	} else if ((i -= WIDES) < DOUBLES) {
		lucid_write(g.doubles[i], (double)v);
	} else {
		i -= DOUBLES;
		lucid_write(g.packed[i].units, (uint32_t)v);
		/* The wide member mirrors it, so both halves of a straddling
		 * access are checked. */
		lucid_write(g.packed[i].wide, ~(uint64_t)v);
	}
}

#define SUB_CELLS (BYTES + HALVES + QUADS + WIDES + DOUBLES + PACKED)

static void op_subword(struct worker *w)
{
	int from = (int)(rnd(&w->seed) % SUB_CELLS), to = (int)(rnd(&w->seed) % SUB_CELLS);
	long units = (long)(rnd(&w->seed) % 3) + 1;
	int lane = w->index;

	LUCID_ATOMIC {
		long f = sub_get(from);

		if (from != to && f >= units && sub_get(to) + units <= sub_max(to)) {
			sub_set(from, f - units);
			sub_set(to, sub_get(to) + units);
		}
		lucid_write(g.lanes[lane], (uint8_t)(lucid_read(g.lanes[lane]) + 1));
	}
	w->lane_incs++;
}

/* Pushes run through lucid_run: the value travels in memory, not in a
 * local that the block's sigsetjmp could clobber. */
struct push_arg {
	uint64_t value;
	int pushed;
};

static void push_fn(void *p)
{
	struct push_arg *a = p;

	a->pushed = 0;
	if (lucid_read(g.depth) >= STACK_LIMIT)
		return;
	struct node *n = lucid_malloc(sizeof(*n));

	if (!n)
		abort();
	/* Private until this transaction commits. */
	n->value = a->value;
	n->check = a->value ^ NODE_MAGIC;
	n->next = lucid_read(g.top);
	lucid_write(g.top, n);
	lucid_write(g.depth, lucid_read(g.depth) + 1);
	lucid_write(g.sum, lucid_read(g.sum) + a->value);
	a->pushed = 1;
}

static void op_push(struct worker *w)
{
	struct push_arg a = { .value = rnd(&w->seed) % 1000000 };

	if (lucid_run(push_fn, &a) != 0)
		violation("push: lucid_run returned without committing");
	w->pushes += (uint64_t)a.pushed;
}

static void op_pop(struct worker *w)
{
	LUCID_ATOMIC {
		struct node *n = lucid_read(g.top);

		if (n) {
			uint64_t v = lucid_read(n->value);

			if (lucid_read(n->check) != (v ^ NODE_MAGIC))
				violation("pop: a node on the stack holds %#" PRIx64 " checked %#" PRIx64,
				          v, lucid_read(n->check));
			lucid_write(g.top, lucid_read(n->next));
			lucid_write(g.depth, lucid_read(g.depth) - 1);
			lucid_write(g.sum, lucid_read(g.sum) - v);
			/* A concurrent reader may still be looking at it: Lucid
			 * frees it only after they are done. */
			lucid_free(n);
		}
	}
	w->pops++;
}

/* The pool: take a token (waiting with lucid_retry while there is none),
 * or give back the one held. A thread holds at most one and never waits
 * while holding one, so a token is always on its way back. */
struct take_arg {
	struct worker *w;
	int got;
};

static void take_fn(void *p)
{
	struct take_arg *t = p;

	t->got = 0;
	if (lucid_read(g.stop))
		return;
	long avail = lucid_read(g.avail);

	if (avail == 0)
		lucid_retry();
	lucid_write(g.avail, avail - 1);
	lucid_write(g.held[t->w->index], 1);
	t->got = 1;
}

static void op_pool(struct worker *w)
{
	if (!w->holding) {
		struct take_arg t = { .w = w };

		if (lucid_run(take_fn, &t) != 0)
			violation("pool: lucid_run of a take returned without committing");
		if (t.got) {
			w->holding = true;
			w->takes++;
		}
		return;
	}
	int self = w->index;

	LUCID_ATOMIC {
		lucid_write(g.held[self], 0);
		lucid_write(g.avail, lucid_read(g.avail) + 1);
	}
	w->holding = false;
	w->gives++;
}

static void op_irrevocable(struct worker *w)
{
	int a = (int)(rnd(&w->seed) % ACCOUNTS), b = (int)(rnd(&w->seed) % ACCOUNTS);

	LUCID_ATOMIC {
		long before = lucid_read(g.accounts[a]);

		lucid_irrevocable();
		/* From here on this transaction cannot abort: the side effect
		 * happens exactly once per block. */
		w->side_effects++;
		if (!lucid_is_irrevocable())
			violation("irrevocable: lucid_is_irrevocable() is 0 after lucid_irrevocable()");
		withdraw(a, 1);
		deposit(b, 1);
		if (a != b && lucid_read(g.accounts[a]) != before - 1)
			violation("irrevocable: account %d went from %ld to %ld, not %ld", a, before,
			          lucid_read(g.accounts[a]), before - 1);
	}
	w->irrevocable++;
}

/* Writes, then aborts from a nested block: nothing of it may remain. */
static void abort_fn(void *p)
{
	struct worker *w = p;
	int a = (int)(w->seed % ACCOUNTS);

	lucid_on_commit(on_commit_wrong, w);
	lucid_on_abort(on_abort_count, w);
	lucid_write(g.accounts[a], lucid_read(g.accounts[a]) + 1000000);
	lucid_write(g.lanes[w->index], (uint8_t)(lucid_read(g.lanes[w->index]) + 7));
	LUCID_ATOMIC {
		lucid_write(g.avail, lucid_read(g.avail) + 1);
		lucid_abort();
	}
}

static void op_user_abort(struct worker *w)
{
	rnd(&w->seed);
	if (lucid_run(abort_fn, w) != LUCID_ABORTED)
		violation("user abort: lucid_run did not return LUCID_ABORTED");
	w->user_aborts++;
}

/* Everything at once, read-only: each conserved quantity must hold in
 * every attempt, even one about to abort. */
static void op_audit(struct worker *w)
{
	(void)w;
	LUCID_ATOMIC {
		long total = 0, sub = 0, avail, held = 0, depth, count = 0;
		uint64_t sum, seen = 0;

		for (int i = 0; i < ACCOUNTS; i++)
			total += lucid_read(g.accounts[i]);
		if (total != (long)ACCOUNTS * INITIAL)
			violation("audit: accounts sum to %ld, not %ld", total, (long)ACCOUNTS * INITIAL);
		for (int i = 0; i < SUB_CELLS; i++)
			sub += sub_get(i);
		for (int i = 0; i < PACKED; i++)
			if (lucid_read(g.packed[i].wide) != ~(uint64_t)lucid_read(g.packed[i].units))
				violation("audit: packed cell %d: units %u, wide %#" PRIx64, i,
				          lucid_read(g.packed[i].units), lucid_read(g.packed[i].wide));
		if (sub != sub_total)
			violation("audit: sub-word cells sum to %ld, not %ld", sub, sub_total);
		avail = lucid_read(g.avail);
		for (int i = 0; i < MAX_THREADS; i++)
			held += lucid_read(g.held[i]);
		if (avail < 0 || avail + held != TOKENS)
			violation("audit: pool has %ld available and %ld held, not %d in all", avail,
			          held, TOKENS);
		depth = lucid_read(g.depth);
		sum = lucid_read(g.sum);
		for (struct node *n = lucid_read(g.top); n && count <= STACK_LIMIT; n = lucid_read(n->next)) {
			uint64_t v = lucid_read(n->value);

			if (lucid_read(n->check) != (v ^ NODE_MAGIC))
				violation("audit: node %ld of the stack holds %#" PRIx64 " checked %#" PRIx64,
				          count, v, lucid_read(n->check));
			seen += v;
			count++;
		}
		if (count != depth || seen != sum)
			violation("audit: the stack has %ld nodes summing to %" PRIu64 ", its counters say "
			          "%ld and %" PRIu64, count, seen, depth, sum);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_barrier);
	while (!__atomic_load_n(&g.stop, __ATOMIC_RELAXED)) {
		unsigned pick = (unsigned)(rnd(&w->seed) % 100);

		if (pick < 30)
			op_transfer(w);
		else if (pick < 50)
			op_subword(w);
		else if (pick < 60)
			op_push(w);
		else if (pick < 70)
			op_pop(w);
		else if (pick < 78)
			op_pool(w);
		else if (pick < 81)
			op_irrevocable(w);
		else if (pick < 86)
			op_user_abort(w);
		else
			op_audit(w);
		w->ops++;
		/* On a machine with few cores, give others a chance to
		 * overlap with us now and then. */
		if (pick % 16 == 0)
			sched_yield();
	}
	/* Tokens go back to the pool before the thread ends. */
	if (w->holding)
		op_pool(w);
	return NULL;
}

/* ------------------------------------------------------------ a round */

enum mode {
	MODE_OFF,          /* nothing captured */
	MODE_HOOK,         /* an abort hook for the whole round */
	MODE_TOGGLE,       /* the hook switched on and off */
	MODE_RECORD,       /* lucid_record_start */
	MODE_RECORD_ENV,   /* LUCID_RECORD, and the hook */
	MODE_KILL,         /* recorded, and ended with SIGKILL */
	MODES
};

static const char *const mode_names[MODES] = {
	"off", "hook", "hook-toggled", "record", "record-env+hook", "record-killed",
};

/* What a round's child tells the parent. */
struct result {
	uint64_t violations;
	char first[256];
	uint64_t commits, aborts, by_reason[LUCID_ABORT_REASONS], max_retries;
	uint64_t serial, irrevocable, retry_waits;
	uint64_t ops, hook_calls;
};

static uint64_t hook_calls, hook_by_reason[LUCID_ABORT_REASONS];

static void hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	__atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
	if (c->reason < 0 || c->reason >= LUCID_ABORT_REASONS) {
		violation("hook: reason %d out of range", c->reason);
		return;
	}
	__atomic_fetch_add(&hook_by_reason[c->reason], 1, __ATOMIC_RELAXED);
	if (c->attempt < 1)
		violation("hook: attempt %u", (unsigned)c->attempt);
	if (c->stack_depth > 512 || c->other_depth > 512)
		violation("hook: stack depths %u and %u", c->stack_depth, c->other_depth);
	/* Line 0: a function run by lucid_run(), whose site is Lucid's own. */
	if (c->line != 0 && (!c->file || strstr(c->file, "torture.c") == NULL))
		violation("hook: the aborted block is at %s:%d", c->file, c->line);
}

static void init_state(void)
{
	memset(&g, 0, sizeof(g));
	for (int i = 0; i < ACCOUNTS; i++)
		g.accounts[i] = INITIAL;
	for (int i = 0; i < SUB_CELLS; i++) {
		/* Plain stores: no thread runs yet. */
		if (i < BYTES)
			g.bytes[i] = SUB_INITIAL;
		else if (i < BYTES + HALVES)
			g.halves[i - BYTES] = SUB_INITIAL;
		else if (i < BYTES + HALVES + QUADS)
			g.quads[i - BYTES - HALVES] = SUB_INITIAL;
		else if (i < BYTES + HALVES + QUADS + WIDES)
			g.wides[i - BYTES - HALVES - QUADS] = SUB_INITIAL;
		else if (i < BYTES + HALVES + QUADS + WIDES + DOUBLES)
			g.doubles[i - BYTES - HALVES - QUADS - WIDES] = SUB_INITIAL;
		else {
			int k = i - (SUB_CELLS - PACKED);

			g.packed[k].units = SUB_INITIAL;
			g.packed[k].wide = ~(uint64_t)SUB_INITIAL;
		}
	}
	g.avail = TOKENS;
}

/* After the threads are joined: plain reads. */
static void check_after(int threads, const struct lucid_stats *st, bool hook_whole)
{
	long total = 0, sub = 0, held = 0, count = 0;
	uint64_t seen = 0, handler_txs = 0, reasons = 0;

	for (int i = 0; i < ACCOUNTS; i++)
		total += g.accounts[i];
	if (total != (long)ACCOUNTS * INITIAL)
		violation("after: accounts sum to %ld, not %ld", total, (long)ACCOUNTS * INITIAL);
	for (int i = 0; i < BYTES; i++)
		sub += g.bytes[i];
	for (int i = 0; i < HALVES; i++)
		sub += g.halves[i];
	for (int i = 0; i < QUADS; i++)
		sub += g.quads[i];
	for (int i = 0; i < WIDES; i++)
		sub += (long)g.wides[i];
	for (int i = 0; i < DOUBLES; i++)
		sub += (long)g.doubles[i];
	for (int i = 0; i < PACKED; i++) {
		sub += g.packed[i].units;
		if (g.packed[i].wide != ~(uint64_t)g.packed[i].units)
			violation("after: packed cell %d: units %u, wide %#" PRIx64, i,
			          (unsigned)g.packed[i].units, (uint64_t)g.packed[i].wide);
	}
	if (sub != sub_total)
		violation("after: sub-word cells sum to %ld, not %ld", sub, sub_total);
	for (int i = 0; i < MAX_THREADS; i++)
		held += g.held[i];
	if (held != 0 || g.avail != TOKENS)
		violation("after: pool has %ld available and %ld held, not %d and 0", g.avail, held,
		          TOKENS);
	for (struct node *n = g.top; n; n = n->next, count++) {
		if (n->check != (n->value ^ NODE_MAGIC))
			violation("after: a node holds %#" PRIx64 " checked %#" PRIx64, n->value, n->check);
		seen += n->value;
	}
	if (count != g.depth || seen != g.sum)
		violation("after: the stack has %ld nodes summing to %" PRIu64 ", its counters say %ld "
		          "and %" PRIu64, count, seen, g.depth, g.sum);
	for (int t = 0; t < MAX_THREADS; t++) {
		struct worker *w = &workers[t];

		if (t >= threads) {
			if (g.lanes[t] != 0)
				violation("after: lane %d of no thread holds %u", t, g.lanes[t]);
			continue;
		}
		if (g.lanes[t] != (uint8_t)w->lane_incs)
			violation("after: thread %d's byte is %u after %" PRIu64 " increments (lost or "
			          "clobbered by a neighbour)", t, g.lanes[t], w->lane_incs);
		if (w->commit_handlers != w->expect_commit_handlers)
			violation("after: thread %d: %" PRIu64 " commit handlers ran for %" PRIu64
			          " committed transactions that registered one", t, w->commit_handlers,
			          w->expect_commit_handlers);
		if (w->wrong_commit_handlers)
			violation("after: thread %d: %" PRIu64 " commit handlers ran for aborted "
			          "transactions", t, w->wrong_commit_handlers);
		if (w->side_effects != w->irrevocable)
			violation("after: thread %d: %" PRIu64 " side effects in %" PRIu64
			          " irrevocable transactions", t, w->side_effects, w->irrevocable);
		if (w->abort_handlers < w->user_aborts)
			violation("after: thread %d: %" PRIu64 " abort handlers for %" PRIu64
			          " lucid_abort()s", t, w->abort_handlers, w->user_aborts);
		handler_txs += w->handler_txs;
	}
	if ((uint64_t)g.handler_txs != handler_txs)
		violation("after: handlers committed %" PRIu64 " transactions, the counter says %ld",
		          handler_txs, g.handler_txs);
	for (int r = 0; r < LUCID_ABORT_REASONS; r++)
		reasons += st->aborts_by_reason[r];
	if (reasons != st->aborts)
		violation("after: aborts by reason sum to %" PRIu64 ", not %" PRIu64, reasons, st->aborts);
	if (st->max_retries >= 100)
		violation("after: a transaction aborted %" PRIu64 " times in a row", st->max_retries);
	if (hook_whole) {
		uint64_t calls = __atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST);

		if (calls != st->aborts)
			violation("after: the hook saw %" PRIu64 " aborts, the statistics say %" PRIu64,
			          calls, st->aborts);
		for (int r = 0; r < LUCID_ABORT_REASONS; r++)
			if (hook_by_reason[r] != st->aborts_by_reason[r])
				violation("after: the hook saw %" PRIu64 " %s aborts, the statistics %" PRIu64,
				          hook_by_reason[r], lucid_abort_reason_name(r),
				          st->aborts_by_reason[r]);
	} else if (__atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST) > st->aborts) {
		violation("after: the hook saw %" PRIu64 " aborts, more than the %" PRIu64 " counted",
		          hook_calls, st->aborts);
	}
}

static void stop_workers(void)
{
	/* A transaction, so that threads waiting in lucid_retry wake up. */
	LUCID_ATOMIC {
		lucid_write(g.stop, 1);
	}
}

/* The child: runs one round and reports through fd. */
static void round_child(int fd, int threads, enum mode mode, int serial_after, double seconds,
                        uint64_t seed, const char *path)
{
	struct result res;
	struct lucid_stats st;
	int max_retries_bound = LUCID_DEFAULT_SERIAL_AFTER;
	const char *sa = getenv("LUCID_SERIAL_AFTER");

	memset(&res, 0, sizeof(res));
	init_state();
	if (serial_after) {
		/* Read at the first transaction. */
		char v[16];

		snprintf(v, sizeof(v), "%d", serial_after);
		setenv("LUCID_SERIAL_AFTER", v, 1);
		max_retries_bound = serial_after;
	} else if (sa && *sa) {
		max_retries_bound = atoi(sa);
	}
	if (mode == MODE_RECORD || mode == MODE_KILL) {
		if (lucid_record_start(path, 0) != 0) {
			violation("cannot record to %s", path);
			goto report;
		}
	} else if (mode == MODE_RECORD_ENV) {
		setenv("LUCID_RECORD", path, 1);
	}
	if (mode == MODE_HOOK || mode == MODE_TOGGLE || mode == MODE_RECORD_ENV)
		lucid_set_abort_hook(hook, NULL);
	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)threads + 1) != 0)
		abort();
	for (int i = 0; i < threads; i++) {
		workers[i].index = i;
		workers[i].seed = mix(seed, (uint64_t)i);
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "torture: cannot create thread %d of %d\n", i, threads);
			_exit(2);
		}
	}
	pthread_barrier_wait(&start_barrier);
	if (mode == MODE_TOGGLE) {
		double end = now_s() + seconds;
		bool on = true;

		while (now_s() < end) {
			sleep_s(0.005);
			on = !on;
			lucid_set_abort_hook(on ? hook : NULL, NULL);
		}
	} else {
		sleep_s(seconds);
	}
	stop_workers();
	for (int i = 0; i < threads; i++)
		pthread_join(workers[i].thread, NULL);
	lucid_stats_get(&st);
	/* The stop transaction ran after the threads were counted from. */
	check_after(threads, &st, mode == MODE_HOOK || mode == MODE_RECORD_ENV);
	if (st.max_retries > (uint64_t)max_retries_bound)
		violation("after: max_retries %" PRIu64 " above LUCID_SERIAL_AFTER %d", st.max_retries,
		          max_retries_bound);
	res.commits = st.commits;
	res.aborts = st.aborts;
	memcpy(res.by_reason, st.aborts_by_reason, sizeof(res.by_reason));
	res.max_retries = st.max_retries;
	res.serial = st.serial;
	res.irrevocable = st.irrevocable;
	res.retry_waits = st.retry_waits;
	for (int i = 0; i < threads; i++)
		res.ops += workers[i].ops;
	res.hook_calls = __atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST);
report:
	res.violations = __atomic_load_n(&violations, __ATOMIC_SEQ_CST);
	memcpy(res.first, first_violation, sizeof(res.first));
	if (write(fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(3);
	close(fd);
	exit(0); /* exit, not _exit: the recorder writes its last records at exit */
}

/* ------------------------------------------------------------ recordings */

/* Reads a recording back. A round that exited must have left it whole:
 * every record valid, ending at a record boundary, one ABORT per abort
 * less the reported drops, its STATS equal to what the round counted. One
 * killed by SIGKILL must be undamaged up to where it stops. */
static uint64_t check_recording(const char *path, const struct result *res, bool killed,
                                char *why, size_t whylen, char *note, size_t notelen)
{
	char err[400];
	struct rec_reader *r = rec_reader_open(path, err, sizeof(err));
	struct rec_event ev;
	uint64_t aborts = 0, dropped = 0, bad = 0;
	bool stats = false;
	int st;

	if (!r) {
		snprintf(why, whylen, "recording: %s", err);
		return 1;
	}
	while ((st = rec_reader_next(r, &ev)) == REC_OK) {
		const struct rec_abort *a = &ev.r.abort;
		uint32_t depth;

		switch (ev.r.type) {
		case REC_TYPE_ABORT:
			aborts++;
			if (a->reason >= LUCID_ABORT_REASONS ||
			    (a->stack && !rec_reader_stack(r, a->stack, &depth)) ||
			    (a->other_stack && !rec_reader_stack(r, a->other_stack, &depth)) ||
			    (a->site && !rec_reader_site(r, a->site)) ||
			    (a->other_site && !rec_reader_site(r, a->other_site))) {
				if (!bad++)
					snprintf(why, whylen, "recording: the ABORT at offset %" PRIu64
					         " refers to what the file does not define", ev.offset);
			}
			break;
		case REC_TYPE_DROPS:
			dropped = ev.r.drops.dropped;
			break;
		case REC_TYPE_STATS:
			stats = true;
			if (!killed && (ev.r.stats.aborts != res->aborts ||
			                ev.r.stats.commits != res->commits)) {
				if (!bad++)
					snprintf(why, whylen, "recording: STATS says %" PRIu64 " commits and %"
					         PRIu64 " aborts, the round counted %" PRIu64 " and %" PRIu64,
					         ev.r.stats.commits, ev.r.stats.aborts, res->commits,
					         res->aborts);
			}
			break;
		}
	}
	if (st == REC_DAMAGED || st == REC_ERROR || (!killed && st != REC_EOF)) {
		if (!bad++)
			snprintf(why, whylen, "recording: %s", rec_reader_warning(r) ? rec_reader_warning(r)
			                                                                  : "not read to the end");
	} else if (!killed && !stats) {
		if (!bad++)
			snprintf(why, whylen, "recording: no STATS record at the end");
	} else if (!killed && (aborts > res->aborts || aborts + dropped < res->aborts)) {
		if (!bad++)
			snprintf(why, whylen, "recording: %" PRIu64 " ABORT records and %" PRIu64
			         " dropped for %" PRIu64 " aborts", aborts, dropped, res->aborts);
	}
	snprintf(note, notelen, "; recording: %" PRIu64 " aborts, %" PRIu64 " dropped, %" PRIu64
	         " bytes%s", aborts, dropped, rec_reader_offset(r),
	         st == REC_AGAIN ? ", then a record cut short" : "");
	rec_reader_close(r);
	return bad;
}

/* ------------------------------------------------------------ the run */

static void usage(void)
{
	fprintf(stderr, "usage: torture [-d seconds] [-n max_threads] [-r round_seconds] [-s seed] "
	                "[-k dir] [-q]\n");
	exit(2);
}

static int pick_threads(uint64_t *s, int round, int max)
{
	/* The extremes come early, so that even a short run sees them. */
	static const int first[] = { 2, 64, 8, 32, 3, 16 };
	int n;

	if (round < (int)(sizeof(first) / sizeof(first[0])))
		n = first[round];
	else
		n = 2 + (int)(rnd(s) % 63);
	return n > max ? max : n;
}

int main(int argc, char **argv)
{
	double seconds = -1, round_len = 0, t0, elapsed;
	int max_threads = MAX_THREADS, opt, rounds = 0, failed = 0, quiet = 0;
	uint64_t seed = 1, s, total_commits = 0, total_aborts = 0, total_ops = 0, max_retries = 0;
	uint64_t total_hook = 0, total_serial = 0, total_irrevocable = 0, total_waits = 0;
	const char *keep = NULL;
	char dir[4096];

	while ((opt = getopt(argc, argv, "d:n:r:s:k:q")) != -1) {
		switch (opt) {
		case 'd': seconds = atof(optarg); break;
		case 'n': max_threads = atoi(optarg); break;
		case 'r': round_len = atof(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'k': keep = optarg; break;
		case 'q': quiet = 1; break;
		default: usage();
		}
	}
	if (optind != argc || max_threads < 2 || max_threads > MAX_THREADS || round_len < 0)
		usage();
	if (seconds < 0) {
		const char *e = getenv("LUCID_STRESS_SECONDS");

		seconds = e && *e ? 20.0 * atof(e) / 1.5 : 20.0;
	}
	/* At least ten rounds, so that a short run still sees every mode;
	 * rounds of at most 2 s, so that a long one sees many. */
	if (round_len == 0)
		round_len = seconds / 10 < 0.5 ? 0.5 : seconds / 10 > 2 ? 2 : seconds / 10;
	/* Recordings go to a fresh directory, removed at the end unless a
	 * round failed (or -k names one to keep them in). */
	if (keep) {
		snprintf(dir, sizeof(dir), "%s", keep);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			perror(dir);
			return 2;
		}
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/lucid-torture-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror(dir);
			return 2;
		}
	}
	unsetenv("LUCID_RECORD");
	printf("torture: %.0f s, rounds of %.1f s, 2 to %d threads, seed %" PRIu64 "\n", seconds,
	       round_len, max_threads, seed);
	fflush(stdout);
	s = mix(seed, 0x70727475);
	t0 = now_s();
	while ((elapsed = now_s() - t0) < seconds) {
		double len = seconds - elapsed < round_len ? seconds - elapsed : round_len;
		int threads = pick_threads(&s, rounds, max_threads);
		enum mode mode = (enum mode)((uint64_t)rounds % MODES);
		/* Now and then few aborts in a row send a transaction to
		 * serial mode, so that it is exercised too. */
		static const int serial_afters[] = { 0, 0, 2, 0, 1, 0, 4 };
		int serial_after = serial_afters[rounds % 7];
		uint64_t round_seed = mix(seed, (uint64_t)rounds + 1);
		char path[4200], why[512] = "", note[160] = "";
		struct result res;
		int fds[2], status;
		ssize_t n;
		pid_t pid;
		double r0 = now_s();

		if (len < 0.05)
			break;
		snprintf(path, sizeof(path), "%s/round-%d.lucid", dir, rounds);
		if (pipe(fds) < 0) {
			perror("pipe");
			return 2;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			close(fds[0]);
			round_child(fds[1], threads, mode, serial_after, len, round_seed, path);
		}
		close(fds[1]);
		if (mode == MODE_KILL) {
			sleep_s(len / 2 + 0.15);
			kill(pid, SIGKILL);
		}
		memset(&res, 0, sizeof(res));
		do
			n = read(fds[0], &res, sizeof(res));
		while (n < 0 && errno == EINTR);
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (mode == MODE_KILL) {
			if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) &&
			    !(WIFEXITED(status) && WEXITSTATUS(status) == 0 && n == (ssize_t)sizeof(res)))
				snprintf(why, sizeof(why), "round ended with status %#x", status);
			else if (n == (ssize_t)sizeof(res) && res.violations)
				snprintf(why, sizeof(why), "%" PRIu64 " violations, first: %s", res.violations,
				         res.first);
			else
				check_recording(path, &res, true, why, sizeof(why), note, sizeof(note));
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != (ssize_t)sizeof(res)) {
			snprintf(why, sizeof(why), "round ended with status %#x", status);
		} else if (res.violations) {
			snprintf(why, sizeof(why), "%" PRIu64 " violations, first: %s", res.violations,
			         res.first);
		} else if (mode == MODE_RECORD || mode == MODE_RECORD_ENV) {
			check_recording(path, &res, false, why, sizeof(why), note, sizeof(note));
		}
		if (!quiet || why[0])
			printf("torture: round %d (%.1f s): %d threads, capture %s%s%.0d: %" PRIu64 " ops, %" PRIu64
			       " commits, %" PRIu64 " aborts (max %" PRIu64 " in a row), %" PRIu64
			       " serial, %" PRIu64 " irrevocable, %" PRIu64 " retry waits%s: %s%s\n", rounds,
			       now_s() - r0, threads, mode_names[mode], serial_after ? ", serial after " : "",
			       serial_after, res.ops, res.commits, res.aborts,
			       res.max_retries, res.serial, res.irrevocable, res.retry_waits, note,
			       why[0] ? "FAILED: " : "ok", why);
		fflush(stdout);
		if (why[0])
			failed++;
		else if (!keep)
			unlink(path);
		total_commits += res.commits;
		total_aborts += res.aborts;
		total_ops += res.ops;
		total_hook += res.hook_calls;
		total_serial += res.serial;
		total_irrevocable += res.irrevocable;
		total_waits += res.retry_waits;
		if (res.max_retries > max_retries)
			max_retries = res.max_retries;
		rounds++;
	}
	elapsed = now_s() - t0;
	if (!failed && !keep)
		rmdir(dir);
	printf("torture: %d rounds in %.1f s: %" PRIu64 " operations, %" PRIu64 " commits, %" PRIu64
	       " aborts (at most %" PRIu64 " in a row), %" PRIu64 " seen by hooks, %" PRIu64
	       " serial, %" PRIu64 " irrevocable, %" PRIu64 " retry waits; %d rounds failed%s%s\n",
	       rounds, elapsed, total_ops, total_commits, total_aborts, max_retries, total_hook,
	       total_serial, total_irrevocable, total_waits, failed, failed ? "; recordings kept in " : "",
	       failed ? dir : "");
	return failed ? 1 : 0;
}
