/* tests: a recorded program that exits while a transaction runs (run by check_record). */
/*
 * Usage: record_exit
 *
 * Run with LUCID_RECORD=FILE (only the file listens, so reads note no
 * stacks). A worker thread's transaction reads x; the main thread then
 * commits a change to x, and the worker's commit finds its read invalid.
 * That abort's record waits for the stack of the same read in the next
 * attempt; the next attempt reads x and then never ends, and the main
 * thread calls exit() meanwhile. The recording must still hold the abort:
 * as many ABORT records as its STATS counts. Prints
 *     exit aborts=A commits=C
 * with A and C from lucid_stats_get, then exits 0 (1 if the worker's first
 * attempt did not abort).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <lucid.h>

/* Each under an ownership record of its own. */
static long x __attribute__((aligned(64))), y __attribute__((aligned(64)));
static int attempts;   /* the worker's attempts so far */
static int phase;   /* 1: the worker has read x; 2: x changed; 3: the worker runs again */

static void wait_phase(int p)
{
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != p)
		sched_yield();
}

static void *worker(void *arg)
{
	(void)arg;

	LUCID_ATOMIC {
		long v = lucid_read(x);

		if (++attempts == 1) {
			__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
			wait_phase(2);
		} else {
			/* The retry has read x again (what the waiting
			 * record looks for) and stays in its transaction. */
			__atomic_store_n(&phase, 3, __ATOMIC_RELEASE);
			for (;;)
				sched_yield();
		}
		lucid_write(y, v + 1);
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	struct lucid_stats st;

	if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_detach(t) != 0)
		return 1;
	wait_phase(1);
	LUCID_ATOMIC {
		lucid_write(x, lucid_read(x) + 1);
	}
	__atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
	wait_phase(3);
	lucid_stats_get(&st);
	printf("exit aborts=%" PRIu64 " commits=%" PRIu64 "\n", st.aborts, st.commits);
	fflush(stdout);
	exit(st.aborts == 1 ? 0 : 1);
}
