/* bench: what the machine gives two threads that read one table together, against one thread, and against two threads that read a table each; no STM involved. */
/*
 * Usage: shared-reads [-k TRIALS] [-d MS] [-c] [SIZE...]
 *
 * For each table size in bytes (default: 64 KiB, 512 KiB, 1 MiB, 8 MiB),
 * three runs in turn, each trial: one thread reading the table, two
 * threads reading the same table, two threads reading a table each. Reads
 * are of random 8-byte words (independent loads, as a hash set's lookups
 * make) or, with -c, a walk of a random cycle through the table's lines
 * (each load's address comes from the one before, as a tree's walk). A
 * figure is the median over the trials of million loads per second.
 *
 * What two threads get here bounds what an STM's two threads can get on
 * data that both read, as the benchmark's sets do: if plain loads of a
 * table the size of a set run at 1.3 times one thread, lookups with
 * transactions around them will not run at 1.6. Not a test: figures
 * depend on the machine; BENCHMARKS.md has results.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRIALS 99
#define LINE_WORDS 8   /* 64-byte lines */

static int chase;
static long duration_ms = 300;
static int stop;       /* set by the main thread; read with relaxed loads */

struct table {
	uint64_t *w;
	size_t words;      /* a power of two */
};

struct worker {
	pthread_t thread;
	const struct table *t;
	uint64_t seed;
	uint64_t loads;
	uint64_t sink;     /* what the loads summed to, so that they are made */
	char pad_[64];
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random words: the loads do not depend on each other. With -c, the
 * first word of every line holds the index of the next line's first word
 * in one random cycle through all lines. */
static void table_fill(struct table *t, size_t bytes, uint64_t seed)
{
	t->words = bytes / sizeof(uint64_t);
	t->w = aligned_alloc(4096, t->words * sizeof(uint64_t));
	if (!t->w) {
		fprintf(stderr, "shared-reads: out of memory for a %zu-byte table\n", bytes);
		exit(1);
	}
	for (size_t i = 0; i < t->words; i++)
		t->w[i] = xorshift(&seed);
	if (!chase)
		return;
	size_t lines = t->words / LINE_WORDS;
	size_t *order = malloc(lines * sizeof(*order));

	if (!order) {
		fprintf(stderr, "shared-reads: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < lines; i++)
		order[i] = i;
	for (size_t i = lines - 1; i > 0; i--) {   /* Fisher-Yates */
		size_t j = (size_t)(xorshift(&seed) % (i + 1));
		size_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (size_t i = 0; i < lines; i++)
		t->w[order[i] * LINE_WORDS] = order[(i + 1) % lines] * LINE_WORDS;
	free(order);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const uint64_t *a = w->t->w;
	uint64_t mask = w->t->words - 1, sum = 0, loads = 0, at = 0, s = w->seed;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (chase) {
			for (int k = 0; k < 1024; k++)
				at = a[at];
			sum += at;
		} else {
			for (int k = 0; k < 1024; k++)
				sum += a[xorshift(&s) & mask];
		}
		loads += 1024;
	}
	w->loads = loads;
	w->sink = sum;
	return NULL;
}

/* Million loads per second of @p n threads, thread i reading tables[i]. */
static double run(int n, const struct table *const *tables)
{
	struct worker w[2];
	struct timespec t0, t1, d = { duration_ms / 1000, duration_ms % 1000 * 1000000 };
	uint64_t total = 0, sink = 0;

	memset(w, 0, sizeof(w));
	__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		w[i].t = tables[i];
		w[i].seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1);
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "shared-reads: cannot start a thread\n");
			exit(1);
		}
	}
	nanosleep(&d, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].loads;
		sink += w[i].sink;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (sink == 1)   /* never, in practice: keeps the sums alive */
		fputc('\n', stderr);
	return (double)total / ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	                        (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shared-reads [-k trials] [-d ms] [-c] [size_bytes...]\n"
	           "  -k  trials, each running the three cases in turn (default 5)\n"
	           "  -d  milliseconds per run (default 300)\n"
	           "  -c  dependent loads: walk a random cycle through the table's lines\n"
	           "  sizes are powers of two of at least 4096 bytes (default 65536 524288\n"
	           "  1048576 8388608)\n");
}

int main(int argc, char **argv)
{
	int trials = 5, c;

	while ((c = getopt(argc, argv, "k:d:ch")) != -1) {
		switch (c) {
		case 'k': trials = atoi(optarg); break;
		case 'd': duration_ms = atol(optarg); break;
		case 'c': chase = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (trials < 1 || trials > MAX_TRIALS || duration_ms < 1 || duration_ms > 60000) {
		fprintf(stderr, "shared-reads: -k must be 1 to %d and -d 1 to 60000\n", MAX_TRIALS);
		return 2;
	}
	static const size_t defaults[] = { 65536, 524288, 1048576, 8388608 };
	int nsizes = argc > optind ? argc - optind : 4;

	printf("%s loads, medians of %d trials of %ld ms, million loads per second\n",
	       chase ? "dependent" : "independent", trials, duration_ms);
	printf("%10s %10s %12s %12s %12s %14s\n", "bytes", "1 thread", "2 shared", "2 private",
	       "shared/1", "shared/private");
	for (int i = 0; i < nsizes; i++) {
		size_t bytes = argc > optind ? strtoul(argv[optind + i], NULL, 0) : defaults[i];
		struct table t[2];
		double one[MAX_TRIALS], shared[MAX_TRIALS], priv[MAX_TRIALS], ratio[MAX_TRIALS],
		       ratio2[MAX_TRIALS];

		if (bytes < 4096 || (bytes & (bytes - 1)) != 0) {
			fprintf(stderr, "shared-reads: %s is not a power of two of at least 4096\n",
			        argv[optind + i]);
			return 2;
		}
		table_fill(&t[0], bytes, 1);
		table_fill(&t[1], bytes, 2);
		const struct table *same[2] = { &t[0], &t[0] }, *each[2] = { &t[0], &t[1] };

		for (int k = 0; k < trials; k++) {
			one[k] = run(1, same);
			shared[k] = run(2, same);
			priv[k] = run(2, each);
			ratio[k] = shared[k] / one[k];
			ratio2[k] = shared[k] / priv[k];
		}
		printf("%10zu %10.1f %12.1f %12.1f %12.3f %14.3f\n", bytes, median(one, trials),
		       median(shared, trials), median(priv, trials), median(ratio, trials),
		       median(ratio2, trials));
		free(t[0].w);
		free(t[1].w);
	}
	return 0;
}
