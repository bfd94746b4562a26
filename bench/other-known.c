/* bench: how often the record of a read invalidated by a commit names that commit (the writer's side, from its thread's commit history). */
/*
 * Usage: other-known [WRITERS [READERS [DURATION_MS]]]   (default 2 2 2000)
 *
 * Writers commit two random words of a 64Ki-word array per transaction,
 * as fast as they can; readers read 64 random words of its first 1024 per
 * transaction, so that a writer's commit now and then invalidates one of
 * their reads. An abort hook counts the records of reads found invalid
 * (at a read, a write or the commit) and those among them whose other side,
 * the commit that invalidated the read, is named; a reader that falls far
 * behind the writers (a thread count above the CPUs) finds fewer. Also
 * counts the records of accesses that met a lock, whose other side is the
 * lock's owner. Prints one line. Not a test: the share depends on the
 * machine; BENCHMARKS.md has results.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lucid.h>

#define WORDS (1 << 16)
#define READ_WORDS 1024
#define READS 64
#define READ_WORK 8
#define MAX_THREADS 64

static long words[WORDS] __attribute__((aligned(64)));
static int stop;
static uint64_t invalid, invalid_known, locked, locked_known, commits_w, commits_r;

static void hook(const struct lucid_conflict *c, void *arg)
{
	uint64_t *all, *known;

	(void)arg;
	switch (c->reason) {
	case LUCID_ABORT_READ_INVALID:
	case LUCID_ABORT_WRITE_INVALID:
	case LUCID_ABORT_COMMIT_INVALID:
		all = &invalid, known = &invalid_known;
		break;
	case LUCID_ABORT_READ_LOCKED:
	case LUCID_ABORT_WRITE_LOCKED:
		all = &locked, known = &locked_known;
		break;
	default:
		return;
	}
	__atomic_add_fetch(all, 1, __ATOMIC_RELAXED);
	if (c->flags & LUCID_CONFLICT_OTHER_KNOWN)
		__atomic_add_fetch(known, 1, __ATOMIC_RELAXED);
}

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The transactions, in functions of their own: what they change outside
 * the block (the generator's state, the sum) is in memory, not in
 * registers that the block's restart would take back. */
static __attribute__((noinline)) void write_two(uint64_t *x)
{
	LUCID_ATOMIC {
		lucid_write(words[next(x) % WORDS], 1);
		lucid_write(words[next(x) % WORDS], 2);
	}
}

static __attribute__((noinline)) void read_some(uint64_t *x, long *sum)
{
	LUCID_ATOMIC {
		long s = 0;

		for (int i = 0; i < READS; i++) {
			/* Some work per read, as a program does between its
			 * reads (a few nanoseconds). */
			for (int k = 0; k < READ_WORK; k++)
				next(x);
			s += lucid_read(words[next(x) % READ_WORDS]);
		}
		*sum = s;
	}
}

static void *writer(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1, n = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		write_two(&x);
		n++;
	}
	__atomic_add_fetch(&commits_w, n, __ATOMIC_RELAXED);
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 7, n = 0;
	long sum = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		read_some(&x, &sum);
		n++;
	}
	__atomic_add_fetch(&commits_r, n, __ATOMIC_RELAXED);
	return (void *)(intptr_t)sum;
}

int main(int argc, char **argv)
{
	int w = argc > 1 ? atoi(argv[1]) : 2, r = argc > 2 ? atoi(argv[2]) : 2;
	long ms = argc > 3 ? atol(argv[3]) : 2000;
	pthread_t t[MAX_THREADS];

	if (w < 1 || r < 1 || w + r > MAX_THREADS || ms < 1) {
		fprintf(stderr, "usage: other-known [WRITERS [READERS [DURATION_MS]]] "
		                "(at least one of each, %d threads at most)\n", MAX_THREADS);
		return 2;
	}
	lucid_set_abort_hook(hook, NULL);
	for (int i = 0; i < w + r; i++)
		if (pthread_create(&t[i], NULL, i < w ? writer : reader, (void *)(intptr_t)(i + 1))) {
			perror("other-known: pthread_create");
			return 1;
		}
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&d, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < w + r; i++)
		pthread_join(t[i], NULL);
	lucid_set_abort_hook(NULL, NULL);
	printf("other-known writers=%d readers=%d duration_ms=%ld writer_commits=%llu "
	       "reader_commits=%llu invalid=%llu invalid_known=%llu invalid_known_pct=%.2f "
	       "locked=%llu locked_known=%llu\n", w, r, ms, (unsigned long long)commits_w,
	       (unsigned long long)commits_r, (unsigned long long)invalid,
	       (unsigned long long)invalid_known,
	       invalid ? 100.0 * (double)invalid_known / (double)invalid : 0.0,
	       (unsigned long long)locked, (unsigned long long)locked_known);
	return 0;
}
