/* tests: the abort hook, lucid_debug_abort and lucid_record_start. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lucid.h>
#include "conflict/recorder.h"
#include "stm/stm-internal.h"
#include "tests/testutil.h"

static long counter;
static long hook_calls, hook_known, hook_bad;
static const char *want_file;
static int want_line;

static void hook(const struct lucid_conflict *c, void *arg)
{
	bool bad = arg != &counter || !c->stack || c->stack_depth == 0 || c->tid <= 0 ||
	           c->attempt == 0 || !c->file || strcmp(c->file, want_file) != 0 ||
	           c->line != want_line || c->reason < 0 || c->reason >= LUCID_ABORT_REASONS;

	__atomic_add_fetch(&hook_calls, 1, __ATOMIC_RELAXED);
	if (c->flags & LUCID_CONFLICT_OTHER_KNOWN) {
		__atomic_add_fetch(&hook_known, 1, __ATOMIC_RELAXED);
		bad |= !c->other_stack || c->other_depth == 0 || c->other_tid <= 0 ||
		       c->other_tid == c->tid || !c->other_file || c->other_line != want_line ||
		       (c->address & ~(uintptr_t)7) != (uintptr_t)&counter ||
		       c->other_address != (uintptr_t)&counter;
	}
	if (bad) {
		__atomic_add_fetch(&hook_bad, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "wrong conflict: reason %d flags %#x depth %u/%u tid %d/%d "
		        "block %s:%d/%s:%d address %#lx/%#lx\n", c->reason, c->flags, c->stack_depth,
		        c->other_depth, c->tid, c->other_tid, c->file ? c->file : "-", c->line,
		        c->other_file ? c->other_file : "-", c->other_line, (unsigned long)c->address,
		        (unsigned long)c->other_address);
	}
}

static int block_line;

static void *bump(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (volatile long i = 0; i < n; i++) {
		__atomic_store_n(&block_line, __LINE__ + 1, __ATOMIC_RELAXED);
		LUCID_ATOMIC {
			lucid_write(counter, lucid_read(counter) + 1);
			if (i % 8 == 0)
				sched_yield();   /* let the other thread meet our lock */
		}
	}
	return NULL;
}

static void run_threads(long each)
{
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, bump, (void *)(intptr_t)each), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* Every abort reaches the hook, in the aborting thread, with both sides. */
START_TEST(test_hook_sees_every_abort)
{
	struct lucid_stats s0, s1;

	want_file = __FILE__;
	bump((void *)(intptr_t)1);   /* sets block_line */
	want_line = __atomic_load_n(&block_line, __ATOMIC_RELAXED);
	counter = 0;
	lucid_set_abort_hook(hook, &counter);
	lucid_stats_get(&s0);
	/* Until the threads have met: on a busy machine they may take turns
	 * for a whole round without overlapping. */
	long rounds = 0;

	do {
		run_threads(20000);
		rounds++;
		lucid_stats_get(&s1);
	} while (s1.aborts == s0.aborts && rounds < 50);
	lucid_set_abort_hook(NULL, NULL);

	ck_assert_int_eq(counter, 40000 * rounds);
	ck_assert_msg(s1.aborts > s0.aborts, "no aborts happened in %ld rounds: the test proves nothing",
	              rounds);
	ck_assert_int_eq(hook_calls, (long)(s1.aborts - s0.aborts));
	ck_assert_msg(hook_bad == 0, "%ld of %ld hook calls had wrong fields", hook_bad, hook_calls);
	ck_assert_msg(hook_known * 10 >= hook_calls * 9,
	              "the other side was known for only %ld of %ld conflicts", hook_known, hook_calls);

	/* Removed: no more calls. */
	long before = hook_calls;
	lucid_stats_get(&s0);
	run_threads(5000);
	lucid_stats_get(&s1);
	ck_assert_int_eq(hook_calls, before);
}
END_TEST

static long debug_calls;

/* lucid_debug_abort is a real function: calling it runs the hook. */
static void count_hook(const struct lucid_conflict *c, void *arg)
{
	(void)c;
	(void)arg;
	debug_calls++;
}

START_TEST(test_debug_abort_runs_hook)
{
	struct lucid_conflict c = { .reason = LUCID_ABORT_EXPLICIT };

	lucid_set_abort_hook(count_hook, NULL);
	lucid_debug_abort(&c);
	ck_assert_int_eq(debug_calls, 1);
	/* An explicit abort is recorded too, with its stack. */
	LUCID_ATOMIC {
		lucid_write(counter, 1L);
		lucid_abort();
	}
	ck_assert_int_eq(debug_calls, 2);
	lucid_set_abort_hook(NULL, NULL);
}
END_TEST

/* A conflict on a word inside a lucid_malloc'd block names the allocation. */
struct node {
	long v;
	long pad;
};
static struct node *shared_node;
static long node_conflicts, node_with_alloc, node_alloc_right;

static __attribute__((noinline)) struct node *make_node(void)
{
	struct node *n = lucid_malloc(sizeof(struct node));

	__asm__ __volatile__("" : : "r"(n) : "memory");   /* not a tail call */
	return n;
}

static void node_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	if (!lucid_abort_reason_is_conflict(c->reason))
		return;
	__atomic_add_fetch(&node_conflicts, 1, __ATOMIC_RELAXED);
	if (!(c->flags & LUCID_CONFLICT_ALLOC_STACK))
		return;
	__atomic_add_fetch(&node_with_alloc, 1, __ATOMIC_RELAXED);
	/* Its innermost frame returns into make_node. */
	if (c->alloc_depth && c->alloc_stack[0] > (uintptr_t)make_node &&
	    c->alloc_stack[0] < (uintptr_t)make_node + 256)
		__atomic_add_fetch(&node_alloc_right, 1, __ATOMIC_RELAXED);
}

static void *bump_node(void *arg)
{
	for (volatile long i = 0; i < (long)(intptr_t)arg; i++) {
		LUCID_ATOMIC {
			struct node *n = lucid_read(shared_node);

			lucid_write(n->v, lucid_read(n->v) + 1);
			if (i % 8 == 0)
				sched_yield();
		}
	}
	return NULL;
}

START_TEST(test_alloc_stack)
{
	pthread_t t[2];

	lucid_set_abort_hook(node_hook, NULL);
	LUCID_ATOMIC {
		struct node *n = make_node();

		lucid_write(n->v, 0L);
		lucid_write(shared_node, n);
	}
	/* Until the threads have met (see test_hook_sees_every_abort). */
	long rounds = 0;

	do {
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL, bump_node, (void *)(intptr_t)20000), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		rounds++;
	} while (__atomic_load_n(&node_conflicts, __ATOMIC_RELAXED) == 0 && rounds < 50);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(shared_node->v, 40000 * rounds);
	ck_assert_msg(node_conflicts > 0, "no conflicts happened in %ld rounds: the test proves nothing",
	              rounds);
	ck_assert_msg(node_with_alloc == node_conflicts,
	              "%ld of %ld conflicts on the node named its allocation", node_with_alloc,
	              node_conflicts);
	ck_assert_msg(node_alloc_right == node_with_alloc,
	              "%ld of %ld allocation stacks start in make_node", node_alloc_right,
	              node_with_alloc);
}
END_TEST

/*
 * The reader's stack of a read found invalid at commit, when one thread
 * alternates between two blocks that call the same reading function at the
 * same stack depth: the stacks the inline paths remember for a place
 * (site, stack position) belong to one block context, so each abort must
 * name the block it happened in.
 */
/*
 * The hand-off the reader-stack tests run a round at a time between the
 * test's thread (the reader) and a writer thread: the first attempt of a
 * round reads, lets the writer commit a change to what it read, then goes
 * on, so that its commit finds the read invalid; the retry goes through.
 */
struct handoff {
	int phase;    /* 1: the reader has read; 2: the writer has committed */
	int waited;   /* this round's first attempt has waited */
};

/* In the reader's attempt, after its read. */
static void handoff_reader(struct handoff *h)
{
	if (!__atomic_load_n(&h->waited, __ATOMIC_RELAXED)) {
		__atomic_store_n(&h->waited, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&h->phase, 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&h->phase, __ATOMIC_ACQUIRE) != 2)
			sched_yield();
	}
}

/* The writer: waits for the reader's read, and after its commit says so. */
static void handoff_writer_wait(struct handoff *h)
{
	while (__atomic_load_n(&h->phase, __ATOMIC_ACQUIRE) != 1)
		sched_yield();
}

static void handoff_writer_done(struct handoff *h)
{
	__atomic_store_n(&h->phase, 2, __ATOMIC_RELEASE);
}

/* Around each of the reader's rounds. */
static void handoff_round_start(struct handoff *h)
{
	__atomic_store_n(&h->waited, 0, __ATOMIC_RELAXED);
}

static void handoff_round_end(struct handoff *h)
{
	__atomic_store_n(&h->phase, 0, __ATOMIC_RELAXED);
}

/* Each word in a 64-byte block of its own: under an orec of its own (words
 * of one 32-byte stripe share one, and their conflicts are false ones). */
#define OWN_OREC __attribute__((aligned(64)))
static long ctx_x OWN_OREC, ctx_y OWN_OREC;
static struct handoff ctx_ho;
static uintptr_t ctx_pc[16][3];  /* innermost three frames of each abort */
static int ctx_reason[16];
static int ctx_aborts;

static __attribute__((noinline)) long ctx_read_x(void)
{
	long v = lucid_read(ctx_x);

	__asm__ __volatile__("" : : "r"(v) : "memory");   /* not a tail call */
	return v;
}

static void ctx_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int i = ctx_aborts++;

	if (i < 16) {
		ctx_reason[i] = c->reason;
		for (unsigned f = 0; f < 3; f++)
			ctx_pc[i][f] = c->stack_depth > f ? c->stack[f] : 0;
	}
}

/* The first attempt of a round reads x, lets the other thread change it,
 * then writes: its commit finds the read invalid. */
static __attribute__((noinline)) void ctx_round_body(void)
{
	long v = ctx_read_x();

	handoff_reader(&ctx_ho);
	lucid_write(ctx_y, v + 1);
}

static __attribute__((noinline)) void ctx_block_a(void)
{
	LUCID_ATOMIC {
		ctx_round_body();
	}
	__asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void ctx_block_b(void)
{
	LUCID_ATOMIC {
		ctx_round_body();
	}
	__asm__ __volatile__("" ::: "memory");
}

static void *ctx_writer(void *arg)
{
	long rounds = (long)(intptr_t)arg;

	for (volatile long r = 0; r < rounds; r++) {
		handoff_writer_wait(&ctx_ho);
		LUCID_ATOMIC {
			lucid_write(ctx_x, lucid_read(ctx_x) + 1);
		}
		handoff_writer_done(&ctx_ho);
	}
	return NULL;
}

/* Which of these functions @p pc returns into: the nearest start below it
 * (a return address is inside its function; the compiler may move a
 * function's cold part elsewhere, which is why the read itself, inside
 * ctx_read_x's cold part, is not looked up this way). */
static int ctx_function_of(uintptr_t pc)
{
	const uintptr_t fn[] = { (uintptr_t)ctx_block_a, (uintptr_t)ctx_block_b,
	                         (uintptr_t)ctx_round_body, (uintptr_t)ctx_read_x };
	int best = -1;

	for (int i = 0; i < 4; i++)
		if (pc > fn[i] && (best < 0 || fn[i] > fn[best]))
			best = i;
	return best;
}

/* In these tests' second run (_i 1), reads note no stacks, as while only a
 * file records: each record takes its read's stack from the retry. */
START_TEST(test_reader_stack_per_block)
{
	enum { ROUNDS = 8 };
	pthread_t t;

	rec_test_lazy_reads(_i == 1);
	lucid_set_abort_hook(ctx_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, ctx_writer, (void *)(intptr_t)ROUNDS), 0);
	for (int r = 0; r < ROUNDS; r++) {
		handoff_round_start(&ctx_ho);
		if (r % 2 == 0)
			ctx_block_a();
		else
			ctx_block_b();
		handoff_round_end(&ctx_ho);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(ctx_x, ROUNDS);
	ck_assert_int_eq(ctx_aborts, ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		ck_assert_msg(ctx_reason[i] == LUCID_ABORT_COMMIT_INVALID,
		              "abort %d: reason %d, not commit-invalid", i, ctx_reason[i]);
		/* The read: one place, in every round. */
		ck_assert_msg(ctx_pc[i][0] != 0 && ctx_pc[i][0] == ctx_pc[0][0],
		              "abort %d: the innermost frame is %#lx, abort 0's %#lx", i,
		              (unsigned long)ctx_pc[i][0], (unsigned long)ctx_pc[0][0]);
		ck_assert_msg(ctx_function_of(ctx_pc[i][1]) == 2,
		              "abort %d: the second frame is not in ctx_round_body", i);
		ck_assert_msg(ctx_function_of(ctx_pc[i][2]) == i % 2,
		              "abort %d (in block %c) names function %d", i, "ab"[i % 2],
		              ctx_function_of(ctx_pc[i][2]));
	}
}
END_TEST

/*
 * Stacks that share the place of an access (its return address and stack
 * position) but not its callers: pc_body reads through pc_read from two call
 * sites at the same depth, and the block's function is reached from two
 * drivers that call pc_mid at the same depth. Each abort must name its own
 * call sites, however often the same place was seen through other callers.
 */
static long pc_a OWN_OREC, pc_x OWN_OREC, pc_y OWN_OREC;
static long *pc_target;          /* the word the writer changes this round */
static struct handoff pc_ho;
enum { PC_ROUNDS = 8, PC_FRAMES = 8 };
static uintptr_t pc_stack[PC_ROUNDS][PC_FRAMES];
static uintptr_t pc_address[PC_ROUNDS];
static int pc_reason[PC_ROUNDS];
static int pc_aborts;

static __attribute__((noinline)) long pc_read(long *p)
{
	long v = lucid_read(*p);

	__asm__ __volatile__("" : : "r"(v) : "memory");   /* not a tail call */
	return v;
}

static __attribute__((noinline)) void pc_body(void)
{
	long a = pc_read(&pc_a);
	long x = pc_read(&pc_x);

	handoff_reader(&pc_ho);
	lucid_write(pc_y, a + x);
}

static __attribute__((noinline)) void pc_block(void)
{
	LUCID_ATOMIC {
		pc_body();
	}
	__asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void pc_mid(void)
{
	pc_block();
	__asm__ __volatile__("" ::: "memory");
}

/* Two drivers with different code (so that no compiler folds them): two
 * callers of @p fn, for the tests' stacks to tell apart. */
static __attribute__((noinline)) void driver_1(void (*fn)(void))
{
	fn();
	__asm__ __volatile__("nop" ::: "memory");
}

static __attribute__((noinline)) void driver_2(void (*fn)(void))
{
	fn();
	__asm__ __volatile__("nop; nop" ::: "memory");
}

static void pc_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int i = pc_aborts++;

	if (i < PC_ROUNDS) {
		pc_reason[i] = c->reason;
		pc_address[i] = c->address;
		for (unsigned f = 0; f < PC_FRAMES; f++)
			pc_stack[i][f] = c->stack_depth > f ? c->stack[f] : 0;
	}
}

static void *pc_writer(void *arg)
{
	(void)arg;
	for (volatile int r = 0; r < PC_ROUNDS; r++) {
		handoff_writer_wait(&pc_ho);
		long *w = __atomic_load_n(&pc_target, __ATOMIC_RELAXED);

		LUCID_ATOMIC {
			lucid_write(*w, lucid_read(*w) + 1);
		}
		handoff_writer_done(&pc_ho);
	}
	return NULL;
}

START_TEST(test_reader_stack_per_caller)
{
	pthread_t t;

	rec_test_lazy_reads(_i == 1);
	lucid_set_abort_hook(pc_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, pc_writer, NULL), 0);
	/* Round r: driver r % 2 + 1, the writer changes x (r / 2 even) or a. */
	for (int r = 0; r < PC_ROUNDS; r++) {
		handoff_round_start(&pc_ho);
		__atomic_store_n(&pc_target, r / 2 % 2 ? &pc_a : &pc_x, __ATOMIC_RELAXED);
		if (r % 2 == 0)
			driver_1(pc_mid);
		else
			driver_2(pc_mid);
		handoff_round_end(&pc_ho);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(pc_aborts, PC_ROUNDS);
	for (int i = 0; i < PC_ROUNDS; i++) {
		ck_assert_msg(pc_reason[i] == LUCID_ABORT_COMMIT_INVALID,
		              "abort %d: reason %d, not commit-invalid", i, pc_reason[i]);
		ck_assert_msg(pc_address[i] == (uintptr_t)(i / 2 % 2 ? &pc_a : &pc_x),
		              "abort %d names the wrong word", i);
		ck_assert_msg(pc_stack[i][PC_FRAMES - 1] != 0, "abort %d: a stack of fewer than %d frames",
		              i, PC_FRAMES);
	}
	/* Same call sites, same stack; other call sites, another stack: the
	 * second frame returns after pc_body's first or second call, the
	 * fifth into one driver or the other. */
	for (int i = 0; i < PC_ROUNDS; i++) {
		for (int j = 0; j < PC_ROUNDS; j++) {
			bool same_read = i / 2 % 2 == j / 2 % 2, same_driver = i % 2 == j % 2;

			ck_assert_msg((pc_stack[i][1] == pc_stack[j][1]) == same_read,
			              "aborts %d and %d: pc_body's call sites %#lx and %#lx", i, j,
			              (unsigned long)pc_stack[i][1], (unsigned long)pc_stack[j][1]);
			ck_assert_msg((pc_stack[i][4] == pc_stack[j][4]) == same_driver,
			              "aborts %d and %d: pc_mid's callers %#lx and %#lx", i, j,
			              (unsigned long)pc_stack[i][4], (unsigned long)pc_stack[j][4]);
			ck_assert_msg(memcmp(pc_stack[i], pc_stack[j], sizeof(pc_stack[i])) != 0 ||
			              (same_read && same_driver),
			              "aborts %d and %d have the same stack", i, j);
		}
	}
}
END_TEST

/*
 * An attempt that reads without noting stacks, of a block whose last commit
 * only read, works out its block context only when it first captures a
 * stack (rec_attempt_ctx). The stack must be that of the attempt's own
 * callers: here lucid_abort() in one block, reached through two callers in
 * turn (and one caller they share), from the same place at the same depth,
 * in attempts that capture nothing before, or whose first capture is a
 * write far below the block: the walk from there can run out after one or
 * two of the block's callers, and such a context must not be taken for the
 * other caller's. Each run of the loop test (a process of its own) makes
 * the block's first context at another depth. Rounds of two: a read-only
 * commit, then an abort.
 */
enum { LC_ROUNDS = 8, LC_FRAMES = 8, LC_CMP = 4 };
static long lc_x, lc_y;
static uintptr_t lc_stack[LC_ROUNDS / 2][LC_FRAMES];
static int lc_reason[LC_ROUNDS / 2];
static bool lc_lazy[LC_ROUNDS / 2];
static int lc_aborts;
static bool lc_leave;
static int lc_depth;

static __attribute__((noinline)) void lc_deep(int d)
{
	if (d > 0)
		lc_deep(d - 1);
	else
		lucid_write(lc_y, lucid_read(lc_y) + 1);
	__asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void lc_body(bool leave)
{
	if (leave)   /* no stack captured yet: the attempt is still without one */
		lc_lazy[lc_aborts % (LC_ROUNDS / 2)] = stm_self()->rec_lazy;
	if (leave && lc_depth)
		lc_deep(lc_depth);
	if (lucid_read(lc_x) == 0 && leave)
		lucid_abort();
	__asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void lc_block(void)
{
	LUCID_ATOMIC {
		lc_body(lc_leave);
	}
	__asm__ __volatile__("" ::: "memory");
}

static __attribute__((noinline)) void lc_mid(void)
{
	lc_block();
	__asm__ __volatile__("" ::: "memory");
}

static void lc_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int i = lc_aborts++;

	if (i < LC_ROUNDS / 2) {
		lc_reason[i] = c->reason;
		for (unsigned f = 0; f < LC_FRAMES; f++)
			lc_stack[i][f] = c->stack_depth > f ? c->stack[f] : 0;
	}
}

START_TEST(test_lazy_context)
{
	/* Run 0: no deep write; run i: the first and last aborts' attempts
	 * write 60 + 2i calls down first. */
	int deep = _i ? 60 + 2 * _i : 0;

	rec_test_lazy_reads(true);
	lucid_set_abort_hook(lc_hook, NULL);
	/* Round r: driver r / 2 % 2 + 1; odd rounds abort. */
	for (int r = 0; r < LC_ROUNDS; r++) {
		lc_leave = r % 2;
		lc_depth = r == 1 || r == LC_ROUNDS - 1 ? deep : 0;
		if (r / 2 % 2 == 0)
			driver_1(lc_mid);
		else
			driver_2(lc_mid);
	}
	lucid_set_abort_hook(NULL, NULL);
	rec_test_lazy_reads(false);
	ck_assert_int_eq(lc_aborts, LC_ROUNDS / 2);
	for (int i = 0; i < LC_ROUNDS / 2; i++) {
		ck_assert_msg(lc_lazy[i], "abort %d: its attempt made its block context at its start",
		              i);
		ck_assert_int_eq(lc_reason[i], LUCID_ABORT_EXPLICIT);
		ck_assert_msg(lc_stack[i][LC_FRAMES - 1] != 0, "abort %d: a stack of fewer than %d frames",
		              i, LC_FRAMES);
	}
	/* The frames up to the driver's (the test calls each driver from
	 * more than one place). */
	for (int i = 0; i < LC_ROUNDS / 2; i++)
		for (int j = 0; j < LC_ROUNDS / 2; j++)
			ck_assert_msg((memcmp(lc_stack[i], lc_stack[j], LC_CMP * sizeof(lc_stack[i][0])) ==
			               0) == (i % 2 == j % 2),
			              "aborts %d and %d (deep %d): through %s callers, %s stacks", i, j,
			              deep, i % 2 == j % 2 ? "the same" : "different",
			              i % 2 == j % 2 ? "different" : "the same");
}
END_TEST

/*
 * A read made from the block's own function notes no stack while it runs
 * (LUCID_REC_IN_BLOCK_): found invalid later, its stack is put together
 * from its return address and the callers the block context checked. It
 * must be the stack an unwind at the read finds. The same read in each of
 * three kinds of round, through each of two callers: the writer commits
 * after the read (the reader's commit finds it invalid), commits a second
 * word the reader reads next (the snapshot's extension finds it invalid),
 * or holds its lock while the reader reads (the read meets it, and its
 * stack is unwound there and then).
 */
enum { BF_KINDS = 3, BF_GROUPS = 3, BF_ROUNDS = BF_KINDS * BF_GROUPS, BF_FRAMES = 64 };
enum { BF_DEEP = 70 };   /* more frames than a stack keeps (MAX_FRAMES, recorder.c) */
enum { BF_COMMIT_INVALID, BF_READ_INVALID, BF_READ_LOCKED };
static long bf_x OWN_OREC, bf_y OWN_OREC, bf_z OWN_OREC;
static struct handoff bf_ho;
static int bf_mode[BF_ROUNDS];
static int bf_round;                      /* the reader's round */
static int bf_locked;                     /* BF_READ_LOCKED: the writer holds x's lock */
static int bf_count[BF_ROUNDS], bf_reason[BF_ROUNDS];
static unsigned bf_depth[BF_ROUNDS];
static uintptr_t bf_stack[BF_ROUNDS][BF_FRAMES];
static int bf_in_block, bf_noted;         /* reads noted LUCID_REC_IN_BLOCK_, of all */
static int bf_deep;                       /* the rounds below BF_DEEP frames are on */
static int bf_in_block_deep;              /* reads noted so in them */

static __attribute__((noinline)) void bf_block(void)
{
	LUCID_ATOMIC {
		long x = lucid_read(bf_x);
		uint32_t noted = stm_self()->fast.r_top[-1].site;

		__atomic_add_fetch(&bf_noted, 1, __ATOMIC_RELAXED);
		if (noted == LUCID_REC_IN_BLOCK_)
			__atomic_add_fetch(bf_deep ? &bf_in_block_deep : &bf_in_block, 1,
			                   __ATOMIC_RELAXED);
		handoff_reader(&bf_ho);
		long z = lucid_read(bf_z);

		lucid_write(bf_y, x + z);
	}
	__asm__ __volatile__("" ::: "memory");
}

/* driver_1(bf_block), @p n calls further out. */
static __attribute__((noinline)) void bf_far(int n)
{
	if (n > 0)
		bf_far(n - 1);
	else
		driver_1(bf_block);
	__asm__ __volatile__("" ::: "memory");   /* not a tail call */
}

static void bf_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int r = __atomic_load_n(&bf_round, __ATOMIC_RELAXED);

	if (bf_count[r]++ == 0) {
		bf_reason[r] = c->reason;
		bf_depth[r] = c->stack_depth;
		for (unsigned f = 0; f < BF_FRAMES && f < c->stack_depth; f++)
			bf_stack[r][f] = c->stack[f];
	}
	if (bf_mode[r] == BF_READ_LOCKED)
		__atomic_store_n(&bf_locked, 2, __ATOMIC_RELEASE);   /* met the lock */
}

static void *bf_writer(void *arg)
{
	(void)arg;
	for (volatile int r = 0; r < BF_ROUNDS; r++) {
		if (bf_mode[r] == BF_READ_LOCKED) {
			/* Once the reader's last round has committed. */
			while (__atomic_load_n(&bf_round, __ATOMIC_ACQUIRE) != r)
				sched_yield();
			LUCID_ATOMIC {
				lucid_write(bf_x, lucid_read(bf_x) + 1);
				__atomic_store_n(&bf_locked, 1, __ATOMIC_RELEASE);
				while (__atomic_load_n(&bf_locked, __ATOMIC_ACQUIRE) != 2)
					sched_yield();
			}
			__atomic_store_n(&bf_locked, 0, __ATOMIC_RELAXED);
			continue;
		}
		handoff_writer_wait(&bf_ho);
		LUCID_ATOMIC {
			lucid_write(bf_x, lucid_read(bf_x) + 1);
			if (bf_mode[r] == BF_READ_INVALID)
				lucid_write(bf_z, lucid_read(bf_z) + 1);
		}
		handoff_writer_done(&bf_ho);
	}
	return NULL;
}

START_TEST(test_block_read_stack)
{
	const int want[] = { [BF_COMMIT_INVALID] = LUCID_ABORT_COMMIT_INVALID,
	                     [BF_READ_INVALID] = LUCID_ABORT_READ_INVALID,
	                     [BF_READ_LOCKED] = LUCID_ABORT_READ_LOCKED };
	pthread_t t;

	for (int r = 0; r < BF_ROUNDS; r++)
		bf_mode[r] = r % BF_KINDS;
	lucid_set_abort_hook(bf_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, bf_writer, NULL), 0);
	/* Round r: kind r % 3, and by r / 3 the first driver, the second, the
	 * first below a stack too deep to be kept whole (each way of capturing
	 * it must keep the same frames of it: one read, one stack). */
	/* volatile: a compiler that unrolls the loop would call each driver
	 * from several places, and the frames above the drivers would differ. */
	for (volatile int r = 0; r < BF_ROUNDS; r++) {
		handoff_round_start(&bf_ho);
		__atomic_store_n(&bf_round, r, __ATOMIC_RELEASE);
		if (bf_mode[r] == BF_READ_LOCKED) {
			__atomic_store_n(&bf_ho.waited, 1, __ATOMIC_RELAXED);   /* no hand-off */
			while (__atomic_load_n(&bf_locked, __ATOMIC_ACQUIRE) != 1)
				sched_yield();
		}
		bf_deep = r / BF_KINDS == 2;
		if (r / BF_KINDS == 0)
			driver_1(bf_block);
		else if (r / BF_KINDS == 1)
			driver_2(bf_block);
		else
			bf_far(BF_DEEP);
		handoff_round_end(&bf_ho);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(bf_x, BF_ROUNDS);
	ck_assert_int_eq(bf_z, BF_GROUPS);

#ifdef LUCID_OWN_CHECKPOINT_
	ck_assert_msg(bf_in_block > 0 && bf_in_block_deep > 0,
	              "of %d reads from the block's function, %d and %d below %d frames were "
	              "noted LUCID_REC_IN_BLOCK_", bf_noted, bf_in_block, bf_in_block_deep, BF_DEEP);
#else
	ck_assert_msg(bf_in_block + bf_in_block_deep == 0, "%d of %d reads were noted "
	              "LUCID_REC_IN_BLOCK_ without the checkpoint that keeps the stack pointer",
	              bf_in_block + bf_in_block_deep, bf_noted);
#endif
	for (int r = 0; r < BF_ROUNDS; r++) {
		ck_assert_msg(bf_count[r] > 0, "round %d: no abort", r);
		ck_assert_msg(bf_reason[r] == want[bf_mode[r]], "round %d: reason %d, not %d", r,
		              bf_reason[r], want[bf_mode[r]]);
		ck_assert_msg(bf_depth[r] > 3 && bf_depth[r] <= BF_FRAMES,
		              "round %d: a stack of %u frames", r, bf_depth[r]);
		/* A stack keeps its innermost BF_FRAMES frames, however it was
		 * captured (the unwinds start with more or fewer of Lucid's). */
		if (r / BF_KINDS == 2)
			ck_assert_msg(bf_depth[r] == BF_FRAMES, "round %d, below %d frames: a stack "
			              "of %u", r, BF_DEEP, bf_depth[r]);
	}
	/* One read, one stack through each caller, however it was found: the
	 * second frame is in the driver (the first one for groups 0 and 2),
	 * the third in the test or in bf_far. */
	for (int r = 0; r < BF_ROUNDS; r++) {
		for (int q = 0; q < BF_ROUNDS; q++) {
			int gr = r / BF_KINDS, gq = q / BF_KINDS;
			bool same_driver = gr % 2 == gq % 2, same_driver_caller = gr == gq;

			ck_assert_msg(bf_stack[r][0] == bf_stack[q][0],
			              "rounds %d and %d: the read at %#lx and %#lx", r, q,
			              (unsigned long)bf_stack[r][0], (unsigned long)bf_stack[q][0]);
			ck_assert_msg((bf_stack[r][1] == bf_stack[q][1]) == same_driver,
			              "rounds %d and %d: bf_block's callers %#lx and %#lx", r, q,
			              (unsigned long)bf_stack[r][1], (unsigned long)bf_stack[q][1]);
			ck_assert_msg((bf_stack[r][2] == bf_stack[q][2]) == same_driver_caller,
			              "rounds %d and %d: the drivers' callers %#lx and %#lx", r, q,
			              (unsigned long)bf_stack[r][2], (unsigned long)bf_stack[q][2]);
			if (same_driver_caller)
				ck_assert_msg(bf_depth[r] == bf_depth[q] &&
				              memcmp(bf_stack[r], bf_stack[q],
				                     bf_depth[r] * sizeof(uintptr_t)) == 0,
				              "rounds %d (kind %d) and %d (kind %d): other stacks "
				              "(%u and %u frames)", r, bf_mode[r], q, bf_mode[q],
				              bf_depth[r], bf_depth[q]);
		}
	}
}
END_TEST

static char dir[] = "/tmp/lucid-hook-XXXXXX";

START_TEST(test_record_start_errors)
{
	char path[256], notrec[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(lucid_record_start(NULL, 0), -LUCID_EINVAL);

	/* A file that is not a recording is never replaced. */
	snprintf(notrec, sizeof(notrec), "%s/notes.txt", dir);
	FILE *f = fopen(notrec, "w");
	ck_assert_ptr_nonnull(f);
	fputs("keep me\n", f);
	fclose(f);
	ck_assert_int_eq(lucid_record_start(notrec, LUCID_RECORD_REPLACE), -LUCID_EIO);
	f = fopen(notrec, "r");
	char line[32] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_str_eq(line, "keep me\n");

	/* Created 0600; a second start is refused. */
	snprintf(path, sizeof(path), "%s/rec.lucid", dir);
	mode_t old = umask(0);
	ck_assert_int_eq(lucid_record_start(path, 0), 0);
	umask(old);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(lucid_record_start(path, LUCID_RECORD_REPLACE), -LUCID_EBUSY);

	/* The file begins with the magic. */
	int fd = open(path, O_RDONLY);
	char magic[8];
	ck_assert_int_eq(read(fd, magic, 8), 8);
	close(fd);
	ck_assert_int_eq(memcmp(magic, "LUCIDREC", 8), 0);
	unlink(path);
	unlink(notrec);
	rmdir(dir);
}
END_TEST

static void note_tid(const struct lucid_conflict *c, void *arg)
{
	*(long *)arg = c->tid;
}

static void abort_now(void *arg)
{
	(void)arg;
	lucid_abort();
}

/* After fork() the child's thread is a thread of its own: its aborts (and
 * its commits in a recording) name its thread id, not the id the forking
 * thread has in the parent. */
START_TEST(test_fork_thread_id)
{
	long seen[2] = { 0, 0 };
	int pipefd[2], status;
	pid_t pid;

	lucid_set_abort_hook(note_tid, &seen[0]);
	ck_assert_int_eq(lucid_run(abort_now, NULL), LUCID_ABORTED); /* registers this thread */
	ck_assert_int_eq(seen[0], (long)syscall(SYS_gettid));
	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		seen[0] = 0;
		seen[1] = (long)syscall(SYS_gettid);
		lucid_run(abort_now, NULL);
		_exit(write(pipefd[1], seen, sizeof(seen)) == (ssize_t)sizeof(seen) ? 0 : 1);
	}
	close(pipefd[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with %#x", status);
	ck_assert_int_eq(read(pipefd[0], seen, sizeof(seen)), (ssize_t)sizeof(seen));
	close(pipefd[0]);
	ck_assert_msg(seen[0] == seen[1], "the child's abort names thread %ld; the child's thread is %ld",
		      seen[0], seen[1]);
	lucid_set_abort_hook(NULL, NULL);
}
END_TEST

/*
 * A read invalidated by a commit that wrote several words of one 32-byte
 * stripe (one orec) names the committed write of the reader's own word, not
 * the stripe's last: a true conflict; a read of another word of the stripe
 * is a false conflict with one of the words written; and where the attempt
 * read another word first, then one the commit wrote, the conflict is the
 * second read's, a true one (the validation finds the first read under
 * the orec).
 */
static struct {
	long a, b, c, d;
} sw __attribute__((aligned(32)));   /* one stripe */
static long sw_mine OWN_OREC;
static long *sw_target, *sw_then;     /* the words the reader reads this round */
static struct handoff sw_ho;
static int sw_aborts;
static struct {
	int reason;
	unsigned flags;
	uintptr_t address, other_address;
	uintptr_t other_pc;    /* the other stack's innermost frame, or 0 */
} sw_seen[4];

static void sw_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int i = sw_aborts++;

	if (i < 4)
		sw_seen[i] = (__typeof__(sw_seen[0])){ c->reason, c->flags, c->address,
		                                        c->other_address,
		                                        c->other_depth ? c->other_stack[0] : 0 };
}

static void *sw_writer(void *arg)
{
	long rounds = (long)(intptr_t)arg;

	for (volatile long r = 0; r < rounds; r++) {
		handoff_writer_wait(&sw_ho);
		LUCID_ATOMIC {
			lucid_write(sw.a, lucid_read(sw.a) + 1);
			lucid_write(sw.b, lucid_read(sw.b) + 1);
		}
		handoff_writer_done(&sw_ho);
	}
	return NULL;
}

START_TEST(test_committed_stripe_word)
{
	enum { ROUNDS = 3 };
	long *targets[ROUNDS] = { &sw.a, &sw.c, &sw.c }, *then[ROUNDS] = { NULL, NULL, &sw.b };
	long *conflict[ROUNDS] = { &sw.a, &sw.c, &sw.b };
	pthread_t t;

	rec_test_lazy_reads(_i == 1);
	lucid_set_abort_hook(sw_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, sw_writer, (void *)(intptr_t)ROUNDS), 0);
	for (int r = 0; r < ROUNDS; r++) {
		sw_target = targets[r];
		sw_then = then[r];
		handoff_round_start(&sw_ho);
		LUCID_ATOMIC {
			long v = lucid_read(*sw_target);

			if (sw_then)
				v += lucid_read(*sw_then);

			handoff_reader(&sw_ho);
			lucid_write(sw_mine, v);
		}
		handoff_round_end(&sw_ho);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(sw_aborts, ROUNDS);
	for (int r = 0; r < ROUNDS; r++) {
		ck_assert_msg(sw_seen[r].reason == LUCID_ABORT_COMMIT_INVALID,
		              "round %d: reason %d, not commit-invalid", r, sw_seen[r].reason);
		ck_assert_msg(sw_seen[r].flags & LUCID_CONFLICT_OTHER_COMMITTED,
		              "round %d: the writer is not known as committed", r);
		ck_assert_msg(sw_seen[r].address == (uintptr_t)conflict[r],
		              "round %d: the reader's address is %#lx, not %p", r,
		              (unsigned long)sw_seen[r].address, (void *)conflict[r]);
	}
	ck_assert_msg(!(sw_seen[0].flags & LUCID_CONFLICT_FALSE) &&
	              sw_seen[0].other_address == (uintptr_t)&sw.a,
	              "a read of sw.a invalidated by a commit that wrote sw.a and then sw.b: other "
	              "address %#lx (sw.a %p, sw.b %p), %s", (unsigned long)sw_seen[0].other_address,
	              (void *)&sw.a, (void *)&sw.b,
	              sw_seen[0].flags & LUCID_CONFLICT_FALSE ? "a false conflict" : "a true one");
	ck_assert_msg((sw_seen[1].flags & LUCID_CONFLICT_FALSE) &&
	              (sw_seen[1].other_address == (uintptr_t)&sw.a ||
	               sw_seen[1].other_address == (uintptr_t)&sw.b),
	              "a read of sw.c: other address %#lx, %s", (unsigned long)sw_seen[1].other_address,
	              sw_seen[1].flags & LUCID_CONFLICT_FALSE ? "a false conflict" : "not a false one");
	ck_assert_msg(!(sw_seen[2].flags & LUCID_CONFLICT_FALSE) &&
	              sw_seen[2].other_address == (uintptr_t)&sw.b,
	              "reads of sw.c, then sw.b: other address %#lx (sw.b %p), %s",
	              (unsigned long)sw_seen[2].other_address, (void *)&sw.b,
	              sw_seen[2].flags & LUCID_CONFLICT_FALSE ? "a false conflict" : "a true one");
	/* The other stack is the commit's write of the word named: the writes
	 * of sw.a and sw.b are two calls, and the false conflict's stack is
	 * the one of the word it names. */
	for (int r = 0; r < ROUNDS; r++)
		ck_assert_msg(sw_seen[r].other_pc != 0, "round %d: no stack for the writer", r);
	ck_assert_msg(sw_seen[0].other_pc != sw_seen[2].other_pc,
	              "the writes of sw.a and sw.b have one stack (%#lx)",
	              (unsigned long)sw_seen[0].other_pc);
	ck_assert_msg(sw_seen[1].other_pc ==
	              sw_seen[sw_seen[1].other_address == (uintptr_t)&sw.a ? 0 : 2].other_pc,
	              "the false conflict names %#lx and the stack of another write",
	              (unsigned long)sw_seen[1].other_address);
}
END_TEST

/*
 * A read invalidated by a commit that its writer followed with many others
 * (each thread keeps the words its last commits wrote, in a ring that has
 * gone round before the commit here) still names that commit: the word,
 * the writer's thread, the commit time and the write's stack.
 */
enum { OC_BEFORE = 40000, OC_AFTER = 20000 };   /* the ring keeps 32768 words */
static long oc_x OWN_OREC, oc_mine OWN_OREC;
static long oc_many[64] __attribute__((aligned(64)));
static struct handoff oc_ho;
static long oc_writer_tid;
static int oc_aborts;
static struct lucid_conflict oc_seen;
static uintptr_t oc_other_pc;

static void oc_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	if (oc_aborts++ == 0) {
		oc_seen = *c;
		oc_other_pc = c->other_depth ? c->other_stack[0] : 0;
	}
}

static void oc_commits(int n)
{
	for (volatile int i = 0; i < n; i++)
		LUCID_ATOMIC {
			lucid_write(oc_many[i % 64], lucid_read(oc_many[i % 64]) + 1);
		}
}

static __attribute__((noinline)) void oc_write_x(void)
{
	LUCID_ATOMIC {
		lucid_write(oc_x, lucid_read(oc_x) + 1);
	}
}

static void *oc_writer(void *arg)
{
	(void)arg;
	__atomic_store_n(&oc_writer_tid, (long)syscall(SYS_gettid), __ATOMIC_RELAXED);
	oc_commits(OC_BEFORE);
	handoff_writer_wait(&oc_ho);
	oc_write_x();
	oc_commits(OC_AFTER);
	handoff_writer_done(&oc_ho);
	return NULL;
}

START_TEST(test_committed_long_ago)
{
	pthread_t t;

	lucid_set_abort_hook(oc_hook, NULL);
	handoff_round_start(&oc_ho);
	ck_assert_int_eq(pthread_create(&t, NULL, oc_writer, NULL), 0);
	LUCID_ATOMIC {
		long v = lucid_read(oc_x);

		handoff_reader(&oc_ho);
		lucid_write(oc_mine, v);
	}
	handoff_round_end(&oc_ho);
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(oc_aborts, 1);
	ck_assert_int_eq(oc_mine, 1);
	ck_assert_msg(oc_seen.reason == LUCID_ABORT_COMMIT_INVALID && oc_seen.address == (uintptr_t)&oc_x,
	              "reason %d, address %#lx (oc_x %p)", oc_seen.reason,
	              (unsigned long)oc_seen.address, (void *)&oc_x);
	ck_assert_msg((oc_seen.flags & LUCID_CONFLICT_OTHER_COMMITTED) &&
	              !(oc_seen.flags & LUCID_CONFLICT_FALSE) &&
	              oc_seen.other_address == (uintptr_t)&oc_x,
	              "other side: flags %#x, address %#lx (oc_x %p)", oc_seen.flags,
	              (unsigned long)oc_seen.other_address, (void *)&oc_x);
	ck_assert_int_eq(oc_seen.other_tid, oc_writer_tid);
	ck_assert_msg(oc_seen.other_commit != 0, "no commit time");
	ck_assert_msg(oc_seen.other_function && strcmp(oc_seen.other_function, "oc_write_x") == 0,
	              "the other block is in %s, not oc_write_x",
	              oc_seen.other_function ? oc_seen.other_function : "(none)");
	ck_assert_msg(oc_other_pc != 0, "no stack for the writer");
}
END_TEST

/*
 * Where reads note no stacks (only a file records), a record of a read
 * found invalid waits for the next attempts of its transaction and takes
 * the stack and address of their read of the same orec. Rounds of four
 * kinds: the retry reads x again (the record gets the stack an attempt
 * noting its reads finds), the retry reads z instead (the record is written
 * at its commit, without the read's stack and address but with the other
 * side), the second attempt loses its read of z (its own record, at once)
 * and the third reads x (the first record then), and an abort handler runs
 * a transaction that reads x from elsewhere before the retry reads it (the
 * handler's read is not the transaction's). The rounds run with reads
 * noted (_i 0) and not (_i 1); records must be the same but for the lost
 * read's, and the hook is called after the attempt has ended.
 */
enum { WR_AGAIN, WR_LOST, WR_LATER, WR_HANDLER, WR_KINDS };
enum { WR_ROUNDS = 2 * WR_KINDS, WR_FRAMES = 8, WR_MAX = 2 * WR_ROUNDS };
static long wr_x OWN_OREC, wr_y OWN_OREC, wr_z OWN_OREC;
static int wr_kind, wr_attempt, wr_phase;
static int wr_n, wr_in_tx;   /* hook calls; those made while an attempt ran */
static struct {
	int reason, attempt;
	unsigned flags, depth, other_depth;
	uintptr_t address, other_address;
	uintptr_t stack[WR_FRAMES];
} wr_seen[WR_MAX];

static __attribute__((noinline)) long wr_read(long *p)
{
	long v = lucid_read(*p);

	__asm__ __volatile__("" : : "r"(v) : "memory");   /* not a tail call */
	return v;
}

static __attribute__((noinline)) void wr_handler(void *arg)
{
	(void)arg;
	LUCID_ATOMIC {
		long v = wr_read(&wr_x);

		__asm__ __volatile__("" : : "r"(v) : "memory");
	}
}

/* The reader: has read, lets the writer commit (phase + 1) and goes on. */
static void wr_handoff(int phase)
{
	__atomic_store_n(&wr_phase, phase, __ATOMIC_RELEASE);
	while (__atomic_load_n(&wr_phase, __ATOMIC_ACQUIRE) != phase + 1)
		sched_yield();
}

/* What attempt wr_attempt of this round reads. */
static __attribute__((noinline)) long *wr_word(void)
{
	int a = wr_attempt;

	return a == 1 || wr_kind == WR_AGAIN || wr_kind == WR_HANDLER ||
	       (wr_kind == WR_LATER && a >= 3) ? &wr_x : &wr_z;
}

/* What it does after its read. */
static __attribute__((noinline)) void wr_then(void)
{
	int a = wr_attempt;

	if (a == 1 && wr_kind == WR_HANDLER)
		lucid_on_abort(wr_handler, NULL);
	if (a == 1)
		wr_handoff(1);    /* the writer changes x */
	else if (wr_kind == WR_LATER && a == 2)
		wr_handoff(3);    /* and then z */
}

/* One call of wr_read, whatever is read (no branch here for the compiler
 * to copy it into): a record made from a later attempt has the stack of
 * that attempt's read, which is the first attempt's only where both come
 * from the same call. */
static __attribute__((noinline)) void wr_body(void)
{
	wr_attempt++;
	long v = wr_read(wr_word());

	wr_then();
	lucid_write(wr_y, v + 1);
}

static __attribute__((noinline)) void wr_block(void)
{
	LUCID_ATOMIC {
		wr_body();
	}
	__asm__ __volatile__("" ::: "memory");
}

static void wr_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	int i = wr_n++;

	/* After the attempt has ended: its write log empty, no lock held. */
	const struct stm_tx *tx = stm_self();

	wr_in_tx += tx->fast.w_top != tx->w_base || tx->fast.r_top != tx->r_base;
	if (i >= WR_MAX)
		return;
	wr_seen[i].reason = c->reason;
	wr_seen[i].attempt = (int)c->attempt;
	wr_seen[i].flags = c->flags;
	wr_seen[i].depth = c->stack_depth;
	wr_seen[i].other_depth = c->other_depth;
	wr_seen[i].address = c->address;
	wr_seen[i].other_address = c->other_address;
	for (unsigned f = 0; f < WR_FRAMES; f++)
		wr_seen[i].stack[f] = c->stack_depth > f ? c->stack[f] : 0;
}

static void wr_commit(long *p, int phase)
{
	while (__atomic_load_n(&wr_phase, __ATOMIC_ACQUIRE) != phase)
		sched_yield();
	LUCID_ATOMIC {
		lucid_write(*p, lucid_read(*p) + 1);
	}
	__atomic_store_n(&wr_phase, phase + 1, __ATOMIC_RELEASE);
}

static void *wr_writer(void *arg)
{
	(void)arg;
	for (volatile int r = 0; r < WR_ROUNDS; r++) {
		wr_commit(&wr_x, 1);
		if (r % WR_KINDS == WR_LATER)
			wr_commit(&wr_z, 3);
	}
	return NULL;
}

START_TEST(test_waiting_read)
{
	bool lazy = _i == 1;
	int first[WR_ROUNDS];   /* each round's first record */
	pthread_t t;

	rec_test_lazy_reads(lazy);
	lucid_set_abort_hook(wr_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, wr_writer, NULL), 0);
	/* One call of wr_block for every round, so that the rounds' stacks can
	 * be the same (clang 14 unrolls this loop otherwise). */
#if defined(__clang__)
#pragma clang loop unroll(disable)
#elif defined(__GNUC__)
#pragma GCC unroll 1
#endif
	for (int r = 0; r < WR_ROUNDS; r++) {
		wr_kind = r % WR_KINDS;
		wr_attempt = 0;
		first[r] = wr_n;
		wr_block();
		__atomic_store_n(&wr_phase, 0, __ATOMIC_RELAXED);
		ck_assert_int_eq(wr_attempt, wr_kind == WR_LATER ? 3 : 2);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(wr_n, WR_ROUNDS + WR_ROUNDS / WR_KINDS);
	ck_assert_int_eq(wr_x, WR_ROUNDS);
	ck_assert_msg(wr_in_tx == 0, "the hook ran %d times before the attempt had ended", wr_in_tx);
	for (int r = 0; r < WR_ROUNDS; r++) {
		int k = r % WR_KINDS, i = first[r];

		if (k == WR_LATER) {
			/* The second attempt's record (made noting its reads) comes
			 * at its abort: after the first attempt's where reads are
			 * noted, before it where that one waits for the third. */
			int z = lazy ? i : i + 1;

			ck_assert_msg(wr_seen[z].attempt == 2 && wr_seen[z].address == (uintptr_t)&wr_z &&
			              wr_seen[z].depth > 0, "round %d: the read of z, attempt %d, "
			              "address %#lx, %u frames", r, wr_seen[z].attempt,
			              (unsigned long)wr_seen[z].address, wr_seen[z].depth);
			if (lazy)
				i++;
		}
		ck_assert_msg(wr_seen[i].reason == LUCID_ABORT_COMMIT_INVALID && wr_seen[i].attempt == 1,
		              "round %d: reason %d, attempt %d", r, wr_seen[i].reason,
		              wr_seen[i].attempt);
		/* The other side is the writer's commit of x, however the read is known. */
		ck_assert_msg((wr_seen[i].flags & LUCID_CONFLICT_OTHER_COMMITTED) &&
		              !(wr_seen[i].flags & LUCID_CONFLICT_FALSE) &&
		              wr_seen[i].other_address == (uintptr_t)&wr_x && wr_seen[i].other_depth > 0,
		              "round %d: other side flags %#x, address %#lx, %u frames", r,
		              wr_seen[i].flags, (unsigned long)wr_seen[i].other_address,
		              wr_seen[i].other_depth);
		if (k == WR_LOST && lazy) {
			ck_assert_msg(wr_seen[i].depth == 0 && wr_seen[i].address == 0,
			              "round %d: a read no attempt made again has %u frames, address %#lx",
			              r, wr_seen[i].depth, (unsigned long)wr_seen[i].address);
			continue;
		}
		ck_assert_msg(wr_seen[i].address == (uintptr_t)&wr_x && wr_seen[i].depth >= WR_FRAMES,
		              "round %d: the read's address %#lx, %u frames", r,
		              (unsigned long)wr_seen[i].address, wr_seen[i].depth);
		/* The same stack in every round: wr_read, wr_body, wr_block, ... */
		ck_assert_msg(memcmp(wr_seen[i].stack, wr_seen[first[0]].stack,
		                     sizeof(wr_seen[i].stack)) == 0,
		              "round %d: the read's stack differs from round 0's", r);
	}
}
END_TEST

/*
 * Two corners of reads that note no stacks. A read that leaves the inline
 * path is noted even then, and a validation that finds it invalid may look
 * at later reads under the same orec for a word the other side wrote: it
 * must pass over the reads the attempt did not note, whose address slots
 * still hold an earlier attempt's (here st.b's). And an attempt that
 * aborts because the irrevocable transaction holds a lock waits for it and
 * runs again without counting a retry: its waiting record must still be
 * completed by that next attempt.
 */
static struct {
	long a, b, c, d;
} st __attribute__((aligned(32)));   /* one stripe */
static long st_mine OWN_OREC, st_other OWN_OREC, tk_x OWN_OREC, tk_y OWN_OREC;
static int st_phase, st_n;   /* the hand-off; conflicts seen */
static int st_attempt;
static struct {
	int reason;
	unsigned flags, depth;
	uintptr_t address;
} st_seen[4];

static void st_hook(const struct lucid_conflict *c, void *arg)
{
	(void)arg;
	if (c->reason == LUCID_ABORT_IRREVOCABLE)
		return;   /* the other's restart to become irrevocable */
	int i = st_n++;

	if (i < 4)
		st_seen[i] = (__typeof__(st_seen[0])){ c->reason, c->flags, c->stack_depth,
		                                        c->address };
}

static void st_wait(int phase)
{
	while (__atomic_load_n(&st_phase, __ATOMIC_ACQUIRE) != phase)
		sched_yield();
}

static void *st_writer(void *arg)
{
	(void)arg;
	st_wait(1);
	LUCID_ATOMIC {
		lucid_write(st.c, lucid_read(st.c) + 1);
	}
	__atomic_store_n(&st_phase, 2, __ATOMIC_RELEASE);
	st_wait(3);
	LUCID_ATOMIC {
		lucid_write(st.b, lucid_read(st.b) + 1);
	}
	__atomic_store_n(&st_phase, 4, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_unnoted_entries)
{
	pthread_t t;

	lucid_set_abort_hook(st_hook, NULL);
	/* Noting reads: c's and b's addresses go to the first two slots. */
	LUCID_ATOMIC {
		long v = lucid_read(st.c) + lucid_read(st.b);

		lucid_write(st_mine, v);
	}
	rec_test_lazy_reads(true);
	ck_assert_int_eq(pthread_create(&t, NULL, st_writer, NULL), 0);
	__atomic_store_n(&st_phase, 1, __ATOMIC_RELEASE);
	st_wait(2);   /* the stripe is newer than this thread's snapshot */
	LUCID_ATOMIC {
		/* a leaves the inline path (newer orec) and is noted; d is
		 * read inline and noted nowhere */
		long v = lucid_read(st.a) + lucid_read(st.d);

		if (st_attempt++ == 0) {
			__atomic_store_n(&st_phase, 3, __ATOMIC_RELEASE);
			st_wait(4);   /* the other commits b */
		}
		lucid_write(st_mine, v);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(st_n, 1);
	ck_assert_int_eq(st_seen[0].reason, LUCID_ABORT_COMMIT_INVALID);
	ck_assert_msg(st_seen[0].address == (uintptr_t)&st.a && (st_seen[0].flags & LUCID_CONFLICT_FALSE) &&
	              st_seen[0].depth > 0,
	              "the read of st.a against a commit of st.b: address %#lx (st.a %p, st.b %p), "
	              "flags %#x, %u frames", (unsigned long)st_seen[0].address, (void *)&st.a,
	              (void *)&st.b, st_seen[0].flags, st_seen[0].depth);
}
END_TEST

static void *tk_writer(void *arg)
{
	(void)arg;
	st_wait(1);
	LUCID_ATOMIC {
		lucid_write(st_other, lucid_read(st_other) + 1);   /* the clock moves on */
	}
	LUCID_ATOMIC {
		lucid_irrevocable();
		lucid_write(tk_x, lucid_read(tk_x) + 1);
		__atomic_store_n(&st_phase, 2, __ATOMIC_RELEASE);
		/* Hold x's lock while the reader validates and meets it. */
		while (__atomic_load_n(&st_phase, __ATOMIC_ACQUIRE) != 3)
			sched_yield();
		struct timespec d = { 0, 50 * 1000 * 1000 };

		nanosleep(&d, NULL);
	}
	return NULL;
}

START_TEST(test_token_wait)
{
	pthread_t t;

	rec_test_lazy_reads(_i == 1);
	lucid_set_abort_hook(st_hook, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, tk_writer, NULL), 0);
	LUCID_ATOMIC {
		long v = lucid_read(tk_x);

		if (st_attempt++ == 0) {
			__atomic_store_n(&st_phase, 1, __ATOMIC_RELEASE);
			st_wait(2);   /* the other holds x, irrevocable */
			__atomic_store_n(&st_phase, 3, __ATOMIC_RELEASE);
		}
		lucid_write(tk_y, v);
	}
	pthread_join(t, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert_int_eq(st_n, 1);
	ck_assert_msg(st_seen[0].address == (uintptr_t)&tk_x && st_seen[0].depth > 0,
	              "the read of x, invalid against the irrevocable lock: reason %d, address %#lx "
	              "(x %p), %u frames", st_seen[0].reason, (unsigned long)st_seen[0].address,
	              (void *)&tk_x, st_seen[0].depth);
}
END_TEST

/*
 * While recording, an access made again from a place seen lately (the same
 * line, frame and callers) finds its stack id among the recent places,
 * inline, without asking the library: that is what keeps recording cheap.
 * The shapes of the benchmarks: a transfer (two reads, then two writes,
 * from the block's own function), a loop over an array, and a read made
 * in a function the block calls. (A function called from two lines of one
 * attempt has one recent answer for both calls, and asks the library at
 * every other call: not checked here.)
 */
static long rp_acct[8] OWN_OREC;
static long rp_sum OWN_OREC, rp_base OWN_OREC;   /* rp_base stays 0 */

static __attribute__((noinline)) void rp_transfer(long *from, long *to)
{
	LUCID_ATOMIC {
		long a = lucid_read(*from);
		long b = lucid_read(*to);

		lucid_write(*from, a - 1);
		lucid_write(*to, b + 1);
	}
}

static __attribute__((noinline)) long rp_get(const long *p)
{
	long v = lucid_read(*p);

	__asm__ __volatile__("" : : "r"(v) : "memory");   /* not a tail call */
	return v;
}

static __attribute__((noinline)) void rp_audit(void)
{
	LUCID_ATOMIC {
		long sum = 0;

		for (int i = 0; i < 8; i++)
			sum += lucid_read(rp_acct[i]);
		lucid_write(rp_sum, sum + rp_get(&rp_base));
	}
}

/* The rounds, from one call site each (the callers around a block are part
 * of its context, and each context keeps its own recent places): no
 * branch in the loop, so that the compiler has no reason to peel a first
 * round off to another call site. @p asked[i]: the library's count after
 * round i. */
static __attribute__((noinline)) void rp_rounds(struct stm_tx *tx, int n, uint64_t *asked)
{
	for (int i = 0; i < n; i++) {
		rp_transfer(&rp_acct[1], &rp_acct[6]);
		rp_audit();
		asked[i] = tx->rec_asked;
	}
}

START_TEST(test_recent_places)
{
	enum { ROUNDS = 101 };
	struct stm_tx *tx = stm_self();
	uint64_t before = tx->rec_asked, asked[ROUNDS];

	lucid_set_abort_hook(count_hook, NULL);   /* recording on */
	rp_rounds(tx, ROUNDS, asked);
	lucid_set_abort_hook(NULL, NULL);
	/* Reads from the block's own function are never asked about (see
	 * LUCID_REC_IN_BLOCK_) where the checkpoint keeps the stack pointer. */
#ifdef LUCID_OWN_CHECKPOINT_
	const uint64_t places = 4;
#else
	const uint64_t places = 7;
#endif
	ck_assert_msg(asked[0] - before >= places, "the first round asked the library about %llu "
	              "of its %llu places", (unsigned long long)(asked[0] - before),
	              (unsigned long long)places);
	ck_assert_msg(asked[ROUNDS - 1] == asked[0], "100 rounds of places already seen asked the "
	              "library %llu times (after round 1: %llu): the recent places are not found "
	              "inline", (unsigned long long)(asked[ROUNDS - 1] - asked[0]),
	              (unsigned long long)(asked[1] - asked[0]));
	ck_assert_int_eq(rp_acct[1], -ROUNDS);
	ck_assert_int_eq(rp_acct[6], ROUNDS);
	ck_assert_int_eq(rp_sum, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hook");
	TCase *tc = tcase_create("hook_sees_every_abort");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hook_sees_every_abort);
	suite_add_tcase(s, tc);
	tc = tcase_create("debug_abort_runs_hook");
	tcase_add_test(tc, test_debug_abort_runs_hook);
	suite_add_tcase(s, tc);
	tc = tcase_create("alloc_stack");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_alloc_stack);
	suite_add_tcase(s, tc);
	tc = tcase_create("reader_stack_per_block");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_reader_stack_per_block, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("reader_stack_per_caller");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_reader_stack_per_caller, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("lazy_context");
	tcase_add_loop_test(tc, test_lazy_context, 0, 16);
	suite_add_tcase(s, tc);
	tc = tcase_create("block_read_stack");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_block_read_stack);
	suite_add_tcase(s, tc);
	tc = tcase_create("record_start_errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_record_start_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("committed_stripe_word");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_committed_stripe_word, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("committed_long_ago");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_committed_long_ago);
	suite_add_tcase(s, tc);
	tc = tcase_create("unnoted_entries");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unnoted_entries);
	suite_add_tcase(s, tc);
	tc = tcase_create("token_wait");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_token_wait, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("waiting_read");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_waiting_read, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("recent_places");
	tcase_add_test(tc, test_recent_places);
	suite_add_tcase(s, tc);
	tc = tcase_create("fork_thread_id");
	tcase_add_test(tc, test_fork_thread_id);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
