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

/* One function per block: 4^6 = 4,096 of them from nested expansions,
 * and 4 more. */
#define BLOCK(n)                                                               \
	static __attribute__((noinline)) void block_##n(void)                  \
	{                                                                      \
		LUCID_ATOMIC {                                                 \
			(void)0;                                               \
		}                                                              \
	}
#define B4(n) BLOCK(n##0) BLOCK(n##1) BLOCK(n##2) BLOCK(n##3)
#define B16(n) B4(n##0) B4(n##1) B4(n##2) B4(n##3)
#define B64(n) B16(n##0) B16(n##1) B16(n##2) B16(n##3)
#define B256(n) B64(n##0) B64(n##1) B64(n##2) B64(n##3)
#define B1024(n) B256(n##0) B256(n##1) B256(n##2) B256(n##3)
#define B4096(n) B1024(n##0) B1024(n##1) B1024(n##2) B1024(n##3)
B4096(x)
B4(y)

#define P(n) block_##n,
#define P4(n) P(n##0) P(n##1) P(n##2) P(n##3)
#define P16(n) P4(n##0) P4(n##1) P4(n##2) P4(n##3)
#define P64(n) P16(n##0) P16(n##1) P16(n##2) P16(n##3)
#define P256(n) P64(n##0) P64(n##1) P64(n##2) P64(n##3)
#define P1024(n) P256(n##0) P256(n##1) P256(n##2) P256(n##3)
#define P4096(n) P1024(n##0) P1024(n##1) P1024(n##2) P1024(n##3)
static void (*const blocks[])(void) = { P4096(x) P4(y) };

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
