/* samples: hotspot_fixed: samples/hotspot with its hot spot removed: each thread counts its requests in a counter of its own. */
/*
 * Usage: hotspot_fixed [-n threads] [-d duration_ms | -i iterations] [-r report_percent] [-s seed]
 *
 * Runs for -d milliseconds (0: until interrupted), or -i transactions per
 * thread; SIGINT or SIGTERM ends the run early, with the usual result.
 *
 * The same program as samples/hotspot (same options, same work, same
 * result line and invariant) with the fix that docs/tutorial.md finds. In
 * hotspot, serving a request adds 1 to one shared counter and holds it
 * until the transaction commits, so any two requests served at the same
 * time conflict. Here each worker adds 1 to a counter of its own (alone on
 * its cache line), and a progress report (-r percent of the transactions)
 * sums all of them in its transaction: requests no longer conflict with
 * each other. And a request counts itself at its end rather than at its
 * start, so that its counter stays locked (from the write to the commit)
 * for a moment instead of for the whole request: a report that reads it
 * meanwhile aborts.
 *
 * Record it and compare with hotspot:
 *     lucid record -- samples/hotspot_fixed -n 4
 *     lucid report
 *
 * At the end the counters must add up to the requests the workers
 * served. Prints one result line; exits 0 when that held and no report
 * saw an inconsistent state, 1 otherwise.
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

/* A statistics counter of one thread, alone on its cache line (so that
 * it shares no ownership record with another's either). */
struct counter {
	long value;
	char pad[56];
};

static struct {
	struct counter *requests;  /* requests served, one counter per worker */
	long threads;
} stats;

static __thread long self;         /* this worker's index */

/* One per worker, written only by it (padded to 64 bytes). */
struct slot {
	long served;       /* requests this worker served */
	long checksum;     /* what its requests computed */
	long reports;      /* progress reports it took */
	long last_seen;    /* the total as its last report saw it */
	long bad_reports;  /* reports that saw an inconsistent state */
	char pad[24];
};

struct worker {
	pthread_t thread;
	uint64_t seed;
	struct slot *slot;
	long index;
};

static struct slot *slots;
static int report_percent = 10;
static long iterations;          /* per thread; 0: run for the duration */
static volatile sig_atomic_t stop; /* the end of the run: time is up, or a signal */

/* ------------------------------------------------------- the statistics */

static void counter_add(struct counter *c, long n)
{
	lucid_write(c->value, lucid_read(c->value) + n);
}

static long counter_get(const struct counter *c)
{
	return lucid_read(c->value);
}

/* The fix: each worker counts in its own counter... */
static void stats_count_request(void)
{
	counter_add(&stats.requests[self], 1);
}

/* ...and the total is their sum, read in one transaction with the rest of
 * the report, so it is still consistent. */
static long stats_requests(void)
{
	long total = 0;

	for (long i = 0; i < stats.threads; i++)
		total += counter_get(&stats.requests[i]);
	return total;
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
	long result = compute(request, 64);

	lucid_write(s->served, lucid_read(s->served) + 1);
	lucid_write(s->checksum, lucid_read(s->checksum) ^ result);
	/* Last: a written word stays locked until the commit, so a report
	 * that reads it meanwhile aborts; counted first, it was locked for
	 * the whole of the work above. */
	stats_count_request();
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

	self = w->index;
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
		fprintf(stderr, "hotspot_fixed: -%s must be a number from %ld to %ld, not \"%s\"\n", opt, lo,
		        hi, s);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hotspot_fixed [-n threads] [-d duration_ms | -i iterations] [-r report_percent]\n"
	           "                     [-s seed]\n"
	           "  -n  worker threads (default 4)\n"
	           "  -d  run for this many milliseconds (default 1000; 0: until interrupted)\n"
	           "  -i  instead, each thread runs this many transactions\n"
	           "  -r  percent of transactions that are progress reports (default 10)\n"
	           "  -s  random seed (default 1)\n");
}

int main(int argc, char **argv)
{
	long threads = 4, duration = 1000, seed = 1;
	int c;

	while ((c = getopt(argc, argv, "n:d:i:r:s:h")) != -1) {
		switch (c) {
		case 'n': threads = parse("n", optarg, 1, MAX_THREADS); break;
		case 'd': duration = parse("d", optarg, 0, 3600000); iterations = 0; break;
		case 'i': iterations = parse("i", optarg, 1, LONG_MAX); break;
		case 'r': report_percent = (int)parse("r", optarg, 0, 100); break;
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
	stats.requests = aligned_alloc(64, (size_t)threads * sizeof(*stats.requests));
	stats.threads = threads;
	if (!slots || !w || !stats.requests) {
		fprintf(stderr, "hotspot_fixed: out of memory\n");
		return 1;
	}
	/* All of them before any worker starts: a report reads every one. */
	memset(stats.requests, 0, (size_t)threads * sizeof(*stats.requests));

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	double t0 = now_ms();
	for (long i = 0; i < threads; i++) {
		w[i].seed = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 7919 + 1;
		w[i].slot = &slots[i];
		w[i].index = i;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "hotspot_fixed: cannot create thread %ld\n", i);
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
	long served = 0, reports = 0, bad = 0, counted = 0;
	for (long i = 0; i < threads; i++) {
		served += slots[i].served;
		reports += slots[i].reports;
		bad += slots[i].bad_reports;
		counted += stats.requests[i].value;
	}
	int ok = counted == served && bad == 0;

	struct lucid_stats st;
	lucid_stats_get(&st);
	printf("hotspot_fixed threads=%ld duration_ms=%.0f requests=%ld reports=%ld commits=%" PRIu64
	       " aborts=%" PRIu64,
	       threads, elapsed, served, reports, st.commits, st.aborts);
	for (int r = 0; r < LUCID_ABORT_REASONS; r++)
		printf(" %s=%" PRIu64, lucid_abort_reason_name(r), st.aborts_by_reason[r]);
	printf(" serial=%" PRIu64 " max_retries=%" PRIu64 " counter=%ld expected=%ld invariant=%s\n",
	       st.serial, st.max_retries, counted, served, ok ? "ok" : "VIOLATED");
	if (bad)
		fprintf(stderr, "hotspot_fixed: %ld reports saw fewer requests than their own\n", bad);
	free(stats.requests);
	free(slots);
	free(w);
	return ok ? 0 : 1;
}
