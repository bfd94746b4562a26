/* samples: bank: concurrent transfers and read-all audits; the total never changes. */
/*
 * Usage: bank [-n threads] [-d duration_ms] [-a accounts] [-r audit_percent] [-s seed]
 *
 * Each thread repeatedly either moves 1 from one random account to another
 * (a two-word update transaction) or, with probability -r percent, sums all
 * accounts (a read-all transaction) and checks the sum inside the
 * transaction: thanks to opacity no attempt, not even one that later aborts,
 * can see a wrong total. At the end the total is checked once more. Prints
 * one result line; exits 0 when the invariant held, 1 otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "samples/tm.h"

TM_DEFINE_GLOBALS

#define INITIAL_BALANCE 1000

static long *accounts;
static long n_accounts = 1024;
static int audit_percent = 1;
static volatile int stop;   /* set by the main thread; a plain flag is enough here */

struct worker {
	pthread_t thread;
	uint64_t seed;
	uint64_t transfers, audits, bad_audits;
	char pad[64];
};

static void transfer(long from, long to)
{
	TM_ATOMIC {
		long a = TM_READ(accounts[from]);
		long b = TM_READ(accounts[to]);

		TM_WRITE(accounts[from], a - 1);
		TM_WRITE(accounts[to], b + 1);
	}
}

/* Returns whether the transaction saw the right total. */
static int audit(void)
{
	volatile int ok = 1;

	TM_ATOMIC {
		long sum = 0;

		for (long i = 0; i < n_accounts; i++)
			sum += TM_READ(accounts[i]);
		if (sum != n_accounts * INITIAL_BALANCE) {
			static int reported;

			if (!__atomic_exchange_n(&reported, 1, __ATOMIC_RELAXED))
				fprintf(stderr, "bank: an audit saw the total %ld instead of %ld\n", sum,
				        n_accounts * INITIAL_BALANCE);
			ok = 0;
		}
	}
	return ok;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t r = tm_rand(&w->seed);

		if ((int)(r % 100) < audit_percent) {
			w->audits++;
			if (!audit())
				w->bad_audits++;
		} else {
			long from = (long)((r >> 8) % (uint64_t)n_accounts);
			long to = (long)((r >> 32) % (uint64_t)(n_accounts - 1));

			if (to >= from)
				to++;
			transfer(from, to);
			w->transfers++;
		}
	}
	return NULL;
}

static long parse(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "bank: -%s must be a number from %ld to %ld, not \"%s\"\n", opt, lo, hi, s);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bank [-n threads] [-d duration_ms] [-a accounts] [-r audit_percent] [-s seed]\n"
	           "  -n  threads (default 2; the sequential variant runs 1)\n"
	           "  -d  duration in milliseconds (default 2000)\n"
	           "  -a  number of accounts (default 1024)\n"
	           "  -r  percent of transactions that are read-all audits (default 1)\n"
	           "  -s  random seed (default 1)\n");
}

int main(int argc, char **argv)
{
	long threads = TM_MAX_THREADS < 2 ? 1 : 2, duration = 2000, seed = 1;
	int c;

	while ((c = getopt(argc, argv, "n:d:a:r:s:h")) != -1) {
		switch (c) {
		case 'n': threads = parse("n", optarg, 1, TM_MAX_THREADS); break;
		case 'd': duration = parse("d", optarg, 1, 3600000); break;
		case 'a': n_accounts = parse("a", optarg, 2, 1L << 26); break;
		case 'r': audit_percent = (int)parse("r", optarg, 0, 100); break;
		case 's': seed = parse("s", optarg, 0, LONG_MAX); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	accounts = calloc((size_t)n_accounts, sizeof(*accounts));
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!accounts || !w) {
		fprintf(stderr, "bank: out of memory\n");
		return 1;
	}
	for (long i = 0; i < n_accounts; i++)
		accounts[i] = INITIAL_BALANCE;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < threads; i++) {
		w[i].seed = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 7919 + 1;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "bank: cannot create thread %ld\n", i);
			return 1;
		}
	}
	struct timespec d = { duration / 1000, (duration % 1000) * 1000000 };
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	uint64_t transfers = 0, audits = 0, bad = 0;
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		transfers += w[i].transfers;
		audits += w[i].audits;
		bad += w[i].bad_audits;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	long total = 0;
	for (long i = 0; i < n_accounts; i++)
		total += accounts[i];
	int ok = total == n_accounts * INITIAL_BALANCE && bad == 0;

	struct lucid_stats st;
	TM_STATS_GET(&st);
	printf("bank variant=%s threads=%ld duration_ms=%.0f accounts=%ld audit_pct=%d "
	       "txs=%" PRIu64 " throughput=%.0f transfers=%" PRIu64 " audits=%" PRIu64
	       " commits=%" PRIu64 " aborts=%" PRIu64,
	       TM_VARIANT, threads, secs * 1000, n_accounts, audit_percent, transfers + audits,
	       (double)(transfers + audits) / secs, transfers, audits, st.commits, st.aborts);
	for (int r = 0; r < TM_REASONS; r++)
		printf(" %s=%" PRIu64, tm_reason_name(r), st.aborts_by_reason[r]);
	printf(" serial=%" PRIu64 " max_retries=%" PRIu64 " total=%ld expected=%ld invariant=%s\n",
	       st.serial, st.max_retries, total, n_accounts * INITIAL_BALANCE, ok ? "ok" : "VIOLATED");
	free(accounts);
	free(w);
	return ok ? 0 : 1;
}
