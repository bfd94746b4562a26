/* tests: the programming interface: atomic blocks, typed access, nesting, abort, misuse. */
#include <alloca.h>
#include <float.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lucid.h>
#include "tests/testutil.h"

/* ---------------------------------------------------------------- helpers */

static long shared_a, shared_b;
static int run_count;

/* ------------------------------------------------------------ basic blocks */

START_TEST(test_block_commits_once)
{
	run_count = 0;
	LUCID_ATOMIC {
		run_count++;
		lucid_write(shared_a, lucid_read(shared_a) + 5);
	}
	ck_assert_int_eq(run_count, 1);
	ck_assert_int_eq(shared_a, 5);
	ck_assert(!lucid_in_transaction());

	struct lucid_stats st;
	ck_assert_int_eq(lucid_stats_get(&st), 0);
	ck_assert_uint_eq(st.commits, 1);
	ck_assert_uint_eq(st.aborts, 0);
	ck_assert_uint_eq(st.threads, 1);
}
END_TEST

START_TEST(test_in_transaction)
{
	ck_assert(!lucid_in_transaction());
	LUCID_ATOMIC {
		ck_assert(lucid_in_transaction());
		LUCID_ATOMIC {
			ck_assert(lucid_in_transaction());
		}
		ck_assert(lucid_in_transaction());
	}
	ck_assert(!lucid_in_transaction());
}
END_TEST

START_TEST(test_continue_ends_block)
{
	shared_a = 0;
	for (volatile int i = 0; i < 3; i++) {
		LUCID_ATOMIC {
			lucid_write(shared_a, lucid_read(shared_a) + 1);
			if (i == 1)
				continue;
			lucid_write(shared_a, lucid_read(shared_a) + 10);
		}
	}
	ck_assert_int_eq(shared_a, 1 + 10 + 1 + 1 + 10);
	ck_assert(!lucid_in_transaction());
}
END_TEST

/* Writes are buffered: not in memory before commit, in memory after. */
START_TEST(test_write_buffered_until_commit)
{
	shared_a = 1;
	LUCID_ATOMIC {
		lucid_write(shared_a, 2L);
		ck_assert_int_eq(__atomic_load_n(&shared_a, __ATOMIC_RELAXED), 1);
		ck_assert_int_eq(lucid_read(shared_a), 2);
	}
	ck_assert_int_eq(shared_a, 2);
}
END_TEST

/* ------------------------------------------------------------ typed access */

struct __attribute__((packed)) packed {
	char c;
	uint32_t u32;   /* misaligned */
	uint64_t u64;   /* misaligned, straddles two words */
};

static struct {
	int8_t i8;
	uint8_t u8;
	int16_t i16;
	uint16_t u16;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	float f;
	double d;
	void *p;
	char *cp;
	const int ci;
	volatile long vl;
	struct packed pk;
} v = { .ci = 77 };

START_TEST(test_typed_roundtrip)
{
	char here;

	LUCID_ATOMIC {
		lucid_write(v.i8, -100);
		lucid_write(v.u8, 250);
		lucid_write(v.i16, -30000);
		lucid_write(v.u16, 65000);
		lucid_write(v.i32, -2000000000);
		lucid_write(v.u32, 4000000000u);
		lucid_write(v.i64, INT64_MIN + 3);
		lucid_write(v.u64, UINT64_MAX - 1);
		lucid_write(v.f, 3.25f);
		lucid_write(v.d, -1e300);
		lucid_write(v.p, (void *)&here);
		lucid_write(v.cp, &here);
		lucid_write(v.vl, -9L);
		lucid_write(v.pk.u32, 0xdeadbeefu);
		lucid_write(v.pk.u64, 0x0102030405060708ull);
	}
	ck_assert_int_eq(v.i8, -100);
	ck_assert_uint_eq(v.u8, 250);
	ck_assert_int_eq(v.i16, -30000);
	ck_assert_uint_eq(v.u16, 65000);
	ck_assert_int_eq(v.i32, -2000000000);
	ck_assert_uint_eq(v.u32, 4000000000u);
	ck_assert(v.i64 == INT64_MIN + 3);
	ck_assert(v.u64 == UINT64_MAX - 1);
	ck_assert(v.f == 3.25f);
	ck_assert(v.d == -1e300);
	ck_assert_ptr_eq(v.p, &here);
	ck_assert_ptr_eq(v.cp, &here);
	ck_assert_int_eq(v.vl, -9);
	ck_assert_uint_eq(v.pk.u32, 0xdeadbeefu);
	ck_assert(v.pk.u64 == 0x0102030405060708ull);

	LUCID_ATOMIC {
		/* The value has the lvalue's type. */
		__typeof__(lucid_read(v.f)) f = lucid_read(v.f);
		_Static_assert(__builtin_types_compatible_p(__typeof__(lucid_read(v.d)), double),
		               "lucid_read keeps the type");
		_Static_assert(__builtin_types_compatible_p(__typeof__(lucid_read(v.cp)), char *),
		               "lucid_read keeps pointer types");
		ck_assert(f == 3.25f);
		ck_assert(lucid_read(v.d) == -1e300);
		ck_assert_int_eq(lucid_read(v.i8), -100);
		ck_assert_int_eq(lucid_read(v.i16), -30000);
		ck_assert_int_eq(lucid_read(v.i32), -2000000000);
		ck_assert(lucid_read(v.i64) == INT64_MIN + 3);
		ck_assert_int_eq(lucid_read(v.ci), 77);
		ck_assert_int_eq(lucid_read(v.vl), -9);
		ck_assert_uint_eq(lucid_read(v.pk.u32), 0xdeadbeefu);
		ck_assert(lucid_read(v.pk.u64) == 0x0102030405060708ull);
		ck_assert_ptr_eq(lucid_read(v.p), &here);
	}
}
END_TEST

/* Members of an ordinary structure nested in a packed one, and elements of
 * an array in a packed one, are misaligned although their types promise
 * alignment (__alignof__ of them is the type's): each access must still
 * read and write exactly its own bytes. */
struct pk_inner {
	uint32_t x;
	uint64_t y;
};
struct __attribute__((packed)) pk_outer {
	char c;
	struct pk_inner in;   /* at offset 1: x at 1, y at 9 */
	uint32_t arr[2];      /* at offset 21 */
	uint16_t h;
};
static struct {
	struct pk_outer o;
	char after[8];
} pn __attribute__((aligned(64)));

START_TEST(test_packed_nested)
{
	static uint64_t y, y2;   /* set inside the blocks: not locals */
	static uint32_t a1;

	memset(&pn, 0x5a, sizeof(pn));
	/* Each access first in its transaction: the first access to a stripe
	 * is the one the inline paths take (later ones find it locked). */
	LUCID_ATOMIC {
		lucid_write(pn.o.in.y, 0x0102030405060708ull);
	}
	LUCID_ATOMIC {
		lucid_write(pn.o.arr[1], 0xa1b2c3d4u);
	}
	LUCID_ATOMIC {
		lucid_write(pn.o.in.x, 0x11223344u);
	}
	LUCID_ATOMIC {
		lucid_write(pn.o.arr[0], 0xcafef00du);
	}
	ck_assert_msg(pn.o.in.y == 0x0102030405060708ull, "y is %#llx",
	              (unsigned long long)pn.o.in.y);
	ck_assert_uint_eq(pn.o.arr[1], 0xa1b2c3d4u);
	ck_assert_uint_eq(pn.o.in.x, 0x11223344u);
	ck_assert_uint_eq(pn.o.arr[0], 0xcafef00du);
	ck_assert_int_eq(pn.o.c, 0x5a);
	ck_assert_uint_eq(pn.o.h, 0x5a5a);
	for (size_t i = 0; i < sizeof(pn.after); i++)
		ck_assert_int_eq(pn.after[i], 0x5a);

	LUCID_ATOMIC {
		y = lucid_read(pn.o.in.y);
	}
	LUCID_ATOMIC {
		a1 = lucid_read(pn.o.arr[1]);
	}
	LUCID_ATOMIC {
		lucid_write(pn.o.in.y, lucid_read(pn.o.in.y) + 1);
		y2 = lucid_read(pn.o.in.y);   /* through the transaction's own write */
	}
	ck_assert(y == 0x0102030405060708ull);
	ck_assert_uint_eq(a1, 0xa1b2c3d4u);
	ck_assert(y2 == 0x0102030405060709ull);
	ck_assert(pn.o.in.y == 0x0102030405060709ull);
	ck_assert_uint_eq(pn.o.in.x, 0x11223344u);
	ck_assert_uint_eq(pn.o.arr[0], 0xcafef00du);
}
END_TEST

/* The lvalue expression is evaluated once. */
START_TEST(test_lvalue_evaluated_once)
{
	static long arr[4];
	volatile int i = 0;   /* changed inside the block: see LUCID_ATOMIC's rules */

	LUCID_ATOMIC {
		i = 0;
		lucid_write(arr[i++], 7L);
		long x = lucid_read(arr[i++]);
		ck_assert_int_eq(x, 0);
	}
	ck_assert_int_eq(i, 2);
	ck_assert_int_eq(arr[0], 7);
}
END_TEST

/* Sub-word writes in one transaction keep the other bytes of the word. */
START_TEST(test_subword_merge)
{
	static union {
		uint64_t w;
		uint8_t b[8];
		uint16_t h[4];
	} u = { .w = 0x1111111111111111ull };

	LUCID_ATOMIC {
		lucid_write(u.b[0], 0xaa);
		lucid_write(u.h[2], 0xbbcc);
		ck_assert_uint_eq(lucid_read(u.b[0]), 0xaa);
		ck_assert_uint_eq(lucid_read(u.b[1]), 0x11);
		ck_assert_uint_eq(lucid_read(u.h[2]), 0xbbcc);
		ck_assert_uint_eq(lucid_read(u.b[5]), 0xbb);
	}
	ck_assert_uint_eq(u.b[0], 0xaa);
	ck_assert_uint_eq(u.b[1], 0x11);
	ck_assert_uint_eq(u.h[1], 0x1111);
	ck_assert_uint_eq(u.h[2], 0xbbcc);
	ck_assert_uint_eq(u.h[3], 0x1111);
}
END_TEST

/* --------------------------------------------------------- nesting, abort */

static void add_one(void *arg)
{
	long *p = arg;
	lucid_write(*p, lucid_read(*p) + 1);
}

static void abort_after_write(void *arg)
{
	long *p = arg;
	lucid_write(*p, 999L);
	lucid_abort();
}

static void early_return(void *arg)
{
	long *p = arg;
	lucid_write(*p, 1L);
	if (lucid_read(*p) == 1)
		return;
	lucid_write(*p, 2L);
}

START_TEST(test_run_commits_and_aborts)
{
	shared_a = 0;
	ck_assert_int_eq(lucid_run(add_one, &shared_a), 0);
	ck_assert_int_eq(shared_a, 1);
	ck_assert_int_eq(lucid_run(abort_after_write, &shared_a), LUCID_ABORTED);
	ck_assert_int_eq(shared_a, 1);
	ck_assert(!lucid_in_transaction());
	ck_assert_int_eq(lucid_run(early_return, &shared_a), 0);
	ck_assert_int_eq(shared_a, 1);

	struct lucid_stats st;
	lucid_stats_get(&st);
	ck_assert_uint_eq(st.commits, 2);
	ck_assert_uint_eq(st.aborts, 1);
	ck_assert_uint_eq(st.aborts_by_reason[LUCID_ABORT_EXPLICIT], 1);
	ck_assert_uint_eq(st.max_retries, 0);
}
END_TEST

START_TEST(test_abort_in_block_leaves_it)
{
	static volatile int after_abort, after_block;

	shared_a = 10;
	shared_b = 20;
	after_abort = after_block = 0;
	LUCID_ATOMIC {
		lucid_write(shared_a, 11L);
		LUCID_ATOMIC {
			lucid_write(shared_b, 21L);
			lucid_abort();
		}
		after_abort = 1;
	}
	after_block = 1;
	ck_assert_int_eq(after_abort, 0);
	ck_assert_int_eq(after_block, 1);
	ck_assert_int_eq(shared_a, 10);
	ck_assert_int_eq(shared_b, 20);
	ck_assert(!lucid_in_transaction());
	/* The thread is usable again. */
	LUCID_ATOMIC {
		lucid_write(shared_a, 12L);
	}
	ck_assert_int_eq(shared_a, 12);
}
END_TEST

/* Flat nesting: the inner block commits with the outer one. */
/*
 * Values set before a block and not changed in it keep them through re-runs,
 * in the block's function and in its callers: the jump back puts back the
 * registers they may live in. The first attempt of the block asks to become
 * irrevocable, which rolls it back and runs it again (holding the token):
 * one jump back, in one thread.
 */
static __attribute__((noinline)) long mix(long a)
{
	__asm__ __volatile__("" ::: "memory");
	return a * 1000003 + 17;
}

static int rerun_attempts;

static __attribute__((noinline)) void rerun_block(long a, long b)
{
	LUCID_ATOMIC {
		rerun_attempts++;
		lucid_write(shared_a, a);
		lucid_irrevocable();
		lucid_write(shared_b, b);
	}
}

START_TEST(test_locals_survive_rerun)
{
	/* Live across the call: in the registers a callee must preserve. */
	long a = mix(1), b = mix(2), c = mix(3), d = mix(4), e = mix(5), f = mix(6);

	rerun_attempts = 0;
	rerun_block(a ^ b, c ^ d);
	ck_assert_int_eq(rerun_attempts, 2);
	ck_assert(a == mix(1) && b == mix(2) && c == mix(3));
	ck_assert(d == mix(4) && e == mix(5) && f == mix(6));
	ck_assert_int_eq(shared_a, mix(1) ^ mix(2));
	ck_assert_int_eq(shared_b, mix(3) ^ mix(4));

	/* And in the block's own function. */
	long g = mix(7), h = mix(8);
	volatile int attempts = 0;

	LUCID_ATOMIC {
		attempts = attempts + 1;
		lucid_write(shared_a, g);
		lucid_irrevocable();
		lucid_write(shared_b, h);
	}
	ck_assert_int_eq(attempts, 2);
	ck_assert(g == mix(7) && h == mix(8));
	ck_assert_int_eq(shared_a, mix(7));
	ck_assert_int_eq(shared_b, mix(8));
}
END_TEST

START_TEST(test_nested_flat)
{
	shared_a = 0;
	LUCID_ATOMIC {
		LUCID_ATOMIC {
			lucid_write(shared_a, 5L);
		}
		ck_assert_int_eq(__atomic_load_n(&shared_a, __ATOMIC_RELAXED), 0);
		ck_assert_int_eq(lucid_read(shared_a), 5);
		ck_assert_int_eq(lucid_run(add_one, &shared_a), 0);
	}
	ck_assert_int_eq(shared_a, 6);
	struct lucid_stats st;
	lucid_stats_get(&st);
	ck_assert_uint_eq(st.commits, 1);
}
END_TEST

/* A function that realigns its stack keeps its locals, the block's record
 * among them, at one address from callers at nearby depths, while its frame
 * address follows the depth: the same block record, entered from the same
 * call, in another frame. A nested block there must not be taken for one
 * started after its outer block was abandoned (the library compares the
 * frame too before it skips storing the open block). */
static long realigned_count;

static __attribute__((noinline)) void realigned_blocks(void)
{
	_Alignas(64) char buf[64];

	__asm__ volatile("" : : "r"(buf) : "memory");   /* the frame is realigned */
	LUCID_ATOMIC {
		LUCID_ATOMIC {
			lucid_write(realigned_count, lucid_read(realigned_count) + 1);
		}
	}
}

static __attribute__((noinline)) void call_at_depth(int bytes)
{
	volatile char *p = alloca(bytes);

	p[0] = 0;
	realigned_blocks();
	__asm__ volatile("" : : "r"(p) : "memory");
}

START_TEST(test_realigned_frame)
{
	realigned_count = 0;
	for (int bytes = 128; bytes >= 16; bytes -= 16)
		call_at_depth(bytes);
	ck_assert_int_eq(realigned_count, 8);
}
END_TEST

/* lucid_abort() inside a nested lucid_run aborts the outermost transaction. */
START_TEST(test_nested_run_abort)
{
	static volatile int reached;

	shared_a = 3;
	reached = 0;
	LUCID_ATOMIC {
		lucid_write(shared_a, 4L);
		lucid_run(abort_after_write, &shared_a);
		reached = 1;
	}
	ck_assert_int_eq(reached, 0);
	ck_assert_int_eq(shared_a, 3);
}
END_TEST

/* ------------------------------------------------------------------ misuse */

static void do_break(void)
{
	for (int i = 0; i < 2; i++) {
		LUCID_ATOMIC {
			lucid_write(shared_a, 1L);
			break;
		}
	}
}

/* `break` in a nested block, and in a block run by lucid_run inside
 * another: found when the record's loop starts the block again. */
static __attribute__((noinline)) void break_nested(void)
{
	for (int i = 0; i < 2; i++) {
		LUCID_ATOMIC {
			lucid_write(shared_a, 2L);
			break;
		}
	}
}

static void do_break_nested(void)
{
	LUCID_ATOMIC {
		break_nested();
	}
}

static void break_in_run(void *arg)
{
	(void)arg;
	break_nested();
}

static void do_break_in_run(void)
{
	LUCID_ATOMIC {
		lucid_run(break_in_run, NULL);
	}
}

static __attribute__((noinline)) int return_inside(void)
{
	LUCID_ATOMIC {
		if (lucid_read(shared_a) == 0)
			return 1;
	}
	return 0;
}

static void do_return_then_again(void)
{
	shared_a = 0;
	return_inside();
	return_inside();
}

static void do_return_then_caller_block(void)
{
	shared_a = 0;
	return_inside();
	LUCID_ATOMIC {
		lucid_write(shared_b, 1L);
	}
}

static void *thread_returns(void *arg)
{
	(void)arg;
	return_inside();
	return NULL;
}

static void do_return_then_thread_exit(void)
{
	pthread_t t;

	shared_a = 0;
	pthread_create(&t, NULL, thread_returns, NULL);
	pthread_join(t, NULL);
}

static void inner_returns(void)
{
	LUCID_ATOMIC {
		return;
	}
}

static void do_inner_return(void)
{
	LUCID_ATOMIC {
		inner_returns();
	}
}

static void do_goto(void)
{
	LUCID_ATOMIC {
		if (lucid_read(shared_a) == 0)
			goto out;
	}
out:
	LUCID_ATOMIC {
		lucid_write(shared_a, 1L);
	}
}

static void do_read_outside(void) { (void)lucid_read(shared_a); }
static void do_write_outside(void) { lucid_write(shared_a, 1L); }
static void do_abort_outside(void) { lucid_abort(); }
static void do_run_null(void) { lucid_run(NULL, NULL); }

static void do_read_outside_after_tx(void)
{
	LUCID_ATOMIC {
		lucid_write(shared_a, 1L);
	}
	(void)lucid_read(shared_a);
}

static void do_bad_orec_bits(void)
{
	setenv("LUCID_OREC_BITS", "40", 1);
	LUCID_ATOMIC {
		lucid_write(shared_a, 1L);
	}
}

static void do_bad_serial_after(void)
{
	setenv("LUCID_SERIAL_AFTER", "x", 1);
	LUCID_ATOMIC {
		lucid_write(shared_a, 1L);
	}
}

START_TEST(test_misuse_break)
{
	assert_misuse(do_break, "`break` left the LUCID_ATOMIC block at", "check_tx.c:");
	assert_misuse(do_break, "in do_break()", "lucid_run()");
	assert_misuse(do_break_nested, "`break` left the LUCID_ATOMIC block at", "in break_nested()");
	assert_misuse(do_break_in_run, "`break` left the LUCID_ATOMIC block at", "in break_nested()");
}
END_TEST

START_TEST(test_misuse_return)
{
	assert_misuse(do_return_then_again, "was left by return, goto or longjmp", "in return_inside()");
	assert_misuse(do_return_then_caller_block, "was left by return, goto or longjmp",
	              "in do_return_then_caller_block()");
	assert_misuse(do_return_then_thread_exit, "a thread exited inside the transaction",
	              "in return_inside()");
	assert_misuse(do_inner_return, "in inner_returns()", "in do_inner_return()");
	/* The block after the label: where the compiler gives it the stack
	 * slot of the abandoned block's record (clang), it is that very block
	 * again, found as it starts; otherwise (gcc) it is taken for a nested
	 * one, and the open transaction is found when the program exits. */
	struct outcome o;

	run_child(do_goto, &o);
	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
	              "expected the program to stop with SIGABRT, status %#x, stderr: %s", o.status,
	              o.err);
	ck_assert_msg(strstr(o.err, "in do_goto()") &&
	              (strstr(o.err, "the program exited inside the transaction") ||
	               strstr(o.err, "was left by return, goto or longjmp")) &&
	              strstr(o.err, "lucid: fix: "), "not the report of an abandoned block: %s", o.err);
}
END_TEST

START_TEST(test_misuse_outside)
{
	assert_misuse(do_read_outside, "lucid_read outside a transaction", NULL);
	assert_misuse(do_write_outside, "lucid_write outside a transaction", NULL);
	assert_misuse(do_read_outside_after_tx, "lucid_read outside a transaction", NULL);
	assert_misuse(do_abort_outside, "lucid_abort() called outside a transaction", NULL);
	assert_misuse(do_run_null, "lucid_run() called with a NULL function", NULL);
}
END_TEST

START_TEST(test_misuse_environment)
{
	assert_misuse(do_bad_orec_bits, "LUCID_OREC_BITS=\"40\"", "from 10 to 28");
	assert_misuse(do_bad_serial_after, "LUCID_SERIAL_AFTER=\"x\"", "from 1 to 99");
}
END_TEST

/* The misuse message names the exact line of the block. */
static const int break_line = __LINE__; static void do_break_line(void) { LUCID_ATOMIC { break; } }

START_TEST(test_misuse_names_line)
{
	char want[256];

	snprintf(want, sizeof(want), "block at %s:%d (in do_break_line())", __FILE__, break_line);
	assert_misuse(do_break_line, want, NULL);
}
END_TEST

/* ------------------------------------------------------- names and errors */

START_TEST(test_reason_names)
{
	ck_assert_str_eq(lucid_abort_reason_name(LUCID_ABORT_READ_LOCKED), "rw");
	ck_assert_str_eq(lucid_abort_reason_name(LUCID_ABORT_WRITE_LOCKED), "ww");
	ck_assert_str_eq(lucid_abort_reason_name(LUCID_ABORT_EXPLICIT), "abort");
	ck_assert_str_eq(lucid_abort_reason_name(-1), "unknown");
	ck_assert_str_eq(lucid_abort_reason_name(LUCID_ABORT_REASONS), "unknown");
	for (int r = 0; r < LUCID_ABORT_REASONS; r++) {
		ck_assert_msg(strcmp(lucid_abort_reason_name(r), "unknown") != 0, "reason %d has no name", r);
		ck_assert_msg(strlen(lucid_abort_reason_describe(r)) > 10, "reason %d has no description", r);
		for (int s = 0; s < r; s++)
			ck_assert_msg(strcmp(lucid_abort_reason_name(r), lucid_abort_reason_name(s)) != 0,
			              "reasons %d and %d share a name", r, s);
	}
	ck_assert(lucid_abort_reason_is_conflict(LUCID_ABORT_READ_LOCKED));
	ck_assert(lucid_abort_reason_is_conflict(LUCID_ABORT_COMMIT_INVALID));
	ck_assert(!lucid_abort_reason_is_conflict(LUCID_ABORT_EXPLICIT));
	ck_assert(!lucid_abort_reason_is_conflict(LUCID_ABORT_CAPACITY));
	ck_assert(!lucid_abort_reason_is_conflict(99));
}
END_TEST

START_TEST(test_errors)
{
	ck_assert_int_eq(lucid_stats_get(NULL), -LUCID_EINVAL);
	ck_assert_str_eq(lucid_strerror(-LUCID_EINVAL), "invalid argument");
	ck_assert_str_eq(lucid_strerror(LUCID_EINVAL), "invalid argument");
	ck_assert_str_eq(lucid_strerror(0), "success");
	ck_assert_str_eq(lucid_strerror(-12345), "unknown error");
}
END_TEST

/* -------------------------------------------------------- thread lifecycle */

static void *thread_commits(void *arg)
{
	for (int i = 0; i < 100; i++)
		lucid_run(add_one, arg);
	return NULL;
}

/* Threads register on first use; their statistics survive their exit. */
START_TEST(test_threads_register_and_exit)
{
	pthread_t t[4];

	shared_a = 0;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_commits, &shared_a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(shared_a, 400);

	struct lucid_stats st;
	lucid_stats_get(&st);
	ck_assert_uint_eq(st.commits, 400);
	ck_assert_uint_eq(st.threads, 4);
	uint64_t sum = 0;
	for (int r = 0; r < LUCID_ABORT_REASONS_MAX; r++)
		sum += st.aborts_by_reason[r];
	ck_assert_uint_eq(sum, st.aborts);
}
END_TEST

static Suite *tx_suite(void)
{
	Suite *s = suite_create("tx");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "block_commits_once", test_block_commits_once },
		{ "in_transaction", test_in_transaction },
		{ "continue_ends_block", test_continue_ends_block },
		{ "write_buffered_until_commit", test_write_buffered_until_commit },
		{ "typed_roundtrip", test_typed_roundtrip },
		{ "packed_nested", test_packed_nested },
		{ "lvalue_evaluated_once", test_lvalue_evaluated_once },
		{ "subword_merge", test_subword_merge },
		{ "run_commits_and_aborts", test_run_commits_and_aborts },
		{ "abort_in_block_leaves_it", test_abort_in_block_leaves_it },
		{ "locals_survive_rerun", test_locals_survive_rerun },
		{ "nested_flat", test_nested_flat },
		{ "nested_run_abort", test_nested_run_abort },
		{ "realigned_frame", test_realigned_frame },
		{ "misuse_break", test_misuse_break },
		{ "misuse_return", test_misuse_return },
		{ "misuse_outside", test_misuse_outside },
		{ "misuse_environment", test_misuse_environment },
		{ "misuse_names_line", test_misuse_names_line },
		{ "reason_names", test_reason_names },
		{ "errors", test_errors },
		{ "threads_register_and_exit", test_threads_register_and_exit },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return test_run_suite(tx_suite());
}
