/* samples: hotspot: per-thread work plus one shared counter that every transaction touches. */
/*
 * Usage: hotspot [-n threads] [-d duration_ms | -i iterations] [-r report_percent] [-w work]
 *                [-s seed]
 *
 * Runs for -d milliseconds (0: until interrupted), or -i transactions per
 * thread; SIGINT or SIGTERM ends the run early, with the usual result.
 *
 * Worker threads serve requests. Serving one is a transaction that counts
 * it in the process-wide statistics (three calls down, counter_add() adds
 * 1 to a shared counter) and then does the request's work, recording the
 * result in the worker's own slot. The slots never conflict, but every
 * worker writes the one shared counter and holds it until its transaction
 * commits: that word is the hot spot, and almost every abort comes from it.
 * The longer the work (-w rounds of arithmetic per request), the longer
 * the counter stays locked and the more transactions conflict on it.
 * With probability -r percent a worker takes a progress report instead: a
 * transaction that reads the shared counter (three calls down,
 * counter_get()) and writes what it saw into its own slot; a report that
 * saw fewer requests than its own slot counts would have seen an
 * inconsistent state.
 *
 * To see the hot spot, record a run and browse the conflicts:
 *     lucid record -- samples/hotspot -n 4
 *     lucid report
 * The pair at the top is counter_add() against counter_get() or against
 * itself. The fix is to count per thread and sum the slots in reports.
 *
 * At the end the shared counter must equal the sum of the requests the
 * workers served. Prints one result line; exits 0 when that held and no
 * report saw an inconsistent state, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>

#define MAX_THREADS 1024

/* A statistics counter shared by all threads. */
struct counter {
	long value;
};

static struct {
	struct counter requests;   /* requests served by all workers: the hot spot */
} stats;

/* One per worker, written only by it (padded to 64 bytes). */
struct slot {
	long served;       /* requests this worker served */
	long checksum;     /* what its requests computed */
	long reports;      /* progress reports it took */
	long last_seen;    /* the shared counter as its last report saw it */
	long bad_reports;  /* reports that saw an inconsistent state */
	char pad[24];
};

struct worker {
	pthread_t thread;
	uint64_t seed;
	struct slot *slot;
};

static struct slot *slots;
static int report_percent = 10;
static int work_rounds = 64;     /* -w: arithmetic per request, done holding the counter */
static long iterations;          /* per thread; 0: run for the duration */
static volatile sig_atomic_t stop; /* the end of the run: time is up, or a signal */

/* ------------------------------------------------------- the statistics */

/* The markers HOT-WRITE and HOT-READ name these two lines for
 * tests/check_record.c, which checks that recorded stacks point at them. */

static void counter_add(struct counter *c, long n)
{
	lucid_write(c->value, lucid_read(c->value) + n); /* HOT-WRITE */
}

static long counter_get(const struct counter *c)
{
	return lucid_read(c->value); /* HOT-READ */
}

static void stats_count_request(void)
{
	counter_add(&stats.requests, 1);
}

static long stats_requests(void)
{
	return counter_get(&stats.requests);
}

/* ------------------------------------------------------------- requests */

/* The request's work: a little arithmetic, like parsing or hashing. */
static long compute(uint64_t x, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;
	}
	return (long)(x >> 1);
}

/* Counts the request, then does its work and keeps the result. */
static void handle_request(struct slot *s, uint64_t request)
{
	stats_count_request();
	long result = compute(request, work_rounds);

	lucid_write(s->served, lucid_read(s->served) + 1);
	lucid_write(s->checksum, lucid_read(s->checksum) ^ result);
}

static void serve_request(struct slot *s, uint64_t request)
{
	LUCID_ATOMIC {
		handle_request(s, request);
	}
}

/* Notes how far all workers have got. Its own requests are part of the
 * total, so the total it sees can never be smaller. */
static void note_progress(struct slot *s)
{
	long total = stats_requests();

	if (total < lucid_read(s->served))
		lucid_write(s->bad_reports, lucid_read(s->bad_reports) + 1);
	lucid_write(s->last_seen, total);
	lucid_write(s->reports, lucid_read(s->reports) + 1);
}

static void take_report(struct slot *s)
{
	LUCID_ATOMIC {
		note_progress(s);
	}
}

/* ------------------------------------------------------------- workers */

/* xorshift64*: each thread its own, seeded from -s and its index. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void on_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; !iterations || i < iterations; i++) {
		if (__atomic_load_n(&stop, __ATOMIC_RELAXED))
			break;
		uint64_t r = next_random(&w->seed);

		if ((int)(r % 100) < report_percent)
			take_report(w->slot);
		else
			serve_request(w->slot, r);
	}
	return NULL;
}

static long parse(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "hotspot: -%s must be a number from %ld to %ld, not \"%s\"\n", opt, lo,
		        hi, s);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hotspot [-n threads] [-d duration_ms | -i iterations] [-r report_percent]\n"
	           "               [-w work] [-s seed]\n"
	           "  -n  worker threads (default 4)\n"
	           "  -d  run for this many milliseconds (default 1000; 0: until interrupted)\n"
	           "  -i  instead, each thread runs this many transactions\n"
	           "  -r  percent of transactions that are progress reports (default 10)\n"
	           "  -w  rounds of arithmetic per request, done while the counter is held (default 64)\n"
	           "  -s  random seed (default 1)\n");
}

int main(int argc, char **argv)
{
	long threads = 4, duration = 1000, seed = 1;
	int c;

	while ((c = getopt(argc, argv, "n:d:i:r:w:s:h")) != -1) {
		switch (c) {
		case 'n': threads = parse("n", optarg, 1, MAX_THREADS); break;
		case 'd': duration = parse("d", optarg, 0, 3600000); iterations = 0; break;
		case 'i': iterations = parse("i", optarg, 1, LONG_MAX); break;
		case 'r': report_percent = (int)parse("r", optarg, 0, 100); break;
		case 'w': work_rounds = (int)parse("w", optarg, 0, 100000000); break;
		case 's': seed = parse("s", optarg, 0, LONG_MAX); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	slots = calloc((size_t)threads, sizeof(*slots));
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!slots || !w) {
		fprintf(stderr, "hotspot: out of memory\n");
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	double t0 = now_ms();
	for (long i = 0; i < threads; i++) {
		w[i].seed = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 7919 + 1;
		w[i].slot = &slots[i];
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "hotspot: cannot create thread %ld\n", i);
			return 1;
		}
	}
	if (!iterations) {
		/* Sleep in steps, to notice a signal soon. */
		double end = now_ms() + (double)duration;
		struct timespec step = { 0, 10000000 };
		while (!__atomic_load_n(&stop, __ATOMIC_RELAXED) && (duration == 0 || now_ms() < end))
			nanosleep(&step, NULL);
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	}
	for (long i = 0; i < threads; i++)
		pthread_join(w[i].thread, NULL);
	double elapsed = now_ms() - t0;

	/* The threads are joined: plain reads see everything they committed. */
	long served = 0, reports = 0, bad = 0;
	for (long i = 0; i < threads; i++) {
		served += slots[i].served;
		reports += slots[i].reports;
		bad += slots[i].bad_reports;
	}
	int ok = stats.requests.value == served && bad == 0;

	struct lucid_stats st;
	lucid_stats_get(&st);
	printf("hotspot threads=%ld duration_ms=%.0f requests=%ld reports=%ld commits=%" PRIu64
	       " aborts=%" PRIu64,
	       threads, elapsed, served, reports, st.commits, st.aborts);
	for (int r = 0; r < LUCID_ABORT_REASONS; r++)
		printf(" %s=%" PRIu64, lucid_abort_reason_name(r), st.aborts_by_reason[r]);
	printf(" serial=%" PRIu64 " max_retries=%" PRIu64 " counter=%ld expected=%ld invariant=%s\n",
	       st.serial, st.max_retries, stats.requests.value, served, ok ? "ok" : "VIOLATED");
	if (bad)
		fprintf(stderr, "hotspot: %ld reports saw fewer requests than their own\n", bad);
	free(slots);
	free(w);
	return ok ? 0 : 1;
}
