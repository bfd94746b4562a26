/* samples: bank: concurrent transfers, read-all audits and write-all resets; the total never changes. */
/*
 * Usage: bank [-n threads] [-d duration_ms] [-a accounts] [-r audit_percent]
 *             [-R audit_threads] [-w write_all_percent] [-W write_all_threads] [-j] [-s seed]
 *
 * The options follow TinySTM's bank benchmark. Each thread repeatedly
 * either moves 1 from one random account to another (a two-word update
 * transaction), or with probability -r percent sums all accounts (a read-all
 * audit), or with probability -w percent sets every account back to its
 * initial balance (a write-all reset). The first -R threads only audit, the
 * next -W threads only reset. With -j each thread transfers only within its
 * own slice of the accounts, so that transfers never conflict.
 *
 * An audit checks the sum inside the transaction: thanks to opacity no
 * attempt, not even one that later aborts, can see a wrong total. At the
 * end the total is checked once more. Prints one result line; exits 0 when
 * the invariant held, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "samples/tm.h"

TM_DEFINE_GLOBALS

#define INITIAL_BALANCE 1000

static long n_accounts = 1024;
static int audit_percent = 1, write_all_percent = 0;
static long audit_threads = 0, write_all_threads = 0;
static int disjoint = 0;
static long n_threads = 2;
static volatile int stop;   /* set by the main thread; a plain flag is enough here */
static pthread_barrier_t start_line;

struct worker {
	pthread_t thread;
	long index;
	long *accounts;
	uint64_t seed;
	uint64_t transfers, audits, write_alls;
	char pad[64];
};

static void transfer(long *accounts, long from, long to)
{
	TM_ATOMIC {
		long a = TM_READ(accounts[from]);
		long b = TM_READ(accounts[to]);

		TM_WRITE(accounts[from], a - 1);
		TM_WRITE(accounts[to], b + 1);
	}
}

static void audit(long *accounts, long n)
{
	TM_ATOMIC {
		long sum = 0;

		for (long i = 0; i < n; i++)
			sum += TM_READ(accounts[i]);
		if (sum != n * INITIAL_BALANCE)
			tm_violation("bank", "the total", sum, n * INITIAL_BALANCE);
	}
}

static void write_all(long *accounts, long n)
{
	TM_ATOMIC {
		for (long i = 0; i < n; i++)
			TM_WRITE(accounts[i], INITIAL_BALANCE);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long *accounts = w->accounts;
	long n = n_accounts, lo = 0, span = n_accounts;

	if (disjoint) {
		span = n_accounts / n_threads;
		lo = span * w->index;
	}
	TM_THREAD_ENTER();
	pthread_barrier_wait(&start_line);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t r = tm_rand(&w->seed);
		int pct = (int)(r % 100);

		if (w->index < audit_threads || (w->index >= audit_threads + write_all_threads &&
		                                 pct < audit_percent)) {
			audit(accounts, n);
			w->audits++;
		} else if (w->index < audit_threads + write_all_threads ||
		           pct < audit_percent + write_all_percent) {
			write_all(accounts, n);
			w->write_alls++;
		} else {
			long from = lo + (long)((r >> 8) % (uint64_t)span);
			long to = lo + (long)((r >> 32) % (uint64_t)(span - 1));

			if (to >= from)
				to++;
			transfer(accounts, from, to);
			w->transfers++;
		}
	}
	TM_THREAD_EXIT();
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bank [-n threads] [-d duration_ms] [-a accounts] [-r audit_percent]\n"
	           "            [-R audit_threads] [-w write_all_percent] [-W write_all_threads] [-j] [-s seed]\n"
	           "  -n  threads (default 2; the sequential variant runs 1)\n"
	           "  -d  duration in milliseconds (default 2000)\n"
	           "  -a  number of accounts (default 1024)\n"
	           "  -r  percent of transactions that are read-all audits (default 1)\n"
	           "  -R  threads that only audit (default 0)\n"
	           "  -w  percent of transactions that reset every account (default 0)\n"
	           "  -W  threads that only reset (default 0)\n"
	           "  -j  disjoint: each thread transfers within its own slice of the accounts\n"
	           "  -s  random seed (default 1)\n");
}

int main(int argc, char **argv)
{
	long threads = TM_MAX_THREADS < 2 ? 1 : 2, duration = 2000, seed = 1;
	int c;

	while ((c = getopt(argc, argv, "n:d:a:r:R:w:W:js:h")) != -1) {
		switch (c) {
		case 'n': threads = tm_parse("bank", c, optarg, 1, TM_MAX_THREADS); break;
		case 'd': duration = tm_parse("bank", c, optarg, 1, 3600000); break;
		case 'a': n_accounts = tm_parse("bank", c, optarg, 2, 1L << 26); break;
		case 'r': audit_percent = (int)tm_parse("bank", c, optarg, 0, 100); break;
		case 'R': audit_threads = tm_parse("bank", c, optarg, 0, TM_MAX_THREADS); break;
		case 'w': write_all_percent = (int)tm_parse("bank", c, optarg, 0, 100); break;
		case 'W': write_all_threads = tm_parse("bank", c, optarg, 0, TM_MAX_THREADS); break;
		case 'j': disjoint = 1; break;
		case 's': seed = tm_parse("bank", c, optarg, 0, LONG_MAX); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (audit_percent + write_all_percent > 100) {
		fprintf(stderr, "bank: -r and -w add up to more than 100 percent\n");
		return 2;
	}
	if (audit_threads + write_all_threads > threads) {
		fprintf(stderr, "bank: -R and -W name more threads than -n runs\n");
		return 2;
	}
	if (disjoint && n_accounts / threads < 2) {
		fprintf(stderr, "bank: -j needs at least 2 accounts per thread\n");
		return 2;
	}

	TM_STARTUP();
	n_threads = threads;
	long *accounts = calloc((size_t)n_accounts, sizeof(*accounts));
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!accounts || !w) {
		fprintf(stderr, "bank: out of memory\n");
		return 1;
	}
	for (long i = 0; i < n_accounts; i++)
		accounts[i] = INITIAL_BALANCE;

	struct lucid_stats before;
	tm_stats_get(&before);
	pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
	for (long i = 0; i < threads; i++) {
		w[i].index = i;
		w[i].accounts = accounts;
		w[i].seed = tm_seed(seed, i);
	}
	for (long i = 0; i < threads; i++) {
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "bank: cannot create thread %ld\n", i);
			return 1;
		}
	}
	pthread_barrier_wait(&start_line);

	double secs, cpu_secs;
	tm_run_for(duration, &stop, &secs, &cpu_secs);
	uint64_t transfers = 0, audits = 0, write_alls = 0;
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		transfers += w[i].transfers;
		audits += w[i].audits;
		write_alls += w[i].write_alls;
	}

	long total = 0;
	for (long i = 0; i < n_accounts; i++)
		total += accounts[i];
	int ok = total == n_accounts * INITIAL_BALANCE && tm_violations_seen() == 0;
	uint64_t txs = transfers + audits + write_alls;

	printf("bank variant=%s threads=%ld duration_ms=%.0f cpu_ms=%.0f accounts=%ld audit_pct=%d "
	       "audit_threads=%ld write_all_pct=%d write_all_threads=%ld disjoint=%d "
	       "txs=%" PRIu64 " throughput=%.0f transfers=%" PRIu64 " audits=%" PRIu64
	       " write_alls=%" PRIu64,
	       TM_VARIANT, threads, secs * 1000, cpu_secs * 1000, n_accounts, audit_percent, audit_threads,
	       write_all_percent, write_all_threads, disjoint, txs, (double)txs / secs, transfers,
	       audits, write_alls);
	tm_stats_print(stdout, &before, txs);
	printf(" total=%ld expected=%ld invariant=%s\n", total, n_accounts * INITIAL_BALANCE,
	       ok ? "ok" : "VIOLATED");
	pthread_barrier_destroy(&start_line);
	free(accounts);
	free(w);
	TM_SHUTDOWN();
	return ok ? 0 : 1;
}
