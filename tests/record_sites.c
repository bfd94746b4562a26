/* tests: a recorded program with more atomic blocks than the recorder has site ids for (run by check_record). */
/*
 * Usage: record_sites
 *
 * Run with LUCID_RECORD=FILE. Runs each of 4,100 atomic blocks (each in a
 * function of its own, so each is a block site of its own) once: all but
 * the last two in a thread that then exits, those two in the main thread.
 * Then one more block, whose only attempt leaves by lucid_abort(). The
 * recorder has ids for 4,095 sites: the blocks past them are recorded
 * under site 0, and their commits (from the thread that exited and from
 * the one still running at exit) must still be in the file's COMMITS and
 * THREADS counts, so that these add up to its STATS. Prints
 *     sites blocks=B commits=C aborts=A
 * with C and A from lucid_stats_get, and exits 0 when every block ran.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include <lucid.h>

/* Four thousand small functions: compilers take half a minute over them
 * optimized, a few seconds not. */
#if defined(__clang__)
#pragma clang optimize off
#elif defined(__GNUC__)
#pragma GCC optimize("O0")
#endif

static long counter;

/* X<4^k>(F, n): F(m) for every name m that is n followed by k base-4 digits. */
#define X4(F, n) F(n##0) F(n##1) F(n##2) F(n##3)
#define X16(F, n) X4(F, n##0) X4(F, n##1) X4(F, n##2) X4(F, n##3)
#define X64(F, n) X16(F, n##0) X16(F, n##1) X16(F, n##2) X16(F, n##3)
#define X256(F, n) X64(F, n##0) X64(F, n##1) X64(F, n##2) X64(F, n##3)
#define X1024(F, n) X256(F, n##0) X256(F, n##1) X256(F, n##2) X256(F, n##3)
#define X4096(F, n) X1024(F, n##0) X1024(F, n##1) X1024(F, n##2) X1024(F, n##3)

/* One function per block: 4,096 of them, and 4 more. */
#define BLOCK(n)                                                               \
	static __attribute__((noinline)) void block_##n(void)                  \
	{                                                                      \
		LUCID_ATOMIC {                                                 \
			(void)0;                                               \
		}                                                              \
	}
X4096(BLOCK, x)
X4(BLOCK, y)

#define POINTER(n) block_##n,
static void (*const blocks[])(void) = { X4096(POINTER, x) X4(POINTER, y) };

enum { N_BLOCKS = sizeof(blocks) / sizeof(blocks[0]) };

/* One more block, past the site ids too, whose attempt leaves by
 * lucid_abort() (no commit): a record of such a block. */
static __attribute__((noinline)) void last_block_abort(void)
{
	LUCID_ATOMIC {
		lucid_write(counter, lucid_read(counter) + 1);
		lucid_abort();
	}
}

enum { IN_THREAD = N_BLOCKS - 2 };

static void *run_blocks(void *arg)
{
	(void)arg;
	for (int i = 0; i < IN_THREAD; i++)
		blocks[i]();
	return NULL;
}

int main(void)
{
	struct lucid_stats st;
	pthread_t t;

	if (pthread_create(&t, NULL, run_blocks, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	for (int i = IN_THREAD; i < N_BLOCKS; i++)
		blocks[i]();
	last_block_abort();
	lucid_stats_get(&st);
	printf("sites blocks=%d commits=%" PRIu64 " aborts=%" PRIu64 "\n", N_BLOCKS, st.commits,
	       st.aborts);
	return st.commits == (uint64_t)N_BLOCKS && st.aborts == 1 ? 0 : 1;
}
