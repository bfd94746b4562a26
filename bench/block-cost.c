/* bench: what one LUCID_ATOMIC block costs at one thread: empty, with a read, with a read and a write, three blocks in turn, against the same code without a block. */
/*
 * Usage: block-cost [TRIALS]
 *
 * Each trial runs every case 200,000 times in turn; a case's figure is its
 * fastest trial, in nanoseconds per call (the minimum filters out the other
 * load of a shared machine, which only ever adds time). The calls are to
 * functions that are not inlined, as a program's blocks usually sit in
 * functions of their own. Not a test: figures depend on the machine;
 * BENCHMARKS.md has results.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lucid.h>

#define CALLS 200000
#define WORDS 64

static long words[WORDS];

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The same read, with no block around it. */
static __attribute__((noinline)) long plain_read(long i)
{
	return __atomic_load_n(&words[i & (WORDS - 1)], __ATOMIC_RELAXED);
}

static __attribute__((noinline)) long empty_block(long i)
{
	volatile long r = i;

	LUCID_ATOMIC {
		r++;
	}
	return r;
}

static __attribute__((noinline)) long read_block(long i)
{
	volatile long r = 0;

	LUCID_ATOMIC {
		r = lucid_read(words[i & (WORDS - 1)]);
	}
	return r;
}

static __attribute__((noinline)) long update_block(long i)
{
	volatile long r = 0;

	LUCID_ATOMIC {
		long *w = &words[i & (WORDS - 1)];

		r = lucid_read(*w);
		lucid_write(*w, r + 1);
	}
	return r;
}

/* Two more blocks like read_block, at other places. */
static __attribute__((noinline)) long read_block2(long i)
{
	volatile long r = 0;

	LUCID_ATOMIC {
		r = lucid_read(words[(i + 1) & (WORDS - 1)]);
	}
	return r;
}

static __attribute__((noinline)) long read_block3(long i)
{
	volatile long r = 0;

	LUCID_ATOMIC {
		r = lucid_read(words[(i + 2) & (WORDS - 1)]);
	}
	return r;
}

/* Which of the three blocks each call of three_blocks runs: the first 80%
 * of the time, the others 10% each, in a random order (as the set
 * benchmarks' lookups, inserts and removals). */
#define TURNS 4096
static unsigned char turn[TURNS];

static __attribute__((noinline)) long three_blocks(long i)
{
	switch (turn[i & (TURNS - 1)]) {
	case 0: return read_block(i);
	case 1: return read_block2(i);
	default: return read_block3(i);
	}
}

/* The same choice between three functions without blocks. */
static __attribute__((noinline)) long plain_read2(long i)
{
	return __atomic_load_n(&words[(i + 1) & (WORDS - 1)], __ATOMIC_RELAXED);
}

static __attribute__((noinline)) long plain_read3(long i)
{
	return __atomic_load_n(&words[(i + 2) & (WORDS - 1)], __ATOMIC_RELAXED);
}

static __attribute__((noinline)) long three_plain(long i)
{
	switch (turn[i & (TURNS - 1)]) {
	case 0: return plain_read(i);
	case 1: return plain_read2(i);
	default: return plain_read3(i);
	}
}

static const struct {
	const char *name;
	long (*fn)(long);
} cases[] = {
	{ "no block, one read", plain_read },
	{ "empty block", empty_block },
	{ "block with one read", read_block },
	{ "block with one read and one write", update_block },
	{ "no block, three functions in turn", three_plain },
	{ "three blocks in turn, one read each", three_blocks },
};
#define CASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv)
{
	int trials = argc > 1 ? atoi(argv[1]) : 200;
	double best[CASES];
	long sink = 0;

	if (trials < 1) {
		fprintf(stderr, "usage: block-cost [TRIALS]\n");
		return 2;
	}
	for (size_t c = 0; c < CASES; c++)
		best[c] = 1e300;
	srand(1);
	for (int i = 0; i < TURNS; i++) {
		int r = rand() % 10;

		turn[i] = r < 8 ? 0 : r == 8 ? 1 : 2;
	}
	for (int t = 0; t < trials; t++) {
		for (size_t c = 0; c < CASES; c++) {
			double t0 = now_ns();

			for (long i = 0; i < CALLS; i++)
				sink += cases[c].fn(i);
			double ns = (now_ns() - t0) / CALLS;

			if (ns < best[c])
				best[c] = ns;
		}
	}
	for (size_t c = 0; c < CASES; c++)
		printf("%-36s %6.2f ns\n", cases[c].name, best[c]);
	__asm__ volatile("" : : "r"(sink));   /* the results are used */
	return 0;
}
